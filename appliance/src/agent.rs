//! [`Agent`]: the library API the appliance's own services use, and what every
//! `ledger-agent` command is built on. It ties the configuration, the key store and the
//! outbox together: enrolment, recording (sequence, previous hash, signature, durable
//! before returning) and key rotation.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use ed25519_dalek::SigningKey;
use ledger_core::note::NoteVerifier;
use ledger_record::{Body, EvidenceInput, HealingInput, KeyBody, KeyId, Record, UnsignedRecord};

use crate::client::Client;
use crate::config::Config;
use crate::error::AgentError;
use crate::keystore;
use crate::outbox::{now_ms, Outbox, Recorded, META_APPLIANCE, META_SITE};
use crate::shared_outbox::SharedOutbox;
use crate::trust::{load_log_key, Trust};
use crate::witnesses::WitnessPolicy;

/// Largest JSON input accepted by the `record` commands (a record is at most 65,535
/// bytes of CBOR; JSON is larger, but not this much).
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// File holding the appliance credential (mode 0600).
pub const CREDENTIAL_FILE: &str = "credential";

/// The agent: configuration, pinned log key, witness policy and outbox.
pub struct Agent {
    config: Config,
    outbox: SharedOutbox,
    log_key: NoteVerifier,
    witnesses: Option<WitnessPolicy>,
}

/// Which body schema a JSON input follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Evidence,
    Healing,
}

/// Parses and validates JSON input into a body; errors say where the problem is.
pub fn parse_input(kind: InputKind, json: &[u8]) -> Result<Body, AgentError> {
    if json.len() > MAX_INPUT_BYTES {
        return Err(AgentError::InvalidInput(format!(
            "input is {} bytes; at most {MAX_INPUT_BYTES} are accepted (a record is at most 65,535 bytes)",
            json.len()
        )));
    }
    let what = match kind {
        InputKind::Evidence => "evidence",
        InputKind::Healing => "healing",
    };
    let json_err = |e: serde_json::Error| {
        AgentError::InvalidInput(format!(
            "{what} JSON, line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    };
    let body = match kind {
        InputKind::Evidence => {
            let input: EvidenceInput = serde_json::from_slice(json).map_err(json_err)?;
            Body::Evidence(
                input
                    .into_inline_body()
                    .map_err(|e| AgentError::InvalidInput(format!("{what}: {e}")))?,
            )
        }
        InputKind::Healing => {
            let input: HealingInput = serde_json::from_slice(json).map_err(json_err)?;
            Body::Healing(
                input
                    .into_body()
                    .map_err(|e| AgentError::InvalidInput(format!("{what}: {e}")))?,
            )
        }
    };
    Ok(body)
}

fn write_secret(path: &Path, text: &str) -> Result<(), AgentError> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| AgentError::io(format!("creating {}", tmp.display()), e))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| AgentError::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| AgentError::io(format!("renaming to {}", path.display()), e))?;
    if let Some(dir) = path.parent() {
        keystore::sync_dir(dir)?;
    }
    Ok(())
}

impl Agent {
    /// Opens the agent: reads the pinned log key and the witness policy (if any) and
    /// opens (creating) the outbox. If the outbox was enrolled under another identity
    /// than the configuration names, refuses.
    pub fn open(config: Config) -> Result<Agent, AgentError> {
        let log_key = load_log_key(&config.log_key_file)?;
        let witnesses = config
            .witness_policy
            .as_deref()
            .map(WitnessPolicy::load)
            .transpose()?;
        let outbox = Outbox::open(&config.data_dir)?;
        let identity = (outbox.meta(META_SITE)?, outbox.meta(META_APPLIANCE)?);
        let agent = Agent {
            config,
            outbox: SharedOutbox::new(outbox),
            log_key,
            witnesses,
        };
        if let (Some(site), Some(app)) = identity {
            if site != agent.config.site_id.as_str() || app != agent.config.appliance_id.as_str() {
                return Err(AgentError::InvalidInput(format!(
                    "the data directory belongs to {site}/{app}, the configuration names {}/{}",
                    agent.config.site_id, agent.config.appliance_id
                )));
            }
        }
        Ok(agent)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The outbox, locked, for synchronous code (async code uses
    /// [`Agent::shared_outbox`] and [`SharedOutbox::call`]).
    pub fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock()
    }

    /// Like [`Agent::outbox`]; kept for callers that change the outbox.
    pub fn outbox_mut(&mut self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock()
    }

    /// The outbox handle async code goes through.
    pub fn shared_outbox(&self) -> SharedOutbox {
        self.outbox.clone()
    }

    pub fn log_key(&self) -> &NoteVerifier {
        &self.log_key
    }

    /// The witness policy of `witness_policy`, if configured.
    pub fn witness_policy(&self) -> Option<&WitnessPolicy> {
        self.witnesses.as_ref()
    }

    fn credential_path(&self) -> PathBuf {
        self.config.data_dir.join(CREDENTIAL_FILE)
    }

    /// The appliance credential, once enrolled.
    pub fn credential(&self) -> Result<String, AgentError> {
        match std::fs::read_to_string(self.credential_path()) {
            Ok(c) if !c.trim().is_empty() => Ok(c.trim().to_owned()),
            Ok(_) => Err(AgentError::NotEnrolled(
                "the credential file is empty".into(),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(AgentError::NotEnrolled("no credential".into()))
            }
            Err(e) => Err(AgentError::io("reading the credential", e)),
        }
    }

    /// A server client with this agent's credential (if enrolled).
    pub fn client(&self) -> Client {
        Client::new(
            &self.config.server_url,
            self.config.grpc_url.as_deref(),
            self.credential().ok(),
        )
        .with_proof_url(self.config.proof_url.as_deref())
    }

    /// The trusted view of the log, starting from the stored checkpoint, with the
    /// witness policy.
    pub fn trust(&self) -> Result<Trust, AgentError> {
        let stored = self.outbox.lock().checkpoint()?;
        Ok(Trust::new(
            self.log_key.clone(),
            &self.config.data_dir,
            stored.as_deref(),
        )?
        .with_witnesses(self.witnesses.clone()))
    }

    /// Enrols with a one-time token: generates a key, presents it, verifies the
    /// enrolment receipt against the pinned log key, then stores the credential and
    /// makes the key active. On any failure the new key is discarded and nothing else
    /// changes.
    pub async fn enrol(&mut self, token: &str) -> Result<KeyId, AgentError> {
        let token = token.trim();
        if token.is_empty() || token.len() > 1024 || token.chars().any(char::is_control) {
            return Err(AgentError::InvalidInput(
                "the enrolment token is empty or malformed".into(),
            ));
        }
        let active_key = self.outbox.call(|outbox| outbox.active_key_id()).await?;
        if active_key.is_some() || self.credential_path().exists() {
            return Err(AgentError::InvalidInput(
                "already enrolled (the data directory has a key and a credential)".into(),
            ));
        }
        let key = keystore::generate();
        let key_id = KeyId::of(&key.verifying_key());
        let enrolled = Client::new(&self.config.server_url, None, None)
            .enrol(token, key.verifying_key().as_bytes())
            .await
            .map_err(|e| match e {
                AgentError::Refused { code, message } => AgentError::InvalidInput(format!(
                    "the server refused the enrolment: {code}: {message}"
                )),
                other => other,
            })?;
        // The enrolment record is in the log: check its receipt with the pinned key
        // before keeping anything, so a wrong server is caught at the first contact.
        let receipt = ledger_core::receipt::Receipt::parse(enrolled.answer.receipt.as_bytes())
            .map_err(|e| AgentError::BadAnswer(format!("enrolment receipt: {e}")))?;
        let checkpoint = ledger_core::checkpoint::SignedCheckpoint::verify(
            receipt.checkpoint_note().as_bytes(),
            &self.log_key,
        )
        .map_err(|e| {
            AgentError::BadAnswer(format!(
                "enrolment checkpoint does not verify with the pinned log key: {e}"
            ))
        })?;
        // Crash note: the key file is written first, then the credential, then the
        // outbox names the key active. A crash before the last step leaves files that
        // `enrol` reports as "already enrolled"; the operator then issues a new token
        // after removing them (docs/AGENT.md §Enrolment).
        keystore::store(&self.config.data_dir, &key)?;
        if let Err(e) = write_secret(
            &self.credential_path(),
            &format!("{}\n", enrolled.credential),
        ) {
            keystore::discard(&self.config.data_dir, &key);
            return Err(e);
        }
        let site = self.config.site_id.as_str().to_owned();
        let appliance = self.config.appliance_id.as_str().to_owned();
        let checkpoint = checkpoint.as_str().to_owned();
        self.outbox
            .call(move |outbox| outbox.set_enrolled(&site, &appliance, &key_id, &checkpoint))
            .await?;
        Ok(key_id)
    }

    fn signing_key(&self) -> Result<(SigningKey, KeyId), AgentError> {
        let key_id = self
            .outbox
            .lock()
            .active_key_id()?
            .ok_or_else(|| AgentError::NotEnrolled("no active signing key".into()))?;
        Ok((keystore::load(&self.config.data_dir, &key_id)?, key_id))
    }

    /// Signs `body` as the next record of this appliance's chain and stores it in the
    /// outbox; returns only after the record is on disk.
    pub fn record(&mut self, body: Body) -> Result<Recorded, AgentError> {
        let mut out = self.record_many(vec![body])?;
        out.pop()
            .ok_or_else(|| AgentError::InvalidInput("nothing recorded".into()))
    }

    /// Records several bodies in one transaction (all or none).
    pub fn record_many(&mut self, bodies: Vec<Body>) -> Result<Vec<Recorded>, AgentError> {
        if bodies.iter().any(|b| matches!(b, Body::Key(_))) {
            return Err(AgentError::InvalidInput(
                "key records are made by `rotate`, not recorded directly".into(),
            ));
        }
        // The key file is loaded (and its integrity checked) for every call: a tampered
        // or truncated file stops signing at once.
        let (key, key_id) = self.signing_key()?;
        let count = bodies.len();
        let mut bodies = bodies.into_iter();
        let (site, app) = (
            self.config.site_id.clone(),
            self.config.appliance_id.clone(),
        );
        self.outbox.lock().append_with(count, |seq, prev| {
            let body = bodies
                .next()
                .ok_or_else(|| AgentError::InvalidInput("fewer bodies than records".into()))?;
            let unsigned = UnsignedRecord {
                site_id: site.clone(),
                appliance_id: app.clone(),
                sequence: seq,
                prev_hash: prev,
                time_ms: now_ms(),
                key_id,
                body,
            };
            let record = Record::sign(unsigned, &key)
                .map_err(|e| AgentError::InvalidInput(format!("record: {e}")))?;
            Ok((record, None))
        })
    }

    /// Records JSON input of `kind`.
    pub fn record_json(&mut self, kind: InputKind, json: &[u8]) -> Result<Recorded, AgentError> {
        let body = parse_input(kind, json)?;
        self.record(body)
    }

    /// Rotates the signing key: writes a new key file, then records a `key` rotation
    /// record signed by the old key and makes the new key active, in one transaction.
    /// The uploader delivers the rotation in chain order (docs/API.md, "Rotation"), so
    /// every later record, signed by the new key, reaches the log after it.
    pub fn rotate(&mut self) -> Result<(KeyId, Recorded), AgentError> {
        let (old, old_id) = self.signing_key()?;
        let new = keystore::generate();
        let new_id = KeyId::of(&new.verifying_key());
        // Crash note: a crash after this store and before the commit below leaves an
        // unused key file; the old key stays active.
        keystore::store(&self.config.data_dir, &new)?;
        let body = Body::Key(KeyBody::Rotation {
            old_key_id: old_id,
            new_public_key: new.verifying_key(),
        });
        let mut body = Some(body);
        let (site, app) = (
            self.config.site_id.clone(),
            self.config.appliance_id.clone(),
        );
        let recorded = self.outbox.lock().append_with(1, |seq, prev| {
            let body = body
                .take()
                .ok_or_else(|| AgentError::InvalidInput("rotation body used twice".into()))?;
            let unsigned = UnsignedRecord {
                site_id: site.clone(),
                appliance_id: app.clone(),
                sequence: seq,
                prev_hash: prev,
                time_ms: now_ms(),
                key_id: old_id,
                body,
            };
            let record = Record::sign(unsigned, &old)
                .map_err(|e| AgentError::InvalidInput(format!("rotation record: {e}")))?;
            Ok((record, Some(new_id)))
        });
        match recorded {
            Ok(mut r) => {
                let rec = r
                    .pop()
                    .ok_or_else(|| AgentError::InvalidInput("rotation not recorded".into()))?;
                Ok((new_id, rec))
            }
            Err(e) => {
                keystore::discard(&self.config.data_dir, &new);
                Err(e)
            }
        }
    }
}
