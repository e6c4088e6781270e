//! The seed's recovery on UEFI machines: OVMF and Debian's GRUB EFI, the `linux` line edited at
//! GRUB's menu as a person does; and the same with Secure Boot on (Microsoft's keys, the signed
//! shim, GRUB and kernel), where the kernel runs locked down and rdbreak must still load its
//! modules, break, and hand over to the real init.

use std::path::Path;

use rdbreak_qemu_tests::assets::DracutVariant;
use rdbreak_qemu_tests::uefi::{self, Boot};
use rdbreak_qemu_tests::{assets, disk, grub, screen, Disk, Modules, Root, Scenario, Vm};

const UUID: &str = "0b6c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3";
const PASSWORD: &str = "Rdbreak-Uefi-2026!";

fn root_hash(image: &Path) -> String {
    disk::ext4_settle(image);
    let shadow = disk::ext4_read(image, "/etc/shadow").expect("/etc/shadow on the disk");
    shadow.lines().find(|l| l.starts_with("root:")).and_then(|l| l.split(':').nth(1)).expect("root entry").to_string()
}

/// A UEFI machine whose ESP holds GRUB, a one-entry menu on the serial line, the kernel and
/// dracut's image as shipped (compressed), with the recovery root on the second disk.
fn machine(name: &str, boot: Boot, extra: &str) -> Scenario {
    let a = assets::get();
    // GRUB keeps to the firmware's console, which OVMF mirrors onto the serial line: GRUB's
    // own serial driver would share the UART with OVMF's, which takes typed bytes too.
    let cfg = grub::menu(
        "Debian GNU/Linux, rdbreak",
        &[
            "insmod part_gpt",
            "insmod fat",
            &format!("linux /vmlinuz root=UUID={UUID} ro console=ttyS0 panic=-1 quiet{extra}"),
            "initrd /initrd.img",
        ],
    );
    let shipped = DracutVariant { compressed: true, ..Default::default() };
    let initrd = a.dracut_image_variant(Modules::Plain, shipped);
    let s = Scenario::new(name).root(Root::recovery(UUID).label("recovery")).bios_boot();
    let esp = uefi::esp(s.dir(), boot, &cfg, &a.kernel, &initrd);
    let firmware = uefi::firmware_args(s.dir(), boot);
    let firmware: Vec<&str> = firmware.iter().map(String::as_str).collect();
    s.disk(Disk::virtio(&esp)).qemu_args(&firmware).mem_mib(1024)
}

/// At GRUB's menu: `e`, down to the `linux` line, append ` rd.break`, Ctrl-X.
fn edit_linux_line(vm: &mut Vm) {
    vm.expect("Debian GNU/Linux, rdbreak", 300);
    vm.grub_edit_and_boot("linux /vmlinuz", " rd.break");
}

#[test]
fn uefi_grub_edit_linux_line_then_password_reset() {
    let s = machine("uefi_grub", Boot::Plain, "");
    let before = root_hash(s.image(0));
    let mut vm = s.boot();
    edit_linux_line(&mut vm);
    vm.expect("Break before switch_root", 240);
    let mut sh = vm.at_prompt("switch_root:/# ", 30);
    let efi = sh.run("ls /sys/firmware/efi");
    assert!(efi.contains("efivars") || efi.contains("systab"), "booted through UEFI: {efi}");
    sh.password_reset(PASSWORD);
    vm.powered_off();
    assert_ne!(root_hash(s.image(0)), before, "the root password changed on the disk");
}

/// Secure Boot on: shim → signed GRUB → Debian's signed kernel, locked down. Modules still load
/// (Debian signs them), the break and the walk-through work, and `exit` reaches the real init.
/// What lockdown forbids, resuming a hibernated session from `resume=`, is said in one line.
#[test]
fn secure_boot_grub_edit_then_password_reset_under_lockdown() {
    let s = machine("uefi_secure_boot", Boot::SecureBoot, " resume=/dev/vdc");
    // A swap partition's first page with the hibernation signature, as the kernel leaves it.
    let swap = s.blank_disk("swap.img", 8);
    let mut page = vec![0u8; 4096];
    page[4096 - 10..4096 - 1].copy_from_slice(b"S1SUSPEND");
    let mut image = std::fs::read(&swap).expect("swap disk");
    image[..4096].copy_from_slice(&page);
    std::fs::write(&swap, image).expect("write the swap disk");
    let s = s.disk(Disk::virtio(&swap));
    let before = root_hash(s.image(0));
    let mut vm = s.boot();
    edit_linux_line(&mut vm);
    vm.expect("/sys/power/disk is [disabled]: locked down by Secure Boot", 300);
    vm.expect("Break before switch_root", 300);
    let mut sh = vm.at_prompt("switch_root:/# ", 30);
    // securityfs is systemd's to mount; at the prompt a person mounts it to look.
    sh.run("mount -t securityfs securityfs /sys/kernel/security");
    let lockdown = sh.run("cat /sys/kernel/security/lockdown");
    assert!(
        lockdown.contains("[integrity]") || lockdown.contains("[confidentiality]"),
        "the kernel is locked down: {lockdown}"
    );
    let dmesg = sh.run("dmesg");
    assert!(dmesg.contains("Secure boot enabled"), "the firmware booted with Secure Boot on");
    let modules = sh.run("lsmod");
    assert!(modules.contains("virtio_blk"), "signed modules load under lockdown: {modules}");
    sh.password_reset(PASSWORD);
    vm.powered_off();
    assert_ne!(root_hash(s.image(0)), before, "the root password changed on the disk");
}

/// A UEFI machine's screen is a framebuffer (efifb or simpledrm, fbcon on it), not VGA text:
/// with `console=tty0` last, the keys pressed on its keyboard take the shell there, and what is
/// typed runs (it writes to the kernel log, which the serial line shows: `loglevel=7` after
/// `quiet`).
#[test]
fn uefi_framebuffer_screen_takes_the_shell() {
    let s = machine("uefi_framebuffer", Boot::Plain, " rw loglevel=7 console=tty0 rd.break")
        .monitor()
        .qemu_args(screen::VGA);
    let mut vm = s.boot();
    vm.expect("Debian GNU/Linux, rdbreak", 300);
    vm.send(b"\r");
    vm.expect("Press Enter for a shell on this console.", 300);
    screen::type_text(&mut vm, "\n");
    vm.expect("The shell is on /dev/tty1", 60);
    screen::type_text(&mut vm, "ls /dev/fb0 /sys/class/graphics/fb0/name > /dev/kmsg\n");
    vm.expect("/sys/class/graphics/fb0/name", 60);
    screen::type_text(&mut vm, "exit\n");
    vm.powered_off();
    // The real init wrote to the kernel's console, the screen; its log on the disk says it ran.
    disk::ext4_settle(s.image(0));
    let log = disk::ext4_read(s.image(0), "/test-init.log").expect("the real init ran");
    assert!(log.contains("pid=1"), "{log}");
}
