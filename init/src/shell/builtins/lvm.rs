//! Builtins for storage stacks, for the person repairing one at the prompt: `pvs`, `lvs`,
//! `vgscan`, `vgchange -ay`, and `dmsetup`, over the boot's own assembler (no lvm binary needed).

use std::io::Write;
use std::path::Path;

use crate::shell::{Io, Shell};
use crate::storage::{dm, lvm};

/// The boot, or a message for `--shell` outside the initramfs.
macro_rules! boot_of {
    ($sh:expr, $io:expr, $name:expr) => {
        match $sh.boot.as_deref_mut() {
            Some(b) => b,
            None => {
                let _ = writeln!($io.err, "{}: only available in the initramfs", $name);
                return 1;
            }
        }
    };
}

fn size(sectors: u64) -> String {
    let mib = sectors / 2048;
    if mib >= 10 * 1024 {
        format!("{}g", crate::format::hundredths(mib, 1024))
    } else {
        format!("{mib}.00m")
    }
}

pub(super) fn pvs(sh: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    let boot = boot_of!(sh, io, "pvs");
    let devs = boot.rescan().to_vec();
    let _ = writeln!(io.out, "  {:<16} {:<12} {:<38} {:>10}", "PV", "VG", "PV UUID", "PSize");
    for (d, pv) in boot.storage().physical_volumes(&devs) {
        let vg = pv.vg.as_ref().map_or("", |v| v.name.as_str());
        let _ = writeln!(
            io.out,
            "  {:<16} {:<12} {:<38} {:>10}",
            d.node().display(),
            vg,
            pv.label.uuid.to_string(),
            size(d.size_bytes / 512)
        );
        for p in &pv.problems {
            let _ = writeln!(io.err, "  WARNING: {}: {p}", d.node().display());
        }
    }
    0
}

pub(super) fn lvs(sh: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    let boot = boot_of!(sh, io, "lvs");
    boot.rescan();
    let _ = writeln!(io.out, "  {:<16} {:<12} {:<8} {:>10}  Device", "LV", "VG", "Active", "LSize");
    for vg in boot.storage().volume_groups() {
        for lv in vg.lvs.iter().filter(|l| l.visible()) {
            let extents: u64 = lv.segments.iter().map(|s| s.extent_count).sum();
            let name = lvm::activate::dm_name(&vg.name, &lv.name);
            let node = Path::new("/dev/mapper").join(&name);
            let active = node.exists();
            let _ = writeln!(
                io.out,
                "  {:<16} {:<12} {:<8} {:>10}  {}",
                lv.name,
                vg.name,
                if active { "active" } else { "" },
                size(extents.saturating_mul(vg.extent_size)),
                if active { node.display().to_string() } else { String::new() }
            );
        }
    }
    0
}

pub(super) fn vgscan(sh: &mut Shell<'_>, _: &[String], io: &mut Io) -> i32 {
    let boot = boot_of!(sh, io, "vgscan");
    boot.storage().forget();
    boot.rescan();
    let vgs = boot.storage().volume_groups();
    if vgs.is_empty() {
        let _ = writeln!(io.out, "  No volume groups found (blkid shows the LVM2_member devices)");
    }
    for vg in vgs {
        let _ = writeln!(io.out, "  Found volume group \"{}\" using metadata type lvm2", vg.name);
    }
    0
}

/// `vgchange -ay [VG…]` (and `-a y`, `--activate y`): every VG, or those named.
pub(super) fn vgchange(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let mut names = Vec::new();
    let mut activate = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-ay" | "-aay" => activate = true,
            "-a" | "--activate" => activate = it.next().is_some_and(|v| v == "y" || v == "ay"),
            v if v.starts_with('-') => fail!(io, 3, "vgchange: unknown option {v}; usage: vgchange -ay [VG...]"),
            v => names.push(v.to_string()),
        }
    }
    if !activate {
        fail!(io, 3, "vgchange: only activation is built in: vgchange -ay [VG...] (dmsetup remove deactivates)");
    }
    let boot = boot_of!(sh, io, "vgchange");
    let devs = boot.rescan().to_vec();
    let filter = if names.is_empty() { lvm::Filter::All } else { lvm::Filter::Named { vgs: names, lvs: Vec::new() } };
    let (dev_dir, loader) = (boot.paths().dev.clone(), boot.loader().cloned());
    let created = boot.storage().activate(&filter, &devs, &dev_dir, loader.as_deref());
    let pending = boot.storage().pending().to_vec();
    for p in &pending {
        let _ = writeln!(io.err, "  {p}");
    }
    let _ = writeln!(io.out, "  {created} logical volume(s) activated");
    boot.settle();
    boot.rescan();
    i32::from(!pending.is_empty() && created == 0) * 5
}

pub(super) fn dmsetup(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let usage = "dmsetup ls | table [NAME] | info [NAME] | remove NAME";
    let ctl = match dm::Control::open(Path::new("/dev")) {
        Ok(c) => c,
        Err(e) => fail!(io, 1, "dmsetup: {e} (modprobe dm_mod?)"),
    };
    let listed = match ctl.list() {
        Ok(l) => l,
        Err(e) => fail!(io, 1, "dmsetup: {e}"),
    };
    let names: Vec<String> = match args.get(1) {
        Some(n) => vec![n.clone()],
        None => listed.iter().map(|l| l.name.clone()).collect(),
    };
    match args.first().map(String::as_str) {
        Some("ls") => {
            if listed.is_empty() {
                let _ = writeln!(io.out, "No devices found");
            }
            for l in &listed {
                let _ = writeln!(io.out, "{:<24}({}:{})", l.name, l.major, l.minor);
            }
            0
        }
        Some("table") => {
            let mut status = 0;
            for n in &names {
                match ctl.table(n) {
                    Ok(targets) => {
                        for t in targets {
                            let prefix = if args.len() > 1 { String::new() } else { format!("{n}: ") };
                            // A crypt target's key is a secret: never shown.
                            let params = if t.kind == "crypt" { redact_key(&t.params) } else { t.params.clone() };
                            let _ = writeln!(io.out, "{prefix}{} {} {} {params}", t.start, t.length, t.kind);
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(io.err, "dmsetup: {e}");
                        status = 1;
                    }
                }
            }
            status
        }
        Some("info") => {
            let mut status = 0;
            for n in &names {
                match ctl.info(n) {
                    Ok(i) => {
                        let _ = writeln!(
                            io.out,
                            "Name:              {}\nState:             {}\nOpen count:        {}\nTables present:    {}\nMajor, minor:      {}, {}\nNumber of targets: {}\nUUID: {}\n",
                            i.name,
                            if i.flags & 2 != 0 { "SUSPENDED" } else { "ACTIVE" },
                            i.open_count,
                            if i.target_count > 0 { "LIVE" } else { "None" },
                            i.major,
                            i.minor,
                            i.target_count,
                            i.uuid
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(io.err, "dmsetup: {e}");
                        status = 1;
                    }
                }
            }
            status
        }
        Some("remove") => {
            let Some(n) = args.get(1) else { fail!(io, 1, "dmsetup: remove needs a NAME; usage: {usage}") };
            match ctl.remove(n) {
                Ok(()) => 0,
                Err(e) => fail!(io, 1, "dmsetup: {e} (is it mounted, or held by another device? see lsblk)"),
            }
        }
        _ => fail!(io, 1, "dmsetup: usage: {usage}"),
    }
}

/// A crypt table with its key replaced, as `dmsetup table` without `--showkeys` prints it.
fn redact_key(params: &str) -> String {
    let mut words: Vec<&str> = params.split(' ').collect();
    if words.len() > 1 {
        words[1] = "0";
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_lvm_prints_them_and_crypt_keys_hidden() {
        assert_eq!(size(2048 * 300), "300.00m");
        assert_eq!(size(2048 * 1024 * 20), "20.00g");
        assert_eq!(redact_key("aes-xts-plain64 deadbeef 0 253:0 4096"), "aes-xts-plain64 0 0 253:0 4096");
    }
}
