//! switch_root in process, as util-linux does it, but checked first and undone on failure so
//! that PID 1 can fall back to the shell instead of dying.
//!
//! Order: every check that can fail without side effects (the init, its format, its interpreter);
//! then move /dev /proc /sys /run into the new root; MS_MOVE the new root onto `/`; chroot; exec.
//! The old initramfs is wiped only once the exec has succeeded, by a child that waits for it
//! (never across a mount, only a ramfs/tmpfs we are PID 1 of). If the exec fails, everything is
//! moved back, so the shell and a retry find the machine as it was before the switch.

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
    #[error("init {init} cannot start from {root}: {why}")]
    CannotStart { init: String, root: String, why: String },
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
    startable(Path::new(newroot), init, 0).map_err(|why| SwitchError::CannotStart {
        init: init.to_string(),
        root: newroot.to_string(),
        why,
    })
}

/// Whether the kernel could start `path` inside `root`, following what execve follows: a `#!`
/// line's interpreter (at most 4 deep, as binfmt_script) or an ELF program's PT_INTERP, each of
/// which must be an executable file there too, on a filesystem not mounted noexec.
// A String: the chain "X needs Y, but …" is only shown (the shell opens with it), never matched.
pub fn startable(root: &Path, path: &str, depth: usize) -> Result<(), String> {
    use std::io::Read;
    let file = root::resolve_in(root, path).ok_or_else(|| format!("{path}: too many levels of symbolic links"))?;
    let meta = std::fs::metadata(&file).map_err(|e| format!("{path}: {e}"))?;
    if !meta.is_file() || meta.mode() & 0o111 == 0 {
        return Err(format!("{path} is not an executable file"));
    }
    if rustix::fs::statvfs(&file).is_ok_and(|v| v.f_flag.contains(rustix::fs::StatVfsMountFlags::NOEXEC)) {
        return Err(format!("{path} is on a filesystem mounted noexec"));
    }
    // Program headers and the interpreter's name sit near the start of any real ELF file.
    let mut head = Vec::new();
    std::fs::File::open(&file)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    let interpreter = if let Some(line) = head.strip_prefix(b"#!") {
        let line = &line[..line.iter().position(|&c| c == b'\n').unwrap_or(line.len())];
        let text = String::from_utf8_lossy(line);
        Some(text.split_whitespace().next().ok_or_else(|| format!("{path} has an empty #! line"))?.to_string())
    } else {
        crate::elf::interpreter(&head).map_err(|e| format!("{path}: {e}, and not a #! script"))?
    };
    match interpreter {
        None => Ok(()),
        Some(_) if depth >= 4 => Err(format!("{path}: too many levels of interpreters")),
        Some(i) => startable(root, &i, depth + 1).map_err(|e| format!("{path} needs {i}, but {e}")),
    }
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
    // A handle on the new root's mount, to move it back from `/` if the exec fails.
    let new_root: Option<OwnedFd> = rustix::fs::open(newroot, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).ok();
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
        move_back(newroot, old_root.as_ref(), new_root.as_ref(), &moved);
        return SwitchError::Chroot { root: newroot.to_string(), errno };
    }
    let _ = rustix::process::chdir("/");

    let wiper = match old_root.as_ref() {
        Some(fd) if wipe => spawn_wiper(fd.as_fd()),
        _ => None,
    };
    crate::kmsg::LOGGER.close();
    let source = crate::sys::exec(init, args, env);
    crate::kmsg::LOGGER.open(true, false);
    if let Some((pid, cancel)) = wiper {
        // The exec failed: tell the wiper to leave the initramfs alone, and reap it.
        let _ = rustix::io::write(&cancel, b"x");
        drop(cancel);
        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
    }
    move_back(newroot, old_root.as_ref(), new_root.as_ref(), &moved);
    SwitchError::Exec { init: init.to_string(), source }
}

/// Forks the process that frees the initramfs once the exec has succeeded. It waits on a pipe
/// whose only write end closes on exec (CLOEXEC), or carries a byte when the exec failed. It
/// then lives on as a child of the real init, which reaps it, as every init reaps orphans.
fn spawn_wiper(old_root: rustix::fd::BorrowedFd<'_>) -> Option<(rustix::process::Pid, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
    match crate::sys::fork_single_threaded() {
        Ok(Some(pid)) => Some((pid, write)),
        Ok(None) => {
            drop(write);
            let mut byte = [0u8; 1];
            if matches!(rustix::io::read(&read, &mut byte), Ok(0)) {
                wipe(old_root);
            }
            crate::sys::exit_child(0)
        }
        Err(e) => {
            log::warn!("cannot start the process that frees the initramfs ({e}); its memory stays in use");
            None
        }
    }
}

/// Deletes the old initramfs, if it is one (ramfs or tmpfs).
fn wipe(old_root: rustix::fd::BorrowedFd<'_>) {
    match rustix::fs::fstatfs(old_root) {
        Ok(sf) if sf.f_type == RAMFS_MAGIC || sf.f_type == TMPFS_MAGIC => {
            if let Ok(st) = rustix::fs::fstat(old_root) {
                let (files, bytes) = remove_tree(old_root, st.st_dev);
                log::info!("Freed the initramfs: {files} files, {} KiB", bytes >> 10);
            }
        }
        Ok(_) => log::warn!("old root filesystem is not an initramfs; leaving it alone"),
        Err(_) => {}
    }
}

/// After an exec that failed: back into the initramfs through the handle kept on it, the new
/// root's mount back onto `newroot`, and the API filesystems back to where they were.
fn move_back(newroot: &str, old_root: Option<&OwnedFd>, new_root: Option<&OwnedFd>, moved: &[String]) {
    let (Some(old), Some(new)) = (old_root, new_root) else {
        log::error!("cannot return to the initramfs: no handle on it was kept; staying in the new root");
        return;
    };
    let back = rustix::process::fchdir(old).and_then(|()| rustix::process::chroot(".")).and_then(|()| {
        rustix::mount::move_mount(
            new,
            "",
            rustix::fs::CWD,
            newroot,
            rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
    });
    let _ = rustix::process::chdir("/");
    match back {
        Ok(()) => undo_moves(newroot, moved),
        Err(e) => log::error!("cannot move the new root back to {newroot}: {e}; the shell runs in the new root"),
    }
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
            freed = (freed.0 + 1, freed.1 + u64::try_from(st.st_size).unwrap_or(0));
        }
    }
    freed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn put(root: &Path, path: &str, data: &[u8]) {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A 64-bit ELF header with no program headers: a static program as far as exec is concerned.
    fn static_elf() -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..6].copy_from_slice(b"\x7fELF\x02\x01");
        h
    }

    #[test]
    fn what_the_kernel_would_refuse_to_start_is_found_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        put(root, "/sbin/static", &static_elf());
        assert_eq!(startable(root, "/sbin/static", 0), Ok(()));

        // A real dynamically linked program whose loader is not in this root.
        put(root, "/bin/sh", &std::fs::read("/bin/sh").unwrap());
        let e = startable(root, "/bin/sh", 0).unwrap_err();
        assert!(e.starts_with("/bin/sh needs /lib") && e.contains("ld-linux"), "{e}");

        // Scripts: the interpreter must be there and startable in turn.
        put(root, "/sbin/script", b"#!/sbin/static -x\necho\n");
        assert_eq!(startable(root, "/sbin/script", 0), Ok(()));
        put(root, "/sbin/orphan", b"#! /usr/bin/missing\n");
        let e = startable(root, "/sbin/orphan", 0).unwrap_err();
        assert!(e.starts_with("/sbin/orphan needs /usr/bin/missing, but "), "{e}");
        put(root, "/sbin/empty", b"#!\n");
        assert!(startable(root, "/sbin/empty", 0).unwrap_err().contains("empty #! line"));
        put(root, "/sbin/loop", b"#!/sbin/loop\n");
        assert!(startable(root, "/sbin/loop", 0).unwrap_err().contains("too many levels of interpreters"));

        // Neither ELF nor script; not executable.
        put(root, "/sbin/garbage", b"MZ\x90\x00");
        assert!(startable(root, "/sbin/garbage", 0).unwrap_err().contains("not an ELF file, and not a #! script"));
        std::fs::set_permissions(root.join("sbin/static"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(startable(root, "/sbin/static", 0).unwrap_err().contains("not an executable file"));

        // preflight looks at the mount point before the init: a temp dir is not one.
        let nr = root.to_str().unwrap();
        let e = preflight(nr, "/sbin/orphan");
        assert!(matches!(e, Err(SwitchError::NotMountPoint(_))), "{e:?}");
    }

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
