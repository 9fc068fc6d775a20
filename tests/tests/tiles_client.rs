//! `ledger-verify inclusion --tiles` against a real `ledgerd`: a real `ledger-agent`
//! delivers 300 records (so the log has more than 256 entries and level-1 tiles are
//! read), then the real `ledger-verify` binary proves entries on both sides of the first
//! tile boundary from the server's own `/checkpoint` and `/tile/…`, from a directory
//! mirror (plain path and `file://`), and through a proxy that changes one bit of every
//! hash of every tile. Exit codes: 0 valid; 1 for tampered tiles and a wrong log key;
//! 2 for an index past the checkpoint, a malformed tile and an unreachable server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::fleet::{delivered, AgentBox};
use e2e::procs::{locate, origin_of, Ledgerd};
use e2e::tamper_proxy::{Tamper, TamperProxy};
use ledger_core::checkpoint::Checkpoint;
use ledger_core::note::{Note, NoteSigner};
use ledger_core::tiles::tiles_for_size;
use serde_json::Value;

const RECORDS: u64 = 300;

/// One run of `ledger-verify --json inclusion …`: exit code, parsed JSON, stderr.
struct Run {
    code: Option<i32>,
    json: Value,
    stderr: String,
}

fn verify(args: &[&str]) -> Run {
    let out = Command::new(locate("LEDGER_VERIFY_BIN", "ledger-verify"))
        .args(["--json", "inclusion"])
        .args(args)
        .output()
        .expect("running ledger-verify");
    Run {
        code: out.status.code(),
        json: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An entry of the log: its index and the file holding its bytes.
struct Entry {
    index: u64,
    file: PathBuf,
}

/// `--tiles BASE --key KEY --index I --entry FILE`.
fn verify_entry(base: &str, key: &str, e: &Entry) -> Run {
    let index = e.index.to_string();
    let file = e.file.display().to_string();
    verify(&[
        "--tiles", base, "--key", key, "--index", &index, "--entry", &file,
    ])
}

async fn get_text(url: &str) -> String {
    reqwest::get(url)
        .await
        .expect("GET")
        .error_for_status()
        .expect("status")
        .text()
        .await
        .expect("body")
}

/// The size of the server's published checkpoint, once it covers `at_least` entries.
async fn checkpoint_size(server: &Ledgerd, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let note = get_text(&format!("{}/checkpoint", server.http())).await;
        let parsed = Note::parse(note.as_bytes()).expect("checkpoint note");
        let size = Checkpoint::parse(parsed.text()).expect("checkpoint").size;
        if size >= at_least {
            return size;
        }
        assert!(Instant::now() < deadline, "checkpoint stuck at {size}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Downloads `checkpoint` and every tile of its tree into `dir`, as an auditor's mirror.
async fn write_mirror(server: &Ledgerd, dir: &Path) -> u64 {
    let note = get_text(&format!("{}/checkpoint", server.http())).await;
    std::fs::create_dir_all(dir).expect("mirror dir");
    std::fs::write(dir.join("checkpoint"), &note).expect("mirror checkpoint");
    let parsed = Note::parse(note.as_bytes()).expect("checkpoint note");
    let size = Checkpoint::parse(parsed.text()).expect("checkpoint").size;
    for tile in tiles_for_size(size) {
        let path = tile.path();
        let bytes = reqwest::get(format!("{}/{path}", server.http()))
            .await
            .expect("GET tile")
            .error_for_status()
            .expect("tile status")
            .bytes()
            .await
            .expect("tile bytes");
        let file = dir.join(&path);
        std::fs::create_dir_all(file.parent().expect("tile dir")).expect("tile dir");
        std::fs::write(file, &bytes).expect("mirror tile");
    }
    size
}

/// The delivered records with the given log indexes (each must exist), bytes in files.
fn entries(agent: &AgentBox, root: &Path, wanted: &[u64]) -> Vec<Entry> {
    let mut found = Vec::new();
    for seq in 1..=RECORDS {
        let (bytes, index, _) = agent.delivery(seq).expect("delivered");
        if wanted.contains(&index) {
            let file = root.join(format!("entry-{index}.bin"));
            std::fs::write(&file, bytes).expect("entry file");
            found.push(Entry { index, file });
        }
    }
    found.sort_by_key(|e| e.index);
    assert_eq!(
        found.iter().map(|e| e.index).collect::<Vec<_>>(),
        wanted,
        "records at the wanted indexes"
    );
    found
}

fn assert_valid(run: &Run, e: &Entry, size: u64, origin: &str) {
    assert_eq!(run.code, Some(0), "index {}: {}", e.index, run.stderr);
    assert_eq!(run.json["valid"], true);
    assert_eq!(run.json["index"], e.index);
    assert_eq!(run.json["size"], size);
    assert_eq!(run.json["origin"], origin);
    let fetched = run.json["tiles_fetched"].as_u64().expect("tiles_fetched");
    assert!(
        (1..=4).contains(&fetched),
        "{fetched} tiles for index {}",
        e.index
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inclusion_from_tiles_of_a_real_server_a_mirror_and_a_tampering_proxy() {
    let root = tempfile::tempdir().unwrap();
    let mut server = Ledgerd::start(&root.path().join("ledger")).await;
    let key = server.log_key().await;
    let origin = origin_of(&key);
    let urls = (server.http(), server.grpc());
    let mut agent =
        AgentBox::enrol(root.path(), "app-1", "http", &server, (&urls.0, &urls.1)).await;
    agent.record(RECORDS);
    agent.start();
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered(std::slice::from_ref(&agent)) != [RECORDS] {
        assert!(Instant::now() < deadline, "records not delivered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agent.kill();
    let (_, last, _) = agent.delivery(RECORDS).expect("last record delivered");
    let size = checkpoint_size(&server, last + 1).await;
    assert!(
        size > 256,
        "the log must cross a tile boundary (size {size})"
    );
    let (_, first, _) = agent.delivery(1).expect("first record delivered");
    let wanted = [first, 255, 256, 257, last];
    let picked = entries(&agent, root.path(), &wanted);

    // The server's own endpoints.
    for e in &picked {
        assert_valid(&verify_entry(&server.http(), &key, e), e, size, &origin);
    }
    // The leaf hash instead of the entry gives the same answer.
    let by_entry = verify_entry(&server.http(), &key, &picked[2]);
    let leaf = by_entry.json["leaf_hash"]
        .as_str()
        .expect("leaf hash")
        .to_owned();
    let index = picked[2].index.to_string();
    let by_hash = verify(&[
        "--tiles",
        &server.http(),
        "--key",
        &key,
        "--index",
        &index,
        "--leaf-hash",
        &leaf,
    ]);
    assert_eq!(by_hash.code, Some(0), "{}", by_hash.stderr);
    assert_eq!(by_hash.json, by_entry.json);
    // The wrong entry for an index does not verify.
    let wrong = Entry {
        index: picked[1].index,
        file: picked[2].file.clone(),
    };
    let run = verify_entry(&server.http(), &key, &wrong);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("INVALID"), "{}", run.stderr);

    // Through a proxy: only the checkpoint and the needed tiles are asked for; then
    // with every tile hash changed the proof fails.
    let proxy = TamperProxy::start(&server.http()).await;
    let run = verify_entry(&proxy.url(), &key, &picked[3]);
    assert_valid(&run, &picked[3], size, &origin);
    let served = proxy.served();
    assert_eq!(served[0], "/checkpoint");
    assert!(
        served[1..].iter().all(|p| p.starts_with("/tile/")),
        "{served:?}"
    );
    assert_eq!(
        served.len() as u64 - 1,
        run.json["tiles_fetched"].as_u64().unwrap()
    );
    proxy.set_tamper(Tamper::TileHashes);
    for e in &picked {
        let run = verify_entry(&proxy.url(), &key, e);
        assert_eq!(run.code, Some(1), "index {}: {}", e.index, run.stderr);
        assert_eq!(run.json["valid"], false);
        assert!(
            run.stderr.contains("inclusion proof does not verify"),
            "{}",
            run.stderr
        );
    }

    // A wrong log key (same name, another key): the checkpoint does not verify.
    let other = NoteSigner::new(&origin, &[7; 32]).unwrap().verifier_key();
    let run = verify_entry(&server.http(), &other, &picked[0]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("checkpoint"), "{}", run.stderr);

    // An index past the checkpoint is a usage error.
    let past = size.to_string();
    let run = verify(&[
        "--tiles",
        &server.http(),
        "--key",
        &key,
        "--index",
        &past,
        "--leaf-hash",
        &leaf,
    ]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("tree size {size}")),
        "{}",
        run.stderr
    );

    // A directory mirror, as a path and as a file:// URL.
    let mirror = root.path().join("mirror");
    let mirror_size = write_mirror(&server, &mirror).await;
    let mirror_url = format!("file://{}", mirror.display());
    for e in &picked {
        let plain = verify_entry(&mirror.display().to_string(), &key, e);
        assert_valid(&plain, e, mirror_size, &origin);
        let url = verify_entry(&mirror_url, &key, e);
        assert_valid(&url, e, mirror_size, &origin);
    }

    // The server down: unreachable is exit 2, with the URL.
    let url = server.http();
    server.kill();
    let run = verify_entry(&url, &key, &picked[0]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{url}/checkpoint")),
        "{}",
        run.stderr
    );

    tamper_with_the_mirror(&mirror, &key, &picked[0]);
}

/// One flipped bit in the mirror's first tile fails the proof (exit 1); the tile cut
/// short is malformed (exit 2); a missing tile is exit 2.
fn tamper_with_the_mirror(mirror: &Path, key: &str, e: &Entry) {
    let base = mirror.display().to_string();
    let tile = mirror.join("tile/0/000");
    let original = std::fs::read(&tile).expect("mirror tile");
    // The leaf's neighbour is on every audit path within the tile.
    let neighbour = usize::try_from(e.index ^ 1).unwrap();
    let mut changed = original.clone();
    changed[neighbour * 32] ^= 0x80;
    std::fs::write(&tile, &changed).unwrap();
    let run = verify_entry(&base, key, e);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("inclusion proof does not verify"),
        "{}",
        run.stderr
    );

    std::fs::write(&tile, &original[..original.len() - 1]).unwrap();
    let run = verify_entry(&base, key, e);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("malformed"), "{}", run.stderr);

    std::fs::remove_file(&tile).unwrap();
    let run = verify_entry(&base, key, e);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("tile/0/000"), "{}", run.stderr);

    std::fs::write(&tile, &original).unwrap();
    assert_eq!(verify_entry(&base, key, e).code, Some(0));
}
