//! Decides, row by row, how each row gets its result: settled locally (a cell that cannot be a
//! card, or one failing Luhn under `--luhn reject`), kept from an earlier output, copied from
//! an earlier row with the same card, or called for.

use std::sync::Arc;

use csv::ByteRecord;

use super::CardCell;
use crate::card::{self, Card, Rejection};
use crate::dedup::{CardIndex, Claim};
use crate::input::Header;
use crate::outcome::{Outcome, Plan, Reason, Row};

/// `--luhn`: some real UnionPay cards fail the check, so `Warn` still sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LuhnMode {
    /// Send the card anyway, and count it.
    Warn,
    /// The row is `invalid` without a call.
    Reject,
}

impl LuhnMode {
    /// The word `--luhn` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            LuhnMode::Warn => "warn",
            LuhnMode::Reject => "reject",
        }
    }
}

/// What the cell says about the card, before any question of duplicates.
pub(crate) enum Checked {
    Settled(Outcome),
    Card(Card),
}

pub(crate) struct Planner {
    card_index: usize,
    /// Fields in the header: a row with more cannot keep its added columns under their names.
    header_len: usize,
    luhn: LuhnMode,
    index: Arc<CardIndex>,
    luhn_warnings: u64,
}

impl Planner {
    pub(crate) fn new(header: &Header, luhn: LuhnMode, index: Arc<CardIndex>) -> Planner {
        Planner {
            card_index: header.card_index,
            header_len: header.names.len(),
            luhn,
            index,
            luhn_warnings: 0,
        }
    }

    /// Rows sent although their card fails the Luhn check.
    pub(crate) fn luhn_warnings(&self) -> u64 {
        self.luhn_warnings
    }

    /// Local checks only: what the cell says about the card. `card_cell` is what the reader
    /// knows of the cell beyond its text.
    pub(crate) fn check(&mut self, record: &ByteRecord, card_cell: CardCell) -> Checked {
        if record.len() > self.header_len {
            // Most often a cell holding the delimiter without quotes: which cell is the card
            // cannot be known, so nothing is paid for a guess.
            return Checked::Settled(Outcome::invalid(
                Reason::TooManyFields,
                format!(
                    "row has {} fields but the header {}; quote cells that hold the delimiter (the cells beyond the header are kept in the last column)",
                    record.len(),
                    self.header_len
                ),
            ));
        }
        if let CardCell::LongNumber { digits } = card_cell {
            return Checked::Settled(rejected(&Rejection::ExcelNumber { digits }));
        }
        let Some(cell) = record.get(self.card_index) else {
            return Checked::Settled(Outcome::invalid(
                Reason::MissingColumn,
                format!(
                    "row has {} {}; the card number should be in field {}",
                    record.len(),
                    if record.len() == 1 { "field" } else { "fields" },
                    self.card_index + 1
                ),
            ));
        };
        let Ok(text) = std::str::from_utf8(cell) else {
            return Checked::Settled(Outcome::invalid(
                Reason::NotText,
                "card cell is not text".into(),
            ));
        };
        match card::clean(text) {
            Err(rejection) => Checked::Settled(rejected(&rejection)),
            Ok(card) if !card.luhn_ok() => match self.luhn {
                LuhnMode::Reject => Checked::Settled(rejected(&Rejection::LuhnFailed)),
                LuhnMode::Warn => {
                    self.luhn_warnings += 1;
                    tracing::debug!(card = %card.masked(), "Card fails the Luhn check; sending it anyway (--luhn warn).");
                    Checked::Card(card)
                }
            },
            Ok(card) => Checked::Card(card),
        }
    }

    /// The row's plan, and the card to call for when the plan is `Call`. `kept` is the result
    /// an earlier output holds for this row and that `--retry-errors` keeps.
    pub(crate) fn plan(
        &mut self,
        row: u64,
        record: ByteRecord,
        card_cell: CardCell,
        kept: Option<Outcome>,
    ) -> (Row, Option<Card>) {
        let (plan, card_code, call) = match self.check(&record, card_cell) {
            Checked::Settled(outcome) => (Plan::Settled(outcome), 0, None),
            Checked::Card(card) => match kept {
                Some(outcome) => (Plan::Settled(outcome), card.code(), None),
                None => match self.index.claim(card.code()) {
                    Claim::Call => (Plan::Call, card.code(), Some(card)),
                    Claim::Duplicate => (Plan::Duplicate, card.code(), None),
                    Claim::Journaled => (Plan::Journaled, card.code(), None),
                },
            },
        };
        let row = Row {
            row,
            record,
            card_code,
            plan,
        };
        (row, call)
    }
}

fn rejected(rejection: &Rejection) -> Outcome {
    Outcome::invalid(rejection.reason(), rejection.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cells: &[&str]) -> ByteRecord {
        ByteRecord::from(cells.to_vec())
    }

    /// A planner for a header of `len` columns with the card in column `card_index`.
    fn planner(len: usize, card_index: usize, luhn: LuhnMode) -> Planner {
        let header = Header {
            names: (0..len).map(|i| format!("c{i}").into_bytes()).collect(),
            card_index,
        };
        Planner::new(&header, luhn, Arc::new(CardIndex::new()))
    }

    const VALID: &str = "6222024332181964";
    const FAILS_LUHN: &str = "6222024332181965";

    #[test]
    fn a_card_is_called_once_then_copied() {
        let mut planner = planner(2, 1, LuhnMode::Warn);
        let (first, call) = planner.plan(0, record(&["a", VALID]), CardCell::Text, None);
        assert!(matches!(first.plan, Plan::Call));
        assert_eq!(call.map(|c| c.code()), Some(first.card_code));
        let (second, call) = planner.plan(1, record(&["b", VALID]), CardCell::Text, None);
        assert!(matches!(second.plan, Plan::Duplicate) && call.is_none());
    }

    #[test]
    fn bad_cells_are_settled_without_a_call() {
        let mut planner = planner(2, 1, LuhnMode::Warn);
        let cases = [
            (record(&["short"]), Reason::MissingColumn),
            (record(&["a", "622848040256"]), Reason::TooFewDigits),
            (record(&["a", "6.22848E+18"]), Reason::ScientificNotation),
            (record(&["a", VALID, "extra"]), Reason::TooManyFields),
        ];
        for (cells, reason) in cases {
            let (row, call) = planner.plan(0, cells, CardCell::Text, None);
            match row.plan {
                Plan::Settled(outcome) => assert_eq!(outcome.reason, Some(reason)),
                other => panic!("{other:?}"),
            }
            assert!(call.is_none());
        }
    }

    #[test]
    fn a_workbook_number_that_lost_digits_is_never_sent() {
        let mut planner = planner(1, 0, LuhnMode::Warn);
        // The text is what Excel holds: a valid-looking card whose last digits are zeros.
        let long = CardCell::LongNumber { digits: 19 };
        let (row, call) = planner.plan(0, record(&["6228480402561230000"]), long, None);
        match row.plan {
            Plan::Settled(outcome) => {
                assert_eq!(outcome.reason, Some(Reason::ExcelNumber));
                assert!(
                    outcome.error.contains("format the column as Text"),
                    "{}",
                    outcome.error
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(call.is_none());
    }

    #[test]
    fn luhn_warn_sends_and_counts_while_reject_settles() {
        let mut warn = planner(1, 0, LuhnMode::Warn);
        let (row, call) = warn.plan(0, record(&[FAILS_LUHN]), CardCell::Text, None);
        assert!(matches!(row.plan, Plan::Call) && call.is_some());
        assert_eq!(warn.luhn_warnings(), 1);
        let mut reject = planner(1, 0, LuhnMode::Reject);
        let (row, call) = reject.plan(0, record(&[FAILS_LUHN]), CardCell::Text, None);
        assert!(matches!(row.plan, Plan::Settled(ref o) if o.reason == Some(Reason::LuhnFailed)));
        assert!(call.is_none());
    }

    #[test]
    fn a_kept_result_settles_a_valid_card() {
        let mut planner = planner(1, 0, LuhnMode::Warn);
        let kept = Outcome::ok(Default::default(), "JH1".into(), 1);
        let (row, call) = planner.plan(0, record(&[VALID]), CardCell::Text, Some(kept.clone()));
        assert!(matches!(row.plan, Plan::Settled(ref o) if *o == kept));
        assert!(call.is_none());
    }
}
