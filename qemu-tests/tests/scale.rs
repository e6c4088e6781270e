//! At scale, for correctness: many SCSI disks with the root on the last, a VG of 200 LVs of
//! which only the root is asked for, an MD RAID10 of 16 members, 100 partitions on one GPT disk.
//! Each boots to the `rd.break` prompt, shows there that the scan saw everything it should (and
//! assembled nothing it was not asked for), then `exit` reaches the real init. The sizes are
//! small enough for CI; the bench (`rdbreak-bench --suites scale`) times larger ones.

use rdbreak_qemu_tests::layouts::{self, scale};
use rdbreak_qemu_tests::{Disk, Interface, Scenario, Shell};

/// The names `ls DIR` printed at the prompt.
fn listing(sh: &mut Shell<'_>, dir: &str) -> Vec<String> {
    sh.run(&format!("ls {dir}")).split_whitespace().map(str::to_string).collect()
}

/// The bare `rd.break` prompt: the root is mounted at /sysroot from `dev_hint` (a substring of
/// `mount`'s line for it).
fn at_break<'v>(vm: &'v mut rdbreak_qemu_tests::Vm, dev_hint: &str) -> Shell<'v> {
    vm.expect("Break before switch_root", 300);
    let mut sh = vm.at_prompt("switch_root:/# ", 60);
    let mounts = sh.run("mount");
    let line = mounts.lines().find(|l| l.contains(" on /sysroot ")).unwrap_or_else(|| panic!("no root: {mounts}"));
    assert!(line.contains(dev_hint), "the root from {dev_hint}: {line}");
    sh
}

/// 31 blank disks on one virtio-scsi controller, the root on the 32nd (the last target the
/// controller's scan finds), named by its by-id link: every disk is seen, once, and the root is
/// the one with the serial.
#[test]
fn thirty_two_scsi_disks_root_on_the_last() {
    let s = Scenario::new("scale_scsi_32");
    let blanks = layouts::blank_disks(s.dir(), 31, 8);
    let root = layouts::scale_root().build(s.dir(), "root");
    let mut s = s;
    for b in &blanks {
        s = s.disk(Disk::virtio(b).on(Interface::Scsi));
    }
    let by_id = format!("scsi-0QEMU_QEMU_HARDDISK_{}", scale::ROOT_SERIAL);
    let mut vm = s
        .disk(Disk::virtio(&root).on(Interface::Scsi).serial(scale::ROOT_SERIAL))
        .append(&format!("root=/dev/disk/by-id/{by_id} ro rd.break"))
        .boot();
    let mut sh = at_break(&mut vm, "/dev/sd");
    // The root was found before the controller's scan ended, perhaps (it goes on in the
    // background): within seconds the kernel has every disk, and a scan (`blkid`) names them.
    let mut blocks = Vec::new();
    for _ in 0..30 {
        blocks = listing(&mut sh, "/sys/class/block");
        if blocks.iter().filter(|b| b.starts_with("sd")).count() >= 32 {
            break;
        }
        sh.run("sleep 1");
    }
    assert_eq!(blocks.iter().filter(|b| b.starts_with("sd")).count(), 32, "every SCSI disk: {blocks:?}");
    sh.run_within("blkid >/dev/null", 60);
    let ids = listing(&mut sh, "/dev/disk/by-id");
    let scsi: Vec<&String> = ids.iter().filter(|i| i.starts_with("scsi-0QEMU_QEMU_HARDDISK_")).collect();
    assert_eq!(scsi.len(), 32, "a by-id link for each disk: {ids:?}");
    assert!(ids.contains(&by_id), "{ids:?}");
    let target = |out: String| out.rsplit("-> ").next().unwrap_or("").trim().to_string();
    let uuid = target(sh.run(&format!("ls -l /dev/disk/by-uuid/{}", scale::ROOT_UUID)));
    let id = target(sh.run(&format!("ls -l /dev/disk/by-id/{by_id}")));
    assert!(uuid.contains("sd") && uuid == id, "the UUID and the serial name one disk: {uuid} {id}");
    drop(sh);
    vm.continue_to_real_init();
}

/// A VG of 200 LVs with only `rd.lvm.lv=bigvg/root` on the line: the root LV is mapped, the 199
/// others are not (dracut's rule: only what is asked for), and the boot reaches the real init.
#[test]
fn vg_of_200_lvs_maps_only_the_root() {
    let s = Scenario::new("scale_lvs_200");
    let disk = layouts::many_lvs(s.dir(), 200);
    let vg = scale::VG;
    let mut vm = s
        .disk(Disk::virtio(&disk))
        .append(&format!("root=/dev/mapper/{vg}-root ro rd.lvm.lv={vg}/root rd.break"))
        .boot();
    let mut sh = at_break(&mut vm, "/dev/dm-0");
    let mapped = listing(&mut sh, "/dev/mapper");
    assert_eq!(mapped, ["bigvg-root", "control"], "only the root LV is mapped");
    let lvs = sh.run_within("lvs", 60);
    let rows: Vec<&str> = lvs.lines().filter(|l| l.contains(" bigvg ")).collect();
    assert_eq!(rows.len(), 200, "the shell's lvs lists all 200: {lvs}");
    let active: Vec<&&str> = rows.iter().filter(|l| l.contains(" active ")).collect();
    assert!(active.len() == 1 && active[0].trim_start().starts_with("root "), "only root is active: {active:?}");
    drop(sh);
    vm.continue_to_real_init();
}

/// An MD RAID10 over 16 whole disks: assembled with all 16 members once every one is there.
#[test]
fn raid10_of_16_members() {
    let s = Scenario::new("scale_md_16");
    let members = layouts::wide_raid10().copy_to(s.dir());
    assert_eq!(members.len(), 16);
    let mut s = s;
    for m in &members {
        s = s.disk(Disk::virtio(m));
    }
    let mut vm = s.append(&format!("root=UUID={} ro rd.md.uuid={} rd.break", scale::ROOT_UUID, scale::ARRAY)).boot();
    let mut sh = at_break(&mut vm, "/dev/md");
    let mdstat = sh.run("cat /proc/mdstat");
    assert!(mdstat.contains("raid10") && mdstat.contains("[16/16]"), "all 16 members: {mdstat}");
    drop(sh);
    vm.continue_to_real_init();
}

/// 100 partitions on one GPT disk, the root the last: each partition gets its device and its
/// by-partlabel link, and the root is found by PARTUUID.
#[test]
fn gpt_with_100_partitions_root_on_the_last() {
    let s = Scenario::new("scale_gpt_100");
    let disk = layouts::many_partitions(s.dir(), 100);
    let mut vm = s.disk(Disk::virtio(&disk)).append(&format!("root=PARTUUID={} ro rd.break", scale::PARTUUID)).boot();
    let mut sh = at_break(&mut vm, "/dev/vda100");
    let blocks = listing(&mut sh, "/sys/class/block");
    assert_eq!(blocks.iter().filter(|b| b.starts_with("vda") && *b != "vda").count(), 100, "{blocks:?}");
    let labels = listing(&mut sh, "/dev/disk/by-partlabel");
    assert_eq!(labels.len(), 100, "a link per partition: {labels:?}");
    assert!(labels.iter().any(|l| l == "p99") && labels.iter().any(|l| l == "root"), "{labels:?}");
    drop(sh);
    vm.continue_to_real_init();
}
