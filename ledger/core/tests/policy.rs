//! tlog-policy: parsing rules and checks of cosigned checkpoints against a policy.

use std::collections::BTreeSet;

use ledger_core::checkpoint::Checkpoint;
use ledger_core::cosignature::CosignatureSigner;
use ledger_core::hash::Hash;
use ledger_core::note::{Note, NoteSigner};
use ledger_core::policy::{Policy, PolicyCheckError, MAX_ENTRIES};

fn log() -> NoteSigner {
    NoteSigner::new("log.example", &[1u8; 32]).unwrap()
}

fn witness(i: usize) -> CosignatureSigner {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 100).to_be_bytes());
    CosignatureSigner::new(&format!("w{i}.example"), &seed).unwrap()
}

fn policy_2_of_3() -> Policy {
    let mut text = format!("# test policy\nlog {}\n", log().verifier_key());
    for i in 0..3 {
        text.push_str(&format!(
            "witness W{i} {} http://127.0.0.1/w{i}\n",
            witness(i).verifier().verifier_key()
        ));
    }
    text.push_str("group G 2 W0 W1 W2\nquorum G\n");
    Policy::parse(text.as_bytes()).unwrap()
}

fn checkpoint_note(cosigners: &[usize]) -> String {
    let cp = Checkpoint {
        origin: "log.example".into(),
        size: 42,
        root: Hash([9u8; 32]),
        extensions: vec![],
    };
    let mut note = Note::new(&cp.to_text()).unwrap();
    note.add_signature(&log()).unwrap();
    for &i in cosigners {
        let c = witness(i)
            .cosign(note.text(), 1_700_000_000 + i as u64)
            .unwrap();
        note.push_signature(c.to_note_signature()).unwrap();
    }
    note.to_text()
}

#[test]
fn a_checkpoint_with_two_of_three_cosignatures_meets_the_quorum() {
    let p = policy_2_of_3();
    let v = p.check(checkpoint_note(&[0, 2]).as_bytes(), None).unwrap();
    assert!(v.quorum_met);
    assert_eq!(v.log, "log.example");
    assert_eq!(v.checkpoint.size, 42);
    assert_eq!(
        v.cosigned_by,
        vec![
            ("W0".to_owned(), 1_700_000_000),
            ("W2".to_owned(), 1_700_000_002)
        ]
    );
    let one = p.check(checkpoint_note(&[1]).as_bytes(), None).unwrap();
    assert!(!one.quorum_met);
    let none = p.check(checkpoint_note(&[]).as_bytes(), None).unwrap();
    assert!(!none.quorum_met && none.cosigned_by.is_empty());
}

#[test]
fn a_witness_listed_twice_counts_once() {
    let p = policy_2_of_3();
    let note = checkpoint_note(&[0]);
    // The same witness's line again, with another timestamp, appended by hand.
    let extra = witness(0)
        .cosign(Note::parse(note.as_bytes()).unwrap().text(), 5)
        .unwrap()
        .to_line();
    let doubled = format!("{note}{extra}");
    let v = p.check(doubled.as_bytes(), None).unwrap();
    assert!(!v.quorum_met);
    assert_eq!(v.cosigned_by.len(), 1);
}

#[test]
fn a_forged_cosignature_of_a_known_witness_refuses_the_note() {
    let p = policy_2_of_3();
    let note = checkpoint_note(&[0, 1]);
    let mut lines: Vec<String> = note.lines().map(str::to_owned).collect();
    let last = lines.len() - 1;
    // Swap two characters in the middle of W1's signature.
    let mut chars: Vec<char> = lines[last].chars().collect();
    let n = chars.len();
    chars.swap(n - 10, n - 20);
    lines[last] = chars.into_iter().collect();
    let forged = lines.join("\n") + "\n";
    match p.check(forged.as_bytes(), None) {
        Err(PolicyCheckError::Cosignature { witness, .. }) => assert_eq!(witness, "W1"),
        other => panic!("forged cosignature accepted or misreported: {other:?}"),
    }
}

#[test]
fn a_checkpoint_of_another_log_is_refused() {
    let p = policy_2_of_3();
    let other = NoteSigner::new("log.example", &[2u8; 32]).unwrap();
    let cp = Checkpoint {
        origin: "log.example".into(),
        size: 1,
        root: Hash([0u8; 32]),
        extensions: vec![],
    };
    let note = other.sign(&cp.to_text()).unwrap();
    assert_eq!(
        p.check(note.as_bytes(), None),
        Err(PolicyCheckError::UnknownLog)
    );
    // Pinning that log's key explicitly accepts its signature.
    let v = p.check(note.as_bytes(), Some(&other.verifier())).unwrap();
    assert!(!v.quorum_met);
}

#[test]
fn quorum_none_needs_no_witness() {
    let text = format!("log {}\nquorum none\n", log().verifier_key());
    let p = Policy::parse(text.as_bytes()).unwrap();
    assert!(p.needs_no_witness());
    assert!(
        p.check(checkpoint_note(&[]).as_bytes(), None)
            .unwrap()
            .quorum_met
    );
}

#[test]
fn many_witnesses_and_groups_are_supported() {
    let n = 64;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "witness W{i}\t{}\n",
            witness(i).verifier().verifier_key()
        ));
    }
    // Groups of two, then a group of all groups needing 32 of them.
    for g in 0..n / 2 {
        text.push_str(&format!("group G{g} any W{} W{}\n", 2 * g, 2 * g + 1));
    }
    let names: Vec<String> = (0..n / 2).map(|g| format!("G{g}")).collect();
    text.push_str(&format!("group ALL 32 {}\nquorum ALL\n", names.join(" ")));
    let p = Policy::parse(text.as_bytes()).unwrap();
    let evens: BTreeSet<usize> = (0..n).step_by(2).collect();
    assert!(p.is_met_by(&evens));
    let fewer: BTreeSet<usize> = (0..n - 2).step_by(2).collect();
    assert!(!p.is_met_by(&fewer));
}

#[test]
fn the_limit_is_enforced_with_the_line_named() {
    let mut text = String::new();
    for i in 0..=MAX_ENTRIES {
        text.push_str(&format!(
            "witness W{i} {}\n",
            witness(i).verifier().verifier_key()
        ));
    }
    let e = Policy::parse(text.as_bytes()).unwrap_err();
    assert_eq!(e.line, MAX_ENTRIES + 1);
}

#[test]
fn bad_policies_are_refused_with_their_line() {
    let w0 = witness(0).verifier().verifier_key();
    let w1 = witness(1).verifier().verifier_key();
    let cases: Vec<(String, usize)> = vec![
        (format!("group G any W0\nwitness W0 {w0}\nquorum G\n"), 1),
        (format!("witness W0 {w0}\nwitness W0 {w1}\nquorum W0\n"), 2),
        (format!("witness W0 {w0}\nwitness W1 {w0}\nquorum W0\n"), 2),
        (format!("witness none {w0}\nquorum none\n"), 1),
        (format!("witness W0 {w0}\ngroup G any none\nquorum G\n"), 2),
        (format!("witness W0 {w0}\ngroup G 2 W0\nquorum G\n"), 2),
        (format!("witness W0 {w0}\ngroup G 01 W0\nquorum G\n"), 2),
        (format!("witness W0 {w0}\ngroup G\nquorum G\n"), 2),
        (format!("witness W0 {w0} url extra\nquorum W0\n"), 1),
        (format!("log {w0}\nquorum none\n"), 1),
        (
            format!("witness W0 {}\nquorum none\n", log().verifier_key()),
            1,
        ),
        (
            format!(
                "log {}\nlog {}\nquorum none\n",
                log().verifier_key(),
                log().verifier_key()
            ),
            2,
        ),
        ("quorum none\x0b\n".to_owned(), 1),
        ("quorum nobody\n".to_owned(), 1),
        ("\n\nquorum\n".to_owned(), 3),
    ];
    for (text, line) in cases {
        let e = Policy::parse(text.as_bytes()).unwrap_err();
        assert_eq!(e.line, line, "{text:?} gave {e}");
    }
    let e = Policy::parse(b"quorum none\n\xff\n").unwrap_err();
    assert_eq!(e.line, 2);
}

#[test]
fn quorum_name_is_the_quorum_lines_argument() {
    assert_eq!(
        Policy::parse(b"# c\n\nquorum none\n")
            .unwrap()
            .quorum_name(),
        "none"
    );
    assert_eq!(policy_2_of_3().quorum_name(), "G");
    let w = witness(0).verifier().verifier_key();
    let single = format!("witness W {w}\n\tquorum \t W\n");
    assert_eq!(Policy::parse(single.as_bytes()).unwrap().quorum_name(), "W");
}
