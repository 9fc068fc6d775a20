//! Round-trip properties of what the log hands out, on trees and checkpoints the input
//! chooses: a signed checkpoint verifies back to the same fields; a receipt built from a
//! generated inclusion proof serializes, parses back to itself and verifies; generated
//! consistency proofs verify; one flipped bit in any of them fails verification.
#![no_main]

use ledger_core::checkpoint::{Checkpoint, SignedCheckpoint};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::note::{is_valid_key_name, NoteSigner};
use ledger_core::proof::{consistency_proof, inclusion_proof, verify_consistency};
use ledger_core::receipt::Receipt;
use ledger_core::tree::MemoryTree;
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// The origin used when the input's origin is not a valid key name (the receipt check
/// needs the checkpoint's origin to be the log key's name).
const FALLBACK_ORIGIN: &str = "example.com/fuzz-log";
const SEED: [u8; 32] = [7u8; 32];

fn flip(hash: &Hash, bit: u8) -> Hash {
    let mut bytes = *hash.as_bytes();
    bytes[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
    Hash(bytes)
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let size: u64 = u.int_in_range(1..=300)?;
    let salt = <[u8; 4]>::arbitrary(u)?;
    let tree = MemoryTree::from_leaf_hashes((0..size).map(|i| {
        let mut entry = i.to_be_bytes().to_vec();
        entry.extend_from_slice(&salt);
        leaf_hash(&entry)
    }));
    let root = tree.root();
    let mut origin = String::arbitrary(u)?;
    let extensions: Vec<String> = (0..u.int_in_range(0..=2)?)
        .map(|_| String::arbitrary(u))
        .collect::<Result<_>>()?;
    let bit = u8::arbitrary(u)?;

    // Any checkpoint the signer accepts verifies back to the same fields.
    if !is_valid_key_name(&origin) {
        origin = FALLBACK_ORIGIN.to_string();
    }
    let signer = NoteSigner::new(&origin, &SEED).expect("a valid key name");
    let verifier = signer.verifier();
    let checkpoint = Checkpoint {
        origin: origin.clone(),
        size,
        root,
        extensions,
    };
    let Ok(signed) = checkpoint.sign(&signer) else {
        // Refused only when the fields would not survive serialization.
        assert!(Checkpoint::parse(&checkpoint.to_text()).as_ref() != Ok(&checkpoint));
        return Ok(());
    };
    let back = SignedCheckpoint::verify(signed.as_bytes(), &verifier).expect("own signature");
    assert_eq!(back.checkpoint(), &checkpoint);

    // A receipt for any index parses back to itself and verifies for its leaf only.
    let index = u.int_in_range(0..=size - 1)?;
    let path = inclusion_proof(&tree, index, size).expect("index < size");
    let mut receipt = Receipt::new(index, path.clone(), signed.as_str()).expect("receipt");
    let extra = Vec::<u8>::arbitrary(u)?;
    if !extra.is_empty() {
        receipt = receipt.with_extra(extra).expect("non-empty extra");
    }
    let text = receipt.to_text();
    assert_eq!(Receipt::parse(text.as_bytes()).as_ref(), Ok(&receipt));
    let leaf = tree.leaf(index).expect("leaf");
    let verified = receipt
        .verify(&leaf, &verifier)
        .expect("a generated receipt verifies");
    assert_eq!(verified.index(), index);
    assert!(receipt.verify(&flip(&leaf, bit), &verifier).is_err());
    if !path.is_empty() {
        let mut bad = path.clone();
        let at = usize::from(bit) % bad.len();
        bad[at] = flip(&bad[at], bit);
        let forged = Receipt::new(index, bad, signed.as_str()).expect("same length");
        assert!(
            forged.verify(&leaf, &verifier).is_err(),
            "flipped proof verified"
        );
    }

    // Consistency from any earlier size verifies, and fails with one bit flipped.
    let old = u.int_in_range(1..=size)?;
    let old_root = tree.root_at(old).expect("old <= size");
    let proof = consistency_proof(&tree, old, size).expect("1 <= old <= size");
    verify_consistency(old, size, &proof, &old_root, &root).expect("generated proof verifies");
    assert!(verify_consistency(old, size, &proof, &flip(&old_root, bit), &root).is_err());
    if !proof.is_empty() {
        let mut bad = proof;
        let at = usize::from(bit) % bad.len();
        bad[at] = flip(&bad[at], bit);
        assert!(verify_consistency(old, size, &bad, &old_root, &root).is_err());
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
