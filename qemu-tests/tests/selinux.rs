//! SELinux at the recovery shell, without an SELinux kernel: to ext4 and xfs the labels are only
//! `security.selinux` xattrs, so a root image labelled on the host (as a RHEL install is) with an
//! enforcing /etc/selinux/config shows what `chroot` keeps. The password reset is done WITHOUT
//! `touch /.autorelabel`; the image is read back on the host afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rdbreak_qemu_tests::disk::{self, Tree};
use rdbreak_qemu_tests::{assets, Root, Scenario, Vm};

const UUID: &str = "5e1f0c2d-3b4a-4c5d-8e6f-7a8b9c0d1e2f";
const PASSWORD: &str = "Rdbreak-Labels-2026!";
const PROMPT: &str = "switch_root:/# ";
const RESTORED_SHADOW: &str = "rdbreak: SELinux: restored the label of /etc/shadow (system_u:object_r:shadow_t:s0)";

/// A label as SELinux stores it: with the terminating NUL.
fn label(t: &str) -> Vec<u8> {
    format!("system_u:object_r:{t}:s0\0").into_bytes()
}

/// The label the targeted policy gives a path (relative to the root), closely enough.
fn label_for(rel: &str) -> Vec<u8> {
    let t = match rel {
        "" => "root_t",
        "etc/.pwd.lock" => "shadow_t",
        r if r.starts_with("etc/shadow") || r.starts_with("etc/gshadow") => "shadow_t",
        r if r.starts_with("etc/passwd") || r.starts_with("etc/group") => "passwd_file_t",
        r if r.starts_with("etc/selinux") => "selinux_config_t",
        r if r == "etc" || r.starts_with("etc/") => "etc_t",
        r if r == "root" || r.starts_with("root/") => "admin_home_t",
        r if r.starts_with("usr/bin") || r.starts_with("usr/sbin") => "bin_t",
        r if r.starts_with("usr/lib") => "lib_t",
        _ => "default_t",
    };
    label(t)
}

/// Labels every file under `top` (not following links), as `setfiles` would.
fn label_all(top: &Path) {
    fn walk(top: &Path, dir: &Path) {
        let rel = dir.strip_prefix(top).expect("under top").display().to_string();
        rustix::fs::lsetxattr(dir, "security.selinux", &label_for(&rel), rustix::fs::XattrFlags::empty())
            .unwrap_or_else(|e| panic!("label {}: {e} (security.* xattrs need root)", dir.display()));
        if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
            for e in std::fs::read_dir(dir).expect("read tree").flatten() {
                walk(top, &e.path());
            }
        }
    }
    walk(top, top);
}

/// What a RHEL root has beyond the recovery tree: an SELinux config, the lock file `passwd`
/// takes, root's history (so the session adds no file of its own), cp and mv.
fn selinux_files(t: &Tree, mode: &str) {
    t.file("etc/selinux/config", format!("SELINUX={mode}\nSELINUXTYPE=targeted\n").as_bytes(), 0o644);
    t.file("etc/.pwd.lock", b"", 0o600);
    t.file("etc/gshadow", b"root:*::\nshadow:*::\n", 0o640);
    t.file("etc/shadow-", b"root:*:19000:0:99999:7:::\n", 0o640);
    t.file("etc/hosts", b"127.0.0.1 localhost\n", 0o644);
    t.file("root/.bash_history", b"ls\n", 0o600);
    t.host_file("/usr/bin/cp");
    t.host_file("/usr/bin/mv");
}

/// The recovery root on ext4 with the SELinux files, labelled before `mkfs.ext4 -d` copies it.
fn ext4_root(mode: &'static str) -> Root {
    Root::recovery(UUID).label("selinux").customize(move |t| {
        selinux_files(t, mode);
        label_all(&t.dir);
    })
}

fn scenario(name: &str, root: Root, append: &str) -> Scenario {
    Scenario::new(name).root(root).quiet().append(&format!("root=UUID={UUID} ro rd.break {append}"))
}

/// A label on an ext4 image, read with debugfs; `None` when the file has none.
fn ext4_label(image: &Path, path: &str) -> Option<Vec<u8>> {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("ea_get -V {path} security.selinux"))
        .arg(image)
        .output()
        .expect("run debugfs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("File not found"), "{path} is not on {}: {err}", image.display());
    if err.contains("not found") {
        return None;
    }
    let mut v = out.stdout;
    if v.last() == Some(&b'\n') {
        v.pop();
    }
    Some(v)
}

/// An image mounted on the host through a loop device, unmounted when dropped.
struct Loop(PathBuf);

impl Loop {
    fn mount(image: &Path, at: PathBuf) -> Loop {
        std::fs::create_dir_all(&at).expect("mount point");
        assets::run(Command::new("mount").arg("-o").arg("loop").arg(image).arg(&at));
        Loop(at)
    }

    fn label(&self, path: &str) -> Option<Vec<u8>> {
        let mut buf = [0u8; 256];
        let p = self.0.join(path.trim_start_matches('/'));
        match rustix::fs::lgetxattr(&p, "security.selinux", &mut buf[..]) {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(rustix::io::Errno::NODATA) => None,
            Err(e) => panic!("{}: {e}", p.display()),
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).stderr(Stdio::inherit()).status();
    }
}

/// mkfs.xfs of xfsprogs 6.1 copies no xattrs from a directory: the image is made from the tree,
/// then mounted on a loop device and labelled in place.
fn xfs_scenario(name: &str) -> Scenario {
    let s = scenario(
        name,
        Root::recovery(UUID).label("selinux").fs("xfs").customize(|t| selinux_files(t, "enforcing")),
        "",
    );
    let m = Loop::mount(s.image(0), s.dir().join("mnt"));
    label_all(&m.0);
    drop(m);
    s
}

/// The walk-through without `touch /.autorelabel`; returns what the shell printed when the
/// chroot ended, and the kernel log read at the prompt after it.
fn password_reset(vm: &mut Vm) -> (String, String) {
    vm.expect("Break before switch_root", 240);
    let mut sh = vm.at_prompt(PROMPT, 30);
    sh.run("mount -o remount,rw /sysroot");
    sh.passwd_in_chroot(PASSWORD);
    let ended = sh.run_within("exit", 60);
    let dmesg = sh.run("dmesg");
    sh.continue_to_real_init();
    (ended, dmesg)
}

/// The snapshot's own record: how many labels, how long it took in the guest (TCG).
fn snapshot_record(dmesg: &str) -> &str {
    dmesg.lines().find(|l| l.contains("SELinux (Enforcing): remembered the labels of")).unwrap_or("(no record)")
}

/// The one boot with an /etc as big as a RHEL server's (3,000 files more), for the snapshot's
/// cost in the guest.
#[test]
fn password_reset_keeps_the_shadow_label_on_ext4() {
    let root = Root::recovery(UUID).label("selinux").customize(|t| {
        for i in 0..3000 {
            t.file(&format!("etc/bulk/d{}/f{i}.conf", i / 50), b"x\n", 0o644);
        }
        selinux_files(t, "enforcing");
        label_all(&t.dir);
    });
    let s = scenario("selinux_ext4", root, "");
    let image = s.image(0);
    assert_eq!(ext4_label(image, "/etc/shadow"), Some(label("shadow_t")), "mkfs.ext4 -d copies the labels");
    let before = disk::ext4_read(image, "/etc/shadow").expect("shadow");
    let (ended, dmesg) = password_reset(&mut s.boot());
    eprintln!("[selinux_ext4] {}", snapshot_record(&dmesg));
    assert!(ended.contains(RESTORED_SHADOW), "the console said what was restored: {ended}");
    assert!(!ended.contains("autorelabel"), "nothing is left to relabel: {ended}");
    disk::ext4_settle(image);
    assert_ne!(disk::ext4_read(image, "/etc/shadow").expect("shadow"), before, "passwd changed /etc/shadow");
    assert_eq!(ext4_label(image, "/etc/shadow"), Some(label("shadow_t")), "the new /etc/shadow has its label");
    assert!(disk::ext4_read(image, "/.autorelabel").is_none(), "no /.autorelabel was needed or made");
    for (path, t) in
        [("/etc/passwd", "passwd_file_t"), ("/etc/.pwd.lock", "shadow_t"), ("/root/.bash_history", "admin_home_t")]
    {
        assert_eq!(ext4_label(image, path), Some(label(t)), "{path}");
    }
}

#[test]
fn password_reset_keeps_the_shadow_label_on_xfs() {
    let s = xfs_scenario("selinux_xfs");
    let (ended, dmesg) = password_reset(&mut s.boot());
    eprintln!("[selinux_xfs] {}", snapshot_record(&dmesg));
    assert!(ended.contains(RESTORED_SHADOW), "the console said what was restored: {ended}");
    assert!(!ended.contains("autorelabel"), "{ended}");
    // Mounting replays the log the guest left, as the next boot would.
    let m = Loop::mount(s.image(0), s.dir().join("mnt"));
    let shadow = std::fs::read_to_string(m.0.join("etc/shadow")).expect("shadow");
    assert!(!shadow.contains("forgotten"), "passwd changed /etc/shadow: {shadow}");
    assert_eq!(m.label("/etc/shadow"), Some(label("shadow_t")), "the new /etc/shadow has its label");
    assert!(!m.0.join(".autorelabel").exists());
}

/// Other edits in one boot: a file replaced by `mv` (restored), a new file (listed, relabel
/// advised), then `chroot --no-labels` and a root whose config says disabled (nothing said,
/// nothing written).
#[test]
fn new_files_are_listed_and_the_switches_turn_it_off() {
    let s = scenario("selinux_edits", ext4_root("enforcing"), "");
    let mut vm = s.boot();
    let mut sh = vm.at_prompt(PROMPT, 240);
    sh.run("mount -o remount,rw /sysroot");
    let mut chroot = sh.enter("chroot /sysroot", "# ", 60);
    chroot.run("cp /etc/hosts /root/hosts.new && echo '10.0.0.1 db' >> /root/hosts.new");
    chroot.run("mv /root/hosts.new /etc/hosts");
    chroot.run("echo 'UUID=x /data ext4 defaults 0 2' >> /etc/fstab");
    chroot.run("echo new > /etc/rdbreak-new.conf");
    let ended = sh.run_within("exit", 60);
    assert!(
        ended.contains("rdbreak: SELinux: restored the label of /etc/hosts (system_u:object_r:etc_t:s0)"),
        "{ended}"
    );
    assert!(!ended.contains("/etc/fstab"), "edited in place, fstab kept its label: {ended}");
    assert!(
        ended.contains(
            "rdbreak: SELinux: new files without a label (only the policy knows theirs): /etc/rdbreak-new.conf"
        ),
        "{ended}"
    );
    assert!(ended.contains("touch /sysroot/.autorelabel"), "a relabel is advised: {ended}");

    let off =
        sh.run_within("chroot --no-labels /sysroot /bin/bash -c 'cp /etc/group /root/g && mv /root/g /etc/group'", 60);
    assert!(!off.contains("SELinux"), "--no-labels: {off}");
    sh.run("echo SELINUX=disabled > /sysroot/etc/selinux/config");
    let disabled = sh.run_within("chroot /sysroot /bin/bash -c 'cp /etc/passwd /root/p && mv /root/p /etc/passwd'", 60);
    assert!(!disabled.contains("SELinux"), "SELinux disabled: {disabled}");
    sh.continue_to_real_init();

    let image = s.image(0);
    disk::ext4_settle(image);
    assert_eq!(ext4_label(image, "/etc/hosts"), Some(label("etc_t")));
    assert_eq!(ext4_label(image, "/etc/fstab"), Some(label("etc_t")));
    assert_eq!(ext4_label(image, "/etc/rdbreak-new.conf"), None, "no label is guessed for a new file");
    assert_eq!(ext4_label(image, "/etc/group"), None, "--no-labels wrote nothing");
    assert_eq!(ext4_label(image, "/etc/passwd"), None, "a disabled root gets nothing written");
    assert!(disk::ext4_read(image, "/.autorelabel").is_none(), "rdbreak never makes /.autorelabel itself");
}

#[test]
fn the_command_line_turns_it_off() {
    let s = scenario("selinux_cmdline_off", ext4_root("enforcing"), "rd.rdbreak.selinux=0");
    let (ended, dmesg) = password_reset(&mut s.boot());
    assert!(!ended.contains("SELinux"), "{ended}");
    assert!(!dmesg.contains("remembered the labels"), "no snapshot was taken: {dmesg}");
    let image = s.image(0);
    disk::ext4_settle(image);
    assert_eq!(ext4_label(image, "/etc/shadow"), None, "passwd's new /etc/shadow stays unlabelled");
}
