//! `rdbreak unpack`: extracts an initramfs safely — no path leaves the target directory (no
//! absolute names, no `..`, no writing through symlinks), device nodes only as root.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cpio::{self, Entry};

/// The path an archive name maps to under `root`, or None when it would escape.
pub fn safe_path(root: &Path, name: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    let mut depth = 0;
    for c in Path::new(name).components() {
        match c {
            Component::Normal(n) => {
                out.push(n);
                depth += 1;
            }
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (depth > 0).then_some(out)
}

/// Whether any existing component between `root` and `path` is a symlink (writing there would
/// follow it out of the tree).
fn through_symlink(root: &Path, path: &Path) -> bool {
    let mut p = root.to_path_buf();
    let Ok(rel) = path.strip_prefix(root) else { return true };
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        p.push(c);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
    }
    false
}

pub struct Report {
    pub written: usize,
    pub skipped: Vec<String>,
}

pub fn unpack(entries: &[Entry], root: &Path) -> Result<Report> {
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let is_root = rustix::process::geteuid().is_root();
    let mut report = Report { written: 0, skipped: Vec::new() };
    for e in entries {
        let Some(path) = safe_path(root, &e.name) else {
            report.skipped.push(format!("{}: leaves the target directory", e.name));
            continue;
        };
        if through_symlink(root, &path) {
            report.skipped.push(format!("{}: a parent directory is a symlink", e.name));
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
            std::fs::remove_file(&path)?;
        }
        let perm = std::fs::Permissions::from_mode(e.mode & 0o7777);
        match e.kind() {
            cpio::S_IFDIR => {
                std::fs::create_dir_all(&path)?;
                std::fs::set_permissions(&path, perm)?;
            }
            cpio::S_IFREG => {
                std::fs::write(&path, &e.data).with_context(|| format!("cannot write {}", path.display()))?;
                std::fs::set_permissions(&path, perm)?;
            }
            cpio::S_IFLNK => std::os::unix::fs::symlink(String::from_utf8_lossy(&e.data).as_ref(), &path)?,
            cpio::S_IFCHR | cpio::S_IFBLK if is_root => {
                let kind = if e.kind() == cpio::S_IFCHR {
                    rustix::fs::FileType::CharacterDevice
                } else {
                    rustix::fs::FileType::BlockDevice
                };
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &path,
                    kind,
                    rustix::fs::Mode::from_raw_mode(e.mode & 0o7777),
                    rustix::fs::makedev(e.rdev_major, e.rdev_minor),
                )
                .with_context(|| format!("cannot create device {}", path.display()))?;
            }
            _ => {
                report.skipped.push(format!("{}: device or special file (only created as root)", e.name));
                continue;
            }
        }
        report.written += 1;
    }
    if report.written == 0 && !entries.is_empty() {
        bail!("nothing could be extracted into {}", root.display());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        let r = Path::new("/t");
        assert_eq!(safe_path(r, "etc/passwd"), Some(PathBuf::from("/t/etc/passwd")));
        assert_eq!(safe_path(r, "/etc/passwd"), Some(PathBuf::from("/t/etc/passwd")));
        assert_eq!(safe_path(r, "./a/./b"), Some(PathBuf::from("/t/a/b")));
        assert_eq!(safe_path(r, "../x"), None);
        assert_eq!(safe_path(r, "a/../../x"), None);
        assert_eq!(safe_path(r, "."), None);
    }

    #[test]
    fn symlinks_are_not_followed_out() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let entries = vec![
            Entry::symlink("evil", &outside.path().display().to_string()),
            Entry::file("evil/pwned", 0o644, b"x".to_vec()),
            Entry::file("../escape", 0o644, b"x".to_vec()),
            Entry::file("ok/file", 0o640, b"fine".to_vec()),
            Entry::char_dev("dev/console", 0o600, 5, 1),
        ];
        let report = unpack(&entries, dir.path()).unwrap();
        assert!(!outside.path().join("pwned").exists());
        assert_eq!(std::fs::read(dir.path().join("ok/file")).unwrap(), b"fine");
        assert!(report.skipped.iter().any(|s| s.starts_with("evil/pwned")));
        assert!(report.skipped.iter().any(|s| s.starts_with("../escape")));
    }
}
