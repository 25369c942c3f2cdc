//! A cell's value as the text a person reads in it: numbers without `.0`, dates in ISO 8601,
//! and, for a number of 16 digits or more, what it may have lost on the way into the file.

use std::fmt::Write as _;

use calamine::{DataType, ExcelDateTime};

/// Excel keeps 15 significant digits of a number: every integer below 10^15 is exact, and
/// one of 16 digits or more has lost the digits past the 15th.
const EXACT_BELOW: f64 = 1e15;
/// Every integer up to 2^53 is exact in a double: a writer that keeps 17 significant digits
/// stores such a number whole.
const EXACT_UP_TO: f64 = 9_007_199_254_740_992.0;

/// A number of 16 digits or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LongNumber {
    pub(super) digits: u16,
    /// A whole number up to 2^53 with a digit past the 15th that is not 0: a writer keeping
    /// 17 significant digits holds it exactly. One whose digits past the 15th are all 0 may
    /// have been rounded to 15 on the way in (as LibreOffice 7.4 writes an .xlsx number), and
    /// is never taken as exact.
    pub(super) exact: bool,
}

/// Writes a cell's text into `out`: text as it is, integers without `.0`, dates and times in
/// ISO 8601, booleans as `TRUE`/`FALSE`, errors as Excel shows them (`#N/A`). A formula cell
/// arrives as its cached value. A number of 16 digits or more is written with the digits the
/// file holds (the shortest that read back as the same number, never rounded again), and
/// returned, since Excel keeps only 15 of them.
pub(super) fn render(value: &impl DataType, out: &mut String) -> Option<LongNumber> {
    if let Some(text) = value.get_string() {
        out.push_str(text);
    } else if let Some(number) = value.get_float() {
        return render_number(number, out);
    } else if let Some(number) = value.get_int() {
        let _ = write!(out, "{number}");
        if (number.unsigned_abs() as f64) < EXACT_BELOW {
            return None;
        }
        let shown = number.unsigned_abs().to_string();
        return Some(LongNumber {
            digits: u16::try_from(shown.len()).unwrap_or(u16::MAX),
            exact: number.unsigned_abs() as f64 <= EXACT_UP_TO && past_fifteenth(&shown),
        });
    } else if let Some(on) = value.get_bool() {
        out.push_str(if on { "TRUE" } else { "FALSE" });
    } else if let Some(moment) = value.get_datetime() {
        render_datetime(moment, out);
    } else if let Some(iso) = value.get_datetime_iso().or(value.get_duration_iso()) {
        out.push_str(iso);
    } else if let Some(error) = value.get_error() {
        let _ = write!(out, "{error}");
    }
    None
}

fn render_number(number: f64, out: &mut String) -> Option<LongNumber> {
    if !number.is_finite() {
        let _ = write!(out, "{number}");
        return None;
    }
    if number.abs() < EXACT_BELOW {
        if number.fract() == 0.0 {
            // Exact: below 10^15 every integer fits an i64 and an f64 alike.
            let _ = write!(out, "{}", number as i64);
        } else {
            let _ = write!(out, "{number}");
        }
        return None;
    }
    // Rust writes a double with the fewest digits that read back as it: the file's digits.
    let whole = number.fract() == 0.0;
    let shown = format!("{}", number.abs());
    let digits = shown.split('.').next().map_or(0, str::len);
    if number < 0.0 {
        out.push('-');
    }
    if digits <= 21 {
        out.push_str(&shown);
    } else {
        let rounded = format!("{:.14e}", number.abs());
        let (mantissa, exponent) = rounded.split_once('e').unwrap_or((&rounded, "0"));
        let _ = write!(out, "{}E+{exponent}", mantissa.trim_end_matches('0'));
    }
    Some(LongNumber {
        digits: u16::try_from(digits).unwrap_or(u16::MAX),
        exact: whole && number.abs() <= EXACT_UP_TO && past_fifteenth(&shown),
    })
}

/// Whether a digit past the 15th of the whole number `shown` is not 0.
fn past_fifteenth(shown: &str) -> bool {
    shown.bytes().skip(15).any(|digit| digit != b'0')
}

/// `2026-11-30`, `2026-11-30T08:15:00`, `08:15:00` (a time of day alone), or `PT36H30M0S`
/// for a duration.
fn render_datetime(moment: ExcelDateTime, out: &mut String) {
    if moment.is_duration() {
        let millis = (moment.as_f64() * 86_400_000.0).round() as i64;
        let sign = if millis < 0 { "-" } else { "" };
        let millis = millis.unsigned_abs();
        let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
        let (minutes, rest) = (rest / 60_000, rest % 60_000);
        let (seconds, millis) = (rest / 1000, rest % 1000);
        let _ = write!(out, "{sign}PT{hours}H{minutes}M{seconds}");
        if millis > 0 {
            let _ = write!(out, ".{millis:03}");
        }
        out.push('S');
        return;
    }
    let (year, month, day, hour, minute, second, millis) = moment.to_ymd_hms_milli();
    let value = moment.as_f64();
    let midnight = (hour, minute, second, millis) == (0, 0, 0, 0);
    if !(0.0..1.0).contains(&value) {
        let _ = write!(out, "{year:04}-{month:02}-{day:02}");
        if midnight {
            return;
        }
        out.push('T');
    }
    let _ = write!(out, "{hour:02}:{minute:02}:{second:02}");
    if millis > 0 {
        let _ = write!(out, ".{millis:03}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{CellErrorType, Data, ExcelDateTimeType};

    fn text(value: Data) -> (String, Option<LongNumber>) {
        let mut out = String::new();
        let long = render(&value, &mut out);
        (out, long)
    }

    #[test]
    fn cells_read_as_a_person_reads_them() {
        let date = |value, kind| Data::DateTime(ExcelDateTime::new(value, kind, false));
        let cases = [
            (Data::String(" 6222 0243 ".into()), " 6222 0243 "),
            (Data::Float(42.0), "42"),
            (Data::Float(-3.0), "-3"),
            (Data::Float(0.1), "0.1"),
            (Data::Float(622202433218196.0), "622202433218196"),
            (Data::Int(7), "7"),
            (Data::Bool(true), "TRUE"),
            (Data::Bool(false), "FALSE"),
            (Data::Error(CellErrorType::NA), "#N/A"),
            (Data::Empty, ""),
            (date(46356.0, ExcelDateTimeType::DateTime), "2026-11-30"),
            (
                date(46356.34375, ExcelDateTimeType::DateTime),
                "2026-11-30T08:15:00",
            ),
            (date(0.5, ExcelDateTimeType::DateTime), "12:00:00"),
            (date(1.5, ExcelDateTimeType::TimeDelta), "PT36H0M0S"),
            (Data::DateTimeIso("2026-11-30".into()), "2026-11-30"),
        ];
        for (value, expected) in cases {
            assert_eq!(
                text(value.clone()),
                (expected.to_string(), None),
                "{value:?}"
            );
        }
    }

    #[test]
    fn numbers_of_sixteen_digits_or_more_keep_the_digits_the_file_holds() {
        let long = |digits, exact| Some(LongNumber { digits, exact });
        assert_eq!(text(Data::Float(999_999_999_999_999.0)).1, None);
        assert_eq!(
            text(Data::Float(6222020166131869.0)),
            ("6222020166131869".into(), long(16, true))
        );
        // Its 16th digit may be one rounded away: never taken as exact.
        assert_eq!(
            text(Data::Float(6222024332181960.0)),
            ("6222024332181960".into(), long(16, false))
        );
        // Past 2^53 a double cannot hold every integer.
        assert_eq!(
            text(Data::Float(9_007_199_254_740_994.0)),
            ("9007199254740994".into(), long(16, false))
        );
        assert_eq!(
            text(Data::Float(6.228480402561234e18)),
            ("6228480402561234000".into(), long(19, false))
        );
        assert_eq!(
            text(Data::Float(-1e16)),
            ("-10000000000000000".into(), long(17, false))
        );
        assert_eq!(
            text(Data::Float(1234567890123456.5)),
            ("1234567890123456.5".into(), long(16, false))
        );
        assert_eq!(
            text(Data::Float(1.5e22)),
            ("1.5E+22".into(), long(23, false))
        );
        assert_eq!(
            text(Data::Int(6_222_020_166_131_869)),
            ("6222020166131869".into(), long(16, true))
        );
    }
}
