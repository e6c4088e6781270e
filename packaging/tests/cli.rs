//! The `rdbreak` command on hostile, foreign and broken inputs: usage errors, files that are no
//! image, archives made by GNU cpio (hard links, the crc format), modes whatever the umask or
//! the user, and `build`'s checks on its inputs and its output.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use rdbreak::cpio::{self, Entry};

fn rdbreak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdbreak")).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn sh(script: &str) -> Output {
    Command::new("sh").arg("-c").arg(script).env("RDBREAK", env!("CARGO_BIN_EXE_rdbreak")).output().unwrap()
}

fn have(tool: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping: {tool} is not installed");
    }
    found
}

/// An archive of `dir` made by GNU cpio in `format` (newc or crc).
fn gnu_cpio(dir: &Path, format: &str, out: &Path) {
    let o = sh(&format!("cd '{}' && find . | sort | cpio -o -H {format} --quiet > '{}'", dir.display(), out.display()));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn usage_errors_say_what_and_show_the_usage() {
    for (args, what) in [
        (&["ls", "a", "b"][..], "unexpected argument b"),
        (&["ls", "--bogus", "a"], "unknown option --bogus"),
        (&["ls"], "missing argument"),
        (&["unpack", "a"], "missing argument"),
        (&["unpack", "a", "b", "c"], "unexpected argument c"),
        (&["unpack", "-x", "a", "b"], "unknown option -x"),
        (&["--version", "extra"], "extra arguments"),
        (&["build", "-o", "x", "stray"], "unexpected argument stray"),
        (&["frobnicate"], "unknown command"),
    ] {
        let o = rdbreak(args);
        assert!(!o.status.success(), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains(what) && e.contains("usage:"), "{args:?}: {e}");
    }
}

#[test]
fn ls_of_what_is_not_an_image_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.path().join("hostname");
    std::fs::write(&text, b"myhost\n").unwrap();
    for (path, what) in [
        (empty.as_path(), "it is empty"),
        (&text, "neither a cpio header"),
        (Path::new("/dev/zero"), "MiB of zero bytes"),
    ] {
        let o = rdbreak(&["ls", path.to_str().unwrap()]);
        assert!(!o.status.success() && o.stdout.is_empty(), "{path:?}");
        assert!(stderr(&o).contains(what), "{path:?}: {}", stderr(&o));
    }
}

#[test]
fn gnu_cpio_hard_links_come_out_whole() {
    if !have("cpio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src/lib/modules/6.1");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("modules.dep.bin"), b"an index, shared by three names").unwrap();
    for other in ["modules.alias.bin", "modules.symbols.bin"] {
        std::fs::hard_link(src.join("modules.dep.bin"), src.join(other)).unwrap();
    }
    let img = dir.path().join("links.cpio");
    gnu_cpio(&dir.path().join("src"), "newc", &img);
    let o = rdbreak(&["unpack", img.to_str().unwrap(), dir.path().join("out").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out/lib/modules/6.1");
    let ino = std::fs::metadata(out.join("modules.dep.bin")).unwrap().ino();
    for name in ["modules.dep.bin", "modules.alias.bin", "modules.symbols.bin"] {
        assert_eq!(std::fs::read(out.join(name)).unwrap(), b"an index, shared by three names", "{name}");
        let m = std::fs::metadata(out.join(name)).unwrap();
        assert_eq!((m.ino(), m.nlink()), (ino, 3), "{name} is one of three links");
    }
}

#[test]
fn gnu_cpio_crc_checksums_are_verified() {
    if !have("cpio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/hostname"), b"initrd\n").unwrap();
    std::os::unix::fs::symlink("hostname", src.join("etc/name")).unwrap();
    let img = dir.path().join("crc.cpio");
    gnu_cpio(&src, "crc", &img);
    let o = rdbreak(&["ls", img.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut bytes = std::fs::read(&img).unwrap();
    let at = bytes.windows(7).position(|w| w == b"initrd\n").unwrap();
    bytes[at] = b'I';
    std::fs::write(&img, &bytes).unwrap();
    let o = rdbreak(&["ls", img.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("etc/hostname: checksum mismatch"), "{}", stderr(&o));
    let o = rdbreak(&["unpack", img.to_str().unwrap(), dir.path().join("out").to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("etc/hostname: checksum mismatch"), "{}", stderr(&o));
    assert!(dir.path().join("out/etc/name").is_symlink(), "the other entries are extracted");
}

#[test]
fn modes_do_not_go_through_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries =
        vec![Entry::dir("d", 0o755), Entry::file("d/f", 0o664, b"x".to_vec()), Entry::symlink("d/l", "f")];
    let root = rustix::process::geteuid().is_root();
    if root {
        entries.push(Entry::char_dev("d/null", 0o666, 1, 3));
    }
    let img = dir.path().join("modes.cpio");
    std::fs::write(&img, cpio::write(&entries, 0)).unwrap();
    let out = dir.path().join("out");
    let o = sh(&format!("umask 077; exec \"$RDBREAK\" unpack '{}' '{}'", img.display(), out.display()));
    assert!(o.status.success(), "{}", stderr(&o));
    let mode = |p: &str| std::fs::symlink_metadata(out.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!((mode("d"), mode("d/f")), (0o755, 0o664));
    if root {
        assert_eq!(mode("d/null"), 0o666);
    }
}

#[test]
fn a_read_only_directory_and_read_only_hard_links_are_extracted_as_a_user() {
    if !rustix::process::geteuid().is_root() || !have("setpriv") || !have("cpio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("ro/sub")).unwrap();
    std::fs::write(src.join("ro/f"), b"in a read-only directory").unwrap();
    std::fs::write(src.join("ro/sub/g"), b"deeper").unwrap();
    std::fs::write(src.join("a"), b"read-only, linked").unwrap();
    std::fs::hard_link(src.join("a"), src.join("b")).unwrap();
    let set = |p: &str, m: u32| std::fs::set_permissions(src.join(p), std::fs::Permissions::from_mode(m)).unwrap();
    for (p, m) in [("a", 0o444), ("ro/sub", 0o500), ("ro", 0o555)] {
        set(p, m);
    }
    let img = dir.path().join("ro.cpio");
    gnu_cpio(&src, "newc", &img);
    set("ro", 0o755);
    std::fs::set_permissions(&img, std::fs::Permissions::from_mode(0o644)).unwrap();
    let work = dir.path().join("user");
    std::fs::create_dir(&work).unwrap();
    rustix::fs::chown(&work, Some(rustix::fs::Uid::from_raw(65534)), Some(rustix::fs::Gid::from_raw(65534))).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = work.join("out");
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_rdbreak"), "unpack"])
        .arg(&img)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mode = |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!((mode("ro"), mode("ro/sub"), mode("a"), mode("b")), (0o555, 0o500, 0o444, 0o444));
    assert_eq!(std::fs::read(out.join("ro/sub/g")).unwrap(), b"deeper");
    assert_eq!(std::fs::read(out.join("a")).unwrap(), b"read-only, linked");
    assert_eq!(std::fs::read(out.join("b")).unwrap(), b"read-only, linked");
    assert_eq!(std::fs::metadata(out.join("ro/f")).unwrap().uid(), 65534, "a user's files stay the user's");
    let _ = Command::new("chmod").args(["-R", "u+rwx"]).arg(&out).status();
}

/// The smallest static x86-64 program (exit(0)): an init `build` accepts.
fn tiny_static_elf() -> Vec<u8> {
    let code = [0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05];
    let size = (64 + 56 + code.len()) as u64;
    let mut b = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    b.extend(2u16.to_le_bytes());
    b.extend(62u16.to_le_bytes());
    b.extend(1u32.to_le_bytes());
    b.extend((0x400000u64 + 120).to_le_bytes());
    b.extend(64u64.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    for h in [64u16, 56, 1, 0, 0, 0] {
        b.extend(h.to_le_bytes());
    }
    b.extend(1u32.to_le_bytes());
    b.extend(5u32.to_le_bytes());
    for v in [0, 0x400000, 0x400000, size, size, 0x1000u64] {
        b.extend(v.to_le_bytes());
    }
    b.extend(code);
    b
}

fn build_args<'a>(init: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["build", "--no-default-modules", "--kver", "1.0", "--kmoddir", "/nonexistent", "--init", init, "-o", out]
}

#[test]
fn build_refuses_an_init_that_is_no_program_and_dotdot_in_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("hostname");
    std::fs::write(&text, b"myhost\n").unwrap();
    let out = dir.path().join("out.img");
    let o = rdbreak(&build_args(text.to_str().unwrap(), out.to_str().unwrap()));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is not an ELF executable: it is text, not a program"), "{}", stderr(&o));
    let init = dir.path().join("init");
    std::fs::write(&init, tiny_static_elf()).unwrap();
    let file = format!("{}:../../../x", text.display());
    let mut args = build_args(init.to_str().unwrap(), out.to_str().unwrap());
    args.extend(["--file", &file]);
    let o = rdbreak(&args);
    assert!(!o.status.success() && stderr(&o).contains("`..` component"), "{}", stderr(&o));
    assert!(!out.exists());
    let o = rdbreak(&build_args(init.to_str().unwrap(), out.to_str().unwrap()));
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `-o` over an existing image with the disk "full" (a file size limit, with SIGXFSZ ignored
/// so that writes fail with EFBIG as they would with ENOSPC): the old image stays whole.
#[test]
fn a_failed_build_leaves_the_old_image_whole() {
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("init");
    std::fs::write(&init, tiny_static_elf()).unwrap();
    // Random bytes: the compressed image stays as big.
    let mut big = vec![0u8; 2 << 20];
    let mut x = 0x2545f4914f6cdd1du64;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(dir.path().join("big"), &big).unwrap();
    let img = dir.path().join("boot/initrd.img");
    std::fs::create_dir(dir.path().join("boot")).unwrap();
    std::fs::write(&img, b"the old image").unwrap();
    let args = build_args(init.to_str().unwrap(), img.to_str().unwrap()).join(" ");
    let o =
        sh(&format!("trap '' XFSZ; ulimit -f 1024; exec \"$RDBREAK\" {args} --file {}/big:/big", dir.path().display()));
    assert!(!o.status.success(), "the build cannot fit");
    let now = std::fs::read(&img).unwrap();
    assert!(now == b"the old image", "the old image was replaced by {} bytes", now.len());
    assert!(stderr(&o).contains("left as it was"), "{}", stderr(&o));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("boot")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["initrd.img"], "no temporary file left behind");
}
