//! Roots on MD RAID, assembled by rdbreak itself: a RAID1 with a 1.2 superblock over two disks
//! (password reset, plain boot, one disk missing), a 0.90 RAID1, LVM on a RAID1, the command
//! line leaving arrays alone (`rd.md=0`, another `rd.md.uuid=`), and the shell's `mdadm`. The
//! arrays are made by the real mdadm in the builder VM.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rdbreak_qemu_tests::builder::{self, Recipe};
use rdbreak_qemu_tests::disk::Tree;
use rdbreak_qemu_tests::lvm_disk::{self, Placed};
use rdbreak_qemu_tests::{assets, Disk, Scenario, Vm};

const ROOT_UUID: &str = "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
/// The array, as mdadm prints it.
const ARRAY: &str = "1f2e3d4c:5b6a7988:99aabbcc:ddeeff00";
const PASSWORD: &str = "Rdbreak-MD-Raid1!";

/// The RAID1 root: 1.2 superblocks on two whole disks, named `seed:root`, the recovery tree on
/// ext4. Copies of the cached images in the scenario's directory.
fn raid1_root(s: &Scenario) -> Vec<PathBuf> {
    let a = assets::get();
    let tree = Tree::recovery(s.dir().join("tree"), &a.test_init);
    let recipe = Recipe::new(
        "md-root-1.2",
        &[320, 320],
        &format!(
            r#"
mdadm --create /dev/md0 --run --assume-clean --metadata=1.2 --level=1 --raid-devices=2 \
  --homehost=seed --name=root --uuid={ARRAY} /dev/vdb /dev/vdc
mkfs.ext4 -q -U {ROOT_UUID} -L root /dev/md0
mount /dev/md0 /mnt
cp -a /input/. /mnt/
umount /mnt
mdadm --detail /dev/md0
mdadm --stop /dev/md0
"#
        ),
    )
    .files(&tree.dir);
    let disks = builder::build_copy(&recipe, s.dir());
    let _ = std::fs::remove_dir_all(&tree.dir);
    disks
}

fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Where a 1.2 member's data is: its superblock (at 4 KiB) gives the data offset.
fn data_of(member: &Path) -> Placed {
    let mut sb = vec![0u8; 4096];
    std::fs::File::open(member).and_then(|f| f.read_exact_at(&mut sb, 4096)).expect("read the md superblock");
    let offset = le64(&sb, 128) * 512;
    let len = le64(&sb, 136) * 512;
    Placed { lv: "md".into(), disk: member.to_path_buf(), offset, len }
}

fn root_hash(fs: &Placed) -> String {
    let shadow = lvm_disk::read_file(fs, "/etc/shadow").expect("/etc/shadow on the array");
    shadow.lines().find(|l| l.starts_with("root:")).and_then(|l| l.split(':').nth(1)).expect("root entry").to_string()
}

/// The seed's walk-through on the array; the new hash is on both mirrors afterwards.
fn reset_and_check(vm: &mut Vm, members: &[&Path], fs: impl Fn(&Path) -> Placed) {
    let before: Vec<String> = members.iter().map(|m| root_hash(&fs(m))).collect();
    let mounts = vm.password_reset(PASSWORD);
    assert!(mounts.contains(" on /sysroot type "), "{mounts}");
    let t = vm.powered_off();
    assert!(t.contains("pid=1"), "the real init ran as PID 1");
    for (m, before) in members.iter().zip(before) {
        let after = root_hash(&fs(m));
        assert_ne!(after, before, "the root password hash changed on {}", m.display());
        assert!(after.starts_with("$y$") || after.starts_with("$6$"), "a real crypt hash: {after}");
    }
}

#[test]
fn raid1_root_password_reset() {
    let s = Scenario::new("md_reset");
    let disks = raid1_root(&s);
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!("root=UUID={ROOT_UUID} ro rd.md.uuid={ARRAY} rd.break"))
        .boot();
    reset_and_check(&mut vm, &[&disks[0], &disks[1]], data_of);
}

/// Without rd.break the real init runs from the array, named as mdadm and udev name it.
#[test]
fn raid1_root_plain_boot() {
    let s = Scenario::new("md_plain");
    let disks = raid1_root(&s);
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!("root=/dev/md/seed:root ro rd.md.uuid={ARRAY} rd.info"))
        .boot();
    let t = vm.runs_real_init(240);
    assert!(t.contains("started /dev/md127 from md array seed:root (raid1, metadata 1.2"), "mdadm's first number: {t}");
}

/// One mirror gone: the array waits dracut's wait (2/3 of rd.retry), says which member is
/// missing, then starts degraded and boots.
#[test]
fn raid1_root_with_a_disk_missing_boots_degraded_after_the_wait() {
    let s = Scenario::new("md_degraded");
    let disks = raid1_root(&s);
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .append(&format!("root=UUID={ROOT_UUID} ro rd.md.uuid={ARRAY} rd.retry=15"))
        .boot();
    let t = vm.expect("then starting the array without it", 240);
    assert!(t.contains("md array seed:root") && t.contains("1 of 2 members (vda), degraded: slot 1 missing"), "{t}");
    vm.expect("starting it as /dev/md127 without the missing member", 60);
    vm.runs_real_init(120);
}

/// `rd.md=0`, and an `rd.md.uuid=` naming another array: the array stays unassembled and the
/// failure says why, listing the members as blkid would.
#[test]
fn the_command_line_leaves_the_array_alone_and_says_why() {
    for (name, arg, why) in [
        ("md_off", format!("rd.md=0 rd.md.uuid={ARRAY}"), "rd.md=0: MD RAID activation is off"),
        ("md_other_uuid", "rd.md.uuid=01010101:01010101:01010101:01010101".to_string(), "rd.md.uuid= does not name it"),
    ] {
        let s = Scenario::new(name);
        let disks = raid1_root(&s);
        let mut vm = s
            .disk(Disk::virtio(&disks[0]))
            .disk(Disk::virtio(&disks[1]))
            .append(&format!("root=UUID={ROOT_UUID} ro {arg} rd.retry=5"))
            .boot();
        vm.expect("Could not boot.", 240);
        vm.at_prompt("dracut:/# ", 60);
        let t = vm.transcript();
        assert!(t.contains(&format!("md array seed:root (raid1, metadata 1.2, UUID {ARRAY})")), "{name}: {t}");
        assert!(t.contains(why), "{name}: {t}");
        assert!(
            t.contains("TYPE=linux_raid_member UUID=1f2e3d4c-5b6a-7988-99aa-bbccddeeff00 LABEL=\"seed:root\""),
            "{t}"
        );
        assert!(!t.contains("started /dev/md"), "{name}: nothing assembled");
        vm.poweroff();
    }
}

/// At rd.break the shell shows and handles the array by hand: mdadm --detail and --examine,
/// /proc/mdstat, the stack in lsblk, blkid's member type; stop and assemble again.
#[test]
fn the_shell_shows_and_handles_the_array() {
    let s = Scenario::new("md_shell");
    let disks = raid1_root(&s);
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!("root=UUID={ROOT_UUID} ro rd.md.uuid={ARRAY} rd.break=pre-mount"))
        .boot();
    let mut sh = vm.at_prompt("pre-mount:/# ", 240);
    let mdstat = sh.run("cat /proc/mdstat");
    assert!(mdstat.contains("md127 : active") && mdstat.contains("raid1") && mdstat.contains("[UU]"), "{mdstat}");
    let detail = sh.run("mdadm --detail /dev/md127");
    for want in ["Raid Level : raid1", "Raid Devices : 2", "Name : seed:root", ARRAY, "/dev/vda", "/dev/vdb"] {
        assert!(detail.contains(want), "{want} in {detail}");
    }
    let examine = sh.run("mdadm --examine /dev/vda");
    assert!(examine.contains("Version : 1.2") && examine.contains("Device Role : Active device 0"), "{examine}");
    let lsblk = sh.run("lsblk");
    assert!(lsblk.contains("`-md127") && lsblk.contains(" raid1 "), "{lsblk}");
    let blkid = sh.run("blkid");
    assert!(blkid.contains("/dev/vda:") && blkid.contains("TYPE=\"linux_raid_member\""), "{blkid}");
    let links = sh.run("ls -l /dev/md /dev/disk/by-id");
    assert!(
        links.contains("seed:root -> ../md127") && links.contains(&format!("md-uuid-{ARRAY} -> ../../md127")),
        "{links}"
    );
    assert!(sh.run("mdadm --help").contains("--assemble --scan"));
    sh.run("mdadm --stop /dev/md127");
    assert!(!sh.run("cat /proc/mdstat").contains("md127 : active"), "stopped");
    let again = sh.run("mdadm --assemble --scan");
    assert!(again.contains("started"), "{again}");
    assert!(sh.run("cat /proc/mdstat").contains("md127 : active (auto-read-only) raid1"), "assembled again");
    sh.continue_to_real_init();
}

/// A 0.90 RAID1 (superblock at the end, data from sector 0): its members are not taken for the
/// ext4 they start with, and the array is md127 as mdadm numbers another host's array.
#[test]
fn raid1_0_90_root() {
    let s = Scenario::new("md_090");
    let a = assets::get();
    let tree = Tree::standard(s.dir().join("tree"), &a.test_init);
    let recipe = Recipe::new(
        "md-root-0.90",
        &[160, 160],
        &format!(
            r#"
mdadm --create /dev/md0 --run --assume-clean --metadata=0.90 --level=1 --raid-devices=2 /dev/vdb /dev/vdc
mkfs.ext4 -q -U {ROOT_UUID} -L root /dev/md0
mount /dev/md0 /mnt
cp -a /input/. /mnt/
umount /mnt
mdadm --detail /dev/md0
mdadm --stop /dev/md0
"#
        ),
    )
    .files(&tree.dir);
    let disks = builder::build_copy(&recipe, s.dir());
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!("root=UUID={ROOT_UUID} ro rd.auto rd.info rd.break=pre-mount"))
        .boot();
    let mut sh = vm.at_prompt("pre-mount:/# ", 240);
    let blkid = sh.run("blkid");
    let ext4 = blkid.lines().filter(|l| l.contains(&format!("UUID=\"{ROOT_UUID}\""))).count();
    assert_eq!(ext4, 1, "only the array holds the root, not its members: {blkid}");
    assert!(blkid.contains("/dev/md127:"), "{blkid}");
    assert!(sh.run("cat /proc/mdstat").contains("md127 : active"), "");
    let t = sh.continue_to_real_init();
    assert!(t.contains("metadata 0.90"), "{t}");
}

/// LVM on MD: VG `vgmd` on the RAID1, its LV `root` holding the recovery tree; the seed's
/// password reset through both layers.
#[test]
fn lvm_on_raid1_password_reset() {
    let s = Scenario::new("md_lvm");
    let a = assets::get();
    let tree = Tree::recovery(s.dir().join("tree"), &a.test_init);
    let recipe = Recipe::new(
        "md-lvm-root",
        &[360, 360],
        &format!(
            r#"
mdadm --create /dev/md0 --run --assume-clean --metadata=1.2 --level=1 --raid-devices=2 \
  --homehost=seed --name=pv --uuid={ARRAY} /dev/vdb /dev/vdc
pvcreate -q /dev/md0
vgcreate -q vgmd /dev/md0
lvcreate -q -y -n root -L 300M vgmd
mkfs.ext4 -q -U {ROOT_UUID} -L root /dev/vgmd/root
mount /dev/vgmd/root /mnt
cp -a /input/. /mnt/
umount /mnt
vgchange -q -an vgmd
mdadm --stop /dev/md0
"#
        ),
    )
    .files(&tree.dir);
    let disks = builder::build_copy(&recipe, s.dir());
    let _ = std::fs::remove_dir_all(&tree.dir);
    // The LV's first extent: the PV's data start (its label, in sector 1 of the md data).
    let lv_of = |m: &Path| {
        let md = data_of(m);
        let mut label = vec![0u8; 512];
        std::fs::File::open(m).and_then(|f| f.read_exact_at(&mut label, md.offset + 512)).expect("PV label");
        assert_eq!(&label[0..8], b"LABELONE", "a PV on the array");
        Placed { lv: "root".into(), disk: m.to_path_buf(), offset: md.offset + le64(&label, 72), len: 300 << 20 }
    };
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!("root=/dev/mapper/vgmd-root ro rd.md.uuid={ARRAY} rd.lvm.lv=vgmd/root rd.break"))
        .boot();
    reset_and_check(&mut vm, &[&disks[0], &disks[1]], lv_of);
}
