//! The record format: one tab-separated line per card (its code, status, flags, attempts,
//! error code, reason, orderid, error text, and with a store when it was called for, its
//! change and whether it came from the store), written by `write` and read back by `parse`,
//! which keeps only what `write` could have written.

use crate::card::Card;
use crate::outcome::{is_error_line, Change, Flags, Outcome, Reason, Status};
use crate::vendor::MAX_ORDERID;

/// Error texts are cut to this many bytes so that a record always fits one small read.
const MAX_ERROR_LEN: usize = 400;
/// Room for the longest record `write` makes, so one read takes it; a longer line is damaged.
pub(super) const MAX_RECORD_LEN: usize = MAX_ERROR_LEN + 256;

/// Writes the record of `outcome` for the card `code` into `line`, newline included.
pub(super) fn write(line: &mut Vec<u8>, code: u64, outcome: &Outcome) {
    line.clear();
    // Numbers through itoa rather than `write!`: this runs once for every paid call.
    let mut number = itoa::Buffer::new();
    line.extend_from_slice(number.format(code).as_bytes());
    line.push(b'\t');
    line.extend_from_slice(outcome.status.as_str().as_bytes());
    line.push(b'\t');
    line.extend_from_slice(number.format(outcome.flags.0).as_bytes());
    line.push(b'\t');
    line.extend_from_slice(number.format(outcome.attempts).as_bytes());
    line.push(b'\t');
    if let Some(error_code) = outcome.error_code {
        line.extend_from_slice(number.format(error_code).as_bytes());
    }
    line.push(b'\t');
    if let Some(reason) = outcome.reason {
        line.extend_from_slice(reason.as_str().as_bytes());
    }
    line.push(b'\t');
    // An orderid longer than the vendor's is cut one past the limit, so that the reader refuses
    // the record rather than take a cut orderid for the one the vendor sent.
    push_clean(line, &outcome.orderid, MAX_ORDERID + 1);
    line.push(b'\t');
    push_clean(line, &outcome.error, MAX_ERROR_LEN);
    line.push(b'\t');
    if let Some(screened_at) = outcome.screened_at {
        line.extend_from_slice(number.format(screened_at).as_bytes());
    }
    line.push(b'\t');
    if let Some(change) = outcome.change {
        line.extend_from_slice(change.as_str().as_bytes());
    }
    line.push(b'\t');
    line.push(if outcome.reused { b'1' } else { b'0' });
    line.push(b'\n');
}

fn push_clean(line: &mut Vec<u8>, text: &str, limit: usize) {
    // Orderids and most error texts are short and clean: copy them whole. Control characters
    // are ASCII bytes below 0x20, DEL, or C1 codes (which UTF-8 writes after a 0xC2 byte).
    if text.len() <= limit && text.bytes().all(|b| b >= 0x20 && b != 0x7f && b != 0xc2) {
        line.extend_from_slice(text.as_bytes());
        return;
    }
    let mut taken = 0;
    for ch in text.chars() {
        if taken + ch.len_utf8() > limit {
            break;
        }
        let ch = if ch.is_control() { ' ' } else { ch };
        let mut utf8 = [0u8; 4];
        line.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
        taken += ch.len_utf8();
    }
}

/// A record read back: its card and result, if every field is one `append` could have
/// written. Every kept result counts, `error` ones too: a resumed run never calls again for a
/// row whose result was received (`--retry-errors` is the way to ask again).
pub(super) fn parse(line: &[u8]) -> Option<(u64, Outcome)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut fields = text.split('\t');
    let mut next = || fields.next();
    let (code, status, flags, attempts) = (next()?, next()?, next()?, next()?);
    let (error_code, reason, orderid, error) = (next()?, next()?, next()?, next()?);
    // With a store, three more: when the result was called for, its change, and whether it
    // came from the store. A journal written without them still reads.
    let store_fields = match (next(), next(), next()) {
        (None, None, None) => None,
        (Some(at), Some(change), Some(reused)) => Some((at, change, reused)),
        _ => return None,
    };
    if next().is_some() {
        return None;
    }
    let code: u64 = code.parse().ok()?;
    Card::from_code(code)?;
    let flags: u8 = flags.parse().ok()?;
    let mut outcome = Outcome {
        status: Status::parse(status)?,
        flags: Flags(flags),
        orderid: orderid.to_string(),
        error_code: match error_code {
            "" => None,
            number => Some(number.parse().ok()?),
        },
        error: error.to_string(),
        attempts: attempts.parse().ok()?,
        reason: match reason {
            "" => None,
            key => Some(Reason::parse(key)?),
        },
        screened_at: None,
        change: None,
        reused: false,
        stale: false,
        early: false,
    };
    if let Some((at, change, reused)) = store_fields {
        outcome.screened_at = match at {
            "" => None,
            seconds => Some(seconds.parse().ok()?),
        };
        outcome.change = match change {
            "" => None,
            word => Some(Change::parse(word)?),
        };
        outcome.reused = match reused {
            "0" => false,
            "1" => true,
            _ => return None,
        };
    }
    is_consistent(&outcome).then_some((code, outcome))
}

/// Whether a result read back is one the run could have produced: flags only on success and
/// in range, an orderid of letters and digits, an error text fit for the `error` column, and
/// a reason exactly for `invalid` rows.
fn is_consistent(outcome: &Outcome) -> bool {
    let shape = match outcome.status {
        Status::Ok => {
            outcome.flags.0 <= Flags::ALL
                && outcome.error_code.is_none()
                && outcome.error.is_empty()
                && outcome.reason.is_none()
        }
        Status::Invalid => outcome.flags.0 == 0 && outcome.reason.is_some(),
        Status::Error => outcome.flags.0 == 0 && outcome.reason.is_none(),
    };
    shape
        && outcome.orderid.len() <= MAX_ORDERID
        && outcome.orderid.bytes().all(|b| b.is_ascii_alphanumeric())
        && is_error_line(&outcome.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_lose_control_characters_and_stop_at_the_limit() {
        let cases = [
            ("JH7190000000000000000001", 100, "JH7190000000000000000001"),
            ("a\tb\nc\u{7f}d\u{85}e", 100, "a b c d e"),
            ("数据源超时 £5", 100, "数据源超时 £5"),
            ("数据源超时", 7, "数据"),
            ("abcdef", 4, "abcd"),
        ];
        for (text, limit, expected) in cases {
            let mut line = Vec::new();
            push_clean(&mut line, text, limit);
            assert_eq!(String::from_utf8(line).unwrap(), expected, "{text:?}");
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let mut failed = Outcome::error(Some(271901), "timeout\tafter 5".into(), 5);
        let mut line = Vec::new();
        write(&mut line, 12, &failed);
        assert_eq!(line.last(), Some(&b'\n'));
        failed.error = failed.error.replace('\t', " ");
        assert_eq!(parse(&line[..line.len() - 1]), Some((12, failed)));
    }

    #[test]
    fn an_orderid_longer_than_the_vendor_s_is_never_read_back() {
        for length in [MAX_ORDERID + 1, 100, 1000] {
            let long = Outcome::ok(Flags(0), "J".repeat(length), 1);
            let mut line = Vec::new();
            write(&mut line, 7, &long);
            assert_eq!(parse(&line[..line.len() - 1]), None, "{length}");
        }
        let longest = Outcome::ok(Flags(0), "J".repeat(MAX_ORDERID), 1);
        let mut line = Vec::new();
        write(&mut line, 7, &longest);
        assert_eq!(parse(&line[..line.len() - 1]), Some((7, longest)));
    }
}
