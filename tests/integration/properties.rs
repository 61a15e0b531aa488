//! Property tests: for random schedules of simulate / start / pause / reset /
//! get_recordings_and_clear, what is recorded agrees with what the recording times claim.

use neurorec::schedule::Action;
use neurorec::{Network, NeuronModel, PopulationSpec};
use proptest::prelude::*;

use crate::common::run_in_memory;

/// A random schedule action on the compartments `a`, `b` and `c`.
pub fn action() -> impl Strategy<Value = Action> {
    let names = prop_oneof![
        Just(None),
        Just(Some(vec!["a".to_string()])),
        Just(Some(vec!["b".to_string()])),
        Just(Some(vec!["a".to_string(), "c".to_string()])),
    ];
    prop_oneof![
        4 => (0u32..60).prop_map(|steps| Action::Simulate { ms: steps as f64 * 0.1 }),
        2 => names.clone().prop_map(|compartments| Action::Start { compartments }),
        2 => names.prop_map(|compartments| Action::Pause { compartments }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(model, parameters)| Action::Reset { model, parameters }),
        1 => Just(Action::GetRecordingsAndClear),
        1 => (0.0f64..80.0).prop_map(|x| Action::SetParameter {
            population: "b".into(),
            parameter: "I_app".into(),
            value: neurorec::schedule::ParamValueDef::Scalar(x),
        }),
    ]
}

fn network() -> Network {
    let mut net = Network::new(0.1).unwrap();
    net.add_population(
        PopulationSpec::new("a", 2, NeuronModel::Izhikevich2007)
            .with_parameter("I_app", vec![0.0, 60.0]),
    )
    .unwrap();
    net.add_population(
        PopulationSpec::new("b", 3, NeuronModel::Izhikevich2007).with_parameter("I_app", 40.0),
    )
    .unwrap();
    net.add_population(
        PopulationSpec::new("c", 1, NeuronModel::Izhikevich2007).with_parameter("I_app", 100.0),
    )
    .unwrap();
    net
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn recorded_samples_match_idx_lims(actions in prop::collection::vec(action(), 1..40), period in 1i64..7) {
        let mut net = network();
        let key_a = format!("a;{}", period as f64 * 0.1);
        let dict: &[(&str, &[&str])] = &[(&key_a, &["v", "spike"]), ("b", &["v", "u", "I_v"]), ("c", &["spike"])];
        let sets = run_in_memory(&mut net, dict, &actions);
        for (recordings, times) in &sets {
            prop_assert_eq!(recordings.len(), times.nr_chunks());
            for (c, (rec, chunk)) in recordings.iter().zip(&times.chunks).enumerate() {
                prop_assert!(chunk.first_step <= chunk.end_step);
                for comp in &chunk.compartments {
                    let r = rec.compartment(&comp.name).unwrap();
                    // Each period's index range continues the previous one.
                    let mut next = 0;
                    for p in 0..comp.pairs.len() {
                        let (i0, i1) = times.idx_lims(Some(c), Some(&comp.name), Some(p)).unwrap();
                        prop_assert_eq!(i0, next);
                        prop_assert!(i1 >= i0 - 1);
                        next = i1 + 1;
                        let (s0, s1) = comp.pairs[p];
                        prop_assert!(chunk.first_step <= s0 && s0 < s1 && s1 <= chunk.end_step);
                    }
                    for (_, arr) in &r.variables {
                        prop_assert_eq!(arr.nrows() as i64, next, "{} chunk {}", comp.name, c);
                    }
                    // Every spike lies inside a recording period.
                    if let Some(spikes) = &r.spikes {
                        for steps in spikes {
                            for s in steps {
                                prop_assert!(comp.pairs.iter().any(|&(s0, s1)| s0 <= *s && *s < s1));
                            }
                        }
                    }
                }
            }
        }
    }
}
