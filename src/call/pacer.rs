//! The send rate: calls spaced evenly at `--rate`, `--burst` of them allowed at once, and never
//! more than that in any second as the vendor counts them; made adaptive. When the vendor
//! answers 10011 the rate is cut to a little under what it accepted in the last second and
//! sending pauses briefly; while calls succeed the rate climbs back slowly (AIMD, like the
//! adaptive retry mode of the AWS SDKs), never above what the user set.
//!
//! The spacing is `governor`'s: a limiter whose burst holds, beyond `--burst`, the few
//! milliseconds the async timer wakes late. Around it sit what governor has no notion of: the
//! cap of `--rate` calls in any window as the vendor counts them, the turn that serves waiting
//! callers in arrival order, and the response to 10011 (a new limiter at the new rate).

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
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
/// sleeper up to a millisecond or two after its deadline; a limiter without room for it pushes
/// every later call back by that much, and `--rate 200` sent 162 calls a second. The limiter's
/// burst grows by the calls the rate allows in this time (at least one).
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

pub(crate) struct Pacer<C: Clock<Instant = Instant> = MonotonicClock> {
    /// The rate the user set; `None` = unlimited until the vendor says otherwise.
    ceiling: Option<f64>,
    burst: u32,
    clock: C,
    state: Mutex<PacerState<C>>,
    /// Callers wait for the next slot one at a time, in arrival order. Left to race, the tasks
    /// sleeping on the same instant wake in the order they went to sleep, and a row coming back
    /// from a backoff loses every race and starves while the rows behind it get through. The
    /// permit guards no data; the state lock is never held across an await.
    turn: Semaphore,
}

struct PacerState<C: Clock<Instant = Instant>> {
    /// `None` while running unlimited.
    schedule: Option<Schedule<C>>,
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

type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<Instant>>;

/// When calls may go: spaced at the rate by governor's limiter, and never more than
/// `window_calls` in any `WINDOW` of the instants calls are actually sent. In the steady state
/// the window binds (1.5% under the rate); after a stall the limiter's burst lets calls catch up
/// until the window binds again, which makes up to 15 ms a second.
struct Schedule<C: Clock<Instant = Instant>> {
    limiter: Limiter<C>,
    clock: C,
    /// How many calls any `WINDOW` may hold; 0 when not tracked.
    window_calls: usize,
    /// When the latest calls went, oldest first, at most `window_calls` of them.
    recent: VecDeque<Instant>,
}

impl<C: Clock<Instant = Instant> + Clone> Schedule<C> {
    fn new(rate: f64, burst: u32, clock: &C) -> Schedule<C> {
        let rate = rate.max(MIN_RATE);
        let period = Duration::from_secs_f64(1.0 / rate);
        let slack = (rate * TIMER_SLACK.as_secs_f64()).ceil().max(1.0) as u32;
        let cells = NonZeroU32::new(burst.max(1).saturating_add(slack)).unwrap_or(NonZeroU32::MIN);
        // A rate so high that its period rounds to nothing is as good as unlimited.
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(cells);
        let window_calls = (rate.floor() as usize)
            .saturating_add(burst.max(1) as usize - 1)
            .max(1);
        let window_calls = if window_calls > MAX_WINDOW_CALLS {
            0
        } else {
            window_calls
        };
        Schedule {
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock: clock.clone(),
            window_calls,
            recent: VecDeque::with_capacity(window_calls),
        }
    }

    /// Takes the slot for a call sent now, or says how long to wait for one.
    fn take(&mut self) -> Result<(), Duration> {
        let now = self.clock.now();
        if self.window_calls > 0 && self.recent.len() >= self.window_calls {
            if let Some(&oldest) = self.recent.front() {
                let opens = oldest + WINDOW;
                if now < opens {
                    return Err(opens - now);
                }
            }
        }
        // Asked only once the window has room: a cell the limiter hands out is a call sent.
        if let Err(not_until) = self.limiter.check() {
            return Err(not_until.wait_time_from(now));
        }
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
        Pacer::with_clock(options, MonotonicClock)
    }
}

impl<C: Clock<Instant = Instant> + Clone> Pacer<C> {
    fn with_clock(options: PacerOptions, clock: C) -> Pacer<C> {
        let PacerOptions { rate, burst } = options;
        let burst = burst.max(1);
        let now = clock.now();
        Pacer {
            ceiling: rate,
            burst,
            state: Mutex::new(PacerState {
                schedule: rate.map(|r| Schedule::new(r, burst, &clock)),
                rate,
                paused_until: None,
                last_cut: None,
                last_step: now,
                accepted: AcceptedRate::new(now),
            }),
            clock,
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
                let now = self.clock.now();
                match (state.paused_until, state.schedule.as_mut()) {
                    (Some(until), _) if until > now => until - now,
                    (_, None) => return,
                    (_, Some(schedule)) => match schedule.take() {
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
        let now = self.clock.now();
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
        state.set_rate(cut, self.burst, &self.clock);
        state.paused_until = Some(now + MAX_PAUSE.mul_f64(overshoot));
        state.last_cut = Some(now);
        state.last_step = now;
    }

    /// The run's first call came back. It opened a connection, and how long that took before
    /// the vendor counted it is unknown: the window counts it as sent when its answer came,
    /// the latest it can have arrived. Stamped at its slot, a first call slowed by 20 ms of
    /// set-up let the vendor see six calls in one second at `--rate 5` (one run in three).
    pub(crate) fn first_call_answered(&self) {
        let now = self.clock.now();
        if let Some(schedule) = self.lock().schedule.as_mut() {
            if let Some(last) = schedule.recent.back_mut() {
                *last = (*last).max(now);
            }
        }
    }

    /// A call got through without 10011: after a quiet spell, climb back a step.
    pub(crate) fn on_accepted(&self) {
        let now = self.clock.now();
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
                state.set_rate(ceiling, self.burst, &self.clock);
                state.last_cut = None;
                tracing::info!(rate = %format!("{ceiling:.1}"), "Back to the configured rate.");
            }
            _ => state.set_rate(raised, self.burst, &self.clock),
        }
    }

    /// The rate in force, `None` when unlimited.
    #[cfg(test)]
    fn current_rate(&self) -> Option<f64> {
        self.lock().rate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState<C>> {
        // A panic while holding this lock cannot leave the state inconsistent, so recover it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<C: Clock<Instant = Instant> + Clone> PacerState<C> {
    /// A new limiter at the new rate. The calls of the last second still count: a new rate
    /// must not let calls through at once beyond what the window allows.
    fn set_rate(&mut self, rate: f64, burst: u32, clock: &C) {
        self.rate = Some(rate);
        let mut schedule = Schedule::new(rate, burst, clock);
        if let Some(old) = self.schedule.take() {
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
    use std::sync::Arc;

    use super::*;

    /// A clock the test moves by hand.
    #[derive(Clone)]
    struct ManualClock(Arc<Mutex<Instant>>);

    impl ManualClock {
        fn new() -> ManualClock {
            ManualClock(Arc::new(Mutex::new(Instant::now())))
        }

        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for ManualClock {
        type Instant = Instant;

        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    fn pacer(rate: Option<f64>, burst: u32) -> Pacer<ManualClock> {
        Pacer::with_clock(PacerOptions { rate, burst }, ManualClock::new())
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
        pacer.lock().rate = Some(9.9);
        pacer.clock.advance(RECOVERY_STEP * 2);
        pacer.on_accepted();
        assert_eq!(pacer.current_rate(), Some(10.0));
    }

    /// Sends calls as a caller of `ready` would, each woken `lateness(n)` after the instant
    /// the schedule named, and returns the instants they went out.
    fn send(
        schedule: &mut Schedule<ManualClock>,
        calls: usize,
        lateness: impl Fn(usize) -> Duration,
    ) -> Vec<Instant> {
        let mut sent = Vec::with_capacity(calls);
        while sent.len() < calls {
            match schedule.take() {
                Ok(()) => sent.push(schedule.clock.now()),
                Err(wait) => schedule.clock.advance(wait + lateness(sent.len())),
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

    /// Up to 2.9 ms late, varying call by call as the timer does.
    fn timer_lateness(n: usize) -> Duration {
        Duration::from_micros((n as u64 * 7_919) % 2_900)
    }

    #[test]
    fn late_wake_ups_cost_no_rate_and_never_crowd_a_second() {
        for rate in [5.0, 10.0, 50.0, 200.0, 1000.0] {
            let calls = (rate as usize * 10).max(100);
            let mut schedule = Schedule::new(rate, 1, &ManualClock::new());
            let sent = send(&mut schedule, calls, timer_lateness);
            assert!(
                busiest_second(&sent) <= rate as usize,
                "{rate}: {}",
                busiest_second(&sent)
            );
            let achieved = achieved_rate(&sent);
            assert!(
                achieved >= rate * 0.98 && achieved <= rate,
                "{rate}: {achieved}"
            );
        }
    }

    #[test]
    fn a_stall_never_crowds_a_window() {
        // Call 500 wakes 60 ms late; the others up to 2.9 ms late.
        let lateness = |n: usize| {
            if n == 500 {
                Duration::from_millis(60)
            } else {
                timer_lateness(n)
            }
        };
        let mut schedule = Schedule::new(200.0, 1, &ManualClock::new());
        let sent = send(&mut schedule, 2_000, lateness);
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
        {
            let mut state = pacer.lock();
            let schedule = state.schedule.as_mut().unwrap();
            for _ in 0..100 {
                assert_eq!(schedule.take(), Ok(()));
                pacer.clock.advance(Duration::from_millis(10));
            }
        }
        {
            let now = pacer.clock.now();
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
        let wait = schedule.take().unwrap_err();
        assert!(wait >= Duration::from_millis(300), "{wait:?}");
    }

    #[test]
    fn a_burst_goes_at_once_then_the_rate_holds() {
        let clock = ManualClock::new();
        let mut schedule = Schedule::new(10.0, 4, &clock);
        for _ in 0..4 {
            assert_eq!(schedule.take(), Ok(()));
        }
        let sent = send(&mut schedule, 100, |_| Duration::ZERO);
        // 10 a second, plus the three the burst allows above it.
        assert!(busiest_second(&sent) <= 13, "{}", busiest_second(&sent));
        let rate = achieved_rate(&sent);
        assert!((9.7..=10.0).contains(&rate), "{rate}");
    }

    #[test]
    fn the_first_call_counts_as_sent_when_its_answer_came() {
        let pacer = pacer(Some(5.0), 1);
        assert_eq!(pacer.lock().schedule.as_mut().unwrap().take(), Ok(()));
        // The first call took 30 ms to come back.
        pacer.clock.advance(Duration::from_millis(30));
        pacer.first_call_answered();
        let mut sent = vec![pacer.clock.now()];
        let mut state = pacer.lock();
        let schedule = state.schedule.as_mut().unwrap();
        while sent.len() < 6 {
            match schedule.take() {
                Ok(()) => sent.push(schedule.clock.now()),
                Err(wait) => schedule.clock.advance(wait),
            }
        }
        // The sixth call waits for a full window after the first one's answer.
        assert!(sent[5].duration_since(sent[0]) >= WINDOW, "{sent:?}");
    }

    #[test]
    fn unlimited_stays_unlimited_until_throttled() {
        let pacer = pacer(None, 1);
        pacer.on_accepted();
        assert_eq!(pacer.current_rate(), None);
        assert!(pacer.try_ready());
        pacer.on_throttled();
        assert!(pacer.current_rate().is_some());
        assert!(!pacer.try_ready());
    }
}
