//! One screening run from start to end: checks everything that can be checked before the first
//! call, wires reader → pool → collector, handles signals, and settles the output, the journal
//! and the exit code.

use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use csv::ByteRecord;
use secrecy::SecretString;
use tokio::sync::mpsc;

use crate::card::{self, Card};
use crate::client::Client;
use crate::control::{Control, Counters, NextRun, StopReason};
use crate::dedup::{CardIndex, Claim};
use crate::journal::{Fingerprint, Journal, JournalError};
use crate::outcome::{Flags, Outcome, Status};
use crate::pacer::Pacer;
use crate::pool::{Job, Pool, PoolSettings};
use crate::reader::{Header, InputError, InputReader};
use crate::report::{Progress, ReaderCounts, Summary};
use crate::retry::Backoff;
use crate::settings::{InputSource, LuhnMode, OutputTarget, RunMode, Settings};
use crate::writer::{Collector, OutputSink, Plan, Row, ADDED_COLUMNS};

/// How many rows may wait between the oldest unwritten row and the newest read one. Bounds the
/// memory of the reorder buffer whatever the file size (a row is a few hundred bytes).
const REORDER_WINDOW: usize = 8192;
/// Rows go to the collector in batches of up to this many: when the window is full the reader
/// waits for room, and waking it for every row written cost a futex call and a context switch
/// a row on each side.
const ROW_BATCH: usize = 64;
/// Batches in the row channel at most (256 rows).
const ROW_CHANNEL: usize = 4;
const RESULT_CHANNEL: usize = 1024;

/// A problem found before any call, or one that ends the run as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the output would get a column {name:?} that the input already has; pass --prefix (for example --prefix screen_)")]
    NameClash { name: String },
    #[error("an unfinished run for {output} exists ({journal}); pass --resume to continue it, or --fresh to discard it and start over")]
    Unfinished { output: String, journal: String },
    #[error("--retry-errors needs the output of a completed run, and {0} does not exist; run without --retry-errors first")]
    NothingToRetry(String),
    #[error("an unfinished run for {0} exists; finish it with --resume before --retry-errors")]
    RetryWhileUnfinished(String),
    #[error("{output} does not match the input: {why}; run without --retry-errors to screen the file again")]
    PriorMismatch { output: String, why: String },
    #[error("cannot write {path}: {source}")]
    Output { path: String, source: io::Error },
    #[error("cannot start the built-in simulator: {0}")]
    Simulator(io::Error),
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    #[error("{0}")]
    Collect(#[from] crate::writer::CollectError),
}

/// Screens the input as the settings say and returns the exit code.
pub async fn screen(settings: Settings) -> Result<i32, ScreenError> {
    let started = (Instant::now(), SystemTime::now());
    let next = match (&settings.input, &settings.output, settings.mode) {
        (InputSource::Stdin, _, _) | (_, OutputTarget::Stdout, _) => NextRun::StartOver,
        (_, _, RunMode::RetryErrors) => NextRun::RetryErrors,
        _ => NextRun::Resume,
    };
    let control = Arc::new(Control::new(settings.max_calls, next));
    let mut input = InputReader::open(&settings, Arc::clone(&control.counters.bytes_read))?;
    check_added_columns(&input.header, &settings.prefix)?;
    if settings.dry_run {
        return dry_run(&settings, &mut input);
    }

    // A build without the simulator never gets here with `--simulate`: settings refuse it.
    #[cfg(feature = "simulator")]
    let simulator = if settings.simulate {
        let config = crate::simulator::SimulatorConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Default::default()
        };
        Some(
            crate::simulator::start(config)
                .await
                .map_err(ScreenError::Simulator)?,
        )
    } else {
        None
    };
    #[cfg(feature = "simulator")]
    let (endpoint, key) = match &simulator {
        Some(sim) => {
            tracing::info!(endpoint = %sim.endpoint(), "Screening against the built-in simulator.");
            (
                sim.endpoint(),
                SecretString::from(crate::simulator::SimulatorConfig::default().key),
            )
        }
        None => configured_endpoint(&settings),
    };
    #[cfg(not(feature = "simulator"))]
    let (endpoint, key) = configured_endpoint(&settings);
    if crate::settings::is_cleartext_remote(&endpoint) {
        tracing::warn!("The endpoint uses plain http:// to a remote host: card numbers and the key travel in clear text. Use https://.");
    }

    let index = Arc::new(CardIndex::new());
    let prepared = prepare_output(&settings, &input, &index)?;
    let out_name = match &settings.output {
        OutputTarget::Path(p) => p.display().to_string(),
        OutputTarget::Stdout => "standard output".to_string(),
    };
    let sink = OutputSink::new(
        prepared.writer,
        &input.header,
        settings.delimiter,
        &settings.prefix,
        settings.excel,
        settings.mask,
    )
    .map_err(|source| ScreenError::Output {
        path: out_name.clone(),
        source,
    })?;

    let client = Client::new(&endpoint, &key, settings.timeout, settings.concurrency)?;
    let pacer = Pacer::new(settings.rate, settings.burst);
    let (results_tx, results_rx) = mpsc::channel(RESULT_CHANNEL);
    let (rows_tx, rows_rx) = mpsc::channel(ROW_CHANNEL);
    let pool = Pool::new(
        client,
        pacer,
        Arc::clone(&control),
        PoolSettings {
            concurrency: settings.concurrency,
            max_attempts: settings.max_attempts,
            backoff: Backoff {
                base: settings.backoff_base,
                max: settings.backoff_max,
            },
        },
        results_tx,
        tokio::runtime::Handle::current(),
    );
    let signals = tokio::spawn(watch_signals(Arc::clone(&control)));
    let progress = Progress::start(
        Arc::clone(&control),
        input.total_bytes,
        settings.progress,
        settings.progress_interval,
    );

    let planner = Planner {
        card_index: input.header.card_index,
        luhn: settings.luhn,
        index: Arc::clone(&index),
        prior: prepared.prior,
        luhn_warnings: 0,
    };
    let reader_control = Arc::clone(&control);
    let reader = std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || read_rows(input, planner, pool, rows_tx, reader_control))
        .map_err(|source| ScreenError::Output {
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
    };
    // On the runtime's workers, beside the calls whose results it takes, rather than on this
    // thread: waking this thread for every result cost a futex call and a context switch.
    let collected = match tokio::spawn(collector.run(rows_rx, results_rx)).await {
        Ok(collected) => collected,
        Err(joined) => std::panic::resume_unwind(joined.into_panic()),
    };
    // Stop the reader and the pool; their channels are gone.
    match &collected {
        Ok(_) => {}
        Err(crate::writer::CollectError::OutputClosed) => control.halt(),
        Err(_) => control.stop(StopReason::Input {
            message: "the output could not be written".into(),
        }),
    }
    let reader_end = tokio::task::spawn_blocking(move || reader.join())
        .await
        .ok()
        .and_then(|joined| joined.ok())
        .unwrap_or(ReaderEnd {
            eof: false,
            rows: 0,
            counts: ReaderCounts::default(),
        });
    progress.finish();
    signals.abort();
    let collected = match collected {
        Ok(collected) => collected,
        Err(crate::writer::CollectError::OutputClosed) => return Ok(0),
        Err(e) => return Err(e.into()),
    };

    let complete =
        reader_end.eof && collected.all_written && collected.rows_received == reader_end.rows;
    let tally = collected.tally;
    let exit_code = if complete {
        let writer = collected
            .sink
            .finish()
            .map_err(|source| ScreenError::Output {
                path: out_name.clone(),
                source,
            })?;
        drop(writer);
        if let Some(paths) = &prepared.paths {
            settle_output(paths).map_err(|source| ScreenError::Output {
                path: out_name.clone(),
                source,
            })?;
        }
        if let Err(e) = collected.journal.remove() {
            tracing::warn!(error = %e, "Could not remove the journal of the completed run.");
        }
        if tally.errors > 0 {
            3
        } else if settings.fail_on_hit && tally.hits > 0 {
            1
        } else {
            0
        }
    } else {
        drop(collected.sink);
        drop(collected.journal);
        if let Some(paths) = &prepared.paths {
            let _ = std::fs::remove_file(&paths.partial);
        }
        control.stop_reason().map_or(2, |reason| reason.exit_code())
    };

    let summary = Summary::new(
        &tally,
        &control,
        reader_end.counts,
        started,
        exit_code,
        complete,
        settings.describe_input(),
        out_name,
    );
    eprint!("{}", summary.render());
    if let Some(path) = &settings.summary {
        write_summary(path, &summary).map_err(|source| ScreenError::Output {
            path: path.display().to_string(),
            source,
        })?;
    }
    #[cfg(feature = "simulator")]
    if let Some(sim) = simulator {
        sim.shutdown().await;
    }
    Ok(exit_code)
}

/// The endpoint and key the settings name.
fn configured_endpoint(settings: &Settings) -> (String, SecretString) {
    (
        settings.endpoint.clone(),
        // Settings refuse to resolve without a key unless simulating or dry-running.
        settings
            .key
            .clone()
            .unwrap_or_else(|| SecretString::from(String::new())),
    )
}

fn check_added_columns(header: &Header, prefix: &str) -> Result<(), ScreenError> {
    for added in ADDED_COLUMNS {
        let name = format!("{prefix}{added}");
        if header.names.iter().any(|n| n.as_slice() == name.as_bytes()) {
            return Err(ScreenError::NameClash { name });
        }
    }
    Ok(())
}

struct OutputPaths {
    partial: PathBuf,
    output: PathBuf,
}

struct Prepared {
    writer: Box<dyn Write + Send>,
    journal: Journal,
    paths: Option<OutputPaths>,
    prior: Option<PriorOutput>,
}

/// Opens the journal the run mode asks for and the file the output is written to.
fn prepare_output(
    settings: &Settings,
    input: &InputReader,
    index: &CardIndex,
) -> Result<Prepared, ScreenError> {
    let output = match &settings.output {
        OutputTarget::Stdout => {
            let journal = Journal::scratch().map_err(|source| ScreenError::Output {
                path: "(temporary journal)".into(),
                source,
            })?;
            return Ok(Prepared {
                writer: Box::new(BufWriter::with_capacity(64 * 1024, io::stdout())),
                journal,
                paths: None,
                prior: None,
            });
        }
        OutputTarget::Path(path) => path.clone(),
    };
    let input_path = match &settings.input {
        InputSource::Path(path) => path.clone(),
        // Standard input cannot be read again, so there is nothing to resume: the journal only
        // serves deduplication.
        InputSource::Stdin => {
            return Ok(Prepared {
                writer: Box::new(BufWriter::with_capacity(
                    64 * 1024,
                    private_partial(&output)?,
                )),
                journal: Journal::scratch().map_err(|source| ScreenError::Output {
                    path: "(temporary journal)".into(),
                    source,
                })?,
                paths: Some(OutputPaths {
                    partial: crate::files::sibling(&output, ".partial"),
                    output,
                }),
                prior: None,
            })
        }
    };
    let journal_path = Journal::path_for(&output);
    let unfinished = journal_path.exists();
    let mut prior = None;
    let journal = match settings.mode {
        RunMode::New if unfinished => {
            return Err(ScreenError::Unfinished {
                output: output.display().to_string(),
                journal: journal_path.display().to_string(),
            })
        }
        RunMode::RetryErrors => {
            if unfinished {
                return Err(ScreenError::RetryWhileUnfinished(
                    output.display().to_string(),
                ));
            }
            if !output.is_file() {
                return Err(ScreenError::NothingToRetry(output.display().to_string()));
            }
            prior = Some(PriorOutput::open(&output, settings)?);
            // The earlier output stays in place until this run completes, so a crash here
            // loses only the retried answers: a plain scratch journal is enough.
            Journal::scratch().map_err(|source| ScreenError::Output {
                path: "(temporary journal)".into(),
                source,
            })?
        }
        RunMode::Resume if unfinished => {
            let fingerprint = fingerprint(settings, input, &input_path)?;
            let (journal, kept) = Journal::resume(&journal_path, &fingerprint, |code, offset| {
                index.preload(code, offset)
            })?;
            tracing::info!(
                results = kept,
                "Resuming the unfinished run; results already received are not asked for again."
            );
            journal
        }
        RunMode::Resume | RunMode::New | RunMode::Fresh => {
            if settings.mode == RunMode::Resume {
                tracing::info!("No unfinished run for this output; starting from the beginning.");
            }
            if unfinished {
                tracing::warn!(journal = %journal_path.display(), "Discarding the unfinished run (--fresh).");
            }
            Journal::create(&journal_path, &fingerprint(settings, input, &input_path)?)?
        }
    };
    Ok(Prepared {
        writer: Box::new(BufWriter::with_capacity(
            64 * 1024,
            private_partial(&output)?,
        )),
        journal,
        paths: Some(OutputPaths {
            partial: crate::files::sibling(&output, ".partial"),
            output,
        }),
        prior,
    })
}

/// The file the output is written to until the run completes.
fn private_partial(output: &Path) -> Result<std::fs::File, ScreenError> {
    let partial = crate::files::sibling(output, ".partial");
    crate::files::create_private(&partial).map_err(|source| ScreenError::Output {
        path: partial.display().to_string(),
        source,
    })
}

fn fingerprint(
    settings: &Settings,
    input: &InputReader,
    path: &Path,
) -> Result<Fingerprint, ScreenError> {
    let (input_size, input_modified_ns, input_head_hash, input_tail_hash) =
        Fingerprint::of_input(path).map_err(|source| InputError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
    Ok(Fingerprint {
        input_size,
        input_modified_ns,
        input_head_hash,
        input_tail_hash,
        column: settings
            .column
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        card_index: input.header.card_index,
        no_header: settings.no_header,
        delimiter: settings.delimiter,
        encoding: input.encoding.name().to_string(),
        prefix: settings.prefix.clone(),
        mask: settings.mask,
        luhn: format!("{:?}", settings.luhn),
    })
}

/// Renames the finished output into place, durably.
fn settle_output(paths: &OutputPaths) -> io::Result<()> {
    std::fs::File::open(&paths.partial)?.sync_all()?;
    std::fs::rename(&paths.partial, &paths.output)?;
    crate::files::sync_parent(&paths.output);
    Ok(())
}

fn write_summary(path: &Path, summary: &Summary) -> io::Result<()> {
    let temporary = crate::files::sibling(path, ".tmp");
    let mut file = std::fs::File::create(&temporary)?;
    serde_json::to_writer_pretty(&mut file, summary).map_err(io::Error::other)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Stops the run on the first SIGINT/SIGTERM; a second one exits at once (the journal is
/// already safe on disk).
async fn watch_signals(control: Arc<Control>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("Cannot listen for SIGINT/SIGTERM; an interrupted run may lose up to a second of results.");
        return;
    };
    let mut seen = false;
    loop {
        let number = tokio::select! {
            _ = interrupt.recv() => libc::SIGINT,
            _ = terminate.recv() => libc::SIGTERM,
        };
        if seen {
            eprintln!("cardscreen: second signal, exiting now; run again with --resume to go on");
            std::process::exit(128 + number);
        }
        seen = true;
        eprintln!(
            "cardscreen: stopping: waiting for the calls in flight (signal again to exit at once)"
        );
        control.stop(StopReason::Signal { number });
    }
}

/// Decides, row by row, how each row gets its result.
struct Planner {
    card_index: usize,
    luhn: LuhnMode,
    index: Arc<CardIndex>,
    prior: Option<PriorOutput>,
    luhn_warnings: u64,
}

enum Planned {
    Settled(Outcome),
    Card(Card),
}

impl Planner {
    /// Local checks only: what the cell says about the card.
    fn check(&mut self, record: &ByteRecord) -> Planned {
        let Some(cell) = record.get(self.card_index) else {
            return Planned::Settled(Outcome::invalid(
                "missing_column",
                format!(
                    "row has {} {}; the card number should be in field {}",
                    record.len(),
                    if record.len() == 1 { "field" } else { "fields" },
                    self.card_index + 1
                ),
            ));
        };
        let Ok(text) = std::str::from_utf8(cell) else {
            return Planned::Settled(Outcome::invalid("not_text", "card cell is not text".into()));
        };
        match card::clean(text) {
            Err(rejection) => {
                Planned::Settled(Outcome::invalid(rejection.reason(), rejection.to_string()))
            }
            Ok(card) if !card.luhn_ok() => {
                if self.luhn == LuhnMode::Reject {
                    let rejection = card::Rejection::LuhnFailed;
                    Planned::Settled(Outcome::invalid(rejection.reason(), rejection.to_string()))
                } else {
                    self.luhn_warnings += 1;
                    tracing::debug!(card = %card.masked(), "Card fails the Luhn check; sending it anyway (--luhn warn).");
                    Planned::Card(card)
                }
            }
            Ok(card) => Planned::Card(card),
        }
    }

    fn plan(&mut self, row: u64, record: ByteRecord, pool: &Pool) -> Result<Row, InputError> {
        let prior = match &mut self.prior {
            Some(prior) => Some(prior.next(&record)?),
            None => None,
        };
        let (plan, card_code) = match self.check(&record) {
            Planned::Settled(outcome) => (Plan::Settled(outcome), 0),
            Planned::Card(card) => match prior {
                Some(Some(outcome)) => (Plan::Settled(outcome), card.code()),
                _ => {
                    let plan = match self.index.claim(card.code()) {
                        Claim::Call => {
                            pool.submit(Job { row, card });
                            Plan::Call
                        }
                        Claim::Duplicate => Plan::Duplicate,
                        Claim::Journaled => Plan::Journaled,
                    };
                    (plan, card.code())
                }
            },
        };
        Ok(Row {
            row,
            record,
            card_code,
            plan,
        })
    }
}

struct ReaderEnd {
    /// The input was read to its end.
    eof: bool,
    rows: u64,
    counts: ReaderCounts,
}

/// The reader thread: reads, checks and plans every row, hands calls to the pool and rows to
/// the collector. Blocking on the row channel is what bounds the reorder window.
fn read_rows(
    mut input: InputReader,
    mut planner: Planner,
    pool: Pool,
    rows: mpsc::Sender<Vec<Row>>,
    control: Arc<Control>,
) -> ReaderEnd {
    let mut sent: u64 = 0;
    let mut record = ByteRecord::new();
    let mut batch: Vec<Row> = Vec::with_capacity(ROW_BATCH);
    let eof = loop {
        if control.is_stopping() {
            break false;
        }
        match input.next_row(&mut record) {
            Ok(true) => {}
            Ok(false) => break true,
            Err(e) => {
                control.stop(StopReason::Input {
                    message: card::mask_text(&e.to_string()).into_owned(),
                });
                break false;
            }
        }
        Counters::add(&control.counters.rows_read, 1);
        // An exact-size copy (three allocations) for the row, and the read buffer stays: taking
        // the buffer instead left an empty record that grew field by field on the next read.
        let row = match planner.plan(sent, record.clone(), &pool) {
            Ok(row) => row,
            Err(e) => {
                control.stop(StopReason::Input {
                    message: e.to_string(),
                });
                break false;
            }
        };
        batch.push(row);
        sent += 1;
        // A full batch goes; so does a partial one when the collector has nothing left to do,
        // so that rows trickling in from a pipe are not held back waiting for company.
        if (batch.len() >= ROW_BATCH || rows.capacity() == rows.max_capacity())
            && rows
                .blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(ROW_BATCH)))
                .is_err()
        {
            break false;
        }
    };
    let eof = eof && (batch.is_empty() || rows.blocking_send(batch).is_ok());
    if eof {
        control
            .counters
            .rows_total
            .store(sent, std::sync::atomic::Ordering::Relaxed);
    }
    let eof = eof && planner.prior.as_mut().is_none_or(|p| p.at_end());
    ReaderEnd {
        eof,
        rows: sent,
        counts: ReaderCounts {
            luhn_warnings: planner.luhn_warnings,
            blank_lines: input.blank_lines(),
        },
    }
}

/// The output of an earlier, completed run, read alongside the input for `--retry-errors`.
struct PriorOutput {
    csv: csv::Reader<std::fs::File>,
    record: ByteRecord,
    name: String,
}

impl PriorOutput {
    fn open(path: &Path, settings: &Settings) -> Result<PriorOutput, ScreenError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| InputError::Unreadable {
            path: name.clone(),
            source,
        })?;
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(settings.delimiter)
            .from_reader(file);
        let mut header = ByteRecord::new();
        let mismatch = |why: &str| ScreenError::PriorMismatch {
            output: name.clone(),
            why: why.to_string(),
        };
        if !csv.read_byte_record(&mut header).unwrap_or(false) || header.len() < ADDED_COLUMNS.len()
        {
            return Err(mismatch("it has no cardscreen header"));
        }
        let tail = header.len() - ADDED_COLUMNS.len();
        for (i, added) in ADDED_COLUMNS.iter().enumerate() {
            if header.get(tail + i) != Some(format!("{}{added}", settings.prefix).as_bytes()) {
                return Err(mismatch(
                    "its last columns are not the ones cardscreen adds (was --prefix different?)",
                ));
            }
        }
        Ok(PriorOutput {
            csv,
            record: ByteRecord::new(),
            name,
        })
    }

    /// The earlier result for the next row: `Some` to keep it, `None` to call again.
    fn next(&mut self, _input_row: &ByteRecord) -> Result<Option<Outcome>, InputError> {
        let more = self
            .csv
            .read_byte_record(&mut self.record)
            .map_err(|e| InputError::Csv {
                path: self.name.clone(),
                line: e.position().map(|p| p.line()).unwrap_or(0),
                message: "cannot read the earlier output".into(),
            })?;
        let short = || InputError::Csv {
            path: self.name.clone(),
            line: self.record.position().map(|p| p.line()).unwrap_or(0),
            message: "the earlier output has fewer rows than the input; run without --retry-errors"
                .into(),
        };
        if !more || self.record.len() < ADDED_COLUMNS.len() {
            return Err(short());
        }
        let added: Vec<&str> = self
            .record
            .iter()
            .skip(self.record.len() - ADDED_COLUMNS.len())
            .map(|f| std::str::from_utf8(f).unwrap_or(""))
            .collect();
        let status = Status::parse(added[0]);
        Ok(match status {
            Some(Status::Ok) => {
                let bits: [bool; 6] = std::array::from_fn(|i| added[2 + i] == "1");
                let attempts = added[11].parse().unwrap_or(0);
                Some(Outcome::ok(
                    Flags::from_bools(bits),
                    added[8].to_string(),
                    attempts,
                ))
            }
            Some(Status::Invalid) => {
                let mut outcome = Outcome::invalid(
                    if added[9].is_empty() {
                        ""
                    } else {
                        "vendor_rejected"
                    },
                    added[10].to_string(),
                );
                outcome.error_code = added[9].parse().ok();
                outcome.attempts = added[11].parse().unwrap_or(0);
                Some(outcome)
            }
            Some(Status::Error) | None => None,
        })
    }

    fn at_end(&mut self) -> bool {
        !self.csv.read_byte_record(&mut self.record).unwrap_or(false)
    }
}

/// `--dry-run`: read and check the whole file, count, estimate; no call.
fn dry_run(settings: &Settings, input: &mut InputReader) -> Result<i32, ScreenError> {
    let mut planner = Planner {
        card_index: input.header.card_index,
        luhn: settings.luhn,
        index: Arc::new(CardIndex::new()),
        prior: None,
        luhn_warnings: 0,
    };
    let mut record = ByteRecord::new();
    let mut rows: u64 = 0;
    let mut invalid_by_reason = std::collections::BTreeMap::<&'static str, u64>::new();
    let mut distinct =
        HashSet::<u64, std::hash::BuildHasherDefault<crate::dedup::CardHasher>>::default();
    let mut duplicates: u64 = 0;
    while input.next_row(&mut record)? {
        rows += 1;
        match planner.check(&record) {
            Planned::Settled(outcome) => *invalid_by_reason.entry(outcome.reason).or_default() += 1,
            Planned::Card(card) => {
                if !distinct.insert(card.code()) {
                    duplicates += 1;
                }
            }
        }
    }
    let invalid: u64 = invalid_by_reason.values().sum();
    let calls = distinct.len() as u64;
    let mut report = String::new();
    report.push_str(&format!(
        "Dry run of {} (no API call made)\n",
        settings.describe_input()
    ));
    report.push_str(&format!("  rows:            {rows}\n"));
    report.push_str(&format!("  valid:           {}\n", rows - invalid));
    report.push_str(&format!("  invalid:         {invalid}\n"));
    for (reason, count) in &invalid_by_reason {
        report.push_str(&format!("    {reason}: {count}\n"));
    }
    report.push_str(&format!("  distinct cards:  {calls}\n"));
    report.push_str(&format!("  duplicates:      {duplicates}\n"));
    report.push_str(&format!("  Luhn warnings:   {}\n", planner.luhn_warnings));
    report.push_str(&format!("  calls needed:    {calls}\n"));
    match settings.rate {
        Some(rate) => {
            let seconds = (calls as f64 / rate).ceil() as u64;
            report.push_str(&format!(
                "  expected time:   about {} at {rate} calls/s (concurrency {})\n",
                humantime::format_duration(Duration::from_secs(seconds)),
                settings.concurrency
            ));
        }
        None => report.push_str(&format!(
            "  expected time:   set by the API's latency (no rate limit, concurrency {})\n",
            settings.concurrency
        )),
    }
    if let Some(price) = settings.price_per_call {
        report.push_str(&format!(
            "  expected cost:   {:.2} ({calls} calls at {price} each)\n",
            calls as f64 * price
        ));
    }
    print!("{report}");
    Ok(0)
}
