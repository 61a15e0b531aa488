//! Plans: what a figure shows (PlotRecordings' `shape` and `plan`), read from a plan file or
//! a pipeline's `[[plots]]`, and checked against what is recorded before anything is drawn.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::expr::Expr;
use crate::archive::{Archive, ArchiveError, ChunkRef};

/// What is wrong with a plan, and how to fix it when there is more to say.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub message: String,
    pub hint: Option<String>,
}

impl PlanError {
    /// The message followed by the hint (`message; hint`).
    pub fn with_hint(&self) -> String {
        match &self.hint {
            Some(h) => format!("{}; {h}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Errors of plans and drawing.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("plan: {}", .0.with_hint())]
    Plan(PlanError),
    #[error("{}: {message}", path.display())]
    PlanFile { path: PathBuf, message: String },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("drawing {path}: {what}")]
    Draw { path: String, what: String },
}

/// Formats for variables.
pub const VARIABLE_FORMATS: [&str; 4] = ["line", "line_mean", "matrix", "matrix_mean"];
/// Formats for spikes.
pub const SPIKE_FORMATS: [&str; 5] = ["raster", "mean", "hybrid", "interspike", "cv"];

/// Resolution of a figure unless a plan or `--dpi` says otherwise (PlotRecordings' default).
pub const DEFAULT_DPI: u32 = 300;

/// What to draw: PlotRecordings' `shape` and `plan`, as a plan file for `neurorec plot` and
/// as each `[[plots]]` entry of a pipeline give it (deserialised once, checked by
/// [`PlotPlan::check`]). `file` and `sets` belong to pipelines: where its figures go and
/// which sets they show; `time_lim` and `dpi` may be given in either (the command line's
/// `--time-lim` and `--dpi` override a plan file's).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlotPlan {
    /// Rows and columns of subplots.
    pub shape: (u32, u32),
    /// 1-based position of each subplot.
    pub position: Vec<u32>,
    pub compartment: Vec<String>,
    /// A variable, `spike`, or an arithmetic expression of variables.
    pub variable: Vec<String>,
    pub format: Vec<String>,
    /// Output file in `DIR/figures/`; may use `{set}`, `{set1}` and `{chunk}`.
    #[serde(default)]
    pub file: Option<String>,
    /// Sets to draw (all when missing).
    #[serde(default)]
    pub sets: Option<Vec<u32>>,
    /// Only this window, in ms.
    #[serde(default)]
    pub time_lim: Option<(f64, f64)>,
    /// Resolution (default 300).
    #[serde(default)]
    pub dpi: Option<u32>,
    /// `interspike` and `cv` count intervals between two spikes with a pause between them,
    /// as PlotRecordings does (default false: such an interval is not an interspike
    /// interval, the neuron may have fired unrecorded in the pause, so it is dropped).
    #[serde(default)]
    pub isi_across_pauses: Option<bool>,
}

/// Which chunk, which window, how large.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    pub chunk: ChunkRef,
    pub time_lim: Option<(f64, f64)>,
    pub dpi: u32,
}

pub(super) fn plan_error(msg: impl Into<String>) -> PlotError {
    PlotError::Plan(PlanError {
        message: msg.into(),
        hint: None,
    })
}

fn invalid(message: impl Into<String>) -> PlanError {
    PlanError {
        message: message.into(),
        hint: None,
    }
}

/// Checks a resolution: 1..=1200 dpi.
pub fn check_dpi(dpi: u32) -> Result<(), PlanError> {
    if (1..=1200).contains(&dpi) {
        Ok(())
    } else {
        Err(PlanError {
            message: format!("dpi {dpi} is out of range"),
            hint: Some("use 1..=1200 (default 300)".into()),
        })
    }
}

/// Parses a window `T0,T1` in ms, as `--time-lim` gives it.
pub fn parse_window(text: &str) -> Result<(f64, f64), String> {
    let (a, b) = text
        .split_once(',')
        .ok_or("--time-lim T0,T1, e.g. --time-lim 100,300")?;
    let number = |x: &str| {
        x.trim()
            .parse::<f64>()
            .map_err(|_| format!("--time-lim: \"{x}\" is not a number"))
    };
    Ok((number(a)?, number(b)?))
}

impl PlotPlan {
    /// Reads a plan file for `neurorec plot` (TOML; unknown keys are rejected). `file` and
    /// `sets` belong to a pipeline's `[[plots]]` and are refused here.
    pub fn load(path: &Path) -> Result<Self, PlotError> {
        let error = |message: String| PlotError::PlanFile {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let plan: PlotPlan = toml::from_str(&text).map_err(|e| error(e.message().to_string()))?;
        if plan.file.is_some() || plan.sets.is_some() {
            return Err(error(
                "`file` and `sets` belong to a pipeline's [[plots]]; `neurorec plot` draws one chunk (--run, --set, --chunk) into --out".into(),
            ));
        }
        Ok(plan)
    }

    /// Checks the plan as PlotRecordings does, against what is recorded (from an archive, or
    /// from a pipeline's monitors before anything runs), and its own `file`, `time_lim` and
    /// `dpi` when given; errors instead of exits.
    pub fn check(&self, recorded: &[Recorded]) -> Result<(), PlanError> {
        check_plan(self, recorded).map_err(|e| match e {
            PlotError::Plan(p) => p,
            other => invalid(other.to_string()),
        })?;
        if let Some(file) = &self.file {
            let plain = !file.is_empty()
                && !file.starts_with('.')
                && !file.contains(['/', '\\'])
                && std::path::Path::new(file).is_relative();
            if !plain {
                return Err(PlanError {
                    message: format!(
                        "file \"{file}\" must be a plain file name (figures go into DIR/figures/)"
                    ),
                    hint: Some("e.g. file = \"figure_{set1}_chunk{chunk}.png\"".into()),
                });
            }
            let lower = file.to_ascii_lowercase();
            if !(lower.ends_with(".png") || lower.ends_with(".svg")) {
                return Err(PlanError {
                    message: format!("file \"{file}\" must end in .png or .svg"),
                    hint: Some("e.g. file = \"figure_{set1}_chunk{chunk}.png\"".into()),
                });
            }
        }
        if let Some((a, b)) = self.time_lim {
            if !(a.is_finite() && b.is_finite() && a < b) {
                return Err(PlanError {
                    message: format!("time_lim [{a}, {b}] is not a window"),
                    hint: Some("give time_lim = [t0, t1] with t0 < t1, in ms".into()),
                });
            }
        }
        if let Some(dpi) = self.dpi {
            check_dpi(dpi)?;
        }
        Ok(())
    }
}

/// What one compartment records, for checking plans: its state variables and whether its
/// spikes are recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub compartment: String,
    pub variables: Vec<String>,
    pub spikes: bool,
}

/// The subplots of a plan against what is recorded.
fn check_plan(plan: &PlotPlan, recorded: &[Recorded]) -> Result<(), PlotError> {
    check_grid(plan)?;
    for i in 0..plan.position.len() {
        check_subplot(
            &plan.compartment[i],
            &plan.variable[i],
            &plan.format[i],
            recorded,
        )?;
    }
    Ok(())
}

/// The lengths of the plan's lists, its shape, and the positions of its subplots.
fn check_grid(plan: &PlotPlan) -> Result<(), PlotError> {
    let n = plan.position.len();
    if plan.compartment.len() != n || plan.variable.len() != n || plan.format.len() != n {
        return Err(plan_error(format!(
            "position, compartment, variable and format must have the same length, got {}, {}, {} and {}",
            n,
            plan.compartment.len(),
            plan.variable.len(),
            plan.format.len()
        )));
    }
    let (rows, cols) = plan.shape;
    if rows == 0 || cols == 0 {
        return Err(plan_error(format!(
            "shape ({rows}, {cols}) has no subplot; use e.g. shape = [2, 2]"
        )));
    }
    if rows > 20 || cols > 20 {
        return Err(plan_error(format!(
            "shape ({rows}, {cols}) has too many subplots; use at most 20 rows and 20 columns"
        )));
    }
    let slots = rows * cols;
    for (i, p) in plan.position.iter().enumerate() {
        if *p < 1 || *p > slots {
            return Err(plan_error(format!(
                "position {p} is outside 1..{slots} of shape ({rows}, {cols})"
            )));
        }
        if plan.position[..i].contains(p) {
            return Err(plan_error(format!(
                "position {p} is used twice; give every subplot its own position"
            )));
        }
    }
    Ok(())
}

/// One subplot: its compartment is recorded, and its variable (spikes or an expression of
/// recorded variables) and format fit together.
fn check_subplot(comp: &str, var: &str, fmt: &str, recorded: &[Recorded]) -> Result<(), PlotError> {
    let Some(rec) = recorded.iter().find(|r| r.compartment == comp) else {
        return Err(plan_error(format!(
            "unknown compartment \"{comp}\"; recorded are {}",
            recorded
                .iter()
                .map(|r| r.compartment.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    if var == "spike" {
        if !rec.spikes {
            return Err(plan_error(format!("{comp} does not record spikes")));
        }
        if !SPIKE_FORMATS.contains(&fmt) {
            return Err(plan_error(format!(
                "format \"{fmt}\" is not for spikes; use one of {}",
                SPIKE_FORMATS.join(", ")
            )));
        }
        return Ok(());
    }
    let expr = Expr::parse(var).map_err(|e| {
        plan_error(format!(
            "variable \"{var}\" of {comp} is not a variable or an arithmetic expression of variables ({e})"
        ))
    })?;
    if !expr.is_variable() && expr.variables().iter().any(|v| v == "spike") {
        return Err(plan_error(format!(
            "\"{var}\": spike cannot be part of an expression; plot spikes on their own with variable = \"spike\""
        )));
    }
    if let Some(missing) = expr.variables().iter().find(|v| !rec.variables.contains(v)) {
        return Err(plan_error(format!(
            "{comp} has no recorded variable \"{missing}\"; recorded: {}",
            rec.variables
                .iter()
                .cloned()
                .chain(rec.spikes.then(|| "spike".to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if !VARIABLE_FORMATS.contains(&fmt) {
        return Err(plan_error(format!(
            "format \"{fmt}\" is not for variables; use one of {}",
            VARIABLE_FORMATS.join(", ")
        )));
    }
    Ok(())
}

/// Checks a plan against one chunk of an archive (see [`PlotPlan::check`]).
pub fn validate_plan(plan: &PlotPlan, archive: &Archive, chunk: ChunkRef) -> Result<(), PlotError> {
    let entry = archive
        .chunks(chunk.run, chunk.set)
        .into_iter()
        .find(|c| c.chunk == chunk.chunk)
        .ok_or_else(|| {
            let unfinished = archive.unfinished().iter().any(|c| {
                c.run == chunk.run && c.set == chunk.set && c.chunk == chunk.chunk
            });
            plan_error(if unfinished {
                format!(
                    "run {} set {} chunk {} is unfinished (the run stopped while writing it); only complete chunks can be drawn",
                    chunk.run, chunk.set, chunk.chunk
                )
            } else {
                format!(
                    "run {} set {} has no chunk {}",
                    chunk.run, chunk.set, chunk.chunk
                )
            })
        })?;
    // What is drawn is checked first: a damaged file never draws a wrong figure.
    for f in entry
        .files
        .iter()
        .filter(|f| plan.compartment.contains(&f.compartment))
    {
        archive.verify(f)?;
    }
    let mut recorded = Vec::new();
    for comp in &archive.manifest().compartments {
        let files: Vec<_> = entry
            .files
            .iter()
            .filter(|f| &f.compartment == comp)
            .collect();
        let spikes = files.iter().any(|f| f.kind == crate::archive::Kind::Spikes);
        let variables = match files.iter().find(|f| f.kind == crate::archive::Kind::State) {
            Some(f) => archive.file_meta(&f.path)?.variables,
            None => Vec::new(),
        };
        if !files.is_empty() {
            recorded.push(Recorded {
                compartment: comp.clone(),
                variables,
                spikes,
            });
        } else if plan.compartment.contains(comp) {
            return Err(plan_error(format!(
                "{comp} recorded nothing in run {} set {} chunk {}; choose a chunk in which it was recorded (neurorec inspect lists them)",
                chunk.run, chunk.set, chunk.chunk
            )));
        }
    }
    plan.check(&recorded).map_err(PlotError::Plan)
}
