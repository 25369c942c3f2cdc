//! Card numbers as they arrive in spreadsheet cells: cleaning them, rejecting what cannot be a
//! card before a paid API call is spent on it, packing them into a `u64` for deduplication, and
//! masking them wherever they might be shown to a person.

use std::borrow::Cow;
use std::fmt;

use crate::outcome::Reason;

const MIN_DIGITS: usize = 13;
/// A message quotes at most this many characters of a cell (as `text::shown` does).
const SHOWN_CHARS: usize = 200;
const MAX_DIGITS: usize = 19;

/// `POW10[n] = 10^n` for every digit count a card can have.
const POW10: [u64; MAX_DIGITS + 1] = {
    let mut table = [1u64; MAX_DIGITS + 1];
    let mut n = 1;
    while n <= MAX_DIGITS {
        table[n] = table[n - 1] * 10;
        n += 1;
    }
    table
};

/// `CODE_START[len]` is the first code of a `len`-digit card: every shorter length gets its own
/// block of codes first, so `0000000000000` and `00000000000000` pack to different codes.
const CODE_START: [u64; MAX_DIGITS + 2] = {
    let mut table = [0u64; MAX_DIGITS + 2];
    let mut len = MIN_DIGITS;
    while len <= MAX_DIGITS {
        table[len + 1] = table[len] + POW10[len];
        len += 1;
    }
    table
};

/// One past the largest code, 11_111_110_000_000_000_000, comfortably below `u64::MAX`.
const CODE_END: u64 = CODE_START[MAX_DIGITS + 1];

/// A cleaned card number: 13–19 ASCII digits.
///
/// There is deliberately no `Display`: printing a card must be a visible choice between
/// [`Card::as_str`] and [`Card::masked`]. `Debug` shows the masked form.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Card {
    /// ASCII digits; bytes past `len` are always zero so the derived `Eq` and `Hash` hold.
    digits: [u8; MAX_DIGITS],
    len: u8,
}

impl Card {
    /// Builds a card from ASCII digits; callers have checked the length and the bytes.
    fn from_ascii_digits(ascii: &[u8]) -> Card {
        debug_assert!((MIN_DIGITS..=MAX_DIGITS).contains(&ascii.len()));
        debug_assert!(ascii.iter().all(u8::is_ascii_digit));
        let mut digits = [0u8; MAX_DIGITS];
        digits[..ascii.len()].copy_from_slice(ascii);
        Card {
            digits,
            len: ascii.len() as u8,
        }
    }

    /// The digits, for the API call and for output columns that hold the number.
    pub fn as_str(&self) -> &str {
        // Every constructor stores only ASCII digits, so this cannot fail.
        std::str::from_utf8(self.digit_bytes()).expect("card digits are ASCII")
    }

    // A card always has 13 to 19 digits, so an `is_empty` would only ever say false.
    #[allow(clippy::len_without_is_empty)]
    /// How many digits.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    fn digit_bytes(&self) -> &[u8] {
        &self.digits[..self.len()]
    }

    /// Packs digits and length into one `u64`, so a set of millions of cards stays small and a
    /// leading zero still counts: the value of the digits plus the size of every shorter block.
    pub fn code(&self) -> u64 {
        let value = self
            .digit_bytes()
            .iter()
            .fold(0u64, |value, &digit| value * 10 + u64::from(digit - b'0'));
        CODE_START[self.len()] + value
    }

    /// The card whose [`Card::code`] is `code`, or `None` if no card packs to it.
    pub fn from_code(code: u64) -> Option<Card> {
        if code >= CODE_END {
            return None;
        }
        let len = (MIN_DIGITS..=MAX_DIGITS).find(|&len| code < CODE_START[len + 1])?;
        let mut value = code - CODE_START[len];
        let mut ascii = [b'0'; MAX_DIGITS];
        for slot in ascii[..len].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        Some(Card::from_ascii_digits(&ascii[..len]))
    }

    /// Whether the last digit is the Luhn check digit of the others. Some real UnionPay cards
    /// fail it, so `clean` leaves the decision to the caller.
    pub fn luhn_ok(&self) -> bool {
        let sum: u32 = self
            .digit_bytes()
            .iter()
            .rev()
            .enumerate()
            .map(|(position, &byte)| {
                let digit = u32::from(byte - b'0');
                if position % 2 == 1 {
                    let doubled = digit * 2;
                    if doubled > 9 {
                        doubled - 9
                    } else {
                        doubled
                    }
                } else {
                    digit
                }
            })
            .sum();
        sum.is_multiple_of(10)
    }

    /// First 6 and last 4 digits with a `*` for each digit between, e.g. `622848******1234`.
    pub fn masked(&self) -> String {
        let digits = self.as_str();
        let len = digits.len();
        let mut masked = String::with_capacity(len);
        masked.push_str(&digits[..6]);
        masked.extend(std::iter::repeat_n('*', len - 10));
        masked.push_str(&digits[len - 4..]);
        masked
    }
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug output ends up in logs and panic messages, where a full number must never go.
        f.debug_tuple("Card").field(&self.masked()).finish()
    }
}

/// Why a cell cannot be a card. `Display` gives one line that says what to do, which is all
/// there is to document about a variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)]
pub enum Rejection {
    #[error("card number is empty")]
    Empty,
    /// `shown` is the cell as Excel left it, masked in case it still holds a long digit run,
    /// and cut to 200 characters.
    #[error(
        "Excel turned the number into {shown} and its last digits are lost; \
         re-export the column as text"
    )]
    ScientificNotation { shown: String },
    #[error(
        "card number ends in \".0\" (a spreadsheet stored it as a number); \
         re-export the column as text"
    )]
    FloatTail,
    /// Only the first offending character is kept: the rest of the cell may be a card.
    #[error("card number contains {found:?}; only digits, spaces and dashes are allowed")]
    NotDigits { found: char },
    #[error("card number has {count} {}; expected 13-19", digit_word(.count))]
    TooFewDigits { count: usize },
    #[error("card number has {count} {}; expected 13-19", digit_word(.count))]
    TooManyDigits { count: usize },
    #[error(
        "card number fails the Luhn check; look for a mistyped digit \
         (--luhn warn sends such numbers anyway)"
    )]
    LuhnFailed,
    /// A workbook number cell: Excel keeps 15 significant digits, so no cleaning brings the
    /// lost ones back.
    #[error(
        "the card column is stored as numbers in the workbook, and Excel kept only 15 of this \
         number's {digits} digits; format the column as Text and enter the card numbers again"
    )]
    ExcelNumber { digits: usize },
}

fn digit_word(count: &usize) -> &'static str {
    if *count == 1 {
        "digit"
    } else {
        "digits"
    }
}

impl Rejection {
    /// The key that counts this rejection in the summary.
    pub(crate) fn reason(&self) -> Reason {
        match self {
            Rejection::Empty => Reason::Empty,
            Rejection::ScientificNotation { .. } => Reason::ScientificNotation,
            Rejection::FloatTail => Reason::FloatTail,
            Rejection::NotDigits { .. } => Reason::NotDigits,
            Rejection::TooFewDigits { .. } => Reason::TooFewDigits,
            Rejection::TooManyDigits { .. } => Reason::TooManyDigits,
            Rejection::LuhnFailed => Reason::LuhnFailed,
            Rejection::ExcelNumber { .. } => Reason::ExcelNumber,
        }
    }
}

/// Cleans one cell into a card, or says why it cannot be one. Luhn is not checked here.
///
/// Spaces, dashes and invisible characters anywhere are dropped, full-width digits count as
/// digits, and the wrappers people use to stop Excel from turning the number into a float
/// (`'…`, `="…"`, quotes) are taken off. Rejected cells are classified so that the message
/// tells the user how the number got damaged.
pub fn clean(cell: &str) -> Result<Card, Rejection> {
    // Millions of rows take this path; it neither allocates nor looks at a char twice.
    if (MIN_DIGITS..=MAX_DIGITS).contains(&cell.len()) && cell.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Card::from_ascii_digits(cell.as_bytes()));
    }

    let core = unwrap_cell(cell);
    let mut ascii = [0u8; MAX_DIGITS];
    let mut count = 0usize;
    for ch in core.chars() {
        if let Some(digit) = digit_value(ch) {
            if let Some(slot) = ascii.get_mut(count) {
                *slot = b'0' + digit;
            }
            count = count.saturating_add(1);
        } else if !is_separator(ch) {
            return Err(classify_non_digit(core, ch));
        }
    }
    match count {
        0 => Err(Rejection::Empty),
        _ if count < MIN_DIGITS => Err(Rejection::TooFewDigits { count }),
        _ if count > MAX_DIGITS => Err(Rejection::TooManyDigits { count }),
        _ => Ok(Card::from_ascii_digits(&ascii[..count])),
    }
}

/// Takes off surrounding whitespace and the wrappers people put around numbers to keep Excel
/// from converting them, in any nesting (`"'6228…"`, ` ="6228…" `).
fn unwrap_cell(cell: &str) -> &str {
    let mut text = cell;
    loop {
        let before = text.len();
        text = text.trim_matches(is_separator);
        if let Some(inner) = text
            .strip_prefix("=\"")
            .and_then(|rest| rest.strip_suffix('"'))
        {
            text = inner;
        }
        if let Some(inner) = text
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
        {
            text = inner;
        }
        if let Some(inner) = text
            .strip_prefix('\u{201C}')
            .and_then(|rest| rest.strip_suffix('\u{201D}'))
        {
            text = inner;
        }
        // A leading apostrophe alone is Excel's "keep as text" mark; a closing one may follow.
        if let Some(rest) = text.strip_prefix('\'') {
            text = rest.strip_suffix('\'').unwrap_or(rest);
        }
        if let Some(rest) = text.strip_prefix(['\u{2018}', '\u{2019}']) {
            text = rest.strip_suffix('\u{2019}').unwrap_or(rest);
        }
        // Every step only shortens the text, so this ends.
        if text.len() == before {
            return text;
        }
    }
}

/// ASCII and full-width digits (Chinese input methods produce the latter).
fn digit_value(ch: char) -> Option<u8> {
    match ch {
        '0'..='9' => Some(ch as u8 - b'0'),
        '\u{FF10}'..='\u{FF19}' => Some((u32::from(ch) - 0xFF10) as u8),
        _ => None,
    }
}

/// Characters people type or paste between digit groups, which carry no digit themselves.
fn is_separator(ch: char) -> bool {
    ch.is_whitespace()
        || matches!(
            ch,
            '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FF0D}'
            // Invisible characters that come along when numbers are copied from web pages and chats.
            | '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'
        )
}

/// Names the damage when a cell holds something other than digits and separators, so the
/// user learns to re-export the column instead of fixing cells one by one.
fn classify_non_digit(core: &str, found: char) -> Rejection {
    if is_scientific(core) {
        // Digits, a point, `E` and a sign only: masked and cut as messages quote outside text.
        let masked = mask_text(core);
        let shown = match masked.char_indices().nth(SHOWN_CHARS) {
            Some((at, _)) => format!("{}…", &masked[..at]),
            None => masked.into_owned(),
        };
        Rejection::ScientificNotation { shown }
    } else if is_float_tail(core) {
        Rejection::FloatTail
    } else {
        Rejection::NotDigits { found }
    }
}

/// Matches how spreadsheets print large numbers: `6.22848E+18`, `6,22848E+18`, `6E+18`, `6.2e18`.
fn is_scientific(text: &str) -> bool {
    fn skip_digits(bytes: &[u8]) -> (usize, &[u8]) {
        let count = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        (count, &bytes[count..])
    }
    let (mantissa, rest) = skip_digits(text.as_bytes());
    if mantissa == 0 {
        return false;
    }
    let rest = match rest {
        [b'.' | b',', fraction @ ..] => skip_digits(fraction).1,
        _ => rest,
    };
    let Some(exponent) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) else {
        return false;
    };
    let exponent = match exponent {
        [b'+' | b'-', digits @ ..] => digits,
        _ => exponent,
    };
    !exponent.is_empty() && exponent.iter().all(u8::is_ascii_digit)
}

/// Matches a number a spreadsheet or a float column stored as `…018.0` or `…018.00`.
fn is_float_tail(text: &str) -> bool {
    text.split_once('.').is_some_and(|(whole, fraction)| {
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && !fraction.is_empty()
            && fraction.bytes().all(|b| b == b'0')
    })
}

/// Masks every run of 13 or more digits in free text, keeping the first 6 and last 4 digits,
/// for log lines and error messages that might hold a card number, even one failing Luhn.
///
/// Digits separated only by spaces, dashes or other characters that [`clean`] drops count as
/// one run (`6228 4804 0256 4890 018`), and full-width digits count as digits. The separators
/// stay where they were so the text keeps its shape. Runs of 12 digits or fewer stay as they
/// are, and text without a long run is returned borrowed.
pub fn mask_text(text: &str) -> Cow<'_, str> {
    let mut runs = DigitRuns::new(text).filter(|run| run.digits >= MIN_DIGITS);
    let Some(first) = runs.next() else {
        return Cow::Borrowed(text);
    };
    let mut masked = String::with_capacity(text.len());
    let mut copied_up_to = 0;
    for run in std::iter::once(first).chain(runs) {
        masked.push_str(&text[copied_up_to..run.start]);
        let mut digit_index = 0;
        for ch in text[run.start..run.end].chars() {
            if digit_value(ch).is_some() {
                let keep = digit_index < 6 || digit_index >= run.digits - 4;
                masked.push(if keep { ch } else { '*' });
                digit_index += 1;
            } else {
                masked.push(ch);
            }
        }
        copied_up_to = run.end;
    }
    masked.push_str(&text[copied_up_to..]);
    Cow::Owned(masked)
}

/// Masks a raw cell for the `--mask` output column: the masked card when the cell cleans to
/// one, otherwise the cell with its long digit runs masked.
pub fn mask_cell(cell: &str) -> String {
    match clean(cell) {
        Ok(card) => card.masked(),
        Err(_) => mask_text(cell).into_owned(),
    }
}

/// A stretch of text from its first to its last digit, holding only digits and separators.
struct DigitRun {
    start: usize,
    end: usize,
    digits: usize,
}

/// The maximal digit runs of a text, in order.
struct DigitRuns<'a> {
    chars: std::str::CharIndices<'a>,
}

impl<'a> DigitRuns<'a> {
    fn new(text: &'a str) -> Self {
        DigitRuns {
            chars: text.char_indices(),
        }
    }
}

impl Iterator for DigitRuns<'_> {
    type Item = DigitRun;

    fn next(&mut self) -> Option<DigitRun> {
        let (start, first) = self.chars.find(|&(_, ch)| digit_value(ch).is_some())?;
        let mut run = DigitRun {
            start,
            end: start + first.len_utf8(),
            digits: 1,
        };
        // Separators after the last digit are not part of the run; the next search skips them.
        for (index, ch) in self.chars.by_ref() {
            if digit_value(ch).is_some() {
                run.end = index + ch.len_utf8();
                run.digits += 1;
            } else if !is_separator(ch) {
                break;
            }
        }
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UNIONPAY_19: &str = "6228480402564890018";

    fn card(text: &str) -> Card {
        clean(text).unwrap_or_else(|rejection| panic!("{text:?} rejected: {rejection}"))
    }

    fn cleans_to(cell: &str, digits: &str) {
        assert_eq!(card(cell).as_str(), digits, "cell {cell:?}");
    }

    // ---- clean: accepted forms ----

    #[test]
    fn plain_digits_of_every_allowed_length() {
        for digits in [
            "4222222222222",
            "378282246310005",
            "4111111111111111",
            "62284804025648901",
            "622848040256489001",
            UNIONPAY_19,
        ] {
            let card = card(digits);
            assert_eq!(card.as_str(), digits);
            assert_eq!(card.len(), digits.len());
        }
    }

    #[test]
    fn spaces_and_dashes_between_groups() {
        cleans_to("6228 4804 0256 4890 018", UNIONPAY_19);
        cleans_to("6228-4804-0256-4890-018", UNIONPAY_19);
        cleans_to("4111 1111 1111 1111", "4111111111111111");
        cleans_to("  6228  4804-0256 - 4890 018\t", UNIONPAY_19);
    }

    #[test]
    fn unicode_dashes_between_groups() {
        for dash in [
            '\u{2010}', '\u{2013}', '\u{2014}', '\u{2015}', '\u{2212}', '\u{FF0D}',
        ] {
            cleans_to(
                &format!("6228{dash}4804{dash}0256{dash}4890{dash}018"),
                UNIONPAY_19,
            );
        }
    }

    #[test]
    fn unicode_whitespace_inside_and_around() {
        cleans_to("6228\u{A0}4804\u{A0}0256\u{A0}4890\u{A0}018", UNIONPAY_19);
        cleans_to(
            "6228\u{3000}4804\u{3000}0256\u{3000}4890\u{3000}018",
            UNIONPAY_19,
        );
        cleans_to("\u{3000}6228480402564890018\u{A0}", UNIONPAY_19);
        cleans_to(
            "6228\u{2009}4804\u{2009}0256\u{2009}4890\u{2009}018",
            UNIONPAY_19,
        );
    }

    #[test]
    fn invisible_characters_from_copy_and_paste() {
        cleans_to("\u{FEFF}6228480402564890018", UNIONPAY_19);
        cleans_to(
            "6228\u{200B}4804\u{200B}0256\u{200B}4890\u{200B}018",
            UNIONPAY_19,
        );
    }

    #[test]
    fn full_width_digits() {
        cleans_to("６２２８４８０４０２５６４８９００１８", UNIONPAY_19);
        cleans_to(
            "６２２８　４８０４　０２５６　４８９０　０１８",
            UNIONPAY_19,
        );
        cleans_to("６２２８48040256489００１８", UNIONPAY_19);
    }

    #[test]
    fn excel_text_markers() {
        cleans_to("'6228480402564890018", UNIONPAY_19);
        cleans_to("\u{2019}6228480402564890018", UNIONPAY_19);
        cleans_to("\t6228480402564890018", UNIONPAY_19);
        cleans_to("=\"6228480402564890018\"", UNIONPAY_19);
        cleans_to("  =\"6228480402564890018\"  ", UNIONPAY_19);
        cleans_to("=\"6228 4804 0256 4890 018\"", UNIONPAY_19);
    }

    #[test]
    fn surrounding_quotes() {
        cleans_to("\"6228480402564890018\"", UNIONPAY_19);
        cleans_to("\u{201C}6228480402564890018\u{201D}", UNIONPAY_19);
        cleans_to("'6228480402564890018'", UNIONPAY_19);
        cleans_to("\u{2018}6228480402564890018\u{2019}", UNIONPAY_19);
        cleans_to(" \"'6228480402564890018\" ", UNIONPAY_19);
    }

    #[test]
    fn luhn_is_not_checked_by_clean() {
        let card = card("6228480402564890019");
        assert!(!card.luhn_ok());
    }

    // ---- clean: rejections ----

    #[test]
    fn empty_and_blank_cells() {
        for cell in [
            "",
            " ",
            "\t",
            "\u{A0}\u{3000}",
            "''",
            "\"\"",
            "=\"\"",
            "-",
            " - ",
        ] {
            assert_eq!(clean(cell), Err(Rejection::Empty), "cell {cell:?}");
        }
    }

    #[test]
    fn scientific_notation() {
        for cell in [
            "6.22848E+18",
            "6.22848e+18",
            "6,22848E+18",
            "6E+18",
            "6.22848E18",
            " 6.22848E+18 ",
            "'6.22848E+18",
        ] {
            assert_eq!(
                clean(cell),
                Err(Rejection::ScientificNotation {
                    shown: cell.trim().trim_start_matches('\'').to_string()
                }),
                "cell {cell:?}"
            );
        }
    }

    #[test]
    fn scientific_notation_message_masks_a_long_mantissa() {
        let Err(rejection) = clean("6.228480402564890018E+18") else {
            panic!("accepted");
        };
        let message = rejection.to_string();
        assert!(!message.contains("228480402564890018"), "{message}");
        assert_eq!(mask_text(&message), message.as_str());
    }

    #[test]
    fn float_tails() {
        for cell in [
            "6228480402564890018.0",
            "6228480402564890018.00",
            "4111111111111111.000",
        ] {
            assert_eq!(clean(cell), Err(Rejection::FloatTail), "cell {cell:?}");
        }
        // Only zeros make a float tail; anything else after the point is just wrong.
        assert_eq!(
            clean("6228480402564890018.5"),
            Err(Rejection::NotDigits { found: '.' })
        );
        assert_eq!(
            clean("6228480402564890018."),
            Err(Rejection::NotDigits { found: '.' })
        );
    }

    #[test]
    fn letters_and_symbols_report_the_first_one() {
        assert_eq!(
            clean("62284804025648900A8"),
            Err(Rejection::NotDigits { found: 'A' })
        );
        assert_eq!(
            clean("6228480402564890O18"),
            Err(Rejection::NotDigits { found: 'O' })
        );
        assert_eq!(
            clean("62284804025648900l8"),
            Err(Rejection::NotDigits { found: 'l' })
        );
        assert_eq!(
            clean("6228/4804/0256/4890/018"),
            Err(Rejection::NotDigits { found: '/' })
        );
        assert_eq!(
            clean("6,228,480,402,564,890,018"),
            Err(Rejection::NotDigits { found: ',' })
        );
        assert_eq!(
            clean("卡号6228480402564890018"),
            Err(Rejection::NotDigits { found: '卡' })
        );
        assert_eq!(
            clean("6228480402564890018\""),
            Err(Rejection::NotDigits { found: '"' })
        );
    }

    #[test]
    fn digit_count_out_of_range() {
        assert_eq!(
            clean("622848040256"),
            Err(Rejection::TooFewDigits { count: 12 })
        );
        assert_eq!(
            clean("6228 4804 0256"),
            Err(Rejection::TooFewDigits { count: 12 })
        );
        assert_eq!(clean("7"), Err(Rejection::TooFewDigits { count: 1 }));
        assert_eq!(
            clean("62284804025648900181"),
            Err(Rejection::TooManyDigits { count: 20 })
        );
        assert_eq!(
            clean(&"1".repeat(100_000)),
            Err(Rejection::TooManyDigits { count: 100_000 })
        );
    }

    #[test]
    fn odd_code_points_are_rejected_without_panicking() {
        assert_eq!(
            clean("6\u{301}228480402564890018"),
            Err(Rejection::NotDigits { found: '\u{301}' })
        );
        assert_eq!(
            clean("💳6228480402564890018"),
            Err(Rejection::NotDigits { found: '💳' })
        );
        assert_eq!(
            clean("٦٢٢٨٤٨٠٤٠٢٥٦٤٨٩٠٠١٨"),
            Err(Rejection::NotDigits { found: '٦' })
        );
    }

    #[test]
    fn messages() {
        let message = |rejection: Rejection| rejection.to_string();
        assert_eq!(message(Rejection::Empty), "card number is empty");
        assert_eq!(
            message(Rejection::ScientificNotation {
                shown: "6.22848E+18".into()
            }),
            "Excel turned the number into 6.22848E+18 and its last digits are lost; \
             re-export the column as text"
        );
        assert_eq!(
            message(Rejection::FloatTail),
            "card number ends in \".0\" (a spreadsheet stored it as a number); \
             re-export the column as text"
        );
        assert_eq!(
            message(Rejection::NotDigits { found: 'X' }),
            "card number contains 'X'; only digits, spaces and dashes are allowed"
        );
        assert_eq!(
            message(Rejection::TooFewDigits { count: 12 }),
            "card number has 12 digits; expected 13-19"
        );
        assert_eq!(
            message(Rejection::TooFewDigits { count: 1 }),
            "card number has 1 digit; expected 13-19"
        );
        assert_eq!(
            message(Rejection::TooManyDigits { count: 20 }),
            "card number has 20 digits; expected 13-19"
        );
        assert!(message(Rejection::LuhnFailed).starts_with("card number fails the Luhn check"));
        // Invisible characters are escaped so the user can see what to delete.
        assert_eq!(
            message(Rejection::NotDigits { found: '\u{301}' }),
            "card number contains '\\u{301}'; only digits, spaces and dashes are allowed"
        );
    }

    #[test]
    fn reasons_are_distinct_snake_case_keys() {
        let all = [
            Rejection::Empty,
            Rejection::ScientificNotation {
                shown: String::new(),
            },
            Rejection::FloatTail,
            Rejection::NotDigits { found: 'x' },
            Rejection::TooFewDigits { count: 0 },
            Rejection::TooManyDigits { count: 0 },
            Rejection::LuhnFailed,
        ];
        let reasons: Vec<_> = all.iter().map(|r| r.reason().as_str()).collect();
        assert_eq!(
            reasons,
            [
                "empty",
                "scientific_notation",
                "float_tail",
                "not_digits",
                "too_few_digits",
                "too_many_digits",
                "luhn_failed"
            ]
        );
    }

    // ---- Luhn ----

    #[test]
    fn luhn_accepts_known_valid_numbers() {
        for digits in [
            "4111111111111111",
            "6011111111111117",
            "4222222222222",
            "378282246310005",
            "6212345678901265",
            UNIONPAY_19,
        ] {
            assert!(card(digits).luhn_ok(), "{digits}");
        }
    }

    #[test]
    fn luhn_rejects_any_single_changed_digit() {
        for digits in ["4111111111111111", "6011111111111117", UNIONPAY_19] {
            for position in 0..digits.len() {
                let mut changed = digits.as_bytes().to_vec();
                changed[position] = if changed[position] == b'9' {
                    b'0'
                } else {
                    changed[position] + 1
                };
                let changed = String::from_utf8(changed).unwrap();
                assert!(!card(&changed).luhn_ok(), "{changed}");
            }
        }
    }

    // ---- masking a card ----

    #[test]
    fn masked_keeps_first_six_and_last_four() {
        assert_eq!(card("6228481234561234").masked(), "622848******1234");
        assert_eq!(card(UNIONPAY_19).masked(), "622848*********0018");
        assert_eq!(card("4222222222222").masked(), "422222***2222");
    }

    #[test]
    fn debug_never_shows_the_full_number() {
        let card = card(UNIONPAY_19);
        for shown in [
            format!("{card:?}"),
            format!("{card:#?}"),
            format!("{:?}", Some(card)),
            format!("{:?}", vec![card]),
        ] {
            assert!(!shown.contains(UNIONPAY_19), "{shown}");
            assert!(shown.contains("622848*********0018"), "{shown}");
        }
    }

    // ---- packing ----

    #[test]
    fn code_round_trips_for_every_length() {
        for len in MIN_DIGITS..=MAX_DIGITS {
            for digits in [
                "0".repeat(len),
                "9".repeat(len),
                UNIONPAY_19[..len].to_string(),
            ] {
                let card = card(&digits);
                let code = card.code();
                assert_eq!(Card::from_code(code), Some(card), "{digits}");
                assert_eq!(Card::from_code(code).map(|c| c.len()), Some(len));
            }
        }
    }

    #[test]
    fn leading_zeros_make_different_codes() {
        let thirteen = card("0000000000000");
        let fourteen = card("00000000000000");
        assert_ne!(thirteen.code(), fourteen.code());
        assert_eq!(thirteen.code(), 0);
        assert_eq!(fourteen.code(), 10_000_000_000_000);
        assert_eq!(card("9999999999999").code() + 1, fourteen.code());
        assert_eq!(card("0622848040256489001").as_str(), "0622848040256489001");
    }

    #[test]
    fn code_boundaries() {
        let largest = card(&"9".repeat(19));
        assert_eq!(largest.code(), 11_111_109_999_999_999_999);
        assert_eq!(largest.code() + 1, CODE_END);
        assert_eq!(Card::from_code(CODE_END - 1), Some(largest));
        assert_eq!(Card::from_code(CODE_END), None);
        assert_eq!(Card::from_code(u64::MAX), None);
        assert_eq!(Card::from_code(0).map(|c| c.len()), Some(13));
    }

    // ---- masking text ----

    #[test]
    fn mask_text_masks_long_runs_and_keeps_short_ones() {
        assert_eq!(
            mask_text("card 6228480402564890018 not found"),
            "card 622848*********0018 not found"
        );
        assert_eq!(mask_text("x6228480402564890018y"), "x622848*********0018y");
        assert_eq!(mask_text("4222222222222"), "422222***2222");
        assert_eq!(
            mask_text("62284804025648900181234"),
            "622848*************1234"
        );
        assert_eq!(
            mask_text("a 6228480402564890018, b 4111111111111111"),
            "a 622848*********0018, b 411111******1111"
        );
        for kept in ["622848040256", "row 12 of 1000000", "2025-11-30 12:00", ""] {
            assert!(matches!(mask_text(kept), Cow::Borrowed(_)), "{kept}");
        }
    }

    #[test]
    fn mask_text_joins_groups_separated_by_spaces_and_dashes() {
        assert_eq!(
            mask_text("card 6228 4804 0256 4890 018."),
            "card 6228 48** **** ***0 018."
        );
        assert_eq!(
            mask_text("6228-4804-0256-4890-018"),
            "6228-48**-****-***0-018"
        );
        assert_eq!(
            mask_text("6228  4804\u{3000}0256 4890 018"),
            "6228  48**\u{3000}**** ***0 018"
        );
        // Separators after the run stay outside it, and a number after a letter is a new run.
        assert_eq!(
            mask_text("6228480402564890018 - x 1234"),
            "622848*********0018 - x 1234"
        );
    }

    #[test]
    fn mask_text_counts_full_width_digits() {
        assert_eq!(
            mask_text("６２２８４８０４０２５６４８９００１８"),
            "６２２８４８*********００１８"
        );
    }

    #[test]
    fn mask_cell_masks_cards_and_rejected_cells() {
        assert_eq!(mask_cell("6228 4804 0256 4890 018"), "622848*********0018");
        assert_eq!(mask_cell("'6228480402564890018"), "622848*********0018");
        assert_eq!(mask_cell("62284804025648900181"), "622848**********0181");
        assert_eq!(mask_cell("6228480402564890018.0"), "622848*********0018.0");
        // A typo does not unmask the digits that are still a card-length run.
        assert_eq!(mask_cell("62284804025648900A8"), "622848*******8900A8");
        assert_eq!(mask_cell("6228 4804 A"), "6228 4804 A");
        assert_eq!(mask_cell("6.22848E+18"), "6.22848E+18");
        assert_eq!(mask_cell(""), "");
    }

    // ---- properties ----

    /// A card number the way people and spreadsheets write it, with the digits it holds.
    fn written_card() -> impl Strategy<Value = (String, String)> {
        let digit = (0u8..10, any::<bool>());
        let separator = prop::sample::select(vec![
            "", "", "", " ", "-", "\u{A0}", "\u{3000}", "\u{2013}", "\u{FF0D}", "\u{200B}", "  ",
        ]);
        let wrapper = prop::sample::select(vec![
            ("", ""),
            ("'", ""),
            ("'", "'"),
            ("\u{2019}", ""),
            ("\t", ""),
            ("=\"", "\""),
            ("\"", "\""),
            ("\u{201C}", "\u{201D}"),
            (" ", "\u{A0}"),
        ]);
        (
            prop::collection::vec((digit, separator), MIN_DIGITS..=MAX_DIGITS),
            wrapper,
        )
            .prop_map(|(parts, (open, close))| {
                let mut written = String::from(open);
                let mut digits = String::new();
                for ((value, full_width), separator) in parts {
                    let ascii = char::from(b'0' + value);
                    digits.push(ascii);
                    written.push(if full_width {
                        char::from_u32(0xFF10 + u32::from(value)).unwrap()
                    } else {
                        ascii
                    });
                    written.push_str(separator);
                }
                written.push_str(close);
                (written, digits)
            })
    }

    /// Text rich in digits and separators, so long runs and near misses both occur.
    fn digit_heavy_text() -> impl Strategy<Value = String> {
        "[0-9０-９ \\-\u{A0}\u{3000}\u{200B}.,a*x卡]{0,80}"
    }

    /// The longest run of digits once separators are ignored: an oracle apart from `DigitRuns`.
    fn longest_joined_run(text: &str) -> usize {
        let mut longest = 0;
        let mut current = 0;
        for ch in text.chars().filter(|&ch| !is_separator(ch)) {
            if digit_value(ch).is_some() {
                current += 1;
                longest = longest.max(current);
            } else {
                current = 0;
            }
        }
        longest
    }

    fn longest_ascii_run(text: &str) -> usize {
        text.split(|ch: char| !ch.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0)
    }

    proptest! {
        #[test]
        fn clean_never_panics(cell in any::<String>()) {
            let _ = clean(&cell);
        }

        #[test]
        fn clean_never_panics_on_digit_heavy_text(cell in digit_heavy_text()) {
            let _ = clean(&cell);
        }

        #[test]
        fn clean_is_idempotent(cell in prop_oneof![any::<String>(), digit_heavy_text()]) {
            if let Ok(card) = clean(&cell) {
                prop_assert_eq!(clean(card.as_str()), Ok(card));
            }
        }

        #[test]
        fn clean_reads_written_cards((written, digits) in written_card()) {
            let cleaned = clean(&written);
            prop_assert_eq!(cleaned.as_ref().map(Card::as_str), Ok(digits.as_str()));
            if let Ok(card) = cleaned {
                prop_assert_eq!(clean(card.as_str()), Ok(card));
            }
        }

        #[test]
        fn rejection_messages_never_hold_a_card(cell in prop_oneof![any::<String>(), digit_heavy_text()]) {
            if let Err(rejection) = clean(&cell) {
                let message = rejection.to_string();
                prop_assert!(longest_joined_run(&message) < MIN_DIGITS, "{}", message);
                prop_assert!(!message.contains('\n'));
            }
        }

        #[test]
        fn code_round_trips(digits in "[0-9]{13,19}") {
            let card = clean(&digits).unwrap();
            prop_assert!(card.code() < CODE_END);
            let back = Card::from_code(card.code());
            prop_assert_eq!(back, Some(card));
            prop_assert_eq!(back.map(|c| c.as_str().to_owned()), Some(digits));
        }

        #[test]
        fn from_code_round_trips(code in 0..CODE_END) {
            let card = Card::from_code(code);
            prop_assert_eq!(card.map(|c| c.code()), Some(code));
        }

        #[test]
        fn from_code_rejects_codes_past_the_end(code in CODE_END..=u64::MAX) {
            prop_assert_eq!(Card::from_code(code), None);
        }

        #[test]
        fn mask_text_leaves_no_long_digit_run(text in prop_oneof![any::<String>(), digit_heavy_text()]) {
            let masked = mask_text(&text);
            prop_assert!(longest_ascii_run(&masked) < MIN_DIGITS, "{}", masked);
            prop_assert!(longest_joined_run(&masked) < MIN_DIGITS, "{}", masked);
            // Only digits turn into stars; everything else keeps its place.
            prop_assert_eq!(masked.chars().count(), text.chars().count());
            for (before, after) in text.chars().zip(masked.chars()) {
                prop_assert!(before == after || (after == '*' && digit_value(before).is_some()));
            }
        }

        #[test]
        fn mask_text_is_identity_without_long_runs(text in prop_oneof![any::<String>(), digit_heavy_text()]) {
            let masked = mask_text(&text);
            if longest_joined_run(&text) < MIN_DIGITS {
                prop_assert!(matches!(masked, Cow::Borrowed(_)));
                prop_assert_eq!(masked, text.as_str());
            } else {
                prop_assert_ne!(masked, text.as_str());
            }
        }

        #[test]
        fn mask_cell_never_shows_a_card(cell in prop_oneof![any::<String>(), digit_heavy_text(), written_card().prop_map(|(w, _)| w)]) {
            let masked = mask_cell(&cell);
            prop_assert!(longest_joined_run(&masked) < MIN_DIGITS, "{}", masked);
        }
    }
}
