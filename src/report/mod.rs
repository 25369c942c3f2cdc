//! What people and schedulers see: `progress` while the run goes, the `summary` at its end,
//! the estimate of a `dry_run`, and `metrics` for the monitoring that scrapes them.

mod dry_run;
mod metrics;
mod progress;
mod summary;

pub(crate) use dry_run::{DryRun, Pace};
pub(crate) use metrics::{Metrics, Sample};
pub(crate) use progress::{Progress, ProgressMode};
pub(crate) use summary::{Figure, ReaderCounts, Summary, Tally};
