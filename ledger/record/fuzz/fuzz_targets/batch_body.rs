//! Fuzzes the batch append body codec (`ledger_record::batch_body`).
//!
//! Two properties on every input:
//! * decoding arbitrary bytes never panics, and whatever decodes is the one shortest-form
//!   encoding of its records: re-encoding gives back the input byte for byte;
//! * the input cut into records (each prefixed by a one-byte length) encodes to a body
//!   that decodes back to exactly those records, is refused when the limit is one record
//!   short, and is refused when cut anywhere before its end.
#![no_main]

use ledger_record::batch_body::{decode_batch_body, encode_batch_body, BatchBodyError};
use libfuzzer_sys::fuzz_target;

/// Splits `data` into records: a length byte, then that many bytes (fewer at the end).
fn records(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let (record, rest) = rest.split_at(usize::from(len).min(rest.len()));
        out.push(record);
        data = rest;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes, with a limit the input chooses as well as an ample one.
    let limit = data.first().map_or(0, |b| usize::from(*b));
    for max in [limit, usize::MAX] {
        if let Ok(decoded) = decode_batch_body(data, max) {
            assert!(decoded.len() <= max);
            assert_eq!(
                encode_batch_body(&decoded),
                data,
                "not the canonical encoding"
            );
        }
    }

    let records = records(data);
    let body = encode_batch_body(&records);
    let decoded = decode_batch_body(&body, records.len()).expect("an encoded body decodes");
    assert_eq!(decoded, records);
    if let Some(fewer) = records.len().checked_sub(1) {
        assert_eq!(
            decode_batch_body(&body, fewer),
            Err(BatchBodyError::TooMany {
                count: records.len() as u64,
                max: fewer,
            })
        );
    }
    // Every proper prefix is refused (checking a few cut points keeps each run fast).
    for cut in [0, body.len() / 2, body.len() - 1] {
        if cut < body.len() {
            assert!(
                decode_batch_body(&body[..cut], usize::MAX).is_err(),
                "cut at {cut}"
            );
        }
    }
});
