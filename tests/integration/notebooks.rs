//! The notebooks in `notebooks/` run against archives `neurorec run` writes in this test: each
//! is executed by nbclient (in the test's Python environment) and fails on any error.

use std::path::Path;

use crate::common::run_pipeline;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

const NOTEBOOKS: [(&str, usize); 2] = [("polars.ipynb", 3), ("pandas.ipynb", 4)];

#[test]
fn notebooks_are_committed_without_outputs() {
    for (name, _) in NOTEBOOKS {
        let text = std::fs::read_to_string(root().join("notebooks").join(name)).unwrap();
        let nb: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cells = nb["cells"].as_array().unwrap();
        assert!(cells.len() > 5, "{name}");
        for cell in cells.iter().filter(|c| c["cell_type"] == "code") {
            assert_eq!(
                cell["outputs"],
                serde_json::json!([]),
                "{name}: outputs not cleared"
            );
            assert!(
                cell["execution_count"].is_null(),
                "{name}: execution count left"
            );
        }
    }
}

#[test]
fn notebooks_execute_against_fresh_archives() {
    let python = crate::common::python();
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("monitor_recordings");
    let sweep = dir.path().join("current_sweep");
    run_pipeline("monitor_recordings.toml", &seed);
    run_pipeline("current_sweep.toml", &sweep);
    let out = std::process::Command::new(python)
        .env("NEUROREC_BIN", assert_cmd::cargo::cargo_bin("neurorec"))
        .arg(root().join("tests/python/run_notebooks.py"))
        .arg(&seed)
        .arg(&sweep)
        .args(NOTEBOOKS.map(|(n, _)| root().join("notebooks").join(n)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, figures) in NOTEBOOKS {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} not executed: {stdout}"));
        assert!(
            line.ends_with(&format!(", {figures} figures")),
            "{line}: expected {figures} figures"
        );
    }
}

#[test]
fn readme_loading_snippets_run() {
    let python = crate::common::python();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("## Loading results").unwrap();
    let end = start + readme[start + 3..].find("\n## ").unwrap();
    let snippets: Vec<&str> = readme[start..end]
        .split("```python\n")
        .skip(1)
        .map(|s| s.split("```").next().unwrap())
        .collect();
    assert_eq!(snippets.len(), 4, "polars, pandas, pyarrow, DuckDB");
    // The snippets use the main command's output path, relative to the checkout.
    let dir = tempfile::tempdir().unwrap();
    run_pipeline(
        "monitor_recordings.toml",
        &dir.path().join("target/results/monitor_recordings"),
    );
    for snippet in snippets {
        assert!(snippet.lines().count() <= 5, "{snippet}");
        let out = std::process::Command::new(&python)
            .args(["-c", snippet])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{snippet}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{snippet} printed nothing");
    }
}
