//! The command line as clap parses it: raw flags, every `screen` option optional so that the
//! config file can fill it in. Only `cli` reads these types; the stages never do.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::{
    value_parser, Arg, ArgAction, ArgMatches, Args, Parser, Subcommand, ValueEnum, ValueHint,
};

use super::options::{Kind, OptionDef, OPTIONS};

/// `cardscreen` and its subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "cardscreen",
    version,
    about = "Screen files of bank card numbers against the Juhe bank-card blacklist API"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Screen a CSV or workbook of card numbers and write it back with the blacklist flags added.
    #[command(args_override_self = true)]
    Screen(Box<ScreenArgs>),
    /// Print the stored results of card numbers read from standard input (one a line), newest
    /// first.
    History(StoreArgs),
    /// Look after a result store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run an HTTP server that behaves like the vendor API, for demos, tests and load tests.
    #[cfg(feature = "simulator")]
    Simulate(crate::simulator::SimulatorConfig),
    /// Print a completion script for a shell to standard output.
    Completions {
        /// The shell to complete for.
        shell: Shell,
    },
    /// Print the manual page (roff) to standard output.
    Man,
}

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// PowerShell.
    Powershell,
}

/// Raw `screen` flags as given, by long name: every option is optional here so that the
/// config file can fill it in. The flags themselves come from the table in `options`.
#[derive(Debug, Default, Clone)]
pub struct ScreenArgs {
    /// The input file, or `-` for standard input.
    pub input: OsString,
    values: BTreeMap<&'static str, OsString>,
    switches: BTreeSet<&'static str>,
}

const INPUT: &str = "input";

impl ScreenArgs {
    /// The arguments of a `screen` on `input` with no flag given.
    pub fn new(input: impl Into<OsString>) -> ScreenArgs {
        ScreenArgs {
            input: input.into(),
            ..ScreenArgs::default()
        }
    }

    /// The value given for this flag.
    pub(super) fn value(&self, option: &OptionDef) -> Option<&OsStr> {
        let flag = option.flag?;
        self.values.get(flag).map(OsString::as_os_str)
    }

    /// Whether this switch was given.
    pub(super) fn switch(&self, option: &OptionDef) -> bool {
        option.flag.is_some_and(|flag| self.switches.contains(flag))
    }

    /// Gives a flag a value, as the command line would.
    #[cfg(test)]
    pub(super) fn set(&mut self, option: &OptionDef, value: impl Into<OsString>) {
        if let Some(flag) = option.flag {
            self.values.insert(flag, value.into());
        }
    }

    /// Turns a switch on, as the command line would.
    #[cfg(test)]
    pub(super) fn on(&mut self, option: &OptionDef) {
        if let Some(flag) = option.flag {
            self.switches.insert(flag);
        }
    }
}

/// The words a text option takes, offered to completion scripts. Any text passes here: the
/// settings check it, with the same message for the flag and the config key.
#[derive(Debug, Clone, Copy)]
struct Words(&'static [&'static str]);

impl TypedValueParser for Words {
    type Value = String;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(command, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            self.0.iter().map(|word| PossibleValue::new(*word)),
        ))
    }
}

/// The clap argument for one row of the table.
fn argument(option: &OptionDef, flag: &'static str) -> Arg {
    let arg = Arg::new(flag)
        .long(flag)
        .help(option.help_line())
        .conflicts_with_all(option.conflicts);
    let arg = match option.short {
        Some(short) => arg.short(short),
        None => arg,
    };
    match option.kind {
        Kind::Switch => arg.action(ArgAction::SetTrue),
        // The help line already names the words.
        Kind::Text(name) if !option.values.is_empty() => arg
            .action(ArgAction::Set)
            .value_name(name)
            .value_parser(Words(option.values))
            .hide_possible_values(true),
        Kind::Text(name) => arg
            .action(ArgAction::Set)
            .value_name(name)
            .value_hint(ValueHint::Other)
            .value_parser(value_parser!(String)),
        Kind::Path(name) => arg
            .action(ArgAction::Set)
            .value_name(name)
            .value_hint(ValueHint::FilePath)
            .value_parser(value_parser!(PathBuf)),
    }
}

impl clap::Args for ScreenArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        let input = Arg::new(INPUT)
            .value_name("INPUT")
            .required(true)
            .action(ArgAction::Set)
            .value_parser(value_parser!(OsString))
            .value_hint(ValueHint::FilePath)
            .help("CSV file or workbook (.xlsx .xlsm .xlsb .xls .ods) to screen, or - for standard input");
        let flags = OPTIONS
            .iter()
            .filter_map(|option| Some(argument(option, option.flag?)));
        // Each help line under its flag, as long lines and long value names read best.
        command.next_line_help(true).arg(input).args(flags)
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl clap::FromArgMatches for ScreenArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let Some(input) = matches.get_one::<OsString>(INPUT) else {
            return Err(clap::Error::new(
                clap::error::ErrorKind::MissingRequiredArgument,
            ));
        };
        let mut args = ScreenArgs::new(input.clone());
        for option in OPTIONS {
            let Some(flag) = option.flag else { continue };
            match option.kind {
                Kind::Switch if matches.get_flag(flag) => {
                    args.switches.insert(flag);
                }
                Kind::Switch => {}
                Kind::Text(_) => {
                    if let Some(text) = matches.get_one::<String>(flag) {
                        args.values.insert(flag, text.into());
                    }
                }
                Kind::Path(_) => {
                    if let Some(path) = matches.get_one::<PathBuf>(flag) {
                        args.values.insert(flag, path.into());
                    }
                }
            }
        }
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// Which store `history` and `store` look into: the flags, else the config file's `store` and
/// `store_key_file`, as for `screen`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The store's SQLite file [default: `store` in the config file].
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub store: Option<PathBuf>,
    /// The store's key file [default: `store_key_file` in the config file, else <store>.key].
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub store_key_file: Option<PathBuf>,
    /// TOML config file [default: cardscreen.toml in the working directory if present].
    #[arg(short = 'c', long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// `store stats` and `store prune`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Print the store's cards, history rows, oldest and newest result, and file size.
    Stats(StoreArgs),
    /// Delete the cards not seen in a screened file for a while, with their history.
    Prune(PruneArgs),
    /// Print the last runs: when, rows, calls paid, reused, refreshed early, stale, errors, exit.
    Runs(RunsArgs),
    /// Write the trend of the store's last 30 runs as a self-contained HTML page.
    Report(StoreReportArgs),
}

/// `store report`.
#[derive(Debug, Args)]
pub struct StoreReportArgs {
    /// Which store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The HTML file to write.
    #[arg(short = 'o', long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub output: PathBuf,
}

/// `store runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Which store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// How many of the latest runs.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub limit: u32,
    /// A JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `store prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Which store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Delete cards not seen in a file for this long, e.g. 90d.
    #[arg(long, value_name = "DUR", value_hint = ValueHint::Other)]
    pub older_than: String,
    /// Then rewrite the file (SQLite VACUUM) to give the freed space back; a screen run with
    /// this store waits for it, see the README.
    #[arg(long)]
    pub vacuum: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::options::{FRESH, OUTPUT, RETRY_ERRORS};

    fn screen_args(argv: &[String]) -> ScreenArgs {
        let words = ["cardscreen", "screen"].map(String::from);
        match Cli::try_parse_from(words.iter().chain(argv)) {
            Ok(Cli {
                command: Command::Screen(args),
            }) => *args,
            other => panic!("{argv:?}: {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_of_the_table_reads_back_as_given() {
        let apart = [FRESH.flag, RETRY_ERRORS.flag];
        let flags = || {
            OPTIONS
                .iter()
                .filter(|option| option.flag.is_some() && !apart.contains(&option.flag))
        };
        let mut argv = vec!["cards.csv".to_string()];
        for option in flags() {
            argv.push(format!("--{}", option.flag.unwrap_or_default()));
            if option.kind != Kind::Switch {
                argv.push(format!("given-{}", option.name()));
            }
        }
        let args = screen_args(&argv);
        assert_eq!(args.input, "cards.csv");
        for option in flags() {
            match option.kind {
                Kind::Switch => assert!(args.switch(option), "{}", option.name()),
                Kind::Text(_) | Kind::Path(_) => {
                    let given = format!("given-{}", option.name());
                    assert_eq!(
                        args.value(option),
                        Some(given.as_ref()),
                        "{}",
                        option.name()
                    );
                }
            }
        }
        let retry = screen_args(&["-".into(), "--retry-errors".into(), "-o".into(), "x".into()]);
        assert!(retry.switch(&RETRY_ERRORS) && !retry.switch(&FRESH));
        assert_eq!(retry.value(&OUTPUT), Some("x".as_ref()));
    }
}
