//! The root filesystem: what `root=` names, which device that is, how to mount it, and which init
//! to start on it, all with dracut's rules.

use std::path::{Component, Path, PathBuf};

use rustix::mount::MountFlags;
use thiserror::Error;

use crate::cmdline::Cmdline;
use crate::devices::{self, BlockDev};

/// What `root=` asks for, in every form dracut understands for a block device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootSpec {
    Uuid(String),
    Label(String),
    PartUuid(String),
    PartLabel(String),
    /// A device node such as `/dev/vda1` (or any other path under /dev).
    Path(String),
    /// `MAJ:MIN`.
    DevNo(u32, u32),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RootError {
    #[error("No or empty root= argument")]
    Missing,
    #[error("Don't know how to handle 'root={0}'")]
    Unsupported(String),
    #[error("Don't know how to handle 'root={}': {why}; name a device as /dev/NAME, UUID=, LABEL=, PARTUUID= or PARTLABEL=", .value.escape_debug())]
    BadPath { value: String, why: &'static str },
    #[error(
        "root={spec} matches more than one device: {devices}; refusing to guess. Use root=PARTUUID= or a device path"
    )]
    Ambiguous { spec: String, devices: String },
    #[error("root={spec} is {dev}, which holds {fstype}, not a filesystem to boot from")]
    NotMountable { spec: String, dev: String, fstype: String },
}

impl RootSpec {
    pub fn parse(value: &str) -> Result<RootSpec, RootError> {
        let v = value.strip_prefix("block:").unwrap_or(value);
        if v.is_empty() {
            return Err(RootError::Missing);
        }
        let bad = |why| Err(RootError::BadPath { value: value.to_string(), why });
        if v.contains('\0') {
            return bad("it contains a NUL byte");
        }
        // Every form that is a path (by-uuid/… too) stays a name under /dev: no step up or aside.
        if v.starts_with('/') {
            if v.split('/').any(|c| c == "." || c == "..") {
                return bad("a device path may not contain '.' or '..'");
            }
            if !v.starts_with("/dev/") {
                return bad("a device path must be under /dev/");
            }
        }
        let tagged = [
            ("UUID=", RootSpec::Uuid as fn(String) -> RootSpec),
            ("LABEL=", RootSpec::Label),
            ("PARTUUID=", RootSpec::PartUuid),
            ("PARTLABEL=", RootSpec::PartLabel),
            ("/dev/disk/by-uuid/", |s| RootSpec::Uuid(devices::unescape(&s))),
            ("/dev/disk/by-label/", |s| RootSpec::Label(devices::unescape(&s))),
            ("/dev/disk/by-partuuid/", |s| RootSpec::PartUuid(devices::unescape(&s))),
            ("/dev/disk/by-partlabel/", |s| RootSpec::PartLabel(devices::unescape(&s))),
        ];
        for (prefix, make) in tagged {
            if let Some(rest) = v.strip_prefix(prefix) {
                if rest.is_empty() {
                    return Err(RootError::Unsupported(value.to_string()));
                }
                return Ok(make(rest.to_string()));
            }
        }
        if let Some((a, b)) = v.split_once(':') {
            if let (Ok(ma), Ok(mi)) = (a.parse(), b.parse()) {
                return Ok(RootSpec::DevNo(ma, mi));
            }
        }
        if v.starts_with("/dev/") && v.len() > 5 {
            return Ok(RootSpec::Path(v.to_string()));
        }
        Err(RootError::Unsupported(value.to_string()))
    }

    /// The path dracut waits for (`/dev/disk/by-uuid/…`), used in messages.
    pub fn dev_path(&self) -> String {
        match self {
            RootSpec::Uuid(u) => format!("/dev/disk/by-uuid/{}", devices::escape(u)),
            RootSpec::Label(l) => format!("/dev/disk/by-label/{}", devices::escape(l)),
            RootSpec::PartUuid(u) => format!("/dev/disk/by-partuuid/{}", devices::escape(u)),
            RootSpec::PartLabel(l) => format!("/dev/disk/by-partlabel/{}", devices::escape(l)),
            RootSpec::Path(p) => p.clone(),
            RootSpec::DevNo(a, b) => format!("/dev/block/{a}:{b}"),
        }
    }

    fn matches(&self, d: &BlockDev, dev_dir: &Path) -> bool {
        let fs = d.fs.as_ref();
        match self {
            RootSpec::Uuid(u) => fs.and_then(|f| f.uuid.as_deref()).is_some_and(|x| x.eq_ignore_ascii_case(u)),
            RootSpec::Label(l) => fs.and_then(|f| f.label.as_deref()) == Some(l),
            RootSpec::PartUuid(u) => d.partuuid.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u)),
            RootSpec::PartLabel(l) => d.partlabel.as_deref() == Some(l),
            RootSpec::DevNo(a, b) => d.major == *a && d.minor == *b,
            RootSpec::Path(p) => {
                let rel = p.strip_prefix("/dev/").unwrap_or(p);
                if rel == d.name {
                    return true;
                }
                // Any other link under /dev (by-id, mapper, …) that leads to this device.
                std::fs::canonicalize(dev_dir.join(rel)).is_ok_and(|t| t == dev_dir.join(&d.name))
            }
        }
    }
}

/// Finds the one device `spec` names among the probed devices, to mount it as a filesystem.
/// Ok(None) means "not there yet".
pub fn find<'a>(spec: &RootSpec, devs: &'a [BlockDev], dev_dir: &Path) -> Result<Option<&'a BlockDev>, RootError> {
    match find_device(spec, devs, dev_dir)? {
        Some(d) => match &d.fs {
            Some(fs) if !fs.mountable() => Err(RootError::NotMountable {
                spec: spec.dev_path(),
                dev: format!("/dev/{}", d.name),
                fstype: fs.fstype.clone(),
            }),
            _ => Ok(Some(d)),
        },
        None => Ok(None),
    }
}

/// Finds the one device `spec` names, whatever it holds (a swap for `resume=`).
pub fn find_device<'a>(
    spec: &RootSpec,
    devs: &'a [BlockDev],
    dev_dir: &Path,
) -> Result<Option<&'a BlockDev>, RootError> {
    let hits: Vec<&BlockDev> = devs.iter().filter(|d| spec.matches(d, dev_dir)).collect();
    match hits.as_slice() {
        [] => Ok(None),
        [d] => Ok(Some(d)),
        many => one_filesystem(many).map(Some).ok_or_else(|| RootError::Ambiguous {
            spec: spec.dev_path(),
            devices: many.iter().map(|d| format!("/dev/{}", d.name)).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// When every device found is a distinct member of one multi-device filesystem (btrfs RAID),
/// the first of them, which the mount names. A cloned disk shares the UUID but also the device
/// number, so it stays ambiguous.
fn one_filesystem<'a>(hits: &[&'a BlockDev]) -> Option<&'a BlockDev> {
    let first = hits.first()?.fs.as_ref()?;
    let devices = first.member?.devices;
    let mut devids = Vec::new();
    for d in hits {
        let fs = d.fs.as_ref().filter(|fs| fs.same_multi_device(first))?;
        let m = fs.member.filter(|m| m.devices == devices && !devids.contains(&m.devid))?;
        devids.push(m.devid);
    }
    hits.iter().min_by_key(|d| d.fs.as_ref().and_then(|f| f.member).map(|m| m.devid)).copied()
}

/// The other devices of the multi-device filesystem on `root`, as `device=` mount options: the
/// kernel must know every member before the mount (udev's btrfs rule does that for dracut).
pub fn member_options(root: &BlockDev, devs: &[BlockDev]) -> Vec<String> {
    let Some(fs) = root.fs.as_ref().filter(|f| f.member.is_some_and(|m| m.devices > 1)) else {
        return Vec::new();
    };
    devs.iter()
        .filter(|d| d.name != root.name)
        .filter(|d| d.fs.as_ref().is_some_and(|f| f.same_multi_device(fs)))
        .map(|d| format!("device=/dev/{}", d.name))
        .collect()
}

/// Mount options split the way mount(8) splits them: flags for the syscall, the rest as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MountFlags,
    pub data: String,
    /// The last of `ro`/`rw` given, if any: Some(true) is read-only.
    pub read_only: Option<bool>,
}

pub fn parse_options(opts: &str) -> MountOptions {
    let mut o = MountOptions { flags: MountFlags::empty(), data: String::new(), read_only: None };
    let mut data: Vec<&str> = Vec::new();
    for opt in opts.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "ro" => {
                o.read_only = Some(true);
                continue;
            }
            "rw" => {
                o.read_only = Some(false);
                continue;
            }
            // Userspace-only options: meaningful to mount(8) and fstab, never to the kernel.
            "defaults" | "auto" | "noauto" | "user" | "nouser" | "users" | "nofail" | "_netdev" | "owner" | "group"
            | "remount" => continue,
            _ if opt.starts_with("x-") || opt.starts_with("comment=") => continue,
            "nosuid" => (MountFlags::NOSUID, MountFlags::empty()),
            "suid" => (MountFlags::empty(), MountFlags::NOSUID),
            "nodev" => (MountFlags::NODEV, MountFlags::empty()),
            "dev" => (MountFlags::empty(), MountFlags::NODEV),
            "noexec" => (MountFlags::NOEXEC, MountFlags::empty()),
            "exec" => (MountFlags::empty(), MountFlags::NOEXEC),
            "sync" => (MountFlags::SYNCHRONOUS, MountFlags::empty()),
            "async" => (MountFlags::empty(), MountFlags::SYNCHRONOUS),
            "dirsync" => (MountFlags::DIRSYNC, MountFlags::empty()),
            "noatime" => (MountFlags::NOATIME, MountFlags::empty()),
            "atime" => (MountFlags::empty(), MountFlags::NOATIME),
            "nodiratime" => (MountFlags::NODIRATIME, MountFlags::empty()),
            "diratime" => (MountFlags::empty(), MountFlags::NODIRATIME),
            "relatime" => (MountFlags::RELATIME, MountFlags::empty()),
            "norelatime" => (MountFlags::empty(), MountFlags::RELATIME),
            "strictatime" => (MountFlags::STRICTATIME, MountFlags::empty()),
            "nostrictatime" => (MountFlags::empty(), MountFlags::STRICTATIME),
            "lazytime" => (MountFlags::LAZYTIME, MountFlags::empty()),
            "nolazytime" => (MountFlags::empty(), MountFlags::LAZYTIME),
            "silent" => (MountFlags::SILENT, MountFlags::empty()),
            "loud" => (MountFlags::empty(), MountFlags::SILENT),
            _ => {
                data.push(opt);
                continue;
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    o.data = data.join(",");
    o
}

/// The options for /sysroot as dracut's parse-root-opts builds them: `rootflags=`, then `ro`
/// and/or `rw` appended in that order (so `rw` wins when both are given).
pub fn root_options(cmdline: &Cmdline) -> String {
    let mut s = cmdline.get("rootflags").unwrap_or("").to_string();
    if cmdline.last("ro").is_some() {
        s += ",ro";
    }
    if cmdline.last("rw").is_some() {
        s += ",rw";
    }
    s.trim_start_matches(',').to_string()
}

/// Resolves `path` inside `root` the way the real system would see it after switch_root: absolute
/// symlinks are taken relative to `root`, `..` never climbs above it. Returns the host path.
pub fn resolve_in(root: &Path, path: &str) -> Option<PathBuf> {
    let mut parts: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: Vec<std::ffi::OsString> = Path::new(path)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            parts.pop();
            continue;
        }
        let here: PathBuf = root.join(parts.iter().collect::<PathBuf>()).join(&c);
        match std::fs::read_link(&here) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                if target.is_absolute() {
                    parts.clear();
                }
                for tc in target.components().rev() {
                    match tc {
                        Component::Normal(n) => todo.push(n.to_os_string()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            Err(_) => parts.push(c),
        }
    }
    Some(root.join(parts.iter().collect::<PathBuf>()))
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InitError {
    #[error("Cannot find init! Tried {tried}. Please check to make sure you passed a valid root filesystem!")]
    NotFound { tried: String },
}

/// Picks the init to start: `init=` if given, else `/sbin/init`, `/etc/init`, `/bin/init`,
/// `/bin/sh`. A candidate must resolve (inside `root`) to an executable regular file.
pub fn find_init(root: &Path, cmdline: &Cmdline) -> Result<String, InitError> {
    use std::os::unix::fs::PermissionsExt;
    let mut candidates: Vec<String> = Vec::new();
    if let Some(i) = cmdline.get("init").filter(|i| !i.is_empty()) {
        candidates.push(i.to_string());
    }
    for c in ["/sbin/init", "/etc/init", "/bin/init", "/bin/sh"] {
        if !candidates.iter().any(|x| x == c) {
            candidates.push(c.to_string());
        }
    }
    for c in &candidates {
        let Some(p) = resolve_in(root, c) else {
            continue;
        };
        if let Ok(m) = std::fs::metadata(&p) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(c.clone());
            }
        }
        log::warn!("init candidate {c} is not an executable file in {}", root.display());
    }
    Err(InitError::NotFound { tried: candidates.join(", ") })
}

/// The arguments the real init gets (dracut's rule): with `init=`, every token of /proc/cmdline
/// after it except `console=` and `BOOT_IMAGE=`; otherwise only runlevel-like tokens.
pub fn init_args(proc_cmdline: &Cmdline) -> Vec<String> {
    let args = proc_cmdline.args();
    let show = |a: &crate::cmdline::Arg| match &a.value {
        Some(v) => format!("{}={v}", a.key),
        None => a.key.clone(),
    };
    if let Some(pos) = args.iter().rposition(|a| a.key == "init") {
        args[pos + 1..].iter().filter(|a| a.key != "console" && a.key != "BOOT_IMAGE").map(show).collect()
    } else {
        args.iter()
            .filter(|a| a.value.is_none())
            .filter(|a| {
                matches!(a.key.as_str(), "s" | "S" | "single" | "emergency" | "auto")
                    || (a.key.len() == 1 && a.key.as_bytes()[0].is_ascii_digit())
            })
            .map(show)
            .collect()
    }
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as a `root=` value, as mount options
/// and as a device name with udev's escapes; never panics.
pub fn fuzz_one(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(spec) = RootSpec::parse(&text) {
        let _ = spec.dev_path();
    }
    let _ = parse_options(&text);
    let _ = devices::unescape(&text);
    let _ = devices::escape(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_is_no_root_but_is_a_device_to_resume_from() {
        let swap = BlockDev {
            name: "vdb".into(),
            fs: Some(crate::probe::Filesystem {
                fstype: "swsuspend".into(),
                uuid: Some("s".into()),
                label: None,
                member: None,
            }),
            ..Default::default()
        };
        let spec = RootSpec::parse("UUID=s").unwrap();
        let devs = [swap];
        assert!(matches!(find(&spec, &devs, Path::new("/nonexistent")), Err(RootError::NotMountable { .. })));
        assert_eq!(find_device(&spec, &devs, Path::new("/nonexistent")).unwrap().map(|d| d.name.as_str()), Some("vdb"));
    }
    use crate::probe::Filesystem;

    #[test]
    fn parses_every_root_form() {
        use RootSpec::*;
        assert_eq!(RootSpec::parse("UUID=abc").unwrap(), Uuid("abc".into()));
        assert_eq!(RootSpec::parse("LABEL=my root").unwrap(), Label("my root".into()));
        assert_eq!(RootSpec::parse("PARTUUID=1-2").unwrap(), PartUuid("1-2".into()));
        assert_eq!(RootSpec::parse("PARTLABEL=x").unwrap(), PartLabel("x".into()));
        assert_eq!(RootSpec::parse("/dev/disk/by-label/my\\x20root").unwrap(), Label("my root".into()));
        assert_eq!(RootSpec::parse("/dev/disk/by-uuid/abc").unwrap(), Uuid("abc".into()));
        assert_eq!(RootSpec::parse("/dev/disk/by-partuuid/p").unwrap(), PartUuid("p".into()));
        assert_eq!(RootSpec::parse("/dev/disk/by-partlabel/p").unwrap(), PartLabel("p".into()));
        assert_eq!(RootSpec::parse("block:/dev/vda1").unwrap(), Path("/dev/vda1".into()));
        assert_eq!(RootSpec::parse("/dev/vda1").unwrap(), Path("/dev/vda1".into()));
        assert_eq!(RootSpec::parse("254:1").unwrap(), DevNo(254, 1));
        assert_eq!(RootSpec::parse(""), Err(RootError::Missing));
        assert_eq!(RootSpec::parse("nfs:1.2.3.4:/x"), Err(RootError::Unsupported("nfs:1.2.3.4:/x".into())));
        assert_eq!(RootSpec::parse("UUID="), Err(RootError::Unsupported("UUID=".into())));
        assert!(RootSpec::parse("/dev/").is_err());
        assert!(RootSpec::parse("vda1").is_err());
    }

    /// rdbreak issue 14 #6: only `/../` was refused, so `/dev/..`, `/dev/sda/..` and a NUL passed.
    #[test]
    fn device_paths_stay_under_dev() {
        let why = |v: &str| match RootSpec::parse(v) {
            Err(RootError::BadPath { why, .. }) => why,
            other => panic!("root={v:?} gave {other:?}"),
        };
        let dots = "a device path may not contain '.' or '..'";
        for v in [
            "/dev/..",
            "/dev/sda/..",
            "/dev/./sda",
            "/dev/../etc/shadow",
            "block:/dev/.",
            "/dev/disk/by-uuid/../../sda",
        ] {
            assert_eq!(why(v), dots, "{v}");
        }
        assert_eq!(why("/dev/\0sda"), "it contains a NUL byte");
        assert_eq!(why("LABEL=a\0b"), "it contains a NUL byte");
        assert_eq!(why("/etc/passwd"), "a device path must be under /dev/");
        assert_eq!(why("/devices/sda"), "a device path must be under /dev/");
        let shown = RootSpec::parse("/dev/\0sda").unwrap_err().to_string();
        assert!(shown.starts_with("Don't know how to handle 'root=/dev/\\0sda': it contains a NUL byte"), "{shown}");
        // Dots inside a name are fine.
        assert_eq!(RootSpec::parse("/dev/mapper/vg.root").unwrap(), RootSpec::Path("/dev/mapper/vg.root".into()));
        assert_eq!(RootSpec::parse("/dev/disk/by-label/..x").unwrap(), RootSpec::Label("..x".into()));
    }

    fn dev(name: &str, fs: Option<(&str, &str, &str)>, partuuid: Option<&str>) -> BlockDev {
        BlockDev {
            name: name.into(),
            major: 254,
            minor: name.bytes().map(u32::from).sum(),
            fs: fs.map(|(t, u, l)| Filesystem {
                fstype: t.into(),
                uuid: Some(u.into()),
                label: Some(l.into()),
                member: None,
            }),
            partuuid: partuuid.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn finds_devices_and_refuses_bad_ones() {
        let devs = vec![
            dev("vda", None, None),
            dev("vda1", Some(("ext4", "AA-BB", "root")), Some("p-1")),
            dev("vda2", Some(("swap", "CC", "sw")), Some("p-2")),
            dev("vdb", Some(("xfs", "DUP", "d1")), None),
            dev("vdc", Some(("xfs", "DUP", "d2")), None),
        ];
        let d = Path::new("/nonexistent");
        assert_eq!(find(&RootSpec::Uuid("aa-bb".into()), &devs, d).unwrap().unwrap().name, "vda1");
        assert_eq!(find(&RootSpec::Label("root".into()), &devs, d).unwrap().unwrap().name, "vda1");
        assert_eq!(find(&RootSpec::PartUuid("P-1".into()), &devs, d).unwrap().unwrap().name, "vda1");
        assert_eq!(find(&RootSpec::Path("/dev/vda1".into()), &devs, d).unwrap().unwrap().name, "vda1");
        assert_eq!(find(&RootSpec::DevNo(254, 364), &devs, d).unwrap().unwrap().name, "vda1");
        assert_eq!(find(&RootSpec::Label("nothing".into()), &devs, d).unwrap(), None);
        assert!(matches!(find(&RootSpec::PartUuid("p-2".into()), &devs, d), Err(RootError::NotMountable { .. })));
        let e = find(&RootSpec::Uuid("DUP".into()), &devs, d).unwrap_err();
        assert!(e.to_string().contains("/dev/vdb, /dev/vdc"), "{e}");
    }

    /// btrfs RAID: one UUID on several devices is one filesystem, mounted by its first device
    /// with the others named; a clone of one of them (same device number) is still ambiguous.
    #[test]
    fn members_of_one_btrfs_are_one_root() {
        use crate::probe::Member;
        let member = |name: &str, devid: u64, devices: u64| {
            let mut d = dev(name, Some(("btrfs", "B-1", "pool")), None);
            d.fs.as_mut().unwrap().member = Some(Member { devid, devices });
            d
        };
        let d = Path::new("/nonexistent");
        let devs = vec![member("vda", 2, 2), member("vdb", 1, 2), dev("vdc", Some(("ext4", "E", "e")), None)];
        let root = find(&RootSpec::Uuid("B-1".into()), &devs, d).unwrap().unwrap();
        assert_eq!(root.name, "vdb", "the member with the lowest device number");
        assert_eq!(member_options(root, &devs), ["device=/dev/vda"]);
        assert_eq!(find(&RootSpec::Label("pool".into()), &devs, d).unwrap().unwrap().name, "vdb");
        assert!(member_options(&devs[2], &devs).is_empty());

        let cloned = vec![member("vda", 1, 2), member("vdb", 2, 2), member("vdc", 2, 2)];
        let e = find(&RootSpec::Uuid("B-1".into()), &cloned, d).unwrap_err();
        assert!(e.to_string().contains("/dev/vda, /dev/vdb, /dev/vdc"), "{e}");
        let single = vec![member("vda", 1, 1), member("vdb", 1, 1)];
        assert!(find(&RootSpec::Uuid("B-1".into()), &single, d).is_err(), "two copies of a one-device btrfs");
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let o = parse_options("defaults,noatime,data=journal,nodev,errors=remount-ro,x-systemd.foo,ro");
        assert_eq!(o.flags, MountFlags::NOATIME | MountFlags::NODEV);
        assert_eq!(o.data, "data=journal,errors=remount-ro");
        assert_eq!(o.read_only, Some(true));
        let o = parse_options("nodev,dev,rw");
        assert_eq!(o.flags, MountFlags::empty());
        assert_eq!(o.read_only, Some(false));
        assert_eq!(parse_options("").read_only, None);
    }

    #[test]
    fn root_options_follow_parse_root_opts() {
        assert_eq!(root_options(&Cmdline::parse("ro rootflags=noatime")), "noatime,ro");
        assert_eq!(root_options(&Cmdline::parse("rw ro")), "ro,rw");
        assert_eq!(root_options(&Cmdline::parse("rw")), "rw");
        assert_eq!(root_options(&Cmdline::parse("quiet")), "");
    }

    #[test]
    fn init_args_follow_dracut() {
        let c = Cmdline::parse("BOOT_IMAGE=/vmlinuz root=UUID=x ro init=/sbin/alt-init a b console=ttyS0 c=d");
        assert_eq!(init_args(&c), ["a", "b", "c=d"]);
        let c = Cmdline::parse("root=/dev/vda1 ro quiet single 3 rd.break 10");
        assert_eq!(init_args(&c), ["single", "3"]);
    }

    #[test]
    fn finds_init_through_absolute_links() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
        std::fs::create_dir_all(r.join("usr/sbin")).unwrap();
        symlink("usr/sbin", r.join("sbin")).unwrap();
        let sd = r.join("usr/lib/systemd/systemd");
        std::fs::write(&sd, "#!/bin/true\n").unwrap();
        std::fs::set_permissions(&sd, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Absolute target: must resolve inside the root, not on the host.
        symlink("/usr/lib/systemd/systemd", r.join("usr/sbin/init")).unwrap();
        assert_eq!(find_init(r, &Cmdline::parse("")).unwrap(), "/sbin/init");
        assert_eq!(resolve_in(r, "/sbin/init").unwrap(), sd);
        // init= wins when usable; when it is not, the defaults are tried.
        assert_eq!(find_init(r, &Cmdline::parse("init=/usr/lib/systemd/systemd")).unwrap(), "/usr/lib/systemd/systemd");
        assert_eq!(find_init(r, &Cmdline::parse("init=/nope")).unwrap(), "/sbin/init");
        // A directory, a non-executable file and a dangling link are not inits.
        let empty = tempfile::tempdir().unwrap();
        let e = empty.path();
        std::fs::create_dir_all(e.join("sbin/init")).unwrap();
        std::fs::create_dir_all(e.join("bin")).unwrap();
        std::fs::write(e.join("bin/init"), "x").unwrap();
        symlink("/missing", e.join("bin/sh")).unwrap();
        let err = find_init(e, &Cmdline::parse("")).unwrap_err();
        assert!(err.to_string().starts_with("Cannot find init!"));
        // `..` cannot climb out of the root.
        assert_eq!(resolve_in(r, "/../../usr/lib/systemd/systemd").unwrap(), sd);
    }
}
