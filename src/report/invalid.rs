//! When most rows are invalid for one reason, that reason in words with what to do about it:
//! the summary's first line and the warning at the end of the run. And the invalid share that
//! `--max-invalid` holds a run to.

use std::collections::BTreeMap;

use crate::util::humane::thousands;

/// What the rows of one invalid reason are, in the plural, and what to do about them: the
/// thing counted (`card cells` or `rows`), what they are, what to do.
fn words(reason: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match reason {
        "empty" => (
            "card cells",
            "are empty",
            "check that --column names the card column",
        ),
        "scientific_notation" => (
            "card cells",
            "are numbers Excel wrote as 6.22848E+18, their last digits lost",
            "format the column as Text and export the file again",
        ),
        "float_tail" => (
            "card cells",
            "are numbers with a decimal tail (.0)",
            "format the column as Text and export the file again",
        ),
        "not_digits" => (
            "card cells",
            "hold characters that are not digits",
            "check that --column names the card column",
        ),
        "too_few_digits" => (
            "card cells",
            "have fewer than 13 digits",
            "check that --column names the card column",
        ),
        "too_many_digits" => (
            "card cells",
            "have more than 19 digits",
            "check that --column names the card column",
        ),
        "luhn_failed" => (
            "card cells",
            "fail the Luhn check",
            "check the numbers, or use --luhn warn to send them anyway",
        ),
        "vendor_rejected" => (
            "card cells",
            "are numbers the vendor says are not cards",
            "check that --column names the card column",
        ),
        "missing_column" => (
            "rows",
            "are too short to have the card column",
            "check --delimiter and --column",
        ),
        "not_text" => (
            "card cells",
            "are workbook cells that are neither text nor a number",
            "format the column as Text and enter the card numbers again",
        ),
        "excel_number" => (
            "card cells",
            "are workbook numbers that lost digits",
            "format the column as Text",
        ),
        "too_many_fields" => (
            "rows",
            "have more fields than the header",
            "check --delimiter and the quoting of the file",
        ),
        _ => return None,
    })
}

/// `25 of 29 card cells are workbook numbers that lost digits: format the column as Text`,
/// when one reason holds more than half of the rows; `None` otherwise.
pub(crate) fn majority_note(rows: u64, by_reason: &BTreeMap<&'static str, u64>) -> Option<String> {
    let (reason, count) = by_reason
        .iter()
        .max_by_key(|(_, count)| **count)
        .map(|(reason, count)| (*reason, *count))?;
    if rows == 0 || count.saturating_mul(2) <= rows {
        return None;
    }
    let (count, rows) = (thousands(count), thousands(rows));
    Some(match words(reason) {
        Some((counted, what, todo)) => format!("{count} of {rows} {counted} {what}: {todo}"),
        None => format!("{count} of {rows} rows are invalid: {reason}"),
    })
}

/// The share of the rows that are invalid, 0 for no rows, to four places.
pub(crate) fn invalid_share(rows: u64, invalid: u64) -> f64 {
    if rows == 0 {
        return 0.0;
    }
    ((invalid as f64 / rows as f64) * 10_000.0).round() / 10_000.0
}

/// Whether `--max-invalid` fails the run: more of its rows invalid than the limit allows.
pub(crate) fn over_limit(rows: u64, invalid: u64, limit: Option<f64>) -> bool {
    limit.is_some_and(|limit| rows > 0 && invalid as f64 > limit * rows as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Reason;

    #[test]
    fn every_reason_has_words() {
        for reason in Reason::ALL {
            assert!(words(reason.as_str()).is_some(), "{reason:?}");
        }
    }

    #[test]
    fn only_a_majority_of_one_reason_is_worth_a_note() {
        let reasons = |pairs: &[(&'static str, u64)]| pairs.iter().copied().collect();
        assert_eq!(
            majority_note(29, &reasons(&[("excel_number", 25), ("empty", 1)])).as_deref(),
            Some("25 of 29 card cells are workbook numbers that lost digits: format the column as Text")
        );
        // Half is not most; two reasons of a third each are no one reason.
        assert_eq!(majority_note(10, &reasons(&[("empty", 5)])), None);
        assert_eq!(
            majority_note(9, &reasons(&[("empty", 3), ("not_digits", 3)])),
            None
        );
        assert_eq!(majority_note(0, &reasons(&[])), None);
        assert_eq!(
            majority_note(3, &reasons(&[("something_new", 2)])).as_deref(),
            Some("2 of 3 rows are invalid: something_new")
        );
        assert_eq!(
            majority_note(2_000, &reasons(&[("too_many_fields", 1_500)])).as_deref(),
            Some("1,500 of 2,000 rows have more fields than the header: check --delimiter and the quoting of the file")
        );
    }

    #[test]
    fn the_limit_is_a_share_of_the_rows() {
        assert_eq!(invalid_share(29, 26), 0.8966);
        assert_eq!(invalid_share(0, 0), 0.0);
        assert!(over_limit(29, 26, Some(0.5)));
        assert!(!over_limit(29, 26, Some(0.9)));
        assert!(!over_limit(10, 5, Some(0.5)));
        assert!(over_limit(10, 1, Some(0.0)));
        assert!(!over_limit(10, 10, Some(1.0)));
        assert!(!over_limit(0, 0, Some(0.0)));
        assert!(!over_limit(10, 10, None));
    }
}
