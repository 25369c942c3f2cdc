//! The send rate: a governor limiter at `--rate`/`--burst`, made adaptive. When the vendor
//! answers 10011 the rate is cut to what the vendor actually let through and sending pauses
//! briefly; while calls succeed the rate climbs back slowly (AIMD, like the adaptive retry mode
//! of the AWS SDKs), never above what the user set.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// After a cut, the rate is at most this share of what the vendor accepted in the last second.
const ACCEPTED_SHARE: f64 = 0.9;
/// A cut leaves at most this share of the rate in force.
const DECREASE_FACTOR: f64 = 0.9;
/// Cuts closer together than this count as one: the calls already in flight when the vendor
/// first said "too fast" answer 10011 too, and must not each cut the rate again.
const CUT_COOLDOWN: Duration = Duration::from_millis(500);
/// Vendors count requests per second; after a heavy overshoot the current second is spent.
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// How long the rate must go without 10011 before each step up.
const RECOVERY_STEP: Duration = Duration::from_secs(3);
/// Each step up multiplies the rate by this much.
const RECOVERY_FACTOR: f64 = 1.05;
const MIN_RATE: f64 = 0.2;

pub struct Pacer {
    /// The rate the user set; `None` = unlimited until the vendor says otherwise.
    ceiling: Option<f64>,
    burst: NonZeroU32,
    state: Mutex<PacerState>,
    clock: DefaultClock,
    /// Callers wait for the limiter one at a time, in arrival order. Left to race, the tasks
    /// sleeping on the same instant wake in the order they went to sleep, and a row coming back
    /// from a backoff loses every race and starves while the rows behind it get through.
    turnstile: tokio::sync::Semaphore,
}

struct PacerState {
    /// `None` while running unlimited.
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    rate: Option<f64>,
    /// No call goes out before this instant.
    paused_until: Option<Instant>,
    last_cut: Option<Instant>,
    last_step: Instant,
    /// Calls the vendor accepted, counted per second, to know what it lets through.
    accepted: AcceptedRate,
}

/// Calls accepted in the current and the previous one-second bucket.
struct AcceptedRate {
    started: Instant,
    bucket_start: Instant,
    this_bucket: u64,
    last_bucket: u64,
}

impl AcceptedRate {
    fn new(now: Instant) -> AcceptedRate {
        AcceptedRate {
            started: now,
            bucket_start: now,
            this_bucket: 0,
            last_bucket: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.bucket_start);
        if elapsed >= Duration::from_secs(2) {
            self.last_bucket = 0;
            self.this_bucket = 0;
            self.bucket_start = now;
        } else if elapsed >= Duration::from_secs(1) {
            self.last_bucket = self.this_bucket;
            self.this_bucket = 0;
            self.bucket_start += Duration::from_secs(1);
        }
    }

    fn count(&mut self, now: Instant) {
        self.roll(now);
        self.this_bucket += 1;
    }

    /// Accepted calls over the last second, sliding.
    fn per_second(&mut self, now: Instant) -> f64 {
        self.roll(now);
        if now.duration_since(self.started) < Duration::from_secs(1) {
            // Younger than a second: all that was accepted so far counts as this second's.
            return self.this_bucket as f64;
        }
        let into_bucket = now.duration_since(self.bucket_start).as_secs_f64().min(1.0);
        self.this_bucket as f64 + self.last_bucket as f64 * (1.0 - into_bucket)
    }
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
                paused_until: None,
                last_cut: None,
                last_step: now,
                accepted: AcceptedRate::new(now),
            }),
            clock: DefaultClock::default(),
            turnstile: tokio::sync::Semaphore::new(1),
        }
    }

    /// Waits until one more call may be sent.
    pub async fn ready(&self) {
        if self.ceiling.is_none() && self.lock().limiter.is_none() {
            return;
        }
        // The semaphore is never closed, so acquiring cannot fail.
        let _turn = self.turnstile.acquire().await;
        loop {
            let (limiter, paused_until) = {
                let state = self.lock();
                (state.limiter.clone(), state.paused_until)
            };
            if let Some(until) = paused_until {
                if until > Instant::now() {
                    tokio::time::sleep_until(until.into()).await;
                    continue;
                }
            }
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

    /// The vendor answered 10011: cut the rate to a little under what it accepted in the last
    /// second, and pause for as much of a second as the overshoot was large.
    pub fn on_throttled(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        if state
            .last_cut
            .is_some_and(|t| now.duration_since(t) < CUT_COOLDOWN)
        {
            return;
        }
        let accepted = state.accepted.per_second(now);
        let current = state.rate.unwrap_or(f64::INFINITY);
        let cut = if accepted >= 1.0 {
            (accepted * ACCEPTED_SHARE).min(current * DECREASE_FACTOR)
        } else {
            current.min(2.0) * 0.5
        }
        .max(MIN_RATE);
        let overshoot = if current.is_finite() && current > 0.0 {
            (1.0 - cut / current).clamp(0.0, 1.0)
        } else {
            1.0
        };
        tracing::warn!(
            from = %state.rate.map_or("unlimited".to_string(), |r| format!("{r:.1}")),
            to = %format!("{cut:.1}"),
            "The API says calls come too fast (10011); slowing down."
        );
        state.set_rate(cut, self.burst);
        state.paused_until = Some(now + MAX_PAUSE.mul_f64(overshoot));
        state.last_cut = Some(now);
        state.last_step = now;
    }

    /// A call got through without 10011: after a quiet spell, climb back a step.
    pub fn on_accepted(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        state.accepted.count(now);
        let Some(rate) = state.rate else { return };
        if state.last_cut.is_none() || now.duration_since(state.last_step) < RECOVERY_STEP {
            return;
        }
        state.last_step = now;
        let raised = rate * RECOVERY_FACTOR + 0.1;
        match self.ceiling {
            Some(ceiling) if raised >= ceiling => {
                state.set_rate(ceiling, self.burst);
                state.last_cut = None;
                tracing::info!(rate = %format!("{ceiling:.1}"), "Back to the configured rate.");
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
    fn throttling_cuts_to_under_what_was_accepted_once_per_cooldown() {
        let pacer = Pacer::new(Some(40.0), 1);
        for _ in 0..10 {
            pacer.on_accepted();
        }
        pacer.on_throttled();
        pacer.on_throttled();
        let rate = pacer.current_rate().unwrap();
        assert!((rate - 9.0).abs() < 1e-9, "{rate}");
        assert!(pacer.lock().paused_until.is_some());
    }

    #[test]
    fn a_cut_takes_off_at_least_a_share_of_the_rate() {
        let pacer = Pacer::new(Some(10.0), 1);
        for _ in 0..100 {
            pacer.on_accepted();
        }
        pacer.on_throttled();
        assert_eq!(pacer.current_rate(), Some(9.0));
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
