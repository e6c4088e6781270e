//! `rdbreak ls`: one line per entry, like `ls -l`, with names escaped as `ls -b` does, so that
//! a name holding a newline cannot forge a line and escape sequences never reach the terminal.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Result;

use crate::compress::Format;
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

/// How `rdbreak ls` lists.
#[derive(Default)]
pub struct Options<'p> {
    /// `cpio -tv`'s (and lsinitrd's) lines: owner names and dates.
    pub long: bool,
    /// Only the parts of the image (offset, format, entries), no entries.
    pub parts_only: bool,
    /// Largest first, within each part.
    pub sort_size: bool,
    /// Only the entries whose path (relative, without `./`) this accepts.
    pub select: Option<crate::pattern::Select<'p>>,
}

/// Lines kept before printing them (an uncompressed first part until it is known to be an
/// early archive; everything under `--sort size`). Past it they are printed as they come.
const MAX_HELD: usize = 64 << 20;

struct Lister<'w, 'p> {
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    opts: &'w Options<'p>,
    names: Names,
    now: i64,
    problems: usize,
    /// Lines of the current part not printed yet, with their sizes.
    held: Vec<(u64, String)>,
    held_bytes: usize,
    /// Every part so far was uncompressed (their lines are held: an early archive if a
    /// compressed part follows).
    all_plain: bool,
    parts: usize,
}

impl Lister<'_, '_> {
    fn problem(&mut self, name: &[u8], why: &str) {
        self.problems += 1;
        let name = if name.is_empty() { String::new() } else { format!("{}: ", escape(name)) };
        let _ = writeln!(self.err, "rdbreak: {name}{why}");
    }

    fn flush_held(&mut self) -> std::io::Result<()> {
        if self.opts.sort_size {
            self.held.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
        }
        for (_, line) in self.held.drain(..) {
            writeln!(self.out, "{line}")?;
        }
        self.held_bytes = 0;
        Ok(())
    }

    fn emit(&mut self, size: u64, line: String) -> std::io::Result<()> {
        let holding = self.opts.sort_size || self.all_plain;
        if holding && self.held_bytes + line.len() <= MAX_HELD {
            self.held_bytes += line.len() + 32;
            self.held.push((size, line));
            return Ok(());
        }
        self.flush_held()?;
        writeln!(self.out, "{line}")
    }
}

impl Visitor for Lister<'_, '_> {
    fn entry(&mut self, h: &Header, data: &mut Data<'_>) -> Result<()> {
        if self.opts.parts_only {
            return Ok(());
        }
        if let Some(keep) = self.opts.select {
            if !keep(&crate::pattern::normalize(&h.name)) {
                return Ok(());
            }
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
        let text = if self.opts.long {
            long_line(h, target.as_deref(), &self.names, self.now)
        } else {
            line(h, target.as_deref())
        };
        self.emit(h.size.into(), text)?;
        Ok(())
    }

    fn bad(&mut self, name: &[u8], why: &str) {
        self.problem(name, why);
    }

    fn start(&mut self, offset: u64, format: Format) {
        self.parts += 1;
        if self.opts.parts_only {
            return;
        }
        if self.all_plain && format != Format::None {
            self.all_plain = false;
            // What came before a compressed part is the early archive (microcode): said apart,
            // as lsinitrd's "Early CPIO image".
            if self.parts > 1 {
                let _ = writeln!(self.out, "Early CPIO image (uncompressed, before offset {offset}):");
                let _ = self.flush_held();
                let _ = writeln!(self.out, "\nMain image ({format}, at offset {offset}):");
            }
        }
        if self.opts.sort_size && !self.all_plain {
            let _ = self.flush_held();
        }
    }

    fn segment(&mut self, s: &Segment) {
        if self.opts.parts_only {
            let _ = writeln!(self.out, "offset {:>10}  {:<5} {} entries", s.offset, s.compression, s.entries);
        }
    }
}

/// Lists the image read from `input` on `out` (or only its parts); bad entries are named on
/// `err` as they come. Returns how many there were; a broken image is an error.
pub fn list(input: impl Read, out: &mut dyn Write, err: &mut dyn Write, opts: &Options<'_>) -> Result<usize> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let names = if opts.long { Names::host() } else { Names::default() };
    let mut l =
        Lister { out, err, opts, names, now, problems: 0, held: Vec::new(), held_bytes: 0, all_plain: true, parts: 0 };
    let read = crate::initramfs::read(input, &mut l);
    l.flush_held()?;
    read?;
    l.out.flush()?;
    Ok(l.problems)
}

/// User and group names by number, from this machine's /etc/passwd and /etc/group (as `cpio
/// -tv` and lsinitrd show them); a number without a name stays a number.
#[derive(Default)]
pub struct Names {
    users: std::collections::HashMap<u32, String>,
    groups: std::collections::HashMap<u32, String>,
}

impl Names {
    pub fn host() -> Names {
        Names::from_files(Path::new("/etc/passwd"), Path::new("/etc/group"))
    }

    pub fn from_files(passwd: &Path, group: &Path) -> Names {
        let read = |p: &Path| {
            let text = std::fs::read(p).unwrap_or_default();
            let mut map = std::collections::HashMap::new();
            for l in String::from_utf8_lossy(&text).lines().take(100_000) {
                let f: Vec<&str> = l.split(':').collect();
                if let (Some(name), Some(Ok(id))) = (f.first(), f.get(2).map(|s| s.parse::<u32>())) {
                    map.entry(id).or_insert_with(|| name.to_string());
                }
            }
            map
        };
        Names { users: read(passwd), groups: read(group) }
    }

    fn user(&self, uid: u32) -> String {
        self.users.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }

    fn group(&self, gid: u32) -> String {
        self.groups.get(&gid).cloned().unwrap_or_else(|| gid.to_string())
    }
}

/// `cpio -tv`'s date (UTC): `Dec  7 09:23` within six months of `now`, `Dec  7  2025` otherwise.
pub fn date(when: i64, now: i64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (days, secs) = (when.div_euclid(86_400), when.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let name = MONTHS[usize::try_from(month - 1).unwrap_or(0).min(11)];
    let recent = now - when <= 6 * 30 * 24 * 3600 && now >= when;
    if recent {
        format!("{name} {day:>2} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
    } else {
        format!("{name} {day:>2}  {year}")
    }
}

/// One `cpio -tv` line: mode, links, owner and group names, size (or device numbers), date,
/// name and link target.
pub fn long_line(h: &Header, target: Option<&[u8]>, names: &Names, now: i64) -> String {
    let size = match h.kind() {
        cpio::S_IFCHR | cpio::S_IFBLK => format!("{:>3}, {:>3}", h.rdev_major, h.rdev_minor),
        _ => format!("{:>8}", h.size),
    };
    let target = target.map(|t| format!(" -> {}", escape(t))).unwrap_or_default();
    format!(
        "{} {:>3} {:<8} {:<8} {} {} {}{}",
        mode_string(h.mode),
        h.nlink,
        names.user(h.uid),
        names.group(h.gid),
        size,
        date(h.mtime.into(), now),
        escape(&h.name),
        target
    )
}

/// One fuzzing run (the `cpio` target of `rdbreak-fuzzing` and fuzz/): any bytes read as an
/// initramfs image, its segments and archives, must give entries or an error, never a panic,
/// and the listing of what was read must be printable.
pub fn fuzz_one(data: &[u8]) {
    let mut out = std::io::sink();
    let mut err = std::io::sink();
    let _ = list(data, &mut out, &mut err, &Options::default());
    let _ = list(data, &mut out, &mut err, &Options { long: true, sort_size: true, ..Default::default() });
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
        assert_eq!(list(&image[..], &mut out, &mut err, &Options::default()).unwrap(), 0);
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
            let e = list(input, &mut out, &mut err, &Options::default()).unwrap_err();
            assert!(format!("{e:#}").contains(why), "{e:#}");
        }
        // /dev/zero: stops after the cap instead of reading forever.
        let e = list(std::io::repeat(0), &mut out, &mut err, &Options::default()).unwrap_err();
        assert!(format!("{e:#}").contains("MiB of zero bytes"), "{e:#}");
        assert!(out.is_empty());
    }

    #[test]
    fn dates_as_cpio_tv_prints_them() {
        let now = 1_796_635_380; // 2026-12-07 09:23 UTC
        assert_eq!(date(now - 3600, now), "Dec  7 08:23");
        assert_eq!(date(0, now), "Jan  1  1970");
        assert_eq!(date(951_782_400, now), "Feb 29  2000");
        assert_eq!(date(now + 86_400, now), "Dec  8  2026", "the future shows its year");
    }

    #[test]
    fn an_early_archive_is_listed_apart() {
        let early = cpio::write(&[Entry::file("kernel/x86/microcode/GenuineIntel.bin", 0o644, b"uc".to_vec())], 0);
        let main = cpio::write(&[Entry::file("init", 0o755, b"#!".to_vec())], 0);
        let mut image = early.clone();
        image.extend(crate::compress::compress(&main, Format::Gzip).unwrap());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        list(&image[..], &mut out, &mut err, &Options::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Early CPIO image"), "{text}");
        assert!(lines[1].ends_with("GenuineIntel.bin") && lines[3].starts_with("Main image (gzip"), "{text}");
        // A single archive has no headings.
        let (mut out, mut err) = (Vec::new(), Vec::new());
        list(&early[..], &mut out, &mut err, &Options::default()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1);
    }
}
