//! cpio "newc" archives as the kernel reads them: a writer with a deterministic layout, and a
//! streaming reader of one archive (070701 and 070702, checksum verified) that holds one header
//! and one name at a time, whatever sizes the headers declare.

use std::io::Read;

use anyhow::{bail, Context, Result};

use crate::compress;
use crate::source::Source;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_IFSOCK: u32 = 0o140000;

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
    pub(crate) fn new(name: &str, mode: u32, data: Vec<u8>) -> Entry {
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

/// One entry as raw archive bytes, with a name that need not be UTF-8 and the entry's own
/// inode, times and owner (what hostile or foreign archives hold); `trailer` ends an archive.
#[cfg(test)]
pub(crate) fn raw(name: &[u8], e: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = e.clone();
    e.name.clear();
    header(&mut out, &e, e.ino, name.len() + 1);
    out.extend_from_slice(name);
    out.push(0);
    pad4(&mut out);
    out.extend_from_slice(&e.data);
    pad4(&mut out);
    out
}

#[cfg(test)]
pub(crate) fn trailer() -> Vec<u8> {
    raw(b"TRAILER!!!", &Entry::new("", 0, Vec::new()))
}

fn hex(field: &[u8], what: &str) -> Result<u32> {
    let s = std::str::from_utf8(field).ok().filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()));
    let s = s.with_context(|| format!("bad cpio header field {what}: {:?}", String::from_utf8_lossy(field)))?;
    u32::from_str_radix(s, 16).with_context(|| format!("bad cpio header field {what}: {s:?}"))
}

/// The longest name (with its NUL) or symlink target read: the kernel's PATH_MAX. The kernel
/// skips entries with longer names; so does the reader, without buffering them.
pub const PATH_MAX: usize = 4096;

/// One archive member as its header describes it; the data follows as a stream ([`Data`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Bytes, not text: a name need not be UTF-8 (up to the first NUL, as the kernel reads it).
    pub name: Vec<u8>,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub size: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    /// A regular file's checksum in the 070702 ("crc") format; None in 070701.
    pub check: Option<u32>,
    /// Which archive of the image holds the entry (inode numbers are per archive).
    pub archive: u32,
}

impl Header {
    pub fn kind(&self) -> u32 {
        self.mode & S_IFMT
    }
}

/// The data of one entry: exactly `size` bytes of the archive, read as a stream. In the 070702
/// format the last read fails if the bytes do not add up to the header's checksum.
pub struct Data<'s> {
    src: &'s mut dyn Read,
    left: u64,
    sum: u32,
    check: Option<u32>,
    /// The checksum error was already returned by `read`.
    told: bool,
    truncated: bool,
}

impl Data<'_> {
    pub fn len_left(&self) -> u64 {
        self.left
    }

    fn mismatch(&self) -> Option<String> {
        let want = self.check?;
        (self.left == 0 && self.sum != want)
            .then(|| format!("checksum mismatch: the header says {want:08x}, the data sums to {:08x}", self.sum))
    }

    /// Reads what the visitor left, so the archive goes on at the next header. Returns the
    /// checksum error if the visitor has not seen it.
    fn finish(&mut self) -> std::io::Result<Option<String>> {
        let told = self.told;
        let mut buf = [0u8; 8192];
        while self.left > 0 {
            match self.read(&mut buf) {
                Ok(_) => {}
                // The checksum, reported below.
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => break,
                Err(e) => return Err(e),
            }
        }
        Ok(if told { None } else { self.mismatch() })
    }
}

impl Read for Data<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.src.read(&mut buf[..want])?;
        if n == 0 && want > 0 {
            self.truncated = true;
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the archive ends inside the data"));
        }
        self.sum = buf[..n].iter().fold(self.sum, |s, &b| s.wrapping_add(u32::from(b)));
        self.left -= n as u64;
        if let Some(msg) = self.mismatch() {
            self.told = true;
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, msg));
        }
        Ok(n)
    }
}

/// What reads an image hears: entries, the entries that had to be skipped, segments.
pub trait Visitor {
    /// One entry and its data; what the visitor leaves unread is skipped. An error stops the
    /// whole reading: a visitor reports an entry it cannot handle and returns Ok.
    fn entry(&mut self, h: &Header, data: &mut Data<'_>) -> Result<()>;
    /// An entry the reader could not deliver, or whose checksum failed while skipped.
    fn bad(&mut self, name: &[u8], why: &str);
    /// A segment begins at `offset` of the image, stored in `format`.
    fn start(&mut self, _offset: u64, _format: compress::Format) {}
    /// A segment was read to its end.
    fn segment(&mut self, _s: &Segment) {}
}

/// One segment of an initramfs image: where it starts and how it was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub compression: compress::Format,
    pub entries: usize,
}

/// Reads one newc archive from `src` up to its trailer (its padding included), giving each
/// entry to `v`; returns how many there were. Memory: one header and one name at a time.
pub fn read_archive(src: &mut Source<'_>, archive: u32, v: &mut dyn Visitor) -> Result<usize> {
    let base = src.offset();
    let mut count = 0;
    loop {
        let at = src.offset() - base;
        let mut h = [0u8; 110];
        src.read_exact(&mut h).with_context(|| format!("truncated cpio header at offset {at}"))?;
        let check = match &h[..6] {
            b"070701" => false,
            b"070702" => true,
            _ => bail!("not a newc cpio header at offset {at}"),
        };
        const FIELDS: [&str; 13] = [
            "ino",
            "mode",
            "uid",
            "gid",
            "nlink",
            "mtime",
            "filesize",
            "devmajor",
            "devminor",
            "rdevmajor",
            "rdevminor",
            "namesize",
            "check",
        ];
        let mut f = [0u32; 13];
        for (i, what) in FIELDS.iter().enumerate() {
            f[i] = hex(&h[6 + i * 8..14 + i * 8], what).with_context(|| format!("in the header at offset {at}"))?;
        }
        let namesize = f[11] as usize;
        let pad = |src: &mut Source<'_>| {
            let off = src.offset() - base;
            src.skip(off.next_multiple_of(4) - off)
        };
        if namesize == 0 || namesize > PATH_MAX {
            let skipped = src.skip(namesize as u64)?;
            pad(src)?;
            let data = src.skip(f[6].into())?;
            if skipped < namesize as u64 || data < f[6].into() {
                bail!("truncated cpio entry at offset {at}");
            }
            pad(src)?;
            v.bad(b"", &format!("the entry at offset {at} has a name of {namesize} bytes (1 to {PATH_MAX} allowed)"));
            continue;
        }
        let mut name = vec![0u8; namesize];
        src.read_exact(&mut name).with_context(|| format!("truncated cpio name at offset {at}"))?;
        if let Some(nul) = name.iter().position(|&b| b == 0) {
            name.truncate(nul);
        }
        pad(src)?;
        if name == b"TRAILER!!!" {
            src.skip(f[6].into())?;
            pad(src)?;
            return Ok(count);
        }
        let header = Header {
            name,
            ino: f[0],
            mode: f[1],
            uid: f[2],
            gid: f[3],
            nlink: f[4],
            mtime: f[5],
            size: f[6],
            dev_major: f[7],
            dev_minor: f[8],
            rdev_major: f[9],
            rdev_minor: f[10],
            // Only a regular file's data is summed (GNU cpio writes 0 for the others, and the
            // kernel checks files only).
            check: (check && f[1] & S_IFMT == S_IFREG).then_some(f[12]),
            archive,
        };
        let mut data =
            Data { src: &mut *src, left: f[6].into(), sum: 0, check: header.check, told: false, truncated: false };
        let visited = v.entry(&header, &mut data);
        let unseen = if visited.is_ok() { data.finish() } else { Ok(None) };
        if data.truncated {
            bail!("truncated cpio data of {} at offset {at}", String::from_utf8_lossy(&header.name));
        }
        visited?;
        if let Some(why) = unseen? {
            v.bad(&header.name, &why);
        }
        pad(src)?;
        count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::initramfs::read_image;

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
