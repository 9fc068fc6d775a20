//! The control mapping of the audit report: which framework controls each evidence
//! check type supports. A TOML file (format in docs/AUDIT_REPORT.md §4); the HIPAA
//! Security Rule defaults (`verifier/controls/hipaa.toml`) are compiled in, and
//! `--controls FILE` replaces them as a whole.
//!
//! The mapping is the auditor's input, like the log key: nothing in it comes from the
//! package, so a package cannot choose how its evidence is labelled.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::VerifyError;

/// The compiled-in defaults.
pub const HIPAA_DEFAULTS: &str = include_str!("../../controls/hipaa.toml");

/// Longest mapping file read, in bytes.
pub const MAX_CONTROLS_FILE: u64 = 1 << 20;

/// One check type's controls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlEntry {
    /// Control ids, shown as given; at least one.
    pub controls: Vec<String>,
    /// What the check shows for those controls.
    #[serde(default)]
    pub description: Option<String>,
}

/// A whole mapping file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlMap {
    /// The framework's name, shown in the report.
    pub framework: String,
    /// Check type → its controls.
    #[serde(default)]
    pub check_types: BTreeMap<String, ControlEntry>,
}

impl ControlMap {
    /// Parses a mapping file. `source` names it in errors, which carry the TOML line
    /// and column of the problem.
    pub fn parse(text: &str, source: &str) -> Result<ControlMap, VerifyError> {
        let map: ControlMap =
            toml::from_str(text).map_err(|e| VerifyError::malformed(source, e.to_string()))?;
        map.validate(source)?;
        Ok(map)
    }

    /// The compiled-in HIPAA Security Rule mapping.
    pub fn hipaa() -> ControlMap {
        // The defaults are a constant checked by a unit test; an error here would be a
        // build defect, so it falls back to an empty mapping rather than panicking.
        ControlMap::parse(HIPAA_DEFAULTS, "the built-in HIPAA mapping").unwrap_or(ControlMap {
            framework: "HIPAA Security Rule".into(),
            check_types: BTreeMap::new(),
        })
    }

    /// Every problem the syntax does not catch, reported together.
    fn validate(&self, source: &str) -> Result<(), VerifyError> {
        let mut problems = Vec::new();
        if self.framework.trim().is_empty() {
            problems.push("`framework` is empty".to_owned());
        }
        for (check_type, entry) in &self.check_types {
            if check_type.trim().is_empty() {
                problems.push("a check type name is empty".to_owned());
            }
            if entry.controls.is_empty() {
                problems.push(format!(
                    "[check_types.{check_type}] maps to no control (`controls` is empty)"
                ));
            }
            if entry.controls.iter().any(|c| c.trim().is_empty()) {
                problems.push(format!(
                    "[check_types.{check_type}] has an empty control id"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(VerifyError::malformed(source, problems.join("; ")))
        }
    }

    /// The controls of a check type, empty when it is not mapped.
    pub fn controls_of(&self, check_type: &str) -> &[String] {
        self.check_types
            .get(check_type)
            .map_or(&[], |e| e.controls.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_map_the_named_checks() {
        let map = ControlMap::parse(HIPAA_DEFAULTS, "defaults").unwrap();
        assert_eq!(map.framework, "HIPAA Security Rule");
        assert_eq!(map.controls_of("firewall"), ["§164.312(e)(1)"]);
        assert_eq!(map.controls_of("backup"), ["§164.308(a)(7)(ii)(A)"]);
        assert_eq!(map.controls_of("screen_lock"), ["§164.312(a)(2)(iii)"]);
        assert_eq!(map.controls_of("disk_encryption"), ["§164.312(a)(2)(iv)"]);
        assert!(map.controls_of("no_such_check").is_empty());
        assert_eq!(ControlMap::hipaa(), map);
    }

    #[test]
    fn errors_name_the_line() {
        let text = "framework = \"SOC 2\"\n[check_types.firewall]\ncontrols = [\"CC6.6\"\n";
        let e = ControlMap::parse(text, "soc2.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("soc2.toml") && e.contains("line 3"), "{e}");
        let unknown = "framework = \"x\"\n[check_types.a]\ncontrols = [\"1\"]\ncontrol = 2\n";
        let e = ControlMap::parse(unknown, "f").unwrap_err().to_string();
        assert!(e.contains("line 4") && e.contains("control"), "{e}");
    }

    #[test]
    fn empty_mappings_are_refused() {
        let text = "framework = \"x\"\n[check_types.a]\ncontrols = []\n[check_types.b]\ncontrols = [\" \"]\n";
        let e = ControlMap::parse(text, "f").unwrap_err().to_string();
        assert!(
            e.contains("check_types.a") && e.contains("check_types.b"),
            "{e}"
        );
    }
}
