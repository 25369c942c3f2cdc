//! What people and schedulers see: `progress` while the run goes, the `summary` at its end,
//! the estimate of a `dry_run`, `metrics` for the monitoring that scrapes them, and the
//! `page` of `--report` for the people who read the night the morning after.

mod dry_run;
mod invalid;
mod metrics;
mod page;
mod progress;
mod summary;

pub(crate) use dry_run::{DryRun, Pace};
pub(crate) use invalid::over_limit;
pub(crate) use metrics::{Metrics, Sample};
pub(crate) use page::{found, write_report, write_trend, ChangeRows};
pub(crate) use progress::{Progress, ProgressMode};
pub(crate) use summary::{Figure, ReaderCounts, Summary, Tally};
