//! The evidence package tar reader (`api::export::from_tar`, what `ledgerd export
//! --server` reads from the network) on hostile archives. It never panics, and an
//! archive it accepts holds files that `to_tar` writes into an archive read back as the
//! same files.
//!
//! Random bytes rarely carry a valid header checksum, so when the first input byte is
//! odd the rest of the input is taken as an archive whose header checksums are first set
//! right: the fuzzer then reaches the octal fields, names, types, sizes and end blocks.
#![no_main]

use api::export::{from_tar, to_tar};
use libfuzzer_sys::fuzz_target;

const BLOCK: usize = 512;

/// Reads a size field leniently (octal digits up to the first other byte).
fn lenient_octal(field: &[u8]) -> Option<usize> {
    let digits = field
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(*b));
    let mut value = 0usize;
    for d in digits {
        value = value.checked_mul(8)?.checked_add(usize::from(d - b'0'))?;
    }
    Some(value)
}

/// Writes the right checksum into every header the reader will look at.
fn fix_checksums(archive: &mut [u8]) {
    let mut pos = 0;
    while let Some(header) = archive.get_mut(pos..pos + BLOCK) {
        if header.iter().all(|b| *b == 0) {
            return;
        }
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let Some(size) = lenient_octal(&header[124..136]) else {
            return;
        };
        let Some(next) = size
            .checked_next_multiple_of(BLOCK)
            .and_then(|s| s.checked_add(pos + BLOCK))
        else {
            return;
        };
        pos = next;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut archive = rest.to_vec();
    if mode & 1 == 1 {
        fix_checksums(&mut archive);
    }
    if let Ok(files) = from_tar(&archive) {
        let again = to_tar(&files);
        assert_eq!(
            from_tar(&again).as_ref(),
            Ok(&files),
            "to_tar/from_tar differ"
        );
    }
});
