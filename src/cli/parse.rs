//! Values as the command line and the config file write them, parsed, with errors that name
//! the key and say what it takes.

use std::fmt;
use std::time::Duration;

use super::error::SettingsError;
use crate::input::{ColumnSpec, EncodingChoice};

pub(super) fn bad(
    key: &'static str,
    value: impl fmt::Display,
    expected: &'static str,
) -> SettingsError {
    SettingsError::BadValue {
        key,
        value: value.to_string(),
        expected,
    }
}

/// Parses `500ms`, `10s`, `2m`, `1h 30m`.
pub(super) fn parse_duration(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text.trim())
}

pub(super) fn parse_column(text: &str) -> Result<ColumnSpec, SettingsError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad(
            "column",
            text,
            "a header name or a 1-based column number",
        ));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        match trimmed.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(ColumnSpec::Index(n)),
            _ => Err(bad(
                "column",
                text,
                "a header name or a 1-based column number (the first column is 1)",
            )),
        }
    } else {
        Ok(ColumnSpec::Name(trimmed.to_string()))
    }
}

pub(super) fn parse_delimiter(text: &str) -> Result<u8, SettingsError> {
    match text {
        "\\t" | "\t" | "tab" => Ok(b'\t'),
        _ if text.len() == 1 && !matches!(text.as_bytes()[0], b'"' | b'\n' | b'\r') => {
            Ok(text.as_bytes()[0])
        }
        _ => Err(bad(
            "delimiter",
            text,
            "one ASCII character such as , ; | or \\t (not a quote or newline)",
        )),
    }
}

pub(super) fn parse_encoding(text: &str) -> Result<EncodingChoice, SettingsError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(EncodingChoice::Auto),
        "utf-8" | "utf8" => Ok(EncodingChoice::Utf8),
        "gbk" | "cp936" => Ok(EncodingChoice::Gbk),
        "gb18030" => Ok(EncodingChoice::Gb18030),
        _ => Err(bad("encoding", text, "auto, utf-8, gbk or gb18030")),
    }
}

pub(super) fn check_endpoint(endpoint: &str) -> Result<(), SettingsError> {
    const EXPECTED: &str = "an http:// or https:// URL";
    let url = reqwest::Url::parse(endpoint).map_err(|_| bad("endpoint", endpoint, EXPECTED))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad("endpoint", endpoint, EXPECTED));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(bad(
            "endpoint",
            "(not shown)",
            "a URL without credentials or query string; the key comes from the environment",
        ));
    }
    Ok(())
}
