//! Analysis with polars: lazy scans of an archive's Hive-partitioned Parquet files, with
//! filters and projections pushed into the scan, and per-neuron aggregates. polars carries
//! its own Arrow implementation; it is used only in this module.

mod output;
mod stats;

use std::path::Path;

use polars::prelude::*;

pub use output::{to_text, write_parquet, TextFormat};
pub use stats::{stats, Stats, StatsOptions};

use crate::archive::{Archive, ArchiveError, Kind};

/// Errors of the analysis step.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("polars: {0}")]
    Polars(#[from] PolarsError),
    #[error("{what} not found in the archive; it holds: {known}")]
    NotFound { what: String, known: String },
    #[error("time window ({t0}, {t1}) is not a window: give two finite times in ms with T0 < T1, e.g. --time-lim 100,300")]
    InvalidWindow { t0: f64, t1: f64 },
    #[error("{} already exists; neurorec does not replace a file: choose another name or remove it first", .0.display())]
    Exists(std::path::PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// A lazy scan of every file of a compartment and kind, across runs, sets and chunks, with
/// `run`, `set` and `chunk` as columns (Hive partitioning).
pub fn scan(dir: &Path, compartment: &str, kind: Kind) -> Result<LazyFrame, AnalysisError> {
    let root = dir.join(compartment).join(kind.as_str());
    if !root.is_dir() {
        return Err(AnalysisError::NotFound {
            what: format!("{} of {compartment}", kind.as_str()),
            known: list_compartments(dir),
        });
    }
    let pattern = root.join("**").join("*.parquet");
    let args = ScanArgsParquet {
        hive_options: HiveOptions {
            enabled: Some(true),
            hive_start_idx: 0,
            schema: None,
            try_parse_dates: false,
        },
        ..Default::default()
    };
    Ok(LazyFrame::scan_parquet(
        PlRefPath::from(pattern.to_string_lossy().as_ref()),
        args,
    )?)
}

fn list_compartments(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// Per neuron and chunk of a run and set: spike count, recorded (not simulated) time in s,
/// and firing rate in Hz. Columns `chunk`, `neuron`, `spikes`, `recorded_s`, `rate_hz`;
/// every neuron appears, with 0 where it did not fire.
pub fn firing_rates(
    archive: &Archive,
    run: u32,
    set: u32,
    compartment: &str,
) -> Result<DataFrame, AnalysisError> {
    let times = archive.recording_times(run, set)?;
    let dt = archive.manifest().dt_ms;
    let mut chunk_col = Vec::new();
    let mut neuron_col = Vec::new();
    let mut recorded_col = Vec::new();
    for (c, chunk) in times.chunks.iter().enumerate() {
        let comp = chunk
            .compartment(compartment)
            .ok_or_else(|| AnalysisError::NotFound {
                what: format!("compartment {compartment}"),
                known: archive.manifest().compartments.join(", "),
            })?;
        let entry = archive.chunks(run, set)[c];
        let neurons = entry
            .files
            .iter()
            .find(|f| f.compartment == compartment)
            .map(|f| archive.file_meta(&f.path))
            .transpose()?
            .map_or(0, |m| m.neurons);
        let recorded_s: f64 = comp
            .pairs
            .iter()
            .map(|(a, b)| (b - a) as f64 * dt / 1000.0)
            .sum();
        for n in 0..neurons as u32 {
            chunk_col.push(c as i64);
            neuron_col.push(n);
            recorded_col.push(recorded_s);
        }
    }
    let all = df![
        "chunk" => chunk_col,
        "neuron" => neuron_col,
        "recorded_s" => recorded_col,
    ]?
    .lazy();
    let counts = scan(archive.dir(), compartment, Kind::Spikes)?
        .filter(
            col("run")
                .eq(lit(run as i64))
                .and(col("set").eq(lit(set as i64))),
        )
        .group_by([col("chunk").cast(DataType::Int64), col("neuron")])
        .agg([len().cast(DataType::Int64).alias("spikes")]);
    let rates = all
        .join(
            counts,
            [col("chunk"), col("neuron")],
            [col("chunk"), col("neuron")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(col("spikes").fill_null(lit(0i64)))
        .with_column((col("spikes").cast(DataType::Float64) / col("recorded_s")).alias("rate_hz"))
        .select([
            col("chunk"),
            col("neuron"),
            col("spikes"),
            col("recorded_s"),
            col("rate_hz"),
        ])
        .sort(["chunk", "neuron"], Default::default())
        .collect()?;
    Ok(rates)
}

/// Per neuron: mean, min and max of a recorded variable in one chunk, optionally only in the
/// window `t0 <= time_ms <= t1`. Columns `neuron` (a projection: `post`, `pre`), `mean`,
/// `min`, `max`, `samples`.
pub fn variable_stats(
    dir: &Path,
    compartment: &str,
    variable: &str,
    run: u32,
    set: u32,
    chunk: u32,
    window_ms: Option<(f64, f64)>,
) -> Result<DataFrame, AnalysisError> {
    let mut filter = col("run")
        .eq(lit(run as i64))
        .and(col("set").eq(lit(set as i64)))
        .and(col("chunk").eq(lit(chunk as i64)));
    if let Some((t0, t1)) = window_ms {
        filter = filter
            .and(col("time_ms").gt_eq(lit(t0)))
            .and(col("time_ms").lt_eq(lit(t1)));
    }
    let v = col(variable).cast(DataType::Float64);
    let mut lf = scan(dir, compartment, Kind::State)?;
    // A projection's rows are synapses (`post`, `pre`).
    let units = if lf.collect_schema()?.contains("neuron") {
        vec![col("neuron")]
    } else {
        vec![col("post"), col("pre")]
    };
    Ok(lf
        .filter(filter)
        .group_by(units.clone())
        .agg([
            v.clone().mean().alias("mean"),
            v.clone().min().alias("min"),
            v.max().alias("max"),
            len().cast(DataType::Int64).alias("samples"),
        ])
        .sort_by_exprs(units, Default::default())
        .collect()?)
}
