//! Reading an archive: the manifest, each file's footer metadata, recording times rebuilt
//! from footers alone, and a chunk's variables and spikes (whole or a time window, skipping
//! row groups by their `step` statistics).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int64Type, UInt32Type};
use arrow_array::RecordBatch;
use ndarray::Array2;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;

use super::manifest::{ChunkEntry, ChunkStatus, FileEntry, Manifest};
use super::meta::FileMeta;
use super::{ArchiveError, Kind};
use crate::recordings::{ChunkRecordings, CompartmentRecording};
use crate::sim::TimeGrid;
use crate::times::{ChunkTimes, CompartmentTimes, RecordingTimes};

/// Identifies one chunk of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkRef {
    pub run: u32,
    pub set: u32,
    pub chunk: u32,
}

/// Bytes the reader has read from Parquet files (footers and data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadStats {
    pub footer_bytes: u64,
    pub data_bytes: u64,
}

/// The largest footer read (neurorec's are kilobytes, a part's with many row groups a few
/// megabytes).
const MAX_FOOTER: u64 = 256 << 20;

/// An archive opened for reading.
#[derive(Debug)]
pub struct Archive {
    dir: PathBuf,
    manifest: Manifest,
    footer_bytes: AtomicU64,
    data_bytes: AtomicU64,
}

impl Archive {
    /// Opens the archive at `dir` (reads its manifest).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, ArchiveError> {
        let dir = dir.as_ref().to_path_buf();
        let manifest = Manifest::load(&dir)?;
        Ok(Self {
            dir,
            manifest,
            footer_bytes: AtomicU64::new(0),
            data_bytes: AtomicU64::new(0),
        })
    }

    /// The archive directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Bytes read from Parquet files so far.
    pub fn read_stats(&self) -> ReadStats {
        ReadStats {
            footer_bytes: self.footer_bytes.load(Ordering::Relaxed),
            data_bytes: self.data_bytes.load(Ordering::Relaxed),
        }
    }

    /// Runs present, ascending: every run the manifest records, also one stopped before its
    /// first chunk began.
    pub fn runs(&self) -> Vec<u32> {
        let mut runs: Vec<u32> = self
            .manifest
            .chunks
            .iter()
            .map(|c| c.run)
            .chain(self.manifest.sets.iter().map(|s| s.run))
            .chain(self.manifest.runs.iter().map(|r| r.run))
            .collect();
        runs.sort_unstable();
        runs.dedup();
        runs
    }

    /// Sets of a run, ascending.
    pub fn sets(&self, run: u32) -> Vec<u32> {
        let mut sets: Vec<u32> = self
            .manifest
            .chunks
            .iter()
            .filter(|c| c.run == run)
            .map(|c| c.set)
            .chain(
                self.manifest
                    .sets
                    .iter()
                    .filter(|s| s.run == run)
                    .map(|s| s.set),
            )
            .collect();
        sets.sort_unstable();
        sets.dedup();
        sets
    }

    /// Complete chunks of a run and set, in order.
    pub fn chunks(&self, run: u32, set: u32) -> Vec<&ChunkEntry> {
        let mut chunks: Vec<&ChunkEntry> = self
            .manifest
            .chunks
            .iter()
            .filter(|c| c.run == run && c.set == set && c.status == ChunkStatus::Complete)
            .collect();
        chunks.sort_by_key(|c| c.chunk);
        chunks
    }

    /// Chunks that were begun but not completed (the writer stopped before their end).
    pub fn unfinished(&self) -> Vec<&ChunkEntry> {
        self.manifest
            .chunks
            .iter()
            .filter(|c| c.status != ChunkStatus::Complete)
            .collect()
    }

    fn entry(&self, at: ChunkRef) -> Result<&ChunkEntry, ArchiveError> {
        self.manifest
            .chunks
            .iter()
            .find(|c| c.run == at.run && c.set == at.set && c.chunk == at.chunk)
            .ok_or_else(|| self.not_found(format!("run {} set {} chunk {}", at.run, at.set, at.chunk)))
            .and_then(|c| {
                if c.status == ChunkStatus::Complete {
                    Ok(c)
                } else {
                    Err(ArchiveError::Corrupt {
                        path: self.dir.clone(),
                        what: format!(
                            "run {} set {} chunk {} is unfinished (the run stopped while writing it); only complete chunks can be read",
                            at.run, at.set, at.chunk
                        ),
                    })
                }
            })
    }

    fn not_found(&self, what: String) -> ArchiveError {
        let known = self
            .manifest
            .chunks
            .iter()
            .map(|c| {
                format!(
                    "run {} set {} chunk {} ({:?})",
                    c.run, c.set, c.chunk, c.status
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        ArchiveError::NotFound {
            path: self.dir.clone(),
            what,
            known: if known.is_empty() {
                "no chunks".into()
            } else {
                known
            },
        }
    }

    fn files<'a>(
        &self,
        entry: &'a ChunkEntry,
        compartment: &str,
        kind: Kind,
    ) -> Vec<&'a FileEntry> {
        let mut files: Vec<&FileEntry> = entry
            .files
            .iter()
            .filter(|f| f.compartment == compartment && f.kind == kind)
            .collect();
        files.sort_by_key(|f| f.part);
        files
    }

    /// Where the file the manifest names `rel` is: its place in the archive, or, for a
    /// chunk whose writer stopped after completing it but before moving its files into
    /// place, the staging directory (`neurorec repair` moves them). `rel` must lie inside
    /// the archive.
    pub fn path_of(&self, rel: &str) -> Result<PathBuf, ArchiveError> {
        let path = super::confined(&self.dir, rel)?;
        if std::fs::symlink_metadata(&path).is_err() {
            let staged = self.dir.join(super::staged_path(Path::new(rel)));
            if std::fs::symlink_metadata(&staged).is_ok() {
                return Ok(staged);
            }
        }
        Ok(path)
    }

    /// Opens the file the manifest names `rel` for reading; only a regular file (not a
    /// link, device or FIFO) is opened.
    pub fn open_file(&self, rel: &str) -> Result<(PathBuf, File), ArchiveError> {
        let path = self.path_of(rel)?;
        let not_plain = |path: PathBuf| {
            ArchiveError::Corrupt {
            path,
            what: "is not a regular file (a link, directory, device or FIFO), or lies outside the archive through a link; an archive's files are plain files inside it".into(),
        }
        };
        let meta = std::fs::symlink_metadata(&path).map_err(ArchiveError::io(&path))?;
        if !meta.is_file() {
            return Err(not_plain(path));
        }
        // Links in the directories above are not followed out of the archive.
        let inside = match (
            std::fs::canonicalize(&path),
            std::fs::canonicalize(&self.dir),
        ) {
            (Ok(file), Ok(dir)) => file.starts_with(dir),
            _ => false,
        };
        if !inside {
            return Err(not_plain(path));
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        // Opened without following a link and without waiting (a FIFO swapped in after the
        // check above), then checked again on the open file.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(
            &mut options,
            libc::O_NOFOLLOW | libc::O_NONBLOCK,
        );
        let file = options.open(&path).map_err(ArchiveError::io(&path))?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(not_plain(path));
        }
        Ok((path, file))
    }

    /// Reads the file `f` whole, in blocks of bounded size, and checks its size and CRC-32
    /// against the manifest.
    pub fn verify(&self, f: &FileEntry) -> Result<(), ArchiveError> {
        let (path, mut file) = self.open_file(&f.path)?;
        let mut hasher = crc32fast::Hasher::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buffer).map_err(ArchiveError::io(&path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            bytes += n as u64;
            if bytes > f.bytes {
                break;
            }
        }
        let crc = format!("{:08x}", hasher.finalize());
        if bytes != f.bytes || crc != f.crc32 {
            return Err(ArchiveError::Corrupt {
                path,
                what: if bytes != f.bytes {
                    format!("{bytes} bytes (or more), the manifest says {}; the file was changed or damaged", f.bytes)
                } else {
                    format!(
                        "checksum {crc}, the manifest says {}; the file was changed or damaged",
                        f.crc32
                    )
                },
            });
        }
        Ok(())
    }

    /// Reads a file's footer (and nothing else).
    pub fn footer(&self, rel: &str) -> Result<ParquetMetaData, ArchiveError> {
        let (path, mut file) = self.open_file(rel)?;
        let len = file.metadata().map_err(ArchiveError::io(&path))?.len();
        let corrupt = |what: &str| ArchiveError::Corrupt {
            path: path.clone(),
            what: what.to_string(),
        };
        if len < 12 {
            return Err(corrupt("too short to be a Parquet file"));
        }
        let mut tail = [0u8; 8];
        file.seek(SeekFrom::Start(len - 8))
            .map_err(ArchiveError::io(&path))?;
        file.read_exact(&mut tail)
            .map_err(ArchiveError::io(&path))?;
        if &tail[4..] != b"PAR1" {
            return Err(corrupt("no Parquet footer (the file is incomplete)"));
        }
        let footer_len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
        if footer_len + 12 > len {
            return Err(corrupt("footer length exceeds the file"));
        }
        // neurorec's footers are kilobytes; a damaged length must not allocate gigabytes.
        if footer_len > MAX_FOOTER {
            return Err(corrupt(
                "footer larger than any neurorec writes (the file is damaged)",
            ));
        }
        let mut footer = vec![0u8; footer_len as usize];
        file.seek(SeekFrom::Start(len - 8 - footer_len))
            .map_err(ArchiveError::io(&path))?;
        file.read_exact(&mut footer)
            .map_err(ArchiveError::io(&path))?;
        self.footer_bytes
            .fetch_add(footer_len + 8, Ordering::Relaxed);
        ParquetMetaDataReader::decode_metadata(&footer).map_err(ArchiveError::parquet(&path))
    }

    /// The neurorec metadata of a file, from its footer.
    pub fn file_meta(&self, rel: &str) -> Result<FileMeta, ArchiveError> {
        self.meta_in(rel, &self.footer(rel)?)
    }

    /// The neurorec metadata in the footer `metadata` already read from the file `rel`.
    pub fn meta_in(&self, rel: &str, metadata: &ParquetMetaData) -> Result<FileMeta, ArchiveError> {
        let kvs = metadata
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        FileMeta::from_key_values(&kvs).map_err(|what| ArchiveError::Corrupt {
            path: self.path_of(rel).unwrap_or_else(|_| self.dir.clone()),
            what,
        })
    }

    fn first_meta(&self, entry: &ChunkEntry, compartment: &str) -> Result<FileMeta, ArchiveError> {
        let file = self
            .files(entry, compartment, Kind::State)
            .into_iter()
            .chain(self.files(entry, compartment, Kind::Spikes))
            .next()
            .ok_or_else(|| {
                self.not_found(format!(
                    "files of {compartment} in run {} set {} chunk {}",
                    entry.run, entry.set, entry.chunk
                ))
            })?;
        self.file_meta(&file.path)
    }

    /// A chunk's simulated step range as `ChunkTimes` holds it, checked together with its
    /// period tables: the steps come from the manifest or a footer, which may be damaged.
    fn chunk_steps(
        &self,
        entry: &ChunkEntry,
        (first, end, skipped): (i64, i64, i64),
        periods: &[(i64, &[(i64, i64)])],
    ) -> Result<(i64, i64, i64), ArchiveError> {
        // Steps beyond 2^53 have no exact time in ms; no simulation gets near them.
        const LIMIT: i64 = 1 << 53;
        let fine = (0..=LIMIT).contains(&first.abs())
            && (0..=LIMIT).contains(&end.abs())
            && (0..=LIMIT).contains(&skipped)
            && first <= end
            && periods.iter().all(|&(period_steps, pairs)| {
                (1..=LIMIT).contains(&period_steps)
                    && pairs
                        .iter()
                        .all(|&(s0, s1)| first <= s0 && s0 <= s1 && s1 <= end)
            });
        if fine {
            Ok((first, end, skipped))
        } else {
            Err(ArchiveError::Corrupt {
                path: self.dir.join("manifest.json"),
                what: format!(
                    "run {} set {} chunk {}: simulated steps {first}..{end} with {skipped} skipped steps and the period tables do not fit together (first <= start <= stop <= end, skipped >= 0, periods >= 1 step, all within 2^53); the manifest or a file footer was changed or damaged, `neurorec validate` tells which",
                    entry.run, entry.set, entry.chunk
                ),
            })
        }
    }

    /// RecordingTimes of a run and set, from metadata alone: the period tables the manifest
    /// keeps for every complete chunk, or the file footers where it has none.
    pub fn recording_times(&self, run: u32, set: u32) -> Result<RecordingTimes, ArchiveError> {
        let grid = TimeGrid::new(self.manifest.dt_ms).map_err(|e| ArchiveError::Corrupt {
            path: self.dir.clone(),
            what: e.to_string(),
        })?;
        let chunks = self.chunks(run, set);
        let complete = |entry: &&ChunkEntry| {
            entry.end_step.is_some()
                && self
                    .manifest
                    .compartments
                    .iter()
                    .all(|name| entry.periods.iter().any(|p| &p.compartment == name))
        };
        if chunks.is_empty() || !chunks.iter().all(complete) {
            return self.recording_times_from_footers(run, set);
        }
        let mut out = Vec::with_capacity(chunks.len());
        for entry in chunks {
            let periods: Vec<_> = self
                .manifest
                .compartments
                .iter()
                .filter_map(|name| entry.periods.iter().find(|p| &p.compartment == name))
                .collect();
            let tables: Vec<_> = periods
                .iter()
                .map(|p| (p.period_steps, p.pairs.as_slice()))
                .collect();
            let (first_step, end_step, skipped_steps) = self.chunk_steps(
                entry,
                (
                    entry.first_step,
                    entry.end_step.unwrap_or(entry.first_step),
                    entry.skipped_steps,
                ),
                &tables,
            )?;
            let compartments = periods
                .iter()
                .map(|p| {
                    CompartmentTimes::from_pairs(
                        &p.compartment,
                        p.period_steps,
                        p.pairs.clone(),
                        &grid,
                    )
                })
                .collect();
            out.push(ChunkTimes {
                first_step,
                end_step,
                skipped_steps,
                compartments,
            });
        }
        Ok(RecordingTimes::new(self.manifest.dt_ms, out))
    }

    /// RecordingTimes of a run and set rebuilt from the file footers alone (no data page is
    /// read); `validate` compares them with the manifest.
    pub fn recording_times_from_footers(
        &self,
        run: u32,
        set: u32,
    ) -> Result<RecordingTimes, ArchiveError> {
        let grid = TimeGrid::new(self.manifest.dt_ms).map_err(|e| ArchiveError::Corrupt {
            path: self.dir.clone(),
            what: e.to_string(),
        })?;
        let chunks = self.chunks(run, set);
        if chunks.is_empty() && !self.sets(run).contains(&set) {
            return Err(self.not_found(format!("run {run} set {set}")));
        }
        let mut out = Vec::with_capacity(chunks.len());
        for entry in chunks {
            let mut metas = Vec::with_capacity(self.manifest.compartments.len());
            let mut range = (entry.first_step, entry.end_step.unwrap_or(entry.first_step));
            let mut skipped_steps = entry.skipped_steps;
            for name in &self.manifest.compartments {
                let meta = self.first_meta(entry, name)?;
                range = (meta.chunk_first_step, meta.chunk_end_step);
                skipped_steps = meta.chunk_skipped_steps;
                metas.push((name, meta.period_steps, meta.pairs()));
            }
            let tables: Vec<_> = metas
                .iter()
                .map(|(_, period, pairs)| (*period, pairs.as_slice()))
                .collect();
            let (first_step, end_step, skipped_steps) =
                self.chunk_steps(entry, (range.0, range.1, skipped_steps), &tables)?;
            let compartments = metas
                .into_iter()
                .map(|(name, period, pairs)| {
                    CompartmentTimes::from_pairs(name, period, pairs, &grid)
                })
                .collect();
            out.push(ChunkTimes {
                first_step,
                end_step,
                skipped_steps,
                compartments,
            });
        }
        Ok(RecordingTimes::new(self.manifest.dt_ms, out))
    }

    /// Reads `[step, neuron, columns...]` of a compartment's files in a chunk, keeping rows
    /// with `window` (steps, end exclusive) and skipping row groups outside it. A
    /// projection's state (`synapses`) has no `neuron` column: each row gets its index
    /// within its sample (the synapse's column in the recorded arrays) instead.
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        entry: &ChunkEntry,
        compartment: &str,
        kind: Kind,
        columns: &[&str],
        window: Option<(i64, i64)>,
        synapses: bool,
        mut each: impl FnMut(&[i64], &[u32], &[&[f64]]),
    ) -> Result<(), ArchiveError> {
        for file in self.files(entry, compartment, kind) {
            let (path, handle) = self.open_file(&file.path)?;
            let unit = if synapses { None } else { Some("neuron") };
            let reader = self.window_reader(&path, handle, unit, columns, window)?;
            // The sample (step) the last row belonged to and the row's index within it.
            let mut counter = (i64::MIN, 0u32);
            // Decoding runs on its own thread, one batch ahead of `each`: the two overlap.
            std::thread::scope(|scope| -> Result<(), ArchiveError> {
                let (tx, rx) = std::sync::mpsc::sync_channel(2);
                scope.spawn(move || {
                    for batch in reader {
                        if tx.send(batch).is_err() {
                            break;
                        }
                    }
                });
                for batch in rx {
                    let batch = batch.map_err(|e| ArchiveError::Corrupt {
                        path: path.clone(),
                        what: e.to_string(),
                    })?;
                    let counter = synapses.then_some(&mut counter);
                    pass_batch(&batch, &path, columns, window, counter, &mut each)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Opens the Parquet file at `path` for reading `step`, `unit` (`neuron`) and `columns`
    /// from the row groups that `window` may touch.
    fn window_reader(
        &self,
        path: &Path,
        handle: File,
        unit: Option<&str>,
        columns: &[&str],
        window: Option<(i64, i64)>,
    ) -> Result<ParquetRecordBatchReader, ArchiveError> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(handle)
            .map_err(ArchiveError::parquet(path))?;
        let meta = builder.metadata().clone();
        let schema = builder.parquet_schema();
        let names: Vec<&str> = std::iter::once("step")
            .chain(unit)
            .chain(columns.iter().copied())
            .collect();
        let mask = ProjectionMask::columns(schema, names.iter().copied());
        let step_col = schema.columns().iter().position(|c| c.name() == "step");
        let groups = self.window_groups(&meta, step_col, window);
        builder
            .with_projection(mask)
            .with_row_groups(groups)
            .with_batch_size(1 << 16)
            .build()
            .map_err(ArchiveError::parquet(path))
    }

    /// Indices of the row groups whose `step` statistics (column `step_col`) may overlap
    /// `window` (all of them without a window or statistics); counts their compressed bytes
    /// as data read.
    fn window_groups(
        &self,
        meta: &ParquetMetaData,
        step_col: Option<usize>,
        window: Option<(i64, i64)>,
    ) -> Vec<usize> {
        let mut groups = Vec::new();
        for (i, rg) in meta.row_groups().iter().enumerate() {
            let keep = match (window, step_col.and_then(|c| rg.column(c).statistics())) {
                (Some((lo, hi)), Some(Statistics::Int64(s))) => match (s.min_opt(), s.max_opt()) {
                    (Some(min), Some(max)) => *max >= lo && *min < hi,
                    _ => true,
                },
                _ => true,
            };
            if keep {
                groups.push(i);
                self.data_bytes
                    .fetch_add(rg.compressed_size() as u64, Ordering::Relaxed);
            }
        }
        groups
    }

    fn window_steps(&self, window_ms: Option<(f64, f64)>) -> Option<(i64, i64)> {
        window_ms.map(|(a, b)| {
            let dt = self.manifest.dt_ms;
            (
                // Float-to-int casts saturate; the end must not overflow either.
                (a / dt - 1e-9).ceil() as i64,
                ((b / dt + 1e-9).floor() as i64).saturating_add(1),
            )
        })
    }

    /// The file metadata of a compartment in a chunk (neurons, variables, period table, ...).
    pub fn compartment_meta(
        &self,
        at: ChunkRef,
        compartment: &str,
    ) -> Result<FileMeta, ArchiveError> {
        let entry = self.entry(at)?;
        self.first_meta(entry, compartment)
    }

    /// Streams a chunk's `state` rows of a compartment batch by batch, sorted by step then
    /// neuron: `each(steps, neurons, values)` with one value slice per requested variable.
    /// With `window_ms = (t0, t1)` only rows with `t0 <= time <= t1` are passed and row
    /// groups outside the window are not read. Memory stays bounded by one batch.
    pub fn scan_state(
        &self,
        at: ChunkRef,
        compartment: &str,
        variables: &[&str],
        window_ms: Option<(f64, f64)>,
        each: impl FnMut(&[i64], &[u32], &[&[f64]]),
    ) -> Result<(), ArchiveError> {
        let entry = self.entry(at)?;
        let meta = self.first_meta(entry, compartment)?;
        if let Some(missing) = variables
            .iter()
            .find(|v| !meta.variables.iter().any(|m| m == *v))
        {
            return Err(self.not_found(format!(
                "variable \"{missing}\" of {compartment} (recorded: {})",
                meta.variables.join(", ")
            )));
        }
        self.scan(
            entry,
            compartment,
            Kind::State,
            variables,
            self.window_steps(window_ms),
            meta.projection.is_some(),
            each,
        )
    }

    /// A chunk's recording of `variable` as `[samples, neurons]` with the step of each
    /// sample; with `window_ms = (t0, t1)` only samples with `t0 <= time <= t1`.
    pub fn read_state(
        &self,
        at: ChunkRef,
        compartment: &str,
        variable: &str,
        window_ms: Option<(f64, f64)>,
    ) -> Result<(Vec<i64>, Array2<f64>), ArchiveError> {
        let entry = self.entry(at)?;
        let meta = self.first_meta(entry, compartment)?;
        if !meta.variables.iter().any(|v| v == variable) {
            return Err(self.not_found(format!(
                "variable \"{variable}\" of {compartment} (recorded: {})",
                meta.variables.join(", ")
            )));
        }
        let n = meta.neurons;
        let mut steps = Vec::new();
        let mut data = Vec::new();
        let mut expected_neuron = 0usize;
        let mut bad = None;
        self.scan(
            entry,
            compartment,
            Kind::State,
            &[variable],
            self.window_steps(window_ms),
            meta.projection.is_some(),
            |s, nrn, vals| {
                for i in 0..s.len() {
                    if nrn[i] as usize != expected_neuron {
                        bad.get_or_insert(format!(
                            "rows out of order at step {} neuron {}",
                            s[i], nrn[i]
                        ));
                    }
                    if expected_neuron == 0 {
                        steps.push(s[i]);
                    }
                    expected_neuron = (expected_neuron + 1) % n.max(1);
                }
                data.extend_from_slice(vals[0]);
            },
        )?;
        let path = self.dir.clone();
        if let Some(what) = bad {
            return Err(ArchiveError::Corrupt { path, what });
        }
        if n == 0 {
            // No rows to count samples by (a projection without synapses): the samples are
            // the period table's.
            let window = self.window_steps(window_ms);
            steps = meta
                .pairs()
                .into_iter()
                .flat_map(|(s0, s1)| {
                    let (first, _, count) =
                        crate::times::pair_samples(s0, s1, meta.period_steps.max(1));
                    (0..count).map(move |k| first + k * meta.period_steps.max(1))
                })
                .filter(|s| window.is_none_or(|(lo, hi)| *s >= lo && *s < hi))
                .collect();
        }
        let samples = steps.len();
        let array =
            Array2::from_shape_vec((samples, n), data).map_err(|e| ArchiveError::Corrupt {
                path,
                what: format!("{compartment};{variable}: {e}"),
            })?;
        Ok((steps, array))
    }

    /// A chunk's spikes of a compartment: for each neuron the steps at which it spiked;
    /// with `window_ms` only spikes with `t0 <= time <= t1`.
    pub fn read_spikes(
        &self,
        at: ChunkRef,
        compartment: &str,
        window_ms: Option<(f64, f64)>,
    ) -> Result<Vec<Vec<i64>>, ArchiveError> {
        let entry = self.entry(at)?;
        let meta = self.first_meta(entry, compartment)?;
        if self.files(entry, compartment, Kind::Spikes).is_empty() {
            return Err(self.not_found(format!("spikes of {compartment} (not recorded)")));
        }
        let mut spikes = vec![Vec::new(); meta.neurons];
        let mut bad = None;
        self.scan(
            entry,
            compartment,
            Kind::Spikes,
            &[],
            self.window_steps(window_ms),
            false,
            |s, nrn, _| {
                for (step, neuron) in s.iter().zip(nrn) {
                    match spikes.get_mut(*neuron as usize) {
                        Some(list) => list.push(*step),
                        None => {
                            bad.get_or_insert(format!(
                                "spike of neuron {neuron} in a population of {}",
                                meta.neurons
                            ));
                        }
                    }
                }
            },
        )?;
        if let Some(what) = bad {
            return Err(ArchiveError::Corrupt {
                path: self.dir.clone(),
                what,
            });
        }
        Ok(spikes)
    }

    /// The `(post, pre)` of each synapse a projection's state holds in a chunk, in the order
    /// of the columns of [`Archive::read_state`] (the rows of its first sample; in a chunk
    /// without samples, the run's connectivity table ordered by post, then pre, or nothing
    /// when the run wrote none).
    pub fn read_synapses(
        &self,
        at: ChunkRef,
        compartment: &str,
    ) -> Result<Vec<(u32, u32)>, ArchiveError> {
        let entry = self.entry(at)?;
        let meta = self.first_meta(entry, compartment)?;
        if meta.projection.is_none() {
            return Err(self.not_found(format!("synapses of {compartment} (a population)")));
        }
        let n = meta.neurons;
        let first = self
            .files(entry, compartment, Kind::State)
            .into_iter()
            .next();
        let mut out = match first {
            Some(file) => self.pairs_of(&file.path, Some(n))?,
            None => Vec::new(),
        };
        if out.is_empty() && n > 0 {
            // Nothing recorded in this chunk: the run's connectivity, in recording order
            // (by post, then pre; synapses of one pair keep their storage order).
            // (A run recorded by hand with an `ArchiveWriter`, or stopped before its end,
            // may have none: then the synapses of this chunk are not known.)
            let rel = format!("{compartment}/synapses/run={}/part-0.parquet", at.run);
            if self.path_of(&rel).is_ok_and(|p| p.is_file()) {
                out = self.pairs_of(&rel, None)?;
                out.sort();
            } else {
                return Ok(Vec::new());
            }
        }
        if out.len() != n {
            return Err(ArchiveError::Corrupt {
                path: self.dir.join(compartment),
                what: format!(
                    "{} synapses in run {} set {} chunk {}, the metadata says {n}",
                    out.len(),
                    at.run,
                    at.set,
                    at.chunk
                ),
            });
        }
        Ok(out)
    }

    /// The `(post, pre)` of the rows of the file at `rel` (a projection's state or
    /// connectivity), the first `limit` of them when given.
    fn pairs_of(&self, rel: &str, limit: Option<usize>) -> Result<Vec<(u32, u32)>, ArchiveError> {
        let mut out = Vec::new();
        let (path, handle) = self.open_file(rel)?;
        let corrupt = |what: String| ArchiveError::Corrupt {
            path: path.clone(),
            what,
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(handle)
            .map_err(ArchiveError::parquet(&path))?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), ["post", "pre"]);
        let mut builder = builder.with_projection(mask).with_batch_size(1 << 16);
        if let Some(n) = limit {
            builder = builder.with_limit(n);
        }
        let reader = builder.build().map_err(ArchiveError::parquet(&path))?;
        for batch in reader {
            let batch = batch.map_err(|e| corrupt(e.to_string()))?;
            let column = |name: &str| {
                batch
                    .column_by_name(name)
                    .and_then(|c| c.as_primitive_opt::<UInt32Type>())
                    .ok_or_else(|| corrupt(format!("no UInt32 column `{name}`")))
            };
            let (post, pre) = (column("post")?, column("pre")?);
            out.extend(
                post.values()
                    .iter()
                    .copied()
                    .zip(pre.values().iter().copied()),
            );
        }
        Ok(out)
    }

    /// Every chunk of a run and set loaded into memory, as `get_recordings` returns them.
    pub fn recordings(&self, run: u32, set: u32) -> Result<Vec<ChunkRecordings>, ArchiveError> {
        let mut out = Vec::new();
        for entry in self.chunks(run, set) {
            let at = ChunkRef {
                run,
                set,
                chunk: entry.chunk,
            };
            let mut compartments = Vec::new();
            for name in &self.manifest.compartments {
                let meta = self.first_meta(entry, name)?;
                let mut variables = Vec::new();
                for v in &meta.variables {
                    variables.push((v.clone(), self.read_state(at, name, v, None)?.1));
                }
                let has_spikes = !self.files(entry, name, Kind::Spikes).is_empty();
                let spikes = if has_spikes {
                    Some(self.read_spikes(at, name, None)?)
                } else {
                    None
                };
                let parameters = meta
                    .parameters
                    .iter()
                    .map(|(k, v)| {
                        let values = match v {
                            serde_json::Value::Array(xs) => {
                                xs.iter().filter_map(|x| x.as_f64()).collect()
                            }
                            other => vec![other.as_f64().unwrap_or(f64::NAN); meta.neurons],
                        };
                        (k.clone(), values)
                    })
                    .collect();
                let synapses = match meta.projection {
                    Some(_) => Some(self.read_synapses(at, name)?),
                    None => None,
                };
                compartments.push(CompartmentRecording {
                    name: name.clone(),
                    period_ms: meta.period_ms,
                    parameters,
                    variables,
                    spikes,
                    synapses,
                });
            }
            out.push(ChunkRecordings {
                dt_ms: self.manifest.dt_ms,
                compartments,
            });
        }
        Ok(out)
    }
}

/// Checks the `step`, `neuron` and float `columns` of a decoded batch of the file at `path`
/// and passes them, f32 columns widened to f64, to `each` (restricted to `window`).
fn pass_batch(
    batch: &RecordBatch,
    path: &Path,
    columns: &[&str],
    window: Option<(i64, i64)>,
    counter: Option<&mut (i64, u32)>,
    each: &mut impl FnMut(&[i64], &[u32], &[&[f64]]),
) -> Result<(), ArchiveError> {
    let corrupt = |what: String| ArchiveError::Corrupt {
        path: path.to_path_buf(),
        what,
    };
    let steps = batch
        .column_by_name("step")
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| corrupt("no Int64 column `step`".into()))?;
    // A projection's rows are numbered within their sample (the counter runs on across
    // batches); a population's carry their neuron.
    let numbered: Vec<u32>;
    let neurons: &[u32] = match counter {
        Some((last, index)) => {
            numbered = steps
                .values()
                .iter()
                .map(|&s| {
                    if s == *last {
                        // A damaged file with more rows than u32 counts shows up as rows
                        // out of order, not as an overflow.
                        *index = index.saturating_add(1);
                    } else {
                        *last = s;
                        *index = 0;
                    }
                    *index
                })
                .collect();
            &numbered
        }
        None => batch
            .column_by_name("neuron")
            .and_then(|c| c.as_primitive_opt::<UInt32Type>())
            .ok_or_else(|| corrupt("no UInt32 column `neuron`".into()))?
            .values(),
    };
    // f64 columns are passed as they were decoded; f32 ones widened once.
    let mut widened: Vec<Option<Vec<f64>>> = Vec::with_capacity(columns.len());
    let mut arrays = Vec::with_capacity(columns.len());
    for name in columns {
        let col = batch
            .column_by_name(name)
            .ok_or_else(|| corrupt(format!("no column `{name}`")))?;
        if let Some(a) = col.as_primitive_opt::<Float32Type>() {
            widened.push(Some(a.values().iter().map(|v| *v as f64).collect()));
        } else if col.as_primitive_opt::<Float64Type>().is_some() {
            widened.push(None);
        } else {
            return Err(corrupt(format!("column `{name}` is not a float column")));
        }
        arrays.push(col);
    }
    let values: Vec<&[f64]> = arrays
        .iter()
        .zip(&widened)
        .map(|(col, w)| match w {
            Some(v) => v.as_slice(),
            None => col
                .as_primitive_opt::<Float64Type>()
                .map_or(&[][..], |a| &a.values()[..]),
        })
        .collect();
    pass_window(steps.values(), neurons, &values, window, each);
    Ok(())
}

/// Passes the rows of a batch to `each`: all of them without a window, else those with
/// `lo <= step < hi` (steps are sorted), and nothing when none is inside.
fn pass_window(
    steps: &[i64],
    neurons: &[u32],
    values: &[&[f64]],
    window: Option<(i64, i64)>,
    each: &mut impl FnMut(&[i64], &[u32], &[&[f64]]),
) {
    match window {
        None => each(steps, neurons, values),
        Some((lo, hi)) => {
            let a = steps.partition_point(|s| *s < lo);
            let b = steps.partition_point(|s| *s < hi);
            if a < b {
                let vals: Vec<&[f64]> = values.iter().map(|v| &v[a..b]).collect();
                each(&steps[a..b], &neurons[a..b], &vals);
            }
        }
    }
}
