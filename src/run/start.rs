//! The run's second step: the pool of workers, the reader thread, the collector that will take
//! their rows and results, and what watches the run while it goes (progress, signals).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::endpoint::Endpoint;
use super::feed::{Feed, FeedEnd};
use super::files::Paths;
use super::prepare::Prepared;
use super::{signals, RunError};
use crate::call::{Client, Finished, Pacer, Pool};
use crate::cli::Settings;
use crate::control::Control;
use crate::input::planner::Planner;
use crate::outcome::Row;
use crate::output::{Collector, OutputTarget};
use crate::report::{ChangeRows, Metrics, Progress};
use crate::store::StoreWriter;

/// How many rows may wait between the oldest unwritten row and the newest read one. Bounds the
/// memory of the reorder buffer whatever the file size (a row is a few hundred bytes).
const REORDER_WINDOW: usize = 8192;
/// Batches in the row channel at most (256 rows).
const ROW_CHANNEL: usize = 4;
const RESULT_CHANNEL: usize = 1024;

/// What `start` hands `collect`: the reader thread and the pool under way, the collector ready
/// with the two channels it drains, and what the run's end must still finish.
pub(super) struct Running {
    pub(super) collector: Collector,
    pub(super) rows: mpsc::Receiver<Vec<Row>>,
    pub(super) results: mpsc::Receiver<Finished>,
    pub(super) feed: JoinHandle<FeedEnd>,
    pub(super) watch: Watch,
    pub(super) store_writer: Option<StoreWriter>,
    pub(super) paths: Paths,
    pub(super) endpoint: Endpoint,
}

/// Starts the pool and the reader thread; the first call may go as soon as this returns.
pub(super) fn start(
    settings: &Settings,
    control: &Arc<Control>,
    prepared: Prepared,
    metrics: Option<Arc<Metrics>>,
) -> Result<Running, RunError> {
    let (results_tx, results) = mpsc::channel(RESULT_CHANNEL);
    let (rows_tx, rows) = mpsc::channel(ROW_CHANNEL);
    let pool = Pool::new(
        Client::new(&prepared.endpoint.client)?,
        Pacer::new(settings.pacer),
        Arc::clone(control),
        settings.pool,
        results_tx,
        tokio::runtime::Handle::current(),
    );
    let input = prepared.input;
    // Only a store knows what changed.
    let report_changes = (settings.report.is_some() && settings.store.is_some())
        .then(|| ChangeRows::new(&input.header));
    let watch = Watch::start(control, input.total_bytes, settings, metrics);
    let mut planner = Planner::new(
        &input.header,
        settings.luhn,
        Arc::clone(&prepared.index),
        prepared.store_reader,
    );
    if let Some(levels) = prepared.levels {
        planner = planner.with_levels(levels);
    }
    let feed = Feed {
        input,
        planner,
        prior: prepared.prior,
        pool,
        rows: rows_tx,
        control: Arc::clone(control),
    }
    .spawn()
    .map_err(|source| RunError::Output {
        path: "(reader thread)".into(),
        source,
    })?;
    let collector = Collector {
        control: Arc::clone(control),
        index: prepared.index,
        journal: prepared.journal,
        sink: Some(prepared.sink),
        partial: prepared.paths.output.as_ref().map(|p| p.partial.clone()),
        flush_rows: settings.output == OutputTarget::Stdout,
        window: REORDER_WINDOW,
        max_consecutive_failures: settings.max_consecutive_failures,
        store: prepared.store_writer.as_ref().map(StoreWriter::feed),
        changes: prepared.changes,
        report_changes,
    };
    Ok(Running {
        collector,
        rows,
        results,
        feed,
        watch,
        store_writer: prepared.store_writer,
        paths: prepared.paths,
        endpoint: prepared.endpoint,
    })
}

/// What watches the run while it goes: the progress display, the signal handler and the
/// deadline's timer.
pub(super) struct Watch {
    progress: Progress,
    signals: tokio::task::JoinHandle<()>,
    deadline: Option<tokio::task::JoinHandle<()>>,
}

impl Watch {
    fn start(
        control: &Arc<Control>,
        total_bytes: Option<u64>,
        settings: &Settings,
        metrics: Option<Arc<Metrics>>,
    ) -> Watch {
        Watch {
            progress: Progress::start(
                Arc::clone(control),
                total_bytes,
                settings.progress,
                settings.progress_interval,
                metrics,
            ),
            signals: tokio::spawn(signals::watch(Arc::clone(control))),
            deadline: settings
                .levels
                .deadline
                .map(|at| tokio::spawn(deadline(Arc::clone(control), at))),
        }
    }

    pub(super) fn finish(self) {
        self.progress.finish();
        self.signals.abort();
        if let Some(deadline) = self.deadline {
            deadline.abort();
        }
    }
}

/// At `--deadline` the run stops calling: the rows still to come are answered from the store
/// where `--max-stale` allows, the others become errors that name the deadline.
async fn deadline(control: Arc<Control>, at: SystemTime) {
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(left).await;
    tracing::warn!("The deadline (--deadline) has come: no more calls; the rows left are answered from the store where --max-stale allows, else written as errors.");
    control.pass_deadline();
}
