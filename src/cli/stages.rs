//! Each stage's options built from the table's rows: what a value may be, and the checks that
//! need two options at once (a store's flags without a store, a backoff that shrinks).

use std::path::PathBuf;

use secrecy::SecretString;

use super::error::SettingsError;
use super::key::find_key;
use super::lookup::Lookup;
use super::options::*;
use super::parse::{bad, check_endpoint, parse_column, parse_delimiter, parse_encoding};
use crate::call::{Backoff, ClientOptions, PacerOptions, PoolOptions, RetryPolicy, Trust};
use crate::input::{InputOptions, InputSource, LuhnMode};
use crate::logging::LogFormat;
use crate::output::{OutputFormat, SinkOptions};
use crate::report::ProgressMode;
use crate::store::StoreOptions;

pub(super) fn input_options(
    lookup: &Lookup<'_>,
    source: InputSource,
) -> Result<InputOptions, SettingsError> {
    let text = |option| lookup.text(option).map(Option::unwrap_or_default);
    Ok(InputOptions {
        source,
        column: lookup
            .text(&COLUMN)?
            .map(|text| parse_column(&text))
            .transpose()?,
        no_header: lookup.switch(&NO_HEADER)?,
        delimiter: parse_delimiter(&text(&DELIMITER)?)?,
        encoding: parse_encoding(&text(&ENCODING)?)?,
        sheet: match lookup.text(&SHEET)? {
            Some(text) if text.trim().is_empty() => {
                return Err(bad("sheet", text, "a sheet name or a 1-based sheet number"))
            }
            other => other,
        },
    })
}

/// What the sink writes besides the input's cells; `--excel` is said to mean nothing for a
/// workbook.
pub(super) fn sink_options(
    lookup: &Lookup<'_>,
    format: OutputFormat,
    delimiter: u8,
    store_columns: bool,
    warnings: &mut Vec<String>,
) -> Result<SinkOptions, SettingsError> {
    let excel = lookup.switch(&EXCEL)?;
    if excel && format == OutputFormat::Xlsx {
        warnings.push("--excel puts a BOM before CSV output so that Excel shows Chinese text; the output is a workbook, which needs none.".into());
    }
    Ok(SinkOptions {
        format,
        delimiter,
        prefix: lookup.text(&PREFIX)?.unwrap_or_default(),
        excel,
        mask: lookup.switch(&MASK)?,
        store_columns,
        // The input's, once it is open.
        line_end: crate::header::LineEnd::Lf,
    })
}

/// The endpoint and the key. Only a dry run or the simulator (which brings its own key) may
/// go without one; they do not look for it.
pub(super) fn client_options(
    lookup: &Lookup<'_>,
    env: &impl Fn(&str) -> Option<String>,
    pool_size: usize,
    warnings: &mut Vec<String>,
) -> Result<ClientOptions, SettingsError> {
    let endpoint = lookup.text(&ENDPOINT)?.unwrap_or_default();
    check_endpoint(&endpoint)?;
    let needs_no_key = lookup.switch(&SIMULATE)? || lookup.switch(&DRY_RUN)?;
    let key = if needs_no_key {
        SecretString::from(String::new())
    } else {
        find_key(lookup, env, warnings)?
    };
    let ca_cert = lookup.path(&CA_CERT)?;
    // Certificates matter to an https endpoint only: a broken SSL_CERT_FILE in the
    // environment does not stop a run against the simulator on loopback.
    let https = reqwest::Url::parse(&endpoint).is_ok_and(|url| url.scheme() == "https");
    let trust = if needs_no_key || !https {
        Trust::default()
    } else {
        Trust::load(ca_cert.as_deref(), env)
            .map_err(|e| SettingsError::Certificates(e.to_string()))?
    };
    Ok(ClientOptions {
        endpoint,
        key,
        timeout: lookup.duration(&TIMEOUT, true)?,
        pool_size,
        trust,
    })
}

pub(super) fn pacer_options(lookup: &Lookup<'_>) -> Result<PacerOptions, SettingsError> {
    let rate = lookup.number(
        &RATE,
        |r: &f64| r.is_finite() && *r >= 0.0,
        "calls per second, a number >= 0 (0 = unlimited)",
    )?;
    Ok(PacerOptions {
        rate: (rate > 0.0).then_some(rate),
        burst: lookup.number(&BURST, |n: &u32| *n >= 1, "a whole number >= 1")?,
    })
}

pub(super) fn pool_options(lookup: &Lookup<'_>) -> Result<PoolOptions, SettingsError> {
    let backoff = Backoff {
        base: lookup.duration(&BACKOFF_BASE, false)?,
        max: lookup.duration(&BACKOFF_MAX, false)?,
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
            &CONCURRENCY,
            |n: &usize| (1..=4096).contains(n),
            "a whole number from 1 to 4096",
        )?,
        retry: RetryPolicy {
            max_attempts: lookup.number(
                &MAX_ATTEMPTS,
                |n: &u32| (1..=100).contains(n),
                "a whole number from 1 to 100",
            )?,
            backoff,
        },
    })
}

/// `--store` with its key file and `--max-age`; the other two, and `--changes`, need a store.
pub(super) fn store_options(lookup: &Lookup<'_>) -> Result<Option<StoreOptions>, SettingsError> {
    let path = lookup.path(&STORE)?;
    let key_file = lookup.path(&STORE_KEY_FILE)?;
    let max_age = lookup.duration(&MAX_AGE, false)?;
    let Some(path) = path else {
        let without = [
            (lookup.path(&CHANGES)?.is_some(), "--changes"),
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

/// `--metrics`, with a warning for a name node_exporter's textfile collector would pass over.
pub(super) fn metrics_path(
    lookup: &Lookup<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<PathBuf>, SettingsError> {
    let metrics = lookup.path(&METRICS)?;
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

/// `metrics_mode`: the metrics file's mode, in octal, without write for group or others.
pub(super) fn metrics_mode(lookup: &Lookup<'_>) -> Result<u32, SettingsError> {
    const EXPECTED: &str =
        "an octal file mode such as \"0644\" or \"0640\", with no write for group or others";
    let text = lookup.text(&METRICS_MODE)?.unwrap_or_default();
    let digits = text.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if !digits.is_empty() && mode <= 0o777 && mode & 0o022 == 0 => Ok(mode),
        _ => Err(bad(METRICS_MODE.name(), text, EXPECTED)),
    }
}

pub(super) fn luhn_mode(lookup: &Lookup<'_>) -> Result<LuhnMode, SettingsError> {
    lookup.word(
        &LUHN,
        &[("warn", LuhnMode::Warn), ("reject", LuhnMode::Reject)],
        "warn or reject",
    )
}

pub(super) fn progress_mode(lookup: &Lookup<'_>) -> Result<ProgressMode, SettingsError> {
    lookup.word(
        &PROGRESS,
        &[
            ("auto", ProgressMode::Auto),
            ("always", ProgressMode::Always),
            ("never", ProgressMode::Never),
        ],
        "auto, always or never",
    )
}

pub(super) fn log_format(lookup: &Lookup<'_>) -> Result<LogFormat, SettingsError> {
    lookup.word(
        &LOG_FORMAT,
        &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        "text or json",
    )
}

/// `--max-invalid`: a share of the rows from 0 to 1, or a percentage from 0% to 100%.
pub(super) fn max_invalid(lookup: &Lookup<'_>) -> Result<Option<f64>, SettingsError> {
    const EXPECTED: &str =
        "a share of the rows from 0 to 1 such as 0.5, or a percentage such as 50% (--max-invalid)";
    let Some(text) = lookup.text(&MAX_INVALID)? else {
        return Ok(None);
    };
    let trimmed = text.trim();
    let share = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    };
    match share {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(Some(share)),
        _ => Err(bad(MAX_INVALID.name(), text, EXPECTED)),
    }
}

/// `--max-consecutive-failures`: `None` (0) never aborts.
pub(super) fn max_consecutive_failures(lookup: &Lookup<'_>) -> Result<Option<u64>, SettingsError> {
    let failures = lookup.number(
        &MAX_CONSECUTIVE_FAILURES,
        |_: &u64| true,
        "a whole number >= 0 (0 = never abort)",
    )?;
    Ok((failures > 0).then_some(failures))
}
