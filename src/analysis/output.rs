//! How `neurorec stats` shows a table: aligned text for a terminal, CSV, JSON (one object
//! per row), or a Parquet file written under a temporary name and renamed when complete.

use std::io::Write;
use std::path::Path;

use polars::io::parquet::write::ParquetWriter;
use polars::prelude::*;

use super::AnalysisError;

/// Text formats of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// Aligned columns, numbers to 6 significant digits, `-` for missing values.
    Table,
    /// Comma-separated, a header line, numbers exact (shortest round-trip), empty cells for
    /// missing values.
    Csv,
    /// A JSON array of objects, numbers exact, `null` for missing (and non-finite) values.
    Json,
}

/// One cell as text.
fn cell(value: &AnyValue<'_>, format: TextFormat) -> String {
    let missing = match format {
        TextFormat::Table => "-",
        TextFormat::Csv => "",
        TextFormat::Json => "null",
    };
    let float = |x: f64| -> String {
        if !x.is_finite() {
            return match format {
                TextFormat::Json => "null".into(),
                _ => format!("{x}"),
            };
        }
        match format {
            TextFormat::Table => significant(x, 6),
            _ => {
                let s = format!("{x:?}");
                s.strip_suffix(".0").map_or(s.clone(), str::to_string)
            }
        }
    };
    match value {
        AnyValue::Null => missing.into(),
        AnyValue::Float64(x) => float(*x),
        AnyValue::Float32(x) => float(f64::from(*x)),
        AnyValue::String(s) => match format {
            TextFormat::Json => serde_json::Value::String(s.to_string()).to_string(),
            TextFormat::Csv if s.contains([',', '"', '\n']) => {
                format!("\"{}\"", s.replace('"', "\"\""))
            }
            _ => s.to_string(),
        },
        AnyValue::StringOwned(s) => cell(&AnyValue::String(s.as_str()), format),
        other => other.to_string(),
    }
}

/// `x` to `digits` significant digits, without trailing zeros.
fn significant(x: f64, digits: i32) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..15).contains(&magnitude) {
        return format!("{:.*e}", (digits - 1).max(0) as usize, x);
    }
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The table as text.
pub fn to_text(df: &DataFrame, format: TextFormat) -> Result<String, AnalysisError> {
    let names: Vec<String> = df.columns().iter().map(|c| c.name().to_string()).collect();
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(df.height());
    for r in 0..df.height() {
        let mut row = Vec::with_capacity(names.len());
        for c in df.columns() {
            row.push(cell(&c.get(r)?, format));
        }
        rows.push(row);
    }
    let mut out = String::new();
    match format {
        TextFormat::Csv => {
            let header: Vec<String> = names
                .iter()
                .map(|n| cell(&AnyValue::String(n), TextFormat::Csv))
                .collect();
            out.push_str(&header.join(","));
            out.push('\n');
            for row in rows {
                out.push_str(&row.join(","));
                out.push('\n');
            }
        }
        TextFormat::Json => {
            out.push('[');
            for (i, row) in rows.iter().enumerate() {
                out.push_str(if i == 0 { "\n  {" } else { ",\n  {" });
                for (j, (name, value)) in names.iter().zip(row).enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&serde_json::Value::String(name.clone()).to_string());
                    out.push_str(": ");
                    out.push_str(value);
                }
                out.push('}');
            }
            out.push_str(if rows.is_empty() { "]\n" } else { "\n]\n" });
        }
        TextFormat::Table => {
            let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
            for row in &rows {
                for (w, v) in widths.iter_mut().zip(row) {
                    *w = (*w).max(v.chars().count());
                }
            }
            let numeric: Vec<bool> = df
                .columns()
                .iter()
                .map(|c| c.dtype().is_primitive_numeric())
                .collect();
            let line = |cells: &[String], out: &mut String| {
                let parts: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .zip(&numeric)
                    .map(|((v, w), num)| {
                        if *num {
                            format!("{v:>w$}")
                        } else {
                            format!("{v:<w$}")
                        }
                    })
                    .collect();
                out.push_str(parts.join("  ").trim_end());
                out.push('\n');
            };
            line(&names, &mut out);
            for row in &rows {
                line(row, &mut out);
            }
        }
    }
    Ok(out)
}

/// Writes the table as Parquet to `path`, a file that must not exist yet: written under a
/// temporary name beside it and renamed when complete, so a reader never sees half a file
/// and no file of someone else's is replaced.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), AnalysisError> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(AnalysisError::Exists(path.to_path_buf()));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stats.parquet".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| AnalysisError::Io { path: p, source: e }
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let written = (|| -> Result<(), AnalysisError> {
        let mut file = file;
        ParquetWriter::new(&mut file).finish(df)?;
        file.flush().map_err(io(&tmp))?;
        Ok(())
    })();
    let result = written.and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&tmp))?;
        // A file that appeared meanwhile is not replaced: the link fails instead.
        std::fs::hard_link(&tmp, path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                AnalysisError::Exists(path.to_path_buf())
            } else {
                AnalysisError::Io {
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        })
    });
    let _ = std::fs::remove_file(&tmp);
    result
}
