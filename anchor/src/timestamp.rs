//! The timestamp tree: messages are nodes, operations are edges,
//! attestations are leaves (python-opentimestamps `core/timestamp.py`).
//!
//! A node does not store its message: messages are derived by replaying
//! operations from the root message, which the caller supplies (the file
//! digest of a detached timestamp, or the digest or commitment a calendar
//! answer was requested for). This keeps memory proportional to the input:
//! a stored message per node would let a small hostile file claim up to
//! 4096 bytes for every few input bytes.
//!
//! Wire form of a node: every item but the last is preceded by `ff`; an item
//! is either `00` + attestation or an operation followed by its child node.
//! Canonical output (what the reference writes): attestations first in
//! [`Attestation`] order, then operations in [`Op`] order.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use crate::attestation::Attestation;
use crate::codec::Reader;
use crate::error::{Limit, OtsError};
use crate::op::HashOp;
use crate::op::{Op, MAX_MSG_LEN, TAG_APPEND, TAG_HEXLIFY, TAG_PREPEND, TAG_REVERSE};

/// Maximum nesting: a node may sit at most this many operations below the
/// root, minus one (the reference's `_recursion_limit=256` fails on reaching
/// zero, so paths hold at most 255 operations).
pub const MAX_DEPTH: usize = 256;

/// Marks every item of a node but the last.
const FORK: u8 = 0xff;
/// Starts an attestation item.
const ATTESTATION: u8 = 0x00;

/// A timestamp tree node: attestations on this node's message and operations
/// leading to child nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timestamp {
    attestations: BTreeSet<Attestation>,
    ops: BTreeMap<Op, Timestamp>,
}

/// An attestation together with the message it commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedMessage<'a> {
    /// The message at the attestation, replayed from the root message.
    pub message: Vec<u8>,
    pub attestation: &'a Attestation,
}

/// A pending attestation and its commitment: the message at the attestation,
/// which is what `GET <uri>/timestamp/<hex commitment>` asks the calendar for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PendingCommitment {
    pub uri: String,
    pub commitment: Vec<u8>,
}

impl Timestamp {
    /// An empty node (not serializable until something is added).
    pub fn new() -> Timestamp {
        Timestamp::default()
    }

    /// A node holding just one attestation.
    pub fn with_attestation(attestation: Attestation) -> Timestamp {
        let mut t = Timestamp::new();
        t.attestations.insert(attestation);
        t
    }

    /// True when the node has neither attestations nor operations.
    pub fn is_empty(&self) -> bool {
        self.attestations.is_empty() && self.ops.is_empty()
    }

    /// The attestations on this node, in canonical order.
    pub fn attestations(&self) -> impl Iterator<Item = &Attestation> {
        self.attestations.iter()
    }

    /// The operations leaving this node with their child nodes, in canonical
    /// order.
    pub fn ops(&self) -> impl Iterator<Item = (&Op, &Timestamp)> {
        self.ops.iter()
    }

    /// The child reached by `op`, if present.
    pub fn child(&self, op: &Op) -> Option<&Timestamp> {
        self.ops.get(op)
    }

    /// Adds an attestation; returns false if it was already present.
    pub fn add_attestation(&mut self, attestation: Attestation) -> bool {
        self.attestations.insert(attestation)
    }

    /// Returns the child reached by `op`, creating an empty one if needed
    /// (the reference's `ops.add`). Limits are checked when the tree is
    /// serialized or replayed, where the message lengths are known.
    pub fn add_op(&mut self, op: Op) -> &mut Timestamp {
        self.ops.entry(op).or_default()
    }

    /// Adds every attestation and operation of `other` (the reference's
    /// `Timestamp.merge`). Both must be timestamps of the same message; this
    /// is the caller's responsibility because nodes do not store messages.
    pub fn merge(&mut self, other: Timestamp) {
        self.attestations.extend(other.attestations);
        for (op, child) in other.ops {
            match self.ops.entry(op) {
                Entry::Vacant(slot) => {
                    slot.insert(child);
                }
                Entry::Occupied(mut slot) => slot.get_mut().merge(child),
            }
        }
    }

    /// The number of operations on the longest path below this node.
    pub fn depth(&self) -> usize {
        // Iterative so that a hand-built degenerate tree cannot exhaust the
        // stack here.
        let mut deepest = 0;
        let mut stack = vec![(self, 0usize)];
        while let Some((node, depth)) = stack.pop() {
            deepest = deepest.max(depth);
            for child in node.ops.values() {
                stack.push((child, depth + 1));
            }
        }
        deepest
    }

    /// Parses a bare timestamp (no file header), as calendars return it,
    /// for the root message `msg`. Only the message's length matters for
    /// parsing; it is needed to enforce the operation limits.
    pub fn parse(bytes: &[u8], msg: &[u8]) -> Result<Timestamp, OtsError> {
        check_root_len(msg.len())?;
        let mut r = Reader::new(bytes);
        let t = Timestamp::read(&mut r, msg.len(), 0)?;
        r.expect_end()?;
        Ok(t)
    }

    /// Serializes as a bare timestamp in canonical order, checking every
    /// limit for the root message `msg` so that the output always parses.
    pub fn to_bytes(&self, msg: &[u8]) -> Result<Vec<u8>, OtsError> {
        check_root_len(msg.len())?;
        let mut out = Vec::new();
        self.write(&mut out, msg.len(), 0)?;
        Ok(out)
    }

    /// Checks the whole tree against the limits for a root message of
    /// `msg_len` bytes without serializing it.
    pub fn check(&self, msg_len: usize) -> Result<(), OtsError> {
        check_root_len(msg_len)?;
        self.check_node(msg_len, 0)
    }

    /// Every attestation with the message it commits to, in canonical
    /// depth-first order.
    pub fn attestations_with_messages(
        &self,
        msg: &[u8],
    ) -> Result<Vec<AttestedMessage<'_>>, OtsError> {
        check_root_len(msg.len())?;
        let mut out = Vec::new();
        self.collect(msg, 0, &mut out)?;
        Ok(out)
    }

    /// The commitment of every pending attestation (the message at it).
    pub fn pending_commitments(&self, msg: &[u8]) -> Result<Vec<PendingCommitment>, OtsError> {
        Ok(self
            .attestations_with_messages(msg)?
            .into_iter()
            .filter_map(|a| match a.attestation {
                Attestation::Pending { uri } => Some(PendingCommitment {
                    uri: uri.clone(),
                    commitment: a.message,
                }),
                _ => None,
            })
            .collect())
    }

    /// Merges a calendar's upgrade answer (a bare timestamp rooted at
    /// `commitment`) into every node whose message is `commitment` and which
    /// holds a pending attestation, as the reference client's upgrade does.
    /// The pending attestation is kept. Returns the number of nodes merged.
    ///
    /// The answer is checked against the limits for a root of
    /// `commitment.len()` bytes, and the merged tree must stay within the
    /// depth limit; on any error the tree is left unchanged.
    pub fn merge_upgrade(
        &mut self,
        msg: &[u8],
        commitment: &[u8],
        answer: Timestamp,
    ) -> Result<usize, OtsError> {
        check_root_len(msg.len())?;
        answer.check(commitment.len())?;
        let answer_depth = answer.depth();
        let mut targets = Vec::new();
        self.find_pending(msg, commitment, 0, &mut Vec::new(), &mut targets)?;
        if targets.is_empty() {
            return Err(OtsError::UnknownCommitment {
                commitment: commitment.to_vec(),
            });
        }
        for path in &targets {
            let depth = path.len() + answer_depth;
            if depth >= MAX_DEPTH {
                return Err(OtsError::LimitExceeded {
                    limit: Limit::Depth,
                    offset: None,
                    actual: depth,
                    max: MAX_DEPTH - 1,
                });
            }
        }
        for path in &targets {
            let mut node = &mut *self;
            for op in path {
                node = node.add_op(op.clone());
            }
            node.merge(answer.clone());
        }
        Ok(targets.len())
    }

    // ---- parsing ---------------------------------------------------------

    /// Reads one node whose message is `msg_len` bytes, `depth` operations
    /// below the root.
    pub(crate) fn read(
        r: &mut Reader<'_>,
        msg_len: usize,
        depth: usize,
    ) -> Result<Timestamp, OtsError> {
        if depth >= MAX_DEPTH {
            return Err(OtsError::LimitExceeded {
                limit: Limit::Depth,
                offset: Some(r.offset()),
                actual: depth,
                max: MAX_DEPTH - 1,
            });
        }
        let mut node = Timestamp::new();
        loop {
            let tag = r.u8()?;
            if tag == FORK {
                let tag = r.u8()?;
                node.read_item(r, tag, msg_len, depth)?;
            } else {
                node.read_item(r, tag, msg_len, depth)?;
                return Ok(node);
            }
        }
    }

    fn read_item(
        &mut self,
        r: &mut Reader<'_>,
        tag: u8,
        msg_len: usize,
        depth: usize,
    ) -> Result<(), OtsError> {
        // Offset of the tag byte just consumed.
        let tag_offset = r.offset().saturating_sub(1);
        if tag == ATTESTATION {
            // Duplicates collapse, as in the reference's attestation set.
            self.attestations.insert(Attestation::read(r)?);
            return Ok(());
        }
        let op = read_op(r, tag, tag_offset)?;
        let child_len = op.result_len_at(msg_len, Some(tag_offset))?;
        let child = Timestamp::read(r, child_len, depth + 1)?;
        // A repeated operation is merged rather than replacing the earlier
        // subtree (the reference's dict would silently drop it).
        match self.ops.entry(op) {
            Entry::Vacant(slot) => {
                slot.insert(child);
            }
            Entry::Occupied(mut slot) => slot.get_mut().merge(child),
        }
        Ok(())
    }

    // ---- serialization -----------------------------------------------------

    pub(crate) fn write(
        &self,
        out: &mut Vec<u8>,
        msg_len: usize,
        depth: usize,
    ) -> Result<(), OtsError> {
        check_depth(depth)?;
        if self.is_empty() {
            return Err(OtsError::EmptyTimestamp);
        }
        let last = self.attestations.len() + self.ops.len() - 1;
        let mut index = 0;
        for attestation in &self.attestations {
            attestation.check()?;
            if index < last {
                out.push(FORK);
            }
            out.push(ATTESTATION);
            attestation.write(out);
            index += 1;
        }
        for (op, child) in &self.ops {
            let child_len = op.result_len(msg_len)?;
            if index < last {
                out.push(FORK);
            }
            op.write(out);
            child.write(out, child_len, depth + 1)?;
            index += 1;
        }
        Ok(())
    }

    fn check_node(&self, msg_len: usize, depth: usize) -> Result<(), OtsError> {
        check_depth(depth)?;
        if self.is_empty() {
            return Err(OtsError::EmptyTimestamp);
        }
        for attestation in &self.attestations {
            attestation.check()?;
        }
        for (op, child) in &self.ops {
            child.check_node(op.result_len(msg_len)?, depth + 1)?;
        }
        Ok(())
    }

    // ---- replay --------------------------------------------------------------

    fn collect<'a>(
        &'a self,
        msg: &[u8],
        depth: usize,
        out: &mut Vec<AttestedMessage<'a>>,
    ) -> Result<(), OtsError> {
        check_depth(depth)?;
        for attestation in &self.attestations {
            out.push(AttestedMessage {
                message: msg.to_vec(),
                attestation,
            });
        }
        for (op, child) in &self.ops {
            child.collect(&op.apply(msg)?, depth + 1, out)?;
        }
        Ok(())
    }

    /// Records the op path to every node whose message equals `commitment`
    /// and that holds a pending attestation.
    fn find_pending(
        &self,
        msg: &[u8],
        commitment: &[u8],
        depth: usize,
        path: &mut Vec<Op>,
        found: &mut Vec<Vec<Op>>,
    ) -> Result<(), OtsError> {
        check_depth(depth)?;
        if msg == commitment
            && self
                .attestations
                .iter()
                .any(|a| matches!(a, Attestation::Pending { .. }))
        {
            found.push(path.clone());
        }
        for (op, child) in &self.ops {
            path.push(op.clone());
            child.find_pending(&op.apply(msg)?, commitment, depth + 1, path, found)?;
            path.pop();
        }
        Ok(())
    }
}

/// Reads the operation whose tag byte has been consumed.
fn read_op(r: &mut Reader<'_>, tag: u8, tag_offset: usize) -> Result<Op, OtsError> {
    if let Some(h) = HashOp::from_tag(tag) {
        return Ok(Op::Hash(h));
    }
    match tag {
        TAG_APPEND | TAG_PREPEND => {
            let arg_offset = r.offset();
            let arg = r.varbytes(crate::op::MAX_ARG_LEN, Limit::OpArgument)?;
            if arg.is_empty() {
                return Err(OtsError::EmptyArgument { offset: arg_offset });
            }
            Ok(if tag == TAG_APPEND {
                Op::Append(arg.to_vec())
            } else {
                Op::Prepend(arg.to_vec())
            })
        }
        TAG_REVERSE => Ok(Op::Reverse),
        TAG_HEXLIFY => Ok(Op::Hexlify),
        _ => Err(OtsError::UnknownOp {
            offset: tag_offset,
            tag,
        }),
    }
}

fn check_depth(depth: usize) -> Result<(), OtsError> {
    if depth >= MAX_DEPTH {
        return Err(OtsError::LimitExceeded {
            limit: Limit::Depth,
            offset: None,
            actual: depth,
            max: MAX_DEPTH - 1,
        });
    }
    Ok(())
}

/// The reference refuses to build a timestamp on a message longer than an
/// operation may take (`Timestamp.__init__`).
fn check_root_len(len: usize) -> Result<(), OtsError> {
    if len > MAX_MSG_LEN {
        return Err(OtsError::LimitExceeded {
            limit: Limit::OpInput,
            offset: None,
            actual: len,
            max: MAX_MSG_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(uri: &str) -> Attestation {
        Attestation::pending(uri).unwrap()
    }

    #[test]
    fn items_are_written_attestations_first_with_fork_markers() {
        let mut t = Timestamp::new();
        t.add_op(Op::SHA256)
            .add_attestation(Attestation::Bitcoin { height: 1 });
        t.add_attestation(pending("https://b"));
        t.add_attestation(pending("https://a"));
        let bytes = t.to_bytes(&[0u8; 32]).unwrap();
        let mut expected = vec![0xff, 0x00];
        Attestation::pending("https://a")
            .unwrap()
            .write(&mut expected);
        expected.extend([0xff, 0x00]);
        pending("https://b").write(&mut expected);
        expected.extend([0x08, 0x00]);
        Attestation::Bitcoin { height: 1 }.write(&mut expected);
        assert_eq!(bytes, expected);
        assert_eq!(Timestamp::parse(&bytes, &[0u8; 32]).unwrap(), t);
    }

    #[test]
    fn empty_nodes_are_not_serialized() {
        assert_eq!(
            Timestamp::new().to_bytes(b"x"),
            Err(OtsError::EmptyTimestamp)
        );
        let mut t = Timestamp::new();
        t.add_op(Op::SHA256);
        assert_eq!(t.to_bytes(b"x"), Err(OtsError::EmptyTimestamp));
    }

    #[test]
    fn depth_limit_is_255_operations() {
        // A chain of n reverse ops followed by an attestation.
        let chain = |n: usize| {
            let mut bytes = vec![0xf2; n];
            bytes.push(0x00);
            Attestation::Bitcoin { height: 0 }.write(&mut bytes);
            bytes
        };
        let ok = Timestamp::parse(&chain(MAX_DEPTH - 1), b"m").unwrap();
        assert_eq!(ok.depth(), MAX_DEPTH - 1);
        assert!(ok.to_bytes(b"m").is_ok());
        assert!(matches!(
            Timestamp::parse(&chain(MAX_DEPTH), b"m"),
            Err(OtsError::LimitExceeded {
                limit: Limit::Depth,
                ..
            })
        ));
    }

    #[test]
    fn duplicate_ops_merge() {
        // sha256 -> pending a, then sha256 -> pending b, in two branches.
        let mut bytes = vec![0xff, 0x08, 0x00];
        pending("https://a").write(&mut bytes);
        bytes.extend([0x08, 0x00]);
        pending("https://b").write(&mut bytes);
        let t = Timestamp::parse(&bytes, b"m").unwrap();
        assert_eq!(t.child(&Op::SHA256).unwrap().attestations().count(), 2);
    }

    #[test]
    fn merge_upgrade_rejects_unknown_commitment_and_excess_depth() {
        let mut t = Timestamp::new();
        t.add_op(Op::SHA256).add_attestation(pending("https://a"));
        let commitment = Op::SHA256.apply(b"m").unwrap();
        let answer = Timestamp::with_attestation(Attestation::Bitcoin { height: 7 });
        assert!(matches!(
            t.clone().merge_upgrade(b"m", b"other", answer.clone()),
            Err(OtsError::UnknownCommitment { .. })
        ));
        // An answer 255 operations deep cannot hang one level below the root.
        let mut deep = Timestamp::with_attestation(Attestation::Bitcoin { height: 7 });
        for _ in 0..MAX_DEPTH - 1 {
            let mut parent = Timestamp::new();
            *parent.add_op(Op::Reverse) = deep;
            deep = parent;
        }
        let before = t.clone();
        assert!(matches!(
            t.merge_upgrade(b"m", &commitment, deep),
            Err(OtsError::LimitExceeded {
                limit: Limit::Depth,
                ..
            })
        ));
        assert_eq!(t, before);
        assert_eq!(t.merge_upgrade(b"m", &commitment, answer), Ok(1));
        let leaves = t.attestations_with_messages(b"m").unwrap();
        assert_eq!(leaves.len(), 2);
        assert!(leaves.iter().all(|l| l.message == commitment));
    }
}
