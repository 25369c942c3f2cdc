//! The reader: opens the input (a CSV file or stdin, whose encoding it settles, or a
//! workbook's sheet), reads the header, finds the card column, then hands out the data rows
//! one `ByteRecord` at a time, with what a workbook cell says beyond its text.

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use csv::ByteRecord;
use encoding_rs::Encoding;

use super::decode;
use super::delimited::CsvRows;
use super::error::InputError;
use super::format::{self, Format, WorkbookKind};
use super::header::{headerless, with_header};
use super::options::{EncodingChoice, InputOptions, InputSource};
use super::workbook::{Mark, SheetRows};
use crate::header::{Header, LineEnd};

/// What the reader knows of a row's card cell that its text cannot say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CardCell {
    /// Text, or a number short enough for Excel to hold every digit: the text is the card.
    #[default]
    Text,
    /// A workbook number of this many digits. Excel keeps 15 significant digits of a number,
    /// so the digits past the 15th were lost before cardscreen saw the file.
    LongNumber {
        /// How many digits the number has.
        digits: usize,
    },
    /// An .xls formula whose result the file does not hold: it reads as 0.
    UnreadFormula,
}

/// How much of a stream `auto` looks at to choose its encoding.
const STREAM_SAMPLE: u64 = 64 * 1024;

/// Reads data rows as UTF-8 text, one `ByteRecord` at a time, from a CSV or a workbook's sheet.
pub struct InputReader {
    rows: Rows,
    /// The header as the output will show it, and where the card is.
    pub header: Header,
    /// A row held back: with `--no-header` the first one (read to size the header), and the
    /// row after blank lines of a one-column file while their empty rows are handed out.
    pending: Option<(ByteRecord, CardCell)>,
    card_cell: CardCell,
    /// Empty one-cell rows still to hand out for blank lines of a one-column file.
    empty_rows_due: u64,
    blank_lines: u64,
    /// The encoding the bytes were read in (UTF-8 for a workbook, which holds text, not bytes).
    pub encoding: &'static Encoding,
    /// Input size in bytes when known (a CSV file), for progress by bytes.
    pub total_bytes: Option<u64>,
    /// The sheet read, when the input is a workbook.
    pub sheet: Option<String>,
    name: String,
}

/// Where the rows come from.
enum Rows {
    Csv(CsvRows),
    Sheet(SheetRows),
}

impl Rows {
    /// Reads the next record: `Some(blank lines or empty rows before it)`, `None` at the end.
    fn read(&mut self, record: &mut ByteRecord) -> Result<Option<u64>, InputError> {
        match self {
            Rows::Csv(csv) => csv.read(record),
            Rows::Sheet(sheet) => sheet.read(record),
        }
    }

    /// What the record last read holds in column `index` beyond its text.
    fn card_cell(&self, index: usize) -> CardCell {
        match self {
            Rows::Csv(_) => CardCell::Text,
            Rows::Sheet(sheet) => match sheet.mark(index) {
                Some(Mark::LongNumber(digits)) => CardCell::LongNumber {
                    digits: usize::from(digits),
                },
                Some(Mark::UnreadFormula) => CardCell::UnreadFormula,
                None => CardCell::Text,
            },
        }
    }
}

/// Result of `InputReader::count_rows`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RowCount {
    /// Data rows, as `next_row` hands them out.
    pub(crate) rows: u64,
    /// The longest cell in characters, with its 1-based data row and column.
    pub(crate) longest_cell: (usize, u64, usize),
}

impl InputReader {
    /// Opens the input and reads its header. Every whole-file problem surfaces here, before
    /// any call: a CSV file is checked to decode in its encoding first, and a workbook is
    /// recognised by its content, whatever its name.
    pub fn open(
        options: &InputOptions,
        bytes_read: Arc<AtomicU64>,
    ) -> Result<InputReader, InputError> {
        let path = match &options.source {
            InputSource::Path(path) => path,
            InputSource::Stdin => {
                return InputReader::from_stream(io::stdin(), options, bytes_read)
            }
        };
        let (mut file, size) = open_file(path)?;
        let shown = || path.display().to_string();
        let format = format::of_file(&mut file)
            .map_err(|source| InputError::Unreadable {
                path: shown(),
                source,
            })?
            .map_err(|refused| InputError::NotAWorkbook {
                path: shown(),
                why: refused.to_string(),
            })?;
        if let Format::Workbook(kind) = format {
            return InputReader::workbook(path, kind, options);
        }
        if let Some(kind) = format::by_extension(path) {
            tracing::info!(input = %path.display(), "The input is named like an .{} workbook but holds text; reading it as CSV.", kind.as_str());
        }
        if options.sheet.is_some() {
            tracing::warn!(
                "--sheet chooses a sheet of a workbook; the input is CSV, so it is ignored."
            );
        }
        let encoding = file_encoding(path, options.encoding)?;
        let rows = CsvRows::new(
            Box::new(file),
            encoding,
            options.delimiter,
            Some(bytes_read),
            shown(),
        );
        InputReader::start(Rows::Csv(rows), encoding, Some(size), options, None)
    }

    fn workbook(
        path: &Path,
        kind: WorkbookKind,
        options: &InputOptions,
    ) -> Result<InputReader, InputError> {
        let rows = SheetRows::open(path, kind, options.sheet.as_deref())?;
        let sheet = rows.sheet.clone();
        InputReader::start(
            Rows::Sheet(rows),
            encoding_rs::UTF_8,
            None,
            options,
            Some(sheet),
        )
    }

    /// Reads a stream that cannot be read twice, as standard input is read: `auto` judges the
    /// encoding by the first 64 KiB. Public so that fuzzing and tests can feed any bytes.
    pub fn from_stream(
        mut source: impl Read + Send + 'static,
        options: &InputOptions,
        bytes_read: Arc<AtomicU64>,
    ) -> Result<InputReader, InputError> {
        let mut prefix = Vec::with_capacity(STREAM_SAMPLE as usize);
        (&mut source)
            .take(STREAM_SAMPLE)
            .read_to_end(&mut prefix)
            .map_err(|source| InputError::Unreadable {
                path: options.source.to_string(),
                source,
            })?;
        if let Some(what) = format::workbook_signature(&prefix) {
            return Err(InputError::WorkbookOnStdin(what));
        }
        let encoding = decode::encoding_for(options.encoding)
            .unwrap_or_else(|| decode::detect_prefix(&prefix));
        let source = Box::new(io::Cursor::new(prefix).chain(source));
        let rows = CsvRows::new(
            source,
            encoding,
            options.delimiter,
            Some(bytes_read),
            options.source.to_string(),
        );
        InputReader::start(Rows::Csv(rows), encoding, None, options, None)
    }

    /// Reads the header (or, with `--no-header`, sizes it by the first row).
    fn start(
        rows: Rows,
        encoding: &'static Encoding,
        total_bytes: Option<u64>,
        options: &InputOptions,
        sheet: Option<String>,
    ) -> Result<InputReader, InputError> {
        let name = match &sheet {
            Some(sheet) => format!("{} (sheet {sheet})", options.source),
            None => options.source.to_string(),
        };
        // A delimiter can only be wrong in delimited text.
        let delimiter = matches!(rows, Rows::Csv(_)).then_some(options.delimiter);
        let mut reader = InputReader {
            rows,
            header: Header {
                names: Vec::new(),
                card_index: 0,
            },
            pending: None,
            card_cell: CardCell::Text,
            empty_rows_due: 0,
            blank_lines: 0,
            encoding,
            total_bytes,
            sheet,
            name,
        };
        let mut first = ByteRecord::new();
        if reader.rows.read(&mut first)?.is_none() {
            return Err(InputError::Empty(reader.name.clone()));
        }
        reader.header = if options.no_header {
            let header = headerless(&first, options.column.as_ref())?;
            reader.pending = Some((first, reader.rows.card_cell(header.card_index)));
            header
        } else if delimiter.is_none() {
            // A sheet's header cell may be empty over a column that holds data.
            with_header(&named_columns(&first), options.column.as_ref(), None)?
        } else {
            with_header(&first, options.column.as_ref(), delimiter)?
        };
        Ok(reader)
    }

    /// Reads the next data row into `record`; `false` at the end of the input.
    pub fn next_row(&mut self, record: &mut ByteRecord) -> Result<bool, InputError> {
        if self.empty_rows_due > 0 {
            self.empty_rows_due -= 1;
            record.clear();
            record.push_field(b"");
            self.card_cell = CardCell::Text;
            return Ok(true);
        }
        if let Some((held, card_cell)) = self.pending.take() {
            *record = held;
            self.card_cell = card_cell;
            return Ok(true);
        }
        let Some(blank) = self.rows.read(record)? else {
            return Ok(false);
        };
        self.card_cell = self.rows.card_cell(self.header.card_index);
        if blank > 0 {
            if self.header.names.len() == 1 {
                // In a one-column file a blank line is an empty cell (Excel writes it so): it
                // is a row, and gets its `invalid` answer like any other.
                self.empty_rows_due = blank - 1;
                self.pending = Some((std::mem::take(record), self.card_cell));
                record.push_field(b"");
                self.card_cell = CardCell::Text;
            } else {
                self.blank_lines += blank;
            }
        }
        Ok(true)
    }

    /// What the row last read holds in its card cell beyond its text: a workbook number too
    /// long for Excel to have kept every digit.
    pub fn card_cell(&self) -> CardCell {
        self.card_cell
    }

    /// How the input's records end (from its first), for the output's to end the same way.
    pub fn line_end(&self) -> LineEnd {
        match &self.rows {
            Rows::Csv(csv) => csv.line_end(),
            Rows::Sheet(_) => LineEnd::Lf,
        }
    }

    /// Blank lines passed over so far (in files of more than one column, where they hold no row).
    pub fn blank_lines(&self) -> u64 {
        self.blank_lines
    }

    /// Reads the file at `path` once more, with this reader's encoding and sheet, and counts
    /// its data rows as `next_row` hands them out: what a workbook output must know before
    /// the first call, since a sheet has room for only so many rows and characters.
    pub(crate) fn count_rows(
        &self,
        path: &Path,
        options: &InputOptions,
    ) -> Result<RowCount, InputError> {
        let rows = match &self.rows {
            Rows::Csv(_) => {
                let (file, _) = open_file(path)?;
                let rows = CsvRows::new(
                    Box::new(file),
                    self.encoding,
                    options.delimiter,
                    None,
                    self.name.clone(),
                );
                Rows::Csv(rows)
            }
            Rows::Sheet(sheet) => {
                Rows::Sheet(SheetRows::open(path, sheet.kind, Some(&sheet.sheet))?)
            }
        };
        let mut again = InputReader::start(rows, self.encoding, None, options, self.sheet.clone())?;
        let mut count = RowCount::default();
        let mut record = ByteRecord::new();
        while again.next_row(&mut record)? {
            count.rows += 1;
            for (column, field) in record.iter().enumerate() {
                // A cell has at least as many bytes as characters: most need no counting.
                if field.len() > count.longest_cell.0 {
                    let chars = String::from_utf8_lossy(field).chars().count();
                    if chars > count.longest_cell.0 {
                        count.longest_cell = (chars, count.rows, column + 1);
                    }
                }
            }
        }
        Ok(count)
    }
}

/// `first` with its empty cells named `column_N`, as `--no-header` names every column.
fn named_columns(first: &ByteRecord) -> ByteRecord {
    first
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if name.is_empty() {
                format!("column_{}", i + 1).into_bytes()
            } else {
                name.to_vec()
            }
        })
        .collect()
}

fn open_file(path: &Path) -> Result<(std::fs::File, u64), InputError> {
    let unreadable = |source: io::Error| {
        if source.kind() == io::ErrorKind::NotFound {
            InputError::NotFound(path.to_path_buf())
        } else {
            InputError::Unreadable {
                path: path.display().to_string(),
                source,
            }
        }
    };
    // Looked at before opening: opening a named pipe blocks until someone writes to it.
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.is_dir() {
        return Err(unreadable(io::Error::other("it is a directory")));
    }
    if !meta.is_file() {
        return Err(InputError::NotAFile(path.to_path_buf()));
    }
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    Ok((file, size))
}

/// Settles the encoding of a file by decoding it once, so that a bad byte anywhere is found
/// before any call is paid for.
fn file_encoding(path: &Path, choice: EncodingChoice) -> Result<&'static Encoding, InputError> {
    let unreadable = |source| InputError::Unreadable {
        path: path.display().to_string(),
        source,
    };
    let checked = match decode::encoding_for(choice) {
        Some(encoding) => {
            decode::validate(std::fs::File::open(path).map_err(unreadable)?, encoding)
                .map_err(unreadable)?
                .map(|()| encoding)
        }
        None => decode::detect_file(path).map_err(unreadable)?,
    };
    checked.map_err(|source| InputError::Decode {
        path: path.display().to_string(),
        source,
    })
}
