//! The run's files. Before the first call: the journal the run mode asks for (new, resumed, or
//! a scratch one for runs that cannot be continued), the files written until the run completes,
//! and the earlier output `--retry-errors` keeps results from. After the last row: the output
//! renamed into place and the summary written.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::RunError;
use crate::cli::{RunMode, Settings};
use crate::dedup::CardIndex;
use crate::input::format::{self, Format};
use crate::input::workbook::SheetRows;
use crate::input::{InputError, InputReader, InputSource};
use crate::output::{
    Fingerprint, InputStamp, Journal, OutputFormat, OutputSink, OutputTarget, PriorError,
    PriorOutput, SinkOptions,
};
use crate::util::clock::unix_now;
use crate::util::files;

/// The output file is written through a buffer this large.
const OUTPUT_BUFFER: usize = 64 * 1024;

/// The output file while the run goes, and its final name.
pub(super) struct OutputPaths {
    pub(super) partial: PathBuf,
    /// The partial file as created, to sync it before the rename without opening it by name.
    pub(super) partial_file: std::fs::File,
    pub(super) output: PathBuf,
}

impl OutputPaths {
    /// The output's directory, where a workbook output keeps its cells until it is saved.
    pub(super) fn directory(&self) -> &Path {
        match self.output.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }
}

/// The files of a run, opened before its first call.
pub(super) struct Files {
    pub(super) writer: Box<dyn Write + Send>,
    pub(super) journal: Journal,
    /// `None` when the output is standard output.
    pub(super) paths: Option<OutputPaths>,
    pub(super) prior: Option<PriorOutput>,
    /// `--changes`: its rows' sink, and where they are written until the run completes.
    pub(super) changes: Option<(OutputSink, OutputPaths)>,
}

/// The files written until the run completes: the output (`None` for standard output) and
/// `--changes`.
pub(super) struct Paths {
    pub(super) output: Option<OutputPaths>,
    pub(super) changes: Option<OutputPaths>,
}

/// Opens the journal the run mode asks for and the file the output is written to.
pub(super) fn open(
    settings: &Settings,
    input: &InputReader,
    index: &CardIndex,
) -> Result<Files, RunError> {
    check_summary(settings)?;
    let changes = match settings.changes.as_deref() {
        Some(path) => Some(changes_sink(path, input, settings)?),
        None => None,
    };
    let output = match &settings.output {
        OutputTarget::Stdout => {
            return Ok(Files {
                writer: Box::new(BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout())),
                journal: scratch_journal()?,
                paths: None,
                prior: None,
                changes,
            });
        }
        OutputTarget::Path(path) => path.clone(),
    };
    let (journal, prior) = match &settings.input.source {
        // Standard input cannot be read again, so there is nothing to resume: the journal only
        // serves deduplication.
        InputSource::Stdin => (scratch_journal()?, None),
        InputSource::Path(input_path) => open_journal(settings, input, index, input_path, &output)?,
    };
    let (writer, paths) = partial_file(&output)?;
    Ok(Files {
        writer,
        journal,
        paths: Some(paths),
        prior,
        changes,
    })
}

/// The `--changes` file: a CSV with the output's columns, a header even when no row follows.
fn changes_sink(
    path: &Path,
    input: &InputReader,
    settings: &Settings,
) -> Result<(OutputSink, OutputPaths), RunError> {
    let (writer, paths) = partial_file(path)?;
    let options = SinkOptions {
        format: OutputFormat::Csv,
        line_end: input.line_end(),
        ..settings.sink.clone()
    };
    let sink = OutputSink::new(writer, &input.header, &options, None).map_err(|source| {
        RunError::Output {
            path: path.display().to_string(),
            source,
        }
    })?;
    Ok((sink, paths))
}

/// A file written beside its final name until the run completes.
fn partial_file(output: &Path) -> Result<(Box<dyn Write + Send>, OutputPaths), RunError> {
    let partial = files::sibling(output, ".partial");
    let output_error = |source| RunError::Output {
        path: partial.display().to_string(),
        source,
    };
    let file = files::create_private(&partial).map_err(output_error)?;
    let partial_file = file.try_clone().map_err(output_error)?;
    let paths = OutputPaths {
        partial,
        partial_file,
        output: output.to_path_buf(),
    };
    Ok((
        Box::new(BufWriter::with_capacity(OUTPUT_BUFFER, file)),
        paths,
    ))
}

/// The summary is written after the last row; a link planted where its temporary file goes is
/// refused now, before any call, rather than found then.
fn check_summary(settings: &Settings) -> Result<(), RunError> {
    let Some(summary) = &settings.summary else {
        return Ok(());
    };
    let temporary = files::sibling(summary, ".tmp");
    files::check_creatable(&temporary)
        .map(drop)
        .map_err(|source| RunError::Output {
            path: temporary.display().to_string(),
            source,
        })
}

/// The journal of a run on a file: new, resumed, or (for `--retry-errors`) a scratch one with
/// the earlier output to keep results from.
fn open_journal(
    settings: &Settings,
    input: &InputReader,
    index: &CardIndex,
    input_path: &Path,
    output: &Path,
) -> Result<(Journal, Option<PriorOutput>), RunError> {
    let journal_path = Journal::path_for(output);
    // A link standing there counts too: resuming refuses to open it, --fresh replaces it.
    let unfinished = journal_path.symlink_metadata().is_ok();
    let shown = || output.display().to_string();
    match settings.mode {
        RunMode::New if unfinished => Err(RunError::Unfinished {
            output: shown(),
            journal: journal_path.display().to_string(),
        }),
        RunMode::RetryErrors if unfinished => Err(RunError::RetryWhileUnfinished(shown())),
        RunMode::RetryErrors if !output.is_file() => Err(RunError::NothingToRetry(shown())),
        RunMode::RetryErrors => {
            let prior = open_prior(settings, output)?;
            // The earlier output stays in place until this run completes, so a crash here
            // loses only the retried answers: a scratch journal is enough.
            Ok((scratch_journal()?, Some(prior)))
        }
        RunMode::Resume if unfinished => {
            let expected = fingerprint(settings, input, input_path)?;
            let (journal, kept) = Journal::resume(&journal_path, &expected, |code, offset| {
                index.preload(code, offset)
            })?;
            tracing::info!(
                results = kept,
                "Resuming the unfinished run; results already received are not asked for again."
            );
            Ok((journal, None))
        }
        RunMode::Resume | RunMode::New | RunMode::Fresh => {
            if settings.mode == RunMode::Resume {
                tracing::info!("No unfinished run for this output; starting from the beginning.");
            }
            if unfinished {
                tracing::warn!(journal = %journal_path.display(), "Discarding the unfinished run (--fresh).");
            }
            let fingerprint = fingerprint(settings, input, input_path)?;
            let journal = Journal::create(&journal_path, &fingerprint, unix_now())?;
            Ok((journal, None))
        }
    }
}

/// The earlier output `--retry-errors` keeps results from, CSV or workbook by its content.
fn open_prior(settings: &Settings, output: &Path) -> Result<PriorOutput, RunError> {
    let prefix = &settings.sink.prefix;
    let Format::Workbook(kind) = format::of_path(output) else {
        return Ok(PriorOutput::open(
            output,
            settings.input.delimiter,
            prefix,
            settings.sink.store_columns,
        )?);
    };
    let mut rows = SheetRows::open(output, kind, None).map_err(|e| PriorError::Unreadable {
        path: output.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let read = Box::new(move |record: &mut csv::ByteRecord| {
        rows.read(record)
            .map(|row| row.is_some())
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    Ok(PriorOutput::from_rows(
        read,
        output,
        prefix,
        settings.sink.store_columns,
    )?)
}

fn scratch_journal() -> Result<Journal, RunError> {
    Journal::scratch(unix_now()).map_err(|source| RunError::Output {
        path: "(temporary journal)".into(),
        source,
    })
}

/// What a resumed run must find unchanged: the input, and every setting that shapes the output.
fn fingerprint(
    settings: &Settings,
    input: &InputReader,
    path: &Path,
) -> Result<Fingerprint, RunError> {
    let stamp = InputStamp::of(path).map_err(|source| InputError::Unreadable {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Fingerprint {
        input: stamp,
        column: settings
            .input
            .column
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        card_index: input.header.card_index,
        no_header: settings.input.no_header,
        delimiter: settings.input.delimiter,
        encoding: input.encoding.name().to_string(),
        sheet: input.sheet.clone().unwrap_or_default(),
        prefix: settings.sink.prefix.clone(),
        mask: settings.sink.mask,
        luhn: settings.luhn.as_str().to_string(),
        store: settings.store.is_some(),
        max_age_seconds: settings.store.as_ref().map_or(0, |s| s.max_age.as_secs()),
    })
}

/// Renames the finished output into place, durably.
pub(super) fn settle_output(paths: &OutputPaths) -> io::Result<()> {
    paths.partial_file.sync_all()?;
    std::fs::rename(&paths.partial, &paths.output)?;
    files::sync_parent(&paths.output);
    Ok(())
}

/// Writes the JSON summary beside its final name and renames it into place.
pub(super) fn write_summary(path: &Path, summary: &impl serde::Serialize) -> io::Result<()> {
    files::write_atomically(path, |file| {
        serde_json::to_writer_pretty(&mut *file, summary).map_err(io::Error::other)?;
        file.write_all(b"\n")
    })
}
