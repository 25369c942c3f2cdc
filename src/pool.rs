//! The worker pool: one task per card to call, at most `--concurrency` of them working (and so
//! at most that many HTTP calls in flight), paced by the `Pacer`, retried with backoff. Each card's result goes to the collector over
//! a bounded channel.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

use crate::card::Card;
use crate::client::{classify, Client, Disposition};
use crate::control::{Control, Counters, StopReason};
use crate::outcome::{Outcome, Status};
use crate::pacer::Pacer;
use crate::retry::Backoff;

/// 10011 answers say "not now", not "not this card", so they do not use up `--max-attempts`;
/// this cap only keeps a row from waiting forever on a key whose rate is far below ours.
const MAX_THROTTLED_PER_ROW: u32 = 50;

/// A card to call the API for; `row` is the 0-based data row of its first occurrence.
#[derive(Debug)]
pub struct Job {
    pub row: u64,
    pub card: Card,
}

/// What the pool hands back for a job.
#[derive(Debug)]
pub enum Finished {
    Done {
        row: u64,
        card: Card,
        outcome: Outcome,
    },
    /// The run stopped before this card got an answer.
    Unfinished { row: u64 },
}

pub struct PoolSettings {
    pub concurrency: usize,
    pub max_attempts: u32,
    pub backoff: Backoff,
}

pub struct Pool {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
}

struct Shared {
    client: Client,
    pacer: Pacer,
    control: Arc<Control>,
    /// One permit per row being worked on, `--concurrency` in all.
    slots: Semaphore,
    settings: PoolSettings,
    results: mpsc::Sender<Finished>,
}

impl Pool {
    pub fn new(
        client: Client,
        pacer: Pacer,
        control: Arc<Control>,
        settings: PoolSettings,
        results: mpsc::Sender<Finished>,
        runtime: tokio::runtime::Handle,
    ) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                client,
                pacer,
                control,
                slots: Semaphore::new(settings.concurrency),
                settings,
                results,
            }),
            runtime,
        }
    }

    /// Starts screening one card. Callable from any thread; the number of jobs alive at once
    /// is bounded by the caller (the reorder window), the jobs working by the slots.
    pub fn submit(&self, job: Job) {
        let shared = Arc::clone(&self.shared);
        self.runtime.spawn(async move {
            let row = job.row;
            let finished = match screen_card(&shared, &job.card).await {
                Some(outcome) => Finished::Done {
                    row,
                    card: job.card,
                    outcome,
                },
                None => Finished::Unfinished { row },
            };
            // The collector only goes away when the run is over; nothing is left to tell then.
            let _ = shared.results.send(finished).await;
        });
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
    // A row holds its slot through its retries: the rows being worked on stay as few as the
    // calls allowed in flight, so a dead source trips the breaker after a handful of rows
    // instead of after a first attempt at every row in the reorder window.
    let _slot = tokio::select! {
        permit = shared.slots.acquire() => permit.ok()?,
        () = control.until_stopping() => return None,
    };
    loop {
        if control.is_stopping() {
            return None;
        }
        tokio::select! {
            () = shared.pacer.ready() => {}
            () = control.until_stopping() => return None,
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
        counters.in_flight.fetch_add(1, Ordering::Relaxed);
        let reply = shared.client.query(card).await;
        counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        let disposition = classify(&reply);
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
                        Some(10011),
                        format!("the API said the rate is too high (10011) {throttled} times; lower --rate"),
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
