//! Whether a run fits: its estimate against the free space of the file system it writes to
//! and the memory available, checked before anything is simulated.

use std::path::{Path, PathBuf};

use super::{Estimate, RunError};

/// Free bytes (for an unprivileged user) of the file system holding `path`, or of its
/// nearest existing ancestor; `None` where it cannot be known.
pub fn free_disk_bytes(path: &Path) -> Option<u64> {
    let mut at: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    while std::fs::metadata(&at).is_err() {
        at = at.parent()?.to_path_buf();
    }
    statvfs_free(&at)
}

#[cfg(unix)]
fn statvfs_free(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `stat` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut stat) };
    (rc == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

#[cfg(not(unix))]
fn statvfs_free(_: &Path) -> Option<u64> {
    None
}

/// Memory available to new processes (`MemAvailable` of `/proc/meminfo`), where known.
pub fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Checks the estimate against the free disk space at `out` and the available memory;
/// what cannot be known is not checked.
pub fn check_resources(estimate: &Estimate, out: &Path) -> Result<(), RunError> {
    if let Some(free) = free_disk_bytes(out) {
        if estimate.bytes > free {
            return Err(RunError::NoSpace {
                path: out.to_path_buf(),
                needed: estimate.bytes,
                free,
            });
        }
    }
    if let Some(available) = available_memory_bytes() {
        if estimate.peak_memory > available {
            return Err(RunError::NoMemory {
                needed: estimate.peak_memory,
                available,
            });
        }
    }
    Ok(())
}
