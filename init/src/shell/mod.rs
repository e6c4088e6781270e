//! The built-in recovery shell: dracut's emergency banner, a line editor on the console, a small
//! command language, builtins for the recovery work, and external programs by PATH (so the real
//! root's tools work inside `chroot`). Nothing typed here can end PID 1.

pub mod builtins;
pub mod editor;
pub mod parse;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsFd;
use std::process::Stdio;
use std::sync::Mutex;

use rustix::process::{Pid, WaitOptions};
use rustix::termios::{self, OptionalActions, Termios};

use crate::boot::{Boot, Stop};
use crate::{ask, report, sys};
use editor::{Editor, Outcome};
use parse::{Join, Redirect};

/// The editor and its history live as long as PID 1, across every shell it opens.
static EDITOR: Mutex<Option<Editor>> = Mutex::new(None);

pub const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// What a command reads and writes: the console, or files named by redirections.
pub struct Io {
    pub input: Option<File>,
    pub out: Box<dyn Write>,
    pub err: Box<dyn Write>,
    out_file: Option<File>,
    err_file: Option<File>,
}

impl Io {
    pub fn console() -> Io {
        Io {
            input: None,
            out: Box::new(std::io::stdout()),
            err: Box::new(std::io::stderr()),
            out_file: None,
            err_file: None,
        }
    }

    /// A sink for tests: output goes to shared buffers.
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

pub struct Shell<'a> {
    pub boot: Option<&'a mut Boot>,
    pub vars: HashMap<String, String>,
    pub status: i32,
    /// `exit` was typed: leave the shell and continue booting.
    pub leave: bool,
    pub interactive: bool,
}

impl<'a> Shell<'a> {
    pub fn new(boot: Option<&'a mut Boot>) -> Self {
        let mut vars: HashMap<String, String> = std::env::vars().collect();
        vars.entry("PATH".into()).or_insert_with(|| DEFAULT_PATH.into());
        vars.entry("HOME".into()).or_insert_with(|| "/root".into());
        vars.entry("TERM".into()).or_insert_with(|| "vt100".into());
        vars.insert("SHELL".into(), "/bin/sh".into());
        Shell { boot, vars, status: 0, leave: false, interactive: false }
    }

    fn var(&self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.status.to_string()),
            "PWD" => std::env::current_dir().ok().map(|p| p.display().to_string()),
            _ => self.vars.get(name).cloned(),
        }
    }

    /// Runs one line; returns its status.
    pub fn run_line(&mut self, line: &str, io_default: &mut dyn FnMut() -> Io) -> i32 {
        let syntax_error = |e: parse::ParseError, io_default: &mut dyn FnMut() -> Io| {
            let _ = writeln!(io_default().err, "rdbreak: {e}");
            2
        };
        let segments = match parse::split_list(line) {
            Ok(s) => s,
            Err(e) => {
                self.status = syntax_error(e, io_default);
                return self.status;
            }
        };
        for (join, text) in segments {
            let run = match join {
                Join::Always => true,
                Join::And => self.status == 0,
                Join::Or => self.status != 0,
            };
            if !run {
                continue;
            }
            let cmd = match parse::parse(&text, &|n| self.var(n)) {
                Ok(mut c) if c.len() == 1 => c.remove(0).1,
                Ok(_) => continue,
                Err(e) => {
                    self.status = syntax_error(e, io_default);
                    return self.status;
                }
            };
            let mut io = io_default();
            self.status = match open_redirects(&cmd.redirects, &mut io) {
                Ok(()) => self.run_command(&cmd.words, io),
                Err(msg) => {
                    let _ = writeln!(io_default().err, "rdbreak: {msg}");
                    1
                }
            };
            if self.leave {
                break;
            }
        }
        self.status
    }

    fn run_command(&mut self, words: &[String], mut io: Io) -> i32 {
        let Some(name) = words.first() else { return 0 };
        // `NAME=value` alone sets a shell variable.
        if words.len() == 1 {
            if let Some((k, v)) = name.split_once('=') {
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.vars.insert(k.to_string(), v.to_string());
                    return 0;
                }
            }
        }
        if let Some(b) = builtins::find(name) {
            if words.get(1).is_some_and(|a| a == "--help") {
                let _ = writeln!(io.out, "{}", b.usage);
                return 0;
            }
            let status = (b.run)(self, &words[1..], &mut io);
            let _ = io.out.flush();
            return status;
        }
        self.external(words, io, None)
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
            let mut io = io;
            let _ = writeln!(io.err, "rdbreak: {name}: command not found (type 'help' for the built-in commands)");
            return 127;
        };
        let mut cmd = std::process::Command::new(&path);
        cmd.args(&words[1..]).env_clear().envs(&self.vars);
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
            sys::foreground(&mut cmd, root);
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let mut err: Box<dyn Write> = Box::new(std::io::stderr());
                let where_ = root.map_or(String::new(), |r| format!(" in {r}"));
                let hint = if e.kind() == std::io::ErrorKind::NotFound && root.is_some() {
                    " (a program or a library it needs is missing there)"
                } else {
                    ""
                };
                let _ = writeln!(err, "rdbreak: cannot run {path}{where_}: {e}{hint}");
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
        reap_children();
        status
    }

    /// The interactive loop: prompt, read, run, until `exit` or Ctrl-D.
    pub fn interact(&mut self, name: &str) {
        self.interactive = true;
        let mut guard = EDITOR.lock().unwrap_or_else(|e| e.into_inner());
        let editor = guard.get_or_insert_with(Editor::default);
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok();
        while !self.leave {
            let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|_| "?".into());
            let prompt = format!("{name}:{cwd}# ");
            let line = match read_line(editor, &prompt, saved.as_ref(), self) {
                Some(l) => l,
                None => break, // Ctrl-D on an empty line, or the console went away
            };
            if let Some(t) = &saved {
                let _ = termios::tcsetattr(&stdin, OptionalActions::Now, t);
            }
            self.run_line(&line, &mut Io::console);
        }
        if let Some(t) = &saved {
            let _ = termios::tcsetattr(&stdin, OptionalActions::Now, t);
        }
    }
}

fn open_redirects(redirects: &[Redirect], io: &mut Io) -> Result<(), String> {
    for r in redirects {
        match r {
            Redirect::In(p) => io.input = Some(File::open(p).map_err(|e| format!("cannot read {p}: {e}"))?),
            Redirect::Out { fd, path, append } => {
                let f = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .append(*append)
                    .truncate(!append)
                    .open(path)
                    .map_err(|e| format!("cannot write {path}: {e}"))?;
                let clone = f.try_clone().map_err(|e| e.to_string())?;
                if *fd == 1 {
                    io.out = Box::new(clone);
                    io.out_file = Some(f);
                } else {
                    io.err = Box::new(clone);
                    io.err_file = Some(f);
                }
            }
            Redirect::ErrToOut => {
                if let Some(f) = &io.out_file {
                    let f2 = f.try_clone().map_err(|e| e.to_string())?;
                    io.err = Box::new(f.try_clone().map_err(|e| e.to_string())?);
                    io.err_file = Some(f2);
                } else {
                    io.err = Box::new(std::io::stdout());
                }
            }
        }
    }
    Ok(())
}

pub fn find_in_path(name: &str, path: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Waits for a foreground child. A child stopped by Ctrl-Z is continued: there is no job control.
fn wait_foreground(pid: Option<Pid>) -> i32 {
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
                    if sig == libc::SIGINT {
                        eprintln!();
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

/// Reads one line in raw mode. None on Ctrl-D (empty line) or when the console cannot be read.
fn read_line(editor: &mut Editor, prompt: &str, saved: Option<&Termios>, shell: &Shell) -> Option<String> {
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
        match stdin.lock().read(&mut byte) {
            Ok(0) => {
                // No console input at all (a closed console): do not spin.
                idle_eof += 1;
                if idle_eof > 3 {
                    return None;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
                continue;
            }
            Ok(_) => idle_eof = 0,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        let mut echo = String::new();
        let outcome = editor.feed(byte[0], &mut echo);
        if outcome == Outcome::Complete {
            let word_start = editor.before_cursor().rfind(' ').map_or(0, |i| i + 1);
            let before = editor.before_cursor();
            let word = &before[word_start..];
            let candidates = builtins::completions(word, word_start == 0, shell);
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
            Outcome::Submit(line) => return Some(line),
            Outcome::Eof => return None,
            Outcome::Cancel => {
                let _ = write!(out, "{prompt}");
                let _ = out.flush();
                editor.start(prompt);
            }
            Outcome::Continue | Outcome::Complete => {}
        }
    }
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
    fn emergency_actions_in_order_of_precedence() {
        assert_eq!(emergency_action(Some("halt"), false, Some(5), true).as_deref(), Some("halt"));
        assert_eq!(emergency_action(None, false, Some(2), true).as_deref(), Some("reboot"), "panic= without a shell");
        assert_eq!(emergency_action(None, false, None, false).as_deref(), Some("poweroff"));
        assert_eq!(emergency_action(None, true, None, true).as_deref(), Some("poweroff"), "after a fatal error");
        assert_eq!(emergency_action(None, true, None, false), None, "a shell that is left continues the boot");
        assert_eq!(emergency_action(Some(""), true, None, false), None);
    }
}
