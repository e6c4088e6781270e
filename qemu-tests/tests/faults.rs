//! The fault matrix: bad disks, bad modules, a stressed person at the console, and the switch
//! itself. Each ends in a shell with the right message, a clean continue, or the emergency action
//! — never a kernel panic (which fails any scenario), never a hang — and nothing written to
//! /sysroot is lost.

use std::process::Command;

use rdbreak_qemu_tests::assets::run;
use rdbreak_qemu_tests::disk::{self, Tree};
use rdbreak_qemu_tests::{assets, Disk, Initrd, Root, Scenario};

const UUID: &str = "c0ffee00-1234-4abc-8def-0123456789ab";

/// The recovery tree on ext4, labelled `label`.
fn root(label: &str) -> Root {
    Root::recovery(UUID).label(label)
}

/// `root` as the first disk, the dracut image, `quiet` and `append`.
fn with_root(name: &str, root: Root, append: &str) -> Scenario {
    Scenario::new(name).root(root).quiet().append(append)
}

#[test]
fn root_naming_a_swap_device_is_refused() {
    let s = Scenario::new("fault_swap");
    let swap = s.blank_disk("swap.img", 64);
    run(Command::new("mkswap").args(["-U", UUID]).arg(&swap));
    let mut vm = s.disk(Disk::virtio(&swap)).quiet().append(&format!("root=UUID={UUID} ro")).boot();
    vm.expect("which holds swap, not a filesystem to boot from", 240);
    vm.expect("dracut:/# ", 30);
    vm.poweroff();
}

/// A LUKS container (a LUKS1 header as cryptsetup writes it) named by its UUID: refused, since
/// rdbreak does not unlock encrypted roots; the message says what the device holds.
#[test]
fn root_naming_a_luks_container_is_refused() {
    let s = Scenario::new("fault_luks");
    let luks = s.dir().join("luks.img");
    let mut header = vec![0u8; 4096];
    header[..8].copy_from_slice(b"LUKS\xba\xbe\x00\x01");
    header[8..11].copy_from_slice(b"aes");
    header[168..168 + UUID.len()].copy_from_slice(UUID.as_bytes());
    std::fs::write(&luks, &header).expect("LUKS header");
    std::fs::File::options().write(true).open(&luks).and_then(|f| f.set_len(64 << 20)).expect("size");
    let mut vm = s.disk(Disk::virtio(&luks)).quiet().append(&format!("root=UUID={UUID} ro")).boot();
    vm.expect("which holds crypto_LUKS, not a filesystem to boot from", 240);
    vm.expect("dracut:/# ", 30);
    vm.poweroff();
}

/// A `root=` argument rdbreak cannot wait for: refused by name, into the shell.
fn a_bad_root_argument_is_refused(name: &str, append: &str, reason: &str) {
    let mut vm = with_root(name, root("rb"), append).boot();
    vm.expect(reason, 240);
    vm.expect("dracut:/# ", 30);
    vm.poweroff();
}

/// `root=` given but empty.
#[test]
fn an_empty_root_argument_is_refused() {
    a_bad_root_argument_is_refused("fault_root_empty", "root= ro", "No or empty root= argument");
}

/// `root=` in a form dracut does not know. Alone it goes to dracut's init (a form rdbreak does
/// not handle: tests/handoff.rs); `rd.rdbreak=1` keeps it rdbreak's.
#[test]
fn a_malformed_root_argument_is_refused() {
    a_bad_root_argument_is_refused(
        "fault_root_malformed",
        "root=vda1 ro rd.rdbreak=1",
        "Don't know how to handle 'root=vda1'",
    );
}

/// `init=` naming something that is not an executable file: warned about, and the next
/// candidate (/sbin/init) starts, as dracut's search does.
fn a_bad_init_falls_back_to_sbin_init(name: &str, init: &str, customize: impl FnOnce(&Tree) + 'static) {
    let mut vm = with_root(name, root("bi").customize(customize), &format!("root=UUID={UUID} ro init={init}")).boot();
    let t = vm.expect("RDBREAK-TEST-INIT pid=1 argv0=/sbin/init", 240);
    assert!(t.contains(&format!("init candidate {init} is not an executable file in /sysroot")), "{t}");
    vm.powered_off();
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
    let s = with_root("fault_dup_uuid", root("one"), &format!("root=UUID={UUID} ro")).root(root("two"));
    let mut vm = s.boot();
    vm.expect("matches more than one device: /dev/vda, /dev/vdb", 240);
    vm.expect("dracut:/# ", 30);
    vm.poweroff();
}

/// The same UUID on two disks that are the two halves of one btrfs RAID1 is not a duplicate:
/// the root is mounted from its first device, with the second named (`device=`) so the kernel
/// can assemble it; both must be there, or RAID1 refuses the mount.
#[test]
fn a_btrfs_raid1_over_two_disks_is_one_root() {
    let s = Scenario::new("btrfs_raid1");
    let (a, b) = (s.blank_disk("a.img", 160), s.blank_disk("b.img", 160));
    // mkfs.btrfs fills only one-device filesystems from a directory: this root stays empty (no
    // init), so the test stops at the last break before init is looked for.
    run(Command::new("mkfs.btrfs")
        .args(["-q", "-f", "-d", "raid1", "-m", "raid1", "-L", "pool", "-U", UUID])
        .arg(&a)
        .arg(&b));
    let s = s.disk(Disk::virtio(&a)).disk(Disk::virtio(&b)).quiet();
    let mut vm = s.append(&format!("root=UUID={UUID} ro rd.break=pre-pivot")).boot();
    let mut sh = vm.at_prompt("pre-pivot:/# ", 240);
    let log = sh.run("dmesg");
    assert!(log.contains("Mounted root filesystem /dev/vda (btrfs, ro,device=/dev/vdb)"), "{log}");
    let mounts = sh.run("cat /proc/mounts");
    assert!(mounts.contains("/dev/vda /sysroot btrfs ro"), "{mounts}");
    sh.run("mount -o remount,rw /sysroot");
    sh.run("mkdir /sysroot/written");
    let listing = sh.run("ls /sysroot");
    assert!(listing.contains("written"), "{listing}");
    sh.poweroff();
}

#[test]
fn an_empty_disk_as_root_fails_to_mount_into_the_shell() {
    let s = Scenario::new("fault_empty_disk");
    let empty = s.blank_disk("empty.img", 64);
    let mut vm = s.disk(Disk::virtio(&empty)).quiet().append("root=/dev/vda ro").boot();
    vm.expect("Failed to mount the root filesystem", 240);
    vm.expect("dracut:/# ", 30);
    vm.poweroff();
}

/// A corrupted ext4 superblock (one byte changed, so its checksum fails): still recognised by
/// its UUID, the kernel refuses to mount it, and the shell says so with the errno.
#[test]
fn a_corrupted_superblock_fails_to_mount_into_the_shell() {
    let s = with_root("fault_bad_superblock", root("bs"), &format!("root=UUID={UUID} ro"));
    let mut bytes = std::fs::read(s.image(0)).expect("disk image");
    bytes[1024 + 0x08] ^= 0xff; // s_r_blocks_count_lo, inside the checksummed superblock
    std::fs::write(s.image(0), bytes).expect("write disk image");
    let mut vm = s.boot();
    vm.expect("Failed to mount the root filesystem", 240);
    let t = vm.expect("dracut:/# ", 30);
    assert!(t.contains("mount -t ext4 -o ro /dev/vda /sysroot: Bad message"), "the kernel's reason is shown: {t}");
    assert!(t.contains("The ext4 filesystem on /dev/vda is damaged: repair it with fsck.ext4 /dev/vda"), "{t}");
    vm.poweroff();
}

/// The disk is plugged in (through the QEMU monitor) while rdbreak waits for it.
#[test]
fn a_disk_that_appears_late_is_picked_up() {
    let s = Scenario::new("fault_hotplug").quiet().append(&format!("root=UUID={UUID} ro rd.retry=120")).monitor();
    let late = root("late").build(s.dir(), "late");
    let mut vm = s.boot();
    vm.expect("still waiting for /dev/disk/by-uuid/", 240);
    let answer = vm.hot_plug(&Disk::virtio(&late).id("late"));
    assert!(!answer.contains("Error"), "hot-plug: {answer}");
    vm.runs_real_init(120);
}

#[test]
fn a_blacklisted_storage_driver_is_explained() {
    let append = format!("root=UUID={UUID} ro rd.retry=3 rd.driver.blacklist=virtio_blk");
    let mut vm = with_root("fault_blacklist", root("bl"), &append).boot();
    vm.expect("Could not boot.", 240);
    let text = vm.expect("dracut:/# ", 30);
    assert!(text.contains("No driver bound to storage device virtio"), "{text}");
    vm.poweroff();
}

/// An image made without the disk's driver (rdbreak build, virtio_blk left out).
#[test]
fn a_driver_missing_from_the_image_is_explained() {
    let initrd = Initrd::rdbreak_build(&["--no-default-modules", "--modules", "virtio_pci,ext4"]);
    let s = with_root("fault_missing_module", root("mm"), &format!("root=UUID={UUID} ro rd.retry=3"));
    let mut vm = s.initrd(initrd).boot();
    vm.expect("Could not boot.", 240);
    let text = vm.expect("dracut:/# ", 30);
    assert!(text.contains("No driver bound to storage device virtio0 (virtio:d00000002"), "{text}");
    vm.poweroff();
}

/// A corrupt virtio_blk.ko: the kernel refuses it, rdbreak says which file, then explains.
#[test]
fn a_corrupt_module_is_reported() {
    let a = assets::get();
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (std::fs::read(&a.init).expect("rdbreak-init"), std::fs::read(&a.cli).expect("rdbreak"), &a.kver).hash(&mut h);
        h.finish()
    };
    let image = a.cached_file(&format!("initrd/corrupt-virtio_blk-{key:016x}.img"), |image| {
        let kmod = image.with_extension("modules");
        let _ = std::fs::remove_dir_all(&kmod);
        run(Command::new("cp").arg("-as").arg(a.kernel_root.join("lib/modules").join(&a.kver)).arg(&kmod));
        let blk = kmod.join("kernel/drivers/block/virtio_blk.ko");
        std::fs::remove_file(&blk).expect("remove link");
        std::fs::write(&blk, b"\x7fELF this is not a module").expect("corrupt module");
        run(Command::new(&a.cli)
            .args(["build", "--kver", &a.kver, "--init"])
            .arg(&a.init)
            .arg("--kmoddir")
            .arg(&kmod)
            .arg("-o")
            .arg(image));
        let _ = std::fs::remove_dir_all(&kmod);
    });
    let s = with_root("fault_corrupt_module", root("cm"), &format!("root=UUID={UUID} ro rd.retry=3"));
    let mut vm = s.initrd(Initrd::File(image)).boot();
    vm.expect("the kernel refused module virtio_blk", 240);
    vm.expect("Could not boot.", 60);
    let text = vm.expect("dracut:/# ", 30);
    assert!(text.contains("Module virtio_blk failed to load"), "{text}");
    vm.poweroff();
}

/// What a stressed person types: line noise, a 4 KiB line, control keys at the prompt and while a
/// command runs. The shell survives all of it and the boot completes.
#[test]
fn console_abuse_at_the_prompt() {
    let mut vm = with_root("fault_console", root("con"), &format!("root=UUID={UUID} ro rd.break")).boot();
    let mut sh = vm.at_prompt("switch_root:/# ", 240);
    let noise: Vec<u8> = (0..512u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .filter(|b| *b != b'\r' && *b != b'\n' && *b != 0x04 && *b != 0x03)
        .collect();
    sh.send(&noise);
    // Ctrl-U twice: an escape sequence the noise left open may swallow the first.
    sh.send(b"\x15\x15");
    sh.run("echo after-noise");
    let long = "x".repeat(4096);
    sh.send_line(&format!("echo {long}"));
    sh.expect(&long[..64], 60);
    sh.expect_prompt(60);
    sh.send(b"\x1a\x1c"); // Ctrl-Z and Ctrl-\ at the prompt: ignored
    sh.send_line("echo still-here");
    sh.expect("still-here", 30);
    sh.expect_prompt(30);
    sh.interrupt("chroot /sysroot /bin/sleep 600", 3, b"\x1c", 30); // Ctrl-\ ends the command (SIGQUIT), not PID 1
                                                                    // Ctrl-Z: no job control here; the command is continued and finishes.
    sh.interrupt("chroot /sysroot /bin/sleep 3", 1, b"\x1a", 30);
    sh.continue_to_real_init();
}

/// `exit` with /sysroot unmounted: no switch into nothing; the shell says what to do.
#[test]
fn exit_without_a_mounted_root_is_refused() {
    let mut vm = with_root("fault_exit_unmounted", root("um"), &format!("root=UUID={UUID} ro rd.break")).boot();
    let mut sh = vm.at_prompt("switch_root:/# ", 240);
    sh.run("umount /sysroot");
    sh.send_line("exit");
    sh.expect("Not switching root: nothing is mounted on /sysroot", 60);
    let mut sh = sh.at_prompt("dracut:/# ", 30);
    sh.run("mount -o ro /dev/vda /sysroot");
    sh.continue_to_real_init();
}

/// A daemon started in the chroot and left running does not stop the switch, and does not
/// survive into the real system.
#[test]
fn a_daemon_left_in_the_chroot_is_stopped_before_the_switch() {
    let mut vm = with_root("fault_daemon", root("dm"), &format!("root=UUID={UUID} ro rd.break")).boot();
    let mut sh = vm.at_prompt("switch_root:/# ", 240);
    // The command waits a moment, as a daemonizing parent does, so the daemon is set up (its
    // stdin is /dev/null) while the chroot's /dev is still bound.
    sh.run("chroot /sysroot /bin/sh -c 'sleep 1000 & sleep 1'");
    sh.send_line("exit");
    sh.expect("stopping processes left running in the initramfs: sleep", 60);
    sh.runs_real_init(120);
}

/// An init the kernel could not start (its dynamic loader is gone) is refused before anything
/// moves, with the reason; the shell comes up in the untouched initramfs.
#[test]
fn an_init_without_its_loader_is_refused_before_the_switch() {
    let root = root("nl").customize(|t| {
        std::fs::remove_file(t.dir.join("usr/lib64/ld-linux-x86-64.so.2")).expect("the loader is in the tree");
    });
    let mut vm = with_root("fault_init_no_loader", root, &format!("root=UUID={UUID} ro init=/bin/bash")).boot();
    vm.expect("init /bin/bash cannot start from /sysroot: /bin/bash needs /lib64/ld-linux-x86-64.so.2, but", 240);
    let mut sh = vm.at_prompt("dracut:/# ", 30);
    let t = sh.run("ls /init /sysroot/usr/sbin/init");
    assert!(t.contains("/init") && !t.contains("No such file"), "the initramfs and the root are as they were: {t}");
    sh.send_line("poweroff");
    let t = sh.powered_off();
    assert!(!t.contains("Freed the initramfs"), "nothing was wiped");
}

/// switch_root failing midway: the checks pass (an ELF file with no interpreter), the mounts have
/// moved and the root has changed, then the kernel refuses the exec (an ELF for another machine).
/// Everything moves back, the initramfs is whole, and once fixed from the shell the boot goes on;
/// only then is the initramfs freed.
#[test]
fn a_switch_that_fails_midway_keeps_the_initramfs() {
    let test_init = assets::get().test_init.clone();
    let root = root("mw").customize(move |t| {
        let mut elf = std::fs::read(&test_init).expect("test init");
        elf[0x12] = 183; // e_machine: EM_AARCH64
        elf[0x13] = 0;
        t.file("usr/sbin/foreign-init", &elf, 0o755);
    });
    // Not quiet: the wiper's "Freed the initramfs" line is info-level.
    let s =
        Scenario::new("fault_switch_midway").root(root).append(&format!("root=UUID={UUID} ro init=/sbin/foreign-init"));
    let mut vm = s.boot();
    let t = vm.expect("cannot execute /sbin/foreign-init: Exec format error", 240);
    assert!(t.contains("Switching root to /sbin/foreign-init"), "the switch had begun");
    let mut sh = vm.at_prompt("dracut:/# ", 30);
    // Back in the initramfs, with the root on /sysroot and /proc, /dev where they were.
    let t = sh.run("ls /init; cat /proc/self/mountinfo");
    for m in [" /sysroot ", " /dev ", " /proc ", " /sys ", " /run "] {
        assert!(t.contains(m), "{m} is mounted again: {t}");
    }
    assert!(!t.contains("No such file"), "/init is still there: {t}");
    sh.run("mount -o remount,rw /sysroot");
    sh.run("ln -sf init /sysroot/usr/sbin/foreign-init");
    sh.send_line("exit");
    let before = sh.expect("RDBREAK-TEST-INIT pid=1 argv0=/sbin/foreign-init", 120);
    assert!(!before.contains("Freed the initramfs"), "not freed before the real init ran");
    let after = sh.expect("RDBREAK-TEST-INIT reaped", 60);
    let t = sh.powered_off();
    assert!(
        after.contains("rdbreak: Freed the initramfs: ") || t.contains("rdbreak: Freed the initramfs: "),
        "freed once the real init ran"
    );
}

/// A real root without /dev, /proc, /sys and /run: the API mounts cannot move there, so they are
/// detached, and the real init still starts.
#[test]
fn a_root_without_api_directories_still_switches() {
    let root = root("na").customize(|t| {
        for d in ["dev", "proc", "sys", "run"] {
            let _ = std::fs::remove_dir_all(t.dir.join(d));
        }
    });
    let mut vm = with_root("fault_no_api_dirs", root, &format!("root=UUID={UUID} ro")).boot();
    vm.real_init_pid1(240);
    let line = vm.expect("\n", 10);
    assert!(line.contains("proc=no"), "nothing was mounted where no directory was: {line}");
    vm.powered_off();
}

/// `rootfstype=` naming the wrong type: the probe wins, as in dracut.
#[test]
fn a_wrong_rootfstype_loses_to_the_probe() {
    with_root("fault_rootfstype", root("ft"), &format!("root=UUID={UUID} ro rootfstype=xfs"))
        .boot()
        .runs_real_init(240);
}

/// A long, badly quoted command line (the kernel's limit is 2 KiB on x86). Dotted keys, and quotes
/// that leave no bare words: the kernel itself panics past 32 init arguments or variables.
#[test]
fn a_long_badly_quoted_command_line() {
    let mut junk: String = (0..70).map(|i| format!("rd.key{i}=\"value{i}=={i}\"")).collect::<Vec<_>>().join(" ");
    junk += " rd.unterminated=\"this quote never closes";
    let append = format!("root=UUID={UUID} ro rd.retry=abc {junk}");
    with_root("fault_long_cmdline", root("lc"), &append).boot().runs_real_init(240);
}

/// Files written in the chroot reach the disk whichever way the machine leaves the shell.
fn nothing_lost(name: &str, append: &str, leave: &str, expect_on_console: &str, rdbreak_unmounts: bool) {
    let s = with_root(name, root("nl"), &format!("root=UUID={UUID} ro rd.break {append}"));
    let disk = s.image(0);
    let mut vm = s.boot();
    let mut sh = vm.at_prompt("switch_root:/# ", 240);
    sh.run("mount -o remount,rw /sysroot");
    sh.run(&format!("chroot /sysroot /bin/sh -c 'echo {name} > /root/written-in-chroot'"));
    sh.run(&format!("echo {name} > /sysroot/root/written-in-shell"));
    sh.send_line(leave);
    let t = sh.wait_exit(120);
    assert!(t.contains(expect_on_console), "{expect_on_console}");
    if rdbreak_unmounts {
        // rdbreak synced and made /sysroot read-only before the power went: nothing to repair.
        disk::ext4_clean(disk).unwrap_or_else(|e| panic!("the filesystem was left clean: {e}"));
    }
    disk::ext4_settle(disk);
    for f in ["/root/written-in-chroot", "/root/written-in-shell"] {
        let content = disk::ext4_read(disk, f).unwrap_or_else(|| panic!("{f} is on the disk"));
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
    let initrd = Initrd::rdbreak_build(&["--no-default-modules", "--modules", "virtio_pci,virtio_blk"]);
    let mut vm = with_root("fault_missing_fs", root("mf"), &format!("root=UUID={UUID} ro")).initrd(initrd).boot();
    vm.expect("Failed to mount the root filesystem", 240);
    let text = vm.expect("dracut:/# ", 30);
    assert!(text.contains("Modules requested but not in this initramfs: fs-ext4"), "{text}");
    vm.poweroff();
}
