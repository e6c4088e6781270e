//! The benchmark's storage roots: the seed's CentOS 7 LVM layout, an MD RAID1 root and LVM on
//! LUKS, each booted by stock dracut (base's shell init) and by the same image with `-a
//! rdbreak`. Stock dracut needs its lvm, mdraid and crypt modules, which it only adds when
//! lvm2, mdadm and cryptsetup are installed: this host has none of them (installing them would
//! change every other dracut image the tests build), so both images are made by the real dracut
//! in a private mount namespace where Debian's packages are overlaid on /usr (`unshare -m`,
//! overlayfs): dracut sees a host with them installed, nothing outside that namespace does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rdbreak_qemu_tests::assets::{locked, run, Assets, OMIT_SYSTEMD};
use rdbreak_qemu_tests::builder::{self, Recipe};
use rdbreak_qemu_tests::disk::Tree;
use rdbreak_qemu_tests::lvm_disk::{self, Content, Lv, Vg};
use rdbreak_qemu_tests::{vm, Config, Root, Vm};

/// The packages dracut's storage modules need that this host lacks (their other libraries,
/// libcryptsetup12, libdevmapper, libaio, libpopt, are installed with dmsetup and dracut).
const PACKAGES: &[&str] = &["lvm2", "libdevmapper-event1.02.1", "mdadm", "cryptsetup-bin"];

/// The seed's GRUB `linux16` line, as CentOS 7's installer writes it.
pub const SEED_CMDLINE: &str = "root=/dev/mapper/centos-root ro crashkernel=auto rd.lvm.lv=centos/root \
                                rd.lvm.lv=centos/swap rhgb quiet LANG=en_US.UTF-8";
const SEED_ROOT_UUID: &str = "6f1c3a2e-8d4b-4e5f-9a0b-1c2d3e4f5a6b";
const SEED_SWAP_UUID: &str = "2b7e9c1d-3f4a-4b5c-8d6e-7f8091a2b3c4";
const MD_ROOT_UUID: &str = "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const MD_ARRAY: &str = "1f2e3d4c:5b6a7988:99aabbcc:ddeeff00";
const LUKS_UUID: &str = "5b0c7e1a-2d3f-4a5b-9c6d-7e8f9a0b1c2d";
const LUKS_ROOT_UUID: &str = "8e2d4c6b-1a3f-4e5d-9b7c-0f1e2d3c4b5a";
pub const PASSPHRASE: &str = "bench-passphrase";
/// The LUKS2 keyslot's costs: cryptsetup's argon2id with a fixed cost instead of its
/// per-machine calibration (which would differ from one build to the next).
pub const LUKS_KDF: &str = "--pbkdf argon2id --pbkdf-memory 65536 --pbkdf-parallel 4 --pbkdf-force-iterations 4";

pub struct Image {
    pub name: &'static str,
    pub path: PathBuf,
}

/// The packages unpacked once into the cache.
fn tools(cache: &Path) -> PathBuf {
    let dir = cache.join("bench-storage-tools");
    locked(cache, "bench-storage-tools", || {
        if dir.join(".ready").exists() {
            return;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("debs")).expect("tools dir");
        run(Command::new("apt-get").args(["download", "-q"]).args(PACKAGES).current_dir(dir.join("debs")));
        for deb in std::fs::read_dir(dir.join("debs")).expect("debs").flatten() {
            run(Command::new("dpkg-deb").arg("-x").arg(deb.path()).arg(dir.join("root")));
        }
        std::fs::write(dir.join(".ready"), "").expect("stamp");
    });
    dir.join("root")
}

/// The shell lines that overlay the packages on the host's directories (Debian's /sbin and
/// /lib are links into /usr).
fn overlays(root: &Path) -> String {
    let mut sh = String::from("set -e\n");
    for (target, from) in [
        ("/usr/sbin", &["sbin", "usr/sbin"][..]),
        ("/usr/bin", &["bin", "usr/bin"]),
        ("/usr/lib/x86_64-linux-gnu", &["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"]),
        ("/usr/lib/udev/rules.d", &["lib/udev/rules.d", "usr/lib/udev/rules.d"]),
        ("/etc", &["etc"]),
    ] {
        let lower: Vec<String> =
            from.iter().map(|d| root.join(d)).filter(|d| d.is_dir()).map(|d| d.display().to_string()).collect();
        if !lower.is_empty() {
            sh += &format!("mount -t overlay overlay -o 'lowerdir={}:{target}' {target}\n", lower.join(":"));
        }
    }
    sh
}

/// Stock dracut's shell-init image and the same with `-a rdbreak`, both with dracut's lvm,
/// mdraid and crypt modules.
pub fn images(a: &Assets) -> [Image; 2] {
    let root = tools(&a.cache);
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (PACKAGES, &a.kver).hash(&mut h);
    let stock = a.cache.join(format!("initrd/bench-stock-storage-{:016x}.img", h.finish()));
    std::fs::read(&a.init).expect("rdbreak-init").hash(&mut h);
    for f in ["module-setup.sh", "drivers.txt"] {
        std::fs::read(a.workspace.join("dracut-module/99rdbreak").join(f)).expect("the dracut module").hash(&mut h);
    }
    let ours = a.cache.join(format!("initrd/bench-rdbreak-storage-{:016x}.img", h.finish()));
    let base = a.dracut_base();
    for (image, extra) in [(&stock, &[][..]), (&ours, &["-a", "rdbreak"])] {
        locked(&a.cache, "dracut", || {
            if image.exists() {
                return;
            }
            std::fs::create_dir_all(image.parent().expect("parent")).expect("initrd dir");
            let tmp = image.with_extension("tmp");
            let kmoddir = a.kernel_root.join("lib/modules").join(&a.kver);
            let script = format!(
                "{}exec dracut --no-hostonly --force --quiet --kver '{}' --omit '{OMIT_SYSTEMD}' {} --kmoddir '{}' '{}'",
                overlays(&root),
                a.kver,
                extra.join(" "),
                kmoddir.display(),
                tmp.display()
            );
            run(Command::new("unshare")
                .args(["-m", "--propagation", "private", "sh", "-c", &script])
                .env("dracutbasedir", &base)
                .env("RDBREAK_INIT", &a.init));
            std::fs::rename(&tmp, image).expect("rename image");
        });
        let listing = run(Command::new(&a.cli).arg("ls").arg(image));
        for want in ["bin/lvm", "bin/mdadm", "bin/cryptsetup", "dm-crypt.ko", "raid1.ko"] {
            assert!(listing.contains(want), "{want} is not in {}: dracut did not see the packages", image.display());
        }
    }
    [Image { name: "dracut (shell init)", path: stock }, Image { name: "dracut -a rdbreak", path: ours }]
}

/// A storage root: its disks (made once, copied before every boot) and command line.
pub struct Layout {
    pub name: &'static str,
    pub disks: Vec<PathBuf>,
    pub cmdline: String,
    /// The LUKS passphrase the boot asks for.
    pub passphrase: Option<&'static str>,
    /// Whether the plain boot is measured too.
    pub plain: bool,
}

/// The seed's disk (storage.rs's layout, the standard tree on the root LV): MBR, p1 /boot on
/// xfs, p2 a PV of VG `centos` with LVs `swap` and `root` (xfs). Made by the real lvm2 tools.
fn seed(a: &Assets, dir: &Path) -> Layout {
    let root_fs = Root::standard(SEED_ROOT_UUID).fs("xfs").label("root").build(dir, "seed-root-lv");
    let boot_fs =
        Root::standard("0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9").fs("xfs").label("boot").build(dir, "seed-boot");
    let disk = dir.join("seed.img");
    lvm_disk::mbr_disk(&disk, 1 + 300 + 300 + 256 + 8, &[(300, "83"), (0, "8e")]);
    lvm_disk::fill_partition(&disk, 1, &boot_fs);
    lvm_disk::make_vg(
        &a.cache,
        dir,
        &Vg {
            name: "centos",
            pvs: vec![(&disk, 2)],
            lvs: vec![
                Lv { name: "swap", size_mib: 256, content: Content::Swap(SEED_SWAP_UUID) },
                Lv { name: "root", size_mib: 300, content: Content::Image(&root_fs) },
            ],
            stripes: false,
        },
    );
    let _ = std::fs::remove_file(&root_fs);
    let _ = std::fs::remove_file(&boot_fs);
    Layout {
        name: "CentOS 7 LVM (seed)",
        disks: vec![disk],
        cmdline: SEED_CMDLINE.into(),
        passphrase: None,
        plain: true,
    }
}

/// md.rs's RAID1: 1.2 superblocks on two whole disks, the standard tree on ext4.
fn raid1(a: &Assets, dir: &Path) -> Layout {
    let tree = Tree::standard(dir.join("md-tree"), &a.test_init);
    let recipe = Recipe::new(
        "bench-md-root",
        &[160, 160],
        &format!(
            r#"
mdadm --create /dev/md0 --run --assume-clean --metadata=1.2 --level=1 --raid-devices=2 \
  --homehost=seed --name=root --uuid={MD_ARRAY} /dev/vdb /dev/vdc
mkfs.ext4 -q -U {MD_ROOT_UUID} -L root /dev/md0
mount /dev/md0 /mnt
cp -a /input/. /mnt/
umount /mnt
mdadm --stop /dev/md0
"#
        ),
    )
    .files(&tree.dir);
    let disks = builder::build(&recipe);
    let _ = std::fs::remove_dir_all(&tree.dir);
    Layout {
        name: "MD RAID1 (1.2, two disks)",
        disks,
        cmdline: format!("root=UUID={MD_ROOT_UUID} ro rd.md.uuid={MD_ARRAY}"),
        passphrase: None,
        plain: true,
    }
}

/// LVM on LUKS2 (argon2id, [`LUKS_KDF`]) on a whole disk: VG `vgluks`, LV `root` (ext4).
fn lvm_on_luks(a: &Assets, dir: &Path) -> Layout {
    let tree = Tree::standard(dir.join("luks-tree"), &a.test_init);
    let recipe = Recipe::new(
        "bench-lvm-on-luks",
        &[200],
        &format!(
            r#"
printf %s '{PASSPHRASE}' > /tmp/key
cryptsetup luksFormat -q --type luks2 --uuid {LUKS_UUID} {LUKS_KDF} --key-file /tmp/key /dev/vdb
cryptsetup open --key-file /tmp/key /dev/vdb crypt
pvcreate -q /dev/mapper/crypt
vgcreate -q vgluks /dev/mapper/crypt
lvcreate -q -y -Zn -n root -l 100%FREE vgluks
mkfs.ext4 -q -U {LUKS_ROOT_UUID} -L root /dev/vgluks/root
mount /dev/vgluks/root /mnt
cp -a /input/. /mnt/
umount /mnt
vgchange -q -an vgluks
cryptsetup close crypt
cryptsetup luksDump /dev/vdb
"#
        ),
    )
    .files(&tree.dir);
    let disks = builder::build(&recipe);
    let _ = std::fs::remove_dir_all(&tree.dir);
    Layout {
        name: "LVM on LUKS2",
        disks,
        cmdline: format!("root=/dev/mapper/vgluks-root ro rd.luks.uuid={LUKS_UUID} rd.lvm.lv=vgluks/root"),
        passphrase: Some(PASSPHRASE),
        plain: false,
    }
}

/// Every storage layout (the builder VM makes the MD and LUKS disks on first use).
pub fn layouts(a: &Assets, dir: &Path) -> Vec<Layout> {
    vec![seed(a, dir), raid1(a, dir), lvm_on_luks(a, dir)]
}

#[derive(Default, Clone)]
pub struct Sample {
    pub run_init: Option<f64>,
    pub prompt: Option<f64>,
    /// Host seconds from the passphrase's Enter to the break prompt.
    pub enter_to_prompt: Option<f64>,
    pub plain_init: Option<f64>,
}

/// Fresh copies of the layout's disks for one boot.
fn copies(l: &Layout, dir: &Path) -> Vec<PathBuf> {
    l.disks
        .iter()
        .enumerate()
        .map(|(i, src)| {
            let dst = dir.join(format!("boot-disk{i}.img"));
            run(Command::new("cp").arg("--sparse=always").arg(src).arg(&dst));
            dst
        })
        .collect()
}

fn config(a: &Assets, image: &Path, disks: &[PathBuf], cmdline: &str) -> Config {
    disks.iter().fold(Config::new(&a.kernel, image, cmdline), |c, d| c.disk(d))
}

/// Types the passphrase at the prompt (rdbreak's or cryptsetup's under dracut); returns when
/// Enter was sent.
fn answer(vm: &mut Vm, passphrase: &str) -> Instant {
    vm.expect_any(&["Please enter passphrase for disk", "Enter passphrase for "], 600);
    vm.expect(":", 30);
    // Let the prompt turn echo off before the first character.
    std::thread::sleep(std::time::Duration::from_millis(300));
    vm.send(passphrase.as_bytes());
    let enter = Instant::now();
    vm.send(b"\r");
    enter
}

pub fn measure_break(a: &Assets, tag: &str, image: &Path, l: &Layout, dir: &Path) -> Sample {
    let disks = copies(l, dir);
    let mut vm = Vm::boot(tag, &config(a, image, &disks, &format!("{} rd.break", l.cmdline)));
    let enter = l.passphrase.map(|p| answer(&mut vm, p));
    vm.expect("switch_root:/# ", 600);
    let enter_to_prompt = enter.map(|e| e.elapsed().as_secs_f64());
    // `quiet` keeps kmsg off the console: the stamps are read back with dmesg.
    vm.send_line("echo BENCH>/dev/kmsg");
    vm.expect("switch_root:/# ", 30);
    vm.send_line("dmesg");
    let log = vm.expect("switch_root:/# ", 120);
    vm.send_line("exit");
    vm.expect("RDBREAK-TEST-INIT pid=", 300);
    vm.wait_exit(120);
    let log = without_colours(&log);
    Sample {
        run_init: vm::kernel_time(&log, "Run /init as init process"),
        prompt: vm::kernel_time(&log, "] BENCH"),
        enter_to_prompt,
        plain_init: None,
    }
}

/// util-linux's dmesg colours its output on a terminal (`ESC[32m[    8.96] ESC[0mRun /init…`).
pub fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then one final byte in @..~.
            if chars.next() == Some('[') {
                for f in chars.by_ref() {
                    if ('@'..='~').contains(&f) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

pub fn measure_plain(a: &Assets, tag: &str, image: &Path, l: &Layout, dir: &Path) -> Option<f64> {
    let disks = copies(l, dir);
    let mut vm = Vm::boot(tag, &config(a, image, &disks, &l.cmdline));
    if let Some(p) = l.passphrase {
        answer(&mut vm, p);
    }
    vm.expect("RDBREAK-TEST-INIT pid=", 600);
    let rest = vm.expect("\n", 10);
    vm.wait_exit(120);
    rest.split("uptime=").nth(1).and_then(|u| u.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    /// A line of util-linux's dmesg on a terminal, as stock dracut's shell printed it.
    #[test]
    fn dmesg_colours_are_stripped_before_the_stamps_are_read() {
        let line = "\u{1b}[32m[    8.959936] \u{1b}[0mRun /init as init process\n\u{1b}[32m[   46.155194] \u{1b}[0m\u{1b}[1mBENCH\u{1b}[0m\n";
        let plain = super::without_colours(line);
        assert_eq!(rdbreak_qemu_tests::vm::kernel_time(&plain, "Run /init as init process"), Some(8.959936));
        assert_eq!(rdbreak_qemu_tests::vm::kernel_time(&plain, "] BENCH"), Some(46.155194));
    }
}
