//! The model library against the C++ ANNarchy generates: for every deterministic library
//! model, the JSON's `cpp` statements (tests/data/compneuropy_models.json) are put into a
//! C++ program that steps them as ANNarchy does (statements in order, consecutive ODEs as
//! a block, then a second pass for spike and reset), compiled with g++ and run; neurorec
//! runs the library's definition through a network. Every variable of every neuron at every
//! step, and every spike, must be the same to the bit.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

use neurorec::{Network, NeuronModel, ParamValue, PopulationSpec};

use crate::common::data;

const NEURONS: usize = 6;
const STEPS: usize = 3000;
const DT: f64 = 0.1;

/// One variable ANNarchy generates code for.
struct Var {
    name: String,
    /// `Some(rhs)` for an ODE (`double _x = rhs;`), else the assignment's right-hand side.
    ode: bool,
    rhs: String,
    init: f64,
    min: Option<String>,
    max: Option<String>,
}

/// What a test neuron gets: per-neuron parameter values and initial values.
struct Setup {
    parameters: BTreeMap<String, Vec<f64>>,
    initial: BTreeMap<String, Vec<f64>>,
}

fn library() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data("compneuropy_models.json")).unwrap())
        .unwrap()
}

fn variables(g: &serde_json::Value) -> Vec<Var> {
    g["variables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| !v["cpp"].as_str().unwrap().is_empty())
        .map(|v| {
            let cpp = v["cpp"].as_str().unwrap().trim().trim_end_matches(';');
            let name = v["name"].as_str().unwrap().to_string();
            let (ode, rhs) = match cpp.strip_prefix("double _") {
                Some(rest) => (true, rest.split_once(" = ").unwrap().1),
                None => (false, cpp.split_once(" = ").unwrap().1),
            };
            let bound = |k: &str| v["bounds"][k].as_str().map(str::to_string);
            Var {
                name,
                ode,
                rhs: rhs.to_string(),
                init: v["init"].as_str().unwrap().parse().unwrap(),
                min: bound("min"),
                max: bound("max"),
            }
        })
        .collect()
}

/// Inputs that make the neurons of a model differ and do something.
fn setup(g: &serde_json::Value, vars: &[Var]) -> Setup {
    let mut parameters = BTreeMap::new();
    let mut initial = BTreeMap::new();
    let local = |name: &str| {
        g["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == name && p["locality"] == "local")
    };
    if local("I_app") {
        parameters.insert("I_app".into(), vec![0.0, 10.0, 30.0, 60.0, 100.0, 200.0]);
    }
    if local("neuron_id") {
        parameters.insert("neuron_id".into(), (0..NEURONS).map(|i| i as f64).collect());
    }
    let var = |name: &str| vars.iter().find(|v| v.name == name);
    if let Some(v) = var("v") {
        let offsets = [0.0, 5.0, 10.0, 20.0, 30.0, -10.0];
        initial.insert("v".into(), offsets.iter().map(|o| v.init + o).collect());
    }
    if var("g_ampa").is_some() {
        initial.insert("g_ampa".into(), vec![0.0, 0.2, 0.5, 1.5, 3.0, 0.0]);
    }
    if var("g_gaba").is_some() {
        initial.insert("g_gaba".into(), vec![0.0, 0.0, 0.2, 0.0, 1.0, 0.5]);
    }
    Setup {
        parameters,
        initial,
    }
}

/// A C++ program stepping the model ANNarchy's way and writing, after every step, every
/// variable of every neuron (as `vars` lists them) and then the spikes (1.0 or 0.0), as
/// little-endian doubles on standard output.
fn cpp_program(g: &serde_json::Value, vars: &[Var], setup: &Setup) -> String {
    let mut c = String::from(
        "#include <cmath>\n#include <cstdio>\nusing namespace std;\n\
         static inline double positive(double x) { return x > 0.0 ? x : 0.0; }\n\
         static inline double negative(double x) { return x < 0.0 ? x : 0.0; }\n\
         template <typename T> static inline T ite(bool c, T a, T b) { return c ? a : b; }\n",
    );
    writeln!(c, "const int N = {NEURONS}; const double dt = {DT:?};").unwrap();
    let params: Vec<(String, String)> = g["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["init"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, init) in &params {
        match setup.parameters.get(name) {
            Some(values) => writeln!(c, "double P_{name}[N] = {};", list(values)).unwrap(),
            None => writeln!(
                c,
                "double P_{name}[N] = {};",
                list(&[init.parse().unwrap(); NEURONS])
            )
            .unwrap(),
        }
    }
    for v in vars {
        let init = setup
            .initial
            .get(&v.name)
            .cloned()
            .unwrap_or_else(|| vec![v.init; NEURONS]);
        writeln!(c, "double V_{}[N] = {};", v.name, list(&init)).unwrap();
    }
    let load = |c: &mut String| {
        for (name, _) in &params {
            writeln!(c, "    double {name} = P_{name}[i];").unwrap();
        }
        for v in vars {
            writeln!(c, "    double {0} = V_{0}[i];", v.name).unwrap();
        }
    };
    let store = |c: &mut String| {
        for v in vars {
            writeln!(c, "    V_{0}[i] = {0};", v.name).unwrap();
        }
    };
    let bounds = |c: &mut String, v: &Var| {
        if let Some(m) = &v.min {
            writeln!(c, "    if ({0} < {m}) {0} = {m};", v.name).unwrap();
        }
        if let Some(m) = &v.max {
            writeln!(c, "    if ({0} > {m}) {0} = {m};", v.name).unwrap();
        }
    };
    c.push_str("int main() {\n  double spiked[N];\n  for (long t = 0; t < ");
    writeln!(c, "{STEPS}; t++) {{").unwrap();
    c.push_str("   for (int i = 0; i < N; i++) {\n");
    load(&mut c);
    let mut block: Vec<&Var> = Vec::new();
    let flush = |c: &mut String, block: &mut Vec<&Var>| {
        for v in block.drain(..) {
            writeln!(c, "    {0} += dt*_{0};", v.name).unwrap();
            bounds(c, v);
        }
    };
    for v in vars {
        if v.ode {
            writeln!(c, "    double _{} = {};", v.name, v.rhs).unwrap();
            block.push(v);
        } else {
            flush(&mut c, &mut block);
            writeln!(c, "    {} = {};", v.name, v.rhs).unwrap();
            bounds(&mut c, v);
        }
    }
    flush(&mut c, &mut block);
    store(&mut c);
    c.push_str("   }\n   for (int i = 0; i < N; i++) {\n    spiked[i] = 0.0;\n");
    if let Some(spike) = g["spike_cpp"].as_str() {
        load(&mut c);
        writeln!(c, "    if ({spike}) {{").unwrap();
        for r in g["reset_cpp"].as_array().unwrap() {
            writeln!(c, "     {}", r.as_str().unwrap()).unwrap();
        }
        c.push_str("     spiked[i] = 1.0;\n    }\n");
        store(&mut c);
    }
    c.push_str("   }\n");
    for v in vars {
        writeln!(c, "   fwrite(V_{}, sizeof(double), N, stdout);", v.name).unwrap();
    }
    c.push_str("   fwrite(spiked, sizeof(double), N, stdout);\n  }\n  return 0;\n}\n");
    c
}

fn list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|x| format!("{x:?}")).collect();
    format!("{{{}}}", items.join(", "))
}

/// Compiles and runs a C++ program; its standard output as doubles.
fn run_cpp(dir: &std::path::Path, name: &str, program: &str) -> Vec<f64> {
    let src = dir.join(format!("{name}.cpp"));
    let exe = dir.join(name);
    std::fs::write(&src, program).unwrap();
    let status = Command::new("g++")
        .args(["-O2", "-ffp-contract=off", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("g++ runs (the test compiles ANNarchy's C++ statements)");
    assert!(status.success(), "g++ failed on {}", src.display());
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    out.stdout
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// neurorec's run of the library model: the same layout as the C++ program's output.
fn run_neurorec(model: NeuronModel, vars: &[Var], setup: &Setup) -> Vec<f64> {
    let name = model.name().to_string();
    let mut spec = PopulationSpec::new("p", NEURONS, model);
    for (k, v) in &setup.parameters {
        spec = spec.with_parameter(k, ParamValue::PerNeuron(v.clone()));
    }
    for (k, v) in &setup.initial {
        spec = spec.with_initial(k, ParamValue::PerNeuron(v.clone()));
    }
    let mut net = Network::new(DT).unwrap();
    net.add_population(spec).unwrap();
    let mut out = Vec::with_capacity(STEPS * (vars.len() + 1) * NEURONS);
    for _ in 0..STEPS {
        net.step();
        let pop = net.population("p").unwrap();
        for v in vars {
            let values = pop
                .variable(&v.name)
                .unwrap_or_else(|| panic!("{name} has no variable {}", v.name));
            out.extend_from_slice(values);
        }
        let mut spiked = [0.0; NEURONS];
        for &i in pop.last_spikes() {
            spiked[i as usize] = 1.0;
        }
        out.extend_from_slice(&spiked);
    }
    out
}

#[test]
fn deterministic_library_models_equal_annarchys_cpp_to_the_bit() {
    let lib = library();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = Vec::new();
    for (name, m) in lib["neurons"].as_object().unwrap() {
        let g = &m["generated"];
        if !g["random_distributions"].as_array().unwrap().is_empty() {
            continue;
        }
        let vars = variables(g);
        let setup = setup(g, &vars);
        let expected = run_cpp(dir.path(), name, &cpp_program(g, &vars, &setup));
        // Izhikevich2007 runs on the built-in kernel by name; its library equations run
        // through the generic path.
        let mut models = vec![NeuronModel::from_name(name).unwrap()];
        if let NeuronModel::Izhikevich2007 = models[0] {
            let c = neurorec::model::library::compiled(name).unwrap();
            models.push(NeuronModel::Equations(c));
        }
        for model in models {
            compare(name, &vars, &expected, &run_neurorec(model, &vars, &setup));
        }
        checked.push(name.clone());
    }
    // Every deterministic model of the library was compared.
    assert_eq!(checked.len(), 11, "{checked:?}");
}

/// Compares neurorec's values with the C++ program's, bit for bit.
fn compare(name: &str, vars: &[Var], expected: &[f64], got: &[f64]) {
    assert_eq!(expected.len(), got.len(), "{name}");
    let row = (vars.len() + 1) * NEURONS;
    let mut spikes = 0;
    for (k, (e, x)) in expected.iter().zip(got).enumerate() {
        let (step, within) = (k / row, k % row);
        let (var, neuron) = (within / NEURONS, within % NEURONS);
        let what = vars.get(var).map_or("spike", |v| v.name.as_str());
        // NaN's sign and payload are not numbers (the C++ and Rust NaN differ in sign).
        assert!(
            e.to_bits() == x.to_bits() || e.is_nan() && x.is_nan(),
            "{name}: {what} of neuron {neuron} after step {step}: C++ {e:?}, neurorec {x:?}"
        );
        if var == vars.len() {
            spikes += usize::from(*e == 1.0);
        }
    }
    println!("{name}: {spikes} spikes");
}
