//! An .xls formula cell: the file keeps the formula and, after it, the result a writer
//! computed; LibreOffice writes 0 as the result of a text formula it did not compute, so a
//! formula that is only text (`="6228…"`, `="A"&"B"`) is read from the formula itself.

use calamine::{Data, DataType};

/// How to read one formula cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Read {
    /// The formula is text alone: this is what the cell shows.
    Text(String),
    /// The result the file holds is 0 or nothing, which may not be what the cell shows.
    Unread,
    /// The result the file holds.
    Cached,
}

/// Reads the formula `formula` (as the library writes it, with or without `=`), whose result
/// in the file is `cached`.
pub(super) fn read(formula: &str, cached: &Data) -> Read {
    if let Some(text) = text_alone(formula) {
        return Read::Text(text);
    }
    let zero = cached.get_float() == Some(0.0) || cached.get_int() == Some(0);
    if zero || cached.is_empty() {
        Read::Unread
    } else {
        Read::Cached
    }
}

/// `"a"&"b"`, with `""` for a quote inside: the joined text, or `None` for any other formula.
fn text_alone(formula: &str) -> Option<String> {
    let mut rest = formula.trim();
    rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    let mut text = String::new();
    loop {
        rest = rest.strip_prefix('"')?;
        loop {
            let end = rest.find('"')?;
            text.push_str(&rest[..end]);
            rest = &rest[end + 1..];
            match rest.strip_prefix('"') {
                Some(after) => {
                    text.push('"');
                    rest = after;
                }
                None => break,
            }
        }
        rest = rest.trim_start();
        if rest.is_empty() {
            return Some(text);
        }
        rest = rest.strip_prefix('&')?.trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_of_text_alone_is_read_as_its_text() {
        let zero = Data::Float(0.0);
        let read = |formula| read(formula, &zero);
        assert_eq!(
            read("\"6228487407492236138\""),
            Read::Text("6228487407492236138".into())
        );
        assert_eq!(read("=\"A\"&\"B\""), Read::Text("AB".into()));
        assert_eq!(read("\"A\" & \"B\"\"C\""), Read::Text("AB\"C".into()));
        assert_eq!(read("\"\""), Read::Text(String::new()));
        assert_eq!(read("A1&\"B\""), Read::Unread);
        assert_eq!(read("\"A\"&"), Read::Unread);
        assert_eq!(read("\"A"), Read::Unread);
        assert_eq!(read("SUM(A1:A3)"), Read::Unread);
    }

    #[test]
    fn a_result_other_than_zero_is_the_cells() {
        assert_eq!(read("A1*2", &Data::Float(84.0)), Read::Cached);
        assert_eq!(read("A1&\"x\"", &Data::String("ax".into())), Read::Cached);
        assert_eq!(read("A1-A1", &Data::Empty), Read::Unread);
    }
}
