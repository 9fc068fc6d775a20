//! `records.bin` and `keys.bin`: log entries with their log indexes
//! (docs/EVIDENCE_PACKAGE.md §4).
//!
//! ```text
//! magic (8 bytes) | count (u64 BE) | count × ( log index (u64 BE) | length (u32 BE) | entry bytes )
//! ```
//!
//! Entries are in strictly increasing log index order, each 1 to 65,535 bytes (one C2SP
//! tlog-tiles entry). Parsing keeps the file as one buffer and records offsets into it:
//! nothing is allocated from a length field before that length is checked against the
//! bytes that remain.

use crate::error::VerifyError;

/// Magic of `records.bin`.
pub const RECORDS_MAGIC: [u8; 8] = *b"ELPKREC1";
/// Magic of `keys.bin`.
pub const KEYS_MAGIC: [u8; 8] = *b"ELPKKEY1";
/// Largest entry: a log entry's length prefix is 16 bits (C2SP tlog-tiles).
pub const MAX_ENTRY_LEN: usize = 65_535;

const HEADER_LEN: usize = 16;
const ENTRY_HEAD_LEN: usize = 12;

/// One entry: its log index and where its bytes are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef {
    pub index: u64,
    offset: usize,
    len: usize,
}

/// A parsed `records.bin` or `keys.bin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFile {
    bytes: Vec<u8>,
    entries: Vec<EntryRef>,
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(s.try_into().ok()?))
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(s.try_into().ok()?))
}

impl EntryFile {
    /// Parses a file with the given magic; `what` names it in errors.
    pub fn parse(bytes: Vec<u8>, magic: &[u8; 8], what: &str) -> Result<EntryFile, VerifyError> {
        let bad = |reason: String| VerifyError::malformed(what, reason);
        if bytes.get(..8) != Some(&magic[..]) {
            return Err(bad(format!(
                "does not start with the magic {:?}",
                String::from_utf8_lossy(magic)
            )));
        }
        let count = be_u64(&bytes, 8).ok_or_else(|| bad("truncated header".into()))?;
        // Each entry takes at least 13 bytes, which bounds the allocation by the file
        // size whatever the count field says.
        let max_possible = (bytes.len().saturating_sub(HEADER_LEN) / (ENTRY_HEAD_LEN + 1)) as u64;
        if count > max_possible {
            return Err(bad(format!(
                "declares {count} entries, but the file can hold at most {max_possible}"
            )));
        }
        let mut entries = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut at = HEADER_LEN;
        let mut previous: Option<u64> = None;
        while at < bytes.len() {
            let n = entries.len();
            let index = be_u64(&bytes, at)
                .ok_or_else(|| bad(format!("entry {n}: truncated log index at byte {at}")))?;
            let len = be_u32(&bytes, at + 8)
                .ok_or_else(|| bad(format!("entry {n}: truncated length at byte {}", at + 8)))?
                as usize;
            if len == 0 || len > MAX_ENTRY_LEN {
                return Err(bad(format!(
                    "entry {n} (log index {index}): length {len} is not between 1 and {MAX_ENTRY_LEN}"
                )));
            }
            let offset = at + ENTRY_HEAD_LEN;
            let end = offset
                .checked_add(len)
                .filter(|&e| e <= bytes.len())
                .ok_or_else(|| {
                    bad(format!(
                        "entry {n} (log index {index}): {len} bytes declared, {} remain",
                        bytes.len().saturating_sub(offset)
                    ))
                })?;
            if let Some(p) = previous {
                if index <= p {
                    return Err(bad(format!(
                        "entry {n}: log index {index} does not follow log index {p} (entries must be in strictly increasing log order)"
                    )));
                }
            }
            previous = Some(index);
            entries.push(EntryRef { index, offset, len });
            at = end;
        }
        if entries.len() as u64 != count {
            return Err(bad(format!(
                "declares {count} entries but holds {}",
                entries.len()
            )));
        }
        Ok(EntryFile { bytes, entries })
    }

    /// Serializes entries, which must be in strictly increasing log order and 1 to
    /// 65,535 bytes each.
    pub fn encode<'a>(
        magic: &[u8; 8],
        entries: impl IntoIterator<Item = (u64, &'a [u8])>,
    ) -> Result<Vec<u8>, VerifyError> {
        let mut out = Vec::new();
        out.extend_from_slice(magic);
        out.extend_from_slice(&[0u8; 8]);
        let mut count = 0u64;
        let mut previous: Option<u64> = None;
        for (index, bytes) in entries {
            if bytes.is_empty() || bytes.len() > MAX_ENTRY_LEN {
                return Err(VerifyError::malformed(
                    "package entry",
                    format!(
                        "log index {index}: {} bytes is not between 1 and {MAX_ENTRY_LEN}",
                        bytes.len()
                    ),
                ));
            }
            if previous.is_some_and(|p| index <= p) {
                return Err(VerifyError::malformed(
                    "package entry",
                    format!("log index {index} is not after the previous entry's"),
                ));
            }
            previous = Some(index);
            out.extend_from_slice(&index.to_be_bytes());
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
            count += 1;
        }
        out[8..16].copy_from_slice(&count.to_be_bytes());
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry references, in log order.
    pub fn refs(&self) -> &[EntryRef] {
        &self.entries
    }

    /// The bytes of an entry of this file.
    pub fn bytes_of(&self, entry: &EntryRef) -> &[u8] {
        self.bytes
            .get(entry.offset..entry.offset + entry.len)
            .unwrap_or_default()
    }

    /// Every entry as `(log index, bytes)`, in log order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        self.entries.iter().map(|e| (e.index, self.bytes_of(e)))
    }

    /// The entry at a log index, if the file has one.
    pub fn find(&self, index: u64) -> Option<&[u8]> {
        let pos = self
            .entries
            .binary_search_by_key(&index, |e| e.index)
            .ok()?;
        self.entries.get(pos).map(|e| self.bytes_of(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let a = [1u8; 3];
        let b = [2u8; 70];
        EntryFile::encode(&RECORDS_MAGIC, [(5, &a[..]), (9, &b[..])]).unwrap()
    }

    #[test]
    fn round_trip() {
        let f = EntryFile::parse(sample(), &RECORDS_MAGIC, "records.bin").unwrap();
        let got: Vec<(u64, Vec<u8>)> = f.iter().map(|(i, b)| (i, b.to_vec())).collect();
        assert_eq!(got, vec![(5, vec![1; 3]), (9, vec![2; 70])]);
        assert_eq!(f.find(9).map(<[u8]>::len), Some(70));
        assert_eq!(f.find(6), None);
    }

    #[test]
    fn every_truncation_and_wrong_magic_is_refused() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            assert!(
                EntryFile::parse(bytes[..cut].to_vec(), &RECORDS_MAGIC, "r").is_err(),
                "accepted a cut at {cut}"
            );
        }
        assert!(EntryFile::parse(bytes, &KEYS_MAGIC, "r").is_err());
    }

    #[test]
    fn refuses_bad_counts_lengths_and_order() {
        let mut more = sample();
        more[15] = 3;
        assert!(EntryFile::parse(more, &RECORDS_MAGIC, "r").is_err());
        let mut huge = sample();
        huge[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(EntryFile::parse(huge, &RECORDS_MAGIC, "r").is_err());
        // Second entry's index set equal to the first's.
        let mut order = sample();
        let second = 16 + 12 + 3;
        order[second..second + 8].copy_from_slice(&5u64.to_be_bytes());
        assert!(EntryFile::parse(order, &RECORDS_MAGIC, "r").is_err());
        // Zero-length entry.
        let mut zero = sample();
        zero[24..28].copy_from_slice(&0u32.to_be_bytes());
        assert!(EntryFile::parse(zero, &RECORDS_MAGIC, "r").is_err());
        assert!(EntryFile::encode(&RECORDS_MAGIC, [(1, &[][..])]).is_err());
        let big = vec![0u8; MAX_ENTRY_LEN + 1];
        assert!(EntryFile::encode(&RECORDS_MAGIC, [(1, &big[..])]).is_err());
        assert!(EntryFile::encode(&RECORDS_MAGIC, [(2, &[1u8][..]), (2, &[1u8][..])]).is_err());
    }
}
