//! The `healing` body (kind 2, schema version 1): one incident and how a runbook
//! resolved it. Schema: docs/RECORDS.md §"Healing body".

use crate::cbor::Value;
use crate::error::RecordError;
use crate::ids::Id;
use crate::text::{check_text, id_field, text_field};

/// Schema version of the healing body this crate writes and reads.
pub const HEALING_SCHEMA_VERSION: u64 = 1;
/// Longest pattern signature, in bytes.
pub const MAX_PATTERN_LEN: usize = 256;
/// Longest action description, in bytes.
pub const MAX_ACTION_LEN: usize = 1024;
/// Longest state description (before or after), in bytes.
pub const MAX_STATE_LEN: usize = 4096;

const KEY_VERSION: u64 = 0;
const KEY_INCIDENT_ID: u64 = 1;
const KEY_CHECK_TYPE: u64 = 2;
const KEY_PATTERN_SIGNATURE: u64 = 3;
const KEY_TIER: u64 = 4;
const KEY_RUNBOOK_ID: u64 = 5;
const KEY_ACTION: u64 = 6;
const KEY_OUTCOME: u64 = 7;
const KEY_STARTED_AT: u64 = 8;
const KEY_ENDED_AT: u64 = 9;
const KEY_STATE_BEFORE: u64 = 10;
const KEY_STATE_AFTER: u64 = 11;

/// Escalation tier of the runbook that acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
pub enum Tier {
    L1,
    L2,
    L3,
}

impl Tier {
    /// The CBOR code: 1, 2 or 3.
    pub fn code(self) -> u64 {
        match self {
            Tier::L1 => 1,
            Tier::L2 => 2,
            Tier::L3 => 3,
        }
    }

    pub fn from_code(code: u64) -> Option<Tier> {
        Some(match code {
            1 => Tier::L1,
            2 => Tier::L2,
            3 => Tier::L3,
            _ => return None,
        })
    }
}

/// How the incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Escalated,
}

impl Outcome {
    /// The CBOR code: 0 success, 1 failure, 2 escalated.
    pub fn code(self) -> u64 {
        match self {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::Escalated => 2,
        }
    }

    pub fn from_code(code: u64) -> Option<Outcome> {
        Some(match code {
            0 => Outcome::Success,
            1 => Outcome::Failure,
            2 => Outcome::Escalated,
            _ => return None,
        })
    }
}

/// The `healing` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealingBody {
    pub incident_id: Id,
    /// The check whose failure opened the incident.
    pub check_type: Id,
    /// The signature of the failure pattern that selected the runbook (1 to
    /// [`MAX_PATTERN_LEN`] bytes).
    pub pattern_signature: String,
    pub tier: Tier,
    pub runbook_id: Id,
    /// What the runbook did (1 to [`MAX_ACTION_LEN`] bytes).
    pub action: String,
    pub outcome: Outcome,
    /// Unix milliseconds; `started_at_ms <= ended_at_ms`.
    pub started_at_ms: u64,
    pub ended_at_ms: u64,
    /// State observed before and after (each at most [`MAX_STATE_LEN`] bytes, may be empty).
    pub state_before: String,
    pub state_after: String,
}

impl HealingBody {
    /// Checks the limits an [`Id`] does not already guarantee.
    pub fn validate(&self) -> Result<(), RecordError> {
        check_text(
            "healing.pattern_signature",
            &self.pattern_signature,
            MAX_PATTERN_LEN,
            false,
        )?;
        check_text("healing.action", &self.action, MAX_ACTION_LEN, false)?;
        check_text(
            "healing.state_before",
            &self.state_before,
            MAX_STATE_LEN,
            true,
        )?;
        check_text(
            "healing.state_after",
            &self.state_after,
            MAX_STATE_LEN,
            true,
        )?;
        if self.ended_at_ms < self.started_at_ms {
            return Err(RecordError::InvalidValue {
                field: "healing.ended_at",
                reason: format!(
                    "ends at {} before it starts at {}",
                    self.ended_at_ms, self.started_at_ms
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn to_value(&self) -> Value {
        Value::map([
            (KEY_VERSION, Some(Value::Uint(HEALING_SCHEMA_VERSION))),
            (
                KEY_INCIDENT_ID,
                Some(Value::text(self.incident_id.as_str())),
            ),
            (KEY_CHECK_TYPE, Some(Value::text(self.check_type.as_str()))),
            (
                KEY_PATTERN_SIGNATURE,
                Some(Value::text(&self.pattern_signature)),
            ),
            (KEY_TIER, Some(Value::Uint(self.tier.code()))),
            (KEY_RUNBOOK_ID, Some(Value::text(self.runbook_id.as_str()))),
            (KEY_ACTION, Some(Value::text(&self.action))),
            (KEY_OUTCOME, Some(Value::Uint(self.outcome.code()))),
            (KEY_STARTED_AT, Some(Value::Uint(self.started_at_ms))),
            (KEY_ENDED_AT, Some(Value::Uint(self.ended_at_ms))),
            (KEY_STATE_BEFORE, Some(Value::text(&self.state_before))),
            (KEY_STATE_AFTER, Some(Value::text(&self.state_after))),
        ])
    }

    pub(crate) fn from_value(value: Value) -> Result<HealingBody, RecordError> {
        let mut f = value.into_map("healing")?;
        let version = f.required(KEY_VERSION)?.into_uint("healing.version")?;
        if version != HEALING_SCHEMA_VERSION {
            return Err(RecordError::UnsupportedBodyVersion {
                body: "healing",
                version,
            });
        }
        let incident_id = id_field(f.required(KEY_INCIDENT_ID)?, "healing.incident_id")?;
        let check_type = id_field(f.required(KEY_CHECK_TYPE)?, "healing.check_type")?;
        let pattern_signature = text_field(
            f.required(KEY_PATTERN_SIGNATURE)?,
            "healing.pattern_signature",
            MAX_PATTERN_LEN,
            false,
        )?;
        let tier_code = f.required(KEY_TIER)?.into_uint("healing.tier")?;
        let tier = Tier::from_code(tier_code).ok_or_else(|| RecordError::InvalidValue {
            field: "healing.tier",
            reason: format!("unknown tier code {tier_code}"),
        })?;
        let runbook_id = id_field(f.required(KEY_RUNBOOK_ID)?, "healing.runbook_id")?;
        let action = text_field(
            f.required(KEY_ACTION)?,
            "healing.action",
            MAX_ACTION_LEN,
            false,
        )?;
        let outcome_code = f.required(KEY_OUTCOME)?.into_uint("healing.outcome")?;
        let outcome =
            Outcome::from_code(outcome_code).ok_or_else(|| RecordError::InvalidValue {
                field: "healing.outcome",
                reason: format!("unknown outcome code {outcome_code}"),
            })?;
        let started_at_ms = f
            .required(KEY_STARTED_AT)?
            .into_uint("healing.started_at")?;
        let ended_at_ms = f.required(KEY_ENDED_AT)?.into_uint("healing.ended_at")?;
        let state_before = text_field(
            f.required(KEY_STATE_BEFORE)?,
            "healing.state_before",
            MAX_STATE_LEN,
            true,
        )?;
        let state_after = text_field(
            f.required(KEY_STATE_AFTER)?,
            "healing.state_after",
            MAX_STATE_LEN,
            true,
        )?;
        f.finish()?;
        let body = HealingBody {
            incident_id,
            check_type,
            pattern_signature,
            tier,
            runbook_id,
            action,
            outcome,
            started_at_ms,
            ended_at_ms,
            state_before,
            state_after,
        };
        body.validate()?;
        Ok(body)
    }
}
