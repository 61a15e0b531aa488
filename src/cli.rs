//! The command line: `neurorec run | times | plot | stats | inspect | validate | repair | models`. Arguments are
//! parsed with clap; everything else is a library call ([`crate::run`], [`crate::report`],
//! [`crate::plot`], [`crate::archive`]) whose result is printed here. Errors are printed with
//! the fix and give a non-zero exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::archive::{repair, validate, Archive, Severity, ValueStorage};
use crate::pipeline::Pipeline;
use crate::plot::{parse_window, PlotOptions, PlotPlan};
use crate::report::{info_block, inspect, selected_sets};
use crate::run::{
    archive_options, check_resources, draw_plots, estimate, run_single, run_sweep, ProgressLine,
    RunOptions, Shard,
};

/// Runs of more rows than this print the estimate before they start.
const ANNOUNCED_ROWS: u64 = 10_000_000;

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
        #[arg(long, value_name = "K/N", value_parser = clap::value_parser!(Shard))]
        shard: Option<Shard>,
        /// Threads for the runs of a sweep (default: all cores).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        jobs: Option<u32>,
        /// Run even when the estimate exceeds the free disk space or the available memory
        /// (a warning instead of an error).
        #[arg(long)]
        ignore_space: bool,
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
        /// `variable = [...]`, `format = [...]` (as PlotRecordings' plan), optionally
        /// `time_lim = [t0, t1]` and `dpi`.
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
        /// Only this window, in ms, e.g. `--time-lim 100,300` (default: the plan's, or the
        /// whole chunk).
        #[arg(long, value_name = "T0,T1", allow_hyphen_values = true, value_parser = parse_window)]
        time_lim: Option<(f64, f64)>,
        /// Resolution (default: the plan's, or 300 as PlotRecordings).
        #[arg(long)]
        dpi: Option<u32>,
        /// Replace `--out` when it exists (it is never replaced otherwise).
        #[arg(long)]
        force: bool,
    },
    /// Show what an archive holds, e.g. `neurorec inspect results/seed`
    Inspect {
        /// The archive directory.
        dir: PathBuf,
    },
    /// Check an archive: runs finished, journals, checksums, schemas, period tables, files
    /// the manifest does not list, e.g. `neurorec validate results/seed`. Exit code 0: valid;
    /// 3: unfinished (a run interrupted or still writing; `neurorec repair` tidies it);
    /// 4: damaged or changed; 1: not an archive or not readable.
    Validate {
        /// The archive directory.
        dir: PathBuf,
    },
    /// List the model library (variables, parameters and defaults), or print one model's
    /// definition as a pipeline table to copy and change, e.g. `neurorec models PoissonNeuron`
    Models {
        /// A library model's name.
        name: Option<String>,
    },
    /// Statistics of an archive per run, set, chunk and compartment (or per neuron): neurons,
    /// recorded time, spikes, rates, silent fraction, ISI CV, and each variable's mean, std,
    /// min and max; a sweep's parameters join each run, e.g.
    /// `neurorec stats results/sweep --compartment exc --csv`
    Stats {
        /// The archive directory.
        dir: PathBuf,
        /// Only this run (default: all).
        #[arg(long)]
        run: Option<u32>,
        /// Only this set (default: all).
        #[arg(long)]
        set: Option<u32>,
        /// Only this chunk (default: all).
        #[arg(long)]
        chunk: Option<u32>,
        /// Only this compartment (default: all).
        #[arg(long)]
        compartment: Option<String>,
        /// `neuron`: one row per neuron (a projection: per synapse).
        #[arg(long, value_name = "neuron", value_parser = ["neuron"])]
        by: Option<String>,
        /// Only this window, in ms, e.g. `--time-lim 100,300`.
        #[arg(long, value_name = "T0,T1", allow_hyphen_values = true, value_parser = parse_window)]
        time_lim: Option<(f64, f64)>,
        /// JSON (an array of objects) instead of a table.
        #[arg(long, conflicts_with_all = ["csv", "parquet"])]
        json: bool,
        /// CSV instead of a table.
        #[arg(long, conflicts_with = "parquet")]
        csv: bool,
        /// Write the table to this Parquet file (which must not exist yet).
        #[arg(long, value_name = "FILE")]
        parquet: Option<PathBuf>,
    },
    /// Tidy what a stopped writer left, never touching complete chunks: move files of
    /// complete chunks into place, remove staged files of unfinished ones, drop a torn
    /// journal line, mark stopped runs interrupted, e.g. `neurorec repair results/seed`
    Repair {
        /// The archive directory.
        dir: PathBuf,
    },
}

/// Exit code of `validate` for an archive that is not finished.
pub const EXIT_UNFINISHED: u8 = 3;
/// Exit code of `validate` for an archive that is damaged or was changed.
pub const EXIT_CORRUPT: u8 = 4;

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A value the parsers refuse (`--shard`, `--time-lim`) is a failed command (exit 1)
        // like the library's errors; usage errors, help and version exit as clap decides.
        Err(e) if e.kind() == clap::error::ErrorKind::ValueValidation => {
            let _ = e.print();
            return ExitCode::FAILURE;
        }
        Err(e) => e.exit(),
    };
    match execute(cli.command) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

/// `plot --out`: an existing file is replaced only with `--force`, and the directory must
/// exist.
fn check_figure_path(out: &Path, force: bool) -> CliResult {
    if out.is_dir() {
        return Err(format!(
            "--out {} is a directory; name a .png or .svg file",
            out.display()
        )
        .into());
    }
    if out.exists() && !force {
        return Err(format!(
            "{} already exists; choose another --out, or pass --force to replace it",
            out.display()
        )
        .into());
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(format!(
            "--out {}: the directory {} does not exist; create it first",
            out.display(),
            parent.display()
        )
        .into());
    }
    Ok(())
}

/// Executes one command; returns the exit code (0 unless `validate` found problems).
pub fn execute(command: Command) -> Result<u8, Box<dyn std::error::Error>> {
    match command {
        Command::Validate { dir } => validate_archive(&dir),
        Command::Repair { dir } => {
            repair_archive(&dir)?;
            Ok(0)
        }
        other => execute_other(other).map(|()| 0),
    }
}

fn execute_other(command: Command) -> CliResult {
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
            ignore_space,
        } => {
            let options = RunOptions {
                force,
                storage: if f32 {
                    ValueStorage::F32
                } else {
                    ValueStorage::F64
                },
                shard,
                jobs: jobs.map(|j| j as usize),
            };
            let flags = RunFlags {
                dry_run,
                quiet,
                ignore_space,
            };
            run(&Pipeline::load(&pipeline)?, out.as_deref(), &options, flags)
        }
        Command::Times {
            dir,
            run,
            set,
            json,
        } => times(&Archive::open(&dir)?, run, set, json),
        Command::Plot {
            dir,
            plan,
            out,
            run,
            set,
            chunk,
            time_lim,
            dpi,
            force,
        } => {
            check_figure_path(&out, force)?;
            let archive = Archive::open(&dir)?;
            let plan = PlotPlan::load(&plan)?;
            let options = PlotOptions {
                chunk: crate::archive::ChunkRef { run, set, chunk },
                time_lim: time_lim.or(plan.time_lim),
                dpi: dpi.or(plan.dpi).unwrap_or(crate::plot::DEFAULT_DPI),
            };
            for w in crate::plot::plot(&archive, &plan, &options, &out)? {
                eprintln!("  {w}");
            }
            Ok(())
        }
        Command::Stats {
            dir,
            run,
            set,
            chunk,
            compartment,
            by,
            time_lim,
            json,
            csv,
            parquet,
        } => {
            let options = StatsArgs {
                run,
                set,
                chunk,
                compartment,
                by_neuron: by.is_some(),
                time_lim,
                json,
                csv,
                parquet,
            };
            stats(&dir, options)
        }
        Command::Inspect { dir } => {
            print!("{}", inspect(&Archive::open(&dir)?)?);
            Ok(())
        }
        Command::Models { name } => {
            use crate::model::library;
            match name {
                None => print!("{}", library::summary()),
                Some(name) => match library::pipeline_table(&name) {
                    Some(text) => print!("{text}"),
                    None => {
                        return Err(format!(
                            "no library model \"{name}\"; `neurorec models` lists them: {}",
                            library::names().join(", ")
                        )
                        .into())
                    }
                },
            }
            Ok(())
        }
        Command::Validate { .. } | Command::Repair { .. } => Ok(()),
    }
}

/// `neurorec run`: the estimate (a dry run stops there), checked against free disk space
/// and memory; then a sweep's runs, or one run with its info block and figures.
fn run(
    pipeline: &Pipeline,
    out: Option<&Path>,
    options: &RunOptions,
    flags: RunFlags,
) -> CliResult {
    options.check(pipeline)?;
    let archive = archive_options(pipeline, options, serde_json::Value::Null);
    let estimate = estimate(pipeline, &archive, options.shard, options.threads())?;
    if flags.dry_run {
        print!("{}", estimate.text());
        return Ok(());
    }
    let out = out.ok_or("`neurorec run` needs --out DIR (the archive directory), or --dry-run")?;
    if !flags.quiet && estimate.state_rows + estimate.spike_rows > ANNOUNCED_ROWS {
        eprint!("{}", estimate.text());
    }
    if let Err(e) = check_resources(&estimate, out) {
        if !flags.ignore_space {
            return Err(e.into());
        }
        eprintln!("warning: {e}");
    }
    if !pipeline.sweep.is_empty() {
        return sweep(pipeline, out, options, flags.quiet);
    }
    let quiet = flags.quiet;
    let written = run_single(pipeline, out, options, ProgressLine::new(!quiet))?;
    let info = info_block(&written.archive, 0, None)?;
    if !quiet {
        print!("{info}");
    }
    draw_plots(pipeline, &written, |figure| {
        if !quiet {
            let mut text = format!("Generate fig {}...", figure.path.display());
            for w in &figure.warnings {
                text.push_str(&format!(" \n  {w}\n"));
            }
            text.push_str(" Done");
            eprintln!("{text}");
        }
    })?;
    if !quiet {
        eprintln!("archive written to {}", out.display());
    }
    Ok(())
}

/// The switches of `neurorec run` besides the run's options.
#[derive(Debug, Clone, Copy)]
struct RunFlags {
    dry_run: bool,
    quiet: bool,
    ignore_space: bool,
}

/// Runs a sweep and prints each run's outcome; fails when any run failed.
fn sweep(pipeline: &Pipeline, out: &Path, options: &RunOptions, quiet: bool) -> CliResult {
    let results = run_sweep(pipeline, out, options)?;
    let mut failed = Vec::new();
    for outcome in &results {
        match &outcome.result {
            Ok(()) if !quiet => println!("run {} ({}): done", outcome.run, outcome.values_text()),
            Ok(()) => {}
            Err(e) => {
                eprintln!(
                    "run {} ({}) failed: {e}",
                    outcome.run,
                    outcome.values_text()
                );
                failed.push(outcome.run);
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

/// `neurorec times`: the info block, or CompNeuroPy's `RecordingTimes.all()` as JSON.
/// The arguments of `neurorec stats` (unread without the `analysis` feature).
#[cfg_attr(not(feature = "analysis"), allow(dead_code))]
struct StatsArgs {
    run: Option<u32>,
    set: Option<u32>,
    chunk: Option<u32>,
    compartment: Option<String>,
    by_neuron: bool,
    time_lim: Option<(f64, f64)>,
    json: bool,
    csv: bool,
    parquet: Option<PathBuf>,
}

/// `neurorec stats`: the table on stdout (or into a Parquet file), notes on runs that did
/// not complete on stderr.
#[cfg(feature = "analysis")]
fn stats(dir: &Path, args: StatsArgs) -> CliResult {
    use crate::analysis::{to_text, write_parquet, StatsOptions, TextFormat};
    let archive = Archive::open(dir)?;
    let options = StatsOptions {
        run: args.run,
        set: args.set,
        chunk: args.chunk,
        compartment: args.compartment,
        by_neuron: args.by_neuron,
        window_ms: args.time_lim,
    };
    let mut result = crate::analysis::stats(&archive, &options)?;
    for note in &result.notes {
        eprintln!("note: {note}");
    }
    if let Some(path) = args.parquet {
        write_parquet(&mut result.table, &path)?;
        eprintln!(
            "{} rows written to {}",
            result.table.height(),
            path.display()
        );
        return Ok(());
    }
    let format = if args.json {
        TextFormat::Json
    } else if args.csv {
        TextFormat::Csv
    } else {
        TextFormat::Table
    };
    print!("{}", to_text(&result.table, format)?);
    Ok(())
}

#[cfg(not(feature = "analysis"))]
fn stats(_: &Path, _: StatsArgs) -> CliResult {
    Err("this neurorec was built without `stats` (the cargo feature `analysis`, which brings polars); build it with `cargo build --release --features analysis`".into())
}

fn times(archive: &Archive, run: u32, set: Option<u32>, json: bool) -> CliResult {
    if !json {
        print!("{}", info_block(archive, run, set)?);
        return Ok(());
    }
    let sets = selected_sets(archive, run, set)?;
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
    Ok(())
}

/// `neurorec validate`: every problem on stdout, and an exit code saying how bad it is.
fn validate_archive(dir: &Path) -> Result<u8, Box<dyn std::error::Error>> {
    let archive = Archive::open(dir)?;
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
        return Ok(0);
    }
    for p in &problems {
        println!("{p}");
    }
    let corrupt = problems.iter().any(|p| p.severity == Severity::Corrupt);
    let repairable = problems.iter().any(|p| p.repairable);
    eprintln!(
        "error: {} problem(s) in the archive at {}{}",
        problems.len(),
        dir.display(),
        if corrupt {
            ""
        } else if repairable {
            " (unfinished, nothing damaged: `neurorec repair` tidies it)"
        } else {
            " (unfinished, nothing damaged, nothing to repair: a run still being written, or interrupted and already marked by `neurorec repair`, its complete chunks intact)"
        }
    );
    Ok(if corrupt {
        EXIT_CORRUPT
    } else {
        EXIT_UNFINISHED
    })
}

/// `neurorec repair`: what it did.
fn repair_archive(dir: &Path) -> CliResult {
    let report = repair(dir)?;
    if report.is_empty() {
        println!("nothing to repair in {}", dir.display());
        return Ok(());
    }
    for f in &report.moved {
        println!("moved into place: {f}");
    }
    for f in &report.removed {
        println!("removed unfinished: {f}");
    }
    for (file, line) in &report.torn_lines {
        println!("dropped torn line {line} of {file}");
    }
    for r in &report.interrupted {
        println!("run {r} marked interrupted");
    }
    Ok(())
}
