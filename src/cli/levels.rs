//! `--refresh`, `--deadline` and `--max-stale`: how a night spreads its refreshes and what it
//! may answer from older results when the deadline or the call budget leaves no room.

use std::time::{Duration, SystemTime};

use super::error::SettingsError;
use super::lookup::Lookup;
use super::options::{DEADLINE, MAX_STALE, REFRESH};
use crate::util::deadline::parse_deadline;

/// `--refresh`: `level` spreads the refreshes over `--max-age`; `due` waits until they are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    Level,
    Due,
}

/// The level options, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LevelOptions {
    pub(crate) refresh: Refresh,
    pub(crate) deadline: Option<SystemTime>,
    pub(crate) max_stale: Duration,
}

pub(super) fn level_options(
    lookup: &Lookup<'_>,
    max_age: Duration,
    now: SystemTime,
) -> Result<LevelOptions, SettingsError> {
    let words = [("level", Refresh::Level), ("due", Refresh::Due)];
    let refresh = lookup.word(&REFRESH, &words, "level or due")?;
    let deadline = match lookup.text(&DEADLINE)? {
        Some(text) => Some(parse_deadline(&text, now).map_err(SettingsError::Conflict)?),
        None => None,
    };
    let max_stale = match lookup.text(&MAX_STALE)? {
        None => max_age,
        Some(text) => {
            let stale = humantime::parse_duration(text.trim()).map_err(|_| {
                SettingsError::Conflict(format!("--max-stale {text}: expected a duration like 30d"))
            })?;
            if stale < max_age {
                return Err(SettingsError::Conflict(format!(
                    "--max-stale {text} is below --max-age; it must be at least --max-age"
                )));
            }
            stale
        }
    };
    Ok(LevelOptions {
        refresh,
        deadline,
        max_stale,
    })
}
