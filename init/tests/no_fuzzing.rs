//! rdbreak-init gains nothing from fuzzing: the engine and its targets live in the crate
//! `rdbreak-fuzzing` (fuzzing/), each parser room has only its `fuzz_one` entry, which PID 1
//! never calls and the linker drops. No feature may bring fuzzing code back into the crate.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_code_is_compiled_for_fuzzing_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let gated: Vec<String> = files
        .iter()
        .filter(|p| std::fs::read_to_string(p).unwrap().contains(concat!("feature = ", "\"fuzz\"")))
        .map(|p| p.display().to_string())
        .collect();
    assert!(gated.is_empty(), "code behind a fuzz feature in PID 1's crate (it belongs in fuzzing/): {gated:?}");
}

#[test]
fn the_crate_has_no_fuzz_feature() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let features = manifest.split("\n[features]\n").nth(1).unwrap_or("").split("\n[").next().unwrap_or("");
    let fuzz: Vec<&str> = features.lines().filter(|l| l.trim_start().starts_with("fuzz")).collect();
    assert!(fuzz.is_empty(), "init/Cargo.toml declares {fuzz:?}: fuzzing lives in fuzzing/ (rdbreak-fuzzing)");
}
