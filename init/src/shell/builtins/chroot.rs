//! `chroot`: the real root's tools with /proc, /sys, /dev and /run bound inside; on an SELinux
//! root, the labels the session's edits lose are given back when it ends.

use std::io::Write;
use std::path::Path;

use rustix::mount::UnmountFlags;

use super::*;
use crate::shell::{Io, Shell};
use crate::{mounts, root, selinux};

/// The login shell of root in a passwd file, if it exists there.
pub(super) fn root_shell(root: &str) -> String {
    let from_passwd = std::fs::read_to_string(format!("{root}/etc/passwd")).ok().and_then(|p| {
        p.lines().find(|l| l.starts_with("root:")).and_then(|l| l.rsplit(':').next().map(str::to_string))
    });
    for candidate in from_passwd.into_iter().chain(["/bin/bash".to_string(), "/bin/sh".to_string()]) {
        if !candidate.is_empty() && root::resolve_in(Path::new(root), &candidate).is_some_and(|p| p.is_file()) {
            return candidate;
        }
    }
    "/bin/sh".into()
}

pub(super) fn chroot(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let no_labels = args.first().is_some_and(|a| a == "--no-labels");
    let args = if no_labels { &args[1..] } else { args };
    let dir = absolute(args.first().map_or("/sysroot", String::as_str));
    if !Path::new(&dir).is_dir() {
        fail!(
            io,
            125,
            "chroot: {dir}: no such directory{}",
            if dir == "/sysroot" { " (is the root mounted? see: mount)" } else { "" }
        );
    }
    if dir == "/sysroot" && mounts::mounted_at("/sysroot").is_none() {
        let _ = writeln!(io.err, "chroot: note: nothing is mounted on /sysroot yet");
    }
    if mounts::mounted_at(&dir).is_some_and(|m| m.options.split(',').any(|o| o == "ro")) {
        let _ = writeln!(
            io.err,
            "chroot: note: {dir} is mounted read-only; to change files run: mount -o remount,rw {dir}"
        );
    }
    let labels = if no_labels || !cmdline_of(sh).flag("rd.rdbreak.selinux", true) {
        None
    } else {
        selinux::Session::begin(Path::new(&dir), selinux::XATTR)
    };
    let command: Vec<String> = if args.len() > 1 { args[1..].to_vec() } else { vec![root_shell(&dir), "-i".into()] };
    // Bind the API filesystems in, unless they are already there.
    let mut bound = Vec::new();
    for api in ["/proc", "/sys", "/dev", "/run"] {
        let target = format!("{dir}{api}");
        if !Path::new(&target).is_dir() || mounts::mounted_at(&target).is_some() {
            continue;
        }
        match rustix::mount::mount_bind_recursive(api, target.as_str()) {
            Ok(()) => bound.push(target),
            Err(e) => {
                let _ = writeln!(io.err, "chroot: cannot bind {api} into {dir}: {e}");
            }
        }
    }
    let child_io = Io {
        input: io.input.take(),
        out: Box::new(std::io::sink()),
        err: Box::new(std::io::sink()),
        out_file: io.out_file.take(),
        err_file: io.err_file.take(),
    };
    let saved_vars = sh.vars.clone();
    sh.vars.insert("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    sh.vars.insert("HOME".into(), "/root".into());
    sh.vars.insert("SHELL".into(), command[0].clone());
    let status = sh.external(&command, child_io, Some(&dir));
    sh.vars = saved_vars;
    for target in bound.iter().rev() {
        // Submounts (devpts, shm) go with the detach; a process left running inside keeps its
        // view, and /sysroot is not held by these binds any more.
        if let Err(e) = rustix::mount::unmount(target.as_str(), UnmountFlags::DETACH) {
            let _ = writeln!(io.err, "chroot: cannot unmount {target}: {e}");
        }
    }
    for line in labels.map(|l| l.end(&dir)).unwrap_or_default() {
        let _ = writeln!(io.err, "{line}");
    }
    status
}
