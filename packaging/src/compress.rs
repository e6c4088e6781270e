//! Compression of initramfs segments: detection by magic, decompression, and compression with the
//! settings the kernel's decoders accept (xz with CRC32 and a 1 MiB dictionary, as kbuild does).

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    None,
    Gzip,
    Zstd,
    Xz,
    Lzma,
    Lz4,
    Bzip2,
    Lzo,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Format::None => "none",
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Xz => "xz",
            Format::Lzma => "lzma",
            Format::Lz4 => "lz4",
            Format::Bzip2 => "bzip2",
            Format::Lzo => "lzo",
        };
        f.write_str(s)
    }
}

impl std::str::FromStr for Format {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Format> {
        Ok(match s {
            "none" | "cat" => Format::None,
            "gzip" | "gz" => Format::Gzip,
            "zstd" | "zst" => Format::Zstd,
            "xz" => Format::Xz,
            other => bail!("unknown compression {other:?}; rdbreak builds zstd, gzip, xz or none"),
        })
    }
}

/// The compression of data, by its magic number.
pub fn detect(d: &[u8]) -> Format {
    match d {
        [0x1f, 0x8b, ..] | [0x1f, 0x9e, ..] => Format::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Format::Zstd,
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Format::Xz,
        [0x5d, 0x00, 0x00, ..] => Format::Lzma,
        [0x02, 0x21, 0x4c, 0x18, ..] | [0x04, 0x22, 0x4d, 0x18, ..] => Format::Lz4,
        [b'B', b'Z', b'h', ..] => Format::Bzip2,
        [0x89, b'L', b'Z', b'O', ..] => Format::Lzo,
        _ => Format::None,
    }
}

/// Decompresses one segment. Returns the data and, when the decoder can tell, how many input
/// bytes it used (what follows may be another segment).
pub fn decompress(data: &[u8], format: Format) -> Result<(Vec<u8>, Option<usize>)> {
    let mut out = Vec::new();
    match format {
        Format::None => Ok((data.to_vec(), Some(data.len()))),
        Format::Gzip => {
            let mut dec = flate2::bufread::GzDecoder::new(data);
            dec.read_to_end(&mut out).context("gzip data is corrupt")?;
            let rest = dec.into_inner();
            Ok((out, Some(data.len() - rest.len())))
        }
        Format::Zstd => {
            // Several frames may follow each other (multi-threaded zstd writes them).
            let mut rest = data;
            while detect(rest) == Format::Zstd {
                let mut dec =
                    ruzstd::decoding::StreamingDecoder::new(&mut rest).map_err(|e| anyhow::anyhow!("zstd: {e}"))?;
                dec.read_to_end(&mut out).context("zstd data is corrupt")?;
            }
            Ok((out, Some(data.len() - rest.len())))
        }
        Format::Xz => {
            lzma_rust2::XzReader::new(data, true).read_to_end(&mut out).context("xz data is corrupt")?;
            Ok((out, None))
        }
        Format::Bzip2 => {
            let mut dec = bzip2::bufread::MultiBzDecoder::new(data);
            dec.read_to_end(&mut out).context("bzip2 data is corrupt")?;
            let rest = dec.into_inner();
            Ok((out, Some(data.len() - rest.len())))
        }
        Format::Lz4 if data.starts_with(&LZ4_LEGACY) => {
            let used = lz4_legacy(data, &mut out)?;
            Ok((out, Some(used)))
        }
        Format::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(data).read_to_end(&mut out).context("lz4 data is corrupt")?;
            Ok((out, None))
        }
        other => {
            bail!("{other} compression is not supported by rdbreak; unpack with the {other} tool and pipe to cpio")
        }
    }
}

const LZ4_LEGACY: [u8; 4] = [0x02, 0x21, 0x4c, 0x18];

/// The kernel's lz4 format (`lz4 -l`): the legacy magic, then blocks of at most 8 MiB, each a
/// little-endian compressed size and an lz4 block. Returns the bytes used.
fn lz4_legacy(data: &[u8], out: &mut Vec<u8>) -> Result<usize> {
    let mut pos = 4;
    let mut buf = vec![0u8; 8 << 20];
    while let Some(size) = data.get(pos..pos + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize) {
        if size == u32::from_le_bytes(LZ4_LEGACY) as usize {
            pos += 4; // a new stream concatenated to this one
            continue;
        }
        let Some(block) = data.get(pos + 4..pos + 4 + size) else { break };
        if size == 0 {
            break;
        }
        let n = lz4_flex::block::decompress_into(block, &mut buf).context("lz4 data is corrupt")?;
        out.extend_from_slice(&buf[..n]);
        pos += 4 + size;
    }
    Ok(pos.min(data.len()))
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
        Format::Zstd => ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest),
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
        assert_eq!(used, Some(a.len()));
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
        assert!("lz4".parse::<Format>().is_err());
    }
}
