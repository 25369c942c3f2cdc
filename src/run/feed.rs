//! The reader thread: reads every row, has the planner decide how it gets its result, hands
//! the cards to call to the pool and the rows, in batches, to the collector. Blocking on the
//! row channel is what bounds the reorder window.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use csv::ByteRecord;
use tokio::sync::mpsc;

use crate::call::{Job, Pool};
use crate::card::mask_text;
use crate::control::{Control, Counters, StopReason};
use crate::input::planner::Planner;
use crate::input::InputReader;
use crate::outcome::Row;
use crate::output::PriorOutput;
use crate::report::ReaderCounts;

/// Rows go to the collector in batches of up to this many: when the window is full the reader
/// waits for room, and waking it for every row written cost a futex call and a context switch
/// a row on each side.
pub(super) const ROW_BATCH: usize = 64;

/// Everything the reader thread owns.
pub(super) struct Feed {
    pub(super) input: InputReader,
    pub(super) planner: Planner,
    /// The earlier output, read row for row beside the input (`--retry-errors`).
    pub(super) prior: Option<PriorOutput>,
    pub(super) pool: Pool,
    pub(super) rows: mpsc::Sender<Vec<Row>>,
    pub(super) control: Arc<Control>,
}

/// How the reader thread ended.
pub(super) struct FeedEnd {
    /// The input was read to its end (and the earlier output with it).
    pub(super) eof: bool,
    pub(super) rows: u64,
    pub(super) counts: ReaderCounts,
}

/// Waits for the reader thread without blocking the runtime. A thread that panicked read
/// nothing to its end.
pub(super) async fn join(feed: JoinHandle<FeedEnd>) -> FeedEnd {
    tokio::task::spawn_blocking(move || feed.join())
        .await
        .ok()
        .and_then(|joined| joined.ok())
        .unwrap_or(FeedEnd {
            eof: false,
            rows: 0,
            counts: ReaderCounts::default(),
        })
}

impl Feed {
    pub(super) fn spawn(self) -> std::io::Result<JoinHandle<FeedEnd>> {
        std::thread::Builder::new()
            .name("reader".into())
            .spawn(move || self.run())
    }

    fn run(mut self) -> FeedEnd {
        let mut sent: u64 = 0;
        let mut record = ByteRecord::new();
        let mut batch: Vec<Row> = Vec::with_capacity(ROW_BATCH);
        let eof = loop {
            if self.control.is_stopping() {
                break false;
            }
            match self.input.next_row(&mut record) {
                Ok(true) => {}
                Ok(false) => break true,
                Err(e) => break self.fail(&e),
            }
            Counters::add(&self.control.counters.rows_read, 1);
            let kept = match self.prior.as_mut().map(PriorOutput::next).transpose() {
                Ok(kept) => kept.flatten(),
                Err(e) => break self.fail(&e),
            };
            // An exact-size copy (three allocations) for the row, and the read buffer stays:
            // taking the buffer instead left an empty record that grew field by field on the
            // next read.
            let card_cell = self.input.card_cell();
            let (row, call) = match self.planner.plan(sent, record.clone(), card_cell, kept) {
                Ok(planned) => planned,
                Err(e) => break self.fail(&e),
            };
            if let Some(call) = call {
                self.pool.submit(Job {
                    row: sent,
                    card: call.card,
                    previous: call.previous,
                    fallback: call.fallback,
                });
            }
            batch.push(row);
            sent += 1;
            // A full batch goes; so does a partial one when the collector has nothing left to
            // do, so that rows trickling in from a pipe are not held back waiting for company.
            if batch.len() >= ROW_BATCH || self.rows.capacity() == self.rows.max_capacity() {
                if self.rows.capacity() == 0 {
                    // The window is full: this thread may now wait as long as a call takes.
                    self.planner.pause();
                }
                let full = std::mem::replace(&mut batch, Vec::with_capacity(ROW_BATCH));
                if self.rows.blocking_send(full).is_err() {
                    break false;
                }
            }
        };
        let eof = eof && (batch.is_empty() || self.rows.blocking_send(batch).is_ok());
        if eof {
            self.control
                .counters
                .rows_total
                .store(sent, Ordering::Relaxed);
        }
        let eof = eof && self.prior.as_mut().is_none_or(PriorOutput::at_end);
        FeedEnd {
            eof,
            rows: sent,
            counts: ReaderCounts {
                luhn_warnings: self.planner.luhn_warnings(),
                blank_lines: self.input.blank_lines(),
            },
        }
    }

    /// Stops the run for a problem with the input; the results so far are kept.
    fn fail(&self, error: &dyn std::error::Error) -> bool {
        self.control.stop(StopReason::Input {
            message: mask_text(&error.to_string()).into_owned(),
        });
        false
    }
}
