//! Input bytes to UTF-8, streamed: choosing the encoding (`auto` is UTF-8 when the bytes are
//! valid UTF-8, else GB18030, which is what Chinese Excel saves as "CSV"), and a `Read` adapter
//! that transcodes as it goes and names the line of any byte it cannot decode.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use encoding_rs::{DecoderResult, Encoding, GB18030, GBK, UTF_8};

use super::options::EncodingChoice;

const CHUNK: usize = 64 * 1024;

/// A byte the chosen encoding cannot decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} has bytes that are not valid {encoding}; pass the right --encoding (utf-8, gbk or gb18030) or re-save the file as UTF-8")]
pub struct DecodeError {
    /// 1-based physical line of the input.
    pub line: u64,
    /// The encoding the line was read in.
    pub encoding: &'static str,
}

/// The encoding a choice names; `None` for `auto`, which looks at the bytes.
pub fn encoding_for(choice: EncodingChoice) -> Option<&'static Encoding> {
    match choice {
        EncodingChoice::Auto => None,
        EncodingChoice::Utf8 => Some(UTF_8),
        EncodingChoice::Gbk => Some(GBK),
        EncodingChoice::Gb18030 => Some(GB18030),
    }
}

/// Reads `source` to its end and returns the first undecodable place, if any. A streaming pass:
/// memory stays flat whatever the size.
pub fn validate(
    mut source: impl Read,
    encoding: &'static Encoding,
) -> io::Result<Result<(), DecodeError>> {
    let mut reader = DecodeReader::new(&mut source, encoding, None);
    let mut sink = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut sink) {
            Ok(0) => return Ok(Ok(())),
            Ok(_) => {}
            Err(e) => {
                return match decode_error(&e) {
                    Some(decode) => Ok(Err(decode)),
                    None => Err(e),
                }
            }
        }
    }
}

/// The UTF-8 byte order mark. A file that starts with it declares itself UTF-8: read as GB18030
/// instead, the mark and every Chinese character would decode, without an error, to other
/// characters.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `auto` on a file: UTF-8 if the whole file is valid UTF-8 or starts with a UTF-8 BOM, else
/// GB18030 if that decodes it, else the UTF-8 error (the most likely intent).
pub fn detect_file(path: &std::path::Path) -> io::Result<Result<&'static Encoding, DecodeError>> {
    let utf8 = validate(std::fs::File::open(path)?, UTF_8)?;
    if utf8.is_ok() || starts_with_bom(std::fs::File::open(path)?)? {
        return Ok(utf8.map(|()| UTF_8));
    }
    match validate(std::fs::File::open(path)?, GB18030)? {
        Ok(()) => Ok(Ok(GB18030)),
        Err(_) => Ok(utf8.map(|()| UTF_8)),
    }
}

fn starts_with_bom(source: impl Read) -> io::Result<bool> {
    let mut head = Vec::with_capacity(UTF8_BOM.len());
    source.take(UTF8_BOM.len() as u64).read_to_end(&mut head)?;
    Ok(head == UTF8_BOM)
}

/// `auto` on a stream that cannot be read twice: judge by the first bytes.
pub fn detect_prefix(prefix: &[u8]) -> &'static Encoding {
    if prefix.starts_with(UTF8_BOM) {
        return UTF_8;
    }
    match std::str::from_utf8(prefix) {
        Ok(_) => UTF_8,
        // A character cut at the end of the sample is not a sign of another encoding.
        Err(e) if e.error_len().is_none() => UTF_8,
        Err(_) => GB18030,
    }
}

/// The `DecodeError` inside an I/O error from `DecodeReader`, if that is what it is.
pub fn decode_error(error: &io::Error) -> Option<DecodeError> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<DecodeError>())
        .cloned()
}

/// Transcodes `inner` to UTF-8 on the fly, dropping a BOM, failing on undecodable bytes.
pub struct DecodeReader<R> {
    inner: R,
    encoding: &'static Encoding,
    decoder: encoding_rs::Decoder,
    input: Box<[u8]>,
    input_start: usize,
    input_end: usize,
    output: Box<[u8]>,
    output_start: usize,
    output_end: usize,
    eof: bool,
    finished: bool,
    /// Newlines handed out so far, to name the line of a bad byte.
    newlines: u64,
    bytes_read: Option<Arc<AtomicU64>>,
}

impl<R: Read> DecodeReader<R> {
    /// `bytes_read`, when given, counts raw input bytes consumed, for progress by bytes.
    pub fn new(inner: R, encoding: &'static Encoding, bytes_read: Option<Arc<AtomicU64>>) -> Self {
        DecodeReader {
            inner,
            encoding,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; CHUNK].into_boxed_slice(),
            input_start: 0,
            input_end: 0,
            output: vec![0; CHUNK * 3 + 16].into_boxed_slice(),
            output_start: 0,
            output_end: 0,
            eof: false,
            finished: false,
            newlines: 0,
            bytes_read,
        }
    }

    fn fill_output(&mut self) -> io::Result<()> {
        while self.output_start == self.output_end && !self.finished {
            if self.input_start == self.input_end && !self.eof {
                let n = loop {
                    match self.inner.read(&mut self.input) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other?,
                    }
                };
                if let Some(counter) = &self.bytes_read {
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                }
                self.input_start = 0;
                self.input_end = n;
                self.eof = n == 0;
            }
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.input_start..self.input_end],
                &mut self.output,
                self.eof,
            );
            self.input_start += read;
            self.output_start = 0;
            self.output_end = written;
            match result {
                DecoderResult::InputEmpty => {
                    if self.eof {
                        self.finished = true;
                    }
                }
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(_, _) => {
                    let before = self.output[..written]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count() as u64;
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        DecodeError {
                            line: self.newlines + before + 1,
                            encoding: self.encoding.name(),
                        },
                    ));
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for DecodeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fill_output()?;
        let available = &self.output[self.output_start..self.output_end];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.newlines += available[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.output_start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], encoding: &'static Encoding) -> io::Result<String> {
        let mut out = String::new();
        DecodeReader::new(bytes, encoding, None).read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn utf8_bom_is_dropped() {
        assert_eq!(
            decode_all(b"\xEF\xBB\xBFcard\n1\n", UTF_8).unwrap(),
            "card\n1\n"
        );
    }

    #[test]
    fn gbk_becomes_utf8() {
        let (gbk, _, _) = GBK.encode("卡号,姓名\n6228480402564890018,张三\n");
        assert_eq!(
            decode_all(&gbk, GB18030).unwrap(),
            "卡号,姓名\n6228480402564890018,张三\n"
        );
        assert_eq!(detect_prefix(&gbk), GB18030);
    }

    #[test]
    fn bad_bytes_name_their_line() {
        let err = decode_all(b"card\n1\n2\xFF\n", UTF_8).unwrap_err();
        let decode = decode_error(&err).unwrap();
        assert_eq!(decode.line, 3);
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn long_inputs_cross_chunk_boundaries_intact() {
        let line = "6228480402564890018,张三,备注\n";
        let text = line.repeat(20_000);
        let (gbk, _, _) = GBK.encode(&text);
        assert_eq!(decode_all(&gbk, GBK).unwrap(), text);
        assert_eq!(decode_all(text.as_bytes(), UTF_8).unwrap(), text);
    }

    #[test]
    fn a_bom_means_utf8_even_when_gb18030_would_decode_the_bytes() {
        // "张伟" in UTF-8, then a Latin-1 "é" that GB18030 reads as part of a character.
        let bytes = b"\xEF\xBB\xBFname\n\xE5\xBC\xA0\xE4\xBC\x9F\nRen\xE9e\n";
        assert!(GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .is_some());
        assert_eq!(detect_prefix(bytes), UTF_8);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bom.csv");
        std::fs::write(&path, bytes).unwrap();
        let detected = detect_file(&path).unwrap();
        assert_eq!(detected.map_err(|e| e.line), Err(3));
        // Without the mark the same bytes are taken for GB18030, as `auto` promises.
        std::fs::write(&path, &bytes[3..]).unwrap();
        assert_eq!(detect_file(&path).unwrap(), Ok(GB18030));
    }

    #[test]
    fn prefix_cut_inside_a_character_is_still_utf8() {
        let text = "卡号\n".as_bytes();
        assert_eq!(detect_prefix(&text[..2]), UTF_8);
    }
}
