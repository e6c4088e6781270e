//! The demo VM: a Debian kernel, a dracut image with rdbreak, and a small root disk with a real
//! shell and `passwd`, booted with `rd.break` on this terminal. Extra arguments are added to the
//! kernel command line (`./run demo rd.break=pre-mount`, `./run demo -- root=LABEL=nope`).

use rdbreak_qemu_tests::{assets, Console, Root, Scenario};

const UUID: &str = "5e1f0c2a-8b7d-4e3f-9a10-2b3c4d5e6f70";

fn main() {
    let a = assets::get();
    let extra: Vec<String> = std::env::args().skip(1).filter(|a| a != "--").collect();
    let append = if extra.is_empty() { "rd.break".to_string() } else { extra.join(" ") };
    let s = Scenario::new("demo")
        .root(Root::recovery(UUID).label("demo-root"))
        .append(&format!("root=UUID={UUID} ro quiet {append}"));
    // The tests' machine, on this terminal.
    let mut cfg = s.config();
    cfg.console = Console::Terminal;
    let initrd = cfg.initrd.clone().unwrap_or_default();
    println!("rdbreak demo: kernel {}, initramfs {}", a.kver, initrd.display());
    println!("kernel command line: {}", cfg.cmdline());
    println!("Try: mount -o remount,rw /sysroot; chroot /sysroot; passwd; touch /.autorelabel; exit; exit");
    println!("Quit QEMU at any time with Ctrl-A then X.\n");
    let status = cfg.command().status().expect("run qemu-system-x86_64");
    let image = s.image(0).display();
    println!("\nQEMU exited ({status}). The disk is {image}; read it with: debugfs -R 'cat /etc/shadow' {image}");
}
