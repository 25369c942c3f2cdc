//! Progress while the run goes: a bar on a terminal, or a log line every `progress_interval`
//! for cron and log files; the same tick rewrites the `--metrics` file.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::Metrics;
use crate::control::{Control, Counters};

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProgressMode {
    /// A bar when stderr is a terminal, log lines otherwise.
    Auto,
    Always,
    Never,
}

/// Shows progress while the run goes: a bar on a terminal, else a log line every `interval`;
/// and with `--metrics`, the metrics file rewritten every `interval` either way.
pub(crate) struct Progress {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(crate) fn start(
        control: Arc<Control>,
        total_bytes: Option<u64>,
        mode: ProgressMode,
        interval: Duration,
        metrics: Option<Arc<Metrics>>,
    ) -> Progress {
        let show_bar = match mode {
            ProgressMode::Always => true,
            ProgressMode::Never => false,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        let started = Instant::now();
        let mut progress = Progress {
            tasks: Vec::new(),
            bar: None,
        };
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
            progress.tasks.push(tokio::spawn(draw_bar(
                Arc::clone(&control),
                bar.clone(),
                started,
            )));
            progress.bar = Some(bar);
        }
        if !show_bar || metrics.is_some() {
            let lines = !show_bar;
            progress.tasks.push(tokio::spawn(tick(
                control,
                total_bytes,
                started,
                interval,
                lines,
                metrics,
            )));
        }
        progress
    }

    pub(crate) fn finish(self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Every `interval`: a progress log line (when `lines`), and the metrics file rewritten.
async fn tick(
    control: Arc<Control>,
    total_bytes: Option<u64>,
    started: Instant,
    interval: Duration,
    lines: bool,
    metrics: Option<Arc<Metrics>>,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut failed_before = false;
    loop {
        ticker.tick().await;
        if lines {
            log_progress(&control, total_bytes, started);
        }
        let Some(metrics) = &metrics else { continue };
        let (metrics, control) = (Arc::clone(metrics), Arc::clone(&control));
        // The write ends in fsync; it must not hold up a runtime worker.
        let written = tokio::task::spawn_blocking(move || metrics.write_running(&control)).await;
        if let Ok(Err(error)) = written {
            // Once is enough to tell; the end of the run writes again.
            if !failed_before {
                tracing::warn!(%error, "Could not write the metrics file.");
            }
            failed_before = true;
        }
    }
}

/// Redraws the bar four times a second.
async fn draw_bar(control: Arc<Control>, shown: indicatif::ProgressBar, started: Instant) {
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    loop {
        ticker.tick().await;
        let c = &control.counters;
        let rows = Counters::get(&c.rows_done);
        // Bytes read until the reader has counted the rows, then rows written.
        match Counters::get(&c.rows_total) {
            0 => shown.set_position(c.bytes_read.load(std::sync::atomic::Ordering::Relaxed)),
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
