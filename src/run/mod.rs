//! Running pipelines: the one place where a pipeline becomes a network, monitors, an archive
//! writer and figures. `neurorec run` is a thin shell over it; benchmarks, examples and tests
//! use the same entry points.
//!
//! - [`run_single`]: one pipeline into an archive ([`record_to_archive`] underneath).
//! - [`run_sweep`]: every combination of a `[sweep]` (or one shard's share) in parallel,
//!   returning each run's result.
//! - [`draw_plots`]: a pipeline's `[[plots]]` from the written archive.
//! - [`estimate`]: rows, bytes and memory of a run before it runs (`--dry-run`).
//! - [`ProgressLine`]: the progress line shown on a terminal while a run simulates.

mod connectivity;
mod estimate;
mod progress;
mod resources;
mod sweep;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use estimate::{estimate, estimate_run, network_bytes, CompartmentEstimate, Estimate};
pub use progress::ProgressLine;
pub use resources::{available_memory_bytes, check_resources, free_disk_bytes};
pub use sweep::{run_sweep, RunOutcome, Shard};

use crate::archive::{
    add_figures, Archive, ArchiveError, ArchiveLock, ArchiveOptions, ArchiveWriter, ChunkRef,
    FigureEntry, LockScope, Manifest, ValueStorage,
};
use crate::monitor::{MonitorError, MonitorSpec};
use crate::pipeline::Pipeline;
use crate::plot::{PlotError, PlotOptions};
use crate::schedule::{record, Action, Observer, ScheduleError};
use crate::sim::{Network, SimError};

/// Errors of running a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("--shard splits the runs of a [sweep], but {} has no [sweep] table", .0.display())]
    ShardWithoutSweep(PathBuf),
    #[error("{} already holds {what}; choose another --out directory, or pass --force to replace it", path.display())]
    Exists { path: PathBuf, what: String },
    #[error("{}: the run needs about {} on disk, but only {} are free there; free some space, write elsewhere, or pass --ignore-space to run anyway", path.display(), human_bytes(*needed), human_bytes(*free))]
    NoSpace {
        path: PathBuf,
        needed: u64,
        free: u64,
    },
    #[error("the run needs about {} of memory, but only {} are available; run fewer runs at once (--jobs) or smaller populations, or pass --ignore-space to run anyway", human_bytes(*needed), human_bytes(*available))]
    NoMemory { needed: u64, available: u64 },
    #[error("the figure \"{name}\" of {second} has the name of the one of {first}; put {{set1}} and {{chunk}} into the plot's `file`")]
    FigureNameTwice {
        name: String,
        first: String,
        second: String,
    },
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// Bytes as MB below a GB, else as GB.
fn human_bytes(bytes: u64) -> String {
    if bytes < 1_000_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} GB", bytes as f64 / 1e9)
    }
}

/// How a pipeline is run (the options of `neurorec run`).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replace an archive (or, in a sweep, a run) that already exists.
    pub force: bool,
    /// f64 (lossless) or f32 values.
    pub storage: ValueStorage,
    /// Run only one share of a sweep's runs.
    pub shard: Option<Shard>,
    /// Threads for the runs of a sweep (default: all cores).
    pub jobs: Option<usize>,
}

impl RunOptions {
    /// Threads for the runs of a sweep: `jobs`, or every core.
    pub fn threads(&self) -> usize {
        self.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    /// Checks the options against the pipeline: a shard needs a sweep.
    pub fn check(&self, pipeline: &Pipeline) -> Result<(), RunError> {
        if self.shard.is_some() && pipeline.sweep.is_empty() {
            return Err(RunError::ShardWithoutSweep(pipeline.path.clone()));
        }
        Ok(())
    }
}

/// Archive options of a pipeline run: the pipeline's text and the run's swept values
/// (`Null` for a single run) embedded in the manifest.
pub fn archive_options(
    pipeline: &Pipeline,
    options: &RunOptions,
    sweep: serde_json::Value,
) -> ArchiveOptions {
    ArchiveOptions {
        overwrite: options.force,
        storage: options.storage,
        seeds: serde_json::json!({ "seed": pipeline.seed, "given": pipeline.seed_given }),
        projections: pipeline
            .projections
            .iter()
            .map(|p| p.name.clone())
            .collect(),
        description: serde_json::json!({
            "pipeline_path": pipeline.path.display().to_string(),
            "pipeline": pipeline.source,
            "sweep": sweep,
        }),
        ..Default::default()
    }
}

/// Records `actions` on `net` with the monitors `specs` into a new archive at `dir` and
/// finishes it: the writer -> monitors -> schedule -> finish sequence every archive run
/// goes through. Returns the final manifest.
pub fn record_to_archive<O: Observer<ArchiveWriter>>(
    net: &mut Network,
    specs: &[MonitorSpec],
    actions: &[Action],
    dir: &Path,
    options: ArchiveOptions,
    observer: O,
) -> Result<Manifest, RunError> {
    let names = specs.iter().map(|m| m.compartment.clone()).collect();
    let writer = ArchiveWriter::create(dir, net.dt(), names, options)?;
    Ok(record(net, specs, writer, actions, observer)?)
}

/// Like [`record_to_archive`] for a pipeline's monitors and schedule; an existing archive is
/// reported as holding `what` (e.g. "an archive", "run 3") with the fix.
fn record_pipeline<O: Observer<ArchiveWriter>>(
    pipeline: &Pipeline,
    net: &mut Network,
    out: &Path,
    options: ArchiveOptions,
    what: &str,
    observer: O,
) -> Result<Manifest, RunError> {
    let connectivity = connectivity::snapshot(net);
    let (run, lock) = (options.run, options.lock.clone());
    let manifest = record_to_archive(
        net,
        &pipeline.monitors,
        &pipeline.schedule,
        out,
        options,
        observer,
    )
    .map_err(|e| match e {
        RunError::Archive(ArchiveError::Exists { path }) => RunError::Exists {
            path,
            what: what.to_string(),
        },
        other => other,
    })?;
    if !connectivity.is_empty() {
        // The run's lock: the single run's, held by the caller, or this sweep run's own.
        let lock = match lock {
            Some(lock) => lock,
            None => Arc::new(ArchiveLock::acquire(out, LockScope::Run(run))?),
        };
        connectivity::write(&connectivity, &lock, run)?;
    }
    Ok(manifest)
}

/// A single run's archive, written and still held: nobody else writes into it until this
/// is dropped (its figures are drawn and recorded meanwhile, see [`draw_plots`]).
#[derive(Debug)]
pub struct Written {
    pub archive: Archive,
    lock: Arc<ArchiveLock>,
}

/// Runs a pipeline without a sweep into an archive at `out` and opens it. `observer` sees
/// the run (e.g. a [`ProgressLine`]).
pub fn run_single<O: Observer<ArchiveWriter>>(
    pipeline: &Pipeline,
    out: &Path,
    options: &RunOptions,
    observer: O,
) -> Result<Written, RunError> {
    options.check(pipeline)?;
    let lock = Arc::new(ArchiveLock::acquire(out, LockScope::Archive)?);
    let mut net = pipeline.network(&[])?;
    let mut archive = archive_options(pipeline, options, serde_json::Value::Null);
    archive.lock = Some(Arc::clone(&lock));
    record_pipeline(pipeline, &mut net, out, archive, "an archive", observer)?;
    Ok(Written {
        archive: Archive::open(out)?,
        lock,
    })
}

/// One figure drawn by [`draw_plots`].
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub path: PathBuf,
    /// What the figure could not show (e.g. a spike panel without spikes).
    pub warnings: Vec<String>,
}

/// Draws the pipeline's `[[plots]]` for every chunk of every set of run 0 (or the plot's
/// `sets`) into `DIR/figures/`, file names with `{set}` (from 0), `{set1}` (from 1) and
/// `{chunk}`, and lists them in the manifest. A file of the same name that no manifest
/// lists is never overwritten (an error names it). `on_figure` receives each figure when
/// it is written.
pub fn draw_plots(
    pipeline: &Pipeline,
    written: &Written,
    mut on_figure: impl FnMut(&Figure),
) -> Result<(), RunError> {
    if pipeline.plots.is_empty() {
        return Ok(());
    }
    let archive = &written.archive;
    let figures = archive.dir().join("figures");
    std::fs::create_dir_all(&figures).map_err(ArchiveError::io(&figures))?;
    let mut drawn: Vec<(String, usize, u32, u32)> = Vec::new();
    for (i, plan) in pipeline.plots.iter().enumerate() {
        let file = plan
            .file
            .as_deref()
            .unwrap_or("figure_{set1}_chunk{chunk}.png");
        for set in archive.sets(0) {
            if plan.sets.as_ref().is_some_and(|s| !s.contains(&set)) {
                continue;
            }
            for entry in archive.chunks(0, set) {
                let name = file
                    .replace("{set1}", &(set + 1).to_string())
                    .replace("{set}", &set.to_string())
                    .replace("{chunk}", &entry.chunk.to_string());
                if let Some((_, j, s, c)) = drawn.iter().find(|d| d.0 == name) {
                    return Err(RunError::FigureNameTwice {
                        name,
                        first: format!("plots[{j}] set {s} chunk {c}"),
                        second: format!("plots[{i}] set {set} chunk {}", entry.chunk),
                    });
                }
                drawn.push((name.clone(), i, set, entry.chunk));
                let chunk = ChunkRef {
                    run: 0,
                    set,
                    chunk: entry.chunk,
                };
                let figure = draw_figure(written, plan, chunk, &figures.join(&name))?;
                on_figure(&figure);
            }
        }
    }
    Ok(())
}

/// Draws one figure under a temporary name, lists it in the manifest, then moves it to
/// `path` (refusing a file that is already there: no manifest lists it, so it is not
/// neurorec's). A process stopped between the listing and the move leaves a listed figure
/// that is missing: `validate` calls the archive unfinished, `repair` drops the entry.
fn draw_figure(
    written: &Written,
    plan: &crate::plot::PlotPlan,
    chunk: ChunkRef,
    path: &Path,
) -> Result<Figure, RunError> {
    let archive = &written.archive;
    let rel = path
        .strip_prefix(archive.dir())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/");
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(RunError::Archive(ArchiveError::InTheWay {
            path: archive.dir().to_path_buf(),
            files: vec![rel],
        }));
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let extension = path.extension().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp.{extension}", std::process::id()));
    let options = PlotOptions {
        chunk,
        time_lim: plan.time_lim,
        dpi: plan.dpi.unwrap_or(crate::plot::DEFAULT_DPI),
    };
    let warnings = crate::plot::plot(archive, plan, &options, &tmp);
    let warnings = match warnings {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    let bytes = std::fs::read(&tmp).map_err(ArchiveError::io(&tmp))?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes);
    let entry = FigureEntry {
        path: rel,
        bytes: bytes.len() as u64,
        crc32: format!("{:08x}", hasher.finalize()),
    };
    add_figures(&written.lock, vec![entry])?;
    std::fs::rename(&tmp, path).map_err(ArchiveError::io(path))?;
    Ok(Figure {
        path: path.to_path_buf(),
        warnings,
    })
}
