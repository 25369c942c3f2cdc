//! Where output rows go: the input's cells as they were (the card masked with `--mask`), then
//! the added columns, as CSV in the input's delimiter. The added columns, and the cells of the
//! two a store adds, are listed here for every sink.

use std::io::{self, Write};

use csv::ByteRecord;

use crate::humane::rfc3339;
use crate::input::Header;
use crate::outcome::{Outcome, Status, FLAG_NAMES};

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
    pub(crate) delimiter: u8,
    /// Put before every added column name.
    pub(crate) prefix: String,
    /// Start with a UTF-8 BOM so that Excel shows Chinese text.
    pub(crate) excel: bool,
    /// Write the card cell masked.
    pub(crate) mask: bool,
    /// Add `STORE_COLUMNS`.
    pub(crate) store_columns: bool,
}

/// The added column names with their prefix.
pub(crate) fn added_names(prefix: &str, store: bool) -> impl Iterator<Item = String> + '_ {
    added_columns(store).map(move |name| format!("{prefix}{name}"))
}

/// Where the output rows go.
pub(crate) struct OutputSink {
    csv: csv::Writer<Box<dyn Write + Send>>,
    header_len: usize,
    card_index: usize,
    mask: bool,
    store_columns: bool,
    /// Scratch for the masked card cell.
    masked: String,
}

impl OutputSink {
    /// Writes the header (and a BOM for Excel) at once: a file with only a header screens to an
    /// output with only a header.
    pub(crate) fn new(
        mut out: Box<dyn Write + Send>,
        header: &Header,
        options: &SinkOptions,
    ) -> io::Result<OutputSink> {
        if options.excel {
            out.write_all("\u{feff}".as_bytes())?;
        }
        let mut csv = csv::WriterBuilder::new()
            .delimiter(options.delimiter)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_writer(out);
        let mut names = ByteRecord::new();
        for name in &header.names {
            names.push_field(name);
        }
        for name in added_names(&options.prefix, options.store_columns) {
            names.push_field(name.as_bytes());
        }
        csv.write_byte_record(&names).map_err(csv_to_io)?;
        Ok(OutputSink {
            csv,
            header_len: header.names.len(),
            card_index: header.card_index,
            mask: options.mask,
            store_columns: options.store_columns,
            masked: String::new(),
        })
    }

    pub(crate) fn write_row(&mut self, record: &ByteRecord, outcome: &Outcome) -> io::Result<()> {
        for (index, field) in record.iter().enumerate() {
            if self.mask && index == self.card_index {
                self.masked = crate::card::mask_cell(&String::from_utf8_lossy(field));
                self.csv
                    .write_field(self.masked.as_bytes())
                    .map_err(csv_to_io)?;
            } else {
                self.field(field)?;
            }
        }
        // Short (ragged) rows are padded so the added columns stay under their names.
        for _ in record.len()..self.header_len {
            self.field(b"")?;
        }
        let ok = outcome.status == Status::Ok;
        let bit = |on: bool| -> &'static [u8] {
            match (ok, on) {
                (false, _) => b"",
                (true, true) => b"1",
                (true, false) => b"0",
            }
        };
        self.field(outcome.status.as_str().as_bytes())?;
        self.field(bit(outcome.flags.is_hit()))?;
        for index in 0..FLAG_NAMES.len() {
            self.field(bit(outcome.flags.get(index)))?;
        }
        self.field(outcome.orderid.as_bytes())?;
        let mut number = itoa::Buffer::new();
        match outcome.error_code {
            Some(code) => self.field(number.format(code).as_bytes())?,
            None => self.field(b"")?,
        }
        self.field(outcome.error.as_bytes())?;
        self.field(number.format(outcome.attempts).as_bytes())?;
        if self.store_columns {
            for cell in store_cells(outcome) {
                self.field(cell.as_bytes())?;
            }
        }
        self.csv.write_record(None::<&[u8]>).map_err(csv_to_io)
    }

    fn field(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.csv.write_field(bytes).map_err(csv_to_io)
    }

    /// Flushes and hands back the underlying writer.
    pub(crate) fn finish(self) -> io::Result<Box<dyn Write + Send>> {
        self.csv.into_inner().map_err(|e| e.into_error())
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.csv.flush()
    }
}

fn csv_to_io(error: csv::Error) -> io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Flags, Reason};

    fn written(options: &SinkOptions, rows: &[(&[&str], Outcome)]) -> String {
        let header = Header {
            names: vec![b"id".to_vec(), b"card".to_vec()],
            card_index: 1,
        };
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut sink = OutputSink::new(Box::new(Shared(buffer.clone())), &header, options).unwrap();
        for (cells, outcome) in rows {
            sink.write_row(&ByteRecord::from(cells.to_vec()), outcome)
                .unwrap();
        }
        drop(sink.finish().unwrap());
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn options() -> SinkOptions {
        SinkOptions {
            delimiter: b',',
            prefix: String::new(),
            excel: false,
            mask: false,
            store_columns: false,
        }
    }

    #[test]
    fn rows_get_the_added_columns_in_order() {
        let mut failed = Outcome::error(Some(271901), "data source timeout".into(), 5);
        failed.error_code = Some(271901);
        let text = written(
            &options(),
            &[
                (
                    &["1", "6222024332181964"],
                    Outcome::ok(Flags(0b100), "JH1".into(), 1),
                ),
                (
                    &["2", "62"],
                    Outcome::invalid(Reason::TooFewDigits, "short".into()),
                ),
                (&["3"], failed),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "id,card,status,hit,onlineBlack,offlineBlack,badCardHolder,fraudTrans,otherBlack,caseRelated,orderid,error_code,error,attempts",
                "1,6222024332181964,ok,1,0,0,1,0,0,0,JH1,,,1",
                "2,62,invalid,,,,,,,,,,short,0",
                "3,,error,,,,,,,,,271901,data source timeout,5",
            ]
        );
    }

    #[test]
    fn a_store_adds_when_and_what_changed() {
        let options = SinkOptions {
            store_columns: true,
            ..options()
        };
        let mut hit = Outcome::ok(Flags(0b1), "JH1".into(), 1);
        hit.screened_at = Some(1_740_795_341);
        hit.change = Some(crate::outcome::Change::NewHit);
        let text = written(
            &options,
            &[
                (&["1", "6222024332181964"], hit),
                (
                    &["2", "62"],
                    Outcome::invalid(Reason::TooFewDigits, "short".into()),
                ),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with(",attempts,screened_at,change"), "{text}");
        assert!(
            lines[1].ends_with(",JH1,,,1,2025-03-01T02:15:41Z,new_hit"),
            "{text}"
        );
        assert!(lines[2].ends_with(",short,0,,"), "{text}");
    }

    #[test]
    fn mask_prefix_and_bom_apply() {
        let options = SinkOptions {
            delimiter: b';',
            prefix: "s_".into(),
            excel: true,
            mask: true,
            store_columns: false,
        };
        let text = written(
            &options,
            &[(
                &["1", "6222024332181964"],
                Outcome::ok(Flags(0), "JH1".into(), 1),
            )],
        );
        assert!(
            text.starts_with("\u{feff}id;card;s_status;s_hit;"),
            "{text}"
        );
        assert!(text.contains("1;622202******1964;ok;0;"), "{text}");
    }
}
