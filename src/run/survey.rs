//! The read-ahead before the first call: every row checked as the run will check it, every
//! distinct card looked up in the store, and tonight's plan made from the ages of their
//! results (`input::level`). The dry run prints what it finds; a real run with a store reads
//! the file once ahead like this, then streams it again, judging each card by the plan.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use csv::ByteRecord;

use super::RunError;
use std::sync::atomic::AtomicU64;

use crate::cli::{Refresh, RunMode, Settings};
use crate::dedup::{CardIndex, Claim};
use crate::input::level::{sort_key, Limits, Plan};
use crate::input::planner::{Checked, Levels, LuhnMode, Planner};
use crate::input::{InputReader, InputSource};
use crate::report::DryRun;
use crate::store::{Store, StoreReader};
use crate::util::humane::thousands;

/// With no earlier run in the store, the night is taken to follow one a day before.
const DEFAULT_SINCE_PREVIOUS: u64 = 86_400;

/// Share of the time before the deadline planned for calls at `--rate`: the rest is a margin
/// for retries and for pacing that falls behind.
const DEADLINE_SHARE: f64 = 0.85;
/// Kept free before the deadline for writing the output, the changes and the summary.
const SETTLE_RESERVE: Duration = Duration::from_secs(1);

/// The limits tonight is planned within, as the settings and the store's runs table say.
pub(super) fn limits(settings: &Settings, store: &StoreReader) -> Limits {
    let since_previous = store
        .previous_run_start()
        .map_or(DEFAULT_SINCE_PREVIOUS, |at| store.now().saturating_sub(at));
    Limits {
        since_previous,
        ..settings_limits(settings)
    }
}

/// The limits as the settings alone give them.
pub(super) fn settings_limits(settings: &Settings) -> Limits {
    let max_age = settings.store.as_ref().map_or(0, |s| s.max_age.as_secs());
    Limits {
        max_age,
        max_stale: settings.levels.max_stale.as_secs().max(max_age),
        since_previous: DEFAULT_SINCE_PREVIOUS,
        capacity: None,
        level: settings.levels.refresh == Refresh::Level,
    }
}

/// How the planner judges the cards tonight: with a store that may answer and a file that can
/// be read twice, by a plan made from reading it ahead; with `--deadline`, with a fallback for
/// the cards the deadline leaves uncalled. `None` when neither applies.
pub(super) fn levels(
    settings: &Settings,
    store: Option<&Store>,
    now: u64,
) -> Result<Option<Levels>, RunError> {
    let fallback = settings.levels.deadline.is_some();
    let mut reader = match store {
        Some(store) => Some(store.reader(now)?).filter(StoreReader::reuses),
        None => None,
    };
    let Some(reader) = reader.as_mut() else {
        let limits = settings_limits(settings);
        return Ok(fallback.then_some(Levels {
            plan: None,
            limits,
            fallback,
        }));
    };
    let limits = limits(settings, reader);
    let readable_twice =
        settings.input.source != InputSource::Stdin && settings.mode != RunMode::RetryErrors;
    // Refreshing as due with nothing to fit into, a plan says what the stored ages say anyway.
    let needs_plan =
        limits.level || settings.levels.deadline.is_some() || capacity(settings, &limits).is_some();
    if !readable_twice || !needs_plan {
        return Ok(Some(Levels {
            plan: None,
            limits,
            fallback,
        }));
    }
    let started = Instant::now();
    let mut input = InputReader::open(&settings.input, Arc::new(AtomicU64::new(0)))?;
    let plan = survey(
        &mut input,
        settings.luhn,
        Some((reader, limits)),
        Some(settings),
    )?
    .plan;
    if let Some(plan) = &plan {
        tracing::info!("{}", plan_line(plan, settings.pacer.rate, started));
    }
    Ok(Some(Levels {
        plan,
        limits,
        fallback,
    }))
}

/// Calls that fit before the deadline at `--rate`, and within `--max-calls` when the store may
/// answer stale (`--max-stale` above `--max-age`); `None` when nothing bounds them.
pub(super) fn capacity(settings: &Settings, limits: &Limits) -> Option<u64> {
    let by_deadline = settings
        .levels
        .deadline
        .zip(settings.pacer.rate)
        .map(|(at, rate)| {
            let left = at
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(SETTLE_RESERVE);
            (left.as_secs_f64() * rate * DEADLINE_SHARE) as u64
        });
    let by_budget = settings
        .max_calls
        .filter(|_| limits.max_stale > limits.max_age)
        .map(|calls| calls - calls / 20);
    match (by_deadline, by_budget) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Every row counted as a run would plan it, and with a store and its limits, tonight's plan.
pub(super) fn survey(
    input: &mut InputReader,
    luhn: LuhnMode,
    mut store: Option<(&mut StoreReader, Limits)>,
    settings: Option<&Settings>,
) -> Result<DryRun, RunError> {
    let distinct = Arc::new(CardIndex::new());
    let mut planner = Planner::new(&input.header, luhn, Arc::clone(&distinct), None);
    let mut record = ByteRecord::new();
    let mut counts = DryRun::default();
    let mut keys = Vec::new();
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
                if let Some((store, limits)) = &mut store {
                    let key = store.key(&card);
                    let age = store.latest(&key)?.map(|l| store.age(&l));
                    keys.push(sort_key(&key, age, limits).1);
                }
            }
        }
    }
    counts.distinct_cards = distinct.len() as u64;
    counts.luhn_warnings = planner.luhn_warnings();
    if let Some((_, mut limits)) = store {
        // Measured after the read-ahead, which takes its share of the night too.
        limits.capacity = settings.and_then(|s| capacity(s, &limits));
        counts.plan = Some(Plan::new(keys, &limits));
    }
    Ok(counts)
}

/// The plan as one line for the log, before the first call.
pub(super) fn plan_line(plan: &Plan, rate: Option<f64>, started: Instant) -> String {
    let expected = rate.map_or_else(
        || "set by the API's latency".to_string(),
        |rate| {
            let secs = (plan.calls_needed as f64 / rate).ceil() as u64;
            format!(
                "about {}",
                humantime::format_duration(Duration::from_secs(secs))
            )
        },
    );
    let mut line = format!(
        "Tonight's plan: {} calls ({} new, {} due, {} refreshed early), {} answered from the store, {} stale; {expected} (read ahead in {:.1} s).",
        thousands(plan.calls_needed),
        thousands(plan.new),
        thousands(plan.due),
        thousands(plan.refreshed_early),
        thousands(plan.from_store),
        thousands(plan.stale),
        started.elapsed().as_secs_f64(),
    );
    if plan.beyond_capacity > 0 {
        line.push_str(&format!(
            " {} of the calls needed do not fit: they are tried in input order until the deadline or the budget stops them.",
            thousands(plan.beyond_capacity)
        ));
    }
    line
}
