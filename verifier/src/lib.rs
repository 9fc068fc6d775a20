//! The auditor's offline verifier, `ledger-verify`: everything an auditor checks while
//! trusting only the log's public key and Bitcoin block headers.
//!
//! What this crate implements:
//! - [`merkle`]: RFC 9162 §2.1.3.2 inclusion and §2.1.4.2 consistency proofs given on the
//!   command line (consistency from size 0 is refused);
//! - [`receipt`]: C2SP tlog-proof receipts (checkpoint signature, leaf hash, inclusion);
//! - [`ots`]: OpenTimestamps `.ots` listing and Bitcoin verification against supplied
//!   headers (message = header bytes 36..68, time = nTime);
//! - [`package`]: the evidence package format version 1 (docs/EVIDENCE_PACKAGE.md):
//!   reader, [`PackageWriter`](package::PackageWriter) for exporters, and verification
//!   of every record signature with the key valid at its log index, per-appliance
//!   completeness, one multiproof of every entry against one signed checkpoint, and the
//!   checkpoint's timestamp; findings are collected into a [`Report`](package::Report);
//! - [`citation`]: citation strings for records in reports, checked back against a
//!   package;
//! - [`report`]: the offline audit report (HTML, optionally PDF through a headless
//!   Chromium) built in the verification's own pass over a package that verifies, every
//!   number footnoted with citations (docs/AUDIT_REPORT.md);
//! - [`witnesses`]: witness cosignatures (C2SP tlog-cosignature) on a checkpoint, judged
//!   by a C2SP tlog-policy file given with `--policy`, the log key still pinned;
//! - [`tiles_client`] and [`fetch`]: `inclusion --tiles`, an inclusion proof assembled
//!   from a log's C2SP tlog-tiles hash tiles (read over HTTP(S) from `ledgerd`, a read
//!   replica or a bucket, or from a mirror directory) and checked against its signed
//!   checkpoint; the only network access of the crate, and nothing it reads is trusted.
//!
//! What it deliberately does not do: any network access besides [`fetch`], an async
//! runtime or a storage engine (the dependency tree has neither tokio nor RocksDB; CI
//! checks it; the HTTP client is a blocking one); fetching block
//! headers (they are the auditor's input); verifying Litecoin or Ethereum attestations;
//! witness cosignatures without a policy file (then they are ignored); proving that a
//! package holds *every* record of a period beyond the per-appliance sequence ranges it
//! declares (docs/EVIDENCE_PACKAGE.md §9).
//!
//! Errors are one [`VerifyError`] enum keeping malformed input, I/O and verification
//! failures apart; the binary maps them to exit codes 2, 2 and 1.

pub mod citation;
pub mod error;
pub mod fetch;
pub mod files;
pub mod hashes;
pub mod merkle;
pub mod ots;
pub mod package;
pub mod receipt;
pub mod report;
pub mod tiles_client;
pub mod updates;
pub mod witnesses;
pub use ledger_record::utc;

pub use error::VerifyError;
