//! Where the output goes (a file or standard output) and in which format, as the settings
//! chose them.

use std::path::PathBuf;

/// How the output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    /// Delimited text, in the input's delimiter.
    Csv,
    /// An Excel workbook, every input cell kept as text.
    Xlsx,
}

impl OutputFormat {
    /// The file extension, also the word `--output-format` takes.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Xlsx => "xlsx",
        }
    }
}

/// Where the output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutputTarget {
    Path(PathBuf),
    Stdout,
}

impl std::fmt::Display for OutputTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputTarget::Path(path) => write!(f, "{}", path.display()),
            OutputTarget::Stdout => f.write_str("standard output"),
        }
    }
}
