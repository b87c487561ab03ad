//! Writing files so that a failure, a kill or an interrupt never leaves a partial output
//! behind.
//!
//! Every output is written to a temporary file in its folder and renamed into place. The
//! temporary files in progress are registered, so that a program interrupted by a signal can
//! remove them ([`remove_temp_files`]) before it exits; a file at its final name is always
//! complete.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Temporary files being written. Held while a temporary file is created and while it is
/// renamed, so that [`remove_temp_files`] never runs between the two halves of either.
static IN_PROGRESS: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn in_progress() -> MutexGuard<'static, Option<HashSet<PathBuf>>> {
    // The set is valid whatever a panicking holder did: every change is one insert or remove.
    IN_PROGRESS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Writes `bytes` to `path` through a temporary file in the same folder, then renames it into
/// place. Without `overwrite`, an existing `path` is an `AlreadyExists` error and is left alone.
pub fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !overwrite && path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "file exists (use --force to overwrite)",
        ));
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".aec-").suffix(".tmp");
    // Temporary files are private (0600) by default; outputs get the usual 0666 & !umask.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = {
        let mut set = in_progress();
        let tmp = builder.tempfile_in(dir)?;
        set.get_or_insert_with(HashSet::new)
            .insert(tmp.path().to_path_buf());
        tmp
    };
    let tmp_path = tmp.path().to_path_buf();
    let written = tmp.write_all(bytes).and_then(|()| tmp.as_file().sync_all());
    let mut set = in_progress();
    let result = written.and_then(|()| {
        if overwrite {
            tmp.persist(path).map(drop).map_err(|e| e.error)
        } else {
            tmp.persist_noclobber(path).map(drop).map_err(|e| e.error)
        }
    });
    // On failure the temporary file was dropped (and so removed) by `persist`'s error or here.
    if let Some(set) = set.as_mut() {
        set.remove(&tmp_path);
    }
    result
}

/// Removes every temporary file still being written and returns how many there were. Called
/// on an interrupt, just before the process exits; writes that were under way fail, and no
/// new temporary file can be created or renamed into place while this runs. The lock stays
/// held (the process is about to exit), so later writes wait instead of leaving new files.
pub fn remove_temp_files() -> usize {
    let mut set = in_progress();
    let paths: Vec<PathBuf> = set
        .as_mut()
        .map(|s| s.drain().collect())
        .unwrap_or_default();
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
    std::mem::forget(set);
    paths.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_atomic(&p, b"one", false).unwrap();
        let e = write_atomic(&p, b"two", false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_atomic(&p, b"three", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        // Nothing is left on disk besides the output.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
