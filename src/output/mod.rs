//! The output stage: the `collector` takes rows in input order and results in any order,
//! journals every result (`journal`) and writes rows in input order to the `sink`; `prior`
//! reads an earlier output back for `--retry-errors`; `files` creates every file written;
//! `lock` keeps a second run off an output that a run is writing. `sink` writes CSV,
//! `workbook` an Excel workbook.

mod collector;
mod columns;
mod journal;
mod lock;
mod prior;
mod sink;
mod workbook;

use std::path::PathBuf;

pub(crate) use collector::{CollectError, Collected, Collector};
pub(crate) use columns::{added_names, SinkOptions};
pub(crate) use journal::{Fingerprint, InputStamp, Journal, JournalError};
pub(crate) use lock::{LockFailure, OutputLock};
pub(crate) use prior::{PriorError, PriorOutput};
pub(crate) use sink::OutputSink;
pub(crate) use workbook::{CELL_CHARS, SHEET_ROWS};

/// How the output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    /// Delimited text, in the input's delimiter.
    Csv,
    /// An Excel workbook, every input cell kept as text.
    Xlsx,
}

impl OutputFormat {
    /// The file extension, also the word `--output-format` takes.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Xlsx => "xlsx",
        }
    }
}

/// Where the output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutputTarget {
    Path(PathBuf),
    Stdout,
}

impl std::fmt::Display for OutputTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputTarget::Path(path) => write!(f, "{}", path.display()),
            OutputTarget::Stdout => f.write_str("standard output"),
        }
    }
}
