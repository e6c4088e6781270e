//! The fault matrix: bad disks, bad modules, a stressed person at the console, and the switch
//! itself. Each ends in a shell with the right message, a clean continue, or the emergency action
//! — never a kernel panic (which fails any scenario), never a hang — and nothing written to
//! /sysroot is lost.

use std::path::{Path, PathBuf};
use std::process::Command;

use rdbreak_qemu_tests::assets::run;
use rdbreak_qemu_tests::disk::{self, FsSpec, Tree};
use rdbreak_qemu_tests::{assets, workdir, Config, Modules, Vm};

const UUID: &str = "c0ffee00-1234-4abc-8def-0123456789ab";

fn root_disk(dir: &Path, name: &str, uuid: &str, customize: impl FnOnce(&Tree)) -> PathBuf {
    let a = assets::get();
    let tree = Tree::recovery(dir.join(format!("tree-{name}")), &a.test_init);
    customize(&tree);
    let image = dir.join(format!("{name}.img"));
    disk::make_fs(&tree, &FsSpec { fstype: "ext4", uuid, label: name, size_mib: 256 }, &image);
    image
}

fn boot(name: &str, initrd: &Path, append: &str, disks: &[&Path]) -> Vm {
    let a = assets::get();
    let mut cfg = Config::new(&a.kernel, initrd, &format!("quiet {append}"));
    for d in disks {
        cfg = cfg.disk(d);
    }
    Vm::boot(name, &cfg)
}

fn dracut() -> PathBuf {
    assets::get().dracut_image(Modules::Plain)
}

fn poweroff(vm: &mut Vm) {
    vm.send_line("poweroff");
    let t = vm.wait_exit(60);
    assert!(t.contains("reboot: Power down"));
}

#[test]
fn root_naming_a_swap_device_is_refused() {
    let dir = workdir("fault_swap");
    let swap = dir.join("swap.img");
    std::fs::File::create(&swap).and_then(|f| f.set_len(64 << 20)).expect("swap image");
    run(Command::new("mkswap").args(["-U", UUID]).arg(&swap));
    let mut vm = boot("fault_swap", &dracut(), &format!("root=UUID={UUID} ro"), &[&swap]);
    vm.expect("which holds swap, not a filesystem to boot from", 240);
    vm.expect("dracut:/# ", 30);
    poweroff(&mut vm);
}

/// A LUKS container (a LUKS1 header as cryptsetup writes it) named by its UUID: refused, since
/// rdbreak does not unlock encrypted roots; the message says what the device holds.
#[test]
fn root_naming_a_luks_container_is_refused() {
    let dir = workdir("fault_luks");
    let luks = dir.join("luks.img");
    let mut header = vec![0u8; 4096];
    header[..8].copy_from_slice(b"LUKS\xba\xbe\x00\x01");
    header[8..11].copy_from_slice(b"aes");
    header[168..168 + UUID.len()].copy_from_slice(UUID.as_bytes());
    std::fs::write(&luks, &header).expect("LUKS header");
    std::fs::File::options().write(true).open(&luks).and_then(|f| f.set_len(64 << 20)).expect("size");
    let mut vm = boot("fault_luks", &dracut(), &format!("root=UUID={UUID} ro"), &[&luks]);
    vm.expect("which holds crypto_LUKS, not a filesystem to boot from", 240);
    vm.expect("dracut:/# ", 30);
    poweroff(&mut vm);
}

/// A `root=` argument rdbreak cannot wait for: refused by name, into the shell.
fn a_bad_root_argument_is_refused(name: &str, append: &str, reason: &str) {
    let dir = workdir(name);
    let disk = root_disk(&dir, "rb", UUID, |_| {});
    let mut vm = boot(name, &dracut(), append, &[&disk]);
    vm.expect(reason, 240);
    vm.expect("dracut:/# ", 30);
    poweroff(&mut vm);
}

/// `root=` given but empty.
#[test]
fn an_empty_root_argument_is_refused() {
    a_bad_root_argument_is_refused("fault_root_empty", "root= ro", "No or empty root= argument");
}

/// `root=` in a form dracut does not know.
#[test]
fn a_malformed_root_argument_is_refused() {
    a_bad_root_argument_is_refused("fault_root_malformed", "root=vda1 ro", "Don't know how to handle 'root=vda1'");
}

/// `init=` naming something that is not an executable file: warned about, and the next
/// candidate (/sbin/init) starts, as dracut's search does.
fn a_bad_init_falls_back_to_sbin_init(name: &str, init: &str, customize: impl FnOnce(&Tree)) {
    let dir = workdir(name);
    let disk = root_disk(&dir, "bi", UUID, customize);
    let mut vm = boot(name, &dracut(), &format!("root=UUID={UUID} ro init={init}"), &[&disk]);
    let t = vm.expect("RDBREAK-TEST-INIT pid=1 argv0=/sbin/init", 240);
    assert!(t.contains(&format!("init candidate {init} is not an executable file in /sysroot")), "{t}");
    vm.wait_exit(60);
}

#[test]
fn init_naming_a_directory_falls_back() {
    a_bad_init_falls_back_to_sbin_init("fault_init_dir", "/etc", |_| {});
}

#[test]
fn init_not_executable_falls_back() {
    a_bad_init_falls_back_to_sbin_init("fault_init_noexec", "/etc/os-release", |_| {});
}

#[test]
fn init_as_a_dangling_symlink_falls_back() {
    a_bad_init_falls_back_to_sbin_init("fault_init_dangling", "/sbin/gone", |t| t.symlink("usr/sbin/gone", "/nowhere"));
}

#[test]
fn two_filesystems_with_one_uuid_are_refused_by_name() {
    let dir = workdir("fault_dup_uuid");
    let a = root_disk(&dir, "one", UUID, |_| {});
    let b = root_disk(&dir, "two", UUID, |_| {});
    let mut vm = boot("fault_dup_uuid", &dracut(), &format!("root=UUID={UUID} ro"), &[&a, &b]);
    vm.expect("matches more than one device: /dev/vda, /dev/vdb", 240);
    vm.expect("dracut:/# ", 30);
    poweroff(&mut vm);
}

/// The same UUID on two disks that are the two halves of one btrfs RAID1 is not a duplicate:
/// the root is mounted from its first device, with the second named (`device=`) so the kernel
/// can assemble it; both must be there, or RAID1 refuses the mount.
#[test]
fn a_btrfs_raid1_over_two_disks_is_one_root() {
    let dir = workdir("btrfs_raid1");
    let (a, b) = (dir.join("a.img"), dir.join("b.img"));
    for d in [&a, &b] {
        std::fs::File::create(d).and_then(|f| f.set_len(160 << 20)).expect("disk image");
    }
    // mkfs.btrfs fills only one-device filesystems from a directory: this root stays empty (no
    // init), so the test stops at the last break before init is looked for.
    run(Command::new("mkfs.btrfs")
        .args(["-q", "-f", "-d", "raid1", "-m", "raid1", "-L", "pool", "-U", UUID])
        .arg(&a)
        .arg(&b));
    let mut vm = boot("btrfs_raid1", &dracut(), &format!("root=UUID={UUID} ro rd.break=pre-pivot"), &[&a, &b]);
    vm.expect("pre-pivot:/# ", 240);
    let log = vm.run("dmesg", "pre-pivot:/# ", 30);
    assert!(log.contains("Mounted root filesystem /dev/vda (btrfs, ro,device=/dev/vdb)"), "{log}");
    let mounts = vm.run("cat /proc/mounts", "pre-pivot:/# ", 30);
    assert!(mounts.contains("/dev/vda /sysroot btrfs ro"), "{mounts}");
    vm.run("mount -o remount,rw /sysroot", "pre-pivot:/# ", 30);
    vm.run("mkdir /sysroot/written", "pre-pivot:/# ", 30);
    let listing = vm.run("ls /sysroot", "pre-pivot:/# ", 30);
    assert!(listing.contains("written"), "{listing}");
    poweroff(&mut vm);
}

#[test]
fn an_empty_disk_as_root_fails_to_mount_into_the_shell() {
    let dir = workdir("fault_empty_disk");
    let empty = dir.join("empty.img");
    std::fs::File::create(&empty).and_then(|f| f.set_len(64 << 20)).expect("empty image");
    let mut vm = boot("fault_empty_disk", &dracut(), "root=/dev/vda ro", &[&empty]);
    vm.expect("Failed to mount the root filesystem", 240);
    vm.expect("dracut:/# ", 30);
    poweroff(&mut vm);
}

/// A corrupted ext4 superblock (one byte changed, so its checksum fails): still recognised by
/// its UUID, the kernel refuses to mount it, and the shell says so with the errno.
#[test]
fn a_corrupted_superblock_fails_to_mount_into_the_shell() {
    let dir = workdir("fault_bad_superblock");
    let disk = root_disk(&dir, "bs", UUID, |_| {});
    let mut bytes = std::fs::read(&disk).expect("disk image");
    bytes[1024 + 0x08] ^= 0xff; // s_r_blocks_count_lo, inside the checksummed superblock
    std::fs::write(&disk, bytes).expect("write disk image");
    let mut vm = boot("fault_bad_superblock", &dracut(), &format!("root=UUID={UUID} ro"), &[&disk]);
    vm.expect("Failed to mount the root filesystem", 240);
    let t = vm.expect("dracut:/# ", 30);
    assert!(t.contains("mount -t ext4 -o ro /dev/vda /sysroot: Bad message"), "the kernel's reason is shown: {t}");
    assert!(t.contains("The ext4 filesystem on /dev/vda is damaged: repair it with fsck.ext4 /dev/vda"), "{t}");
    poweroff(&mut vm);
}

/// The disk is plugged in (through the QEMU monitor) while rdbreak waits for it.
#[test]
fn a_disk_that_appears_late_is_picked_up() {
    let dir = workdir("fault_hotplug");
    let disk = root_disk(&dir, "late", UUID, |_| {});
    let a = assets::get();
    let mut cfg = Config::new(&a.kernel, &dracut(), &format!("quiet root=UUID={UUID} ro rd.retry=120"));
    cfg.monitor = Some(std::env::temp_dir().join(format!("rdbreak-fault_hotplug-{}.monitor", std::process::id())));
    let mut vm = Vm::boot("fault_hotplug", &cfg);
    vm.expect("still waiting for /dev/disk/by-uuid/", 240);
    vm.monitor(&format!("drive_add 0 if=none,id=late,file={},format=raw", disk.display()));
    let answer = vm.monitor("device_add virtio-blk-pci,drive=late,id=latedisk");
    assert!(!answer.contains("Error"), "hot-plug: {answer}");
    vm.expect("RDBREAK-TEST-INIT pid=1", 120);
    vm.wait_exit(60);
}

#[test]
fn a_blacklisted_storage_driver_is_explained() {
    let dir = workdir("fault_blacklist");
    let disk = root_disk(&dir, "bl", UUID, |_| {});
    let mut vm = boot(
        "fault_blacklist",
        &dracut(),
        &format!("root=UUID={UUID} ro rd.retry=3 rd.driver.blacklist=virtio_blk"),
        &[&disk],
    );
    vm.expect("Could not boot.", 240);
    let text = vm.expect("dracut:/# ", 30);
    assert!(text.contains("No driver bound to storage device virtio"), "{text}");
    poweroff(&mut vm);
}

/// An image made without the disk's driver (rdbreak build, virtio_blk left out).
#[test]
fn a_driver_missing_from_the_image_is_explained() {
    let a = assets::get();
    let dir = workdir("fault_missing_module");
    let image = a.rdbreak_build_image_with(&["--no-default-modules", "--modules", "virtio_pci,ext4"]);
    let disk = root_disk(&dir, "mm", UUID, |_| {});
    let mut vm = boot("fault_missing_module", &image, &format!("root=UUID={UUID} ro rd.retry=3"), &[&disk]);
    vm.expect("Could not boot.", 240);
    let text = vm.expect("dracut:/# ", 30);
    assert!(text.contains("No driver bound to storage device virtio0 (virtio:d00000002"), "{text}");
    poweroff(&mut vm);
}

/// A corrupt virtio_blk.ko: the kernel refuses it, rdbreak says which file, then explains.
#[test]
fn a_corrupt_module_is_reported() {
    let a = assets::get();
    let dir = workdir("fault_corrupt_module");
    let kmod = dir.join("modules");
    run(Command::new("cp").arg("-as").arg(a.kernel_root.join("lib/modules").join(&a.kver)).arg(&kmod));
    let blk = kmod.join("kernel/drivers/block/virtio_blk.ko");
    std::fs::remove_file(&blk).expect("remove link");
    std::fs::write(&blk, b"\x7fELF this is not a module").expect("corrupt module");
    let image = dir.join("initrd.img");
    run(Command::new(&a.cli)
        .args(["build", "--kver", &a.kver, "--init"])
        .arg(&a.init)
        .arg("--kmoddir")
        .arg(&kmod)
        .arg("-o")
        .arg(&image));
    let disk = root_disk(&dir, "cm", UUID, |_| {});
    let mut vm = boot("fault_corrupt_module", &image, &format!("root=UUID={UUID} ro rd.retry=3"), &[&disk]);
    vm.expect("the kernel refused module virtio_blk", 240);
    vm.expect("Could not boot.", 60);
    let text = vm.expect("dracut:/# ", 30);
    assert!(text.contains("Module virtio_blk failed to load"), "{text}");
    poweroff(&mut vm);
}

/// What a stressed person types: line noise, a 4 KiB line, control keys at the prompt and while a
/// command runs. The shell survives all of it and the boot completes.
#[test]
fn console_abuse_at_the_prompt() {
    let dir = workdir("fault_console");
    let disk = root_disk(&dir, "con", UUID, |_| {});
    let mut vm = boot("fault_console", &dracut(), &format!("root=UUID={UUID} ro rd.break"), &[&disk]);
    vm.expect("switch_root:/# ", 240);
    let noise: Vec<u8> = (0..512u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .filter(|b| *b != b'\r' && *b != b'\n' && *b != 0x04 && *b != 0x03)
        .collect();
    vm.send(&noise);
    // Ctrl-U twice: an escape sequence the noise left open may swallow the first.
    vm.send(b"\x15\x15");
    vm.run("echo after-noise", "switch_root:/# ", 30);
    let long = "x".repeat(4096);
    vm.send_line(&format!("echo {long}"));
    vm.expect(&long[..64], 60);
    vm.expect("switch_root:/# ", 60);
    vm.send(b"\x1a\x1c"); // Ctrl-Z and Ctrl-\ at the prompt: ignored
    vm.run("echo still-here", "still-here", 30);
    vm.expect("switch_root:/# ", 30);
    vm.send_line("chroot /sysroot /bin/sleep 600");
    std::thread::sleep(std::time::Duration::from_secs(3));
    vm.send(b"\x1c"); // Ctrl-\ ends the command (SIGQUIT), not PID 1
    vm.expect("switch_root:/# ", 30);
    vm.send_line("chroot /sysroot /bin/sleep 3");
    std::thread::sleep(std::time::Duration::from_secs(1));
    vm.send(b"\x1a"); // Ctrl-Z: no job control here; the command is continued and finishes
    vm.expect("switch_root:/# ", 30);
    vm.send_line("exit");
    vm.expect("RDBREAK-TEST-INIT pid=1", 120);
    vm.wait_exit(60);
}

/// `exit` with /sysroot unmounted: no switch into nothing; the shell says what to do.
#[test]
fn exit_without_a_mounted_root_is_refused() {
    let dir = workdir("fault_exit_unmounted");
    let disk = root_disk(&dir, "um", UUID, |_| {});
    let mut vm = boot("fault_exit_unmounted", &dracut(), &format!("root=UUID={UUID} ro rd.break"), &[&disk]);
    vm.expect("switch_root:/# ", 240);
    vm.run("umount /sysroot", "switch_root:/# ", 30);
    vm.send_line("exit");
    vm.expect("Not switching root: nothing is mounted on /sysroot", 60);
    vm.expect("dracut:/# ", 30);
    vm.run("mount -o ro /dev/vda /sysroot", "dracut:/# ", 30);
    vm.send_line("exit");
    vm.expect("RDBREAK-TEST-INIT pid=1", 120);
    vm.wait_exit(60);
}

/// A daemon started in the chroot and left running does not stop the switch, and does not
/// survive into the real system.
#[test]
fn a_daemon_left_in_the_chroot_is_stopped_before_the_switch() {
    let dir = workdir("fault_daemon");
    let disk = root_disk(&dir, "dm", UUID, |_| {});
    let mut vm = boot("fault_daemon", &dracut(), &format!("root=UUID={UUID} ro rd.break"), &[&disk]);
    vm.expect("switch_root:/# ", 240);
    // The command waits a moment, as a daemonizing parent does, so the daemon is set up (its
    // stdin is /dev/null) while the chroot's /dev is still bound.
    vm.run("chroot /sysroot /bin/sh -c 'sleep 1000 & sleep 1'", "switch_root:/# ", 30);
    vm.send_line("exit");
    vm.expect("stopping processes left running in the initramfs: sleep", 60);
    vm.expect("RDBREAK-TEST-INIT pid=1", 120);
    vm.wait_exit(60);
}

/// An init the kernel could not start (its dynamic loader is gone) is refused before anything
/// moves, with the reason; the shell comes up in the untouched initramfs.
#[test]
fn an_init_without_its_loader_is_refused_before_the_switch() {
    let dir = workdir("fault_init_no_loader");
    let disk = root_disk(&dir, "nl", UUID, |t| {
        std::fs::remove_file(t.dir.join("usr/lib64/ld-linux-x86-64.so.2")).expect("the loader is in the tree");
    });
    let mut vm = boot("fault_init_no_loader", &dracut(), &format!("root=UUID={UUID} ro init=/bin/bash"), &[&disk]);
    vm.expect("init /bin/bash cannot start from /sysroot: /bin/bash needs /lib64/ld-linux-x86-64.so.2, but", 240);
    vm.expect("dracut:/# ", 30);
    let t = vm.run("ls /init /sysroot/usr/sbin/init", "dracut:/# ", 30);
    assert!(t.contains("/init") && !t.contains("No such file"), "the initramfs and the root are as they were: {t}");
    vm.send_line("poweroff");
    let t = vm.wait_exit(60);
    assert!(!t.contains("Freed the initramfs"), "nothing was wiped");
}

/// switch_root failing midway: the checks pass (an ELF file with no interpreter), the mounts have
/// moved and the root has changed, then the kernel refuses the exec (an ELF for another machine).
/// Everything moves back, the initramfs is whole, and once fixed from the shell the boot goes on;
/// only then is the initramfs freed.
#[test]
fn a_switch_that_fails_midway_keeps_the_initramfs() {
    let dir = workdir("fault_switch_midway");
    let a = assets::get();
    let disk = root_disk(&dir, "mw", UUID, |t| {
        let mut elf = std::fs::read(&a.test_init).expect("test init");
        elf[0x12] = 183; // e_machine: EM_AARCH64
        elf[0x13] = 0;
        t.file("usr/sbin/foreign-init", &elf, 0o755);
    });
    // Not quiet: the wiper's "Freed the initramfs" line is info-level.
    let cfg = Config::new(&a.kernel, &dracut(), &format!("root=UUID={UUID} ro init=/sbin/foreign-init")).disk(&disk);
    let mut vm = Vm::boot("fault_switch_midway", &cfg);
    let t = vm.expect("cannot execute /sbin/foreign-init: Exec format error", 240);
    assert!(t.contains("Switching root to /sbin/foreign-init"), "the switch had begun");
    vm.expect("dracut:/# ", 30);
    // Back in the initramfs, with the root on /sysroot and /proc, /dev where they were.
    let t = vm.run("ls /init; cat /proc/self/mountinfo", "dracut:/# ", 30);
    for m in [" /sysroot ", " /dev ", " /proc ", " /sys ", " /run "] {
        assert!(t.contains(m), "{m} is mounted again: {t}");
    }
    assert!(!t.contains("No such file"), "/init is still there: {t}");
    vm.run("mount -o remount,rw /sysroot", "dracut:/# ", 30);
    vm.run("ln -sf init /sysroot/usr/sbin/foreign-init", "dracut:/# ", 30);
    vm.send_line("exit");
    let before = vm.expect("RDBREAK-TEST-INIT pid=1 argv0=/sbin/foreign-init", 120);
    assert!(!before.contains("Freed the initramfs"), "not freed before the real init ran");
    let after = vm.expect("RDBREAK-TEST-INIT reaped", 60);
    let t = vm.wait_exit(60);
    assert!(
        after.contains("rdbreak: Freed the initramfs: ") || t.contains("rdbreak: Freed the initramfs: "),
        "freed once the real init ran"
    );
}

/// A real root without /dev, /proc, /sys and /run: the API mounts cannot move there, so they are
/// detached, and the real init still starts.
#[test]
fn a_root_without_api_directories_still_switches() {
    let dir = workdir("fault_no_api_dirs");
    let disk = root_disk(&dir, "na", UUID, |t| {
        for d in ["dev", "proc", "sys", "run"] {
            let _ = std::fs::remove_dir_all(t.dir.join(d));
        }
    });
    let mut vm = boot("fault_no_api_dirs", &dracut(), &format!("root=UUID={UUID} ro"), &[&disk]);
    let t = vm.expect("RDBREAK-TEST-INIT pid=1", 240);
    let _ = t;
    let line = vm.expect("\n", 10);
    assert!(line.contains("proc=no"), "nothing was mounted where no directory was: {line}");
    vm.wait_exit(60);
}

/// `rootfstype=` naming the wrong type: the probe wins, as in dracut.
#[test]
fn a_wrong_rootfstype_loses_to_the_probe() {
    let dir = workdir("fault_rootfstype");
    let disk = root_disk(&dir, "ft", UUID, |_| {});
    let mut vm = boot("fault_rootfstype", &dracut(), &format!("root=UUID={UUID} ro rootfstype=xfs"), &[&disk]);
    vm.expect("RDBREAK-TEST-INIT pid=1", 240);
    vm.wait_exit(60);
}

/// A long, badly quoted command line (the kernel's limit is 2 KiB on x86). Dotted keys, and quotes
/// that leave no bare words: the kernel itself panics past 32 init arguments or variables.
#[test]
fn a_long_badly_quoted_command_line() {
    let dir = workdir("fault_long_cmdline");
    let disk = root_disk(&dir, "lc", UUID, |_| {});
    let mut junk: String = (0..70).map(|i| format!("rd.key{i}=\"value{i}=={i}\"")).collect::<Vec<_>>().join(" ");
    junk += " rd.unterminated=\"this quote never closes";
    let mut vm = boot("fault_long_cmdline", &dracut(), &format!("root=UUID={UUID} ro rd.retry=abc {junk}"), &[&disk]);
    vm.expect("RDBREAK-TEST-INIT pid=1", 240);
    vm.wait_exit(60);
}

/// Files written in the chroot reach the disk whichever way the machine leaves the shell.
fn nothing_lost(name: &str, append: &str, leave: &str, expect_on_console: &str, rdbreak_unmounts: bool) {
    let dir = workdir(name);
    let disk = root_disk(&dir, "nl", UUID, |_| {});
    let mut vm = boot(name, &dracut(), &format!("root=UUID={UUID} ro rd.break {append}"), &[&disk]);
    vm.expect("switch_root:/# ", 240);
    vm.run("mount -o remount,rw /sysroot", "switch_root:/# ", 30);
    vm.run(&format!("chroot /sysroot /bin/sh -c 'echo {name} > /root/written-in-chroot'"), "switch_root:/# ", 30);
    vm.run(&format!("echo {name} > /sysroot/root/written-in-shell"), "switch_root:/# ", 30);
    vm.send_line(leave);
    let t = vm.wait_exit(120);
    assert!(t.contains(expect_on_console), "{expect_on_console}");
    if rdbreak_unmounts {
        // rdbreak synced and made /sysroot read-only before the power went: nothing to repair.
        disk::ext4_clean(&disk).unwrap_or_else(|e| panic!("the filesystem was left clean: {e}"));
    }
    disk::ext4_settle(&disk);
    for f in ["/root/written-in-chroot", "/root/written-in-shell"] {
        let content = disk::ext4_read(&disk, f).unwrap_or_else(|| panic!("{f} is on the disk"));
        assert_eq!(content.trim(), name, "{f}");
    }
}

#[test]
fn nothing_lost_on_poweroff() {
    nothing_lost("lost_poweroff", "", "poweroff", "reboot: Power down", true);
}

#[test]
fn nothing_lost_on_reboot() {
    nothing_lost("lost_reboot", "", "reboot", "reboot: Restarting system", true);
}

#[test]
fn nothing_lost_on_rd_emergency_reboot() {
    nothing_lost("lost_emergency", "rd.emergency=reboot", "exit", "reboot: Restarting system", true);
}

#[test]
fn nothing_lost_on_exit_to_the_real_init() {
    nothing_lost("lost_exit", "", "exit", "RDBREAK-TEST-INIT pid=1", false);
}

/// The filesystem's module left out of the image: the mount fails and says which module.
#[test]
fn a_filesystem_module_missing_from_the_image_is_named() {
    let a = assets::get();
    let dir = workdir("fault_missing_fs");
    let image = a.rdbreak_build_image_with(&["--no-default-modules", "--modules", "virtio_pci,virtio_blk"]);
    let disk = root_disk(&dir, "mf", UUID, |_| {});
    let mut vm = boot("fault_missing_fs", &image, &format!("root=UUID={UUID} ro"), &[&disk]);
    vm.expect("Failed to mount the root filesystem", 240);
    let text = vm.expect("dracut:/# ", 30);
    assert!(text.contains("Modules requested but not in this initramfs: fs-ext4"), "{text}");
    poweroff(&mut vm);
}
