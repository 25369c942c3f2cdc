//! What a bank's operations need: a refused key costs one call however wide the pool, and a
//! pool whose first rows need no call still opens.

use crate::common::*;

#[test]
fn a_wrong_key_costs_exactly_one_call_at_concurrency_16() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(500, 130)));
    let out = work.path("out.csv");
    let summary = work.path("summary.json");
    let mut cmd = screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--concurrency",
            "16",
            "--rate",
            "0",
            "--summary",
            summary.to_str().unwrap(),
        ],
    );
    cmd.env("JUHE_KEY", "wrong-key");
    let result = run(&mut cmd);
    assert_eq!(code(&result), 4, "{}", stderr(&result));
    assert_eq!(sim.calls(), 1, "{}", sim.stats());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(summary["calls"], 1, "{summary}");
    assert!(stderr(&result).contains("10001"), "{}", stderr(&result));
}

#[test]
fn a_file_that_starts_with_rows_needing_no_call_still_opens_the_pool() {
    let sim = Simulator::start(&["--timeout-rate", "0.5", "--seed", "3"]);
    let work = Workdir::new();
    let all = cards(60, 131);
    // An invalid card, then the same card twice: the first call is the third row's.
    let mut text = format!("id,card\n1,12345\n2,{}\n3,{}\n", all[0], all[0]);
    for (i, card) in all.iter().enumerate().skip(1) {
        text.push_str(&format!("{},{card}\n", i + 3));
    }
    let input = work.write("cards.csv", text);
    let out = work.path("out.csv");
    let result = run(screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--concurrency",
            "16",
            "--max-attempts",
            "30",
        ],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (header, rows) = read_csv(&out);
    let status = column(&header, &rows, "status");
    assert_eq!(status[0], "invalid");
    assert!(status[1..].iter().all(|s| s == "ok"), "{status:?}");
    assert!(paid_twice(&sim).is_empty(), "{}", sim.stats());
    assert!(sim.stats()["by_code"]["271901"].as_u64().unwrap() > 0);
}
