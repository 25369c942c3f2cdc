//! Text from outside (input cells and header names, the vendor's reasons) as messages and the
//! `error` column show it: cut to 200 characters, control characters escaped so that a byte
//! cannot steer a terminal or break a line, card numbers masked.

use crate::card::mask_text;

/// Characters of outside text a message shows at most: enough to recognise it, and a 1 MiB
/// header line of NUL bytes no longer floods a terminal.
pub(crate) const SHOWN_CHARS: usize = 200;

/// `text` as a message quotes it: card numbers masked, control characters (and the bidi
/// controls that reorder a line) written as escapes (`\0`, `\n`, `\u{1b}`), cut after
/// `SHOWN_CHARS` characters with `…`.
pub(crate) fn shown(text: &str) -> String {
    let masked = mask_text(text);
    let mut out = String::with_capacity(masked.len().min(SHOWN_CHARS * 2));
    for (count, ch) in masked.chars().enumerate() {
        if count == SHOWN_CHARS {
            out.push('…');
            break;
        }
        if ch.is_control() || is_bidi_control(ch) {
            out.extend(ch.escape_debug());
        } else {
            out.push(ch);
        }
    }
    out
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

fn is_bidi_control(ch: char) -> bool {
    matches!(ch, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
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
}
