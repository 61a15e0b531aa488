//! Checking an archive against itself: whether its runs finished, its journals, every
//! file's checksum and size against the manifest (read in blocks), its footer and schema,
//! its row count against the period table, the period tables of the manifest against those
//! in the footers, and files where readers look that the manifest does not list.

use std::path::Path;

use parquet::file::metadata::ParquetMetaData;

use super::lock::{ArchiveLock, LockScope};
use super::manifest::{ChunkEntry, ChunkStatus, FileEntry, Manifest, RunStatus};
use super::meta::FileMeta;
use super::reader::Archive;
use super::{confined, staged_path, Kind, RUNS_TABLE};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The archive is not finished: a run still being written or interrupted, a chunk
    /// begun but not completed, a torn last journal line, complete files not yet moved
    /// into place. What is complete is intact; `neurorec repair` tidies what can be tidied.
    Unfinished,
    /// The archive was damaged or changed: checksums, sizes, footers or period tables that
    /// do not match, a journal line that cannot be read, files the manifest does not list,
    /// paths outside the archive, files that are not plain files.
    Corrupt,
}

/// One mismatch found by [`validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file (relative path) or `manifest.json`.
    pub file: String,
    pub what: String,
    pub severity: Severity,
    /// `neurorec repair` has something to do about it (false for a run still being
    /// written, and for what a run already marked interrupted leaves: its unfinished
    /// chunks are kept as a record).
    pub repairable: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.what)
    }
}

fn corrupt(file: impl Into<String>, what: String) -> Problem {
    Problem {
        file: file.into(),
        what,
        severity: Severity::Corrupt,
        repairable: false,
    }
}

fn unfinished(file: impl Into<String>, what: String) -> Problem {
    Problem {
        file: file.into(),
        what,
        severity: Severity::Unfinished,
        repairable: true,
    }
}

/// An unfinished state `repair` leaves as it is (see [`Problem::repairable`]).
fn kept(file: impl Into<String>, what: String) -> Problem {
    Problem {
        repairable: false,
        ..unfinished(file, what)
    }
}

/// Checks the whole archive: its runs, journals and chunks, every file of every complete
/// chunk, its figures, and files the manifest does not list; returns the problems found
/// (none when valid). Files are read in blocks of bounded size.
pub fn validate(archive: &Archive) -> Vec<Problem> {
    let mut problems = Vec::new();
    let manifest = archive.manifest();
    if !(manifest.dt_ms.is_finite() && manifest.dt_ms > 0.0) {
        problems.push(corrupt(
            "manifest.json",
            format!("dt_ms {} is not a positive time step", manifest.dt_ms),
        ));
    }
    check_runs(archive, &mut problems);
    for j in &manifest.journal_problems {
        problems.push(if j.torn {
            unfinished(
                j.file.clone(),
                format!(
                    "line {} is torn: the writer stopped while appending it",
                    j.line
                ),
            )
        } else {
            corrupt(
                j.file.clone(),
                format!(
                    "line {} cannot be read ({}); the journal was damaged",
                    j.line, j.what
                ),
            )
        });
    }
    for entry in &manifest.chunks {
        if entry.status != ChunkStatus::Complete {
            let what = format!(
                "run {} set {} chunk {} is unfinished (the run stopped while writing it)",
                entry.run, entry.set, entry.chunk
            );
            let marked = manifest
                .runs
                .iter()
                .any(|r| r.run == entry.run && r.status == RunStatus::Interrupted);
            problems.push(if marked {
                kept("manifest.json", what)
            } else {
                unfinished("manifest.json", what)
            });
            continue;
        }
        for f in &entry.files {
            check_file(archive, entry, f, &mut problems);
        }
        // Multi-part state files: the parts together hold the samples of the table.
        for name in &manifest.compartments {
            check_parts(archive, entry, name, &mut problems);
        }
    }
    for f in manifest.figures.iter().chain(&manifest.connectivity) {
        if let Ok(path) = confined(archive.dir(), &f.path) {
            if std::fs::symlink_metadata(path).is_err() {
                problems.push(unfinished(
                    f.path.clone(),
                    "is listed but not in place (the run stopped while moving it); `neurorec repair` drops the entry".into(),
                ));
                continue;
            }
        }
        let entry = FileEntry {
            path: f.path.clone(),
            compartment: String::new(),
            kind: Kind::State,
            part: 0,
            rows: 0,
            bytes: f.bytes,
            crc32: f.crc32.clone(),
        };
        if let Err(e) = archive.verify(&entry) {
            problems.push(corrupt(f.path.clone(), e.to_string()));
        }
    }
    check_unlisted(archive.dir(), manifest, &mut problems);
    check_sweep(archive.dir(), &mut problems);
    problems
}

/// A sweep's runs against its `runs.parquet`: every run the table lists has its manifest
/// (else the sweep, or a shard of it, did not run to the end), and each run's swept values
/// are the table's.
fn check_sweep(dir: &Path, problems: &mut Vec<Problem>) {
    let path = dir.join(RUNS_TABLE);
    if !path.exists() {
        return;
    }
    let table = match super::runs::read_runs_table(&path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(corrupt(RUNS_TABLE, format!("cannot be read: {e}")));
            return;
        }
    };
    let rows = table.first().map_or(0, |(_, v)| v.len());
    for r in 0..rows as u32 {
        let stem = format!("manifest-run={r}");
        let Ok(run) = Manifest::load_file(dir, &stem) else {
            problems.push(unfinished(
                RUNS_TABLE,
                format!("run {r} of the sweep has no manifest: it did not start (a shard that did not run?) or was removed; run the sweep (or that shard) again"),
            ));
            continue;
        };
        let swept = &run.description["sweep"];
        for (name, values) in &table[1..] {
            let listed = swept[name.as_str()].as_f64();
            if listed.is_some_and(|x| x.to_bits() != values[r as usize].to_bits()) {
                problems.push(corrupt(
                    format!("{stem}.json"),
                    format!(
                        "run {r} was run with {name} = {}, but {RUNS_TABLE} lists {}",
                        listed.unwrap_or(f64::NAN),
                        values[r as usize]
                    ),
                ));
            }
        }
    }
}

/// Whether the archive at `dir` is a sweep's (per-run manifests) rather than a single run's.
fn is_sweep(dir: &Path) -> bool {
    !dir.join(super::MANIFEST).exists()
}

/// Runs whose writer did not finish: still being written (its lock is held), stopped
/// (killed, crashed), or marked interrupted by `repair`.
fn check_runs(archive: &Archive, problems: &mut Vec<Problem>) {
    let sweep = is_sweep(archive.dir());
    for r in &archive.manifest().runs {
        let scope = if sweep {
            LockScope::Run(r.run)
        } else {
            LockScope::Archive
        };
        let what = match r.status {
            RunStatus::Complete => continue,
            RunStatus::Running if ArchiveLock::is_held(archive.dir(), scope) => {
                problems.push(kept(
                    "manifest.json",
                    format!("run {} is still being written", r.run),
                ));
                continue;
            }
            RunStatus::Running => format!(
                "run {} was interrupted: its writer stopped before the end (killed or crashed); its complete chunks are intact, `neurorec repair` marks the run and removes what was being written",
                r.run
            ),
            RunStatus::Interrupted => {
                problems.push(kept(
                    "manifest.json",
                    format!(
                        "run {} was interrupted (marked by `neurorec repair`); its complete chunks are intact",
                        r.run
                    ),
                ));
                continue;
            }
        };
        problems.push(unfinished("manifest.json", what));
    }
}

/// Files where readers look (`DIR/<compartment>/<kind>/...`, and Parquet files anywhere but
/// in hidden directories) that the manifest does not list: a reader of the archive would
/// read them with the archive's data.
fn check_unlisted(dir: &Path, manifest: &Manifest, problems: &mut Vec<Problem>) {
    let listed: std::collections::HashSet<&str> = manifest.listed_files().collect();
    let mut found = Vec::new();
    collect_unlisted(dir, dir, false, &listed, &manifest.compartments, &mut found);
    found.sort();
    for rel in found {
        problems.push(corrupt(
            rel,
            "is not listed in the manifest, but readers of the archive read it with the archive's data; neurorec did not write it (or a later change replaced it): remove it".into(),
        ));
    }
}

fn collect_unlisted(
    dir: &Path,
    at: &Path,
    in_tree: bool,
    listed: &std::collections::HashSet<&str>,
    compartments: &[String],
    found: &mut Vec<String>,
) {
    let Ok(entries) = std::fs::read_dir(at) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            // Inside a compartment's state or spikes directory every file is read.
            let depth = rel.matches('/').count();
            let tree = in_tree
                || depth == 1
                    && compartments
                        .iter()
                        .any(|c| rel.starts_with(&format!("{c}/")))
                    && (name == Kind::State.as_str() || name == Kind::Spikes.as_str());
            collect_unlisted(dir, &path, tree, listed, compartments, found);
        } else if (in_tree || name.ends_with(".parquet"))
            && !listed.contains(rel.as_str())
            && rel != RUNS_TABLE
        {
            found.push(rel);
        }
    }
}

/// Checks one file of a complete chunk against the manifest and its own footer, in order:
/// content, row count, metadata, columns, rows against the period table, period table.
fn check_file(archive: &Archive, entry: &ChunkEntry, f: &FileEntry, problems: &mut Vec<Problem>) {
    if let Err(e) = confined(archive.dir(), &f.path) {
        problems.push(corrupt(f.path.clone(), e.to_string()));
        return;
    }
    if std::fs::symlink_metadata(archive.dir().join(&f.path)).is_err()
        && std::fs::symlink_metadata(archive.dir().join(staged_path(Path::new(&f.path)))).is_ok()
    {
        problems.push(unfinished(
            f.path.clone(),
            "is complete but still in the staging directory (the writer stopped while moving the chunk's files into place); `neurorec repair` moves it".into(),
        ));
    }
    let mut problem = |what: String| problems.push(corrupt(f.path.clone(), what));
    if !check_content(archive, f, &mut problem) {
        return;
    }
    let footer = match archive.footer(&f.path) {
        Ok(m) => m,
        Err(e) => {
            problem(format!("footer unreadable: {e}"));
            return;
        }
    };
    let rows = footer.file_metadata().num_rows() as u64;
    if rows != f.rows {
        problem(format!("{rows} rows, the manifest says {}", f.rows));
    }
    // The footer just read, not read again.
    let meta = match archive.meta_in(&f.path, &footer) {
        Ok(m) => m,
        Err(e) => {
            problem(e.to_string());
            return;
        }
    };
    check_columns(&footer, &meta, &mut problem);
    check_sample_rows(&meta, rows, &mut problem);
    check_period_table(entry, &meta, &mut problem);
}

/// Reads a file in blocks and checks its size and CRC-32 against the manifest; false when
/// it cannot be read, is not a plain file, or differs (its other checks are then skipped).
fn check_content(archive: &Archive, f: &FileEntry, problem: &mut impl FnMut(String)) -> bool {
    match archive.verify(f) {
        Ok(()) => true,
        Err(super::ArchiveError::Corrupt { what, .. }) => {
            problem(what);
            false
        }
        Err(e) => {
            problem(format!("cannot be read: {e}"));
            false
        }
    }
}

/// Checks the footer's columns: `period`, `step`, `time_ms`, `neuron` (a projection's
/// state: `post`, `pre`), then a state file's variables.
fn check_columns(footer: &ParquetMetaData, meta: &FileMeta, problem: &mut impl FnMut(String)) {
    let columns: Vec<String> = footer
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let mut expected = vec!["period".to_string(), "step".into(), "time_ms".into()];
    if meta.projection.is_some() && meta.kind == Kind::State {
        expected.extend(["post".to_string(), "pre".into()]);
    } else {
        expected.push("neuron".into());
    }
    if meta.kind == Kind::State {
        expected.extend(meta.variables.iter().cloned());
    }
    if columns != expected {
        problem(format!("columns {columns:?}, expected {expected:?}"));
    }
}

/// Checks the row count of a single-part state file against its period table's samples
/// times its neurons.
fn check_sample_rows(meta: &FileMeta, rows: u64, problem: &mut impl FnMut(String)) {
    if meta.kind == Kind::State && meta.parts == 1 {
        let samples: i64 = meta.periods.last().map_or(0, |p| p.stop_idx + 1);
        let expected_rows = samples as u64 * meta.neurons as u64;
        if rows != expected_rows {
            problem(format!(
                "{rows} rows, but the period table claims {samples} samples x {} neurons = {expected_rows}",
                meta.neurons
            ));
        }
    }
}

/// Checks a file's period table against the manifest's for its compartment, if it has one.
fn check_period_table(entry: &ChunkEntry, meta: &FileMeta, problem: &mut impl FnMut(String)) {
    if let Some(p) = entry
        .periods
        .iter()
        .find(|p| p.compartment == meta.compartment)
    {
        if p.pairs != meta.pairs() || p.period_steps != meta.period_steps {
            problem("period table differs from the manifest's".into());
        }
    }
}

/// Checks that the parts of a compartment's multi-part state file in a chunk together
/// hold the samples of the period table of its first part.
fn check_parts(archive: &Archive, entry: &ChunkEntry, name: &str, problems: &mut Vec<Problem>) {
    let parts: Vec<_> = entry
        .files
        .iter()
        .filter(|f| f.compartment == name && f.kind == Kind::State)
        .collect();
    if parts.len() > 1 {
        if let Ok(meta) = archive.file_meta(&parts[0].path) {
            let samples = meta.periods.last().map_or(0, |p| p.stop_idx + 1) as u64;
            let rows: u64 = parts.iter().map(|f| f.rows).sum();
            if rows != samples * meta.neurons as u64 {
                problems.push(corrupt(
                    parts[0].path.clone(),
                    format!(
                        "the {} parts hold {rows} rows, the period table claims {}",
                        parts.len(),
                        samples * meta.neurons as u64
                    ),
                ));
            }
        }
    }
}
