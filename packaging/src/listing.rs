//! `rdbreak ls`: one line per entry, like `ls -l`, with names escaped as `ls -b` does, so that
//! a name holding a newline cannot forge a line and escape sequences never reach the terminal.

use std::io::{Read, Write};

use anyhow::Result;

use crate::cpio::{self, Data, Header, Segment, Visitor};
use rdbreak_init::format::mode_string;

/// `name` printable on one line: `\n`, `\t`, … and `\ooo` for other control bytes and bytes that
/// are not UTF-8, `\\` for a backslash and `\ ` for a space (as `ls -b`). Printable UTF-8 stays;
/// so do other characters, except the bidirectional controls that reorder a line on screen.
pub fn escape(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    let octal = |out: &mut String, bytes: &[u8]| {
        for b in bytes {
            out.push_str(&format!("\\{b:03o}"));
        }
    };
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                ' ' => out.push_str("\\ "),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0b' => out.push_str("\\v"),
                '\x0c' => out.push_str("\\f"),
                c if c.is_control()
                    || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
                {
                    octal(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes())
                }
                c => out.push(c),
            }
        }
        octal(&mut out, chunk.invalid());
    }
    out
}

/// One listing line: mode, links, owner, size (or device numbers), name and link target.
pub fn line(h: &Header, target: Option<&[u8]>) -> String {
    let size = match h.kind() {
        cpio::S_IFCHR | cpio::S_IFBLK => format!("{}, {}", h.rdev_major, h.rdev_minor),
        _ => h.size.to_string(),
    };
    let target = target.map(|t| format!(" -> {}", escape(t))).unwrap_or_default();
    format!(
        "{} {:>4} {:>5} {:>5} {:>10} {}{}",
        mode_string(h.mode),
        h.nlink,
        h.uid,
        h.gid,
        size,
        escape(&h.name),
        target
    )
}

struct Lister<'w> {
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    segments_only: bool,
    problems: usize,
}

impl Lister<'_> {
    fn problem(&mut self, name: &[u8], why: &str) {
        self.problems += 1;
        let name = if name.is_empty() { String::new() } else { format!("{}: ", escape(name)) };
        let _ = writeln!(self.err, "rdbreak: {name}{why}");
    }
}

impl Visitor for Lister<'_> {
    fn entry(&mut self, h: &Header, data: &mut Data<'_>) -> Result<()> {
        if self.segments_only {
            return Ok(());
        }
        let mut target = None;
        if h.kind() == cpio::S_IFLNK {
            let mut t = Vec::new();
            match data.take(cpio::PATH_MAX as u64 + 1).read_to_end(&mut t) {
                Ok(_) if t.len() > cpio::PATH_MAX => self.problem(&h.name, "symlink target longer than 4096 bytes"),
                Ok(_) => target = Some(t),
                Err(e) => self.problem(&h.name, &e.to_string()),
            }
        }
        writeln!(self.out, "{}", line(h, target.as_deref()))?;
        Ok(())
    }

    fn bad(&mut self, name: &[u8], why: &str) {
        self.problem(name, why);
    }

    fn segment(&mut self, s: &Segment) {
        if self.segments_only {
            let _ = writeln!(self.out, "offset {:>10}  {:<5} {} entries", s.offset, s.compression, s.entries);
        }
    }
}

/// Lists the image read from `input` on `out` (or only its segments); bad entries are named on
/// `err` as they come. Returns how many there were; a broken image is an error.
pub fn list(input: impl Read, out: &mut dyn Write, err: &mut dyn Write, segments_only: bool) -> Result<usize> {
    let mut l = Lister { out, err, segments_only, problems: 0 };
    crate::initramfs::read(input, &mut l)?;
    l.out.flush()?;
    Ok(l.problems)
}

/// One fuzzing run (the `cpio` target of `rdbreak-fuzzing` and fuzz/): any bytes read as an
/// initramfs image, its segments and archives, must give entries or an error, never a panic,
/// and the listing of what was read must be printable.
pub fn fuzz_one(data: &[u8]) {
    let mut out = std::io::sink();
    let mut err = std::io::sink();
    let _ = list(data, &mut out, &mut err, false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpio::Entry;

    #[test]
    fn names_are_escaped_as_ls_b_does() {
        assert_eq!(escape(b"usr/lib/modules"), "usr/lib/modules");
        assert_eq!(escape(b"a\nb"), "a\\nb");
        assert_eq!(escape(b"\x1b[31mred"), "\\033[31mred");
        assert_eq!(escape(b"n\xff"), "n\\377");
        assert_eq!(escape(b"two words\\"), "two\\ words\\\\");
        assert_eq!(escape("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(escape("x\u{202e}y".as_bytes()), "x\\342\\200\\256y");
        assert_eq!(escape(b"\x7f\t"), "\\177\\t");
    }

    #[test]
    fn a_forged_line_stays_one_line() {
        let forged = "x\n-rwsr-xr-x    1     0     0          1 etc/shadow";
        let image = cpio::write(&[Entry::file(forged, 0o644, b"1".to_vec()), Entry::symlink("l", "\x1b]0;t\x07")], 0);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(list(&image[..], &mut out, &mut err, false).unwrap(), 0);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("x\\n-rwsr-xr-x\\ \\ \\ \\ 1"), "{text}");
        assert!(text.ends_with("l -> \\033]0;t\\a\n"), "{text}");
    }

    #[test]
    fn empty_zero_and_foreign_inputs_are_errors() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for (input, why) in
            [(&b""[..], "empty"), (&[0u8; 4096][..], "only zero bytes"), (&b"hello world"[..], "neither a cpio header")]
        {
            let e = list(input, &mut out, &mut err, false).unwrap_err();
            assert!(format!("{e:#}").contains(why), "{e:#}");
        }
        // /dev/zero: stops after the cap instead of reading forever.
        let e = list(std::io::repeat(0), &mut out, &mut err, false).unwrap_err();
        assert!(format!("{e:#}").contains("MiB of zero bytes"), "{e:#}");
        assert!(out.is_empty());
    }
}
