//! Files a test writes and reads back: the working directory, card numbers, CSV outputs.

use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Reads a CSV file back: header and rows.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv_with(path, b',')
}

pub fn read_csv_with(path: &Path, delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse_csv(&bytes, delimiter)
}

/// Parses CSV bytes (an output written to stdout): header and rows.
pub fn parse_csv(bytes: &[u8], delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut records = reader.records().map(|r| {
        r.expect("csv row")
            .iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    let header = records.next().unwrap_or_default();
    (header, records.collect())
}

/// Column `name` of every row.
pub fn column(header: &[String], rows: &[Vec<String>], name: &str) -> Vec<String> {
    let index = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    rows.iter().map(|r| r[index].clone()).collect()
}

/// A temporary directory with a CSV written into it; its clones share it, and the last one
/// removes it.
#[derive(Clone)]
pub struct Workdir {
    pub dir: Rc<tempfile::TempDir>,
}

impl From<tempfile::TempDir> for Workdir {
    /// A directory made elsewhere (with a prefix, or where another user may read it).
    fn from(dir: tempfile::TempDir) -> Workdir {
        Workdir { dir: Rc::new(dir) }
    }
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: Rc::new(tempfile::tempdir().expect("tempdir")),
        }
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write fixture");
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Copies a file from `fixtures/`.
    pub fn fixture(&self, name: &str) -> PathBuf {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name);
        let target = self.path(name);
        std::fs::copy(&source, &target)
            .unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
        target
    }
}

/// `count` distinct Luhn-valid 16-digit UnionPay-like card numbers, deterministic.
pub fn cards(count: usize, seed: u64) -> Vec<String> {
    (0..count as u64)
        .map(|i| {
            let body = format!("622848{:09}", (seed * 1_000_003 + i * 7919) % 1_000_000_000);
            let check = luhn_digit(&body);
            format!("{body}{check}")
        })
        .collect()
}

fn luhn_digit(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// A CSV with an id column and a `card` column.
pub fn card_csv(cards: &[String]) -> String {
    let mut text = String::from("id,card\n");
    for (i, card) in cards.iter().enumerate() {
        text.push_str(&format!("{},{card}\n", i + 1));
    }
    text
}

/// Every column but `orderid`, row by row, for comparing runs.
pub fn without_orderid(path: &Path) -> Vec<Vec<String>> {
    let (header, rows) = read_csv(path);
    let skip = header
        .iter()
        .position(|h| h == "orderid")
        .expect("orderid column");
    std::iter::once(header)
        .chain(rows)
        .map(|row| {
            row.into_iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, f)| f)
                .collect()
        })
        .collect()
}

/// The names of the files in a directory, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
