//! Workbooks (.xlsx, .xlsm, .xlsb, .xls, .ods): bounded before they are read, then one
//! sheet's cells turned into rows of text, so that the rest of the input stage sees what it
//! sees for a CSV.

mod guard;
mod held;
mod records;
mod render;
mod rows;
mod sheet;
mod xls_formula;

pub(crate) use rows::Mark;
pub(crate) use sheet::SheetRows;
