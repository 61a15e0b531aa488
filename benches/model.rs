//! The generic path of equation-defined models (`neurorec::model`): neuron-steps per second
//! of Izhikevich2007 written as equations (ANNarchy's generated order), on one core; and
//! the preparation (parse, check, compile) of every CompNeuroPy library neuron.
//!
//! Run: `cargo bench --bench model`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use neurorec::model::eval::Compiled;
use neurorec::model::{NeuronDef, NeuronText};

const IZHIKEVICH2007: NeuronText<'static> = NeuronText {
    parameters: "C = 100.0\nk = 0.7\nv_r = -60.0\nv_t = -40.0\na = 0.03\nb = -2.0\nc = -50.0\nd = 100.0\nv_peak = 35.0\nI_app = 50.0",
    equations: "I_v = I_app\ndv/dt = (I_v + k*v**2 - k*v*v_r - k*v*v_t + k*v_r*v_t - u)/C\ndu/dt = a*(b*v - b*v_r - u)",
    spike: "v >= v_peak",
    reset: "v = c\nu += d",
    functions: "",
    refractory: None,
};

fn bench_generic(c: &mut Criterion) {
    let mut group = c.benchmark_group("equations");
    group.sample_size(10);
    let model = Compiled::new(&NeuronDef::parse("Izhikevich2007", &IZHIKEVICH2007).expect("parse"))
        .expect("compile");
    for n in [1_000usize, 10_000, 100_000] {
        let steps = (2_000_000 / n).max(10);
        group.throughput(Throughput::Elements((n * steps) as u64));
        group.bench_with_input(
            BenchmarkId::new("Izhikevich2007/threads=1", n),
            &n,
            |b, &n| {
                let mut state = model.state(n);
                let mut spikes = Vec::new();
                let mut step = 0u64;
                b.iter(|| {
                    for _ in 0..steps {
                        spikes.clear();
                        model.step(&mut state, step as i64, 0.1, &mut spikes);
                        step += 1;
                    }
                });
            },
        );
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
