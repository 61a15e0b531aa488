//! The archive: the seed written through Parquet and read back equals the memory sink.

use neurorec::archive::{Archive, ArchiveOptions, ArchiveWriter, ChunkRef};
use neurorec::schedule::{run_schedule, seed_schedule, Action};
use neurorec::{ChunkRecordings, MemorySink, MonitorSpec, Monitors, Network, RecordingTimes};

use crate::common::seed_network;

pub const SEED_DICT: &[(&str, &[&str])] = &[("my_pop1;2", &["v", "spike"]), ("my_pop2", &["v"])];

/// Runs a schedule into memory and an archive at once; returns what memory got.
pub fn run_both(
    net: &mut Network,
    dict: &[(&str, &[&str])],
    actions: &[Action],
    dir: &std::path::Path,
    options: ArchiveOptions,
) -> Vec<(Vec<ChunkRecordings>, RecordingTimes)> {
    let specs = MonitorSpec::parse_dict(dict).unwrap();
    let names = specs.iter().map(|s| s.compartment.clone()).collect();
    let writer = ArchiveWriter::create(dir, net.dt(), names, options).unwrap();
    let mut mon = Monitors::with_sink(net, &specs, (MemorySink::new(), writer)).unwrap();
    let mut sets = Vec::new();
    run_schedule(net, &mut mon, actions, |m, times| {
        sets.push((m.sink_mut().0.take_finished(), times))
    })
    .unwrap();
    let (_, writer) = mon.into_sink();
    writer.finish().unwrap();
    sets
}

/// Asserts that the archive holds exactly what memory recorded, for run 0.
pub fn assert_archive_equals(
    dir: &std::path::Path,
    sets: &[(Vec<ChunkRecordings>, RecordingTimes)],
) {
    let archive = Archive::open(dir).unwrap();
    assert!(archive.unfinished().is_empty());
    for (s, (recordings, times)) in sets.iter().enumerate() {
        let s = s as u32;
        let rebuilt = archive.recording_times(0, s).unwrap();
        assert_eq!(&rebuilt, times, "times of set {s}");
        let loaded = archive.recordings(0, s).unwrap();
        assert_eq!(loaded.len(), recordings.len());
        for (c, (a, b)) in loaded.iter().zip(recordings).enumerate() {
            for comp in &b.compartments {
                let got = a.compartment(&comp.name).unwrap();
                assert_eq!(got.period_ms, comp.period_ms);
                for (v, arr) in &comp.variables {
                    assert_eq!(
                        got.variable(v).unwrap(),
                        arr,
                        "set {s} chunk {c} {};{v}",
                        comp.name
                    );
                }
                assert_eq!(
                    got.spikes, comp.spikes,
                    "set {s} chunk {c} {} spikes",
                    comp.name
                );
                for (p, values) in &comp.parameters {
                    assert_eq!(got.parameter(p).unwrap(), &values[..], "parameter {p}");
                }
            }
        }
    }
}

#[test]
fn seed_through_the_archive_equals_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = seed_network();
    let sets = run_both(
        &mut net,
        SEED_DICT,
        &seed_schedule(),
        dir.path(),
        ArchiveOptions::default(),
    );
    assert_eq!(sets.len(), 3);
    assert_archive_equals(dir.path(), &sets);
    let archive = Archive::open(dir.path()).unwrap();
    // Spike at step 12 of set 1 chunk 1, also within a window.
    let at = ChunkRef {
        run: 0,
        set: 1,
        chunk: 1,
    };
    assert_eq!(
        archive.read_spikes(at, "my_pop1", None).unwrap(),
        vec![vec![12]]
    );
    assert_eq!(
        archive
            .read_spikes(at, "my_pop1", Some((1.3, 50.0)))
            .unwrap(),
        vec![Vec::<i64>::new()]
    );
    let (steps, v) = archive
        .read_state(at, "my_pop2", "v", Some((10.0, 19.95)))
        .unwrap();
    assert_eq!(steps.first(), Some(&100));
    assert_eq!(steps.last(), Some(&199));
    assert_eq!(v.dim(), (100, 1));
}
