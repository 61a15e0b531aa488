//! What monitors recorded, in the form `get_recordings` returns (CompNeuroPy's recordings
//! dicts): per chunk, each compartment's variables as ndarray `[samples, neurons]` arrays
//! and its spikes as neuron -> steps. Shared by the memory sink, the archive reader and
//! [`crate::times`] (which combines periods and chunks of them).

use ndarray::Array2;

/// What one compartment recorded in one chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct CompartmentRecording {
    /// Compartment name.
    pub name: String,
    /// Sampling period in ms (CompNeuroPy's `"<name>;period"`).
    pub period_ms: f64,
    /// Parameter values per neuron when the chunk ended (`"<name>;parameter_dict"`).
    pub parameters: Vec<(String, Vec<f64>)>,
    /// Each recorded variable as `[samples, neurons]`, all periods concatenated.
    pub variables: Vec<(String, Array2<f64>)>,
    /// When spikes are recorded: for each neuron the steps at which it spiked.
    pub spikes: Option<Vec<Vec<i64>>>,
    /// For a projection: `(post, pre)` of each column of the variables (a synapse; ranks in
    /// the post and pre populations), sorted by post, then pre. `None` for a population.
    pub synapses: Option<Vec<(u32, u32)>>,
}

impl CompartmentRecording {
    /// The array of a recorded variable.
    pub fn variable(&self, name: &str) -> Option<&Array2<f64>> {
        self.variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }

    /// A parameter's per-neuron values.
    pub fn parameter(&self, name: &str) -> Option<&[f64]> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| &v[..])
    }
}

/// Everything recorded in one chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecordings {
    /// The time step in ms (`"dt"`).
    pub dt_ms: f64,
    /// Per compartment, in monitor order.
    pub compartments: Vec<CompartmentRecording>,
}

impl ChunkRecordings {
    /// The recording of a compartment.
    pub fn compartment(&self, name: &str) -> Option<&CompartmentRecording> {
        self.compartments.iter().find(|c| c.name == name)
    }

    /// A variable by CompNeuroPy key, e.g. `"my_pop1;v"`.
    pub fn get(&self, key: &str) -> Option<&Array2<f64>> {
        let (c, v) = key.split_once(';')?;
        self.compartment(c)?.variable(v)
    }

    /// Spikes by compartment name (neuron -> steps).
    pub fn spikes(&self, compartment: &str) -> Option<&[Vec<i64>]> {
        self.compartment(compartment)?.spikes.as_deref()
    }

    /// Every recorded key, `"compartment;variable"` and `"compartment;spike"`.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for c in &self.compartments {
            keys.extend(c.variables.iter().map(|(v, _)| format!("{};{v}", c.name)));
            if c.spikes.is_some() {
                keys.push(format!("{};spike", c.name));
            }
        }
        keys
    }
}
