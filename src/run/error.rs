//! What ends a run as a whole before or while it goes (exit 2): each stage's own error, and the
//! problems only the run as a whole can see, each saying what to do.

use std::io;

use crate::call::ClientError;
use crate::input::InputError;
use crate::output::{CollectError, JournalError, OutputTarget, PriorError, CELL_CHARS, SHEET_ROWS};
use crate::store::StoreError;

/// A problem found before any call, or one that ends the run as a whole (exit 2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Prior(#[from] PriorError),
    #[error("the output would get a column {name:?} that the input already has; pass --prefix (for example --prefix screen_)")]
    NameClash { name: String },
    #[error("an unfinished run for {output} exists ({journal}); pass --resume to continue it, or --fresh to discard it and start over")]
    Unfinished { output: String, journal: String },
    #[error("--retry-errors needs the output of a completed run, and {0} does not exist; run without --retry-errors first")]
    NothingToRetry(String),
    #[error("an unfinished run for {0} exists; finish it with --resume before --retry-errors")]
    RetryWhileUnfinished(String),
    #[error("another cardscreen run ({holder}) is writing {output}; let it finish (or stop it) before starting another run on the same output")]
    Locked { holder: String, output: String },
    #[error("cannot write {path}: {source}")]
    Output { path: String, source: io::Error },
    #[error("the input has {rows} data rows, but a workbook sheet holds {} below its header; write CSV instead (-o NAME.csv or --output-format csv)", SHEET_ROWS - 1)]
    TooManyRows { rows: u64 },
    #[error("data row {row}, column {column} holds {chars} characters, more than a workbook cell holds ({CELL_CHARS}); write CSV instead (-o NAME.csv or --output-format csv)")]
    CellTooLong {
        row: u64,
        column: usize,
        chars: usize,
    },
    #[error("cannot write the metrics file {path}: {source}; check --metrics")]
    Metrics { path: String, source: io::Error },
    #[cfg(feature = "simulator")]
    #[error("cannot start the built-in simulator: {0}")]
    Simulator(io::Error),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Collect(#[from] CollectError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{0}; the results are kept in the journal: fix the store, then run again with --resume"
    )]
    StoreWrite(StoreError),
}

/// The output cannot be written.
pub(super) fn output_error(output: &OutputTarget, source: io::Error) -> RunError {
    RunError::Output {
        path: output.to_string(),
        source,
    }
}
