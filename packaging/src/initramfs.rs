//! A whole initramfs image as the kernel reads it, streamed: uncompressed early archives (what
//! dracut's `skipcpio` skips), zero padding, then compressed segments, each decoded on the fly
//! and never held whole. Memory stays a few MiB plus the decoder's window, which
//! [`compress::MAX_WINDOW`] caps, whatever the image declares.

use std::io::Read;

use anyhow::{bail, Context, Result};

use crate::compress::{self, Format};
use crate::cpio::{self, Segment, Visitor};
use crate::source::Source;

/// The longest run of zero bytes taken for padding. Real images pad to 4 or 512 bytes; a
/// longer run is not an initramfs (`rdbreak ls /dev/zero` must end).
pub const MAX_ZEROS: u64 = 16 << 20;

/// Skips zero padding; errs when it goes on past [`MAX_ZEROS`].
fn skip_zeros(src: &mut Source<'_>) -> Result<()> {
    let start = src.offset();
    loop {
        let buf = src.peek(4096)?;
        let zeros = buf.iter().take_while(|&&b| b == 0).count();
        let done = zeros < buf.len() || buf.is_empty();
        src.skip(zeros as u64)?;
        if src.offset() - start > MAX_ZEROS {
            bail!("more than {} MiB of zero bytes at offset {start}: not an initramfs", MAX_ZEROS >> 20);
        }
        if done {
            return Ok(());
        }
    }
}

/// Reads every archive of an image from `input`, giving each entry to `v`. An input with no
/// archive at all (an empty file, zeros, anything else) is an error.
pub fn read(input: impl Read, v: &mut dyn Visitor) -> Result<()> {
    let mut src = Source::new(input);
    let mut archive = 0u32;
    loop {
        skip_zeros(&mut src)?;
        let offset = src.offset();
        let head = src.peek(6)?;
        if head.is_empty() {
            break;
        }
        if head.starts_with(b"07070") {
            v.start(offset, Format::None);
            let entries = cpio::read_archive(&mut src, archive, v)
                .with_context(|| format!("in the cpio archive at offset {offset}"))?;
            archive += 1;
            v.segment(&Segment { offset, compression: Format::None, entries });
            continue;
        }
        let format = compress::detect(head);
        if format == Format::None {
            if archive == 0 && offset == 0 {
                bail!("it starts with neither a cpio header nor a known compression");
            }
            bail!("unknown data at offset {offset} (neither cpio nor a known compression)");
        }
        let first = archive;
        v.start(offset, format);
        let dec = compress::decoder(&mut src, format)
            .with_context(|| format!("decompressing the {format} segment at offset {offset}"))?;
        let mut inner = Source::new(Guard(dec));
        let read = archives_only(&mut inner, &mut archive, v);
        let decoded = inner.offset();
        drop(inner);
        let entries = match read {
            Err(e) if decode_error(&e).is_some() => {
                let why = decode_error(&e).map(|d| d.0.as_str()).unwrap_or_default();
                bail!(
                    "the {format} data at offset {offset} is {why} (stopped at byte {} of the image, {decoded} bytes decompressed)",
                    src.offset()
                )
            }
            r => r.with_context(|| format!("in the {format} segment at offset {offset}"))?,
        };
        if archive == first {
            bail!("the {format} segment at offset {offset} holds no cpio archive");
        }
        v.segment(&Segment { offset, compression: format, entries });
    }
    if archive == 0 {
        bail!(if src.offset() == 0 { "it is empty" } else { "it holds only zero bytes" });
    }
    Ok(())
}

/// What a decoder said, in a few words ("truncated", "corrupt: …"): the decoders' own texts
/// can be long and repeated (ruzstd prints its error chain twice).
#[derive(Debug)]
struct DecodeError(String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A decoder whose errors are marked as the stream's, so that they are told apart from the
/// archive's and said in one line.
struct Guard<R>(R);

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let text = e.to_string();
            let eof = e.kind() == std::io::ErrorKind::UnexpectedEof
                || ["fill whole buffer", "UnexpectedEof", "incomplete", "unexpected end"]
                    .iter()
                    .any(|w| text.contains(w));
            let why = if eof {
                "truncated".to_string()
            } else {
                let first = text.split(": ").next().unwrap_or_default();
                format!("corrupt: {}", first.chars().take(80).collect::<String>())
            };
            std::io::Error::new(e.kind(), DecodeError(why))
        })
    }
}

fn decode_error(e: &anyhow::Error) -> Option<&DecodeError> {
    e.chain().find_map(|c| {
        c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|i| i.downcast_ref::<DecodeError>())
    })
}

/// The inside of a compressed segment: cpio archives and zero padding only, as the kernel reads
/// it ("junk within compressed archive" otherwise). Never decompressed again: a segment that
/// held another compressed stream would let a few bytes expand without bound.
fn archives_only(src: &mut Source<'_>, archive: &mut u32, v: &mut dyn Visitor) -> Result<usize> {
    let mut entries = 0;
    loop {
        skip_zeros(src)?;
        let offset = src.offset();
        let head = src.peek(6)?;
        if head.is_empty() {
            return Ok(entries);
        }
        if !head.starts_with(b"07070") {
            bail!("junk at offset {offset} after decompressing (not a cpio archive)");
        }
        entries += cpio::read_archive(src, *archive, v)
            .with_context(|| format!("in the cpio archive at offset {offset} of the decompressed data"))?;
        *archive += 1;
    }
}

/// Collects a whole small image in memory (tests, and images rdbreak itself just built).
#[cfg(test)]
pub fn read_image(data: &[u8]) -> Result<(Vec<cpio::Entry>, Vec<Segment>)> {
    use cpio::{Data, Entry, Header};
    struct Collect(Vec<Entry>, Vec<Segment>, Vec<String>);
    impl Visitor for Collect {
        fn entry(&mut self, h: &Header, data: &mut Data<'_>) -> Result<()> {
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes)?;
            self.0.push(Entry {
                name: String::from_utf8_lossy(&h.name).to_string(),
                mode: h.mode,
                uid: h.uid,
                gid: h.gid,
                nlink: h.nlink,
                mtime: h.mtime,
                data: bytes,
                rdev_major: h.rdev_major,
                rdev_minor: h.rdev_minor,
                ino: h.ino,
            });
            Ok(())
        }
        fn bad(&mut self, name: &[u8], why: &str) {
            self.2.push(format!("{}: {why}", String::from_utf8_lossy(name)));
        }
        fn segment(&mut self, s: &Segment) {
            self.1.push(s.clone());
        }
    }
    let mut c = Collect(Vec::new(), Vec::new(), Vec::new());
    read(data, &mut c)?;
    if !c.2.is_empty() {
        bail!("bad entries: {}", c.2.join("; "));
    }
    Ok((c.0, c.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::tests::pipe_through;
    use crate::cpio::{raw, trailer, write, Entry};

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// Every format, as its tool writes it, between an early archive and a late one: the
    /// decoders that know where their stream ends leave the rest to the reader.
    #[test]
    fn segments_of_every_format_are_followed_by_the_next() {
        let early = write(&[Entry::file("early", 0o644, b"microcode".to_vec())], 0);
        let main = write(&[Entry::dir("usr", 0o755), Entry::file("usr/init", 0o755, b"#!".repeat(5000))], 0);
        let late = write(&[Entry::file("late", 0o644, b"appended".to_vec())], 0);
        for (tool, args) in [
            ("gzip", &["-c"][..]),
            ("zstd", &["-c", "-q"]),
            ("xz", &["-c", "--check=crc32"]),
            ("bzip2", &["-c"]),
            ("lz4", &["-l", "-c", "-q"]),
        ] {
            let Some(packed) = pipe_through(tool, args, &main) else { continue };
            let mut image = early.clone();
            image.extend(packed.stdout);
            image.extend([0; 4]);
            image.extend(&late);
            let (entries, segments) = read_image(&image).unwrap_or_else(|e| panic!("{tool}: {e:#}"));
            assert_eq!(names(&entries), ["early", "usr", "usr/init", "late"], "{tool}");
            assert_eq!(segments.len(), 3, "{tool}");
            assert_eq!(entries[2].data, b"#!".repeat(5000), "{tool}");
        }
    }

    /// pzstd and `zstd -T` write several frames: they make one stream, even across an entry.
    #[test]
    fn consecutive_zstd_frames_are_one_segment() {
        let plain = write(&[Entry::file("a", 0o644, vec![7; 10_000]), Entry::file("b", 0o644, b"b".to_vec())], 0);
        let (one, two) = plain.split_at(5000);
        let mut image = compress::compress(one, Format::Zstd).unwrap();
        image.extend(compress::compress(two, Format::Zstd).unwrap());
        let (entries, segments) = read_image(&image).unwrap();
        assert_eq!((names(&entries), segments.len()), (vec!["a", "b"], 1));
    }

    /// Declared sizes are read as a stream, never allocated: 4 GiB of data or of name in a few
    /// bytes are a truncated archive, a name longer than PATH_MAX is a skipped entry.
    #[test]
    fn declared_sizes_cost_nothing() {
        let mut huge = raw(b"big", &Entry::file("", 0o644, b"only this".to_vec()));
        huge[54..62].copy_from_slice(b"FFFFFFFF");
        let err = format!("{:#}", read_image(&huge).unwrap_err());
        assert!(err.contains("truncated cpio data of big"), "{err}");
        let mut name = raw(b"n", &Entry::file("", 0o644, Vec::new()));
        name[94..102].copy_from_slice(b"FFFFFFFF");
        let err = format!("{:#}", read_image(&name).unwrap_err());
        assert!(err.contains("truncated cpio entry"), "{err}");
        let mut long = raw(&[b'x'; 5000], &Entry::file("", 0o644, b"data".to_vec()));
        long.extend(raw(b"after", &Entry::file("", 0o644, b"ok".to_vec())));
        long.extend(trailer());
        let err = format!("{:#}", read_image(&long).unwrap_err());
        assert!(err.contains("a name of 5001 bytes (1 to 4096 allowed)"), "{err}");
        struct Names(Vec<Vec<u8>>);
        impl Visitor for Names {
            fn entry(&mut self, h: &cpio::Header, _: &mut cpio::Data<'_>) -> Result<()> {
                self.0.push(h.name.clone());
                Ok(())
            }
            fn bad(&mut self, _: &[u8], _: &str) {}
        }
        let mut n = Names(Vec::new());
        read(&long[..], &mut n).unwrap();
        assert_eq!(n.0, [b"after".to_vec()], "the entry after the skipped one is read");
    }
}
