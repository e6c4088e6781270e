//! `mdadm`, built in, for the person repairing an array at the prompt: `--assemble --scan`,
//! `--detail`, `--examine` and `--stop`, over the boot's own assembler and the kernel's md sysfs
//! (no mdadm binary needed). `/proc/mdstat` is the kernel's; `cat` shows it.

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::Error;
use crate::shell::{Io, Shell};
use crate::storage::md::{self, Role, Superblock};
use crate::uevent::read_attr;

pub(super) const USAGE: &str =
    "mdadm --assemble --scan | --detail MD | --examine DEVICE | --stop MD: MD RAID arrays by hand\n\
mdadm --assemble --scan   (-As) assemble every array whose members are here, degraded ones too\n\
mdadm --detail /dev/mdX   (-D)  the array: level, state, members\n\
mdadm --examine DEVICE    (-E)  the md superblock on a member\n\
mdadm --stop /dev/mdX     (-S)  stop an array (unmount what is on it first)";

pub(super) fn mdadm(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["--assemble" | "-A", "--scan" | "-s"] | ["-As"] | ["--scan" | "-s", "--assemble" | "-A"] => assemble(sh, io),
        ["--detail" | "-D", devs @ ..] if !devs.is_empty() => each(devs, io, detail),
        ["--examine" | "-E", devs @ ..] if !devs.is_empty() => each(devs, io, examine),
        ["--stop" | "-S", devs @ ..] if !devs.is_empty() => {
            let mut status = 0;
            for d in devs {
                status = status.max(stop(sh, d, io));
            }
            status
        }
        ["-h"] => {
            let _ = writeln!(io.out, "{USAGE}");
            0
        }
        _ => fail!(io, 2, "mdadm: built in are only:\n{USAGE}"),
    }
}

fn each(devs: &[&str], io: &mut Io, f: fn(&str, &mut Io) -> Result<(), Error>) -> i32 {
    let mut status = 0;
    for d in devs {
        if let Err(e) = f(d, io) {
            let _ = writeln!(io.err, "mdadm: {e}");
            status = 1;
        }
    }
    status
}

fn assemble(sh: &mut Shell<'_>, io: &mut Io) -> i32 {
    let Some(boot) = sh.boot.as_deref_mut() else { fail!(io, 1, "mdadm: only available in the initramfs") };
    boot.storage().md().forget();
    let devs = boot.rescan().to_vec();
    let (dev_dir, loader) = (boot.paths().dev.clone(), boot.loader().cloned());
    let started = boot.storage().md().assemble_all(&devs, Path::new("/sys"), &dev_dir, loader.as_deref());
    let pending = boot.storage().md().pending().to_vec();
    for p in &pending {
        let _ = writeln!(io.err, "mdadm: {p}");
    }
    if started == 0 && pending.is_empty() {
        let _ = writeln!(io.out, "mdadm: no arrays found to assemble (blkid shows the linux_raid_member devices)");
    } else {
        let _ = writeln!(io.out, "mdadm: {started} array(s) started (cat /proc/mdstat)");
    }
    boot.settle();
    boot.rescan();
    i32::from(started == 0 && !pending.is_empty())
}

/// `md127` from `/dev/md127`, `md127`, or a `/dev/md/NAME` link.
fn devnm(dev: &str) -> Result<String, Error> {
    let path = Path::new(dev);
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| Path::new("/dev").join(dev));
    let name = real.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    if Path::new("/sys/block").join(&name).join("md").is_dir() {
        Ok(name)
    } else {
        Err(Error::NotMd(dev.to_string()))
    }
}

fn field(io: &mut Io, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(io.out, "{key:>15} : {value}");
}

fn detail(dev: &str, io: &mut Io) -> Result<(), Error> {
    let nm = devnm(dev)?;
    let md = Path::new("/sys/block").join(&nm).join("md");
    let attr = |a: &str| read_attr(&md.join(a)).unwrap_or_default();
    let _ = writeln!(io.out, "/dev/{nm}:");
    field(io, "Version", attr("metadata_version"));
    field(io, "Raid Level", attr("level"));
    let kib =
        read_attr(&Path::new("/sys/block").join(&nm).join("size")).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) / 2;
    field(io, "Array Size", format!("{kib} KiB ({} MiB)", kib / 1024));
    field(io, "Raid Devices", attr("raid_disks"));
    let degraded = attr("degraded").parse::<u32>().unwrap_or(0);
    let state = attr("array_state");
    field(io, "State", if degraded > 0 { format!("{state}, degraded ({degraded} missing)") } else { state });
    // Each member: md/dev-NAME/{slot,state}; the first one's superblock names the array.
    let mut members: Vec<(String, String, String)> = std::fs::read_dir(&md)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().strip_prefix("dev-")?.to_string();
            let slot = read_attr(&e.path().join("slot")).unwrap_or_default();
            let st = read_attr(&e.path().join("state")).unwrap_or_default();
            Some((n, slot, st))
        })
        .collect();
    crate::sort::sort_by_key(&mut members, |(_, slot, _)| slot.parse::<u32>().unwrap_or(u32::MAX));
    if let Some(sb) = members.iter().find_map(|(n, _, _)| superblock(&format!("/dev/{n}")).ok().flatten()) {
        if !sb.name.is_empty() {
            field(io, "Name", &sb.name);
        }
        field(io, "UUID", sb.uuid_string());
        field(io, "Events", sb.events);
    }
    let _ = writeln!(io.out, "\n    Number   Major   Minor   RaidDevice State");
    for (i, (n, slot, st)) in members.iter().enumerate() {
        let devno = read_attr(&Path::new("/sys/class/block").join(n).join("dev")).unwrap_or_default();
        let (major, minor) = devno.split_once(':').unwrap_or(("?", "?"));
        let state = if st.contains("in_sync") { "active sync" } else { st.as_str() };
        let _ = writeln!(io.out, "    {i:>6}   {major:>5}   {minor:>5}   {slot:>10} {state:<13} /dev/{n}");
    }
    Ok(())
}

/// The superblock mdadm would use on `dev`; refusals become the error.
fn superblock(dev: &str) -> Result<Option<Superblock>, Error> {
    let mut f = std::fs::File::open(dev).map_err(|e| Error::Open { path: dev.to_string(), err: e.to_string() })?;
    let size = f.seek(SeekFrom::End(0)).map_err(|e| Error::Size { path: dev.to_string(), err: e.to_string() })?;
    let ex = md::examine(size, &mut |off, buf| f.read_at(buf, off));
    match (ex.superblock, ex.rejected.first()) {
        (Some(sb), _) => Ok(Some(sb)),
        (None, Some(r)) => Err(Error::Refused {
            dev: dev.to_string(),
            metadata: r.metadata.to_string(),
            offset: r.offset,
            reason: r.reason.to_string(),
        }),
        (None, None) => Ok(None),
    }
}

fn examine(dev: &str, io: &mut Io) -> Result<(), Error> {
    let sb = superblock(dev)?.ok_or_else(|| Error::NoSuperblock(dev.to_string()))?;
    let _ = writeln!(io.out, "{dev}:");
    field(io, "Magic", "a92b4efc");
    field(io, "Version", sb.metadata);
    field(io, "Array UUID", sb.uuid_string());
    if !sb.name.is_empty() {
        field(io, "Name", &sb.name);
    }
    if let Some(m) = sb.preferred_minor {
        field(io, "Preferred Minor", m);
    }
    field(io, "Raid Level", sb.level);
    field(io, "Raid Devices", sb.raid_disks);
    if sb.data_offset > 0 || sb.metadata != md::Metadata::V0_90 {
        field(io, "Data Offset", format!("{} sectors", sb.data_offset));
        field(io, "Super Offset", format!("{} sectors", sb.super_offset));
    }
    field(io, "State", if sb.clean { "clean" } else { "active" });
    field(io, "Events", sb.events);
    let role = match sb.role {
        Role::Active { slot, in_sync: true } => format!("Active device {slot}"),
        Role::Active { slot, in_sync: false } => format!("Active device {slot} (rebuilding)"),
        Role::Spare => "spare".into(),
        Role::Faulty => "faulty".into(),
        Role::Journal => "Journal".into(),
    };
    field(io, "Device Role", role);
    Ok(())
}

fn stop(sh: &mut Shell<'_>, dev: &str, io: &mut Io) -> i32 {
    let nm = match devnm(dev) {
        Ok(n) => n,
        Err(e) => fail!(io, 1, "mdadm: {e}"),
    };
    let state = Path::new("/sys/block").join(&nm).join("md/array_state");
    if let Err(e) = std::fs::write(&state, "clear") {
        let hint = if e.raw_os_error() == Some(16) {
            " (still in use: umount what is on it, dmsetup remove the LVs on it)"
        } else {
            ""
        };
        fail!(io, 1, "mdadm: cannot stop /dev/{nm}: {e}{hint}");
    }
    let _ = writeln!(io.out, "mdadm: stopped /dev/{nm}");
    if let Some(boot) = sh.boot.as_deref_mut() {
        boot.storage().md().stopped(&nm);
        boot.rescan();
    }
    0
}

#[cfg(all(test, feature = "zstd"))]
mod tests {
    use std::sync::{Arc, Mutex};

    use crate::shell::{Io, Shell};

    fn run(sh: &mut Shell<'_>, line: &str) -> (i32, String, String) {
        let (out, err) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let (o, e) = (out.clone(), err.clone());
        let status = sh.run_line(line, &mut || Io::capture(o.clone(), e.clone()));
        let s = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).to_string();
        (status, s(&out), s(&err))
    }

    #[test]
    fn examine_reads_a_member_made_by_mdadm_and_misuse_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let member = dir.path().join("member");
        std::fs::write(&member, crate::storage::md::fixtures::device_bytes("r1-1.2-1")).unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, vec![0u8; 1 << 20]).unwrap();
        let mut sh = Shell::new(None);
        let (st, out, _) = run(&mut sh, &format!("mdadm --examine {}", member.display()));
        assert_eq!(st, 0);
        for want in [
            "Version : 1.2",
            "Array UUID : 00000000:11111111:22222222:33333333",
            "Name : fixture:r1-1.2",
            "Raid Level : raid1",
            "Device Role : Active device 1",
        ] {
            assert!(out.contains(want), "{want} in {out}");
        }
        let (st, _, err) = run(&mut sh, &format!("mdadm -E {}", empty.display()));
        assert_eq!(st, 1);
        assert!(err.contains("no md superblock detected on"), "{err}");
        let (st, _, err) = run(&mut sh, &format!("mdadm --detail {}", empty.display()));
        assert!(st == 1 && err.contains("is not an md array (cat /proc/mdstat lists them)"), "{err}");
        let (st, _, err) = run(&mut sh, "mdadm --create /dev/md0");
        assert!(st == 2 && err.contains("--assemble --scan"), "{err}");
        let (st, _, err) = run(&mut sh, "mdadm --assemble --scan");
        assert!(st == 1 && err.contains("only available in the initramfs"), "{err}");
        assert!(run(&mut sh, "mdadm --help").1.contains("mdadm --stop"));
    }
}
