//! Archive benchmarks: streaming a state table into Parquet (MB/s of raw values), the cost
//! of row-group statistics, and rebuilding RecordingTimes from an archive of 10 000 chunks.
//!
//! Run: `cargo bench --bench archive`

mod common;

use common::write_archive;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use neurorec::archive::{Archive, ArchiveOptions};
use neurorec::schedule::Action;

fn bench_stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("archive_stream");
    group.sample_size(10);
    let n = 10_000;
    let samples = 1_000; // 100 ms at dt 0.1: 1e7 rows
    group.throughput(Throughput::Bytes((n * samples * 8) as u64));
    let actions = [
        Action::Start { compartments: None },
        Action::Simulate {
            ms: samples as f64 * 0.1,
        },
    ];
    group.bench_function("v_spike_1e4_neurons_1e3_samples", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            write_archive(
                dir.path(),
                n,
                &actions,
                ArchiveOptions {
                    sync: false,
                    ..Default::default()
                },
            );
        })
    });
    group.finish();
}

fn bench_times(c: &mut Criterion) {
    let mut group = c.benchmark_group("archive_recording_times");
    group.sample_size(10);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut actions = vec![Action::Start { compartments: None }];
    for _ in 0..10_000 {
        actions.push(Action::Simulate { ms: 0.5 });
        actions.push(Action::Reset {
            model: false,
            parameters: true,
        });
    }
    write_archive(
        dir.path(),
        1,
        &actions,
        ArchiveOptions {
            sync: false,
            ..Default::default()
        },
    );
    group.bench_function("10000_chunks", |b| {
        b.iter(|| {
            let archive = Archive::open(dir.path()).expect("open");
            let times = archive.recording_times(0, 0).expect("times");
            assert_eq!(times.nr_chunks(), 10_000);
        })
    });
    group.bench_function("10000_chunks_from_footers", |b| {
        b.iter(|| {
            let archive = Archive::open(dir.path()).expect("open");
            let times = archive.recording_times_from_footers(0, 0).expect("times");
            assert_eq!(times.nr_chunks(), 10_000);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_stream, bench_times);
criterion_main!(benches);
