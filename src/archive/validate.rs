//! Checking an archive against itself: every file's checksum and size against the
//! manifest, its footer and schema, its row count against the period table, and the
//! period tables of the manifest against those in the footers.

use parquet::file::metadata::ParquetMetaData;

use super::manifest::{ChunkEntry, ChunkStatus, FileEntry};
use super::meta::FileMeta;
use super::reader::Archive;
use super::Kind;

/// One mismatch found by [`validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file (relative path) or `manifest.json`.
    pub file: String,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.what)
    }
}

/// Checks every complete chunk of the archive; returns the problems found (none when valid).
pub fn validate(archive: &Archive) -> Vec<Problem> {
    let mut problems = Vec::new();
    let manifest = archive.manifest();
    for entry in &manifest.chunks {
        if entry.status != ChunkStatus::Complete {
            problems.push(Problem {
                file: "manifest.json".into(),
                what: format!(
                    "run {} set {} chunk {} is unfinished (the run stopped while writing it)",
                    entry.run, entry.set, entry.chunk
                ),
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
    problems
}

/// Checks one file of a complete chunk against the manifest and its own footer, in order:
/// content, row count, metadata, columns, rows against the period table, period table.
fn check_file(archive: &Archive, entry: &ChunkEntry, f: &FileEntry, problems: &mut Vec<Problem>) {
    let mut problem = |what: String| {
        problems.push(Problem {
            file: f.path.clone(),
            what,
        })
    };
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
    let meta = match archive.file_meta(&f.path) {
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

/// Reads a file and checks its size and CRC-32 against the manifest; false when it cannot
/// be read or its checksum differs (its other checks are then skipped).
fn check_content(archive: &Archive, f: &FileEntry, problem: &mut impl FnMut(String)) -> bool {
    let path = archive.dir().join(&f.path);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            problem(format!("cannot be read: {e}"));
            return false;
        }
    };
    if bytes.len() as u64 != f.bytes {
        problem(format!(
            "{} bytes, the manifest says {}",
            bytes.len(),
            f.bytes
        ));
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes);
    let crc = format!("{:08x}", hasher.finalize());
    if crc != f.crc32 {
        problem(format!("checksum {crc}, the manifest says {}", f.crc32));
        return false;
    }
    true
}

/// Checks the footer's columns: `period`, `step`, `time_ms`, `neuron`, then a state file's
/// variables.
fn check_columns(footer: &ParquetMetaData, meta: &FileMeta, problem: &mut impl FnMut(String)) {
    let columns: Vec<String> = footer
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let mut expected = vec![
        "period".to_string(),
        "step".into(),
        "time_ms".into(),
        "neuron".into(),
    ];
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
                problems.push(Problem {
                    file: parts[0].path.clone(),
                    what: format!(
                        "the {} parts hold {rows} rows, the period table claims {}",
                        parts.len(),
                        samples * meta.neurons as u64
                    ),
                });
            }
        }
    }
}
