//! `--metrics PATH`: the run's numbers in the Prometheus text format for node_exporter's
//! textfile collector, rewritten whole (beside the file, then renamed) when the run starts,
//! every `progress_interval` while it goes, and at its end, so a scrape never reads half a file.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use super::summary::Summary;
use crate::control::{Control, Counters};
use crate::util::files;

/// The metrics file of one run.
pub(crate) struct Metrics {
    path: PathBuf,
    /// The value of the `output` label every sample carries: the output as the summary names
    /// it, so that several nightly jobs can share one collector directory.
    output: String,
    started: Instant,
    /// Held while writing, since every write goes through the same temporary file; true once
    /// the final numbers are written, so that a late tick cannot overwrite them.
    finished: Mutex<bool>,
}

/// The values of one writing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) ok: u64,
    pub(crate) invalid: u64,
    pub(crate) errors: u64,
    pub(crate) hits: u64,
    pub(crate) calls: u64,
    pub(crate) retries: u64,
    pub(crate) throttled: u64,
    /// Rows answered from the result store: the store's counter feeds this.
    pub(crate) reused: u64,
    pub(crate) duration_seconds: f64,
    /// -1 while the run goes.
    pub(crate) exit_code: i32,
    pub(crate) complete: bool,
}

impl Sample {
    /// The numbers so far, from the live counters, or at an end that left no summary.
    pub(crate) fn now(control: &Control, started: Instant, exit_code: Option<i32>) -> Sample {
        let c = &control.counters;
        // Read before the rows done, which the collector counts first: so ok never goes
        // below zero, even for an instant.
        let (invalid, errors) = (Counters::get(&c.invalid), Counters::get(&c.errors));
        let done = Counters::get(&c.rows_done);
        Sample {
            ok: done.saturating_sub(invalid + errors),
            invalid,
            errors,
            hits: Counters::get(&c.hits),
            calls: Counters::get(&c.calls),
            retries: Counters::get(&c.retries),
            throttled: Counters::get(&c.throttled),
            reused: Counters::get(&c.reused),
            duration_seconds: started.elapsed().as_secs_f64(),
            exit_code: exit_code.unwrap_or(-1),
            complete: false,
        }
    }

    /// The final numbers: the summary's own, so that the two agree to the last digit.
    pub(crate) fn of_summary(summary: &Summary, control: &Control) -> Sample {
        Sample {
            ok: summary.ok,
            invalid: summary.invalid,
            errors: summary.errors,
            hits: summary.hits,
            calls: summary.calls,
            retries: summary.retries,
            throttled: summary.throttled,
            reused: summary
                .store
                .map_or_else(|| Counters::get(&control.counters.reused), |s| s.reused),
            duration_seconds: summary.elapsed_seconds,
            exit_code: summary.exit_code,
            complete: summary.complete,
        }
    }
}

impl Metrics {
    pub(crate) fn new(path: PathBuf, output: String, started: Instant) -> Metrics {
        Metrics {
            path,
            output,
            started,
            finished: Mutex::new(false),
        }
    }

    /// The numbers so far, unless the final ones are written already.
    pub(crate) fn write_running(&self, control: &Control) -> io::Result<()> {
        let finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        if *finished {
            return Ok(());
        }
        self.write(&Sample::now(control, self.started, None))
    }

    /// The numbers of the ended run; nothing is written after them.
    pub(crate) fn write_final(&self, sample: &Sample) -> io::Result<()> {
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        *finished = true;
        self.write(sample)
    }

    fn write(&self, sample: &Sample) -> io::Result<()> {
        let text = render(sample, &self.output, SystemTime::now());
        // node_exporter runs as another user; the file holds counts and a path, nothing secret.
        files::write_atomically(&self.path, |file| file.write_all(text.as_bytes()))
    }
}

/// How a metric is declared: its name, type and help line.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const fn family(name: &'static str, kind: &'static str, help: &'static str) -> Family {
    Family { name, kind, help }
}

/// The text exposition format: each family with `# HELP` and `# TYPE`, then its samples, each
/// labelled with the output.
pub(crate) fn render(sample: &Sample, output: &str, now: SystemTime) -> String {
    let timestamp = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let label = format!("output=\"{}\"", escape_label(output));
    let single = |value: String| vec![(String::new(), value)];
    let families: [(Family, Vec<(String, String)>); 10] = [
        (
            family(
                "cardscreen_rows",
                "gauge",
                "Rows of the output written by this run, by status.",
            ),
            [
                ("ok", sample.ok),
                ("invalid", sample.invalid),
                ("error", sample.errors),
            ]
            .iter()
            .map(|(status, n)| (format!("status=\"{status}\","), n.to_string()))
            .collect(),
        ),
        (
            family(
                "cardscreen_hits",
                "gauge",
                "Rows whose card is on at least one blacklist.",
            ),
            single(sample.hits.to_string()),
        ),
        (
            family(
                "cardscreen_calls_total",
                "counter",
                "API calls this run made, each one paid for.",
            ),
            single(sample.calls.to_string()),
        ),
        (
            family(
                "cardscreen_retries_total",
                "counter",
                "API calls beyond the first for a card.",
            ),
            single(sample.retries.to_string()),
        ),
        (
            family(
                "cardscreen_throttled_total",
                "counter",
                "Answers 10011 (too many requests) this run received.",
            ),
            single(sample.throttled.to_string()),
        ),
        (
            family(
                "cardscreen_reused",
                "gauge",
                "Rows answered from the result store without a call.",
            ),
            single(sample.reused.to_string()),
        ),
        (
            family(
                "cardscreen_run_duration_seconds",
                "gauge",
                "Wall time of the run so far, or of the whole run once it ended.",
            ),
            single(format!("{:.3}", sample.duration_seconds)),
        ),
        (
            family(
                "cardscreen_run_exit_code",
                "gauge",
                "Exit code of the run; -1 while it runs.",
            ),
            single(sample.exit_code.to_string()),
        ),
        (
            family(
                "cardscreen_run_complete",
                "gauge",
                "1 when the run completed and its output is in place, else 0.",
            ),
            single(u8::from(sample.complete).to_string()),
        ),
        (
            family(
                "cardscreen_last_run_timestamp_seconds",
                "gauge",
                "Unix time the run last wrote this file: when it ended, once it has.",
            ),
            single(format!("{timestamp:.3}")),
        ),
    ];
    let mut text = String::with_capacity(2048);
    for (family, samples) in families {
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind);
        for (labels, value) in samples {
            let _ = writeln!(text, "{}{{{labels}{label}}} {value}", family.name);
        }
    }
    text
}

/// A label value as the exposition format wants it: backslash, double quote and line feed
/// escaped.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sample {
        Sample {
            ok: 7,
            invalid: 2,
            errors: 1,
            hits: 3,
            calls: 9,
            retries: 1,
            throttled: 0,
            reused: 0,
            duration_seconds: 1.5,
            exit_code: -1,
            complete: false,
        }
    }

    #[test]
    fn every_family_has_help_type_and_labelled_samples() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let text = render(&sample(), "out/today.screened.csv", at);
        assert!(text.contains("# TYPE cardscreen_calls_total counter\n"));
        assert!(text
            .contains("cardscreen_rows{status=\"invalid\",output=\"out/today.screened.csv\"} 2\n"));
        assert!(text.contains("cardscreen_run_exit_code{output=\"out/today.screened.csv\"} -1\n"));
        assert!(text.contains(
            "cardscreen_last_run_timestamp_seconds{output=\"out/today.screened.csv\"} 1700000000.000\n"
        ));
        assert_eq!(text.matches("# HELP ").count(), 10);
        assert_eq!(text.matches("# TYPE ").count(), 10);
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples, 12);
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let text = render(&sample(), "x\"y.csv", SystemTime::now());
        assert!(text.contains("{output=\"x\\\"y.csv\"}"));
    }

    #[test]
    fn the_final_numbers_are_never_overwritten_by_a_late_tick() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.prom");
        let metrics = Metrics::new(path.clone(), "out.csv".into(), Instant::now());
        let control = Control::new(None, crate::control::NextRun::Resume);
        metrics.write_running(&control).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("cardscreen_run_exit_code{output=\"out.csv\"} -1"));
        let done = Sample {
            exit_code: 0,
            complete: true,
            ..sample()
        };
        metrics.write_final(&done).unwrap();
        metrics.write_running(&control).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("cardscreen_run_exit_code{output=\"out.csv\"} 0"));
        assert!(text.contains("cardscreen_run_complete{output=\"out.csv\"} 1"));
    }
}
