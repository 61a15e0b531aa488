//! Equation-defined models through `neurorec run`: one population per library family
//! (Izhikevich2007 variants, Izhikevich2003 variants, Hodgkin-Huxley, Poisson, integrator)
//! and a user model, recorded into an archive that validates; the archive's values are the
//! network's; seeds make runs reproducible, a run without one records the seed it drew.

use std::path::Path;

use neurorec::pipeline::Pipeline;
use neurorec::{Archive, Network, NeuronModel, PopulationSpec};

use crate::common::run_and_validate;

const PIPELINE: &str = r#"
dt = 0.1
SEED

[neurons.LIF]
parameters = """
tau = 20.0 : population
El = -60.0 : population
Vt = -50.0 : population
Vr = -60.0 : population
I = 20.0
"""
equations = "tau * dv/dt = El - v + I"
spike = "v > Vt"
reset = "v = Vr"
refractory = 5.0

[populations.izh7]
size = 4
model = "Izhikevich2007Syn"
parameters = { I_app = [0.0, 50.0, 100.0, 200.0] }
initial = { g_ampa = [0.0, 0.0, 1.0, 0.0] }

[populations.izh3]
size = 4
model = "Izhikevich2003NoisyBase"
parameters = { a = 0.02, b = 0.2, c = -65.0, d = 8.0, n2 = 0.04, n1 = 5.0, n0 = 140.0, I_app = 10.0, base_noise = 2.0, rate_base_noise = 100.0 }
initial = { v = -65.0 }

[populations.hh]
size = 2
model = "HHneuronBischop"
parameters = { I_app = [0.0, 60.0] }

[populations.poisson]
size = 10000
model = "PoissonNeuron"
parameters = { rates = 20.0 }

[populations.integ]
size = 3
model = "IntegratorNeuron"
parameters = { neuron_id = [0.0, 1.0, 2.0] }
initial = { g_ampa = [0.5, 2.0, 4.0] }

[populations.lif]
size = 50
model = "LIF"
parameters = { I = 25.0 }
initial = { v = { normal = [-55.0, 5.0] } }

[monitors]
izh7 = ["v", "u", "g_ampa", "spike"]
izh3 = ["v", "I_base", "spike"]
hh = ["v", "Ca", "spike"]
poisson = ["spike"]
integ = ["g_ampa", "decision", "spike"]
lif = ["v", "spike"]

[[schedule]]
start = "all"
[[schedule]]
simulate = 200.0
"#;

fn write_pipeline(dir: &Path, seed: Option<u64>) -> std::path::PathBuf {
    let seed = seed.map_or(String::new(), |s| format!("seed = {s}"));
    let path = dir.join("families.toml");
    std::fs::write(&path, PIPELINE.replace("SEED", &seed)).unwrap();
    path
}

fn run(pipeline: &Path, out: &Path) -> Archive {
    run_and_validate(pipeline, out);
    Archive::open(out).unwrap()
}

fn seed_of(archive: &Archive) -> (u64, bool) {
    let seeds = &archive.manifest().seeds;
    (
        seeds["seed"].as_u64().unwrap(),
        seeds["given"].as_bool().unwrap(),
    )
}

#[test]
fn every_family_runs_into_a_valid_archive_with_the_networks_values() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(dir.path(), Some(11));
    let archive = run(&pipeline, &dir.path().join("out"));
    assert_eq!(seed_of(&archive), (11, true));
    let rec = &archive.recordings(0, 0).unwrap()[0];

    // The archive holds what the network computes (deterministic HH, and the noisy
    // Izhikevich2003 with the same seed), step by step.
    let mut net = Pipeline::load(&pipeline).unwrap().network(&[]).unwrap();
    let (hh_v, izh3_v) = (rec.get("hh;v").unwrap(), rec.get("izh3;v").unwrap());
    assert_eq!(hh_v.nrows(), 2000);
    let g_ampa = rec.get("izh7;g_ampa").unwrap();
    assert_eq!(
        g_ampa.row(0).to_vec(),
        [0.0, 0.0, 1.0, 0.0],
        "targets: the initial value first"
    );
    for step in 0..2000 {
        // Projection targets are recorded as they are at the start of the step.
        let before = net
            .population("izh7")
            .unwrap()
            .variable("g_ampa")
            .unwrap()
            .to_vec();
        assert_eq!(
            g_ampa.row(step).to_vec(),
            before,
            "izh7 g_ampa at step {step}"
        );
        net.step();
        let v = net.population("hh").unwrap().variable("v").unwrap();
        assert_eq!(hh_v.row(step).to_vec(), v, "hh v at step {step}");
        let v = net.population("izh3").unwrap().variable("v").unwrap();
        assert_eq!(izh3_v.row(step).to_vec(), v, "izh3 v at step {step}");
    }

    // Every family did something.
    let spikes = |c: &str| -> Vec<Vec<i64>> { rec.spikes(c).unwrap().to_vec() };
    assert!(spikes("hh")[1].len() >= 2, "HH with 60 pA spikes");
    assert!(spikes("hh")[0].is_empty(), "HH at rest does not");
    assert!(spikes("izh7")[3].len() >= 2);
    assert!(spikes("izh3").iter().all(|s| !s.is_empty()));
    assert!(rec.get("izh3;I_base").unwrap().iter().any(|x| *x != 0.0));
    // The integrator's g_ampa decays (tau 1 ms); it fires at every step it is still at
    // or above the threshold 1, so longer for a larger start, never from 0.5.
    let integ = spikes("integ");
    assert!(integ[0].is_empty(), "{integ:?}");
    for s in &integ[1..] {
        assert_eq!(*s, (0..s.len() as i64).collect::<Vec<_>>());
    }
    assert!(
        integ[1].len() >= 5 && integ[2].len() > integ[1].len(),
        "{integ:?}"
    );
    let decision = rec.get("integ;decision").unwrap();
    assert_eq!(decision.row(1999).to_vec(), [-1.0, 1.0, 2.0]);

    // Poisson: 20 Hz over 1e4 neurons for 0.2 s is 40000 spikes, standard error 200.
    let count: usize = spikes("poisson").iter().map(Vec::len).sum();
    assert!((count as f64 - 40000.0).abs() < 600.0, "{count} spikes");

    // The user's LIF: normal initial values (mean -55, sd 5 over 50 neurons) and no two
    // spikes closer than the refractory period.
    let v0 = rec.get("lif;v").unwrap().row(0).to_vec();
    let mean = v0.iter().sum::<f64>() / 50.0;
    // (The first sample is after one step: about 0.1 mV above the drawn value.)
    assert!(
        (mean + 55.0).abs() < 3.0 * 5.0 / 50f64.sqrt() + 0.2,
        "mean {mean}"
    );
    for s in spikes("lif") {
        assert!(s.len() >= 5);
        assert!(s.windows(2).all(|w| w[1] - w[0] > 50), "{s:?}");
    }
}

#[test]
fn a_seed_reproduces_a_run_and_a_run_without_one_records_the_seed_it_drew() {
    let dir = tempfile::tempdir().unwrap();
    let spikes_and_v = |a: &Archive| {
        let rec = &a.recordings(0, 0).unwrap()[0];
        (
            rec.spikes("poisson").unwrap().to_vec(),
            rec.get("lif;v").unwrap().clone(),
            rec.get("izh3;v").unwrap().clone(),
        )
    };
    let seeded = write_pipeline(dir.path(), Some(5));
    let first = spikes_and_v(&run(&seeded, &dir.path().join("a")));
    let again = spikes_and_v(&run(&seeded, &dir.path().join("b")));
    assert!(first == again, "the same seed gives the same run");

    let unseeded = write_pipeline(dir.path(), None);
    let fresh = run(&unseeded, &dir.path().join("c"));
    let (seed, given) = seed_of(&fresh);
    assert!(!given);
    assert!(
        spikes_and_v(&fresh) != first,
        "a fresh seed differs from seed 5"
    );
    let replay = write_pipeline(dir.path(), Some(seed));
    let replayed = run(&replay, &dir.path().join("d"));
    assert!(spikes_and_v(&replayed) == spikes_and_v(&fresh));
}

#[test]
fn random_models_give_the_same_numbers_on_any_number_of_threads() {
    let run = |threads: usize, unobserved: bool| {
        let mut net = Network::new(0.1)
            .unwrap()
            .with_seed(3)
            .with_threads(threads);
        let poisson = NeuronModel::from_name("PoissonNeuron").unwrap();
        net.add_population(PopulationSpec::new("p", 60_000, poisson).with_parameter("rates", 30.0))
            .unwrap();
        let noisy = NeuronModel::from_name("Izhikevich2007NoisyBase").unwrap();
        net.add_population(
            PopulationSpec::new("n", 30_000, noisy)
                .with_parameter("base_noise", 5.0)
                .with_parameter("rate_base_noise", 50.0),
        )
        .unwrap();
        let mut spikes = Vec::new();
        if unobserved {
            net.advance_unobserved(99);
        } else {
            for _ in 0..99 {
                net.step();
            }
        }
        net.step();
        spikes.push(net.population("p").unwrap().last_spikes().to_vec());
        let v = net.population("n").unwrap().variable("v").unwrap().to_vec();
        (spikes, v)
    };
    let one = run(1, false);
    assert!(!one.0[0].is_empty());
    for (threads, unobserved) in [(2, false), (2, true), (1, true), (4, true)] {
        assert!(run(threads, unobserved) == one, "{threads} threads");
    }
}

#[test]
fn set_parameter_reset_and_sweeps_work_on_library_model_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("poisson.toml");
    std::fs::write(
        &path,
        r#"
seed = 9
[populations.p]
size = 5000
model = "PoissonNeuron"
parameters = { rates = 10.0 }
[monitors]
p = ["spike"]
[[schedule]]
start = "all"
[[schedule]]
simulate = 100.0
[[schedule]]
set_parameter = { population = "p", parameter = "rates", value = 40.0 }
[[schedule]]
simulate = 100.0
[[schedule]]
reset = { model = true, parameters = true }
[[schedule]]
simulate = 100.0
[sweep]
"p.rates" = [10.0, 30.0]
"#,
    )
    .unwrap();
    let archive = run(&path, &dir.path().join("out"));
    // Spikes per 100 ms window: 5000 neurons, 1000 steps, r * dt / 1000 each: 500 r.
    for (run, rate) in [(0u32, 10.0), (1, 30.0)] {
        let chunks = archive.recordings(run, 0).unwrap();
        let count = |chunk: usize, from: i64, to: i64| -> f64 {
            chunks[chunk]
                .spikes("p")
                .unwrap()
                .iter()
                .flatten()
                .filter(|s| (from..to).contains(*s))
                .count() as f64
        };
        let near = |got: f64, rate: f64| {
            let expected = 5000.0 * 1000.0 * rate * 1e-4;
            assert!(
                (got - expected).abs() < 4.0 * expected.sqrt(),
                "{got} vs {expected}"
            );
        };
        near(count(0, 0, 1000), rate);
        near(count(0, 1000, 2000), 40.0);
        // After the reset, the swept rate is back.
        near(count(1, 0, 1000), rate);
    }
}
