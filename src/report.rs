//! What people and schedulers see: the progress bar or periodic progress lines while the run
//! goes, and the summary at the end (on stderr, and as JSON with `--summary`).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::control::{Control, Counters};
use crate::outcome::{Outcome, Status, FLAG_NAMES};
use crate::settings::ProgressMode;

/// Counts over the rows written, in output order.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub rows: u64,
    pub ok: u64,
    pub hits: u64,
    pub hits_by_flag: [u64; 6],
    pub invalid: u64,
    pub invalid_by_reason: BTreeMap<&'static str, u64>,
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub duplicates: u64,
}

impl Tally {
    pub fn count(&mut self, outcome: &Outcome, duplicate: bool) {
        self.rows += 1;
        if duplicate {
            self.duplicates += 1;
        }
        match outcome.status {
            Status::Ok => {
                self.ok += 1;
                if outcome.flags.is_hit() {
                    self.hits += 1;
                    for (index, count) in self.hits_by_flag.iter_mut().enumerate() {
                        *count += u64::from(outcome.flags.get(index));
                    }
                }
            }
            Status::Invalid => {
                self.invalid += 1;
                let reason = if outcome.reason.is_empty() {
                    "other"
                } else {
                    outcome.reason
                };
                *self.invalid_by_reason.entry(reason).or_default() += 1;
            }
            Status::Error => {
                self.errors += 1;
                let code = outcome
                    .error_code
                    .map_or_else(|| "transport".to_string(), |c| c.to_string());
                *self.errors_by_code.entry(code).or_default() += 1;
            }
        }
    }
}

/// What the reader counted on its way through the input.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReaderCounts {
    /// Rows sent although their card fails the Luhn check.
    pub luhn_warnings: u64,
    /// Blank lines passed over (in files of more than one column).
    pub blank_lines: u64,
}

/// The run summary; field names are stable and documented in the README.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub rows: u64,
    pub ok: u64,
    pub hits: u64,
    pub hits_by_flag: BTreeMap<&'static str, u64>,
    pub invalid: u64,
    pub invalid_by_reason: BTreeMap<&'static str, u64>,
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub duplicates: u64,
    pub luhn_warnings: u64,
    pub blank_lines_skipped: u64,
    pub calls: u64,
    pub retries: u64,
    pub throttled: u64,
    pub elapsed_seconds: f64,
    pub calls_per_second: f64,
    pub exit_code: i32,
    pub complete: bool,
    pub stopped_because: Option<String>,
    pub input: String,
    pub output: String,
    pub started_at: String,
    pub finished_at: String,
}

impl Summary {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tally: &Tally,
        control: &Control,
        reader: ReaderCounts,
        started: (Instant, std::time::SystemTime),
        exit_code: i32,
        complete: bool,
        input: String,
        output: String,
    ) -> Summary {
        let elapsed = started.0.elapsed().as_secs_f64();
        let calls = Counters::get(&control.counters.calls);
        Summary {
            rows: tally.rows,
            ok: tally.ok,
            hits: tally.hits,
            hits_by_flag: FLAG_NAMES.iter().copied().zip(tally.hits_by_flag).collect(),
            invalid: tally.invalid,
            invalid_by_reason: tally.invalid_by_reason.clone(),
            errors: tally.errors,
            errors_by_code: tally.errors_by_code.clone(),
            duplicates: tally.duplicates,
            luhn_warnings: reader.luhn_warnings,
            blank_lines_skipped: reader.blank_lines,
            calls,
            retries: Counters::get(&control.counters.retries),
            throttled: Counters::get(&control.counters.throttled),
            elapsed_seconds: (elapsed * 1000.0).round() / 1000.0,
            calls_per_second: if elapsed > 0.0 {
                ((calls as f64 / elapsed) * 10.0).round() / 10.0
            } else {
                0.0
            },
            exit_code,
            complete,
            stopped_because: control.stop_advice(),
            input,
            output,
            started_at: humantime::format_rfc3339_seconds(started.1).to_string(),
            finished_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string(),
        }
    }

    /// The human summary for stderr.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let state = if self.complete {
            "Screened"
        } else {
            "Stopped after"
        };
        out.push_str(&format!(
            "{state} {} rows in {}: {} ok, {} hits, {} invalid, {} errors, {} duplicates\n",
            self.rows,
            humantime::format_duration(Duration::from_millis(
                (self.elapsed_seconds * 1000.0) as u64
            )),
            self.ok,
            self.hits,
            self.invalid,
            self.errors,
            self.duplicates,
        ));
        if self.hits > 0 {
            let flags: Vec<String> = self
                .hits_by_flag
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(name, n)| format!("{name} {n}"))
                .collect();
            out.push_str(&format!("  hits by flag: {}\n", flags.join(", ")));
        }
        if !self.invalid_by_reason.is_empty() {
            let reasons: Vec<String> = self
                .invalid_by_reason
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            out.push_str(&format!("  invalid: {}\n", reasons.join(", ")));
        }
        if self.luhn_warnings > 0 {
            out.push_str(&format!(
                "  Luhn check failed (sent anyway): {}\n",
                self.luhn_warnings
            ));
        }
        if self.blank_lines_skipped > 0 {
            out.push_str(&format!(
                "  blank lines skipped (no row): {}\n",
                self.blank_lines_skipped
            ));
        }
        if !self.errors_by_code.is_empty() {
            let codes: Vec<String> = self
                .errors_by_code
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            out.push_str(&format!("  errors by code: {}\n", codes.join(", ")));
        }
        out.push_str(&format!(
            "  API calls {}, retries {}, throttled {}, {:.1} calls/s\n",
            self.calls, self.retries, self.throttled, self.calls_per_second
        ));
        if self.complete {
            out.push_str(&format!("  output: {}\n", self.output));
        } else if let Some(why) = &self.stopped_because {
            out.push_str(&format!("  not finished: {why}\n"));
        }
        out
    }
}

/// Shows progress while the run goes: a bar on a terminal, else a log line every `interval`.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn start(
        control: Arc<Control>,
        total_bytes: Option<u64>,
        mode: ProgressMode,
        interval: Duration,
    ) -> Progress {
        let show_bar = match mode {
            ProgressMode::Always => true,
            ProgressMode::Never => false,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        let started = Instant::now();
        if show_bar {
            let bar = indicatif::ProgressBar::with_draw_target(
                total_bytes,
                indicatif::ProgressDrawTarget::stderr_with_hz(4),
            );
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            let shown = bar.clone();
            let task = tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(250));
                loop {
                    ticker.tick().await;
                    let c = &control.counters;
                    let rows = Counters::get(&c.rows_done);
                    // Bytes read until the reader has counted the rows, then rows written.
                    match Counters::get(&c.rows_total) {
                        0 => shown
                            .set_position(c.bytes_read.load(std::sync::atomic::Ordering::Relaxed)),
                        total => {
                            shown.set_length(total);
                            shown.set_position(rows);
                        }
                    }
                    let rate = rows as f64 / started.elapsed().as_secs_f64().max(0.001);
                    shown.set_message(format!(
                        "{rows} rows ({rate:.0}/s), {} hits, {} errors, {} retries",
                        Counters::get(&c.hits),
                        Counters::get(&c.errors),
                        Counters::get(&c.retries),
                    ));
                }
            });
            Progress {
                task,
                bar: Some(bar),
            }
        } else {
            let task = tokio::spawn(async move {
                let mut ticker =
                    tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
                loop {
                    ticker.tick().await;
                    log_progress(&control, total_bytes, started);
                }
            });
            Progress { task, bar: None }
        }
    }

    pub fn finish(self) {
        self.task.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn log_progress(control: &Control, total_bytes: Option<u64>, started: Instant) {
    let c = &control.counters;
    let elapsed = started.elapsed().as_secs_f64().max(0.001);
    let rows_done = Counters::get(&c.rows_done);
    let calls = Counters::get(&c.calls);
    let calls_per_second = format!("{:.1}", calls as f64 / elapsed);
    let rows_total = Counters::get(&c.rows_total);
    let bytes = c.bytes_read.load(std::sync::atomic::Ordering::Relaxed);
    // Rows once the reader has counted them all; until then the share of bytes read.
    let fraction = match (rows_total, total_bytes) {
        (total, _) if total > 0 => Some(rows_done as f64 / total as f64),
        (_, Some(total)) if total > 0 && bytes > 0 => Some(bytes as f64 / total as f64),
        _ => None,
    };
    let (percent, eta) = match fraction.map(|f| f.min(1.0)) {
        Some(fraction) if fraction > 0.0 => {
            let remaining = elapsed * (1.0 - fraction) / fraction;
            (
                format!("{:.1}%", fraction * 100.0),
                humantime::format_duration(Duration::from_secs(remaining.round() as u64))
                    .to_string(),
            )
        }
        _ => ("unknown".to_string(), "unknown".to_string()),
    };
    let rows_total = if rows_total > 0 {
        rows_total.to_string()
    } else {
        "unknown".to_string()
    };
    tracing::info!(
        rows_done,
        rows_total = %rows_total,
        done = %percent,
        hits = Counters::get(&c.hits),
        errors = Counters::get(&c.errors),
        retries = Counters::get(&c.retries),
        calls,
        calls_per_second = %calls_per_second,
        eta = %eta,
        "Progress."
    );
}
