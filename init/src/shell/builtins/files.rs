//! Builtins for files and directories: the coreutils a recovery needs.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::format::mode_string;
use crate::shell::{Io, Shell};

pub(super) fn cd(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let args: Vec<&String> = args.iter().filter(|a| *a != "-L" && *a != "-P").collect();
    let home = sh.vars.get("HOME").filter(|h| Path::new(h).is_dir()).cloned().unwrap_or_else(|| "/".into());
    let dir = match args.first().map(|s| s.as_str()) {
        None => home,
        Some("-") => match sh.vars.get("OLDPWD") {
            Some(d) => {
                let _ = writeln!(io.out, "{d}");
                d.clone()
            }
            None => fail!(io, 1, "cd: OLDPWD is not set"),
        },
        Some(d) => d.to_string(),
    };
    let old = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
    match std::env::set_current_dir(&dir) {
        Ok(()) => {
            sh.vars.insert("OLDPWD".into(), old);
            let now = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or(dir);
            sh.vars.insert("PWD".into(), now);
            0
        }
        Err(e) => fail!(io, 1, "cd: {dir}: {e}"),
    }
}

pub(super) fn pwd(_: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    match std::env::current_dir() {
        Ok(p) => {
            let _ = writeln!(io.out, "{}", p.display());
            0
        }
        Err(e) => fail!(io, 1, "pwd: {e}"),
    }
}

pub(super) fn ls(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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
        crate::sort::sort(&mut entries);
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

pub(super) fn cat(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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

pub(super) fn echo(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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

pub(super) fn each(args: &[String], io: &mut Io, name: &str, f: impl Fn(&str) -> std::io::Result<()>) -> i32 {
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

pub(super) fn mkdir(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let (f, ops) = flags(args);
    let ops: Vec<String> = ops.into_iter().cloned().collect();
    let parents = f.contains('p');
    each(&ops, io, "mkdir", |p| if parents { std::fs::create_dir_all(p) } else { std::fs::create_dir(p) })
}

pub(super) fn touch(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    each(args, io, "touch", |p| {
        let f = std::fs::OpenOptions::new().create(true).append(true).open(p)?;
        f.set_modified(std::time::SystemTime::now())
    })
}

pub(super) fn rm(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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

pub(super) fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
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
pub(super) fn destination(src: &str, dst: &str) -> PathBuf {
    let d = Path::new(dst);
    match (d.is_dir(), Path::new(src).file_name()) {
        (true, Some(name)) => d.join(name),
        _ => d.to_path_buf(),
    }
}

pub(super) fn cp(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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

pub(super) fn mv(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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

pub(super) fn ln(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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
