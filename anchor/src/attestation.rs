//! Attestations: the leaves of a timestamp tree, each a claim that the
//! message at that leaf existed by some time.
//!
//! Wire form (python-opentimestamps `core/notary.py`): an 8-byte tag, then the
//! payload as varbytes of at most 8192 bytes. Known payloads must be consumed
//! exactly; unknown tags are kept verbatim so they round-trip.

use std::cmp::Ordering;
use std::fmt;

use crate::codec::{write_varbytes, write_varuint, Reader};
use crate::error::{Limit, OtsError};

/// Tag of a pending attestation (payload: varbytes URI).
pub const PENDING_TAG: [u8; 8] = [0x83, 0xdf, 0xe3, 0x0d, 0x2e, 0xf9, 0x0c, 0x8e];
/// Tag of a Bitcoin block header attestation (payload: varuint height).
pub const BITCOIN_TAG: [u8; 8] = [0x05, 0x88, 0x96, 0x0d, 0x73, 0xd7, 0x19, 0x01];
/// Tag of a Litecoin block header attestation (payload: varuint height).
pub const LITECOIN_TAG: [u8; 8] = [0x06, 0x86, 0x9a, 0x0d, 0x73, 0xd7, 0x1b, 0x45];
/// Tag of an Ethereum block header attestation (payload: varuint height).
pub const ETHEREUM_TAG: [u8; 8] = [0x30, 0xfe, 0x80, 0x87, 0xb5, 0xc7, 0xea, 0xd7];

/// Maximum serialized payload of one attestation (reference `MAX_PAYLOAD_SIZE`).
pub const MAX_PAYLOAD_LEN: usize = 8192;
/// Maximum length of a pending attestation's URI (reference `MAX_URI_LENGTH`).
pub const MAX_URI_LEN: usize = 1000;

/// The only bytes the reference allows in a pending URI
/// (`PendingAttestation.ALLOWED_URI_CHARS`): no query, fragment, userinfo,
/// percent-escapes or IPv6 brackets.
fn uri_byte_allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'/' | b':')
}

/// Checks a pending attestation URI against the reference's rules.
pub fn check_uri(uri: &[u8]) -> Result<(), OtsError> {
    check_uri_at(uri, None)
}

fn check_uri_at(uri: &[u8], offset: Option<usize>) -> Result<(), OtsError> {
    if uri.len() > MAX_URI_LEN {
        return Err(OtsError::LimitExceeded {
            limit: Limit::UriLength,
            offset,
            actual: uri.len(),
            max: MAX_URI_LEN,
        });
    }
    if !uri.iter().all(|&b| uri_byte_allowed(b)) {
        return Err(OtsError::InvalidUri {
            offset,
            reason: "character outside [A-Za-z0-9-._/:]",
        });
    }
    Ok(())
}

/// One attestation.
///
/// Ordering is the canonical serialization order: by tag bytes first; within
/// one kind by the reference's value order (URI for pending, numeric height
/// for block attestations, raw payload for unknown ones).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attestation {
    /// Submitted to a calendar that promises a fuller timestamp later.
    Pending { uri: String },
    /// The message is the Merkle root of the Bitcoin block at this height.
    Bitcoin { height: u64 },
    /// The message is the Merkle root of the Litecoin block at this height.
    Litecoin { height: u64 },
    /// The message commits to the Ethereum block at this height.
    Ethereum { height: u64 },
    /// Any other tag, kept verbatim.
    Unknown { tag: [u8; 8], payload: Vec<u8> },
}

impl Attestation {
    /// A pending attestation, validating the URI as the reference does.
    pub fn pending(uri: &str) -> Result<Attestation, OtsError> {
        check_uri(uri.as_bytes())?;
        Ok(Attestation::Pending {
            uri: uri.to_owned(),
        })
    }

    /// The 8-byte tag.
    pub fn tag(&self) -> [u8; 8] {
        match self {
            Attestation::Pending { .. } => PENDING_TAG,
            Attestation::Bitcoin { .. } => BITCOIN_TAG,
            Attestation::Litecoin { .. } => LITECOIN_TAG,
            Attestation::Ethereum { .. } => ETHEREUM_TAG,
            Attestation::Unknown { tag, .. } => *tag,
        }
    }

    /// The serialized payload (without its varbytes length prefix).
    pub fn payload(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Attestation::Pending { uri } => write_varbytes(&mut out, uri.as_bytes()),
            Attestation::Bitcoin { height }
            | Attestation::Litecoin { height }
            | Attestation::Ethereum { height } => write_varuint(&mut out, *height),
            Attestation::Unknown { payload, .. } => out.extend_from_slice(payload),
        }
        out
    }

    /// Reads an attestation after its `00` marker.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Attestation, OtsError> {
        let tag: [u8; 8] = r.array()?;
        let payload = r.varbytes(MAX_PAYLOAD_LEN, Limit::AttestationPayload)?;
        let payload_offset = r.offset() - payload.len();
        let mut p = Reader::nested(payload, payload_offset);
        let attestation = match tag {
            PENDING_TAG => {
                let uri_offset = p.offset();
                let uri = p.varbytes(MAX_URI_LEN, Limit::UriLength)?;
                check_uri_at(uri, Some(uri_offset))?;
                // Allowed characters are ASCII, so this cannot fail; the
                // fallback keeps the parser panic-free regardless.
                let uri = String::from_utf8(uri.to_vec()).map_err(|_| OtsError::InvalidUri {
                    offset: Some(uri_offset),
                    reason: "not UTF-8",
                })?;
                Attestation::Pending { uri }
            }
            BITCOIN_TAG => Attestation::Bitcoin {
                height: p.varuint()?,
            },
            LITECOIN_TAG => Attestation::Litecoin {
                height: p.varuint()?,
            },
            ETHEREUM_TAG => Attestation::Ethereum {
                height: p.varuint()?,
            },
            _ => {
                return Ok(Attestation::Unknown {
                    tag,
                    payload: payload.to_vec(),
                })
            }
        };
        // The reference calls `payload_ctx.assert_eof()` for known kinds: a
        // future field must come with a new tag, not hide in the payload.
        if p.remaining() != 0 {
            return Err(OtsError::AttestationTrailingBytes { offset: p.offset() });
        }
        Ok(attestation)
    }

    /// Checks that the attestation can be serialized within the limits.
    pub(crate) fn check(&self) -> Result<(), OtsError> {
        match self {
            Attestation::Pending { uri } => check_uri(uri.as_bytes()),
            Attestation::Unknown { payload, .. } if payload.len() > MAX_PAYLOAD_LEN => {
                Err(OtsError::LimitExceeded {
                    limit: Limit::AttestationPayload,
                    offset: None,
                    actual: payload.len(),
                    max: MAX_PAYLOAD_LEN,
                })
            }
            _ => Ok(()),
        }
    }

    /// Appends the tag and the payload as varbytes (without the `00` marker).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.tag());
        write_varbytes(out, &self.payload());
    }

    /// Rank of the variant, used only to order a hand-made `Unknown` that
    /// reuses a known tag deterministically against the known variant.
    fn rank(&self) -> u8 {
        match self {
            Attestation::Unknown { .. } => 1,
            _ => 0,
        }
    }
}

impl Ord for Attestation {
    fn cmp(&self, other: &Self) -> Ordering {
        use Attestation::*;
        self.tag()
            .cmp(&other.tag())
            .then_with(|| self.rank().cmp(&other.rank()))
            .then_with(|| match (self, other) {
                (Pending { uri: a }, Pending { uri: b }) => a.as_bytes().cmp(b.as_bytes()),
                (Bitcoin { height: a }, Bitcoin { height: b })
                | (Litecoin { height: a }, Litecoin { height: b })
                | (Ethereum { height: a }, Ethereum { height: b }) => a.cmp(b),
                (Unknown { payload: a, .. }, Unknown { payload: b, .. }) => a.cmp(b),
                _ => Ordering::Equal,
            })
    }
}

impl PartialOrd for Attestation {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Attestation {
    /// Formats as the reference's `repr`, which `ots info` prints after
    /// `verify `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attestation::Pending { uri } => write!(f, "PendingAttestation('{uri}')"),
            Attestation::Bitcoin { height } => write!(f, "BitcoinBlockHeaderAttestation({height})"),
            Attestation::Litecoin { height } => {
                write!(f, "LitecoinBlockHeaderAttestation({height})")
            }
            Attestation::Ethereum { height } => {
                write!(f, "EthereumBlockHeaderAttestation({height})")
            }
            Attestation::Unknown { tag, payload } => write!(
                f,
                "UnknownAttestation({}, {})",
                hex::encode(tag),
                hex::encode(payload)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Attestation, OtsError> {
        let mut r = Reader::new(bytes);
        let a = Attestation::read(&mut r)?;
        r.expect_end()?;
        Ok(a)
    }

    #[test]
    fn uri_rules() {
        assert!(check_uri(b"https://alice.btc.calendar.opentimestamps.org").is_ok());
        assert!(check_uri(b"http://127.0.0.1:8080").is_ok());
        for bad in [
            &b"https://a.b/?q=1"[..],
            b"https://a@b",
            b"https://[::1]",
            b"a b",
            b"%41",
        ] {
            assert!(
                matches!(check_uri(bad), Err(OtsError::InvalidUri { .. })),
                "{bad:?} accepted"
            );
        }
        assert!(check_uri(&[b'a'; MAX_URI_LEN]).is_ok());
        assert!(matches!(
            check_uri(&[b'a'; MAX_URI_LEN + 1]),
            Err(OtsError::LimitExceeded {
                limit: Limit::UriLength,
                ..
            })
        ));
    }

    #[test]
    fn known_payload_must_be_consumed() {
        // Bitcoin height 1 followed by a stray byte inside the payload.
        let mut bytes = BITCOIN_TAG.to_vec();
        bytes.extend_from_slice(&[0x02, 0x01, 0x00]);
        assert!(matches!(
            parse(&bytes),
            Err(OtsError::AttestationTrailingBytes { offset: 10 })
        ));
    }

    #[test]
    fn payload_limit() {
        let mut bytes = [0xaa; 8].to_vec();
        write_varuint(&mut bytes, (MAX_PAYLOAD_LEN + 1) as u64);
        bytes.extend(std::iter::repeat_n(0u8, MAX_PAYLOAD_LEN + 1));
        assert!(matches!(
            parse(&bytes),
            Err(OtsError::LimitExceeded {
                limit: Limit::AttestationPayload,
                offset: Some(8),
                ..
            })
        ));
    }

    #[test]
    fn order_is_tag_then_value() {
        let mut v = vec![
            Attestation::Pending {
                uri: "https://b".into(),
            },
            Attestation::Bitcoin { height: 256 },
            Attestation::Unknown {
                tag: [0; 8],
                payload: vec![2],
            },
            Attestation::Pending {
                uri: "https://a".into(),
            },
            Attestation::Bitcoin { height: 129 },
            Attestation::Unknown {
                tag: [0; 8],
                payload: vec![1],
            },
        ];
        v.sort();
        assert_eq!(
            v,
            vec![
                Attestation::Unknown {
                    tag: [0; 8],
                    payload: vec![1]
                },
                Attestation::Unknown {
                    tag: [0; 8],
                    payload: vec![2]
                },
                // Numeric height order, as the reference compares heights:
                // 129 (LEB128 `81 01`) before 256 (`80 02`), the opposite of
                // the payloads' byte order.
                Attestation::Bitcoin { height: 129 },
                Attestation::Bitcoin { height: 256 },
                Attestation::Pending {
                    uri: "https://a".into()
                },
                Attestation::Pending {
                    uri: "https://b".into()
                },
            ]
        );
    }
}
