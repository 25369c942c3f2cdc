//! The store's file as SQLite holds it: the mark that makes it a cardscreen store, and the
//! schema with its version.

/// Marks the file as a cardscreen store in its SQLite header ("CSTR").
pub(super) const APPLICATION_ID: i64 = 0x4353_5452;
/// The schema below; a store of a newer schema is refused rather than misread.
pub(super) const SCHEMA_VERSION: i64 = 1;

/// The schema, laid out for size (about 110 bytes a card after 30 nights of the same cards,
/// 1% changing a night): the card's 16-byte keyed hash as the primary key of a table without
/// rowids, times in seconds, results as small integers (0 to 63: `ok` with the six flags as
/// bits, so the common "no hit" takes no byte at all; 64: rejected by the vendor), orderids
/// packed (`codec`), and history rows naming their card by a small number instead of its hash.
pub(super) const SCHEMA: &str = "
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
