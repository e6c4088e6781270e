//! The by-id and by-path links rdbreak makes on a sysfs tree recorded from a VM, against the
//! links udev (systemd 252, in stock dracut's image) made on that VM.
//!
//! `data/names-pc.txt` is QEMU's pc machine with disks on virtio-blk, AHCI and PIIX IDE (master
//! and slave), virtio-scsi, NVMe and USB storage, with and without serial numbers, each with a
//! GPT partition, recorded at stock dracut's `rd.break` shell: `D path` a directory, `F path hex`
//! a file, `L path target` a symlink of sysfs; `U name` a block device; `K link target` a link
//! udev made.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rdbreak_init::devices;

/// Links (name, target) by the device they lead to.
type Links = BTreeMap<String, BTreeSet<(String, String)>>;

/// Builds the recorded tree under `dir`; returns udev's links and the block devices recorded.
fn materialize(dir: &Path, recording: &str) -> (Links, Vec<String>) {
    let at = |p: &str| dir.join(p.strip_prefix("/sys/").expect("a /sys path"));
    let lines: Vec<Vec<&str>> = recording.lines().map(|l| l.splitn(3, ' ').collect()).collect();
    for l in &lines {
        if let ["D", p] = l[..] {
            std::fs::create_dir_all(at(p)).unwrap();
        }
    }
    let (mut udev, mut blocks) = (Links::new(), Vec::new());
    for l in &lines {
        match l[..] {
            ["F", p, hex] => {
                let bytes: Vec<u8> =
                    (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
                std::fs::create_dir_all(at(p).parent().unwrap()).unwrap();
                std::fs::write(at(p), bytes).unwrap();
            }
            ["L", p, target] => {
                std::fs::create_dir_all(at(p).parent().unwrap()).unwrap();
                let _ = std::os::unix::fs::symlink(target, at(p));
            }
            ["K", link, target] => {
                let dev = target.rsplit('/').next().unwrap().to_string();
                let link = link.strip_prefix("/dev/").unwrap().to_string();
                udev.entry(dev).or_default().insert((link, target.to_string()));
            }
            ["U", name] => blocks.push(name.to_string()),
            _ => {}
        }
    }
    (udev, blocks)
}

fn by_id_or_path(l: &str) -> bool {
    l.starts_with("disk/by-id/") || l.starts_with("disk/by-path/")
}

#[test]
fn a_pc_with_every_kind_of_disk_gets_udevs_names() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    let (udev, blocks) = materialize(&sys, include_str!("data/names-pc.txt"));
    let devs = devices::list(&sys);
    assert_eq!(devs.iter().map(|d| d.name.clone()).collect::<BTreeSet<_>>(), blocks.iter().cloned().collect());

    // Each device claims what udev's rules give it. The master and the slave of an IDE channel
    // both claim the old `…-ata-1` name; udev gave it to one of them.
    let shared = "disk/by-path/pci-0000:00:01.1-ata-1";
    for d in &devs {
        let ours: BTreeSet<(String, String)> =
            devices::links(d).into_iter().filter(|(l, _)| by_id_or_path(l)).collect();
        let mut theirs = udev.get(&d.name).cloned().unwrap_or_default();
        if d.name.starts_with("sdb") {
            let part = d.name.strip_prefix("sdb").unwrap_or_default();
            let suffix = if part.is_empty() { String::new() } else { format!("-part{part}") };
            theirs.insert((format!("{shared}{suffix}"), format!("../../{}", d.name)));
        }
        assert_eq!(ours, theirs, "/dev/{}: rdbreak's links (left) against udev's (right)", d.name);
    }

    // Made under /dev, the links are udev's, the shared one going to the master as udev's did.
    let dev = dir.path().join("dev");
    devices::create_links(&devs, &dev);
    let mut made = BTreeSet::new();
    for kind in ["disk/by-id", "disk/by-path"] {
        for e in std::fs::read_dir(dev.join(kind)).unwrap().flatten() {
            let target = std::fs::read_link(e.path()).unwrap().display().to_string();
            made.insert((format!("{kind}/{}", e.file_name().to_string_lossy()), target));
        }
    }
    let all: BTreeSet<(String, String)> = udev.values().flatten().cloned().collect();
    assert_eq!(made, all);
    assert!(all.len() > 40, "the recording holds udev's links ({})", all.len());
}
