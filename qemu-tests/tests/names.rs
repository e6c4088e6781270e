//! The names udev gives disks (`/dev/disk/by-id/…`, `/dev/disk/by-path/…`): one machine with
//! disks on every bus, booted through stock dracut (which runs udev) and through rdbreak, and
//! the links compared; then `root=` given as such names, on each bus.

use std::collections::BTreeSet;
use std::path::PathBuf;

use rdbreak_qemu_tests::disk::{self, Part};
use rdbreak_qemu_tests::{Disk, Initrd, Interface, Modules, Root, Scenario};

const UUID: &str = "4d1c0b9e-2f3a-4b5c-8d6e-7f8091a2b3c4";
const PARTUUID: &str = "9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4";

/// The standard root tree in one GPT partition.
fn root_image(s: &Scenario, name: &str) -> PathBuf {
    Root::standard(UUID).label("root").gpt(PARTUUID, "root").build(s.dir(), name)
}

/// A small GPT disk with one (empty) partition, so each disk has a `-part1` name too.
fn data_disk(s: &Scenario, name: &str, i: usize) -> PathBuf {
    let part = s.blank_disk(&format!("{name}.part"), 2);
    let image = s.dir().join(format!("{name}.img"));
    disk::gpt_disk(
        &[Part { image: &part, partuuid: &format!("0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4{i:02}"), partlabel: name }],
        &image,
    );
    image
}

/// The machine: the root on the first SATA port, and disks on virtio, SATA, IDE (the first
/// channel's master), virtio-scsi and NVMe, with and without serial numbers.
fn machine(name: &str) -> Scenario {
    let s = Scenario::new(name);
    let root = root_image(&s, "root");
    let disks = [
        (Interface::Virtio, Some("vdata 1")),
        (Interface::Sata, None),
        (Interface::Ide, Some("IDE1")),
        (Interface::Scsi, Some("SCSI1")),
        (Interface::Scsi, None),
        (Interface::Nvme, Some("NVME1")),
    ];
    let images: Vec<PathBuf> = (0..disks.len()).map(|i| data_disk(&s, &format!("data{i}"), i)).collect();
    let mut s = s.disk(Disk::virtio(&root).on(Interface::Sata).serial("SATA ROOT"));
    for ((interface, serial), image) in disks.iter().zip(&images) {
        let d = Disk::virtio(image).on(*interface);
        s = s.disk(match serial {
            Some(serial) => d.serial(serial),
            None => d,
        });
    }
    s
}

/// The block devices the kernel will have made for [`machine`].
const BLOCKS: [&str; 14] =
    ["sda", "sda1", "sdb", "sdb1", "sdc", "sdc1", "sdd", "sdd1", "sde", "sde1", "vda", "vda1", "nvme0n1", "nvme0n1p1"];

/// The text without terminal escapes (bash's bracketed-paste switches around each command).
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // ESC [ parameters, then the final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `ls -l` of the two directories as (directory/name, target), whichever `ls` printed it.
fn parse_ls(out: &str) -> BTreeSet<(String, String)> {
    let mut dir = String::new();
    let mut links = BTreeSet::new();
    for line in plain(out).lines().map(str::trim) {
        if let Some(d) = line.strip_suffix(':').filter(|d| d.starts_with("/dev/disk/")) {
            dir = d.to_string();
        } else if let Some((left, target)) = line.split_once(" -> ") {
            let name = left.split_whitespace().last().unwrap_or_default();
            links.insert((format!("{dir}/{name}"), target.to_string()));
        }
    }
    links
}

/// The links with each target told by its device's (first) by-path name instead of its kernel
/// name: the two boots load the disk drivers in their own order, so `sda` of one can be `sdc`
/// of the other.
fn by_place(links: &BTreeSet<(String, String)>) -> BTreeSet<(String, String)> {
    let place = |target: &str| {
        links
            .iter()
            .filter(|(l, t)| t == target && l.starts_with("/dev/disk/by-path/"))
            .map(|(l, _)| l.clone())
            .min()
            .unwrap_or_else(|| format!("{target} (no by-path name)"))
    };
    links.iter().map(|(l, t)| (l.clone(), place(t))).collect()
}

/// Waits at the prompt until every disk of the machine is in sysfs (disks on slower buses are
/// still being probed when the root is found), then lists the links.
fn links_at(sh: &mut rdbreak_qemu_tests::Shell<'_>, before_listing: &str) -> BTreeSet<(String, String)> {
    for _ in 0..60 {
        let present = plain(&sh.run("ls /sys/class/block"));
        if BLOCKS.iter().all(|b| present.split_whitespace().any(|w| w == *b)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    if !before_listing.is_empty() {
        sh.run(before_listing);
    }
    parse_ls(&sh.run("ls -l /dev/disk/by-id /dev/disk/by-path"))
}

#[test]
fn rdbreak_names_every_disk_as_udev_does() {
    // The root by its udev path (the first SATA port): the first example of `man dracut.cmdline`.
    let root = "root=/dev/disk/by-path/pci-0000:00:02.0-ata-1.0-part1 ro rd.break";
    let s = machine("names_udev_and_rdbreak").initrd(Initrd::StockDracut { systemd: false }).append(root);
    let udev = {
        let mut vm = s.boot();
        let mut sh = vm.at_prompt("switch_root:/# ", 300);
        links_at(&mut sh, "")
        // Stock dracut's shell cannot power off without systemd: the machine is dropped.
    };
    assert!(udev.len() > 20, "stock dracut's udev made the links: {udev:?}");
    for expected in [
        "/dev/disk/by-id/ata-QEMU_HARDDISK_SATA_ROOT-part1",
        "/dev/disk/by-id/virtio-vdata_1",
        "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_SCSI1",
        "/dev/disk/by-path/pci-0000:00:01.1-ata-1.0",
    ] {
        assert!(udev.iter().any(|(l, _)| l == expected), "udev names {expected}: {udev:?}");
    }

    let s = s.initrd(Initrd::Dracut(Modules::Plain));
    let mut vm = s.boot();
    let mut sh = vm.at_prompt("switch_root:/# ", 300);
    // rdbreak makes links as it scans; `blkid` scans the disks probed after the root was found.
    let ours = links_at(&mut sh, "blkid");
    let (udev, ours) = (by_place(&udev), by_place(&ours));
    let missing: Vec<_> = udev.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&udev).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "udev's links rdbreak lacks: {missing:#?}\nlinks udev does not make: {extra:#?}"
    );
    let t = sh.continue_to_real_init();
    assert!(t.contains("RDBREAK-TEST-INIT pid=1"), "the root found by its path booted");
}

/// One boot with the root on `interface` as `name` (a link relative to /dev/disk).
fn boots_from(test: &str, interface: Interface, serial: &str, name: &str, dev: &str) {
    let s = Scenario::new(test);
    let root = root_image(&s, "root");
    let r = s
        .disk(Disk::virtio(&root).on(interface).serial(serial))
        .append(&format!("root=/dev/disk/{name} ro"))
        .boot()
        .report_then_power_off(240);
    r.assert_handover(dev);
}

#[test]
fn root_by_id_on_scsi() {
    boots_from("names_root_scsi", Interface::Scsi, "ROOT1", "by-id/scsi-0QEMU_QEMU_HARDDISK_ROOT1-part1", "/dev/sda1");
}

#[test]
fn root_by_id_on_ide() {
    boots_from("names_root_ide", Interface::Ide, "ROOT2", "by-id/ata-QEMU_HARDDISK_ROOT2-part1", "/dev/sda1");
}

#[test]
fn root_by_path_on_virtio() {
    boots_from("names_root_virtio", Interface::Virtio, "r", "by-path/pci-0000:00:02.0-part1", "/dev/vda1");
}

#[test]
fn root_by_id_on_nvme() {
    boots_from(
        "names_root_nvme",
        Interface::Nvme,
        "ROOT3",
        "by-id/nvme-QEMU_NVMe_Ctrl_ROOT3_1-part1",
        "/dev/nvme0n1p1",
    );
}
