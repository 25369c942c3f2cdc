//! The run's last step: the exit code judged from how the run ended, the output finished and
//! renamed into place (or its partial files dropped), the summary shown and written, and only
//! then the journal of a completed run removed.

use std::io::{self, Write};
use std::time::{Instant, SystemTime};

use super::collect::Drained;
use super::error::output_error;
use super::feed::FeedEnd;
use super::files::{self, Paths};
use super::RunError;
use crate::cli::Settings;
use crate::control::{Control, StopReason};
use crate::output::{Collected, Journal};
use crate::report::{over_limit, write_report, ChangeRows, Summary, Tally};

/// How a run that got under way ended: what `screen` maps to the exit code and the metrics.
pub(super) struct Ended {
    pub(super) exit_code: i32,
    /// `None` when it ended before a summary (a dry run).
    pub(super) summary: Option<Summary>,
    /// When the run started, or the interrupted run it continues (Unix seconds).
    pub(super) run_started: u64,
}

/// Whether the run completed, and its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    exit_code: i32,
    complete: bool,
}

/// Settles the run the collector and the reader left.
pub(super) async fn settle(
    settings: &Settings,
    drained: Drained,
    control: &Control,
    started: (Instant, SystemTime),
) -> Result<Ended, RunError> {
    let Drained {
        mut collected,
        feed_end,
        paths,
        endpoint,
    } = drained;
    let complete = is_complete(&collected, &feed_end);
    let verdict = judge(
        complete,
        &collected.tally,
        control.stop_reason().as_ref(),
        (settings.fail_on_hit, settings.max_invalid),
    );
    let summary = Summary::new(
        &collected.tally,
        control,
        feed_end.counts,
        started,
        verdict.exit_code,
        verdict.complete,
        settings.input.source.to_string(),
        settings.output.to_string(),
        settings.store.is_some(),
        settings.max_invalid,
    );
    let report_changes = collected.report_changes.take();
    let run_started = collected.journal.started();
    let finished_journal = settle_files(settings, collected, verdict.complete, paths, &summary)?;
    report(settings, &summary);
    write_page(settings, &summary, report_changes.as_ref());
    // Only after the summary: a run that dies before this point leaves its journal, and a
    // scheduler's --resume then finishes from it without a call rather than paying again.
    if let Some(Err(e)) = finished_journal.map(Journal::remove) {
        tracing::warn!(error = %e, "Could not remove the journal of the completed run.");
    }
    endpoint.close().await;
    Ok(Ended {
        exit_code: verdict.exit_code,
        summary: Some(summary),
        run_started,
    })
}

/// The run completed: the reader reached the end, and every row it sent was written.
fn is_complete(collected: &Collected, feed_end: &FeedEnd) -> bool {
    feed_end.eof && collected.all_written && collected.rows_received == feed_end.rows
}

/// A complete run's exit code says what it found: 3 with rows in error or more invalid rows
/// than `--max-invalid` allows, 1 with a hit under `--fail-on-hit`, else 0. A stopped run's
/// says why it stopped, 2 when nothing says.
fn judge(
    complete: bool,
    tally: &Tally,
    stop: Option<&StopReason>,
    (fail_on_hit, max_invalid): (bool, Option<f64>),
) -> Verdict {
    let exit_code = if !complete {
        stop.map_or(2, StopReason::exit_code)
    } else if tally.errors > 0 || over_limit(tally.rows, tally.invalid, max_invalid) {
        3
    } else if fail_on_hit && tally.hits > 0 {
        1
    } else {
        0
    };
    Verdict {
        exit_code,
        complete,
    }
}

/// A complete run gets its output finished (a workbook with the summary as its second sheet)
/// and renamed into place, `--changes` too, and hands back its journal, to remove once the
/// summary is written; a stopped one keeps the journal for `--resume` and drops its partial
/// files.
fn settle_files(
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
            .and_then(|()| files::settle_output(changes_paths))
            .map_err(|source| RunError::Output {
                path: changes_paths.output.display().to_string(),
                source,
            })?;
    }
    let finished = sink
        .finish(&summary.figures())
        .and_then(|()| paths.output.as_ref().map_or(Ok(()), files::settle_output));
    finished.map_err(|source| output_error(&settings.output, source))?;
    Ok(Some(collected.journal))
}

/// The summary on stderr, and as JSON with `--summary`. Failing to write it is a warning:
/// the run has earned its exit code, and the output is what a scheduler acts on.
fn report(settings: &Settings, summary: &Summary) {
    // Not `eprint!`, which panics when stderr is gone (the terminal hung up).
    let _ = io::stderr().write_all(summary.render().as_bytes());
    if let Some(note) = summary.invalid_note() {
        tracing::warn!("{note}.");
    }
    if let Some(over) = summary.over_max_invalid() {
        tracing::warn!("{over}.");
    }
    if let Some(path) = &settings.summary {
        if let Err(e) = files::write_summary(path, summary) {
            tracing::warn!(summary = %path.display(), error = %e, "Could not write the summary; the run's result and exit code stand.");
        }
    }
}

/// `--report`, after the summary: failing to write it is a warning, as for the summary.
fn write_page(settings: &Settings, summary: &Summary, changes: Option<&ChangeRows>) {
    let Some(path) = &settings.report else { return };
    let store = settings.store.as_ref().map(|s| s.path.as_path());
    if let Err(e) = write_report(path, summary, changes, store) {
        tracing::warn!(report = %path.display(), error = %e, "Could not write the report; the run's result and exit code stand.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ReaderCounts;

    fn tally(errors: u64, hits: u64) -> Tally {
        Tally {
            errors,
            hits,
            ..Tally::default()
        }
    }

    fn code(complete: bool, tally: &Tally, stop: Option<StopReason>, fail_on_hit: bool) -> i32 {
        let verdict = judge(complete, tally, stop.as_ref(), (fail_on_hit, None));
        assert_eq!(verdict.complete, complete);
        verdict.exit_code
    }

    #[test]
    fn a_complete_run_says_what_it_found() {
        assert_eq!(code(true, &tally(0, 0), None, true), 0);
        assert_eq!(code(true, &tally(0, 2), None, false), 0);
        assert_eq!(code(true, &tally(0, 2), None, true), 1);
        // Rows in error outweigh hits: the output is not to be trusted whole.
        assert_eq!(code(true, &tally(1, 2), None, true), 3);
        // A stop that came after the last row changes nothing.
        let signal = Some(StopReason::Signal { number: 15 });
        assert_eq!(code(true, &tally(0, 0), signal, false), 0);
    }

    #[test]
    fn more_invalid_rows_than_max_invalid_allows_is_exit_3() {
        let found = Tally {
            rows: 10,
            invalid: 6,
            hits: 1,
            ..Tally::default()
        };
        let judged = |max_invalid| judge(true, &found, None, (true, max_invalid)).exit_code;
        assert_eq!(judged(None), 1);
        assert_eq!(judged(Some(0.5)), 3);
        assert_eq!(judged(Some(0.6)), 1);
        // A stopped run says why it stopped, whatever its rows so far.
        let stop = Some(StopReason::Budget { calls: 1 });
        assert_eq!(
            judge(false, &found, stop.as_ref(), (false, Some(0.0))).exit_code,
            5
        );
    }

    #[test]
    fn a_stopped_run_says_why_it_stopped() {
        let found = tally(1, 2);
        let cases = [
            (None, 2),
            (Some(StopReason::Signal { number: 2 }), 130),
            (Some(StopReason::Signal { number: 15 }), 143),
            (Some(StopReason::Budget { calls: 10 }), 5),
            (Some(StopReason::Breaker { failures: 20 }), 4),
            (Some(StopReason::OutputClosed), 4),
        ];
        for (stop, expected) in cases {
            assert_eq!(
                code(false, &found, stop.clone(), true),
                expected,
                "{stop:?}"
            );
        }
    }

    #[test]
    fn a_run_is_complete_only_when_every_row_read_was_written() {
        let collected = |all_written, rows_received| Collected {
            tally: Tally::default(),
            sink: None,
            journal: Journal::scratch(0).unwrap(),
            changes: None,
            report_changes: None,
            all_written,
            rows_received,
        };
        let feed_end = |eof, rows| FeedEnd {
            eof,
            rows,
            counts: ReaderCounts::default(),
        };
        assert!(is_complete(&collected(true, 5), &feed_end(true, 5)));
        assert!(!is_complete(&collected(true, 5), &feed_end(false, 5)));
        assert!(!is_complete(&collected(false, 5), &feed_end(true, 5)));
        assert!(!is_complete(&collected(true, 4), &feed_end(true, 5)));
    }
}
