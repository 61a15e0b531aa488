//! Text reports: the seed's "ALL RECORDINGS INFO" block, from recording times or rebuilt
//! from an archive ([`info_block`]), and what `neurorec inspect` prints ([`inspect()`]).

mod inspect;

use std::fmt::Write;

pub use inspect::inspect;

use crate::archive::{Archive, ArchiveError, Kind};
use crate::sim::py_float_repr;
use crate::times::RecordingTimes;

/// Errors of reports over an archive.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the archive has no set {set} in run {run}; it has sets {known:?}")]
    NoSuchSet { run: u32, set: u32, known: Vec<u32> },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// What the report needs to know of a compartment besides its times.
#[derive(Debug, Clone, PartialEq)]
pub struct CompartmentShape {
    pub name: String,
    /// Number of neurons (columns of each recorded array).
    pub neurons: usize,
    /// Whether state variables are recorded (only then an array size is printed).
    pub has_state: bool,
}

/// The "ALL RECORDINGS INFO" block exactly as the seed script prints it (tab-indented), for
/// every set in order: per chunk and compartment the array size and each period's start and
/// stop in ms and as sample index.
pub fn all_recordings_info(sets: &[RecordingTimes], shapes: &[CompartmentShape]) -> String {
    let mut out = String::new();
    out.push_str("#################### ALL RECORDINGS INFO ####################\n");
    for (s, times) in sets.iter().enumerate() {
        let _ = writeln!(out, "recordings{}", s + 1);
        for (c, chunk) in times.chunks.iter().enumerate() {
            let _ = writeln!(out, "\tchunk: {c}");
            for shape in shapes {
                let Some(t) = chunk.compartment(&shape.name) else {
                    continue;
                };
                let _ = writeln!(out, "\t\tpop_name: {}", shape.name);
                if shape.has_state {
                    let _ = writeln!(
                        out,
                        "\t\trecording_array_size: ({}, {})",
                        t.samples(),
                        shape.neurons
                    );
                }
                for (point, ms, idx) in [
                    ("start", &t.start_ms, &t.start_idx),
                    ("stop", &t.stop_ms, &t.stop_idx),
                ] {
                    let _ = writeln!(out, "\t\t\ttime_point: {point}");
                    let _ = writeln!(out, "\t\t\t\tunit: ms");
                    for (p, v) in ms.iter().enumerate() {
                        let _ = writeln!(out, "\t\t\t\t\tperiod {p}: {}", py_float_repr(*v));
                    }
                    let _ = writeln!(out, "\t\t\t\tunit: idx");
                    for (p, v) in idx.iter().enumerate() {
                        let _ = writeln!(out, "\t\t\t\t\tperiod {p}: {v}");
                    }
                }
            }
        }
    }
    out.push_str("#############################################################\n");
    out
}

/// The sets of `run`: all, or only `set` (an error listing the sets when it has none such).
pub fn selected_sets(
    archive: &Archive,
    run: u32,
    set: Option<u32>,
) -> Result<Vec<u32>, ReportError> {
    let sets = archive.sets(run);
    match set {
        Some(s) if sets.contains(&s) => Ok(vec![s]),
        Some(s) => Err(ReportError::NoSuchSet {
            run,
            set: s,
            known: sets,
        }),
        None => Ok(sets),
    }
}

/// The "ALL RECORDINGS INFO" block of a run rebuilt from the archive.
pub fn info_block(archive: &Archive, run: u32, set: Option<u32>) -> Result<String, ReportError> {
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
