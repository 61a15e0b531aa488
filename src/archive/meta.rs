//! The key-value metadata of every archive file: what the file holds and the full period
//! table of its compartment in its chunk, one `neurorec.<field>` key per field with a JSON
//! value, so any Parquet reader (pyarrow, polars, DuckDB) can show it.

use std::collections::BTreeMap;

use parquet::file::metadata::KeyValue;
use serde::{Deserialize, Serialize};

use super::Kind;
use crate::times::CompartmentTimes;

/// Prefix of every metadata key written by neurorec.
pub const PREFIX: &str = "neurorec.";

/// One recording period as stored in the metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodRow {
    /// Step of the start (inclusive).
    pub start_step: i64,
    /// Step of the pause (exclusive).
    pub stop_step: i64,
    /// First sample in ms, as `RecordingTimes` gives it.
    pub start_ms: f64,
    /// Last sample in ms.
    pub stop_ms: f64,
    /// Sample index of the first sample.
    pub start_idx: i64,
    /// Sample index of the last sample.
    pub stop_idx: i64,
}

/// Everything an archive file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    pub format_version: u32,
    pub tool_version: String,
    pub kind: Kind,
    pub compartment: String,
    pub run: u32,
    pub set: u32,
    pub chunk: u32,
    pub part: u32,
    /// Number of parts of this compartment, kind and chunk.
    pub parts: u32,
    pub neurons: usize,
    pub dt_ms: f64,
    pub period_ms: f64,
    pub period_steps: i64,
    /// Recorded state variables (empty for spikes).
    pub variables: Vec<String>,
    /// `f64` (lossless) or `f32`.
    pub value_type: String,
    /// Parameter values when the chunk ended: one number when equal for all neurons,
    /// otherwise one per neuron.
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// The compartment's period table in this chunk.
    pub periods: Vec<PeriodRow>,
    /// First simulated step of the chunk.
    pub chunk_first_step: i64,
    /// One past the last simulated step of the chunk.
    pub chunk_end_step: i64,
    /// Steps simulated in dropped (empty) chunks since the previous chunk of the set.
    #[serde(default)]
    pub chunk_skipped_steps: i64,
    /// Simulated duration of the chunk in ms.
    pub simulated_ms: f64,
    /// For a projection's state: its populations and target (the file's rows are per
    /// synapse, with `post` and `pre` instead of `neuron`; `neurons` counts synapses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<ProjectionMeta>,
}

/// What a projection's state file says of its projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectionMeta {
    /// Pre population.
    pub pre: String,
    /// Post population.
    pub post: String,
    /// Target (`exc` for `g_exc`).
    pub target: String,
}

impl FileMeta {
    /// The metadata as key-value pairs.
    pub fn to_key_values(&self) -> Vec<KeyValue> {
        let value = serde_json::to_value(self).unwrap_or_default();
        let mut out = Vec::new();
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                out.push(KeyValue::new(format!("{PREFIX}{k}"), text));
            }
        }
        out
    }

    /// Parses the metadata back from key-value pairs.
    pub fn from_key_values(kvs: &[KeyValue]) -> Result<Self, String> {
        let mut map = serde_json::Map::new();
        for kv in kvs {
            let Some(field) = kv.key.strip_prefix(PREFIX) else {
                continue;
            };
            let text = kv.value.clone().unwrap_or_default();
            let value = match field {
                "tool_version" | "compartment" | "value_type" | "kind" => {
                    serde_json::Value::String(text)
                }
                _ => serde_json::from_str(&text)
                    .map_err(|e| format!("metadata key {}: {e}", kv.key))?,
            };
            map.insert(field.to_string(), value);
        }
        if map.is_empty() {
            return Err("no neurorec metadata in the file footer".into());
        }
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| format!("metadata: {e}"))
    }

    /// The period table as step pairs.
    pub fn pairs(&self) -> Vec<(i64, i64)> {
        self.periods
            .iter()
            .map(|p| (p.start_step, p.stop_step))
            .collect()
    }
}

/// The period table rows of a compartment's times.
pub fn period_rows(times: &CompartmentTimes) -> Vec<PeriodRow> {
    (0..times.pairs.len())
        .map(|i| PeriodRow {
            start_step: times.pairs[i].0,
            stop_step: times.pairs[i].1,
            start_ms: times.start_ms[i],
            stop_ms: times.stop_ms[i],
            start_idx: times.start_idx[i],
            stop_idx: times.stop_idx[i],
        })
        .collect()
}

/// Parameter values in compact form: a number when all neurons share it.
pub fn compact_parameters(
    parameters: &[(String, Vec<f64>)],
) -> BTreeMap<String, serde_json::Value> {
    parameters
        .iter()
        .map(|(name, values)| {
            let value = match values.first() {
                Some(first) if values.iter().all(|v| v.to_bits() == first.to_bits()) => {
                    serde_json::json!(first)
                }
                _ => serde_json::json!(values),
            };
            (name.clone(), value)
        })
        .collect()
}
