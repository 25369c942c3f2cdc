//! `--deadline`: a local clock time (`06:00`, its next occurrence), an RFC 3339 time, or a
//! duration from the start (`3h`, `90m`, `6s`). Parsed against an explicit `now` so the rules
//! are tested without moving the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The deadline `text` names, seen from `now`; an error when unparseable or not in the future.
pub(crate) fn parse_deadline(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let text = text.trim();
    let at = if let Some((h, m)) = clock_time(text) {
        next_local(h, m, now).ok_or_else(|| format!("--deadline {text}: no such local time"))?
    } else if let Ok(d) = humantime::parse_duration(text) {
        now + d
    } else {
        rfc3339(text).ok_or_else(|| {
            format!("--deadline {text}: expected HH:MM, an RFC 3339 time or a duration like 3h")
        })?
    };
    if at <= now {
        return Err(format!("--deadline {text} is already past"));
    }
    Ok(at)
}

fn clock_time(text: &str) -> Option<(u32, u32)> {
    let (h, m) = text.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    // 25:00 is no time of day: the error must name the flag, not roll over to tomorrow.
    (h < 24 && m < 60).then_some((h, m))
}

/// The next moment after `now` when the local clock shows `h:m`.
fn next_local(h: u32, m: u32, now: SystemTime) -> Option<SystemTime> {
    let secs = now.duration_since(UNIX_EPOCH).ok()?.as_secs() as libc::time_t;
    for day in 0..3 {
        // SAFETY: localtime_r and mktime only read and write the tm passed to them.
        let at = unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            if libc::localtime_r(&secs, &mut tm).is_null() {
                return None;
            }
            tm.tm_mday += day;
            tm.tm_hour = h as i32;
            tm.tm_min = m as i32;
            tm.tm_sec = 0;
            tm.tm_isdst = -1;
            libc::mktime(&mut tm)
        };
        if at > secs && at != -1 {
            return Some(UNIX_EPOCH + Duration::from_secs(at as u64));
        }
    }
    None
}

fn rfc3339(text: &str) -> Option<SystemTime> {
    if text.ends_with('Z') || text.ends_with('z') {
        return humantime::parse_rfc3339_weak(&text.replace('z', "Z")).ok();
    }
    // An offset: read the time as UTC, then move it by the offset.
    let split = text.len().checked_sub(6)?;
    let (base, offset) = (text.get(..split)?, text.get(split..)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1i64,
        _ => return None,
    };
    let (oh, om) = offset.get(1..)?.split_once(':')?;
    let shift = sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60);
    let utc = humantime::parse_rfc3339_weak(&format!("{base}Z")).ok()?;
    if shift >= 0 {
        utc.checked_sub(Duration::from_secs(shift as u64))
    } else {
        utc.checked_add(Duration::from_secs((-shift) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn durations_count_from_now() {
        let now = at(1_000_000);
        assert_eq!(parse_deadline("6s", now), Ok(at(1_000_006)));
        assert_eq!(parse_deadline("90m", now), Ok(at(1_000_000 + 5400)));
        assert_eq!(parse_deadline("3h", now), Ok(at(1_000_000 + 10_800)));
    }

    #[test]
    fn rfc3339_with_zone_or_offset() {
        let now = at(0);
        assert_eq!(
            parse_deadline("2030-01-01T06:00:00Z", now),
            Ok(at(1_893_477_600))
        );
        assert_eq!(
            parse_deadline("2030-01-01T08:00:00+02:00", now),
            Ok(at(1_893_477_600))
        );
        assert_eq!(
            parse_deadline("2030-01-01T05:00:00-01:00", now),
            Ok(at(1_893_477_600))
        );
    }

    #[test]
    fn clock_time_is_the_next_occurrence() {
        let now = SystemTime::now();
        let d = parse_deadline("06:00", now).expect("06:00 parses");
        assert!(d > now && d <= now + Duration::from_secs(25 * 3600));
    }

    #[test]
    fn bad_or_past_deadlines_name_the_flag() {
        let now = at(2_000_000_000);
        for bad in [
            "25:00",
            "06:61",
            "tomorrow",
            "",
            "2020-01-01T00:00:00Z",
            "0s",
        ] {
            let e = parse_deadline(bad, now).expect_err(bad);
            assert!(e.contains("--deadline"), "{e}");
        }
    }
}
