//! The model library: CompNeuroPy's 28 neuron models in neurorec's language
//! (`library.toml`), each equation in the operation order of the C++ ANNarchy generates for
//! it. `Izhikevich2007` is listed too (its equations are tested against the built-in
//! kernel), but [`crate::sim::NeuronModel::from_name`] runs it on the hand-scheduled kernel.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use super::eval::Compiled;
use super::{ModelError, NeuronDef, NeuronText};

/// The library's source.
pub const SOURCE: &str = include_str!("library.toml");

/// A neuron model's texts as a TOML table (`[neurons.NAME]` of a pipeline, or a library
/// entry).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeuronTable {
    #[serde(default)]
    pub parameters: String,
    #[serde(default)]
    pub equations: String,
    #[serde(default)]
    pub spike: String,
    #[serde(default)]
    pub reset: String,
    #[serde(default)]
    pub functions: String,
    pub refractory: Option<f64>,
}

impl NeuronTable {
    /// The texts as the parser takes them.
    pub fn text(&self) -> NeuronText<'_> {
        NeuronText {
            parameters: &self.parameters,
            equations: &self.equations,
            spike: &self.spike,
            reset: &self.reset,
            functions: &self.functions,
            refractory: self.refractory,
        }
    }

    /// Parses, checks and compiles the model.
    pub fn compile(&self, name: &str) -> Result<Compiled, ModelError> {
        Compiled::new(&NeuronDef::parse(name, &self.text())?)
    }
}

/// The library's tables by name (parsed once).
fn tables() -> &'static BTreeMap<String, NeuronTable> {
    static TABLES: OnceLock<BTreeMap<String, NeuronTable>> = OnceLock::new();
    TABLES.get_or_init(|| {
        // The file is part of the program and tested to parse; an empty library would show
        // up in every test.
        toml::from_str(SOURCE).unwrap_or_default()
    })
}

/// The names of the library's models, sorted.
pub fn names() -> Vec<&'static str> {
    tables().keys().map(String::as_str).collect()
}

/// A library model's definition texts.
pub fn table(name: &str) -> Option<&'static NeuronTable> {
    tables().get(name)
}

/// A library model, compiled (once per process).
pub fn compiled(name: &str) -> Option<Arc<Compiled>> {
    static COMPILED: OnceLock<std::sync::Mutex<BTreeMap<String, Arc<Compiled>>>> = OnceLock::new();
    let cache = COMPILED.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = cache.get(name) {
        return Some(Arc::clone(c));
    }
    let c = Arc::new(table(name)?.compile(name).ok()?);
    cache.insert(name.to_string(), Arc::clone(&c));
    Some(c)
}

/// The library's synapses: ANNarchy's default spiking synapse and CompNeuroPy's.
pub const SYNAPSES: [&str; 2] = ["DefaultSynapse", "FactorSynapse"];

/// A library synapse by name.
pub fn synapse(name: &str) -> Option<super::synapse::SynapseDef> {
    use super::synapse::{SynapseDef, SynapseText};
    match name {
        "DefaultSynapse" => Some(SynapseDef::default_spiking()),
        // CompNeuroPy's FactorSynapse: the weight scaled by a factor (0 by default).
        "FactorSynapse" => SynapseDef::parse(
            name,
            &SynapseText {
                parameters: "mod_factor = 0",
                pre_spike: "g_target += w * mod_factor",
                ..Default::default()
            },
        )
        .ok(),
        _ => None,
    }
}

/// A library model's definition as a pipeline table (`[neurons.NAME]`), to copy and change.
pub fn pipeline_table(name: &str) -> Option<String> {
    let t = table(name)?;
    let mut out = format!("[neurons.{name}]\n");
    for (key, text) in [
        ("parameters", &t.parameters),
        ("equations", &t.equations),
        ("spike", &t.spike),
        ("reset", &t.reset),
        ("functions", &t.functions),
    ] {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if text.contains('\n') {
            out.push_str(&format!("{key} = \"\"\"\n{text}\n\"\"\"\n"));
        } else {
            out.push_str(&format!("{key} = {text:?}\n"));
        }
    }
    if let Some(r) = t.refractory {
        out.push_str(&format!("refractory = {r:?}\n"));
    }
    Some(out)
}

/// One line per library model: its name, variables and parameters with defaults.
pub fn summary() -> String {
    let mut out = String::new();
    for name in names() {
        let Some(c) = compiled(name) else { continue };
        let mut variables = c.variables.join(", ");
        if c.spiking() {
            variables.push_str(", spike");
        }
        let parameters: Vec<String> = c
            .parameters
            .iter()
            .map(|(p, x)| format!("{p}={x}"))
            .collect();
        let kernel = if name == "Izhikevich2007" {
            " (built-in kernel)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{name}{kernel}\n  variables: {variables}\n  parameters: {}\n",
            parameters.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_models_pipeline_table_compiles_to_the_same_model() {
        for name in ["HHneuronBischop", "PoissonNeuron", "IzhikevichGolomb"] {
            let text = pipeline_table(name).unwrap();
            let doc: toml::Table = toml::from_str(&text).unwrap();
            let table: NeuronTable = doc["neurons"][name].clone().try_into().unwrap();
            assert_eq!(table.compile(name).unwrap(), *compiled(name).unwrap());
        }
        assert!(summary().contains("PoissonNeuron\n  variables: p, spike\n"));
    }

    #[test]
    fn every_library_model_compiles() {
        let names = names();
        assert_eq!(names.len(), 28);
        for name in names {
            table(name)
                .unwrap()
                .compile(name)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
