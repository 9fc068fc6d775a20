//! Writes `.ots` files with this crate's serializer into a directory, plus
//! `expected.tsv` (file, tab, a line `ots info` must print), for
//! `tests/ots_client_check.sh` to check with the official client.
//!
//! Usage: `cargo run -p anchor --example write_samples -- <out-dir>`

use std::fmt::Write as _;
use std::path::PathBuf;

use anchor::{Attestation, DetachedTimestamp, HashOp, Op, OtsError, TimestampBuilder};

const ALICE: &str = "https://alice.btc.calendar.opentimestamps.org";
const BOB: &str = "https://bob.btc.calendar.opentimestamps.org";

/// How python prints a `bytes` value (`repr`), as `ots info` shows unknown
/// attestations.
fn py_bytes_repr(bytes: &[u8]) -> String {
    let mut s = String::from("b'");
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\'' => s.push_str("\\'"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('\'');
    s
}

/// The line `ots info` prints for an attestation (python's `repr`).
fn info_line(a: &Attestation) -> String {
    match a {
        Attestation::Pending { uri } => format!("verify PendingAttestation('{uri}')"),
        Attestation::Bitcoin { height } => {
            format!("verify BitcoinBlockHeaderAttestation({height})")
        }
        Attestation::Litecoin { height } => {
            format!("verify LitecoinBlockHeaderAttestation({height})")
        }
        Attestation::Ethereum { height } => {
            format!("verify EthereumBlockHeaderAttestation({height})")
        }
        Attestation::Unknown { tag, payload } => format!(
            "verify UnknownAttestation({}, {})",
            py_bytes_repr(tag),
            py_bytes_repr(payload)
        ),
    }
}

/// `shared/vectors/ots` above the crate. The directory is taken from the environment
/// `cargo run` sets, not from the compile-time value: a target directory shared by
/// several clones keeps the path of whichever clone built the binary first.
fn vectors_dir() -> Option<PathBuf> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .ancestors()
        .map(|d| d.join("shared").join("vectors").join("ots"))
        .find(|d| d.is_dir())
}

struct Samples {
    dir: PathBuf,
    expected: String,
}

impl Samples {
    fn write(
        &mut self,
        name: &str,
        stamp: &DetachedTimestamp,
        lines: &[String],
    ) -> Result<(), Box<dyn std::error::Error>> {
        std::fs::write(self.dir.join(name), stamp.to_bytes()?)?;
        let hash_line = format!(
            "File {} hash: {}",
            stamp.file_hash_op.name(),
            hex::encode(&stamp.digest)
        );
        for line in std::iter::once(&hash_line).chain(lines) {
            let _ = writeln!(self.expected, "{name}\t{line}");
        }
        Ok(())
    }
}

fn pending_sample() -> Result<DetachedTimestamp, OtsError> {
    let mut stamp =
        DetachedTimestamp::for_data(HashOp::Sha256, b"Evidence Ledger sample checkpoint\n");
    let chain = TimestampBuilder::new(&stamp.digest)?
        .op(Op::Append(vec![0x11; 16]))?
        .op(Op::SHA256)?;
    stamp
        .timestamp
        .merge(chain.attest(Attestation::pending(ALICE)?)?);
    Ok(stamp)
}

fn bitcoin_sample() -> Result<DetachedTimestamp, OtsError> {
    let mut stamp =
        DetachedTimestamp::for_data(HashOp::Sha256, b"Evidence Ledger sample checkpoint\n");
    let chain = TimestampBuilder::new(&stamp.digest)?
        .op(Op::Prepend(b"sibling".to_vec()))?
        .op(Op::SHA256)?;
    stamp
        .timestamp
        .merge(chain.attest(Attestation::Bitcoin { height: 358_391 })?);
    Ok(stamp)
}

/// Forks, every unary op and every attestation kind.
fn forks_sample() -> Result<(DetachedTimestamp, Vec<Attestation>), OtsError> {
    let mut stamp = DetachedTimestamp::for_data(HashOp::Sha1, b"forks");
    let attestations = vec![
        Attestation::pending(ALICE)?,
        Attestation::pending(BOB)?,
        Attestation::Bitcoin { height: 129 },
        Attestation::Bitcoin { height: 256 },
        Attestation::Litecoin { height: 2_000_000 },
        Attestation::Ethereum { height: 4_000_000 },
        Attestation::Unknown {
            tag: [1, 2, 3, 4, 5, 6, 7, 8],
            payload: b"anchor".to_vec(),
        },
    ];
    let left = TimestampBuilder::new(&stamp.digest)?
        .op(Op::Append(vec![1]))?
        .op(Op::SHA256)?;
    let mut tip = anchor::Timestamp::new();
    for a in &attestations[..2] {
        tip.add_attestation(a.clone());
    }
    stamp.timestamp.merge(left.finish(tip)?);
    let right = TimestampBuilder::new(&stamp.digest)?
        .op(Op::Prepend(vec![2]))?
        .op(Op::Hash(HashOp::Keccak256))?
        .op(Op::Reverse)?
        .op(Op::Hexlify)?
        .op(Op::Hash(HashOp::Ripemd160))?;
    let mut tip = anchor::Timestamp::new();
    for a in &attestations[2..] {
        tip.add_attestation(a.clone());
    }
    stamp.timestamp.merge(right.finish(tip)?);
    Ok((stamp, attestations))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: write_samples <out-dir>")?;
    std::fs::create_dir_all(&dir)?;
    let mut samples = Samples {
        dir: dir.clone(),
        expected: String::new(),
    };

    samples.write(
        "pending.ots",
        &pending_sample()?,
        &[
            format!("append {}", "11".repeat(16)),
            "sha256".into(),
            format!("verify PendingAttestation('{ALICE}')"),
        ],
    )?;
    samples.write(
        "bitcoin.ots",
        &bitcoin_sample()?,
        &[
            format!("prepend {}", hex::encode(b"sibling")),
            "verify BitcoinBlockHeaderAttestation(358391)".into(),
        ],
    )?;
    let (forks, attestations) = forks_sample()?;
    let mut lines: Vec<String> = attestations.iter().map(info_line).collect();
    lines.extend(
        [
            "keccak256",
            "reverse",
            "hexlify",
            "ripemd160",
            "append 01",
            "prepend 02",
        ]
        .map(String::from),
    );
    samples.write("forks.ots", &forks, &lines)?;

    // Every valid vector, re-serialized by us.
    let vectors = vectors_dir().ok_or("shared/vectors/ots not found")?;
    let mut names = Vec::new();
    for sub in ["", "calendar_responses"] {
        for entry in std::fs::read_dir(vectors.join(sub))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "ots") {
                names.push(path);
            }
        }
    }
    names.sort();
    for path in names {
        let stamp = DetachedTimestamp::parse(&std::fs::read(&path)?)?;
        let name = format!(
            "vector-{}",
            path.file_name().ok_or("no file name")?.to_string_lossy()
        );
        let lines: Vec<String> = stamp
            .attestations()?
            .iter()
            .map(|a| info_line(a.attestation))
            .collect();
        samples.write(&name, &stamp, &lines)?;
    }

    std::fs::write(dir.join("expected.tsv"), &samples.expected)?;
    println!("wrote samples to {}", dir.display());
    Ok(())
}
