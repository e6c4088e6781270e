//! `test`/`[`, `printf` and `read`: the text built-ins scripts are made of.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use crate::shell::arith;
use crate::shell::{Io, Shell};

pub(super) fn test(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run_test(&a, io)
}

pub(super) fn bracket(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    match args.split_last() {
        Some((last, rest)) if last == "]" => {
            let a: Vec<&str> = rest.iter().map(String::as_str).collect();
            run_test(&a, io)
        }
        _ => fail!(io, 2, "[: missing ]"),
    }
}

fn run_test(a: &[&str], io: &mut Io) -> i32 {
    match eval(a) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => fail!(io, 2, "test: {e}"),
    }
}

const UNARY: &[&str] =
    &["-b", "-c", "-d", "-e", "-f", "-g", "-h", "-L", "-n", "-p", "-r", "-s", "-S", "-t", "-u", "-w", "-x", "-z", "-k"];
const BINARY: &[&str] = &["=", "==", "!=", "<", ">", "-eq", "-ne", "-gt", "-ge", "-lt", "-le", "-nt", "-ot", "-ef"];

/// POSIX's rules by argument count (which settle `[ -n ]`, `[ ! = x ]`), then a grammar with
/// `!`, `-a`, `-o` and parentheses for longer expressions.
fn eval(a: &[&str]) -> Result<bool, String> {
    match a.len() {
        0 => Ok(false),
        1 => Ok(!a[0].is_empty()),
        2 if a[0] == "!" => Ok(a[1].is_empty()),
        2 if UNARY.contains(&a[0]) => unary(a[0], a[1]),
        2 => Err(format!("{}: unary operator expected", a[0])),
        3 if BINARY.contains(&a[1]) => binary(a[0], a[1], a[2]),
        3 if a[0] == "!" => eval(&a[1..]).map(|v| !v),
        3 if a[0] == "(" && a[2] == ")" => Ok(!a[1].is_empty()),
        4 if a[0] == "!" => eval(&a[1..]).map(|v| !v),
        4 if a[0] == "(" && a[3] == ")" => eval(&a[1..3]),
        _ => {
            let mut p = Expr { a, i: 0, depth: 0 };
            let v = p.or()?;
            if p.i != a.len() {
                return Err(format!("{}: unexpected operand", a[p.i]));
            }
            Ok(v)
        }
    }
}

struct Expr<'a> {
    a: &'a [&'a str],
    i: usize,
    depth: u32,
}

impl Expr<'_> {
    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.a.get(self.i) == Some(&"-o") {
            self.i += 1;
            v = self.and()? || v;
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.not()?;
        while self.a.get(self.i) == Some(&"-a") {
            self.i += 1;
            v = self.not()? && v;
        }
        Ok(v)
    }
    fn not(&mut self) -> Result<bool, String> {
        self.depth += 1;
        if self.depth > 1000 {
            return Err("expression too deeply nested".into());
        }
        let r = if self.a.get(self.i) == Some(&"!") {
            self.i += 1;
            self.not().map(|v| !v)
        } else {
            self.primary()
        };
        self.depth -= 1;
        r
    }
    fn primary(&mut self) -> Result<bool, String> {
        let a = self.a;
        let Some(&first) = a.get(self.i) else { return Err("argument expected".into()) };
        if first == "(" {
            self.i += 1;
            let v = self.or()?;
            if a.get(self.i) != Some(&")") {
                return Err("missing )".into());
            }
            self.i += 1;
            return Ok(v);
        }
        if let (Some(op), Some(rhs)) = (a.get(self.i + 1), a.get(self.i + 2)) {
            if BINARY.contains(op) {
                self.i += 3;
                return binary(first, op, rhs);
            }
        }
        if UNARY.contains(&first) {
            if let Some(arg) = a.get(self.i + 1) {
                self.i += 2;
                return unary(first, arg);
            }
        }
        self.i += 1;
        Ok(!first.is_empty())
    }
}

fn unary(op: &str, arg: &str) -> Result<bool, String> {
    let meta = || std::fs::metadata(arg);
    let access = |mode| rustix::fs::access(arg, mode).is_ok();
    Ok(match op {
        "-n" => !arg.is_empty(),
        "-z" => arg.is_empty(),
        "-e" => meta().is_ok(),
        "-f" => meta().is_ok_and(|m| m.is_file()),
        "-d" => meta().is_ok_and(|m| m.is_dir()),
        "-b" => meta().is_ok_and(|m| m.file_type().is_block_device()),
        "-c" => meta().is_ok_and(|m| m.file_type().is_char_device()),
        "-p" => meta().is_ok_and(|m| m.file_type().is_fifo()),
        "-S" => meta().is_ok_and(|m| m.file_type().is_socket()),
        "-h" | "-L" => std::fs::symlink_metadata(arg).is_ok_and(|m| m.file_type().is_symlink()),
        "-s" => meta().is_ok_and(|m| m.len() > 0),
        "-g" => meta().is_ok_and(|m| m.permissions().mode() & 0o2000 != 0),
        "-u" => meta().is_ok_and(|m| m.permissions().mode() & 0o4000 != 0),
        "-k" => meta().is_ok_and(|m| m.permissions().mode() & 0o1000 != 0),
        "-r" => access(rustix::fs::Access::READ_OK),
        "-w" => access(rustix::fs::Access::WRITE_OK),
        "-x" => access(rustix::fs::Access::EXEC_OK),
        "-t" => {
            let fd = integer(arg)?;
            match fd {
                0 => rustix::termios::isatty(rustix::stdio::stdin()),
                1 => rustix::termios::isatty(rustix::stdio::stdout()),
                2 => rustix::termios::isatty(rustix::stdio::stderr()),
                _ => false,
            }
        }
        _ => return Err(format!("{op}: unknown operator")),
    })
}

fn integer(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s}: integer expected"));
    }
    t.parse::<i64>().map_err(|_| format!("{s}: integer out of range"))
}

fn binary(l: &str, op: &str, r: &str) -> Result<bool, String> {
    let mtime = |p: &str| std::fs::metadata(p).ok().map(|m| (m.mtime(), m.mtime_nsec()));
    Ok(match op {
        "=" | "==" => l == r,
        "!=" => l != r,
        "<" => l < r,
        ">" => l > r,
        "-eq" => integer(l)? == integer(r)?,
        "-ne" => integer(l)? != integer(r)?,
        "-gt" => integer(l)? > integer(r)?,
        "-ge" => integer(l)? >= integer(r)?,
        "-lt" => integer(l)? < integer(r)?,
        "-le" => integer(l)? <= integer(r)?,
        "-nt" => {
            matches!((mtime(l), mtime(r)), (Some(a), Some(b)) if a > b) || (mtime(l).is_some() && mtime(r).is_none())
        }
        "-ot" => {
            matches!((mtime(l), mtime(r)), (Some(a), Some(b)) if a < b) || (mtime(l).is_none() && mtime(r).is_some())
        }
        "-ef" => match (std::fs::metadata(l), std::fs::metadata(r)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        },
        _ => return Err(format!("{op}: unknown operator")),
    })
}

/// Backslash escapes of printf's format (and of `%b`, with `\c` and `\0NNN`). Returns false
/// when `\c` asked to stop all output.
fn escapes(s: &str, out: &mut Vec<u8>, in_b: bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = b[i];
        i += 1;
        match c {
            b'\\' => out.push(b'\\'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'"' if !in_b => out.push(b'"'),
            b'\'' if !in_b => out.push(b'\''),
            b'c' if in_b => return false,
            b'0'..=b'7' => {
                // In %b, octal is \0NNN; in the format, \NNN.
                let (mut v, mut n) = if in_b && c == b'0' { (0u32, 0) } else { (u32::from(c - b'0'), 1) };
                while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v.to_le_bytes()[0]); // \777 is its low byte, as in dash
            }
            _ => {
                out.push(b'\\');
                out.push(c);
            }
        }
    }
    true
}

fn pad(s: &str, width: usize, left: bool, zero: bool) -> String {
    let len = s.chars().count();
    if len >= width {
        return s.to_string();
    }
    let fill = width - len;
    if left {
        format!("{s}{}", " ".repeat(fill))
    } else if zero {
        let (sign, digits) = match s.strip_prefix(['-', '+']) {
            Some(d) => (&s[..1], d),
            None => ("", s),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

/// A numeric printf operand: a C constant, or `'c` for the character's code.
fn num(arg: &str, bad: &mut bool, err: &mut dyn Write) -> i64 {
    if let Some(c) = arg.strip_prefix(['\'', '"']) {
        return c.chars().next().map_or(0, |c| c as i64);
    }
    if arg.is_empty() {
        return 0;
    }
    match arith::number(arg) {
        Some(v) => v,
        None => {
            let _ = writeln!(err, "printf: {arg}: not a number");
            *bad = true;
            let digits: String = arg.chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
            digits.parse().unwrap_or(0)
        }
    }
}

pub(super) fn printf(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let Some(format) = args.first() else { fail!(io, 2, "printf: usage: printf FORMAT [ARGUMENT…]") };
    let mut rest = args[1..].iter();
    let mut out = Vec::new();
    let mut bad = false;
    let f: Vec<char> = format.chars().collect();
    // The format is used again while operands remain (at most as many times as there are).
    for _ in 0..=args.len() {
        let before = rest.len();
        let mut i = 0;
        while i < f.len() {
            let c = f[i];
            if c == '\\' {
                let mut j = i + 1;
                if j < f.len() {
                    j += 1;
                    while j < f.len() && j < i + 4 && f[i + 1].is_digit(8) && f[j].is_digit(8) {
                        j += 1;
                    }
                }
                let piece: String = f[i..j].iter().collect();
                escapes(&piece, &mut out, false);
                i = j;
                continue;
            }
            if c != '%' {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 1;
                continue;
            }
            i += 1;
            if f.get(i) == Some(&'%') {
                out.push(b'%');
                i += 1;
                continue;
            }
            let (mut left, mut zero, mut plus, mut space, mut alt) = (false, false, false, false, false);
            while let Some(&fl) = f.get(i) {
                match fl {
                    '-' => left = true,
                    '0' => zero = true,
                    '+' => plus = true,
                    ' ' => space = true,
                    '#' => alt = true,
                    _ => break,
                }
                i += 1;
            }
            let mut width = 0usize;
            if f.get(i) == Some(&'*') {
                i += 1;
                let w = num(rest.next().map_or("", String::as_str), &mut bad, &mut io.err);
                if w < 0 {
                    left = true;
                }
                width = w.unsigned_abs().min(4096) as usize;
            } else {
                while let Some(d) = f.get(i).and_then(|c| c.to_digit(10)) {
                    width = (width * 10 + d as usize).min(4096);
                    i += 1;
                }
            }
            let mut precision = None;
            if f.get(i) == Some(&'.') {
                i += 1;
                let mut p = 0usize;
                if f.get(i) == Some(&'*') {
                    i += 1;
                    p = usize::try_from(
                        num(rest.next().map_or("", String::as_str), &mut bad, &mut io.err).clamp(0, 4096),
                    )
                    .unwrap_or(0);
                } else {
                    while let Some(d) = f.get(i).and_then(|c| c.to_digit(10)) {
                        p = (p * 10 + d as usize).min(4096);
                        i += 1;
                    }
                }
                precision = Some(p);
            }
            let Some(&conv) = f.get(i) else {
                fail!(io, 1, "printf: {format}: the format ends inside a conversion");
            };
            i += 1;
            let arg = rest.next().map_or("", String::as_str);
            let text = match conv {
                's' => {
                    let s: String = match precision {
                        Some(p) => arg.chars().take(p).collect(),
                        None => arg.to_string(),
                    };
                    pad(&s, width, left, false)
                }
                'b' => {
                    let mut b = Vec::new();
                    let go_on = escapes(arg, &mut b, true);
                    let s = String::from_utf8_lossy(&b).to_string();
                    out.extend_from_slice(pad(&s, width, left, false).as_bytes());
                    if !go_on {
                        let _ = io.out.write_all(&out);
                        return i32::from(bad);
                    }
                    continue;
                }
                // An empty operand is the NUL character, as in dash.
                'c' => pad(&arg.chars().next().unwrap_or('\0').to_string(), width, left, false),
                'd' | 'i' | 'u' | 'o' | 'x' | 'X' => {
                    let v = num(arg, &mut bad, &mut io.err);
                    let mut digits = match conv {
                        'o' => format!("{:o}", v.cast_unsigned()),
                        'x' => format!("{:x}", v.cast_unsigned()),
                        'X' => format!("{:X}", v.cast_unsigned()),
                        'u' => format!("{}", v.cast_unsigned()),
                        _ => v.unsigned_abs().to_string(),
                    };
                    if let Some(p) = precision {
                        if digits.len() < p {
                            digits = "0".repeat(p - digits.len()) + &digits;
                        }
                    }
                    if alt && v != 0 {
                        match conv {
                            'o' if !digits.starts_with('0') => digits.insert(0, '0'),
                            'x' => digits.insert_str(0, "0x"),
                            'X' => digits.insert_str(0, "0X"),
                            _ => {}
                        }
                    }
                    let sign = if matches!(conv, 'd' | 'i') {
                        if v < 0 {
                            "-"
                        } else if plus {
                            "+"
                        } else if space {
                            " "
                        } else {
                            ""
                        }
                    } else {
                        ""
                    };
                    pad(&format!("{sign}{digits}"), width, left, zero && precision.is_none())
                }
                other => fail!(io, 1, "printf: %{other}: conversion not supported (use %s %b %c %d %i %u %o %x %X)"),
            };
            out.extend_from_slice(text.as_bytes());
        }
        if rest.len() == 0 || rest.len() == before {
            break;
        }
    }
    match io.out.write_all(&out) {
        Ok(()) => i32::from(bad),
        Err(e) => fail!(io, 1, "printf: write error: {e}"),
    }
}

/// `read [-r] [-p PROMPT] [NAME…]`: one line from standard input, split with IFS into the
/// names (the last takes the rest); REPLY when none is named. Status 1 at end of input.
/// Waits until standard input can be read; true when Ctrl-C came first.
fn interrupted_while_waiting() -> bool {
    use rustix::event::{poll, PollFd, PollFlags};
    let stdin = rustix::stdio::stdin();
    loop {
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        match poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) if crate::sys::interrupted() => return true,
            Err(rustix::io::Errno::INTR) => continue,
            _ => return false,
        }
    }
}

pub(super) fn read(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let mut raw = false;
    let mut names = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-r" => raw = true,
            "-p" => {
                i += 1;
                if let Some(p) = args.get(i) {
                    let _ = io.err.write_all(p.as_bytes());
                    let _ = io.err.flush();
                }
            }
            "--" => {
                names.extend(args[i + 1..].iter().cloned());
                break;
            }
            a if a.starts_with('-') && a.len() > 1 && names.is_empty() => {
                fail!(io, 2, "read: {a}: unknown option (read [-r] [-p PROMPT] [NAME...])")
            }
            a => names.push(a.to_string()),
        }
        i += 1;
    }
    if names.is_empty() {
        names.push("REPLY".into());
    }
    // Byte by byte from descriptor 0, so what follows the line stays for the next reader.
    let mut line: Vec<(u8, bool)> = Vec::new();
    let mut eof = false;
    let mut escaped = false;
    let mut byte = [0u8; 1];
    loop {
        // At the prompt, Ctrl-C ends the read as it ends a program: the shell's SIGINT handler
        // restarts system calls, but poll is never restarted, so wait there and look at the flag.
        if sh.interactive && interrupted_while_waiting() {
            let _ = writeln!(io.err);
            return 130;
        }
        match rustix::io::read(rustix::stdio::stdin(), &mut byte) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => fail!(io, 2, "read: {e}"),
        }
        let b = byte[0];
        if escaped {
            escaped = false;
            if b != b'\n' {
                line.push((b, true));
            }
            continue;
        }
        if b == b'\\' && !raw {
            escaped = true;
            continue;
        }
        if b == b'\n' {
            break;
        }
        if line.len() >= crate::shell::parse::MAX_LINE {
            fail!(io, 2, "read: line longer than {} bytes", crate::shell::parse::MAX_LINE);
        }
        line.push((b, false));
    }
    let ifs = sh.vars.get("IFS").cloned().unwrap_or_else(|| " \t\n".into());
    let is_ifs = |c: &(u8, bool)| !c.1 && ifs.as_bytes().contains(&c.0);
    let is_ws = |c: &(u8, bool)| is_ifs(c) && matches!(c.0, b' ' | b'\t' | b'\n');
    let mut pos = 0;
    while pos < line.len() && is_ws(&line[pos]) {
        pos += 1;
    }
    let text = |s: &[(u8, bool)]| String::from_utf8_lossy(&s.iter().map(|c| c.0).collect::<Vec<u8>>()).to_string();
    let mut st = i32::from(eof && line.is_empty());
    if eof {
        st = 1;
    }
    for (n, name) in names.iter().enumerate() {
        let value = if n + 1 == names.len() {
            let mut end = line.len();
            while end > pos && is_ws(&line[end - 1]) {
                end -= 1;
            }
            text(&line[pos.min(end)..end])
        } else {
            let start = pos;
            while pos < line.len() && !is_ifs(&line[pos]) {
                pos += 1;
            }
            let v = text(&line[start..pos]);
            while pos < line.len() && is_ws(&line[pos]) {
                pos += 1;
            }
            if pos < line.len() && is_ifs(&line[pos]) {
                pos += 1;
                while pos < line.len() && is_ws(&line[pos]) {
                    pos += 1;
                }
            }
            v
        };
        if let Err(e) = sh.assign(name, &value) {
            let _ = writeln!(io.err, "read: {e}");
            st = 2;
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_by_argument_count_and_grammar() {
        let t = |a: &[&str]| eval(a);
        assert_eq!(t(&[]), Ok(false));
        assert_eq!(t(&["-n"]), Ok(true));
        assert_eq!(t(&[""]), Ok(false));
        assert_eq!(t(&["!", ""]), Ok(true));
        assert_eq!(t(&["-z", ""]), Ok(true));
        assert_eq!(t(&["a", "=", "a"]), Ok(true));
        assert_eq!(t(&["!", "=", "x"]), Ok(false));
        assert_eq!(t(&["1", "-lt", "2"]), Ok(true));
        assert_eq!(t(&["-d", "/", "-a", "-e", "/nonexistent"]), Ok(false));
        assert_eq!(t(&["-d", "/", "-o", "-e", "/nonexistent"]), Ok(true));
        assert_eq!(t(&["(", "1", "-eq", "1", ")", "-a", "!", "x", "=", "y"]), Ok(true));
        assert!(t(&["a", "-eq", "1"]).unwrap_err().contains("integer expected"));
        let deep = vec!["!"; 5000];
        assert!(t(&deep).unwrap_err().contains("too deeply"));
    }

    #[test]
    fn printf_escapes() {
        let mut v = Vec::new();
        assert!(escapes("a\\tb\\101\\n", &mut v, false));
        assert_eq!(v, b"a\tbA\n");
        let mut v = Vec::new();
        assert!(!escapes("x\\0101\\cy", &mut v, true));
        assert_eq!(v, b"xA");
        assert_eq!(pad("-5", 5, false, true), "-0005");
        assert_eq!(pad("ab", 4, true, false), "ab  ");
    }
}
