//! Evidence package export (docs/EVIDENCE_PACKAGE.md, format version 2): the records of
//! some sites over a period, every key record, per-segment multiproofs against one
//! checkpoint, and that checkpoint's OpenTimestamps stamp.
//!
//! The rooms: `select.rs` picks the checkpoint and stamp (pure), `stream.rs` walks the
//! query index's selection page by page and reads the records from the log, this module
//! writes them with the verifier's `StreamWriter` (so exporter and verifier cannot drift
//! apart), `tar.rs` turns the stream into a ustar archive and back. The HTTP endpoint is
//! `http/export.rs`; this module knows nothing of HTTP.
//!
//! Memory is bounded whatever the number of records: one page of the selection, one
//! segment of records and its proof, the key records and per-chain facts. The package is
//! built against a checkpoint the index has fully covered: the export first brings the
//! index up to the latest checkpoint (a no-op when the tailer is already there).
//! Blocking: run it on the blocking pool from async code.

pub mod select;
mod stream;
mod tar;

use std::ops::RangeInclusive;

use ledger::Log;
use ledger_index::QueryIndex;
use ledger_record::{ChainId, Id, VerifyingKey};
use verifier::package::{PackageSink, StreamSummary, StreamWriter};

use crate::anchoring::{now_ms, Anchoring};

pub use tar::{unpack_stream, TarError, TarSink};

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
    #[error("export: reading the query index: {0}")]
    Index(#[from] ledger_index::IndexError),
    #[error("export: the query index covers {indexed} entries, less than the checkpoint's {size}")]
    IndexBehind { indexed: u64, size: u64 },
    #[error("export: reading stamps: {0}")]
    Anchor(#[from] crate::anchoring::AnchorError),
    #[error("export: writing the package: {0}")]
    Package(#[from] verifier::VerifyError),
}

/// What the export wrote, for logs and the CLI summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub checkpoint_size: u64,
    pub records: u64,
    pub key_records: u64,
    pub chains: usize,
    pub segments: u64,
    /// `complete`, `pending` or `none`.
    pub stamp: &'static str,
}

/// The server's parts an export reads.
pub struct Sources<'a> {
    pub log: &'a Log,
    pub index: &'a QueryIndex,
    pub anchoring: &'a Anchoring,
    pub operator_key: &'a VerifyingKey,
    pub operator_chain: &'a ChainId,
}

/// Writes the package into `sink` as a stream. Blocking. Returns the sink (for the tar
/// form, which ends the archive after the manifest) and the summary.
pub fn export<S: PackageSink>(
    src: &Sources<'_>,
    request: &ExportRequest,
    sink: S,
) -> Result<(S, ExportSummary), ExportError> {
    if request.sites.is_empty() {
        return Err(ExportError::NoSites);
    }
    // With witnesses, the latest checkpoint that met the quorum (cosignatures included).
    let latest = src.anchoring.published();
    if latest.size == 0 {
        return Err(ExportError::EmptyLog);
    }
    // The checkpoint the package is built on must be fully indexed: bring the index up
    // to it (the tailer would within one poll interval; this only saves the wait).
    let indexed = src.index.catch_up(src.log)?;
    if indexed < latest.size {
        return Err(ExportError::IndexBehind {
            indexed,
            size: latest.size,
        });
    }
    let plan = stream::plan(src.index, &request.sites, latest.size, &request.period)?;
    let Some(highest) = plan.highest() else {
        return Err(nothing_found(request));
    };
    let chosen =
        select::complete_stamp_covering(src.anchoring.list(latest.size, usize::MAX)?, highest);
    let (size, stamp) = match chosen {
        Some(stamp) => (stamp.tree_size, Some(stamp)),
        None => (latest.size, src.anchoring.stamp(latest.size)?),
    };
    let note = match stamp.as_ref().and_then(|s| s.cosigned_note.clone()) {
        Some(cosigned) => cosigned,
        None if size == latest.size => String::from_utf8_lossy(&latest.note).into_owned(),
        None => String::from_utf8_lossy(&src.log.checkpoint(size)?).into_owned(),
    };
    let mut writer = StreamWriter::new(&note, src.operator_key, src.operator_chain, sink)?;
    writer
        .log_verifier_key(&src.log.verifier_key())
        .sites(request.sites.iter().map(|s| s.as_str().to_string()))
        .exported_at(now_ms());
    let (start_ms, end_ms) = (*request.period.start(), *request.period.end());
    if start_ms != 0 || end_ms != u64::MAX {
        writer.period(start_ms, end_ms);
    } else {
        // No bound given: the manifest names the records' span, not "until year
        // 584,556,019".
        writer.period_from_records();
    }
    if let Some(ots) = stamp.as_ref().and_then(|s| s.ots_bytes()) {
        writer.timestamp(&ots)?;
    }
    stream::write_keys(src, size, &mut writer)?;
    stream::write_records(src, &plan, size, &mut writer)?;
    let (sink, summary) = writer.finish(src.log.store())?;
    Ok((
        sink,
        summary_of(&summary, select::stamp_label(stamp.as_ref())),
    ))
}

fn summary_of(s: &StreamSummary, stamp: &'static str) -> ExportSummary {
    ExportSummary {
        checkpoint_size: s.checkpoint_size,
        records: s.records,
        key_records: s.key_records,
        chains: s.chains,
        segments: s.segments,
        stamp,
    }
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

/// [`export`] with the running server's log, index, stamps and operator key. Blocking.
pub fn export_from_state<S: PackageSink>(
    state: &crate::state::AppState,
    request: &ExportRequest,
    sink: S,
) -> Result<(S, ExportSummary), ExportError> {
    let operator_key = state.intake.operator().public_key();
    let operator_chain = state.config.operator_chain();
    export(
        &Sources {
            log: &state.log,
            index: &state.index,
            anchoring: &state.anchoring,
            operator_key: &operator_key,
            operator_chain: &operator_chain,
        },
        request,
        sink,
    )
}
