//! Plotting one chunk of a large archive: N = 1e4 neurons with `v` + `spike` recorded every
//! step for 1000 ms (1e8 state rows, ~610 MB), drawn as line_mean, matrix and raster into
//! one PNG, straight from the Parquet files.
//!
//! Run: `cargo bench --bench plot` (the whole command: `neurorec plot DIR --plan plan.toml`,
//! see README, performance).

mod common;

use common::write_archive;
use criterion::{criterion_group, criterion_main, Criterion};
use neurorec::archive::{Archive, ArchiveOptions, ChunkRef};
use neurorec::plot::{plot, PlotOptions, PlotPlan};
use neurorec::schedule::Action;

// The allocator and its setting as in the `neurorec` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench_plot(c: &mut Criterion) {
    neurorec::alloc::keep_freed_memory();
    let dir = tempfile::tempdir().expect("tempdir");
    let archive_dir = dir.path().join("archive");
    let actions = [
        Action::Start { compartments: None },
        Action::Simulate { ms: 1000.0 },
    ];
    let options = ArchiveOptions {
        sync: false,
        ..Default::default()
    };
    write_archive(&archive_dir, 10_000, &actions, options);
    let archive = Archive::open(&archive_dir).expect("open");
    let plan = PlotPlan {
        shape: (1, 3),
        position: vec![1, 2, 3],
        compartment: vec!["pop".into(); 3],
        variable: vec!["v".into(), "v".into(), "spike".into()],
        format: vec!["line_mean".into(), "matrix".into(), "raster".into()],
        ..Default::default()
    };
    let options = PlotOptions {
        chunk: ChunkRef {
            run: 0,
            set: 0,
            chunk: 0,
        },
        time_lim: None,
        dpi: 300,
    };
    let out = dir.path().join("figure.png");
    let mut group = c.benchmark_group("plot");
    group.sample_size(10);
    group.bench_function("n1e4_1000ms_line_mean_matrix_raster_png", |b| {
        b.iter(|| plot(&archive, &plan, &options, &out).expect("plot"))
    });
    group.finish();
}

criterion_group!(benches, bench_plot);
criterion_main!(benches);
