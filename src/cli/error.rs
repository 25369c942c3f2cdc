//! What can be wrong with the command line or the config file.

/// A problem with the command line or the config file: always exit 2, before any call. The
/// fields are what the messages name.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)]
pub enum SettingsError {
    /// A value that does not parse or is out of range.
    #[error("{key} = {value:?} is not valid; expected {expected}")]
    BadValue {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A config key cardscreen does not know.
    #[error("unknown key `{key}` in {file}; known keys are: {known}")]
    UnknownKey {
        key: String,
        file: String,
        known: String,
    },
    /// The config file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    ConfigUnreadable {
        path: String,
        source: std::io::Error,
    },
    /// The config file is not TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    ConfigSyntax { path: String, message: String },
    /// Settings that are valid one by one but not together.
    #[error("{0}")]
    Conflict(String),
    /// No key, and none needed to be found only for a dry run or the simulator.
    #[error("no API key: set the environment variable {0}, pass --key-file PATH, or put `key` in the config file (or try --simulate)")]
    MissingKey(String),
    /// A certificate file (`--ca-cert`, `SSL_CERT_FILE`, `SSL_CERT_DIR`) that cannot be used.
    #[error("{0}")]
    Certificates(String),
    /// A key source that is given but holds nothing; `source` names it.
    #[error("the API key from {from} is empty; put the key there, or remove it to use the next source (--key-file, the --key-env variable, JUHE_KEY, the systemd credential JUHE_KEY, `key` in the config file)")]
    BlankKey { from: String },
    /// A key file (or systemd credential) that cannot be read.
    #[error("cannot read the API key from {path}: {source}")]
    KeyUnreadable {
        path: String,
        source: std::io::Error,
    },
    /// `history` or `store` with no store named by flag or config file.
    #[error("no result store given: pass --store PATH, or set `store = \"PATH\"` in the config file (cardscreen.toml in the working directory, or the file -c/--config names)")]
    NoStore,
    /// `--simulate` in a build without the simulator.
    #[error("this build has no simulator; --simulate needs cardscreen built with its default feature `simulator`")]
    NoSimulator,
}
