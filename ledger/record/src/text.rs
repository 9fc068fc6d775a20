//! Bounded free text (details, actions, states) and how identifiers are read from CBOR.

use crate::cbor::Value;
use crate::error::RecordError;
use crate::ids::Id;

/// Checks free text: at most `max` bytes of UTF-8, at least one byte unless `may_be_empty`,
/// and no control characters other than tab, line feed and carriage return, so that text
/// shown on dashboards and in reports cannot carry terminal escapes or NUL bytes.
pub(crate) fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    may_be_empty: bool,
) -> Result<(), RecordError> {
    if value.is_empty() && !may_be_empty {
        return Err(RecordError::InvalidValue {
            field,
            reason: "must not be empty".into(),
        });
    }
    if value.len() > max {
        return Err(RecordError::InvalidValue {
            field,
            reason: format!("is {} bytes long, more than {max}", value.len()),
        });
    }
    if let Some((index, ch)) = value
        .char_indices()
        .find(|&(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(RecordError::InvalidValue {
            field,
            reason: format!("control character {ch:?} at byte {index}"),
        });
    }
    Ok(())
}

/// Reads a text field and checks it.
pub(crate) fn text_field(
    value: Value,
    field: &'static str,
    max: usize,
    may_be_empty: bool,
) -> Result<String, RecordError> {
    let s = value.into_text(field)?;
    check_text(field, &s, max, may_be_empty)?;
    Ok(s)
}

/// Reads an identifier field.
pub(crate) fn id_field(value: Value, field: &'static str) -> Result<Id, RecordError> {
    let s = value.into_text(field)?;
    Id::new(s).map_err(|problem| RecordError::InvalidId { field, problem })
}
