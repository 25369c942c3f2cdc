//! Numbers and times as a person reads them: `1,204`, `2025-03-01T02:15:41Z`.

use std::time::{Duration, UNIX_EPOCH};

/// A count with a comma every three digits.
pub(crate) fn thousands(count: u64) -> String {
    let digits = count.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// A span as it is written on the command line: whole days as `90d` (humantime would say
/// `2months 29days 2h 52m 48s`, its month being 30.44 days), anything else as humantime says it.
pub(crate) fn span(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs > 0 && secs.is_multiple_of(86_400) && duration.subsec_nanos() == 0 {
        format!("{}d", secs / 86_400)
    } else {
        humantime::format_duration(duration).to_string()
    }
}

/// Seconds since 1970 as an RFC 3339 time in UTC.
pub(crate) fn rfc3339(unix_seconds: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix_seconds)).to_string()
}

/// An RFC 3339 time back to seconds since 1970.
pub(crate) fn parse_rfc3339(text: &str) -> Option<u64> {
    let time = humantime::parse_rfc3339(text).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_span_of_whole_days_reads_as_given() {
        use std::time::Duration;
        assert_eq!(super::span(Duration::from_secs(90 * 86_400)), "90d");
        assert_eq!(super::span(Duration::from_secs(90)), "1m 30s");
    }

    use super::*;

    #[test]
    fn counts_get_commas_and_times_read_back() {
        for (count, text) in [
            (0, "0"),
            (999, "999"),
            (1_204, "1,204"),
            (1_000_000, "1,000,000"),
        ] {
            assert_eq!(thousands(count), text);
        }
        assert_eq!(rfc3339(1_740_795_341), "2025-03-01T02:15:41Z");
        assert_eq!(parse_rfc3339("2025-03-01T02:15:41Z"), Some(1_740_795_341));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
