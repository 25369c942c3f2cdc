//! The input stage: opens the input (a CSV file or stdin, whose encoding it settles, or a
//! workbook's sheet), reads the header, finds the card column, then streams the data rows one
//! `ByteRecord` at a time. `planner` decides, row by row, whether a row needs a call.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use csv::ByteRecord;
use encoding_rs::Encoding;

use self::decode::DecodeError;
use self::delimited::CsvRows;
use self::format::{Format, WorkbookKind};
use self::header::{headerless, with_header};
use self::limit::TooLong;
use self::workbook::SheetRows;

pub mod decode;
mod delimited;
pub(crate) mod format;
mod header;
#[allow(dead_code)] // The run reads the plan once it is wired in.
pub(crate) mod level;
pub mod limit;
pub(crate) mod planner;
pub(crate) mod workbook;

pub use crate::header::Header;
pub use planner::LuhnMode;

/// Where the rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// A file, read twice: once to settle its encoding, once to screen it.
    Path(PathBuf),
    /// `-`: read once, its encoding judged by its start.
    Stdin,
}

impl fmt::Display for InputSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputSource::Path(path) => write!(f, "{}", path.display()),
            InputSource::Stdin => f.write_str("standard input"),
        }
    }
}

/// The card column as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSpec {
    /// A header name, matched exactly first, then ignoring case.
    Name(String),
    /// 1-based, as the user wrote it.
    Index(usize),
}

impl fmt::Display for ColumnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnSpec::Name(name) => write!(f, "{name}"),
            ColumnSpec::Index(index) => write!(f, "{index}"),
        }
    }
}

/// `--encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingChoice {
    /// UTF-8 when the bytes are UTF-8 (or start with its BOM), else GB18030.
    Auto,
    /// UTF-8, with or without a BOM.
    Utf8,
    /// GBK, as Chinese Excel writes it.
    Gbk,
    /// GB18030.
    Gb18030,
}

/// How to read the input: everything the reader needs and nothing else.
#[derive(Debug, Clone)]
pub struct InputOptions {
    /// Where the rows come from.
    pub source: InputSource,
    /// The card column; `None` finds it from the header (or, without one, from the first row).
    pub column: Option<ColumnSpec>,
    /// The first row is data.
    pub no_header: bool,
    /// The field delimiter, one byte.
    pub delimiter: u8,
    /// How the bytes are decoded.
    pub encoding: EncodingChoice,
    /// The sheet of a workbook, by name or 1-based number; `None` takes the first visible one.
    pub sheet: Option<String>,
}

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
}

/// How much of a stream `auto` looks at to choose its encoding.
const STREAM_SAMPLE: u64 = 64 * 1024;

/// A problem with the input file as a whole: exit 2, nothing called. Each message says what is
/// wrong and what to do, which is all there is to document about a variant.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)]
pub enum InputError {
    #[error("input file {0} does not exist")]
    NotFound(PathBuf),
    #[error("cannot read input {path}: {source}")]
    Unreadable { path: String, source: io::Error },
    #[error("input {0} is not a regular file but a pipe or device, which cannot be read twice (once to check its encoding, once to screen it); pass - and send it on standard input")]
    NotAFile(PathBuf),
    #[error("input {0} is empty: there is not even a header row")]
    Empty(String),
    #[error("input {path}: {source}")]
    Decode { path: String, source: DecodeError },
    #[error("input {path}: {source}")]
    TooLong { path: String, source: TooLong },
    #[error("input {path}, line {line}: {message}")]
    Csv {
        path: String,
        line: u64,
        message: String,
    },
    #[error("column {wanted:?} not found; headers are: {headers} — {advice}")]
    ColumnNotFound {
        wanted: String,
        headers: String,
        advice: String,
    },
    #[error("no card column found (looked for {looked_for}); headers are: {headers} — {advice}")]
    NoCardColumn {
        looked_for: String,
        headers: String,
        advice: String,
    },
    #[error("--column {index} is out of range: the file has {count} columns")]
    ColumnOutOfRange { index: usize, count: usize },
    #[error("--column {0:?} names a header, but --no-header says there is none; pass --column N (1-based)")]
    NameWithoutHeader(String),
    #[error("with --no-header the card column cannot be guessed from {count} columns; pass --column N (1-based)")]
    NeedsColumn { count: usize },
    #[error("input {path}: {why}")]
    NotAWorkbook { path: String, why: String },
    #[error("cannot read input {path} as an .{kind} workbook: {message}; {advice}")]
    Workbook {
        path: String,
        kind: &'static str,
        message: String,
        advice: &'static str,
    },
    #[error("input {path} has no sheet {wanted:?}; its sheets are: {sheets} — pass --sheet with a name or number")]
    NoSuchSheet {
        path: String,
        wanted: String,
        sheets: String,
    },
    #[error("input {path} has no visible worksheet; its sheets are: {sheets} — pass --sheet with a name or number")]
    NoVisibleSheet { path: String, sheets: String },
    #[error("standard input holds {0}; pass the workbook's file name instead of -, since a workbook cannot be read as a stream")]
    WorkbookOnStdin(&'static str),
}

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
            Rows::Sheet(sheet) => sheet
                .long_number(index)
                .map_or(CardCell::Text, |digits| CardCell::LongNumber { digits }),
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
