//! Connectivity files (NETWORKS.md §4): the synapses of a projection built elsewhere, as
//! Parquet or CSV with columns `pre`, `post` (ranks within the projection's slices) and
//! optionally `w` and `delay` (ms). Self-connections in a file are kept.

use std::path::Path;

use arrow_array::{Array, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch};
use arrow_array::{UInt32Array, UInt64Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One synapse of a file: `(pre, post, w, delay_ms)`.
pub type FileSynapse = (u32, u32, Option<f64>, Option<f64>);

/// Reads a connectivity file; the error says what is wrong and where.
pub fn read_synapses(path: &Path) -> Result<Vec<FileSynapse>, String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "parquet" => read_parquet(path),
        "csv" => read_csv(path),
        _ => Err(format!(
            "{}: a connectivity file ends in .parquet or .csv",
            path.display()
        )),
    }
}

/// A rank: a whole number in `0..2^32`.
fn rank(x: f64, what: &str, row: usize) -> Result<u32, String> {
    if x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&x) {
        Ok(x as u32)
    } else {
        Err(format!(
            "row {row}: {what} = {x} is not a neuron rank (a whole number >= 0)"
        ))
    }
}

fn read_csv(path: &Path) -> Result<Vec<FileSynapse>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| {
        format!(
            "{}: empty file; the first line names the columns pre,post[,w][,delay]",
            path.display()
        )
    })?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |n: &str| names.iter().position(|c| *c == n);
    let (pre, post) = match (col("pre"), col("post")) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Err(format!(
                "{}: line 1 names the columns {header:?}; pre and post are needed",
                path.display()
            ))
        }
    };
    let (w, delay) = (col("w"), col("delay"));
    let mut out = Vec::new();
    for (i, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let number = |k: usize, what: &str| -> Result<f64, String> {
            let f = fields
                .get(k)
                .ok_or_else(|| format!("{}: line {}: no {what} column", path.display(), i + 1))?;
            f.parse::<f64>().map_err(|_| {
                format!(
                    "{}: line {}: {what} = {f:?} is not a number",
                    path.display(),
                    i + 1
                )
            })
        };
        let at = |e: String| format!("{}: line {}: {e}", path.display(), i + 1);
        out.push((
            rank(number(pre, "pre")?, "pre", i + 1).map_err(at)?,
            rank(number(post, "post")?, "post", i + 1).map_err(at)?,
            w.map(|k| number(k, "w")).transpose()?,
            delay.map(|k| number(k, "delay")).transpose()?,
        ));
    }
    Ok(out)
}

/// A numeric column as `f64`.
fn floats(batch: &RecordBatch, name: &str) -> Result<Option<Vec<f64>>, String> {
    let Some(a) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let any = a.as_any();
    let values: Option<Vec<f64>> = if let Some(x) = any.downcast_ref::<Float64Array>() {
        Some(x.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    } else if let Some(x) = any.downcast_ref::<Float32Array>() {
        Some(x.iter().map(|v| v.map_or(f64::NAN, f64::from)).collect())
    } else if let Some(x) = any.downcast_ref::<Int64Array>() {
        Some(x.iter().map(|v| v.map_or(f64::NAN, |v| v as f64)).collect())
    } else if let Some(x) = any.downcast_ref::<Int32Array>() {
        Some(x.iter().map(|v| v.map_or(f64::NAN, f64::from)).collect())
    } else if let Some(x) = any.downcast_ref::<UInt32Array>() {
        Some(x.iter().map(|v| v.map_or(f64::NAN, f64::from)).collect())
    } else {
        any.downcast_ref::<UInt64Array>()
            .map(|x| x.iter().map(|v| v.map_or(f64::NAN, |v| v as f64)).collect())
    };
    values
        .map(Some)
        .ok_or_else(|| format!("column {name} has type {}, not a number", a.data_type()))
}

fn read_parquet(path: &Path) -> Result<Vec<FileSynapse>, String> {
    let at = |e: String| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| at(e.to_string()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| at(format!("not a readable Parquet file: {e}")))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| at(e.to_string()))?;
        let (pre, post) = match (
            floats(&batch, "pre").map_err(at)?,
            floats(&batch, "post").map_err(at)?,
        ) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(at("the columns pre and post are needed".into())),
        };
        let w = floats(&batch, "w").map_err(at)?;
        let delay = floats(&batch, "delay").map_err(at)?;
        for i in 0..pre.len() {
            let row = out.len() + 1;
            out.push((
                rank(pre[i], "pre", row).map_err(at)?,
                rank(post[i], "post", row).map_err(at)?,
                w.as_ref().map(|w| w[i]),
                delay.as_ref().map(|d| d[i]),
            ));
        }
    }
    Ok(out)
}
