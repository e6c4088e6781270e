//! Resume from hibernation through rdbreak: the test init swaps on and hibernates
//! (`echo disk > /sys/power/state`), the machine powers off, and the next boot's `resume=` hands
//! the image to the kernel before any filesystem is mounted: the hibernated process goes on and
//! says so. With `noresume` the image is left and the machine boots afresh.

use std::path::{Path, PathBuf};
use std::process::Command;

use rdbreak_qemu_tests::assets::run;
use rdbreak_qemu_tests::{Disk, Root, Scenario, Vm};

const UUID: &str = "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f";
const SWAP_UUID: &str = "8e9f0a1b-2c3d-4e5f-a607-1829304a5b6c";
const RESUMED: &str = "RDBREAK-TEST-INIT resumed from hibernation";

/// The root and a 256 MiB swap disk, as virtio disks.
fn disks(s: &Scenario) -> (PathBuf, PathBuf) {
    let root = Root::recovery(UUID).build(s.dir(), "root");
    let swap = s.blank_disk("swap.img", 256);
    run(Command::new("mkswap").args(["-q", "-U", SWAP_UUID]).arg(&swap));
    (root, swap)
}

fn boot(name: &str, disks: &[&Path], append: &str) -> Vm {
    let mut s = Scenario::new(name).mem_mib(512).append(append);
    for d in disks {
        s = s.disk(Disk::virtio(d));
    }
    s.boot()
}

/// The first boot: the test init hibernates to `swap` (its path inside the guest), and the
/// machine powers off with the image written.
fn hibernate(name: &str, disks: &[&Path], append: &str, swap: &str) {
    let mut vm = boot(name, disks, &format!("{append} rdbreak_test=hibernate:{swap}"));
    vm.expect(&format!("RDBREAK-TEST-INIT swapon {swap}: Ok"), 240);
    let t = vm.wait_exit(600);
    assert!(t.contains("PM: hibernation: hibernation entry") || t.contains("PM: Syncing filesystems"), "{t}");
    assert!(!t.contains("hibernation failed"), "{t}");
}

fn holds_image(swap: &Path, offset: u64) -> bool {
    let mut page = vec![0u8; 4096];
    use std::os::unix::fs::FileExt;
    std::fs::File::open(swap).and_then(|f| f.read_exact_at(&mut page, offset)).expect("read the swap header");
    page[4086..].starts_with(b"S1SUSPEND")
}

#[test]
fn a_hibernated_session_on_a_swap_partition_is_resumed() {
    let s = Scenario::new("resume_part_prep");
    let (root, swap) = disks(&s);
    let append = format!("root=UUID={UUID} ro resume=UUID={SWAP_UUID}");
    hibernate("resume_part_sleep", &[&root, &swap], &append, "/dev/vdb");
    assert!(holds_image(&swap, 0), "the swap holds the hibernation image");
    let mut vm = boot("resume_part_wake", &[&root, &swap], &format!("{append} rd.info"));
    let t = vm.expect(RESUMED, 600);
    assert!(t.contains("resume: restoring the hibernation image on /dev/vdb"), "{t}");
    assert!(!t.contains("Mounted root filesystem"), "nothing was mounted before the resume: {t}");
    vm.real_init_report(120);
    vm.powered_off();
}

#[test]
fn noresume_discards_the_image_and_boots() {
    let s = Scenario::new("noresume_prep");
    let (root, swap) = disks(&s);
    let append = format!("root=UUID={UUID} ro resume=UUID={SWAP_UUID}");
    hibernate("noresume_sleep", &[&root, &swap], &append, "/dev/vdb");
    let mut vm = boot("noresume_wake", &[&root, &swap], &format!("{append} noresume"));
    let report = vm.real_init_report(240);
    assert!(!report.transcript.contains(RESUMED), "noresume boots afresh");
    report.assert_handover("/dev/vda");
    vm.powered_off();
}
