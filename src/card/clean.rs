//! Cleaning a spreadsheet cell into a card: the wrappers and separators people and Excel put
//! around the digits taken off, and what cannot be a card rejected with a `Rejection` that says
//! how the number got damaged, before a paid call is spent on it.

use crate::outcome::Reason;
use crate::util::text::cut;

use super::chars::{digit_value, is_separator, MAX_DIGITS, MIN_DIGITS};
use super::mask::mask_text;
use super::number::Card;

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

/// Names the damage when a cell holds something other than digits and separators, so the
/// user learns to re-export the column instead of fixing cells one by one.
fn classify_non_digit(core: &str, found: char) -> Rejection {
    if is_scientific(core) {
        // Digits, a point, `E` and a sign only: masked and cut as messages quote outside text.
        let shown = cut(&mask_text(core)).into_owned();
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

/// Masks a raw cell for the `--mask` output column: the masked card when the cell cleans to
/// one, otherwise the cell with its long digit runs masked.
pub fn mask_cell(cell: &str) -> String {
    match clean(cell) {
        Ok(card) => card.masked(),
        Err(_) => mask_text(cell).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::chars::testing::{digit_heavy_text, longest_joined_run, written_card};
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
        fn mask_cell_never_shows_a_card(cell in prop_oneof![any::<String>(), digit_heavy_text(), written_card().prop_map(|(w, _)| w)]) {
            let masked = mask_cell(&cell);
            prop_assert!(longest_joined_run(&masked) < MIN_DIGITS, "{}", masked);
        }
    }
}
