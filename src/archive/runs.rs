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

/// Reads `runs.parquet`: every column as numbers (`run` first), in file order.
pub fn read_runs_table(path: &Path) -> Result<Vec<(String, Vec<f64>)>, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, UInt32Type};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut columns: Vec<(String, Vec<f64>)> = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        for (i, field) in batch.schema().fields().iter().enumerate() {
            let column = batch.column(i);
            let values: Vec<f64> = if let Some(a) = column.as_primitive_opt::<UInt32Type>() {
                a.values().iter().map(|x| *x as f64).collect()
            } else if let Some(a) = column.as_primitive_opt::<Float64Type>() {
                a.values().to_vec()
            } else {
                return Err(format!("column {} is not a number column", field.name()));
            };
            match columns.get_mut(i) {
                Some((_, v)) => v.extend(values),
                None => columns.push((field.name().clone(), values)),
            }
        }
    }
    if columns.first().is_none_or(|(name, _)| name != "run") {
        return Err("the first column is not `run`".into());
    }
    Ok(columns)
}
