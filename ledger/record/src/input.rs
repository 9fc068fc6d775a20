//! Human-written input for evidence and healing bodies (the agent reads it from JSON files
//! given on its command line), validated and converted to the CBOR bodies.
//!
//! These are plain `serde` types; this crate does not parse JSON itself (the agent does,
//! with `serde_json`), so it stays free of any particular text format. Unknown fields are
//! refused so that a misspelt field name is an error, not silently dropped evidence.
//! Conversion reports the first problem with a path such as `items[2].controls[0]`.
//!
//! Evidence input (times are Unix milliseconds; `details` and `controls` may be omitted):
//! ```json
//! {"items": [{"check_type": "disk_encryption", "host": "ws-01", "status": "pass",
//!             "observed_at": 1700000000000, "details": "BitLocker on C:",
//!             "controls": ["HIPAA:164.312(a)(2)(iv)", "SOC2:CC6.1"]}]}
//! ```
//! Healing input (`state_before` and `state_after` may be omitted):
//! ```json
//! {"incident_id": "inc-42", "check_type": "disk_space", "pattern_signature": "disk_full:/var",
//!  "tier": "L1", "runbook_id": "rb-clean-tmp", "action": "removed stale files",
//!  "outcome": "success", "started_at": 1700000000000, "ended_at": 1700000005000}
//! ```

use serde::{Deserialize, Serialize};

use crate::error::RecordError;
use crate::evidence::{EvidenceBody, EvidenceItem, Status};
use crate::healing::{HealingBody, Outcome, Tier};
use crate::ids::Id;

/// A problem in human-written input, located by a path into it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {}", reason(.error))]
pub struct InputError {
    /// Where the problem is, e.g. `items[2].host`.
    pub path: String,
    pub error: RecordError,
}

/// The error's message without the schema field name, which the path replaces.
fn reason(error: &RecordError) -> String {
    match error {
        RecordError::InvalidId { problem, .. } => problem.to_string(),
        RecordError::InvalidValue { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

fn invalid(path: impl Into<String>, error: RecordError) -> InputError {
    InputError {
        path: path.into(),
        error,
    }
}

fn id(path: &str, field: &'static str, value: String) -> Result<Id, InputError> {
    Id::new(value).map_err(|problem| invalid(path, RecordError::InvalidId { field, problem }))
}

/// An evidence bundle as written by hand or by a check runner.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceInput {
    pub items: Vec<EvidenceItemInput>,
}

/// One check result of an [`EvidenceInput`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceItemInput {
    pub check_type: String,
    pub host: String,
    /// `pass`, `warning`, `fail` or `error`.
    pub status: Status,
    /// Unix milliseconds.
    pub observed_at: u64,
    #[serde(default)]
    pub details: String,
    #[serde(default)]
    pub controls: Vec<String>,
}

impl EvidenceItemInput {
    fn into_item(self, path: &str) -> Result<EvidenceItem, InputError> {
        let item = EvidenceItem {
            check_type: id(
                &format!("{path}.check_type"),
                "evidence.item.check_type",
                self.check_type,
            )?,
            host: id(&format!("{path}.host"), "evidence.item.host", self.host)?,
            status: self.status,
            observed_at_ms: self.observed_at,
            details: self.details,
            controls: self.controls,
        };
        // Point at the offending control when there is one, else at the item.
        item.validate().map_err(|error| {
            let at = match &error {
                RecordError::InvalidValue {
                    field: "evidence.item.details",
                    ..
                } => format!("{path}.details"),
                RecordError::InvalidValue {
                    field: "evidence.item.controls",
                    ..
                } => item
                    .controls
                    .iter()
                    .enumerate()
                    .find(|(i, c)| {
                        crate::evidence::check_control_id(c).is_err()
                            || item.controls[..*i].contains(c)
                    })
                    .map_or_else(
                        || format!("{path}.controls"),
                        |(i, _)| format!("{path}.controls[{i}]"),
                    ),
                _ => path.to_owned(),
            };
            invalid(at, error)
        })?;
        Ok(item)
    }
}

impl EvidenceInput {
    /// Validates every item and converts it.
    pub fn into_items(self) -> Result<Vec<EvidenceItem>, InputError> {
        if self.items.is_empty() {
            return Err(invalid(
                "items",
                RecordError::InvalidValue {
                    field: "evidence.items",
                    reason: "a bundle needs at least one item".into(),
                },
            ));
        }
        self.items
            .into_iter()
            .enumerate()
            .map(|(i, item)| item.into_item(&format!("items[{i}]")))
            .collect()
    }

    /// A body that carries the items.
    pub fn into_inline_body(self) -> Result<EvidenceBody, InputError> {
        EvidenceBody::inline(self.into_items()?).map_err(|e| invalid("items", e))
    }

    /// A body that commits to the items, and the items themselves, which the caller keeps
    /// for later disclosure.
    pub fn into_committed_body(self) -> Result<(EvidenceBody, Vec<EvidenceItem>), InputError> {
        let items = self.into_items()?;
        let body = EvidenceBody::committed(&items).map_err(|e| invalid("items", e))?;
        Ok((body, items))
    }
}

impl TryFrom<EvidenceInput> for EvidenceBody {
    type Error = InputError;

    fn try_from(input: EvidenceInput) -> Result<EvidenceBody, InputError> {
        input.into_inline_body()
    }
}

/// A healing record as written by the healing engine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealingInput {
    pub incident_id: String,
    pub check_type: String,
    pub pattern_signature: String,
    /// `L1`, `L2` or `L3`.
    pub tier: Tier,
    pub runbook_id: String,
    pub action: String,
    /// `success`, `failure` or `escalated`.
    pub outcome: Outcome,
    /// Unix milliseconds.
    pub started_at: u64,
    /// Unix milliseconds, not before `started_at`.
    pub ended_at: u64,
    #[serde(default)]
    pub state_before: String,
    #[serde(default)]
    pub state_after: String,
}

impl HealingInput {
    /// Validates and converts.
    pub fn into_body(self) -> Result<HealingBody, InputError> {
        let body = HealingBody {
            incident_id: id("incident_id", "healing.incident_id", self.incident_id)?,
            check_type: id("check_type", "healing.check_type", self.check_type)?,
            pattern_signature: self.pattern_signature,
            tier: self.tier,
            runbook_id: id("runbook_id", "healing.runbook_id", self.runbook_id)?,
            action: self.action,
            outcome: self.outcome,
            started_at_ms: self.started_at,
            ended_at_ms: self.ended_at,
            state_before: self.state_before,
            state_after: self.state_after,
        };
        body.validate().map_err(|error| {
            let path = match &error {
                RecordError::InvalidValue { field, .. } => {
                    field.strip_prefix("healing.").unwrap_or(field).to_owned()
                }
                _ => String::new(),
            };
            invalid(path, error)
        })?;
        Ok(body)
    }
}

impl TryFrom<HealingInput> for HealingBody {
    type Error = InputError;

    fn try_from(input: HealingInput) -> Result<HealingBody, InputError> {
        input.into_body()
    }
}
