//! Every file cardscreen writes is created here: readable by its owner only, written beside
//! its final name and renamed into place.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
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

/// Creates a file with mode 0600 that must not exist yet: `None` when it does (someone else's
/// file is never truncated).
pub(crate) fn create_new_private(path: &Path) -> io::Result<Option<File>> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a whole file beside `path` and links it into place only if `path` does not exist
/// yet, durably. Returns false, and leaves the existing file alone, when it does: of two
/// processes creating the same file at once, one wins and the other reads the winner's.
pub(crate) fn write_new_atomically(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<bool> {
    // A name of this process's own, so that two writers never share a temporary file.
    let temporary = sibling(path, &format!(".{}.tmp", std::process::id()));
    let mut file = io::BufWriter::new(create_private(&temporary)?);
    let linked = write(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| file.get_ref().sync_all())
        .and_then(|()| match std::fs::hard_link(&temporary, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        });
    let _ = std::fs::remove_file(&temporary);
    if linked? {
        sync_parent(path);
        return Ok(true);
    }
    Ok(false)
}

/// Creates a directory and its missing parents, each readable by its owner only.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
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
    let temporary = sibling(path, ".tmp");
    let mut file = io::BufWriter::new(create_private(&temporary)?);
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

    #[test]
    fn a_new_file_never_replaces_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.key");
        assert!(write_new_atomically(&path, |w| w.write_all(b"first")).unwrap());
        assert!(!write_new_atomically(&path, |w| w.write_all(b"second")).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(create_new_private(&path).unwrap().is_none());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
    }
}
