//! `rdbreak unpack`: extracts an initramfs as a stream, safely even against someone changing the
//! target while it runs: every entry is made relative to a directory handle walked from the
//! target without following symlinks ([`beneath`]), so no path leaves the tree (no absolute
//! names, no `..`, no writing through a symlink, whenever it appears). Names stay bytes; device
//! nodes only as root. A bad entry is reported with its path and the extraction goes on.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, Result};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::beneath::{self, Meta};
use crate::cpio::{self, Data, Header, Visitor};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub written: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// How an entry that is not extracted as asked is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A bad entry, or one that could not be made: the run ends with an error.
    Failed,
    /// Left out on purpose (a device node when not root).
    Skipped,
}

struct Unpacker<'r> {
    root: OwnedFd,
    owner: bool,
    /// The last parent directory opened, by path: archives list a directory's files together.
    parent: Option<(Vec<u8>, Rc<OwnedFd>)>,
    summary: Summary,
    report: &'r mut dyn FnMut(Level, &[u8], &str),
}

impl Unpacker<'_> {
    fn dir(&mut self, dirs: &[&[u8]]) -> Result<Rc<OwnedFd>, String> {
        let key = dirs.join(&b'/');
        if let Some((k, fd)) = &self.parent {
            if *k == key {
                return Ok(fd.clone());
            }
        }
        let fd = Rc::new(beneath::open_dir(self.root.as_fd(), dirs, true)?);
        self.parent = Some((key, fd.clone()));
        Ok(fd)
    }

    fn place(&mut self, h: &Header, comps: &[&[u8]], data: &mut Data<'_>) -> Result<bool, String> {
        let Some((leaf, dirs)) = comps.split_last() else { return Err("empty name".into()) };
        let leaf: &[u8] = leaf;
        let dir = self.dir(dirs)?;
        let meta = Meta { mode: h.mode };
        match h.kind() {
            cpio::S_IFDIR => {
                match rfs::mkdirat(&*dir, leaf, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let st = rfs::statat(&*dir, leaf, AtFlags::SYMLINK_NOFOLLOW);
                        if !st.is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory) {
                            beneath::clear(&dir, leaf)?;
                            rfs::mkdirat(&*dir, leaf, Mode::from_raw_mode(0o700))
                                .map_err(|e| format!("cannot create it: {e}"))?;
                        }
                    }
                    Err(e) => return Err(format!("cannot create it: {e}")),
                }
                let (fd, _) = beneath::open_node(dir.as_fd(), leaf, FileType::Directory)?;
                meta.apply_path_fd(&fd)?;
            }
            cpio::S_IFREG => {
                let mut file = beneath::new_file(&dir, leaf)?;
                if let Err(e) = std::io::copy(data, &mut file) {
                    let _ = rfs::unlinkat(&*dir, leaf, AtFlags::empty());
                    return Err(format!("{e}; not extracted"));
                }
                meta.apply_fd(file.as_fd())?;
            }
            cpio::S_IFLNK => {
                let mut target = Vec::new();
                data.take(cpio::PATH_MAX as u64 + 1).read_to_end(&mut target).map_err(|e| e.to_string())?;
                if target.len() > cpio::PATH_MAX {
                    return Err(format!("symlink target longer than {} bytes", cpio::PATH_MAX));
                }
                beneath::create(&dir, leaf, || rfs::symlinkat(&target, &*dir, leaf))?;
            }
            cpio::S_IFCHR | cpio::S_IFBLK if !self.owner => {
                (self.report)(Level::Skipped, &h.name, "device node: made only as root");
                return Ok(false);
            }
            cpio::S_IFCHR | cpio::S_IFBLK | cpio::S_IFIFO | cpio::S_IFSOCK => {
                let ft = FileType::from_raw_mode(h.mode);
                let dev = rfs::makedev(h.rdev_major, h.rdev_minor);
                let mode = Mode::from_raw_mode(h.mode & 0o7777);
                beneath::create(&dir, leaf, || rfs::mknodat(&*dir, leaf, ft, mode, dev))?;
            }
            other => return Err(format!("unknown file type {other:o}")),
        }
        Ok(true)
    }
}

impl Visitor for Unpacker<'_> {
    fn entry(&mut self, h: &Header, data: &mut Data<'_>) -> Result<()> {
        let outcome = match beneath::components(&h.name) {
            None => Err("leaves the target directory (`..`); skipped".to_string()),
            Some(c) if c.is_empty() => Err("names the target directory itself; skipped".to_string()),
            Some(c) => self.place(h, &c, data),
        };
        match outcome {
            Ok(true) => self.summary.written += 1,
            Ok(false) => self.summary.skipped += 1,
            Err(why) => {
                self.summary.failed += 1;
                (self.report)(Level::Failed, &h.name, &why);
            }
        }
        Ok(())
    }

    fn bad(&mut self, name: &[u8], why: &str) {
        self.summary.failed += 1;
        (self.report)(Level::Failed, name, why);
    }
}

/// Extracts the image read from `input` into `root` (made if missing), telling `report` of each
/// entry not extracted as asked. A broken image is an error once what came before it is out.
pub fn unpack(input: impl Read, root: &Path, report: &mut dyn FnMut(Level, &[u8], &str)) -> Result<Summary> {
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let fd = rfs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .with_context(|| format!("cannot open {}", root.display()))?;
    let mut u = Unpacker {
        root: fd,
        owner: rustix::process::geteuid().is_root(),
        parent: None,
        summary: Summary::default(),
        report,
    };
    crate::initramfs::read(input, &mut u)?;
    Ok(u.summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpio::{raw, trailer, Entry};

    fn run(image: &[u8], dir: &Path) -> (Summary, Vec<String>) {
        let mut notes = Vec::new();
        let mut report = |l: Level, name: &[u8], why: &str| {
            notes.push(format!("{l:?} {}: {why}", String::from_utf8_lossy(name)));
        };
        let s = unpack(image, dir, &mut report).unwrap();
        (s, notes)
    }

    fn archive(entries: &[(&[u8], Entry)]) -> Vec<u8> {
        let mut out: Vec<u8> = entries.iter().flat_map(|(n, e)| raw(n, e)).collect();
        out.extend(trailer());
        out
    }

    #[test]
    fn nothing_leaves_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let entries = vec![
            Entry::symlink("evil", &outside.path().display().to_string()),
            Entry::file("evil/pwned", 0o644, b"x".to_vec()),
            Entry::file("../escape", 0o644, b"x".to_vec()),
            Entry::file("/abs/file", 0o640, b"fine".to_vec()),
        ];
        let (s, notes) = run(&cpio::write(&entries, 0), dir.path());
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        assert_eq!(std::fs::read(dir.path().join("abs/file")).unwrap(), b"fine");
        assert_eq!(s, Summary { written: 2, failed: 2, skipped: 0 });
        assert!(notes.contains(&"Failed evil/pwned: evil is a symlink (not followed)".to_string()), "{notes:?}");
        assert!(notes.iter().any(|n| n.starts_with("Failed ../escape: leaves the target")), "{notes:?}");
    }

    #[test]
    fn names_are_bytes_not_text() {
        let dir = tempfile::tempdir().unwrap();
        let image = archive(&[
            (b"n\xff", Entry::file("", 0o644, b"ff".to_vec())),
            (b"n\xfe", Entry::file("", 0o644, b"fe".to_vec())),
        ]);
        let (s, notes) = run(&image, dir.path());
        assert_eq!((s.written, notes.len()), (2, 0), "{notes:?}");
        use std::os::unix::ffi::OsStrExt;
        let read = |n: &[u8]| std::fs::read(dir.path().join(std::ffi::OsStr::from_bytes(n))).unwrap();
        assert_eq!((read(b"n\xff"), read(b"n\xfe")), (b"ff".to_vec(), b"fe".to_vec()));
    }

    #[test]
    fn a_bad_entry_is_named_and_the_rest_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![
            Entry::file("a", 0o644, b"file".to_vec()),
            Entry::file("a/b", 0o644, b"under a file".to_vec()),
            Entry::dir("a", 0o755),
            Entry::file("c", 0o600, b"c".to_vec()),
        ];
        let (s, notes) = run(&cpio::write(&entries, 0), dir.path());
        assert_eq!(notes, ["Failed a/b: a is not a directory"]);
        assert_eq!(s.failed, 1);
        assert!(dir.path().join("a").is_dir(), "the directory entry replaced the file");
        assert_eq!(std::fs::read(dir.path().join("c")).unwrap(), b"c");
    }
}
