//! The two engines run the same targets: every row of the table has its cargo-fuzz target in
//! fuzz/ (and no other target is there), `./run fuzz` knows the same names, and the fuzz crate,
//! a workspace of its own, is under the project's lints.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rdbreak_fuzzing::TARGETS;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn table() -> BTreeSet<String> {
    TARGETS.iter().map(|t| t.name.to_string()).collect()
}

#[test]
fn every_target_runs_under_cargo_fuzz_too() {
    let files: BTreeSet<String> = std::fs::read_dir(repo().join("fuzz/fuzz_targets"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
        .collect();
    assert_eq!(files, table(), "fuzz/fuzz_targets/*.rs against fuzzing/src/targets.rs");
    let manifest = read("fuzz/Cargo.toml");
    let bins: BTreeSet<String> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|b| Some(b.split("name = \"").nth(1)?.split('"').next()?.to_string()))
        .collect();
    assert_eq!(bins, table(), "fuzz/Cargo.toml's [[bin]]s against fuzzing/src/targets.rs");
    // Each cargo-fuzz target calls rooms' entries, nothing else (the table's rows do the same).
    for name in table() {
        let text = read(&format!("fuzz/fuzz_targets/{name}.rs"));
        assert!(text.contains("::fuzz_one(data)"), "fuzz/fuzz_targets/{name}.rs calls no fuzz_one entry");
    }
}

#[test]
fn run_fuzz_knows_every_target() {
    let run = read("run");
    let list = run.split("all=(").nth(1).and_then(|r| r.split(')').next()).expect("./run's list of fuzz targets");
    let names: BTreeSet<String> = list.split_whitespace().map(str::to_string).collect();
    assert_eq!(names, table(), "./run fuzz's all=(…) against fuzzing/src/targets.rs");
}

/// The `[workspace.lints.*]` tables of a manifest, as text.
fn lints(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line.starts_with("[workspace.lints");
        }
        if inside && !line.is_empty() && !line.starts_with('#') {
            out.push(line.to_string());
        }
    }
    out
}

#[test]
fn the_fuzz_crate_has_the_workspace_lints() {
    let (ours, fuzz) = (lints(&read("Cargo.toml")), lints(&read("fuzz/Cargo.toml")));
    assert!(!ours.is_empty(), "the workspace declares lints");
    assert_eq!(fuzz, ours, "fuzz/Cargo.toml copies ../Cargo.toml's [workspace.lints.*]: keep them the same");
    assert!(read("fuzz/Cargo.toml").contains("[lints]\nworkspace = true"), "fuzz/Cargo.toml uses them");
}
