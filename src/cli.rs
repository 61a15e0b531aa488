//! The command line: `neurorec run | times | plot | inspect | validate`. Arguments are
//! parsed with clap; everything else is a library call ([`crate::run`], [`crate::report`],
//! [`crate::plot`], [`crate::archive`]) whose result is printed here. Errors are printed with
//! the fix and give a non-zero exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::archive::{validate, Archive, ValueStorage};
use crate::pipeline::Pipeline;
use crate::plot::{parse_window, PlotOptions, PlotPlan};
use crate::report::{info_block, inspect, selected_sets};
use crate::run::{
    archive_options, draw_plots, estimate, run_single, run_sweep, ProgressLine, RunOptions, Shard,
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
            let options = RunOptions {
                force,
                storage: if f32 {
                    ValueStorage::F32
                } else {
                    ValueStorage::F64
                },
                shard,
                jobs,
            };
            run(
                &Pipeline::load(&pipeline)?,
                out.as_deref(),
                &options,
                dry_run,
                quiet,
            )
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
        } => {
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
        Command::Inspect { dir } => {
            print!("{}", inspect(&Archive::open(&dir)?)?);
            Ok(())
        }
        Command::Validate { dir } => validate_archive(&dir),
    }
}

/// `neurorec run`: a sweep's runs, a dry run's estimate, or one run with its info block and
/// figures.
fn run(
    pipeline: &Pipeline,
    out: Option<&Path>,
    options: &RunOptions,
    dry_run: bool,
    quiet: bool,
) -> CliResult {
    let needs_out = "`neurorec run` needs --out DIR (the archive directory), or --dry-run";
    options.check(pipeline)?;
    if !pipeline.sweep.is_empty() && !dry_run {
        return sweep(pipeline, out.ok_or(needs_out)?, options, quiet);
    }
    let estimate = estimate(
        pipeline,
        &archive_options(pipeline, options, serde_json::Value::Null),
    )?;
    if dry_run {
        print!("{}", estimate.text());
        return Ok(());
    }
    let out = out.ok_or(needs_out)?;
    if !quiet && estimate.state_rows + estimate.spike_rows > ANNOUNCED_ROWS {
        eprint!("{}", estimate.text());
    }
    let archive = run_single(pipeline, out, options, ProgressLine::new(!quiet))?;
    let info = info_block(&archive, 0, None)?;
    if !quiet {
        print!("{info}");
    }
    draw_plots(pipeline, &archive, |figure| {
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

/// `neurorec validate`: every problem on stdout, and a failure when there is one.
fn validate_archive(dir: &Path) -> CliResult {
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
        return Ok(());
    }
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
