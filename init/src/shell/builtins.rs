//! The shell's built-in commands: what a person needs at a broken machine with nothing else in
//! the initramfs. Each says what failed, with the path, and returns a status.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags};

use super::{Io, Shell};
use crate::mounts;
use crate::root;
use crate::{devices, probe, report};

pub struct Builtin {
    pub name: &'static str,
    pub usage: &'static str,
    pub run: fn(&mut Shell<'_>, &[String], &mut Io) -> i32,
}

macro_rules! fail {
    ($io:expr, $status:expr, $($arg:tt)*) => {{
        let _ = writeln!($io.err, $($arg)*);
        return $status;
    }};
}

pub const BUILTINS: &[Builtin] = &[
    Builtin { name: "help", usage: "help [NAME]: list the commands, or show how to use one", run: help },
    Builtin { name: "exit", usage: "exit: leave the shell and continue booting (from the point where it stopped)", run: exit },
    Builtin { name: "reboot", usage: "reboot [-f]: sync, remount /sysroot read-only, and reboot", run: |_, _, _| power("reboot", None) },
    Builtin { name: "poweroff", usage: "poweroff [-f]: sync, remount /sysroot read-only, and power off", run: |_, _, _| power("poweroff", None) },
    Builtin { name: "halt", usage: "halt [-f]: sync, remount /sysroot read-only, and halt", run: |_, _, _| power("halt", None) },
    Builtin { name: "cd", usage: "cd [DIR]: change directory (default /)", run: cd },
    Builtin { name: "pwd", usage: "pwd: print the current directory", run: pwd },
    Builtin { name: "ls", usage: "ls [-l] [-a] [PATH...]: list directories", run: ls },
    Builtin { name: "cat", usage: "cat [FILE...]: print files (or standard input)", run: cat },
    Builtin { name: "echo", usage: "echo [-n] [WORD...]: print words", run: echo },
    Builtin { name: "mount", usage: "mount: list mounts\nmount [-t TYPE] [-o OPTS] [-r|-w] DEVICE DIR   (DEVICE may be UUID=…, LABEL=…)\nmount -o remount,rw DIR\nmount --bind|--rbind|--move OLD NEW", run: mount },
    Builtin { name: "umount", usage: "umount [-l] [-f] DIR...: unmount (-l: lazily, -f: force)", run: umount },
    Builtin { name: "chroot", usage: "chroot [DIR [COMMAND [ARG...]]]: run COMMAND (default: the root's shell) with DIR (default /sysroot) as /; /proc /sys /dev /run are bound inside and unmounted after", run: chroot },
    Builtin { name: "mkdir", usage: "mkdir [-p] DIR...: make directories", run: mkdir },
    Builtin { name: "touch", usage: "touch FILE...: create files or update their times", run: touch },
    Builtin { name: "rm", usage: "rm [-r] [-f] PATH...: remove files (-r: directories too)", run: rm },
    Builtin { name: "cp", usage: "cp [-r] SOURCE DEST: copy a file (-r: a directory tree)", run: cp },
    Builtin { name: "mv", usage: "mv SOURCE DEST: move or rename", run: mv },
    Builtin { name: "ln", usage: "ln [-s] [-f] TARGET LINK: make a link (-s: symbolic)", run: ln },
    Builtin { name: "dmesg", usage: "dmesg: print the kernel log", run: |_, _, io| {
        let _ = io.out.write_all(report::dmesg().as_bytes());
        0
    } },
    Builtin { name: "modprobe", usage: "modprobe NAME|ALIAS...: load kernel modules with their dependencies", run: modprobe },
    Builtin { name: "lsmod", usage: "lsmod: list loaded kernel modules", run: lsmod },
    Builtin { name: "blkid", usage: "blkid [DEVICE...]: show filesystems, UUIDs and labels", run: blkid },
    Builtin { name: "lsblk", usage: "lsblk: list block devices with sizes and filesystems", run: lsblk },
    Builtin { name: "sync", usage: "sync: write cached data to disk", run: |_, _, _| {
        rustix::fs::sync();
        0
    } },
    Builtin { name: "sleep", usage: "sleep SECONDS: wait (Ctrl-C interrupts)", run: sleep },
    Builtin { name: "env", usage: "env: print the exported variables", run: env },
    Builtin { name: "export", usage: "export [NAME=VALUE...]: set variables for commands run from here", run: export },
    Builtin { name: "getarg", usage: "getarg KEY[=VALUE]: print the last value of KEY on the command line (status 1 if absent); with =VALUE, test it", run: getarg },
    Builtin { name: "getargs", usage: "getargs KEY[=VALUE]: print every value of KEY; with =VALUE, test whether any matches", run: getargs },
    Builtin { name: "sosreport", usage: "sosreport: write /run/initramfs/rdsosreport.txt again", run: sosreport },
];

pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Candidates for Tab: command names in first position (builtins, then PATH), else paths.
pub fn completions(word: &str, command_position: bool, shell: &Shell<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if command_position && !word.contains('/') {
        out.extend(BUILTINS.iter().map(|b| b.name.to_string()));
        for dir in shell.vars.get("PATH").map_or(super::DEFAULT_PATH, String::as_str).split(':') {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                out.push(e.file_name().to_string_lossy().to_string());
            }
        }
        out.sort();
        out.dedup();
        return out;
    }
    let (dir, prefix) = match word.rfind('/') {
        Some(i) => (&word[..=i], &word[..=i]),
        None => ("./", ""),
    };
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let slash = if e.path().is_dir() { "/" } else { "" };
        out.push(format!("{prefix}{name}{slash}"));
    }
    out
}

/// Splits `-abc` style flags from operands; returns (flags, operands).
fn flags(args: &[String]) -> (String, Vec<&String>) {
    let mut f = String::new();
    let mut ops = Vec::new();
    let mut done = false;
    for a in args {
        if !done && a == "--" {
            done = true;
        } else if !done && a.len() > 1 && a.starts_with('-') && !a.starts_with("--") {
            f.push_str(&a[1..]);
        } else {
            ops.push(a);
        }
    }
    (f, ops)
}

fn help(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    if let Some(name) = args.first() {
        return match find(name) {
            Some(b) => {
                let _ = writeln!(io.out, "{}", b.usage);
                0
            }
            None => fail!(io, 1, "help: no built-in command {name}; other commands run from PATH"),
        };
    }
    let _ = writeln!(io.out, "Built-in commands (NAME --help for details):");
    for b in BUILTINS {
        let _ = writeln!(
            io.out,
            "  {:<10} {}",
            b.name,
            b.usage.lines().next().unwrap_or("").split_once(": ").map_or("", |x| x.1)
        );
    }
    let _ = writeln!(
        io.out,
        "\nPassword reset: mount -o remount,rw /sysroot; chroot /sysroot; passwd; touch /.autorelabel; exit; exit"
    );
    0
}

fn exit(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    if let Some(code) = args.first() {
        match code.parse::<i32>() {
            Ok(c) => sh.status = c,
            Err(_) => fail!(io, 2, "exit: {code}: a number is required"),
        }
    }
    sh.leave = true;
    sh.status
}

/// Sync, make /sysroot read-only, then reboot, power off or halt. With `delay`, wait first
/// (negative: not at all). Never returns unless the kernel refuses.
pub fn power(action: &str, delay: Option<i64>) -> i32 {
    let cmd = match action {
        "reboot" => rustix::system::RebootCommand::Restart,
        "halt" => rustix::system::RebootCommand::Halt,
        "poweroff" => rustix::system::RebootCommand::PowerOff,
        other => {
            log::warn!("unknown rd.emergency={other}; expected reboot, poweroff or halt. Powering off.");
            rustix::system::RebootCommand::PowerOff
        }
    };
    if let Some(d) = delay.filter(|d| *d > 0) {
        log::warn!("rebooting in {d} seconds (panic={d})");
        std::thread::sleep(std::time::Duration::from_secs(d as u64));
    }
    rustix::fs::sync();
    // Everything under /sysroot first, deepest first, so the filesystem is clean.
    let mut tables: Vec<_> = mounts::mount_table().into_iter().filter(|m| m.target.starts_with("/sysroot")).collect();
    tables.reverse();
    for m in &tables {
        if m.target != "/sysroot" {
            let _ = rustix::mount::unmount(m.target.as_str(), UnmountFlags::empty());
        }
    }
    if mounts::mounted_at("/sysroot").is_some() {
        let _ = rustix::mount::mount_remount("/sysroot", MountFlags::RDONLY, c"");
    }
    rustix::fs::sync();
    log::info!("{action} (uptime {})", report::uptime());
    match rustix::system::reboot(cmd) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{action} failed: {e} (not PID 1?)");
            1
        }
    }
}

fn cd(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let dir = args.first().map_or("/", String::as_str);
    match std::env::set_current_dir(dir) {
        Ok(()) => 0,
        Err(e) => fail!(io, 1, "cd: {dir}: {e}"),
    }
}

fn pwd(_: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    match std::env::current_dir() {
        Ok(p) => {
            let _ = writeln!(io.out, "{}", p.display());
            0
        }
        Err(e) => fail!(io, 1, "pwd: {e}"),
    }
}

/// `ls -l`'s mode string (`drwxr-xr-x`); the `rdbreak` CLI's listing uses it too.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut s = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

fn ls(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let (f, ops) = flags(args);
    let long = f.contains('l');
    let all = f.contains('a');
    let targets: Vec<String> =
        if ops.is_empty() { vec![".".into()] } else { ops.iter().map(|s| s.to_string()).collect() };
    let mut status = 0;
    for (i, t) in targets.iter().enumerate() {
        let meta = match std::fs::symlink_metadata(t) {
            Ok(m) => m,
            Err(e) => {
                let _ = writeln!(io.err, "ls: {t}: {e}");
                status = 1;
                continue;
            }
        };
        let mut entries: Vec<(String, PathBuf)> = if meta.is_dir() {
            match std::fs::read_dir(t) {
                Ok(rd) => rd
                    .flatten()
                    .map(|e| (e.file_name().to_string_lossy().to_string(), e.path()))
                    .filter(|(n, _)| all || !n.starts_with('.'))
                    .collect(),
                Err(e) => {
                    let _ = writeln!(io.err, "ls: {t}: {e}");
                    status = 1;
                    continue;
                }
            }
        } else {
            vec![(t.clone(), PathBuf::from(t))]
        };
        entries.sort();
        if targets.len() > 1 && meta.is_dir() {
            let _ = writeln!(io.out, "{}{t}:", if i > 0 { "\n" } else { "" });
        }
        if long {
            for (name, path) in &entries {
                let Ok(m) = std::fs::symlink_metadata(path) else {
                    continue;
                };
                let link = std::fs::read_link(path).map(|l| format!(" -> {}", l.display())).unwrap_or_default();
                let size = if m.file_type().is_char_device() || m.file_type().is_block_device() {
                    format!("{}, {}", rustix::fs::major(m.rdev()), rustix::fs::minor(m.rdev()))
                } else {
                    m.len().to_string()
                };
                let _ = writeln!(
                    io.out,
                    "{} {:>3} {:>5} {:>5} {:>9} {name}{link}",
                    mode_string(m.mode()),
                    m.nlink(),
                    m.uid(),
                    m.gid(),
                    size
                );
            }
        } else {
            let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
            if !names.is_empty() {
                let _ = writeln!(io.out, "{}", names.join("  "));
            }
        }
    }
    status
}

use std::os::unix::fs::FileTypeExt;

fn cat(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    if args.is_empty() {
        if let Some(f) = io.input.as_mut() {
            let _ = std::io::copy(f, &mut io.out);
        }
        return 0;
    }
    let mut status = 0;
    for a in args {
        match std::fs::File::open(a) {
            Ok(mut f) => {
                if let Err(e) = std::io::copy(&mut f, &mut io.out) {
                    let _ = writeln!(io.err, "cat: {a}: {e}");
                    status = 1;
                }
            }
            Err(e) => {
                let _ = writeln!(io.err, "cat: {a}: {e}");
                status = 1;
            }
        }
    }
    status
}

fn echo(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let (newline, words) = match args.first() {
        Some(a) if a == "-n" => (false, &args[1..]),
        _ => (true, args),
    };
    // One write, as /bin/echo does: /dev/kmsg takes each write as a record, sysfs as a value.
    let text = words.join(" ") + if newline { "\n" } else { "" };
    match io.out.write_all(text.as_bytes()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(io.err, "echo: write error: {e}");
            1
        }
    }
}

/// Resolves a device argument: `UUID=…`, `LABEL=…` and friends through the probes.
fn resolve_device(sh: &mut Shell<'_>, spec: &str) -> Result<String, String> {
    if !(spec.starts_with("UUID=")
        || spec.starts_with("LABEL=")
        || spec.starts_with("PARTUUID=")
        || spec.starts_with("PARTLABEL="))
    {
        return Ok(spec.to_string());
    }
    let parsed = root::RootSpec::parse(spec).map_err(|e| e.to_string())?;
    let devs = scanned(sh);
    match root::find(&parsed, &devs, Path::new("/dev")) {
        Ok(Some(d)) => Ok(d.node().display().to_string()),
        Ok(None) => Err(format!("no device has {spec} (see blkid)")),
        Err(e) => Err(e.to_string()),
    }
}

fn mount(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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

fn absolute(p: &str) -> String {
    let path = if p.starts_with('/') { PathBuf::from(p) } else { std::env::current_dir().unwrap_or_default().join(p) };
    let s = path.display().to_string();
    if s.len() > 1 {
        s.trim_end_matches('/').to_string()
    } else {
        s
    }
}

fn probe_path(dev: &str) -> Option<String> {
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

fn umount(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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

/// The login shell of root in a passwd file, if it exists there.
fn root_shell(root: &str) -> String {
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

fn chroot(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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
    status
}

fn each(args: &[String], io: &mut Io, name: &str, f: impl Fn(&str) -> std::io::Result<()>) -> i32 {
    if args.is_empty() {
        fail!(io, 1, "{name}: missing operand (see {name} --help)");
    }
    let mut status = 0;
    for a in args {
        if let Err(e) = f(a) {
            let _ = writeln!(io.err, "{name}: {a}: {e}");
            status = 1;
        }
    }
    status
}

fn mkdir(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let (f, ops) = flags(args);
    let ops: Vec<String> = ops.into_iter().cloned().collect();
    let parents = f.contains('p');
    each(&ops, io, "mkdir", |p| if parents { std::fs::create_dir_all(p) } else { std::fs::create_dir(p) })
}

fn touch(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    each(args, io, "touch", |p| {
        let f = std::fs::OpenOptions::new().create(true).append(true).open(p)?;
        f.set_modified(std::time::SystemTime::now())
    })
}

fn rm(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let (f, ops) = flags(args);
    let recursive = f.contains('r') || f.contains('R');
    let force = f.contains('f');
    let ops: Vec<String> = ops.into_iter().cloned().collect();
    if ops.is_empty() && force {
        return 0;
    }
    each(&ops, io, "rm", |p| {
        let m = match std::fs::symlink_metadata(p) {
            Err(e) if force && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            other => other?,
        };
        if m.is_dir() {
            if !recursive {
                return Err(std::io::Error::other("is a directory (use rm -r)"));
            }
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_file(p)
        }
    })
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let m = std::fs::symlink_metadata(src)?;
    if m.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)
    } else if m.is_dir() {
        std::fs::create_dir_all(dst)?;
        std::fs::set_permissions(dst, m.permissions())?;
        for e in std::fs::read_dir(src)? {
            let e = e?;
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(src, dst).map(|_| ())
    }
}

/// `DEST` as cp and mv read it: an existing directory receives the source by its name.
fn destination(src: &str, dst: &str) -> PathBuf {
    let d = Path::new(dst);
    match (d.is_dir(), Path::new(src).file_name()) {
        (true, Some(name)) => d.join(name),
        _ => d.to_path_buf(),
    }
}

fn cp(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let (f, ops) = flags(args);
    let [src, dst] = ops.as_slice() else { fail!(io, 1, "cp: usage: cp [-r] SOURCE DEST") };
    let to = destination(src, dst);
    let r = if Path::new(src.as_str()).is_dir() {
        if !(f.contains('r') || f.contains('R') || f.contains('a')) {
            fail!(io, 1, "cp: {src} is a directory (use cp -r)");
        }
        copy_tree(Path::new(src.as_str()), &to)
    } else {
        std::fs::copy(src.as_str(), &to).map(|_| ())
    };
    match r {
        Ok(()) => 0,
        Err(e) => fail!(io, 1, "cp: {src} -> {}: {e}", to.display()),
    }
}

fn mv(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let (_, ops) = flags(args);
    let [src, dst] = ops.as_slice() else { fail!(io, 1, "mv: usage: mv SOURCE DEST") };
    let to = destination(src, dst);
    let r = std::fs::rename(src.as_str(), &to).or_else(|e| {
        // Across filesystems: copy, then remove.
        if e.raw_os_error() == Some(libc::EXDEV) {
            copy_tree(Path::new(src.as_str()), &to)?;
            if Path::new(src.as_str()).is_dir() {
                std::fs::remove_dir_all(src.as_str())
            } else {
                std::fs::remove_file(src.as_str())
            }
        } else {
            Err(e)
        }
    });
    match r {
        Ok(()) => 0,
        Err(e) => fail!(io, 1, "mv: {src} -> {}: {e}", to.display()),
    }
}

fn ln(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let (f, ops) = flags(args);
    let [target, link] = ops.as_slice() else { fail!(io, 1, "ln: usage: ln [-s] [-f] TARGET LINK") };
    let link = destination(target, link);
    if f.contains('f') {
        let _ = std::fs::remove_file(&link);
    }
    let r = if f.contains('s') {
        std::os::unix::fs::symlink(target.as_str(), &link)
    } else {
        std::fs::hard_link(target.as_str(), &link)
    };
    match r {
        Ok(()) => 0,
        Err(e) => fail!(io, 1, "ln: {}: {e}", link.display()),
    }
}

fn modprobe(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let (_, ops) = flags(args);
    if ops.is_empty() {
        fail!(io, 1, "modprobe: usage: modprobe NAME...");
    }
    let Some(loader) = sh.boot.as_deref().and_then(|b| b.loader()) else {
        fail!(io, 1, "modprobe: no kernel modules in this initramfs for the running kernel");
    };
    let mut status = 0;
    for name in ops {
        let found = loader.index.lookup(name);
        if found.is_empty() {
            let _ = writeln!(io.err, "modprobe: module {name} not found in {}", loader.index.dir().display());
            status = 1;
            continue;
        }
        loader.load_names(&found);
        let loaded = crate::kmod::loaded_modules();
        for m in &found {
            if !loaded.contains(m) && !loader.index.is_builtin(m) {
                let why = loader.failed().into_iter().find(|(n, _)| n == m).map_or("see dmesg".into(), |(_, w)| w);
                let _ = writeln!(io.err, "modprobe: could not load {m}: {why}");
                status = 1;
            }
        }
    }
    status
}

fn lsmod(_: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    let _ = writeln!(io.out, "{:<24} {:>8}  Used by", "Module", "Size");
    for l in std::fs::read_to_string("/proc/modules").unwrap_or_default().lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 4 {
            let _ =
                writeln!(io.out, "{:<24} {:>8}  {} {}", f[0], f[1], f[2], f[3].trim_end_matches(',').replace('-', ""));
        }
    }
    0
}

/// The boot's one device scan; outside the initramfs (`--shell`), sysfs as it is.
fn scanned(sh: &mut Shell<'_>) -> Vec<devices::BlockDev> {
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

fn blkid(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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
        if d.fs.is_some() || d.partuuid.is_some() {
            let _ = writeln!(io.out, "{line}");
            shown += 1;
        }
    }
    i32::from(shown == 0 && !args.is_empty()) * 2
}

fn lsblk(sh: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    let devs = scanned(sh);
    let table = mounts::mount_table();
    let _ = writeln!(io.out, "{:<12} {:>7} {:>9} {:<6} {:<12} UUID", "NAME", "MAJ:MIN", "SIZE", "TYPE", "MOUNTPOINT");
    for d in &devs {
        let node = d.node().display().to_string();
        let mp = table.iter().find(|m| m.source == node).map_or("", |m| m.target.as_str());
        let fs = d.fs.as_ref();
        let name = if d.partition.is_some() { format!("`-{}", d.name) } else { d.name.clone() };
        let _ = writeln!(
            io.out,
            "{:<12} {:>7} {:>8}M {:<6} {:<12} {}",
            name,
            d.devno(),
            d.size_bytes >> 20,
            fs.map_or("", |f| f.fstype.as_str()),
            mp,
            fs.and_then(|f| f.uuid.as_deref()).unwrap_or("")
        );
    }
    0
}

fn sleep(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let Some(secs) = args.first().and_then(|a| a.parse::<f64>().ok()).filter(|s| s.is_finite() && *s >= 0.0) else {
        fail!(io, 1, "sleep: usage: sleep SECONDS");
    };
    let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs.min(1e9));
    // PID 1 ignores SIGINT, so Ctrl-C is read from the console as a byte instead.
    let stdin = std::io::stdin();
    let saved = if sh.interactive { rustix::termios::tcgetattr(&stdin).ok() } else { None };
    if let Some(t) = &saved {
        let mut raw = t.clone();
        raw.local_modes.remove(
            rustix::termios::LocalModes::ICANON | rustix::termios::LocalModes::ECHO | rustix::termios::LocalModes::ISIG,
        );
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
    }
    let mut status = 0;
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()).filter(|d| !d.is_zero()) {
        if saved.is_none() {
            std::thread::sleep(left);
            break;
        }
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        let step = left.min(std::time::Duration::from_millis(500));
        let ts = Timespec { tv_sec: step.as_secs() as i64, tv_nsec: i64::from(step.subsec_nanos()) };
        if matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0) {
            let mut b = [0u8; 64];
            let n = rustix::io::read(&stdin, &mut b).unwrap_or(0);
            if b[..n].contains(&0x03) {
                let _ = writeln!(io.err, "^C");
                status = 130;
                break;
            }
        }
    }
    if let Some(t) = &saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
    }
    status
}

fn env(sh: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    let mut vars: Vec<_> = sh.vars.iter().collect();
    vars.sort();
    for (k, v) in vars {
        let _ = writeln!(io.out, "{k}={v}");
    }
    0
}

fn export(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    if args.is_empty() {
        return env(sh, args, io);
    }
    for a in args {
        match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                sh.vars.insert(k.to_string(), v.to_string());
            }
            _ => {
                // `export NAME` of an unset name: nothing to do, as in sh.
            }
        }
    }
    0
}

fn cmdline_of(sh: &Shell<'_>) -> crate::cmdline::Cmdline {
    match sh.boot.as_deref() {
        Some(b) => b.cmdline().clone(),
        None => crate::cmdline::Cmdline::from_system(Path::new("/")),
    }
}

/// dracut's `getarg`: `KEY` or `KEY=` prints the last value (exit 1 if absent); `KEY=VAL` tests it.
fn getarg(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let Some(arg) = args.first() else { fail!(io, 1, "getarg: usage: getarg KEY[=VALUE]") };
    let c = cmdline_of(sh);
    if let Some((k, v)) = arg.split_once('=').filter(|(_, v)| !v.is_empty()) {
        return i32::from(!c.last_is(k, v));
    }
    match c.last(arg.trim_end_matches('=')) {
        Some(Some(v)) => {
            let _ = writeln!(io.out, "{v}");
            0
        }
        Some(None) => 0,
        None => 1,
    }
}

/// dracut's `getargs`: every value (the key for bare ones); `KEY=VAL` tests whether any matches.
fn getargs(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let Some(arg) = args.first() else { fail!(io, 1, "getargs: usage: getargs KEY[=VALUE]") };
    let c = cmdline_of(sh);
    match arg.split_once('=') {
        Some((k, v)) if !v.is_empty() => i32::from(!c.any_is(k, v)),
        _ => {
            let k = arg.split_once('=').map_or(arg.as_str(), |x| x.0);
            let values: Vec<&str> = c.all(k).collect();
            for v in &values {
                let _ = writeln!(io.out, "{v}");
            }
            i32::from(values.is_empty())
        }
    }
}

fn sosreport(sh: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    let Some(boot) = sh.boot.as_deref() else { fail!(io, 1, "sosreport: only available in the initramfs") };
    match report::write(boot) {
        Ok(()) => {
            let _ = writeln!(io.out, "Wrote \"{}\"", report::REPORT);
            0
        }
        Err(e) => fail!(io, 1, "sosreport: cannot write {}: {e}", report::REPORT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Runs a line in a fresh shell inside `dir`; returns (status, stdout, stderr).
    fn run(sh: &mut Shell<'_>, line: &str) -> (i32, String, String) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let (o, e) = (out.clone(), err.clone());
        let status = sh.run_line(line, &mut || Io::capture(o.clone(), e.clone()));
        let s = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).to_string();
        (status, s(&out), s(&err))
    }

    #[test]
    fn file_builtins_in_a_temp_dir() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let mut sh = Shell::new(None);
        assert_eq!(
            run(&mut sh, &format!("mkdir -p {d}/a/b && touch {d}/a/b/f && ls {d}/a/b")),
            (0, "f\n".into(), "".into())
        );
        assert_eq!(run(&mut sh, &format!("echo hello > {d}/x; echo more >> {d}/x; cat {d}/x")).1, "hello\nmore\n");
        assert_eq!(run(&mut sh, &format!("cp {d}/x {d}/a && cat {d}/a/x")).1, "hello\nmore\n");
        assert_eq!(run(&mut sh, &format!("mv {d}/a/x {d}/y && ls {d}/a")).1, "b\n");
        assert_eq!(run(&mut sh, &format!("ln -s y {d}/l && cat {d}/l")).1, "hello\nmore\n");
        let (st, _, err) = run(&mut sh, &format!("rm {d}/a"));
        assert_eq!(st, 1);
        assert!(err.contains("is a directory (use rm -r)"), "{err}");
        assert_eq!(run(&mut sh, &format!("rm -r {d}/a && ls {d}")).1, "l  x  y\n");
        assert_eq!(run(&mut sh, &format!("cp -r {d} {d}/../copy-test-$$x; rm -rf {d}/../copy-test-x")).0, 0);
        let (st, _, err) = run(&mut sh, &format!("cat {d}/missing"));
        assert_eq!(st, 1);
        assert!(err.contains(&format!("cat: {d}/missing: No such file")), "{err}");
    }

    /// /dev/kmsg makes a record of each write, and sysfs a value: `echo` must write once.
    #[test]
    fn echo_writes_its_line_at_once() {
        struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);
        impl Write for Writes {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().push(b.to_vec());
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writes = Arc::new(Mutex::new(Vec::new()));
        let mut io = Io {
            input: None,
            out: Box::new(Writes(writes.clone())),
            err: Box::new(std::io::sink()),
            out_file: None,
            err_file: None,
        };
        let mut sh = Shell::new(None);
        assert_eq!(echo(&mut sh, &["boot".into(), "mark".into()], &mut io), 0);
        assert_eq!(*writes.lock().unwrap(), [b"boot mark\n".to_vec()]);
    }

    #[test]
    fn lists_status_and_variables() {
        let mut sh = Shell::new(None);
        assert_eq!(run(&mut sh, "cat /nonexistent || echo fallback").1, "fallback\n");
        assert_eq!(run(&mut sh, "cat /nonexistent && echo never").1, "");
        assert_eq!(run(&mut sh, "cat /nonexistent; echo $?").1, "1\n");
        assert_eq!(run(&mut sh, "X=42; export Y=7; echo $X ${Y}").1, "42 7\n");
        let (st, _, err) = run(&mut sh, "no-such-command-here");
        assert_eq!(st, 127);
        assert!(err.contains("command not found"));
        let (st, _, err) = run(&mut sh, "echo 'unclosed");
        assert_eq!(st, 2);
        assert!(err.contains("missing closing '"));
    }

    #[test]
    fn help_for_every_builtin() {
        let mut sh = Shell::new(None);
        for b in BUILTINS {
            let (st, out, _) = run(&mut sh, &format!("{} --help", b.name));
            assert_eq!(st, 0);
            assert!(out.starts_with(b.name), "{}: {out}", b.name);
            let (st, out2, _) = run(&mut sh, &format!("help {}", b.name));
            assert_eq!((st, &out2), (0, &out));
        }
        assert!(run(&mut sh, "help").1.contains("chroot"));
    }

    #[test]
    fn exit_leaves_the_shell() {
        let mut sh = Shell::new(None);
        run(&mut sh, "exit; echo not reached");
        assert!(sh.leave);
        let mut sh = Shell::new(None);
        assert_eq!(run(&mut sh, "exit 3").0, 3);
    }

    #[test]
    fn external_programs_and_redirection() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let mut sh = Shell::new(None);
        assert_eq!(run(&mut sh, &format!("/bin/sh -c 'echo out; echo err >&2' > {d}/o 2>&1")).0, 0);
        assert_eq!(std::fs::read_to_string(format!("{d}/o")).unwrap(), "out\nerr\n");
        assert_eq!(run(&mut sh, "sh -c 'exit 7'").0, 7);
    }

    #[test]
    fn getarg_semantics() {
        let c = crate::cmdline::Cmdline::parse("rd.break root=UUID=x ip=a ip=b rd.retry=");
        let mut boot = crate::boot::Boot::new(c);
        let mut sh = Shell::new(Some(&mut boot));
        assert_eq!(run(&mut sh, "getarg root"), (0, "UUID=x\n".into(), "".into()));
        assert_eq!(run(&mut sh, "getarg root="), (0, "UUID=x\n".into(), "".into()));
        assert_eq!(run(&mut sh, "getarg rd.break"), (0, "".into(), "".into()));
        assert_eq!(run(&mut sh, "getarg rd.retry"), (0, "\n".into(), "".into()));
        assert_eq!(run(&mut sh, "getarg nothing").0, 1);
        assert_eq!(run(&mut sh, "getarg ip=b").0, 0);
        assert_eq!(run(&mut sh, "getarg ip=a").0, 1);
        assert_eq!(run(&mut sh, "getargs ip=a").0, 0);
        assert_eq!(run(&mut sh, "getargs ip"), (0, "a\nb\n".into(), "".into()));
        assert_eq!(run(&mut sh, "getargs nothing").0, 1);
        assert_eq!(run(&mut sh, "getarg").0, 1);
    }

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o100600), "-rw-------");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
    }
}
