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
