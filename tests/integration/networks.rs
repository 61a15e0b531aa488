//! Projections with the default spiking synapse: connectors, delivery timing and delays,
//! a two-neuron network against a hand computation, the COBA pipeline, and pipeline errors.

use neurorec::sim::{Connector, ProjectionSpec};
use neurorec::{Network, NeuronModel, ParamValue, PopulationSpec};

use crate::common::{neurorec, pipeline, run_and_validate, run_pipeline};

/// A neuron that fires when told (`drive` > 0.5 fires every step) and integrates `g_exc`
/// into `x` with no decay of its own: `x` is the sum of what arrived.
fn relay() -> NeuronModel {
    let table = neurorec::model::library::NeuronTable {
        parameters: "drive = 0.0".into(),
        equations: "x = x + g_exc".into(),
        spike: "drive > 0.5".into(),
        ..Default::default()
    };
    NeuronModel::equations(table.compile("Relay").unwrap())
}

fn projection(name: &str, pre: &str, post: &str, connector: Connector) -> ProjectionSpec {
    ProjectionSpec {
        name: name.into(),
        pre: pre.into(),
        pre_range: None,
        post: post.into(),
        post_range: None,
        target: "exc".into(),
        connector,
        weights: ParamValue::Scalar(1.0),
        delays_ms: None,
        allow_self: false,
        synapse: None,
        parameters: Vec::new(),
    }
}

fn network(sizes: &[(&str, usize)]) -> Network {
    let mut net = Network::new(0.1).unwrap().with_seed(4);
    for (name, n) in sizes {
        net.add_population(PopulationSpec::new(*name, *n, relay()))
            .unwrap();
    }
    net
}

#[test]
fn connectors_give_their_counts_without_self_connections() {
    let mut net = network(&[("a", 50), ("b", 40)]);
    let count = |net: &mut Network, spec: ProjectionSpec| {
        let i = net.add_projection(&spec).unwrap();
        net.projections()[i].synapses()
    };
    let all = count(&mut net, projection("all", "a", "b", Connector::AllToAll));
    assert_eq!(all.len(), 50 * 40);
    let own = count(&mut net, projection("own", "a", "a", Connector::AllToAll));
    assert_eq!(own.len(), 50 * 49);
    assert!(own.iter().all(|s| s.0 != s.1));
    let mut with_self = projection("self", "a", "a", Connector::AllToAll);
    with_self.allow_self = true;
    assert_eq!(count(&mut net, with_self).len(), 50 * 50);
    let pre = count(
        &mut net,
        projection("pre", "a", "a", Connector::FixedNumberPre(7)),
    );
    for post in 0..50 {
        let mine: Vec<_> = pre.iter().filter(|s| s.1 == post).collect();
        assert_eq!(mine.len(), 7);
        assert!(mine.iter().all(|s| s.0 != post));
    }
    let post = count(
        &mut net,
        projection("post", "a", "b", Connector::FixedNumberPost(5)),
    );
    for p in 0..50 {
        assert_eq!(post.iter().filter(|s| s.0 == p).count(), 5);
    }
    // 2 % of 50 x 49 pairs, many times over: within 4 standard errors.
    let mut total = 0;
    for k in 0..40 {
        let p = count(
            &mut net,
            projection(
                &format!("p{k}"),
                "a",
                "a",
                Connector::FixedProbability(0.02),
            ),
        );
        assert!(p.iter().all(|s| s.0 != s.1));
        total += p.len();
    }
    let (n, q): (f64, f64) = (40.0 * 50.0 * 49.0, 0.02);
    let se = (n * q * (1.0 - q)).sqrt();
    assert!((total as f64 - n * q).abs() < 4.0 * se, "{total}");
    let one = count(&mut net, projection("one", "a", "a", Connector::OneToOne));
    assert_eq!(one.len(), 50);
    let err = net
        .add_projection(&projection("bad", "a", "b", Connector::OneToOne))
        .unwrap_err();
    assert!(err.to_string().contains("equal size"), "{err}");
}

#[test]
fn a_spike_at_step_s_arrives_at_s_plus_the_delay() {
    for (delay_ms, steps) in [
        (None, 1i64),
        (Some(0.0), 1),
        (Some(0.1), 1),
        (Some(0.5), 5),
        (Some(1.26), 13),
    ] {
        let mut net = network(&[("pre", 1), ("post", 2)]);
        let mut spec = projection("c", "pre", "post", Connector::AllToAll);
        spec.weights = ParamValue::Scalar(2.5);
        spec.delays_ms = delay_ms.map(ParamValue::Scalar);
        net.add_projection(&spec).unwrap();
        // The pre neuron fires at step 3 only.
        for _ in 0..3 {
            net.step();
        }
        net.set_parameter("pre", "drive", 1.0).unwrap();
        net.step();
        assert_eq!(net.population("pre").unwrap().last_spikes(), [0]);
        net.set_parameter("pre", "drive", 0.0).unwrap();
        let mut arrived = None;
        for _ in 0..30 {
            let t = net.step();
            let x = net.population("post").unwrap().variable("x").unwrap();
            if x[0] != 0.0 && arrived.is_none() {
                arrived = Some(t);
                assert_eq!(x, [2.5, 2.5], "each post neuron gets w once");
            }
        }
        assert_eq!(arrived, Some(3 + steps), "delay {delay_ms:?}");
        assert_eq!(
            net.population("post").unwrap().variable("x").unwrap(),
            [2.5, 2.5]
        );
    }
}

#[test]
fn a_two_neuron_network_equals_a_hand_computation() {
    // A LIF with a decaying conductance receives a spike train through one synapse.
    let lif = neurorec::model::library::NeuronTable {
        parameters: "tau = 10.0\ntau_g = 2.0\nE = 0.0".into(),
        equations: "tau * dv/dt = -v + g_exc * (E - v)\ntau_g * dg_exc/dt = -g_exc".into(),
        spike: "v > 100.0".into(),
        reset: "v = 0.0".into(),
        ..Default::default()
    };
    let mut net = Network::new(0.1).unwrap();
    net.add_population(PopulationSpec::new("pre", 1, relay()).with_parameter("drive", 1.0))
        .unwrap();
    net.add_population(
        PopulationSpec::new(
            "post",
            1,
            NeuronModel::equations(lif.compile("LIF").unwrap()),
        )
        .with_initial("v", -70.0),
    )
    .unwrap();
    let mut spec = projection("c", "pre", "post", Connector::OneToOne);
    spec.weights = ParamValue::Scalar(0.3);
    spec.delays_ms = Some(ParamValue::Scalar(0.2));
    net.add_projection(&spec).unwrap();
    // By hand: the pre neuron fires every step from step 0; from step 2 on, 0.3 arrives at
    // the start of every step, then both ODEs step from the old values (explicit Euler).
    let (mut v, mut g) = (-70.0f64, 0.0f64);
    for step in 0..200 {
        if step >= 2 {
            g += 0.3;
        }
        let dv = (-v + g * (0.0 - v)) / 10.0;
        let dg = -g / 2.0;
        v += 0.1 * dv;
        g += 0.1 * dg;
        net.step();
        let post = net.population("post").unwrap();
        assert_eq!(
            post.variable("v").unwrap()[0].to_bits(),
            v.to_bits(),
            "v at {step}"
        );
        assert_eq!(
            post.variable("g_exc").unwrap()[0].to_bits(),
            g.to_bits(),
            "g at {step}"
        );
    }
}

#[test]
fn a_connectivity_file_is_used_as_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("conn.csv"),
        "pre,post,w,delay\n0,1,0.5,0.3\n1,1,2.0,0.1\n1,0,1.5,0.1\n0,0,1.0,0.1\n",
    )
    .unwrap();
    let text = r#"
dt = 0.1
[neurons.Relay]
parameters = "drive = 0.0"
equations = "x = x + g_exc"
spike = "drive > 0.5"
[populations.a]
size = 2
model = "Relay"
[projections.c]
pre = "a"
post = "a"
target = "exc"
connector = { file = "conn.csv" }
[monitors]
a = ["x"]
"#;
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    let p = neurorec::pipeline::Pipeline::load(&path).unwrap();
    let net = p.network(&[]).unwrap();
    let mut syn = net.projections()[0].synapses();
    syn.sort_by_key(|s| (s.0, s.1));
    // Self-connections of a file are kept; delays in steps.
    assert_eq!(
        syn,
        [
            (0, 0, 1.0, 1),
            (0, 1, 0.5, 3),
            (1, 0, 1.5, 1),
            (1, 1, 2.0, 1)
        ]
    );
}

#[test]
fn coba_runs_into_a_valid_archive_with_a_raster_near_20_hz() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("coba");
    run_pipeline("coba.toml", &out);
    neurorec().arg("validate").arg(&out).assert().success();
    assert!(out.join("figures/coba_raster.png").exists());
    let archive = neurorec::Archive::open(&out).unwrap();
    let rec = &archive.recordings(0, 0).unwrap()[0];
    let spikes: usize = rec.spikes("P").unwrap().iter().map(Vec::len).sum();
    let rate = spikes as f64 / 4000.0;
    assert!((10.0..35.0).contains(&rate), "{rate} Hz");

    // The connectivity of each projection, once per run, is the network's.
    let net = neurorec::pipeline::Pipeline::load(pipeline("coba.toml"))
        .unwrap()
        .network(&[])
        .unwrap();
    for (i, name) in ["Ce", "Ci"].into_iter().enumerate() {
        let path = out.join(format!("{name}/synapses/run=0/part-0.parquet"));
        let file = std::fs::File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let mut rows = Vec::new();
        for batch in reader {
            let b = batch.unwrap();
            let col = |k: usize| b.column(k).clone();
            let (pre, post) = (col(0), col(1));
            let pre = pre
                .as_any()
                .downcast_ref::<arrow_array::UInt32Array>()
                .unwrap();
            let post = post
                .as_any()
                .downcast_ref::<arrow_array::UInt32Array>()
                .unwrap();
            let (w, d) = (col(2), col(3));
            let w = w
                .as_any()
                .downcast_ref::<arrow_array::Float64Array>()
                .unwrap();
            let d = d
                .as_any()
                .downcast_ref::<arrow_array::Float64Array>()
                .unwrap();
            for r in 0..b.num_rows() {
                rows.push((pre.value(r), post.value(r), w.value(r), d.value(r)));
            }
        }
        let expected: Vec<_> = net.projections()[i]
            .synapses()
            .into_iter()
            .map(|(a, b, w, d)| (a, b, w, f64::from(d) * 0.1))
            .collect();
        assert_eq!(rows, expected, "{name}");
    }
    // Real readers load it.
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_connectivity.py");
    let synapses = net.projections()[0].len().to_string();
    let out_py = std::process::Command::new(crate::common::python())
        .arg(script)
        .arg(&out)
        .arg("Ce")
        .arg(&synapses)
        .output()
        .unwrap();
    assert!(
        out_py.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out_py.stdout),
        String::from_utf8_lossy(&out_py.stderr)
    );
    // A changed connectivity file is damage.
    let path = out.join("Ci/synapses/run=0/part-0.parquet");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    neurorec().arg("validate").arg(&out).assert().code(4);
}

#[test]
fn projection_errors_name_place_and_fix() {
    let head = "dt = 0.1\n[neurons.N]\nequations = \"dv/dt = -v + g_exc\"\nspike = \"v > 1\"\nreset = \"v = 0\"\n[populations.p]\nsize = 10\nmodel = \"N\"\n[populations.q]\nsize = 5\n[monitors]\np = [\"v\"]\n";
    let cases = [
        ("projection_unknown_population", "[projections.c]\npre = \"r\"\npost = \"p\"\ntarget = \"exc\"\nconnector = { all_to_all = true }\n"),
        ("projection_slice_out_of_range", "[projections.c]\npre = \"p[5:12]\"\npost = \"p\"\ntarget = \"exc\"\nconnector = { all_to_all = true }\n"),
        ("projection_missing_target", "[projections.c]\npre = \"p\"\npost = \"p\"\ntarget = \"inh\"\nconnector = { all_to_all = true }\n"),
        ("projection_builtin_post", "[projections.c]\npre = \"p\"\npost = \"q\"\ntarget = \"exc\"\nconnector = { all_to_all = true }\n"),
        ("projection_two_connectors", "[projections.c]\npre = \"p\"\npost = \"p\"\ntarget = \"exc\"\nconnector = { all_to_all = true, fixed_probability = 0.1 }\n"),
        ("projection_bad_file", "[projections.c]\npre = \"p\"\npost = \"p\"\ntarget = \"exc\"\nconnector = { file = \"conn.csv\" }\n"),
        ("projection_delay_too_long", "[projections.c]\npre = \"p\"\npost = \"p\"\ntarget = \"exc\"\nconnector = { all_to_all = true }\ndelays = 1e9\n"),
        ("projection_file_rank_outside", "[projections.c]\npre = \"p[0:5]\"\npost = \"p\"\ntarget = \"exc\"\nconnector = { file = \"far.csv\" }\n"),
    ];
    let dir = tempfile::tempdir().unwrap();
    // A projection is a compartment: its synapse variables can be monitored.
    let with_monitor = |monitor: &str, projection: &str| {
        let monitor_head = head.replace("p = [\"v\"]\n", &format!("p = [\"v\"]\n{monitor}\n"));
        format!("{monitor_head}[projections.{projection}]\npre = \"p\"\npost = \"p\"\ntarget = \"exc\"\nconnector = {{ all_to_all = true }}\n")
    };
    std::fs::write(
        dir.path().join("mon.toml"),
        with_monitor("c = [\"w\"]", "c"),
    )
    .unwrap();
    let loaded = neurorec::pipeline::Pipeline::load(dir.path().join("mon.toml")).unwrap();
    assert_eq!(loaded.monitors[1].compartment, "c");
    let monitor_cases = [
        (
            "projection_monitor_unknown_variable",
            with_monitor("\"c;10\" = [\"w\", \"v\"]", "c"),
        ),
        (
            "projection_monitor_bad_period",
            with_monitor("\"c;0.25\" = [\"w\"]", "c"),
        ),
        ("projection_named_like_population", with_monitor("", "q")),
        (
            "projection_name_not_identifier",
            with_monitor("", "\"../c\""),
        ),
        (
            "projection_monitor_unknown_compartment",
            with_monitor("d = [\"w\"]", "c"),
        ),
    ];
    for (name, text) in monitor_cases {
        std::fs::write(dir.path().join("mon.toml"), text).unwrap();
        let err = neurorec::pipeline::Pipeline::load(dir.path().join("mon.toml"))
            .unwrap_err()
            .to_string();
        insta::assert_snapshot!(name, err.replace(&dir.path().display().to_string(), "DIR"));
    }
    std::fs::write(dir.path().join("conn.csv"), "pre,post\n0,1\n1,x\n").unwrap();
    std::fs::write(dir.path().join("far.csv"), "pre,post,w\n0,1,0.5\n7,2,1.0\n").unwrap();
    for (name, body) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, format!("{head}{body}")).unwrap();
        let err = neurorec::pipeline::Pipeline::load(&path)
            .unwrap_err()
            .to_string();
        let err = err.replace(&dir.path().display().to_string(), "DIR");
        insta::assert_snapshot!(name, err);
    }
}

fn synapse(
    parameters: &str,
    equations: &str,
    pre_spike: &str,
    post_spike: &str,
) -> neurorec::model::synapse::SynapseDef {
    neurorec::model::synapse::SynapseDef::parse(
        "S",
        &neurorec::model::synapse::SynapseText {
            parameters,
            equations,
            pre_spike,
            post_spike,
        },
    )
    .unwrap()
}

#[test]
fn synapse_models_run_pre_spike_equations_and_post_spike() {
    // pre fires every step; post fires every step too (drive = 1).
    let mut net = Network::new(0.1).unwrap();
    net.add_population(PopulationSpec::new("pre", 1, relay()).with_parameter("drive", 1.0))
        .unwrap();
    net.add_population(PopulationSpec::new("post", 1, relay()).with_parameter("drive", 1.0))
        .unwrap();
    // w decays (explicit Euler), grows by 0.5 at each post spike, and delivers w * pre.drive.
    let mut spec = projection("c", "pre", "post", Connector::OneToOne);
    spec.weights = ParamValue::Scalar(2.0);
    spec.synapse = Some(synapse(
        "tau = 50.0 : projection\nk = 1.0",
        "tau * dw/dt = -w",
        "g_target += w * pre.drive * k : max = 100.0",
        "w += 0.5",
    ));
    spec.parameters = vec![("k".into(), ParamValue::Scalar(3.0))];
    net.add_projection(&spec).unwrap();
    let (mut w, mut x) = (2.0f64, 0.0f64);
    for step in 0..100 {
        // Delivery (from step 1): g_exc += w * 1 * 3 (at most 100), then x += g_exc.
        let g = if step >= 1 {
            (w * 1.0 * 3.0).min(100.0)
        } else {
            0.0
        };
        x += g;
        // Synapse equations, then post_spike (the post neuron fired).
        w += 0.1 * (-w / 50.0);
        w += 0.5;
        net.step();
        let post = net.population("post").unwrap();
        assert_eq!(post.variable("x").unwrap()[0], x, "x at {step}");
        let got = net.projections()[0].synapse_variable("w").unwrap()[0];
        assert_eq!(got, w, "w at {step}");
    }
    // FactorSynapse: w * mod_factor.
    let mut net = network(&[("a", 1), ("b", 1)]);
    net.set_parameter("a", "drive", 1.0).unwrap();
    let mut spec = projection("f", "a", "b", Connector::OneToOne);
    spec.weights = ParamValue::Scalar(2.0);
    spec.synapse = neurorec::model::library::synapse("FactorSynapse");
    spec.parameters = vec![("mod_factor".into(), ParamValue::Scalar(0.25))];
    net.add_projection(&spec).unwrap();
    for _ in 0..5 {
        net.step();
    }
    assert_eq!(net.population("b").unwrap().variable("x").unwrap(), [2.0]);
}

#[test]
fn synapse_errors_name_place_and_fix() {
    let head = "dt = 0.1\n[neurons.N]\nequations = \"dv/dt = -v + g_exc\"\nspike = \"v > 1\"\nreset = \"v = 0\"\n[populations.p]\nsize = 10\nmodel = \"N\"\n[monitors]\np = [\"v\"]\n";
    let proj = "[projections.c]\npre = \"p\"\npost = \"p\"\ntarget = \"exc\"\nsynapse = \"S\"\nconnector = { all_to_all = true }\n";
    let cases = [
        ("synapse_ode_in_pre_spike", format!("{head}[synapses.S]\npre_spike = \"\"\"\ng_target += w\ndw/dt = -w\n\"\"\"\n{proj}")),
        ("synapse_unknown_name", format!("{head}[synapses.S]\nequations = \"dw/dt = -w / tau\"\npre_spike = \"g_target += w\"\n{proj}")),
        ("synapse_unknown_post_variable", format!("{head}[synapses.S]\npre_spike = \"g_target += w * post.nope\"\n{proj}")),
        ("synapse_unknown_parameter", format!("{head}{proj}parameters = {{ gain = 2.0 }}\n").replace("synapse = \"S\"", "synapse = \"FactorSynapse\"")),
        ("synapse_unknown", format!("{head}{proj}").replace("synapse = \"S\"", "synapse = \"Stdp\"")),
        ("synapse_parameter_list", format!("{head}{proj}parameters = {{ mod_factor = [1.0, 2.0] }}\n").replace("synapse = \"S\"", "synapse = \"FactorSynapse\"")),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, body).unwrap();
        let err = neurorec::pipeline::Pipeline::load(&path)
            .unwrap_err()
            .to_string();
        let err = err.replace(&dir.path().display().to_string(), "DIR");
        insta::assert_snapshot!(name, err);
    }
}

#[test]
fn a_connectivity_table_left_half_written_is_unfinished_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.toml");
    std::fs::write(
        &path,
        "dt = 0.1\nseed = 3\n[populations.p]\nsize = 20\nmodel = \"Izhikevich2007Syn\"\nparameters = { I_app = 60.0 }\n[projections.e]\npre = \"p\"\npost = \"p\"\ntarget = \"ampa\"\nconnector = { fixed_number_pre = 3 }\n[monitors]\np = [\"spike\"]\n[[schedule]]\nstart = \"all\"\n[[schedule]]\nsimulate = 20.0\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    run_and_validate(&path, &out);
    // As if the run stopped after listing the table and before moving it into place.
    let table = out.join("e/synapses/run=0/part-0.parquet");
    let leftover = out.join("e/synapses/run=0/.part-0.999.tmp.parquet");
    std::fs::rename(&table, &leftover).unwrap();
    neurorec().arg("validate").arg(&out).assert().code(3);
    neurorec().arg("repair").arg(&out).assert().success();
    assert!(!leftover.exists());
    neurorec().arg("validate").arg(&out).assert().success();
    // A file of someone else's where the table goes: refused before anything is written,
    // with or without --force, and kept.
    let mine = out.join("e/synapses/run=0/mine.parquet");
    std::fs::write(&mine, b"not neurorec's").unwrap();
    for force in [false, true] {
        let mut cmd = neurorec();
        cmd.arg("run")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .arg("--quiet");
        if force {
            cmd.arg("--force");
        }
        let err = cmd.assert().failure();
        let text = String::from_utf8_lossy(&err.get_output().stderr).to_string();
        assert!(
            text.contains("e/synapses/run=0/mine.parquet") || !force,
            "{text}"
        );
    }
    assert_eq!(std::fs::read(&mine).unwrap(), b"not neurorec's");
}

#[test]
fn a_network_gives_the_same_spikes_on_any_number_of_threads() {
    let pipeline = neurorec::pipeline::Pipeline::load(pipeline("coba.toml")).unwrap();
    let run = |threads: usize| {
        let mut net = pipeline
            .network(&[])
            .unwrap()
            .with_threads(threads)
            .with_min_neurons_per_thread(500);
        let mut spikes = Vec::new();
        for _ in 0..2000 {
            net.step();
            spikes.push(net.population("P").unwrap().last_spikes().to_vec());
        }
        let v = net.population("P").unwrap().variable("v").unwrap().to_vec();
        (spikes, v)
    };
    let one = run(1);
    assert!(one.0.iter().map(Vec::len).sum::<usize>() > 1000);
    assert!(run(2) == one && run(3) == one);
}

#[test]
fn synapse_equations_give_the_same_bits_on_the_vector_engine_and_the_interpreter() {
    // The first model runs on the neuron engine (synapses as lanes); reading pre.drive sends
    // the second to the synapse-by-synapse interpreter; `+ 0.0 * pre.drive` changes no bit.
    let run = |eq: &str| {
        let mut net = network(&[("a", 30), ("b", 20)]);
        net.set_parameter("a", "drive", 1.0).unwrap();
        let mut spec = projection("c", "a", "b", Connector::FixedProbability(0.5));
        spec.weights = ParamValue::Normal(1.0, 0.3);
        spec.synapse = Some(synapse("tau = 20.0", eq, "g_target += w", ""));
        spec.parameters = vec![("tau".into(), ParamValue::Uniform(10.0, 30.0))];
        net.add_projection(&spec).unwrap();
        for _ in 0..300 {
            net.step();
        }
        let p = &net.projections()[0];
        (
            p.synapse_variable("w").unwrap(),
            p.synapse_variable("x").unwrap(),
        )
    };
    let fast = run("tau * dw/dt = -w + x\ndx/dt = -x / 3.0 : init = 0.5");
    let slow = run("tau * dw/dt = -w + x + 0.0 * pre.drive\ndx/dt = -x / 3.0 : init = 0.5");
    assert_eq!(fast.0.len(), slow.0.len());
    assert!(fast == slow);
    assert!(fast.0.iter().all(|w| w.is_finite()) && fast.1[0] < 0.5);
}

#[test]
fn projection_monitors_record_synapses_by_post_then_pre_with_periods() {
    // a (2 relays, firing) -> b (3 relays), all to all, decaying weights.
    let mut net = network(&[("a", 2), ("b", 3)]);
    net.set_parameter("a", "drive", 1.0).unwrap();
    let mut spec = projection("ab", "a", "b", Connector::AllToAll);
    spec.weights = ParamValue::Uniform(1.0, 2.0);
    spec.synapse = Some(synapse("tau = 5.0", "tau * dw/dt = -w", "", ""));
    net.add_projection(&spec).unwrap();
    let initial: Vec<(u32, u32, f64, u32)> = net.projections()[0].synapses();

    // The default period of a projection is 1000 * dt, as CompNeuroPy's.
    let mon = neurorec::Monitors::new(&net, &[("ab", &["w"])]).unwrap();
    assert_eq!(mon.compartments()[0].period_steps, 1000);
    assert_eq!(mon.compartments()[0].period_ms, 100.0);
    // Variables of the synapse only; spikes are a population's.
    for bad in ["spike", "v"] {
        let err = neurorec::Monitors::new(&net, &[("ab", &[bad])]).unwrap_err();
        assert!(err.to_string().contains("recordable are: w"), "{err}");
    }

    let mut mon = neurorec::Monitors::new(&net, &[("ab;1", &["w"]), ("b", &["x"])]).unwrap();
    mon.start(&net, None).unwrap();
    mon.simulate(&mut net, 3.0).unwrap();
    mon.pause(&net, Some(&["ab"])).unwrap();
    mon.simulate(&mut net, 2.0).unwrap();
    mon.start(&net, Some(&["ab"])).unwrap();
    mon.simulate(&mut net, 1.0).unwrap();
    let recordings = mon.get_recordings(&net);
    let ab = recordings[0].compartment("ab").unwrap();
    // Columns: synapses sorted by post, then pre.
    let order = vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)];
    assert_eq!(ab.synapses.as_ref().unwrap(), &order);
    assert!(recordings[0].compartment("b").unwrap().synapses.is_none());
    let w = ab.variable("w").unwrap();
    // Samples at steps 0, 10, 20 (first period), 50 (second): w after each step's update.
    assert_eq!(w.shape(), [4, 6]);
    for (col, &(post, pre)) in order.iter().enumerate() {
        let mut value = initial
            .iter()
            .find(|s| s.0 == pre && s.1 == post)
            .unwrap()
            .2;
        let mut expected = Vec::new();
        for step in 0..60 {
            value += 0.1 * (-value / 5.0);
            if [0, 10, 20, 50].contains(&step) {
                expected.push(value);
            }
        }
        let got: Vec<f64> = w.column(col).to_vec();
        assert_eq!(got, expected, "synapse post {post} pre {pre}");
    }
    let times = mon.get_recording_times(&net);
    assert_eq!(times.nr_periods(Some(0), Some("ab")).unwrap(), 2);
    assert_eq!(
        times.time_lims(Some(0), Some("ab"), None).unwrap(),
        (0.0, 5.0)
    );
}

/// A pipeline with two monitored projections (one with a synapse model) whose monitors
/// start, pause, reset and end sets.
pub const PROJECTION_PIPELINE: &str = r#"
dt = 0.1
seed = 11

[neurons.LIF]
parameters = """
tau = 10.0
I = 2.0
"""
equations = "tau * dv/dt = I - v + g_exc"
spike = "v > 1"
reset = "v = 0"

[populations.P]
size = 6
model = "LIF"
parameters = { I = { uniform = [1.2, 2.0] } }

[populations.Q]
size = 4
model = "LIF"
parameters = { I = 0.9 }

[synapses.Decaying]
parameters = "tau_w = 50.0 : projection"
equations = "tau_w * dw/dt = -w"
post_spike = "w += 0.25"

[projections.pq]
pre = "P"
post = "Q[1:4]"
target = "exc"
synapse = "Decaying"
connector = { fixed_probability = 0.6 }
weights = { uniform = [5.0, 10.0] }

[projections.pp]
pre = "P"
post = "P"
target = "exc"
connector = { fixed_number_pre = 2 }
weights = 0.1

[monitors]
"P" = ["v", "spike"]
"pq;0.5" = ["w"]
"pp" = ["w"]

[[schedule]]
simulate = 2
[[schedule]]
start = "all"
[[schedule]]
simulate = 150
[[schedule]]
pause = ["pq"]
[[schedule]]
simulate = 20
[[schedule]]
start = ["pq"]
[[schedule]]
simulate = 30
[[schedule]]
reset = { model = true }
[[schedule]]
simulate = 120
[[schedule]]
get_recordings_and_clear = true
[[schedule]]
start = ["pq"]
[[schedule]]
simulate = 60

[[plots]]
file = "w_{set1}_chunk{chunk}.png"
shape = [2, 2]
position = [1, 2, 3, 4]
compartment = ["pq", "pq", "pq", "pp"]
variable = ["w", "w", "w", "w"]
format = ["line", "line_mean", "matrix", "line"]
"#;

#[test]
fn projection_recordings_round_trip_through_the_archive() {
    use neurorec::schedule::{on_set, record};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proj.toml");
    std::fs::write(&path, PROJECTION_PIPELINE).unwrap();
    let out = dir.path().join("archive");
    run_and_validate(&path, &out);

    // The same schedule into memory.
    let pipeline = neurorec::pipeline::Pipeline::load(&path).unwrap();
    let mut net = pipeline.network(&[]).unwrap();
    let mut sets = Vec::new();
    record(
        &mut net,
        &pipeline.monitors,
        neurorec::MemorySink::new(),
        &pipeline.schedule,
        on_set(|m: &mut neurorec::Monitors<neurorec::MemorySink>, times| {
            sets.push((m.sink_mut().take_finished(), times))
        }),
    )
    .unwrap();
    assert_eq!(sets.len(), 2);

    let archive = neurorec::Archive::open(&out).unwrap();
    let mut state_rows = 0;
    for (s, (recordings, times)) in sets.iter().enumerate() {
        // Parameters come back sorted by name (the footer's metadata is a JSON object).
        let sorted = |mut chunks: Vec<neurorec::ChunkRecordings>| {
            for c in &mut chunks {
                for comp in &mut c.compartments {
                    comp.parameters.sort_by(|a, b| a.0.cmp(&b.0));
                }
            }
            chunks
        };
        let read = archive.recordings(0, s as u32).unwrap();
        assert_eq!(sorted(read), sorted(recordings.clone()), "set {s}");
        assert_eq!(&archive.recording_times(0, s as u32).unwrap(), times);
        for chunk in recordings {
            state_rows += chunk.get("pq;w").map_or(0, |w| w.len());
        }
    }
    // The second set records pq alone; pp every 100 ms (its default period).
    let first = &sets[0].0;
    assert_eq!(first.len(), 2, "a reset made two chunks");
    let pp = first[0].compartment("pp").unwrap();
    assert_eq!(pp.period_ms, 100.0);
    assert_eq!(pp.variable("w").unwrap().nrows(), 2, "steps 1000 and 2000");
    let pq = first[0].compartment("pq").unwrap();
    let synapses = pq.synapses.as_ref().unwrap();
    let mut sorted = synapses.clone();
    sorted.sort();
    assert_eq!(synapses, &sorted);
    assert!(synapses
        .iter()
        .all(|&(post, pre)| (1..4).contains(&post) && pre < 6));
    assert_eq!(synapses.len(), net.projections()[0].len());
    // Post spikes raised some weights (w += 0.25), so the recording is not a pure decay.
    let w = pq.variable("w").unwrap();
    assert!(w.windows((2, 1)).into_iter().any(|d| d[[1, 0]] > d[[0, 0]]));

    // Real readers load the state and the connectivity.
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_connectivity.py");
    let py = std::process::Command::new(crate::common::python())
        .arg(script)
        .arg(&out)
        .arg("pq")
        .arg(synapses.len().to_string())
        .arg(state_rows.to_string())
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&py.stdout),
        String::from_utf8_lossy(&py.stderr)
    );

    // Figures of projection variables.
    for f in ["w_1_chunk0.png", "w_1_chunk1.png", "w_2_chunk0.png"] {
        assert!(out.join("figures").join(f).exists(), "{f}");
    }
    // `inspect` and `times` describe the projection.
    let shown = neurorec().arg("inspect").arg(&out).output().unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains(&format!(
            "pq: projection P -> Q (target exc), {} synapses, every 0.5 ms, records w",
            synapses.len()
        )),
        "{shown}"
    );
    neurorec().arg("times").arg(&out).assert().success();
}

#[test]
fn compneuropy_projection_example_runs_with_decaying_weights_and_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("projection_recordings");
    run_pipeline("projection_recordings.toml", &out);
    neurorec().arg("validate").arg(&out).assert().success();
    for chunk in 0..2 {
        let figure = out.join(format!("figures/projection_recordings_chunk{chunk}.png"));
        assert!(figure.exists(), "{}", figure.display());
    }
    let archive = neurorec::Archive::open(&out).unwrap();
    let chunks = archive.recordings(0, 0).unwrap();
    assert_eq!(chunks.len(), 2, "mon.reset() makes a second chunk");
    let times = archive.recording_times(0, 0).unwrap();
    // One synapse, w0 ~ Uniform(1, 2), dw/dt = -w/tau (tau = 500 ms, explicit Euler) from
    // step 0 on; the model reset does not reset the projection.
    let w0 = {
        let net = neurorec::pipeline::Pipeline::load(pipeline("projection_recordings.toml"))
            .unwrap()
            .network(&[])
            .unwrap();
        net.projections()[0].synapses()[0].2
    };
    assert!((1.0..2.0).contains(&w0));
    let mut w = w0;
    let mut by_step = std::collections::HashMap::new();
    for step in 0..(20000 + 27000) {
        w += 0.1 * (-w / 500.0);
        by_step.insert(step, w);
    }
    for (c, chunk) in chunks.iter().enumerate() {
        let rec = chunk.compartment("ampa_proj").unwrap();
        assert_eq!(rec.period_ms, 10.0);
        assert_eq!(rec.synapses.as_deref(), Some(&[(0, 0)][..]));
        let values = rec.variable("w").unwrap().column(0).to_vec();
        let (t0, _) = times.time_lims(Some(c), Some("ampa_proj"), None).unwrap();
        // Chunk 0 runs from step 0 (samples from 500 ms on); chunk 1 starts after the 2000
        // ms of chunk 0 (its steps restart at 0, the weights go on).
        let offset = if c == 0 { 0 } else { 20000 };
        for (k, v) in values.iter().enumerate() {
            let step = (t0 / 0.1).round() as i64 + 100 * k as i64 + offset;
            assert_eq!(*v, by_step[&step], "chunk {c} sample {k}");
        }
    }
    // Every spike of first_poisson arrives one step later at second_poisson: its `input`
    // reads g_ampa, which holds the w of the step of the spike.
    let mut net = neurorec::pipeline::Pipeline::load(pipeline("projection_recordings.toml"))
        .unwrap()
        .network(&[])
        .unwrap();
    net.set_parameter("first_poisson", "rates", 200.0).unwrap();
    let (mut arriving, mut arrivals) = (0.0, 0);
    for _ in 0..5000 {
        net.step();
        let input = net
            .population("second_poisson")
            .unwrap()
            .variable("input")
            .unwrap()[0];
        assert_eq!(input, arriving);
        arrivals += usize::from(arriving != 0.0);
        let fired = !net
            .population("first_poisson")
            .unwrap()
            .last_spikes()
            .is_empty();
        let w = net.projections()[0].synapse_variable("w").unwrap()[0];
        arriving = if fired { w } else { 0.0 };
    }
    assert!(arrivals > 50, "{arrivals} spikes arrived");
}

#[test]
fn network_sweeps_run_in_parallel_with_each_run_as_its_own_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let swept = format!("{PROJECTION_PIPELINE}\n[sweep]\n\"Q.I\" = [0.5, 0.9, 1.3]\n");
    let path = dir.path().join("sweep.toml");
    std::fs::write(&path, &swept).unwrap();
    let out = dir.path().join("sweep");
    neurorec()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .arg("--jobs")
        .arg("3")
        .assert()
        .success();
    neurorec().arg("validate").arg(&out).assert().success();
    let archive = neurorec::Archive::open(&out).unwrap();
    for (run, value) in ["0.5", "0.9", "1.3"].into_iter().enumerate() {
        // The run equals the pipeline with that value, run alone.
        let single = dir.path().join(format!("single{run}.toml"));
        std::fs::write(
            &single,
            PROJECTION_PIPELINE.replace(
                "parameters = { I = 0.9 }",
                &format!("parameters = {{ I = {value} }}"),
            ),
        )
        .unwrap();
        let alone = dir.path().join(format!("alone{run}"));
        run_and_validate(&single, &alone);
        let alone = neurorec::Archive::open(&alone).unwrap();
        for set in 0..2 {
            let a = archive.recordings(run as u32, set).unwrap();
            let b = alone.recordings(0, set).unwrap();
            assert_eq!(a, b, "run {run} set {set}");
        }
    }
}
