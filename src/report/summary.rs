//! The summary at the end of a run: counts over the rows written (`Tally`), and the `Summary`
//! shown on stderr and written as JSON with `--summary`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::Serialize;
use serde_json::Value;

use super::invalid::{invalid_share, majority_note, over_limit};
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
    /// Cards called before their stored result was due, to level the nights.
    pub(crate) refreshed_early: u64,
    /// Rows answered from a stored result older than `--max-age` (`--max-stale`).
    pub(crate) stale: u64,
    /// When the oldest of those results was screened (Unix seconds).
    #[serde(skip)]
    pub(crate) oldest_stale: Option<u64>,
}

impl Tally {
    pub(crate) fn count(&mut self, outcome: &Outcome, duplicate: bool) {
        self.rows += 1;
        if duplicate {
            self.duplicates += 1;
        } else {
            self.changes.count_store(outcome);
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
                let code = match outcome.error_code {
                    Some(code) => code.to_string(),
                    None if outcome.is_not_called() => "deadline".to_string(),
                    None => "transport".to_string(),
                };
                *self.errors_by_code.entry(code).or_default() += 1;
            }
        }
    }
}

impl ChangeCounts {
    /// What a row that is no duplicate says about the store's part in it.
    fn count_store(&mut self, outcome: &Outcome) {
        self.reused += u64::from(outcome.reused);
        self.refreshed_early += u64::from(outcome.early);
        if outcome.stale {
            self.stale += 1;
            let at = outcome.screened_at.unwrap_or(0);
            self.oldest_stale = Some(self.oldest_stale.map_or(at, |o| o.min(at)));
        }
    }

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
        if self.reused > self.stale {
            text.push_str(&format!(
                "  answered from the store (younger than --max-age): {}\n",
                thousands(self.reused - self.stale)
            ));
        }
        if self.refreshed_early > 0 {
            text.push_str(&format!(
                "  refreshed before they were due (--refresh level): {}\n",
                thousands(self.refreshed_early)
            ));
        }
        if let Some(oldest) = self.oldest_stale.filter(|_| self.stale > 0) {
            let days = crate::util::clock::unix_now().saturating_sub(oldest) / 86_400;
            text.push_str(&format!(
                "  {} answered from results older than --max-age (oldest {days} {})\n",
                thousands(self.stale),
                if days == 1 { "day" } else { "days" }
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
    /// `invalid` over `rows`, to four places: what `--max-invalid` holds the run to.
    pub(crate) invalid_share: f64,
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
    /// `--max-invalid`, to say in words that the run exceeded it; not a field of the JSON.
    #[serde(skip)]
    pub(crate) max_invalid: Option<f64>,
}

/// One value of the summary, as a table shows it (the workbook output's Summary sheet).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Figure {
    Count(u64),
    Decimal(f64),
    Flag(bool),
    Text(String),
    /// JSON's `null`: the field is there, without a value.
    Empty,
}

impl Figure {
    fn of(value: Value) -> Figure {
        match value {
            Value::Null => Figure::Empty,
            Value::Bool(flag) => Figure::Flag(flag),
            Value::Number(number) => match number.as_u64() {
                Some(count) => Figure::Count(count),
                None => Figure::Decimal(number.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(text) => Figure::Text(text),
            nested => Figure::Text(nested.to_string()),
        }
    }
}

/// A JSON object's fields in the order they were written: `serde_json::Value` sorts them.
struct InOrder(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for InOrder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<InOrder, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = InOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InOrder, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry()? {
                    fields.push(field);
                }
                Ok(InOrder(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
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
        max_invalid: Option<f64>,
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
            invalid_share: invalid_share(tally.rows, tally.invalid),
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
            max_invalid,
        }
    }

    /// The summary as a table of figures: every field of the JSON summary, in its order and
    /// with its name (a map's entries as `hits_by_flag.fraudTrans`). Made from the JSON itself,
    /// so a field the JSON gains is in the table too.
    pub(crate) fn figures(&self) -> Vec<(String, Figure)> {
        let fields = serde_json::to_string(self)
            .and_then(|json| serde_json::from_str::<InOrder>(&json))
            .map_or_else(|_| Vec::new(), |fields| fields.0);
        let mut figures = Vec::with_capacity(fields.len() + 16);
        for (name, value) in fields {
            match value {
                Value::Object(map) => figures.extend(
                    map.into_iter()
                        .map(|(key, value)| (format!("{name}.{key}"), Figure::of(value))),
                ),
                value => figures.push((name, Figure::of(value))),
            }
        }
        figures
    }

    /// When one reason makes most rows invalid, that in words with what to do (the summary's
    /// first line, and a warning at the end of the run).
    pub(crate) fn invalid_note(&self) -> Option<String> {
        majority_note(self.rows, &self.invalid_by_reason)
    }

    /// That the run has more invalid rows than `--max-invalid` allows, and so exits 3.
    pub(crate) fn over_max_invalid(&self) -> Option<String> {
        let limit = self.max_invalid?;
        over_limit(self.rows, self.invalid, Some(limit)).then(|| {
            format!(
                "{} of {} rows are invalid ({:.1}%), more than --max-invalid {limit} allows: exit 3",
                thousands(self.invalid),
                thousands(self.rows),
                self.invalid_share * 100.0,
            )
        })
    }

    /// `Screened 2,000 rows in 2s: …`, the line a reader sees first.
    fn headline(&self) -> String {
        let state = if self.complete {
            "Screened"
        } else {
            "Stopped after"
        };
        format!(
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
        )
    }

    /// The human summary for stderr.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        if let Some(note) = self.invalid_note() {
            out.push_str(&note);
            out.push('\n');
        }
        out.push_str(&self.headline());
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
        if let Some(over) = self.over_max_invalid() {
            out.push_str(&format!("  {over}\n"));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        let mut tally = Tally::default();
        tally.count(
            &Outcome::ok(crate::outcome::Flags(0b1), "JH1".into(), 1),
            false,
        );
        Summary {
            rows: 1,
            ok: 1,
            hits: 1,
            hits_by_flag: FLAG_NAMES.iter().copied().zip(tally.hits_by_flag).collect(),
            invalid: 0,
            invalid_by_reason: BTreeMap::new(),
            invalid_share: 0.0,
            errors: 0,
            errors_by_code: [("271901".to_string(), 0)].into(),
            duplicates: 0,
            luhn_warnings: 0,
            blank_lines_skipped: 0,
            store: Some(ChangeCounts {
                first_seen: 1,
                ..ChangeCounts::default()
            }),
            calls: 1,
            retries: 0,
            throttled: 0,
            elapsed_seconds: 0.25,
            calls_per_second: 4.0,
            exit_code: 1,
            complete: true,
            stopped_because: None,
            input: "in.csv".into(),
            output: "out.xlsx".into(),
            started_at: "2026-12-07T02:15:00Z".into(),
            finished_at: "2026-12-07T02:15:01Z".into(),
            max_invalid: None,
        }
    }

    #[test]
    fn the_figures_are_the_json_fields_in_order_with_maps_spelled_out() {
        let summary = summary();
        let figures = summary.figures();
        let names: Vec<&str> = figures.iter().map(|(name, _)| name.as_str()).collect();
        let json = serde_json::to_string(&summary).unwrap();
        let mut at = 0;
        for name in &names {
            // Each name, as its last part appears in the JSON text, comes after the one before.
            let key = format!("\"{}\":", name.rsplit('.').next().unwrap());
            let found = json[at..]
                .find(&key)
                .unwrap_or_else(|| panic!("{name} in order"));
            at += found;
        }
        let value = serde_json::to_value(&summary).unwrap();
        let flattened = value
            .as_object()
            .unwrap()
            .iter()
            .fold(0, |n, (_, v)| n + v.as_object().map_or(1, |map| map.len()));
        assert_eq!(names.len(), flattened, "{names:?}");
        let figure = |name: &str| &figures.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(figure("hits_by_flag.onlineBlack"), &Figure::Count(1));
        assert_eq!(figure("errors_by_code.271901"), &Figure::Count(0));
        assert_eq!(figure("first_seen"), &Figure::Count(1));
        assert_eq!(figure("new_hits"), &Figure::Count(0));
        assert_eq!(figure("exit_code"), &Figure::Count(1));
        assert_eq!(figure("complete"), &Figure::Flag(true));
        assert_eq!(figure("stopped_because"), &Figure::Empty);
        assert_eq!(figure("elapsed_seconds"), &Figure::Decimal(0.25));
        assert_eq!(figure("calls_per_second"), &Figure::Decimal(4.0));
        assert_eq!(figure("input"), &Figure::Text("in.csv".into()));
    }
}
