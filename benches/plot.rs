//! Plotting one chunk of a large archive: N = 1e4 neurons with `v` + `spike` recorded every
//! step for 1000 ms (1e8 state rows, ~610 MB), drawn as line_mean, matrix and raster into
//! one PNG, straight from the Parquet files.
//!
//! Run: `cargo bench --bench plot` (the whole command: `neurorec plot DIR --plan plan.toml`,
//! see README, performance).

use criterion::{criterion_group, criterion_main, Criterion};
use neurorec::archive::{Archive, ArchiveOptions, ArchiveWriter, ChunkRef};
use neurorec::plot::{plot, PlotOptions, PlotPlan};
use neurorec::{MonitorSpec, Monitors, Network, NeuronModel, PopulationSpec};

// The allocator and its setting as in the `neurorec` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn write_archive(dir: &std::path::Path, n: usize, ms: f64) {
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
    let specs = MonitorSpec::parse_dict(&[("pop", &["v", "spike"])]).expect("monitors");
    let options = ArchiveOptions {
        sync: false,
        ..Default::default()
    };
    let writer =
        ArchiveWriter::create(dir, net.dt(), vec!["pop".into()], options).expect("archive");
    let mut mon = Monitors::with_sink(&net, &specs, writer).expect("monitors");
    mon.start(&net, None).expect("start");
    mon.simulate(&mut net, ms).expect("simulate");
    mon.end_set(&net).expect("end set");
    mon.into_sink().finish().expect("finish");
}

fn bench_plot(c: &mut Criterion) {
    neurorec::alloc::keep_freed_memory();
    let dir = tempfile::tempdir().expect("tempdir");
    let archive_dir = dir.path().join("archive");
    write_archive(&archive_dir, 10_000, 1000.0);
    let archive = Archive::open(&archive_dir).expect("open");
    let plan = PlotPlan {
        shape: (1, 3),
        position: vec![1, 2, 3],
        compartment: vec!["pop".into(); 3],
        variable: vec!["v".into(), "v".into(), "spike".into()],
        format: vec!["line_mean".into(), "matrix".into(), "raster".into()],
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
