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
    Screen::new(&sim)
        .work(&work)
        .input(&input)
        .arg("--resume")
        .run()
        .ok();
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
    let screen = || Screen::new(&sim).work(&work).input(&input);
    screen().run().exit(5);
    sim.reset();
    let second = screen().arg("--resume").run();
    assert_eq!(
        second.code, 5,
        "quota of 70 a day cannot finish 150 cards in two days: {}",
        second.stderr
    );
    sim.reset();
    let third = screen().arg("--resume").run();
    third.ok();
    assert_eq!(without_orderid(third.out()), expected);
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
    let first = Screen::new(&sim)
        .cards(80, 32)
        .env("JUHE_KEY", "expired-key")
        .run();
    first.exit(4);
    let second = Screen::new(&sim)
        .work(&first.work)
        .input(&first.input)
        .arg("--resume")
        .run();
    second.ok().all_ok();
    assert_eq!(second.rows.len(), 80);
}

#[test]
fn max_calls_budget_stops_and_resume_completes_with_one_call_per_card() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let mut all = cards(120, 33);
    all.extend(all[..20].to_vec());
    all.push("4111".into());
    let input = work.write("cards.csv", card_csv(&all));
    let screen = || Screen::new(&sim).work(&work).input(&input);
    screen().args(["--max-calls", "50"]).run().exit(5);
    assert_eq!(sim.calls(), 50);
    let second = screen().arg("--resume").run();
    second.ok();
    assert_eq!(sim.calls(), 120, "calls equal the distinct valid cards");
    assert_eq!(second.rows.len(), all.len());
    assert_eq!(second.attempts(), 120);
}

#[test]
fn resume_refuses_a_changed_input() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let all = cards(60, 34);
    let first = Screen::new(&sim)
        .work(&work)
        .card_list(&all)
        .args(["--max-calls", "10"])
        .run();
    first.exit(5);
    let second = Screen::new(&sim)
        .work(&work)
        .card_list(&all[..59])
        .arg("--resume")
        .run();
    assert_refused(&second, "input file");
    assert!(second.stderr.contains("--fresh"), "{}", second.stderr);
}

#[test]
fn an_unfinished_run_must_be_resumed_or_discarded() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(40, 35)));
    let screen = || Screen::new(&sim).work(&work).input(&input);
    screen().args(["--max-calls", "10"]).run().exit(5);
    let again = screen().run();
    assert_refused(&again, "--resume");
    assert!(again.stderr.contains("--fresh"), "{}", again.stderr);
    screen().arg("--fresh").run().ok();
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
    let result = Screen::new(&sim)
        .cards(300, 36)
        .args(["--timeout", "500ms", "--max-attempts", "8"])
        .run();
    result.ok().all_ok();
    assert_eq!(result.rows.len(), 300);
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
    let result = Screen::new(&sim).cards(60, 37).args(["--rate", "40"]).run();
    result.ok().all_ok();
    assert_eq!(result.rows.len(), 60);
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
    let dead = Simulator::start(&["--timeout-rate", "1"]);
    Screen::new(&dead)
        .work(&work)
        .input(&input)
        .args(["--max-attempts", "2", "--max-consecutive-failures", "5"])
        .run()
        .exit(4);
    let failed_cards = dead.stats()["per_card"].as_object().unwrap().len() as u64;
    drop(dead);
    let healthy = Simulator::start(&[]);
    // The rows that failed keep their received result: resume does not pay for them again.
    let screen = || Screen::new(&healthy).work(&work).input(&input);
    let second = screen().arg("--resume").run();
    second.exit(3);
    let journaled_errors = second
        .column("status")
        .iter()
        .filter(|s| *s == "error")
        .count() as u64;
    assert!(journaled_errors >= 5 && journaled_errors <= failed_cards);
    assert_eq!(healthy.calls(), 100 - journaled_errors);
    let third = screen().arg("--retry-errors").run();
    third.ok().all_ok();
    assert_eq!(third.rows.len(), 100);
    assert_eq!(healthy.calls(), 100);
}
