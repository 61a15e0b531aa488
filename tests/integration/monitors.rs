//! Monitor bookkeeping: start/pause, periods, chunks, sets and every error.

use neurorec::schedule::Action;
use neurorec::{
    MonitorError, MonitorSpec, Monitors, Network, NeuronModel, PopulationSpec, ResetOptions,
    TimesError,
};

use crate::common::{run_in_memory, seed_network};

fn pairs(times: &neurorec::RecordingTimes, chunk: usize, comp: &str) -> Vec<(i64, i64)> {
    times.chunks[chunk].compartment(comp).unwrap().pairs.clone()
}

#[test]
fn start_twice_and_pause_twice_change_nothing_more() {
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1", &["v"])]).unwrap();
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    mon.start(&net, None).unwrap(); // already running: the period goes on
    mon.simulate(&mut net, 1.0).unwrap();
    mon.pause(&net, None).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    mon.pause(&net, None).unwrap(); // already paused
    let times = mon.get_recording_times(&net);
    assert_eq!(pairs(&times, 0, "my_pop1"), vec![(0, 20)]);
    let rec = mon.get_recordings(&net);
    assert_eq!(rec[0].get("my_pop1;v").unwrap().dim(), (20, 1));
}

#[test]
fn start_then_pause_at_the_same_time_leaves_no_period() {
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1", &["v"])]).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    mon.start(&net, None).unwrap();
    mon.pause(&net, None).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    assert_eq!(mon.get_recording_times(&net).nr_chunks(), 0);
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 0.5).unwrap();
    let times = mon.get_recording_times(&net);
    assert_eq!(times.nr_periods(Some(0), Some("my_pop1")).unwrap(), 1);
    assert_eq!(times.time_lims(None, None, None).unwrap(), (2.0, 2.4));
}

#[test]
fn zero_sample_periods_are_listed_but_do_not_keep_a_chunk() {
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1;2", &["v"]), ("my_pop2;2", &["v"])]).unwrap();
    mon.simulate(&mut net, 0.1).unwrap(); // t = 1, off the 2 ms grid
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 1.0).unwrap(); // [1, 11): no multiple of 20
    mon.pause(&net, None).unwrap();
    assert_eq!(
        mon.get_recording_times(&net).nr_chunks(),
        0,
        "no sample: the chunk is dropped"
    );
    mon.start(&net, Some(&["my_pop1"])).unwrap();
    mon.simulate(&mut net, 2.0).unwrap(); // [11, 31): step 20
    let times = mon.get_recording_times(&net);
    let t = times.chunks[0].compartment("my_pop1").unwrap();
    assert_eq!(t.pairs, vec![(1, 11), (11, 31)]);
    assert_eq!(t.start_idx, vec![0, 0]);
    assert_eq!(t.stop_idx, vec![-1, 0]);
    assert_eq!((t.start_ms[0], t.stop_ms[0]), (2.0, 0.0));
    // my_pop2 had a zero-sample period only.
    let t2 = times.chunks[0].compartment("my_pop2").unwrap();
    assert_eq!(t2.samples(), 0);
    let rec = mon.get_recordings(&net);
    assert_eq!(rec[0].get("my_pop1;v").unwrap().dim(), (1, 1));
    assert_eq!(rec[0].get("my_pop2;v").unwrap().dim(), (0, 1));
}

#[test]
fn a_spike_period_without_spikes_keeps_its_chunk() {
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1", &["spike"])]).unwrap();
    mon.simulate(&mut net, 10.0).unwrap();
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 0.1).unwrap();
    let (rec, times) = mon.get_recordings_and_clear(&net).unwrap();
    assert_eq!(times.nr_chunks(), 1);
    assert_eq!(rec[0].spikes("my_pop1").unwrap(), &[Vec::<i64>::new()]);
}

#[test]
fn reset_without_model_keeps_time_and_state() {
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop2", &["v", "u"])]).unwrap();
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 5.0).unwrap();
    let v_before = net.population("my_pop2").unwrap().variable("v").unwrap()[0];
    mon.reset(
        &mut net,
        ResetOptions {
            model: false,
            parameters: true,
        },
    )
    .unwrap();
    assert_eq!(net.t(), 50);
    assert_eq!(
        net.population("my_pop2").unwrap().variable("v").unwrap()[0],
        v_before
    );
    assert_eq!(mon.current_chunk(), Some(1));
    mon.simulate(&mut net, 5.0).unwrap();
    let times = mon.get_recording_times(&net);
    assert_eq!(pairs(&times, 0, "my_pop2"), vec![(0, 50)]);
    assert_eq!(pairs(&times, 1, "my_pop2"), vec![(50, 100)]);
    assert_eq!(
        (times.chunks[1].first_step, times.chunks[1].end_step),
        (50, 100)
    );
    let rec = mon.get_recordings(&net);
    assert_eq!(rec[1].get("my_pop2;u").unwrap().dim(), (50, 1));
}

#[test]
fn reset_with_model_restores_state_and_parameters_as_asked() {
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop2", &["v"])]).unwrap();
    mon.start(&net, None).unwrap();
    net.set_parameter("my_pop2", "I_app", 10.0).unwrap();
    mon.simulate(&mut net, 5.0).unwrap();
    // model = true, parameters = false: time 0, initial state, I_app stays 10.
    mon.reset(
        &mut net,
        ResetOptions {
            model: true,
            parameters: false,
        },
    )
    .unwrap();
    assert_eq!(net.t(), 0);
    assert_eq!(
        net.population("my_pop2").unwrap().variable("v").unwrap()[0],
        0.0
    );
    assert_eq!(
        net.population("my_pop2")
            .unwrap()
            .parameter("I_app")
            .unwrap()[0],
        10.0
    );
    mon.simulate(&mut net, 5.0).unwrap();
    // model = true, parameters = true: I_app back to its declared 52.
    mon.reset(&mut net, ResetOptions::default()).unwrap();
    assert_eq!(
        net.population("my_pop2")
            .unwrap()
            .parameter("I_app")
            .unwrap()[0],
        52.0
    );
    mon.simulate(&mut net, 5.0).unwrap();
    let rec = mon.get_recordings(&net);
    assert_eq!(rec.len(), 3);
    // The parameter values of each chunk are those at its end.
    assert_eq!(
        rec[0]
            .compartment("my_pop2")
            .unwrap()
            .parameter("I_app")
            .unwrap(),
        &[10.0]
    );
    assert_eq!(
        rec[2]
            .compartment("my_pop2")
            .unwrap()
            .parameter("I_app")
            .unwrap(),
        &[52.0]
    );
    // Chunks 1 and 2 start from the same state; with I_app 10 vs 52 they differ.
    let a = rec[1].get("my_pop2;v").unwrap();
    let b = rec[2].get("my_pop2;v").unwrap();
    assert_ne!(a[[5, 0]], b[[5, 0]]);
    let times = mon.get_recording_times(&net);
    assert_eq!(pairs(&times, 1, "my_pop2"), vec![(0, 50)]);
}

#[test]
fn get_recordings_and_clear_ends_the_set() {
    let mut net = seed_network();
    let sets = run_in_memory(
        &mut net,
        &[("my_pop1", &["v"])],
        &[
            Action::Start { compartments: None },
            Action::Simulate { ms: 1.0 },
            Action::GetRecordingsAndClear,
            Action::Simulate { ms: 1.0 }, // paused after the clear
            Action::GetRecordingsAndClear,
            Action::Start { compartments: None },
            Action::Simulate { ms: 1.0 },
        ],
    );
    assert_eq!(sets.len(), 3);
    assert_eq!(sets[0].1.nr_chunks(), 1);
    assert_eq!(sets[1].1.nr_chunks(), 0);
    assert_eq!(sets[2].1.time_lims(None, None, None).unwrap(), (2.0, 2.9));
}

#[test]
fn definition_errors_list_what_exists() {
    let net = seed_network();
    let err = |dict: &[(&str, &[&str])]| Monitors::new(&net, dict).unwrap_err();
    let e = err(&[("my_pop3", &["v"])]);
    assert!(matches!(e, MonitorError::UnknownCompartment { .. }));
    assert!(e.to_string().contains("my_pop1, my_pop2"), "{e}");
    let e = err(&[("my_pop1", &["w"])]);
    assert!(e.to_string().contains("v, u, I_v, spike"), "{e}");
    let e = err(&[("my_pop1;0.15", &["v"])]);
    assert!(matches!(e, MonitorError::InvalidPeriod { .. }));
    assert!(e.to_string().contains("0.1 ms or 0.2 ms"), "{e}");
    let e = err(&[("my_pop1;0.05", &["v"])]);
    assert!(e.to_string().contains("0.1 ms"), "{e}");
    assert!(matches!(
        err(&[("my_pop1;x", &["v"])]),
        MonitorError::MalformedKey { .. }
    ));
    assert!(matches!(
        err(&[("my_pop1;1;2", &["v"])]),
        MonitorError::MalformedKey { .. }
    ));
    assert!(matches!(
        err(&[("my_pop1", &[])]),
        MonitorError::NoVariables { .. }
    ));
    assert!(matches!(
        err(&[("my_pop1", &["v"]), ("my_pop1;2", &["u"])]),
        MonitorError::DuplicateCompartment { .. }
    ));
    let mut odd = Network::new(0.1).unwrap();
    odd.add_population(PopulationSpec::new("../x", 1, NeuronModel::Izhikevich2007))
        .unwrap();
    assert!(matches!(
        Monitors::new(&odd, &[("../x", &["v"])]).unwrap_err(),
        MonitorError::UnsafeName { .. }
    ));
    assert_eq!(
        MonitorSpec::parse("a;2.5", &["v"]).unwrap().period_ms,
        Some(2.5)
    );
}

#[test]
fn operation_errors_are_values() {
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1", &["v"])]).unwrap();
    let e = mon.start(&net, Some(&["my_pop2"])).unwrap_err();
    assert!(
        e.to_string()
            .contains("monitored compartments are: my_pop1"),
        "{e}"
    );
    assert!(mon.pause(&net, Some(&["nope"])).is_err());
    assert!(matches!(
        mon.simulate(&mut net, f64::NAN),
        Err(MonitorError::Sim(_))
    ));
    assert!(matches!(
        mon.simulate(&mut net, -5.0),
        Err(MonitorError::Sim(_))
    ));
    let times = mon.get_recording_times(&net);
    assert!(matches!(
        times.time_lims(None, None, None),
        Err(TimesError::Empty)
    ));
}

#[test]
fn current_chunk_is_none_while_nothing_records() {
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1", &["v"])]).unwrap();
    assert_eq!(mon.current_chunk(), None);
    mon.start(&net, None).unwrap();
    assert_eq!(mon.current_chunk(), Some(0));
    mon.simulate(&mut net, 1.0).unwrap();
    mon.reset(&mut net, ResetOptions::default()).unwrap();
    assert_eq!(mon.current_chunk(), Some(1));
    mon.pause(&net, None).unwrap();
    assert_eq!(mon.current_chunk(), None);
}

#[test]
fn a_network_moved_behind_the_monitors_back_is_reported_once_and_nothing_is_lost() {
    // Advanced while recording: reported, the unrecorded steps become a pause, and the
    // monitors go on working.
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1", &["v"])]).unwrap();
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    net.simulate(1.0).unwrap();
    // Looking does not claim the unrecorded steps either.
    assert_eq!(
        pairs(&mon.get_recording_times(&net), 0, "my_pop1"),
        vec![(0, 10)]
    );
    assert_eq!(
        mon.get_recordings(&net)[0].get("my_pop1;v").unwrap().dim(),
        (10, 1)
    );
    let e = mon.simulate(&mut net, 1.0).unwrap_err();
    assert!(
        matches!(
            e,
            MonitorError::Unobserved {
                from: 10,
                to: 20,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("Monitors::simulate"), "{e}");
    assert_eq!(net.t(), 20, "the failed call did not simulate");
    mon.simulate(&mut net, 1.0).unwrap();
    let (rec, times) = mon.get_recordings_and_clear(&net).unwrap();
    assert_eq!(pairs(&times, 0, "my_pop1"), vec![(0, 10), (20, 30)]);
    assert_eq!(rec[0].get("my_pop1;v").unwrap().dim(), (20, 1));

    // Advanced while nothing records: the time simply passed unrecorded.
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1", &["v"])]).unwrap();
    net.simulate(1.0).unwrap();
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    mon.pause(&net, None).unwrap();
    net.simulate(1.0).unwrap();
    let (rec, times) = mon.get_recordings_and_clear(&net).unwrap();
    assert_eq!(pairs(&times, 0, "my_pop1"), vec![(10, 20)]);
    assert_eq!(rec[0].get("my_pop1;v").unwrap().dim(), (10, 1));

    // Reset outside the monitors after something was recorded (even if the network then
    // runs past the old time): reported, the chunk closes where the monitors last saw it
    // and a new one opens.
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1", &["v"])]).unwrap();
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    mon.pause(&net, None).unwrap();
    net.reset(true);
    net.simulate(2.0).unwrap();
    assert!(matches!(
        mon.start(&net, None),
        Err(MonitorError::ResetOutside { from: 10, to: 20 })
    ));
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    let (rec, times) = mon.get_recordings_and_clear(&net).unwrap();
    assert_eq!(times.nr_chunks(), 2);
    assert_eq!(pairs(&times, 0, "my_pop1"), vec![(0, 10)]);
    assert_eq!(pairs(&times, 1, "my_pop1"), vec![(20, 30)]);
    assert_eq!(rec[1].get("my_pop1;v").unwrap().dim(), (10, 1));

    // A reset before anything was recorded is harmless.
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1", &["v"])]).unwrap();
    net.simulate(1.0).unwrap();
    net.reset(true);
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    let (_, times) = mon.get_recordings_and_clear(&net).unwrap();
    assert_eq!(pairs(&times, 0, "my_pop1"), vec![(0, 10)]);
    assert_eq!(times.chunks[0].first_step, 0);
}

#[test]
fn after_a_reset_behind_its_back_the_archive_closes_every_chunk() {
    use neurorec::archive::{Archive, ArchiveOptions, ArchiveWriter};
    let dir = tempfile::tempdir().unwrap();
    let mut net = seed_network();
    let specs = MonitorSpec::parse_dict(&[("my_pop1", &["v"])]).unwrap();
    let writer = ArchiveWriter::create(
        dir.path(),
        net.dt(),
        vec!["my_pop1".into()],
        ArchiveOptions::default(),
    )
    .unwrap();
    let mut mon = Monitors::with_sink(&net, &specs, writer).unwrap();
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    net.reset(true);
    assert!(mon.simulate(&mut net, 1.0).is_err());
    mon.simulate(&mut net, 1.0).unwrap();
    mon.end_set(&net).unwrap();
    mon.into_sink().finish().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    assert!(archive.unfinished().is_empty());
    let times = archive.recording_times(0, 0).unwrap();
    assert_eq!(pairs(&times, 0, "my_pop1"), vec![(0, 10)]);
    assert_eq!(pairs(&times, 1, "my_pop1"), vec![(0, 10)]);
}

#[test]
fn negative_step_counts_are_refused() {
    let mut net = seed_network();
    let mut mon = Monitors::new(&net, &[("my_pop1", &["v"])]).unwrap();
    assert!(matches!(
        mon.simulate_steps(&mut net, -3),
        Err(MonitorError::NegativeSteps { steps: -3 })
    ));
    assert_eq!(net.t(), 0);
}

/// start, 10 ms, pause; reset; 5 ms with nothing recorded; reset (that chunk is dropped);
/// start, 10 ms.
fn schedule_with_an_empty_chunk(model: bool) -> Vec<Action> {
    let reset = Action::Reset {
        model,
        parameters: true,
    };
    vec![
        Action::Start { compartments: None },
        Action::Simulate { ms: 10.0 },
        Action::Pause { compartments: None },
        reset.clone(),
        Action::Simulate { ms: 5.0 },
        reset,
        Action::Start { compartments: None },
        Action::Simulate { ms: 10.0 },
        Action::GetRecordingsAndClear,
    ]
}

#[test]
fn consecutive_chunks_count_the_time_of_a_dropped_empty_chunk() {
    for model in [false, true] {
        let mut net = seed_network();
        let sets = run_in_memory(
            &mut net,
            &[("my_pop2", &["v"])],
            &schedule_with_an_empty_chunk(model),
        );
        let (rec, times) = &sets[0];
        assert_eq!(times.nr_chunks(), 2, "model {model}");
        assert_eq!(times.chunks[1].skipped_steps, 50, "model {model}");
        let (t, data) = times
            .combine_chunks(rec, "my_pop2;v", neurorec::CombineMode::Consecutive)
            .unwrap();
        // Chunk 0: 0.0 .. 9.9 ms; 5 ms simulated without recording; chunk 1 from 15.0 ms.
        assert_eq!(t.first(), Some(&0.0));
        assert_eq!(t.last(), Some(&24.9), "model {model}");
        assert_eq!(t.len(), 250, "model {model}");
        assert!(data.row(100).iter().all(|x| x.is_nan()), "model {model}");
        assert!(data.row(150).iter().all(|x| !x.is_nan()), "model {model}");
    }
}
