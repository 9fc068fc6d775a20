//! The offline audit report (`ledger-verify report`, docs/AUDIT_REPORT.md): a
//! self-contained HTML document built from an evidence package that passed every check
//! of `ledger-verify package`, and nothing else.
//!
//! How: the package is verified by the same code path as `ledger-verify package`
//! ([`verify_package`] or, for version 2, [`verify_segmented`], streaming one segment at
//! a time) with a [`Collector`] observing each decoded record in log order, so the
//! aggregates come from the same single pass and memory stays bounded by appliances ×
//! days × check types, not by records. If the verification has any finding, the
//! aggregates are thrown away and there is no report.
//!
//! Trust: the auditor supplies the log key, optionally Bitcoin block headers, and the
//! control mapping; everything else is checked. Every number in the report carries
//! citations that `ledger-verify cite` re-checks one record at a time.
//!
//! What it deliberately does not do: fetch anything, keep every record, or interpret
//! evidence beyond counting (a `warning` is shown as a warning, not judged).

pub mod aggregate;
pub mod controls;
pub mod html;
pub mod keys;
pub mod pdf;
mod sections;

use crate::error::VerifyError;
use crate::package::{verify_package, verify_segmented, OpenedPackage, Report, VerifyOptions};
pub use aggregate::{Aggregates, Collector, DEFAULT_INCIDENT_ROWS};
pub use controls::ControlMap;
use html::{CitationBase, Doc};

/// The result of `report`: the verification, and the HTML when the package is valid.
#[derive(Debug, Clone)]
pub struct Built {
    pub verification: Report,
    /// `None` when the package does not verify.
    pub html: Option<String>,
}

/// Verifies `opened` with `opts` (its observer is replaced by the report's collector)
/// and, when it is valid, renders the report. An error means the package is unreadable
/// or malformed, as for `ledger-verify package`.
pub fn build_report(
    opened: &OpenedPackage,
    opts: &VerifyOptions<'_>,
    controls: &ControlMap,
    incident_rows: usize,
) -> Result<Built, VerifyError> {
    let collector = Collector::new(incident_rows);
    let mut opts = *opts;
    opts.observer = Some(&collector);
    let verification = match opened {
        OpenedPackage::V1(pkg) => verify_package(pkg, &opts),
        OpenedPackage::V2(pkg) => verify_segmented(pkg, &opts)?,
    };
    if !verification.valid {
        return Ok(Built {
            verification,
            html: None,
        });
    }
    let aggregates = collector.into_aggregates();
    let head = opened.head();
    let keys = keys::key_events(&head.keys);
    let base = CitationBase {
        origin: head.checkpoint.origin.clone(),
        size: head.checkpoint.size,
        root: head.checkpoint.root,
    };
    let input = sections::Input {
        verification: &verification,
        aggregates: &aggregates,
        keys: &keys,
        controls,
    };
    let html = render(base, &input);
    Ok(Built {
        verification,
        html: Some(html),
    })
}

/// The whole document.
fn render(base: CitationBase, input: &sections::Input<'_>) -> String {
    let title = format!("Evidence audit report — {}", input.verification.log.origin);
    let mut doc = Doc::new(base);
    sections::cover(&mut doc, input);
    sections::contents(&mut doc, input.verification);
    sections::appliances(&mut doc, input);
    sections::healing(&mut doc, input);
    sections::controls(&mut doc, input);
    sections::notes(&mut doc, input.verification);
    doc.finish(&title)
}
