//! A log per period (docs/OPERATIONS.md "A log per period"): freezing a log at the end of
//! its period and starting the log that succeeds it.
//!
//! - [`freeze`] (server stopped) marks the data directory frozen at its latest signed
//!   checkpoint (`frozen.json`; from then on `ledgerd serve` refuses every append with
//!   `log_frozen` and serves reads only) and writes the hand-off: the log's verifier key,
//!   that final checkpoint, and where every appliance chain with a valid key stands.
//! - [`start`] (new data directory, server stopped) checks the hand-off's checkpoint with
//!   the key it names and writes the new log's first entries: operator-signed links
//!   (`ledger_record::LinkBody`) that commit to the final checkpoint and carry the chains,
//!   so their next records continue the numbering and hash chain of the previous log.
//! - [`log_list`] is what `GET /v1/logs` answers: this log and the one it succeeds.
//!
//! The hand-off file is not trusted by the new log beyond what it can check: the
//! checkpoint must verify with the named key, and an auditor checks the carried heads
//! and keys against the previous log's own records (`ledger-verify package --previous`).

use std::path::Path;

use ledger::Log;
use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::hash::Hash;
use ledger_core::note::NoteVerifier;
use ledger_record::{
    Body, CarriedChain, ChainId, Id, KeyBody, LinkBody, LogLink, Record, UnsignedRecord,
    VerifyingKey, MAX_RECORD_LEN,
};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::intake::derived;
use crate::operator::{OperatorKey, OperatorKeyError};

/// The marker of a frozen data directory.
pub const FROZEN_FILE: &str = "frozen.json";
/// The `format` of a hand-off file.
pub const HANDOFF_FORMAT: &str = "evidence-ledger/handoff/v1";
/// Room left in a link record for the envelope and the fixed fields' CBOR heads.
const LINK_OVERHEAD: usize = 1024;

/// `frozen.json`: where the log ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frozen {
    pub size: u64,
    /// The final signed checkpoint note.
    pub checkpoint: String,
    pub period: String,
    pub frozen_at_ms: u64,
}

/// What `ledgerd period freeze` hands to `ledgerd period start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    pub format: String,
    /// The frozen log's verifier key.
    pub log_key: String,
    pub period: String,
    pub final_checkpoint: String,
    pub chains: Vec<HandoffChain>,
}

/// One chain that continues in the next log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffChain {
    pub site_id: String,
    pub appliance_id: String,
    pub sequence: u64,
    /// Hex record hash of the chain's last record.
    pub head_hash: String,
    /// Hex Ed25519 key valid at the end of the log.
    pub public_key: String,
    /// Hex SHA-256 of the appliance's credentials (never the credentials themselves),
    /// so its agent keeps authenticating with the new log.
    #[serde(default)]
    pub credential_sha256: Vec<String>,
}

/// What `ledgerd period start` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub links: usize,
    pub chains: usize,
    pub log_key: String,
}

/// One log of the log list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedLog {
    pub origin: String,
    pub key: String,
    pub period: String,
    /// `active` or `frozen`.
    pub status: &'static str,
    /// The final checkpoint of a frozen log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_checkpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_size: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum PeriodError {
    #[error("{0} holds no log (no db/ directory)")]
    NoLog(String),
    #[error("the log is empty; there is no period to end")]
    EmptyLog,
    #[error("the new log in {0} already holds entries; a log that succeeds another starts empty")]
    NotEmpty(String),
    #[error("the log is frozen already at tree size {frozen}, but now holds {size} entries; run `ledgerd fsck`")]
    GrewAfterFreeze { frozen: u64, size: u64 },
    #[error("the hand-off file: {0}")]
    BadHandoff(String),
    #[error("the new log's origin {0} is the previous log's; every log has its own origin")]
    SameOrigin(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the log: {0}")]
    Ledger(#[from] ledger::LedgerError),
    #[error(transparent)]
    State(#[from] crate::intake::IntakeOpenError),
    #[error(transparent)]
    OperatorKey(#[from] OperatorKeyError),
    #[error("the credential store: {0}")]
    Auth(String),
    #[error("signing a link: {0}")]
    Record(#[from] ledger_record::RecordError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PeriodError {
    let what = what.into();
    move |source| PeriodError::Io { what, source }
}

/// Reads `frozen.json` of a data directory, if the log is frozen.
pub fn read_frozen(data_dir: &Path) -> Result<Option<Frozen>, PeriodError> {
    let path = data_dir.join(FROZEN_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| PeriodError::Io {
            what: format!("parsing {}", path.display()),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
}

/// Writes `bytes` to `path` durably: a synced temporary file renamed into place, then
/// the directory synced.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PeriodError> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let what = format!("writing {}", path.display());
    let mut file = std::fs::File::create(&tmp).map_err(io(what.clone()))?;
    file.write_all(bytes).map_err(io(what.clone()))?;
    file.sync_all().map_err(io(what.clone()))?;
    std::fs::rename(&tmp, path).map_err(io(what.clone()))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(what))?;
    }
    Ok(())
}

/// Freezes the log of `config`, opened with `log_config` (the server's,
/// `state::log_config`; the server must be stopped), and returns the hand-off.
/// `period` names the log's period when its own links do not. Freezing a frozen log
/// again returns the same hand-off.
pub fn freeze(
    config: &Config,
    log_config: ledger::LogConfig,
    period: Option<&str>,
) -> Result<Handoff, PeriodError> {
    if !config.data_dir.join("db").is_dir() {
        return Err(PeriodError::NoLog(config.data_dir.display().to_string()));
    }
    let log = Log::open(log_config)?;
    let result = freeze_open(config, &log, period);
    log.close();
    result
}

fn freeze_open(config: &Config, log: &Log, period: Option<&str>) -> Result<Handoff, PeriodError> {
    let size = log.latest().size;
    if size == 0 {
        return Err(PeriodError::EmptyLog);
    }
    let operator = OperatorKey::load(&config.data_dir.join("operator.key"))?;
    if !derived::is_current(log)? {
        derived::rebuild_and_store(log, &mut |_| {})?;
    }
    let restored = derived::restore(log, operator.public_key())?;
    let own_period = restored.keys.link().map(|l| l.period.clone());
    let frozen = match read_frozen(&config.data_dir)? {
        Some(f) if f.size != size => {
            return Err(PeriodError::GrewAfterFreeze {
                frozen: f.size,
                size,
            })
        }
        Some(f) => f,
        None => {
            let frozen = Frozen {
                size,
                checkpoint: String::from_utf8_lossy(&log.checkpoint(size)?).into_owned(),
                period: period.map(str::to_owned).or(own_period).unwrap_or_default(),
                frozen_at_ms: crate::clock::now_ms(),
            };
            let json = serde_json::to_vec_pretty(&frozen).expect("serializable");
            write_synced(&config.data_dir.join(FROZEN_FILE), &json)?;
            frozen
        }
    };
    let credentials = credential_hashes(config)?;
    let operator_chain = config.operator_chain();
    let mut chains: Vec<HandoffChain> = restored
        .heads
        .iter()
        .filter(|(chain, _)| **chain != operator_chain)
        .filter_map(|(chain, head)| {
            let key = restored.keys.key_at(chain, u64::MAX)?;
            Some(HandoffChain {
                site_id: chain.site_id.to_string(),
                appliance_id: chain.appliance_id.to_string(),
                sequence: head.sequence,
                head_hash: hex::encode(head.hash.0),
                public_key: hex::encode(key.public_key.as_bytes()),
                credential_sha256: credentials.get(chain).cloned().unwrap_or_default(),
            })
        })
        .filter(|c| c.sequence > 0)
        .collect();
    chains.sort_by(|a, b| (&a.site_id, &a.appliance_id).cmp(&(&b.site_id, &b.appliance_id)));
    Ok(Handoff {
        format: HANDOFF_FORMAT.into(),
        log_key: log.verifier_key(),
        period: frozen.period,
        final_checkpoint: frozen.checkpoint,
        chains,
    })
}

fn open_auth(config: &Config) -> Result<crate::auth::Auth, PeriodError> {
    let db = std::sync::Arc::new(
        crate::state_db::StateDb::open(&config.data_dir)
            .map_err(|e| PeriodError::Auth(e.to_string()))?,
    );
    crate::auth::Auth::open(db, &config.data_dir, config.admin_token_sha256)
        .map_err(|e| PeriodError::Auth(e.to_string()))
}

/// Hex credential hashes per appliance.
fn credential_hashes(
    config: &Config,
) -> Result<std::collections::HashMap<ChainId, Vec<String>>, PeriodError> {
    let mut out: std::collections::HashMap<ChainId, Vec<String>> = Default::default();
    let hashes = open_auth(config)?
        .appliance_credential_hashes()
        .map_err(|e| PeriodError::Auth(e.to_string()))?;
    for (chain, hash) in hashes {
        out.entry(chain).or_default().push(hex::encode(hash));
    }
    Ok(out)
}

/// Takes over the carried appliances' credentials in the new data directory.
fn import_credentials(config: &Config, handoff: &Handoff) -> Result<(), PeriodError> {
    let auth = open_auth(config)?;
    for c in &handoff.chains {
        let chain = ChainId::new(
            Id::new(c.site_id.as_str()).map_err(|e| bad(e.to_string()))?,
            Id::new(c.appliance_id.as_str()).map_err(|e| bad(e.to_string()))?,
        );
        for hash in &c.credential_sha256 {
            let hash = parse_hex::<32>(hash, &format!("{chain} credential_sha256"))?;
            auth.import_appliance_credential(&chain, hash)
                .map_err(|e| PeriodError::Auth(e.to_string()))?;
        }
    }
    Ok(())
}

fn bad(reason: impl Into<String>) -> PeriodError {
    PeriodError::BadHandoff(reason.into())
}

fn parse_hex<const N: usize>(value: &str, what: &str) -> Result<[u8; N], PeriodError> {
    let bytes = hex::decode(value).map_err(|e| bad(format!("{what}: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| bad(format!("{what}: not {N} bytes")))
}

/// The hand-off's chains as carried chains, each checked.
fn carried_chains(handoff: &Handoff) -> Result<Vec<CarriedChain>, PeriodError> {
    handoff
        .chains
        .iter()
        .map(|c| {
            let name = format!("chain {}/{}", c.site_id, c.appliance_id);
            let id = |v: &str| Id::new(v).map_err(|e| bad(format!("{name}: {e}")));
            let key = parse_hex::<32>(&c.public_key, &format!("{name} public_key"))?;
            Ok(CarriedChain {
                chain: ChainId::new(id(&c.site_id)?, id(&c.appliance_id)?),
                sequence: c.sequence,
                head_hash: Hash(parse_hex::<32>(&c.head_hash, &format!("{name} head_hash"))?),
                public_key: VerifyingKey::from_bytes(&key)
                    .map_err(|_| bad(format!("{name}: not an Ed25519 public key")))?,
            })
        })
        .collect()
}

/// Checks the hand-off against itself: format, the checkpoint signed by the named key.
fn check_handoff(handoff: &Handoff) -> Result<SignedCheckpoint, PeriodError> {
    if handoff.format != HANDOFF_FORMAT {
        return Err(bad(format!(
            "format {:?}, expected {HANDOFF_FORMAT:?}",
            handoff.format
        )));
    }
    let key = NoteVerifier::parse(&handoff.log_key)
        .map_err(|e| bad(format!("log_key is not a verifier key: {e}")))?;
    SignedCheckpoint::verify(handoff.final_checkpoint.as_bytes(), &key).map_err(|e| {
        bad(format!(
            "final_checkpoint is not signed by {}: {e}",
            handoff.log_key
        ))
    })
}

/// Splits the carried chains into link bodies that each fit one log entry.
fn link_bodies(handoff: &Handoff, period: &str, carried: Vec<CarriedChain>) -> Vec<LinkBody> {
    let budget = MAX_RECORD_LEN
        - LINK_OVERHEAD
        - handoff.log_key.len()
        - handoff.final_checkpoint.len()
        - period.len()
        - handoff.period.len();
    // A carried chain encodes as its two ids plus at most 90 bytes (a 9-byte sequence,
    // two 34-byte strings and the heads of the map and its keys).
    let cost = |c: &CarriedChain| {
        c.chain.site_id.as_str().len() + c.chain.appliance_id.as_str().len() + 90
    };
    let mut parts: Vec<Vec<CarriedChain>> = vec![Vec::new()];
    let mut used = 0;
    for chain in carried {
        if used + cost(&chain) > budget && !parts.last().is_some_and(Vec::is_empty) {
            parts.push(Vec::new());
            used = 0;
        }
        used += cost(&chain);
        parts.last_mut().expect("one part at least").push(chain);
    }
    parts
        .into_iter()
        .map(|carried| LinkBody {
            previous_log: handoff.log_key.clone(),
            previous_checkpoint: handoff.final_checkpoint.clone(),
            period: period.to_owned(),
            previous_period: handoff.period.clone(),
            carried,
        })
        .collect()
}

/// Starts the log of `config`, opened with `log_config`, as the successor of the
/// hand-off's log: writes the links as its first entries (the server must be stopped and
/// the log empty).
pub fn start(
    config: &Config,
    log_config: ledger::LogConfig,
    handoff: &Handoff,
    period: &str,
) -> Result<Started, PeriodError> {
    let previous = check_handoff(handoff)?;
    if previous.origin() == config.origin {
        return Err(PeriodError::SameOrigin(config.origin.clone()));
    }
    let mut carried = carried_chains(handoff)?;
    carried.sort_by(|a, b| a.chain.cmp(&b.chain));
    let bodies = link_bodies(handoff, period, carried);
    std::fs::create_dir_all(&config.data_dir)
        .map_err(io(format!("creating {}", config.data_dir.display())))?;
    let log = Log::open(log_config)?;
    if log.latest().size != 0 {
        log.close();
        return Err(PeriodError::NotEmpty(config.data_dir.display().to_string()));
    }
    // The credentials first: taking them over again is harmless, so a start that failed
    // after this can be run again.
    if let Err(e) = import_credentials(config, handoff) {
        log.close();
        return Err(e);
    }
    let result = write_links(config, &log, bodies);
    log.close();
    let (links, chains) = result?;
    Ok(Started {
        links,
        chains,
        log_key: log.verifier_key(),
    })
}

fn write_links(
    config: &Config,
    log: &Log,
    bodies: Vec<LinkBody>,
) -> Result<(usize, usize), PeriodError> {
    if log.latest().size != 0 {
        return Err(PeriodError::NotEmpty(config.data_dir.display().to_string()));
    }
    let operator = OperatorKey::load_or_create(&config.data_dir.join("operator.key"))?;
    let chains = bodies.iter().map(|b| b.carried.len()).sum();
    // Every link is signed (which checks it as decoding would) before any is written.
    let records = sign_links(config, &operator, bodies)?;
    for (index, record) in records.iter().enumerate() {
        let appended = log.append(record.as_bytes().to_vec())?;
        if appended.index != index as u64 {
            return Err(PeriodError::NotEmpty(config.data_dir.display().to_string()));
        }
    }
    Ok((records.len(), chains))
}

/// The links as the operator chain's first records.
fn sign_links(
    config: &Config,
    operator: &OperatorKey,
    bodies: Vec<LinkBody>,
) -> Result<Vec<Record>, PeriodError> {
    let chain = config.operator_chain();
    let mut prev_hash = Hash([0; 32]);
    let mut records = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.into_iter().enumerate() {
        let unsigned = UnsignedRecord {
            site_id: chain.site_id.clone(),
            appliance_id: chain.appliance_id.clone(),
            sequence: i as u64 + 1,
            prev_hash,
            time_ms: crate::clock::now_ms(),
            key_id: operator.key_id(),
            body: Body::Key(KeyBody::Link(body)),
        };
        let record = Record::sign(unsigned, operator.signing_key())?;
        prev_hash = record.hash();
        records.push(record);
    }
    Ok(records)
}

/// The log list: the log this one succeeds (from its links), then this log.
pub fn log_list(
    config: &Config,
    log_key: String,
    link: Option<&LogLink>,
    frozen: Option<&Frozen>,
) -> Vec<ListedLog> {
    let mut logs = Vec::new();
    if let Some(link) = link {
        let previous = NoteVerifier::parse(&link.previous_log).ok();
        let checkpoint = previous
            .as_ref()
            .and_then(|k| SignedCheckpoint::verify(link.previous_checkpoint.as_bytes(), k).ok());
        logs.push(ListedLog {
            origin: checkpoint
                .as_ref()
                .map_or_else(String::new, |c| c.origin().to_owned()),
            key: link.previous_log.clone(),
            period: link.previous_period.clone(),
            status: "frozen",
            final_size: checkpoint.as_ref().map(SignedCheckpoint::size),
            final_checkpoint: Some(link.previous_checkpoint.clone()),
        });
    }
    logs.push(ListedLog {
        origin: config.origin.clone(),
        key: log_key,
        period: frozen
            .map(|f| f.period.clone())
            .or_else(|| link.map(|l| l.period.clone()))
            .unwrap_or_default(),
        status: if frozen.is_some() { "frozen" } else { "active" },
        final_checkpoint: frozen.map(|f| f.checkpoint.clone()),
        final_size: frozen.map(|f| f.size),
    });
    logs
}
