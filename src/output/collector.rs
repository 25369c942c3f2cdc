//! The collector: the one task that receives rows in input order from the reader and results
//! in any order from the pool, journals each result as it arrives, and writes the output rows
//! back in input order through a bounded reorder window. It alone writes; it also counts the
//! rows written and trips the breaker when too many fail in a row.

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
use crate::dedup::CardIndex;
use crate::hash::NumberHasher;
use crate::outcome::{Outcome, Plan, Row, Status};
use crate::report::Tally;

/// Results can go quiet for long (backoffs, a slow API): the journal is synced this often anyway.
const SYNC_TICK: Duration = Duration::from_secs(1);

/// How the collector ended.
pub(crate) struct Collected {
    pub(crate) tally: Tally,
    pub(crate) sink: OutputSink,
    pub(crate) journal: Journal,
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
}

pub(crate) struct Collector {
    pub(crate) control: Arc<Control>,
    pub(crate) index: Arc<CardIndex>,
    pub(crate) journal: Journal,
    pub(crate) sink: OutputSink,
    /// Rows that may wait between the oldest unwritten row and the newest one read.
    pub(crate) window: usize,
    pub(crate) max_consecutive_failures: Option<u64>,
}

/// What the collector keeps between one wake-up and the next.
struct State {
    /// Rows read and not yet written, in input order.
    queue: VecDeque<Row>,
    /// Results of called rows not yet at the head of the queue, by row number. Row numbers need
    /// no SipHash; a single multiply is enough.
    ready: HashMap<u64, Outcome, BuildHasherDefault<NumberHasher>>,
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
                _ = sync_tick.tick() => self.journal.flush().map_err(CollectError::Journal)?,
            }
        }
        self.journal.sync().map_err(CollectError::Journal)?;
        self.sink.flush().map_err(output_error)?;
        Ok(Collected {
            all_written: state.queue.is_empty() && !state.dropped_rows && !state.unfinished,
            rows_received: state.rows_received,
            tally: state.tally,
            sink: self.sink,
            journal: self.journal,
        })
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
                Plan::Settled(outcome) => outcome,
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
                    outcome,
                    unjournaled: permit,
                } => {
                    unjournaled.push(permit);
                    let offset = self
                        .journal
                        .append(card.code(), &outcome)
                        .map_err(CollectError::Journal)?;
                    self.index.record(card.code(), offset);
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
