//! Writing a version 2 package as a stream: the checkpoint, the stamp and the key
//! records first, then the records in log order, one segment (and its multiproof) at a
//! time, and the manifest last. Memory holds one segment and per-chain facts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};

use ledger_core::checkpoint::Checkpoint;
use ledger_core::hash::Hash;
use ledger_core::note::Note;
use ledger_core::proof::SubtreeSource;
use ledger_record::{ChainId, Record, VerifyingKey};

use super::{segment_name, segment_proof_name, KEYS_PROOF, SEGMENT_MAX_BYTES, SEGMENT_MAX_ENTRIES};
use crate::error::VerifyError;
use crate::package::entries::{EntryFile, KEYS_MAGIC, MAX_ENTRY_LEN, RECORDS_MAGIC};
use crate::package::manifest::{
    ChainDecl, Manifest, OperatorInfo, Period, FORMAT_NAME, FORMAT_VERSION,
};
use crate::package::multiproof::{prove, ProofFile};
use crate::package::names;

/// Where the files of a package go, in the order they are written; the manifest comes
/// last.
pub trait PackageSink {
    fn put(&mut self, name: &str, bytes: &[u8]) -> Result<(), VerifyError>;
}

/// A new package directory. Every file is synced when written and the directory after
/// the manifest: a directory left by a crash part-way has no `package.json` and every
/// reader refuses it.
pub struct DirSink {
    dir: PathBuf,
}

impl DirSink {
    /// Creates `dir`, which must not exist.
    pub fn create(dir: &Path) -> Result<DirSink, VerifyError> {
        std::fs::create_dir(dir).map_err(|source| VerifyError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(DirSink {
            dir: dir.to_path_buf(),
        })
    }
}

impl PackageSink for DirSink {
    fn put(&mut self, name: &str, bytes: &[u8]) -> Result<(), VerifyError> {
        let path = self.dir.join(name);
        let io = |source| VerifyError::Io {
            path: path.clone(),
            source,
        };
        let mut f = std::fs::File::create(&path).map_err(io)?;
        std::io::Write::write_all(&mut f, bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        if name == names::MANIFEST {
            // The names themselves must be durable before the package counts as done.
            if let Ok(d) = std::fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// What a finished package holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub checkpoint_size: u64,
    pub records: u64,
    pub key_records: u64,
    pub chains: usize,
    pub segments: u64,
    pub timestamp: bool,
}

/// Per chain: lowest sequence and its prev hash, highest sequence.
type ChainFacts = (u64, Hash, u64);

/// Writes a version 2 package into a [`PackageSink`]; see the module documentation.
pub struct StreamWriter<S: PackageSink> {
    sink: S,
    checkpoint: Checkpoint,
    operator: OperatorInfo,
    log_verifier_key: Option<String>,
    sites: Option<Vec<String>>,
    period: Option<Period>,
    period_from_records: bool,
    exported_at_ms: Option<u64>,
    key_count: Option<u64>,
    timestamp: bool,
    headers: bool,
    segment: Vec<(u64, Vec<u8>)>,
    segment_bytes: usize,
    segment_entries: usize,
    segments: u64,
    last_index: Option<u64>,
    records: u64,
    chains: BTreeMap<ChainId, ChainFacts>,
    time_span: Option<(u64, u64)>,
}

fn bad(reason: impl Into<String>) -> VerifyError {
    VerifyError::malformed("package writer input", reason)
}

fn source_error(e: impl Display) -> VerifyError {
    VerifyError::malformed("the log's subtree hashes", e.to_string())
}

impl<S: PackageSink> StreamWriter<S> {
    /// Starts a package for the signed checkpoint note and writes `checkpoint`.
    pub fn new(
        checkpoint_note: &str,
        operator_key: &VerifyingKey,
        operator_chain: &ChainId,
        mut sink: S,
    ) -> Result<StreamWriter<S>, VerifyError> {
        let note = Note::parse(checkpoint_note.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let checkpoint = Checkpoint::parse(note.text()).map_err(|e| bad(e.to_string()))?;
        sink.put(names::CHECKPOINT, checkpoint_note.as_bytes())?;
        Ok(StreamWriter {
            sink,
            checkpoint,
            operator: OperatorInfo {
                public_key: hex::encode(operator_key.as_bytes()),
                site_id: operator_chain.site_id.to_string(),
                appliance_id: operator_chain.appliance_id.to_string(),
            },
            log_verifier_key: None,
            sites: None,
            period: None,
            period_from_records: false,
            exported_at_ms: None,
            key_count: None,
            timestamp: false,
            headers: false,
            segment: Vec::new(),
            segment_bytes: 0,
            segment_entries: SEGMENT_MAX_ENTRIES,
            segments: 0,
            last_index: None,
            records: 0,
            chains: BTreeMap::new(),
            time_span: None,
        })
    }

    pub fn log_verifier_key(&mut self, vkey: &str) -> &mut Self {
        self.log_verifier_key = Some(vkey.to_owned());
        self
    }

    /// The sites the package covers. Without it, the sites of the records.
    pub fn sites<T: Into<String>>(&mut self, sites: impl IntoIterator<Item = T>) -> &mut Self {
        self.sites = Some(sites.into_iter().map(Into::into).collect());
        self
    }

    /// The selected period, Unix milliseconds, both ends inclusive.
    pub fn period(&mut self, start_ms: u64, end_ms: u64) -> &mut Self {
        self.period = Some(Period { start_ms, end_ms });
        self
    }

    /// Names the span of the records' appliance times as the period (for an export
    /// without bounds).
    pub fn period_from_records(&mut self) -> &mut Self {
        self.period_from_records = true;
        self
    }

    /// Closes segments at `n` entries (1 to [`SEGMENT_MAX_ENTRIES`]) instead of the
    /// maximum; for tests and measurements of many small segments.
    pub fn segment_entries(&mut self, n: usize) -> &mut Self {
        self.segment_entries = n.clamp(1, SEGMENT_MAX_ENTRIES);
        self
    }

    pub fn exported_at(&mut self, ms: u64) -> &mut Self {
        self.exported_at_ms = Some(ms);
        self
    }

    /// Writes `checkpoint.ots`.
    pub fn timestamp(&mut self, ots: &[u8]) -> Result<(), VerifyError> {
        self.sink.put(names::TIMESTAMP, ots)?;
        self.timestamp = true;
        Ok(())
    }

    /// Writes `headers.txt`.
    pub fn headers(&mut self, text: &str) -> Result<(), VerifyError> {
        self.sink.put(names::HEADERS, text.as_bytes())?;
        self.headers = true;
        Ok(())
    }

    fn check_entry(
        &self,
        previous: Option<u64>,
        index: u64,
        bytes: &[u8],
    ) -> Result<(), VerifyError> {
        if index >= self.checkpoint.size {
            return Err(bad(format!(
                "log index {index} is not below the checkpoint size {}",
                self.checkpoint.size
            )));
        }
        if previous.is_some_and(|p| p >= index) {
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

    /// Writes `keys.bin` and its multiproof: every key record below the checkpoint size,
    /// in log order. Call once, before the first record.
    pub fn keys<Src: SubtreeSource>(
        &mut self,
        keys: &[(u64, Vec<u8>)],
        src: &Src,
    ) -> Result<(), VerifyError>
    where
        Src::Error: Display,
    {
        if self.key_count.is_some() || self.records > 0 || !self.segment.is_empty() {
            return Err(bad("key records go in once, before the records"));
        }
        let mut previous = None;
        for (index, bytes) in keys {
            self.check_entry(previous, *index, bytes)?;
            previous = Some(*index);
        }
        let file = EntryFile::encode(&KEYS_MAGIC, keys.iter().map(|(i, b)| (*i, b.as_slice())))?;
        let indexes: Vec<u64> = keys.iter().map(|(i, _)| *i).collect();
        let hashes = prove(src, self.checkpoint.size, &indexes).map_err(source_error)?;
        self.sink.put(names::KEYS, &file)?;
        let proof = ProofFile {
            tree_size: self.checkpoint.size,
            hashes,
        };
        self.sink.put(KEYS_PROOF, &proof.encode())?;
        self.key_count = Some(keys.len() as u64);
        Ok(())
    }

    /// Adds a record; records come in increasing log order. A full segment is written
    /// with its multiproof.
    pub fn add_record<Src: SubtreeSource>(
        &mut self,
        index: u64,
        bytes: Vec<u8>,
        src: &Src,
    ) -> Result<(), VerifyError>
    where
        Src::Error: Display,
    {
        self.check_entry(self.last_index, index, &bytes)?;
        let record = Record::decode(&bytes)
            .map_err(|e| bad(format!("record at log index {index} does not decode: {e}")))?;
        let (seq, prev) = (record.sequence(), *record.prev_hash());
        let facts = self
            .chains
            .entry(record.chain())
            .or_insert((seq, prev, seq));
        if seq < facts.0 {
            facts.0 = seq;
            facts.1 = prev;
        }
        facts.2 = facts.2.max(seq);
        let t = record.time_ms();
        self.time_span = Some(
            self.time_span
                .map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))),
        );
        self.last_index = Some(index);
        self.records += 1;
        self.segment_bytes += bytes.len();
        self.segment.push((index, bytes));
        if self.segment.len() >= self.segment_entries || self.segment_bytes >= SEGMENT_MAX_BYTES {
            self.flush_segment(src)?;
        }
        Ok(())
    }

    fn flush_segment<Src: SubtreeSource>(&mut self, src: &Src) -> Result<(), VerifyError>
    where
        Src::Error: Display,
    {
        if self.segment.is_empty() {
            return Ok(());
        }
        let file = EntryFile::encode(
            &RECORDS_MAGIC,
            self.segment.iter().map(|(i, b)| (*i, b.as_slice())),
        )?;
        let indexes: Vec<u64> = self.segment.iter().map(|(i, _)| *i).collect();
        let hashes = prove(src, self.checkpoint.size, &indexes).map_err(source_error)?;
        self.segment.clear();
        self.segment_bytes = 0;
        self.sink.put(&segment_name(self.segments), &file)?;
        let proof = ProofFile {
            tree_size: self.checkpoint.size,
            hashes,
        };
        self.sink
            .put(&segment_proof_name(self.segments), &proof.encode())?;
        self.segments += 1;
        Ok(())
    }

    /// Writes the last segment and the manifest; returns the sink and what the package
    /// holds.
    pub fn finish<Src: SubtreeSource>(
        mut self,
        src: &Src,
    ) -> Result<(S, StreamSummary), VerifyError>
    where
        Src::Error: Display,
    {
        let key_count = self
            .key_count
            .ok_or_else(|| bad("no key records were written"))?;
        self.flush_segment(src)?;
        let record_sites: BTreeSet<String> =
            self.chains.keys().map(|c| c.site_id.to_string()).collect();
        let period = match (self.period, self.period_from_records, self.time_span) {
            (Some(p), _, _) => Some(p),
            (None, true, Some((start_ms, end_ms))) => Some(Period { start_ms, end_ms }),
            _ => None,
        };
        let chains: Vec<ChainDecl> = self
            .chains
            .iter()
            .map(|(chain, (first, prev, last))| ChainDecl {
                site_id: chain.site_id.to_string(),
                appliance_id: chain.appliance_id.to_string(),
                first_sequence: *first,
                last_sequence: *last,
                prev_hash: hex::encode(prev.as_bytes()),
            })
            .collect();
        let manifest = Manifest {
            format: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION,
            log_origin: self.checkpoint.origin.clone(),
            log_verifier_key: self.log_verifier_key.clone(),
            operator: self.operator.clone(),
            sites: self
                .sites
                .clone()
                .unwrap_or_else(|| record_sites.into_iter().collect()),
            period,
            exported_at_ms: self.exported_at_ms,
            checkpoint_size: self.checkpoint.size,
            record_count: self.records,
            key_count,
            chains,
            timestamp: self.timestamp,
            headers: self.headers,
            segments: Some(self.segments),
        };
        self.sink.put(names::MANIFEST, &manifest.to_json())?;
        let summary = StreamSummary {
            checkpoint_size: self.checkpoint.size,
            records: self.records,
            key_records: key_count,
            chains: self.chains.len(),
            segments: self.segments,
            timestamp: self.timestamp,
        };
        Ok((self.sink, summary))
    }
}
