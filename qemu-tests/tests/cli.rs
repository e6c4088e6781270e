//! The `rdbreak` CLI on real images: its listing of a dracut image matches `cpio -t` and
//! `lsinitrd`, and `unpack` gives back the same files.

use std::process::Command;

use rdbreak_qemu_tests::assets::DracutVariant;
use rdbreak_qemu_tests::{assets, workdir, Modules};

fn names_from(cmd: &mut Command) -> Vec<String> {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn ls_of_a_dracut_image_matches_cpio_and_lsinitrd() {
    let a = assets::get();
    // As dracut ships it: rdbreak reads the gzip as it reads the cpio.
    let image = a.dracut_image_variant(Modules::Plain, DracutVariant { compressed: true, ..Default::default() });
    let ours = Command::new(&a.cli).arg("ls").arg(&image).output().expect("rdbreak ls");
    assert!(ours.status.success());
    let listing = String::from_utf8_lossy(&ours.stdout).to_string();
    let mut names: Vec<String> = listing
        .lines()
        .map(|l| {
            let name = l.splitn(6, char::is_whitespace).filter(|s| !s.is_empty()).count();
            let _ = name;
            // mode nlink uid gid size name[ -> target]
            let fields: Vec<&str> = l.split_whitespace().collect();
            let at = if fields[0].starts_with('c') || fields[0].starts_with('b') { 6 } else { 5 };
            fields[at].to_string()
        })
        .collect();
    names.sort();
    let skipcpio = "/usr/lib/dracut/skipcpio";
    let cpio = names_from(
        Command::new("sh").arg("-c").arg(format!("{skipcpio} '{}' | zcat | cpio -t --quiet", image.display())),
    );
    assert_eq!(names, cpio, "the same entries as skipcpio | zcat | cpio -t");
    // lsinitrd prints the same paths (with its own columns): compare the set of names.
    let ls = Command::new("lsinitrd").arg(&image).output().expect("lsinitrd");
    let lsinitrd = String::from_utf8_lossy(&ls.stdout);
    for n in names.iter().filter(|n| n.starts_with("usr/lib/modules/") && n.ends_with(".ko")) {
        assert!(lsinitrd.contains(n.as_str()), "lsinitrd lists {n}");
    }
    assert!(listing.lines().any(|l| l.ends_with(" init") && l.starts_with("-rwxr-xr-x")), "/init is listed executable");
}

#[test]
fn unpack_gives_back_the_files() {
    let a = assets::get();
    let image = a.rdbreak_build_image();
    let dir = workdir("cli_unpack");
    let st = Command::new(&a.cli).arg("unpack").arg(&image).arg(dir.join("out")).status().expect("rdbreak unpack");
    assert!(st.success());
    assert_eq!(std::fs::read(dir.join("out/init")).expect("init"), std::fs::read(&a.init).expect("built init"));
    let dep =
        std::fs::read_to_string(dir.join(format!("out/lib/modules/{}/modules.dep", a.kver))).expect("modules.dep");
    assert!(dep.lines().any(|l| l.starts_with("kernel/drivers/block/virtio_blk.ko:")), "{dep}");
    // The same inputs give the same bytes.
    let again = dir.join("again.img");
    let st = Command::new(&a.cli)
        .args(["build", "--kver", &a.kver, "--init"])
        .arg(&a.init)
        .arg("--kmoddir")
        .arg(a.kernel_root.join("lib/modules").join(&a.kver))
        .arg("-o")
        .arg(&again)
        .status()
        .expect("rdbreak build");
    assert!(st.success());
    assert_eq!(std::fs::read(&again).expect("again"), std::fs::read(&image).expect("image"), "reproducible");
}

/// Issue 23's budget: the static init, with the whole shell language, stays within 1.75 MiB
/// (the settle and timing work of issue 27 had taken it 5 KB over, unnoticed: float printing).
#[test]
fn the_static_init_stays_within_its_budget() {
    const BUDGET: u64 = 1_835_008;
    let a = assets::get();
    let size = std::fs::metadata(&a.init).expect("rdbreak-init").len();
    assert!(size <= BUDGET, "{} is {size} bytes, over its {BUDGET}-byte budget", a.init.display());
    let kind = Command::new("file").arg(&a.init).output().expect("file");
    assert!(String::from_utf8_lossy(&kind.stdout).contains("static-pie linked"), "{kind:?}");
}
