//! The run's shared state of mind: whether it may go on making calls, why it stopped, the call
//! budget, and the live counters that progress reports read.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Why a run stopped before its end. The first reason recorded wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// The API refused the key, IP or interface (exit 4).
    Refused { code: i64, reason: String },
    /// The endpoint's TLS certificate is not trusted (exit 4).
    Untrusted { host: String, why: String },
    /// Too many rows in a row ended in error (exit 4).
    Breaker { failures: u64 },
    /// The vendor's request quota is used up (exit 5).
    Quota { code: i64, reason: String },
    /// `--max-calls` reached (exit 5).
    Budget { calls: u64 },
    /// SIGINT or SIGTERM (exit 130 / 143).
    Signal { number: i32 },
    /// The reader of standard output went away (exit 4).
    OutputClosed,
    /// The disk (or a file size limit) is full (exit 4); `what` could not be written.
    DiskFull { what: &'static str },
    /// The input could not be read to its end (exit 2).
    Input { message: String },
}

impl StopReason {
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            StopReason::Refused { .. }
            | StopReason::Untrusted { .. }
            | StopReason::Breaker { .. }
            | StopReason::OutputClosed
            | StopReason::DiskFull { .. } => 4,
            StopReason::Quota { .. } | StopReason::Budget { .. } => 5,
            StopReason::Signal { number } => 128 + number,
            StopReason::Input { .. } => 2,
        }
    }

    /// One line for a person at 2 a.m.: what happened and what to do.
    pub(crate) fn advice(&self, next: NextRun) -> String {
        let resumable = next == NextRun::Resume;
        let again = match next {
            NextRun::Resume => "run again with --resume",
            NextRun::RetryErrors => "run --retry-errors again",
            NextRun::StartOver => "run again (a run on standard input or output starts over)",
        };
        match self {
            StopReason::Refused { code, reason } => format!(
                "the API refused the key, IP or interface ({code} {reason}); check the key in the environment and the account, then {again}"
            ),
            StopReason::Untrusted { host, why } => format!(
                "the TLS certificate of {host} is not trusted ({why}); if a proxy on this network inspects TLS, pass its CA certificate with --ca-cert PATH (PEM) or set SSL_CERT_FILE, then {again}"
            ),
            StopReason::Breaker { failures } => format!(
                "the last {failures} rows all failed, so the API or the network looks down; check the endpoint, then {again}"
            ),
            StopReason::Quota { code, reason } => format!(
                "the API quota is used up ({code} {reason}); when the quota is renewed, {again}"
            ),
            StopReason::Budget { calls } => format!(
                "the call budget --max-calls {calls} is spent; {again} (with a new budget) to go on"
            ),
            StopReason::Signal { .. } => format!("interrupted; {again} to go on"),
            StopReason::OutputClosed => "output closed: the reader of standard output went away before the last row, so the run stopped calling".to_string(),
            StopReason::DiskFull { what } => format!(
                "disk full: {what} could not be written (the partial output is removed, the answers received are kept); free some space, then {again}"
            ),
            StopReason::Input { message } if resumable => {
                format!("{message}; the results so far are kept for --resume")
            }
            StopReason::Input { message } => message.clone(),
        }
    }
}

/// How a stopped run is continued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextRun {
    /// `--resume` goes on from the journal.
    Resume,
    /// The earlier output is still in place; `--retry-errors` again.
    RetryErrors,
    /// Standard input or output: nothing to go on from.
    StartOver,
}

const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
/// A second signal: no more waiting for calls in flight.
const EXITING: u8 = 2;

/// Live counters for progress lines and the summary.
///
/// The three bumped for every row are each written by a different thread (the reader, the
/// workers, the collector), so each has a cache line of its own: side by side, every bump
/// pulled the line away from the other two cores' caches.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) rows_read: CacheLine<AtomicU64>,
    pub(crate) rows_done: CacheLine<AtomicU64>,
    /// Data rows in the input, once the reader has reached its end (0 until then).
    pub(crate) rows_total: AtomicU64,
    /// Shared with the input decoder, which counts raw bytes as it reads them.
    pub(crate) bytes_read: Arc<AtomicU64>,
    pub(crate) calls: CacheLine<AtomicU64>,
    pub(crate) retries: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) invalid: AtomicU64,
    pub(crate) throttled: AtomicU64,
    /// Rows answered from the result store without a call; the store adds to it (none yet, so
    /// it stays 0).
    pub(crate) reused: AtomicU64,
    /// Cards called before their stored result was due, to level the nights.
    pub(crate) refreshed_early: AtomicU64,
    /// Rows answered from a stored result older than `--max-age`.
    pub(crate) stale: AtomicU64,
}

/// A value alone on its cache line (128 bytes: adjacent-line prefetching pairs 64-byte lines).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CacheLine<T>(pub T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl Counters {
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

pub(crate) struct Control {
    /// Read before every call; on a line of its own so that counter bumps do not evict it.
    state: CacheLine<AtomicU8>,
    reason: Mutex<Option<StopReason>>,
    /// Wakes those waiting for a stop, and for an exit.
    stopped: Notify,
    /// The answers that had arrived when the exit came are journaled.
    saved: Notify,
    /// Calls this run may still make; `u64::MAX` when there is no budget.
    budget_left: AtomicU64,
    budget: Option<u64>,
    pub(crate) counters: Counters,
    /// How to go on after a stop, for the advice.
    next: NextRun,
    /// `--deadline` has come: no more calls, the rest of the rows answered without one.
    past_deadline: AtomicBool,
    deadline: Notify,
}

impl Control {
    pub(crate) fn new(max_calls: Option<u64>, next: NextRun) -> Control {
        Control {
            next,
            state: CacheLine(AtomicU8::new(RUNNING)),
            reason: Mutex::new(None),
            stopped: Notify::new(),
            saved: Notify::new(),
            budget_left: AtomicU64::new(max_calls.unwrap_or(u64::MAX)),
            budget: max_calls,
            counters: Counters::default(),
            past_deadline: AtomicBool::new(false),
            deadline: Notify::new(),
        }
    }

    /// The deadline has come: no call starts after this, and waiting workers give up.
    pub(crate) fn pass_deadline(&self) {
        self.past_deadline.store(true, Ordering::Release);
        self.deadline.notify_waiters();
    }

    pub(crate) fn is_past_deadline(&self) -> bool {
        self.past_deadline.load(Ordering::Acquire)
    }

    /// Resolves once the deadline has come; never without one.
    pub(crate) async fn until_deadline(&self) {
        loop {
            let notified = self.deadline.notified();
            if self.is_past_deadline() {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.state.load(Ordering::Acquire) != RUNNING
    }

    /// Records why the run stops (the first reason wins) and wakes everyone who waits.
    pub(crate) fn stop(&self, reason: StopReason) {
        {
            let mut slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                tracing::warn!(reason = %reason.advice(self.next), "Stopping the run.");
                *slot = Some(reason);
            }
        }
        self.state.store(STOPPING, Ordering::Release);
        self.stopped.notify_waiters();
    }

    /// A second signal: the run exits without waiting for the calls in flight, once the
    /// answers that have already arrived are journaled.
    pub(crate) fn exit_now(&self) {
        self.state.store(EXITING, Ordering::Release);
        self.stopped.notify_waiters();
    }

    /// Resolves once `exit_now` was called.
    pub(crate) async fn until_exiting(&self) {
        loop {
            let notified = self.stopped.notified();
            if self.state.load(Ordering::Acquire) == EXITING {
                return;
            }
            notified.await;
        }
    }

    /// Says that what had arrived is journaled; the exit may go ahead.
    pub(crate) fn saved(&self) {
        // One permit is kept if nobody waits yet, so the news cannot be missed.
        self.saved.notify_one();
    }

    /// Resolves once `saved` was called.
    pub(crate) async fn until_saved(&self) {
        self.saved.notified().await;
    }

    /// Why the run stopped and what to do, if it stopped.
    pub(crate) fn stop_advice(&self) -> Option<String> {
        self.stop_reason().map(|r| r.advice(self.next))
    }

    pub(crate) fn stop_reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Resolves once the run is stopping; for racing against sleeps.
    pub(crate) async fn until_stopping(&self) {
        loop {
            let notified = self.stopped.notified();
            if self.is_stopping() {
                return;
            }
            notified.await;
        }
    }

    /// Takes one call from the budget. `false` means the budget is spent and the run stops.
    pub(crate) fn take_call(&self) -> bool {
        if self.budget.is_none() {
            // No budget: nothing to count down, and no shared line to write for every call.
            return true;
        }
        let taken = self
            .budget_left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if !taken {
            self.stop(StopReason::Budget {
                calls: self.budget.unwrap_or(0),
            });
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_spent_call_by_call_then_stops_the_run() {
        let control = Control::new(Some(2), NextRun::Resume);
        assert!(control.take_call());
        assert!(control.take_call());
        assert!(!control.is_stopping());
        assert!(!control.take_call());
        assert_eq!(control.stop_reason(), Some(StopReason::Budget { calls: 2 }));
    }

    #[test]
    fn without_a_budget_calls_never_run_out() {
        let control = Control::new(None, NextRun::Resume);
        assert!((0..10_000).all(|_| control.take_call()));
        assert!(!control.is_stopping());
    }
}
