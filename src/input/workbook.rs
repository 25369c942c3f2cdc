//! Workbooks (.xlsx, .xlsm, .xlsb, .xls, .ods) read with calamine: one sheet's cells turned
//! into rows of text, so that the rest of the input stage sees what it sees for a CSV. A
//! thread streams the rows through a bounded channel: .xlsx and .xlsb are parsed as they are
//! read, cell by cell, and only .xls and .ods (which calamine reads whole) hold their sheet once.

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use calamine::{DataType, ExcelDateTime, Reader, Sheet, SheetType, SheetVisible, Sheets};
use csv::ByteRecord;

use super::error::InputError;
use super::format::WorkbookKind;

/// Rows go to the reader in batches of this many, at most `BATCHES_AHEAD` batches ahead: a
/// channel message per row cost more than reading the row.
const BATCH: usize = 256;
const BATCHES_AHEAD: usize = 4;
/// Excel's last column is XFD; a cell claiming to lie further out is a broken file, and
/// believing it would size a row buffer by it.
const MAX_COLUMNS: u32 = 16_384;
/// Excel keeps 15 significant digits of a number: every integer below 10^15 is exact, and
/// one of 16 digits or more has lost the digits past the 15th.
const EXACT_BELOW: f64 = 1e15;

/// One non-empty row of the sheet, as text.
struct SheetRow {
    record: ByteRecord,
    /// Empty rows between this row and the one before (0 for the first).
    blank_before: u64,
    /// Columns holding a number too long for Excel to keep every digit, with its digit count.
    long_numbers: Vec<(u32, u16)>,
}

enum Message {
    Rows(Vec<SheetRow>),
    End,
    Failed(String),
}

/// The rows of one sheet, read as the thread behind it streams them.
pub(crate) struct SheetRows {
    messages: Receiver<Message>,
    batch: std::vec::IntoIter<SheetRow>,
    ended: bool,
    /// Every row is at least as wide as the first: a sheet has no ragged rows, and a missing
    /// cell at the end of a row is an empty one.
    width: Option<usize>,
    long_numbers: Vec<(u32, u16)>,
    pub(crate) kind: WorkbookKind,
    /// The sheet read.
    pub(crate) sheet: String,
    path: String,
}

impl SheetRows {
    /// Opens the workbook and chooses the sheet: `wanted` by name or 1-based number, else the
    /// first visible worksheet. A problem with the file or the sheet surfaces here.
    pub(crate) fn open(
        path: &Path,
        kind: WorkbookKind,
        wanted: Option<&str>,
    ) -> Result<SheetRows, InputError> {
        let shown = path.display().to_string();
        let failed = |message: String| InputError::Workbook {
            path: shown.clone(),
            kind: kind.as_str(),
            message,
            advice: advice(kind),
        };
        let book = open_book(path, kind).map_err(failed)?;
        let sheet =
            choose_sheet(book.sheets_metadata(), wanted).map_err(|choice| match choice {
                SheetChoice::Missing(wanted) => InputError::NoSuchSheet {
                    path: shown.clone(),
                    wanted,
                    sheets: list_sheets(book.sheets_metadata()),
                },
                SheetChoice::NoneVisible => InputError::NoVisibleSheet {
                    path: shown.clone(),
                    sheets: list_sheets(book.sheets_metadata()),
                },
            })?;
        let (sender, messages) = sync_channel(BATCHES_AHEAD);
        let streamed = sheet.clone();
        std::thread::Builder::new()
            .name("workbook".into())
            .spawn(move || stream(book, &streamed, &sender))
            .map_err(|e| failed(format!("cannot start the workbook reader: {e}")))?;
        Ok(SheetRows {
            messages,
            batch: Vec::new().into_iter(),
            ended: false,
            width: None,
            long_numbers: Vec::new(),
            kind,
            sheet,
            path: shown,
        })
    }

    /// Reads the next non-empty row into `record`: `Some(empty rows before it)`, `None` at the
    /// end of the sheet.
    pub(crate) fn read(&mut self, record: &mut ByteRecord) -> Result<Option<u64>, InputError> {
        loop {
            if let Some(row) = self.batch.next() {
                *record = row.record;
                self.long_numbers = row.long_numbers;
                let width = *self.width.get_or_insert(record.len());
                for _ in record.len()..width {
                    record.push_field(b"");
                }
                return Ok(Some(row.blank_before));
            }
            if self.ended {
                return Ok(None);
            }
            let message = self.messages.recv().unwrap_or_else(|_| {
                Message::Failed("the workbook reader stopped unexpectedly".into())
            });
            match message {
                Message::Rows(rows) => self.batch = rows.into_iter(),
                Message::End => self.ended = true,
                Message::Failed(message) => {
                    return Err(InputError::Workbook {
                        path: self.path.clone(),
                        kind: self.kind.as_str(),
                        message,
                        advice: advice(self.kind),
                    })
                }
            }
        }
    }

    /// The digit count of the number in `column` of the row last read, when that number was
    /// too long for Excel to have kept every digit.
    pub(crate) fn long_number(&self, column: usize) -> Option<usize> {
        self.long_numbers
            .iter()
            .find(|(at, _)| *at as usize == column)
            .map(|(_, digits)| usize::from(*digits))
    }
}

fn open_book(path: &Path, kind: WorkbookKind) -> Result<Sheets<BufReader<File>>, String> {
    let file = BufReader::new(File::open(path).map_err(|e| e.to_string())?);
    let text = |e: &dyn std::fmt::Display| e.to_string();
    Ok(match kind {
        WorkbookKind::Xlsx => Sheets::Xlsx(Reader::new(file).map_err(|e| text(&e))?),
        WorkbookKind::Xlsb => Sheets::Xlsb(Reader::new(file).map_err(|e| text(&e))?),
        WorkbookKind::Xls => Sheets::Xls(Reader::new(file).map_err(|e| text(&e))?),
        WorkbookKind::Ods => Sheets::Ods(Reader::new(file).map_err(|e| text(&e))?),
    })
}

/// What to try when a workbook cannot be read. A password-protected .xlsx is stored as an
/// OLE2 file, so it arrives here as an .xls that does not parse.
fn advice(kind: WorkbookKind) -> &'static str {
    match kind {
        WorkbookKind::Xls => {
            "if it is password-protected, save a copy without the password; else save it as .xlsx"
        }
        _ => "open it in Excel or LibreOffice and save it again, or save the sheet as CSV",
    }
}

enum SheetChoice {
    Missing(String),
    NoneVisible,
}

/// `wanted` is a sheet name (exactly, then ignoring case, as Excel compares them) or a 1-based
/// position among all sheets; without it, the first visible worksheet.
fn choose_sheet(sheets: &[Sheet], wanted: Option<&str>) -> Result<String, SheetChoice> {
    let Some(wanted) = wanted else {
        return sheets
            .iter()
            .find(|s| s.visible == SheetVisible::Visible && s.typ == SheetType::WorkSheet)
            .map(|s| s.name.clone())
            .ok_or(SheetChoice::NoneVisible);
    };
    let by_name = sheets.iter().find(|s| s.name == wanted).or_else(|| {
        sheets
            .iter()
            .find(|s| s.name.to_lowercase() == wanted.to_lowercase())
    });
    let by_number = || {
        let number: usize = wanted.trim().parse().ok()?;
        sheets.get(number.checked_sub(1)?)
    };
    by_name
        .or_else(by_number)
        .map(|s| s.name.clone())
        .ok_or_else(|| SheetChoice::Missing(wanted.to_string()))
}

/// `1 Cards, 2 Notes (hidden)`: what `--sheet` accepts, by number and by name.
fn list_sheets(sheets: &[Sheet]) -> String {
    sheets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let state = match (s.visible, s.typ) {
                (_, SheetType::ChartSheet) => " (chart)",
                (SheetVisible::Visible, _) => "",
                _ => " (hidden)",
            };
            format!("{} {}{state}", i + 1, s.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The thread behind `SheetRows`: reads the sheet and sends its rows. A panic in the parser
/// ends in a message, not in a reader waiting forever.
fn stream(book: Sheets<BufReader<File>>, sheet: &str, sender: &SyncSender<Message>) {
    let mut rows = RowBuilder::new(sender.clone());
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_cells(book, sheet, &mut rows).and_then(|more| Ok(more && rows.finish()?))
    }));
    let last = match read {
        Ok(Ok(true)) => Message::End,
        // The reader went away: nobody to tell.
        Ok(Ok(false)) => return,
        Ok(Err(message)) => Message::Failed(message),
        Err(_) => Message::Failed("the workbook reader failed on this file".into()),
    };
    let _ = sender.send(last);
}

/// Feeds every cell of the sheet to `rows`, in the file's order; `false` when the reader has
/// gone away.
fn read_cells(
    book: Sheets<BufReader<File>>,
    sheet: &str,
    rows: &mut RowBuilder,
) -> Result<bool, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    match book {
        Sheets::Xlsx(mut book) => {
            let mut cells = book.worksheet_cells_reader(sheet).map_err(|e| text(&e))?;
            while let Some(cell) = cells.next_cell().map_err(|e| text(&e))? {
                if !rows.cell(cell.get_position(), cell.get_value())? {
                    return Ok(false);
                }
            }
        }
        Sheets::Xlsb(mut book) => {
            let mut cells = book.worksheet_cells_reader(sheet).map_err(|e| text(&e))?;
            while let Some(cell) = cells.next_cell().map_err(|e| text(&e))? {
                if !rows.cell(cell.get_position(), cell.get_value())? {
                    return Ok(false);
                }
            }
        }
        Sheets::Xls(mut book) => {
            let range = book.worksheet_range(sheet).map_err(|e| text(&e))?;
            return range_cells(&range, rows);
        }
        Sheets::Ods(mut book) => {
            let range = book.worksheet_range(sheet).map_err(|e| text(&e))?;
            return range_cells(&range, rows);
        }
    }
    Ok(true)
}

fn range_cells(
    range: &calamine::Range<calamine::Data>,
    rows: &mut RowBuilder,
) -> Result<bool, String> {
    let (top, left) = range.start().unwrap_or((0, 0));
    for (row, column, value) in range.used_cells() {
        if !rows.cell((top + row as u32, left + column as u32), value)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Gathers cells into rows and rows into batches. Column A is always the first field, so that
/// `--column N` counts columns as Excel letters them.
struct RowBuilder {
    sender: SyncSender<Message>,
    batch: Vec<SheetRow>,
    current: Option<u32>,
    /// The current row's cells by column, kept between rows so their buffers are reused.
    cells: Vec<String>,
    /// One past the last non-empty cell of the current row.
    used: usize,
    long_numbers: Vec<(u32, u16)>,
    /// The last non-empty row sent.
    last: Option<u32>,
}

impl RowBuilder {
    fn new(sender: SyncSender<Message>) -> RowBuilder {
        RowBuilder {
            sender,
            batch: Vec::with_capacity(BATCH),
            current: None,
            cells: Vec::new(),
            used: 0,
            long_numbers: Vec::new(),
            last: None,
        }
    }

    /// Takes one cell; `false` when the reader has gone away.
    fn cell(&mut self, (row, column): (u32, u32), value: &impl DataType) -> Result<bool, String> {
        if column >= MAX_COLUMNS {
            return Err(format!(
                "row {} has a cell in column {}, beyond Excel's last column (XFD)",
                u64::from(row) + 1,
                u64::from(column) + 1
            ));
        }
        if self.current != Some(row) {
            if !self.end_row()? {
                return Ok(false);
            }
            self.current = Some(row);
        }
        let index = column as usize;
        if self.cells.len() <= index {
            self.cells.resize_with(index + 1, String::new);
        }
        let cell = &mut self.cells[index];
        cell.clear();
        if let Some(digits) = render(value, cell) {
            self.long_numbers.push((column, digits));
        }
        if !cell.is_empty() {
            self.used = self.used.max(index + 1);
        }
        Ok(true)
    }

    /// Sends the current row if it holds anything; an empty row is only counted, by the gap
    /// it leaves before the next row sent.
    fn end_row(&mut self) -> Result<bool, String> {
        let Some(row) = self.current else {
            return Ok(true);
        };
        if self.used == 0 {
            self.long_numbers.clear();
            return Ok(true);
        }
        let cells = &mut self.cells[..self.used];
        let bytes = cells.iter().map(String::len).sum();
        let mut record = ByteRecord::with_capacity(bytes, cells.len());
        for cell in cells.iter_mut() {
            record.push_field(cell.as_bytes());
            cell.clear();
        }
        self.used = 0;
        let blank_before = match self.last {
            Some(last) if row > last => u64::from(row - last - 1),
            _ => 0,
        };
        self.last = Some(row);
        self.batch.push(SheetRow {
            record,
            blank_before,
            long_numbers: std::mem::take(&mut self.long_numbers),
        });
        if self.batch.len() >= BATCH {
            return Ok(self.send());
        }
        Ok(true)
    }

    fn send(&mut self) -> bool {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.sender.send(Message::Rows(batch)).is_ok()
    }

    /// Sends the last row and batch.
    fn finish(&mut self) -> Result<bool, String> {
        if !self.end_row()? {
            return Ok(false);
        }
        Ok(self.batch.is_empty() || self.send())
    }
}

/// Writes a cell's text into `out`: text as it is, integers without `.0`, dates and times in
/// ISO 8601, booleans as `TRUE`/`FALSE`, errors as Excel shows them (`#N/A`). A formula cell
/// arrives as its cached value. Returns the digit count of a number of 16 digits or more,
/// whose digits past the 15th Excel did not keep; it is written as Excel shows it, with
/// zeros in their place.
fn render(value: &impl DataType, out: &mut String) -> Option<u16> {
    if let Some(text) = value.get_string() {
        out.push_str(text);
    } else if let Some(number) = value.get_float() {
        return render_number(number, out);
    } else if let Some(number) = value.get_int() {
        if (number.unsigned_abs() as f64) < EXACT_BELOW {
            let _ = write!(out, "{number}");
            return None;
        }
        return render_number(number as f64, out);
    } else if let Some(on) = value.get_bool() {
        out.push_str(if on { "TRUE" } else { "FALSE" });
    } else if let Some(moment) = value.get_datetime() {
        render_datetime(moment, out);
    } else if let Some(iso) = value.get_datetime_iso().or(value.get_duration_iso()) {
        out.push_str(iso);
    } else if let Some(error) = value.get_error() {
        let _ = write!(out, "{error}");
    }
    None
}

fn render_number(number: f64, out: &mut String) -> Option<u16> {
    if !number.is_finite() {
        let _ = write!(out, "{number}");
        return None;
    }
    if number.abs() < EXACT_BELOW {
        if number.fract() == 0.0 {
            // Exact: below 10^15 every integer fits an i64 and an f64 alike.
            let _ = write!(out, "{}", number as i64);
        } else {
            let _ = write!(out, "{number}");
        }
        return None;
    }
    // As Excel shows it: 15 significant digits, then zeros where the lost digits were.
    let rounded = format!("{:.14e}", number.abs());
    let (mantissa, exponent) = rounded.split_once('e').unwrap_or((&rounded, "0"));
    let exponent: usize = exponent.parse().unwrap_or(0);
    let digits = exponent + 1;
    if number < 0.0 {
        out.push('-');
    }
    if digits <= 21 {
        out.extend(mantissa.chars().filter(char::is_ascii_digit));
        out.extend(std::iter::repeat_n('0', digits.saturating_sub(15)));
    } else {
        let _ = write!(out, "{}E+{exponent}", mantissa.trim_end_matches('0'));
    }
    Some(u16::try_from(digits).unwrap_or(u16::MAX))
}

/// `2026-11-30`, `2026-11-30T08:15:00`, `08:15:00` (a time of day alone), or `PT36H30M0S`
/// for a duration.
fn render_datetime(moment: ExcelDateTime, out: &mut String) {
    if moment.is_duration() {
        let millis = (moment.as_f64() * 86_400_000.0).round() as i64;
        let sign = if millis < 0 { "-" } else { "" };
        let millis = millis.unsigned_abs();
        let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
        let (minutes, rest) = (rest / 60_000, rest % 60_000);
        let (seconds, millis) = (rest / 1000, rest % 1000);
        let _ = write!(out, "{sign}PT{hours}H{minutes}M{seconds}");
        if millis > 0 {
            let _ = write!(out, ".{millis:03}");
        }
        out.push('S');
        return;
    }
    let (year, month, day, hour, minute, second, millis) = moment.to_ymd_hms_milli();
    let value = moment.as_f64();
    let midnight = (hour, minute, second, millis) == (0, 0, 0, 0);
    if !(0.0..1.0).contains(&value) {
        let _ = write!(out, "{year:04}-{month:02}-{day:02}");
        if midnight {
            return;
        }
        out.push('T');
    }
    let _ = write!(out, "{hour:02}:{minute:02}:{second:02}");
    if millis > 0 {
        let _ = write!(out, ".{millis:03}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{CellErrorType, Data, ExcelDateTimeType};

    fn text(value: Data) -> (String, Option<u16>) {
        let mut out = String::new();
        let long = render(&value, &mut out);
        (out, long)
    }

    #[test]
    fn cells_read_as_a_person_reads_them() {
        let date = |value, kind| Data::DateTime(ExcelDateTime::new(value, kind, false));
        let cases = [
            (Data::String(" 6222 0243 ".into()), " 6222 0243 "),
            (Data::Float(42.0), "42"),
            (Data::Float(-3.0), "-3"),
            (Data::Float(0.1), "0.1"),
            (Data::Float(622202433218196.0), "622202433218196"),
            (Data::Int(7), "7"),
            (Data::Bool(true), "TRUE"),
            (Data::Bool(false), "FALSE"),
            (Data::Error(CellErrorType::NA), "#N/A"),
            (Data::Empty, ""),
            (date(46356.0, ExcelDateTimeType::DateTime), "2026-11-30"),
            (
                date(46356.34375, ExcelDateTimeType::DateTime),
                "2026-11-30T08:15:00",
            ),
            (date(0.5, ExcelDateTimeType::DateTime), "12:00:00"),
            (date(1.5, ExcelDateTimeType::TimeDelta), "PT36H0M0S"),
            (Data::DateTimeIso("2026-11-30".into()), "2026-11-30"),
        ];
        for (value, expected) in cases {
            assert_eq!(
                text(value.clone()),
                (expected.to_string(), None),
                "{value:?}"
            );
        }
    }

    #[test]
    fn numbers_of_sixteen_digits_or_more_are_marked_with_their_length() {
        assert_eq!(text(Data::Float(999_999_999_999_999.0)).1, None);
        assert_eq!(
            text(Data::Float(6222024332181964.0)),
            ("6222024332181960".into(), Some(16))
        );
        assert_eq!(
            text(Data::Float(6.228480402561234e18)),
            ("6228480402561230000".into(), Some(19))
        );
        assert_eq!(
            text(Data::Float(-1e16)),
            ("-10000000000000000".into(), Some(17))
        );
        assert_eq!(text(Data::Float(1.5e22)), ("1.5E+22".into(), Some(23)));
        assert_eq!(text(Data::Int(1_000_000_000_000_000)).1, Some(16));
    }

    fn sheet(name: &str, visible: SheetVisible) -> Sheet {
        Sheet {
            name: name.into(),
            typ: SheetType::WorkSheet,
            visible,
        }
    }

    #[test]
    fn a_sheet_is_chosen_by_name_number_or_visibility() {
        let sheets = [
            sheet("Hidden", SheetVisible::Hidden),
            sheet("卡号", SheetVisible::Visible),
            sheet("2", SheetVisible::Visible),
        ];
        let chosen = |wanted| choose_sheet(&sheets, wanted).ok();
        assert_eq!(chosen(None).as_deref(), Some("卡号"));
        assert_eq!(chosen(Some("卡号")).as_deref(), Some("卡号"));
        assert_eq!(chosen(Some("hidden")).as_deref(), Some("Hidden"));
        assert_eq!(chosen(Some("1")).as_deref(), Some("Hidden"));
        // A name wins over a position.
        assert_eq!(chosen(Some("2")).as_deref(), Some("2"));
        assert_eq!(chosen(Some("4")), None);
        assert_eq!(chosen(Some("0")), None);
        assert_eq!(list_sheets(&sheets), "1 Hidden (hidden), 2 卡号, 3 2");
    }
}
