//! One screening run, as the data flows: lock the output → prepare (input, output, journal,
//! endpoint) → start (pool, reader thread, progress, signals) → collect (rows written in input
//! order) → settle (output renamed into place, summary, then the journal removed; exit code).

mod feed;
mod prepare;
mod record;
mod signals;

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use csv::ByteRecord;
use tokio::sync::mpsc;

use self::feed::{Feed, FeedEnd};
use crate::call::{is_cleartext_remote, Client, ClientError, ClientOptions, Pacer, Pool};
use crate::cli::{RunMode, Settings};
use crate::control::{Control, NextRun};
use crate::dedup::{CardIndex, Claim};
use crate::input::planner::{Checked, Planner};
use crate::input::{Header, InputError, InputReader, InputSource};
use crate::output::{
    added_names, CollectError, Collected, Collector, Journal, JournalError, LockFailure,
    OutputFormat, OutputLock, OutputSink, OutputTarget, PriorError, SinkOptions, CELL_CHARS,
    SHEET_ROWS,
};
use crate::report::{DryRun, Metrics, Pace, Progress, Sample, Summary};
#[cfg(feature = "simulator")]
use crate::simulator::{self, RunningSimulator, SimulatorConfig};
use crate::store::{Store, StoreError, StoreReader, StoreWriter};
use crate::util::clock::unix_now;

/// How many rows may wait between the oldest unwritten row and the newest read one. Bounds the
/// memory of the reorder buffer whatever the file size (a row is a few hundred bytes).
const REORDER_WINDOW: usize = 8192;
/// Batches in the row channel at most (256 rows).
const ROW_CHANNEL: usize = 4;
const RESULT_CHANNEL: usize = 1024;

/// A problem found before any call, or one that ends the run as a whole (exit 2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Prior(#[from] PriorError),
    #[error("the output would get a column {name:?} that the input already has; pass --prefix (for example --prefix screen_)")]
    NameClash { name: String },
    #[error("an unfinished run for {output} exists ({journal}); pass --resume to continue it, or --fresh to discard it and start over")]
    Unfinished { output: String, journal: String },
    #[error("--retry-errors needs the output of a completed run, and {0} does not exist; run without --retry-errors first")]
    NothingToRetry(String),
    #[error("an unfinished run for {0} exists; finish it with --resume before --retry-errors")]
    RetryWhileUnfinished(String),
    #[error("another cardscreen run ({holder}) is writing {output}; let it finish (or stop it) before starting another run on the same output")]
    Locked { holder: String, output: String },
    #[error("cannot write {path}: {source}")]
    Output { path: String, source: io::Error },
    #[error("the input has {rows} data rows, but a workbook sheet holds {} below its header; write CSV instead (-o NAME.csv or --output-format csv)", SHEET_ROWS - 1)]
    TooManyRows { rows: u64 },
    #[error("data row {row}, column {column} holds {chars} characters, more than a workbook cell holds ({CELL_CHARS}); write CSV instead (-o NAME.csv or --output-format csv)")]
    CellTooLong {
        row: u64,
        column: usize,
        chars: usize,
    },
    #[error("cannot write the metrics file {path}: {source}; check --metrics")]
    Metrics { path: String, source: io::Error },
    #[cfg(feature = "simulator")]
    #[error("cannot start the built-in simulator: {0}")]
    Simulator(io::Error),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Collect(#[from] CollectError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{0}; the results are kept in the journal: fix the store, then run again with --resume"
    )]
    StoreWrite(StoreError),
}

/// How a run that got under way ended.
struct Ended {
    exit_code: i32,
    /// `None` when it ended before a summary (a dry run).
    summary: Option<Summary>,
}

/// Screens the input as the settings say and returns the exit code. With `--metrics`, the
/// metrics file tells how the run ended, whatever the end.
pub(crate) async fn screen(settings: Settings) -> Result<i32, RunError> {
    let started = (Instant::now(), SystemTime::now());
    let control = Arc::new(Control::new(settings.max_calls, next_run(&settings)));
    let metrics = match &settings.metrics {
        Some(path) if !settings.dry_run => Some(Arc::new(Metrics::new(
            path.clone(),
            settings.output.to_string(),
            started.0,
        ))),
        _ => None,
    };
    let ended = run(&settings, &control, started, metrics.clone()).await;
    if let Ok(Ended {
        summary: Some(summary),
        ..
    }) = &ended
    {
        record::record(&settings, started.1, summary);
    }
    if let Some(metrics) = metrics {
        let sample = match &ended {
            Ok(Ended {
                summary: Some(summary),
                ..
            }) => Sample::of_summary(summary, &control),
            Ok(Ended { exit_code, .. }) => Sample::now(&control, started.0, Some(*exit_code)),
            // Already said: the file cannot be written.
            Err(RunError::Metrics { .. }) => return ended.map(|e| e.exit_code),
            Err(_) => Sample::now(&control, started.0, Some(2)),
        };
        if let Err(error) = metrics.write_final(&sample) {
            tracing::warn!(%error, "Could not write the metrics file.");
        }
    }
    ended.map(|ended| ended.exit_code)
}

/// The run itself: prepare → start → collect → settle.
async fn run(
    settings: &Settings,
    control: &Arc<Control>,
    started: (Instant, SystemTime),
    metrics: Option<Arc<Metrics>>,
) -> Result<Ended, RunError> {
    let _lock = lock_output(settings)?;
    let bytes_read = Arc::clone(&control.counters.bytes_read);
    let mut input = InputReader::open(&settings.input, bytes_read)?;
    check_added_columns(&input.header, &settings.sink)?;
    if settings.dry_run {
        let exit_code = dry_run(settings, &mut input)?;
        return Ok(Ended {
            exit_code,
            summary: None,
        });
    }
    check_workbook_fits(settings, &input)?;
    // Written before any call, so that the monitoring sees the run under way (exit code -1)
    // and an unwritable path stops the run before it pays for anything.
    if let (Some(metrics), Some(path)) = (&metrics, &settings.metrics) {
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
    let mut prepared = prepare::prepare(settings, &input, &index)?;
    let scratch_dir = prepared.paths.as_ref().map(prepare::OutputPaths::directory);
    let sink = OutputSink::new(prepared.writer, &input.header, &settings.sink, scratch_dir)
        .map_err(|source| output_error(&settings.output, source))?;
    let (changes, changes_paths) = prepared.changes.take().unzip();
    // A resumed run keeps the time of the run it continues.
    let (store_reader, store_writer) = connect_store(store.as_ref(), prepared.journal.started())?;

    let (results_tx, results_rx) = mpsc::channel(RESULT_CHANNEL);
    let (rows_tx, rows_rx) = mpsc::channel(ROW_CHANNEL);
    let pool = Pool::new(
        Client::new(&endpoint.client)?,
        Pacer::new(settings.pacer),
        Arc::clone(control),
        settings.pool,
        results_tx,
        tokio::runtime::Handle::current(),
    );
    let watch = Watch::start(control, input.total_bytes, settings, metrics);
    let planner = Planner::new(
        &input.header,
        settings.luhn,
        Arc::clone(&index),
        store_reader,
    );
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
        index,
        journal: prepared.journal,
        sink: Some(sink),
        partial: prepared.paths.as_ref().map(|paths| paths.partial.clone()),
        flush_rows: settings.output == OutputTarget::Stdout,
        window: REORDER_WINDOW,
        max_consecutive_failures: settings.max_consecutive_failures,
        store: store_writer.as_ref().map(StoreWriter::feed),
        changes,
    };
    let collected = collect(collector, rows_rx, results_rx, control).await;
    let feed_end = feed::join(feed).await;
    watch.finish();
    // Everything the collector handed the store is committed before the journal may go.
    if let Some(writer) = store_writer {
        writer.finish().await.map_err(RunError::StoreWrite)?;
    }
    let paths = Paths {
        output: prepared.paths,
        changes: changes_paths,
    };
    let ended = conclude(settings, collected?, &feed_end, paths, control, started)?;
    endpoint.close().await;
    Ok(ended)
}

/// After the last row: the exit code judged, the output settled, the summary shown and
/// written, and only then the journal of a completed run removed.
fn conclude(
    settings: &Settings,
    collected: Collected,
    feed_end: &FeedEnd,
    paths: Paths,
    control: &Control,
    started: (Instant, SystemTime),
) -> Result<Ended, RunError> {
    let (exit_code, complete) = judge(settings, &collected, feed_end, control);
    let summary = Summary::new(
        &collected.tally,
        control,
        feed_end.counts,
        started,
        exit_code,
        complete,
        settings.input.source.to_string(),
        settings.output.to_string(),
        settings.store.is_some(),
    );
    let finished_journal = settle(settings, collected, complete, paths, &summary)?;
    report(settings, &summary);
    // Only after the summary: a run that dies before this point leaves its journal, and a
    // scheduler's --resume then finishes from it without a call rather than paying again.
    if let Some(Err(e)) = finished_journal.map(Journal::remove) {
        tracing::warn!(error = %e, "Could not remove the journal of the completed run.");
    }
    Ok(Ended {
        exit_code,
        summary: Some(summary),
    })
}

/// Takes the output's lock before anything is read or discarded, and holds it for the run.
/// Standard output needs none, nor does a dry run, which writes nothing.
fn lock_output(settings: &Settings) -> Result<Option<OutputLock>, RunError> {
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

/// What watches the run while it goes: the progress display and the signal handler.
struct Watch {
    progress: Progress,
    signals: tokio::task::JoinHandle<()>,
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
        }
    }

    fn finish(self) {
        self.progress.finish();
        self.signals.abort();
    }
}

/// The summary on stderr, and as JSON with `--summary`. Failing to write it is a warning:
/// the run has earned its exit code, and the output is what a scheduler acts on.
fn report(settings: &Settings, summary: &Summary) {
    // Not `eprint!`, which panics when stderr is gone (the terminal hung up).
    let _ = io::stderr().write_all(summary.render().as_bytes());
    if let Some(path) = &settings.summary {
        if let Err(e) = prepare::write_summary(path, summary) {
            tracing::warn!(summary = %path.display(), error = %e, "Could not write the summary; the run's result and exit code stand.");
        }
    }
}

/// How a stopped run is continued, for the advice it prints.
fn next_run(settings: &Settings) -> NextRun {
    match (&settings.input.source, &settings.output, settings.mode) {
        (InputSource::Stdin, _, _) | (_, OutputTarget::Stdout, _) => NextRun::StartOver,
        (_, _, RunMode::RetryErrors) => NextRun::RetryErrors,
        _ => NextRun::Resume,
    }
}

fn check_added_columns(header: &Header, sink: &SinkOptions) -> Result<(), RunError> {
    let mut added = added_names(&sink.prefix, sink.store_columns);
    match added.find(|name| header.names.iter().any(|n| n == name.as_bytes())) {
        Some(name) => Err(RunError::NameClash { name }),
        None => Ok(()),
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

/// The endpoint the run calls, and the built-in simulator behind it when there is one.
struct Endpoint {
    client: ClientOptions,
    #[cfg(feature = "simulator")]
    simulator: Option<RunningSimulator>,
}

impl Endpoint {
    /// The configured endpoint, or with `--simulate` a simulator started on a loopback port
    /// (a build without the simulator refuses `--simulate` in the settings).
    async fn open(settings: &Settings) -> Result<Endpoint, RunError> {
        #[allow(unused_mut)]
        let mut endpoint = Endpoint {
            client: settings.client.clone(),
            #[cfg(feature = "simulator")]
            simulator: None,
        };
        #[cfg(feature = "simulator")]
        if settings.simulate {
            let config = SimulatorConfig {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                ..Default::default()
            };
            let running = simulator::start(config)
                .await
                .map_err(RunError::Simulator)?;
            tracing::info!(endpoint = %running.endpoint(), "Screening against the built-in simulator.");
            endpoint.client.endpoint = running.endpoint();
            endpoint.client.key = secrecy::SecretString::from(SimulatorConfig::default().key);
            endpoint.simulator = Some(running);
        }
        if is_cleartext_remote(&endpoint.client.endpoint) {
            tracing::warn!("The endpoint uses plain http:// to a remote host: card numbers and the key travel in clear text. Use https://.");
        }
        Ok(endpoint)
    }

    async fn close(self) {
        #[cfg(feature = "simulator")]
        if let Some(simulator) = self.simulator {
            simulator.shutdown().await;
        }
    }
}

/// Runs the collector on the runtime's workers, beside the calls whose results it takes,
/// rather than on this thread: waking this thread for every result cost a futex call and a
/// context switch. When it fails, the reader and the pool are stopped.
async fn collect(
    collector: Collector,
    rows: mpsc::Receiver<Vec<crate::outcome::Row>>,
    results: mpsc::Receiver<crate::call::Finished>,
    control: &Control,
) -> Result<Collected, CollectError> {
    let collected = match tokio::spawn(collector.run(rows, results)).await {
        Ok(collected) => collected,
        Err(joined) => std::panic::resume_unwind(joined.into_panic()),
    };
    if collected.is_err() {
        control.stop(crate::control::StopReason::Input {
            message: "the output could not be written".into(),
        });
    }
    collected
}

/// Whether the run completed, and its exit code.
fn judge(
    settings: &Settings,
    collected: &Collected,
    feed_end: &FeedEnd,
    control: &Control,
) -> (i32, bool) {
    let complete =
        feed_end.eof && collected.all_written && collected.rows_received == feed_end.rows;
    if !complete {
        return (control.stop_reason().map_or(2, |r| r.exit_code()), false);
    }
    let tally = &collected.tally;
    let exit_code = if tally.errors > 0 {
        3
    } else if settings.fail_on_hit && tally.hits > 0 {
        1
    } else {
        0
    };
    (exit_code, true)
}

/// The files written until the run completes: the output (`None` for standard output) and
/// `--changes`.
struct Paths {
    output: Option<prepare::OutputPaths>,
    changes: Option<prepare::OutputPaths>,
}

/// A complete run gets its output finished (a workbook with the summary as its second sheet)
/// and renamed into place, `--changes` too, and hands back its journal, to remove once the
/// summary is written; a stopped one keeps the journal for `--resume` and drops its partial
/// files.
fn settle(
    settings: &Settings,
    collected: Collected,
    complete: bool,
    paths: Paths,
    summary: &Summary,
) -> Result<Option<Journal>, RunError> {
    let sink = match collected.sink {
        Some(sink) if complete => sink,
        unfinished => {
            drop(unfinished);
            drop(collected.changes);
            drop(collected.journal);
            for paths in paths.output.iter().chain(&paths.changes) {
                let _ = std::fs::remove_file(&paths.partial);
            }
            return Ok(None);
        }
    };
    if let (Some(changes), Some(changes_paths)) = (collected.changes, &paths.changes) {
        changes
            .finish(&[])
            .and_then(|()| prepare::settle_output(changes_paths))
            .map_err(|source| RunError::Output {
                path: changes_paths.output.display().to_string(),
                source,
            })?;
    }
    let finished = sink
        .finish(&summary.figures())
        .and_then(|()| paths.output.as_ref().map_or(Ok(()), prepare::settle_output));
    finished.map_err(|source| output_error(&settings.output, source))?;
    Ok(Some(collected.journal))
}

/// A workbook output must fit in one sheet, which is known before the first call and not after
/// the last. Every output row comes from its own sheet row, the header from the header, so a
/// workbook read with its header fits by itself; a CSV (or a headerless sheet) is counted in
/// one more pass over the file, the price of refusing before anything is paid for.
fn check_workbook_fits(settings: &Settings, input: &InputReader) -> Result<(), RunError> {
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

fn output_error(output: &OutputTarget, source: io::Error) -> RunError {
    RunError::Output {
        path: output.to_string(),
        source,
    }
}

/// The store a dry run looks cards up in: only an existing one, opened with its key, and only
/// when `--max-age` lets it answer. A dry run creates nothing.
fn dry_run_store(settings: &Settings) -> Result<Option<StoreReader>, RunError> {
    let Some(options) = &settings.store else {
        return Ok(None);
    };
    match Store::open_existing(options)? {
        Some(store) => {
            let reader = store.reader(unix_now())?;
            Ok(reader.reuses().then_some(reader))
        }
        None => Ok(None),
    }
}

/// `--dry-run`: read and check the whole file, count, estimate; no call.
fn dry_run(settings: &Settings, input: &mut InputReader) -> Result<i32, RunError> {
    let distinct = Arc::new(CardIndex::new());
    let mut planner = Planner::new(&input.header, settings.luhn, Arc::clone(&distinct), None);
    let mut store = dry_run_store(settings)?;
    let mut record = ByteRecord::new();
    let mut counts = DryRun {
        from_store: store.as_ref().map(|_| 0),
        ..DryRun::default()
    };
    while input.next_row(&mut record)? {
        counts.rows += 1;
        match planner.check(&record, input.card_cell()) {
            Checked::Settled(outcome) => {
                let reason = outcome.reason.map_or("other", |r| r.as_str());
                *counts.invalid_by_reason.entry(reason).or_default() += 1;
            }
            Checked::Card(card) if distinct.claim(card.code()) != Claim::Call => {
                counts.duplicates += 1;
            }
            Checked::Card(card) => {
                if let (Some(store), Some(from_store)) = (&mut store, &mut counts.from_store) {
                    let key = store.key(&card);
                    if store.latest(&key)?.is_some_and(|l| store.is_fresh(&l)) {
                        *from_store += 1;
                    }
                }
            }
        }
    }
    counts.distinct_cards = distinct.len() as u64;
    counts.luhn_warnings = planner.luhn_warnings();
    let pace = Pace {
        rate: settings.pacer.rate,
        concurrency: settings.pool.concurrency,
        price_per_call: settings.price_per_call,
    };
    print!(
        "{}",
        counts.render(&settings.input.source.to_string(), pace)
    );
    Ok(0)
}
