//! Block devices without udev: what sysfs lists, what the probes find on each, the
//! `/dev/disk/by-*` links users expect.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::names;
use crate::probe::{self, Filesystem};
use crate::uevent::{parse_uevent, read_attr};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockDev {
    /// Kernel name: `vda`, `vda1`, `nvme0n1p2`.
    pub name: String,
    pub major: u32,
    pub minor: u32,
    /// Partition number, for partitions.
    pub partition: Option<u32>,
    /// Whole-disk name, for partitions.
    pub parent: Option<String>,
    pub size_bytes: u64,
    pub fs: Option<Filesystem>,
    pub partuuid: Option<String>,
    pub partlabel: Option<String>,
    /// udev's `/dev/disk/by-id/` and `by-path/` names for it, relative to /dev
    /// ([`names::links`]).
    pub ids: Vec<String>,
    /// What was wrong with a whole disk's partition table, when it could not be used whole.
    pub table_problem: Option<String>,
    /// For device-mapper devices: their name and UUID (sysfs `dm/`).
    pub dm: Option<DmInfo>,
    /// The devices this one is built on (sysfs `slaves/`: an LV's PVs, an array's members).
    pub slaves: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DmInfo {
    pub name: String,
    pub uuid: String,
}

impl BlockDev {
    pub fn node(&self) -> PathBuf {
        Path::new("/dev").join(&self.name)
    }
    pub fn devno(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }
    /// One line for listings and error reports.
    pub fn describe(&self) -> String {
        let mut s = format!("/dev/{} ({}, {} MiB)", self.name, self.devno(), self.size_bytes >> 20);
        if let Some(fs) = &self.fs {
            s += &format!(" TYPE={}", fs.fstype);
            if let Some(u) = &fs.uuid {
                s += &format!(" UUID={u}");
            }
            if let Some(l) = &fs.label {
                s += &format!(" LABEL=\"{l}\"");
            }
        }
        if let Some(u) = &self.partuuid {
            s += &format!(" PARTUUID={u}");
        }
        if let Some(l) = &self.partlabel {
            s += &format!(" PARTLABEL=\"{l}\"");
        }
        if let Some(p) = &self.table_problem {
            s += &format!(" ({p})");
        }
        s
    }
}

/// Lists the block devices in `sysfs/class/block` (without probing them).
pub fn list(sysfs: &Path) -> Vec<BlockDev> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(sysfs.join("class/block")) else {
        return out;
    };
    let names = names::Names::new(sysfs);
    for e in entries.flatten() {
        let dir = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        let ev = parse_uevent(&std::fs::read_to_string(dir.join("uevent")).unwrap_or_default());
        let Some((major, minor)) = read_attr(&dir.join("dev")).and_then(|d| {
            let (a, b) = d.split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        }) else {
            continue;
        };
        let partition = read_attr(&dir.join("partition")).and_then(|p| p.parse().ok());
        // A partition's sysfs directory sits inside its disk's.
        let parent = partition.and_then(|_| {
            std::fs::canonicalize(&dir).ok()?.parent()?.file_name().map(|n| n.to_string_lossy().to_string())
        });
        let sectors: u64 = read_attr(&dir.join("size")).and_then(|s| s.parse().ok()).unwrap_or(0);
        let ids = names.as_ref().map(|n| n.links(&name)).unwrap_or_default();
        out.push(BlockDev {
            name: ev.get("DEVNAME").cloned().unwrap_or(name),
            major,
            minor,
            partition,
            parent,
            size_bytes: sectors * 512,
            partlabel: ev.get("PARTNAME").cloned(),
            ids,
            slaves: std::fs::read_dir(dir.join("slaves"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect(),
            dm: read_attr(&dir.join("dm/name"))
                .map(|name| DmInfo { name, uuid: read_attr(&dir.join("dm/uuid")).unwrap_or_default() }),
            ..Default::default()
        });
    }
    crate::sort::sort_by(&mut out, |a, b| a.name.cmp(&b.name));
    out
}

/// Reads the start of every device and fills in filesystems, partition identities and what was
/// wrong with a partition table. Devices of size 0 (empty CD drives, unused loop devices) are
/// skipped without opening them. Every read goes through [`probe::Disk::read`], which checks
/// what a disk declares before allocating.
pub fn probe_all(devs: &mut [BlockDev], dev_dir: &Path) {
    let mut tables: HashMap<String, Vec<probe::Partition>> = HashMap::new();
    for d in devs.iter_mut() {
        if d.size_bytes == 0 {
            continue;
        }
        let Ok(file) = File::open(dev_dir.join(&d.name)) else {
            continue;
        };
        let found = probe::device(&probe::Disk::new(&file, d.size_bytes), d.partition.is_none());
        d.fs = found.fs;
        d.table_problem = None;
        if let Some(t) = found.table {
            let used = if t.partitions.is_empty() { "not used" } else { "read in part" };
            d.table_problem = t.problem.map(|e| format!("{} partition table {used}: {e}", t.kind.name()));
            tables.insert(d.name.clone(), t.partitions);
        }
    }
    for d in devs.iter_mut() {
        let (Some(n), Some(parent)) = (d.partition, &d.parent) else {
            continue;
        };
        if let Some(p) = tables.get(parent).and_then(|t| t.iter().find(|p| p.number == n)) {
            d.partuuid = p.partuuid.clone();
            if d.partlabel.is_none() {
                d.partlabel = p.partlabel.clone();
            }
        }
    }
}

/// udev's escaping of names in `/dev/disk/by-*`: bytes outside a safe set become `\xNN`.
pub fn escape(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if !c.is_ascii() || c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) {
            s.push(c); // valid UTF-8 stays as it is, as in udev
        } else {
            s += &format!("\\x{:02x}", c as u32);
        }
    }
    s
}

/// Undoes [`escape`] (`\x2f` → `/`), for `root=/dev/disk/by-label/my\x20disk`.
pub fn unescape(name: &str) -> String {
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(v) = name.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// The `/dev/disk/by-*/NAME` and `/dev/block/MAJ:MIN` links for a device, relative to /dev.
pub fn links(d: &BlockDev) -> Vec<(String, String)> {
    let mut v = vec![(format!("block/{}", d.devno()), format!("../{}", d.name))];
    let target = format!("../../{}", d.name);
    if let Some(fs) = &d.fs {
        if let Some(u) = &fs.uuid {
            v.push((format!("disk/by-uuid/{}", escape(u)), target.clone()));
        }
        if let Some(l) = &fs.label {
            v.push((format!("disk/by-label/{}", escape(l)), target.clone()));
        }
    }
    if let Some(u) = &d.partuuid {
        v.push((format!("disk/by-partuuid/{}", escape(u)), target.clone()));
    }
    if let Some(l) = &d.partlabel {
        v.push((format!("disk/by-partlabel/{}", escape(l)), target));
    }
    for id in &d.ids {
        // A serial number with a `/` makes a directory, as with udev: the target climbs it.
        v.push((id.clone(), format!("{}{}", "../".repeat(id.matches('/').count()), d.name)));
    }
    v
}

/// Creates (or refreshes) the links of every device under `dev_dir`. A link two devices claim
/// (an IDE master's and slave's old `…-ata-1`) goes to the first in name order, not to whichever
/// udev happened to process last.
pub fn create_links(devs: &[BlockDev], dev_dir: &Path) {
    place_links(devs.iter().flat_map(links), dev_dir);
}

/// Creates (or refreshes) links, each `(path relative to dev_dir, target)`; of two for one
/// path, the first.
pub fn place_links(links: impl IntoIterator<Item = (String, String)>, dev_dir: &Path) {
    let mut claimed = std::collections::HashSet::new();
    for (link, target) in links {
        if !claimed.insert(link.clone()) {
            continue;
        }
        let path = dev_dir.join(&link);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if std::fs::read_link(&path).is_ok_and(|t| t == Path::new(&target)) {
            continue;
        }
        let _ = std::fs::remove_file(&path);
        let _ = std::os::unix::fs::symlink(&target, &path);
    }
}

/// Storage controllers the kernel sees but no driver has taken: PCI mass-storage class devices
/// and virtio block/SCSI devices without a `driver` link. Each as `NAME (modalias)`.
pub fn storage_without_driver(sysfs: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let scan = |bus: &str, is_storage: &dyn Fn(&Path) -> bool, out: &mut Vec<String>| {
        for e in std::fs::read_dir(sysfs.join("bus").join(bus).join("devices")).into_iter().flatten().flatten() {
            let dir = e.path();
            if dir.join("driver").exists() || !is_storage(&dir) {
                continue;
            }
            let alias = read_attr(&dir.join("modalias")).unwrap_or_default();
            out.push(format!("{} ({alias})", e.file_name().to_string_lossy()));
        }
    };
    // PCI class 0x01xxxx is mass storage.
    scan("pci", &|d| read_attr(&d.join("class")).is_some_and(|c| c.starts_with("0x01")), &mut out);
    // virtio device 2 is a block device, 8 a SCSI host.
    scan("virtio", &|d| read_attr(&d.join("device")).is_some_and(|c| c == "0x0002" || c == "0x0008"), &mut out);
    crate::sort::sort(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_without_a_driver() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path();
        let mk = |bus: &str, name: &str, files: &[(&str, &str)], driver: bool| {
            let d = sys.join("bus").join(bus).join("devices").join(name);
            std::fs::create_dir_all(&d).unwrap();
            for (f, v) in files {
                std::fs::write(d.join(f), v).unwrap();
            }
            if driver {
                std::fs::create_dir_all(d.join("driver")).unwrap();
            }
        };
        mk("pci", "0000:00:04.0", &[("class", "0x010000\n"), ("modalias", "pci:v00001AF4d00001001")], false);
        mk("pci", "0000:00:01.1", &[("class", "0x010180\n")], true);
        mk("pci", "0000:00:02.0", &[("class", "0x030000\n")], false);
        mk("virtio", "virtio0", &[("device", "0x0002\n"), ("modalias", "virtio:d00000002v00001AF4")], false);
        mk("virtio", "virtio1", &[("device", "0x0001\n")], false);
        assert_eq!(
            storage_without_driver(sys),
            ["0000:00:04.0 (pci:v00001AF4d00001001)", "virtio0 (virtio:d00000002v00001AF4)"]
        );
    }

    #[test]
    fn by_id_links_climb_the_directories_a_serial_made() {
        let d = BlockDev { name: "vda".into(), ids: vec!["disk/by-id/virtio-a/b".into()], ..Default::default() };
        assert!(links(&d).contains(&("disk/by-id/virtio-a/b".into(), "../../../vda".into())));
    }

    #[test]
    fn escapes_like_udev() {
        assert_eq!(escape("my disk/1"), "my\\x20disk\\x2f1");
        assert_eq!(escape("ROOT-fs_1.2"), "ROOT-fs_1.2");
        assert_eq!(unescape("my\\x20disk\\x2f1"), "my disk/1");
        assert_eq!(unescape("bad\\xZZ"), "bad\\xZZ");
        assert_eq!(escape("wörk"), "wörk");
    }

    #[test]
    fn lists_a_fake_sysfs_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path();
        let disk = sys.join("devices/virtual/block/vda");
        let part = disk.join("vda1");
        std::fs::create_dir_all(&part).unwrap();
        std::fs::write(disk.join("dev"), "254:0\n").unwrap();
        std::fs::write(disk.join("size"), "2048\n").unwrap();
        std::fs::write(disk.join("uevent"), "MAJOR=254\nDEVNAME=vda\nDEVTYPE=disk\n").unwrap();
        std::fs::write(part.join("dev"), "254:1\n").unwrap();
        std::fs::write(part.join("size"), "1024\n").unwrap();
        std::fs::write(part.join("partition"), "1\n").unwrap();
        std::fs::write(part.join("uevent"), "DEVNAME=vda1\nPARTN=1\nPARTNAME=root\n").unwrap();
        std::fs::create_dir_all(sys.join("class/block")).unwrap();
        std::os::unix::fs::symlink(&disk, sys.join("class/block/vda")).unwrap();
        std::os::unix::fs::symlink(&part, sys.join("class/block/vda1")).unwrap();
        let devs = list(sys);
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[1].name, "vda1");
        assert_eq!(devs[1].parent.as_deref(), Some("vda"));
        assert_eq!(devs[1].partition, Some(1));
        assert_eq!(devs[1].partlabel.as_deref(), Some("root"));
        assert_eq!(devs[0].size_bytes, 1 << 20);

        let mut d = devs[1].clone();
        d.fs = Some(Filesystem {
            fstype: "ext4".into(),
            uuid: Some("u-1".into()),
            label: Some("a b".into()),
            member: None,
        });
        let dev = dir.path().join("dev");
        create_links(&[d], &dev);
        assert_eq!(std::fs::read_link(dev.join("disk/by-label/a\\x20b")).unwrap(), Path::new("../../vda1"));
        assert_eq!(std::fs::read_link(dev.join("block/254:1")).unwrap(), Path::new("../vda1"));
        assert_eq!(std::fs::read_link(dev.join("disk/by-partlabel/root")).unwrap(), Path::new("../../vda1"));
    }
}
