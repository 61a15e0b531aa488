//! The manifest at the archive root: tool version, the model and monitor description, dt,
//! seeds, and every chunk with its status and files (checksum, rows, bytes). It is replaced
//! atomically (written to a temporary file, synced, renamed) after every chunk.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ArchiveError, Kind, FORMAT_VERSION, MANIFEST};

/// Whether a chunk was completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkStatus {
    /// Being written (or the writer was stopped before the chunk ended).
    Writing,
    /// Every file of the chunk is complete and listed.
    Complete,
}

/// One finished file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the archive root.
    pub path: String,
    pub compartment: String,
    pub kind: Kind,
    pub part: u32,
    pub rows: u64,
    pub bytes: u64,
    /// CRC-32 (IEEE) of the whole file, as 8 hex digits.
    pub crc32: String,
}

/// One chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkEntry {
    pub run: u32,
    pub set: u32,
    pub chunk: u32,
    pub status: ChunkStatus,
    pub first_step: i64,
    /// One past the last simulated step (known when complete).
    pub end_step: Option<i64>,
    pub files: Vec<FileEntry>,
}

/// A set that ended (`get_recordings_and_clear`), with its number of chunks (possibly 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetEntry {
    pub run: u32,
    pub set: u32,
    pub chunks: u32,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub dt_ms: f64,
    /// Seeds of random processes (none are used by the deterministic models so far).
    pub seeds: serde_json::Value,
    /// The model and monitors that made the archive (for example the pipeline).
    pub description: serde_json::Value,
    /// Monitored compartments, in monitor order.
    pub compartments: Vec<String>,
    pub chunks: Vec<ChunkEntry>,
    /// Sets that ended, in order.
    #[serde(default)]
    pub sets: Vec<SetEntry>,
}

impl Manifest {
    /// A manifest without chunks.
    pub fn new(
        dt_ms: f64,
        seeds: serde_json::Value,
        description: serde_json::Value,
        compartments: Vec<String>,
    ) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            tool: "neurorec".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            dt_ms,
            seeds,
            description,
            compartments,
            chunks: Vec::new(),
            sets: Vec::new(),
        }
    }

    /// Writes the manifest to `dir` atomically: temporary file, fsync, rename, fsync of dir.
    pub fn store(&self, dir: &Path, sync: bool) -> Result<(), ArchiveError> {
        let tmp = dir.join(format!(".{MANIFEST}.tmp"));
        let path = dir.join(MANIFEST);
        let text = serde_json::to_vec_pretty(self).map_err(|e| ArchiveError::Corrupt {
            path: path.clone(),
            what: format!("cannot serialise the manifest: {e}"),
        })?;
        {
            let mut file = std::fs::File::create(&tmp).map_err(ArchiveError::io(&tmp))?;
            file.write_all(&text).map_err(ArchiveError::io(&tmp))?;
            if sync {
                file.sync_all().map_err(ArchiveError::io(&tmp))?;
            }
        }
        super::crash_point("manifest_written");
        std::fs::rename(&tmp, &path).map_err(ArchiveError::io(&path))?;
        if sync {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Reads the manifest of the archive at `dir`.
    pub fn load(dir: &Path) -> Result<Self, ArchiveError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ArchiveError::NotAnArchive {
                path: dir.to_path_buf(),
                reason: format!(
                    "there is no {MANIFEST}; pass the directory given to `--out` of the run"
                ),
            },
            _ => ArchiveError::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|e| ArchiveError::NotAnArchive {
                path: path.clone(),
                reason: format!("{MANIFEST} is not valid: {e}"),
            })?;
        if manifest.format_version > FORMAT_VERSION {
            return Err(ArchiveError::NotAnArchive {
                path,
                reason: format!(
                    "format version {} is newer than this neurorec reads ({FORMAT_VERSION}); update neurorec",
                    manifest.format_version
                ),
            });
        }
        Ok(manifest)
    }
}

/// Syncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ArchiveError::io(dir))
}
