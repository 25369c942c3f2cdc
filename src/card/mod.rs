//! Card numbers as they arrive in spreadsheet cells: cleaning them (`clean`), rejecting what
//! cannot be a card before a paid API call is spent on it, packing them into a `u64` for
//! deduplication (`number`), and masking them wherever they might be shown to a person (`mask`).

mod chars;
mod clean;
mod mask;
mod number;

pub use clean::{clean, mask_cell, Rejection};
pub use mask::mask_text;
pub(crate) use mask::{shown, shown_bytes};
pub use number::Card;
