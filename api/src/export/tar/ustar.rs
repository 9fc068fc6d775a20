//! A minimal POSIX ustar archive writer and reader, for shipping an evidence package
//! (a directory of a few flat files) over HTTP as one `application/x-tar` body that
//! `tar -xf` unpacks.
//!
//! Only what a package needs: regular files with names of at most 100 bytes, no
//! directories, links or extensions. The reader is strict (checksums, octal fields,
//! zero padding, two end blocks) and bounds every size it reads, because the archive
//! comes from a network peer.

use std::io::Read as _;

const BLOCK: usize = 512;

/// Why an archive could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tar archive: {0}")]
pub struct TarError(pub String);

fn err(msg: impl Into<String>) -> TarError {
    TarError(msg.into())
}

fn octal(field: &mut [u8], value: u64) {
    // Width − 1 octal digits, then NUL, as POSIX writes numeric fields.
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

/// Appends one regular file to `out`.
#[cfg(test)]
pub fn append_file(out: &mut Vec<u8>, name: &str, data: &[u8], mtime: u64) {
    out.extend_from_slice(&header(name, data.len() as u64, mtime));
    out.extend_from_slice(data);
    out.extend(std::iter::repeat_n(0u8, padding(data.len() as u64)));
}

/// Zero bytes after a file of `len` bytes, up to the next block.
pub fn padding(len: u64) -> usize {
    (BLOCK - (len % BLOCK as u64) as usize) % BLOCK
}

/// The header block of a regular file of `len` bytes.
pub fn header(name: &str, len: u64, mtime: u64) -> [u8; BLOCK] {
    debug_assert!(name.len() <= 100 && !name.contains('/'));
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], len);
    octal(&mut h[136..148], mtime);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as eight spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

/// The two zero blocks that end an archive.
pub const END: [u8; 2 * BLOCK] = [0u8; 2 * BLOCK];

/// Ends an archive (two zero blocks).
#[cfg(test)]
pub fn finish(out: &mut Vec<u8>) {
    out.extend_from_slice(&END);
}

/// Reads an archive from `input` one file at a time, each at most `max_file` bytes,
/// handing each to `visit` before the next is read: memory holds one file.
pub fn read_stream(
    input: &mut impl std::io::Read,
    max_file: u64,
    mut visit: impl FnMut(String, Vec<u8>) -> Result<(), TarError>,
) -> Result<(), TarError> {
    let mut block = [0u8; BLOCK];
    let read = |input: &mut dyn std::io::Read, buf: &mut [u8], what: &str| {
        input
            .read_exact(buf)
            .map_err(|e| err(format!("truncated {what}: {e}")))
    };
    loop {
        read(input, &mut block, "archive (no end-of-archive blocks)")?;
        if block.iter().all(|b| *b == 0) {
            read(input, &mut block, "archive (one end-of-archive block)")?;
            if !block.iter().all(|b| *b == 0) {
                return Err(err("a zero block inside the archive"));
            }
            return Ok(());
        }
        let (name, size) = parse_header(&block, max_file)?;
        // Grows with the bytes that arrive, not with the size the header claims.
        let mut data = Vec::new();
        let got = std::io::Read::take(&mut *input, size)
            .read_to_end(&mut data)
            .map_err(|e| err(format!("reading `{name}`: {e}")))?;
        if got as u64 != size {
            return Err(err(format!(
                "truncated inside `{name}`: {got} of {size} bytes"
            )));
        }
        let mut pad = vec![0u8; padding(size)];
        read(input, &mut pad, &format!("padding of `{name}`"))?;
        visit(name, data)?;
    }
}

/// Name and size from a file's header block, after checking its checksum, that it is a
/// regular file and that its size is at most `max_file`.
fn parse_header(header: &[u8], max_file: u64) -> Result<(String, u64), TarError> {
    let declared = parse_octal(&header[148..156], "checksum")?;
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(*b)
            }
        })
        .sum();
    if sum != declared {
        return Err(err(format!(
            "header checksum {declared:o} != computed {sum:o}"
        )));
    }
    let name_end = header[..100].iter().position(|b| *b == 0).unwrap_or(100);
    let name = std::str::from_utf8(&header[..name_end])
        .map_err(|_| err("a file name is not UTF-8"))?
        .to_string();
    let kind = header[156];
    if kind != b'0' && kind != 0 {
        return Err(err(format!(
            "entry `{name}` is not a regular file (type {:?})",
            kind as char
        )));
    }
    let size = parse_octal(&header[124..136], "file size")?;
    if size > max_file {
        return Err(err(format!(
            "entry `{name}` is {size} bytes; at most {max_file} accepted"
        )));
    }
    Ok((name, size))
}

fn parse_octal(field: &[u8], what: &str) -> Result<u64, TarError> {
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| *b != 0 && *b != b' ')
        .collect();
    if digits.is_empty() || !digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return Err(err(format!("{what} is not an octal number")));
    }
    let s = std::str::from_utf8(&digits).map_err(|_| err(format!("{what} is not text")))?;
    u64::from_str_radix(s, 8).map_err(|_| err(format!("{what} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of an in-memory archive, through the streaming reader.
    fn read_files(archive: &[u8], max_file: u64) -> Result<Vec<(String, Vec<u8>)>, TarError> {
        let mut files = Vec::new();
        read_stream(&mut &archive[..], max_file, |name, data| {
            files.push((name, data));
            Ok(())
        })?;
        Ok(files)
    }

    #[test]
    fn round_trip_and_system_tar_reads_it() {
        let mut out = Vec::new();
        append_file(&mut out, "a.txt", b"hello", 1_700_000_000);
        append_file(&mut out, "empty", b"", 0);
        append_file(&mut out, "big.bin", &[7u8; 1500], 0);
        finish(&mut out);
        assert_eq!(out.len() % BLOCK, 0);
        let files = read_files(&out, 1 << 20).unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(files[0], ("a.txt".to_string(), b"hello".to_vec()));
        assert_eq!(files[1].1.len(), 0);
        assert_eq!(files[2].1, vec![7u8; 1500]);
        // An independent reader: the system's tar lists the same names.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar");
        std::fs::write(&path, &out).unwrap();
        if let Ok(o) = std::process::Command::new("tar")
            .arg("-tf")
            .arg(&path)
            .output()
        {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                "a.txt\nempty\nbig.bin\n"
            );
        }
    }

    #[test]
    fn damaged_archives_are_refused() {
        let mut out = Vec::new();
        append_file(&mut out, "a.txt", b"hello", 0);
        finish(&mut out);
        let mut flipped = out.clone();
        flipped[3] ^= 1;
        assert!(read_files(&flipped, 1 << 20)
            .unwrap_err()
            .0
            .contains("checksum"));
        assert!(read_files(&out[..600], 1 << 20).is_err());
        assert!(read_files(&out, 2).unwrap_err().0.contains("at most 2"));
        for cut in 0..out.len() {
            assert!(read_files(&out[..cut], 1 << 20).is_err(), "cut at {cut}");
        }
    }
}
