//! Text from outside (input cells and header names, the vendor's reasons) as messages and the
//! `error` column show it: cut to 200 characters, control characters escaped so that a byte
//! cannot steer a terminal or break a line. Masking card numbers first is `card::shown`'s part.

use std::borrow::Cow;

/// Characters of outside text a message shows at most: enough to recognise it, and a 1 MiB
/// header line of NUL bytes no longer floods a terminal.
pub(crate) const SHOWN_CHARS: usize = 200;

/// `text` cut after `SHOWN_CHARS` characters, with `…` where it was cut; borrowed when short.
pub(crate) fn cut(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
        None => Cow::Borrowed(text),
    }
}

/// `text` with control characters (and the bidi controls that reorder a line) written as
/// escapes (`\0`, `\n`, `\u{1b}`).
pub(crate) fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_control() || is_bidi_control(ch) {
            out.extend(ch.escape_debug());
        } else {
            out.push(ch);
        }
    }
    out
}

fn is_bidi_control(ch: char) -> bool {
    matches!(ch, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escaped("plain 数据"), "plain 数据");
        assert_eq!(
            escaped("a\0b\tc\u{1b}[31md\u{202e}"),
            "a\\0b\\tc\\u{1b}[31md\\u{202e}"
        );
    }

    #[test]
    fn long_text_is_cut_and_short_text_borrowed() {
        let long = cut(&"x".repeat(10_000)).into_owned();
        assert_eq!(long.chars().count(), SHOWN_CHARS + 1);
        assert!(long.ends_with('…'));
        let exact = "数".repeat(SHOWN_CHARS);
        assert!(matches!(cut(&exact), Cow::Borrowed(_)));
    }
}
