//! The archive: the seed written through Parquet and read back equals the memory sink.

use neurorec::archive::{Archive, ArchiveOptions, ArchiveWriter, ChunkRef};
use neurorec::schedule::{on_set, record, run_schedule, seed_schedule, Action};
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
    let mut sets = Vec::new();
    record(
        net,
        &specs,
        (MemorySink::new(), writer),
        actions,
        on_set(|m: &mut Monitors<(MemorySink, ArchiveWriter)>, times| {
            sets.push((m.sink_mut().0.take_finished(), times))
        }),
    )
    .unwrap();
    sets
}

/// The seed schedule run into memory and into an archive in a fresh temporary directory.
pub fn seed_archive(
    options: ArchiveOptions,
) -> (
    tempfile::TempDir,
    Vec<(Vec<ChunkRecordings>, RecordingTimes)>,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut net = seed_network();
    let sets = run_both(&mut net, SEED_DICT, &seed_schedule(), dir.path(), options);
    (dir, sets)
}

/// Asserts that the archive holds exactly what memory recorded, for run 0.
pub fn assert_archive_equals(
    dir: &std::path::Path,
    sets: &[(Vec<ChunkRecordings>, RecordingTimes)],
) {
    let archive = Archive::open(dir).unwrap();
    assert!(archive.unfinished().is_empty());
    // Sizes, checksums, footers and period tables of every file (parts included).
    let problems = neurorec::archive::validate(&archive);
    assert!(problems.is_empty(), "{problems:?}");
    for (s, (recordings, times)) in sets.iter().enumerate() {
        let s = s as u32;
        let rebuilt = archive.recording_times(0, s).unwrap();
        assert_eq!(&rebuilt, times, "times of set {s}");
        let from_footers = archive.recording_times_from_footers(0, s).unwrap();
        assert_eq!(&from_footers, times, "times of set {s} from footers");
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
    let (dir, sets) = seed_archive(ArchiveOptions::default());
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

fn small_options() -> ArchiveOptions {
    ArchiveOptions {
        batch_rows: 7,
        row_group_rows: 20,
        part_rows: 50,
        sync: false,
        ..Default::default()
    }
}

#[test]
fn a_start_without_simulated_time_leaves_no_unfinished_chunk() {
    // Found by the property test below: start, simulate 0 ms, end.
    let mut net = Network::new(0.1).unwrap();
    net.add_population(
        neurorec::PopulationSpec::new("a", 3, neurorec::NeuronModel::Izhikevich2007)
            .with_parameter("I_app", vec![0.0, 60.0, 200.0]),
    )
    .unwrap();
    net.add_population(
        neurorec::PopulationSpec::new("b", 2, neurorec::NeuronModel::Izhikevich2007)
            .with_parameter("I_app", 100.0),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = ArchiveOptions {
        batch_rows: 1,
        row_group_rows: 1,
        part_rows: 1,
        sync: false,
        ..Default::default()
    };
    let dict: &[(&str, &[&str])] = &[("a;0.3", &["v", "u", "spike"]), ("b", &["spike", "I_v"])];
    let actions = [
        Action::Start { compartments: None },
        Action::Simulate { ms: 0.0 },
    ];
    let sets = run_both(&mut net, dict, &actions, dir.path(), options);
    assert_archive_equals(dir.path(), &sets);
}

#[test]
fn files_written_back_early_read_back_exactly_and_validate() {
    // fsync on, and a background writeback after every KiB: many syncs overlap writing.
    let dir = tempfile::tempdir().unwrap();
    let mut net = seed_network();
    let options = ArchiveOptions {
        batch_rows: 64,
        row_group_rows: 256,
        sync: true,
        writeback_bytes: 1024,
        ..Default::default()
    };
    let sets = run_both(&mut net, SEED_DICT, &seed_schedule(), dir.path(), options);
    assert_archive_equals(dir.path(), &sets);
    let archive = Archive::open(dir.path()).unwrap();
    let problems = neurorec::archive::validate(&archive);
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn small_batches_row_groups_and_parts_read_back_exactly() {
    let (dir, sets) = seed_archive(small_options());
    assert_archive_equals(dir.path(), &sets);
    // my_pop2 chunk 1 of set 0 has 7000 rows: a part rolls over once it holds 50 rows,
    // at the end of a batch of 7.
    let archive = Archive::open(dir.path()).unwrap();
    let entry = archive.chunks(0, 0)[1];
    let parts: Vec<_> = entry
        .files
        .iter()
        .filter(|f| f.compartment == "my_pop2")
        .collect();
    assert_eq!(parts.len(), 125);
    assert!(parts.iter().all(|f| f.rows >= 50 && f.rows < 57));
    assert_eq!(parts.iter().map(|f| f.rows).sum::<u64>(), 7000);
    // A time window skips row groups by their statistics.
    let before = archive.read_stats().data_bytes;
    let at = ChunkRef {
        run: 0,
        set: 0,
        chunk: 1,
    };
    let (steps, _) = archive
        .read_state(at, "my_pop2", "v", Some((900.0, 900.5)))
        .unwrap();
    assert_eq!(steps, vec![9000, 9001, 9002, 9003, 9004, 9005]);
    let read = archive.read_stats().data_bytes - before;
    let total: u64 = parts.iter().map(|f| f.bytes).sum();
    assert!(
        read * 20 < total,
        "a 0.5 ms window read {read} of {total} bytes"
    );
}

#[test]
fn recording_times_come_from_footers_alone() {
    let (dir, sets) = seed_archive(ArchiveOptions {
        sync: false,
        ..Default::default()
    });
    // Overwrite every data page (everything between the magic and the footer) with garbage.
    let archive = Archive::open(dir.path()).unwrap();
    for chunk in &archive.manifest().chunks {
        for f in &chunk.files {
            let path = dir.path().join(&f.path);
            let mut bytes = std::fs::read(&path).unwrap();
            let len = bytes.len();
            let footer = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap()) as usize;
            for b in &mut bytes[4..len - 8 - footer] {
                *b = 0xA5;
            }
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let archive = Archive::open(dir.path()).unwrap();
    for (s, (_, times)) in sets.iter().enumerate() {
        assert_eq!(
            &archive.recording_times_from_footers(0, s as u32).unwrap(),
            times
        );
        assert_eq!(&archive.recording_times(0, s as u32).unwrap(), times);
    }
    assert_eq!(archive.read_stats().data_bytes, 0);
    assert!(archive.read_stats().footer_bytes > 0);
    // Reading data now fails with an error naming the file, not a panic.
    let err = archive
        .read_state(
            ChunkRef {
                run: 0,
                set: 0,
                chunk: 0,
            },
            "my_pop2",
            "v",
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("my_pop2"), "{err}");
}

#[test]
fn an_existing_archive_is_never_overwritten_silently() {
    let dir = tempfile::tempdir().unwrap();
    let names = vec!["my_pop1".to_string()];
    ArchiveWriter::create(dir.path(), 0.1, names.clone(), ArchiveOptions::default())
        .unwrap()
        .finish()
        .unwrap();
    let err = ArchiveWriter::create(dir.path(), 0.1, names.clone(), ArchiveOptions::default())
        .unwrap_err();
    assert!(
        matches!(err, neurorec::ArchiveError::Exists { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("already holds an archive"));
    let overwrite = ArchiveOptions {
        overwrite: true,
        ..Default::default()
    };
    ArchiveWriter::create(dir.path(), 0.1, names, overwrite)
        .unwrap()
        .finish()
        .unwrap();
    let err = Archive::open(dir.path().join("nothing")).unwrap_err();
    assert!(err.to_string().contains("manifest.json"), "{err}");
}

#[test]
fn an_io_error_is_reported_and_earlier_chunks_stay_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = seed_network();
    let specs = MonitorSpec::parse_dict(SEED_DICT).unwrap();
    let names = specs.iter().map(|s| s.compartment.clone()).collect();
    let writer = ArchiveWriter::create(dir.path(), 0.1, names, ArchiveOptions::default()).unwrap();
    // A regular file where chunk 1's files are written (in the staging directory, where
    // nothing else may be: it is put there after the writer started) makes them fail to
    // open.
    let blocker = dir
        .path()
        .join(".neurorec-staging/my_pop2/state/run=0/set=0/chunk=1");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, b"in the way").unwrap();
    let mut mon = Monitors::with_sink(&net, &specs, writer).unwrap();
    let mut sets = 0;
    let result = run_schedule(
        &mut net,
        &mut mon,
        &seed_schedule(),
        on_set(|_, _| sets += 1),
    );
    let err = result.unwrap_err();
    assert!(err.to_string().contains("chunk=1"), "{err}");
    drop(mon);
    let archive = Archive::open(dir.path()).unwrap();
    assert_eq!(archive.chunks(0, 0).len(), 1, "chunk 0 is complete");
    assert_eq!(
        archive.unfinished().len(),
        1,
        "chunk 1 is reported unfinished"
    );
    let (_, v) = archive
        .read_state(
            ChunkRef {
                run: 0,
                set: 0,
                chunk: 0,
            },
            "my_pop2",
            "v",
            None,
        )
        .unwrap();
    assert_eq!(v.dim(), (4000, 1));
    let err = archive
        .read_state(
            ChunkRef {
                run: 0,
                set: 0,
                chunk: 1,
            },
            "my_pop2",
            "v",
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("unfinished"), "{err}");
}

#[test]
fn real_readers_load_the_archive() {
    let python = crate::common::python();
    let (dir, _) = seed_archive(small_options());
    let wide = tempfile::tempdir().unwrap();
    wide_archive(wide.path());
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_readers.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir.path())
        .arg(wide.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

mod property {
    use super::*;
    use proptest::prelude::*;

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            4 => (0u32..40).prop_map(|steps| Action::Simulate { ms: steps as f64 * 0.1 }),
            2 => prop_oneof![Just(None), Just(Some(vec!["a".to_string()]))].prop_map(|compartments| Action::Start { compartments }),
            2 => prop_oneof![Just(None), Just(Some(vec!["b".to_string()]))].prop_map(|compartments| Action::Pause { compartments }),
            1 => any::<bool>().prop_map(|model| Action::Reset { model, parameters: true }),
            1 => Just(Action::GetRecordingsAndClear),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn rows_in_equal_rows_out(
            actions in prop::collection::vec(action(), 1..25),
            batch_rows in 1usize..40,
            row_group_rows in 1usize..100,
            part_rows in 1u64..200,
        ) {
            let mut net = Network::new(0.1).unwrap();
            net.add_population(neurorec::PopulationSpec::new("a", 3, neurorec::NeuronModel::Izhikevich2007)
                .with_parameter("I_app", vec![0.0, 60.0, 200.0])).unwrap();
            net.add_population(neurorec::PopulationSpec::new("b", 2, neurorec::NeuronModel::Izhikevich2007)
                .with_parameter("I_app", 100.0)).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let options = ArchiveOptions { batch_rows, row_group_rows, part_rows, sync: false, ..Default::default() };
            let dict: &[(&str, &[&str])] = &[("a;0.3", &["v", "u", "spike"]), ("b", &["spike", "I_v"])];
            let sets = run_both(&mut net, dict, &actions, dir.path(), options);
            assert_archive_equals(dir.path(), &sets);
            // Rows in the manifest == rows recorded.
            let archive = Archive::open(dir.path()).unwrap();
            let mut expected = 0u64;
            for (recordings, _) in &sets {
                for rec in recordings {
                    for comp in &rec.compartments {
                        if let Some((_, arr)) = comp.variables.first() {
                            expected += arr.len() as u64;
                        }
                        if let Some(spikes) = &comp.spikes {
                            expected += spikes.iter().map(|s| s.len() as u64).sum::<u64>();
                        }
                    }
                }
            }
            let rows: u64 = archive.manifest().chunks.iter().flat_map(|c| &c.files).map(|f| f.rows).sum();
            prop_assert_eq!(rows, expected);
        }
    }
}

/// A 20-neuron population recorded every 2 steps over several periods and chunks, in small
/// batches and row groups: what `state_columns_follow_the_samples` and the Python readers
/// check.
fn wide_archive(dir: &std::path::Path) -> Vec<(Vec<ChunkRecordings>, RecordingTimes)> {
    let mut net = Network::new(0.1).unwrap();
    net.add_population(
        neurorec::PopulationSpec::new("wide", 20, neurorec::NeuronModel::Izhikevich2007)
            .with_parameter("I_app", (0..20).map(|i| 5.0 * i as f64).collect::<Vec<_>>()),
    )
    .unwrap();
    let sim = |ms| Action::Simulate { ms };
    let all = || None;
    let actions = vec![
        sim(1.0),
        Action::Start {
            compartments: all(),
        },
        sim(3.3),
        Action::Pause {
            compartments: all(),
        },
        sim(0.7),
        Action::Start {
            compartments: all(),
        },
        sim(5.0),
        Action::Reset {
            model: false,
            parameters: false,
        },
        sim(2.1),
        Action::GetRecordingsAndClear,
        Action::Start {
            compartments: all(),
        },
        sim(4.0),
    ];
    let options = ArchiveOptions {
        batch_rows: 45,
        row_group_rows: 130,
        part_rows: 600,
        sync: false,
        ..Default::default()
    };
    let dict: &[(&str, &[&str])] = &[("wide;0.2", &["v", "u", "spike"])];
    run_both(&mut net, dict, &actions, dir, options)
}

#[test]
fn state_columns_follow_the_samples() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, UInt32Type};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let dir = tempfile::tempdir().unwrap();
    let sets = wide_archive(dir.path());
    assert_archive_equals(dir.path(), &sets);
    let archive = Archive::open(dir.path()).unwrap();
    assert!(neurorec::archive::validate(&archive).is_empty());
    let mut checked_rows = 0;
    for (s, (_, times)) in sets.iter().enumerate() {
        for (c, chunk) in archive.chunks(0, s as u32).iter().enumerate() {
            let comp = times.chunks[c].compartment("wide").unwrap();
            // Expected rows: for each sample, neurons 0..20 with its period, step and time.
            let mut expected = Vec::new();
            for (j, &(s0, s1)) in comp.pairs.iter().enumerate() {
                let (first, _, count) = neurorec::times::pair_samples(s0, s1, comp.period_steps);
                for k in 0..count {
                    let step = first + k * comp.period_steps;
                    for n in 0..20u32 {
                        expected.push((j as u32, step, format!("{:.1}", step as f64 * 0.1), n));
                    }
                }
            }
            let mut got = Vec::new();
            let mut parts: Vec<_> = chunk
                .files
                .iter()
                .filter(|f| f.path.contains("/state/"))
                .collect();
            parts.sort_by_key(|f| f.part);
            assert!(parts.len() > 1 || expected.len() <= 600);
            for f in parts {
                let file = std::fs::File::open(dir.path().join(&f.path)).unwrap();
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
                for batch in reader {
                    let b = batch.unwrap();
                    let p = b.column(0).as_primitive::<UInt32Type>();
                    let st = b.column(1).as_primitive::<Int64Type>();
                    let t = b.column(2).as_primitive::<Float64Type>();
                    let n = b.column(3).as_primitive::<UInt32Type>();
                    for i in 0..b.num_rows() {
                        got.push((
                            p.value(i),
                            st.value(i),
                            format!("{:.1}", t.value(i)),
                            n.value(i),
                        ));
                    }
                }
            }
            assert_eq!(got, expected, "set {s} chunk {c}");
            checked_rows += got.len();
        }
    }
    assert!(checked_rows > 1000, "{checked_rows}");
}

#[test]
fn an_invalid_zstd_level_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let options = ArchiveOptions {
        zstd_level: 100,
        ..Default::default()
    };
    let err =
        ArchiveWriter::create(dir.path().join("a"), 0.1, vec!["p".into()], options).unwrap_err();
    assert!(err.to_string().contains("zstd_level 100"), "{err}");
    assert!(!dir.path().join("a").exists());
}

#[test]
fn f32_storage_reads_back_as_the_rounded_values() {
    let dir = tempfile::tempdir().unwrap();
    let options = ArchiveOptions {
        storage: neurorec::archive::ValueStorage::F32,
        batch_rows: 45,
        row_group_rows: 130,
        sync: false,
        ..Default::default()
    };
    let mut net = Network::new(0.1).unwrap();
    net.add_population(
        neurorec::PopulationSpec::new("wide", 20, neurorec::NeuronModel::Izhikevich2007)
            .with_parameter("I_app", (0..20).map(|i| 5.0 * i as f64).collect::<Vec<_>>()),
    )
    .unwrap();
    let actions = vec![
        Action::Start { compartments: None },
        Action::Simulate { ms: 30.0 },
    ];
    let dict: &[(&str, &[&str])] = &[("wide", &["v", "u", "spike"])];
    let sets = run_both(&mut net, dict, &actions, dir.path(), options);
    let archive = Archive::open(dir.path()).unwrap();
    assert!(neurorec::archive::validate(&archive).is_empty());
    let loaded = archive.recordings(0, 0).unwrap();
    let (recordings, _) = &sets[0];
    let mut compared = 0;
    for (a, b) in loaded.iter().zip(recordings) {
        let (got, want) = (
            a.compartment("wide").unwrap(),
            b.compartment("wide").unwrap(),
        );
        for (v, arr) in &want.variables {
            let rounded = arr.mapv(|x| x as f32 as f64);
            assert_eq!(got.variable(v).unwrap(), &rounded, "{v}");
            assert_ne!(got.variable(v).unwrap(), arr, "{v} was stored rounded");
            compared += arr.len();
        }
        assert_eq!(got.spikes, want.spikes);
    }
    assert_eq!(compared, 2 * 300 * 20);
}

#[test]
fn the_span_of_a_dropped_chunk_survives_the_archive() {
    let sim = |ms| Action::Simulate { ms };
    let reset = Action::Reset {
        model: true,
        parameters: true,
    };
    let actions = [
        Action::Start { compartments: None },
        sim(10.0),
        Action::Pause { compartments: None },
        reset.clone(),
        sim(5.0),
        reset,
        Action::Start { compartments: None },
        sim(10.0),
        Action::GetRecordingsAndClear,
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut net = seed_network();
    let sets = run_both(
        &mut net,
        &[("my_pop2", &["v"])],
        &actions,
        dir.path(),
        small_options(),
    );
    assert_eq!(sets[0].1.chunks[1].skipped_steps, 50);
    assert_archive_equals(dir.path(), &sets);
    let inspect = crate::common::neurorec()
        .arg("inspect")
        .arg(dir.path())
        .assert()
        .success();
    let text = String::from_utf8(inspect.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains(
            "chunk 1: complete, steps 0..100 (after 50 steps simulated in dropped empty chunks)"
        ),
        "{text}"
    );
}

#[test]
fn damaged_step_ranges_in_the_manifest_are_errors_not_panics() {
    let (dir, sets) = seed_archive(small_options());
    assert!(!sets.is_empty());
    let path = dir.path().join("manifest.json");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let damages: [(&str, serde_json::Value); 4] = [
        ("/chunks/0/periods/0/period_steps", serde_json::json!(0)),
        ("/chunks/0/periods/0/pairs/0/1", serde_json::json!(i64::MAX)),
        ("/chunks/0/skipped_steps", serde_json::json!(i64::MAX)),
        ("/chunks/0/end_step", serde_json::json!(-5)),
    ];
    for (pointer, value) in damages {
        let mut damaged = original.clone();
        match damaged.pointer_mut(pointer) {
            Some(slot) => *slot = value,
            None => {
                // skipped_steps is left out when 0: add it.
                damaged["chunks"][0]["skipped_steps"] = value;
            }
        }
        std::fs::write(&path, serde_json::to_string(&damaged).unwrap()).unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        let err = archive.recording_times(0, 0).unwrap_err();
        assert!(
            err.to_string().contains("run 0 set 0 chunk 0") && err.to_string().contains("validate"),
            "{pointer}: {err}"
        );
    }
}
