//! The characters a card number is written with, which cleaning and masking share: digits
//! (ASCII and full-width) and the separators people put between digit groups.

/// The fewest digits a card has.
pub(super) const MIN_DIGITS: usize = 13;
/// The most digits a card has.
pub(super) const MAX_DIGITS: usize = 19;

/// ASCII and full-width digits (Chinese input methods produce the latter).
pub(super) fn digit_value(ch: char) -> Option<u8> {
    match ch {
        '0'..='9' => Some(ch as u8 - b'0'),
        '\u{FF10}'..='\u{FF19}' => Some((u32::from(ch) - 0xFF10) as u8),
        _ => None,
    }
}

/// Characters people type or paste between digit groups, which carry no digit themselves.
pub(super) fn is_separator(ch: char) -> bool {
    ch.is_whitespace()
        || matches!(
            ch,
            '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FF0D}'
            // Invisible characters that come along when numbers are copied from web pages and chats.
            | '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'
        )
}

/// What the tests of cleaning and masking both write cards with and judge them by.
#[cfg(test)]
pub(super) mod testing {
    use proptest::prelude::*;

    use super::{digit_value, is_separator, MAX_DIGITS, MIN_DIGITS};

    /// A card number the way people and spreadsheets write it, with the digits it holds.
    pub(in crate::card) fn written_card() -> impl Strategy<Value = (String, String)> {
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
    pub(in crate::card) fn digit_heavy_text() -> impl Strategy<Value = String> {
        "[0-9０-９ \\-\u{A0}\u{3000}\u{200B}.,a*x卡]{0,80}"
    }

    /// The longest run of digits once separators are ignored: an oracle apart from `DigitRuns`.
    pub(in crate::card) fn longest_joined_run(text: &str) -> usize {
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
}
