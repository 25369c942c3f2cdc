//! A file whose card column is mostly damaged says so in words, in the summary's first line and
//! in a warning at the end, and `--max-invalid RATIO` makes such a run exit 3 with its output
//! complete.

use std::path::{Path, PathBuf};

use crate::common::*;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read summary")).expect("JSON")
}

/// 25 cards Excel turned into `6.22848E+18`, one too short and three good ones: 29 rows.
fn mostly_damaged(work: &Workdir) -> (PathBuf, Vec<String>) {
    let good = cards(3, 71);
    let mut text = String::from("id,card\n");
    for id in 1..=25 {
        text.push_str(&format!("{id},6.22848E+18\n"));
    }
    text.push_str("26,12345\n");
    for (n, card) in good.iter().enumerate() {
        text.push_str(&format!("{},{card}\n", 27 + n));
    }
    (work.write("damaged.csv", text), good)
}

const NOTE: &str = "25 of 29 card cells are numbers Excel wrote as 6.22848E+18, their last \
    digits lost: format the column as Text and export the file again";

/// The summary's lines on stderr, from its first line (the one before `Screened`).
fn summary_lines(stderr: &str) -> Vec<&str> {
    let lines: Vec<&str> = stderr.lines().collect();
    let screened = lines
        .iter()
        .position(|line| line.starts_with("Screened "))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    lines[screened.saturating_sub(1)..].to_vec()
}

#[test]
fn most_rows_invalid_for_one_reason_is_said_in_words_first_and_last() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let (input, good) = mostly_damaged(&work);
    let summary_path = work.path("summary.json");
    let result = Screen::new(&sim)
        .work(&work)
        .input(&input)
        .arg("--summary")
        .arg(&summary_path)
        .run();
    // No limit given: the run completes and exits 0.
    result.ok();
    let stderr = &result.stderr;
    let lines = summary_lines(stderr);
    assert_eq!(lines[0], NOTE, "{stderr}");
    assert!(lines[1].starts_with("Screened 29 rows"), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.contains("WARN") && last.contains(NOTE),
        "the warning comes last: {stderr}"
    );
    assert_eq!(result.rows.len(), 29);
    let status = result.column("status");
    assert_eq!(status.iter().filter(|s| *s == "invalid").count(), 26);
    let summary = json(&summary_path);
    assert_eq!(summary["invalid_share"], 0.8966, "{summary}");
    assert_eq!(summary["invalid_by_reason"]["scientific_notation"], 25);
    let called: Vec<&str> = good.iter().map(String::as_str).collect();
    assert_eq!(sim.per_card(), called_once(&called));
}

#[test]
fn max_invalid_fails_a_complete_run_whose_invalid_share_is_above_it() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let (input, _) = mostly_damaged(&work);
    let summary_path = work.path("summary.json");
    let damaged = || Screen::new(&sim).work(&work).input(&input);
    let result = damaged()
        .arg("--summary")
        .arg(&summary_path)
        .args(["--max-invalid", "0.5"])
        .run();
    result.exit(3);
    let stderr = &result.stderr;
    let over = "26 of 29 rows are invalid (89.7%), more than --max-invalid 0.5 allows: exit 3";
    assert!(
        summary_lines(stderr).iter().any(|line| line.contains(over)),
        "{stderr}"
    );
    assert!(stderr.lines().last().unwrap().contains(over), "{stderr}");
    // The output is complete all the same, and the journal gone.
    assert_eq!(result.rows.len(), 29);
    let summary = json(&summary_path);
    assert_eq!(summary["exit_code"], 3, "{summary}");
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["errors"], 0);
    assert!(!files_in(work.dir.path())
        .iter()
        .any(|f| f.contains("journal")));

    // The same as a percentage, and from the config file.
    for config in ["max_invalid = \"50%\"\n", "max_invalid = 0.5\n"] {
        let config = work.write("cardscreen.toml", config);
        damaged().arg("-c").arg(&config).run().exit(3);
    }
}

#[test]
fn max_invalid_above_the_share_lets_the_run_pass() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let (input, _) = mostly_damaged(&work);
    for limit in ["0.9", "90%", "1"] {
        let result = Screen::new(&sim)
            .work(&work)
            .input(&input)
            .args(["--max-invalid", limit])
            .run();
        assert_eq!(result.code, 0, "{limit}: {}", result.stderr);
        assert!(!result.stderr.contains("more than --max-invalid"));
        assert_eq!(result.rows.len(), 29);
    }
}

#[test]
fn a_bad_max_invalid_is_exit_2_naming_it_before_any_call() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let (input, _) = mostly_damaged(&work);
    for bad in ["1.5", "-0.1", "50", "half", "150%", "NaN", ""] {
        let result = Screen::new(&sim)
            .work(&work)
            .input(&input)
            .arg(format!("--max-invalid={bad}"))
            .run();
        assert_refused(&result, "max_invalid");
        let stderr = &result.stderr;
        assert!(stderr.contains("--max-invalid"), "{bad:?}: {stderr}");
        assert!(stderr.contains("0.5") && stderr.contains("50%"), "{stderr}");
    }
    assert_eq!(sim.calls(), 0);
    assert!(!work.path("out.csv").exists());
}

#[test]
fn a_workbook_of_card_numbers_says_to_format_the_column_as_text() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.path("numbers.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "bankcard").unwrap();
    // 18 digits: past 2^53, so Excel cannot have kept them all.
    for row in 1..=4 {
        sheet
            .write_number(row, 0, 622_202_016_613_186_900.0 + f64::from(row) * 1e4)
            .unwrap();
    }
    sheet.write_string(5, 0, &cards(1, 72)[0]).unwrap();
    book.save(&input).unwrap();
    let result = Screen::new(&sim)
        .work(&work)
        .input(&input)
        .output("numbers.csv")
        .run();
    result.ok();
    let stderr = &result.stderr;
    let note = "4 of 5 card cells are workbook numbers that lost digits: format the column as Text";
    assert_eq!(summary_lines(stderr)[0], note, "{stderr}");
    assert!(stderr.lines().last().unwrap().contains(note), "{stderr}");
    assert_eq!(result.calls, 1);
    assert_eq!(sim.calls(), 1);
}
