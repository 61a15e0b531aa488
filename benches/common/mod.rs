//! Setup shared by the benchmarks: a population whose neurons all differ, recorded into an
//! archive.

use neurorec::archive::ArchiveOptions;
use neurorec::run::record_to_archive;
use neurorec::schedule::{Action, Unobserved};
use neurorec::{MonitorSpec, Network, NeuronModel, PopulationSpec};

/// `n` Izhikevich2007 neurons named `pop`, every neuron its own input current and start, so
/// no two traces repeat (as in real recordings).
pub fn network(n: usize) -> Network {
    let mut net = Network::new(0.1).expect("dt");
    let frac = |x: f64| x - x.floor();
    let i_app: Vec<f64> = (0..n)
        .map(|i| 20.0 + 60.0 * frac(i as f64 * 0.618_033_988_7))
        .collect();
    let v0: Vec<f64> = (0..n)
        .map(|i| -70.0 + 15.0 * frac(i as f64 * 0.414_213_562_3))
        .collect();
    net.add_population(
        PopulationSpec::new("pop", n, NeuronModel::Izhikevich2007)
            .with_parameter("I_app", i_app)
            .with_initial("v", v0),
    )
    .expect("population");
    net
}

/// Runs `actions` on [`network`]`(n)` with `v` + `spike` monitored into an archive in `dir`.
pub fn write_archive(dir: &std::path::Path, n: usize, actions: &[Action], options: ArchiveOptions) {
    let mut net = network(n);
    let specs = MonitorSpec::parse_dict(&[("pop", &["v", "spike"])]).expect("monitors");
    record_to_archive(&mut net, &specs, actions, dir, options, Unobserved).expect("run");
}
