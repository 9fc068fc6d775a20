//! What the table in [`super::settings`] says about one setting, and the macro that turns
//! that table into [`super::RawConfig`], its TOML and flag setters and its merge.
//!
//! Every setting is written once, as data. The macro generates from it what used to be
//! written by hand per key: the `RawConfig` field with its reference documentation, the
//! TOML arm that reads it, the flag and environment variable that override it, and the
//! merge line. Validation reads each setting's default and bounds from the same entry.

/// One setting of `ledgerd`: everything the parser, the command line, validation and the
/// documentation need to know about it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// The TOML key, also the name of the [`super::RawConfig`] field.
    pub key: &'static str,
    /// What kind of value it takes (in the vocabulary of `nix/lib/settings.nix`).
    pub kind: Kind,
    /// The value used when neither file, flag nor variable gives one.
    pub default: DefaultValue,
    /// The command-line flag that overrides the file, e.g. `--data-dir`.
    pub flag: Option<&'static str>,
    /// The environment variable that overrides the file (a flag wins over it).
    pub env: Option<&'static str>,
    /// The flag's line in `ledgerd --help`, when it has one.
    pub flag_help: Option<&'static str>,
    /// The reference documentation, as written on the `RawConfig` field.
    pub doc: &'static str,
}

/// The kind of value a setting takes, and for numbers their bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A file system path.
    Path,
    /// Free text.
    Text,
    /// An IP address and port.
    Listen,
    /// An identifier (`ledger_record::Id`).
    Id,
    /// An http(s) URL.
    Url,
    /// A list of http(s) URLs.
    UrlList,
    /// An integer in `min..=max`; `max: None` means no upper bound of its own (the
    /// validation may still impose one, see `anchor_min_calendars`).
    Int { min: i64, max: Option<i64> },
    /// `true` or `false`.
    Bool,
    /// A number in `min..=max`.
    Number { min: f64, max: f64 },
}

impl Kind {
    /// What the TOML value must be, as problems name it (`` `key` must be … ``).
    pub fn toml_expectation(self) -> &'static str {
        match self {
            Kind::Path | Kind::Text | Kind::Listen | Kind::Id => "a string",
            Kind::Url => "a URL string",
            Kind::UrlList => "a list of URL strings",
            Kind::Int { .. } => "an integer",
            Kind::Bool => "true or false",
            Kind::Number { .. } => "a number",
        }
    }
}

/// A setting's default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    /// No value: the setting is optional and its absence means something (see its doc).
    Absent,
    Text(&'static str),
    Int(i64),
    Bool(bool),
    Number(f64),
    List(&'static [&'static str]),
}

impl Setting {
    /// Default, lowest and highest value of an integer setting.
    ///
    /// The table is a constant; a mismatch between an entry's kind and how validation
    /// reads it is a programming error that every validation (and so every test) hits.
    pub fn int_rule(&self) -> (i64, i64, i64) {
        match (self.kind, self.default) {
            (Kind::Int { min, max }, DefaultValue::Int(default)) => {
                (default, min, max.unwrap_or(i64::MAX))
            }
            _ => panic!("setting table: `{}` is not an integer setting", self.key),
        }
    }

    /// Default, lowest and highest value of a number setting.
    pub fn number_rule(&self) -> (f64, f64, f64) {
        match (self.kind, self.default) {
            (Kind::Number { min, max }, DefaultValue::Number(default)) => (default, min, max),
            _ => panic!("setting table: `{}` is not a number setting", self.key),
        }
    }

    /// The default of a text setting.
    pub fn text_default(&self) -> &'static str {
        match self.default {
            DefaultValue::Text(text) => text,
            _ => panic!("setting table: `{}` has no text default", self.key),
        }
    }

    /// The default of a true/false setting.
    pub fn bool_default(&self) -> bool {
        match self.default {
            DefaultValue::Bool(value) => value,
            _ => panic!("setting table: `{}` has no true/false default", self.key),
        }
    }

    /// The default of a list setting.
    pub fn list_default(&self) -> &'static [&'static str] {
        match self.default {
            DefaultValue::List(items) => items,
            _ => panic!("setting table: `{}` has no list default", self.key),
        }
    }

    /// The documentation as one paragraph of plain text.
    pub fn doc_text(&self) -> String {
        self.doc.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// `Some(x)` for one argument, `None` for none: the optional parts of a table entry.
macro_rules! optional {
    () => {
        None
    };
    ($value:expr) => {
        Some($value)
    };
}
pub(super) use optional;

/// Defines [`super::RawConfig`], [`super::settings::SettingTable`] and
/// [`super::settings::TABLE`] from one list of entries, each of the form
///
/// ```text
/// /// Documentation (the configuration reference).
/// key: FieldType { kind: Kind::…, default: DefaultValue::…, flag: "--…", env: "LEDGERD_…" }
/// ```
///
/// where `flag`, `env` and `flag_help` are optional and come in that order.
macro_rules! define_settings {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident: $ty:ty {
            kind: $kind:expr,
            default: $default:expr
            $(, flag: $flag:literal)?
            $(, env: $env:literal)?
            $(, flag_help: $help:literal)?
            $(,)?
        }
    )*) => {
        /// Every setting, as written in the TOML file (keys are the field names) or given
        /// by a flag or environment variable. Absent fields take the default named in each
        /// comment. Generated from the table in `config/settings.rs`.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct RawConfig {
            $(
                $(#[doc = $doc])*
                $(#[doc = ""] #[doc = concat!("Flag `", $flag, "`.")])?
                $(#[doc = ""] #[doc = concat!("Variable `", $env, "`.")])?
                pub $field: Option<$ty>,
            )*
        }

        /// One [`Setting`] per field of [`RawConfig`], under the same name, so validation
        /// names the entry it reads and the compiler checks it exists.
        #[derive(Debug, Clone, Copy)]
        pub struct SettingTable {
            $(pub $field: Setting,)*
        }

        /// The settings of `ledgerd`, one entry each.
        pub const TABLE: SettingTable = SettingTable {
            $($field: Setting {
                key: stringify!($field),
                kind: $kind,
                default: $default,
                flag: $crate::config::setting::optional!($($flag)?),
                env: $crate::config::setting::optional!($($env)?),
                flag_help: $crate::config::setting::optional!($($help)?),
                doc: concat!($($doc, "\n"),*),
            },)*
        };

        /// Every setting in the order of the file reference (and `nix/lib/settings.nix`).
        pub const SETTINGS: &[Setting] = &[$(TABLE.$field),*];

        impl RawConfig {
            /// Fields set in `over` replace those in `self` (flags and variables over the
            /// file).
            pub fn merge(self, over: RawConfig) -> RawConfig {
                RawConfig {
                    $($field: over.$field.or(self.$field),)*
                }
            }

            /// Stores the TOML `value` of setting `key`: `None` for an unknown key,
            /// `Some(false)` for a value of the wrong type (the field stays unset).
            pub(super) fn set_from_toml(&mut self, key: &str, value: &toml::Value) -> Option<bool> {
                use $crate::config::parse::FromToml as _;
                match key {
                    $(stringify!($field) => {
                        self.$field = <$ty>::from_toml(value);
                        Some(self.$field.is_some())
                    })*
                    _ => None,
                }
            }

            /// The settings given as flags or environment variables, read from what
            /// [`super::flags::Overrides`] declared.
            pub(super) fn set_from_flags(&mut self, matches: &clap::ArgMatches) {
                use $crate::config::flags::FromFlag as _;
                $(if TABLE.$field.flag.is_some() {
                    self.$field = <$ty>::from_flag(matches, stringify!($field));
                })*
            }
        }
    };
}
pub(super) use define_settings;
