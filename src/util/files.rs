//! Every file cardscreen writes is created here: fresh (`O_CREAT|O_EXCL|O_NOFOLLOW`, a stale
//! file of ours removed first, a link planted in its place refused), readable by its owner
//! only (the metrics file, which holds nothing secret, as `metrics_mode` says), written beside
//! its final name and renamed into place.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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

/// Creates `path` fresh, for reading and writing, mode 0600. A regular file of ours standing
/// there (left by a killed run) is removed first; anything else is refused: a symlink or a
/// hard link planted there would make us write card numbers into its target, and a file
/// created with a looser mode would keep that mode through the final rename.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    if check_creatable(path)? {
        std::fs::remove_file(path)?;
    }
    // `create_new` is O_CREAT|O_EXCL, which never follows a link; O_NOFOLLOW says so twice.
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(path)
        .map_err(refusal)
}

/// Whether `path` could be created fresh: `Ok(false)` when nothing stands there, `Ok(true)`
/// for a stale regular file of ours (to be removed), an error naming what stands there
/// otherwise. Lets a run refuse before its first call a file it will only write at the end.
pub(crate) fn check_creatable(path: &Path) -> io::Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(planted("a symbolic link"));
    }
    if !kind.is_file() {
        return Err(planted("something other than a regular file"));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if meta.uid() != unsafe { libc::geteuid() } {
        return Err(planted("a file of another user"));
    }
    Ok(true)
}

/// Opens an existing file of ours to read it and append to it (a journal being resumed),
/// never through a symlink, and only if it is a regular file.
pub(crate) fn open_existing(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(refusal)?;
    if !file.metadata()?.is_file() {
        return Err(planted("something other than a regular file"));
    }
    Ok(file)
}

/// Opens the lock file beside an output, creating it (mode 0600) when missing. Unlike the
/// others it is never removed and created anew before locking: a live run may hold it.
pub(crate) fn open_lock(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .mode(0o600)
        .open(path)
        .map_err(refusal)?;
    if !file.metadata()?.is_file() {
        return Err(planted("something other than a regular file"));
    }
    Ok(file)
}

/// A file without a name, gone with the process: the journal of a run that cannot be resumed.
pub(crate) fn anonymous() -> io::Result<File> {
    tempfile::tempfile()
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
/// file or the new one, never half of one. Errors name the file they are about.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    write_atomically_with_mode(path, 0o600, write)
}

/// As `write_atomically`, the file given `mode` (whatever the umask) before a byte is written:
/// for a file that another user's program must read and that holds nothing secret.
pub(crate) fn write_atomically_with_mode(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let temporary = sibling(path, ".tmp");
    let named =
        |e: io::Error, at: &Path| io::Error::new(e.kind(), format!("{}: {e}", at.display()));
    let created = create_private(&temporary).and_then(|file| {
        if mode != 0o600 {
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        Ok(file)
    });
    let mut file = io::BufWriter::new(created.map_err(|e| named(e, &temporary))?);
    let written = write(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| file.get_ref().sync_all())
        .map_err(|e| named(e, &temporary))
        .and_then(|()| std::fs::rename(&temporary, path).map_err(|e| named(e, path)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    sync_parent(path);
    Ok(())
}

fn planted(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{what} stands there, and cardscreen never writes through it; remove it and run again"
        ),
    )
}

/// Says what an open refused: O_NOFOLLOW answers ELOOP for a symlink, O_EXCL EEXIST for
/// anything that appeared between the check and the open.
fn refusal(error: io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(libc::ELOOP) => planted("a symbolic link"),
        Some(libc::EEXIST) => planted("a file that appeared while it was being created"),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_with_a_mode_leaves_that_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cardscreen.prom");
        for mode in [0o644, 0o640, 0o600] {
            write_atomically_with_mode(&path, mode, |w| w.write_all(b"x 1\n")).unwrap();
            let read = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(read & 0o777, mode, "{mode:o}");
            assert!(!sibling(&path, ".tmp").exists());
        }
    }

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
    fn a_stale_file_is_replaced_by_a_fresh_owner_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv.partial");
        std::fs::write(&path, "stale").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let linked = dir.path().join("linked");
        std::fs::hard_link(&victim, &linked).unwrap();
        for stale in [&path, &linked] {
            let mut file = create_private(stale).unwrap();
            file.write_all(b"new").unwrap();
            assert_eq!(std::fs::read(stale).unwrap(), b"new");
            let mode = std::fs::metadata(stale).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_planted_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let planted = dir.path().join("out.csv.partial");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let dangling = dir.path().join("summary.json.tmp");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        for path in [&planted, &dangling] {
            let err = create_private(path).unwrap_err();
            assert!(err.to_string().contains("symbolic link"), "{err}");
            assert!(check_creatable(path).is_err());
            assert!(open_existing(path).is_err());
            assert!(open_lock(path).is_err());
        }
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let directory = dir.path().join("a-directory");
        std::fs::create_dir(&directory).unwrap();
        assert!(create_private(&directory).is_err());
        assert!(directory.is_dir());
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
