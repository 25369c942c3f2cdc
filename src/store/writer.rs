//! The store's one writer in a run: a thread of its own applies the run's results in batched
//! transactions, so that SQLite never blocks the async runtime. The collector hands it updates
//! through a bounded channel (`StoreFeed`), after journaling them: the journal stays the record
//! of the run, and applying an update twice leaves the store as applying it once.

use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{params, CachedStatement, Connection, OptionalExtension, Transaction};
use tokio::sync::mpsc;

use super::{
    codec,
    db::{checkpoint, connect, Store},
    error::{sqlite_error, StoreError},
};
use crate::outcome::{CardKey, StoredResult};

/// Updates go to the writer in batches of this many.
const FEED_BATCH: usize = 2048;
/// Batches waiting for the writer at most (about 20 MB): a slower writer holds the collector
/// back, and so the calls, rather than letting memory grow.
const FEED_CHANNEL: usize = 128;
/// A transaction takes at most this many updates (about 20 MB while they wait).
const MAX_TRANSACTION: usize = 250_000;
/// A transaction gathers the updates that come within this long of its first: every commit
/// writes each page it changed to the write-ahead log, and a card's row sits on a random page,
/// so fewer, larger transactions write far less. The run's end does not wait for it.
const GATHER: Duration = Duration::from_secs(1);
/// Pages the writer may keep changed in memory before spilling them mid-transaction (16 MB).
const WRITER_CACHE_KIB: i64 = 16 * 1024;
/// Cards only seen (answered from the store, or failed) wait this many at most (16 MB) to be
/// marked seen, in key order, in one transaction. A night that reuses a million results thus
/// writes each page of the store once; marking them as they came rewrote every page in each of
/// ten transactions and took 7 s of system time (measured on 1,000,000 rows, 2 cores), and
/// marking them in four pieces while the rows still came made that run 1.5 s slower, not
/// faster: the reader then reads changed pages from the log instead of its memory map.
const MAX_SEEN: usize = 1 << 20;

/// One change to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Update {
    /// A result received, or read back from the journal: it becomes the card's latest unless
    /// the store holds a newer one, with a history row when it differs from the one before.
    Result {
        key: CardKey,
        result: StoredResult,
        /// When the call was answered (Unix seconds).
        called: u64,
        orderid: String,
    },
    /// The card was in the file; only when it was last seen moves.
    Seen(CardKey),
}

impl Update {
    fn key(&self) -> &CardKey {
        match self {
            Update::Result { key, .. } | Update::Seen(key) => key,
        }
    }
}

/// What a run's writer did, for the log.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Written {
    pub(crate) results: u64,
    pub(crate) new_cards: u64,
    pub(crate) history_rows: u64,
}

/// The writer thread, and the channel to it.
pub(crate) struct StoreWriter {
    sender: mpsc::Sender<Vec<Update>>,
    thread: JoinHandle<Result<Written, StoreError>>,
}

impl StoreWriter {
    /// Connects and starts the thread; `seen` is the run's time, written as when the run's
    /// cards were last seen in a file.
    pub(crate) fn start(store: &Store, seen: u64) -> Result<StoreWriter, StoreError> {
        let path = store.path().to_path_buf();
        let connection = connect(&path)
            .and_then(|c| {
                c.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
                // Copy the log back into the store every 40 MB rather than every 4 MB: each
                // checkpoint syncs the store file. The run's end checkpoints the rest.
                c.pragma_update(None, "wal_autocheckpoint", 10_000)?;
                Ok(c)
            })
            .map_err(sqlite_error(&path))?;
        let (sender, receiver) = mpsc::channel(FEED_CHANNEL);
        // For the gathering's timer: the thread waits on the channel with a deadline.
        let runtime = tokio::runtime::Handle::current();
        let thread = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                write(connection, receiver, seen, runtime).map_err(|source| StoreError::Sqlite {
                    store: path.display().to_string(),
                    source,
                })
            })
            .map_err(|source| StoreError::Create {
                path: "(store writer thread)".into(),
                source,
            })?;
        Ok(StoreWriter { sender, thread })
    }

    /// Where the collector puts its updates.
    pub(crate) fn feed(&self) -> StoreFeed {
        StoreFeed {
            sender: self.sender.clone(),
            pending: Vec::with_capacity(FEED_BATCH),
        }
    }

    /// Waits, off the runtime, until everything fed has been committed.
    pub(crate) async fn finish(self) -> Result<Written, StoreError> {
        drop(self.sender);
        let thread = self.thread;
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(written)) => written,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(joined) => std::panic::resume_unwind(joined.into_panic()),
        }
    }
}

/// The collector's end of the channel: updates gather here and go in batches.
pub(crate) struct StoreFeed {
    sender: mpsc::Sender<Vec<Update>>,
    pending: Vec<Update>,
}

/// The writer thread has stopped; `StoreWriter::finish` says why.
#[derive(Debug)]
pub(crate) struct WriterGone;

impl StoreFeed {
    pub(crate) fn push(&mut self, update: Update) {
        self.pending.push(update);
    }

    /// A full batch is waiting.
    pub(crate) fn is_full(&self) -> bool {
        self.pending.len() >= FEED_BATCH
    }

    /// Hands what is waiting to the writer, waiting for room when it is behind.
    pub(crate) async fn send(&mut self) -> Result<(), WriterGone> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(FEED_BATCH));
        self.sender.send(batch).await.map_err(|_| WriterGone)
    }
}

fn write(
    mut connection: Connection,
    mut receiver: mpsc::Receiver<Vec<Update>>,
    seen: u64,
    runtime: tokio::runtime::Handle,
) -> rusqlite::Result<Written> {
    let mut written = Written::default();
    let mut updates = Vec::new();
    let mut seen_only: Vec<CardKey> = Vec::new();
    while let Some(batch) = receiver.blocking_recv() {
        updates.extend(batch);
        let deadline = tokio::time::Instant::now() + GATHER;
        while updates.len() < MAX_TRANSACTION {
            let next = async { tokio::time::timeout_at(deadline, receiver.recv()).await };
            match runtime.block_on(next) {
                Ok(Some(batch)) => updates.extend(batch),
                Ok(None) | Err(_) => break,
            }
        }
        updates.retain(|update| match update {
            Update::Seen(key) => {
                seen_only.push(*key);
                false
            }
            Update::Result { .. } => true,
        });
        if !updates.is_empty() {
            // In key order the transaction walks the table's pages once, front to back.
            updates.sort_by(|a, b| a.key().cmp(b.key()));
            let transaction =
                connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            apply(&transaction, &updates, seen, &mut written)?;
            transaction.commit()?;
        }
        if seen_only.len() >= MAX_SEEN {
            mark_seen(&mut connection, &mut seen_only, seen)?;
        }
        updates.clear();
    }
    mark_seen(&mut connection, &mut seen_only, seen)?;
    // Leave the whole store in its main file.
    checkpoint(&connection);
    tracing::debug!(
        results = written.results,
        new_cards = written.new_cards,
        history_rows = written.history_rows,
        "Store updated."
    );
    Ok(written)
}

/// Marks cards seen at the run's time, in key order, in one transaction.
fn mark_seen(
    connection: &mut Connection,
    keys: &mut Vec<CardKey>,
    seen: u64,
) -> rusqlite::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    tracing::debug!(cards = keys.len(), "Marking cards seen.");
    keys.sort_unstable();
    keys.dedup();
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut touch =
            transaction.prepare_cached("UPDATE cards SET seen = max(seen, ?2) WHERE card = ?1")?;
        for key in keys.iter() {
            touch.execute(params![&key[..], seen as i64])?;
        }
    }
    transaction.commit()?;
    keys.clear();
    Ok(())
}

/// Applies one transaction's results in key order; the updates are sorted already.
fn apply(
    transaction: &Transaction<'_>,
    updates: &[Update],
    seen: u64,
    written: &mut Written,
) -> rusqlite::Result<()> {
    let first_id: i64 =
        transaction.query_row("SELECT value FROM meta WHERE name = 'next_id'", [], |r| {
            r.get(0)
        })?;
    let mut applying = Applying::prepare(transaction, seen as i64, first_id)?;
    for update in updates {
        match update {
            Update::Seen(key) => applying.touch(key)?,
            Update::Result {
                key,
                result,
                called,
                orderid,
            } => {
                let called = *called as i64;
                applying.result(key, result.code(), called, &codec::pack(orderid), written)?;
            }
        }
    }
    if applying.next_id != first_id {
        transaction.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'next_id'",
            [applying.next_id],
        )?;
    }
    Ok(())
}

/// One transaction's statements, prepared once, with the run's time and the id the next new
/// card gets.
struct Applying<'t> {
    touch: CachedStatement<'t>,
    find: CachedStatement<'t>,
    insert: CachedStatement<'t>,
    same: CachedStatement<'t>,
    replace: CachedStatement<'t>,
    history: CachedStatement<'t>,
    seen: i64,
    next_id: i64,
}

impl<'t> Applying<'t> {
    fn prepare(
        transaction: &'t Transaction<'_>,
        seen: i64,
        next_id: i64,
    ) -> rusqlite::Result<Applying<'t>> {
        Ok(Applying {
            touch: transaction
                .prepare_cached("UPDATE cards SET seen = max(seen, ?2) WHERE card = ?1")?,
            find: transaction
                .prepare_cached("SELECT id, result, called FROM cards WHERE card = ?1")?,
            insert: transaction.prepare_cached(
                "INSERT INTO cards (card, id, result, called, orderid, seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?,
            // Most nights most cards answer as before: then one statement moves the latest
            // call on, and the stored result it checks, at write time, says no history row
            // is due.
            same: transaction.prepare_cached(
                "UPDATE cards SET called = ?3, orderid = ?4, seen = max(seen, ?5) WHERE card = ?1 AND result = ?2 AND called <= ?3",
            )?,
            replace: transaction.prepare_cached(
                "UPDATE cards SET result = ?2, called = ?3, orderid = ?4, seen = max(seen, ?5) WHERE card = ?1",
            )?,
            history: transaction.prepare_cached(
                "INSERT OR IGNORE INTO history (id, called, result, orderid) VALUES (?1, ?2, ?3, ?4)",
            )?,
            seen,
            next_id,
        })
    }

    /// The card was in the file: only when it was last seen moves.
    fn touch(&mut self, key: &CardKey) -> rusqlite::Result<()> {
        self.touch.execute(params![&key[..], self.seen]).map(drop)
    }

    /// A result becomes the card's latest unless the store holds a newer one, with a history
    /// row when it differs from the one before.
    fn result(
        &mut self,
        key: &CardKey,
        code: i64,
        called: i64,
        orderid: &Value,
        written: &mut Written,
    ) -> rusqlite::Result<()> {
        let seen = self.seen;
        written.results += 1;
        if self
            .same
            .execute(params![&key[..], code, called, orderid, seen])?
            == 1
        {
            return Ok(());
        }
        let before: Option<(i64, i64, i64)> = self
            .find
            .query_row([&key[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        match before {
            None => {
                let id = self.next_id;
                self.insert
                    .execute(params![&key[..], id, code, called, orderid, seen])?;
                self.history.execute(params![id, called, code, orderid])?;
                self.next_id += 1;
                written.new_cards += 1;
                written.history_rows += 1;
            }
            // Applied already (a resumed run reads its journal again), or older than what
            // the store holds (another run sharing the store called later).
            Some((_, before, at)) if at > called || (at == called && before == code) => {
                self.touch(key)?;
            }
            Some((id, before, _)) => {
                self.replace
                    .execute(params![&key[..], code, called, orderid, seen])?;
                if before != code {
                    self.history.execute(params![id, called, code, orderid])?;
                    written.history_rows += 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{db::Store, options::StoreOptions};
    use super::*;
    use crate::outcome::Flags;

    fn result(key: u8, flags: u8, called: u64) -> Update {
        Update::Result {
            key: [key; 16],
            result: StoredResult::Ok(Flags(flags)),
            called,
            orderid: format!("JH{called}"),
        }
    }

    fn history(store: &Store) -> Vec<(i64, i64, i64, String)> {
        let connection = connect(store.path()).unwrap();
        let mut statement = connection
            .prepare("SELECT id, called, result, orderid FROM history ORDER BY id, called")
            .unwrap();
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    codec::unpack(r.get_ref(3)?),
                ))
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    async fn apply_all(store: &Store, seen: u64, updates: Vec<Update>) {
        let writer = StoreWriter::start(store, seen).unwrap();
        let mut feed = writer.feed();
        for update in updates {
            feed.push(update);
        }
        feed.send().await.unwrap();
        drop(feed);
        writer.finish().await.unwrap();
    }

    #[tokio::test]
    async fn history_grows_only_when_a_result_differs_and_applying_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions::new(
            dir.path().join("s.db"),
            None,
            Duration::ZERO,
        ))
        .unwrap();
        let night_1 = vec![result(1, 0, 100), result(2, 0b100, 100)];
        apply_all(&store, 100, night_1.clone()).await;
        // Night 2: card 1 gains a hit, card 2 stays; a resumed run applies the same again.
        let night_2 = vec![
            result(1, 0b1, 200),
            result(2, 0b100, 200),
            Update::Seen([3; 16]),
        ];
        apply_all(&store, 200, night_2.clone()).await;
        apply_all(&store, 200, night_2).await;
        // A late answer from before night 2 does not replace the newer one.
        apply_all(&store, 150, night_1).await;
        assert_eq!(
            history(&store),
            [
                (1, 100, 0, "JH100".to_string()),
                (1, 200, 1, "JH200".to_string()),
                (2, 100, 4, "JH100".to_string()),
            ]
        );
        let mut reader = store.reader(200).unwrap();
        let latest = reader.latest(&[2; 16]).unwrap().unwrap();
        assert_eq!((latest.called, latest.orderid.as_str()), (200, "JH200"));
        assert_eq!(reader.latest(&[3; 16]).unwrap(), None);
    }
}
