//! Key history for the audit report: the enrolment, rotation and revocation records of
//! each appliance, read from the package's `keys.bin` (every key record of the log below
//! the checkpoint, already verified as a lifecycle by the package check).

use std::collections::BTreeMap;

use ledger_record::{Body, ChainId, KeyBody, KeyId, Record, RevocationReason};

use crate::package::EntryFile;

/// One key record, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    pub index: u64,
    pub time_ms: u64,
    /// `enrolment`, `rotation`, `revocation` or `carried` (from the previous log).
    pub action: &'static str,
    /// The key concerned, hex key id.
    pub key_id: String,
    /// A short explanation (the new key of a rotation, the reason of a revocation).
    pub detail: String,
}

/// Key records per appliance, in log order.
pub type KeyEvents = BTreeMap<ChainId, Vec<KeyEvent>>;

/// Reads the key records of `keys`. Records that do not decode are skipped: the package
/// check has already reported them, and a package with findings gets no report.
pub fn key_events(keys: &EntryFile) -> KeyEvents {
    let mut out = KeyEvents::new();
    for (index, bytes) in keys.iter() {
        let Ok(record) = Record::decode(bytes) else {
            continue;
        };
        let Body::Key(body) = record.body() else {
            continue;
        };
        for (subject, event) in events_of(index, &record, body) {
            out.entry(subject).or_default().push(event);
        }
    }
    out
}

fn events_of(index: u64, record: &Record, body: &KeyBody) -> Vec<(ChainId, KeyEvent)> {
    let event = |action, key_id: KeyId, detail| KeyEvent {
        index,
        time_ms: record.time_ms(),
        action,
        key_id: hex::encode(key_id.as_bytes()),
        detail,
    };
    let one = match body {
        // A period link carries the key each chain had at the end of the previous log.
        KeyBody::Link(link) => {
            return link
                .carried
                .iter()
                .map(|c| {
                    let detail = format!(
                        "carried over from the previous log at sequence {}",
                        c.sequence
                    );
                    (
                        c.chain.clone(),
                        event("carried", KeyId::of(&c.public_key), detail),
                    )
                })
                .collect()
        }
        KeyBody::Enrolment {
            subject,
            public_key,
            enrolment_token_id,
        } => (
            subject.clone(),
            event(
                "enrolment",
                KeyId::of(public_key),
                format!("enrolled by the operator with token {enrolment_token_id}"),
            ),
        ),
        KeyBody::Rotation {
            old_key_id,
            new_public_key,
        } => (
            record.chain(),
            event(
                "rotation",
                *old_key_id,
                format!(
                    "replaced by key {}",
                    hex::encode(KeyId::of(new_public_key).as_bytes())
                ),
            ),
        ),
        KeyBody::Revocation {
            subject,
            key_id,
            reason,
        } => (
            subject.clone(),
            event(
                "revocation",
                *key_id,
                format!("revoked by the operator: {}", reason_text(*reason)),
            ),
        ),
    };
    vec![one]
}

fn reason_text(reason: RevocationReason) -> &'static str {
    match reason {
        RevocationReason::Unspecified => "reason unspecified",
        RevocationReason::KeyCompromise => "key compromise",
        RevocationReason::Decommissioned => "appliance decommissioned",
        RevocationReason::Superseded => "superseded",
    }
}
