//! Byte-level reading and writing of the OpenTimestamps serialization:
//! fixed bytes, LEB128 `varuint`s and length-prefixed `varbytes`
//! (python-opentimestamps `core/serialize.py`).
//!
//! Every read checks the remaining length before it allocates or slices, so
//! no length field from the input can drive an allocation by itself.

use crate::error::{Limit, OtsError};

/// A cursor over untrusted bytes that reports absolute offsets in errors.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data[0]` within the outermost input, so errors raised while
    /// reading a nested payload still point into the whole file.
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            base: 0,
        }
    }

    /// A reader over a sub-slice that starts at absolute offset `base`.
    pub(crate) fn nested(data: &'a [u8], base: usize) -> Self {
        Reader { data, pos: 0, base }
    }

    /// Absolute offset of the next byte to be read.
    pub(crate) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, OtsError> {
        let byte = self
            .data
            .get(self.pos)
            .copied()
            .ok_or(OtsError::Truncated {
                offset: self.offset(),
                needed: 1,
            })?;
        self.pos += 1;
        Ok(byte)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], OtsError> {
        let remaining = self.remaining();
        if len > remaining {
            return Err(OtsError::Truncated {
                offset: self.offset(),
                needed: len - remaining,
            });
        }
        let out = self
            .data
            .get(self.pos..self.pos + len)
            .ok_or(OtsError::Truncated {
                offset: self.offset(),
                needed: len,
            })?;
        self.pos += len;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], OtsError> {
        let slice = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// Reads an unsigned LEB128 integer: seven bits per byte, least
    /// significant group first, high bit set on every byte but the last.
    ///
    /// The reference reader accepts unbounded integers and redundant
    /// encodings; we reject values above `u64::MAX` and encodings whose last
    /// byte is a redundant zero group, because the reference writer never
    /// produces them and accepting them would break byte-identical
    /// round-trips.
    pub(crate) fn varuint(&mut self) -> Result<u64, OtsError> {
        let start = self.offset();
        let mut value: u64 = 0;
        let mut shift: u32 = 0;
        loop {
            let byte = self.u8()?;
            let group = u64::from(byte & 0x7f);
            if (shift == 63 && group > 1) || shift > 63 {
                return Err(OtsError::VaruintOverflow { offset: start });
            }
            value |= group << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err(OtsError::VaruintOverlong { offset: start });
                }
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// Reads a varuint length and that many bytes, rejecting lengths above
    /// `max` (reported as `limit`) before touching the data.
    pub(crate) fn varbytes(&mut self, max: usize, limit: Limit) -> Result<&'a [u8], OtsError> {
        let start = self.offset();
        let len = self.varuint()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > max {
            return Err(OtsError::LimitExceeded {
                limit,
                offset: Some(start),
                actual: len,
                max,
            });
        }
        self.bytes(len)
    }

    pub(crate) fn expect_end(&self) -> Result<(), OtsError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(OtsError::TrailingBytes {
                offset: self.offset(),
            })
        }
    }
}

/// Appends `value` as unsigned LEB128 (the reference's `write_varuint`).
pub(crate) fn write_varuint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let group = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(group);
            return;
        }
        out.push(group | 0x80);
    }
}

/// Appends a varuint length followed by the bytes.
pub(crate) fn write_varbytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_varuint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<u64, OtsError> {
        let mut r = Reader::new(bytes);
        let v = r.varuint()?;
        r.expect_end()?;
        Ok(v)
    }

    #[test]
    fn varuint_round_trips_at_group_boundaries() {
        let mut values = vec![0u64, 1, u64::MAX, u64::MAX - 1];
        for shift in 0..64 {
            let v = 1u64 << shift;
            values.extend([v - 1, v, v.saturating_add(1)]);
        }
        for v in values {
            let mut out = Vec::new();
            write_varuint(&mut out, v);
            assert_eq!(read(&out), Ok(v), "value {v} encoded as {out:02x?}");
        }
    }

    #[test]
    fn varuint_known_encodings() {
        // LEB128 examples: 200 = 0xc8 0x01 (as in hello-world.txt.ots, `f1 c8 01`),
        // 624485 = e5 8e 26 (the classic LEB128 example).
        assert_eq!(read(&[0xc8, 0x01]), Ok(200));
        assert_eq!(read(&[0xe5, 0x8e, 0x26]), Ok(624_485));
        assert_eq!(read(&[0x7f]), Ok(127));
        assert_eq!(read(&[0x80, 0x01]), Ok(128));
    }

    #[test]
    fn varuint_rejects_overlong_overflow_and_truncation() {
        assert_eq!(
            read(&[0x80, 0x00]),
            Err(OtsError::VaruintOverlong { offset: 0 })
        );
        assert_eq!(
            read(&[0x81, 0x80, 0x00]),
            Err(OtsError::VaruintOverlong { offset: 0 })
        );
        // 2^64 needs a 10th byte with group 2.
        let mut too_big = vec![0x80u8; 9];
        too_big.push(0x02);
        assert_eq!(read(&too_big), Err(OtsError::VaruintOverflow { offset: 0 }));
        let mut eleven = vec![0xffu8; 10];
        eleven.push(0x01);
        assert_eq!(read(&eleven), Err(OtsError::VaruintOverflow { offset: 0 }));
        assert_eq!(
            read(&[0x80]),
            Err(OtsError::Truncated {
                offset: 1,
                needed: 1
            })
        );
        assert_eq!(
            read(&[]),
            Err(OtsError::Truncated {
                offset: 0,
                needed: 1
            })
        );
    }

    #[test]
    fn varbytes_checks_limit_before_reading() {
        // A length of 2^63 must be rejected by the limit, not by allocation.
        let mut input = Vec::new();
        write_varuint(&mut input, 1 << 63);
        let mut r = Reader::new(&input);
        assert!(matches!(
            r.varbytes(4096, Limit::OpArgument),
            Err(OtsError::LimitExceeded {
                limit: Limit::OpArgument,
                ..
            })
        ));
        let mut r = Reader::new(&[0x05, 1, 2]);
        assert_eq!(
            r.varbytes(4096, Limit::OpArgument),
            Err(OtsError::Truncated {
                offset: 1,
                needed: 3
            })
        );
    }
}
