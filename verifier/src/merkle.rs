//! The `inclusion` and `consistency` commands: RFC 9162 §2.1.3.2 and §2.1.4.2 through
//! `ledger-core`, with the verifier's policy on what counts as malformed.

use ledger_core::hash::Hash;
use ledger_core::proof::{verify_consistency, verify_inclusion, ProofError};

use crate::error::VerifyError;

/// Checks that `leaf` (an RFC 6962 leaf hash) is at `index` in the tree of `size` leaves
/// with root `root`. An index outside the tree is a false claim, so it is a
/// verification failure like a wrong root.
pub fn check_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    verify_inclusion(leaf, index, size, proof, root).map_err(VerifyError::Inclusion)
}

/// Checks that the tree (`size1`, `root1`) is a prefix of (`size2`, `root2`).
///
/// Consistency from size 0 is refused as an unsupported request rather than answered:
/// RFC 9162 §2.1.4 defines proofs only for 0 < size1 ≤ size2, and every tree extends the
/// empty one, so such a check would prove nothing.
pub fn check_consistency(
    size1: u64,
    root1: &Hash,
    size2: u64,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    match verify_consistency(size1, size2, proof, root1, root2) {
        Ok(()) => Ok(()),
        Err(ProofError::ConsistencyFromEmpty) => Err(VerifyError::Unsupported(
            "consistency from tree size 0 is not defined (RFC 9162 §2.1.4); size1 must be at least 1"
                .into(),
        )),
        Err(e) => Err(VerifyError::Consistency(e)),
    }
}
