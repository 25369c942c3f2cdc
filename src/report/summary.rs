//! The summary at the end of a run: counts over the rows written (`Tally`), and the `Summary`
//! shown on stderr and written as JSON with `--summary`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::control::{Control, Counters};
use crate::outcome::{Change, Outcome, Status, FLAG_NAMES};
use crate::util::humane::thousands;

/// Counts over the rows written, in output order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    pub(crate) rows: u64,
    pub(crate) ok: u64,
    pub(crate) hits: u64,
    pub(crate) hits_by_flag: [u64; 6],
    pub(crate) invalid: u64,
    pub(crate) invalid_by_reason: BTreeMap<&'static str, u64>,
    pub(crate) errors: u64,
    pub(crate) errors_by_code: BTreeMap<String, u64>,
    pub(crate) duplicates: u64,
    pub(crate) changes: ChangeCounts,
}

/// With a store: rows answered from it, and rows by how their result changed.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub(crate) struct ChangeCounts {
    pub(crate) reused: u64,
    pub(crate) first_seen: u64,
    pub(crate) new_hits: u64,
    pub(crate) cleared: u64,
    pub(crate) changed: u64,
}

impl Tally {
    pub(crate) fn count(&mut self, outcome: &Outcome, duplicate: bool) {
        self.rows += 1;
        if duplicate {
            self.duplicates += 1;
        } else if outcome.reused {
            self.changes.reused += 1;
        }
        let changes = &mut self.changes;
        match outcome.change {
            Some(Change::First) => changes.first_seen += 1,
            Some(Change::NewHit) => changes.new_hits += 1,
            Some(Change::Cleared) => changes.cleared += 1,
            Some(Change::Changed) => changes.changed += 1,
            Some(Change::Same) | None => {}
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
                let reason = outcome.reason.map_or("other", |r| r.as_str());
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

impl ChangeCounts {
    /// `changes since last screened: 3 new hits, 1 cleared, 0 changed, 1,204 first seen`, and
    /// the rows answered from the store.
    fn render(&self) -> String {
        let plural = |count: u64, one: &str, many: &str| {
            format!(
                "{} {}",
                thousands(count),
                if count == 1 { one } else { many }
            )
        };
        let mut text = format!(
            "  changes since last screened: {}, {} cleared, {} changed, {} first seen\n",
            plural(self.new_hits, "new hit", "new hits"),
            thousands(self.cleared),
            thousands(self.changed),
            thousands(self.first_seen),
        );
        if self.reused > 0 {
            text.push_str(&format!(
                "  answered from the store (younger than --max-age): {}\n",
                thousands(self.reused)
            ));
        }
        text
    }
}

/// What the reader counted on its way through the input.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ReaderCounts {
    /// Rows sent although their card fails the Luhn check.
    pub(crate) luhn_warnings: u64,
    /// Blank lines passed over (in files of more than one column).
    pub(crate) blank_lines: u64,
}

/// The run summary; field names are stable and documented in the README.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub(crate) rows: u64,
    pub(crate) ok: u64,
    pub(crate) hits: u64,
    pub(crate) hits_by_flag: BTreeMap<&'static str, u64>,
    pub(crate) invalid: u64,
    pub(crate) invalid_by_reason: BTreeMap<&'static str, u64>,
    pub(crate) errors: u64,
    pub(crate) errors_by_code: BTreeMap<String, u64>,
    pub(crate) duplicates: u64,
    pub(crate) luhn_warnings: u64,
    pub(crate) blank_lines_skipped: u64,
    /// Only with a store: `reused`, `first_seen`, `new_hits`, `cleared`, `changed`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub(crate) store: Option<ChangeCounts>,
    pub(crate) calls: u64,
    pub(crate) retries: u64,
    pub(crate) throttled: u64,
    pub(crate) elapsed_seconds: f64,
    pub(crate) calls_per_second: f64,
    pub(crate) exit_code: i32,
    pub(crate) complete: bool,
    pub(crate) stopped_because: Option<String>,
    pub(crate) input: String,
    pub(crate) output: String,
    pub(crate) started_at: String,
    pub(crate) finished_at: String,
}

/// One value of the summary, as a table shows it (the workbook output's Summary sheet).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Figure {
    Count(u64),
    Decimal(f64),
    Text(String),
}

impl Summary {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        tally: &Tally,
        control: &Control,
        reader: ReaderCounts,
        started: (Instant, std::time::SystemTime),
        exit_code: i32,
        complete: bool,
        input: String,
        output: String,
        store: bool,
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
            store: store.then_some(tally.changes),
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

    /// The summary as a table of figures, named as in the JSON summary (a map's entries as
    /// `hits_by_flag.fraudTrans`), in the JSON's order.
    pub(crate) fn figures(&self) -> Vec<(String, Figure)> {
        let count = |name: &str, value: u64| (name.to_string(), Figure::Count(value));
        let text = |name: &str, value: &str| (name.to_string(), Figure::Text(value.to_string()));
        let entries = |name: &str, map: Vec<(String, u64)>| {
            map.into_iter()
                .map(|(key, value)| (format!("{name}.{key}"), Figure::Count(value)))
                .collect::<Vec<_>>()
        };
        let owned = |map: &BTreeMap<&'static str, u64>| {
            map.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let mut figures = vec![
            count("rows", self.rows),
            count("ok", self.ok),
            count("hits", self.hits),
        ];
        figures.extend(entries("hits_by_flag", owned(&self.hits_by_flag)));
        figures.push(count("invalid", self.invalid));
        figures.extend(entries("invalid_by_reason", owned(&self.invalid_by_reason)));
        figures.push(count("errors", self.errors));
        figures.extend(entries(
            "errors_by_code",
            self.errors_by_code
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        ));
        figures.extend([
            count("duplicates", self.duplicates),
            count("luhn_warnings", self.luhn_warnings),
            count("blank_lines_skipped", self.blank_lines_skipped),
            count("calls", self.calls),
            count("retries", self.retries),
            count("throttled", self.throttled),
            (
                "elapsed_seconds".into(),
                Figure::Decimal(self.elapsed_seconds),
            ),
            (
                "calls_per_second".into(),
                Figure::Decimal(self.calls_per_second),
            ),
            text("input", &self.input),
            text("output", &self.output),
            text("started_at", &self.started_at),
            text("finished_at", &self.finished_at),
        ]);
        figures
    }

    /// The human summary for stderr.
    pub(crate) fn render(&self) -> String {
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
        if let Some(changes) = &self.store {
            out.push_str(&changes.render());
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
