//! Boot scenarios: a real Debian kernel, an initramfs made by real dracut with `-a rdbreak`, and
//! a disk whose /sbin/init reports what it was handed. Each test is one boot.

use std::path::{Path, PathBuf};

use rdbreak_qemu_tests::disk::{self, FsSpec, Part, Tree};
use rdbreak_qemu_tests::{assets, vm, workdir, Config, Modules, Vm};

const UUID: &str = "0b4e2f1e-7d1c-4c8e-9a55-1f2e3d4c5b6a";
const PARTUUID: &str = "6a1f2b3c-4d5e-4f60-8172-839405a6b7c8";

/// The test init's report, parsed into `key=value` pairs.
struct Report {
    line: String,
    transcript: String,
}

impl Report {
    fn get(&self, key: &str) -> &str {
        let pat = format!(" {key}=");
        let start = self.line.find(&pat).map(|i| i + pat.len()).unwrap_or_else(|| panic!("no {key} in {}", self.line));
        let rest = &self.line[start..];
        if rest.starts_with('[') {
            &rest[1..rest.find(']').expect("closing ]")]
        } else {
            rest.split_whitespace().next().unwrap_or("")
        }
    }

    /// What every successful boot must show: the real init is PID 1, `/` is the disk, and the
    /// API filesystems were handed over.
    fn assert_handover(&self, root_dev: &str) {
        assert_eq!(self.get("pid"), "1", "{}", self.line);
        assert_eq!(self.get("root"), root_dev, "{}", self.line);
        assert_eq!(self.get("api"), "/dev,/proc,/sys,/run", "{}", self.line);
        assert_eq!(self.get("proc"), "yes");
        assert!(
            self.get("env").contains("TERM=linux"),
            "the kernel's environment reaches the real init: {}",
            self.line
        );
    }
}

/// A GPT disk with one root partition holding `tree` as `fs`.
fn gpt_root(dir: &Path, tree: &Tree, fstype: &str, label: &str) -> PathBuf {
    let size = if fstype == "xfs" { 300 } else { 128 };
    let fs_image = dir.join("root.fs");
    disk::make_fs(tree, &FsSpec { fstype, uuid: UUID, label, size_mib: size }, &fs_image);
    let disk_image = dir.join("disk.img");
    disk::gpt_disk(&[Part { image: &fs_image, partuuid: PARTUUID, partlabel: "rdbreak root" }], &disk_image);
    let _ = std::fs::remove_file(&fs_image);
    disk_image
}

fn boot(name: &str, fstype: &str, modules: Modules, append: &str, customize: impl FnOnce(&Tree)) -> Report {
    let a = assets::get();
    let dir = workdir(name);
    let tree = Tree::standard(dir.join("tree"), &a.test_init);
    customize(&tree);
    let disk_image = gpt_root(&dir, &tree, fstype, "testroot");
    let initrd = a.dracut_image(modules);
    let mut vm = Vm::boot(name, &Config::new(&a.kernel, &initrd, append).disk(&disk_image));
    vm.expect("RDBREAK-TEST-INIT pid=", 240);
    vm.expect("\n", 10);
    let transcript = vm.wait_exit(60);
    let line =
        transcript.lines().find(|l| l.starts_with("RDBREAK-TEST-INIT pid=")).expect("report line").trim().to_string();
    let run_init = vm::kernel_time(&transcript, "Run /init as init process");
    eprintln!(
        "[{name}] kernel ran /init at {run_init:?} s; the real init started at uptime {}",
        Report { line: line.clone(), transcript: String::new() }.get("uptime")
    );
    Report { line, transcript }
}

#[test]
fn root_by_uuid_ext4_hands_over_to_pid1() {
    let r = boot("root_by_uuid", "ext4", Modules::Plain, &format!("root=UUID={UUID} ro"), |_| {});
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
    boot("root_by_label", "ext4", Modules::Plain, "root=LABEL=testroot ro", |_| {}).assert_handover("/dev/vda1");
}

#[test]
fn root_by_partuuid_on_gpt() {
    boot("root_by_partuuid", "ext4", Modules::Plain, &format!("root=PARTUUID={} ro", PARTUUID.to_uppercase()), |_| {})
        .assert_handover("/dev/vda1");
}

#[test]
fn root_by_partlabel_with_a_quoted_space() {
    boot("root_by_partlabel", "ext4", Modules::Plain, "\"root=PARTLABEL=rdbreak root\" ro", |_| {})
        .assert_handover("/dev/vda1");
}

#[test]
fn root_by_device_path() {
    boot("root_by_devpath", "ext4", Modules::Plain, "root=/dev/vda1 ro", |_| {}).assert_handover("/dev/vda1");
}

#[test]
fn root_by_disk_by_uuid_path() {
    boot("root_by_disk_path", "ext4", Modules::Plain, &format!("root=/dev/disk/by-uuid/{UUID} ro"), |_| {})
        .assert_handover("/dev/vda1");
}

#[test]
fn xfs_root() {
    let r = boot("xfs_root", "xfs", Modules::Plain, &format!("root=UUID={UUID} ro"), |_| {});
    r.assert_handover("/dev/vda1");
    assert_eq!(r.get("fstype"), "xfs");
}

#[test]
fn btrfs_root() {
    let r = boot("btrfs_root", "btrfs", Modules::Plain, "root=LABEL=testroot ro", |_| {});
    r.assert_handover("/dev/vda1");
    assert_eq!(r.get("fstype"), "btrfs");
}

#[test]
fn rootflags_and_rw_are_honoured() {
    let r = boot(
        "rootflags_rw",
        "ext4",
        Modules::Plain,
        &format!("root=UUID={UUID} rw rootflags=noatime,data=journal"),
        |_| {},
    );
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
    let r = boot("init_args", "ext4", Modules::Plain, &format!("root=UUID={UUID} ro init=/sbin/alt-init a b"), |t| {
        t.file("usr/lib/alt/alt-init", &test_init, 0o755);
        // An absolute symlink: it must be resolved inside the new root.
        t.symlink("sbin/alt-init", "/usr/lib/alt/alt-init");
    });
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
    let r = boot("modules_zstd", "ext4", Modules::Zstd, &format!("root=UUID={UUID} ro"), |_| {});
    r.assert_handover("/dev/vda1");
    assert_image_has(&assets::get().dracut_image(Modules::Zstd), ".ko.zst");
}

#[test]
fn xz_compressed_modules() {
    let r = boot("modules_xz", "ext4", Modules::Xz, &format!("root=UUID={UUID} ro"), |_| {});
    r.assert_handover("/dev/vda1");
    assert_image_has(&assets::get().dracut_image(Modules::Xz), ".ko.xz");
}

/// The smallest useful image `rdbreak build` makes for this kernel: the init and the virtio and
/// ext4 drivers, xz-compressed. It boots, and its size is reported.
#[test]
fn smallest_rdbreak_build_image_boots() {
    let a = assets::get();
    let dir = workdir("smallest_image");
    let image = a.rdbreak_build_image_with(&[
        "--no-default-modules",
        "--modules",
        "virtio_pci,virtio_blk,ext4",
        "--compress",
        "xz",
    ]);
    let size = std::fs::metadata(&image).expect("image").len();
    let dracut = std::fs::metadata(a.dracut_image(Modules::Plain)).expect("dracut image").len();
    eprintln!("[smallest_image] rdbreak build: {size} bytes; dracut -a rdbreak (generic): {dracut} bytes");
    assert!(size * 10 < dracut, "at least ten times smaller than the generic dracut image");
    let tree = Tree::standard(dir.join("tree"), &a.test_init);
    let disk_image = gpt_root(&dir, &tree, "ext4", "testroot");
    let mut vm =
        Vm::boot("smallest_image", &Config::new(&a.kernel, &image, &format!("root=UUID={UUID} ro")).disk(&disk_image));
    vm.expect("RDBREAK-TEST-INIT pid=1", 240);
    vm.wait_exit(60);
}
