//! C2SP tlog-policy (<https://c2sp.org/tlog-policy>): which logs a client accepts and
//! which witnesses must have cosigned a checkpoint before the client trusts it.
//!
//! Implemented:
//! - §Structure: lines end in a newline (a last line without one is accepted); items are
//!   separated by runs of ASCII space and tab only; blank lines and `#` comment lines are
//!   ignored.
//! - `log <vkey> [<url>]` (an Ed25519 note key, type 0x01), `witness <name> <vkey>
//!   [<url>]` (a cosignature/v1 key, type 0x04), `group <name> all|any|<k> <names…>`
//!   with 1 ≤ k ≤ n and only names defined on earlier lines, each member at most once,
//!   and exactly one `quorum <name>|none`. Witnesses and groups share one namespace;
//!   `none` is predefined and never a member. Duplicate logs or witnesses (the same
//!   public key under any name) are refused.
//! - §Character set: only tab and newline among the control characters.
//! - §Implementation limits: up to [`MAX_ENTRIES`] logs, witnesses and groups each (the
//!   spec asks for at least 32).
//!
//! Deliberately not done: names and URLs must be UTF-8 (the spec treats high-bit octets
//! as opaque and strongly recommends UTF-8); a policy with other octets is refused with
//! the line named. Every error names the 1-based line it is on.

use std::collections::{BTreeMap, BTreeSet};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::cosignature::{CosignatureError, CosignatureVerifier};
use crate::note::{Note, NoteError, NoteVerifier};

/// Most logs, witnesses and groups (each) a policy may define.
pub const MAX_ENTRIES: usize = 256;

/// A policy file that could not be read, with the line at fault (1-based; 0 when the
/// problem is the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy line {line}: {message}")]
pub struct PolicyError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> PolicyError {
    PolicyError {
        line,
        message: message.into(),
    }
}

/// A log the policy accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    pub verifier: NoteVerifier,
    pub url: Option<String>,
}

/// A witness the policy knows, under its policy name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    pub name: String,
    pub verifier: CosignatureVerifier,
    pub url: Option<String>,
}

/// A member of a group: a witness or an earlier group, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Witness(usize),
    Group(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    name: String,
    threshold: usize,
    members: Vec<Member>,
}

/// A parsed, valid policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    groups: Vec<Group>,
    /// `None` is `quorum none`.
    quorum: Option<Member>,
}

/// What a checkpoint check found: the log that signed it, which witnesses cosigned it
/// (policy name and timestamp, in policy order) and whether the quorum is met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVerdict {
    pub log: String,
    pub checkpoint: Checkpoint,
    pub cosigned_by: Vec<(String, u64)>,
    pub quorum_met: bool,
}

/// Why a checkpoint did not pass [`Policy::check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyCheckError {
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("checkpoint is signed by none of the policy's logs")]
    UnknownLog,
    /// A known witness's line that does not verify: the note is refused, as a note
    /// verifier refuses a failing signature of a known key.
    #[error("witness {witness}: {source}")]
    Cosignature {
        witness: String,
        source: CosignatureError,
    },
}

/// Splits a line into items at runs of spaces and tabs.
fn items(line: &str) -> Vec<&str> {
    line.split([' ', '\t']).filter(|s| !s.is_empty()).collect()
}

/// The state of a parse: the names defined so far and what they are.
#[derive(Default)]
struct Parser {
    policy_logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    groups: Vec<Group>,
    quorum: Option<Option<Member>>,
    names: BTreeMap<String, Member>,
}

impl Parser {
    fn define(&mut self, line: usize, name: &str, member: Member) -> Result<(), PolicyError> {
        if name == "none" {
            return Err(err(line, "the name none is predefined"));
        }
        if self.names.insert(name.to_owned(), member).is_some() {
            return Err(err(line, format!("name {name} is defined twice")));
        }
        Ok(())
    }

    fn log(&mut self, line: usize, args: &[&str]) -> Result<(), PolicyError> {
        let (vkey, url) = match args {
            [vkey] => (*vkey, None),
            [vkey, url] => (*vkey, Some((*url).to_owned())),
            _ => return Err(err(line, "expected: log <vkey> [<url>]")),
        };
        let verifier = NoteVerifier::parse(vkey).map_err(|e| err(line, format!("log key: {e}")))?;
        if self
            .policy_logs
            .iter()
            .any(|l| l.verifier.public_key() == verifier.public_key())
        {
            return Err(err(
                line,
                "duplicate log (same public key as an earlier one)",
            ));
        }
        if self.policy_logs.len() == MAX_ENTRIES {
            return Err(err(line, format!("more than {MAX_ENTRIES} logs")));
        }
        self.policy_logs.push(PolicyLog { verifier, url });
        Ok(())
    }

    fn witness(&mut self, line: usize, args: &[&str]) -> Result<(), PolicyError> {
        let (name, vkey, url) = match args {
            [name, vkey] => (*name, *vkey, None),
            [name, vkey, url] => (*name, *vkey, Some((*url).to_owned())),
            _ => return Err(err(line, "expected: witness <name> <vkey> [<url>]")),
        };
        let verifier =
            CosignatureVerifier::parse(vkey).map_err(|e| err(line, format!("witness key: {e}")))?;
        if self
            .witnesses
            .iter()
            .any(|w| w.verifier.public_key() == verifier.public_key())
        {
            return Err(err(
                line,
                "duplicate witness (same public key as an earlier one)",
            ));
        }
        if self.witnesses.len() == MAX_ENTRIES {
            return Err(err(line, format!("more than {MAX_ENTRIES} witnesses")));
        }
        self.define(line, name, Member::Witness(self.witnesses.len()))?;
        self.witnesses.push(PolicyWitness {
            name: name.to_owned(),
            verifier,
            url,
        });
        Ok(())
    }

    fn group(&mut self, line: usize, args: &[&str]) -> Result<(), PolicyError> {
        let [name, threshold, names @ ..] = args else {
            return Err(err(line, "expected: group <name> all|any|<k> <name>..."));
        };
        if names.is_empty() {
            return Err(err(line, "a group needs at least one member"));
        }
        let mut members = Vec::with_capacity(names.len());
        let mut seen = BTreeSet::new();
        for member in names {
            if *member == "none" {
                return Err(err(line, "none cannot be a group member"));
            }
            let Some(m) = self.names.get(*member) else {
                return Err(err(
                    line,
                    format!("{member} is not a witness or group defined on an earlier line"),
                ));
            };
            if !seen.insert(*member) {
                return Err(err(line, format!("{member} is listed twice")));
            }
            members.push(*m);
        }
        let n = members.len();
        let threshold = match *threshold {
            "all" => n,
            "any" => 1,
            k => parse_threshold(k, n).map_err(|m| err(line, m))?,
        };
        if self.groups.len() == MAX_ENTRIES {
            return Err(err(line, format!("more than {MAX_ENTRIES} groups")));
        }
        self.define(line, name, Member::Group(self.groups.len()))?;
        self.groups.push(Group {
            name: (*name).to_owned(),
            threshold,
            members,
        });
        Ok(())
    }

    fn quorum(&mut self, line: usize, args: &[&str]) -> Result<(), PolicyError> {
        let [name] = args else {
            return Err(err(line, "expected: quorum <name>|none"));
        };
        if self.quorum.is_some() {
            return Err(err(line, "a policy has exactly one quorum line"));
        }
        let target = if *name == "none" {
            None
        } else {
            Some(*self.names.get(*name).ok_or_else(|| {
                err(
                    line,
                    format!("{name} is not a witness or group defined on an earlier line"),
                )
            })?)
        };
        self.quorum = Some(target);
        Ok(())
    }
}

/// A numeric threshold: decimal without sign or leading zero, 1 ≤ k ≤ n.
fn parse_threshold(k: &str, n: usize) -> Result<usize, String> {
    let valid = !k.is_empty()
        && k.bytes().all(|b| b.is_ascii_digit())
        && !(k.len() > 1 && k.starts_with('0'));
    let value = if valid { k.parse::<usize>().ok() } else { None };
    match value {
        Some(v) if (1..=n).contains(&v) => Ok(v),
        Some(v) => Err(format!("threshold {v} is not between 1 and {n}")),
        None => Err(format!(
            "threshold {k:?} is not all, any or a decimal number"
        )),
    }
}

impl Policy {
    /// Parses a policy file.
    pub fn parse(text: &[u8]) -> Result<Policy, PolicyError> {
        let mut parser = Parser::default();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            if let Some(b) = raw.iter().find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(err(line, format!("control character 0x{b:02x}")));
            }
            let raw = std::str::from_utf8(raw).map_err(|_| err(line, "not UTF-8"))?;
            let words = items(raw);
            let Some((keyword, args)) = words.split_first() else {
                continue;
            };
            match *keyword {
                k if k.starts_with('#') => continue,
                "log" => parser.log(line, args)?,
                "witness" => parser.witness(line, args)?,
                "group" => parser.group(line, args)?,
                "quorum" => parser.quorum(line, args)?,
                other => return Err(err(line, format!("unknown keyword {other:?}"))),
            }
        }
        let Some(quorum) = parser.quorum else {
            return Err(err(0, "no quorum line"));
        };
        Ok(Policy {
            logs: parser.policy_logs,
            witnesses: parser.witnesses,
            groups: parser.groups,
            quorum,
        })
    }

    pub fn logs(&self) -> &[PolicyLog] {
        &self.logs
    }

    pub fn witnesses(&self) -> &[PolicyWitness] {
        &self.witnesses
    }

    /// The name on the `quorum` line: a witness's, a group's, or `none`.
    pub fn quorum_name(&self) -> &str {
        match self.quorum {
            None => "none",
            Some(Member::Witness(i)) => &self.witnesses[i].name,
            Some(Member::Group(i)) => &self.groups[i].name,
        }
    }

    /// True when the policy is `quorum none`.
    pub fn needs_no_witness(&self) -> bool {
        self.quorum.is_none()
    }

    /// Whether witnesses `cosigned` (indexes into [`Policy::witnesses`]) meet the
    /// quorum. Each witness counts once, however often it is listed.
    pub fn is_met_by(&self, cosigned: &BTreeSet<usize>) -> bool {
        let Some(quorum) = self.quorum else {
            return true;
        };
        // Groups only name earlier groups, so one pass in definition order evaluates
        // every group after its members.
        let mut group_met = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            let count = g
                .members
                .iter()
                .filter(|m| member_met(**m, cosigned, &group_met))
                .count();
            group_met.push(count >= g.threshold);
        }
        member_met(quorum, cosigned, &group_met)
    }

    /// Checks a signed checkpoint note: signed by one of the policy's logs (every
    /// policy log whose line is present must verify), every line of a policy witness
    /// verified over the body, and the quorum evaluated. With `log` given, that key is
    /// used instead of the policy's log lines (a client that pins its log elsewhere).
    pub fn check(
        &self,
        note: &[u8],
        log: Option<&NoteVerifier>,
    ) -> Result<PolicyVerdict, PolicyCheckError> {
        let parsed = Note::parse(note)?;
        let verifiers: Vec<&NoteVerifier> = match log {
            Some(v) => vec![v],
            None => self.logs.iter().map(|l| &l.verifier).collect(),
        };
        if verifiers.is_empty() {
            return Err(PolicyCheckError::UnknownLog);
        }
        let opened = parsed.open(&verifiers).map_err(|e| match e {
            NoteError::NoVerifiedSignature { .. } => PolicyCheckError::UnknownLog,
            other => PolicyCheckError::Note(other),
        })?;
        let checkpoint = Checkpoint::parse(opened.text())?;
        let signer = &opened.verified_signatures()[0];
        if checkpoint.origin != signer.name() {
            return Err(CheckpointError::WrongOrigin {
                origin: checkpoint.origin.clone(),
                expected: signer.name().to_owned(),
            }
            .into());
        }
        let (cosigned, cosigned_by) = self.cosigners(opened.text(), parsed.signatures())?;
        Ok(PolicyVerdict {
            log: signer.name().to_owned(),
            checkpoint,
            quorum_met: self.is_met_by(&cosigned),
            cosigned_by,
        })
    }

    /// The policy witnesses with a verified line in `signatures`.
    #[allow(clippy::type_complexity)]
    fn cosigners(
        &self,
        body: &str,
        signatures: &[crate::note::NoteSignature],
    ) -> Result<(BTreeSet<usize>, Vec<(String, u64)>), PolicyCheckError> {
        let mut cosigned = BTreeSet::new();
        let mut by = Vec::new();
        for (i, w) in self.witnesses.iter().enumerate() {
            for sig in signatures.iter().filter(|s| w.verifier.matches(s)) {
                let ts = w.verifier.verify(body, sig).map_err(|source| {
                    PolicyCheckError::Cosignature {
                        witness: w.name.clone(),
                        source,
                    }
                })?;
                if cosigned.insert(i) {
                    by.push((w.name.clone(), ts));
                }
            }
        }
        Ok((cosigned, by))
    }
}

fn member_met(m: Member, cosigned: &BTreeSet<usize>, group_met: &[bool]) -> bool {
    match m {
        Member::Witness(i) => cosigned.contains(&i),
        Member::Group(g) => group_met.get(g).copied().unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::CosignatureSigner;

    fn vkey(i: u8) -> String {
        CosignatureSigner::new(&format!("w{i}.example"), &[i; 32])
            .unwrap()
            .verifier()
            .verifier_key()
    }

    fn witnesses(n: u8) -> String {
        (1..=n)
            .map(|i| format!("witness W{i} {}\n", vkey(i)))
            .collect()
    }

    fn set(v: &[usize]) -> BTreeSet<usize> {
        v.iter().copied().collect()
    }

    #[test]
    fn two_of_three_needs_two_distinct_witnesses() {
        let p = Policy::parse(format!("{}group G 2 W1 W2 W3\nquorum G\n", witnesses(3)).as_bytes())
            .unwrap();
        assert!(!p.is_met_by(&set(&[])));
        assert!(!p.is_met_by(&set(&[2])));
        assert!(p.is_met_by(&set(&[0, 2])));
        assert!(p.is_met_by(&set(&[0, 1, 2])));
    }

    #[test]
    fn nested_groups_and_the_spec_example_shape() {
        let text = format!(
            "{}group X 2 W1 W2 W3\ngroup Y any W4 W5 W6\ngroup XY all X Y\nquorum XY\n",
            witnesses(6)
        );
        let p = Policy::parse(text.as_bytes()).unwrap();
        assert!(!p.is_met_by(&set(&[0, 1])));
        assert!(p.is_met_by(&set(&[0, 1, 5])));
        assert!(!p.is_met_by(&set(&[0, 3, 4, 5])));
    }

    #[test]
    fn errors_name_their_line() {
        let cases = [
            ("quorum W1\n", 1),
            ("group G any W1\nquorum G\n", 1),
            ("# c\n\nfoo\n", 3),
            ("quorum none\nquorum none\n", 2),
            ("log bad\n", 1),
        ];
        for (text, line) in cases {
            let e = Policy::parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
        let text = format!("{}group G 0 W1\nquorum G\n", witnesses(1));
        assert_eq!(Policy::parse(text.as_bytes()).unwrap_err().line, 2);
        let text = format!("{}group G 1 W1 W1\nquorum G\n", witnesses(1));
        assert_eq!(Policy::parse(text.as_bytes()).unwrap_err().line, 2);
        assert_eq!(Policy::parse(witnesses(1).as_bytes()).unwrap_err().line, 0);
    }
}
