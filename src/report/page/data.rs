//! What the page shows, gathered before any markup: the night's figures by their summary
//! field names, the last run's beside them, the trend from the store's runs table, and who ran
//! it where and when.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::changes::ChangeRows;
use crate::card::shown;
use crate::report::{Figure, Summary};
use crate::store::runs::{self, Found, RunRow};
use crate::util::clock::unix_now;
use crate::util::humane::{parse_rfc3339, rfc3339};

/// Runs the trend shows, tonight's included.
pub(crate) const TREND_RUNS: u32 = 30;

/// The tiles: a label and the summary field it shows.
pub(crate) const TILES: [(&str, &str); 12] = [
    ("rows", "rows"),
    ("ok", "ok"),
    ("hits", "hits"),
    ("new hits", "new_hits"),
    ("cleared", "cleared"),
    ("changed", "changed"),
    ("invalid", "invalid"),
    ("errors", "errors"),
    ("calls paid", "calls"),
    ("from the store", "reused"),
    ("stale", "stale"),
    ("refreshed early", "refreshed_early"),
];

/// One run on the trend's axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Point {
    pub(crate) started_at: u64,
    pub(crate) hits: Option<u64>,
    pub(crate) new_hits: Option<u64>,
    pub(crate) calls: u64,
    pub(crate) reused: u64,
    pub(crate) rows: u64,
    pub(crate) errors: u64,
    pub(crate) exit_code: Option<i32>,
}

/// A night, ready to be drawn.
pub(crate) struct Night<'a> {
    pub(crate) summary: &'a Summary,
    /// Every summary figure by its field name (maps as `hits_by_flag.fraudTrans`).
    pub(crate) figures: BTreeMap<String, Figure>,
    /// The last run's whole-number figures, with a store that has one.
    pub(crate) last: Option<BTreeMap<String, u64>>,
    pub(crate) trend: Vec<Point>,
    pub(crate) changes: Option<&'a ChangeRows>,
    pub(crate) input_name: String,
    pub(crate) started: u64,
    pub(crate) finished: u64,
    pub(crate) user: String,
    pub(crate) host: String,
}

impl<'a> Night<'a> {
    /// The night of `summary`; `history` is the store's runs before it, oldest first.
    pub(crate) fn new(
        summary: &'a Summary,
        changes: Option<&'a ChangeRows>,
        history: &[(RunRow, Found)],
    ) -> Night<'a> {
        let figures: BTreeMap<String, Figure> = summary.figures().into_iter().collect();
        let last = history.last().map(|(run, found)| last_figures(run, found));
        let started = parse_rfc3339(&summary.started_at).unwrap_or(0);
        let finished = parse_rfc3339(&summary.finished_at).unwrap_or_else(unix_now);
        let skip = history.len().saturating_sub(TREND_RUNS as usize - 1);
        let mut trend: Vec<Point> = history[skip..].iter().map(point).collect();
        if !history.is_empty() {
            trend.push(tonight(summary, started));
        }
        let input_name = Path::new(&summary.input)
            .file_name()
            .map_or_else(|| summary.input.clone(), |n| n.to_string_lossy().into());
        Night {
            summary,
            figures,
            last,
            trend,
            changes,
            input_name: shown(&input_name),
            started,
            finished,
            user: shown(&user()),
            host: shown(&host()),
        }
    }

    /// A tile's figure: `None` when the summary has no such field.
    pub(crate) fn count(&self, field: &str) -> Option<u64> {
        match self.figures.get(field)? {
            Figure::Count(n) => Some(*n),
            _ => None,
        }
    }

    /// The entries of a map of the summary (`hits_by_flag`), in the summary's order.
    pub(crate) fn entries(&self, map: &str) -> Vec<(String, u64)> {
        let prefix = format!("{map}.");
        self.summary
            .figures()
            .into_iter()
            .filter_map(|(name, figure)| match figure {
                Figure::Count(n) => Some((name.strip_prefix(&prefix)?.to_string(), n)),
                _ => None,
            })
            .collect()
    }
}

/// The summary's whole-number figures as the runs table keeps them for the next report.
pub(crate) fn found(summary: &Summary) -> Found {
    let counts: serde_json::Map<String, serde_json::Value> = summary
        .figures()
        .into_iter()
        .filter_map(|(name, figure)| match figure {
            Figure::Count(n) => Some((name, n.into())),
            _ => None,
        })
        .collect();
    Found {
        hits: Some(summary.hits),
        new_hits: summary.store.map(|s| s.new_hits),
        figures: serde_json::to_string(&counts).ok(),
    }
}

/// The last run's figures: from what it found, else from the runs table's own columns.
fn last_figures(run: &RunRow, found: &Found) -> BTreeMap<String, u64> {
    let mut figures: BTreeMap<String, u64> = found
        .figures
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    let columns = [
        ("rows", Some(run.rows)),
        ("calls", Some(run.calls)),
        ("reused", Some(run.reused)),
        ("errors", Some(run.errors)),
        ("stale", Some(run.stale)),
        ("refreshed_early", Some(run.refreshed_early)),
        ("hits", found.hits),
        ("new_hits", found.new_hits),
    ];
    for (name, value) in columns {
        if let Some(value) = value {
            figures.entry(name.to_string()).or_insert(value);
        }
    }
    figures
}

pub(crate) fn point((run, found): &(RunRow, Found)) -> Point {
    Point {
        started_at: run.started_at,
        hits: found.hits,
        new_hits: found.new_hits,
        calls: run.calls,
        reused: run.reused,
        rows: run.rows,
        errors: run.errors,
        exit_code: run.exit_code,
    }
}

fn tonight(summary: &Summary, started: u64) -> Point {
    Point {
        started_at: started,
        hits: Some(summary.hits),
        new_hits: summary.store.map(|s| s.new_hits),
        calls: summary.calls,
        reused: summary.store.map_or(0, |s| s.reused),
        rows: summary.rows,
        errors: summary.errors,
        exit_code: Some(summary.exit_code),
    }
}

/// The last runs of a store, oldest first; a store without a runs table has none. The store
/// must exist: it is never created here.
pub(crate) fn history(store: &Path, limit: u32) -> rusqlite::Result<Vec<(RunRow, Found)>> {
    let connection = Connection::open_with_flags(
        store,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    runs::migrate(&connection)?;
    runs::trend(&connection, limit)
}

/// `2026-12-07 03:15:00 +01:00`, the local time the machine's zone gives.
pub(crate) fn local_time(unix_seconds: u64) -> String {
    let secs = unix_seconds as libc::time_t;
    // SAFETY: localtime_r only reads `secs` and writes the tm passed to it.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return rfc3339(unix_seconds);
        }
        tm
    };
    let offset = tm.tm_gmtoff;
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {sign}{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        offset.abs() / 3600,
        offset.abs() % 3600 / 60,
    )
}

/// `12-07 03:15`: a run's local start on the trend's axis.
pub(crate) fn local_minute(unix_seconds: u64) -> String {
    local_time(unix_seconds)
        .get(5..16)
        .unwrap_or("")
        .to_string()
}

/// The user the process runs as: its account's name, else its uid.
fn user() -> String {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r writes into `entry` and `buffer`, whose length it is told, and sets
    // `found` to `entry` or null; the name is read only while `buffer` lives.
    unsafe {
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let done = libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        );
        if done == 0 && !found.is_null() && !entry.pw_name.is_null() {
            return std::ffi::CStr::from_ptr(entry.pw_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    format!("uid {uid}")
}

fn host() -> String {
    let mut name = [0u8; 256];
    // SAFETY: gethostname writes at most `name.len()` bytes into `name`.
    let done = unsafe { libc::gethostname(name.as_mut_ptr().cast(), name.len()) };
    if done != 0 {
        return "unknown".into();
    }
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    String::from_utf8_lossy(&name[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_run_falls_back_on_the_table_columns() {
        let run = RunRow {
            rows: 10,
            calls: 4,
            ..RunRow::default()
        };
        let found = Found {
            hits: Some(2),
            new_hits: None,
            figures: Some(r#"{"ok":9,"rows":11}"#.into()),
        };
        let last = last_figures(&run, &found);
        assert_eq!(last.get("ok"), Some(&9));
        assert_eq!(last.get("rows"), Some(&11));
        assert_eq!(last.get("calls"), Some(&4));
        assert_eq!(last.get("hits"), Some(&2));
        assert_eq!(last.get("new_hits"), None);
        assert_eq!(local_time(0).len(), "1970-01-01 00:00:00 +00:00".len());
    }
}
