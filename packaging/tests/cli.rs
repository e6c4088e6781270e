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
        (&["modules", "a", "b"][..], "unexpected argument b"),
        (&["ls", "--bogus", "a"], "unknown option --bogus"),
        (&["cat", "a"], "missing argument"),
        (&["unpack", "a"], "missing argument"),
        (&["info", "a", "c"], "unexpected argument c"),
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

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// A small image built by `rdbreak build` from `extra` arguments; returns its path.
fn built(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let init = dir.join("init");
    std::fs::write(&init, tiny_static_elf()).unwrap();
    let img = dir.join("built.img");
    let mut args = build_args(init.to_str().unwrap(), img.to_str().unwrap());
    args.extend(extra);
    let o = rdbreak(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    img
}

#[test]
fn a_new_image_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let img = built(dir.path(), &[]);
    assert_eq!(mode_of(&img), 0o600, "it may hold a key file");
}

#[test]
fn unpack_refuses_a_full_target_the_root_and_its_top_directories() {
    let dir = tempfile::tempdir().unwrap();
    let img = built(dir.path(), &[]);
    let img = img.to_str().unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("mine"), b"keep").unwrap();
    let o = rdbreak(&["unpack", img, full.to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("is not empty (1 entries)") && stderr(&o).contains("--force"));
    let o = rdbreak(&["unpack", "--force", img, full.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(full.join("mine")).unwrap(), b"keep");
    for target in ["/", "/usr", "/etc/", "/tmp/../etc", "//var"] {
        for force in [false, true] {
            let args: Vec<&str> = if force { vec!["unpack", "-f", img, target] } else { vec!["unpack", img, target] };
            let o = rdbreak(&args);
            assert!(!o.status.success(), "{target}");
            assert!(stderr(&o).contains("live root or one of its top directories"), "{target}: {}", stderr(&o));
        }
    }
}

#[test]
fn set_id_bits_are_dropped_unless_asked_and_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![
        Entry::file("su", 0o4755, b"x".to_vec()),
        Entry::file("sg", 0o2755, b"y".to_vec()),
        Entry::dir("tmp", 0o1777),
        Entry::file("plain", 0o755, b"z".to_vec()),
    ];
    let img = dir.path().join("setid.cpio");
    std::fs::write(&img, cpio::write(&entries, 0)).unwrap();
    let out = dir.path().join("out");
    let o = rdbreak(&["unpack", img.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((mode_of(&out.join("su")), mode_of(&out.join("sg"))), (0o755, 0o755));
    assert_eq!(mode_of(&out.join("tmp")), 0o1777, "the sticky bit stays");
    let e = stderr(&o);
    assert_eq!(e.matches("set-user-ID").count(), 1, "{e}");
    assert!(e.contains("of 2 files (--preserve-setid keeps them)"), "{e}");
    let kept = dir.path().join("kept");
    let o = rdbreak(&["unpack", "--preserve-setid", img.to_str().unwrap(), kept.to_str().unwrap()]);
    assert!(o.status.success() && stderr(&o).is_empty(), "{}", stderr(&o));
    assert_eq!((mode_of(&kept.join("su")), mode_of(&kept.join("sg"))), (0o4755, 0o2755));
}

#[test]
fn errors_name_the_target_or_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let img = built(dir.path(), &[]);
    let afile = dir.path().join("afile");
    std::fs::write(&afile, b"").unwrap();
    let o = rdbreak(&["unpack", img.to_str().unwrap(), afile.to_str().unwrap()]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("the target") && e.contains("not a directory"), "{e}");
    assert!(!e.contains("image"), "the image is fine: {e}");
    let o = rdbreak(&["unpack", img.to_str().unwrap(), "/proc/self/rdbreak-no/such"]);
    let e = stderr(&o);
    assert!(e.starts_with("rdbreak: the target directory /proc/self/rdbreak-no/such: cannot create it"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn a_truncated_or_corrupt_stream_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = vec![0u8; 300_000];
    let mut x = 0x9e3779b97f4a7c15u64;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = b'a' + (x % 16) as u8;
    }
    std::fs::write(dir.path().join("big"), &big).unwrap();
    let file = format!("{}:/big", dir.path().join("big").display());
    for compress in ["zstd", "gzip", "xz"] {
        let img = built(dir.path(), &["--file", &file, "--compress", compress]);
        let bytes = std::fs::read(&img).unwrap();
        let cut = dir.path().join("cut.img");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let o = rdbreak(&["ls", cut.to_str().unwrap()]);
        let e = stderr(&o);
        assert!(!o.status.success(), "{compress}");
        assert_eq!(e.lines().count(), 1, "{compress}: {e}");
        assert!(e.contains(&format!("the {compress} data at offset 0 is truncated")), "{compress}: {e}");
        assert!(e.len() < 300, "{compress}: {e}");
    }
}

#[test]
fn a_target_that_cannot_be_written_is_one_line() {
    if !rustix::process::geteuid().is_root() || !have("setpriv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = built(dir.path(), &[]);
    std::fs::set_permissions(&img, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let target = dir.path().join("root-owned");
    std::fs::create_dir(&target).unwrap();
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_rdbreak"), "unpack"])
        .arg(&img)
        .arg(&target)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(!o.status.success());
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("cannot write into it: Permission denied"), "{e}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    for i in 0..400 {
        let f = dir.path().join(format!("f{i}"));
        std::fs::write(&f, b"x").unwrap();
        args.push(format!("--file {}:/many/f{i}", f.display()));
    }
    let img = built(dir.path(), &args.iter().flat_map(|a| a.splitn(2, ' ')).collect::<Vec<_>>());
    for cmd in [
        format!("\"$RDBREAK\" ls '{}' | head -1", img.display()),
        format!("\"$RDBREAK\" ls -l --sort size '{}' | head -2", img.display()),
        format!("\"$RDBREAK\" unpack '{}' '{}/out' | head -0", img.display(), dir.path().display()),
        "\"$RDBREAK\" --help | head -1".to_string(),
    ] {
        let o = Command::new("bash")
            .arg("-c")
            .arg(format!("{cmd}; echo \"status ${{PIPESTATUS[0]}}\""))
            .env("RDBREAK", env!("CARGO_BIN_EXE_rdbreak"))
            .output()
            .unwrap();
        let e = stderr(&o);
        assert!(e.is_empty(), "{cmd}: {e}");
        assert!(stdout(&o).contains("status 0"), "{cmd}: {}", stdout(&o));
    }
}

#[test]
fn every_command_has_help_version_and_usage_exit_codes() {
    for c in rdbreak::cli::COMMANDS {
        for flag in ["--help", "-h"] {
            let o = rdbreak(&[c.name, flag]);
            assert!(o.status.success(), "{} {flag}", c.name);
            let text = stdout(&o);
            assert!(text.contains(&format!("usage: rdbreak {}", c.name)) && text.contains("example:"), "{text}");
        }
    }
    let o = rdbreak(&["--version"]);
    assert!(o.status.success() && stdout(&o).starts_with("rdbreak "));
    let o = rdbreak(&["build", "--bogus"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    let o = rdbreak(&["ls", "/nonexistent.img"]);
    assert_eq!(o.status.code(), Some(1), "a failure");
    assert!(stderr(&o).contains("cannot read the image /nonexistent.img"), "{}", stderr(&o));
}

/// GNU cpio's archive of a tree with set-id files, a sticky directory, hard links, a symlink:
/// `rdbreak ls -l` prints what `cpio -itv` prints, line for line, modes included.
#[test]
fn ls_long_matches_cpio_tv() {
    if !have("cpio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("usr/bin")).unwrap();
    std::fs::create_dir_all(src.join("tmp")).unwrap();
    for (p, m) in [("usr/bin/su", 0o4755), ("usr/bin/wall", 0o2755), ("usr/bin/odd", 0o4644), ("usr/bin/plain", 0o755)]
    {
        std::fs::write(src.join(p), p.as_bytes()).unwrap();
        std::fs::set_permissions(src.join(p), std::fs::Permissions::from_mode(m)).unwrap();
    }
    std::fs::set_permissions(src.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::hard_link(src.join("usr/bin/plain"), src.join("usr/bin/again")).unwrap();
    std::os::unix::fs::symlink("usr/bin", src.join("bin")).unwrap();
    let img = dir.path().join("gnu.cpio");
    gnu_cpio(&src, "newc", &img);
    let ours = rdbreak(&["ls", "-l", img.to_str().unwrap()]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    let theirs = sh(&format!("TZ=UTC cpio -itv --quiet < '{}'", img.display()));
    assert_eq!(stdout(&ours), stdout(&theirs));
    let text = stdout(&ours);
    for want in ["-rwsr-xr-x", "-rwxr-sr-x", "-rwSr--r--", "drwxrwxrwt"] {
        assert!(text.contains(want), "{want}: {text}");
    }
    // Patterns, as cpio takes them; --sort size.
    let o = rdbreak(&["ls", img.to_str().unwrap(), "usr/bin/s*", "/tmp"]);
    let names: Vec<String> = stdout(&o).lines().map(|l| l.rsplit(' ').next().unwrap().to_string()).collect();
    assert_eq!(names, ["tmp", "usr/bin/su"], "{}", stdout(&o));
    let o = rdbreak(&["ls", "--sort", "size", img.to_str().unwrap()]);
    let first = stdout(&o).lines().next().unwrap().to_string();
    assert!(first.ends_with("usr/bin/plain") || first.ends_with("usr/bin/again"), "{first}");
    // cat: the file's bytes.
    let o = rdbreak(&["cat", img.to_str().unwrap(), "/usr/bin/wall"]);
    assert!(o.status.success() && o.stdout == b"usr/bin/wall", "{}", stderr(&o));
    let o = rdbreak(&["cat", img.to_str().unwrap(), "usr/bin/nope"]);
    assert!(!o.status.success() && stderr(&o).contains("usr/bin/nope is not in the image"), "{}", stderr(&o));
}

/// build → unpack → ls: set-id, sticky, hard links and an early microcode archive survive, and
/// the early archive is listed and unpacked apart.
#[test]
fn round_trip_with_setid_sticky_hard_links_and_early_microcode() {
    if !have("cpio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let early = dir.path().join("early");
    std::fs::create_dir_all(early.join("kernel/x86/microcode")).unwrap();
    std::fs::write(early.join("kernel/x86/microcode/GenuineIntel.bin"), b"microcode").unwrap();
    std::fs::hard_link(
        early.join("kernel/x86/microcode/GenuineIntel.bin"),
        early.join("kernel/x86/microcode/AuthenticAMD.bin"),
    )
    .unwrap();
    let early_cpio = dir.path().join("early.cpio");
    gnu_cpio(&early, "newc", &early_cpio);
    let su = dir.path().join("su");
    std::fs::write(&su, b"setuid").unwrap();
    std::fs::set_permissions(&su, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let file = format!("{}:/usr/bin/su", su.display());
    let img = built(dir.path(), &["--early-cpio", early_cpio.to_str().unwrap(), "--file", &file]);
    let o = rdbreak(&["ls", img.to_str().unwrap()]);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("Early CPIO image"), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("Main image (zstd")), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("-rwsr-xr-x") && l.ends_with(" usr/bin/su")), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("drwxrwxrwt") && l.ends_with(" tmp")), "{text}");
    let out = dir.path().join("out");
    let o = rdbreak(&["unpack", "--split", "--preserve-setid", img.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let uc = out.join("early/kernel/x86/microcode");
    let (a, b) = (
        std::fs::metadata(uc.join("GenuineIntel.bin")).unwrap(),
        std::fs::metadata(uc.join("AuthenticAMD.bin")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2), "hard links stay links");
    assert_eq!(std::fs::read(uc.join("AuthenticAMD.bin")).unwrap(), b"microcode");
    assert_eq!(mode_of(&out.join("main/usr/bin/su")), 0o4755);
    assert_eq!(mode_of(&out.join("main/tmp")), 0o1777);
    assert!(out.join("main/init").is_file() && !out.join("init").exists());
    // Only some paths.
    let some = dir.path().join("some");
    let o = rdbreak(&["unpack", img.to_str().unwrap(), some.to_str().unwrap(), "usr/bin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(some.join("usr/bin/su").is_file() && !some.join("init").exists() && !some.join("kernel").exists());
    // info and modules.
    let o = rdbreak(&["info", img.to_str().unwrap()]);
    let text = stdout(&o);
    for want in ["in 2 parts", "(early cpio)", "zstd", "made by: rdbreak build", "kernel version: none"] {
        assert!(text.contains(want), "{want}: {text}");
    }
    let o = rdbreak(&["modules", img.to_str().unwrap()]);
    assert!(o.status.success() && stdout(&o).contains("kernel modules (0)"), "{}", stdout(&o));
}

/// README's "Without dracut" from a clone: `target/release/rdbreak build` without `--init`
/// takes the workspace's musl build; with none anywhere, the message says which `--init`.
#[test]
fn build_finds_the_workspace_init_or_says_which_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("clone");
    let bin = clone.join("target/release/rdbreak");
    let init = clone.join("target/x86_64-unknown-linux-musl/release/rdbreak-init");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_rdbreak"), &bin).unwrap();
    let build = |cwd: &Path| {
        Command::new(&bin)
            .args(["build", "--no-default-modules", "--kver", "1.0", "-o", "x.img"])
            .current_dir(cwd)
            .output()
            .unwrap()
    };
    if !Path::new("/usr/lib/rdbreak/rdbreak-init").exists() {
        let o = build(dir.path());
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(
            e.contains("no rdbreak-init found")
                && e.contains("--init target/x86_64-unknown-linux-musl/release/rdbreak-init"),
            "{e}"
        );
        assert!(e.contains("cargo build --release -p rdbreak-init --target x86_64-unknown-linux-musl"), "{e}");
    }
    std::fs::create_dir_all(init.parent().unwrap()).unwrap();
    std::fs::write(&init, tiny_static_elf()).unwrap();
    let o = build(&clone);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(clone.join("x.img").exists());
}

/// The default compression makes an image no larger than `zstd -3` of the same archive
/// (ruzstd's own matcher made it 60% larger). Programs and libraries, like kernel modules.
#[test]
fn the_default_image_is_no_larger_than_zstd_3() {
    if !have("zstd") || !Path::new("/bin/bash").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ours_img = dir.path().join("ours.img");
    std::fs::rename(built(dir.path(), &["--binary", "/bin/bash"]), &ours_img).unwrap();
    let ours = std::fs::read(&ours_img).unwrap();
    let plain = dir.path().join("plain.img");
    std::fs::rename(built(dir.path(), &["--binary", "/bin/bash", "--compress", "none"]), &plain).unwrap();
    let o = sh(&format!("zstd -3 -q -c '{}' | wc -c", plain.display()));
    let zstd3: usize = stdout(&o).trim().parse().unwrap();
    assert_eq!(&ours[..4], [0x28, 0xb5, 0x2f, 0xfd], "zstd");
    assert!(ours.len() <= zstd3, "rdbreak build: {} bytes, zstd -3: {zstd3}", ours.len());
    // And rdbreak reads it back.
    let o = rdbreak(&["ls", ours_img.to_str().unwrap()]);
    assert!(o.status.success() && stdout(&o).contains("bash"), "{}", stderr(&o));
}

/// A stock dracut image (base only, no kernel: a few seconds): `rdbreak ls -l` prints
/// lsinitrd's lines, `cat` its `-f`, `modules` its `-m`, `info` its version and arguments.
#[test]
fn a_stock_dracut_image_reads_as_lsinitrd_reads_it() {
    if !have("dracut") || !have("lsinitrd") || !rustix::process::geteuid().is_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("stock.img");
    let o = sh(&format!(
        "dracut --quiet --no-hostonly --no-kernel -m base --no-early-microcode --kver 6.1.0-rdbreak-test --force --gzip '{}'",
        img.display()
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let img = img.to_str().unwrap();
    let theirs = sh(&format!("TZ=UTC lsinitrd '{img}'"));
    let theirs: Vec<String> = stdout(&theirs)
        .lines()
        .filter(|l| l.len() > 11 && l.as_bytes()[10] == b' ' && "-dlcbps".contains(&l[..1]))
        .map(str::to_string)
        .collect();
    let ours = Command::new(env!("CARGO_BIN_EXE_rdbreak")).args(["ls", "-l", img]).env("TZ", "UTC").output().unwrap();
    assert!(ours.status.success(), "{}", stderr(&ours));
    let ours: Vec<String> = stdout(&ours).lines().map(str::to_string).collect();
    assert!(ours.len() > 100, "{ours:?}");
    assert_eq!(ours, theirs, "rdbreak ls -l and lsinitrd, line for line");
    for path in ["etc/passwd", "usr/lib/dracut/modules.txt"] {
        let theirs = sh(&format!("lsinitrd -f {path} '{img}'"));
        let ours = rdbreak(&["cat", img, path]);
        assert!(ours.status.success() && !ours.stdout.is_empty(), "{path}: {}", stderr(&ours));
        assert_eq!(ours.stdout, theirs.stdout, "{path}");
    }
    let theirs = sh(&format!("lsinitrd -m '{img}'"));
    let ours = rdbreak(&["modules", img]);
    let listed = stdout(&ours);
    let modules: Vec<&str> = listed.lines().filter_map(|l| l.strip_prefix("  ")).collect();
    assert_eq!(modules, ["udev-rules", "base"]);
    for m in modules {
        assert!(stdout(&theirs).lines().any(|l| l == m), "lsinitrd -m lists {m}");
    }
    let info = stdout(&rdbreak(&["info", img]));
    let version = sh("dracut --version");
    let version = stdout(&version).trim().trim_start_matches("dracut ").to_string();
    assert!(info.contains(&format!("made by: dracut {version}")), "{info}");
    assert!(info.contains("dracut arguments: --quiet --no-hostonly --no-kernel -m 'base'"), "{info}");
    assert!(info.contains("part 1: offset 0, gzip,"), "{info}");
}
