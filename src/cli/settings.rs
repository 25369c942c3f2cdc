//! Flags and the config file merged into one validated `Settings` (flag > config file >
//! default, every option a row of `options`), which hands each stage only its own options
//! (`input()`, `client()`, `pacer()`, `pool()`, `sink()`, `store()`), built in `stages`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::args::{PruneArgs, ScreenArgs, StoreArgs};
use super::config::{ConfigValues, DEFAULT_CONFIG_FILE};
use super::error::SettingsError;
use super::lookup::Lookup;
use super::options::*;
use super::parse::{bad, parse_duration};
use super::stages;
use super::target::{RunMode, Target};
use crate::call::{ClientOptions, PacerOptions, PoolOptions};
use crate::input::{InputOptions, LuhnMode};
use crate::logging::LogFormat;
use crate::output::{OutputTarget, SinkOptions};
use crate::report::ProgressMode;
use crate::store::StoreOptions;

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
    /// `--max-invalid`: the share of invalid rows above which a complete run exits 3.
    pub(crate) max_invalid: Option<f64>,
    pub(crate) mode: RunMode,
    pub(crate) dry_run: bool,
    pub(crate) summary: Option<PathBuf>,
    /// `--report`: the HTML page of the night.
    pub(crate) report: Option<PathBuf>,
    /// `--metrics`: the Prometheus text file.
    pub(crate) metrics: Option<PathBuf>,
    /// `metrics_mode`: the metrics file's mode.
    pub(crate) metrics_mode: u32,
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
        let config = load_config(args)?;
        let lookup = Lookup {
            args,
            config: &config,
        };
        let target = Target::resolve(&lookup)?;
        let mode = run_mode(&lookup)?;
        target.check(mode)?;
        let simulate = lookup.switch(&SIMULATE)?;
        if simulate && !cfg!(feature = "simulator") {
            return Err(SettingsError::NoSimulator);
        }
        let input = stages::input_options(&lookup, target.input)?;
        let pool = stages::pool_options(&lookup)?;
        let mut warnings = config.warnings.clone();
        let client = stages::client_options(&lookup, &env, pool.concurrency, &mut warnings)?;
        let metrics = stages::metrics_path(&lookup, &mut warnings)?;
        let store = stages::store_options(&lookup)?;
        let max_age = store.as_ref().map_or(Duration::ZERO, |s| s.max_age);
        let levels = super::levels::level_options(&lookup, max_age, std::time::SystemTime::now())?;
        let store_columns = store.is_some();
        let delimiter = input.delimiter;
        Ok(Settings {
            sink: stages::sink_options(
                &lookup,
                target.format,
                delimiter,
                store_columns,
                &mut warnings,
            )?,
            client,
            pacer: stages::pacer_options(&lookup)?,
            luhn: stages::luhn_mode(&lookup)?,
            max_consecutive_failures: stages::max_consecutive_failures(&lookup)?,
            max_calls: lookup.optional(&MAX_CALLS, |n: &u64| *n > 0, "a whole number >= 1")?,
            max_invalid: stages::max_invalid(&lookup)?,
            mode,
            dry_run: lookup.switch(&DRY_RUN)?,
            summary: lookup.path(&SUMMARY)?,
            report: lookup.path(&REPORT)?,
            metrics,
            metrics_mode: stages::metrics_mode(&lookup)?,
            fail_on_hit: lookup.switch(&FAIL_ON_HIT)?,
            progress: stages::progress_mode(&lookup)?,
            progress_interval: lookup.duration(&PROGRESS_INTERVAL, true)?,
            log_format: stages::log_format(&lookup)?,
            simulate,
            price_per_call: lookup.optional(
                &PRICE_PER_CALL,
                |p: &f64| p.is_finite() && *p >= 0.0,
                "a number >= 0",
            )?,
            changes: lookup.path(&CHANGES)?,
            store,
            levels,
            warnings,
            input,
            output: target.output,
            pool,
        })
    }
}

/// Each stage's options, as the stage is built from them.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "the run still reads the fields themselves")
)]
impl Settings {
    /// How to read the input.
    pub(crate) fn input(&self) -> &InputOptions {
        &self.input
    }

    /// Where the output goes.
    pub(crate) fn output(&self) -> &OutputTarget {
        &self.output
    }

    /// How the output is written.
    pub(crate) fn sink(&self) -> &SinkOptions {
        &self.sink
    }

    /// The HTTP client: endpoint, key, timeout, trusted certificates.
    pub(crate) fn client(&self) -> &ClientOptions {
        &self.client
    }

    /// The pacer: rate and burst.
    pub(crate) fn pacer(&self) -> PacerOptions {
        self.pacer
    }

    /// The worker pool: concurrency and retries.
    pub(crate) fn pool(&self) -> PoolOptions {
        self.pool
    }

    /// The result store, when there is one.
    pub(crate) fn store(&self) -> Option<&StoreOptions> {
        self.store.as_ref()
    }
}

/// `--config`, else `cardscreen.toml` in the working directory when there is one.
fn load_config(args: &ScreenArgs) -> Result<ConfigValues, SettingsError> {
    load_config_at(args.value(&CONFIG).map(Path::new))
}

/// The config file named, else `cardscreen.toml` in the working directory when there is one.
fn load_config_at(given: Option<&Path>) -> Result<ConfigValues, SettingsError> {
    match given {
        Some(path) => ConfigValues::load(path),
        None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
            ConfigValues::load(Path::new(DEFAULT_CONFIG_FILE))
        }
        None => Ok(ConfigValues::default()),
    }
}

fn run_mode(lookup: &Lookup<'_>) -> Result<RunMode, SettingsError> {
    let given = [
        (RESUME, RunMode::Resume),
        (FRESH, RunMode::Fresh),
        (RETRY_ERRORS, RunMode::RetryErrors),
    ];
    for (option, mode) in given {
        if lookup.switch(&option)? {
            return Ok(mode);
        }
    }
    Ok(RunMode::New)
}

impl StoreArgs {
    /// The store these flags name, else the config file's `store` (flag > config file, as for
    /// `screen`); its key beside it unless `--store-key-file` or `store_key_file` says otherwise.
    pub fn options(&self) -> Result<StoreOptions, SettingsError> {
        let config = load_config_at(self.config.as_deref())?;
        let from_config = |option: &OptionDef| -> Result<Option<PathBuf>, SettingsError> {
            Ok(config.text(option)?.map(PathBuf::from))
        };
        let path = match &self.store {
            Some(path) => path.clone(),
            None => from_config(&STORE)?.ok_or(SettingsError::NoStore)?,
        };
        let key_file = match &self.store_key_file {
            Some(path) => Some(path.clone()),
            None => from_config(&STORE_KEY_FILE)?,
        };
        Ok(StoreOptions::new(path, key_file, Duration::ZERO))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{ColumnSpec, InputSource};
    use crate::vendor::DEFAULT_ENDPOINT;

    fn with_key(name: &str) -> Option<String> {
        (name == "JUHE_KEY").then(|| "k".to_string())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = Settings::resolve(&ScreenArgs::new("cards.csv"), with_key).unwrap();
        assert_eq!(
            s.output(),
            &OutputTarget::Path(PathBuf::from("cards.screened.csv"))
        );
        assert_eq!(s.pool().concurrency, 16);
        assert_eq!(s.pacer().rate, Some(10.0));
        assert_eq!(s.pacer().burst, 1);
        assert_eq!(s.client().timeout, Duration::from_secs(10));
        assert_eq!(s.pool().retry.max_attempts, 5);
        assert_eq!(s.pool().retry.backoff.base, Duration::from_millis(500));
        assert_eq!(s.pool().retry.backoff.max, Duration::from_secs(30));
        assert_eq!(s.max_consecutive_failures, Some(50));
        assert_eq!(s.max_calls, None);
        assert_eq!(s.luhn, LuhnMode::Warn);
        assert_eq!(s.client().endpoint, DEFAULT_ENDPOINT);
        assert_eq!(s.input().delimiter, b',');
        assert_eq!(s.input().source, InputSource::Path("cards.csv".into()));
        assert_eq!(s.progress_interval, Duration::from_secs(10));
        assert_eq!(s.metrics_mode, 0o644);
        assert_eq!(s.progress, ProgressMode::Auto);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.sink().prefix, "");
        assert!(!s.sink().mask && !s.sink().excel && !s.fail_on_hit && !s.dry_run);
        assert_eq!(s.mode, RunMode::New);
        assert!(s.store().is_none());
    }

    #[test]
    fn the_example_config_changes_nothing() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
        let mut a = ScreenArgs::new("cards.csv");
        a.set(&CONFIG, example);
        let from_example = Settings::resolve(&a, with_key).unwrap();
        let from_defaults = Settings::resolve(&ScreenArgs::new("cards.csv"), with_key).unwrap();
        assert_eq!(format!("{from_example:?}"), format!("{from_defaults:?}"));
    }

    #[test]
    fn simulate_needs_a_build_with_the_simulator() {
        let mut a = ScreenArgs::new("cards.csv");
        a.on(&SIMULATE);
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
            "rate = 2.5\nconcurrency = 4\ntimeout = \"3s\"\nmask = true\nexcel = false\n",
        )
        .unwrap();
        let mut a = ScreenArgs::new("cards.csv");
        a.set(&CONFIG, &path);
        a.set(&CONCURRENCY, "8");
        a.on(&EXCEL);
        let s = Settings::resolve(&a, with_key).unwrap();
        assert_eq!(s.pacer().rate, Some(2.5));
        assert_eq!(s.pool().concurrency, 8);
        assert_eq!(s.client().timeout, Duration::from_secs(3));
        assert!(s.sink().mask);
        assert!(s.sink().excel);
    }

    #[test]
    fn unknown_config_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "rat = 2\n").unwrap();
        let mut a = ScreenArgs::new("cards.csv");
        a.set(&CONFIG, &path);
        let err = Settings::resolve(&a, with_key).unwrap_err().to_string();
        assert!(err.contains("`rat`") && err.contains("rate"), "{err}");
    }

    #[test]
    fn bad_values_say_what_is_allowed() {
        let cases = [
            (LUHN, "maybe", "warn or reject"),
            (TIMEOUT, "soon", "10s"),
            (TIMEOUT, "0s", "above zero"),
            (CONCURRENCY, "0", "from 1 to 4096"),
            (CONCURRENCY, "many", "from 1 to 4096"),
            (RATE, "-1", "a number >= 0"),
            (MAX_CALLS, "0", "a whole number >= 1"),
            (BACKOFF_MAX, "100ms", "shorter than backoff_base"),
        ];
        for (option, value, expected) in cases {
            let mut a = ScreenArgs::new("cards.csv");
            a.set(&option, value);
            let err = Settings::resolve(&a, with_key).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn every_word_the_table_offers_for_completion_is_taken_and_no_other() {
        let words = OPTIONS.iter().filter(|option| !option.values.is_empty());
        assert!(words.clone().count() >= 6);
        for option in words {
            for word in option.values {
                let mut a = ScreenArgs::new("cards.csv");
                a.set(option, *word);
                let resolved = Settings::resolve(&a, with_key);
                assert!(resolved.is_ok(), "{} {word}: {resolved:?}", option.name());
            }
            let mut a = ScreenArgs::new("cards.csv");
            a.set(option, "not-a-word");
            let err = Settings::resolve(&a, with_key).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{} = ", option.name())), "{err}");
        }
    }

    #[test]
    fn a_bad_value_in_the_config_file_is_named_by_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for (line, expected) in [
            ("max_attempts = 0", "max_attempts = \"0\" is not valid"),
            ("mask = \"yes\"", "true or false"),
            ("rate = true", "not a boolean"),
            ("progress_interval = \"0s\"", "progress_interval"),
            (
                "metrics_mode = \"0666\"",
                "metrics_mode = \"0666\" is not valid",
            ),
            ("metrics_mode = \"rw-r--r--\"", "an octal file mode"),
            ("metrics_mode = \"0649\"", "metrics_mode"),
            ("metrics_mode = \"\"", "metrics_mode"),
            ("metrics_mode = \"1644\"", "no write for group or others"),
        ] {
            std::fs::write(&path, format!("{line}\n")).unwrap();
            let mut a = ScreenArgs::new("cards.csv");
            a.set(&CONFIG, &path);
            let err = Settings::resolve(&a, with_key).unwrap_err().to_string();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn store_flags_need_a_store_and_the_key_sits_beside_it() {
        for (option, value) in [
            (MAX_AGE, "1d"),
            (CHANGES, "changes.csv"),
            (STORE_KEY_FILE, "k"),
        ] {
            let mut a = ScreenArgs::new("cards.csv");
            a.set(&option, value);
            let err = Settings::resolve(&a, with_key).unwrap_err().to_string();
            assert!(err.contains("needs a result store"), "{err}");
        }
        let mut a = ScreenArgs::new("cards.csv");
        a.set(&STORE, "nightly/store.db");
        a.set(&MAX_AGE, "1d");
        let s = Settings::resolve(&a, with_key).unwrap();
        let store = s.store().unwrap();
        assert_eq!(store.key_file, PathBuf::from("nightly/store.db.key"));
        assert_eq!(store.max_age, Duration::from_secs(86_400));
        assert!(s.sink().store_columns);
    }

    #[test]
    fn rate_zero_is_unlimited_and_tab_delimiter_is_accepted() {
        let mut a = ScreenArgs::new("cards.csv");
        a.set(&RATE, "0");
        a.set(&DELIMITER, "\\t");
        a.set(&COLUMN, "2");
        let s = Settings::resolve(&a, with_key).unwrap();
        assert_eq!(s.pacer().rate, None);
        assert_eq!(s.input().delimiter, b'\t');
        assert_eq!(s.sink().delimiter, b'\t');
        assert_eq!(s.input().column, Some(ColumnSpec::Index(2)));
    }

    #[test]
    fn the_run_mode_follows_its_switch() {
        for (option, mode) in [
            (RESUME, RunMode::Resume),
            (FRESH, RunMode::Fresh),
            (RETRY_ERRORS, RunMode::RetryErrors),
        ] {
            let mut a = ScreenArgs::new("cards.csv");
            a.on(&option);
            assert_eq!(Settings::resolve(&a, with_key).unwrap().mode, mode);
        }
    }
}
