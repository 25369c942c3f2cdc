//! How an orderid is kept: the largest field of a stored row (24 characters from the simulator,
//! 22 in the vendor's example), so orderids of digits and letters are packed 6 bits a character
//! into a BLOB, 18 bytes instead of 24. Anything else is kept as TEXT, as it came.

use rusqlite::types::{Value, ValueRef};

/// The characters a packed orderid may hold; a character's code is its place here plus one,
/// and code 0 ends an orderid whose last byte has room for one more character.
const ALPHABET: &[u8; 63] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";

/// The orderid as the store keeps it.
pub(crate) fn pack(orderid: &str) -> Value {
    let mut packed = Vec::with_capacity(orderid.len() * 3 / 4 + 1);
    let (mut bits, mut held) = (0u32, 0u32);
    for byte in orderid.bytes() {
        let Some(place) = ALPHABET.iter().position(|&a| a == byte) else {
            return Value::Text(orderid.to_string());
        };
        bits = (bits << 6) | (place as u32 + 1);
        held += 6;
        if held >= 8 {
            held -= 8;
            packed.push((bits >> held) as u8);
        }
    }
    if packed.is_empty() && held == 0 {
        return Value::Text(String::new());
    }
    if held > 0 {
        packed.push((bits << (8 - held)) as u8);
    }
    Value::Blob(packed)
}

/// The orderid back from what the store keeps.
pub(crate) fn unpack(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Text(text) => String::from_utf8_lossy(text).into_owned(),
        ValueRef::Blob(packed) => {
            let mut orderid = String::with_capacity(packed.len() * 4 / 3);
            let (mut bits, mut held) = (0u32, 0u32);
            for &byte in packed {
                bits = (bits << 8) | u32::from(byte);
                held += 8;
                while held >= 6 {
                    held -= 6;
                    let code = ((bits >> held) & 0x3f) as usize;
                    match code.checked_sub(1).and_then(|place| ALPHABET.get(place)) {
                        Some(&ch) => orderid.push(char::from(ch)),
                        None => return orderid,
                    }
                }
            }
            orderid
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(orderid: &str) -> Value {
        let packed = pack(orderid);
        let back = match &packed {
            Value::Text(t) => unpack(ValueRef::Text(t.as_bytes())),
            Value::Blob(b) => unpack(ValueRef::Blob(b)),
            other => panic!("{other:?}"),
        };
        assert_eq!(back, orderid);
        packed
    }

    #[test]
    fn orderids_of_digits_and_letters_pack_to_three_quarters() {
        let simulator = round_trip("JH7191796039033539000002");
        assert!(matches!(simulator, Value::Blob(ref b) if b.len() == 18));
        let vendor = round_trip("JH71920221122093911S6X");
        assert!(matches!(vendor, Value::Blob(ref b) if b.len() == 17));
        for length in 1..=30 {
            round_trip(&"Az9_".repeat(8)[..length]);
        }
    }

    #[test]
    fn other_orderids_are_kept_as_text() {
        assert!(matches!(round_trip(""), Value::Text(ref t) if t.is_empty()));
        assert!(matches!(round_trip("JH-1"), Value::Text(_)));
        assert!(matches!(round_trip("订单1"), Value::Text(_)));
    }
}
