//! Where the API key comes from, in a documented order, and why a blank one is refused: the key
//! is held as a secret from the moment it is read.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::args::ScreenArgs;
use super::config::readable_by_others;
use super::error::SettingsError;
use super::lookup::Lookup;

/// The variable the key is read from unless `--key-env` names another.
const DEFAULT_KEY_ENV: &str = "JUHE_KEY";
/// The systemd credential holding the key (`LoadCredential=JUHE_KEY:/etc/…` in the unit).
const KEY_CREDENTIAL: &str = "JUHE_KEY";

/// The key from the first source given, in this order: `--key-file`, the `--key-env`
/// variable, `JUHE_KEY`, the systemd credential `JUHE_KEY`, `key` in the config file. A source
/// that is given but blank is an error rather than a reason to try the next one: an emptied
/// key file must not quietly run on another key, nor a blank key pay for refused calls.
pub(super) fn find_key(
    args: &ScreenArgs,
    lookup: &Lookup<'_>,
    env: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<SecretString, SettingsError> {
    let key_file = match &args.key_file {
        Some(path) => Some(path.clone()),
        None => lookup.config.text("key_file")?.map(PathBuf::from),
    };
    if let Some(path) = key_file {
        let shown = path.display().to_string();
        let key =
            std::fs::read_to_string(&path).map_err(|source| SettingsError::KeyUnreadable {
                path: shown.clone(),
                source,
            })?;
        if readable_by_others(&path) {
            warnings.push(format!(
                "The key file {shown} is readable by group or others; run chmod 600 on it."
            ));
        }
        return nonblank(key, format!("--key-file {shown}"));
    }
    let key_env = lookup
        .text(&args.key_env, "key_env")?
        .unwrap_or_else(|| DEFAULT_KEY_ENV.to_string());
    let variables = [key_env.as_str(), DEFAULT_KEY_ENV];
    for (i, name) in variables.iter().enumerate() {
        if variables[..i].contains(name) {
            continue;
        }
        if let Some(key) = env(name) {
            return nonblank(key, format!("the environment variable {name}"));
        }
    }
    if let Some(directory) = env("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
        let path = Path::new(&directory).join(KEY_CREDENTIAL);
        if let Some(key) = read_credential(&path)? {
            let from = format!(
                "the systemd credential {KEY_CREDENTIAL} ({})",
                path.display()
            );
            return nonblank(key, from);
        }
    }
    match lookup.config.text("key")? {
        Some(key) => nonblank(key, "`key` in the config file".to_string()),
        None => Err(SettingsError::MissingKey(key_env)),
    }
}

/// A credential's content; `None` when there is no such file.
fn read_credential(path: &Path) -> Result<Option<String>, SettingsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SettingsError::KeyUnreadable {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The key without surrounding whitespace (a file's trailing newline), or the error that
/// names where the blank key came from.
fn nonblank(key: String, from: String) -> Result<SecretString, SettingsError> {
    let trimmed = key.trim();
    if trimmed.is_empty() {
        return Err(SettingsError::BlankKey { from });
    }
    Ok(SecretString::from(trimmed.to_string()))
}
