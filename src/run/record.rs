//! A run's row in the store's runs table, written when the run ends, so `store runs` shows
//! every run with the calls it paid; a resumed run continues the row of the run it finishes.
//! Failing to write it is a warning, never the run's end.

use crate::cli::{RunMode, Settings};
use crate::report::Summary;
use crate::store::runs::{self, RunRow};
use crate::util::clock::unix_now;

/// Adds the run's row, or with `--resume` updates the interrupted run's, adding this run's
/// calls to its own; a run with neither calls nor reused rows leaves none.
pub(super) fn record(settings: &Settings, started_at: u64, summary: &Summary) {
    let Some(options) = &settings.store else {
        return;
    };
    let reused = summary.store.map_or(0, |s| s.reused);
    if settings.dry_run || (summary.calls == 0 && reused == 0) {
        return;
    }
    let mut row = RunRow {
        started_at,
        finished_at: Some(unix_now()),
        rows: summary.rows,
        calls: summary.calls,
        reused,
        refreshed_early: summary.store.map_or(0, |s| s.refreshed_early),
        stale: summary.store.map_or(0, |s| s.stale),
        errors: summary.errors,
        exit_code: Some(summary.exit_code),
    };
    let written = rusqlite::Connection::open(&options.path).and_then(|c| {
        c.busy_timeout(std::time::Duration::from_secs(5))?;
        runs::migrate(&c)?;
        let continued = match settings.mode {
            RunMode::Resume => runs::started_at(&c, started_at)?,
            _ => None,
        };
        let id = match continued {
            Some((id, calls)) => {
                row.calls += calls;
                id
            }
            None => runs::begin(&c, started_at)?,
        };
        runs::update(&c, id, &row)?;
        runs::found(&c, id, &crate::report::found(summary))
    });
    if let Err(error) = written {
        tracing::warn!(%error, "Could not record the run in the store's runs table.");
    }
}
