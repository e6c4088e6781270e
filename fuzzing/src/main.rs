//! Long fuzzing runs on stable: `cargo run --profile fuzz -p rdbreak-fuzzing -- TARGET|all SECONDS [SEED]`
//! (`./run fuzz SECONDS [TARGET..]` without nightly). Findings are written to fuzz/crashes/TARGET-SEED.
//! `rdbreak-fuzz seeds DIR` writes each target's built-in seeds to DIR/TARGET/ (for `fuzz/seeds.sh`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdbreak_fuzzing::{fuzz, target, Target, TARGETS};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("all", String::as_str);
    if which == "seeds" {
        let dir = PathBuf::from(args.get(2).map_or("fuzz/corpus", String::as_str));
        if let Err(e) = write_seeds(&dir) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    let targets: Vec<&Target> = if which == "all" {
        TARGETS.iter().collect()
    } else if let Some(t) = target(which) {
        vec![t]
    } else {
        let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        eprintln!("no fuzz target '{which}'; the targets are: {}", names.join(" "));
        std::process::exit(2);
    };
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let mut failed = false;
    for t in targets {
        let start = Instant::now();
        let mut corpus = (t.seeds)();
        if t.name == "kmod" {
            corpus.extend(this_kernels_module_index());
        }
        let stats = fuzz(t, &corpus, Duration::from_secs(secs), seed, Path::new("fuzz/crashes"));
        match stats.crash {
            Some((input, msg)) => {
                failed = true;
                let path = format!("fuzz/crashes/{}-{seed}", t.name);
                let saved = std::fs::create_dir_all("fuzz/crashes").and_then(|()| std::fs::write(&path, &input));
                let kept =
                    saved.map_or_else(|e| format!("could not be saved in {path}: {e}"), |()| format!("in {path}"));
                println!("{}: CRASH after {} runs: {msg} (input {kept})", t.name, stats.runs);
            }
            None => println!("{}: {} runs in {:.0?}, no finding (seed {seed})", t.name, stats.runs, start.elapsed()),
        }
    }
    std::process::exit(i32::from(failed));
}

/// This machine's module index, where it has one: the four files joined as the kmod target
/// splits its input.
fn this_kernels_module_index() -> Option<Vec<u8>> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let dir = format!("/lib/modules/{}", release.trim());
    let read = |n: &str| std::fs::read_to_string(format!("{dir}/{n}")).unwrap_or_default();
    let joined =
        [read("modules.dep"), read("modules.alias"), read("modules.softdep"), read("modules.builtin")].join("\u{1}");
    (joined.len() > 3).then(|| joined.into_bytes())
}

fn write_seeds(dir: &Path) -> Result<(), String> {
    for t in TARGETS {
        let d = dir.join(t.name);
        for (i, s) in (t.seeds)().iter().enumerate() {
            std::fs::create_dir_all(&d)
                .and_then(|()| std::fs::write(d.join(format!("builtin-{i}")), s))
                .map_err(|e| format!("cannot write seeds to {}: {e}", d.display()))?;
        }
    }
    Ok(())
}
