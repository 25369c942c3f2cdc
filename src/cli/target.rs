//! Where the rows come from and where they go: the input, the output (`<stem>.screened.csv`
//! beside the input unless `-o` says otherwise, standard output for `-`) and its format, and
//! the pairs of them that can never work.

use std::path::{Path, PathBuf};

use super::error::SettingsError;
use super::lookup::Lookup;
use super::options::{OUTPUT, OUTPUT_FORMAT};
use crate::input::format::{self, Format};
use crate::input::InputSource;
use crate::output::{OutputFormat, OutputTarget};

/// What to do with an unfinished run found for the same output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Refuse to start when an unfinished run exists.
    New,
    /// Go on from the unfinished run's journal (or start one when there is none).
    Resume,
    /// Discard an unfinished run and start over.
    Fresh,
    /// Call again only for the `error` rows of a completed run.
    RetryErrors,
}

/// The input, the output and the output's format.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) input: InputSource,
    pub(super) output: OutputTarget,
    pub(super) format: OutputFormat,
}

impl Target {
    /// A name ending in `.xlsx` asks for a workbook; without a name, a workbook input gets a
    /// workbook back and a CSV a CSV.
    pub(super) fn resolve(lookup: &Lookup<'_>) -> Result<Target, SettingsError> {
        let input = if lookup.args.input == "-" {
            InputSource::Stdin
        } else {
            InputSource::Path(PathBuf::from(&lookup.args.input))
        };
        let named = lookup.path(&OUTPUT)?;
        let format = output_format(lookup, named.as_deref(), &input)?;
        if format == OutputFormat::Xlsx && input == InputSource::Stdin {
            return Err(SettingsError::Conflict(
                "a workbook output must know before the first call that its rows fit in a sheet, and standard input cannot be read twice to count them; save the input to a file, or write CSV".into(),
            ));
        }
        let output = match (named, &input) {
            (Some(o), _) if o.as_os_str() == "-" => OutputTarget::Stdout,
            (Some(o), _) => OutputTarget::Path(o),
            (None, InputSource::Stdin) => OutputTarget::Stdout,
            (None, InputSource::Path(p)) => OutputTarget::Path(default_output(p, format)),
        };
        Ok(Target {
            input,
            output,
            format,
        })
    }

    /// Refuses what can never be continued, and an output that would overwrite the input.
    pub(super) fn check(&self, mode: RunMode) -> Result<(), SettingsError> {
        let continues = matches!(mode, RunMode::Resume | RunMode::RetryErrors);
        if continues && matches!(self.output, OutputTarget::Stdout) {
            return Err(SettingsError::Conflict(
                "--resume and --retry-errors need an output file; standard output cannot be continued (pass -o FILE)".into(),
            ));
        }
        if continues && matches!(self.input, InputSource::Stdin) {
            return Err(SettingsError::Conflict(
                "--resume and --retry-errors need an input file; standard input cannot be read again"
                    .into(),
            ));
        }
        if let (InputSource::Path(i), OutputTarget::Path(o)) = (&self.input, &self.output) {
            if same_file(i, o) {
                return Err(SettingsError::Conflict(format!(
                    "the output {} is the input itself; choose another -o",
                    o.display()
                )));
            }
        }
        Ok(())
    }
}

/// `--output-format`, else what the output's name says, else what the input is.
fn output_format(
    lookup: &Lookup<'_>,
    named: Option<&Path>,
    input: &InputSource,
) -> Result<OutputFormat, SettingsError> {
    let asked = lookup.choice(
        &OUTPUT_FORMAT,
        &[("csv", OutputFormat::Csv), ("xlsx", OutputFormat::Xlsx)],
        "csv or xlsx",
    )?;
    let file = named.filter(|o| o.as_os_str() != "-");
    let by_name = file.map(|o| {
        let extension = o.extension().map(|e| e.to_ascii_lowercase());
        match extension.as_ref().and_then(|e| e.to_str()) {
            Some("xlsx") => OutputFormat::Xlsx,
            _ => OutputFormat::Csv,
        }
    });
    Ok(match (asked, by_name, input) {
        (Some(asked), Some(by_name), _) if asked != by_name && names_a_format(file) => {
            return Err(SettingsError::Conflict(format!(
                "--output-format is {} but the output name ends in .{}; make them agree",
                asked.extension(),
                by_name.extension()
            )))
        }
        (Some(asked), _, _) => asked,
        (None, Some(by_name), _) => by_name,
        (None, None, InputSource::Path(path)) if named.is_none() => match format::of_path(path) {
            Format::Workbook(_) => OutputFormat::Xlsx,
            Format::Csv => OutputFormat::Csv,
        },
        (None, None, _) => OutputFormat::Csv,
    })
}

/// Whether the output name ends in `.csv` or `.xlsx`, and so says which format it wants.
fn names_a_format(output: Option<&Path>) -> bool {
    output.is_some_and(|o| {
        o.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("xlsx"))
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `<input stem>.screened.csv` (or `.xlsx`) beside the input.
fn default_output(input: &Path, format: OutputFormat) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    input.with_file_name(format!("{stem}.screened.{}", format.extension()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::ScreenArgs;
    use crate::cli::config::ConfigValues;
    use crate::cli::options::OptionDef;

    /// The target of a `screen` on `input` with these flags.
    fn target(input: &str, flags: &[(&OptionDef, &str)]) -> Result<Target, SettingsError> {
        let mut args = ScreenArgs::new(input);
        for (option, value) in flags {
            args.set(option, *value);
        }
        let config = ConfigValues::default();
        Target::resolve(&Lookup {
            args: &args,
            config: &config,
        })
    }

    fn path(p: &str) -> OutputTarget {
        OutputTarget::Path(PathBuf::from(p))
    }

    fn found(input: &str, flags: &[(&OptionDef, &str)]) -> (OutputTarget, OutputFormat) {
        let target = target(input, flags).unwrap();
        (target.output, target.format)
    }

    fn refused(input: &str, flags: &[(&OptionDef, &str)]) -> String {
        target(input, flags).unwrap_err().to_string()
    }

    #[test]
    fn the_output_format_follows_the_name_the_flag_or_the_input() {
        // A workbook in, a workbook out (judged by the name when the file cannot be read).
        assert_eq!(
            found("audit.XLSX", &[]),
            (path("audit.screened.xlsx"), OutputFormat::Xlsx)
        );
        assert_eq!(
            found("cards.csv", &[]),
            (path("cards.screened.csv"), OutputFormat::Csv)
        );
        assert_eq!(
            found("audit.xls", &[(&OUTPUT_FORMAT, "csv")]),
            (path("audit.screened.csv"), OutputFormat::Csv)
        );
        assert_eq!(
            found("cards.csv", &[(&OUTPUT, "out.xlsx")]),
            (path("out.xlsx"), OutputFormat::Xlsx)
        );
        assert_eq!(
            found("audit.xlsx", &[(&OUTPUT, "results")]),
            (path("results"), OutputFormat::Csv)
        );
        assert_eq!(
            found("results", &[(&OUTPUT, "out"), (&OUTPUT_FORMAT, "xlsx")]),
            (path("out"), OutputFormat::Xlsx)
        );
        let conflict = refused(
            "cards.csv",
            &[(&OUTPUT, "out.csv"), (&OUTPUT_FORMAT, "xlsx")],
        );
        assert!(conflict.contains("make them agree"), "{conflict}");
        let piped = refused("-", &[(&OUTPUT, "out.xlsx")]);
        assert!(piped.contains("standard input"), "{piped}");
        let unknown = refused("cards.csv", &[(&OUTPUT_FORMAT, "xls")]);
        assert!(unknown.contains("csv or xlsx"), "{unknown}");
    }

    #[test]
    fn stdin_writes_to_stdout_by_default_and_dash_means_stdout() {
        let piped = target("-", &[]).unwrap();
        assert_eq!(piped.input, InputSource::Stdin);
        assert_eq!(piped.output, OutputTarget::Stdout);
        assert_eq!(
            found("cards.csv", &[(&OUTPUT, "-")]),
            (OutputTarget::Stdout, OutputFormat::Csv)
        );
    }

    #[test]
    fn what_cannot_be_continued_or_would_overwrite_the_input_is_refused() {
        for mode in [RunMode::Resume, RunMode::RetryErrors] {
            let to_stdout = target("cards.csv", &[(&OUTPUT, "-")]).unwrap().check(mode);
            assert!(to_stdout
                .unwrap_err()
                .to_string()
                .contains("standard output"));
            let from_stdin = target("-", &[(&OUTPUT, "out.csv")]).unwrap().check(mode);
            assert!(from_stdin
                .unwrap_err()
                .to_string()
                .contains("standard input"));
        }
        assert!(target("-", &[]).unwrap().check(RunMode::Fresh).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("cards.csv");
        std::fs::write(&input, "card\n").unwrap();
        let shown = input.display().to_string();
        let over = target(&shown, &[(&OUTPUT, &shown)]).unwrap();
        let err = over.check(RunMode::New).unwrap_err().to_string();
        assert!(err.contains("is the input itself"), "{err}");
    }
}
