//! The input stage's error: a problem with the input file as a whole, found before any call.

use std::io;
use std::path::PathBuf;

use super::decode::DecodeError;
use super::limit::TooLong;

/// A problem with the input file as a whole: exit 2, nothing called. Each message says what is
/// wrong and what to do, which is all there is to document about a variant.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)]
pub enum InputError {
    #[error("input file {0} does not exist")]
    NotFound(PathBuf),
    #[error("cannot read input {path}: {source}")]
    Unreadable { path: String, source: io::Error },
    #[error("input {0} is not a regular file but a pipe or device, which cannot be read twice (once to check its encoding, once to screen it); pass - and send it on standard input")]
    NotAFile(PathBuf),
    #[error("input {0} is empty: there is not even a header row")]
    Empty(String),
    #[error("input {path}: {source}")]
    Decode { path: String, source: DecodeError },
    #[error("input {path}: {source}")]
    TooLong { path: String, source: TooLong },
    #[error("input {path}, line {line}: {message}")]
    Csv {
        path: String,
        line: u64,
        message: String,
    },
    #[error("column {wanted:?} not found; headers are: {headers} — {advice}")]
    ColumnNotFound {
        wanted: String,
        headers: String,
        advice: String,
    },
    #[error("no card column found (looked for {looked_for}); headers are: {headers} — {advice}")]
    NoCardColumn {
        looked_for: String,
        headers: String,
        advice: String,
    },
    #[error("--column {index} is out of range: the file has {count} columns")]
    ColumnOutOfRange { index: usize, count: usize },
    #[error("--column {0:?} names a header, but --no-header says there is none; pass --column N (1-based)")]
    NameWithoutHeader(String),
    #[error("with --no-header the card column cannot be guessed from {count} columns; pass --column N (1-based)")]
    NeedsColumn { count: usize },
    #[error("input {path}: {why}")]
    NotAWorkbook { path: String, why: String },
    #[error("cannot read input {path} as an .{kind} workbook: {message}; {advice}")]
    Workbook {
        path: String,
        kind: &'static str,
        message: String,
        advice: &'static str,
    },
    #[error("input {path} is refused before any call: {what}; a card file never comes near that, so it may be built to exhaust the machine — if it is yours, save the sheet as CSV")]
    WorkbookRefused { path: String, what: String },
    #[error("input {path} has no sheet {wanted:?}; its sheets are: {sheets} — pass --sheet with a name or number")]
    NoSuchSheet {
        path: String,
        wanted: String,
        sheets: String,
    },
    #[error("input {path} has no visible worksheet; its sheets are: {sheets} — pass --sheet with a name or number")]
    NoVisibleSheet { path: String, sheets: String },
    #[error("standard input holds {0}; pass the workbook's file name instead of -, since a workbook cannot be read as a stream")]
    WorkbookOnStdin(&'static str),
}
