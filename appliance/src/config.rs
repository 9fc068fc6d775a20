//! The agent's configuration file (TOML), validated once with every problem reported at
//! once. The keys and their defaults are the contract with the NixOS module
//! (docs/AGENT.md §Configuration); the doc comments of [`Config`] are the reference.
//!
//! Secrets (enrolment token, appliance credential, signing key) never live in this file:
//! it only names files.

use std::path::{Path, PathBuf};

use ledger_record::Id;

use crate::error::AgentError;

/// Upload transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// gRPC (`AppendPipeline`), the default.
    Grpc,
    /// HTTP (`POST /v1/records/batch`), the fallback.
    Http,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `data_dir`, default `./agent-data`: the outbox (SQLite), key files, the
    /// credential, saved alarm evidence.
    pub data_dir: PathBuf,
    /// `server_url` (required): ledgerd HTTP base URL, e.g. `http://127.0.0.1:8080`.
    pub server_url: String,
    /// `proof_url`: a read replica's (or any tlog mirror's) HTTP base URL asked for
    /// consistency proofs before `server_url` (docs/REPLICAS.md).
    pub proof_url: Option<String>,
    /// `grpc_url`: ledgerd gRPC URL; required when `transport = "grpc"`.
    pub grpc_url: Option<String>,
    /// `transport`, `"grpc"` (default) or `"http"`.
    pub transport: Transport,
    /// `log_key_file` (required): file holding the log's C2SP verifier key string; the
    /// agent trusts checkpoints signed by this key only (pinned).
    pub log_key_file: PathBuf,
    /// `site_id` (required): this appliance's site.
    pub site_id: Id,
    /// `appliance_id` (required): this appliance's id.
    pub appliance_id: Id,
    /// `batch_size`, 1..=4096, default 256: records per upload request.
    pub batch_size: usize,
    /// `max_backoff_secs` ≥ 1, default 300: cap of the exponential backoff (with jitter).
    pub max_backoff_secs: u64,
    /// `checkin_interval_secs` ≥ 1, default 60: heartbeat period.
    pub checkin_interval_secs: u64,
    /// `retention_days` ≥ 1, default 30: delivered records older than this are pruned.
    pub retention_days: u64,
    /// `enrolment_token_file`: one-time token used by `ledger-agent enrol` when
    /// `--token` is not given.
    pub enrolment_token_file: Option<PathBuf>,
    /// `witness_policy`: a C2SP tlog-policy file (witnesses, groups, quorum). When set,
    /// a receipt is accepted only if its checkpoint, signed by the pinned log key, is
    /// cosigned by the policy's quorum; until then the record stays in the outbox and
    /// the upload is retried ("awaiting witnesses"). The policy's `log` lines are not
    /// used: `log_key_file` stays the one trusted log key.
    pub witness_policy: Option<PathBuf>,
}

const KEYS: &[&str] = &[
    "data_dir",
    "server_url",
    "grpc_url",
    "proof_url",
    "transport",
    "log_key_file",
    "site_id",
    "appliance_id",
    "batch_size",
    "max_backoff_secs",
    "checkin_interval_secs",
    "retention_days",
    "enrolment_token_file",
    "witness_policy",
];

/// Checks an `http://` or `https://` URL with a host and nothing after the path.
fn check_url(key: &str, value: &str, problems: &mut Vec<String>) -> Option<String> {
    match url::Url::parse(value) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => {
            if u.query().is_some() || u.fragment().is_some() {
                problems.push(format!(
                    "{key}: {value:?} must not have a query or fragment"
                ));
                return None;
            }
            Some(value.trim_end_matches('/').to_owned())
        }
        Ok(_) => {
            problems.push(format!(
                "{key}: {value:?} must be an http:// or https:// URL with a host"
            ));
            None
        }
        Err(e) => {
            problems.push(format!("{key}: {value:?} is not a URL ({e})"));
            None
        }
    }
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, AgentError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            AgentError::Config(vec![format!(
                "cannot read configuration file {}: {e}",
                path.display()
            )])
        })?;
        Config::parse(&text)
    }

    /// Validates configuration text; every problem is reported in one error.
    pub fn parse(text: &str) -> Result<Config, AgentError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            AgentError::Config(vec![format!("not valid TOML: {}", e.message())])
        })?;
        let mut fields = Fields {
            table: &table,
            problems: unknown_keys(&table),
        };
        let data_dir = fields
            .string("data_dir")
            .unwrap_or_else(|| "./agent-data".into());
        let server_url = fields
            .required_string("server_url")
            .and_then(|u| check_url("server_url", &u, &mut fields.problems));
        let grpc_url = fields
            .string("grpc_url")
            .and_then(|u| check_url("grpc_url", &u, &mut fields.problems));
        let proof_url = fields
            .string("proof_url")
            .and_then(|u| check_url("proof_url", &u, &mut fields.problems));
        let transport = fields.transport();
        if transport == Transport::Grpc && grpc_url.is_none() && !table.contains_key("grpc_url") {
            fields
                .problems
                .push("grpc_url: required when transport = \"grpc\" (the default)".into());
        }
        let log_key_file = fields.required_string("log_key_file");
        let site_id = fields.id("site_id");
        let appliance_id = fields.id("appliance_id");
        let batch_size = fields.integer("batch_size", 1, 4096, 256);
        let max_backoff_secs = fields.integer("max_backoff_secs", 1, i64::MAX, 300);
        let checkin_interval_secs = fields.integer("checkin_interval_secs", 1, i64::MAX, 60);
        let retention_days = fields.integer("retention_days", 1, i64::MAX, 30);
        let enrolment_token_file = fields.string("enrolment_token_file").map(PathBuf::from);
        let witness_policy = fields.string("witness_policy").map(PathBuf::from);

        match (server_url, log_key_file, site_id, appliance_id) {
            (Some(server_url), Some(log_key_file), Some(site_id), Some(appliance_id))
                if fields.problems.is_empty() =>
            {
                Ok(Config {
                    data_dir: PathBuf::from(data_dir),
                    server_url,
                    proof_url,
                    grpc_url,
                    transport,
                    log_key_file: PathBuf::from(log_key_file),
                    site_id,
                    appliance_id,
                    batch_size: batch_size as usize,
                    max_backoff_secs: max_backoff_secs as u64,
                    checkin_interval_secs: checkin_interval_secs as u64,
                    retention_days: retention_days as u64,
                    enrolment_token_file,
                    witness_policy,
                })
            }
            _ => Err(AgentError::Config(fields.problems)),
        }
    }
}

/// One problem for every key of `table` that is not a configuration key.
fn unknown_keys(table: &toml::Table) -> Vec<String> {
    table
        .keys()
        .filter(|key| !KEYS.contains(&key.as_str()))
        .map(|key| format!("unknown key `{key}`"))
        .collect()
}

/// The raw TOML table being validated, and every problem found so far. Each reader
/// returns what it could make of a key (or a default) and notes what is wrong, so that
/// one pass reports everything.
struct Fields<'a> {
    table: &'a toml::Table,
    problems: Vec<String>,
}

impl Fields<'_> {
    /// A non-empty string, if the key is there.
    fn string(&mut self, key: &str) -> Option<String> {
        match self.table.get(key) {
            None => None,
            Some(toml::Value::String(s)) if s.is_empty() => {
                self.problems.push(format!("{key}: must not be empty"));
                None
            }
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problems.push(format!(
                    "{key}: expected a string, found {}",
                    other.type_str()
                ));
                None
            }
        }
    }

    /// Like [`Fields::string`], and missing is a problem too (a key that is there but
    /// wrong was already reported as such).
    fn required_string(&mut self, key: &str) -> Option<String> {
        let value = self.string(key);
        if value.is_none() && !self.table.contains_key(key) {
            self.problems.push(format!("{key}: required"));
        }
        value
    }

    /// An integer in `min..=max`, or `default` (when missing or wrong).
    fn integer(&mut self, key: &str, min: i64, max: i64, default: i64) -> i64 {
        match self.table.get(key) {
            None => default,
            Some(toml::Value::Integer(n)) if (min..=max).contains(n) => *n,
            Some(toml::Value::Integer(n)) => {
                if max == i64::MAX {
                    self.problems
                        .push(format!("{key}: {n} is out of range (at least {min})"));
                } else {
                    self.problems
                        .push(format!("{key}: {n} is out of range ({min}..={max})"));
                }
                default
            }
            Some(other) => {
                self.problems.push(format!(
                    "{key}: expected an integer, found {}",
                    other.type_str()
                ));
                default
            }
        }
    }

    /// A required, valid identifier.
    fn id(&mut self, key: &str) -> Option<Id> {
        let value = self.required_string(key)?;
        match Id::new(value.clone()) {
            Ok(id) => Some(id),
            Err(e) => {
                self.problems.push(format!("{key}: {value:?}: {e}"));
                None
            }
        }
    }

    /// `transport`: `"grpc"` (also when missing) or `"http"`.
    fn transport(&mut self) -> Transport {
        match self.string("transport").as_deref() {
            None | Some("grpc") => Transport::Grpc,
            Some("http") => Transport::Http,
            Some(other) => {
                self.problems.push(format!(
                    "transport: {other:?} is not one of \"grpc\", \"http\""
                ));
                Transport::Grpc
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        server_url = "http://127.0.0.1:8080"
        grpc_url = "http://127.0.0.1:8081"
        log_key_file = "/etc/ledger/log.key"
        site_id = "clinic-1"
        appliance_id = "box-1"
    "#;

    #[test]
    fn minimal_file_gets_the_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./agent-data"));
        assert_eq!(c.transport, Transport::Grpc);
        assert_eq!(c.batch_size, 256);
        assert_eq!(c.max_backoff_secs, 300);
        assert_eq!(c.checkin_interval_secs, 60);
        assert_eq!(c.retention_days, 30);
        assert!(c.enrolment_token_file.is_none());
        assert!(c.witness_policy.is_none());
    }

    /// The configuration table of docs/AGENT.md has a row for every key.
    #[test]
    fn every_key_is_in_the_agent_docs() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/AGENT.md");
        let text = std::fs::read_to_string(path).expect("docs/AGENT.md");
        for key in KEYS {
            assert!(
                text.contains(&format!("| `{key}` |")),
                "docs/AGENT.md has no configuration row for `{key}`"
            );
        }
    }

    #[test]
    fn witness_policy_is_a_path() {
        let c = Config::parse(&format!(
            "{MINIMAL}\nwitness_policy = \"/etc/ledger/witnesses\""
        ))
        .unwrap();
        assert_eq!(
            c.witness_policy,
            Some(PathBuf::from("/etc/ledger/witnesses"))
        );
        let Err(AgentError::Config(problems)) =
            Config::parse(&format!("{MINIMAL}\nwitness_policy = 3"))
        else {
            panic!("must fail");
        };
        assert_eq!(
            problems,
            ["witness_policy: expected a string, found integer"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            server_url = "ftp://x"
            transport = "carrier-pigeon"
            site_id = "bad site"
            batch_size = 0
            max_backoff_secs = "soon"
            retention_days = 0
            colour = "blue"
        "#;
        let Err(AgentError::Config(problems)) = Config::parse(text) else {
            panic!("must fail");
        };
        let all = problems.join("\n");
        for needle in [
            "unknown key `colour`",
            "server_url",
            "transport",
            "log_key_file: required",
            "site_id",
            "appliance_id: required",
            "batch_size: 0 is out of range",
            "max_backoff_secs: expected an integer",
            "retention_days: 0",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn problems_come_in_the_order_of_the_keys_checked() {
        let text = r#"
            server_url = 5
            transport = "pigeon"
            site_id = ""
            batch_size = 5000
            colour = "blue"
        "#;
        let Err(AgentError::Config(problems)) = Config::parse(text) else {
            panic!("must fail");
        };
        assert_eq!(
            problems,
            [
                "unknown key `colour`",
                "server_url: expected a string, found integer",
                "transport: \"pigeon\" is not one of \"grpc\", \"http\"",
                "grpc_url: required when transport = \"grpc\" (the default)",
                "log_key_file: required",
                "site_id: must not be empty",
                "appliance_id: required",
                "batch_size: 5000 is out of range (1..=4096)",
            ]
        );
    }

    #[test]
    fn grpc_url_is_required_for_grpc_only() {
        let text = MINIMAL.replace("grpc_url = \"http://127.0.0.1:8081\"", "");
        assert!(Config::parse(&text).is_err());
        let c = Config::parse(&format!("{text}\ntransport = \"http\"")).unwrap();
        assert_eq!(c.transport, Transport::Http);
    }
}
