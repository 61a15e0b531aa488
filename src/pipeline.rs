//! Pipelines (SPEC §5–6): a TOML file declaring `dt`, populations, the monitor dictionary,
//! the schedule, plots and an optional sweep. Parsed with serde (unknown keys rejected),
//! then validated into a [`Pipeline`]: every error names the file, line and column, the
//! key, what was wrong and what would be right.

use std::ops::Range;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use crate::monitor::{MonitorError, MonitorSpec, Monitors, NullSink};
use crate::plot::{PlotPlan, Recorded};
use crate::schedule::{Action, ParamValueDef};
use crate::sim::{
    Connector, Network, NeuronModel, ParamValue, PopulationSpec, ProjectionError, ProjectionSpec,
    Quantity, SimError,
};

/// A pipeline error: where, what and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}:{line}:{column}: {key}: {message}{}", file.display(), hint.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default())]
pub struct PipelineError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The key path, e.g. `monitors."my_pop1;2"` or `schedule[3].simulate`.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

/// `all` or a list of compartment names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Selection {
    Named(String),
    List(Vec<String>),
}

/// `reset = { model = true, parameters = true }` (both default to true).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetDef {
    #[serde(default = "yes")]
    pub model: bool,
    #[serde(default = "yes")]
    pub parameters: bool,
}

fn yes() -> bool {
    true
}

/// `set_parameter = { population = "p", parameter = "I_app", value = 20 }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetParameterDef {
    pub population: String,
    pub parameter: String,
    pub value: ParamValueDef,
}

/// One schedule entry: a table with exactly one of these keys.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    pub simulate: Option<f64>,
    pub start: Option<Selection>,
    pub pause: Option<Selection>,
    pub reset: Option<ResetDef>,
    pub get_recordings_and_clear: Option<bool>,
    pub set_parameter: Option<SetParameterDef>,
}

/// A population as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationDef {
    pub size: Spanned<i64>,
    #[serde(default = "default_model")]
    pub model: Spanned<String>,
    #[serde(default)]
    pub parameters: IndexMap<String, Spanned<ParamValueDef>>,
    #[serde(default)]
    pub initial: IndexMap<String, Spanned<ParamValueDef>>,
}

fn default_model() -> Spanned<String> {
    Spanned::new(0..0, "Izhikevich2007".to_string())
}

/// A neuron model defined in the pipeline (`[neurons.NAME]`), with where each text is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeuronDefToml {
    pub parameters: Option<Spanned<String>>,
    pub equations: Option<Spanned<String>>,
    pub spike: Option<Spanned<String>>,
    pub reset: Option<Spanned<String>>,
    pub functions: Option<Spanned<String>>,
    pub refractory: Option<Spanned<f64>>,
}

/// A projection as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionDef {
    /// A population, or a slice of one: `"P[0:3200]"`.
    pub pre: Spanned<String>,
    pub post: Spanned<String>,
    pub target: Spanned<String>,
    /// Only the default spiking synapse (`g_target += w`) so far.
    pub synapse: Option<Spanned<String>>,
    pub connector: Spanned<ConnectorDef>,
    #[serde(default = "default_weight")]
    pub weights: Spanned<ParamValueDef>,
    pub delays: Option<Spanned<ParamValueDef>>,
    #[serde(default)]
    pub allow_self_connections: bool,
    /// Values of the synapse's parameters.
    #[serde(default)]
    pub parameters: IndexMap<String, Spanned<ParamValueDef>>,
}

/// A synapse model defined in the pipeline (`[synapses.NAME]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynapseDefToml {
    pub parameters: Option<Spanned<String>>,
    pub equations: Option<Spanned<String>>,
    pub pre_spike: Option<Spanned<String>>,
    pub post_spike: Option<Spanned<String>>,
}

fn default_weight() -> Spanned<ParamValueDef> {
    Spanned::new(0..0, ParamValueDef::Scalar(1.0))
}

/// A connector: exactly one key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorDef {
    pub all_to_all: Option<bool>,
    pub one_to_one: Option<bool>,
    pub fixed_probability: Option<f64>,
    pub fixed_number_pre: Option<u64>,
    pub fixed_number_post: Option<u64>,
    /// A Parquet or CSV file, relative to the pipeline file.
    pub file: Option<String>,
}

/// The file as parsed, before validation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineDef {
    #[serde(default = "default_dt")]
    pub dt: Spanned<f64>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub neurons: IndexMap<String, Spanned<NeuronDefToml>>,
    pub populations: IndexMap<String, Spanned<PopulationDef>>,
    #[serde(default)]
    pub synapses: IndexMap<String, Spanned<SynapseDefToml>>,
    #[serde(default)]
    pub projections: IndexMap<String, Spanned<ProjectionDef>>,
    pub monitors: IndexMap<String, Spanned<Vec<String>>>,
    #[serde(default)]
    pub schedule: Vec<Spanned<StepDef>>,
    #[serde(default)]
    pub plots: Vec<Spanned<PlotPlan>>,
    #[serde(default)]
    pub sweep: IndexMap<String, Spanned<Vec<f64>>>,
}

fn default_dt() -> Spanned<f64> {
    Spanned::new(0..0, 0.1)
}

/// A validated pipeline, ready to run.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub path: PathBuf,
    /// The file's text (embedded into the archive's manifest).
    pub source: String,
    pub dt_ms: f64,
    /// The seed of the run's random numbers: the file's `seed`, else a fresh one chosen when
    /// the file was loaded (recorded in the manifest either way).
    pub seed: u64,
    /// Whether the file gave the seed.
    pub seed_given: bool,
    pub populations: Vec<PopulationSpec>,
    pub projections: Vec<ProjectionSpec>,
    pub monitors: Vec<MonitorSpec>,
    pub schedule: Vec<Action>,
    /// `[[plots]]`, each with its `file`.
    pub plots: Vec<PlotPlan>,
    /// `(population, parameter, values)` of every swept parameter, in file order.
    pub sweep: Vec<(String, String, Vec<f64>)>,
}

struct Locator<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Locator<'_> {
    fn error(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> PipelineError {
        let offset = span.start.min(self.source.len());
        let before = &self.source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        PipelineError {
            file: self.path.to_path_buf(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            hint,
        }
    }

    /// Where `key` is written in the file (for entries serde gives no span for).
    fn find_key(&self, key: &str) -> Range<usize> {
        let quoted = format!("\"{key}\"");
        let at = self
            .source
            .find(&quoted)
            .or_else(|| self.source.find(&format!("{key} =")))
            .or_else(|| self.source.find(&format!("[populations.{key}]")))
            .unwrap_or(0);
        at..at
    }
}

impl Pipeline {
    /// Reads and validates a pipeline file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PipelineError> {
        let path = path.as_ref();
        let source = std::fs::read_to_string(path).map_err(|e| PipelineError {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            key: "(file)".into(),
            message: format!("cannot read the pipeline: {e}"),
            hint: Some(
                "pass the path of a .toml pipeline file, e.g. pipelines/monitor_recordings.toml"
                    .into(),
            ),
        })?;
        Self::parse(path, &source)
    }

    /// Parses and validates pipeline text; `path` is used in messages.
    pub fn parse(path: &Path, source: &str) -> Result<Self, PipelineError> {
        let loc = Locator { path, source };
        let def: PipelineDef = toml::from_str(source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().to_string();
            let hint = if message.contains("unknown field") {
                Some("check the spelling; README lists every key of a pipeline".to_string())
            } else if message.contains("missing field") {
                Some("add the key; README lists the required keys with examples".to_string())
            } else if message.contains("invalid type") {
                Some(
                    "give a value of the expected type; README shows an example for every key"
                        .to_string(),
                )
            } else {
                None
            };
            loc.error(
                span,
                key_at(source, e.span().unwrap_or(0..0)),
                message,
                hint,
            )
        })?;
        validate(&loc, def)
    }

    /// The pipeline's populations with `overrides` of swept parameters applied.
    pub fn specs(&self, overrides: &[(String, String, f64)]) -> Vec<PopulationSpec> {
        self.populations
            .iter()
            .map(|spec| {
                let mut spec = spec.clone();
                for (pop, param, value) in overrides {
                    if pop == &spec.name {
                        spec.parameters.retain(|(p, _)| p != param);
                        spec.parameters
                            .push((param.clone(), ParamValue::Scalar(*value)));
                    }
                }
                spec
            })
            .collect()
    }

    /// A network with the pipeline's populations (and `overrides` of swept parameters).
    pub fn network(
        &self,
        overrides: &[(String, String, f64)],
    ) -> Result<Network, crate::sim::SimError> {
        let mut net = Network::new(self.dt_ms)?.with_seed(self.seed);
        for spec in self.specs(overrides) {
            net.add_population(spec)?;
        }
        for spec in &self.projections {
            net.add_projection(spec).map_err(|e| match e {
                ProjectionError::Sim(e) => e,
                ProjectionError::Invalid {
                    projection,
                    message,
                } => SimError::Projection {
                    projection,
                    message,
                },
            })?;
        }
        Ok(net)
    }

    /// Every combination of the sweep's values (one empty combination without a sweep), in
    /// row-major order of the `[sweep]` table.
    pub fn sweep_runs(&self) -> Vec<Vec<(String, String, f64)>> {
        let mut runs: Vec<Vec<(String, String, f64)>> = vec![Vec::new()];
        for (pop, param, values) in &self.sweep {
            let mut next = Vec::with_capacity(runs.len() * values.len());
            for run in &runs {
                for v in values {
                    let mut r = run.clone();
                    r.push((pop.clone(), param.clone(), *v));
                    next.push(r);
                }
            }
            runs = next;
        }
        runs
    }
}

/// A readable key path for an error position: the nearest `[table]` header above it.
fn key_at(source: &str, span: Range<usize>) -> String {
    let before = &source[..span.start.min(source.len())];
    before
        .lines()
        .rev()
        .find_map(|l| {
            let t = l.trim();
            t.starts_with('[')
                .then(|| t.trim_matches(|c| c == '[' || c == ']').to_string())
        })
        .unwrap_or_else(|| "(top level)".into())
}

/// Validates the parsed file section by section. Populations are checked without building
/// them (nothing is allocated per neuron, whatever their size); the monitors are checked
/// against a network of one neuron per population.
fn validate(loc: &Locator<'_>, def: PipelineDef) -> Result<Pipeline, PipelineError> {
    let dt = validate_dt(loc, &def.dt)?;
    let mut net =
        Network::new(dt).map_err(|e| loc.error(def.dt.span(), "dt", e.to_string(), None))?;
    let models = validate_neurons(loc, &def.neurons)?;
    let populations = validate_populations(loc, &def.populations, &models, &mut net)?;
    let synapses = validate_synapses(loc, &def.synapses)?;
    let projections = validate_projections(loc, dt, &def.projections, &populations, &synapses)?;
    let monitors = validate_monitors(loc, &def.monitors, &projections, &net)?;
    let schedule = validate_schedule(loc, &def.schedule, &monitors, &populations)?;
    let sweep = validate_sweep(loc, &def.sweep, &populations)?;
    let plots = validate_plots(loc, def.plots, &monitors)?;
    Ok(Pipeline {
        path: loc.path.to_path_buf(),
        source: loc.source.to_string(),
        dt_ms: dt,
        seed: def.seed.unwrap_or_else(fresh_seed),
        seed_given: def.seed.is_some(),
        populations,
        projections,
        monitors,
        schedule,
        plots,
        sweep,
    })
}

fn validate_dt(loc: &Locator<'_>, dt: &Spanned<f64>) -> Result<f64, PipelineError> {
    let value = *dt.get_ref();
    if !(value.is_finite() && value > 0.0) {
        return Err(loc.error(
            dt.span(),
            "dt",
            format!("dt must be a positive number of ms, got {value}"),
            Some("e.g. dt = 0.1".into()),
        ));
    }
    Ok(value)
}

/// A seed for a run whose pipeline gives none: the clock's nanoseconds and the process id,
/// mixed, below 2^63 so that it can be written back as a TOML integer to replay the run.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos ^ (u64::from(std::process::id()) << 40);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) >> 1
}

/// The pipeline's own neuron models (`[neurons.NAME]`), parsed, checked and compiled; an
/// error points at the line of the file the model text is on.
fn validate_neurons(
    loc: &Locator<'_>,
    defs: &IndexMap<String, Spanned<NeuronDefToml>>,
) -> Result<IndexMap<String, NeuronModel>, PipelineError> {
    let mut models = IndexMap::new();
    for (name, def) in defs {
        let d = def.get_ref();
        let text = |s: &Option<Spanned<String>>| {
            s.as_ref().map(|s| s.get_ref().clone()).unwrap_or_default()
        };
        let compiled = crate::model::library::NeuronTable {
            parameters: text(&d.parameters),
            equations: text(&d.equations),
            spike: text(&d.spike),
            reset: text(&d.reset),
            functions: text(&d.functions),
            refractory: d.refractory.as_ref().map(|r| *r.get_ref()),
        }
        .compile(name)
        .map_err(|e| model_error(loc, name, def, &e))?;
        models.insert(name.clone(), NeuronModel::equations(compiled));
    }
    Ok(models)
}

/// A model error placed in the file: the line of the model text the error is on.
fn model_error(
    loc: &Locator<'_>,
    name: &str,
    def: &Spanned<NeuronDefToml>,
    e: &crate::model::ModelError,
) -> PipelineError {
    use crate::model::Part;
    let d = def.get_ref();
    let part = match e.part {
        Part::Parameters => &d.parameters,
        Part::Equations => &d.equations,
        Part::Spike => &d.spike,
        Part::Reset => &d.reset,
        Part::Functions => &d.functions,
        Part::PreSpike | Part::PostSpike => &None,
    };
    let key = format!("neurons.{name}.{}", e.part);
    let mut err = match (part, e.line) {
        (Some(text), line) if line >= 1 => {
            let mut err = loc.error(text.span(), key, e.message.clone(), e.hint.clone());
            // A multi-line string starting with a line break begins on the next line.
            let opening = &loc.source[text.span().start.min(loc.source.len())..];
            let skips_break = ["\"\"\"\n", "'''\n", "\"\"\"\r\n", "'''\r\n"]
                .iter()
                .any(|o| opening.starts_with(o));
            err.line += line - 1 + usize::from(skips_break);
            if line > 1 || skips_break {
                err.column = 1;
            }
            err
        }
        _ if e.part == Part::Spike && d.refractory.is_some() && e.symbol == "refractory" => {
            let span = d.refractory.as_ref().map_or(def.span(), |r| r.span());
            loc.error(
                span,
                format!("neurons.{name}.refractory"),
                e.message.clone(),
                e.hint.clone(),
            )
        }
        _ => loc.error(def.span(), key, e.message.clone(), e.hint.clone()),
    };
    if !e.symbol.is_empty() && !err.message.contains(&e.symbol) {
        err.message = format!("{}: {}", e.symbol, err.message);
    }
    err
}

fn validate_populations(
    loc: &Locator<'_>,
    defs: &IndexMap<String, Spanned<PopulationDef>>,
    models: &IndexMap<String, NeuronModel>,
    net: &mut Network,
) -> Result<Vec<PopulationSpec>, PipelineError> {
    if defs.is_empty() {
        return Err(loc.error(
            0..0,
            "populations",
            "the pipeline declares no population",
            Some(
                "add e.g. [populations.my_pop1] with size = 1 and model = \"Izhikevich2007\""
                    .into(),
            ),
        ));
    }
    let mut populations = Vec::new();
    for (name, pop) in defs {
        let spec = population_spec(loc, name, pop, models)?;
        // Checked without building it; the monitors are checked on a one-neuron stand-in.
        spec.check()
            .and_then(|()| net.add_population(spec.probe(1)).map(|_| ()))
            .map_err(|e| {
                let (span, sub) = population_culprit(&e, pop);
                loc.error(
                    span,
                    format!("populations.{name}{sub}"),
                    e.to_string(),
                    sim_hint(&e),
                )
            })?;
        populations.push(spec);
    }
    Ok(populations)
}

/// A population's spec as written (model and size checked; values are checked by the
/// network).
fn population_spec(
    loc: &Locator<'_>,
    name: &str,
    pop: &Spanned<PopulationDef>,
    models: &IndexMap<String, NeuronModel>,
) -> Result<PopulationSpec, PipelineError> {
    let key = format!("populations.{name}");
    let p = pop.get_ref();
    let wanted = p.model.get_ref();
    let model = match models.get(wanted) {
        Some(m) => m.clone(),
        None => NeuronModel::from_name(wanted).map_err(|e| {
            let own = if models.is_empty() {
                String::new()
            } else {
                format!(" or one of this file's [neurons]: {}", models.keys().cloned().collect::<Vec<_>>().join(", "))
            };
            loc.error(
                p.model.span(),
                format!("{key}.model"),
                e.to_string(),
                Some(format!("give a library model (README, Models){own}, or define it in a [neurons.{wanted}] table")),
            )
        })?,
    };
    let size = *p.size.get_ref();
    if size < 1 || size > u32::MAX as i64 {
        return Err(loc.error(
            p.size.span(),
            format!("{key}.size"),
            format!("size must be a whole number of neurons >= 1, got {size}"),
            None,
        ));
    }
    let mut spec = PopulationSpec::new(name.to_string(), size as usize, model);
    for (param, value) in &p.parameters {
        spec = spec.with_parameter(param, ParamValue::from(value.get_ref()));
    }
    for (var, value) in &p.initial {
        spec = spec.with_initial(var, ParamValue::from(value.get_ref()));
    }
    Ok(spec)
}

/// How to fix a population's value.
fn sim_hint(e: &SimError) -> Option<String> {
    match e {
        SimError::PopulationWide { .. } => Some(
            "give one number, or declare the parameter without `: population` in the model"
                .into(),
        ),
        SimError::BadDistribution { .. } => Some(
            "write { uniform = [low, high] } or { normal = [mean, sd] }, e.g. { normal = [-60.0, 5.0] }"
                .into(),
        ),
        _ => None,
    }
}

/// Where in a population's table a network error points: the parameter or initial value it
/// is about, else the whole table.
fn population_culprit(e: &SimError, pop: &Spanned<PopulationDef>) -> (Range<usize>, String) {
    let p = pop.get_ref();
    let parameter = |name: &str| {
        p.parameters
            .get(name)
            .map(|v| (v.span(), format!(".parameters.{name}")))
    };
    let initial = |name: &str| {
        p.initial
            .get(name)
            .map(|v| (v.span(), format!(".initial.{name}")))
    };
    let found = match e {
        SimError::UnknownParameter { name, .. } => parameter(name),
        SimError::UnknownVariable { name, .. } => initial(name),
        SimError::WrongLength { what, .. }
        | SimError::NonFinite { what, .. }
        | SimError::PopulationWide { what, .. }
        | SimError::BadDistribution { what, .. } => match what {
            Quantity::Parameter(name) => parameter(name),
            Quantity::Initial(name) | Quantity::Variable(name) => initial(name),
        },
        _ => None,
    };
    found.unwrap_or((pop.span(), String::new()))
}

/// The pipeline's synapse models (`[synapses.NAME]`), parsed and checked; an error points
/// at the line of the file it is on.
fn validate_synapses(
    loc: &Locator<'_>,
    defs: &IndexMap<String, Spanned<SynapseDefToml>>,
) -> Result<IndexMap<String, crate::model::synapse::SynapseDef>, PipelineError> {
    use crate::model::synapse::{SynapseDef, SynapseText};
    use crate::model::Part;
    let mut out = IndexMap::new();
    for (name, def) in defs {
        let d = def.get_ref();
        fn text(x: &Option<Spanned<String>>) -> &str {
            x.as_ref().map_or("", |s| s.get_ref().as_str())
        }
        let parsed = SynapseDef::parse(
            name,
            &SynapseText {
                parameters: text(&d.parameters),
                equations: text(&d.equations),
                pre_spike: text(&d.pre_spike),
                post_spike: text(&d.post_spike),
            },
        );
        let syn = parsed.map_err(|e| {
            let part = match e.part {
                Part::Parameters => &d.parameters,
                Part::Equations => &d.equations,
                Part::PreSpike => &d.pre_spike,
                Part::PostSpike => &d.post_spike,
                _ => &None,
            };
            let key = format!("synapses.{name}.{}", e.part);
            let message = if e.symbol.is_empty() || e.message.contains(&e.symbol) {
                e.message.clone()
            } else {
                format!("{}: {}", e.symbol, e.message)
            };
            match part {
                Some(t) if e.line >= 1 => {
                    let mut err = loc.error(t.span(), key, message, e.hint.clone());
                    let opening = &loc.source[t.span().start.min(loc.source.len())..];
                    let skips = ["\"\"\"\n", "'''\n", "\"\"\"\r\n", "'''\r\n"]
                        .iter()
                        .any(|o| opening.starts_with(o));
                    err.line += e.line - 1 + usize::from(skips);
                    if e.line > 1 || skips {
                        err.column = 1;
                    }
                    err
                }
                _ => loc.error(def.span(), key, message, e.hint.clone()),
            }
        })?;
        out.insert(name.clone(), syn);
    }
    Ok(out)
}

/// `"P"` or `"P[a:b]"`.
fn parse_slice(text: &str) -> Result<(String, Option<Range<usize>>), String> {
    let Some((name, rest)) = text.split_once('[') else {
        return Ok((text.trim().to_string(), None));
    };
    let inner = rest
        .strip_suffix(']')
        .ok_or_else(|| format!("\"{text}\": a slice is written \"P[start:stop]\""))?;
    let (a, b) = inner
        .split_once(':')
        .ok_or_else(|| format!("\"{text}\": a slice is written \"P[start:stop]\""))?;
    let number = |x: &str| {
        x.trim()
            .parse::<usize>()
            .map_err(|_| format!("\"{text}\": {x:?} is not a neuron index"))
    };
    Ok((name.trim().to_string(), Some(number(a)?..number(b)?)))
}

/// The projections, checked against the populations (names, slices, targets, connectors,
/// connectivity files) without building them.
fn validate_projections(
    loc: &Locator<'_>,
    dt: f64,
    defs: &IndexMap<String, Spanned<ProjectionDef>>,
    populations: &[PopulationSpec],
    synapses: &IndexMap<String, crate::model::synapse::SynapseDef>,
) -> Result<Vec<ProjectionSpec>, PipelineError> {
    let mut out = Vec::new();
    for (name, def) in defs {
        let d = def.get_ref();
        let key = format!("projections.{name}");
        let err = |span: Range<usize>, sub: &str, message: String, hint: Option<String>| {
            loc.error(span, format!("{key}{sub}"), message, hint)
        };
        // The name is a directory of the archive and a monitor's compartment.
        if !crate::monitor::is_plain_identifier(name) {
            return Err(err(
                def.span(),
                "",
                format!("projection name \"{name}\" is not a plain identifier; it names the projection's directory in the archive"),
                Some("use letters, digits and '_', not starting with a digit (e.g. exc_to_inh)".into()),
            ));
        }
        if populations.iter().any(|p| p.name == *name) {
            return Err(err(
                def.span(),
                "",
                format!("\"{name}\" is already a population; a projection needs a name of its own (both are compartments of the monitors and directories of the archive)"),
                Some(format!("rename the projection, e.g. {name}_proj")),
            ));
        }
        let side =
            |s: &Spanned<String>,
             sub: &str|
             -> Result<(String, Option<Range<usize>>, &PopulationSpec), PipelineError> {
                let (pop, range) =
                    parse_slice(s.get_ref()).map_err(|m| err(s.span(), sub, m, None))?;
                let spec = population(populations, &pop)
                    .map_err(|e| err(s.span(), sub, e.to_string(), None))?;
                if let Some(r) = &range {
                    if r.start >= r.end || r.end > spec.size {
                        return Err(err(
                            s.span(),
                            sub,
                            format!(
                                "slice [{}:{}] of {pop} is empty or outside its {} neurons",
                                r.start, r.end, spec.size
                            ),
                            Some(format!("use indices from 0 to {}", spec.size)),
                        ));
                    }
                }
                Ok((pop, range, spec))
            };
        let (pre, pre_range, _) = side(&d.pre, ".pre")?;
        let (post, post_range, post_spec) = side(&d.post, ".post")?;
        let target = d.target.get_ref().clone();
        let g = format!("g_{target}");
        if post_spec.model.variable_index(&g).is_none() {
            let targets: Vec<String> = post_spec
                .model
                .variables()
                .iter()
                .filter_map(|(v, _)| v.strip_prefix("g_").map(str::to_string))
                .collect();
            return Err(err(
                d.target.span(),
                ".target",
                format!(
                    "model {} of {post} has no variable {g} to receive target \"{target}\"",
                    post_spec.model.name()
                ),
                Some(if targets.is_empty() {
                    "give the post model a conductance g_<target> (e.g. a library model ending in Syn)".into()
                } else {
                    format!("its targets are: {}", targets.join(", "))
                }),
            ));
        }
        let synapse = match &d.synapse {
            None => None,
            Some(s) => Some(
                synapses
                    .get(s.get_ref())
                    .cloned()
                    .or_else(|| crate::model::library::synapse(s.get_ref()))
                    .ok_or_else(|| {
                        err(
                            s.span(),
                            ".synapse",
                            format!("unknown synapse \"{}\"", s.get_ref()),
                            Some(format!(
                                "give a library synapse ({}) or define it in a [synapses.{}] table",
                                crate::model::library::SYNAPSES.join(", "),
                                s.get_ref()
                            )),
                        )
                    })?,
            ),
        };
        if let Some(syn) = &synapse {
            // pre.x and post.x must name something the neurons have.
            let pre_spec = population(populations, &pre)
                .map_err(|e| err(d.pre.span(), ".pre", e.to_string(), None))?;
            let names = crate::model::synapse::SideNames {
                pre: pre_spec.model.names(),
                post: post_spec.model.names(),
            };
            let sides = names.sides();
            crate::model::synapse::CompiledSynapse::new(syn, &sides).map_err(|m| {
                let span = d.synapse.as_ref().map_or(def.span(), |s| s.span());
                err(span, ".synapse", format!("synapse {}: {m}", syn.name), None)
            })?;
        }
        let mut parameters = Vec::new();
        for (k, v) in &d.parameters {
            let known = synapse
                .as_ref()
                .is_some_and(|syn| syn.parameters.iter().any(|p| &p.name == k));
            if !known {
                let names: Vec<String> = synapse
                    .as_ref()
                    .map(|syn| syn.parameters.iter().map(|p| p.name.clone()).collect())
                    .unwrap_or_default();
                return Err(err(
                    v.span(),
                    &format!(".parameters.{k}"),
                    format!("the synapse has no parameter {k}"),
                    Some(if names.is_empty() {
                        "the default synapse has no parameters; its weight is `weights`".into()
                    } else {
                        format!("its parameters are: {}", names.join(", "))
                    }),
                ));
            }
            if let ParamValueDef::PerNeuron(_) = v.get_ref() {
                return Err(err(
                    v.span(),
                    &format!(".parameters.{k}"),
                    format!("{k} is a number or a distribution drawn per synapse, not a list"),
                    Some(format!(
                        "e.g. {k} = 0.5 or {k} = {{ uniform = [0.0, 1.0] }}"
                    )),
                ));
            }
            parameters.push((k.clone(), ParamValue::from(v.get_ref())));
        }
        if let Some(delay) = &d.delays {
            if let ParamValueDef::Scalar(ms) = delay.get_ref() {
                let steps = (ms / dt).round();
                if !(ms.is_finite() && *ms >= 0.0) || steps > f64::from(crate::sim::MAX_DELAY_STEPS)
                {
                    return Err(err(
                        delay.span(),
                        ".delays",
                        format!("a delay of {ms} ms ({steps} steps of {dt} ms) is not a delay neurorec keeps: 0 to {} steps", crate::sim::MAX_DELAY_STEPS),
                        Some("give a delay in ms >= 0, e.g. delays = 1.5".into()),
                    ));
                }
            }
        }
        let connector = connector(loc, &key, &d.connector)?;
        if let Connector::Synapses(list) = &connector {
            // Ranks of a file are within the slices.
            let pre_size = pre_range.as_ref().map_or_else(
                || population(populations, &pre).map_or(0, |p| p.size),
                |r| r.len(),
            );
            let post_size = post_range.as_ref().map_or(post_spec.size, |r| r.len());
            if let Some((k, (i, j, _, _))) = list
                .iter()
                .enumerate()
                .find(|(_, (i, j, _, _))| *i as usize >= pre_size || *j as usize >= post_size)
            {
                return Err(err(
                    d.connector.span(),
                    ".connector.file",
                    format!("synapse {} (row {}) connects pre {i} to post {j}, outside the {pre_size} pre and {post_size} post neurons", k, k + 1),
                    Some("ranks in a connectivity file count from 0 within the pre and post slices".into()),
                ));
            }
        }
        let weights = ParamValue::from(d.weights.get_ref());
        let delays = d.delays.as_ref().map(|x| ParamValue::from(x.get_ref()));
        for (what, v, span) in [
            ("weights", Some(&weights), d.weights.span()),
            (
                "delays",
                delays.as_ref(),
                d.delays.as_ref().map_or(0..0, |x| x.span()),
            ),
        ] {
            if let Some(ParamValue::PerNeuron(_)) = v {
                return Err(err(
                    span,
                    &format!(".{what}"),
                    format!("{what} are a number or a distribution"),
                    Some(format!(
                        "per-synapse {what} come from connector = {{ file = \"...\" }}"
                    )),
                ));
            }
        }
        out.push(ProjectionSpec {
            name: name.clone(),
            pre,
            pre_range,
            post,
            post_range,
            target,
            connector,
            weights,
            delays_ms: delays,
            allow_self: d.allow_self_connections,
            synapse,
            parameters,
        });
    }
    Ok(out)
}

/// A connector table: exactly one key; a file is read now.
fn connector(
    loc: &Locator<'_>,
    key: &str,
    def: &Spanned<ConnectorDef>,
) -> Result<Connector, PipelineError> {
    let c = def.get_ref();
    let err = |message: String| {
        loc.error(
            def.span(),
            format!("{key}.connector"),
            message,
            Some("write one of all_to_all = true, one_to_one = true, fixed_probability = p, fixed_number_pre = n, fixed_number_post = n, file = \"conn.parquet\"".into()),
        )
    };
    let given = [
        c.all_to_all.is_some(),
        c.one_to_one.is_some(),
        c.fixed_probability.is_some(),
        c.fixed_number_pre.is_some(),
        c.fixed_number_post.is_some(),
        c.file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(err("a connector has exactly one key".into()));
    }
    Ok(if let Some(flag) = c.all_to_all {
        if !flag {
            return Err(err("all_to_all = false connects nothing".into()));
        }
        Connector::AllToAll
    } else if let Some(flag) = c.one_to_one {
        if !flag {
            return Err(err("one_to_one = false connects nothing".into()));
        }
        Connector::OneToOne
    } else if let Some(p) = c.fixed_probability {
        if !(0.0..=1.0).contains(&p) {
            return Err(err(format!("fixed_probability must be in [0, 1], got {p}")));
        }
        Connector::FixedProbability(p)
    } else if let Some(n) = c.fixed_number_pre {
        Connector::FixedNumberPre(n as usize)
    } else if let Some(n) = c.fixed_number_post {
        Connector::FixedNumberPost(n as usize)
    } else {
        let file = c.file.clone().unwrap_or_default();
        let path = loc.path.parent().unwrap_or(Path::new(".")).join(&file);
        Connector::Synapses(crate::connectivity::read_synapses(&path).map_err(|message| {
            loc.error(
                def.span(),
                format!("{key}.connector.file"),
                message,
                Some("a connectivity file has the columns pre, post and optionally w and delay (ms): ranks within the slices, one synapse per row".into()),
            )
        })?)
    })
}

fn validate_monitors(
    loc: &Locator<'_>,
    defs: &IndexMap<String, Spanned<Vec<String>>>,
    projections: &[ProjectionSpec],
    net: &Network,
) -> Result<Vec<MonitorSpec>, PipelineError> {
    let mut monitors = Vec::new();
    for (key, vars) in defs {
        let names: Vec<&str> = vars.get_ref().iter().map(String::as_str).collect();
        let spec = MonitorSpec::parse(key, &names).map_err(|e| {
            loc.error(
                vars.span(),
                format!("monitors.\"{key}\""),
                e.to_string(),
                None,
            )
        })?;
        monitors.push(spec);
    }
    if monitors.is_empty() {
        return Err(loc.error(
            0..0,
            "monitors",
            "the pipeline monitors nothing",
            Some("add e.g. [monitors] \"my_pop1;2\" = [\"v\", \"spike\"]".into()),
        ));
    }
    // Projection monitors are checked against their synapse model (the network below has
    // no projections); the monitors check the others against a network of one neuron per
    // population.
    let culprit = |e: &MonitorError| {
        monitor_culprit(e, defs, &monitors).unwrap_or(("monitors".into(), loc.find_key("monitors")))
    };
    let (of_projections, of_populations): (Vec<MonitorSpec>, Vec<MonitorSpec>) = monitors
        .iter()
        .cloned()
        .partition(|m| projections.iter().any(|p| p.name == m.compartment));
    for (i, spec) in of_projections.iter().enumerate() {
        if of_projections[..i]
            .iter()
            .any(|m| m.compartment == spec.compartment)
        {
            let e = MonitorError::DuplicateCompartment {
                name: spec.compartment.clone(),
            };
            let (key, span) = culprit(&e);
            return Err(loc.error(span, key, e.to_string(), None));
        }
        let projection = projections.iter().find(|p| p.name == spec.compartment);
        let variables: Vec<String> = match projection.and_then(|p| p.synapse.as_ref()) {
            Some(def) => def.variables().iter().map(|v| v.to_string()).collect(),
            None => vec!["w".to_string()],
        };
        if let Err(e) = crate::monitor::check_projection_monitor(&net.grid(), spec, &variables) {
            let (key, span) = culprit(&e);
            return Err(loc.error(span, key, e.to_string(), None));
        }
    }
    if let Err(e) = Monitors::with_sink(net, &of_populations, NullSink) {
        let e = match e {
            MonitorError::UnknownCompartment { name, known } => {
                let mut known = vec![known];
                known.extend(projections.iter().map(|p| p.name.clone()));
                MonitorError::UnknownCompartment {
                    name,
                    known: known.join(", "),
                }
            }
            e => e,
        };
        let (key, span) = culprit(&e);
        return Err(loc.error(span, key, e.to_string(), None));
    }
    Ok(monitors)
}

/// The monitor entry an error is about: the entry of its compartment (of a duplicate, the
/// second entry).
fn monitor_culprit(
    e: &MonitorError,
    defs: &IndexMap<String, Spanned<Vec<String>>>,
    monitors: &[MonitorSpec],
) -> Option<(String, Range<usize>)> {
    let compartment = e.compartment()?;
    let mut entries = defs
        .iter()
        .zip(monitors)
        .filter(|(_, spec)| spec.compartment == compartment);
    let ((key, vars), _) = if matches!(e, MonitorError::DuplicateCompartment { .. }) {
        entries.nth(1)?
    } else {
        entries.next()?
    };
    Some((format!("monitors.\"{key}\""), vars.span()))
}

fn validate_schedule(
    loc: &Locator<'_>,
    steps: &[Spanned<StepDef>],
    monitors: &[MonitorSpec],
    populations: &[PopulationSpec],
) -> Result<Vec<Action>, PipelineError> {
    let monitored: Vec<&str> = monitors.iter().map(|m| m.compartment.as_str()).collect();
    let mut schedule = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        schedule.push(schedule_action(loc, i, step, &monitored, populations)?);
    }
    Ok(schedule)
}

/// The population named `name`, or the error a network gives for an unknown one.
fn population<'a>(
    populations: &'a [PopulationSpec],
    name: &str,
) -> Result<&'a PopulationSpec, SimError> {
    populations
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| SimError::UnknownPopulation {
            name: name.to_string(),
            known: populations
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// `"all"` or a list of monitored compartments, of the `what` (start or pause) of a
/// schedule entry.
fn selection(
    loc: &Locator<'_>,
    span: &Range<usize>,
    key: &str,
    sel: &Selection,
    what: &str,
    monitored: &[&str],
) -> Result<Option<Vec<String>>, PipelineError> {
    match sel {
        Selection::Named(s) if s == "all" => Ok(None),
        Selection::Named(s) => Err(loc.error(
            span.clone(),
            format!("{key}.{what}"),
            format!("\"{s}\" is neither \"all\" nor a list of compartments"),
            Some(format!(
                "write {what} = \"all\" or {what} = [\"{}\"]",
                monitored[0]
            )),
        )),
        Selection::List(list) => {
            if let Some(name) = list.iter().find(|n| !monitored.contains(&n.as_str())) {
                return Err(loc.error(
                    span.clone(),
                    format!("{key}.{what}"),
                    format!("\"{name}\" is not monitored"),
                    Some(format!(
                        "monitored compartments are: {}",
                        monitored.join(", ")
                    )),
                ));
            }
            Ok(Some(list.clone()))
        }
    }
}

/// One schedule entry: exactly one action, checked (a parameter change against its
/// population).
fn schedule_action(
    loc: &Locator<'_>,
    i: usize,
    step: &Spanned<StepDef>,
    monitored: &[&str],
    populations: &[PopulationSpec],
) -> Result<Action, PipelineError> {
    let s = step.get_ref();
    let span = step.span();
    let key = format!("schedule[{i}]");
    let given = [
        s.simulate.is_some(),
        s.start.is_some(),
        s.pause.is_some(),
        s.reset.is_some(),
        s.get_recordings_and_clear.is_some(),
        s.set_parameter.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if given != 1 {
        return Err(loc.error(span, key, format!("a schedule entry needs exactly one action, found {given}"), Some("use one of simulate, start, pause, reset, get_recordings_and_clear, set_parameter per [[schedule]] entry".into())));
    }
    let action = if let Some(ms) = s.simulate {
        if !ms.is_finite() || ms < 0.0 {
            return Err(loc.error(
                span,
                format!("{key}.simulate"),
                format!("duration must be a finite number of ms >= 0, got {ms}"),
                Some("e.g. simulate = 100".into()),
            ));
        }
        Action::Simulate { ms }
    } else if let Some(sel) = &s.start {
        Action::Start {
            compartments: selection(loc, &span, &key, sel, "start", monitored)?,
        }
    } else if let Some(sel) = &s.pause {
        Action::Pause {
            compartments: selection(loc, &span, &key, sel, "pause", monitored)?,
        }
    } else if let Some(r) = &s.reset {
        Action::Reset {
            model: r.model,
            parameters: r.parameters,
        }
    } else if let Some(flag) = s.get_recordings_and_clear {
        if !flag {
            return Err(loc.error(
                span,
                format!("{key}.get_recordings_and_clear"),
                "get_recordings_and_clear = false does nothing",
                Some("write get_recordings_and_clear = true, or remove the entry".into()),
            ));
        }
        Action::GetRecordingsAndClear
    } else if let Some(sp) = &s.set_parameter {
        population(populations, &sp.population)
            .and_then(|p| p.check_parameter(&sp.parameter, &ParamValue::from(&sp.value)))
            .map_err(|e| loc.error(span, format!("{key}.set_parameter"), e.to_string(), None))?;
        Action::SetParameter {
            population: sp.population.clone(),
            parameter: sp.parameter.clone(),
            value: sp.value.clone(),
        }
    } else {
        return Err(loc.error(span, key, "empty schedule entry", None));
    };
    Ok(action)
}

fn validate_sweep(
    loc: &Locator<'_>,
    defs: &IndexMap<String, Spanned<Vec<f64>>>,
    populations: &[PopulationSpec],
) -> Result<Vec<(String, String, Vec<f64>)>, PipelineError> {
    let mut sweep = Vec::new();
    for (key, values) in defs {
        let k = format!("sweep.\"{key}\"");
        let Some((pop, param)) = key.split_once('.') else {
            return Err(loc.error(
                values.span(),
                k,
                "a swept parameter is written \"population.parameter\"",
                Some("e.g. \"my_pop2.I_app\" = [0, 20, 40]".into()),
            ));
        };
        let population = population(populations, pop)
            .map_err(|e| loc.error(values.span(), k.clone(), e.to_string(), None))?;
        if !population
            .model
            .parameters()
            .iter()
            .any(|(n, _)| *n == param)
        {
            let known = population
                .model
                .parameters()
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(loc.error(
                values.span(),
                k,
                format!("{pop} has no parameter \"{param}\""),
                Some(format!("its parameters are: {known}")),
            ));
        }
        if values.get_ref().is_empty() || values.get_ref().iter().any(|v| !v.is_finite()) {
            return Err(loc.error(
                values.span(),
                k,
                "a sweep needs at least one finite value",
                None,
            ));
        }
        sweep.push((pop.to_string(), param.to_string(), values.get_ref().clone()));
    }
    Ok(sweep)
}

/// Plots are checked now, before anything runs, against what the monitors record.
fn validate_plots(
    loc: &Locator<'_>,
    plots: Vec<Spanned<PlotPlan>>,
    monitors: &[MonitorSpec],
) -> Result<Vec<PlotPlan>, PipelineError> {
    let recorded: Vec<Recorded> = monitors
        .iter()
        .map(|m| Recorded {
            compartment: m.compartment.clone(),
            variables: m
                .variables
                .iter()
                .filter(|v| *v != "spike")
                .cloned()
                .collect(),
            spikes: m.variables.iter().any(|v| v == "spike"),
        })
        .collect();
    let mut out = Vec::new();
    for (i, plot) in plots.into_iter().enumerate() {
        let key = format!("plots[{i}]");
        let span = plot.span();
        let plan = plot.into_inner();
        if plan.file.is_none() {
            return Err(loc.error(
                span,
                key,
                "a plot needs `file`, the name of its figures in DIR/figures/",
                Some("e.g. file = \"figure_{set1}_chunk{chunk}.png\"".into()),
            ));
        }
        plan.check(&recorded)
            .map_err(|e| loc.error(span, key, e.message, e.hint))?;
        out.push(plan);
    }
    Ok(out)
}
