//! The body of `POST /v1/records/batch`: one CBOR array (RFC 8949 major type 4) of byte
//! strings (major type 2), each an encoded record, in definite-length, shortest-form
//! encoding. Records themselves are checked by the intake; this only splits the array.

use axum::http::StatusCode;

use crate::error::AppError;

fn malformed(reason: &str) -> AppError {
    AppError::bad_request("invalid_batch", format!("batch body: {reason}"))
}

/// Reads one CBOR head at `pos`: (major type, argument), advancing `pos`. Only the
/// shortest form is accepted, as in the records themselves (RFC 8949 §4.2.1).
fn head(input: &[u8], pos: &mut usize) -> Result<(u8, u64), AppError> {
    let first = *input.get(*pos).ok_or_else(|| malformed("ends early"))?;
    *pos += 1;
    let major = first >> 5;
    let info = first & 0x1f;
    let take = |n: usize, pos: &mut usize| -> Result<u64, AppError> {
        let bytes = input
            .get(*pos..*pos + n)
            .ok_or_else(|| malformed("ends early"))?;
        *pos += n;
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    };
    let (value, min) = match info {
        0..=23 => (u64::from(info), 0),
        24 => (take(1, pos)?, 24),
        25 => (take(2, pos)?, 0x100),
        26 => (take(4, pos)?, 0x1_0000),
        27 => (take(8, pos)?, 0x1_0000_0000),
        _ => return Err(malformed("indefinite or reserved length")),
    };
    if value < min {
        return Err(malformed("length not in shortest form"));
    }
    Ok((major, value))
}

/// Splits a batch body into record byte strings, at most `max` of them.
pub fn decode(input: &[u8], max: usize) -> Result<Vec<Vec<u8>>, AppError> {
    let mut pos = 0;
    let (major, count) = head(input, &mut pos)?;
    if major != 4 {
        return Err(malformed("expected a CBOR array of byte strings"));
    }
    if count > max as u64 {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_records",
            format!("{count} records in one request; at most {max} are accepted"),
        ));
    }
    // `count` is bounded by `max` and by the input (each element takes at least one
    // byte), so the allocation cannot be driven by a hostile length.
    let mut out = Vec::with_capacity((count as usize).min(input.len()));
    for _ in 0..count {
        let (major, len) = head(input, &mut pos)?;
        if major != 2 {
            return Err(malformed("array element is not a byte string"));
        }
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&e| e <= input.len())
            .ok_or_else(|| malformed("byte string runs past the end"))?;
        out.push(input.get(pos..end).unwrap_or_default().to_vec());
        pos = end;
    }
    if pos != input.len() {
        return Err(malformed("trailing bytes after the array"));
    }
    Ok(out)
}

/// Encodes records as a batch body (used by clients and tests).
pub fn encode(records: &[Vec<u8>]) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, major: u8, v: u64) {
        let m = major << 5;
        if v < 24 {
            out.push(m | v as u8);
        } else if v <= 0xff {
            out.extend_from_slice(&[m | 24, v as u8]);
        } else if v <= 0xffff {
            out.push(m | 25);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v <= 0xffff_ffff {
            out.push(m | 26);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            out.push(m | 27);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    let mut out = Vec::with_capacity(records.iter().map(|r| r.len() + 5).sum::<usize>() + 9);
    put(&mut out, 4, records.len() as u64);
    for r in records {
        put(&mut out, 2, r.len() as u64);
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
        let body = encode(&records);
        assert_eq!(decode(&body, 10).unwrap(), records);
        for cut in 0..body.len() {
            assert!(decode(&body[..cut], 10).is_err(), "cut at {cut}");
        }
        let mut longer = body.clone();
        longer.push(0);
        assert_eq!(decode(&longer, 10).unwrap_err().code, "invalid_batch");
        assert_eq!(decode(&body, 3).unwrap_err().code, "too_many_records");
    }

    #[test]
    fn non_shortest_and_indefinite_lengths_are_refused() {
        // Array of one byte string of length 1, length written in two bytes.
        assert!(decode(&[0x81, 0x58, 0x01, 0xaa], 4).is_err());
        assert!(decode(&[0x81, 0x41, 0xaa], 4).is_ok());
        assert!(decode(&[0x9f, 0x41, 0xaa, 0xff], 4).is_err());
        // A huge declared count with no elements does not allocate or succeed.
        assert!(decode(&[0x9b, 0, 0, 0, 0, 0, 0, 0, 3], usize::MAX).is_err());
    }
}
