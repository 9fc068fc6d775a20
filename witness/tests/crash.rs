//! Crash test: a client sends a growing log's checkpoints (and forked ones) to a real
//! `ledger-witness serve` that is SIGKILLed at random moments, at least 50 times, and
//! restarted on the same state file. After every restart the stored size is at least
//! the largest size ever answered with a 200 (a cosignature is only sent once the
//! state is on disk), and across all answers no size was cosigned with two roots.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{request, Log, WitnessProc};
use ledger_core::checkpoint::Checkpoint;
use ledger_core::hash::Hash;
use ledger_core::note::Note;
use ledger_core::witness::{parse_size_body, AddCheckpoint};
use rand::Rng as _;

const KILLS: usize = 50;
const ANSWERS: usize = 200;
/// The log key seed, shared by the main log and its forks (a log that equivocates).
const SEED: u8 = 4;

/// What the client saw, across all rounds.
#[derive(Default)]
struct Seen {
    /// Every size cosigned (200) and the root it was cosigned with.
    cosigned: BTreeMap<u64, Hash>,
    /// The largest size answered with a 200.
    floor: u64,
    answers: usize,
    forks_sent: usize,
}

/// The stored (size, root) as `GET /checkpoint` shows it; (0, empty) when none.
fn stored(w: &WitnessProc) -> (u64, Hash) {
    let a = w.latest(None);
    if a.status == 404 {
        return (0, Hash::empty_root());
    }
    assert_eq!(a.status, 200, "{}", a.text());
    let note = Note::parse(&a.body).expect("stored note");
    let cp = Checkpoint::parse(note.text()).expect("stored checkpoint");
    (cp.size, cp.root)
}

/// One client round: sends requests until the witness dies (or `stop`).
fn client_round(
    addr: std::net::SocketAddr,
    log: &Mutex<Log>,
    seen: &Mutex<Seen>,
    mut old: u64,
    stop: &AtomicBool,
) {
    let mut rng = rand::thread_rng();
    let mut i = 0u64;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let (body, size, root, forked) = {
            let mut log = log.lock().unwrap();
            let forked = i % 4 == 0 && old > 0;
            if forked {
                let (body, size, root) = forked_request(&log, old, i);
                (body, size, root, true)
            } else {
                let grow = rng.gen_range(0..4);
                log.grow(grow, "main");
                let size = log.tree.size();
                (log.body(old, size), size, log.root(size), false)
            }
        };
        let Ok(answer) = request(addr, "POST", "/add-checkpoint", &body) else {
            return; // The witness was killed.
        };
        let mut seen = seen.lock().unwrap();
        seen.answers += 1;
        seen.forks_sent += usize::from(forked);
        match answer.status {
            200 => {
                assert!(!forked, "a forked checkpoint was cosigned at size {size}");
                if let Some(prev) = seen.cosigned.insert(size, root) {
                    assert_eq!(prev, root, "two roots cosigned for size {size}");
                }
                seen.floor = seen.floor.max(size);
                old = size;
            }
            409 => {
                old = parse_size_body(&answer.body).expect("409 size body");
            }
            422 if forked => {}
            s => panic!(
                "unexpected {s} for old {old} size {size}: {}",
                answer.text()
            ),
        }
    }
}

/// A checkpoint that contradicts the main log: at the witness's size with another
/// root (409), or larger with a proof from a tree that differs from leaf 0 (422).
fn forked_request(log: &Log, old: u64, i: u64) -> (Vec<u8>, u64, Hash) {
    let mut fork = Log::new(log.origin(), SEED);
    let size = if i % 8 == 0 { old } else { old + 3 };
    fork.grow(size, &format!("fork {i}"));
    let root = fork.root(size);
    let body = AddCheckpoint {
        old,
        proof: fork.proof(old, size),
        checkpoint: fork.note(size),
    }
    .to_body();
    (body, size, root)
}

#[test]
fn sigkill_never_loses_a_cosigned_size_nor_forks() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(Log::new("example.com/crash", SEED)));
    let vkey = log.lock().unwrap().vkey();
    let mut w = WitnessProc::create(dir.path(), "witness.crash", &[vkey]);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut kills = 0;
    let mut rng = rand::thread_rng();
    while kills < KILLS || seen.lock().unwrap().answers < ANSWERS {
        assert!(kills < 1000, "too few answers after {kills} kills");
        let addr = w.start();
        let (size, root) = stored(&w);
        {
            let mut s = seen.lock().unwrap();
            assert!(size >= s.floor, "stored size {size} fell below {}", s.floor);
            if let Some(prev) = s.cosigned.insert(size, root) {
                assert_eq!(prev, root, "stored root for {size} changed");
            }
            s.floor = size;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let client = {
            let (log, seen, stop) = (log.clone(), seen.clone(), stop.clone());
            std::thread::spawn(move || client_round(addr, &log, &seen, size, &stop))
        };
        std::thread::sleep(Duration::from_millis(rng.gen_range(2..60)));
        w.kill();
        kills += 1;
        stop.store(true, Ordering::SeqCst);
        client.join().expect("client thread");
    }
    w.start();
    let s = seen.lock().unwrap();
    assert!(stored(&w).0 >= s.floor);
    assert!(
        s.forks_sent > 0 && s.cosigned.len() > 10,
        "the test exercised little"
    );
    eprintln!(
        "{kills} kills, {} answers, {} sizes cosigned, {} forks refused, final size {}",
        s.answers,
        s.cosigned.len(),
        s.forks_sent,
        s.floor
    );
}
