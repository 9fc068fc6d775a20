//! The sites a caller may read. Every dashboard query takes a [`Scope`] and turns it into
//! an SQL condition on the site column, so no row outside it is ever returned; the
//! server turns "outside the scope" into 404 before a query runs.

use std::collections::BTreeSet;

use rusqlite::types::Value;

/// The sites a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every site (the admin credential).
    All,
    /// These sites only (read and partner tokens).
    Sites(BTreeSet<String>),
}

impl Scope {
    /// Whether `site` is inside the scope.
    pub fn allows(&self, site: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Sites(s) => s.contains(site),
        }
    }

    /// Narrows the scope to one site the caller asked for, or `None` when that site is
    /// outside it.
    pub fn narrow(&self, site: Option<&str>) -> Option<Scope> {
        match site {
            None => Some(self.clone()),
            Some(s) if self.allows(s) => Some(Scope::Sites([s.to_string()].into())),
            Some(_) => None,
        }
    }

    /// An SQL condition on `column` with its parameters appended to `args`.
    pub(crate) fn clause(&self, column: &str, args: &mut Vec<Value>) -> String {
        match self {
            Scope::All => "1".to_string(),
            Scope::Sites(sites) => {
                let marks = vec!["?"; sites.len()].join(", ");
                args.extend(sites.iter().map(|s| Value::Text(s.clone())));
                if sites.is_empty() {
                    "0".to_string()
                } else {
                    format!("{column} IN ({marks})")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(names: &[&str]) -> Scope {
        Scope::Sites(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn narrowing_stays_inside_the_scope() {
        let partner = sites(&["a", "b"]);
        assert!(partner.allows("a") && !partner.allows("c"));
        assert_eq!(partner.narrow(None), Some(partner.clone()));
        assert_eq!(partner.narrow(Some("b")), Some(sites(&["b"])));
        assert_eq!(partner.narrow(Some("c")), None);
        assert_eq!(Scope::All.narrow(Some("c")), Some(sites(&["c"])));
    }

    #[test]
    fn clauses_bind_every_site_and_an_empty_scope_matches_nothing() {
        let mut args = Vec::new();
        assert_eq!(Scope::All.clause("site", &mut args), "1");
        assert!(args.is_empty());
        assert_eq!(
            sites(&["a", "b"]).clause("r.site", &mut args),
            "r.site IN (?, ?)"
        );
        assert_eq!(args, vec![Value::Text("a".into()), Value::Text("b".into())]);
        assert_eq!(sites(&[]).clause("site", &mut Vec::new()), "0");
    }
}
