//! The seed example against what real ANNarchy + CompNeuroPy recorded
//! (`tests/data/seed_reference.json`, a copy of `shared/reference/seed_example`).

use neurorec::report::{all_recordings_info, CompartmentShape};
use neurorec::schedule::seed_schedule;
use serde_json::Value;

use crate::common::{data, run_in_memory, seed_network};

const DICT: &[(&str, &[&str])] = &[("my_pop1;2", &["v", "spike"]), ("my_pop2", &["v"])];

fn reference() -> Value {
    let text = std::fs::read_to_string(data("seed_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn seed_matches_annarchy_and_compneuropy() {
    let reference = reference();
    let mut net = seed_network();
    let sets = run_in_memory(&mut net, DICT, &seed_schedule());
    let ref_sets = reference["sets"].as_array().unwrap();
    assert_eq!(sets.len(), ref_sets.len());
    let mut compared_values = 0usize;
    for (s, ((recordings, times), ref_set)) in sets.iter().zip(ref_sets).enumerate() {
        // Recording times, exactly (JSON numbers compare as f64 and i64).
        assert_eq!(times.all_json(), ref_set["times"], "times of set {s}");
        let ref_chunks = ref_set["chunks"].as_array().unwrap();
        assert_eq!(recordings.len(), ref_chunks.len(), "chunks of set {s}");
        for (c, (rec, ref_chunk)) in recordings.iter().zip(ref_chunks).enumerate() {
            assert_eq!(rec.dt_ms, reference["dt"].as_f64().unwrap());
            for (name, ref_comp) in ref_chunk.as_object().unwrap() {
                let comp = rec.compartment(name).unwrap();
                assert_eq!(
                    comp.period_ms,
                    ref_comp["period_ms"].as_f64().unwrap(),
                    "{s}/{c}/{name}"
                );
                for (p, values) in ref_comp["parameters"].as_object().unwrap() {
                    let expected: Vec<f64> = values
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect();
                    assert_eq!(
                        comp.parameter(p).unwrap(),
                        &expected[..],
                        "parameter {p} of {s}/{c}/{name}"
                    );
                }
                for (var, rows) in ref_comp["variables"].as_object().unwrap() {
                    let arr = comp.variable(var).unwrap();
                    let rows = rows.as_array().unwrap();
                    assert_eq!(arr.nrows(), rows.len(), "{s}/{c}/{name};{var} samples");
                    for (i, row) in rows.iter().enumerate() {
                        let row = row.as_array().unwrap();
                        assert_eq!(arr.ncols(), row.len());
                        for (j, x) in row.iter().enumerate() {
                            let expected = x.as_f64().unwrap();
                            let got = arr[[i, j]];
                            assert!(
                                (got - expected).abs() <= 1e-8,
                                "{s}/{c}/{name};{var}[{i},{j}]: {got} vs {expected}"
                            );
                            compared_values += 1;
                        }
                    }
                }
                match &ref_comp["spikes"] {
                    Value::Null => {
                        assert!(comp.spikes.is_none(), "{s}/{c}/{name} records no spikes")
                    }
                    spikes => {
                        let got = comp.spikes.as_ref().unwrap();
                        let spikes = spikes.as_object().unwrap();
                        assert_eq!(got.len(), spikes.len());
                        for (neuron, steps) in spikes {
                            let expected: Vec<i64> = steps
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|x| x.as_i64().unwrap())
                                .collect();
                            assert_eq!(
                                got[neuron.parse::<usize>().unwrap()],
                                expected,
                                "spikes {s}/{c}/{name}"
                            );
                        }
                    }
                }
            }
        }
    }
    assert_eq!(
        compared_values,
        200 + 4000 + 350 + 7000 + 350 + 7000 + 50 + 1000 + 50 + 1000 + 50 + 1000
    );
}

#[test]
fn seed_info_block_is_byte_identical() {
    let mut net = seed_network();
    let sets = run_in_memory(&mut net, DICT, &seed_schedule());
    let shapes = ["my_pop1", "my_pop2"].map(|n| CompartmentShape {
        name: n.into(),
        neurons: 1,
        has_state: true,
    });
    let times: Vec<_> = sets.into_iter().map(|(_, t)| t).collect();
    let expected = std::fs::read_to_string(data("expected_info_block.txt")).unwrap();
    assert_eq!(all_recordings_info(&times, &shapes), expected);
}

#[test]
fn combine_periods_and_chunks_on_the_seed() {
    use neurorec::{CombineMode, Fill};
    let mut net = seed_network();
    let sets = run_in_memory(&mut net, DICT, &seed_schedule());
    let (rec, times) = &sets[0];
    // my_pop1, chunk 0: samples every 2 ms from 100 to 698 ms, pauses filled with NaN.
    let (t, d) = times
        .combine_periods(rec, "my_pop1;v", Some(0), Fill::Nan)
        .unwrap();
    assert_eq!(t.len(), 300);
    assert_eq!((t[0], t[299]), (100.0, 698.0));
    assert_eq!(d.iter().filter(|x| x.is_nan()).count(), 100);
    assert!(d[[50, 0]].is_nan() && !d[[49, 0]].is_nan() && !d[[100, 0]].is_nan());
    let (t, d) = times
        .combine_periods(rec, "my_pop1;v", Some(0), Fill::None)
        .unwrap();
    assert_eq!((t.len(), d.nrows()), (200, 200));
    assert_eq!(&d, rec[0].get("my_pop1;v").unwrap());
    let (_, d) = times
        .combine_periods(rec, "my_pop1;v", Some(0), Fill::Interpolate)
        .unwrap();
    assert!(d.iter().all(|x| x.is_finite()));
    let (_, d) = times
        .combine_periods(rec, "my_pop1;v", Some(0), Fill::Value(7.0))
        .unwrap();
    assert_eq!(d.iter().filter(|x| **x == 7.0).count(), 100);

    // Consecutive: chunk 1 (reset without model) keeps its absolute times, chunk 2 (reset
    // with model) starts where chunk 1's simulation ended (1500 ms).
    let (t, d) = times
        .combine_chunks(rec, "my_pop2;v", CombineMode::Consecutive)
        .unwrap();
    assert_eq!(t.len(), 22000);
    assert_eq!((t[0], t[21999]), (100.0, 2299.9));
    assert_eq!(d.iter().filter(|x| !x.is_nan()).count(), 18000);
    assert!(t.windows(2).all(|w| w[1] > w[0]));
    // Sequential: every chunk keeps its own times; the jump back is not filled.
    let (t, _) = times
        .combine_chunks(rec, "my_pop2;v", CombineMode::Sequential)
        .unwrap();
    assert_eq!(t.len(), 21000);
    assert_eq!(t[14000], 100.0);
    assert!(matches!(
        times.combine_chunks(rec, "my_pop1;spike", CombineMode::Sequential),
        Err(neurorec::TimesError::SpikesNotCombinable { .. })
    ));
    assert!(times
        .combine_chunks(rec, "my_pop1;w", CombineMode::Sequential)
        .is_err());
    assert!(times
        .combine_chunks(rec, "my_pop1", CombineMode::Sequential)
        .is_err());
    assert!(times
        .combine_periods(rec, "my_pop1;v", Some(3), Fill::Nan)
        .is_err());
}
