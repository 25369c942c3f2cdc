//! Workbooks (.xlsx, .xlsm, .xlsb, .xls, .ods) read with calamine: one sheet's cells turned
//! into rows of text, so that the rest of the input stage sees what it sees for a CSV. A
//! thread streams the rows through a bounded channel: .xlsx and .xlsb are parsed as they are
//! read, cell by cell, and only .xls and .ods (which calamine reads whole) hold their sheet once.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use calamine::{Reader, Sheet, SheetType, SheetVisible, Sheets};
use csv::ByteRecord;

use super::guard::{self, Facts, Refusal};
use super::rows::{Failure, Mark, Message, RowBuilder, SheetRow};
use super::xls_formula;
use crate::input::format::WorkbookKind;
use crate::input::InputError;

/// At most this many batches of rows wait for the reader.
const BATCHES_AHEAD: usize = 4;
/// The used range widens the header up to this many columns (Excel 97-2003's last, IV): a
/// range the file declares out to XFD would pad every row of a small file with 16,384 cells.
const WIDEST_USED_RANGE: usize = 256;

/// The rows of one sheet, read as the thread behind it streams them.
pub(crate) struct SheetRows {
    messages: Receiver<Message>,
    batch: std::vec::IntoIter<SheetRow>,
    ended: bool,
    /// Every row is as wide as the sheet's used range, and at least as wide as the first: a
    /// sheet has no ragged rows, and a missing cell at the end of a row is an empty one.
    width: Option<usize>,
    used_width: usize,
    marks: Vec<(u32, Mark)>,
    pub(crate) kind: WorkbookKind,
    /// The sheet read.
    pub(crate) sheet: String,
    path: String,
}

impl SheetRows {
    /// Opens the workbook and chooses the sheet: `wanted` by name or 1-based number, else the
    /// first visible worksheet. A problem with the file or the sheet surfaces here, and so
    /// does a file past the bounds of `guard`.
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
        let refused = |Refusal(what)| InputError::WorkbookRefused {
            path: shown.clone(),
            what,
        };
        let (book, facts) = open_book(path, kind).map_err(|e| match e {
            Failure::Unreadable(message) => failed(message),
            Failure::Refused(what) => refused(Refusal(what)),
        })?;
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
            .spawn(move || stream(book, facts, &streamed, &sender))
            .map_err(|e| failed(format!("cannot start the workbook reader: {e}")))?;
        Ok(SheetRows {
            messages,
            batch: Vec::new().into_iter(),
            ended: false,
            width: None,
            used_width: 0,
            marks: Vec::new(),
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
                self.marks = row.marks;
                let widest = self.used_width.min(WIDEST_USED_RANGE);
                let width = *self.width.get_or_insert(record.len().max(widest));
                for _ in record.len()..width {
                    record.push_field(b"");
                }
                return Ok(Some(row.blank_before));
            }
            if self.ended {
                return Ok(None);
            }
            let message = self.messages.recv().unwrap_or_else(|_| {
                Message::Failed(Failure::Unreadable(
                    "the workbook reader stopped unexpectedly".into(),
                ))
            });
            match message {
                Message::Width(width) => self.used_width = width,
                Message::Rows(rows) => self.batch = rows.into_iter(),
                Message::End => self.ended = true,
                Message::Failed(Failure::Unreadable(message)) => {
                    return Err(InputError::Workbook {
                        path: self.path.clone(),
                        kind: self.kind.as_str(),
                        message,
                        advice: advice(self.kind),
                    })
                }
                Message::Failed(Failure::Refused(what)) => {
                    return Err(InputError::WorkbookRefused {
                        path: self.path.clone(),
                        what,
                    })
                }
            }
        }
    }

    /// What the cell in `column` of the row last read holds beyond its text.
    pub(crate) fn mark(&self, column: usize) -> Option<Mark> {
        self.marks
            .iter()
            .find(|(at, _)| *at as usize == column)
            .map(|(_, mark)| *mark)
    }
}

type Book = Sheets<BufReader<File>>;

/// Opens the file once: the bounds are checked on the same open file the library then reads.
fn open_book(path: &Path, kind: WorkbookKind) -> Result<(Book, Facts), Failure> {
    let unreadable = |e: &dyn std::fmt::Display| Failure::Unreadable(e.to_string());
    let mut file = File::open(path).map_err(|e| unreadable(&e))?;
    let facts = match kind {
        WorkbookKind::Xls => {
            let size = file.metadata().map_err(|e| unreadable(&e))?.len();
            if size > guard::MAX_XLS {
                return Err(Failure::Refused(format!(
                    "it is an .xls file of {} MiB, more than the {} MiB an .xls may be (it is held whole)",
                    size >> 20,
                    guard::MAX_XLS >> 20
                )));
            }
            Facts::default()
        }
        _ => guard::check_zip(&mut file, kind)
            .map_err(|e| unreadable(&e))?
            .map_err(|Refusal(what)| Failure::Refused(what))?,
    };
    file.seek(SeekFrom::Start(0)).map_err(|e| unreadable(&e))?;
    let file = BufReader::new(file);
    // The library indexes by what the file says (a sheet's relation id, for one): a panic on
    // a malformed file is a file that cannot be read, not a crash.
    let opened = std::panic::catch_unwind(move || {
        Ok(match kind {
            WorkbookKind::Xlsx => Sheets::Xlsx(Reader::new(file).map_err(|e| unreadable(&e))?),
            WorkbookKind::Xlsb => Sheets::Xlsb(Reader::new(file).map_err(|e| unreadable(&e))?),
            WorkbookKind::Xls => Sheets::Xls(Reader::new(file).map_err(|e| unreadable(&e))?),
            WorkbookKind::Ods => Sheets::Ods(Reader::new(file).map_err(|e| unreadable(&e))?),
        })
    });
    let book = opened.unwrap_or_else(|_| {
        Err(Failure::Unreadable(
            "the workbook reader failed on this file".into(),
        ))
    })?;
    Ok((book, facts))
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
fn stream(book: Book, facts: Facts, sheet: &str, sender: &SyncSender<Message>) {
    let mut rows = RowBuilder::new(sender.clone(), facts.keeps_17_digits);
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_cells(book, sheet, &mut rows).and_then(|more| Ok(more && rows.finish()?))
    }));
    let last = match read {
        Ok(Ok(true)) => Message::End,
        // The reader went away: nobody to tell.
        Ok(Ok(false)) => return,
        Ok(Err(failure)) => Message::Failed(failure),
        Err(_) => Message::Failed(Failure::Unreadable(
            "the workbook reader failed on this file".into(),
        )),
    };
    let _ = sender.send(last);
}

/// Feeds every cell of the sheet to `rows`, in the file's order, after the width of its used
/// range; `false` when the reader has gone away.
fn read_cells(book: Book, sheet: &str, rows: &mut RowBuilder) -> Result<bool, Failure> {
    let text = |e: &dyn std::fmt::Display| Failure::Unreadable(e.to_string());
    let width = |end: (u32, u32)| end.1 as usize + 1;
    macro_rules! stream_cells {
        ($book:ident) => {{
            let mut cells = $book.worksheet_cells_reader(sheet).map_err(|e| text(&e))?;
            if !rows.send_width(width(cells.dimensions().end)) {
                return Ok(false);
            }
            while let Some(cell) = cells.next_cell().map_err(|e| text(&e))? {
                if !rows.cell(cell.get_position(), cell.get_value(), false)? {
                    return Ok(false);
                }
            }
        }};
    }
    match book {
        // The two cell readers share no trait, only their methods' names.
        Sheets::Xlsx(mut book) => stream_cells!(book),
        Sheets::Xlsb(mut book) => stream_cells!(book),
        Sheets::Xls(mut book) => {
            let range = book.worksheet_range(sheet).map_err(|e| text(&e))?;
            let formulas = book.worksheet_formula(sheet).map_err(|e| text(&e))?;
            return range_cells(&range, Some(&formulas), rows);
        }
        Sheets::Ods(mut book) => {
            let range = book.worksheet_range(sheet).map_err(|e| text(&e))?;
            return range_cells(&range, None, rows);
        }
    }
    Ok(true)
}

/// The cells of a sheet read whole. An .xls formula cell is read through `xls_formula`, since
/// a writer may leave its result out of the file.
fn range_cells(
    range: &calamine::Range<calamine::Data>,
    formulas: Option<&calamine::Range<String>>,
    rows: &mut RowBuilder,
) -> Result<bool, Failure> {
    if let Some(end) = range.end() {
        if !rows.send_width(end.1 as usize + 1) {
            return Ok(false);
        }
    }
    let (top, left) = range.start().unwrap_or((0, 0));
    for (row, column, value) in range.used_cells() {
        let at = (top + row as u32, left + column as u32);
        let formula = formulas
            .and_then(|f| f.get_value(at))
            .filter(|f| !f.is_empty());
        let more = match formula.map(|f| xls_formula::read(f, value)) {
            Some(xls_formula::Read::Text(text)) => {
                rows.cell(at, &calamine::Data::String(text), false)?
            }
            Some(xls_formula::Read::Unread) => rows.cell(at, value, true)?,
            Some(xls_formula::Read::Cached) | None => rows.cell(at, value, false)?,
        };
        if !more {
            return Ok(false);
        }
    }
    Ok(true)
}
#[cfg(test)]
mod tests {
    use super::*;

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
