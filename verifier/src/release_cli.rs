//! The `release-at` subcommand of the `ledger-verify` binary (glue only; the answer is
//! [`verifier::updates`]): which release an appliance ran at a time, from a package.

use std::path::Path;

use anyhow::Context as _;
use ledger_record::{ChainId, Id};
use serde_json::json;
use verifier::files::load_verifier_key;
use verifier::package::{OpenedPackage, VerifyOptions};
use verifier::updates::release_at;
use verifier::utc::format_unix_millis;

use super::{read_text, Outcome};

/// `SITE/APPLIANCE` as a chain id.
fn parse_chain(text: &str) -> anyhow::Result<ChainId> {
    let (site, appliance) = text
        .split_once('/')
        .with_context(|| format!("appliance `{text}`: expected SITE/APPLIANCE"))?;
    Ok(ChainId::new(
        Id::new(site).with_context(|| format!("site id `{site}`"))?,
        Id::new(appliance).with_context(|| format!("appliance id `{appliance}`"))?,
    ))
}

pub(super) fn run_release_at(
    path: &Path,
    key: &str,
    appliance: &str,
    at_ms: u64,
    block_headers: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let chain = parse_chain(appliance)?;
    let log = load_verifier_key(key).context("loading the log key")?;
    let headers = match block_headers {
        Some(p) => Some(
            verifier::ots::parse_headers(&read_text(p, "the block headers")?)
                .with_context(|| format!("parsing {}", p.display()))?,
        ),
        None => None,
    };
    let opened = OpenedPackage::open(path)
        .with_context(|| format!("reading the package {}", path.display()))?;
    let mut opts = VerifyOptions::new(&log);
    opts.headers = headers.as_ref();
    let answer = release_at(&opened, &opts, &chain, at_ms)
        .with_context(|| format!("reading the package {}", path.display()))?;
    if !answer.report.valid {
        let mut outcome = Outcome {
            valid: false,
            text: answer.report.render_text(),
            json: serde_json::to_value(&answer.report)?,
            reason: None,
        };
        outcome.invalidate("the package does not verify; nothing can be said from it".into());
        return Ok(outcome);
    }
    let at = format_unix_millis(at_ms);
    let Some(r) = answer.installed else {
        return Ok(Outcome::valid(
            format!("Package valid. {chain} reported no succeeded update at or before {at} in this package: it ran the release it had before the package's first rollout.\n"),
            json!({"valid": true, "appliance": chain.to_string(), "at_ms": at_ms, "release": null}),
        ));
    };
    let text = format!(
        "Package valid. At {at}, {chain} ran {} {} (artifact sha256 {}, {} bytes, signed by release key {}).\n  installed: update record at log index {} (rollout {}, appliance time {})\n    {}\n  release:   release record at log index {}\n    {}\n",
        r.channel,
        r.version,
        r.artifact_sha256,
        r.artifact_size,
        r.release_key,
        r.update_index,
        r.rollout_id,
        format_unix_millis(r.update_time_ms),
        r.update_citation,
        r.release_index,
        r.release_citation,
    );
    Ok(Outcome::valid(
        text,
        json!({"valid": true, "appliance": chain.to_string(), "at_ms": at_ms, "release": r}),
    ))
}
