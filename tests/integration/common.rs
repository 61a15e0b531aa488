//! Helpers shared by the integration tests.

use neurorec::schedule::{on_set, record, Action};
use neurorec::{
    ChunkRecordings, MemorySink, MonitorSpec, Monitors, Network, NeuronModel, PopulationSpec,
    RecordingTimes,
};

/// The `neurorec` binary of this build.
pub fn neurorec() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("neurorec").unwrap()
}

/// Path of a pipeline in `pipelines/`.
pub fn pipeline(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines")
        .join(name)
}

/// `neurorec run pipelines/<name> --out <out>`, ready for more arguments.
pub fn run_command(name: &str, out: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = neurorec();
    cmd.arg("run").arg(pipeline(name)).arg("--out").arg(out);
    cmd
}

/// Runs `neurorec run pipelines/<name> --out <out> --quiet` and expects success.
pub fn run_pipeline(name: &str, out: &std::path::Path) {
    run_command(name, out).arg("--quiet").assert().success();
}

/// Runs `neurorec run <path> --out <out> --quiet` and `neurorec validate <out>`, expecting
/// both to succeed.
pub fn run_and_validate(path: &std::path::Path, out: &std::path::Path) {
    neurorec()
        .arg("run")
        .arg(path)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .assert()
        .success();
    neurorec().arg("validate").arg(out).assert().success();
}

/// Path of a file in `tests/data`.
pub fn data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The seed's network: my_pop1 (I_app 0) and my_pop2 (I_app 52), one neuron each.
pub fn seed_network() -> Network {
    let mut net = Network::new(0.1).unwrap();
    net.add_population(
        PopulationSpec::new("my_pop1", 1, NeuronModel::Izhikevich2007).with_parameter("I_app", 0.0),
    )
    .unwrap();
    net.add_population(
        PopulationSpec::new("my_pop2", 1, NeuronModel::Izhikevich2007)
            .with_parameter("I_app", 52.0),
    )
    .unwrap();
    net
}

/// Runs a schedule into memory and returns every set's recordings and times.
pub fn run_in_memory(
    net: &mut Network,
    dict: &[(&str, &[&str])],
    actions: &[Action],
) -> Vec<(Vec<ChunkRecordings>, RecordingTimes)> {
    let specs = MonitorSpec::parse_dict(dict).unwrap();
    let mut sets = Vec::new();
    record(
        net,
        &specs,
        MemorySink::new(),
        actions,
        on_set(|m: &mut Monitors<MemorySink>, times| {
            sets.push((m.sink_mut().take_finished(), times))
        }),
    )
    .unwrap();
    sets
}

/// The Python virtual environment of the reader tests (`target/pyenv`), created and filled
/// from `tests/python/requirements.txt` on first use; returns its python.
pub fn python() -> std::path::PathBuf {
    use std::process::Command;
    use std::sync::Mutex;
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = root.join("target").join("pyenv");
    let python = env.join("bin").join("python");
    let requirements = root.join("tests/python/requirements.txt");
    let stamp = env.join(".installed");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        if !python.exists() {
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&env)
                .status()
                .unwrap();
            assert!(status.success(), "python3 -m venv failed");
        }
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "-r"])
            .arg(&requirements)
            .status()
            .unwrap();
        assert!(status.success(), "pip install failed");
        std::fs::write(&stamp, wanted).unwrap();
    }
    python
}
