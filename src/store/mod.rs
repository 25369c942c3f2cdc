//! The result store (`--store`): what earlier runs learned about each card, in an SQLite file
//! under a keyed hash of the card number, never the number, so that a night pays only for cards
//! that are new or stale and says what changed since each card was last screened. `key` keeps
//! the key, `codec` packs orderids, `writer` applies a run's results on a thread of its own,
//! `inspect` serves `history` and `store stats|prune`.

mod codec;
mod inspect;
mod key;
pub(crate) mod runs;
mod writer;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::card::Card;
use crate::outcome::StoredResult;
use crate::util::files;

pub use inspect::{history, prune, runs, stats};
pub(crate) use key::CardKey;
use key::{KeyFileProblem, StoreKey};
pub(crate) use writer::{StoreFeed, StoreWriter, Update};

/// Marks the file as a cardscreen store in its SQLite header ("CSTR").
const APPLICATION_ID: i64 = 0x4353_5452;
/// The schema below; a store of a newer schema is refused rather than misread.
const SCHEMA_VERSION: i64 = 1;
/// Two runs sharing a store take turns writing; a transaction lasts well under a second, so
/// waiting a minute for the other's means something is wrong.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The schema, laid out for size (about 110 bytes a card after 30 nights of the same cards,
/// 1% changing a night): the card's 16-byte keyed hash as the primary key of a table without
/// rowids, times in seconds, results as small integers (0 to 63: `ok` with the six flags as
/// bits, so the common "no hit" takes no byte at all; 64: rejected by the vendor), orderids
/// packed (`codec`), and history rows naming their card by a small number instead of its hash.
const SCHEMA: &str = "
CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value NOT NULL
) WITHOUT ROWID;
CREATE TABLE cards (
    card BLOB PRIMARY KEY,      -- HMAC-SHA256(store key, card number), first 16 bytes
    id INTEGER NOT NULL,        -- what history rows call the card
    result INTEGER NOT NULL,    -- 0-63: ok, the six flags as bits; 64: rejected (271902)
    called INTEGER NOT NULL,    -- when the call that gave the result was answered (Unix s)
    orderid NOT NULL,           -- that call's orderid
    seen INTEGER NOT NULL       -- when the card was last in a screened file (Unix s)
) WITHOUT ROWID;
CREATE TABLE history (
    id INTEGER NOT NULL,        -- cards.id
    called INTEGER NOT NULL,    -- when this result was first answered (Unix s)
    result INTEGER NOT NULL,
    orderid NOT NULL,
    -- Two nights may fall in one second (runs by hand, tests): the result keeps them apart.
    PRIMARY KEY (id, called, result)
) WITHOUT ROWID;
";

/// What `--store`, `--store-key-file` and `--max-age` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The SQLite file.
    pub path: PathBuf,
    /// The key file (`<store>.key` unless `--store-key-file` names another).
    pub key_file: PathBuf,
    /// Results younger than this are answered from the store; zero = always call.
    pub max_age: Duration,
}

impl StoreOptions {
    /// The store at `path` with its key beside it, unless `key_file` names another.
    pub fn new(path: PathBuf, key_file: Option<PathBuf>, max_age: Duration) -> StoreOptions {
        let key_file = key_file.unwrap_or_else(|| files::sibling(&path, ".key"));
        StoreOptions {
            path,
            key_file,
            max_age,
        }
    }
}

/// The store cannot be used: exit 2, before any call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store exists, its key file does not.
    #[error("the store {store} exists but its key file {key} is missing; restore the key file (or name it with --store-key-file). A new key cannot read this store's history: a new key needs a new store")]
    KeyMissing {
        /// The store file.
        store: String,
        /// The key file looked for.
        key: String,
    },
    /// The key file holds another key than the store's.
    #[error("the key file {key} is not the key of the store {store} (the store keeps its key's fingerprint, and it differs); pass the store's own key with --store-key-file, or use a new --store path for a new key")]
    WrongKey {
        /// The store file.
        store: String,
        /// The key file read.
        key: String,
    },
    /// The key file is not 64 hexadecimal digits.
    #[error("the key file {key} is damaged: it should hold 64 hexadecimal digits; restore it from a backup")]
    BadKeyFile {
        /// The key file read.
        key: String,
    },
    /// The key file cannot be read or written.
    #[error("cannot use the key file {key}: {source}")]
    KeyFile {
        /// The key file.
        key: String,
        /// Why.
        source: io::Error,
    },
    /// The file is something else than a store.
    #[error("{store} is not a cardscreen store ({why}); choose another --store path")]
    NotAStore {
        /// The file.
        store: String,
        /// What it is instead.
        why: &'static str,
    },
    /// Made by a later version with another schema.
    #[error("the store {store} has schema {found}, newer than this cardscreen reads ({SCHEMA_VERSION}); use the cardscreen that made it")]
    Newer {
        /// The file.
        store: String,
        /// Its schema version.
        found: i64,
    },
    /// `history` or `store` on a store that is not there.
    #[error("there is no store at {0}; a screening with --store creates it")]
    Absent(String),
    /// SQLite failed.
    #[error("cannot use the store {store}: {source}")]
    Sqlite {
        /// The file.
        store: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file or its directory cannot be created.
    #[error("cannot create the store {path}: {source}")]
    Create {
        /// The file or directory.
        path: String,
        /// Why.
        source: io::Error,
    },
}

/// A store checked against its key, ready for a run's reader and writer to connect to.
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    key: Arc<StoreKey>,
    max_age: Duration,
}

/// The newest result the store holds for a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Latest {
    pub(crate) result: StoredResult,
    /// When the call that gave it was answered (Unix seconds).
    pub(crate) called: u64,
    pub(crate) orderid: String,
}

impl Store {
    /// Opens the store, creating it (and its key) when there is none yet. A store that exists
    /// is opened only with its own key: never is a new key made for it.
    pub(crate) fn open(options: &StoreOptions) -> Result<Store, StoreError> {
        let sqlite = sqlite_error(&options.path);
        if options.path.exists() {
            let connection = connect(&options.path).map_err(&sqlite)?;
            if let Some(fingerprint) = identify(&connection, &options.path)? {
                return Store::with_key(options, &fingerprint);
            }
        } else {
            create_file(&options.path)?;
        }
        let key = match StoreKey::read(&options.key_file) {
            Err(KeyFileProblem::Missing) => StoreKey::create(&options.key_file),
            found => found,
        }
        .map_err(|problem| key_error(options, problem))?;
        let mut connection = connect(&options.path).map_err(&sqlite)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(&sqlite)?;
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&sqlite)?;
        // Another run may have made the store since we looked: then it is checked as any other.
        match identify(&transaction, &options.path)? {
            Some(fingerprint) if fingerprint != key.fingerprint() => {
                return Err(StoreError::WrongKey {
                    store: options.path.display().to_string(),
                    key: options.key_file.display().to_string(),
                })
            }
            Some(_) => {}
            None => {
                transaction
                    .execute_batch(SCHEMA)
                    .and_then(|()| {
                        transaction.execute(
                            "INSERT INTO meta (name, value) VALUES ('key_fingerprint', ?1), ('next_id', 1)",
                            [key.fingerprint()],
                        )
                    })
                    .and_then(|_| {
                        transaction.pragma_update(None, "application_id", APPLICATION_ID)?;
                        transaction.pragma_update(None, "user_version", SCHEMA_VERSION)
                    })
                    .map_err(&sqlite)?;
                tracing::info!(store = %options.path.display(), key = %options.key_file.display(), "Created the result store and its key.");
            }
        }
        transaction.commit().map_err(&sqlite)?;
        Ok(Store {
            path: options.path.clone(),
            key: Arc::new(key),
            max_age: options.max_age,
        })
    }

    /// Opens a store that exists, with its key, creating nothing: `None` when there is none.
    pub(crate) fn open_existing(options: &StoreOptions) -> Result<Option<Store>, StoreError> {
        if !options.path.exists() {
            return Ok(None);
        }
        let connection = connect(&options.path).map_err(sqlite_error(&options.path))?;
        match identify(&connection, &options.path)? {
            Some(fingerprint) => Store::with_key(options, &fingerprint).map(Some),
            None => Ok(None),
        }
    }

    fn with_key(options: &StoreOptions, fingerprint: &str) -> Result<Store, StoreError> {
        let key = match StoreKey::read(&options.key_file) {
            Err(KeyFileProblem::Missing) => {
                return Err(StoreError::KeyMissing {
                    store: options.path.display().to_string(),
                    key: options.key_file.display().to_string(),
                })
            }
            found => found.map_err(|problem| key_error(options, problem))?,
        };
        if key.fingerprint() != fingerprint {
            return Err(StoreError::WrongKey {
                store: options.path.display().to_string(),
                key: options.key_file.display().to_string(),
            });
        }
        if readable_by_others(&options.key_file) {
            tracing::warn!(key = %options.key_file.display(), "The store's key file is readable by group or others; run chmod 600 on it.");
        }
        Ok(Store {
            path: options.path.clone(),
            key: Arc::new(key),
            max_age: options.max_age,
        })
    }

    /// A connection for looking cards up, for the thread that reads the input.
    pub(crate) fn reader(&self, now: u64) -> Result<StoreReader, StoreError> {
        let connection = connect(&self.path)
            .and_then(|c| {
                c.pragma_update(None, "mmap_size", READER_MMAP)?;
                Ok(c)
            })
            .map_err(sqlite_error(&self.path))?;
        Ok(StoreReader {
            connection,
            in_read: 0,
            key: Arc::clone(&self.key),
            max_age: self.max_age.as_secs(),
            now,
            path: self.path.display().to_string(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Lookups share one read transaction this long: taking one per lookup cost two file locks
/// and a read of the log's index each (6.3 s → 3.75 s for a million lookups). Ending it now and then lets
/// the writer's checkpoints go past what it still reads.
const LOOKUPS_PER_READ: u32 = 4096;

/// The reader maps this much of the store into memory rather than copying each page it reads
/// through a system call: 3.75 s → 2.70 s for a million lookups (a dry run with a store). The
/// pages it touches count in the resident memory, so the map stops at 256 MB (a store of
/// about 2.5 million cards); past it pages are read as before.
const READER_MMAP: i64 = 256 << 20;

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
    /// The card's key in the store.
    pub(crate) fn key(&self, card: &Card) -> CardKey {
        self.key.card(card)
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

    /// Whether a stored result is younger than `--max-age` at the run's time.
    pub(crate) fn is_fresh(&self, latest: &Latest) -> bool {
        self.now.saturating_sub(latest.called) < self.max_age
    }
}

/// A connection to an existing file: never creates one (`files` does, owner-only).
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // Every commit reaches the disk: once a run completes, its journal is gone and the store
    // is all there is.
    connection.pragma_update(None, "synchronous", "FULL")?;
    Ok(connection)
}

/// Copies the write-ahead log back into the store file and empties it, when no other run is
/// reading an older state of the store; waiting for one at most a moment, not the minute a
/// writer waits for a writer. The next checkpoint does what this one could not.
fn checkpoint(connection: &Connection) {
    let _ = connection
        .busy_timeout(Duration::from_secs(2))
        .and_then(|()| connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)"));
}

/// The store's key fingerprint, or `None` for an empty file a store can be made in.
fn identify(connection: &Connection, path: &Path) -> Result<Option<String>, StoreError> {
    let store = || path.display().to_string();
    let sqlite = sqlite_error(path);
    let application: i64 = connection
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(&sqlite)?;
    if application == 0 {
        let tables: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(&sqlite)?;
        return match tables {
            0 => Ok(None),
            _ => Err(StoreError::NotAStore {
                store: store(),
                why: "it holds tables of another application",
            }),
        };
    }
    if application != APPLICATION_ID {
        return Err(StoreError::NotAStore {
            store: store(),
            why: "it belongs to another application",
        });
    }
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(&sqlite)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Newer {
            store: store(),
            found: version,
        });
    }
    connection
        .query_row(
            "SELECT value FROM meta WHERE name = 'key_fingerprint'",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .map_err(sqlite)
}

/// The store's file, created owner-only in a directory created if missing; SQLite gives its
/// write-ahead log and shared-memory files the same mode.
fn create_file(path: &Path) -> Result<(), StoreError> {
    let failed = |path: &Path| {
        let path = path.display().to_string();
        move |source| StoreError::Create { path, source }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        files::create_private_dir(parent).map_err(failed(parent))?;
    }
    files::create_new_private(path).map_err(failed(path))?;
    Ok(())
}

fn key_error(options: &StoreOptions, problem: KeyFileProblem) -> StoreError {
    let key = options.key_file.display().to_string();
    match problem {
        KeyFileProblem::Missing => StoreError::KeyFile {
            key,
            source: io::ErrorKind::NotFound.into(),
        },
        KeyFileProblem::Malformed => StoreError::BadKeyFile { key },
        KeyFileProblem::Unreadable(source) => StoreError::KeyFile { key, source },
    }
}

fn sqlite_error(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| match source {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::NotADatabase => {
            StoreError::NotAStore {
                store: path.display().to_string(),
                why: "it is not an SQLite database",
            }
        }
        source => StoreError::Sqlite {
            store: path.display().to_string(),
            source,
        },
    }
}

fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path) -> StoreOptions {
        StoreOptions::new(dir.join("nightly/store.db"), None, Duration::ZERO)
    }

    #[test]
    fn a_new_store_and_its_key_are_owner_only_and_reopen() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let options = options(dir.path());
        let store = Store::open(&options).unwrap();
        for path in [&options.path, &options.key_file] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
        let again = Store::open(&options).unwrap();
        assert_eq!(store.key.fingerprint(), again.key.fingerprint());
        assert!(Store::open_existing(&options).unwrap().is_some());
    }

    #[test]
    fn a_store_is_never_opened_with_another_key_nor_given_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let options = options(dir.path());
        Store::open(&options).unwrap();
        let other = StoreOptions {
            key_file: dir.path().join("other.key"),
            ..options.clone()
        };
        StoreKey::create(&other.key_file).unwrap();
        let err = Store::open(&other).unwrap_err();
        assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
        std::fs::remove_file(&options.key_file).unwrap();
        let err = Store::open(&options).unwrap_err();
        assert!(matches!(err, StoreError::KeyMissing { .. }), "{err}");
        assert!(err.to_string().contains("store.db.key"), "{err}");
        assert!(
            !options.key_file.exists(),
            "no new key for an existing store"
        );
    }

    #[test]
    fn a_paused_reader_lets_the_log_be_copied_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&options(dir.path())).unwrap();
        let mut reader = store.reader(0).unwrap();
        assert_eq!(reader.latest(&[1; 16]).unwrap(), None);
        let writer = connect(store.path()).unwrap();
        writer
            .execute(
                "UPDATE meta SET value = value + 1 WHERE name = 'next_id'",
                [],
            )
            .unwrap();
        let copied = |c: &Connection| -> bool {
            let (log, done): (i64, i64) = c
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get(1)?, r.get(2)?))
                })
                .unwrap();
            log == done
        };
        assert!(!copied(&writer), "the reader's snapshot holds the log back");
        reader.pause();
        assert!(copied(&writer));
    }

    #[test]
    fn other_files_are_not_taken_for_stores() {
        let dir = tempfile::tempdir().unwrap();
        let options = options(dir.path());
        std::fs::create_dir_all(options.path.parent().unwrap()).unwrap();
        std::fs::write(&options.path, "id,card\n1,2\n").unwrap();
        let err = Store::open(&options).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert!(Store::open_existing(&StoreOptions::new(
            dir.path().join("absent.db"),
            None,
            Duration::ZERO
        ))
        .unwrap()
        .is_none());
    }
}
