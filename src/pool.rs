//! The worker pool: `--concurrency` long-lived tasks, and so at most that many HTTP calls in
//! flight, each taking one card at a time from a queue, paced by the `Pacer`, retried with
//! backoff. Each card's result goes to the collector over a bounded channel.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::card::Card;
use crate::client::{classify, Client, Disposition};
use crate::control::{Control, Counters, StopReason};
use crate::outcome::{Outcome, Status};
use crate::pacer::Pacer;
use crate::retry::Backoff;
use crate::vendor;

/// 10011 answers say "not now", not "not this card", so they do not use up `--max-attempts`;
/// this cap only keeps a row from waiting forever on a key whose rate is far below ours.
const MAX_THROTTLED_PER_ROW: u32 = 50;

/// A card to call the API for; `row` is the 0-based data row of its first occurrence.
#[derive(Debug)]
pub struct Job {
    pub row: u64,
    pub card: Card,
}

/// What the pool hands back.
#[derive(Debug)]
pub enum Finished {
    Done {
        row: u64,
        card: Card,
        outcome: Outcome,
        /// Freed only once the collector has journaled the result: so at any instant at most
        /// `--concurrency` answers are paid for but not yet safe on disk.
        unjournaled: OwnedSemaphorePermit,
    },
    /// A worker left because the run is stopping; the cards it had not finished, and those
    /// still queued, get no answer.
    Stopped,
}

pub struct PoolSettings {
    pub concurrency: usize,
    pub max_attempts: u32,
    pub backoff: Backoff,
}

/// The handle the reader submits jobs through; dropping it says no more jobs will come.
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    pacer: Pacer,
    control: Arc<Control>,
    settings: PoolSettings,
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
    pub fn new(
        client: Client,
        pacer: Pacer,
        control: Arc<Control>,
        settings: PoolSettings,
        results: mpsc::Sender<Finished>,
        runtime: tokio::runtime::Handle,
    ) -> Pool {
        let workers = settings.concurrency.max(1);
        let shared = Arc::new(Shared {
            client,
            pacer,
            control,
            settings,
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
    pub fn submit(&self, job: Job) {
        self.shared.queue().push_back(job);
        self.shared.queued.add_permits(1);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // No more jobs: once the queue is empty each worker takes one of these and ends.
        self.shared
            .queued
            .add_permits(self.shared.settings.concurrency.max(1));
    }
}

/// One worker: takes a card, works on it through its retries, hands the result over, and
/// takes the next. A card keeps its worker through its retries, so the cards being worked on
/// stay as few as the calls allowed in flight, and a dead source trips the breaker after a
/// handful of rows instead of after a first attempt at every row in the reorder window.
async fn work(shared: Arc<Shared>) {
    let control = &*shared.control;
    loop {
        // Racing the stop signal registers a waiter with it, under a lock all workers share;
        // so only a worker that has to wait for a job races it. One that finds a job at once
        // sees a stop in `screen_card`.
        let permit = match shared.queued.try_acquire() {
            Ok(permit) => permit,
            Err(_) => tokio::select! {
                permit = shared.queued.acquire() => match permit {
                    Ok(permit) => permit,
                    // The semaphore is never closed.
                    Err(_) => break,
                },
                () = control.until_stopping() => {
                    let _ = shared.results.send(Finished::Stopped).await;
                    break;
                }
            },
        };
        permit.forget();
        let Some(job) = shared.queue().pop_front() else {
            break;
        };
        // A worker whose last answer is not journaled yet waits here before paying for another.
        let unjournaled = match Arc::clone(&shared.unjournaled).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => tokio::select! {
                permit = Arc::clone(&shared.unjournaled).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    // The semaphore is never closed.
                    Err(_) => break,
                },
                () = control.until_stopping() => {
                    let _ = shared.results.send(Finished::Stopped).await;
                    break;
                }
            },
        };
        let Some(outcome) = screen_card(&shared, &job.card).await else {
            let _ = shared.results.send(Finished::Stopped).await;
            break;
        };
        let finished = Finished::Done {
            row: job.row,
            card: job.card,
            outcome,
            unjournaled,
        };
        // The collector only goes away when the run is over; nothing is left to tell then.
        if shared.results.send(finished).await.is_err() {
            break;
        }
    }
}

/// Calls the API for one card until it has an answer worth keeping. `None` when the run
/// stopped first.
async fn screen_card(shared: &Shared, card: &Card) -> Option<Outcome> {
    let control = &*shared.control;
    let counters = &control.counters;
    let mut attempts: u32 = 0;
    let mut failures: u32 = 0;
    let mut throttled: u32 = 0;
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
        attempts += 1;
        Counters::add(&counters.calls, 1);
        if attempts > 1 {
            Counters::add(&counters.retries, 1);
        }
        let reply = shared.client.query(card).await;
        let disposition = classify(reply);
        if !matches!(disposition, Disposition::Throttle) {
            shared.pacer.on_accepted();
        }
        let wait_failures = match disposition {
            Disposition::Ok { flags, orderid } => {
                return Some(Outcome::ok(flags, orderid, attempts));
            }
            Disposition::Invalid { code, .. } => {
                let mut outcome = Outcome::invalid(
                    "vendor_rejected",
                    format!("the API says the card number is wrong ({code})"),
                );
                outcome.error_code = Some(code);
                outcome.attempts = attempts;
                return Some(outcome);
            }
            Disposition::RowError { code, reason } => {
                let reason = crate::card::mask_text(&reason);
                return Some(error_outcome(
                    Some(code),
                    format!("unknown error code {code} from the API: {reason}"),
                    attempts,
                ));
            }
            Disposition::Abort { code, reason } => {
                control.stop(StopReason::Refused { code, reason });
                return None;
            }
            Disposition::Stop { code, reason } => {
                control.stop(StopReason::Quota { code, reason });
                return None;
            }
            Disposition::Throttle => {
                Counters::add(&counters.throttled, 1);
                shared.pacer.on_throttled();
                throttled += 1;
                if throttled >= MAX_THROTTLED_PER_ROW {
                    return Some(error_outcome(
                        Some(vendor::RATE_LIMITED),
                        format!("the API said the rate is too high ({}) {throttled} times; lower --rate", vendor::RATE_LIMITED),
                        attempts,
                    ));
                }
                throttled
            }
            Disposition::Retry { code, what } => {
                failures += 1;
                tracing::debug!(card = %card.masked(), attempt = attempts, what = %what, "Call failed; will retry.");
                if failures >= shared.settings.max_attempts {
                    let plural = if attempts == 1 { "attempt" } else { "attempts" };
                    return Some(error_outcome(
                        code,
                        format!("{what} after {attempts} {plural}"),
                        attempts,
                    ));
                }
                failures
            }
        };
        // The thread's generator, seeded once per thread: seeding one per card from the OS
        // cost a getrandom system call for every row, retried or not.
        let wait = shared
            .settings
            .backoff
            .wait(wait_failures, &mut rand::rng());
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = control.until_stopping() => return None,
        }
    }
}

fn error_outcome(code: Option<i64>, error: String, attempts: u32) -> Outcome {
    Outcome {
        status: Status::Error,
        flags: Default::default(),
        orderid: String::new(),
        error_code: code,
        error,
        attempts,
        reason: "",
    }
}
