//! The run's first step: everything opened and checked before the first call, so that a
//! problem with the output, the journal, the store or the metrics file costs nothing.

use std::sync::Arc;

use super::endpoint::Endpoint;
use super::error::output_error;
use super::files::{self, OutputPaths, Paths};
use super::{checks, survey, RunError};
use crate::cli::Settings;
use crate::control::Control;
use crate::dedup::CardIndex;
use crate::input::planner::Levels;
use crate::input::InputReader;
use crate::output::{Journal, OutputSink, PriorOutput, SinkOptions};
use crate::report::Metrics;
use crate::store::{Store, StoreReader, StoreWriter};

/// What `prepare` hands `start`: the input open at its first row, the output and the journal
/// open, the store connected, the endpoint up; nothing paid for yet.
pub(super) struct Prepared {
    pub(super) input: InputReader,
    /// Card → journal offset; a resumed run's journal has filled it already.
    pub(super) index: Arc<CardIndex>,
    pub(super) journal: Journal,
    pub(super) sink: OutputSink,
    /// `--changes`: its rows' sink.
    pub(super) changes: Option<OutputSink>,
    /// The earlier output, read row for row beside the input (`--retry-errors`).
    pub(super) prior: Option<PriorOutput>,
    pub(super) paths: Paths,
    /// How the planner judges the cards: tonight's plan, and the deadline's fallback.
    pub(super) levels: Option<Levels>,
    /// The store's reader, for the planner, and its writer thread, for the collector.
    pub(super) store_reader: Option<StoreReader>,
    pub(super) store_writer: Option<StoreWriter>,
    pub(super) endpoint: Endpoint,
}

/// Opens, in this order, what the run needs before its first call.
pub(super) async fn prepare(
    settings: &Settings,
    input: InputReader,
    control: &Control,
    metrics: Option<&Metrics>,
) -> Result<Prepared, RunError> {
    checks::check_workbook_fits(settings, &input)?;
    // Written before any call, so that the monitoring sees the run under way (exit code -1)
    // and an unwritable path stops the run before it pays for anything.
    if let (Some(metrics), Some(path)) = (metrics, &settings.metrics) {
        metrics
            .write_running(control)
            .map_err(|source| RunError::Metrics {
                path: path.display().to_string(),
                source,
            })?;
    }
    let store = open_store(settings).await?;
    let endpoint = Endpoint::open(settings).await?;
    let index = Arc::new(CardIndex::new());
    let mut files = files::open(settings, &input, &index)?;
    let scratch_dir = files.paths.as_ref().map(OutputPaths::directory);
    let options = SinkOptions {
        line_end: input.line_end(),
        ..settings.sink.clone()
    };
    let sink = OutputSink::new(files.writer, &input.header, &options, scratch_dir)
        .map_err(|source| output_error(&settings.output, source))?;
    let (changes, changes_paths) = files.changes.take().unzip();
    // A resumed run keeps the time of the run it continues.
    let now = files.journal.started();
    let levels = survey::levels(settings, store.as_ref(), now)?;
    let (store_reader, store_writer) = connect_store(store.as_ref(), now)?;
    Ok(Prepared {
        input,
        index,
        journal: files.journal,
        sink,
        changes,
        prior: files.prior,
        paths: Paths {
            output: files.paths,
            changes: changes_paths,
        },
        levels,
        store_reader,
        store_writer,
        endpoint,
    })
}

/// The store, checked against its key (or created with one) before any call; SQLite's file
/// work happens off the runtime.
async fn open_store(settings: &Settings) -> Result<Option<Store>, RunError> {
    let Some(options) = settings.store.clone() else {
        return Ok(None);
    };
    match tokio::task::spawn_blocking(move || Store::open(&options)).await {
        Ok(opened) => Ok(Some(opened?)),
        Err(joined) => std::panic::resume_unwind(joined.into_panic()),
    }
}

/// The store's reader, for the reader thread, and its writer thread, both with the run's time.
fn connect_store(
    store: Option<&Store>,
    now: u64,
) -> Result<(Option<StoreReader>, Option<StoreWriter>), RunError> {
    match store {
        Some(store) => Ok((
            Some(store.reader(now)?),
            Some(StoreWriter::start(store, now)?),
        )),
        None => Ok((None, None)),
    }
}
