//! Builtins for kernel modules: `modprobe` through the boot's loader, `lsmod`.

use std::io::Write;

use super::*;
use crate::shell::{Io, Shell};

pub(super) fn modprobe(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
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

pub(super) fn lsmod(_: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
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
