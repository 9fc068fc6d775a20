//! Evidence packages, format version 1 (docs/EVIDENCE_PACKAGE.md): reading, writing and
//! verifying.
//!
//! A package is a directory:
//!
//! | File | Content |
//! | --- | --- |
//! | `package.json` | the manifest ([`Manifest`]) |
//! | `checkpoint` | the signed checkpoint note, verbatim |
//! | `records.bin` | the records of the period with their log indexes ([`EntryFile`]) |
//! | `keys.bin` | every key record of the log below the checkpoint size |
//! | `proof.bin` | one multiproof of all those entries against the checkpoint ([`multiproof`]) |
//! | `checkpoint.ots` | optional OpenTimestamps stamp of the checkpoint body |
//! | `headers.txt` | optional Bitcoin block headers, `HEIGHT HEX80` per line |
//!
//! [`PackageFiles`] is the raw bytes of those files (read with size limits, or built in
//! memory); [`Package::parse`] checks their syntax; [`verify_package`] checks everything
//! else and returns a [`Report`] of findings; [`PackageWriter`] builds a package for an
//! exporter.

mod chain_window;
mod check;
mod entries;
mod manifest;
pub mod multiproof;
mod progress;
mod report;
pub mod succession;
mod v2;
mod writer;

use std::path::Path;

use ledger_core::checkpoint::Checkpoint;
use ledger_core::note::Note;
use ledger_record::{ChainId, VerifyingKey};

pub use check::{
    check_citation, check_citation_segmented, verify_package, verify_segmented, CitedRecord,
    RecordObserver, SignatureMode, VerifyOptions,
};
pub use entries::{EntryFile, EntryRef, KEYS_MAGIC, MAX_ENTRY_LEN, RECORDS_MAGIC};
pub use manifest::{
    ChainBounds, ChainDecl, Manifest, OperatorInfo, Period, FORMAT_NAME, FORMAT_VERSION,
    FORMAT_VERSION_V1,
};
pub use multiproof::ProofFile;
pub use progress::Progress;
pub use report::{
    AnchorSummary, ApplianceSummary, Counts, Finding, FindingCode, LogSummary, Report,
    SignatureSummary,
};
pub use v2::{
    segment_name, segment_proof_name, DirSink, OpenedPackage, PackageSink, SegmentedPackage,
    StreamSummary, StreamWriter, KEYS_PROOF, SEGMENT_MAX_BYTES, SEGMENT_MAX_ENTRIES,
};
pub use writer::PackageWriter;

use crate::error::VerifyError;
use crate::files::read_limited;

/// File names inside a package directory.
pub mod names {
    pub const MANIFEST: &str = "package.json";
    pub const CHECKPOINT: &str = "checkpoint";
    pub const RECORDS: &str = "records.bin";
    pub const KEYS: &str = "keys.bin";
    pub const PROOF: &str = "proof.bin";
    pub const TIMESTAMP: &str = "checkpoint.ots";
    pub const HEADERS: &str = "headers.txt";
}

/// Size limits when reading a package from disk (docs/EVIDENCE_PACKAGE.md §7).
pub mod limits {
    pub const MANIFEST: u64 = 64 << 20;
    pub const CHECKPOINT: u64 = 1 << 20;
    pub const RECORDS: u64 = 16 << 30;
    pub const KEYS: u64 = 1 << 30;
    pub const PROOF: u64 = 4 << 30;
    pub const TIMESTAMP: u64 = 1 << 20;
    pub const HEADERS: u64 = 64 << 20;
}

/// The raw files of a package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageFiles {
    pub manifest: Vec<u8>,
    pub checkpoint: Vec<u8>,
    pub records: Vec<u8>,
    pub keys: Vec<u8>,
    pub proof: Vec<u8>,
    pub timestamp: Option<Vec<u8>>,
    pub headers: Option<Vec<u8>>,
}

pub(crate) fn read_optional(path: &Path, max: u64) -> Result<Option<Vec<u8>>, VerifyError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_limited(path, max).map(Some),
    }
}

impl PackageFiles {
    /// Reads a package directory, each file with its size limit.
    pub fn read_dir(dir: &Path) -> Result<PackageFiles, VerifyError> {
        if !dir.is_dir() {
            return Err(VerifyError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not a directory (an evidence package is a directory)",
                ),
            });
        }
        Ok(PackageFiles {
            manifest: read_limited(&dir.join(names::MANIFEST), limits::MANIFEST)?,
            checkpoint: read_limited(&dir.join(names::CHECKPOINT), limits::CHECKPOINT)?,
            records: read_limited(&dir.join(names::RECORDS), limits::RECORDS)?,
            keys: read_limited(&dir.join(names::KEYS), limits::KEYS)?,
            proof: read_limited(&dir.join(names::PROOF), limits::PROOF)?,
            timestamp: read_optional(&dir.join(names::TIMESTAMP), limits::TIMESTAMP)?,
            headers: read_optional(&dir.join(names::HEADERS), limits::HEADERS)?,
        })
    }

    /// Writes the files into `dir`, which must not exist yet. Every file is synced; the
    /// manifest is written last, so if the process dies part-way the directory has no
    /// `package.json` and every reader refuses it rather than trusting a partial package.
    pub fn write_dir(&self, dir: &Path) -> Result<(), VerifyError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| VerifyError::Io { path, source }
        };
        std::fs::create_dir(dir).map_err(io(dir))?;
        let mut files: Vec<(&str, &[u8])> = vec![
            (names::CHECKPOINT, &self.checkpoint),
            (names::RECORDS, &self.records),
            (names::KEYS, &self.keys),
            (names::PROOF, &self.proof),
        ];
        if let Some(t) = &self.timestamp {
            files.push((names::TIMESTAMP, t));
        }
        if let Some(h) = &self.headers {
            files.push((names::HEADERS, h));
        }
        files.push((names::MANIFEST, &self.manifest));
        for (name, bytes) in files {
            let path = dir.join(name);
            let mut f = std::fs::File::create(&path).map_err(io(&path))?;
            std::io::Write::write_all(&mut f, bytes).map_err(io(&path))?;
            f.sync_all().map_err(io(&path))?;
        }
        // Sync the directory so the names themselves are durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// A package whose files are syntactically valid. Nothing in it is verified yet.
#[derive(Debug, Clone)]
pub struct Package {
    pub manifest: Manifest,
    /// The declared chains, checked for syntax.
    pub chains: Vec<ChainBounds>,
    pub operator_key: VerifyingKey,
    pub operator_chain: ChainId,
    /// The signed checkpoint note, verbatim.
    pub checkpoint_note: String,
    /// The checkpoint body (the signed note text): what the timestamp stamps.
    pub checkpoint_body: String,
    /// The body parsed, not yet trusted.
    pub checkpoint: Checkpoint,
    pub records: EntryFile,
    pub keys: EntryFile,
    pub proof: ProofFile,
    pub timestamp: Option<Vec<u8>>,
    pub headers: Option<Vec<u8>>,
}

impl Package {
    /// Checks the syntax of every file. Statements that can be true or false (counts,
    /// signatures, proofs, chains, the stamp) are left to [`verify_package`].
    pub fn parse(files: PackageFiles) -> Result<Package, VerifyError> {
        let manifest = Manifest::parse(&files.manifest)?;
        let chains = manifest.chain_bounds()?;
        let operator_key = manifest.operator_key()?;
        let operator_chain = manifest.operator_chain()?;
        let checkpoint_note = String::from_utf8(files.checkpoint)
            .map_err(|_| VerifyError::malformed("checkpoint", "not UTF-8"))?;
        let note = Note::parse(checkpoint_note.as_bytes())
            .map_err(|e| VerifyError::malformed("checkpoint", e.to_string()))?;
        let checkpoint_body = note.text().to_owned();
        let checkpoint = Checkpoint::parse(&checkpoint_body)
            .map_err(|e| VerifyError::malformed("checkpoint", e.to_string()))?;
        let records = EntryFile::parse(files.records, &RECORDS_MAGIC, names::RECORDS)?;
        let keys = EntryFile::parse(files.keys, &KEYS_MAGIC, names::KEYS)?;
        for (file, name) in [(&records, names::RECORDS), (&keys, names::KEYS)] {
            if let Some(last) = file.refs().last() {
                if last.index >= checkpoint.size {
                    return Err(VerifyError::malformed(
                        name,
                        format!(
                            "log index {} is not below the checkpoint's tree size {}",
                            last.index, checkpoint.size
                        ),
                    ));
                }
            }
        }
        let proof = ProofFile::parse(&files.proof)?;
        Ok(Package {
            manifest,
            chains,
            operator_key,
            operator_chain,
            checkpoint_note,
            checkpoint_body,
            checkpoint,
            records,
            keys,
            proof,
            timestamp: files.timestamp,
            headers: files.headers,
        })
    }

    /// Reads and parses a package directory.
    pub fn read_dir(dir: &Path) -> Result<Package, VerifyError> {
        Package::parse(PackageFiles::read_dir(dir)?)
    }
}
