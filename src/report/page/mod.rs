//! `--report`: the night as one self-contained HTML page (`template`), with its charts
//! (`charts`), the changed rows kept on the way (`changes`) and the store's trend (`data`).

mod advice;
mod changes;
mod charts;
mod data;
mod template;
mod write;

pub(crate) use changes::ChangeRows;
pub(crate) use data::found;
pub(crate) use write::{write_report, write_trend};
