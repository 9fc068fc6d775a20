//! Small SQLite helpers shared by the tailer and the queries: conversions between the
//! log's unsigned numbers and SQLite's signed integers, and a statement whose text and
//! positional parameters are built together, so a filter can never add a `?` without its
//! value.

use rusqlite::types::Value;

use crate::Scope;

/// Converts a stored non-negative integer back; SQLite integers are signed, and a
/// negative value (which the tailer never writes) reads as 0.
pub(crate) fn stored_to_u64(v: i64) -> u64 {
    v.max(0) as u64
}

/// Converts a `u64` for storage, saturating at `i64::MAX`.
pub(crate) fn u64_to_stored(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// The SQL text of a query and its positional parameters, in order.
pub(crate) struct FilteredQuery {
    pub sql: String,
    pub args: Vec<Value>,
}

impl FilteredQuery {
    /// Starts a query with `select`, which ends just before its `WHERE` conditions.
    pub fn new(select: &str) -> FilteredQuery {
        FilteredQuery {
            sql: select.to_string(),
            args: Vec::new(),
        }
    }

    /// Appends SQL text that takes no parameter.
    pub fn push(&mut self, text: &str) {
        self.sql.push_str(text);
    }

    /// Appends the scope's condition on `column`.
    pub fn scope(&mut self, scope: &Scope, column: &str) {
        let clause = scope.clause(column, &mut self.args);
        self.sql.push_str(&clause);
    }

    /// Appends `text` (holding one `?`) and binds `value` to it.
    pub fn bind(&mut self, text: &str, value: Value) {
        self.sql.push_str(text);
        self.args.push(value);
    }

    /// Appends `text` and binds `value` when there is a value; does nothing otherwise.
    pub fn bind_if(&mut self, text: &str, value: Option<Value>) {
        if let Some(value) = value {
            self.bind(text, value);
        }
    }
}

/// An optional text filter value.
pub(crate) fn text(v: Option<&str>) -> Option<Value> {
    v.map(|s| Value::Text(s.to_string()))
}

/// An optional code or day number filter value.
pub(crate) fn integer(v: Option<i64>) -> Option<Value> {
    v.map(Value::Integer)
}

/// An optional log index or time filter value, stored saturated.
pub(crate) fn unsigned(v: Option<u64>) -> Option<Value> {
    v.map(|n| Value::Integer(u64_to_stored(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate_instead_of_wrapping() {
        assert_eq!(u64_to_stored(u64::MAX), i64::MAX);
        assert_eq!(u64_to_stored(7), 7);
        assert_eq!(stored_to_u64(-1), 0);
        assert_eq!(stored_to_u64(i64::MAX), i64::MAX as u64);
    }

    #[test]
    fn only_present_filters_add_parameters() {
        let mut q = FilteredQuery::new("SELECT 1 FROM t WHERE ");
        q.scope(&Scope::All, "site");
        q.bind_if(" AND a = ?", text(Some("x")));
        q.bind_if(" AND b = ?", integer(None));
        q.bind_if(" AND c < ?", unsigned(Some(u64::MAX)));
        assert_eq!(q.sql, "SELECT 1 FROM t WHERE 1 AND a = ? AND c < ?");
        assert_eq!(
            q.args,
            vec![Value::Text("x".into()), Value::Integer(i64::MAX)]
        );
    }
}
