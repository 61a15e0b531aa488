//! The polars analysis step against what memory recorded.

use neurorec::analysis::{firing_rates, variable_stats};
use neurorec::archive::{Archive, ArchiveOptions};
use neurorec::schedule::Action;
use neurorec::{Network, NeuronModel, PopulationSpec};

use crate::archive::run_both;

#[test]
fn firing_rates_and_variable_stats_match_memory() {
    let mut net = Network::new(0.1).unwrap();
    let i_app: Vec<f64> = (0..20).map(|i| i as f64 * 5.0).collect();
    net.add_population(
        PopulationSpec::new("pop", 20, NeuronModel::Izhikevich2007).with_parameter("I_app", i_app),
    )
    .unwrap();
    let dict: &[(&str, &[&str])] = &[("pop", &["v", "spike"])];
    let actions = vec![
        Action::Start { compartments: None },
        Action::Simulate { ms: 300.0 },
        Action::Pause { compartments: None },
        Action::Simulate { ms: 100.0 },
        Action::Start { compartments: None },
        Action::Simulate { ms: 200.0 },
        Action::Reset {
            model: true,
            parameters: true,
        },
        Action::Simulate { ms: 150.0 },
    ];
    let dir = tempfile::tempdir().unwrap();
    let options = ArchiveOptions {
        batch_rows: 333,
        row_group_rows: 2000,
        sync: false,
        ..Default::default()
    };
    let sets = run_both(&mut net, dict, &actions, dir.path(), options);
    let (recordings, _) = &sets[0];
    let archive = Archive::open(dir.path()).unwrap();

    let rates = firing_rates(&archive, 0, 0, "pop").unwrap();
    assert_eq!(rates.height(), 2 * 20);
    let spikes = rates.column("spikes").unwrap().i64().unwrap();
    let recorded = rates.column("recorded_s").unwrap().f64().unwrap();
    let rate = rates.column("rate_hz").unwrap().f64().unwrap();
    for (c, rec) in recordings.iter().enumerate() {
        // Recorded, not simulated, time: 300 + 200 ms in chunk 0, 150 ms in chunk 1.
        let expected_s = if c == 0 { 0.5 } else { 0.15 };
        for (n, steps) in rec.spikes("pop").unwrap().iter().enumerate() {
            let row = c * 20 + n;
            assert_eq!(
                spikes.get(row),
                Some(steps.len() as i64),
                "chunk {c} neuron {n}"
            );
            assert!((recorded.get(row).unwrap() - expected_s).abs() < 1e-12);
            assert!((rate.get(row).unwrap() - steps.len() as f64 / expected_s).abs() < 1e-9);
        }
    }
    // Neuron 0 (no input) fires once, at step 12, from v = 0; neuron 19 fires often.
    assert_eq!(spikes.get(0), Some(1));
    assert!(spikes.get(19).unwrap() > 3, "{rates}");

    let stats = variable_stats(dir.path(), "pop", "v", 0, 0, 1, Some((10.0, 50.0))).unwrap();
    let v = recordings[1].get("pop;v").unwrap();
    // Chunk 1 samples steps 0..1500; the window 10..50 ms is rows 100..=500.
    let window = v.slice(ndarray::s![100..=500, ..]);
    let means = stats.column("mean").unwrap().f64().unwrap();
    let counts = stats.column("samples").unwrap().i64().unwrap();
    for n in 0..20 {
        let expected = window.column(n).mean().unwrap();
        assert!((means.get(n).unwrap() - expected).abs() < 1e-9);
        assert_eq!(counts.get(n), Some(401));
    }
    let err = firing_rates(&archive, 0, 0, "nope").unwrap_err();
    assert!(err.to_string().contains("pop"), "{err}");
}

mod stats {
    use std::path::Path;
    use std::process::Command;

    use crate::common::{neurorec, pipeline, python, run_and_validate, run_pipeline};

    /// `neurorec stats DIR ARGS --parquet FILE` (the table and, `by_neuron`, per neuron).
    fn stats_files(dir: &Path, out: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let summary = out.join("stats.parquet");
        let per = out.join("per_neuron.parquet");
        neurorec()
            .arg("stats")
            .arg(dir)
            .arg("--parquet")
            .arg(&summary)
            .assert()
            .success();
        neurorec()
            .args(["stats", "--by", "neuron", "--parquet"])
            .arg(&per)
            .arg(dir)
            .assert()
            .success();
        (summary, per)
    }

    fn python_agrees(dir: &Path, summary: &Path, per: &Path) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_stats.py");
        let o = Command::new(python())
            .arg(script)
            .arg(dir)
            .arg(summary)
            .arg(per)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    #[test]
    fn stats_of_a_sweep_match_python_and_give_the_tuning_curve() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sweep");
        run_pipeline("current_sweep.toml", &out);
        let (summary, per) = stats_files(&out, dir.path());
        python_agrees(&out, &summary, &per);
        // The tuning curve is one command: rate against the swept current, as CSV.
        let csv = neurorec()
            .args(["stats", "--compartment", "exc", "--csv"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(csv.status.success());
        let text = String::from_utf8(csv.stdout).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(&header[..3], ["run", "exc.I_app", "set"]);
        let rate = header.iter().position(|h| *h == "rate_hz").unwrap();
        let curve: Vec<(f64, f64)> = lines
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                (cells[1].parse().unwrap(), cells[rate].parse().unwrap())
            })
            .collect();
        assert_eq!(curve.len(), 4);
        assert!(
            curve
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{curve:?}"
        );
        assert_eq!(curve[0].1, 0.0);
        assert!(curve[3].1 > 10.0);
    }

    #[test]
    fn stats_of_a_network_cover_populations_and_projections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("net.toml");
        std::fs::write(&path, crate::networks::PROJECTION_PIPELINE).unwrap();
        let out = dir.path().join("net");
        run_and_validate(&path, &out);
        let (summary, per) = stats_files(&out, dir.path());
        python_agrees(&out, &summary, &per);

        // JSON rows: a projection has synapses and its weights' range; a population its
        // neurons and spikes.
        let json = neurorec()
            .args(["stats", "--json", "--set", "0", "--chunk", "0"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(json.status.success());
        let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        let pq = rows.iter().find(|r| r["compartment"] == "pq").unwrap();
        assert_eq!(pq["synapses"], 12);
        assert!(pq["neurons"].is_null() && pq["spikes"].is_null());
        assert!(pq["w_min"].as_f64().unwrap() < pq["w_max"].as_f64().unwrap());
        let p = rows.iter().find(|r| r["compartment"] == "P").unwrap();
        assert_eq!(p["neurons"], 6);
        assert_eq!(p["recorded_ms"], 200.0);

        // A window: only the recorded time inside it counts (P records 2 to 202 ms).
        let json = neurorec()
            .args([
                "stats",
                "--json",
                "--set",
                "0",
                "--chunk",
                "0",
                "--compartment",
                "P",
            ])
            .args(["--time-lim", "50,100"])
            .arg(&out)
            .output()
            .unwrap();
        let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(rows[0]["recorded_ms"], 50.0);

        // The table for a terminal: aligned, a header, one line per row.
        let table = neurorec().arg("stats").arg(&out).output().unwrap();
        let text = String::from_utf8(table.stdout).unwrap();
        assert!(text.starts_with("run  set  chunk  compartment"), "{text}");
        assert_eq!(text.lines().count(), 1 + 9);
    }

    #[test]
    fn stats_errors_name_what_exists_and_never_replace_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("seed");
        run_pipeline("monitor_recordings.toml", &out);
        let err = |args: &[&str]| {
            let o = neurorec()
                .arg("stats")
                .arg(&out)
                .args(args)
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(1), "{args:?}");
            String::from_utf8(o.stderr).unwrap()
        };
        insta::assert_snapshot!(
            "stats_errors",
            [
                err(&["--compartment", "my_pop3"]),
                err(&["--run", "2"]),
                err(&["--set", "7"]),
                err(&["--chunk", "9"]),
                err(&["--time-lim", "5,2"]),
            ]
            .join("")
        );
        // A file that exists is left as it is.
        let mine = dir.path().join("mine.parquet");
        std::fs::write(&mine, "my data").unwrap();
        let text = err(&["--parquet", mine.to_str().unwrap()]);
        assert!(text.contains("already exists"), "{text}");
        assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my data");
        // Two output formats at once are a usage error.
        neurorec()
            .arg("stats")
            .arg(&out)
            .args(["--json", "--csv"])
            .assert()
            .code(2);
        // The seed: three sets, my_pop1 recorded every 2 ms.
        let o = neurorec()
            .args(["stats", "--csv", "--compartment", "my_pop1"])
            .arg(&out)
            .output()
            .unwrap();
        let text = String::from_utf8(o.stdout).unwrap();
        assert_eq!(text.lines().count(), 1 + 3 + 2 + 1, "{text}");
        let _ = pipeline("monitor_recordings.toml");
    }

    #[test]
    fn stats_report_an_unfinished_run_and_read_only_its_complete_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from(
            "dt = 0.1\n[populations.pop]\nsize = 50\nparameters = { I_app = 60.0 }\n[monitors]\npop = [\"v\", \"spike\"]\n[[schedule]]\nstart = \"all\"\n",
        );
        for _ in 0..6 {
            text.push_str("[[schedule]]\nsimulate = 20\n[[schedule]]\nreset = { model = false }\n");
        }
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).unwrap();
        let out = dir.path().join("out");
        let status = Command::new(assert_cmd::cargo::cargo_bin("neurorec"))
            .arg("run")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .arg("--quiet")
            .env("NEUROREC_CRASH_AT", "batch:3")
            .status()
            .unwrap();
        assert!(!status.success());
        let archive = neurorec::Archive::open(&out).unwrap();
        let complete = archive.chunks(0, 0).len();
        assert!(complete < 6);
        let o = neurorec()
            .args(["stats", "--csv"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success());
        let stderr = String::from_utf8(o.stderr).unwrap();
        assert!(
            stderr.contains("note: run 0 is still running or was stopped: only its complete chunks are included; left out, unfinished: set 0 chunk"),
            "{stderr}"
        );
        let rows = String::from_utf8(o.stdout).unwrap().lines().count() - 1;
        assert_eq!(rows, complete);
    }
}
