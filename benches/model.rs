//! The generic path of equation-defined models (`neurorec::model`): neuron-steps per second
//! of Izhikevich2007 written as equations (ANNarchy's generated order), a LIF with three
//! conductances and refractoriness, and HHneuronBischop, on one core and on all; and the
//! preparation (parse, check, compile) of every CompNeuroPy library neuron.
//!
//! Run: `cargo bench --bench model`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use neurorec::model::eval::{Compiled, Values};
use neurorec::model::{NeuronDef, NeuronText};

/// A leaky integrate-and-fire neuron with three conductances (AMPA, GABA, NMDA-like) and a
/// refractory period: the kind of model networks are made of.
const LIF3: NeuronText<'static> = NeuronText {
    parameters: "tau_m = 20.0 : population\nE_l = -60.0 : population\nv_t = -50.0 : population\nv_r = -60.0 : population\ntau_exc = 5.0 : population\ntau_inh = 10.0 : population\ntau_nmda = 100.0 : population\nE_exc = 0.0 : population\nE_inh = -80.0 : population\nI = 20.5",
    equations: "tau_m * dv/dt = E_l - v + g_exc * (E_exc - v) + g_inh * (E_inh - v) + g_nmda * (E_exc - v) + I\ntau_exc * dg_exc/dt = -g_exc\ntau_inh * dg_inh/dt = -g_inh\ntau_nmda * dg_nmda/dt = -g_nmda",
    spike: "v > v_t",
    reset: "v = v_r",
    functions: "",
    refractory: Some(5.0),
};

/// The models of the benchmark: Izhikevich2007 and HHneuronBischop from the library (the
/// equations in ANNarchy's generated order), the LIF above.
fn models() -> Vec<(&'static str, Compiled, &'static str, f64)> {
    let library = |name: &str| {
        neurorec::model::library::table(name)
            .expect("library model")
            .compile(name)
            .expect("compile")
    };
    vec![
        ("Izhikevich2007", library("Izhikevich2007"), "I_app", 50.0),
        (
            "LIF3",
            Compiled::new(&NeuronDef::parse("LIF3", &LIF3).expect("parse")).expect("compile"),
            "I",
            20.5,
        ),
        ("HHneuronBischop", library("HHneuronBischop"), "I_app", 60.0),
    ]
}

fn bench_generic(c: &mut Criterion) {
    let mut group = c.benchmark_group("equations");
    group.sample_size(10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (name, model, input, value) in models() {
        for n in [1_000usize, 10_000, 100_000] {
            let mut thread_counts = vec![1];
            if cores > 1 {
                thread_counts.push(cores);
            }
            for threads in thread_counts {
                let steps = (2_000_000 / n).max(10);
                group.throughput(Throughput::Elements((n * steps) as u64));
                let id = BenchmarkId::new(format!("{name}/threads={threads}"), n);
                group.bench_with_input(id, &n, |b, &n| {
                    let mut state = model.state(n);
                    let i = model
                        .parameters
                        .iter()
                        .position(|(p, _)| p == input)
                        .expect("input");
                    state.params[i] = Values::Uniform(value);
                    let mut spikes = Vec::new();
                    let mut step = 0i64;
                    b.iter(|| {
                        // One step at a time, as in a network with projections.
                        for _ in 0..steps {
                            spikes.clear();
                            model.advance(&mut state, step, 1, 0.1, threads, &mut spikes);
                            step += 1;
                        }
                    });
                });
            }
        }
    }
    group.finish();
}

fn bench_preparation(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/compneuropy_models.json"
    );
    let lib: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("library")).expect("json");
    let neurons = lib["neurons"].as_object().expect("neurons").clone();
    let text = |m: &serde_json::Value, k: &str| m[k].as_str().unwrap_or("").to_string();
    c.bench_function("prepare all 28 library neurons", |b| {
        b.iter(|| {
            for (name, m) in &neurons {
                let (p, e, s, r, f) = (
                    text(m, "parameters"),
                    text(m, "equations"),
                    text(m, "spike"),
                    text(m, "reset"),
                    text(m, "functions"),
                );
                let def = NeuronDef::parse(
                    name,
                    &NeuronText {
                        parameters: &p,
                        equations: &e,
                        spike: &s,
                        reset: &r,
                        functions: &f,
                        refractory: None,
                    },
                )
                .expect("parse");
                Compiled::new(&def).expect("compile");
            }
        })
    });
}

criterion_group!(benches, bench_generic, bench_preparation);
criterion_main!(benches);
