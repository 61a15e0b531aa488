//! The command line: `neurorec run | times | inspect | validate`. Parsing with clap, then
//! everything is done by library calls; errors are printed with the fix and give a
//! non-zero exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::archive::{validate, Archive, ArchiveOptions, ArchiveWriter, Kind};
use crate::monitor::{ChunkEnd, ChunkStart, Monitors, Sink, SinkError, StateSample};
use crate::pipeline::Pipeline;
use crate::report::{all_recordings_info, CompartmentShape};
use crate::schedule::run_schedule;
use crate::sim::{Network, ParamValue, PopulationSpec};

/// Simulate spiking populations, stream their recordings to a Parquet archive, and rebuild
/// recording times from it.
#[derive(Debug, Parser)]
#[command(name = "neurorec", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline and write its archive, e.g.
    /// `neurorec run pipelines/monitor_recordings.toml --out results/seed`
    Run {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        /// Directory of the archive to write.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Replace an archive that already exists in the output directory.
        #[arg(long)]
        force: bool,
        /// Only print the expected rows, bytes and memory; simulate nothing.
        #[arg(long)]
        dry_run: bool,
        /// Store recorded values as 32-bit floats (half the size, not lossless).
        #[arg(long)]
        f32: bool,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Run only share K of N of a sweep's runs (runs r with r % N == K), e.g. `--shard 3/8`
        /// in a job array; all shards fill the same archive directory.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Threads for the runs of a sweep (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Print the recording times of an archive, e.g. `neurorec times results/seed --set 0 --json`
    Times {
        /// The archive directory.
        dir: PathBuf,
        /// Run (default 0).
        #[arg(long, default_value_t = 0)]
        run: u32,
        /// Only this set (default: every set).
        #[arg(long)]
        set: Option<u32>,
        /// JSON with CompNeuroPy's `RecordingTimes.all()` structure per set.
        #[arg(long)]
        json: bool,
    },
    /// Draw a figure from an archive, e.g.
    /// `neurorec plot results/seed --plan plan.toml --set 0 --chunk 1 --out fig.png`
    Plot {
        /// The archive directory.
        dir: PathBuf,
        /// TOML with `shape = [2, 2]`, `position = [1, 2]`, `compartment = [...]`,
        /// `variable = [...]`, `format = [...]` (as PlotRecordings' plan).
        #[arg(long)]
        plan: PathBuf,
        /// Output file, `.png` or `.svg`.
        #[arg(long, short)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        run: u32,
        #[arg(long, default_value_t = 0)]
        set: u32,
        #[arg(long, default_value_t = 0)]
        chunk: u32,
        /// Only this window, in ms, e.g. `--time-lim 100,300`.
        #[arg(long, value_name = "T0,T1")]
        time_lim: Option<String>,
        /// Resolution (default 300, as PlotRecordings).
        #[arg(long, default_value_t = 300)]
        dpi: u32,
    },
    /// Show what an archive holds, e.g. `neurorec inspect results/seed`
    Inspect {
        /// The archive directory.
        dir: PathBuf,
    },
    /// Check checksums, schemas and period tables of an archive, e.g. `neurorec validate results/seed`
    Validate {
        /// The archive directory.
        dir: PathBuf,
    },
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

/// Executes one command.
pub fn execute(command: Command) -> CliResult {
    match command {
        Command::Run {
            pipeline,
            out,
            force,
            dry_run,
            f32,
            quiet,
            shard,
            jobs,
        } => {
            let pipeline = Pipeline::load(&pipeline)?;
            let shard = shard.as_deref().map(parse_shard).transpose()?;
            if !pipeline.sweep.is_empty() && !dry_run {
                let out = out.ok_or(
                    "`neurorec run` needs --out DIR (the archive directory), or --dry-run",
                )?;
                return run_sweep(&pipeline, &out, force, f32, shard, jobs, quiet);
            }
            if shard.is_some() {
                return Err(format!(
                    "--shard splits the runs of a [sweep], but {} has no [sweep] table",
                    pipeline.path.display()
                )
                .into());
            }
            let estimate = estimate(&pipeline)?;
            if dry_run {
                print!("{}", estimate.text());
                return Ok(());
            }
            let out =
                out.ok_or("`neurorec run` needs --out DIR (the archive directory), or --dry-run")?;
            if !quiet && estimate.state_rows + estimate.spike_rows > 10_000_000 {
                eprint!("{}", estimate.text());
            }
            run(&pipeline, &out, force, f32, !quiet)?;
            let archive = Archive::open(&out)?;
            let info = info_block(&archive, 0, None)?;
            if !quiet {
                print!("{info}");
            }
            draw_pipeline_plots(&pipeline, &archive, quiet)?;
            if !quiet {
                eprintln!("archive written to {}", out.display());
            }
            Ok(())
        }
        Command::Times {
            dir,
            run,
            set,
            json,
        } => {
            let archive = Archive::open(&dir)?;
            if json {
                let sets = selected_sets(&archive, run, set)?;
                let value = if let Some(s) = set {
                    archive.recording_times(run, s)?.all_json()
                } else {
                    let mut map = serde_json::Map::new();
                    for s in sets {
                        map.insert(s.to_string(), archive.recording_times(run, s)?.all_json());
                    }
                    serde_json::Value::Object(map)
                };
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{}", info_block(&archive, run, set)?);
            }
            Ok(())
        }
        Command::Plot {
            dir,
            plan,
            out,
            run,
            set,
            chunk,
            time_lim,
            dpi,
        } => {
            let archive = Archive::open(&dir)?;
            let text =
                std::fs::read_to_string(&plan).map_err(|e| format!("{}: {e}", plan.display()))?;
            let def: PlanFile = toml::from_str(&text)
                .map_err(|e| format!("{}: {}", plan.display(), e.message()))?;
            let time_lim = time_lim
                .map(|t| {
                    let (a, b) = t
                        .split_once(',')
                        .ok_or("--time-lim T0,T1, e.g. --time-lim 100,300")?;
                    Ok::<_, String>((
                        a.trim()
                            .parse::<f64>()
                            .map_err(|_| format!("--time-lim: \"{a}\" is not a number"))?,
                        b.trim()
                            .parse::<f64>()
                            .map_err(|_| format!("--time-lim: \"{b}\" is not a number"))?,
                    ))
                })
                .transpose()?;
            let plot_plan = crate::plot::PlotPlan {
                shape: def.shape,
                position: def.position,
                compartment: def.compartment,
                variable: def.variable,
                format: def.format,
            };
            let options = crate::plot::PlotOptions {
                chunk: crate::archive::ChunkRef { run, set, chunk },
                time_lim,
                dpi,
            };
            for w in crate::plot::plot(&archive, &plot_plan, &options, &out)? {
                eprintln!("  {w}");
            }
            Ok(())
        }
        Command::Inspect { dir } => {
            print!("{}", inspect(&Archive::open(&dir)?)?);
            Ok(())
        }
        Command::Validate { dir } => {
            let archive = Archive::open(&dir)?;
            let problems = validate(&archive);
            if problems.is_empty() {
                let files: usize = archive
                    .manifest()
                    .chunks
                    .iter()
                    .map(|c| c.files.len())
                    .sum();
                println!(
                    "valid: {} chunks, {files} files checked",
                    archive.manifest().chunks.len()
                );
                Ok(())
            } else {
                for p in &problems {
                    println!("{p}");
                }
                Err(format!(
                    "{} problem(s) in the archive at {}",
                    problems.len(),
                    dir.display()
                )
                .into())
            }
        }
    }
}

fn selected_sets(
    archive: &Archive,
    run: u32,
    set: Option<u32>,
) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
    let sets = archive.sets(run);
    match set {
        Some(s) if sets.contains(&s) => Ok(vec![s]),
        Some(s) => {
            Err(format!("the archive has no set {s} in run {run}; it has sets {sets:?}").into())
        }
        None => Ok(sets),
    }
}

/// A plan file for `neurorec plot`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    shape: (u32, u32),
    position: Vec<u32>,
    compartment: Vec<String>,
    variable: Vec<String>,
    format: Vec<String>,
}

/// Draws the pipeline's `[[plots]]` for every chunk of every set of run 0 into
/// `DIR/figures/`, file names with `{set}` (from 0), `{set1}` (from 1) and `{chunk}`.
pub fn draw_pipeline_plots(pipeline: &Pipeline, archive: &Archive, quiet: bool) -> CliResult {
    if pipeline.plots.is_empty() {
        return Ok(());
    }
    let figures = archive.dir().join("figures");
    std::fs::create_dir_all(&figures).map_err(|e| format!("{}: {e}", figures.display()))?;
    for def in &pipeline.plots {
        let plan = crate::plot::PlotPlan {
            shape: def.shape,
            position: def.position.clone(),
            compartment: def.compartment.clone(),
            variable: def.variable.clone(),
            format: def.format.clone(),
        };
        for set in archive.sets(0) {
            if def.sets.as_ref().is_some_and(|s| !s.contains(&set)) {
                continue;
            }
            for entry in archive.chunks(0, set) {
                let name = def
                    .file
                    .replace("{set1}", &(set + 1).to_string())
                    .replace("{set}", &set.to_string())
                    .replace("{chunk}", &entry.chunk.to_string());
                let path = figures.join(&name);
                let options = crate::plot::PlotOptions {
                    chunk: crate::archive::ChunkRef {
                        run: 0,
                        set,
                        chunk: entry.chunk,
                    },
                    time_lim: def.time_lim,
                    dpi: def.dpi.unwrap_or(300),
                };
                let warnings = crate::plot::plot(archive, &plan, &options, &path)?;
                if !quiet {
                    let mut text = format!("Generate fig {}...", path.display());
                    for w in &warnings {
                        text.push_str(&format!(" \n  {w}\n"));
                    }
                    text.push_str(" Done");
                    eprintln!("{text}");
                }
            }
        }
    }
    Ok(())
}

/// Parses `K/N` with `0 <= K < N`.
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let bad = || {
        format!("--shard {text}: expected K/N with 0 <= K < N, e.g. --shard 0/4 (SLURM: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)")
    };
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let k: usize = k.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Runs every combination of a sweep (or this shard's share) in parallel, each as its own
/// `run=<r>` partition with its own manifest, and writes `runs.parquet`. A failing run is
/// reported and does not stop the others.
pub fn run_sweep(
    pipeline: &Pipeline,
    out: &Path,
    force: bool,
    f32: bool,
    shard: Option<(usize, usize)>,
    jobs: Option<usize>,
    quiet: bool,
) -> CliResult {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
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
    crate::archive::write_runs_table(out, &columns)?;
    let mine: Vec<usize> = (0..combos.len())
        .filter(|r| shard.is_none_or(|(k, n)| r % n == k))
        .collect();
    let threads = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, mine.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<(), String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&r) = mine.get(i) else { break };
                let result = run_one(pipeline, out, r as u32, &combos[r], force, f32, threads > 1)
                    .map_err(|e| e.to_string());
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((r, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(r, _)| *r);
    let mut failed = Vec::new();
    for (r, result) in &results {
        let values = combos[*r]
            .iter()
            .map(|(p, q, v)| format!("{p}.{q}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        match result {
            Ok(()) => {
                if !quiet {
                    println!("run {r} ({values}): done");
                }
            }
            Err(e) => {
                eprintln!("run {r} ({values}) failed: {e}");
                failed.push(*r);
            }
        }
    }
    if !quiet {
        eprintln!(
            "archive written to {} ({} runs, table of runs in runs.parquet)",
            out.display(),
            results.len() - failed.len()
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} runs failed: {failed:?}; the others are complete in {}",
            failed.len(),
            results.len(),
            out.display()
        )
        .into())
    }
}

fn run_one(
    pipeline: &Pipeline,
    out: &Path,
    run: u32,
    overrides: &[(String, String, f64)],
    force: bool,
    f32: bool,
    parallel_runs: bool,
) -> CliResult {
    let mut net = pipeline.network(overrides)?;
    if parallel_runs {
        // Runs already share the cores.
        net = net.with_threads(1);
    }
    let sweep: std::collections::BTreeMap<String, f64> = overrides
        .iter()
        .map(|(p, q, v)| (format!("{p}.{q}"), *v))
        .collect();
    let mut options = archive_options(pipeline, force, f32, serde_json::json!(sweep));
    options.run = run;
    options.own_manifest = true;
    let mut mon = monitors_into_archive(pipeline, &net, out, options, &format!("run {run}"))?;
    run_schedule(&mut net, &mut mon, &pipeline.schedule, |_, _| {})?;
    mon.into_sink().finish()?;
    Ok(())
}

/// Archive options of a pipeline run (the pipeline embedded in the manifest).
fn archive_options(
    pipeline: &Pipeline,
    force: bool,
    f32: bool,
    sweep: serde_json::Value,
) -> ArchiveOptions {
    ArchiveOptions {
        overwrite: force,
        storage: if f32 {
            crate::archive::ValueStorage::F32
        } else {
            crate::archive::ValueStorage::F64
        },
        seeds: serde_json::json!({ "seed": pipeline.seed }),
        description: serde_json::json!({
            "pipeline_path": pipeline.path.display().to_string(),
            "pipeline": pipeline.source,
            "sweep": sweep,
        }),
        ..Default::default()
    }
}

/// The pipeline's monitors streaming into a new archive at `out`; `what` names the run in
/// the error for an existing archive.
fn monitors_into_archive(
    pipeline: &Pipeline,
    net: &Network,
    out: &Path,
    options: ArchiveOptions,
    what: &str,
) -> Result<Monitors<ArchiveWriter>, Box<dyn std::error::Error>> {
    let names = pipeline
        .monitors
        .iter()
        .map(|m| m.compartment.clone())
        .collect();
    let writer = ArchiveWriter::create(out, net.dt(), names, options).map_err(|e| match e {
        crate::archive::ArchiveError::Exists { path } => format!(
            "{} already holds {what}; choose another --out directory, or pass --force to replace it",
            path.display()
        ),
        other => other.to_string(),
    })?;
    Ok(Monitors::with_sink(net, &pipeline.monitors, writer)?)
}

/// Runs a schedule, showing progress (simulated ms, bytes written, rate) on stderr when it is
/// a terminal and the run lasts longer than about two seconds.
fn run_with_progress(
    net: &mut Network,
    mon: &mut Monitors<ArchiveWriter>,
    actions: &[crate::schedule::Action],
    show: bool,
) -> CliResult {
    use std::io::{IsTerminal, Write};
    let show = show && std::io::stderr().is_terminal();
    let total_ms: f64 = actions
        .iter()
        .map(|a| match a {
            crate::schedule::Action::Simulate { ms } => *ms,
            _ => 0.0,
        })
        .sum();
    let started = std::time::Instant::now();
    let mut done_ms = 0.0;
    let mut shown = false;
    let mut report = |done_ms: f64, mon: &Monitors<ArchiveWriter>, last: bool| {
        let elapsed = started.elapsed().as_secs_f64();
        if !show || (elapsed < 2.0 && !shown) {
            return;
        }
        let bytes: u64 = mon
            .sink()
            .manifest()
            .chunks
            .iter()
            .flat_map(|c| &c.files)
            .map(|f| f.bytes)
            .sum();
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r{:>10.1} / {:.1} ms simulated  {:>9.1} MB written  {:>8.1} ms/s{}",
            done_ms,
            total_ms,
            bytes as f64 / 1e6,
            done_ms / elapsed.max(1e-9),
            if last { "\n" } else { "" }
        );
        let _ = err.flush();
        shown = true;
    };
    let mut on_set = |_: &mut Monitors<ArchiveWriter>, _| {};
    for action in actions {
        if let crate::schedule::Action::Simulate { ms } = action {
            let mut steps = net.steps_for(*ms)?;
            while steps > 0 {
                let slice = steps.min(2_000);
                mon.simulate_steps(net, slice)?;
                steps -= slice;
                done_ms += slice as f64 * net.dt();
                report(done_ms.min(total_ms), mon, false);
            }
        } else {
            crate::schedule::apply(net, mon, action, &mut on_set)?;
        }
    }
    if mon.get_recording_times(net).nr_chunks() > 0 {
        mon.end_set(net)?;
    }
    report(total_ms, mon, true);
    Ok(())
}

/// Runs a pipeline into an archive at `out`.
pub fn run(pipeline: &Pipeline, out: &Path, force: bool, f32: bool, progress: bool) -> CliResult {
    let mut net = pipeline.network(&[])?;
    let options = archive_options(pipeline, force, f32, serde_json::Value::Null);
    let mut mon = monitors_into_archive(pipeline, &net, out, options, "an archive")?;
    run_with_progress(&mut net, &mut mon, &pipeline.schedule, progress)?;
    mon.into_sink().finish()?;
    Ok(())
}

/// The "ALL RECORDINGS INFO" block of a run rebuilt from the archive.
pub fn info_block(
    archive: &Archive,
    run: u32,
    set: Option<u32>,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut times = Vec::new();
    for s in selected_sets(archive, run, set)? {
        times.push(archive.recording_times(run, s)?);
    }
    Ok(all_recordings_info(&times, &shapes(archive)))
}

fn shapes(archive: &Archive) -> Vec<CompartmentShape> {
    archive
        .manifest()
        .compartments
        .iter()
        .map(|name| {
            let meta = archive
                .manifest()
                .chunks
                .iter()
                .flat_map(|c| &c.files)
                .find(|f| &f.compartment == name)
                .and_then(|f| archive.file_meta(&f.path).ok());
            let has_state = archive
                .manifest()
                .chunks
                .iter()
                .flat_map(|c| &c.files)
                .any(|f| &f.compartment == name && f.kind == Kind::State);
            CompartmentShape {
                name: name.clone(),
                neurons: meta.map_or(0, |m| m.neurons),
                has_state,
            }
        })
        .collect()
}

/// What `inspect` prints.
pub fn inspect(archive: &Archive) -> Result<String, Box<dyn std::error::Error>> {
    use std::fmt::Write;
    let m = archive.manifest();
    let mut out = String::new();
    writeln!(
        out,
        "archive {} (format {}, written by neurorec {})",
        archive.dir().display(),
        m.format_version,
        m.tool_version
    )?;
    writeln!(
        out,
        "dt {} ms; compartments: {}",
        m.dt_ms,
        m.compartments.join(", ")
    )?;
    for name in &m.compartments {
        if let Some(f) = m
            .chunks
            .iter()
            .flat_map(|c| &c.files)
            .find(|f| &f.compartment == name)
        {
            let meta = archive.file_meta(&f.path)?;
            let mut vars = meta.variables.clone();
            if m.chunks
                .iter()
                .flat_map(|c| &c.files)
                .any(|f| &f.compartment == name && f.kind == Kind::Spikes)
            {
                vars.push("spike".into());
            }
            writeln!(
                out,
                "  {name}: {} neurons, every {} ms, records {}",
                meta.neurons,
                meta.period_ms,
                vars.join(", ")
            )?;
        }
    }
    for run in archive.runs() {
        for set in archive.sets(run) {
            writeln!(out, "run {run} set {set}:")?;
            let mut chunks: Vec<_> = m
                .chunks
                .iter()
                .filter(|c| c.run == run && c.set == set)
                .collect();
            chunks.sort_by_key(|c| c.chunk);
            if chunks.is_empty() {
                writeln!(out, "  (no chunk recorded)")?;
            }
            for c in chunks {
                let rows: u64 = c.files.iter().map(|f| f.rows).sum();
                let bytes: u64 = c.files.iter().map(|f| f.bytes).sum();
                let status = match c.status {
                    crate::archive::ChunkStatus::Complete => "complete",
                    crate::archive::ChunkStatus::Writing => "UNFINISHED",
                };
                let mut steps = c
                    .end_step
                    .map_or(format!("from step {}", c.first_step), |e| {
                        format!("steps {}..{}", c.first_step, e)
                    });
                if c.skipped_steps > 0 {
                    steps.push_str(&format!(
                        " (after {} steps simulated in dropped empty chunks)",
                        c.skipped_steps
                    ));
                }
                writeln!(
                    out,
                    "  chunk {}: {status}, {steps}, {} files, {rows} rows, {bytes} bytes",
                    c.chunk,
                    c.files.len()
                )?;
                for f in &c.files {
                    writeln!(out, "    {} ({} rows, {} bytes)", f.path, f.rows, f.bytes)?;
                }
            }
        }
    }
    Ok(out)
}

/// Expected size of a run, from its schedule alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Per compartment: name, state rows, spike rows (estimated), bytes (estimated).
    pub compartments: Vec<(String, u64, u64, u64)>,
    pub state_rows: u64,
    pub spike_rows: u64,
    pub bytes: u64,
    pub peak_memory: u64,
}

impl Estimate {
    /// The text `--dry-run` prints.
    pub fn text(&self) -> String {
        let mut s = String::from("estimate (before running):\n");
        for (name, state, spikes, bytes) in &self.compartments {
            s.push_str(&format!(
                "  {name}: {state} state rows, ~{spikes} spike rows, ~{:.1} MB\n",
                *bytes as f64 / 1e6
            ));
        }
        s.push_str(&format!(
            "  total: ~{:.1} MB on disk, ~{:.0} MB peak memory\n",
            self.bytes as f64 / 1e6,
            self.peak_memory as f64 / 1e6
        ));
        s
    }
}

/// Counts rows without storing them.
#[derive(Default)]
struct Counter {
    state: Vec<u64>,
    spikes: Vec<u64>,
}

impl Sink for Counter {
    fn begin_chunk(&mut self, start: &ChunkStart<'_>) -> Result<(), SinkError> {
        self.state.resize(start.compartments.len(), 0);
        self.spikes.resize(start.compartments.len(), 0);
        Ok(())
    }
    fn state(&mut self, compartment: usize, sample: StateSample<'_>) -> Result<(), SinkError> {
        self.state[compartment] += sample.values(0).len() as u64;
        Ok(())
    }
    fn spikes(
        &mut self,
        compartment: usize,
        _: i64,
        _: u32,
        neurons: &[u32],
    ) -> Result<(), SinkError> {
        self.spikes[compartment] += neurons.len() as u64;
        Ok(())
    }
    fn end_chunk(&mut self, _: &ChunkEnd<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Estimates rows, bytes and memory by running the schedule on a probe network of at most
/// 64 neurons per population (evenly spread over the neurons, with their parameters), and
/// scaling the counts to the full populations. Values are 0.76x their raw size on disk
/// (measured); spikes 24 bytes per row.
pub fn estimate(pipeline: &Pipeline) -> Result<Estimate, Box<dyn std::error::Error>> {
    const PROBE: usize = 64;
    let mut probe = Network::new(pipeline.dt_ms)?;
    let mut scale = Vec::new();
    for spec in &pipeline.populations {
        let n = spec.size.min(PROBE);
        let pick = |values: &ParamValue| match values {
            ParamValue::Scalar(x) => ParamValue::Scalar(*x),
            ParamValue::PerNeuron(xs) => {
                ParamValue::PerNeuron((0..n).map(|i| xs[i * spec.size / n]).collect())
            }
        };
        let mut small = PopulationSpec::new(spec.name.clone(), n, spec.model);
        for (k, v) in &spec.parameters {
            small = small.with_parameter(k, pick(v));
        }
        for (k, v) in &spec.initial {
            small = small.with_initial(k, pick(v));
        }
        probe.add_population(small)?;
        scale.push((spec.name.clone(), spec.size as f64 / n as f64));
    }
    let mut mon = Monitors::with_sink(&probe, &pipeline.monitors, Counter::default())?;
    run_schedule(&mut probe, &mut mon, &pipeline.schedule, |_, _| {})?;
    let counter = mon.into_sink();
    let mut out = Estimate {
        compartments: Vec::new(),
        state_rows: 0,
        spike_rows: 0,
        bytes: 0,
        peak_memory: 64 << 20,
    };
    for (i, m) in pipeline.monitors.iter().enumerate() {
        let factor = scale
            .iter()
            .find(|(n, _)| n == &m.compartment)
            .map_or(1.0, |s| s.1);
        let state = (counter.state.get(i).copied().unwrap_or(0) as f64 * factor).round() as u64;
        let spikes = (counter.spikes.get(i).copied().unwrap_or(0) as f64 * factor).round() as u64;
        let vars = m.variables.iter().filter(|v| *v != "spike").count() as f64;
        let bytes =
            (state as f64 * 8.0 * vars * 0.76 + state as f64 * 1.0 + spikes as f64 * 24.0) as u64;
        let size = pipeline
            .populations
            .iter()
            .find(|p| p.name == m.compartment)
            .map_or(0, |p| p.size);
        // Batch buffers on the simulation thread, two batches queued, two row groups encoding.
        out.peak_memory +=
            ((1u64 << 17) + size as u64) * (24 + 8 * vars as u64) * 4 + (1u64 << 19) * 16 * 2;
        out.state_rows += state;
        out.spike_rows += spikes;
        out.bytes += bytes;
        out.compartments
            .push((m.compartment.clone(), state, spikes, bytes));
    }
    Ok(out)
}
