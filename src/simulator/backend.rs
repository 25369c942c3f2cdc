//! The simulated vendor behind the HTTP layer: which answer a call gets (key, rate limit,
//! quota, card, seeded timeouts), billing against the quota, and how long it takes.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::answers::{flags_on, is_card_number, Answer, OrderIds, Verdict};
use super::config::SimulatorConfig;
use super::faults::{draw, Draw};
use super::lock;
use super::stats::{Counters, Stats};
use super::window::Windows;

/// A wake-up later than this says the machine stalled, not how the timer behaves.
const LATENESS_CAP_NS: u64 = 10_000_000;

/// State shared by all connections.
pub(super) struct Backend {
    pub(super) config: SimulatorConfig,
    pub(super) counters: Counters,
    orderids: OrderIds,
    /// Successful calls since the start or the last `POST /reset`.
    quota_used: AtomicU64,
    /// How late the timer wakes a sleeping call, on average, in nanoseconds.
    timer_lateness_ns: AtomicU64,
    /// The day whose blacklists the answers come from (`--day`, `POST /next-day`).
    day: AtomicU32,
    windows: Mutex<Windows>,
}

impl Backend {
    pub(super) fn new(config: SimulatorConfig) -> Backend {
        Backend {
            counters: Counters::default(),
            orderids: OrderIds::new(),
            quota_used: AtomicU64::new(0),
            timer_lateness_ns: AtomicU64::new(0),
            day: AtomicU32::new(config.day),
            windows: Mutex::new(Windows::default()),
            config,
        }
    }

    /// Counts the call in the busiest-second statistic and, when `rate_limited` applies,
    /// returns whether the rate limit lets it through.
    pub(super) fn note_arrival(&self, now: Instant, rate_limited: bool) -> bool {
        self.counters.note_arrival_time();
        let limit = self.config.qps_limit;
        let limit = (rate_limited && limit > 0).then_some(limit);
        lock(&self.windows).arrive(now, limit)
    }

    pub(super) fn judge(
        &self,
        call: u64,
        key_ok: bool,
        rate_ok: bool,
        card: Option<&str>,
    ) -> Verdict {
        let quota = self.config.quota;
        if !key_ok {
            Verdict::BadKey
        } else if !rate_ok {
            Verdict::RateLimited
        } else if quota > 0 && self.quota_used.load(Ordering::Relaxed) >= quota {
            Verdict::QuotaUsedUp
        } else if !card.is_some_and(is_card_number) {
            Verdict::BadCard
        } else if draw(self.config.seed, call, Draw::SourceTimeout) < self.config.timeout_rate {
            Verdict::SourceTimeout
        } else if !self.bill() {
            // Concurrent calls took the last of the quota since the check above.
            Verdict::QuotaUsedUp
        } else {
            Verdict::Ok
        }
    }

    /// Counts one success against the quota, or refuses if it is used up.
    fn bill(&self) -> bool {
        let quota = self.config.quota;
        let billed = self
            .quota_used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (quota == 0 || used < quota).then_some(used + 1)
            })
            .is_ok();
        if billed {
            self.counters.count_ok();
        }
        billed
    }

    /// The answer to a call with this verdict.
    pub(super) fn answer(&self, verdict: Verdict, card: Option<&str>) -> Answer {
        match verdict {
            Verdict::Ok => Answer::success(
                card.map(|card| self.flags(card)).unwrap_or_default(),
                self.orderids.next(),
            ),
            refusal => Answer::refusal(refusal),
        }
    }

    /// The answer a slow or truncated call carries: what the vendor would say, without
    /// touching the quota or the rate limit, since the client is not meant to get it whole.
    pub(super) fn unbilled_answer(&self, key_ok: bool, card: Option<&str>) -> Answer {
        match card {
            _ if !key_ok => Answer::refusal(Verdict::BadKey),
            Some(card) if is_card_number(card) => {
                Answer::success(self.flags(card), self.orderids.next())
            }
            _ => Answer::refusal(Verdict::BadCard),
        }
    }

    pub(super) async fn service_time(&self, call: u64) {
        let mean = self.config.latency;
        if mean.is_zero() {
            return;
        }
        let jitter = 0.5 + draw(self.config.seed, call, Draw::Latency);
        let wanted = mean.mul_f64(jitter);
        // The timer wakes a sleeper after its deadline, about a millisecond on average (it
        // ticks in milliseconds, and waking takes time). Asking for that much less keeps the
        // mean service time at `--latency`, so that Little's law holds against the simulator.
        let lateness = Duration::from_nanos(self.timer_lateness_ns.load(Ordering::Relaxed));
        let asked = wanted.saturating_sub(lateness);
        let started = Instant::now();
        tokio::time::sleep(asked).await;
        let late = started.elapsed().saturating_sub(asked).as_nanos();
        let late = u64::try_from(late).unwrap_or(u64::MAX).min(LATENESS_CAP_NS);
        // A moving average over about 32 sleeps; concurrent updates only blur it a little.
        let average = self.timer_lateness_ns.load(Ordering::Relaxed);
        self.timer_lateness_ns
            .store(average - average / 32 + late / 32, Ordering::Relaxed);
    }

    fn flags(&self, card: &str) -> [bool; 6] {
        flags_on(card, self.day.load(Ordering::Relaxed))
    }

    /// The blacklists move on a day (about 1% of cards change); returns the new day.
    pub(super) fn next_day(&self) -> u32 {
        self.day.fetch_add(1, Ordering::Relaxed).saturating_add(1)
    }

    /// A new day at the vendor: the quota and the rate window start over, counters stay.
    pub(super) fn new_day(&self) {
        self.quota_used.store(0, Ordering::Relaxed);
        lock(&self.windows).new_day();
        self.counters.count_reset();
    }

    pub(super) fn stats(&self) -> Stats {
        let max_calls_in_1s = lock(&self.windows).max_arrivals();
        let mut stats = self
            .counters
            .snapshot(self.quota_used.load(Ordering::Relaxed), max_calls_in_1s);
        stats.day = self.day.load(Ordering::Relaxed);
        stats
    }
}
