//! What every sink writes after the input's cells: the added columns and their order, the two
//! a store adds, and a row longer than the header fitted to it. The sinks (`sink.rs`,
//! `workbook.rs`) and the reading back of an earlier output (`prior.rs`) share them.

use std::borrow::Cow;

use csv::ByteRecord;

use crate::header::LineEnd;
use crate::outcome::{Outcome, FLAG_NAMES};
use crate::util::humane::rfc3339;

/// How many columns are added to every row.
pub(crate) const ADDED_COUNT: usize = 12;

/// The columns added to every row, in output order (before `--prefix`).
pub(crate) const ADDED_COLUMNS: [&str; ADDED_COUNT] = [
    "status",
    "hit",
    FLAG_NAMES[0],
    FLAG_NAMES[1],
    FLAG_NAMES[2],
    FLAG_NAMES[3],
    FLAG_NAMES[4],
    FLAG_NAMES[5],
    "orderid",
    "error_code",
    "error",
    "attempts",
];

/// The columns added after `attempts` when a store is in use (`--store`).
pub(crate) const STORE_COLUMNS: [&str; 2] = ["screened_at", "change"];

/// The columns added to every row, in output order (before `--prefix`): `ADDED_COLUMNS`,
/// then `STORE_COLUMNS` with a store.
pub(crate) fn added_columns(store: bool) -> impl Iterator<Item = &'static str> {
    let store_columns = if store { &STORE_COLUMNS[..] } else { &[] };
    ADDED_COLUMNS.iter().chain(store_columns).copied()
}

/// The cells of `STORE_COLUMNS` for a row: the RFC 3339 time of the call that gave its result
/// and how it compares with the store's previous one; empty for rows without either.
pub(crate) fn store_cells(outcome: &Outcome) -> [String; 2] {
    [
        outcome.screened_at.map(rfc3339).unwrap_or_default(),
        outcome
            .change
            .map(|change| change.as_str().to_string())
            .unwrap_or_default(),
    ]
}

/// Where each added column stands among `ADDED_COLUMNS`.
pub(crate) mod column {
    pub(crate) const STATUS: usize = 0;
    /// The first of the six flags.
    pub(crate) const FLAGS: usize = 2;
    pub(crate) const ORDERID: usize = 8;
    pub(crate) const ERROR_CODE: usize = 9;
    pub(crate) const ERROR: usize = 10;
    pub(crate) const ATTEMPTS: usize = 11;
}

/// How output rows are written.
#[derive(Debug, Clone)]
pub(crate) struct SinkOptions {
    pub(crate) format: super::target::OutputFormat,
    /// CSV only.
    pub(crate) delimiter: u8,
    /// Put before every added column name.
    pub(crate) prefix: String,
    /// Start a CSV with a UTF-8 BOM so that Excel shows Chinese text.
    pub(crate) excel: bool,
    /// Write the card cell masked.
    pub(crate) mask: bool,
    /// Add `STORE_COLUMNS`.
    pub(crate) store_columns: bool,
    /// CSV only: how each row ends, as the input's rows did.
    pub(crate) line_end: LineEnd,
}

/// The added column names with their prefix.
pub(crate) fn added_names(prefix: &str, store: bool) -> impl Iterator<Item = String> + '_ {
    added_columns(store).map(move |name| format!("{prefix}{name}"))
}

/// `record` fitted to the header. A row longer than the header (it is `invalid`) gets its
/// cells from the header's last column on joined in that column, as the input wrote them (the
/// delimiter between, quoted where needed): nothing is lost and every added column stays under
/// its name. Other rows are left as they are.
pub(super) fn fit_to_header(
    record: &ByteRecord,
    header_len: usize,
    delimiter: u8,
) -> Cow<'_, ByteRecord> {
    if record.len() <= header_len {
        return Cow::Borrowed(record);
    }
    let last = header_len.saturating_sub(1);
    let mut fitted = ByteRecord::new();
    for field in record.iter().take(last) {
        fitted.push_field(field);
    }
    let mut joined = Vec::new();
    for (index, field) in record.iter().skip(last).enumerate() {
        if index > 0 {
            joined.push(delimiter);
        }
        quote_into(&mut joined, field, delimiter);
    }
    fitted.push_field(&joined);
    Cow::Owned(fitted)
}

/// Appends `field` as a CSV cell, as the `csv` crate writes it: quoted, its quotes doubled,
/// when it holds the delimiter, a quote or a line break.
pub(super) fn quote_into(out: &mut Vec<u8>, field: &[u8], delimiter: u8) {
    if !field
        .iter()
        .any(|&b| b == delimiter || matches!(b, b'"' | b'\n' | b'\r'))
    {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for &byte in field {
        if byte == b'"' {
            out.push(b'"');
        }
        out.push(byte);
    }
    out.push(b'"');
}
