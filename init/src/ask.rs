//! The passphrase prompt, as systemd-ask-password and dracut's `ask_for_password` do it without
//! plymouth: the prompt on every active console, nothing echoed, the first answer wins, Ctrl-C
//! gives up (the boot goes to the shell). The answer lives in a zeroizing buffer that nothing
//! formats; the keymap dracut's i18n put in the image is loaded once before the first prompt.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::termios::{self, OptionalActions, OutputModes, Termios};
use zeroize::Zeroizing;

use crate::cmdline::Cmdline;

/// Longer answers are cut here (cryptsetup's interactive passphrases stop at 512 characters).
pub const MAX_SECRET: usize = 512;

/// What the person at the console answered.
pub enum Answer {
    Secret(Zeroizing<Vec<u8>>),
    /// Ctrl-C (or Ctrl-D on an empty line): go to the shell.
    Cancelled,
    /// `rd.luks.timeout` ran out.
    TimedOut,
    /// No console could be opened to ask on.
    NoConsole(String),
}

/// What one key did to a line being typed.
#[derive(Debug, PartialEq, Eq)]
pub enum Feed {
    More,
    Done,
    Cancel,
}

/// One console's line, edited as a canonical tty would without echo: backspace, Ctrl-U, escape
/// sequences (arrow keys) dropped, everything else kept as typed.
#[derive(Default)]
pub struct Line {
    buf: Zeroizing<Vec<u8>>,
    /// Inside an escape sequence: 1 after ESC, 2 after `ESC [` until its final byte.
    escape: u8,
}

impl Line {
    pub fn feed(&mut self, b: u8) -> Feed {
        match (self.escape, b) {
            (1, b'[' | b'O') => {
                self.escape = 2;
                return Feed::More;
            }
            (1, _) => self.escape = 0,
            (2, 0x40..=0x7e) => {
                self.escape = 0;
                return Feed::More;
            }
            (2, _) => return Feed::More,
            _ => {}
        }
        match b {
            b'\r' | b'\n' => Feed::Done,
            0x03 => Feed::Cancel,
            0x04 if self.buf.is_empty() => Feed::Cancel,
            0x7f | 0x08 => {
                // One character, not one byte: drop UTF-8 continuation bytes with their lead.
                while let Some(c) = self.buf.pop() {
                    if c & 0xc0 != 0x80 {
                        break;
                    }
                }
                Feed::More
            }
            0x15 => {
                self.buf.clear();
                Feed::More
            }
            0x1b => {
                self.escape = 1;
                Feed::More
            }
            0x00..=0x1f => Feed::More,
            _ => {
                if self.buf.len() < MAX_SECRET {
                    self.buf.push(b);
                }
                Feed::More
            }
        }
    }

    pub fn take(&mut self) -> Zeroizing<Vec<u8>> {
        std::mem::take(&mut self.buf)
    }
}

/// The devices behind `/sys/class/tty/console/active`, each followed through its own `active`
/// (`tty0` is the foreground VT, `tty1`), as systemd's ask-password agents find them.
pub fn consoles(sys: &Path) -> Vec<String> {
    let read = |name: &str| std::fs::read_to_string(sys.join("class/tty").join(name).join("active")).ok();
    resolve_consoles(read("console").as_deref().unwrap_or(""), &read)
}

/// The pure part of [`consoles`]: `active` is the console's list, `read` looks up another's.
pub fn resolve_consoles(active: &str, read: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for first in active.split_whitespace() {
        let mut name = first.to_string();
        for _ in 0..8 {
            match read(&name).as_deref().and_then(|a| a.split_whitespace().last().map(str::to_string)) {
                Some(next) if next != name => name = next,
                _ => break,
            }
        }
        let dev = format!("/dev/{name}");
        if !out.contains(&dev) {
            out.push(dev);
        }
    }
    if out.is_empty() {
        out.push("/dev/console".into());
    }
    out
}

/// An open console in no-echo raw mode, given back as it was when dropped.
struct Tty {
    path: String,
    file: File,
    saved: Option<Termios>,
    line: Line,
}

impl Tty {
    fn open(path: &str) -> std::io::Result<Tty> {
        let file =
            OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK).open(path)?;
        let saved = termios::tcgetattr(&file).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            raw.output_modes |= OutputModes::OPOST | OutputModes::ONLCR;
            let _ = termios::tcsetattr(&file, OptionalActions::Flush, &raw);
        }
        Ok(Tty { path: path.to_string(), file, saved, line: Line::default() })
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(&self.file, OptionalActions::Now, t);
        }
    }
}

/// Opens every console in `ttys` in no-echo raw mode; the ones that cannot be opened are named.
fn open_all(ttys: &[String]) -> (Vec<Tty>, Vec<String>) {
    let mut open = Vec::new();
    let mut errors = Vec::new();
    for t in ttys {
        match Tty::open(t) {
            Ok(tty) => open.push(tty),
            Err(e) => errors.push(format!("{t}: {e}")),
        }
    }
    (open, errors)
}

/// How waiting on the consoles ended.
enum Waited<R> {
    Got(R),
    TimedOut,
    /// Every console hung up or failed.
    Gone,
}

/// Feeds each byte typed on any console in `open` to `on_byte(console, byte)` until it returns
/// a result or `timeout` passes. A console that hangs up or fails is dropped rather than polled
/// again at once (a line with nothing behind it must not spin PID 1).
fn wait_typed<R>(
    open: &mut Vec<Tty>,
    timeout: Option<Duration>,
    on_byte: &mut dyn FnMut(&mut Tty, u8) -> Option<R>,
) -> Waited<R> {
    let start = Instant::now();
    let mut bytes = Zeroizing::new([0u8; 64]);
    loop {
        if open.is_empty() {
            return Waited::Gone;
        }
        let wait = match timeout {
            Some(limit) => match limit.checked_sub(start.elapsed()) {
                Some(left) => left.min(Duration::from_secs(1)),
                None => return Waited::TimedOut,
            },
            None => Duration::from_secs(1),
        };
        // At most a second: always a valid timespec.
        let ts = Timespec::try_from(wait).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 });
        let mut fds: Vec<PollFd<'_>> =
            open.iter().map(|t| PollFd::from_borrowed_fd(t.file.as_fd(), PollFlags::IN)).collect();
        if poll(&mut fds, Some(&ts)).is_err() {
            std::thread::sleep(Duration::from_millis(100));
        }
        let revents: Vec<PollFlags> = fds.iter().map(PollFd::revents).collect();
        drop(fds);
        let mut gone = Vec::new();
        for (i, ev) in revents.iter().enumerate() {
            let Some(t) = open.get_mut(i) else { continue };
            if ev.contains(PollFlags::IN) {
                match t.file.read(&mut bytes[..]) {
                    Ok(n) if n > 0 => {
                        for &b in bytes.get(..n).unwrap_or(&[]) {
                            if let Some(r) = on_byte(t, b) {
                                return Waited::Got(r);
                            }
                        }
                        continue;
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => continue,
                    _ => {}
                }
            }
            if ev.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            open.remove(i);
        }
    }
}

/// Asks on every console in `ttys` until one answers, Ctrl-C is typed there, or `timeout`.
pub fn ask(prompt: &str, ttys: &[String], timeout: Option<Duration>) -> Answer {
    let (mut open, errors) = open_all(ttys);
    if open.is_empty() {
        return Answer::NoConsole(errors.join("; "));
    }
    for t in &mut open {
        let _ = write!(t.file, "{prompt} ");
        let _ = t.file.flush();
    }
    let answer = match wait_typed(&mut open, timeout, &mut |t, b| match t.line.feed(b) {
        Feed::More => None,
        Feed::Done => Some(Answer::Secret(t.line.take())),
        Feed::Cancel => Some(Answer::Cancelled),
    }) {
        Waited::Got(a) => a,
        Waited::TimedOut => Answer::TimedOut,
        Waited::Gone => Answer::NoConsole(format!("every console hung up: {}", ttys.join(", "))),
    };
    for t in &mut open {
        let _ = t.file.write_all(b"\n");
    }
    answer
}

/// The console a shell opens on: `rd.ctty=` when given (`ttyS0` or `/dev/ttyS0`); the only one
/// when there is one (the prompt shows at once, as before); else every console shows `why` the
/// boot stopped and the first where Enter is pressed gets the shell, the others are told where
/// it went. When no console can be read, the last (the kernel's `/dev/console`).
pub fn shell_console(ctty: Option<&str>, ttys: &[String], why: &str) -> String {
    if let Some(c) = ctty.filter(|c| !c.is_empty()) {
        return format!("/dev/{}", c.rsplit('/').next().unwrap_or(c));
    }
    let last = ttys.last().cloned().unwrap_or_else(|| "/dev/console".into());
    if ttys.len() < 2 {
        return last;
    }
    let (mut open, _) = open_all(ttys);
    for t in &mut open {
        let _ = write!(t.file, "{}", offer_text(why));
        let _ = t.file.flush();
    }
    let chosen = match wait_typed(&mut open, None, &mut |t, b| matches!(b, b'\r' | b'\n').then(|| t.path.clone())) {
        Waited::Got(path) => path,
        Waited::TimedOut | Waited::Gone => return last,
    };
    for t in open.iter_mut().filter(|t| t.path != chosen) {
        let _ = writeln!(t.file, "The shell is on {chosen}; this console only shows the boot's messages.");
        let _ = t.file.flush();
    }
    chosen
}

/// What every console shows while the shell waits for its person.
fn offer_text(why: &str) -> String {
    let why = why.trim_end();
    let sep = if why.is_empty() { "" } else { "\n" };
    format!("\n{why}{sep}Press Enter for a shell on this console.\n")
}

/// Reads a secret from `input` as `cryptsetup` does: after `prompt`, without echo when it is a
/// terminal (its settings given back after); from a pipe or file, up to the first newline.
pub fn read_secret(prompt: &str, input: &mut dyn ReadFd, out: &mut dyn Write) -> Answer {
    let saved = termios::tcgetattr(input.as_fd_ref()).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        raw.make_raw();
        raw.output_modes |= OutputModes::OPOST | OutputModes::ONLCR;
        let _ = termios::tcsetattr(input.as_fd_ref(), OptionalActions::Flush, &raw);
        let _ = write!(out, "{prompt}");
        let _ = out.flush();
    }
    let mut line = Line::default();
    let mut byte = [0u8; 1];
    let answer = loop {
        match input.read(&mut byte) {
            Ok(0) => break Answer::Secret(line.take()).non_empty(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Answer::NoConsole(e.to_string()),
        }
        match line.feed(byte[0]) {
            Feed::More => {}
            Feed::Done => break Answer::Secret(line.take()),
            Feed::Cancel => break Answer::Cancelled,
        }
    };
    if let Some(t) = &saved {
        let _ = termios::tcsetattr(input.as_fd_ref(), OptionalActions::Now, t);
        let _ = writeln!(out);
    }
    answer
}

/// Something to read a secret from that may be a terminal: stdin or a redirected file.
pub trait ReadFd: Read {
    fn as_fd_ref(&self) -> std::os::fd::BorrowedFd<'_>;
}

impl<T: Read + AsFd> ReadFd for T {
    fn as_fd_ref(&self) -> std::os::fd::BorrowedFd<'_> {
        self.as_fd()
    }
}

impl Answer {
    /// End of input with nothing typed is no answer.
    fn non_empty(self) -> Answer {
        match self {
            Answer::Secret(s) if s.is_empty() => Answer::Cancelled,
            a => a,
        }
    }
}

/// The `loadkeys` arguments for the image's console settings: `/etc/vconsole.conf`'s KEYMAP=
/// (and UNICODE=), overridden by `rd.vconsole.keymap=`/`vconsole.keymap=` and
/// `rd.vconsole.unicode`, as dracut's i18n module reads them. None when there is no keymap.
pub fn keymap_args(vconsole_conf: &str, c: &Cmdline) -> Option<Vec<String>> {
    let mut keymap = None;
    let mut unicode = true;
    for line in vconsole_conf.lines() {
        let Some((k, v)) = line.trim().split_once('=') else { continue };
        let v = v.trim().trim_matches('"').trim_matches('\'');
        match k.trim() {
            "KEYMAP" if !v.is_empty() => keymap = Some(v.to_string()),
            "UNICODE" => unicode = !matches!(v, "0" | "no" | "false"),
            _ => {}
        }
    }
    if let Some(k) = c.get("rd.vconsole.keymap").or(c.get("vconsole.keymap")).or(c.get("KEYTABLE")) {
        keymap = Some(k.to_string()).filter(|k| !k.is_empty());
    }
    if c.last("rd.vconsole.unicode").is_some() {
        unicode = c.flag("rd.vconsole.unicode", true);
    }
    let keymap = keymap?;
    let mut args = vec!["-q".to_string()];
    if unicode {
        args.push("-u".into());
    }
    args.push(keymap);
    Some(args)
}

static KEYMAP_LOADED: AtomicBool = AtomicBool::new(false);

/// Runs the image's `loadkeys` for its keymap once, so that a passphrase typed on a German or
/// French keyboard arrives as typed. Silent when the image has no console settings.
pub fn load_keymap_once(root: &Path, c: &Cmdline) {
    if KEYMAP_LOADED.swap(true, Ordering::SeqCst) {
        return;
    }
    let conf = std::fs::read_to_string(root.join("etc/vconsole.conf")).unwrap_or_default();
    let Some(args) = keymap_args(&conf, c) else { return };
    let Some(bin) = ["usr/bin/loadkeys", "bin/loadkeys", "usr/sbin/loadkeys", "sbin/loadkeys"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.exists())
    else {
        log::warn!("the keymap {} (vconsole.conf or rd.vconsole.keymap=) cannot be loaded: this initramfs has no loadkeys; keys are read with the kernel's default (US) layout", args.last().map_or("", |s| s.as_str()));
        return;
    };
    let status =
        Command::new(&bin).args(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).output();
    match status {
        Ok(o) if o.status.success() => log::info!("loaded keymap {}", args.last().map_or("", |s| s.as_str())),
        Ok(o) => log::warn!(
            "{} {} failed ({}): {}; keys are read with the current layout",
            bin.display(),
            args.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => log::warn!("cannot run {}: {e}", bin.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(bytes: &[u8]) -> (Feed, Vec<u8>) {
        let mut l = Line::default();
        for &b in bytes {
            match l.feed(b) {
                Feed::More => {}
                f => return (f, l.take().to_vec()),
            }
        }
        (Feed::More, l.take().to_vec())
    }

    #[test]
    fn lines_edit_like_a_canonical_tty_without_echo() {
        assert_eq!(typed(b"secret\r"), (Feed::Done, b"secret".to_vec()));
        assert_eq!(typed(b"secret\n"), (Feed::Done, b"secret".to_vec()));
        assert_eq!(typed(b"secrex\x7ft\r"), (Feed::Done, b"secret".to_vec()));
        assert_eq!(typed(b"junk\x15pass\r"), (Feed::Done, b"pass".to_vec()));
        assert_eq!(typed("grüß\x08\x08\r".as_bytes()), (Feed::Done, "gr".as_bytes().to_vec()));
        assert_eq!(typed(b"a\x1b[Ab\x1bOCc\r"), (Feed::Done, b"abc".to_vec()), "arrow keys are not typed");
        assert_eq!(typed(b"pa\x03ss\r").0, Feed::Cancel);
        assert_eq!(typed(b"\x04").0, Feed::Cancel);
        assert_eq!(typed(b"a\x04\r"), (Feed::Done, b"a".to_vec()));
        assert_eq!(typed(b"\r"), (Feed::Done, Vec::new()));
        let long = vec![b'x'; 5000];
        assert_eq!(typed(&long).1.len(), MAX_SECRET, "a runaway paste is cut");
    }

    #[test]
    fn secrets_from_a_pipe_stop_at_the_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in");
        std::fs::write(&p, b"open sesame\nnext").unwrap();
        let mut out = Vec::new();
        let Answer::Secret(s) = read_secret("Enter passphrase: ", &mut File::open(&p).unwrap(), &mut out) else {
            panic!()
        };
        assert_eq!(&s[..], b"open sesame");
        assert!(out.is_empty(), "no prompt when not a terminal");
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(read_secret("", &mut File::open(&p).unwrap(), &mut out), Answer::Cancelled));
    }

    #[test]
    fn consoles_follow_active_as_systemd_does() {
        let read = |n: &str| match n {
            "tty0" => Some("tty1\n".to_string()),
            "tty1" => Some("tty1\n".to_string()),
            _ => None,
        };
        assert_eq!(resolve_consoles("tty0 ttyS0\n", &read), ["/dev/tty1", "/dev/ttyS0"]);
        assert_eq!(resolve_consoles("ttyS0 ttyS0", &read), ["/dev/ttyS0"]);
        assert_eq!(resolve_consoles("", &read), ["/dev/console"]);
        let looping = |n: &str| Some(if n == "a" { "b".into() } else { "a".into() });
        assert_eq!(resolve_consoles("a", &looping).len(), 1, "a loop of active files ends");
    }

    #[test]
    fn keymaps_as_dracuts_i18n_reads_them() {
        let none = Cmdline::parse("");
        assert_eq!(keymap_args("KEYMAP=de-latin1\nFONT=eurlatgr\n", &none).unwrap(), ["-q", "-u", "de-latin1"]);
        assert_eq!(keymap_args("KEYMAP=\"fr\"\nUNICODE=0\n", &none).unwrap(), ["-q", "fr"]);
        assert_eq!(keymap_args("FONT=x\n", &none), None);
        assert_eq!(keymap_args("", &Cmdline::parse("rd.vconsole.keymap=us")).unwrap(), ["-q", "-u", "us"]);
        assert_eq!(
            keymap_args("KEYMAP=de", &Cmdline::parse("vconsole.keymap=fr rd.vconsole.unicode=0")).unwrap(),
            ["-q", "fr"]
        );
        assert_eq!(keymap_args("KEYMAP=de", &Cmdline::parse("rd.vconsole.keymap=")), None);
    }

    #[test]
    fn asks_on_a_pty_without_echo_and_the_first_answer_wins() {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap().into_string().unwrap();
        let mut m = File::from(master);
        let asker = std::thread::spawn({
            let name = name.clone();
            move || ask("Please enter passphrase for disk /dev/vda2 (luks-x):", &[name, "/nonexistent".into()], None)
        });
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("(luks-x): ") {
            let n = m.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        m.write_all(b"hunter2\r").unwrap();
        let Answer::Secret(s) = asker.join().unwrap() else { panic!("no answer") };
        assert_eq!(&s[..], b"hunter2");
        std::thread::sleep(Duration::from_millis(50));
        let n = m.read(&mut buf).unwrap_or(0);
        seen.extend_from_slice(&buf[..n]);
        assert!(!String::from_utf8_lossy(&seen).contains("hunter2"), "echoed: {:?}", String::from_utf8_lossy(&seen));
    }

    #[test]
    fn ctrl_c_and_the_timeout_give_up() {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap().into_string().unwrap();
        let t = Some(Duration::from_millis(200));
        assert!(matches!(ask("p:", std::slice::from_ref(&name), t), Answer::TimedOut));
        let mut m = File::from(master);
        let asker = std::thread::spawn(move || ask("p:", &[name], Some(Duration::from_secs(20))));
        std::thread::sleep(Duration::from_millis(200));
        m.write_all(b"abc\x03").unwrap();
        assert!(matches!(asker.join().unwrap(), Answer::Cancelled));
        assert!(matches!(ask("p:", &["/nonexistent".into()], None), Answer::NoConsole(_)));
    }

    fn pty() -> (File, String) {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap().into_string().unwrap();
        (File::from(master), name)
    }

    fn read_until(m: &mut File, want: &str) -> String {
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains(want) {
            let n = m.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    }

    #[test]
    fn the_shell_goes_to_the_console_where_enter_is_pressed_first() {
        let (mut screen, screen_name) = pty();
        let (mut serial, serial_name) = pty();
        let ttys = vec![screen_name.clone(), "/nonexistent".into(), serial_name.clone()];
        let offer = std::thread::spawn(move || shell_console(None, &ttys, "Break before switch_root\n"));
        // Both show why the boot stopped; the person is at the screen, not the last console.
        for m in [&mut screen, &mut serial] {
            let shown = read_until(m, "Press Enter for a shell on this console.");
            assert!(shown.contains("Break before switch_root\r\nPress Enter"), "{shown:?}");
        }
        screen.write_all(b"\r").unwrap();
        assert_eq!(offer.join().unwrap(), screen_name);
        let told = read_until(&mut serial, "only shows the boot's messages");
        assert!(told.contains(&format!("The shell is on {screen_name}")), "{told:?}");
    }

    #[test]
    fn one_console_or_rd_ctty_is_taken_at_once() {
        // Nothing is asked: these return without anything typed.
        assert_eq!(shell_console(None, &["/dev/ttyS0".into()], "why"), "/dev/ttyS0");
        assert_eq!(shell_console(None, &[], "why"), "/dev/console");
        let two = ["/dev/tty1".to_string(), "/dev/ttyS0".to_string()];
        assert_eq!(shell_console(Some("ttyS1"), &two, "why"), "/dev/ttyS1");
        assert_eq!(shell_console(Some("/dev/hvc0"), &two, "why"), "/dev/hvc0");
        // Several consoles, none of which can be opened: the kernel's console.
        let none = ["/nonexistent/a".to_string(), "/nonexistent/b".to_string()];
        assert_eq!(shell_console(None, &none, "why"), "/nonexistent/b");
    }
}
