//! The HTML document of the audit report: escaping, footnotes of citations, the page
//! frame with its inline style, and the appendix. One self-contained file: no scripts,
//! no external URLs, every string from the package escaped.
//!
//! Footnotes: every number or claim that rests on records carries a footnote mark; the
//! footnote lists the citation strings of the records that support it (for a counted
//! cell, its first and last record). Identical footnotes are shared, so their number is
//! bounded by the number of cells, not of records.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::citation::Citation;
use ledger_core::hash::Hash;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The checkpoint every citation of the report is against.
#[derive(Debug, Clone)]
pub struct CitationBase {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl CitationBase {
    pub fn citation(&self, index: u64) -> Citation {
        Citation {
            origin: self.origin.clone(),
            index,
            size: self.size,
            root: self.root,
        }
    }
}

/// A document being written: the body and its footnotes.
pub struct Doc {
    pub body: String,
    base: CitationBase,
    notes: Vec<Vec<u64>>,
    seen: HashMap<Vec<u64>, usize>,
}

impl Doc {
    pub fn new(base: CitationBase) -> Doc {
        Doc {
            body: String::new(),
            base,
            notes: Vec::new(),
            seen: HashMap::new(),
        }
    }

    /// Appends raw HTML (callers escape what they interpolate).
    pub fn push(&mut self, html: &str) {
        self.body.push_str(html);
    }

    /// A footnote mark for the records at `indexes` (log indexes), sharing the footnote
    /// with any earlier identical one. Empty when there is no record to cite.
    pub fn cite(&mut self, indexes: &[u64]) -> String {
        if indexes.is_empty() {
            return String::new();
        }
        let n = match self.seen.get(indexes) {
            Some(&n) => n,
            None => {
                self.notes.push(indexes.to_vec());
                let n = self.notes.len();
                self.seen.insert(indexes.to_vec(), n);
                n
            }
        };
        format!("<sup class=\"fn\"><a href=\"#c{n}\">[{n}]</a></sup>")
    }

    /// Finishes the document: frame, body, appendix and footnotes.
    pub fn finish(self, title: &str) -> String {
        let mut out = String::with_capacity(self.body.len() + self.notes.len() * 160 + 8192);
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        let _ = writeln!(out, "<title>{}</title>", escape(title));
        let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
        out.push_str(&self.body);
        let example = self.notes.first().and_then(|n| n.first()).copied();
        out.push_str(&appendix(&self.base, example));
        out.push_str("<h2 id=\"citations\">Citations</h2>\n<ol class=\"notes\">\n");
        for (i, indexes) in self.notes.iter().enumerate() {
            let n = i + 1;
            let _ = write!(out, "<li id=\"c{n}\">");
            for (j, index) in indexes.iter().enumerate() {
                if j > 0 {
                    out.push_str("<br>");
                }
                let _ = write!(
                    out,
                    "<code>{}</code>",
                    escape(&self.base.citation(*index).to_string())
                );
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ol>\n</body>\n</html>\n");
        out
    }
}

/// How an auditor re-checks any line of the report.
fn appendix(base: &CitationBase, example: Option<u64>) -> String {
    // The example is the report's first citation, so it can be copied and run as is.
    let example = match example {
        Some(index) => escape(&base.citation(index).to_string()),
        None => "CITATION".to_owned(),
    };
    format!(
        "<h2 id=\"recheck\">Appendix: re-checking a line</h2>\n\
<p>Every footnote lists <em>citation strings</em>, one per record, of the form \
<code>evidence-ledger:v1:&lt;origin&gt;:&lt;log index&gt;:&lt;tree size&gt;:&lt;root&gt;</code>. \
For a counted cell the footnote cites the first and the last record counted. Anyone \
holding this package and the log's public key can check a citation, offline:</p>\n\
<pre>ledger-verify cite '{example}' \\\n    --package PACKAGE_DIR --key VERIFIER_KEY</pre>\n\
<p>The command checks that the checkpoint is signed by the log key and is the cited one \
(origin, size, root), that every entry of the package is proven in that tree, and that \
the cited record's signature verifies with the appliance key valid at its log index; it \
prints the record's kind, appliance, sequence and time. Exit code 0 means the cited \
record is genuine and in the log; 1 means it is not.</p>\n\
<p>The report itself is built offline from a package that passed every check of \
<code>ledger-verify package</code>; nothing in it comes from the log server unchecked. \
To regenerate it: <code>ledger-verify report PACKAGE_DIR --key VERIFIER_KEY \
[--block-headers HEADERS] [--controls MAPPING.toml] --out report.html</code>.</p>\n"
    )
}

/// The inline style: print-friendly, no external fonts.
const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
margin:2em auto;max-width:64em;padding:0 1em;color:#111;line-height:1.4}\
h1{border-bottom:3px solid #333;padding-bottom:.2em}\
h2{border-bottom:1px solid #999;margin-top:2em}\
h3{margin-top:1.5em}\
table{border-collapse:collapse;margin:.5em 0 1em 0}\
th,td{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top}\
th{background:#eee}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}\
pre{background:#f5f5f5;padding:.5em;white-space:pre-wrap}\
sup.fn{font-size:.7em}\
sup.fn a{text-decoration:none}\
.valid{color:#075e07;font-weight:bold}\
.gap{background:#fde2e2}\
.warn{color:#8a5300}\
.strip{display:flex;flex-wrap:wrap;gap:1px;margin:.3em 0}\
.strip span{display:inline-block;width:.8em;height:1.1em}\
.strip .on{background:#3a8d3a}\
.strip .off{background:#d33}\
ol.notes li{margin-bottom:.3em}\
@media print{a{color:inherit}h2{page-break-after:avoid}table{page-break-inside:auto}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain §164"), "plain §164");
    }

    #[test]
    fn identical_footnotes_are_shared() {
        let mut doc = Doc::new(CitationBase {
            origin: "example.com/log".into(),
            size: 10,
            root: Hash([7; 32]),
        });
        let a = doc.cite(&[1, 5]);
        let b = doc.cite(&[2]);
        assert_eq!(doc.cite(&[1, 5]), a);
        assert_ne!(a, b);
        assert!(doc.cite(&[]).is_empty());
        let html = doc.finish("t");
        assert_eq!(html.matches("<li id=\"c").count(), 2);
        assert!(html.contains("<code>evidence-ledger:v1:example.com/log:5:10:"));
        assert!(
            !html.contains("<script") && !html.contains("http://") && !html.contains("https://")
        );
    }
}
