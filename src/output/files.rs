//! Every file cardscreen writes is created here: readable by its owner only (but for the
//! metrics, which node_exporter reads), written beside its final name and renamed into place.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `path` with `suffix` appended to its file name, in the same directory (so a rename is atomic).
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// Creates (or truncates) a file with mode 0600.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Makes a rename durable. Best effort: some file systems refuse to sync a directory.
pub(crate) fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

/// Writes a whole file beside `path` and renames it into place, durably: a reader sees the old
/// file or the new one, never half of one.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    replace(path, 0o600, write)
}

/// As `write_atomically`, but readable by others (mode 0644, less the umask): only for a file
/// that holds neither card numbers nor the key and that another user's program must read, the
/// metrics that node_exporter collects.
pub(crate) fn write_atomically_readable(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    replace(path, 0o644, write)
}

fn replace(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let temporary = sibling(path, ".tmp");
    let created = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)?;
    let mut file = io::BufWriter::new(created);
    let written = write(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| file.get_ref().sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    std::fs::rename(&temporary, path)?;
    sync_parent(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_atomic_write_leaves_the_whole_file_owner_only_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        write_atomically(&path, |w| w.write_all(b"first")).unwrap();
        write_atomically(&path, |w| w.write_all(b"second")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!sibling(&path, ".tmp").exists());
        let failed = write_atomically(&path, |_| Err(io::Error::other("disk full")));
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert!(!sibling(&path, ".tmp").exists());
    }
}
