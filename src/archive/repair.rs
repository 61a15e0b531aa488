//! `neurorec repair`: tidies what a writer that stopped (killed, crashed, out of disk)
//! left, never touching a complete chunk's data: files of complete chunks still in the
//! staging directory move into place, staged files of unfinished chunks are removed, a
//! torn last journal line is dropped, and runs whose writer stopped are marked
//! `interrupted`.

use std::path::{Path, PathBuf};

use super::lock::{ArchiveLock, LockScope};
use super::manifest::{manifest_stems, ChunkStatus, Manifest, RunStatus};
use super::{confined, staged_path, ArchiveError, Kind, STAGING};

/// What [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepairReport {
    /// Files of complete chunks moved from the staging directory into place.
    pub moved: Vec<String>,
    /// Staged files of unfinished chunks removed.
    pub removed: Vec<String>,
    /// Runs marked interrupted.
    pub interrupted: Vec<u32>,
    /// Torn journal lines dropped (journal file and line).
    pub torn_lines: Vec<(String, usize)>,
    /// Figures and connectivity tables listed but never moved into place, dropped from the
    /// manifest.
    pub figures: Vec<String>,
}

impl RepairReport {
    /// Whether nothing needed repair.
    pub fn is_empty(&self) -> bool {
        self.moved.is_empty()
            && self.removed.is_empty()
            && self.interrupted.is_empty()
            && self.torn_lines.is_empty()
            && self.figures.is_empty()
    }
}

/// Repairs the archive at `dir` (see the module documentation). Holds the archive's lock
/// (refused while any writer runs). A journal with a damaged line that is not its last is
/// not repaired: what it said cannot be known.
pub fn repair(dir: &Path) -> Result<RepairReport, ArchiveError> {
    if !dir.is_dir() {
        return Err(ArchiveError::NotAnArchive {
            path: dir.to_path_buf(),
            reason: "no such directory".into(),
        });
    }
    let _lock = ArchiveLock::acquire(dir, LockScope::Archive)?;
    let mut report = RepairReport::default();
    for stem in stems(dir)? {
        let mut manifest = Manifest::load_with_journal(dir, &stem)?;
        if let Some(bad) = manifest.journal_problems.iter().find(|p| !p.torn) {
            return Err(ArchiveError::Corrupt {
                path: dir.join(&bad.file),
                what: format!(
                    "line {} cannot be read ({}); repair does not guess what a damaged journal said: restore the file from a copy, or keep the archive as it is (`neurorec validate` lists what is intact)",
                    bad.line, bad.what
                ),
            });
        }
        report.torn_lines.extend(
            manifest
                .journal_problems
                .iter()
                .map(|p| (p.file.clone(), p.line)),
        );
        move_complete(dir, &manifest, &mut report)?;
        for list in [&mut manifest.figures, &mut manifest.connectivity] {
            list.retain(|f| {
                let there =
                    confined(dir, &f.path).is_ok_and(|p| std::fs::symlink_metadata(p).is_ok());
                if !there {
                    report.figures.push(f.path.clone());
                }
                there
            });
        }
        remove_unfinished(dir, &manifest, &mut report)?;
        for r in &mut manifest.runs {
            if r.status == RunStatus::Running {
                r.status = RunStatus::Interrupted;
                report.interrupted.push(r.run);
            }
        }
        manifest.store(dir, &stem, true)?;
        super::prune_empty_dirs(&dir.join(STAGING));
        remove_figure_leftovers(dir, &mut report);
        let journal = dir.join(format!("{stem}.journal"));
        match std::fs::remove_file(&journal) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ArchiveError::io(&journal)(e)),
        }
    }
    Ok(report)
}

/// The manifest files of the archive, as stems (an error when there is none).
fn stems(dir: &Path) -> Result<Vec<String>, ArchiveError> {
    let stems = manifest_stems(dir).map_err(ArchiveError::io(dir))?;
    if stems.is_empty() {
        return Err(ArchiveError::NotAnArchive {
            path: dir.to_path_buf(),
            reason: "there is no manifest.json; pass the directory given to `--out` of the run"
                .into(),
        });
    }
    Ok(stems)
}

/// Moves the files of complete chunks that are still staged into place.
fn move_complete(
    dir: &Path,
    manifest: &Manifest,
    report: &mut RepairReport,
) -> Result<(), ArchiveError> {
    for chunk in manifest
        .chunks
        .iter()
        .filter(|c| c.status == ChunkStatus::Complete)
    {
        for f in &chunk.files {
            let to = confined(dir, &f.path)?;
            let from = dir.join(staged_path(Path::new(&f.path)));
            if std::fs::symlink_metadata(&to).is_err() && from.is_file() {
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(ArchiveError::io(parent))?;
                }
                std::fs::rename(&from, &to).map_err(ArchiveError::io(&to))?;
                report.moved.push(f.path.clone());
            }
        }
    }
    Ok(())
}

/// Removes the staged files of this manifest's runs that no complete chunk lists (what the
/// writer was writing when it stopped).
fn remove_unfinished(
    dir: &Path,
    manifest: &Manifest,
    report: &mut RepairReport,
) -> Result<(), ArchiveError> {
    let runs: Vec<u32> = manifest.runs.iter().map(|r| r.run).collect();
    // A staged copy of a complete chunk's file that could not be moved (something else is
    // at its place) is kept: it is the chunk's data.
    let complete: std::collections::HashSet<PathBuf> = manifest
        .chunks
        .iter()
        .filter(|c| c.status == ChunkStatus::Complete)
        .flat_map(|c| c.files.iter())
        .map(|f| dir.join(staged_path(Path::new(&f.path))))
        .collect();
    let staging = dir.join(STAGING);
    let Ok(compartments) = std::fs::read_dir(&staging) else {
        return Ok(());
    };
    let mut leftovers: Vec<PathBuf> = Vec::new();
    for compartment in compartments.filter_map(|e| e.ok()) {
        for kind in [Kind::State, Kind::Spikes] {
            for run in &runs {
                let root = compartment
                    .path()
                    .join(kind.as_str())
                    .join(format!("run={run}"));
                files_below(&root, &mut leftovers);
            }
        }
    }
    leftovers.retain(|p| !complete.contains(p));
    leftovers.sort();
    for path in leftovers {
        std::fs::remove_file(&path).map_err(ArchiveError::io(&path))?;
        report.removed.push(
            path.strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string(),
        );
        let mut at = path.parent();
        while let Some(d) = at {
            if d == staging || std::fs::remove_dir(d).is_err() {
                break;
            }
            at = d.parent();
        }
    }
    Ok(())
}

/// Removes figures and connectivity tables a stopped run was writing (neurorec's temporary
/// names: `figures/.<name>.<pid>.tmp.<ext>`, `<projection>/synapses/run=<r>/.part-0.<pid>.tmp.parquet`).
fn remove_figure_leftovers(dir: &Path, report: &mut RepairReport) {
    let mut places = vec!["figures".to_string()];
    for top in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
    {
        let synapses = top.path().join("synapses");
        for run in std::fs::read_dir(&synapses)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
        {
            if let Ok(rel) = run.path().strip_prefix(dir) {
                places.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    for place in places {
        let Ok(entries) = std::fs::read_dir(dir.join(&place)) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with('.') && name.contains(".tmp.");
            if ours
                && e.file_type().is_ok_and(|t| t.is_file())
                && std::fs::remove_file(e.path()).is_ok()
            {
                report.removed.push(format!("{place}/{name}"));
            }
        }
    }
}

fn files_below(root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(meta) = std::fs::symlink_metadata(root) else {
        return;
    };
    if !meta.is_dir() {
        out.push(root.to_path_buf());
        return;
    }
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.filter_map(|e| e.ok()) {
            files_below(&e.path(), out);
        }
    }
}
