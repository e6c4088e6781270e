//! `rdbreak ls`: one line per entry, like `ls -l`, as the image streams by.

use std::io::{Read, Write};

use anyhow::Result;

use crate::cpio::{self, Data, Header, Segment, Visitor};
use rdbreak_init::shell::builtins::mode_string;

/// One listing line: mode, links, owner, size (or device numbers), name and link target.
pub fn line(h: &Header, target: Option<&[u8]>) -> String {
    let size = match h.kind() {
        cpio::S_IFCHR | cpio::S_IFBLK => format!("{}, {}", h.rdev_major, h.rdev_minor),
        _ => h.size.to_string(),
    };
    let target = target.map(|t| format!(" -> {}", String::from_utf8_lossy(t))).unwrap_or_default();
    format!(
        "{} {:>4} {:>5} {:>5} {:>10} {}{}",
        mode_string(h.mode),
        h.nlink,
        h.uid,
        h.gid,
        size,
        String::from_utf8_lossy(&h.name),
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
        let name = if name.is_empty() { String::new() } else { format!("{}: ", String::from_utf8_lossy(name)) };
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
