//! OpenTimestamps for Evidence Ledger checkpoints.
//!
//! The ledger stamps checkpoints, not records: the digest is SHA-256 of a
//! checkpoint body, and one stamp proves that every record up to that tree
//! size existed before a Bitcoin block (see DESIGN.md, "Anchoring").
//!
//! # What is implemented
//!
//! The OpenTimestamps proof format as written and read by the reference
//! implementation (python-opentimestamps; there is no formal spec):
//! - detached `.ots` files ([`DetachedTimestamp`]): magic, major version 1,
//!   file-hash operation, digest, timestamp tree;
//! - bare timestamps as calendars return them ([`Timestamp::parse`]);
//! - every operation: sha1, ripemd160, sha256, keccak256, append, prepend,
//!   reverse, hexlify ([`Op`]);
//! - pending, Bitcoin, Litecoin and Ethereum attestations; any other tag is
//!   kept verbatim and round-trips ([`Attestation`]);
//! - the reference's limits: operation results and inputs at most 4096
//!   bytes (hexlify input 2048), append/prepend arguments 1..=4096 bytes,
//!   at most 255 operations on a path, attestation payloads at most 8192
//!   bytes, pending URIs at most 1000 bytes of `[A-Za-z0-9-._/:]`;
//! - canonical output: attestations before operations, attestations by tag
//!   then value, operations by tag then argument, so the reference's files
//!   re-serialize byte for byte;
//! - replay of the tree to list every attestation with its message, the
//!   commitment of each pending attestation, and merging a calendar's
//!   upgrade answer;
//! - a builder for chains of operations ([`TimestampBuilder`]);
//! - Bitcoin verification against auditor-supplied headers ([`HeaderSet`]),
//!   with proof of work and linkage checked across consecutive headers.
//!
//! Parsing is safe on hostile input: no panics, nesting bounded at 256
//! levels, and every length field checked before it sizes anything.
//!
//! # What is deliberately not done
//!
//! - No network access and no async runtime in the default build; the
//!   offline verifier depends on this crate with `default-features = false`.
//! - No Bitcoin node or header download: headers are an input.
//! - Litecoin and Ethereum attestations are parsed but not verified.
//!
//! # Features
//!
//! - `client`: async calendar client (module `client`): submit with a nonce to
//!   several calendars, bounded responses, allow-list, upgrade.
//! - `local-calendar`: **test and development support only**, an in-process
//!   calendar server with synthetic Bitcoin blocks (module `local_calendar`).
//! - Non-minimal varuints are rejected (the reference accepts them but never
//!   writes them), so accepted input always round-trips.

#![forbid(unsafe_code)]

mod attestation;
mod bitcoin;
mod builder;
mod codec;
mod detached;
mod error;
mod op;
mod timestamp;
mod verify;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod header_source;
#[cfg(feature = "local-calendar")]
pub mod local_calendar;

pub use attestation::{
    check_uri, Attestation, BITCOIN_TAG, ETHEREUM_TAG, LITECOIN_TAG, MAX_PAYLOAD_LEN, MAX_URI_LEN,
    PENDING_TAG,
};
pub use bitcoin::{BlockHeader, HeaderSet, HEADER_LEN};
pub use builder::TimestampBuilder;
pub use detached::{DetachedTimestamp, MAGIC, MAJOR_VERSION};
pub use error::{ChainFault, Limit, OtsError};
pub use op::{HashOp, Op, MAX_ARG_LEN, MAX_HEXLIFY_INPUT, MAX_MSG_LEN};
pub use timestamp::{AttestedMessage, PendingCommitment, Timestamp, MAX_DEPTH};
pub use verify::{
    verify_attestations, verify_bitcoin_attestation, FailedAttestation, VerificationReport,
    VerifiedAttestation,
};
