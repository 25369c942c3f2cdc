//! One screening run, as the data flows: prepare (input, output, journal, endpoint) → start
//! (pool, reader thread, progress, signals) → collect (rows written in input order) → settle
//! (output renamed into place, journal removed, summary, exit code). The stages do the work.

mod feed;
mod prepare;
mod signals;

use std::collections::HashSet;
use std::io;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use csv::ByteRecord;
use tokio::sync::mpsc;

use self::feed::{Feed, FeedEnd};
use crate::call::{is_cleartext_remote, Client, ClientError, ClientOptions, Pacer, Pool};
use crate::cli::{RunMode, Settings};
use crate::control::{Control, NextRun};
use crate::dedup::{CardHasher, CardIndex};
use crate::input::planner::{Checked, Planner};
use crate::input::{Header, InputError, InputReader, InputSource};
use crate::output::{
    added_names, CollectError, Collected, Collector, JournalError, OutputSink, OutputTarget,
    PriorError, SinkOptions,
};
use crate::report::{DryRun, Pace, Progress, Summary};
#[cfg(feature = "simulator")]
use crate::simulator::{self, RunningSimulator, SimulatorConfig};
use crate::store::{unix_now, Store, StoreError, StoreReader, StoreWriter};

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
    #[error("cannot write {path}: {source}")]
    Output { path: String, source: io::Error },
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

/// Screens the input as the settings say and returns the exit code.
pub(crate) async fn screen(settings: Settings) -> Result<i32, RunError> {
    let started = (Instant::now(), SystemTime::now());
    let control = Arc::new(Control::new(settings.max_calls, next_run(&settings)));
    let bytes_read = Arc::clone(&control.counters.bytes_read);
    let mut input = InputReader::open(&settings.input, bytes_read)?;
    check_added_columns(&input.header, &settings.sink)?;
    if settings.dry_run {
        return dry_run(&settings, &mut input);
    }
    let store = open_store(&settings).await?;
    let endpoint = Endpoint::open(&settings).await?;
    let index = Arc::new(CardIndex::new());
    let mut prepared = prepare::prepare(&settings, &input, &index)?;
    let sink = OutputSink::new(prepared.writer, &input.header, &settings.sink)
        .map_err(|source| output_error(&settings.output, source))?;
    let (changes, changes_paths) = prepared.changes.take().unzip();
    // A resumed run keeps the time of the run it continues.
    let (store_reader, store_writer) = connect_store(store.as_ref(), prepared.journal.started())?;

    let (results_tx, results_rx) = mpsc::channel(RESULT_CHANNEL);
    let (rows_tx, rows_rx) = mpsc::channel(ROW_CHANNEL);
    let pool = Pool::new(
        Client::new(&endpoint.client)?,
        Pacer::new(settings.pacer),
        Arc::clone(&control),
        settings.pool,
        results_tx,
        tokio::runtime::Handle::current(),
    );
    let watch = Watch::start(&control, input.total_bytes, &settings);
    let planner = Planner::new(
        input.header.card_index,
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
        control: Arc::clone(&control),
    }
    .spawn()
    .map_err(|source| RunError::Output {
        path: "(reader thread)".into(),
        source,
    })?;

    let collector = Collector {
        control: Arc::clone(&control),
        index,
        journal: prepared.journal,
        sink,
        window: REORDER_WINDOW,
        max_consecutive_failures: settings.max_consecutive_failures,
        store: store_writer.as_ref().map(StoreWriter::feed),
        changes,
    };
    let collected = collect(collector, rows_rx, results_rx, &control).await;
    let feed_end = feed::join(feed).await;
    watch.finish();
    // Everything the collector handed the store is committed before the journal may go.
    if let Some(writer) = store_writer {
        writer.finish().await.map_err(RunError::StoreWrite)?;
    }
    let collected = match collected {
        Ok(collected) => collected,
        Err(CollectError::OutputClosed) => return Ok(0),
        Err(e) => return Err(e.into()),
    };

    let tally = collected.tally.clone();
    let paths = Paths {
        output: prepared.paths,
        changes: changes_paths,
    };
    let (exit_code, complete) = settle(&settings, collected, &feed_end, paths, &control)?;
    let ended = (exit_code, complete);
    let summary = summarize(&settings, &tally, &control, feed_end.counts, started, ended);
    report(&settings, &summary)?;
    endpoint.close().await;
    Ok(exit_code)
}

/// What watches the run while it goes: the progress display and the signal handler.
struct Watch {
    progress: Progress,
    signals: tokio::task::JoinHandle<()>,
}

impl Watch {
    fn start(control: &Arc<Control>, total_bytes: Option<u64>, settings: &Settings) -> Watch {
        Watch {
            progress: Progress::start(
                Arc::clone(control),
                total_bytes,
                settings.progress,
                settings.progress_interval,
            ),
            signals: tokio::spawn(signals::watch(Arc::clone(control))),
        }
    }

    fn finish(self) {
        self.progress.finish();
        self.signals.abort();
    }
}

/// The run's summary: `ended` is the exit code and whether the run completed.
fn summarize(
    settings: &Settings,
    tally: &crate::report::Tally,
    control: &Control,
    counts: crate::report::ReaderCounts,
    started: (Instant, SystemTime),
    ended: (i32, bool),
) -> Summary {
    Summary::new(
        tally,
        control,
        counts,
        started,
        ended.0,
        ended.1,
        settings.input.source.to_string(),
        settings.output.to_string(),
        settings.store.is_some(),
    )
}

/// The summary on stderr, and as JSON with `--summary`.
fn report(settings: &Settings, summary: &Summary) -> Result<(), RunError> {
    eprint!("{}", summary.render());
    if let Some(path) = &settings.summary {
        prepare::write_summary(path, summary).map_err(|source| RunError::Output {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
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
    match &collected {
        Ok(_) => {}
        Err(CollectError::OutputClosed) => control.halt(),
        Err(_) => control.stop(crate::control::StopReason::Input {
            message: "the output could not be written".into(),
        }),
    }
    collected
}

/// A complete run gets its output renamed into place and its journal removed; a stopped one
/// keeps the journal for `--resume`. Returns the exit code and whether the run completed.
/// The files written until the run completes: the output (`None` for standard output) and
/// `--changes`.
struct Paths {
    output: Option<prepare::OutputPaths>,
    changes: Option<prepare::OutputPaths>,
}

fn settle(
    settings: &Settings,
    collected: Collected,
    feed_end: &FeedEnd,
    paths: Paths,
    control: &Control,
) -> Result<(i32, bool), RunError> {
    let complete =
        feed_end.eof && collected.all_written && collected.rows_received == feed_end.rows;
    if !complete {
        drop(collected.sink);
        drop(collected.changes);
        drop(collected.journal);
        for paths in paths.output.iter().chain(&paths.changes) {
            let _ = std::fs::remove_file(&paths.partial);
        }
        return Ok((control.stop_reason().map_or(2, |r| r.exit_code()), false));
    }
    if let (Some(changes), Some(changes_paths)) = (collected.changes, &paths.changes) {
        changes
            .finish()
            .and_then(|writer| {
                drop(writer);
                prepare::settle_output(changes_paths)
            })
            .map_err(|source| RunError::Output {
                path: changes_paths.output.display().to_string(),
                source,
            })?;
    }
    let finished = collected.sink.finish().and_then(|writer| {
        drop(writer);
        paths.output.as_ref().map_or(Ok(()), prepare::settle_output)
    });
    finished.map_err(|source| output_error(&settings.output, source))?;
    if let Err(e) = collected.journal.remove() {
        tracing::warn!(error = %e, "Could not remove the journal of the completed run.");
    }
    let tally = &collected.tally;
    let code = if tally.errors > 0 {
        3
    } else if settings.fail_on_hit && tally.hits > 0 {
        1
    } else {
        0
    };
    Ok((code, true))
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
    let mut planner = Planner::new(
        input.header.card_index,
        settings.luhn,
        Arc::new(CardIndex::new()),
        None,
    );
    let mut store = dry_run_store(settings)?;
    let mut record = ByteRecord::new();
    let mut counts = DryRun {
        from_store: store.as_ref().map(|_| 0),
        ..DryRun::default()
    };
    let mut distinct = HashSet::<u64, std::hash::BuildHasherDefault<CardHasher>>::default();
    while input.next_row(&mut record)? {
        counts.rows += 1;
        match planner.check(&record) {
            Checked::Settled(outcome) => {
                let reason = outcome.reason.map_or("other", |r| r.as_str());
                *counts.invalid_by_reason.entry(reason).or_default() += 1;
            }
            Checked::Card(card) if !distinct.insert(card.code()) => counts.duplicates += 1,
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
