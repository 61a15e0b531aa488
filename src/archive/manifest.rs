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

fn is_zero(x: &i64) -> bool {
    *x == 0
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
    /// Steps simulated in dropped (empty) chunks since the previous chunk of the set.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_steps: i64,
    pub files: Vec<FileEntry>,
    /// Period tables of every compartment (known when complete), the same as in the files'
    /// footers: the fast path for rebuilding recording times of archives with many chunks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub periods: Vec<CompartmentPeriods>,
}

/// A compartment's recording periods in one chunk, as step pairs `[start, pause)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompartmentPeriods {
    pub compartment: String,
    pub period_steps: i64,
    pub pairs: Vec<(i64, i64)>,
}

/// Whether a run's writer finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// The writer has not finished: it is still writing, or it stopped without finishing
    /// (killed, crashed) when no process holds the archive's lock.
    Running,
    /// The writer finished: every set ended and the manifest is final.
    Complete,
    /// `neurorec repair` found the run stopped and marked it; its complete chunks are
    /// intact, what it was writing is gone.
    Interrupted,
}

/// The status of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    pub run: u32,
    pub status: RunStatus,
}

/// A figure drawn into the archive (`DIR/figures/...`) by a pipeline's `[[plots]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureEntry {
    /// Path relative to the archive root.
    pub path: String,
    pub bytes: u64,
    /// CRC-32 (IEEE) of the whole file, as 8 hex digits.
    pub crc32: String,
}

/// A line of a journal that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalProblem {
    /// The journal file, relative to the archive root.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// The last line, without its newline: the writer stopped while appending it (that
    /// change did not happen). Any other bad line means the journal was damaged.
    pub torn: bool,
    pub what: String,
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
    /// Every run this manifest describes, with its status (archives written before run
    /// records existed have none).
    #[serde(default)]
    pub runs: Vec<RunEntry>,
    /// Figures drawn into the archive after the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<FigureEntry>,
    /// The connectivity of each projection, once per run
    /// (`<projection>/synapses/run=<r>/part-0.parquet`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connectivity: Vec<FigureEntry>,
    /// Lines of the journals that could not be read (found when loading; never stored).
    #[serde(skip)]
    pub journal_problems: Vec<JournalProblem>,
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
            runs: Vec::new(),
            figures: Vec::new(),
            connectivity: Vec::new(),
            journal_problems: Vec::new(),
        }
    }

    /// The status of `run` (`None` for archives written before run records existed).
    pub fn run_status(&self, run: u32) -> Option<RunStatus> {
        self.runs.iter().find(|r| r.run == run).map(|r| r.status)
    }

    /// Sets the status of `run`.
    pub fn set_run_status(&mut self, run: u32, status: RunStatus) {
        match self.runs.iter_mut().find(|r| r.run == run) {
            Some(r) => r.status = status,
            None => self.runs.push(RunEntry { run, status }),
        }
    }

    /// Every file the manifest lists, relative to the archive root: chunk files and
    /// figures.
    pub fn listed_files(&self) -> impl Iterator<Item = &str> {
        self.chunks
            .iter()
            .flat_map(|c| c.files.iter().map(|f| f.path.as_str()))
            .chain(self.figures.iter().map(|f| f.path.as_str()))
            .chain(self.connectivity.iter().map(|f| f.path.as_str()))
    }

    /// Writes the manifest to `dir/<stem>.json` atomically: temporary file, fsync, rename,
    /// fsync of the directory. The stem is `manifest`, or `manifest-run=<r>` for a run of a
    /// sweep (each run, possibly in its own process, has its own manifest).
    pub fn store(&self, dir: &Path, stem: &str, sync: bool) -> Result<(), ArchiveError> {
        let tmp = dir.join(format!(".{stem}.json.{}.tmp", std::process::id()));
        let path = dir.join(format!("{stem}.json"));
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
        super::crash_point("manifest_stored");
        Ok(())
    }

    /// Reads every manifest of the archive at `dir` (`manifest.json` and the per-run
    /// manifests of a sweep), each with its journal, merged into one.
    pub fn load(dir: &Path) -> Result<Self, ArchiveError> {
        let stems = manifest_stems(dir).unwrap_or_default();
        let Some(first) = stems.first() else {
            return Err(ArchiveError::NotAnArchive {
                path: dir.to_path_buf(),
                reason: format!(
                    "there is no {MANIFEST}; pass the directory given to `--out` of the run"
                ),
            });
        };
        let mut merged = Self::load_with_journal(dir, first)?;
        for stem in &stems[1..] {
            let other = Self::load_with_journal(dir, stem)?;
            merged.chunks.extend(other.chunks);
            merged.sets.extend(other.sets);
            merged.runs.extend(other.runs);
            merged.figures.extend(other.figures);
            merged.connectivity.extend(other.connectivity);
            merged.journal_problems.extend(other.journal_problems);
        }
        Ok(merged)
    }

    /// Reads one manifest file, `dir/<stem>.json`.
    pub fn load_file(dir: &Path, stem: &str) -> Result<Self, ArchiveError> {
        let path = dir.join(format!("{stem}.json"));
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

/// The manifests of the archive at `dir`, as file stems, sorted: `manifest` (a single run)
/// and `manifest-run=<r>` (the runs of a sweep).
pub fn manifest_stems(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut stems: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".json")?;
            (stem == "manifest" || stem.starts_with("manifest-run=")).then(|| stem.to_string())
        })
        .collect();
    stems.sort();
    Ok(stems)
}

/// Syncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ArchiveError::io(dir))
}

/// Name of the append-only journal beside the manifest of a single run.
pub const JOURNAL: &str = "manifest.journal";

/// How many chunk events the journal collects before the manifest is replaced.
const CHECKPOINT_EVERY: usize = 64;

/// One change of the manifest, appended to the journal as a JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalEntry {
    /// A chunk began or was completed (replaces the entry of the same run, set and chunk).
    Chunk(ChunkEntry),
    /// A set ended.
    Set(SetEntry),
    /// A chunk was dropped (nothing recorded in it).
    Remove { run: u32, set: u32, chunk: u32 },
}

impl Manifest {
    /// Applies one journal entry (idempotent: replaying an entry twice changes nothing).
    pub fn apply(&mut self, entry: JournalEntry) {
        match entry {
            JournalEntry::Chunk(c) => {
                match self
                    .chunks
                    .iter_mut()
                    .find(|e| e.run == c.run && e.set == c.set && e.chunk == c.chunk)
                {
                    Some(e) => *e = c,
                    None => self.chunks.push(c),
                }
            }
            JournalEntry::Set(s) => {
                self.sets.retain(|e| !(e.run == s.run && e.set == s.set));
                self.sets.push(s);
            }
            JournalEntry::Remove { run, set, chunk } => {
                self.chunks
                    .retain(|e| !(e.run == run && e.set == set && e.chunk == chunk));
            }
        }
    }

    /// Reads the manifest and replays its journal. A torn last line (the process stopped
    /// while appending it) is ignored: that change did not happen. Any other line that
    /// cannot be read is skipped too; both are listed in `journal_problems` (with the line
    /// number) for `validate` to report.
    pub fn load_with_journal(dir: &Path, stem: &str) -> Result<Self, ArchiveError> {
        let mut manifest = Self::load_file(dir, stem)?;
        let name = format!("{stem}.journal");
        let path = dir.join(&name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let complete = bytes.ends_with(b"\n");
                let lines: Vec<&[u8]> = bytes
                    .strip_suffix(b"\n")
                    .unwrap_or(&bytes)
                    .split(|b| *b == b'\n')
                    .filter(|_| !bytes.is_empty())
                    .collect();
                let last = lines.len();
                for (i, line) in lines.into_iter().enumerate() {
                    match serde_json::from_slice::<JournalEntry>(line) {
                        Ok(entry) if i + 1 < last || complete => manifest.apply(entry),
                        Ok(_) | Err(_) => manifest.journal_problems.push(JournalProblem {
                            file: name.clone(),
                            line: i + 1,
                            torn: i + 1 == last && !complete,
                            what: match serde_json::from_slice::<JournalEntry>(line) {
                                Err(e) => e.to_string(),
                                Ok(_) => {
                                    "the line has no end (the writer stopped while appending it)"
                                        .into()
                                }
                            },
                        }),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ArchiveError::Io { path, source: e }),
        }
        Ok(manifest)
    }
}

/// Keeps the manifest of an archive being written durable: every change is appended to the
/// journal (and synced) at once; the manifest itself is replaced atomically every
/// `CHECKPOINT_EVERY` changes, at the end of every set and when writing ends, and the
/// journal then starts empty. Rewriting only now and then keeps the cost of a run with
/// many thousands of chunks linear.
#[derive(Debug)]
pub struct ManifestWriter {
    dir: std::path::PathBuf,
    stem: String,
    manifest: Manifest,
    journal: Option<std::fs::File>,
    pending: usize,
    sync: bool,
}

impl ManifestWriter {
    /// Stores `manifest` as `dir/<stem>.json` and starts an empty journal.
    pub fn create(
        dir: &Path,
        stem: &str,
        manifest: Manifest,
        sync: bool,
    ) -> Result<Self, ArchiveError> {
        let mut w = Self {
            dir: dir.to_path_buf(),
            stem: stem.to_string(),
            manifest,
            journal: None,
            pending: 0,
            sync,
        };
        w.checkpoint()?;
        Ok(w)
    }

    /// The manifest with every change so far.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Applies a change and makes it durable.
    pub fn record(&mut self, entry: JournalEntry) -> Result<(), ArchiveError> {
        let path = self.dir.join(format!("{}.journal", self.stem));
        let mut line = serde_json::to_vec(&entry).map_err(|e| ArchiveError::Corrupt {
            path: path.clone(),
            what: e.to_string(),
        })?;
        line.push(b'\n');
        if self.journal.is_none() {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(ArchiveError::io(&path))?;
            self.journal = Some(file);
        }
        if let Some(file) = self.journal.as_mut() {
            file.write_all(&line).map_err(ArchiveError::io(&path))?;
            if self.sync {
                file.sync_data().map_err(ArchiveError::io(&path))?;
            }
        }
        super::crash_point("journal_written");
        self.manifest.apply(entry);
        self.pending += 1;
        if self.pending >= CHECKPOINT_EVERY {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Sets a run's status (durable at the next checkpoint).
    pub fn set_run_status(&mut self, run: u32, status: RunStatus) {
        self.manifest.set_run_status(run, status);
    }

    /// Replaces the manifest atomically with every change so far and empties the journal.
    pub fn checkpoint(&mut self) -> Result<(), ArchiveError> {
        self.manifest.store(&self.dir, &self.stem, self.sync)?;
        self.journal = None;
        let path = self.dir.join(format!("{}.journal", self.stem));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ArchiveError::Io { path, source: e }),
        }
        self.pending = 0;
        Ok(())
    }
}

/// Adds figures to the manifest of the single-run archive at `lock`'s directory (stored
/// atomically); the lock proves no other writer runs there.
pub fn add_figures(
    lock: &super::ArchiveLock,
    figures: Vec<FigureEntry>,
) -> Result<(), ArchiveError> {
    update_held(lock, |m| {
        for f in figures {
            m.figures.retain(|e| e.path != f.path);
            m.figures.push(f);
        }
    })
}

/// Adds connectivity files to the manifest of the run that `lock` holds, as
/// [`add_figures`] does for figures.
pub fn add_connectivity(
    lock: &super::ArchiveLock,
    files: Vec<FigureEntry>,
) -> Result<(), ArchiveError> {
    update_held(lock, |m| {
        for f in files {
            m.connectivity.retain(|e| e.path != f.path);
            m.connectivity.push(f);
        }
    })
}

/// Changes the manifest of the run (or single-run archive) that `lock` holds and stores it
/// atomically.
fn update_held(
    lock: &super::ArchiveLock,
    change: impl FnOnce(&mut Manifest),
) -> Result<(), ArchiveError> {
    let dir = lock.dir();
    let stem = match lock.run() {
        Some(r) => format!("manifest-run={r}"),
        None => "manifest".to_string(),
    };
    let mut manifest = Manifest::load_with_journal(dir, &stem)?;
    change(&mut manifest);
    manifest.store(dir, &stem, true)
}
