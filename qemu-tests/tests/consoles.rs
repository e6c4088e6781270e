//! The shell on every console: with a screen and a serial line, both show why the boot stopped
//! and the first Enter takes the shell, whichever of them the kernel made `/dev/console`. The
//! person at the screen types on the machine's own PS/2 keyboard (QEMU's `sendkey`) and reads
//! the VGA text screen; the serial line only shows the kernel's messages and the offer.

use std::path::Path;

use rdbreak_qemu_tests::{builder, disk, screen, Initrd, Root, Scenario, Vm};

const UUID: &str = "5e1f3a2b-7c4d-4e5f-9a6b-1c2d3e4f5a6b";
const PASSWORD: &str = "Rdbreak-Screen-2026!";

/// The recovery root on a machine with a VGA card and the monitor that types on its keyboard.
/// The harness's own `console=ttyS0` comes first on the line; `consoles` follows it.
fn scenario(name: &str, consoles: &str) -> Scenario {
    Scenario::new(name)
        .root(Root::recovery(UUID).label("recovery"))
        .screen()
        .append(&format!("root=UUID={UUID} ro rd.break {consoles}"))
}

fn root_hash(image: &Path) -> String {
    disk::ext4_settle(image);
    let shadow = disk::ext4_read(image, "/etc/shadow").expect("/etc/shadow on the disk");
    shadow.lines().find(|l| l.starts_with("root:")).and_then(|l| l.split(':').nth(1)).expect("root entry").to_string()
}

/// The seed's walk-through typed at the screen, each step waited for on the screen.
fn walkthrough_at_the_screen(vm: &mut Vm, scratch: &Path) {
    let prompt = |l: &str| l == "switch_root:/#";
    screen::wait_last_line(vm, scratch, "the break prompt", 60, &prompt);
    screen::type_text(vm, "mount -o remount,rw /sysroot\n");
    screen::wait_last_line(vm, scratch, "the prompt after the remount", 30, &prompt);
    screen::type_text(vm, "chroot /sysroot\n");
    screen::wait_last_line(vm, scratch, "the chroot's prompt", 60, &|l| l.ends_with('#') && !prompt(l));
    screen::type_text(vm, "passwd\n");
    screen::wait_last_line(vm, scratch, "passwd's first prompt", 60, &|l| l.ends_with("New password:"));
    screen::type_text(vm, &format!("{PASSWORD}\n"));
    screen::wait_last_line(vm, scratch, "passwd's second prompt", 30, &|l| l.ends_with("Retype new password:"));
    screen::type_text(vm, &format!("{PASSWORD}\n"));
    screen::wait_for(vm, scratch, "password updated successfully", 60);
    screen::type_text(vm, "touch /.autorelabel\n");
    screen::type_text(vm, "exit\n");
    screen::wait_last_line(vm, scratch, "the break prompt after the chroot", 30, &prompt);
    screen::type_text(vm, "exit\n");
}

/// Enter at the screen takes the shell there (the serial line says so), then the walk-through is
/// typed at the screen and the reset is checked on the disk.
fn enter_then_reset_at_the_screen(mut vm: Vm, scratch: &Path, image: &Path, before: &str) {
    screen::type_text(&mut vm, "\n");
    vm.expect("The shell is on /dev/tty1", 30);
    walkthrough_at_the_screen(&mut vm, scratch);
    vm.powered_off();
    assert_reset_on_disk(image, before);
}

fn assert_reset_on_disk(image: &Path, before: &str) {
    let after = root_hash(image);
    assert_ne!(after, before, "the root password hash changed on the disk");
    assert!(disk::ext4_read(image, "/.autorelabel").is_some(), "/.autorelabel exists on the disk");
    let log = disk::ext4_read(image, "/test-init.log").expect("the real init ran");
    assert!(log.contains("pid=1"), "the real init ran as PID 1: {log}");
}

/// `console=tty0 console=ttyS0` (RHEL's cloud images, many hypervisor templates): the serial
/// line is the kernel's console, yet the person at the screen gets the shell and does the reset.
#[test]
fn screen_first_serial_last_the_screen_takes_the_shell() {
    let s = scenario("screen_then_serial", "console=tty0 console=ttyS0");
    let scratch = s.dir().join("screen.bin");
    let before = root_hash(s.image(0));
    let mut vm = s.boot();
    vm.expect("Break before switch_root", 240);
    vm.expect("Press Enter for a shell on this console.", 60);
    let shown = screen::wait_for(&mut vm, &scratch, "Press Enter for a shell on this console.", 60);
    assert!(shown.contains("Break before switch_root"), "the screen says why: {shown}");
    enter_then_reset_at_the_screen(vm, &scratch, s.image(0), &before);
}

/// `console=ttyS0 console=tty0`: the screen is the kernel's console; Enter on the serial line
/// still takes the shell there (the other order), and the screen is told where it went.
#[test]
fn serial_first_screen_last_the_serial_line_takes_the_shell() {
    let s = scenario("serial_then_screen", "console=tty0");
    let scratch = s.dir().join("screen.bin");
    let mut vm = s.boot();
    vm.expect("Press Enter for a shell on this console.", 240);
    vm.send(b"\r");
    let mut sh = vm.at_prompt("switch_root:/# ", 30);
    let ttys = sh.run("cat /sys/class/tty/console/active");
    assert!(ttys.contains("ttyS0") && ttys.contains("tty0"), "both consoles active: {ttys}");
    let shown = screen::wait_for(&mut vm, &scratch, "The shell is on /dev/ttyS0", 30);
    assert!(shown.contains("Press Enter for a shell"), "the screen was offered the shell too: {shown}");
    vm.send_line("exit");
    vm.powered_off();
}

/// `rd.ctty=ttyS0` pins the shell: no offer, the prompt at once on the serial line.
#[test]
fn rd_ctty_pins_the_shell_without_an_offer() {
    let s = scenario("ctty_pinned", "console=tty0 rd.ctty=ttyS0");
    let mut vm = s.boot();
    vm.expect("Break before switch_root", 240);
    let mut sh = vm.at_prompt("switch_root:/# ", 60);
    sh.send_line("exit");
    let t = vm.powered_off();
    assert!(!t.contains("Press Enter for a shell"), "rd.ctty= asks nothing: {t}");
}

/// A USB keyboard is the only keyboard (no PS/2 controller at all): its host controller and
/// usbhid are loaded at coldplug, so Enter at the screen takes the shell and the walk-through is
/// typed on it.
#[test]
fn a_usb_keyboard_alone_takes_the_shell_at_the_screen() {
    let s = scenario("usb_keyboard", "console=tty0")
        .qemu_args(&["-machine", "i8042=off"])
        .device("qemu-xhci,id=xhci")
        .device("usb-kbd,bus=xhci.0");
    let scratch = s.dir().join("screen.bin");
    let before = root_hash(s.image(0));
    let mut vm = s.boot();
    vm.expect("Press Enter for a shell on this console.", 240);
    screen::wait_for(&mut vm, &scratch, "Press Enter for a shell on this console.", 60);
    // The kernel says when usbhid has bound the keyboard (it is not quiet here).
    if !vm.transcript().contains("USB HID v1.11 Keyboard") {
        vm.expect("USB HID v1.11 Keyboard", 120);
    }
    enter_then_reset_at_the_screen(vm, &scratch, s.image(0), &before);
}

/// The image's keymap is the shell's too, not only the passphrase prompt's: with
/// `rd.vconsole.keymap=de-latin1` the keys a German keyboard labels Y and Z (US Z and Y) type
/// `y` and `z` at the screen's prompt. The image is `rdbreak build`'s, with Debian's loadkeys
/// and keymaps added.
#[test]
fn the_keymap_of_the_image_is_loaded_for_the_shell() {
    let mut options: Vec<String> = builder::tool_files(&["loadkeys"]);
    let maps = builder::package_files(&[
        "usr/share/keymaps/include",
        "usr/share/keymaps/i386/include",
        "usr/share/keymaps/i386/qwertz/de-latin1.kmap.gz",
    ]);
    // Unpacked here: loadkeys would run `gzip` through `/bin/sh`, which an image of
    // `rdbreak build` does not have.
    let plain = rdbreak_qemu_tests::workdir("keymap_de_files");
    for f in maps {
        let (host, guest) = f.split_once(':').expect("HOST:GUEST");
        let guest = guest.trim_end_matches(".gz");
        let dest = plain.join(guest.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        let out = std::process::Command::new("gzip").args(["-dcf", host]).output().expect("gzip");
        std::fs::write(&dest, out.stdout).expect("write the keymap");
        options.push(format!("{}:{guest}", dest.display()));
    }
    let options: Vec<String> = options.into_iter().flat_map(|f| ["--file".to_string(), f]).collect();
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let s = scenario("keymap_de", "console=tty0 rd.vconsole.keymap=de-latin1").initrd(Initrd::rdbreak_build(&options));
    let scratch = s.dir().join("screen.bin");
    let mut vm = s.boot();
    vm.expect("loaded keymap de-latin1", 240);
    vm.expect("Press Enter for a shell on this console.", 60);
    screen::wait_for(&mut vm, &scratch, "Press Enter for a shell on this console.", 60);
    screen::type_text(&mut vm, "\n");
    screen::wait_last_line(&mut vm, &scratch, "the break prompt", 60, &|l| l == "switch_root:/#");
    // US keys e c h o space z y: on a German layout, "echo yz".
    screen::type_text(&mut vm, "echo zy\n");
    let shown = screen::wait_for(&mut vm, &scratch, "switch_root:/# echo yz", 30);
    assert!(shown.lines().any(|l| l == "yz"), "the German layout typed yz:\n{shown}");
    screen::type_text(&mut vm, "exit\n");
    vm.powered_off();
}
