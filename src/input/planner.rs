//! Decides, row by row, how each row gets its result: settled locally (a cell that cannot be a
//! card, or one failing Luhn under `--luhn reject`), kept from an earlier output, copied from
//! an earlier row with the same card, answered from the store (`--max-age`), or called for.

use std::sync::Arc;

use csv::ByteRecord;

use super::level::{Decision, Limits, Plan as LevelPlan};
use super::reader::CardCell;
use crate::card::{self, Card, Rejection};
use crate::dedup::{CardIndex, Claim};
use crate::header::Header;
use crate::outcome::{CardKey, Change, Outcome, Plan, Previous, Reason, Row};
use crate::store::{Latest, StoreError, StoreReader};

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

/// A card to call the API for, with what the store knew of it.
pub(crate) struct ToCall {
    pub(crate) card: Card,
    pub(crate) previous: Option<Previous>,
    /// The row's answer if the deadline comes before the call (`--deadline`).
    pub(crate) fallback: Option<Outcome>,
}

/// How the planner judges the cards the store knows: tonight's plan when one was made (a file
/// read ahead), the limits it was made with, and whether a deadline may leave cards uncalled.
pub(crate) struct Levels {
    pub(crate) plan: Option<LevelPlan>,
    pub(crate) limits: Limits,
    pub(crate) fallback: bool,
}

pub(crate) struct Planner {
    card_index: usize,
    /// Fields in the header: a row with more cannot keep its added columns under their names.
    header_len: usize,
    luhn: LuhnMode,
    index: Arc<CardIndex>,
    luhn_warnings: u64,
    store: Option<StoreReader>,
    levels: Option<Levels>,
}

impl Planner {
    pub(crate) fn new(
        header: &Header,
        luhn: LuhnMode,
        index: Arc<CardIndex>,
        store: Option<StoreReader>,
    ) -> Planner {
        Planner {
            card_index: header.card_index,
            header_len: header.names.len(),
            luhn,
            index,
            luhn_warnings: 0,
            store,
            levels: None,
        }
    }

    /// Judges the cards by tonight's plan and the deadline.
    pub(crate) fn with_levels(mut self, levels: Levels) -> Planner {
        self.levels = Some(levels);
        self
    }

    /// Rows sent although their card fails the Luhn check.
    pub(crate) fn luhn_warnings(&self) -> u64 {
        self.luhn_warnings
    }

    /// The reader is about to wait: let go of what it holds in the store.
    pub(crate) fn pause(&mut self) {
        if let Some(store) = &mut self.store {
            store.pause();
        }
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
        if card_cell == CardCell::UnreadFormula {
            return Checked::Settled(Outcome::invalid(
                Reason::NotText,
                "the card cell holds a formula whose result this .xls file does not keep (it reads 0); open the file, save it as .xlsx, or paste the column as values".into(),
            ));
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
    ) -> Result<(Row, Option<ToCall>), StoreError> {
        let card = match self.check(&record, card_cell) {
            Checked::Settled(outcome) => {
                let row = Row {
                    row,
                    record,
                    card_code: 0,
                    store_key: None,
                    plan: Plan::Settled(outcome),
                };
                return Ok((row, None));
            }
            Checked::Card(card) => card,
        };
        let store_key = self.store.as_ref().map(|store| store.key(&card));
        let (plan, call) = match kept {
            Some(outcome) => (Plan::Settled(outcome), None),
            None => match self.index.claim(card.code()) {
                Claim::Call => self.first_sight(card, store_key)?,
                Claim::Duplicate => (Plan::Duplicate, None),
                Claim::Journaled => (Plan::Journaled, None),
            },
        };
        let row = Row {
            row,
            record,
            card_code: card.code(),
            store_key,
            plan,
        };
        Ok((row, call))
    }

    /// A card this run has not seen: answered from the store when tonight's plan (or, without
    /// one, the age of its stored result) says so, else called for, with the stored result to
    /// judge the answer's change against.
    fn first_sight(
        &mut self,
        card: Card,
        key: Option<CardKey>,
    ) -> Result<(Plan, Option<ToCall>), StoreError> {
        let (Some(store), Some(key)) = (self.store.as_mut(), key) else {
            let call = ToCall {
                card,
                previous: None,
                fallback: self.fallback(None),
            };
            return Ok((Plan::Call, Some(call)));
        };
        let latest = store.latest(&key)?;
        let age = latest.as_ref().map(|l| store.age(l));
        let decision = match &self.levels {
            Some(Levels {
                plan: Some(plan),
                limits,
                ..
            }) => plan.decide_card(&key, age, limits),
            _ if latest.as_ref().is_some_and(|l| store.is_fresh(l)) => Decision::FromStore,
            _ => Decision::Call { early: false },
        };
        match (decision, latest) {
            (Decision::FromStore | Decision::Stale, Some(latest)) => {
                let outcome = stored_answer(latest, decision == Decision::Stale);
                Ok((Plan::Stored(outcome), None))
            }
            (decision, latest) => {
                let previous = Previous {
                    key,
                    result: latest.as_ref().map(|l| l.result),
                    early: decision == Decision::Call { early: true },
                };
                let call = ToCall {
                    card,
                    previous: Some(previous),
                    fallback: self.fallback(age.zip(latest)),
                };
                Ok((Plan::Call, Some(call)))
            }
        }
    }

    /// What a card gets if the deadline comes before its call: its stored result when
    /// `--max-stale` allows it, else an error row that says so. `None` without a deadline.
    fn fallback(&self, stored: Option<(u64, Latest)>) -> Option<Outcome> {
        let levels = self.levels.as_ref().filter(|l| l.fallback)?;
        Some(match stored {
            Some((age, latest)) if age < levels.limits.max_stale => {
                stored_answer(latest, age >= levels.limits.max_age)
            }
            _ => Outcome::not_called(),
        })
    }
}

/// The row a stored result gives without a call: attempts 0, its `orderid` and time, `change`
/// judged against itself (so `same`).
fn stored_answer(latest: Latest, stale: bool) -> Outcome {
    let mut outcome = latest.result.outcome(latest.orderid, latest.called);
    outcome.change = Change::between(Some(latest.result), &outcome);
    outcome.reused = true;
    outcome.stale = stale;
    outcome
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
        Planner::new(&header, luhn, Arc::new(CardIndex::new()), None)
    }

    const VALID: &str = "6222024332181964";
    const FAILS_LUHN: &str = "6222024332181965";

    #[test]
    fn a_card_is_called_once_then_copied() {
        let mut planner = planner(2, 1, LuhnMode::Warn);
        let (first, call) = planner
            .plan(0, record(&["a", VALID]), CardCell::Text, None)
            .unwrap();
        assert!(matches!(first.plan, Plan::Call));
        assert_eq!(call.map(|c| c.card.code()), Some(first.card_code));
        let (second, call) = planner
            .plan(1, record(&["b", VALID]), CardCell::Text, None)
            .unwrap();
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
            let (row, call) = planner.plan(0, cells, CardCell::Text, None).unwrap();
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
        let (row, call) = planner
            .plan(0, record(&["6228480402561230000"]), long, None)
            .unwrap();
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
        let (row, call) = warn
            .plan(0, record(&[FAILS_LUHN]), CardCell::Text, None)
            .unwrap();
        assert!(matches!(row.plan, Plan::Call) && call.is_some());
        assert_eq!(warn.luhn_warnings(), 1);
        let mut reject = planner(1, 0, LuhnMode::Reject);
        let (row, call) = reject
            .plan(0, record(&[FAILS_LUHN]), CardCell::Text, None)
            .unwrap();
        assert!(matches!(row.plan, Plan::Settled(ref o) if o.reason == Some(Reason::LuhnFailed)));
        assert!(call.is_none());
    }

    #[test]
    fn a_kept_result_settles_a_valid_card() {
        let mut planner = planner(1, 0, LuhnMode::Warn);
        let kept = Outcome::ok(Default::default(), "JH1".into(), 1);
        let (row, call) = planner
            .plan(0, record(&[VALID]), CardCell::Text, Some(kept.clone()))
            .unwrap();
        assert!(matches!(row.plan, Plan::Settled(ref o) if *o == kept));
        assert!(call.is_none());
    }
}
