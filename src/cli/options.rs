//! Every option of `screen` declared once: its flag, its config key, its default and its help.
//! The clap arguments, the keys the config file accepts and the defaults `Settings` falls back
//! on all come from this table, so none of them can drift from the others.

use crate::vendor::DEFAULT_ENDPOINT;

/// The variable the key is read from unless `--key-env` names another, and always after it.
pub(super) const DEFAULT_KEY_ENV: &str = "JUHE_KEY";

/// One option: a flag, a config key, or both under the same name.
#[derive(Debug, Clone, Copy)]
pub(super) struct OptionDef {
    /// The long flag without its dashes; `None` for a key only the config file has.
    pub(super) flag: Option<&'static str>,
    pub(super) short: Option<char>,
    /// The config file's key; `None` for a flag only the command line has.
    pub(super) key: Option<&'static str>,
    pub(super) kind: Kind,
    pub(super) default: DefaultValue,
    /// One line for `--help` and the man page; the default is added to it.
    pub(super) help: &'static str,
    /// Flags this one cannot be given with, by their long names.
    pub(super) conflicts: &'static [&'static str],
    /// The words a text option takes, when it takes a fixed set: completion scripts offer
    /// them, and a test holds the settings' parsers to them.
    pub(super) values: &'static [&'static str],
}

/// What the option's value is, and the name `--help` shows for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A flag without a value, `true` or `false` in the config file.
    Switch,
    /// Text, which must be UTF-8.
    Text(&'static str),
    /// A file name, taken as the operating system gives it.
    Path(&'static str),
}

/// What an option is when neither flag nor config key gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DefaultValue {
    /// Nothing: unlimited, or not used.
    Unset,
    /// This text, read as if it had been given; the config example shows it as the key's value.
    Value(&'static str),
    /// Worked out from other options when the run starts; the help says how.
    Described(&'static str),
}

impl OptionDef {
    const fn new(flag: Option<&'static str>, key: Option<&'static str>) -> OptionDef {
        OptionDef {
            flag,
            short: None,
            key,
            kind: Kind::Switch,
            default: DefaultValue::Unset,
            help: "",
            conflicts: &[],
            values: &[],
        }
    }

    /// The name messages use: the config key, else the flag.
    pub(super) fn name(&self) -> &'static str {
        match (self.key, self.flag) {
            (Some(key), _) | (None, Some(key)) => key,
            (None, None) => "",
        }
    }

    /// The help line as `--help` shows it, with its default.
    pub(super) fn help_line(&self) -> String {
        match (self.default, self.kind) {
            (DefaultValue::Value(value), Kind::Text(_) | Kind::Path(_)) if !value.is_empty() => {
                format!("{} [default: {value}]", self.help)
            }
            (DefaultValue::Described(how), _) => format!("{} [default: {how}]", self.help),
            _ => self.help.to_string(),
        }
    }

    const fn short(self, short: char) -> OptionDef {
        OptionDef {
            short: Some(short),
            ..self
        }
    }

    const fn key(self, key: &'static str) -> OptionDef {
        OptionDef {
            key: Some(key),
            ..self
        }
    }

    /// A switch is off unless given; the config file says `false` for it.
    const fn switch(self) -> OptionDef {
        OptionDef {
            kind: Kind::Switch,
            default: DefaultValue::Value("false"),
            ..self
        }
    }

    const fn text(self, value_name: &'static str) -> OptionDef {
        OptionDef {
            kind: Kind::Text(value_name),
            ..self
        }
    }

    /// Text that is one of these words.
    const fn one_of(self, value_name: &'static str, values: &'static [&'static str]) -> OptionDef {
        OptionDef {
            kind: Kind::Text(value_name),
            values,
            ..self
        }
    }

    const fn path(self, value_name: &'static str) -> OptionDef {
        OptionDef {
            kind: Kind::Path(value_name),
            ..self
        }
    }

    const fn default(self, value: &'static str) -> OptionDef {
        OptionDef {
            default: DefaultValue::Value(value),
            ..self
        }
    }

    const fn described(self, how: &'static str) -> OptionDef {
        OptionDef {
            default: DefaultValue::Described(how),
            ..self
        }
    }

    const fn help(self, help: &'static str) -> OptionDef {
        OptionDef { help, ..self }
    }

    const fn conflicts(self, flags: &'static [&'static str]) -> OptionDef {
        OptionDef {
            conflicts: flags,
            ..self
        }
    }
}

/// A flag only the command line has.
const fn flag(name: &'static str) -> OptionDef {
    OptionDef::new(Some(name), None)
}

/// A key only the config file has.
const fn key(name: &'static str) -> OptionDef {
    OptionDef::new(None, Some(name))
}

/// Each row becomes a named constant that `Settings` reads, and an entry of `OPTIONS`.
macro_rules! options {
    ($($name:ident = $row:expr;)*) => {
        $(pub(super) const $name: OptionDef = $row;)*
        /// Every option, in the order `--help` shows the flags.
        pub(super) static OPTIONS: &[OptionDef] = &[$($name),*];
    };
}

// A row: `flag("long-name")` (a flag only), `key("name")` (a config key only), or
// `flag(…).key(…)` (both); then `.switch()`, or `.text("VALUE")` / `.path("VALUE")` with the
// name `--help` shows, or `.one_of("VALUE", &["word", …])` for text that is one of a fixed
// set of words; `.default("text")` as the config file would write it, or `.described("how")`
// when the run works it out; `.help("one line")`.
options! {
    OUTPUT = flag("output").short('o').path("PATH")
        .described("<input stem>.screened.csv, or .screened.xlsx for a workbook input, \
            beside the input")
        .help("Output file, a workbook when it ends in .xlsx; - for standard output");
    OUTPUT_FORMAT = flag("output-format").key("output_format").one_of("FORMAT", &["csv", "xlsx"])
        .described("from the output name, else xlsx for a workbook input, else csv")
        .help("csv or xlsx");
    SHEET = flag("sheet").key("sheet").text("SHEET")
        .described("the first visible")
        .help("The sheet of a workbook to screen, by name or 1-based number");
    CONFIG = flag("config").short('c').path("PATH")
        .described("cardscreen.toml in the working directory if present")
        .help("TOML config file");
    COLUMN = flag("column").key("column").text("COLUMN")
        .described("detected from the header")
        .help("Card column by header name or 1-based index");
    NO_HEADER = flag("no-header").key("no_header").switch()
        .help("The first row is data; columns are named column_1..column_N in the output");
    DELIMITER = flag("delimiter").key("delimiter").text("CHAR").default(",")
        .help("Field delimiter, one byte; \\t for tab");
    ENCODING = flag("encoding").key("encoding")
        .one_of("ENCODING", &["auto", "utf-8", "gbk", "gb18030"]).default("auto")
        .help("auto, utf-8, gbk or gb18030");
    EXCEL = flag("excel").key("excel").switch()
        .help("Start the output with a UTF-8 BOM so that Excel shows Chinese text correctly");
    ENDPOINT = flag("endpoint").key("endpoint").text("URL").default(DEFAULT_ENDPOINT)
        .help("API endpoint URL");
    CA_CERT = flag("ca-cert").key("ca_cert").path("PATH")
        .help("PEM file of CA certificates to trust beside the system's \
            (a TLS-inspecting proxy's CA)");
    KEY_FILE = flag("key-file").key("key_file").path("PATH")
        .help("File that holds the API key (its content, trimmed); \
            wins over every other key source");
    KEY_ENV = flag("key-env").key("key_env").text("NAME").default(DEFAULT_KEY_ENV)
        .help("Environment variable that holds the API key");
    KEY = key("key").text("KEY");
    CONCURRENCY = flag("concurrency").key("concurrency").text("N").default("16")
        .help("Requests in flight at most");
    RATE = flag("rate").key("rate").text("QPS").default("10")
        .help("Calls per second, fractions allowed; 0 = unlimited");
    BURST = flag("burst").key("burst").text("N").default("1")
        .help("Calls allowed at once above the rate");
    TIMEOUT = flag("timeout").key("timeout").text("DUR").default("10s")
        .help("Timeout of one HTTP call");
    MAX_ATTEMPTS = flag("max-attempts").key("max_attempts").text("N").default("5")
        .help("Calls per card at most, the first included");
    BACKOFF_BASE = flag("backoff-base").key("backoff_base").text("DUR").default("500ms")
        .help("First backoff step");
    BACKOFF_MAX = flag("backoff-max").key("backoff_max").text("DUR").default("30s")
        .help("Longest backoff");
    MAX_CONSECUTIVE_FAILURES = flag("max-consecutive-failures").key("max_consecutive_failures")
        .text("N").default("50")
        .help("Abort when this many rows in a row end in error; 0 = never");
    LUHN = flag("luhn").key("luhn").one_of("MODE", &["warn", "reject"]).default("warn")
        .help("warn or reject cards that fail the Luhn check");
    MAX_CALLS = flag("max-calls").key("max_calls").text("N")
        .help("API call budget for this run; reaching it stops the run (exit 5)");
    MAX_INVALID = flag("max-invalid").key("max_invalid").text("RATIO")
        .help("Exit 3 when more than this share of the rows is invalid: 0.5 or 50%");
    MASK = flag("mask").key("mask").switch()
        .help("Write the card column masked (622848******1234)");
    PREFIX = flag("prefix").key("prefix").text("PREFIX").default("")
        .help("Prefix for every added column name");
    RESUME = flag("resume").switch().conflicts(&["fresh"])
        .help("Continue the unfinished run for this output");
    FRESH = flag("fresh").switch()
        .help("Discard an unfinished run for this output and start over");
    RETRY_ERRORS = flag("retry-errors").switch().conflicts(&["resume", "fresh", "dry-run"])
        .help("Call again only for the rows of a completed run whose status is error");
    DRY_RUN = flag("dry-run").switch()
        .help("Read and validate the file and estimate the run; no API call");
    SUMMARY = flag("summary").key("summary").path("PATH")
        .help("Write the run summary as JSON to this file");
    REPORT = flag("report").key("report").path("PATH")
        .help("Write the night as one self-contained HTML page to this file when the run ends");
    METRICS = flag("metrics").key("metrics").path("PATH")
        .help("Keep the run's numbers in this file in Prometheus text format \
            (node_exporter's textfile collector), rewritten every progress_interval and at the end");
    METRICS_MODE = key("metrics_mode").text("MODE").default("0644");
    FAIL_ON_HIT = flag("fail-on-hit").key("fail_on_hit").switch()
        .help("Exit 1 when any row is a hit");
    PROGRESS = flag("progress").key("progress")
        .one_of("WHEN", &["auto", "always", "never"]).default("auto")
        .help("auto, always or never");
    PROGRESS_INTERVAL = key("progress_interval").text("DUR").default("10s");
    LOG_FORMAT = flag("log-format").key("log_format").one_of("FORMAT", &["text", "json"])
        .default("text")
        .help("text or json");
    PRICE_PER_CALL = key("price_per_call").text("PRICE");
    SIMULATE = flag("simulate").switch()
        .help("Screen against the built-in simulator on a loopback port (no key needed)");
    STORE = flag("store").key("store").path("PATH")
        .help("SQLite file of earlier results, created if missing: reuse within --max-age, \
            and the screened_at and change columns");
    STORE_KEY_FILE = flag("store-key-file").key("store_key_file").path("PATH")
        .described("<store>.key")
        .help("The store's key file");
    MAX_AGE = flag("max-age").key("max_age").text("DUR").default("0s")
        .help("Answer cards whose stored result is younger than this from the store; \
            0 = always call");
    REFRESH = flag("refresh").key("refresh").one_of("level|due", &["level", "due"])
        .default("level")
        .help("level refreshes some results before they are due, oldest first, so every night \
            costs about the same; due refreshes a result only once it is older than --max-age");
    DEADLINE = flag("deadline").key("deadline").text("TIME")
        .help("Stop calling at this time: 06:00 (next time the local clock shows it), an \
            RFC 3339 time, or a duration from the start (3h, 90m); the calls are planned to fit, \
            and rows not called by then are answered from the store where --max-stale allows, \
            else written as errors (exit 3)");
    MAX_STALE = flag("max-stale").key("max_stale").text("DUR").described("--max-age")
        .help("The oldest stored result that may answer a row when --deadline or --max-calls \
            leaves no room to refresh it; above --max-age, --max-calls is planned to fit");
    CHANGES = flag("changes").path("PATH")
        .help("Write the rows whose change is new_hit, cleared or changed to this CSV");
}

/// The config file's keys, in the table's order.
pub(super) fn config_keys() -> impl Iterator<Item = &'static str> {
    OPTIONS.iter().filter_map(|option| option.key)
}

/// The option a config key belongs to.
pub(super) fn by_key(key: &str) -> Option<&'static OptionDef> {
    OPTIONS.iter().find(|option| option.key == Some(key))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_a_flag_and_its_key_agree() {
        let mut seen = HashSet::new();
        for option in OPTIONS {
            assert!(option.flag.is_some() || option.key.is_some(), "{option:?}");
            assert!(seen.insert(option.name()), "{} twice", option.name());
            if let (Some(flag), Some(key)) = (option.flag, option.key) {
                assert_eq!(flag.replace('-', "_"), key);
            }
            if option.flag.is_some() {
                assert!(!option.help.is_empty(), "{} has no help", option.name());
            }
            for other in option.conflicts {
                assert!(OPTIONS.iter().any(|o| o.flag == Some(other)), "{other}");
            }
        }
    }

    #[test]
    fn a_switch_is_off_by_default_and_the_help_names_the_default() {
        for option in OPTIONS {
            if option.kind == Kind::Switch {
                assert_eq!(
                    option.default,
                    DefaultValue::Value("false"),
                    "{}",
                    option.name()
                );
            }
        }
        assert_eq!(
            CONCURRENCY.help_line(),
            "Requests in flight at most [default: 16]"
        );
        assert_eq!(PREFIX.help_line(), "Prefix for every added column name");
        assert_eq!(MASK.help_line(), MASK.help);
    }
}
