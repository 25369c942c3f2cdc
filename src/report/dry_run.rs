//! What `--dry-run` prints: the rows, what is wrong with them, the calls a run would need, and
//! how long and how much that would take.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::invalid::majority_note;

/// The counts of a read-through without calls.
#[derive(Debug, Default)]
pub(crate) struct DryRun {
    pub(crate) rows: u64,
    pub(crate) invalid_by_reason: BTreeMap<&'static str, u64>,
    pub(crate) distinct_cards: u64,
    pub(crate) duplicates: u64,
    pub(crate) luhn_warnings: u64,
    /// With a store and `--max-age`: distinct cards whose stored result is young enough.
    pub(crate) from_store: Option<u64>,
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

    /// Calls a run would make: one per distinct valid card the store cannot answer.
    pub(crate) fn calls_needed(&self) -> u64 {
        self.distinct_cards - self.from_store.unwrap_or(0)
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
        if let Some(from_store) = self.from_store {
            line(format!(
                "  from the store:  {from_store} (stored results younger than --max-age; no call)"
            ));
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
            from_store: None,
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
            from_store: Some(4),
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
