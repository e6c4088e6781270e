//! Paths under a directory handle, walked one component at a time from that handle without
//! ever following a symlink, and every change made relative to a held directory handle: what
//! keeps `rdbreak unpack` inside its target even while someone swaps directories for symlinks
//! under it. Nothing here resolves a path by name from the top again.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

/// A handle good for walking and for the `*at` calls, needing no read permission.
const WALK: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// The components of an archive name under the target; None when it would leave it (`..`).
/// Empty for the target itself (`.`, `./`, `/`).
pub fn components(name: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

pub fn show(comps: &[&[u8]]) -> String {
    crate::listing::escape(&comps.join(&b'/'))
}

fn kind(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Opens the directory `comps` under `root`; with `create`, makes the missing ones (mode 0755,
/// as cpio does for directories an archive does not list). A component that is a symlink or
/// not a directory is an error naming it.
pub fn open_dir(root: BorrowedFd<'_>, comps: &[&[u8]], create: bool) -> Result<OwnedFd, String> {
    let mut cur = rfs::openat(root, c".", WALK, Mode::empty()).map_err(|e| format!("cannot open the target: {e}"))?;
    for (i, c) in comps.iter().enumerate() {
        let here = || show(&comps[..=i]);
        let mut opened = rfs::openat(&cur, *c, WALK, Mode::empty());
        if matches!(opened, Err(Errno::NOENT)) && create {
            match rfs::mkdirat(&cur, *c, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => opened = rfs::openat(&cur, *c, WALK, Mode::empty()),
                Err(e) => return Err(format!("cannot create the directory {}: {e}", here())),
            }
        }
        let next = match opened {
            Ok(fd) => fd,
            Err(Errno::LOOP | Errno::NOTDIR) => return Err(not_a_dir(&cur, c, &here())),
            Err(e) => return Err(format!("cannot open {}: {e}", here())),
        };
        // O_PATH with O_NOFOLLOW may hand out the symlink itself: look at what was opened.
        match rfs::fstat(&next) {
            Ok(st) if kind(&st) == FileType::Directory => cur = next,
            Ok(_) => return Err(not_a_dir(&cur, c, &here())),
            Err(e) => return Err(format!("cannot open {}: {e}", here())),
        }
    }
    Ok(cur)
}

fn not_a_dir(dir: &OwnedFd, leaf: &[u8], shown: &str) -> String {
    match rfs::statat(dir, leaf, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if kind(&st) == FileType::Symlink => format!("{shown} is a symlink (not followed)"),
        _ => format!("{shown} is not a directory"),
    }
}

/// Makes room for a new `leaf` in `dir`: removes what is there unless it is a directory.
pub fn clear(dir: &OwnedFd, leaf: &[u8]) -> Result<(), String> {
    match rfs::statat(dir, leaf, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if kind(&st) == FileType::Directory => Err("a directory of that name exists; not replaced".into()),
        Ok(_) => rfs::unlinkat(dir, leaf, AtFlags::empty()).map_err(|e| format!("cannot replace it: {e}")),
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(format!("cannot look at it: {e}")),
    }
}

/// Runs `make` (a creation that fails with EEXIST when the name is taken) once, and once more
/// after clearing the name; a name taken again meanwhile is an error, never followed.
pub fn create<T>(dir: &OwnedFd, leaf: &[u8], make: impl Fn() -> rustix::io::Result<T>) -> Result<T, String> {
    match make() {
        Err(Errno::EXIST) => {
            clear(dir, leaf)?;
            make().map_err(|e| format!("cannot create it: {e}"))
        }
        r => r.map_err(|e| format!("cannot create it: {e}")),
    }
}

/// A new regular file, empty, only ours to write (O_EXCL: never a file someone left there,
/// which could be a hard link to anything).
pub fn new_file(dir: &OwnedFd, leaf: &[u8]) -> Result<std::fs::File, String> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    create(dir, leaf, || rfs::openat(dir, leaf, flags, Mode::from_raw_mode(0o600))).map(std::fs::File::from)
}

/// Opens `leaf` in `dir` for writing if it is the regular file `inode` (dev, ino) and nothing
/// else: not a symlink, not a FIFO that would block, not a file put there meanwhile.
pub fn open_inode(dir: &OwnedFd, leaf: &[u8], inode: (u64, u64)) -> Result<std::fs::File, String> {
    let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rfs::openat(dir, leaf, flags, Mode::empty()).map_err(|e| format!("cannot open it: {e}"))?;
    let st = rfs::fstat(&fd).map_err(|e| format!("cannot open it: {e}"))?;
    if kind(&st) != FileType::RegularFile || (st.st_dev, st.st_ino) != inode {
        return Err("it was replaced while extracting; left alone".into());
    }
    Ok(fd.into())
}

/// An O_PATH handle on `leaf` itself (a symlink is not followed), checked to be of `want` type.
pub fn open_node(dir: BorrowedFd<'_>, leaf: &[u8], want: FileType) -> Result<(OwnedFd, Stat), String> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rfs::openat(dir, leaf, flags, Mode::empty()).map_err(|e| format!("cannot open it: {e}"))?;
    let st = rfs::fstat(&fd).map_err(|e| format!("cannot open it: {e}"))?;
    if kind(&st) != want {
        return Err("it was replaced while extracting; left alone".into());
    }
    Ok((fd, st))
}

/// What an entry's header says about ownership, permissions and time.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    /// Set owners (as root); otherwise files stay the caller's.
    pub owner: bool,
}

impl Meta {
    fn times(&self) -> Timestamps {
        let t = Timespec { tv_sec: self.mtime.into(), tv_nsec: 0 };
        Timestamps { last_access: t, last_modification: t }
    }

    fn ids(&self) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
        (Some(rustix::fs::Uid::from_raw(self.uid)), Some(rustix::fs::Gid::from_raw(self.gid)))
    }

    /// On an open file: owner first (chown clears set-id bits), then the exact mode (no umask),
    /// then the time.
    pub fn apply_fd(&self, fd: BorrowedFd<'_>) -> Result<(), String> {
        if self.owner {
            let (u, g) = self.ids();
            rfs::fchown(fd, u, g).map_err(|e| format!("cannot set its owner: {e}"))?;
        }
        rfs::fchmod(fd, Mode::from_raw_mode(self.mode & 0o7777)).map_err(|e| format!("cannot set its mode: {e}"))?;
        rfs::futimens(fd, &self.times()).map_err(|e| format!("cannot set its time: {e}"))
    }

    /// Through an O_PATH handle (a directory, a device node, a FIFO): the mode and the time go
    /// through the handle's /proc/self/fd link, which names that very inode.
    pub fn apply_path_fd(&self, fd: &OwnedFd) -> Result<(), String> {
        if self.owner {
            let (u, g) = self.ids();
            rfs::chownat(fd, c"", u, g, AtFlags::EMPTY_PATH).map_err(|e| format!("cannot set its owner: {e}"))?;
        }
        let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
        rfs::chmodat(rfs::CWD, &link, Mode::from_raw_mode(self.mode & 0o7777), AtFlags::empty())
            .map_err(|e| format!("cannot set its mode (through {link}): {e}"))?;
        rfs::utimensat(rfs::CWD, &link, &self.times(), AtFlags::empty())
            .map_err(|e| format!("cannot set its time (through {link}): {e}"))
    }

    /// On a symlink, which has no mode of its own: owner and time, never followed.
    pub fn apply_symlink(&self, dir: &OwnedFd, leaf: &[u8]) -> Result<(), String> {
        if self.owner {
            let (u, g) = self.ids();
            rfs::chownat(dir, leaf, u, g, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| format!("cannot set its owner: {e}"))?;
        }
        rfs::utimensat(dir, leaf, &self.times(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| format!("cannot set its time: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn names_cannot_escape() {
        let c = |n: &[u8]| {
            components(n).map(|v| v.iter().map(|c| String::from_utf8_lossy(c).to_string()).collect::<Vec<_>>())
        };
        assert_eq!(c(b"etc/passwd").unwrap(), ["etc", "passwd"]);
        assert_eq!(c(b"/etc//passwd").unwrap(), ["etc", "passwd"]);
        assert_eq!(c(b"./a/./b").unwrap(), ["a", "b"]);
        assert_eq!(c(b".").unwrap(), Vec::<String>::new());
        assert_eq!(c(b"../x"), None);
        assert_eq!(c(b"a/../../x"), None);
        assert_eq!(c(b"a/.."), None);
    }

    #[test]
    fn the_walk_refuses_symlinks_and_files_on_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let root: OwnedFd = std::fs::File::open(dir.path()).unwrap().into();
        let err = open_dir(root.as_fd(), &[b"link", b"x"], true).unwrap_err();
        assert_eq!(err, "link is a symlink (not followed)");
        assert_eq!(open_dir(root.as_fd(), &[b"file"], true).unwrap_err(), "file is not a directory");
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none(), "nothing made through the link");
        open_dir(root.as_fd(), &[b"a", b"b"], true).unwrap();
        assert!(dir.path().join("a/b").is_dir());
    }
}
