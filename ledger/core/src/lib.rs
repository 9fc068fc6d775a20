//! Pure verification logic of Evidence Ledger. No I/O, no async, no storage engine.
//!
//! The C2SP formats built on the Merkle tree (each module's docs list the sections it
//! implements and what it deliberately leaves out):
//! - [`note`]: signed notes (c2sp.org/signed-note), Ed25519 keys only.
//! - [`checkpoint`]: signed tree heads (c2sp.org/tlog-checkpoint).
//! - [`cosignature`]: witness cosignatures, cosignature/v1 (c2sp.org/tlog-cosignature).
//! - [`policy`]: which logs and witness quorum a client trusts (c2sp.org/tlog-policy).
//! - [`receipt`]: `.tlog-proof` inclusion receipts (c2sp.org/tlog-proof).
//! - [`witness`]: the add-checkpoint request and answers (c2sp.org/tlog-witness).
//! - [`tiles`]: tile and entry bundle paths and contents (c2sp.org/tlog-tiles).
pub mod checkpoint;
pub mod cosignature;
pub mod hash;
pub mod note;
pub mod policy;
pub mod proof;
pub mod receipt;
pub mod tiles;
pub mod tree;
pub mod witness;
