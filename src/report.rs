//! Text reports of recording times, such as the seed's "ALL RECORDINGS INFO" block.

use std::fmt::Write;

use crate::sim::py_float_repr;
use crate::times::RecordingTimes;

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
