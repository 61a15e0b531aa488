//! Neuron-steps per second of the Izhikevich2007 network: without monitors (one core and
//! all cores; population-wide and per-neuron input current), per kernel variant, and with
//! `v` + `spike` recorded every step into the memory sink.
//!
//! Run: `cargo bench --bench simulate`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use neurorec::{KernelKind, Monitors, Network, NeuronModel, ParamValue, PopulationSpec};

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// A population driven by `I_app` = 50 for all, or spread 0..99 over the neurons.
fn network(n: usize, kernel: KernelKind, threads: usize, per_neuron: bool) -> Network {
    let mut net = Network::new(0.1)
        .expect("dt")
        .with_kernel(kernel)
        .with_threads(threads);
    let i_app: ParamValue = if per_neuron {
        (0..n).map(|i| (i % 100) as f64).collect::<Vec<_>>().into()
    } else {
        50.0.into()
    };
    net.add_population(
        PopulationSpec::new("pop", n, NeuronModel::Izhikevich2007).with_parameter("I_app", i_app),
    )
    .expect("population");
    net
}

/// About 2e7 neuron-steps per iteration.
fn steps_for(n: usize) -> usize {
    (20_000_000 / n).clamp(20, 20_000)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn bench_unmonitored(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    let kernel = KernelKind::detect();
    let mut thread_counts = vec![1];
    if cores() > 1 {
        thread_counts.push(cores());
    }
    for per_neuron in [false, true] {
        for n in SIZES {
            let steps = steps_for(n);
            group.throughput(Throughput::Elements((n * steps) as u64));
            for &t in &thread_counts {
                let input = if per_neuron {
                    "I_app_per_neuron"
                } else {
                    "I_app_uniform"
                };
                let id = BenchmarkId::new(format!("{input}/{kernel:?}/threads={t}"), n);
                group.bench_with_input(id, &n, |b, &n| {
                    let mut net = network(n, kernel, t, per_neuron);
                    b.iter(|| net.simulate(steps as f64 * 0.1).expect("simulate"));
                });
            }
        }
    }
    group.finish();
}

fn bench_kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernel");
    group.sample_size(10);
    let n = 100_000;
    let steps = steps_for(n);
    group.throughput(Throughput::Elements((n * steps) as u64));
    for kernel in KernelKind::ALL.into_iter().filter(|k| k.is_supported()) {
        group.bench_with_input(
            BenchmarkId::new(format!("{kernel:?}/threads=1"), n),
            &n,
            |b, &n| {
                let mut net = network(n, kernel, 1, false);
                b.iter(|| net.simulate(steps as f64 * 0.1).expect("simulate"));
            },
        );
    }
    group.finish();
}

fn bench_recorded(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate_recorded_v_spike_memory");
    group.sample_size(10);
    for n in SIZES {
        // The recorded array stays near 160 MB.
        let steps = steps_for(n);
        group.throughput(Throughput::Elements((n * steps) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            let mut net = network(n, KernelKind::detect(), cores(), true);
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let mut mon =
                        Monitors::new(&net, &[("pop", &["v", "spike"])]).expect("monitors");
                    mon.start(&net, None).expect("start");
                    let started = std::time::Instant::now();
                    mon.simulate(&mut net, steps as f64 * 0.1)
                        .expect("simulate");
                    total += started.elapsed();
                    drop(mon);
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_unmonitored, bench_kernels, bench_recorded);
criterion_main!(benches);
