//! Roots on LVM: the seed's own CentOS 7 layout (an MBR disk, /boot on xfs, a PV holding VG
//! `centos` with LVs `root` (xfs) and `swap`), booted and broken into with its exact GRUB line,
//! and the faults dracut's rd.lvm rules and a missing PV give. The disks are made by the real
//! lvm2 tools (see `lvm_disk`).

use std::path::PathBuf;

use rdbreak_qemu_tests::assets::DracutVariant;
use rdbreak_qemu_tests::layouts::seed::{CMDLINE as SEED_CMDLINE, SWAP_UUID};
use rdbreak_qemu_tests::layouts::{self, root_hash as shadow_root_hash, seed::BOOT_UUID, seed::ROOT_UUID};
use rdbreak_qemu_tests::lvm_disk::{self, Placed};
use rdbreak_qemu_tests::{assets, disk, grub, Disk, Initrd, Scenario, Vm};

const PASSWORD: &str = "Rdbreak-Seed-CentOS-7!";

/// The seed's disk ([`layouts::seed_lvm`]) in the scenario's directory, and where its root LV is.
fn seed_disk(s: &Scenario) -> (PathBuf, Placed) {
    layouts::seed_lvm(s.dir(), layouts::seed_boot())
}

/// The seed's walk-through ([`Vm::password_reset`]) on the LV's xfs root, read-only until the
/// remount; then the real init runs from the LV.
fn password_reset(vm: &mut Vm) {
    let mounts = vm.password_reset(PASSWORD);
    assert!(mounts.contains(" on /sysroot type xfs (ro"), "the LV's xfs is the root, read-only: {mounts}");
}

fn seed_password_reset(name: &str, initrd: Initrd) {
    let s = Scenario::new(name).initrd(initrd);
    let (disk, root) = seed_disk(&s);
    let before = shadow_root_hash(&root);
    let mut vm = s.disk(Disk::virtio(&disk)).append(&format!("{SEED_CMDLINE} rd.break")).boot();
    password_reset(&mut vm);
    let t = vm.powered_off();
    assert!(t.contains("pid=1"), "the real init ran as PID 1");
    let after = shadow_root_hash(&root);
    assert_ne!(after, before, "the root password hash changed on the LV");
    assert!(after.starts_with("$y$") || after.starts_with("$6$"), "a real crypt hash: {after}");
    assert!(lvm_disk::read_file(&root, "/.autorelabel").is_some(), "/.autorelabel exists on the LV");
}

#[test]
fn seed_layout_password_reset_dracut_image() {
    seed_password_reset("seed_reset_dracut", Initrd::Dracut(rdbreak_qemu_tests::Modules::Plain));
}

#[test]
fn seed_layout_password_reset_rdbreak_build_image() {
    seed_password_reset("seed_reset_build", Initrd::rdbreak_build(&[]));
}

/// The seed's way in on the seed's own disk: GRUB in the MBR reads the xfs /boot partition
/// (`/grub2/grub.cfg`, the kernel and a `dracut -a rdbreak` image beside it, as CentOS 7 has
/// them) and shows CentOS's entry; at the menu, `e`, down to the `linux16` line, append
/// ` rd.break`, Ctrl-X; the password reset on the LV.
#[test]
fn seed_layout_grub_linux16_edit_then_password_reset() {
    let a = assets::get();
    let cfg = grub::serial_menu(
        "CentOS Linux (3.10.0-514.26.1.el7.x86_64) 7 (Core)",
        &[
            "insmod part_msdos",
            "insmod xfs",
            "set root='hd0,msdos1'",
            &format!("search --no-floppy --fs-uuid --set=root {BOOT_UUID}"),
            &format!("linux16 /vmlinuz-3.10.0-514.26.1.el7.x86_64 {SEED_CMDLINE} console=ttyS0 panic=-1"),
            "initrd16 /initramfs-3.10.0-514.26.1.el7.x86_64.img",
        ],
    );
    // The image as dracut ships it, compressed: GRUB reads it through the BIOS.
    let shipped = DracutVariant { compressed: true, ..Default::default() };
    let (kernel, initrd) = (a.kernel.clone(), a.dracut_image_variant(rdbreak_qemu_tests::Modules::Plain, shipped));
    let boot = layouts::seed_boot().customize(move |t| {
        t.file("vmlinuz-3.10.0-514.26.1.el7.x86_64", &std::fs::read(&kernel).expect("kernel"), 0o755);
        t.file("initramfs-3.10.0-514.26.1.el7.x86_64.img", &std::fs::read(&initrd).expect("initrd"), 0o600);
        disk::grub_files(t, "grub2", &cfg);
    });
    let s = Scenario::new("seed_grub").bios_boot();
    let (seed, root) = layouts::seed_lvm(s.dir(), boot);
    disk::grub_install_mbr(&seed, "(hd0,msdos1)/grub2", "xfs");
    let before = shadow_root_hash(&root);
    let mut vm = s.disk(Disk::virtio(&seed)).boot();
    vm.expect("CentOS Linux (3.10.0-514.26.1.el7.x86_64) 7 (Core)", 180);
    vm.grub_edit_and_boot("linux16 /vmlinuz-3.10.0-514.26.1.el7.x86_64", " rd.break");
    password_reset(&mut vm);
    // The entry has no rd.break: the prompt above came from the edit.
    let t = vm.powered_off();
    assert!(t.contains("pid=1"), "the real init ran as PID 1");
    assert_ne!(shadow_root_hash(&root), before, "the root password hash changed on the LV");
}

/// Without rd.break the seed's machine boots its real init from the LV, and the swap LV the
/// command line names is active too, with the links udev makes.
#[test]
fn seed_layout_plain_boot() {
    let s = Scenario::new("seed_plain");
    let (disk, _) = seed_disk(&s);
    let mut vm = s.disk(Disk::virtio(&disk)).append(&format!("{SEED_CMDLINE} rd.break=pre-pivot")).boot();
    let mut sh = vm.at_prompt("pre-pivot:/# ", 240);
    let links = sh.run("ls -l /dev/mapper /dev/centos /dev/disk/by-id");
    for l in
        ["centos-root -> ../dm-", "centos-swap -> ../dm-", "root -> ../dm-", "swap -> ../dm-", "dm-name-centos-root"]
    {
        assert!(links.contains(l), "{l} in {links}");
    }
    let blkid = sh.run("blkid");
    assert!(blkid.contains("/dev/vda2:") && blkid.contains("TYPE=\"LVM2_member\""), "{blkid}");
    assert!(blkid.contains(&format!("UUID=\"{SWAP_UUID}\"")), "the swap LV is probed: {blkid}");
    // The stack by hand, as a person repairing it would look at it.
    let lsblk = sh.run("lsblk");
    assert!(lsblk.contains("`-vda2") && lsblk.contains("  `-centos-root") && lsblk.contains(" lvm "), "{lsblk}");
    let pvs = sh.run("pvs");
    assert!(pvs.contains("/dev/vda2") && pvs.contains("centos"), "{pvs}");
    let lvs = sh.run("lvs");
    assert!(lvs.lines().any(|l| l.contains("root") && l.contains("centos") && l.contains("active")), "{lvs}");
    assert!(sh.run("vgscan").contains("Found volume group \"centos\" using metadata type lvm2"));
    assert!(sh.run("dmsetup ls").contains("centos-root"));
    let table = sh.run("dmsetup table centos-root");
    assert!(table.contains(" linear 254:2 "), "the root LV maps onto vda2: {table}");
    sh.continue_to_real_init();
}

/// `rd.lvm.lv=` naming only the swap LV: the root LV stays inactive, as with dracut, and the
/// failure says what was found.
#[test]
fn rd_lvm_lv_naming_another_lv_leaves_the_root_inactive() {
    let s = Scenario::new("lvm_other_lv");
    let (disk, _) = seed_disk(&s);
    let mut vm = s
        .disk(Disk::virtio(&disk))
        .append("root=/dev/mapper/centos-root ro rd.lvm.lv=centos/swap rd.retry=5 rd.info")
        .boot();
    vm.expect("activated LVM LV centos-swap", 240);
    let t = vm.expect("\"/dev/mapper/centos-root\" does not exist", 120);
    assert!(!t.contains("activated LVM LV centos-root"), "only the named LV is activated");
    vm.expect("TYPE=LVM2_member", 30);
    vm.at_prompt("dracut:/# ", 60).poweroff();
}

/// `rd.lvm=0`: LVM is left alone, and the console says so.
#[test]
fn rd_lvm_0_leaves_lvm_alone() {
    let s = Scenario::new("lvm_off");
    let (disk, _) = seed_disk(&s);
    let mut vm = s.disk(Disk::virtio(&disk)).append(&format!("{SEED_CMDLINE} rd.lvm=0 rd.retry=5")).boot();
    let t = vm.expect("\"/dev/mapper/centos-root\" does not exist", 240);
    assert!(!t.contains("activated LVM LV"), "nothing activated with rd.lvm=0");
    vm.expect("LVM PVs found, not activated: rd.lvm=0 is given", 30);
    vm.at_prompt("dracut:/# ", 60).poweroff();
}

/// Two whole-disk PVs with a striped root LV ([`layouts::striped_lvm`]); booted with both, and
/// refused by name with one.
fn striped(s: &Scenario) -> (PathBuf, PathBuf) {
    layouts::striped_lvm(s.dir())
}

#[test]
fn a_striped_lv_over_two_disks_is_the_root() {
    let s = Scenario::new("lvm_striped");
    let (a, b) = striped(&s);
    let mut vm = s
        .disk(Disk::virtio(&a))
        .disk(Disk::virtio(&b))
        .append(&format!("root=UUID={ROOT_UUID} ro rd.lvm.vg=data-vg rd.info rd.break"))
        .boot();
    vm.expect("activated LVM LV data--vg-root", 240);
    let mut sh = vm.at_prompt("switch_root:/# ", 60);
    let table = sh.run("ls -l /dev/data-vg /dev/mapper");
    assert!(table.contains("root -> ../dm-0") && table.contains("data--vg-root -> ../dm-0"), "{table}");
    sh.continue_to_real_init();
}

#[test]
fn a_vg_with_a_missing_pv_names_it() {
    let s = Scenario::new("lvm_missing_pv");
    let (a, _b) = striped(&s);
    let mut vm =
        s.disk(Disk::virtio(&a)).append(&format!("root=UUID={ROOT_UUID} ro rd.lvm.vg=data-vg rd.retry=5")).boot();
    vm.expect("Could not boot.", 240);
    vm.at_prompt("dracut:/# ", 60);
    let t = vm.transcript();
    assert!(t.contains("LV data-vg/root not activated: PV "), "{t}");
    assert!(t.contains("missing; LVM PVs seen: /dev/vda"), "{t}");
    vm.poweroff();
}

/// The harness itself: the seed's disk has its PV where MBR partition 2 is and the root LV
/// holds the recovery tree, before any VM sees it.
#[test]
fn the_seed_disk_is_made_by_lvm() {
    let s = Scenario::new("seed_disk");
    let (disk, root) = seed_disk(&s);
    let head = std::fs::read(&disk).expect("seed disk");
    let p2 = u64::from(u32::from_le_bytes(head[454 + 16..458 + 16].try_into().unwrap())) * 512;
    assert_eq!(&head[p2 as usize + 512..p2 as usize + 520], b"LABELONE", "the PV label is in sector 1 of p2");
    assert!(shadow_root_hash(&root).len() > 1, "the root LV holds /etc/shadow");
}

/// Hibernate to the seed's swap LV, and resume from it through rdbreak: the LV is activated,
/// then its image handed to the kernel before the root LV is mounted.
#[test]
fn a_hibernated_session_on_the_swap_lv_is_resumed() {
    let s = Scenario::new("seed_resume_prep");
    let (disk, _) = seed_disk(&s);
    let append = format!("{SEED_CMDLINE} resume=/dev/mapper/centos-swap");
    let mut vm = Scenario::new("seed_resume_sleep")
        .mem_mib(512)
        .disk(Disk::virtio(&disk))
        .append(&format!("{append} rdbreak_test=hibernate:/dev/mapper/centos-swap"))
        .boot();
    vm.expect("RDBREAK-TEST-INIT swapon /dev/mapper/centos-swap: Ok", 240);
    let t = vm.wait_exit(600);
    assert!(!t.contains("hibernation failed"), "{t}");
    let mut vm = Scenario::new("seed_resume_wake")
        .mem_mib(512)
        .disk(Disk::virtio(&disk))
        .append(&format!("{append} rd.info"))
        .boot();
    let t = vm.expect("RDBREAK-TEST-INIT resumed from hibernation", 600);
    assert!(t.contains("resume: restoring the hibernation image on /dev/dm-"), "{t}");
    assert!(!t.contains("Mounted root filesystem"), "the root LV was not mounted before the resume: {t}");
    vm.real_init_report(120);
    vm.powered_off();
}
