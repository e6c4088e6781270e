//! Module images compressed with xz, zstd or gzip: recognised by their magic, decompressed in
//! process for kernels that cannot do it themselves.

use std::io::Read;

use super::KmodError;

/// The largest module image held here, compressed or not: 13 times Debian 6.1's largest module
/// (amdgpu, 18.6 MiB). A larger one is corrupt or a decompression bomb, refused before it fills
/// PID 1's memory.
pub const MAX_MODULE: usize = 256 << 20;
/// The largest zstd window accepted, libzstd's own default limit (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`,
/// 2^27): the decoder allocates the window a frame declares. Debian's modules use 2 MiB.
#[cfg(feature = "zstd")]
const MAX_ZSTD_WINDOW: u64 = 128 << 20;
/// The most memory the xz decoder may plan for, in KiB: a dictionary no larger than the largest
/// module. Debian's modules use a 1 MiB dictionary.
#[cfg(feature = "xz")]
#[allow(clippy::cast_possible_truncation, reason = "MAX_MODULE >> 10 is a few ten thousand KiB")]
const MAX_XZ_MEMORY_KIB: u32 = (MAX_MODULE >> 10) as u32 + 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
    Zstd,
    Gzip,
}

/// The compression of a module file, by its magic bytes; the kernel's module loader knows
/// only these three.
pub fn compression_of(head: &[u8]) -> Compression {
    match crate::format::compression(head) {
        crate::format::Compression::Xz => Compression::Xz,
        crate::format::Compression::Zstd => Compression::Zstd,
        crate::format::Compression::Gzip => Compression::Gzip,
        _ => Compression::None,
    }
}

/// Decompresses a module image in process (kernels without `CONFIG_MODULE_DECOMPRESS`), at most
/// [`MAX_MODULE`] bytes of it.
pub fn decompress(data: &[u8], path: &str) -> Result<Vec<u8>, KmodError> {
    decompress_capped(data, path, MAX_MODULE)
}

fn decompress_capped(data: &[u8], path: &str, cap: usize) -> Result<Vec<u8>, KmodError> {
    let err = |reason: String| KmodError::Decompress { path: path.to_string(), reason };
    let mut out = Vec::new();
    // A guess from what was read, never from a size the stream declares.
    out.try_reserve(data.len().saturating_mul(3).min(cap)).map_err(|e| err(e.to_string()))?;
    let limit = cap as u64 + 1;
    match compression_of(data) {
        Compression::None => return Ok(data.to_vec()),
        #[cfg(feature = "xz")]
        Compression::Xz => {
            lzma_rust2::XzReader::new_mem_limit(data, true, MAX_XZ_MEMORY_KIB)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| err(e.to_string()))?;
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            ruzstd::decoding::StreamingDecoder::new_with_max_window_size(data, MAX_ZSTD_WINDOW)
                .map_err(|e| err(e.to_string()))?
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| err(e.to_string()))?;
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => {
            flate2::read::GzDecoder::new(data).take(limit).read_to_end(&mut out).map_err(|e| err(e.to_string()))?;
        }
        #[allow(unreachable_patterns)]
        other => return Err(err(format!("{other:?} support was not built in"))),
    }
    if out.len() > cap {
        return Err(KmodError::TooLarge {
            path: path.to_string(),
            what: "the module once decompressed",
            cap_mib: cap >> 20,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_modules_round_trip() {
        let original: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("m.ko");
        std::fs::write(&raw, &original).unwrap();
        for (tool, args, ext) in [
            ("xz", &["-k", "--check=crc32"][..], "xz"),
            ("zstd", &["-q", "-k"][..], "zst"),
            ("gzip", &["-k"][..], "gz"),
        ] {
            let status = std::process::Command::new(tool).args(args).arg(&raw).status();
            let Ok(status) = status else { continue };
            assert!(status.success());
            let packed = std::fs::read(dir.path().join(format!("m.ko.{ext}"))).unwrap();
            assert_ne!(compression_of(&packed), Compression::None);
            assert_eq!(decompress(&packed, ext).unwrap(), original, "{tool}");
        }
    }

    #[test]
    fn corrupt_compressed_module_is_an_error() {
        let mut data = vec![0x28, 0xb5, 0x2f, 0xfd];
        data.extend_from_slice(&[0xff; 64]);
        assert!(decompress(&data, "bad.ko.zst").is_err());
        let mut data = vec![0xfd, b'7', b'z', b'X', b'Z', 0];
        data.extend_from_slice(&[0x00; 64]);
        assert!(decompress(&data, "bad.ko.xz").is_err());
    }

    /// Compresses with the real tool (xz, zstd, gzip), as the kernel's `modules_install` does.
    fn packed(tool: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new(tool).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(out.status.success(), "{tool}");
        out.stdout
    }

    /// A small file that decompresses past the cap is refused, naming the module; one exactly
    /// at the cap is not.
    #[test]
    fn a_decompression_bomb_is_refused_at_the_cap() {
        const CAP: usize = 1 << 20;
        for (tool, args) in [("xz", &["-c", "--check=crc32"][..]), ("zstd", &["-c", "-q"]), ("gzip", &["-c"])] {
            let bomb = packed(tool, args, &vec![0; 4 * CAP]);
            assert!(bomb.len() < CAP / 64, "{tool}: {}", bomb.len());
            let err = decompress_capped(&bomb, "/lib/modules/x/bomb.ko", CAP).unwrap_err().to_string();
            assert_eq!(
                err,
                "/lib/modules/x/bomb.ko: the module once decompressed is larger than 1 MiB, far more than any real one: refused as corrupt or hostile",
                "{tool}"
            );
            let full = packed(tool, args, &vec![7; CAP]);
            assert_eq!(decompress_capped(&full, "full.ko", CAP).unwrap(), vec![7; CAP], "{tool}");
        }
        assert_eq!(MAX_MODULE, 256 << 20);
    }
}
