//! The input cases, second part: CSV shapes, Luhn, whole-file problems, no header and blank
//! lines, each a `Screens` or a `Refused` of `inputs`.

use crate::common::*;
use crate::inputs::*;
use Input::Fixture;

cases! {
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
