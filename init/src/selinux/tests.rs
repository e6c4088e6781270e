use super::*;
use std::fs;

const TEST_XATTR: &str = "user.rdbreak-test";
const SHADOW_T: &[u8] = b"system_u:object_r:shadow_t:s0\0";
const ETC_T: &[u8] = b"system_u:object_r:etc_t:s0\0";
const HOME_T: &[u8] = b"unconfined_u:object_r:admin_home_t:s0\0";

#[test]
fn config_is_read_as_libselinux_reads_it() {
    let cases = [
        ("SELINUX=enforcing\nSELINUXTYPE=targeted\n", Some(Mode::Enforcing)),
        ("# SELINUX=disabled\nSELINUXTYPE=targeted\nSELINUX=permissive\n", Some(Mode::Permissive)),
        ("SELINUX=disabled\n", Some(Mode::Disabled)),
        // The first known value wins; an unknown one is skipped.
        ("SELINUX=bogus\nSELINUX=Enforcing\nSELINUX=disabled\n", Some(Mode::Enforcing)),
        ("SELINUX= \tPERMISSIVE\r\n", Some(Mode::Permissive)),
        // libselinux matches the key at the start of the line only, and no quotes.
        ("  SELINUX=enforcing\nSELINUX = enforcing\nSELINUX=\"enforcing\"\n", None),
        ("SELINUXTYPE=enforcing\n", None),
        ("", None),
    ];
    for (text, want) in cases {
        assert_eq!(config_mode(text), want, "{text:?}");
    }
}

#[test]
fn the_config_is_found_through_the_roots_own_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("usr/share/selinux")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("usr/share/selinux/config"), "SELINUX=enforcing\n").unwrap();
    // Absolute: on the host it would point outside the root.
    std::os::unix::fs::symlink("/usr/share/selinux", root.join("etc/selinux")).unwrap();
    assert_eq!(root_mode(root), Some(Mode::Enforcing));
    assert_eq!(root_mode(&root.join("missing")), None);
}

/// Entries with the inode number 1; `replaced` gives these paths other ones.
fn snap(entries: &[(&str, Kind, Option<&[u8]>)]) -> Snapshot {
    snap_replacing(entries, &[])
}

fn snap_replacing(entries: &[(&str, Kind, Option<&[u8]>)], replaced: &[&str]) -> Snapshot {
    let mut s = Snapshot::default();
    for &(p, k, l) in entries {
        s.insert(PathBuf::from(p), k, if replaced.contains(&p) { 2 } else { 1 }, Ok(l));
    }
    s
}

fn always_older(_: &Path) -> Option<bool> {
    Some(true)
}

#[test]
fn plan_restores_lost_and_changed_labels_and_lists_new_files() {
    use Kind::*;
    let mut before = snap(&[
        ("/etc", Dir, Some(ETC_T)),
        ("/etc/shadow", File, Some(SHADOW_T)),
        ("/etc/fstab", File, Some(ETC_T)),
        ("/etc/hosts", File, Some(ETC_T)),
        ("/etc/unlabelled", File, None),
        ("/etc/was-a-file", File, Some(ETC_T)),
        ("/etc/gone", File, Some(ETC_T)),
    ]);
    before.insert("/etc/odd".into(), File, 1, Err(Errno::RANGE));
    let replaced = ["/etc/shadow", "/etc/fstab", "/etc/was-a-file", "/etc/new"];
    let mut after = snap_replacing(
        &[
            ("/etc", Dir, Some(ETC_T)),
            // passwd wrote a new file and renamed it over the old one.
            ("/etc/shadow", File, None),
            // Moved in from /root: it kept admin_home_t.
            ("/etc/fstab", File, Some(HOME_T)),
            ("/etc/hosts", File, Some(ETC_T)),
            ("/etc/unlabelled", File, None),
            ("/etc/was-a-file", Dir, None),
            ("/etc/odd", File, None),
            ("/etc/new", File, None),
            ("/etc/new-copied-with-label", File, Some(ETC_T)),
        ],
        &replaced,
    );
    after.insert("/etc/hosts-unreadable".into(), File, 1, Err(Errno::ACCESS));
    let p = plan(&before, &after, &always_older);
    assert_eq!(
        p.restore,
        [(PathBuf::from("/etc/fstab"), ETC_T.to_vec()), (PathBuf::from("/etc/shadow"), SHADOW_T.to_vec())]
    );
    assert_eq!(p.unlabelled, [PathBuf::from("/etc/new"), PathBuf::from("/etc/was-a-file")]);
    assert_eq!(plan(&before, &before, &always_older), Plan::default());
}

/// `chcon` or `restorecon` (after `load_policy -i`) on the same file is the user's choice; a file
/// replaced at the path is not, even when it reuses the freed inode's number.
#[test]
fn a_label_changed_in_place_is_kept() {
    let before = snap(&[("/etc/hosts", Kind::File, Some(ETC_T)), ("/etc/x", Kind::File, Some(ETC_T))]);
    let after = snap(&[("/etc/hosts", Kind::File, Some(HOME_T)), ("/etc/x", Kind::File, None)]);
    let p = plan(&before, &after, &always_older);
    assert_eq!(p.restore, [(PathBuf::from("/etc/x"), ETC_T.to_vec())], "a lost label is always given back");
    let p = plan(&before, &after, &|_| Some(false));
    assert_eq!(p.restore.len(), 2, "born in the session: a new file with an old inode number");
    let p = plan(&before, &after, &|_| None);
    assert_eq!(p.restore.len(), 1, "no birth time: the inode number decides");
}

#[test]
fn after_a_truncated_walk_unknown_paths_are_not_called_new() {
    let mut before = snap(&[("/etc/shadow", Kind::File, Some(SHADOW_T))]);
    before.truncated = true;
    let after = snap(&[("/etc/shadow", Kind::File, None), ("/etc/zzz", Kind::File, None)]);
    let p = plan(&before, &after, &always_older);
    assert_eq!(p.restore.len(), 1);
    assert!(p.unlabelled.is_empty());
}

#[test]
fn report_says_what_was_done_and_what_is_left() {
    let restored = Outcome { restored: vec![(PathBuf::from("/etc/shadow"), SHADOW_T.to_vec())], ..Outcome::default() };
    assert_eq!(
        report(&restored, "/sysroot"),
        ["rdbreak: SELinux: restored the label of /etc/shadow (system_u:object_r:shadow_t:s0)"]
    );
    assert!(report(&Outcome::default(), "/sysroot").is_empty());

    let new = Outcome { unlabelled: vec![PathBuf::from("/etc/new.conf")], ..Outcome::default() };
    let lines = report(&new, "/sysroot");
    assert_eq!(lines[0], "rdbreak: SELinux: new files without a label (only the policy knows theirs): /etc/new.conf");
    assert!(lines[1].contains("touch /sysroot/.autorelabel"), "{lines:?}");
    assert!(lines[1].contains("inside chroot /sysroot: load_policy -i; restorecon -Rv /etc /root"), "{lines:?}");
    assert!(!lines[1].contains("remount"), "{lines:?}");

    let already = Outcome { autorelabel: true, ..new };
    assert_eq!(
        report(&already, "/sysroot")[1],
        "rdbreak: SELinux: /sysroot/.autorelabel is there: the next boot relabels the whole root"
    );

    let read_only =
        Outcome { failed: vec![(PathBuf::from("/etc/shadow"), SHADOW_T.to_vec(), Errno::ROFS)], ..Outcome::default() };
    let lines = report(&read_only, "/sysroot");
    assert!(lines[0]
        .starts_with("rdbreak: SELinux: cannot restore the label of /etc/shadow (system_u:object_r:shadow_t:s0): "));
    assert!(lines[1].contains("mount -o remount,rw /sysroot; touch /sysroot/.autorelabel"), "{lines:?}");
}

#[test]
fn report_is_bounded_and_shows_no_control_characters() {
    let many = Outcome {
        restored: (0..30).map(|i| (PathBuf::from(format!("/etc/f{i}")), ETC_T.to_vec())).collect(),
        unlabelled: vec![PathBuf::from("/etc/\x1b[2Jevil"); 25],
        ..Outcome::default()
    };
    let lines = report(&many, "/sysroot");
    assert_eq!(lines.len(), MAX_LISTED + 3);
    assert_eq!(lines[MAX_LISTED], "rdbreak: SELinux: … and 10 more labels restored");
    let listed = &lines[MAX_LISTED + 1];
    assert!(listed.ends_with("… and 5 more"), "{listed}");
    assert!(!lines.iter().any(|l| l.chars().any(char::is_control)), "{lines:?}");
    let hostile = Outcome { restored: vec![("/etc/x".into(), b"a\nb\x07\0".to_vec())], ..Outcome::default() };
    assert_eq!(report(&hostile, "/sysroot"), ["rdbreak: SELinux: restored the label of /etc/x (a?b?)"]);
}

/// A root as a labelled RHEL has it, with the test's xattr name standing in for security.selinux.
fn labelled_root(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("root");
    for d in ["etc/selinux", "etc/ssh", "root/.ssh", "root/a/b", "outside"] {
        fs::create_dir_all(r.join(d)).unwrap();
    }
    fs::write(r.join("etc/selinux/config"), config).unwrap();
    for (p, label) in [
        ("etc/shadow", SHADOW_T),
        ("etc/shadow-", SHADOW_T),
        ("etc/passwd", ETC_T),
        ("etc/fstab", ETC_T),
        ("etc/ssh/sshd_config", ETC_T),
        ("root/.bashrc", HOME_T),
        ("root/.ssh/authorized_keys", HOME_T),
        ("root/a/b/deep", HOME_T),
        ("outside/file", ETC_T),
    ] {
        fs::write(r.join(p), p).unwrap();
        set(&r.join(p), label);
    }
    for d in ["etc", "etc/selinux", "etc/ssh", "root", "root/.ssh"] {
        set(&r.join(d), if d.starts_with("root") { HOME_T } else { ETC_T });
    }
    // Never followed: the walk must not read or write through it.
    std::os::unix::fs::symlink("../outside", r.join("etc/link")).unwrap();
    dir
}

fn set(p: &Path, label: &[u8]) {
    rustix::fs::lsetxattr(p, TEST_XATTR, label, XattrFlags::empty()).unwrap();
}

fn get(p: &Path) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    read_label(p, TEST_XATTR, &mut buf).unwrap().map(<[u8]>::to_vec)
}

/// The recovery session by hand: `passwd` replaces shadow, an edited fstab is moved in from
/// /root, a new file is created, a config is relabelled in place; the session's end gives the
/// lost labels back, keeps the one set on purpose and lists the new file.
#[test]
fn a_session_on_a_labelled_tree_gives_the_labels_back() {
    let dir = labelled_root("SELINUX=enforcing\nSELINUXTYPE=targeted\n");
    let r = dir.path().join("root");
    let s = Session::begin(&r, TEST_XATTR).expect("an enforcing, labelled root");
    assert!(s.before.entries.contains_key(Path::new("/etc/link")));
    assert!(!s.before.entries.contains_key(Path::new("/etc/link/file")), "no walk through a symlink");
    assert!(s.before.entries.contains_key(Path::new("/root/.ssh/authorized_keys")));
    assert!(!s.before.entries.contains_key(Path::new("/root/a/b/deep")), "/root is remembered near the top");

    fs::write(r.join("etc/nshadow"), "root:$y$new:19000::::::\n").unwrap();
    fs::rename(r.join("etc/nshadow"), r.join("etc/shadow")).unwrap();
    fs::write(r.join("root/fstab.new"), "UUID=x / ext4 defaults 0 1\n").unwrap();
    set(&r.join("root/fstab.new"), HOME_T);
    fs::rename(r.join("root/fstab.new"), r.join("etc/fstab")).unwrap();
    fs::write(r.join("etc/new.conf"), "x\n").unwrap();
    // As chcon would: the same file, relabelled on purpose.
    set(&r.join("etc/ssh/sshd_config"), HOME_T);
    fs::write(r.join("outside/file"), "changed\n").unwrap();
    fs::remove_file(r.join("root/a/b/deep")).unwrap();
    fs::write(r.join("root/a/b/deep"), "x\n").unwrap();

    let lines = s.end("/sysroot");
    assert_eq!(
        lines[..2],
        [
            "rdbreak: SELinux: restored the label of /etc/fstab (system_u:object_r:etc_t:s0)",
            "rdbreak: SELinux: restored the label of /etc/shadow (system_u:object_r:shadow_t:s0)",
        ]
    );
    assert_eq!(lines[2], "rdbreak: SELinux: new files without a label (only the policy knows theirs): /etc/new.conf");
    assert!(lines[3].contains("touch /sysroot/.autorelabel"), "{lines:?}");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(get(&r.join("etc/shadow")).as_deref(), Some(SHADOW_T));
    assert_eq!(get(&r.join("etc/fstab")).as_deref(), Some(ETC_T));
    assert_eq!(get(&r.join("etc/new.conf")), None, "a new file is not given a guessed label");
    assert_eq!(get(&r.join("root/a/b/deep")), None, "deeper than remembered: untouched");
    assert_eq!(get(&r.join("outside/file")).as_deref(), Some(ETC_T));
    assert_eq!(get(&r.join("etc/ssh/sshd_config")).as_deref(), Some(HOME_T), "a label set in place stays");

    // A second session: nothing changed, nothing said; /.autorelabel is never removed.
    fs::write(r.join(".autorelabel"), "").unwrap();
    let s = Session::begin(&r, TEST_XATTR).unwrap();
    assert!(s.end("/sysroot").is_empty());
    assert!(r.join(".autorelabel").exists());
}

#[test]
fn a_pending_autorelabel_is_named_instead_of_advised() {
    let dir = labelled_root("SELINUX=permissive\n");
    let r = dir.path().join("root");
    let s = Session::begin(&r, TEST_XATTR).expect("permissive counts");
    fs::write(r.join("root/.new_history"), "x\n").unwrap();
    fs::write(r.join(".autorelabel"), "").unwrap();
    let lines = s.end("/mnt");
    assert_eq!(
        lines.last().unwrap(),
        "rdbreak: SELinux: /mnt/.autorelabel is there: the next boot relabels the whole root"
    );
}

#[test]
fn no_session_without_selinux_or_labels() {
    let disabled = labelled_root("SELINUX=disabled\n");
    assert!(Session::begin(&disabled.path().join("root"), TEST_XATTR).is_none());
    let absent = labelled_root("");
    fs::remove_file(absent.path().join("root/etc/selinux/config")).unwrap();
    assert!(Session::begin(&absent.path().join("root"), TEST_XATTR).is_none());
    let enforcing = labelled_root("SELINUX=enforcing\n");
    // Labels under another name: an enforcing config on an unlabelled root has nothing to keep.
    assert!(Session::begin(&enforcing.path().join("root"), "user.rdbreak-none").is_none());
}

#[test]
fn the_walk_stops_at_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    fs::create_dir_all(r.join("etc")).unwrap();
    for i in 0..(MAX_ENTRIES + 5) {
        fs::write(r.join(format!("etc/f{i}")), "").unwrap();
    }
    let s = snapshot(r, TREES, TEST_XATTR);
    assert!(s.truncated);
    assert_eq!(s.len(), MAX_ENTRIES);
}

#[test]
fn birth_times_tell_a_file_made_in_the_session() {
    // On the project's own disk: ext4, xfs and btrfs keep birth times (tmpfs may not).
    let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    let old = dir.path().join("old");
    fs::write(&old, "").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let new = dir.path().join("new");
    fs::write(&new, "").unwrap();
    assert_eq!((born_before(&old, since), born_before(&new, since)), (Some(true), Some(false)));
}
