//! A CSV as rows: the bytes decoded to UTF-8 and bounded per record (`decode`, `limit`), then
//! split by the `csv` crate, with the blank lines it passes over counted, its errors named by
//! the line they are on, and the first record's line end noted for the output.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use csv::ByteRecord;
use encoding_rs::Encoding;

use super::decode::{self, DecodeReader};
use super::error::InputError;
use super::limit::{self, RecordLimit};
use crate::header::LineEnd;

/// A CSV read from decoded UTF-8.
pub(super) struct CsvRows {
    csv: csv::Reader<Box<dyn Read + Send>>,
    /// What `TailWatch` saw last, to tell whether the final record had a line terminator.
    tail: Arc<AtomicU32>,
    /// What `LineEndWatch` found.
    line_end: Arc<AtomicU8>,
    name: String,
}

impl CsvRows {
    pub(super) fn new(
        source: Box<dyn Read + Send>,
        encoding: &'static Encoding,
        delimiter: u8,
        bytes_read: Option<Arc<AtomicU64>>,
        name: String,
    ) -> CsvRows {
        let tail = Arc::new(AtomicU32::new(0));
        let line_end = Arc::new(AtomicU8::new(UNKNOWN));
        let limited = RecordLimit::new(DecodeReader::new(source, encoding, bytes_read), delimiter);
        let decoded: Box<dyn Read + Send> = Box::new(TailWatch {
            inner: LineEndWatch::new(limited, delimiter, Arc::clone(&line_end)),
            tail: Arc::clone(&tail),
        });
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .buffer_capacity(64 * 1024)
            .from_reader(decoded);
        CsvRows {
            csv,
            tail,
            line_end,
            name,
        }
    }

    /// How the first record ended, once it has been read: LF when it had no line end.
    pub(super) fn line_end(&self) -> LineEnd {
        match self.line_end.load(Ordering::Relaxed) {
            CRLF => LineEnd::CrLf,
            CR => LineEnd::Cr,
            _ => LineEnd::Lf,
        }
    }

    pub(super) fn read(&mut self, record: &mut ByteRecord) -> Result<Option<u64>, InputError> {
        let line_before = self.csv.position().line();
        match self.csv.read_byte_record(record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err(self.csv_error(e)),
        }
        // The CSV reader passes over blank lines before a record; find them from the lines it
        // consumed, less the record's own terminator and the newlines inside its fields.
        let consumed = self.csv.position().line().saturating_sub(line_before);
        let own: u64 = u64::from(self.record_terminated())
            + record
                .iter()
                .map(|field| field.iter().filter(|&&b| b == b'\n').count() as u64)
                .sum::<u64>();
        Ok(Some(consumed.saturating_sub(own)))
    }

    /// False only for a last record that ends at the end of the input without a newline: the
    /// CSV reader had to read to the end to finish it, and the last byte is no line terminator.
    fn record_terminated(&self) -> bool {
        let tail = self.tail.load(Ordering::Relaxed);
        tail & INPUT_ENDED == 0 || matches!((tail & 0xff) as u8, b'\n' | b'\r')
    }

    fn csv_error(&self, error: csv::Error) -> InputError {
        let line = error.position().map(|p| p.line()).unwrap_or(0);
        match error.into_kind() {
            csv::ErrorKind::Io(io_error) => {
                if let Some(source) = decode::decode_error(&io_error) {
                    InputError::Decode {
                        path: self.name.clone(),
                        source,
                    }
                } else if let Some(source) = limit::too_long(&io_error) {
                    InputError::TooLong {
                        path: self.name.clone(),
                        source,
                    }
                } else {
                    InputError::Unreadable {
                        path: self.name.clone(),
                        source: io_error,
                    }
                }
            }
            other => InputError::Csv {
                path: self.name.clone(),
                line,
                message: format!("{other:?}"),
            },
        }
    }
}

/// Set in `TailWatch`'s state once the input has ended.
const INPUT_ENDED: u32 = 1 << 8;

/// Remembers the last byte handed to the CSV reader (low 8 bits) and whether the input ended.
struct TailWatch<R> {
    inner: R,
    tail: Arc<AtomicU32>,
}

impl<R: Read> Read for TailWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match buf[..n].last() {
            Some(&last) => self.tail.store(u32::from(last), Ordering::Relaxed),
            None => {
                self.tail.fetch_or(INPUT_ENDED, Ordering::Relaxed);
            }
        }
        Ok(n)
    }
}

/// `LineEndWatch`'s findings, as its `AtomicU8` holds them.
const UNKNOWN: u8 = 0;
const LF: u8 = 1;
const CRLF: u8 = 2;
const CR: u8 = 3;

/// Where `LineEndWatch` stands in the first record, quotes read as the `csv` crate reads them
/// by default: a quote opens a field only at its start, and `""` inside one is a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum First {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
    /// A carriage return ended the record: a line feed may follow.
    AfterCr,
    Found,
}

/// Passes the bytes through and notes the first line end outside quotes. It reads one byte
/// ahead when a read ends on that carriage return, so that CRLF is told from CR before the CSV
/// reader hands out its first record.
struct LineEndWatch<R> {
    inner: R,
    delimiter: u8,
    state: First,
    found: Arc<AtomicU8>,
    /// The byte read ahead, or the error reading it, for the next read.
    held: Option<io::Result<u8>>,
}

impl<R: Read> LineEndWatch<R> {
    fn new(inner: R, delimiter: u8, found: Arc<AtomicU8>) -> Self {
        LineEndWatch {
            inner,
            delimiter,
            state: First::FieldStart,
            found,
            held: None,
        }
    }

    fn scan(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.state = match (self.state, byte) {
                (First::Found, _) => return,
                (First::AfterCr, b'\n') => self.found(CRLF),
                (First::AfterCr, _) => self.found(CR),
                (First::Quoted, b'"') => First::QuoteInQuoted,
                (First::Quoted, _) => First::Quoted,
                (First::FieldStart, b'"') | (First::QuoteInQuoted, b'"') => First::Quoted,
                (_, b'\n') => self.found(LF),
                (_, b'\r') => First::AfterCr,
                (_, byte) if byte == self.delimiter => First::FieldStart,
                _ => First::Unquoted,
            };
        }
    }

    fn found(&self, line_end: u8) -> First {
        self.found.store(line_end, Ordering::Relaxed);
        First::Found
    }

    /// Reads the byte after a carriage return that ended a read.
    fn read_ahead(&mut self) {
        let mut byte = [0u8];
        let read = loop {
            match self.inner.read(&mut byte) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Ok(0) => self.state = self.found(CR),
            Ok(_) => {
                self.scan(&byte);
                self.held = Some(Ok(byte[0]));
            }
            Err(e) => {
                // Not known; the error comes with the next read, as it would have.
                self.state = self.found(CRLF);
                self.held = Some(Err(e));
            }
        }
    }
}

impl<R: Read> Read for LineEndWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(held) = self.held.take() {
            buf[0] = held?;
            return Ok(1);
        }
        let n = self.inner.read(buf)?;
        if self.state != First::Found {
            self.scan(&buf[..n]);
            if n == 0 && self.state == First::AfterCr {
                self.state = self.found(CR);
            } else if self.state == First::AfterCr {
                self.read_ahead();
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out `chunk` bytes a read, as a pipe may.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The line end found once the first record is read, and every record read, read in
    /// reads of `chunk` bytes.
    fn first_line_end(text: &'static [u8], chunk: usize) -> (LineEnd, Vec<Vec<Vec<u8>>>) {
        let source = Box::new(Trickle(text, chunk));
        let mut rows = CsvRows::new(source, encoding_rs::UTF_8, b',', None, "t".into());
        let mut record = ByteRecord::new();
        rows.read(&mut record).unwrap();
        let line_end = rows.line_end();
        let mut records = vec![record.iter().map(<[u8]>::to_vec).collect()];
        while rows.read(&mut record).unwrap().is_some() {
            records.push(record.iter().map(<[u8]>::to_vec).collect());
        }
        (line_end, records)
    }

    #[test]
    fn the_first_line_end_outside_quotes_is_the_files() {
        let cases: [(&[u8], LineEnd); 8] = [
            (b"id,card\r\n1,2\r\n", LineEnd::CrLf),
            (b"id,card\n1,2\r\n", LineEnd::Lf),
            (b"id,card\r1,2\r", LineEnd::Cr),
            (b"id,card\r", LineEnd::Cr),
            (b"id,card", LineEnd::Lf),
            (b"\"i\nd\",card\r\n1,2\n", LineEnd::CrLf),
            (b"\"a \"\"q\"\"\r\n\",card\n1,2\n", LineEnd::Lf),
            // A quote inside an unquoted cell opens nothing.
            (b"5\" disk,card\r\n1,2\r\n", LineEnd::CrLf),
        ];
        for (text, expected) in cases {
            let whole = first_line_end(text, 64 * 1024);
            assert_eq!(whole.0, expected, "{:?}", String::from_utf8_lossy(text));
            for chunk in 1..=text.len() {
                let trickled = first_line_end(text, chunk);
                assert_eq!(trickled, whole, "chunk {chunk}: {text:?}");
            }
        }
    }
}
