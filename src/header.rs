//! The input's header as every stage sees it: the column names the output starts with, and
//! which of them holds the card. The input stage finds it; the sinks write it.

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
