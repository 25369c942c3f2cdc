//! Workbooks in: .xlsx, .xls and .ods inputs screened through the real binary like their CSV
//! twins, numeric card cells that Excel damaged never sent, sheets chosen by name and number.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read summary")).expect("JSON")
}

/// `--summary` for a run, beside its output.
fn summary_arg(work: &Workdir, name: &str) -> (String, std::path::PathBuf) {
    let path = work.path(name);
    (path.to_str().unwrap().to_string(), path)
}

#[test]
fn a_text_card_column_under_a_chinese_sheet_and_header_screens_like_its_csv_twin() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let workbook = work.fixture("workbook_cards.xlsx");
    let twin = work.fixture("workbook_cards.csv");
    let (from_workbook, from_twin) = (work.path("a.csv"), work.path("b.csv"));
    let (a_summary, a_summary_path) = summary_arg(&work, "a.json");
    let (b_summary, b_summary_path) = summary_arg(&work, "b.json");
    let a = run(screen(
        &sim,
        &workbook,
        &[
            "-o",
            from_workbook.to_str().unwrap(),
            "--summary",
            &a_summary,
        ],
    ));
    assert_eq!(code(&a), 0, "{}", stderr(&a));
    let b = run(screen(
        &sim,
        &twin,
        &["-o", from_twin.to_str().unwrap(), "--summary", &b_summary],
    ));
    assert_eq!(code(&b), 0, "{}", stderr(&b));

    // Cell for cell, CR LF and quotes included, the twins come out the same.
    assert_eq!(without_orderid(&from_workbook), without_orderid(&from_twin));
    let (header, rows) = read_csv(&from_workbook);
    assert_eq!(
        header[..6],
        ["序号", "姓名", "银行卡号", "联系方式", "", "备注"]
    );
    assert_eq!(column(&header, &rows, "序号"), ["1", "2", "3", "4", "5"]);
    assert_eq!(column(&header, &rows, "联系方式")[0], "13800000000");
    assert_eq!(
        column(&header, &rows, "status"),
        ["ok", "ok", "invalid", "ok", "ok"]
    );
    for key in [
        "rows",
        "ok",
        "hits",
        "invalid",
        "duplicates",
        "blank_lines_skipped",
    ] {
        assert_eq!(
            json(&a_summary_path)[key],
            json(&b_summary_path)[key],
            "{key}"
        );
    }
    assert_eq!(json(&a_summary_path)["blank_lines_skipped"], 1);
    // Each run called each distinct valid card once; the hidden first sheet was not read.
    let mut expected = called_once(&[
        "6222024332181964",
        "6225881161559405",
        "6217009050786881482",
    ]);
    expected.values_mut().for_each(|calls| *calls = 2);
    assert_eq!(sim.per_card(), expected);
}

#[test]
fn a_numeric_card_column_sends_only_the_numbers_excel_kept_whole() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.fixture("workbook_numeric_cards.xlsx");
    let out = work.path("out.csv");
    let (summary, summary_path) = summary_arg(&work, "summary.json");
    let result = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--summary", &summary],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (header, rows) = read_csv(&out);
    let notes = column(&header, &rows, "note");
    let status = column(&header, &rows, "status");
    let errors = column(&header, &rows, "error");
    let cards = column(&header, &rows, "card");
    for (i, note) in notes.iter().enumerate() {
        match note.as_str() {
            "13 digits" | "14 digits" | "15 digits" | "16 digits as text" => {
                assert_eq!(status[i], "ok", "{note}");
                assert!(!cards[i].ends_with(".0"), "{}", cards[i]);
            }
            "16 digits" | "17 digits" | "18 digits" | "19 digits" => {
                assert_eq!(status[i], "invalid", "{note}");
                assert!(
                    errors[i].contains("stored as numbers")
                        && errors[i].contains("format the column as Text"),
                    "{}",
                    errors[i]
                );
            }
            "12 digits" => assert!(errors[i].contains("12 digits"), "{}", errors[i]),
            other => panic!("unexpected row {other}"),
        }
    }
    // Written as Excel shows such a number: 15 digits, then zeros.
    assert_eq!(cards[3], "6222024332181960");
    assert_eq!(
        sim.per_card(),
        called_once(&[
            "6222024332185",
            "62220243321816",
            "622202433218195",
            "6222024332181964",
        ])
    );
    let summary = json(&summary_path);
    assert_eq!(summary["invalid_by_reason"]["excel_number"], 4, "{summary}");
    assert_eq!(summary["calls"], 4);
}

#[test]
fn a_sheet_is_chosen_by_name_or_number_and_a_missing_one_lists_the_sheets() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.fixture("workbook_cards.xlsx");
    let screened = |sheet: &str, out: &str| {
        let out = work.path(out);
        let result = run(screen(
            &sim,
            &input,
            &["-o", out.to_str().unwrap(), "--sheet", sheet],
        ));
        assert_eq!(code(&result), 0, "--sheet {sheet}: {}", stderr(&result));
        read_csv(&out)
    };
    let by_name = screened("第二批", "name.csv");
    let by_number = screened("3", "number.csv");
    assert_eq!(column(&by_name.0, &by_name.1, "id"), ["b1", "b2"]);
    assert_eq!(
        column(&by_name.0, &by_name.1, "card"),
        column(&by_number.0, &by_number.1, "card")
    );
    // A hidden sheet is not the default, but can be asked for.
    let hidden = screened("1", "hidden.csv");
    assert_eq!(column(&hidden.0, &hidden.1, "card"), ["4563516316347018"]);
    let calls = sim.calls();

    let out = work.path("missing.csv");
    let result = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--sheet", "Sheet1"],
    ));
    assert_eq!(code(&result), 2);
    let message = stderr(&result);
    assert!(
        message.contains("\"Sheet1\"") && message.contains("1 隐藏 (hidden), 2 卡号清单, 3 第二批"),
        "{message}"
    );
    assert!(!out.exists());
    assert_eq!(sim.calls(), calls, "a missing sheet costs no call");
}

/// Columns of a two-row output, by name.
type Columns = &'static [(&'static str, [&'static str; 2])];

/// `.xls` and `.ods` files with dates, a date and time, a formula, a boolean and (in `.xls`)
/// an error cell beside the cards.
#[test]
fn xls_and_ods_pass_dates_formulas_booleans_and_errors_through() {
    let cases: [(&str, Columns); 2] = [
        (
            "workbook_legacy.xls",
            &[
                ("opened", ["2026-11-30", "2026-11-30"]),
                ("seen_at", ["2026-11-30T08:15:00", "2026-11-30T08:15:00"]),
                ("limit", ["42", "7"]),
                ("double_limit", ["84", "14"]),
                ("active", ["TRUE", "FALSE"]),
                ("check", ["#N/A", "#N/A"]),
            ],
        ),
        (
            "workbook_open.ods",
            &[
                ("opened", ["2026-11-30", "2026-11-30"]),
                ("seen_at", ["2026-11-30T08:15:00", "2026-11-30T08:15:00"]),
                ("double_limit", ["84", "14"]),
                ("active", ["TRUE", "FALSE"]),
            ],
        ),
    ];
    for (fixture, columns) in cases {
        let sim = Simulator::start(&[]);
        let work = Workdir::new();
        let input = work.fixture(fixture);
        let out = work.path("out.csv");
        let result = run(screen(&sim, &input, &["-o", out.to_str().unwrap()]));
        assert_eq!(code(&result), 0, "{fixture}: {}", stderr(&result));
        let (header, rows) = read_csv(&out);
        for (name, expected) in columns {
            assert_eq!(column(&header, &rows, name), *expected, "{fixture}: {name}");
        }
        assert_eq!(column(&header, &rows, "status"), ["ok", "ok"], "{fixture}");
        assert_eq!(
            sim.per_card(),
            called_once(&["6222024332181964", "4563516316347018"]),
            "{fixture}"
        );
    }
}

#[test]
fn what_cannot_be_read_as_a_workbook_says_so() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let workbook = std::fs::read(work.fixture("workbook_cards.xlsx")).unwrap();
    // On standard input a workbook is named, not decoded as text.
    let piped = run_with_stdin(screen(&sim, Path::new("-"), &[]), &workbook);
    assert_eq!(code(&piped), 2);
    assert!(
        stderr(&piped).contains("workbook's file name"),
        "{}",
        stderr(&piped)
    );
    // A workbook named .csv is still a workbook; a text file named .xls is read as text.
    let renamed = work.write("renamed.csv", &workbook);
    let out = work.path("renamed.out.csv");
    let result = run(screen(&sim, &renamed, &["-o", out.to_str().unwrap()]));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let text_xls = work.write("export.xls", "卡号\n6222024332181964\n");
    let out = work.path("export.out.csv");
    let result = run(screen(&sim, &text_xls, &["-o", out.to_str().unwrap()]));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    // A broken workbook is refused before any call.
    let calls = sim.calls();
    let mut broken = workbook.clone();
    broken.truncate(workbook.len() / 2);
    let broken = work.write("broken.xlsx", broken);
    let result = run(screen(
        &sim,
        &broken,
        &["-o", work.path("b.csv").to_str().unwrap()],
    ));
    assert_eq!(code(&result), 2);
    assert!(
        stderr(&result).contains("broken.xlsx"),
        "{}",
        stderr(&result)
    );
    assert_eq!(sim.calls(), calls);
}
