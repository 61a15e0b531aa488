//! File I/O of the files being written: every byte counted and checksummed (CRC-32) as it
//! is written, written back to disk in the background while encoding goes on, and synced
//! before the file is renamed into place.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use crate::archive::ArchiveError;

/// Bytes buffered before they go to the file.
const BUFFER: usize = 1 << 20;

/// A writer that counts bytes and computes the CRC-32 of everything written.
pub(super) struct Checksummed {
    inner: BufWriter<File>,
    hasher: crc32fast::Hasher,
    bytes: u64,
    writeback: Option<Writeback>,
}

/// Early writeback: every `ArchiveOptions::writeback_bytes` a background thread asks the OS to write what
/// the file holds so far to disk, while encoding goes on; the fsync at close then has at
/// most the last stretch left to wait for (it cost 0.4-0.5 s per 610 MB otherwise). An error
/// of an early sync is kept and reported when the file is closed (the OS reports a
/// writeback error only once, so the final fsync might not see it again).
struct Writeback {
    file: Arc<File>,
    every: u64,
    next_at: u64,
    busy: Arc<std::sync::atomic::AtomicBool>,
    error: Arc<std::sync::Mutex<Option<std::io::Error>>>,
}

impl Writeback {
    fn after(&mut self, bytes: u64) {
        use std::sync::atomic::Ordering;
        if bytes < self.next_at || self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        self.next_at = bytes + self.every;
        let (file, busy) = (Arc::clone(&self.file), Arc::clone(&self.busy));
        let error = Arc::clone(&self.error);
        let spawned = std::thread::Builder::new()
            .name("neurorec-writeback".into())
            .spawn(move || {
                if let Err(e) = file.sync_data() {
                    if let Ok(mut slot) = error.lock() {
                        slot.get_or_insert(e);
                    }
                }
                busy.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.busy.store(false, Ordering::Release);
        }
    }
}

impl Write for Checksummed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Some(w) = &mut self.writeback {
            w.after(self.bytes);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Checksummed {
    /// Bytes written so far and their CRC-32 state.
    pub(super) fn position(&self) -> (u64, crc32fast::Hasher) {
        (self.bytes, self.hasher.clone())
    }

    /// Creates `tmp`; with `writeback_bytes`, what it holds is written back to disk in the
    /// background every that many bytes (only for files fsynced at close).
    pub(super) fn create(tmp: &Path, writeback_bytes: Option<u64>) -> Result<Self, ArchiveError> {
        let file = File::create(tmp).map_err(ArchiveError::io(tmp))?;
        // A second handle of the same file for early writeback.
        let writeback = match writeback_bytes.map(|every| (every.max(1), file.try_clone())) {
            Some((every, Ok(clone))) => Some(Writeback {
                file: Arc::new(clone),
                every,
                next_at: every,
                busy: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                error: Arc::default(),
            }),
            _ => None,
        };
        Ok(Self {
            inner: BufWriter::with_capacity(BUFFER, file),
            hasher: crc32fast::Hasher::new(),
            bytes: 0,
            writeback,
        })
    }

    /// Flushes and closes the file `tmp` (synced with `sync`) after a writeback still
    /// running; returns its size and CRC-32. An error of an early writeback is reported
    /// here.
    pub(super) fn finish(self, tmp: &Path, sync: bool) -> Result<(u64, u32), ArchiveError> {
        let bytes = self.bytes;
        let crc = self.hasher.finalize();
        let early_error = self.writeback.and_then(|w| {
            // Wait for a writeback still running, then take its error, if any.
            while w.busy.load(std::sync::atomic::Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            w.error.lock().ok().and_then(|mut slot| slot.take())
        });
        let inner = self.inner.into_inner().map_err(|e| ArchiveError::Io {
            path: tmp.to_path_buf(),
            source: e.into_error(),
        })?;
        if sync {
            inner.sync_all().map_err(ArchiveError::io(tmp))?;
        }
        if let Some(e) = early_error {
            return Err(ArchiveError::io(tmp)(e));
        }
        Ok((bytes, crc))
    }
}
