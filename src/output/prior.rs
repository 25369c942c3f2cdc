//! The output of an earlier, completed run, read back alongside the input for
//! `--retry-errors`: its added columns, found by name from the end of each row, say which rows
//! keep their result and which are asked for again. A CSV is read here; a workbook's rows come
//! from the input stage's workbook reader, handed in by the run.

use std::fs::File;
use std::io;
use std::path::Path;

use csv::ByteRecord;

use super::columns::{added_names, column, ADDED_COUNT, STORE_COLUMNS};
use crate::outcome::{Change, Flags, Outcome, Reason, Status};
use crate::util::humane::parse_rfc3339;

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
    #[error("{path}, row {line}: {why}")]
    Row {
        path: String,
        line: u64,
        why: String,
    },
}

/// Reads the next row of an earlier output that is not CSV; `false` at its end.
pub(crate) type ReadRecord = Box<dyn FnMut(&mut ByteRecord) -> io::Result<bool> + Send>;

enum Rows {
    Csv(csv::Reader<File>),
    Other(ReadRecord),
}

impl Rows {
    fn read(&mut self, record: &mut ByteRecord) -> io::Result<bool> {
        match self {
            Rows::Csv(csv) => csv.read_byte_record(record).map_err(io::Error::other),
            Rows::Other(read) => read(record),
        }
    }
}

pub(crate) struct PriorOutput {
    rows: Rows,
    record: ByteRecord,
    /// Records read, the header included: the line or sheet row of the last one.
    read: u64,
    name: String,
    /// The columns cardscreen added: `ADDED_COUNT`, and the store's two with a store.
    added: usize,
}

impl PriorOutput {
    /// Opens an earlier CSV output and checks that its last columns are the ones cardscreen adds.
    pub(crate) fn open(
        path: &Path,
        delimiter: u8,
        prefix: &str,
        store: bool,
    ) -> Result<PriorOutput, PriorError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| PriorError::Unreadable {
            path: name.clone(),
            source,
        })?;
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(file);
        PriorOutput::start(Rows::Csv(csv), name, prefix, store)
    }

    /// An earlier output read by `read` (a workbook's rows, as text), checked as `open` checks.
    pub(crate) fn from_rows(
        read: ReadRecord,
        path: &Path,
        prefix: &str,
        store: bool,
    ) -> Result<PriorOutput, PriorError> {
        PriorOutput::start(Rows::Other(read), path.display().to_string(), prefix, store)
    }

    /// Reads the header; `store` says whether the store's two columns follow cardscreen's.
    fn start(
        mut rows: Rows,
        name: String,
        prefix: &str,
        store: bool,
    ) -> Result<PriorOutput, PriorError> {
        let added = ADDED_COUNT + if store { STORE_COLUMNS.len() } else { 0 };
        let mut header = ByteRecord::new();
        let mismatch = |why: &str| PriorError::Mismatch {
            path: name.clone(),
            why: why.to_string(),
        };
        if !rows.read(&mut header).unwrap_or(false) || header.len() < added {
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
            rows,
            record: ByteRecord::new(),
            read: 1,
            name,
            added,
        })
    }

    /// The earlier result for the next row: `Some` to keep it, `None` to call again.
    pub(crate) fn next(&mut self) -> Result<Option<Outcome>, PriorError> {
        self.read += 1;
        let more = self
            .rows
            .read(&mut self.record)
            .map_err(|e| PriorError::Row {
                path: self.name.clone(),
                line: self.read,
                why: format!("cannot read the earlier output: {e}"),
            })?;
        if !more || self.record.len() < self.added {
            return Err(PriorError::Row {
                path: self.name.clone(),
                line: self.read,
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
        !self.rows.read(&mut self.record).unwrap_or(false)
    }
}
