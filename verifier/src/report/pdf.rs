//! `--pdf`: prints the HTML report to PDF with a headless Chromium found on `PATH`
//! (`chromium` or `chromium-browser`), run with a fresh, throw-away profile and every
//! network feature that can be switched off switched off. The report has no external
//! URLs, so Chromium has nothing to fetch.
//!
//! Chromium is optional: without it, `--pdf` is an error naming what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why no PDF was made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("--pdf needs headless Chromium, but neither `chromium` nor `chromium-browser` is on PATH; install one, or open the HTML report in a browser and print it")]
    NoChromium,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("chromium failed ({status}) printing the report to PDF: {stderr}")]
    Failed { status: String, stderr: String },
    #[error("chromium exited successfully but wrote no PDF at {0}")]
    NoOutput(PathBuf),
}

/// The first of `chromium`, `chromium-browser` on `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Prints the HTML file `html` (absolute or relative) to `pdf`.
pub fn print_to_pdf(html: &Path, pdf: &Path) -> Result<(), PdfError> {
    let chromium = find_chromium().ok_or(PdfError::NoChromium)?;
    let io = |what: String| move |source| PdfError::Io { what, source };
    let html = std::fs::canonicalize(html).map_err(io(format!("finding {}", html.display())))?;
    let pdf_abs = absolute(pdf).map_err(io(format!("resolving {}", pdf.display())))?;
    let profile = fresh_dir().map_err(io("creating a temporary Chromium profile".into()))?;
    let output = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf_abs.display()))
        .arg(format!("file://{}", html.display()))
        .output();
    // The profile is only for this run; a failure to remove it leaves a temp dir.
    let _ = std::fs::remove_dir_all(&profile);
    let output = output.map_err(io(format!("running {}", chromium.display())))?;
    if !output.status.success() {
        return Err(PdfError::Failed {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    if !pdf_abs.is_file() {
        return Err(PdfError::NoOutput(pdf_abs));
    }
    Ok(())
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

/// A new empty directory under the system temp dir, named by process id and time.
fn fresh_dir() -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "ledger-verify-chromium-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}
