//! What kind of file the input is, judged by its first bytes and, for a ZIP archive, by what it
//! holds: a workbook named `.csv` is read as a workbook, and a text export named `.xls` (as some
//! banking systems write them) as text. The name decides only when the file cannot be read.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// How the input's rows are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Delimited text in some encoding.
    Csv,
    Workbook(WorkbookKind),
}

/// The workbook formats calamine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkbookKind {
    /// Office Open XML: `.xlsx`, `.xlsm`.
    Xlsx,
    /// Excel's binary workbook: `.xlsb`.
    Xlsb,
    /// Excel 97–2003: `.xls`, an OLE2 compound file.
    Xls,
    /// OpenDocument: `.ods`.
    Ods,
}

impl WorkbookKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WorkbookKind::Xlsx => "xlsx",
            WorkbookKind::Xlsb => "xlsb",
            WorkbookKind::Xls => "xls",
            WorkbookKind::Ods => "ods",
        }
    }
}

const ZIP: &[u8] = b"PK\x03\x04";
const OLE2: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const ODS_MIMETYPE: &[u8] = b"application/vnd.oasis.opendocument.spreadsheet";

/// A ZIP archive that is no workbook, or none that can be read: what it is and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotAWorkbook(String);

impl NotAWorkbook {
    fn other(what: &str) -> NotAWorkbook {
        NotAWorkbook(format!(
            "it is a ZIP archive but not an Excel or OpenDocument workbook ({what}); give \
             cardscreen a CSV file or an .xlsx, .xlsm, .xlsb, .xls or .ods workbook"
        ))
    }
}

/// The format of an open file, judged by its content; the file is left at its start.
pub(crate) fn of_file(file: &mut std::fs::File) -> io::Result<Result<Format, NotAWorkbook>> {
    let mut head = [0u8; 8];
    let read = read_up_to(file, &mut head)?;
    let head = &head[..read];
    let format = if head.starts_with(ZIP) {
        file.seek(SeekFrom::Start(0))?;
        inside_zip(&mut *file)?.map(Format::Workbook)
    } else if head.starts_with(OLE2) {
        Ok(Format::Workbook(WorkbookKind::Xls))
    } else {
        Ok(Format::Csv)
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(format)
}

/// What the first bytes of a stream say it is, when they say it is a workbook.
pub(crate) fn workbook_signature(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(ZIP) {
        Some("a ZIP archive (an .xlsx, .xlsb or .ods workbook)")
    } else if head.starts_with(OLE2) {
        Some("an Excel 97-2003 (.xls) workbook")
    } else {
        None
    }
}

/// The workbook kind a file name suggests, for a file that cannot be looked into yet.
pub(crate) fn by_extension(path: &Path) -> Option<WorkbookKind> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "xlsx" | "xlsm" => Some(WorkbookKind::Xlsx),
        "xlsb" => Some(WorkbookKind::Xlsb),
        "xls" => Some(WorkbookKind::Xls),
        "ods" => Some(WorkbookKind::Ods),
        _ => None,
    }
}

/// The format of the file at `path` by its content, or by its name when it cannot be read.
pub(crate) fn of_path(path: &Path) -> Format {
    let by_content = std::fs::File::open(path)
        .ok()
        .and_then(|mut file| of_file(&mut file).ok());
    match by_content {
        Some(Ok(format)) => format,
        // Not a workbook after all; reading it says why.
        Some(Err(_)) => Format::Csv,
        None => by_extension(path).map_or(Format::Csv, Format::Workbook),
    }
}

/// Office Open XML keeps its workbook part under `xl/`; OpenDocument names its type in a
/// `mimetype` entry.
fn inside_zip(reader: impl Read + Seek) -> io::Result<Result<WorkbookKind, NotAWorkbook>> {
    let mut archive = match zip::ZipArchive::new(reader) {
        Ok(archive) => archive,
        Err(e) => {
            return Ok(Err(NotAWorkbook(format!(
                "it is a damaged ZIP archive ({e}); if it is a workbook, open it in Excel and save it again"
            ))))
        }
    };
    if archive.index_for_name("xl/workbook.xml").is_some() {
        return Ok(Ok(WorkbookKind::Xlsx));
    }
    if archive.index_for_name("xl/workbook.bin").is_some() {
        return Ok(Ok(WorkbookKind::Xlsb));
    }
    if let Ok(mut entry) = archive.by_name("mimetype") {
        let mut mimetype = Vec::new();
        (&mut entry)
            .take(ODS_MIMETYPE.len() as u64 + 1)
            .read_to_end(&mut mimetype)?;
        if mimetype.trim_ascii() == ODS_MIMETYPE {
            return Ok(Ok(WorkbookKind::Ods));
        }
        return Ok(Err(NotAWorkbook::other(&format!(
            "an OpenDocument file of type {}",
            String::from_utf8_lossy(&mimetype).trim()
        ))));
    }
    if archive.index_for_name("word/document.xml").is_some() {
        return Ok(Err(NotAWorkbook::other("a Word document")));
    }
    Ok(Err(NotAWorkbook::other("no workbook inside")))
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn format_of(bytes: &[u8]) -> Result<Format, NotAWorkbook> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let format = of_file(&mut file).unwrap();
        assert_eq!(file.stream_position().unwrap(), 0);
        format
    }

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut bytes = io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut bytes);
        for (name, content) in entries {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap();
        bytes.into_inner()
    }

    #[test]
    fn content_decides_the_format() {
        assert_eq!(format_of(b"id,card\n1,2\n").unwrap(), Format::Csv);
        assert_eq!(format_of(b"").unwrap(), Format::Csv);
        let mut ole2 = OLE2.to_vec();
        ole2.extend_from_slice(&[0; 504]);
        assert_eq!(
            format_of(&ole2).unwrap(),
            Format::Workbook(WorkbookKind::Xls)
        );
        let xlsx = zip_with(&[
            ("[Content_Types].xml", b"<x/>"),
            ("xl/workbook.xml", b"<x/>"),
        ]);
        assert_eq!(
            format_of(&xlsx).unwrap(),
            Format::Workbook(WorkbookKind::Xlsx)
        );
        let ods = zip_with(&[("mimetype", ODS_MIMETYPE), ("content.xml", b"<x/>")]);
        assert_eq!(
            format_of(&ods).unwrap(),
            Format::Workbook(WorkbookKind::Ods)
        );
        let docx = zip_with(&[("word/document.xml", b"<x/>")]);
        let refused = format_of(&docx).unwrap_err().to_string();
        assert!(refused.contains("Word document"), "{refused}");
    }

    #[test]
    fn the_name_decides_only_for_an_unreadable_file() {
        let missing = Path::new("/nonexistent/cards.XLSX");
        assert_eq!(of_path(missing), Format::Workbook(WorkbookKind::Xlsx));
        assert_eq!(of_path(Path::new("/nonexistent/cards.csv")), Format::Csv);
        let dir = tempfile::tempdir().unwrap();
        let text_named_xls = dir.path().join("export.xls");
        std::fs::write(&text_named_xls, "卡号\n6222024332181964\n").unwrap();
        assert_eq!(of_path(&text_named_xls), Format::Csv);
    }
}
