//! The model language on CompNeuroPy's whole library: every one of its 28 neuron models, as
//! CompNeuroPy defines them (tests/data/compneuropy_models.json), parses and checks, with
//! the variables ANNarchy finds in them.

use neurorec::model::{NeuronDef, NeuronText};

use crate::common::data;

fn library() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data("compneuropy_models.json")).unwrap())
        .unwrap()
}

fn text<'a>(m: &'a serde_json::Value, key: &str) -> &'a str {
    m[key].as_str().unwrap_or("")
}

/// A library neuron as CompNeuroPy defines it, parsed and checked.
fn parse(name: &str, m: &serde_json::Value) -> Result<NeuronDef, neurorec::model::ModelError> {
    NeuronDef::parse(
        name,
        &NeuronText {
            parameters: text(m, "parameters"),
            equations: text(m, "equations"),
            spike: text(m, "spike"),
            reset: text(m, "reset"),
            functions: text(m, "functions"),
            refractory: m["refractory"].as_f64(),
        },
    )
}

#[test]
fn every_library_neuron_parses_and_checks() {
    let lib = library();
    let neurons = lib["neurons"].as_object().unwrap();
    assert_eq!(neurons.len(), 28);
    for (name, m) in neurons {
        let def = parse(name, m).unwrap_or_else(|e| panic!("{e}"));
        // Every variable ANNarchy generates code for is one the definition sets (ANNarchy
        // also lists `r`, the rate every neuron has, and targets it adds).
        let generated = m["generated"]["variables"].as_array().unwrap();
        for v in generated {
            let v = v["name"].as_str().unwrap();
            let eq = generated
                .iter()
                .find(|g| g["name"] == v)
                .map(|g| g["eq"].as_str().unwrap_or(""))
                .unwrap_or("");
            if !eq.is_empty() {
                assert!(
                    def.variables().contains(&v),
                    "{name}: {v} not in {:?}",
                    def.variables()
                );
            }
        }
        // The same parameters, with their defaults.
        for p in m["generated"]["parameters"].as_array().unwrap() {
            let pname = p["name"].as_str().unwrap();
            let found = def.parameters.iter().find(|q| q.name == pname);
            let found = found.unwrap_or_else(|| panic!("{name}: parameter {pname}"));
            let init: f64 = p["init"].as_str().unwrap().parse().unwrap();
            assert_eq!(found.value, init, "{name}.{pname}");
            assert_eq!(
                found.population,
                p["locality"] == "global",
                "{name}.{pname}"
            );
        }
    }
}

/// The error for a LIF whose `part` is replaced by `text`.
fn lif_error(part: &str, text: &str) -> String {
    let mut lif = NeuronText {
        parameters: "tau = 20.0 : population\nEl = -60.0 : population\nVt = -50.0 : population\nVr = -60.0 : population\nI = 20.0",
        equations: "tau * dv/dt = El - v + I",
        spike: "v > Vt",
        reset: "v = Vr",
        functions: "",
        refractory: Some(5.0),
    };
    match part {
        "parameters" => lif.parameters = text,
        "equations" => lif.equations = text,
        "spike" => lif.spike = text,
        "reset" => lif.reset = text,
        _ => lif.functions = text,
    }
    NeuronDef::parse("LIF", &lif).unwrap_err().to_string()
}

#[test]
fn model_errors_name_model_part_line_and_symbol() {
    let cases = [
        (
            "model_unknown_name",
            "equations",
            "I_syn = g * (v - E)\ntau * dv/dt = El - v + I_syn",
        ),
        ("model_unbalanced", "equations", "tau * dv/dt = (El - v + I"),
        (
            "model_unknown_flag",
            "equations",
            "tau * dv/dt = El - v + I : init = -60, mni = -90",
        ),
        ("model_ode_in_reset", "reset", "v = Vr\ndu/dt = 1"),
        (
            "model_unknown_function",
            "equations",
            "tau * dv/dt = El - v + sigmoid(I)",
        ),
        (
            "model_function_cycle",
            "functions",
            "f(x) = g(x) + 1\ng(x) = 2 * f(x)",
        ),
        (
            "model_parameter_twice",
            "parameters",
            "tau = 20.0\ntau = 10.0",
        ),
        ("model_parameter_not_a_number", "parameters", "tau = fast"),
        ("model_two_spike_conditions", "spike", "v > Vt\nv > -40"),
    ];
    for (name, part, text) in cases {
        insta::assert_snapshot!(name, lif_error(part, text));
    }
}

#[test]
fn every_library_neuron_runs() {
    use neurorec::model::eval::Compiled;
    let lib = library();
    let mut ran = Vec::new();
    for (name, m) in lib["neurons"].as_object().unwrap() {
        let def = parse(name, m).unwrap();
        let model = Compiled::new(&def).unwrap_or_else(|e| panic!("{e}"));
        let mut state = model.state(10);
        state.stream = neurorec::model::eval::Stream { seed: 1, stream: 0 };
        let mut spikes = Vec::new();
        for step in 0..2000 {
            model.step(&mut state, step as i64, 0.1, &mut spikes);
        }
        for (v, values) in model.variables.iter().zip(&state.vars) {
            assert!(
                values.iter().all(|x| x.is_finite()),
                "{name}.{v}: {values:?}"
            );
        }
        ran.push(name.clone());
    }
    assert_eq!(ran.len(), 28, "{ran:?}");
}
