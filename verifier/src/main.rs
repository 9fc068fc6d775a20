//! `ledger-verify`: the command line. Glue only: parsing arguments, reading files,
//! printing, and the exit codes, which are decided here and nowhere else:
//! 0 valid, 1 checked and invalid (with the reason), 2 usage error or unreadable or
//! malformed input.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ledger_core::checkpoint::SignedCheckpoint;
use serde_json::{json, Value};
use verifier::citation::Citation;
use verifier::fetch::{Base, Fetcher};
use verifier::files::{load_verifier_key, read_limited, read_text_limited, MAX_SMALL_FILE};
use verifier::hashes::{hash_b64, parse_hash_b64, parse_proof};
use verifier::package::succession::check_succession;
use verifier::package::{
    check_citation, check_citation_segmented, verify_package, verify_segmented, OpenedPackage,
    Package, Progress, SignatureMode, VerifyOptions,
};
use verifier::tiles_client;
use verifier::utc::{format_unix_millis, format_unix_seconds};
use verifier::witnesses::{check_witnesses, load_policy, LoadedPolicy, WitnessVerdict};
use verifier::VerifyError;

mod release_cli;
mod report_cli;

/// Offline verification of Evidence Ledger proofs, receipts, timestamps and evidence
/// packages. Exit codes: 0 valid, 1 checked and invalid, 2 usage error or unreadable or
/// malformed input.
#[derive(Debug, Parser)]
#[command(name = "ledger-verify", version)]
struct Cli {
    /// Print a machine-readable JSON result on standard output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check an RFC 9162 inclusion proof (audit path) for a leaf hash: given on the
    /// command line (--size --root --proof), or with --tiles assembled from the log's
    /// C2SP tlog-tiles hash tiles and checked against its signed checkpoint.
    Inclusion {
        /// RFC 6962 leaf hash, base64.
        #[arg(long, required_unless_present = "entry")]
        leaf_hash: Option<String>,
        /// Leaf index (0-based).
        #[arg(long)]
        index: u64,
        /// Tree size.
        #[arg(long, required_unless_present = "tiles", conflicts_with = "tiles")]
        size: Option<u64>,
        /// Tree root, base64.
        #[arg(long, required_unless_present = "tiles", conflicts_with = "tiles")]
        root: Option<String>,
        /// File with the audit path, one base64 hash per line, leaf side first.
        #[arg(long, required_unless_present = "tiles", conflicts_with = "tiles")]
        proof: Option<PathBuf>,
        /// Fetch the checkpoint and hash tiles from this C2SP tlog-tiles base: an
        /// http(s):// URL (ledgerd, a read replica, a bucket or CDN), a file:// URL or a
        /// directory holding `checkpoint` and `tile/`.
        #[arg(long, requires = "key")]
        tiles: Option<String>,
        /// With --tiles: the log's verifier key (name+keyid+key), or @FILE.
        #[arg(long, requires = "tiles")]
        key: Option<String>,
        /// With --tiles: the entry bytes (leaf hash = SHA-256(0x00 || entry)), instead of
        /// --leaf-hash.
        #[arg(long, requires = "tiles", conflicts_with = "leaf_hash")]
        entry: Option<PathBuf>,
        /// With --tiles: a C2SP tlog-policy file whose witness quorum the fetched
        /// checkpoint must meet.
        #[arg(long, requires = "tiles")]
        policy: Option<PathBuf>,
        /// With --tiles: seconds each HTTP request may take.
        #[arg(long, requires = "tiles", default_value_t = 30)]
        timeout: u64,
    },
    /// Check an RFC 9162 consistency proof between two tree heads (size1 ≥ 1).
    Consistency {
        #[arg(long)]
        size1: u64,
        #[arg(long)]
        root1: String,
        #[arg(long)]
        size2: u64,
        #[arg(long)]
        root2: String,
        /// File with the proof, one base64 hash per line.
        #[arg(long)]
        proof: PathBuf,
    },
    /// Check a C2SP tlog-proof receipt for an entry.
    Receipt {
        /// The .tlog-proof file.
        file: PathBuf,
        /// The entry bytes (the record) the receipt is for.
        #[arg(long)]
        entry: PathBuf,
        /// The log's verifier key (name+keyid+key), or @FILE.
        #[arg(long)]
        key: String,
        /// A C2SP tlog-policy file: also require its witness quorum on the receipt's
        /// checkpoint (the log key stays the pinned --key).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Check a signed checkpoint note: the log's signature, and with --policy the
    /// witness cosignatures and quorum.
    Checkpoint {
        /// The checkpoint note file.
        file: PathBuf,
        /// The log's verifier key (name+keyid+key), or @FILE.
        #[arg(long)]
        key: String,
        /// A C2SP tlog-policy file whose witness quorum the checkpoint must meet.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// OpenTimestamps proofs.
    Ots {
        #[command(subcommand)]
        command: OtsCommand,
    },
    /// Verify an evidence package (docs/EVIDENCE_PACKAGE.md).
    Package {
        /// The package directory.
        path: PathBuf,
        /// The log's verifier key (name+keyid+key), or @FILE.
        #[arg(long)]
        key: String,
        /// Bitcoin block headers you trust, `HEIGHT HEX80` per line.
        #[arg(long)]
        block_headers: Option<PathBuf>,
        /// Pin the operator key (64 hex digits) instead of taking it from the package.
        #[arg(long)]
        operator_key: Option<String>,
        /// Verify every signature strictly, one by one, instead of in batches.
        #[arg(long)]
        strict_signatures: bool,
        /// Also print the citation string of the record at this log index.
        #[arg(long)]
        cite: Option<u64>,
        /// A C2SP tlog-policy file: also require its witness quorum on the package's
        /// checkpoint (the log key stays the pinned --key).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The package of the frozen log this package's log succeeds (a log per period),
        /// exported at its final checkpoint: also verify it and the link between them.
        #[arg(long, requires = "previous_key")]
        previous: Option<PathBuf>,
        /// The verifier key of the previous log (name+keyid+key), or @FILE.
        #[arg(long, requires = "previous")]
        previous_key: Option<String>,
    },
    /// Verify an evidence package and write the offline audit report (HTML, optionally
    /// PDF; docs/AUDIT_REPORT.md). A package that does not verify gets no report.
    Report {
        /// The package directory.
        path: PathBuf,
        /// The log's verifier key (name+keyid+key), or @FILE.
        #[arg(long)]
        key: String,
        /// Bitcoin block headers you trust, `HEIGHT HEX80` per line.
        #[arg(long)]
        block_headers: Option<PathBuf>,
        /// A control mapping file (TOML) replacing the built-in HIPAA Security Rule one.
        #[arg(long)]
        controls: Option<PathBuf>,
        /// Where to write the HTML report.
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
        /// Also print the report to this PDF file with headless Chromium.
        #[arg(long)]
        pdf: Option<PathBuf>,
    },
    /// Which release an appliance ran at a time, from a verified package: its latest
    /// `succeeded` update record at or before the time and the release record it names,
    /// both cited (docs/UPDATES.md).
    ReleaseAt {
        /// The package directory.
        path: PathBuf,
        /// The log's verifier key (name+keyid+key), or @FILE.
        #[arg(long)]
        key: String,
        /// The appliance, SITE/APPLIANCE.
        #[arg(long)]
        appliance: String,
        /// The time, Unix milliseconds (the appliance's clock, as its records carry it).
        #[arg(long)]
        at_ms: u64,
        /// Bitcoin block headers you trust, `HEIGHT HEX80` per line.
        #[arg(long)]
        block_headers: Option<PathBuf>,
    },
    /// Check a citation string against an evidence package.
    Cite {
        /// The citation, evidence-ledger:v1:<origin>:<index>:<size>:<root>.
        citation: String,
        /// The package directory that proves it.
        #[arg(long)]
        package: PathBuf,
        /// The log's verifier key (name+keyid+key), or @FILE.
        #[arg(long)]
        key: String,
    },
}

#[derive(Debug, Subcommand)]
enum OtsCommand {
    /// List the digest and attestations of a .ots file.
    Info {
        /// The .ots file.
        file: PathBuf,
    },
    /// Verify a .ots file for a target file against Bitcoin block headers.
    Verify {
        /// The .ots file.
        file: PathBuf,
        /// The stamped file.
        #[arg(long)]
        target: PathBuf,
        /// Bitcoin block headers, `HEIGHT HEX80` per line.
        #[arg(long)]
        block_headers: PathBuf,
    },
}

/// The outcome of a command that ran to the end.
struct Outcome {
    valid: bool,
    text: String,
    json: Value,
    /// Why an invalid outcome is invalid, for standard error.
    reason: Option<String>,
}

impl Outcome {
    fn valid(text: String, json: Value) -> Outcome {
        Outcome {
            valid: true,
            text,
            json,
            reason: None,
        }
    }

    /// Adds a witness verdict: its lines after the text, `"witnesses"` in the JSON, and
    /// the outcome invalid when the quorum is missed.
    fn add_witnesses(&mut self, verdict: &WitnessVerdict) {
        self.text.push_str(&verdict.render_text());
        if let Value::Object(map) = &mut self.json {
            map.insert("witnesses".into(), verdict.to_json());
        }
        if !verdict.quorum_met {
            self.invalidate(verdict.failure_reason());
        }
    }

    /// Marks the outcome invalid for `reason`.
    fn invalidate(&mut self, reason: String) {
        self.valid = false;
        if let Value::Object(map) = &mut self.json {
            map.insert("valid".into(), Value::Bool(false));
            map.insert("error".into(), Value::String(reason.clone()));
            map.insert("error_kind".into(), Value::String("invalid".into()));
        }
        self.reason = Some(reason);
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(&cli.command) {
        Ok(outcome) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome.json).unwrap_or_default()
                );
            } else {
                print!("{}", outcome.text);
            }
            if let (false, Some(reason)) = (outcome.valid, &outcome.reason) {
                eprintln!("INVALID: {reason}");
            }
            ExitCode::from(if outcome.valid { 0 } else { 1 })
        }
        Err(e) => {
            let invalid = e
                .downcast_ref::<VerifyError>()
                .is_some_and(VerifyError::is_verification_failure);
            let (code, label) = if invalid {
                (1, "INVALID")
            } else {
                (2, "error")
            };
            if cli.json {
                let body = json!({
                    "valid": false,
                    "error": format!("{e:#}"),
                    "error_kind": if invalid { "invalid" } else { "malformed_or_unreadable" },
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&body).unwrap_or_default()
                );
            }
            eprintln!("{label}: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    read_text_limited(path, MAX_SMALL_FILE).with_context(|| format!("reading {what}"))
}

fn run(command: &Command) -> anyhow::Result<Outcome> {
    match command {
        inclusion @ Command::Inclusion { .. } => run_inclusion_command(inclusion),
        Command::Consistency {
            size1,
            root1,
            size2,
            root2,
            proof,
        } => run_consistency(*size1, root1, *size2, root2, proof),
        Command::Receipt {
            file,
            entry,
            key,
            policy,
        } => run_receipt(file, entry, key, policy.as_deref()),
        Command::Checkpoint { file, key, policy } => run_checkpoint(file, key, policy.as_deref()),
        Command::Ots { command } => run_ots(command),
        Command::Package {
            path,
            key,
            block_headers,
            operator_key,
            strict_signatures,
            cite,
            policy,
            previous,
            previous_key,
        } => run_package(
            path,
            key,
            &PackageArgs {
                block_headers: block_headers.as_deref(),
                operator_key: operator_key.as_deref(),
                strict: *strict_signatures,
                cite: *cite,
                policy: policy.as_deref(),
                previous: previous.as_deref().zip(previous_key.as_deref()),
            },
        ),
        Command::Cite {
            citation,
            package,
            key,
        } => run_cite(citation, package, key),
        Command::ReleaseAt {
            path,
            key,
            appliance,
            at_ms,
            block_headers,
        } => release_cli::run_release_at(path, key, appliance, *at_ms, block_headers.as_deref()),
        Command::Report {
            path,
            key,
            block_headers,
            controls,
            out,
            pdf,
        } => report_cli::run_report(
            path,
            key,
            &report_cli::ReportArgs {
                block_headers: block_headers.as_deref(),
                controls: controls.as_deref(),
                out,
                pdf: pdf.as_deref(),
            },
        ),
    }
}

/// `inclusion`: from a proof file, or built from a log's tiles with `--tiles`.
fn run_inclusion_command(command: &Command) -> anyhow::Result<Outcome> {
    let Command::Inclusion {
        leaf_hash,
        index,
        size,
        root,
        proof,
        tiles,
        key,
        entry,
        policy,
        timeout,
    } = command
    else {
        anyhow::bail!("not an inclusion command");
    };
    match (tiles, key) {
        (Some(tiles), Some(key)) => run_inclusion_tiles(&TilesArgs {
            base: tiles,
            key,
            index: *index,
            leaf_hash: leaf_hash.as_deref(),
            entry: entry.as_deref(),
            policy: policy.as_deref(),
            timeout: Duration::from_secs(*timeout),
        }),
        _ => match (leaf_hash, size, root, proof) {
            (Some(leaf_hash), Some(size), Some(root), Some(proof)) => {
                run_inclusion(leaf_hash, *index, *size, root, proof)
            }
            _ => Err(VerifyError::Unsupported(
                "inclusion needs --leaf-hash --size --root --proof, or --tiles --key".into(),
            )
            .into()),
        },
    }
}

fn run_inclusion(
    leaf_hash: &str,
    index: u64,
    size: u64,
    root: &str,
    proof: &Path,
) -> anyhow::Result<Outcome> {
    let leaf = parse_hash_b64(leaf_hash, "--leaf-hash")?;
    let root = parse_hash_b64(root, "--root")?;
    let path = parse_proof(&read_text(proof, "the proof file")?)
        .with_context(|| format!("parsing {}", proof.display()))?;
    verifier::merkle::check_inclusion(&leaf, index, size, &root, &path)?;
    Ok(Outcome::valid(
        format!(
            "Inclusion proof valid: leaf {} is at index {index} of the tree of size {size} with root {}.\n",
            hash_b64(&leaf),
            hash_b64(&root)
        ),
        json!({"valid": true, "leaf_hash": hash_b64(&leaf), "index": index, "size": size, "root": hash_b64(&root)}),
    ))
}

/// The arguments of `inclusion --tiles`.
struct TilesArgs<'a> {
    base: &'a str,
    key: &'a str,
    index: u64,
    leaf_hash: Option<&'a str>,
    entry: Option<&'a Path>,
    policy: Option<&'a Path>,
    timeout: Duration,
}

/// `inclusion --tiles`: fetches the checkpoint, verifies it with the pinned key (and the
/// witness policy), fetches the hash tiles the audit path needs and checks the path
/// against the signed root.
fn run_inclusion_tiles(args: &TilesArgs<'_>) -> anyhow::Result<Outcome> {
    let log = load_verifier_key(args.key).context("loading the log key")?;
    let policy = load_policy_arg(args.policy)?;
    let leaf = match (args.leaf_hash, args.entry) {
        (Some(b64), _) => parse_hash_b64(b64, "--leaf-hash")?,
        (None, Some(path)) => ledger_core::hash::leaf_hash(
            &read_limited(path, MAX_SMALL_FILE).context("reading the entry")?,
        ),
        (None, None) => anyhow::bail!(VerifyError::Unsupported(
            "--tiles needs --entry or --leaf-hash".into()
        )),
    };
    let base = Base::parse(args.base)?;
    let mut source = Fetcher::new(base, args.timeout)?;
    let (note, signed) = tiles_client::fetch_checkpoint(&mut source, &log)
        .with_context(|| format!("checking the checkpoint of {}", args.base))?;
    let proof = tiles_client::prove_inclusion(&mut source, &signed, args.index, &leaf)
        .with_context(|| {
            format!(
                "proving leaf {} from the tiles of {}",
                args.index, args.base
            )
        })?;
    let mut outcome = Outcome::valid(
        format!(
            "Inclusion valid: leaf {} is at index {} of log {}, tree size {} with root {}, in a checkpoint signed by {} (from {}; {} tiles fetched).\n",
            hash_b64(&leaf),
            args.index,
            signed.origin(),
            signed.size(),
            hash_b64(signed.root()),
            log.verifier_key(),
            args.base,
            proof.tiles_fetched
        ),
        json!({"valid": true, "origin": signed.origin(), "size": signed.size(),
               "root": hash_b64(signed.root()), "index": args.index, "leaf_hash": hash_b64(&leaf),
               "tiles_fetched": proof.tiles_fetched,
               "full_tile_fallbacks": proof.full_tile_fallbacks,
               "proof": proof.path.iter().map(hash_b64).collect::<Vec<_>>()}),
    );
    if let Some(policy) = &policy {
        let verdict = check_witnesses(policy, &note, &log)
            .with_context(|| format!("checking the witnesses of {}/checkpoint", args.base))?;
        outcome.add_witnesses(&verdict);
    }
    Ok(outcome)
}

fn run_consistency(
    size1: u64,
    root1: &str,
    size2: u64,
    root2: &str,
    proof: &Path,
) -> anyhow::Result<Outcome> {
    let r1 = parse_hash_b64(root1, "--root1")?;
    let r2 = parse_hash_b64(root2, "--root2")?;
    let path = parse_proof(&read_text(proof, "the proof file")?)
        .with_context(|| format!("parsing {}", proof.display()))?;
    verifier::merkle::check_consistency(size1, &r1, size2, &r2, &path)?;
    Ok(Outcome::valid(
        format!(
            "Consistency proof valid: the tree of size {size1} with root {} is a prefix of the tree of size {size2} with root {}.\n",
            hash_b64(&r1),
            hash_b64(&r2)
        ),
        json!({"valid": true, "size1": size1, "root1": hash_b64(&r1), "size2": size2, "root2": hash_b64(&r2)}),
    ))
}

/// Reads the `--policy` file, if given.
fn load_policy_arg(policy: Option<&Path>) -> anyhow::Result<Option<LoadedPolicy>> {
    policy
        .map(|p| load_policy(p).context("reading the witness policy"))
        .transpose()
}

fn run_receipt(
    file: &Path,
    entry: &Path,
    key: &str,
    policy: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let log = load_verifier_key(key).context("loading the log key")?;
    let policy = load_policy_arg(policy)?;
    let receipt = read_limited(file, MAX_SMALL_FILE).context("reading the receipt")?;
    let entry_bytes = read_limited(entry, MAX_SMALL_FILE).context("reading the entry")?;
    let s = verifier::receipt::check_receipt(&receipt, &entry_bytes, &log)
        .with_context(|| format!("checking {}", file.display()))?;
    let mut outcome = Outcome::valid(
        format!(
            "Receipt valid: the entry (leaf hash {}) is at index {} of log {}, tree size {} with root {}, in a checkpoint signed by {}.\n",
            hash_b64(&s.leaf_hash),
            s.index,
            s.origin,
            s.tree_size,
            hash_b64(&s.root),
            log.verifier_key()
        ),
        json!({"valid": true, "origin": s.origin, "index": s.index, "tree_size": s.tree_size,
               "root": hash_b64(&s.root), "leaf_hash": hash_b64(&s.leaf_hash)}),
    );
    if let Some(policy) = &policy {
        let note = ledger_core::receipt::Receipt::parse(&receipt)
            .map_err(VerifyError::from)?
            .checkpoint_note()
            .to_owned();
        let verdict = check_witnesses(policy, note.as_bytes(), &log)
            .with_context(|| format!("checking the witnesses of {}", file.display()))?;
        outcome.add_witnesses(&verdict);
    }
    Ok(outcome)
}

fn run_checkpoint(file: &Path, key: &str, policy: Option<&Path>) -> anyhow::Result<Outcome> {
    let log = load_verifier_key(key).context("loading the log key")?;
    let policy = load_policy_arg(policy)?;
    let note = read_limited(file, MAX_SMALL_FILE).context("reading the checkpoint")?;
    let signed = SignedCheckpoint::verify(&note, &log)
        .map_err(VerifyError::from)
        .with_context(|| format!("checking {}", file.display()))?;
    let mut outcome = Outcome::valid(
        format!(
            "Checkpoint valid: log {}, tree size {}, root {}, signed by {}.\n",
            signed.origin(),
            signed.size(),
            hash_b64(signed.root()),
            log.verifier_key()
        ),
        json!({"valid": true, "origin": signed.origin(), "size": signed.size(),
               "root": hash_b64(signed.root())}),
    );
    if let Some(policy) = &policy {
        let verdict = check_witnesses(policy, &note, &log)
            .with_context(|| format!("checking the witnesses of {}", file.display()))?;
        outcome.add_witnesses(&verdict);
    }
    Ok(outcome)
}

fn run_cite(citation: &str, package: &Path, key: &str) -> anyhow::Result<Outcome> {
    let log = load_verifier_key(key).context("loading the log key")?;
    let citation = Citation::parse(citation.trim())?;
    let opened = OpenedPackage::open(package)
        .with_context(|| format!("reading the package {}", package.display()))?;
    let r = match &opened {
        OpenedPackage::V1(pkg) => check_citation(pkg, &citation, &log)?,
        OpenedPackage::V2(pkg) => check_citation_segmented(pkg, &citation, &log)?,
    };
    Ok(Outcome::valid(
        format!(
            "Citation valid: log index {} of log {} (tree size {}, root {}) is the {} record {} sequence {} (appliance time {}), record hash {}.\n",
            citation.index,
            citation.origin,
            citation.size,
            hash_b64(&citation.root),
            r.kind,
            r.chain,
            r.sequence,
            format_unix_millis(r.time_ms),
            r.record_hash
        ),
        json!({"valid": true, "citation": citation.to_string(), "origin": citation.origin,
               "index": citation.index, "size": citation.size, "root": hash_b64(&citation.root),
               "kind": r.kind, "chain": r.chain, "sequence": r.sequence, "time_ms": r.time_ms,
               "record_hash": r.record_hash}),
    ))
}

fn run_ots(command: &OtsCommand) -> anyhow::Result<Outcome> {
    match command {
        OtsCommand::Info { file } => {
            let bytes = read_limited(file, MAX_SMALL_FILE).context("reading the .ots file")?;
            let info = verifier::ots::ots_info(&bytes)
                .with_context(|| format!("reading {}", file.display()))?;
            let mut text = format!("File hash: {} {}\n", info.file_hash_op, info.file_digest);
            text.push_str(&format!("Attestations ({}):\n", info.attestations.len()));
            for a in &info.attestations {
                use verifier::ots::AttestationInfo as A;
                let line = match a {
                    A::Bitcoin {
                        height,
                        merkle_root,
                    } => format!("Bitcoin block {height}, Merkle root {merkle_root}"),
                    A::Litecoin {
                        height,
                        merkle_root,
                    } => format!("Litecoin block {height}, Merkle root {merkle_root}"),
                    A::Ethereum { height } => format!("Ethereum block {height}"),
                    A::Pending { uri, commitment } => {
                        format!("pending at {uri}, commitment {commitment}")
                    }
                    A::Unknown { tag } => format!("unknown attestation, tag {tag}"),
                };
                text.push_str(&format!("  {line}\n"));
            }
            Ok(Outcome::valid(text, serde_json::to_value(&info)?))
        }
        OtsCommand::Verify {
            file,
            target,
            block_headers,
        } => {
            let ots = read_limited(file, MAX_SMALL_FILE).context("reading the .ots file")?;
            let target_bytes = std::fs::read(target)
                .map_err(|source| VerifyError::Io {
                    path: target.clone(),
                    source,
                })
                .context("reading the target file")?;
            let headers =
                verifier::ots::parse_headers(&read_text(block_headers, "the block headers")?)
                    .with_context(|| format!("parsing {}", block_headers.display()))?;
            let check = verifier::ots::verify_ots(&ots, &target_bytes, &headers)
                .with_context(|| format!("verifying {}", file.display()))?;
            let Some(v) = check.earliest() else {
                anyhow::bail!("internal: a valid stamp without a verified attestation");
            };
            Ok(Outcome::valid(
                format!(
                    "Timestamp valid: {} existed by Bitcoin block {} ({}, block time {}), Merkle root {}.\n",
                    target.display(),
                    v.height,
                    format_unix_seconds(u64::from(v.time)),
                    v.time,
                    v.merkle_root_display
                ),
                json!({"valid": true, "height": v.height, "time": v.time,
                       "time_utc": format_unix_seconds(u64::from(v.time)),
                       "merkle_root": v.merkle_root_display, "block_hash": v.block_hash_display,
                       "digest": check.stamp_digest}),
            ))
        }
    }
}

/// A progress bar on stderr, only when stderr is a terminal.
struct Bar {
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Progress for Bar {
    fn start(&self, stage: &str, total: u64) {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {human_pos}/{human_len} ({eta} left)",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(stage.to_owned());
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(b) = self.bar.lock() {
            if let Some(bar) = b.as_ref() {
                bar.inc(n);
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(bar) = b.take() {
                bar.finish_and_clear();
            }
        }
    }
}

/// Packages with fewer records verify in about a second; no bar for them.
const PROGRESS_THRESHOLD: usize = 50_000;

/// The options of the `package` command besides the path and the log key.
struct PackageArgs<'a> {
    block_headers: Option<&'a Path>,
    operator_key: Option<&'a str>,
    strict: bool,
    cite: Option<u64>,
    policy: Option<&'a Path>,
    /// The previous log's package and key.
    previous: Option<(&'a Path, &'a str)>,
}

fn run_package(path: &Path, key: &str, args: &PackageArgs<'_>) -> anyhow::Result<Outcome> {
    let PackageArgs {
        block_headers,
        operator_key,
        strict,
        cite,
        policy,
        previous,
    } = *args;
    let log = load_verifier_key(key).context("loading the log key")?;
    let policy = load_policy_arg(policy)?;
    let headers = match block_headers {
        Some(p) => Some(
            verifier::ots::parse_headers(&read_text(p, "the block headers")?)
                .with_context(|| format!("parsing {}", p.display()))?,
        ),
        None => None,
    };
    let operator_key = operator_key.map(parse_operator_key).transpose()?;
    let opened = OpenedPackage::open(path)
        .with_context(|| format!("reading the package {}", path.display()))?;
    if let Some(index) = cite {
        if !holds_entry(&opened, index)? {
            return Err(VerifyError::Unsupported(format!(
                "--cite {index}: the package holds no record at that log index"
            ))
            .into());
        }
    }
    let pkg = opened.head();
    let bar = Bar {
        bar: std::sync::Mutex::new(None),
    };
    let show_bar =
        std::io::stderr().is_terminal() && pkg.manifest.record_count >= PROGRESS_THRESHOLD as u64;
    let mut opts = VerifyOptions::new(&log);
    opts.headers = headers.as_ref();
    opts.operator_key = operator_key;
    opts.signatures = if strict {
        SignatureMode::Strict
    } else {
        SignatureMode::Batch
    };
    if show_bar {
        opts.progress = Some(&bar);
    }
    let report = verify_opened(&opened, path, &opts)?;
    let mut outcome = Outcome {
        valid: report.valid,
        text: report.render_text(),
        json: serde_json::to_value(&report)?,
        reason: None,
    };
    if let Some(policy) = &policy {
        add_package_witnesses(&mut outcome, policy, pkg, &log);
        if report.valid && !outcome.valid {
            outcome.text.push_str(
                "Overall: INVALID: the package's own checks passed, its witnesses did not.\n",
            );
        }
    }
    if let Some(index) = cite {
        add_citation(&mut outcome, pkg, index);
    }
    if let Some((previous, previous_key)) = previous {
        add_succession(&mut outcome, (pkg, &report), previous, previous_key, &opts)?;
    }
    Ok(outcome)
}

fn verify_opened(
    opened: &OpenedPackage,
    path: &Path,
    opts: &VerifyOptions<'_>,
) -> anyhow::Result<verifier::package::Report> {
    Ok(match opened {
        OpenedPackage::V1(pkg) => verify_package(pkg, opts),
        OpenedPackage::V2(pkg) => verify_segmented(pkg, opts)
            .with_context(|| format!("reading the package {}", path.display()))?,
    })
}

/// Verifies the previous log's package with its own key (and the same options
/// otherwise), then the link between the two logs.
fn add_succession(
    outcome: &mut Outcome,
    (pkg, report): (&Package, &verifier::package::Report),
    previous: &Path,
    previous_key: &str,
    opts: &VerifyOptions<'_>,
) -> anyhow::Result<()> {
    let old_key = load_verifier_key(previous_key).context("loading the previous log's key")?;
    let old = OpenedPackage::open(previous)
        .with_context(|| format!("reading the package {}", previous.display()))?;
    let mut old_opts = VerifyOptions::new(&old_key);
    old_opts.headers = opts.headers;
    old_opts.signatures = opts.signatures;
    let old_report = verify_opened(&old, previous, &old_opts)?;
    let succession = check_succession(pkg, report, old.head(), &old_report, &old_key);
    outcome.text.push_str(&format!(
        "\nPrevious log's package {}:\n{}",
        previous.display(),
        old_report.render_text()
    ));
    outcome.text.push_str(&succession.render_text());
    if let Value::Object(map) = &mut outcome.json {
        map.insert("previous".into(), serde_json::to_value(&old_report)?);
        map.insert("succession".into(), serde_json::to_value(&succession)?);
    }
    if !succession.valid {
        outcome.invalidate(format!(
            "the link to the previous log does not hold: {}",
            succession.findings.join("; ")
        ));
    }
    Ok(())
}

/// The witnesses of the package's checkpoint. A failure here is one more reason the
/// package is invalid, reported beside the package's own findings.
fn add_package_witnesses(
    outcome: &mut Outcome,
    policy: &LoadedPolicy,
    pkg: &Package,
    log: &ledger_core::note::NoteVerifier,
) {
    match check_witnesses(policy, pkg.checkpoint_note.as_bytes(), log) {
        Ok(verdict) => outcome.add_witnesses(&verdict),
        Err(e) => {
            let detail = match &e {
                VerifyError::Witnesses(m) => m.clone(),
                other => other.to_string(),
            };
            let reason = format!("the package's checkpoint fails the witness policy: {detail}");
            outcome
                .text
                .push_str(&format!("Witnesses: INVALID: {reason}\n"));
            if let Value::Object(map) = &mut outcome.json {
                map.insert("witnesses".into(), json!({"error": reason}));
            }
            outcome.invalidate(reason);
        }
    }
}

/// Whether the package holds an entry at `index` (version 2: one segment at a time).
fn holds_entry(opened: &OpenedPackage, index: u64) -> Result<bool, VerifyError> {
    let head = opened.head();
    if head.records.find(index).is_some() || head.keys.find(index).is_some() {
        return Ok(true);
    }
    if let OpenedPackage::V2(pkg) = opened {
        for n in 0..pkg.segments {
            if pkg.segment(n)?.0.find(index).is_some() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// `--operator-key`: 64 hex digits of an Ed25519 public key.
fn parse_operator_key(hex_key: &str) -> Result<ledger_record::VerifyingKey, VerifyError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut bytes)
        .map_err(|_| VerifyError::malformed("--operator-key", "expected 64 hex digits"))?;
    ledger_record::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| VerifyError::malformed("--operator-key", "not an Ed25519 public key"))
}

/// `--cite`: the citation string of the record at `index` in the package's checkpoint,
/// marked as not backed when the package is invalid.
fn add_citation(outcome: &mut Outcome, pkg: &Package, index: u64) {
    let citation = Citation {
        origin: pkg.checkpoint.origin.clone(),
        index,
        size: pkg.checkpoint.size,
        root: pkg.checkpoint.root,
    };
    if outcome.valid {
        outcome
            .text
            .push_str(&format!("Citation for log index {index}: {citation}\n"));
    } else {
        outcome.text.push_str(&format!(
            "Citation for log index {index} (NOT backed: the package is invalid): {citation}\n"
        ));
    }
    if let Value::Object(map) = &mut outcome.json {
        map.insert("citation".into(), Value::String(citation.to_string()));
    }
}
