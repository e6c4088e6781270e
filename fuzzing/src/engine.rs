//! The mutation engine: a reproducible generator, the mutations, and the loop that runs a
//! target on mutants until its budget is spent, with a watchdog that keeps an input that hangs.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Target;

/// xorshift64*: small, fast, reproducible from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Words that make mutations reach deeper (separators and keys the parsers look for).
const DICTIONARY: &[&[u8]] = &[
    b"\"",
    b"=",
    b" ",
    b"\n",
    b"\0",
    b"'",
    b";",
    b"&&",
    b"||",
    b">",
    b">>",
    b"<",
    b"2>&1",
    b"$",
    b"${",
    b"}",
    b"\\",
    b"\x1b[",
    b"\x1b[3~",
    b"\x03",
    b"\x04",
    b"rd.break",
    b"root=",
    b"UUID=",
    b"PARTUUID=",
    b"block:",
    b"/dev/",
    b"alias ",
    b"softdep ",
    b"pre:",
    b"post:",
    b"*",
    b"[",
    b"]",
    b"?",
    b":",
    b"EFI PART",
    b"\xEF\x53",
    b"XFSB",
    b"_BHRfS_M",
    b"070701",
    b" - ",
    b"add@",
    b"MODALIAS=",
    b"\x55\xAA",
    b"FAT32   ",
];

/// One mutation of `input` (seeds from `corpus` may be spliced in).
pub fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next_u64() as u8;
            }
            2 => {
                let i = rng.below(v.len() + 1);
                let w = DICTIONARY[rng.below(DICTIONARY.len())];
                v.splice(i..i, w.iter().copied());
            }
            3 if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                v.drain(a..b);
            }
            4 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + rng.below(256)).min(other.len());
                    let at = rng.below(v.len() + 1);
                    v.splice(at..at, other[a..b].iter().copied());
                }
            }
            5 if !v.is_empty() => {
                // Interesting integers where numbers live (offsets, sizes, counts).
                let i = rng.below(v.len());
                let n = [0u8, 0xff, 0x7f, 0x80, 1][rng.below(5)];
                let len = (v.len() - i).min(1 + rng.below(8));
                v[i..i + len].fill(n);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let n = rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                v.splice(i..i, bytes);
            }
        }
    }
    if v.len() > 1 << 20 {
        v.truncate(1 << 20);
    }
    v
}

#[derive(Debug, Default)]
pub struct Stats {
    pub runs: u64,
    /// The first input that panicked, with the panic message.
    pub crash: Option<(Vec<u8>, String)>,
}

/// How long one input may run before it is a finding (libFuzzer's `-timeout`): a loop over
/// on-disk links that never ends is a hung boot, as bad as a crash.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Fuzzes `target` for `budget`, from `corpus` (its seeds plus any real data given). An input
/// that runs longer than [`TIMEOUT`] is written to `findings/TARGET-hang` and the process aborts
/// (the hung run cannot be stopped from inside); a panic is returned in [`Stats::crash`].
pub fn fuzz(target: &Target, corpus: &[Vec<u8>], budget: Duration, seed: u64, findings: &Path) -> Stats {
    let mut rng = Rng::new(seed);
    let mut stats = Stats::default();
    let start = Instant::now();
    let watch = Watchdog::start(target.name, findings);
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // findings are reported below, not printed per crash
    let mut inputs: Vec<Vec<u8>> = corpus.to_vec();
    if inputs.is_empty() {
        inputs.push(Vec::new());
    }
    while start.elapsed() < budget {
        let base = &inputs[rng.below(inputs.len())];
        let input = if stats.runs < inputs.len() as u64 { base.clone() } else { mutate(&mut rng, base, corpus) };
        stats.runs += 1;
        watch.running(&input);
        let result = std::panic::catch_unwind(|| (target.run)(&input));
        watch.idle();
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            stats.crash = Some((input, msg));
            break;
        }
        // Keep a few mutants as new bases, so mutations accumulate.
        if rng.below(64) == 0 && inputs.len() < 256 {
            inputs.push(input);
        }
    }
    std::panic::set_hook(prev);
    stats
}

/// A thread that watches the run in progress and keeps its input when it hangs.
struct Watchdog {
    state: Arc<WatchState>,
}

struct WatchState {
    epoch: Instant,
    /// Milliseconds since `epoch` when the current run started; 0 between runs.
    started: AtomicU64,
    stop: AtomicBool,
    input: Mutex<Vec<u8>>,
}

impl WatchState {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

impl Watchdog {
    fn start(name: &str, findings: &Path) -> Watchdog {
        let state = Arc::new(WatchState {
            epoch: Instant::now(),
            started: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            input: Mutex::new(Vec::new()),
        });
        let (s, name, path) = (state.clone(), name.to_string(), findings.join(format!("{name}-hang")));
        std::thread::spawn(move || {
            while !s.stop.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let started = s.started.load(Relaxed);
                if started == 0 || s.now_ms().saturating_sub(started) < TIMEOUT.as_millis() as u64 {
                    continue;
                }
                let input = s.input.lock().map(|i| i.clone()).unwrap_or_default();
                let saved = std::fs::create_dir_all(findings_dir(&path)).and_then(|()| std::fs::write(&path, &input));
                let saved = match saved {
                    Ok(()) => format!("saved in {}", path.display()),
                    Err(e) => format!("could not be saved in {}: {e}", path.display()),
                };
                eprintln!("{name}: an input ran longer than {TIMEOUT:?} (a hang); its {} bytes {saved}", input.len());
                std::process::abort();
            }
        });
        Watchdog { state }
    }

    fn running(&self, input: &[u8]) {
        if let Ok(mut i) = self.state.input.lock() {
            i.clear();
            i.extend_from_slice(input);
        }
        self.state.started.store(self.state.now_ms().max(1), Relaxed);
    }

    fn idle(&self) {
        self.state.started.store(0, Relaxed);
    }
}

fn findings_dir(file: &Path) -> &Path {
    file.parent().unwrap_or(Path::new("."))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.state.stop.store(true, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_is_reproducible() {
        let a = mutate(&mut Rng::new(7), b"root=UUID=x", &[]);
        let b = mutate(&mut Rng::new(7), b"root=UUID=x", &[]);
        assert_eq!(a, b);
    }

    #[test]
    fn a_crashing_target_is_reported_with_its_input() {
        // The harness itself must catch a panic and hand back the input.
        let crashing = Target { name: "crashing", run: |_| panic!("a finding"), seeds: Vec::new };
        let dir = tempfile::tempdir().unwrap();
        let stats = fuzz(&crashing, &[b"x".to_vec()], Duration::from_millis(50), 1, dir.path());
        let (input, msg) = stats.crash.expect("found");
        assert_eq!(input, b"x");
        assert_eq!(msg, "a finding");
    }
}
