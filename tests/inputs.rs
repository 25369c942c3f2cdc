//! Real-world input files screened through the real binary against a real simulator process.
//! Each case checks the output rows and, through `/stats`, exactly which cleaned numbers were
//! sent; a whole-file problem exits 2 with a message that says what is wrong, and calls nothing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use encoding_rs::GBK;

use crate::common::*;
use Input::{Fixture, Written};

/// One `#[test]` per case: `name: case;`, the case a `Screens` or a `Refused`.
macro_rules! cases {
    ($($(#[$attr:meta])* $name:ident: $case:expr;)*) => {
        $(
            $(#[$attr])*
            #[test]
            fn $name() {
                $case.check();
            }
        )*
    };
}

/// The file a case screens.
#[derive(Clone, Copy)]
enum Input {
    /// A file of `fixtures/`, copied into a fresh directory.
    Fixture(&'static str),
    /// These bytes, written to `cards.csv`.
    Written(&'static [u8]),
}

/// The input records that the output rows start with, field for field and in order.
#[derive(Clone, Copy)]
enum Kept {
    /// The records after the header.
    DataRecords,
    /// Every record, the first included: the input has no header.
    AllRecords,
    /// Not compared: a CSV reader skips the blank lines that the tool keeps as rows.
    Unchecked,
}

/// An input that screens to the end (exit 0), and what the run must show.
struct Screens {
    input: Input,
    /// Extra arguments of `screen`.
    args: &'static [&'static str],
    /// Input columns: the output header is theirs, then `ADDED` (after any `--prefix`).
    width: usize,
    /// The first names of the output header.
    header: &'static [&'static str],
    kept: Kept,
    /// The added `status` of every row.
    status: &'static [&'static str],
    /// Whole columns, by name.
    columns: &'static [(&'static str, &'static [&'static str])],
    /// Single cells: column, row, value.
    cells: &'static [(&'static str, usize, &'static str)],
    /// Rows whose `error` contains a text.
    errors: &'static [(&'static [usize], &'static str)],
    /// Every card the simulator received, as it received it: each exactly once.
    sent: &'static [&'static str],
    /// Texts of the summary on stderr.
    says: &'static [&'static str],
    /// What only this case checks.
    also: fn(&Screening),
}

const SCREENS: Screens = Screens {
    input: Fixture(""),
    args: &[],
    width: 0,
    header: &[],
    kept: Kept::DataRecords,
    status: &[],
    columns: &[],
    cells: &[],
    errors: &[],
    sent: &[],
    says: &[],
    also: |_| {},
};

impl Screens {
    fn check(self) {
        let run = Screening::of(self.input, self.args);
        run.assert_exit(0);
        let prefix = value_of(self.args, "--prefix").unwrap_or("");
        let added: Vec<String> = ADDED.iter().map(|name| format!("{prefix}{name}")).collect();
        assert_eq!(
            run.header.len(),
            self.width + ADDED.len(),
            "{:?}",
            run.header
        );
        assert_eq!(run.header[self.width..], added);
        assert_eq!(run.header[..self.header.len()], *self.header);
        let records = run.input_records();
        match self.kept {
            Kept::DataRecords => run.assert_input_kept(records.get(1..).unwrap_or_default()),
            Kept::AllRecords => run.assert_input_kept(&records),
            Kept::Unchecked => {}
        }
        assert_eq!(run.added("status"), self.status, "status");
        for (name, values) in self.columns {
            assert_eq!(run.column(name), *values, "column {name}");
        }
        for (name, row, value) in self.cells {
            assert_eq!(run.column(name)[*row], *value, "{name} of row {row}");
        }
        let errors = run.added("error");
        for (rows, needle) in self.errors {
            for &row in *rows {
                assert!(
                    errors[row].contains(needle),
                    "row {row}: {:?} should mention {needle:?}",
                    errors[row]
                );
            }
        }
        assert_eq!(run.sent, called_once(self.sent));
        let message = run.stderr();
        for needle in self.says {
            assert!(
                message.contains(needle),
                "{needle:?} missing from: {message}"
            );
        }
        (self.also)(&run);
    }
}

/// An input refused as a whole: exit 2 and a message that says why, with no call made and no
/// output written.
struct Refused {
    input: Input,
    /// Extra arguments of `screen`.
    args: &'static [&'static str],
    /// Texts the message contains.
    says: &'static [&'static str],
    /// Texts it must not contain.
    never_says: &'static [&'static str],
}

const REFUSED: Refused = Refused {
    input: Fixture(""),
    args: &[],
    says: &[],
    never_says: &[],
};

impl Refused {
    fn check(self) {
        let run = Screening::of(self.input, self.args);
        run.assert_exit(2);
        let message = run.stderr();
        for needle in self.says {
            assert!(
                message.contains(needle),
                "{needle:?} missing from: {message}"
            );
        }
        for text in self.never_says {
            assert!(!message.contains(text), "{text:?} in: {message}");
        }
        assert!(!message.contains("panicked"), "{message}");
        assert!(run.sent.is_empty(), "calls made: {:?}", run.sent);
        assert_eq!(run.calls, 0, "calls made");
        assert!(!run.out.exists(), "a refused run must not write an output");
    }
}

/// One screening of an input against a simulator of its own.
struct Screening {
    result: Output,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Calls per card number as the simulator received them.
    sent: BTreeMap<String, u64>,
    calls: u64,
    input: PathBuf,
    out: PathBuf,
    delimiter: u8,
    /// Keeps the temporary directory alive as long as the screening.
    _work: Workdir,
}

impl Screening {
    fn of(input: Input, extra: &[&str]) -> Screening {
        let sim = Simulator::start(&[]);
        let work = Workdir::new();
        let input = match input {
            Fixture(name) => work.fixture(name),
            Written(bytes) => work.write("cards.csv", bytes),
        };
        let out = work.path("out.csv");
        let mut args = vec!["-o", out.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        let result = run(screen(&sim, &input, &args));
        let delimiter = match value_of(extra, "--delimiter") {
            Some("\\t") => b'\t',
            Some(delimiter) => delimiter.as_bytes()[0],
            None => b',',
        };
        let (header, rows) = if out.exists() {
            read_csv_with(&out, delimiter)
        } else {
            (Vec::new(), Vec::new())
        };
        Screening {
            result,
            header,
            rows,
            sent: sim.per_card(),
            calls: sim.calls(),
            input,
            out,
            delimiter,
            _work: work,
        }
    }

    fn stderr(&self) -> String {
        stderr(&self.result)
    }

    fn assert_exit(&self, expected: i32) {
        assert_eq!(code(&self.result), expected, "{}", self.stderr());
    }

    fn column(&self, name: &str) -> Vec<String> {
        column(&self.header, &self.rows, name)
    }

    /// Added column `name` of every row, counted from the row's end.
    fn added(&self, name: &str) -> Vec<String> {
        let at = ADDED.iter().position(|added| *added == name);
        let from_end = ADDED.len() - at.expect("an added column");
        self.rows
            .iter()
            .map(|row| row[row.len() - from_end].clone())
            .collect()
    }

    /// Every record of the input, header included, as a CSV reader sees it; an input that is
    /// not UTF-8 is decoded as GBK first.
    fn input_records(&self) -> Vec<Vec<String>> {
        let raw = std::fs::read(&self.input).expect("read the input");
        let text = String::from_utf8(raw).unwrap_or_else(|not_utf8| {
            let (text, _, bad) = GBK.decode(not_utf8.as_bytes());
            assert!(!bad, "the input is neither UTF-8 nor GBK");
            text.into_owned()
        });
        let (header, rows) = parse_csv(text.as_bytes(), self.delimiter);
        std::iter::once(header).chain(rows).collect()
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
}

fn value_of<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    let at = args.iter().position(|arg| *arg == flag)?;
    Some(args[at + 1])
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

/// The GBK export of Excel, read as GB18030 by each of `auto`, `gbk` and `gb18030`. Reading
/// the output back as CSV text fails on anything but UTF-8: the output is UTF-8 whatever the
/// input.
const GBK_EXPORT: Screens = Screens {
    input: Fixture("gbk_excel_export.csv"),
    width: 4,
    header: &["卡号", "姓名", "开户行", "备注"],
    status: &["ok"; 5],
    columns: &[("姓名", &["张伟", "王芳", "李娜", "刘洋", "陈静"])],
    cells: &[("开户行", 2, "工商银行北京朝阳支行, 二部")],
    sent: &[
        "6228482382480171669",
        "6217003999698830",
        "6222022981719667320",
        "4367422592879865",
        "6225888657563874",
    ],
    also: |run| {
        let raw = std::fs::read(&run.input).expect("fixture");
        assert!(
            std::str::from_utf8(&raw).is_err(),
            "the fixture must be GBK"
        );
    },
    ..SCREENS
};

/// A file without a header, read with `--no-header`: every line is a data row, the first
/// included, and the columns are named by number.
const NO_HEADER: Screens = Screens {
    input: Fixture("no_header.csv"),
    width: 4,
    header: &["column_1", "column_2", "column_3", "column_4"],
    kept: Kept::AllRecords,
    status: &["ok"; 3],
    sent: &[
        "6228484125920030567",
        "6227006013879524",
        "4367428096873809",
    ],
    also: |run| {
        assert_eq!(
            run.rows[0][..4],
            ["1", "张伟", "6228484125920030567", "成都"]
        )
    },
    ..SCREENS
};

cases! {
    // ---- encodings ----

    gbk_excel_export_read_with_encoding_auto_is_written_as_utf8: Screens {
        args: &["--encoding", "auto"],
        ..GBK_EXPORT
    };

    gbk_excel_export_read_with_encoding_gbk_is_written_as_utf8: Screens {
        args: &["--encoding", "gbk"],
        ..GBK_EXPORT
    };

    gbk_excel_export_read_with_encoding_gb18030_is_written_as_utf8: Screens {
        args: &["--encoding", "gb18030"],
        ..GBK_EXPORT
    };

    gbk_file_read_as_utf8_is_refused_naming_the_line: Refused {
        input: Fixture("gbk_excel_export.csv"),
        args: &["--encoding", "utf-8"],
        says: &["line 1", "UTF-8", "--encoding"],
        ..REFUSED
    };

    /// `card` is the first header: with the BOM left on it, no card column would be found.
    utf8_bom_is_stripped_from_the_first_header_name: Screens {
        input: Fixture("utf8_bom.csv"),
        width: 3,
        header: &["card", "name", "branch"],
        status: &["ok"; 3],
        columns: &[("card", &["6228480965550772", "6217005991591658124", "4563518432024109"])],
        sent: &["6228480965550772", "6217005991591658124", "4563518432024109"],
        also: |run| {
            let raw = std::fs::read(&run.out).expect("output");
            let header = header_line(&["card", "name", "branch"], ',');
            assert!(raw.starts_with(header.as_bytes()), "no BOM without --excel");
        },
        ..SCREENS
    };

    excel_flag_starts_the_output_with_one_bom: Screens {
        input: Fixture("utf8_bom.csv"),
        args: &["--excel"],
        width: 3,
        status: &["ok"; 3],
        sent: &["6228480965550772", "6217005991591658124", "4563518432024109"],
        also: |run| {
            let raw = std::fs::read(&run.out).expect("output");
            let header = header_line(&["card", "name", "branch"], ',');
            assert!(raw.starts_with(format!("\u{feff}{header}").as_bytes()));
            assert_eq!(raw.windows(3).filter(|w| *w == b"\xEF\xBB\xBF").count(), 1);
        },
        ..SCREENS
    };

    // invalid_utf8_line.csv has a Latin-1 "é" on line 4, which neither UTF-8 nor GBK can decode.

    invalid_utf8_is_refused_naming_the_line: Refused {
        input: Fixture("invalid_utf8_line.csv"),
        args: &["--encoding", "utf-8"],
        says: &["line 4", "UTF-8", "invalid_utf8_line.csv"],
        ..REFUSED
    };

    invalid_utf8_read_with_encoding_auto_is_refused_naming_the_line: Refused {
        input: Fixture("invalid_utf8_line.csv"),
        args: &["--encoding", "auto"],
        says: &["line 4", "UTF-8", "invalid_utf8_line.csv"],
        ..REFUSED
    };

    invalid_gbk_is_refused_naming_the_line: Refused {
        input: Fixture("invalid_utf8_line.csv"),
        args: &["--encoding", "gbk"],
        says: &["line 4", "GBK", "invalid_utf8_line.csv"],
        ..REFUSED
    };

    /// Without the BOM rule, auto would fall back to GB18030, which happens to decode these
    /// bytes: every Chinese name would silently turn into other characters.
    a_utf8_bom_settles_the_encoding_even_when_a_byte_is_bad: Refused {
        input: Written(
            b"\xEF\xBB\xBFid,card,name\n\
              1,6228480965550772,\xE5\xBC\xA0\xE4\xBC\x9F\n\
              2,6217003999698830,Ren\xE9e\n",
        ),
        says: &["line 3", "UTF-8"],
        ..REFUSED
    };

    // ---- card cleaning ----

    excel_scientific_notation_is_invalid_and_never_sent: Screens {
        input: Fixture("excel_scientific_notation.csv"),
        width: 3,
        status: &["ok", "invalid", "invalid", "invalid", "invalid", "invalid", "ok"],
        columns: &[
            (
                "card",
                &[
                    "6222023978484872",
                    "6.22848E+18",
                    "6.22202E+15",
                    "6,21700E+18",
                    "4.36742e+15",
                    "6E+18",
                    "6228487155375037152",
                ],
            ),
            ("attempts", &["1", "0", "0", "0", "0", "0", "1"]),
        ],
        errors: &[
            (&[1, 2, 3, 4, 5], "Excel"),
            (&[1, 2, 3, 4, 5], "re-export the column as text"),
            (&[1], "6.22848E+18"),
        ],
        sent: &["6222023978484872", "6228487155375037152"],
        says: &["scientific_notation 5"],
        ..SCREENS
    };

    excel_text_formula_is_unwrapped_and_the_cell_kept: Screens {
        input: Fixture("excel_text_formula.csv"),
        width: 3,
        status: &["ok"; 3],
        columns: &[(
            "card",
            &["=\"6228487407492236138\"", "=\"6227009068960744\"", "4367428460425004"],
        )],
        sent: &["6228487407492236138", "6227009068960744", "4367428460425004"],
        ..SCREENS
    };

    leading_apostrophe_is_dropped_from_the_number_sent: Screens {
        input: Fixture("leading_apostrophe.csv"),
        width: 3,
        status: &["ok"; 3],
        columns: &[(
            "card",
            &["'6228488573266729431", "'6258 8821 2857 6359", "6033672525725663"],
        )],
        sent: &["6228488573266729431", "6258882128576359", "6033672525725663"],
        ..SCREENS
    };

    fullwidth_digits_are_sent_as_ascii: Screens {
        input: Fixture("fullwidth_digits.csv"),
        width: 3,
        status: &["ok"; 3],
        cells: &[("card", 0, "６２２２０２２２０８８５５０６５３３７")],
        sent: &["6222022208855065337", "6214832186372012", "6222626024686124"],
        ..SCREENS
    };

    /// Rows 6-8 write cards of rows 1-3 differently: each card is called once.
    spaces_nbsp_ideographic_spaces_tabs_and_dashes_are_dropped: Screens {
        input: Fixture("spaces_and_dashes.csv"),
        width: 3,
        status: &["ok"; 8],
        columns: &[("attempts", &["1", "1", "1", "1", "1", "0", "0", "0"])],
        cells: &[
            ("card", 1, "6217\u{a0}0037\u{a0}9748\u{a0}6479"),
            ("card", 2, "6225\u{3000}8850\u{3000}9238\u{3000}2225"),
            ("card", 4, "\t6227006757938734326"),
            ("card", 5, "  6228487940816466593  "),
        ],
        sent: &[
            "6228487940816466593",
            "6217003797486479",
            "6225885092382225",
            "4367421561251916",
            "6227006757938734326",
        ],
        ..SCREENS
    };

    /// The digits before ".0" look like a card, but a float column may have rounded them.
    float_tail_is_invalid_and_never_sent: Screens {
        input: Fixture("float_tail.csv"),
        width: 3,
        status: &["ok", "invalid", "invalid"],
        columns: &[(
            "card",
            &["6222021225587612", "6228480581068800068.0", "4367421168616255.00"],
        )],
        errors: &[(&[1, 2], "\".0\"")],
        sent: &["6222021225587612"],
        ..SCREENS
    };

    letters_in_the_card_are_named_and_never_sent: Screens {
        input: Fixture("letters_in_card.csv"),
        width: 3,
        status: &["ok", "invalid", "invalid", "invalid", "invalid", "ok"],
        errors: &[(&[1], "'x'"), (&[2], "'O'"), (&[3], "'N'"), (&[4], "'待'")],
        sent: &["6228488647989763", "6222023855254380"],
        ..SCREENS
    };

    too_few_or_too_many_digits_are_invalid_and_13_to_19_are_sent: Screens {
        input: Fixture("wrong_length.csv"),
        width: 3,
        status: &["ok", "invalid", "ok", "invalid", "invalid", "invalid"],
        cells: &[
            ("error", 1, "card number has 12 digits; expected 13-19"),
            ("error", 3, "card number has 20 digits; expected 13-19"),
            ("error", 4, "card number has 1 digit; expected 13-19"),
            ("error", 5, "card number has 12 digits; expected 13-19"),
        ],
        sent: &["4573963797024", "6228481179634318456"],
        ..SCREENS
    };

    empty_cells_are_invalid_and_never_sent: Screens {
        input: Fixture("empty_cells.csv"),
        width: 3,
        status: &["ok", "invalid", "invalid", "invalid", "invalid", "ok"],
        errors: &[(&[1, 2, 3, 4], "card number is empty")],
        sent: &["6228489742963992", "6258888194985432"],
        ..SCREENS
    };

    // ---- CSV shapes ----

    ragged_rows_are_padded_or_invalid_and_stay_under_the_header: Screens {
        input: Fixture("ragged_rows.csv"),
        width: 4,
        // The long row's extra field joins its last cell: compared below.
        kept: Kept::Unchecked,
        status: &["ok", "ok", "invalid", "invalid"],
        cells: &[("error", 2, "row has 1 field; the card number should be in field 2")],
        errors: &[(&[3], "row has 5 fields but the header 4")],
        sent: &["6228482925206651", "6222026031622114527"],
        says: &["too_many_fields 1"],
        also: |run| {
            let lengths: Vec<usize> = run.input_records()[1..].iter().map(Vec::len).collect();
            assert_eq!(lengths, [4, 2, 1, 5]);
            assert!(run.rows.iter().all(|row| row.len() == 16), "{:?}", run.rows);
            assert_eq!(&run.rows[0][..4], ["1", "6228482925206651", "张伟", ""]);
            // Short rows are padded so the added columns stay under their names.
            assert_eq!(&run.rows[1][..4], ["2", "6222026031622114527", "", ""]);
            assert_eq!(&run.rows[2][..4], ["3", "", "", ""]);
            // A longer row keeps its extra field in its last cell, joined as the input had it.
            assert_eq!(
                &run.rows[3][..4],
                ["4", "6217002442882066", "刘洋", "复核,extra field"]
            );
        },
        ..SCREENS
    };

    quoted_fields_with_commas_quotes_and_newlines_survive_byte_for_byte: Screens {
        input: Fixture("quoted_fields.csv"),
        width: 5,
        status: &["ok"; 4],
        cells: &[
            ("name", 1, "王 \"小芳\""),
            ("address", 2, "北京市朝阳区\n建国路 88 号"),
            ("note", 2, "line one\nline two, with comma"),
            ("address", 3, "\"Dublin\""),
        ],
        sent: &[
            "6228487351949963",
            "6217009050786881482",
            "6222024318743357",
            "4563516316347018",
        ],
        also: |run| {
            // The fixture quotes only where it must, so every input record reappears as it was.
            let input = raw_records(&std::fs::read(&run.input).expect("input"));
            let output = raw_records(&std::fs::read(&run.out).expect("output"));
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
        },
        ..SCREENS
    };

    tab_delimited_input_is_written_tab_delimited: Screens {
        input: Fixture("tab_delimited.tsv"),
        args: &["--delimiter", "\\t"],
        width: 4,
        status: &["ok"; 3],
        columns: &[("address", &["成都, 高新区", "Wuhan\tHankou", "北京; 朝阳"])],
        sent: &["6228488990914392", "6227000710032085414", "4367425406885119"],
        also: |run| {
            let raw = std::fs::read_to_string(&run.out).expect("output");
            let header = header_line(&["id", "card", "name", "address"], '\t');
            assert!(raw.starts_with(&header), "{raw}");
            // A comma means nothing in a TSV: the field is written as it came.
            assert!(raw.contains("\t成都, 高新区\tok\t"), "{raw}");
        },
        ..SCREENS
    };

    semicolon_delimited_input_is_written_semicolon_delimited: Screens {
        input: Fixture("semicolon_delimited.csv"),
        args: &["--delimiter", ";"],
        width: 4,
        status: &["ok"; 3],
        columns: &[("address", &["Beijing, Chaoyang", "Wuhan; Hankou", "成都, 高新区"])],
        sent: &["6222028474160140", "6258881750221086", "6214837531033673926"],
        also: |run| {
            let raw = std::fs::read_to_string(&run.out).expect("output");
            let header = header_line(&["id", "card", "name", "address"], ';');
            assert!(raw.starts_with(&header), "{raw}");
        },
        ..SCREENS
    };

    a_tab_delimited_file_read_as_commas_is_refused_with_a_hint: Refused {
        input: Fixture("tab_delimited.tsv"),
        says: &["no card column", "--delimiter '\\t'"],
        ..REFUSED
    };

    a_semicolon_delimited_file_read_as_commas_is_refused_with_a_hint: Refused {
        input: Fixture("semicolon_delimited.csv"),
        says: &["no card column", "--delimiter ';'"],
        ..REFUSED
    };

    /// The last input column would end in \r if CRLF were split as LF.
    crlf_line_ends_leave_no_carriage_return_in_fields: Screens {
        input: Fixture("crlf_line_endings.csv"),
        width: 4,
        header: &["id", "card", "name", "note"],
        status: &["ok"; 3],
        columns: &[
            ("note", &["first", "two\r\nlines", "last"]),
            ("attempts", &["1"; 3]),
        ],
        sent: &["6228481037787749", "6222022244477395083", "6217007732002218"],
        ..SCREENS
    };

    // ---- Luhn ----

    luhn_failures_are_sent_with_warn_and_counted_in_the_summary: Screens {
        input: Fixture("luhn_failures.csv"),
        width: 3,
        status: &["ok"; 4],
        sent: &[
            "6228485165001922",
            "4367420233887480",
            "6222020896896091296",
            "6227002207530973481",
        ],
        says: &["Luhn check failed (sent anyway): 2"],
        ..SCREENS
    };

    luhn_reject_makes_failures_invalid_without_a_call: Screens {
        input: Fixture("luhn_failures.csv"),
        args: &["--luhn", "reject"],
        width: 3,
        status: &["ok", "invalid", "ok", "invalid"],
        columns: &[("attempts", &["1", "0", "1", "0"])],
        errors: &[(&[1, 3], "Luhn")],
        sent: &["6228485165001922", "6222020896896091296"],
        says: &["luhn_failed 2"],
        ..SCREENS
    };

    // ---- whole-file problems ----

    a_file_with_only_a_header_gives_an_output_with_only_a_header: Screens {
        input: Fixture("header_only.csv"),
        width: 4,
        header: &["id", "name", "card", "branch"],
        ..SCREENS
    };

    an_empty_file_is_refused: Refused {
        input: Fixture("empty.csv"),
        says: &["empty.csv", "is empty"],
        ..REFUSED
    };

    a_file_without_a_card_column_lists_its_headers_and_suggests_column: Refused {
        input: Fixture("no_card_column.csv"),
        says: &["id, name, phone, account", "--column"],
        ..REFUSED
    };

    column_picks_the_card_column_by_name: Screens {
        input: Fixture("no_card_column.csv"),
        args: &["--column", "account"],
        width: 4,
        status: &["ok"],
        sent: &["6228483999281604"],
        ..SCREENS
    };

    column_picks_the_card_column_by_number: Screens {
        input: Fixture("no_card_column.csv"),
        args: &["--column", "4"],
        width: 4,
        status: &["ok"],
        sent: &["6228483999281604"],
        ..SCREENS
    };

    a_column_out_of_range_is_refused: Refused {
        input: Fixture("no_card_column.csv"),
        args: &["--column", "9"],
        says: &["--column 9", "4 columns"],
        ..REFUSED
    };

    an_added_column_already_in_the_input_is_refused_with_prefix_advice: Refused {
        input: Fixture("clashing_column.csv"),
        says: &["\"status\"", "--prefix"],
        ..REFUSED
    };

    prefix_resolves_a_clashing_column: Screens {
        input: Fixture("clashing_column.csv"),
        args: &["--prefix", "screen_"],
        width: 3,
        header: &["id", "card", "status", "screen_status"],
        status: &["ok", "ok"],
        columns: &[
            ("status", &["active", "closed"]),
            ("screen_status", &["ok", "ok"]),
        ],
        sent: &["6228486353231990", "6222020040574342"],
        ..SCREENS
    };

    // ---- no header ----

    no_header_finds_the_one_column_holding_a_card: Screens {
        args: &["--no-header"],
        ..NO_HEADER
    };

    no_header_takes_the_card_column_by_number: Screens {
        args: &["--no-header", "--column", "3"],
        ..NO_HEADER
    };

    no_header_refuses_a_column_name: Refused {
        input: Fixture("no_header.csv"),
        args: &["--no-header", "--column", "card"],
        says: &["--no-header", "--column N"],
        ..REFUSED
    };

    /// The card number in the first row is masked in the message.
    a_headerless_file_read_with_a_header_suggests_no_header: Refused {
        input: Fixture("no_header.csv"),
        says: &["no card column", "--no-header", "622848*********0567"],
        never_says: &["6228484125920030567"],
        ..REFUSED
    };

    // ---- blank lines ----

    /// Excel saves an empty cell of a one-column sheet as a blank line: it is a row.
    blank_lines_of_a_one_column_file_are_empty_cells: Screens {
        input: Fixture("blank_lines_one_column.csv"),
        width: 1,
        kept: Kept::Unchecked,
        status: &["ok", "invalid", "ok", "invalid", "invalid", "ok"],
        columns: &[(
            "card",
            &["6228489742963992", "", "6258888194985432", "", "", "4367423164752555"],
        )],
        errors: &[(&[1, 3, 4], "card number is empty")],
        sent: &["6228489742963992", "6258888194985432", "4367423164752555"],
        ..SCREENS
    };

    blank_lines_between_rows_of_several_columns_are_counted: Screens {
        input: Fixture("blank_lines_many_columns.csv"),
        width: 3,
        status: &["ok", "ok"],
        sent: &["6228489742963992", "6258888194985432"],
        says: &["blank lines skipped (no row): 1"],
        ..SCREENS
    };
}

// ---- a missing file, a directory, a named pipe ----

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
    let (_, inputs) = read_csv(&input);
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
fn a_closed_stdout_pipe_stops_the_run_without_a_panic() {
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
    assert_eq!(code(&result), 4, "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(message.contains("output closed"), "{message}");
    assert!(sim.calls() <= 3);
}
