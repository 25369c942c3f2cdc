//! The store's loose ends: `--retry-errors` leaves the store holding the results it called
//! again; `history` and `store` find the store in the config file as `screen` does; `store
//! prune --vacuum` gives the space back and leaves a store that still works.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::common::*;

fn count(store: &Path, sql: &str) -> i64 {
    let db = Connection::open(store).expect("open store");
    db.query_row(sql, [], |r| r.get(0)).expect("count")
}

/// The cards of a run's output whose status is `status`.
fn cards_with(ran: &Ran, status: &str) -> BTreeSet<String> {
    ran.column("card")
        .into_iter()
        .zip(ran.column("status"))
        .filter(|(_, s)| s == status)
        .map(|(card, _)| card)
        .collect()
}

/// The cards a run called.
fn called(ran: &Ran) -> BTreeSet<String> {
    ran.per_card.keys().cloned().collect()
}

/// A `screen` run of `input` in `work` against `sim` with `--store store`.
fn with_store<'s>(sim: &'s Simulator, work: &Workdir, input: &Path, store: &Path) -> Screen<'s> {
    Screen::new(sim)
        .work(work)
        .input(input)
        .arg("--store")
        .arg(store)
}

#[test]
fn retry_errors_with_a_store_leaves_the_store_holding_the_new_results() {
    let work = Workdir::new();
    let all = cards(200, 71);
    let input = work.write("cards.csv", card_csv(&all));
    let store = work.path("screening.db");
    let flaky = Simulator::start(&["--timeout-rate", "0.2", "--seed", "9"]);
    let first = with_store(&flaky, &work, &input, &store)
        .args(["--max-attempts", "1", "--max-consecutive-failures", "0"])
        .run();
    first.exit(3);
    let failed = cards_with(&first, "error");
    assert!(!failed.is_empty() && failed.len() < all.len());
    let stored_before = count(&store, "SELECT count(DISTINCT id) FROM history");
    assert_eq!(stored_before as usize, all.len() - failed.len());

    let healthy = Simulator::start(&[]);
    let second = with_store(&healthy, &work, &input, &store)
        .arg("--retry-errors")
        .run();
    second.ok();
    assert_eq!(called(&second), failed, "only the failed cards are called");
    assert!(cards_with(&second, "error").is_empty());
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
    let third = with_store(&third_sim, &work, &input, &store)
        .output("third.csv")
        .args(["--max-age", "1d"])
        .run();
    third.ok();
    assert!(called(&third).is_empty(), "{:?}", called(&third));
    assert_eq!(cards_with(&third, "ok").len(), all.len());
    // And `history` shows a retried card's result, called once.
    let retried = failed.iter().next().unwrap();
    let answer = Cardscreen::new(["history", "--store"])
        .arg(&store)
        .stdin(format!("{retried}\n"))
        .run();
    answer.ok();
    assert_eq!(answer.stdout.lines().count(), 2, "{}", answer.stdout);
}

/// A store in `work` holding `cards`, screened against `sim` from a file named `name`.
fn screened_store(work: &Workdir, sim: &Simulator, name: &str, cards: &[String]) -> PathBuf {
    let input = work.write(name, card_csv(cards));
    let store = work.path("screening.db");
    with_store(sim, work, &input, &store)
        .output(&format!("{name}.out.csv"))
        .run()
        .ok();
    store
}

#[test]
fn the_store_commands_find_the_store_in_the_config_file_and_the_flag_wins() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let night = cards(50, 72);
    let store = screened_store(&work, &sim, "night.csv", &night);
    // Only cardscreen.toml in the working directory names the store.
    work.write("cardscreen.toml", "store = \"screening.db\"\n");
    let here = work.dir.path();
    let stats = Cardscreen::new(["store", "stats"]).current_dir(here).run();
    stats.ok();
    assert!(
        stats.stdout.contains("cards:          50\n"),
        "{}",
        stats.stdout
    );
    for args in [
        &["store", "runs"][..],
        &["store", "prune", "--older-than", "30d"],
        &["store", "report", "-o", "trend.html"],
    ] {
        let done = Cardscreen::new(args).current_dir(here).run();
        assert_eq!(done.code, 0, "{args:?}: {}", done.stderr);
    }
    assert!(work.path("trend.html").is_file());
    let history = Cardscreen::new(["history"])
        .current_dir(here)
        .stdin(format!("{}\n", night[0]))
        .run();
    history.ok();
    assert!(!history.stdout.contains("not in the store"));

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
    let stats = Cardscreen::new(["store", "stats", "-c"])
        .arg(&config)
        .current_dir(elsewhere.dir.path())
        .run();
    stats.ok();
    assert!(stats.stdout.contains("cards:          50\n"));

    // --store on the command line wins over a config file naming a missing store.
    std::fs::write(&config, "store = \"/nonexistent/cardscreen.db\"\n").unwrap();
    let in_config = || Cardscreen::new(["store", "stats", "-c"]).arg(&config);
    in_config().arg("--store").arg(&store).run().ok();
    let missing = in_config().run();
    missing.exit(2);
    assert!(
        missing.stderr.contains("/nonexistent/cardscreen.db"),
        "{}",
        missing.stderr
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
        let done = Cardscreen::new(args).current_dir(empty.dir.path()).run();
        assert_eq!(done.code, 2, "{args:?}");
        let message = &done.stderr;
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
    let on_store = |args: &[&str]| Cardscreen::new(args).arg("--store").arg(&store).run();
    let plain = on_store(&["store", "prune", "--older-than", "30d"]);
    plain.ok();
    assert!(
        plain.stdout.contains("pruned 4,900 cards"),
        "{}",
        plain.stdout
    );
    let pruned = size();
    let vacuum = on_store(&["store", "prune", "--older-than", "30d", "--vacuum"]);
    vacuum.ok();
    let vacuumed = size();
    assert!(
        vacuumed * 4 < pruned,
        "{pruned} bytes after the prune, {vacuumed} after the vacuum"
    );
    assert!(vacuum.stdout.contains("vacuumed "), "{}", vacuum.stdout);
    let stats = on_store(&["store", "stats"]);
    assert!(
        stats.stdout.contains("cards:          100\n"),
        "{}",
        stats.stdout
    );

    // The store still answers its cards and takes new ones.
    let again = Simulator::start(&[]);
    let mut again_cards = kept.clone();
    again_cards.extend(cards(50, 75));
    let input = work.write("again.csv", card_csv(&again_cards));
    let night = with_store(&again, &work, &input, &store)
        .output("again.out.csv")
        .args(["--max-age", "1d"])
        .run();
    night.ok();
    assert_eq!(
        called(&night).len(),
        50,
        "the 100 kept cards come from the store"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM cards"), 150);
}
