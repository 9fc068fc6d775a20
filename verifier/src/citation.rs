//! Citation strings: a compact, stable reference to one record of a log, for compliance
//! reports.
//!
//! ```text
//! evidence-ledger:v1:<origin>:<index>:<size>:<root>
//! ```
//!
//! - `origin`: the log's checkpoint origin, percent-encoded (RFC 3986 §2.1) except for
//!   ASCII letters, digits and `-._~/`, so it never contains `:` and the string splits
//!   unambiguously;
//! - `index`: the record's log index, decimal without leading zeroes;
//! - `size`: the tree size of the checkpoint that proves it, decimal without leading
//!   zeroes;
//! - `root`: that checkpoint's root hash, unpadded base64url (RFC 4648 §5), 43
//!   characters.
//!
//! A citation alone proves nothing: `ledger-verify cite` checks it against an evidence
//! package (the signed checkpoint with that size and root, the record at that index and
//! its inclusion proof, its signature).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ledger_core::hash::Hash;

use crate::error::VerifyError;

/// The fixed prefix of every citation of this version.
pub const CITATION_PREFIX: &str = "evidence-ledger:v1:";

/// Longest citation accepted (an origin is a note line; 8 KiB is far beyond real ones).
pub const MAX_CITATION_LEN: usize = 8192;

/// A parsed citation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    pub origin: String,
    pub index: u64,
    pub size: u64,
    pub root: Hash,
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/')
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            // Upper-case only, so every origin has exactly one encoding.
            if !hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
            {
                return None;
            }
            let v = u8::from_str_radix(hex, 16).ok()?;
            if is_unreserved(v) {
                return None;
            }
            out.push(v);
            i += 3;
        } else if is_unreserved(b) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

impl Citation {
    /// Formats the citation string.
    pub fn to_string_form(&self) -> String {
        format!(
            "{CITATION_PREFIX}{}:{}:{}:{}",
            percent_encode(&self.origin),
            self.index,
            self.size,
            URL_SAFE_NO_PAD.encode(self.root.as_bytes())
        )
    }

    /// Parses a citation string; the only accepted form is the one
    /// [`Citation::to_string_form`] writes.
    pub fn parse(s: &str) -> Result<Citation, VerifyError> {
        let bad = |reason: &str| VerifyError::malformed("citation", reason.to_owned());
        if s.len() > MAX_CITATION_LEN {
            return Err(bad("longer than 8192 bytes"));
        }
        let rest = s
            .strip_prefix(CITATION_PREFIX)
            .ok_or_else(|| bad("does not start with evidence-ledger:v1:"))?;
        let mut parts = rest.split(':');
        let (Some(origin), Some(index), Some(size), Some(root), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad("expected origin:index:size:root after the prefix"));
        };
        let origin = percent_decode(origin)
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("origin is empty or not canonically percent-encoded"))?;
        let index = parse_decimal(index).ok_or_else(|| bad("index is not a decimal u64"))?;
        let size = parse_decimal(size).ok_or_else(|| bad("size is not a decimal u64"))?;
        if index >= size {
            return Err(bad("index is not below the tree size"));
        }
        if root.len() != 43 {
            return Err(bad("root is not 43 characters of unpadded base64url"));
        }
        let mut out = [0u8; 33];
        let root = match URL_SAFE_NO_PAD.decode_slice(root, &mut out) {
            Ok(32) => Hash::from_slice(&out[..32]),
            _ => None,
        }
        .ok_or_else(|| bad("root is not unpadded base64url of 32 bytes"))?;
        Ok(Citation {
            origin,
            index,
            size,
            root,
        })
    }
}

impl std::fmt::Display for Citation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string_form())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(origin: &str) -> Citation {
        Citation {
            origin: origin.to_owned(),
            index: 41,
            size: 1000,
            root: Hash([0xfb; 32]),
        }
    }

    #[test]
    fn round_trips_and_escapes_colons() {
        for origin in [
            "example.com/log",
            "log: with spaces",
            "100%",
            "ünï/cödé",
            "a:b:c",
        ] {
            let c = sample(origin);
            let s = c.to_string_form();
            assert_eq!(s.matches(':').count(), 5, "{s}");
            assert_eq!(Citation::parse(&s).unwrap(), c, "{s}");
        }
        // Base64url, not standard base64: 0xfb bytes encode with '-' and '_' only.
        let s = sample("x").to_string_form();
        assert!(!s.contains('+') && !s.contains('='), "{s}");
    }

    #[test]
    fn refuses_other_forms() {
        let good = sample("example.com/log").to_string_form();
        assert!(Citation::parse(&good).is_ok());
        let bad = [
            good.replace("evidence-ledger:v1:", "evidence-ledger:v2:"),
            good.replace(":41:", ":041:"),
            good.replace(":41:", ":1000:"),
            good.replace(":1000:", ":-1:"),
            format!("{good}:extra"),
            good[..good.len() - 1].to_owned(),
            format!("{good}A"),
            good.replace("example.com", "example%2Ecom"),
            good.replace("example.com", "exa%3amp"),
            good.replace("example.com", "exa mple"),
            "evidence-ledger:v1::1:2:".to_owned() + &"A".repeat(43),
        ];
        for s in bad {
            assert!(Citation::parse(&s).is_err(), "accepted {s}");
        }
        // Every truncation of a valid citation is refused.
        for cut in 0..good.len() {
            assert!(Citation::parse(&good[..cut]).is_err(), "accepted cut {cut}");
        }
    }
}
