//! The `key` body (kind 3, schema version 1): enrolment, rotation and revocation of an
//! appliance key. Schema and signing rules: docs/RECORDS.md §"Key body".
//!
//! Who signs, and so what the envelope says:
//! - enrolment and revocation are written by the log operator: the envelope's site and
//!   appliance ids name the operator's own chain, its key id is the operator key's id and
//!   the operator key signs; the body names the appliance concerned;
//! - rotation is written by the appliance itself, in its own chain: the envelope's key id
//!   is the old key's id, the old key signs, and the body repeats the old key id and
//!   carries the new public key;
//! - a link (the first entries of a log that succeeds a frozen one, `link_body.rs`) is
//!   written by the operator in its own chain, like an enrolment, and introduces the key
//!   of every chain it carries.

use ed25519_dalek::VerifyingKey;

use crate::cbor::Value;
use crate::error::RecordError;
use crate::ids::{ChainId, KeyId};
use crate::link_body::LinkBody;
use crate::text::id_field;

/// Schema version of the key body this crate writes and reads.
pub const KEY_SCHEMA_VERSION: u64 = 1;

const KEY_VERSION: u64 = 0;
const KEY_ACTION: u64 = 1;

const ACTION_ENROLMENT: u64 = 0;
const ACTION_ROTATION: u64 = 1;
const ACTION_REVOCATION: u64 = 2;
const ACTION_LINK: u64 = 3;

// Enrolment fields.
const ENROL_SITE_ID: u64 = 2;
const ENROL_APPLIANCE_ID: u64 = 3;
const ENROL_PUBLIC_KEY: u64 = 4;
const ENROL_TOKEN_ID: u64 = 5;
// Rotation fields.
const ROTATE_OLD_KEY_ID: u64 = 2;
const ROTATE_NEW_PUBLIC_KEY: u64 = 3;
// Revocation fields.
const REVOKE_SITE_ID: u64 = 2;
const REVOKE_APPLIANCE_ID: u64 = 3;
const REVOKE_KEY_ID: u64 = 4;
const REVOKE_REASON: u64 = 5;

/// Why a key was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    Unspecified,
    /// The private key is, or may be, known to someone else.
    KeyCompromise,
    /// The appliance was taken out of service.
    Decommissioned,
    /// The key was replaced by another enrolment.
    Superseded,
}

impl RevocationReason {
    /// The CBOR code: 0 unspecified, 1 key compromise, 2 decommissioned, 3 superseded.
    pub fn code(self) -> u64 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::Decommissioned => 2,
            RevocationReason::Superseded => 3,
        }
    }

    pub fn from_code(code: u64) -> Option<RevocationReason> {
        Some(match code {
            0 => RevocationReason::Unspecified,
            1 => RevocationReason::KeyCompromise,
            2 => RevocationReason::Decommissioned,
            3 => RevocationReason::Superseded,
            _ => return None,
        })
    }
}

/// The `key` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyBody {
    /// The operator admits `public_key` as the key of appliance `subject`. Signed by the
    /// operator key.
    Enrolment {
        subject: ChainId,
        public_key: VerifyingKey,
        /// The single-use enrolment token the appliance presented.
        enrolment_token_id: crate::ids::Id,
    },
    /// The appliance replaces its key `old_key_id` with `new_public_key`. Signed by the
    /// old key; `old_key_id` equals the envelope's key id.
    Rotation {
        old_key_id: KeyId,
        new_public_key: VerifyingKey,
    },
    /// The operator withdraws key `key_id` of appliance `subject`. Signed by the operator
    /// key.
    Revocation {
        subject: ChainId,
        key_id: KeyId,
        reason: RevocationReason,
    },
    /// The log succeeds the frozen log the body names, and carries chains from it.
    /// Signed by the operator key.
    Link(LinkBody),
}

/// Reads a 32-byte Ed25519 public key, refusing invalid encodings and the small-order
/// (weak) keys that would let one signature verify for many messages.
pub(crate) fn public_key(value: Value, field: &'static str) -> Result<VerifyingKey, RecordError> {
    let bytes: [u8; 32] = value.into_byte_array(field, "a 32-byte Ed25519 public key")?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| RecordError::InvalidValue {
        field,
        reason: "not a valid Ed25519 public key".into(),
    })?;
    if key.is_weak() {
        return Err(RecordError::InvalidValue {
            field,
            reason: "Ed25519 public key of small order".into(),
        });
    }
    Ok(key)
}

pub(crate) fn key_id(value: Value, field: &'static str) -> Result<KeyId, RecordError> {
    value.into_byte_array(field, "an 8-byte key id").map(KeyId)
}

impl KeyBody {
    /// Whether the operator writes and signs this record in its own chain (enrolment,
    /// revocation, link) rather than the appliance in its chain (rotation).
    pub fn by_operator(&self) -> bool {
        !matches!(self, KeyBody::Rotation { .. })
    }

    pub fn validate(&self) -> Result<(), RecordError> {
        let key = match self {
            KeyBody::Enrolment { public_key, .. } => public_key,
            KeyBody::Rotation { new_public_key, .. } => new_public_key,
            KeyBody::Revocation { .. } => return Ok(()),
            KeyBody::Link(link) => return link.validate(),
        };
        if key.is_weak() {
            return Err(RecordError::InvalidValue {
                field: "key.public_key",
                reason: "Ed25519 public key of small order".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn to_value(&self) -> Value {
        let version = (KEY_VERSION, Some(Value::Uint(KEY_SCHEMA_VERSION)));
        match self {
            KeyBody::Enrolment {
                subject,
                public_key,
                enrolment_token_id,
            } => Value::map([
                version,
                (KEY_ACTION, Some(Value::Uint(ACTION_ENROLMENT))),
                (ENROL_SITE_ID, Some(Value::text(subject.site_id.as_str()))),
                (
                    ENROL_APPLIANCE_ID,
                    Some(Value::text(subject.appliance_id.as_str())),
                ),
                (ENROL_PUBLIC_KEY, Some(Value::bytes(public_key.as_bytes()))),
                (
                    ENROL_TOKEN_ID,
                    Some(Value::text(enrolment_token_id.as_str())),
                ),
            ]),
            KeyBody::Rotation {
                old_key_id,
                new_public_key,
            } => Value::map([
                version,
                (KEY_ACTION, Some(Value::Uint(ACTION_ROTATION))),
                (ROTATE_OLD_KEY_ID, Some(Value::bytes(old_key_id.as_bytes()))),
                (
                    ROTATE_NEW_PUBLIC_KEY,
                    Some(Value::bytes(new_public_key.as_bytes())),
                ),
            ]),
            KeyBody::Revocation {
                subject,
                key_id,
                reason,
            } => Value::map([
                version,
                (KEY_ACTION, Some(Value::Uint(ACTION_REVOCATION))),
                (REVOKE_SITE_ID, Some(Value::text(subject.site_id.as_str()))),
                (
                    REVOKE_APPLIANCE_ID,
                    Some(Value::text(subject.appliance_id.as_str())),
                ),
                (REVOKE_KEY_ID, Some(Value::bytes(key_id.as_bytes()))),
                (REVOKE_REASON, Some(Value::Uint(reason.code()))),
            ]),
            KeyBody::Link(link) => Value::map(
                [version, (KEY_ACTION, Some(Value::Uint(ACTION_LINK)))]
                    .into_iter()
                    .chain(link.fields()),
            ),
        }
    }

    pub(crate) fn from_value(value: Value) -> Result<KeyBody, RecordError> {
        let mut f = value.into_map("key")?;
        let version = f.required(KEY_VERSION)?.into_uint("key.version")?;
        if version != KEY_SCHEMA_VERSION {
            return Err(RecordError::UnsupportedBodyVersion {
                body: "key",
                version,
            });
        }
        let action = f.required(KEY_ACTION)?.into_uint("key.action")?;
        let body = match action {
            ACTION_ENROLMENT => KeyBody::Enrolment {
                subject: ChainId::new(
                    id_field(f.required(ENROL_SITE_ID)?, "key.enrolment.site_id")?,
                    id_field(
                        f.required(ENROL_APPLIANCE_ID)?,
                        "key.enrolment.appliance_id",
                    )?,
                ),
                public_key: public_key(f.required(ENROL_PUBLIC_KEY)?, "key.enrolment.public_key")?,
                enrolment_token_id: id_field(
                    f.required(ENROL_TOKEN_ID)?,
                    "key.enrolment.enrolment_token_id",
                )?,
            },
            ACTION_ROTATION => KeyBody::Rotation {
                old_key_id: key_id(f.required(ROTATE_OLD_KEY_ID)?, "key.rotation.old_key_id")?,
                new_public_key: public_key(
                    f.required(ROTATE_NEW_PUBLIC_KEY)?,
                    "key.rotation.new_public_key",
                )?,
            },
            ACTION_REVOCATION => {
                let subject = ChainId::new(
                    id_field(f.required(REVOKE_SITE_ID)?, "key.revocation.site_id")?,
                    id_field(
                        f.required(REVOKE_APPLIANCE_ID)?,
                        "key.revocation.appliance_id",
                    )?,
                );
                let key_id = key_id(f.required(REVOKE_KEY_ID)?, "key.revocation.key_id")?;
                let code = f
                    .required(REVOKE_REASON)?
                    .into_uint("key.revocation.reason")?;
                let reason =
                    RevocationReason::from_code(code).ok_or_else(|| RecordError::InvalidValue {
                        field: "key.revocation.reason",
                        reason: format!("unknown revocation reason code {code}"),
                    })?;
                KeyBody::Revocation {
                    subject,
                    key_id,
                    reason,
                }
            }
            ACTION_LINK => KeyBody::Link(LinkBody::from_fields(&mut f)?),
            other => {
                return Err(RecordError::InvalidValue {
                    field: "key.action",
                    reason: format!("unknown key action {other}"),
                })
            }
        };
        f.finish()?;
        Ok(body)
    }
}
