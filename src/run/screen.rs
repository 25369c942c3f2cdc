//! One screening run, in four steps with a struct between each: prepare (input, output,
//! journal, store, endpoint) → start (pool, reader thread, progress, signals) → collect (rows
//! written in input order) → settle (exit code, output renamed into place, summary, journal
//! removed). The output's lock is held from before the first step to after the last.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::settle::Ended;
use super::{checks, collect, dry_run, prepare, record, settle, start, RunError};
use crate::cli::{RunMode, Settings};
use crate::control::{Control, NextRun};
use crate::input::InputSource;
use crate::output::OutputTarget;
use crate::report::{Metrics, Sample};

/// Screens the input as the settings say and returns the exit code. With `--metrics`, the
/// metrics file tells how the run ended, whatever the end.
pub(crate) async fn screen(settings: Settings) -> Result<i32, RunError> {
    let started = (Instant::now(), SystemTime::now());
    let control = Arc::new(Control::new(settings.max_calls, next_run(&settings)));
    let metrics = match &settings.metrics {
        Some(path) if !settings.dry_run => Some(Arc::new(Metrics::new(
            path.clone(),
            settings.metrics_mode,
            settings.output.to_string(),
            started.0,
        ))),
        _ => None,
    };
    let ended = run(&settings, &control, started, metrics.clone()).await;
    if let Ok(Ended {
        summary: Some(summary),
        run_started,
        ..
    }) = &ended
    {
        record::record(&settings, *run_started, summary);
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
    let _lock = checks::lock_output(settings)?;
    let mut input = checks::open_input(settings, control)?;
    if settings.dry_run {
        let exit_code = dry_run::dry_run(settings, &mut input)?;
        return Ok(Ended {
            exit_code,
            summary: None,
            run_started: 0,
        });
    }
    let prepared = prepare::prepare(settings, input, control, metrics.as_deref()).await?;
    let running = start::start(settings, control, prepared, metrics)?;
    let drained = collect::collect(running, control).await?;
    settle::settle(settings, drained, control, started).await
}

/// How a stopped run is continued, for the advice it prints.
fn next_run(settings: &Settings) -> NextRun {
    match (&settings.input.source, &settings.output, settings.mode) {
        (InputSource::Stdin, _, _) | (_, OutputTarget::Stdout, _) => NextRun::StartOver,
        (_, _, RunMode::RetryErrors) => NextRun::RetryErrors,
        _ => NextRun::Resume,
    }
}
