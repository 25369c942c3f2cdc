//! The worker pool: `--concurrency` long-lived tasks, and so at most that many HTTP calls in
//! flight, each taking one card at a time from a queue, paced by the `Pacer`, retried with
//! backoff. The first call of a run goes alone (`FirstCall`). Each card's result goes to the
//! collector over a bounded channel.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::classify::{classify, Disposition};
use super::client::Client;
use super::pacer::Pacer;
use super::retry::{Attempts, Next, RetryPolicy};
use crate::card::Card;
use crate::control::{Control, Counters};
use crate::outcome::{Outcome, Previous};

/// A card to call the API for; `row` is the 0-based data row of its first occurrence.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) row: u64,
    pub(crate) card: Card,
    /// What the store knew of the card; carried back with the result.
    pub(crate) previous: Option<Previous>,
    /// The row's answer if the deadline comes before the call (`--deadline`).
    pub(crate) fallback: Option<Outcome>,
}

/// What the pool hands back.
#[derive(Debug)]
pub(crate) enum Finished {
    Done {
        row: u64,
        card: Card,
        outcome: Outcome,
        previous: Option<Previous>,
        /// Freed only once the collector has journaled the result: so at any instant at most
        /// `--concurrency` answers are paid for but not yet safe on disk.
        unjournaled: OwnedSemaphorePermit,
    },
    /// A worker left because the run is stopping; the cards it had not finished, and those
    /// still queued, get no answer.
    Stopped,
}

/// What the pool needs from the settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolOptions {
    /// Workers, and so calls in flight at most.
    pub(crate) concurrency: usize,
    pub(crate) retry: RetryPolicy,
}

/// The handle the reader submits jobs through; dropping it says no more jobs will come.
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    pacer: Pacer,
    control: Arc<Control>,
    options: PoolOptions,
    results: mpsc::Sender<Finished>,
    /// Jobs no worker has taken yet. Its length is bounded by the caller (the reorder window).
    queue: Mutex<VecDeque<Job>>,
    /// One permit per queued job, and one per worker once no more jobs will come.
    queued: Semaphore,
    /// `--concurrency` permits: one for each card being worked on or whose answer the collector
    /// has not journaled yet.
    unjournaled: Arc<Semaphore>,
    first_call: FirstCall,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, VecDeque<Job>> {
        // Pushing and popping cannot leave the queue half-changed, so a poisoned lock is fine.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Pool {
    /// Starts the workers on `runtime`.
    pub(crate) fn new(
        client: Client,
        pacer: Pacer,
        control: Arc<Control>,
        options: PoolOptions,
        results: mpsc::Sender<Finished>,
        runtime: tokio::runtime::Handle,
    ) -> Pool {
        let workers = options.concurrency.max(1);
        let shared = Arc::new(Shared {
            client,
            pacer,
            control,
            options,
            results,
            queue: Mutex::new(VecDeque::new()),
            queued: Semaphore::new(0),
            unjournaled: Arc::new(Semaphore::new(workers)),
            first_call: FirstCall::default(),
        });
        // A task per worker rather than per card: a million-row file costs no million task
        // spawns from the reader thread, and the tasks alive stay `--concurrency` however far
        // the reader is ahead.
        for _ in 0..workers {
            runtime.spawn(work(Arc::clone(&shared)));
        }
        Pool { shared }
    }

    /// Queues one card. Callable from any thread.
    pub(crate) fn submit(&self, job: Job) {
        self.shared.queue().push_back(job);
        self.shared.queued.add_permits(1);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // No more jobs: once the queue is empty each worker takes one of these and ends.
        self.shared
            .queued
            .add_permits(self.shared.options.concurrency.max(1));
    }
}

/// One worker: takes a card, works on it through its retries, hands the result over, and
/// takes the next. A card keeps its worker through its retries, so the cards being worked on
/// stay as few as the calls allowed in flight, and a dead source trips the breaker after a
/// handful of rows instead of after a first attempt at every row in the reorder window.
async fn work(shared: Arc<Shared>) {
    let control = &*shared.control;
    loop {
        let Some(permit) = acquire_or_stop(control, shared.queued.try_acquire(), || {
            shared.queued.acquire()
        })
        .await
        else {
            let _ = shared.results.send(Finished::Stopped).await;
            break;
        };
        permit.forget();
        let Some(job) = shared.queue().pop_front() else {
            break;
        };
        // A worker whose last answer is not journaled yet waits here before paying for another.
        let unjournaled = &shared.unjournaled;
        let Some(unjournaled) =
            acquire_or_stop(control, Arc::clone(unjournaled).try_acquire_owned(), || {
                Arc::clone(unjournaled).acquire_owned()
            })
            .await
        else {
            let _ = shared.results.send(Finished::Stopped).await;
            break;
        };
        // Until the first call of the run has come back, the others wait for it.
        let Some(turn) = shared.first_call.turn(control).await else {
            let _ = shared.results.send(Finished::Stopped).await;
            break;
        };
        let Some(outcome) = screen_card(&shared, &job.card, turn, job.fallback).await else {
            let _ = shared.results.send(Finished::Stopped).await;
            break;
        };
        let finished = Finished::Done {
            row: job.row,
            card: job.card,
            outcome,
            previous: job.previous,
            unjournaled,
        };
        // The collector only goes away when the run is over; nothing is left to tell then.
        if shared.results.send(finished).await.is_err() {
            break;
        }
    }
}

/// A permit at once if there is one, else the first of a permit and the run stopping (`None`).
/// Racing the stop signal registers a waiter with it, under a lock all workers share; so only
/// a worker that has to wait races it. One that gets a permit at once sees a stop in
/// `screen_card`.
async fn acquire_or_stop<P, E, F>(
    control: &Control,
    at_once: Result<P, TryAcquireError>,
    wait: impl FnOnce() -> F,
) -> Option<P>
where
    F: std::future::Future<Output = Result<P, E>>,
{
    if let Ok(permit) = at_once {
        return Some(permit);
    }
    tokio::select! {
        // The semaphores are never closed, so an error cannot come.
        permit = wait() => permit.ok(),
        () = control.until_stopping() => None,
    }
}

/// Calls the API for one card until it has an answer worth keeping: pace, call, classify,
/// then what `Attempts` says comes next. `None` when the run stopped first. The worker whose
/// `turn` is the run's first call opens the pool once that call comes back accepted.
///
/// Once the deadline has come no call starts: the card gets its `fallback` (its stored result,
/// or an error that names the deadline). A call already out is waited for: it is paid for.
async fn screen_card(
    shared: &Shared,
    card: &Card,
    turn: Turn<'_>,
    fallback: Option<Outcome>,
) -> Option<Outcome> {
    let control = &*shared.control;
    let mut first_call = match turn {
        Turn::First(first) => Some(first),
        Turn::Open => None,
    };
    let counters = &control.counters;
    let mut attempts = Attempts::new(&shared.options.retry);
    loop {
        if control.is_stopping() {
            return None;
        }
        if control.is_past_deadline() && fallback.is_some() {
            return fallback;
        }
        if !shared.pacer.try_ready() {
            tokio::select! {
                () = shared.pacer.ready() => {}
                () = control.until_stopping() => return None,
                () = control.until_deadline(), if fallback.is_some() => return fallback,
            }
        }
        // The stop may have come while we waited for our turn.
        if control.is_stopping() || !control.take_call() {
            return None;
        }
        Counters::add(&counters.calls, 1);
        if attempts.start_call() {
            Counters::add(&counters.retries, 1);
        }
        let disposition = classify(shared.client.query(card).await);
        // A refused first call keeps its turn until the run has stopped, so that no other
        // worker takes the turn up in between.
        if !refuses_the_run(&disposition) {
            if let Some(first) = first_call.take() {
                shared.pacer.first_call_answered();
                first.open();
            }
        }
        if matches!(disposition, Disposition::Throttle) {
            Counters::add(&counters.throttled, 1);
            shared.pacer.on_throttled();
        } else {
            shared.pacer.on_accepted();
        }
        if let Disposition::Retry { what, .. } = &disposition {
            tracing::debug!(card = %card.masked(), what = %what, "Call failed; will retry.");
        }
        // The thread's generator, seeded once per thread: seeding one per card from the OS
        // cost a getrandom system call for every row, retried or not.
        let wait = match attempts.after(disposition, &mut rand::rng()) {
            Next::Done(outcome) => return Some(outcome),
            Next::Stop(reason) => {
                control.stop(reason);
                return None;
            }
            Next::Wait(wait) => wait,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = control.until_stopping() => return None,
            () = control.until_deadline(), if fallback.is_some() => return fallback,
        }
    }
}

/// Answers that say every further call would fail the same way: the pool stays shut after
/// such a first call, and the run stops.
fn refuses_the_run(disposition: &Disposition) -> bool {
    matches!(
        disposition,
        Disposition::Abort { .. } | Disposition::Untrusted { .. }
    )
}

/// The gate the workers pass before their first call. A refused key (or IP, or interface)
/// answers every call alike, so the run's first call goes alone and the rest of the pool
/// waits until it comes back with anything else: a wrong key costs one call, not
/// `--concurrency`. Only cards that are called come here, so a file that starts with
/// duplicates or invalid rows cannot keep the gate shut.
#[derive(Default)]
struct FirstCall {
    state: AtomicU8,
    opened: Notify,
}

const NO_CALL_YET: u8 = 0;
const FIRST_CALL_OUT: u8 = 1;
const OPEN: u8 = 2;

/// What a worker may do once past the gate.
enum Turn<'a> {
    /// Make the run's first call, then open the gate (or, by dropping this, let another
    /// worker make it).
    First(First<'a>),
    /// The gate is open.
    Open,
}

impl FirstCall {
    /// The worker's turn: at once when the gate is open, the first call when none went out
    /// yet, else once the first call came back. `None` when the run stops while waiting.
    async fn turn(&self, control: &Control) -> Option<Turn<'_>> {
        if self.state.load(Ordering::Acquire) == OPEN {
            return Some(Turn::Open);
        }
        loop {
            // Created before the state is read, so that an opening in between is not missed.
            let opened = self.opened.notified();
            if control.is_stopping() {
                return None;
            }
            match self.state.compare_exchange(
                NO_CALL_YET,
                FIRST_CALL_OUT,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Turn::First(First { gate: self })),
                Err(OPEN) => return Some(Turn::Open),
                Err(_) => {}
            }
            tokio::select! {
                () = opened => {}
                () = control.until_stopping() => return None,
            }
        }
    }
}

/// The right to make the run's first call.
struct First<'a> {
    gate: &'a FirstCall,
}

impl First<'_> {
    /// The first call came back accepted: every worker may call now.
    fn open(self) {
        self.gate.state.store(OPEN, Ordering::Release);
        self.gate.opened.notify_waiters();
    }
}

impl Drop for First<'_> {
    /// A first call that never came back accepted (the run stopped, or the worker left
    /// before calling) hands the turn to the next worker that is still allowed to call.
    fn drop(&mut self) {
        let handed_back = self
            .gate
            .state
            .compare_exchange(
                FIRST_CALL_OUT,
                NO_CALL_YET,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if handed_back {
            self.gate.opened.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{NextRun, StopReason};

    fn control() -> Control {
        Control::new(None, NextRun::Resume)
    }

    #[tokio::test]
    async fn the_first_call_goes_alone_until_it_opens_the_gate() {
        let gate = FirstCall::default();
        let control = control();
        let Some(Turn::First(first)) = gate.turn(&control).await else {
            panic!("the first worker makes the first call");
        };
        let waiting = gate.turn(&control);
        tokio::pin!(waiting);
        assert!(
            futures_poll(waiting.as_mut()).is_none(),
            "a second worker must wait for the first call"
        );
        first.open();
        assert!(matches!(waiting.await, Some(Turn::Open)));
        assert!(matches!(gate.turn(&control).await, Some(Turn::Open)));
    }

    #[tokio::test]
    async fn a_first_call_given_up_passes_the_turn_on() {
        let gate = FirstCall::default();
        let control = control();
        let first = gate.turn(&control).await;
        assert!(matches!(first, Some(Turn::First(_))));
        let waiting = gate.turn(&control);
        tokio::pin!(waiting);
        assert!(futures_poll(waiting.as_mut()).is_none());
        drop(first);
        assert!(matches!(waiting.await, Some(Turn::First(_))));
    }

    #[tokio::test]
    async fn a_stop_releases_the_waiting_workers() {
        let gate = FirstCall::default();
        let control = control();
        let _first = gate.turn(&control).await;
        let waiting = gate.turn(&control);
        tokio::pin!(waiting);
        assert!(futures_poll(waiting.as_mut()).is_none());
        control.stop(StopReason::Refused {
            code: 10001,
            reason: "bad key".into(),
        });
        assert!(waiting.await.is_none());
    }

    /// Polls a future once, without waiting.
    fn futures_poll<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        match future.poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        }
    }
}
