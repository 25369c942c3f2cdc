//! What people and schedulers see: `progress` while the run goes, the `summary` at its end,
//! and the estimate of a `dry_run`.

mod dry_run;
mod progress;
mod summary;

pub(crate) use dry_run::{DryRun, Pace};
pub(crate) use progress::{Progress, ProgressMode};
pub(crate) use summary::{Figure, ReaderCounts, Summary, Tally};
