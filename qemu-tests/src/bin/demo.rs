//! The demo VM: a Debian kernel, a dracut image with rdbreak, and a small root disk with a real
//! shell and `passwd`, booted with `rd.break` on this terminal. Extra arguments are added to the
//! kernel command line (`./run demo rd.break=pre-mount`, `./run demo -- root=LABEL=nope`).

use std::process::Command;

use rdbreak_qemu_tests::disk::{self, FsSpec, Tree};
use rdbreak_qemu_tests::{assets, workdir, Modules};

const UUID: &str = "5e1f0c2a-8b7d-4e3f-9a10-2b3c4d5e6f70";

fn main() {
    let a = assets::get();
    let initrd = a.dracut_image(Modules::Plain);
    let dir = workdir("demo");
    let tree = Tree::recovery(dir.join("tree"), &a.test_init);
    let image = dir.join("root.img");
    disk::make_fs(&tree, &FsSpec { fstype: "ext4", uuid: UUID, label: "demo-root", size_mib: 256 }, &image);
    let extra: Vec<String> = std::env::args().skip(1).filter(|a| a != "--").collect();
    let append = if extra.is_empty() { "rd.break".to_string() } else { extra.join(" ") };
    let cmdline = format!("console=ttyS0 root=UUID={UUID} ro quiet {append}");
    println!("rdbreak demo: kernel {}, initramfs {}", a.kver, initrd.display());
    println!("kernel command line: {cmdline}");
    println!("Try: mount -o remount,rw /sysroot; chroot /sysroot; passwd; touch /.autorelabel; exit; exit");
    println!("Quit QEMU at any time with Ctrl-A then X.\n");
    let status = Command::new("qemu-system-x86_64")
        .args(["-machine", "accel=tcg", "-cpu", "max", "-m", "768", "-nodefaults", "-display", "none", "-no-reboot"])
        .args(["-serial", "mon:stdio"])
        .arg("-kernel")
        .arg(&a.kernel)
        .arg("-initrd")
        .arg(&initrd)
        .arg("-append")
        .arg(&cmdline)
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", image.display()))
        .status()
        .expect("run qemu-system-x86_64");
    println!(
        "\nQEMU exited ({status}). The disk is {}; read it with: debugfs -R 'cat /etc/shadow' {}",
        image.display(),
        image.display()
    );
}
