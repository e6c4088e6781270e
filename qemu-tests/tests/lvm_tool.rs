//! LVs rdbreak does not map itself are lvm2's: a root on a thin LV (made by the real lvm2 in the
//! builder VM) boots when the image has lvm2's `lvm` (as dracut's lvm module installs it), and
//! without it the failure names the LV and its type.

use std::path::PathBuf;

use rdbreak_qemu_tests::{builder, layouts, Disk, Initrd, Scenario};

/// [`layouts::lvm_thin`]: a thin LV `tvg/root` holding the standard tree. Each scenario boots
/// its own copy: QEMU locks the image it writes to.
fn thin_disk(s: &Scenario) -> PathBuf {
    layouts::lvm_thin().copy_to(s.dir()).remove(0)
}

/// `rdbreak build` with lvm2's binary and its libraries, and the thin target's module.
fn with_lvm() -> Initrd {
    let mut options = vec!["--modules".to_string(), "dm_thin_pool".to_string()];
    for f in builder::tool_files(&["lvm"]) {
        options.push("--file".into());
        options.push(f);
    }
    Initrd::RdbreakBuild(options)
}

#[test]
fn a_thin_root_is_activated_by_the_images_lvm() {
    let s = Scenario::new("lvm_thin_with_tool").initrd(with_lvm());
    let disk = thin_disk(&s);
    let mut vm = s.disk(Disk::virtio(&disk)).append("root=/dev/tvg/root ro rd.lvm.lv=tvg/root rd.info rd.break").boot();
    vm.expect("lvm activated LV tvg/root as tvg-root", 300);
    let mut sh = vm.at_prompt("switch_root:/# ", 120);
    let mounts = sh.run("mount");
    assert!(mounts.contains(" on /sysroot type ext4 (ro"), "the thin LV is the root: {mounts}");
    let table = sh.run("dmsetup table tvg-root");
    assert!(table.contains(" thin "), "lvm2 loaded a thin table: {table}");
    let links = sh.run("ls -l /dev/tvg /dev/mapper");
    assert!(links.contains("root -> ../dm-") && links.contains("tvg-root -> ../dm-"), "udev's links: {links}");
    let t = sh.continue_to_real_init();
    assert!(t.contains("RDBREAK-TEST-INIT pid=1"), "the thin root booted");
}

#[test]
fn a_thin_root_without_lvm_in_the_image_is_named_with_its_type() {
    let s = Scenario::new("lvm_thin_without_tool").initrd(Initrd::rdbreak_build(&[]));
    let disk = thin_disk(&s);
    let mut vm = s.disk(Disk::virtio(&disk)).append("root=/dev/tvg/root ro rd.lvm.lv=tvg/root rd.retry=5").boot();
    vm.expect("Could not boot.", 300);
    vm.at_prompt("dracut:/# ", 60);
    let t = vm.transcript();
    assert!(t.contains("LV tvg/root not activated: segment1 has type \"thin\""), "{t}");
    assert!(t.contains("no lvm binary in this initramfs for tvg/root: rebuild it with dracut's lvm module"), "{t}");
    vm.poweroff();
}
