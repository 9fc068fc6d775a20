//! The sections of the audit report: cover, one section per appliance, healing
//! incidents, the control mapping and the verification's notes. Each function writes
//! into a [`Doc`], escaping every string that comes from the package and citing the
//! records behind every number.

use std::fmt::Write as _;

use ledger_record::{ChainId, Outcome, Tier};

use super::aggregate::{Aggregates, ChainAgg, Span, StatusCounts, DAY_MS};
use super::controls::ControlMap;
use super::html::{escape, Doc};
use super::keys::KeyEvents;
use crate::package::{ApplianceSummary, Report};
use crate::utc::{format_day, format_unix_millis};

/// Per-day strips are drawn for ranges up to this many days (longer ranges get the
/// table of covered runs and gaps only, which stays small).
const MAX_STRIP_DAYS: i64 = 400;

/// What the sections are made from.
pub struct Input<'a> {
    pub verification: &'a Report,
    pub aggregates: &'a Aggregates,
    pub keys: &'a KeyEvents,
    pub controls: &'a ControlMap,
}

/// A count with its footnote.
fn counted(doc: &mut Doc, span: Option<&Span>) -> String {
    match span {
        Some(s) => format!("{}{}", s.count, doc.cite(&s.indexes())),
        None => "0".to_owned(),
    }
}

/// The cover: the log, the period, the sites, the checkpoint, the anchor, the verdict.
pub fn cover(doc: &mut Doc, input: &Input<'_>) {
    let v = input.verification;
    let a = input.aggregates;
    doc.push("<h1>Evidence audit report</h1>\n");
    let mut rows: Vec<(String, String)> = vec![
        (
            "Log".into(),
            format!("<code>{}</code>", escape(&v.log.origin)),
        ),
        (
            "Log key (pinned by you)".into(),
            format!("<code>{}</code>", escape(&v.log.verifier_key)),
        ),
    ];
    let period = match (a.earliest, a.latest) {
        (Some((t0, i0)), Some((t1, i1))) => format!(
            "{}{} to {}{} (appliance time of the first and last record)",
            format_unix_millis(t0),
            doc.cite(&[i0]),
            format_unix_millis(t1),
            doc.cite(&[i1])
        ),
        _ => "no records".into(),
    };
    rows.push(("Period".into(), period));
    if let Some(p) = v.period {
        rows.push((
            "Period selected by the exporter".into(),
            format!(
                "{} to {}",
                format_unix_millis(p.start_ms),
                format_unix_millis(p.end_ms)
            ),
        ));
    }
    let sites: Vec<String> = v.sites.iter().map(|s| escape(s)).collect();
    rows.push(("Sites".into(), sites.join(", ")));
    let records = counted(doc, a.all.as_ref());
    rows.push((
        "Appliances".into(),
        format!("{} ({records} records)", v.appliances.len()),
    ));
    rows.push((
        "Checkpoint".into(),
        format!(
            "tree size {}, root <code>{}</code>, signature valid",
            v.log.checkpoint_size,
            escape(&v.log.checkpoint_root)
        ),
    ));
    rows.push(("Bitcoin anchor".into(), anchor_text(v)));
    rows.push(("Verdict".into(), verdict_text(v)));
    doc.push("<table>\n");
    for (k, val) in rows {
        let _ = writeln!(doc.body, "<tr><th>{k}</th><td>{val}</td></tr>");
    }
    doc.push("</table>\n");
}

fn anchor_text(v: &Report) -> String {
    let a = &v.anchor;
    match (a.status.as_str(), a.height, &a.time_utc) {
        ("verified", Some(h), Some(t)) => format!(
            "the checkpoint existed by Bitcoin block {h} (block time {}), checked against the block headers you supplied",
            escape(t)
        ),
        ("package_headers", _, _) => "pending: the stamp matches only the headers shipped inside the package, which are not trusted; rerun with <code>--block-headers</code>".into(),
        ("unverified", _, _) => "pending: the stamp has a Bitcoin attestation but no block header was supplied to check it".into(),
        ("pending", _, _) => "pending: the calendar has not yet anchored the stamp in Bitcoin".into(),
        _ => "pending: the package has no timestamp".into(),
    }
}

fn verdict_text(v: &Report) -> String {
    format!(
        "<span class=\"valid\">VALID</span>: every check of <code>ledger-verify package</code> passed: \
the checkpoint signature, the key records ({}), every record signature ({} of {} valid, {} \
mode), per-appliance completeness, and the inclusion of every entry in the checkpoint's tree.",
        v.counts.key_records,
        v.signatures.valid,
        v.signatures.checked,
        escape(&v.signatures.method)
    )
}

/// Links to the sections and to each appliance.
pub fn contents(doc: &mut Doc, v: &Report) {
    let links: Vec<String> = v
        .appliances
        .iter()
        .enumerate()
        .map(|(n, s)| {
            format!(
                "<a href=\"#a{}\">{}/{}</a>",
                n + 1,
                escape(&s.site_id),
                escape(&s.appliance_id)
            )
        })
        .collect();
    let notes = if v.notes.is_empty() {
        ""
    } else {
        "<li><a href=\"#notes\">Notes from the verification</a></li>"
    };
    let _ = writeln!(
        doc.body,
        "<h2 id=\"contents\">Contents</h2>\n<ol>\n<li><a href=\"#appliances\">Appliances</a>: {}</li>\n\
<li><a href=\"#healing\">Healing incidents</a></li>\n<li><a href=\"#controls\">Control mapping</a></li>\n\
{notes}<li><a href=\"#recheck\">Appendix: re-checking a line</a></li>\n<li><a href=\"#citations\">Citations</a></li>\n</ol>",
        links.join(", ")
    );
}

/// One section per appliance, grouped by site in the order of the package's chains.
pub fn appliances(doc: &mut Doc, input: &Input<'_>) {
    doc.push("<h2 id=\"appliances\">Appliances</h2>\n");
    let a = input.aggregates;
    let range = match (a.earliest, a.latest) {
        (Some((t0, _)), Some((t1, _))) => Some(((t0 / DAY_MS) as i64, (t1 / DAY_MS) as i64)),
        _ => None,
    };
    for (n, summary) in input.verification.appliances.iter().enumerate() {
        let chain = match (
            ledger_record::Id::new(summary.site_id.clone()),
            ledger_record::Id::new(summary.appliance_id.clone()),
        ) {
            (Ok(s), Ok(ap)) => ChainId::new(s, ap),
            _ => continue,
        };
        let empty = ChainAgg::default();
        let agg = a.chains.get(&chain).unwrap_or(&empty);
        let _ = writeln!(
            doc.body,
            "<h3 id=\"a{}\">Site {} — appliance {}</h3>",
            n + 1,
            escape(&summary.site_id),
            escape(&summary.appliance_id)
        );
        completeness(doc, summary);
        if let Some(range) = range {
            coverage(doc, agg, range);
        }
        checks(doc, agg, input.controls);
        key_history(doc, input.keys.get(&chain));
    }
}

fn completeness(doc: &mut Doc, s: &ApplianceSummary) {
    let first = s
        .first_log_index
        .map(|i| doc.cite(&[i]))
        .unwrap_or_default();
    let last = s.last_log_index.map(|i| doc.cite(&[i])).unwrap_or_default();
    let _ = writeln!(
        doc.body,
        "<p>Chain completeness: sequences {}{first} to {}{last}, {} records; gaps: none. \
The package check proves it: every sequence number of the range is present and each \
record links to its predecessor's hash.</p>",
        s.first_sequence, s.last_sequence, s.records
    );
}

/// Evidence bundles per UTC day over the package's whole range: covered runs and gaps.
fn coverage(doc: &mut Doc, agg: &ChainAgg, (first_day, last_day): (i64, i64)) {
    doc.push("<h4>Evidence coverage per day (UTC, appliance time)</h4>\n");
    if last_day - first_day < MAX_STRIP_DAYS {
        doc.push("<div class=\"strip\">");
        for day in first_day..=last_day {
            let (class, what) = match agg.days.get(&day) {
                Some(s) => ("on", format!("{} bundles", s.count)),
                None => ("off", "no evidence".to_owned()),
            };
            let _ = write!(
                doc.body,
                "<span class=\"{class}\" title=\"{}: {what}\"></span>",
                format_day(day)
            );
        }
        doc.push("</div>\n");
    }
    doc.push("<table>\n<tr><th>From</th><th>To</th><th>Days</th><th>Evidence bundles</th></tr>\n");
    let mut day = first_day;
    while day <= last_day {
        let covered = agg.days.contains_key(&day);
        let mut end = day;
        while end < last_day && agg.days.contains_key(&(end + 1)) == covered {
            end += 1;
        }
        let days = end - day + 1;
        if covered {
            let spans = agg.days.range(day..=end).map(|(_, s)| *s);
            let (count, first, last) = spans.fold((0, u64::MAX, 0), |(c, f, l), s| {
                (c + s.count, f.min(s.first), l.max(s.last))
            });
            let mark = doc.cite(&Span { count, first, last }.indexes());
            let _ = writeln!(
                doc.body,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{days}</td><td class=\"n\">{count}{mark}</td></tr>",
                format_day(day),
                format_day(end)
            );
        } else {
            let _ = writeln!(
                doc.body,
                "<tr class=\"gap\"><td>{}</td><td>{}</td><td class=\"n\">{days}</td><td>GAP: no evidence</td></tr>",
                format_day(day),
                format_day(end)
            );
        }
        day = end + 1;
    }
    doc.push("</table>\n");
}

fn checks(doc: &mut Doc, agg: &ChainAgg, controls: &ControlMap) {
    doc.push("<h4>Check results per check type</h4>\n");
    if agg.checks.is_empty() {
        doc.push("<p>No inline evidence items.</p>\n");
    } else {
        doc.push("<table>\n<tr><th>Check type</th><th>Pass</th><th>Warning</th><th>Fail</th><th>Error</th><th>Controls</th></tr>\n");
        for (check_type, counts) in &agg.checks {
            let cells = status_cells(doc, counts);
            let mapped = controls.controls_of(check_type);
            let mapped = if mapped.is_empty() {
                "<span class=\"warn\">not mapped</span>".to_owned()
            } else {
                mapped
                    .iter()
                    .map(|c| escape(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                doc.body,
                "<tr><td><code>{}</code></td>{cells}<td>{mapped}</td></tr>",
                escape(check_type)
            );
        }
        doc.push("</table>\n");
    }
    if let Some(s) = &agg.committed {
        let mark = doc.cite(&s.indexes());
        let _ = writeln!(
            doc.body,
            "<p>{}{mark} evidence bundles commit to their items by root without showing them; \
their results are not counted above.</p>",
            s.count
        );
    }
}

fn status_cells(doc: &mut Doc, counts: &StatusCounts) -> String {
    let mut cells = String::new();
    for slot in &counts.by_status {
        let _ = write!(
            cells,
            "<td class=\"n\">{}</td>",
            counted(doc, slot.as_ref())
        );
    }
    cells
}

fn key_history(doc: &mut Doc, events: Option<&Vec<super::keys::KeyEvent>>) {
    doc.push("<h4>Key history</h4>\n");
    let Some(events) = events.filter(|e| !e.is_empty()) else {
        doc.push("<p>No key records for this appliance below the checkpoint.</p>\n");
        return;
    };
    doc.push("<table>\n<tr><th>Time</th><th>Action</th><th>Key id</th><th>Detail</th></tr>\n");
    for e in events {
        let mark = doc.cite(&[e.index]);
        let _ = writeln!(
            doc.body,
            "<tr><td>{}</td><td>{}{mark}</td><td><code>{}</code></td><td>{}</td></tr>",
            format_unix_millis(e.time_ms),
            e.action,
            escape(&e.key_id),
            escape(&e.detail)
        );
    }
    doc.push("</table>\n");
}

pub fn tier_name(t: Tier) -> &'static str {
    match t {
        Tier::L1 => "L1",
        Tier::L2 => "L2",
        Tier::L3 => "L3",
    }
}

pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Escalated => "escalated",
    }
}

/// Healing incidents: counts by tier and outcome, and the most recent ones in full.
pub fn healing(doc: &mut Doc, input: &Input<'_>) {
    let a = input.aggregates;
    doc.push("<h2 id=\"healing\">Healing incidents</h2>\n");
    let total = counted(doc, a.healing_all.as_ref());
    let _ = writeln!(doc.body, "<p>{total} healing records in the package.</p>");
    if a.incidents_total == 0 {
        return;
    }
    doc.push("<table>\n<tr><th>Tier</th><th>Success</th><th>Failure</th><th>Escalated</th></tr>\n");
    for tier in [Tier::L1, Tier::L2, Tier::L3] {
        let mut row = format!("<tr><td>{}</td>", tier_name(tier));
        for outcome in [Outcome::Success, Outcome::Failure, Outcome::Escalated] {
            let cell = counted(doc, a.healing.get(&(tier.code(), outcome.code())));
            let _ = write!(row, "<td class=\"n\">{cell}</td>");
        }
        row.push_str("</tr>\n");
        doc.push(&row);
    }
    doc.push("</table>\n");
    incidents_table(doc, a);
}

fn incidents_table(doc: &mut Doc, a: &Aggregates) {
    let shown = a.incidents.len() as u64;
    let _ = writeln!(
        doc.body,
        "<h3>The {shown} most recent incidents (newest first)</h3>"
    );
    doc.push("<table>\n<tr><th>Time</th><th>Appliance</th><th>Incident</th><th>Check type</th><th>Tier</th><th>Runbook</th><th>Action</th><th>Outcome</th><th>Duration</th></tr>\n");
    for i in a.incidents.iter().rev() {
        let mark = doc.cite(&[i.index]);
        let duration = i.ended_at_ms.saturating_sub(i.started_at_ms);
        let _ = writeln!(
            doc.body,
            "<tr><td>{}</td><td>{}</td><td>{}{mark}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{} ms</td></tr>",
            format_unix_millis(i.time_ms),
            escape(&i.chain),
            escape(&i.incident_id),
            escape(&i.check_type),
            tier_name(i.tier),
            escape(&i.runbook_id),
            escape(&i.action),
            outcome_name(i.outcome),
            duration
        );
    }
    doc.push("</table>\n");
    if a.incidents_total > shown {
        let _ = writeln!(
            doc.body,
            "<p>{} more incidents are not listed (older ones); every one is counted in the table above.</p>",
            a.incidents_total - shown
        );
    }
}

/// The control mapping: each check type with its controls and results over all
/// appliances, and mapped check types with no evidence in the package.
pub fn controls(doc: &mut Doc, input: &Input<'_>) {
    let map = input.controls;
    let _ = writeln!(
        doc.body,
        "<h2 id=\"controls\">Control mapping: {}</h2>\n<p>Which controls each check type supports, \
from the mapping file you chose (the built-in HIPAA Security Rule defaults unless \
<code>--controls</code> was given); results over all appliances.</p>",
        escape(&map.framework)
    );
    let mut totals: std::collections::BTreeMap<&str, StatusCounts> = Default::default();
    for agg in input.aggregates.chains.values() {
        for (check_type, counts) in &agg.checks {
            let t = totals.entry(check_type.as_str()).or_default();
            for (slot, s) in t.by_status.iter_mut().zip(&counts.by_status) {
                *slot = merge(*slot, *s);
            }
        }
    }
    doc.push("<table>\n<tr><th>Check type</th><th>Controls</th><th>Description</th><th>Pass</th><th>Warning</th><th>Fail</th><th>Error</th></tr>\n");
    for (check_type, counts) in &totals {
        let (controls, description) = match map.check_types.get(*check_type) {
            Some(e) => (
                e.controls
                    .iter()
                    .map(|c| escape(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                escape(e.description.as_deref().unwrap_or("")),
            ),
            None => (
                "<span class=\"warn\">not mapped</span>".into(),
                String::new(),
            ),
        };
        let cells = status_cells(doc, counts);
        let _ = writeln!(
            doc.body,
            "<tr><td><code>{}</code></td><td>{controls}</td><td>{description}</td>{cells}</tr>",
            escape(check_type)
        );
    }
    doc.push("</table>\n");
    let missing: Vec<String> = map
        .check_types
        .iter()
        .filter(|(t, _)| !totals.contains_key(t.as_str()))
        .map(|(t, e)| {
            format!(
                "<code>{}</code> ({})",
                escape(t),
                escape(&e.controls.join(", "))
            )
        })
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(
            doc.body,
            "<p>Mapped check types with no evidence in this package: {}.</p>",
            missing.join(", ")
        );
    }
}

/// Two cells counted together: total count, earliest first and latest last record.
fn merge(a: Option<Span>, b: Option<Span>) -> Option<Span> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Span {
            count: a.count + b.count,
            first: a.first.min(b.first),
            last: a.last.max(b.last),
        }),
        (x, None) | (None, x) => x,
    }
}

/// The verification's notes (e.g. an operator key taken from the package).
pub fn notes(doc: &mut Doc, v: &Report) {
    if v.notes.is_empty() {
        return;
    }
    doc.push("<h2 id=\"notes\">Notes from the verification</h2>\n<ul>\n");
    for n in &v.notes {
        let _ = writeln!(doc.body, "<li>{}</li>", escape(n));
    }
    doc.push("</ul>\n");
}
