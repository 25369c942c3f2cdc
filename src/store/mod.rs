//! The result store (`--store`): what earlier runs learned about each card, in an SQLite file
//! under a keyed hash of the card number, never the number, so that a night pays only for cards
//! that are new or stale and says what changed since each card was last screened. `db` opens
//! it (`schema` is its layout), `reader` looks cards up, `key` keeps the key, `codec` packs
//! orderids, `writer` applies a run's results on a thread of its own, `inspect` serves
//! `history` and `store stats|prune`.

mod codec;
mod db;
mod error;
mod inspect;
mod key;
mod options;
mod reader;
pub(crate) mod runs;
mod schema;
mod writer;

pub(crate) use db::Store;
pub use error::StoreError;
pub use inspect::{history, prune, runs, stats};
pub use options::StoreOptions;
pub(crate) use reader::{Latest, StoreReader};
pub(crate) use writer::{StoreFeed, StoreWriter, Update};
