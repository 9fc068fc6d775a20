//! Building timestamps: a chain of operations from a start message, ending
//! in an attestation or in another timestamp (for example a calendar's
//! answer).
//!
//! The reference client stamps a file as: digest, append a 16-byte random
//! nonce, sha256, then submit that message to the calendars and merge their
//! answers at that node. With this builder:
//!
//! ```
//! use anchor::{Attestation, DetachedTimestamp, HashOp, Op, TimestampBuilder};
//! let mut stamp = DetachedTimestamp::for_data(HashOp::Sha256, b"checkpoint body");
//! let chain = TimestampBuilder::new(&stamp.digest)?
//!     .op(Op::Append(vec![7; 16]))?
//!     .op(Op::SHA256)?;
//! let submitted = chain.message().to_vec(); // POST this to each calendar
//! # let answer = anchor::Timestamp::with_attestation(Attestation::pending("https://a.example")?);
//! stamp.timestamp.merge(chain.finish(answer)?);
//! assert_eq!(stamp.pending_commitments()?.len(), 1);
//! # let _ = submitted;
//! # Ok::<(), anchor::OtsError>(())
//! ```

use crate::attestation::Attestation;
use crate::error::{Limit, OtsError};
use crate::op::{Op, MAX_MSG_LEN};
use crate::timestamp::{Timestamp, MAX_DEPTH};

/// A linear chain of operations under construction. Each operation is
/// applied immediately, so limits fail at the step that breaks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampBuilder {
    start: Vec<u8>,
    ops: Vec<Op>,
    msg: Vec<u8>,
}

impl TimestampBuilder {
    /// Starts a chain at `msg` (at most 4096 bytes).
    pub fn new(msg: &[u8]) -> Result<TimestampBuilder, OtsError> {
        if msg.len() > MAX_MSG_LEN {
            return Err(OtsError::LimitExceeded {
                limit: Limit::OpInput,
                offset: None,
                actual: msg.len(),
                max: MAX_MSG_LEN,
            });
        }
        Ok(TimestampBuilder {
            start: msg.to_vec(),
            ops: Vec::new(),
            msg: msg.to_vec(),
        })
    }

    /// Applies one more operation.
    pub fn op(mut self, op: Op) -> Result<TimestampBuilder, OtsError> {
        if self.ops.len() + 1 >= MAX_DEPTH {
            return Err(OtsError::LimitExceeded {
                limit: Limit::Depth,
                offset: None,
                actual: self.ops.len() + 1,
                max: MAX_DEPTH - 1,
            });
        }
        self.msg = op.apply(&self.msg)?;
        self.ops.push(op);
        Ok(self)
    }

    /// The start message.
    pub fn start(&self) -> &[u8] {
        &self.start
    }

    /// The message at the end of the chain so far.
    pub fn message(&self) -> &[u8] {
        &self.msg
    }

    /// The operations so far.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Ends the chain with a single attestation on the current message.
    pub fn attest(self, attestation: Attestation) -> Result<Timestamp, OtsError> {
        self.finish(Timestamp::with_attestation(attestation))
    }

    /// Ends the chain with `tip`, a timestamp rooted at the current message,
    /// and returns the whole tree rooted at the start message. `tip` is
    /// checked against every limit.
    pub fn finish(self, tip: Timestamp) -> Result<Timestamp, OtsError> {
        tip.check(self.msg.len())?;
        let depth = self.ops.len() + tip.depth();
        if depth >= MAX_DEPTH {
            return Err(OtsError::LimitExceeded {
                limit: Limit::Depth,
                offset: None,
                actual: depth,
                max: MAX_DEPTH - 1,
            });
        }
        let mut node = tip;
        for op in self.ops.into_iter().rev() {
            let mut parent = Timestamp::new();
            *parent.add_op(op) = node;
            node = parent;
        }
        Ok(node)
    }
}
