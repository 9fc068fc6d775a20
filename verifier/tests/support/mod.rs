//! Test support shared by the integration tests and the `gen_package` example: locating
//! the shared vectors, running the built binary, and a small in-memory log that makes
//! evidence packages with the project's pure crates only (records signed with
//! `ledger-record`, a `MemoryTree`, a checkpoint signed with `NoteSigner`, a stamp built
//! with `anchor`'s builder and a synthetic Bitcoin header).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anchor::{Attestation, DetachedTimestamp, HashOp, Op, TimestampBuilder};
use ledger_core::checkpoint::Checkpoint;
use ledger_core::hash::Hash;
use ledger_core::note::NoteSigner;
use ledger_core::tree::MemoryTree;
use ledger_record::{
    Body, ChainId, EvidenceBody, EvidenceItem, HealingBody, Id, KeyBody, KeyId, Outcome, Record,
    RevocationReason, SigningKey, Status, Tier, UnsignedRecord,
};
use verifier::package::{PackageFiles, PackageWriter};

/// `shared/vectors`, found beside the workspace root whatever the checkout location.
pub fn vectors_dir() -> PathBuf {
    let manifest = &std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    );
    for dir in manifest.ancestors() {
        let candidate = dir.join("shared").join("vectors");
        if candidate.is_dir() {
            return candidate;
        }
    }
    panic!("shared/vectors not found above {}", manifest.display());
}

/// Runs the built `ledger-verify` and returns (exit code, stdout, stderr). Only
/// integration tests know the binary's path.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let Some(bin) = option_env!("CARGO_BIN_EXE_ledger-verify") else {
        panic!("only integration tests know the ledger-verify binary");
    };
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("run ledger-verify");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A deterministic key from a label.
pub fn key(label: &str) -> SigningKey {
    let seed: [u8; 32] = sha2_digest(label.as_bytes());
    SigningKey::from_bytes(&seed)
}

fn sha2_digest(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

pub fn chain(site: &str, appliance: &str) -> ChainId {
    ChainId::new(Id::new(site).unwrap(), Id::new(appliance).unwrap())
}

/// Alternating healing and evidence bodies, with varied outcomes and statuses.
pub fn body(n: u64) -> Body {
    if n % 2 == 0 {
        let outcome =
            [Outcome::Success, Outcome::Failure, Outcome::Escalated][(n / 2 % 3) as usize];
        Body::Healing(HealingBody {
            incident_id: Id::new(format!("inc-{n}")).unwrap(),
            check_type: Id::new("disk_space").unwrap(),
            pattern_signature: "disk usage above 90%".into(),
            tier: Tier::L1,
            runbook_id: Id::new("rb-cleanup-tmp").unwrap(),
            action: format!("removed temporary files (run {n})"),
            outcome,
            started_at_ms: 1_700_000_000_000 + n * 1000,
            ended_at_ms: 1_700_000_000_500 + n * 1000,
            state_before: "93% used".into(),
            state_after: "61% used".into(),
        })
    } else {
        let status = [Status::Pass, Status::Warning, Status::Fail, Status::Error][(n % 4) as usize];
        Body::Evidence(
            EvidenceBody::inline(vec![EvidenceItem {
                check_type: Id::new("disk_encryption").unwrap(),
                host: Id::new("ws-01").unwrap(),
                status,
                observed_at_ms: 1_700_000_000_000 + n * 1000,
                details: format!("check {n}"),
                controls: vec!["HIPAA:164.312(a)(2)(iv)".into()],
            }])
            .unwrap(),
        )
    }
}

struct ApplianceState {
    key: SigningKey,
    sequence: u64,
    prev: Hash,
}

/// An in-memory log with an operator and appliances.
pub struct LogSim {
    pub origin: String,
    pub log_signer: NoteSigner,
    pub operator: SigningKey,
    pub operator_chain: ChainId,
    operator_seq: u64,
    operator_prev: Hash,
    pub entries: Vec<Vec<u8>>,
    pub tree: MemoryTree,
    /// Log indexes of key records.
    pub key_indexes: Vec<u64>,
    appliances: BTreeMap<ChainId, ApplianceState>,
    pub time_ms: u64,
}

impl LogSim {
    pub fn new(origin: &str) -> LogSim {
        LogSim {
            origin: origin.to_owned(),
            log_signer: NoteSigner::new(origin, &sha2_digest(b"test log key")).unwrap(),
            operator: key("operator"),
            operator_chain: chain("operator", "ledger-operator"),
            operator_seq: 0,
            operator_prev: Hash([0; 32]),
            entries: Vec::new(),
            tree: MemoryTree::new(),
            key_indexes: Vec::new(),
            appliances: BTreeMap::new(),
            time_ms: 1_700_000_000_000,
        }
    }

    pub fn vkey(&self) -> String {
        self.log_signer.verifier_key()
    }

    /// Appends entry bytes; returns the log index.
    pub fn append_bytes(&mut self, bytes: Vec<u8>) -> u64 {
        self.tree.push_entry(&bytes);
        self.entries.push(bytes);
        self.entries.len() as u64 - 1
    }

    fn operator_record(&mut self, body: KeyBody) -> u64 {
        self.operator_seq += 1;
        self.time_ms += 1;
        let unsigned = UnsignedRecord {
            site_id: self.operator_chain.site_id.clone(),
            appliance_id: self.operator_chain.appliance_id.clone(),
            sequence: self.operator_seq,
            prev_hash: self.operator_prev,
            time_ms: self.time_ms,
            key_id: KeyId::of(&self.operator.verifying_key()),
            body: Body::Key(body),
        };
        let record = Record::sign(unsigned, &self.operator).unwrap();
        self.operator_prev = record.hash();
        let index = self.append_bytes(record.encode());
        self.key_indexes.push(index);
        index
    }

    /// Enrols an appliance with a key derived from its name.
    pub fn enrol(&mut self, c: &ChainId) -> u64 {
        let k = key(&format!("appliance {c}"));
        self.appliances.insert(
            c.clone(),
            ApplianceState {
                key: k.clone(),
                sequence: 0,
                prev: Hash([0; 32]),
            },
        );
        self.operator_record(KeyBody::Enrolment {
            subject: c.clone(),
            public_key: k.verifying_key(),
            enrolment_token_id: Id::new(format!("tok-{}", c.appliance_id)).unwrap(),
        })
    }

    /// Revokes the appliance's current key (the appliance keeps it, to misbehave).
    pub fn revoke(&mut self, c: &ChainId) -> u64 {
        let key_id = KeyId::of(&self.appliances[c].key.verifying_key());
        self.operator_record(KeyBody::Revocation {
            subject: c.clone(),
            key_id,
            reason: RevocationReason::KeyCompromise,
        })
    }

    /// The next record of an appliance, signed with `signer` (normally its own key),
    /// advancing its chain.
    pub fn next_record_signed_by(&mut self, c: &ChainId, n: u64, signer: &SigningKey) -> Record {
        self.time_ms += 1;
        let st = self.appliances.get_mut(c).unwrap();
        st.sequence += 1;
        let unsigned = UnsignedRecord {
            site_id: c.site_id.clone(),
            appliance_id: c.appliance_id.clone(),
            sequence: st.sequence,
            prev_hash: st.prev,
            time_ms: self.time_ms,
            key_id: KeyId::of(&signer.verifying_key()),
            body: body(n),
        };
        let record = Record::sign(unsigned, signer).unwrap();
        st.prev = record.hash();
        record
    }

    pub fn appliance_key(&self, c: &ChainId) -> SigningKey {
        self.appliances[c].key.clone()
    }

    /// Enrols `c` and returns its key, for callers that make its records themselves
    /// (see [`appliance_chain`]).
    pub fn enrol_external(&mut self, c: &ChainId) -> SigningKey {
        self.enrol(c);
        self.appliance_key(c)
    }

    /// Appends the next record of an appliance signed with its key.
    pub fn append_record(&mut self, c: &ChainId, n: u64) -> u64 {
        let k = self.appliance_key(c);
        let r = self.next_record_signed_by(c, n, &k);
        self.append_bytes(r.encode())
    }

    /// The signed checkpoint note at the current size.
    pub fn checkpoint(&self) -> String {
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: self.tree.size(),
            root: self.tree.root(),
            extensions: vec![],
        };
        cp.sign(&self.log_signer).unwrap().as_str().to_owned()
    }
}

/// The checkpoint body (note text) of a signed checkpoint note.
pub fn body_of(note: &str) -> String {
    ledger_core::note::Note::parse(note.as_bytes())
        .unwrap()
        .text()
        .to_owned()
}

/// A stamp of `data` with a Bitcoin attestation at `height`, and a synthetic 80-byte
/// header whose Merkle root field (bytes 36..68) is the attested message and whose
/// nTime (bytes 68..72, little-endian) is `time`. Returns (ots bytes, headers line).
pub fn stamp(data: &[u8], height: u64, time: u32) -> (Vec<u8>, String) {
    let mut stamp = DetachedTimestamp::for_data(HashOp::Sha256, data);
    let chain = TimestampBuilder::new(&stamp.digest)
        .unwrap()
        .op(Op::Append(vec![0x5a; 16]))
        .unwrap()
        .op(Op::SHA256)
        .unwrap()
        .op(Op::Prepend(vec![0xa5; 32]))
        .unwrap()
        .op(Op::SHA256)
        .unwrap();
    let message = chain.message().to_vec();
    stamp.timestamp = chain.attest(Attestation::Bitcoin { height }).unwrap();
    let mut header = [0u8; 80];
    header[0] = 4;
    header[36..68].copy_from_slice(&message);
    header[68..72].copy_from_slice(&time.to_le_bytes());
    header[72..76].copy_from_slice(&0x1d00ffffu32.to_le_bytes());
    (
        stamp.to_bytes().unwrap(),
        format!("{height} {}\n", hex::encode(header)),
    )
}

/// A package of the log's current checkpoint with every key record and the records of
/// `sites` that `include` selects (by log index and record).
pub fn package_files_with(
    sim: &LogSim,
    sites: &[&str],
    include: impl Fn(u64, &Record) -> bool,
    ots: Option<&[u8]>,
    headers: Option<&str>,
) -> PackageFiles {
    let note = sim.checkpoint();
    let mut w =
        PackageWriter::new(&note, &sim.operator.verifying_key(), &sim.operator_chain).unwrap();
    w.log_verifier_key(&sim.vkey());
    w.sites(sites.iter().copied());
    w.period(1_700_000_000_000, 1_800_000_000_000);
    for (i, bytes) in sim.entries.iter().enumerate() {
        let index = i as u64;
        if sim.key_indexes.contains(&index) {
            w.add_key_record(index, bytes.clone()).unwrap();
        }
        let r = Record::decode(bytes).unwrap();
        if sites.contains(&r.site_id().as_str()) && include(index, &r) {
            w.add_record(index, bytes.clone()).unwrap();
        }
    }
    if let Some(o) = ots {
        w.timestamp(o.to_vec());
    }
    if let Some(h) = headers {
        w.headers(h.to_owned());
    }
    w.prove_with(&sim.tree).unwrap();
    w.to_files().unwrap()
}

/// A package with every record of `sites`.
pub fn package_files(
    sim: &LogSim,
    sites: &[&str],
    ots: Option<&[u8]>,
    headers: Option<&str>,
) -> PackageFiles {
    package_files_with(sim, sites, |_, _| true, ots, headers)
}

/// `count` chained records of one appliance, signed with `key`, encoded. Independent of
/// any log, so many appliances can be made in parallel.
pub fn appliance_chain(c: &ChainId, key: &SigningKey, count: u64, start_ms: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(count as usize);
    let mut prev = Hash([0; 32]);
    for seq in 1..=count {
        let unsigned = UnsignedRecord {
            site_id: c.site_id.clone(),
            appliance_id: c.appliance_id.clone(),
            sequence: seq,
            prev_hash: prev,
            time_ms: start_ms + seq,
            key_id: KeyId::of(&key.verifying_key()),
            body: body(seq),
        };
        let record = Record::sign(unsigned, key).unwrap();
        prev = record.hash();
        out.push(record.encode());
    }
    out
}
