//! The recovery shell, driven at the serial console like a person would: the password reset,
//! every break point, the emergency paths and Ctrl-C.

use std::path::Path;

use rdbreak_qemu_tests::assets::DracutVariant;
use rdbreak_qemu_tests::outcome::REPORT;
use rdbreak_qemu_tests::{assets, disk, grub, Initrd, Modules, Root, Scenario, Vm};

const UUID: &str = "9d3c2b1a-0f1e-4d2c-8b3a-4c5d6e7f8091";
const PASSWORD: &str = "Rdbreak-Recovery-2026!";

fn recovery_root() -> Root {
    Root::recovery(UUID).label("recovery")
}

/// The recovery root, the dracut image, `quiet` and `append`.
fn scenario(name: &str, append: &str) -> Scenario {
    Scenario::new(name).root(recovery_root()).quiet().append(append)
}

fn shadow_root_hash(image: &Path) -> String {
    disk::ext4_settle(image);
    let shadow = disk::ext4_read(image, "/etc/shadow").expect("/etc/shadow on the disk");
    shadow.lines().find(|l| l.starts_with("root:")).and_then(|l| l.split(':').nth(1)).expect("root entry").to_string()
}

/// The whole walk-through from the seed, typed at the prompts ([`Vm::password_reset`]).
fn password_reset(vm: &mut Vm) {
    vm.password_reset(PASSWORD);
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
    let s = scenario("password_reset", &format!("root=UUID={UUID} ro rd.break"));
    let before = shadow_root_hash(s.image(0));
    let mut vm = s.boot();
    let start = vm.started;
    password_reset(&mut vm);
    let t = vm.powered_off();
    assert!(t.contains("pid=1"));
    eprintln!("[password_reset] walk-through done in {:?} of host time", start.elapsed());
    assert_password_changed(s.image(0), &before);
}

/// Every break point in one boot (they are repeatable): the right message, prompt and state at
/// each, and `exit` resumes from exactly there.
#[test]
fn every_break_point_in_order() {
    let stages = ["cmdline", "pre-udev", "pre-trigger", "initqueue", "pre-mount", "mount", "pre-pivot", "cleanup"];
    let breaks: Vec<String> = stages.iter().map(|s| format!("rd.break={s}")).collect();
    let mut vm = scenario("break_points", &format!("root=UUID={UUID} ro {} rd.break", breaks.join(" "))).boot();
    for stage in stages.iter().chain(["switch_root"].iter()) {
        vm.expect(&format!("Break before {stage}"), 240);
        let mut sh = vm.at_prompt(&format!("{stage}:/# "), 30);
        let mounts = sh.run("mount");
        let mounted = mounts.contains(" on /sysroot ");
        let expect_mounted = matches!(*stage, "pre-pivot" | "cleanup" | "switch_root");
        assert_eq!(mounted, expect_mounted, "at {stage}, /sysroot mounted: {mounts}");
        if expect_mounted {
            assert!(
                mounts.lines().any(|l| l.contains(" on /sysroot ") && l.contains("(ro")),
                "read-only at {stage}: {mounts}"
            );
        }
        let modules = sh.run("lsmod");
        let coldplugged = modules.contains("virtio_blk");
        let expect_coldplug = !matches!(*stage, "cmdline" | "pre-udev" | "pre-trigger");
        assert_eq!(coldplugged, expect_coldplug, "at {stage}, drivers loaded: {modules}");
        sh.send_line("exit");
    }
    vm.runs_real_init(120);
}

#[test]
fn unknown_break_values_are_warned_about_and_ignored() {
    let mut vm =
        scenario("break_unknown", &format!("root=UUID={UUID} ro rd.break=pre-mont rd.break=switch_root")).boot();
    vm.expect("ignoring unknown break point rd.break=pre-mont", 240);
    vm.runs_real_init(120);
}

#[test]
fn initramfs_tools_break_spelling() {
    let mut vm = scenario("break_premount", &format!("root=UUID={UUID} ro break=premount")).boot();
    vm.expect("pre-mount:/# ", 240);
    vm.continue_to_real_init();
}

/// Ctrl-C stops a long command at the prompt and inside the chroot; PID 1 and the boot go on.
#[test]
fn ctrl_c_interrupts_commands_not_pid1() {
    let mut vm = scenario("ctrl_c", &format!("root=UUID={UUID} ro rd.break")).boot();
    let mut sh = vm.at_prompt("switch_root:/# ", 240);
    sh.interrupt("sleep 600", 2, b"\x03", 20);
    sh.run_within("echo status=$?", 20);
    sh.interrupt("chroot /sysroot /bin/sleep 600", 3, b"\x03", 20);
    let mut chroot = sh.enter("chroot /sysroot", "# ", 60);
    chroot.interrupt("sleep 600", 3, b"\x03", 20);
    chroot.send_line("exit");
    sh.expect_prompt(30);
    // Ctrl-C on the prompt itself just drops the line.
    sh.send(b"half a line\x03");
    sh.expect_prompt(20);
    sh.continue_to_real_init();
}

#[test]
fn no_root_argument_dies_into_the_shell_then_powers_off() {
    let mut vm = scenario("no_root", "ro").boot();
    vm.expect("No or empty root= argument", 240);
    vm.expect("Generating \"/run/initramfs/rdsosreport.txt\"", 30);
    let mut sh = vm.at_prompt("dracut:/# ", 30);
    let report = sh.run("cat /run/initramfs/rdsosreport.txt");
    assert!(report.contains("+ cat /proc/cmdline"), "the report was written: {report}");
    sh.send_line("exit");
    let t = sh.powered_off();
    assert!(t.contains("reboot: Power down"), "a fatal error powers off after the shell");
}

#[test]
fn missing_root_device_waits_then_explains() {
    let mut vm = scenario("root_missing", "root=UUID=00000000-1111-2222-3333-444444444444 ro rd.retry=5").boot();
    vm.expect("Could not boot.", 240);
    vm.expect("\"/dev/disk/by-uuid/00000000-1111-2222-3333-444444444444\" does not exist", 10);
    let mut sh = vm.at_prompt("dracut:/# ", 30);
    let seen = sh.before();
    assert!(seen.contains(&format!("UUID={UUID}")), "the message lists what was found: {seen}");
    let blkid = sh.run("blkid");
    assert!(blkid.contains(UUID), "blkid works in the shell: {blkid}");
    sh.poweroff();
}

#[test]
fn root_found_from_the_shell_then_boot_continues() {
    // A wrong root= fixed by hand: mount the right device on /sysroot and exit.
    let mut vm = scenario("root_fixed_by_hand", "root=LABEL=wrong ro rd.retry=3").boot();
    vm.expect("Could not boot.", 240);
    let mut sh = vm.at_prompt("dracut:/# ", 30);
    sh.run(&format!("mount -o ro UUID={UUID} /sysroot"));
    sh.send_line("exit");
    // The root mounted by hand is used; the wrong root= is not waited for again.
    sh.runs_real_init(60);
}

#[test]
fn mount_failure_opens_the_shell() {
    let mut vm = scenario("mount_fails", &format!("root=UUID={UUID} ro rootflags=no_such_option")).boot();
    vm.expect("Failed to mount the root filesystem", 240);
    vm.expect("dracut:/# ", 30);
    vm.send_line("poweroff");
    vm.powered_off();
}

#[test]
fn missing_init_opens_the_shell() {
    // No /sbin/init and no /bin/sh: nothing to start.
    let root = recovery_root().customize(|t| {
        let _ = std::fs::remove_file(t.dir.join("usr/sbin/init"));
        let _ = std::fs::remove_file(t.dir.join("usr/bin/sh"));
    });
    let s = Scenario::new("no_init").root(root).quiet().append(&format!("root=UUID={UUID} ro init=/nope"));
    let mut vm = s.boot();
    vm.expect("Cannot find init!", 240);
    vm.expect("dracut:/# ", 30);
    vm.send_line("poweroff");
    vm.powered_off();
}

#[test]
fn rd_shell_0_powers_off_without_a_shell() {
    // panic=0 overrides the harness's panic=-1, which (as for the kernel) would mean "reboot".
    let mut vm = scenario("rd_shell_0", "ro rd.shell=0 panic=0").boot();
    vm.expect("Boot has failed. To debug this issue add \"rd.shell rd.debug\" to the kernel command line.", 240);
    let t = vm.powered_off();
    assert!(!t.contains("dracut:/# "), "no shell with rd.shell=0");
    assert!(t.contains("reboot: Power down"));
}

#[test]
fn rd_shell_0_still_breaks_on_rd_break() {
    let mut vm = scenario("rd_shell_0_break", &format!("root=UUID={UUID} ro rd.shell=0 rd.break")).boot();
    vm.expect("switch_root:/# ", 240);
    vm.send(b"\x04"); // Ctrl-D on an empty line: like exit
    vm.runs_real_init(120);
}

#[test]
fn rd_emergency_reboot_applies_after_the_shell() {
    let mut vm = scenario("rd_emergency_reboot", &format!("root=UUID={UUID} ro rd.break rd.emergency=reboot")).boot();
    vm.expect("switch_root:/# ", 240);
    vm.send_line("exit");
    let t = vm.powered_off();
    assert!(t.contains("reboot: Restarting system"), "rd.emergency=reboot reboots when the shell exits");
    assert!(!t.contains("RDBREAK-TEST-INIT"));
}

/// The seed's way in: GRUB on a serial terminal with a `linux16`/`initrd16` entry (as on RHEL 7),
/// booted without `rd.break`; at the menu, press `e`, go down to the `linux16` line, append
/// ` rd.break`, press Ctrl-X, and do the password reset.
#[test]
fn grub_edit_linux16_line_then_password_reset() {
    let a = assets::get();
    let cfg = grub::serial_menu(
        "Debian GNU/Linux, rdbreak",
        &[
            "insmod part_msdos",
            "insmod ext2",
            &format!("search --no-floppy --fs-uuid --set=root {UUID}"),
            &format!("linux16 /boot/vmlinuz root=UUID={UUID} ro console=ttyS0 panic=-1 quiet"),
            "initrd16 /boot/initramfs.img",
        ],
    );
    // The image as dracut ships it, compressed: GRUB reads it through the BIOS.
    let shipped = DracutVariant { compressed: true, ..Default::default() };
    let (kernel, initrd) = (a.kernel.clone(), a.dracut_image_variant(Modules::Plain, shipped));
    let root = Root::recovery(UUID).label("root").size_mib(200).bios_grub(&cfg).customize(move |t| {
        t.file("boot/vmlinuz", &std::fs::read(&kernel).expect("kernel"), 0o644);
        t.file("boot/initramfs.img", &std::fs::read(&initrd).expect("initrd"), 0o644);
    });
    let s = Scenario::new("grub_rd_break").root(root).bios_boot();
    // debugfs reads the filesystem from a copy of the partition.
    let part = s.dir().join("part.img");
    disk::bios_grub_partition(s.image(0), &part);
    let before = shadow_root_hash(&part);
    let _ = std::fs::remove_file(&part);
    let mut vm = s.boot();
    vm.expect("Debian GNU/Linux, rdbreak", 180);
    // At the menu, edit the entry as a person would: down to the linux16 line, add rd.break.
    vm.grub_edit_and_boot("linux16 /boot/vmlinuz", " rd.break");
    password_reset(&mut vm);
    vm.powered_off();
    disk::bios_grub_partition(s.image(0), &part);
    assert_password_changed(&part, &before);
}

#[test]
fn panic_delay_reboots_when_there_is_no_shell() {
    let mut vm = scenario("panic_delay", "ro rd.shell=0 panic=2").boot();
    vm.expect("rebooting in 2 seconds (panic=2)", 240);
    let t = vm.powered_off();
    assert!(t.contains("reboot: Restarting system"), "panic=N reboots instead of powering off");
}

/// The same walk-through on an image made by `rdbreak build` instead of dracut.
#[test]
fn rdbreak_build_image_password_reset() {
    let s =
        scenario("rdbreak_build_reset", &format!("root=UUID={UUID} ro rd.break")).initrd(Initrd::rdbreak_build(&[]));
    let before = shadow_root_hash(s.image(0));
    let mut vm = s.boot();
    password_reset(&mut vm);
    vm.powered_off();
    assert_password_changed(s.image(0), &before);
}

/// A USB keyboard plugged in at the break prompt (as one that enumerates late, or a person who
/// plugs theirs in when the prompt shows): its drivers, usbhid and hid-generic, are loaded while
/// the shell runs, and the kernel's input layer has it.
fn usb_keyboard_plugged_at_the_prompt(name: &str, initrd: Initrd) {
    let s = scenario(name, &format!("root=UUID={UUID} ro rd.break")).initrd(initrd);
    let mut vm = s.device("qemu-xhci,id=xhci").monitor().boot();
    let mut sh = vm.at_prompt("switch_root:/# ", 240);
    let before = sh.run("cat /proc/modules");
    assert!(before.contains("xhci_pci"), "the USB controller's driver is loaded at coldplug: {before}");
    assert!(!before.contains("usbhid"), "no keyboard yet, so no keyboard driver: {before}");
    let answer = sh.monitor("device_add usb-kbd,bus=xhci.0,id=kbd");
    assert!(!answer.contains("Error"), "hot-plug: {answer}");
    let mut devices = String::new();
    for _ in 0..60 {
        devices = sh.run("cat /proc/bus/input/devices");
        if devices.contains("QEMU USB Keyboard") {
            break;
        }
        sh.run("sleep 1");
    }
    assert!(devices.contains("QEMU USB Keyboard"), "the keyboard never reached the input layer: {devices}");
    let after = sh.run("cat /proc/modules");
    assert!(after.contains("usbhid") && after.contains("hid_generic"), "{after}");
    sh.send_line("exit");
    sh.expect(REPORT, 120);
    sh.powered_off();
}

#[test]
fn usb_keyboard_at_the_prompt_dracut_image() {
    usb_keyboard_plugged_at_the_prompt("usb_keyboard_dracut", Initrd::Dracut(Modules::Plain));
}

#[test]
fn usb_keyboard_at_the_prompt_rdbreak_build_image() {
    usb_keyboard_plugged_at_the_prompt("usb_keyboard_build", Initrd::rdbreak_build(&[]));
}
