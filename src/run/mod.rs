//! One screening run, steered as the data flows: `checks` and `prepare` before the first call,
//! `start` (pool, reader thread in `feed`, `signals`), `collect`, then `settle`; `screen` runs
//! the four in order; `survey` reads the file ahead to plan the night, and `dry_run` prints
//! what it finds without a call.

mod checks;
mod collect;
mod dry_run;
mod endpoint;
mod error;
mod feed;
mod files;
mod prepare;
mod record;
mod screen;
mod settle;
mod signals;
mod start;
mod survey;

pub(crate) use error::RunError;
pub(crate) use screen::screen;
