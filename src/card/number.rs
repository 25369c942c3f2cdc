//! The packed card number: 13–19 ASCII digits held inline, packed into one `u64` for the card
//! index, checked by Luhn, and masked whenever a person may see it.

use std::fmt;

use super::chars::{MAX_DIGITS, MIN_DIGITS};

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
    pub(super) fn from_ascii_digits(ascii: &[u8]) -> Card {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UNIONPAY_19: &str = "6228480402564890018";

    /// A card from plain ASCII digits, as cleaning hands it out.
    fn card(digits: &str) -> Card {
        assert!(
            (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()),
            "{digits}"
        );
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{digits}");
        Card::from_ascii_digits(digits.as_bytes())
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

    proptest! {
        #[test]
        fn code_round_trips(digits in "[0-9]{13,19}") {
            let card = card(&digits);
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
    }
}
