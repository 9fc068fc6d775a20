//! The aggregates of one chunk of entries, summed in memory while the chunk's records are
//! projected and written once at its end (`daily_status`, `pattern_daily`,
//! `pattern_totals`, `appliances`, `incidents`). Each table's upsert adds the chunk's
//! sums to what earlier chunks wrote, so chunk boundaries do not change the result.

use std::collections::HashMap;

use ledger_record::{HealingBody, Outcome};
use rusqlite::{params, Connection};

use crate::sql::u64_to_stored;
use crate::DAY_MS;

/// Everything one chunk adds to the aggregate tables.
#[derive(Default)]
pub(super) struct ChunkAggregates {
    daily: HashMap<DailyKey, i64>,
    patterns: HashMap<PatternDayKey, PatternCounts>,
    pub chains: HashMap<ChainKey, ChainTotals>,
    incidents: HashMap<IncidentKey, IncidentTotals>,
}

/// A row of `daily_status`.
#[derive(PartialEq, Eq, Hash)]
struct DailyKey {
    site: String,
    day: i64,
    check_type: String,
    status: i64,
}

/// A row of `pattern_totals`.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PatternKey {
    site: String,
    pattern: String,
    check_type: String,
    tier: i64,
}

/// A row of `pattern_daily`: the pattern on the UTC day its healing started.
#[derive(PartialEq, Eq, Hash)]
struct PatternDayKey {
    pattern: PatternKey,
    day: i64,
}

/// Healing records of one pattern by outcome, and the summed resolve time of the
/// successful ones.
#[derive(Clone, Copy, Default)]
struct PatternCounts {
    occurrences: i64,
    successes: i64,
    failures: i64,
    escalations: i64,
    resolve_ms_sum: i64,
}

impl PatternCounts {
    fn add(&mut self, other: &PatternCounts) {
        self.occurrences += other.occurrences;
        self.successes += other.successes;
        self.failures += other.failures;
        self.escalations += other.escalations;
        self.resolve_ms_sum += other.resolve_ms_sum;
    }
}

/// A row of `appliances`: one chain.
#[derive(PartialEq, Eq, Hash)]
pub(super) struct ChainKey {
    pub site: String,
    pub appliance: String,
}

/// What a chunk adds to a chain's row.
#[derive(Default)]
pub(super) struct ChainTotals {
    records: i64,
    /// The highest sequence seen, including the one stored before this chunk.
    pub last_seq: i64,
    last_idx: i64,
    last_time_ms: i64,
}

impl ChainTotals {
    /// Counts a record with sequence `seq` at log index `idx`; `previous` is the
    /// chain's last sequence before it.
    pub fn add(&mut self, seq: i64, previous: i64, idx: i64, time_ms: i64) {
        self.records += 1;
        self.last_seq = self.last_seq.max(seq).max(previous);
        self.last_idx = idx;
        self.last_time_ms = time_ms;
    }
}

/// A row of `incidents`: one incident id at one site.
#[derive(PartialEq, Eq, Hash)]
struct IncidentKey {
    site: String,
    incident: String,
}

/// What a chunk adds to an incident's row.
struct IncidentTotals {
    appliance: String,
    check_type: String,
    pattern: String,
    tier: i64,
    outcome: i64,
    started_ms: i64,
    ended_ms: i64,
    records: i64,
    first_idx: i64,
    last_idx: i64,
}

impl ChunkAggregates {
    /// Adds `items` evidence items of one check type and status to their day.
    pub fn add_evidence(
        &mut self,
        site: &str,
        day: i64,
        check_type: &str,
        status: i64,
        items: i64,
    ) {
        let key = DailyKey {
            site: site.to_string(),
            day,
            check_type: check_type.to_string(),
            status,
        };
        *self.daily.entry(key).or_insert(0) += items;
    }

    /// Adds a healing record at log index `idx` to its pattern's day and its incident.
    pub fn add_healing(&mut self, site: &str, appliance: &str, idx: i64, healing: &HealingBody) {
        let started = u64_to_stored(healing.started_at_ms);
        let ended = u64_to_stored(healing.ended_at_ms);
        let key = PatternDayKey {
            pattern: PatternKey {
                site: site.to_string(),
                pattern: healing.pattern_signature.clone(),
                check_type: healing.check_type.as_str().to_string(),
                tier: healing.tier.code() as i64,
            },
            day: started / DAY_MS as i64,
        };
        let counts = self.patterns.entry(key).or_default();
        counts.occurrences += 1;
        match healing.outcome {
            Outcome::Success => {
                counts.successes += 1;
                counts.resolve_ms_sum += ended - started;
            }
            Outcome::Failure => counts.failures += 1,
            Outcome::Escalated => counts.escalations += 1,
        }
        self.add_incident(site, appliance, idx, healing, started, ended);
    }

    fn add_incident(
        &mut self,
        site: &str,
        appliance: &str,
        idx: i64,
        healing: &HealingBody,
        started: i64,
        ended: i64,
    ) {
        let key = IncidentKey {
            site: site.to_string(),
            incident: healing.incident_id.as_str().to_string(),
        };
        let tier = healing.tier.code() as i64;
        let outcome = healing.outcome.code() as i64;
        match self.incidents.get_mut(&key) {
            Some(incident) => {
                incident.tier = tier;
                incident.outcome = outcome;
                incident.started_ms = incident.started_ms.min(started);
                incident.ended_ms = incident.ended_ms.max(ended);
                incident.records += 1;
                incident.last_idx = idx;
            }
            None => {
                let first = IncidentTotals {
                    appliance: appliance.to_string(),
                    check_type: healing.check_type.as_str().to_string(),
                    pattern: healing.pattern_signature.clone(),
                    tier,
                    outcome,
                    started_ms: started,
                    ended_ms: ended,
                    records: 1,
                    first_idx: idx,
                    last_idx: idx,
                };
                self.incidents.insert(key, first);
            }
        }
    }

    /// Adds the chunk's sums to the aggregate tables, inside the chunk's transaction.
    pub fn write(self, conn: &Connection) -> Result<(), rusqlite::Error> {
        write_daily(conn, self.daily)?;
        let totals = write_pattern_days(conn, self.patterns)?;
        write_pattern_totals(conn, totals)?;
        write_chains(conn, self.chains)?;
        write_incidents(conn, self.incidents)
    }
}

fn write_daily(conn: &Connection, daily: HashMap<DailyKey, i64>) -> Result<(), rusqlite::Error> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO daily_status (site, day, check_type, status, items) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (site, day, check_type, status) DO UPDATE SET items = items + excluded.items",
    )?;
    for (key, items) in daily {
        upsert.execute(params![
            key.site,
            key.day,
            key.check_type,
            key.status,
            items
        ])?;
    }
    Ok(())
}

/// Writes `pattern_daily` and returns the same counts summed over the days, for
/// `pattern_totals`.
fn write_pattern_days(
    conn: &Connection,
    patterns: HashMap<PatternDayKey, PatternCounts>,
) -> Result<HashMap<PatternKey, PatternCounts>, rusqlite::Error> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO pattern_daily
           (site, day, pattern, check_type, tier, occurrences, successes, failures, escalations, resolve_ms_sum)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (site, day, pattern, check_type, tier) DO UPDATE SET
           occurrences = occurrences + excluded.occurrences,
           successes = successes + excluded.successes,
           failures = failures + excluded.failures,
           escalations = escalations + excluded.escalations,
           resolve_ms_sum = resolve_ms_sum + excluded.resolve_ms_sum",
    )?;
    let mut totals: HashMap<PatternKey, PatternCounts> = HashMap::new();
    for (key, counts) in patterns {
        let p = &key.pattern;
        upsert.execute(params![
            p.site,
            key.day,
            p.pattern,
            p.check_type,
            p.tier,
            counts.occurrences,
            counts.successes,
            counts.failures,
            counts.escalations,
            counts.resolve_ms_sum
        ])?;
        totals.entry(key.pattern).or_default().add(&counts);
    }
    Ok(totals)
}

fn write_pattern_totals(
    conn: &Connection,
    totals: HashMap<PatternKey, PatternCounts>,
) -> Result<(), rusqlite::Error> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO pattern_totals
           (site, pattern, check_type, tier, occurrences, successes, failures, escalations, resolve_ms_sum)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (site, pattern, check_type, tier) DO UPDATE SET
           occurrences = occurrences + excluded.occurrences,
           successes = successes + excluded.successes,
           failures = failures + excluded.failures,
           escalations = escalations + excluded.escalations,
           resolve_ms_sum = resolve_ms_sum + excluded.resolve_ms_sum",
    )?;
    for (key, counts) in totals {
        upsert.execute(params![
            key.site,
            key.pattern,
            key.check_type,
            key.tier,
            counts.occurrences,
            counts.successes,
            counts.failures,
            counts.escalations,
            counts.resolve_ms_sum
        ])?;
    }
    Ok(())
}

fn write_chains(
    conn: &Connection,
    chains: HashMap<ChainKey, ChainTotals>,
) -> Result<(), rusqlite::Error> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO appliances (site, appliance, records, last_seq, last_idx, last_time_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (site, appliance) DO UPDATE SET
           records = records + excluded.records,
           last_seq = max(last_seq, excluded.last_seq),
           last_idx = excluded.last_idx,
           last_time_ms = excluded.last_time_ms",
    )?;
    for (key, totals) in chains {
        upsert.execute(params![
            key.site,
            key.appliance,
            totals.records,
            totals.last_seq,
            totals.last_idx,
            totals.last_time_ms
        ])?;
    }
    Ok(())
}

fn write_incidents(
    conn: &Connection,
    incidents: HashMap<IncidentKey, IncidentTotals>,
) -> Result<(), rusqlite::Error> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO incidents
           (site, incident, appliance, check_type, pattern, tier, outcome, started_ms, ended_ms, records, first_idx, last_idx)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (site, incident) DO UPDATE SET
           tier = excluded.tier,
           outcome = excluded.outcome,
           started_ms = min(started_ms, excluded.started_ms),
           ended_ms = max(ended_ms, excluded.ended_ms),
           records = records + excluded.records,
           last_idx = excluded.last_idx",
    )?;
    for (key, incident) in incidents {
        upsert.execute(params![
            key.site,
            key.incident,
            incident.appliance,
            incident.check_type,
            incident.pattern,
            incident.tier,
            incident.outcome,
            incident.started_ms,
            incident.ended_ms,
            incident.records,
            incident.first_idx,
            incident.last_idx
        ])?;
    }
    Ok(())
}
