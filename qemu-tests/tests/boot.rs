//! Boot scenarios: a real Debian kernel, an initramfs made by real dracut with `-a rdbreak`, and
//! a disk whose /sbin/init reports what it was handed. Each test is one boot.

use std::path::Path;

use rdbreak_qemu_tests::assets::DracutVariant;
use rdbreak_qemu_tests::{assets, vm, Initrd, Modules, Report, Root, Scenario};

const UUID: &str = "0b4e2f1e-7d1c-4c8e-9a55-1f2e3d4c5b6a";
const PARTUUID: &str = "6a1f2b3c-4d5e-4f60-8172-839405a6b7c8";

/// A GPT disk with one root partition holding the standard tree as `fstype`.
fn gpt_root(fstype: &'static str) -> Root {
    Root::standard(UUID).fs(fstype).label("testroot").gpt(PARTUUID, "rdbreak root")
}

/// One boot to the real init, which reports and powers off.
fn boot_with(name: &str, root: Root, initrd: Initrd, append: &str) -> Report {
    let r = Scenario::new(name).root(root).initrd(initrd).append(append).boot().report_then_power_off(240);
    let run_init = vm::kernel_time(&r.transcript, "Run /init as init process");
    eprintln!("[{name}] kernel ran /init at {run_init:?} s; the real init started at uptime {}", r.get("uptime"));
    r
}

fn boot(name: &str, fstype: &'static str, modules: Modules, append: &str) -> Report {
    boot_with(name, gpt_root(fstype), Initrd::Dracut(modules), append)
}

#[test]
fn root_by_uuid_ext4_hands_over_to_pid1() {
    let r = boot("root_by_uuid", "ext4", Modules::Plain, &format!("root=UUID={UUID} ro"));
    r.assert_handover("/dev/vda1");
    assert_eq!(r.get("fstype"), "ext4");
    assert!(r.get("opts").starts_with("ro"), "mounted read-only as asked: {}", r.line);
    assert_eq!(r.get("args"), "", "no init arguments without init=");
    assert_eq!(r.get("argv0"), "/sbin/init");
    // Modules had to be loaded: Debian builds virtio_blk and ext4 as modules.
    assert!(r.transcript.contains("virtio_blk"), "virtio_blk was loaded");
    assert!(
        r.transcript.contains("rdbreak: Freed the initramfs: "),
        "the initramfs memory was freed once the real init ran"
    );
}

#[test]
fn root_by_label() {
    boot("root_by_label", "ext4", Modules::Plain, "root=LABEL=testroot ro").assert_handover("/dev/vda1");
}

#[test]
fn root_by_partuuid_on_gpt() {
    boot("root_by_partuuid", "ext4", Modules::Plain, &format!("root=PARTUUID={} ro", PARTUUID.to_uppercase()))
        .assert_handover("/dev/vda1");
}

#[test]
fn root_by_partlabel_with_a_quoted_space() {
    boot("root_by_partlabel", "ext4", Modules::Plain, "\"root=PARTLABEL=rdbreak root\" ro")
        .assert_handover("/dev/vda1");
}

#[test]
fn root_by_device_path() {
    boot("root_by_devpath", "ext4", Modules::Plain, "root=/dev/vda1 ro").assert_handover("/dev/vda1");
}

#[test]
fn root_by_disk_by_uuid_path() {
    boot("root_by_disk_path", "ext4", Modules::Plain, &format!("root=/dev/disk/by-uuid/{UUID} ro"))
        .assert_handover("/dev/vda1");
}

#[test]
fn xfs_root() {
    let r = boot("xfs_root", "xfs", Modules::Plain, &format!("root=UUID={UUID} ro"));
    r.assert_handover("/dev/vda1");
    assert_eq!(r.get("fstype"), "xfs");
}

#[test]
fn btrfs_root() {
    let r = boot("btrfs_root", "btrfs", Modules::Plain, "root=LABEL=testroot ro");
    r.assert_handover("/dev/vda1");
    assert_eq!(r.get("fstype"), "btrfs");
}

#[test]
fn rootflags_and_rw_are_honoured() {
    let r =
        boot("rootflags_rw", "ext4", Modules::Plain, &format!("root=UUID={UUID} rw rootflags=noatime,data=journal"));
    r.assert_handover("/dev/vda1");
    let opts = r.get("opts");
    assert!(opts.starts_with("rw"), "rw was honoured: {opts}");
    assert!(opts.contains("noatime"), "rootflags flags reach the mount: {opts}");
    assert!(r.get("sopts").contains("data=journal"), "rootflags data reach the filesystem: {}", r.line);
}

#[test]
fn init_with_arguments() {
    let a = assets::get();
    let test_init = std::fs::read(&a.test_init).expect("test init");
    let root = gpt_root("ext4").customize(move |t| {
        t.file("usr/lib/alt/alt-init", &test_init, 0o755);
        // An absolute symlink: it must be resolved inside the new root.
        t.symlink("sbin/alt-init", "/usr/lib/alt/alt-init");
    });
    let r = boot_with(
        "init_args",
        root,
        Initrd::Dracut(Modules::Plain),
        &format!("root=UUID={UUID} ro init=/sbin/alt-init a b"),
    );
    r.assert_handover("/dev/vda1");
    assert_eq!(r.get("argv0"), "/sbin/alt-init");
    assert_eq!(r.get("args"), "a|b", "exactly the arguments after init=, console= dropped");
}

fn assert_image_has(initrd: &Path, suffix: &str) {
    let out = std::process::Command::new("lsinitrd").arg(initrd).output().expect("lsinitrd");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.lines().any(|l| l.contains("virtio_blk.ko") && l.ends_with(suffix)),
        "the image holds virtio_blk{suffix}"
    );
}

#[test]
fn zstd_compressed_modules() {
    let r = boot("modules_zstd", "ext4", Modules::Zstd, &format!("root=UUID={UUID} ro"));
    r.assert_handover("/dev/vda1");
    assert_image_has(&assets::get().dracut_image(Modules::Zstd), ".ko.zst");
}

#[test]
fn xz_compressed_modules() {
    let r = boot("modules_xz", "ext4", Modules::Xz, &format!("root=UUID={UUID} ro"));
    r.assert_handover("/dev/vda1");
    assert_image_has(&assets::get().dracut_image(Modules::Xz), ".ko.xz");
}

/// The smallest useful image `rdbreak build` makes for this kernel: the init and the virtio and
/// ext4 drivers, xz-compressed. It boots, and its size is reported.
#[test]
fn smallest_rdbreak_build_image_boots() {
    let a = assets::get();
    let initrd =
        Initrd::rdbreak_build(&["--no-default-modules", "--modules", "virtio_pci,virtio_blk,ext4", "--compress", "xz"]);
    let size = std::fs::metadata(initrd.path()).expect("image").len();
    let shipped = a.dracut_image_variant(Modules::Plain, DracutVariant { compressed: true, ..Default::default() });
    let dracut = std::fs::metadata(shipped).expect("dracut image").len();
    eprintln!("[smallest_image] rdbreak build: {size} bytes; dracut -a rdbreak (generic): {dracut} bytes");
    assert!(size * 10 < dracut, "at least ten times smaller than the generic dracut image");
    let s = Scenario::new("smallest_image").root(gpt_root("ext4")).initrd(initrd);
    s.append(&format!("root=UUID={UUID} ro")).boot().runs_real_init(240);
}
