//! Level nights against a store whose results were aged in SQLite (and, in the test that needs
//! libfaketime, under a moved clock): the plan of a dry run is what the run then pays, early
//! refreshes take the oldest fresh results, `--deadline` and a planned `--max-calls` fit the
//! night and answer the rest stale where `--max-stale` allows, and a resumed run continues its
//! row of the runs table.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::common::*;

const DAY: i64 = 86_400;

/// Makes every stored result (and the runs table) `days` older; with `newer_than`, only the
/// results screened within that many seconds.
fn age_store(store: &Path, days: i64, newer_than: Option<i64>) {
    let c = Connection::open(store).expect("open the store");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let since = newer_than.map_or(0, |s| now - s);
    c.execute(
        "UPDATE cards SET called = called - ?1, seen = seen - ?1 WHERE called >= ?2",
        [days * DAY, since],
    )
    .expect("age the results");
    c.execute(
        "UPDATE runs SET started_at = started_at - ?1, finished_at = finished_at - ?1 WHERE started_at >= ?2",
        [days * DAY, since],
    )
    .expect("age the runs");
}

/// Moves the runs table `days` into the past.
fn age_runs(store: &Path, days: i64) {
    let c = Connection::open(store).expect("open the store");
    c.execute(
        "UPDATE runs SET started_at = started_at - ?1, finished_at = finished_at - ?1",
        [days * DAY],
    )
    .expect("age the runs");
}

/// A night in `work`: `night.csv` screened into `night.out.csv` with `store`.
fn a_night<'s>(sim: &'s Simulator, work: &Workdir, store: &Path) -> Screen<'s> {
    Screen::new(sim)
        .work(work)
        .input(&work.path("night.csv"))
        .output("night.out.csv")
        .arg("--store")
        .arg(store)
        .args(["--max-age", "7d"])
}

/// Screens `cards` into the store; the run's `per_card` holds the calls it made.
fn screen_into(
    sim: &Simulator,
    work: &Workdir,
    store: &Path,
    cards: &[String],
    extra: &[&str],
) -> Ran {
    // Written only when it changes: a resume checks that its input is the one it began with.
    let text = card_csv(cards);
    let input = work.path("night.csv");
    if std::fs::read_to_string(&input).ok().as_deref() != Some(text.as_str()) {
        work.write("night.csv", text);
    }
    let _ = std::fs::remove_file(work.path("night.out.csv"));
    a_night(sim, work, store).args(extra).run()
}

/// `store runs --json` of `store`, with `args` besides.
fn runs_of(store: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let listed = Cardscreen::new(["store", "runs", "--json", "--store"])
        .arg(store)
        .args(args)
        .run();
    let runs: serde_json::Value = serde_json::from_str(&listed.stdout).expect("JSON");
    runs.as_array().expect("an array").clone()
}

fn summary(work: &Workdir) -> serde_json::Value {
    let text = std::fs::read_to_string(work.path("summary.json")).expect("the summary");
    serde_json::from_str(&text).expect("JSON")
}

/// Seven groups of 50 cards screened a day apart, so their results are 1 to 7 days old, and
/// the last run a day ago.
fn a_week_of_groups(sim: &Simulator, work: &Workdir, store: &Path) -> Vec<Vec<String>> {
    let groups: Vec<Vec<String>> = (0..7).map(|g| cards(50, 300 + g)).collect();
    for group in groups.iter().rev() {
        screen_into(sim, work, store, group, &[]).ok();
        age_store(store, 1, None);
    }
    // groups[6] was screened first and is seven days old, groups[0] one day.
    groups
}

#[test]
fn a_dry_run_plans_what_the_run_pays_and_early_refreshes_take_the_oldest() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let store = work.path("screening.db");
    let groups = a_week_of_groups(&sim, &work, &store);
    let all: Vec<String> = groups.concat();
    let summary_path = work.path("summary.json");
    let summary_arg = ["--summary", summary_path.to_str().unwrap()];
    let mut dry = summary_arg.to_vec();
    dry.push("--dry-run");
    let result = screen_into(&sim, &work, &store, &all, &dry);
    result.ok();
    assert!(result.per_card.is_empty(), "a dry run calls nothing");
    assert_eq!(result.calls, 0);
    let plan = summary(&work);
    for key in [
        "calls_needed",
        "new",
        "due",
        "refreshed_early",
        "from_store",
        "stale",
        "expected_seconds",
    ] {
        assert!(plan.get(key).is_some(), "{key} in {plan}");
    }
    let result = screen_into(&sim, &work, &store, &all, &summary_arg);
    result.ok();
    let paid = &result.per_card;
    let night = summary(&work);
    assert_eq!(plan["calls_needed"].as_u64(), Some(paid.len() as u64));
    assert_eq!(night["calls"].as_u64(), Some(paid.len() as u64));
    // 350 stored results, a day since the last run, --max-age 7d: 50 a night, and they are
    // the oldest group's (seven days old: due) — nothing is answered past --max-age.
    assert_eq!(paid.len(), 50, "{}", result.stderr);
    let oldest: BTreeMap<String, u64> = groups[6].iter().map(|c| (c.clone(), 1)).collect();
    assert_eq!(paid, &oldest);
    assert_eq!(night["stale"], 0);
    assert!(
        result.stderr.contains("Tonight's plan: 50 calls (0 new, 50 due, 0 refreshed early), 300 answered from the store, 0 stale"),
        "{}",
        result.stderr
    );
}

#[test]
fn early_refreshes_level_a_week_of_nights() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let store = work.path("screening.db");
    let groups = a_week_of_groups(&sim, &work, &store);
    // A day younger, with the last run still a day ago: nothing is due, and the level's 50
    // calls refresh the oldest group (six days old) early, and are counted so.
    age_store(&store, -1, None);
    age_runs(&store, 1);
    let all: Vec<String> = groups.concat();
    let summary_path = work.path("summary.json");
    let result = screen_into(
        &sim,
        &work,
        &store,
        &all,
        &["--summary", summary_path.to_str().unwrap()],
    );
    result.ok();
    let paid = &result.per_card;
    let night = summary(&work);
    assert_eq!(
        night["refreshed_early"].as_u64(),
        Some(paid.len() as u64),
        "{night}"
    );
    let oldest: BTreeMap<String, u64> = groups[6].iter().map(|c| (c.clone(), 1)).collect();
    assert_eq!(paid, &oldest, "the oldest fresh results first");
    let change = result.column("change");
    assert!(
        change.iter().all(|c| c == "same"),
        "judged as usual: {change:?}"
    );
}

/// A store where every result is past `--max-age`: half of the cards 12 days old, half 8,
/// and the night's file with 100 new cards besides. Returns (older, younger, new).
fn an_overdue_night(
    sim: &Simulator,
    work: &Workdir,
    store: &Path,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let older = cards(1000, 410);
    let younger = cards(1000, 411);
    let new = cards(100, 412);
    screen_into(sim, work, store, &older, &[]).ok();
    age_store(store, 4, None);
    screen_into(sim, work, store, &younger, &[]).ok();
    age_store(store, 8, None);
    (older, younger, new)
}

#[test]
fn a_deadline_with_max_stale_calls_the_most_urgent_and_answers_the_rest_stale() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let store = work.path("screening.db");
    let (older, younger, new) = an_overdue_night(&sim, &work, &store);
    let night: Vec<String> = [older.clone(), younger.clone(), new.clone()].concat();
    let summary_path = work.path("summary.json");
    let args = [
        "--deadline",
        "6s",
        "--rate",
        "100",
        "--max-stale",
        "30d",
        "--summary",
        summary_path.to_str().unwrap(),
    ];
    let started = Instant::now();
    let result = screen_into(&sim, &work, &store, &night, &args);
    let took = started.elapsed();
    result.ok();
    let paid = &result.per_card;
    assert!(took < Duration::from_millis(8500), "took {took:?}");
    assert!((300..=600).contains(&paid.len()), "{} calls", paid.len());
    assert!(
        new.iter().all(|c| paid.contains_key(c)),
        "every new card is called"
    );
    let younger_called = younger.iter().any(|c| paid.contains_key(c));
    let older_left = older.iter().any(|c| !paid.contains_key(c));
    assert!(
        !(younger_called && older_left),
        "no younger card refreshed before an older one"
    );
    let summary = summary(&work);
    let stale = summary["stale"].as_u64().unwrap();
    assert_eq!(stale, 2100 - paid.len() as u64);
    assert!(
        result
            .stderr
            .contains("answered from results older than --max-age (oldest 12 days)"),
        "{}",
        result.stderr
    );
    assert_eq!(result.rows.len(), night.len());
    let status = result.column("status");
    assert!(status.iter().all(|s| s == "ok"));
    let attempts = result.column("attempts");
    let change = result.column("change");
    let card = result.column("card");
    for i in 0..result.rows.len() {
        if !paid.contains_key(&card[i]) {
            assert_eq!((attempts[i].as_str(), change[i].as_str()), ("0", "same"));
        }
    }
}

#[test]
fn a_deadline_without_max_stale_leaves_errors_that_retry_errors_finishes() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let store = work.path("screening.db");
    let (older, younger, new) = an_overdue_night(&sim, &work, &store);
    let night: Vec<String> = [older, younger, new].concat();
    let started = Instant::now();
    let result = screen_into(
        &sim,
        &work,
        &store,
        &night,
        &["--deadline", "3s", "--rate", "100"],
    );
    let took = started.elapsed();
    result.exit(3);
    let paid = &result.per_card;
    assert!(took < Duration::from_millis(5500), "took {took:?}");
    let rows = &result.rows;
    assert_eq!(rows.len(), night.len());
    let status = result.column("status");
    let error = result.column("error");
    let card = result.column("card");
    let unscreened: Vec<&String> = (0..rows.len())
        .filter(|&i| status[i] == "error")
        .map(|i| &card[i])
        .collect();
    assert!(!unscreened.is_empty());
    assert!((0..rows.len())
        .filter(|&i| status[i] == "error")
        .all(|i| error[i].contains("deadline")));
    assert!(
        unscreened.iter().all(|c| !paid.contains_key(*c)),
        "the errors were never called"
    );
    assert_eq!(paid.len() + unscreened.len(), night.len());
    // --retry-errors calls exactly those rows.
    let retried = a_night(&sim, &work, &store).arg("--retry-errors").run();
    retried.ok();
    let called: Vec<&String> = retried.per_card.keys().collect();
    let mut expected: Vec<&String> = unscreened.clone();
    expected.sort();
    assert_eq!(called, expected);
}

#[test]
fn a_planned_call_budget_takes_new_cards_then_the_oldest() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let store = work.path("screening.db");
    let (older, younger, new) = an_overdue_night(&sim, &work, &store);
    let night: Vec<String> = [older.clone(), younger.clone(), new.clone()].concat();
    let result = screen_into(
        &sim,
        &work,
        &store,
        &night,
        &["--max-calls", "400", "--max-stale", "30d"],
    );
    result.ok();
    let paid = &result.per_card;
    assert!((300..=400).contains(&paid.len()), "{} calls", paid.len());
    assert!(new.iter().all(|c| paid.contains_key(c)));
    assert!(
        !younger.iter().any(|c| paid.contains_key(c)),
        "the older results go first"
    );
}

#[test]
fn a_resumed_run_continues_its_row_of_the_runs_table() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let store = work.path("screening.db");
    let all = cards(120, 420);
    let stopped = screen_into(&sim, &work, &store, &all, &["--max-calls", "50"]);
    stopped.exit(5);
    let resumed = screen_into(&sim, &work, &store, &all, &["--resume"]);
    resumed.ok();
    let runs = runs_of(&store, &[]);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        runs[0]["calls"].as_u64(),
        Some((stopped.per_card.len() + resumed.per_card.len()) as u64)
    );
    assert_eq!(runs[0]["exit_code"], 0);
    assert_eq!(runs[0]["rows"], 120);
}

/// `screen` under libfaketime, the wall clock `hours` ahead (the monotonic clock left alone,
/// so pacing and timeouts are real).
fn screen_at(hours: u64, sim: &Simulator, input: &Path, extra: &[&str]) -> std::process::Command {
    let inner = screen(sim, input, extra);
    let mut cmd = std::process::Command::new("faketime");
    cmd.arg("-f")
        .arg(format!("+{hours}h"))
        .arg(inner.get_program())
        .args(inner.get_args())
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd
}

#[test]
#[ignore = "needs faketime"]
fn twenty_two_nights_under_a_moved_clock_stay_level() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let store = work.path("screening.db");
    let (stable, new_a_night) = (1400, 30);
    let base = cards(stable, 500);
    let mut file = base.clone();
    let (mut calls, mut ideal) = (Vec::new(), Vec::new());
    let mut early = 0;
    let start = std::time::SystemTime::now();
    for night in 0..22u64 {
        file.extend(cards(new_a_night, 600 + night));
        let input = work.write("night.csv", card_csv(&file));
        let out = work.path("night.out.csv");
        let summary_path = work.path("summary.json");
        let before = sim.calls();
        let mut cmd = screen_at(24 * night, &sim, &input, &["-o", out.to_str().unwrap()]);
        cmd.args(["--store", store.to_str().unwrap(), "--max-age", "7d"])
            .args(["--summary", summary_path.to_str().unwrap()]);
        let result = run(cmd);
        assert_eq!(code(&result), 0, "night {}: {}", night + 1, stderr(&result));
        calls.push(sim.calls() - before);
        ideal.push(if night == 0 {
            file.len() as f64
        } else {
            file.len() as f64 / 7.0 + new_a_night as f64
        });
        early += summary(&work)["refreshed_early"].as_u64().unwrap();
        let tonight = start + Duration::from_secs(86_400 * night);
        let (header, rows) = read_csv(&out);
        assert_eq!(rows.len(), file.len());
        for at in column(&header, &rows, "screened_at") {
            let at = humantime::parse_rfc3339(&at).expect("an RFC 3339 time");
            let age = tonight.duration_since(at).unwrap_or_default();
            assert!(
                age < Duration::from_secs(7 * 86_400),
                "night {}: a result {age:?} old",
                night + 1
            );
        }
    }
    for (n, (c, i)) in calls.iter().zip(&ideal).enumerate().skip(1) {
        let bound = if n >= 8 { 1.3 } else { 2.0 };
        assert!(
            *c as f64 <= bound * i,
            "night {}: {c} calls, ideal {i:.0}; {calls:?}",
            n + 1
        );
    }
    let total: u64 = calls.iter().sum();
    assert!(total as f64 <= 1.2 * ideal.iter().sum::<f64>(), "{calls:?}");
    assert!(early > 0);
    let listed: Vec<u64> = runs_of(&store, &["--limit", "100"])
        .iter()
        .map(|r| r["calls"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, calls);
}
