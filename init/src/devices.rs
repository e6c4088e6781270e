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
    let names = names::Names::new(sysfs);
    let mut out: Vec<BlockDev> =
        block_names(sysfs).iter().filter_map(|name| read_one(sysfs, names.as_ref(), name)).collect();
    crate::sort::sort_by(&mut out, |a, b| a.name.cmp(&b.name));
    out
}

/// The kernel names in `sysfs/class/block`, nothing read of them.
pub fn block_names(sysfs: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(sysfs.join("class/block")) else {
        return Vec::new();
    };
    entries.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect()
}

/// One device's sysfs attributes and udev names (not probed); None when it has no `dev`.
fn read_one(sysfs: &Path, names: Option<&names::Names>, name: &str) -> Option<BlockDev> {
    let dir = sysfs.join("class/block").join(name);
    let ev = parse_uevent(&std::fs::read_to_string(dir.join("uevent")).unwrap_or_default());
    let (major, minor) = read_attr(&dir.join("dev")).and_then(|d| {
        let (a, b) = d.split_once(':')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    })?;
    let partition = read_attr(&dir.join("partition")).and_then(|p| p.parse().ok());
    // A partition's sysfs directory sits inside its disk's.
    let parent = partition
        .and_then(|_| std::fs::canonicalize(&dir).ok()?.parent()?.file_name().map(|n| n.to_string_lossy().to_string()));
    let sectors: u64 = read_attr(&dir.join("size")).and_then(|s| s.parse().ok()).unwrap_or(0);
    let ids = names.map(|n| n.links(name)).unwrap_or_default();
    Some(BlockDev {
        name: ev.get("DEVNAME").cloned().unwrap_or_else(|| name.to_string()),
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
    })
}

/// What tells a device from another seen earlier under the same name: where its sysfs directory
/// is, its number and its size. Whatever else changes on a disk comes with a `change` uevent
/// ([`Known::forget`]).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Identity {
    at: PathBuf,
    dev: Option<String>,
    size: Option<String>,
}

impl Identity {
    fn read(sysfs: &Path, name: &str) -> Identity {
        let dir = sysfs.join("class/block").join(name);
        Identity {
            at: std::fs::read_link(&dir).unwrap_or_default(),
            dev: read_attr(&dir.join("dev")),
            size: read_attr(&dir.join("size")),
        }
    }

    /// Device-mapper, MD and loop devices change under one number (a table loaded, members
    /// added): they are read afresh on every scan. There are few of them.
    fn is_virtual(&self) -> bool {
        self.at.to_string_lossy().contains("/devices/virtual/")
    }
}

/// What earlier scans learned of each block device, so that a scan reads and probes only the
/// devices that are new or changed: with hundreds of disks arriving one uevent at a time, reading
/// every device again on every uevent grows with the square of their number.
#[derive(Debug, Default)]
pub struct Known {
    devs: HashMap<String, (Identity, BlockDev)>,
    /// The links made, and their targets ([`place_links_known`]).
    pub links: HashMap<String, String>,
    /// Partition tables read, by disk, for partitions that appear after their disk was read.
    tables: HashMap<String, Vec<probe::Partition>>,
}

impl Known {
    /// The device's content may have changed (its `change` uevent): read it again next time.
    pub fn forget(&mut self, name: &str) {
        self.devs.remove(name);
        self.tables.remove(name);
    }

    /// Read every device again next time (the shell's commands, after a person's changes).
    pub fn clear(&mut self) {
        self.devs.clear();
        self.tables.clear();
        self.links.clear();
    }
}

/// How much one scan did: devices in sysfs it kept, read afresh (sysfs and names), and opened
/// to probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanWork {
    pub devices: usize,
    pub read: usize,
    pub probed: usize,
}

/// The block devices `keep` accepts (the announced ones), probed: those `known` from an earlier
/// scan with the same identity are taken as they were, the others read, named and probed, and
/// remembered. A device gone from sysfs is forgotten.
pub fn scan(sysfs: &Path, dev_dir: &Path, known: &mut Known, keep: &dyn Fn(&str) -> bool) -> (Vec<BlockDev>, ScanWork) {
    // The kernel's `!` in a sysfs name is the `/` of the node's path (cciss!c0d0).
    let present: Vec<String> = block_names(sysfs).into_iter().filter(|n| keep(&n.replace('!', "/"))).collect();
    known.devs.retain(|n, _| present.contains(n));
    known.tables.retain(|n, _| present.contains(n));
    let ids: Vec<Identity> = present.iter().map(|n| Identity::read(sysfs, n)).collect();
    let same =
        |name: &String, id: &Identity| known.devs.get(name).is_some_and(|(was, _)| was == id && !id.is_virtual());
    let mut fresh: Vec<bool> = present.iter().zip(&ids).map(|(n, id)| !same(n, id)).collect();
    // A disk read again (a new table) has its partitions read again with it.
    let fresh_disks: Vec<&String> = present.iter().zip(&fresh).filter(|(_, f)| **f).map(|(n, _)| n).collect();
    for (i, name) in present.iter().enumerate() {
        let parent = known.devs.get(name).and_then(|(_, d)| d.parent.as_ref());
        if parent.is_some_and(|p| fresh_disks.contains(&p)) {
            fresh[i] = true;
        }
    }
    let names = names::Names::new(sysfs);
    let mut work = ScanWork::default();
    let mut out = Vec::new();
    let mut read = Vec::new();
    for ((name, id), fresh) in present.into_iter().zip(ids).zip(fresh) {
        if !fresh {
            out.extend(known.devs.get(&name).map(|(_, d)| d.clone()));
            continue;
        }
        work.read += 1;
        known.devs.remove(&name);
        if let Some(d) = read_one(sysfs, names.as_ref(), &name) {
            read.push((name, id, d));
        }
    }
    let mut devs: Vec<BlockDev> = read.iter().map(|(_, _, d)| d.clone()).collect();
    work.probed = probe_into(&mut devs, dev_dir, &mut known.tables);
    for ((name, id, _), d) in read.into_iter().zip(devs) {
        known.devs.insert(name, (id, d.clone()));
        out.push(d);
    }
    work.devices = out.len();
    crate::sort::sort_by(&mut out, |a, b| a.name.cmp(&b.name));
    (out, work)
}

/// Reads the start of every device and fills in filesystems, partition identities and what was
/// wrong with a partition table. Devices of size 0 (empty CD drives, unused loop devices) are
/// skipped without opening them. Every read goes through [`probe::Disk::read`], which checks
/// what a disk declares before allocating.
pub fn probe_all(devs: &mut [BlockDev], dev_dir: &Path) {
    probe_into(devs, dev_dir, &mut HashMap::new());
}

/// [`probe_all`] with the partition tables read so far (by disk): a partition whose disk is not
/// among `devs` takes its identity from there, and the tables read now are added. Returns how
/// many devices were opened.
fn probe_into(devs: &mut [BlockDev], dev_dir: &Path, tables: &mut HashMap<String, Vec<probe::Partition>>) -> usize {
    let mut opened = 0;
    for d in devs.iter_mut() {
        if d.size_bytes == 0 {
            continue;
        }
        let Ok(file) = File::open(dev_dir.join(&d.name)) else {
            continue;
        };
        opened += 1;
        tables.remove(&d.name);
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
    opened
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
    place_links_known(links, dev_dir, &mut HashMap::new());
}

/// [`place_links`], leaving alone the links `placed` says an earlier call made with the same
/// target (no system call for them); what it makes is added to `placed`. Returns how many links
/// it looked at on disk.
pub fn place_links_known(
    links: impl IntoIterator<Item = (String, String)>,
    dev_dir: &Path,
    placed: &mut HashMap<String, String>,
) -> usize {
    let mut claimed = std::collections::HashSet::new();
    let mut touched = 0;
    for (link, target) in links {
        if !claimed.insert(link.clone()) {
            continue;
        }
        if placed.get(&link) == Some(&target) {
            continue;
        }
        touched += 1;
        placed.insert(link.clone(), target.clone());
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
    touched
}

/// Storage controllers the kernel sees but no driver has taken: PCI mass-storage class devices
/// and virtio block/SCSI devices without a `driver` link. Each as `NAME (modalias)`.
pub fn storage_without_driver(sysfs: &Path) -> Vec<String> {
    unbound_storage(sysfs).into_iter().map(|(name, alias)| format!("{name} ({alias})")).collect()
}

/// [`storage_without_driver`] as (device, modalias): also a probe still running, when its driver
/// was loaded with `async_probe` (the device is bound once the probe returns).
pub fn unbound_storage(sysfs: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let scan = |bus: &str, is_storage: &dyn Fn(&Path) -> bool, out: &mut Vec<(String, String)>| {
        for e in std::fs::read_dir(sysfs.join("bus").join(bus).join("devices")).into_iter().flatten().flatten() {
            let dir = e.path();
            if dir.join("driver").exists() || !is_storage(&dir) {
                continue;
            }
            let alias = read_attr(&dir.join("modalias")).unwrap_or_default();
            out.push((e.file_name().to_string_lossy().to_string(), alias));
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

    /// A fake sysfs and /dev: disk `name` (`size` sectors) at `sys/devices/<name>`, listed in
    /// class/block, its node a file of `bytes`.
    fn fake_disk(sys: &Path, dev: &Path, name: &str, minor: u32, bytes: &[u8]) {
        let d = sys.join("devices/pci0000:00/0000:00:04.0/host0/block").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("dev"), format!("8:{minor}\n")).unwrap();
        std::fs::write(d.join("size"), format!("{}\n", bytes.len() / 512)).unwrap();
        std::fs::write(d.join("uevent"), format!("DEVNAME={name}\nDEVTYPE=disk\n")).unwrap();
        std::fs::create_dir_all(sys.join("class/block")).unwrap();
        let _ = std::os::unix::fs::symlink(&d, sys.join("class/block").join(name));
        std::fs::create_dir_all(dev).unwrap();
        std::fs::write(dev.join(name), bytes).unwrap();
    }

    /// An MBR with disk signature 0x5ca1ab1e and one Linux partition from sector 2048.
    fn mbr(sectors: usize) -> Vec<u8> {
        let mut b = vec![0u8; sectors * 512];
        b[440..444].copy_from_slice(&0x5ca1_ab1e_u32.to_le_bytes());
        b[446 + 4] = 0x83;
        b[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
        b[446 + 12..446 + 16].copy_from_slice(&u32::try_from(sectors - 2048).unwrap().to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xaa;
        b
    }

    /// The boot's scan reads and probes each device once: a second scan of 40 unchanged disks
    /// opens none, a new disk is the only one read, a changed size or a forgotten device (its
    /// uevent) is read again, a removed one is gone.
    #[test]
    fn the_boot_scan_reads_each_device_once() {
        let dir = tempfile::tempdir().unwrap();
        let (sys, dev) = (dir.path().join("sys"), dir.path().join("dev"));
        for i in 0..40 {
            fake_disk(&sys, &dev, &format!("sd{i:02}"), i * 16, &[0u8; 8192]);
        }
        let mut known = Known::default();
        let all = |_: &str| true;
        let (first, work) = scan(&sys, &dev, &mut known, &all);
        assert_eq!(work, ScanWork { devices: 40, read: 40, probed: 40 });
        let (again, work) = scan(&sys, &dev, &mut known, &all);
        assert_eq!(work, ScanWork { devices: 40, read: 0, probed: 0 }, "nothing new: nothing read");
        assert_eq!(again, first);

        fake_disk(&sys, &dev, "sd40", 640, &[0u8; 8192]);
        let (devs, work) = scan(&sys, &dev, &mut known, &all);
        assert_eq!(work, ScanWork { devices: 41, read: 1, probed: 1 });
        assert_eq!(devs.last().unwrap().name, "sd40");

        let at = sys.join("devices/pci0000:00/0000:00:04.0/host0/block/sd07");
        std::fs::write(at.join("size"), "32\n").unwrap();
        assert_eq!(scan(&sys, &dev, &mut known, &all).1.read, 1, "a new size is a changed device");

        known.forget("sd09");
        assert_eq!(scan(&sys, &dev, &mut known, &all).1.read, 1, "a uevent makes it read again");

        std::fs::remove_file(sys.join("class/block/sd03")).unwrap();
        let (devs, work) = scan(&sys, &dev, &mut known, &all);
        assert_eq!((work.devices, work.read), (40, 0));
        assert!(devs.iter().all(|d| d.name != "sd03"));

        // Unannounced devices are neither read nor listed.
        let (devs, work) = scan(&sys, &dev, &mut Known::default(), &|n: &str| n < "sd10");
        assert_eq!((devs.len(), work.read), (9, 9), "sd00 to sd09 but the removed sd03");

        known.clear();
        assert_eq!(scan(&sys, &dev, &mut known, &all).1.probed, 40, "the shell's rescan reads all");
    }

    /// A partition that appears after its disk was read takes its identity from the table read
    /// then; a disk read again has its partitions read again.
    #[test]
    fn partitions_after_their_disk_and_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let (sys, dev) = (dir.path().join("sys"), dir.path().join("dev"));
        fake_disk(&sys, &dev, "sda", 0, &mbr(4096));
        let mut known = Known::default();
        let all = |_: &str| true;
        assert_eq!(scan(&sys, &dev, &mut known, &all).1.probed, 1);
        let part = sys.join("devices/pci0000:00/0000:00:04.0/host0/block/sda/sda1");
        std::fs::create_dir_all(&part).unwrap();
        std::fs::write(part.join("dev"), "8:1\n").unwrap();
        std::fs::write(part.join("size"), "2048\n").unwrap();
        std::fs::write(part.join("partition"), "1\n").unwrap();
        std::fs::write(part.join("uevent"), "DEVNAME=sda1\nDEVTYPE=partition\n").unwrap();
        std::os::unix::fs::symlink(&part, sys.join("class/block/sda1")).unwrap();
        std::fs::write(dev.join("sda1"), vec![0u8; 2048 * 512]).unwrap();
        let (devs, work) = scan(&sys, &dev, &mut known, &all);
        assert_eq!((work.read, work.probed), (1, 1), "only the partition");
        assert_eq!(devs[1].partuuid.as_deref(), Some("5ca1ab1e-01"), "from the disk's table read before");
        known.forget("sda");
        let (_, work) = scan(&sys, &dev, &mut known, &all);
        assert_eq!(work.read, 2, "the disk and its partition");
    }

    #[test]
    fn links_already_made_are_not_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut placed = HashMap::new();
        let links =
            || vec![("disk/by-id/a".to_string(), "../../sda".to_string()), ("block/8:0".into(), "../sda".into())];
        assert_eq!(place_links_known(links(), dir.path(), &mut placed), 2);
        assert_eq!(place_links_known(links(), dir.path(), &mut placed), 0);
        let moved = vec![("disk/by-id/a".to_string(), "../../sdb".to_string())];
        assert_eq!(place_links_known(moved, dir.path(), &mut placed), 1);
        assert_eq!(std::fs::read_link(dir.path().join("disk/by-id/a")).unwrap(), Path::new("../../sdb"));
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
