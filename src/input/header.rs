//! The header: where the card is. Its column by name or number, or found among the names cards
//! are usually under; without a header row, the one column of the first row holding a card.
//! When none is found, the message says why (the wrong delimiter, no header row at all).

use csv::ByteRecord;

use super::error::InputError;
use super::options::ColumnSpec;
use crate::header::Header;

/// Header names that mark the card column, compared case-insensitively.
const CARD_HEADERS: [&str; 7] = [
    "bankcard",
    "card",
    "card_no",
    "cardno",
    "card_number",
    "卡号",
    "银行卡号",
];

pub(super) fn with_header(
    first: &ByteRecord,
    column: Option<&ColumnSpec>,
    delimiter: Option<u8>,
) -> Result<Header, InputError> {
    let names: Vec<Vec<u8>> = first.iter().map(|f| f.to_vec()).collect();
    let header = Header {
        names,
        card_index: 0,
    };
    let card_index = match column {
        Some(ColumnSpec::Index(index)) => {
            if *index > header.names.len() {
                return Err(InputError::ColumnOutOfRange {
                    index: *index,
                    count: header.names.len(),
                });
            }
            index - 1
        }
        Some(ColumnSpec::Name(wanted)) => find_header(&header.names, |name| name == wanted)
            .or_else(|| {
                find_header(&header.names, |name| {
                    name.eq_ignore_ascii_case(wanted)
                        || name.to_lowercase() == wanted.to_lowercase()
                })
            })
            .ok_or_else(|| InputError::ColumnNotFound {
                wanted: wanted.clone(),
                headers: header.display_names(),
                advice: header_advice(&header.names, delimiter)
                    .unwrap_or_else(|| "pass --column with one of them or a 1-based number".into()),
            })?,
        None => find_header(&header.names, |name| {
            CARD_HEADERS
                .iter()
                .any(|known| name.eq_ignore_ascii_case(known))
        })
        .ok_or_else(|| InputError::NoCardColumn {
            looked_for: CARD_HEADERS.join(", "),
            headers: header.display_names(),
            advice: header_advice(&header.names, delimiter)
                .unwrap_or_else(|| "pass --column NAME or --column N".into()),
        })?,
    };
    Ok(Header {
        card_index,
        ..header
    })
}

/// Advice for the two usual reasons a card column is not found, which `--column` cannot fix:
/// the wrong delimiter (the whole header is one name), or no header row at all. A workbook has
/// no delimiter (`None`).
fn header_advice(names: &[Vec<u8>], delimiter: Option<u8>) -> Option<String> {
    if let (Some(delimiter), [only]) = (delimiter, names) {
        let other = [b'\t', b';', b'|', b',']
            .into_iter()
            .find(|&candidate| candidate != delimiter && only.contains(&candidate));
        if let Some(other) = other {
            let shown = if other == b'\t' {
                "\\t".to_string()
            } else {
                char::from(other).to_string()
            };
            return Some(format!(
                "the whole header is one column holding '{shown}'; if that separates the fields, pass --delimiter '{shown}'"
            ));
        }
    }
    let holds_card = names
        .iter()
        .any(|name| std::str::from_utf8(name).is_ok_and(|text| crate::card::clean(text).is_ok()));
    holds_card.then(|| {
        "the first row holds a card number, so it looks like data; if the file has no header row, pass --no-header".to_string()
    })
}

fn find_header(names: &[Vec<u8>], matches: impl Fn(&str) -> bool) -> Option<usize> {
    names.iter().position(|raw| {
        let name = String::from_utf8_lossy(raw);
        matches(name.trim())
    })
}

pub(super) fn headerless(
    first: &ByteRecord,
    column: Option<&ColumnSpec>,
) -> Result<Header, InputError> {
    let count = first.len();
    let card_index = match column {
        Some(ColumnSpec::Index(index)) => {
            if *index > count {
                return Err(InputError::ColumnOutOfRange {
                    index: *index,
                    count,
                });
            }
            index - 1
        }
        Some(ColumnSpec::Name(name)) => return Err(InputError::NameWithoutHeader(name.clone())),
        None if count == 1 => 0,
        None => {
            // The one column of the first row that holds a card number, if there is exactly one.
            let cards: Vec<usize> = first
                .iter()
                .enumerate()
                .filter(|(_, cell)| {
                    std::str::from_utf8(cell).is_ok_and(|text| crate::card::clean(text).is_ok())
                })
                .map(|(i, _)| i)
                .collect();
            match cards.as_slice() {
                [only] => *only,
                _ => return Err(InputError::NeedsColumn { count }),
            }
        }
    };
    Ok(Header {
        names: (1..=count)
            .map(|i| format!("column_{i}").into_bytes())
            .collect(),
        card_index,
    })
}
