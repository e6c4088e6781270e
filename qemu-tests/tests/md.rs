//! Roots on MD RAID, assembled by rdbreak itself: a RAID1 with a 1.2 superblock over two disks
//! (password reset, plain boot, one disk missing), a 0.90 RAID1, LVM on a RAID1, the command
//! line leaving arrays alone (`rd.md=0`, another `rd.md.uuid=`), and the shell's `mdadm`. The
//! arrays are made by the real mdadm in the builder VM.

use std::path::{Path, PathBuf};

use rdbreak_qemu_tests::layouts::{self, md::ARRAY, md::ROOT_UUID, root_hash};
use rdbreak_qemu_tests::lvm_disk::Placed;
use rdbreak_qemu_tests::{Disk, Scenario, Vm};

const PASSWORD: &str = "Rdbreak-MD-Raid1!";

/// The RAID1 root ([`layouts::raid1`]): copies of the cached images in the scenario's directory.
fn raid1_root(s: &Scenario) -> Vec<PathBuf> {
    layouts::raid1().copy_to(s.dir())
}

/// Where a 1.2 member's data is.
fn data_of(member: &Path) -> Placed {
    layouts::md_data(member)
}

/// The seed's walk-through on the array; the new hash is on both mirrors afterwards.
fn reset_and_check(vm: &mut Vm, members: &[&Path], fs: impl Fn(&Path) -> Placed) {
    let before: Vec<String> = members.iter().map(|m| root_hash(&fs(m))).collect();
    let mounts = vm.password_reset(PASSWORD);
    assert!(mounts.contains(" on /sysroot type "), "{mounts}");
    let t = vm.powered_off();
    assert!(t.contains("pid=1"), "the real init ran as PID 1");
    for (m, before) in members.iter().zip(before) {
        let after = root_hash(&fs(m));
        assert_ne!(after, before, "the root password hash changed on {}", m.display());
        assert!(after.starts_with("$y$") || after.starts_with("$6$"), "a real crypt hash: {after}");
    }
}

#[test]
fn raid1_root_password_reset() {
    let s = Scenario::new("md_reset");
    let disks = raid1_root(&s);
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!("root=UUID={ROOT_UUID} ro rd.md.uuid={ARRAY} rd.break"))
        .boot();
    reset_and_check(&mut vm, &[&disks[0], &disks[1]], data_of);
}

/// Without rd.break the real init runs from the array, named as mdadm and udev name it.
#[test]
fn raid1_root_plain_boot() {
    let s = Scenario::new("md_plain");
    let disks = raid1_root(&s);
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!("root=/dev/md/seed:root ro rd.md.uuid={ARRAY} rd.info"))
        .boot();
    let t = vm.runs_real_init(240);
    assert!(t.contains("started /dev/md127 from md array seed:root (raid1, metadata 1.2"), "mdadm's first number: {t}");
}

/// One mirror gone: the array waits dracut's wait (2/3 of rd.retry), says which member is
/// missing, then starts degraded and boots.
#[test]
fn raid1_root_with_a_disk_missing_boots_degraded_after_the_wait() {
    let s = Scenario::new("md_degraded");
    let disks = raid1_root(&s);
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .append(&format!("root=UUID={ROOT_UUID} ro rd.md.uuid={ARRAY} rd.retry=15"))
        .boot();
    let t = vm.expect("then starting the array without it", 240);
    assert!(t.contains("md array seed:root") && t.contains("1 of 2 members (vda), degraded: slot 1 missing"), "{t}");
    vm.expect("starting it as /dev/md127 without the missing member", 60);
    vm.runs_real_init(120);
}

/// `rd.md=0`, and an `rd.md.uuid=` naming another array: the array stays unassembled and the
/// failure says why, listing the members as blkid would.
#[test]
fn the_command_line_leaves_the_array_alone_and_says_why() {
    for (name, arg, why) in [
        ("md_off", format!("rd.md=0 rd.md.uuid={ARRAY}"), "rd.md=0: MD RAID activation is off"),
        ("md_other_uuid", "rd.md.uuid=01010101:01010101:01010101:01010101".to_string(), "rd.md.uuid= does not name it"),
    ] {
        let s = Scenario::new(name);
        let disks = raid1_root(&s);
        let mut vm = s
            .disk(Disk::virtio(&disks[0]))
            .disk(Disk::virtio(&disks[1]))
            .append(&format!("root=UUID={ROOT_UUID} ro {arg} rd.retry=5"))
            .boot();
        vm.expect("Could not boot.", 240);
        vm.at_prompt("dracut:/# ", 60);
        let t = vm.transcript();
        assert!(t.contains(&format!("md array seed:root (raid1, metadata 1.2, UUID {ARRAY})")), "{name}: {t}");
        assert!(t.contains(why), "{name}: {t}");
        assert!(
            t.contains("TYPE=linux_raid_member UUID=1f2e3d4c-5b6a-7988-99aa-bbccddeeff00 LABEL=\"seed:root\""),
            "{t}"
        );
        assert!(!t.contains("started /dev/md"), "{name}: nothing assembled");
        vm.poweroff();
    }
}

/// At rd.break the shell shows and handles the array by hand: mdadm --detail and --examine,
/// /proc/mdstat, the stack in lsblk, blkid's member type; stop and assemble again.
#[test]
fn the_shell_shows_and_handles_the_array() {
    let s = Scenario::new("md_shell");
    let disks = raid1_root(&s);
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!("root=UUID={ROOT_UUID} ro rd.md.uuid={ARRAY} rd.break=pre-mount"))
        .boot();
    let mut sh = vm.at_prompt("pre-mount:/# ", 240);
    let mdstat = sh.run("cat /proc/mdstat");
    assert!(mdstat.contains("md127 : active") && mdstat.contains("raid1") && mdstat.contains("[UU]"), "{mdstat}");
    let detail = sh.run("mdadm --detail /dev/md127");
    for want in ["Raid Level : raid1", "Raid Devices : 2", "Name : seed:root", ARRAY, "/dev/vda", "/dev/vdb"] {
        assert!(detail.contains(want), "{want} in {detail}");
    }
    let examine = sh.run("mdadm --examine /dev/vda");
    assert!(examine.contains("Version : 1.2") && examine.contains("Device Role : Active device 0"), "{examine}");
    let lsblk = sh.run("lsblk");
    assert!(lsblk.contains("`-md127") && lsblk.contains(" raid1 "), "{lsblk}");
    let blkid = sh.run("blkid");
    assert!(blkid.contains("/dev/vda:") && blkid.contains("TYPE=\"linux_raid_member\""), "{blkid}");
    let links = sh.run("ls -l /dev/md /dev/disk/by-id");
    assert!(
        links.contains("seed:root -> ../md127") && links.contains(&format!("md-uuid-{ARRAY} -> ../../md127")),
        "{links}"
    );
    assert!(sh.run("mdadm --help").contains("--assemble --scan"));
    sh.run("mdadm --stop /dev/md127");
    assert!(!sh.run("cat /proc/mdstat").contains("md127 : active"), "stopped");
    let again = sh.run("mdadm --assemble --scan");
    assert!(again.contains("started"), "{again}");
    assert!(sh.run("cat /proc/mdstat").contains("md127 : active (auto-read-only) raid1"), "assembled again");
    sh.continue_to_real_init();
}

/// A 0.90 RAID1 (superblock at the end, data from sector 0): its members are not taken for the
/// ext4 they start with, and the array is md127 as mdadm numbers another host's array.
#[test]
fn raid1_0_90_root() {
    let s = Scenario::new("md_090");
    let disks = layouts::raid1_0_90().copy_to(s.dir());
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!("root=UUID={ROOT_UUID} ro rd.auto rd.info rd.break=pre-mount"))
        .boot();
    let mut sh = vm.at_prompt("pre-mount:/# ", 240);
    let blkid = sh.run("blkid");
    let ext4 = blkid.lines().filter(|l| l.contains(&format!("UUID=\"{ROOT_UUID}\""))).count();
    assert_eq!(ext4, 1, "only the array holds the root, not its members: {blkid}");
    assert!(blkid.contains("/dev/md127:"), "{blkid}");
    assert!(sh.run("cat /proc/mdstat").contains("md127 : active"), "");
    let t = sh.continue_to_real_init();
    assert!(t.contains("metadata 0.90"), "{t}");
}

/// LVM on MD: VG `vgmd` on the RAID1, its LV `root` holding the recovery tree; the seed's
/// password reset through both layers.
#[test]
fn lvm_on_raid1_password_reset() {
    let s = Scenario::new("md_lvm");
    let disks = layouts::lvm_on_raid1().copy_to(s.dir());
    // The LV's first extent: the PV's data start (its label, in sector 1 of the md data).
    let lv_of = |m: &Path| {
        let md = data_of(m);
        layouts::first_lv(m, md.offset, 300 << 20)
    };
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!("root=/dev/mapper/vgmd-root ro rd.md.uuid={ARRAY} rd.lvm.lv=vgmd/root rd.break"))
        .boot();
    reset_and_check(&mut vm, &[&disks[0], &disks[1]], lv_of);
}
