//! What travels between the stages: a row on its way from the reader to the collector, the
//! plan for how it gets its result, and the result itself (`Outcome`), which the pool produces,
//! the journal keeps and the sink turns into the added output columns.

use std::fmt;

use csv::ByteRecord;

pub(crate) use crate::vendor::FLAG_NAMES;

/// The `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    Invalid,
    Error,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Invalid => "invalid",
            Status::Error => "error",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Status> {
        match text {
            "ok" => Some(Status::Ok),
            "invalid" => Some(Status::Invalid),
            "error" => Some(Status::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The six flags packed into the low bits of a byte, bit `i` for `FLAG_NAMES[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Flags(pub u8);

impl Flags {
    /// The bits a set of six flags can have.
    pub(crate) const ALL: u8 = 0b11_1111;

    pub(crate) fn get(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    pub(crate) fn is_hit(self) -> bool {
        self.0 & Flags::ALL != 0
    }

    pub(crate) fn from_bools(bits: [bool; 6]) -> Flags {
        Flags(
            bits.iter()
                .enumerate()
                .fold(0, |acc, (i, &on)| acc | (u8::from(on) << i)),
        )
    }
}

/// Why a row is `invalid`: a stable key for the summary's `invalid_by_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reason {
    Empty,
    ScientificNotation,
    FloatTail,
    NotDigits,
    TooFewDigits,
    TooManyDigits,
    LuhnFailed,
    /// The API said the number is wrong (271902).
    VendorRejected,
    /// The row is too short to have the card column.
    MissingColumn,
    /// The card cell is not text.
    NotText,
    /// The card cell is a workbook number of 16 digits or more: Excel has lost digits of it.
    ExcelNumber,
    /// The row has more fields than the header.
    TooManyFields,
}

impl Reason {
    /// Every reason, so that one read back from the journal becomes the same value again.
    pub(crate) const ALL: [Reason; 12] = [
        Reason::Empty,
        Reason::ScientificNotation,
        Reason::FloatTail,
        Reason::NotDigits,
        Reason::TooFewDigits,
        Reason::TooManyDigits,
        Reason::LuhnFailed,
        Reason::VendorRejected,
        Reason::MissingColumn,
        Reason::NotText,
        Reason::ExcelNumber,
        Reason::TooManyFields,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Empty => "empty",
            Reason::ScientificNotation => "scientific_notation",
            Reason::FloatTail => "float_tail",
            Reason::NotDigits => "not_digits",
            Reason::TooFewDigits => "too_few_digits",
            Reason::TooManyDigits => "too_many_digits",
            Reason::LuhnFailed => "luhn_failed",
            Reason::VendorRejected => "vendor_rejected",
            Reason::MissingColumn => "missing_column",
            Reason::NotText => "not_text",
            Reason::ExcelNumber => "excel_number",
            Reason::TooManyFields => "too_many_fields",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// A result worth keeping from one run to the next: the six flags of an `ok` answer, or the
/// vendor's rejection of the number (271902). Errors are not results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredResult {
    Ok(Flags),
    Rejected,
}

impl StoredResult {
    /// The stored code of a rejection; `ok` results are their flag bits, 0 to 63.
    const REJECTED: i64 = 64;

    /// The result an outcome holds, if it is one worth keeping.
    pub(crate) fn of(outcome: &Outcome) -> Option<StoredResult> {
        match (outcome.status, outcome.reason) {
            (Status::Ok, _) => Some(StoredResult::Ok(outcome.flags)),
            (Status::Invalid, Some(Reason::VendorRejected)) => Some(StoredResult::Rejected),
            _ => None,
        }
    }

    pub(crate) fn code(self) -> i64 {
        match self {
            StoredResult::Ok(flags) => i64::from(flags.0 & Flags::ALL),
            StoredResult::Rejected => StoredResult::REJECTED,
        }
    }

    pub(crate) fn from_code(code: i64) -> Option<StoredResult> {
        match code {
            0..=63 => Some(StoredResult::Ok(Flags(code as u8))),
            StoredResult::REJECTED => Some(StoredResult::Rejected),
            _ => None,
        }
    }

    fn is_hit(self) -> bool {
        matches!(self, StoredResult::Ok(flags) if flags.is_hit())
    }

    /// The row this result gives when it is answered without a call.
    pub(crate) fn outcome(self, orderid: String, screened_at: u64) -> Outcome {
        let mut outcome = match self {
            StoredResult::Ok(flags) => Outcome::ok(flags, orderid, 0),
            StoredResult::Rejected => Outcome::rejected_by_vendor(0),
        };
        outcome.screened_at = Some(screened_at);
        outcome
    }
}

/// The `change` column: how a card's result compares with the one the store held for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Never screened before.
    First,
    /// No hit before and none now, or the same flags.
    Same,
    /// No hit before (a rejection counts as none), a hit now.
    NewHit,
    /// A hit before, none now.
    Cleared,
    /// A hit both times, with other flags.
    Changed,
}

impl Change {
    pub(crate) const ALL: [Change; 5] = [
        Change::First,
        Change::Same,
        Change::NewHit,
        Change::Cleared,
        Change::Changed,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Change::First => "first",
            Change::Same => "same",
            Change::NewHit => "new_hit",
            Change::Cleared => "cleared",
            Change::Changed => "changed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Change> {
        Change::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The change an `ok` result makes against the one stored before; `None` for other rows,
    /// whose `change` is empty.
    pub(crate) fn between(previous: Option<StoredResult>, now: &Outcome) -> Option<Change> {
        if now.status != Status::Ok {
            return None;
        }
        let now = StoredResult::Ok(now.flags);
        Some(match previous {
            None => Change::First,
            Some(before) => match (before.is_hit(), now.is_hit()) {
                (false, true) => Change::NewHit,
                (true, false) => Change::Cleared,
                (true, true) if before != now => Change::Changed,
                _ => Change::Same,
            },
        })
    }

    /// Whether the row belongs on the list of changes (`--changes`).
    pub(crate) fn is_news(self) -> bool {
        matches!(self, Change::NewHit | Change::Cleared | Change::Changed)
    }
}

/// The result of one row, as written to the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) status: Status,
    /// Meaningful only when `status` is `Ok`.
    pub(crate) flags: Flags,
    pub(crate) orderid: String,
    /// The vendor's code for a failed row; `None` for success, local and transport failures.
    pub(crate) error_code: Option<i64>,
    pub(crate) error: String,
    pub(crate) attempts: u32,
    /// Why an `invalid` row is invalid; not written to the output.
    pub(crate) reason: Option<Reason>,
    /// When the call that gave the result was answered, in seconds since 1970: set for results
    /// worth keeping (`StoredResult`), `None` for rows no answer settled.
    pub(crate) screened_at: Option<u64>,
    /// How the result compares with the store's previous one (with a store only).
    pub(crate) change: Option<Change>,
    /// Answered from the store without a call (`--max-age`).
    pub(crate) reused: bool,
    /// Answered from a stored result older than `--max-age`, for want of room (`--max-stale`);
    /// `reused` too.
    pub(crate) stale: bool,
    /// Called before its stored result was due, to level the nights (`--refresh level`).
    pub(crate) early: bool,
}

impl Outcome {
    pub(crate) fn ok(flags: Flags, orderid: String, attempts: u32) -> Outcome {
        Outcome {
            status: Status::Ok,
            flags,
            orderid,
            error_code: None,
            error: String::new(),
            attempts,
            reason: None,
            screened_at: None,
            change: None,
            reused: false,
            stale: false,
            early: false,
        }
    }

    /// The API said the card number is wrong (271902).
    pub(crate) fn rejected_by_vendor(attempts: u32) -> Outcome {
        let code = crate::vendor::BAD_CARD;
        let mut outcome = Outcome::invalid(
            Reason::VendorRejected,
            format!("the API says the card number is wrong ({code})"),
        );
        outcome.error_code = Some(code);
        outcome.attempts = attempts;
        outcome
    }

    pub(crate) fn invalid(reason: Reason, error: String) -> Outcome {
        Outcome {
            status: Status::Invalid,
            flags: Flags::default(),
            orderid: String::new(),
            error_code: None,
            error: error_line(error),
            attempts: 0,
            reason: Some(reason),
            screened_at: None,
            change: None,
            reused: false,
            stale: false,
            early: false,
        }
    }

    pub(crate) fn error(error_code: Option<i64>, error: String, attempts: u32) -> Outcome {
        Outcome {
            status: Status::Error,
            flags: Flags::default(),
            orderid: String::new(),
            error_code,
            error: error_line(error),
            attempts,
            reason: None,
            screened_at: None,
            change: None,
            reused: false,
            stale: false,
            early: false,
        }
    }
}

impl Outcome {
    /// The row of a card the deadline came before: an error, so `--retry-errors` finishes it.
    pub(crate) fn is_not_called(&self) -> bool {
        self.status == Status::Error && self.attempts == 0 && self.error_code.is_none()
    }

    pub(crate) fn not_called() -> Outcome {
        Outcome::error(
            None,
            "the deadline (--deadline) was reached before the card was called; run again with --retry-errors to screen it".into(),
            0,
        )
    }
}

/// Whether `text` may stand in the `error` column: empty, or one line that starts with a
/// letter. A cell starting with `=`, `+`, `-` or `@` is a formula to a spreadsheet.
pub(crate) fn is_error_line(text: &str) -> bool {
    text.is_empty() || (text.starts_with(char::is_alphabetic) && !text.contains(char::is_control))
}

/// Makes `text` fit the `error` column. Every text cardscreen writes there is built to fit
/// already (outside text in it goes through `card::shown`); this keeps it so whatever a text
/// carries, such as an earlier output's cell read back for `--retry-errors`.
fn error_line(text: String) -> String {
    if is_error_line(&text) {
        return text;
    }
    let mut line: String = text
        .chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .collect();
    if !line.starts_with(char::is_alphabetic) {
        line.insert_str(0, "error: ");
    }
    line
}

/// What a call for a card carries back to the collector when a store is in use: the card's
/// key in the store, and the result the store held for it when the run read it (`None`: the
/// card was never screened), against which the answer's `change` is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Previous {
    pub(crate) key: CardKey,
    pub(crate) result: Option<StoredResult>,
    /// Called before its stored result was due, to level the nights.
    pub(crate) early: bool,
}

/// Bytes of a card's keyed hash kept in the store: HMAC-SHA256 cut to 128 bits. Two cards
/// share one only by chance, about n²/2¹²⁹ for n cards: 1.5 × 10⁻²¹ at a billion cards. Cutting
/// it saves 16 bytes a card, and the hash's secrecy rests on the key, not on its length.
pub(crate) const CARD_KEY_LEN: usize = 16;

/// A card as the store knows it: the first 16 bytes of HMAC-SHA256(key, cleaned number).
pub(crate) type CardKey = [u8; CARD_KEY_LEN];

/// How a row gets its result.
#[derive(Debug)]
pub(crate) enum Plan {
    /// The store holds a result younger than `--max-age`: no call.
    Stored(Outcome),
    /// Settled without a call: rejected locally, or kept from an earlier output (`--retry-errors`).
    Settled(Outcome),
    /// Its card is being called for; the result comes from the pool.
    Call,
    /// An earlier row has the same card: copy its result with attempts 0.
    Duplicate,
    /// An interrupted earlier run already paid for this card: take its journaled result.
    Journaled,
}

/// One input row on its way to the output.
#[derive(Debug)]
pub(crate) struct Row {
    /// 0-based data row.
    pub(crate) row: u64,
    pub(crate) record: ByteRecord,
    /// Packed card number; meaningful for every plan but `Settled`.
    pub(crate) card_code: u64,
    /// The card's key in the store, when a store is in use and the cell holds a card.
    pub(crate) store_key: Option<CardKey>,
    pub(crate) plan: Plan,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_back_as_themselves() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::parse("other"), None);
    }

    #[test]
    fn error_texts_start_with_a_letter_and_hold_one_line() {
        let cases = [
            ("=cmd|' /C calc'!A0", "error: =cmd|' /C calc'!A0"),
            ("-2+3", "error: -2+3"),
            ("\t@SUM(1)", "error:  @SUM(1)"),
            ("bad\r\n=1+1", "bad  =1+1"),
            (
                "card number has 12 digits; expected 13-19",
                "card number has 12 digits; expected 13-19",
            ),
            ("数据源超时", "数据源超时"),
        ];
        for (text, expected) in cases {
            let error = Outcome::error(None, text.into(), 1).error;
            assert_eq!(error, expected);
            assert!(is_error_line(&error));
            assert_eq!(
                Outcome::invalid(Reason::NotDigits, text.into()).error,
                expected
            );
        }
    }

    #[test]
    fn changes_follow_the_hits() {
        let ok = |bits: u8| Outcome::ok(Flags(bits), "JH1".into(), 1);
        let was = |bits: u8| Some(StoredResult::Ok(Flags(bits)));
        let cases = [
            (None, ok(0), Some(Change::First)),
            (was(0), ok(0), Some(Change::Same)),
            (was(0b10), ok(0b10), Some(Change::Same)),
            (was(0), ok(0b100), Some(Change::NewHit)),
            (Some(StoredResult::Rejected), ok(0b1), Some(Change::NewHit)),
            (Some(StoredResult::Rejected), ok(0), Some(Change::Same)),
            (was(0b1), ok(0), Some(Change::Cleared)),
            (was(0b1), ok(0b11), Some(Change::Changed)),
            (was(0b1), Outcome::rejected_by_vendor(1), None),
            (was(0), Outcome::error(None, "timeout".into(), 5), None),
        ];
        for (previous, now, expected) in cases {
            assert_eq!(
                Change::between(previous, &now),
                expected,
                "{previous:?} {now:?}"
            );
        }
        for change in Change::ALL {
            assert_eq!(Change::parse(change.as_str()), Some(change));
        }
    }

    #[test]
    fn stored_results_read_back_as_themselves() {
        for result in [
            StoredResult::Ok(Flags(0)),
            StoredResult::Ok(Flags(0b10_0001)),
            StoredResult::Rejected,
        ] {
            assert_eq!(StoredResult::from_code(result.code()), Some(result));
        }
        assert_eq!(StoredResult::from_code(65), None);
        let rejected = Outcome::rejected_by_vendor(2);
        assert_eq!(StoredResult::of(&rejected), Some(StoredResult::Rejected));
        let local = Outcome::invalid(Reason::TooFewDigits, "short".into());
        assert_eq!(StoredResult::of(&local), None);
    }

    #[test]
    fn flags_pack_in_output_order() {
        let flags = Flags::from_bools([false, true, false, false, false, true]);
        assert_eq!(flags, Flags(0b10_0010));
        assert!(flags.get(1) && flags.get(5) && !flags.get(0));
        assert!(flags.is_hit() && !Flags(0).is_hit());
    }
}
