//! The tables of the index and the rule that keeps them honest: a file written by
//! another schema version (SQLite's `user_version`), or an empty one, is dropped and
//! projected again from the log, because the index holds nothing the log does not.

use rusqlite::Connection;

/// Bumped whenever the schema or the projection changes; a file with another version is
/// dropped and rebuilt from the log.
pub const SCHEMA_VERSION: i64 = 2;

const TABLES: [&str; 10] = [
    "meta",
    "pattern_totals",
    "records",
    "record_checks",
    "daily_status",
    "incidents",
    "pattern_daily",
    "appliances",
    "chain_alarms",
    "keys",
];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    idx INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    kind INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    incident TEXT,
    check_type TEXT,
    tier INTEGER,
    outcome INTEGER
);
CREATE INDEX IF NOT EXISTS records_chain ON records (site, appliance, seq);
CREATE INDEX IF NOT EXISTS records_hash ON records (hash);
CREATE INDEX IF NOT EXISTS records_site ON records (site, idx);
CREATE INDEX IF NOT EXISTS records_incident ON records (site, incident) WHERE incident IS NOT NULL;
CREATE TABLE IF NOT EXISTS record_checks (
    idx INTEGER NOT NULL,
    check_type TEXT NOT NULL,
    status INTEGER NOT NULL,
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (idx, check_type, status)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_checks_appliance ON record_checks (site, appliance, time_ms);
CREATE TABLE IF NOT EXISTS daily_status (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    check_type TEXT NOT NULL,
    status INTEGER NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (site, day, check_type, status)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS incidents (
    site TEXT NOT NULL,
    incident TEXT NOT NULL,
    appliance TEXT NOT NULL,
    check_type TEXT NOT NULL,
    pattern TEXT NOT NULL,
    tier INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER NOT NULL,
    records INTEGER NOT NULL,
    first_idx INTEGER NOT NULL,
    last_idx INTEGER NOT NULL,
    PRIMARY KEY (site, incident)
);
CREATE INDEX IF NOT EXISTS incidents_site ON incidents (site, first_idx);
CREATE INDEX IF NOT EXISTS incidents_order ON incidents (first_idx);
CREATE TABLE IF NOT EXISTS pattern_daily (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    pattern TEXT NOT NULL,
    check_type TEXT NOT NULL,
    tier INTEGER NOT NULL,
    occurrences INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    escalations INTEGER NOT NULL,
    resolve_ms_sum INTEGER NOT NULL,
    PRIMARY KEY (site, day, pattern, check_type, tier)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pattern_totals (
    site TEXT NOT NULL,
    pattern TEXT NOT NULL,
    check_type TEXT NOT NULL,
    tier INTEGER NOT NULL,
    occurrences INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    escalations INTEGER NOT NULL,
    resolve_ms_sum INTEGER NOT NULL,
    PRIMARY KEY (site, pattern, check_type, tier)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS appliances (
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    records INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    last_idx INTEGER NOT NULL,
    last_time_ms INTEGER NOT NULL,
    PRIMARY KEY (site, appliance)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chain_alarms (
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    idx INTEGER NOT NULL,
    expected_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (site, appliance, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    public_key TEXT NOT NULL,
    introduced_idx INTEGER NOT NULL,
    introduced_by TEXT NOT NULL,
    ended_idx INTEGER,
    end_reason TEXT,
    replaced_by TEXT
);
CREATE INDEX IF NOT EXISTS keys_chain ON keys (site, appliance, introduced_idx);
";

/// Brings a freshly opened index file to [`SCHEMA_VERSION`]: a file of another version
/// (or an empty one) loses every table and gets the current schema; the tailer then
/// finds `indexed_size` missing and projects the whole log again.
pub(crate) fn prepare(conn: &Connection) -> Result<(), rusqlite::Error> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != SCHEMA_VERSION {
        // A file of another version (or an empty one) is projected again from the
        // log: the index holds nothing the log does not.
        for t in TABLES {
            conn.execute_batch(&format!("DROP TABLE IF EXISTS {t};"))?;
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}
