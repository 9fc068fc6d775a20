//! The programs the demo runs as separate processes, found next to `ledger-demo`, and
//! how it runs them: through `tokio::process`, so waiting for a child never blocks the
//! runtime that serves ledgerd and the calendar meanwhile.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{bail, Context};
use tokio::process::Command;

/// The workspace's programs the demo runs or names in its summary.
pub struct Binaries {
    pub agent: PathBuf,
    pub verify: PathBuf,
    /// Not run by the demo (ledgerd runs in process); the summary names it for the
    /// commands that repeat the steps by hand.
    pub ledgerd: PathBuf,
}

impl Binaries {
    pub fn find() -> anyhow::Result<Binaries> {
        Ok(Binaries {
            agent: sibling_binary("ledger-agent")?,
            verify: sibling_binary("ledger-verify")?,
            ledgerd: sibling_binary("ledgerd")?,
        })
    }
}

/// A binary built beside `ledger-demo`.
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("locating the ledger-demo executable")?;
    let dir = me.parent().context("ledger-demo has no directory")?;
    // Test binaries live in target/<profile>/deps; the programs one level up.
    for candidate in [dir.join(name), dir.join("..").join(name)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "{name} not found next to {} — build the whole workspace first (cargo build --workspace)",
        me.display()
    )
}

/// Runs a command to completion, failing with its output when it fails.
pub async fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("{what}: starting {:?}", cmd.as_std().get_program()))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
