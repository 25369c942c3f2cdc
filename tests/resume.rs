//! Never lose a paid result: kills, signals, stops and budgets leave a run that `--resume`
//! finishes without paying twice, with the output of an uninterrupted run.

use std::time::Duration;

use crate::common::*;

#[test]
fn kill_9_at_several_points_then_resume_pays_each_card_about_once() {
    let sim = Simulator::start(&["--latency", "15ms"]);
    let work = Workdir::new();
    let mut all = cards(300, 20);
    // Duplicates and an invalid row ride along.
    all.push(all[3].clone());
    all.push("622848040256".into());
    let input = work.write("cards.csv", card_csv(&all));
    let expected = reference(&work, &input);
    let out = work.path("out.csv");
    let journal = work.path("out.csv.journal");

    for (round, calls) in [40u64, 140, 220].into_iter().enumerate() {
        let mode = if round == 0 { "--fresh" } else { "--resume" };
        let child = spawn(&mut screen(
            &sim,
            &input,
            &["-o", out.to_str().unwrap(), mode],
        ));
        wait_for_calls(&sim, calls);
        let mut child = child;
        child.kill().expect("kill -9");
        let _ = child.wait();
        assert!(journal.exists(), "a killed run keeps its journal");
        assert!(!out.exists(), "a killed run leaves no final output");
    }
    let result = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    assert_eq!(without_orderid(&out), expected);
    assert!(!journal.exists());
    let twice = paid_twice(&sim);
    assert!(
        twice.len() <= 3 * 8,
        "{} cards paid twice after 3 kills at concurrency 8",
        twice.len()
    );
    let distinct = sim.stats()["per_card_ok"].as_object().unwrap().len();
    assert_eq!(distinct, 300, "every valid card answered");
}

#[test]
fn sigint_saves_progress_and_resume_pays_nothing_twice() {
    interrupt_then_resume(libc::SIGINT, 130);
}

#[test]
fn sigterm_saves_progress_and_resume_pays_nothing_twice() {
    interrupt_then_resume(libc::SIGTERM, 143);
}

#[test]
fn a_second_sigint_exits_at_once() {
    // Every call hangs far longer than the test waits; only the second signal can end the run.
    let sim = Simulator::start(&["--slow-rate", "1", "--slow-delay", "60s"]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(50, 30)));
    let out = work.path("out.csv");
    let child = spawn(&mut screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--timeout", "120s"],
    ));
    // The run's first call goes alone and never comes back, so one call is all there is.
    wait_for_calls(&sim, 1);
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGINT);
    let (code_seen, _) = finish(child, Duration::from_secs(10));
    assert_eq!(code_seen, 130);
    assert!(work.path("out.csv.journal").exists());
}

#[test]
fn quota_stop_then_next_day_resume_pays_every_card_once() {
    let sim = Simulator::start(&["--quota", "70"]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(150, 31)));
    let expected = reference(&work, &input);
    let out = work.path("out.csv");
    let first = run(screen(&sim, &input, &["-o", out.to_str().unwrap()]));
    assert_eq!(code(&first), 5, "{}", stderr(&first));
    sim.reset();
    let second = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(
        code(&second),
        5,
        "quota of 70 a day cannot finish 150 cards in two days: {}",
        stderr(&second)
    );
    sim.reset();
    let third = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(code(&third), 0, "{}", stderr(&third));
    assert_eq!(without_orderid(&out), expected);
    let stats = sim.stats();
    let per_card_ok = stats["per_card_ok"].as_object().unwrap();
    assert_eq!(per_card_ok.len(), 150);
    assert!(
        per_card_ok.values().all(|n| n == 1),
        "every card paid exactly once"
    );
}

#[test]
fn refused_key_then_resume_with_the_right_key_completes() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(80, 32)));
    let out = work.path("out.csv");
    let mut wrong = screen(&sim, &input, &["-o", out.to_str().unwrap()]);
    wrong.env("JUHE_KEY", "expired-key");
    let first = run(&mut wrong);
    assert_eq!(code(&first), 4, "{}", stderr(&first));
    let second = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    let (header, rows) = read_csv(&out);
    assert_eq!(rows.len(), 80);
    assert!(column(&header, &rows, "status").iter().all(|s| s == "ok"));
}

#[test]
fn max_calls_budget_stops_and_resume_completes_with_one_call_per_card() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let mut all = cards(120, 33);
    all.extend(all[..20].to_vec());
    all.push("4111".into());
    let input = work.write("cards.csv", card_csv(&all));
    let out = work.path("out.csv");
    let first = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--max-calls", "50"],
    ));
    assert_eq!(code(&first), 5, "{}", stderr(&first));
    assert_eq!(sim.calls(), 50);
    let second = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert_eq!(sim.calls(), 120, "calls equal the distinct valid cards");
    let (header, rows) = read_csv(&out);
    assert_eq!(rows.len(), all.len());
    let attempts: u64 = column(&header, &rows, "attempts")
        .iter()
        .map(|a| a.parse::<u64>().unwrap())
        .sum();
    assert_eq!(attempts, 120);
}

#[test]
fn resume_refuses_a_changed_input() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let all = cards(60, 34);
    let input = work.write("cards.csv", card_csv(&all));
    let out = work.path("out.csv");
    let first = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--max-calls", "10"],
    ));
    assert_eq!(code(&first), 5);
    std::fs::write(&input, card_csv(&all[..59])).unwrap();
    let calls = sim.calls();
    let second = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(code(&second), 2, "{}", stderr(&second));
    assert!(
        stderr(&second).contains("input file"),
        "{}",
        stderr(&second)
    );
    assert!(stderr(&second).contains("--fresh"), "{}", stderr(&second));
    assert_eq!(sim.calls(), calls, "a refused resume calls nothing");
}

#[test]
fn an_unfinished_run_must_be_resumed_or_discarded() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(40, 35)));
    let out = work.path("out.csv");
    let first = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--max-calls", "10"],
    ));
    assert_eq!(code(&first), 5);
    let again = run(screen(&sim, &input, &["-o", out.to_str().unwrap()]));
    assert_eq!(code(&again), 2);
    let message = stderr(&again);
    assert!(
        message.contains("--resume") && message.contains("--fresh"),
        "{message}"
    );
    let fresh = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--fresh"],
    ));
    assert_eq!(code(&fresh), 0, "{}", stderr(&fresh));
    assert_eq!(sim.calls(), 10 + 40, "--fresh starts over");
}

#[test]
fn every_transport_fault_is_retried_until_every_row_is_ok() {
    let sim = Simulator::start(&[
        "--http-502-rate",
        "0.03",
        "--truncated-rate",
        "0.03",
        "--reset-rate",
        "0.03",
        "--slow-rate",
        "0.03",
        "--slow-delay",
        "2s",
        "--seed",
        "11",
    ]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(300, 36)));
    let out = work.path("out.csv");
    let result = run(screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--timeout",
            "500ms",
            "--max-attempts",
            "8",
        ],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (header, rows) = read_csv(&out);
    assert!(column(&header, &rows, "status").iter().all(|s| s == "ok"));
    let faults = sim.stats()["transport_faults"].clone();
    for kind in ["http_502", "truncated", "reset", "slow"] {
        assert!(
            faults[kind].as_u64().unwrap() > 0,
            "no {kind} fault happened: {faults}"
        );
    }
}

#[test]
fn too_fast_for_the_key_slows_down_and_finishes() {
    let sim = Simulator::start(&["--qps-limit", "10"]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(60, 37)));
    let out = work.path("out.csv");
    let result = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--rate", "40"],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (header, rows) = read_csv(&out);
    assert!(column(&header, &rows, "status").iter().all(|s| s == "ok"));
    let stats = sim.stats();
    let throttled = stats["by_code"]["10011"].as_u64().unwrap_or(0);
    let calls = stats["calls"].as_u64().unwrap();
    assert!(throttled > 0, "the test should provoke 10011");
    assert!(
        throttled * 3 < calls,
        "10011 answers should be a small share: {throttled} of {calls}"
    );
}

#[test]
fn after_the_breaker_trips_resume_finishes_and_retry_errors_asks_again() {
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(100, 38)));
    let out = work.path("out.csv");
    let dead = Simulator::start(&["--timeout-rate", "1"]);
    let first = run(screen(
        &dead,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--max-attempts",
            "2",
            "--max-consecutive-failures",
            "5",
        ],
    ));
    assert_eq!(code(&first), 4, "{}", stderr(&first));
    let failed_cards = dead.stats()["per_card"].as_object().unwrap().len() as u64;
    drop(dead);
    let healthy = Simulator::start(&[]);
    // The rows that failed keep their received result: resume does not pay for them again.
    let second = run(screen(
        &healthy,
        &input,
        &["-o", out.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(code(&second), 3, "{}", stderr(&second));
    let journaled_errors = {
        let (header, rows) = read_csv(&out);
        column(&header, &rows, "status")
            .iter()
            .filter(|s| *s == "error")
            .count() as u64
    };
    assert!(journaled_errors >= 5 && journaled_errors <= failed_cards);
    assert_eq!(healthy.calls(), 100 - journaled_errors);
    let third = run(screen(
        &healthy,
        &input,
        &["-o", out.to_str().unwrap(), "--retry-errors"],
    ));
    assert_eq!(code(&third), 0, "{}", stderr(&third));
    let (header, rows) = read_csv(&out);
    assert!(column(&header, &rows, "status").iter().all(|s| s == "ok"));
    assert_eq!(healthy.calls(), 100);
}
