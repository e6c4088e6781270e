//! The test disk layouts, one named function each, used by the scenarios and the benchmark
//! alike: the seed's CentOS 7 LVM disk, a striped LV, MD RAID1 (1.2 and 0.90), LVM on RAID1,
//! LUKS1 and LUKS2 roots, LVM on LUKS, LUKS on RAID1 with LVM inside, a thin LV. The LVM-only
//! disks are made on the host by the real lvm2 tools ([`lvm_disk`]); the others by the builder
//! VM ([`builder`]), each from a small recipe whose last lines, the filesystem filled with the
//! root tree, are [`fill`]. The builder caches a disk set by its recipe and the tree's content,
//! so a changed recipe makes it anew. Also here: the host's reads of what a boot changed (where
//! an array's or a PV's data is, the root's password hash).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::assets;
use crate::builder::{self, Recipe};
use crate::disk::Tree;
use crate::lvm_disk::{self, Content, Lv, Placed, Vg};
use crate::scenario::{Root, TreeKind};

/// The recipe lines that make a filesystem on `dev` (`mkfs` is `mkfs.` with its options, such
/// as `ext4 -q -U … -L root`) and copy the root tree (`/input`) into it.
pub fn fill(mkfs: &str, dev: &str) -> String {
    format!("mkfs.{mkfs} {dev}\nmount {dev} /mnt\ncp -a /input/. /mnt/\numount /mnt\n")
}

/// Disks the builder VM makes: a recipe over the root tree it copies in.
pub struct DiskSet {
    recipe: Recipe,
    tree: TreeKind,
}

impl DiskSet {
    fn new(recipe: Recipe, tree: TreeKind) -> DiskSet {
        DiskSet { recipe, tree }
    }

    /// The images in the cache, built on first use (the tree is laid out in `dir` meanwhile).
    /// They are shared: [`DiskSet::copy_to`] for a boot that writes to them.
    pub fn build(&self, dir: &Path) -> Vec<PathBuf> {
        self.with_tree(dir, builder::build)
    }

    /// Sparse copies of the images in `dir` (`<name>-<i>.img`), built first if need be.
    pub fn copy_to(&self, dir: &Path) -> Vec<PathBuf> {
        self.with_tree(dir, |r| builder::build_copy(r, dir))
    }

    fn with_tree(&self, dir: &Path, f: impl FnOnce(&Recipe) -> Vec<PathBuf>) -> Vec<PathBuf> {
        let a = assets::get();
        let at = dir.join(format!("tree-{}", self.recipe.name));
        let tree = match self.tree {
            TreeKind::Standard => Tree::standard(at, &a.test_init),
            TreeKind::Recovery => Tree::recovery(at, &a.test_init),
        };
        let disks = f(&self.recipe.clone().files(&tree.dir));
        let _ = std::fs::remove_dir_all(&tree.dir);
        disks
    }
}

// ---- LVM, made on the host ----

/// The seed's machine: CentOS 7's installer layout and its GRUB `linux16` line.
pub mod seed {
    pub const ROOT_UUID: &str = "6f1c3a2e-8d4b-4e5f-9a0b-1c2d3e4f5a6b";
    pub const SWAP_UUID: &str = "2b7e9c1d-3f4a-4b5c-8d6e-7f8091a2b3c4";
    pub const BOOT_UUID: &str = "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9";
    pub const CMDLINE: &str = "root=/dev/mapper/centos-root ro crashkernel=auto rd.lvm.lv=centos/root \
                               rd.lvm.lv=centos/swap rhgb quiet LANG=en_US.UTF-8";
}

/// The seed's disk in `dir`: MBR, p1 /boot (`boot`, made xfs and labelled `boot`), p2 a PV of VG
/// `centos` with LVs `swap` and `root` (xfs, the recovery tree). Returns the disk and where the
/// root LV is.
pub fn seed_lvm(dir: &Path, boot: Root) -> (PathBuf, Placed) {
    let root_fs = Root::recovery(seed::ROOT_UUID).fs("xfs").label("root").build(dir, "root-lv");
    let boot_fs = boot.fs("xfs").label("boot").build(dir, "boot");
    let disk = dir.join("seed.img");
    lvm_disk::mbr_disk(&disk, 1 + 300 + 300 + 256 + 8, &[(300, "83"), (0, "8e")]);
    lvm_disk::fill_partition(&disk, 1, &boot_fs);
    let placed = lvm_disk::make_vg(
        &assets::get().cache,
        dir,
        &Vg {
            name: "centos",
            pvs: vec![(&disk, 2)],
            lvs: vec![
                Lv { name: "swap", size_mib: 256, content: Content::Swap(seed::SWAP_UUID) },
                Lv { name: "root", size_mib: 300, content: Content::Image(&root_fs) },
            ],
            stripes: false,
        },
    );
    let _ = std::fs::remove_file(&root_fs);
    let _ = std::fs::remove_file(&boot_fs);
    let root = placed.into_iter().find(|p| p.lv == "root").expect("the root LV is on one PV");
    (disk, root)
}

/// The seed's /boot as the installer leaves it: the standard tree.
pub fn seed_boot() -> Root {
    Root::standard(seed::BOOT_UUID)
}

/// Two whole-disk PVs in `dir` (72 MiB each) of VG `data-vg`, its LV `root` striped over both
/// (ext4, the standard tree, UUID [`seed::ROOT_UUID`]).
pub fn striped_lvm(dir: &Path) -> (PathBuf, PathBuf) {
    let root_fs = Root::standard(seed::ROOT_UUID).label("root").size_mib(128).build(dir, "striped-root");
    let blank = |name: &str| {
        let p = dir.join(name);
        std::fs::File::create(&p).and_then(|f| f.set_len(72 << 20)).expect("blank PV image");
        p
    };
    let (a, b) = (blank("pv-a.img"), blank("pv-b.img"));
    lvm_disk::make_vg(
        &assets::get().cache,
        dir,
        &Vg {
            name: "data-vg",
            pvs: vec![(&a, 0), (&b, 0)],
            lvs: vec![Lv { name: "root", size_mib: 128, content: Content::Image(&root_fs) }],
            stripes: true,
        },
    );
    let _ = std::fs::remove_file(&root_fs);
    (a, b)
}

// ---- MD RAID, made by the builder VM ----

pub mod md {
    pub const ROOT_UUID: &str = "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
    /// The array, as mdadm prints it.
    pub const ARRAY: &str = "1f2e3d4c:5b6a7988:99aabbcc:ddeeff00";
}

/// `mdadm --create /dev/md0` of a RAID1 with a 1.2 superblock over `/dev/vdb /dev/vdc`, named
/// `seed:<name>`, UUID `array`.
fn raid1_create(name: &str, array: &str) -> String {
    format!(
        "mdadm --create /dev/md0 --run --assume-clean --metadata=1.2 --level=1 --raid-devices=2 \\\n  \
         --homehost=seed --name={name} --uuid={array} /dev/vdb /dev/vdc\n"
    )
}

/// The RAID1 root: 1.2 superblocks on two whole disks, named `seed:root`, the recovery tree on
/// ext4.
pub fn raid1() -> DiskSet {
    let script = format!(
        "{}{}mdadm --detail /dev/md0\nmdadm --stop /dev/md0\n",
        raid1_create("root", md::ARRAY),
        fill(&format!("ext4 -q -U {} -L root", md::ROOT_UUID), "/dev/md0")
    );
    DiskSet::new(Recipe::new("md-root-1.2", &[320, 320], &script), TreeKind::Recovery)
}

/// A 0.90 RAID1 (superblock at the end, data from sector 0), the standard tree on ext4.
pub fn raid1_0_90() -> DiskSet {
    let script = format!(
        "mdadm --create /dev/md0 --run --assume-clean --metadata=0.90 --level=1 --raid-devices=2 /dev/vdb /dev/vdc\n\
         {}mdadm --detail /dev/md0\nmdadm --stop /dev/md0\n",
        fill(&format!("ext4 -q -U {} -L root", md::ROOT_UUID), "/dev/md0")
    );
    DiskSet::new(Recipe::new("md-root-0.90", &[160, 160], &script), TreeKind::Standard)
}

/// LVM on MD: VG `vgmd` on a RAID1 (named `seed:pv`), its LV `root` (300 MiB, the recovery
/// tree on ext4).
pub fn lvm_on_raid1() -> DiskSet {
    let script = format!(
        "{}pvcreate -q /dev/md0\nvgcreate -q vgmd /dev/md0\nlvcreate -q -y -n root -L 300M vgmd\n{}\
         vgchange -q -an vgmd\nmdadm --stop /dev/md0\n",
        raid1_create("pv", md::ARRAY),
        fill(&format!("ext4 -q -U {} -L root", md::ROOT_UUID), "/dev/vgmd/root")
    );
    DiskSet::new(Recipe::new("md-lvm-root", &[360, 360], &script), TreeKind::Recovery)
}

// ---- LUKS, made by the builder VM ----

pub mod luks {
    pub const LUKS_UUID: &str = "5a1c0e2b-7d39-4f8e-a6b1-2c3d4e5f6a7b";
    pub const FS_UUID: &str = "e1d2c3b4-a596-4788-99aa-bbccddeeff00";
    pub const PASSPHRASE: &str = "Ich-bin-das-Passwort 42";
    pub const KEY_LABEL: &str = "keys";
    /// The host's way into every container after the boot (keyslot 1, PBKDF2 at 1000 rounds).
    pub const HOST_KEY: &str = "rdbreak-host-check-key";
    /// The key file's bytes (in keyslot 2 of the LUKS2 root): fixed, so the host can put the
    /// same file in an image.
    pub const KEYFILE: &str = "0f9e8d7c6b5a4938271605f4e3d2c1b0a9988776655443322110ffeeddccbbaa";
    /// The MD array under LUKS, as mdadm prints it.
    pub const ARRAY: &str = "2e3d4c5b:6a798897:a6b5c4d3:e2f10011";
    /// Argon2id, as `luksFormat` makes it, with a memory cost the test VM affords and a time
    /// cost TCG gets through in seconds.
    pub const ARGON2: &str = "--pbkdf argon2id --pbkdf-memory 65536 --pbkdf-force-iterations 4 --pbkdf-parallel 1";
}

/// The recipe lines that make `dev` a container: `luksFormat` with the passphrase (its options
/// `format`), then the host's keyslot.
fn luks_format(dev: &str, format: &str) -> String {
    use luks::{HOST_KEY, LUKS_UUID, PASSPHRASE};
    format!(
        r#"
printf %s '{PASSPHRASE}' | cryptsetup luksFormat -q {format} --uuid {LUKS_UUID} --key-file=- {dev}
printf %s '{HOST_KEY}' > /tmp/host.key
printf %s '{PASSPHRASE}' | cryptsetup luksAddKey -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file=- {dev} /tmp/host.key
"#
    )
}

/// `cryptsetup open` of `dev` as `name` with the passphrase.
fn luks_open(dev: &str, name: &str) -> String {
    format!("printf %s '{}' | cryptsetup open --key-file=- {dev} {name}\n", luks::PASSPHRASE)
}

/// A whole-disk LUKS2 container (Argon2id) holding the recovery tree on ext4 (disk 0), and a
/// small ext4 disk labelled `keys` holding `/root.key`, which also opens the container (disk 1).
pub fn luks2_root() -> DiskSet {
    use luks::{KEYFILE, KEY_LABEL, PASSPHRASE};
    let script = format!(
        "{}printf %s '{KEYFILE}' > /tmp/root.key\n\
         printf %s '{PASSPHRASE}' | cryptsetup luksAddKey -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file=- /dev/vdb /tmp/root.key\n\
         {}{}cryptsetup close root\n\
         mkfs.ext4 -q -L {KEY_LABEL} /dev/vdc\nmount /dev/vdc /mnt\ncp /tmp/root.key /mnt/root.key\numount /mnt\n\
         cryptsetup luksDump /dev/vdb\n",
        luks_format("/dev/vdb", &format!("--type luks2 {}", luks::ARGON2)),
        luks_open("/dev/vdb", "root"),
        fill(&format!("ext4 -q -U {} -L root", luks::FS_UUID), "/dev/mapper/root"),
    );
    DiskSet::new(Recipe::new("luks2-root", &[256, 16], &script), TreeKind::Recovery)
}

/// A LUKS1 root (PBKDF2-SHA256, AES-XTS) holding the recovery tree on ext4.
pub fn luks1_root() -> DiskSet {
    let script = format!(
        "{}{}{}cryptsetup close root\ncryptsetup luksDump /dev/vdb\n",
        luks_format("/dev/vdb", "--type luks1 --hash sha256 --pbkdf-force-iterations 100000"),
        luks_open("/dev/vdb", "root"),
        fill(&format!("ext4 -q -U {} -L root", luks::FS_UUID), "/dev/mapper/root"),
    );
    DiskSet::new(Recipe::new("luks1-root", &[256], &script), TreeKind::Recovery)
}

/// A LUKS2 root whose passphrase keyslot has cryptsetup's default Argon2id cost on a fast
/// machine (1 GiB, 4 lanes, 4 passes; keyslot 0 is the host's). The builder guest has 2.5 GiB:
/// cryptsetup caps the cost at half the RAM.
pub fn luks2_default_cost() -> DiskSet {
    use luks::{HOST_KEY, LUKS_UUID, PASSPHRASE};
    let script = format!(
        "printf %s '{HOST_KEY}' | cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --uuid {LUKS_UUID} --key-file=- /dev/vdb\n\
         printf %s '{PASSPHRASE}' > /tmp/pass\n\
         printf %s '{HOST_KEY}' | cryptsetup luksAddKey -q --pbkdf argon2id --pbkdf-memory 1048576 --pbkdf-parallel 4 --pbkdf-force-iterations 4 --key-file=- /dev/vdb /tmp/pass\n\
         printf %s '{HOST_KEY}' | cryptsetup open --key-file=- /dev/vdb root\n\
         {}cryptsetup close root\ncryptsetup luksDump /dev/vdb\n",
        fill(&format!("ext4 -q -U {} -L root", luks::FS_UUID), "/dev/mapper/root"),
    );
    DiskSet::new(Recipe::new("luks2-default-cost", &[256], &script).mem_mib(2560), TreeKind::Recovery)
}

/// LVM inside LUKS, as the Debian and Ubuntu installers lay out an encrypted disk: a LUKS2
/// container on the whole disk (`kdf`: its keyslot's `--pbkdf…` options, [`luks::ARGON2`] for
/// the tests), a PV inside, VG `vgubuntu` with LVs `root` (256 MiB, ext4, first) and `swap_1`
/// (the rest, room for a hibernation image).
pub fn lvm_on_luks(kdf: &str) -> DiskSet {
    let script = format!(
        "{}{}pvcreate -q /dev/mapper/crypt\nvgcreate -q vgubuntu /dev/mapper/crypt\n\
         lvcreate -q -y -n root -L 256M vgubuntu\nlvcreate -q -y -n swap_1 -l 100%FREE vgubuntu\n\
         mkswap /dev/vgubuntu/swap_1\n{}vgchange -q -an vgubuntu\ncryptsetup close crypt\n",
        luks_format("/dev/vdb", &format!("--type luks2 {kdf}")),
        luks_open("/dev/vdb", "crypt"),
        fill(&format!("ext4 -q -U {}", luks::FS_UUID), "/dev/vgubuntu/root"),
    );
    // Another cost is another script, so another disk set in the cache.
    let name = if kdf == luks::ARGON2 { "lvm-on-luks" } else { "lvm-on-luks-kdf" };
    DiskSet::new(Recipe::new(name, &[512], &script), TreeKind::Recovery)
}

/// LUKS on an MD RAID1 with LVM inside (dracut's TEST-13-ENC-RAID-LVM stack): array `seed:crypt`
/// ([`luks::ARRAY`]), the container on it, VG `vgraid` with LV `root` (256 MiB, ext4).
pub fn luks_on_raid1_lvm() -> DiskSet {
    let script = format!(
        "{}{}{}pvcreate -q /dev/mapper/crypt\nvgcreate -q vgraid /dev/mapper/crypt\n\
         lvcreate -q -y -n root -L 256M vgraid\n{}vgchange -q -an vgraid\ncryptsetup close crypt\nmdadm --stop /dev/md0\n",
        raid1_create("crypt", luks::ARRAY),
        luks_format("/dev/md0", &format!("--type luks2 {}", luks::ARGON2)),
        luks_open("/dev/md0", "crypt"),
        fill(&format!("ext4 -q -U {}", luks::FS_UUID), "/dev/vgraid/root"),
    );
    DiskSet::new(Recipe::new("md-luks-lvm", &[320, 320], &script), TreeKind::Recovery)
}

/// What makes a keyslot slow on purpose: Argon2id at 64 MiB with many passes, seconds of work
/// under TCG, as a real machine's default keyslot takes seconds.
pub const SLOW_ARGON2: &str = "--pbkdf argon2id --pbkdf-memory 65536 --pbkdf-force-iterations 32 --pbkdf-parallel 1";

/// LVM in LUKS on a RAID5 of three whole disks (a server's encrypted root): array `seed:r5`
/// ([`luks::ARRAY`] is RAID1's; this one is `3f4e5d6c:…`), the container on it with a key file
/// ([`luks::KEYFILE`]) in a keyslot made slow on purpose ([`SLOW_ARGON2`]), VG `vgr5` with LV
/// `root` (ext4, labelled `root`).
pub fn lvm_in_luks_on_raid5() -> DiskSet {
    use luks::{KEYFILE, PASSPHRASE};
    let script = format!(
        "mdadm --create /dev/md0 --run --assume-clean --metadata=1.2 --level=5 --raid-devices=3 \\\n  \
         --homehost=seed --name=r5 --uuid={RAID5_ARRAY} /dev/vdb /dev/vdc /dev/vdd\n\
         {}printf %s '{KEYFILE}' > /tmp/root.key\n\
         printf %s '{PASSPHRASE}' | cryptsetup luksAddKey -q {SLOW_ARGON2} --key-file=- /dev/md0 /tmp/root.key\n\
         {}pvcreate -q /dev/mapper/crypt\nvgcreate -q vgr5 /dev/mapper/crypt\n\
         lvcreate -q -y -n root -L 200M vgr5\n{}vgchange -q -an vgr5\ncryptsetup close crypt\nmdadm --stop /dev/md0\n",
        luks_format("/dev/md0", &format!("--type luks2 {}", luks::ARGON2)),
        luks_open("/dev/md0", "crypt"),
        fill("ext4 -q -L root", "/dev/vgr5/root"),
    );
    DiskSet::new(Recipe::new("md5-luks-lvm", &[160, 160, 160], &script), TreeKind::Recovery)
}

/// The RAID5 array of [`lvm_in_luks_on_raid5`], as mdadm prints it.
pub const RAID5_ARRAY: &str = "3f4e5d6c:7b8a9988:a7b6c5d4:e3f20022";

// ---- LVM that only lvm2 maps ----

/// One disk: a whole-disk PV of VG `tvg` with a thin pool `pool` and a thin LV `root` (ext4,
/// labelled `thinroot`, the standard tree). thin_check is not in the builder: its config skips
/// it, as the boot's does.
pub fn lvm_thin() -> DiskSet {
    let script = format!(
        "cfg='global {{ thin_check_executable=\"\" }}'\npvcreate -q /dev/vdb\nvgcreate -q tvg /dev/vdb\n\
         lvcreate -q -y --config \"$cfg\" --type thin-pool -L 200M -n pool tvg\n\
         lvcreate -q -y --config \"$cfg\" -V 400M -T tvg/pool -n root\n{}\
         lvs -a tvg\nvgchange -q -an --config \"$cfg\" tvg\n",
        fill("ext4 -q -L thinroot", "/dev/tvg/root"),
    );
    DiskSet::new(Recipe::new("lvm-thin-root", &[320], &script), TreeKind::Standard)
}

// ---- At scale: many disks, many LVs, a wide array, a long partition table ----

/// The scale scenarios' and the scale bench's identities.
pub mod scale {
    /// The root filesystem of every scale layout (ext4, the standard tree).
    pub const ROOT_UUID: &str = "5ca1ab1e-0d15-4c5a-8b1e-000000000256";
    /// The root's GPT partition in [`super::many_partitions`].
    pub const PARTUUID: &str = "5ca1ab1e-9a27-4e11-8b1e-000000000100";
    /// The 16-member array of [`super::wide_raid10`], as mdadm prints it.
    pub const ARRAY: &str = "5ca1ab1e:16161616:a1b2c3d4:e5f60016";
    /// The VG of [`super::many_lvs`]; its root LV is `root`, the others `lvNNNN`.
    pub const VG: &str = "bigvg";
    /// The serial of the root's disk when it sits among blank ones.
    pub const ROOT_SERIAL: &str = "SCALEROOT";
}

/// `n` blank, sparse disks of `size_mib` in `dir` (`blank-<i>.img`): disks that hold nothing the
/// root needs, each a file of its own (QEMU locks an image against a second writer).
pub fn blank_disks(dir: &Path, n: usize, size_mib: u64) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("blank-{i}.img"));
            std::fs::File::create(&p).and_then(|f| f.set_len(size_mib << 20)).expect("blank disk image");
            p
        })
        .collect()
}

/// The scale layouts' root: the standard tree on ext4 ([`scale::ROOT_UUID`], labelled `root`).
pub fn scale_root() -> Root {
    Root::standard(scale::ROOT_UUID)
}

/// One disk, a whole-disk PV of VG [`scale::VG`] holding `lvs` LVs: `root` first (128 MiB, the
/// standard tree on ext4), then `lvs - 1` LVs `lv0001`, `lv0002`, … of one 4 MiB extent each with
/// nothing in them (a server's many volumes the root does not need). Made on the host by the real
/// lvm2 tools once per count and cached; returns a sparse copy in `dir`.
pub fn many_lvs(dir: &Path, lvs: usize) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let a = assets::get();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (lvs, include_str!("layouts.rs"), include_str!("lvm_disk.rs")).hash(&mut h);
    std::fs::read(&a.test_init).expect("test init").hash(&mut h);
    let key = format!("disks/many-lvs-{lvs}-{:016x}.img", h.finish());
    // The root's image first: it comes from the cache too, under the same lock.
    let root_fs = scale_root().build(dir, "root-lv");
    let cached = a.cached_file(&key, |tmp| {
        let work = tmp.with_extension("work");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).expect("cache work dir");
        // 128 MiB root, 4 MiB per other LV, 1 MiB of metadata area and a margin.
        std::fs::File::create(tmp).and_then(|f| f.set_len((128 + 4 * lvs as u64 + 8) << 20)).expect("PV image");
        let names: Vec<String> = (1..lvs).map(|i| format!("lv{i:04}")).collect();
        let mut all = vec![Lv { name: "root", size_mib: 128, content: Content::Image(&root_fs) }];
        all.extend(names.iter().map(|n| Lv { name: n, size_mib: 4, content: Content::Empty }));
        lvm_disk::make_vg(&a.cache, &work, &Vg { name: scale::VG, pvs: vec![(tmp, 0)], lvs: all, stripes: false });
        let _ = std::fs::remove_dir_all(&work);
    });
    let _ = std::fs::remove_file(&root_fs);
    let copy = dir.join(format!("many-lvs-{lvs}.img"));
    crate::assets::run(std::process::Command::new("cp").arg("--sparse=always").arg(&cached).arg(&copy));
    copy
}

/// One GPT disk in `dir` with `parts` partitions: `parts - 1` empty ones of 1 MiB (`p1`, `p2`,
/// …), then the root (the last partition, labelled `root`, [`scale::PARTUUID`], the standard
/// tree on ext4).
pub fn many_partitions(dir: &Path, parts: u32) -> PathBuf {
    assert!((2..=128).contains(&parts), "a GPT of sfdisk's default 128 entries");
    let root_fs = scale_root().build(dir, "gpt-root");
    let root_mib = std::fs::metadata(&root_fs).expect("root image").len() >> 20;
    let disk = dir.join("many-parts.img");
    std::fs::File::create(&disk).and_then(|f| f.set_len((parts as u64 + root_mib + 2) << 20)).expect("disk image");
    let mut script = String::from("label: gpt\n");
    for i in 1..parts {
        script += &format!("size=1MiB, name=p{i}\n");
    }
    script += &format!("size={root_mib}MiB, name=root, uuid={}\n", scale::PARTUUID);
    let mut child = std::process::Command::new("sfdisk")
        .args(["-q"])
        .arg(&disk)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("sfdisk script");
    assert!(child.wait().expect("sfdisk").success(), "sfdisk failed on {}", disk.display());
    lvm_disk::fill_partition(&disk, parts, &root_fs);
    let _ = std::fs::remove_file(&root_fs);
    disk
}

/// A RAID10 of 16 whole disks (1.2 superblocks, named `seed:wide`, [`scale::ARRAY`]) holding the
/// standard tree on ext4 ([`scale::ROOT_UUID`]).
pub fn wide_raid10() -> DiskSet {
    let script = format!(
        "mdadm --create /dev/md0 --run --assume-clean --metadata=1.2 --level=10 --raid-devices=16 \\\n  \
         --homehost=seed --name=wide --uuid={} /dev/vd[b-q]\n{}mdadm --detail /dev/md0\nmdadm --stop /dev/md0\n",
        scale::ARRAY,
        fill(&format!("ext4 -q -U {} -L root", scale::ROOT_UUID), "/dev/md0")
    );
    DiskSet::new(Recipe::new("md-wide-raid10", &[32; 16], &script), TreeKind::Standard)
}

// ---- The host's reads of a disk after a boot ----

fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Where a 1.2 member's data is: its superblock (at 4 KiB) gives the data offset and size.
pub fn md_data(member: &Path) -> Placed {
    let mut sb = vec![0u8; 4096];
    std::fs::File::open(member).and_then(|f| f.read_exact_at(&mut sb, 4096)).expect("read the md superblock");
    Placed { lv: "md".into(), disk: member.to_path_buf(), offset: le64(&sb, 128) * 512, len: le64(&sb, 136) * 512 }
}

/// The first LV (`len` bytes) of the PV whose label is at `pv + 512` on `disk`: it starts at the
/// PV's data start.
pub fn first_lv(disk: &Path, pv: u64, len: u64) -> Placed {
    let mut label = vec![0u8; 512];
    std::fs::File::open(disk).and_then(|f| f.read_exact_at(&mut label, pv + 512)).expect("read the PV label");
    assert_eq!(&label[0..8], b"LABELONE", "a PV at byte {pv} of {}", disk.display());
    Placed { lv: "root".into(), disk: disk.to_path_buf(), offset: pv + le64(&label, 72), len }
}

/// The root's password hash in /etc/shadow of the filesystem at `fs`.
pub fn root_hash(fs: &Placed) -> String {
    let shadow = lvm_disk::read_file(fs, "/etc/shadow")
        .unwrap_or_else(|| panic!("/etc/shadow in the filesystem at byte {} of {}", fs.offset, fs.disk.display()));
    shadow.lines().find(|l| l.starts_with("root:")).and_then(|l| l.split(':').nth(1)).expect("root entry").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recipes end in the one tail, and the caching key follows the recipe: another KDF is
    /// another disk set.
    #[test]
    fn recipes_share_the_tail_and_differ_by_what_they_make() {
        let tail = "mount /dev/md0 /mnt\ncp -a /input/. /mnt/\numount /mnt\n";
        assert!(raid1().recipe.script.contains(tail));
        assert!(raid1_0_90().recipe.script.contains(tail));
        let (a, b) = (lvm_on_luks(luks::ARGON2), lvm_on_luks("--pbkdf pbkdf2"));
        assert_eq!(a.recipe.name, "lvm-on-luks");
        assert_ne!(a.recipe.name, b.recipe.name);
        assert_ne!(a.recipe.script, b.recipe.script);
    }
}
