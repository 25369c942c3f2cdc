//! The collector: the one task that receives rows in input order from the reader and results
//! in any order from the pool, journals each result as it arrives, and writes the output rows
//! back in input order through a bounded reorder window. It alone writes; it also counts the
//! rows written and trips the breaker when too many fail in a row. When the output cannot take
//! more (its reader went away, the disk is full) it stops the run and goes on journaling the
//! answers still arriving. With a store it hands each journaled result to the store's writer
//! thread and writes the changed rows to `--changes`.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use csv::ByteRecord;
use tokio::sync::mpsc;

use super::journal::Journal;
use super::sink::OutputSink;
use crate::call::Finished;
use crate::control::{Control, Counters, StopReason};
use crate::dedup::CardIndex;
use crate::outcome::{CardKey, Change, Outcome, Plan, Row, Status, StoredResult};
use crate::report::{ChangeRows, Tally};
use crate::store::{StoreFeed, Update};
use crate::util::clock::unix_now;
use crate::util::hash::NumberHasher;

/// Results can go quiet for long (backoffs, a slow API): the journal is synced this often anyway.
const SYNC_TICK: Duration = Duration::from_secs(1);

/// How the collector ended.
pub(crate) struct Collected {
    pub(crate) tally: Tally,
    /// `None` once the output could take no more.
    pub(crate) sink: Option<OutputSink>,
    pub(crate) journal: Journal,
    pub(crate) changes: Option<OutputSink>,
    /// `--report`: the first changed rows.
    pub(crate) report_changes: Option<ChangeRows>,
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
    #[error("cannot read a result back from the journal: {0}")]
    JournalRead(io::Error),
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
    pub(crate) sink: Option<OutputSink>,
    /// The output file being written, removed at once when the disk fills: it is useless
    /// then, and its room lets the journal keep the answers still arriving.
    pub(crate) partial: Option<PathBuf>,
    /// Hand every batch of rows to the output as soon as it is written (standard output), so
    /// that a reader going away is noticed at the first row it will not read.
    pub(crate) flush_rows: bool,
    /// Rows that may wait between the oldest unwritten row and the newest one read.
    pub(crate) window: usize,
    pub(crate) max_consecutive_failures: Option<u64>,
    /// Where results go on to the store, with a store.
    pub(crate) store: Option<StoreFeed>,
    /// `--changes`: the rows whose change is news.
    pub(crate) changes: Option<OutputSink>,
    /// `--report`: the first rows whose change is news, bounded.
    pub(crate) report_changes: Option<ChangeRows>,
}

/// What the collector keeps between one wake-up and the next.
struct State {
    /// Rows read and not yet written, in input order.
    queue: VecDeque<Row>,
    /// Results of called rows not yet at the head of the queue, by row number. Row numbers need
    /// no SipHash; a single multiply is enough.
    ready: HashMap<u64, Outcome, BuildHasherDefault<NumberHasher>>,
    /// No more rows will be written: the run stopped before the call for the row at the head
    /// was made, or the output takes no more. Rows still arriving are taken and dropped, so
    /// that the reader never waits for room that will not come.
    unfinished: bool,
    /// Rows arrived after the run could no longer finish.
    dropped_rows: bool,
    /// The disk is too full for the journal to take more.
    journal_full: bool,
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
            journal_full: false,
            rows_received: 0,
            consecutive_failures: 0,
            tally: Tally::default(),
        };
        let (mut rows_open, mut results_open) = (true, true);
        let mut sync_tick = tokio::time::interval(SYNC_TICK);
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.write_ready_rows(&mut state)?;
            state.unfinished |= self.sink.is_none();
            self.feed_store(false).await?;
            if !rows_open && !results_open {
                break;
            }
            let room = state.queue.len() < self.window || state.unfinished;
            tokio::select! {
                biased;
                () = self.control.until_exiting() => {
                    self.save_before_exit(&mut results, &mut state)?;
                    break;
                }
                finished = results.recv(), if results_open => match finished {
                    Some(first) => self.take_results(first, &mut results, &mut state)?,
                    None => results_open = false,
                },
                batch = rows.recv(), if rows_open && room => match batch {
                    Some(batch) => state.take_rows(batch),
                    None => rows_open = false,
                },
                _ = sync_tick.tick() => {
                    self.journal_write(&mut state, Journal::flush)?;
                    self.feed_store(true).await?;
                }
            }
        }
        self.journal_write(&mut state, Journal::sync)?;
        self.feed_store(true).await?;
        // Dropping the feed tells the store's writer that nothing more will come.
        self.store = None;
        if let Some(Err(e)) = self.sink.as_mut().map(OutputSink::flush) {
            self.output_failed(e)?;
        }
        Ok(Collected {
            all_written: state.queue.is_empty()
                && !state.dropped_rows
                && !state.unfinished
                && self.sink.is_some(),
            rows_received: state.rows_received,
            tally: state.tally,
            sink: self.sink,
            journal: self.journal,
            changes: self.changes,
            report_changes: self.report_changes,
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
        let written = match self.write_rows(state) {
            Ok(written) => written,
            Err(WriteFailure::JournalRead(e)) => return Err(CollectError::JournalRead(e)),
            Err(WriteFailure::Journal(e)) if is_disk_full(&e) => {
                self.disk_full("the journal");
                return Ok(());
            }
            Err(WriteFailure::Journal(e)) => return Err(CollectError::Journal(e)),
            Err(WriteFailure::Changes(e)) => return Err(CollectError::Changes(e)),
            Err(WriteFailure::Output(e)) => return self.output_failed(e),
        };
        if written > 0 && self.flush_rows {
            if let Some(Err(e)) = self.sink.as_mut().map(OutputSink::flush) {
                return self.output_failed(e);
            }
        }
        Ok(())
    }

    /// The rows written.
    fn write_rows(&mut self, state: &mut State) -> Result<u64, WriteFailure> {
        let mut written = 0;
        if self.sink.is_none() || state.unfinished {
            return Ok(written);
        }
        while let Some(head) = state.queue.front() {
            let outcome = match self.result_of(head, &mut state.ready)? {
                Known::Now(outcome) => outcome,
                Known::Later => break,
                Known::Never => {
                    state.unfinished = true;
                    break;
                }
            };
            let duplicate = matches!(head.plan, Plan::Duplicate);
            self.write_row(&head.record, &outcome)?;
            state.tally.count(&outcome, duplicate);
            count_written(&self.control.counters, &outcome, duplicate);
            state.queue.pop_front();
            written += 1;
        }
        Ok(written)
    }

    /// The result of the row at the head of the queue, as far as it is known, with what the
    /// store and the journal learn from it.
    fn result_of<'r>(
        &mut self,
        head: &'r Row,
        ready: &mut HashMap<u64, Outcome, BuildHasherDefault<NumberHasher>>,
    ) -> Result<Known<'r>, WriteFailure> {
        let outcome = match &head.plan {
            Plan::Settled(outcome) => {
                // A result `--retry-errors` keeps: its card was in the file.
                store_update(&mut self.store, head.store_key, None);
                Cow::Borrowed(outcome)
            }
            Plan::Stored(outcome) => {
                // Journaled too, so that rows with the same card, and a resumed run,
                // take this very answer.
                let offset = self
                    .journal
                    .append(head.card_code, outcome)
                    .map_err(WriteFailure::Journal)?;
                self.index.record(head.card_code, offset);
                store_update(&mut self.store, head.store_key, None);
                Cow::Borrowed(outcome)
            }
            Plan::Call => match ready.remove(&head.row) {
                Some(outcome) => Cow::Owned(outcome),
                None => return Ok(Known::Later),
            },
            Plan::Duplicate | Plan::Journaled => match self.index.location(head.card_code) {
                Some(offset) => Cow::Owned(self.read_back(head, offset)?),
                // The first row with this card never got its answer.
                None if self.control.is_stopping() => return Ok(Known::Never),
                None => return Ok(Known::Later),
            },
        };
        Ok(Known::Now(outcome))
    }

    /// A result already journaled, for a duplicate or a row an interrupted run answered.
    fn read_back(&mut self, head: &Row, offset: u64) -> Result<Outcome, WriteFailure> {
        let mut outcome = self
            .journal
            .read(offset)
            .map_err(WriteFailure::JournalRead)?;
        if matches!(head.plan, Plan::Duplicate) {
            outcome.attempts = 0;
        } else {
            // Read back from an interrupted run: the store may not have it yet.
            store_update(
                &mut self.store,
                head.store_key,
                (!outcome.reused).then_some(&outcome),
            );
        }
        Ok(outcome)
    }

    /// One row to the output, and to `--changes` when its change is news.
    fn write_row(&mut self, record: &ByteRecord, outcome: &Outcome) -> Result<(), WriteFailure> {
        if let Some(sink) = &mut self.sink {
            sink.write_row(record, outcome)
                .map_err(WriteFailure::Output)?;
        }
        if outcome.change.is_some_and(Change::is_news) {
            if let Some(kept) = &mut self.report_changes {
                kept.keep(record, outcome);
            }
            if let Some(changes) = &mut self.changes {
                changes
                    .write_row(record, outcome)
                    .map_err(WriteFailure::Changes)?;
            }
        }
        Ok(())
    }

    /// The output can take no more: a reader that went away or a full disk stops the run (its
    /// answers still go to the journal); anything else ends it.
    fn output_failed(&mut self, error: io::Error) -> Result<(), CollectError> {
        if error.kind() == io::ErrorKind::BrokenPipe {
            self.sink = None;
            self.control.stop(StopReason::OutputClosed);
            Ok(())
        } else if is_disk_full(&error) {
            self.disk_full("the output");
            Ok(())
        } else {
            Err(CollectError::Output(error))
        }
    }

    /// Stops the run and gives up the partial output, whose room the journal may need.
    fn disk_full(&mut self, what: &'static str) {
        self.control.stop(StopReason::DiskFull { what });
        // Closed before it is removed, so that a last flush cannot take the room again.
        self.sink = None;
        if let Some(partial) = self.partial.take() {
            let _ = std::fs::remove_file(partial);
        }
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
                    if let Some(previous) = previous.filter(|_| !outcome.reused) {
                        if StoredResult::of(&outcome).is_some() {
                            outcome.screened_at = Some(unix_now());
                        }
                        outcome.change = Change::between(previous.result, &outcome);
                        outcome.early = previous.early && outcome.attempts > 0;
                    }
                    let code = card.code();
                    let appended = self.journal_write(state, |j| j.append(code, &outcome))?;
                    if let Some(offset) = appended {
                        self.index.record(code, offset);
                        let answer = (!outcome.reused).then_some(&outcome);
                        store_update(&mut self.store, previous.map(|p| p.key), answer);
                    }
                    self.watch_failures(&outcome, &mut state.consecutive_failures);
                    state.ready.insert(row, outcome);
                }
                Finished::Stopped => state.unfinished = true,
            }
            next = results.try_recv().ok();
        }
        self.journal_write(state, Journal::flush)?;
        drop(unjournaled);
        Ok(())
    }

    /// A second signal: the calls in flight are not waited for, but the answers that have
    /// already arrived are paid for, so they are journaled before the exit.
    fn save_before_exit(
        &mut self,
        results: &mut mpsc::Receiver<Finished>,
        state: &mut State,
    ) -> Result<(), CollectError> {
        if let Ok(first) = results.try_recv() {
            self.take_results(first, results, state)?;
        }
        self.journal_write(state, Journal::sync)?;
        self.control.saved();
        state.unfinished = true;
        Ok(())
    }

    /// One write to the journal. A full disk stops the run and frees the partial output's
    /// room, and the write is tried once more; if the journal still cannot take it, it takes
    /// nothing more (`None`), and what it holds is kept for `--resume`.
    fn journal_write<T>(
        &mut self,
        state: &mut State,
        mut write: impl FnMut(&mut Journal) -> io::Result<T>,
    ) -> Result<Option<T>, CollectError> {
        if state.journal_full {
            return Ok(None);
        }
        match write(&mut self.journal) {
            Ok(value) => return Ok(Some(value)),
            Err(e) if is_disk_full(&e) => self.disk_full("the journal"),
            Err(e) => return Err(CollectError::Journal(e)),
        }
        match write(&mut self.journal) {
            Ok(value) => Ok(Some(value)),
            Err(e) if is_disk_full(&e) => {
                state.journal_full = true;
                Ok(None)
            }
            Err(e) => Err(CollectError::Journal(e)),
        }
    }

    /// The breaker: rows failing one after another mean a dead endpoint, not bad cards.
    fn watch_failures(&self, outcome: &Outcome, consecutive: &mut u64) {
        if outcome.is_not_called() {
            // The deadline's rows say nothing of the endpoint.
            return;
        }
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
fn count_written(counters: &Counters, outcome: &Outcome, duplicate: bool) {
    Counters::add(&counters.rows_done, 1);
    if outcome.reused && !duplicate {
        Counters::add(&counters.reused, 1);
        if outcome.stale {
            Counters::add(&counters.stale, 1);
        }
    }
    if outcome.early && !duplicate {
        Counters::add(&counters.refreshed_early, 1);
    }
    match outcome.status {
        Status::Ok if outcome.flags.is_hit() => Counters::add(&counters.hits, 1),
        Status::Ok => {}
        Status::Invalid => Counters::add(&counters.invalid, 1),
        Status::Error => Counters::add(&counters.errors, 1),
    }
}

/// Gathers what the store learns from a row: `result`, when it is one worth keeping, else only
/// that the card was in the file.
fn store_update(store: &mut Option<StoreFeed>, key: Option<CardKey>, result: Option<&Outcome>) {
    let (Some(feed), Some(key)) = (store, key) else {
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

/// What is known of the result of the row at the head of the queue.
enum Known<'r> {
    Now(Cow<'r, Outcome>),
    /// It has not arrived yet.
    Later,
    /// It will not come: the run stopped before its card was called.
    Never,
}

/// Why writing rows stopped.
enum WriteFailure {
    Output(io::Error),
    /// A duplicate's result could not be read back.
    JournalRead(io::Error),
    /// A result answered from the store could not be journaled.
    Journal(io::Error),
    Changes(io::Error),
}

/// No room left: the disk, the user's quota, or the process's file size limit.
fn is_disk_full(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::NextRun;
    use crate::header::Header;
    use crate::outcome::Flags;
    use crate::output::{OutputFormat, SinkOptions};

    #[tokio::test]
    async fn a_second_signal_journals_the_answers_that_have_arrived() {
        let control = Arc::new(Control::new(None, NextRun::Resume));
        let index = Arc::new(CardIndex::new());
        let header = Header {
            names: vec![b"card".to_vec()],
            card_index: 0,
        };
        let options = SinkOptions {
            format: OutputFormat::Csv,
            delimiter: b',',
            prefix: String::new(),
            excel: false,
            mask: false,
            store_columns: false,
            line_end: crate::header::LineEnd::Lf,
        };
        let sink = OutputSink::new(Box::new(io::sink()), &header, &options, None).unwrap();
        let (results_tx, results) = mpsc::channel(8);
        // The reader is still going: without the exit the collector would wait for it.
        let (_rows_tx, rows) = mpsc::channel(1);
        let permits = Arc::new(tokio::sync::Semaphore::new(3));
        let cards = [
            "6222024332181964",
            "6228480402564890018",
            "4111111111111111",
        ];
        for (row, digits) in cards.iter().enumerate() {
            let card = crate::card::clean(digits).unwrap();
            index.claim(card.code());
            let finished = Finished::Done {
                row: row as u64,
                card,
                outcome: Outcome::ok(Flags(0), format!("JH{row}"), 1),
                previous: None,
                unjournaled: Arc::clone(&permits).try_acquire_owned().unwrap(),
            };
            results_tx.send(finished).await.unwrap();
        }
        control.stop(StopReason::Signal { number: 2 });
        control.exit_now();
        let collector = Collector {
            control: Arc::clone(&control),
            index: Arc::clone(&index),
            journal: Journal::scratch(0).unwrap(),
            sink: Some(sink),
            partial: None,
            flush_rows: false,
            window: 16,
            max_consecutive_failures: None,
            store: None,
            changes: None,
            report_changes: None,
        };
        let mut collected = collector.run(rows, results).await.unwrap();
        control.until_saved().await;
        assert!(!collected.all_written);
        for (row, digits) in cards.iter().enumerate() {
            let code = crate::card::clean(digits).unwrap().code();
            let offset = index.location(code).expect("journaled");
            let outcome = collected.journal.read(offset).unwrap();
            assert_eq!(outcome.orderid, format!("JH{row}"));
        }
    }
}
