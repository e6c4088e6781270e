//! The builder VM makes LVM and MD disks with the real tools; the images are then read here, on
//! the host, to check they hold what the recipe asked for.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use rdbreak_qemu_tests::builder::{self, Recipe};
use rdbreak_qemu_tests::disk::Tree;
use rdbreak_qemu_tests::{assets, layouts, workdir};

fn read_at(image: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let f = std::fs::File::open(image).expect("open image");
    f.read_exact_at(&mut buf, offset).unwrap_or_else(|e| panic!("read {} at {offset}: {e}", image.display()));
    buf
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Copies `len` bytes at `offset` of `image` into a file of its own, for the host's fs tools.
fn extract(image: &Path, offset: u64, len: u64, out: &Path) {
    assets::run(
        Command::new("dd")
            .arg(format!("if={}", image.display()))
            .arg(format!("of={}", out.display()))
            .args(["bs=1M", "iflag=skip_bytes,count_bytes", "conv=sparse", "status=none"])
            .arg(format!("skip={offset}"))
            .arg(format!("count={len}")),
    );
}

const MD_MAGIC: u32 = 0xa92b_4efc;

/// The seed's CentOS 7 layout: MBR, p1 /boot xfs, p2 an LVM PV with VG centos, LVs root (xfs,
/// holding the test root) and swap.
#[test]
fn seed_lvm_layout() {
    let a = assets::get();
    let dir = workdir("builder_seed");
    let tree = Tree::recovery(dir.join("tree"), &a.test_init);
    let recipe = Recipe::new(
        "seed-lvm",
        &[1024],
        &format!(
            r#"
printf 'label: dos\nstart=2048, size=614400, type=83, bootable\nstart=616448, type=8e\n' | sfdisk -q /dev/vdb
mkfs.xfs -q -L boot /dev/vdb1
pvcreate -q /dev/vdb2
vgcreate -q centos /dev/vdb2
lvcreate -q -y -n root -L 400M centos
lvcreate -q -y -n swap -l 100%FREE centos
mkswap -L swap /dev/centos/swap
{}lvs centos
vgchange -q -an centos
"#,
            layouts::fill("xfs -q -L root", "/dev/centos/root")
        ),
    )
    .files(&tree.dir);
    let disk = &builder::build(&recipe)[0];

    let mbr = read_at(disk, 0, 512);
    assert_eq!(&mbr[510..], &[0x55, 0xaa], "an MBR");
    assert_eq!(mbr[0x1be + 4], 0x83, "p1 is a Linux partition");
    assert_eq!(mbr[0x1be + 16 + 4], 0x8e, "p2 is Linux LVM");
    let p1 = u64::from(le32(&mbr, 0x1be + 8)) * 512;
    let p2 = u64::from(le32(&mbr, 0x1be + 16 + 8)) * 512;
    assert_eq!(&read_at(disk, p1, 4), b"XFSB", "/boot is xfs");

    // The LVM label in sector 1 of the PV, then the PV header and its first data area.
    let label = read_at(disk, p2 + 512, 512);
    assert_eq!(&label[0..8], b"LABELONE");
    assert_eq!(&label[24..32], b"LVM2 001");
    let pe_start = le64(&label, 72);
    let text = String::from_utf8_lossy(&read_at(disk, p2, pe_start as usize)).to_string();
    for want in ["centos {", "root {", "swap {"] {
        assert!(text.contains(want), "the VG metadata names {want:?}");
    }

    // root comes first in the VG, swap right after its 400 MiB.
    let root = p2 + pe_start;
    assert_eq!(&read_at(disk, root, 4), b"XFSB", "LV root is xfs");
    assert_eq!(&read_at(disk, root + (400 << 20) + 4086, 10), b"SWAPSPACE2", "LV swap is swap");
    let lv = dir.join("root-lv.img");
    extract(disk, root, 400 << 20, &lv);
    for (path, want) in [("/usr/sbin", "init"), ("/etc", "passwd"), ("/", "sbin")] {
        let ls = assets::run(Command::new("xfs_db").arg("-r").arg("-c").arg(format!("ls {path}")).arg(&lv));
        assert!(ls.split_whitespace().any(|w| w == want), "{path} on LV root lists {want}:\n{ls}");
    }
}

/// The first bytes of the ext4 superblock's magic at `fs` in `image`.
fn ext4_at(image: &Path, fs: u64) -> bool {
    read_at(image, fs + 1024 + 0x38, 2) == [0x53, 0xef]
}

/// An MD RAID1 with a 1.2 superblock (at 4 KiB) over two disks, ext4 on it.
#[test]
fn md_raid1_v1_2() {
    let dir = workdir("builder_md12");
    let recipe = Recipe::new(
        "md-raid1-1.2",
        &[64, 64],
        r#"
mdadm --create /dev/md0 --run --metadata=1.2 --level=1 --raid-devices=2 --homehost=seed --name=root \
  --uuid=1f2e3d4c:5b6a7988:99aabbcc:ddeeff00 /dev/vdb /dev/vdc
mdadm --wait /dev/md0 || true
mkfs.ext4 -q -L mdroot /dev/md0
mount /dev/md0 /mnt
echo made-by-mdadm > /mnt/hello
umount /mnt
mdadm --detail /dev/md0
mdadm --stop /dev/md0
"#,
    );
    for disk in builder::build(&recipe) {
        let sb = read_at(&disk, 4096, 4096);
        assert_eq!(le32(&sb, 0), MD_MAGIC, "md magic at 4 KiB of {}", disk.display());
        assert_eq!(le32(&sb, 4), 1, "major version 1");
        assert_eq!(&sb[16..20], &[0x1f, 0x2e, 0x3d, 0x4c], "the UUID asked for");
        assert_eq!(&sb[32..41], b"seed:root", "the name asked for");
        assert_eq!(le32(&sb, 72), 1, "raid1");
        let data = le64(&sb, 128) * 512;
        assert!(ext4_at(&disk, data), "ext4 at the data offset {data}");
        let fs = dir.join("data.img");
        let size = std::fs::metadata(&disk).expect("stat").len();
        extract(&disk, data, size - data, &fs);
        let hello = assets::run(Command::new("debugfs").arg("-R").arg("cat /hello").arg(&fs));
        assert_eq!(hello.trim(), "made-by-mdadm", "each mirror holds the file");
    }
}

/// A RAID1 with a 0.90 superblock: in the last 64 KiB-aligned 64 KiB block, data from sector 0.
#[test]
fn md_raid1_v0_90() {
    let recipe = Recipe::new(
        "md-raid1-0.90",
        &[40, 40],
        r#"
mdadm --create /dev/md0 --run --metadata=0.90 --level=1 --raid-devices=2 /dev/vdb /dev/vdc
mdadm --wait /dev/md0 || true
mkfs.ext4 -q -L md090 /dev/md0
mdadm --stop /dev/md0
"#,
    );
    for disk in builder::build(&recipe) {
        let size = std::fs::metadata(&disk).expect("stat").len();
        let at = (((size / 512) & !127) - 128) * 512;
        let sb = read_at(&disk, at, 4096);
        assert_eq!(u32::from_ne_bytes(sb[0..4].try_into().expect("4")), MD_MAGIC, "0.90 magic at {at}");
        assert_eq!(u32::from_ne_bytes(sb[8..12].try_into().expect("4")), 90, "minor version 90");
        assert!(ext4_at(&disk, 0), "ext4 from the start of {}", disk.display());
        assert_ne!(read_at(&disk, 4096, 4), MD_MAGIC.to_le_bytes(), "no 1.2 superblock");
    }
}

/// The arrays of the md fixtures: (name, mdadm --create options, member partitions).
const FIXTURE_ARRAYS: &[(&str, &str, &[u32])] = &[
    ("r1-1.2", "--metadata=1.2 --level=1", &[1, 2]),
    ("r1-1.0", "--metadata=1.0 --level=1", &[3, 4]),
    ("r1-1.1", "--metadata=1.1 --level=1", &[5, 6]),
    ("r1-0.90", "--metadata=0.90 --level=1", &[7, 8]),
    ("r5-1.2", "--metadata=1.2 --level=5 --chunk=64", &[9, 10, 11]),
    ("r0-1.2", "--metadata=1.2 --level=0 --chunk=64", &[12, 13]),
    ("r10-1.2", "--metadata=1.2 --level=10 --layout=n2 --chunk=64", &[14, 15, 16, 17]),
    ("r6-1.2", "--metadata=1.2 --level=6 --chunk=64", &[18, 19, 20, 21]),
    ("r1-bitmap", "--metadata=1.2 --level=1 --bitmap=internal", &[22, 23]),
    ("r1-degraded", "--metadata=1.2 --level=1", &[24]),
    ("r1-stale", "--metadata=1.2 --level=1", &[25, 26]),
    ("r5-0.90", "--metadata=0.90 --level=5 --chunk=64", &[27, 28, 29]),
];

/// The recipe behind init/src/storage/testdata/md: the arrays over 12 MiB partitions of /dev/vdb, then the
/// first and last MiB of every member, its size and `mdadm --examine`, as a tar on /dev/vdc.
fn fixtures_recipe() -> Recipe {
    let mut s = String::from("printf 'label: gpt\\n' > /tmp/table\n");
    s += "for i in $(seq 29); do echo 'size=12MiB' >> /tmp/table; done\nsfdisk -q /dev/vdb < /tmp/table\n";
    s += "for i in $(seq 50); do [ -b /dev/vdb29 ] && break; sleep 0.2; done\nmkdir -p /tmp/out\n";
    for (n, (name, opts, parts)) in FIXTURE_ARRAYS.iter().enumerate() {
        let mut devs: Vec<String> = parts.iter().map(|p| format!("/dev/vdb{p}")).collect();
        let raid_devices = if *name == "r1-degraded" { 2 } else { parts.len() };
        if *name == "r1-degraded" {
            devs.push("missing".into());
        }
        // v0.90 has no name field.
        let name_opt = if opts.contains("0.90") { String::new() } else { format!("--homehost=fixture --name={name}") };
        s += &format!(
            "mdadm --create /dev/md{n} --run {opts} --raid-devices={raid_devices} {name_opt} \
             --uuid=000000{n:02x}:11111111:22222222:33333333 {}\nmdadm --wait /dev/md{n} || true\n",
            devs.join(" ")
        );
        if *name == "r1-stale" {
            // The failed member keeps its older superblock; the survivor's events move on.
            s += &format!(
                "mdadm /dev/md{n} --fail /dev/vdb26\nmdadm /dev/md{n} --remove /dev/vdb26 || true\nmkfs.ext4 -q /dev/md{n}\n"
            );
        }
        s += &format!("mdadm --stop /dev/md{n}\n");
    }
    for (name, _, parts) in FIXTURE_ARRAYS {
        for (i, p) in parts.iter().enumerate() {
            let (m, dev) = (format!("{name}-{i}"), format!("/dev/vdb{p}"));
            s += &format!(
                "size=$(blockdev --getsize64 {dev}); echo \"{m} $size {name}\" >> /tmp/out/members.txt\n\
                 dd if={dev} of=/tmp/out/{m}.head bs=1M count=1 2>/dev/null\n\
                 dd if={dev} of=/tmp/out/{m}.tail bs=1M skip=$((size / 1048576 - 1)) 2>/dev/null\n\
                 mdadm --examine {dev} > /tmp/out/{m}.examine\n"
            );
        }
    }
    s += "tar -cf /dev/vdc -C /tmp/out .\n";
    Recipe::new("md-fixtures", &[400, 64], &s)
}

/// Regenerates init/src/storage/testdata/md from the builder VM (`init/src/storage/testdata/md/regenerate.sh`).
#[test]
#[ignore = "rewrites the committed fixtures; run by init/src/storage/testdata/md/regenerate.sh"]
fn regenerate_md_fixtures() {
    let a = assets::get();
    let images = builder::build(&fixtures_recipe());
    let out = a.workspace.join("init/src/storage/testdata/md");
    let tmp = workdir("md_fixtures");
    assets::run(Command::new("tar").arg("-xf").arg(&images[1]).arg("-C").arg(&tmp));
    let _ = std::fs::remove_dir_all(out.join("members"));
    std::fs::create_dir_all(out.join("members")).expect("create init/src/storage/testdata/md/members");
    std::fs::copy(tmp.join("members.txt"), out.join("members.txt")).expect("copy members.txt");
    for e in std::fs::read_dir(&tmp).expect("read the fixtures").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".head") || name.ends_with(".tail") {
            let dst = out.join("members").join(format!("{name}.zst"));
            assets::run(Command::new("zstd").args(["-q", "-19", "-f"]).arg(e.path()).arg("-o").arg(&dst));
        } else if name.ends_with(".examine") {
            std::fs::copy(e.path(), out.join("members").join(&name)).expect("copy an examine output");
        }
    }
}
