//! The changed rows the report lists: the first ones whose change is news, card masked and
//! cells cut as they arrive, bounded in number and in text so the page stays small.

use csv::ByteRecord;

use crate::card::{mask_cell, shown};
use crate::header::Header;
use crate::outcome::{Outcome, FLAG_NAMES};

/// Rows kept at most; the rest are counted and the `--changes` file has them all.
pub(crate) const MAX_ROWS: usize = 500;
/// Columns of a row kept at most, the card column among them.
const MAX_COLUMNS: usize = 24;
/// Characters of cell text kept over all rows: a wide file's rows stop being listed sooner.
const MAX_TEXT: usize = 300_000;

/// One changed row as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangedRow {
    pub(crate) cells: Vec<String>,
    /// `new_hit`, `cleared` or `changed`.
    pub(crate) change: &'static str,
    /// The flags set, by name.
    pub(crate) flags: Vec<&'static str>,
}

/// The changed rows kept for the report, and how many more there were.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChangeRows {
    pub(crate) columns: Vec<String>,
    card_index: usize,
    pub(crate) rows: Vec<ChangedRow>,
    /// Changed rows not kept.
    pub(crate) more: u64,
    text: usize,
}

impl ChangeRows {
    pub(crate) fn new(header: &Header) -> ChangeRows {
        let columns = header
            .names
            .iter()
            .take(MAX_COLUMNS)
            .map(|name| shown_cell(&String::from_utf8_lossy(name)))
            .collect();
        ChangeRows {
            columns,
            card_index: header.card_index,
            ..ChangeRows::default()
        }
    }

    /// Keeps a row whose change is news while there is room, else counts it.
    pub(crate) fn keep(&mut self, record: &ByteRecord, outcome: &Outcome) {
        let Some(change) = outcome.change else { return };
        if self.rows.len() >= MAX_ROWS || self.text >= MAX_TEXT {
            self.more += 1;
            return;
        }
        let cells: Vec<String> = record
            .iter()
            .take(self.columns.len().max(1))
            .enumerate()
            .map(|(index, cell)| {
                let text = String::from_utf8_lossy(cell);
                if index == self.card_index {
                    // Masked whatever --mask says: a report gets forwarded.
                    mask_cell(&text)
                } else {
                    shown_cell(&text)
                }
            })
            .collect();
        self.text += cells.iter().map(String::len).sum::<usize>();
        let flags = (0..FLAG_NAMES.len())
            .filter(|&index| outcome.flags.get(index))
            .map(|index| FLAG_NAMES[index])
            .collect();
        self.rows.push(ChangedRow {
            cells,
            change: change.as_str(),
            flags,
        });
    }
}

/// A cell as the page shows it: any card number in it masked, control characters escaped,
/// cut after 200 characters.
fn shown_cell(text: &str) -> String {
    shown(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Change, Flags};

    fn outcome(change: Change) -> Outcome {
        let mut outcome = Outcome::ok(Flags(0b101), "JH1".into(), 1);
        outcome.change = Some(change);
        outcome
    }

    #[test]
    fn rows_are_masked_and_bounded() {
        let header = Header {
            names: vec![b"name".to_vec(), b"card".to_vec()],
            card_index: 1,
        };
        let mut kept = ChangeRows::new(&header);
        let record = ByteRecord::from(vec!["note 6228480402564890018", "6228480402564890018"]);
        for _ in 0..MAX_ROWS + 7 {
            kept.keep(&record, &outcome(Change::NewHit));
        }
        assert_eq!(kept.rows.len(), MAX_ROWS);
        assert_eq!(kept.more, 7);
        let row = &kept.rows[0];
        assert_eq!(row.cells[1], "622848*********0018");
        assert!(!row.cells[0].contains("6228480402564890018"), "{row:?}");
        assert_eq!(row.change, "new_hit");
        assert_eq!(row.flags, [FLAG_NAMES[0], FLAG_NAMES[2]]);
    }
}
