//! What is checked before anything is paid for: the output's lock, the input opened with its
//! header, and whether the output can hold what the input holds.

use std::sync::Arc;

use super::RunError;
use crate::cli::Settings;
use crate::control::Control;
use crate::header::Header;
use crate::input::{InputReader, InputSource};
use crate::output::{
    added_names, LockFailure, OutputFormat, OutputLock, OutputTarget, SinkOptions, CELL_CHARS,
    SHEET_ROWS,
};

/// Takes the output's lock before anything is read or discarded, and holds it for the run.
/// Standard output needs none, nor does a dry run, which writes nothing.
pub(super) fn lock_output(settings: &Settings) -> Result<Option<OutputLock>, RunError> {
    let OutputTarget::Path(output) = &settings.output else {
        return Ok(None);
    };
    if settings.dry_run {
        return Ok(None);
    }
    match OutputLock::acquire(output) {
        Ok(lock) => Ok(Some(lock)),
        Err(LockFailure::Held { pid }) => Err(RunError::Locked {
            holder: pid.map_or_else(|| "pid unknown".to_string(), |pid| format!("pid {pid}")),
            output: output.display().to_string(),
        }),
        Err(LockFailure::Io { path, source }) => Err(RunError::Output {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The input with its header read, refused when the columns the output adds are there already.
pub(super) fn open_input(settings: &Settings, control: &Control) -> Result<InputReader, RunError> {
    let bytes_read = Arc::clone(&control.counters.bytes_read);
    let input = InputReader::open(&settings.input, bytes_read)?;
    check_added_columns(&input.header, &settings.sink)?;
    Ok(input)
}

fn check_added_columns(header: &Header, sink: &SinkOptions) -> Result<(), RunError> {
    let mut added = added_names(&sink.prefix, sink.store_columns);
    match added.find(|name| header.names.iter().any(|n| n == name.as_bytes())) {
        Some(name) => Err(RunError::NameClash { name }),
        None => Ok(()),
    }
}

/// A workbook output must fit in one sheet, which is known before the first call and not after
/// the last. Every output row comes from its own sheet row, the header from the header, so a
/// workbook read with its header fits by itself; a CSV (or a headerless sheet) is counted in
/// one more pass over the file, the price of refusing before anything is paid for.
pub(super) fn check_workbook_fits(
    settings: &Settings,
    input: &InputReader,
) -> Result<(), RunError> {
    let InputSource::Path(path) = &settings.input.source else {
        // Settings refuse a workbook output for standard input.
        return Ok(());
    };
    if settings.sink.format != OutputFormat::Xlsx
        || (input.sheet.is_some() && !settings.input.no_header)
    {
        return Ok(());
    }
    let count = input.count_rows(path, &settings.input)?;
    if count.rows + 1 > SHEET_ROWS {
        return Err(RunError::TooManyRows { rows: count.rows });
    }
    let (chars, row, column) = count.longest_cell;
    if chars > CELL_CHARS {
        return Err(RunError::CellTooLong { row, column, chars });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_added_column_the_input_has_already_is_refused() {
        let header = Header {
            names: vec![b"card".to_vec(), b"screen_status".to_vec()],
            card_index: 0,
        };
        let sink = |prefix: &str| SinkOptions {
            format: OutputFormat::Csv,
            delimiter: b',',
            prefix: prefix.to_string(),
            excel: false,
            mask: false,
            store_columns: false,
            line_end: crate::header::LineEnd::Lf,
        };
        let refused = check_added_columns(&header, &sink("screen_"));
        assert!(
            matches!(&refused, Err(RunError::NameClash { name }) if name == "screen_status"),
            "{refused:?}"
        );
        assert!(check_added_columns(&header, &sink("")).is_ok());
    }
}
