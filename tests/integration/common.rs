//! Helpers shared by the integration tests.

use neurorec::schedule::{run_schedule, Action};
use neurorec::{ChunkRecordings, Monitors, Network, NeuronModel, PopulationSpec, RecordingTimes};

/// Path of a file in `tests/data`.
pub fn data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The seed's network: my_pop1 (I_app 0) and my_pop2 (I_app 52), one neuron each.
pub fn seed_network() -> Network {
    let mut net = Network::new(0.1).unwrap();
    net.add_population(
        PopulationSpec::new("my_pop1", 1, NeuronModel::Izhikevich2007).with_parameter("I_app", 0.0),
    )
    .unwrap();
    net.add_population(
        PopulationSpec::new("my_pop2", 1, NeuronModel::Izhikevich2007)
            .with_parameter("I_app", 52.0),
    )
    .unwrap();
    net
}

/// Runs a schedule into memory and returns every set's recordings and times.
pub fn run_in_memory(
    net: &mut Network,
    dict: &[(&str, &[&str])],
    actions: &[Action],
) -> Vec<(Vec<ChunkRecordings>, RecordingTimes)> {
    let mut mon = Monitors::new(net, dict).unwrap();
    let mut sets = Vec::new();
    run_schedule(net, &mut mon, actions, |m, times| {
        sets.push((m.sink_mut().take_finished(), times));
    })
    .unwrap();
    sets
}
