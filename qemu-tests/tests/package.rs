//! Distro packaging: the .deb installs cleanly, `dracut -a rdbreak` with the installed module
//! makes an image that boots, and removal leaves nothing behind; the RPM spec builds.

use std::path::Path;
use std::process::Command;

use rdbreak_qemu_tests::assets::{locked, run};
use rdbreak_qemu_tests::{assets, workdir, Initrd, Root, Scenario};

const INSTALLED: [&str; 7] = [
    "/usr/lib/rdbreak/rdbreak-init",
    "/usr/lib/dracut/modules.d/99rdbreak/module-setup.sh",
    "/usr/lib/dracut/modules.d/99rdbreak/drivers.txt",
    "/usr/bin/rdbreak",
    "/usr/share/man/man8/rdbreak-init.8.gz",
    "/usr/share/man/man7/rdbreak.cmdline.7.gz",
    "/etc/dracut.conf.d/90-rdbreak.conf",
];

#[test]
fn deb_installs_builds_a_booting_image_and_purges_clean() {
    let a = assets::get();
    let s = Scenario::new("package_deb");
    let dir = s.dir().to_path_buf();
    let deb = run(Command::new("sh").arg(a.workspace.join("packaging/build-deb.sh")).arg(dir.join("deb")));
    let deb = deb.trim().to_string();
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    assert!(listing.contains("./usr/lib/rdbreak/rdbreak-init"));
    assert!(!std::fs::read_to_string("/etc/dracut.conf.d/90-rdbreak.conf")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("add_dracutmodules")));
    // The host's dracut is changed only while this test holds the lock.
    locked(&a.cache, "system-dracut", || {
        run(Command::new("dpkg").args(["-i", &deb]));
        for f in INSTALLED {
            assert!(Path::new(f).exists(), "{f} installed");
        }
        let conf = std::fs::read_to_string("/etc/dracut.conf.d/90-rdbreak.conf").expect("conf");
        assert!(conf.contains("#add_dracutmodules+=\" rdbreak \""), "off by default");
        let image = dir.join("installed.img");
        let out = Command::new("dracut")
            .args(["--no-hostonly", "--force", "--quiet", "-a", "rdbreak", "--kver", &a.kver, "--kmoddir"])
            .arg(a.kernel_root.join("lib/modules").join(&a.kver))
            .arg(&image)
            .env_remove("RDBREAK_INIT")
            .output()
            .expect("dracut");
        let purge = Command::new("dpkg").args(["--purge", "rdbreak"]).output().expect("dpkg --purge");
        assert!(out.status.success(), "dracut with the installed module: {}", String::from_utf8_lossy(&out.stderr));
        assert!(purge.status.success(), "{}", String::from_utf8_lossy(&purge.stderr));
        for f in INSTALLED {
            assert!(!Path::new(f).exists(), "{f} removed");
        }
        assert!(!Path::new("/usr/lib/dracut/modules.d/99rdbreak").exists());
        let uuid = "3b0c9a8e-1d2f-4e5a-9b6c-7d8e9fa0b1c2";
        let s = s.root(Root::standard(uuid).label("pkg").size_mib(64)).initrd(Initrd::File(image));
        let mut vm = s.append(&format!("root=UUID={uuid} ro")).boot();
        let t = vm.real_init_pid1(240);
        assert!(t.contains("rdbreak: rdbreak "), "the installed rdbreak-init ran as /init");
        vm.powered_off();
    });
}

#[test]
fn rpm_spec_builds() {
    let a = assets::get();
    let top = workdir("package_rpm");
    if Command::new("rpmbuild").arg("--version").output().is_err() {
        panic!("rpmbuild is missing: apt-get install rpm");
    }
    run(Command::new("rpmbuild")
        .args(["-bb", "--define", "prebuilt 1"])
        .arg("--define")
        .arg(format!("_sourcedir {}", a.workspace.display()))
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(a.workspace.join("packaging/rpm/rdbreak.spec")));
    let rpm = top.join(format!("RPMS/x86_64/rdbreak-{}-1.x86_64.rpm", env!("CARGO_PKG_VERSION")));
    let files = run(Command::new("rpm").arg("-qlp").arg(&rpm));
    for f in INSTALLED {
        assert!(files.lines().any(|l| l.starts_with(f.trim_end_matches(".gz"))), "{f} in the rpm: {files}");
    }
}
