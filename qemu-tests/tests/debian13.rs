//! Today's dracut: Debian 13 (trixie) with dracut-ng 106, kernel 6.12 and systemd 257, the image
//! made by `dracut -a rdbreak` inside a real trixie tree, booting that tree as the root: the
//! seed's walk-through, a plain boot into systemd 257, and the hand-off to dracut's own
//! (systemd) init with `rd.rdbreak=0`.

use std::path::Path;

use rdbreak_qemu_tests::{disk, trixie, Disk, Initrd, Scenario};

const UUID: &str = "7a1d3c5e-2b4f-4e6a-9c8d-0f1e2d3c4b5a";
const PASSWORD: &str = "Rdbreak-Trixie-2026!";
/// What the root's own systemd logs once it runs as PID 1: the hostname of the Debian 13 tree
/// (an initramfs has none).
const REAL_SYSTEMD: &str = "Hostname set to <rdbreak-trixie>";

/// A Debian 13 machine: its kernel, its dracut's image with rdbreak, its root on a virtio disk.
fn machine(name: &str, append: &str) -> Scenario {
    let t = trixie::get();
    let s = Scenario::new(name).kernel(&t.kernel).initrd(Initrd::File(t.rdbreak_image())).mem_mib(1024);
    let root = t.root_disk(s.dir(), UUID);
    s.disk(Disk::virtio(&root)).append(&format!("root=UUID={UUID} ro {append}"))
}

fn root_hash(image: &Path) -> String {
    disk::ext4_settle(image);
    let shadow = disk::ext4_read(image, "/etc/shadow").expect("/etc/shadow on the disk");
    shadow.lines().find(|l| l.starts_with("root:")).and_then(|l| l.split(':').nth(1)).expect("root entry").to_string()
}

#[test]
fn debian13_walkthrough_then_systemd_257() {
    let s = machine("debian13_walkthrough", "rd.break");
    let before = root_hash(s.image(0));
    let mut vm = s.boot();
    vm.expect("rdbreak: rdbreak", 240);
    vm.expect("Break before switch_root", 240);
    let mut sh = vm.at_prompt("switch_root:/# ", 30);
    let modules = sh.run("lsmod");
    assert!(modules.contains("virtio_blk"), "6.12's modules (.ko.xz) loaded: {modules}");
    sh.password_reset_then_boot(PASSWORD);
    let t = vm.expect(REAL_SYSTEMD, 240);
    assert!(t.contains("systemd 257"), "Debian 13's systemd 257 is the real init");
    drop(vm);
    let after = root_hash(s.image(0));
    assert_ne!(after, before, "the root password changed on the Debian 13 disk");
    assert!(disk::ext4_read(s.image(0), "/.autorelabel").is_some());
}

#[test]
fn debian13_plain_boot_reaches_systemd_257() {
    let s = machine("debian13_plain", "");
    let mut vm = s.boot();
    vm.expect("rdbreak: rdbreak", 240);
    let t = vm.expect(REAL_SYSTEMD, 300);
    assert!(t.contains("rdbreak: Mounted root filesystem"), "rdbreak mounted the root itself:\n{t}");
    assert!(t.contains("systemd 257"), "Debian 13's systemd 257 is the real init:\n{t}");
    assert!(!t.contains("(Initramfs)"), "no dracut init ran:\n{t}");
}

#[test]
fn debian13_hands_off_to_dracut_106s_systemd() {
    let s = machine("debian13_handoff", "rd.rdbreak=0");
    let mut vm = s.boot();
    vm.expect("handing the boot to dracut's init", 240);
    // systemd 257 in dracut's image: "Booting initrd of dracut."
    vm.expect("Running in initrd.", 120);
    let t = vm.expect(REAL_SYSTEMD, 300);
    assert!(t.contains("Booting initrd of"), "dracut's systemd initrd ran:\n{t}");
}

#[test]
fn the_image_is_made_by_dracut_ng_106() {
    let v = trixie::get().dracut_version();
    assert!(v.starts_with("dracut 106"), "Debian 13's dracut: {v}");
}
