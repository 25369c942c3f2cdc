//! Workbooks written byte by byte, as no library would write them: a deflate stream of a long
//! run packed without compressing it, a ZIP with any sizes in its headers, an .xlsb's records.

/// Deflate (RFC 1951) of `prefix`, `run` times `b'7'` and `suffix`, in one block of the fixed
/// code: the run is one literal and then copies of 258 bytes, 13 bits each, so that 300 MB
/// packs into about 2 MB without compressing them here.
pub fn deflate_run(prefix: &[u8], run: u64, suffix: &[u8]) -> (Vec<u8>, u64) {
    struct Bits {
        bytes: Vec<u8>,
        used: u32,
    }
    impl Bits {
        /// `count` bits of `code`, most significant first, as a Huffman code is sent.
        fn code(&mut self, code: u32, count: u32) {
            for i in (0..count).rev() {
                if self.used == 0 {
                    self.bytes.push(0);
                }
                let bit = ((code >> i) & 1) as u8;
                *self.bytes.last_mut().unwrap() |= bit << self.used;
                self.used = (self.used + 1) % 8;
            }
        }
        fn literal(&mut self, byte: u8) {
            match byte {
                0..=143 => self.code(0x30 + u32::from(byte), 8),
                _ => self.code(0x190 + u32::from(byte) - 144, 9),
            }
        }
    }
    let mut bits = Bits {
        bytes: Vec::new(),
        used: 0,
    };
    // BFINAL 1, then BTYPE 01 sent least significant bit first.
    bits.code(1, 1);
    bits.code(1, 1);
    bits.code(0, 1);
    prefix.iter().for_each(|&b| bits.literal(b));
    bits.literal(b'7');
    let copies = (run - 1) / 258;
    for _ in 0..copies {
        bits.code(0xC5, 8); // length 258
        bits.code(0, 5); // distance 1
    }
    for _ in 0..(run - 1) % 258 {
        bits.literal(b'7');
    }
    suffix.iter().for_each(|&b| bits.literal(b));
    bits.code(0, 7); // end of block
    let size = prefix.len() as u64 + run + suffix.len() as u64;
    (bits.bytes, size)
}

/// A ZIP written by hand, so that an entry can hold a prepared deflate stream: `(name, data,
/// unpacked size)`, with data deflated when the size differs from its length.
pub fn zip_by_hand(entries: &[(&str, Vec<u8>, u64)]) -> Vec<u8> {
    let crc = |data: &[u8]| {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    };
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, size) in entries {
        let deflated = *size != data.len() as u64;
        // The run's checksum is never needed: the file is refused before it is read.
        let sum = if deflated { 0 } else { crc(data) };
        let method: u16 = if deflated { 8 } else { 0 };
        let offset = out.len() as u32;
        let fields = |out: &mut Vec<u8>| {
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0, 0, 0x21, 0]);
            out.extend_from_slice(&sum.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(*size as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        fields(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        fields(&mut central);
        // Comment length, disk, internal and external attributes.
        central.extend_from_slice(&[0; 10]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let at = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let count = entries.len() as u16;
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

pub const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
pub const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// The parts of an .xlsx around its sheet and shared strings.
pub fn xlsx_frame() -> Vec<(&'static str, Vec<u8>, u64)> {
    let part = |text: String| {
        let bytes = text.into_bytes();
        let size = bytes.len() as u64;
        (bytes, size)
    };
    let (types, types_size) = part(
        r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#
            .to_string(),
    );
    let (rels, rels_size) = part(format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
    ));
    let (book, book_size) = part(format!(
        r#"<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#
    ));
    let (book_rels, book_rels_size) = part(format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#
    ));
    vec![
        ("[Content_Types].xml", types, types_size),
        ("_rels/.rels", rels, rels_size),
        ("xl/workbook.xml", book, book_size),
        ("xl/_rels/workbook.xml.rels", book_rels, book_rels_size),
    ]
}

/// One .xlsb record: its type and length as 7-bit groups, then `body`.
fn record(typ: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if typ < 0x80 {
        out.push(typ as u8);
    } else {
        out.extend_from_slice(&[(typ & 0x7F) as u8 | 0x80, (typ >> 7) as u8]);
    }
    let mut length = body.len();
    loop {
        let byte = (length & 0x7F) as u8;
        length >>= 7;
        if length == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(body);
    out
}

/// An XLWideString: a count of UTF-16 units, then the units.
fn wide(text: &str) -> Vec<u8> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut out = (units.len() as u32).to_le_bytes().to_vec();
    units
        .iter()
        .for_each(|u| out.extend_from_slice(&u.to_le_bytes()));
    out
}

/// An .xlsb of one sheet whose rows hold inline text cells, with `extra` records appended to
/// the sheet's part before its end.
pub fn xlsb(rows: &[&[&str]], width: u32, extra: &[u8]) -> Vec<u8> {
    let mut book = [0u32.to_le_bytes(), 1u32.to_le_bytes()].concat();
    book.extend(wide("rId1"));
    book.extend(wide("Sheet1"));
    // The sheets, their end, and the end of the book, which the reader waits for.
    let book = [
        record(0x009C, &book),
        record(0x0090, &[]),
        record(0x0084, &[]),
    ]
    .concat();
    let rels = format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.bin"/></Relationships>"#
    );
    let last_row = rows.len() as u32 - 1;
    let dimension = [0, last_row, 0, width - 1].map(u32::to_le_bytes).concat();
    let mut sheet = [
        record(0x0081, &[]),
        record(0x0094, &dimension),
        record(0x0091, &[]),
    ]
    .concat();
    for (row, cells) in rows.iter().enumerate() {
        sheet.extend(record(
            0x0000,
            &[(row as u32).to_le_bytes(), [0; 4]].concat(),
        ));
        for (column, text) in cells.iter().enumerate() {
            let body = [(column as u32).to_le_bytes(), [0; 4]].concat();
            sheet.extend(record(0x0006, &[body, wide(text)].concat()));
        }
    }
    sheet.extend_from_slice(extra);
    sheet.extend(record(0x0092, &[]));
    let stored = |data: Vec<u8>| {
        let size = data.len() as u64;
        (data, size)
    };
    let (book, book_size) = stored(book);
    let (rels, rels_size) = stored(rels.into_bytes());
    let (sheet, sheet_size) = stored(sheet);
    zip_by_hand(&[
        ("xl/workbook.bin", book, book_size),
        ("xl/_rels/workbook.bin.rels", rels, rels_size),
        ("xl/worksheets/sheet1.bin", sheet, sheet_size),
    ])
}
