//! Sweeps: every combination of a pipeline's `[sweep]` values as its own run of one archive,
//! in parallel, optionally only one shard's share (a job array filling one directory).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{archive_options, record_pipeline, RunError, RunOptions};
use crate::archive::{ArchiveError, ArchiveLock, LockScope};
use crate::pipeline::Pipeline;
use crate::schedule::Unobserved;

/// Share `k` of `n` of a sweep's runs: the runs `r` with `r % n == k` (`--shard K/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    /// Whether run `r` belongs to this shard.
    pub fn contains(&self, r: usize) -> bool {
        r % self.n == self.k
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parses `K/N` with `0 <= K < N`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("--shard {text}: expected K/N with 0 <= K < N, e.g. --shard 0/4 (SLURM: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)")
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(Self { k, n })
    }
}

/// What became of one run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The run index (`run=<r>`).
    pub run: u32,
    /// `(population, parameter, value)` of every swept parameter.
    pub values: Vec<(String, String, f64)>,
    /// `Err` with the message when the run failed (the other runs are not affected).
    pub result: Result<(), String>,
}

impl RunOutcome {
    /// `population.parameter=value ...`, as run lines show the swept values.
    pub fn values_text(&self) -> String {
        self.values
            .iter()
            .map(|(p, q, v)| format!("{p}.{q}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Runs every combination of a sweep (or this shard's share) in parallel, each as its own
/// `run=<r>` partition with its own manifest, after writing `runs.parquet`. A failing run
/// does not stop the others; every run's outcome is returned in run order.
pub fn run_sweep(
    pipeline: &Pipeline,
    out: &Path,
    options: &RunOptions,
) -> Result<Vec<RunOutcome>, RunError> {
    let combos = pipeline.sweep_runs();
    let columns: Vec<(String, Vec<f64>)> = pipeline
        .sweep
        .iter()
        .enumerate()
        .map(|(i, (pop, param, _))| {
            (
                format!("{pop}.{param}"),
                combos.iter().map(|c| c[i].2).collect(),
            )
        })
        .collect();
    // Held until every run has ended: no single run can start in the directory meanwhile.
    let _sweep = ArchiveLock::acquire(out, LockScope::Sweep)?;
    if out.join(crate::archive::MANIFEST).exists() {
        return Err(RunError::Archive(ArchiveError::Conflict {
            path: out.to_path_buf(),
            what: "holds the archive of a single run; the runs of a sweep go into a directory of their own".into(),
        }));
    }
    crate::archive::write_runs_table(out, &columns, options.force)?;
    if options.force {
        // Runs of an earlier, larger sweep would stay beside the new ones: remove them.
        for r in earlier_runs(out)
            .into_iter()
            .filter(|r| *r as usize >= combos.len())
        {
            crate::archive::remove_run(out, r)?;
        }
    }
    let mine: Vec<usize> = (0..combos.len())
        .filter(|r| options.shard.is_none_or(|s| s.contains(*r)))
        .collect();
    let threads = options.threads().clamp(1, mine.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<RunOutcome>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&r) = mine.get(i) else { break };
                let result = run_one(pipeline, out, r as u32, &combos[r], options, threads > 1)
                    .map_err(|e| e.to_string());
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(RunOutcome {
                        run: r as u32,
                        values: combos[r].clone(),
                        result,
                    });
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|o| o.run);
    Ok(results)
}

/// The runs whose manifests are in the sweep archive at `dir`.
fn earlier_runs(dir: &Path) -> Vec<u32> {
    crate::archive::manifest_stems(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|stem| stem.strip_prefix("manifest-run=")?.parse().ok())
        .collect()
}

fn run_one(
    pipeline: &Pipeline,
    out: &Path,
    run: u32,
    overrides: &[(String, String, f64)],
    options: &RunOptions,
    parallel_runs: bool,
) -> Result<(), RunError> {
    let mut net = pipeline.network(overrides)?;
    if parallel_runs {
        // Runs already share the cores.
        net = net.with_threads(1);
    }
    let sweep: std::collections::BTreeMap<String, f64> = overrides
        .iter()
        .map(|(p, q, v)| (format!("{p}.{q}"), *v))
        .collect();
    let mut archive = archive_options(pipeline, options, serde_json::json!(sweep));
    archive.run = run;
    archive.own_manifest = true;
    record_pipeline(
        pipeline,
        &mut net,
        out,
        archive,
        &format!("run {run}"),
        Unobserved,
    )?;
    Ok(())
}
