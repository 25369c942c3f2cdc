//! The words the page puts beside codes: what an exit code means, what to do about the rows
//! in error by their code, what an invalid row's reason says.

use crate::vendor;

/// The exit code in words (see README, "Exit codes").
pub(crate) fn exit_words(code: i32) -> &'static str {
    match code {
        0 => "completed: every row ok or invalid",
        1 => "completed with hits (--fail-on-hit)",
        2 => "failed: a usage, config, input or output error",
        3 => "completed, with rows in error or more invalid rows than --max-invalid allows",
        4 => {
            "aborted: the API refused, too many failures in a row, an untrusted certificate, \
            the output closed or the disk filled"
        }
        5 => "stopped: the quota or the --max-calls budget was used up",
        130 => "interrupted (SIGINT) after saving progress",
        143 => "interrupted (SIGTERM) after saving progress",
        _ => "ended with an unknown code",
    }
}

/// What to do next about rows in error with this code (`transport` for no answer).
pub(crate) fn error_advice(code: &str) -> String {
    let Ok(number) = code.parse::<i64>() else {
        return "No answer from the API (network, TLS or timeout): check the connection, then \
            run again with --retry-errors to call only these rows."
            .into();
    };
    let what = vendor::reason(number).unwrap_or("not a code the vendor documents");
    let next = match number {
        vendor::BAD_KEY
        | vendor::KEY_NOT_PERMITTED
        | vendor::KEY_EXPIRED
        | vendor::KEY_BANNED
        | vendor::APP_NOT_VERIFIED
        | vendor::UNKNOWN_SOURCE => "check the API key and its account, then --retry-errors",
        vendor::IP_BANNED => "ask the vendor to allow this machine's address, then --retry-errors",
        vendor::QUOTA_USED_UP | vendor::TEST_QUOTA_USED_UP => {
            "buy more calls or wait for the quota, then --retry-errors"
        }
        vendor::RATE_LIMITED => "lower --rate, then --retry-errors",
        vendor::BAD_CARD => "the vendor rejected the card number: check the rows",
        _ => "the vendor failed: run again with --retry-errors later",
    };
    format!("{what}: {next}.")
}

/// An invalid row's reason in words.
pub(crate) fn reason_words(reason: &str) -> &'static str {
    match reason {
        "empty" => "the card cell is empty",
        "scientific_notation" => "a number Excel wrote as 6.22848E+18: the digits are lost",
        "float_tail" => "a number with a decimal tail (.0)",
        "not_digits" => "the cell holds characters that are not digits",
        "too_few_digits" => "fewer digits than a card has",
        "too_many_digits" => "more digits than a card has",
        "luhn_failed" => "the Luhn check failed (--luhn reject)",
        "vendor_rejected" => "the vendor said the card number is wrong",
        "missing_column" => "the row has no card column",
        "not_text" => "a workbook cell that is not text or a number",
        "excel_number" => "a workbook number too long for Excel to have kept every digit",
        "too_many_fields" => "the row has more fields than cardscreen takes",
        _ => "other",
    }
}

/// What to do about a stopped run.
pub(crate) fn stop_advice(code: i32) -> Option<&'static str> {
    match code {
        4 | 5 | 130 | 143 => Some(
            "Run the same command again with --resume: rows already answered are not paid again.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_and_reason_has_words() {
        assert!(error_advice("transport").contains("--retry-errors"));
        assert!(error_advice("10001").contains("key"));
        assert!(error_advice("10012").contains("quota"));
        assert!(error_advice("99999").contains("not a code"));
        for reason in crate::outcome::Reason::ALL {
            assert_ne!(reason_words(reason.as_str()), "other", "{reason:?}");
        }
        for code in [0, 1, 2, 3, 4, 5, 130, 143] {
            assert!(!exit_words(code).contains("unknown"));
        }
        assert!(stop_advice(5).is_some_and(|s| s.contains("--resume")));
    }
}
