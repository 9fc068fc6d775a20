//! The record envelope: fields, deterministic CBOR encoding, signing message, signature,
//! record hash. Specification: docs/RECORDS.md §"Envelope".

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use ledger_core::hash::Hash;
use sha2::{Digest, Sha256};

use crate::cbor::{self, Value};
use crate::error::RecordError;
use crate::evidence::EvidenceBody;
use crate::fleet_body::{RolloutBody, UpdateBody};
use crate::healing::HealingBody;
use crate::ids::{ChainId, Id, KeyId};
use crate::key_body::KeyBody;
use crate::release_body::ReleaseBody;
use crate::text::id_field;

/// The envelope format version this crate writes and reads.
pub const FORMAT_VERSION: u64 = 1;
/// Largest encoded record: one log entry, whose C2SP tlog-tiles length prefix has 16 bits.
pub const MAX_RECORD_LEN: usize = 65_535;
/// Domain-separation prefix of the signing message; a 0x00 byte follows it.
pub const SIGNING_DOMAIN: &[u8] = b"evidence-ledger/record/v1";

// CBOR keys of the envelope map.
const KEY_VERSION: u64 = 0;
const KEY_KIND: u64 = 1;
const KEY_SITE_ID: u64 = 2;
const KEY_APPLIANCE_ID: u64 = 3;
const KEY_SEQUENCE: u64 = 4;
const KEY_PREV_HASH: u64 = 5;
const KEY_TIME: u64 = 6;
const KEY_KEY_ID: u64 = 7;
const KEY_BODY: u64 = 8;
const KEY_SIGNATURE: u64 = 9;

/// The kind of a record, which selects the body schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Evidence,
    Healing,
    Key,
    Release,
    Rollout,
    Update,
}

impl Kind {
    /// The CBOR code: 1 evidence, 2 healing, 3 key, 4 release, 5 rollout, 6 update.
    pub fn code(self) -> u64 {
        match self {
            Kind::Evidence => 1,
            Kind::Healing => 2,
            Kind::Key => 3,
            Kind::Release => 4,
            Kind::Rollout => 5,
            Kind::Update => 6,
        }
    }

    pub fn from_code(code: u64) -> Option<Kind> {
        Some(match code {
            1 => Kind::Evidence,
            2 => Kind::Healing,
            3 => Kind::Key,
            4 => Kind::Release,
            5 => Kind::Rollout,
            6 => Kind::Update,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Evidence => "evidence",
            Kind::Healing => "healing",
            Kind::Key => "key",
            Kind::Release => "release",
            Kind::Rollout => "rollout",
            Kind::Update => "update",
        }
    }
}

/// A kind-specific body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Evidence(EvidenceBody),
    Healing(HealingBody),
    Key(KeyBody),
    Release(ReleaseBody),
    Rollout(RolloutBody),
    Update(UpdateBody),
}

impl Body {
    pub fn kind(&self) -> Kind {
        match self {
            Body::Evidence(_) => Kind::Evidence,
            Body::Healing(_) => Kind::Healing,
            Body::Key(_) => Kind::Key,
            Body::Release(_) => Kind::Release,
            Body::Rollout(_) => Kind::Rollout,
            Body::Update(_) => Kind::Update,
        }
    }

    pub fn validate(&self) -> Result<(), RecordError> {
        match self {
            Body::Evidence(b) => b.validate(),
            Body::Healing(b) => b.validate(),
            Body::Key(b) => b.validate(),
            Body::Release(b) => b.validate(),
            Body::Rollout(b) => b.validate(),
            Body::Update(b) => b.validate(),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Body::Evidence(b) => b.to_value(),
            Body::Healing(b) => b.to_value(),
            Body::Key(b) => b.to_value(),
            Body::Release(b) => b.to_value(),
            Body::Rollout(b) => b.to_value(),
            Body::Update(b) => b.to_value(),
        }
    }

    fn from_value(kind: Kind, value: Value) -> Result<Body, RecordError> {
        Ok(match kind {
            Kind::Evidence => Body::Evidence(EvidenceBody::from_value(value)?),
            Kind::Healing => Body::Healing(HealingBody::from_value(value)?),
            Kind::Key => Body::Key(KeyBody::from_value(value)?),
            Kind::Release => Body::Release(ReleaseBody::from_value(value)?),
            Kind::Rollout => Body::Rollout(RolloutBody::from_value(value)?),
            Kind::Update => Body::Update(UpdateBody::from_value(value)?),
        })
    }
}

/// Every envelope field but the signature (the format version is implied: this crate
/// only writes [`FORMAT_VERSION`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedRecord {
    pub site_id: Id,
    pub appliance_id: Id,
    /// Position in the appliance's chain: 1, 2, 3 … with no gaps.
    pub sequence: u64,
    /// Record hash of the appliance's previous record; all zero for sequence 1.
    pub prev_hash: Hash,
    /// Appliance clock when the record was made, Unix milliseconds.
    pub time_ms: u64,
    /// Key id of the signing key.
    pub key_id: KeyId,
    pub body: Body,
}

impl UnsignedRecord {
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }

    /// The appliance chain this record extends.
    pub fn chain(&self) -> ChainId {
        ChainId::new(self.site_id.clone(), self.appliance_id.clone())
    }

    /// Checks the rules that span fields: sequences start at 1, the first record has the
    /// all-zero prev hash and later ones do not, the body is valid, and a rotation names
    /// the envelope's own key as the old key.
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.sequence == 0 {
            return Err(RecordError::InvalidValue {
                field: "record.sequence",
                reason: "sequence numbers start at 1".into(),
            });
        }
        let zero = self.prev_hash == Hash([0; 32]);
        if self.sequence == 1 && !zero {
            return Err(RecordError::InvalidValue {
                field: "record.prev_hash",
                reason: "the first record of a chain has the all-zero prev hash".into(),
            });
        }
        if self.sequence > 1 && zero {
            return Err(RecordError::InvalidValue {
                field: "record.prev_hash",
                reason: "only sequence 1 has the all-zero prev hash".into(),
            });
        }
        self.body.validate()?;
        if let Body::Key(KeyBody::Rotation { old_key_id, .. }) = &self.body {
            if *old_key_id != self.key_id {
                return Err(RecordError::InvalidValue {
                    field: "key.rotation.old_key_id",
                    reason: format!(
                        "names key {old_key_id} but the record is signed by key {}",
                        self.key_id
                    ),
                });
            }
        }
        Ok(())
    }

    fn to_value(&self, signature: Option<&Signature>) -> Value {
        Value::map([
            (KEY_VERSION, Some(Value::Uint(FORMAT_VERSION))),
            (KEY_KIND, Some(Value::Uint(self.kind().code()))),
            (KEY_SITE_ID, Some(Value::text(self.site_id.as_str()))),
            (
                KEY_APPLIANCE_ID,
                Some(Value::text(self.appliance_id.as_str())),
            ),
            (KEY_SEQUENCE, Some(Value::Uint(self.sequence))),
            (KEY_PREV_HASH, Some(Value::bytes(self.prev_hash.as_bytes()))),
            (KEY_TIME, Some(Value::Uint(self.time_ms))),
            (KEY_KEY_ID, Some(Value::bytes(self.key_id.as_bytes()))),
            (KEY_BODY, Some(self.body.to_value())),
            (
                KEY_SIGNATURE,
                signature.map(|s| Value::bytes(&s.to_bytes())),
            ),
        ])
    }

    /// The bytes Ed25519 signs: `evidence-ledger/record/v1`, a 0x00 byte, then the
    /// deterministic CBOR of the envelope map without the signature entry (key 9).
    pub fn signing_message(&self) -> Vec<u8> {
        let envelope = cbor::encode(&self.to_value(None));
        let mut msg = Vec::with_capacity(SIGNING_DOMAIN.len() + 1 + envelope.len());
        msg.extend_from_slice(SIGNING_DOMAIN);
        msg.push(0x00);
        msg.extend_from_slice(&envelope);
        msg
    }
}

/// A signed record. It can only be made by [`Record::sign`] or [`Record::decode`], both
/// of which validate every field, so a `Record` always encodes to at most
/// [`MAX_RECORD_LEN`] bytes of deterministic CBOR. Its signature is checked only by
/// [`Record::verify`] (or [`crate::verify_batch`]): decoding does not know the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    unsigned: UnsignedRecord,
    signature: Signature,
    bytes: Vec<u8>,
}

impl Record {
    /// Validates `unsigned`, checks that its key id is that of `key`, and signs it.
    pub fn sign(unsigned: UnsignedRecord, key: &SigningKey) -> Result<Record, RecordError> {
        unsigned.validate()?;
        let key_id = KeyId::of(&key.verifying_key());
        if key_id != unsigned.key_id {
            return Err(RecordError::KeyIdMismatch {
                record: unsigned.key_id,
                key: key_id,
            });
        }
        let signature = key.sign(&unsigned.signing_message());
        let bytes = cbor::encode(&unsigned.to_value(Some(&signature)));
        if bytes.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLarge {
                len: bytes.len(),
                max: MAX_RECORD_LEN,
            });
        }
        Ok(Record {
            unsigned,
            signature,
            bytes,
        })
    }

    /// Decodes and validates a record. Refuses input over [`MAX_RECORD_LEN`] bytes before
    /// parsing it, any encoding other than the deterministic one (the decoded record is
    /// re-encoded and must give the same bytes), trailing bytes, unknown versions, kinds
    /// and fields, missing fields and wrong types. Does not check the signature.
    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        if bytes.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLarge {
                len: bytes.len(),
                max: MAX_RECORD_LEN,
            });
        }
        let mut f = cbor::decode(bytes)?.into_map("record")?;
        let version = f.required(KEY_VERSION)?.into_uint("record.version")?;
        if version != FORMAT_VERSION {
            return Err(RecordError::UnsupportedVersion { version });
        }
        let kind_code = f.required(KEY_KIND)?.into_uint("record.kind")?;
        let kind =
            Kind::from_code(kind_code).ok_or(RecordError::UnknownKind { kind: kind_code })?;
        let site_id = id_field(f.required(KEY_SITE_ID)?, "record.site_id")?;
        let appliance_id = id_field(f.required(KEY_APPLIANCE_ID)?, "record.appliance_id")?;
        let sequence = f.required(KEY_SEQUENCE)?.into_uint("record.sequence")?;
        let prev_hash = Hash(
            f.required(KEY_PREV_HASH)?
                .into_byte_array("record.prev_hash", "a 32-byte hash")?,
        );
        let time_ms = f.required(KEY_TIME)?.into_uint("record.time")?;
        let key_id = KeyId(
            f.required(KEY_KEY_ID)?
                .into_byte_array("record.key_id", "an 8-byte key id")?,
        );
        let body = Body::from_value(kind, f.required(KEY_BODY)?)?;
        let signature = Signature::from_bytes(
            &f.required(KEY_SIGNATURE)?
                .into_byte_array("record.signature", "a 64-byte Ed25519 signature")?,
        );
        f.finish()?;
        let unsigned = UnsignedRecord {
            site_id,
            appliance_id,
            sequence,
            prev_hash,
            time_ms,
            key_id,
            body,
        };
        unsigned.validate()?;
        // RFC 8949 §4.2: a decoder that requires deterministic encoding checks it. The
        // reader already refused what it could see locally; re-encoding catches anything
        // else, so exactly one byte string stands for each record.
        let canonical = cbor::encode(&unsigned.to_value(Some(&signature)));
        if canonical != bytes {
            let offset = canonical
                .iter()
                .zip(bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(canonical.len().min(bytes.len()));
            return Err(RecordError::NonCanonical {
                offset,
                reason: "re-encoding the decoded record gives different bytes",
            });
        }
        Ok(Record {
            unsigned,
            signature,
            bytes: bytes.to_vec(),
        })
    }

    /// The record's deterministic CBOR encoding: the log entry.
    pub fn encode(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The record hash, SHA-256 of the encoded record. It links a chain (`prev_hash`)
    /// and identifies a record for deduplication. It is not the RFC 6962 leaf hash of the
    /// log entry, which is SHA-256(0x00 || encoded record).
    pub fn hash(&self) -> Hash {
        Hash(Sha256::digest(&self.bytes).into())
    }

    /// The bytes the signature covers (see [`UnsignedRecord::signing_message`]).
    pub fn signing_message(&self) -> Vec<u8> {
        self.unsigned.signing_message()
    }

    /// Checks that the record names `key` and that its signature verifies with it
    /// (`verify_strict`: RFC 8032 §5.1.7, plus rejection of small-order points and
    /// non-canonical scalars, so no signature is malleable).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), RecordError> {
        let key_id = KeyId::of(key);
        if key_id != self.unsigned.key_id {
            return Err(RecordError::KeyIdMismatch {
                record: self.unsigned.key_id,
                key: key_id,
            });
        }
        key.verify_strict(&self.signing_message(), &self.signature)
            .map_err(|_| RecordError::BadSignature {
                key_id,
                record_hash: self.hash(),
            })
    }

    pub fn unsigned(&self) -> &UnsignedRecord {
        &self.unsigned
    }

    pub fn into_unsigned(self) -> UnsignedRecord {
        self.unsigned
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    pub fn kind(&self) -> Kind {
        self.unsigned.kind()
    }

    pub fn site_id(&self) -> &Id {
        &self.unsigned.site_id
    }

    pub fn appliance_id(&self) -> &Id {
        &self.unsigned.appliance_id
    }

    pub fn chain(&self) -> ChainId {
        self.unsigned.chain()
    }

    pub fn sequence(&self) -> u64 {
        self.unsigned.sequence
    }

    pub fn prev_hash(&self) -> &Hash {
        &self.unsigned.prev_hash
    }

    pub fn time_ms(&self) -> u64 {
        self.unsigned.time_ms
    }

    pub fn key_id(&self) -> KeyId {
        self.unsigned.key_id
    }

    pub fn body(&self) -> &Body {
        &self.unsigned.body
    }
}
