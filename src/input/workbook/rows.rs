//! Cells gathered into rows of text and rows into batches for the reader, with what a cell's
//! text cannot say: a long number Excel may have cut, a formula whose result the file lacks.

use std::sync::mpsc::SyncSender;

use calamine::DataType;
use csv::ByteRecord;

use super::guard::MAX_CELL;
use super::render::render;

/// Rows go to the reader in batches of this many: a channel message per row cost more than
/// reading the row.
pub(super) const BATCH: usize = 256;
/// Excel's last column is XFD; a cell claiming to lie further out is a broken file, and
/// believing it would size a row buffer by it.
pub(super) const MAX_COLUMNS: u32 = 16_384;

/// What a cell holds beyond its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// A number of this many digits, which Excel kept only 15 of.
    LongNumber(u16),
    /// A formula whose result the file does not hold (it reads as 0).
    UnreadFormula,
}

/// One non-empty row of the sheet, as text.
pub(super) struct SheetRow {
    pub(super) record: ByteRecord,
    /// Empty rows between this row and the one before (0 for the first).
    pub(super) blank_before: u64,
    pub(super) marks: Vec<(u32, Mark)>,
}

pub(super) enum Message {
    /// The sheet's used range ends in this column (1-based), as the file declares it.
    Width(usize),
    Rows(Vec<SheetRow>),
    End,
    Failed(Failure),
}

/// Why the thread stopped reading.
pub(super) enum Failure {
    /// The library could not read the file.
    Unreadable(String),
    /// The file passed a bound.
    Refused(String),
}

/// Gathers cells into rows and rows into batches. Column A is always the first field, so that
/// `--column N` counts columns as Excel letters them.
pub(super) struct RowBuilder {
    sender: SyncSender<Message>,
    /// The writer keeps 17 significant digits: a whole number up to 2^53 is exact.
    keeps_17_digits: bool,
    batch: Vec<SheetRow>,
    current: Option<u32>,
    /// The current row's cells by column, kept between rows so their buffers are reused.
    cells: Vec<String>,
    /// One past the last non-empty cell of the current row.
    used: usize,
    marks: Vec<(u32, Mark)>,
    /// The last non-empty row sent.
    last: Option<u32>,
}

impl RowBuilder {
    pub(super) fn new(sender: SyncSender<Message>, keeps_17_digits: bool) -> RowBuilder {
        RowBuilder {
            sender,
            keeps_17_digits,
            batch: Vec::with_capacity(BATCH),
            current: None,
            cells: Vec::new(),
            used: 0,
            marks: Vec::new(),
            last: None,
        }
    }

    /// Takes one cell; `false` when the reader has gone away. `unread` marks a formula whose
    /// result the file does not hold.
    pub(super) fn cell(
        &mut self,
        (row, column): (u32, u32),
        value: &impl DataType,
        unread: bool,
    ) -> Result<bool, Failure> {
        if column >= MAX_COLUMNS {
            return Err(Failure::Unreadable(format!(
                "row {} has a cell in column {}, beyond Excel's last column (XFD)",
                u64::from(row) + 1,
                u64::from(column) + 1
            )));
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
        if let Some(long) = render(value, cell) {
            // An exact card is that card; any other number this long may not be the card's.
            let exact_card = self.keeps_17_digits
                && long.exact
                && crate::card::clean(cell).is_ok_and(|card| card.luhn_ok());
            if !exact_card {
                self.marks.push((column, Mark::LongNumber(long.digits)));
            }
        }
        if unread {
            self.marks.push((column, Mark::UnreadFormula));
        }
        if cell.len() > MAX_CELL {
            return Err(Failure::Refused(format!(
                "row {}, column {} holds more than 1 MiB of text (the limit for one cell)",
                u64::from(row) + 1,
                u64::from(column) + 1
            )));
        }
        if !cell.is_empty() {
            self.used = self.used.max(index + 1);
        }
        Ok(true)
    }

    /// Sends the current row if it holds anything; an empty row is only counted, by the gap
    /// it leaves before the next row sent.
    fn end_row(&mut self) -> Result<bool, Failure> {
        let Some(row) = self.current else {
            return Ok(true);
        };
        if self.used == 0 {
            self.marks.clear();
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
            marks: std::mem::take(&mut self.marks),
        });
        if self.batch.len() >= BATCH {
            return Ok(self.send());
        }
        Ok(true)
    }

    pub(super) fn send_width(&mut self, width: usize) -> bool {
        self.sender.send(Message::Width(width)).is_ok()
    }

    fn send(&mut self) -> bool {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.sender.send(Message::Rows(batch)).is_ok()
    }

    /// Sends the last row and batch.
    pub(super) fn finish(&mut self) -> Result<bool, Failure> {
        if !self.end_row()? {
            return Ok(false);
        }
        Ok(self.batch.is_empty() || self.send())
    }
}
