//! The level planner: from the ages of a file's stored results, chooses tonight's calls so the
//! refresh spreads evenly over `--max-age`, and fits them to a deadline or a call budget.
//! Pure: every time is passed in, so the same file, store and clock always plan the same cards.
//!
//! Each distinct card gets a sort key, most urgent first: new cards, then results beyond
//! `--max-stale`, then the other due results oldest first, then fresh results oldest first; ties
//! break by the card's keyed hash. Tonight's calls are the first keys up to the level (or up to
//! what fits), so the plan is a single cutoff key and each row is judged on its own as the file
//! streams past: the pipeline stays in input order.

use crate::outcome::CardKey;

/// What the planner is told about tonight; every duration in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_age: u64,
    pub max_stale: u64,
    /// Since the previous run (a day when there was none).
    pub since_previous: u64,
    /// Calls that fit before the deadline and within a planned `--max-calls`; `None`: no bound.
    pub capacity: Option<u64>,
    /// `false` for `--refresh due`: nothing is refreshed before it is due.
    pub level: bool,
}

/// How urgent a card's call is, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    /// No stored result: only a call answers it.
    New = 0,
    /// Its result is older than `--max-stale`: only a call answers it.
    BeyondStale = 1,
    /// Older than `--max-age`: answered stale only when nothing else fits.
    Due = 2,
    /// Younger than `--max-age`: called only to level the nights.
    Fresh = 3,
}

/// A card's place in tonight's order: rank, then age (older first), then keyed hash.
pub(crate) type SortKey = u128;

/// The card's sort key, from its keyed hash and the age of its stored result in seconds
/// (`None`: no result). A result from the future comes in as age zero, so it counts as fresh
/// and never as older than it is.
pub(crate) fn sort_key(card: &CardKey, age: Option<u64>, limits: &Limits) -> (Rank, SortKey) {
    let rank = match age {
        None => Rank::New,
        Some(a) if a >= limits.max_stale => Rank::BeyondStale,
        Some(a) if a >= limits.max_age => Rank::Due,
        Some(_) => Rank::Fresh,
    };
    let younger = u32::MAX - age.unwrap_or(0).min(u64::from(u32::MAX)) as u32;
    let mut hash = [0u8; 8];
    hash.copy_from_slice(&card[..8]);
    let key =
        (rank as u128) << 96 | u128::from(younger) << 64 | u128::from(u64::from_be_bytes(hash));
    (rank, key)
}

/// Tonight's plan: the cutoff each card is judged by, and what it comes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Plan {
    /// A card is called when its key is below this, or when only a call can answer it.
    #[serde(skip)]
    pub cutoff: SortKey,
    pub calls_needed: u64,
    pub new: u64,
    pub due: u64,
    pub refreshed_early: u64,
    pub from_store: u64,
    /// To be answered from a result older than `--max-age`, for want of room.
    pub stale: u64,
    /// Calls needed beyond what fits: they are tried in input order until the deadline or the
    /// budget stops them.
    pub beyond_capacity: u64,
}

/// What a card's row gets under the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Called; `early` when its stored result was still fresh.
    Call { early: bool },
    /// Answered from its stored result.
    FromStore,
    /// Answered from a stored result older than `--max-age`.
    Stale,
}

impl Plan {
    /// The plan for a whole night, from the sort keys of the file's distinct cards.
    pub(crate) fn new(mut keys: Vec<SortKey>, limits: &Limits) -> Plan {
        keys.sort_unstable();
        let rank = |key: &SortKey| (key >> 96) as u8;
        let count = |r: Rank| keys.iter().filter(|k| rank(k) == r as u8).count() as u64;
        let (new, beyond, due) = (count(Rank::New), count(Rank::BeyondStale), count(Rank::Due));
        let stored = keys.len() as u64 - new;
        let level = if limits.level {
            (u128::from(stored) * u128::from(limits.since_previous)
                / u128::from(limits.max_age.max(1))) as u64
        } else {
            0
        };
        let wanted = new + (beyond + due).max(level.min(stored));
        let called = wanted.min(limits.capacity.unwrap_or(u64::MAX));
        let cutoff = keys.get(called as usize).copied().unwrap_or(SortKey::MAX);
        let mut plan = Plan {
            cutoff,
            new,
            ..Plan::default()
        };
        for key in &keys {
            match plan.decide(*key, rank(key)) {
                Decision::Call { early: true } => plan.refreshed_early += 1,
                Decision::Call { early: false } => {
                    plan.due += u64::from(rank(key) != Rank::New as u8);
                    plan.beyond_capacity += u64::from(*key >= cutoff);
                }
                Decision::FromStore => plan.from_store += 1,
                Decision::Stale => plan.stale += 1,
            }
        }
        plan.calls_needed = plan.new + plan.due + plan.refreshed_early;
        plan
    }

    /// What the card with this key gets.
    pub(crate) fn decide(&self, key: SortKey, rank: u8) -> Decision {
        let below = key < self.cutoff;
        match rank {
            r if r <= Rank::BeyondStale as u8 => Decision::Call { early: false },
            r if r == Rank::Due as u8 && below => Decision::Call { early: false },
            r if r == Rank::Due as u8 => Decision::Stale,
            _ if below => Decision::Call { early: true },
            _ => Decision::FromStore,
        }
    }

    /// What the card gets, from its keyed hash and the age of its stored result.
    pub(crate) fn decide_card(
        &self,
        card: &CardKey,
        age: Option<u64>,
        limits: &Limits,
    ) -> Decision {
        let (rank, key) = sort_key(card, age, limits);
        self.decide(key, rank as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn card(i: u32) -> CardKey {
        let mut key = [0u8; 16];
        key[..4].copy_from_slice(&i.to_be_bytes());
        key
    }

    fn limits(capacity: Option<u64>, max_stale_days: u64) -> Limits {
        Limits {
            max_age: DAY * 7,
            max_stale: DAY * max_stale_days,
            since_previous: DAY,
            capacity,
            level: true,
        }
    }

    /// Plans the cards (keyed hash `i`, age in days) and says what each one gets.
    fn plan(ages: &[Option<u64>], limits: &Limits) -> (Plan, Vec<Decision>) {
        let keys = ages
            .iter()
            .enumerate()
            .map(|(i, a)| sort_key(&card(i as u32), a.map(|d| d * DAY), limits).1)
            .collect();
        let plan = Plan::new(keys, limits);
        let decisions = ages
            .iter()
            .enumerate()
            .map(|(i, a)| plan.decide_card(&card(i as u32), a.map(|d| d * DAY), limits))
            .collect();
        (plan, decisions)
    }

    fn called(decisions: &[Decision]) -> Vec<bool> {
        decisions
            .iter()
            .map(|d| matches!(d, Decision::Call { .. }))
            .collect()
    }

    /// Simulates nights: every card called tonight is a day old tomorrow, the rest a day older.
    fn nights(stable: usize, new_a_night: usize, count: usize, level: bool) -> Vec<u64> {
        let mut ages: Vec<Option<u64>> = vec![None; stable];
        let mut calls = Vec::new();
        for _ in 0..count {
            ages.extend(std::iter::repeat_n(None, new_a_night));
            let (p, decisions) = plan(
                &ages,
                &Limits {
                    level,
                    ..limits(None, 7)
                },
            );
            let called = called(&decisions);
            for (i, a) in ages.iter().enumerate() {
                assert!(
                    called[i] || a.is_some_and(|a| a < 7),
                    "answered beyond max-age"
                );
            }
            assert_eq!(p.calls_needed, called.iter().filter(|c| **c).count() as u64);
            calls.push(p.calls_needed);
            for (a, c) in ages.iter_mut().zip(&called) {
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
        let calls = nights(3000, 50, 10, false);
        assert_eq!(calls[1], 50);
        assert!(calls[7] > 3000, "{calls:?}");
    }

    #[test]
    fn capacity_takes_new_then_beyond_max_stale_then_oldest() {
        let ages = [Some(9), Some(40), None, Some(12), Some(2)];
        let (p, d) = plan(&ages, &limits(Some(3), 30));
        assert_eq!(called(&d), vec![false, true, true, true, false]);
        assert_eq!((p.new, p.due, p.stale, p.beyond_capacity), (1, 2, 1, 0));
        assert_eq!(d[0], Decision::Stale);
        // Only one fits: the new card goes first; the one beyond --max-stale is still called
        // (nothing else answers it) and counted as beyond what fits.
        let (p, d) = plan(&ages, &limits(Some(1), 30));
        assert_eq!(called(&d), vec![false, true, true, false, false]);
        assert_eq!((p.stale, p.beyond_capacity, p.calls_needed), (2, 1, 2));
    }

    #[test]
    fn the_same_inputs_plan_the_same_cards_and_ties_break_by_hash() {
        let ages = vec![Some(10); 10];
        let (a, da) = plan(&ages, &limits(Some(4), 30));
        let (b, db) = plan(&ages, &limits(Some(4), 30));
        assert_eq!((a, &da), (b, &db));
        assert_eq!(
            called(&da),
            vec![true, true, true, true, false, false, false, false, false, false]
        );
    }

    #[test]
    fn early_refreshes_take_the_oldest_fresh_results() {
        // 14 stored cards, a week's level is 2 a night: the two oldest fresh ones.
        let ages: Vec<Option<u64>> = (0..14).map(|i| Some(i % 7)).collect();
        let (p, d) = plan(&ages, &limits(None, 7));
        assert_eq!(p.refreshed_early, 2);
        assert_eq!(d[6], Decision::Call { early: true });
        assert_eq!(d[13], Decision::Call { early: true });
        assert_eq!(d[5], Decision::FromStore);
    }

    #[test]
    fn a_result_from_the_future_counts_as_fresh() {
        let limits = Limits {
            level: false,
            ..limits(None, 7)
        };
        let (rank, _) = sort_key(&card(1), Some(0), &limits);
        assert_eq!(rank, Rank::Fresh);
        let p = Plan::new(vec![sort_key(&card(1), Some(0), &limits).1], &limits);
        assert_eq!((p.from_store, p.calls_needed), (1, 0));
    }
}
