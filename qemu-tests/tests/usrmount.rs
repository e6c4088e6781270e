//! A separate `/usr`, as dracut's usrmount mounts it: the root is merged-usr (`/sbin` is a link
//! to `usr/sbin`) and its init lives only on the `/usr` filesystem, which `/etc/fstab` names by
//! UUID. Without the mount before the switch there is no init to run.

use rdbreak_qemu_tests::{Root, Scenario};

const ROOT_UUID: &str = "3c4d5e6f-7a8b-4c9d-8e0f-a1b2c3d4e5f6";
const USR_UUID: &str = "7e8f9a0b-1c2d-4e3f-9a4b-5c6d7e8f9a0b";

#[test]
fn a_separate_usr_holding_the_init_is_mounted_before_the_switch() {
    let root = Root::standard(ROOT_UUID).customize(|t| {
        let _ = std::fs::remove_dir_all(t.dir.join("sbin"));
        t.symlink("sbin", "usr/sbin");
        std::fs::create_dir_all(t.dir.join("usr")).expect("usr mount point");
        let fstab = format!(
            "UUID={ROOT_UUID} / ext4 defaults 0 1\nUUID={USR_UUID} /usr ext4 defaults,x-systemd.device-timeout=0 0 2\n"
        );
        t.file("etc/fstab", fstab.as_bytes(), 0o644);
    });
    // The standard tree has the test init at sbin/init: mounted on /usr it is /usr/sbin/init.
    let usr = Root::standard(USR_UUID).label("usr");
    let s = Scenario::new("usrmount").root(root).root(usr).append(&format!("root=UUID={ROOT_UUID} ro rd.break"));
    let mut vm = s.boot();
    let mut sh = vm.at_prompt("switch_root:/# ", 240);
    let mounts = sh.run("mount");
    assert!(
        mounts.lines().any(|l| l.contains(" on /sysroot/usr type ext4 (ro")),
        "/usr mounted read-only as ro asks: {mounts}"
    );
    let report = {
        sh.send_line("exit");
        vm.real_init_report(120)
    };
    report.assert_handover("/dev/vda");
    vm.powered_off();
}
