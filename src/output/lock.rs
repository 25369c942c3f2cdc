//! One run per output at a time: an exclusive advisory lock (`flock`) on `<output>.lock`, taken
//! before the journal or an earlier output is read or discarded and held to the end of the run.
//! Two runs sharing one journal would pay for the same cards and break each other's files.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::files;

/// Why the lock could not be had.
#[derive(Debug)]
pub(crate) enum LockFailure {
    /// Another run holds it; its pid when it has written it yet.
    Held {
        pid: Option<u32>,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

/// The lock on an output, released (and its file removed) when dropped.
#[derive(Debug)]
pub(crate) struct OutputLock {
    /// Held open: closing it lets go of the lock.
    _file: File,
    path: PathBuf,
}

impl OutputLock {
    /// The lock file beside an output.
    pub(crate) fn path_for(output: &Path) -> PathBuf {
        files::sibling(output, ".lock")
    }

    /// Takes the lock on `output` at once, or says who holds it.
    pub(crate) fn acquire(output: &Path) -> Result<OutputLock, LockFailure> {
        let path = OutputLock::path_for(output);
        let failed = |source| LockFailure::Io {
            path: path.clone(),
            source,
        };
        loop {
            let mut file = files::open_lock(&path).map_err(failed)?;
            // SAFETY: flock on a descriptor we own; it has no memory effects.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let error = io::Error::last_os_error();
                if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
                    return Err(failed(error));
                }
                return Err(LockFailure::Held {
                    pid: holder(&mut file),
                });
            }
            // The last holder removes the file as it lets go: if that happened between our open
            // and our lock, we hold a file nobody else will open. Then take the new one.
            if !names_file(&path, &file) {
                continue;
            }
            file.set_len(0).map_err(failed)?;
            writeln!(file, "{}", std::process::id()).map_err(failed)?;
            return Ok(OutputLock { _file: file, path });
        }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still locked, so a run that opens the name afterwards gets a new file.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `path` still names the open `file`.
fn names_file(path: &Path, file: &File) -> bool {
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(named), Ok(open)) => named.dev() == open.dev() && named.ino() == open.ino(),
        _ => false,
    }
}

/// The pid the holder wrote into the lock file. A holder that has just taken the lock may not
/// have written it yet: look a few times.
fn holder(file: &mut File) -> Option<u32> {
    for _ in 0..10 {
        let mut text = String::new();
        if file.rewind().is_ok() && file.read_to_string(&mut text).is_ok() {
            if let Ok(pid) = text.trim().parse() {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_per_output_and_none_between_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("out.csv");
        let first = OutputLock::acquire(&output).unwrap();
        match OutputLock::acquire(&output) {
            Err(LockFailure::Held { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected the lock to be held, got {other:?}"),
        }
        let beside = OutputLock::acquire(&dir.path().join("other.csv")).unwrap();
        drop(first);
        assert!(!OutputLock::path_for(&output).exists());
        let again = OutputLock::acquire(&output).unwrap();
        drop((again, beside));
    }
}
