//! `DIR/runs.parquet`: one row per run of a sweep with the value of every swept parameter,
//! for joining with the recordings on `run`.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;

use super::ArchiveError;

/// Name of the runs table at the archive root.
pub const RUNS_TABLE: &str = "runs.parquet";

/// Writes `runs.parquet` (columns `run` and one per swept parameter, named
/// `population.parameter`) atomically. Every shard of a sweep writes the same table; an
/// existing table of another sweep is replaced only with `replace` (`--force`).
pub fn write_runs_table(
    dir: &Path,
    columns: &[(String, Vec<f64>)],
    replace: bool,
) -> Result<(), ArchiveError> {
    let rows = columns.first().map_or(0, |c| c.1.len());
    let mut fields = vec![Field::new("run", DataType::UInt32, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from_iter_values(0..rows as u32))];
    for (name, values) in columns {
        fields.push(Field::new(name, DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(values.clone())));
    }
    let schema = Arc::new(Schema::new(fields));
    let path = dir.join(RUNS_TABLE);
    let batch =
        RecordBatch::try_new(Arc::clone(&schema), arrays).map_err(|e| ArchiveError::Corrupt {
            path: path.clone(),
            what: e.to_string(),
        })?;
    std::fs::create_dir_all(dir).map_err(ArchiveError::io(dir))?;
    let tmp = dir.join(format!(".{RUNS_TABLE}.{}.tmp", std::process::id()));
    let file = std::fs::File::create(&tmp).map_err(ArchiveError::io(&tmp))?;
    let mut writer =
        ArrowWriter::try_new(file, schema, None).map_err(ArchiveError::parquet(&tmp))?;
    writer.write(&batch).map_err(ArchiveError::parquet(&tmp))?;
    writer.close().map_err(ArchiveError::parquet(&tmp))?;
    if let Ok(existing) = std::fs::read(&path) {
        let new = std::fs::read(&tmp).map_err(ArchiveError::io(&tmp))?;
        if existing == new || !replace {
            let _ = std::fs::remove_file(&tmp);
        }
        if existing != new && !replace {
            return Err(ArchiveError::Conflict {
                path: dir.to_path_buf(),
                what: format!(
                    "holds the {RUNS_TABLE} of a different sweep; write to another directory, or pass --force to replace its runs"
                ),
            });
        }
        if existing == new {
            return Ok(());
        }
    }
    std::fs::rename(&tmp, &path).map_err(ArchiveError::io(&path))?;
    Ok(())
}
