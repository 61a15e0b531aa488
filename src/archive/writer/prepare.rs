//! What a writer finds in its directory before it writes anything (the lock is already
//! held): an earlier archive, which it refuses, or with `overwrite` replaces exactly what
//! the earlier manifest lists; files of others in the way, which it refuses with their
//! list; and staging leftovers of an earlier writer of the same run, which it removes.

use std::path::{Path, PathBuf};

use crate::archive::manifest::{manifest_stems, Manifest};
use crate::archive::{confined, staged_path, ArchiveError, ArchiveOptions, Kind, STAGING};

/// Reads one earlier manifest (with its journal); one that cannot be read is never
/// replaced: neurorec cannot know what it lists.
fn earlier(dir: &Path, stem: &str) -> Result<Manifest, ArchiveError> {
    Manifest::load_with_journal(dir, stem).map_err(|e| ArchiveError::Unreadable {
        path: dir.join(format!("{stem}.json")),
        reason: e.to_string(),
    })
}

/// Prepares `dir` for the writer of `options.run` (`stem` is its manifest's stem): refuses
/// an earlier archive (unless `options.overwrite`), a sweep in a single run's archive and
/// the other way round, and files in the way; then removes what the earlier manifest lists
/// and this run's staging leftovers.
pub(super) fn prepare(
    dir: &Path,
    stem: &str,
    compartments: &[String],
    options: &ArchiveOptions,
) -> Result<(), ArchiveError> {
    let stems = manifest_stems(dir).map_err(ArchiveError::io(dir))?;
    let single = stems.iter().any(|s| s == "manifest");
    if options.own_manifest && single {
        return Err(ArchiveError::Conflict {
            path: dir.to_path_buf(),
            what: "holds the archive of a single run; the runs of a sweep go into a directory of their own".into(),
        });
    }
    let sweep = stems.iter().any(|s| s.starts_with("manifest-run="))
        || dir.join(crate::archive::RUNS_TABLE).exists();
    if !options.own_manifest && sweep {
        return Err(ArchiveError::Conflict {
            path: dir.to_path_buf(),
            what: "holds the runs of a sweep; a single run goes into a directory of its own".into(),
        });
    }
    // A single run replaces a whole archive; a sweep's run only its own run.
    let replaced: Vec<&String> = if options.own_manifest {
        stems.iter().filter(|s| s.as_str() == stem).collect()
    } else {
        stems.iter().collect()
    };
    if !replaced.is_empty() && !options.overwrite {
        let manifest = replaced[0];
        earlier(dir, manifest)?;
        return Err(ArchiveError::Exists {
            path: dir.to_path_buf(),
        });
    }
    let mut listed: Vec<PathBuf> = Vec::new();
    for stem in &replaced {
        let manifest = earlier(dir, stem)?;
        for rel in manifest.listed_files() {
            let path = confined(dir, rel)?;
            listed.push(path);
            listed.push(dir.join(staged_path(Path::new(rel))));
        }
        listed.push(dir.join(format!("{stem}.json")));
        listed.push(dir.join(format!("{stem}.journal")));
    }
    let in_the_way = strangers(dir, compartments, options, &listed)?;
    if !in_the_way.is_empty() {
        return Err(ArchiveError::InTheWay {
            path: dir.to_path_buf(),
            files: in_the_way
                .iter()
                .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
                .collect(),
        });
    }
    // Journals and figure files first, the manifests last: a process stopped halfway still
    // leaves a manifest naming what remains (and `--force` finishes the job).
    listed.sort_by_key(|p| p.extension().is_some_and(|e| e == "json"));
    for path in &listed {
        remove_file(path)?;
        remove_empty_dirs(dir, path, options.own_manifest);
    }
    remove_staging(dir, compartments, options)
}

/// Files in the directories this run writes into (`DIR/<compartment>/<kind>/run=<r>/...`,
/// `DIR/<projection>/synapses/run=<r>/...`) that are not in `listed`: neurorec did not write them (or no manifest lists them), so it
/// will not delete them, and readers of the compartment would see them.
fn strangers(
    dir: &Path,
    compartments: &[String],
    options: &ArchiveOptions,
    listed: &[PathBuf],
) -> Result<Vec<PathBuf>, ArchiveError> {
    let listed: std::collections::HashSet<&Path> = listed.iter().map(PathBuf::as_path).collect();
    let mut found = Vec::new();
    let run = format!("run={}", options.run);
    let compartment_dirs = compartments.iter().flat_map(|name| {
        [Kind::State, Kind::Spikes].map(|kind| dir.join(name).join(kind.as_str()).join(&run))
    });
    let projection_dirs = options
        .projections
        .iter()
        .map(|name| dir.join(name).join("synapses").join(&run));
    for root in compartment_dirs.chain(projection_dirs) {
        walk(&root, &mut |path| {
            if !listed.contains(path) {
                found.push(path.to_path_buf());
            }
        })?;
    }
    found.sort();
    Ok(found)
}

/// Calls `each` for every file below `root` (nothing when `root` does not exist); entries
/// that are neither files nor directories (links, FIFOs) count as files.
fn walk(root: &Path, each: &mut impl FnMut(&Path)) -> Result<(), ArchiveError> {
    let meta = match std::fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ArchiveError::io(root)(e)),
    };
    if !meta.is_dir() {
        each(root);
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(ArchiveError::io(root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        walk(&path, each)?;
    }
    Ok(())
}

/// Removes the directories above `path` that are now empty, never `root` itself; with
/// `shared` (a sweep's run), only up to and including its `run=<r>` directory: the runs of
/// a sweep create the directories above beside each other at the same time.
fn remove_empty_dirs(root: &Path, path: &Path, shared: bool) {
    let mut at = path.parent();
    while let Some(d) = at {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        if shared
            && d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("run="))
        {
            break;
        }
        at = d.parent();
    }
}

fn remove_file(path: &Path) -> Result<(), ArchiveError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ArchiveError::io(path)(e)),
    }
}

/// Removes this run's staging leftovers (files an earlier writer of the run was writing
/// when it stopped): `.neurorec-staging/<compartment>/<kind>/run=<r>/`, for any compartment.
fn remove_staging(
    dir: &Path,
    _compartments: &[String],
    options: &ArchiveOptions,
) -> Result<(), ArchiveError> {
    let staging = dir.join(STAGING);
    let Ok(entries) = std::fs::read_dir(&staging) else {
        return Ok(());
    };
    for compartment in entries.filter_map(|e| e.ok()) {
        for kind in [Kind::State, Kind::Spikes] {
            let run = compartment
                .path()
                .join(kind.as_str())
                .join(format!("run={}", options.run));
            // Only a real directory of neurorec's staging tree (a link is not followed).
            if std::fs::symlink_metadata(&run).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&run).map_err(ArchiveError::io(&run))?;
            }
        }
    }
    Ok(())
}
