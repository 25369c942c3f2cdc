//! A CSV as rows: the bytes decoded to UTF-8 and bounded per record (`decode`, `limit`), then
//! split by the `csv` crate, with the blank lines it passes over counted and its errors named
//! by the line they are on.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use csv::ByteRecord;
use encoding_rs::Encoding;

use super::decode::{self, DecodeReader};
use super::error::InputError;
use super::limit::{self, RecordLimit};

/// A CSV read from decoded UTF-8.
pub(super) struct CsvRows {
    csv: csv::Reader<Box<dyn Read + Send>>,
    /// What `TailWatch` saw last, to tell whether the final record had a line terminator.
    tail: Arc<AtomicU32>,
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
        let decoded: Box<dyn Read + Send> = Box::new(TailWatch {
            inner: RecordLimit::new(DecodeReader::new(source, encoding, bytes_read), delimiter),
            tail: Arc::clone(&tail),
        });
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .buffer_capacity(64 * 1024)
            .from_reader(decoded);
        CsvRows { csv, tail, name }
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
