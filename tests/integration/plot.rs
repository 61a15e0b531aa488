//! Figures drawn from the archive: the seed's six figures, every format in SVG, and every
//! validation error of a plan.

use std::path::Path;

use crate::common::{neurorec, run_command, run_pipeline};
use neurorec::archive::{Archive, ChunkRef};
use neurorec::plot::{plot, PlotOptions, PlotPlan};

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn the_seed_run_draws_its_six_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seed");
    let assert = run_command("monitor_recordings.toml", &out)
        .assert()
        .success();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(
        stderr.matches("WARNING PlotRecordings: my_pop1 does not contain any spikes in the given time interval.").count(),
        4,
        "{stderr}"
    );
    for name in [
        "monitor_recordings_1_chunk0.png",
        "monitor_recordings_1_chunk1.png",
        "monitor_recordings_1_chunk2.png",
        "monitor_recordings_2_chunk0.png",
        "monitor_recordings_2_chunk1.png",
        "monitor_recordings_3_chunk0.png",
    ] {
        let path = out.join("figures").join(name);
        assert_eq!(png_size(&path), (3840, 2880), "{name}");
        // A blank figure of this size compresses to a few kB; drawn ones are far larger.
        assert!(
            std::fs::metadata(&path).unwrap().len() > 100_000,
            "{name} looks blank"
        );
    }
}

/// The current sweep's archive in `out`, and run 3 (I_app 150) chunk 0 at 100 dpi.
fn sweep_archive(out: &Path) -> (Archive, PlotOptions) {
    run_pipeline("current_sweep.toml", out);
    let archive = Archive::open(out).unwrap();
    let options = PlotOptions {
        chunk: ChunkRef {
            run: 3,
            set: 0,
            chunk: 0,
        },
        time_lim: None,
        dpi: 100,
    };
    (archive, options)
}

fn plan(position: &[u32], compartment: &[&str], variable: &[&str], format: &[&str]) -> PlotPlan {
    PlotPlan {
        shape: (2, 3),
        position: position.to_vec(),
        compartment: compartment.iter().map(|s| s.to_string()).collect(),
        variable: variable.iter().map(|s| s.to_string()).collect(),
        format: format.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn every_format_draws_titles_and_labels_in_svg() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let (archive, options) = sweep_archive(&out);
    let svg = dir.path().join("all.svg");
    let p = plan(
        &[1, 2, 3, 4, 5, 6],
        &["exc"; 6],
        &["v", "v", "v", "spike", "spike", "spike"],
        &[
            "line",
            "line_mean",
            "matrix",
            "raster",
            "interspike",
            "mean",
        ],
    );
    let warnings = plot(&archive, &p, &options, &svg).unwrap();
    assert!(warnings.is_empty());
    let text = std::fs::read_to_string(&svg).unwrap();
    for needle in [
        "Variable v of exc (10)",
        "Spikes exc (10)",
        "time [ms]",
        "# neurons",
        "Interspike interval histogram exc (10)",
        "Interspike interval [ms]",
        "Probability",
        "Activity exc (10)",
        "Mean firing rate [Hz]",
        "Variable v of exc (10) [",
    ] {
        assert!(text.contains(needle), "{needle} missing from the SVG");
    }
    let p = plan(
        &[1, 6],
        &["exc", "exc"],
        &["v", "spike"],
        &["matrix_mean", "cv"],
    );
    plot(&archive, &p, &options, &dir.path().join("two.png")).unwrap();
    // The raster with the population rate on a second axis; an expression of variables.
    let p = plan(
        &[2, 4],
        &["exc", "exc"],
        &["spike", "(v - 10) * 2"],
        &["hybrid", "line"],
    );
    plot(&archive, &p, &options, &dir.path().join("hybrid.svg")).unwrap();
    let text = std::fs::read_to_string(dir.path().join("hybrid.svg")).unwrap();
    for needle in [
        "Activity exc (10)",
        "# neurons",
        "Mean firing rate [Hz]",
        "Variable (v - 10) * 2 of exc (10)",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from the hybrid SVG"
        );
    }
    // More samples than pixels: 500 samples on a figure of 128 x 96 pixels are drawn as a
    // min/max envelope of a few dozen columns, not 500 points per line.
    let tiny = PlotOptions {
        dpi: 10,
        ..options.clone()
    };
    let p = plan(&[1], &["exc"], &["v"], &["line_mean"]);
    plot(&archive, &p, &tiny, &dir.path().join("tiny.svg")).unwrap();
    let text = std::fs::read_to_string(dir.path().join("tiny.svg")).unwrap();
    // Every polyline: the data line (cut into pieces where it turns back, see
    // `draw_polyline`) and the axes and ticks (two points each).
    let counts: Vec<usize> = text
        .split("<polyline")
        .skip(1)
        .map(|p| {
            let points = p
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            points.split_whitespace().count()
        })
        .collect();
    let total: usize = counts.iter().sum();
    // At most a min and a max per pixel column, one shared point per cut, and the axes:
    // fewer points than the 500 samples, and more than a handful.
    assert!(
        total > 10 + 2 * 20 && total <= 3 * 128 + 100,
        "{total} points in {} polylines for 500 samples on 128 pixels",
        counts.len()
    );
    // The CLI draws the same from a plan file.
    let plan_file = dir.path().join("plan.toml");
    std::fs::write(&plan_file, "shape = [1, 2]\nposition = [1, 2]\ncompartment = [\"exc\", \"exc\"]\nvariable = [\"v\", \"spike\"]\nformat = [\"line\", \"raster\"]\n").unwrap();
    neurorec()
        .arg("plot")
        .arg(&out)
        .arg("--plan")
        .arg(&plan_file)
        .args([
            "--run",
            "2",
            "--time-lim",
            "100,300",
            "--dpi",
            "100",
            "--out",
        ])
        .arg(dir.path().join("cli.png"))
        .assert()
        .success();
    // 6.4 x 4.8 inches per subplot, as PlotRecordings: a 1 x 2 plan at dpi 100.
    assert_eq!(png_size(&dir.path().join("cli.png")), (1280, 480));
}

#[test]
fn invalid_plans_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let (archive, options) = sweep_archive(&out);
    let path = dir.path().join("x.png");
    let err = |p: PlotPlan, o: &PlotOptions| plot(&archive, &p, o, &path).unwrap_err().to_string();
    assert!(err(plan(&[7], &["exc"], &["v"], &["line"]), &options).contains("outside 1..6"));
    assert!(err(
        plan(&[1, 1], &["exc", "exc"], &["v", "v"], &["line", "line"]),
        &options
    )
    .contains("used twice"));
    assert!(err(plan(&[1], &["inh"], &["v"], &["line"]), &options)
        .contains("unknown compartment \"inh\""));
    assert!(err(plan(&[1], &["exc"], &["w"], &["line"]), &options)
        .contains("no recorded variable \"w\""));
    assert!(err(plan(&[1], &["exc"], &["v"], &["raster"]), &options).contains("not for variables"));
    assert!(err(plan(&[1], &["exc"], &["v - w*2"], &["line"]), &options)
        .contains("no recorded variable \"w\""));
    assert!(
        err(plan(&[1], &["exc"], &["v + spike"], &["line"]), &options)
            .contains("spike cannot be part of an expression")
    );
    assert!(err(plan(&[1], &["exc"], &["v +"], &["line"]), &options)
        .contains("at character 4: expected a number, a variable or '('"));
    assert!(err(
        plan(&[1], &["exc"], &["__import__('os')"], &["line"]),
        &options
    )
    .contains("is not allowed"));
    assert!(err(plan(&[1], &["exc"], &["spike"], &["line"]), &options).contains("not for spikes"));
    assert!(err(plan(&[1, 2], &["exc"], &["v"], &["line"]), &options).contains("same length"));
    let outside = PlotOptions {
        time_lim: Some((5000.0, 6000.0)),
        ..options.clone()
    };
    assert!(err(plan(&[1], &["exc"], &["v"], &["line"]), &outside).contains("outside the chunk"));
    let not_a_window = PlotOptions {
        time_lim: Some((f64::NAN, f64::NAN)),
        ..options.clone()
    };
    assert!(
        err(plan(&[1], &["exc"], &["v"], &["line"]), &not_a_window).contains("outside the chunk")
    );
    for dpi in [0, 100_000] {
        let o = PlotOptions {
            dpi,
            ..options.clone()
        };
        assert!(err(plan(&[1], &["exc"], &["v"], &["line"]), &o).contains("out of range"));
    }
    let mut huge = plan(&[1], &["exc"], &["v"], &["line"]);
    huge.shape = (65536, 65537);
    assert!(err(huge, &options).contains("too many subplots"));
    // The extension is matched in any case.
    plot(
        &archive,
        &plan(&[1], &["exc"], &["v"], &["line"]),
        &options,
        &dir.path().join("upper.PNG"),
    )
    .unwrap();
    let svg_path = dir.path().join("x.jpg");
    let e = plot(
        &archive,
        &plan(&[1], &["exc"], &["v"], &["line"]),
        &options,
        &svg_path,
    )
    .unwrap_err();
    assert!(e.to_string().contains(".png or .svg"), "{e}");
}

#[test]
fn a_window_inside_a_pause_says_not_recorded() {
    // The seed's chunk 0: my_pop1 is paused from 500 to 600 ms, my_pop2 records.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seed");
    crate::common::run_pipeline("monitor_recordings.toml", &out);
    let plan_file = dir.path().join("plan.toml");
    std::fs::write(&plan_file, "shape = [1, 3]\nposition = [1, 2, 3]\ncompartment = [\"my_pop1\", \"my_pop1\", \"my_pop2\"]\nvariable = [\"v\", \"spike\", \"v\"]\nformat = [\"line\", \"mean\", \"line\"]\ndpi = 50\n").unwrap();
    let o = neurorec()
        .arg("plot")
        .arg(&out)
        .arg("--plan")
        .arg(&plan_file)
        .args(["--time-lim", "520,580", "--out"])
        .arg(dir.path().join("pause.svg"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "my_pop1: not recorded in 520.0-580.0 ms (paused 500.0-600.0 ms)"
    );
    let svg = std::fs::read_to_string(dir.path().join("pause.svg")).unwrap();
    assert_eq!(svg.matches("not recorded in 520.0-580.0 ms").count(), 2);
    assert!(!svg.contains("does not contain any spikes"));
    assert!(svg.contains("Variable v of my_pop2 (1)"));
    // 1 x 3 subplots of 6.4 x 4.8 inches at dpi 50.
    assert!(
        svg.contains("width=\"960\" height=\"240\""),
        "{}",
        &svg[..200]
    );
}

#[test]
fn a_matrix_of_a_spiking_population_reaches_the_top_of_the_colormap() {
    // 50 Izhikevich2007 neurons driven from 0 to 147; a 1 x 1 matrix at dpi 100 bins 5500
    // samples into about 500 pixel columns: the spikes must stay yellow (viridis' top).
    let dir = tempfile::tempdir().unwrap();
    let currents: Vec<String> = (0..50).map(|i| format!("{}.0", i * 3)).collect();
    let text = format!(
        "dt = 0.1\n[populations.pop]\nsize = 50\nmodel = \"Izhikevich2007\"\nparameters = {{ I_app = [{}] }}\n[monitors]\npop = [\"v\"]\n[[schedule]]\nstart = \"all\"\n[[schedule]]\nsimulate = 550\n[[plots]]\nfile = \"m.png\"\nshape = [1, 1]\nposition = [1]\ncompartment = [\"pop\"]\nvariable = [\"v\"]\nformat = [\"matrix\"]\ndpi = 100\n",
        currents.join(", ")
    );
    let path = dir.path().join("m.toml");
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("m");
    crate::common::run_and_validate(&path, &out);
    let count = std::process::Command::new(crate::common::python())
        .arg("-c")
        .arg("import sys\nfrom PIL import Image\nim = Image.open(sys.argv[1]).convert('RGB')\nprint(sum(1 for (r, g, b) in im.getdata() if abs(r - 253) < 12 and abs(g - 231) < 12 and b < 70))")
        .arg(out.join("figures/m.png"))
        .output()
        .unwrap();
    assert!(
        count.status.success(),
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );
    let yellow: usize = String::from_utf8(count.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(yellow > 50, "{yellow} yellow pixels");
}

/// README's figure (`pipelines/nine_formats.toml`: 50 Izhikevich2007 neurons, recorded
/// 0-300 and 350-550 ms, every format in a 3 x 3 plan) at its dpi 100 and at 300, looked at
/// pixel by pixel (tests/python/check_figure.py): a box and labelled ticks in every subplot,
/// no two x tick labels touching, data inside the box (viridis' top colour in the matrix of
/// the spiking population, the red rate in hybrid), and nothing drawn over the pause.
#[test]
fn every_format_shows_what_it_must_in_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nine");
    run_pipeline("nine_formats.toml", &out);
    let formats = [
        "line",
        "line_mean",
        "matrix",
        "matrix_mean",
        "raster",
        "mean",
        "hybrid",
        "interspike",
        "cv",
    ];
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_figure.py");
    let check = |png: &Path| {
        let o = std::process::Command::new(crate::common::python())
            .arg(&script)
            .arg(png)
            .args(["3", "3", "0", "549.9", "300", "350"])
            .args(formats)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{}: {stdout}{}",
            png.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), 9);
    };
    let png = out.join("figures/nine_formats.png");
    assert_eq!(png_size(&png), (1920, 1440));
    check(&png);
    let plan_file = dir.path().join("plan.toml");
    let quoted: Vec<String> = formats.iter().map(|f| format!("\"{f}\"")).collect();
    std::fs::write(
        &plan_file,
        format!(
            "shape = [3, 3]\nposition = [1, 2, 3, 4, 5, 6, 7, 8, 9]\ncompartment = [{}]\nvariable = [\"v\", \"v\", \"v\", \"v\", \"spike\", \"spike\", \"spike\", \"spike\", \"spike\"]\nformat = [{}]\n",
            ["\"pop\""; 9].join(", "),
            quoted.join(", ")
        ),
    )
    .unwrap();
    let fine = dir.path().join("fine.png");
    neurorec()
        .arg("plot")
        .arg(&out)
        .arg("--plan")
        .arg(&plan_file)
        .args(["--dpi", "300", "--out"])
        .arg(&fine)
        .assert()
        .success();
    assert_eq!(png_size(&fine), (5760, 4320));
    check(&fine);
}

/// `plot --out` never replaces a file without `--force`, and a figure is written whole or
/// not at all: a drawing killed halfway leaves the earlier file as it was.
#[test]
fn a_figure_replaces_a_file_only_with_force_and_never_halfway() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nine");
    run_pipeline("nine_formats.toml", &out);
    let plan_file = dir.path().join("plan.toml");
    std::fs::write(&plan_file, "shape = [1, 2]\nposition = [1, 2]\ncompartment = [\"pop\", \"pop\"]\nvariable = [\"v\", \"spike\"]\nformat = [\"line\", \"raster\"]\n").unwrap();
    let fig = dir.path().join("fig.png");
    std::fs::write(&fig, b"not ours").unwrap();
    let o = neurorec()
        .arg("plot")
        .arg(&out)
        .arg("--plan")
        .arg(&plan_file)
        .args(["--dpi", "50", "--out"])
        .arg(&fig)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&fig).unwrap(), b"not ours");
    // A missing directory is named.
    let o = neurorec()
        .arg("plot")
        .arg(&out)
        .arg("--plan")
        .arg(&plan_file)
        .arg("--out")
        .arg(dir.path().join("missing/fig.png"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
    // Killed while drawing a large figure with --force: the old file stays whole, and only
    // a hidden temporary file may be left beside it.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("neurorec"))
        .arg("plot")
        .arg(&out)
        .arg("--plan")
        .arg(&plan_file)
        .args(["--dpi", "900", "--force", "--out"])
        .arg(&fig)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let finished = child.try_wait().unwrap().is_some();
    child.kill().ok();
    child.wait().unwrap();
    if !finished {
        assert_eq!(std::fs::read(&fig).unwrap(), b"not ours");
    }
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            ["nine", "plan.toml", "fig.png"].contains(&name.as_str())
                || name.starts_with(".fig.png.") && name.contains(".tmp."),
            "{name}"
        );
    }
    // With --force the figure replaces the file.
    neurorec()
        .arg("plot")
        .arg(&out)
        .arg("--plan")
        .arg(&plan_file)
        .args(["--dpi", "50", "--force", "--out"])
        .arg(&fig)
        .assert()
        .success();
    assert_eq!(png_size(&fig), (640, 240));
}
