//! The TOML config file: every key a flag has (and a few only the file has), read as the text a
//! flag would carry, so that flags and config keys go through the same parsers and messages.

use std::collections::HashMap;
use std::path::Path;

use super::error::SettingsError;

/// The name looked for in the working directory when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "cardscreen.toml";

/// Every key the config file may hold.
const CONFIG_KEYS: &[&str] = &[
    "sheet",
    "column",
    "no_header",
    "delimiter",
    "encoding",
    "excel",
    "output_format",
    "endpoint",
    "ca_cert",
    "key_env",
    "key",
    "key_file",
    "concurrency",
    "rate",
    "burst",
    "timeout",
    "max_attempts",
    "backoff_base",
    "backoff_max",
    "max_consecutive_failures",
    "luhn",
    "max_calls",
    "mask",
    "prefix",
    "summary",
    "metrics",
    "fail_on_hit",
    "progress",
    "progress_interval",
    "log_format",
    "price_per_call",
    "store",
    "store_key_file",
    "max_age",
    "refresh",
    "deadline",
    "max_stale",
];

/// The config file's values, each kept as the text a flag would carry so that flags and
/// config keys go through the same parser and the same error messages.
#[derive(Debug, Default)]
pub(super) struct ConfigValues {
    values: HashMap<&'static str, ConfigValue>,
    /// Said once logging is set up, which needs settings first.
    pub(super) warnings: Vec<String>,
}

#[derive(Debug)]
enum ConfigValue {
    Text(String),
    Bool(bool),
}

impl ConfigValues {
    pub(super) fn load(path: &Path) -> Result<ConfigValues, SettingsError> {
        let display = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| SettingsError::ConfigUnreadable {
                path: display.clone(),
                source,
            })?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| SettingsError::ConfigSyntax {
                path: display.clone(),
                message: e.message().to_string(),
            })?;
        let mut values = HashMap::new();
        for (key, value) in table {
            let Some(&known) = CONFIG_KEYS.iter().find(|k| **k == key) else {
                return Err(SettingsError::UnknownKey {
                    key,
                    file: display,
                    known: CONFIG_KEYS.join(", "),
                });
            };
            let value = match value {
                toml::Value::String(s) => ConfigValue::Text(s),
                toml::Value::Integer(i) => ConfigValue::Text(i.to_string()),
                toml::Value::Float(f) => ConfigValue::Text(f.to_string()),
                toml::Value::Boolean(b) => ConfigValue::Bool(b),
                other => {
                    return Err(SettingsError::BadValue {
                        key: known,
                        value: other.to_string(),
                        expected: "a string, number or boolean",
                    })
                }
            };
            values.insert(known, value);
        }
        let mut warnings = Vec::new();
        if values.contains_key("key") && readable_by_others(path) {
            warnings.push(format!(
                "The config file {display} holds the API key and is readable by group or others; run chmod 600 on it."
            ));
        }
        Ok(ConfigValues { values, warnings })
    }

    pub(super) fn text(&self, key: &'static str) -> Result<Option<String>, SettingsError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(ConfigValue::Text(s)) => Ok(Some(s.clone())),
            Some(ConfigValue::Bool(b)) => Err(SettingsError::BadValue {
                key,
                value: b.to_string(),
                expected: "a string or number, not a boolean",
            }),
        }
    }

    pub(super) fn flag(&self, key: &'static str) -> Result<bool, SettingsError> {
        match self.values.get(key) {
            None => Ok(false),
            Some(ConfigValue::Bool(b)) => Ok(*b),
            Some(ConfigValue::Text(s)) => Err(SettingsError::BadValue {
                key,
                value: s.clone(),
                expected: "true or false",
            }),
        }
    }
}

/// True when group or others may read the file: a file that holds the key should not be.
#[cfg(unix)]
pub(super) fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
pub(super) fn readable_by_others(_path: &Path) -> bool {
    false
}
