//! One writer per archive: a lock file held with an OS lock (`flock`), which the kernel
//! releases when the process ends, however it ends.
//!
//! - A single run (and `repair`) holds `DIR/.neurorec.lock` exclusively.
//! - Each run of a sweep holds `DIR/.neurorec.lock` shared (so the runs and shards of a
//!   sweep write side by side, but no single run can start in the directory) and
//!   `DIR/.neurorec-run=<r>.lock` exclusively (one writer per run).
//!
//! The holder's pid is written into the file it holds exclusively, for the message a second
//! writer gets. Lock files stay after the run (removing one would race with a process
//! about to lock it); they are hidden, and readers skip them.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::ArchiveError;

/// The archive-wide lock file.
pub const ARCHIVE_LOCK: &str = ".neurorec.lock";

/// The lock file of run `run` of a sweep.
pub fn run_lock_name(run: u32) -> String {
    format!(".neurorec-run={run}.lock")
}

/// A held lock on an archive directory (released when dropped or when the process ends).
#[derive(Debug)]
pub struct ArchiveLock {
    dir: PathBuf,
    /// The archive-wide lock file (exclusive for a single run, shared for a sweep's run).
    _archive: File,
    /// A sweep's run: its own lock file, held exclusively.
    _run: Option<File>,
    /// `Some(r)` for run `r` of a sweep.
    run: Option<u32>,
}

/// What the lock is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// The whole archive (a single run, `repair`).
    Archive,
    /// One run of a sweep.
    Run(u32),
    /// A sweep as a whole, before its runs start (the archive lock, shared).
    Sweep,
}

fn open_lock_file(path: &Path) -> Result<File, ArchiveError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    // A link in place of the lock file is not followed (nothing outside is truncated).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options.open(path).map_err(ArchiveError::io(path))
}

/// Writes the holder's pid into a lock file held exclusively.
fn write_pid(file: &mut File, path: &Path) -> Result<(), ArchiveError> {
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(ArchiveError::io(path))
}

/// The pid written in a lock file, if it holds one.
fn holder(path: &Path) -> Option<u32> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

impl ArchiveLock {
    /// Takes the lock on the archive at `dir` (created if missing) at once, or fails with
    /// [`ArchiveError::Locked`] naming the holder. Nothing else is created or read before.
    pub fn acquire(dir: &Path, scope: LockScope) -> Result<Self, ArchiveError> {
        std::fs::create_dir_all(dir).map_err(ArchiveError::io(dir))?;
        let archive_path = dir.join(ARCHIVE_LOCK);
        let mut archive = open_lock_file(&archive_path)?;
        let taken = match scope {
            LockScope::Archive => archive.try_lock(),
            LockScope::Run(_) | LockScope::Sweep => archive.try_lock_shared(),
        };
        match taken {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(ArchiveError::Locked {
                    path: dir.to_path_buf(),
                    holder: match scope {
                        // Shared holders are the runs of a sweep (their pids are in their
                        // run lock files); an exclusive holder wrote its pid.
                        LockScope::Archive if archive.try_lock_shared().is_ok() => {
                            let _ = archive.unlock();
                            "the runs of a sweep".into()
                        }
                        _ => holder(&archive_path)
                            .map_or("another neurorec process".into(), |pid| {
                                format!("neurorec process {pid}")
                            }),
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(ArchiveError::io(&archive_path)(e)),
        }
        let (run_file, run) = match scope {
            LockScope::Archive => {
                write_pid(&mut archive, &archive_path)?;
                (None, None)
            }
            LockScope::Sweep => (None, None),
            LockScope::Run(r) => {
                let path = dir.join(run_lock_name(r));
                let mut file = open_lock_file(&path)?;
                match file.try_lock() {
                    Ok(()) => {}
                    Err(TryLockError::WouldBlock) => {
                        return Err(ArchiveError::Locked {
                            path: dir.to_path_buf(),
                            holder: holder(&path)
                                .map_or(format!("another process (run {r})"), |pid| {
                                    format!("process {pid} (run {r})")
                                }),
                        });
                    }
                    Err(TryLockError::Error(e)) => return Err(ArchiveError::io(&path)(e)),
                }
                write_pid(&mut file, &path)?;
                (Some(file), Some(r))
            }
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            _archive: archive,
            _run: run_file,
            run,
        })
    }

    /// The archive directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `Some(r)` when this is the lock of run `r` of a sweep.
    pub fn run(&self) -> Option<u32> {
        self.run
    }

    /// Whether a writer holds the lock of the archive at `dir` (for `scope`) right now:
    /// tried without waiting and released at once.
    pub fn is_held(dir: &Path, scope: LockScope) -> bool {
        let path = match scope {
            LockScope::Archive | LockScope::Sweep => dir.join(ARCHIVE_LOCK),
            LockScope::Run(r) => dir.join(run_lock_name(r)),
        };
        let Ok(file) = File::open(&path) else {
            return false;
        };
        let held = match scope {
            // A single run holds the archive lock exclusively: a shared lock fails then.
            LockScope::Archive => file.try_lock_shared(),
            // Any writer of a sweep holds it shared: an exclusive lock fails then.
            LockScope::Sweep | LockScope::Run(_) => file.try_lock(),
        };
        matches!(held, Err(TryLockError::WouldBlock))
    }
}
