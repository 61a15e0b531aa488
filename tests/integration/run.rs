//! The run path the binary uses: random schedules written as pipelines, run through
//! `cli::execute` (and through `run::run_single` with an observer that slices every
//! `simulate`), give archives that validate and whose recording times equal a memory sink's.

use std::ops::ControlFlow;
use std::path::Path;

use neurorec::archive::{validate, Archive, ArchiveWriter};
use neurorec::cli::{execute, Command};
use neurorec::pipeline::Pipeline;
use neurorec::run::{run_single, RunOptions};
use neurorec::schedule::{on_set, record, Action, Observer, Progress};
use neurorec::{MemorySink, Monitors, RecordingTimes};
use proptest::prelude::*;

use crate::common::{neurorec, run_and_validate};

const HEAD: &str = r#"dt = 0.1
[populations.a]
size = 2
parameters = { I_app = [0.0, 60.0] }
[populations.b]
size = 3
parameters = { I_app = 40.0 }
[populations.c]
size = 1
parameters = { I_app = 100.0 }
"#;

/// The property tests' actions, with more very short `simulate`s (a stretch that records
/// nothing when the sampling period is longer).
fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        11 => crate::properties::action(),
        2 => (0u32..4).prop_map(|steps| Action::Simulate { ms: steps as f64 * 0.1 }),
    ]
}

/// One `[[schedule]]` entry in pipeline syntax.
fn entry(action: &Action) -> String {
    let list = |c: &Option<Vec<String>>| match c {
        None => "\"all\"".to_string(),
        Some(names) => format!(
            "[{}]",
            names
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let body = match action {
        Action::Simulate { ms } => format!("simulate = {ms:?}"),
        Action::Start { compartments } => format!("start = {}", list(compartments)),
        Action::Pause { compartments } => format!("pause = {}", list(compartments)),
        Action::Reset { model, parameters } => {
            format!("reset = {{ model = {model}, parameters = {parameters} }}")
        }
        Action::GetRecordingsAndClear => "get_recordings_and_clear = true".to_string(),
        Action::SetParameter {
            population,
            parameter,
            value,
        } => {
            let neurorec::schedule::ParamValueDef::Scalar(x) = value else {
                unreachable!("scalar values only")
            };
            format!("set_parameter = {{ population = \"{population}\", parameter = \"{parameter}\", value = {x:?} }}")
        }
    };
    format!("[[schedule]]\n{body}\n")
}

/// A pipeline file monitoring `a` every `periods.0` steps with its spikes, `b` every
/// `periods.1` steps (no spikes, so a short stretch can record nothing) and `c`'s spikes.
fn pipeline_text(actions: &[Action], periods: (i64, i64)) -> String {
    let mut text = format!(
        "{HEAD}[monitors]\n\"a;{}\" = [\"v\", \"spike\"]\n\"b;{}\" = [\"v\", \"u\", \"I_v\"]\nc = [\"spike\"]\n",
        periods.0 as f64 * 0.1,
        periods.1 as f64 * 0.1
    );
    for a in actions {
        text.push_str(&entry(a));
    }
    text
}

/// Every set's recording times of the pipeline run into memory.
fn memory_times(pipeline: &Pipeline) -> Vec<RecordingTimes> {
    let mut net = pipeline.network(&[]).unwrap();
    let mut sets = Vec::new();
    record(
        &mut net,
        &pipeline.monitors,
        MemorySink::new(),
        &pipeline.schedule,
        on_set(|_: &mut Monitors<MemorySink>, times| sets.push(times)),
    )
    .unwrap();
    sets
}

/// The archive validates, has no unfinished chunk, and holds exactly `sets`' times.
fn assert_archive_matches(dir: &Path, sets: &[RecordingTimes]) -> Result<(), TestCaseError> {
    let archive = Archive::open(dir).unwrap();
    let problems = validate(&archive);
    prop_assert!(problems.is_empty(), "{problems:?}");
    prop_assert!(archive.unfinished().is_empty());
    let kept: Vec<&RecordingTimes> = sets.iter().filter(|t| t.nr_chunks() > 0).collect();
    let archived = archive.sets(0);
    prop_assert_eq!(archived.len(), sets.len(), "sets in the archive");
    for (s, times) in sets.iter().enumerate() {
        prop_assert_eq!(
            &archive.recording_times(0, s as u32).unwrap(),
            times,
            "set {}",
            s
        );
    }
    prop_assert!(kept.len() <= sets.len());
    Ok(())
}

/// Cuts every `simulate` into slices of `steps` and asks for progress after each.
struct Slicing {
    steps: i64,
    calls: usize,
    last: Option<Progress>,
}

impl Observer<ArchiveWriter> for Slicing {
    fn progress_every(&self) -> Option<i64> {
        Some(self.steps)
    }
    fn progress(&mut self, _: &Monitors<ArchiveWriter>, p: Progress) -> ControlFlow<()> {
        self.calls += 1;
        self.last = Some(p);
        ControlFlow::Continue(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_binary_path_writes_archives_that_validate_with_memory_times(
        actions in prop::collection::vec(action(), 1..30),
        period_a in 1i64..5,
        period_b in 2i64..6,
        slice in 1i64..7,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, pipeline_text(&actions, (period_a, period_b))).unwrap();
        let pipeline = Pipeline::load(&path).unwrap();
        prop_assert_eq!(&pipeline.schedule, &actions);
        let sets = memory_times(&pipeline);

        let out = dir.path().join("cli");
        execute(Command::Run {
            pipeline: path.clone(),
            out: Some(out.clone()),
            force: false,
            dry_run: false,
            f32: false,
            quiet: true,
            shard: None,
            jobs: None,
            ignore_space: false,
        })
        .unwrap();
        assert_archive_matches(&out, &sets)?;

        // The progress path: the same schedule in slices of a few steps.
        let sliced = dir.path().join("sliced");
        let mut observer = Slicing { steps: slice, calls: 0, last: None };
        run_single(&pipeline, &sliced, &RunOptions::default(), &mut observer).unwrap();
        assert_archive_matches(&sliced, &sets)?;
        let last = observer.last.unwrap();
        prop_assert!(last.finished && last.done_ms == last.total_ms);
    }
}

/// The pipeline of the bug report: a start right after the last `simulate` but one, so the
/// run ends in a chunk that recorded nothing. Run through the binary, it validates.
#[test]
fn a_run_ending_right_after_a_start_validates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "dt = 0.1\n[populations.p]\nsize = 4\n[monitors]\n\"p;1\" = [\"v\"]\n[[schedule]]\nsimulate = 0.1\n[[schedule]]\nstart = \"all\"\n[[schedule]]\nsimulate = 0.1\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    run_and_validate(&path, &out);
    let inspect = neurorec().arg("inspect").arg(&out).assert().success();
    let text = String::from_utf8(inspect.get_output().stdout.clone()).unwrap();
    assert!(!text.contains("UNFINISHED"), "{text}");
}

/// An observer can stop a run between slices; the chunk being written is then left
/// unfinished, never reported complete.
#[test]
fn a_cancelled_run_leaves_its_chunk_unfinished() {
    struct Stop;
    impl Observer<ArchiveWriter> for Stop {
        fn progress_every(&self) -> Option<i64> {
            Some(10)
        }
        fn progress(&mut self, _: &Monitors<ArchiveWriter>, p: Progress) -> ControlFlow<()> {
            if p.done_ms >= 2.0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "dt = 0.1\n[populations.p]\nsize = 4\n[monitors]\np = [\"v\"]\n[[schedule]]\nstart = \"all\"\n[[schedule]]\nsimulate = 5\n",
    )
    .unwrap();
    let pipeline = Pipeline::load(&path).unwrap();
    let out = dir.path().join("out");
    let err = run_single(&pipeline, &out, &RunOptions::default(), Stop).unwrap_err();
    assert!(
        err.to_string().contains("cancelled after 2 of 5 ms"),
        "{err}"
    );
    let archive = Archive::open(&out).unwrap();
    assert_eq!(archive.unfinished().len(), 1);
}
