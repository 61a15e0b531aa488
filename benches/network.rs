//! The COBA benchmark (`pipelines/coba.toml`): seconds per simulated second of the network
//! alone (connectivity built once, spikes not recorded), one core.
//!
//! Run: `cargo bench --bench network`

use criterion::{criterion_group, criterion_main, Criterion};
use neurorec::pipeline::Pipeline;

fn bench_coba(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/coba.toml");
    let pipeline = Pipeline::load(path).expect("pipelines/coba.toml");
    let mut group = c.benchmark_group("coba");
    group.sample_size(10);
    group.bench_function("build the network (4000 neurons, 2 % connectivity)", |b| {
        b.iter(|| pipeline.network(&[]).expect("network"))
    });
    group.bench_function("simulate 1000 ms, one core", |b| {
        b.iter_batched(
            || pipeline.network(&[]).expect("network").with_threads(1),
            |mut net| {
                for _ in 0..10_000 {
                    net.step();
                }
                net
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_coba);
criterion_main!(benches);
