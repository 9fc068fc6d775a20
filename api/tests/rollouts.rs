//! Staged rollouts over real HTTP against a real ledgerd (docs/UPDATES.md): 20
//! appliances that take their offers and report signed `update` records through the
//! real intake; a rollout that reaches 100%; halts on a verification rejection and on a
//! silent member's timeout, with the stuck member named; resume only by an operator
//! record; a restart mid-rollout that keeps the state; and the bad-input table.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ed25519_dalek::SigningKey;
use ledger_core::hash::Hash;
use ledger_record::{
    Body, Id, KeyId, Record, ReleaseStatement, SignedRelease, UpdateBody, UpdateState, Version,
};
use serde_json::{json, Value};

const SITE: &str = "clinic-1";

/// A server with `n` enrolled appliances and release 24.11.2 logged.
async fn fleet(dir: &std::path::Path, n: usize) -> (TestServer, Vec<Appliance>) {
    let server = TestServer::start(dir).await;
    let team = SigningKey::from_bytes(&[5; 32]);
    let (status, v) = server
        .post_json(
            "/v1/admin/release-keys",
            Some(&server.admin),
            json!({"name": "team", "public_key": hex::encode(team.verifying_key().as_bytes())}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let statement = ReleaseStatement {
        version: Version::parse("24.11.2").unwrap(),
        channel: Id::new("stable").unwrap(),
        artifact_sha256: Hash([0x42; 32]),
        artifact_size: 1_000_000,
        urls: vec!["https://updates.example/a.img".into()],
        min_version: Version::parse("24.5").unwrap(),
        notes: String::new(),
        key_id: KeyId::of(&team.verifying_key()),
    };
    let signed = SignedRelease::sign(statement, &team).unwrap().encode();
    let r = server
        .post_bytes("/v1/releases", Some(&server.admin), signed)
        .await;
    assert_eq!(r.status(), 200);
    let mut appliances = Vec::new();
    for i in 0..n {
        appliances.push(server.enrol(SITE, &format!("box-{i:02}")).await);
    }
    (server, appliances)
}

fn plan(id: &str, deadlines_secs: u64) -> Value {
    json!({
        "id": id,
        "release": {"channel": "stable", "version": "24.11.2"},
        "sites": [SITE],
        "stages": [5, 25, 100],
        "soak_secs": 0,
        "deadlines": {"offered_secs": deadlines_secs, "downloading_secs": deadlines_secs,
                      "applying_secs": deadlines_secs, "rebooting_secs": deadlines_secs},
    })
}

async fn get(server: &TestServer, path: &str, bearer: &str) -> (u16, Value) {
    server.get_json(path, bearer).await
}

/// The appliance's offer, if it has one.
async fn offer(server: &TestServer, a: &Appliance) -> Option<Value> {
    let (status, v) = get(server, "/v1/updates/offer", &a.credential).await;
    match status {
        200 => Some(v),
        204 => None,
        other => panic!("offer: {other} {v}"),
    }
}

/// The offers of every appliance that has one now: (position, offer).
async fn offers(server: &TestServer, fleet: &[Appliance]) -> Vec<(usize, Value)> {
    let mut out = Vec::new();
    for (i, a) in fleet.iter().enumerate() {
        if let Some(o) = offer(server, a).await {
            out.push((i, o));
        }
    }
    out
}

/// Reports one step as a signed update record through the intake.
async fn report(
    server: &TestServer,
    a: &mut Appliance,
    offer: &Value,
    state: UpdateState,
    reason: &str,
) {
    let hash: [u8; 32] = hex::decode(offer["release_hash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let record: Record = a.next(Body::Update(UpdateBody {
        rollout_id: Id::new(offer["rollout_id"].as_str().unwrap()).unwrap(),
        release_hash: Hash(hash),
        state,
        reason: reason.into(),
        detail: 0,
    }));
    let (status, v) = server
        .append_http(Some(&a.credential), record.encode())
        .await;
    assert_eq!(status, 200, "{v}");
}

/// Every appliance with an offer now goes through the steps to `last` (the offers are
/// read first, so a stage that opens meanwhile is left for the next call).
async fn take_offers(server: &TestServer, fleet: &mut [Appliance], last: UpdateState) -> usize {
    let offers = offers(server, fleet).await;
    let took = offers.len();
    for (i, o) in offers {
        let a = &mut fleet[i];
        for state in [
            UpdateState::Acknowledged,
            UpdateState::Downloading,
            UpdateState::Downloaded,
            UpdateState::Verified,
            UpdateState::Applying,
            UpdateState::Applied,
            UpdateState::Rebooting,
            UpdateState::HealthGate,
            last,
        ] {
            report(server, a, &o, state, "").await;
        }
    }
    took
}

/// Opens a rollout that must be accepted.
async fn open_ok(server: &TestServer, plan: Value) {
    let (status, v) = server
        .post_json("/v1/rollouts", Some(&server.admin), plan)
        .await;
    assert_eq!(status, 200, "{v}");
}

async fn rollout(server: &TestServer, id: &str) -> Value {
    let (status, v) = get(server, &format!("/v1/rollouts/{id}"), &server.admin).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Polls the rollout until `pred` holds (10 s at most).
async fn wait_for(server: &TestServer, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let v = rollout(server, id).await;
        if pred(&v) {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "rollout stuck: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The site's evidence package — its update records, and the operator's release and
/// rollout records in `keys.bin` — verifies with the verifier library.
async fn package_verifies(server: &TestServer, dir: &std::path::Path) {
    use verifier::package::{verify_segmented, SegmentedPackage, SignatureMode, VerifyOptions};
    let r = server
        .client
        .get(server.url(&format!("/v1/export?sites={SITE}")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let out = dir.join("package");
    api::export::unpack_stream(&mut &bytes[..], &out).expect("a package archive");
    let pkg = SegmentedPackage::open(&out).unwrap();
    let log = server.log_verifier().await;
    let mut opts = VerifyOptions::new(&log);
    opts.signatures = SignatureMode::Strict;
    let report = verify_segmented(&pkg, &opts).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert!(report.valid, "{json}");
    assert_eq!(json["counts"]["by_kind"]["update"], 20 * 9 + 4, "{json}");

    // Which release box-00 ran: now, the rollout's; before its first step, none.
    let opened = verifier::package::OpenedPackage::open(&out).unwrap();
    let chain = ledger_record::ChainId::new(Id::new(SITE).unwrap(), Id::new("box-00").unwrap());
    let now = api::clock::now_ms();
    let answer = verifier::updates::release_at(&opened, &opts, &chain, now).unwrap();
    let installed = answer.installed.expect("box-00 succeeded");
    assert_eq!(
        (installed.channel.as_str(), installed.version.as_str()),
        ("stable", "24.11.2")
    );
    assert_eq!(installed.artifact_sha256, hex::encode([0x42; 32]));
    let update =
        Record::decode(&server.state().log.entry(installed.update_index).unwrap()).unwrap();
    assert!(matches!(update.body(), Body::Update(u) if u.state == UpdateState::Succeeded));
    assert_eq!(update.chain(), chain);
    let release =
        Record::decode(&server.state().log.entry(installed.release_index).unwrap()).unwrap();
    assert!(matches!(release.body(), Body::Release(_)));
    for citation in [&installed.update_citation, &installed.release_citation] {
        let c = verifier::citation::Citation::parse(citation).unwrap();
        verifier::package::check_citation_segmented(&pkg, &c, &log).unwrap();
    }
    let before = verifier::updates::release_at(&opened, &opts, &chain, 1_000).unwrap();
    assert!(before.report.valid && before.installed.is_none());
    // The same through the binary (built beside ledgerd by `cargo test --workspace`).
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_ledgerd")).with_file_name("ledger-verify");
    assert!(
        bin.exists(),
        "{} is missing: cargo build -p verifier",
        bin.display()
    );
    {
        let out = std::process::Command::new(bin)
            .args(["release-at"])
            .arg(&out)
            .args(["--key", server.get_text("/log-key").await.trim()])
            .args([
                "--appliance",
                &format!("{SITE}/box-00"),
                "--at-ms",
                &now.to_string(),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("ran stable 24.11.2") && text.contains(&installed.update_citation),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_of_twenty_appliances_reaches_every_stage_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut appliances) = fleet(dir.path(), 20).await;
    open_ok(&server, plan("r1", 600)).await;
    let v = rollout(&server, "r1").await;
    assert_eq!(
        (v["stage"].as_u64(), v["members"].as_u64()),
        (Some(1), Some(20))
    );
    assert_eq!(v["members_offered"], 1, "5% of 20");
    assert_eq!(v["open_members"][0]["state"], "offered");

    // Stage 1: one appliance; then stage 2 (25%: 5); restart in the middle of stage 2.
    assert_eq!(
        take_offers(&server, &mut appliances, UpdateState::Succeeded).await,
        1
    );
    wait_for(&server, "r1", |v| v["stage"] == 2).await;
    let stage_two = offers(&server, &appliances).await;
    let offered_now = stage_two.len();
    for (i, o) in stage_two {
        report(
            &server,
            &mut appliances[i],
            &o,
            UpdateState::Acknowledged,
            "",
        )
        .await;
    }
    assert_eq!(offered_now, 4, "stage 2 adds 4 appliances");
    let before = rollout(&server, "r1").await;
    assert_eq!(before["counts"]["acknowledged"], 4);
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let after = rollout(&server, "r1").await;
    for field in ["stage", "status", "counts", "members_offered"] {
        assert_eq!(after[field], before[field], "{field} after the restart");
    }
    assert_eq!(
        take_offers(&server, &mut appliances, UpdateState::Succeeded).await,
        4
    );
    wait_for(&server, "r1", |v| v["stage"] == 3).await;
    assert_eq!(
        take_offers(&server, &mut appliances, UpdateState::Succeeded).await,
        15
    );
    let done = wait_for(&server, "r1", |v| v["status"] == "completed").await;
    assert_eq!(done["counts"]["succeeded"], 20, "{done}");
    let actions: Vec<&str> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["opened", "stage_advanced", "stage_advanced", "completed"]
    );
    // Each transition is an operator-signed record in the log.
    for h in done["history"].as_array().unwrap() {
        let entry = server
            .state()
            .log
            .entry(h["index"].as_u64().unwrap())
            .unwrap();
        let record = Record::decode(&entry).unwrap();
        record
            .verify(&server.state().intake.operator().public_key())
            .unwrap();
        assert!(matches!(record.body(), Body::Rollout(_)));
    }
    // An appliance's own view lists its steps with their log indexes.
    let (status, v) = get(
        &server,
        &format!("/v1/appliances/{SITE}/box-00/updates"),
        &server.admin,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["updates"][0]["state"], "succeeded");
    let steps = v["updates"][0]["steps"].as_array().unwrap();
    assert_eq!(
        steps.len() as u64,
        appliances[0].seq,
        "one step per update record it sent"
    );
    assert_eq!(steps.last().unwrap()["state"], "succeeded");
    assert!(offer(&server, &appliances[0]).await.is_none());
    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics.contains("ledger_rollout_members{rollout=\"r1\",state=\"succeeded\"} 20"),
        "{metrics}"
    );
    assert!(metrics.contains("ledger_rollout_status{rollout=\"r1\",status=\"completed\"} 1"));
    package_verifies(&server, dir.path()).await;
    server.stop().await;
    // The persisted intake state, with its release and rollout markers, is what a
    // rebuild from every entry gives.
    let config = api::config::Config::for_dir(dir.path()).unwrap();
    let fsck = tokio::task::spawn_blocking(move || api::fsck::run(&config, false))
        .await
        .unwrap()
        .unwrap();
    assert!(
        fsck.state.was_current && fsck.state.diff.is_empty(),
        "{:?}",
        fsck.state.diff
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_rejection_halts_and_only_an_operator_record_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut appliances) = fleet(dir.path(), 20).await;
    open_ok(&server, plan("r1", 600)).await;
    let mut first = None;
    for (i, a) in appliances.iter_mut().enumerate() {
        if let Some(o) = offer(&server, a).await {
            first = Some((i, o));
            break;
        }
    }
    let (i, o) = first.expect("one appliance is offered the release");
    report(
        &server,
        &mut appliances[i],
        &o,
        UpdateState::Acknowledged,
        "",
    )
    .await;
    report(
        &server,
        &mut appliances[i],
        &o,
        UpdateState::VerifyRejected,
        "sha256_mismatch",
    )
    .await;
    let v = wait_for(&server, "r1", |v| v["status"] == "halted").await;
    let reason = v["halt_reason"].as_str().unwrap();
    assert!(
        reason.contains("verify_rejected") && reason.contains("sha256_mismatch"),
        "{reason}"
    );
    assert!(
        reason.contains(appliances[i].chain.appliance_id.as_str()),
        "{reason}"
    );
    assert!(
        offer(&server, &appliances[i]).await.is_none(),
        "halted: no offers"
    );

    // A read token may not resume; the admin can, and that is a signed record.
    let reader = server.read_token(&[SITE]).await;
    assert_eq!(
        server
            .post_json("/v1/rollouts/r1/resume", Some(&reader), json!({}))
            .await
            .0,
        403
    );
    let size = server.tree_size().await;
    let (status, v) = server
        .post_json(
            "/v1/rollouts/r1/resume",
            Some(&server.admin),
            json!({"note": "mirror fixed"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(server.tree_size().await, size + 1);
    let v = rollout(&server, "r1").await;
    assert_eq!(v["status"], "active");
    assert_eq!(
        v["history"].as_array().unwrap().last().unwrap()["note"],
        "mirror fixed"
    );
    // Resuming an active rollout is refused; pause and cancel work and are final.
    let (status, v) = server
        .post_json("/v1/rollouts/r1/resume", Some(&server.admin), json!({}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("rollout_state")),
        "{v}"
    );
    assert_eq!(
        server
            .post_json("/v1/rollouts/r1/pause", Some(&server.admin), json!({}))
            .await
            .0,
        200
    );
    assert_eq!(
        server
            .post_json("/v1/rollouts/r1/cancel", Some(&server.admin), json!({}))
            .await
            .0,
        200
    );
    assert_eq!(rollout(&server, "r1").await["status"], "cancelled");
    assert_eq!(
        server
            .post_json("/v1/rollouts/r1/resume", Some(&server.admin), json!({}))
            .await
            .0,
        409
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_appliance_times_out_with_its_reason_and_halts_the_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut appliances) = fleet(dir.path(), 20).await;
    // One-second deadlines; the first stage's appliance acknowledges, then says nothing.
    open_ok(&server, plan("r1", 1)).await;
    let mut silent = None;
    for a in appliances.iter_mut() {
        if let Some(o) = offer(&server, a).await {
            report(&server, a, &o, UpdateState::Downloading, "").await;
            silent = Some(a.chain.appliance_id.to_string());
        }
    }
    let silent = silent.expect("an appliance was offered the release");
    let v = wait_for(&server, "r1", |v| v["status"] == "halted").await;
    assert_eq!(v["timed_out"][0]["appliance_id"], silent.as_str(), "{v}");
    assert_eq!(v["timed_out"][0]["reason"], "silent");
    assert_eq!(v["timed_out"][0]["last_state"], "downloading");
    assert!(
        v["halt_reason"]
            .as_str()
            .unwrap()
            .contains("failure threshold"),
        "{v}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rollout_requests_get_their_error_and_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _appliances) = fleet(dir.path(), 3).await;
    open_ok(&server, plan("r1", 600)).await;
    let reader = server.read_token(&[SITE]).await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut p = plan("r2", 600);
        f(&mut p);
        p
    };
    let cases: Vec<(&str, Option<&str>, Value, u16, &str)> = vec![
        (
            "not the admin",
            Some(&reader),
            plan("r2", 600),
            403,
            "admin_only",
        ),
        (
            "unknown release",
            Some(&server.admin),
            with(&|p| p["release"]["version"] = json!("99")),
            404,
            "unknown_release",
        ),
        (
            "stages not increasing",
            Some(&server.admin),
            with(&|p| p["stages"] = json!([25, 5, 100])),
            400,
            "invalid_rollout",
        ),
        (
            "last stage below 100",
            Some(&server.admin),
            with(&|p| p["stages"] = json!([5, 50])),
            400,
            "invalid_rollout",
        ),
        (
            "threshold above 100",
            Some(&server.admin),
            with(&|p| p["success_threshold_pct"] = json!(101)),
            400,
            "invalid_rollout",
        ),
        (
            "no targets",
            Some(&server.admin),
            with(&|p| p["sites"] = json!([])),
            400,
            "invalid_rollout",
        ),
        (
            "unknown appliance",
            Some(&server.admin),
            with(&|p| p["appliances"] = json!([{"site_id": SITE, "appliance_id": "ghost"}])),
            422,
            "unknown_appliance",
        ),
        (
            "site without appliances",
            Some(&server.admin),
            with(&|p| p["sites"] = json!(["empty-site"])),
            422,
            "no_members",
        ),
        (
            "same release, same members",
            Some(&server.admin),
            plan("r2", 600),
            409,
            "duplicate_rollout",
        ),
        (
            "id taken",
            Some(&server.admin),
            plan("r1", 600),
            409,
            "rollout_exists",
        ),
        (
            "unknown field",
            Some(&server.admin),
            with(&|p| p["colour"] = json!("red")),
            400,
            "invalid_json",
        ),
    ];
    for (what, bearer, body, want_status, want_code) in cases {
        let size = server.tree_size().await;
        let (status, v) = server.post_json("/v1/rollouts", bearer, body).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{what}: {v}"
        );
        assert_eq!(server.tree_size().await, size, "{what} appended something");
    }
    // Site scope: a reader of another site sees no rollout.
    let other = server.read_token(&["clinic-2"]).await;
    assert_eq!(get(&server, "/v1/rollouts/r1", &other).await.0, 404);
    assert_eq!(
        get(&server, "/v1/rollouts", &other).await.1["rollouts"],
        json!([])
    );
    assert_eq!(get(&server, "/v1/rollouts/r1", &reader).await.0, 200);
    // An appliance may not write rollout records, however well signed.
    let mut a = server.enrol(SITE, "box-rogue").await;
    let rogue = a.next(Body::Rollout(ledger_record::RolloutBody {
        id: Id::new("r9").unwrap(),
        action: ledger_record::RolloutAction::Completed,
    }));
    let size = server.tree_size().await;
    let (status, v) = server
        .append_http(Some(&a.credential), rogue.encode())
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("operator_only")),
        "{v}"
    );
    assert_eq!(server.tree_size().await, size);
    // Offers are for appliance credentials only.
    let (status, v) = get(&server, "/v1/updates/offer", &server.admin).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("appliance_only"))
    );
    server.stop().await;
}
