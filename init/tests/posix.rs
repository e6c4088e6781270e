//! The built-in shell against Debian's dash: every script of `data/shell-corpus.txt` runs in both
//! (rdbreak-init under the name `sh`, off PID 1), from a fresh empty directory, and stdout, the
//! exit status and whether stderr is empty must agree. The deliberate differences are listed in
//! [`DIFFERENCES`], each with its reason. Also: the caps on runaway input, through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where rdbreak's shell deliberately differs from dash, and why: (case, what is still
/// compared — `status`, or nothing — and the reason).
const DIFFERENCES: &[(&str, &str, &str)] = &[
    ("pipefail", "", "set -o pipefail (POSIX.1-2024, bash, busybox) is not in Debian's dash, which rejects it"),
    ("read-reply", "", "read with no name fills REPLY, as bash and busybox do; dash requires a name"),
    (
        "special-chars-in-single",
        "status",
        "echo never interprets backslashes, as bash's echo (dash's turns \\n into a newline); printf is the portable way",
    ),
    ("dot-args", "status", "`. FILE ARG…` gives FILE the arguments as $1…, as bash does; dash ignores them"),
];

const CORPUS: &str = include_str!("data/shell-corpus.txt");

fn cases() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in CORPUS.split("\n### ").skip(1) {
        let (name, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        out.push((name.trim().to_string(), body.to_string()));
    }
    out
}

/// A directory holding `sh` → `target`, so a script's own `sh` is the shell under test.
fn shim(target: &Path) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(target, d.path().join("sh")).unwrap();
    d
}

struct Outcome {
    stdout: String,
    status: i32,
    stderr: String,
}

fn run(shim_dir: &Path, script: &str) -> Outcome {
    let work = tempfile::tempdir().unwrap();
    let sh = shim_dir.join("sh");
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", shim_dir.display());
    let out = Command::new("timeout")
        .args(["20", sh.to_str().unwrap(), "-c", script, "t"])
        .current_dir(work.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", work.path())
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        status: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

fn rdbreak() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rdbreak-init"))
}

fn dash() -> PathBuf {
    let p = PathBuf::from("/usr/bin/dash");
    assert!(p.exists(), "the differential tests need dash: apt-get install dash");
    p
}

#[test]
fn the_corpus_agrees_with_dash() {
    let cases = cases();
    assert!(cases.len() >= 150, "{} cases", cases.len());
    for (name, _, _) in DIFFERENCES {
        assert!(cases.iter().any(|(n, _)| n == name), "{name} is not in the corpus");
    }
    let ours = shim(&rdbreak());
    let theirs = shim(&dash());
    let mut failures = Vec::new();
    for (name, script) in &cases {
        let a = run(ours.path(), script);
        let b = run(theirs.path(), script);
        let compare = DIFFERENCES.iter().find(|(n, _, _)| n == name).map(|(_, what, _)| *what);
        let mut diffs = Vec::new();
        if compare.is_none_or(|w| w == "stdout") && a.stdout != b.stdout {
            diffs.push(format!("stdout: rdbreak {:?} dash {:?}", a.stdout, b.stdout));
        }
        if compare.is_none_or(|w| w == "status") && a.status != b.status {
            diffs.push(format!("status: rdbreak {} dash {}", a.status, b.status));
        }
        if compare.is_none() && a.stderr.is_empty() != b.stderr.is_empty() {
            diffs.push(format!("stderr: rdbreak {:?} dash {:?}", a.stderr, b.stderr));
        }
        if !diffs.is_empty() {
            failures.push(format!("### {name}\n{script}{}\n", diffs.join("\n")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from dash:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn ours(script: &str) -> Outcome {
    let s = shim(&rdbreak());
    run(s.path(), script)
}

fn ours_file(text: &[u8]) -> Outcome {
    let s = shim(&rdbreak());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("script");
    std::fs::write(&f, text).unwrap();
    let out = Command::new(s.path().join("sh")).arg(&f).stdin(Stdio::null()).output().unwrap();
    Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        status: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

#[test]
fn runaway_recursion_is_a_named_error() {
    for script in [
        "f() { f; }; f",
        "f() { g; }; g() { f; }; f",
        "eval 'eval \"$x\"'; x='eval \"$x\"'; eval \"$x\"",
        "echo '. ./s' > s; . ./s",
    ] {
        let o = ours(script);
        assert_eq!(o.status, 2, "{script}: {}", o.stderr);
        assert!(o.stderr.contains("levels deep (runaway recursion?)"), "{script}: {}", o.stderr);
    }
}

#[test]
fn arithmetic_errors_are_named() {
    let o = ours("echo $((1/0)); echo not reached");
    assert_eq!((o.status, o.stdout.as_str()), (2, ""));
    assert!(o.stderr.contains("division by zero"), "{}", o.stderr);
    let o = ours("echo $((2 %% 0))");
    assert_ne!(o.status, 0);
}

#[test]
fn a_line_over_a_megabyte_is_refused() {
    let mut text = b"echo ".to_vec();
    text.extend(std::iter::repeat_n(b'x', (1 << 20) + 10));
    text.push(b'\n');
    let o = ours_file(&text);
    assert_eq!(o.status, 2);
    assert!(o.stderr.contains("line too long"), "{}", &o.stderr[..o.stderr.len().min(300)]);
}

#[test]
fn a_huge_here_document_is_refused() {
    let mut text = b"cat <<EOF\n".to_vec();
    for _ in 0..(5 << 20) / 64 {
        text.extend_from_slice(&[b'y'; 63]);
        text.push(b'\n');
    }
    text.extend_from_slice(b"EOF\n");
    let o = ours_file(&text);
    assert_eq!((o.status, o.stdout.as_str()), (2, ""));
    assert!(o.stderr.contains("here-document too large"), "{}", o.stderr);
}

#[test]
fn command_substitution_output_is_capped() {
    let o = ours("x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo not reached");
    assert_eq!(o.status, 2);
    assert!(o.stderr.contains("command substitution output larger than"), "{}", o.stderr);
}

/// `${x%%*a}` on a long value that never matches takes work that grows with the square of its
/// length: it is refused, named, after a bounded number of steps, not run for hours.
#[test]
fn pattern_removal_on_a_huge_value_is_bounded() {
    let o = ours("x=$(head -c 300000 /dev/zero | tr '\\0' b); echo ${#x}; y=${x%%*a}; echo not reached");
    assert_eq!(o.stdout, "300000\n", "{}", o.stderr);
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("removing a pattern from a value of 300000 bytes gave up"), "{}", o.stderr);
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let o = ours(&format!("echo {}x{}", "$(".repeat(1000), ")".repeat(1000)));
    assert_eq!(o.status, 2);
    assert!(o.stderr.contains("nesting too deep"), "{}", o.stderr);
    let o = ours(&format!("echo $(({}1{}))", "(".repeat(5000), ")".repeat(5000)));
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("too deep"), "{}", o.stderr);
}

#[test]
fn sh_runs_files_and_exit_traps() {
    let o = ours_file(b"trap 'echo trapped' EXIT\necho \"$0\" | grep -q script && echo named\nexit 4\n");
    assert_eq!((o.status, o.stdout.as_str()), (4, "named\ntrapped\n"));
    // A syntax error late in a script comes after what precedes it ran, as in dash.
    let o = ours_file(b"echo first\nif then\necho never\n");
    assert_eq!((o.status, o.stdout.as_str()), (2, "first\n"));
}

#[test]
fn sh_is_the_built_in_shell_when_path_has_none() {
    let o = ours("PATH=/nowhere; sh -c 'echo in $0 $1; exit 3' a b; echo $?; type sh");
    assert_eq!(o.stdout, "in a b\n3\nsh is the built-in shell (PATH has no sh)\n", "{}", o.stderr);
}

#[test]
fn a_runaway_variable_meets_an_error_not_the_memory_limit() {
    let o = ours("x=0123456789abcdef; while :; do x=$x$x; done; echo not reached");
    assert_eq!((o.status, o.stdout.as_str()), (2, ""));
    assert!(o.stderr.contains("is more than a variable may hold"), "{}", o.stderr);
    let o = ours("x=$(head -c 9000000 /dev/zero | tr '\\0' a); y=$x$x$x$x$x$x$x$x; echo not reached");
    assert_eq!(o.status, 2, "{}", o.stderr);
    assert!(o.stderr.contains("expansion too large") || o.stderr.contains("variable may hold"), "{}", o.stderr);
}

/// A terminal for the shell's prompt: the master side of a pty, read with a deadline.
struct Pty {
    master: std::fs::File,
    child: std::process::Child,
    seen: String,
}

impl Pty {
    fn start(sh: &Path) -> Pty {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave = std::fs::OpenOptions::new().read(true).write(true).open(name.to_str().unwrap()).unwrap();
        // setsid -c: a new session whose controlling terminal is the pty, as the console is PID 1's.
        let child = Command::new("setsid")
            .arg("-c")
            .arg(sh)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave)
            .spawn()
            .unwrap();
        Pty { master: std::fs::File::from(master), child, seen: String::new() }
    }

    fn send(&mut self, bytes: &[u8]) {
        std::io::Write::write_all(&mut self.master, bytes).unwrap();
    }

    /// Reads until `want` shows (after what was matched before), at most 10 s.
    fn expect(&mut self, want: &str) -> String {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(i) = self.seen.find(want) {
                let upto: String = self.seen[..i + want.len()].to_string();
                self.seen = self.seen[i + want.len()..].to_string();
                return upto;
            }
            assert!(std::time::Instant::now() < deadline, "no {want:?} in {:?}", self.seen);
            let mut fds = [PollFd::new(&self.master, PollFlags::IN)];
            let ts = Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
            if matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0) {
                let mut buf = [0u8; 4096];
                let n = std::io::Read::read(&mut self.master, &mut buf).unwrap_or(0);
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    }
}

/// The prompt as a person uses it: `> ` while a command is unfinished, Ctrl-C ending a loop the
/// shell runs itself and a pipeline (never the shell), `exit N` leaving with N.
#[test]
fn the_prompt_continues_lines_and_survives_ctrl_c() {
    let dir = shim(&rdbreak());
    let mut t = Pty::start(&dir.path().join("sh"));
    t.expect("# ");
    t.send(b"for i in 1 2\r");
    t.expect("> ");
    t.send(b"do echo n$i; done\r");
    let out = t.expect("# ");
    assert!(out.contains("n1\r\nn2\r\n"), "{out:?}");
    t.send(b"cat <<EOF\r");
    t.expect("> ");
    t.send(b"x $((6*7))\r");
    t.expect("> ");
    t.send(b"EOF\r");
    assert!(t.expect("# ").contains("x 42"));
    t.send(b"while :; do :; done\r");
    std::thread::sleep(std::time::Duration::from_millis(500));
    t.send(b"\x03");
    t.expect("# ");
    t.send(b"sleep 100 | cat\r");
    std::thread::sleep(std::time::Duration::from_millis(500));
    t.send(b"\x03");
    t.expect("# ");
    t.send(b"echo status $?\r");
    assert!(t.expect("# ").contains("status 130"));
    t.send(b"sleep 100 & wait\r");
    t.expect("[1] ");
    std::thread::sleep(std::time::Duration::from_millis(500));
    t.send(b"\x03");
    t.expect("# ");
    t.send(b"echo waited $?\r");
    assert!(t.expect("# ").contains("waited 130"));
    t.send(b"kill $!\r");
    t.expect("# ");
    t.send(b"read line\r");
    std::thread::sleep(std::time::Duration::from_millis(500));
    t.send(b"\x03");
    t.expect("# ");
    t.send(b"echo read $?\r");
    assert!(t.expect("# ").contains("read 130"), "Ctrl-C ends a read at the prompt");
    t.send(b"if true\r");
    t.expect("> ");
    t.send(b"\x03");
    t.expect("# ");
    t.send(b"echo after cancel\r");
    assert!(t.expect("# ").contains("after cancel"));
    t.send(b"exit 3\r");
    let st = t.child.wait().unwrap();
    assert_eq!(st.code(), Some(3));
}

/// A loop of builtins costs no directory reads (`[` is no pattern) and no forks: 20,000 rounds
/// well inside a few seconds even in a debug build.
#[test]
fn a_loop_of_builtins_is_fast() {
    let t = std::time::Instant::now();
    let o = ours("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i");
    assert_eq!(o.stdout, "20000\n");
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
}

#[test]
fn a_script_that_never_ends_is_refused() {
    let o = ours("sh /dev/zero; echo $?");
    assert_eq!(o.stdout, "127\n");
    assert!(o.stderr.contains("larger than a script may be"), "{}", o.stderr);
}

/// Scripts made at random from pieces (words with every kind of quoting and expansion, put in
/// every kind of command): each must agree with dash as the corpus does. Deterministic (a fixed
/// seed), so a difference found here is reproducible; the pieces avoid dash's one quirk kept
/// apart (its `read` drops a last field that holds a backslash).
#[test]
fn random_scripts_agree_with_dash() {
    const WORDS: &[&str] = &[
        "a",
        "'a b'",
        "\"x  y\"",
        "''",
        "\"$v\"",
        "$v",
        "${v:-d}",
        "${u-e}",
        "${#v}",
        "${v%%b*}",
        "${v#?}",
        "$(echo s)",
        "$((1+2))",
        "*.t",
        "[ab]",
        "~",
        "$1",
        "$#",
        "\"$@\"",
        "$*",
        "$?",
        "\"${v#a}\"",
    ];
    const COMMANDS: &[&str] = &[
        "echo {w}",
        "printf '%s|' {w} {w}; echo",
        "set -- {w} {w}; echo $#",
        "v={w}; echo \"$v\"",
        "case {w} in a*) echo A;; *) echo B;; esac",
        "for i in {w} {w}; do echo \"<$i>\"; done",
        "[ {w} = {w} ] && echo eq || echo ne",
        "x=$(echo {w}); echo \"$x\"",
        "echo {w} | tr a z",
        "{ echo {w}; } | cat",
        "( echo {w} )",
        "f() { echo \"$#:$1\"; }; f {w} {w}",
        "IFS=' :'; set -- {w}; echo $#",
        "echo $(( {n} {op} {n} ))",
        "i=0; while [ $i -lt {n} ]; do i=$((i+1)); done; echo $i",
        "eval 'echo {w}'",
        "echo {w} > o; echo {w} 2>&1 >> o; cat o",
        "IFS=:; x={w}:{w}; set -- $x; echo $#",
        "case {w} in {w}) echo m1;; {w}) echo m2;; *) echo m3;; esac",
        "for i in 1 2 3; do [ $i = {n} ] && break; echo $i; done",
        ": $((z = {n} {op} {n})); echo $z",
        "lf() { local v={w}; echo \"$v\"; }; lf; echo \"$v\"",
        "echo {w} | while read a b; do echo \"$b-$a\"; done",
        "x={w}; echo ${x%{w}} ${x#{w}}",
        "set -- {w} {w} {w}; shift; echo \"$*\"",
        "mkdir -p d/e; touch d/e/f.t; echo d/*/*.t d/[e]/*",
        "(exit {n}); echo $?",
        "sh -c 'echo $#' x {w} {w}",
        "cat <<EOF\n{w} $v\nEOF",
    ];
    const OPS: &[&str] = &["+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "<", ">", "==", "!=", "&&", "||"];
    let mut seed: u64 = 0x005e_ed0f_da54;
    let mut next = |n: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    let ours_dir = shim(&rdbreak());
    let dash_dir = shim(&dash());
    let mut failures = Vec::new();
    for _ in 0..200 {
        let mut script = String::from("HOME=/h; v='a b c'; set -- p1 'p 2'; touch a.t b.t\n");
        for _ in 0..1 + next(3) {
            let mut c = COMMANDS[next(COMMANDS.len())].to_string();
            while let Some(i) = c.find("{w}") {
                c.replace_range(i..i + 3, WORDS[next(WORDS.len())]);
            }
            while let Some(i) = c.find("{n}") {
                c.replace_range(i..i + 3, &(1 + next(9)).to_string());
            }
            while let Some(i) = c.find("{op}") {
                c.replace_range(i..i + 4, OPS[next(OPS.len())]);
            }
            script.push_str(&c);
            script.push('\n');
        }
        let a = run(ours_dir.path(), &script);
        let b = run(dash_dir.path(), &script);
        if (&a.stdout, a.status, a.stderr.is_empty()) != (&b.stdout, b.status, b.stderr.is_empty()) {
            failures.push(format!(
                "{script}rdbreak: {:?} {} {:?}\ndash:    {:?} {} {:?}\n",
                a.stdout, a.status, a.stderr, b.stdout, b.status, b.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{} of 200 differ:\n{}", failures.len(), failures.join("\n"));
}
