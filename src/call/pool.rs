//! The worker pool: `--concurrency` long-lived tasks, and so at most that many HTTP calls in
//! flight, each taking one card at a time from a queue, paced by the `Pacer`, retried with
//! backoff. Each card's result goes to the collector over a bounded channel.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::client::{classify, Client, Disposition};
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
        let Some(outcome) = screen_card(&shared, &job.card).await else {
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
/// then what `Attempts` says comes next. `None` when the run stopped first.
async fn screen_card(shared: &Shared, card: &Card) -> Option<Outcome> {
    let control = &*shared.control;
    let counters = &control.counters;
    let mut attempts = Attempts::new(&shared.options.retry);
    loop {
        if control.is_stopping() {
            return None;
        }
        if !shared.pacer.try_ready() {
            tokio::select! {
                () = shared.pacer.ready() => {}
                () = control.until_stopping() => return None,
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
        }
    }
}
