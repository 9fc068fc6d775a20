//! `witness_policy` against a real ledgerd on 127.0.0.1, with the test proxy playing the
//! witnesses: in `Mode::Cosign` it cosigns (cosignature/v1) the checkpoint of every
//! receipt, as ledgerd does once its quorum is met; in `Mode::Honest` receipts carry the
//! log's signature only, as a fail-open ledgerd answers while its witnesses are down.
//! With a 2-of-3 policy: cosigned receipts are delivered; log-only ones keep the records
//! in the outbox ("awaiting witnesses", not a failure, not an alarm), and the same
//! records are delivered once the answers are cosigned, without being logged twice.

mod common;

use std::time::Duration;

use appliance::outbox::now_ms;
use appliance::{Agent, Config, InputKind, RunOptions};
use common::*;

fn witnesses() -> Vec<(String, [u8; 32])> {
    (1..=3u8)
        .map(|i| (format!("w{i}.example"), [i; 32]))
        .collect()
}

/// A 2-of-3 policy of [`witnesses`], written into `dir`; returns its path.
fn policy_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::from("# test witnesses\n");
    for (i, (name, seed)) in witnesses().iter().enumerate() {
        let v = ledger_core::cosignature::CosignatureSigner::new(name, seed)
            .unwrap()
            .verifier();
        text.push_str(&format!("witness W{} {}\n", i + 1, v.verifier_key()));
    }
    text.push_str("group two 2 W1 W2 W3\nquorum two\n");
    let path = dir.join("witnesses.policy");
    std::fs::write(&path, text).unwrap();
    path
}

/// An agent uploading over HTTP through `proxy`, with the witness policy, enrolled.
async fn agent_behind(dir: &std::path::Path, server: &Server, proxy: &Proxy) -> Agent {
    let text = config_text(
        dir,
        &server.log_key().await,
        &proxy.url,
        &server.grpc,
        "http",
    );
    let text = format!("{text}witness_policy = {:?}\n", policy_file(dir));
    let mut agent = Agent::open(Config::parse(&text).unwrap()).unwrap();
    assert_eq!(agent.witness_policy().map(|p| p.quorum()), Some("two"));
    agent
        .enrol(&server.token(SITE, APPLIANCE).await)
        .await
        .unwrap();
    agent
}

fn record_n(agent: &mut Agent, from: u64, n: u64) {
    for i in from..from + n {
        agent
            .record_json(InputKind::Evidence, evidence_json(i).as_bytes())
            .unwrap();
    }
}

async fn drain(agent: &mut Agent) -> appliance::RunSummary {
    let options = RunOptions {
        until_drained: true,
    };
    tokio::time::timeout(
        Duration::from_secs(60),
        appliance::run(agent, options, std::future::pending()),
    )
    .await
    .expect("drained within 60 s")
    .expect("drained without error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_met_delivers() {
    let sdir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let server = Server::start(sdir.path()).await;
    let proxy = Proxy::start(&server.http).await;
    proxy.set(Mode::Cosign(witnesses()[..2].to_vec()));
    let mut agent = agent_behind(adir.path(), &server, &proxy).await;
    let credential = agent.credential().unwrap();
    record_n(&mut agent, 0, 20);
    let summary = drain(&mut agent).await;
    assert_eq!(summary.delivered, 20);
    assert_eq!(summary.awaiting_witnesses, 0);
    // Every stored receipt carries the cosignatures that met the quorum.
    for seq in 1..=20 {
        let (_, _, receipt) = agent.outbox().delivery(seq).unwrap().expect("delivered");
        let note = ledger_core::receipt::Receipt::parse(receipt.as_bytes())
            .unwrap()
            .checkpoint_note()
            .to_owned();
        agent
            .witness_policy()
            .unwrap()
            .check(&note, agent.log_key())
            .expect("stored receipt meets the quorum");
    }
    let logged = server.chain(&credential, 20).await;
    assert_chain_matches(&agent, &logged);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_not_met_keeps_records_until_cosigned() {
    let sdir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let server = Server::start(sdir.path()).await;
    let proxy = Proxy::start(&server.http).await;
    let mut agent = agent_behind(adir.path(), &server, &proxy).await;
    let credential = agent.credential().unwrap();
    record_n(&mut agent, 0, 12);

    // One witness only, then none: genuine receipts, but below the quorum.
    for mode in [Mode::Cosign(witnesses()[2..].to_vec()), Mode::Honest] {
        proxy.set(mode.clone());
        let summary = appliance::run(
            &mut agent,
            RunOptions::default(),
            tokio::time::sleep(Duration::from_secs(2)),
        )
        .await
        .expect("awaiting witnesses is not an error of the run");
        assert_eq!(summary.delivered, 0, "{mode:?}");
        assert!(summary.awaiting_witnesses > 0, "{mode:?}: retried");
        assert_eq!(summary.failed_attempts, 0, "{mode:?}: not a failure");
        let stats = agent.outbox().stats(now_ms()).unwrap();
        assert_eq!(stats.outbox_depth, 12, "{mode:?}: kept in the outbox");
        let last = stats.last_error.unwrap_or_default();
        assert!(last.contains("awaiting witnesses"), "{mode:?}: {last}");
        assert!(last.contains("\"two\""), "{mode:?}: {last}");
        assert!(stats.trusting_log, "{mode:?}: not an alarm");
    }

    // The server has the records already; once the answers are cosigned the retries
    // are duplicates with their original indexes, delivered, nothing logged twice.
    let size_before = server.tree_size().await;
    proxy.set(Mode::Cosign(witnesses()));
    let summary = drain(&mut agent).await;
    assert_eq!(summary.delivered, 12);
    assert_eq!(
        server.tree_size().await,
        size_before,
        "retries appended nothing"
    );
    let stats = agent.outbox().stats(now_ms()).unwrap();
    assert_eq!(stats.outbox_depth, 0);
    assert!(stats.last_error.is_none());
    let logged = server.chain(&credential, 12).await;
    assert_chain_matches(&agent, &logged);
    server.stop().await;
}

/// The receipt checks of [`appliance::trust::Trust`] with a policy, without a server:
/// receipts built here over a small tree, on checkpoints cosigned by 0 to 3 witnesses.
/// (The consistency checks need no server either: the first checkpoint is adopted.)
mod trust_level {
    use appliance::client::{Answer, Client};
    use appliance::shared_outbox::SharedOutbox;
    use appliance::trust::Trust;
    use appliance::witnesses::WitnessPolicy;
    use appliance::{AgentError, Outbox};
    use ledger_core::checkpoint::Checkpoint;
    use ledger_core::cosignature::CosignatureSigner;
    use ledger_core::hash::Hash;
    use ledger_core::note::{Note, NoteSigner};
    use ledger_core::proof::inclusion_proof;
    use ledger_core::receipt::Receipt;
    use ledger_core::tree::MemoryTree;

    use super::{cosign_note, witnesses};

    struct Log {
        signer: NoteSigner,
        tree: MemoryTree,
        entries: Vec<Vec<u8>>,
        note: String,
    }

    fn log() -> Log {
        let signer = NoteSigner::new("example.com/log", &[42; 32]).unwrap();
        let mut tree = MemoryTree::new();
        let entries: Vec<Vec<u8>> = (0..4).map(|i| format!("record {i}").into_bytes()).collect();
        for e in &entries {
            tree.push_entry(e);
        }
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: tree.size(),
            root: tree.root(),
            extensions: vec![],
        };
        let note = cp.sign(&signer).unwrap().as_str().to_owned();
        Log {
            signer,
            tree,
            entries,
            note,
        }
    }

    fn answer(log: &Log, index: u64, note: &str) -> Answer {
        let proof = inclusion_proof(&log.tree, index, log.tree.size()).unwrap();
        let bytes = &log.entries[index as usize];
        Answer {
            index,
            duplicate: false,
            record_hash: Hash(sha2_256(bytes)),
            receipt: Receipt::new(index, proof, note).unwrap().to_text(),
        }
    }

    fn sha2_256(bytes: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(bytes).into()
    }

    fn policy() -> WitnessPolicy {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read(super::policy_file(dir.path())).unwrap();
        WitnessPolicy::parse(&text).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn receipts_need_the_quorum() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = SharedOutbox::new(Outbox::open(dir.path()).unwrap());
        // Never contacted: the first trusted checkpoint needs no consistency proof.
        let client = Client::new("http://127.0.0.1:9", None, None);
        let log = log();
        let bytes = log.entries[2].clone();
        let mut trust = Trust::new(log.signer.verifier(), dir.path(), None)
            .unwrap()
            .with_witnesses(Some(policy()));

        for signers in [0, 1] {
            let note = cosign_note(&log.note, &witnesses()[..signers]);
            let e = trust
                .verify_answer(&bytes, &answer(&log, 2, &note), &client, &outbox)
                .await
                .unwrap_err();
            assert!(matches!(e, AgentError::AwaitingWitnesses(_)), "{e}");
            assert!(e.is_retryable() && !e.is_alarm(), "{e}");
            assert!(trust.latest().is_none(), "not adopted without the quorum");
        }

        // W3's line over another body: a forged cosignature of a known witness.
        let mut forged = Note::parse(cosign_note(&log.note, &witnesses()[..2]).as_bytes()).unwrap();
        let (name, seed) = &witnesses()[2];
        let c = CosignatureSigner::new(name, seed).unwrap();
        let line = c.cosign("example.com/log\n1\nAAAA\n", 7).unwrap();
        forged.push_signature(line.to_note_signature()).unwrap();
        let e = trust
            .verify_answer(
                &bytes,
                &answer(&log, 2, &forged.to_text()),
                &client,
                &outbox,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, AgentError::BadAnswer(_)), "{e}");

        let note = cosign_note(&log.note, &witnesses()[1..]);
        let v = trust
            .verify_answer(&bytes, &answer(&log, 2, &note), &client, &outbox)
            .await
            .expect("two of three cosigned");
        assert_eq!(v.index, 2);
        assert_eq!(trust.latest().map(|c| c.size()), Some(4));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_policy_the_log_signature_is_enough() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = SharedOutbox::new(Outbox::open(dir.path()).unwrap());
        let client = Client::new("http://127.0.0.1:9", None, None);
        let log = log();
        let mut trust = Trust::new(log.signer.verifier(), dir.path(), None).unwrap();
        let v = trust
            .verify_answer(
                &log.entries[1],
                &answer(&log, 1, &log.note),
                &client,
                &outbox,
            )
            .await
            .unwrap();
        assert_eq!(v.index, 1);
    }
}
