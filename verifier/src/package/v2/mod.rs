//! Evidence packages, format version 2 (docs/EVIDENCE_PACKAGE.md): the records in
//! segments of bounded size, each with its own multiproof, so that a package of any
//! number of records is written and verified with bounded memory.
//!
//! | File | Content |
//! | --- | --- |
//! | `package.json` | the manifest, with `version` 2 and `segments` |
//! | `checkpoint` | the signed checkpoint note, verbatim |
//! | `keys.bin` | every key record below the checkpoint size (as in version 1) |
//! | `keys.proof` | a multiproof of `keys.bin`'s entries |
//! | `records-NNNNNN.bin` | segment `N` of the records (the `records.bin` layout) |
//! | `proof-NNNNNN.bin` | a multiproof of segment `N`'s entries |
//! | `checkpoint.ots`, `headers.txt` | as in version 1 |
//!
//! [`StreamWriter`] writes a package entry by entry into a [`PackageSink`] (a new
//! directory, or the server's tar stream); [`SegmentedPackage`] reads one segment at a
//! time for [`verify_segmented`](super::verify_segmented).

mod reader;
mod writer;

pub use reader::{OpenedPackage, SegmentedPackage};
pub use writer::{DirSink, PackageSink, StreamSummary, StreamWriter};

/// Most entries in one segment.
pub const SEGMENT_MAX_ENTRIES: usize = 65_536;
/// A segment is closed once its entries reach this many bytes; with entries of at most
/// 65,535 bytes a segment file stays below 8 MiB + 64 KiB.
pub const SEGMENT_MAX_BYTES: usize = 8 << 20;
/// Largest segment or segment proof file a verifier reads.
pub const SEGMENT_FILE_LIMIT: u64 = 64 << 20;

/// Name of the multiproof of `keys.bin`.
pub const KEYS_PROOF: &str = "keys.proof";

/// Name of record segment `n`.
pub fn segment_name(n: u64) -> String {
    format!("records-{n:06}.bin")
}

/// Name of the multiproof of segment `n`.
pub fn segment_proof_name(n: u64) -> String {
    format!("proof-{n:06}.bin")
}
