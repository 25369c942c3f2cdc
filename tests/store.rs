//! Screening nights, not files: a result store says what changed since each card was last
//! screened, answers young results without a call, survives kill -9 and a shared store, holds
//! no card number, refuses a wrong or missing key, and answers `history` and `store prune`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cardscreen::simulator::{flags_for, flags_on};
use rusqlite::Connection;

use crate::common::*;

/// A store in a directory of its own (created by the first run), with its key beside it.
fn store_in(work: &Workdir) -> PathBuf {
    work.path("nightly").join("screening.db")
}

fn key_of(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// A run of `input` against `sim` into `out`, with the store.
fn with_store<'s>(sim: &'s Simulator, input: &Path, out: &Path, store: &Path) -> Screen<'s> {
    Screen::new(sim)
        .input(input)
        .output_path(out)
        .arg("--store")
        .arg(store)
}

/// One night: `input` screened against `sim` into `out`, with the store.
fn night(sim: &Simulator, input: &Path, out: &Path, store: &Path, extra: &[&str]) -> Ran {
    let result = with_store(sim, input, out, store).args(extra).run();
    result.ok();
    result
}

/// Rows of an output keyed by card: (change, screened_at, orderid, attempts).
fn by_card(path: &Path) -> BTreeMap<String, [String; 4]> {
    let (header, rows) = read_csv(path);
    let cards = column(&header, &rows, "card");
    let columns =
        ["change", "screened_at", "orderid", "attempts"].map(|name| column(&header, &rows, name));
    cards
        .into_iter()
        .enumerate()
        .map(|(i, card)| (card, std::array::from_fn(|c| columns[c][i].clone())))
        .collect()
}

/// What `change` should say from the simulator's flags on the day before and the day of.
fn expected_change(before: [bool; 6], now: [bool; 6]) -> &'static str {
    match (before.contains(&true), now.contains(&true)) {
        (false, true) => "new_hit",
        (true, false) => "cleared",
        (true, true) if before != now => "changed",
        _ => "same",
    }
}

fn summary(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary")).expect("JSON")
}

/// The store's history as (card hash, result), sorted: two runs of a night differ in their
/// call times, and a night can fall in the same second as the one before.
fn history_rows(store: &Path) -> Vec<(Vec<u8>, i64)> {
    let db = Connection::open(store).expect("open store");
    let mut statement = db
        .prepare("SELECT c.card, h.result FROM history h JOIN cards c ON c.id = h.id ORDER BY c.card, h.result")
        .expect("query");
    let rows = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows");
    rows.map(|r| r.expect("row")).collect()
}

fn count(store: &Path, table: &str) -> i64 {
    let db = Connection::open(store).expect("open store");
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

struct TwoNights {
    work: Workdir,
    old: Vec<String>,
    new: Vec<String>,
    night_2: PathBuf,
    store: PathBuf,
}

/// Night 1 over 2,000 cards into a new store; the blacklists move on a day; the file for
/// night 2 is the same cards and 100 new ones.
fn night_one(sim: &Simulator) -> TwoNights {
    let work = Workdir::new();
    let old = cards(2000, 61);
    let new = cards(100, 62);
    let store = store_in(&work);
    let first = work.write("night1.csv", card_csv(&old));
    let out = work.path("night1.screened.csv");
    night(sim, &first, &out, &store, &[]);
    let rows = by_card(&out);
    assert!(
        rows.values().all(|row| row[0] == "first"),
        "night 1 is all first"
    );
    sim.next_day();
    let all: Vec<String> = old.iter().chain(&new).cloned().collect();
    let night_2 = work.write("night2.csv", card_csv(&all));
    TwoNights {
        work,
        old,
        new,
        night_2,
        store,
    }
}

#[test]
fn night_two_says_what_changed_on_every_row_and_lists_the_changes() {
    let sim = Simulator::start(&[]);
    let nights = night_one(&sim);
    let work = &nights.work;
    let out = work.path("night2.screened.csv");
    let changes = work.path("changes.csv");
    let summary_path = work.path("summary.json");
    let result = night(
        &sim,
        &nights.night_2,
        &out,
        &nights.store,
        &[
            "--changes",
            changes.to_str().unwrap(),
            "--summary",
            summary_path.to_str().unwrap(),
        ],
    );
    let rows = by_card(&out);
    let mut counted = BTreeMap::<&str, u64>::new();
    for card in &nights.old {
        let expected = expected_change(flags_for(card), flags_on(card, 1));
        assert_eq!(rows[card][0], expected, "card {card}");
        *counted.entry(expected).or_default() += 1;
    }
    for card in &nights.new {
        assert_eq!(rows[card][0], "first", "card {card}");
    }
    let news = counted.get("new_hit").copied().unwrap_or(0)
        + counted.get("cleared").copied().unwrap_or(0)
        + counted.get("changed").copied().unwrap_or(0);
    assert!(news > 5, "the simulator changed some cards: {counted:?}");

    let (header, listed) = read_csv(&changes);
    let (out_header, out_rows) = read_csv(&out);
    assert_eq!(
        header, out_header,
        "the changes file has the output's columns"
    );
    let change_at = out_header.iter().position(|h| h == "change").unwrap();
    let expected_rows: Vec<Vec<String>> = out_rows
        .into_iter()
        .filter(|row| ["new_hit", "cleared", "changed"].contains(&row[change_at].as_str()))
        .collect();
    assert_eq!(listed, expected_rows);

    let summary = summary(&summary_path);
    for (field, change) in [
        ("new_hits", "new_hit"),
        ("cleared", "cleared"),
        ("changed", "changed"),
    ] {
        assert_eq!(
            summary[field],
            counted.get(change).copied().unwrap_or(0),
            "{field}"
        );
    }
    assert_eq!(summary["first_seen"], 100);
    assert_eq!(summary["reused"], 0);
    let text = &result.stderr;
    assert!(
        text.contains(&format!(
            "changes since last screened: {} new hit",
            counted.get("new_hit").copied().unwrap_or(0)
        )),
        "{text}"
    );
    assert!(text.contains("100 first seen"), "{text}");
    assert_eq!(count(&nights.store, "cards"), 2100);
    assert_eq!(count(&nights.store, "history"), 2100 + news as i64);
}

#[test]
fn max_age_answers_young_results_from_the_store_and_pays_only_for_new_cards() {
    let sim = Simulator::start(&[]);
    let nights = night_one(&sim);
    let work = &nights.work;
    let first = by_card(&work.path("night1.screened.csv"));
    let before = sim.calls();
    let out = work.path("night2.screened.csv");
    let summary_path = work.path("summary.json");
    let dry = run(
        screen(&sim, &nights.night_2, &["--dry-run", "--max-age", "1d"])
            .args(["--store", nights.store.to_str().unwrap()]),
    );
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    let plan = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(
        plan.contains("from the store:  2000") && plan.contains("calls needed:    100"),
        "{plan}"
    );

    night(
        &sim,
        &nights.night_2,
        &out,
        &nights.store,
        &[
            "--max-age",
            "1d",
            "--summary",
            summary_path.to_str().unwrap(),
            "--changes",
            work.path("changes.csv").to_str().unwrap(),
            "--metrics",
            work.path("night.prom").to_str().unwrap(),
        ],
    );
    assert_eq!(sim.calls() - before, 100, "only the new cards are called");
    let metrics = std::fs::read_to_string(work.path("night.prom")).unwrap();
    let reused = metrics
        .lines()
        .find(|line| line.starts_with("cardscreen_reused{"))
        .unwrap_or_else(|| panic!("no cardscreen_reused in {metrics}"));
    assert!(reused.ends_with(" 2000"), "{reused}");
    let (header, listed) = read_csv(&work.path("changes.csv"));
    assert!(header.ends_with(&["screened_at".to_string(), "change".to_string()]));
    assert!(listed.is_empty(), "nothing changed: a header alone");
    let per_card = sim.per_card();
    assert!(nights.new.iter().all(|c| per_card.get(c) == Some(&1)));
    let rows = by_card(&out);
    for card in &nights.old {
        let [change, screened_at, orderid, attempts] = &rows[card];
        assert_eq!(
            (change.as_str(), attempts.as_str()),
            ("same", "0"),
            "card {card}"
        );
        assert_eq!(
            (screened_at, orderid),
            (&first[card][1], &first[card][2]),
            "card {card}"
        );
    }
    assert_eq!(summary(&summary_path)["reused"], 2000);
    assert_eq!(summary(&summary_path)["first_seen"], 100);
}

#[test]
fn kill_9_during_night_two_then_resume_leaves_the_history_of_an_uninterrupted_night() {
    let sim = Simulator::start(&[]);
    let nights = night_one(&sim);
    let work = &nights.work;
    // The same store as it was after night 1, for the night that is killed.
    let killed_store = work.path("copy").join("screening.db");
    std::fs::create_dir_all(killed_store.parent().unwrap()).unwrap();
    for suffix in ["", "-wal", ".key"] {
        let with = |path: &Path| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        if with(&nights.store).exists() {
            std::fs::copy(with(&nights.store), with(&killed_store)).expect("copy the store");
        }
    }
    let whole = work.path("whole.csv");
    night(&sim, &nights.night_2, &whole, &nights.store, &[]);

    let slow = Simulator::start(&["--day", "1", "--latency", "10ms"]);
    let out = work.path("killed.csv");
    let mut killed = screen(&slow, &nights.night_2, &["-o", out.to_str().unwrap()]);
    killed.args(["--store", killed_store.to_str().unwrap()]);
    let mut child = spawn(&mut killed);
    wait_for_calls(&slow, 700);
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(
        work.path("killed.csv.journal").exists() && !out.exists(),
        "killed mid-run"
    );
    assert_no_card_in(&killed_store, nights.old.iter().chain(&nights.new));
    night(&slow, &nights.night_2, &out, &killed_store, &["--resume"]);

    assert_eq!(history_rows(&killed_store), history_rows(&nights.store));
    assert_eq!(count(&killed_store, "cards"), 2100);
    let changes = |path: &Path| -> Vec<String> {
        let (header, rows) = read_csv(path);
        column(&header, &rows, "change")
    };
    assert_eq!(
        changes(&out),
        changes(&whole),
        "change is the same after resume"
    );
}

/// Fails when any card's number appears in the store's files (the database, its write-ahead
/// log and shared memory), and when any of them is readable by others than its owner.
fn assert_no_card_in<'a>(store: &Path, cards: impl Iterator<Item = &'a String>) {
    use std::os::unix::fs::PermissionsExt;
    let files: Vec<PathBuf> = ["", "-wal", "-shm", ".key"]
        .iter()
        .map(|suffix| {
            let mut name = store.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .filter(|path| path.exists())
        .collect();
    assert!(files.len() >= 2, "the store and its key: {files:?}");
    let bytes: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    for file in &files {
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    for card in cards {
        for (file, content) in files.iter().zip(&bytes) {
            assert!(
                !content.windows(card.len()).any(|w| w == card.as_bytes()),
                "card {card} in {}",
                file.display()
            );
        }
    }
}

#[test]
fn two_runs_sharing_a_store_both_complete_and_it_holds_both_files() {
    let sim = Simulator::start(&["--latency", "5ms"]);
    let work = Workdir::new();
    let store = store_in(&work);
    let all = cards(1800, 63);
    // 200 cards are in both files: each gets one history row, whoever writes first.
    let (a, b) = (&all[..1000], &all[800..]);
    let spawned: Vec<_> = [("a", a), ("b", b)]
        .iter()
        .map(|(name, cards)| {
            let input = work.write(&format!("{name}.csv"), card_csv(cards));
            let out = work.path(&format!("{name}.screened.csv"));
            let mut cmd = screen(&sim, &input, &["-o", out.to_str().unwrap()]);
            cmd.args(["--store", store.to_str().unwrap()]);
            spawn(&mut cmd)
        })
        .collect();
    for child in spawned {
        let (status, err) = finish(child, Duration::from_secs(120));
        assert_eq!(status, 0, "{err}");
    }
    assert_eq!(count(&store, "cards"), 1800);
    assert_eq!(count(&store, "history"), 1800);
    let known = run_with_stdin(
        cmd_history(&store),
        format!("{}\n{}\n", all[0], all[1799]).as_bytes(),
    );
    let text = String::from_utf8_lossy(&known.stdout);
    assert!(!text.contains("not in the store"), "{text}");
}

fn cmd_history(store: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["history", "--store", store.to_str().unwrap()]);
    cmd
}

#[test]
fn the_store_holds_no_card_number_and_a_wrong_or_missing_key_stops_before_any_call() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let store = store_in(&work);
    let all = cards(300, 64);
    let input = work.write("cards.csv", card_csv(&all));
    let out = work.path("out.csv");
    night(&sim, &input, &out, &store, &[]);
    assert_no_card_in(&store, all.iter());
    let key = std::fs::read_to_string(key_of(&store)).unwrap();
    assert_eq!(key.trim().len(), 64);

    let calls = sim.calls();
    let other = work.write("other.key", format!("{}\n", "ab".repeat(32)));
    let wrong = with_store(&sim, &input, &out, &store)
        .arg("--store-key-file")
        .arg(&other)
        .run();
    assert_refused(&wrong, "not the key");
    assert!(wrong.stderr.contains("other.key"), "{}", wrong.stderr);

    std::fs::rename(key_of(&store), work.path("moved.key")).unwrap();
    let missing = with_store(&sim, &input, &out, &store).run();
    assert_refused(&missing, "screening.db.key");
    assert!(missing.stderr.contains("missing"), "{}", missing.stderr);
    assert!(
        !key_of(&store).exists(),
        "no new key is made for an existing store"
    );
    assert_eq!(sim.calls(), calls, "no call with a wrong or missing key");
}

#[test]
fn history_shows_both_nights_of_a_changed_card_and_prune_forgets_only_cards_not_seen() {
    let sim = Simulator::start(&[]);
    let nights = night_one(&sim);
    let work = &nights.work;
    night(
        &sim,
        &nights.night_2,
        &work.path("night2.csv.out"),
        &nights.store,
        &[],
    );
    let changed = nights
        .old
        .iter()
        .find(|c| !flags_for(c).contains(&true) && flags_on(c, 1).contains(&true))
        .expect("a card that became a hit");
    let answer = run_with_stdin(
        cmd_history(&nights.store),
        format!("{changed}\n").as_bytes(),
    );
    assert_eq!(code(&answer), 0, "{}", stderr(&answer));
    let text = String::from_utf8_lossy(&answer.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("{}******{}", &changed[..6], &changed[changed.len() - 4..])
    );
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].contains("  hit ") && lines[2].contains("  no hit  "),
        "newest first: {text}"
    );
    assert!(!text.contains(changed.as_str()), "{text}");

    // Cards of a file screened 40 days ago are pruned; those screened now stay.
    let db = Connection::open(&nights.store).unwrap();
    db.execute("UPDATE cards SET seen = seen - 40 * 86400", [])
        .unwrap();
    drop(db);
    let today = work.write("today.csv", card_csv(&nights.new));
    night(
        &sim,
        &today,
        &work.path("today.out.csv"),
        &nights.store,
        &[],
    );
    let pruned = run(std::process::Command::new(BIN).args([
        "store",
        "prune",
        "--store",
        nights.store.to_str().unwrap(),
        "--older-than",
        "30d",
    ]));
    assert_eq!(code(&pruned), 0, "{}", stderr(&pruned));
    assert!(
        String::from_utf8_lossy(&pruned.stdout).contains("pruned 2,000 cards"),
        "{}",
        String::from_utf8_lossy(&pruned.stdout)
    );
    assert_eq!(count(&nights.store, "cards"), 100);
    assert_eq!(count(&nights.store, "history"), 100);
    let after = run_with_stdin(
        cmd_history(&nights.store),
        format!("{changed}\n{}\n", nights.new[0]).as_bytes(),
    );
    let text = String::from_utf8_lossy(&after.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].ends_with(": not in the store"), "{text}");
    assert!(
        lines[1].starts_with(&nights.new[0][..6]) && lines[2].starts_with("  "),
        "{text}"
    );
    let stats = run(std::process::Command::new(BIN).args([
        "store",
        "stats",
        "--store",
        nights.store.to_str().unwrap(),
    ]));
    assert!(String::from_utf8_lossy(&stats.stdout).contains("cards:          100\n"));
}
