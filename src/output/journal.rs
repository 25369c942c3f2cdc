//! The journal of received results: every paid answer is appended here the moment it arrives,
//! so that a crashed, killed or stopped run can resume without paying again. It doubles as the
//! store that duplicate rows read their first row's result from.
//!
//! Format: a first line `cardscreen-journal 1`, a second line with the JSON fingerprint of the
//! input and of the settings that shape the output (and when the run started), then one
//! tab-separated line per card. With a store, a line also holds when the call was answered,
//! the change against the store's previous result as the run first read it, and whether the
//! result came from the store: so a resumed run writes every row as the interrupted one would.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::hash::fnv1a;
use crate::outcome::{Change, Flags, Outcome, Reason, Status};

const MAGIC: &str = "cardscreen-journal 1";
/// How much of the input's head and tail the fingerprint hashes.
const FINGERPRINT_BLOCK: u64 = 64 * 1024;
/// A power cut loses at most about this much.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Error texts are cut to this many bytes so that a record always fits one small read.
const MAX_ERROR_LEN: usize = 400;

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

/// The journal's second line: the fingerprint, and when the run started (Unix seconds), which
/// a resumed run keeps as its own time, for `--max-age` and for when its cards were last seen.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    #[serde(flatten)]
    fingerprint: Fingerprint,
    #[serde(default)]
    started: u64,
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

#[derive(Debug, thiserror::Error)]
pub(crate) enum JournalError {
    #[error("cannot use the journal {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(
        "{path} is not a cardscreen journal this version can read; move it away or pass --fresh"
    )]
    Foreign { path: String },
    #[error("cannot resume: {what} changed since the unfinished run; restore it, or pass --fresh to start over (results already paid for will be asked for again)")]
    Changed { what: String },
}

pub(crate) struct Journal {
    writer: BufWriter<File>,
    reader: File,
    /// `None` for a scratch journal that only serves deduplication and vanishes with the run.
    path: Option<PathBuf>,
    /// Offset where the next record goes.
    end: u64,
    last_sync: Instant,
    dirty: bool,
    line: Vec<u8>,
    /// When the run started, or the interrupted run it continues (Unix seconds).
    started: u64,
}

impl Journal {
    /// The journal beside an output file.
    pub(crate) fn path_for(output: &Path) -> PathBuf {
        let mut name = output
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".journal");
        output.with_file_name(name)
    }

    /// Starts a new journal at `path`. The header is written to a temporary file, synced and
    /// renamed, so a journal on disk always has a whole header.
    pub(crate) fn create(
        path: &Path,
        fingerprint: &Fingerprint,
        started: u64,
    ) -> Result<Journal, JournalError> {
        let err = |source| JournalError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut header = format!("{MAGIC}\n");
        let second = Header {
            fingerprint: fingerprint.clone(),
            started,
        };
        header.push_str(&serde_json::to_string(&second).map_err(|e| err(io::Error::other(e)))?);
        header.push('\n');
        let temporary = super::files::sibling(path, ".tmp");
        {
            let mut file = super::files::create_private(&temporary).map_err(err)?;
            file.write_all(header.as_bytes()).map_err(err)?;
            file.sync_all().map_err(err)?;
        }
        std::fs::rename(&temporary, path).map_err(err)?;
        super::files::sync_parent(path);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        Journal::from_file(file, Some(path.to_path_buf()), header.len() as u64, started)
            .map_err(err)
    }

    /// A journal in an unnamed temporary file, for runs that cannot be resumed (standard output).
    pub(crate) fn scratch(started: u64) -> io::Result<Journal> {
        let file = tempfile::tempfile()?;
        Journal::from_file(file, None, 0, started)
    }

    /// When the run started, or the interrupted run this one continues (Unix seconds).
    pub(crate) fn started(&self) -> u64 {
        self.started
    }

    /// Reopens the journal of an unfinished run, checks it belongs to the same job, and hands
    /// every kept result to `found(card code, offset)`. A record cut short by a crash is dropped.
    pub(crate) fn resume(
        path: &Path,
        expected: &Fingerprint,
        mut found: impl FnMut(u64, u64),
    ) -> Result<(Journal, u64), JournalError> {
        let err = |source| JournalError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        let mut lines = BufReader::with_capacity(64 * 1024, file.try_clone().map_err(err)?);
        let foreign = || JournalError::Foreign {
            path: path.display().to_string(),
        };
        let mut line = Vec::new();
        lines.read_until(b'\n', &mut line).map_err(err)?;
        if line.strip_suffix(b"\n") != Some(MAGIC.as_bytes()) {
            return Err(foreign());
        }
        let mut offset = line.len() as u64;
        line.clear();
        lines.read_until(b'\n', &mut line).map_err(err)?;
        let recorded: Header = serde_json::from_slice(&line).map_err(|_| foreign())?;
        let changed = recorded.fingerprint.differences(expected);
        if !changed.is_empty() {
            return Err(JournalError::Changed {
                what: changed.join(" and "),
            });
        }
        offset += line.len() as u64;
        let mut kept = 0;
        loop {
            line.clear();
            let n = lines.read_until(b'\n', &mut line).map_err(err)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            if let Some(code) = record_card(&line) {
                found(code, offset);
                kept += 1;
            }
            offset += n as u64;
        }
        // Drop a torn last record so that new records start on a line of their own.
        file.set_len(offset).map_err(err)?;
        // A journal from before it recorded its start takes this run's.
        let started = match recorded.started {
            0 => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            started => started,
        };
        Ok((
            Journal::from_file(file, Some(path.to_path_buf()), offset, started).map_err(err)?,
            kept,
        ))
    }

    fn from_file(file: File, path: Option<PathBuf>, end: u64, started: u64) -> io::Result<Journal> {
        let reader = file.try_clone()?;
        Ok(Journal {
            writer: BufWriter::with_capacity(64 * 1024, file),
            reader,
            path,
            end,
            last_sync: Instant::now(),
            dirty: false,
            line: Vec::with_capacity(512),
            started,
        })
    }

    /// Appends the result for a card and returns where it is kept. Call `flush` before the
    /// result counts as received.
    pub(crate) fn append(&mut self, code: u64, outcome: &Outcome) -> io::Result<u64> {
        let offset = self.end;
        let line = &mut self.line;
        line.clear();
        // Numbers through itoa rather than `write!`: this runs once for every paid call.
        let mut number = itoa::Buffer::new();
        line.extend_from_slice(number.format(code).as_bytes());
        line.push(b'\t');
        line.extend_from_slice(outcome.status.as_str().as_bytes());
        line.push(b'\t');
        line.extend_from_slice(number.format(outcome.flags.0).as_bytes());
        line.push(b'\t');
        line.extend_from_slice(number.format(outcome.attempts).as_bytes());
        line.push(b'\t');
        if let Some(error_code) = outcome.error_code {
            line.extend_from_slice(number.format(error_code).as_bytes());
        }
        line.push(b'\t');
        if let Some(reason) = outcome.reason {
            line.extend_from_slice(reason.as_str().as_bytes());
        }
        line.push(b'\t');
        push_clean(line, &outcome.orderid, 100);
        line.push(b'\t');
        push_clean(line, &outcome.error, MAX_ERROR_LEN);
        line.push(b'\t');
        if let Some(screened_at) = outcome.screened_at {
            line.extend_from_slice(number.format(screened_at).as_bytes());
        }
        line.push(b'\t');
        if let Some(change) = outcome.change {
            line.extend_from_slice(change.as_str().as_bytes());
        }
        line.push(b'\t');
        line.push(if outcome.reused { b'1' } else { b'0' });
        line.push(b'\n');
        self.writer.write_all(line)?;
        self.end += line.len() as u64;
        self.dirty = true;
        Ok(offset)
    }

    /// Hands buffered records to the operating system, where a killed process cannot lose them,
    /// and syncs them to disk at most once a second.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()?;
        if self.dirty && self.path.is_some() && self.last_sync.elapsed() >= SYNC_INTERVAL {
            self.writer.get_ref().sync_data()?;
            self.last_sync = Instant::now();
            self.dirty = false;
        }
        Ok(())
    }

    /// Flushes and syncs now.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.writer.flush()?;
        if self.path.is_some() {
            self.writer.get_ref().sync_data()?;
        }
        self.dirty = false;
        Ok(())
    }

    /// Reads back the result kept at `offset`.
    pub(crate) fn read(&mut self, offset: u64) -> io::Result<Outcome> {
        if offset >= self.end {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no journal record at this offset",
            ));
        }
        self.writer.flush()?;
        let mut buf = [0u8; MAX_ERROR_LEN + 256];
        let mut filled = 0;
        loop {
            let n = self
                .reader
                .read_at(&mut buf[filled..], offset + filled as u64)?;
            filled += n;
            if let Some(end) = buf[..filled].iter().position(|&b| b == b'\n') {
                return parse_record(&buf[..end]).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "damaged journal record")
                });
            }
            if n == 0 || filled == buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "damaged journal record",
                ));
            }
        }
    }

    /// The run completed: the journal has served its purpose.
    pub(crate) fn remove(self) -> io::Result<()> {
        let path = self.path.clone();
        drop(self);
        if let Some(path) = path {
            std::fs::remove_file(&path)?;
        }
        Ok(())
    }
}

fn push_clean(line: &mut Vec<u8>, text: &str, limit: usize) {
    // Orderids and most error texts are short and clean: copy them whole. Control characters
    // are ASCII bytes below 0x20, DEL, or C1 codes (which UTF-8 writes after a 0xC2 byte).
    if text.len() <= limit && text.bytes().all(|b| b >= 0x20 && b != 0x7f && b != 0xc2) {
        line.extend_from_slice(text.as_bytes());
        return;
    }
    let mut taken = 0;
    for ch in text.chars() {
        if taken + ch.len_utf8() > limit {
            break;
        }
        let ch = if ch.is_control() { ' ' } else { ch };
        let mut utf8 = [0u8; 4];
        line.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
        taken += ch.len_utf8();
    }
}

/// The card a record is for. Every kept result counts, `error` ones too: a resumed run never
/// calls again for a row whose result was received (`--retry-errors` is the way to ask again).
fn record_card(line: &[u8]) -> Option<u64> {
    let end = line.iter().position(|&b| b == b'\t')?;
    std::str::from_utf8(&line[..end]).ok()?.parse().ok()
}

fn parse_record(line: &[u8]) -> Option<Outcome> {
    let text = std::str::from_utf8(line).ok()?;
    // The error text holds no tab (`push_clean`), so the fields after it split off cleanly; a
    // journal from before stores ends at the error text.
    let mut fields = text.split('\t');
    let _code = fields.next()?;
    let status = Status::parse(fields.next()?)?;
    let flags = Flags(fields.next()?.parse().ok()?);
    let attempts = fields.next()?.parse().ok()?;
    let error_code = match fields.next()? {
        "" => None,
        code => Some(code.parse().ok()?),
    };
    let reason = Reason::parse(fields.next()?);
    let orderid = fields.next()?.to_string();
    let error = fields.next()?.to_string();
    let screened_at = fields.next().and_then(|t| t.parse().ok());
    let change = fields.next().and_then(Change::parse);
    let reused = fields.next() == Some("1");
    Some(Outcome {
        status,
        flags,
        orderid,
        error_code,
        error,
        attempts,
        reason,
        screened_at,
        change,
        reused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint() -> Fingerprint {
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
            prefix: String::new(),
            mask: false,
            luhn: "warn".into(),
            store: false,
            max_age_seconds: 0,
        }
    }

    #[test]
    fn records_read_back_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv.journal");
        let ok = Outcome::ok(Flags(0b100), "JH1".into(), 2);
        let mut failed = Outcome::error(
            Some(271901),
            "data source timeout (271901)\tafter 5 attempts".into(),
            5,
        );
        let (a, b) = {
            let mut journal = Journal::create(&path, &fingerprint(), 1_700_000_000).unwrap();
            let a = journal.append(11, &ok).unwrap();
            let b = journal.append(12, &failed).unwrap();
            journal.flush().unwrap();
            assert_eq!(journal.read(a).unwrap(), ok);
            (a, b)
        };
        // A torn record at the end, as a kill in mid-write leaves it.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"13\tok\t0").unwrap();
        drop(file);
        let mut seen = Vec::new();
        let (mut journal, kept) = Journal::resume(&path, &fingerprint(), |code, offset| {
            seen.push((code, offset))
        })
        .unwrap();
        assert_eq!(kept, 2);
        assert_eq!(seen, vec![(11, a), (12, b)]);
        assert_eq!(journal.started(), 1_700_000_000);
        failed.error = failed.error.replace('\t', " ");
        assert_eq!(journal.read(b).unwrap(), failed);
        let c = journal.append(13, &ok).unwrap();
        journal.sync().unwrap();
        assert_eq!(journal.read(c).unwrap(), ok);
        journal.remove().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn store_fields_read_back_and_older_records_still_read() {
        let mut journal = Journal::scratch(0).unwrap();
        let mut reused = Outcome::ok(Flags(0b1), "JH9".into(), 0);
        reused.screened_at = Some(1_740_795_341);
        reused.change = Some(Change::Same);
        reused.reused = true;
        let rejected = Outcome::rejected_by_vendor(1);
        let a = journal.append(5, &reused).unwrap();
        let b = journal.append(6, &rejected).unwrap();
        journal.flush().unwrap();
        assert_eq!(journal.read(a).unwrap(), reused);
        assert_eq!(journal.read(b).unwrap(), rejected);
        let older = parse_record(b"7\tok\t0\t1\t\t\tJH1\t").unwrap();
        assert_eq!(older, Outcome::ok(Flags(0), "JH1".into(), 1));
    }

    #[test]
    fn texts_lose_control_characters_and_stop_at_the_limit() {
        let cases = [
            ("JH7190000000000000000001", 100, "JH7190000000000000000001"),
            ("a\tb\nc\u{7f}d\u{85}e", 100, "a b c d e"),
            ("数据源超时 £5", 100, "数据源超时 £5"),
            ("数据源超时", 7, "数据"),
            ("abcdef", 4, "abcd"),
        ];
        for (text, limit, expected) in cases {
            let mut line = Vec::new();
            push_clean(&mut line, text, limit);
            assert_eq!(String::from_utf8(line).unwrap(), expected, "{text:?}");
        }
    }

    #[test]
    fn a_changed_input_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        Journal::create(&path, &fingerprint(), 0).unwrap();
        let mut other = fingerprint();
        other.input.size = 11;
        other.mask = true;
        let err = Journal::resume(&path, &other, |_, _| {})
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("the input file and --mask"), "{err}");
    }
}
