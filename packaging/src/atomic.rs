//! Replacing a file whole: the new bytes go to a temporary file beside it, are flushed to disk,
//! and only then renamed over it. A full disk or a crash leaves the old file as it was (an
//! initramfs in /boot that a failed rebuild destroyed would leave the machine unbootable).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes `bytes` to `path` atomically. A symlink at `path` (Debian's /boot/initrd.img) is
/// followed, so the file it names is replaced and the link stays; the file keeps its mode, and a
/// new file is made 0600 (an image may hold a key file).
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = target.file_name().with_context(|| format!("{} names no file", path.display()))?;
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mode = std::fs::metadata(&target).ok().map(|m| m.permissions().mode() & 0o7777);
    let mut n = 0;
    let (tmp, mut file) = loop {
        let tmp: PathBuf = dir.join(format!(".{}.rdbreak-{}-{n}", name.to_string_lossy(), std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(e).with_context(|| format!("cannot create a temporary file in {}", dir.display())),
        }
    };
    let written = (|| -> std::io::Result<()> {
        file.write_all(bytes)?;
        // A new image is for root only, as dracut writes it: it may hold a LUKS key file. A
        // replaced one keeps its mode (someone chose it).
        let private = 0o600;
        file.set_permissions(std::fs::Permissions::from_mode(mode.unwrap_or(private)))?;
        file.sync_all()?;
        std::fs::rename(&tmp, &target)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {} (left as it was)", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_keeps_mode_and_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("initrd.img-1");
        std::fs::write(&real, b"old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("initrd.img");
        std::os::unix::fs::symlink("initrd.img-1", &link).unwrap();
        write(&link, b"new image").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays");
        assert_eq!(std::fs::read(&real).unwrap(), b"new image");
        assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o7777, 0o600);
        let fresh = dir.path().join("fresh.img");
        write(&fresh, b"x").unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o7777, 0o600, "a new image is private");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 3, "no temporary file left: {left:?}");
    }
}
