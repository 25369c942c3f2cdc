//! The command line as clap parses it: raw flags, every `screen` option optional so that the
//! config file can fill it in. Only `cli::settings` reads these types; the stages never do.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

/// Raw `screen` flags; every option is optional here so that the config file can fill it in.
#[derive(Debug, Args, Default)]
pub struct ScreenArgs {
    /// CSV file or workbook (.xlsx .xlsm .xlsb .xls .ods) to screen, or - for standard input.
    pub input: OsString,
    /// Output file, a workbook when it ends in .xlsx (default: <input stem>.screened.csv, or
    /// .screened.xlsx for a workbook input, beside the input; - for standard output).
    #[arg(short, long)]
    pub output: Option<OsString>,
    /// csv or xlsx [default: from the output name, else xlsx for a workbook input, else csv].
    #[arg(long)]
    pub output_format: Option<String>,
    /// The sheet of a workbook to screen, by name or 1-based number [default: the first visible].
    #[arg(long)]
    pub sheet: Option<String>,
    /// TOML config file (default: cardscreen.toml in the working directory if present).
    #[arg(short = 'c', long)]
    pub config: Option<PathBuf>,
    /// Card column by header name or 1-based index (default: detected from the header).
    #[arg(long)]
    pub column: Option<String>,
    /// The first row is data; columns are named column_1..column_N in the output.
    #[arg(long)]
    pub no_header: bool,
    /// Field delimiter, one byte; \t for tab [default: ,].
    #[arg(long)]
    pub delimiter: Option<String>,
    /// auto, utf-8, gbk or gb18030 [default: auto].
    #[arg(long)]
    pub encoding: Option<String>,
    /// Start the output with a UTF-8 BOM so that Excel shows Chinese text correctly.
    #[arg(long)]
    pub excel: bool,
    /// API endpoint URL.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// PEM file of CA certificates to trust beside the system's (a TLS-inspecting proxy's CA).
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// File that holds the API key (its content, trimmed); wins over every other key source.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Environment variable that holds the API key [default: JUHE_KEY].
    #[arg(long)]
    pub key_env: Option<String>,
    /// Requests in flight at most [default: 16].
    #[arg(long)]
    pub concurrency: Option<String>,
    /// Calls per second, fractions allowed; 0 = unlimited [default: 10].
    #[arg(long)]
    pub rate: Option<String>,
    /// Calls allowed at once above the rate [default: 1].
    #[arg(long)]
    pub burst: Option<String>,
    /// Timeout of one HTTP call [default: 10s].
    #[arg(long)]
    pub timeout: Option<String>,
    /// Calls per card at most, the first included [default: 5].
    #[arg(long)]
    pub max_attempts: Option<String>,
    /// First backoff step [default: 500ms].
    #[arg(long)]
    pub backoff_base: Option<String>,
    /// Longest backoff [default: 30s].
    #[arg(long)]
    pub backoff_max: Option<String>,
    /// Abort when this many rows in a row end in error; 0 = never [default: 50].
    #[arg(long)]
    pub max_consecutive_failures: Option<String>,
    /// warn or reject cards that fail the Luhn check [default: warn].
    #[arg(long)]
    pub luhn: Option<String>,
    /// API call budget for this run; reaching it stops the run (exit 5).
    #[arg(long)]
    pub max_calls: Option<String>,
    /// Write the card column masked (622848******1234).
    #[arg(long)]
    pub mask: bool,
    /// Prefix for every added column name.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Continue the unfinished run for this output.
    #[arg(long, conflicts_with = "fresh")]
    pub resume: bool,
    /// Discard an unfinished run for this output and start over.
    #[arg(long)]
    pub fresh: bool,
    /// Call again only for the rows of a completed run whose status is error.
    #[arg(long, conflicts_with_all = ["resume", "fresh", "dry_run"])]
    pub retry_errors: bool,
    /// Read and validate the file and estimate the run; no API call.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the run summary as JSON to this file.
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Keep the run's numbers in this file in Prometheus text format (node_exporter's
    /// textfile collector), rewritten every progress_interval and at the end.
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,
    /// Exit 1 when any row is a hit.
    #[arg(long)]
    pub fail_on_hit: bool,
    /// auto, always or never [default: auto].
    #[arg(long)]
    pub progress: Option<String>,
    /// text or json [default: text].
    #[arg(long)]
    pub log_format: Option<String>,
    /// Screen against the built-in simulator on a loopback port (no key needed).
    #[arg(long)]
    pub simulate: bool,
    /// SQLite file of earlier results, created if missing: reuse within --max-age, and the
    /// screened_at and change columns.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// The store's key file [default: <store>.key].
    #[arg(long)]
    pub store_key_file: Option<PathBuf>,
    /// Answer cards whose stored result is younger than this from the store; 0 = always call
    /// [default: 0].
    #[arg(long)]
    pub max_age: Option<String>,
    /// Write the rows whose change is new_hit, cleared or changed to this CSV.
    #[arg(long)]
    pub changes: Option<PathBuf>,
    /// `level` refreshes some results before they are due, so every night costs about the
    /// same; `due` refreshes a result only once it is older than --max-age [default: level].
    #[arg(long, value_name = "level|due")]
    pub refresh: Option<String>,
    /// Stop calling at this time: `06:00` (next time the local clock shows it), an RFC 3339
    /// time, or a duration from the start (`3h`, `90m`).
    #[arg(long, value_name = "TIME")]
    pub deadline: Option<String>,
    /// The oldest stored result that may answer a row when --deadline or --max-calls leaves
    /// no room to refresh it [default: --max-age].
    #[arg(long, value_name = "DUR")]
    pub max_stale: Option<String>,
}

/// Which store `history` and `store` look into.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The store's SQLite file.
    #[arg(long)]
    pub store: PathBuf,
    /// The store's key file [default: <store>.key].
    #[arg(long)]
    pub store_key_file: Option<PathBuf>,
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
}

/// `store runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Which store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// How many of the latest runs.
    #[arg(long, default_value_t = 30)]
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
    #[arg(long)]
    pub older_than: String,
}
