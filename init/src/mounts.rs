//! The API filesystems PID 1 mounts first, with dracut's flags (init.sh), and helpers to read
//! the mount table.

use rustix::mount::MountFlags;

pub struct EarlyMount {
    pub fstype: &'static str,
    pub target: &'static str,
    pub flags: MountFlags,
    pub data: &'static str,
}

const NOSUID_NOEXEC_NODEV: MountFlags = MountFlags::NOSUID.union(MountFlags::NOEXEC).union(MountFlags::NODEV);

/// In order: what each later step needs must already be there. The first [`FIRST`] are what the
/// hand-off decision needs (the command line in /proc, the log at /dev/kmsg); the rest are
/// mounted only when rdbreak boots, so a hand-off does not pay for them.
pub const EARLY: &[EarlyMount] = &[
    EarlyMount { fstype: "proc", target: "/proc", flags: NOSUID_NOEXEC_NODEV, data: "" },
    EarlyMount {
        fstype: "devtmpfs",
        target: "/dev",
        flags: MountFlags::NOEXEC.union(MountFlags::NOSUID).union(MountFlags::STRICTATIME),
        data: "mode=0755",
    },
    EarlyMount { fstype: "sysfs", target: "/sys", flags: NOSUID_NOEXEC_NODEV, data: "" },
    EarlyMount {
        fstype: "devpts",
        target: "/dev/pts",
        flags: MountFlags::NOEXEC.union(MountFlags::NOSUID),
        data: "gid=5,mode=620,ptmxmode=000",
    },
    EarlyMount {
        fstype: "tmpfs",
        target: "/dev/shm",
        flags: NOSUID_NOEXEC_NODEV.union(MountFlags::STRICTATIME),
        data: "mode=1777",
    },
    EarlyMount {
        fstype: "tmpfs",
        target: "/run",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV).union(MountFlags::STRICTATIME),
        data: "mode=0755",
    },
];

/// How many of [`EARLY`] come before the hand-off decision.
pub const FIRST: usize = 2;

/// One line of /proc/self/mountinfo, the parts we use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    pub target: String,
    pub fstype: String,
    pub source: String,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
    /// Superblock options (`rw,errors=remount-ro`).
    pub super_options: String,
}

/// Decodes the octal escapes of mountinfo and fstab (getmntent's): `\040` is a space, `\011` a
/// tab. A sequence above `\377` stays as it is.
pub fn unoctal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = (i + 3 < b.len() && b[i] == b'\\' && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)))
            .then(|| u32::from(b[i + 1] - b'0') * 64 + u32::from(b[i + 2] - b'0') * 8 + u32::from(b[i + 3] - b'0'))
            .and_then(|v| u8::try_from(v).ok());
        if let Some(v) = octal {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(MountInfo {
                target: unoctal(l.get(4)?),
                options: l.get(5)?.to_string(),
                fstype: r.first()?.to_string(),
                source: unoctal(r.get(1)?),
                super_options: r.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

pub fn mount_table() -> Vec<MountInfo> {
    parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// The mount at exactly `target`, the topmost if stacked.
pub fn mounted_at(target: &str) -> Option<MountInfo> {
    mount_table().into_iter().rev().find(|m| m.target == target)
}

/// Mounts what the hand-off decision needs: /proc and /dev (see [`EARLY`]).
pub fn mount_first() -> Vec<String> {
    mount_each(&EARLY[..FIRST])
}

/// Mounts the early filesystems and makes dracut's links and directories in them.
/// Already-mounted ones ([`mount_first`]'s, or all after a re-exec from a panic) are left alone.
pub fn mount_early() -> Vec<String> {
    let errors = mount_each(EARLY);
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(target, link);
    }
    for d in ["/run/initramfs", "/run/initramfs/log", "/run/lock", "/run/log", "/sysroot", "/tmp"] {
        let _ = std::fs::create_dir_all(d);
    }
    errors
}

fn mount_each(list: &[EarlyMount]) -> Vec<String> {
    // The table is read once: on the first boot /proc is not there yet, so nothing counts as
    // mounted, which is so; after a re-exec everything is.
    let table = mount_table();
    let mut errors = Vec::new();
    for m in list.iter().filter(|m| !table.iter().any(|x| x.target == m.target)) {
        let _ = std::fs::create_dir_all(m.target);
        let data = std::ffi::CString::new(m.data).unwrap_or_default();
        if let Err(e) = rustix::mount::mount(m.fstype, m.target, m.fstype, m.flags, Some(data.as_c_str())) {
            errors.push(format!("Cannot mount {} on {}: {e}", m.fstype, m.target));
        }
    }
    errors
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as `/proc/self/mountinfo`; never panics.
pub fn fuzz_one(data: &[u8]) {
    let _ = parse_mountinfo(&String::from_utf8_lossy(data));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_off_decision_mounts_only_what_it_reads() {
        // /proc for the command line, /dev for /dev/kmsg; /sys, /dev/pts, /dev/shm and /run wait
        // until rdbreak boots.
        let first: Vec<&str> = EARLY[..FIRST].iter().map(|m| m.target).collect();
        assert_eq!(first, ["/proc", "/dev"]);
        // Each mount point lies on one mounted before it, or on the image's root.
        for (i, m) in EARLY.iter().enumerate() {
            let parent = m.target.rsplit_once('/').map_or("", |(p, _)| p);
            assert!(parent.is_empty() || EARLY[..i].iter().any(|e| e.target == parent), "{} before {parent}", m.target);
        }
    }

    #[test]
    fn parses_mountinfo_lines() {
        let text = "22 1 0:21 / / rw,relatime - rootfs rootfs rw\n\
                    30 22 254:1 / /sysroot ro,relatime shared:1 - ext4 /dev/vda1 ro,errors=remount-ro\n\
                    31 22 0:5 / /mnt/a\\040b rw - tmpfs none rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].target, "/sysroot");
        assert_eq!(m[1].fstype, "ext4");
        assert_eq!(m[1].source, "/dev/vda1");
        assert_eq!(m[1].options, "ro,relatime");
        assert_eq!(m[1].super_options, "ro,errors=remount-ro");
        assert_eq!(m[2].target, "/mnt/a b");
        // Found by fuzzing: \701 is not a byte; it stays text instead of overflowing.
        assert_eq!(unoctal("a\\701b\\101"), "a\\701bA");
    }
}
