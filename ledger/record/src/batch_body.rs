//! The body of a batch append (`POST /v1/records/batch`): one CBOR array (RFC 8949 major
//! type 4) of byte strings (major type 2), each an encoded record, with definite lengths
//! in shortest form, as in the records themselves (RFC 8949 §4.2.1). The records are
//! checked by the server's intake; this only joins and splits the array.

use thiserror::Error;

/// Why a batch body was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchBodyError {
    /// The bytes are not a shortest-form, definite-length array of byte strings.
    #[error("batch body: {0}")]
    Malformed(&'static str),
    /// More records than the caller accepts in one body.
    #[error("{count} records in one request; at most {max} are accepted")]
    TooMany { count: u64, max: usize },
}

/// Reads one CBOR head at `pos`: (major type, argument), advancing `pos`. Only the
/// shortest form is accepted.
fn head(input: &[u8], pos: &mut usize) -> Result<(u8, u64), BatchBodyError> {
    let early = BatchBodyError::Malformed("ends early");
    let first = *input.get(*pos).ok_or(early.clone())?;
    *pos += 1;
    let info = first & 0x1f;
    let mut take = |n: usize| -> Result<u64, BatchBodyError> {
        let bytes = input.get(*pos..*pos + n).ok_or(early.clone())?;
        *pos += n;
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    };
    let (value, min) = match info {
        0..=23 => (u64::from(info), 0),
        24 => (take(1)?, 24),
        25 => (take(2)?, 0x100),
        26 => (take(4)?, 0x1_0000),
        27 => (take(8)?, 0x1_0000_0000),
        _ => return Err(BatchBodyError::Malformed("indefinite or reserved length")),
    };
    if value < min {
        return Err(BatchBodyError::Malformed("length not in shortest form"));
    }
    Ok((first >> 5, value))
}

/// Splits a batch body into record byte strings, at most `max` of them.
pub fn decode_batch_body(input: &[u8], max: usize) -> Result<Vec<Vec<u8>>, BatchBodyError> {
    let mut pos = 0;
    let (major, count) = head(input, &mut pos)?;
    if major != 4 {
        return Err(BatchBodyError::Malformed(
            "expected a CBOR array of byte strings",
        ));
    }
    if count > max as u64 {
        return Err(BatchBodyError::TooMany { count, max });
    }
    // `count` is bounded by `max` and by the input (each element takes at least one
    // byte), so a hostile length cannot drive the allocation.
    let mut out = Vec::with_capacity((count as usize).min(input.len()));
    for _ in 0..count {
        let (major, len) = head(input, &mut pos)?;
        if major != 2 {
            return Err(BatchBodyError::Malformed(
                "array element is not a byte string",
            ));
        }
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&e| e <= input.len())
            .ok_or(BatchBodyError::Malformed("byte string runs past the end"))?;
        out.push(input[pos..end].to_vec());
        pos = end;
    }
    if pos != input.len() {
        return Err(BatchBodyError::Malformed("trailing bytes after the array"));
    }
    Ok(out)
}

/// Writes a CBOR head of `major` type with argument `n` in shortest form.
fn put_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// Joins encoded records into a batch body.
pub fn encode_batch_body<R: AsRef<[u8]>>(records: &[R]) -> Vec<u8> {
    let size = records.iter().map(|r| r.as_ref().len() + 9).sum::<usize>() + 9;
    let mut out = Vec::with_capacity(size);
    put_head(&mut out, 4, records.len() as u64);
    for r in records {
        let r = r.as_ref();
        put_head(&mut out, 2, r.len() as u64);
        out.extend_from_slice(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_truncation_fails() {
        let records = vec![vec![1u8; 3], vec![2u8; 300], Vec::new(), vec![3u8; 70_000]];
        let body = encode_batch_body(&records);
        assert_eq!(decode_batch_body(&body, 10).unwrap(), records);
        for cut in 0..body.len() {
            assert!(decode_batch_body(&body[..cut], 10).is_err(), "cut at {cut}");
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(matches!(
            decode_batch_body(&longer, 10),
            Err(BatchBodyError::Malformed(_))
        ));
        assert_eq!(
            decode_batch_body(&body, 3),
            Err(BatchBodyError::TooMany { count: 4, max: 3 })
        );
    }

    #[test]
    fn heads_are_shortest_form_at_every_boundary() {
        for len in [0usize, 23, 24, 255, 256, 65_535, 65_536] {
            let body = encode_batch_body(&[vec![7u8; len]]);
            let expected_head = match len {
                0..=23 => 1,
                24..=255 => 2,
                256..=65_535 => 3,
                _ => 5,
            };
            assert_eq!(body.len(), 1 + expected_head + len, "len {len}");
            assert_eq!(decode_batch_body(&body, 1).unwrap()[0].len(), len);
        }
    }

    #[test]
    fn non_shortest_and_indefinite_lengths_are_refused() {
        // Array of one byte string of length 1, length written in two bytes.
        assert!(decode_batch_body(&[0x81, 0x58, 0x01, 0xaa], 4).is_err());
        assert!(decode_batch_body(&[0x81, 0x41, 0xaa], 4).is_ok());
        assert!(decode_batch_body(&[0x9f, 0x41, 0xaa, 0xff], 4).is_err());
        // A huge declared count with no elements neither allocates nor succeeds.
        assert!(decode_batch_body(&[0x9b, 0, 0, 0, 0, 0, 0, 0, 3], usize::MAX).is_err());
    }
}
