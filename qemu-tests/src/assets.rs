//! What the VM tests boot, prepared once into a cache and shared by every test: a real Debian
//! kernel with its modules (`apt-get download`, `dpkg-deb -x`, `depmod`), the static binaries,
//! and initramfs images built by the real dracut with our module.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Assets {
    /// The workspace root.
    pub workspace: PathBuf,
    pub cache: PathBuf,
    pub kver: String,
    pub kernel: PathBuf,
    /// What the tests give `-kernel`: the same kernel as the ELF inside `kernel`, booted
    /// through its PVH entry (see [`uncompressed_kernel`]); `kernel` itself if it has none.
    pub boot_kernel: PathBuf,
    /// The extracted kernel package; its `lib/modules/<kver>` holds the modules.
    pub kernel_root: PathBuf,
    pub init: PathBuf,
    pub test_init: PathBuf,
    /// The `rdbreak` CLI (host build).
    pub cli: PathBuf,
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    if !out.status.success() {
        panic!(
            "{shown} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A cross-process lock: nextest runs every test in its own process.
pub fn locked<T>(cache: &Path, name: &str, f: impl FnOnce() -> T) -> T {
    std::fs::create_dir_all(cache).expect("create the cache directory");
    let lock = File::create(cache.join(format!(".{name}.lock"))).expect("create a lock file");
    lock.lock().expect("lock the cache");
    let r = f();
    let _ = lock.unlock();
    r
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// `depmod` with an empty configuration: the index it writes is the kernel tree's alone, not
/// shaped by this host's /etc/depmod.d (`search`, `override`, `exclude` lines).
fn depmod(cache: &Path) -> Command {
    let empty = cache.join("depmod.d");
    std::fs::create_dir_all(&empty).expect("create the empty depmod.d");
    let mut cmd = Command::new("depmod");
    cmd.arg("-C").arg(empty);
    cmd
}

/// The kernel package the Debian metapackage `linux-image-amd64` points at now, unless
/// `RDBREAK_KERNEL_PKG` names one.
fn kernel_package() -> String {
    if let Ok(p) = std::env::var("RDBREAK_KERNEL_PKG") {
        return p;
    }
    let deps = run(Command::new("apt-cache").args(["depends", "linux-image-amd64"]));
    deps.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-") && p.ends_with("-amd64"))
        .map(str::to_string)
        .expect("apt-cache depends linux-image-amd64 names no kernel: run apt-get update")
}

fn prepare_kernel(cache: &Path) -> (String, PathBuf, PathBuf) {
    let pkg = kernel_package();
    let kver = pkg.trim_start_matches("linux-image-").to_string();
    let dir = cache.join("kernel").join(&pkg);
    let root = dir.join("root");
    let stamp = dir.join(".ready");
    locked(cache, "kernel", || {
        if !stamp.exists() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("kernel dir");
            run(Command::new("apt-get").args(["download", &pkg]).current_dir(&dir));
            let deb = std::fs::read_dir(&dir)
                .expect("kernel dir")
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "deb"))
                .expect("apt-get download left no .deb");
            run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
            run(depmod(cache).arg("-b").arg(&root).arg(&kver));
            let _ = std::fs::remove_file(&deb);
            std::fs::write(&stamp, &kver).expect("stamp");
        }
    });
    let kernel = root.join("boot").join(format!("vmlinuz-{kver}"));
    (kver, kernel, root)
}

/// The kernel's ELF image, taken out of the bzImage once. Under TCG the kernel's own
/// decompressor spends about 5 s of every boot unpacking its 8 MB of xz; QEMU boots the
/// uncompressed ELF through its PVH entry at once. The kernel, its code and its command line
/// are the same; the GRUB scenarios still boot `vmlinuz` itself.
fn uncompressed_kernel(cache: &Path, kver: &str, vmlinuz: &Path, config: &Path) -> PathBuf {
    let pvh = std::fs::read_to_string(config).is_ok_and(|c| c.lines().any(|l| l == "CONFIG_PVH=y"));
    if !pvh {
        return vmlinuz.into();
    }
    let elf = cache.join("kernel").join(format!("vmlinux-{kver}"));
    locked(cache, "vmlinux", || {
        if elf.exists() {
            return;
        }
        let bz = std::fs::read(vmlinuz).expect("read vmlinuz");
        // The boot protocol (Documentation/arch/x86/boot.rst): setup_sects at 0x1f1, the
        // compressed payload's offset (from the protected-mode code) and length at 0x248/0x24c.
        let u32_at = |o: usize| u32::from_le_bytes(bz[o..o + 4].try_into().expect("4 bytes")) as usize;
        assert!(bz.len() > 0x250 && &bz[0x202..0x206] == b"HdrS", "{} is not a bzImage", vmlinuz.display());
        let start = (bz[0x1f1] as usize + 1) * 512 + u32_at(0x248);
        let payload = &bz[start..start + u32_at(0x24c)];
        assert!(payload.starts_with(b"\xfd7zXZ\0"), "the kernel's payload is not xz (Debian's); boot vmlinuz instead");
        let tmp = elf.with_extension("tmp");
        let mut xz = Command::new("xz")
            // The payload ends with the ELF's size (kbuild's size_append) after the xz stream.
            .args(["--decompress", "--stdout", "--single-stream"])
            .stdin(std::process::Stdio::piped())
            .stdout(File::create(&tmp).expect("create vmlinux"))
            .spawn()
            .expect("run xz (apt-get install xz-utils)");
        std::io::Write::write_all(&mut xz.stdin.take().expect("xz stdin"), payload).expect("feed xz");
        assert!(xz.wait().expect("wait for xz").success(), "xz could not unpack the kernel in {}", vmlinuz.display());
        std::fs::rename(&tmp, &elf).expect("rename vmlinux");
    });
    elf
}

/// Builds the static binaries the images need (a no-op when they are up to date).
fn build_binaries(ws: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            "x86_64-unknown-linux-musl",
            "-p",
            "rdbreak-init",
            "-p",
            "rdbreak-qemu-tests",
            "--bin",
            "rdbreak-init",
            "--bin",
            "rdbreak-test-init",
        ])
        .current_dir(ws));
    run(Command::new(&cargo).args(["build", "--release", "-p", "rdbreak", "--bin", "rdbreak"]).current_dir(ws));
}

fn cache_dir(ws: &Path) -> PathBuf {
    std::env::var_os("RDBREAK_CACHE").map_or_else(|| ws.join("target/qemu-cache"), PathBuf::from)
}

/// The test kernel's release and its `lib/modules/<release>` (downloaded once into the cache),
/// without the rest of [`get`] (no binaries built): for host tests of the module index.
pub fn kernel_modules_dir() -> (String, PathBuf) {
    let (kver, _, root) = prepare_kernel(&cache_dir(&workspace()));
    let dir = root.join("lib/modules").join(&kver);
    (kver, dir)
}

pub fn get() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let ws = workspace();
        let cache = cache_dir(&ws);
        let (kver, kernel, kernel_root) = prepare_kernel(&cache);
        let config = kernel_root.join("boot").join(format!("config-{kver}"));
        let boot_kernel = uncompressed_kernel(&cache, &kver, &kernel, &config);
        locked(&cache, "build", || build_binaries(&ws));
        let bin = ws.join("target/x86_64-unknown-linux-musl/release");
        Assets {
            cli: ws.join("target/release/rdbreak"),
            workspace: ws,
            cache,
            kver,
            kernel,
            boot_kernel,
            kernel_root,
            init: bin.join("rdbreak-init"),
            test_init: bin.join("rdbreak-test-init"),
        }
    })
}

/// The dracut modules left out of an image for base's shell init instead of systemd.
pub const OMIT_SYSTEMD: &str = "systemd systemd-initrd dracut-systemd systemd-journald systemd-sysusers systemd-tmpfiles systemd-ask-password systemd-sysctl systemd-modules-load";

/// How a dracut image differs from the default one (systemd's init on this host, taken over).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DracutVariant {
    /// base's init.sh as dracut's init instead of systemd.
    pub shell_init: bool,
    /// `rdbreak_mode="handoff"` in the dracut config.
    pub handoff_mode: bool,
    /// Compressed as dracut does by default (gzip here). Images that are only booted are made
    /// with `--no-compress`: the kernel's gunzip of the 138 MB generic image costs about 3 s of
    /// every boot under TCG, and compression is dracut's and the kernel's work, not rdbreak's.
    pub compressed: bool,
    /// With dracut's systemd, crypt and tpm2-tss modules added (systemd-cryptsetup, its TPM2
    /// token plugin and the TSS libraries): the image where stock unlocks a TPM2-bound root.
    /// dracut adds tpm2-tss only when it finds `tpm2` (Debian's tpm2-tools).
    pub tpm2: bool,
}

/// What of this host a generic dracut image depends on beyond its options: dracut adds its lvm,
/// mdraid, crypt, dm, btrfs, multipath and tpm2 modules only when it finds their programs here,
/// reads /etc/dracut.conf and /etc/dracut.conf.d, copies /lib/modprobe.d into every image and
/// follows the softdeps of every modprobe.d. Part of every dracut image's cache key, so that
/// installing lvm2, mdadm or cryptsetup (or changing the config) makes the images anew rather
/// than leaving the cache with what an earlier host had.
pub fn dracut_host_key() -> String {
    const PROGRAMS: &[&str] = &[
        "lvm",
        "mdadm",
        "cryptsetup",
        "dmsetup",
        "dmraid",
        "btrfs",
        "multipath",
        "kpartx",
        "tpm2",
        "/usr/lib/systemd/systemd-cryptsetup",
    ];
    let dirs = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
    let found = |p: &str| {
        if p.starts_with('/') {
            Path::new(p).exists()
        } else {
            dirs.iter().any(|d| Path::new(d).join(p).exists())
        }
    };
    let mut key: String = PROGRAMS.iter().map(|p| format!("{p}={} ", found(p))).collect();
    let mut confs = vec![PathBuf::from("/etc/dracut.conf")];
    for dir in ["/etc/dracut.conf.d", "/lib/modprobe.d", "/usr/lib/modprobe.d", "/etc/modprobe.d", "/run/modprobe.d"] {
        let mut dropins: Vec<PathBuf> =
            std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
        dropins.sort();
        confs.extend(dropins);
    }
    // What the files say, not their names or comments: the package test's commented-out
    // 90-rdbreak.conf, present while it runs, changes nothing dracut does.
    for c in confs {
        let text = std::fs::read_to_string(&c).unwrap_or_default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            key += line;
            key.push('\n');
        }
    }
    key
}

/// How the kernel modules in an image are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modules {
    /// As Debian ships them (uncompressed `.ko`).
    Plain,
    /// Recompressed as `.ko.zst`.
    Zstd,
    /// Recompressed as `.ko.xz` (with kbuild's check and dictionary size).
    Xz,
}

impl Assets {
    /// The directory (with `lib/modules/<kver>`) holding the modules in the wanted form.
    pub fn modules_root(&self, form: Modules) -> PathBuf {
        let (name, tool_args): (&str, &[&str]) = match form {
            Modules::Plain => return self.kernel_root.clone(),
            Modules::Zstd => ("zst", &["zstd", "-q", "--rm"]),
            // kbuild's check and dictionary; preset 0 rather than its default 6 takes 16 s of
            // two cores instead of 77 for the 4,000 modules, and the decoder meets the same
            // format (LZMA2 chunks, BCJ-free, CRC32).
            Modules::Xz => ("xz", &["xz", "-q", "--check=crc32", "--lzma2=preset=0,dict=1MiB"]),
        };
        let root = self.cache.join(format!("modules-{name}-{}", self.kver));
        let stamp = root.join(".ready");
        locked(&self.cache, &format!("modules-{name}"), || {
            if stamp.exists() {
                return;
            }
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(root.join("lib/modules")).expect("modules dir");
            run(Command::new("cp")
                .arg("-a")
                .arg(self.kernel_root.join("lib/modules").join(&self.kver))
                .arg(root.join("lib/modules")));
            let script =
                format!("find '{}' -name '*.ko' -print0 | xargs -0 -P2 -n 64 {}", root.display(), tool_args.join(" "));
            run(Command::new("sh").arg("-c").arg(script));
            run(depmod(&self.cache).arg("-b").arg(&root).arg(&self.kver));
            std::fs::write(&stamp, "").expect("stamp");
        });
        root
    }

    /// A dracut base directory that is the system's plus our module, so the host's
    /// /usr/lib/dracut is never modified.
    pub fn dracut_base(&self) -> PathBuf {
        // One per checkout: a shared cache must not build one worktree's images with another's
        // module.
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.workspace.hash(&mut h);
        let base = self.cache.join(format!("dracut-base-{:016x}", h.finish()));
        locked(&self.cache, "dracut-base", || {
            let ours = base.join("modules.d/99rdbreak");
            if std::fs::read_link(&ours).is_ok() {
                return;
            }
            let _ = std::fs::remove_dir_all(&base);
            std::fs::create_dir_all(base.join("modules.d")).expect("dracut base");
            let system = Path::new("/usr/lib/dracut");
            assert!(system.join("modules.d").is_dir(), "dracut is not installed (apt-get install dracut-core)");
            for e in std::fs::read_dir(system).expect("read /usr/lib/dracut").flatten() {
                if e.file_name() != "modules.d" {
                    std::os::unix::fs::symlink(e.path(), base.join(e.file_name())).expect("link");
                }
            }
            // An installed rdbreak package's module is left out: the tests use this checkout's.
            for e in std::fs::read_dir(system.join("modules.d"))
                .expect("modules.d")
                .flatten()
                .filter(|e| e.file_name() != "99rdbreak")
            {
                std::os::unix::fs::symlink(e.path(), base.join("modules.d").join(e.file_name())).expect("link");
            }
            std::os::unix::fs::symlink(self.workspace.join("dracut-module/99rdbreak"), &ours).expect("link our module");
        });
        base
    }

    /// An initramfs made by `dracut --no-hostonly -a rdbreak` (a generic image, as a distro would
    /// build it), cached by the init binary, the module script and the module form.
    pub fn dracut_image(&self, form: Modules) -> PathBuf {
        self.dracut_image_variant(form, DracutVariant::default())
    }

    /// The same with the variant's dracut options.
    pub fn dracut_image_variant(&self, form: Modules, variant: DracutVariant) -> PathBuf {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(&self.init).expect("rdbreak-init").hash(&mut h);
        for f in ["module-setup.sh", "drivers.txt"] {
            std::fs::read(self.workspace.join("dracut-module/99rdbreak").join(f))
                .expect("the dracut module")
                .hash(&mut h);
        }
        self.kver.hash(&mut h);
        dracut_host_key().hash(&mut h);
        let mut name = format!("{form:?}");
        if variant.shell_init {
            name += "-shell";
        }
        if variant.handoff_mode {
            name += "-handoff";
        }
        if variant.tpm2 {
            name += "-tpm2";
        }
        name += if variant.compressed { "-gz" } else { "-cpio" };
        let image = self.cache.join(format!("initrd/dracut-{name}-{:016x}.img", h.finish()));
        let modules = self.modules_root(form);
        let base = self.dracut_base();
        locked(&self.cache, "dracut", || {
            if image.exists() {
                return;
            }
            std::fs::create_dir_all(image.parent().expect("parent")).expect("initrd dir");
            let tmp = image.with_extension("tmp");
            let log = image.with_extension("log");
            let mut cmd = Command::new("dracut");
            cmd.args(["--no-hostonly", "--force", "--quiet", "-a", "rdbreak", "--kver", &self.kver]);
            if variant.shell_init {
                cmd.args(["--omit", OMIT_SYSTEMD]);
            }
            if !variant.compressed {
                cmd.arg("--no-compress");
            }
            if variant.tpm2 {
                cmd.args(["-a", "systemd crypt tpm2-tss"]);
            }
            if variant.handoff_mode {
                // The host's dracut.conf with the setting added: --conf replaces it.
                let conf = image.with_extension("conf");
                let host = std::fs::read_to_string("/etc/dracut.conf").unwrap_or_default();
                std::fs::write(&conf, format!("{host}\nrdbreak_mode=\"handoff\"\n")).expect("write dracut.conf");
                cmd.arg("--conf").arg(conf);
            }
            let out = cmd
                .arg("--kmoddir")
                .arg(modules.join("lib/modules").join(&self.kver))
                .arg(&tmp)
                .env("dracutbasedir", &base)
                .env("RDBREAK_INIT", &self.init)
                .output()
                .expect("run dracut");
            let _ = std::fs::write(&log, [out.stdout.as_slice(), out.stderr.as_slice()].concat());
            assert!(out.status.success(), "dracut failed, see {}", log.display());
            std::fs::rename(&tmp, &image).expect("rename image");
        });
        image
    }
}

impl Assets {
    /// An image made by `rdbreak build` (no dracut): the init, the default drivers with their
    /// closure, nothing else.
    pub fn rdbreak_build_image(&self) -> PathBuf {
        self.rdbreak_build_image_with(&[])
    }

    /// The same with more `rdbreak build` options (`--no-default-modules --modules …`).
    pub fn rdbreak_build_image_with(&self, options: &[&str]) -> PathBuf {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(&self.init).expect("rdbreak-init").hash(&mut h);
        std::fs::read(&self.cli).expect("rdbreak").hash(&mut h);
        options.hash(&mut h);
        let image = self.cache.join(format!("initrd/rdbreak-build-{:016x}.img", h.finish()));
        locked(&self.cache, "rdbreak-build", || {
            if !image.exists() {
                std::fs::create_dir_all(image.parent().expect("parent")).expect("initrd dir");
                run(Command::new(&self.cli)
                    .args(["build", "--kver", &self.kver, "--init"])
                    .arg(&self.init)
                    .arg("--kmoddir")
                    .arg(self.kernel_root.join("lib/modules").join(&self.kver))
                    .args(options)
                    .arg("-o")
                    .arg(&image));
            }
        });
        image
    }
}

impl Assets {
    /// A file in the cache made once by `make` (which writes the path it is given), for images
    /// that take a while and that several scenarios boot. `name` must carry the key of
    /// everything that goes into the file.
    pub fn cached_file(&self, name: &str, make: impl FnOnce(&Path)) -> PathBuf {
        let path = self.cache.join(name);
        locked(&self.cache, "cached-file", || {
            if !path.exists() {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("cache dir");
                let tmp = path.with_extension("tmp");
                let _ = std::fs::remove_file(&tmp);
                make(&tmp);
                std::fs::rename(&tmp, &path).expect("rename cached file");
            }
        });
        path
    }

    /// A stock image from Debian's dracut without rdbreak, generic (as a distro's fallback
    /// image), with or without dracut's systemd modules, compressed as dracut ships it or not.
    pub fn stock_dracut_image(&self, systemd: bool, compressed: bool) -> PathBuf {
        let init = if systemd { "systemd" } else { "shell" };
        let gz = if compressed { "-gz" } else { "-cpio" };
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        dracut_host_key().hash(&mut h);
        let image = self.cache.join(format!("initrd/stock-{init}{gz}-{}-{:016x}.img", self.kver, h.finish()));
        locked(&self.cache, "dracut", || {
            if image.exists() {
                return;
            }
            let mut cmd = Command::new("dracut");
            cmd.args(["--no-hostonly", "--force", "--quiet", "--kver", &self.kver, "--kmoddir"])
                .arg(self.kernel_root.join("lib/modules").join(&self.kver));
            if !compressed {
                // As for the images with our module (see `DracutVariant::compressed`).
                cmd.arg("--no-compress");
            }
            if systemd {
                cmd.args(["-a", "systemd"]);
            } else {
                cmd.args(["--omit", OMIT_SYSTEMD]);
            }
            run(cmd.arg(&image));
        });
        image
    }
}
