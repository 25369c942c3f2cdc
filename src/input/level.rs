//! The level planner: from the ages of a file's stored results, chooses tonight's calls so the
//! refresh spreads evenly over `--max-age`, and fits them to a deadline or a call budget.
//! Pure: every time is passed in, so the same file, store and clock always plan the same cards.

use std::time::Duration;

/// One card of the file as the store knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The card's keyed hash: breaks ties between equal ages, so plans repeat.
    pub hmac: [u8; 32],
    /// How old its stored result is; `None` when the store has none. A result from the
    /// future (the clock went back) comes in as age zero: fresh, never older than it is.
    pub age: Option<Duration>,
}

/// What the planner is told about tonight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_age: Duration,
    pub max_stale: Duration,
    /// Since the previous run (a day when there was none).
    pub since_previous: Duration,
    /// Calls that fit before the deadline and within `--max-calls`; `None` is no bound.
    pub capacity: Option<u64>,
    /// `false` for `--refresh due`: nothing is refreshed before it is due.
    pub level: bool,
}

/// Tonight's plan: which cards are called, and how the rest are answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Per card of the input, in input order: `true` when it is called.
    pub call: Vec<bool>,
    pub new: u64,
    pub due: u64,
    pub refreshed_early: u64,
    pub from_store: u64,
    /// Answered from a result older than `--max-age` for want of room.
    pub stale: u64,
    /// Neither called nor answerable: they become `error` rows.
    pub unanswered: u64,
    pub calls_needed: u64,
}

/// Chooses tonight's calls: new cards first, then results beyond `--max-stale`, then the other
/// due results oldest first, then early refreshes oldest first up to the level.
pub(crate) fn plan(cards: &[Seen], limits: &Limits) -> Plan {
    let mut out = Plan {
        call: vec![false; cards.len()],
        ..Plan::default()
    };
    // (rank, age reversed, hmac, index): sorting puts the most urgent first.
    let mut queue: Vec<(u8, std::cmp::Reverse<Duration>, [u8; 32], usize)> = Vec::new();
    let mut fresh: Vec<(std::cmp::Reverse<Duration>, [u8; 32], usize)> = Vec::new();
    let stored = cards.iter().filter(|c| c.age.is_some()).count() as u128;
    for (i, c) in cards.iter().enumerate() {
        match c.age {
            None => queue.push((0, std::cmp::Reverse(Duration::MAX), c.hmac, i)),
            Some(a) if a > limits.max_stale => queue.push((1, std::cmp::Reverse(a), c.hmac, i)),
            Some(a) if a > limits.max_age => queue.push((2, std::cmp::Reverse(a), c.hmac, i)),
            Some(a) => fresh.push((std::cmp::Reverse(a), c.hmac, i)),
        }
    }
    queue.sort_unstable();
    let max_age = limits.max_age.as_millis().max(1);
    let level = (stored * limits.since_previous.as_millis()).div_ceil(max_age) as u64;
    let must = queue.iter().filter(|q| q.0 > 0).count() as u64;
    let early = if limits.level {
        level.saturating_sub(must)
    } else {
        0
    };
    fresh.sort_unstable();
    let cap = limits.capacity.unwrap_or(u64::MAX);
    for (rank, _, _, i) in &queue {
        let called = out.calls_needed < cap;
        out.call[*i] = called;
        out.calls_needed += called as u64;
        match (rank, called) {
            (0, _) => out.new += 1,
            (_, true) => out.due += 1,
            (1, false) => out.unanswered += 1,
            _ => out.stale += 1,
        }
        if *rank == 0 && !called {
            out.unanswered += 1;
        }
    }
    for (n, (_, _, i)) in fresh.iter().enumerate() {
        let called = (n as u64) < early && out.calls_needed < cap;
        out.call[*i] = called;
        out.calls_needed += called as u64;
        if called {
            out.refreshed_early += 1;
        } else {
            out.from_store += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn seen(i: u32, age_days: Option<u64>) -> Seen {
        let mut hmac = [0u8; 32];
        hmac[..4].copy_from_slice(&i.to_be_bytes());
        Seen {
            hmac,
            age: age_days.map(|d| DAY * d as u32),
        }
    }

    fn limits(capacity: Option<u64>, max_stale_days: u32) -> Limits {
        Limits {
            max_age: DAY * 7,
            max_stale: DAY * max_stale_days,
            since_previous: DAY,
            capacity,
            level: true,
        }
    }

    /// Simulates nights: every card called tonight is age 0, the rest age by a day.
    fn nights(stable: u32, new_a_night: u32, count: usize, level: bool) -> Vec<u64> {
        let mut ages: Vec<Option<u64>> = vec![None; stable as usize];
        let mut calls = Vec::new();
        for _ in 0..count {
            ages.extend(std::iter::repeat_n(None, new_a_night as usize));
            let cards: Vec<Seen> = ages
                .iter()
                .enumerate()
                .map(|(i, a)| seen(i as u32, *a))
                .collect();
            let p = plan(
                &cards,
                &Limits {
                    level,
                    ..limits(None, 7)
                },
            );
            for (i, a) in ages.iter().enumerate() {
                assert!(
                    p.call[i] || a.is_some_and(|a| a <= 7),
                    "answered beyond max-age"
                );
            }
            calls.push(p.calls_needed);
            for (a, c) in ages.iter_mut().zip(&p.call) {
                *a = if *c { Some(1) } else { a.map(|d| d + 1) };
            }
        }
        calls
    }

    #[test]
    fn levelled_nights_stay_near_the_ideal() {
        let calls = nights(3000, 50, 22, true);
        let mut total_ideal = 0.0;
        for (n, c) in calls.iter().enumerate() {
            let cards = 3000.0 + 50.0 * (n as f64 + 1.0);
            let ideal = cards / 7.0 + 50.0;
            total_ideal += if n == 0 { cards } else { ideal };
            if n >= 8 {
                assert!(
                    (*c as f64) <= 1.3 * ideal,
                    "night {}: {c} vs {ideal}",
                    n + 1
                );
            }
            if n >= 1 {
                assert!(
                    (*c as f64) <= 2.0 * ideal,
                    "night {}: {c} vs {ideal}",
                    n + 1
                );
            }
        }
        assert!(calls.iter().sum::<u64>() as f64 <= 1.2 * total_ideal);
    }

    #[test]
    fn due_refresh_repays_the_whole_base_every_max_age() {
        // Whole days here: a result is exactly 7 days old on night 8, due on night 9.
        let calls = nights(3000, 50, 10, false);
        assert_eq!(calls[1], 50);
        assert!(calls[8] > 3000);
    }

    #[test]
    fn capacity_takes_new_then_beyond_max_stale_then_oldest() {
        let cards = vec![
            seen(0, Some(9)),
            seen(1, Some(40)),
            seen(2, None),
            seen(3, Some(12)),
            seen(4, Some(2)),
        ];
        let p = plan(&cards, &limits(Some(3), 30));
        assert_eq!(p.call, vec![false, true, true, true, false]);
        assert_eq!((p.new, p.due, p.stale, p.unanswered), (1, 2, 1, 0));
        let p = plan(&cards, &limits(Some(1), 30));
        assert_eq!(p.call, vec![false, false, true, false, false]);
        assert_eq!((p.stale, p.unanswered), (2, 1));
    }

    #[test]
    fn the_same_inputs_plan_the_same_cards_and_ties_break_by_hmac() {
        let cards: Vec<Seen> = (0..10).map(|i| seen(9 - i, Some(10))).collect();
        let a = plan(&cards, &limits(Some(4), 30));
        assert_eq!(a, plan(&cards, &limits(Some(4), 30)));
        assert_eq!(
            a.call,
            vec![false, false, false, false, false, false, true, true, true, true]
        );
    }

    #[test]
    fn a_result_from_the_future_counts_as_fresh() {
        let cards = vec![Seen {
            hmac: [1; 32],
            age: Some(Duration::ZERO),
        }];
        let p = plan(
            &cards,
            &Limits {
                level: false,
                ..limits(None, 7)
            },
        );
        assert_eq!((p.from_store, p.calls_needed), (1, 0));
    }
}
