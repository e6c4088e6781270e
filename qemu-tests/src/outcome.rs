//! How a boot ends: the real init starts (the test init's report line says what it was handed)
//! and powers off, or the machine is powered off from a prompt.

use crate::vm::Vm;

/// How the test init's report line starts.
pub const REPORT: &str = "RDBREAK-TEST-INIT pid=";
/// The report of a real init that is PID 1.
const REPORT_PID1: &str = "RDBREAK-TEST-INIT pid=1";
/// How long a powered-off guest takes to be gone, usually.
const POWER_OFF_SECS: u64 = 60;

/// The test init's report, read as `key=value` pairs.
pub struct Report {
    /// The report line.
    pub line: String,
    /// The console up to the end of the report line, or all of it once the machine is off.
    pub transcript: String,
}

impl Report {
    /// The value of `key` (`pid`, `root`, `opts`, …); a `[…]` value without its brackets.
    pub fn get(&self, key: &str) -> &str {
        let pat = format!(" {key}=");
        let start = self.line.find(&pat).map(|i| i + pat.len()).unwrap_or_else(|| panic!("no {key} in {}", self.line));
        let rest = &self.line[start..];
        if rest.starts_with('[') {
            &rest[1..rest.find(']').expect("closing ]")]
        } else {
            rest.split_whitespace().next().unwrap_or("")
        }
    }

    /// What every successful boot must show: the real init is PID 1, `/` is the disk, and the
    /// API filesystems were handed over.
    pub fn assert_handover(&self, root_dev: &str) {
        assert_eq!(self.get("pid"), "1", "{}", self.line);
        assert_eq!(self.get("root"), root_dev, "{}", self.line);
        assert_eq!(self.get("api"), "/dev,/proc,/sys,/run", "{}", self.line);
        assert_eq!(self.get("proc"), "yes");
        assert!(
            self.get("env").contains("TERM=linux"),
            "the kernel's environment reaches the real init: {}",
            self.line
        );
    }
}

impl Vm {
    /// The seed's walk-through, typed at the prompts: at `switch_root:/# ` remount, chroot,
    /// passwd (both prompts), touch /.autorelabel, exit, exit; then the real init reports.
    /// Returns what `mount` listed at the prompt before the remount.
    pub fn password_reset(&mut self, password: &str) -> String {
        self.expect("Break before switch_root", 240);
        let mut sh = self.at_prompt("switch_root:/# ", 30);
        let mounts = sh.run("mount");
        sh.password_reset(password);
        mounts
    }

    /// Waits for the real init's report line (whatever its PID) and returns it.
    pub fn real_init_report(&mut self, secs: u64) -> Report {
        self.expect(REPORT, secs);
        self.expect("\n", 10);
        let transcript = self.transcript();
        Report { line: report_line(&transcript), transcript }
    }

    /// The report, then the power-off; the report's transcript is the whole console.
    pub fn report_then_power_off(&mut self, secs: u64) -> Report {
        let mut r = self.real_init_report(secs);
        r.transcript = self.powered_off();
        r
    }

    /// Waits until the real init runs as PID 1; returns the console text up to its report.
    pub fn real_init_pid1(&mut self, secs: u64) -> String {
        self.expect(REPORT_PID1, secs)
    }

    /// The usual end of a boot: the real init runs as PID 1 within `secs`, then powers the
    /// machine off. Returns the transcript.
    pub fn runs_real_init(&mut self, secs: u64) -> String {
        self.real_init_pid1(secs);
        self.powered_off()
    }

    /// `exit` at a break prompt: the boot goes on to the real init (PID 1, within two minutes),
    /// which powers off. Returns the transcript.
    pub fn continue_to_real_init(&mut self) -> String {
        self.send_line("exit");
        self.runs_real_init(120)
    }

    /// `poweroff` at a prompt: the machine powers off (the kernel says so). Returns the
    /// transcript.
    pub fn poweroff(&mut self) -> String {
        self.send_line("poweroff");
        let t = self.powered_off();
        assert!(t.contains("reboot: Power down"));
        t
    }

    /// Waits the usual minute for the guest to go (powered off, or rebooted, which `-no-reboot`
    /// ends); returns the transcript.
    pub fn powered_off(&mut self) -> String {
        self.wait_exit(POWER_OFF_SECS)
    }
}

/// The report line in a transcript.
fn report_line(transcript: &str) -> String {
    transcript.lines().find(|l| l.starts_with(REPORT)).expect("report line").trim().to_string()
}
