//! The names udev gives every disk under `/dev/disk/by-id/` and `/dev/disk/by-path/`
//! (`ata-QEMU_HARDDISK_QM00001`, `virtio-SERIAL`, `nvme-…`, `scsi-…`, `wwn-0x…`, `usb-…`,
//! `pci-0000:00:1f.2-ata-1.0`, each with `-partN` on partitions), computed from sysfs as
//! systemd 252's `60-persistent-storage.rules` and its `path_id`, `ata_id`, `scsi_id` and
//! `usb_id` compute them, without udev and without sending a command to a disk. Pure: a sysfs
//! tree and a device name in, link names out; `devices` makes the links.

mod ata;
mod path_id;
mod scsi;
mod sysfs;
mod text;
mod usb;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sysfs::{Dev, Sysfs};
use text::{attr_nonempty, attr_subst, glob, replace_chars, symlink, sysnum, Part};

/// The devices the rules name at all (their first `KERNEL!=` test).
const KERNELS: &str = "loop*|mmcblk*[0-9]|msblk*[0-9]|mspblk*[0-9]|nvme*|sd*|sr*|vd*|xvd*|bcache*|cciss*|dasd*|ubd*|ubi*|scm*|pmem*|nbd*|zd*";

/// The by-id and by-path links of block device `name` (as in `/sys/class/block`), relative to
/// /dev (`disk/by-id/virtio-root`), in the order udev's rules add them. Empty for a device the
/// rules leave alone.
pub fn links(sysfs_root: &Path, name: &str) -> Vec<String> {
    Names::new(sysfs_root).map(|n| n.links(name)).unwrap_or_default()
}

/// One scan's naming: the sysfs lookups and each disk's names are shared by its partitions and
/// its neighbours.
pub struct Names {
    sys: Sysfs,
    disks: RefCell<HashMap<PathBuf, Rc<Vec<Stem>>>>,
}

impl Names {
    pub fn new(sysfs_root: &Path) -> Option<Names> {
        Some(Names { sys: Sysfs::new(sysfs_root)?, disks: RefCell::default() })
    }

    /// [`links`] of one device.
    pub fn links(&self, name: &str) -> Vec<String> {
        let sys = &self.sys;
        let Some(dev) = sys.class_dev("block", name) else { return Vec::new() };
        let kernel = dev.sysname();
        // A partition that spans the whole disk is the disk again.
        if !glob(KERNELS, &kernel) || dev.has("whole_disk") {
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        match dev.devtype().as_deref() {
            Some("disk") => out.extend(self.disk(&dev).iter().map(|s| s.link.clone())),
            Some("partition") => {
                // A partition has its disk's names (IMPORT{parent}), with `-partN`.
                let (Some(disk), Some(n)) = (sys.parent(&dev), sysnum(&kernel)) else { return Vec::new() };
                for stem in self.disk(&disk).iter() {
                    if stem.partitions.is_some_and(|p| glob(p, &kernel)) {
                        if let Some(l) = symlink(&[Part::Text(&stem.link), Part::Text("-part"), Part::Text(n)]) {
                            out.push(l);
                        }
                    }
                }
            }
            _ => {}
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|l| seen.insert(l.clone()));
        out
    }

    fn disk(&self, disk: &Dev) -> Rc<Vec<Stem>> {
        if let Some(v) = self.disks.borrow().get(disk.path()) {
            return v.clone();
        }
        let v = Rc::new(disk_names(&self.sys, disk));
        self.disks.borrow_mut().insert(disk.path().to_path_buf(), v.clone());
        v
    }
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): every parser of the room on any bytes, udev's
/// string rules, the IDENTIFY words, the VPD pages; never panics.
pub fn fuzz_one(data: &[u8]) {
    let _ = (text::replace_whitespace(data, 40), text::replace_chars(data, b"/ "), text::attr_subst(data));
    let _ = symlink(&[Part::Text("disk/by-id/x-"), Part::Value(data)]);
    let text = String::from_utf8_lossy(data);
    let _ = (glob(&text, "sda1"), glob("sd*[!0-9]|sr*", &text), sysnum(&text));
    if let Some(words) = ata::parse_words(data) {
        let _ = ata::from_identify(&words);
    }
    let mut words = [0u16; 256];
    for (w, pair) in words.iter_mut().zip(data.chunks(2)) {
        *w = u16::from_le_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
    }
    let _ = ata::from_identify(&words);
    scsi::parse_pages(data);
}

/// A disk's link, and which of its partitions (by their KERNEL pattern) get it with `-partN`.
struct Stem {
    link: String,
    partitions: Option<&'static str>,
}

/// The rules' `ATTRS{name}=="?*"` (on the first of the chain that `on` accepts) and then
/// `$attr{name}`, which reads the device's own attribute first.
fn attrs(chain: &[Dev], name: &str, on: impl Fn(&Dev) -> bool) -> Option<Vec<u8>> {
    let matched = chain.iter().find(|d| on(d) && d.attr(name).is_some_and(|v| attr_nonempty(&v)))?;
    let raw = chain.first().and_then(|d| d.attr(name)).or_else(|| matched.attr(name))?;
    attr_subst(&raw)
}

fn any(_: &Dev) -> bool {
    true
}

fn in_subsystem(s: &'static str) -> impl Fn(&Dev) -> bool {
    move |d| d.subsystem().as_deref() == Some(s)
}

/// An attribute matched as the rules do (`ATTRS{vendor}=="ATA"`): trailing whitespace ignored.
fn attr_is(d: &Dev, name: &str, pattern: &str) -> bool {
    d.attr(name).is_some_and(|v| {
        let v = text::c_str(&v);
        let end = v.iter().rposition(|c| !b" \t\n\r".contains(c)).map_or(0, |p| p + 1);
        std::str::from_utf8(&v[..end]).is_ok_and(|v| glob(pattern, v))
    })
}

/// What the identification programs left for the link rules of an `sd*`/`sr*` disk.
#[derive(Default)]
struct Ids {
    bus: Option<&'static str>,
    serial: Option<Vec<u8>>,
    usb_serial: Option<Vec<u8>>,
    wwn: Option<String>,
}

/// `ata_id`, `usb_id` and `scsi_id` in the rules' order, each only while no serial is known.
fn scsi_ids(sys: &Sysfs, disk: &Dev, chain: &[Dev]) -> Ids {
    let mut ids = Ids::default();
    let scsi_dev = sys.parent_with(disk, "scsi", Some("scsi_device"));
    let is_scsi = in_subsystem("scsi");
    let ata_rule = chain.iter().any(|d| is_scsi(d) && attr_is(d, "vendor", "ATA"));
    let atapi_rule = chain.iter().any(|d| is_scsi(d) && attr_is(d, "type", "5") && attr_is(d, "scsi_level", "[6-9]*"));
    let on_usb = chain.iter().any(in_subsystem("usb"));
    let usb_disk_rule = attr_is(disk, "removable", "0") && on_usb;
    for rule in [ata_rule, atapi_rule, usb_disk_rule] {
        if rule && ids.serial.is_none() {
            if let Some(a) = scsi_dev.as_ref().and_then(|s| ata::ata_id(sys, s)) {
                ids.bus = Some("ata");
                ids.serial = Some(a.serial).filter(|s| !s.is_empty());
                ids.wwn = a.wwn;
            }
        }
    }
    if on_usb {
        if let Some(u) = usb::usb_serial(sys, disk) {
            if ids.bus.is_none() {
                ids.bus = Some("usb");
                ids.serial = Some(u.clone());
            }
            ids.usb_serial = Some(u);
        }
    }
    if ids.serial.is_none() {
        if let Some(s) = scsi_dev.as_ref().and_then(scsi::scsi_id) {
            ids.serial = s.serial;
            if s.wwn.is_some() {
                ids.wwn = s.wwn;
            }
            ids.bus = Some("scsi");
        }
    }
    ids
}

/// The by-id and by-path names of a whole disk, in rule order.
fn disk_names(sys: &Sysfs, disk: &Dev) -> Vec<Stem> {
    use Part::{Text, Value};
    let k = disk.sysname();
    let chain = sys.chain(disk);
    let mut v = Vec::new();
    let mut add = |parts: &[Part<'_>], partitions: Option<&'static str>| {
        if let Some(link) = symlink(parts) {
            v.push(Stem { link, partitions });
        }
    };
    let mut wwn = None;

    if glob("nvme*[0-9]n*[0-9]", &k) {
        let part = Some("nvme*[0-9]n*[0-9]p*[0-9]");
        let wwid = disk.attr("wwid").filter(|w| attr_nonempty(w)).and_then(|w| attr_subst(&w));
        if let Some(w) = &wwid {
            add(&[Text("disk/by-id/nvme-"), Value(w)], part);
        }
        // The controller's model and serial, the namespace's number: MODEL_SERIAL and
        // MODEL_SERIAL_NSID, with string_escape=replace (spaces become underscores).
        let (model, serial, nsid) =
            (attrs(&chain, "model", any), attrs(&chain, "serial", any), attrs(&chain, "nsid", any));
        if let (Some(m), Some(s)) = (&model, &serial) {
            add(&[Text("disk/by-id/nvme-"), Value(&replace_chars(&[m, &b"_"[..], s].concat(), b""))], part);
            if let Some(n) = &nsid {
                let id = replace_chars(&[m, &b"_"[..], s, b"_", n].concat(), b"");
                add(&[Text("disk/by-id/nvme-"), Value(&id)], part);
            }
        }
    }

    if glob("vd*[!0-9]", &k) {
        if let Some(s) = attrs(&chain, "serial", any) {
            add(&[Text("disk/by-id/virtio-"), Value(&s)], Some("vd*[0-9]"));
        }
    }

    if glob("sd*[!0-9]|sr*", &k) {
        let ids = scsi_ids(sys, disk, &chain);
        if let Some(s) = &ids.serial {
            add(
                &[Text("disk/by-id/"), Value(ids.bus.unwrap_or_default().as_bytes()), Text("-"), Value(s)],
                Some("sd*|cciss*"),
            );
        }
        if let Some(u) = &ids.usb_serial {
            add(&[Text("disk/by-id/usb-"), Value(u)], Some("sd*|cciss*"));
        }
        wwn = ids.wwn;
    }

    if glob("pmem*", &k) {
        if let Some(u) = attrs(&chain, "uuid", any) {
            add(&[Text("disk/by-id/pmem-"), Value(&u)], None);
        }
    }
    // Only FireWire's SBP-2 disks have the attribute: the walk is skipped for the others.
    if glob("sd*[!0-9]|sr*", &k) && chain.iter().any(in_subsystem("firewire")) {
        if let Some(id) = attrs(&chain, "ieee1394_id", any) {
            add(&[Text("disk/by-id/ieee1394-"), Value(&id)], Some("sd*[0-9]"));
        }
    }
    if glob("mmcblk[0-9]", &k) {
        let mmc = in_subsystem("mmc");
        if let (Some(s), Some(n)) = (attrs(&chain, "serial", &mmc), attrs(&chain, "name", &mmc)) {
            add(&[Text("disk/by-id/mmc-"), Value(&n), Text("_"), Value(&s)], Some("mmcblk[0-9]p[0-9]*"));
        }
    }
    if glob("msblk[0-9]|mspblk[0-9]", &k) {
        let on = |d: &Dev| in_subsystem("memstick")(d) && d.attr("name").is_some_and(|v| attr_nonempty(&v));
        if let (Some(n), Some(s)) = (attrs(&chain, "name", on), attrs(&chain, "serial", on)) {
            add(
                &[Text("disk/by-id/memstick-"), Value(&n), Text("_"), Value(&s)],
                Some("msblk[0-9]p[0-9]|mspblk[0-9]p[0-9]"),
            );
        }
    }

    let virtual_dev = glob("*/virtual/*", disk.syspath().trim_start_matches("/sys"));
    if !virtual_dev || chain.iter().any(in_subsystem("nvme-subsystem")) {
        if let Some(p) = path_id::path_id(sys, disk) {
            if glob("mmcblk[0-9]boot[0-9]", &k) {
                let n = sysnum(&k).unwrap_or_default();
                add(&[Text("disk/by-path/"), Value(p.path.as_bytes()), Text("-boot"), Value(n.as_bytes())], None);
            } else {
                add(&[Text("disk/by-path/"), Value(p.path.as_bytes())], Some("*"));
                if let Some(c) = &p.ata_compat {
                    add(&[Text("disk/by-path/"), Value(c.as_bytes())], Some("*"));
                }
            }
            if glob("vd*[!0-9]", &k) && p.path.starts_with("pci-") {
                add(&[Text("disk/by-path/virtio-"), Value(p.path.as_bytes())], Some("vd*[0-9]"));
            }
        }
    }

    if let Some(w) = &wwn {
        add(&[Text("disk/by-id/wwn-"), Value(w.as_bytes())], Some("*"));
    }
    v
}
