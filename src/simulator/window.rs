//! Sliding one-second windows: the rate limit (`--qps-limit`) admits at most N calls in any
//! second, and the busiest second seen is kept for `/stats`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Calls seen in the last second, as instants in arrival order.
#[derive(Default, Debug)]
struct SlidingSecond {
    instants: VecDeque<Instant>,
}

impl SlidingSecond {
    fn forget_before(&mut self, now: Instant) {
        while let Some(&oldest) = self.instants.front() {
            if now.saturating_duration_since(oldest) < Duration::from_secs(1) {
                break;
            }
            self.instants.pop_front();
        }
    }

    /// Records a call and returns how many the window holds with it.
    fn record(&mut self, now: Instant) -> u64 {
        self.forget_before(now);
        self.instants.push_back(now);
        self.instants.len() as u64
    }

    /// Records the call only if fewer than `limit` were admitted in the last second.
    fn admit(&mut self, now: Instant, limit: u32) -> bool {
        self.forget_before(now);
        if self.instants.len() >= limit as usize {
            return false;
        }
        self.instants.push_back(now);
        true
    }
}

/// Every call that arrives, and the calls the rate limit let through, each in its window.
#[derive(Default, Debug)]
pub(super) struct Windows {
    arrivals: SlidingSecond,
    max_arrivals: u64,
    admitted: SlidingSecond,
}

impl Windows {
    /// Counts a call in the busiest-second statistic and, under a `limit`, returns whether the
    /// rate limit lets it through.
    pub(super) fn arrive(&mut self, now: Instant, limit: Option<u32>) -> bool {
        let in_window = self.arrivals.record(now);
        self.max_arrivals = self.max_arrivals.max(in_window);
        limit.is_none_or(|limit| self.admitted.admit(now, limit))
    }

    /// The most calls seen in any one second.
    pub(super) fn max_arrivals(&self) -> u64 {
        self.max_arrivals
    }

    /// A new day at the vendor: the rate limit starts over; the busiest second is history.
    pub(super) fn new_day(&mut self) {
        self.admitted = SlidingSecond::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window_admits_at_most_the_limit_per_second() {
        let start = Instant::now();
        let mut window = SlidingSecond::default();
        let admitted = (0..20)
            .filter(|&step| window.admit(start + Duration::from_millis(step * 10), 5))
            .count();
        assert_eq!(admitted, 5);
        // The first call leaves the window exactly one second after it came.
        assert!(!window.admit(start + Duration::from_millis(999), 5));
        assert!(window.admit(start + Duration::from_millis(1000), 5));
        assert!(!window.admit(start + Duration::from_millis(1001), 5));
    }

    #[test]
    fn busiest_second_counts_calls_within_one_second() {
        let start = Instant::now();
        let mut window = SlidingSecond::default();
        let counts: Vec<u64> = [0, 100, 900, 1000, 1950, 2500]
            .into_iter()
            .map(|millis| window.record(start + Duration::from_millis(millis)))
            .collect();
        assert_eq!(counts, [1, 2, 3, 3, 2, 2]);
    }
}
