//! Workbooks in and out: .xlsx, .xls and .ods inputs screened through the real binary like
//! their CSV twins, numeric card cells that Excel damaged never sent, sheets chosen by name and
//! number, and the workbook output read back with calamine (every card a string, flags numbers,
//! a frozen header, a Summary sheet that agrees with the JSON summary). CSV cells with line
//! breaks, quotes and JSON come back unchanged in either output.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use calamine::{Data, Reader};
use serde_json::Value;

use crate::common::*;

/// The rows of a sheet as calamine reads them, from its first used row, and column A.
fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let mut book = calamine::open_workbook_auto(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let range = book
        .worksheet_range(name)
        .unwrap_or_else(|e| panic!("sheet {name} of {}: {e}", path.display()));
    assert_eq!(
        range.start().map(|(_, column)| column),
        Some(0),
        "from column A"
    );
    range.rows().map(<[Data]>::to_vec).collect()
}

/// A cell as text: strings as they are, whole numbers without `.0`.
fn text(cell: &Data) -> String {
    match cell {
        Data::Float(n) if n.fract() == 0.0 => format!("{}", *n as i64),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// Every row as text, the `orderid` column left out, for comparing with a CSV run.
fn sheet_without_orderid(path: &Path) -> Vec<Vec<String>> {
    let rows = sheet(path, "Screened");
    let skip = rows[0]
        .iter()
        .position(|h| text(h) == "orderid")
        .expect("orderid column");
    rows.iter()
        .map(|row| {
            let mut row: Vec<String> = row.iter().map(text).collect();
            row.remove(skip);
            row
        })
        .collect()
}

/// An entry of the workbook's zip archive, as text.
fn zip_entry(path: &Path, name: &str) -> String {
    let file = std::fs::File::open(path).expect("open workbook");
    let mut archive = zip::ZipArchive::new(file).expect("a zip archive");
    let mut entry = archive.by_name(name).expect("entry in the archive");
    let mut content = String::new();
    entry.read_to_string(&mut content).expect("read entry");
    content
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read summary")).expect("JSON")
}

#[test]
fn a_text_card_column_under_a_chinese_sheet_and_header_screens_like_its_csv_twin() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let (a_summary_path, b_summary_path) = (work.path("a.json"), work.path("b.json"));
    let screened = |fixture: &str, out: &str, summary: &std::path::Path| {
        let result = Screen::new(&sim)
            .work(&work)
            .fixture(fixture)
            .output(out)
            .arg("--summary")
            .arg(summary)
            .run();
        result.ok();
        result
    };
    let a = screened("workbook_cards.xlsx", "a.csv", &a_summary_path);
    let b = screened("workbook_cards.csv", "b.csv", &b_summary_path);

    // Cell for cell, CR LF and quotes included, the twins come out the same, but for the
    // header cell the merged one leaves empty: a sheet names it as --no-header would.
    let mut from_workbook_rows = without_orderid(a.out());
    assert_eq!(from_workbook_rows[0][4], "column_5");
    from_workbook_rows[0][4].clear();
    assert_eq!(from_workbook_rows, without_orderid(b.out()));
    let (header, rows) = (&a.header, &a.rows);
    assert_eq!(
        header[..6],
        ["序号", "姓名", "银行卡号", "联系方式", "column_5", "备注"]
    );
    assert_eq!(column(header, rows, "序号"), ["1", "2", "3", "4", "5"]);
    assert_eq!(column(header, rows, "联系方式")[0], "13800000000");
    assert_eq!(
        column(header, rows, "status"),
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
    let summary_path = work.path("summary.json");
    let result = Screen::new(&sim)
        .work(&work)
        .fixture("workbook_numeric_cards.xlsx")
        .arg("--summary")
        .arg(&summary_path)
        .run();
    result.ok();
    let (header, rows) = (&result.header, &result.rows);
    let notes = column(header, rows, "note");
    let status = column(header, rows, "status");
    let errors = column(header, rows, "error");
    let cards = column(header, rows, "card");
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
    // Written with the digits the file holds, not rounded again (this writer keeps 17).
    assert_eq!(cards[3], "6222024332181964");
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
        let result = Screen::new(&sim)
            .work(&work)
            .input(&input)
            .output(out)
            .args(["--sheet", sheet])
            .run();
        assert_eq!(result.code, 0, "--sheet {sheet}: {}", result.stderr);
        (result.header, result.rows)
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

    let result = Screen::new(&sim)
        .work(&work)
        .input(&input)
        .output("missing.csv")
        .args(["--sheet", "Sheet1"])
        .run();
    assert_refused(&result, "1 隐藏 (hidden), 2 卡号清单, 3 第二批");
    assert!(result.stderr.contains("\"Sheet1\""), "{}", result.stderr);
    assert!(!result.out().exists());
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
        let result = Screen::new(&sim).fixture(fixture).run();
        assert_eq!(result.code, 0, "{fixture}: {}", result.stderr);
        let (header, rows) = (&result.header, &result.rows);
        for (name, expected) in columns {
            assert_eq!(column(header, rows, name), *expected, "{fixture}: {name}");
        }
        assert_eq!(column(header, rows, "status"), ["ok", "ok"], "{fixture}");
        assert_eq!(
            sim.per_card(),
            called_once(&["6222024332181964", "4563516316347018"]),
            "{fixture}"
        );
    }
}

#[test]
fn the_workbook_output_keeps_every_card_as_text_and_agrees_with_the_summary() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.fixture("workbook_cards.xlsx");
    let summary_path = work.path("summary.json");
    Screen::new(&sim)
        .work(&work)
        .input(&input)
        .unnamed_output()
        .arg("--summary")
        .arg(&summary_path)
        .run()
        .ok();
    // A workbook in, a workbook out, by default.
    let out = work.path("workbook_cards.screened.xlsx");
    let mode = std::fs::metadata(&out)
        .expect("output")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(files_in(work.dir.path()).len(), 3, "no temporary left");

    // From its header, which two empty rows precede.
    let input_rows = sheet(&input, "卡号清单");
    let input_cards: Vec<&Data> = input_rows[1..]
        .iter()
        .filter(|row| row.iter().any(|c| *c != Data::Empty))
        .map(|row| &row[2])
        .collect();
    let rows = sheet(&out, "Screened");
    let header: Vec<String> = rows[0].iter().map(text).collect();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(rows.len(), input_cards.len() + 1);
    for (row, card) in rows[1..].iter().zip(&input_cards) {
        assert!(matches!(row[2], Data::String(_)), "card cell {:?}", row[2]);
        assert_eq!(&&row[2], card, "the card cell as the input had it");
        assert!(
            matches!(row[at("序号")], Data::String(_)),
            "every input cell is text"
        );
        if text(&row[at("status")]) == "ok" {
            for flag in ["hit", "onlineBlack", "caseRelated", "attempts"] {
                assert!(
                    matches!(row[at(flag)], Data::Float(_)),
                    "{flag}: {:?}",
                    row[at(flag)]
                );
            }
            assert!(matches!(row[at("orderid")], Data::String(_)));
        }
    }
    // The header row is frozen and filtered; hit rows have their own (filled) style.
    let xml = zip_entry(&out, "xl/worksheets/sheet1.xml");
    assert!(
        xml.contains(
            r#"<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>"#
        ),
        "{xml}"
    );
    assert!(xml.contains("<autoFilter ref=\"A1:R6\"/>"), "{xml}");
    assert!(xml.contains("<cols><col "), "column widths are set: {xml}");
    assert!(zip_entry(&out, "xl/styles.xml").contains("FFFFC7CE"));

    let summary = json(&summary_path);
    let figures: std::collections::BTreeMap<String, Data> = sheet(&out, "Summary")[1..]
        .iter()
        .map(|row| (text(&row[0]), row[1].clone()))
        .collect();
    for key in [
        "rows",
        "ok",
        "hits",
        "invalid",
        "errors",
        "calls",
        "duplicates",
    ] {
        assert_eq!(
            figures[key],
            Data::Float(summary[key].as_f64().unwrap()),
            "{key}"
        );
    }
    for (flag, count) in summary["hits_by_flag"].as_object().unwrap() {
        assert_eq!(
            figures[&format!("hits_by_flag.{flag}")],
            Data::Float(count.as_f64().unwrap()),
            "{flag}"
        );
    }
    assert_eq!(
        figures["elapsed_seconds"],
        Data::Float(summary["elapsed_seconds"].as_f64().unwrap())
    );
    assert_eq!(
        text(&figures["output"]),
        summary["output"].as_str().unwrap()
    );

    // The same rows as a CSV output holds them.
    let result = Screen::new(&sim).work(&work).input(&input).run();
    result.ok();
    assert_eq!(sheet_without_orderid(&out), without_orderid(result.out()));
}

#[test]
fn line_breaks_quotes_and_json_in_csv_cells_come_back_unchanged_in_either_output() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.fixture("line_breaks_quotes_json.csv");
    let records: Vec<Vec<Vec<u8>>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&input)
        .expect("read fixture")
        .byte_records()
        .map(|r| r.expect("record").iter().map(<[u8]>::to_vec).collect())
        .collect();
    assert!(
        records[1][2].windows(2).any(|w| w == b"\r\n"),
        "the fixture holds CR LF"
    );

    let result = Screen::new(&sim).work(&work).input(&input).run();
    result.ok();
    let written: Vec<Vec<Vec<u8>>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(result.out())
        .expect("read output")
        .byte_records()
        .map(|r| r.expect("record").iter().map(<[u8]>::to_vec).collect())
        .collect();
    assert_eq!(written.len(), records.len());
    for (out, input) in written.iter().zip(&records) {
        assert_eq!(out[..input.len()], input[..], "byte for byte");
    }

    let result = Screen::new(&sim)
        .work(&work)
        .input(&input)
        .output("out.xlsx")
        .run();
    result.ok();
    let rows = sheet(result.out(), "Screened");
    assert_eq!(rows.len(), records.len());
    for (row, input) in rows.iter().zip(&records) {
        for (cell, field) in row.iter().zip(input) {
            let field = String::from_utf8(field.clone()).unwrap();
            assert_eq!(*cell, Data::String(field), "the same text");
        }
    }
}

#[test]
fn a_workbook_output_resumes_and_retries_errors_as_a_csv_does() {
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(200, 61)));
    let out = work.path("out.xlsx");
    let journal = work.path("out.xlsx.journal");
    let sim = Simulator::start(&["--latency", "20ms"]);
    let child = spawn(&mut screen(&sim, &input, &["-o", out.to_str().unwrap()]));
    wait_for_calls(&sim, 60);
    signal(&child, 2);
    let (stopped, err) = finish(child, Duration::from_secs(20));
    assert_eq!(stopped, 130, "{err}");
    assert!(journal.exists() && !out.exists());
    let screen = |sim| {
        Screen::new(sim)
            .work(&work)
            .input(&input)
            .output("out.xlsx")
    };
    screen(&sim).arg("--resume").run().ok();
    assert!(paid_twice(&sim).is_empty(), "resume never pays twice");
    assert!(!journal.exists());
    let rows = sheet(&out, "Screened");
    assert_eq!(rows.len(), 201);
    assert!(rows[1..].iter().all(|r| text(&r[2]) == "ok"));

    // Errors kept in a workbook are asked for again, and only they.
    let flaky = Simulator::start(&["--timeout-rate", "0.2", "--seed", "9"]);
    screen(&flaky)
        .args(["--max-attempts", "1", "--max-consecutive-failures", "0"])
        .run()
        .exit(3);
    let before = sheet(&out, "Screened");
    let failed: std::collections::BTreeSet<String> = before[1..]
        .iter()
        .filter(|r| text(&r[2]) == "error")
        .map(|r| text(&r[1]))
        .collect();
    assert!(!failed.is_empty());
    let healthy = Simulator::start(&[]);
    screen(&healthy).arg("--retry-errors").run().ok();
    let called: std::collections::BTreeSet<String> = healthy.per_card().into_keys().collect();
    assert_eq!(called, failed);
    let after = sheet(&out, "Screened");
    for (b, a) in before.iter().zip(&after) {
        if text(&b[2]) != "error" {
            assert_eq!(a, b, "a kept row is unchanged");
        }
    }
}

#[test]
fn more_than_a_sheet_holds_is_refused_before_any_call() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    // A one-column file: 1,048,576 data rows and a header, one row too many.
    let mut text = String::with_capacity(3 * 1_048_577);
    text.push_str("card\n");
    for _ in 0..1_048_576 {
        text.push_str("1\n");
    }
    let input = work.write("many.csv", text);
    let to_workbook = |input: &std::path::Path| {
        Screen::new(&sim)
            .work(&work)
            .input(input)
            .output("out.xlsx")
            .run()
    };
    let result = to_workbook(&input);
    assert_refused(&result, "1048576 data rows");
    assert!(result.stderr.contains("write CSV"), "{}", result.stderr);
    assert!(!result.out().exists());

    let long = format!("card,note\n6222024332181964,{}\n", "x".repeat(40_000));
    let result = to_workbook(&work.write("long.csv", long));
    assert_refused(&result, "40000 characters");
    assert_eq!(sim.calls(), 0);
}

#[test]
fn what_cannot_be_read_as_a_workbook_says_so() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let workbook = std::fs::read(work.fixture("workbook_cards.xlsx")).unwrap();
    // On standard input a workbook is named, not decoded as text.
    let piped = Screen::new(&sim)
        .work(&work)
        .input(Path::new("-"))
        .unnamed_output()
        .stdin(workbook.clone())
        .run();
    assert_refused(&piped, "workbook's file name");
    // A workbook named .csv is still a workbook; a text file named .xls is read as text.
    let renamed = work.write("renamed.csv", &workbook);
    let result = Screen::new(&sim)
        .work(&work)
        .input(&renamed)
        .output("renamed.out.csv")
        .run();
    result.ok();
    let text_xls = work.write("export.xls", "卡号\n6222024332181964\n");
    let result = Screen::new(&sim)
        .work(&work)
        .input(&text_xls)
        .output("export.out.csv")
        .run();
    result.ok();
    // A broken workbook is refused before any call.
    let calls = sim.calls();
    let mut broken = workbook.clone();
    broken.truncate(workbook.len() / 2);
    let broken = work.write("broken.xlsx", broken);
    let result = Screen::new(&sim)
        .work(&work)
        .input(&broken)
        .output("b.csv")
        .run();
    assert_refused(&result, "broken.xlsx");
    assert_eq!(sim.calls(), calls);
}
