//! The `release` body (kind 4, schema version 1): release keys and the releases they
//! sign. Schema and rules: docs/RECORDS.md §"Release body".
//!
//! Every release record is written by the log operator on its own chain and signed with
//! the operator key, like an enrolment. A release record also carries a *signed release*:
//! a statement about one appliance image (version, channel, artifact digest and size,
//! where to fetch it, the oldest version it may replace) signed offline by a release key
//! that an earlier release record enrolled. The operator's signature says "this log
//! accepted it at this position"; the release key's signature says "the release team
//! built and published this image". An appliance that installs only what both say cannot
//! be given an image the release team never signed, nor one the log never saw.

use std::cmp::Ordering;
use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use ledger_core::hash::Hash;

use crate::cbor::{self, Value};
use crate::error::RecordError;
use crate::ids::{Id, KeyId};
use crate::key_body::{key_id, public_key, RevocationReason};
use crate::text::{check_text, id_field, text_field};

/// Schema version of the release body this crate writes and reads.
pub const RELEASE_SCHEMA_VERSION: u64 = 1;
/// Version of the signed-release statement this crate writes and reads.
pub const STATEMENT_VERSION: u64 = 1;
/// Domain-separation prefix of the release key's signing message; a 0x00 byte follows.
pub const RELEASE_SIGNING_DOMAIN: &[u8] = b"evidence-ledger/release/v1";
/// Most artifact URLs one release may list.
pub const MAX_URLS: usize = 8;
/// Longest artifact URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest release notes, in bytes.
pub const MAX_NOTES_LEN: usize = 4096;
/// Most dotted components of a version.
pub const MAX_VERSION_PARTS: usize = 4;

const KEY_VERSION: u64 = 0;
const KEY_ACTION: u64 = 1;

const ACTION_KEY_ENROLMENT: u64 = 0;
const ACTION_KEY_REVOCATION: u64 = 1;
const ACTION_RELEASE: u64 = 2;

const ENROL_NAME: u64 = 2;
const ENROL_PUBLIC_KEY: u64 = 3;
const REVOKE_KEY_ID: u64 = 2;
const REVOKE_REASON: u64 = 3;
const RELEASE_STATEMENT: u64 = 2;
const RELEASE_SIGNATURE: u64 = 3;

// The statement map and the signed-release document.
const ST_VERSION: u64 = 0;
const ST_RELEASE_VERSION: u64 = 1;
const ST_CHANNEL: u64 = 2;
const ST_SHA256: u64 = 3;
const ST_SIZE: u64 = 4;
const ST_URLS: u64 = 5;
const ST_MIN_VERSION: u64 = 6;
const ST_NOTES: u64 = 7;
const ST_KEY_ID: u64 = 8;
const DOC_VERSION: u64 = 0;
const DOC_STATEMENT: u64 = 1;
const DOC_SIGNATURE: u64 = 2;

/// A release version: 1 to 4 dot-separated decimal numbers (`24.11`, `1.2.3`), each
/// below 2^32 and without leading zeros, compared number by number; a missing component
/// counts as 0, so `1.2` and `1.2.0` are equal and may not both be released.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    text: String,
    parts: Vec<u32>,
}

impl Version {
    pub fn parse(text: &str) -> Result<Version, String> {
        let mut parts = Vec::new();
        for part in text.split('.') {
            let well_formed = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            let number = part.parse::<u32>().ok().filter(|_| well_formed);
            let Some(number) = number else {
                return Err(format!(
                    "{text:?} is not a version: expected 1 to {MAX_VERSION_PARTS} dot-separated numbers below 2^32 without leading zeros, such as 24.11.2"
                ));
            };
            parts.push(number);
        }
        if parts.len() > MAX_VERSION_PARTS {
            return Err(format!(
                "{text:?} has {} components; at most {MAX_VERSION_PARTS}",
                parts.len()
            ));
        }
        Ok(Version {
            text: text.to_owned(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The components with trailing zeros removed: equal versions have equal keys.
    pub fn normalized(&self) -> Vec<u32> {
        let mut parts = self.parts.clone();
        while parts.last() == Some(&0) {
            parts.pop();
        }
        parts
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.normalized().cmp(&other.normalized())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a release key signs about one appliance image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseStatement {
    pub version: Version,
    /// Release channel, e.g. `stable`.
    pub channel: Id,
    pub artifact_sha256: Hash,
    /// Artifact size in bytes, at least 1.
    pub artifact_size: u64,
    /// Where the artifact can be fetched: 1 to [`MAX_URLS`] `https://` or `http://` URLs.
    /// The digest, not the transport, makes a download trustworthy.
    pub urls: Vec<String>,
    /// Anti-rollback floor: the release may only replace this version or a later one.
    pub min_version: Version,
    /// Free text, may be empty.
    pub notes: String,
    /// Id of the release key that signs the statement.
    pub key_id: KeyId,
}

impl ReleaseStatement {
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.artifact_size == 0 {
            return Err(invalid(
                "release.artifact_size",
                "an artifact has at least one byte",
            ));
        }
        if self.urls.is_empty() || self.urls.len() > MAX_URLS {
            return Err(invalid(
                "release.urls",
                format!("{} URLs; 1 to {MAX_URLS} are allowed", self.urls.len()),
            ));
        }
        for url in &self.urls {
            check_text("release.urls", url, MAX_URL_LEN, false)?;
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "release.urls",
                    format!("{url:?} is not an http:// or https:// URL without spaces"),
                ));
            }
        }
        if self.min_version > self.version {
            return Err(invalid(
                "release.min_version",
                format!(
                    "floor {} is above the release's own version {}",
                    self.min_version, self.version
                ),
            ));
        }
        check_text("release.notes", &self.notes, MAX_NOTES_LEN, true)
    }

    fn to_value(&self) -> Value {
        Value::map([
            (ST_VERSION, Some(Value::Uint(STATEMENT_VERSION))),
            (ST_RELEASE_VERSION, Some(Value::text(self.version.as_str()))),
            (ST_CHANNEL, Some(Value::text(self.channel.as_str()))),
            (
                ST_SHA256,
                Some(Value::bytes(self.artifact_sha256.as_bytes())),
            ),
            (ST_SIZE, Some(Value::Uint(self.artifact_size))),
            (
                ST_URLS,
                Some(Value::Array(
                    self.urls.iter().map(|u| Value::text(u)).collect(),
                )),
            ),
            (ST_MIN_VERSION, Some(Value::text(self.min_version.as_str()))),
            (ST_NOTES, Some(Value::text(&self.notes))),
            (ST_KEY_ID, Some(Value::bytes(self.key_id.as_bytes()))),
        ])
    }

    fn from_value(value: Value) -> Result<ReleaseStatement, RecordError> {
        let mut f = value.into_map("release.statement")?;
        let version = f
            .required(ST_VERSION)?
            .into_uint("release.statement.version")?;
        if version != STATEMENT_VERSION {
            return Err(RecordError::UnsupportedBodyVersion {
                body: "release statement",
                version,
            });
        }
        let statement = ReleaseStatement {
            version: version_field(f.required(ST_RELEASE_VERSION)?, "release.version")?,
            channel: id_field(f.required(ST_CHANNEL)?, "release.channel")?,
            artifact_sha256: Hash(
                f.required(ST_SHA256)?
                    .into_byte_array("release.artifact_sha256", "a 32-byte hash")?,
            ),
            artifact_size: f.required(ST_SIZE)?.into_uint("release.artifact_size")?,
            urls: f
                .required(ST_URLS)?
                .into_array("release.urls")?
                .into_iter()
                .map(|u| u.into_text("release.urls"))
                .collect::<Result<_, _>>()?,
            min_version: version_field(f.required(ST_MIN_VERSION)?, "release.min_version")?,
            notes: text_field(f.required(ST_NOTES)?, "release.notes", MAX_NOTES_LEN, true)?,
            key_id: key_id(f.required(ST_KEY_ID)?, "release.key_id")?,
        };
        f.finish()?;
        statement.validate()?;
        Ok(statement)
    }

    /// The bytes a release key signs: `evidence-ledger/release/v1`, a 0x00 byte, then the
    /// deterministic CBOR of the statement map.
    pub fn signing_message(&self) -> Vec<u8> {
        let statement = cbor::encode(&self.to_value());
        let mut msg = Vec::with_capacity(RELEASE_SIGNING_DOMAIN.len() + 1 + statement.len());
        msg.extend_from_slice(RELEASE_SIGNING_DOMAIN);
        msg.push(0x00);
        msg.extend_from_slice(&statement);
        msg
    }
}

fn version_field(value: Value, field: &'static str) -> Result<Version, RecordError> {
    let text = value.into_text(field)?;
    Version::parse(&text).map_err(|reason| invalid(field, reason))
}

fn invalid(field: &'static str, reason: impl Into<String>) -> RecordError {
    RecordError::InvalidValue {
        field,
        reason: reason.into(),
    }
}

/// A release statement and the release key's signature over it. Its file form (what
/// `ledgerd release sign` writes and `POST /v1/releases` takes) is the deterministic
/// CBOR map `{0: 1, 1: statement, 2: signature}` ([`SignedRelease::encode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRelease {
    pub statement: ReleaseStatement,
    pub signature: Signature,
}

impl SignedRelease {
    /// Validates `statement`, checks it names `key`, and signs it.
    pub fn sign(
        statement: ReleaseStatement,
        key: &SigningKey,
    ) -> Result<SignedRelease, RecordError> {
        statement.validate()?;
        let own = KeyId::of(&key.verifying_key());
        if statement.key_id != own {
            return Err(RecordError::KeyIdMismatch {
                record: statement.key_id,
                key: own,
            });
        }
        let signature = key.sign(&statement.signing_message());
        Ok(SignedRelease {
            statement,
            signature,
        })
    }

    /// Strict Ed25519 verification with the release key `key`, which must be the one the
    /// statement names.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), RecordError> {
        let key_id = KeyId::of(key);
        if key_id != self.statement.key_id {
            return Err(RecordError::KeyIdMismatch {
                record: self.statement.key_id,
                key: key_id,
            });
        }
        key.verify_strict(&self.statement.signing_message(), &self.signature)
            .map_err(|_| RecordError::BadReleaseSignature { key_id })
    }

    /// The file form: deterministic CBOR `{0: 1, 1: statement, 2: signature}`.
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(&Value::map([
            (DOC_VERSION, Some(Value::Uint(STATEMENT_VERSION))),
            (DOC_STATEMENT, Some(self.statement.to_value())),
            (
                DOC_SIGNATURE,
                Some(Value::bytes(&self.signature.to_bytes())),
            ),
        ]))
    }

    /// Reads the file form with the record decoder's rules (size limit, deterministic
    /// CBOR only, no unknown fields). Does not check the signature.
    pub fn decode(bytes: &[u8]) -> Result<SignedRelease, RecordError> {
        if bytes.len() > crate::record::MAX_RECORD_LEN {
            return Err(RecordError::TooLarge {
                len: bytes.len(),
                max: crate::record::MAX_RECORD_LEN,
            });
        }
        let mut f = cbor::decode(bytes)?.into_map("signed release")?;
        let version = f
            .required(DOC_VERSION)?
            .into_uint("signed release.version")?;
        if version != STATEMENT_VERSION {
            return Err(RecordError::UnsupportedBodyVersion {
                body: "signed release",
                version,
            });
        }
        let statement = ReleaseStatement::from_value(f.required(DOC_STATEMENT)?)?;
        let signature = Signature::from_bytes(
            &f.required(DOC_SIGNATURE)?
                .into_byte_array("release.signature", "a 64-byte Ed25519 signature")?,
        );
        f.finish()?;
        let signed = SignedRelease {
            statement,
            signature,
        };
        if signed.encode() != bytes {
            return Err(RecordError::NonCanonical {
                offset: 0,
                reason: "re-encoding the signed release gives different bytes",
            });
        }
        Ok(signed)
    }
}

/// The `release` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseBody {
    /// The operator admits `public_key`, named `name`, as a key that may sign releases
    /// for entries after this one.
    KeyEnrolment { name: Id, public_key: VerifyingKey },
    /// The operator withdraws release key `key_id` for entries after this one; releases
    /// it signed earlier stay in the log.
    KeyRevocation {
        key_id: KeyId,
        reason: RevocationReason,
    },
    /// The operator logs a release signed by an enrolled release key.
    Release(SignedRelease),
}

impl ReleaseBody {
    pub fn validate(&self) -> Result<(), RecordError> {
        match self {
            ReleaseBody::KeyEnrolment { public_key, .. } if public_key.is_weak() => Err(invalid(
                "release.key_enrolment.public_key",
                "Ed25519 public key of small order",
            )),
            ReleaseBody::Release(signed) => signed.statement.validate(),
            _ => Ok(()),
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        let version = (KEY_VERSION, Some(Value::Uint(RELEASE_SCHEMA_VERSION)));
        match self {
            ReleaseBody::KeyEnrolment { name, public_key } => Value::map([
                version,
                (KEY_ACTION, Some(Value::Uint(ACTION_KEY_ENROLMENT))),
                (ENROL_NAME, Some(Value::text(name.as_str()))),
                (ENROL_PUBLIC_KEY, Some(Value::bytes(public_key.as_bytes()))),
            ]),
            ReleaseBody::KeyRevocation { key_id, reason } => Value::map([
                version,
                (KEY_ACTION, Some(Value::Uint(ACTION_KEY_REVOCATION))),
                (REVOKE_KEY_ID, Some(Value::bytes(key_id.as_bytes()))),
                (REVOKE_REASON, Some(Value::Uint(reason.code()))),
            ]),
            ReleaseBody::Release(signed) => Value::map([
                version,
                (KEY_ACTION, Some(Value::Uint(ACTION_RELEASE))),
                (RELEASE_STATEMENT, Some(signed.statement.to_value())),
                (
                    RELEASE_SIGNATURE,
                    Some(Value::bytes(&signed.signature.to_bytes())),
                ),
            ]),
        }
    }

    pub(crate) fn from_value(value: Value) -> Result<ReleaseBody, RecordError> {
        let mut f = value.into_map("release")?;
        let version = f.required(KEY_VERSION)?.into_uint("release.version")?;
        if version != RELEASE_SCHEMA_VERSION {
            return Err(RecordError::UnsupportedBodyVersion {
                body: "release",
                version,
            });
        }
        let body = match f.required(KEY_ACTION)?.into_uint("release.action")? {
            ACTION_KEY_ENROLMENT => ReleaseBody::KeyEnrolment {
                name: id_field(f.required(ENROL_NAME)?, "release.key_enrolment.name")?,
                public_key: public_key(
                    f.required(ENROL_PUBLIC_KEY)?,
                    "release.key_enrolment.public_key",
                )?,
            },
            ACTION_KEY_REVOCATION => {
                let key_id = key_id(f.required(REVOKE_KEY_ID)?, "release.key_revocation.key_id")?;
                let code = f
                    .required(REVOKE_REASON)?
                    .into_uint("release.key_revocation.reason")?;
                let reason = RevocationReason::from_code(code).ok_or_else(|| {
                    invalid(
                        "release.key_revocation.reason",
                        format!("unknown revocation reason code {code}"),
                    )
                })?;
                ReleaseBody::KeyRevocation { key_id, reason }
            }
            ACTION_RELEASE => ReleaseBody::Release(SignedRelease {
                statement: ReleaseStatement::from_value(f.required(RELEASE_STATEMENT)?)?,
                signature: Signature::from_bytes(
                    &f.required(RELEASE_SIGNATURE)?
                        .into_byte_array("release.signature", "a 64-byte Ed25519 signature")?,
                ),
            }),
            other => {
                return Err(invalid(
                    "release.action",
                    format!("unknown release action {other}"),
                ))
            }
        };
        f.finish()?;
        Ok(body)
    }
}
