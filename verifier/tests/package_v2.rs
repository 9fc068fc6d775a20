//! Version 2 packages (segments with their own multiproofs, verified one segment at a
//! time) against version 1 as the oracle: the same log written both ways gives the same
//! report, and every tampering gives the same findings; through the binary a clean v2
//! package exits 0 and a tampered one 1 with the specific finding.

mod support;

use std::path::Path;

use ledger_record::Record;
use support::*;
use verifier::package::{
    segment_name, verify_package, verify_segmented, DirSink, EntryFile, Package, SegmentedPackage,
    StreamWriter, VerifyOptions, RECORDS_MAGIC,
};

/// Three appliances on two sites, 12 records each, interleaved.
fn scenario() -> LogSim {
    let mut sim = LogSim::new("example.com/evidence-log");
    let chains = [
        chain("clinic-1", "box-1"),
        chain("clinic-1", "box-2"),
        chain("clinic-2", "box-3"),
    ];
    for c in &chains {
        sim.enrol(c);
    }
    for n in 0..12 {
        for c in &chains {
            sim.append_record(c, n);
        }
    }
    sim
}

/// The package of `sim` as version 2 into `dir`, segments of `per` records, with the
/// records `include` selects.
fn write_v2(sim: &LogSim, dir: &Path, per: usize, include: impl Fn(u64) -> bool) {
    let note = sim.checkpoint();
    let sink = DirSink::create(dir).unwrap();
    let mut w = StreamWriter::new(
        &note,
        &sim.operator.verifying_key(),
        &sim.operator_chain,
        sink,
    )
    .unwrap();
    w.log_verifier_key(&sim.vkey())
        .sites(["clinic-1", "clinic-2"])
        .period(1_700_000_000_000, 1_800_000_000_000)
        .segment_entries(per);
    let keys: Vec<(u64, Vec<u8>)> = sim
        .key_indexes
        .iter()
        .map(|&i| (i, sim.entries[i as usize].clone()))
        .collect();
    w.keys(&keys, &sim.tree).unwrap();
    for (i, bytes) in sim.entries.iter().enumerate() {
        let r = Record::decode(bytes).unwrap();
        if r.site_id().as_str() != sim.operator_chain.site_id.as_str() && include(i as u64) {
            w.add_record(i as u64, bytes.clone(), &sim.tree).unwrap();
        }
    }
    w.finish(&sim.tree).unwrap();
}

fn report_json(report: &verifier::package::Report) -> serde_json::Value {
    let mut v = serde_json::to_value(report).unwrap();
    v.as_object_mut().unwrap().remove("format_version");
    v
}

fn findings(v: &serde_json::Value) -> Vec<(String, Option<u64>)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["log_index"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn a_v2_package_gives_the_v1_report_for_any_segment_size() {
    let sim = scenario();
    let dir = tempfile::tempdir().unwrap();
    let log = ledger_core::note::NoteVerifier::parse(&sim.vkey()).unwrap();
    let v1 = Package::parse(package_files(&sim, &["clinic-1", "clinic-2"], None, None)).unwrap();
    let expected = report_json(&verify_package(&v1, &VerifyOptions::new(&log)));
    assert_eq!(expected["valid"], true, "{expected:#}");
    for per in [1, 5, 36, 1000] {
        let path = dir.path().join(format!("v2-{per}"));
        write_v2(&sim, &path, per, |_| true);
        let pkg = SegmentedPackage::open(&path).unwrap();
        assert_eq!(pkg.segments, 36_u64.div_ceil(per as u64));
        let got = verify_segmented(&pkg, &VerifyOptions::new(&log)).unwrap();
        assert_eq!(got.format_version, 2);
        assert_eq!(report_json(&got), expected, "segments of {per}");
    }
}

#[test]
fn a_dropped_record_gives_the_v1_findings() {
    let sim = scenario();
    let dir = tempfile::tempdir().unwrap();
    let log = ledger_core::note::NoteVerifier::parse(&sim.vkey()).unwrap();
    // Index 10 is a record of clinic-1 in the middle of its chain.
    let dropped = 10;
    let mut v1 = package_files(&sim, &["clinic-1", "clinic-2"], None, None);
    let kept: Vec<(u64, Vec<u8>)> = EntryFile::parse(v1.records.clone(), &RECORDS_MAGIC, "r")
        .unwrap()
        .iter()
        .filter(|(i, _)| *i != dropped)
        .map(|(i, b)| (i, b.to_vec()))
        .collect();
    v1.records = EntryFile::encode(&RECORDS_MAGIC, kept.iter().map(|(i, b)| (*i, &b[..]))).unwrap();
    let expected = verify_package(&Package::parse(v1).unwrap(), &VerifyOptions::new(&log));
    let expected = findings(&report_json(&expected));

    // The same tampering on a v2 package: the segment holding index 10 loses it.
    let path = dir.path().join("v2");
    write_v2(&sim, &path, 4, |_| true);
    for n in 0.. {
        let seg = path.join(segment_name(n));
        let bytes = std::fs::read(&seg).unwrap();
        let file = EntryFile::parse(bytes, &RECORDS_MAGIC, "r").unwrap();
        if file.find(dropped).is_some() {
            let rest: Vec<(u64, Vec<u8>)> = file
                .iter()
                .filter(|(i, _)| *i != dropped)
                .map(|(i, b)| (i, b.to_vec()))
                .collect();
            let enc = EntryFile::encode(&RECORDS_MAGIC, rest.iter().map(|(i, b)| (*i, &b[..])));
            std::fs::write(&seg, enc.unwrap()).unwrap();
            break;
        }
    }
    let got = verify_segmented(
        &SegmentedPackage::open(&path).unwrap(),
        &VerifyOptions::new(&log),
    )
    .unwrap();
    let got = findings(&report_json(&got));
    let codes: Vec<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
    assert!(codes.contains(&"chain_gap"), "{got:?}");
    assert!(codes.contains(&"inclusion"), "{got:?}");
    assert!(codes.contains(&"manifest_mismatch"), "{got:?}");
    assert_eq!(got, expected);

    // Through the binary: exit 1 and the gap named.
    let (code, out, _) = run(&[
        "--json",
        "package",
        path.to_str().unwrap(),
        "--key",
        &sim.vkey(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("chain_gap"), "{out}");
}

#[test]
fn the_binary_accepts_a_clean_v2_package_and_refuses_a_missing_segment() {
    let sim = scenario();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2");
    write_v2(&sim, &path, 7, |_| true);
    let (code, out, err) = run(&["package", path.to_str().unwrap(), "--key", &sim.vkey()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&[
        "package",
        path.to_str().unwrap(),
        "--key",
        &sim.vkey(),
        "--cite",
        "20",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Citation for log index 20"), "{out}");
    std::fs::remove_file(path.join(segment_name(2))).unwrap();
    let (code, _, err) = run(&["package", path.to_str().unwrap(), "--key", &sim.vkey()]);
    assert_eq!(code, 2, "{err}");
}
