//! Command-line flags and the TOML config file, merged into one validated `Settings`
//! (flag > config file > default). The pipeline sees only `Settings`, never clap types.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

pub use crate::vendor::DEFAULT_ENDPOINT;
pub const DEFAULT_CONFIG_FILE: &str = "cardscreen.toml";

#[derive(Debug, Parser)]
#[command(
    name = "cardscreen",
    version,
    about = "Screen files of bank card numbers against the Juhe bank-card blacklist API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Screen a CSV of card numbers and write it back with the blacklist flags added.
    #[command(args_override_self = true)]
    Screen(Box<ScreenArgs>),
    /// Run an HTTP server that behaves like the vendor API, for demos, tests and load tests.
    #[cfg(feature = "simulator")]
    Simulate(crate::simulator::SimulatorConfig),
}

/// Raw `screen` flags; every option is optional here so that the config file can fill it in.
#[derive(Debug, Args, Default)]
pub struct ScreenArgs {
    /// CSV file to screen, or - for standard input.
    pub input: OsString,
    /// Output CSV (default: <input stem>.screened.csv beside the input; - for standard output).
    #[arg(short, long)]
    pub output: Option<OsString>,
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
}

/// A problem with the command line or the config file: always exit 2, before any call.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{key} = {value:?} is not valid; expected {expected}")]
    BadValue {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("unknown key `{key}` in {file}; known keys are: {known}")]
    UnknownKey {
        key: String,
        file: String,
        known: String,
    },
    #[error("cannot read config file {path}: {source}")]
    ConfigUnreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    ConfigSyntax { path: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("no API key: set the environment variable {0} (or `key` in the config file), or try --simulate")]
    MissingKey(String),
    #[error("this build has no simulator; --simulate needs cardscreen built with its default feature `simulator`")]
    NoSimulator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    Path(PathBuf),
    Stdin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    Path(PathBuf),
    Stdout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSpec {
    Name(String),
    /// 1-based, as the user wrote it.
    Index(usize),
}

impl fmt::Display for ColumnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnSpec::Name(name) => write!(f, "{name}"),
            ColumnSpec::Index(index) => write!(f, "{index}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingChoice {
    Auto,
    Utf8,
    Gbk,
    Gb18030,
}

impl EncodingChoice {
    pub fn name(self) -> &'static str {
        match self {
            EncodingChoice::Auto => "auto",
            EncodingChoice::Utf8 => "utf-8",
            EncodingChoice::Gbk => "gbk",
            EncodingChoice::Gb18030 => "gb18030",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LuhnMode {
    Warn,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What to do with an unfinished run found for the same output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Refuse to start when an unfinished run exists.
    New,
    Resume,
    Fresh,
    RetryErrors,
}

/// Everything a screening run needs, validated.
#[derive(Debug)]
pub struct Settings {
    pub input: InputSource,
    pub output: OutputTarget,
    pub column: Option<ColumnSpec>,
    pub no_header: bool,
    pub delimiter: u8,
    pub encoding: EncodingChoice,
    pub excel: bool,
    pub endpoint: String,
    pub key_env: String,
    pub key: Option<SecretString>,
    pub concurrency: usize,
    /// Calls per second; `None` = unlimited.
    pub rate: Option<f64>,
    pub burst: u32,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// `None` = never abort for consecutive failures.
    pub max_consecutive_failures: Option<u64>,
    pub luhn: LuhnMode,
    pub max_calls: Option<u64>,
    pub mask: bool,
    pub prefix: String,
    pub mode: RunMode,
    pub dry_run: bool,
    pub summary: Option<PathBuf>,
    pub fail_on_hit: bool,
    pub progress: ProgressMode,
    pub progress_interval: Duration,
    pub log_format: LogFormat,
    pub simulate: bool,
    pub price_per_call: Option<f64>,
    /// Things to warn about once logging is set up.
    pub warnings: Vec<String>,
}

const CONFIG_KEYS: &[&str] = &[
    "column",
    "no_header",
    "delimiter",
    "encoding",
    "excel",
    "endpoint",
    "key_env",
    "key",
    "concurrency",
    "rate",
    "burst",
    "timeout",
    "max_attempts",
    "backoff_base",
    "backoff_max",
    "max_consecutive_failures",
    "luhn",
    "max_calls",
    "mask",
    "prefix",
    "summary",
    "fail_on_hit",
    "progress",
    "progress_interval",
    "log_format",
    "price_per_call",
];

/// The config file's values, each kept as the text a flag would carry so that flags and
/// config keys go through the same parser and the same error messages.
#[derive(Debug, Default)]
struct ConfigValues {
    values: std::collections::HashMap<&'static str, ConfigValue>,
    /// Said once logging is set up, which needs settings first.
    warnings: Vec<String>,
}

#[derive(Debug)]
enum ConfigValue {
    Text(String),
    Bool(bool),
}

impl ConfigValues {
    fn load(path: &Path) -> Result<ConfigValues, SettingsError> {
        let display = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| SettingsError::ConfigUnreadable {
                path: display.clone(),
                source,
            })?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| SettingsError::ConfigSyntax {
                path: display.clone(),
                message: e.message().to_string(),
            })?;
        let mut values = std::collections::HashMap::new();
        for (key, value) in table {
            let Some(&known) = CONFIG_KEYS.iter().find(|k| **k == key) else {
                return Err(SettingsError::UnknownKey {
                    key,
                    file: display,
                    known: CONFIG_KEYS.join(", "),
                });
            };
            let value = match value {
                toml::Value::String(s) => ConfigValue::Text(s),
                toml::Value::Integer(i) => ConfigValue::Text(i.to_string()),
                toml::Value::Float(f) => ConfigValue::Text(f.to_string()),
                toml::Value::Boolean(b) => ConfigValue::Bool(b),
                other => {
                    return Err(SettingsError::BadValue {
                        key: known,
                        value: other.to_string(),
                        expected: "a string, number or boolean",
                    })
                }
            };
            values.insert(known, value);
        }
        let mut warnings = Vec::new();
        if values.contains_key("key") && readable_by_others(path) {
            warnings.push(format!(
                "The config file {display} holds the API key and is readable by group or others; run chmod 600 on it."
            ));
        }
        Ok(ConfigValues { values, warnings })
    }

    fn text(&self, key: &'static str) -> Result<Option<String>, SettingsError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(ConfigValue::Text(s)) => Ok(Some(s.clone())),
            Some(ConfigValue::Bool(b)) => Err(SettingsError::BadValue {
                key,
                value: b.to_string(),
                expected: "a string or number, not a boolean",
            }),
        }
    }

    fn flag(&self, key: &'static str) -> Result<bool, SettingsError> {
        match self.values.get(key) {
            None => Ok(false),
            Some(ConfigValue::Bool(b)) => Ok(*b),
            Some(ConfigValue::Text(s)) => Err(SettingsError::BadValue {
                key,
                value: s.clone(),
                expected: "true or false",
            }),
        }
    }
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}

impl Settings {
    /// Merges flags, the config file and defaults. `env` looks up environment variables so
    /// that tests need not touch the process environment.
    pub fn resolve(
        args: &ScreenArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let config = match &args.config {
            Some(path) => ConfigValues::load(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                ConfigValues::load(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => ConfigValues::default(),
        };
        // A flag wins over the config file; both go through the same parser.
        let pick =
            |flag: &Option<String>, key: &'static str| -> Result<Option<String>, SettingsError> {
                match flag {
                    Some(v) => Ok(Some(v.clone())),
                    None => config.text(key),
                }
            };
        let switch = |flag: bool, key: &'static str| -> Result<bool, SettingsError> {
            Ok(flag || config.flag(key)?)
        };

        let input = if args.input == "-" {
            InputSource::Stdin
        } else {
            InputSource::Path(PathBuf::from(&args.input))
        };
        let output = match (&args.output, &input) {
            (Some(o), _) if o == "-" => OutputTarget::Stdout,
            (Some(o), _) => OutputTarget::Path(PathBuf::from(o)),
            (None, InputSource::Stdin) => OutputTarget::Stdout,
            (None, InputSource::Path(p)) => OutputTarget::Path(default_output(p)),
        };

        let column = pick(&args.column, "column")?
            .map(|text| parse_column(&text))
            .transpose()?;
        let delimiter = match pick(&args.delimiter, "delimiter")? {
            Some(text) => parse_delimiter(&text)?,
            None => b',',
        };
        let encoding = match pick(&args.encoding, "encoding")? {
            Some(text) => parse_encoding(&text)?,
            None => EncodingChoice::Auto,
        };
        let endpoint =
            pick(&args.endpoint, "endpoint")?.unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        check_endpoint(&endpoint)?;
        let key_env = pick(&args.key_env, "key_env")?.unwrap_or_else(|| "JUHE_KEY".to_string());
        let concurrency = parse_number::<usize>(
            pick(&args.concurrency, "concurrency")?,
            "concurrency",
            16,
            "a whole number from 1 to 4096",
        )?;
        if !(1..=4096).contains(&concurrency) {
            return Err(bad(
                "concurrency",
                concurrency,
                "a whole number from 1 to 4096",
            ));
        }
        let rate_value = parse_number::<f64>(
            pick(&args.rate, "rate")?,
            "rate",
            10.0,
            "calls per second, a number >= 0 (0 = unlimited)",
        )?;
        if !rate_value.is_finite() || rate_value < 0.0 {
            return Err(bad(
                "rate",
                rate_value,
                "calls per second, a number >= 0 (0 = unlimited)",
            ));
        }
        let burst = parse_number::<u32>(
            pick(&args.burst, "burst")?,
            "burst",
            1,
            "a whole number >= 1",
        )?;
        if burst == 0 {
            return Err(bad("burst", burst, "a whole number >= 1"));
        }
        let timeout = parse_duration_setting(
            pick(&args.timeout, "timeout")?,
            "timeout",
            Duration::from_secs(10),
        )?;
        if timeout.is_zero() {
            return Err(bad(
                "timeout",
                "0s",
                "a duration above zero such as \"10s\"",
            ));
        }
        let max_attempts = parse_number::<u32>(
            pick(&args.max_attempts, "max_attempts")?,
            "max_attempts",
            5,
            "a whole number from 1 to 100",
        )?;
        if !(1..=100).contains(&max_attempts) {
            return Err(bad(
                "max_attempts",
                max_attempts,
                "a whole number from 1 to 100",
            ));
        }
        let backoff_base = parse_duration_setting(
            pick(&args.backoff_base, "backoff_base")?,
            "backoff_base",
            Duration::from_millis(500),
        )?;
        let backoff_max = parse_duration_setting(
            pick(&args.backoff_max, "backoff_max")?,
            "backoff_max",
            Duration::from_secs(30),
        )?;
        if backoff_max < backoff_base {
            return Err(SettingsError::Conflict(format!(
                "backoff_max ({}) is shorter than backoff_base ({}); raise --backoff-max",
                humantime::format_duration(backoff_max),
                humantime::format_duration(backoff_base)
            )));
        }
        let max_consecutive_failures = parse_number::<u64>(
            pick(&args.max_consecutive_failures, "max_consecutive_failures")?,
            "max_consecutive_failures",
            50,
            "a whole number >= 0 (0 = never abort)",
        )?;
        let luhn = match pick(&args.luhn, "luhn")?.as_deref() {
            None | Some("warn") => LuhnMode::Warn,
            Some("reject") => LuhnMode::Reject,
            Some(other) => return Err(bad("luhn", other, "warn or reject")),
        };
        let max_calls = pick(&args.max_calls, "max_calls")?
            .map(|text| {
                text.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("max_calls", &text, "a whole number >= 1"))
            })
            .transpose()?;
        let progress = match pick(&args.progress, "progress")?.as_deref() {
            None | Some("auto") => ProgressMode::Auto,
            Some("always") => ProgressMode::Always,
            Some("never") => ProgressMode::Never,
            Some(other) => return Err(bad("progress", other, "auto, always or never")),
        };
        let progress_interval = parse_duration_setting(
            config.text("progress_interval")?,
            "progress_interval",
            Duration::from_secs(10),
        )?;
        if progress_interval.is_zero() {
            return Err(bad(
                "progress_interval",
                "0s",
                "a duration above zero such as \"10s\"",
            ));
        }
        let log_format = match pick(&args.log_format, "log_format")?.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(bad("log_format", other, "text or json")),
        };
        let price_per_call = config
            .text("price_per_call")?
            .map(|text| {
                text.parse::<f64>()
                    .ok()
                    .filter(|p| p.is_finite() && *p >= 0.0)
                    .ok_or_else(|| bad("price_per_call", &text, "a number >= 0"))
            })
            .transpose()?;
        let mode = match (args.resume, args.fresh, args.retry_errors) {
            (true, _, _) => RunMode::Resume,
            (_, true, _) => RunMode::Fresh,
            (_, _, true) => RunMode::RetryErrors,
            _ => RunMode::New,
        };
        let summary = args
            .summary
            .clone()
            .or(config.text("summary")?.map(PathBuf::from));

        if matches!(output, OutputTarget::Stdout)
            && matches!(mode, RunMode::Resume | RunMode::RetryErrors)
        {
            return Err(SettingsError::Conflict(
                "--resume and --retry-errors need an output file; standard output cannot be continued (pass -o FILE)".into(),
            ));
        }
        if matches!(input, InputSource::Stdin)
            && matches!(mode, RunMode::Resume | RunMode::RetryErrors)
        {
            return Err(SettingsError::Conflict(
                "--resume and --retry-errors need an input file; standard input cannot be read again".into(),
            ));
        }
        if let (InputSource::Path(i), OutputTarget::Path(o)) = (&input, &output) {
            if same_file(i, o) {
                return Err(SettingsError::Conflict(format!(
                    "the output {} is the input itself; choose another -o",
                    o.display()
                )));
            }
        }

        let simulate = args.simulate;
        if simulate && !cfg!(feature = "simulator") {
            return Err(SettingsError::NoSimulator);
        }
        let key = match config.text("key")? {
            Some(k) => Some(SecretString::from(k)),
            None => env(&key_env).map(SecretString::from),
        };
        let key = match env(&key_env) {
            Some(k) if !k.is_empty() => Some(SecretString::from(k)),
            _ => key,
        };
        if key.is_none() && !simulate && !args.dry_run {
            return Err(SettingsError::MissingKey(key_env));
        }

        Ok(Settings {
            input,
            output,
            column,
            no_header: switch(args.no_header, "no_header")?,
            delimiter,
            encoding,
            excel: switch(args.excel, "excel")?,
            endpoint,
            key_env,
            key,
            concurrency,
            rate: (rate_value > 0.0).then_some(rate_value),
            burst,
            timeout,
            max_attempts,
            backoff_base,
            backoff_max,
            max_consecutive_failures: (max_consecutive_failures > 0)
                .then_some(max_consecutive_failures),
            luhn,
            max_calls,
            mask: switch(args.mask, "mask")?,
            prefix: pick(&args.prefix, "prefix")?.unwrap_or_default(),
            mode,
            dry_run: args.dry_run,
            summary,
            fail_on_hit: switch(args.fail_on_hit, "fail_on_hit")?,
            progress,
            progress_interval,
            log_format,
            simulate,
            price_per_call,
            warnings: config.warnings,
        })
    }

    /// Name of the config file in use, for messages.
    pub fn describe_input(&self) -> String {
        match &self.input {
            InputSource::Path(p) => p.display().to_string(),
            InputSource::Stdin => "standard input".to_string(),
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `<input stem>.screened.csv` beside the input.
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    input.with_file_name(format!("{stem}.screened.csv"))
}

fn bad(key: &'static str, value: impl fmt::Display, expected: &'static str) -> SettingsError {
    SettingsError::BadValue {
        key,
        value: value.to_string(),
        expected,
    }
}

fn parse_number<T: std::str::FromStr>(
    text: Option<String>,
    key: &'static str,
    default: T,
    expected: &'static str,
) -> Result<T, SettingsError> {
    match text {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<T>()
            .map_err(|_| bad(key, text, expected)),
    }
}

fn parse_duration_setting(
    text: Option<String>,
    key: &'static str,
    default: Duration,
) -> Result<Duration, SettingsError> {
    match text {
        None => Ok(default),
        Some(text) => parse_duration(&text)
            .map_err(|_| bad(key, text, "a duration such as \"500ms\", \"10s\" or \"2m\"")),
    }
}

/// Parses `500ms`, `10s`, `2m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text.trim())
}

fn parse_column(text: &str) -> Result<ColumnSpec, SettingsError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad(
            "column",
            text,
            "a header name or a 1-based column number",
        ));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        match trimmed.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(ColumnSpec::Index(n)),
            _ => Err(bad(
                "column",
                text,
                "a header name or a 1-based column number (the first column is 1)",
            )),
        }
    } else {
        Ok(ColumnSpec::Name(trimmed.to_string()))
    }
}

fn parse_delimiter(text: &str) -> Result<u8, SettingsError> {
    match text {
        "\\t" | "\t" | "tab" => Ok(b'\t'),
        _ if text.len() == 1
            && text.as_bytes()[0] != b'"'
            && text.as_bytes()[0] != b'\n'
            && text.as_bytes()[0] != b'\r' =>
        {
            Ok(text.as_bytes()[0])
        }
        _ => Err(bad(
            "delimiter",
            text,
            "one ASCII character such as , ; | or \\t (not a quote or newline)",
        )),
    }
}

fn parse_encoding(text: &str) -> Result<EncodingChoice, SettingsError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(EncodingChoice::Auto),
        "utf-8" | "utf8" => Ok(EncodingChoice::Utf8),
        "gbk" | "cp936" => Ok(EncodingChoice::Gbk),
        "gb18030" => Ok(EncodingChoice::Gb18030),
        _ => Err(bad("encoding", text, "auto, utf-8, gbk or gb18030")),
    }
}

fn check_endpoint(endpoint: &str) -> Result<(), SettingsError> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|_| bad("endpoint", endpoint, "an http:// or https:// URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad("endpoint", endpoint, "an http:// or https:// URL"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(bad(
            "endpoint",
            "(not shown)",
            "a URL without credentials or query string; the key comes from the environment",
        ));
    }
    Ok(())
}

/// True for `http://` endpoints that leave this machine: card numbers would travel in clear.
pub fn is_cleartext_remote(endpoint: &str) -> bool {
    reqwest::Url::parse(endpoint).is_ok_and(|url| url.scheme() == "http" && !is_loopback(&url))
}

/// True when the URL's host is this machine.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(input: &str) -> ScreenArgs {
        ScreenArgs {
            input: input.into(),
            ..ScreenArgs::default()
        }
    }

    fn with_key(name: &str) -> Option<String> {
        (name == "JUHE_KEY").then(|| "k".to_string())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let s = Settings::resolve(&args("cards.csv"), with_key).unwrap();
        assert_eq!(
            s.output,
            OutputTarget::Path(PathBuf::from("cards.screened.csv"))
        );
        assert_eq!(s.concurrency, 16);
        assert_eq!(s.rate, Some(10.0));
        assert_eq!(s.burst, 1);
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.max_attempts, 5);
        assert_eq!(s.backoff_base, Duration::from_millis(500));
        assert_eq!(s.backoff_max, Duration::from_secs(30));
        assert_eq!(s.max_consecutive_failures, Some(50));
        assert_eq!(s.luhn, LuhnMode::Warn);
        assert_eq!(s.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(s.delimiter, b',');
    }

    #[test]
    fn stdin_writes_to_stdout_by_default() {
        let s = Settings::resolve(&args("-"), with_key).unwrap();
        assert_eq!(s.input, InputSource::Stdin);
        assert_eq!(s.output, OutputTarget::Stdout);
    }

    #[test]
    fn missing_key_names_the_variable() {
        let err = Settings::resolve(&args("cards.csv"), |_| None).unwrap_err();
        assert!(err.to_string().contains("JUHE_KEY"), "{err}");
        let mut a = args("cards.csv");
        a.key_env = Some("RISK_KEY".into());
        let err = Settings::resolve(&a, |_| None).unwrap_err();
        assert!(err.to_string().contains("RISK_KEY"), "{err}");
    }

    #[test]
    fn simulate_needs_a_build_with_the_simulator() {
        let mut a = args("cards.csv");
        a.simulate = true;
        let resolved = Settings::resolve(&a, |_| None);
        if cfg!(feature = "simulator") {
            assert!(resolved.is_ok_and(|s| s.simulate));
        } else {
            assert!(matches!(resolved, Err(SettingsError::NoSimulator)));
        }
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "rate = 2.5\nconcurrency = 4\ntimeout = \"3s\"\nmask = true\n",
        )
        .unwrap();
        let mut a = args("cards.csv");
        a.config = Some(path);
        a.concurrency = Some("8".into());
        let s = Settings::resolve(&a, with_key).unwrap();
        assert_eq!(s.rate, Some(2.5));
        assert_eq!(s.concurrency, 8);
        assert_eq!(s.timeout, Duration::from_secs(3));
        assert!(s.mask);
    }

    #[test]
    fn unknown_config_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "rat = 2\n").unwrap();
        let mut a = args("cards.csv");
        a.config = Some(path);
        let err = Settings::resolve(&a, with_key).unwrap_err().to_string();
        assert!(err.contains("`rat`") && err.contains("rate"), "{err}");
    }

    #[test]
    fn bad_values_say_what_is_allowed() {
        let mut a = args("cards.csv");
        a.luhn = Some("maybe".into());
        let err = Settings::resolve(&a, with_key).unwrap_err().to_string();
        assert!(
            err.contains("luhn") && err.contains("warn or reject"),
            "{err}"
        );
        let mut a = args("cards.csv");
        a.timeout = Some("soon".into());
        let err = Settings::resolve(&a, with_key).unwrap_err().to_string();
        assert!(err.contains("timeout") && err.contains("10s"), "{err}");
    }

    #[test]
    fn rate_zero_is_unlimited_and_tab_delimiter_is_accepted() {
        let mut a = args("cards.csv");
        a.rate = Some("0".into());
        a.delimiter = Some("\\t".into());
        a.column = Some("2".into());
        let s = Settings::resolve(&a, with_key).unwrap();
        assert_eq!(s.rate, None);
        assert_eq!(s.delimiter, b'\t');
        assert_eq!(s.column, Some(ColumnSpec::Index(2)));
    }

    #[test]
    fn cleartext_remote_endpoints_are_recognised() {
        assert!(is_cleartext_remote(
            "http://apis.juhe.cn/bankcardblack/query"
        ));
        assert!(!is_cleartext_remote(
            "http://127.0.0.1:8787/bankcardblack/query"
        ));
        assert!(!is_cleartext_remote("http://localhost:1/x"));
        assert!(!is_cleartext_remote(DEFAULT_ENDPOINT));
    }
}
