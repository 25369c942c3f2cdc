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
    /// `metrics_mode`: 0644 unless the config file says otherwise, for node_exporter reads it
    /// as another user.
    mode: u32,
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
    pub(crate) refreshed_early: u64,
    pub(crate) stale: u64,
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
            refreshed_early: Counters::get(&c.refreshed_early),
            stale: Counters::get(&c.stale),
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
            refreshed_early: summary.store.map_or(0, |s| s.refreshed_early),
            stale: summary.store.map_or(0, |s| s.stale),
            duration_seconds: summary.elapsed_seconds,
            exit_code: summary.exit_code,
            complete: summary.complete,
        }
    }
}

impl Metrics {
    pub(crate) fn new(path: PathBuf, mode: u32, output: String, started: Instant) -> Metrics {
        Metrics {
            path,
            mode,
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
        files::write_atomically_with_mode(&self.path, self.mode, |file| {
            file.write_all(text.as_bytes())
        })
    }
}

/// A metric family: its name, type and help line, and how its samples are read off a sample
/// of the run and the time of writing.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: fn(&Sample, f64) -> Samples,
}

/// The samples of one family: the labels that come before the output's, and the value as
/// written.
type Samples = Vec<(&'static str, String)>;

/// A family of one sample, with no label but the output.
fn one(value: impl ToString) -> Samples {
    vec![("", value.to_string())]
}

/// Every family, in the order the file lists them.
const FAMILIES: [Family; 12] = [
    Family {
        name: "cardscreen_rows",
        kind: "gauge",
        help: "Rows of the output written by this run, by status.",
        samples: |s, _| {
            vec![
                ("status=\"ok\",", s.ok.to_string()),
                ("status=\"invalid\",", s.invalid.to_string()),
                ("status=\"error\",", s.errors.to_string()),
            ]
        },
    },
    Family {
        name: "cardscreen_hits",
        kind: "gauge",
        help: "Rows whose card is on at least one blacklist.",
        samples: |s, _| one(s.hits),
    },
    Family {
        name: "cardscreen_calls_total",
        kind: "counter",
        help: "API calls this run made, each one paid for.",
        samples: |s, _| one(s.calls),
    },
    Family {
        name: "cardscreen_retries_total",
        kind: "counter",
        help: "API calls beyond the first for a card.",
        samples: |s, _| one(s.retries),
    },
    Family {
        name: "cardscreen_throttled_total",
        kind: "counter",
        help: "Answers 10011 (too many requests) this run received.",
        samples: |s, _| one(s.throttled),
    },
    Family {
        name: "cardscreen_reused",
        kind: "gauge",
        help: "Rows answered from the result store without a call.",
        samples: |s, _| one(s.reused),
    },
    Family {
        name: "cardscreen_refreshed_early",
        kind: "gauge",
        help: "Cards called before their stored result was due, to level the nights.",
        samples: |s, _| one(s.refreshed_early),
    },
    Family {
        name: "cardscreen_stale",
        kind: "gauge",
        help: "Rows answered from a stored result older than --max-age (--max-stale).",
        samples: |s, _| one(s.stale),
    },
    Family {
        name: "cardscreen_run_duration_seconds",
        kind: "gauge",
        help: "Wall time of the run so far, or of the whole run once it ended.",
        samples: |s, _| one(format!("{:.3}", s.duration_seconds)),
    },
    Family {
        name: "cardscreen_run_exit_code",
        kind: "gauge",
        help: "Exit code of the run; -1 while it runs.",
        samples: |s, _| one(s.exit_code),
    },
    Family {
        name: "cardscreen_run_complete",
        kind: "gauge",
        help: "1 when the run completed and its output is in place, else 0.",
        samples: |s, _| one(u8::from(s.complete)),
    },
    Family {
        name: "cardscreen_last_run_timestamp_seconds",
        kind: "gauge",
        help: "Unix time the run last wrote this file: when it ended, once it has.",
        samples: |_, timestamp| one(format!("{timestamp:.3}")),
    },
];

/// The text exposition format: each family with `# HELP` and `# TYPE`, then its samples, each
/// labelled with the output.
pub(crate) fn render(sample: &Sample, output: &str, now: SystemTime) -> String {
    let timestamp = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let label = format!("output=\"{}\"", escape_label(output));
    let mut text = String::with_capacity(2048);
    for family in &FAMILIES {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind);
        for (labels, value) in (family.samples)(sample, timestamp) {
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
            refreshed_early: 0,
            stale: 0,
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
        assert_eq!(text.matches("# HELP ").count(), 12);
        assert_eq!(text.matches("# TYPE ").count(), 12);
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples, 14);
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
        let metrics = Metrics::new(path.clone(), 0o644, "out.csv".into(), Instant::now());
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

    /// The file as node_exporter and the dashboards built on it know it, to the byte.
    #[test]
    fn the_text_is_exactly_the_known_exposition() {
        let finished = Sample {
            throttled: 4,
            reused: 5,
            refreshed_early: 6,
            stale: 2,
            duration_seconds: 12.3456,
            exit_code: 3,
            complete: true,
            ..sample()
        };
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_250);
        let expected = concat!(
            "# HELP cardscreen_rows Rows of the output written by this run, by status.\n",
            "# TYPE cardscreen_rows gauge\n",
            "cardscreen_rows{status=\"ok\",output=\"out/a\\\"b.csv\"} 7\n",
            "cardscreen_rows{status=\"invalid\",output=\"out/a\\\"b.csv\"} 2\n",
            "cardscreen_rows{status=\"error\",output=\"out/a\\\"b.csv\"} 1\n",
            "# HELP cardscreen_hits Rows whose card is on at least one blacklist.\n",
            "# TYPE cardscreen_hits gauge\n",
            "cardscreen_hits{output=\"out/a\\\"b.csv\"} 3\n",
            "# HELP cardscreen_calls_total API calls this run made, each one paid for.\n",
            "# TYPE cardscreen_calls_total counter\n",
            "cardscreen_calls_total{output=\"out/a\\\"b.csv\"} 9\n",
            "# HELP cardscreen_retries_total API calls beyond the first for a card.\n",
            "# TYPE cardscreen_retries_total counter\n",
            "cardscreen_retries_total{output=\"out/a\\\"b.csv\"} 1\n",
            "# HELP cardscreen_throttled_total Answers 10011 (too many requests) this run received.\n",
            "# TYPE cardscreen_throttled_total counter\n",
            "cardscreen_throttled_total{output=\"out/a\\\"b.csv\"} 4\n",
            "# HELP cardscreen_reused Rows answered from the result store without a call.\n",
            "# TYPE cardscreen_reused gauge\n",
            "cardscreen_reused{output=\"out/a\\\"b.csv\"} 5\n",
            "# HELP cardscreen_refreshed_early Cards called before their stored result was due, to level the nights.\n",
            "# TYPE cardscreen_refreshed_early gauge\n",
            "cardscreen_refreshed_early{output=\"out/a\\\"b.csv\"} 6\n",
            "# HELP cardscreen_stale Rows answered from a stored result older than --max-age (--max-stale).\n",
            "# TYPE cardscreen_stale gauge\n",
            "cardscreen_stale{output=\"out/a\\\"b.csv\"} 2\n",
            "# HELP cardscreen_run_duration_seconds Wall time of the run so far, or of the whole run once it ended.\n",
            "# TYPE cardscreen_run_duration_seconds gauge\n",
            "cardscreen_run_duration_seconds{output=\"out/a\\\"b.csv\"} 12.346\n",
            "# HELP cardscreen_run_exit_code Exit code of the run; -1 while it runs.\n",
            "# TYPE cardscreen_run_exit_code gauge\n",
            "cardscreen_run_exit_code{output=\"out/a\\\"b.csv\"} 3\n",
            "# HELP cardscreen_run_complete 1 when the run completed and its output is in place, else 0.\n",
            "# TYPE cardscreen_run_complete gauge\n",
            "cardscreen_run_complete{output=\"out/a\\\"b.csv\"} 1\n",
            "# HELP cardscreen_last_run_timestamp_seconds Unix time the run last wrote this file: when it ended, once it has.\n",
            "# TYPE cardscreen_last_run_timestamp_seconds gauge\n",
            "cardscreen_last_run_timestamp_seconds{output=\"out/a\\\"b.csv\"} 1700000000.250\n",
        );
        assert_eq!(render(&finished, "out/a\"b.csv", at), expected);
    }
}
