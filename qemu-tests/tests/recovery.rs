//! The recovery shell, driven at the serial console like a person would: the password reset,
//! every break point, the emergency paths and Ctrl-C.

use std::path::{Path, PathBuf};

use rdbreak_qemu_tests::disk::{self, FsSpec, Tree};
use rdbreak_qemu_tests::{assets, workdir, Config, Modules, Vm};

const UUID: &str = "9d3c2b1a-0f1e-4d2c-8b3a-4c5d6e7f8091";
const PASSWORD: &str = "Rdbreak-Recovery-2026!";

fn recovery_disk(name: &str, customize: impl FnOnce(&Tree)) -> PathBuf {
    let a = assets::get();
    let dir = workdir(name);
    let tree = Tree::recovery(dir.join("tree"), &a.test_init);
    customize(&tree);
    let image = dir.join("root.img");
    disk::make_fs(&tree, &FsSpec { fstype: "ext4", uuid: UUID, label: "recovery", size_mib: 256 }, &image);
    image
}

fn boot(name: &str, disk: &Path, append: &str) -> Vm {
    let a = assets::get();
    let initrd = a.dracut_image(Modules::Plain);
    Vm::boot(name, &Config::new(&a.kernel, &initrd, &format!("quiet {append}")).disk(disk))
}

fn shadow_root_hash(image: &Path) -> String {
    disk::ext4_settle(image);
    let shadow = disk::ext4_read(image, "/etc/shadow").expect("/etc/shadow on the disk");
    shadow.lines().find(|l| l.starts_with("root:")).and_then(|l| l.split(':').nth(1)).expect("root entry").to_string()
}

/// The whole walk-through from the seed, typed at the prompts: remount, chroot, passwd (both
/// prompts), touch /.autorelabel, exit, exit, and the real init starts.
fn password_reset(vm: &mut Vm) {
    vm.expect("Break before switch_root", 240);
    vm.expect("switch_root:/# ", 30);
    vm.run("mount -o remount,rw /sysroot", "switch_root:/# ", 30);
    vm.send_line("chroot /sysroot");
    vm.expect("# ", 60);
    vm.send_line("passwd");
    vm.expect("New password:", 60);
    vm.send_line(PASSWORD);
    vm.expect("Retype new password:", 30);
    vm.send_line(PASSWORD);
    vm.expect("password updated successfully", 60);
    vm.expect("# ", 30);
    vm.send_line("touch /.autorelabel");
    vm.expect("# ", 30);
    vm.send_line("exit");
    vm.expect("switch_root:/# ", 30);
    vm.send_line("exit");
    let report = vm.expect("RDBREAK-TEST-INIT pid=", 120);
    let _ = report;
}

fn assert_password_changed(image: &Path, before: &str) {
    disk::ext4_settle(image);
    let after = shadow_root_hash(image);
    assert_ne!(after, before, "the root password hash changed on the disk");
    assert!(after.starts_with("$y$") || after.starts_with("$6$"), "a real crypt hash: {after}");
    assert!(disk::ext4_read(image, "/.autorelabel").is_some(), "/.autorelabel exists on the disk");
}

#[test]
fn password_reset_walkthrough() {
    let image = recovery_disk("password_reset", |_| {});
    let before = shadow_root_hash(&image);
    let mut vm = boot("password_reset", &image, &format!("root=UUID={UUID} ro rd.break"));
    let start = vm.started;
    password_reset(&mut vm);
    let t = vm.wait_exit(60);
    assert!(t.contains("pid=1"));
    eprintln!("[password_reset] walk-through done in {:?} of host time", start.elapsed());
    assert_password_changed(&image, &before);
}

/// Every break point in one boot (they are repeatable): the right message, prompt and state at
/// each, and `exit` resumes from exactly there.
#[test]
fn every_break_point_in_order() {
    let image = recovery_disk("break_points", |_| {});
    let stages = ["cmdline", "pre-udev", "pre-trigger", "initqueue", "pre-mount", "mount", "pre-pivot", "cleanup"];
    let breaks: Vec<String> = stages.iter().map(|s| format!("rd.break={s}")).collect();
    let mut vm = boot("break_points", &image, &format!("root=UUID={UUID} ro {} rd.break", breaks.join(" ")));
    for stage in stages.iter().chain(["switch_root"].iter()) {
        vm.expect(&format!("Break before {stage}"), 240);
        let prompt = format!("{stage}:/# ");
        vm.expect(&prompt, 30);
        let mounts = vm.run("mount", &prompt, 30);
        let mounted = mounts.contains(" on /sysroot ");
        let expect_mounted = matches!(*stage, "pre-pivot" | "cleanup" | "switch_root");
        assert_eq!(mounted, expect_mounted, "at {stage}, /sysroot mounted: {mounts}");
        if expect_mounted {
            assert!(
                mounts.lines().any(|l| l.contains(" on /sysroot ") && l.contains("(ro")),
                "read-only at {stage}: {mounts}"
            );
        }
        let modules = vm.run("lsmod", &prompt, 30);
        let coldplugged = modules.contains("virtio_blk");
        let expect_coldplug = !matches!(*stage, "cmdline" | "pre-udev" | "pre-trigger");
        assert_eq!(coldplugged, expect_coldplug, "at {stage}, drivers loaded: {modules}");
        vm.send_line("exit");
    }
    vm.expect("RDBREAK-TEST-INIT pid=1", 120);
    vm.wait_exit(60);
}

#[test]
fn unknown_break_values_are_warned_about_and_ignored() {
    let image = recovery_disk("break_unknown", |_| {});
    let mut vm = boot("break_unknown", &image, &format!("root=UUID={UUID} ro rd.break=pre-mont rd.break=switch_root"));
    vm.expect("ignoring unknown break point rd.break=pre-mont", 240);
    vm.expect("RDBREAK-TEST-INIT pid=1", 120);
    vm.wait_exit(60);
}

#[test]
fn initramfs_tools_break_spelling() {
    let image = recovery_disk("break_premount", |_| {});
    let mut vm = boot("break_premount", &image, &format!("root=UUID={UUID} ro break=premount"));
    vm.expect("pre-mount:/# ", 240);
    vm.send_line("exit");
    vm.expect("RDBREAK-TEST-INIT pid=1", 120);
    vm.wait_exit(60);
}

/// Ctrl-C stops a long command at the prompt and inside the chroot; PID 1 and the boot go on.
#[test]
fn ctrl_c_interrupts_commands_not_pid1() {
    let image = recovery_disk("ctrl_c", |_| {});
    let mut vm = boot("ctrl_c", &image, &format!("root=UUID={UUID} ro rd.break"));
    vm.expect("switch_root:/# ", 240);
    vm.send_line("sleep 600");
    std::thread::sleep(std::time::Duration::from_secs(2));
    vm.send(b"\x03");
    vm.expect("switch_root:/# ", 20);
    vm.run("echo status=$?", "switch_root:/# ", 20);
    vm.send_line("chroot /sysroot /bin/sleep 600");
    std::thread::sleep(std::time::Duration::from_secs(3));
    vm.send(b"\x03");
    vm.expect("switch_root:/# ", 20);
    vm.send_line("chroot /sysroot");
    vm.expect("# ", 60);
    vm.send_line("sleep 600");
    std::thread::sleep(std::time::Duration::from_secs(3));
    vm.send(b"\x03");
    vm.expect("# ", 20);
    vm.send_line("exit");
    vm.expect("switch_root:/# ", 30);
    // Ctrl-C on the prompt itself just drops the line.
    vm.send(b"half a line\x03");
    vm.expect("switch_root:/# ", 20);
    vm.send_line("exit");
    vm.expect("RDBREAK-TEST-INIT pid=1", 120);
    vm.wait_exit(60);
}

#[test]
fn no_root_argument_dies_into_the_shell_then_powers_off() {
    let image = recovery_disk("no_root", |_| {});
    let mut vm = boot("no_root", &image, "ro");
    vm.expect("No or empty root= argument", 240);
    vm.expect("Generating \"/run/initramfs/rdsosreport.txt\"", 30);
    vm.expect("dracut:/# ", 30);
    let report = vm.run("cat /run/initramfs/rdsosreport.txt", "dracut:/# ", 30);
    assert!(report.contains("+ cat /proc/cmdline"), "the report was written: {report}");
    vm.send_line("exit");
    let t = vm.wait_exit(60);
    assert!(t.contains("reboot: Power down"), "a fatal error powers off after the shell");
}

#[test]
fn missing_root_device_waits_then_explains() {
    let image = recovery_disk("root_missing", |_| {});
    let mut vm = boot("root_missing", &image, "root=UUID=00000000-1111-2222-3333-444444444444 ro rd.retry=5");
    vm.expect("Could not boot.", 240);
    vm.expect("\"/dev/disk/by-uuid/00000000-1111-2222-3333-444444444444\" does not exist", 10);
    let seen = vm.expect("dracut:/# ", 30);
    assert!(seen.contains(&format!("UUID={UUID}")), "the message lists what was found: {seen}");
    let blkid = vm.run("blkid", "dracut:/# ", 30);
    assert!(blkid.contains(UUID), "blkid works in the shell: {blkid}");
    vm.send_line("poweroff");
    let t = vm.wait_exit(60);
    assert!(t.contains("reboot: Power down"));
}

#[test]
fn root_found_from_the_shell_then_boot_continues() {
    // A wrong root= fixed by hand: mount the right device on /sysroot and exit.
    let image = recovery_disk("root_fixed_by_hand", |_| {});
    let mut vm = boot("root_fixed_by_hand", &image, "root=LABEL=wrong ro rd.retry=3");
    vm.expect("Could not boot.", 240);
    vm.expect("dracut:/# ", 30);
    vm.run(&format!("mount -o ro UUID={UUID} /sysroot"), "dracut:/# ", 30);
    vm.send_line("exit");
    // The root mounted by hand is used; the wrong root= is not waited for again.
    vm.expect("RDBREAK-TEST-INIT pid=1", 60);
    vm.wait_exit(60);
}

#[test]
fn mount_failure_opens_the_shell() {
    let image = recovery_disk("mount_fails", |_| {});
    let mut vm = boot("mount_fails", &image, &format!("root=UUID={UUID} ro rootflags=no_such_option"));
    vm.expect("Failed to mount the root filesystem", 240);
    vm.expect("dracut:/# ", 30);
    vm.send_line("poweroff");
    vm.wait_exit(60);
}

#[test]
fn missing_init_opens_the_shell() {
    // No /sbin/init and no /bin/sh: nothing to start.
    let image = recovery_disk("no_init", |t| {
        let _ = std::fs::remove_file(t.dir.join("usr/sbin/init"));
        let _ = std::fs::remove_file(t.dir.join("usr/bin/sh"));
    });
    let mut vm = boot("no_init", &image, &format!("root=UUID={UUID} ro init=/nope"));
    vm.expect("Cannot find init!", 240);
    vm.expect("dracut:/# ", 30);
    vm.send_line("poweroff");
    vm.wait_exit(60);
}

#[test]
fn rd_shell_0_powers_off_without_a_shell() {
    let image = recovery_disk("rd_shell_0", |_| {});
    // panic=0 overrides the harness's panic=-1, which (as for the kernel) would mean "reboot".
    let mut vm = boot("rd_shell_0", &image, "ro rd.shell=0 panic=0");
    vm.expect("Boot has failed. To debug this issue add \"rd.shell rd.debug\" to the kernel command line.", 240);
    let t = vm.wait_exit(60);
    assert!(!t.contains("dracut:/# "), "no shell with rd.shell=0");
    assert!(t.contains("reboot: Power down"));
}

#[test]
fn rd_shell_0_still_breaks_on_rd_break() {
    let image = recovery_disk("rd_shell_0_break", |_| {});
    let mut vm = boot("rd_shell_0_break", &image, &format!("root=UUID={UUID} ro rd.shell=0 rd.break"));
    vm.expect("switch_root:/# ", 240);
    vm.send(b"\x04"); // Ctrl-D on an empty line: like exit
    vm.expect("RDBREAK-TEST-INIT pid=1", 120);
    vm.wait_exit(60);
}

#[test]
fn rd_emergency_reboot_applies_after_the_shell() {
    let image = recovery_disk("rd_emergency_reboot", |_| {});
    let mut vm = boot("rd_emergency_reboot", &image, &format!("root=UUID={UUID} ro rd.break rd.emergency=reboot"));
    vm.expect("switch_root:/# ", 240);
    vm.send_line("exit");
    let t = vm.wait_exit(60);
    assert!(t.contains("reboot: Restarting system"), "rd.emergency=reboot reboots when the shell exits");
    assert!(!t.contains("RDBREAK-TEST-INIT"));
}

/// The seed's way in: GRUB on a serial terminal with a `linux16`/`initrd16` entry (as on RHEL 7),
/// booted without `rd.break`; at the menu, press `e`, go down to the `linux16` line, append
/// ` rd.break`, press Ctrl-X, and do the password reset.
#[test]
fn grub_edit_linux16_line_then_password_reset() {
    let a = assets::get();
    let dir = workdir("grub_rd_break");
    let tree = Tree::recovery(dir.join("tree"), &a.test_init);
    tree.file("boot/vmlinuz", &std::fs::read(&a.kernel).expect("kernel"), 0o644);
    tree.file("boot/initramfs.img", &std::fs::read(a.dracut_image(Modules::Plain)).expect("initrd"), 0o644);
    let cfg = format!(
        "serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\nset timeout=60\n\
         menuentry 'Debian GNU/Linux, rdbreak' {{\n\
         \tinsmod part_msdos\n\
         \tinsmod ext2\n\
         \tsearch --no-floppy --fs-uuid --set=root {UUID}\n\
         \tlinux16 /boot/vmlinuz root=UUID={UUID} ro console=ttyS0 panic=-1 quiet\n\
         \tinitrd16 /boot/initramfs.img\n\
         }}\n"
    );
    let image = dir.join("disk.img");
    disk::bios_grub_disk(&tree, &FsSpec { fstype: "ext4", uuid: UUID, label: "root", size_mib: 200 }, &cfg, &image);
    drop(tree);
    let before = {
        // The partition starts at sector 2048; debugfs reads the filesystem through an offset.
        let part = dir.join("part.img");
        std::process::Command::new("dd")
            .arg(format!("if={}", image.display()))
            .arg(format!("of={}", part.display()))
            .args(["bs=512", "skip=2048", "status=none"])
            .status()
            .expect("dd");
        let h = shadow_root_hash(&part);
        let _ = std::fs::remove_file(&part);
        h
    };
    let mut cfg_vm = Config::new(&a.kernel, &a.kernel, "");
    cfg_vm.bios_boot = true;
    let mut vm = Vm::boot("grub_rd_break", &cfg_vm.disk(&image));
    vm.expect("Debian GNU/Linux, rdbreak", 180);
    vm.send(b"e");
    // Look at the editor screen: the cursor starts on the first line (row 5); find the row the
    // linux16 line is drawn on and go down that many lines, as a person would.
    let screen = vm.expect("linux16 /boot/vmlinuz", 30);
    let at = screen.rfind("linux16 /boot/vmlinuz").expect("linux16 on screen");
    let row_start = screen[..at].rfind("\x1b[").expect("cursor position before the line") + 2;
    let row: usize = screen[row_start..].split(';').next().and_then(|r| r.parse().ok()).expect("row number");
    // Ctrl-N moves down one line; GRUB answers by placing the cursor (`ESC[<row>;3H`). Watch
    // where it lands until it is on the linux16 line (long lines wrap, so rows are not lines).
    let initial = vm.expect(";3H\x1b[?25h", 10); // where the editor put the cursor first
    assert!(initial.ends_with("\x1b[5;3H\x1b[?25h"), "the cursor starts on the first line");
    let mut cursor_row = 5;
    for _ in 0..20 {
        if cursor_row == row {
            break;
        }
        vm.send(b"\x0e");
        let moved = vm.expect(";3H\x1b[?25h", 10);
        let start = moved.rfind("\x1b[").map_or(0, |i| i + 2);
        let start = moved[..start.saturating_sub(2)].rfind("\x1b[").map_or(start, |i| i + 2);
        cursor_row = moved[start..].split(';').next().and_then(|r| r.parse().ok()).unwrap_or(0);
    }
    assert_eq!(cursor_row, row, "the cursor reached the linux16 line");
    vm.send(b"\x05"); // Ctrl-E: end of line
    std::thread::sleep(std::time::Duration::from_millis(300));
    vm.send(b" rd.break");
    std::thread::sleep(std::time::Duration::from_millis(500));
    vm.send(b"\x18"); // Ctrl-X: boot the edited entry
    password_reset(&mut vm);
    vm.wait_exit(60);
    let part = dir.join("part.img");
    std::process::Command::new("dd")
        .arg(format!("if={}", image.display()))
        .arg(format!("of={}", part.display()))
        .args(["bs=512", "skip=2048", "status=none"])
        .status()
        .expect("dd");
    assert_password_changed(&part, &before);
}

#[test]
fn panic_delay_reboots_when_there_is_no_shell() {
    let image = recovery_disk("panic_delay", |_| {});
    let mut vm = boot("panic_delay", &image, "ro rd.shell=0 panic=2");
    vm.expect("rebooting in 2 seconds (panic=2)", 240);
    let t = vm.wait_exit(60);
    assert!(t.contains("reboot: Restarting system"), "panic=N reboots instead of powering off");
}

/// The same walk-through on an image made by `rdbreak build` instead of dracut.
#[test]
fn rdbreak_build_image_password_reset() {
    let a = assets::get();
    let image = recovery_disk("rdbreak_build_reset", |_| {});
    let before = shadow_root_hash(&image);
    let initrd = a.rdbreak_build_image();
    let cfg = Config::new(&a.kernel, &initrd, &format!("quiet root=UUID={UUID} ro rd.break")).disk(&image);
    let mut vm = Vm::boot("rdbreak_build_reset", &cfg);
    password_reset(&mut vm);
    vm.wait_exit(60);
    assert_password_changed(&image, &before);
}

/// A USB keyboard plugged in at the break prompt (as one that enumerates late, or a person who
/// plugs theirs in when the prompt shows): its drivers, usbhid and hid-generic, are loaded while
/// the shell runs, and the kernel's input layer has it.
fn usb_keyboard_plugged_at_the_prompt(name: &str, initrd: &Path) {
    let a = assets::get();
    let disk = recovery_disk(name, |_| {});
    let mut cfg = Config::new(&a.kernel, initrd, &format!("quiet root=UUID={UUID} ro rd.break")).disk(&disk);
    cfg.devices = vec!["qemu-xhci,id=xhci".into()];
    cfg.monitor = Some(std::env::temp_dir().join(format!("rdbreak-{name}-{}.monitor", std::process::id())));
    let mut vm = Vm::boot(name, &cfg);
    vm.expect("switch_root:/# ", 240);
    let before = vm.run("cat /proc/modules", "switch_root:/# ", 30);
    assert!(before.contains("xhci_pci"), "the USB controller's driver is loaded at coldplug: {before}");
    assert!(!before.contains("usbhid"), "no keyboard yet, so no keyboard driver: {before}");
    let answer = vm.monitor("device_add usb-kbd,bus=xhci.0,id=kbd");
    assert!(!answer.contains("Error"), "hot-plug: {answer}");
    let mut devices = String::new();
    for _ in 0..60 {
        devices = vm.run("cat /proc/bus/input/devices", "switch_root:/# ", 30);
        if devices.contains("QEMU USB Keyboard") {
            break;
        }
        vm.run("sleep 1", "switch_root:/# ", 30);
    }
    assert!(devices.contains("QEMU USB Keyboard"), "the keyboard never reached the input layer: {devices}");
    let after = vm.run("cat /proc/modules", "switch_root:/# ", 30);
    assert!(after.contains("usbhid") && after.contains("hid_generic"), "{after}");
    vm.send_line("exit");
    vm.expect("RDBREAK-TEST-INIT pid=", 120);
    vm.wait_exit(60);
}

#[test]
fn usb_keyboard_at_the_prompt_dracut_image() {
    usb_keyboard_plugged_at_the_prompt("usb_keyboard_dracut", &assets::get().dracut_image(Modules::Plain));
}

#[test]
fn usb_keyboard_at_the_prompt_rdbreak_build_image() {
    usb_keyboard_plugged_at_the_prompt("usb_keyboard_build", &assets::get().rdbreak_build_image());
}
