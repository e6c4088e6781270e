//! switch_root in process, as util-linux does it, but checked first and undone on failure so
//! that PID 1 can fall back to the shell instead of dying.
//!
//! Order: every check that can fail without side effects; then move /dev /proc /sys /run into the
//! new root; MS_MOVE the new root onto `/`; chroot; only then wipe the old initramfs (never across
//! a mount, only if it is a ramfs/tmpfs and we are PID 1 started as its /init); exec.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::mount::{MountPropagationFlags, UnmountFlags};
use thiserror::Error;

use crate::root;

const RAMFS_MAGIC: i64 = 0x8584_58f6;
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The API filesystems that move along with the root.
pub const MOVED: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];

#[derive(Debug, Error)]
pub enum SwitchError {
    #[error("{0} is not a mount point; mount the root there first (or: mount --bind {0} {0})")]
    NotMountPoint(String),
    #[error("init {init} is not an executable file in {root}")]
    NoInit { init: String, root: String },
    #[error("cannot stat {path}: {errno}")]
    Stat { path: String, errno: rustix::io::Errno },
    #[error("cannot move {from} to {to}: {errno}")]
    Move { from: String, to: String, errno: rustix::io::Errno },
    #[error("cannot change root to {root}: {errno}")]
    Chroot { root: String, errno: rustix::io::Errno },
    #[error("cannot execute {init}: {source}")]
    Exec { init: String, source: std::io::Error },
}

/// What to do with each API mount, decided from stat() results alone (pure, so it is tested).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountStep {
    /// Move `/x` to `<newroot>/x`.
    Move(String),
    /// `/x` is a mount but the new root has no directory for it (or one already mounted): detach.
    Detach(String),
    /// `/x` is not a mount point: nothing to do.
    Skip(String),
}

/// `old_dev`: st_dev of `/`; `new_dev`: of the new root; for each API dir, st_dev of `/x` and of
/// `<newroot>/x` (None when missing).
pub fn plan_mounts(old_dev: u64, new_dev: u64, dirs: &[(&str, Option<u64>, Option<u64>)]) -> Vec<MountStep> {
    dirs.iter()
        .map(|&(dir, here, there)| match (here, there) {
            (None, _) => MountStep::Skip(dir.to_string()),
            (Some(d), _) if d == old_dev => MountStep::Skip(dir.to_string()),
            (Some(_), Some(t)) if t == new_dev => MountStep::Move(dir.to_string()),
            _ => MountStep::Detach(dir.to_string()),
        })
        .collect()
}

fn dev_of(path: &str) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.dev())
}

/// Checks that would make the switch fail, done before anything is changed.
pub fn preflight(newroot: &str, init: &str) -> Result<(), SwitchError> {
    let stat = |p: &str| {
        std::fs::metadata(p).map_err(|e| SwitchError::Stat {
            path: p.to_string(),
            errno: rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO),
        })
    };
    let nr = stat(newroot)?;
    let parent = stat(&format!("{newroot}/.."))?;
    if nr.dev() == parent.dev() && nr.ino() != parent.ino() {
        return Err(SwitchError::NotMountPoint(newroot.to_string()));
    }
    let ok = root::resolve_in(Path::new(newroot), init)
        .and_then(|p| std::fs::metadata(p).ok())
        .is_some_and(|m| m.is_file() && m.mode() & 0o111 != 0);
    if !ok {
        return Err(SwitchError::NoInit { init: init.to_string(), root: newroot.to_string() });
    }
    Ok(())
}

/// Whether the old root may be wiped after the switch: we are PID 1 and `/init` is this program.
pub fn old_root_is_ours() -> bool {
    let me = std::fs::metadata("/proc/self/exe");
    let init = std::fs::metadata("/init");
    rustix::process::getpid().is_init()
        && matches!((me, init), (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino())
}

/// Switches to `newroot` and execs `init`. Returns only on failure; by then everything that could
/// be undone has been, and the caller is still in the initramfs unless the root move succeeded.
pub fn switch_root(newroot: &str, init: &str, args: &[String], env: &[(String, String)]) -> SwitchError {
    if let Err(e) = preflight(newroot, init) {
        return e;
    }
    let wipe = old_root_is_ours();
    rustix::fs::sync();
    // Shared propagation makes MS_MOVE fail with EINVAL; the initramfs has no peers to keep.
    let _ = rustix::mount::mount_change("/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC);

    let (Some(old_dev), Some(new_dev)) = (dev_of("/"), dev_of(newroot)) else {
        return SwitchError::NotMountPoint(newroot.to_string());
    };
    let targets: Vec<String> = MOVED.iter().map(|d| format!("{newroot}{d}")).collect();
    let dirs: Vec<(&str, Option<u64>, Option<u64>)> =
        MOVED.iter().zip(&targets).map(|(d, t)| (*d, dev_of(d), dev_of(t))).collect();
    let mut moved = Vec::new();
    for step in plan_mounts(old_dev, new_dev, &dirs) {
        match step {
            MountStep::Move(d) => {
                let to = format!("{newroot}{d}");
                if let Err(errno) = rustix::mount::mount_move(d.as_str(), to.as_str()) {
                    undo_moves(newroot, &moved);
                    return SwitchError::Move { from: d, to, errno };
                }
                moved.push(d);
            }
            MountStep::Detach(d) => {
                log::warn!("{newroot}{d} does not exist; detaching {d} instead of moving it");
                let _ = rustix::mount::unmount(d.as_str(), UnmountFlags::DETACH);
            }
            MountStep::Skip(_) => {}
        }
    }

    let old_root: Option<OwnedFd> =
        rustix::fs::open("/", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ok();
    if let Err(errno) = rustix::process::chdir(newroot) {
        undo_moves(newroot, &moved);
        return SwitchError::Chroot { root: newroot.to_string(), errno };
    }
    if let Err(errno) = rustix::mount::mount_move(newroot, "/") {
        let _ = rustix::process::chdir("/");
        undo_moves(newroot, &moved);
        return SwitchError::Move { from: newroot.to_string(), to: "/".into(), errno };
    }
    if let Err(errno) = rustix::process::chroot(".") {
        return SwitchError::Chroot { root: newroot.to_string(), errno };
    }
    let _ = rustix::process::chdir("/");

    if let Some(fd) = old_root {
        match rustix::fs::fstatfs(&fd) {
            Ok(sf) if wipe && (sf.f_type as i64 == RAMFS_MAGIC || sf.f_type as i64 == TMPFS_MAGIC) => {
                if let Ok(st) = rustix::fs::fstat(&fd) {
                    let (files, bytes) = remove_tree(fd.as_fd(), st.st_dev);
                    log::info!("Freed the initramfs: {files} files, {} KiB", bytes >> 10);
                }
            }
            Ok(_) if wipe => {
                log::warn!("old root filesystem is not an initramfs; leaving it alone")
            }
            _ => {}
        }
    }
    crate::kmsg::LOGGER.close();
    let source = crate::sys::exec(init, args, env);
    SwitchError::Exec { init: init.to_string(), source }
}

/// Moves the API filesystems back after a failed switch.
fn undo_moves(newroot: &str, moved: &[String]) {
    for d in moved.iter().rev() {
        let from = format!("{newroot}{d}");
        if let Err(e) = rustix::mount::mount_move(from.as_str(), d.as_str()) {
            log::error!("cannot move {from} back to {d}: {e}");
        }
    }
}

/// Deletes everything below `dir` that lives on device `dev`, without following links or crossing
/// into other filesystems. Returns how many files and bytes were removed.
fn remove_tree(dir: rustix::fd::BorrowedFd<'_>, dev: u64) -> (u64, u64) {
    let mut freed = (0, 0);
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(dup) = rustix::fs::openat(dir, ".", flags, Mode::empty()) else { return freed };
    let Ok(mut entries) = rustix::fs::Dir::read_from(&dup) else { return freed };
    let mut names = Vec::new();
    while let Some(Ok(e)) = entries.read() {
        let name = e.file_name().to_owned();
        if name.as_bytes() != b"." && name.as_bytes() != b".." {
            names.push(name);
        }
    }
    for name in names {
        let Ok(st) = rustix::fs::statat(dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) else { continue };
        if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
            if st.st_dev != dev {
                continue; // a mount point: never cross it
            }
            if let Ok(sub) = rustix::fs::openat(dir, name.as_c_str(), flags | OFlags::NOFOLLOW, Mode::empty()) {
                let (f, b) = remove_tree(sub.as_fd(), dev);
                freed = (freed.0 + f, freed.1 + b);
            }
            let _ = rustix::fs::unlinkat(dir, name.as_c_str(), AtFlags::REMOVEDIR);
        } else if rustix::fs::unlinkat(dir, name.as_c_str(), AtFlags::empty()).is_ok() {
            freed = (freed.0 + 1, freed.1 + st.st_size as u64);
        }
    }
    freed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_moves_detaches_and_skips() {
        // / is dev 1, newroot dev 9; /dev mounted (dev 2) with a target; /proc (3) has no target;
        // /sys is not mounted; /run (5) target is itself a mount (dev 7).
        let plan = plan_mounts(
            1,
            9,
            &[
                ("/dev", Some(2), Some(9)),
                ("/proc", Some(3), None),
                ("/sys", Some(1), Some(9)),
                ("/run", Some(5), Some(7)),
            ],
        );
        assert_eq!(
            plan,
            vec![
                MountStep::Move("/dev".into()),
                MountStep::Detach("/proc".into()),
                MountStep::Skip("/sys".into()),
                MountStep::Detach("/run".into()),
            ]
        );
    }

    #[test]
    fn preflight_refuses_a_plain_directory_and_a_missing_init() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("sysroot");
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        let r = root.to_str().unwrap();
        assert!(matches!(preflight(r, "/sbin/init"), Err(SwitchError::NotMountPoint(_))));
        // `/` is its own parent, hence a "mount point": only the init check remains.
        assert!(matches!(preflight("/", "/definitely/not/an/init"), Err(SwitchError::NoInit { .. })));
    }

    #[test]
    fn remove_tree_stays_on_its_device() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        std::fs::create_dir_all(t.join("a/b/c")).unwrap();
        std::fs::write(t.join("a/b/c/f"), "x").unwrap();
        std::fs::write(t.join("top"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", t.join("link")).unwrap();
        let fd = rustix::fs::open(t, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let st = rustix::fs::fstat(&fd).unwrap();
        let (files, _) = remove_tree(fd.as_fd(), st.st_dev + 1); // another device: directories are kept
        assert_eq!(files, 2, "the top file and the link");
        assert!(t.join("a/b/c/f").exists());
        assert!(!t.join("top").exists());
        assert!(std::fs::metadata("/etc").is_ok(), "links are removed, never followed");
        assert_eq!(remove_tree(fd.as_fd(), st.st_dev), (1, 1));
        assert_eq!(std::fs::read_dir(t).unwrap().count(), 0);
    }
}
