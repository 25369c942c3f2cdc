//! What `--dry-run` prints: the rows, what is wrong with them, the calls a run would need, and
//! how long and how much that would take.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use super::invalid::majority_note;
use crate::input::level::Plan;

/// The counts of a read-through without calls.
#[derive(Debug, Default)]
pub(crate) struct DryRun {
    pub(crate) rows: u64,
    pub(crate) invalid_by_reason: BTreeMap<&'static str, u64>,
    pub(crate) distinct_cards: u64,
    pub(crate) duplicates: u64,
    pub(crate) luhn_warnings: u64,
    /// With a store and `--max-age`: tonight's plan for the distinct cards.
    pub(crate) plan: Option<Plan>,
}

/// What `--dry-run --summary PATH` writes: the counts and tonight's plan by field name.
#[derive(Debug, Serialize)]
pub(crate) struct DryRunSummary<'a> {
    pub(crate) dry_run: bool,
    pub(crate) rows: u64,
    pub(crate) valid: u64,
    pub(crate) invalid: u64,
    pub(crate) invalid_by_reason: &'a BTreeMap<&'static str, u64>,
    pub(crate) distinct_cards: u64,
    pub(crate) duplicates: u64,
    pub(crate) luhn_warnings: u64,
    #[serde(flatten)]
    pub(crate) plan: Plan,
    /// At `--rate`; `null` without one.
    pub(crate) expected_seconds: Option<f64>,
    pub(crate) expected_cost: Option<f64>,
}

/// What the estimate depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// Calls per second; `None` = unlimited.
    pub(crate) rate: Option<f64>,
    pub(crate) concurrency: usize,
    pub(crate) price_per_call: Option<f64>,
}

impl DryRun {
    pub(crate) fn invalid(&self) -> u64 {
        self.invalid_by_reason.values().sum()
    }

    /// Calls a run would make: one per distinct valid card the plan calls.
    pub(crate) fn calls_needed(&self) -> u64 {
        self.plan.map_or(self.distinct_cards, |p| p.calls_needed)
    }

    /// Tonight's plan; without a store every distinct card is new.
    fn plan_or_new(&self) -> Plan {
        self.plan.unwrap_or(Plan {
            calls_needed: self.distinct_cards,
            new: self.distinct_cards,
            ..Plan::default()
        })
    }

    /// The dry run as JSON fields.
    pub(crate) fn summary(&self, pace: Pace) -> DryRunSummary<'_> {
        let calls = self.calls_needed() as f64;
        DryRunSummary {
            dry_run: true,
            rows: self.rows,
            valid: self.rows - self.invalid(),
            invalid: self.invalid(),
            invalid_by_reason: &self.invalid_by_reason,
            distinct_cards: self.distinct_cards,
            duplicates: self.duplicates,
            luhn_warnings: self.luhn_warnings,
            plan: self.plan_or_new(),
            expected_seconds: pace.rate.map(|rate| (calls / rate * 10.0).round() / 10.0),
            expected_cost: pace.price_per_call.map(|price| calls * price),
        }
    }

    pub(crate) fn render(&self, input: &str, pace: Pace) -> String {
        let calls = self.calls_needed();
        let mut report = String::new();
        // Writing to a String cannot fail.
        let mut line = |text: String| {
            let _ = writeln!(report, "{text}");
        };
        line(format!("Dry run of {input} (no API call made)"));
        line(format!("  rows:            {}", self.rows));
        line(format!("  valid:           {}", self.rows - self.invalid()));
        line(format!("  invalid:         {}", self.invalid()));
        for (reason, count) in &self.invalid_by_reason {
            line(format!("    {reason}: {count}"));
        }
        if let Some(note) = majority_note(self.rows, &self.invalid_by_reason) {
            line(format!("  {note}"));
        }
        line(format!("  distinct cards:  {}", self.distinct_cards));
        line(format!("  duplicates:      {}", self.duplicates));
        line(format!("  Luhn warnings:   {}", self.luhn_warnings));
        if let Some(plan) = &self.plan {
            line(format!(
                "  from the store:  {} (stored results younger than --max-age; no call)",
                plan.from_store
            ));
            line(format!("  new cards:       {}", plan.new));
            line(format!(
                "  due:             {} (older than --max-age)",
                plan.due
            ));
            line(format!(
                "  refreshed early: {} (--refresh level spreads the refresh over --max-age)",
                plan.refreshed_early
            ));
            line(format!(
                "  stale:           {} (answered from results older than --max-age; --max-stale)",
                plan.stale
            ));
            if plan.beyond_capacity > 0 {
                line(format!(
                    "  beyond capacity: {} (needed, but do not fit before --deadline or within --max-calls)",
                    plan.beyond_capacity
                ));
            }
        }
        line(format!("  calls needed:    {calls}"));
        line(match pace.rate {
            Some(rate) => format!(
                "  expected time:   about {} at {rate} calls/s (concurrency {})",
                humantime::format_duration(
                    Duration::from_secs((calls as f64 / rate).ceil() as u64)
                ),
                pace.concurrency
            ),
            None => format!(
                "  expected time:   set by the API's latency (no rate limit, concurrency {})",
                pace.concurrency
            ),
        });
        if let Some(price) = pace.price_per_call {
            line(format!(
                "  expected cost:   {:.2} ({calls} calls at {price} each)",
                calls as f64 * price
            ));
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_follows_the_counts() {
        let dry = DryRun {
            rows: 10,
            invalid_by_reason: [("empty", 2)].into_iter().collect(),
            distinct_cards: 6,
            duplicates: 2,
            luhn_warnings: 1,
            plan: None,
        };
        let text = dry.render(
            "cards.csv",
            Pace {
                rate: Some(2.0),
                concurrency: 4,
                price_per_call: Some(0.5),
            },
        );
        let stored = DryRun {
            distinct_cards: 6,
            plan: Some(Plan {
                calls_needed: 2,
                new: 2,
                from_store: 4,
                ..Plan::default()
            }),
            ..DryRun::default()
        };
        assert_eq!(stored.calls_needed(), 2);
        let pace = Pace {
            rate: None,
            concurrency: 4,
            price_per_call: None,
        };
        assert!(stored.render("c", pace).contains("  from the store:  4 ("));
        assert!(
            !text.contains(" of 10 "),
            "two of ten is no majority: {text}"
        );
        let damaged = DryRun {
            rows: 4,
            invalid_by_reason: [("float_tail", 3)].into_iter().collect(),
            ..DryRun::default()
        };
        assert!(damaged.render("c", pace).contains(
            "  3 of 4 card cells are numbers with a decimal tail (.0): format the column as Text"
        ));
        for expected in [
            "Dry run of cards.csv",
            "  valid:           8\n",
            "    empty: 2\n",
            "  calls needed:    6\n",
            "about 3s at 2 calls/s (concurrency 4)",
            "  expected cost:   3.00 (6 calls at 0.5 each)",
        ] {
            assert!(text.contains(expected), "{expected:?} in {text}");
        }
    }
}
