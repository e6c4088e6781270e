//! Debian 13 (trixie) for the VM scenarios: today's dracut (dracut-ng 106), kernel 6.12 and
//! systemd 257. A trixie tree is made once with `debootstrap` (dracut included, so the kernel
//! installed after it needs no initramfs-tools); `dracut -a rdbreak` runs inside it, with the
//! tree's own bash, systemd and modules; and the tree itself is the real Debian 13 root the
//! scenarios boot into.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::assets::{self, locked, run};

/// What the tree is made of; part of its cache key.
const SUITE: &str = "trixie";
const INCLUDE: &str = "systemd,systemd-sysv,dracut,zstd,xz-utils,e2fsprogs,passwd,login,kmod,util-linux,bash";
const MIRROR: &str = "http://deb.debian.org/debian";

pub struct Trixie {
    /// The tree: a Debian 13 system with its kernel, dracut and systemd.
    pub root: PathBuf,
    pub kver: String,
    /// The kernel as installed (`/boot/vmlinuz-<kver>`).
    pub kernel: PathBuf,
    cache: PathBuf,
}

/// Runs `script` with `sh` chrooted into `root`, /proc, /sys and /dev mounted in a private mount
/// namespace (gone with the command, whatever happens to it).
fn in_chroot(root: &Path, script: &str) -> String {
    let r = root.display();
    let setup = format!(
        "mount -t proc proc {r}/proc && mount -t sysfs sysfs {r}/sys && mount --rbind /dev {r}/dev && exec chroot {r} /bin/sh -ec \"$0\""
    );
    run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--fork", "sh", "-ec", &setup, script])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        // The kernel's postinst would run dracut for its own image: not needed here.
        .env("INITRD", "No"))
}

/// The Debian 13 tree, made once per cache.
pub fn get() -> &'static Trixie {
    static TRIXIE: OnceLock<Trixie> = OnceLock::new();
    TRIXIE.get_or_init(|| {
        let a = assets::get();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (SUITE, INCLUDE, MIRROR).hash(&mut h);
        let dir = a.cache.join(format!("trixie-{:016x}", h.finish()));
        let root = dir.join("root");
        let stamp = dir.join(".ready");
        locked(&a.cache, "trixie", || {
            if stamp.exists() {
                return;
            }
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create the trixie directory");
            run(Command::new("debootstrap")
                .args(["--variant=minbase", &format!("--include={INCLUDE}"), SUITE])
                .arg(&root)
                .arg(MIRROR));
            in_chroot(
                &root,
                "apt-get install -y -qq --no-install-recommends linux-image-amd64 >/dev/null; apt-get clean; \
                 echo 'root:Trixie-Before-2026' | chpasswd; echo rdbreak-trixie > /etc/hostname",
            );
            std::fs::write(&stamp, "").expect("stamp");
        });
        let kver = std::fs::read_dir(root.join("usr/lib/modules"))
            .expect("the tree's modules")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .max()
            .expect("a kernel in the tree");
        let kernel = root.join(format!("boot/vmlinuz-{kver}"));
        Trixie { root, kver, kernel, cache: dir }
    })
}

impl Trixie {
    /// The dracut version inside the tree (`dracut --version`), for the record.
    pub fn dracut_version(&self) -> String {
        in_chroot(&self.root, "dracut --version").trim().to_string()
    }

    /// An image made by the tree's own dracut with rdbreak added (`dracut --no-hostonly -a
    /// rdbreak`, uncompressed: compression is dracut's and the kernel's work, not rdbreak's),
    /// cached by the init and the module.
    pub fn rdbreak_image(&self) -> PathBuf {
        let a = assets::get();
        let module = a.workspace.join("dracut-module/99rdbreak");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(&a.init).expect("rdbreak-init").hash(&mut h);
        for f in ["module-setup.sh", "drivers.txt"] {
            std::fs::read(module.join(f)).expect("the dracut module").hash(&mut h);
        }
        let image = self.cache.join(format!("dracut-rdbreak-{:016x}.img", h.finish()));
        locked(&a.cache, "trixie", || {
            if image.exists() {
                return;
            }
            // Installed in the tree as install.sh would: the module and the init.
            let dest = self.root.join("usr/lib/dracut/modules.d/99rdbreak");
            let _ = std::fs::remove_dir_all(&dest);
            std::fs::create_dir_all(&dest).expect("module dir");
            for e in std::fs::read_dir(&module).expect("the dracut module").flatten() {
                std::fs::copy(e.path(), dest.join(e.file_name())).expect("copy the module");
            }
            let lib = self.root.join("usr/lib/rdbreak");
            std::fs::create_dir_all(&lib).expect("init dir");
            std::fs::copy(&a.init, lib.join("rdbreak-init")).expect("copy the init");
            let log = in_chroot(
                &self.root,
                &format!(
                    "dracut --no-hostonly --force --no-compress -a rdbreak --kver {} /tmp/rdbreak.img 2>&1",
                    self.kver
                ),
            );
            let _ = std::fs::write(image.with_extension("log"), log);
            std::fs::rename(self.root.join("tmp/rdbreak.img"), &image).expect("move the image out of the tree");
        });
        image
    }

    /// The tree as an ext4 root disk (made once), copied to `dir` for one scenario to change.
    /// Its filesystem UUID is `uuid`.
    pub fn root_disk(&self, dir: &Path, uuid: &str) -> PathBuf {
        let a = assets::get();
        let pristine = self.cache.join(format!("root-{uuid}.ext4"));
        locked(&a.cache, "trixie", || {
            if pristine.exists() {
                return;
            }
            let tmp = pristine.with_extension("tmp");
            let _ = std::fs::remove_file(&tmp);
            run(Command::new("mkfs.ext4")
                .args(["-q", "-F", "-L", "trixie", "-U", uuid, "-E", "root_owner=0:0", "-d"])
                .arg(&self.root)
                .arg(&tmp)
                .arg("3G"));
            std::fs::rename(&tmp, &pristine).expect("rename the root image");
        });
        let disk = dir.join("trixie-root.ext4");
        run(Command::new("cp").arg("--sparse=always").arg(&pristine).arg(&disk));
        disk
    }
}
