//! The page written: after a run from its summary, its changed rows and the store's last runs,
//! or the trend alone from a store. Created fresh, owner-only, and renamed into place.

use std::io::{self, Write};
use std::path::Path;

use super::changes::ChangeRows;
use super::data::{history, point, Night, TREND_RUNS};
use super::template::{night_page, trend_page};
use crate::card::shown;
use crate::report::Summary;
use crate::util::clock::unix_now;
use crate::util::files;

/// Writes the report of a night. With a store, its last runs make the trend; a store that
/// cannot be read leaves the trend out with a warning.
pub(crate) fn write_report(
    path: &Path,
    summary: &Summary,
    changes: Option<&ChangeRows>,
    store: Option<&Path>,
) -> io::Result<()> {
    let runs = match store.map(|store| history(store, TREND_RUNS - 1)) {
        Some(Ok(runs)) => runs,
        Some(Err(error)) => {
            tracing::warn!(%error, "Could not read the store's runs for the report's trend.");
            Vec::new()
        }
        None => Vec::new(),
    };
    let page = night_page(&Night::new(summary, changes, &runs));
    write_page(path, &page)
}

/// `store report`: the trend of a store's last runs alone.
pub(crate) fn write_trend(store: &Path, path: &Path) -> Result<(), String> {
    if !store.is_file() {
        return Err(format!("{}: no such store", store.display()));
    }
    let runs = history(store, TREND_RUNS).map_err(|e| format!("{}: {e}", store.display()))?;
    let points: Vec<_> = runs.iter().map(point).collect();
    let name = store.file_name().map_or_else(
        || store.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let page = trend_page(&shown(&name), &points, unix_now());
    write_page(path, &page).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_page(path: &Path, page: &str) -> io::Result<()> {
    files::write_atomically(path, |file| file.write_all(page.as_bytes()))
}
