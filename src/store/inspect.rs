//! Looking into a store by hand: `history` (each card's results, newest first, for card
//! numbers read from standard input), `store stats` and `store prune`.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::{
    codec,
    db::{checkpoint, connect, identify, Store},
    error::{sqlite_error, StoreError},
    options::StoreOptions,
};
use crate::card::{self, mask_text};
use crate::outcome::StoredResult;
use crate::util::clock::unix_now;
use crate::util::humane::{rfc3339, thousands};
use crate::vendor::{BAD_CARD, FLAG_NAMES};

/// Prints, for every card number read from `input` (one a line), the masked card and its
/// results, newest first: when, the result, the orderid. Card numbers never come from the
/// command line, where process lists and shell history would keep them.
pub fn history(
    options: &StoreOptions,
    input: impl BufRead,
    mut out: impl Write,
) -> Result<(), StoreError> {
    let store = Store::open_existing(options)?
        .ok_or_else(|| StoreError::Absent(options.path.display().to_string()))?;
    let connection = connect(store.path()).map_err(sqlite_error(store.path()))?;
    let written = |source| StoreError::Create {
        path: "standard output".into(),
        source,
    };
    for (number, line) in input.lines().enumerate() {
        let line = line.map_err(|source| StoreError::Create {
            path: "standard input".into(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let card = match card::clean(&line) {
            Ok(card) => card,
            Err(rejection) => {
                writeln!(
                    out,
                    "line {}: {}: {rejection}",
                    number + 1,
                    mask_text(line.trim())
                )
                .map_err(written)?;
                continue;
            }
        };
        let results = card_history(&connection, &store.key.card(&card))
            .map_err(sqlite_error(store.path()))?;
        if results.is_empty() {
            writeln!(out, "{}: not in the store", card.masked()).map_err(written)?;
            continue;
        }
        writeln!(out, "{}", card.masked()).map_err(written)?;
        for (called, result, orderid) in results {
            writeln!(
                out,
                "  {}  {}  {orderid}",
                rfc3339(called),
                describe(result)
            )
            .map_err(written)?;
        }
    }
    out.flush().map_err(written)
}

fn card_history(
    connection: &Connection,
    key: &[u8],
) -> rusqlite::Result<Vec<(u64, Option<StoredResult>, String)>> {
    let id: Option<i64> = connection
        .query_row("SELECT id FROM cards WHERE card = ?1", [key], |r| r.get(0))
        .optional()?;
    let Some(id) = id else { return Ok(Vec::new()) };
    let mut statement = connection.prepare(
        "SELECT called, result, orderid FROM history WHERE id = ?1 ORDER BY called DESC",
    )?;
    let rows = statement.query_map([id], |r| {
        let called: i64 = r.get(0)?;
        Ok((
            u64::try_from(called).unwrap_or(0),
            StoredResult::from_code(r.get(1)?),
            codec::unpack(r.get_ref(2)?),
        ))
    })?;
    rows.collect()
}

/// `no hit`, `hit fraudTrans,otherBlack` or `rejected (271902)`.
fn describe(result: Option<StoredResult>) -> String {
    match result {
        Some(StoredResult::Ok(flags)) if flags.is_hit() => {
            let names: Vec<&str> = (0..FLAG_NAMES.len())
                .filter(|&index| flags.get(index))
                .map(|index| FLAG_NAMES[index])
                .collect();
            format!("hit {}", names.join(","))
        }
        Some(StoredResult::Ok(_)) => "no hit".into(),
        Some(StoredResult::Rejected) => format!("rejected ({BAD_CARD})"),
        None => "unknown result".into(),
    }
}

/// `store stats`: cards, history rows, the oldest and newest result, the file's size.
pub fn stats(options: &StoreOptions) -> Result<String, StoreError> {
    let connection = open_as_is(&options.path)?;
    let sqlite = sqlite_error(&options.path);
    let (cards, oldest, newest): (i64, Option<i64>, Option<i64>) = connection
        .query_row(
            "SELECT count(*), min(called), max(called) FROM cards",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(&sqlite)?;
    let history: i64 = connection
        .query_row("SELECT count(*) FROM history", [], |r| r.get(0))
        .map_err(&sqlite)?;
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            std::fs::metadata(crate::util::files::sibling(&options.path, suffix)).ok()
        })
        .map(|meta| meta.len())
        .sum();
    let time = |t: Option<i64>| t.map_or("-".into(), |t| rfc3339(u64::try_from(t).unwrap_or(0)));
    Ok(format!(
        "store:          {}\ncards:          {}\nhistory rows:   {}\noldest result:  {}\nnewest result:  {}\nfile size:      {} bytes ({:.1} MB)\n",
        options.path.display(),
        thousands(cards.max(0) as u64),
        thousands(history.max(0) as u64),
        time(oldest),
        time(newest),
        thousands(size),
        size as f64 / 1e6,
    ))
}

/// `store runs`: the last `limit` runs, oldest first, as text or a JSON array.
pub fn runs(options: &StoreOptions, limit: u32, json: bool) -> Result<String, StoreError> {
    let connection = open_as_is(&options.path)?;
    let sqlite = sqlite_error(&options.path);
    // A store made before the runs table has had no run recorded yet.
    super::runs::migrate(&connection).map_err(&sqlite)?;
    let listed = super::runs::last(&connection, limit).map_err(&sqlite)?;
    if json {
        let text = serde_json::to_string_pretty(&listed).unwrap_or_else(|_| "[]".into());
        return Ok(format!("{text}\n"));
    }
    let time = |t: Option<u64>| t.map_or("-".into(), rfc3339);
    let mut out = String::from("started_at            finished_at           rows  calls  reused  refreshed_early  stale  errors  exit\n");
    for r in &listed {
        out.push_str(&format!(
            "{}  {}  {}  {}  {}  {}  {}  {}  {}\n",
            rfc3339(r.started_at),
            time(r.finished_at),
            r.rows,
            r.calls,
            r.reused,
            r.refreshed_early,
            r.stale,
            r.errors,
            r.exit_code.map_or("-".into(), |c| c.to_string()),
        ));
    }
    Ok(out)
}

/// `store prune`: deletes the cards not seen in a file for `older_than`, with their history.
pub fn prune(
    options: &StoreOptions,
    older_than: Duration,
    vacuum: bool,
) -> Result<String, StoreError> {
    let mut connection = open_as_is(&options.path)?;
    let sqlite = sqlite_error(&options.path);
    let cutoff = unix_now().saturating_sub(older_than.as_secs()) as i64;
    let transaction = connection
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(&sqlite)?;
    let history = transaction
        .execute(
            "DELETE FROM history WHERE id IN (SELECT id FROM cards WHERE seen < ?1)",
            [cutoff],
        )
        .map_err(&sqlite)?;
    let cards = transaction
        .execute("DELETE FROM cards WHERE seen < ?1", [cutoff])
        .map_err(&sqlite)?;
    let left: i64 = transaction
        .query_row("SELECT count(*) FROM cards", [], |r| r.get(0))
        .map_err(&sqlite)?;
    transaction.commit().map_err(&sqlite)?;
    checkpoint(&connection);
    let mut report = format!(
        "pruned {} cards not seen in a file for {} (and their {} history rows); {} cards remain\n",
        thousands(cards as u64),
        crate::util::humane::span(older_than),
        thousands(history as u64),
        thousands(left.max(0) as u64),
    );
    if vacuum {
        report.push_str(&vacuum_file(&connection, &options.path)?);
    }
    Ok(report)
}

/// Rewrites the store file without its free pages (SQLite VACUUM), so the space pruning freed
/// goes back to the file system; says the file's size before and after, and how long it took.
fn vacuum_file(connection: &Connection, path: &Path) -> Result<String, StoreError> {
    let sqlite = sqlite_error(path);
    let size = || std::fs::metadata(path).map_or(0, |meta| meta.len());
    let before = size();
    let started = std::time::Instant::now();
    connection.execute_batch("VACUUM").map_err(&sqlite)?;
    checkpoint(connection);
    let took = started.elapsed();
    Ok(format!(
        "vacuumed {}: {} bytes before, {} after, in {:.1} s\n",
        path.display(),
        thousands(before),
        thousands(size()),
        took.as_secs_f64(),
    ))
}

/// A store opened without its key: what `stats` and `prune` do needs no card's hash.
fn open_as_is(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Absent(path.display().to_string()));
    }
    let connection = connect(path).map_err(sqlite_error(path))?;
    match identify(&connection, path)? {
        Some(_) => Ok(connection),
        None => Err(StoreError::NotAStore {
            store: path.display().to_string(),
            why: "it is empty",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Flags;
    use std::io;

    #[test]
    fn results_read_as_words() {
        assert_eq!(describe(Some(StoredResult::Ok(Flags(0)))), "no hit");
        assert_eq!(
            describe(Some(StoredResult::Ok(Flags(0b1001)))),
            "hit onlineBlack,fraudTrans"
        );
        assert_eq!(describe(Some(StoredResult::Rejected)), "rejected (271902)");
    }

    #[test]
    fn looking_into_a_missing_store_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions::new(dir.path().join("none.db"), None, Duration::ZERO);
        let err = stats(&options).unwrap_err();
        assert!(err.to_string().contains("no store at"), "{err}");
        let err = history(&options, io::empty(), io::sink()).unwrap_err();
        assert!(matches!(err, StoreError::Absent(_)), "{err}");
        assert!(!options.path.exists() && !options.key_file.exists());
    }
}
