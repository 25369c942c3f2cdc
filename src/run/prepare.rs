//! Before the first call: the journal the run mode asks for (new, resumed, or a scratch one
//! for runs that cannot be continued), the file the output is written to until the run
//! completes, and the earlier output `--retry-errors` keeps results from. After the last row:
//! the output renamed into place and the summary written.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::RunError;
use crate::cli::{RunMode, Settings};
use crate::dedup::CardIndex;
use crate::input::{InputError, InputReader, InputSource};
use crate::output::{
    files, Fingerprint, InputStamp, Journal, OutputSink, OutputTarget, PriorOutput,
};
use crate::report::Summary;
use crate::store::unix_now;

/// The output file is written through a buffer this large.
const OUTPUT_BUFFER: usize = 64 * 1024;

/// The output file while the run goes, and its final name.
pub(super) struct OutputPaths {
    pub(super) partial: PathBuf,
    pub(super) output: PathBuf,
}

pub(super) struct Prepared {
    pub(super) writer: Box<dyn Write + Send>,
    pub(super) journal: Journal,
    /// `None` when the output is standard output.
    pub(super) paths: Option<OutputPaths>,
    pub(super) prior: Option<PriorOutput>,
    /// `--changes`: its rows' sink, and where they are written until the run completes.
    pub(super) changes: Option<(OutputSink, OutputPaths)>,
}

/// Opens the journal the run mode asks for and the file the output is written to.
pub(super) fn prepare(
    settings: &Settings,
    input: &InputReader,
    index: &CardIndex,
) -> Result<Prepared, RunError> {
    let changes = match settings.changes.as_deref() {
        Some(path) => Some(changes_sink(path, input, settings)?),
        None => None,
    };
    let output = match &settings.output {
        OutputTarget::Stdout => {
            return Ok(Prepared {
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
    Ok(Prepared {
        writer,
        journal,
        paths: Some(paths),
        prior,
        changes,
    })
}

/// The `--changes` file: the output's columns, a header even when no row follows.
fn changes_sink(
    path: &Path,
    input: &InputReader,
    settings: &Settings,
) -> Result<(OutputSink, OutputPaths), RunError> {
    let (writer, paths) = partial_file(path)?;
    let sink = OutputSink::new(writer, &input.header, &settings.sink).map_err(|source| {
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
    let file = files::create_private(&partial).map_err(|source| RunError::Output {
        path: partial.display().to_string(),
        source,
    })?;
    let paths = OutputPaths {
        partial,
        output: output.to_path_buf(),
    };
    Ok((
        Box::new(BufWriter::with_capacity(OUTPUT_BUFFER, file)),
        paths,
    ))
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
    let unfinished = journal_path.exists();
    let shown = || output.display().to_string();
    match settings.mode {
        RunMode::New if unfinished => Err(RunError::Unfinished {
            output: shown(),
            journal: journal_path.display().to_string(),
        }),
        RunMode::RetryErrors if unfinished => Err(RunError::RetryWhileUnfinished(shown())),
        RunMode::RetryErrors if !output.is_file() => Err(RunError::NothingToRetry(shown())),
        RunMode::RetryErrors => {
            let prior = PriorOutput::open(
                output,
                settings.input.delimiter,
                &settings.sink.prefix,
                settings.sink.store_columns,
            )?;
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
        prefix: settings.sink.prefix.clone(),
        mask: settings.sink.mask,
        luhn: settings.luhn.as_str().to_string(),
        store: settings.store.is_some(),
        max_age_seconds: settings.store.as_ref().map_or(0, |s| s.max_age.as_secs()),
    })
}

/// Renames the finished output into place, durably.
pub(super) fn settle_output(paths: &OutputPaths) -> io::Result<()> {
    std::fs::File::open(&paths.partial)?.sync_all()?;
    std::fs::rename(&paths.partial, &paths.output)?;
    files::sync_parent(&paths.output);
    Ok(())
}

/// Writes the JSON summary beside its final name and renames it into place.
pub(super) fn write_summary(path: &Path, summary: &Summary) -> io::Result<()> {
    files::write_atomically(path, |file| {
        serde_json::to_writer_pretty(&mut *file, summary).map_err(io::Error::other)?;
        file.write_all(b"\n")
    })
}
