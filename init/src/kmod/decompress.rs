//! Module images compressed with xz, zstd or gzip: recognised by their magic, decompressed in
//! process for kernels that cannot do it themselves.

use std::io::Read;

use super::KmodError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
    Zstd,
    Gzip,
}

/// The compression of a module file, by its magic bytes.
pub fn compression_of(head: &[u8]) -> Compression {
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// Decompresses a module image in process (kernels without `CONFIG_MODULE_DECOMPRESS`).
pub fn decompress(data: &[u8], path: &str) -> Result<Vec<u8>, KmodError> {
    let err = |reason: String| KmodError::Decompress { path: path.to_string(), reason };
    let mut out = Vec::with_capacity(data.len() * 3);
    match compression_of(data) {
        Compression::None => return Ok(data.to_vec()),
        #[cfg(feature = "xz")]
        Compression::Xz => {
            lzma_rust2::XzReader::new(data, true).read_to_end(&mut out).map_err(|e| err(e.to_string()))?;
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            ruzstd::decoding::StreamingDecoder::new(data)
                .map_err(|e| err(e.to_string()))?
                .read_to_end(&mut out)
                .map_err(|e| err(e.to_string()))?;
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => {
            flate2::read::GzDecoder::new(data).read_to_end(&mut out).map_err(|e| err(e.to_string()))?;
        }
        #[allow(unreachable_patterns)]
        other => return Err(err(format!("{other:?} support was not built in"))),
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
}
