//! Spend nothing twice and report like a batch job: deduplication, dry run, JSON summary,
//! --fail-on-hit, --retry-errors and progress lines for cron.

use cardscreen::{card::clean, simulator::flags_for};

use crate::common::*;

#[test]
fn every_card_is_called_once_however_often_it_appears() {
    let sim = Simulator::start(&["--latency", "5ms"]);
    let distinct = cards(40, 50);
    // Each card three times: twice in adjacent rows (the first call still in flight), once far away.
    let mut all = Vec::new();
    for card in &distinct {
        all.push(card.clone());
        all.push(card.clone());
    }
    all.extend(distinct.iter().cloned());
    // The same card written differently is still the same card.
    all.push(format!("{} {}", &distinct[0][..8], &distinct[0][8..]));
    let result = Screen::new(&sim).card_list(&all).run();
    result.ok();
    let stats = sim.stats();
    assert_eq!(stats["calls"], 40, "calls equal distinct cards: {stats}");
    assert!(stats["per_card"]
        .as_object()
        .unwrap()
        .values()
        .all(|n| n == 1));

    let (header, rows) = (&result.header, &result.rows);
    assert_eq!(rows.len(), all.len());
    let attempts_at = header.iter().position(|h| h == "attempts").unwrap();
    let first_row_of = |card: &str| rows.iter().position(|r| r[1] == card).unwrap();
    for (i, row) in rows.iter().enumerate() {
        let cleaned = clean(&row[1]).unwrap();
        let first = &rows[first_row_of(cleaned.as_str())];
        if std::ptr::eq(first, row) {
            assert_eq!(row[attempts_at], "1");
            continue;
        }
        // A duplicate equals its first row but for the card cell, id and attempts.
        assert_eq!(row[2..attempts_at], first[2..attempts_at], "row {i}");
        assert_eq!(row[attempts_at], "0", "row {i}");
    }
    assert!(
        result
            .stderr
            .contains(&format!("{} duplicates", all.len() - 40)),
        "{}",
        result.stderr
    );
}

#[test]
fn dry_run_counts_without_calling() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let good = cards(10, 51);
    let mut all = good.clone();
    all.extend(good[..3].to_vec());
    all.push("622848040256".into());
    all.push("6.22848E+18".into());
    all.push("6228480402564890019".into()); // fails Luhn
    let config = work.write("c.toml", "price_per_call = 0.5\nrate = 2\n");
    let result = Screen::new(&sim)
        .work(&work)
        .card_list(&all)
        .unnamed_output()
        .arg("--dry-run")
        .arg("--config")
        .arg(&config)
        .args(["--rate", "2"])
        .run();
    result.ok();
    let report = result.stdout_text();
    for expected in [
        "rows:            16",
        "valid:           14",
        "invalid:         2",
        "too_few_digits: 1",
        "scientific_notation: 1",
        "distinct cards:  11",
        "duplicates:      3",
        "Luhn warnings:   1",
        "calls needed:    11",
        "about 6s at 2 calls/s",
        "expected cost:   5.50",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in:\n{report}"
        );
    }
    assert_eq!(result.calls, 0);
    assert!(!work.path("cards.screened.csv").exists());
}

#[test]
fn json_summary_agrees_with_the_output_and_the_simulator() {
    let sim = Simulator::start(&["--timeout-rate", "0.2"]);
    let work = Workdir::new();
    let mut all = cards(150, 52);
    all.extend(all[..10].to_vec());
    all.push("12345".into());
    let summary_path = work.path("summary.json");
    let result = Screen::new(&sim)
        .work(&work)
        .card_list(&all)
        .arg("--summary")
        .arg(&summary_path)
        .args(["--max-attempts", "10"])
        .run();
    result.ok();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    let rows = &result.rows;
    let status = result.column("status");
    let hit = result.column("hit");
    let count = |s: &str| status.iter().filter(|x| *x == s).count() as u64;
    assert_eq!(summary["rows"], rows.len() as u64);
    assert_eq!(summary["ok"], count("ok"));
    assert_eq!(summary["invalid"], count("invalid"));
    assert_eq!(summary["errors"], count("error"));
    assert_eq!(
        summary["hits"],
        hit.iter().filter(|h| *h == "1").count() as u64
    );
    assert_eq!(summary["duplicates"], 10);
    assert_eq!(summary["invalid_by_reason"]["too_few_digits"], 1);
    let stats = sim.stats();
    assert_eq!(
        summary["calls"], stats["calls"],
        "calls must equal what the API received"
    );
    let attempts = result.attempts();
    assert_eq!(summary["retries"].as_u64().unwrap(), attempts - 150);
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["complete"], true);
    for field in [
        "hits_by_flag",
        "errors_by_code",
        "elapsed_seconds",
        "calls_per_second",
        "input",
        "output",
        "started_at",
        "finished_at",
    ] {
        assert!(summary.get(field).is_some(), "summary lacks {field}");
    }
    let by_flag: u64 = summary["hits_by_flag"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(by_flag >= summary["hits"].as_u64().unwrap());
}

#[test]
fn fail_on_hit_sets_the_exit_code() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let sample = || Screen::new(&sim).work(&work).fixture("sample.csv");
    let with_hits = sample().arg("--fail-on-hit").run();
    with_hits.exit(1);
    assert!(
        with_hits.out().exists(),
        "a run that found hits is still complete"
    );
    sample().run().ok();

    // A file with no hits at all.
    let quiet: Vec<String> = cards(60, 53)
        .into_iter()
        .filter(|c| !flags_for(c).iter().any(|&f| f))
        .collect();
    let input = work.write("quiet.csv", card_csv(&quiet));
    Screen::new(&sim)
        .work(&work)
        .input(&input)
        .output("q.csv")
        .arg("--fail-on-hit")
        .run()
        .ok();

    // Errors win over hits: exit 3.
    let flaky = Simulator::start(&["--timeout-rate", "0.5", "--seed", "3"]);
    Screen::new(&flaky)
        .work(&work)
        .fixture("sample.csv")
        .args(["--fail-on-hit", "--max-attempts", "1"])
        .args(["--max-consecutive-failures", "0"])
        .run()
        .exit(3);
}

#[test]
fn retry_errors_calls_only_the_failed_rows() {
    let work = Workdir::new();
    let mut all = cards(120, 54);
    all.push(all[0].clone());
    all.push("622848040256".into());
    let flaky = Simulator::start(&["--timeout-rate", "0.15", "--seed", "5"]);
    let first = Screen::new(&flaky)
        .work(&work)
        .card_list(&all)
        .args(["--max-attempts", "1", "--max-consecutive-failures", "0"])
        .run();
    first.exit(3);
    let (header, before) = (&first.header, &first.rows);
    assert_eq!(before.len(), all.len());
    let status = first.column("status");
    let failed: std::collections::BTreeSet<String> = before
        .iter()
        .zip(&status)
        .filter(|(_, s)| *s == "error")
        .map(|(r, _)| r[1].clone())
        .collect();
    assert!(!failed.is_empty());

    let healthy = Simulator::start(&[]);
    let second = Screen::new(&healthy)
        .work(&work)
        .input(&first.input)
        .arg("--retry-errors")
        .run();
    second.ok();
    let stats = healthy.stats();
    let called: std::collections::BTreeSet<String> = stats["per_card"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(called, failed, "only the failed cards are called again");
    let after = &second.rows;
    assert_eq!(&second.header, header);
    assert_eq!(after.len(), before.len());
    let status_after = second.column("status");
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        if status[i] == "error" {
            assert_eq!(status_after[i], "ok", "row {i}");
        } else {
            assert_eq!(a, b, "row {i} was not an error and must not change");
        }
    }
}

#[test]
fn progress_lines_go_to_a_piped_stderr() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let config = work.write("c.toml", "progress_interval = \"1s\"\n");
    let result = Screen::new(&sim)
        .work(&work)
        .cards(35, 55)
        .arg("--config")
        .arg(&config)
        .args(["--rate", "10", "--progress", "auto"])
        .run();
    result.ok();
    let log = &result.stderr;
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("Progress.")).collect();
    assert!(
        lines.len() >= 2,
        "expected periodic progress lines in:\n{log}"
    );
    assert!(
        lines.iter().all(|l| l.contains("rows_done=")
            && l.contains("eta=")
            && l.contains("calls_per_second=")),
        "{log}"
    );
}

#[test]
fn a_25_second_run_with_stderr_piped_logs_progress_every_10_seconds() {
    let sim = Simulator::start(&[]);
    let result = Screen::new(&sim)
        .cards(250, 56)
        .args(["--rate", "10", "--progress", "auto"])
        .run();
    result.ok();
    let log = &result.stderr;
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("Progress.")).collect();
    assert!(lines.len() >= 2, "a line at 10 s and at 20 s:\n{log}");
    assert!(
        lines[0].contains("rows_done=") && lines[1].contains("rows_total=250"),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal"
    );
}
