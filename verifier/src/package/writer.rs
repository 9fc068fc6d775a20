//! Building evidence packages, for `ledgerd export` and for tests. Pure apart from
//! [`PackageWriter::write`]: the exporter supplies the entries, the signed checkpoint,
//! the multiproof (or a [`SubtreeSource`] to compute it) and optionally the stamp and
//! headers; the writer derives the chain declarations and counts and lays out the files
//! of docs/EVIDENCE_PACKAGE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ledger_core::checkpoint::Checkpoint;
use ledger_core::hash::Hash;
use ledger_core::note::Note;
use ledger_core::proof::SubtreeSource;
use ledger_record::{ChainId, Record, VerifyingKey};
use rayon::prelude::*;

use super::entries::{EntryFile, KEYS_MAGIC, MAX_ENTRY_LEN, RECORDS_MAGIC};
use super::manifest::{ChainDecl, Manifest, OperatorInfo, Period, FORMAT_NAME, FORMAT_VERSION_V1};
use super::multiproof::{prove, ProofFile};
use super::PackageFiles;
use crate::error::VerifyError;

/// Collects the parts of a package and writes it.
///
/// ```no_run
/// # fn demo(note: &str, operator: &ledger_record::VerifyingKey, chain: &ledger_record::ChainId,
/// #         tree: &ledger_core::tree::MemoryTree, entries: Vec<(u64, Vec<u8>)>) -> Result<(), verifier::VerifyError> {
/// use verifier::package::PackageWriter;
/// let mut w = PackageWriter::new(note, operator, chain)?;
/// w.sites(["clinic-1"]);
/// for (index, bytes) in entries {
///     w.add_record(index, bytes)?;
/// }
/// w.prove_with(tree).map_err(|e| verifier::VerifyError::malformed("tree", e.to_string()))?;
/// w.write(std::path::Path::new("/tmp/package"))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PackageWriter {
    checkpoint_note: String,
    checkpoint: Checkpoint,
    operator: OperatorInfo,
    log_verifier_key: Option<String>,
    sites: Option<Vec<String>>,
    period: Option<Period>,
    exported_at_ms: Option<u64>,
    records: Vec<(u64, Vec<u8>)>,
    keys: Vec<(u64, Vec<u8>)>,
    proof: Option<Vec<Hash>>,
    timestamp: Option<Vec<u8>>,
    headers: Option<String>,
}

fn bad(reason: impl Into<String>) -> VerifyError {
    VerifyError::malformed("package writer input", reason)
}

impl PackageWriter {
    /// Starts a package for the signed checkpoint note (verbatim, as the log signed it),
    /// with the operator key and the operator's chain.
    pub fn new(
        checkpoint_note: &str,
        operator_key: &VerifyingKey,
        operator_chain: &ChainId,
    ) -> Result<PackageWriter, VerifyError> {
        let note = Note::parse(checkpoint_note.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let checkpoint = Checkpoint::parse(note.text()).map_err(|e| bad(e.to_string()))?;
        Ok(PackageWriter {
            checkpoint_note: checkpoint_note.to_owned(),
            checkpoint,
            operator: OperatorInfo {
                public_key: hex::encode(operator_key.as_bytes()),
                site_id: operator_chain.site_id.to_string(),
                appliance_id: operator_chain.appliance_id.to_string(),
            },
            log_verifier_key: None,
            sites: None,
            period: None,
            exported_at_ms: None,
            records: Vec::new(),
            keys: Vec::new(),
            proof: None,
            timestamp: None,
            headers: None,
        })
    }

    /// The log's verifier key string, recorded for information.
    pub fn log_verifier_key(&mut self, vkey: &str) -> &mut Self {
        self.log_verifier_key = Some(vkey.to_owned());
        self
    }

    /// The sites the package covers. Without it, the sites of the records.
    pub fn sites<S: Into<String>>(&mut self, sites: impl IntoIterator<Item = S>) -> &mut Self {
        self.sites = Some(sites.into_iter().map(Into::into).collect());
        self
    }

    /// The selected period, Unix milliseconds, both ends inclusive.
    pub fn period(&mut self, start_ms: u64, end_ms: u64) -> &mut Self {
        self.period = Some(Period { start_ms, end_ms });
        self
    }

    pub fn exported_at(&mut self, ms: u64) -> &mut Self {
        self.exported_at_ms = Some(ms);
        self
    }

    fn check_entry(
        &self,
        list: &[(u64, Vec<u8>)],
        index: u64,
        bytes: &[u8],
    ) -> Result<(), VerifyError> {
        if index >= self.checkpoint.size {
            return Err(bad(format!(
                "log index {index} is not below the checkpoint size {}",
                self.checkpoint.size
            )));
        }
        if list.last().is_some_and(|(last, _)| *last >= index) {
            return Err(bad(format!(
                "log index {index} is not after the previous entry's"
            )));
        }
        if bytes.is_empty() || bytes.len() > MAX_ENTRY_LEN {
            return Err(bad(format!(
                "entry at log index {index} has {} bytes",
                bytes.len()
            )));
        }
        Ok(())
    }

    /// Adds a record of the period. Records must come in increasing log order.
    pub fn add_record(&mut self, index: u64, bytes: Vec<u8>) -> Result<(), VerifyError> {
        self.check_entry(&self.records, index, &bytes)?;
        self.records.push((index, bytes));
        self.proof = None;
        Ok(())
    }

    /// Adds a key record. Every key record of the log below the checkpoint size belongs
    /// in the package (docs/EVIDENCE_PACKAGE.md §4.2), in increasing log order.
    pub fn add_key_record(&mut self, index: u64, bytes: Vec<u8>) -> Result<(), VerifyError> {
        self.check_entry(&self.keys, index, &bytes)?;
        self.keys.push((index, bytes));
        self.proof = None;
        Ok(())
    }

    /// The OpenTimestamps stamp of the checkpoint body.
    pub fn timestamp(&mut self, ots: Vec<u8>) -> &mut Self {
        self.timestamp = Some(ots);
        self
    }

    /// Block headers, `HEIGHT HEX80` per line.
    pub fn headers(&mut self, text: String) -> &mut Self {
        self.headers = Some(text);
        self
    }

    /// Every log index the proof must cover (records and key records), sorted.
    pub fn leaf_indexes(&self) -> Vec<u64> {
        let set: BTreeSet<u64> = self
            .records
            .iter()
            .chain(&self.keys)
            .map(|(i, _)| *i)
            .collect();
        set.into_iter().collect()
    }

    /// Computes the multiproof from the log's subtree hashes.
    pub fn prove_with<S: SubtreeSource>(&mut self, src: &S) -> Result<(), S::Error> {
        self.proof = Some(prove(src, self.checkpoint.size, &self.leaf_indexes())?);
        Ok(())
    }

    /// Sets a multiproof computed elsewhere (docs/EVIDENCE_PACKAGE.md §5).
    pub fn set_proof(&mut self, hashes: Vec<Hash>) -> &mut Self {
        self.proof = Some(hashes);
        self
    }

    /// Chain declarations from the records: per chain the lowest and highest sequence
    /// and the prev hash of the lowest.
    fn chains(&self) -> Result<(Vec<ChainDecl>, BTreeSet<String>), VerifyError> {
        let decoded: Vec<Result<(ChainId, u64, Hash), VerifyError>> = self
            .records
            .par_iter()
            .map(|(index, bytes)| {
                Record::decode(bytes)
                    .map(|r| (r.chain(), r.sequence(), *r.prev_hash()))
                    .map_err(|e| bad(format!("record at log index {index} does not decode: {e}")))
            })
            .collect();
        let mut chains: BTreeMap<ChainId, (u64, Hash, u64)> = BTreeMap::new();
        for item in decoded {
            let (chain, seq, prev) = item?;
            let e = chains.entry(chain).or_insert((seq, prev, seq));
            if seq < e.0 {
                e.0 = seq;
                e.1 = prev;
            }
            e.2 = e.2.max(seq);
        }
        let sites = chains.keys().map(|c| c.site_id.to_string()).collect();
        let decls = chains
            .into_iter()
            .map(|(chain, (first, prev, last))| ChainDecl {
                site_id: chain.site_id.to_string(),
                appliance_id: chain.appliance_id.to_string(),
                first_sequence: first,
                last_sequence: last,
                prev_hash: hex::encode(prev.as_bytes()),
            })
            .collect();
        Ok((decls, sites))
    }

    /// Lays out the package files in memory.
    pub fn to_files(&self) -> Result<PackageFiles, VerifyError> {
        let proof = self
            .proof
            .clone()
            .ok_or_else(|| bad("no multiproof: call prove_with or set_proof"))?;
        let (chains, record_sites) = self.chains()?;
        let sites = self
            .sites
            .clone()
            .unwrap_or_else(|| record_sites.into_iter().collect());
        let manifest = Manifest {
            format: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION_V1,
            log_origin: self.checkpoint.origin.clone(),
            log_verifier_key: self.log_verifier_key.clone(),
            operator: self.operator.clone(),
            sites,
            period: self.period,
            exported_at_ms: self.exported_at_ms,
            checkpoint_size: self.checkpoint.size,
            record_count: self.records.len() as u64,
            key_count: self.keys.len() as u64,
            chains,
            timestamp: self.timestamp.is_some(),
            headers: self.headers.is_some(),
            segments: None,
        };
        Ok(PackageFiles {
            manifest: manifest.to_json(),
            checkpoint: self.checkpoint_note.as_bytes().to_vec(),
            records: EntryFile::encode(
                &RECORDS_MAGIC,
                self.records.iter().map(|(i, b)| (*i, b.as_slice())),
            )?,
            keys: EntryFile::encode(
                &KEYS_MAGIC,
                self.keys.iter().map(|(i, b)| (*i, b.as_slice())),
            )?,
            proof: ProofFile {
                tree_size: self.checkpoint.size,
                hashes: proof,
            }
            .encode(),
            timestamp: self.timestamp.clone(),
            headers: self.headers.as_ref().map(|h| h.as_bytes().to_vec()),
        })
    }

    /// Writes the package into `dir`, which must not exist yet (see
    /// [`PackageFiles::write_dir`] for what a crash part-way leaves).
    pub fn write(&self, dir: &Path) -> Result<(), VerifyError> {
        self.to_files()?.write_dir(dir)
    }
}
