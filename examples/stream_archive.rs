//! Streams one population recorded every step (`v` + `spike`) into an archive: the
//! whole-process benchmark of the archive writer.
//!
//! Run: `cargo run --release --example stream_archive -- N DURATION_MS OUT_DIR [f32]`
//! e.g. `... -- 10000 1000 /tmp/arch` (then `/usr/bin/time -v` for the peak memory).

use neurorec::archive::{ArchiveOptions, ValueStorage};
use neurorec::run::record_to_archive;
use neurorec::schedule::{on_set, Action};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use neurorec::{MonitorSpec, Monitors};
use std::path::Path;

// The population of the archive benchmarks (only `network` is used here).
#[allow(dead_code)]
#[path = "../benches/common/mod.rs"]
mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As the `neurorec` binary does.
    neurorec::alloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: stream_archive N DURATION_MS OUT_DIR [f32]";
    let n: usize = args.get(1).ok_or(usage)?.parse()?;
    let duration: f64 = args.get(2).ok_or(usage)?.parse()?;
    let out = args.get(3).ok_or(usage)?;
    let storage = if args.get(4).map(String::as_str) == Some("f32") {
        ValueStorage::F32
    } else {
        ValueStorage::F64
    };
    // Every neuron its own input and start, as the archive benchmarks use.
    let mut net = common::network(n);
    let specs = MonitorSpec::parse_dict(&[("pop", &["v", "spike"])])?;
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    let mut options = ArchiveOptions {
        storage,
        overwrite: true,
        ..Default::default()
    };
    if let Some(b) = env("BATCH_ROWS") {
        options.batch_rows = b;
    }
    if let Some(r) = env("ROW_GROUP_ROWS") {
        options.row_group_rows = r;
    }
    if env("NO_SYNC").is_some() {
        options.sync = false;
    }
    if env("NO_STATS").is_some() {
        options.step_statistics = false;
    }
    let actions = [
        Action::Start { compartments: None },
        Action::Simulate { ms: duration },
    ];
    let mut times = None;
    let started = std::time::Instant::now();
    let manifest = record_to_archive(
        &mut net,
        &specs,
        &actions,
        Path::new(out),
        options,
        on_set(|_: &mut Monitors<_>, t| times = Some(t)),
    )?;
    let times = times.ok_or("nothing was recorded")?;
    let secs = started.elapsed().as_secs_f64();
    let bytes: u64 = manifest
        .chunks
        .iter()
        .flat_map(|c| &c.files)
        .map(|f| f.bytes)
        .sum();
    let rows: u64 = manifest
        .chunks
        .iter()
        .flat_map(|c| &c.files)
        .map(|f| f.rows)
        .sum();
    let samples = times.chunks[0].compartments[0].samples() as f64;
    let raw = samples * n as f64 * 8.0;
    println!(
        "N={n} {duration} ms: {secs:.2} s, {rows} rows, archive {:.1} MB = {:.2}x raw values ({:.1} MB), {:.0} MB/s written",
        bytes as f64 / 1e6,
        bytes as f64 / raw,
        raw / 1e6,
        bytes as f64 / 1e6 / secs
    );
    Ok(())
}
