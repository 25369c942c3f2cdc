//! The collector: the one task that receives rows in input order from the reader and results
//! in any order from the pool, journals each result as it arrives, and writes the output rows
//! back in input order through a bounded reorder window. It alone writes; it also counts the
//! rows written, trips the breaker when too many fail in a row, and with a store hands each
//! journaled result to the store's writer thread and writes the changed rows to `--changes`.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::journal::Journal;
use super::sink::OutputSink;
use crate::call::Finished;
use crate::control::{Control, Counters, StopReason};
use crate::dedup::{CardHasher, CardIndex};
use crate::outcome::{Change, Outcome, Plan, Row, Status, StoredResult};
use crate::report::Tally;
use crate::store::{unix_now, CardKey, StoreFeed, Update};

/// Results can go quiet for long (backoffs, a slow API): the journal is synced this often anyway.
const SYNC_TICK: Duration = Duration::from_secs(1);

/// How the collector ended.
pub(crate) struct Collected {
    pub(crate) tally: Tally,
    pub(crate) sink: OutputSink,
    pub(crate) journal: Journal,
    pub(crate) changes: Option<OutputSink>,
    /// Every row the reader sent was written.
    pub(crate) all_written: bool,
    /// Rows sent by the reader.
    pub(crate) rows_received: u64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CollectError {
    #[error("cannot write the output: {0}")]
    Output(io::Error),
    #[error("cannot write the journal: {0}")]
    Journal(io::Error),
    /// The reader of standard output went away (`| head`): end quietly.
    #[error("standard output was closed")]
    OutputClosed,
    #[error("cannot write the changes file: {0}")]
    Changes(io::Error),
    /// The store's writer stopped; what it met is its own error.
    #[error("the result store stopped taking results")]
    Store,
}

pub(crate) struct Collector {
    pub(crate) control: Arc<Control>,
    pub(crate) index: Arc<CardIndex>,
    pub(crate) journal: Journal,
    pub(crate) sink: OutputSink,
    /// Rows that may wait between the oldest unwritten row and the newest one read.
    pub(crate) window: usize,
    pub(crate) max_consecutive_failures: Option<u64>,
    /// Where results go on to the store, with a store.
    pub(crate) store: Option<StoreFeed>,
    /// `--changes`: the rows whose change is news.
    pub(crate) changes: Option<OutputSink>,
}

/// What the collector keeps between one wake-up and the next.
struct State {
    /// Rows read and not yet written, in input order.
    queue: VecDeque<Row>,
    /// Results of called rows not yet at the head of the queue, by row number. Row numbers need
    /// no SipHash; the card hasher's single multiply is enough.
    ready: HashMap<u64, Outcome, BuildHasherDefault<CardHasher>>,
    /// A row at the head can never get its result: the run stopped before its call was made.
    unfinished: bool,
    /// Rows arrived after the run could no longer finish.
    dropped_rows: bool,
    rows_received: u64,
    consecutive_failures: u64,
    tally: Tally,
}

impl Collector {
    pub(crate) async fn run(
        mut self,
        mut rows: mpsc::Receiver<Vec<Row>>,
        mut results: mpsc::Receiver<Finished>,
    ) -> Result<Collected, CollectError> {
        let mut state = State {
            queue: VecDeque::with_capacity(self.window),
            ready: HashMap::default(),
            unfinished: false,
            dropped_rows: false,
            rows_received: 0,
            consecutive_failures: 0,
            tally: Tally::default(),
        };
        let (mut rows_open, mut results_open) = (true, true);
        let mut sync_tick = tokio::time::interval(SYNC_TICK);
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.write_ready_rows(&mut state)?;
            self.feed_store(false).await?;
            if !rows_open && !results_open {
                break;
            }
            let room = state.queue.len() < self.window || state.unfinished;
            tokio::select! {
                biased;
                finished = results.recv(), if results_open => match finished {
                    Some(first) => self.take_results(first, &mut results, &mut state)?,
                    None => results_open = false,
                },
                batch = rows.recv(), if rows_open && room => match batch {
                    Some(batch) => state.take_rows(batch),
                    None => rows_open = false,
                },
                _ = sync_tick.tick() => {
                    self.journal.flush().map_err(CollectError::Journal)?;
                    self.feed_store(true).await?;
                }
            }
        }
        self.journal.sync().map_err(CollectError::Journal)?;
        self.feed_store(true).await?;
        // Dropping the feed tells the store's writer that nothing more will come.
        self.store = None;
        self.sink.flush().map_err(output_error)?;
        Ok(Collected {
            all_written: state.queue.is_empty() && !state.dropped_rows && !state.unfinished,
            rows_received: state.rows_received,
            tally: state.tally,
            sink: self.sink,
            journal: self.journal,
            changes: self.changes,
        })
    }

    /// Hands the store's writer the updates gathered, when a batch is full or `now`. Only
    /// results already journaled get here, so the journal holds whatever the store may lack.
    async fn feed_store(&mut self, now: bool) -> Result<(), CollectError> {
        match &mut self.store {
            Some(feed) if now || feed.is_full() => {
                feed.send().await.map_err(|_| CollectError::Store)
            }
            _ => Ok(()),
        }
    }

    /// Writes every row at the head of the queue whose result is known.
    fn write_ready_rows(&mut self, state: &mut State) -> Result<(), CollectError> {
        if state.unfinished {
            return Ok(());
        }
        while let Some(head) = state.queue.front() {
            let duplicate = matches!(head.plan, Plan::Duplicate);
            let fetched;
            let outcome = match &head.plan {
                Plan::Settled(outcome) => {
                    // A result `--retry-errors` keeps: its card was in the file.
                    self.store_update(head.store_key, None);
                    outcome
                }
                Plan::Stored(outcome) => {
                    // Journaled too, so that rows with the same card, and a resumed run,
                    // take this very answer.
                    let offset = self
                        .journal
                        .append(head.card_code, outcome)
                        .map_err(CollectError::Journal)?;
                    self.index.record(head.card_code, offset);
                    self.store_update(head.store_key, None);
                    outcome
                }
                Plan::Call => match state.ready.remove(&head.row) {
                    Some(outcome) => {
                        fetched = outcome;
                        &fetched
                    }
                    None => break,
                },
                Plan::Duplicate | Plan::Journaled => match self.index.location(head.card_code) {
                    Some(offset) => {
                        let mut outcome =
                            self.journal.read(offset).map_err(CollectError::Journal)?;
                        if duplicate {
                            outcome.attempts = 0;
                        } else {
                            // Read back from an interrupted run: the store may not have it yet.
                            self.store_update(
                                head.store_key,
                                (!outcome.reused).then_some(&outcome),
                            );
                        }
                        fetched = outcome;
                        &fetched
                    }
                    // The first row with this card never got its answer.
                    None if self.control.is_stopping() => {
                        state.unfinished = true;
                        break;
                    }
                    None => break,
                },
            };
            self.sink
                .write_row(&head.record, outcome)
                .map_err(output_error)?;
            if let Some(changes) = &mut self.changes {
                if outcome.change.is_some_and(Change::is_news) {
                    changes
                        .write_row(&head.record, outcome)
                        .map_err(CollectError::Changes)?;
                }
            }
            state.tally.count(outcome, duplicate);
            count_written(&self.control.counters, outcome);
            state.queue.pop_front();
        }
        Ok(())
    }

    /// Journals `first` and everything already waiting behind it, then flushes once: one write
    /// for many results. Only then may the workers pay for more answers.
    fn take_results(
        &mut self,
        first: Finished,
        results: &mut mpsc::Receiver<Finished>,
        state: &mut State,
    ) -> Result<(), CollectError> {
        let mut next = Some(first);
        let mut unjournaled = Vec::new();
        while let Some(finished) = next {
            match finished {
                Finished::Done {
                    row,
                    card,
                    mut outcome,
                    previous,
                    unjournaled: permit,
                } => {
                    unjournaled.push(permit);
                    if let Some(previous) = previous {
                        if StoredResult::of(&outcome).is_some() {
                            outcome.screened_at = Some(unix_now());
                        }
                        outcome.change = Change::between(previous.result, &outcome);
                    }
                    let offset = self
                        .journal
                        .append(card.code(), &outcome)
                        .map_err(CollectError::Journal)?;
                    self.index.record(card.code(), offset);
                    self.store_update(previous.map(|p| p.key), Some(&outcome));
                    self.watch_failures(&outcome, &mut state.consecutive_failures);
                    state.ready.insert(row, outcome);
                }
                Finished::Stopped => state.unfinished = true,
            }
            next = results.try_recv().ok();
        }
        self.journal.flush().map_err(CollectError::Journal)?;
        drop(unjournaled);
        Ok(())
    }

    /// Gathers what the store learns from a row: `result`, when it is one worth keeping, else
    /// only that the card was in the file.
    fn store_update(&mut self, key: Option<CardKey>, result: Option<&Outcome>) {
        let (Some(feed), Some(key)) = (&mut self.store, key) else {
            return;
        };
        let update = match result.and_then(|o| StoredResult::of(o).map(|r| (o, r))) {
            Some((outcome, result)) => Update::Result {
                key,
                result,
                called: outcome.screened_at.unwrap_or_else(unix_now),
                orderid: outcome.orderid.clone(),
            },
            None => Update::Seen(key),
        };
        feed.push(update);
    }

    /// The breaker: rows failing one after another mean a dead endpoint, not bad cards.
    fn watch_failures(&self, outcome: &Outcome, consecutive: &mut u64) {
        if outcome.status != Status::Error {
            *consecutive = 0;
            return;
        }
        *consecutive += 1;
        if let Some(limit) = self.max_consecutive_failures {
            if *consecutive >= limit {
                self.control.stop(StopReason::Breaker {
                    failures: *consecutive,
                });
            }
        }
    }
}

impl State {
    fn take_rows(&mut self, batch: Vec<Row>) {
        self.rows_received += batch.len() as u64;
        if self.unfinished {
            self.dropped_rows = true;
        } else {
            self.queue.extend(batch);
        }
    }
}

/// The live counters progress reports read.
fn count_written(counters: &Counters, outcome: &Outcome) {
    Counters::add(&counters.rows_done, 1);
    match outcome.status {
        Status::Ok if outcome.flags.is_hit() => Counters::add(&counters.hits, 1),
        Status::Ok => {}
        Status::Invalid => Counters::add(&counters.invalid, 1),
        Status::Error => Counters::add(&counters.errors, 1),
    }
}

fn output_error(error: io::Error) -> CollectError {
    if error.kind() == io::ErrorKind::BrokenPipe {
        CollectError::OutputClosed
    } else {
        CollectError::Output(error)
    }
}
