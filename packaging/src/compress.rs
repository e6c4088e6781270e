//! Compression of initramfs segments: detection by magic, decompression, and compression with the
//! settings the kernel's decoders accept (xz with CRC32 and a 1 MiB dictionary, as kbuild does).

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};

use crate::source::Source;

pub use rdbreak_init::format::Compression as Format;

/// The compressions `rdbreak build --compress` writes.
pub fn parse_format(s: &str) -> Result<Format> {
    Ok(match s {
        "none" | "cat" => Format::None,
        "gzip" | "gz" => Format::Gzip,
        "zstd" | "zst" => Format::Zstd,
        "xz" => Format::Xz,
        other => bail!("unknown compression {other:?}; rdbreak builds zstd, gzip, xz or none"),
    })
}

/// The compression of data, by its magic number.
pub fn detect(d: &[u8]) -> Format {
    rdbreak_init::format::compression(d)
}

/// The largest decoder window (zstd) or dictionary (xz, lzma) accepted, 8 MiB: what `xz -6`
/// (initramfs-tools, mkinitcpio) and `zstd -19` use, and far above dracut's 1 MiB. The
/// decoders keep that much history, so it bounds the memory any stream can make us use.
pub const MAX_WINDOW: u32 = 8 << 20;

/// The streaming decoder for one segment that starts at the front of `src`. Decoders that can
/// tell where their stream ends leave what follows in `src` (padding, another segment); the
/// others (lz4 frames, lzma) read to the end of the input. Consecutive zstd frames, xz or bzip2
/// streams make one segment, as their tools write them (pzstd, multi-stream bzip2).
pub fn decoder<'s, 'a>(src: &'s mut Source<'a>, format: Format) -> Result<Box<dyn Read + 's>> {
    Ok(match format {
        Format::Gzip | Format::Zstd | Format::Xz | Format::Bzip2 => {
            let first = stream(src, format)?;
            Box::new(Streams { format, current: Some(first), chained: format != Format::Gzip })
        }
        Format::Lzma => {
            let dict = src.peek(5)?.get(1..5).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            let dict = dict.context("a truncated lzma header")?;
            if dict > MAX_WINDOW {
                bail!(window_error(&format!("the lzma stream declares a dictionary of {dict} bytes")));
            }
            Box::new(lzma_rust2::LzmaReader::new_mem_limit(src, MEM_LIMIT_KIB, None)?)
        }
        Format::Lz4 if src.peek(4)? == crate::lz4::MAGIC => Box::new(crate::lz4::Legacy::new(src)),
        Format::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(src)),
        other => {
            bail!("{other} compression is not supported by rdbreak; unpack with the {other} tool and pipe to cpio")
        }
    })
}

/// The xz/lzma decoders' memory limit: the largest dictionary and their own buffers.
const MEM_LIMIT_KIB: u32 = (MAX_WINDOW >> 10) + 1024;

fn window_error(what: &str) -> String {
    format!("{what}; rdbreak reads at most {} MiB (decompress the image with its tool first)", MAX_WINDOW >> 20)
}

/// A decoder of one stream that gives its input back when done.
trait Stream<'s, 'a>: Read {
    fn into_source(self: Box<Self>) -> &'s mut Source<'a>;
}

impl<'s, 'a> Stream<'s, 'a> for flate2::bufread::GzDecoder<&'s mut Source<'a>> {
    fn into_source(self: Box<Self>) -> &'s mut Source<'a> {
        self.into_inner()
    }
}
impl<'s, 'a> Stream<'s, 'a> for bzip2::bufread::BzDecoder<&'s mut Source<'a>> {
    fn into_source(self: Box<Self>) -> &'s mut Source<'a> {
        self.into_inner()
    }
}
impl<'s, 'a> Stream<'s, 'a> for lzma_rust2::XzReader<&'s mut Source<'a>> {
    fn into_source(self: Box<Self>) -> &'s mut Source<'a> {
        self.into_inner()
    }
}
impl<'s, 'a> Stream<'s, 'a> for ruzstd::decoding::StreamingDecoder<&'s mut Source<'a>, ruzstd::decoding::FrameDecoder> {
    fn into_source(self: Box<Self>) -> &'s mut Source<'a> {
        self.into_inner()
    }
}

fn stream<'s, 'a>(src: &'s mut Source<'a>, format: Format) -> Result<Box<dyn Stream<'s, 'a> + 's>> {
    Ok(match format {
        Format::Gzip => Box::new(flate2::bufread::GzDecoder::new(src)),
        Format::Bzip2 => Box::new(bzip2::bufread::BzDecoder::new(src)),
        // One stream: what follows is the caller's.
        Format::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(src, false, MEM_LIMIT_KIB)),
        _ => {
            let window = zstd_window(src.peek(14)?).context("a truncated zstd frame header")?;
            if window > u64::from(MAX_WINDOW) {
                bail!(window_error(&format!("the zstd frame declares a window of {window} bytes")));
            }
            let dec = ruzstd::decoding::StreamingDecoder::new_with_max_window_size(src, MAX_WINDOW.into())
                .map_err(|e| anyhow::anyhow!("zstd: {e}"))?;
            Box::new(dec)
        }
    })
}

/// One stream, then (when `chained`) the next ones of the same format right after it.
struct Streams<'s, 'a: 's> {
    format: Format,
    current: Option<Box<dyn Stream<'s, 'a> + 's>>,
    chained: bool,
}

impl<'s, 'a: 's> Read for Streams<'s, 'a> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(dec) = self.current.as_mut() else { return Ok(0) };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let src = self.current.take().map(|d| d.into_source());
            let Some(src) = src.filter(|_| self.chained) else { return Ok(0) };
            if detect(src.peek(6)?) != self.format {
                return Ok(0);
            }
            self.current = Some(stream(src, self.format).map_err(|e| io_error(format!("{e:#}")))?);
        }
    }
}

/// The window a zstd frame header declares (RFC 8878 3.1.1.1): the window descriptor, or the
/// content size of a single-segment frame. None when the header is cut short.
fn zstd_window(h: &[u8]) -> Option<u64> {
    let fhd = *h.get(4)?;
    let single = fhd & 0x20 != 0;
    if !single {
        let wd = *h.get(5)?;
        let base = 1u64 << (10 + (wd >> 3));
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    let dict_len = [0, 1, 2, 4][usize::from(fhd & 3)];
    let fcs_len = [1, 2, 4, 8][usize::from(fhd >> 6)];
    let at = 5 + dict_len;
    let b = h.get(at..at + fcs_len)?;
    let mut v = b.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
    if fcs_len == 2 {
        v += 256;
    }
    Some(v)
}

fn io_error(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

/// Compresses a whole image segment, deterministically (no names or times in headers).
pub fn compress(data: &[u8], format: Format) -> Result<Vec<u8>> {
    Ok(match format {
        Format::None => data.to_vec(),
        Format::Gzip => {
            let mut enc = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
            enc.write_all(data)?;
            enc.finish()?
        }
        // As small as `zstd -3` or smaller (ruzstd's own matcher made images 60% larger).
        Format::Zstd => crate::zstd_match::compress(data),
        Format::Xz => {
            let mut opts = lzma_rust2::XzOptions::with_preset(6);
            opts.set_check_sum_type(lzma_rust2::CheckType::Crc32);
            opts.lzma_options.dict_size = 1 << 20;
            let mut w = lzma_rust2::XzWriter::new(Vec::new(), opts)?;
            w.write_all(data)?;
            w.finish()?
        }
        other => bail!("rdbreak does not write {other}"),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decompresses one segment whole (small test data): the data and the input bytes used.
    pub fn decompress(data: &[u8], format: Format) -> Result<(Vec<u8>, usize)> {
        if format == Format::None {
            return Ok((data.to_vec(), data.len()));
        }
        let mut src = Source::new(data);
        let mut out = Vec::new();
        decoder(&mut src, format)?.read_to_end(&mut out)?;
        Ok((out, src.offset() as usize))
    }

    /// Runs a system tool with `input` on its stdin (written from a thread, so a full pipe
    /// cannot stall it); None, with a note, when the tool is not installed.
    pub fn pipe_through(tool: &str, args: &[&str], input: &[u8]) -> Option<std::process::Output> {
        let Ok(mut child) = std::process::Command::new(tool)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("skipping: {tool} is not installed");
            return None;
        };
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        Some(out)
    }

    /// Decodes standard base64 (how libFuzzer prints its findings).
    pub fn base64(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        let bits: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(val).collect();
        bits.chunks(4)
            .flat_map(|q| {
                let n = q.iter().enumerate().fold(0u32, |acc, (i, &v)| acc | u32::from(v) << (18 - 6 * i));
                let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
                bytes.into_iter().take(q.len() - 1)
            })
            .collect()
    }

    #[test]
    fn round_trips_and_detection() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 97).to_le_bytes()).collect();
        for f in [Format::Gzip, Format::Zstd, Format::Xz, Format::None] {
            let c = compress(&data, f).unwrap();
            if f != Format::None {
                assert_eq!(detect(&c), f);
                assert!(c.len() < data.len() / 2, "{f} compresses");
            }
            assert_eq!(decompress(&c, f).unwrap().0, data, "{f}");
        }
    }

    #[test]
    fn the_system_tools_decode_what_we_write() {
        let data = b"rdbreak initramfs segment\n".repeat(1000);
        for (f, tool) in [(Format::Gzip, "gzip"), (Format::Zstd, "zstd"), (Format::Xz, "xz")] {
            let c = compress(&data, f).unwrap();
            let Some(out) = pipe_through(tool, &["-d", "-c"], &c) else { continue };
            assert!(out.status.success(), "{tool} -d");
            assert_eq!(out.stdout, data, "{tool}");
        }
    }

    #[test]
    fn consumed_length_lets_segments_follow() {
        let a = compress(b"first", Format::Gzip).unwrap();
        let mut both = a.clone();
        both.extend(compress(b"second", Format::Zstd).unwrap());
        let (out, used) = decompress(&both, Format::Gzip).unwrap();
        assert_eq!(out, b"first");
        assert_eq!(used, a.len());
        assert_eq!(detect(&both[a.len()..]), Format::Zstd);
    }

    #[test]
    fn lz4_and_bzip2_as_the_system_tools_write_them() {
        let data = b"an initramfs written by lz4 -l or bzip2\n".repeat(5000);
        for (tool, args, format) in [
            ("lz4", &["-l", "-c", "-q"][..], Format::Lz4),
            ("lz4", &["-c", "-q"][..], Format::Lz4),
            ("bzip2", &["-c"][..], Format::Bzip2),
        ] {
            let Some(out) = pipe_through(tool, args, &data) else { continue };
            let packed = out.stdout;
            assert_eq!(detect(&packed), format, "{tool} {args:?}");
            assert_eq!(decompress(&packed, format).unwrap().0, data, "{tool} {args:?}");
        }
    }

    #[test]
    fn unsupported_and_corrupt() {
        let bad_lz4 = [0x02, 0x21, 0x4c, 0x18, 9, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(decompress(&bad_lz4, Format::Lz4).is_err());
        assert!(decompress(&[0x89, b'L', b'Z', b'O', 0], Format::Lzo).is_err());
        assert!(decompress(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], Format::Gzip).is_err());
        assert!(parse_format("lz4").is_err());
    }

    /// Windows and dictionaries are checked against [`MAX_WINDOW`] from the headers, before a
    /// decoder is made: a 16 MiB window would let a small stream use 16 MiB.
    #[test]
    fn large_windows_are_refused_before_decoding() {
        let zstd = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 14 << 3, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(zstd_window(&zstd), Some(16 << 20));
        let lzma = [0x5d, 0, 0, 0, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0];
        assert_eq!(detect(&lzma), Format::Lzma);
        // xz: a stream header (CRC32 check), then a block header whose LZMA2 filter asks for a
        // 16 MiB dictionary (property 24).
        let crc = |b: &[u8]| {
            let mut c = flate2::Crc::new();
            c.update(b);
            c.sum().to_le_bytes()
        };
        let mut xz = vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 1];
        xz.extend(crc(&[0, 1]));
        let block = [2u8, 0, 0x21, 1, 24, 0, 0, 0];
        xz.extend(block);
        xz.extend(crc(&block));
        xz.extend([0; 16]);
        for (data, format, what) in [
            (&zstd[..], Format::Zstd, "window of 16777216"),
            (&lzma, Format::Lzma, "dictionary of 16777216"),
            (&xz, Format::Xz, "memory"),
        ] {
            let err = format!("{:#}", decompress(data, format).unwrap_err());
            assert!(err.contains(what), "{format}: {err}");
        }
        // The same headers asking for 8 MiB pass the check (and fail later, on the missing data).
        let mut ok = zstd;
        ok[5] = 13 << 3;
        assert!(!format!("{:#}", decompress(&ok, Format::Zstd).unwrap_err()).contains("window of"));
    }
}
