//! The `report` subcommand of the `ledger-verify` binary (glue only; the report itself
//! is [`verifier::report`]): reads the inputs, verifies and renders, writes the HTML
//! (and the PDF) only for a package that verifies, and says what it did.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;
use verifier::files::{load_verifier_key, read_text_limited};
use verifier::package::{OpenedPackage, VerifyOptions};
use verifier::report::controls::MAX_CONTROLS_FILE;
use verifier::report::{build_report, pdf, ControlMap, DEFAULT_INCIDENT_ROWS};

use super::{read_text, Outcome};

/// The options of the `report` command besides the path and the log key.
pub(super) struct ReportArgs<'a> {
    pub(super) block_headers: Option<&'a Path>,
    pub(super) controls: Option<&'a Path>,
    pub(super) out: &'a Path,
    pub(super) pdf: Option<&'a Path>,
}

pub(super) fn run_report(path: &Path, key: &str, args: &ReportArgs<'_>) -> anyhow::Result<Outcome> {
    // Every input is checked before the (possibly long) verification starts.
    if args.pdf.is_some() && pdf::find_chromium().is_none() {
        return Err(pdf::PdfError::NoChromium.into());
    }
    let log = load_verifier_key(key).context("loading the log key")?;
    let headers = match args.block_headers {
        Some(p) => Some(
            verifier::ots::parse_headers(&read_text(p, "the block headers")?)
                .with_context(|| format!("parsing {}", p.display()))?,
        ),
        None => None,
    };
    let controls = match args.controls {
        Some(p) => {
            let text =
                read_text_limited(p, MAX_CONTROLS_FILE).context("reading the control mapping")?;
            ControlMap::parse(&text, &format!("control mapping {}", p.display()))?
        }
        None => ControlMap::hipaa(),
    };
    let opened = OpenedPackage::open(path)
        .with_context(|| format!("reading the package {}", path.display()))?;
    let mut opts = VerifyOptions::new(&log);
    opts.headers = headers.as_ref();
    let built = build_report(&opened, &opts, &controls, DEFAULT_INCIDENT_ROWS)
        .with_context(|| format!("reading the package {}", path.display()))?;
    let Some(html) = built.html else {
        let mut outcome = Outcome {
            valid: false,
            text: built.verification.render_text(),
            json: serde_json::to_value(&built.verification)?,
            reason: None,
        };
        outcome.invalidate("the package does not verify; no report was written".into());
        return Ok(outcome);
    };
    write_atomically(args.out, html.as_bytes())?;
    let mut text = format!(
        "Package valid. Report written to {} ({} bytes).\n",
        args.out.display(),
        html.len()
    );
    if let Some(pdf_path) = args.pdf {
        pdf::print_to_pdf(args.out, pdf_path)?;
        text.push_str(&format!("PDF written to {}.\n", pdf_path.display()));
    }
    Ok(Outcome::valid(
        text,
        json!({"valid": true, "report": args.out.display().to_string(), "bytes": html.len(),
               "pdf": args.pdf.map(|p| p.display().to_string())}),
    ))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place, so a
/// run that dies part-way leaves no half-written report under the real name.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", tmp.display()));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        // Nothing is left under either name when the move fails.
        let _ = std::fs::remove_file(&tmp);
        return Err(e)
            .with_context(|| format!("moving the report into place at {}", path.display()));
    }
    Ok(())
}
