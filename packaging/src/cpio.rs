//! cpio "newc" archives as the kernel reads them: a writer with a deterministic layout, and a
//! reader that walks several concatenated archives (an uncompressed early cpio, then the main
//! one), decompressing segments as it meets them.

use std::io::Write;

use anyhow::{bail, Context, Result};

use crate::compress;
use rdbreak_init::shell::builtins::mode_string;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFBLK: u32 = 0o060000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    /// File contents, or the target of a symlink.
    pub data: Vec<u8>,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub ino: u32,
}

impl Entry {
    fn new(name: &str, mode: u32, data: Vec<u8>) -> Entry {
        Entry {
            name: name.to_string(),
            mode,
            uid: 0,
            gid: 0,
            nlink: 1,
            mtime: 0,
            data,
            rdev_major: 0,
            rdev_minor: 0,
            ino: 0,
        }
    }
    pub fn dir(name: &str, perm: u32) -> Entry {
        let mut e = Entry::new(name, S_IFDIR | perm, Vec::new());
        e.nlink = 2;
        e
    }
    pub fn file(name: &str, perm: u32, data: Vec<u8>) -> Entry {
        Entry::new(name, S_IFREG | perm, data)
    }
    pub fn symlink(name: &str, target: &str) -> Entry {
        Entry::new(name, S_IFLNK | 0o777, target.as_bytes().to_vec())
    }
    pub fn char_dev(name: &str, perm: u32, major: u32, minor: u32) -> Entry {
        let mut e = Entry::new(name, S_IFCHR | perm, Vec::new());
        e.rdev_major = major;
        e.rdev_minor = minor;
        e
    }
    pub fn kind(&self) -> u32 {
        self.mode & S_IFMT
    }
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn header(out: &mut Vec<u8>, e: &Entry, ino: u32, namesize: usize) {
    let fields = [
        ino,
        e.mode,
        e.uid,
        e.gid,
        e.nlink,
        e.mtime,
        e.data.len() as u32,
        0,
        0,
        e.rdev_major,
        e.rdev_minor,
        namesize as u32,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
}

/// Writes entries as one newc archive, in the order given, with inode numbers assigned in order
/// and `mtime` forced to `mtime` (reproducible output).
pub fn write(entries: &[Entry], mtime: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let mut e = e.clone();
        e.mtime = mtime;
        let name = e.name.trim_start_matches('/');
        header(&mut out, &e, i as u32 + 1, name.len() + 1);
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        pad4(&mut out);
        out.extend_from_slice(&e.data);
        pad4(&mut out);
    }
    header(&mut out, &Entry::new("TRAILER!!!", 0, Vec::new()), 0, 11);
    out.extend_from_slice(b"TRAILER!!!\0");
    pad4(&mut out);
    out
}

fn hex(field: &[u8]) -> Result<u32> {
    let s = std::str::from_utf8(field).context("cpio header is not ASCII")?;
    u32::from_str_radix(s, 16).with_context(|| format!("bad cpio header field {s:?}"))
}

/// One segment of an initramfs image: where it starts and how it was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub offset: usize,
    pub compression: compress::Format,
    pub entries: usize,
}

/// Parses one newc archive at the start of `data`; returns its entries and the bytes it used
/// (trailer included, padded to 4).
fn parse_one(data: &[u8]) -> Result<(Vec<Entry>, usize)> {
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        let h = data.get(pos..pos + 110).context("truncated cpio header")?;
        if &h[..6] != b"070701" && &h[..6] != b"070702" {
            bail!("not a newc cpio header at offset {pos}");
        }
        let f = |i: usize| hex(&h[6 + i * 8..14 + i * 8]);
        let (ino, mode, uid, gid, nlink, mtime, size) = (f(0)?, f(1)?, f(2)?, f(3)?, f(4)?, f(5)?, f(6)? as usize);
        let (rmaj, rmin, namesize) = (f(9)?, f(10)?, f(11)? as usize);
        let name_start = pos + 110;
        let name_bytes = data.get(name_start..name_start + namesize).context("truncated cpio name")?;
        let name = String::from_utf8_lossy(name_bytes.strip_suffix(&[0]).unwrap_or(name_bytes)).to_string();
        let data_start = (name_start + namesize).next_multiple_of(4);
        let body = data.get(data_start..data_start + size).context("truncated cpio data")?;
        pos = (data_start + size).next_multiple_of(4);
        if name == "TRAILER!!!" {
            return Ok((out, pos.min(data.len())));
        }
        out.push(Entry {
            name,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            data: body.to_vec(),
            rdev_major: rmaj,
            rdev_minor: rmin,
            ino,
        });
    }
}

/// Reads every archive of an initramfs image: uncompressed early segments (what dracut's
/// `skipcpio` skips), then compressed ones, detected by their magic.
pub fn read_image(data: &[u8]) -> Result<(Vec<Entry>, Vec<Segment>)> {
    let mut entries = Vec::new();
    let mut segments = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (e, next) = archives(data, pos, &mut |offset, n| {
            segments.push(Segment { offset, compression: compress::Format::None, entries: n });
        })?;
        entries.extend(e);
        pos = next;
        if pos == data.len() {
            break;
        }
        let rest = &data[pos..];
        let format = compress::detect(rest);
        if format == compress::Format::None {
            bail!("unknown data at offset {pos} (neither cpio nor a known compression)");
        }
        let (plain, used) = compress::decompress(rest, format)
            .with_context(|| format!("decompressing the {format} segment at offset {pos}"))?;
        let inner = archives_only(&plain).with_context(|| format!("in the {format} segment at offset {pos}"))?;
        segments.push(Segment { offset: pos, compression: format, entries: inner.len() });
        entries.extend(inner);
        // A decoder that cannot tell how much it read consumed the rest.
        pos += used.unwrap_or(rest.len());
    }
    Ok((entries, segments))
}

/// The cpio archives from `pos` on, with the zero padding between them, up to the first byte
/// that is neither (or the end): their entries and that byte's offset. `each` hears of every
/// archive (its offset and entry count).
fn archives(data: &[u8], mut pos: usize, each: &mut dyn FnMut(usize, usize)) -> Result<(Vec<Entry>, usize)> {
    let mut entries = Vec::new();
    while pos < data.len() {
        if data[pos] == 0 {
            pos += 1;
            continue;
        }
        if !data[pos..].starts_with(b"07070") {
            break;
        }
        let (e, used) = parse_one(&data[pos..]).with_context(|| format!("in the cpio archive at offset {pos}"))?;
        each(pos, e.len());
        entries.extend(e);
        pos += used.max(1);
    }
    Ok((entries, pos))
}

/// The inside of a compressed segment: cpio archives and zero padding only, as the kernel reads
/// it ("junk within compressed archive" otherwise). Never decompressed again: a segment that
/// held another compressed stream would let a few bytes expand without bound.
fn archives_only(data: &[u8]) -> Result<Vec<Entry>> {
    let (entries, end) = archives(data, 0, &mut |_, _| {})?;
    if end < data.len() {
        bail!("junk at offset {end} after decompressing (not a cpio archive)");
    }
    Ok(entries)
}

/// One listing line: mode, owner, size (or device numbers), name and link target.
pub fn list_line(e: &Entry) -> String {
    let size = match e.kind() {
        S_IFCHR | S_IFBLK => format!("{}, {}", e.rdev_major, e.rdev_minor),
        _ => e.data.len().to_string(),
    };
    let target = if e.kind() == S_IFLNK { format!(" -> {}", String::from_utf8_lossy(&e.data)) } else { String::new() };
    format!("{} {:>4} {:>5} {:>5} {:>10} {}{}", mode_string(e.mode), e.nlink, e.uid, e.gid, size, e.name, target)
}

pub fn write_listing(entries: &[Entry], out: &mut dyn Write) -> std::io::Result<()> {
    for e in entries {
        writeln!(out, "{}", list_line(e))?;
    }
    Ok(())
}

/// One fuzzing run of the reader: any bytes must give entries or an error, never a panic.
pub fn fuzz_one(data: &[u8]) {
    if let Ok((entries, _)) = read_image(data) {
        for e in entries.iter().take(16) {
            let _ = list_line(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by cargo fuzz (target cpio, 2026-11-29): 153 bytes of nested zstd frames. The reader
    /// decompressed what a segment decompressed to, again and again: 2 GiB and a 13 s timeout.
    #[test]
    fn compressed_data_inside_a_segment_is_junk_not_another_layer() {
        let data = compress::tests::base64(
            "KLUv/QRYoqUFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFgAAAAAAAAAKLUv/QRYoqUFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCjkAAAAAAAAACgoKCtJtGr4dx1AbYAAJUr4dAAAAAAABNRq+HcdQG2AACVJEoRIBAAE1",
        );
        let err = read_image(&data).unwrap_err();
        assert!(format!("{err:#}").contains("junk"), "{err:#}");
        // A compressed archive inside a compressed segment: refused, as the kernel does.
        let plain = write(&[Entry::file("a", 0o644, b"x".to_vec())], 0);
        let twice =
            compress::compress(&compress::compress(&plain, compress::Format::Zstd).unwrap(), compress::Format::Gzip)
                .unwrap();
        assert!(read_image(&twice).is_err());
    }

    fn sample() -> Vec<Entry> {
        vec![
            Entry::dir("dev", 0o755),
            Entry::char_dev("dev/console", 0o600, 5, 1),
            Entry::file("init", 0o755, b"#!/bin/sh\n".to_vec()),
            Entry::symlink("bin", "usr/bin"),
            Entry::file("empty", 0o644, Vec::new()),
        ]
    }

    #[test]
    fn round_trip() {
        let bytes = write(&sample(), 0);
        assert_eq!(bytes.len() % 4, 0);
        let (entries, segments) = read_image(&bytes).unwrap();
        assert_eq!(segments.len(), 1);
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["dev", "dev/console", "init", "bin", "empty"]);
        assert_eq!(entries[2].data, b"#!/bin/sh\n");
        assert_eq!((entries[1].rdev_major, entries[1].rdev_minor), (5, 1));
        assert_eq!(list_line(&entries[3]), "lrwxrwxrwx    1     0     0          7 bin -> usr/bin");
    }

    #[test]
    fn deterministic() {
        assert_eq!(write(&sample(), 0), write(&sample(), 0));
        assert_ne!(write(&sample(), 0), write(&sample(), 1));
    }

    #[test]
    fn the_system_cpio_reads_what_we_write() {
        let bytes = write(&sample(), 0);
        let Some(out) = compress::tests::pipe_through("cpio", &["-t", "--quiet"], &bytes) else { return };
        assert_eq!(String::from_utf8_lossy(&out.stdout), "dev\ndev/console\ninit\nbin\nempty\n");
    }

    #[test]
    fn early_then_compressed_segments() {
        let early = write(
            &[Entry::dir("kernel", 0o755), Entry::file("kernel/x86/microcode/GenuineIntel.bin", 0o644, vec![1, 2, 3])],
            0,
        );
        let main = write(&sample(), 0);
        for format in [compress::Format::Gzip, compress::Format::Zstd, compress::Format::Xz] {
            let mut image = early.clone();
            image.extend(compress::compress(&main, format).unwrap());
            let (entries, segments) = read_image(&image).unwrap();
            assert_eq!(segments.len(), 2, "{format}");
            assert_eq!(segments[1].compression, format);
            assert_eq!(entries.len(), 2 + 5);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read_image(b"0707010000").is_err());
        assert!(read_image(b"hello world").is_err());
        let mut bytes = write(&sample(), 0);
        bytes.truncate(200);
        assert!(read_image(&bytes).is_err());
    }
}

#[cfg(test)]
mod fuzz_smoke {
    //! The initramfs reader on random input (CI's short pass; see init's fuzz module for the
    //! engine): it must return an error, never panic.
    use super::*;
    use rdbreak_init::fuzz::{mutate, Rng};

    #[test]
    fn the_reader_survives_random_images() {
        let plain = write(
            &[Entry::dir("a", 0o755), Entry::file("a/b", 0o644, b"data".to_vec()), Entry::symlink("l", "a/b")],
            0,
        );
        let mut seeds = vec![plain.clone()];
        for f in [compress::Format::Gzip, compress::Format::Zstd, compress::Format::Xz] {
            let mut early = plain.clone();
            early.extend(compress::compress(&plain, f).unwrap());
            seeds.push(early);
        }
        let mut rng = Rng::new(0xc910);
        let budget = std::time::Duration::from_millis(
            std::env::var("RDBREAK_FUZZ_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(1500),
        );
        let start = std::time::Instant::now();
        let mut runs = 0;
        while start.elapsed() < budget {
            let base = &seeds[rng.below(seeds.len())];
            let input = mutate(&mut rng, base, &seeds);
            let r = std::panic::catch_unwind(|| fuzz_one(&input));
            assert!(r.is_ok(), "read_image panicked on {:?}", input);
            runs += 1;
        }
        eprintln!("cpio reader: {runs} runs");
    }
}
