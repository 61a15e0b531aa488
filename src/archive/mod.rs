//! The archive (SPEC §4): every monitor chunk streamed into Parquet while the simulation
//! runs, with the period tables in each file's key-value metadata, and read back from disk.
//!
//! - [`ArchiveWriter`] is a [`crate::monitor::Sink`]: it turns samples into Arrow record
//!   batches of bounded size and hands them to an encoder thread that writes Parquet files
//!   under temporary names, renamed when complete; the manifest is replaced atomically.
//! - [`Archive`] opens a directory, rebuilds [`crate::RecordingTimes`] from file metadata
//!   alone and loads a chunk's variables and spikes, optionally only a time window.
//!
//! Layout: `DIR/<compartment>/<kind>/run=<r>/set=<s>/chunk=<c>/part-<k>.parquet`, kind
//! `state` or `spikes`, plus `DIR/manifest.json`. This is the only module that uses
//! `parquet`.

mod encode;
mod lock;
mod manifest;
mod meta;
mod options;
mod reader;
mod repair;
mod runs;
mod validate;
mod writer;

use std::path::{Path, PathBuf};

pub use lock::{run_lock_name, ArchiveLock, LockScope, ARCHIVE_LOCK};
pub use manifest::{
    add_connectivity, add_figures, manifest_stems, sync_dir, ChunkEntry, ChunkStatus,
    CompartmentPeriods, FigureEntry, FileEntry, JournalEntry, JournalProblem, Manifest,
    ManifestWriter, RunEntry, RunStatus, SetEntry, JOURNAL,
};
pub use meta::FileMeta;
pub use reader::{Archive, ChunkRef, ReadStats};
pub use repair::{repair, RepairReport};
pub use runs::{write_runs_table, RUNS_TABLE};
pub use validate::{validate, Problem, Severity};
pub use writer::{remove_run, ArchiveOptions, ArchiveWriter, ValueStorage};

/// Version of the archive format written into every file and the manifest.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the manifest at the archive root.
pub const MANIFEST: &str = "manifest.json";

/// What is stored in a file: state variables or spikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    State,
    Spikes,
}

impl Kind {
    /// The directory name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::State => "state",
            Kind::Spikes => "spikes",
        }
    }
}

/// Errors of writing and reading archives.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{} already holds an archive ({MANIFEST}); write to a new directory, or remove the old archive first", path.display())]
    Exists { path: PathBuf },
    #[error("{} is being written by {holder}; wait until it ends, or write to another directory", path.display())]
    Locked { path: PathBuf, holder: String },
    #[error("{} cannot be read ({reason}); neurorec does not replace a file it cannot read, so it does not know what it lists: move it away or write to another directory", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{} {what}", path.display())]
    Conflict { path: PathBuf, what: String },
    #[error("{} holds files that no manifest lists where this run writes (neurorec deletes only what it wrote): {}; move them away or write to another directory", path.display(), files.join(", "))]
    InTheWay { path: PathBuf, files: Vec<String> },
    #[error("{} is not a neurorec archive: {reason}", path.display())]
    NotAnArchive { path: PathBuf, reason: String },
    #[error("{}: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },
    #[error("{what} not found in the archive at {}; it holds: {known}", path.display())]
    NotFound {
        path: PathBuf,
        what: String,
        known: String,
    },
    #[error("the archive's encoder thread stopped unexpectedly: {0}")]
    EncoderGone(String),
    #[error("invalid archive option: {0}")]
    InvalidOption(String),
}

impl ArchiveError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ArchiveError {
        let path = path.into();
        move |source| ArchiveError::Io { path, source }
    }

    pub(crate) fn parquet(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> ArchiveError {
        let path = path.into();
        move |source| ArchiveError::Parquet { path, source }
    }
}

/// Relative directory of one chunk's files of a compartment and kind.
pub fn chunk_dir(compartment: &str, kind: Kind, run: u32, set: u32, chunk: u32) -> PathBuf {
    PathBuf::from(compartment)
        .join(kind.as_str())
        .join(format!("run={run}"))
        .join(format!("set={set}"))
        .join(format!("chunk={chunk}"))
}

/// File name of a finished part.
pub fn part_name(part: u32) -> String {
    format!("part-{part}.parquet")
}

/// The directory chunk files are written in until their chunk is complete: hidden (leading
/// dot, which pyarrow, polars and DuckDB skip) and outside every compartment's Hive tree,
/// so no scan of a compartment ever sees a file that is still being written.
pub const STAGING: &str = ".neurorec-staging";

/// Where the file `rel` (a finished part's path relative to the archive root) is written
/// until its chunk is complete: `.neurorec-staging/<rel>.staged` (no `.parquet` ending, so
/// not even a glob over hidden directories matches it).
pub fn staged_path(rel: &Path) -> PathBuf {
    let mut name = rel.as_os_str().to_owned();
    name.push(".staged");
    Path::new(STAGING).join(name)
}

/// Removes the empty directories below `root` (bottom up), and `root` itself when it ends
/// empty. Only for a writer that holds the archive exclusively: another writer may be about
/// to use an empty directory.
pub fn prune_empty_dirs(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            prune_empty_dirs(&e.path());
        }
    }
    let _ = std::fs::remove_dir(root);
}

/// `dir/rel` when `rel` is a relative path without `..`, root or prefix components (a path
/// a manifest may name); an error otherwise, so a damaged or hand-edited manifest cannot
/// make neurorec read or write outside the archive.
pub fn confined(dir: &Path, rel: &str) -> Result<PathBuf, ArchiveError> {
    let path = Path::new(rel);
    let inside = !rel.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if inside {
        Ok(dir.join(path))
    } else {
        Err(ArchiveError::Corrupt {
            path: dir.to_path_buf(),
            what: format!(
                "the manifest names the file \"{rel}\", which is not inside the archive; the manifest was changed or damaged (`neurorec validate` lists every problem)"
            ),
        })
    }
}

/// Crash injection for the crash-safety tests: with `NEUROREC_CRASH_AT=<point>:<n>` in the
/// environment, the process aborts the `n`-th time it reaches `point` (`file_written`,
/// `file_renamed`, `journal_written`, `manifest_written`, `batch`). Without the variable this is a no-op.
pub(crate) fn crash_point(point: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    static TARGET: OnceLock<Option<(String, u32)>> = OnceLock::new();
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let target = TARGET.get_or_init(|| {
        let value = std::env::var("NEUROREC_CRASH_AT").ok()?;
        let (name, n) = value.split_once(':')?;
        Some((name.to_string(), n.parse().ok()?))
    });
    if let Some((name, n)) = target {
        if name == point && COUNT.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            std::process::abort();
        }
    }
}
