//! The journal's life: every paid answer is appended here the moment it arrives,
//! so that a crashed, killed or stopped run can resume without paying again. It doubles as the
//! store that duplicate rows read their first row's result from.
//!
//! Format: a first line `cardscreen-journal 1`, a second line with the JSON fingerprint of the
//! input and of the settings that shape the output (and when the run started), then one
//! tab-separated line per card. With a store, a line also holds when the call was answered,
//! the change against the store's previous result as the run first read it, and whether the
//! result came from the store: so a resumed run writes every row as the interrupted one would.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::fingerprint::Fingerprint;
use super::record::{self, MAX_RECORD_LEN};
use crate::outcome::Outcome;
use crate::util::clock::unix_now;
use crate::util::files;

const MAGIC: &str = "cardscreen-journal 1";
/// A power cut loses at most about this much.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The journal's second line: the fingerprint, and when the run started (Unix seconds), which
/// a resumed run keeps as its own time, for `--max-age` and for when its cards were last seen.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    #[serde(flatten)]
    fingerprint: Fingerprint,
    #[serde(default)]
    started: u64,
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
        let temporary = files::sibling(path, ".tmp");
        let mut file = files::create_private(&temporary).map_err(|source| JournalError::Io {
            path: temporary.display().to_string(),
            source,
        })?;
        file.write_all(header.as_bytes()).map_err(err)?;
        file.sync_all().map_err(err)?;
        std::fs::rename(&temporary, path).map_err(err)?;
        files::sync_parent(path);
        // The file stays open through the rename: records go on after the header.
        Journal::from_file(file, Some(path.to_path_buf()), header.len() as u64, started)
            .map_err(err)
    }

    /// A journal in an unnamed temporary file, for runs that cannot be resumed (standard output).
    pub(crate) fn scratch(started: u64) -> io::Result<Journal> {
        Journal::from_file(files::anonymous()?, None, 0, started)
    }

    /// When the run started, or the interrupted run this one continues (Unix seconds).
    pub(crate) fn started(&self) -> u64 {
        self.started
    }

    /// Reopens the journal of an unfinished run, checks it belongs to the same job, and hands
    /// every kept result to `found(card code, offset)`. A record cut short by a crash is
    /// dropped, and so is a damaged one (with a warning naming its line): its card is simply
    /// asked for again, rather than the damage stopping every resume.
    pub(crate) fn resume(
        path: &Path,
        expected: &Fingerprint,
        mut found: impl FnMut(u64, u64),
    ) -> Result<(Journal, u64), JournalError> {
        let err = |source| JournalError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = files::open_existing(path).map_err(err)?;
        let mut lines = BufReader::with_capacity(64 * 1024, file.try_clone().map_err(err)?);
        let (recorded, header_len) = read_header(&mut lines, path, expected)?;
        let (offset, kept) = read_records(&mut lines, header_len, path, &mut found).map_err(err)?;
        // Drop a torn last record so that new records start on a line of their own.
        file.set_len(offset).map_err(err)?;
        // A journal from before it recorded its start takes this run's.
        let started = match recorded.started {
            0 => unix_now(),
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
        record::write(&mut self.line, code, outcome);
        let line = &self.line;
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
        let mut buf = [0u8; MAX_RECORD_LEN];
        let mut filled = 0;
        loop {
            let n = self
                .reader
                .read_at(&mut buf[filled..], offset + filled as u64)?;
            filled += n;
            if let Some(end) = buf[..filled].iter().position(|&b| b == b'\n') {
                return record::parse(&buf[..end])
                    .map(|(_, outcome)| outcome)
                    .ok_or_else(|| {
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

/// Reads the journal's first two lines and checks that it belongs to the run `expected`
/// describes; returns its header and how many bytes the two lines take.
fn read_header(
    lines: &mut impl BufRead,
    path: &Path,
    expected: &Fingerprint,
) -> Result<(Header, u64), JournalError> {
    let err = |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    };
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
    Ok((recorded, offset))
}

/// Hands every whole record that reads back to `found(card code, offset)`, from `offset` on;
/// returns where the last whole record ends and how many were kept.
fn read_records(
    lines: &mut impl BufRead,
    mut offset: u64,
    path: &Path,
    found: &mut impl FnMut(u64, u64),
) -> io::Result<(u64, u64)> {
    let mut line = Vec::new();
    let mut kept = 0;
    for number in 3u64.. {
        line.clear();
        let n = lines.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        match record::parse(&line[..n - 1]) {
            Some((code, _)) => {
                found(code, offset);
                kept += 1;
            }
            None => tracing::warn!(
                journal = %path.display(),
                line = number,
                "Dropped a damaged journal record; its card will be asked for again."
            ),
        }
        offset += n as u64;
    }
    Ok((offset, kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Change, Flags};
    use crate::output::journal::fingerprint::tests::fingerprint;

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
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
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
    fn damaged_records_are_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv.journal");
        let ok = Outcome::ok(Flags(0b100), "JH1".into(), 1);
        let first = {
            let mut journal = Journal::create(&path, &fingerprint(), 0).unwrap();
            let first = journal.append(11, &ok).unwrap();
            journal.sync().unwrap();
            first
        };
        let damaged = [
            "12\tok\t64\t1\t\t\tJH2\t",
            "13\tokay\t0\t1\t\t\tJH3\t",
            "18446744073709551615\tok\t0\t1\t\t\tJH4\t",
            "14\tok\t0\t1\t\t\tJH5",
            "15\tok\t0\t1\t\t\tJH6\t\textra",
            "16\terror\t0\t2\t\t\t\t=1+1",
            "17\tok\t0\t1\t\t\t=HYPERLINK(1)\t",
            "18\tinvalid\t0\t0\t\tno_such_reason\t\tbad",
            "19\tok\t0\t1\t\t\tJH9\tnot empty",
            "20\tok\tx\t1\t\t\tJH10\t",
        ];
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        for record in damaged {
            writeln!(file, "{record}").unwrap();
        }
        writeln!(
            file,
            "21\tinvalid\t0\t0\t271902\tvendor_rejected\t\tthe API says no"
        )
        .unwrap();
        drop(file);
        let mut seen = Vec::new();
        let (_, kept) = Journal::resume(&path, &fingerprint(), |code, _| seen.push(code)).unwrap();
        assert_eq!(kept, 2);
        assert_eq!(seen, vec![11, 21]);
        let (mut journal, _) = Journal::resume(&path, &fingerprint(), |_, _| {}).unwrap();
        assert_eq!(journal.read(first).unwrap(), ok);
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
        let (code, older) = record::parse(b"7\tok\t0\t1\t\t\tJH1\t").unwrap();
        assert_eq!(code, 7);
        assert_eq!(older, Outcome::ok(Flags(0), "JH1".into(), 1));
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
