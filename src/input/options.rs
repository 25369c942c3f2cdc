//! How to read the input, as the settings chose it: where the rows come from, the card
//! column as the user named it, the encoding, and the rest of `InputOptions`.

use std::fmt;
use std::path::PathBuf;

/// Where the rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// A file, read twice: once to settle its encoding, once to screen it.
    Path(PathBuf),
    /// `-`: read once, its encoding judged by its start.
    Stdin,
}

impl fmt::Display for InputSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputSource::Path(path) => write!(f, "{}", path.display()),
            InputSource::Stdin => f.write_str("standard input"),
        }
    }
}

/// The card column as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSpec {
    /// A header name, matched exactly first, then ignoring case.
    Name(String),
    /// 1-based, as the user wrote it.
    Index(usize),
}

impl fmt::Display for ColumnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnSpec::Name(name) => write!(f, "{name}"),
            ColumnSpec::Index(index) => write!(f, "{index}"),
        }
    }
}

/// `--encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingChoice {
    /// UTF-8 when the bytes are UTF-8 (or start with its BOM), else GB18030.
    Auto,
    /// UTF-8, with or without a BOM.
    Utf8,
    /// GBK, as Chinese Excel writes it.
    Gbk,
    /// GB18030.
    Gb18030,
}

/// How to read the input: everything the reader needs and nothing else.
#[derive(Debug, Clone)]
pub struct InputOptions {
    /// Where the rows come from.
    pub source: InputSource,
    /// The card column; `None` finds it from the header (or, without one, from the first row).
    pub column: Option<ColumnSpec>,
    /// The first row is data.
    pub no_header: bool,
    /// The field delimiter, one byte.
    pub delimiter: u8,
    /// How the bytes are decoded.
    pub encoding: EncodingChoice,
    /// The sheet of a workbook, by name or 1-based number; `None` takes the first visible one.
    pub sheet: Option<String>,
}
