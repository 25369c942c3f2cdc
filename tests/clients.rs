//! What programs nobody on the project wrote see of the outputs: the workbook's Summary sheet
//! holds the JSON summary field for field, the workbook prints one page wide with its header on
//! every page (read from the archive's XML, and printed by LibreOffice), and a CSV's records
//! end as the input's did, read back byte for byte.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use calamine::{Data, Reader};
use serde_json::Value;

use crate::common::*;

/// An entry of a workbook's zip archive, as text.
fn zip_entry(path: &Path, name: &str) -> String {
    let file = std::fs::File::open(path).expect("open workbook");
    let mut archive = zip::ZipArchive::new(file).expect("a zip archive");
    let mut entry = archive.by_name(name).expect("entry in the archive");
    let mut content = String::new();
    entry.read_to_string(&mut content).expect("read entry");
    content
}

/// The Summary sheet as calamine reads it: column A's names, column B's values.
fn summary_sheet(path: &Path) -> Vec<(String, Data)> {
    let mut book = calamine::open_workbook_auto(path).expect("open workbook");
    let range = book.worksheet_range("Summary").expect("a Summary sheet");
    let rows: Vec<Vec<Data>> = range.rows().map(<[Data]>::to_vec).collect();
    assert_eq!(rows[0], [Data::from("figure"), Data::from("value")]);
    rows[1..]
        .iter()
        .map(|row| {
            let Data::String(name) = &row[0] else {
                panic!("a name in column A: {row:?}")
            };
            (name.clone(), row.get(1).cloned().unwrap_or(Data::Empty))
        })
        .collect()
}

/// The JSON summary as the sheet should name it: a map's entries as `map.key`.
fn flattened(summary: &Value) -> Vec<(String, Value)> {
    let mut fields = Vec::new();
    for (name, value) in summary.as_object().expect("an object") {
        match value {
            Value::Object(map) => fields.extend(
                map.iter()
                    .map(|(key, value)| (format!("{name}.{key}"), value.clone())),
            ),
            value => fields.push((name.clone(), value.clone())),
        }
    }
    fields
}

/// A cell as the JSON value it should hold: numbers are numbers, `complete` a boolean, a
/// `null` an empty cell.
fn as_json(cell: &Data) -> Value {
    match cell {
        Data::Float(n) => serde_json::json!(n),
        Data::Int(n) => serde_json::json!(*n as f64),
        Data::Bool(flag) => Value::Bool(*flag),
        Data::String(text) => Value::String(text.clone()),
        Data::Empty => Value::Null,
        other => panic!("a summary cell of another type: {other:?}"),
    }
}

/// Numbers compared as numbers: 3 in the JSON is 3.0 in a cell.
fn comparable(value: &Value) -> Value {
    match value.as_f64() {
        Some(n) => serde_json::json!(n),
        None => value.clone(),
    }
}

fn assert_sheet_is_summary(out: &Path, summary_path: &Path) -> Value {
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(summary_path).expect("summary"))
            .expect("JSON");
    let sheet = summary_sheet(out);
    let names: Vec<&str> = sheet.iter().map(|(name, _)| name.as_str()).collect();
    let expected = flattened(&summary);
    let mut expected_names: Vec<&str> = expected.iter().map(|(name, _)| name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    expected_names.sort_unstable();
    assert_eq!(sorted, expected_names, "the same fields");
    let cells: BTreeMap<&str, &Data> = sheet.iter().map(|(n, d)| (n.as_str(), d)).collect();
    for (name, value) in &expected {
        assert_eq!(
            comparable(&as_json(cells[name.as_str()])),
            comparable(value),
            "{name}"
        );
    }
    assert_eq!(names[..3], ["rows", "ok", "hits"], "in the JSON's order");
    summary
}

#[test]
fn the_summary_sheet_holds_every_field_of_the_json_summary_with_a_store_too() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(12, 21)));
    let store = work.path("screening.db");
    let summary_path = work.path("summary.json");
    let out = work.path("out.xlsx");
    let night = |extra: &[&str]| {
        let result = Screen::new(&sim)
            .work(&work)
            .input(&input)
            .output_path(&out)
            .arg("--summary")
            .arg(&summary_path)
            .arg("--store")
            .arg(&store)
            .args(extra)
            .run();
        let summary = assert_sheet_is_summary(&out, &summary_path);
        assert_eq!(summary["exit_code"], result.code, "{}", result.stderr);
        summary
    };
    let first = night(&[]);
    assert_eq!(first["first_seen"], 12);
    assert_eq!(first["complete"], true);
    assert_eq!(first["exit_code"], 0);
    // A second run answered from the store; with --fail-on-hit a hit makes it exit 1.
    let second = night(&["--max-age", "7d", "--fail-on-hit"]);
    assert_eq!(second["reused"], 12);
    assert_eq!(sim.calls(), 12);
    let hits = second["hits"].as_u64().unwrap();
    assert_eq!(second["exit_code"], if hits > 0 { 1 } else { 0 });
    let sheet = summary_sheet(&out);
    for name in [
        "reused",
        "first_seen",
        "new_hits",
        "cleared",
        "changed",
        "exit_code",
        "complete",
    ] {
        assert!(sheet.iter().any(|(n, _)| n == name), "{name} in the sheet");
    }
    let complete = sheet.iter().find(|(n, _)| n == "complete").unwrap();
    assert_eq!(complete.1, Data::Bool(true), "a boolean cell");
}

#[test]
fn without_a_store_the_sheet_has_no_store_figures_and_still_the_exit_code() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let summary_path = work.path("summary.json");
    let result = Screen::new(&sim)
        .work(&work)
        .cards(3, 5)
        .output("out.xlsx")
        .arg("--summary")
        .arg(&summary_path)
        .run();
    result.ok();
    let out = result.out();
    let summary = assert_sheet_is_summary(out, &summary_path);
    assert!(summary.get("reused").is_none());
    let sheet = summary_sheet(out);
    assert!(sheet.iter().all(|(n, _)| n != "first_seen"));
    assert!(sheet
        .iter()
        .any(|(n, d)| n == "exit_code" && *d == Data::Float(0.0)));
}

/// 69 rows of 21 columns: 68 cards under a header of nine input columns and the twelve added.
fn wide_workbook(sim: &Simulator, work: &Workdir) -> std::path::PathBuf {
    let mut text = String::from("id,card,name,branch,opened,phone,city,segment,note\n");
    for (i, card) in cards(68, 69).iter().enumerate() {
        text.push_str(&format!(
            "{i},{card},客户{i},Tianhe branch {i},2026-11-{:02},138{i:08},Guangzhou,retail,checked by the night team\n",
            i % 28 + 1
        ));
    }
    let input = work.write("wide.csv", text);
    let result = Screen::new(sim)
        .work(work)
        .input(&input)
        .output("wide.xlsx")
        .run();
    result.ok();
    result.out().to_path_buf()
}

#[test]
fn the_workbook_prints_landscape_one_page_wide_with_the_header_on_every_page() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let out = wide_workbook(&sim, &work);
    let screened = zip_entry(&out, "xl/worksheets/sheet1.xml");
    assert!(
        screened.contains(r#"<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>"#)
            || screened.contains(r#"<pageSetUpPr fitToPage="1"/>"#),
        "{screened}"
    );
    let page_setup = |xml: &str| -> String {
        let start = xml.find("<pageSetup ").expect("a pageSetup");
        xml[start..start + xml[start..].find("/>").unwrap()].to_string()
    };
    let setup = page_setup(&screened);
    assert!(setup.contains(r#"orientation="landscape""#), "{setup}");
    assert!(setup.contains(r#"fitToHeight="0""#), "{setup}");
    // fitToWidth is 1 by default in the schema, so it may be left out.
    assert!(
        !setup.contains("fitToWidth=") || setup.contains(r#"fitToWidth="1""#),
        "{setup}"
    );
    // The Summary sheet: one page wide and one page high (both attributes' default).
    let summary = zip_entry(&out, "xl/worksheets/sheet2.xml");
    assert!(
        summary.contains(r#"<pageSetUpPr fitToPage="1"/>"#),
        "{summary}"
    );
    if summary.contains("<pageSetup ") {
        let setup = page_setup(&summary);
        assert!(!setup.contains("fitToHeight=\"0\""), "{setup}");
    }
    // Row 1 repeated on every printed page.
    let workbook = zip_entry(&out, "xl/workbook.xml");
    assert!(
        workbook.contains(
            r#"<definedName name="_xlnm.Print_Titles" localSheetId="0">Screened!$1:$1</definedName>"#
        ),
        "{workbook}"
    );
}

/// Pages of a PDF, counted by its page objects.
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/Type")
        .filter(|(at, _)| {
            let rest = text[at + 5..].trim_start();
            rest.starts_with("/Page") && !rest.starts_with("/Pages")
        })
        .count()
}

#[test]
#[ignore = "needs libreoffice"]
fn libreoffice_prints_69_rows_of_21_columns_on_a_few_pages() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let out = wide_workbook(&sim, &work);
    let profile = work.path("lo-profile");
    let converted = Command::new("soffice")
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .args(["--headless", "--convert-to", "pdf", "--outdir"])
        .arg(work.dir.path())
        .arg(&out)
        .output()
        .expect("run soffice");
    assert!(converted.status.success(), "{converted:?}");
    let pdf = std::fs::read(work.path("wide.pdf")).expect("the PDF");
    let pages = pdf_pages(&pdf);
    // A page or two for the results and one for the Summary sheet; portrait without fitting,
    // the same results took 16.
    assert!((2..=3).contains(&pages), "{pages} pages");
}

/// The line end of every record, found as RFC 4180 reads CSV: a line break inside quotes
/// belongs to its field.
fn record_ends(bytes: &[u8]) -> Vec<&[u8]> {
    let mut ends = Vec::new();
    let mut quoted = false;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => quoted = !quoted,
            b'\r' | b'\n' if !quoted => {
                let crlf = bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n');
                let len = if crlf { 2 } else { 1 };
                ends.push(&bytes[at..at + len]);
                at += len;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    ends
}

#[test]
fn crlf_in_is_crlf_out_and_a_quoted_crlf_is_kept() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.fixture("crlf_line_endings.csv");
    let changes = work.path("changes.csv");
    let result = Screen::new(&sim)
        .work(&work)
        .input(&input)
        .arg("--store")
        .arg(work.path("screening.db"))
        .arg("--changes")
        .arg(&changes)
        .run();
    result.ok();
    let bytes = std::fs::read(result.out()).expect("output");
    let ends = record_ends(&bytes);
    assert_eq!(ends.len(), 4, "{}", String::from_utf8_lossy(&bytes));
    assert!(ends.iter().all(|end| *end == b"\r\n"), "{ends:?}");
    assert!(bytes.ends_with(b"\r\n"));
    let (header, rows) = parse_csv(&bytes, b',');
    assert_eq!(header.last().map(String::as_str), Some("change"));
    assert_eq!(column(&header, &rows, "note")[1], "two\r\nlines");
    assert!(header
        .iter()
        .chain(rows.iter().flatten())
        .all(|c| !c.ends_with('\r')));
    // The --changes file is a CSV of the same rows, and ends its records the same way.
    let changes = std::fs::read(&changes).expect("changes");
    assert!(record_ends(&changes).iter().all(|end| *end == b"\r\n"));

    // From standard input to standard output as well.
    let piped = Screen::new(&sim)
        .work(&work)
        .input(Path::new("-"))
        .unnamed_output()
        .stdin(std::fs::read(&input).expect("fixture"))
        .run();
    piped.ok();
    assert_eq!(record_ends(&piped.stdout), [b"\r\n"; 4]);
}

#[test]
fn lf_in_is_lf_out_with_a_quoted_crlf_kept() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let result = Screen::new(&sim)
        .work(&work)
        .fixture("line_breaks_quotes_json.csv")
        .run();
    result.ok();
    let bytes = std::fs::read(result.out()).expect("output");
    let ends = record_ends(&bytes);
    assert!(ends.len() > 2);
    assert!(ends.iter().all(|end| *end == b"\n"), "{ends:?}");
    let (header, rows) = parse_csv(&bytes, b',');
    assert_eq!(
        column(&header, &rows, "note")[0],
        "first line\r\nsecond line"
    );
}
