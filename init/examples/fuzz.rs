//! Long fuzzing runs: `cargo run --profile fuzz -p rdbreak-init --example fuzz -- TARGET|all SECONDS [SEED]`
//! (`./run fuzz SECONDS` runs them all). Findings are written to fuzz/crashes/TARGET-SEED.
//! `fuzz seeds DIR` writes each target's built-in seeds to DIR/TARGET/ (for `fuzz/seeds.sh`).

use std::time::{Duration, Instant};

use rdbreak_init::fuzz;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("all", String::as_str);
    if which == "seeds" {
        let dir = std::path::PathBuf::from(args.get(2).map_or("fuzz/corpus", String::as_str));
        for t in fuzz::TARGETS {
            for (i, s) in fuzz::seeds(t).iter().enumerate() {
                let d = dir.join(t);
                let written =
                    std::fs::create_dir_all(&d).and_then(|()| std::fs::write(d.join(format!("builtin-{i}")), s));
                if let Err(e) = written {
                    eprintln!("cannot write seeds to {}: {e}", d.display());
                    std::process::exit(1);
                }
            }
        }
        return;
    }
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let targets: Vec<&str> = if which == "all" { fuzz::TARGETS.to_vec() } else { vec![which] };
    let mut failed = false;
    for t in targets {
        let start = Instant::now();
        let mut corpus = fuzz::seeds(t);
        // Real data where this machine has it.
        if t == "kmod" {
            if let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
                let dir = format!("/lib/modules/{}", release.trim());
                let read = |n: &str| std::fs::read_to_string(format!("{dir}/{n}")).unwrap_or_default();
                let joined =
                    [read("modules.dep"), read("modules.alias"), read("modules.softdep"), read("modules.builtin")]
                        .join("\u{1}");
                if joined.len() > 3 {
                    corpus.push(joined.into_bytes());
                }
            }
        }
        let stats = fuzz::fuzz(t, &corpus, Duration::from_secs(secs), seed, std::path::Path::new("fuzz/crashes"));
        match stats.crash {
            Some((input, msg)) => {
                failed = true;
                let _ = std::fs::create_dir_all("fuzz/crashes");
                let path = format!("fuzz/crashes/{t}-{seed}");
                let _ = std::fs::write(&path, &input);
                println!("{t}: CRASH after {} runs: {msg} (input in {path})", stats.runs);
            }
            None => println!("{t}: {} runs in {:.0?}, no finding (seed {seed})", stats.runs, start.elapsed()),
        }
    }
    std::process::exit(i32::from(failed));
}
