//! Reading a package directory of either version: version 1 whole, version 2 as its
//! small files plus one segment at a time.

use std::path::{Path, PathBuf};

use super::{segment_name, segment_proof_name, KEYS_PROOF, SEGMENT_FILE_LIMIT};
use crate::error::VerifyError;
use crate::files::read_limited;
use crate::package::entries::{EntryFile, RECORDS_MAGIC};
use crate::package::manifest::{Manifest, FORMAT_VERSION_V1};
use crate::package::multiproof::ProofFile;
use crate::package::{limits, names, read_optional, Package, PackageFiles};

/// A package directory, opened by the version its manifest names.
pub enum OpenedPackage {
    V1(Box<Package>),
    V2(Box<SegmentedPackage>),
}

impl OpenedPackage {
    /// Reads the manifest, then the package as its version says.
    pub fn open(dir: &Path) -> Result<OpenedPackage, VerifyError> {
        let manifest = read_limited(&dir.join(names::MANIFEST), limits::MANIFEST)?;
        let version = Manifest::parse(&manifest)?.version;
        if version == FORMAT_VERSION_V1 {
            return Ok(OpenedPackage::V1(Box::new(Package::read_dir(dir)?)));
        }
        Ok(OpenedPackage::V2(Box::new(SegmentedPackage::open(dir)?)))
    }

    /// The parts every version has: for version 2, a [`Package`] whose `records` are
    /// empty and whose `proof` is the multiproof of `keys.bin`.
    pub fn head(&self) -> &Package {
        match self {
            OpenedPackage::V1(p) => p,
            OpenedPackage::V2(p) => &p.head,
        }
    }
}

/// A version 2 package directory: everything but the record segments is read and parsed;
/// segments are read on demand.
pub struct SegmentedPackage {
    /// Manifest, checkpoint, keys, stamp and headers; `records` is empty and `proof` is
    /// `keys.proof`.
    pub head: Package,
    pub segments: u64,
    dir: PathBuf,
}

impl SegmentedPackage {
    pub fn open(dir: &Path) -> Result<SegmentedPackage, VerifyError> {
        let files = PackageFiles {
            manifest: read_limited(&dir.join(names::MANIFEST), limits::MANIFEST)?,
            checkpoint: read_limited(&dir.join(names::CHECKPOINT), limits::CHECKPOINT)?,
            records: EntryFile::encode(&RECORDS_MAGIC, std::iter::empty())?,
            keys: read_limited(&dir.join(names::KEYS), limits::KEYS)?,
            proof: read_limited(&dir.join(KEYS_PROOF), limits::PROOF)?,
            timestamp: read_optional(&dir.join(names::TIMESTAMP), limits::TIMESTAMP)?,
            headers: read_optional(&dir.join(names::HEADERS), limits::HEADERS)?,
        };
        let head = Package::parse(files)?;
        let segments = head.manifest.segments.unwrap_or(0);
        Ok(SegmentedPackage {
            head,
            segments,
            dir: dir.to_path_buf(),
        })
    }

    /// Segment `n` and its multiproof, parsed. Entry order within the segment and the
    /// checkpoint bound are checked; order across segments is the verifier's business.
    pub fn segment(&self, n: u64) -> Result<(EntryFile, ProofFile), VerifyError> {
        let name = segment_name(n);
        let bytes = read_limited(&self.dir.join(&name), SEGMENT_FILE_LIMIT)?;
        let file = EntryFile::parse(bytes, &RECORDS_MAGIC, &name)?;
        if let Some(last) = file.refs().last() {
            if last.index >= self.head.checkpoint.size {
                return Err(VerifyError::malformed(
                    &name,
                    format!(
                        "log index {} is not below the checkpoint's tree size {}",
                        last.index, self.head.checkpoint.size
                    ),
                ));
            }
        }
        let proof = read_limited(&self.dir.join(segment_proof_name(n)), SEGMENT_FILE_LIMIT)?;
        Ok((file, ProofFile::parse(&proof)?))
    }
}
