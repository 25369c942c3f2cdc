//! The output as an Excel workbook, written row by row in rust_xlsxwriter's constant-memory
//! mode: every input cell, `orderid` and `error` as text (formatted as Text, so no digit is
//! ever lost, not even when a cell is edited), `hit`, the flags, `error_code` and `attempts` as
//! numbers; a bold frozen header with an autofilter, hit rows filled light red, printed
//! landscape one page wide with the header on every page, and a second sheet with the run
//! summary.

use std::io::{self, Write};
use std::path::Path;

use csv::ByteRecord;
use rust_xlsxwriter::{Color, Format, Workbook, Worksheet, XlsxError};

use super::columns::{added_names, fit_to_header, store_cells, SinkOptions};
use crate::header::Header;
use crate::outcome::{Outcome, Status, FLAG_NAMES};
use crate::report::Figure;

/// Rows a worksheet holds, the header included.
pub(crate) const SHEET_ROWS: u64 = 1_048_576;
/// Characters a cell holds.
pub(crate) const CELL_CHARS: usize = 32_767;
/// The results sheet; the summary goes to `SUMMARY_SHEET`.
const RESULTS_SHEET: &str = "Screened";
const SUMMARY_SHEET: &str = "Summary";
/// Excel's own "light red fill".
const HIT_FILL: u32 = 0xFFC7CE;
/// Column widths, in characters: room for the filter button under a header, and a cap so that
/// one long note does not push every other column off the screen.
const FILTER_BUTTON: usize = 3;
const MAX_WIDTH: usize = 60;

struct Formats {
    header: Format,
    text: Format,
    text_hit: Format,
    number: Format,
    number_hit: Format,
}

impl Formats {
    fn new() -> Formats {
        // "@" is Excel's Text format: a cell edited and entered again stays text.
        let text = Format::new().set_num_format("@");
        let fill = Color::RGB(HIT_FILL);
        Formats {
            header: text.clone().set_bold(),
            text_hit: text.clone().set_background_color(fill),
            text,
            number: Format::new(),
            number_hit: Format::new().set_background_color(fill),
        }
    }
}

/// Writes the output workbook. Column widths are measured on every row written: in
/// constant-memory mode rust_xlsxwriter streams the cells to a temporary file and writes the
/// sheet's head (column widths, frozen pane) only when the workbook is saved, so the widths
/// can fit the whole content at the cost of one number per column.
pub(crate) struct XlsxSink {
    workbook: Workbook,
    out: Box<dyn Write + Send>,
    /// The next row to write (0 is the header).
    row: u32,
    header_len: usize,
    card_index: usize,
    /// Joins the cells of a row longer than the header.
    delimiter: u8,
    mask: bool,
    /// The store's two columns follow cardscreen's, as text.
    store_columns: bool,
    /// The widest cell of each column so far, in characters (CJK counted twice).
    widths: Vec<usize>,
    formats: Formats,
}

impl XlsxSink {
    /// Writes the header. The cells go to a temporary file in `scratch_dir` (beside the output,
    /// so a large sheet does not land in a `/tmp` that may be memory), unnamed and owner-only.
    pub(crate) fn new(
        out: Box<dyn Write + Send>,
        header: &Header,
        options: &SinkOptions,
        scratch_dir: Option<&Path>,
    ) -> io::Result<XlsxSink> {
        let mut workbook = Workbook::new();
        if let Some(dir) = scratch_dir {
            workbook.set_tempdir(dir).map_err(xlsx_error)?;
        }
        let sheet = workbook
            .add_worksheet_with_constant_memory()
            .map_err(xlsx_error)?;
        sheet.set_name(RESULTS_SHEET).map_err(xlsx_error)?;
        sheet.set_freeze_panes(1, 0).map_err(xlsx_error)?;
        // Printed, a row of 21 columns stays on one page, with the header on every page.
        sheet.set_landscape().set_print_fit_to_pages(1, 0);
        sheet.set_repeat_rows(0, 0).map_err(xlsx_error)?;
        let mut sink = XlsxSink {
            workbook,
            out,
            row: 0,
            header_len: header.names.len(),
            card_index: header.card_index,
            delimiter: options.delimiter,
            mask: options.mask,
            store_columns: options.store_columns,
            widths: Vec::new(),
            formats: Formats::new(),
        };
        let names: Vec<String> = header
            .names
            .iter()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .chain(added_names(&options.prefix, options.store_columns))
            .collect();
        let sheet = sink.workbook.worksheet_from_index(0).map_err(xlsx_error)?;
        for (column, name) in names.iter().enumerate() {
            let column = column_number(column)?;
            sheet
                .write_string_with_format(0, column, name, &sink.formats.header)
                .map_err(xlsx_error)?;
            measure(&mut sink.widths, usize::from(column), name, FILTER_BUTTON);
        }
        sink.row = 1;
        Ok(sink)
    }

    pub(crate) fn write_row(&mut self, record: &ByteRecord, outcome: &Outcome) -> io::Result<()> {
        if u64::from(self.row) >= SHEET_ROWS {
            return Err(io::Error::other(format!(
                "a sheet holds {SHEET_ROWS} rows with its header; write CSV for more"
            )));
        }
        let row = self.row;
        let ok = outcome.status == Status::Ok;
        let hit = ok && outcome.flags.is_hit();
        let (text, number) = if hit {
            (&self.formats.text_hit, &self.formats.number_hit)
        } else {
            (&self.formats.text, &self.formats.number)
        };
        let sheet = self.workbook.worksheet_from_index(0).map_err(xlsx_error)?;
        let mut cells = Cells {
            sheet,
            row,
            hit,
            text,
            number,
            widths: &mut self.widths,
            column: 0,
        };
        let record = fit_to_header(record, self.header_len, self.delimiter);
        for (index, field) in record.iter().enumerate() {
            let field = String::from_utf8_lossy(field);
            if self.mask && index == self.card_index {
                cells.text(&crate::card::mask_cell(&field))?;
            } else {
                cells.text(&field)?;
            }
        }
        // Short (ragged) rows are padded so the added columns stay under their names.
        for _ in record.len()..self.header_len {
            cells.text("")?;
        }
        cells.text(outcome.status.as_str())?;
        cells.number(ok.then_some(u8::from(outcome.flags.is_hit()).into()))?;
        for index in 0..FLAG_NAMES.len() {
            cells.number(ok.then_some(u8::from(outcome.flags.get(index)).into()))?;
        }
        cells.text(&outcome.orderid)?;
        cells.number(outcome.error_code.map(|code| code as f64))?;
        cells.text(&outcome.error)?;
        cells.number(Some(outcome.attempts.into()))?;
        if self.store_columns {
            for cell in store_cells(outcome) {
                cells.text(&cell)?;
            }
        }
        self.row += 1;
        Ok(())
    }

    /// Sets the widths and the autofilter, adds the summary sheet and writes the workbook.
    pub(crate) fn finish(mut self, summary: &[(String, Figure)]) -> io::Result<()> {
        let last_row = self.row - 1;
        let last_column = column_number(self.widths.len().saturating_sub(1))?;
        let sheet = self.workbook.worksheet_from_index(0).map_err(xlsx_error)?;
        sheet
            .autofilter(0, 0, last_row, last_column)
            .map_err(xlsx_error)?;
        for (column, width) in self.widths.iter().enumerate() {
            let width = (*width).clamp(4, MAX_WIDTH) + 1;
            sheet
                .set_column_width(column_number(column)?, width as f64)
                .map_err(xlsx_error)?;
        }
        write_summary(self.workbook.add_worksheet(), summary, &self.formats)?;
        self.workbook
            .save_to_writer(&mut self.out)
            .map_err(xlsx_error)?;
        self.out.flush()
    }
}

/// One row's cells, written left to right.
struct Cells<'a> {
    sheet: &'a mut Worksheet,
    row: u32,
    hit: bool,
    text: &'a Format,
    number: &'a Format,
    widths: &'a mut Vec<usize>,
    column: usize,
}

impl Cells<'_> {
    fn text(&mut self, value: &str) -> io::Result<()> {
        let column = self.next()?;
        if value.is_empty() {
            return self.blank(column);
        }
        if value.len() > CELL_CHARS && value.chars().count() > CELL_CHARS {
            return Err(io::Error::other(format!(
                "row {} has a cell of more than {CELL_CHARS} characters, more than a workbook cell holds; write CSV",
                self.row + 1
            )));
        }
        self.sheet
            .write_string_with_format(self.row, column, value, self.text)
            .map_err(xlsx_error)?;
        measure(self.widths, usize::from(column), value, 0);
        Ok(())
    }

    fn number(&mut self, value: Option<f64>) -> io::Result<()> {
        let column = self.next()?;
        let Some(value) = value else {
            return self.blank(column);
        };
        self.sheet
            .write_number_with_format(self.row, column, value, self.number)
            .map_err(xlsx_error)?;
        let digits = itoa::Buffer::new().format(value as i64).len();
        let width = &mut self.widths[usize::from(column)];
        *width = (*width).max(digits);
        Ok(())
    }

    /// An empty cell is written only in a hit row, to carry the fill.
    fn blank(&mut self, column: u16) -> io::Result<()> {
        if self.hit {
            self.sheet
                .write_blank(self.row, column, self.text)
                .map_err(xlsx_error)?;
        }
        Ok(())
    }

    fn next(&mut self) -> io::Result<u16> {
        let column = column_number(self.column)?;
        self.column += 1;
        if self.widths.len() < self.column {
            self.widths.resize(self.column, 0);
        }
        Ok(column)
    }
}

/// The run summary as a two-column table: figure and value.
fn write_summary(
    sheet: &mut Worksheet,
    summary: &[(String, Figure)],
    formats: &Formats,
) -> io::Result<()> {
    sheet.set_name(SUMMARY_SHEET).map_err(xlsx_error)?;
    sheet.set_print_fit_to_pages(1, 1);
    sheet
        .write_string_with_format(0, 0, "figure", &formats.header)
        .map_err(xlsx_error)?;
    sheet
        .write_string_with_format(0, 1, "value", &formats.header)
        .map_err(xlsx_error)?;
    let mut widths = vec![8, 8];
    for (row, (name, figure)) in (1u32..).zip(summary) {
        sheet
            .write_string_with_format(row, 0, name, &formats.text)
            .map_err(xlsx_error)?;
        measure(&mut widths, 0, name, 0);
        match figure {
            Figure::Count(count) => sheet.write_number(row, 1, *count as f64),
            Figure::Decimal(value) => sheet.write_number(row, 1, *value),
            Figure::Flag(flag) => sheet.write_boolean(row, 1, *flag),
            Figure::Empty => continue,
            Figure::Text(text) => {
                measure(&mut widths, 1, text, 0);
                sheet.write_string_with_format(row, 1, text, &formats.text)
            }
        }
        .map_err(xlsx_error)?;
    }
    for (column, width) in (0u16..).zip(widths) {
        sheet
            .set_column_width(column, (width.min(MAX_WIDTH) + 1) as f64)
            .map_err(xlsx_error)?;
    }
    Ok(())
}

/// Widens `widths[column]` to fit `text` (its longest line) plus `extra`.
fn measure(widths: &mut Vec<usize>, column: usize, text: &str, extra: usize) {
    if widths.len() <= column {
        widths.resize(column + 1, 0);
    }
    // A character is at most as wide as its bytes: most cells need no counting.
    if text.len() + extra <= widths[column] {
        return;
    }
    let width = text.lines().map(display_width).max().unwrap_or(0) + extra;
    widths[column] = widths[column].max(width);
}

/// Characters of CJK and the full-width forms take two columns.
fn display_width(line: &str) -> usize {
    line.chars()
        .map(|c| if c >= '\u{2E80}' { 2 } else { 1 })
        .sum()
}

fn column_number(index: usize) -> io::Result<u16> {
    u16::try_from(index)
        .ok()
        .filter(|&column| column < 16_384)
        .ok_or_else(|| io::Error::other("more columns than a workbook sheet holds (16,384)"))
}

fn xlsx_error(error: XlsxError) -> io::Error {
    match error {
        XlsxError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_is_as_wide_as_its_longest_line_with_cjk_counted_twice() {
        let mut widths = Vec::new();
        measure(&mut widths, 1, "6222024332181964", 0);
        measure(&mut widths, 1, "short", 0);
        assert_eq!(widths, [0, 16]);
        measure(&mut widths, 0, "广州天河支行", 0);
        assert_eq!(widths[0], 12);
        measure(&mut widths, 2, "one line\nand a longer second line", 3);
        assert_eq!(widths[2], 24 + 3);
    }
}
