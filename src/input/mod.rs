//! The input stage: opens the input (a CSV file or stdin, whose encoding it settles, or a
//! workbook's sheet), reads the header, finds the card column, then streams the data rows one
//! `ByteRecord` at a time (`reader`). `planner` decides, row by row, whether a row needs a call.

pub mod decode;
mod delimited;
mod error;
pub(crate) mod format;
mod header;
pub(crate) mod level;
pub mod limit;
mod options;
pub(crate) mod planner;
mod reader;
pub(crate) mod workbook;

pub use crate::header::Header;
pub use error::InputError;
pub use options::{ColumnSpec, EncodingChoice, InputOptions, InputSource};
pub use planner::LuhnMode;
pub use reader::{CardCell, InputReader};
