//! The benchmark's storage roots, the tests' own layouts (`layouts`): the seed's CentOS 7 LVM
//! disk, the MD RAID1 root and LVM on LUKS (with its keyslot at a fixed Argon2id cost, [`LUKS_KDF`]),
//! each booted through `Scenario` by stock dracut (base's shell init) and by the same image with
//! `-a rdbreak`. Stock dracut needs its lvm, mdraid and crypt modules, which it only adds when
//! lvm2, mdadm and cryptsetup are installed: both images are made by the real dracut in a
//! private mount namespace where Debian's packages are overlaid on /usr (`unshare -m`,
//! overlayfs), so they hold the same whether or not this host has them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rdbreak_qemu_tests::assets::{locked, run, Assets, OMIT_SYSTEMD};
use rdbreak_qemu_tests::layouts::{self, luks, md, seed};
use rdbreak_qemu_tests::{vm, Disk, Initrd, Interface, Scenario, Vm};

/// The packages dracut's storage modules need, overlaid whether or not this host has them (their
/// other libraries, libcryptsetup12, libdevmapper, libaio, libpopt, come with dmsetup and dracut).
const PACKAGES: &[&str] = &["lvm2", "libdevmapper-event1.02.1", "mdadm", "cryptsetup-bin"];

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
    (PACKAGES, &a.kver, rdbreak_qemu_tests::assets::dracut_host_key()).hash(&mut h);
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
    /// Blank disks on a virtio-scsi controller, attached after `disks` (made fresh per boot,
    /// sparse): disks that hold nothing the root needs.
    pub scsi: usize,
}

/// The seed's disk (`layouts::seed_lvm`, made in `dir`).
fn seed(dir: &Path) -> Layout {
    let (disk, _) = layouts::seed_lvm(dir, layouts::seed_boot());
    Layout {
        name: "CentOS 7 LVM (seed)",
        disks: vec![disk],
        cmdline: seed::CMDLINE.into(),
        passphrase: None,
        plain: true,
        scsi: 0,
    }
}

/// The tests' RAID1 root (`layouts::raid1`): 1.2 superblocks on two whole disks, ext4.
fn raid1(dir: &Path) -> Layout {
    Layout {
        name: "MD RAID1 (1.2, two disks)",
        disks: layouts::raid1().build(dir),
        cmdline: format!("root=UUID={} ro rd.md.uuid={}", md::ROOT_UUID, md::ARRAY),
        passphrase: None,
        plain: true,
        scsi: 0,
    }
}

/// The tests' LVM on LUKS2 (`layouts::lvm_on_luks`) with the keyslot at [`LUKS_KDF`]: VG
/// `vgubuntu`, LV `root` (ext4).
fn lvm_on_luks(dir: &Path) -> Layout {
    Layout {
        name: "LVM on LUKS2",
        disks: layouts::lvm_on_luks(LUKS_KDF).build(dir),
        cmdline: format!("root=/dev/mapper/vgubuntu-root ro rd.luks.uuid={} rd.lvm.lv=vgubuntu/root", luks::LUKS_UUID),
        passphrase: Some(luks::PASSPHRASE),
        plain: false,
        scsi: 0,
    }
}

/// Every storage layout (the builder VM makes the MD and LUKS disks on first use).
pub fn layouts(dir: &Path) -> Vec<Layout> {
    vec![seed(dir), raid1(dir), lvm_on_luks(dir)]
}

#[derive(Default, Clone)]
pub struct Sample {
    pub run_init: Option<f64>,
    pub prompt: Option<f64>,
    /// Host seconds from the passphrase's Enter to the break prompt.
    pub enter_to_prompt: Option<f64>,
    pub plain_init: Option<f64>,
}

/// A scenario booting `image` on fresh copies of the layout's disks (in its own directory);
/// `icount`: [`Scenario::instruction_counted`].
fn scenario(tag: &str, image: &Path, l: &Layout, cmdline: &str, icount: bool) -> Scenario {
    let s = Scenario::new(tag).initrd(Initrd::File(image.into())).append(cmdline).instruction_counted(icount);
    let copies: Vec<PathBuf> = l
        .disks
        .iter()
        .enumerate()
        .map(|(i, src)| {
            let dst = s.dir().join(format!("boot-disk{i}.img"));
            run(Command::new("cp").arg("--sparse=always").arg(src).arg(&dst));
            dst
        })
        .collect();
    let s = copies.iter().fold(s, |s, d| s.disk(Disk::virtio(d)));
    let blanks = layouts::blank_disks(s.dir(), l.scsi, 8);
    blanks.iter().fold(s, |s, d| s.disk(Disk::virtio(d).on(Interface::Scsi)))
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

pub fn measure_break(tag: &str, image: &Path, l: &Layout, icount: bool) -> Sample {
    let mut vm = scenario(tag, image, l, &format!("{} rd.break", l.cmdline), icount).boot();
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

pub fn measure_plain(tag: &str, image: &Path, l: &Layout) -> Option<f64> {
    let mut vm = scenario(tag, image, l, &l.cmdline, false).boot();
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
