//! An option's value: its flag, else its config key, else its default from the table. All three
//! are read as text and through one parser, so that a value is checked, and its error worded,
//! the same wherever it came from.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::args::ScreenArgs;
use super::config::ConfigValues;
use super::error::SettingsError;
use super::options::{DefaultValue, OptionDef};
use super::parse::{bad, parse_duration};

const DURATION_EXPECTED: &str = "a duration such as \"500ms\", \"10s\" or \"2m\"";
const POSITIVE_DURATION_EXPECTED: &str = "a duration above zero such as \"10s\"";

/// Flag > config file > default, for any option of the table.
pub(super) struct Lookup<'a> {
    pub(super) args: &'a ScreenArgs,
    pub(super) config: &'a ConfigValues,
}

impl Lookup<'_> {
    /// The value given by flag or config key, else the table's default; `None` when there is
    /// none of the three.
    pub(super) fn text(&self, option: &OptionDef) -> Result<Option<String>, SettingsError> {
        if let Some(value) = self.args.value(option) {
            return Ok(Some(value.to_string_lossy().into_owned()));
        }
        if let Some(value) = self.config.text(option)? {
            return Ok(Some(value));
        }
        Ok(match option.default {
            DefaultValue::Value(value) => Some(value.to_string()),
            DefaultValue::Unset | DefaultValue::Described(_) => None,
        })
    }

    /// A file name: the flag's as the operating system gave it, else the config key's.
    pub(super) fn path(&self, option: &OptionDef) -> Result<Option<PathBuf>, SettingsError> {
        match self.args.value(option) {
            Some(value) => Ok(Some(PathBuf::from(value))),
            None => Ok(self.text(option)?.map(PathBuf::from)),
        }
    }

    /// A switch is on when the flag is given, else as the config key or the default says.
    pub(super) fn switch(&self, option: &OptionDef) -> Result<bool, SettingsError> {
        if self.args.switch(option) {
            return Ok(true);
        }
        match self.config.switch(option)? {
            Some(on) => Ok(on),
            None => Ok(option.default == DefaultValue::Value("true")),
        }
    }

    /// A value that must pass `valid`; the table gives its default. One `expected` phrase
    /// serves a value that does not parse and one out of range.
    pub(super) fn number<T: FromStr + fmt::Display>(
        &self,
        option: &OptionDef,
        valid: impl Fn(&T) -> bool,
        expected: &'static str,
    ) -> Result<T, SettingsError> {
        self.optional(option, valid, expected)?
            .ok_or_else(|| bad(option.name(), "", expected))
    }

    /// A duration; the table gives its default.
    pub(super) fn duration(
        &self,
        option: &OptionDef,
        above_zero: bool,
    ) -> Result<Duration, SettingsError> {
        let expected = if above_zero {
            POSITIVE_DURATION_EXPECTED
        } else {
            DURATION_EXPECTED
        };
        let text = self.text(option)?.unwrap_or_default();
        match parse_duration(&text) {
            Ok(value) if !(above_zero && value.is_zero()) => Ok(value),
            _ => Err(bad(option.name(), text, expected)),
        }
    }

    /// A value with no default: `None` when neither flag nor config key gives one.
    pub(super) fn optional<T: FromStr + fmt::Display>(
        &self,
        option: &OptionDef,
        valid: impl Fn(&T) -> bool,
        expected: &'static str,
    ) -> Result<Option<T>, SettingsError> {
        match self.text(option)? {
            None => Ok(None),
            Some(text) => match text.trim().parse::<T>() {
                Ok(value) if valid(&value) => Ok(Some(value)),
                _ => Err(bad(option.name(), text, expected)),
            },
        }
    }

    /// One of a fixed set of words; `None` when nothing gives one and the table has no default.
    pub(super) fn choice<T: Copy>(
        &self,
        option: &OptionDef,
        words: &[(&str, T)],
        expected: &'static str,
    ) -> Result<Option<T>, SettingsError> {
        match self.text(option)? {
            None => Ok(None),
            Some(text) => words
                .iter()
                .find(|(word, _)| *word == text)
                .map(|(_, value)| Some(*value))
                .ok_or_else(|| bad(option.name(), text, expected)),
        }
    }

    /// One of a fixed set of words; the table gives its default.
    pub(super) fn word<T: Copy>(
        &self,
        option: &OptionDef,
        words: &[(&str, T)],
        expected: &'static str,
    ) -> Result<T, SettingsError> {
        self.choice(option, words, expected)?
            .ok_or_else(|| bad(option.name(), "", expected))
    }
}
