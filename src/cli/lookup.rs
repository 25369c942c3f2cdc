//! A flag, else its config key: both read as text and through one parser, so that a value is
//! checked, and its error worded, the same whichever of the two it came from.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::config::ConfigValues;
use super::error::SettingsError;
use super::parse::{bad, parse_duration};

const DURATION_EXPECTED: &str = "a duration such as \"500ms\", \"10s\" or \"2m\"";
const POSITIVE_DURATION_EXPECTED: &str = "a duration above zero such as \"10s\"";

/// A flag, else its config key: both as text, so both go through one parser and one message.
pub(super) struct Lookup<'a> {
    pub(super) config: &'a ConfigValues,
}

impl Lookup<'_> {
    pub(super) fn text(
        &self,
        flag: &Option<String>,
        key: &'static str,
    ) -> Result<Option<String>, SettingsError> {
        match flag {
            Some(value) => Ok(Some(value.clone())),
            None => self.config.text(key),
        }
    }

    pub(super) fn switch(&self, flag: bool, key: &'static str) -> Result<bool, SettingsError> {
        Ok(flag || self.config.flag(key)?)
    }

    /// A value that must pass `valid`, or `default` when neither flag nor config key gives
    /// one. One `expected` phrase serves a value that does not parse and one out of range.
    pub(super) fn number<T: FromStr + fmt::Display>(
        &self,
        flag: &Option<String>,
        key: &'static str,
        default: T,
        valid: impl Fn(&T) -> bool,
        expected: &'static str,
    ) -> Result<T, SettingsError> {
        Ok(self
            .optional(flag, key, valid, expected)?
            .unwrap_or(default))
    }

    pub(super) fn duration(
        &self,
        flag: &Option<String>,
        key: &'static str,
        default: Duration,
        above_zero: bool,
    ) -> Result<Duration, SettingsError> {
        let Some(text) = self.text(flag, key)? else {
            return Ok(default);
        };
        let expected = if above_zero {
            POSITIVE_DURATION_EXPECTED
        } else {
            DURATION_EXPECTED
        };
        match parse_duration(&text) {
            Ok(value) if !(above_zero && value.is_zero()) => Ok(value),
            _ => Err(bad(key, text, expected)),
        }
    }

    /// A value with no default: `None` when neither flag nor config key gives one.
    pub(super) fn optional<T: FromStr + fmt::Display>(
        &self,
        flag: &Option<String>,
        key: &'static str,
        valid: impl Fn(&T) -> bool,
        expected: &'static str,
    ) -> Result<Option<T>, SettingsError> {
        match self.text(flag, key)? {
            None => Ok(None),
            Some(text) => match text.trim().parse::<T>() {
                Ok(value) if valid(&value) => Ok(Some(value)),
                _ => Err(bad(key, text, expected)),
            },
        }
    }

    /// One of a fixed set of words.
    pub(super) fn choice<T: Copy>(
        &self,
        flag: &Option<String>,
        key: &'static str,
        default: T,
        words: &[(&str, T)],
        expected: &'static str,
    ) -> Result<T, SettingsError> {
        match self.text(flag, key)? {
            None => Ok(default),
            Some(text) => words
                .iter()
                .find(|(word, _)| *word == text)
                .map(|(_, value)| *value)
                .ok_or_else(|| bad(key, text, expected)),
        }
    }
}
