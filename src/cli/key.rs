//! Where the API key comes from, in a documented order, and why a blank one is refused: the key
//! is held as a secret from the moment it is read.

use std::path::Path;

use secrecy::SecretString;

use super::config::readable_by_others;
use super::error::SettingsError;
use super::lookup::Lookup;
use super::options::{DEFAULT_KEY_ENV, KEY, KEY_ENV, KEY_FILE};

/// The systemd credential holding the key (`LoadCredential=JUHE_KEY:/etc/…` in the unit).
const KEY_CREDENTIAL: &str = "JUHE_KEY";

/// The key from the first source given, in this order: `--key-file`, the `--key-env`
/// variable, `JUHE_KEY`, the systemd credential `JUHE_KEY`, `key` in the config file. A source
/// that is given but blank is an error rather than a reason to try the next one: an emptied
/// key file must not quietly run on another key, nor a blank key pay for refused calls.
pub(super) fn find_key(
    lookup: &Lookup<'_>,
    env: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<SecretString, SettingsError> {
    if let Some(path) = lookup.path(&KEY_FILE)? {
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
        .text(&KEY_ENV)?
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
    match lookup.text(&KEY)? {
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

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::cli::args::ScreenArgs;
    use crate::cli::options::{CONFIG, DRY_RUN, KEY_ENV, KEY_FILE, SIMULATE};
    use crate::cli::settings::Settings;

    #[test]
    fn missing_key_names_the_variable() {
        let err = Settings::resolve(&ScreenArgs::new("cards.csv"), |_| None).unwrap_err();
        assert!(err.to_string().contains("JUHE_KEY"), "{err}");
        let mut a = ScreenArgs::new("cards.csv");
        a.set(&KEY_ENV, "RISK_KEY");
        let err = Settings::resolve(&a, |_| None).unwrap_err();
        assert!(err.to_string().contains("RISK_KEY"), "{err}");
    }

    /// Every key source at once, each with its own key (or a blank one).
    struct KeySources {
        dir: tempfile::TempDir,
    }

    impl KeySources {
        fn new(blank: Option<&str>) -> KeySources {
            let dir = tempfile::tempdir().unwrap();
            let value = |name: &str, key: &str| {
                if blank == Some(name) {
                    " \n".to_string()
                } else {
                    format!("{key}\n")
                }
            };
            std::fs::write(dir.path().join("key"), value("file", "file-key")).unwrap();
            std::fs::create_dir(dir.path().join("credentials")).unwrap();
            std::fs::write(
                dir.path().join("credentials/JUHE_KEY"),
                value("credential", "credential-key"),
            )
            .unwrap();
            std::fs::write(
                dir.path().join("c.toml"),
                format!("key = {:?}\n", value("config", "config-key")),
            )
            .unwrap();
            KeySources { dir }
        }

        /// The key found when the first `skip` sources are not given.
        fn resolve(&self, skip: usize, blank: Option<&str>) -> Result<String, SettingsError> {
            let mut a = ScreenArgs::new("cards.csv");
            a.set(&KEY_ENV, "RISK_KEY");
            if skip < 5 {
                a.set(&CONFIG, self.dir.path().join("c.toml"));
            }
            if skip < 1 {
                a.set(&KEY_FILE, self.dir.path().join("key"));
            }
            let credentials = self.dir.path().join("credentials");
            let env = |name: &str| -> Option<String> {
                let (key, rank, source) = match name {
                    "RISK_KEY" => ("risk-key", 2, "RISK_KEY"),
                    "JUHE_KEY" => ("juhe-key", 3, "JUHE_KEY"),
                    "CREDENTIALS_DIRECTORY" => {
                        return (skip < 4).then(|| credentials.display().to_string())
                    }
                    _ => return None,
                };
                let blank_here = blank == Some(source);
                (skip < rank).then(|| {
                    if blank_here {
                        String::new()
                    } else {
                        key.to_string()
                    }
                })
            };
            Settings::resolve(&a, env).map(|s| s.client().key.expose_secret().to_string())
        }
    }

    #[test]
    fn the_key_comes_from_the_first_source_given() {
        let sources = KeySources::new(None);
        let found: Vec<String> = (0..5)
            .map(|skip| sources.resolve(skip, None).unwrap())
            .collect();
        assert_eq!(
            found,
            [
                "file-key",
                "risk-key",
                "juhe-key",
                "credential-key",
                "config-key"
            ]
        );
        let err = sources.resolve(5, None);
        assert!(
            matches!(err, Err(SettingsError::MissingKey(ref name)) if name == "RISK_KEY"),
            "{err:?}"
        );
    }

    #[test]
    fn a_blank_key_names_its_source_and_never_falls_through() {
        let cases = [
            (0, "file", "--key-file"),
            (1, "RISK_KEY", "RISK_KEY"),
            (2, "JUHE_KEY", "JUHE_KEY"),
            (3, "credential", "systemd credential"),
            (4, "config", "`key` in the config file"),
        ];
        for (skip, blank, named) in cases {
            let sources = KeySources::new(Some(blank));
            let err = sources.resolve(skip, Some(blank)).unwrap_err().to_string();
            assert!(
                err.contains(named) && err.contains("empty"),
                "{blank}: {err}"
            );
        }
    }

    #[test]
    fn a_dry_run_or_the_simulator_looks_for_no_key() {
        for option in [DRY_RUN, SIMULATE] {
            if option.name() == "simulate" && !cfg!(feature = "simulator") {
                continue;
            }
            let mut a = ScreenArgs::new("cards.csv");
            a.set(&KEY_FILE, "/nonexistent/key");
            a.on(&option);
            assert!(Settings::resolve(&a, |_| None).is_ok());
        }
    }
}
