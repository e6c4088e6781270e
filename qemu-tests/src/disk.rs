//! Root filesystems and disks for the VM tests, built without loop mounts: a directory tree,
//! `mkfs.* -d/--rootdir` (a protofile for xfs), and `sfdisk` plus `dd` for partitioned disks.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::assets::run;

/// A directory tree that becomes a root filesystem.
pub struct Tree {
    pub dir: PathBuf,
}

impl Tree {
    /// The usual layout with the test init as `/sbin/init`.
    pub fn standard(dir: PathBuf, test_init: &Path) -> Tree {
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["dev", "proc", "sys", "run", "etc", "sbin", "tmp", "root"] {
            std::fs::create_dir_all(dir.join(d)).expect("create root tree");
        }
        let t = Tree { dir };
        t.file("sbin/init", &std::fs::read(test_init).expect("test init"), 0o755);
        t.file("etc/fstab", b"# empty: the test root needs nothing mounted\n", 0o644);
        // systemd's switch-root refuses a root without os-release, as for any real system.
        t.file("etc/os-release", b"NAME=\"rdbreak test root\"\nID=rdbreak-test\n", 0o644);
        t
    }

    pub fn file(&self, path: &str, data: &[u8], mode: u32) {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data).expect("write file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    pub fn symlink(&self, path: &str, target: &str) {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(target, p).expect("symlink");
    }
}

pub struct FsSpec<'a> {
    pub fstype: &'a str,
    pub uuid: &'a str,
    pub label: &'a str,
    pub size_mib: u64,
}

/// xfs of xfsprogs 6.1 has no `-d DIR`: describe the tree in a protofile instead.
fn xfs_protofile(dir: &Path) -> String {
    fn walk(dir: &Path, depth: usize, out: &mut String) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read tree").flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().to_string();
            let meta = std::fs::symlink_metadata(e.path()).expect("stat");
            let mode = meta.permissions().mode() & 0o7777;
            let pad = " ".repeat(depth + 1);
            if meta.file_type().is_symlink() {
                let t = std::fs::read_link(e.path()).expect("readlink");
                out.push_str(&format!("{pad}{name} l--777 0 0 {}\n", t.display()));
            } else if meta.is_dir() {
                out.push_str(&format!("{pad}{name} d--{mode:03o} 0 0\n"));
                walk(&e.path(), depth + 1, out);
                out.push_str(&format!("{pad}$\n"));
            } else {
                out.push_str(&format!("{pad}{name} ---{mode:03o} 0 0 {}\n", e.path().display()));
            }
        }
    }
    let mut s = String::from("/dev/null\n0 0\nd--755 0 0\n");
    walk(dir, 0, &mut s);
    s.push_str("$\n");
    s
}

/// Makes a filesystem image file holding `tree`.
pub fn make_fs(tree: &Tree, spec: &FsSpec<'_>, image: &Path) {
    let _ = std::fs::remove_file(image);
    let f = std::fs::File::create(image).expect("create image");
    f.set_len(spec.size_mib << 20).expect("size image");
    drop(f);
    match spec.fstype {
        "ext4" | "ext3" | "ext2" => {
            run(Command::new(format!("mkfs.{}", spec.fstype))
                .args(["-q", "-F", "-U", spec.uuid, "-L", spec.label, "-d"])
                .arg(&tree.dir)
                .arg(image));
        }
        "xfs" => {
            let proto = image.with_extension("proto");
            std::fs::write(&proto, xfs_protofile(&tree.dir)).expect("protofile");
            run(Command::new("mkfs.xfs")
                .args(["-q", "-f", "-m", &format!("uuid={}", spec.uuid), "-L", spec.label, "-p"])
                .arg(&proto)
                .arg(image));
        }
        "btrfs" => {
            run(Command::new("mkfs.btrfs")
                .args(["-q", "-f", "-U", spec.uuid, "-L", spec.label, "--rootdir"])
                .arg(&tree.dir)
                .arg(image));
        }
        other => panic!("no image builder for {other}"),
    }
}

pub struct Part<'a> {
    pub image: &'a Path,
    pub partuuid: &'a str,
    pub partlabel: &'a str,
}

/// A GPT disk with one partition per filesystem image, each starting 1 MiB aligned.
pub fn gpt_disk(parts: &[Part<'_>], disk: &Path) {
    let mut script = String::from("label: gpt\n");
    let mut start = 2048u64;
    let mut layout = Vec::new();
    for p in parts {
        let sectors = std::fs::metadata(p.image).expect("partition image").len().div_ceil(512);
        script.push_str(&format!(
            "start={start}, size={sectors}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid={}, name=\"{}\"\n",
            p.partuuid, p.partlabel
        ));
        layout.push((start, p.image));
        start += sectors.div_ceil(2048) * 2048;
    }
    let total = (start + 2048 + 34) * 512;
    let _ = std::fs::remove_file(disk);
    std::fs::File::create(disk).expect("disk").set_len(total).expect("size disk");
    let mut child = Command::new("sfdisk").arg("-q").arg(disk).stdin(Stdio::piped()).spawn().expect("run sfdisk");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), script.as_bytes()).expect("sfdisk script");
    assert!(child.wait().expect("sfdisk").success(), "sfdisk failed for {script}");
    for (start, image) in layout {
        // Partitions start on MiB boundaries: copy by the MiB (by the sector is ten times slower).
        run(Command::new("dd").arg(format!("if={}", image.display())).arg(format!("of={}", disk.display())).args([
            "bs=1M",
            &format!("seek={}", start / 2048),
            "conv=notrunc,sparse",
            "status=none",
        ]));
    }
}

/// Copies the root partition of a [`bios_grub_disk`] (at sector 2048) to `out`, where debugfs
/// can read it.
pub fn bios_grub_partition(disk: &Path, out: &Path) {
    run(Command::new("dd").arg(format!("if={}", disk.display())).arg(format!("of={}", out.display())).args([
        "bs=1M",
        "skip=1",
        "status=none",
    ]));
}

/// Whether an ext4 image is clean (unmounted or remounted read-only before the machine went
/// down): `e2fsck -n -f` finds nothing to do.
pub fn ext4_clean(image: &Path) -> Result<(), String> {
    let out = Command::new("e2fsck").args(["-n", "-f"]).arg(image).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// Replays the journal of an image the guest left mounted (as the next boot would), so that
/// debugfs reads what the next boot will see.
pub fn ext4_settle(image: &Path) {
    let _ = Command::new("e2fsck").args(["-p", "-f"]).arg(image).output();
}

/// Reads a file from an ext2/3/4 image with debugfs (no mount needed).
pub fn ext4_read(image: &Path, path: &str) -> Option<String> {
    let out =
        Command::new("debugfs").arg("-R").arg(format!("cat {path}")).arg(image).stderr(Stdio::null()).output().ok()?;
    let stat = Command::new("debugfs").arg("-R").arg(format!("stat {path}")).arg(image).output().ok()?;
    if String::from_utf8_lossy(&stat.stderr).contains("File not found") {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).to_string())
}

/// The libraries a host program needs, as `ldd` lists them (the seed's way of filling a chroot).
fn ldd(path: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(path).output().expect("run ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let p = l.split("=>").nth(1).unwrap_or(l).split_whitespace().next()?;
            p.starts_with('/').then(|| PathBuf::from(p))
        })
        .collect()
}

impl Tree {
    /// Copies a host file to the same path in the tree, with the libraries it links (and, for a
    /// link such as /bin/sh, its target too).
    pub fn host_file(&self, path: &str) {
        let src = Path::new(path);
        let meta = std::fs::symlink_metadata(src).unwrap_or_else(|e| panic!("host file {path}: {e}"));
        let dst = self.dir.join(path.trim_start_matches('/'));
        if dst.exists() || std::fs::symlink_metadata(&dst).is_ok() {
            return;
        }
        std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(src).expect("readlink");
            std::os::unix::fs::symlink(&target, &dst).expect("symlink");
            let resolved = src.parent().expect("parent").join(&target);
            self.host_file(&resolved.display().to_string());
            return;
        }
        std::fs::copy(src, &dst).unwrap_or_else(|e| panic!("copy {path}: {e}"));
        if meta.permissions().mode() & 0o111 != 0 || path.contains(".so") {
            for lib in ldd(src) {
                self.host_file(&lib.display().to_string());
            }
        }
    }

    /// A root with a real shell, coreutils and `passwd` with PAM, copied from this host, and a
    /// root password: enough for the rd.break password-reset walk-through.
    pub fn recovery(dir: PathBuf, test_init: &Path) -> Tree {
        let t = Tree::standard(dir, test_init);
        // usr-merged like Debian: /bin, /sbin and /lib point into /usr.
        let _ = std::fs::remove_dir_all(t.dir.join("sbin"));
        std::fs::create_dir_all(t.dir.join("usr/sbin")).expect("usr/sbin");
        std::fs::create_dir_all(t.dir.join("usr/bin")).expect("usr/bin");
        std::fs::create_dir_all(t.dir.join("usr/lib")).expect("usr/lib");
        std::fs::create_dir_all(t.dir.join("usr/lib64")).expect("usr/lib64");
        t.symlink("sbin", "usr/sbin");
        t.symlink("bin", "usr/bin");
        t.symlink("lib", "usr/lib");
        t.symlink("lib64", "usr/lib64");
        t.file("usr/sbin/init", &std::fs::read(test_init).expect("test init"), 0o755);
        for tool in [
            "bash", "dash", "ls", "cat", "touch", "passwd", "sleep", "id", "sync", "mount", "rm", "mkdir", "sh",
            "grep", "true", "false", "stat", "swapon",
        ] {
            let found = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
                .iter()
                .map(|d| format!("{d}/{tool}"))
                .find(|p| Path::new(p).exists());
            let p = found.unwrap_or_else(|| panic!("{tool} is not installed on this host"));
            let canonical = std::fs::canonicalize(&p).expect("canonical");
            let name = Path::new(&p).file_name().expect("name").to_string_lossy().to_string();
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                self_link(&t, &format!("usr/bin/{name}"), &canonical);
            } else {
                t.host_file(&canonical.display().to_string());
                if !canonical.starts_with("/usr/bin") {
                    self_link(&t, &format!("usr/bin/{name}"), &canonical);
                }
            }
        }
        for f in [
            "/etc/pam.d/passwd",
            "/etc/pam.d/common-password",
            "/etc/pam.d/other",
            "/etc/pam.d/common-auth",
            "/etc/pam.d/common-account",
            "/etc/pam.d/common-session",
            "/etc/login.defs",
            "/etc/nsswitch.conf",
        ] {
            if Path::new(f).exists() {
                t.host_file(f);
            }
        }
        let security = "/usr/lib/x86_64-linux-gnu/security";
        for m in ["pam_unix.so", "pam_deny.so", "pam_permit.so"] {
            t.host_file(&format!("{security}/{m}"));
        }
        t.file("etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n", 0o644);
        t.file("etc/group", b"root:x:0:\nshadow:x:42:\n", 0o644);
        // The forgotten password: a hash of something nobody knows.
        t.file(
            "etc/shadow",
            b"root:$y$j9T$forgotten$0123456789abcdefghijklmnopqrstuvwxyzABCDE:19000:0:99999:7:::\n",
            0o640,
        );
        t
    }
}

fn self_link(t: &Tree, at: &str, target: &Path) {
    t.host_file(&target.display().to_string());
    let p = t.dir.join(at);
    if std::fs::symlink_metadata(&p).is_err() {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, p).expect("symlink");
    }
}

/// A BIOS-bootable disk as an old RHEL/CentOS machine has it: an MBR, GRUB 2 (i386-pc) in the
/// gap before the first partition, and one ext4 partition holding the root with /boot in it.
/// `grub_cfg` goes to /boot/grub/grub.cfg; GRUB talks on the serial line.
pub fn bios_grub_disk(tree: &Tree, spec: &FsSpec<'_>, grub_cfg: &str, disk: &Path) {
    grub_files(tree, "boot/grub", grub_cfg);
    let fs_image = disk.with_extension("fs");
    make_fs(tree, spec, &fs_image);
    let sectors = std::fs::metadata(&fs_image).expect("fs image").len().div_ceil(512);
    let _ = std::fs::remove_file(disk);
    std::fs::File::create(disk).expect("disk").set_len((2048 + sectors) * 512).expect("size disk");
    let mut child = Command::new("sfdisk").arg("-q").arg(disk).stdin(Stdio::piped()).spawn().expect("run sfdisk");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("stdin"),
        format!("label: dos\nstart=2048, size={sectors}, type=83, bootable\n").as_bytes(),
    )
    .expect("sfdisk script");
    assert!(child.wait().expect("sfdisk").success());
    run(Command::new("dd").arg(format!("if={}", fs_image.display())).arg(format!("of={}", disk.display())).args([
        "bs=1M",
        "seek=1",
        "conv=notrunc",
        "status=none",
    ])); // sector 2048, by the MiB
    let _ = std::fs::remove_file(&fs_image);
    grub_install_mbr(disk, "(hd0,msdos1)/boot/grub", "ext2");
}

/// GRUB's i386-pc modules and `cfg` as `grub.cfg` under `dir` of `tree` (the directory GRUB's
/// prefix names: `boot/grub` on a root with /boot in it, `grub2` on a separate /boot).
pub fn grub_files(tree: &Tree, dir: &str, cfg: &str) {
    let grub_lib = Path::new("/usr/lib/grub/i386-pc");
    assert!(grub_lib.join("boot.img").exists(), "GRUB for BIOS is not installed (apt-get install grub-pc-bin)");
    tree.file(&format!("{dir}/grub.cfg"), cfg.as_bytes(), 0o644);
    for e in std::fs::read_dir(grub_lib).expect("grub modules").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".mod") || name.ends_with(".lst") {
            tree.file(&format!("{dir}/i386-pc/{name}"), &std::fs::read(e.path()).expect("module"), 0o644);
        }
    }
}

/// GRUB in the MBR of `disk` as grub-install puts it: boot.img in the first 440 bytes and
/// core.img in the gap at sector 1, where boot.img looks for it by default, with what it needs
/// to read `prefix` (on an msdos partition holding `fs_module`'s filesystem) and boot Linux.
pub fn grub_install_mbr(disk: &Path, prefix: &str, fs_module: &str) {
    let grub_lib = Path::new("/usr/lib/grub/i386-pc");
    let dd = |input: &Path, args: &[&str]| {
        run(Command::new("dd")
            .arg(format!("if={}", input.display()))
            .arg(format!("of={}", disk.display()))
            .args(args)
            .args(["conv=notrunc", "status=none"]));
    };
    let core = disk.with_extension("core");
    run(Command::new("grub-mkimage").args(["-O", "i386-pc", "-o"]).arg(&core).args(["-p", prefix]).args([
        "biosdisk",
        "part_msdos",
        fs_module,
        "normal",
        "linux16",
        "linux",
        "serial",
        "terminal",
        "echo",
        "configfile",
        "search",
        "search_fs_uuid",
        "test",
    ]));
    assert!(std::fs::metadata(&core).expect("core.img").len() < 2047 * 512, "core.img fits before the first partition");
    dd(&grub_lib.join("boot.img"), &["bs=440", "count=1"]);
    dd(&core, &["bs=512", "seek=1"]);
    let _ = std::fs::remove_file(&core);
}
