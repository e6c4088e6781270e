//! The built-in recovery shell: dracut's emergency banner, a line editor on the console, the
//! POSIX Shell Command Language (`parse` → `syntax` → `expand` → `exec`), builtins for the
//! recovery work, and external programs by PATH (so the real root's tools work inside
//! `chroot`). Nothing typed here can end PID 1.

pub mod arith;
pub mod builtins;
pub mod editor;
pub mod exec;
pub mod expand;
pub mod parse;
pub mod pattern;
pub mod syntax;

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsFd;
use std::process::Stdio;
use std::rc::Rc;
use std::sync::Mutex;

use rustix::process::{Pid, WaitOptions};
use rustix::termios::{self, OptionalActions, Termios};

use crate::boot::{Boot, Stop};
use crate::{ask, report, sys};
use editor::{Editor, Outcome};

// What a command name stands for and how a script is read: the session's vocabulary, used by
// the executor and by the builtins that look names up (`type`, `command`) or read scripts (`.`).

/// What a command name stands for, in POSIX's order of lookup.
pub enum Kind {
    Special(&'static builtins::Builtin),
    Function(Rc<syntax::Command>),
    Builtin(&'static builtins::Builtin),
    External(String),
    /// `sh` when PATH has none: the built-in shell runs it.
    Sh,
    NotFound,
}

/// The special built-ins (XCU 2.14): found before functions, their assignments stay.
pub const SPECIAL: &[&str] = &[
    ":", ".", "break", "continue", "eval", "exec", "exit", "export", "readonly", "return", "set", "shift", "trap",
    "unset",
];

/// A script for `sh FILE` or `.`: at most 16 MiB, text.
pub fn read_script(path: &str) -> Result<String, String> {
    const MAX: u64 = 16 << 20;
    let f = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX {
        return Err(format!("{path}: {len} bytes is larger than a script may be ({MAX})"));
    }
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX + 1), &mut buf).map_err(|e| format!("{path}: {e}"))?;
    // A device or a growing file says nothing true in its metadata: what was read counts.
    if buf.len() as u64 > MAX {
        return Err(format!("{path}: larger than a script may be ({MAX} bytes)"));
    }
    Ok(String::from_utf8_lossy(&buf).to_string())
}

/// The editor and its history live as long as PID 1, across every shell it opens.
static EDITOR: Mutex<Option<Editor>> = Mutex::new(None);

pub const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Writes straight to a standard descriptor: no buffer to flush, none a fork could copy.
struct Fd(BorrowedFd<'static>);

impl Write for Fd {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        loop {
            match rustix::io::write(self.0, b) {
                Err(rustix::io::Errno::INTR) => continue,
                r => return r.map_err(std::io::Error::from),
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a builtin reads and writes: descriptors 0-2 as redirections left them.
pub struct Io {
    pub input: Option<File>,
    pub out: Box<dyn Write>,
    pub err: Box<dyn Write>,
    out_file: Option<File>,
    err_file: Option<File>,
}

impl Io {
    /// Descriptors 0-2. Standard input is offered only when it is not the terminal (a pipe, a
    /// file, a here-document), so a builtin never waits on the console by surprise.
    pub fn console() -> Io {
        let stdin = rustix::stdio::stdin();
        let input = if termios::isatty(stdin) { None } else { rustix::io::dup(stdin).ok().map(File::from) };
        Io {
            input,
            out: Box::new(Fd(rustix::stdio::stdout())),
            err: Box::new(Fd(rustix::stdio::stderr())),
            out_file: None,
            err_file: None,
        }
    }

    /// For a program: it inherits descriptors 0-2 as they are.
    pub fn inherit() -> Io {
        Io {
            input: None,
            out: Box::new(std::io::sink()),
            err: Box::new(Fd(rustix::stdio::stderr())),
            out_file: None,
            err_file: None,
        }
    }

    /// A sink for tests: builtins run by the shell itself write to shared buffers.
    pub fn capture(out: std::sync::Arc<Mutex<Vec<u8>>>, err: std::sync::Arc<Mutex<Vec<u8>>>) -> Io {
        struct W(std::sync::Arc<Mutex<Vec<u8>>>);
        impl Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        Io { input: None, out: Box::new(W(out)), err: Box::new(W(err)), out_file: None, err_file: None }
    }
}

/// Forwards to the tests' sink (nested builtins, as `eval` runs them, share it).
struct SinkWriter {
    io: Rc<std::cell::RefCell<Io>>,
    err: bool,
}

impl Write for SinkWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let mut io = self.io.borrow_mut();
        if self.err {
            io.err.write(b)
        } else {
            io.out.write(b)
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Io {
    fn forward(sink: &Rc<std::cell::RefCell<Io>>) -> Io {
        Io {
            input: None,
            out: Box::new(SinkWriter { io: sink.clone(), err: false }),
            err: Box::new(SinkWriter { io: sink.clone(), err: true }),
            out_file: None,
            err_file: None,
        }
    }
}

/// How control leaves the commands being run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Break(u32),
    Continue(u32),
    Return,
    /// `exit`, `set -e`, or an error that ends a script.
    Exit,
    /// An error that abandons the command line at the prompt.
    Abort,
}

/// `set` options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub errexit: bool,
    pub nounset: bool,
    pub xtrace: bool,
    pub pipefail: bool,
    pub noglob: bool,
    pub noclobber: bool,
    pub allexport: bool,
    pub verbose: bool,
}

impl Options {
    /// The long names of `set -o`, with their letters.
    pub const NAMES: [(&'static str, char); 8] = [
        ("errexit", 'e'),
        ("nounset", 'u'),
        ("xtrace", 'x'),
        ("pipefail", '\0'),
        ("noglob", 'f'),
        ("noclobber", 'C'),
        ("allexport", 'a'),
        ("verbose", 'v'),
    ];

    pub fn flag(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "errexit" => &mut self.errexit,
            "nounset" => &mut self.nounset,
            "xtrace" => &mut self.xtrace,
            "pipefail" => &mut self.pipefail,
            "noglob" => &mut self.noglob,
            "noclobber" => &mut self.noclobber,
            "allexport" => &mut self.allexport,
            "verbose" => &mut self.verbose,
            _ => return None,
        })
    }

    pub fn name_of(letter: char) -> Option<&'static str> {
        Self::NAMES.iter().find(|(_, l)| *l == letter).map(|(n, _)| *n)
    }

    /// `$-`
    pub fn letters(&self, interactive: bool) -> String {
        let mut s = String::new();
        let mut me = self.clone();
        for (name, l) in Self::NAMES {
            if l != '\0' && me.flag(name).is_some_and(|f| *f) {
                s.push(l);
            }
        }
        if interactive {
            s.push('i');
        }
        s
    }
}

/// Caps on what input can make the shell do, each a named error when hit.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Nesting of function calls, `eval`, `.` and traps.
    pub depth: u32,
    /// Directory entries one pathname expansion may read.
    pub glob: usize,
    /// Bytes of output one command substitution may give.
    pub subst: usize,
    /// Bytes one variable may hold.
    pub value: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { depth: 200, glob: 200_000, subst: 16 << 20, value: 16 << 20 }
    }
}

pub struct Shell<'a> {
    pub boot: Option<&'a mut Boot>,
    pub vars: HashMap<String, String>,
    pub exported: HashSet<String>,
    pub readonly: HashSet<String>,
    pub status: i32,
    /// `exit` was typed at the top: leave the shell and continue booting.
    pub leave: bool,
    pub interactive: bool,
    /// `$0` and `$1…`
    pub arg0: String,
    pub args: Vec<String>,
    pub funcs: HashMap<String, Rc<syntax::Command>>,
    pub opts: Options,
    /// `trap` actions by condition (`EXIT`, `INT`, …); empty means ignored.
    pub traps: HashMap<String, String>,
    pub limits: Limits,
    pub flow: Option<Flow>,
    /// Running in a forked child (a subshell, a pipeline stage): `exit` ends only it.
    pub subshell: bool,
    /// The child runs its last command: a program may replace it.
    exec_last: bool,
    /// `$$`: the shell's process, also in its subshells.
    pid: i32,
    last_bg: Option<i32>,
    jobs: Vec<(Pid, Option<i32>)>,
    /// Inside an `if`/`while` condition, a `!` or a non-last part of `&&`/`||`: `set -e` waits.
    errexit_off: u32,
    /// Loops around the running command (for `break` and `continue`).
    pub loops: u32,
    /// Nesting of functions, `eval`, `.`, traps.
    pub depth: u32,
    /// What `local` saved in each running function.
    pub locals: Vec<Vec<(String, Option<String>, bool)>>,
    /// Assignments before the program being started (`X=1 prog`).
    temp_env: Vec<(String, String)>,
    /// The status of the last command substitution of a command with no command name.
    last_sub: Option<i32>,
    /// Descriptors 3-9 `exec` redirected for good: the user's, not init's.
    user_fds: HashSet<i32>,
    /// Redirections of 0-2 in effect around the running builtin.
    std_redirected: u32,
    /// `getopts`: the OPTIND it set last and the place in that argument's cluster of letters.
    pub getopts: (usize, usize),
    /// Tests: what builtins run by this process write, when 0-2 are not redirected.
    sink: Option<Rc<std::cell::RefCell<Io>>>,
}

impl<'a> Shell<'a> {
    pub fn new(boot: Option<&'a mut Boot>) -> Self {
        let mut vars: HashMap<String, String> = std::env::vars().collect();
        vars.entry("PATH".into()).or_insert_with(|| DEFAULT_PATH.into());
        vars.entry("HOME".into()).or_insert_with(|| "/root".into());
        vars.entry("TERM".into()).or_insert_with(|| "vt100".into());
        vars.insert("SHELL".into(), "/bin/sh".into());
        let exported = vars.keys().cloned().collect();
        vars.entry("IFS".into()).or_insert_with(|| " \t\n".into());
        vars.insert("PS1".into(), "# ".into());
        vars.insert("PS2".into(), "> ".into());
        if let Ok(cwd) = std::env::current_dir() {
            vars.insert("PWD".into(), cwd.display().to_string());
        }
        Shell {
            boot,
            vars,
            exported,
            readonly: HashSet::new(),
            status: 0,
            leave: false,
            interactive: false,
            arg0: "rdbreak".into(),
            args: Vec::new(),
            funcs: HashMap::new(),
            opts: Options::default(),
            traps: HashMap::new(),
            limits: Limits::default(),
            flow: None,
            subshell: false,
            exec_last: false,
            pid: rustix::process::getpid().as_raw_nonzero().get(),
            last_bg: None,
            jobs: Vec::new(),
            errexit_off: 0,
            loops: 0,
            depth: 0,
            locals: Vec::new(),
            temp_env: Vec::new(),
            last_sub: None,
            user_fds: HashSet::new(),
            getopts: (0, 1),
            std_redirected: 0,
            sink: None,
        }
    }

    /// Runs one line (or several); returns its status. Builtins the shell runs itself write to
    /// `io_default()`'s writers (tests capture them so); programs write to descriptors 0-2.
    pub fn run_line(&mut self, line: &str, io_default: &mut dyn FnMut() -> Io) -> i32 {
        self.sink = Some(Rc::new(std::cell::RefCell::new(io_default())));
        let st = self.run_source(line);
        self.sink = None;
        self.end_of_input();
        st
    }

    /// After a complete command at the top: `exit` leaves, the rest is spent.
    fn end_of_input(&mut self) {
        if self.flow.take() == Some(Flow::Exit) {
            self.leave = true;
        }
        self.loops = 0;
        self.depth = 0;
    }

    /// Writes a message to standard error (or the tests' sink).
    pub fn say(&mut self, msg: &str) {
        match self.sink.as_ref() {
            Some(s) if self.std_redirected == 0 => {
                let _ = writeln!(s.borrow_mut().err, "{msg}");
            }
            _ => {
                let _ = writeln!(Io::console().err, "{msg}");
            }
        }
    }

    /// Runs a program in the foreground and waits for it. `root` chroots it first.
    pub fn external(&mut self, words: &[String], io: Io, root: Option<&str>) -> i32 {
        let name = &words[0];
        let path = if name.contains('/') || root.is_some() {
            Some(name.clone())
        } else {
            find_in_path(name, self.vars.get("PATH").map_or(DEFAULT_PATH, String::as_str))
        };
        let Some(path) = path else {
            self.say(&format!("rdbreak: {name}: command not found (type 'help' for the built-in commands)"));
            return 127;
        };
        let mut cmd = std::process::Command::new(&path);
        cmd.args(&words[1..]).env_clear().envs(self.environment(&self.temp_env));
        if let Some(f) = io.input {
            cmd.stdin(Stdio::from(f));
        }
        if let Some(f) = io.out_file {
            cmd.stdout(Stdio::from(f));
        }
        if let Some(f) = io.err_file {
            cmd.stderr(Stdio::from(f));
        }
        if self.interactive || root.is_some() {
            sys::foreground(&mut cmd, root, self.interactive);
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let where_ = root.map_or(String::new(), |r| format!(" in {r}"));
                let hint = if e.kind() == std::io::ErrorKind::NotFound && root.is_some() {
                    " (a program or a library it needs is missing there)"
                } else {
                    ""
                };
                self.say(&format!("rdbreak: cannot run {path}{where_}: {e}{hint}"));
                return if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            }
        };
        let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
        if self.interactive {
            if let Some(pid) = pid {
                let _ = termios::tcsetpgrp(std::io::stdin().as_fd(), pid);
            }
        }
        let status = wait_foreground(pid);
        if self.interactive {
            let _ = termios::tcsetpgrp(std::io::stdin().as_fd(), rustix::process::getpgrp());
        }
        self.reap_jobs();
        status
    }

    /// The interactive loop: prompt, read (with `> ` while a command is unfinished), run,
    /// until `exit` or Ctrl-D.
    pub fn interact(&mut self, name: &str) {
        self.interactive = true;
        sys::catch_interrupt();
        let mut guard = EDITOR.lock().unwrap_or_else(|e| e.into_inner());
        let editor = guard.get_or_insert_with(Editor::default);
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok();
        'session: while !self.leave {
            let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|_| "?".into());
            let mut prompt = format!("{name}:{cwd}# ");
            let mut text = String::new();
            loop {
                match read_line(editor, &prompt, saved.as_ref(), self) {
                    ReadLine::Line(l) => {
                        text.push_str(&l);
                        text.push('\n');
                    }
                    ReadLine::Cancel => continue 'session,
                    ReadLine::Eof if text.is_empty() => break 'session,
                    ReadLine::Eof => {
                        self.say("rdbreak: end of input inside an unfinished command; it is dropped");
                        continue 'session;
                    }
                }
                if text.len() > parse::MAX_LINE {
                    self.say(&format!("rdbreak: command longer than {} bytes; it is dropped", parse::MAX_LINE));
                    continue 'session;
                }
                match parse::parse_program(&text) {
                    Err(parse::ParseError::Incomplete(_)) => {
                        prompt = self.vars.get("PS2").cloned().unwrap_or_else(|| "> ".into());
                    }
                    _ => break,
                }
            }
            if let Some(t) = &saved {
                let _ = termios::tcsetattr(&stdin, OptionalActions::Now, t);
            }
            sys::interrupted();
            self.run_source(&text);
            self.end_of_input();
            self.reap_jobs();
        }
        self.status = self.run_exit_trap(self.status);
        if let Some(t) = &saved {
            let _ = termios::tcsetattr(&stdin, OptionalActions::Now, t);
        }
    }

    /// Runs a script or `-c` text to its end (the shell as `sh`, off PID 1); returns the status
    /// to exit with.
    pub fn run_script(&mut self, src: &str) -> i32 {
        self.run_source(src);
        self.flow = None;
        self.run_exit_trap(self.status)
    }
}

pub fn find_in_path(name: &str, path: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The shell as `sh` off PID 1 (`rdbreak-init` run under the name `sh`): `sh -c TEXT [NAME
/// [ARG…]]`, `sh FILE [ARG…]`, or commands from standard input (the prompt on a terminal).
/// Options `-e -u -x -f -C -a -v` and `-o NAME` as `set` takes them. Returns the exit status.
pub fn run_as_sh(args: &[String]) -> i32 {
    let mut sh = Shell::new(None);
    sh.arg0 = "sh".into();
    let mut command = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            i += 1;
            break;
        }
        let on = match a.chars().next() {
            Some('-') if a.len() > 1 => true,
            Some('+') if a.len() > 1 => false,
            _ => break,
        };
        if &a[1..] == "o" {
            if let Some(f) = args.get(i + 1).and_then(|n| sh.opts.flag(n)) {
                *f = on;
            }
            i += 2;
            continue;
        }
        for c in a[1..].chars() {
            match c {
                'c' => command = true,
                's' | 'i' | 'm' => {}
                c => match Options::name_of(c).and_then(|n| sh.opts.flag(n)) {
                    Some(f) => *f = on,
                    None => {
                        let _ = writeln!(Io::console().err, "sh: -{c}: unknown option");
                        return 2;
                    }
                },
            }
        }
        i += 1;
    }
    let text = if command {
        let Some(text) = args.get(i) else {
            let _ = writeln!(Io::console().err, "sh: -c needs a command string");
            return 2;
        };
        if let Some(name) = args.get(i + 1) {
            sh.arg0 = name.clone();
        }
        sh.args = args.get(i + 2..).unwrap_or_default().to_vec();
        text.clone()
    } else if let Some(file) = args.get(i) {
        match read_script(file) {
            Ok(t) => {
                sh.arg0 = file.clone();
                sh.args = args[i + 1..].to_vec();
                t
            }
            Err(e) => {
                let _ = writeln!(Io::console().err, "sh: {e}");
                return 127;
            }
        }
    } else if termios::isatty(rustix::stdio::stdin()) {
        sys::block_job_control_signals();
        sh.interact("sh");
        return sh.status;
    } else {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut text);
        String::from_utf8_lossy(&text).to_string()
    };
    sys::child_signals_default();
    sh.run_script(&text)
}

/// A file for `.`: the first readable one of that name in PATH.
pub fn find_in_path_any(name: &str, path: &str) -> Option<String> {
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGTERM => "Terminated".into(),
        libc::SIGKILL => "Killed".into(),
        libc::SIGSEGV => "Segmentation fault".into(),
        libc::SIGABRT => "Aborted".into(),
        libc::SIGHUP => "Hangup".into(),
        libc::SIGQUIT => "Quit".into(),
        libc::SIGBUS => "Bus error".into(),
        libc::SIGILL => "Illegal instruction".into(),
        libc::SIGFPE => "Floating point exception".into(),
        n => format!("Killed by signal {n}"),
    }
}

/// Waits for a foreground child. A child stopped by Ctrl-Z is continued: there is no job control.
fn wait_foreground(pid: Option<Pid>) -> i32 {
    wait_child(pid, true)
}

/// Waits for a child; after a Ctrl-C that ended it, a newline when `newline` (once per job).
fn wait_child(pid: Option<Pid>, newline: bool) -> i32 {
    let Some(pid) = pid else { return 1 };
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::UNTRACED) {
            Ok(Some((_, st))) if st.stopped() => {
                eprintln!(
                    "\nrdbreak: stopped processes cannot be resumed later here; continuing it (use Ctrl-C to end it)"
                );
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
            }
            Ok(Some((_, st))) => {
                if let Some(code) = st.exit_status() {
                    return code;
                }
                if let Some(sig) = st.terminating_signal() {
                    if sig == libc::SIGINT && newline {
                        eprintln!();
                    } else if sig != libc::SIGINT && sig != libc::SIGPIPE {
                        // As shells do: a program killed says how (OOM's "Killed" most of all).
                        eprintln!("{}", signal_name(sig));
                    }
                    return 128 + sig;
                }
                return 1;
            }
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return 1,
        }
    }
}

/// Collects every exited child (orphans are reparented to PID 1).
pub fn reap_children() {
    while let Ok(Some(_)) = rustix::process::waitpid(None, WaitOptions::NOHANG) {}
}

/// Processes left running in the initramfs (a daemon started from the shell or the chroot):
/// every PID but ours, except kernel threads (empty cmdline) and processes that ask to survive
/// the switch with an argv[0] starting with `@` (systemd's convention for initrd helpers).
fn leftovers() -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if pid == 1 {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if cmdline.is_empty() || cmdline.starts_with(b"@") {
            continue;
        }
        let name = String::from_utf8_lossy(cmdline.split(|&b| b == 0).next().unwrap_or_default()).to_string();
        out.push((pid, name));
    }
    out
}

/// Ends what the shell left running before switch_root, so nothing of the initramfs keeps
/// /sysroot busy or survives into the real system: SIGTERM, up to a second, then SIGKILL.
pub fn stop_leftovers() {
    let first = leftovers();
    if first.is_empty() {
        return;
    }
    let names: Vec<String> = first.iter().map(|(p, n)| format!("{n} ({p})")).collect();
    log::warn!("stopping processes left running in the initramfs: {}", names.join(", "));
    let signal = |sig| {
        for (pid, _) in leftovers() {
            if let Some(pid) = Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, sig);
            }
        }
    };
    signal(rustix::process::Signal::TERM);
    for _ in 0..20 {
        reap_children();
        if leftovers().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    signal(rustix::process::Signal::KILL);
    std::thread::sleep(std::time::Duration::from_millis(50));
    reap_children();
}

enum ReadLine {
    Line(String),
    /// Ctrl-C: the line (and an unfinished command) is dropped.
    Cancel,
    /// Ctrl-D on an empty line, or the console cannot be read.
    Eof,
}

/// Reads one line in raw mode.
fn read_line(editor: &mut Editor, prompt: &str, saved: Option<&Termios>, shell: &Shell) -> ReadLine {
    let stdin = std::io::stdin();
    if let Some(t) = saved {
        let mut raw = t.clone();
        raw.make_raw();
        // Keep output processing so "\n" still becomes "\r\n" for everything we print.
        raw.output_modes |= termios::OutputModes::OPOST | termios::OutputModes::ONLCR;
        let _ = termios::tcsetattr(&stdin, OptionalActions::Now, &raw);
    }
    let mut out = std::io::stdout();
    let _ = write!(out, "{prompt}");
    let _ = out.flush();
    editor.start(prompt);
    let mut byte = [0u8; 1];
    let mut idle_eof = 0;
    loop {
        // Unbuffered: bytes typed ahead stay in the terminal for the command that reads them.
        match rustix::io::read(rustix::stdio::stdin(), &mut byte) {
            Ok(0) => {
                // No console input at all (a closed console): do not spin.
                idle_eof += 1;
                if idle_eof > 3 {
                    return ReadLine::Eof;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
                continue;
            }
            Ok(_) => idle_eof = 0,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return ReadLine::Eof,
        }
        let mut echo = String::new();
        let outcome = editor.feed(byte[0], &mut echo);
        if outcome == Outcome::Complete {
            let word_start = editor.before_cursor().rfind(' ').map_or(0, |i| i + 1);
            let before = editor.before_cursor();
            let word = &before[word_start..];
            let candidates = builtins::completions(word, command_position(&before[..word_start]), shell);
            let (insert, list) = editor::complete(word, &candidates);
            if !list.is_empty() && insert.is_empty() {
                echo.push('\n');
                echo.push_str(&list.join("  "));
                echo.push('\n');
                editor.reprint(&mut echo);
            } else {
                editor.insert_str(&insert, &mut echo);
            }
        }
        let _ = out.write_all(echo.as_bytes());
        let _ = out.flush();
        match outcome {
            Outcome::Submit(line) => return ReadLine::Line(line),
            Outcome::Eof => return ReadLine::Eof,
            Outcome::Cancel => return ReadLine::Cancel,
            Outcome::Continue | Outcome::Complete => {}
        }
    }
}

/// Whether a word after `before` names a command (for Tab): at the start, after `|`, `;`, `&`,
/// `(`, `{`, `` ` `` or `$(`, or after a reserved word that a command follows.
fn command_position(before: &str) -> bool {
    let b = before.trim_end();
    let last = b.rsplit([' ', '\t']).next().unwrap_or("");
    b.is_empty()
        || b.ends_with(['|', ';', '&', '(', '{', '`'])
        || matches!(last, "then" | "do" | "else" | "elif" | "if" | "while" | "until" | "!")
}

/// Makes `dev` our controlling terminal on fds 0-2, so Ctrl-C goes to the foreground command
/// (and PID 1, never in the foreground while a command runs, is not touched).
pub fn take_console(dev: &str) {
    let Ok(tty) = OpenOptions::new().read(true).write(true).open(dev) else {
        log::warn!("cannot open {dev}; the shell stays on /dev/console without job control");
        return;
    };
    let _ = rustix::process::setsid();
    let _ = rustix::process::ioctl_tiocsctty(&tty);
    let _ = rustix::stdio::dup2_stdin(&tty);
    let _ = rustix::stdio::dup2_stdout(&tty);
    let _ = rustix::stdio::dup2_stderr(&tty);
    let _ = termios::tcsetpgrp(&tty, rustix::process::getpgrp());
}

/// After the shell, fds 0-2 are the kernel's `/dev/console` again, so the real init (or a later
/// message) writes where it would have without the shell, whichever console the shell took.
fn give_back_console() {
    if let Ok(con) = OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOCTTY).open("/dev/console") {
        let _ = rustix::stdio::dup2_stdin(&con);
        let _ = rustix::stdio::dup2_stdout(&con);
        let _ = rustix::stdio::dup2_stderr(&con);
    }
}

/// What to do after a failure once the shell (if any) is left: `rd.emergency=` first; without a
/// shell, `panic=N` means reboot (as initramfs-tools does), else poweroff; after a fatal error,
/// poweroff. None means continue.
pub fn emergency_action(
    rd_emergency: Option<&str>,
    shell_allowed: bool,
    panic_delay: Option<i64>,
    died: bool,
) -> Option<String> {
    match rd_emergency.filter(|a| !a.is_empty()) {
        Some(a) => Some(a.to_string()),
        None if !shell_allowed && panic_delay.is_some() => Some("reboot".into()),
        None if !shell_allowed || died => Some("poweroff".into()),
        None => None,
    }
}

/// dracut's `emergency_shell`: the banner, rdsosreport, the shell if allowed, then the action.
pub fn emergency_shell(boot: &mut Boot, stop: Stop<'_>) {
    let is_break = matches!(stop, Stop::Break(_));
    let msg = stop.message();
    let mut con = std::io::stderr();
    let _ = write!(con, "\n\n");
    if is_break {
        log::warn!("{msg}");
    } else {
        for line in msg.lines() {
            log::warn!("{line}");
        }
    }
    let _ = writeln!(con);
    // A requested break always gets its shell; so does any failure once a break was asked for.
    let shell_allowed = is_break
        || boot.cmdline().flag("rd.shell", true)
        || boot.cmdline().last("rd.break").is_some()
        || boot.cmdline().last("break").is_some();
    if !is_break {
        let _ = writeln!(con, "Generating \"{}\"", report::REPORT);
        if let Err(e) = report::write(boot) {
            log::warn!("cannot write {}: {e}", report::REPORT);
        }
        let _ = writeln!(con, "\nYou might want to save \"{}\" to a USB stick or /boot\nafter mounting them and attach it to a bug report.", report::REPORT);
        if !boot.cmdline().flag("rd.debug", false) {
            let _ = writeln!(con, "\nTo get more debug information in the report,\nreboot with \"rd.debug\" added to the kernel command line.");
        }
    }
    if shell_allowed {
        // Break-glass: nothing a TPM would unseal on this boot stays unsealable for the shell.
        boot.before_shell();
        let _ = writeln!(con, "\nDropping to debug shell.\n");
        if is_break {
            let _ = writeln!(con, "Type 'help' for the commands; 'exit' continues the boot.\n");
        }
        // The image's keymap, as for the passphrase: the person types on their own keyboard.
        ask::load_keymap_once(std::path::Path::new("/"), boot.cmdline());
        // Every console is offered (`rd.ctty=` pins one): the person may be at any of them.
        let ttys = ask::consoles(&boot.paths().sys);
        take_console(&ask::shell_console(boot.cmdline().get("rd.ctty"), &ttys, &msg));
        let mut sh = Shell::new(Some(boot));
        sh.interact(stop.prompt());
        give_back_console();
    } else {
        log::warn!("Boot has failed. To debug this issue add \"rd.shell rd.debug\" to the kernel command line.");
    }
    let delay = if shell_allowed { None } else { panic_delay(boot) };
    if let Some(action) = emergency_action(boot.cmdline().get("rd.emergency"), shell_allowed, delay, boot.died()) {
        builtins::power(&action, delay);
    }
}

/// `panic=N` on the command line: how long to wait before the action when there is no shell.
fn panic_delay(boot: &Boot) -> Option<i64> {
    boot.cmdline().get("panic").and_then(|v| v.parse::<i64>().ok()).filter(|&n| n != 0)
}

#[cfg(test)]
mod tests {
    use super::emergency_action;

    #[test]
    fn tab_knows_where_a_command_goes() {
        use super::command_position as c;
        assert!(c("") && c("dmesg | ") && c("a; ") && c("x && ") && c("echo $(") && c("if ") && c("while true; do "));
        assert!(!c("ls ") && !c("mount -o ") && !c("echo a|b "));
    }

    #[test]
    fn emergency_actions_in_order_of_precedence() {
        assert_eq!(emergency_action(Some("halt"), false, Some(5), true).as_deref(), Some("halt"));
        assert_eq!(emergency_action(None, false, Some(2), true).as_deref(), Some("reboot"), "panic= without a shell");
        assert_eq!(emergency_action(None, false, None, false).as_deref(), Some("poweroff"));
        assert_eq!(emergency_action(None, true, None, true).as_deref(), Some("poweroff"), "after a fatal error");
        assert_eq!(emergency_action(None, true, None, false), None, "a shell that is left continues the boot");
        assert_eq!(emergency_action(Some(""), true, None, false), None);
    }
}
