//! The built-ins of the shell language itself (XCU 2.14 and the regular ones a session needs):
//! `: . break continue eval exit export readonly return set shift trap unset local command type
//! umask wait true false`.

use std::io::Write;

use crate::shell::syntax::is_name;
use crate::shell::{read_script, Kind};
use crate::shell::{Flow, Io, Options, Shell};

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

pub(super) fn colon(_: &mut Shell<'_>, _: &[String], _: &mut Io) -> i32 {
    0
}

pub(super) fn false_(_: &mut Shell<'_>, _: &[String], _: &mut Io) -> i32 {
    1
}

pub(super) fn dot(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let Some(file) = args.first() else { fail!(io, 2, ".: usage: . FILE [ARG…]") };
    let path = if file.contains('/') {
        file.clone()
    } else {
        match crate::shell::find_in_path_any(
            file,
            sh.vars.get("PATH").map_or(crate::shell::DEFAULT_PATH, String::as_str),
        ) {
            Some(p) => p,
            None => return sh.abort(&format!(".: {file}: not found")),
        }
    };
    let text = match read_script(&path) {
        Ok(t) => t,
        Err(e) => return sh.abort(&format!(".: {e}")),
    };
    if sh.depth >= sh.limits.depth {
        let depth = sh.limits.depth;
        return sh.abort(&format!(".: nested more than {depth} levels deep (runaway recursion?)"));
    }
    sh.depth += 1;
    let saved_args = (args.len() > 1).then(|| std::mem::replace(&mut sh.args, args[1..].to_vec()));
    let st = sh.run_source(&text);
    if sh.flow == Some(Flow::Return) {
        sh.flow = None;
    }
    if let Some(a) = saved_args {
        sh.args = a;
    }
    sh.depth -= 1;
    st
}

fn loop_count(args: &[String], io: &mut Io, name: &str) -> Result<u32, i32> {
    match args.first() {
        None => Ok(1),
        Some(n) => match n.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => {
                let _ = writeln!(io.err, "{name}: {n}: a positive number is required");
                Err(2)
            }
        },
    }
}

pub(super) fn break_(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let n = match loop_count(args, io, "break") {
        Ok(n) => n,
        Err(st) => return st,
    };
    if sh.loops > 0 {
        sh.flow = Some(Flow::Break(n.min(sh.loops)));
    }
    0
}

pub(super) fn continue_(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let n = match loop_count(args, io, "continue") {
        Ok(n) => n,
        Err(st) => return st,
    };
    if sh.loops > 0 {
        sh.flow = Some(Flow::Continue(n.min(sh.loops)));
    }
    0
}

pub(super) fn eval(sh: &mut Shell<'_>, args: &[String], _: &mut Io) -> i32 {
    let text = args.join(" ");
    sh.status = 0;
    sh.run_nested(&text, "eval")
}

pub(super) fn exit(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    if let Some(code) = args.first() {
        match code.parse::<i32>() {
            Ok(c) => sh.status = c & 0xff,
            Err(_) => fail!(io, 2, "exit: {code}: a number is required"),
        }
    }
    sh.flow = Some(Flow::Exit);
    sh.status
}

pub(super) fn return_(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    if let Some(code) = args.first() {
        match code.parse::<i32>() {
            Ok(c) => sh.status = c & 0xff,
            Err(_) => fail!(io, 2, "return: {code}: a number is required"),
        }
    }
    sh.flow = Some(if sh.depth > 0 { Flow::Return } else { Flow::Exit });
    sh.status
}

/// `export`/`readonly` with no operands (or `-p`): every such variable, as input for the shell.
fn list_marked(sh: &Shell<'_>, readonly: bool, io: &mut Io) {
    let word = if readonly { "readonly" } else { "export" };
    let set = if readonly { &sh.readonly } else { &sh.exported };
    let mut names: Vec<&String> = set.iter().collect();
    crate::sort::sort(&mut names);
    for n in names {
        match sh.vars.get(n) {
            Some(v) => {
                let _ = writeln!(io.out, "{word} {n}={}", quote(v));
            }
            None => {
                let _ = writeln!(io.out, "{word} {n}");
            }
        }
    }
}

fn mark(sh: &mut Shell<'_>, args: &[String], io: &mut Io, readonly: bool) -> i32 {
    let ops: Vec<&String> = args.iter().filter(|a| *a != "-p").collect();
    if ops.is_empty() {
        list_marked(sh, readonly, io);
        return 0;
    }
    for a in ops {
        let (name, value) = match a.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (a.as_str(), None),
        };
        // Errors of a special built-in: a script ends, the prompt drops the line.
        if !is_name(name) {
            let what = if readonly { "readonly" } else { "export" };
            return sh.abort(&format!("{what}: {name}: not a valid variable name"));
        }
        if let Some(v) = value {
            if let Err(e) = sh.assign(name, v) {
                return sh.abort(&e);
            }
        }
        if readonly {
            sh.readonly.insert(name.to_string());
        } else {
            sh.exported.insert(name.to_string());
        }
    }
    0
}

pub(super) fn export(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    mark(sh, args, io, false)
}

pub(super) fn readonly(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    mark(sh, args, io, true)
}

pub(super) fn local(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    if sh.locals.is_empty() {
        fail!(io, 1, "local: only inside a function");
    }
    let mut st = 0;
    for a in args {
        let (name, value) = match a.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (a.as_str(), None),
        };
        if !is_name(name) {
            let _ = writeln!(io.err, "local: {name}: not a valid variable name");
            st = 1;
            continue;
        }
        let saved = (name.to_string(), sh.vars.get(name).cloned(), sh.exported.contains(name));
        if let Some(frame) = sh.locals.last_mut() {
            if !frame.iter().any(|(n, _, _)| n == name) {
                frame.push(saved);
            }
        }
        if let Some(v) = value {
            if let Err(e) = sh.assign(name, v) {
                let _ = writeln!(io.err, "local: {e}");
                st = 1;
            }
        }
    }
    st
}

pub(super) fn set(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    if args.is_empty() {
        let mut vars: Vec<(&String, &String)> = sh.vars.iter().collect();
        crate::sort::sort(&mut vars);
        for (k, v) in vars {
            let _ = writeln!(io.out, "{k}={}", quote(v));
        }
        return 0;
    }
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            sh.args = args[i + 1..].to_vec();
            return 0;
        }
        if a == "-" {
            sh.opts.xtrace = false;
            sh.opts.verbose = false;
            i += 1;
            break;
        }
        let on = match a.chars().next() {
            Some('-') => true,
            Some('+') => false,
            _ => break,
        };
        if &a[1..] == "o" {
            match args.get(i + 1) {
                Some(name) => match sh.opts.flag(name) {
                    Some(f) => *f = on,
                    None => fail!(io, 2, "set: {name}: no such option (set -o lists them)"),
                },
                None => {
                    let mut opts = sh.opts.clone();
                    for (name, _) in Options::NAMES {
                        let v = opts.flag(name).is_some_and(|f| *f);
                        if on {
                            let _ = writeln!(io.out, "{name:<16}{}", if v { "on" } else { "off" });
                        } else {
                            let _ = writeln!(io.out, "set {}o {name}", if v { '-' } else { '+' });
                        }
                    }
                }
            }
            i += 2;
            continue;
        }
        for c in a[1..].chars() {
            match Options::name_of(c).and_then(|n| sh.opts.flag(n)) {
                Some(f) => *f = on,
                None if c == 'i' || c == 'm' => {}
                None => fail!(io, 2, "set: -{c}: no such option (set -o lists them)"),
            }
        }
        i += 1;
    }
    if i < args.len() {
        sh.args = args[i..].to_vec();
    }
    0
}

pub(super) fn shift(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let n = match args.first().map(|a| a.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(_)) => fail!(io, 2, "shift: {}: a number is required", args[0]),
    };
    if n > sh.args.len() {
        let have = sh.args.len();
        return sh.abort(&format!("shift: cannot shift {n}: there are {have} positional parameters"));
    }
    sh.args.drain(..n);
    0
}

const SIGNALS: [(&str, i32); 12] = [
    ("EXIT", 0),
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("KILL", 9),
    ("USR1", 10),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("CHLD", 17),
    ("TSTP", 20),
];

fn condition(c: &str) -> Option<&'static str> {
    let c = c.strip_prefix("SIG").unwrap_or(c);
    SIGNALS.iter().find(|(n, num)| *n == c || c.parse::<i32>().ok() == Some(*num)).map(|(n, _)| *n)
}

pub(super) fn trap(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let args: Vec<&String> = args.iter().filter(|a| *a != "--").collect();
    if args.is_empty() || args[0] == "-p" {
        let mut t: Vec<(&String, &String)> = sh.traps.iter().collect();
        crate::sort::sort(&mut t);
        for (cond, action) in t {
            let _ = writeln!(io.out, "trap -- {} {cond}", quote(action));
        }
        return 0;
    }
    // A first operand that is a condition number resets them all (`trap 2 15`).
    let (action, conds) = if args.len() == 1 || args[0].parse::<u32>().is_ok() {
        (None, &args[..])
    } else {
        (Some(args[0].as_str()).filter(|a| *a != "-"), &args[1..])
    };
    let mut st = 0;
    for c in conds {
        match condition(c) {
            Some(name) => {
                match action {
                    Some(a) => sh.traps.insert(name.to_string(), a.to_string()),
                    None => sh.traps.remove(name),
                };
            }
            None => {
                let _ = writeln!(io.err, "trap: {c}: not a signal name");
                st = 1;
            }
        }
    }
    st
}

pub(super) fn unset(sh: &mut Shell<'_>, args: &[String], _: &mut Io) -> i32 {
    let mut funcs = false;
    let st = 0;
    for a in args {
        match a.as_str() {
            "-f" => funcs = true,
            "-v" => funcs = false,
            name if funcs => {
                sh.funcs.remove(name);
            }
            name if sh.readonly.contains(name) => {
                return sh.abort(&format!("unset: {name}: is read only"));
            }
            name => {
                sh.vars.remove(name);
                sh.exported.remove(name);
            }
        }
    }
    st
}

const KEYWORDS: [&str; 16] =
    ["if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "in", "{", "}", "!"];

/// What `type` and `command -V` say about a name; None when it is not found.
fn describe(sh: &Shell<'_>, name: &str) -> Option<String> {
    if KEYWORDS.contains(&name) {
        return Some(format!("{name} is a shell keyword"));
    }
    Some(match sh.lookup(name) {
        Kind::Special(_) => format!("{name} is a special shell builtin"),
        Kind::Function(_) => format!("{name} is a shell function"),
        Kind::Builtin(_) => format!("{name} is a shell builtin"),
        Kind::External(p) => format!("{name} is {p}"),
        Kind::Sh => format!("{name} is the built-in shell (PATH has no sh)"),
        Kind::NotFound => return None,
    })
}

pub(super) fn type_(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let mut st = 0;
    for a in args {
        match describe(sh, a) {
            Some(d) => {
                let _ = writeln!(io.out, "{d}");
            }
            None => {
                let _ = writeln!(io.err, "type: {a}: not found");
                st = 127;
            }
        }
    }
    st
}

pub(super) fn command(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let mut i = 0;
    let mut mode = None;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-v" | "-V" => mode = Some(a.clone()),
            "-p" => {}
            "--" => {
                i += 1;
                break;
            }
            _ => break,
        }
        i += 1;
    }
    let words = &args[i..];
    match mode.as_deref() {
        Some(m) => {
            let mut st = 0;
            for w in words {
                let line = if m == "-V" {
                    describe(sh, w)
                } else {
                    match sh.lookup(w) {
                        Kind::External(p) => Some(p),
                        Kind::NotFound => None,
                        _ => Some(w.clone()),
                    }
                };
                match line {
                    Some(l) => {
                        let _ = writeln!(io.out, "{l}");
                    }
                    None => st = 127,
                }
            }
            st
        }
        None => {
            let Some(name) = words.first() else { return 0 };
            // Functions are skipped: `command ls` runs the builtin or the program.
            let funcs = std::mem::take(&mut sh.funcs);
            let kind = sh.lookup(name);
            sh.funcs = funcs;
            match kind {
                Kind::Function(_) => 0,
                Kind::Special(_) | Kind::Builtin(_) | Kind::Sh => {
                    let saved = std::mem::take(&mut sh.funcs);
                    let st = sh.run_words(words, &[]);
                    sh.funcs.extend(saved);
                    st
                }
                Kind::External(_) | Kind::NotFound => sh.run_words(words, &[]),
            }
        }
    }
}

pub(super) fn umask(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    use rustix::fs::Mode;
    let symbolic = args.first().is_some_and(|a| a == "-S");
    let ops: Vec<&String> = args.iter().filter(|a| *a != "-S").collect();
    match ops.first() {
        None => {
            let cur = rustix::process::umask(Mode::empty());
            rustix::process::umask(cur);
            let m = cur.bits();
            if symbolic {
                let part = |shift: u32| {
                    let allowed = !(m >> shift) & 7;
                    let mut s = String::new();
                    for (bit, c) in [(4, 'r'), (2, 'w'), (1, 'x')] {
                        if allowed & bit != 0 {
                            s.push(c);
                        }
                    }
                    s
                };
                let _ = writeln!(io.out, "u={},g={},o={}", part(6), part(3), part(0));
            } else {
                let _ = writeln!(io.out, "{m:04o}");
            }
            0
        }
        Some(v) => match u32::from_str_radix(v, 8) {
            Ok(n) if n <= 0o777 => {
                rustix::process::umask(Mode::from_bits_truncate(n));
                0
            }
            _ => fail!(io, 1, "umask: {v}: an octal mode like 022 is required"),
        },
    }
}

pub(super) fn wait(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let mut pids = Vec::new();
    for a in args {
        match a.trim_start_matches('%').parse::<i32>() {
            Ok(p) => pids.push(p),
            Err(_) => fail!(io, 2, "wait: {a}: a process ID is required"),
        }
    }
    sh.wait_jobs(&pids)
}

/// `getopts OPTSTRING NAME [ARG…]`: the next option of the arguments (or of `$@`), with
/// OPTIND and OPTARG as POSIX says; a leading `:` in OPTSTRING reports errors quietly.
pub(super) fn getopts(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let [spec, name, rest @ ..] = args else { fail!(io, 2, "getopts: usage: getopts OPTSTRING NAME [ARG...]") };
    let list: Vec<String> = if rest.is_empty() { sh.args.clone() } else { rest.to_vec() };
    let silent = spec.starts_with(':');
    let optind = sh.vars.get("OPTIND").and_then(|v| v.parse::<usize>().ok()).unwrap_or(1).max(1);
    // Where in a cluster like -abc the last call stopped; reset when OPTIND was changed.
    let mut pos = if sh.getopts.0 == optind { sh.getopts.1 } else { 1 };
    let set = |sh: &mut Shell<'_>, k: &str, v: &str| {
        sh.vars.insert(k.to_string(), v.to_string());
    };
    let Some(arg) = list.get(optind - 1).filter(|a| a.len() > 1 && a.starts_with('-')) else {
        set(sh, name, "?");
        return 1;
    };
    if arg == "--" {
        set(sh, "OPTIND", &(optind + 1).to_string());
        sh.getopts = (0, 1);
        set(sh, name, "?");
        return 1;
    }
    let chars: Vec<char> = arg.chars().collect();
    if pos >= chars.len() {
        pos = 1;
    }
    let c = chars[pos];
    let mut next_ind = optind;
    pos += 1;
    if pos >= chars.len() {
        next_ind += 1;
        pos = 1;
    }
    let wanted = spec.trim_start_matches(':').find(c).filter(|_| c != ':');
    sh.vars.remove("OPTARG");
    match wanted {
        None => {
            if silent {
                set(sh, "OPTARG", &c.to_string());
            } else {
                let _ = writeln!(io.err, "getopts: illegal option -- {c}");
            }
            set(sh, name, "?");
        }
        Some(i) if spec.trim_start_matches(':')[i + c.len_utf8()..].starts_with(':') => {
            let value = if pos > 1 {
                // The rest of this argument is the value: -ofile.
                let v: String = chars[pos..].iter().collect();
                next_ind += 1;
                pos = 1;
                Some(v)
            } else {
                let v = list.get(next_ind - 1).cloned();
                if v.is_some() {
                    next_ind += 1;
                }
                v
            };
            match value {
                Some(v) => {
                    set(sh, "OPTARG", &v);
                    set(sh, name, &c.to_string());
                }
                None if silent => {
                    set(sh, "OPTARG", &c.to_string());
                    set(sh, name, ":");
                }
                None => {
                    let _ = writeln!(io.err, "getopts: option requires an argument -- {c}");
                    set(sh, name, "?");
                }
            }
        }
        Some(_) => set(sh, name, &c.to_string()),
    }
    set(sh, "OPTIND", &next_ind.to_string());
    sh.getopts = (next_ind, pos);
    0
}

/// `kill [-SIGNAL | -s SIGNAL] PID…` and `kill -l`: the initramfs has no kill program, and `&`
/// jobs need one. A negative PID (after `--`) is a process group; 1 and -1 are refused.
pub(super) fn kill(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let mut sig = 15;
    let mut rest = args;
    match args.first().map(String::as_str) {
        Some("-l") => {
            let names: Vec<&str> = SIGNALS.iter().filter(|(_, n)| *n != 0).map(|(s, _)| *s).collect();
            let _ = writeln!(io.out, "{}", names.join(" "));
            return 0;
        }
        Some("-s") => {
            let Some(n) = args.get(1).and_then(|s| signal_number(s)) else {
                fail!(io, 2, "kill: -s needs a signal name such as TERM, KILL, INT or HUP")
            };
            sig = n;
            rest = &args[2..];
        }
        Some(a) if a.starts_with('-') && a.len() > 1 && a != "--" => {
            match signal_number(&a[1..]) {
                Some(n) => sig = n,
                None => fail!(io, 2, "kill: {a}: unknown signal (kill -l lists them)"),
            }
            rest = &args[1..];
        }
        _ => {}
    }
    let rest: Vec<&String> = rest.iter().filter(|a| *a != "--").collect();
    if rest.is_empty() {
        fail!(io, 2, "kill: usage: kill [-SIGNAL] PID...");
    }
    let Some(signal) = rustix::process::Signal::from_named_raw(sig) else {
        fail!(io, 2, "kill: signal {sig} cannot be sent from here");
    };
    let mut st = 0;
    for p in rest {
        let r = match p.parse::<i32>() {
            Ok(n) if n < -1 => {
                rustix::process::Pid::from_raw(-n).map(|g| rustix::process::kill_process_group(g, signal))
            }
            Ok(n) if n > 1 => rustix::process::Pid::from_raw(n).map(|pid| rustix::process::kill_process(pid, signal)),
            Ok(_) => {
                let _ = writeln!(io.err, "kill: {p}: refusing to signal init or every process");
                st = 1;
                continue;
            }
            Err(_) => None,
        };
        match r {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                let _ = writeln!(io.err, "kill: {p}: {e}");
                st = 1;
            }
            None => {
                let _ = writeln!(io.err, "kill: {p}: not a process ID");
                st = 1;
            }
        }
    }
    st
}

fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return Some(n);
    }
    let name = condition(&s.to_ascii_uppercase())?;
    SIGNALS.iter().find(|(n, _)| *n == name).map(|(_, num)| *num).filter(|n| *n != 0)
}
