//! The collector: the one task that receives rows in input order from the reader and results
//! in any order from the pool, journals each result as it arrives, and writes the output rows
//! back in input order through a bounded reorder window.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::io::{self, Write};
use std::sync::Arc;

use csv::ByteRecord;
use tokio::sync::mpsc;

use crate::control::{Control, Counters, StopReason};
use crate::dedup::{CardHasher, CardIndex};
use crate::journal::Journal;
use crate::outcome::{Outcome, Status, FLAG_NAMES};
use crate::pool::Finished;
use crate::report::Tally;

/// The columns added to every row, in output order (before `--prefix`).
pub const ADDED_COLUMNS: [&str; 12] = [
    "status",
    "hit",
    "onlineBlack",
    "offlineBlack",
    "badCardHolder",
    "fraudTrans",
    "otherBlack",
    "caseRelated",
    "orderid",
    "error_code",
    "error",
    "attempts",
];

/// How a row gets its result.
#[derive(Debug)]
pub enum Plan {
    /// Settled without a call: rejected locally, or kept from an earlier output (`--retry-errors`).
    Settled(Outcome),
    /// Its card is being called for; the result comes from the pool.
    Call,
    /// An earlier row has the same card: copy its result with attempts 0.
    Duplicate,
    /// An interrupted earlier run already paid for this card: take its journaled result.
    Journaled,
}

/// One input row on its way to the output.
#[derive(Debug)]
pub struct Row {
    pub row: u64,
    pub record: ByteRecord,
    /// Packed card number; meaningful for every plan but `Settled`.
    pub card_code: u64,
    pub plan: Plan,
}

/// Where the output rows go.
pub struct OutputSink {
    csv: csv::Writer<Box<dyn Write + Send>>,
    header_len: usize,
    card_index: usize,
    mask: bool,
    /// Scratch for the masked card cell.
    masked: String,
}

impl OutputSink {
    /// Writes the header (and a BOM for Excel) at once: a file with only a header screens to an
    /// output with only a header.
    pub fn new(
        mut out: Box<dyn Write + Send>,
        header: &crate::reader::Header,
        delimiter: u8,
        prefix: &str,
        excel: bool,
        mask: bool,
    ) -> io::Result<OutputSink> {
        if excel {
            out.write_all("\u{feff}".as_bytes())?;
        }
        let mut csv = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_writer(out);
        let mut names = ByteRecord::new();
        for name in &header.names {
            names.push_field(name);
        }
        for name in ADDED_COLUMNS {
            names.push_field(format!("{prefix}{name}").as_bytes());
        }
        csv.write_byte_record(&names).map_err(csv_to_io)?;
        Ok(OutputSink {
            csv,
            header_len: header.names.len(),
            card_index: header.card_index,
            mask,
            masked: String::new(),
        })
    }

    pub fn write_row(&mut self, record: &ByteRecord, outcome: &Outcome) -> io::Result<()> {
        for (index, field) in record.iter().enumerate() {
            if self.mask && index == self.card_index {
                self.masked = crate::card::mask_cell(&String::from_utf8_lossy(field));
                self.csv
                    .write_field(self.masked.as_bytes())
                    .map_err(csv_to_io)?;
            } else {
                self.csv.write_field(field).map_err(csv_to_io)?;
            }
        }
        // Short (ragged) rows are padded so the added columns stay under their names.
        for _ in record.len()..self.header_len {
            self.csv.write_field(b"").map_err(csv_to_io)?;
        }
        let ok = outcome.status == Status::Ok;
        self.csv
            .write_field(outcome.status.as_str())
            .map_err(csv_to_io)?;
        let hit: &[u8] = match (ok, outcome.flags.is_hit()) {
            (false, _) => b"",
            (true, true) => b"1",
            (true, false) => b"0",
        };
        self.csv.write_field(hit).map_err(csv_to_io)?;
        for index in 0..FLAG_NAMES.len() {
            let flag: &[u8] = match (ok, outcome.flags.get(index)) {
                (false, _) => b"",
                (true, true) => b"1",
                (true, false) => b"0",
            };
            self.csv.write_field(flag).map_err(csv_to_io)?;
        }
        self.csv
            .write_field(outcome.orderid.as_bytes())
            .map_err(csv_to_io)?;
        let mut number = itoa_buffer();
        match outcome.error_code {
            Some(code) => self
                .csv
                .write_field(format_i64(code, &mut number))
                .map_err(csv_to_io)?,
            None => self.csv.write_field(b"").map_err(csv_to_io)?,
        }
        self.csv
            .write_field(outcome.error.as_bytes())
            .map_err(csv_to_io)?;
        self.csv
            .write_field(format_i64(i64::from(outcome.attempts), &mut number))
            .map_err(csv_to_io)?;
        self.csv.write_record(None::<&[u8]>).map_err(csv_to_io)
    }

    /// Flushes and hands back the underlying writer.
    pub fn finish(self) -> io::Result<Box<dyn Write + Send>> {
        self.csv.into_inner().map_err(|e| e.into_error())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.csv.flush()
    }
}

fn itoa_buffer() -> [u8; 24] {
    [0; 24]
}

/// Formats without allocating: this runs twice per row.
fn format_i64(value: i64, buf: &mut [u8; 24]) -> &[u8] {
    let mut n = value.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

fn csv_to_io(error: csv::Error) -> io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// How the collector ended.
pub struct Collected {
    pub tally: Tally,
    pub sink: OutputSink,
    pub journal: Journal,
    /// Every row the reader sent was written.
    pub all_written: bool,
    /// Rows sent by the reader.
    pub rows_received: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot write the output: {0}")]
    Output(io::Error),
    #[error("cannot write the journal: {0}")]
    Journal(io::Error),
    /// The reader of standard output went away (`| head`): end quietly.
    #[error("standard output was closed")]
    OutputClosed,
}

pub struct Collector {
    pub control: Arc<Control>,
    pub index: Arc<CardIndex>,
    pub journal: Journal,
    pub sink: OutputSink,
    pub window: usize,
    pub max_consecutive_failures: Option<u64>,
}

impl Collector {
    pub async fn run(
        mut self,
        mut rows: mpsc::Receiver<Vec<Row>>,
        mut results: mpsc::Receiver<Finished>,
    ) -> Result<Collected, CollectError> {
        let mut queue: VecDeque<Row> = VecDeque::with_capacity(self.window);
        // Row numbers need no SipHash; the card hasher's single multiply is enough.
        let mut ready: HashMap<u64, Outcome, BuildHasherDefault<CardHasher>> = HashMap::default();
        let mut unfinished = false;
        let mut tally = Tally::default();
        let mut consecutive_failures: u64 = 0;
        let mut rows_open = true;
        let mut results_open = true;
        let mut rows_received: u64 = 0;
        let mut dropped_rows = false;
        // Results can go quiet for long (backoffs, a slow API): sync what came last anyway.
        let mut sync_tick = tokio::time::interval(std::time::Duration::from_secs(1));
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Write every row at the head whose result is known.
            if !unfinished {
                while let Some(head) = queue.front() {
                    let fetched;
                    let outcome = match &head.plan {
                        Plan::Settled(outcome) => outcome,
                        Plan::Call => match ready.remove(&head.row) {
                            Some(outcome) => {
                                fetched = outcome;
                                &fetched
                            }
                            None => break,
                        },
                        Plan::Duplicate | Plan::Journaled => {
                            match self.index.location(head.card_code) {
                                Some(offset) => {
                                    let mut outcome =
                                        self.journal.read(offset).map_err(CollectError::Journal)?;
                                    if matches!(head.plan, Plan::Duplicate) {
                                        outcome.attempts = 0;
                                    }
                                    fetched = outcome;
                                    &fetched
                                }
                                // The first row with this card never got its answer.
                                None if self.control.is_stopping() => {
                                    unfinished = true;
                                    break;
                                }
                                None => break,
                            }
                        }
                    };
                    let duplicate = matches!(head.plan, Plan::Duplicate);
                    self.emit(&head.record, outcome, duplicate, &mut tally)?;
                    queue.pop_front();
                }
            }
            if !rows_open && !results_open {
                break;
            }
            let room = queue.len() < self.window || unfinished;
            tokio::select! {
                biased;
                finished = results.recv(), if results_open => match finished {
                    Some(first) => {
                        let mut next = Some(first);
                        let mut unjournaled = Vec::new();
                        // Take everything already waiting, then flush once: one write for many results.
                        while let Some(finished) = next {
                            match finished {
                                Finished::Done { row, card, outcome, unjournaled: permit } => {
                                    unjournaled.push(permit);
                                    let offset = self.journal.append(card.code(), &outcome).map_err(CollectError::Journal)?;
                                    self.index.record(card.code(), offset);
                                    self.watch_failures(&outcome, &mut consecutive_failures);
                                    ready.insert(row, outcome);
                                }
                                Finished::Stopped => unfinished = true,
                            }
                            next = results.try_recv().ok();
                        }
                        self.journal.flush().map_err(CollectError::Journal)?;
                        // Only now may the workers pay for more answers.
                        drop(unjournaled);
                    }
                    None => results_open = false,
                },
                batch = rows.recv(), if rows_open && room => match batch {
                    Some(batch) => {
                        rows_received += batch.len() as u64;
                        if unfinished {
                            dropped_rows = true;
                        } else {
                            queue.extend(batch);
                        }
                    }
                    None => rows_open = false,
                },
                _ = sync_tick.tick() => self.journal.flush().map_err(CollectError::Journal)?,
            }
        }
        self.journal.sync().map_err(CollectError::Journal)?;
        self.sink.flush().map_err(output_error)?;
        Ok(Collected {
            tally,
            all_written: queue.is_empty() && !dropped_rows && !unfinished,
            rows_received,
            sink: self.sink,
            journal: self.journal,
        })
    }

    fn emit(
        &mut self,
        record: &ByteRecord,
        outcome: &Outcome,
        duplicate: bool,
        tally: &mut Tally,
    ) -> Result<(), CollectError> {
        self.sink.write_row(record, outcome).map_err(output_error)?;
        tally.count(outcome, duplicate);
        let counters = &self.control.counters;
        Counters::add(&counters.rows_done, 1);
        match outcome.status {
            Status::Ok if outcome.flags.is_hit() => Counters::add(&counters.hits, 1),
            Status::Ok => {}
            Status::Invalid => Counters::add(&counters.invalid, 1),
            Status::Error => Counters::add(&counters.errors, 1),
        }
        Ok(())
    }

    /// The breaker: rows failing one after another mean a dead endpoint, not bad cards.
    fn watch_failures(&self, outcome: &Outcome, consecutive: &mut u64) {
        if outcome.status == Status::Error {
            *consecutive += 1;
            if let Some(limit) = self.max_consecutive_failures {
                if *consecutive >= limit {
                    self.control.stop(StopReason::Breaker {
                        failures: *consecutive,
                    });
                }
            }
        } else {
            *consecutive = 0;
        }
    }
}

fn output_error(error: io::Error) -> CollectError {
    if error.kind() == io::ErrorKind::BrokenPipe {
        CollectError::OutputClosed
    } else {
        CollectError::Output(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_like_display() {
        let mut buf = itoa_buffer();
        for n in [0i64, 7, 42, 271901, -10, i64::MAX, i64::MIN] {
            assert_eq!(format_i64(n, &mut buf), n.to_string().as_bytes());
        }
    }
}
