//! The period link (a `key` record, action 3): the first entries of a log that succeeds
//! a frozen one. Schema: docs/RECORDS.md §5.4 "Link".
//!
//! A link names the previous log (its verifier key) and that log's final signed
//! checkpoint, verbatim, and carries every appliance chain that continues: where the chain
//! stood at the end of the previous log (sequence and record hash) and the appliance key
//! valid there. The new log's intake starts those chains from the carried heads, so an
//! appliance's next record continues its numbering and links to its last record in the
//! previous log; a verifier holding packages of both logs checks that the carried heads
//! and keys are what the previous log says.
//!
//! Decoding checks the previous checkpoint's signature with the named previous key, so a
//! link whose checkpoint the previous log did not sign is malformed, not merely suspect.

use ed25519_dalek::VerifyingKey;
use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::hash::Hash;
use ledger_core::note::NoteVerifier;

use crate::cbor::Value;
use crate::error::RecordError;
use crate::ids::{ChainId, KeyId};
use crate::text::{id_field, text_field};

/// Longest previous-log verifier key (a note verifier key line).
pub const MAX_PREVIOUS_LOG_LEN: usize = 1024;
/// Longest previous checkpoint note (a checkpoint with a few dozen cosignatures).
pub const MAX_PREVIOUS_CHECKPOINT_LEN: usize = 16 * 1024;
/// Longest period label.
pub const MAX_PERIOD_LEN: usize = 64;

// Fields of the link body (keys 0 and 1 are the key body's version and action).
pub(crate) const LINK_PREVIOUS_LOG: u64 = 2;
pub(crate) const LINK_PREVIOUS_CHECKPOINT: u64 = 3;
pub(crate) const LINK_PERIOD: u64 = 4;
pub(crate) const LINK_CARRIED: u64 = 5;
pub(crate) const LINK_PREVIOUS_PERIOD: u64 = 6;
// Fields of one carried chain.
const CARRIED_SITE_ID: u64 = 0;
const CARRIED_APPLIANCE_ID: u64 = 1;
const CARRIED_SEQUENCE: u64 = 2;
const CARRIED_HEAD_HASH: u64 = 3;
const CARRIED_PUBLIC_KEY: u64 = 4;

/// One appliance chain carried over from the previous log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedChain {
    pub chain: ChainId,
    /// The chain's last sequence number in the previous log (at least 1).
    pub sequence: u64,
    /// Record hash of that last record.
    pub head_hash: Hash,
    /// The appliance key valid at the end of the previous log; valid here from the entry
    /// after the link.
    pub public_key: VerifyingKey,
}

/// The link body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkBody {
    /// The previous log's verifier key (`origin+keyid+key`).
    pub previous_log: String,
    /// The previous log's final signed checkpoint note, verbatim.
    pub previous_checkpoint: String,
    /// This log's period label, e.g. `2027`.
    pub period: String,
    /// The previous log's period label; empty when it had none.
    pub previous_period: String,
    /// Chains that continue, in strictly increasing chain order.
    pub carried: Vec<CarriedChain>,
}

impl LinkBody {
    /// The previous log's key and its final checkpoint, verified with that key.
    pub fn previous(&self) -> Result<(NoteVerifier, SignedCheckpoint), RecordError> {
        let key = NoteVerifier::parse(&self.previous_log).map_err(|e| {
            invalid(
                "key.link.previous_log",
                format!("not a note verifier key: {e}"),
            )
        })?;
        let checkpoint = SignedCheckpoint::verify(self.previous_checkpoint.as_bytes(), &key)
            .map_err(|e| {
                invalid(
                    "key.link.previous_checkpoint",
                    format!("not a checkpoint signed by the previous log's key: {e}"),
                )
            })?;
        Ok((key, checkpoint))
    }

    pub(crate) fn validate(&self) -> Result<(), RecordError> {
        crate::text::check_text(
            "key.link.previous_log",
            &self.previous_log,
            MAX_PREVIOUS_LOG_LEN,
            false,
        )?;
        crate::text::check_text(
            "key.link.previous_checkpoint",
            &self.previous_checkpoint,
            MAX_PREVIOUS_CHECKPOINT_LEN,
            false,
        )?;
        crate::text::check_text("key.link.period", &self.period, MAX_PERIOD_LEN, false)?;
        crate::text::check_text(
            "key.link.previous_period",
            &self.previous_period,
            MAX_PERIOD_LEN,
            true,
        )?;
        self.previous()?;
        let mut key_ids = std::collections::BTreeSet::new();
        for pair in self.carried.windows(2) {
            if pair[0].chain >= pair[1].chain {
                return Err(invalid(
                    "key.link.carried",
                    format!(
                        "chains must be in strictly increasing order: {} before {}",
                        pair[0].chain, pair[1].chain
                    ),
                ));
            }
        }
        for carried in &self.carried {
            if carried.sequence == 0 {
                return Err(invalid(
                    "key.link.carried.sequence",
                    format!("{}: a carried chain has at least one record", carried.chain),
                ));
            }
            if carried.public_key.is_weak() {
                return Err(invalid(
                    "key.link.carried.public_key",
                    "Ed25519 public key of small order".into(),
                ));
            }
            if !key_ids.insert(KeyId::of(&carried.public_key)) {
                return Err(invalid(
                    "key.link.carried.public_key",
                    format!("{}: key carried for two chains", carried.chain),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn fields(&self) -> [(u64, Option<Value>); 5] {
        let carried = self.carried.iter().map(carried_value).collect();
        [
            (LINK_PREVIOUS_LOG, Some(Value::text(&self.previous_log))),
            (
                LINK_PREVIOUS_CHECKPOINT,
                Some(Value::text(&self.previous_checkpoint)),
            ),
            (LINK_PERIOD, Some(Value::text(&self.period))),
            (LINK_CARRIED, Some(Value::Array(carried))),
            (
                LINK_PREVIOUS_PERIOD,
                Some(Value::text(&self.previous_period)),
            ),
        ]
    }

    pub(crate) fn from_fields(f: &mut crate::cbor::Fields) -> Result<LinkBody, RecordError> {
        let previous_log = text_field(
            f.required(LINK_PREVIOUS_LOG)?,
            "key.link.previous_log",
            MAX_PREVIOUS_LOG_LEN,
            false,
        )?;
        let previous_checkpoint = text_field(
            f.required(LINK_PREVIOUS_CHECKPOINT)?,
            "key.link.previous_checkpoint",
            MAX_PREVIOUS_CHECKPOINT_LEN,
            false,
        )?;
        let period = text_field(
            f.required(LINK_PERIOD)?,
            "key.link.period",
            MAX_PERIOD_LEN,
            false,
        )?;
        let previous_period = text_field(
            f.required(LINK_PREVIOUS_PERIOD)?,
            "key.link.previous_period",
            MAX_PERIOD_LEN,
            true,
        )?;
        let carried = f
            .required(LINK_CARRIED)?
            .into_array("key.link.carried")?
            .into_iter()
            .map(carried_from_value)
            .collect::<Result<Vec<_>, _>>()?;
        let body = LinkBody {
            previous_log,
            previous_checkpoint,
            period,
            previous_period,
            carried,
        };
        body.validate()?;
        Ok(body)
    }
}

fn invalid(field: &'static str, reason: String) -> RecordError {
    RecordError::InvalidValue { field, reason }
}

fn carried_value(c: &CarriedChain) -> Value {
    Value::map([
        (CARRIED_SITE_ID, Some(Value::text(c.chain.site_id.as_str()))),
        (
            CARRIED_APPLIANCE_ID,
            Some(Value::text(c.chain.appliance_id.as_str())),
        ),
        (CARRIED_SEQUENCE, Some(Value::Uint(c.sequence))),
        (CARRIED_HEAD_HASH, Some(Value::bytes(&c.head_hash.0))),
        (
            CARRIED_PUBLIC_KEY,
            Some(Value::bytes(c.public_key.as_bytes())),
        ),
    ])
}

fn carried_from_value(value: Value) -> Result<CarriedChain, RecordError> {
    let mut f = value.into_map("key.link.carried")?;
    let chain = ChainId::new(
        id_field(f.required(CARRIED_SITE_ID)?, "key.link.carried.site_id")?,
        id_field(
            f.required(CARRIED_APPLIANCE_ID)?,
            "key.link.carried.appliance_id",
        )?,
    );
    let sequence = f
        .required(CARRIED_SEQUENCE)?
        .into_uint("key.link.carried.sequence")?;
    let head_hash = Hash(
        f.required(CARRIED_HEAD_HASH)?
            .into_byte_array("key.link.carried.head_hash", "a 32-byte hash")?,
    );
    let public_key = crate::key_body::public_key(
        f.required(CARRIED_PUBLIC_KEY)?,
        "key.link.carried.public_key",
    )?;
    f.finish()?;
    Ok(CarriedChain {
        chain,
        sequence,
        head_hash,
        public_key,
    })
}
