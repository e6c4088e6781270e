//! The hand-off to dracut's own init: `rd.rdbreak=0`, what rdbreak does not do (an NFS root in a
//! VM with no network device) and `rdbreak_mode="handoff"` boot exactly as stock dracut does,
//! with systemd or base's shell init; an image with no dracut init says so and opens the shell.

use rdbreak_qemu_tests::assets::DracutVariant;
use rdbreak_qemu_tests::{vm, Initrd, Modules, Report, Root, Scenario};

const UUID: &str = "5e0c1d2b-8a7f-4b6e-9d3c-2f1a0b9c8d7e";
const HANDING: &str = "rdbreak Warning: handing the boot to dracut's init";

fn scenario(name: &str, initrd: Initrd, append: &str) -> Scenario {
    Scenario::new(name).root(Root::standard(UUID)).initrd(initrd).append(append)
}

fn shell_init() -> Initrd {
    Initrd::DracutVariant(DracutVariant { shell_init: true, ..Default::default() })
}

fn handoff_mode() -> Initrd {
    Initrd::DracutVariant(DracutVariant { handoff_mode: true, ..Default::default() })
}

/// Nothing of rdbreak's own boot ran: no root mount, no switch_root of its own.
fn assert_rdbreak_stepped_aside(t: &str) {
    for own in ["rdbreak: Mounted root filesystem", "rdbreak: Switching root", "rdbreak: Freed the initramfs"] {
        assert!(!t.contains(own), "rdbreak booted ({own:?}) instead of handing off");
    }
}

/// systemd ran the initramfs: dracut's units, then its own switch (its status lines go to the
/// console; its log goes to the journal once journald runs).
fn assert_systemd_initrd(t: &str) {
    assert!(t.contains("systemd[1]: systemd "), "systemd started");
    assert!(t.contains("dracut-cmdline.service"), "dracut's systemd units ran");
    assert!(t.contains("initrd-switch-root.target"), "systemd's initrd switch ran");
}

/// The guest times of a hand-off, for docs/benchmark.md (printed, never asserted).
fn report_times(name: &str, t: &str, dracut_first: &str) {
    let run = vm::kernel_time(t, "Run /init as init process");
    let hand = vm::kernel_time(t, HANDING);
    let first = vm::kernel_time(t, dracut_first);
    eprintln!(
        "[{name}] /init at {run:?}, hand-off line at {hand:?}, dracut's first line ({dracut_first:?}) at {first:?}"
    );
}

/// The real init ran as PID 1 on the disk; the kernel's TERM reached it unless systemd, which
/// sets its own for the serial console, was the initramfs's init.
fn assert_real_root(r: &Report) {
    assert_eq!(r.get("pid"), "1", "{}", r.line);
    assert_eq!(r.get("root"), "/dev/vda", "{}", r.line);
    assert_eq!(r.get("api"), "/dev,/proc,/sys,/run", "the API filesystems were handed over: {}", r.line);
}

#[test]
fn rd_rdbreak_0_boots_through_dracuts_systemd() {
    let mut vm =
        scenario("handoff_systemd", Initrd::Dracut(Modules::Plain), &format!("root=UUID={UUID} ro rd.rdbreak=0"))
            .boot();
    vm.expect("handing the boot to dracut's init (/init.dracut, systemd): rd.rdbreak=0 is on the command line", 120);
    let r = vm.report_then_power_off(300);
    assert_real_root(&r);
    assert_rdbreak_stepped_aside(&r.transcript);
    assert_systemd_initrd(&r.transcript);
    // systemd mounted /dev itself, with its flags (rdbreak's and init.sh's have noexec).
    assert!(!r.get("devopts").contains("noexec"), "{}", r.line);
    report_times("handoff_systemd", &r.transcript, "systemd[1]: systemd ");
}

#[test]
fn rd_rdbreak_0_boots_through_dracuts_shell_init() {
    let mut vm = scenario("handoff_shell", shell_init(), &format!("root=UUID={UUID} ro rd.rdbreak=0 rd.info")).boot();
    vm.expect("handing the boot to dracut's init (/init.dracut, shell): rd.rdbreak=0 is on the command line", 120);
    let r = vm.report_then_power_off(300);
    assert_real_root(&r);
    assert!(r.get("env").contains("TERM=linux"), "the kernel's environment went through: {}", r.line);
    assert_rdbreak_stepped_aside(&r.transcript);
    assert!(!r.transcript.contains("systemd["), "no systemd in this image");
    assert!(r.transcript.contains("] dracut: "), "dracut's init.sh logged");
    // init.sh mounted /run itself, noexec (rdbreak's is not).
    assert!(r.get("runopts").contains("noexec"), "{}", r.line);
    report_times("handoff_shell", &r.transcript, "] dracut: ");
}

#[test]
fn an_nfs_root_without_a_network_is_dracuts_to_fail() {
    // No network device at all: whatever dracut tries, nothing leaves the VM.
    let s = Scenario::new("handoff_nfs").append("root=nfs:server:/export ro").qemu_args(&["-nic", "none"]);
    let mut vm = s.boot();
    vm.expect(
        "handing the boot to dracut's init (/init.dracut, systemd): root=nfs:server:/export asks for an NFS root (dracut's nfs module), which rdbreak does not do",
        120,
    );
    // This host's dracut has no nfs module (that is dracut-network): its answer is its own.
    vm.expect("dracut: FATAL: Don't know how to handle 'root=nfs:server:/export'", 300);
    let t = vm.expect("dracut: Refusing to continue", 60);
    assert!(!t.contains("rdbreak Error"), "the failure is dracut's, not rdbreak's");
    assert_rdbreak_stepped_aside(&vm.transcript());
}

#[test]
fn handoff_mode_boots_with_dracut_unless_a_break_is_asked() {
    let mut vm = scenario("handoff_mode", handoff_mode(), &format!("root=UUID={UUID} ro")).boot();
    vm.expect("(/init.dracut, systemd): rdbreak_mode=\"handoff\" in the dracut config", 120);
    let r = vm.report_then_power_off(300);
    assert_real_root(&r);
    assert_rdbreak_stepped_aside(&r.transcript);
    assert_systemd_initrd(&r.transcript);
}

#[test]
fn handoff_mode_with_rd_break_is_rdbreaks_prompt() {
    let mut vm = scenario("handoff_mode_break", handoff_mode(), &format!("root=UUID={UUID} ro rd.break")).boot();
    let mut sh = vm.at_prompt("switch_root:/# ", 240);
    assert!(sh.before().contains("Break before switch_root"), "rdbreak's break");
    assert!(!sh.before().contains("handing the boot"), "no hand-off with rd.break in handoff mode");
    let t = sh.continue_to_real_init();
    assert!(t.contains("rdbreak: Switching root"), "rdbreak did the switch");
}

#[test]
fn an_rdbreak_build_image_has_nothing_to_hand_off_to() {
    let mut vm =
        scenario("handoff_none", Initrd::rdbreak_build(&[]), &format!("root=UUID={UUID} ro rd.rdbreak=0")).boot();
    let mut sh = vm.at_prompt("dracut:/# ", 240);
    assert!(
        sh.before().contains("rd.rdbreak=0 asks for dracut's init, but this image has no dracut init to hand off to (images made by rdbreak build have none)."),
        "the shell says why"
    );
    assert!(sh.before().contains("Rebuild the image with dracut -a rdbreak."), "and what to do");
    // Leaving the shell lets rdbreak boot as best it can: here, fully.
    let t = sh.continue_to_real_init();
    assert!(t.contains("rdbreak: Switching root"), "rdbreak booted after the shell");
}
