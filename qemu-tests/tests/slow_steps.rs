//! Stacks whose assembly takes a while, on q35 machines with SATA disks, as stock dracut boots
//! them: rd.retry counts the time spent waiting for devices, not the time spent working on them
//! (a degraded array started, a keyslot opened, the image's `lvm` run), and every device a step
//! made is looked at before giving up; crypttab lines match the container under any name udev
//! gives its device.

use std::path::PathBuf;

use rdbreak_qemu_tests::layouts::{self, luks};
use rdbreak_qemu_tests::{builder, Disk, Initrd, Interface, Scenario};

const PASSWORD: &str = "Rdbreak-Slow-Steps-2026!";

/// A q35 machine (AHCI for the SATA disks).
fn q35(name: &str) -> Scenario {
    Scenario::new(name).qemu_args(&["-machine", "q35"]).mem_mib(1024)
}

/// `rdbreak build` with the key file and a crypttab naming it.
fn image_with_key(s: &Scenario, crypttab: &str) -> Initrd {
    let key = s.dir().join("root.key");
    std::fs::write(&key, luks::KEYFILE).expect("write the key file");
    let tab = s.dir().join("crypttab");
    std::fs::write(&tab, crypttab).expect("write the crypttab");
    Initrd::RdbreakBuild(vec![
        "--file".into(),
        format!("{}:/etc/luks.key", key.display()),
        "--file".into(),
        format!("{}:/etc/crypttab", tab.display()),
    ])
}

/// LVM in LUKS on a RAID5 with one member missing, the key file's keyslot slow: the array
/// starts degraded after dracut's wait, the keyslot takes seconds, then the LVs on the new
/// mapping are found, all within `rd.retry=10` of waiting.
fn degraded_raid5(name: &str, append: &str) -> (Scenario, Vec<PathBuf>) {
    let s = q35(name);
    let disks = layouts::lvm_in_luks_on_raid5().copy_to(s.dir());
    let initrd = image_with_key(&s, &format!("cryptroot UUID={} /etc/luks.key\n", luks::LUKS_UUID));
    let s = s
        .initrd(initrd)
        .disk(Disk::virtio(&disks[0]).on(Interface::Sata).serial("R5A"))
        .disk(Disk::virtio(&disks[1]).on(Interface::Sata).serial("R5B"))
        .append(&format!("root=LABEL=root rw rd.auto rd.retry=10 {append}"));
    (s, disks)
}

#[test]
fn lvm_in_luks_on_a_degraded_raid5_with_a_slow_keyslot_boots() {
    let (s, _) = degraded_raid5("slow_raid5_luks_lvm", "rd.info");
    let mut vm = s.boot();
    let t = vm.real_init_pid1(600);
    assert!(t.contains("without it"), "the array was started degraded:\n{t}");
    assert!(t.contains("cryptroot"), "the container was opened with crypttab's key file:\n{t}");
    assert!(!t.contains("Please enter passphrase"), "no prompt: the key file opens it:\n{t}");
    vm.powered_off();
}

#[test]
fn the_same_stack_breaks_and_the_walkthrough_passes() {
    let (s, _) = degraded_raid5("slow_raid5_luks_lvm_break", "rd.break");
    let mut vm = s.boot();
    vm.expect("Break before switch_root", 600);
    let mut sh = vm.at_prompt("switch_root:/# ", 60);
    let mounts = sh.run("mount");
    assert!(mounts.contains(" on /sysroot type ext4 (rw"), "the LV in the container on the degraded array: {mounts}");
    sh.password_reset(PASSWORD);
    vm.powered_off();
}

/// The image's crypttab names the container by its SATA disk's by-id link, with a key file, and
/// the command line names it `luks-UUID`: the key file opens it, no prompt.
#[test]
fn a_crypttab_line_naming_the_disk_by_id_gives_its_key_file() {
    let s = q35("crypttab_by_id");
    let disk = layouts::lvm_on_luks(luks::ARGON2).copy_to(s.dir()).remove(0);
    // The host's keyslot is the one a key file opens here.
    let key = s.dir().join("host.key");
    std::fs::write(&key, luks::HOST_KEY).expect("write the key file");
    let tab = s.dir().join("crypttab");
    let uuid = luks::LUKS_UUID;
    std::fs::write(&tab, format!("luks-{uuid} /dev/disk/by-id/ata-QEMU_HARDDISK_disk1 /etc/key timeout=0\n"))
        .expect("write the crypttab");
    let initrd = Initrd::RdbreakBuild(vec![
        "--file".into(),
        format!("{}:/etc/key", key.display()),
        "--file".into(),
        format!("{}:/etc/crypttab", tab.display()),
    ]);
    let mut vm = s
        .initrd(initrd)
        .disk(Disk::virtio(&disk).on(Interface::Sata).serial("disk1"))
        .append(&format!("root=/dev/vgubuntu/root ro rd.luks.uuid=luks-{uuid} rd.lvm.lv=vgubuntu/root rd.break"))
        .boot();
    let (i, t) = vm.expect_any(&["Break before switch_root", "Please enter passphrase"], 300);
    assert_eq!(i, 0, "the key file of the by-id line opened it, no prompt:\n{t}");
    let mut sh = vm.at_prompt("switch_root:/# ", 60);
    let mapped = sh.run("dmsetup ls");
    assert!(mapped.contains(&format!("luks-{uuid}")), "named as the line says: {mapped}");
    sh.password_reset(PASSWORD);
    vm.powered_off();
}

/// A thin root is lvm2's: the image's `lvm` takes seconds under emulation, yet `rd.retry=3` is
/// three seconds of waiting, and the LV it made is found by `root=/dev/VG/LV`.
#[test]
fn a_thin_root_made_by_the_images_lvm_within_a_short_retry() {
    let s = q35("thin_short_retry");
    let disk = layouts::lvm_thin().copy_to(s.dir()).remove(0);
    let mut options = vec!["--modules".to_string(), "dm_thin_pool".to_string()];
    for f in builder::tool_files(&["lvm"]) {
        options.push("--file".into());
        options.push(f);
    }
    let mut vm = s
        .initrd(Initrd::RdbreakBuild(options))
        .disk(Disk::virtio(&disk).on(Interface::Sata))
        .append("root=/dev/tvg/root rw rd.auto=1 rd.retry=3")
        .boot();
    let t = vm.real_init_pid1(600);
    assert!(t.contains("lvm activated LV tvg/root") || t.contains("tvg/root"), "{t}");
    vm.powered_off();
}
