use std::io::{Cursor, Write};

use super::*;

const SMALL: Limits = Limits {
    part: 64 << 20,
    ratio_from: 64 << 20,
    shared_strings: 4 << 20,
};
const EARLY_RATIO: Limits = Limits {
    ratio_from: 1 << 20,
    ..SMALL
};

/// A ZIP whose entries are written from pieces, so that a large part is never held.
fn zip_of(entries: &[(&str, &[&[u8]], usize)]) -> Cursor<Vec<u8>> {
    let mut bytes = Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut bytes);
    for (name, pieces, repeat_middle) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        for (i, piece) in pieces.iter().enumerate() {
            let times = if i == 1 { *repeat_middle } else { 1 };
            for _ in 0..times {
                zip.write_all(piece).unwrap();
            }
        }
    }
    zip.finish().unwrap();
    bytes.set_position(0);
    bytes
}

fn check(entries: &[(&str, &[&[u8]], usize)], kind: WorkbookKind) -> Result<Facts, String> {
    check_with(entries, kind, SMALL)
}

fn check_with(
    entries: &[(&str, &[&[u8]], usize)],
    kind: WorkbookKind,
    limits: Limits,
) -> Result<Facts, String> {
    scan_zip(zip_of(entries), kind, limits)
        .unwrap()
        .map_err(|Refusal(what)| what)
}

const KIB: &[u8] = &[b'7'; 1024];

#[test]
fn a_shared_string_or_inline_cell_over_one_mebibyte_is_refused() {
    let strings: &[&[u8]] = &[b"<sst><si><t>", KIB, b"</t></si></sst>"];
    let refused = check(
        &[("xl/sharedStrings.xml", strings, 1025)],
        WorkbookKind::Xlsx,
    );
    let refused = refused.unwrap_err();
    assert!(refused.contains("xl/sharedStrings.xml"), "{refused}");
    assert!(refused.contains("1 MiB of text"), "{refused}");
    assert!(check(
        &[("xl/sharedStrings.xml", strings, 1023)],
        WorkbookKind::Xlsx
    )
    .is_ok());
    // Rich text: runs of a few bytes each, which the reader joins into one string.
    let runs: &[&[u8]] = &[b"<sst><si>", b"<r><t>12345678</t></r>", b"</si></sst>"];
    assert!(check(
        &[("xl/sharedStrings.xml", runs, 140_000)],
        WorkbookKind::Xlsx
    )
    .is_err());
    let inline: &[&[u8]] = &[
        b"<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>",
        KIB,
        b"</t></is></c></row></sheetData></worksheet>",
    ];
    let refused = check(
        &[("xl/worksheets/sheet1.xml", inline, 1025)],
        WorkbookKind::Xlsx,
    );
    assert!(refused.unwrap_err().contains("xl/worksheets/sheet1.xml"));
}

#[test]
fn an_attribute_or_comment_cannot_hide_a_long_cell() {
    // A `>` in an attribute value does not end the tag, nor does `</si>` inside one.
    let quoted: &[&[u8]] = &[b"<sst><si x='></si>'><t>", KIB, b"</t></si></sst>"];
    assert!(check(
        &[("xl/sharedStrings.xml", quoted, 1025)],
        WorkbookKind::Xlsx
    )
    .is_err());
    let comment: &[&[u8]] = &[b"<sst><!--", b"<a>", b"--></sst>"];
    let refused = check(
        &[("xl/sharedStrings.xml", comment, 400_000)],
        WorkbookKind::Xlsx,
    );
    let refused = refused.unwrap_err();
    assert!(refused.contains("comment"), "{refused}");
    let cdata: &[&[u8]] = &[b"<sst><si><t><![CDATA[", b"<a>", b"]]></t></si></sst>"];
    assert!(check(
        &[("xl/sharedStrings.xml", cdata, 400_000)],
        WorkbookKind::Xlsx
    )
    .is_err());
}

#[test]
fn the_shared_strings_are_bounded_in_total() {
    // 64 strings of 64 KiB, each small enough, come to 4 MiB and the overhead of each.
    let mut string = b"<si><t>".to_vec();
    string.extend_from_slice(&[b'x'; 64 * 1024]);
    string.extend_from_slice(b"</t></si>");
    let table: &[&[u8]] = &[b"<sst>", &string, b"</sst>"];
    let refused = check(&[("xl/sharedStrings.xml", table, 64)], WorkbookKind::Xlsx);
    let refused = refused.unwrap_err();
    assert!(
        refused.contains("shared strings") && refused.contains("4 MiB"),
        "{refused}"
    );
    assert!(check(&[("xl/sharedStrings.xml", table, 60)], WorkbookKind::Xlsx).is_ok());
}

#[test]
fn a_part_that_unpacks_far_beyond_its_size_is_refused_whatever_it_declares() {
    let rows: &[&[u8]] = &[b"<sheetData>", b"<row/>", b"</sheetData>"];
    let sheet = [("xl/worksheets/sheet1.xml", rows, 400_000)];
    let refused = check_with(&sheet, WorkbookKind::Xlsx, EARLY_RATIO);
    let refused = refused.unwrap_err();
    assert!(refused.contains("ZIP bomb"), "{refused}");
    // Counted while read, for a part whose declared sizes lie.
    let mut part = Part::new(
        "content.xml",
        "content.xml",
        WorkbookKind::Ods,
        10,
        EARLY_RATIO,
    );
    let mut endless = io::repeat(b' ').take(3 << 20);
    let refused = part.read(&mut endless).unwrap().unwrap_err();
    assert!(refused.0.contains("content.xml"), "{}", refused.0);
    assert!(check(&sheet, WorkbookKind::Xlsx).is_ok());
    assert!(within_size("a.xml", 65 << 20, 1 << 20, SMALL).is_err());
    assert!(within_size("a.xml", 64 << 20, 1 << 20, SMALL).is_ok());
}

#[test]
fn an_ods_sheet_is_bounded_by_the_cells_it_spans() {
    let content = |cells: &'static [u8]| -> Vec<&'static [u8]> {
        vec![
            b"<office:body><table:table table:name=\"a\">",
            cells,
            b"</table:table></office:body>",
        ]
    };
    let repeated = content(
        b"<table:table-row table:number-rows-repeated=\"1000000\"><table:table-cell table:number-columns-repeated=\"100\" office:value-type=\"float\" office:value=\"1\"/></table:table-row>",
    );
    let refused = check(&[("content.xml", &repeated, 1)], WorkbookKind::Ods).unwrap_err();
    assert!(refused.contains("cells"), "{refused}");
    // Empty cells and rows to the sheet's end, as LibreOffice writes them, hold nothing.
    let trailing = content(
        b"<table:table-row><table:table-cell office:value-type=\"string\"><text:p>a</text:p></table:table-cell><table:table-cell table:number-columns-repeated=\"16383\"/></table:table-row><table:table-row table:number-rows-repeated=\"1048575\"><table:table-cell table:number-columns-repeated=\"16384\"/></table:table-row>",
    );
    let facts = check(&[("content.xml", &trailing, 1)], WorkbookKind::Ods).unwrap();
    assert!(facts.keeps_17_digits);
}

#[test]
fn libreoffice_is_known_by_its_name_in_the_properties() {
    let app: &[&[u8]] = &[
        b"<Properties><Application>",
        b"LibreOffice/7.4.7.2$Linux_X86_64",
        b"</Application></Properties>",
    ];
    let book: &[&[u8]] = &[b"<workbook/>", b"", b""];
    let facts = check(
        &[("docProps/app.xml", app, 1), ("xl/workbook.xml", book, 1)],
        WorkbookKind::Xlsx,
    );
    assert!(facts.unwrap().keeps_17_digits);
    let excel: &[&[u8]] = &[
        b"<Properties><Application>",
        b"Microsoft Excel",
        b"</Application></Properties>",
    ];
    let facts = check(&[("docProps/app.xml", excel, 1)], WorkbookKind::Xlsx);
    assert!(!facts.unwrap().keeps_17_digits);
}

#[test]
fn the_fixtures_pass() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for (name, kind) in [
        ("workbook_cards.xlsx", WorkbookKind::Xlsx),
        ("workbook_numeric_cards.xlsx", WorkbookKind::Xlsx),
        ("workbook_open.ods", WorkbookKind::Ods),
    ] {
        let mut file = std::fs::File::open(fixtures.join(name)).unwrap();
        let facts = check_zip(&mut file, kind).unwrap();
        assert!(facts.is_ok(), "{name}: {facts:?}");
        assert_eq!(file.stream_position().unwrap(), 0);
    }
}
