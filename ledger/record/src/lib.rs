//! The Evidence Ledger record envelope, specified in `docs/RECORDS.md` (format version 1).
//!
//! What this crate implements:
//! - the envelope ([`Record`], [`UnsignedRecord`]) as a CBOR map with small integer keys
//!   in the core deterministic encoding of RFC 8949 §4.2.1 (shortest integers and
//!   lengths, definite lengths, keys in bytewise order, no duplicates), written and read
//!   with `cbor4ii`. [`Record::decode`] refuses input over 65,535 bytes (one C2SP
//!   tlog-tiles entry) before parsing, trailing bytes, any non-deterministic encoding
//!   (decode, re-encode, compare), unknown versions, kinds and fields, missing fields,
//!   wrong types and malformed identifiers;
//! - Ed25519 signatures (RFC 8032, strict verification) over the domain-separated message
//!   `"evidence-ledger/record/v1" || 0x00 || CBOR(envelope without signature)`, and
//!   [`verify_batch`] for many records at once;
//! - the record hash (SHA-256 of the encoded record) and key id (first 8 bytes of
//!   SHA-256(`"evidence-ledger/key/v1"` || 0x00 || public key));
//! - the body schemas: [`EvidenceBody`] (with an RFC 6962 items root built with
//!   `rs_merkle` and [`Disclosure`] of any subset of items), [`HealingBody`] and
//!   [`KeyBody`] (enrolment, rotation, revocation, and the [`LinkBody`] that starts a log
//!   succeeding a frozen one), [`ReleaseBody`] (release keys and the [`SignedRelease`]s
//!   they sign, replayed by [`ReleaseHistory`]), [`RolloutBody`] and [`UpdateBody`] (a
//!   staged rollout and one appliance's update steps), plus `serde` input types for the
//!   human-written bodies ([`EvidenceInput`], [`HealingInput`]);
//! - [`KeyHistory`]: which key of which appliance was valid at each log index;
//! - [`ChainChecker`]: per-appliance completeness (gaps, forks, conflicts, duplicates,
//!   reorderings);
//! - the batch append body ([`batch_body`]: a CBOR array of encoded records) and UTC
//!   calendar dates ([`utc`]) that the server, the agent and the verifier share.
//!
//! What it deliberately does not do: any I/O, clock reading or randomness (signing is
//! deterministic Ed25519; callers supply times); deciding policy about appliance clocks;
//! storing anything; parsing JSON (callers use `serde_json` on the input types).
//! Signatures are not checked by decoding, which does not know the key: call
//! [`Record::verify`] or [`KeyHistory::verify_record`].

mod batch;
pub mod batch_body;
mod cbor;
mod chain;
mod disclosure;
mod error;
mod evidence;
mod fleet_body;
mod healing;
mod ids;
mod input;
mod key_body;
mod key_history;
mod link_body;
mod record;
mod release_body;
mod release_history;
mod text;
pub mod utc;

pub use batch::verify_batch;
pub use batch_body::{decode_batch_body, encode_batch_body, BatchBodyError};
pub use chain::{ChainChecker, ChainError, ChainFinding, ChainReport, ChainStart, ChainSummary};
pub use disclosure::{
    disclose, items_root, Disclosure, Rfc6962Hasher, DISCLOSURE_SCHEMA_VERSION, MAX_DISCLOSURE_LEN,
};
pub use error::RecordError;
pub use evidence::{
    check_control_id, EvidenceBody, EvidenceItem, Status, EVIDENCE_SCHEMA_VERSION, MAX_CONTROLS,
    MAX_CONTROL_LEN, MAX_DETAILS_LEN, MAX_ITEMS,
};
pub use fleet_body::{
    Deadlines, RolloutAction, RolloutBody, RolloutPlan, TimeoutReason, UpdateBody, UpdateState,
    FLEET_SCHEMA_VERSION, MAX_REASON_LEN, MAX_STAGES, MAX_TARGETS,
};
pub use healing::{
    HealingBody, Outcome, Tier, HEALING_SCHEMA_VERSION, MAX_ACTION_LEN, MAX_PATTERN_LEN,
    MAX_STATE_LEN,
};
pub use ids::{ChainId, Id, IdError, KeyId, KEY_ID_DOMAIN};
pub use input::{EvidenceInput, EvidenceItemInput, HealingInput, InputError};
pub use key_body::{KeyBody, RevocationReason, KEY_SCHEMA_VERSION};
pub use key_history::{KeyEnd, KeyEndReason, KeyEntry, KeyHistory, KeyHistoryError, LogLink};
pub use link_body::{CarriedChain, LinkBody};
pub use record::{
    Body, Kind, Record, UnsignedRecord, FORMAT_VERSION, MAX_RECORD_LEN, SIGNING_DOMAIN,
};
pub use release_body::{
    ReleaseBody, ReleaseStatement, SignedRelease, Version, MAX_NOTES_LEN, MAX_URLS, MAX_URL_LEN,
    RELEASE_SCHEMA_VERSION, RELEASE_SIGNING_DOMAIN,
};
pub use release_history::{LoggedRelease, ReleaseError, ReleaseHistory, ReleaseKeyEntry};

/// Re-exported so callers name the same key and hash types as this crate.
pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
pub use ledger_core::hash::Hash;
