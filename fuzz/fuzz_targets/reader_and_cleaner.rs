//! Arbitrary bytes through what a real input goes through before any call: the streamed
//! decoder, the CSV reader with header and card-column detection, and card cleaning.
//! Any input must end in rows or an `InputError`, never a panic or a hang.
#![no_main]

use std::io::Cursor;
use std::sync::Arc;

use cardscreen::card;
use cardscreen::input::{ColumnSpec, EncodingChoice, InputOptions, InputReader, InputSource};
use csv::ByteRecord;
use libfuzzer_sys::fuzz_target;

/// The first byte picks the reading options, so the fuzzer explores them along with the data.
fn options_for(options: u8) -> InputOptions {
    let encodings = [
        EncodingChoice::Auto,
        EncodingChoice::Utf8,
        EncodingChoice::Gbk,
        EncodingChoice::Gb18030,
    ];
    InputOptions {
        source: InputSource::Stdin,
        column: (options & 0b10_0000 != 0).then_some(ColumnSpec::Index(2)),
        no_header: options & 0b1_0000 != 0,
        delimiter: [b',', b';', b'\t', b'|'][usize::from(options & 0b11)],
        encoding: encodings[usize::from((options >> 2) & 0b11)],
        sheet: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, bytes)) = data.split_first() else {
        return;
    };
    let options = options_for(options);
    let Ok(mut input) =
        InputReader::from_stream(Cursor::new(bytes.to_vec()), &options, Arc::default())
    else {
        return;
    };
    let card_index = input.header.card_index;
    assert!(card_index < input.header.names.len());
    let mut record = ByteRecord::new();
    while let Ok(true) = input.next_row(&mut record) {
        let Some(cell) = record.get(card_index) else {
            continue;
        };
        // The reader hands out UTF-8 only: it decodes everything first.
        let text = std::str::from_utf8(cell).expect("decoded cells are UTF-8");
        match card::clean(text) {
            Ok(cleaned) => {
                assert_eq!(card::clean(cleaned.as_str()), Ok(cleaned));
                assert!((13..=19).contains(&cleaned.len()));
                let _ = cleaned.luhn_ok();
                let _ = cleaned.masked();
            }
            Err(rejection) => assert!(!rejection.to_string().contains('\n')),
        }
    }
});
