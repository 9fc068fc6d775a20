//! Helpers shared by the integration tests: fixed keys, sample records, the shared
//! vectors directory, and a naive CBOR writer that follows docs/RECORDS.md on its own, as
//! an oracle independent of the crate's encoder (and of cbor4ii).
#![allow(dead_code)]

use std::path::PathBuf;

use ledger_record::{
    Body, CarriedChain, ChainId, Deadlines, EvidenceBody, EvidenceItem, Hash, HealingBody, Id,
    KeyBody, KeyId, LinkBody, Outcome, Record, ReleaseBody, ReleaseStatement, RevocationReason,
    RolloutAction, RolloutBody, RolloutPlan, SignedRelease, SigningKey, Status, Tier,
    TimeoutReason, UnsignedRecord, UpdateBody, UpdateState, VerifyingKey, Version,
};

/// `<workspace root>/../shared/vectors`, found by walking up from this crate.
pub fn vectors_dir() -> PathBuf {
    let manifest = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    );
    manifest
        .ancestors()
        .map(|dir| dir.join("shared").join("vectors"))
        .find(|candidate| candidate.is_dir())
        .expect("shared/vectors beside the workspace")
}

/// A deterministic signing key; different `n` give different keys.
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn id(s: &str) -> Id {
    Id::new(s).unwrap()
}

pub fn chain(site: &str, appliance: &str) -> ChainId {
    ChainId::new(id(site), id(appliance))
}

pub fn item(i: usize) -> EvidenceItem {
    let status = [Status::Pass, Status::Warning, Status::Fail, Status::Error][i % 4];
    EvidenceItem {
        check_type: id(&format!("check_{i}")),
        host: id(&format!("ws-{:02}.clinic.example", i % 5)),
        status,
        observed_at_ms: 1_700_000_000_000 + i as u64 * 1000,
        details: format!("detail line {i}\nsecond line"),
        controls: vec!["HIPAA:164.312(b)".into(), format!("SOC2:CC7.{}", i % 3)],
    }
}

pub fn items(n: usize) -> Vec<EvidenceItem> {
    (0..n).map(item).collect()
}

pub fn healing_body() -> HealingBody {
    HealingBody {
        incident_id: id("inc-2024-0001"),
        check_type: id("disk_space"),
        pattern_signature: "disk_full:/var".into(),
        tier: Tier::L2,
        runbook_id: id("rb.clean-tmp"),
        action: "removed 3 GiB of stale files from /var/tmp".into(),
        outcome: Outcome::Success,
        started_at_ms: 1_700_000_000_000,
        ended_at_ms: 1_700_000_004_500,
        state_before: "97% used".into(),
        state_after: "61% used".into(),
    }
}

/// An unsigned record of appliance `clinic-1/box-1` signed by `key(1)`.
pub fn unsigned(sequence: u64, prev_hash: Hash, body: Body) -> UnsignedRecord {
    UnsignedRecord {
        site_id: id("clinic-1"),
        appliance_id: id("box-1"),
        sequence,
        prev_hash,
        time_ms: 1_700_000_000_000 + sequence,
        key_id: KeyId::of(&key(1).verifying_key()),
        body,
    }
}

/// One record of every body form, each the first of its own appliance chain.
pub fn one_of_each_kind() -> Vec<Record> {
    let signer = key(1);
    let operator = key(9);
    let mut out = Vec::new();
    let bodies = vec![
        Body::Evidence(EvidenceBody::inline(items(3)).unwrap()),
        Body::Evidence(EvidenceBody::committed(&items(7)).unwrap()),
        Body::Healing(healing_body()),
    ];
    for body in bodies {
        out.push(Record::sign(unsigned(1, Hash([0; 32]), body), &signer).unwrap());
    }
    // Rotation: signed by the old key, in the appliance's chain.
    out.push(
        Record::sign(
            unsigned(
                1,
                Hash([0; 32]),
                Body::Key(KeyBody::Rotation {
                    old_key_id: KeyId::of(&signer.verifying_key()),
                    new_public_key: key(2).verifying_key(),
                }),
            ),
            &signer,
        )
        .unwrap(),
    );
    // Enrolment and revocation: signed by the operator, in the operator's chain.
    for body in [
        KeyBody::Enrolment {
            subject: chain("clinic-1", "box-1"),
            public_key: signer.verifying_key(),
            enrolment_token_id: id("tok-123"),
        },
        KeyBody::Revocation {
            subject: chain("clinic-1", "box-1"),
            key_id: KeyId::of(&signer.verifying_key()),
            reason: RevocationReason::KeyCompromise,
        },
        link_body(&[(chain("clinic-1", "box-1"), 7, signer.verifying_key())]),
    ] {
        out.push(operator_record(&operator, Body::Key(body)));
    }
    // Release keys and a release: signed by the operator, in the operator's chain; the
    // release itself also by the release key.
    let release_key = key(5);
    for body in [
        ReleaseBody::KeyEnrolment {
            name: id("release-team"),
            public_key: release_key.verifying_key(),
        },
        ReleaseBody::KeyRevocation {
            key_id: KeyId::of(&release_key.verifying_key()),
            reason: RevocationReason::Superseded,
        },
        ReleaseBody::Release(signed_release(&release_key, "24.11.2", "24.5")),
    ] {
        out.push(operator_record(&operator, Body::Release(body)));
    }
    // A rollout opened and a member timed out: the operator's; an update step: the
    // appliance's own.
    for action in [
        RolloutAction::Open(Box::new(rollout_plan())),
        RolloutAction::TimedOut {
            member: chain("clinic-1", "box-1"),
            last_state: UpdateState::Downloading,
            reason: TimeoutReason::Silent,
        },
    ] {
        let body = RolloutBody {
            id: id("r-24.11.2"),
            action,
        };
        out.push(operator_record(&operator, Body::Rollout(body)));
    }
    let update = UpdateBody {
        rollout_id: id("r-24.11.2"),
        release_hash: Hash([0x77; 32]),
        state: UpdateState::HealthGate,
        reason: "boot 2 of 3".into(),
        detail: 2,
    };
    out.push(Record::sign(unsigned(1, Hash([0; 32]), Body::Update(update)), &signer).unwrap());
    out
}

/// A rollout plan: two sites and one appliance, three stages.
pub fn rollout_plan() -> RolloutPlan {
    RolloutPlan {
        release_hash: Hash([0x77; 32]),
        sites: vec![id("clinic-1"), id("clinic-2")],
        appliances: vec![chain("clinic-3", "box-9")],
        stages: vec![5, 25, 100],
        success_pct: 95,
        failure_pct: 5,
        soak_ms: 3_600_000,
        deadlines: Deadlines {
            offered_ms: 180_000,
            downloading_ms: 1_800_000,
            applying_ms: 1_800_000,
            rebooting_ms: 2_700_000,
            deferred_ms: 86_400_000,
        },
    }
}

/// A release statement of `version` with floor `min_version`, signed by `key`.
pub fn signed_release(key: &SigningKey, version: &str, min_version: &str) -> SignedRelease {
    let statement = ReleaseStatement {
        version: Version::parse(version).unwrap(),
        channel: id("stable"),
        artifact_sha256: Hash([0x5a; 32]),
        artifact_size: 734_003_200,
        urls: vec!["https://updates.example/appliance-24.11.2.img".into()],
        min_version: Version::parse(min_version).unwrap(),
        notes: "kernel 6.6.60; openssl 3.0.15".into(),
        key_id: KeyId::of(&key.verifying_key()),
    };
    SignedRelease::sign(statement, key).unwrap()
}

/// The first record of the operator chain with `body`, signed by `operator`.
pub fn operator_record(operator: &SigningKey, body: Body) -> Record {
    {
        let u = UnsignedRecord {
            site_id: id("operator"),
            appliance_id: id("ledger-operator"),
            sequence: 1,
            prev_hash: Hash([0; 32]),
            time_ms: 1_700_000_000_000,
            key_id: KeyId::of(&operator.verifying_key()),
            body,
        };
        Record::sign(u, operator).unwrap()
    }
}

/// The verifier key and a signed final checkpoint of a previous log, for link bodies.
pub fn previous_log(size: u64) -> (String, String) {
    let signer = ledger_core::note::NoteSigner::new("example.org/log/2026", &[42; 32]).unwrap();
    let checkpoint = ledger_core::checkpoint::Checkpoint {
        origin: "example.org/log/2026".into(),
        size,
        root: Hash([size as u8; 32]),
        extensions: Vec::new(),
    };
    let signed = checkpoint.sign(&signer).unwrap();
    (signer.verifier_key(), signed.as_str().to_owned())
}

/// A link body carrying `chains` (chain, last sequence, key) from [`previous_log`].
pub fn link_body(chains: &[(ChainId, u64, VerifyingKey)]) -> KeyBody {
    let (previous_log, previous_checkpoint) = previous_log(100);
    KeyBody::Link(LinkBody {
        previous_log,
        previous_checkpoint,
        period: "2027".into(),
        previous_period: "2026".into(),
        carried: chains
            .iter()
            .map(|(chain, sequence, key)| CarriedChain {
                chain: chain.clone(),
                sequence: *sequence,
                head_hash: Hash([*sequence as u8; 32]),
                public_key: *key,
            })
            .collect(),
    })
}

// ---- A naive CBOR writer (RFC 8949 §3), independent of the crate -----------------------

/// A CBOR item written exactly as described, in the given order, so tests can also
/// produce every non-deterministic variant.
#[derive(Debug, Clone, PartialEq)]
pub enum N {
    /// Unsigned integer, shortest head.
    U(u64),
    /// Unsigned integer with a forced additional-information value (24..=27).
    Wide(u64, u8),
    B(Vec<u8>),
    T(String),
    A(Vec<N>),
    /// Map with entries in the given order.
    M(Vec<(N, N)>),
    /// Indefinite-length array / map / text.
    IndefA(Vec<N>),
    IndefM(Vec<(N, N)>),
    IndefT(Vec<String>),
    /// Bytes copied verbatim.
    Raw(Vec<u8>),
}

pub fn head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    if n < 24 {
        vec![m | n as u8]
    } else if n <= 0xff {
        vec![m | 24, n as u8]
    } else if n <= 0xffff {
        let mut v = vec![m | 25];
        v.extend_from_slice(&(n as u16).to_be_bytes());
        v
    } else if n <= 0xffff_ffff {
        let mut v = vec![m | 26];
        v.extend_from_slice(&(n as u32).to_be_bytes());
        v
    } else {
        let mut v = vec![m | 27];
        v.extend_from_slice(&n.to_be_bytes());
        v
    }
}

impl N {
    pub fn enc(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            N::U(n) => out.extend(head(0, *n)),
            N::Wide(n, info) => {
                out.push(*info);
                let width = match info {
                    24 => 1,
                    25 => 2,
                    26 => 4,
                    27 => 8,
                    _ => panic!("bad width"),
                };
                out.extend_from_slice(&n.to_be_bytes()[8 - width..]);
            }
            N::B(b) => {
                out.extend(head(2, b.len() as u64));
                out.extend_from_slice(b);
            }
            N::T(s) => {
                out.extend(head(3, s.len() as u64));
                out.extend_from_slice(s.as_bytes());
            }
            N::A(items) => {
                out.extend(head(4, items.len() as u64));
                items.iter().for_each(|i| i.write(out));
            }
            N::M(entries) => {
                out.extend(head(5, entries.len() as u64));
                for (k, v) in entries {
                    k.write(out);
                    v.write(out);
                }
            }
            N::IndefA(items) => {
                out.push(0x9f);
                items.iter().for_each(|i| i.write(out));
                out.push(0xff);
            }
            N::IndefM(entries) => {
                out.push(0xbf);
                for (k, v) in entries {
                    k.write(out);
                    v.write(out);
                }
                out.push(0xff);
            }
            N::IndefT(chunks) => {
                out.push(0x7f);
                for c in chunks {
                    N::T(c.clone()).write(out);
                }
                out.push(0xff);
            }
            N::Raw(b) => out.extend_from_slice(b),
        }
    }
}

pub fn t(s: &str) -> N {
    N::T(s.to_owned())
}

/// A map with unsigned keys, in the given order.
pub fn m(entries: Vec<(u64, N)>) -> N {
    N::M(entries.into_iter().map(|(k, v)| (N::U(k), v)).collect())
}

// ---- The schema of docs/RECORDS.md, written out naively ---------------------------------

pub fn naive_item(item: &EvidenceItem) -> N {
    let status = match item.status {
        Status::Pass => 0,
        Status::Warning => 1,
        Status::Fail => 2,
        Status::Error => 3,
    };
    m(vec![
        (0, t(item.check_type.as_str())),
        (1, t(item.host.as_str())),
        (2, N::U(status)),
        (3, N::U(item.observed_at_ms)),
        (4, t(&item.details)),
        (5, N::A(item.controls.iter().map(|c| t(c)).collect())),
    ])
}

pub fn naive_body(body: &Body) -> N {
    match body {
        Body::Evidence(EvidenceBody::Inline { items }) => m(vec![
            (0, N::U(1)),
            (1, N::A(items.iter().map(naive_item).collect())),
        ]),
        Body::Evidence(EvidenceBody::Committed {
            items_root,
            item_count,
        }) => m(vec![
            (0, N::U(1)),
            (2, N::B(items_root.0.to_vec())),
            (3, N::U(*item_count)),
        ]),
        Body::Healing(h) => {
            let tier = match h.tier {
                Tier::L1 => 1,
                Tier::L2 => 2,
                Tier::L3 => 3,
            };
            let outcome = match h.outcome {
                Outcome::Success => 0,
                Outcome::Failure => 1,
                Outcome::Escalated => 2,
            };
            m(vec![
                (0, N::U(1)),
                (1, t(h.incident_id.as_str())),
                (2, t(h.check_type.as_str())),
                (3, t(&h.pattern_signature)),
                (4, N::U(tier)),
                (5, t(h.runbook_id.as_str())),
                (6, t(&h.action)),
                (7, N::U(outcome)),
                (8, N::U(h.started_at_ms)),
                (9, N::U(h.ended_at_ms)),
                (10, t(&h.state_before)),
                (11, t(&h.state_after)),
            ])
        }
        Body::Key(KeyBody::Enrolment {
            subject,
            public_key,
            enrolment_token_id,
        }) => m(vec![
            (0, N::U(1)),
            (1, N::U(0)),
            (2, t(subject.site_id.as_str())),
            (3, t(subject.appliance_id.as_str())),
            (4, N::B(public_key.as_bytes().to_vec())),
            (5, t(enrolment_token_id.as_str())),
        ]),
        Body::Key(KeyBody::Rotation {
            old_key_id,
            new_public_key,
        }) => m(vec![
            (0, N::U(1)),
            (1, N::U(1)),
            (2, N::B(old_key_id.0.to_vec())),
            (3, N::B(new_public_key.as_bytes().to_vec())),
        ]),
        Body::Key(KeyBody::Revocation {
            subject,
            key_id,
            reason,
        }) => m(vec![
            (0, N::U(1)),
            (1, N::U(2)),
            (2, t(subject.site_id.as_str())),
            (3, t(subject.appliance_id.as_str())),
            (4, N::B(key_id.0.to_vec())),
            (5, N::U(reason.code())),
        ]),
        Body::Key(KeyBody::Link(link)) => m(vec![
            (0, N::U(1)),
            (1, N::U(3)),
            (2, t(&link.previous_log)),
            (3, t(&link.previous_checkpoint)),
            (4, t(&link.period)),
            (
                5,
                N::A(
                    link.carried
                        .iter()
                        .map(|c| {
                            m(vec![
                                (0, t(c.chain.site_id.as_str())),
                                (1, t(c.chain.appliance_id.as_str())),
                                (2, N::U(c.sequence)),
                                (3, N::B(c.head_hash.0.to_vec())),
                                (4, N::B(c.public_key.as_bytes().to_vec())),
                            ])
                        })
                        .collect(),
                ),
            ),
            (6, t(&link.previous_period)),
        ]),
        Body::Release(r) => naive_release_body(r),
        Body::Rollout(r) => naive_rollout_body(r),
        Body::Update(u) => m(vec![
            (0, N::U(1)),
            (1, t(u.rollout_id.as_str())),
            (2, N::B(u.release_hash.0.to_vec())),
            (3, N::U(u.state.code())),
            (4, t(&u.reason)),
            (5, N::U(u.detail)),
        ]),
    }
}

pub fn kind_code(body: &Body) -> u64 {
    match body {
        Body::Evidence(_) => 1,
        Body::Healing(_) => 2,
        Body::Key(_) => 3,
        Body::Release(_) => 4,
        Body::Rollout(_) => 5,
        Body::Update(_) => 6,
    }
}

fn naive_chain(c: &ChainId) -> N {
    m(vec![
        (0, t(c.site_id.as_str())),
        (1, t(c.appliance_id.as_str())),
    ])
}

/// The rollout body as docs/RECORDS.md §5.6 spells it.
fn naive_rollout_body(r: &RolloutBody) -> N {
    let mut entries = vec![(0, N::U(1)), (2, t(r.id.as_str()))];
    match &r.action {
        RolloutAction::Open(p) => {
            let d = &p.deadlines;
            entries.extend([
                (1, N::U(0)),
                (3, N::B(p.release_hash.0.to_vec())),
                (4, N::A(p.sites.iter().map(|s| t(s.as_str())).collect())),
                (5, N::A(p.appliances.iter().map(naive_chain).collect())),
                (6, N::A(p.stages.iter().map(|&x| N::U(x)).collect())),
                (7, N::U(p.success_pct)),
                (8, N::U(p.failure_pct)),
                (9, N::U(p.soak_ms)),
                (
                    10,
                    m(vec![
                        (0, N::U(d.offered_ms)),
                        (1, N::U(d.downloading_ms)),
                        (2, N::U(d.applying_ms)),
                        (3, N::U(d.rebooting_ms)),
                        (4, N::U(d.deferred_ms)),
                    ]),
                ),
            ]);
        }
        RolloutAction::TimedOut {
            member,
            last_state,
            reason,
        } => entries.extend([
            (1, N::U(6)),
            (4, naive_chain(member)),
            (5, N::U(last_state.code())),
            (6, N::U(reason.code())),
        ]),
        other => panic!("no naive form for {other:?}"),
    }
    entries.sort_by_key(|(k, _)| *k);
    m(entries)
}

/// The statement map of a signed release, as docs/RECORDS.md §5.5 spells it.
pub fn naive_statement(s: &ReleaseStatement) -> N {
    m(vec![
        (0, N::U(1)),
        (1, t(s.version.as_str())),
        (2, t(s.channel.as_str())),
        (3, N::B(s.artifact_sha256.0.to_vec())),
        (4, N::U(s.artifact_size)),
        (5, N::A(s.urls.iter().map(|u| t(u)).collect())),
        (6, t(s.min_version.as_str())),
        (7, t(&s.notes)),
        (8, N::B(s.key_id.0.to_vec())),
    ])
}

fn naive_release_body(body: &ReleaseBody) -> N {
    match body {
        ReleaseBody::KeyEnrolment { name, public_key } => m(vec![
            (0, N::U(1)),
            (1, N::U(0)),
            (2, t(name.as_str())),
            (3, N::B(public_key.as_bytes().to_vec())),
        ]),
        ReleaseBody::KeyRevocation { key_id, reason } => m(vec![
            (0, N::U(1)),
            (1, N::U(1)),
            (2, N::B(key_id.0.to_vec())),
            (3, N::U(reason.code())),
        ]),
        ReleaseBody::Release(signed) => m(vec![
            (0, N::U(1)),
            (1, N::U(2)),
            (2, naive_statement(&signed.statement)),
            (3, N::B(signed.signature.to_bytes().to_vec())),
        ]),
    }
}

/// The envelope entries of docs/RECORDS.md in key order, signature last when given.
pub fn naive_entries(u: &UnsignedRecord, signature: Option<&[u8; 64]>) -> Vec<(u64, N)> {
    let mut entries = vec![
        (0, N::U(1)),
        (1, N::U(kind_code(&u.body))),
        (2, t(u.site_id.as_str())),
        (3, t(u.appliance_id.as_str())),
        (4, N::U(u.sequence)),
        (5, N::B(u.prev_hash.0.to_vec())),
        (6, N::U(u.time_ms)),
        (7, N::B(u.key_id.0.to_vec())),
        (8, naive_body(&u.body)),
    ];
    if let Some(sig) = signature {
        entries.push((9, N::B(sig.to_vec())));
    }
    entries
}

/// The naive encoding of a signed record.
pub fn naive_record(record: &Record) -> Vec<u8> {
    m(naive_entries(
        record.unsigned(),
        Some(&record.signature().to_bytes()),
    ))
    .enc()
}
