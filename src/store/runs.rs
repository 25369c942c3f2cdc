//! The runs table: one row per run that made or reused calls, with its counts and exit code
//! (no file name, no card, no key). Added to older stores when they are opened; a resumed run
//! keeps the start of the run it continues, and so updates that run's row.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    rows INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    reused INTEGER NOT NULL DEFAULT 0,
    refreshed_early INTEGER NOT NULL DEFAULT 0,
    stale INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    version TEXT NOT NULL
)";

/// One run as `store runs` shows it; times are Unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct RunRow {
    pub started_at: u64,
    pub finished_at: Option<u64>,
    pub rows: u64,
    pub calls: u64,
    pub reused: u64,
    pub refreshed_early: u64,
    pub stale: u64,
    pub errors: u64,
    pub exit_code: Option<i32>,
}

/// Gives a store made before the runs table its table; harmless on a newer one.
pub(crate) fn migrate(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(SCHEMA)?;
    add_found_columns(connection)
}

/// Columns added after the table: nullable, so rows of older runs simply lack them.
const FOUND_COLUMNS: [(&str, &str); 3] = [
    ("hits", "INTEGER"),
    ("new_hits", "INTEGER"),
    ("figures", "TEXT"),
];

fn add_found_columns(connection: &Connection) -> rusqlite::Result<()> {
    let mut statement = connection.prepare("SELECT name FROM pragma_table_info('runs')")?;
    let present: Vec<String> = statement
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, kind) in FOUND_COLUMNS {
        if !present.iter().any(|p| p == name) {
            connection.execute_batch(&format!("ALTER TABLE runs ADD COLUMN {name} {kind}"))?;
        }
    }
    Ok(())
}

/// What a run found, for the report's trend and its comparison with the last run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Found {
    pub hits: Option<u64>,
    /// Only with a store's earlier results to compare against.
    pub new_hits: Option<u64>,
    /// The run's summary figures that are whole numbers, as a JSON object by field name (no
    /// file name, no text from outside).
    pub figures: Option<String>,
}

/// Writes what a run found beside its counts.
pub(crate) fn found(connection: &Connection, id: i64, found: &Found) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE runs SET hits = ?2, new_hits = ?3, figures = ?4 WHERE id = ?1",
        params![
            id,
            found.hits.map(|v| v as i64),
            found.new_hits.map(|v| v as i64),
            found.figures,
        ],
    )?;
    Ok(())
}

/// The last `limit` runs with what they found, oldest first.
pub(crate) fn trend(connection: &Connection, limit: u32) -> rusqlite::Result<Vec<(RunRow, Found)>> {
    let runs = last(connection, limit)?;
    let mut statement = connection.prepare(
        "SELECT hits, new_hits, figures FROM (SELECT * FROM runs ORDER BY id DESC LIMIT ?1)
            ORDER BY id",
    )?;
    let found = statement.query_map([limit], |r| {
        let n = |i: usize| {
            r.get::<_, Option<i64>>(i)
                .map(|v| v.map(|v| v.max(0) as u64))
        };
        Ok(Found {
            hits: n(0)?,
            new_hits: n(1)?,
            figures: r.get(2)?,
        })
    })?;
    let found: Vec<Found> = found.collect::<rusqlite::Result<_>>()?;
    Ok(runs.into_iter().zip(found).collect())
}

/// Starts a run's row and returns its id, for the journal to keep so a resume continues it.
pub(crate) fn begin(connection: &Connection, started_at: u64) -> rusqlite::Result<i64> {
    connection.execute(
        "INSERT INTO runs (started_at, version) VALUES (?1, ?2)",
        params![started_at as i64, env!("CARGO_PKG_VERSION")],
    )?;
    Ok(connection.last_insert_rowid())
}

/// The latest run that started at `started_at`, with the calls it paid: the row a resumed run
/// continues.
pub(crate) fn started_at(
    connection: &Connection,
    started_at: u64,
) -> rusqlite::Result<Option<(i64, u64)>> {
    connection
        .query_row(
            "SELECT id, calls FROM runs WHERE started_at = ?1 ORDER BY id DESC LIMIT 1",
            [started_at as i64],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)),
        )
        .optional()
}

/// Writes a run's counts so far; `calls` is what the run paid in total, resumes included.
pub(crate) fn update(connection: &Connection, id: i64, run: &RunRow) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE runs SET finished_at = ?2, rows = ?3, calls = ?4, reused = ?5,
            refreshed_early = ?6, stale = ?7, errors = ?8, exit_code = ?9 WHERE id = ?1",
        params![
            id,
            run.finished_at.map(|t| t as i64),
            run.rows as i64,
            run.calls as i64,
            run.reused as i64,
            run.refreshed_early as i64,
            run.stale as i64,
            run.errors as i64,
            run.exit_code,
        ],
    )?;
    Ok(())
}

/// The last `limit` runs, oldest first.
pub(crate) fn last(connection: &Connection, limit: u32) -> rusqlite::Result<Vec<RunRow>> {
    let mut statement = connection.prepare(
        "SELECT started_at, finished_at, rows, calls, reused, refreshed_early, stale, errors,
            exit_code FROM (SELECT * FROM runs ORDER BY id DESC LIMIT ?1) ORDER BY id",
    )?;
    let rows = statement.query_map([limit], |r| {
        let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
        Ok(RunRow {
            started_at: n(0)?,
            finished_at: r.get::<_, Option<i64>>(1)?.map(|v| v.max(0) as u64),
            rows: n(2)?,
            calls: n(3)?,
            reused: n(4)?,
            refreshed_early: n(5)?,
            stale: n(6)?,
            errors: n(7)?,
            exit_code: r.get(8)?,
        })
    })?;
    rows.collect()
}

/// The start of the latest run up to `now`, to level tonight against; `None` with no run. A
/// resumed run keeps its start and so finds its own row: it refreshes nothing early.
pub(crate) fn previous_start(connection: &Connection, now: u64) -> rusqlite::Result<Option<u64>> {
    connection.query_row(
        "SELECT MAX(started_at) FROM runs WHERE started_at <= ?1",
        [now as i64],
        |r| {
            r.get::<_, Option<i64>>(0)
                .map(|v| v.map(|v| v.max(0) as u64))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_runs_table_gains_the_found_columns_empty() {
        let c = Connection::open_in_memory().expect("memory db");
        c.execute_batch(SCHEMA).expect("the table as it was");
        let id = begin(&c, 1000).expect("begin");
        migrate(&c).expect("migrate");
        migrate(&c).expect("migrating twice is harmless");
        let trend = trend(&c, 30).expect("trend");
        assert_eq!(trend.len(), 1);
        assert_eq!(trend[0].1, Found::default());
        let found = Found {
            hits: Some(1),
            new_hits: Some(1),
            figures: None,
        };
        super::found(&c, id, &found).expect("found");
        assert_eq!(super::trend(&c, 30).expect("trend")[0].1, found);
    }

    #[test]
    fn runs_are_listed_oldest_first_and_a_resume_continues_its_row() {
        let c = Connection::open_in_memory().expect("memory db");
        migrate(&c).expect("migrate");
        migrate(&c).expect("migrating twice is harmless");
        assert_eq!(previous_start(&c, 2000).expect("query"), None);
        let ids: Vec<i64> = (0..5)
            .map(|n| begin(&c, 1000 + n).expect("begin"))
            .collect();
        let mut run = RunRow {
            started_at: 1004,
            calls: 7,
            ..RunRow::default()
        };
        update(&c, ids[4], &run).expect("update");
        run.calls = 12;
        run.exit_code = Some(0);
        run.finished_at = Some(1100);
        update(&c, ids[4], &run).expect("resume");
        let listed = last(&c, 2).expect("list");
        assert_eq!(
            listed.iter().map(|r| r.started_at).collect::<Vec<_>>(),
            [1003, 1004]
        );
        assert_eq!(listed[1], run);
        assert_eq!(previous_start(&c, 2000).expect("query"), Some(1004));
        assert_eq!(previous_start(&c, 1003).expect("query"), Some(1003));
        let found = Found {
            hits: Some(3),
            new_hits: None,
            figures: Some("{\"ok\":3}".into()),
        };
        super::found(&c, ids[4], &found).expect("found");
        let trend = trend(&c, 2).expect("trend");
        assert_eq!(trend[0].1, Found::default());
        assert_eq!(trend[1], (run.clone(), found));
        let json = serde_json::to_value(&listed[1]).expect("json");
        for key in [
            "started_at",
            "finished_at",
            "rows",
            "calls",
            "reused",
            "refreshed_early",
            "stale",
            "errors",
            "exit_code",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}
