//! A QEMU guest on a serial console, driven the way a person at the console would: wait for
//! text, type, wait again. Everything the guest prints is kept (and written to a log file) from
//! the first byte; a kernel panic anywhere fails the test.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::qemu::{Config, Console, Disk};

/// Multiplies every timeout: `RDBREAK_TIMEOUT_SCALE=3` on a slow machine.
pub fn scale(secs: u64) -> Duration {
    let f: f64 = std::env::var("RDBREAK_TIMEOUT_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    Duration::from_secs_f64(secs as f64 * f.max(0.1))
}

const FATAL: [&str; 2] = ["Kernel panic", "Attempted to kill init"];

type Shared = Arc<(Mutex<(Vec<u8>, bool)>, Condvar)>;

pub struct Vm {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Shared,
    /// Where the next `expect` starts looking.
    pos: usize,
    log: PathBuf,
    monitor: Option<PathBuf>,
    pub started: Instant,
}

impl Vm {
    pub fn boot(name: &str, cfg: &Config) -> Vm {
        assert_eq!(cfg.console, Console::Driven, "a Vm drives its console; the demo runs Config::command itself");
        if let Some(m) = &cfg.monitor {
            let _ = std::fs::remove_file(m);
        }
        let mut child = cfg.command().spawn().expect("start qemu-system-x86_64 (apt-get install qemu-system-x86)");
        let out: Shared = Arc::new((Mutex::new((Vec::new(), false)), Condvar::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                loop {
                    let n = stream.read(&mut buf).unwrap_or(0);
                    let (lock, cv) = &*out;
                    let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
                    if n == 0 {
                        g.1 = true;
                        cv.notify_all();
                        return;
                    }
                    g.0.extend_from_slice(&buf[..n]);
                    cv.notify_all();
                }
            });
        }
        let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/qemu-logs").join(format!("{name}.log"));
        let _ = std::fs::create_dir_all(log.parent().expect("log dir"));
        Vm {
            name: name.into(),
            stdin: child.stdin.take(),
            child,
            out,
            pos: 0,
            log,
            monitor: cfg.monitor.clone(),
            started: Instant::now(),
        }
    }

    /// The name the VM was booted with (its log is `target/qemu-logs/<name>.log`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Everything the guest printed so far.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.out.0.lock().unwrap_or_else(|e| e.into_inner()).0).to_string()
    }

    fn tail(&self) -> String {
        let t = self.transcript();
        let start = t.len().saturating_sub(3000);
        let start = (start..t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(0);
        t[start..].to_string()
    }

    fn check_fatal(&self, text: &str) {
        for f in FATAL {
            assert!(
                !text.contains(f),
                "[{}] the guest printed {f:?}; last console output:\n{}",
                self.name,
                self.tail()
            );
        }
    }

    /// Waits until `pattern` appears after the current position; returns the text up to and
    /// including it, and moves past it.
    pub fn expect(&mut self, pattern: &str, secs: u64) -> String {
        self.expect_any(&[pattern], secs).1
    }

    /// Waits for the first of several patterns; returns its index and the text up to it.
    pub fn expect_any(&mut self, patterns: &[&str], secs: u64) -> (usize, String) {
        let deadline = Instant::now() + scale(secs);
        let (lock, cv) = &*self.out;
        let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let hay = &g.0[self.pos.min(g.0.len())..];
            let hit = patterns
                .iter()
                .enumerate()
                .filter_map(|(i, p)| find(hay, p.as_bytes()).map(|at| (at, i, p.len())))
                .min();
            let fatal = FATAL.iter().find_map(|f| find(hay, f.as_bytes()));
            if fatal.is_some_and(|f| hit.is_none_or(|(at, _, _)| f < at)) {
                drop(g);
                self.check_fatal(&self.transcript());
                unreachable!("check_fatal panics");
            }
            if let Some((at, i, len)) = hit {
                let text = String::from_utf8_lossy(&hay[..at + len]).to_string();
                self.pos += at + len;
                return (i, text);
            }
            let now = Instant::now();
            if now >= deadline || g.1 {
                drop(g);
                let why = if Instant::now() >= deadline { "timed out" } else { "QEMU exited" };
                panic!(
                    "[{}] {why} after {:?} waiting for {patterns:?}; last console output:\n{}",
                    self.name,
                    scale(secs),
                    self.tail()
                );
            }
            g = cv.wait_timeout(g, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Runs a QEMU monitor (HMP) command, such as `device_add`, and returns its answer.
    pub fn monitor(&mut self, command: &str) -> String {
        use std::os::unix::net::UnixStream;
        let path = self.monitor.clone().expect("the VM has no monitor (Config::monitor, Scenario::monitor)");
        let mut sock =
            UnixStream::connect(&path).unwrap_or_else(|e| panic!("[{}] monitor {}: {e}", self.name, path.display()));
        sock.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let read_prompt = |sock: &mut UnixStream| {
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"(qemu) ") {
                match sock.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            String::from_utf8_lossy(&got).to_string()
        };
        read_prompt(&mut sock);
        sock.write_all(format!("{command}\n").as_bytes()).expect("monitor write");
        read_prompt(&mut sock)
    }

    /// Types raw bytes at the console.
    pub fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("console input");
        stdin.write_all(bytes).expect("write to the console");
        stdin.flush().expect("flush the console");
    }

    /// Types a line and presses Enter.
    pub fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\r").as_bytes());
    }

    /// Plugs a disk in while the guest runs, through the monitor (`drive_add`, `device_add`; a
    /// disk on SCSI or USB needs its controller at boot: `Config::controllers`). Returns the
    /// monitor's answer to `device_add` (an `Error` in it when it failed).
    pub fn hot_plug(&mut self, disk: &Disk) -> String {
        let id = disk.id.clone().expect("a hot-plugged disk needs an id (Disk::id)");
        self.monitor(&format!("drive_add 0 {}", disk.drive(&id)));
        self.monitor(&format!("device_add {}", disk.device(&id, 0)))
    }

    /// Pulls out a device plugged in with that id; returns the monitor's answer.
    pub fn hot_unplug(&mut self, id: &str) -> String {
        self.monitor(&format!("device_del {id}"))
    }

    /// Waits for QEMU to exit (the guest powered off). Returns the whole transcript.
    pub fn wait_exit(&mut self, secs: u64) -> String {
        let deadline = Instant::now() + scale(secs);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if Instant::now() >= deadline {
                panic!(
                    "[{}] the guest did not power off within {:?}; last console output:\n{}",
                    self.name,
                    scale(secs),
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Let the reader threads drain.
        let (lock, cv) = &*self.out;
        let g = lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = cv.wait_timeout_while(g, Duration::from_secs(2), |g| !g.1);
        let t = self.transcript();
        self.check_fatal(&t);
        t
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::write(&self.log, self.transcript());
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The guest uptime printed in a kernel log line that contains `needle` (`[    5.34] …`).
pub fn kernel_time(transcript: &str, needle: &str) -> Option<f64> {
    transcript.lines().find(|l| l.contains(needle)).and_then(|l| {
        // The first `[ seconds ]` on the line: bash's `ESC[?2004l` may come before it.
        l.match_indices('[').find_map(|(i, _)| l[i + 1..].split(']').next()?.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    /// A stamp behind bash's bracketed-paste escape (stock dracut's shell) is still read.
    #[test]
    fn kernel_stamps_are_read_behind_escape_sequences() {
        let t = "echo BENCH>/dev/kmsg\n\u{1b}[?2004l\r[   20.125000] BENCH\n[    3.5] Run /init as init process\n";
        assert_eq!(super::kernel_time(t, "] BENCH"), Some(20.125));
        assert_eq!(super::kernel_time(t, "Run /init"), Some(3.5));
        assert_eq!(super::kernel_time(t, "nothing"), None);
    }
}
