//! The input's header as every stage sees it: the column names the output starts with, which
//! of them holds the card, and how the records end. The input stage finds them; the sinks
//! write them.

/// The input's header as the output will show it, and where the card is.
#[derive(Debug, Clone)]
pub struct Header {
    /// The column names, as the output's header starts.
    pub names: Vec<Vec<u8>>,
    /// 0-based index of the card column.
    pub card_index: usize,
}

impl Header {
    /// The names joined for a message, as outside text is shown: cut to 200 characters,
    /// control characters escaped.
    pub fn display_names(&self) -> String {
        let mut joined = Vec::new();
        for name in &self.names {
            if !joined.is_empty() {
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(name);
            if joined.len() > crate::util::text::SHOWN_CHARS * 4 {
                break;
            }
        }
        crate::card::shown_bytes(&joined)
    }
}

/// How the input's records end, and so how the output's do: a CSV that came with CRLF goes
/// back with CRLF (Excel and Windows tools write it), one with LF with LF. A workbook's rows
/// have no line ends, and its CSV output gets LF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnd {
    #[default]
    Lf,
    CrLf,
    /// Old Mac text, which the CSV reader also splits on.
    Cr,
}

impl LineEnd {
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnd::Lf => b"\n",
            LineEnd::CrLf => b"\r\n",
            LineEnd::Cr => b"\r",
        }
    }
}
