//! The store's loose ends: `--retry-errors` leaves the store holding the results it called
//! again; `history` and `store` find the store in the config file as `screen` does; `store
//! prune --vacuum` gives the space back and leaves a store that still works.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;

use crate::common::*;

fn store_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG");
    cmd
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn count(store: &Path, sql: &str) -> i64 {
    let db = Connection::open(store).expect("open store");
    db.query_row(sql, [], |r| r.get(0)).expect("count")
}

/// The cards of an output whose status is `status`.
fn cards_with(out: &Path, status: &str) -> BTreeSet<String> {
    let (header, rows) = read_csv(out);
    let statuses = column(&header, &rows, "status");
    column(&header, &rows, "card")
        .into_iter()
        .zip(statuses)
        .filter(|(_, s)| s == status)
        .map(|(card, _)| card)
        .collect()
}

/// The cards the simulator was called for.
fn called(sim: &Simulator) -> BTreeSet<String> {
    sim.stats()["per_card"]
        .as_object()
        .map(|cards| cards.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn retry_errors_with_a_store_leaves_the_store_holding_the_new_results() {
    let work = Workdir::new();
    let all = cards(200, 71);
    let input = work.write("cards.csv", card_csv(&all));
    let out = work.path("out.csv");
    let store = work.path("screening.db");
    let store_flag = ["--store", store.to_str().unwrap()];
    let flaky = Simulator::start(&["--timeout-rate", "0.2", "--seed", "9"]);
    let once = ["--max-attempts", "1", "--max-consecutive-failures", "0"];
    let first = run(screen(
        &flaky,
        &input,
        &[&["-o", out.to_str().unwrap()], &once[..], &store_flag].concat(),
    ));
    assert_eq!(code(&first), 3, "{}", stderr(&first));
    let failed = cards_with(&out, "error");
    assert!(!failed.is_empty() && failed.len() < all.len());
    let stored_before = count(&store, "SELECT count(DISTINCT id) FROM history");
    assert_eq!(stored_before as usize, all.len() - failed.len());

    let healthy = Simulator::start(&[]);
    let retry = ["-o", out.to_str().unwrap(), "--retry-errors"];
    let second = run(screen(
        &healthy,
        &input,
        &[&retry[..], &store_flag].concat(),
    ));
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert_eq!(called(&healthy), failed, "only the failed cards are called");
    assert!(cards_with(&out, "error").is_empty());
    // Every card now has one stored result: the retried ones too.
    assert_eq!(
        count(&store, "SELECT count(DISTINCT id) FROM history") as usize,
        all.len()
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM history") as usize,
        all.len()
    );

    // A third night answers every card from the store: not one call.
    let third_sim = Simulator::start(&[]);
    let third_out = work.path("third.csv");
    let third = run(screen(
        &third_sim,
        &input,
        &[
            &["-o", third_out.to_str().unwrap(), "--max-age", "1d"][..],
            &store_flag,
        ]
        .concat(),
    ));
    assert_eq!(code(&third), 0, "{}", stderr(&third));
    assert!(called(&third_sim).is_empty(), "{:?}", called(&third_sim));
    assert_eq!(cards_with(&third_out, "ok").len(), all.len());
    // And `history` shows a retried card's result, called once.
    let retried = failed.iter().next().unwrap();
    let answer = run_with_stdin(
        store_command(&["history", "--store", store.to_str().unwrap()]),
        format!("{retried}\n").as_bytes(),
    );
    assert_eq!(code(&answer), 0, "{}", stderr(&answer));
    assert_eq!(stdout(&answer).lines().count(), 2, "{}", stdout(&answer));
}

/// A store in `work` holding `cards`, screened against `sim` from a file named `name`.
fn screened_store(work: &Workdir, sim: &Simulator, name: &str, cards: &[String]) -> PathBuf {
    let input = work.write(name, card_csv(cards));
    let store = work.path("screening.db");
    let out = work.path(&format!("{name}.out.csv"));
    let night = run(screen(
        sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
    ));
    assert_eq!(code(&night), 0, "{}", stderr(&night));
    store
}

#[test]
fn the_store_commands_find_the_store_in_the_config_file_and_the_flag_wins() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let night = cards(50, 72);
    let store = screened_store(&work, &sim, "night.csv", &night);
    // Only cardscreen.toml in the working directory names the store.
    std::fs::write(work.path("cardscreen.toml"), "store = \"screening.db\"\n").unwrap();
    let stats = run(store_command(&["store", "stats"]).current_dir(work.dir.path()));
    assert_eq!(code(&stats), 0, "{}", stderr(&stats));
    assert!(
        stdout(&stats).contains("cards:          50\n"),
        "{}",
        stdout(&stats)
    );
    for args in [
        &["store", "runs"][..],
        &["store", "prune", "--older-than", "30d"],
        &["store", "report", "-o", "trend.html"],
    ] {
        let done = run(store_command(args).current_dir(work.dir.path()));
        assert_eq!(code(&done), 0, "{args:?}: {}", stderr(&done));
    }
    assert!(work.path("trend.html").is_file());
    let history = run_with_stdin(
        store_command(&["history"]).current_dir(work.dir.path()),
        format!("{}\n", night[0]).as_bytes(),
    );
    assert_eq!(code(&history), 0, "{}", stderr(&history));
    assert!(!stdout(&history).contains("not in the store"));

    // -c names a config file elsewhere, with the key file too; from another directory.
    let elsewhere = Workdir::new();
    let config = elsewhere.write(
        "night.toml",
        format!(
            "store = {:?}\nstore_key_file = {:?}\n",
            store.to_str().unwrap(),
            format!("{}.key", store.display())
        ),
    );
    let stats = run(
        store_command(&["store", "stats", "-c", config.to_str().unwrap()])
            .current_dir(elsewhere.dir.path()),
    );
    assert_eq!(code(&stats), 0, "{}", stderr(&stats));
    assert!(stdout(&stats).contains("cards:          50\n"));

    // --store on the command line wins over a config file naming a missing store.
    std::fs::write(&config, "store = \"/nonexistent/cardscreen.db\"\n").unwrap();
    let flag = run(store_command(&[
        "store",
        "stats",
        "-c",
        config.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]));
    assert_eq!(code(&flag), 0, "{}", stderr(&flag));
    let missing = run(store_command(&[
        "store",
        "stats",
        "-c",
        config.to_str().unwrap(),
    ]));
    assert_eq!(code(&missing), 2);
    assert!(
        stderr(&missing).contains("/nonexistent/cardscreen.db"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn without_a_store_the_store_commands_exit_2_naming_the_flag_and_the_key() {
    let empty = Workdir::new();
    for args in [
        &["store", "stats"][..],
        &["store", "runs"],
        &["store", "prune", "--older-than", "30d"],
        &["store", "report", "-o", "trend.html"],
        &["history"],
    ] {
        let done = run(store_command(args).current_dir(empty.dir.path()));
        assert_eq!(code(&done), 2, "{args:?}");
        let message = stderr(&done);
        assert!(
            message.contains("--store PATH") && message.contains("`store = "),
            "{args:?}: {message}"
        );
        assert!(!message.contains("panicked"), "{message}");
    }
    assert!(!empty.path("trend.html").exists());
}

#[test]
fn prune_vacuum_gives_the_space_back_and_the_store_still_works() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    // 4,900 cards last seen in a file 40 days ago, 100 seen today.
    let old = cards(4900, 73);
    let store = screened_store(&work, &sim, "old.csv", &old);
    let db = Connection::open(&store).unwrap();
    db.execute("UPDATE cards SET seen = seen - 40 * 86400", [])
        .unwrap();
    drop(db);
    let kept = cards(100, 74);
    screened_store(&work, &sim, "today.csv", &kept);
    let size = || std::fs::metadata(&store).unwrap().len();
    let store_flag = ["--store", store.to_str().unwrap()];
    let plain = run(store_command(
        &[&["store", "prune", "--older-than", "30d"][..], &store_flag].concat(),
    ));
    assert_eq!(code(&plain), 0, "{}", stderr(&plain));
    assert!(
        stdout(&plain).contains("pruned 4,900 cards"),
        "{}",
        stdout(&plain)
    );
    let pruned = size();
    let vacuum = run(store_command(
        &[
            &["store", "prune", "--older-than", "30d", "--vacuum"][..],
            &store_flag,
        ]
        .concat(),
    ));
    assert_eq!(code(&vacuum), 0, "{}", stderr(&vacuum));
    let vacuumed = size();
    assert!(
        vacuumed * 4 < pruned,
        "{pruned} bytes after the prune, {vacuumed} after the vacuum"
    );
    assert!(stdout(&vacuum).contains("vacuumed "), "{}", stdout(&vacuum));
    let stats = run(store_command(
        &[&["store", "stats"][..], &store_flag].concat(),
    ));
    assert!(
        stdout(&stats).contains("cards:          100\n"),
        "{}",
        stdout(&stats)
    );

    // The store still answers its cards and takes new ones.
    let again = Simulator::start(&[]);
    let mut again_cards = kept.clone();
    again_cards.extend(cards(50, 75));
    let input = work.write("again.csv", card_csv(&again_cards));
    let out = work.path("again.out.csv");
    let night = run(screen(
        &again,
        &input,
        &[
            &["-o", out.to_str().unwrap(), "--max-age", "1d"][..],
            &store_flag,
        ]
        .concat(),
    ));
    assert_eq!(code(&night), 0, "{}", stderr(&night));
    assert_eq!(
        called(&again).len(),
        50,
        "the 100 kept cards come from the store"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM cards"), 150);
}
