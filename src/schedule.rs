//! A schedule: the actions of a simulation script (simulate, start, pause, reset,
//! get_recordings_and_clear, parameter changes) as data, run against a network and its
//! monitors. Pipelines, tests and benchmarks drive the simulator through it.

use serde::{Deserialize, Serialize};

use crate::monitor::{MonitorError, Monitors, ResetOptions, Sink};
use crate::sim::{Network, ParamValue};
use crate::times::RecordingTimes;

/// One action of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Advance by this many ms.
    Simulate { ms: f64 },
    /// Start the listed compartments (all when `None`).
    Start { compartments: Option<Vec<String>> },
    /// Pause the listed compartments (all when `None`).
    Pause { compartments: Option<Vec<String>> },
    /// Close the chunk; with `model`, reset the network (and, with `parameters`, its parameters).
    Reset { model: bool, parameters: bool },
    /// End the set.
    GetRecordingsAndClear,
    /// Change a parameter of a population, population-wide or per neuron.
    SetParameter {
        population: String,
        parameter: String,
        value: ParamValueDef,
    },
}

/// A parameter value as written in a file: one number or one per neuron.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValueDef {
    Scalar(f64),
    PerNeuron(Vec<f64>),
}

impl From<&ParamValueDef> for ParamValue {
    fn from(v: &ParamValueDef) -> Self {
        match v {
            ParamValueDef::Scalar(x) => ParamValue::Scalar(*x),
            ParamValueDef::PerNeuron(xs) => ParamValue::PerNeuron(xs.clone()),
        }
    }
}

/// Runs `actions` in order. After each `GetRecordingsAndClear`, `on_set` receives the monitors
/// (to take what a memory sink holds) and the set's recording times. When the schedule ends
/// with chunks recorded since the last clear, the set is ended too and handed to `on_set`.
pub fn run_schedule<S: Sink>(
    net: &mut Network,
    mon: &mut Monitors<S>,
    actions: &[Action],
    mut on_set: impl FnMut(&mut Monitors<S>, RecordingTimes),
) -> Result<(), MonitorError> {
    for action in actions {
        apply(net, mon, action, &mut on_set)?;
    }
    if mon.get_recording_times(net).nr_chunks() > 0 {
        let times = mon.end_set(net)?;
        on_set(mon, times);
    } else {
        mon.discard_empty_chunk(net)?;
    }
    Ok(())
}

/// Applies one action.
pub fn apply<S: Sink>(
    net: &mut Network,
    mon: &mut Monitors<S>,
    action: &Action,
    on_set: &mut impl FnMut(&mut Monitors<S>, RecordingTimes),
) -> Result<(), MonitorError> {
    match action {
        Action::Simulate { ms } => mon.simulate(net, *ms)?,
        Action::Start { compartments } => mon.start(net, names(compartments).as_deref())?,
        Action::Pause { compartments } => mon.pause(net, names(compartments).as_deref())?,
        Action::Reset { model, parameters } => mon.reset(
            net,
            ResetOptions {
                model: *model,
                parameters: *parameters,
            },
        )?,
        Action::GetRecordingsAndClear => {
            let times = mon.end_set(net)?;
            on_set(mon, times);
        }
        Action::SetParameter {
            population,
            parameter,
            value,
        } => net.set_parameter(population, parameter, ParamValue::from(value))?,
    }
    Ok(())
}

fn names(list: &Option<Vec<String>>) -> Option<Vec<&str>> {
    list.as_ref()
        .map(|l| l.iter().map(String::as_str).collect())
}

/// The seed script's schedule (`monitor_recordings.py`), for tests and benchmarks.
pub fn seed_schedule() -> Vec<Action> {
    let sim = |ms| Action::Simulate { ms };
    let all = || None;
    let reset = |model| Action::Reset {
        model,
        parameters: true,
    };
    vec![
        sim(100.0),
        Action::Start {
            compartments: all(),
        },
        sim(100.0),
        Action::Pause {
            compartments: all(),
        },
        sim(100.0),
        Action::Start {
            compartments: Some(vec!["my_pop1".into()]),
        },
        sim(100.0),
        Action::Start {
            compartments: all(),
        },
        sim(100.0),
        Action::Pause {
            compartments: Some(vec!["my_pop1".into()]),
        },
        sim(100.0),
        Action::Start {
            compartments: all(),
        },
        sim(100.0),
        reset(false),
        Action::Pause {
            compartments: all(),
        },
        sim(100.0),
        Action::Start {
            compartments: all(),
        },
        sim(700.0),
        reset(true),
        Action::Pause {
            compartments: all(),
        },
        sim(100.0),
        Action::Start {
            compartments: all(),
        },
        sim(700.0),
        Action::GetRecordingsAndClear,
        sim(100.0),
        Action::Start {
            compartments: all(),
        },
        sim(100.0),
        reset(true),
        sim(100.0),
        Action::GetRecordingsAndClear,
        Action::Start {
            compartments: all(),
        },
        reset(true),
        sim(100.0),
    ]
}
