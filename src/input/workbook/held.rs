//! How many cells an .ods sheet makes the reader hold: it keeps each sheet as one block from
//! the first used cell to the last, and a cell or row marked as repeated a million times is a
//! few bytes of XML.

/// .ods and .xls sheets are held whole, one slot a cell between the first and the last used
/// (56 bytes each in an .ods): 3 million slots hold 300,000 rows of ten columns.
pub(crate) const MAX_HELD_CELLS: u64 = 3_000_000;

/// Counts rows and columns of the `table:table` elements of `content.xml` as they go by.
#[derive(Debug, Default)]
pub(super) struct HeldCells {
    /// Rows so far in this sheet, and the end of the last one holding a value.
    row: u64,
    last_row: u64,
    /// Columns so far in this row, and the furthest end of a value in this sheet.
    column: u64,
    widest: u64,
    row_repeat: u64,
    row_has_value: bool,
    /// Cells of the sheets already ended.
    finished: u64,
}

impl HeldCells {
    /// Takes one tag (its bytes between `<` and `>`); `Err(cells)` once they pass the limit.
    pub(super) fn tag(
        &mut self,
        local: &[u8],
        tag: &[u8],
        closing: bool,
        empty: bool,
    ) -> Result<(), u64> {
        match (local, closing) {
            (b"table", false) => {
                self.row = 0;
                self.last_row = 0;
                self.widest = 0;
            }
            (b"table", true) => self.end_table()?,
            (b"table-row", false) => {
                self.row_repeat = attribute(tag, b"number-rows-repeated").unwrap_or(1);
                self.column = 0;
                self.row_has_value = false;
                if empty {
                    self.end_row()?;
                }
            }
            (b"table-row", true) => self.end_row()?,
            (b"table-cell" | b"covered-table-cell", false) => {
                let repeat = attribute(tag, b"number-columns-repeated").unwrap_or(1);
                self.column = self.column.saturating_add(repeat);
                let value = !empty || memchr::memmem::find(tag, b"value-type").is_some();
                if value {
                    self.widest = self.widest.max(self.column);
                    self.row_has_value = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn end_row(&mut self) -> Result<(), u64> {
        self.row = self.row.saturating_add(self.row_repeat.max(1));
        if self.row_has_value {
            self.last_row = self.row;
        }
        self.row_has_value = false;
        self.check(self.held())
    }

    /// Ends a sheet: its block is held until the whole file is read.
    pub(super) fn end_table(&mut self) -> Result<(), u64> {
        self.finished = self.held();
        self.row = 0;
        self.last_row = 0;
        self.widest = 0;
        self.check(self.finished)
    }

    fn held(&self) -> u64 {
        self.finished
            .saturating_add(self.widest.saturating_mul(self.last_row))
    }

    fn check(&self, held: u64) -> Result<(), u64> {
        if held > MAX_HELD_CELLS {
            Err(held)
        } else {
            Ok(())
        }
    }
}

/// The number in `name="123"` among a tag's attributes, whatever their prefix.
fn attribute(tag: &[u8], name: &[u8]) -> Option<u64> {
    let at = memchr::memmem::find(tag, name)? + name.len();
    let rest = tag.get(at..)?;
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let rest = rest
        .strip_prefix(b"\"")
        .or_else(|| rest.strip_prefix(b"'"))?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}
