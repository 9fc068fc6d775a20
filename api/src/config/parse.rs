//! Reading the TOML file into a [`RawConfig`]. Unknown keys and values of the wrong type
//! are collected as problems, not stopped at, so one run reports them all together with
//! the value problems validation finds.

use std::path::{Path, PathBuf};

use super::settings::setting;
use super::{ConfigErrors, RawConfig};

/// Largest TOML file read; a configuration is a few hundred bytes.
const MAX_CONFIG_FILE: u64 = 1 << 20;

/// A field type of [`RawConfig`] read from a TOML value; `None` when the value has
/// another type.
pub trait FromToml: Sized {
    fn from_toml(value: &toml::Value) -> Option<Self>;
}

impl FromToml for String {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        value.as_str().map(str::to_string)
    }
}

impl FromToml for PathBuf {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        value.as_str().map(PathBuf::from)
    }
}

impl FromToml for i64 {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        value.as_integer()
    }
}

impl FromToml for bool {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        value.as_bool()
    }
}

/// A number may be written as an integer (`promotion_min_success_rate = 1`).
impl FromToml for f64 {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        value
            .as_float()
            .or_else(|| value.as_integer().map(|i| i as f64))
    }
}

/// A list of strings; one item of another type makes the whole list unreadable.
impl FromToml for Vec<String> {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        value
            .as_array()?
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect()
    }
}

impl RawConfig {
    /// Reads TOML text. Unknown keys and wrong types are collected as problems, not
    /// stopped at, and the settings that were readable are returned beside them, so
    /// [`super::Config::validate_with`] can report the value problems in the same run.
    pub fn parse_toml(text: &str) -> (RawConfig, Vec<String>) {
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                let e: toml::de::Error = e;
                return (
                    RawConfig::default(),
                    vec![format!("TOML syntax: {}", e.message())],
                );
            }
        };
        let mut problems = Vec::new();
        let mut raw = RawConfig::default();
        for (key, value) in table {
            let Some(setting) = setting(&key) else {
                problems.push(format!("unknown setting `{key}`"));
                continue;
            };
            if raw.set_from_toml(&key, &value) != Some(true) {
                problems.push(format!(
                    "`{key}` must be {}",
                    setting.kind.toml_expectation()
                ));
            }
        }
        (raw, problems)
    }

    /// Reads TOML text, failing on any unknown key or wrong type.
    pub fn from_toml(text: &str) -> Result<RawConfig, ConfigErrors> {
        let (raw, problems) = RawConfig::parse_toml(text);
        if problems.is_empty() {
            Ok(raw)
        } else {
            Err(ConfigErrors { problems })
        }
    }

    /// Reads and parses a TOML file; problems are prefixed with the file name.
    pub fn read_file(path: &Path) -> (RawConfig, Vec<String>) {
        let one = |p: String| (RawConfig::default(), vec![p]);
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return one(format!("cannot read {}: {e}", path.display())),
        };
        if meta.len() > MAX_CONFIG_FILE {
            return one(format!(
                "{} is {} bytes; a configuration file is at most {MAX_CONFIG_FILE}",
                path.display(),
                meta.len()
            ));
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return one(format!("cannot read {}: {e}", path.display())),
        };
        let (raw, problems) = RawConfig::parse_toml(&text);
        let problems = problems
            .into_iter()
            .map(|p| format!("{}: {p}", path.display()))
            .collect();
        (raw, problems)
    }
}
