//! Evidence package export (docs/EVIDENCE_PACKAGE.md): the records of some sites over a
//! period, every key record, one multiproof against one checkpoint, and that
//! checkpoint's OpenTimestamps stamp.
//!
//! Selection, as the format requires:
//! - **Records.** A chain (site, appliance) takes part when one of its records has an
//!   appliance time inside the period; the package then holds every record of that chain
//!   from the lowest to the highest in-period sequence — including records between them
//!   whose clock was off — so the verifier can check the chain without holes.
//! - **Checkpoint.** The newest checkpoint with a complete stamp that covers every
//!   selected record; when there is none, the latest checkpoint (with its stamp when it
//!   has one, pending or not).
//! - **Keys.** Every key record below the checkpoint's size.
//!
//! The export reads the log from the start in chunks (one pass decoding every record),
//! then fetches the selected records by index; it needs no query index, so it works on a
//! stopped server's data directory as well as inside the running server. Its cost is a
//! read of the whole log: seconds per million records.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use ledger::Log;
use ledger_record::{ChainId, Id, Kind, Record, VerifyingKey};
use verifier::package::{PackageFiles, PackageWriter};

use crate::anchoring::{now_ms, Anchoring, StampStatus};

/// Entries read per chunk in the scan.
const SCAN_CHUNK: u64 = 4096;

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

/// Builds the package in memory.
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
    // One pass over the log: key records, and per chain of the sites the index and the
    // appliance time of every sequence.
    let mut keys: Vec<u64> = Vec::new();
    let mut chains: BTreeMap<ChainId, BTreeMap<u64, (u64, u64)>> = BTreeMap::new();
    let mut start = 0;
    while start < latest.size {
        let end = (start + SCAN_CHUNK).min(latest.size);
        for (offset, bytes) in log.entries(start, end)?.into_iter().enumerate() {
            let index = start + offset as u64;
            let record = Record::decode(&bytes).map_err(|e| ExportError::Entry {
                index,
                reason: e.to_string(),
            })?;
            if record.kind() == Kind::Key {
                keys.push(index);
            }
            if request.sites.contains(record.site_id()) {
                chains
                    .entry(record.chain())
                    .or_default()
                    .insert(record.sequence(), (index, record.time_ms()));
            }
        }
        start = end;
    }
    // Per chain: the in-period sequence range, then every record in it.
    let mut selected: Vec<u64> = Vec::new();
    let mut chain_count = 0;
    for seqs in chains.values() {
        let in_period: Vec<u64> = seqs
            .iter()
            .filter(|(_, (_, time))| request.period.contains(time))
            .map(|(seq, _)| *seq)
            .collect();
        let (Some(first), Some(last)) = (in_period.first(), in_period.last()) else {
            continue;
        };
        chain_count += 1;
        selected.extend(seqs.range(first..=last).map(|(_, (index, _))| *index));
    }
    if selected.is_empty() {
        return Err(ExportError::Nothing {
            sites: request
                .sites
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            start_ms: *request.period.start(),
            end_ms: *request.period.end(),
        });
    }
    selected.sort_unstable();
    let highest = *selected.last().unwrap_or(&0);

    // The checkpoint: newest complete stamp covering every record, else the latest.
    let mut chosen = None;
    for item in anchoring.list(u64::MAX, usize::MAX)? {
        if item.tree_size > highest && item.status == StampStatus::Complete {
            chosen = Some(item);
            break;
        }
    }
    let (size, stamp) = match chosen {
        Some(stamp) => (stamp.tree_size, Some(stamp)),
        None => (latest.size, anchoring.stamp(latest.size)?),
    };
    let note = log.checkpoint(size)?;
    let note = String::from_utf8(note)
        .map_err(|_| ExportError::Package("checkpoint is not UTF-8".into()))?;
    let package = |e: verifier::error::VerifyError| ExportError::Package(e.to_string());
    // The manifest's period: as requested, or, when no bound was given, the span of
    // appliance times of the selected records (a report should not say "until year
    // 584,556,019").
    let (mut start_ms, mut end_ms) = (*request.period.start(), *request.period.end());
    if start_ms == 0 && end_ms == u64::MAX {
        let times = chains
            .values()
            .flat_map(|seqs| seqs.values())
            .filter(|(index, _)| selected.binary_search(index).is_ok())
            .map(|(_, time)| *time);
        let (lo, hi) = times.fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t), hi.max(t)));
        (start_ms, end_ms) = (lo, hi);
    }
    let mut writer = PackageWriter::new(&note, operator_key, operator_chain).map_err(package)?;
    writer
        .log_verifier_key(&log.verifier_key())
        .sites(request.sites.iter().map(|s| s.as_str().to_string()))
        .period(start_ms, end_ms)
        .exported_at(now_ms());
    let mut key_count = 0;
    for index in keys.into_iter().filter(|i| *i < size) {
        writer
            .add_key_record(index, log.entry(index)?)
            .map_err(package)?;
        key_count += 1;
    }
    for index in &selected {
        writer
            .add_record(*index, log.entry(*index)?)
            .map_err(package)?;
    }
    let stamp_status = match &stamp {
        Some(s) if s.status == StampStatus::Complete => "complete",
        Some(s) if s.status == StampStatus::Pending => "pending",
        _ => "none",
    };
    if let Some(ots) = stamp.as_ref().and_then(|s| s.ots_bytes()) {
        writer.timestamp(ots);
    }
    writer.prove_with(log.store())?;
    let files = writer.to_files().map_err(package)?;
    Ok((
        files,
        ExportSummary {
            checkpoint_size: size,
            records: selected.len(),
            key_records: key_count,
            chains: chain_count,
            stamp: stamp_status,
        },
    ))
}

/// [`export`] with the running server's log, stamps and operator key.
pub fn export_from_state(
    state: &crate::server::AppState,
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

/// The package as one ustar archive, the manifest last (as on disk, so a truncated
/// download has no manifest and is refused).
pub fn to_tar(files: &PackageFiles) -> Vec<u8> {
    use verifier::package::names;
    let mtime = now_ms() / 1000;
    let mut out = Vec::new();
    let mut add = |name: &str, data: &[u8]| crate::ustar::append_file(&mut out, name, data, mtime);
    add(names::CHECKPOINT, &files.checkpoint);
    add(names::RECORDS, &files.records);
    add(names::KEYS, &files.keys);
    add(names::PROOF, &files.proof);
    if let Some(t) = &files.timestamp {
        add(names::TIMESTAMP, t);
    }
    if let Some(h) = &files.headers {
        add(names::HEADERS, h);
    }
    add(names::MANIFEST, &files.manifest);
    crate::ustar::finish(&mut out);
    out
}

/// Reads a package archive made by [`to_tar`]: only the package's file names, each at
/// most once, every required file present.
pub fn from_tar(archive: &[u8]) -> Result<PackageFiles, crate::ustar::TarError> {
    use verifier::package::{limits, names};
    let bad = |m: String| crate::ustar::TarError(m);
    let mut files = PackageFiles::default();
    let mut seen = std::collections::BTreeSet::new();
    for (name, data) in crate::ustar::read_files(archive, limits::RECORDS)? {
        if !seen.insert(name.clone()) {
            return Err(bad(format!("`{name}` appears twice")));
        }
        match name.as_str() {
            n if n == names::MANIFEST => files.manifest = data,
            n if n == names::CHECKPOINT => files.checkpoint = data,
            n if n == names::RECORDS => files.records = data,
            n if n == names::KEYS => files.keys = data,
            n if n == names::PROOF => files.proof = data,
            n if n == names::TIMESTAMP => files.timestamp = Some(data),
            n if n == names::HEADERS => files.headers = Some(data),
            other => {
                return Err(bad(format!(
                    "unexpected file `{other}` in a package archive"
                )))
            }
        }
    }
    for required in [
        names::MANIFEST,
        names::CHECKPOINT,
        names::RECORDS,
        names::KEYS,
        names::PROOF,
    ] {
        if !seen.contains(required) {
            return Err(bad(format!("`{required}` is missing")));
        }
    }
    Ok(files)
}

/// HTTP: `GET /v1/export?sites=a,b&from_ms=&to_ms=` answers the package as a tar archive.
/// Admin, or a read token covering every named site; anything else gets 404.
pub mod http {
    use std::sync::Arc;

    use axum::extract::{Query, State};
    use axum::http::{header, HeaderMap};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use axum::Router;
    use ledger_record::Id;
    use serde::Deserialize;

    use crate::auth::Principal;
    use crate::error::AppError;
    use crate::reads::{blocking, parse_u64};
    use crate::server::AppState;

    use super::{export_from_state, to_tar, ExportError, ExportRequest};

    pub fn routes() -> Router<Arc<AppState>> {
        Router::new().route("/v1/export", get(handler))
    }

    #[derive(Deserialize)]
    struct ExportQuery {
        sites: Option<String>,
        from_ms: Option<String>,
        to_ms: Option<String>,
    }

    /// Parses `sites`, `from_ms`, `to_ms` into a request.
    fn request(q: &ExportQuery) -> Result<ExportRequest, AppError> {
        let bad = |m: String| AppError::bad_request("invalid_request", m);
        let sites_text = q
            .sites
            .as_deref()
            .ok_or_else(|| bad("`sites` is required (comma-separated site ids)".into()))?;
        let mut sites = Vec::new();
        for s in sites_text.split(',') {
            let id = Id::new(s).map_err(|e| bad(format!("site id `{s}`: {e}")))?;
            if !sites.contains(&id) {
                sites.push(id);
            }
        }
        let from = q
            .from_ms
            .as_deref()
            .map(|v| parse_u64("from_ms", v))
            .transpose()?;
        let to = q
            .to_ms
            .as_deref()
            .map(|v| parse_u64("to_ms", v))
            .transpose()?;
        let (from, to) = (from.unwrap_or(0), to.unwrap_or(u64::MAX));
        if from > to {
            return Err(bad(format!("from_ms {from} is after to_ms {to}")));
        }
        Ok(ExportRequest {
            sites,
            period: from..=to,
        })
    }

    async fn handler(
        State(s): State<Arc<AppState>>,
        headers: HeaderMap,
        Query(q): Query<ExportQuery>,
    ) -> Result<Response, AppError> {
        let principal = crate::http::who(&s, &headers)?;
        let req = request(&q)?;
        let allowed = match &principal {
            Principal::Admin => true,
            Principal::Reader(scope) => req.sites.iter().all(|site| scope.contains(site.as_str())),
            Principal::Appliance(_) => false,
        };
        if !allowed {
            return Err(AppError::not_found("no records of these sites"));
        }
        let permit = s.exports.clone().try_acquire_owned().map_err(|_| {
            AppError::busy_with(
                s.config.retry_after_secs,
                "another evidence package is being exported; retry after the time in Retry-After",
            )
        })?;
        let state = s.clone();
        let (body, summary) = blocking(move || {
            let _permit = permit;
            let (files, summary) = export_from_state(&state, &req).map_err(|e| match e {
                ExportError::Nothing { .. } | ExportError::EmptyLog => {
                    AppError::not_found(e.to_string())
                }
                other => AppError::internal(other),
            })?;
            // The files are dropped here, before the archive is sent.
            Ok((to_tar(&files), summary))
        })
        .await?;
        Ok((
            [
                (header::CONTENT_TYPE, "application/x-tar".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"evidence-package-{}.tar\"",
                        summary.checkpoint_size
                    ),
                ),
            ],
            body,
        )
            .into_response())
    }
}
