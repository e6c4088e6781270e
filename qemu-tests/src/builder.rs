//! The builder VM: disk images made by the real tools (lvm2, mdadm, cryptsetup, mkfs) inside a
//! guest, because this host's kernel has no device-mapper and no md. The guest is the test
//! kernel with a small initramfs: the tools from Debian packages (`apt-get download`,
//! `dpkg-deb -x`, never installed here) with their libraries, the kernel modules they need, and
//! a busybox `/init` script (a test helper, not the product) that runs a recipe on the disks
//! and powers off. Results are cached by a hash of the recipe, its input files and the tools.
//!
//! Usage: `builder::build(&Recipe::new("name", &[64, 64], "mdadm --create …"))` returns the
//! cached images (`/dev/vdb`, `/dev/vdc`, … in the guest); `build_copy` copies them for a test
//! that writes to them. `Recipe::files` puts a directory tree at `/input` in the guest.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::assets::{self, locked, run, Assets};
use crate::kernel_modules;
use crate::qemu::Config;
use crate::vm::Vm;

/// Debian packages the guest's tools come from (libraries the host may lack included; the C
/// library and other essentials come from the host, which is the same Debian release).
const PACKAGES: &[&str] = &[
    "busybox-static",
    "lvm2",
    "dmsetup",
    "libdevmapper1.02.1",
    "libdevmapper-event1.02.1",
    "libaio1",
    "mdadm",
    // loadkeys and the console keymaps, for images that load a keymap (not the builder's own).
    "kbd",
    "console-data",
    "cryptsetup-bin",
    "libcryptsetup12",
    "libargon2-1",
    "libjson-c5",
    "libpopt0",
    "libssl3",
    "xfsprogs",
    "libinih1",
    "liburcu8",
    "e2fsprogs",
    "libext2fs2",
    "libcom-err2",
    "fdisk",
    "libfdisk1",
    "libsmartcols1",
    "util-linux",
    "libedit2",
    "libbsd0",
    "libmd0",
];

/// The programs put in the guest's /sbin (with the packages' symlinks to them, such as
/// `pvcreate` → `lvm` and `mkfs.ext4` → `mke2fs`); busybox supplies the rest.
const PROGRAMS: &[&str] = &[
    "lvm",
    "dmsetup",
    "mdadm",
    "cryptsetup",
    "mkfs.xfs",
    "xfs_db",
    "mke2fs",
    "e2fsck",
    "tune2fs",
    "dumpe2fs",
    "debugfs",
    "sfdisk",
    "mkswap",
    "blkid",
    "wipefs",
];

/// Kernel modules the recipes may need (their dependencies come along).
const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "dm_mod",
    "dm_crypt",
    "dm_snapshot",
    "dm_mirror",
    "md_mod",
    "linear",
    "raid0",
    "raid1",
    "raid10",
    "raid456",
    "dm_thin_pool",
    "xfs",
    "ext4",
    "algif_skcipher",
    "algif_hash",
    "xts",
    "aesni_intel",
];

/// The guest's /init. The recipe runs with `set -e`; the verdict is the last console line.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /run /tmp /mnt /input
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/sbin:/bin
mkdir -p /run/lock/lvm /run/lvm /run/mdadm /run/cryptsetup /dev/mapper
while read -r ko; do insmod "$ko" 2>/dev/null || echo "rdbreak-builder: insmod $ko failed (already loaded?)"; done < /etc/modules.order
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 1; done
tar -xf /dev/vda -C /input
cd /tmp
echo "rdbreak-builder: running the recipe"
sh -e /recipe.sh
rc=$?
sync
echo "rdbreak-builder: recipe exited with $rc"
poweroff -f
"#;

/// lvm without udev or its daemons: it makes the /dev nodes itself.
const LVM_CONF: &str = "devices {\n obtain_device_list_from_udev = 0\n use_devicesfile = 0\n}\n\
activation {\n udev_sync = 0\n udev_rules = 0\n monitoring = 0\n}\n";

/// What to build: output disks of the given sizes, made by a shell script run in the guest
/// over `/dev/vdb`, `/dev/vdc`, … (`/dev/vda` carries the input files).
#[derive(Clone, Debug)]
pub struct Recipe {
    /// For the cache directory and the log.
    pub name: String,
    pub disks_mib: Vec<u64>,
    pub script: String,
    /// A directory tree the script finds at `/input`.
    pub files: Option<PathBuf>,
    /// The guest's memory, when the recipe needs more than the usual (an Argon2 keyslot of
    /// cryptsetup's default 1 GiB cost is made only with twice that: cryptsetup caps the cost
    /// at half the RAM).
    pub mem_mib: Option<u32>,
}

impl Recipe {
    pub fn new(name: &str, disks_mib: &[u64], script: &str) -> Recipe {
        Recipe { name: name.into(), disks_mib: disks_mib.to_vec(), script: script.into(), files: None, mem_mib: None }
    }
    pub fn mem_mib(mut self, mem: u32) -> Recipe {
        self.mem_mib = Some(mem);
        self
    }
    pub fn files(mut self, dir: &Path) -> Recipe {
        self.files = Some(dir.into());
        self
    }
}

/// The extracted packages and what the guest needs from them.
struct Tools {
    root: PathBuf,
    /// The .deb file names (they carry the versions): part of every cache key.
    debs: Vec<String>,
}

fn tools(a: &Assets) -> Tools {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    PACKAGES.hash(&mut h);
    let dir = a.cache.join(format!("builder/tools-{:016x}", h.finish()));
    let stamp = dir.join(".ready");
    locked(&a.cache, "builder-tools", || {
        if stamp.exists() {
            return;
        }
        let _ = std::fs::remove_dir_all(&dir);
        let debs = dir.join("debs");
        std::fs::create_dir_all(&debs).expect("create the builder's package directory");
        run(Command::new("apt-get").arg("download").args(PACKAGES).current_dir(&debs));
        for deb in list(&debs) {
            run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir.join("root")));
        }
        std::fs::write(&stamp, "").expect("stamp");
    });
    let mut debs: Vec<String> =
        list(&dir.join("debs")).iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into()).collect();
    debs.sort();
    Tools { root: dir.join("root"), debs }
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

const BIN_DIRS: &[&str] = &["sbin", "usr/sbin", "bin", "usr/bin"];

/// The libraries a program loads, as (path on this machine, path in the guest): `ldd` with the
/// extracted libraries searched first.
fn libraries(root: &Path, program: &Path) -> Vec<(PathBuf, PathBuf)> {
    let libpath =
        ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"].map(|d| root.join(d).display().to_string()).join(":");
    let out = Command::new("ldd").arg(program).env("LD_LIBRARY_PATH", libpath).output().expect("run ldd");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Vec::new();
    }
    assert!(!text.contains("not found"), "{} needs libraries found nowhere:\n{text}", program.display());
    let mut libs = Vec::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next().filter(|p| p.starts_with('/')),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else { continue };
        let host = PathBuf::from(path);
        let guest = host.strip_prefix(root).map_or_else(|_| host.clone(), |p| Path::new("/").join(p));
        libs.push((host, guest));
    }
    libs
}

/// The builder's `programs` (from the Debian packages) with every library they load, as `rdbreak
/// build --file HOST:GUEST` arguments: lvm2's own tool in an image, as dracut's lvm module puts it.
pub fn tool_files(programs: &[&str]) -> Vec<String> {
    let t = tools(assets::get());
    let mut out = BTreeSet::new();
    for name in programs {
        let dirs = BIN_DIRS.iter().map(|d| (d, t.root.join(d).join(name)));
        let (dir, src) =
            dirs.into_iter().find(|(_, p)| p.is_file()).unwrap_or_else(|| panic!("no {name} in the packages"));
        out.insert(format!("{}:/{dir}/{name}", src.display()));
        for (host, guest) in libraries(&t.root, &src) {
            out.insert(format!("{}:{}", host.display(), guest.display()));
        }
    }
    out.into_iter().collect()
}

/// `--file HOST:GUEST` arguments for every file under `dirs` (paths in the packages' tree, such
/// as `usr/share/keymaps/include`), each at the same path in the guest.
pub fn package_files(dirs: &[&str]) -> Vec<String> {
    let t = tools(assets::get());
    let mut out = Vec::new();
    let mut todo: Vec<PathBuf> = dirs.iter().map(|d| t.root.join(d)).collect();
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(list(&p));
        } else if p.is_file() {
            let guest = p.strip_prefix(&t.root).expect("under the packages' tree");
            out.push(format!("{}:/{}", p.display(), guest.display()));
        }
    }
    assert!(!out.is_empty(), "nothing under {dirs:?} in the builder's packages");
    out.sort();
    out
}

fn copy_into(tree: &Path, src: &Path, guest: &Path) {
    let dst = tree.join(guest.strip_prefix("/").unwrap_or(guest));
    std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir in the builder image");
    std::fs::copy(src, &dst).unwrap_or_else(|e| panic!("copy {} to {}: {e}", src.display(), dst.display()));
}

/// The guest's initramfs, cached by the tools and the kernel.
fn initramfs(a: &Assets, t: &Tools) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&t.debs, &a.kver, INIT, LVM_CONF, PROGRAMS, MODULES).hash(&mut h);
    let image = a.cache.join(format!("builder/initrd-{:016x}.cpio", h.finish()));
    locked(&a.cache, "builder-initrd", || {
        if image.exists() {
            return;
        }
        let tree = image.with_extension("tree");
        let _ = std::fs::remove_dir_all(&tree);
        let mut wanted = BTreeSet::new();
        for name in PROGRAMS {
            let src = BIN_DIRS
                .iter()
                .map(|d| t.root.join(d).join(name))
                .find(|p| p.is_file())
                .unwrap_or_else(|| panic!("no {name} in the builder's packages ({})", PACKAGES.join(" ")));
            copy_into(&tree, &src, &Path::new("/sbin").join(name));
            for (host, guest) in libraries(&t.root, &src) {
                wanted.insert((host, guest));
            }
            // The packages' aliases of it.
            for d in BIN_DIRS {
                for link in std::fs::read_dir(t.root.join(d)).into_iter().flatten().flatten() {
                    let target = std::fs::read_link(link.path()).ok();
                    if target.is_some_and(|t| t.file_name().is_some_and(|f| f == *name)) {
                        let dst = tree.join("sbin").join(link.file_name());
                        let _ = std::os::unix::fs::symlink(name, dst);
                    }
                }
            }
        }
        copy_into(&tree, &t.root.join("bin/busybox"), Path::new("/bin/busybox"));
        // glibc loads libgcc_s itself when a thread is cancelled (lvm, cryptsetup).
        wanted.insert((
            PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
            "/lib/x86_64-linux-gnu/libgcc_s.so.1".into(),
        ));
        for (host, guest) in &wanted {
            copy_into(&tree, host, guest);
        }
        // Modules in load order, dependencies first, from the test kernel's own tree.
        let modules_dir = a.kernel_root.join("lib/modules").join(&a.kver);
        let mut order: Vec<String> = Vec::new();
        for ko in kernel_modules::closure(&modules_dir, MODULES) {
            let guest = Path::new("/").join(ko.strip_prefix(&a.kernel_root).expect("a module of the kernel tree"));
            copy_into(&tree, &ko, &guest);
            order.push(guest.display().to_string());
        }
        let write = |path: &str, text: &str, mode: u32| {
            let p = tree.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, text).expect("write into the builder image");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        write("etc/modules.order", &(order.join("\n") + "\n"), 0o644);
        write("etc/lvm/lvm.conf", LVM_CONF, 0o644);
        write("init", INIT, 0o755);
        let tmp = image.with_extension("tmp");
        run(Command::new("sh")
            .arg("-c")
            .arg("find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 > \"$0\"")
            .arg(&tmp)
            .current_dir(&tree));
        std::fs::rename(&tmp, &image).expect("rename the builder image");
        let _ = std::fs::remove_dir_all(&tree);
    });
    image
}

/// Hashes a directory tree by content (names, modes, bytes, link targets), not by mtime.
fn hash_tree(dir: &Path, h: &mut impl Hasher) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read the input tree").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let meta = std::fs::symlink_metadata(e.path()).expect("stat");
        (e.file_name(), meta.permissions().mode()).hash(h);
        if meta.file_type().is_symlink() {
            std::fs::read_link(e.path()).expect("readlink").hash(h);
        } else if meta.is_dir() {
            hash_tree(&e.path(), h);
        } else {
            std::fs::read(e.path()).expect("read an input file").hash(h);
        }
    }
}

/// Builds (or finds in the cache) the recipe's images. They are shared: copy them
/// (`build_copy`) before writing to them.
pub fn build(recipe: &Recipe) -> Vec<PathBuf> {
    let a = assets::get();
    let t = tools(a);
    let initrd = initramfs(a, &t);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&t.debs, &a.kver, INIT, LVM_CONF, &recipe.script, &recipe.disks_mib).hash(&mut h);
    if let Some(files) = &recipe.files {
        hash_tree(files, &mut h);
    }
    // Only when set: the recipes that never set it keep their cached images.
    if let Some(mem) = recipe.mem_mib {
        mem.hash(&mut h);
    }
    let dir = a.cache.join(format!("builder/{}-{:016x}", recipe.name, h.finish()));
    let disks: Vec<PathBuf> = (0..recipe.disks_mib.len()).map(|i| dir.join(format!("disk{i}.img"))).collect();
    locked(&a.cache, &format!("builder-{}", recipe.name), || {
        if dir.join(".ready").exists() {
            return;
        }
        let tmp = dir.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).expect("create the build directory");
        let input = tmp.join("input.tar");
        let empty = tmp.join("empty");
        std::fs::create_dir_all(&empty).expect("mkdir");
        run(Command::new("tar")
            .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf"])
            .arg(&input)
            .arg("-C")
            .arg(recipe.files.as_deref().unwrap_or(&empty))
            .arg("."));
        let mut cfg = Config::new(&a.boot_kernel, &initrd, "quiet").disk(&input);
        if let Some(mem) = recipe.mem_mib {
            cfg.mem_mib = mem;
        }
        for (i, mib) in recipe.disks_mib.iter().enumerate() {
            let p = tmp.join(format!("disk{i}.img"));
            std::fs::File::create(&p).and_then(|f| f.set_len(mib << 20)).expect("create an output disk");
            cfg = cfg.disk(&p);
        }
        // The recipe travels inside the initramfs: a second cpio appended to the first.
        let recipe_tree = tmp.join("recipe");
        std::fs::create_dir_all(&recipe_tree).expect("mkdir");
        std::fs::write(recipe_tree.join("recipe.sh"), &recipe.script).expect("write the recipe");
        let both = tmp.join("initrd.cpio");
        std::fs::copy(&initrd, &both).expect("copy the builder initrd");
        run(Command::new("sh")
            .arg("-c")
            .arg("echo recipe.sh | cpio -o -H newc --quiet -R 0:0 >> \"$0\"")
            .arg(&both)
            .current_dir(&recipe_tree));
        cfg.initrd = Some(both.clone());
        let mut vm = Vm::boot(&format!("builder-{}", recipe.name), &cfg);
        let transcript = vm.wait_exit(900);
        let _ = std::fs::write(tmp.join("build.log"), &transcript);
        assert!(
            transcript.contains("rdbreak-builder: recipe exited with 0"),
            "the builder recipe {} failed; see {}:\n{}",
            recipe.name,
            tmp.join("build.log").display(),
            tail(&transcript)
        );
        for p in [&input, &both] {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir_all(&recipe_tree);
        let _ = std::fs::remove_dir_all(&empty);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir).expect("move the built images into the cache");
        std::fs::write(dir.join(".ready"), "").expect("stamp");
    });
    disks
}

fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(4000);
    (start..s.len()).find(|&i| s.is_char_boundary(i)).map_or("", |i| &s[i..])
}

/// `build`, then sparse copies of the images in `dir` for a test that writes to them.
pub fn build_copy(recipe: &Recipe, dir: &Path) -> Vec<PathBuf> {
    build(recipe)
        .iter()
        .enumerate()
        .map(|(i, src)| {
            let dst = dir.join(format!("{}-{i}.img", recipe.name));
            run(Command::new("cp").arg("--sparse=always").arg(src).arg(&dst));
            dst
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guest's initramfs (no VM needed): every program with its libraries and the modules.
    #[test]
    fn the_guest_image_holds_the_tools() {
        let a = assets::get();
        let image = initramfs(a, &tools(a));
        let listing =
            run(Command::new("cpio").args(["-t", "--quiet"]).stdin(std::fs::File::open(&image).expect("open")));
        let names: BTreeSet<&str> = listing.lines().map(|l| l.trim_start_matches("./")).collect();
        for want in [
            "init",
            "bin/busybox",
            "sbin/lvm",
            "sbin/pvcreate",
            "sbin/mdadm",
            "sbin/mkfs.ext4",
            "sbin/mkfs.xfs",
            "sbin/cryptsetup",
            "sbin/sfdisk",
            "lib/x86_64-linux-gnu/libdevmapper.so.1.02.1",
            "lib/x86_64-linux-gnu/libc.so.6",
            "lib64/ld-linux-x86-64.so.2",
            "etc/lvm/lvm.conf",
        ] {
            assert!(names.contains(want), "{want} in the builder image");
        }
        for m in ["dm-mod.ko", "raid456.ko", "raid1.ko", "xfs.ko", "virtio_blk.ko", "md-mod.ko"] {
            assert!(names.iter().any(|n| n.ends_with(m)), "{m} in the builder image");
        }
        let order = names.iter().filter(|n| n.ends_with(".ko")).count();
        assert!(order >= MODULES.len(), "modules with their dependencies");
    }
}
