//! Why the store cannot be used, and SQLite's errors said as the store's.

use std::io;
use std::path::Path;

use super::schema::SCHEMA_VERSION;

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

/// SQLite's error as the store at `path` has it: a file that is no database is not a store.
pub(super) fn sqlite_error(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
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
