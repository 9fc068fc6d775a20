//! Evidence package export (docs/EVIDENCE_PACKAGE.md): the records of some sites over a
//! period, every key record, one multiproof against one checkpoint, and that
//! checkpoint's OpenTimestamps stamp.
//!
//! The rooms: `select.rs` decides what goes in (pure), this module reads the log and
//! writes the package with the verifier's `PackageWriter` (so exporter and verifier
//! cannot drift apart), `tar.rs` turns the package into one archive and back. The HTTP
//! endpoint is `export_http`; this module knows nothing of HTTP.
//!
//! The export reads the log from the start in chunks (one pass decoding every record),
//! then fetches the selected records by index; it needs no query index, so it works on a
//! stopped server's data directory as well as inside the running server. Its cost is a
//! read of the whole log: seconds per million records. Blocking: run it on the blocking
//! pool from async code.

pub mod select;
mod tar;

use std::ops::RangeInclusive;

use ledger::Log;
use ledger_record::{ChainId, Id, Record, VerifyingKey};
use verifier::package::{PackageFiles, PackageWriter};

use crate::anchoring::{now_ms, Anchoring, StampRecord};

use select::{LogScan, Selection};

pub use tar::{from_tar, to_tar, TarError};

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    /// Sites whose records go into the package (at least one).
    pub sites: Vec<Id>,
    /// Appliance-time period, Unix milliseconds, both ends inclusive.
    pub period: RangeInclusive<u64>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("export: the log is empty")]
    EmptyLog,
    #[error(
        "export: no records of {sites} between {start_ms} and {end_ms} (Unix ms, appliance time)"
    )]
    Nothing {
        sites: String,
        start_ms: u64,
        end_ms: u64,
    },
    #[error("export: name at least one site")]
    NoSites,
    #[error("export: reading the log: {0}")]
    Ledger(#[from] ledger::LedgerError),
    #[error("export: log entry {index} is not a record: {reason}")]
    Entry { index: u64, reason: String },
    #[error("export: reading stamps: {0}")]
    Anchor(#[from] crate::anchoring::AnchorError),
    #[error("export: building the package: {0}")]
    Package(String),
}

/// What the export chose, for logs and the CLI summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub checkpoint_size: u64,
    pub records: usize,
    pub key_records: usize,
    pub chains: usize,
    /// `complete`, `pending` or `none`.
    pub stamp: &'static str,
}

/// Builds the package in memory. Blocking.
pub fn export(
    log: &Log,
    anchoring: &Anchoring,
    operator_key: &VerifyingKey,
    operator_chain: &ChainId,
    request: &ExportRequest,
) -> Result<(PackageFiles, ExportSummary), ExportError> {
    if request.sites.is_empty() {
        return Err(ExportError::NoSites);
    }
    let latest = log.latest();
    if latest.size == 0 {
        return Err(ExportError::EmptyLog);
    }
    let scan = scan_log(log, latest.size, &request.sites)?;
    let selection = select::records(&scan, &request.period);
    if selection.records.is_empty() {
        return Err(nothing_found(request));
    }
    let chosen =
        select::complete_stamp_covering(anchoring.list(u64::MAX, usize::MAX)?, selection.highest());
    let (size, stamp) = match chosen {
        Some(stamp) => (stamp.tree_size, Some(stamp)),
        None => (latest.size, anchoring.stamp(latest.size)?),
    };
    let keys = scan.keys_below(size);
    let files = write_package(
        log,
        &Contents {
            size,
            operator_key,
            operator_chain,
            sites: &request.sites,
            period: select::manifest_period(&scan, &selection, &request.period),
            keys: &keys,
            selection: &selection,
            stamp: stamp.as_ref(),
        },
    )?;
    let summary = ExportSummary {
        checkpoint_size: size,
        records: selection.records.len(),
        key_records: keys.len(),
        chains: selection.chains,
        stamp: select::stamp_label(stamp.as_ref()),
    };
    Ok((files, summary))
}

/// One pass over the first `size` entries: key records, and per chain of `sites` the
/// index and appliance time of every sequence.
fn scan_log(log: &Log, size: u64, sites: &[Id]) -> Result<LogScan, ExportError> {
    let mut scan = LogScan::default();
    log.for_each_chunk(0, size, |start, entries| {
        for (offset, bytes) in entries.into_iter().enumerate() {
            let index = start + offset as u64;
            let record = Record::decode(&bytes).map_err(|e| ExportError::Entry {
                index,
                reason: e.to_string(),
            })?;
            scan.add(index, &record, sites);
        }
        Ok::<(), ExportError>(())
    })?;
    Ok(scan)
}

fn nothing_found(request: &ExportRequest) -> ExportError {
    ExportError::Nothing {
        sites: request
            .sites
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        start_ms: *request.period.start(),
        end_ms: *request.period.end(),
    }
}

/// What goes into the package, as selected.
struct Contents<'a> {
    /// Size of the package's checkpoint.
    size: u64,
    operator_key: &'a VerifyingKey,
    operator_chain: &'a ChainId,
    sites: &'a [Id],
    /// The manifest's period, Unix ms.
    period: (u64, u64),
    keys: &'a [u64],
    selection: &'a Selection,
    stamp: Option<&'a StampRecord>,
}

/// Reads the checkpoint and the selected entries and writes the package files.
fn write_package(log: &Log, contents: &Contents<'_>) -> Result<PackageFiles, ExportError> {
    let note = log.checkpoint(contents.size)?;
    let note = String::from_utf8(note)
        .map_err(|_| ExportError::Package("checkpoint is not UTF-8".into()))?;
    let package = |e: verifier::error::VerifyError| ExportError::Package(e.to_string());
    let mut writer = PackageWriter::new(&note, contents.operator_key, contents.operator_chain)
        .map_err(package)?;
    writer
        .log_verifier_key(&log.verifier_key())
        .sites(contents.sites.iter().map(|s| s.as_str().to_string()))
        .period(contents.period.0, contents.period.1)
        .exported_at(now_ms());
    for &index in contents.keys {
        writer
            .add_key_record(index, log.entry(index)?)
            .map_err(package)?;
    }
    for &index in &contents.selection.records {
        writer
            .add_record(index, log.entry(index)?)
            .map_err(package)?;
    }
    if let Some(ots) = contents.stamp.and_then(|s| s.ots_bytes()) {
        writer.timestamp(ots);
    }
    writer.prove_with(log.store())?;
    writer.to_files().map_err(package)
}

/// [`export`] with the running server's log, stamps and operator key. Blocking.
pub fn export_from_state(
    state: &crate::state::AppState,
    request: &ExportRequest,
) -> Result<(PackageFiles, ExportSummary), ExportError> {
    export(
        &state.log,
        &state.anchoring,
        &state.intake.operator().public_key(),
        &state.config.operator_chain(),
        request,
    )
}
