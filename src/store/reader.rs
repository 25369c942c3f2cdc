//! Looking cards up for the planner, on a connection of its own, in read transactions shared
//! by thousands of lookups.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};

use super::codec;
use super::error::StoreError;
use super::key::StoreKey;
use crate::card::Card;
use crate::outcome::{CardKey, StoredResult};

/// The newest result the store holds for a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Latest {
    pub(crate) result: StoredResult,
    /// When the call that gave it was answered (Unix seconds).
    pub(crate) called: u64,
    pub(crate) orderid: String,
}

/// Lookups share one read transaction this long: taking one per lookup cost two file locks
/// and a read of the log's index each (6.3 s → 3.75 s for a million lookups). Ending it now and then lets
/// the writer's checkpoints go past what it still reads.
const LOOKUPS_PER_READ: u32 = 4096;

/// Looks cards up on a connection of its own.
pub(crate) struct StoreReader {
    connection: Connection,
    /// Lookups made in the read transaction that is open, if any.
    in_read: u32,
    key: Arc<StoreKey>,
    /// `--max-age` in seconds; 0 = never answer from the store.
    max_age: u64,
    /// The run's time, against which `--max-age` is measured.
    now: u64,
    path: String,
}

impl StoreReader {
    /// A reader on `connection`, judging results by `max_age` seconds at the run's time `now`.
    pub(super) fn new(
        connection: Connection,
        key: Arc<StoreKey>,
        max_age: u64,
        now: u64,
        path: String,
    ) -> StoreReader {
        StoreReader {
            connection,
            in_read: 0,
            key,
            max_age,
            now,
            path,
        }
    }

    /// The card's key in the store.
    pub(crate) fn key(&self, card: &Card) -> CardKey {
        self.key.card(card)
    }

    /// The run's time, against which ages are measured.
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// When the latest run up to the run's time started, from the runs table; `None` with none.
    pub(crate) fn previous_run_start(&self) -> Option<u64> {
        // A store made before the runs table has no earlier run to level against.
        super::runs::previous_start(&self.connection, self.now)
            .ok()
            .flatten()
    }

    /// Whether any result can be young enough to be answered from the store.
    pub(crate) fn reuses(&self) -> bool {
        self.max_age > 0
    }

    /// The newest result the store holds for the card.
    pub(crate) fn latest(&mut self, key: &CardKey) -> Result<Option<Latest>, StoreError> {
        let sqlite = |source| StoreError::Sqlite {
            store: self.path.clone(),
            source,
        };
        if self.in_read == LOOKUPS_PER_READ {
            self.connection.execute_batch("COMMIT").map_err(sqlite)?;
            self.in_read = 0;
        }
        if self.in_read == 0 {
            self.connection.execute_batch("BEGIN").map_err(sqlite)?;
        }
        self.in_read += 1;
        let mut statement = self
            .connection
            .prepare_cached("SELECT result, called, orderid FROM cards WHERE card = ?1")
            .map_err(|source| StoreError::Sqlite {
                store: self.path.clone(),
                source,
            })?;
        statement
            .query_row([&key[..]], |row| {
                let result = StoredResult::from_code(row.get(0)?);
                let called: i64 = row.get(1)?;
                let orderid = codec::unpack(row.get_ref(2)?);
                Ok(result.map(|result| Latest {
                    result,
                    called: u64::try_from(called).unwrap_or(0),
                    orderid,
                }))
            })
            .optional()
            .map(Option::flatten)
            .map_err(|source| StoreError::Sqlite {
                store: self.path.clone(),
                source,
            })
    }

    /// Ends the read transaction, if one is open: called before the reader thread may wait
    /// for long (a slow API fills the reorder window), so that the writer's checkpoints are
    /// not held back meanwhile and the log does not grow for as long as the night lasts.
    pub(crate) fn pause(&mut self) {
        if self.in_read > 0 {
            self.in_read = 0;
            if let Err(e) = self.connection.execute_batch("COMMIT") {
                tracing::debug!(error = %e, "Ending the store's read transaction failed.");
            }
        }
    }

    /// How old a stored result is at the run's time, in seconds; one from the future (the
    /// clock went back) is of age zero.
    pub(crate) fn age(&self, latest: &Latest) -> u64 {
        self.now.saturating_sub(latest.called)
    }

    /// Whether a stored result is younger than `--max-age` at the run's time.
    pub(crate) fn is_fresh(&self, latest: &Latest) -> bool {
        self.now.saturating_sub(latest.called) < self.max_age
    }
}
