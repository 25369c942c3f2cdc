//! Flags and the config file merged into one validated `Settings` (flag > config file >
//! default), which hands each stage only its own options (`input`, `client`, `pacer`, `pool`,
//! `sink`). Values are read through `lookup`, parsed by `parse`; the key is found by `key`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use super::args::{PruneArgs, ScreenArgs, StoreArgs};
use super::config::{ConfigValues, DEFAULT_CONFIG_FILE};
use super::error::SettingsError;
use super::key::find_key;
use super::lookup::Lookup;
use super::parse::{
    bad, check_endpoint, parse_column, parse_delimiter, parse_duration, parse_encoding,
};
use crate::call::{Backoff, ClientOptions, PacerOptions, PoolOptions, RetryPolicy, Trust};
use crate::input::format::{self, Format};
use crate::input::{EncodingChoice, InputOptions, InputSource, LuhnMode};
use crate::logging::LogFormat;
use crate::output::{OutputFormat, OutputTarget, SinkOptions};
use crate::report::ProgressMode;
use crate::store::StoreOptions;
use crate::vendor::DEFAULT_ENDPOINT;

/// What to do with an unfinished run found for the same output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Refuse to start when an unfinished run exists.
    New,
    /// Go on from the unfinished run's journal (or start one when there is none).
    Resume,
    /// Discard an unfinished run and start over.
    Fresh,
    /// Call again only for the `error` rows of a completed run.
    RetryErrors,
}

/// Everything a screening run needs, validated, grouped by the stage that uses it: each stage
/// is built from its own options and never sees the rest.
#[derive(Debug)]
pub struct Settings {
    pub(crate) input: InputOptions,
    pub(crate) output: OutputTarget,
    pub(crate) sink: SinkOptions,
    pub(crate) client: ClientOptions,
    pub(crate) pacer: PacerOptions,
    pub(crate) pool: PoolOptions,
    pub(crate) luhn: LuhnMode,
    /// `None` = never abort for consecutive failures.
    pub(crate) max_consecutive_failures: Option<u64>,
    pub(crate) max_calls: Option<u64>,
    pub(crate) mode: RunMode,
    pub(crate) dry_run: bool,
    pub(crate) summary: Option<PathBuf>,
    /// `--metrics`: the Prometheus text file.
    pub(crate) metrics: Option<PathBuf>,
    pub(crate) fail_on_hit: bool,
    pub(crate) progress: ProgressMode,
    pub(crate) progress_interval: Duration,
    /// How log lines look; set up before the run starts.
    pub log_format: LogFormat,
    #[cfg_attr(not(feature = "simulator"), allow(dead_code))]
    pub(crate) simulate: bool,
    pub(crate) price_per_call: Option<f64>,
    /// `--store`, its key and `--max-age`; `None` = no store.
    pub(crate) store: Option<StoreOptions>,
    /// `--refresh`, `--deadline`, `--max-stale`.
    #[allow(dead_code)]
    pub(crate) levels: super::levels::LevelOptions,
    /// `--changes`: the rows whose change is news, as a CSV of their own.
    pub(crate) changes: Option<PathBuf>,
    /// Things to warn about once logging is set up.
    pub(crate) warnings: Vec<String>,
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
        let lookup = Lookup { config: &config };
        let (source, output, output_format) = input_and_output(args, &lookup)?;
        let mode = match (args.resume, args.fresh, args.retry_errors) {
            (true, _, _) => RunMode::Resume,
            (_, true, _) => RunMode::Fresh,
            (_, _, true) => RunMode::RetryErrors,
            _ => RunMode::New,
        };
        check_continuable(&source, &output, mode)?;
        if args.simulate && !cfg!(feature = "simulator") {
            return Err(SettingsError::NoSimulator);
        }
        let input = input_options(args, &lookup, source)?;
        let pool = pool_options(args, &lookup)?;
        let mut warnings = config.warnings.clone();
        let client = client_options(args, &lookup, &env, pool.concurrency, &mut warnings)?;
        let metrics = metrics_path(args, &config, &mut warnings)?;
        let store = store_options(args, &lookup)?;
        let max_age = store.as_ref().map_or(Duration::ZERO, |s| s.max_age);
        let levels =
            super::levels::level_options(args, &lookup, max_age, std::time::SystemTime::now())?;
        let max_consecutive_failures = lookup.number(
            &args.max_consecutive_failures,
            "max_consecutive_failures",
            50u64,
            |_| true,
            "a whole number >= 0 (0 = never abort)",
        )?;
        let excel = lookup.switch(args.excel, "excel")?;
        if excel && output_format == OutputFormat::Xlsx {
            warnings.push("--excel puts a BOM before CSV output so that Excel shows Chinese text; the output is a workbook, which needs none.".into());
        }
        Ok(Settings {
            sink: SinkOptions {
                format: output_format,
                delimiter: input.delimiter,
                prefix: lookup.text(&args.prefix, "prefix")?.unwrap_or_default(),
                excel,
                mask: lookup.switch(args.mask, "mask")?,
                store_columns: store.is_some(),
            },
            client,
            pacer: pacer_options(args, &lookup)?,
            luhn: luhn_mode(args, &lookup)?,
            max_consecutive_failures: (max_consecutive_failures > 0)
                .then_some(max_consecutive_failures),
            max_calls: lookup.optional(
                &args.max_calls,
                "max_calls",
                |n: &u64| *n > 0,
                "a whole number >= 1",
            )?,
            mode,
            dry_run: args.dry_run,
            summary: args
                .summary
                .clone()
                .or(config.text("summary")?.map(PathBuf::from)),
            metrics,
            fail_on_hit: lookup.switch(args.fail_on_hit, "fail_on_hit")?,
            progress: progress_mode(args, &lookup)?,
            progress_interval: lookup.duration(
                &None,
                "progress_interval",
                Duration::from_secs(10),
                true,
            )?,
            log_format: log_format(args, &lookup)?,
            simulate: args.simulate,
            price_per_call: lookup.optional(
                &None,
                "price_per_call",
                |p: &f64| p.is_finite() && *p >= 0.0,
                "a number >= 0",
            )?,
            changes: args.changes.clone(),
            store,
            levels,
            warnings,
            input,
            output,
            pool,
        })
    }
}

/// `--store` with its key file and `--max-age`; the other two, and `--changes`, need a store.
fn store_options(
    args: &ScreenArgs,
    lookup: &Lookup<'_>,
) -> Result<Option<StoreOptions>, SettingsError> {
    let path = lookup.text(&None, "store")?.map(PathBuf::from);
    let path = args.store.clone().or(path);
    let key_file = args
        .store_key_file
        .clone()
        .or(lookup.text(&None, "store_key_file")?.map(PathBuf::from));
    let max_age = lookup.duration(&args.max_age, "max_age", Duration::ZERO, false)?;
    let Some(path) = path else {
        let without = [
            (args.changes.is_some(), "--changes"),
            (key_file.is_some(), "--store-key-file"),
            (!max_age.is_zero(), "--max-age"),
        ];
        return match without.iter().find(|(given, _)| *given) {
            Some((_, flag)) => Err(SettingsError::Conflict(format!(
                "{flag} needs a result store; pass --store PATH (or set `store` in the config file)"
            ))),
            None => Ok(None),
        };
    };
    Ok(Some(StoreOptions::new(path, key_file, max_age)))
}

impl StoreArgs {
    /// The store these flags name, its key beside it unless `--store-key-file` says otherwise.
    pub fn options(&self) -> StoreOptions {
        StoreOptions::new(
            self.store.clone(),
            self.store_key_file.clone(),
            Duration::ZERO,
        )
    }
}

impl PruneArgs {
    /// `--older-than`, above zero.
    pub fn older_than(&self) -> Result<Duration, SettingsError> {
        match parse_duration(&self.older_than) {
            Ok(age) if !age.is_zero() => Ok(age),
            _ => Err(bad(
                "older_than",
                &self.older_than,
                "a duration above zero such as \"90d\"",
            )),
        }
    }
}

fn luhn_mode(args: &ScreenArgs, lookup: &Lookup<'_>) -> Result<LuhnMode, SettingsError> {
    lookup.choice(
        &args.luhn,
        "luhn",
        LuhnMode::Warn,
        &[("warn", LuhnMode::Warn), ("reject", LuhnMode::Reject)],
        "warn or reject",
    )
}

fn progress_mode(args: &ScreenArgs, lookup: &Lookup<'_>) -> Result<ProgressMode, SettingsError> {
    lookup.choice(
        &args.progress,
        "progress",
        ProgressMode::Auto,
        &[
            ("auto", ProgressMode::Auto),
            ("always", ProgressMode::Always),
            ("never", ProgressMode::Never),
        ],
        "auto, always or never",
    )
}

fn log_format(args: &ScreenArgs, lookup: &Lookup<'_>) -> Result<LogFormat, SettingsError> {
    lookup.choice(
        &args.log_format,
        "log_format",
        LogFormat::Text,
        &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        "text or json",
    )
}

/// `--metrics`, with a warning for a name node_exporter's textfile collector would pass over.
fn metrics_path(
    args: &ScreenArgs,
    config: &ConfigValues,
    warnings: &mut Vec<String>,
) -> Result<Option<PathBuf>, SettingsError> {
    let metrics = match &args.metrics {
        Some(path) => Some(path.clone()),
        None => config.text("metrics")?.map(PathBuf::from),
    };
    if let Some(path) = metrics
        .as_ref()
        .filter(|p| p.extension() != Some("prom".as_ref()))
    {
        warnings.push(format!(
            "The metrics file {} does not end in .prom; node_exporter's textfile collector reads only *.prom files.",
            path.display()
        ));
    }
    Ok(metrics)
}

fn input_options(
    args: &ScreenArgs,
    lookup: &Lookup<'_>,
    source: InputSource,
) -> Result<InputOptions, SettingsError> {
    Ok(InputOptions {
        source,
        column: lookup
            .text(&args.column, "column")?
            .map(|text| parse_column(&text))
            .transpose()?,
        no_header: lookup.switch(args.no_header, "no_header")?,
        delimiter: match lookup.text(&args.delimiter, "delimiter")? {
            Some(text) => parse_delimiter(&text)?,
            None => b',',
        },
        encoding: match lookup.text(&args.encoding, "encoding")? {
            Some(text) => parse_encoding(&text)?,
            None => EncodingChoice::Auto,
        },
        sheet: match lookup.text(&args.sheet, "sheet")? {
            Some(text) if text.trim().is_empty() => {
                return Err(bad("sheet", text, "a sheet name or a 1-based sheet number"))
            }
            other => other,
        },
    })
}

/// The endpoint and the key. Only a dry run or the simulator (which brings its own key) may
/// go without one; they do not look for it.
fn client_options(
    args: &ScreenArgs,
    lookup: &Lookup<'_>,
    env: &impl Fn(&str) -> Option<String>,
    pool_size: usize,
    warnings: &mut Vec<String>,
) -> Result<ClientOptions, SettingsError> {
    let endpoint = lookup
        .text(&args.endpoint, "endpoint")?
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    check_endpoint(&endpoint)?;
    let key = if args.simulate || args.dry_run {
        SecretString::from(String::new())
    } else {
        find_key(args, lookup, env, warnings)?
    };
    let ca_cert = match &args.ca_cert {
        Some(path) => Some(path.clone()),
        None => lookup.config.text("ca_cert")?.map(PathBuf::from),
    };
    // Certificates matter to an https endpoint only: a broken SSL_CERT_FILE in the
    // environment does not stop a run against the simulator on loopback.
    let https = reqwest::Url::parse(&endpoint).is_ok_and(|url| url.scheme() == "https");
    let trust = if args.dry_run || args.simulate || !https {
        Trust::default()
    } else {
        Trust::load(ca_cert.as_deref(), env)
            .map_err(|e| SettingsError::Certificates(e.to_string()))?
    };
    Ok(ClientOptions {
        endpoint,
        key,
        timeout: lookup.duration(&args.timeout, "timeout", Duration::from_secs(10), true)?,
        pool_size,
        trust,
    })
}

fn pacer_options(args: &ScreenArgs, lookup: &Lookup<'_>) -> Result<PacerOptions, SettingsError> {
    let rate = lookup.number(
        &args.rate,
        "rate",
        10.0,
        |r: &f64| r.is_finite() && *r >= 0.0,
        "calls per second, a number >= 0 (0 = unlimited)",
    )?;
    Ok(PacerOptions {
        rate: (rate > 0.0).then_some(rate),
        burst: lookup.number(
            &args.burst,
            "burst",
            1u32,
            |n| *n >= 1,
            "a whole number >= 1",
        )?,
    })
}

fn pool_options(args: &ScreenArgs, lookup: &Lookup<'_>) -> Result<PoolOptions, SettingsError> {
    let backoff = Backoff {
        base: lookup.duration(
            &args.backoff_base,
            "backoff_base",
            Duration::from_millis(500),
            false,
        )?,
        max: lookup.duration(
            &args.backoff_max,
            "backoff_max",
            Duration::from_secs(30),
            false,
        )?,
    };
    if backoff.max < backoff.base {
        return Err(SettingsError::Conflict(format!(
            "backoff_max ({}) is shorter than backoff_base ({}); raise --backoff-max",
            humantime::format_duration(backoff.max),
            humantime::format_duration(backoff.base)
        )));
    }
    Ok(PoolOptions {
        concurrency: lookup.number(
            &args.concurrency,
            "concurrency",
            16usize,
            |n| (1..=4096).contains(n),
            "a whole number from 1 to 4096",
        )?,
        retry: RetryPolicy {
            max_attempts: lookup.number(
                &args.max_attempts,
                "max_attempts",
                5u32,
                |n| (1..=100).contains(n),
                "a whole number from 1 to 100",
            )?,
            backoff,
        },
    })
}

/// The input, the output and its format. A name ending in `.xlsx` asks for a workbook;
/// without a name, a workbook input gets a workbook back and a CSV a CSV.
fn input_and_output(
    args: &ScreenArgs,
    lookup: &Lookup<'_>,
) -> Result<(InputSource, OutputTarget, OutputFormat), SettingsError> {
    let input = if args.input == "-" {
        InputSource::Stdin
    } else {
        InputSource::Path(PathBuf::from(&args.input))
    };
    let asked = lookup.choice(
        &args.output_format,
        "output_format",
        None,
        &[
            ("csv", Some(OutputFormat::Csv)),
            ("xlsx", Some(OutputFormat::Xlsx)),
        ],
        "csv or xlsx",
    )?;
    let named = args.output.as_ref().filter(|o| *o != "-").map(|o| {
        let extension = Path::new(o).extension().map(|e| e.to_ascii_lowercase());
        match extension.as_ref().and_then(|e| e.to_str()) {
            Some("xlsx") => OutputFormat::Xlsx,
            _ => OutputFormat::Csv,
        }
    });
    let format = match (asked, named, &input) {
        (Some(asked), Some(named), _) if asked != named && names_a_format(args) => {
            return Err(SettingsError::Conflict(format!(
                "--output-format is {} but the output name ends in .{}; make them agree",
                asked.extension(),
                named.extension()
            )))
        }
        (Some(asked), _, _) => asked,
        (None, Some(named), _) => named,
        (None, None, InputSource::Path(path)) if args.output.is_none() => {
            match format::of_path(path) {
                Format::Workbook(_) => OutputFormat::Xlsx,
                Format::Csv => OutputFormat::Csv,
            }
        }
        (None, None, _) => OutputFormat::Csv,
    };
    if format == OutputFormat::Xlsx && input == InputSource::Stdin {
        return Err(SettingsError::Conflict(
            "a workbook output must know before the first call that its rows fit in a sheet, and standard input cannot be read twice to count them; save the input to a file, or write CSV".into(),
        ));
    }
    let output = match (&args.output, &input) {
        (Some(o), _) if o == "-" => OutputTarget::Stdout,
        (Some(o), _) => OutputTarget::Path(PathBuf::from(o)),
        (None, InputSource::Stdin) => OutputTarget::Stdout,
        (None, InputSource::Path(p)) => OutputTarget::Path(default_output(p, format)),
    };
    Ok((input, output, format))
}

/// Whether the output name ends in `.csv` or `.xlsx`, and so says which format it wants.
fn names_a_format(args: &ScreenArgs) -> bool {
    args.output.as_ref().is_some_and(|o| {
        Path::new(o)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("xlsx"))
    })
}

/// Refuses what can never be continued, and an output that would overwrite the input.
fn check_continuable(
    input: &InputSource,
    output: &OutputTarget,
    mode: RunMode,
) -> Result<(), SettingsError> {
    let continues = matches!(mode, RunMode::Resume | RunMode::RetryErrors);
    if continues && matches!(output, OutputTarget::Stdout) {
        return Err(SettingsError::Conflict(
            "--resume and --retry-errors need an output file; standard output cannot be continued (pass -o FILE)".into(),
        ));
    }
    if continues && matches!(input, InputSource::Stdin) {
        return Err(SettingsError::Conflict(
            "--resume and --retry-errors need an input file; standard input cannot be read again"
                .into(),
        ));
    }
    if let (InputSource::Path(i), OutputTarget::Path(o)) = (input, output) {
        if same_file(i, o) {
            return Err(SettingsError::Conflict(format!(
                "the output {} is the input itself; choose another -o",
                o.display()
            )));
        }
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `<input stem>.screened.csv` (or `.xlsx`) beside the input.
fn default_output(input: &Path, format: OutputFormat) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    input.with_file_name(format!("{stem}.screened.{}", format.extension()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::input::ColumnSpec;

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
    fn defaults_follow_the_contract() {
        let s = Settings::resolve(&args("cards.csv"), with_key).unwrap();
        assert_eq!(
            s.output,
            OutputTarget::Path(PathBuf::from("cards.screened.csv"))
        );
        assert_eq!(s.pool.concurrency, 16);
        assert_eq!(s.pacer.rate, Some(10.0));
        assert_eq!(s.pacer.burst, 1);
        assert_eq!(s.client.timeout, Duration::from_secs(10));
        assert_eq!(s.pool.retry.max_attempts, 5);
        assert_eq!(s.pool.retry.backoff.base, Duration::from_millis(500));
        assert_eq!(s.pool.retry.backoff.max, Duration::from_secs(30));
        assert_eq!(s.max_consecutive_failures, Some(50));
        assert_eq!(s.luhn, LuhnMode::Warn);
        assert_eq!(s.client.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(s.input.delimiter, b',');
        assert_eq!(s.progress_interval, Duration::from_secs(10));
    }

    #[test]
    fn the_output_format_follows_the_name_the_flag_or_the_input() {
        let resolved = |input: &str, change: fn(&mut ScreenArgs)| {
            let mut a = args(input);
            change(&mut a);
            Settings::resolve(&a, with_key).map(|s| (s.output, s.sink.format))
        };
        let path = |p: &str| OutputTarget::Path(PathBuf::from(p));
        // A workbook in, a workbook out (judged by the name when the file cannot be read).
        assert_eq!(
            resolved("audit.XLSX", |_| {}).unwrap(),
            (path("audit.screened.xlsx"), OutputFormat::Xlsx)
        );
        assert_eq!(
            resolved("cards.csv", |_| {}).unwrap(),
            (path("cards.screened.csv"), OutputFormat::Csv)
        );
        assert_eq!(
            resolved("audit.xls", |a| a.output_format = Some("csv".into())).unwrap(),
            (path("audit.screened.csv"), OutputFormat::Csv)
        );
        assert_eq!(
            resolved("cards.csv", |a| a.output = Some("out.xlsx".into())).unwrap(),
            (path("out.xlsx"), OutputFormat::Xlsx)
        );
        assert_eq!(
            resolved("audit.xlsx", |a| a.output = Some("results".into())).unwrap(),
            (path("results"), OutputFormat::Csv)
        );
        let conflict = resolved("cards.csv", |a| {
            a.output = Some("out.csv".into());
            a.output_format = Some("xlsx".into());
        });
        assert!(conflict
            .unwrap_err()
            .to_string()
            .contains("make them agree"));
        let piped = resolved("-", |a| a.output = Some("out.xlsx".into()));
        assert!(piped.unwrap_err().to_string().contains("standard input"));
        let unknown = resolved("cards.csv", |a| a.output_format = Some("xls".into()));
        assert!(unknown.unwrap_err().to_string().contains("csv or xlsx"));
    }

    #[test]
    fn stdin_writes_to_stdout_by_default() {
        let s = Settings::resolve(&args("-"), with_key).unwrap();
        assert_eq!(s.input.source, InputSource::Stdin);
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

    /// Every key source at once, each with its own key (or a blank one).
    struct KeySources {
        dir: tempfile::TempDir,
    }

    impl KeySources {
        fn new(blank: Option<&str>) -> KeySources {
            let dir = tempfile::tempdir().unwrap();
            let value = |name: &str, key: &str| {
                if blank == Some(name) {
                    " \n".to_string()
                } else {
                    format!("{key}\n")
                }
            };
            std::fs::write(dir.path().join("key"), value("file", "file-key")).unwrap();
            std::fs::create_dir(dir.path().join("credentials")).unwrap();
            std::fs::write(
                dir.path().join("credentials/JUHE_KEY"),
                value("credential", "credential-key"),
            )
            .unwrap();
            std::fs::write(
                dir.path().join("c.toml"),
                format!("key = {:?}\n", value("config", "config-key")),
            )
            .unwrap();
            KeySources { dir }
        }

        /// The key found when the first `skip` sources are not given.
        fn resolve(&self, skip: usize, blank: Option<&str>) -> Result<String, SettingsError> {
            let mut a = args("cards.csv");
            a.key_env = Some("RISK_KEY".into());
            if skip < 5 {
                a.config = Some(self.dir.path().join("c.toml"));
            }
            if skip < 1 {
                a.key_file = Some(self.dir.path().join("key"));
            }
            let credentials = self.dir.path().join("credentials");
            let env = |name: &str| -> Option<String> {
                let (key, rank, source) = match name {
                    "RISK_KEY" => ("risk-key", 2, "RISK_KEY"),
                    "JUHE_KEY" => ("juhe-key", 3, "JUHE_KEY"),
                    "CREDENTIALS_DIRECTORY" => {
                        return (skip < 4).then(|| credentials.display().to_string())
                    }
                    _ => return None,
                };
                let blank_here = blank == Some(source);
                (skip < rank).then(|| {
                    if blank_here {
                        String::new()
                    } else {
                        key.to_string()
                    }
                })
            };
            Settings::resolve(&a, env).map(|s| s.client.key.expose_secret().to_string())
        }
    }

    #[test]
    fn the_key_comes_from_the_first_source_given() {
        let sources = KeySources::new(None);
        let found: Vec<String> = (0..5)
            .map(|skip| sources.resolve(skip, None).unwrap())
            .collect();
        assert_eq!(
            found,
            [
                "file-key",
                "risk-key",
                "juhe-key",
                "credential-key",
                "config-key"
            ]
        );
        let err = sources.resolve(5, None);
        assert!(
            matches!(err, Err(SettingsError::MissingKey(ref name)) if name == "RISK_KEY"),
            "{err:?}"
        );
    }

    #[test]
    fn a_blank_key_names_its_source_and_never_falls_through() {
        let cases = [
            (0, "file", "--key-file"),
            (1, "RISK_KEY", "RISK_KEY"),
            (2, "JUHE_KEY", "JUHE_KEY"),
            (3, "credential", "systemd credential"),
            (4, "config", "`key` in the config file"),
        ];
        for (skip, blank, named) in cases {
            let sources = KeySources::new(Some(blank));
            let err = sources.resolve(skip, Some(blank)).unwrap_err().to_string();
            assert!(
                err.contains(named) && err.contains("empty"),
                "{blank}: {err}"
            );
        }
    }

    #[test]
    fn a_dry_run_or_the_simulator_looks_for_no_key() {
        let changes: [fn(&mut ScreenArgs); 2] = [|a| a.dry_run = true, |a| a.simulate = true];
        for set in changes {
            let mut a = args("cards.csv");
            a.key_file = Some(PathBuf::from("/nonexistent/key"));
            set(&mut a);
            if a.simulate && !cfg!(feature = "simulator") {
                continue;
            }
            assert!(Settings::resolve(&a, |_| None).is_ok());
        }
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
        assert_eq!(s.pacer.rate, Some(2.5));
        assert_eq!(s.pool.concurrency, 8);
        assert_eq!(s.client.timeout, Duration::from_secs(3));
        assert!(s.sink.mask);
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
        type Change = fn(&mut ScreenArgs);
        let cases: [(Change, &str); 6] = [
            (|a| a.luhn = Some("maybe".into()), "warn or reject"),
            (|a| a.timeout = Some("soon".into()), "10s"),
            (|a| a.timeout = Some("0s".into()), "above zero"),
            (|a| a.concurrency = Some("0".into()), "from 1 to 4096"),
            (|a| a.concurrency = Some("many".into()), "from 1 to 4096"),
            (|a| a.rate = Some("-1".into()), "a number >= 0"),
        ];
        for (set, expected) in cases {
            let mut a = args("cards.csv");
            set(&mut a);
            let err = Settings::resolve(&a, with_key).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn store_flags_need_a_store_and_the_key_sits_beside_it() {
        let s = Settings::resolve(&args("cards.csv"), with_key).unwrap();
        assert!(s.store.is_none() && !s.sink.store_columns);
        for set in [
            |a: &mut ScreenArgs| a.max_age = Some("1d".into()),
            |a: &mut ScreenArgs| a.changes = Some("changes.csv".into()),
            |a: &mut ScreenArgs| a.store_key_file = Some("k".into()),
        ] {
            let mut a = args("cards.csv");
            set(&mut a);
            let err = Settings::resolve(&a, with_key).unwrap_err().to_string();
            assert!(err.contains("needs a result store"), "{err}");
        }
        let mut a = args("cards.csv");
        a.store = Some("nightly/store.db".into());
        a.max_age = Some("1d".into());
        let s = Settings::resolve(&a, with_key).unwrap();
        let store = s.store.unwrap();
        assert_eq!(store.key_file, PathBuf::from("nightly/store.db.key"));
        assert_eq!(store.max_age, Duration::from_secs(86_400));
        assert!(s.sink.store_columns);
    }

    #[test]
    fn rate_zero_is_unlimited_and_tab_delimiter_is_accepted() {
        let mut a = args("cards.csv");
        a.rate = Some("0".into());
        a.delimiter = Some("\\t".into());
        a.column = Some("2".into());
        let s = Settings::resolve(&a, with_key).unwrap();
        assert_eq!(s.pacer.rate, None);
        assert_eq!(s.input.delimiter, b'\t');
        assert_eq!(s.sink.delimiter, b'\t');
        assert_eq!(s.input.column, Some(ColumnSpec::Index(2)));
    }
}
