//! The send rate: a governor limiter at `--rate`/`--burst`, made adaptive. When the vendor
//! answers 10011 the rate is cut multiplicatively; while calls succeed it climbs back slowly
//! (AIMD, like the adaptive retry mode of the AWS SDKs), never above what the user set.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// After a cut, how much of the rate to keep.
const DECREASE_FACTOR: f64 = 0.7;
/// Cuts closer together than this count as one: the calls already in flight when the vendor
/// first said "too fast" answer 10011 too, and must not each halve the rate again.
const CUT_COOLDOWN: Duration = Duration::from_secs(1);
/// How long to wait after a cut before climbing again, and between steps up.
const RECOVERY_STEP: Duration = Duration::from_secs(2);
/// Each step up adds this share of the rate the user asked for.
const RECOVERY_SHARE: f64 = 0.05;
const MIN_RATE: f64 = 0.1;

pub struct Pacer {
    /// The rate the user set; `None` = unlimited until the vendor says otherwise.
    ceiling: Option<f64>,
    burst: NonZeroU32,
    state: Mutex<PacerState>,
    clock: DefaultClock,
}

struct PacerState {
    /// `None` while running unlimited.
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    rate: Option<f64>,
    last_cut: Option<Instant>,
    last_step: Instant,
    /// Calls sent in the current second while unlimited, to know where to cut from.
    window_start: Instant,
    window_calls: u64,
    last_window_rate: f64,
}

impl Pacer {
    pub fn new(rate: Option<f64>, burst: u32) -> Pacer {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let now = Instant::now();
        Pacer {
            ceiling: rate,
            burst,
            state: Mutex::new(PacerState {
                limiter: rate.map(|r| Arc::new(limiter(r, burst))),
                rate,
                last_cut: None,
                last_step: now,
                window_start: now,
                window_calls: 0,
                last_window_rate: 0.0,
            }),
            clock: DefaultClock::default(),
        }
    }

    /// Waits until one more call may be sent.
    pub async fn ready(&self) {
        loop {
            let limiter = {
                let mut state = self.lock();
                if state.limiter.is_none() {
                    state.count_unlimited_call();
                }
                state.limiter.clone()
            };
            let Some(limiter) = limiter else { return };
            match limiter.check() {
                Ok(()) => return,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// The vendor answered 10011.
    pub fn on_throttled(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        if state
            .last_cut
            .is_some_and(|t| now.duration_since(t) < CUT_COOLDOWN)
        {
            return;
        }
        let current = state
            .rate
            .unwrap_or_else(|| state.observed_rate(now).max(1.0));
        let cut = (current * DECREASE_FACTOR).max(MIN_RATE);
        tracing::warn!(
            from = format!("{current:.1}"),
            to = format!("{cut:.1}"),
            "The API says calls come too fast (10011); slowing down."
        );
        state.set_rate(cut, self.burst);
        state.last_cut = Some(now);
        state.last_step = now;
    }

    /// A call got through without 10011: after a quiet spell, climb back a step.
    pub fn on_accepted(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        let Some(rate) = state.rate else { return };
        if state.last_cut.is_none() || now.duration_since(state.last_step) < RECOVERY_STEP {
            return;
        }
        state.last_step = now;
        let step = self.ceiling.unwrap_or(rate) * RECOVERY_SHARE;
        let raised = rate + step.max(MIN_RATE);
        match self.ceiling {
            Some(ceiling) if raised >= ceiling => {
                state.set_rate(ceiling, self.burst);
                state.last_cut = None;
                tracing::info!(rate = ceiling, "Back to the configured rate.");
            }
            _ => state.set_rate(raised, self.burst),
        }
    }

    /// The rate in force, `None` when unlimited.
    pub fn current_rate(&self) -> Option<f64> {
        self.lock().rate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        // A panic while holding this lock cannot leave the state inconsistent, so recover it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl PacerState {
    fn set_rate(&mut self, rate: f64, burst: NonZeroU32) {
        self.rate = Some(rate);
        self.limiter = Some(Arc::new(limiter(rate, burst)));
    }

    fn count_unlimited_call(&mut self) {
        self.window_calls += 1;
        let now = Instant::now();
        let elapsed = now.duration_since(self.window_start);
        if elapsed >= Duration::from_secs(1) {
            self.last_window_rate = self.window_calls as f64 / elapsed.as_secs_f64();
            self.window_calls = 0;
            self.window_start = now;
        }
    }

    fn observed_rate(&self, now: Instant) -> f64 {
        let elapsed = now.duration_since(self.window_start).as_secs_f64();
        if self.last_window_rate > 0.0 {
            self.last_window_rate
        } else if elapsed > 0.0 {
            self.window_calls as f64 / elapsed
        } else {
            1.0
        }
    }
}

fn limiter(rate: f64, burst: NonZeroU32) -> DefaultDirectRateLimiter {
    let period = Duration::from_secs_f64(1.0 / rate.max(MIN_RATE));
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    RateLimiter::direct(quota)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_cuts_the_rate_once_per_cooldown() {
        let pacer = Pacer::new(Some(40.0), 1);
        pacer.on_throttled();
        pacer.on_throttled();
        let rate = pacer.current_rate().unwrap();
        assert!((rate - 28.0).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn recovery_never_exceeds_the_configured_rate() {
        let pacer = Pacer::new(Some(10.0), 1);
        pacer.on_throttled();
        {
            let mut state = pacer.lock();
            state.last_step = Instant::now() - RECOVERY_STEP * 2;
            state.rate = Some(9.9);
        }
        pacer.on_accepted();
        assert_eq!(pacer.current_rate(), Some(10.0));
    }

    #[test]
    fn unlimited_stays_unlimited_until_throttled() {
        let pacer = Pacer::new(None, 1);
        pacer.on_accepted();
        assert_eq!(pacer.current_rate(), None);
        pacer.on_throttled();
        assert!(pacer.current_rate().is_some());
    }
}
