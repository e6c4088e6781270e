//! The shell session and dracut's habits: `sleep`, `env`, `export`, `getarg`, `getargs`, `sosreport`.

use std::io::Write;
use std::path::Path;

use crate::report;
use crate::shell::{Io, Shell};

pub(super) fn sleep(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let Some(wait) = args.first().and_then(|a| sleep_time(a)) else {
        fail!(io, 1, "sleep: usage: sleep SECONDS (a decimal number like 2 or 0.5, with s, m, h or d after it)");
    };
    let end = std::time::Instant::now() + wait;
    // PID 1 ignores SIGINT, so Ctrl-C is read from the console as a byte instead.
    let stdin = std::io::stdin();
    let saved = if sh.interactive { rustix::termios::tcgetattr(&stdin).ok() } else { None };
    if let Some(t) = &saved {
        let mut raw = t.clone();
        raw.local_modes.remove(
            rustix::termios::LocalModes::ICANON | rustix::termios::LocalModes::ECHO | rustix::termios::LocalModes::ISIG,
        );
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
    }
    let mut status = 0;
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()).filter(|d| !d.is_zero()) {
        if saved.is_none() {
            std::thread::sleep(left);
            break;
        }
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        let step = left.min(std::time::Duration::from_millis(500));
        // At most half a second: always a valid timespec.
        let ts = Timespec::try_from(step).ok();
        if matches!(poll(&mut fds, ts.as_ref()), Ok(n) if n > 0) {
            let mut b = [0u8; 64];
            let n = rustix::io::read(&stdin, &mut b).unwrap_or(0);
            if b[..n].contains(&0x03) {
                let _ = writeln!(io.err, "^C");
                status = 130;
                break;
            }
        }
    }
    if let Some(t) = &saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
    }
    status
}

/// `sleep`'s operand as coreutils reads it, without exponents: `2`, `0.5`, `.25`, `1.5m`
/// (s, m, h or d), at most 10⁹ s. Decimal by hand, not `f64`: float parsing is some 15 KB of
/// tables and code that nothing else in PID 1 needs.
pub(super) fn sleep_time(arg: &str) -> Option<std::time::Duration> {
    let (num, unit) = match arg.char_indices().last()? {
        (i, 's') => (&arg[..i], 1),
        (i, 'm') => (&arg[..i], 60),
        (i, 'h') => (&arg[..i], 3600),
        (i, 'd') => (&arg[..i], 86400),
        _ => (arg, 1),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + frac.len() == 0 || !digits(whole) || !digits(frac) {
        return None;
    }
    const MAX: u64 = 1_000_000_000;
    // Nanoseconds of one unit per fraction digit: 10⁸ for the first digit of seconds.
    let mut nanos: u64 = 0;
    let mut place = 1_000_000_000u64 * unit;
    for b in frac.bytes().take(12) {
        place /= 10;
        nanos += u64::from(b - b'0') * place;
    }
    let secs = whole.bytes().fold(0u64, |n, b| n.saturating_mul(10).saturating_add(u64::from(b - b'0')));
    let secs = secs.saturating_mul(unit).saturating_add(nanos / 1_000_000_000);
    if secs >= MAX {
        return Some(std::time::Duration::from_secs(MAX));
    }
    Some(std::time::Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

pub(super) fn env(sh: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    let mut vars: Vec<_> = sh.vars.iter().filter(|(k, _)| sh.exported.contains(*k)).collect();
    crate::sort::sort(&mut vars);
    for (k, v) in vars {
        let _ = writeln!(io.out, "{k}={v}");
    }
    0
}

pub(super) fn cmdline_of(sh: &Shell<'_>) -> crate::cmdline::Cmdline {
    match sh.boot.as_deref() {
        Some(b) => b.cmdline().clone(),
        None => crate::cmdline::Cmdline::from_system(Path::new("/")),
    }
}

/// dracut's `getarg`: `KEY` or `KEY=` prints the last value (exit 1 if absent); `KEY=VAL` tests it.
pub(super) fn getarg(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let Some(arg) = args.first() else { fail!(io, 1, "getarg: usage: getarg KEY[=VALUE]") };
    let c = cmdline_of(sh);
    if let Some((k, v)) = arg.split_once('=').filter(|(_, v)| !v.is_empty()) {
        return i32::from(!c.last_is(k, v));
    }
    match c.last(arg.trim_end_matches('=')) {
        Some(Some(v)) => {
            let _ = writeln!(io.out, "{v}");
            0
        }
        Some(None) => 0,
        None => 1,
    }
}

/// dracut's `getargs`: every value (the key for bare ones); `KEY=VAL` tests whether any matches.
pub(super) fn getargs(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let Some(arg) = args.first() else { fail!(io, 1, "getargs: usage: getargs KEY[=VALUE]") };
    let c = cmdline_of(sh);
    match arg.split_once('=') {
        Some((k, v)) if !v.is_empty() => i32::from(!c.any_is(k, v)),
        _ => {
            let k = arg.split_once('=').map_or(arg.as_str(), |x| x.0);
            let values: Vec<&str> = c.all(k).collect();
            for v in &values {
                let _ = writeln!(io.out, "{v}");
            }
            i32::from(values.is_empty())
        }
    }
}

pub(super) fn sosreport(sh: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    let Some(boot) = sh.boot.as_deref() else { fail!(io, 1, "sosreport: only available in the initramfs") };
    match report::write(boot) {
        Ok(()) => {
            let _ = writeln!(io.out, "Wrote \"{}\"", report::REPORT);
            0
        }
        Err(e) => fail!(io, 1, "sosreport: cannot write {}: {e}", report::REPORT),
    }
}
