//! The seed example (CompNeuroPy's `monitor_recordings.py`) statement for statement:
//! two Izhikevich2007 populations, monitors started and paused, chunks made by resets, three
//! sets of recordings, and the "ALL RECORDINGS INFO" block printed as the Python prints it.
//!
//! Run: `cargo run --release --example monitor_recordings`

use neurorec::report::{all_recordings_info, CompartmentShape};
use neurorec::{Monitors, Network, NeuronModel, PopulationSpec, ResetOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // setup ANNarchy timestep
    let mut net = Network::new(0.1)?;

    // two populations, each of 1 neuron
    net.add_population(
        PopulationSpec::new("my_pop1", 1, NeuronModel::Izhikevich2007).with_parameter("I_app", 0.0),
    )?;
    net.add_population(
        PopulationSpec::new("my_pop2", 1, NeuronModel::Izhikevich2007)
            .with_parameter("I_app", 52.0),
    )?;

    // my_pop1 every 2 ms, my_pop2 every step
    let mut mon = Monitors::new(&net, &[("my_pop1;2", &["v", "spike"]), ("my_pop2", &["v"])])?;
    let keep_time = ResetOptions {
        model: false,
        parameters: true,
    };
    let reset_model = ResetOptions::default();

    // start/pause all monitors
    mon.simulate(&mut net, 100.0)?; // [0, 100]
    mon.start(&net, None)?;
    mon.simulate(&mut net, 100.0)?; // [100, 200]
    mon.pause(&net, None)?;
    mon.simulate(&mut net, 100.0)?; // [200, 300]

    // start single monitors
    mon.start(&net, Some(&["my_pop1"]))?;
    mon.simulate(&mut net, 100.0)?; // [300, 400]
    mon.start(&net, None)?;
    mon.simulate(&mut net, 100.0)?; // [400, 500]

    // pause single monitors
    mon.pause(&net, Some(&["my_pop1"]))?;
    mon.simulate(&mut net, 100.0)?; // [500, 600]
    mon.start(&net, None)?;
    mon.simulate(&mut net, 100.0)?; // [600, 700]

    // chunk by reset WITHOUT model: time continues at 700 ms
    mon.reset(&mut net, keep_time)?;
    mon.pause(&net, None)?;
    mon.simulate(&mut net, 100.0)?; // [700, 800]
    mon.start(&net, None)?;
    mon.simulate(&mut net, 700.0)?; // [800, 1500]

    // chunk by reset WITH model: time restarts at 0 ms
    mon.reset(&mut net, reset_model)?;
    mon.pause(&net, None)?;
    mon.simulate(&mut net, 100.0)?; // [0, 100]
    mon.start(&net, None)?;
    mon.simulate(&mut net, 700.0)?; // [100, 800]

    // recordings1: 3 chunks
    let (recordings1, recording_times1) = mon.get_recordings_and_clear(&net)?;

    // new set, monitors not started; time continues at 800 ms
    mon.simulate(&mut net, 100.0)?; // [800, 900]
    mon.start(&net, None)?;
    mon.simulate(&mut net, 100.0)?; // [900, 1000]
    mon.reset(&mut net, reset_model)?;
    mon.simulate(&mut net, 100.0)?; // [0, 100]

    // recordings2: 2 chunks
    let (recordings2, recording_times2) = mon.get_recordings_and_clear(&net)?;

    // start, then reset the model: time restarts at 0 ms
    mon.start(&net, None)?;
    mon.reset(&mut net, reset_model)?;
    mon.simulate(&mut net, 100.0)?; // [0, 100]

    // recordings3: 1 chunk, got without clearing
    let recordings3 = mon.get_recordings(&net);
    let recording_times3 = mon.get_recording_times(&net);

    let shapes: Vec<CompartmentShape> = mon
        .compartments()
        .into_iter()
        .map(|c| CompartmentShape {
            name: c.name.clone(),
            neurons: c.size,
            has_state: !c.variables.is_empty(),
        })
        .collect();
    print!(
        "{}",
        all_recordings_info(
            &[recording_times1, recording_times2, recording_times3],
            &shapes
        )
    );
    // The arrays themselves agree with the printed sizes.
    for (set, recordings) in [&recordings1, &recordings2, &recordings3]
        .into_iter()
        .enumerate()
    {
        for (chunk, rec) in recordings.iter().enumerate() {
            for key in ["my_pop1;v", "my_pop2;v"] {
                let shape = rec.get(key).map(|a| a.dim());
                debug_assert!(shape.is_some(), "set {set} chunk {chunk} lacks {key}");
            }
        }
    }
    Ok(())
}
