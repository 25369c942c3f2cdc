//! Bounds on what a workbook may make cardscreen hold, checked before the workbook library sees
//! it: a ZIP part is unpacked once here, counted while it is read (its declared sizes can lie),
//! and its XML is cut into the pieces an XML reader would hold, each of which must stay small.

use std::io::{self, Read, Seek, SeekFrom};

use super::super::format::WorkbookKind;
use super::held::{HeldCells, MAX_HELD_CELLS};

/// The most text one cell may hold, as the file stores it: a card file's cells are a few dozen
/// bytes, and CSV records are held to the same 1 MiB.
pub(crate) const MAX_CELL: usize = 1 << 20;
/// One tag, comment or processing instruction, which an XML reader holds whole.
const MAX_TOKEN: usize = 1 << 20;
/// A cell's markup with its text (rich text runs, formula, value).
const MAX_CELL_MARKUP: usize = 8 << 20;
/// The shared-strings table is held whole by the reader: its text plus `STRING_OVERHEAD` a
/// string. A million rows of three text columns come to about 150 MiB in this count.
pub(crate) const MAX_SHARED_STRINGS: u64 = 128 << 20;
const STRING_OVERHEAD: u64 = 32;
/// One part unpacked: a million-row sheet's XML is about 150 MB.
const MAX_PART: u64 = 1 << 30;
/// Past `RATIO_FROM` unpacked, a part may be at most this many times its packed size: sheet
/// XML packs 8 to 30 times, a run of one repeated byte about 1000 times.
const MAX_RATIO: u64 = 200;
const RATIO_FROM: u64 = 64 << 20;
/// An .xls file is no ZIP: it is held whole, and Excel 97-2003 sheets end at row 65,536.
pub(crate) const MAX_XLS: u64 = 256 << 20;

/// The bounds that scale with the file, apart so that tests can reach them with small files.
#[derive(Debug, Clone, Copy)]
struct Limits {
    part: u64,
    ratio_from: u64,
    shared_strings: u64,
}

const LIMITS: Limits = Limits {
    part: MAX_PART,
    ratio_from: RATIO_FROM,
    shared_strings: MAX_SHARED_STRINGS,
};

/// Why a workbook is refused, in words that name the part and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub(crate) String);

/// What the scan learnt on the way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    /// The writer stores numbers with 17 significant digits (LibreOffice, any .ods), so an
    /// integer up to 2^53 in it is exact.
    pub(crate) keeps_17_digits: bool,
}

/// Reads every part of a ZIP workbook that the workbook library parses, within the bounds.
/// The file is left at its start.
pub(crate) fn check_zip<R: Read + Seek>(
    file: &mut R,
    kind: WorkbookKind,
) -> io::Result<Result<Facts, Refusal>> {
    let checked = scan_zip(&mut *file, kind, LIMITS);
    file.seek(SeekFrom::Start(0))?;
    checked
}

fn scan_zip<R: Read + Seek>(
    file: R,
    kind: WorkbookKind,
    limits: Limits,
) -> io::Result<Result<Facts, Refusal>> {
    let mut archive = match zip::ZipArchive::new(file) {
        Ok(archive) => archive,
        // The library says what is wrong with it.
        Err(_) => return Ok(Ok(Facts::default())),
    };
    let mut facts = Facts {
        keeps_17_digits: kind == WorkbookKind::Ods,
    };
    for index in 0..archive.len() {
        let Ok(mut entry) = archive.by_index(index) else {
            continue;
        };
        let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        let parsed = [".xml", ".rels", ".bin"].iter().any(|s| lower.ends_with(s));
        if !parsed {
            continue;
        }
        let declared = (entry.size(), entry.compressed_size());
        if let Err(refusal) = within_size(&name, declared.0, declared.1, limits) {
            return Ok(Err(refusal));
        }
        let mut part = Part::new(&name, &lower, kind, declared.1, limits);
        let scanned = part.read(&mut entry);
        match scanned {
            Ok(Ok(())) => {}
            Ok(Err(refusal)) => return Ok(Err(refusal)),
            // A damaged part: the library reports it when it reads it.
            Err(_) => continue,
        }
        if lower == "docprops/app.xml" && part.names_libreoffice() {
            facts.keeps_17_digits = true;
        }
    }
    Ok(Ok(facts))
}

fn within_size(name: &str, unpacked: u64, packed: u64, limits: Limits) -> Result<(), Refusal> {
    if unpacked > limits.part {
        return Err(Refusal(format!(
            "its part {name} unpacks to more than {} (the limit for one part)",
            mib(limits.part)
        )));
    }
    if unpacked > limits.ratio_from && unpacked / packed.max(1) > MAX_RATIO {
        return Err(Refusal(format!(
            "its part {name} unpacks to {} from {} packed, more than {MAX_RATIO} times its size, as only a ZIP bomb does",
            mib(unpacked),
            mib(packed)
        )));
    }
    Ok(())
}

fn mib(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// What an XML scanner stands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Text,
    /// After `<`, the name still being read.
    Open,
    Tag {
        quote: Option<u8>,
    },
    /// Inside `<!--`, `<![CDATA[` or `<?`, until its end.
    Until(&'static [u8]),
}

/// One part being read: the bounds of its kind, counted as the bytes go by.
struct Part {
    name: String,
    limits: Limits,
    xml: bool,
    shared_strings: bool,
    ods_content: bool,
    keep_text: bool,
    packed: u64,
    unpacked: u64,
    at: At,
    /// The current tag's bytes, kept only while they may name a cell or a row.
    tag: Vec<u8>,
    token: usize,
    matched: usize,
    in_cell: bool,
    cell_text: usize,
    cell_markup: usize,
    strings_total: u64,
    text: Vec<u8>,
    cells: HeldCells,
    records: super::records::Records,
}

impl Part {
    fn new(name: &str, lower: &str, kind: WorkbookKind, packed: u64, limits: Limits) -> Part {
        let shared_strings =
            lower.ends_with("sharedstrings.xml") || lower.ends_with("sharedstrings.bin");
        Part {
            name: name.to_string(),
            limits,
            xml: !lower.ends_with(".bin"),
            shared_strings,
            ods_content: kind == WorkbookKind::Ods && lower == "content.xml",
            keep_text: lower == "docprops/app.xml",
            packed,
            unpacked: 0,
            at: At::Text,
            tag: Vec::new(),
            token: 0,
            matched: 0,
            in_cell: false,
            cell_text: 0,
            cell_markup: 0,
            strings_total: 0,
            text: Vec::new(),
            cells: HeldCells::default(),
            records: super::records::Records::default(),
        }
    }

    fn read(&mut self, entry: &mut impl Read) -> io::Result<Result<(), Refusal>> {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match entry.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.unpacked += read as u64;
            if let Err(refusal) = within_size(&self.name, self.unpacked, self.packed, self.limits) {
                return Ok(Err(refusal));
            }
            if self.shared_strings && !self.xml && self.unpacked > self.limits.shared_strings {
                return Ok(Err(self.too_many_strings()));
            }
            if self.xml {
                if let Err(refusal) = self.scan(&buffer[..read]) {
                    return Ok(Err(refusal));
                }
            } else if let Err(length) = self.records.scan(&buffer[..read]) {
                return Ok(Err(self.refused(&format!(
                    "a record of {} (the limit for one record is {})",
                    mib(length),
                    mib(super::records::MAX_RECORD)
                ))));
            }
        }
        if self.ods_content {
            if let Err(held) = self.cells.end_table() {
                return Ok(Err(self.too_many_cells(held)));
            }
        }
        Ok(Ok(()))
    }

    fn names_libreoffice(&self) -> bool {
        memchr::memmem::find(&self.text, b"LibreOffice").is_some()
    }

    fn scan(&mut self, mut bytes: &[u8]) -> Result<(), Refusal> {
        while !bytes.is_empty() {
            let used = match self.at {
                At::Text => self.text_run(bytes)?,
                At::Open | At::Tag { .. } => self.tag_run(bytes)?,
                At::Until(end) => self.until_run(bytes, end)?,
            };
            bytes = &bytes[used..];
        }
        Ok(())
    }

    fn text_run(&mut self, bytes: &[u8]) -> Result<usize, Refusal> {
        let end = memchr::memchr(b'<', bytes);
        let run = end.unwrap_or(bytes.len());
        if self.keep_text && self.text.len() < 64 * 1024 {
            self.text.extend_from_slice(&bytes[..run]);
        }
        self.text_bytes(run)?;
        if end.is_some() {
            self.at = At::Open;
            self.token = 0;
            self.tag.clear();
            return Ok(run + 1);
        }
        Ok(run)
    }

    /// Counts `count` bytes of text: of the current text run, of the cell it is in, and of
    /// the shared strings.
    fn text_bytes(&mut self, count: usize) -> Result<(), Refusal> {
        if self.shared_strings {
            self.strings_total += count as u64;
            if self.strings_total > self.limits.shared_strings {
                return Err(self.too_many_strings());
            }
        }
        if self.in_cell {
            self.cell_text += count;
            self.cell_markup += count;
            if self.cell_text > MAX_CELL {
                return Err(
                    self.refused("a cell of more than 1 MiB of text (the limit for one cell)")
                );
            }
        }
        self.token += count;
        if self.token > MAX_TOKEN {
            return Err(self.refused("a run of text of more than 1 MiB"));
        }
        Ok(())
    }

    fn tag_run(&mut self, bytes: &[u8]) -> Result<usize, Refusal> {
        let mut used = 0;
        for &byte in bytes {
            used += 1;
            self.token += 1;
            if self.token > MAX_TOKEN {
                return Err(self.refused("a tag of more than 1 MiB"));
            }
            self.tag.push(byte);
            if self.at == At::Open {
                if let Some(end) = special_end(&self.tag) {
                    self.at = At::Until(end);
                    self.matched = 0;
                    return Ok(used);
                }
                if self.tag.len() >= 9
                    || !(byte == b'!' || byte == b'[' || byte.is_ascii_uppercase() || byte == b'-')
                {
                    self.at = At::Tag { quote: None };
                }
            }
            match (self.at, byte) {
                (At::Tag { quote: None } | At::Open, b'"' | b'\'') => {
                    self.at = At::Tag { quote: Some(byte) }
                }
                (At::Tag { quote: Some(q) }, _) if q == byte => self.at = At::Tag { quote: None },
                (At::Tag { quote: None } | At::Open, b'>') => {
                    self.end_tag()?;
                    self.at = At::Text;
                    self.token = 0;
                    return Ok(used);
                }
                _ => {}
            }
        }
        Ok(used)
    }

    fn until_run(&mut self, bytes: &[u8], end: &'static [u8]) -> Result<usize, Refusal> {
        let cdata = end == b"]]>";
        for (index, &byte) in bytes.iter().enumerate() {
            if byte == end[self.matched] {
                self.matched += 1;
            } else {
                self.matched = usize::from(byte == end[0]);
            }
            if cdata {
                self.text_bytes(1)?;
            } else {
                self.token += 1;
                if self.token > MAX_TOKEN {
                    return Err(self.refused("a comment or instruction of more than 1 MiB"));
                }
            }
            if self.matched == end.len() {
                self.at = At::Text;
                self.token = 0;
                return Ok(index + 1);
            }
        }
        Ok(bytes.len())
    }

    /// A tag has ended: a cell's start or end, an .ods row or cell to count.
    fn end_tag(&mut self) -> Result<(), Refusal> {
        let tag = &self.tag[..self.tag.len().saturating_sub(1)];
        let closing = tag.first() == Some(&b'/');
        let empty = tag.last() == Some(&b'/');
        let name_end = tag
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'/' && !closing)
            .unwrap_or(tag.len());
        let name = &tag[usize::from(closing)..name_end.max(usize::from(closing))];
        let local = name.rsplit(|b| *b == b':').next().unwrap_or(name);
        let cell = matches!(local, b"si" | b"c" | b"table-cell" | b"covered-table-cell");
        if self.in_cell {
            self.cell_markup += tag.len() + 2;
            if self.cell_markup > MAX_CELL_MARKUP {
                return Err(self.refused("a cell of more than 8 MiB of markup"));
            }
        }
        if cell && closing {
            self.in_cell = false;
        } else if cell && !empty {
            self.in_cell = true;
            self.cell_text = 0;
            self.cell_markup = 0;
            if self.shared_strings {
                self.strings_total += STRING_OVERHEAD;
            }
        }
        if self.ods_content {
            if let Err(held) = self.cells.tag(local, tag, closing, empty) {
                return Err(self.too_many_cells(held));
            }
        }
        Ok(())
    }

    fn refused(&self, what: &str) -> Refusal {
        Refusal(format!("its part {} holds {what}", self.name))
    }

    fn too_many_strings(&self) -> Refusal {
        Refusal(format!(
            "its shared strings ({}) come to more than {} (the limit for the table, which is held whole)",
            self.name,
            mib(self.limits.shared_strings)
        ))
    }

    fn too_many_cells(&self, held: u64) -> Refusal {
        Refusal(format!(
            "its sheets in {} span {held} cells from the first used to the last, more than the {MAX_HELD_CELLS} an .ods may (it is held whole); save the sheet as .xlsx or CSV",
            self.name
        ))
    }
}

/// Where a comment, CDATA section or processing instruction ends, once its start is seen.
fn special_end(tag: &[u8]) -> Option<&'static [u8]> {
    if tag == b"!--" {
        Some(b"-->")
    } else if tag == b"![CDATA[" {
        Some(b"]]>")
    } else if tag == b"?" {
        Some(b"?>")
    } else {
        None
    }
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
