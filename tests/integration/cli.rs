//! The command line: every subcommand, exit codes, and pipeline error messages (snapshots).

use std::path::Path;

use clap::CommandFactory;

use crate::common::{data, neurorec, pipeline, run_command};

#[test]
fn cli_definition_is_consistent() {
    neurorec::cli::Cli::command().debug_assert();
}

#[test]
fn run_prints_the_seed_block_rebuilt_from_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seed");
    let expected = std::fs::read_to_string(data("expected_info_block.txt")).unwrap();
    let assert = neurorec()
        .args(["run"])
        .arg(pipeline("monitor_recordings.toml"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(
        String::from_utf8(assert.get_output().stdout.clone()).unwrap(),
        expected
    );
    // An existing archive is refused without --force, kept intact, and replaced with it.
    let assert = run_command("monitor_recordings.toml", &out)
        .assert()
        .failure();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("--force"), "{stderr}");
    neurorec().args(["validate"]).arg(&out).assert().success();
    run_command("monitor_recordings.toml", &out)
        .args(["--force", "--quiet"])
        .assert()
        .success()
        .stdout("");

    // times: text equals the block; JSON has CompNeuroPy's structure per set.
    let text = neurorec().arg("times").arg(&out).assert().success();
    assert_eq!(
        String::from_utf8(text.get_output().stdout.clone()).unwrap(),
        expected
    );
    let json = neurorec()
        .arg("times")
        .arg(&out)
        .args(["--set", "1", "--json"])
        .assert()
        .success();
    let value: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("seed_reference.json")).unwrap())
            .unwrap();
    assert_eq!(value, reference["sets"][1]["times"]);
    let all = neurorec()
        .arg("times")
        .arg(&out)
        .arg("--json")
        .assert()
        .success();
    let value: serde_json::Value = serde_json::from_slice(&all.get_output().stdout).unwrap();
    assert_eq!(value["2"], reference["sets"][2]["times"]);
    neurorec()
        .arg("times")
        .arg(&out)
        .args(["--set", "7"])
        .assert()
        .failure();

    // inspect lists runs, sets, chunks and files.
    let inspect = neurorec().arg("inspect").arg(&out).assert().success();
    let text = String::from_utf8(inspect.get_output().stdout.clone()).unwrap();
    assert!(text.contains("run 0 set 2:"), "{text}");
    assert!(
        text.contains("my_pop1: 1 neurons, every 2 ms, records v, spike"),
        "{text}"
    );
    assert!(text.contains("chunk 2: complete"), "{text}");
    assert!(text.contains("run 0: complete"), "{text}");
    assert!(text.contains("figure figures/"), "{text}");

    // validate notices a damaged file and names it.
    let file = out.join("my_pop2/state/run=0/set=0/chunk=1/part-0.parquet");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let bad = neurorec().arg("validate").arg(&out).assert().failure();
    let text = String::from_utf8(bad.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("my_pop2/state/run=0/set=0/chunk=1/part-0.parquet: checksum"),
        "{text}"
    );
}

#[test]
fn dry_run_estimates_without_simulating() {
    let assert = neurorec()
        .arg("run")
        .arg(pipeline("monitor_recordings.toml"))
        .arg("--dry-run")
        .assert()
        .success();
    let text = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    // my_pop1: 200 + 350 + 350 + 50 + 50 + 50 samples; my_pop2: 21000.
    assert!(
        text.contains("my_pop1: 1050 state rows, ~2 spike rows"),
        "{text}"
    );
    assert!(
        text.contains("my_pop2: 21000 state rows, ~0 spike rows"),
        "{text}"
    );
}

#[test]
fn every_pipeline_in_the_repository_runs() {
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        neurorec()
            .arg("run")
            .arg(&path)
            .arg("--out")
            .arg(dir.path().join("out"))
            .arg("--quiet")
            .assert()
            .success();
        neurorec()
            .arg("validate")
            .arg(dir.path().join("out"))
            .assert()
            .success();
    }
}

#[test]
fn bad_arguments_and_archives_fail_clearly() {
    neurorec().assert().failure();
    neurorec().args(["run"]).assert().failure();
    let assert = neurorec()
        .args(["run", "no/such/pipeline.toml", "--out", "x"])
        .assert()
        .failure();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("cannot read the pipeline"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let assert = neurorec().arg("times").arg(dir.path()).assert().failure();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("not a neurorec archive"), "{stderr}");
    let assert = neurorec()
        .arg("run")
        .arg(pipeline("monitor_recordings.toml"))
        .assert()
        .failure();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("--out"), "{stderr}");
    let help = neurorec().args(["run", "--help"]).assert().success();
    let text = String::from_utf8(help.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("neurorec run pipelines/monitor_recordings.toml --out"),
        "{text}"
    );
}

/// The error for a pipeline whose text is `body` (written to `bad.toml`).
fn pipeline_error(body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, body).unwrap();
    let err = neurorec::pipeline::Pipeline::load(&path).unwrap_err();
    err.to_string()
        .replace(&path.display().to_string(), "bad.toml")
}

const HEAD: &str = "dt = 0.1\n[populations.p]\nsize = 2\nmodel = \"Izhikevich2007\"\n";

/// A user model's head (without its equations) and a population of it.
const LIF: &str = "dt = 0.1\n[neurons.LIF]\nparameters = \"\"\"\ntau = 20.0 : population\nEl = -60.0\nI = 20.0\n\"\"\"\nspike = \"v > -50\"\nreset = \"v = -60\"\n";
const LIF_POP: &str = "[populations.p]\nsize = 2\nmodel = \"LIF\"\nparameters = { I = 25.0 }\n[monitors]\np = [\"v\"]\n";

#[test]
fn pipeline_errors_name_place_and_fix() {
    let cases = [
        (
            "unknown_key",
            format!("{HEAD}colour = 3\n[monitors]\np = [\"v\"]\n"),
        ),
        (
            "wrong_type",
            format!("{HEAD}[monitors]\np = [\"v\"]\n[[schedule]]\nsimulate = \"long\"\n"),
        ),
        (
            "unknown_model",
            "[populations.p]\nsize = 2\nmodel = \"LIF\"\n[monitors]\np = [\"v\"]\n".to_string(),
        ),
        (
            "unknown_parameter",
            format!("{HEAD}parameters = {{ I_ap = 3 }}\n[monitors]\np = [\"v\"]\n"),
        ),
        (
            "unknown_compartment",
            format!("{HEAD}[monitors]\nq = [\"v\"]\n"),
        ),
        (
            "unknown_variable",
            format!("{HEAD}[monitors]\np = [\"w\"]\n"),
        ),
        (
            "period_not_multiple",
            format!("{HEAD}[monitors]\n\"p;0.15\" = [\"v\"]\n"),
        ),
        (
            "negative_duration",
            format!("{HEAD}[monitors]\np = [\"v\"]\n[[schedule]]\nsimulate = -5\n"),
        ),
        (
            "schedule_unknown_compartment",
            format!("{HEAD}[monitors]\np = [\"v\"]\n[[schedule]]\nstart = [\"q\"]\n"),
        ),
        (
            "per_neuron_length",
            format!("{HEAD}parameters = {{ I_app = [1, 2, 3] }}\n[monitors]\np = [\"v\"]\n"),
        ),
        (
            "sweep_unknown_parameter",
            format!("{HEAD}[monitors]\np = [\"v\"]\n[sweep]\n\"p.I_ap\" = [1, 2]\n"),
        ),
        (
            "plot_unknown_variable",
            format!("{HEAD}[monitors]\np = [\"v\", \"spike\"]\n[[plots]]\nfile = \"f.png\"\nshape = [1, 2]\nposition = [1, 2]\ncompartment = [\"p\", \"p\"]\nvariable = [\"v - u\", \"spike\"]\nformat = [\"line\", \"raster\"]\n"),
        ),
        (
            "plot_spike_in_expression",
            format!("{HEAD}[monitors]\np = [\"v\", \"spike\"]\n[[plots]]\nfile = \"f.png\"\nshape = [1, 1]\nposition = [1]\ncompartment = [\"p\"]\nvariable = [\"v * spike\"]\nformat = [\"line\"]\n"),
        ),
        (
            "plot_file_extension",
            format!("{HEAD}[monitors]\np = [\"v\"]\n[[plots]]\nfile = \"f.jpg\"\nshape = [1, 1]\nposition = [1]\ncompartment = [\"p\"]\nvariable = [\"v\"]\nformat = [\"line\"]\n"),
        ),
        (
            "two_actions",
            format!("{HEAD}[monitors]\np = [\"v\"]\n[[schedule]]\nsimulate = 5\nstart = \"all\"\n"),
        ),
        (
            "model_unknown_name_on_its_line",
            format!("{LIF}equations = \"\"\"\ntau * dv/dt = El - v + I\ndw/dt = -w / tauw + vv\n\"\"\"\n{LIF_POP}"),
        ),
        (
            "model_unbalanced_parenthesis",
            format!("{LIF}equations = \"tau * dv/dt = (El - v + I\"\n{LIF_POP}"),
        ),
        (
            "model_unknown_flag",
            format!("{LIF}equations = '''\ntau * dv/dt = El - v + I : init = -60, fast\n'''\n{LIF_POP}"),
        ),
        (
            "model_population_wide_parameter_per_neuron",
            format!("{LIF}equations = \"tau * dv/dt = El - v + I\"\n{LIF_POP}").replace("I = 25.0", "tau = [10.0, 20.0]"),
        ),
        (
            "initial_distribution_reversed",
            format!("{LIF}equations = \"tau * dv/dt = El - v + I\"\n{LIF_POP}").replace("I = 25.0 }", "I = 25.0 }\ninitial = { v = { uniform = [-50.0, -60.0] } }"),
        ),
    ];
    for (name, body) in cases {
        insta::assert_snapshot!(name, pipeline_error(&body));
    }
}

#[test]
fn sweeps_fill_one_archive_in_parallel_and_in_shards() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    run_command("current_sweep.toml", &full).assert().success();
    let sharded = dir.path().join("sharded");
    for k in 0..3 {
        run_command("current_sweep.toml", &sharded)
            .args(["--shard", &format!("{k}/3"), "--quiet"])
            .assert()
            .success();
    }
    for out in [&full, &sharded] {
        let archive = neurorec::Archive::open(out).unwrap();
        assert_eq!(archive.runs(), vec![0, 1, 2, 3]);
        neurorec().arg("validate").arg(out).assert().success();
    }
    // Sharded and in-process runs give the same data.
    for run in 0..4 {
        let a = neurorec::Archive::open(&full)
            .unwrap()
            .recordings(run, 0)
            .unwrap();
        let b = neurorec::Archive::open(&sharded)
            .unwrap()
            .recordings(run, 0)
            .unwrap();
        assert_eq!(a, b, "run {run}");
    }
    // runs.parquet joins with the spikes of all runs: the rate grows with the current.
    let runs = LazyFrame::scan_parquet(
        PlRefPath::from(full.join("runs.parquet").to_str().unwrap()),
        Default::default(),
    )
    .unwrap();
    let spikes = neurorec::analysis::scan(&full, "exc", neurorec::archive::Kind::Spikes).unwrap();
    let per_run = spikes
        .group_by([col("run")])
        .agg([len().alias("spikes")])
        .join(
            runs,
            [col("run")],
            [col("run").cast(DataType::Int64)],
            JoinArgs::new(JoinType::Inner),
        )
        .sort(["exc.I_app"], Default::default())
        .collect()
        .unwrap();
    let counts: Vec<u32> = per_run
        .column("spikes")
        .unwrap()
        .u32()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(counts.len(), 3, "I_app = 0 never fires: {per_run}");
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{per_run}");

    // One failing run is reported and does not lose the others.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(broken.join("exc/spikes")).unwrap();
    std::fs::write(broken.join("exc/spikes/run=2"), b"in the way").unwrap();
    let assert = run_command("current_sweep.toml", &broken)
        .assert()
        .failure();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("run 2 (exc.I_app=100) failed"), "{stderr}");
    assert!(stderr.contains("1 of 4 runs failed"), "{stderr}");
    let archive = neurorec::Archive::open(&broken).unwrap();
    for run in [0, 1, 3] {
        assert_eq!(archive.chunks(run, 0).len(), 1, "run {run} is complete");
    }
    let err = "3/3".parse::<neurorec::run::Shard>().unwrap_err();
    assert!(err.contains("0 <= K < N"), "{err}");
    // Through the binary: a failed command (exit 1) naming the fix.
    let assert = run_command("current_sweep.toml", &dir.path().join("bad_shard"))
        .args(["--shard", "3/3"])
        .assert()
        .code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("0 <= K < N"), "{stderr}");
}
