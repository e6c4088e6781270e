//! The unlock benchmark of docs/benchmark.md: reads the LUKS header of FILE and opens it with
//! the passphrase given on stdin (its bytes as they are: use `printf %s`), as PID 1 does,
//! and prints how long the header and the unlock took, and which table would be loaded (the
//! key hidden). Compare with `cryptsetup open --test-passphrase FILE` on the same file.
//!
//!     printf %s "$PASS" | cargo run --release --example luks_unlock -- FILE [RUNS]

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use rdbreak_init::storage::luks;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: printf %s PASSPHRASE | luks_unlock FILE [RUNS]");
        std::process::exit(2);
    };
    let runs: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut secret = Vec::new();
    std::io::stdin().read_to_end(&mut secret).expect("stdin");
    let file = std::fs::File::open(path).expect("open");
    let size = file.metadata().expect("stat").len();
    let mut read = |off: u64, buf: &mut [u8]| file.read_at(buf, off);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024;
    for run in 1..=runs {
        let t0 = Instant::now();
        let h = luks::read_header(&mut read, size).unwrap_or_else(|e| panic!("{e}"));
        let t1 = Instant::now();
        match h.unlock(&mut read, &secret, mem) {
            Ok(key) => {
                let t2 = Instant::now();
                let target = h.crypt_target(&key, "8:1", size / 512, false).map(|t| t.to_string());
                println!(
                    "run {run}: header {:.1} ms, unlock {:.1} ms; table {}",
                    (t1 - t0).as_secs_f64() * 1e3,
                    (t2 - t1).as_secs_f64() * 1e3,
                    target.unwrap_or_else(|e| e.to_string())
                );
            }
            Err(e) => {
                println!("run {run}: {e} after {:.1} ms", t1.elapsed().as_secs_f64() * 1e3);
                std::process::exit(1);
            }
        }
    }
}
