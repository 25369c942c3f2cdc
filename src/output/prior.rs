//! The output of an earlier, completed run, read back alongside the input for
//! `--retry-errors`: its added columns, found by name from the end of each row, say which rows
//! keep their result and which are asked for again.

use std::fs::File;
use std::path::Path;

use csv::ByteRecord;

use super::sink::{added_names, column, ADDED_COUNT, STORE_COLUMNS};
use crate::humane::parse_rfc3339;
use crate::outcome::{Change, Flags, Outcome, Reason, Status};

/// The earlier output cannot serve `--retry-errors`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PriorError {
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} does not match the input: {why}; run without --retry-errors to screen the file again")]
    Mismatch { path: String, why: String },
    #[error("{path}, line {line}: {why}")]
    Row {
        path: String,
        line: u64,
        why: String,
    },
}

pub(crate) struct PriorOutput {
    csv: csv::Reader<File>,
    record: ByteRecord,
    name: String,
    /// The columns cardscreen added: `ADDED_COUNT`, and the store's two with a store.
    added: usize,
}

impl PriorOutput {
    /// Opens the earlier output and checks that its last columns are the ones cardscreen adds.
    pub(crate) fn open(
        path: &Path,
        delimiter: u8,
        prefix: &str,
        store: bool,
    ) -> Result<PriorOutput, PriorError> {
        let added = ADDED_COUNT + if store { STORE_COLUMNS.len() } else { 0 };
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| PriorError::Unreadable {
            path: name.clone(),
            source,
        })?;
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(file);
        let mut header = ByteRecord::new();
        let mismatch = |why: &str| PriorError::Mismatch {
            path: name.clone(),
            why: why.to_string(),
        };
        if !csv.read_byte_record(&mut header).unwrap_or(false) || header.len() < added {
            return Err(mismatch("it has no cardscreen header"));
        }
        let tail = header.iter().skip(header.len() - added);
        if !tail.eq(added_names(prefix, store)
            .collect::<Vec<_>>()
            .iter()
            .map(|n| n.as_bytes()))
        {
            return Err(mismatch(
                "its last columns are not the ones cardscreen adds (was --prefix or --store different?)",
            ));
        }
        Ok(PriorOutput {
            csv,
            record: ByteRecord::new(),
            name,
            added,
        })
    }

    /// The earlier result for the next row: `Some` to keep it, `None` to call again.
    pub(crate) fn next(&mut self) -> Result<Option<Outcome>, PriorError> {
        let more = self
            .csv
            .read_byte_record(&mut self.record)
            .map_err(|e| PriorError::Row {
                path: self.name.clone(),
                line: e.position().map(|p| p.line()).unwrap_or(0),
                why: "cannot read the earlier output".into(),
            })?;
        if !more || self.record.len() < self.added {
            return Err(PriorError::Row {
                path: self.name.clone(),
                line: self.record.position().map(|p| p.line()).unwrap_or(0),
                why: "the earlier output has fewer rows than the input; run without --retry-errors"
                    .into(),
            });
        }
        let first = self.record.len() - self.added;
        let added = |column: usize| std::str::from_utf8(&self.record[first + column]).unwrap_or("");
        let attempts = added(column::ATTEMPTS).parse().unwrap_or(0);
        let kept = match Status::parse(added(column::STATUS)) {
            Some(Status::Ok) => {
                let bits: [bool; 6] = std::array::from_fn(|i| added(column::FLAGS + i) == "1");
                Some(Outcome::ok(
                    Flags::from_bools(bits),
                    added(column::ORDERID).to_string(),
                    attempts,
                ))
            }
            Some(Status::Invalid) => {
                let error_code = added(column::ERROR_CODE).parse().ok();
                let mut outcome =
                    Outcome::invalid(Reason::VendorRejected, added(column::ERROR).to_string());
                // Only the vendor's rejections have a code; the others were rejected locally
                // and are checked again from the input.
                if error_code.is_none() {
                    outcome.reason = None;
                }
                outcome.error_code = error_code;
                outcome.attempts = attempts;
                Some(outcome)
            }
            Some(Status::Error) | None => None,
        };
        Ok(kept.map(|mut outcome| {
            if self.added > ADDED_COUNT {
                outcome.screened_at = parse_rfc3339(added(ADDED_COUNT));
                outcome.change = Change::parse(added(ADDED_COUNT + 1));
            }
            outcome
        }))
    }

    /// True when the earlier output has no row left.
    pub(crate) fn at_end(&mut self) -> bool {
        !self.csv.read_byte_record(&mut self.record).unwrap_or(false)
    }
}
