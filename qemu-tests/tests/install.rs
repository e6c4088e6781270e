//! install.sh puts the init and the dracut module where DESTDIR and PREFIX say, and the module
//! then points at that init.

use std::process::Command;

#[test]
fn install_honours_destdir_and_prefix() {
    let dest = tempfile_dir();
    let ws = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace");
    let status = Command::new("sh")
        .arg(ws.join("install.sh"))
        .env("DESTDIR", &dest)
        .env("PREFIX", "/opt/rd")
        .env("RDBREAK_INIT_BIN", "/bin/true")
        .status()
        .expect("run install.sh");
    assert!(status.success());
    let init = dest.join("opt/rd/lib/rdbreak/rdbreak-init");
    assert!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&init).expect("installed init").permissions())
            & 0o111
            != 0
    );
    let module = std::fs::read_to_string(dest.join("opt/rd/lib/dracut/modules.d/99rdbreak/module-setup.sh"))
        .expect("installed module");
    assert!(
        module.contains("${RDBREAK_INIT:-/opt/rd/lib/rdbreak/rdbreak-init}"),
        "the module finds the init under PREFIX"
    );
    let check = Command::new("bash")
        .arg("-n")
        .arg(dest.join("opt/rd/lib/dracut/modules.d/99rdbreak/module-setup.sh"))
        .status()
        .expect("bash -n");
    assert!(check.success());
    let _ = std::fs::remove_dir_all(&dest);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rdbreak-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
