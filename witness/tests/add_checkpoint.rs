//! `POST /add-checkpoint` and `GET /checkpoint` against a real `ledger-witness serve`
//! on 127.0.0.1: one row per refusal of C2SP tlog-witness (each asserting the status
//! and that the stored state did not move), and the happy path from size 0 through
//! real consistency proofs, the answers verified as cosignature/v1.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{Answer, Log, WitnessProc};
use ledger_core::cosignature::CosignatureVerifier;
use ledger_core::hash::Hash;
use ledger_core::note::{Note, NoteSignature, NoteSigner};
use ledger_core::witness::{AddCheckpoint, SIZE_CONTENT_TYPE};

/// Checks that `answer` is a 200 whose one line is a valid cosignature of `note`.
fn assert_cosigned(w: &WitnessProc, note: &[u8], answer: &Answer) -> u64 {
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.content_type, "text/plain; charset=utf-8");
    let text = answer.text();
    let line = text.strip_suffix('\n').expect("ends in a newline");
    assert!(!line.contains('\n'), "one line: {text:?}");
    let sig = NoteSignature::parse_line(line).expect("signature line");
    let body = Note::parse(note).expect("note").text().to_owned();
    let verifier = CosignatureVerifier::parse(&w.vkey).expect("witness vkey");
    let ts = verifier.verify(&body, &sig).expect("cosignature verifies");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ts > now - 60 && ts <= now + 1, "timestamp {ts} is now");
    ts
}

fn with_proof(old: u64, proof: Vec<Hash>, note: Vec<u8>) -> Vec<u8> {
    AddCheckpoint {
        old,
        proof,
        checkpoint: note,
    }
    .to_body()
}

#[test]
fn happy_path_from_zero_through_consistency_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new("example.com/happy", 1);
    let mut w = WitnessProc::create(dir.path(), "witness.example", &[log.vkey()]);
    w.start();
    assert_eq!(w.latest(None).status, 404, "nothing cosigned yet");

    log.grow(5, "a");
    let a = w.add(&log.body(0, 5));
    assert_cosigned(&w, &log.note(5), &a);
    for (old, new) in [(5, 13), (13, 16), (16, 17), (17, 100)] {
        log.grow(new - log.tree.size(), "a");
        let a = w.add(&log.body(old, new));
        assert_cosigned(&w, &log.note(new), &a);
    }
    // The same checkpoint again is cosigned again; the stored note stays.
    let before = w.latest(None);
    assert_cosigned(&w, &log.note(100), &w.add(&log.body(100, 100)));
    assert_eq!(w.latest(None), before);

    // The stored note is the log's note plus exactly our cosignature.
    let stored = Note::parse(&before.body).expect("stored note");
    let ours: Vec<_> = stored
        .signatures()
        .iter()
        .filter(|s| s.name() == w.name)
        .collect();
    assert_eq!(ours.len(), 1);
    let v = CosignatureVerifier::parse(&w.vkey).unwrap();
    v.verify(stored.text(), ours[0])
        .expect("stored cosignature verifies");
    stored
        .open(&[&log.signer.verifier()])
        .expect("log signature kept");
    assert!(stored.text().contains("\n100\n"));

    // The state survives a restart.
    w.kill();
    w.start();
    assert_eq!(w.latest(Some(log.origin())), before);
    let stale = w.add(&log.body(17, 100));
    assert_eq!(stale.status, 409);
    assert_eq!(stale.text(), "100\n");
}

/// The witness after cosigning log A at size 4 (of a tree of 8), log B never seen.
struct Fixture {
    _dir: tempfile::TempDir,
    a: Log,
    b: Log,
    w: WitnessProc,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Log::new("example.com/a", 2);
    let b = Log::new("example.com/b", 3);
    let mut w = WitnessProc::create(dir.path(), "witness.example", &[a.vkey(), b.vkey()]);
    w.start();
    a.grow(8, "a");
    assert_eq!(w.add(&a.body(0, 4)).status, 200);
    Fixture { _dir: dir, a, b, w }
}

/// A note whose one signature line has the log's name and key ID but wrong bytes.
fn tampered_signature(log: &Log, size: u64) -> Vec<u8> {
    let note = Note::parse(&log.note(size)).unwrap();
    let sig = &note.signatures()[0];
    let mut bytes = sig.signature().to_vec();
    bytes[10] ^= 1;
    let bad = NoteSignature::from_parts(sig.name(), sig.key_id(), bytes).unwrap();
    format!("{}\n{}", note.text(), bad.to_line()).into_bytes()
}

/// `log`'s checkpoint text at `size`, signed by `signer`'s key only.
fn signed_by(signer: &Log, log: &Log, size: u64) -> Vec<u8> {
    let note = Note::parse(&log.note(size)).unwrap();
    signer.signer.sign(note.text()).unwrap().into_bytes()
}

/// One row of the refusal table: what is wrong, the body, the expected status.
type Row = (&'static str, Vec<u8>, u16);

/// The refusal table; for every 409 the size body is the stored size, 4.
fn rows(f: &Fixture) -> Vec<Row> {
    [malformed_rows(f), refused_rows(f)].concat()
}

/// Step 1 of add-checkpoint: bodies that cannot be read (400).
fn malformed_rows(f: &Fixture) -> Vec<Row> {
    let a = &f.a;
    let n8 = a.note(8);
    let b64 = STANDARD.encode(a.proof(4, 8)[0].0);
    let not_checkpoint = a.signer.sign("hello\n").unwrap().into_bytes();
    vec![
        ("empty body", vec![], 400),
        ("no newline after old", b"old 4".to_vec(), 400),
        (
            "old with a leading zero",
            [b"old 04\n\n".as_slice(), &n8].concat(),
            400,
        ),
        (
            "old not decimal",
            [b"old four\n\n".as_slice(), &n8].concat(),
            400,
        ),
        (
            "bad base64 proof line",
            [b"old 4\n!!!!\n\n".as_slice(), &n8].concat(),
            400,
        ),
        (
            "short proof hash",
            [b"old 4\nAAAA\n\n".as_slice(), &n8].concat(),
            400,
        ),
        (
            "64 proof lines",
            [
                b"old 4\n".to_vec(),
                format!("{b64}\n").repeat(64).into_bytes(),
                b"\n".to_vec(),
                n8.clone(),
            ]
            .concat(),
            400,
        ),
        ("no blank line", format!("old 4\n{b64}\n").into_bytes(), 400),
        ("nothing after the blank line", b"old 4\n\n".to_vec(), 400),
        (
            "checkpoint not a note",
            b"old 4\n\nexample.com/a\n8\n".to_vec(),
            400,
        ),
        (
            "note not a checkpoint",
            [b"old 4\n\n".to_vec(), not_checkpoint].concat(),
            400,
        ),
    ]
}

/// Steps 2–6: readable requests the witness must refuse (404, 403, 400, 409, 422).
fn refused_rows(f: &Fixture) -> Vec<Row> {
    let a = &f.a;
    let n8 = a.note(8);
    let good_proof = a.proof(4, 8);
    let mut flipped = good_proof.clone();
    flipped[0].0[0] ^= 1;
    let stranger = Log::new("example.com/stranger", 9);
    let same_name_other_key = Log {
        signer: NoteSigner::new(a.origin(), &[77; 32]).unwrap(),
        tree: a.tree.clone(),
    };
    let mut fork = Log::new(a.origin(), 2);
    fork.grow(8, "fork");
    let b_bad_root = |size| f.b.note_with_root(size, Hash([1; 32]));
    vec![
        ("unknown origin", stranger_body(&stranger), 404),
        (
            "signed only by another log's key",
            with_proof(4, good_proof.clone(), signed_by(&stranger, a, 8)),
            403,
        ),
        (
            "signed by another key of the same name",
            same_name_other_key.body(4, 8),
            403,
        ),
        (
            "known key, invalid signature",
            with_proof(4, good_proof.clone(), tampered_signature(a, 8)),
            403,
        ),
        (
            "old larger than size",
            with_proof(9, vec![], n8.clone()),
            400,
        ),
        ("stale old", a.body(2, 8), 409),
        ("old ahead of the witness", a.body(6, 8), 409),
        ("old 0 while the witness has 4", a.body(0, 8), 409),
        ("same size, another root", fork.body(4, 4), 409),
        (
            "same size, same root, non-empty proof",
            with_proof(4, good_proof.clone(), a.note(4)),
            422,
        ),
        (
            "proof with a flipped bit",
            with_proof(4, flipped, n8.clone()),
            422,
        ),
        (
            "proof one hash short",
            with_proof(4, good_proof[1..].to_vec(), n8.clone()),
            422,
        ),
        ("no proof", with_proof(4, vec![], n8.clone()), 422),
        ("fork: its own valid proof", fork.body(4, 8), 422),
        (
            "fork: our proof, its root",
            with_proof(4, good_proof, fork.note(8)),
            422,
        ),
        (
            "log b: size 0, wrong root",
            with_proof(0, vec![], b_bad_root(0)),
            422,
        ),
        (
            "log b: from 0 with a proof",
            with_proof(0, vec![Hash([2; 32])], b_bad_root(3)),
            422,
        ),
    ]
}

fn stranger_body(stranger: &Log) -> Vec<u8> {
    with_proof(0, vec![], stranger.note_with_root(0, Hash::empty_root()))
}

#[test]
fn every_refusal_has_its_status_and_changes_nothing() {
    let f = fixture();
    let before_a = f.w.latest(Some(f.a.origin()));
    assert_eq!(before_a.status, 200);
    for (name, body, status) in rows(&f) {
        let answer = f.w.add(&body);
        assert_eq!(answer.status, status, "{name}: {}", answer.text());
        if status == 409 {
            assert_eq!(answer.content_type, SIZE_CONTENT_TYPE, "{name}");
            assert_eq!(answer.text(), "4\n", "{name}");
        } else {
            assert_eq!(answer.content_type, "text/plain; charset=utf-8", "{name}");
            assert!(!answer.body.is_empty(), "{name}: a reason is given");
        }
        assert_eq!(
            f.w.latest(Some(f.a.origin())),
            before_a,
            "{name}: state of a moved"
        );
        assert_eq!(
            f.w.latest(Some(f.b.origin())).status,
            404,
            "{name}: state of b"
        );
    }
    // With two trusted logs, a bare GET /checkpoint must name the origin.
    assert_eq!(f.w.latest(None).status, 400);
    // The refusals left the witness working: the real next step is still cosigned.
    assert_eq!(f.w.add(&f.a.body(4, 8)).status, 200);
    let b0 = with_proof(0, vec![], f.b.note(0));
    assert_eq!(f.w.add(&b0).status, 200, "size 0 with the empty root");
}

#[test]
fn bodies_above_64_kib_are_refused_with_413() {
    let f = fixture();
    let mut body = f.a.body(4, 8);
    body.resize(64 * 1024 + 1, b'x');
    assert_eq!(f.w.add(&body).status, 413);
    assert_eq!(f.w.add(&f.a.body(4, 8)).status, 200);
}

#[test]
fn of_concurrent_requests_from_one_size_exactly_one_wins() {
    let mut f = fixture();
    f.a.grow(24, "a");
    let bodies: Vec<Vec<u8>> = (5..=32).map(|size| f.a.body(4, size)).collect();
    let addr = f.w.addr();
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|b| s.spawn(move || common::request(addr, "POST", "/add-checkpoint", b).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].status == 200)
        .collect();
    assert_eq!(
        won.len(),
        1,
        "exactly one winner: {:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let size = 5 + won[0] as u64;
    for (i, a) in answers.iter().enumerate() {
        if i != won[0] {
            assert_eq!(a.status, 409, "{}", a.text());
            assert_eq!(a.text(), format!("{size}\n"));
        }
    }
    let stored = Note::parse(&f.w.latest(Some(f.a.origin())).body).unwrap();
    assert!(stored.text().contains(&format!("\n{size}\n")));
}
