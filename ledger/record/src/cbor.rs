//! The subset of CBOR that records use, with the core deterministic encoding of
//! RFC 8949 §4.2.1, built on `cbor4ii`'s primitive encoders and decoders.
//!
//! Records only use unsigned integers, byte strings, text strings, arrays and maps whose
//! keys are unsigned integers. The encoder always writes the deterministic form:
//! shortest argument encodings (§4.2.1 "preferred serialization"), definite lengths, map
//! keys sorted by the bytewise order of their encodings. For unsigned-integer keys in
//! shortest form, bytewise order of the encodings equals numeric order (a shorter head
//! means a smaller value; heads of equal length compare as big-endian numbers), so
//! sorting by value is sorting by encoding.
//!
//! The decoder reads untrusted bytes. It rejects, with a specific error, everything the
//! deterministic encoding forbids that it can see while reading (indefinite lengths,
//! non-shortest heads, unsorted or repeated map keys) and every CBOR feature records do
//! not use. It never allocates more than the input's own size: strings are borrowed from
//! the input before copying, and arrays and maps reserve at most one slot per remaining
//! input byte. Nesting is limited to [`MAX_DEPTH`], so hostile input cannot exhaust the
//! stack.

use std::collections::BTreeMap;
use std::convert::Infallible;

use cbor4ii::core::dec::{self, Decode};
use cbor4ii::core::enc::{self, Encode};
use cbor4ii::core::types;

use crate::error::RecordError;

/// Deepest nesting of arrays and maps a record can have (envelope → body → items →
/// item → controls is 5); anything deeper is rejected before recursing further.
pub(crate) const MAX_DEPTH: usize = 8;

/// A CBOR data item of the record subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Uint(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    /// Entries in ascending key order, keys unique (the decoder guarantees it, the
    /// encoder sorts anyway).
    Map(Vec<(u64, Value)>),
}

impl Value {
    /// Builds a map from entries given in any order; `None` values are left out, which is
    /// how optional fields are absent.
    pub(crate) fn map(entries: impl IntoIterator<Item = (u64, Option<Value>)>) -> Value {
        let mut entries: Vec<(u64, Value)> = entries
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        entries.sort_by_key(|(k, _)| *k);
        Value::Map(entries)
    }

    pub(crate) fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    pub(crate) fn bytes(b: &[u8]) -> Value {
        Value::Bytes(b.to_vec())
    }

    pub(crate) fn into_uint(self, field: &'static str) -> Result<u64, RecordError> {
        match self {
            Value::Uint(v) => Ok(v),
            _ => Err(wrong_type(field, "an unsigned integer")),
        }
    }

    pub(crate) fn into_text(self, field: &'static str) -> Result<String, RecordError> {
        match self {
            Value::Text(v) => Ok(v),
            _ => Err(wrong_type(field, "a text string")),
        }
    }

    /// A byte string of exactly `N` bytes.
    pub(crate) fn into_byte_array<const N: usize>(
        self,
        field: &'static str,
        expected: &'static str,
    ) -> Result<[u8; N], RecordError> {
        match self {
            Value::Bytes(v) => {
                <[u8; N]>::try_from(v.as_slice()).map_err(|_| wrong_type(field, expected))
            }
            _ => Err(wrong_type(field, expected)),
        }
    }

    pub(crate) fn into_array(self, field: &'static str) -> Result<Vec<Value>, RecordError> {
        match self {
            Value::Array(v) => Ok(v),
            _ => Err(wrong_type(field, "an array")),
        }
    }

    pub(crate) fn into_map(self, map: &'static str) -> Result<Fields, RecordError> {
        match self {
            Value::Map(entries) => Ok(Fields {
                map,
                entries: entries.into_iter().collect(),
            }),
            _ => Err(wrong_type(map, "a map")),
        }
    }
}

fn wrong_type(field: &'static str, expected: &'static str) -> RecordError {
    RecordError::WrongType { field, expected }
}

/// The entries of a decoded map, taken out one schema field at a time; whatever is left
/// at the end is an unknown field.
pub(crate) struct Fields {
    map: &'static str,
    entries: BTreeMap<u64, Value>,
}

impl Fields {
    pub(crate) fn required(&mut self, key: u64) -> Result<Value, RecordError> {
        self.entries
            .remove(&key)
            .ok_or(RecordError::MissingField { map: self.map, key })
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.entries.contains_key(&key)
    }

    /// Fails on the first key the schema did not take.
    pub(crate) fn finish(self) -> Result<(), RecordError> {
        match self.entries.keys().next() {
            Some(&key) => Err(RecordError::UnknownField { map: self.map, key }),
            None => Ok(()),
        }
    }
}

// ---- Encoding --------------------------------------------------------------------------

/// An output buffer for cbor4ii's encoder. Appending to a `Vec` cannot fail short of
/// aborting on out-of-memory, so the error type is uninhabited.
struct Sink(Vec<u8>);

impl enc::Write for Sink {
    type Error = Infallible;

    fn push(&mut self, input: &[u8]) -> Result<(), Infallible> {
        self.0.extend_from_slice(input);
        Ok(())
    }
}

/// The deterministic encoding (RFC 8949 §4.2.1) of a value.
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut sink = Sink(Vec::with_capacity(256));
    write(value, &mut sink);
    sink.0
}

fn write(value: &Value, sink: &mut Sink) {
    // cbor4ii writes every head in its shortest form and lengths as definite; the only
    // error it can return comes from the sink, whose error type is uninhabited, so the
    // results below carry no information and are dropped.
    match value {
        Value::Uint(v) => {
            let _ = v.encode(sink);
        }
        Value::Bytes(b) => {
            let _ = types::Bytes(b.as_slice()).encode(sink);
        }
        Value::Text(s) => {
            let _ = s.as_str().encode(sink);
        }
        Value::Array(items) => {
            let _ = types::Array::bounded(items.len(), sink);
            for item in items {
                write(item, sink);
            }
        }
        Value::Map(entries) => {
            // RFC 8949 §4.2.1: keys sorted by the bytewise order of their encodings,
            // which for shortest-form unsigned integers is numeric order.
            let mut sorted: Vec<&(u64, Value)> = entries.iter().collect();
            sorted.sort_by_key(|(k, _)| *k);
            let _ = types::Map::bounded(sorted.len(), sink);
            for (k, v) in sorted {
                let _ = k.encode(sink);
                write(v, sink);
            }
        }
    }
}

// ---- Decoding --------------------------------------------------------------------------

/// Length of the shortest head (initial byte plus argument) for argument `n`,
/// RFC 8949 §3 and §4.2.1.
fn shortest_head_len(n: u64) -> usize {
    match n {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// A cursor over the input that cbor4ii reads through; it knows its position so every
/// error can name the offending byte and every head's length can be checked.
struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'de> dec::Read<'de> for Reader<'de> {
    type Error = Infallible;

    fn fill<'short>(
        &'short mut self,
        want: usize,
    ) -> Result<dec::Reference<'de, 'short>, Infallible> {
        let rest: &'de [u8] = self.input.get(self.pos..).unwrap_or_default();
        let n = want.min(rest.len());
        Ok(dec::Reference::Long(rest.get(..n).unwrap_or_default()))
    }

    fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.input.len());
    }
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Maps a cbor4ii decoding error of the item starting at `start`.
    fn fail(&self, start: usize, err: dec::Error<Infallible>) -> RecordError {
        match err {
            // The slice reader never returns fewer bytes than exist, so both mean the
            // input ended inside the item.
            dec::Error::Eof { .. } | dec::Error::RequireLength { .. } => {
                RecordError::Truncated { offset: start }
            }
            dec::Error::RequireUtf8 { .. } => RecordError::InvalidCbor {
                offset: start,
                reason: "text string is not valid UTF-8",
            },
            _ => RecordError::InvalidCbor {
                offset: start,
                reason: "malformed data item",
            },
        }
    }

    /// Checks that the head that started at `start` and ended at `head_end` was the
    /// shortest one for its argument `n`.
    fn check_shortest(&self, start: usize, head_end: usize, n: u64) -> Result<(), RecordError> {
        if head_end.saturating_sub(start) != shortest_head_len(n) {
            return Err(RecordError::NonCanonical {
                offset: start,
                reason: "integer or length not in its shortest form",
            });
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value, RecordError> {
        let start = self.pos;
        let initial = self
            .peek()
            .ok_or(RecordError::Truncated { offset: start })?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        match info {
            28..=30 => {
                return Err(RecordError::InvalidCbor {
                    offset: start,
                    reason: "reserved additional information value (RFC 8949 §3)",
                })
            }
            31 if (2..=5).contains(&major) => {
                return Err(RecordError::NonCanonical {
                    offset: start,
                    reason: "indefinite-length item",
                })
            }
            _ => {}
        }
        match major {
            0 => {
                let v = u64::decode(self).map_err(|e| self.fail(start, e))?;
                self.check_shortest(start, self.pos, v)?;
                Ok(Value::Uint(v))
            }
            2 => {
                let types::Bytes(b) =
                    <types::Bytes<&[u8]>>::decode(self).map_err(|e| self.fail(start, e))?;
                let head_end = self.pos.saturating_sub(b.len());
                self.check_shortest(start, head_end, b.len() as u64)?;
                Ok(Value::Bytes(b.to_vec()))
            }
            3 => {
                let s = <&str>::decode(self).map_err(|e| self.fail(start, e))?;
                let head_end = self.pos.saturating_sub(s.len());
                self.check_shortest(start, head_end, s.len() as u64)?;
                Ok(Value::Text(s.to_owned()))
            }
            4 | 5 => {
                if depth >= MAX_DEPTH {
                    return Err(RecordError::InvalidCbor {
                        offset: start,
                        reason: "arrays and maps nested deeper than records go",
                    });
                }
                let len = if major == 4 {
                    types::Array::len(self)
                } else {
                    types::Map::len(self)
                }
                .map_err(|e| self.fail(start, e))?
                // Indefinite lengths were rejected above; this only guards the type.
                .ok_or(RecordError::NonCanonical {
                    offset: start,
                    reason: "indefinite-length item",
                })?;
                self.check_shortest(start, self.pos, len as u64)?;
                if major == 4 {
                    self.array(start, len, depth)
                } else {
                    self.map(start, len, depth)
                }
            }
            _ => Err(RecordError::InvalidCbor {
                offset: start,
                reason: "negative integers, tags, floats and simple values do not occur in records",
            }),
        }
    }

    fn array(&mut self, start: usize, len: usize, depth: usize) -> Result<Value, RecordError> {
        // Every element takes at least one byte, so a length beyond the remaining input
        // is a truncation; checking it first keeps the reservation bounded by the input.
        if len > self.remaining() {
            return Err(RecordError::Truncated { offset: start });
        }
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, start: usize, len: usize, depth: usize) -> Result<Value, RecordError> {
        // Every entry takes at least two bytes (key and value).
        if len > self.remaining() / 2 {
            return Err(RecordError::Truncated { offset: start });
        }
        let mut entries: Vec<(u64, Value)> = Vec::with_capacity(len);
        for _ in 0..len {
            let key_start = self.pos;
            let key = match self.peek() {
                None => return Err(RecordError::Truncated { offset: key_start }),
                Some(b) if b >> 5 == 0 => match self.value(depth + 1)? {
                    Value::Uint(k) => k,
                    _ => {
                        return Err(RecordError::InvalidCbor {
                            offset: key_start,
                            reason: "map key is not an unsigned integer",
                        })
                    }
                },
                Some(_) => {
                    return Err(RecordError::InvalidCbor {
                        offset: key_start,
                        reason: "map key is not an unsigned integer",
                    })
                }
            };
            if let Some(&(prev, _)) = entries.last() {
                if key == prev {
                    return Err(RecordError::DuplicateKey {
                        offset: key_start,
                        key,
                    });
                }
                if key < prev {
                    return Err(RecordError::NonCanonical {
                        offset: key_start,
                        reason: "map keys not in ascending order",
                    });
                }
            }
            let value = self.value(depth + 1)?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

/// Decodes exactly one data item that must fill the whole input.
pub(crate) fn decode(input: &[u8]) -> Result<Value, RecordError> {
    let mut reader = Reader { input, pos: 0 };
    let value = reader.value(0)?;
    if reader.pos != input.len() {
        return Err(RecordError::TrailingBytes {
            offset: reader.pos,
            extra: input.len() - reader.pos,
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Examples from RFC 8949 Appendix A that fall in the record subset; each must encode
    /// to the listed bytes and decode back.
    #[test]
    fn rfc8949_appendix_a_examples() {
        let cases: Vec<(Value, &str)> = vec![
            (Value::Uint(0), "00"),
            (Value::Uint(1), "01"),
            (Value::Uint(10), "0a"),
            (Value::Uint(23), "17"),
            (Value::Uint(24), "1818"),
            (Value::Uint(25), "1819"),
            (Value::Uint(100), "1864"),
            (Value::Uint(1000), "1903e8"),
            (Value::Uint(1000000), "1a000f4240"),
            (Value::Uint(1000000000000), "1b000000e8d4a51000"),
            (Value::Uint(18446744073709551615), "1bffffffffffffffff"),
            (Value::Bytes(vec![]), "40"),
            (Value::Bytes(vec![1, 2, 3, 4]), "4401020304"),
            (Value::text(""), "60"),
            (Value::text("a"), "6161"),
            (Value::text("IETF"), "6449455446"),
            (Value::text("\"\\"), "62225c"),
            (Value::text("\u{00fc}"), "62c3bc"),
            (Value::text("\u{6c34}"), "63e6b0b4"),
            (Value::Array(vec![]), "80"),
            (
                Value::Array(vec![Value::Uint(1), Value::Uint(2), Value::Uint(3)]),
                "83010203",
            ),
            (
                Value::Array(vec![
                    Value::Uint(1),
                    Value::Array(vec![Value::Uint(2), Value::Uint(3)]),
                    Value::Array(vec![Value::Uint(4), Value::Uint(5)]),
                ]),
                "8301820203820405",
            ),
            (
                Value::Array((1..=25).map(Value::Uint).collect()),
                "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
            ),
            (Value::Map(vec![]), "a0"),
            (
                Value::Map(vec![(1, Value::Uint(2)), (3, Value::Uint(4))]),
                "a201020304",
            ),
        ];
        for (value, want) in cases {
            let got = encode(&value);
            assert_eq!(got, hex(want), "encoding of {value:?}");
            assert_eq!(decode(&got).unwrap(), value, "decoding of {want}");
        }
    }

    /// The non-preferred and indefinite forms of Appendix A must be refused.
    #[test]
    fn rfc8949_non_deterministic_forms_rejected() {
        for (bytes, what) in [
            ("1800", "0 with a one-byte argument"),
            ("190017", "23 with a two-byte argument"),
            ("1a00000064", "100 with a four-byte argument"),
            ("1b0000000000000018", "24 with an eight-byte argument"),
            ("5801ff", "byte string length not shortest"),
            ("5f42010243030405ff", "indefinite byte string"),
            ("7f657374726561646d696e67ff", "indefinite text string"),
            ("9fff", "indefinite empty array"),
            ("bf0102ff", "indefinite map"),
            ("a203040102", "unsorted map keys"),
        ] {
            let err = decode(&hex(bytes)).unwrap_err();
            assert!(
                matches!(err, RecordError::NonCanonical { .. }),
                "{what}: got {err:?}"
            );
        }
        assert_eq!(
            decode(&hex("a201020103")).unwrap_err(),
            RecordError::DuplicateKey { offset: 3, key: 1 }
        );
    }

    #[test]
    fn features_outside_the_subset_rejected() {
        for bytes in [
            "20",                 // -1
            "c11a514b67b0",       // tag 1
            "f4",                 // false
            "f6",                 // null
            "f93c00",             // half float 1.0
            "fb3ff199999999999a", // 1.1
            "a1610161",           // text key
            "1c",                 // reserved additional information
            "ff",                 // lone break
        ] {
            let err = decode(&hex(bytes)).unwrap_err();
            assert!(
                matches!(err, RecordError::InvalidCbor { .. }),
                "{bytes}: got {err:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing() {
        let deep = vec![0x81u8; 100_000];
        assert!(matches!(
            decode(&deep),
            Err(RecordError::InvalidCbor { .. })
        ));
    }

    #[test]
    fn huge_declared_lengths_are_truncations() {
        // A byte string, an array and a map that each claim 2^64-1 elements.
        for bytes in [
            "5bffffffffffffffff",
            "9bffffffffffffffff",
            "bbffffffffffffffff",
        ] {
            assert!(matches!(
                decode(&hex(bytes)),
                Err(RecordError::Truncated { offset: 0 })
            ));
        }
    }

    #[test]
    fn invalid_utf8_rejected() {
        assert!(matches!(
            decode(&hex("62c328")),
            Err(RecordError::InvalidCbor { .. })
        ));
    }
}
