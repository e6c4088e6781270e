//! The hand-off to dracut's own init: `rd.rdbreak=0`, what rdbreak does not do (an NFS root in a
//! VM with no network device) and `rdbreak_mode="handoff"` boot exactly as stock dracut does,
//! with systemd or base's shell init; an image with no dracut init says so and opens the shell.

use std::path::PathBuf;

use rdbreak_qemu_tests::assets::DracutVariant;
use rdbreak_qemu_tests::disk::{self, FsSpec, Tree};
use rdbreak_qemu_tests::{assets, vm, workdir, Config, Modules, Vm};

const UUID: &str = "5e0c1d2b-8a7f-4b6e-9d3c-2f1a0b9c8d7e";
const HANDING: &str = "rdbreak Warning: handing the boot to dracut's init";

fn root_disk(name: &str) -> PathBuf {
    let a = assets::get();
    let dir = workdir(name);
    let tree = Tree::standard(dir.join("tree"), &a.test_init);
    let image = dir.join("root.img");
    disk::make_fs(&tree, &FsSpec { fstype: "ext4", uuid: UUID, label: "handoff", size_mib: 64 }, &image);
    image
}

fn boot(name: &str, initrd: &std::path::Path, append: &str) -> Vm {
    let a = assets::get();
    let disk = root_disk(name);
    Vm::boot(name, &Config::new(&a.kernel, initrd, append).disk(&disk))
}

/// Waits for the test init's report and the power-off; returns the report line and everything.
fn real_init(vm: &mut Vm) -> (String, String) {
    vm.expect("RDBREAK-TEST-INIT pid=", 300);
    vm.expect("\n", 10);
    let t = vm.wait_exit(120);
    let line = t.lines().find(|l| l.starts_with("RDBREAK-TEST-INIT pid=")).expect("report line").to_string();
    (line, t)
}

fn assert_real_root(line: &str) {
    assert!(line.starts_with("RDBREAK-TEST-INIT pid=1 "), "the real init is PID 1: {line}");
    assert!(line.contains(" root=/dev/vda "), "the disk is the root: {line}");
    assert!(line.contains(" api=/dev,/proc,/sys,/run "), "the API filesystems were handed over: {line}");
}

/// Nothing of rdbreak's own boot ran: no driver load, no root mount, no switch_root of its own.
fn assert_rdbreak_stepped_aside(t: &str) {
    for own in ["rdbreak: Mounted root filesystem", "rdbreak: Switching root", "rdbreak: Freed the initramfs"] {
        assert!(!t.contains(own), "rdbreak booted ({own:?}) instead of handing off");
    }
}

/// A field of the test init's report line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let pat = format!(" {key}=");
    line.split(&pat).nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("no {key} in {line}"))
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

#[test]
fn rd_rdbreak_0_boots_through_dracuts_systemd() {
    let a = assets::get();
    let initrd = a.dracut_image(Modules::Plain);
    let mut vm = boot("handoff_systemd", &initrd, &format!("root=UUID={UUID} ro rd.rdbreak=0"));
    vm.expect("handing the boot to dracut's init (/init.dracut, systemd): rd.rdbreak=0 is on the command line", 120);
    let (line, t) = real_init(&mut vm);
    assert_real_root(&line);
    assert_rdbreak_stepped_aside(&t);
    assert_systemd_initrd(&t);
    // systemd mounted /dev itself, with its flags (rdbreak's and init.sh's have noexec).
    assert!(!field(&line, "devopts").contains("noexec"), "{line}");
    report_times("handoff_systemd", &t, "systemd[1]: systemd ");
}

#[test]
fn rd_rdbreak_0_boots_through_dracuts_shell_init() {
    let a = assets::get();
    let initrd = a.dracut_image_variant(Modules::Plain, DracutVariant { shell_init: true, ..Default::default() });
    let mut vm = boot("handoff_shell", &initrd, &format!("root=UUID={UUID} ro rd.rdbreak=0 rd.info"));
    vm.expect("handing the boot to dracut's init (/init.dracut, shell): rd.rdbreak=0 is on the command line", 120);
    let (line, t) = real_init(&mut vm);
    assert_real_root(&line);
    assert_rdbreak_stepped_aside(&t);
    assert!(!t.contains("systemd["), "no systemd in this image");
    assert!(t.contains("dracut: "), "dracut's init.sh logged");
    // init.sh mounted /run itself, noexec (rdbreak's is not).
    assert!(field(&line, "runopts").contains("noexec"), "{line}");
    report_times("handoff_shell", &t, "dracut: ");
}

#[test]
fn an_nfs_root_without_a_network_is_dracuts_to_fail() {
    let a = assets::get();
    let initrd = a.dracut_image(Modules::Plain);
    let mut cfg = Config::new(&a.kernel, &initrd, "root=nfs:server:/export ro");
    // No network device at all: whatever dracut tries, nothing leaves the VM.
    cfg.qemu_args = vec!["-nic".into(), "none".into()];
    let mut vm = Vm::boot("handoff_nfs", &cfg);
    vm.expect(
        "handing the boot to dracut's init (/init.dracut, systemd): root=nfs:server:/export asks for an NFS root (dracut's nfs module), which rdbreak does not do",
        120,
    );
    // This host's dracut has no nfs module (that is dracut-network): its own answer is its own.
    vm.expect("dracut: FATAL: Don't know how to handle 'root=nfs:server:/export'", 300);
    let t = vm.expect("dracut: Refusing to continue", 60);
    assert!(!t.contains("rdbreak Error"), "the failure is dracut's, not rdbreak's");
    assert_rdbreak_stepped_aside(&vm.transcript());
}

#[test]
fn handoff_mode_boots_with_dracut_unless_a_break_is_asked() {
    let a = assets::get();
    let initrd = a.dracut_image_variant(Modules::Plain, DracutVariant { handoff_mode: true, ..Default::default() });
    let mut vm = boot("handoff_mode", &initrd, &format!("root=UUID={UUID} ro"));
    vm.expect("(/init.dracut, systemd): rdbreak_mode=\"handoff\" in the dracut config", 120);
    let (line, t) = real_init(&mut vm);
    assert_real_root(&line);
    assert_rdbreak_stepped_aside(&t);
    assert_systemd_initrd(&t);
}

#[test]
fn handoff_mode_with_rd_break_is_rdbreaks_prompt() {
    let a = assets::get();
    let initrd = a.dracut_image_variant(Modules::Plain, DracutVariant { handoff_mode: true, ..Default::default() });
    let mut vm = boot("handoff_mode_break", &initrd, &format!("root=UUID={UUID} ro rd.break"));
    let t = vm.expect("switch_root:/# ", 240);
    assert!(t.contains("Break before switch_root"), "rdbreak's break");
    assert!(!t.contains("handing the boot"), "no hand-off with rd.break in handoff mode");
    vm.send_line("exit");
    let (line, t) = real_init(&mut vm);
    assert_real_root(&line);
    assert!(t.contains("rdbreak: Switching root"), "rdbreak did the switch");
}

#[test]
fn an_rdbreak_build_image_has_nothing_to_hand_off_to() {
    let a = assets::get();
    let initrd = a.rdbreak_build_image();
    let mut vm = boot("handoff_none", &initrd, &format!("root=UUID={UUID} ro rd.rdbreak=0"));
    let t = vm.expect("dracut:/# ", 240);
    assert!(
        t.contains("rd.rdbreak=0 asks for dracut's init, but this image has no dracut init to hand off to (images made by rdbreak build have none)."),
        "the shell says why"
    );
    assert!(t.contains("Rebuild the image with dracut -a rdbreak."), "and what to do");
    // Leaving the shell lets rdbreak boot as best it can: here, fully.
    vm.send_line("exit");
    let (line, _) = real_init(&mut vm);
    assert_real_root(&line);
}
