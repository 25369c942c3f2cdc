//! Nights against a store: every run that made or reused calls has its row in the runs table,
//! and `store runs --json` lists them oldest first with the calls each paid.

use std::process::Command;

use crate::common::*;

fn store_runs(store: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["store", "runs", "--store", store.to_str().unwrap()])
        .args(extra);
    run(cmd)
}

#[test]
fn store_runs_lists_every_run_with_the_calls_it_paid() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let store = work.path("screening.db");
    let all = cards(300, 91);
    let first = work.write("night1.csv", card_csv(&all[..200]));
    let second = work.write("night2.csv", card_csv(&all));
    let mut paid = Vec::new();
    for (n, input) in [&first, &second].into_iter().enumerate() {
        let before = sim.calls();
        let result = Screen::new(&sim)
            .work(&work)
            .input(input)
            .output(&format!("night{n}.csv.out.csv"))
            .arg("--store")
            .arg(&store)
            .args(["--max-age", "7d"])
            .run();
        result.ok();
        assert_eq!(result.calls, sim.calls() - before);
        paid.push(result.calls);
    }
    assert_eq!(
        paid,
        [200, 100],
        "the second night calls only the new cards"
    );
    let listed = store_runs(&store, &["--json"]);
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    let runs: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON array");
    let runs = runs.as_array().expect("array");
    let calls: Vec<u64> = runs.iter().map(|r| r["calls"].as_u64().unwrap()).collect();
    assert_eq!(calls, paid);
    assert_eq!(runs[1]["reused"], 200);
    assert_eq!(runs[1]["rows"], 300);
    assert_eq!(runs[1]["exit_code"], 0);
    for key in [
        "started_at",
        "finished_at",
        "refreshed_early",
        "stale",
        "errors",
    ] {
        assert!(runs[0].get(key).is_some(), "{key}");
    }
    let last = store_runs(&store, &["--json", "--limit", "1"]);
    let last: serde_json::Value = serde_json::from_slice(&last.stdout).expect("JSON array");
    assert_eq!(last.as_array().map(Vec::len), Some(1));
    assert_eq!(last[0]["calls"], 100);
    let text = store_runs(&store, &[]);
    assert_eq!(code(&text), 0);
    assert_eq!(String::from_utf8_lossy(&text.stdout).lines().count(), 3);
}

#[test]
fn a_bad_deadline_or_a_max_stale_below_max_age_stops_before_any_call() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let store = work.path("screening.db");
    let input = work.write("in.csv", card_csv(&cards(20, 92)));
    let cases: [(&[&str], &str); 4] = [
        (&["--deadline", "25:00"], "--deadline"),
        (&["--deadline", "2001-01-01T00:00:00Z"], "--deadline"),
        (&["--deadline", "soon"], "--deadline"),
        (&["--max-stale", "1d", "--max-age", "7d"], "--max-stale"),
    ];
    for (args, flag) in cases {
        let result = Screen::new(&sim)
            .work(&work)
            .input(&input)
            .arg("--store")
            .arg(&store)
            .args(args)
            .run();
        assert_refused(&result, flag);
    }
    assert_eq!(sim.calls(), 0);
}
