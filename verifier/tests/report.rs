//! `ledger-verify report` through the real binary, on real packages (signed records, a
//! real tree, a signed checkpoint, a stamp checked against a trusted header): the cover
//! facts, the gap day, per-check counts computed independently here, the control ids,
//! every citation re-checked with `ledger-verify cite`, no report for a tampered package,
//! custom and malformed control mappings, version 2 giving the same report, escaping,
//! and the PDF when Chromium is installed.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ledger_core::hash::Hash;
use ledger_record::{
    Body, ChainId, EvidenceBody, EvidenceItem, HealingBody, Id, KeyBody, KeyId, Outcome, Record,
    SigningKey, Status, Tier, UnsignedRecord,
};
use support::*;
use verifier::package::{
    DirSink, EntryFile, OpenedPackage, PackageFiles, StreamWriter, VerifyOptions, RECORDS_MAGIC,
};
use verifier::report::{build_report, ControlMap};

const ORIGIN: &str = "example.com/evidence-log";
const DAY_MS: u64 = 86_400_000;
/// 2023-11-14T00:00:00Z.
const DAY0: u64 = 19_675 * DAY_MS;
const CHECKS: [&str; 3] = ["firewall", "backup", "screen_lock"];
const HEIGHT: u64 = 840_000;
const BLOCK_TIME: u32 = 1_713_571_767;

/// An appliance the test writes records for itself (times and bodies of its choosing).
struct Appliance {
    chain: ChainId,
    key: SigningKey,
    sequence: u64,
    prev: Hash,
}

impl Appliance {
    fn record(&mut self, time_ms: u64, body: Body) -> Vec<u8> {
        self.sequence += 1;
        let unsigned = UnsignedRecord {
            site_id: self.chain.site_id.clone(),
            appliance_id: self.chain.appliance_id.clone(),
            sequence: self.sequence,
            prev_hash: self.prev,
            time_ms,
            key_id: KeyId::of(&self.key.verifying_key()),
            body,
        };
        let record = Record::sign(unsigned, &self.key).unwrap();
        self.prev = record.hash();
        record.encode()
    }
}

/// What the test expects, counted while the records are made.
#[derive(Default)]
struct Expected {
    /// (appliance, check type, status) → items.
    checks: BTreeMap<(String, String, String), u64>,
    /// (tier, outcome) → healing records.
    healing: BTreeMap<(String, String), u64>,
    records: u64,
}

fn status_of(a: usize, day: u64, slot: u64, j: usize) -> Status {
    match (a as u64 * 7 + day * 3 + slot * 5 + j as u64) % 5 {
        0..=2 => Status::Pass,
        3 => Status::Warning,
        _ => Status::Fail,
    }
}

fn evidence(a: usize, day: u64, slot: u64, time: u64, exp: &mut Expected, name: &str) -> Body {
    let items = CHECKS
        .iter()
        .enumerate()
        .map(|(j, check)| {
            let status = status_of(a, day, slot, j);
            *exp.checks
                .entry((
                    name.to_owned(),
                    (*check).to_owned(),
                    status.as_str().to_owned(),
                ))
                .or_default() += 1;
            EvidenceItem {
                check_type: Id::new(*check).unwrap(),
                host: Id::new("ws-01").unwrap(),
                status,
                observed_at_ms: time,
                details: format!("day {day} slot {slot}"),
                controls: vec![],
            }
        })
        .collect();
    Body::Evidence(EvidenceBody::inline(items).unwrap())
}

fn healing(n: u64, tier: Tier, outcome: Outcome, time: u64, exp: &mut Expected) -> Body {
    let t = format!("{tier:?}");
    let o = format!("{outcome:?}").to_lowercase();
    *exp.healing.entry((t, o)).or_default() += 1;
    Body::Healing(HealingBody {
        incident_id: Id::new(format!("inc-{n}")).unwrap(),
        check_type: Id::new("firewall").unwrap(),
        pattern_signature: "firewall disabled".into(),
        tier,
        runbook_id: Id::new("rb-firewall-on").unwrap(),
        action: format!("re-enabled the firewall <script>alert({n})</script>"),
        outcome,
        started_at_ms: time,
        ended_at_ms: time + 1500,
        state_before: "off".into(),
        state_after: "on".into(),
    })
}

/// Two appliances on two sites; evidence twice a day over six days, box-1 has none on
/// day 3 (2023-11-17); five healing records.
fn scenario() -> (LogSim, Expected) {
    let mut sim = LogSim::new(ORIGIN);
    let mut exp = Expected::default();
    let mut apps: Vec<Appliance> = [chain("clinic-1", "box-1"), chain("clinic-2", "box-2")]
        .into_iter()
        .map(|c| Appliance {
            key: sim.enrol_external(&c),
            chain: c,
            sequence: 0,
            prev: Hash([0; 32]),
        })
        .collect();
    let heal = [
        (0, 1, Tier::L1, Outcome::Success),
        (0, 2, Tier::L2, Outcome::Failure),
        (0, 4, Tier::L3, Outcome::Escalated),
        (1, 0, Tier::L1, Outcome::Success),
        (1, 5, Tier::L1, Outcome::Escalated),
    ];
    let mut n = 0;
    for day in 0..6u64 {
        for slot in 0..2u64 {
            for (a, app) in apps.iter_mut().enumerate() {
                if a == 0 && day == 3 {
                    continue;
                }
                let time = DAY0 + day * DAY_MS + 3_600_000 + slot * 12 * 3_600_000 + a as u64;
                let name = app.chain.appliance_id.to_string();
                let body = evidence(a, day, slot, time, &mut exp, &name);
                sim.append_bytes(app.record(time, body));
                exp.records += 1;
            }
        }
        for &(a, d, tier, outcome) in &heal {
            if d == day {
                n += 1;
                let time = DAY0 + day * DAY_MS + 20 * 3_600_000;
                let body = healing(n, tier, outcome, time, &mut exp);
                sim.append_bytes(apps[a].record(time, body));
                exp.records += 1;
            }
        }
    }
    // At the end, box-1 rotates its key (a record of its own chain, signed by the old
    // key) and the operator revokes box-2's key.
    let rotation = Body::Key(KeyBody::Rotation {
        old_key_id: KeyId::of(&apps[0].key.verifying_key()),
        new_public_key: key("box-1 new key").verifying_key(),
    });
    let index = sim.append_bytes(apps[0].record(DAY0 + 5 * DAY_MS + 21 * 3_600_000, rotation));
    sim.key_indexes.push(index);
    exp.records += 1;
    sim.revoke(&apps[1].chain);
    (sim, exp)
}

struct Fixture {
    dir: tempfile::TempDir,
    sim: LogSim,
    exp: Expected,
    files: PackageFiles,
    key: String,
    headers: PathBuf,
}

fn fixture() -> Fixture {
    let (sim, exp) = scenario();
    let body = body_of(&sim.checkpoint());
    let (ots, header_line) = stamp(body.as_bytes(), HEIGHT, BLOCK_TIME);
    let files = package_files(
        &sim,
        &["clinic-1", "clinic-2"],
        Some(&ots),
        Some(&header_line),
    );
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("trusted-headers.txt");
    std::fs::write(&headers, header_line).unwrap();
    Fixture {
        key: sim.vkey(),
        dir,
        sim,
        exp,
        files,
        headers,
    }
}

impl Fixture {
    fn write(&self, name: &str, files: &PackageFiles) -> PathBuf {
        let p = self.dir.path().join(name);
        files.write_dir(&p).unwrap();
        p
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `report` on `pkg` writing `out`; returns (exit code, stdout, stderr).
    fn report(&self, pkg: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec![
            "report",
            pkg.to_str().unwrap(),
            "--key",
            &self.key,
            "--block-headers",
            self.headers.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args)
    }

    fn good_report(&self, extra: &[&str]) -> (PathBuf, String) {
        let pkg = self.write(&format!("pkg-{}", extra.len()), &self.files);
        let out = self.path(&format!("report-{}.html", extra.len()));
        let (code, stdout, stderr) = self.report(&pkg, &out, extra);
        assert_eq!(code, 0, "{stdout}{stderr}");
        (pkg, std::fs::read_to_string(&out).unwrap())
    }
}

/// The HTML between `start` and the next `<h3` or `<h2` after it.
fn section<'a>(html: &'a str, start: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in the report"));
    let rest = &html[at + start.len()..];
    let end = [rest.find("<h3"), rest.find("<h2")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The text of an HTML fragment with footnote marks and tags removed.
fn text_of(fragment: &str) -> String {
    let mut s = fragment.to_owned();
    while let Some(a) = s.find("<sup") {
        let b = s[a..].find("</sup>").map_or(s.len(), |b| a + b + 6);
        s.replace_range(a..b, "");
    }
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The cells (as text) of the first table row of `fragment` starting with `first_cell`.
fn row(fragment: &str, first_cell: &str) -> Vec<String> {
    for tr in fragment.split("<tr").skip(1) {
        let tr = tr.split("</tr>").next().unwrap_or("");
        let cells: Vec<String> = tr
            .split("<td")
            .skip(1)
            .map(|c| text_of(&format!("<td{c}")).trim().to_owned())
            .collect();
        if cells.first().is_some_and(|c| c == first_cell) {
            return cells;
        }
    }
    panic!("no row {first_cell:?} in {fragment}");
}

/// Every citation string in the report.
fn citations(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let prefix = "evidence-ledger:v1:";
    let mut rest = html;
    // The appendix shows the form with placeholders; only real citations are collected.
    while let Some(at) = rest.find(prefix) {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._~%:-/".contains(c)))
            .unwrap_or(tail.len());
        if end > prefix.len() {
            out.push(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn report_shows_cover_facts_and_the_gap_day() {
    let fx = fixture();
    let (_, html) = fx.good_report(&[]);
    // Cover.
    assert!(html.contains(ORIGIN));
    assert!(html.contains(&escape_key(&fx.key)));
    let root = verifier::hashes::hash_b64(&fx.sim.tree.root());
    assert!(html.contains(&format!(
        "tree size {}, root <code>{root}</code>",
        fx.sim.tree.size()
    )));
    assert!(html.contains(&format!("Bitcoin block {HEIGHT}")));
    assert!(
        html.contains("2023-11-14T01:00:00") && html.contains("2023-11-19T21:00:00"),
        "period"
    );
    assert!(html.contains("clinic-1, clinic-2"));
    assert!(text_of(&html).contains(&format!("2 ({} records)", fx.exp.records)));
    assert!(html.contains("VALID"));
    // The gap day of box-1 and none for box-2.
    let box1 = section(&html, "Site clinic-1 — appliance box-1</h3>");
    let box2 = section(&html, "Site clinic-2 — appliance box-2</h3>");
    assert_eq!(
        row(box1, "2023-11-17"),
        ["2023-11-17", "2023-11-17", "1", "GAP: no evidence"]
    );
    assert_eq!(
        row(box1, "2023-11-14"),
        ["2023-11-14", "2023-11-16", "3", "6"]
    );
    assert_eq!(
        row(box1, "2023-11-18"),
        ["2023-11-18", "2023-11-19", "2", "4"]
    );
    assert_eq!(
        row(box2, "2023-11-14"),
        ["2023-11-14", "2023-11-19", "6", "12"]
    );
    assert!(!box2.contains("GAP"));
    assert!(box1.contains("gaps: none"));
    // Key history: both enrolments, box-1's rotation, box-2's revocation.
    assert!(box1.contains("enrolment") && box2.contains("enrolment"));
    assert!(box1.contains("rotation") && box1.contains("replaced by key"));
    assert!(box2.contains("revocation") && box2.contains("key compromise"));
    assert!(!box1.contains("revocation") && !box2.contains("rotation"));
    // Escaped, self-contained.
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
}

#[test]
fn report_counts_checks_healing_and_maps_hipaa_controls() {
    let fx = fixture();
    let (_, html) = fx.good_report(&[]);
    let box1 = section(&html, "Site clinic-1 — appliance box-1</h3>");
    let box2 = section(&html, "Site clinic-2 — appliance box-2</h3>");
    // Per-check counts, against the independent tally.
    for (name, frag) in [("box-1", box1), ("box-2", box2)] {
        for check in CHECKS {
            let cells = row(frag, check);
            for (i, status) in ["pass", "warning", "fail", "error"].iter().enumerate() {
                let want = fx
                    .exp
                    .checks
                    .get(&(name.into(), check.into(), (*status).into()))
                    .copied()
                    .unwrap_or(0);
                assert_eq!(cells[i + 1], want.to_string(), "{name} {check} {status}");
            }
        }
    }
    // HIPAA control ids, per appliance and in the mapping section.
    assert_eq!(row(box1, "firewall")[5], "§164.312(e)(1)");
    assert_eq!(row(box1, "backup")[5], "§164.308(a)(7)(ii)(A)");
    assert_eq!(row(box1, "screen_lock")[5], "§164.312(a)(2)(iii)");
    let controls = section(&html, "<h2 id=\"controls\">");
    assert!(controls.contains("HIPAA Security Rule"));
    assert_eq!(row(controls, "firewall")[1], "§164.312(e)(1)");
    // Healing: by tier and outcome, and the incidents table.
    let healing = section(&html, "<h2 id=\"healing\">");
    assert!(text_of(healing).contains("5 healing records"));
    for tier in ["L1", "L2", "L3"] {
        let got = row(healing, tier);
        for (i, outcome) in ["success", "failure", "escalated"].iter().enumerate() {
            let want = fx
                .exp
                .healing
                .get(&(tier.into(), (*outcome).into()))
                .copied()
                .unwrap_or(0);
            assert_eq!(got[i + 1], want.to_string(), "{tier} {outcome}");
        }
    }
    assert_eq!(fx.exp.healing[&("L1".into(), "success".into())], 2);
    let incidents = section(&html, "most recent incidents");
    assert_eq!(incidents.matches("<tr>").count(), 1 + 5);
}

/// The verifier key as the report shows it (escaped; `+` stays).
fn escape_key(key: &str) -> String {
    verifier::report::html::escape(key)
}

#[test]
fn every_citation_verifies_with_cite() {
    let fx = fixture();
    let (pkg, html) = fx.good_report(&[]);
    let all = citations(&html);
    assert!(all.len() >= 20, "only {} citations: {all:?}", all.len());
    for c in &all {
        let (code, stdout, stderr) = run(&[
            "cite",
            c,
            "--package",
            pkg.to_str().unwrap(),
            "--key",
            &fx.key,
        ]);
        assert_eq!(code, 0, "{c}: {stdout}{stderr}");
    }
    // A footnote of box-1's firewall pass count cites box-1's records.
    let box1 = section(&html, "Site clinic-1 — appliance box-1</h3>");
    let tr = box1
        .split("<tr>")
        .find(|r| r.contains("<code>firewall</code>"))
        .unwrap();
    let n: String = tr
        .split("href=\"#c")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let note = html
        .split(&format!("<li id=\"c{n}\">"))
        .nth(1)
        .unwrap()
        .split("</li>")
        .next()
        .unwrap();
    let cited = citations(note);
    assert!(!cited.is_empty());
    for c in cited {
        let (code, stdout, _) = run(&[
            "cite",
            &c,
            "--package",
            pkg.to_str().unwrap(),
            "--key",
            &fx.key,
        ]);
        assert_eq!(code, 0);
        assert!(stdout.contains("clinic-1/box-1"), "{stdout}");
    }
}

#[test]
fn tampered_package_gives_no_report() {
    let fx = fixture();
    // One byte of one record flipped.
    let mut recs: Vec<(u64, Vec<u8>)> =
        EntryFile::parse(fx.files.records.clone(), &RECORDS_MAGIC, "records.bin")
            .unwrap()
            .iter()
            .map(|(i, b)| (i, b.to_vec()))
            .collect();
    let bytes = &mut recs[5].1;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let mut flipped_record = fx.files.clone();
    flipped_record.records =
        EntryFile::encode(&RECORDS_MAGIC, recs.iter().map(|(i, b)| (*i, b.as_slice()))).unwrap();
    // One character of the checkpoint signature changed (the base64 stays valid).
    let note = String::from_utf8(fx.files.checkpoint.clone()).unwrap();
    let mut cp = note.clone().into_bytes();
    let at = note.rfind(' ').unwrap() + 20;
    cp[at] = if cp[at] == b'A' { b'B' } else { b'A' };
    let mut flipped_cp = fx.files.clone();
    flipped_cp.checkpoint = cp;
    for (name, files, finding) in [
        ("record", flipped_record, "record_"),
        ("checkpoint", flipped_cp, "checkpoint_signature"),
    ] {
        let pkg = fx.write(name, &files);
        let out = fx.path(&format!("{name}.html"));
        let (code, stdout, stderr) = fx.report(&pkg, &out, &[]);
        assert_eq!(code, 1, "{name}: {stdout}{stderr}");
        assert!(stdout.contains(finding), "{name}: {stdout}");
        assert!(stderr.contains("no report was written"), "{stderr}");
        assert!(!out.exists(), "{name}: a report was written");
    }
}

#[test]
fn custom_controls_replace_the_defaults_and_bad_ones_name_the_line() {
    let fx = fixture();
    let soc2 = fx.path("soc2.toml");
    std::fs::write(
        &soc2,
        "framework = \"SOC 2\"\n\n[check_types.firewall]\ncontrols = [\"CC6.6\"]\n\
         description = \"Boundary protection\"\n\n[check_types.backup]\ncontrols = [\"A1.2\", \"CC7.5\"]\n",
    )
    .unwrap();
    let (_, html) = fx.good_report(&["--controls", soc2.to_str().unwrap()]);
    let controls = section(&html, "<h2 id=\"controls\">");
    assert!(controls.contains("SOC 2"));
    assert_eq!(row(controls, "firewall")[1], "CC6.6");
    assert_eq!(row(controls, "backup")[1], "A1.2, CC7.5");
    assert_eq!(row(controls, "screen_lock")[1], "not mapped");
    assert!(!html.contains("§164.312(e)(1)"));

    let bad = fx.path("bad.toml");
    std::fs::write(
        &bad,
        "framework = \"SOC 2\"\n[check_types.firewall]\ncontrols = [\"CC6.6\"\n",
    )
    .unwrap();
    let pkg = fx.write("pkg-bad-controls", &fx.files);
    let out = fx.path("bad-controls.html");
    let (code, _, stderr) = fx.report(&pkg, &out, &["--controls", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("bad.toml") && stderr.contains("line 3"),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// The same log as a version 2 package in small segments gives the same report.
#[test]
fn version_2_package_gives_the_same_report() {
    let fx = fixture();
    let (_, v1) = fx.good_report(&[]);
    let dir = fx.path("pkg-v2");
    let note = fx.sim.checkpoint();
    let sink = DirSink::create(&dir).unwrap();
    let mut w = StreamWriter::new(
        &note,
        &fx.sim.operator.verifying_key(),
        &fx.sim.operator_chain,
        sink,
    )
    .unwrap();
    w.log_verifier_key(&fx.sim.vkey())
        .sites(["clinic-1", "clinic-2"])
        .period(1_700_000_000_000, 1_800_000_000_000)
        .segment_entries(7);
    let body = body_of(&note);
    let (ots, header_line) = stamp(body.as_bytes(), HEIGHT, BLOCK_TIME);
    w.timestamp(&ots).unwrap();
    w.headers(&header_line).unwrap();
    let keys: Vec<(u64, Vec<u8>)> = fx
        .sim
        .key_indexes
        .iter()
        .map(|&i| (i, fx.sim.entries[i as usize].clone()))
        .collect();
    w.keys(&keys, &fx.sim.tree).unwrap();
    for (i, bytes) in fx.sim.entries.iter().enumerate() {
        // Every record of the sites, the rotation (also a key record) included.
        let r = Record::decode(bytes).unwrap();
        if r.site_id() != &fx.sim.operator_chain.site_id {
            w.add_record(i as u64, bytes.clone(), &fx.sim.tree).unwrap();
        }
    }
    w.finish(&fx.sim.tree).unwrap();
    assert!(
        dir.join(verifier::package::segment_name(2)).exists(),
        "not segmented"
    );
    let out = fx.path("v2.html");
    let (code, stdout, stderr) = fx.report(&dir, &out, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), v1);
}

/// The incident table keeps only the most recent rows and says how many more exist.
#[test]
fn incident_table_is_capped() {
    let fx = fixture();
    let pkg = fx.write("pkg-capped", &fx.files);
    let log = verifier::files::load_verifier_key(&fx.key).unwrap();
    let opened = OpenedPackage::open(&pkg).unwrap();
    let opts = VerifyOptions::new(&log);
    let built = build_report(&opened, &opts, &ControlMap::hipaa(), 2).unwrap();
    assert!(built.verification.valid);
    let html = built.html.unwrap();
    let incidents = section(&html, "most recent incidents");
    assert_eq!(incidents.matches("<tr>").count(), 1 + 2);
    assert!(incidents.contains("inc-5") && incidents.contains("inc-4"));
    assert!(!incidents.contains("inc-3"));
    assert!(
        incidents.contains("3 more incidents are not listed"),
        "{incidents}"
    );
    // The counts by tier and outcome still count all five.
    assert!(text_of(&html).contains("5 healing records"));
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ledger-verify")
}

#[test]
fn pdf_without_chromium_is_a_clear_usage_error() {
    let fx = fixture();
    let pkg = fx.write("pkg-nopdf", &fx.files);
    let out = fx.path("nopdf.html");
    let empty = fx.path("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let o = Command::new(bin())
        .args(["report", pkg.to_str().unwrap(), "--key", &fx.key, "--out"])
        .arg(&out)
        .arg("--pdf")
        .arg(fx.path("x.pdf"))
        .env("PATH", &empty)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("chromium"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn pdf_with_chromium() {
    if verifier::report::pdf::find_chromium().is_none() {
        // CI installs Chromium and sets LEDGER_REQUIRE_CHROMIUM, so there this fails.
        assert!(
            std::env::var_os("LEDGER_REQUIRE_CHROMIUM").is_none(),
            "LEDGER_REQUIRE_CHROMIUM is set but no chromium is on PATH"
        );
        eprintln!("skipped: no chromium (neither `chromium` nor `chromium-browser` on PATH)");
        return;
    }
    let fx = fixture();
    let pdf = fx.path("report.pdf");
    fx.good_report(&["--pdf", pdf.to_str().unwrap()]);
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"), "not a PDF");
    // Page objects are `/Type /Page` (the page tree nodes are `/Type /Pages`).
    let text = String::from_utf8_lossy(&bytes);
    let pages = ["/Type /Page", "/Type/Page"]
        .iter()
        .flat_map(|m| text.match_indices(m).map(move |(at, _)| at + m.len()))
        .filter(|&end| text.as_bytes().get(end) != Some(&b's'))
        .count();
    assert!(pages > 0, "no page in the PDF");
    render_first_page(&fx, &pdf);
}

/// Renders page 1 with poppler's `pdftoppm` (when installed; required with Chromium in
/// CI) and checks a non-empty PNG came out.
fn render_first_page(fx: &Fixture, pdf: &std::path::Path) {
    let have = Command::new("pdftoppm").arg("-v").output().is_ok();
    if !have {
        assert!(
            std::env::var_os("LEDGER_REQUIRE_CHROMIUM").is_none(),
            "LEDGER_REQUIRE_CHROMIUM is set but pdftoppm (poppler-utils) is missing"
        );
        eprintln!("pdftoppm not installed: page rendering not checked");
        return;
    }
    let prefix = fx.path("page");
    let o = Command::new("pdftoppm")
        .args(["-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile"])
        .arg(pdf)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(prefix.with_extension("png")).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 1000,
        "page 1 did not render"
    );
}
