//! A schedule: the actions of a simulation script (simulate, start, pause, reset,
//! get_recordings_and_clear, parameter changes) as data, run against a network and its
//! monitors. Pipelines, tests and benchmarks drive the simulator through it.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::monitor::{MonitorError, MonitorSpec, Monitors, ResetOptions, Sink};
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

/// A parameter value as written in a file: one number, one per neuron, or a distribution
/// drawn per neuron (`{ uniform = [low, high] }`, `{ normal = [mean, sd] }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValueDef {
    Scalar(f64),
    PerNeuron(Vec<f64>),
    Uniform { uniform: [f64; 2] },
    Normal { normal: [f64; 2] },
}

impl From<&ParamValueDef> for ParamValue {
    fn from(v: &ParamValueDef) -> Self {
        match v {
            ParamValueDef::Scalar(x) => ParamValue::Scalar(*x),
            ParamValueDef::PerNeuron(xs) => ParamValue::PerNeuron(xs.clone()),
            ParamValueDef::Uniform { uniform: [a, b] } => ParamValue::Uniform(*a, *b),
            ParamValueDef::Normal { normal: [a, b] } => ParamValue::Normal(*a, *b),
        }
    }
}

/// Why a schedule stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// The observer asked to stop ([`Observer::progress`] returned `Break`).
    #[error("cancelled after {done_ms} of {total_ms} ms simulated")]
    Cancelled { done_ms: f64, total_ms: f64 },
}

impl From<crate::sim::SimError> for ScheduleError {
    fn from(e: crate::sim::SimError) -> Self {
        Self::Monitor(MonitorError::Sim(e))
    }
}

/// How far a schedule has come, given to [`Observer::progress`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Simulated ms so far (sum of the `simulate` actions run, in steps times dt).
    pub done_ms: f64,
    /// Simulated ms of the whole schedule.
    pub total_ms: f64,
    /// Whether the schedule has ended (the last call).
    pub finished: bool,
}

/// Watches a schedule as [`run_schedule`] runs it: receives every ended set, and, when it
/// asks for progress ([`Observer::progress_every`]), is called between slices of a
/// `simulate` and may cancel the run.
///
/// [`on_set`] makes an observer of a closure that receives the sets (to take what a memory
/// sink holds) and never cancels.
pub trait Observer<S: Sink> {
    /// A set ended: after `get_recordings_and_clear`, or at the end of the schedule when
    /// chunks were recorded since the last one.
    fn set_ended(&mut self, _mon: &mut Monitors<S>, _times: RecordingTimes) {}
    /// Steps per slice of a `simulate` between calls of [`Observer::progress`]; `None`
    /// (the default) runs every `simulate` in one go and never calls it.
    fn progress_every(&self) -> Option<i64> {
        None
    }
    /// Called after every slice and once at the end; `Break` stops the schedule with
    /// [`ScheduleError::Cancelled`] (what was recorded stays with the monitors and sink).
    fn progress(&mut self, _mon: &Monitors<S>, _progress: Progress) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// An observer receiving every ended set; see [`on_set`].
#[derive(Debug, Clone, Copy)]
pub struct OnSet<F>(F);

/// An observer that calls `f` with the monitors and the recording times of every ended set,
/// e.g. `on_set(|mon, times| sets.push((mon.sink_mut().take_finished(), times)))`.
pub fn on_set<S: Sink, F: FnMut(&mut Monitors<S>, RecordingTimes)>(f: F) -> OnSet<F> {
    OnSet(f)
}

impl<S: Sink, F: FnMut(&mut Monitors<S>, RecordingTimes)> Observer<S> for OnSet<F> {
    fn set_ended(&mut self, mon: &mut Monitors<S>, times: RecordingTimes) {
        (self.0)(mon, times)
    }
}

impl<S: Sink, O: Observer<S>> Observer<S> for &mut O {
    fn set_ended(&mut self, mon: &mut Monitors<S>, times: RecordingTimes) {
        (**self).set_ended(mon, times)
    }
    fn progress_every(&self) -> Option<i64> {
        (**self).progress_every()
    }
    fn progress(&mut self, mon: &Monitors<S>, progress: Progress) -> ControlFlow<()> {
        (**self).progress(mon, progress)
    }
}

/// An observer that watches nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl<S: Sink> Observer<S> for Unobserved {}

/// Simulated ms of a schedule (its `simulate` actions, each rounded to whole steps).
pub fn total_ms(net: &Network, actions: &[Action]) -> Result<f64, ScheduleError> {
    let mut steps = 0i64;
    for a in actions {
        if let Action::Simulate { ms } = a {
            steps = steps.saturating_add(net.steps_for(*ms)?);
        }
    }
    Ok(steps as f64 * net.dt())
}

/// Runs `actions` in order: the one loop over a schedule's actions. Every ended set goes to
/// `observer`; at the end, a set with chunks recorded since the last
/// `get_recordings_and_clear` is ended too (the seed's `recordings3`), and a chunk that
/// recorded nothing is dropped, so the sink never holds a begun chunk that does not end.
pub fn run_schedule<S: Sink>(
    net: &mut Network,
    mon: &mut Monitors<S>,
    actions: &[Action],
    mut observer: impl Observer<S>,
) -> Result<(), ScheduleError> {
    let slice = observer.progress_every().map(|s| s.max(1));
    let total_ms = if slice.is_some() {
        total_ms(net, actions)?
    } else {
        0.0
    };
    let mut done_steps = 0i64;
    for action in actions {
        match (action, slice) {
            (Action::Simulate { ms }, Some(slice)) => {
                let mut steps = net.steps_for(*ms)?;
                while steps > 0 {
                    let now = steps.min(slice);
                    mon.simulate_steps(net, now)?;
                    steps -= now;
                    done_steps += now;
                    let progress = Progress {
                        done_ms: (done_steps as f64 * net.dt()).min(total_ms),
                        total_ms,
                        finished: false,
                    };
                    if observer.progress(mon, progress).is_break() {
                        return Err(ScheduleError::Cancelled {
                            done_ms: progress.done_ms,
                            total_ms,
                        });
                    }
                }
            }
            _ => apply(net, mon, action, &mut observer)?,
        }
    }
    if let Some(times) = mon.end(net)? {
        observer.set_ended(mon, times);
    }
    if slice.is_some() {
        let _ = observer.progress(
            mon,
            Progress {
                done_ms: total_ms,
                total_ms,
                finished: true,
            },
        );
    }
    Ok(())
}

/// Records `actions` on `net` with the monitors `specs` feeding `sink`, then finishes the
/// monitors and the sink in one step ([`Monitors::finish`]) and returns what the sink leaves
/// (an archive writer: its manifest). On an error the sink is dropped unfinished (an
/// archive then lists the chunk being written as unfinished).
pub fn record<S: Sink>(
    net: &mut Network,
    specs: &[MonitorSpec],
    sink: S,
    actions: &[Action],
    observer: impl Observer<S>,
) -> Result<S::Output, ScheduleError> {
    let mut mon = Monitors::with_sink(net, specs, sink)?;
    run_schedule(net, &mut mon, actions, observer)?;
    Ok(mon.finish(net)?)
}

/// Applies one action (a `simulate` in one go).
pub fn apply<S: Sink>(
    net: &mut Network,
    mon: &mut Monitors<S>,
    action: &Action,
    observer: &mut impl Observer<S>,
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
            observer.set_ended(mon, times);
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
