//! Archive trust (what people do to archives): two writers at once, `--force` next to a
//! user's files, kills at random moments read by every reader, a full disk, damaged and
//! stray files, unbounded windows and sizes. Each test does the risky thing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use neurorec::archive::Archive;

use crate::common::{neurorec, pipeline, python, run_pipeline};

/// Writes `text` as a pipeline file in `dir`; returns its path.
fn write_pipeline(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A pipeline of `chunks` chunks of 20 ms of 400 neurons recording v and spikes.
fn chunky(chunks: usize) -> String {
    let mut text = String::from(
        "dt = 0.1\n[populations.pop]\nsize = 400\nparameters = { I_app = 60.0 }\n[monitors]\npop = [\"v\", \"spike\"]\n[[schedule]]\nstart = \"all\"\n",
    );
    for _ in 0..chunks {
        text.push_str("[[schedule]]\nsimulate = 20\n[[schedule]]\nreset = { model = false }\n");
    }
    text
}

fn run_cmd(pipeline: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("neurorec"));
    cmd.arg("run")
        .arg(pipeline)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// `neurorec validate DIR`: its exit code and stdout.
fn validate(dir: &Path) -> (i32, String) {
    let out = neurorec().arg("validate").arg(dir).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn two_writers_never_share_an_archive() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), "p.toml", &chunky(10));
    for (trial, force) in [false, false, false, true, true, true]
        .into_iter()
        .enumerate()
    {
        let out = dir.path().join(format!("out{trial}"));
        let spawn = || {
            let mut cmd = run_cmd(&p, &out);
            if force {
                cmd.arg("--force");
            }
            cmd.spawn().unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let ok = [a.status.success(), b.status.success()];
        assert!(
            ok.iter().any(|x| *x),
            "one of them writes: {}",
            stderr_of(&a)
        );
        for o in [&a, &b] {
            if !o.status.success() {
                let e = stderr_of(o);
                assert!(
                    e.contains("is being written by") || e.contains("already holds"),
                    "{e}"
                );
            }
        }
        if !force {
            assert!(!(ok[0] && ok[1]), "without --force only one writes");
        }
        assert_eq!(validate(&out).0, 0, "trial {trial}: {}", validate(&out).1);
    }
}

#[test]
fn force_replaces_only_what_the_manifest_lists() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // The seed pipeline (with figures), then a different pipeline with --force.
    run_pipeline("monitor_recordings.toml", &out);
    assert!(out.join("figures").read_dir().unwrap().count() > 0);
    std::fs::write(out.join("my_pop1/notes.txt"), "mine").unwrap();
    std::fs::write(out.join("figures/mine.png"), "mine").unwrap();
    let p = write_pipeline(dir.path(), "p.toml", &chunky(2));
    let run = || run_cmd(&p, &out).arg("--force").output().unwrap();
    let done = run();
    assert!(done.status.success(), "{}", stderr_of(&done));
    // Nothing of the previous pipeline stays, the user's files do.
    assert!(!out.join("my_pop1/state").exists());
    assert!(!out.join("my_pop2").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("my_pop1/notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("figures/mine.png")).unwrap(),
        "mine"
    );
    let names: Vec<String> = std::fs::read_dir(out.join("figures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["mine.png"], "the seed's figures are gone");
    assert_eq!(validate(&out).0, 0);
    // A file in the way (where the run writes, listed by no manifest) is refused, with its
    // name, and nothing is deleted.
    let stray = out.join("pop/state/run=0/set=0/chunk=7/x.parquet");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, "not neurorec's").unwrap();
    let refused = run();
    assert!(!refused.status.success());
    assert!(
        stderr_of(&refused).contains("chunk=7/x.parquet"),
        "{}",
        stderr_of(&refused)
    );
    assert!(
        stray.exists()
            && out
                .join("pop/state/run=0/set=0/chunk=0/part-0.parquet")
                .exists()
    );
}

/// Runs the pipeline `p` into `out` without and with `--force`: both are refused with
/// `expect` in the error.
fn refused_with_and_without_force(p: &Path, out: &Path, expect: &str) {
    for force in [false, true] {
        let mut cmd = run_cmd(p, out);
        if force {
            cmd.arg("--force");
        }
        let o = cmd.output().unwrap();
        assert!(!o.status.success());
        assert!(stderr_of(&o).contains(expect), "{}", stderr_of(&o));
    }
}

#[test]
fn unreadable_manifests_and_mixed_archives_are_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), "p.toml", &chunky(1));
    // A user's manifest.json (not neurorec's), and a truncated one.
    for text in [
        "{\"my\": \"notes\"}",
        "{\"format_version\": 1, \"tool\": \"neuro",
    ] {
        let out = dir.path().join("user");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("manifest.json"), text).unwrap();
        refused_with_and_without_force(&p, &out, "cannot be read");
        assert_eq!(
            std::fs::read_to_string(out.join("manifest.json")).unwrap(),
            text
        );
    }
    // A sweep into a single run's archive, and a single run into a sweep's.
    let single = dir.path().join("single");
    assert!(run_cmd(&p, &single).output().unwrap().status.success());
    let sweep = neurorec()
        .arg("run")
        .arg(pipeline("current_sweep.toml"))
        .arg("--out")
        .arg(&single)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(!sweep.status.success());
    assert!(
        stderr_of(&sweep).contains("single run"),
        "{}",
        stderr_of(&sweep)
    );
    assert!(!single.join("runs.parquet").exists());
    assert_eq!(validate(&single).0, 0);
    let swept = dir.path().join("swept");
    run_pipeline("current_sweep.toml", &swept);
    refused_with_and_without_force(&p, &swept, "runs of a sweep");
    // A sweep with one shard of two written is unfinished: its table lists runs without
    // manifests.
    let half = dir.path().join("half");
    neurorec()
        .arg("run")
        .arg(pipeline("current_sweep.toml"))
        .arg("--out")
        .arg(&half)
        .args(["--quiet", "--shard", "0/2"])
        .assert()
        .success();
    let (code, text) = validate(&half);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("run 1 of the sweep has no manifest"),
        "{text}"
    );
    assert_eq!(validate(&swept).0, 0);
    // A smaller sweep replacing it with --force leaves none of the earlier runs.
    let smaller = write_pipeline(
        dir.path(),
        "smaller.toml",
        &std::fs::read_to_string(pipeline("current_sweep.toml"))
            .unwrap()
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("\"exc.I_app\"") {
                    "\"exc.I_app\" = [10.0, 30.0]"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    neurorec()
        .arg("run")
        .arg(&smaller)
        .arg("--out")
        .arg(&swept)
        .args(["--quiet", "--force"])
        .assert()
        .success();
    let archive = Archive::open(&swept).unwrap();
    assert_eq!(archive.runs(), vec![0, 1]);
    assert!(!swept.join("manifest-run=2.json").exists());
    assert_eq!(validate(&swept).0, 0);
}

/// Rows of the complete files in place, per compartment and kind (-1: none in place).
fn rows_in_place(dir: &Path) -> serde_json::Value {
    let archive = match Archive::open(dir) {
        Ok(a) => a,
        Err(_) => return serde_json::json!({"pop": {"state": -1, "spikes": -1}}),
    };
    let mut out = serde_json::Map::new();
    for kind in ["state", "spikes"] {
        let mut rows: i64 = -1;
        for c in archive.manifest().chunks.iter() {
            if c.status != neurorec::archive::ChunkStatus::Complete {
                continue;
            }
            for f in c.files.iter().filter(|f| f.kind.as_str() == kind) {
                if dir.join(&f.path).exists() {
                    rows = rows.max(0) + f.rows as i64;
                }
            }
        }
        out.insert(kind.to_string(), serde_json::json!(rows));
    }
    serde_json::json!({ "pop": out })
}

#[test]
fn killed_runs_are_unfinished_never_corrupt_and_readers_see_only_complete_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), "p.toml", &chunky(30));
    // How long a whole run takes here, to spread the kills over it.
    let started = Instant::now();
    let whole = run_cmd(&p, &dir.path().join("whole")).output().unwrap();
    assert!(whole.status.success(), "{}", stderr_of(&whole));
    let span = started.elapsed().as_millis().max(50) as u64;
    let mut cases = Vec::new();
    let mut outcomes = [0usize; 3];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..30 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let out = dir.path().join(format!("kill{i}"));
        let mut child = run_cmd(&p, &out).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(seed % (span + span / 5)));
        let _ = child.kill();
        let finished = child.wait().unwrap().success();
        let (code, text) = validate(&out);
        match (finished, code) {
            // Finished, or killed after its writer finished (while the process exited).
            (_, 0) => outcomes[0] += 1,
            // Unfinished: repaired, it stays unfinished but tidy, and never corrupt.
            (false, 3) => {
                outcomes[1] += 1;
                neurorec().arg("repair").arg(&out).assert().success();
                let (again, text) = validate(&out);
                assert_eq!(again, 3, "kill {i} after repair: {text}");
                // ... and validate no longer sends the user to repair.
                let hint = stderr_of(&neurorec().arg("validate").arg(&out).output().unwrap());
                assert!(
                    hint.contains("nothing to repair") && !hint.contains("tidies it"),
                    "kill {i}: {hint}"
                );
                let inspect = neurorec().arg("inspect").arg(&out).output().unwrap();
                let shown = String::from_utf8_lossy(&inspect.stdout);
                assert!(shown.contains("run 0: INTERRUPTED"), "kill {i}: {shown}");
                assert!(
                    !out.join(".neurorec-staging").exists()
                        || std::fs::read_dir(out.join(".neurorec-staging"))
                            .unwrap()
                            .count()
                            == 0
                );
            }
            // Killed before the lock or the first manifest: no archive, said clearly.
            (false, 1) => outcomes[2] += 1,
            other => panic!("kill {i}: {other:?}: {text}"),
        }
        cases.push(serde_json::json!({ "dir": out, "compartments": rows_in_place(&out) }));
    }
    eprintln!(
        "30 kills: {} complete, {} unfinished, {} before an archive existed",
        outcomes[0], outcomes[1], outcomes[2]
    );
    assert!(
        outcomes[1] > 0,
        "some kills land while writing: {outcomes:?}"
    );
    let expected = dir.path().join("expected.json");
    std::fs::write(&expected, serde_json::to_string(&cases).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_killed.py");
    let out = Command::new(python())
        .arg(script)
        .arg(&expected)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn readers_never_see_a_chunk_being_written() {
    // A run stopped for good between two chunks: the chunk being written is staged, and
    // every reader sees exactly the complete ones.
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), "p.toml", &chunky(6));
    let out = dir.path().join("out");
    let status = run_cmd(&p, &out)
        .env("NEUROREC_CRASH_AT", "batch:3")
        .status()
        .unwrap();
    assert!(!status.success());
    assert!(out.join(".neurorec-staging").exists());
    assert_eq!(validate(&out).0, 3);
    let cases = serde_json::json!([{ "dir": out, "compartments": rows_in_place(&out) }]);
    let expected = dir.path().join("expected.json");
    std::fs::write(&expected, cases.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_killed.py");
    let o = Command::new(python())
        .arg(script)
        .arg(&expected)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn validate_reports_damage_with_distinct_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), "p.toml", &chunky(3));
    let fresh = |name: &str| {
        let out = dir.path().join(name);
        assert!(run_cmd(&p, &out).output().unwrap().status.success());
        out
    };
    let part = "pop/state/run=0/set=0/chunk=1/part-0.parquet";
    // A garbage first journal line: corrupt, with its number.
    let a = fresh("journal");
    std::fs::write(
        a.join("manifest.journal"),
        "garbage\n{\"set\":{\"run\":0,\"set\":0,\"chunks\":3}}\n",
    )
    .unwrap();
    let (code, text) = validate(&a);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("line 1 cannot be read"), "{text}");
    // A torn last line: unfinished.
    std::fs::write(a.join("manifest.journal"), "{\"set\":{\"run\":0,").unwrap();
    let (code, text) = validate(&a);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("line 1 is torn"), "{text}");
    // Stray files where readers look: random bytes named .parquet, a copied part.
    let b = fresh("stray");
    std::fs::write(b.join("x.parquet"), "random").unwrap();
    let copy = b.join("pop/state/run=0/set=0/chunk=99/part-0.parquet");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(b.join(part), &copy).unwrap();
    let (code, text) = validate(&b);
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains("x.parquet: is not listed")
            && text.contains("chunk=99/part-0.parquet: is not listed"),
        "{text}"
    );
    // A manifest naming a file outside the archive, and dt_ms = 0.
    let c = fresh("outside");
    let manifest = std::fs::read_to_string(c.join("manifest.json")).unwrap();
    let bad = manifest
        .replacen(part, "../../../../etc/passwd", 1)
        .replacen("\"dt_ms\": 0.1", "\"dt_ms\": 0.0", 1);
    std::fs::write(c.join("manifest.json"), bad).unwrap();
    let (code, text) = validate(&c);
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains("not inside the archive") && text.contains("dt_ms 0"),
        "{text}"
    );
    // A part that is a link to /dev/zero, and a FIFO: refused at once, never read.
    let d = fresh("links");
    std::fs::remove_file(d.join(part)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", d.join(part)).unwrap();
    let fifo = "pop/spikes/run=0/set=0/chunk=2/part-0.parquet";
    std::fs::remove_file(d.join(fifo)).unwrap();
    assert!(Command::new("mkfifo")
        .arg(d.join(fifo))
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    let (code, text) = validate(&d);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("not a regular file"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // A compartment directory that is a link to somewhere else: never read through.
    let f = fresh("linkdir");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::rename(f.join("pop"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, f.join("pop")).unwrap();
    let (code, text) = validate(&f);
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains("outside the archive through a link"),
        "{text}"
    );
    // A bit flip: validate names the file, plot refuses to draw it.
    let e = fresh("flip");
    let mut bytes = std::fs::read(e.join(part)).unwrap();
    bytes[200] ^= 1;
    std::fs::write(e.join(part), bytes).unwrap();
    assert_eq!(validate(&e).0, 4);
    let plan = write_pipeline(
        dir.path(),
        "plan.toml",
        "shape = [1, 1]\nposition = [1]\ncompartment = [\"pop\"]\nvariable = [\"v\"]\nformat = [\"line\"]\ndpi = 20\n",
    );
    let o = neurorec()
        .args(["plot"])
        .arg(&e)
        .arg("--plan")
        .arg(&plan)
        .args(["--chunk", "1", "--out"])
        .arg(dir.path().join("f.png"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("checksum"), "{}", stderr_of(&o));
}

#[test]
fn huge_windows_and_sizes_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), "p.toml", &chunky(1));
    let out = dir.path().join("out");
    assert!(run_cmd(&p, &out).output().unwrap().status.success());
    let plan = write_pipeline(
        dir.path(),
        "plan.toml",
        "shape = [1, 2]\nposition = [1, 2]\ncompartment = [\"pop\", \"pop\"]\nvariable = [\"v\", \"spike\"]\nformat = [\"line\", \"mean\"]\ndpi = 20\n",
    );
    let started = Instant::now();
    // A window beyond the chunk is refused at once (PlotRecordings requires it inside).
    let o = neurorec()
        .arg("plot")
        .arg(&out)
        .arg("--plan")
        .arg(&plan)
        .arg("--time-lim=-9e307,9e307")
        .arg("--out")
        .arg(dir.path().join("f.png"))
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr_of(&o).contains("outside the chunk's recordings"),
        "{}",
        stderr_of(&o)
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // A billion neurons: checked and estimated without building them; refused to run for
    // lack of memory, with the numbers.
    let big = write_pipeline(
        dir.path(),
        "big.toml",
        "[populations.p]\nsize = 1000000000\n[monitors]\np = [\"spike\"]\n[[schedule]]\nsimulate = 1\n",
    );
    let dry = neurorec()
        .arg("run")
        .arg(&big)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", stderr_of(&dry));
    let refused = neurorec()
        .arg("run")
        .arg(&big)
        .arg("--out")
        .arg(dir.path().join("big"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr_of(&refused).contains("GB of memory"),
        "{}",
        stderr_of(&refused)
    );
    // --jobs 0 is refused.
    neurorec()
        .arg("run")
        .arg(pipeline("current_sweep.toml"))
        .args(["--dry-run", "--jobs", "0"])
        .assert()
        .failure();
    // A sweep's estimate counts every run.
    let sweep = neurorec()
        .arg("run")
        .arg(pipeline("current_sweep.toml"))
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sweep.stdout).contains("runs):"),
        "{}",
        String::from_utf8_lossy(&sweep.stdout)
    );
}

#[test]
fn a_full_disk_leaves_an_unfinished_archive_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&mount)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    // Every neuron its own input and start, so the values do not compress away.
    let i_app: Vec<String> = (0..400)
        .map(|i| format!("{}", 20.0 + 0.15 * i as f64))
        .collect();
    let v0: Vec<String> = (0..400)
        .map(|i| format!("{}", -70.0 + 0.037 * i as f64))
        .collect();
    let text = chunky(40).replace(
        "parameters = { I_app = 60.0 }",
        &format!(
            "parameters = {{ I_app = [{}] }}\ninitial = {{ v = [{}] }}",
            i_app.join(", "),
            v0.join(", ")
        ),
    );
    let p = write_pipeline(dir.path(), "p.toml", &text);
    // Refused up front: the estimate does not fit.
    let out = mount.join("out");
    let o = run_cmd(&p, &out).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("free"), "{}", stderr_of(&o));
    // Run anyway: the disk fills up; the error names the file; complete chunks are intact.
    let o = run_cmd(&p, &out).arg("--ignore-space").output().unwrap();
    assert!(!o.status.success());
    let e = stderr_of(&o);
    assert!(
        e.contains(out.to_str().unwrap()) && e.contains("No space left"),
        "{e}"
    );
    let (code, text) = validate(&out);
    assert_eq!(code, 3, "unfinished, never corrupt: {text}");
}

#[test]
fn plot_errors_say_what_is_true() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_pipeline(
        dir.path(),
        "plan.toml",
        "shape = [1, 1]\nposition = [1]\ncompartment = [\"pop\"]\nvariable = [\"v\"]\nformat = [\"line\"]\ndpi = 20\n",
    );
    let plot = |archive: &Path, chunk: &str, extra: &[&str]| {
        neurorec()
            .arg("plot")
            .arg(archive)
            .arg("--plan")
            .arg(&plan)
            .args(["--chunk", chunk])
            .args(extra)
            .arg("--out")
            .arg(dir.path().join("f.png"))
            .output()
            .unwrap()
    };
    // A chunk the run stopped in is unfinished, not missing.
    let p = write_pipeline(dir.path(), "p.toml", &chunky(6));
    let out = dir.path().join("out");
    let status = run_cmd(&p, &out)
        .env("NEUROREC_CRASH_AT", "batch:3")
        .status()
        .unwrap();
    assert!(!status.success());
    let o = plot(&out, "1", &[]);
    assert!(!o.status.success());
    assert!(
        stderr_of(&o).contains("chunk 1 is unfinished"),
        "{}",
        stderr_of(&o)
    );
    // A window outside the chunk names the chunk's window in ms as times print (199.9,
    // never 199.90000000000001).
    let o = plot(&out, "0", &["--time-lim", "5000,6000"]);
    assert!(!o.status.success());
    let e = stderr_of(&o);
    assert!(e.contains("(0.0, 19.9)") && !e.contains("0000000"), "{e}");
}

#[test]
fn figures_stay_in_the_archive_and_never_overwrite_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let plot = |file: &str| {
        format!(
            "{}[[plots]]\nfile = \"{file}\"\nshape = [1, 1]\nposition = [1]\ncompartment = [\"pop\"]\nvariable = [\"v\"]\nformat = [\"line\"]\ndpi = 20\n",
            chunky(2)
        )
    };
    for bad in ["../outside.png", "/tmp/x.png", "sub/x.png", ".hidden.png"] {
        let p = write_pipeline(dir.path(), "bad.toml", &plot(bad));
        let o = run_cmd(&p, &dir.path().join("bad")).output().unwrap();
        assert!(!o.status.success());
        assert!(
            stderr_of(&o).contains("plain file name"),
            "{bad}: {}",
            stderr_of(&o)
        );
    }
    // Two chunks drawn under one name: an error naming both, not a figure written over.
    let p = write_pipeline(dir.path(), "same.toml", &plot("fig_{set1}.png"));
    let out = dir.path().join("same");
    let o = run_cmd(&p, &out).output().unwrap();
    assert!(!o.status.success());
    let e = stderr_of(&o);
    assert!(
        e.contains("set 0 chunk 0") && e.contains("set 0 chunk 1"),
        "{e}"
    );
    // The figure drawn before is listed and valid.
    assert_eq!(validate(&out).0, 0, "{}", validate(&out).1);
}

#[test]
fn a_run_stopped_before_its_first_chunk_is_listed_and_repaired() {
    // Stopped right after its first manifest is in place, before any chunk began: the
    // manifest records the run and nothing else (a kill there once made `inspect` list no
    // run at all).
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), "p.toml", &chunky(3));
    let out = dir.path().join("out");
    let status = run_cmd(&p, &out)
        .env("NEUROREC_CRASH_AT", "manifest_stored:1")
        .status()
        .unwrap();
    assert!(!status.success());
    assert_eq!(validate(&out).0, 3);
    neurorec().arg("repair").arg(&out).assert().success();
    assert_eq!(validate(&out).0, 3);
    let inspect = neurorec().arg("inspect").arg(&out).output().unwrap();
    let shown = String::from_utf8_lossy(&inspect.stdout);
    assert!(shown.contains("run 0: INTERRUPTED"), "{shown}");
}
