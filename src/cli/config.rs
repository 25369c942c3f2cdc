//! The TOML config file: the keys of the options table and no other, each read as the text a
//! flag would carry, so that flags and config keys go through the same parsers and messages.

use std::collections::HashMap;
use std::path::Path;

use super::error::SettingsError;
use super::options::{self, OptionDef};

/// The name looked for in the working directory when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "cardscreen.toml";

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
            let Some(known) = options::by_key(&key).and_then(|option| option.key) else {
                return Err(SettingsError::UnknownKey {
                    key,
                    file: display,
                    known: options::config_keys().collect::<Vec<_>>().join(", "),
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
        if values.contains_key(options::KEY.name()) && readable_by_others(path) {
            warnings.push(format!(
                "The config file {display} holds the API key and is readable by group or others; run chmod 600 on it."
            ));
        }
        Ok(ConfigValues { values, warnings })
    }

    /// The option's value as text; `None` when the file does not set it.
    pub(super) fn text(&self, option: &OptionDef) -> Result<Option<String>, SettingsError> {
        let Some(key) = option.key else {
            return Ok(None);
        };
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

    /// The switch's value; `None` when the file does not set it.
    pub(super) fn switch(&self, option: &OptionDef) -> Result<Option<bool>, SettingsError> {
        let Some(key) = option.key else {
            return Ok(None);
        };
        match self.values.get(key) {
            None => Ok(None),
            Some(ConfigValue::Bool(b)) => Ok(Some(*b)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::options::{DefaultValue, Kind, OPTIONS};

    const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");

    /// The value the file gives the option, as text either way.
    fn given(config: &ConfigValues, option: &OptionDef) -> Option<String> {
        match option.kind {
            Kind::Switch => config.switch(option).unwrap().map(|on| on.to_string()),
            Kind::Text(_) | Kind::Path(_) => config.text(option).unwrap(),
        }
    }

    #[test]
    fn the_example_names_every_key_with_its_default() {
        // Loading it refuses any key the table does not have.
        let config = ConfigValues::load(Path::new(EXAMPLE)).unwrap();
        let text = std::fs::read_to_string(EXAMPLE).unwrap();
        for option in OPTIONS.iter().filter(|option| option.key.is_some()) {
            let key = option.name();
            match option.default {
                DefaultValue::Value(default) => {
                    assert_eq!(given(&config, option).as_deref(), Some(default), "{key}");
                }
                // A key without a default is shown commented out, with a value as an example.
                DefaultValue::Unset | DefaultValue::Described(_) => {
                    assert_eq!(given(&config, option), None, "{key}");
                    let shown = format!("# {key} = ");
                    assert!(text.lines().any(|l| l.starts_with(&shown)), "{key}");
                }
            }
        }
    }

    #[test]
    fn every_key_of_the_table_is_accepted_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("all.toml");
        let keyed = || OPTIONS.iter().filter(|option| option.key.is_some());
        let toml: String = keyed()
            .map(|option| match option.kind {
                Kind::Switch => format!("{} = true\n", option.name()),
                Kind::Text(_) | Kind::Path(_) => format!("{} = \"x\"\n", option.name()),
            })
            .collect();
        std::fs::write(&path, &toml).unwrap();
        let config = ConfigValues::load(&path).unwrap();
        for option in keyed() {
            let expected = if option.kind == Kind::Switch {
                "true"
            } else {
                "x"
            };
            assert_eq!(given(&config, option).as_deref(), Some(expected));
        }
        std::fs::write(&path, format!("{toml}made_up_key = 1\n")).unwrap();
        let err = ConfigValues::load(&path).unwrap_err();
        let SettingsError::UnknownKey {
            ref key, ref known, ..
        } = err
        else {
            panic!("{err}");
        };
        assert_eq!(key, "made_up_key");
        assert!(err.to_string().contains("`made_up_key`"), "{err}");
        let known: Vec<&str> = known.split(", ").collect();
        assert_eq!(known, options::config_keys().collect::<Vec<_>>());
        assert_eq!(known.len(), keyed().count());
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "rate = [1, 2]\n").unwrap();
        let err = ConfigValues::load(&path).unwrap_err().to_string();
        assert!(
            err.starts_with("rate = ") && err.contains("a string, number or boolean"),
            "{err}"
        );
    }
}
