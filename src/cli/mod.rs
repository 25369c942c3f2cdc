//! The command line in two layers: `args` (clap) and `config` (the TOML file) are raw text;
//! `settings` merges and validates them into `Settings`, the only thing the run sees. Every
//! option is one row of the table in `options`.

mod args;
mod config;
mod error;
mod key;
mod levels;
mod lookup;
mod manual;
mod options;
mod parse;
mod settings;
mod stages;
mod target;

pub use args::{
    Cli, Command, PruneArgs, RunsArgs, ScreenArgs, Shell, StoreArgs, StoreCommand, StoreReportArgs,
};
pub use error::SettingsError;
pub(crate) use levels::Refresh;
pub use manual::{completions, man_page};
pub use settings::Settings;
pub use target::RunMode;
