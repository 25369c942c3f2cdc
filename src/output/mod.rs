//! The output stage: the `collector` takes rows in input order and results in any order,
//! journals every result (`journal`) and writes rows in input order to the `sink`; `prior`
//! reads an earlier output back for `--retry-errors`; `columns` are the columns every sink adds;
//! `lock` keeps a second run off an output that a run is writing. `sink` writes CSV,
//! `workbook` an Excel workbook; `target` names where the output goes and in which format.

mod collector;
mod columns;
mod journal;
mod lock;
mod prior;
mod sink;
mod target;
mod workbook;

pub(crate) use collector::{CollectError, Collected, Collector};
pub(crate) use columns::{added_names, SinkOptions};
pub(crate) use journal::{Fingerprint, InputStamp, Journal, JournalError};
pub(crate) use lock::{LockFailure, OutputLock};
pub(crate) use prior::{PriorError, PriorOutput};
pub(crate) use sink::OutputSink;
pub(crate) use target::{OutputFormat, OutputTarget};
pub(crate) use workbook::{CELL_CHARS, SHEET_ROWS};
