//! Crash-safe, no-clobber file creation (blocking; call from `spawn_blocking`).
//!
//! A file created here is either absent or complete with its final content
//! after a crash: the content is written to a temporary file in the same
//! directory, fsynced, then *hard-linked* to its final name. Unlike `rename`,
//! `link` fails when the name exists, so the first writer wins even when two
//! writers race; the directory is fsynced so the new name survives power loss.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether [`create_once`] wrote the file or found it already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Created {
    /// This call created it.
    New,
    /// It existed before; nothing was written.
    AlreadyThere,
}

/// Creates `dir/name` holding `content` unless it exists; see the module doc.
pub(crate) fn create_once(dir: &Path, name: &str, content: &[u8]) -> io::Result<Created> {
    let target = dir.join(name);
    if target.try_exists()? {
        return Ok(Created::AlreadyThere);
    }
    let temp = temp_path(dir, name);
    let written = write_synced(&temp, content).and_then(|()| link_no_clobber(&temp, &target));
    // The temporary name is only a staging area, whatever happened.
    let _ = fs::remove_file(&temp);
    let created = written?;
    if created == Created::New {
        sync_dir(dir)?;
    }
    Ok(created)
}

/// Creates `dir` (and parents) and makes its entry durable in its parent.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

fn temp_path(dir: &Path, name: &str) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

fn write_synced(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

fn link_no_clobber(from: &Path, to: &Path) -> io::Result<Created> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(Created::New),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Created::AlreadyThere),
        // Some file systems have no hard links: fall back to check-then-rename,
        // which only loses "first writer wins" under a concurrent race.
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            if to.try_exists()? {
                Ok(Created::AlreadyThere)
            } else {
                fs::rename(from, to)?;
                Ok(Created::New)
            }
        }
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_content_wins_and_no_temporary_file_is_left() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(create_once(dir.path(), "a.eml", b"first")?, Created::New);
        assert_eq!(
            create_once(dir.path(), "a.eml", b"second")?,
            Created::AlreadyThere
        );
        assert_eq!(fs::read(dir.path().join("a.eml"))?, b"first");
        let names: Vec<_> = fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
        assert_eq!(names.len(), 1);
        Ok(())
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let missing = Path::new("/nonexistent/slotstream-mail-test");
        assert!(create_once(missing, "a", b"x").is_err());
    }
}
