//! Opening the store: created with its key when there is none, otherwise opened only with its
//! own key; the connections every part of the store uses, and the checkpoint that copies the
//! write-ahead log back.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::error::{sqlite_error, StoreError};
use super::key::{KeyFileProblem, StoreKey};
use super::options::StoreOptions;
use super::reader::StoreReader;
use super::schema::{APPLICATION_ID, SCHEMA, SCHEMA_VERSION};
use crate::util::files;

/// Two runs sharing a store take turns writing; a transaction lasts well under a second, so
/// waiting a minute for the other's means something is wrong.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The reader maps this much of the store into memory rather than copying each page it reads
/// through a system call: 3.75 s → 2.70 s for a million lookups (a dry run with a store). The
/// pages it touches count in the resident memory, so the map stops at 256 MB (a store of
/// about 2.5 million cards); past it pages are read as before.
const READER_MMAP: i64 = 256 << 20;

/// A store checked against its key, ready for a run's reader and writer to connect to.
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    /// What `inspect` hashes a card with, as the reader and the writer do.
    pub(super) key: Arc<StoreKey>,
    max_age: Duration,
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
        Ok(StoreReader::new(
            connection,
            Arc::clone(&self.key),
            self.max_age.as_secs(),
            now,
            self.path.display().to_string(),
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A connection to an existing file: never creates one (`files` does, owner-only).
pub(super) fn connect(path: &Path) -> rusqlite::Result<Connection> {
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
pub(super) fn checkpoint(connection: &Connection) {
    let _ = connection
        .busy_timeout(Duration::from_secs(2))
        .and_then(|()| connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)"));
}

/// The store's key fingerprint, or `None` for an empty file a store can be made in.
pub(super) fn identify(connection: &Connection, path: &Path) -> Result<Option<String>, StoreError> {
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
