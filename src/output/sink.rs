//! Where output rows go: the input's cells as they were (the card masked with `--mask`), then
//! the added columns (`columns.rs`), as CSV in the input's delimiter or as a workbook
//! (`workbook.rs`).

use std::io::{self, Write};
use std::path::Path;

use csv::ByteRecord;

use super::columns::{added_names, fit_to_header, quote_into, store_cells, SinkOptions};
use super::target::OutputFormat;
use super::workbook::XlsxSink;
use crate::header::{Header, LineEnd};
use crate::outcome::{Outcome, Status, FLAG_NAMES};
use crate::report::Figure;

/// Where the output rows go, in the format the settings chose.
pub(crate) enum OutputSink {
    Csv(Box<CsvSink>),
    Xlsx(Box<XlsxSink>),
}

impl OutputSink {
    /// Writes the header at once. `scratch_dir` is where a workbook's cells wait until it is
    /// saved: the output's directory.
    pub(crate) fn new(
        out: Box<dyn Write + Send>,
        header: &Header,
        options: &SinkOptions,
        scratch_dir: Option<&Path>,
    ) -> io::Result<OutputSink> {
        Ok(match options.format {
            OutputFormat::Csv => OutputSink::Csv(Box::new(CsvSink::new(out, header, options)?)),
            OutputFormat::Xlsx => {
                OutputSink::Xlsx(Box::new(XlsxSink::new(out, header, options, scratch_dir)?))
            }
        })
    }

    pub(crate) fn write_row(&mut self, record: &ByteRecord, outcome: &Outcome) -> io::Result<()> {
        match self {
            OutputSink::Csv(sink) => sink.write_row(record, outcome),
            OutputSink::Xlsx(sink) => sink.write_row(record, outcome),
        }
    }

    /// Writes out what is buffered; a workbook is written only by `finish`.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            OutputSink::Csv(sink) => sink.flush(),
            OutputSink::Xlsx(_) => Ok(()),
        }
    }

    /// Completes the output; a workbook gets `summary` as its second sheet.
    pub(crate) fn finish(self, summary: &[(String, Figure)]) -> io::Result<()> {
        match self {
            OutputSink::Csv(sink) => sink.finish().map(drop),
            OutputSink::Xlsx(sink) => sink.finish(summary),
        }
    }
}

/// Output rows as CSV, quoted as the `csv` crate quotes it (a field holding the delimiter, a
/// quote or a line break is quoted, its quotes doubled), each row assembled in one buffer and
/// handed to the writer whole. Writing field by field through `csv::Writer` cost 2,800
/// instructions a row (callgrind), the most of any step after the HTTP call and the answer's
/// parsing.
pub(crate) struct CsvSink {
    /// Buffered already by whoever opened it.
    out: Box<dyn Write + Send>,
    delimiter: u8,
    header_len: usize,
    card_index: usize,
    mask: bool,
    /// The store's two columns follow cardscreen's.
    store_columns: bool,
    line_end: LineEnd,
    /// The row being assembled, and whether a field is in it yet.
    line: Vec<u8>,
    started: bool,
}

impl CsvSink {
    /// Writes the header (and a BOM for Excel) and flushes it: a file with only a header
    /// screens to an output with only a header.
    pub(crate) fn new(
        out: Box<dyn Write + Send>,
        header: &Header,
        options: &SinkOptions,
    ) -> io::Result<CsvSink> {
        let mut sink = CsvSink {
            out,
            delimiter: options.delimiter,
            header_len: header.names.len(),
            card_index: header.card_index,
            mask: options.mask,
            store_columns: options.store_columns,
            line_end: options.line_end,
            line: Vec::with_capacity(512),
            started: false,
        };
        if options.excel {
            sink.out.write_all("\u{feff}".as_bytes())?;
        }
        for name in &header.names {
            sink.field(name);
        }
        for name in added_names(&options.prefix, options.store_columns) {
            sink.field(name.as_bytes());
        }
        sink.end_line()?;
        // Handed on at once: a reader of standard output sees the header before any call, and
        // one that has gone away is noticed before any call.
        sink.out.flush()?;
        Ok(sink)
    }

    pub(crate) fn write_row(&mut self, record: &ByteRecord, outcome: &Outcome) -> io::Result<()> {
        let record = fit_to_header(record, self.header_len, self.delimiter);
        for (index, field) in record.iter().enumerate() {
            self.input_field(index, field);
        }
        // Short (ragged) rows are padded so the added columns stay under their names.
        for _ in record.len()..self.header_len {
            self.field(b"");
        }
        let ok = outcome.status == Status::Ok;
        let bit = |on: bool| -> &'static [u8] {
            match (ok, on) {
                (false, _) => b"",
                (true, true) => b"1",
                (true, false) => b"0",
            }
        };
        self.field(outcome.status.as_str().as_bytes());
        self.field(bit(outcome.flags.is_hit()));
        for index in 0..FLAG_NAMES.len() {
            self.field(bit(outcome.flags.get(index)));
        }
        self.field(outcome.orderid.as_bytes());
        let mut number = itoa::Buffer::new();
        match outcome.error_code {
            Some(code) => self.field(number.format(code).as_bytes()),
            None => self.field(b""),
        }
        self.field(outcome.error.as_bytes());
        self.field(number.format(outcome.attempts).as_bytes());
        if self.store_columns {
            for cell in store_cells(outcome) {
                self.field(cell.as_bytes());
            }
        }
        self.end_line()
    }

    /// One of the input's cells, the card masked with `--mask`.
    fn input_field(&mut self, index: usize, field: &[u8]) {
        if self.mask && index == self.card_index {
            let masked = crate::card::mask_cell(&String::from_utf8_lossy(field));
            self.field(masked.as_bytes());
        } else {
            self.field(field);
        }
    }

    /// Appends one field to the row, with the delimiter before all but the first.
    fn field(&mut self, bytes: &[u8]) {
        if self.started {
            self.line.push(self.delimiter);
        }
        self.started = true;
        quote_into(&mut self.line, bytes, self.delimiter);
    }

    fn end_line(&mut self) -> io::Result<()> {
        self.line.extend_from_slice(self.line_end.as_bytes());
        let written = self.out.write_all(&self.line);
        self.line.clear();
        self.started = false;
        written
    }

    /// Flushes and hands back the underlying writer.
    pub(crate) fn finish(mut self) -> io::Result<Box<dyn Write + Send>> {
        self.out.flush()?;
        Ok(self.out)
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Flags, Reason};
    use crate::output::columns::ADDED_COUNT;

    fn written(options: &SinkOptions, rows: &[(&[&str], Outcome)]) -> String {
        let header = Header {
            names: vec![b"id".to_vec(), b"card".to_vec()],
            card_index: 1,
        };
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut sink = CsvSink::new(Box::new(Shared(buffer.clone())), &header, options).unwrap();
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
            format: crate::output::OutputFormat::Csv,
            delimiter: b',',
            prefix: String::new(),
            excel: false,
            mask: false,
            store_columns: false,
            line_end: LineEnd::Lf,
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
    fn fields_are_quoted_as_the_csv_crate_quotes_them() {
        let cells: [&[u8]; 7] = [
            b"",
            b"a,b",
            b"say \"hi\"",
            b"two\nlines",
            b"cr\r",
            b"\xe5\x8f\xb7",
            b"plain",
        ];
        let ours = {
            let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let header = Header {
                names: cells.iter().map(|c| c.to_vec()).collect(),
                card_index: 0,
            };
            drop(
                CsvSink::new(Box::new(Shared(buffer.clone())), &header, &options())
                    .unwrap()
                    .finish()
                    .unwrap(),
            );
            let bytes = buffer.lock().unwrap().clone();
            bytes
        };
        let mut theirs = csv::WriterBuilder::new().from_writer(Vec::new());
        let mut record: Vec<&[u8]> = cells.to_vec();
        let names: Vec<String> = added_names("", false).collect();
        record.extend(names.iter().map(|n| n.as_bytes()));
        theirs.write_record(&record).unwrap();
        assert_eq!(ours, theirs.into_inner().unwrap());
    }

    #[test]
    fn a_long_row_keeps_its_extra_cells_in_the_last_column() {
        let text = written(
            &options(),
            &[(
                &["1", "6222024332181964", "x", "y, \"z\""],
                Outcome::invalid(Reason::TooManyFields, "too many".into()),
            )],
        );
        let row = text.lines().nth(1).unwrap();
        let cells = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(row.as_bytes())
            .records()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(cells.len(), 2 + ADDED_COUNT);
        assert_eq!(&cells[1], r#"6222024332181964,x,"y, ""z""""#);
        assert_eq!(&cells[2], "invalid");
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
            format: crate::output::OutputFormat::Csv,
            delimiter: b';',
            prefix: "s_".into(),
            excel: true,
            mask: true,
            store_columns: false,
            line_end: LineEnd::Lf,
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
