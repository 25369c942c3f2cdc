//! Real-world input files screened through the real binary against a real simulator process.
//! Each case checks the output rows and, through `/stats`, exactly which cleaned numbers were
//! sent; a whole-file problem exits 2 with a message that says what is wrong, and calls nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

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
pub(crate) use cases;

/// The file a case screens.
#[derive(Clone, Copy)]
pub(crate) enum Input {
    /// A file of `fixtures/`, copied into a fresh directory.
    Fixture(&'static str),
    /// These bytes, written to `cards.csv`.
    Written(&'static [u8]),
}

/// The input records that the output rows start with, field for field and in order.
#[derive(Clone, Copy)]
pub(crate) enum Kept {
    /// The records after the header.
    DataRecords,
    /// Every record, the first included: the input has no header.
    AllRecords,
    /// Not compared: a CSV reader skips the blank lines that the tool keeps as rows.
    Unchecked,
}

/// An input that screens to the end (exit 0), and what the run must show.
pub(crate) struct Screens {
    pub(crate) input: Input,
    /// Extra arguments of `screen`.
    pub(crate) args: &'static [&'static str],
    /// Input columns: the output header is theirs, then `ADDED` (after any `--prefix`).
    pub(crate) width: usize,
    /// The first names of the output header.
    pub(crate) header: &'static [&'static str],
    pub(crate) kept: Kept,
    /// The added `status` of every row.
    pub(crate) status: &'static [&'static str],
    /// Whole columns, by name.
    pub(crate) columns: &'static [(&'static str, &'static [&'static str])],
    /// Single cells: column, row, value.
    pub(crate) cells: &'static [(&'static str, usize, &'static str)],
    /// Rows whose `error` contains a text.
    pub(crate) errors: &'static [(&'static [usize], &'static str)],
    /// Every card the simulator received, as it received it: each exactly once.
    pub(crate) sent: &'static [&'static str],
    /// Texts of the summary on stderr.
    pub(crate) says: &'static [&'static str],
    /// What only this case checks.
    pub(crate) also: fn(&Screening),
}

pub(crate) const SCREENS: Screens = Screens {
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
    pub(crate) fn check(self) {
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
pub(crate) struct Refused {
    pub(crate) input: Input,
    /// Extra arguments of `screen`.
    pub(crate) args: &'static [&'static str],
    /// Texts the message contains.
    pub(crate) says: &'static [&'static str],
    /// Texts it must not contain.
    pub(crate) never_says: &'static [&'static str],
}

pub(crate) const REFUSED: Refused = Refused {
    input: Fixture(""),
    args: &[],
    says: &[],
    never_says: &[],
};

impl Refused {
    pub(crate) fn check(self) {
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
pub(crate) struct Screening {
    pub(crate) result: Output,
    pub(crate) header: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
    /// Calls per card number as the simulator received them.
    pub(crate) sent: BTreeMap<String, u64>,
    pub(crate) calls: u64,
    pub(crate) input: PathBuf,
    pub(crate) out: PathBuf,
    pub(crate) delimiter: u8,
    /// Keeps the temporary directory alive as long as the screening.
    pub(crate) _work: Workdir,
}

impl Screening {
    pub(crate) fn of(input: Input, extra: &[&str]) -> Screening {
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

    pub(crate) fn stderr(&self) -> String {
        stderr(&self.result)
    }

    pub(crate) fn assert_exit(&self, expected: i32) {
        assert_eq!(code(&self.result), expected, "{}", self.stderr());
    }

    pub(crate) fn column(&self, name: &str) -> Vec<String> {
        column(&self.header, &self.rows, name)
    }

    /// Added column `name` of every row, counted from the row's end.
    pub(crate) fn added(&self, name: &str) -> Vec<String> {
        let at = ADDED.iter().position(|added| *added == name);
        let from_end = ADDED.len() - at.expect("an added column");
        self.rows
            .iter()
            .map(|row| row[row.len() - from_end].clone())
            .collect()
    }

    /// Every record of the input, header included, as a CSV reader sees it; an input that is
    /// not UTF-8 is decoded as GBK first.
    pub(crate) fn input_records(&self) -> Vec<Vec<String>> {
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
    pub(crate) fn assert_input_kept(&self, input_rows: &[Vec<String>]) {
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

pub(crate) fn value_of<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    let at = args.iter().position(|arg| *arg == flag)?;
    Some(args[at + 1])
}

/// The raw bytes of each record, as the csv crate delimits them.
pub(crate) fn raw_records(bytes: &[u8]) -> Vec<Vec<u8>> {
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
pub(crate) const GBK_EXPORT: Screens = Screens {
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
pub(crate) const NO_HEADER: Screens = Screens {
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

}
