//! Masking card numbers in free text (log lines, error messages, rejected cells), and outside
//! text as messages quote it: masked, cut and escaped.

use std::borrow::Cow;

use crate::util::text::{cut, escaped, SHOWN_CHARS};

use super::chars::{digit_value, is_separator, MIN_DIGITS};

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

/// `text` as a message quotes it: card numbers masked, control characters (and the bidi
/// controls that reorder a line) written as escapes (`\0`, `\n`, `\u{1b}`), cut after
/// `SHOWN_CHARS` characters with `…`.
pub(crate) fn shown(text: &str) -> String {
    escaped(&cut(&mask_text(text)))
}

/// Bytes from outside as `shown` quotes them (invalid UTF-8 becomes U+FFFD).
pub(crate) fn shown_bytes(bytes: &[u8]) -> String {
    // Only the start can be shown: decode no more than that (four bytes a character at most).
    let start = &bytes[..bytes.len().min(SHOWN_CHARS * 4 + 4)];
    let mut text = shown(&String::from_utf8_lossy(start));
    if start.len() < bytes.len() && !text.ends_with('…') {
        text.push('…');
    }
    text
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
    use crate::card::chars::testing::{digit_heavy_text, longest_joined_run};
    use proptest::prelude::*;

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
    fn shown_escapes_control_characters_and_cuts_long_text() {
        assert_eq!(shown("plain 数据"), "plain 数据");
        assert_eq!(
            shown("a\0b\tc\u{1b}[31md\u{202e}"),
            "a\\0b\\tc\\u{1b}[31md\\u{202e}"
        );
        let long = shown(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), SHOWN_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(
            shown("card 6222024332181964 odd"),
            "card 622202******1964 odd"
        );
    }

    fn longest_ascii_run(text: &str) -> usize {
        text.split(|ch: char| !ch.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0)
    }

    proptest! {
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
    }
}
