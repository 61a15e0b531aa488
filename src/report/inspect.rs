//! What `neurorec inspect` prints: compartments, variables, runs, sets, chunks (status,
//! step range, rows, bytes) and files of an archive.

use std::fmt::Write;

use crate::archive::{Archive, ArchiveError, ChunkEntry, ChunkStatus, Kind, RunStatus};

/// What `inspect` prints.
pub fn inspect(archive: &Archive) -> Result<String, ArchiveError> {
    let m = archive.manifest();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "archive {} (format {}, written by neurorec {})",
        archive.dir().display(),
        m.format_version,
        m.tool_version
    );
    let _ = writeln!(
        out,
        "dt {} ms; compartments: {}",
        m.dt_ms,
        m.compartments.join(", ")
    );
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
            let what = match &meta.projection {
                Some(p) => format!(
                    "projection {} -> {} (target {}), {} synapses",
                    p.pre, p.post, p.target, meta.neurons
                ),
                None => format!("{} neurons", meta.neurons),
            };
            let _ = writeln!(
                out,
                "  {name}: {what}, every {} ms, records {}",
                meta.period_ms,
                vars.join(", ")
            );
        }
    }
    for run in archive.runs() {
        let status = match m.run_status(run) {
            Some(RunStatus::Complete) => "complete",
            Some(RunStatus::Running) => "RUNNING or stopped (`neurorec validate` tells which)",
            Some(RunStatus::Interrupted) => "INTERRUPTED",
            None => "written before run records",
        };
        let _ = writeln!(out, "run {run}: {status}");
        for set in archive.sets(run) {
            let _ = writeln!(out, "run {run} set {set}:");
            let mut chunks: Vec<_> = m
                .chunks
                .iter()
                .filter(|c| c.run == run && c.set == set)
                .collect();
            chunks.sort_by_key(|c| c.chunk);
            if chunks.is_empty() {
                let _ = writeln!(out, "  (no chunk recorded)");
            }
            for c in chunks {
                chunk_lines(&mut out, c);
            }
        }
    }
    for f in &m.connectivity {
        let _ = writeln!(out, "connectivity {} ({} bytes)", f.path, f.bytes);
    }
    for f in &m.figures {
        let _ = writeln!(out, "figure {} ({} bytes)", f.path, f.bytes);
    }
    Ok(out)
}

/// A chunk's line (status, simulated steps, files, rows, bytes) and one line per file.
fn chunk_lines(out: &mut String, c: &ChunkEntry) {
    let rows: u64 = c.files.iter().map(|f| f.rows).sum();
    let bytes: u64 = c.files.iter().map(|f| f.bytes).sum();
    let status = match c.status {
        ChunkStatus::Complete => "complete",
        ChunkStatus::Writing => "UNFINISHED",
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
    let _ = writeln!(
        out,
        "  chunk {}: {status}, {steps}, {} files, {rows} rows, {bytes} bytes",
        c.chunk,
        c.files.len()
    );
    for f in &c.files {
        let _ = writeln!(out, "    {} ({} rows, {} bytes)", f.path, f.rows, f.bytes);
    }
}
