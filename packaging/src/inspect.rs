//! lsinitrd's other jobs: print files of an image (`cat`, lsinitrd -f), what modules it holds
//! (`modules`, lsinitrd -m), and what it is (`info`: its parts, how it was made, what it boots).
//! One pass over the stream each; only small files (configuration, records) are read whole.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use anyhow::{bail, Result};

use crate::compress::Format;
use crate::cpio::{self, Data, Header, Segment, Visitor};
use crate::listing::escape;
use crate::pattern;

/// The most read of one small file for `info` and `modules` (records, configuration).
const SMALL: u64 = 1 << 20;
/// The most of /init searched for rdbreak's version.
const INIT_MAX: u64 = 32 << 20;

fn relative(h: &Header) -> Vec<u8> {
    pattern::relative(&h.name).to_vec()
}

struct Cat<'w> {
    out: &'w mut dyn Write,
    paths: Vec<Vec<u8>>,
    found: Vec<bool>,
    problems: Vec<String>,
}

impl Visitor for Cat<'_> {
    fn entry(&mut self, h: &Header, data: &mut Data<'_>) -> Result<()> {
        let name = relative(h);
        let Some(i) = self.paths.iter().position(|p| *p == name) else { return Ok(()) };
        self.found[i] = true;
        match h.kind() {
            cpio::S_IFREG => {
                std::io::copy(data, self.out)?;
            }
            cpio::S_IFLNK => {
                let mut t = Vec::new();
                data.take(cpio::PATH_MAX as u64).read_to_end(&mut t)?;
                self.problems.push(format!("{} is a symlink to {}", escape(&name), escape(&t)));
            }
            _ => self.problems.push(format!("{} is not a regular file", escape(&name))),
        }
        Ok(())
    }

    fn bad(&mut self, name: &[u8], why: &str) {
        self.problems.push(format!("{}: {why}", escape(name)));
    }
}

/// Writes the files at `paths` of the image to `out`, in the image's order. A path that is
/// missing, not a file, or unreadable is an error naming it, after the others are out.
pub fn cat(input: impl Read, paths: &[String], out: &mut dyn Write) -> Result<()> {
    let paths: Vec<Vec<u8>> = paths.iter().map(|p| pattern::relative(p.as_bytes()).to_vec()).collect();
    let mut c = Cat { out, found: vec![false; paths.len()], paths, problems: Vec::new() };
    crate::initramfs::read(input, &mut c)?;
    c.out.flush()?;
    for (p, found) in c.paths.iter().zip(&c.found) {
        if !found {
            c.problems.push(format!("{} is not in the image", escape(p)));
        }
    }
    if !c.problems.is_empty() {
        bail!("{}", c.problems.join("; "));
    }
    Ok(())
}

/// What `info` and `modules` learn in one pass.
#[derive(Debug, Default)]
pub struct Facts {
    /// (offset, format, entries, bytes of file data)
    pub parts: Vec<(u64, Format, usize, u64)>,
    pub image_bytes: u64,
    pub entries: usize,
    /// Small files by path: dracut's records, /etc/cmdline.d, /etc/initrd-release.
    pub files: BTreeMap<String, String>,
    /// Kernel versions: directories under lib/modules.
    pub kernels: Vec<String>,
    /// Kernel modules: (path, size).
    pub modules: Vec<(String, u64)>,
    pub init_dracut: Option<String>,
    /// rdbreak's version, from /init when it is rdbreak-init.
    pub rdbreak: Option<String>,
    /// dracut's version: the name of its usr/lib/dracut/dracut-VERSION (as lsinitrd reads it).
    pub dracut: Option<String>,
    pub problems: usize,
    part_data: u64,
}

fn wanted(path: &str) -> bool {
    path.starts_with("etc/cmdline.d/")
        || path.starts_with("usr/lib/dracut/") && (path.ends_with(".txt") || path.ends_with(".conf"))
        || matches!(
            path,
            "etc/cmdline"
                | "etc/initrd-release"
                | "etc/rdbreak/dracut-init"
                | "etc/rdbreak/mode"
                | "etc/conf.d/dracut.conf"
        )
}

fn module_file(path: &str) -> bool {
    [".ko", ".ko.xz", ".ko.zst", ".ko.gz"].iter().any(|s| path.ends_with(s))
}

/// `rdbreak X.Y.Z starting`, as rdbreak-init logs at boot, found in its binary.
fn rdbreak_version(init: &[u8]) -> Option<String> {
    let marker = b"rdbreak ";
    init.windows(marker.len()).enumerate().filter(|(_, w)| *w == marker).find_map(|(i, _)| {
        let rest = &init[i + marker.len()..];
        let v: Vec<u8> = rest
            .iter()
            .take(32)
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'.' || **b == b'-')
            .copied()
            .collect();
        let tail = &rest[v.len()..];
        (v.first().is_some_and(u8::is_ascii_digit) && tail.starts_with(b" starting"))
            .then(|| String::from_utf8_lossy(&v).to_string())
    })
}

impl Visitor for Facts {
    fn entry(&mut self, h: &Header, data: &mut Data<'_>) -> Result<()> {
        self.entries += 1;
        self.part_data += u64::from(h.size);
        let path = String::from_utf8_lossy(&relative(h)).to_string();
        for base in ["lib/modules/", "usr/lib/modules/"] {
            if let Some(rest) = path.strip_prefix(base) {
                if h.kind() == cpio::S_IFDIR && !rest.contains('/') && !self.kernels.contains(&rest.to_string()) {
                    self.kernels.push(rest.to_string());
                }
            }
        }
        let dracut = path.strip_prefix("usr/lib/dracut/dracut-").or_else(|| path.strip_prefix("lib/dracut/dracut-"));
        if let Some(v) = dracut.filter(|v| !v.contains('/')) {
            self.dracut = Some(v.to_string());
        }
        if h.kind() == cpio::S_IFREG && module_file(&path) {
            self.modules.push((path.clone(), h.size.into()));
        }
        if path == "init.dracut" {
            let mut t = Vec::new();
            if h.kind() == cpio::S_IFLNK {
                data.take(cpio::PATH_MAX as u64).read_to_end(&mut t)?;
            }
            let what = if t.is_empty() { "a file".to_string() } else { format!("a link to {}", escape(&t)) };
            self.init_dracut = Some(what);
        }
        if path == "init" && h.kind() == cpio::S_IFREG {
            let mut b = Vec::new();
            data.take(INIT_MAX).read_to_end(&mut b)?;
            self.rdbreak = rdbreak_version(&b);
        }
        if h.kind() == cpio::S_IFREG && wanted(&path) {
            let mut b = Vec::new();
            data.take(SMALL).read_to_end(&mut b)?;
            self.files.insert(path, String::from_utf8_lossy(&b).to_string());
        }
        Ok(())
    }

    fn bad(&mut self, _name: &[u8], _why: &str) {
        self.problems += 1;
    }

    fn segment(&mut self, s: &Segment) {
        self.parts.push((s.offset, s.compression, s.entries, std::mem::take(&mut self.part_data)));
    }
}

/// Counts the bytes read, for the size of the last part.
struct Counting<R>(R, std::rc::Rc<std::cell::Cell<u64>>);

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.set(self.1.get() + n as u64);
        Ok(n)
    }
}

/// Reads the whole image once and gathers [`Facts`].
pub fn facts(input: impl Read) -> Result<Facts> {
    let count = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut f = Facts::default();
    crate::initramfs::read(Counting(input, count.clone()), &mut f)?;
    f.image_bytes = count.get();
    f.modules.sort();
    Ok(f)
}

fn strip(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `rdbreak info`: the parts, how the image was made, what it boots.
pub fn info(f: &Facts, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "image: {} bytes, {} entries in {} parts", f.image_bytes, f.entries, f.parts.len())?;
    for (i, (offset, format, entries, data)) in f.parts.iter().enumerate() {
        let end = f.parts.get(i + 1).map_or(f.image_bytes, |p| p.0);
        let kind = if *format == Format::None && i + 1 < f.parts.len() && f.parts[i + 1].1 != Format::None {
            " (early cpio)"
        } else {
            ""
        };
        writeln!(
            out,
            "  part {}: offset {offset}, {format}, {} bytes stored, {entries} entries, {data} bytes of file data{kind}",
            i + 1,
            end.saturating_sub(*offset)
        )?;
    }
    let kernels = if f.kernels.is_empty() { "none (no lib/modules/VERSION)".to_string() } else { f.kernels.join(", ") };
    writeln!(out, "kernel version: {kernels}")?;
    writeln!(out, "kernel modules: {}", f.modules.len())?;
    let made = match f.files.get("etc/initrd-release").filter(|r| r.contains("ID=rdbreak")) {
        Some(_) => "rdbreak build".to_string(),
        None if f.dracut.is_some() || f.files.keys().any(|k| k.starts_with("usr/lib/dracut/")) => {
            format!("dracut{}", f.dracut.as_deref().map(|v| format!(" {v}")).unwrap_or_default())
        }
        None => "unknown".to_string(),
    };
    writeln!(out, "made by: {made}")?;
    if let Some(args) = f.files.get("usr/lib/dracut/build-parameter.txt") {
        writeln!(out, "dracut arguments: {}", strip(args))?;
    }
    if let Some(m) = f.files.get("usr/lib/dracut/modules.txt") {
        writeln!(out, "dracut modules: {}", strip(m))?;
    }
    let rdbreak = f.rdbreak.as_deref().map_or("not /init".to_string(), |v| format!("{v} (/init)"));
    writeln!(out, "rdbreak: {rdbreak}")?;
    let handoff = match (&f.init_dracut, f.files.get("etc/rdbreak/dracut-init")) {
        (Some(what), kind) => {
            format!("kept as /init.dracut ({what}{})", kind.map(|k| format!(", {}", k.trim())).unwrap_or_default())
        }
        (None, _) => "none (no /init.dracut: rd.rdbreak=0 has nothing to hand off to)".to_string(),
    };
    writeln!(out, "dracut's init: {handoff}")?;
    if let Some(mode) = f.files.get("etc/rdbreak/mode") {
        writeln!(out, "rdbreak mode: {}", mode.trim())?;
    }
    let cmdline: Vec<(&String, &String)> =
        f.files.iter().filter(|(k, _)| k.starts_with("etc/cmdline.d/") || *k == "etc/cmdline").collect();
    if cmdline.is_empty() {
        writeln!(out, "command line in the image: none")?;
    }
    for (path, text) in cmdline {
        writeln!(out, "command line in /{path}: {}", strip(text))?;
    }
    Ok(())
}

/// `rdbreak modules`: dracut's modules (as recorded in the image), then the kernel modules.
pub fn modules(f: &Facts, out: &mut dyn Write) -> std::io::Result<()> {
    match f.files.get("usr/lib/dracut/modules.txt") {
        Some(m) => {
            writeln!(out, "dracut modules:")?;
            for l in m.lines().filter(|l| !l.trim().is_empty()) {
                writeln!(out, "  {}", l.trim())?;
            }
        }
        None => writeln!(out, "dracut modules: none recorded (not a dracut image)")?,
    }
    writeln!(out, "kernel modules ({}):", f.modules.len())?;
    for (path, size) in &f.modules {
        writeln!(out, "  {path} {size}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpio::{write, Entry};

    #[test]
    fn facts_of_a_dracut_like_image() {
        let main = write(
            &[
                Entry::file("init", 0o755, b"\x7fELF...rdbreak 0.1.0 starting (kernel".to_vec()),
                Entry::symlink("init.dracut", "usr/lib/systemd/systemd"),
                Entry::file("etc/rdbreak/dracut-init", 0o644, b"systemd\n".to_vec()),
                Entry::file("usr/lib/dracut/modules.txt", 0o644, b"base\nrdbreak\n".to_vec()),
                Entry::file("usr/lib/dracut/dracut-059-4", 0o644, Vec::new()),
                Entry::file("usr/lib/dracut/build-parameter.txt", 0o644, b" --kver '6.1' -a rdbreak".to_vec()),
                Entry::file("etc/cmdline.d/10-x.conf", 0o644, b"rd.break\n".to_vec()),
                Entry::dir("usr/lib/modules/6.1", 0o755),
                Entry::file("usr/lib/modules/6.1/kernel/virtio_blk.ko.xz", 0o644, vec![1; 10]),
            ],
            0,
        );
        let mut image = write(&[Entry::file("kernel/x86/microcode/AuthenticAMD.bin", 0o644, b"uc".to_vec())], 0);
        image.extend(crate::compress::compress(&main, Format::Gzip).unwrap());
        let f = facts(&image[..]).unwrap();
        let mut out = Vec::new();
        info(&f, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for want in [
            "in 2 parts",
            "part 1: offset 0, none,",
            "(early cpio)",
            "part 2: offset 276, gzip,",
            "kernel version: 6.1",
            "kernel modules: 1",
            "dracut arguments: --kver '6.1' -a rdbreak",
            "dracut modules: base rdbreak",
            "made by: dracut 059-4",
            "rdbreak: 0.1.0 (/init)",
            "dracut's init: kept as /init.dracut (a link to usr/lib/systemd/systemd, systemd)",
            "command line in /etc/cmdline.d/10-x.conf: rd.break",
        ] {
            assert!(text.contains(want), "{want}:\n{text}");
        }
        let mut out = Vec::new();
        modules(&f, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("  rdbreak\n") && text.contains("usr/lib/modules/6.1/kernel/virtio_blk.ko.xz 10"),
            "{text}"
        );
    }

    #[test]
    fn cat_prints_files_and_names_what_is_missing() {
        let image = write(&[Entry::file("etc/a", 0o644, b"A\n".to_vec()), Entry::symlink("etc/l", "a")], 0);
        let mut out = Vec::new();
        cat(&image[..], &["/etc/a".into()], &mut out).unwrap();
        assert_eq!(out, b"A\n");
        let e = cat(&image[..], &["etc/l".into(), "nope".into(), "./etc/a".into()], &mut Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "etc/l is a symlink to a; nope is not in the image");
    }
}
