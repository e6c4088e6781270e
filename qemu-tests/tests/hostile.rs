//! Hostile disks (rdbreak issue 14 #1 and #2): a GPT whose header, checksum and all, declares
//! 4096 entries of 0xFFFFFF80 bytes, and an MBR whose chain of extended boot records loops on an
//! empty entry — present at boot, and plugged in at the `rd.break` prompt. PID 1 once aborted on
//! the first and hung on the second. Now the prompt works, `blkid` and `lsblk` name each disk and
//! what was wrong with its table, and the boot completes.

use std::path::PathBuf;

use rdbreak_fuzzing::crafted;
use rdbreak_qemu_tests::{Disk, Root, Scenario, Shell};

const UUID: &str = "4057113e-0b1e-4d15-a5e5-14f00dd15c00";
const PROMPT: &str = "switch_root:/# ";

/// The break scenario on a root disk, and the two crafted disks written into its directory.
fn scenario(name: &str) -> (Scenario, PathBuf, PathBuf) {
    let s = Scenario::new(name).quiet().root(Root::standard(UUID)).append(&format!("root=UUID={UUID} ro rd.break"));
    let gpt = s.dir().join("gpt-huge-entries.img");
    std::fs::write(&gpt, crafted::gpt_huge_entries(1 << 20)).expect("write the GPT disk");
    let ebr = s.dir().join("ebr-loop.img");
    std::fs::write(&ebr, crafted::ebr_loop(1 << 20)).expect("write the EBR disk");
    (s, gpt, ebr)
}

/// `blkid` and `lsblk` at the prompt name both disks and what is wrong with their tables; the
/// partitions before the loop are still there.
fn disks_are_named(sh: &mut Shell<'_>) {
    let blkid = sh.run("blkid");
    assert!(
        blkid.contains(
            "/dev/vdb: PTPROBLEM=\"gpt partition table not used: the GPT header declares 4096 entries of \
             4294967168 bytes"
        ),
        "blkid:\n{blkid}"
    );
    assert!(
        blkid.contains(
            "/dev/vdc: PTPROBLEM=\"dos partition table read in part: the chain of extended boot records comes \
             back to sector 48 after 1 logical partitions"
        ),
        "blkid:\n{blkid}"
    );
    assert!(blkid.contains("/dev/vdc5: PARTUUID=\"14042026-05\""), "blkid:\n{blkid}");
    let lsblk = sh.run("lsblk");
    for wanted in ["vdb", "(gpt partition table not used: the GPT header declares", "vdc", "`-vdc5"] {
        assert!(lsblk.contains(wanted), "lsblk has no {wanted:?}:\n{lsblk}");
    }
    assert!(sh.run("echo still-here").contains("still-here"));
}

#[test]
fn hostile_disks_present_at_boot() {
    let (s, gpt, ebr) = scenario("hostile_at_boot");
    let mut vm = s.disk(Disk::virtio(&gpt)).disk(Disk::virtio(&ebr)).boot();
    let mut sh = vm.at_prompt(PROMPT, 240);
    disks_are_named(&mut sh);
    sh.continue_to_real_init();
}

#[test]
fn hostile_disks_plugged_in_at_the_prompt() {
    let (s, gpt, ebr) = scenario("hostile_hotplug");
    let mut vm = s.monitor().boot();
    let mut sh = vm.at_prompt(PROMPT, 240);
    for (id, image) in [("gpt", &gpt), ("ebr", &ebr)] {
        let answer = sh.hot_plug(&Disk::virtio(image).id(id));
        assert!(!answer.contains("Error"), "hot-plug {id}: {answer}");
    }
    // The kernel names the disks in the order they came; wait until it has both.
    for _ in 0..30 {
        if sh.run("cat /proc/partitions").contains("vdc5") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    disks_are_named(&mut sh);
    sh.continue_to_real_init();
}
