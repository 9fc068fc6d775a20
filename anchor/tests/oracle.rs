//! Cross-check against an independent implementation: the `opentimestamps`
//! crate (0.2.0) parses the trusted vector files, and for each file the set
//! of (message, attestation) leaves and the digest must match ours. Per
//! DESIGN.md it is fed only these trusted files, never mangled input (it can
//! panic or over-allocate on hostile bytes).

mod common;

use anchor::{Attestation, DetachedTimestamp, Timestamp};
use common::*;
use opentimestamps::attestation::Attestation as OracleAttestation;
use opentimestamps::ser::Deserializer;
use opentimestamps::timestamp::{Step, StepData};

/// One leaf as `(message hex, attestation description)`.
type Leaf = (String, String);

fn oracle_leaves(step: &Step, out: &mut Vec<Leaf>) {
    match &step.data {
        StepData::Attestation(a) => {
            let described = match a {
                OracleAttestation::Bitcoin { height } => format!("bitcoin {height}"),
                OracleAttestation::Pending { uri } => format!("pending {uri}"),
                OracleAttestation::Unknown { tag, data } => {
                    format!("unknown {} {}", hex::encode(tag), hex::encode(data))
                }
            };
            out.push((hex::encode(&step.output), described));
        }
        StepData::Fork | StepData::Op(_) => {
            for next in &step.next {
                oracle_leaves(next, out);
            }
        }
    }
}

fn our_leaves(t: &Timestamp, root: &[u8]) -> Vec<Leaf> {
    t.attestations_with_messages(root)
        .unwrap()
        .into_iter()
        .map(|a| {
            let described = match a.attestation {
                Attestation::Bitcoin { height } => format!("bitcoin {height}"),
                Attestation::Pending { uri } => format!("pending {uri}"),
                Attestation::Unknown { tag, payload } => {
                    format!("unknown {} {}", hex::encode(tag), hex::encode(payload))
                }
                other => panic!("the vectors hold no {other:?}"),
            };
            (hex::encode(&a.message), described)
        })
        .collect()
}

#[test]
fn detached_vectors_match_the_opentimestamps_crate() {
    let files = valid_detached_files();
    assert_eq!(files.len(), 9);
    for file in files {
        let bytes = read(&file);
        let oracle = opentimestamps::DetachedTimestampFile::from_reader(&bytes[..])
            .unwrap_or_else(|e| panic!("oracle rejects {file}: {e:?}"));
        let ours = DetachedTimestamp::parse(&bytes).unwrap();

        assert_eq!(
            oracle.digest_type.to_tag(),
            ours.file_hash_op.tag(),
            "{file}"
        );
        assert_eq!(oracle.timestamp.start_digest, ours.digest, "{file}");

        let mut expected = Vec::new();
        oracle_leaves(&oracle.timestamp.first_step, &mut expected);
        let mut got = our_leaves(&ours.timestamp, &ours.digest);
        assert!(!expected.is_empty(), "{file}");
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{file}");
    }
}

#[test]
fn calendar_captures_match_the_opentimestamps_crate() {
    let files = bare_files();
    assert_eq!(files.len(), 5);
    for file in files {
        let bytes = read(&file);
        let root = bare_root_for(&file);
        let mut deser = Deserializer::new(&bytes[..]);
        let oracle = opentimestamps::Timestamp::deserialize(&mut deser, root.clone())
            .unwrap_or_else(|e| panic!("oracle rejects {file}: {e:?}"));
        let ours = Timestamp::parse(&bytes, &root).unwrap();

        let mut expected = Vec::new();
        oracle_leaves(&oracle.first_step, &mut expected);
        let mut got = our_leaves(&ours, &root);
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{file}");
    }
}
