//! Real-world input files, one fixture per case, screened through the real binary against a
//! real simulator process. Each test checks the output rows and, through the simulator's
//! `/stats`, exactly which cleaned numbers were sent; whole-file problems must exit 2 with a
//! message that says what is wrong and with no call made.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// One screening of a fixture against a simulator of its own.
struct Screening {
    result: Output,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Calls per card number as the simulator received them.
    sent: BTreeMap<String, u64>,
    input: PathBuf,
    out: PathBuf,
    /// Keeps the temporary directory alive as long as the screening.
    _work: Workdir,
}

fn screen_fixture(name: &str, extra: &[&str]) -> Screening {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.fixture(name);
    let out = work.path("out.csv");
    let mut args = vec!["-o", out.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let result = run(screen(&sim, &input, &args));
    let (header, rows) = if out.exists() {
        read_csv_with(&out, delimiter_in(extra))
    } else {
        (Vec::new(), Vec::new())
    };
    Screening {
        result,
        header,
        rows,
        sent: sim.per_card(),
        input,
        out,
        _work: work,
    }
}

fn delimiter_in(args: &[&str]) -> u8 {
    match args.iter().position(|a| *a == "--delimiter") {
        Some(i) if args[i + 1] == "\\t" => b'\t',
        Some(i) => args[i + 1].as_bytes()[0],
        None => b',',
    }
}

impl Screening {
    fn stderr(&self) -> String {
        stderr(&self.result)
    }

    fn assert_exit(&self, expected: i32) {
        assert_eq!(code(&self.result), expected, "{}", self.stderr());
    }

    fn column(&self, name: &str) -> Vec<String> {
        column(&self.header, &self.rows, name)
    }

    /// The added columns come after `input_width` input columns, each under its name.
    fn assert_added_header(&self, input_width: usize) {
        assert_eq!(
            self.header.len(),
            input_width + ADDED.len(),
            "{:?}",
            self.header
        );
        assert_eq!(&self.header[input_width..], &ADDED[..]);
    }

    /// Every output row starts with its input row, field for field, in input order.
    fn assert_input_kept(&self, input_rows: &[Vec<String>]) {
        assert_eq!(
            self.rows.len(),
            input_rows.len(),
            "one output row per input row"
        );
        for (input, output) in input_rows.iter().zip(&self.rows) {
            assert_eq!(&output[..input.len()], &input[..], "row {output:?}");
        }
    }

    /// A whole-file problem: exit 2, every `needle` in the message, no call, no output.
    fn assert_refused(&self, needles: &[&str]) {
        self.assert_exit(2);
        let message = self.stderr();
        for needle in needles {
            assert!(
                message.contains(needle),
                "{needle:?} missing from: {message}"
            );
        }
        assert!(!message.contains("panicked"), "{message}");
        assert!(self.sent.is_empty(), "calls made: {:?}", self.sent);
        assert!(!self.out.exists(), "a refused run must not write an output");
    }
}

/// The data rows of a UTF-8 fixture as the csv crate reads them (header left out).
fn input_rows(path: &Path, delimiter: u8) -> Vec<Vec<String>> {
    read_csv_with(path, delimiter).1
}

fn assert_each_error(errors: &[String], rows: &[usize], needle: &str) {
    for &row in rows {
        assert!(
            errors[row].contains(needle),
            "row {row}: {:?} should mention {needle:?}",
            errors[row]
        );
    }
}

// ---- encodings ----

#[test]
fn gbk_excel_export_is_read_as_gb18030_and_written_as_utf8() {
    let raw =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gbk_excel_export.csv"))
            .unwrap();
    assert!(
        std::str::from_utf8(&raw).is_err(),
        "the fixture must be GBK"
    );
    let (text, _, bad) = encoding_rs::GBK.decode(&raw);
    assert!(!bad);
    let (_, expected_rows) = parse_csv(text.as_bytes(), b',');

    for encoding in ["auto", "gbk", "gb18030"] {
        let run = screen_fixture("gbk_excel_export.csv", &["--encoding", encoding]);
        run.assert_exit(0);
        // read_csv would fail on anything but UTF-8: the output is UTF-8 whatever the input.
        assert_eq!(&run.header[..4], ["卡号", "姓名", "开户行", "备注"]);
        run.assert_added_header(4);
        run.assert_input_kept(&expected_rows);
        assert_eq!(run.column("姓名"), ["张伟", "王芳", "李娜", "刘洋", "陈静"]);
        assert_eq!(run.column("开户行")[2], "工商银行北京朝阳支行, 二部");
        assert_eq!(run.column("status"), ["ok"; 5]);
        assert_eq!(
            run.sent,
            called_once(&[
                "6228482382480171669",
                "6217003999698830",
                "6222022981719667320",
                "4367422592879865",
                "6225888657563874",
            ]),
            "--encoding {encoding}"
        );
    }
}

#[test]
fn gbk_file_read_as_utf8_is_refused_naming_the_line() {
    let run = screen_fixture("gbk_excel_export.csv", &["--encoding", "utf-8"]);
    run.assert_refused(&["line 1", "UTF-8", "--encoding"]);
}

#[test]
fn utf8_bom_is_stripped_from_the_first_header_name() {
    let run = screen_fixture("utf8_bom.csv", &[]);
    run.assert_exit(0);
    // `card` is the first header: with the BOM left on it, no card column would be found.
    assert_eq!(&run.header[..3], ["card", "name", "branch"]);
    let raw = std::fs::read(&run.out).unwrap();
    assert!(
        raw.starts_with(header_line(&["card", "name", "branch"], ',').as_bytes()),
        "no BOM without --excel"
    );
    assert_eq!(run.column("card").len(), 3);
    assert_eq!(
        run.sent,
        called_once(&[
            "6228480965550772",
            "6217005991591658124",
            "4563518432024109"
        ])
    );
}

#[test]
fn excel_flag_starts_the_output_with_one_bom() {
    let run = screen_fixture("utf8_bom.csv", &["--excel"]);
    run.assert_exit(0);
    let raw = std::fs::read(&run.out).unwrap();
    let header = header_line(&["card", "name", "branch"], ',');
    assert!(raw.starts_with(format!("\u{feff}{header}").as_bytes()));
    assert_eq!(raw.windows(3).filter(|w| *w == b"\xEF\xBB\xBF").count(), 1);
}

#[test]
fn invalid_utf8_is_refused_naming_the_line() {
    // A Latin-1 "é" on line 4, which neither UTF-8 nor GBK can decode.
    for (encoding, named) in [("utf-8", "UTF-8"), ("auto", "UTF-8"), ("gbk", "GBK")] {
        let run = screen_fixture("invalid_utf8_line.csv", &["--encoding", encoding]);
        run.assert_refused(&["line 4", named, "invalid_utf8_line.csv"]);
    }
}

#[test]
fn a_utf8_bom_settles_the_encoding_even_when_a_byte_is_bad() {
    // Without the BOM rule, auto would fall back to GB18030, which happens to decode these
    // bytes: every Chinese name would silently turn into other characters.
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write(
        "cards.csv",
        b"\xEF\xBB\xBFid,card,name\n1,6228480965550772,\xE5\xBC\xA0\xE4\xBC\x9F\n2,6217003999698830,Ren\xE9e\n",
    );
    let out = work.path("out.csv");
    let result = run(screen(&sim, &input, &["-o", out.to_str().unwrap()]));
    assert_eq!(code(&result), 2, "{}", stderr(&result));
    assert!(stderr(&result).contains("line 3"), "{}", stderr(&result));
    assert!(stderr(&result).contains("UTF-8"), "{}", stderr(&result));
    assert_eq!(sim.calls(), 0);
}

// ---- card cleaning ----

#[test]
fn excel_scientific_notation_is_invalid_and_never_sent() {
    let run = screen_fixture("excel_scientific_notation.csv", &[]);
    run.assert_exit(0);
    run.assert_added_header(3);
    run.assert_input_kept(&input_rows(&run.input, b','));
    assert_eq!(
        run.column("card"),
        [
            "6222023978484872",
            "6.22848E+18",
            "6.22202E+15",
            "6,21700E+18",
            "4.36742e+15",
            "6E+18",
            "6228487155375037152"
        ]
    );
    assert_eq!(
        run.column("status"),
        ["ok", "invalid", "invalid", "invalid", "invalid", "invalid", "ok"]
    );
    let errors = run.column("error");
    assert_each_error(&errors, &[1, 2, 3, 4, 5], "Excel");
    assert_each_error(&errors, &[1, 2, 3, 4, 5], "re-export the column as text");
    assert!(errors[1].contains("6.22848E+18"), "{}", errors[1]);
    assert_eq!(run.column("attempts"), ["1", "0", "0", "0", "0", "0", "1"]);
    assert_eq!(
        run.sent,
        called_once(&["6222023978484872", "6228487155375037152"])
    );
    assert!(
        run.stderr().contains("scientific_notation 5"),
        "{}",
        run.stderr()
    );
}

#[test]
fn excel_text_formula_is_unwrapped_and_the_cell_kept() {
    let run = screen_fixture("excel_text_formula.csv", &[]);
    run.assert_exit(0);
    run.assert_input_kept(&input_rows(&run.input, b','));
    assert_eq!(
        run.column("card"),
        [
            "=\"6228487407492236138\"",
            "=\"6227009068960744\"",
            "4367428460425004"
        ]
    );
    assert_eq!(run.column("status"), ["ok"; 3]);
    assert_eq!(
        run.sent,
        called_once(&[
            "6228487407492236138",
            "6227009068960744",
            "4367428460425004"
        ])
    );
}

#[test]
fn leading_apostrophe_is_dropped_from_the_number_sent() {
    let run = screen_fixture("leading_apostrophe.csv", &[]);
    run.assert_exit(0);
    run.assert_input_kept(&input_rows(&run.input, b','));
    assert_eq!(
        run.column("card"),
        [
            "'6228488573266729431",
            "'6258 8821 2857 6359",
            "6033672525725663"
        ]
    );
    assert_eq!(run.column("status"), ["ok"; 3]);
    assert_eq!(
        run.sent,
        called_once(&[
            "6228488573266729431",
            "6258882128576359",
            "6033672525725663"
        ])
    );
}

#[test]
fn fullwidth_digits_are_sent_as_ascii() {
    let run = screen_fixture("fullwidth_digits.csv", &[]);
    run.assert_exit(0);
    run.assert_input_kept(&input_rows(&run.input, b','));
    assert_eq!(
        run.column("card")[0],
        "６２２２０２２２０８８５５０６５３３７"
    );
    assert_eq!(run.column("status"), ["ok"; 3]);
    assert_eq!(
        run.sent,
        called_once(&[
            "6222022208855065337",
            "6214832186372012",
            "6222626024686124"
        ])
    );
}

#[test]
fn spaces_nbsp_ideographic_spaces_tabs_and_dashes_are_dropped() {
    let run = screen_fixture("spaces_and_dashes.csv", &[]);
    run.assert_exit(0);
    run.assert_input_kept(&input_rows(&run.input, b','));
    let cards = run.column("card");
    assert_eq!(cards[1], "6217\u{a0}0037\u{a0}9748\u{a0}6479");
    assert_eq!(cards[2], "6225\u{3000}8850\u{3000}9238\u{3000}2225");
    assert_eq!(cards[4], "\t6227006757938734326");
    assert_eq!(cards[5], "  6228487940816466593  ");
    assert_eq!(run.column("status"), ["ok"; 8]);
    // Rows 6-8 write cards of rows 1-3 differently: each card is called once.
    assert_eq!(
        run.column("attempts"),
        ["1", "1", "1", "1", "1", "0", "0", "0"]
    );
    assert_eq!(
        run.sent,
        called_once(&[
            "6228487940816466593",
            "6217003797486479",
            "6225885092382225",
            "4367421561251916",
            "6227006757938734326",
        ])
    );
}

#[test]
fn float_tail_is_invalid_and_never_sent() {
    let run = screen_fixture("float_tail.csv", &[]);
    run.assert_exit(0);
    run.assert_input_kept(&input_rows(&run.input, b','));
    assert_eq!(
        run.column("card"),
        [
            "6222021225587612",
            "6228480581068800068.0",
            "4367421168616255.00"
        ]
    );
    assert_eq!(run.column("status"), ["ok", "invalid", "invalid"]);
    assert_each_error(&run.column("error"), &[1, 2], "\".0\"");
    // The digits before ".0" look like a card, but a float column may have rounded them.
    assert_eq!(run.sent, called_once(&["6222021225587612"]));
}

#[test]
fn letters_in_the_card_are_named_and_never_sent() {
    let run = screen_fixture("letters_in_card.csv", &[]);
    run.assert_exit(0);
    run.assert_input_kept(&input_rows(&run.input, b','));
    assert_eq!(
        run.column("status"),
        ["ok", "invalid", "invalid", "invalid", "invalid", "ok"]
    );
    let errors = run.column("error");
    assert!(errors[1].contains("'x'"), "{}", errors[1]);
    assert!(errors[2].contains("'O'"), "{}", errors[2]);
    assert!(errors[3].contains("'N'"), "{}", errors[3]);
    assert!(errors[4].contains("'待'"), "{}", errors[4]);
    assert_eq!(
        run.sent,
        called_once(&["6228488647989763", "6222023855254380"])
    );
}

#[test]
fn too_few_or_too_many_digits_are_invalid_and_13_to_19_are_sent() {
    let run = screen_fixture("wrong_length.csv", &[]);
    run.assert_exit(0);
    run.assert_input_kept(&input_rows(&run.input, b','));
    assert_eq!(
        run.column("status"),
        ["ok", "invalid", "ok", "invalid", "invalid", "invalid"]
    );
    let errors = run.column("error");
    assert_eq!(errors[1], "card number has 12 digits; expected 13-19");
    assert_eq!(errors[3], "card number has 20 digits; expected 13-19");
    assert_eq!(errors[4], "card number has 1 digit; expected 13-19");
    assert_eq!(errors[5], "card number has 12 digits; expected 13-19");
    assert_eq!(
        run.sent,
        called_once(&["4573963797024", "6228481179634318456"])
    );
}

#[test]
fn empty_cells_are_invalid_and_never_sent() {
    let run = screen_fixture("empty_cells.csv", &[]);
    run.assert_exit(0);
    run.assert_input_kept(&input_rows(&run.input, b','));
    assert_eq!(
        run.column("status"),
        ["ok", "invalid", "invalid", "invalid", "invalid", "ok"]
    );
    assert_each_error(&run.column("error"), &[1, 2, 3, 4], "card number is empty");
    assert_eq!(
        run.sent,
        called_once(&["6228489742963992", "6258888194985432"])
    );
}

// ---- CSV shapes ----

#[test]
fn ragged_rows_are_kept_and_padded_under_the_header() {
    let run = screen_fixture("ragged_rows.csv", &[]);
    run.assert_exit(0);
    run.assert_added_header(4);
    let inputs = input_rows(&run.input, b',');
    assert_eq!(
        inputs.iter().map(Vec::len).collect::<Vec<_>>(),
        [4, 2, 1, 5]
    );
    run.assert_input_kept(&inputs);
    // Short rows are padded so the added columns stay under their names.
    assert_eq!(run.rows[1].len(), 16);
    assert_eq!(&run.rows[1][..4], ["2", "6222026031622114527", "", ""]);
    assert_eq!(run.rows[2].len(), 16);
    assert_eq!(&run.rows[2][..4], ["3", "", "", ""]);
    // A longer row keeps its extra field; its added columns follow it.
    assert_eq!(run.rows[3].len(), 17);
    assert_eq!(run.rows[3][4], "extra field");
    assert_eq!(run.rows[3][5], "ok");
    assert_eq!(run.column("status")[..3], ["ok", "ok", "invalid"]);
    assert_eq!(
        run.column("error")[2],
        "row has 1 field; the card number should be in field 2"
    );
    assert_eq!(
        run.sent,
        called_once(&[
            "6228482925206651",
            "6222026031622114527",
            "6217002442882066"
        ])
    );
}

/// The raw bytes of each record, as the csv crate delimits them.
fn raw_records(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut starts = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).expect("csv") {
        starts.push(record.position().expect("position").byte() as usize);
    }
    starts.push(bytes.len());
    starts
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

#[test]
fn quoted_fields_with_commas_quotes_and_newlines_survive_byte_for_byte() {
    let run = screen_fixture("quoted_fields.csv", &[]);
    run.assert_exit(0);
    let inputs = input_rows(&run.input, b',');
    run.assert_input_kept(&inputs);
    assert_eq!(run.column("name")[1], "王 \"小芳\"");
    assert_eq!(run.column("address")[2], "北京市朝阳区\n建国路 88 号");
    assert_eq!(run.column("note")[2], "line one\nline two, with comma");
    assert_eq!(run.column("address")[3], "\"Dublin\"");
    // The fixture quotes only where it must, so every input record reappears as it was.
    let input = raw_records(&std::fs::read(&run.input).unwrap());
    let output = raw_records(&std::fs::read(&run.out).unwrap());
    assert_eq!(input.len(), output.len());
    for (input, output) in input.iter().zip(&output) {
        let record = input.strip_suffix(b"\n").expect("LF line end");
        let mut expected = record.to_vec();
        expected.push(b',');
        assert!(
            output.starts_with(&expected),
            "{:?} should start with {:?}",
            String::from_utf8_lossy(output),
            String::from_utf8_lossy(record)
        );
    }
    assert_eq!(run.column("status"), ["ok"; 4]);
    assert_eq!(
        run.sent,
        called_once(&[
            "6228487351949963",
            "6217009050786881482",
            "6222024318743357",
            "4563516316347018"
        ])
    );
}

#[test]
fn tab_delimited_input_is_written_tab_delimited() {
    let run = screen_fixture("tab_delimited.tsv", &["--delimiter", "\\t"]);
    run.assert_exit(0);
    run.assert_added_header(4);
    run.assert_input_kept(&input_rows(&run.input, b'\t'));
    assert_eq!(
        run.column("address"),
        ["成都, 高新区", "Wuhan\tHankou", "北京; 朝阳"]
    );
    let raw = std::fs::read_to_string(&run.out).unwrap();
    assert!(
        raw.starts_with(&header_line(&["id", "card", "name", "address"], '\t')),
        "{raw}"
    );
    // A comma means nothing in a TSV: the field is written as it came.
    assert!(raw.contains("\t成都, 高新区\tok\t"), "{raw}");
    assert_eq!(run.column("status"), ["ok"; 3]);
    assert_eq!(
        run.sent,
        called_once(&[
            "6228488990914392",
            "6227000710032085414",
            "4367425406885119"
        ])
    );
}

#[test]
fn semicolon_delimited_input_is_written_semicolon_delimited() {
    let run = screen_fixture("semicolon_delimited.csv", &["--delimiter", ";"]);
    run.assert_exit(0);
    run.assert_added_header(4);
    run.assert_input_kept(&input_rows(&run.input, b';'));
    assert_eq!(
        run.column("address"),
        ["Beijing, Chaoyang", "Wuhan; Hankou", "成都, 高新区"]
    );
    let raw = std::fs::read_to_string(&run.out).unwrap();
    assert!(
        raw.starts_with(&header_line(&["id", "card", "name", "address"], ';')),
        "{raw}"
    );
    assert_eq!(
        run.sent,
        called_once(&[
            "6222028474160140",
            "6258881750221086",
            "6214837531033673926"
        ])
    );
}

#[test]
fn a_wrong_delimiter_is_refused_with_a_hint() {
    let run = screen_fixture("tab_delimited.tsv", &[]);
    run.assert_refused(&["no card column", "--delimiter '\\t'"]);
    let run = screen_fixture("semicolon_delimited.csv", &[]);
    run.assert_refused(&["no card column", "--delimiter ';'"]);
}

#[test]
fn crlf_line_ends_leave_no_carriage_return_in_fields() {
    let run = screen_fixture("crlf_line_endings.csv", &[]);
    run.assert_exit(0);
    run.assert_added_header(4);
    run.assert_input_kept(&input_rows(&run.input, b','));
    // The last input column would end in \r if CRLF were split as LF.
    assert_eq!(run.column("note"), ["first", "two\r\nlines", "last"]);
    assert_eq!(run.header[3], "note");
    assert_eq!(run.column("attempts"), ["1"; 3]);
    assert_eq!(
        run.sent,
        called_once(&[
            "6228481037787749",
            "6222022244477395083",
            "6217007732002218"
        ])
    );
}

// ---- Luhn ----

#[test]
fn luhn_failures_are_sent_with_warn_and_counted_in_the_summary() {
    let run = screen_fixture("luhn_failures.csv", &[]);
    run.assert_exit(0);
    run.assert_input_kept(&input_rows(&run.input, b','));
    assert_eq!(run.column("status"), ["ok"; 4]);
    assert_eq!(
        run.sent,
        called_once(&[
            "6228485165001922",
            "4367420233887480",
            "6222020896896091296",
            "6227002207530973481"
        ])
    );
    assert!(
        run.stderr().contains("Luhn check failed (sent anyway): 2"),
        "{}",
        run.stderr()
    );
}

#[test]
fn luhn_reject_makes_failures_invalid_without_a_call() {
    let run = screen_fixture("luhn_failures.csv", &["--luhn", "reject"]);
    run.assert_exit(0);
    run.assert_input_kept(&input_rows(&run.input, b','));
    assert_eq!(run.column("status"), ["ok", "invalid", "ok", "invalid"]);
    assert_each_error(&run.column("error"), &[1, 3], "Luhn");
    assert_eq!(run.column("attempts"), ["1", "0", "1", "0"]);
    assert_eq!(
        run.sent,
        called_once(&["6228485165001922", "6222020896896091296"])
    );
    assert!(run.stderr().contains("luhn_failed 2"), "{}", run.stderr());
}

// ---- whole-file problems ----

#[test]
fn a_file_with_only_a_header_gives_an_output_with_only_a_header() {
    let run = screen_fixture("header_only.csv", &[]);
    run.assert_exit(0);
    assert_eq!(&run.header[..4], ["id", "name", "card", "branch"]);
    run.assert_added_header(4);
    assert!(run.rows.is_empty());
    assert!(run.sent.is_empty());
}

#[test]
fn an_empty_file_is_refused() {
    let run = screen_fixture("empty.csv", &[]);
    run.assert_refused(&["empty.csv", "is empty"]);
}

#[test]
fn a_missing_file_is_refused() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let result = run(screen(&sim, &work.path("nowhere.csv"), &[]));
    assert_eq!(code(&result), 2);
    assert!(
        stderr(&result).contains("nowhere.csv does not exist"),
        "{}",
        stderr(&result)
    );
    assert_eq!(sim.calls(), 0);
}

#[test]
fn a_directory_is_refused() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let result = run(screen(
        &sim,
        work.dir.path(),
        &["-o", work.path("out.csv").to_str().unwrap()],
    ));
    assert_eq!(code(&result), 2);
    assert!(
        stderr(&result).contains("is a directory"),
        "{}",
        stderr(&result)
    );
    assert_eq!(sim.calls(), 0);
}

#[test]
fn a_pipe_given_as_a_path_is_refused_with_advice() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let fifo = work.path("cards.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    // A writer like `<(zcat cards.csv.gz)`. It stays blocked if nobody opens the pipe, which is
    // what should happen; the thread ends with the test process.
    let writer_path = fifo.clone();
    std::thread::spawn(move || {
        let _ = std::fs::write(writer_path, card_csv(&cards(3, 40)));
    });
    let out = work.path("out.csv");
    let mut child = screen(&sim, &fifo, &["-o", out.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cardscreen");
    // Reading the pipe twice hangs: the second open waits for a writer that has gone. Not a
    // timing check: the limit only turns that hang into a failure.
    let guard = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > guard {
            let _ = child.kill();
            panic!("cardscreen hung on a named pipe");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = child.wait_with_output().expect("wait");
    assert_eq!(code(&result), 2, "{}", stderr(&result));
    let message = stderr(&result);
    assert!(message.contains("not a regular file"), "{message}");
    assert!(message.contains("standard input"), "{message}");
    assert_eq!(sim.calls(), 0);
}

#[test]
fn a_file_without_a_card_column_lists_its_headers_and_suggests_column() {
    let run = screen_fixture("no_card_column.csv", &[]);
    run.assert_refused(&["id, name, phone, account", "--column"]);
}

#[test]
fn column_picks_the_card_column_by_name_or_number() {
    for column in ["account", "4"] {
        let run = screen_fixture("no_card_column.csv", &["--column", column]);
        run.assert_exit(0);
        assert_eq!(run.column("status"), ["ok"]);
        assert_eq!(run.sent, called_once(&["6228483999281604"]));
    }
}

#[test]
fn a_column_out_of_range_is_refused() {
    let run = screen_fixture("no_card_column.csv", &["--column", "9"]);
    run.assert_refused(&["--column 9", "4 columns"]);
}

#[test]
fn an_added_column_already_in_the_input_is_refused_with_prefix_advice() {
    let run = screen_fixture("clashing_column.csv", &[]);
    run.assert_refused(&["\"status\"", "--prefix"]);
}

#[test]
fn prefix_resolves_a_clashing_column() {
    let run = screen_fixture("clashing_column.csv", &["--prefix", "screen_"]);
    run.assert_exit(0);
    assert_eq!(&run.header[..4], ["id", "card", "status", "screen_status"]);
    assert_eq!(run.column("status"), ["active", "closed"]);
    assert_eq!(run.column("screen_status"), ["ok", "ok"]);
    assert_eq!(
        run.sent,
        called_once(&["6228486353231990", "6222020040574342"])
    );
}

// ---- no header ----

#[test]
fn no_header_finds_the_one_column_holding_a_card() {
    for extra in [&["--no-header"][..], &["--no-header", "--column", "3"]] {
        let run = screen_fixture("no_header.csv", extra);
        run.assert_exit(0);
        assert_eq!(
            &run.header[..4],
            ["column_1", "column_2", "column_3", "column_4"]
        );
        run.assert_added_header(4);
        // Every line is a data row, the first included.
        let (first, rest) = read_csv(&run.input);
        let mut all = vec![first];
        all.extend(rest);
        run.assert_input_kept(&all);
        assert_eq!(
            run.rows[0][..4],
            ["1", "张伟", "6228484125920030567", "成都"]
        );
        assert_eq!(run.column("status"), ["ok"; 3]);
        assert_eq!(
            run.sent,
            called_once(&[
                "6228484125920030567",
                "6227006013879524",
                "4367428096873809"
            ])
        );
    }
}

#[test]
fn no_header_refuses_a_column_name() {
    let run = screen_fixture("no_header.csv", &["--no-header", "--column", "card"]);
    run.assert_refused(&["--no-header", "--column N"]);
}

#[test]
fn a_headerless_file_read_with_a_header_suggests_no_header() {
    let run = screen_fixture("no_header.csv", &[]);
    run.assert_refused(&["no card column", "--no-header"]);
    // The card number in the first row is masked in the message.
    assert!(
        !run.stderr().contains("6228484125920030567"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("622848*********0567"),
        "{}",
        run.stderr()
    );
}

// ---- streams ----

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name),
    )
    .expect("fixture")
}

#[test]
fn stdin_is_screened_to_stdout_by_default() {
    let sim = Simulator::start(&[]);
    let result = run_with_stdin(
        screen(&sim, Path::new("-"), &[]),
        &fixture_bytes("gbk_excel_export.csv"),
    );
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (header, rows) = parse_csv(&result.stdout, b',');
    assert_eq!(&header[..2], ["卡号", "姓名"]);
    assert_eq!(
        column(&header, &rows, "姓名"),
        ["张伟", "王芳", "李娜", "刘洋", "陈静"]
    );
    assert_eq!(column(&header, &rows, "status"), ["ok"; 5]);
    assert_eq!(
        sim.per_card(),
        called_once(&[
            "6228482382480171669",
            "6217003999698830",
            "6222022981719667320",
            "4367422592879865",
            "6225888657563874",
        ])
    );
    // The summary goes to stderr, never into the data.
    assert!(
        stderr(&result).contains("Screened 5 rows"),
        "{}",
        stderr(&result)
    );
}

#[test]
fn stdin_can_be_screened_to_a_file() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let out = work.path("out.csv");
    let result = run_with_stdin(
        screen(&sim, Path::new("-"), &["-o", out.to_str().unwrap()]),
        &fixture_bytes("spaces_and_dashes.csv"),
    );
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    assert!(result.stdout.is_empty());
    let (header, rows) = read_csv(&out);
    assert_eq!(rows.len(), 8);
    assert_eq!(column(&header, &rows, "status"), ["ok"; 8]);
    assert_eq!(sim.per_card().len(), 5);
    assert_eq!(
        files_in(work.dir.path()),
        ["out.csv"],
        "no journal or partial file is left behind"
    );
}

#[test]
fn dash_output_writes_a_file_input_to_stdout() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.fixture("letters_in_card.csv");
    let result = run(screen(&sim, &input, &["-o", "-"]));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (header, rows) = parse_csv(&result.stdout, b',');
    let inputs = input_rows(&input, b',');
    assert_eq!(rows.len(), inputs.len());
    for (input, output) in inputs.iter().zip(&rows) {
        assert_eq!(&output[..input.len()], &input[..]);
    }
    assert_eq!(
        column(&header, &rows, "status"),
        ["ok", "invalid", "invalid", "invalid", "invalid", "ok"]
    );
    assert_eq!(
        files_in(work.dir.path()),
        ["letters_in_card.csv"],
        "stdout output leaves no file"
    );
}

#[test]
fn resume_is_refused_when_the_output_is_stdout() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.fixture("utf8_bom.csv");
    for extra in [&["-o", "-", "--resume"][..], &["--resume"]] {
        let result = if extra.len() == 1 {
            run_with_stdin(
                screen(&sim, Path::new("-"), extra),
                &fixture_bytes("utf8_bom.csv"),
            )
        } else {
            run(screen(&sim, &input, extra))
        };
        assert_eq!(code(&result), 2, "{}", stderr(&result));
        assert!(stderr(&result).contains("--resume"), "{}", stderr(&result));
        assert!(
            stderr(&result).contains("standard output"),
            "{}",
            stderr(&result)
        );
    }
    assert_eq!(sim.calls(), 0);
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    // Far more output than the pipe and the writer's buffers hold, but only three calls.
    let three = cards(3, 41);
    let mut text = String::from("id,card,note\n");
    for i in 0..30_000 {
        text.push_str(&format!(
            "{i},{},a note long enough to fill pipes quickly\n",
            three[i % 3]
        ));
    }
    let input = work.write("big.csv", text);
    let mut child = screen(&sim, &input, &["-o", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cardscreen");
    let mut first = String::new();
    {
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        stdout.read_line(&mut first).expect("first line");
        // Dropping the reader closes the pipe, like `| head -1`.
    }
    let result = child.wait_with_output().expect("wait");
    assert_eq!(first, header_line(&["id", "card", "note"], ','));
    let message = stderr(&result);
    assert_eq!(code(&result), 0, "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(
        message.trim().is_empty(),
        "a closed pipe should end quietly: {message}"
    );
    assert!(sim.calls() <= 3);
}

// ---- blank lines ----

#[test]
fn blank_lines_of_a_one_column_file_are_empty_cells() {
    // Excel saves an empty cell of a one-column sheet as a blank line: it is a row.
    let run = screen_fixture("blank_lines_one_column.csv", &[]);
    run.assert_exit(0);
    assert_eq!(
        run.column("status"),
        ["ok", "invalid", "ok", "invalid", "invalid", "ok"]
    );
    assert_each_error(&run.column("error"), &[1, 3, 4], "card number is empty");
    assert_eq!(
        run.sent,
        called_once(&["6228489742963992", "6258888194985432", "4367423164752555"])
    );
}

#[test]
fn blank_lines_between_rows_of_several_columns_are_counted() {
    let run = screen_fixture("blank_lines_many_columns.csv", &[]);
    run.assert_exit(0);
    assert_eq!(run.column("status"), ["ok", "ok"]);
    assert!(
        run.stderr().contains("blank lines skipped (no row): 1"),
        "{}",
        run.stderr()
    );
}
