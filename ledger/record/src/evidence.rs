//! The `evidence` body (kind 1, schema version 1): a bundle of compliance check results.
//! Schema: docs/RECORDS.md §"Evidence body".

use ledger_core::hash::Hash;

use crate::cbor::{self, Value};
use crate::disclosure::items_root;
use crate::error::RecordError;
use crate::ids::Id;
use crate::text::{check_text, id_field, text_field};

/// Schema version of the evidence body this crate writes and reads.
pub const EVIDENCE_SCHEMA_VERSION: u64 = 1;
/// Most items one bundle may hold (inline or committed).
pub const MAX_ITEMS: usize = 65_535;
/// Longest `details` text, in bytes.
pub const MAX_DETAILS_LEN: usize = 4096;
/// Most control ids one item may map to.
pub const MAX_CONTROLS: usize = 32;
/// Longest control id, in bytes.
pub const MAX_CONTROL_LEN: usize = 64;

// CBOR keys of the evidence body map.
const KEY_VERSION: u64 = 0;
const KEY_ITEMS: u64 = 1;
const KEY_ITEMS_ROOT: u64 = 2;
const KEY_ITEM_COUNT: u64 = 3;

// CBOR keys of an item map.
const ITEM_CHECK_TYPE: u64 = 0;
const ITEM_HOST: u64 = 1;
const ITEM_STATUS: u64 = 2;
const ITEM_OBSERVED_AT: u64 = 3;
const ITEM_DETAILS: u64 = 4;
const ITEM_CONTROLS: u64 = 5;

/// Result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warning,
    Fail,
    Error,
}

impl Status {
    /// The CBOR code of the status.
    pub fn code(self) -> u64 {
        match self {
            Status::Pass => 0,
            Status::Warning => 1,
            Status::Fail => 2,
            Status::Error => 3,
        }
    }

    pub fn from_code(code: u64) -> Option<Status> {
        Some(match code {
            0 => Status::Pass,
            1 => Status::Warning,
            2 => Status::Fail,
            3 => Status::Error,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warning => "warning",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// One check result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceItem {
    /// What was checked, e.g. `disk_encryption`.
    pub check_type: Id,
    /// Where it was checked: host name or address.
    pub host: Id,
    pub status: Status,
    /// When the check observed the state, Unix milliseconds.
    pub observed_at_ms: u64,
    /// Human-readable details, at most [`MAX_DETAILS_LEN`] bytes, may be empty.
    pub details: String,
    /// Framework controls the check supports, `FRAMEWORK:CONTROL` (e.g.
    /// `HIPAA:164.312(b)`, `SOC2:CC7.2`), no duplicates, at most [`MAX_CONTROLS`].
    pub controls: Vec<String>,
}

/// Checks a framework control id: `FRAMEWORK:CONTROL`, both parts non-empty, characters
/// from `[A-Za-z0-9._:()-]`, at most [`MAX_CONTROL_LEN`] bytes.
pub fn check_control_id(control: &str) -> Result<(), String> {
    if control.is_empty() || control.len() > MAX_CONTROL_LEN {
        return Err(format!(
            "control id {control:?} must be 1 to {MAX_CONTROL_LEN} bytes long"
        ));
    }
    if let Some(ch) = control
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '(' | ')' | '-')))
    {
        return Err(format!(
            "control id {control:?} has {ch:?}; only A-Z a-z 0-9 . _ : ( ) - are allowed"
        ));
    }
    match control.split_once(':') {
        Some((framework, id)) if !framework.is_empty() && !id.is_empty() => Ok(()),
        _ => Err(format!(
            "control id {control:?} is not of the form FRAMEWORK:CONTROL"
        )),
    }
}

impl EvidenceItem {
    /// Checks the limits an [`Id`] does not already guarantee.
    pub fn validate(&self) -> Result<(), RecordError> {
        check_text(
            "evidence.item.details",
            &self.details,
            MAX_DETAILS_LEN,
            true,
        )?;
        if self.controls.len() > MAX_CONTROLS {
            return Err(RecordError::InvalidValue {
                field: "evidence.item.controls",
                reason: format!("{} controls, more than {MAX_CONTROLS}", self.controls.len()),
            });
        }
        for (i, control) in self.controls.iter().enumerate() {
            check_control_id(control).map_err(|reason| RecordError::InvalidValue {
                field: "evidence.item.controls",
                reason,
            })?;
            if self.controls[..i].contains(control) {
                return Err(RecordError::InvalidValue {
                    field: "evidence.item.controls",
                    reason: format!("control id {control:?} listed twice"),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn to_value(&self) -> Value {
        Value::map([
            (ITEM_CHECK_TYPE, Some(Value::text(self.check_type.as_str()))),
            (ITEM_HOST, Some(Value::text(self.host.as_str()))),
            (ITEM_STATUS, Some(Value::Uint(self.status.code()))),
            (ITEM_OBSERVED_AT, Some(Value::Uint(self.observed_at_ms))),
            (ITEM_DETAILS, Some(Value::text(&self.details))),
            (
                ITEM_CONTROLS,
                Some(Value::Array(
                    self.controls.iter().map(|c| Value::text(c)).collect(),
                )),
            ),
        ])
    }

    pub(crate) fn from_value(value: Value) -> Result<EvidenceItem, RecordError> {
        let mut f = value.into_map("evidence.item")?;
        let check_type = id_field(f.required(ITEM_CHECK_TYPE)?, "evidence.item.check_type")?;
        let host = id_field(f.required(ITEM_HOST)?, "evidence.item.host")?;
        let code = f.required(ITEM_STATUS)?.into_uint("evidence.item.status")?;
        let status = Status::from_code(code).ok_or_else(|| RecordError::InvalidValue {
            field: "evidence.item.status",
            reason: format!("unknown status code {code}"),
        })?;
        let observed_at_ms = f
            .required(ITEM_OBSERVED_AT)?
            .into_uint("evidence.item.observed_at")?;
        let details = text_field(
            f.required(ITEM_DETAILS)?,
            "evidence.item.details",
            MAX_DETAILS_LEN,
            true,
        )?;
        let controls = f
            .required(ITEM_CONTROLS)?
            .into_array("evidence.item.controls")?
            .into_iter()
            .map(|v| v.into_text("evidence.item.controls"))
            .collect::<Result<Vec<_>, _>>()?;
        f.finish()?;
        let item = EvidenceItem {
            check_type,
            host,
            status,
            observed_at_ms,
            details,
            controls,
        };
        item.validate()?;
        Ok(item)
    }

    /// The canonical CBOR encoding of the item: the data of its Merkle leaf.
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    /// Decodes one item from its canonical CBOR encoding, with the same checks as
    /// inside a record.
    pub fn decode(bytes: &[u8]) -> Result<EvidenceItem, RecordError> {
        if bytes.len() > crate::record::MAX_RECORD_LEN {
            return Err(RecordError::TooLarge {
                len: bytes.len(),
                max: crate::record::MAX_RECORD_LEN,
            });
        }
        let item = EvidenceItem::from_value(cbor::decode(bytes)?)?;
        if item.encode() != bytes {
            return Err(RecordError::NonCanonical {
                offset: 0,
                reason: "re-encoding the decoded item gives different bytes",
            });
        }
        Ok(item)
    }
}

/// The `evidence` body. It either carries its items, or commits to items kept outside
/// the log with an RFC 6962 Merkle root over their canonical encodings, so that any
/// subset can later be disclosed with a [`Disclosure`](crate::Disclosure) without
/// revealing the others.
///
/// There is deliberately no form that carries both the items and their root: the
/// signature covers the whole body, so a reader who is shown only some of the items could
/// not check the signature, and the root would prove nothing to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceBody {
    /// The items themselves (1 to [`MAX_ITEMS`]); the log entry reveals all of them.
    Inline { items: Vec<EvidenceItem> },
    /// Only the Merkle root of the items and their number; the items travel separately.
    Committed { items_root: Hash, item_count: u64 },
}

impl EvidenceBody {
    /// A body that carries its items.
    pub fn inline(items: Vec<EvidenceItem>) -> Result<EvidenceBody, RecordError> {
        let body = EvidenceBody::Inline { items };
        body.validate()?;
        Ok(body)
    }

    /// A body that commits to `items` without carrying them.
    pub fn committed(items: &[EvidenceItem]) -> Result<EvidenceBody, RecordError> {
        check_item_count(items.len() as u64)?;
        for item in items {
            item.validate()?;
        }
        let items_root = items_root(items).ok_or_else(|| RecordError::InvalidValue {
            field: "evidence.items",
            reason: "a bundle needs at least one item".into(),
        })?;
        Ok(EvidenceBody::Committed {
            items_root,
            item_count: items.len() as u64,
        })
    }

    pub fn validate(&self) -> Result<(), RecordError> {
        match self {
            EvidenceBody::Inline { items } => {
                check_item_count(items.len() as u64)?;
                items.iter().try_for_each(EvidenceItem::validate)
            }
            EvidenceBody::Committed { item_count, .. } => check_item_count(*item_count),
        }
    }

    /// The items, when the body carries them.
    pub fn items(&self) -> Option<&[EvidenceItem]> {
        match self {
            EvidenceBody::Inline { items } => Some(items),
            EvidenceBody::Committed { .. } => None,
        }
    }

    /// Checks a disclosure against this body's commitment.
    pub fn verify_disclosure(&self, disclosure: &crate::Disclosure) -> Result<(), RecordError> {
        match self {
            EvidenceBody::Committed {
                items_root,
                item_count,
            } => disclosure.verify(items_root, *item_count),
            EvidenceBody::Inline { .. } => Err(RecordError::InvalidValue {
                field: "evidence",
                reason: "the body carries its items and commits to no root".into(),
            }),
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        let version = Some(Value::Uint(EVIDENCE_SCHEMA_VERSION));
        match self {
            EvidenceBody::Inline { items } => Value::map([
                (KEY_VERSION, version),
                (
                    KEY_ITEMS,
                    Some(Value::Array(items.iter().map(|i| i.to_value()).collect())),
                ),
            ]),
            EvidenceBody::Committed {
                items_root,
                item_count,
            } => Value::map([
                (KEY_VERSION, version),
                (KEY_ITEMS_ROOT, Some(Value::bytes(items_root.as_bytes()))),
                (KEY_ITEM_COUNT, Some(Value::Uint(*item_count))),
            ]),
        }
    }

    pub(crate) fn from_value(value: Value) -> Result<EvidenceBody, RecordError> {
        let mut f = value.into_map("evidence")?;
        let version = f.required(KEY_VERSION)?.into_uint("evidence.version")?;
        if version != EVIDENCE_SCHEMA_VERSION {
            return Err(RecordError::UnsupportedBodyVersion {
                body: "evidence",
                version,
            });
        }
        let body = if f.contains(KEY_ITEMS) {
            if f.contains(KEY_ITEMS_ROOT) || f.contains(KEY_ITEM_COUNT) {
                return Err(RecordError::InvalidValue {
                    field: "evidence",
                    reason: "carries both items and an items root".into(),
                });
            }
            let items = f
                .required(KEY_ITEMS)?
                .into_array("evidence.items")?
                .into_iter()
                .map(EvidenceItem::from_value)
                .collect::<Result<Vec<_>, _>>()?;
            EvidenceBody::Inline { items }
        } else {
            let items_root = Hash(
                f.required(KEY_ITEMS_ROOT)?
                    .into_byte_array("evidence.items_root", "a 32-byte hash")?,
            );
            let item_count = f
                .required(KEY_ITEM_COUNT)?
                .into_uint("evidence.item_count")?;
            EvidenceBody::Committed {
                items_root,
                item_count,
            }
        };
        f.finish()?;
        body.validate()?;
        Ok(body)
    }
}

fn check_item_count(count: u64) -> Result<(), RecordError> {
    if count == 0 || count > MAX_ITEMS as u64 {
        return Err(RecordError::InvalidValue {
            field: "evidence.items",
            reason: format!("{count} items; a bundle holds 1 to {MAX_ITEMS}"),
        });
    }
    Ok(())
}
