//! The command-line flags and `LEDGERD_*` environment variables that override the
//! configuration file, declared from the settings table: a setting with a `flag` in
//! its entry gets that flag (global to every subcommand), with its `env` variable when
//! it has one. A flag wins over its variable, and both over the file.

use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};

use super::setting::{Kind, Setting};
use super::settings::SETTINGS;
use super::RawConfig;

/// The settings given on the command line or in the environment, as a [`RawConfig`]
/// to merge over the file's. Flatten it into a `clap` derive struct
/// (`#[command(flatten)]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides(pub RawConfig);

/// A field type of [`RawConfig`] read from the parsed command line.
pub trait FromFlag: Sized {
    fn from_flag(matches: &ArgMatches, id: &str) -> Option<Self>;
}

macro_rules! from_one_flag {
    ($($ty:ty),*) => {$(
        impl FromFlag for $ty {
            fn from_flag(matches: &ArgMatches, id: &str) -> Option<Self> {
                matches.get_one::<$ty>(id).cloned()
            }
        }
    )*};
}
from_one_flag!(String, PathBuf, i64, bool, f64);

/// A repeatable flag; not given at all leaves the file's list in place.
impl FromFlag for Vec<String> {
    fn from_flag(matches: &ArgMatches, id: &str) -> Option<Self> {
        let items: Vec<String> = matches.get_many::<String>(id)?.cloned().collect();
        (!items.is_empty()).then_some(items)
    }
}

/// The `clap` argument of a setting that has a flag.
fn argument(setting: &Setting) -> Option<Arg> {
    let flag = setting.flag?;
    let arg = Arg::new(setting.key)
        .long(flag.trim_start_matches("--"))
        .value_name(setting.key.to_uppercase())
        .global(true);
    let arg = match setting.kind {
        Kind::UrlList => arg
            .action(ArgAction::Append)
            .value_parser(value_parser!(String)),
        Kind::Path => arg.value_parser(value_parser!(PathBuf)),
        Kind::Int { .. } => arg.value_parser(value_parser!(i64)),
        Kind::Bool => arg.value_parser(value_parser!(bool)),
        Kind::Number { .. } => arg.value_parser(value_parser!(f64)),
        Kind::Text | Kind::Listen | Kind::Id | Kind::Url => arg.value_parser(value_parser!(String)),
    };
    let arg = match setting.kind {
        Kind::UrlList => arg,
        _ => arg.action(ArgAction::Set).required(false),
    };
    let arg = match setting.env {
        Some(env) => arg.env(env),
        None => arg,
    };
    Some(match setting.flag_help {
        Some(help) => arg.help(help),
        None => arg,
    })
}

impl clap::Args for Overrides {
    fn augment_args(command: Command) -> Command {
        command.args(SETTINGS.iter().filter_map(argument))
    }

    fn augment_args_for_update(command: Command) -> Command {
        Overrides::augment_args(command)
    }
}

impl clap::FromArgMatches for Overrides {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut raw = RawConfig::default();
        raw.set_from_flags(matches);
        Ok(Overrides(raw))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Overrides::from_arg_matches(matches)?;
        Ok(())
    }
}
