//! What the settings tell the store: where its file and its key are, and how old a result
//! may be to answer a card.

use std::path::PathBuf;
use std::time::Duration;

use crate::util::files;

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
