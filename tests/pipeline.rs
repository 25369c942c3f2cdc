//! End-to-end screening through the real binary against a real simulator process: every row
//! kept in order with the right flags, only valid cards paid for, retries, aborts and limits
//! that protect the key and the vendor, and no key or full card in logs or readable files.

use cardscreen::{card::clean, simulator::flags_for};

use crate::common::*;

#[test]
fn output_keeps_every_row_in_order_with_the_simulators_flags() {
    let sim = Simulator::start(&[]);
    let result = Screen::new(&sim).fixture("sample.csv").run();
    result.ok();

    let (in_header, in_rows) = read_csv(&result.input);
    let (out_header, out_rows) = (&result.header, &result.rows);
    assert_eq!(out_rows.len(), in_rows.len());
    assert_eq!(&out_header[..in_header.len()], &in_header[..]);
    assert_eq!(&out_header[in_header.len()..], &ADDED[..]);
    let card_col = in_header.iter().position(|h| h == "bankcard").unwrap();
    let mut hits = 0;
    let mut invalid = 0;
    for (input_row, output_row) in in_rows.iter().zip(out_rows) {
        // Input columns unchanged, including quoted commas and Chinese text.
        assert_eq!(&output_row[..input_row.len()], &input_row[..]);
        let added = &output_row[in_header.len()..];
        let card = &input_row[card_col];
        match added[0].as_str() {
            "ok" => {
                let cleaned = clean(card).expect("an ok row has a valid card");
                let expected = flags_for(cleaned.as_str());
                let flags: Vec<bool> = added[FLAGS].iter().map(|f| f == "1").collect();
                assert_eq!(flags, expected, "flags for row {input_row:?}");
                let hit = expected.iter().any(|&f| f);
                assert_eq!(added[1], if hit { "1" } else { "0" });
                hits += usize::from(hit);
                assert!(added[8].starts_with("JH"), "orderid {:?}", added[8]);
                assert_eq!(added[10], "");
            }
            "invalid" => {
                invalid += 1;
                assert_eq!(added[1], "");
                assert!(!added[10].is_empty());
                assert_eq!(added[11], "0");
            }
            other => panic!("unexpected status {other:?} in {output_row:?}"),
        }
    }
    assert!(
        hits >= 2,
        "the sample should show a couple of hits, got {hits}"
    );
    assert!(
        invalid >= 2,
        "the sample should show a couple of invalid cards, got {invalid}"
    );
}

#[test]
fn locally_invalid_cards_never_reach_the_api() {
    let sim = Simulator::start(&[]);
    let good = cards(3, 1);
    let result = Screen::new(&sim)
        .csv(format!("card\n{}\n622848040256\n6.22848E+18\nabcdefghijklmnop\n\n{}\n62284804025648900181234\n{}\n", good[0], good[1], good[2]))
        .run();
    result.ok();
    let stats = sim.stats();
    assert_eq!(stats["calls"], 3, "{stats}");
    let per_card = stats["per_card"].as_object().unwrap();
    let mut called: Vec<&String> = per_card.keys().collect();
    called.sort();
    let mut expected: Vec<&String> = good.iter().collect();
    expected.sort();
    assert_eq!(called, expected);
    let status = result.column("status");
    // The blank line of a one-column file is an empty cell: a row of its own.
    assert_eq!(
        status,
        ["ok", "invalid", "invalid", "invalid", "invalid", "ok", "invalid", "ok"]
    );
    let errors = result.column("error");
    assert!(errors[1].contains("12 digits"), "{}", errors[1]);
    assert!(errors[2].contains("Excel"), "{}", errors[2]);
}

#[test]
fn data_source_timeouts_are_retried_until_every_row_is_ok() {
    let sim = Simulator::start(&["--timeout-rate", "0.3", "--seed", "7"]);
    let result = Screen::new(&sim)
        .cards(200, 2)
        .args(["--max-attempts", "20"])
        .run();
    result.ok().all_ok();
    assert_eq!(result.rows.len(), 200);
    let attempts = result.attempts();
    let calls = result.calls;
    assert_eq!(
        attempts, calls,
        "the attempts column must account for every call"
    );
    assert!(
        calls > 200,
        "with 30% timeouts some cards need more than one call"
    );
    assert!(sim.stats()["by_code"]["271901"].as_u64().unwrap() > 0);
}

#[test]
fn a_refused_key_aborts_at_once() {
    let sim = Simulator::start(&[]);
    let result = Screen::new(&sim)
        .cards(500, 3)
        .args(["--concurrency", "4"])
        .env("JUHE_KEY", "wrong-key")
        .run();
    result.exit(4);
    // The first call goes alone; its refusal keeps the rest of the pool from calling.
    assert_eq!(result.calls, 1, "a refused key must cost one call");
    assert!(result.stderr.contains("10001"), "{}", result.stderr);
    assert!(
        !result.out().exists(),
        "an aborted run must not leave a final output"
    );
}

#[test]
fn a_used_up_quota_stops_the_run() {
    let sim = Simulator::start(&["--quota", "30"]);
    let result = Screen::new(&sim).cards(100, 4).run();
    result.exit(5);
    assert!(result.stderr.contains("--resume"), "{}", result.stderr);
    assert!(result.calls <= 30 + 8 + 1);
}

#[test]
fn a_source_that_always_times_out_trips_the_breaker() {
    let sim = Simulator::start(&["--timeout-rate", "1"]);
    let result = Screen::new(&sim)
        .cards(1000, 5)
        .args(["--max-attempts", "2", "--max-consecutive-failures", "10"])
        .run();
    result.exit(4);
    let calls = result.calls;
    assert!(
        calls < 100,
        "the breaker should stop a dead source early, made {calls} calls"
    );
}

#[test]
fn the_client_rate_keeps_under_the_vendors_limit() {
    let sim = Simulator::start(&["--qps-limit", "50"]);
    let result = Screen::new(&sim).cards(120, 6).args(["--rate", "45"]).run();
    result.ok();
    let stats = sim.stats();
    assert!(stats["by_code"].get("10011").is_none(), "{stats}");
    assert_eq!(stats["calls"], 120);
}

#[test]
fn never_more_calls_in_flight_than_the_concurrency() {
    let sim = Simulator::start(&["--latency", "30ms"]);
    let result = Screen::new(&sim)
        .cards(200, 7)
        .args(["--concurrency", "5"])
        .run();
    result.ok();
    let peak = sim.stats()["peak_in_flight"].as_u64().unwrap();
    assert!(peak <= 5, "peak in flight {peak}");
    assert!(
        peak >= 2,
        "the pool should run calls concurrently, peak {peak}"
    );
}

#[test]
fn trace_logs_show_neither_the_key_nor_a_full_card() {
    let sim = Simulator::start(&["--timeout-rate", "0.2"]);
    let all = cards(30, 8);
    let result = Screen::new(&sim)
        .card_list(&all)
        .env("RUST_LOG", "trace")
        .run();
    result.ok();
    let log = &result.stderr;
    assert!(log.len() > 1000, "trace logging should say a lot");
    assert!(!log.contains(KEY), "the key leaked into the logs");
    for card in &all {
        assert!(
            !log.contains(card.as_str()),
            "a full card number leaked into the logs"
        );
    }
}

#[test]
fn a_missing_key_names_the_variable() {
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(2, 9)));
    let result = run(std::process::Command::new(BIN)
        .arg("screen")
        .arg(&input)
        .env_remove("JUHE_KEY"));
    assert_eq!(code(&result), 2);
    assert!(stderr(&result).contains("JUHE_KEY"), "{}", stderr(&result));
}

#[test]
fn simulate_flag_screens_without_a_key() {
    let work = Workdir::new();
    let input = work.fixture("sample.csv");
    let result = run(std::process::Command::new(BIN)
        .args(["screen", "--simulate", "--progress", "never"])
        .arg(&input)
        .env_remove("JUHE_KEY"));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (_, rows) = read_csv(&work.path("sample.screened.csv"));
    assert_eq!(rows.len(), read_csv(&input).1.len());
}

#[cfg(unix)]
#[test]
fn files_with_card_numbers_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Simulator::start(&[]);
    let result = Screen::new(&sim).cards(5, 10).run();
    result.ok();
    let mode = std::fs::metadata(result.out())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "output mode {mode:o}");
    assert!(
        !result.work.path("out.csv.journal").exists(),
        "a completed run removes its journal"
    );
}
