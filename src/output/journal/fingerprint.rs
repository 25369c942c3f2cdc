//! The resume fingerprint: what must not change between a run and its resumption (the input
//! file, by size, time and the hashes of its ends, and the settings that shape the output),
//! and the names of what did change, for the refusal.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::util::hash::fnv1a;

/// How much of the input's head and tail the fingerprint hashes.
const FINGERPRINT_BLOCK: u64 = 64 * 1024;

/// What must not change between a run and its resumption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    #[serde(flatten)]
    pub(crate) input: InputStamp,
    pub(crate) column: String,
    pub(crate) card_index: usize,
    pub(crate) no_header: bool,
    pub(crate) delimiter: u8,
    pub(crate) encoding: String,
    /// The sheet of a workbook input; empty for CSV. Journals written before workbooks were
    /// read have none, and were of CSV inputs.
    #[serde(default)]
    pub(crate) sheet: String,
    pub(crate) prefix: String,
    pub(crate) mask: bool,
    pub(crate) luhn: String,
    /// A store adds columns; journals from before stores had none.
    #[serde(default)]
    pub(crate) store: bool,
    /// `--max-age` in seconds decides which rows are answered from the store.
    #[serde(default)]
    pub(crate) max_age_seconds: u64,
}

/// The input file as it was when the run started: enough to notice that it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InputStamp {
    #[serde(rename = "input_size")]
    pub(crate) size: u64,
    /// Nanoseconds since 1970, which a u64 holds until the year 2554.
    #[serde(rename = "input_modified_ns")]
    pub(crate) modified_ns: u64,
    /// FNV-1a of the first 64 KiB.
    #[serde(rename = "input_head_hash")]
    pub(crate) head_hash: String,
    /// FNV-1a of the last 64 KiB.
    #[serde(rename = "input_tail_hash")]
    pub(crate) tail_hash: String,
}

impl InputStamp {
    /// Size, modification time and hashes of the first and last blocks of `input`.
    pub(crate) fn of(input: &Path) -> io::Result<InputStamp> {
        let mut file = File::open(input)?;
        let meta = file.metadata()?;
        let size = meta.len();
        let modified_ns = meta
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let mut block = Vec::with_capacity(FINGERPRINT_BLOCK as usize);
        (&mut file)
            .take(FINGERPRINT_BLOCK)
            .read_to_end(&mut block)?;
        let head_hash = format!("{:016x}", fnv1a(&block));
        block.clear();
        file.seek(SeekFrom::Start(size.saturating_sub(FINGERPRINT_BLOCK)))?;
        file.take(FINGERPRINT_BLOCK).read_to_end(&mut block)?;
        let tail_hash = format!("{:016x}", fnv1a(&block));
        Ok(InputStamp {
            size,
            modified_ns,
            head_hash,
            tail_hash,
        })
    }
}

impl Fingerprint {
    /// Names what differs, for the refusal message.
    pub(crate) fn differences(&self, other: &Fingerprint) -> Vec<&'static str> {
        let mut differ = Vec::new();
        if self.input != other.input {
            differ.push("the input file");
        }
        if self.column != other.column || self.card_index != other.card_index {
            differ.push("the card column");
        }
        if self.no_header != other.no_header {
            differ.push("--no-header");
        }
        if self.delimiter != other.delimiter {
            differ.push("the delimiter");
        }
        if self.encoding != other.encoding {
            differ.push("the encoding");
        }
        if self.sheet != other.sheet {
            differ.push("the sheet");
        }
        if self.prefix != other.prefix {
            differ.push("--prefix");
        }
        if self.mask != other.mask {
            differ.push("--mask");
        }
        if !self.luhn.eq_ignore_ascii_case(&other.luhn) {
            differ.push("--luhn");
        }
        if self.store != other.store {
            differ.push("--store");
        }
        if self.max_age_seconds != other.max_age_seconds {
            differ.push("--max-age");
        }
        differ
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::output::journal) fn fingerprint() -> Fingerprint {
        Fingerprint {
            input: InputStamp {
                size: 10,
                modified_ns: 5,
                head_hash: "a".into(),
                tail_hash: "b".into(),
            },
            column: "card".into(),
            card_index: 0,
            no_header: false,
            delimiter: b',',
            encoding: "UTF-8".into(),
            sheet: String::new(),
            prefix: String::new(),
            mask: false,
            luhn: "warn".into(),
            store: false,
            max_age_seconds: 0,
        }
    }

    #[test]
    fn every_difference_is_named() {
        let base = fingerprint();
        assert!(base.differences(&base).is_empty());
        let mut other = fingerprint();
        other.input.tail_hash = "c".into();
        other.card_index = 1;
        other.luhn = "WARN".into();
        other.max_age_seconds = 60;
        assert_eq!(
            base.differences(&other),
            ["the input file", "the card column", "--max-age"]
        );
    }

    #[test]
    fn the_stamp_hashes_head_and_tail_of_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, "card\n6222024332181964\n").unwrap();
        let stamp = InputStamp::of(&path).unwrap();
        assert_eq!(stamp.size, 22);
        // A file shorter than a block is all head and all tail.
        assert_eq!(stamp.head_hash, stamp.tail_hash);
        std::fs::write(&path, "card\n6222024332181972\n").unwrap();
        assert_ne!(InputStamp::of(&path).unwrap().head_hash, stamp.head_hash);
    }
}
