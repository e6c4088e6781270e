//! Builtins for disks and mounts: `mount`, `umount`, `blkid`, `lsblk`, over the boot's one device scan.

use std::io::Write;
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags};

use super::*;
use crate::shell::{Io, Shell};
use crate::{devices, mounts, probe, root};

/// Resolves a device argument: `UUID=…`, `LABEL=…` and friends through the probes.
pub(super) fn resolve_device(sh: &mut Shell<'_>, spec: &str) -> Result<String, Error> {
    if !(spec.starts_with("UUID=")
        || spec.starts_with("LABEL=")
        || spec.starts_with("PARTUUID=")
        || spec.starts_with("PARTLABEL="))
    {
        return Ok(spec.to_string());
    }
    let parsed = root::RootSpec::parse(spec)?;
    let devs = scanned(sh);
    match root::find(&parsed, &devs, Path::new("/dev")) {
        Ok(Some(d)) => Ok(d.node().display().to_string()),
        Ok(None) => Err(Error::NoDevice(spec.to_string())),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn mount(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    if args.is_empty() {
        for m in mounts::mount_table() {
            let _ = writeln!(io.out, "{} on {} type {} ({})", m.source, m.target, m.fstype, m.options);
        }
        return 0;
    }
    let mut fstype: Option<String> = None;
    let mut opts = String::new();
    let mut mode: Option<&str> = None;
    let mut ops = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-t" => fstype = it.next().cloned(),
            "-o" => {
                if let Some(o) = it.next() {
                    opts = if opts.is_empty() { o.clone() } else { format!("{opts},{o}") };
                }
            }
            "-r" => opts.push_str(",ro"),
            "-w" => opts.push_str(",rw"),
            "--bind" | "-B" => mode = Some("bind"),
            "--rbind" | "-R" => mode = Some("rbind"),
            "--move" | "-M" => mode = Some("move"),
            _ if a.starts_with("-t") && a.len() > 2 => fstype = Some(a[2..].to_string()),
            _ if a.starts_with("-o") && a.len() > 2 => opts = a[2..].to_string(),
            _ => ops.push(a.clone()),
        }
    }
    let parsed = root::parse_options(&opts);
    let remount = opts.split(',').any(|o| o == "remount");
    let data = std::ffi::CString::new(parsed.data.clone()).unwrap_or_default();
    if remount {
        let Some(target) = ops.last() else {
            fail!(io, 1, "mount: remount needs a mount point, e.g. mount -o remount,rw /sysroot")
        };
        let target = absolute(target);
        let Some(current) = mounts::mounted_at(&target) else {
            fail!(io, 32, "mount: {target} is not a mount point (see: mount)")
        };
        // Keep the mount's other flags; change only what was asked.
        let mut flags = root::parse_options(&current.options).flags | parsed.flags;
        let ro = parsed.read_only.unwrap_or_else(|| current.options.split(',').any(|o| o == "ro"));
        if ro {
            flags |= MountFlags::RDONLY;
        }
        return match rustix::mount::mount_remount(target.as_str(), flags, data.as_c_str()) {
            Ok(()) => 0,
            Err(e) => fail!(
                io,
                32,
                "mount: cannot remount {target} {}: {e}{}",
                if ro { "read-only" } else { "read-write" },
                if e == rustix::io::Errno::ROFS || e == rustix::io::Errno::ACCESS {
                    " (the device is write-protected, or the filesystem has errors: see dmesg)"
                } else {
                    ""
                }
            ),
        };
    }
    let [src, dst] = ops.as_slice() else {
        fail!(io, 1, "mount: usage: mount [-t TYPE] [-o OPTS] DEVICE DIR (see mount --help)")
    };
    let result = match mode {
        Some("bind") => rustix::mount::mount_bind(src.as_str(), dst.as_str()),
        Some("rbind") => rustix::mount::mount_bind_recursive(src.as_str(), dst.as_str()),
        Some("move") => rustix::mount::mount_move(src.as_str(), dst.as_str()),
        _ => {
            let dev = match resolve_device(sh, src) {
                Ok(d) => d,
                Err(e) => fail!(io, 32, "mount: {e}"),
            };
            let kind = match fstype {
                Some(t) => t,
                None => match probe_path(&dev) {
                    Some(t) => t,
                    None => fail!(io, 32, "mount: cannot tell the filesystem type of {dev}; give it with -t TYPE"),
                },
            };
            if let Some(loader) = sh.boot.as_deref().and_then(|b| b.loader()) {
                loader.request(&[format!("fs-{kind}")], false);
            }
            let mut flags = parsed.flags;
            if parsed.read_only == Some(true) {
                flags |= MountFlags::RDONLY;
            }
            rustix::mount::mount(dev.as_str(), dst.as_str(), kind.as_str(), flags, Some(data.as_c_str()))
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => fail!(io, 32, "mount: {src} on {dst}: {e}"),
    }
}

pub(super) fn absolute(p: &str) -> String {
    let path = if p.starts_with('/') { PathBuf::from(p) } else { std::env::current_dir().unwrap_or_default().join(p) };
    let s = path.display().to_string();
    if s.len() > 1 {
        s.trim_end_matches('/').to_string()
    } else {
        s
    }
}

pub(super) fn probe_path(dev: &str) -> Option<String> {
    use std::io::Read;
    let mut buf = vec![0u8; probe::PROBE_BYTES];
    let mut f = std::fs::File::open(dev).ok()?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    buf.truncate(n);
    probe::filesystem(&buf).filter(|fs| fs.mountable()).map(|fs| fs.fstype)
}

pub(super) fn umount(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let (f, ops) = flags(args);
    let mut flags = UnmountFlags::empty();
    if f.contains('l') {
        flags |= UnmountFlags::DETACH;
    }
    if f.contains('f') {
        flags |= UnmountFlags::FORCE;
    }
    if ops.is_empty() {
        fail!(io, 1, "umount: usage: umount [-l] [-f] DIR");
    }
    let mut status = 0;
    for t in ops {
        if let Err(e) = rustix::mount::unmount(t.as_str(), flags) {
            let hint = if e == rustix::io::Errno::BUSY {
                " (still in use: leave directories below it, or try umount -l)"
            } else {
                ""
            };
            let _ = writeln!(io.err, "umount: {t}: {e}{hint}");
            status = 32;
        }
    }
    status
}

/// The boot's one device scan; outside the initramfs (`--shell`), sysfs as it is.
pub(super) fn scanned(sh: &mut Shell<'_>) -> Vec<devices::BlockDev> {
    match sh.boot.as_deref_mut() {
        Some(b) => b.rescan().to_vec(),
        None => {
            let mut devs = devices::list(Path::new("/sys"));
            devices::probe_all(&mut devs, Path::new("/dev"));
            devices::create_links(&devs, Path::new("/dev"));
            devs
        }
    }
}

pub(super) fn blkid(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let devs = scanned(sh);
    let mut shown = 0;
    for d in &devs {
        let node = d.node().display().to_string();
        if !args.is_empty() && !args.contains(&node) {
            continue;
        }
        let mut line = format!("{node}:");
        if let Some(fs) = &d.fs {
            if let Some(l) = &fs.label {
                line += &format!(" LABEL=\"{l}\"");
            }
            if let Some(u) = &fs.uuid {
                line += &format!(" UUID=\"{u}\"");
            }
            line += &format!(" TYPE=\"{}\"", fs.fstype);
        }
        if let Some(l) = &d.partlabel {
            line += &format!(" PARTLABEL=\"{l}\"");
        }
        if let Some(u) = &d.partuuid {
            line += &format!(" PARTUUID=\"{u}\"");
        }
        if let Some(p) = &d.table_problem {
            line += &format!(" PTPROBLEM=\"{p}\"");
        }
        if d.fs.is_some() || d.partuuid.is_some() || d.table_problem.is_some() {
            let _ = writeln!(io.out, "{line}");
            shown += 1;
        }
    }
    i32::from(shown == 0 && !args.is_empty()) * 2
}

pub(super) fn lsblk(sh: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    let devs = scanned(sh);
    let table = mounts::mount_table();
    let _ = writeln!(
        io.out,
        "{:<20} {:>7} {:>9} {:<6} {:<12} {:<12} UUID",
        "NAME", "MAJ:MIN", "SIZE", "TYPE", "FSTYPE", "MOUNTPOINT"
    );
    for (depth, d) in stack_order(&devs) {
        let node = d.node().display().to_string();
        let mapper = d.dm.as_ref().map(|m| format!("/dev/mapper/{}", m.name));
        let mp = table
            .iter()
            .find(|m| m.source == node || Some(&m.source) == mapper.as_ref())
            .map_or("", |m| m.target.as_str());
        let fs = d.fs.as_ref();
        let shown = d.dm.as_ref().map_or(d.name.as_str(), |m| m.name.as_str());
        let name = if depth == 0 { shown.to_string() } else { format!("{}`-{shown}", "  ".repeat(depth - 1)) };
        let _ = writeln!(
            io.out,
            "{:<20} {:>7} {:>8}M {:<6} {:<12} {:<12} {}",
            name,
            d.devno(),
            d.size_bytes >> 20,
            kind(d),
            fs.map_or("", |f| f.fstype.as_str()),
            mp,
            fs.and_then(|f| f.uuid.as_deref()).unwrap_or("")
        );
        if let Some(p) = &d.table_problem {
            let _ = writeln!(io.out, "{:<12} ({p})", "");
        }
    }
    0
}

/// lsblk's TYPE: `disk`, `part`, `lvm`, `crypt`, `raidN`, `dm`, `loop`.
fn kind(d: &devices::BlockDev) -> String {
    if d.partition.is_some() {
        return "part".into();
    }
    if let Some(m) = &d.dm {
        return match m.uuid.split('-').next() {
            Some("LVM") => "lvm".into(),
            Some("CRYPT") => "crypt".into(),
            _ => "dm".into(),
        };
    }
    if d.name.starts_with("md") {
        let level = std::fs::read_to_string(format!("/sys/class/block/{}/md/level", d.name)).unwrap_or_default();
        return if level.trim().is_empty() { "md".into() } else { level.trim().to_string() };
    }
    if d.name.starts_with("loop") {
        return "loop".into();
    }
    "disk".into()
}

/// Devices in lsblk's order: each disk, then what is built on it (its partitions, then the
/// devices whose slaves it is), depth first; a device on several (a striped LV) shows under
/// each. The depth is bounded: sysfs is the kernel's, but a loop of holders must not hang us.
fn stack_order(devs: &[devices::BlockDev]) -> Vec<(usize, &devices::BlockDev)> {
    fn walk<'a>(
        d: &'a devices::BlockDev,
        depth: usize,
        devs: &'a [devices::BlockDev],
        out: &mut Vec<(usize, &'a devices::BlockDev)>,
    ) {
        out.push((depth, d));
        if depth >= 8 {
            return;
        }
        for c in devs.iter().filter(|c| c.parent.as_deref() == Some(d.name.as_str()) || c.slaves.contains(&d.name)) {
            walk(c, depth + 1, devs, out);
        }
    }
    let mut out = Vec::new();
    for d in devs.iter().filter(|d| d.parent.is_none() && d.slaves.is_empty()) {
        walk(d, 0, devs, &mut out);
    }
    out
}
