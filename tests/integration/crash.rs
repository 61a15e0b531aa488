//! Crash safety: a child process writing an archive is killed at several points (between
//! batches, after a file is written but before its rename, after the rename but before the
//! journal records it, after a journal line, while the manifest is replaced, and by SIGKILL at random moments). The
//! archive it leaves reads back exactly for every completed chunk and reports the
//! unfinished one.

use std::process::Command;
use std::time::Duration;

use neurorec::archive::{Archive, ArchiveOptions, ChunkRef};
use neurorec::schedule::Action;
use neurorec::{Network, NeuronModel, PopulationSpec};

use crate::archive::run_both;

const CHILD_DIR: &str = "NEUROREC_CRASH_CHILD_DIR";
const DICT: &[(&str, &[&str])] = &[("pop", &["v", "spike"])];

fn network() -> Network {
    let mut net = Network::new(0.1).unwrap();
    let i_app: Vec<f64> = (0..200).map(|i| i as f64 * 0.5).collect();
    net.add_population(
        PopulationSpec::new("pop", 200, NeuronModel::Izhikevich2007).with_parameter("I_app", i_app),
    )
    .unwrap();
    net
}

/// Many chunks: 40 x (simulate 20 ms, reset without model), then the set ends.
fn schedule() -> Vec<Action> {
    let mut actions = vec![Action::Start { compartments: None }];
    for _ in 0..40 {
        actions.push(Action::Simulate { ms: 20.0 });
        actions.push(Action::Reset {
            model: false,
            parameters: true,
        });
    }
    actions.push(Action::GetRecordingsAndClear);
    actions
}

fn options() -> ArchiveOptions {
    ArchiveOptions {
        batch_rows: 5000,
        row_group_rows: 20_000,
        ..Default::default()
    }
}

/// Runs in the child process only: writes the archive until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let mut net = network();
    run_both(
        &mut net,
        DICT,
        &schedule(),
        std::path::Path::new(&dir),
        options(),
    );
}

fn spawn_child(dir: &std::path::Path, crash_at: Option<&str>) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "crash::crash_child",
        "--exact",
        "--test-threads=1",
        "--nocapture",
    ])
    .env(CHILD_DIR, dir)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    if let Some(point) = crash_at {
        cmd.env("NEUROREC_CRASH_AT", point);
    }
    cmd.spawn().unwrap()
}

/// Checks what a killed child left behind against a run in memory.
fn check_leftovers(dir: &std::path::Path, expect_unfinished: bool) -> usize {
    let archive = match Archive::open(dir) {
        Ok(a) => a,
        // Killed before the first manifest was in place: nothing to read, said clearly.
        Err(e) => {
            assert!(e.to_string().contains("manifest.json"), "{e}");
            return 0;
        }
    };
    let mut net = network();
    let reference = crate::common::run_in_memory(&mut net, DICT, &schedule());
    let (recordings, times) = &reference[0];
    let complete = archive.chunks(0, 0);
    let rebuilt = archive.recording_times(0, 0).unwrap();
    for (i, entry) in complete.iter().enumerate() {
        assert_eq!(entry.chunk as usize, i, "complete chunks are a prefix");
        assert_eq!(rebuilt.chunks[i], times.chunks[i]);
        let at = ChunkRef {
            run: 0,
            set: 0,
            chunk: entry.chunk,
        };
        let (_, v) = archive.read_state(at, "pop", "v", None).unwrap();
        assert_eq!(&v, recordings[i].get("pop;v").unwrap());
        assert_eq!(
            &archive.read_spikes(at, "pop", None).unwrap()[..],
            recordings[i].spikes("pop").unwrap()
        );
        for f in &entry.files {
            // A chunk completed just before the kill may still be staged (repair moves it).
            let bytes = std::fs::read(archive.path_of(&f.path).unwrap()).unwrap();
            assert_eq!(format!("{:08x}", crc32(&bytes)), f.crc32, "{}", f.path);
        }
    }
    if expect_unfinished {
        assert!(complete.len() < 40, "the child was stopped early");
        let unfinished = archive.unfinished();
        assert!(unfinished.len() <= 1);
        for u in unfinished {
            let at = ChunkRef {
                run: 0,
                set: 0,
                chunk: u.chunk,
            };
            let err = archive.read_state(at, "pop", "v", None).unwrap_err();
            assert!(err.to_string().contains("unfinished"), "{err}");
        }
    }
    complete.len()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(bytes);
    h.finalize()
}

#[test]
fn killed_at_chosen_points_leaves_a_readable_archive() {
    for point in [
        "batch:7",
        "file_written:3",
        "file_renamed:4",
        "journal_written:9",
        "journal_written:10",
        "manifest_written:1",
        "manifest_written:2",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let status = spawn_child(dir.path(), Some(point)).wait().unwrap();
        assert!(!status.success(), "{point}: the child should have crashed");
        check_leftovers(dir.path(), true);
    }
}

#[test]
fn killed_at_random_moments_leaves_a_readable_archive() {
    let mut seen_complete = Vec::new();
    for delay_ms in [30u64, 120, 250, 400] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = spawn_child(dir.path(), None);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let finished = status.success();
        seen_complete.push(check_leftovers(dir.path(), !finished));
    }
    // The kills landed at different moments of the run.
    assert!(seen_complete.iter().any(|n| *n > 0), "{seen_complete:?}");
}
