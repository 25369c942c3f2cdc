//! The send rate: calls spaced evenly at `--rate`, `--burst` of them allowed at once, and never
//! more than that in any second as the vendor counts them; made adaptive. When the vendor
//! answers 10011 the rate is cut to a little under what it accepted in the last second and
//! sending pauses briefly; while calls succeed the rate climbs back slowly (AIMD, like the
//! adaptive retry mode of the AWS SDKs), never above what the user set.
//!
//! The spacing is a generic cell rate algorithm of our own rather than `governor`'s: governor
//! has no room for the millisecond or two the async timer wakes late, so each late wake-up
//! pushed every later call back and `--rate 200` sent 162 calls a second (BENCHMARKS.md).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

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
/// How late a call may be sent without the schedule losing that time. The async timer wakes a
/// sleeper up to a millisecond or two after its deadline; without this slack every call would
/// push the next one back by that much, and `--rate 200` would send about 160 calls a second.
const TIMER_SLACK: Duration = Duration::from_millis(3);
/// The vendor counts calls in any 1 s window as they arrive, after network and scheduling
/// jitter. So at most `--rate` calls (plus the burst) go out in any window this much longer
/// than a second: arrivals may bunch up by 15 ms before the vendor counts one too many. With
/// 7 ms of room a busy 2-core machine still showed 201 calls in one window out of five runs at
/// `--rate 200`. It costs 1.5% of the rate.
const WINDOW: Duration = Duration::from_millis(1_015);
/// Above this many calls a window, the window is not tracked call by call (it would take
/// 16 bytes a call); the even spacing alone holds the rate.
const MAX_WINDOW_CALLS: usize = 65_536;

/// What the pacer needs from the settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacerOptions {
    /// Calls per second; `None` = unlimited until the vendor says otherwise.
    pub(crate) rate: Option<f64>,
    /// Calls allowed at once above the rate.
    pub(crate) burst: u32,
}

pub(crate) struct Pacer {
    /// The rate the user set; `None` = unlimited until the vendor says otherwise.
    ceiling: Option<f64>,
    burst: u32,
    state: Mutex<PacerState>,
    /// Callers wait for the next slot one at a time, in arrival order. Left to race, the tasks
    /// sleeping on the same instant wake in the order they went to sleep, and a row coming back
    /// from a backoff loses every race and starves while the rows behind it get through. The
    /// permit guards no data; the state lock is never held across an await.
    turn: Semaphore,
}

struct PacerState {
    /// `None` while running unlimited.
    schedule: Option<Schedule>,
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

/// When calls may go: evenly spaced at the rate by the generic cell rate algorithm (call `n + k`
/// never earlier than `k` spacings after call `n`, less the tolerance), and never more than
/// `window_calls` in any `WINDOW`. Both are judged on the instants calls are actually sent.
/// In the steady state the window binds (1.5% under the rate); after a stall the spacing lets
/// calls catch up at the full rate until it binds again, which makes up to 15 ms a second.
#[derive(Debug, Clone)]
struct Schedule {
    spacing: Duration,
    tolerance: Duration,
    /// When the next call is due; `None` before the first.
    due: Option<Instant>,
    /// How many calls any `WINDOW` may hold; 0 when not tracked.
    window_calls: usize,
    /// When the latest calls went, oldest first, at most `window_calls` of them.
    recent: VecDeque<Instant>,
}

impl Schedule {
    fn new(rate: f64, burst: u32) -> Schedule {
        let rate = rate.max(MIN_RATE);
        let spacing = Duration::from_secs_f64(1.0 / rate);
        let window_calls = (rate.floor() as usize)
            .saturating_add(burst as usize - 1)
            .max(1);
        let window_calls = if window_calls > MAX_WINDOW_CALLS {
            0
        } else {
            window_calls
        };
        Schedule {
            spacing,
            tolerance: spacing * burst.saturating_sub(1) + TIMER_SLACK,
            due: None,
            window_calls,
            recent: VecDeque::with_capacity(window_calls),
        }
    }

    /// Takes the slot for a call sent at `now`, or says how long to wait for one.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let due = self.due.unwrap_or(now);
        let mut earliest = due.checked_sub(self.tolerance).unwrap_or(due);
        if self.window_calls > 0 && self.recent.len() >= self.window_calls {
            if let Some(&oldest) = self.recent.front() {
                earliest = earliest.max(oldest + WINDOW);
            }
        }
        if now < earliest {
            return Err(earliest - now);
        }
        self.due = Some(due.max(now) + self.spacing);
        if self.window_calls > 0 {
            while self.recent.len() >= self.window_calls {
                self.recent.pop_front();
            }
            self.recent.push_back(now);
        }
        Ok(())
    }
}

impl Pacer {
    pub(crate) fn new(options: PacerOptions) -> Pacer {
        let PacerOptions { rate, burst } = options;
        let burst = burst.max(1);
        let now = Instant::now();
        Pacer {
            ceiling: rate,
            burst,
            state: Mutex::new(PacerState {
                schedule: rate.map(|r| Schedule::new(r, burst)),
                rate,
                paused_until: None,
                last_cut: None,
                last_step: now,
                accepted: AcceptedRate::new(now),
            }),
            turn: Semaphore::new(1),
        }
    }

    /// Waits until one more call may be sent.
    pub(crate) async fn ready(&self) {
        if self.try_ready() {
            return;
        }
        // The semaphore is never closed, so this cannot fail; if it did, pacing without the
        // queue is still exact, only busier.
        let _turn = self.turn.acquire().await;
        loop {
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                match (state.paused_until, state.schedule.as_mut()) {
                    (Some(until), _) if until > now => until - now,
                    (_, None) => return,
                    (_, Some(schedule)) => match schedule.take(now) {
                        Ok(()) => return,
                        Err(wait) => wait,
                    },
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a slot without waiting when that needs no queueing: while running unlimited.
    /// `false` means call `ready`.
    pub(crate) fn try_ready(&self) -> bool {
        self.lock().schedule.is_none()
    }

    /// The vendor answered 10011: cut the rate to a little under what it accepted in the last
    /// second, and pause for as much of a second as the overshoot was large.
    pub(crate) fn on_throttled(&self) {
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
    pub(crate) fn on_accepted(&self) {
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
    #[cfg(test)]
    fn current_rate(&self) -> Option<f64> {
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
    fn set_rate(&mut self, rate: f64, burst: u32) {
        self.rate = Some(rate);
        let mut schedule = Schedule::new(rate, burst);
        // The next call keeps its turn, and the calls of the last second still count: a new
        // rate must not let calls through at once.
        if let Some(old) = self.schedule.take() {
            schedule.due = old.due;
            let keep = old.recent.len().min(schedule.window_calls);
            schedule
                .recent
                .extend(old.recent.iter().skip(old.recent.len() - keep));
        }
        self.schedule = Some(schedule);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(rate: Option<f64>, burst: u32) -> Pacer {
        Pacer::new(PacerOptions { rate, burst })
    }

    #[test]
    fn throttling_cuts_to_under_what_was_accepted_once_per_cooldown() {
        let pacer = pacer(Some(40.0), 1);
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
    fn a_cut_leaves_at_most_a_share_of_the_rate() {
        let pacer = pacer(Some(10.0), 1);
        for _ in 0..100 {
            pacer.on_accepted();
        }
        pacer.on_throttled();
        assert_eq!(pacer.current_rate(), Some(9.0));
    }

    #[test]
    fn recovery_never_exceeds_the_configured_rate() {
        let pacer = pacer(Some(10.0), 1);
        pacer.on_throttled();
        {
            let mut state = pacer.lock();
            state.last_step = Instant::now() - RECOVERY_STEP * 2;
            state.rate = Some(9.9);
        }
        pacer.on_accepted();
        assert_eq!(pacer.current_rate(), Some(10.0));
    }

    /// Sends calls as a caller of `ready` would, each woken `lateness(n)` after the instant
    /// the schedule named, and returns the instants they went out.
    fn send(
        schedule: &mut Schedule,
        calls: usize,
        lateness: impl Fn(usize) -> Duration,
    ) -> Vec<Instant> {
        let mut now = Instant::now();
        let mut sent = Vec::with_capacity(calls);
        while sent.len() < calls {
            match schedule.take(now) {
                Ok(()) => sent.push(now),
                Err(wait) => now += wait + lateness(sent.len()),
            }
        }
        sent
    }

    fn busiest_second(sent: &[Instant]) -> usize {
        let mut first = 0;
        let mut most = 0;
        for (last, &at) in sent.iter().enumerate() {
            while at.duration_since(sent[first]) >= Duration::from_secs(1) {
                first += 1;
            }
            most = most.max(last - first + 1);
        }
        most
    }

    fn achieved_rate(sent: &[Instant]) -> f64 {
        let span = sent[sent.len() - 1].duration_since(sent[0]);
        (sent.len() - 1) as f64 / span.as_secs_f64()
    }

    #[test]
    fn late_wake_ups_cost_no_rate_and_never_crowd_a_second() {
        // Up to 2.9 ms late, varying call by call as the timer does.
        let lateness = |n: usize| Duration::from_micros((n as u64 * 7_919) % 2_900);
        let sent = send(&mut Schedule::new(200.0, 1), 2_000, lateness);
        assert!(busiest_second(&sent) <= 200, "{}", busiest_second(&sent));
        let rate = achieved_rate(&sent);
        assert!((196.5..=200.0).contains(&rate), "{rate}");
    }

    #[test]
    fn a_stall_never_crowds_a_window() {
        // Call 500 wakes 60 ms late; the others up to 2.9 ms late.
        let lateness = |n: usize| {
            if n == 500 {
                Duration::from_millis(60)
            } else {
                Duration::from_micros((n as u64 * 7_919) % 2_900)
            }
        };
        let sent = send(&mut Schedule::new(200.0, 1), 2_000, lateness);
        assert!(busiest_second(&sent) <= 200, "{}", busiest_second(&sent));
        // 201 calls in a row always span the window, margin included.
        assert!(sent
            .windows(201)
            .all(|calls| calls[200].duration_since(calls[0]) >= WINDOW));
        // The stall costs what the window's margin cannot absorb, and no more.
        let rate = achieved_rate(&sent);
        assert!((195.5..=200.0).contains(&rate), "{rate}");
    }

    #[test]
    fn a_cut_keeps_the_calls_of_the_last_second() {
        let pacer = pacer(Some(100.0), 1);
        let now = Instant::now();
        {
            let mut state = pacer.lock();
            let schedule = state.schedule.as_mut().unwrap();
            for k in 0..100u32 {
                assert_eq!(schedule.take(now + Duration::from_millis(10) * k), Ok(()));
            }
        }
        {
            let mut state = pacer.lock();
            for _ in 0..70 {
                state.accepted.count(now);
            }
        }
        pacer.on_throttled();
        let mut state = pacer.lock();
        let schedule = state.schedule.as_mut().unwrap();
        assert_eq!(schedule.window_calls, 63);
        // The last 63 calls went within the last 630 ms: the next must wait for the window.
        let at = now + Duration::from_millis(1_000);
        let wait = schedule.take(at).unwrap_err();
        assert!(wait >= Duration::from_millis(300), "{wait:?}");
    }

    #[test]
    fn a_burst_goes_at_once_then_the_rate_holds() {
        let mut schedule = Schedule::new(10.0, 4);
        let now = Instant::now();
        for _ in 0..4 {
            assert_eq!(schedule.take(now), Ok(()));
        }
        assert!(schedule.take(now).is_err());
        let sent = send(&mut schedule, 100, |_| Duration::ZERO);
        // 10 a second, plus the three the burst allows above it.
        assert!(busiest_second(&sent) <= 13, "{}", busiest_second(&sent));
    }

    #[test]
    fn unlimited_stays_unlimited_until_throttled() {
        let pacer = pacer(None, 1);
        pacer.on_accepted();
        assert_eq!(pacer.current_rate(), None);
        pacer.on_throttled();
        assert!(pacer.current_rate().is_some());
    }
}
