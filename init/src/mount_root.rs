//! How the root is mounted on /sysroot, and then what its fstab wants mounted before the switch
//! (`/usr`, `x-initrd.mount`): a pure plan (options, the filesystem types to try, the drivers to
//! ask for, the remount) from the command line and the probe, a small executor, and the words
//! for a failure.

use std::path::PathBuf;

use rustix::io::Errno;
use rustix::mount::MountFlags;

use crate::cmdline::Cmdline;
use crate::devices::BlockDev;
use crate::fstab;
use crate::kmod::Loader;
use crate::root::{self, MountOptions};

pub const NEWROOT: &str = "/sysroot";

/// The root's filesystem type: what the probe found, else `rootfstype=`.
pub fn fstype(cmdline: &Cmdline, dev: &BlockDev) -> Option<String> {
    let given = cmdline.get("rootfstype").filter(|t| !t.is_empty() && *t != "auto");
    dev.fs.as_ref().map(|fs| fs.fstype.clone()).or(given.map(str::to_string))
}

#[derive(Debug, PartialEq, Eq)]
pub struct MountPlan {
    pub source: PathBuf,
    pub target: PathBuf,
    /// The root: mounted read-only first whatever was asked, then remounted per `rw`.
    pub read_only_first: bool,
    /// The types to try in order: the probe's (or `rootfstype=`), else every block filesystem.
    pub candidates: Vec<String>,
    /// `rootflags=` (and the members of a multi-device filesystem) as one option string.
    pub options_text: String,
    pub options: MountOptions,
    /// The options as mounted, for messages: read-only first, whatever rw/ro says.
    pub shown: String,
    /// `rw` was asked for: remount after the read-only mount.
    pub remount_rw: bool,
}

/// The plan for mounting `dev`; `filesystems` is the text of /proc/filesystems.
pub fn plan(cmdline: &Cmdline, dev: &BlockDev, devs: &[BlockDev], filesystems: &str) -> MountPlan {
    let mut options_text = root::root_options(cmdline);
    for m in root::member_options(dev, devs) {
        options_text = if options_text.is_empty() { m } else { format!("{options_text},{m}") };
    }
    let options = root::parse_options(&options_text);
    let candidates = match fstype(cmdline, dev) {
        Some(t) => vec![t],
        None => filesystems.lines().filter(|l| !l.starts_with("nodev")).map(|l| l.trim().to_string()).collect(),
    };
    let shown = std::iter::once("ro")
        .chain(options_text.split(',').filter(|o| !matches!(*o, "" | "ro" | "rw")))
        .collect::<Vec<_>>()
        .join(",");
    let remount_rw = options.read_only == Some(false);
    MountPlan {
        source: dev.node(),
        target: NEWROOT.into(),
        read_only_first: true,
        candidates,
        options_text,
        options,
        shown,
        remount_rw,
    }
}

/// Options only mount(8), fstab readers or systemd act on; never passed to the kernel.
fn userspace_option(o: &str) -> bool {
    o.starts_with("x-")
        || o.starts_with("comment=")
        || matches!(
            o,
            "defaults" | "auto" | "noauto" | "nofail" | "user" | "users" | "nouser" | "owner" | "group" | "_netdev"
        )
}

/// The plan for an fstab entry under /sysroot, as dracut's usrmount: the entry's options, plus
/// `ro` or `rw` from the command line (`ro` first); the type from the probe, else the entry's.
pub fn entry_plan(cmdline: &Cmdline, entry: &fstab::Entry, dev: &BlockDev) -> MountPlan {
    let mut opts: Vec<&str> = entry.options.split(',').filter(|o| !o.is_empty() && !userspace_option(o)).collect();
    if cmdline.last("ro").is_some() {
        opts.push("ro");
    } else if cmdline.last("rw").is_some() {
        opts.push("rw");
    }
    let options_text = opts.join(",");
    let options = root::parse_options(&options_text);
    let probed = dev.fs.as_ref().map(|f| f.fstype.clone());
    let given = Some(entry.fstype.clone()).filter(|t| !t.is_empty() && t != "auto");
    let candidates = probed.or(given).into_iter().collect();
    MountPlan {
        source: dev.node(),
        target: PathBuf::from(NEWROOT).join(entry.target.trim_start_matches('/')),
        read_only_first: false,
        candidates,
        shown: if options_text.is_empty() { "defaults".into() } else { options_text.clone() },
        options_text,
        options,
        remount_rw: false,
    }
}

impl MountPlan {
    /// The drivers to request: `fs-TYPE` for each candidate, waited for when there is only one.
    pub fn modules(&self) -> (Vec<String>, bool) {
        (self.candidates.iter().map(|t| format!("fs-{t}")).collect(), self.candidates.len() == 1)
    }

    /// The message after every candidate failed (`errors` per type, in order).
    pub fn failure(&self, errors: &[(String, Errno)], missing: &[String]) -> String {
        let node = self.source.display();
        let lines: Vec<String> = errors
            .iter()
            .map(|(t, e)| format!("mount -t {t} -o {} {node} {}: {e}", self.shown, self.target.display()))
            .collect();
        let what =
            if self.read_only_first { "the root filesystem".to_string() } else { self.target.display().to_string() };
        let mut msg = format!("Failed to mount {what}:\n  {}", lines.join("\n  "));
        if !missing.is_empty() {
            msg += &format!("\nModules requested but not in this initramfs: {}", missing.join(", "));
        }
        // The kernel's words for a filesystem whose metadata fails its checks.
        let damaged = errors.iter().rev().find(|(_, e)| matches!(*e, Errno::BADMSG | Errno::UCLEAN));
        msg += &match damaged {
            Some((t, _)) => format!(
                "\nThe {t} filesystem on {node} is damaged: repair it with fsck.{t} {node} (here, if this \
                 initramfs has it, or from a rescue system), then exit to retry."
            ),
            None => "\nTry rootfstype= or rootflags=, or check the filesystem from the shell.".to_string(),
        };
        msg
    }
}

/// Mounts per the plan: read-only first, then the remount `rw` asks for.
// A String: the plan's own account of what was tried and what to try, shown as it is.
pub fn execute(plan: &MountPlan, loader: Option<&Loader>) -> Result<(), String> {
    if let Some(loader) = loader {
        let (modules, wait) = plan.modules();
        for m in modules {
            loader.request_stack(&[m], wait);
        }
    }
    let data = std::ffi::CString::new(plan.options.data.clone()).unwrap_or_default();
    let node = plan.source.display();
    let mut errors = Vec::new();
    let target = plan.target.as_path();
    for t in &plan.candidates {
        let mut flags = plan.options.flags;
        if plan.read_only_first || plan.options.read_only == Some(true) {
            flags |= MountFlags::RDONLY;
        }
        match rustix::mount::mount(plan.source.as_path(), target, t.as_str(), flags, Some(data.as_c_str())) {
            Ok(()) if !plan.read_only_first => {
                log::info!("Mounted {node} on {} ({t}, {})", target.display(), plan.shown);
                return Ok(());
            }
            Ok(()) => {
                let data_shown =
                    if plan.options.data.is_empty() { String::new() } else { format!(",{}", plan.options.data) };
                log::info!("Mounted root filesystem {node} ({t}, ro{data_shown})");
                if plan.remount_rw {
                    log::info!("Remounting {node} with -o {}", plan.options_text);
                    if let Err(e) = rustix::mount::mount_remount(NEWROOT, plan.options.flags, data.as_c_str()) {
                        log::warn!("Remounting {NEWROOT} read-write failed: {e}; it stays read-only");
                    }
                }
                return Ok(());
            }
            Err(e) => errors.push((t.clone(), e)),
        }
    }
    let missing = loader.map(Loader::missing).unwrap_or_default();
    Err(plan.failure(&errors, &missing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Filesystem;

    fn dev(fstype: Option<&str>) -> BlockDev {
        BlockDev {
            name: "vda1".into(),
            fs: fstype.map(|t| Filesystem { fstype: t.into(), uuid: Some("u".into()), label: None, member: None }),
            ..Default::default()
        }
    }

    const FILESYSTEMS: &str = "nodev\tsysfs\nnodev\ttmpfs\n\text4\n\txfs\n";

    #[test]
    fn the_probe_names_the_type_and_ro_comes_first() {
        let c = Cmdline::parse("root=UUID=u rootflags=noatime,data=ordered rw");
        let p = plan(&c, &dev(Some("ext4")), &[], FILESYSTEMS);
        assert_eq!(p.candidates, ["ext4"]);
        assert_eq!(p.source, PathBuf::from("/dev/vda1"));
        assert_eq!(p.shown, "ro,noatime,data=ordered");
        assert!(p.remount_rw);
        assert_eq!(p.options.data, "data=ordered");
        assert!(p.options.flags.contains(MountFlags::NOATIME));
        assert_eq!(p.modules(), (vec!["fs-ext4".to_string()], true));
    }

    #[test]
    fn rootfstype_when_the_probe_cannot_tell_else_every_block_filesystem() {
        let c = Cmdline::parse("root=/dev/vda1 rootfstype=xfs");
        assert_eq!(plan(&c, &dev(None), &[], FILESYSTEMS).candidates, ["xfs"]);
        // The probe wins over rootfstype=, as in dracut.
        assert_eq!(plan(&c, &dev(Some("ext4")), &[], FILESYSTEMS).candidates, ["ext4"]);
        let auto = plan(&Cmdline::parse("rootfstype=auto"), &dev(None), &[], FILESYSTEMS);
        assert_eq!(auto.candidates, ["ext4", "xfs"]);
        assert!(!auto.modules().1, "several candidates: none is waited for");
        assert!(!auto.remount_rw, "read-only unless rw is given");
        assert_eq!(auto.shown, "ro");
    }

    #[test]
    fn usr_gets_the_entrys_options_and_ro_from_the_command_line() {
        let e = fstab::Entry {
            spec: "UUID=u".into(),
            target: "/usr".into(),
            fstype: "auto".into(),
            options: "defaults,noatime,x-systemd.device-timeout=0,nofail".into(),
            passno: 2,
        };
        let p = entry_plan(&Cmdline::parse("root=UUID=r ro"), &e, &dev(Some("ext4")));
        assert_eq!(p.target, PathBuf::from("/sysroot/usr"));
        assert_eq!(p.candidates, ["ext4"]);
        assert_eq!(p.options_text, "noatime,ro");
        assert_eq!(p.options.read_only, Some(true));
        assert!(!p.read_only_first && !p.remount_rw);
        let p = entry_plan(&Cmdline::parse("rw"), &fstab::Entry { fstype: "xfs".into(), ..e }, &dev(None));
        assert_eq!((p.candidates, p.options_text), (vec!["xfs".to_string()], "noatime,rw".to_string()));
        let msg = plan(&Cmdline::parse(""), &dev(Some("xfs")), &[], "").failure(&[("xfs".into(), Errno::INVAL)], &[]);
        assert!(msg.starts_with("Failed to mount the root filesystem:"), "{msg}");
    }

    #[test]
    fn failures_name_each_attempt_and_a_damaged_filesystem() {
        let p = plan(&Cmdline::parse("ro"), &dev(Some("xfs")), &[], FILESYSTEMS);
        let msg = p.failure(&[("xfs".into(), Errno::UCLEAN)], &["fs-xfs".into()]);
        assert!(msg.contains("mount -t xfs -o ro /dev/vda1 /sysroot: "), "{msg}");
        assert!(msg.contains("Modules requested but not in this initramfs: fs-xfs"), "{msg}");
        assert!(msg.contains("repair it with fsck.xfs /dev/vda1"), "{msg}");
        let msg = p.failure(&[("xfs".into(), Errno::INVAL)], &[]);
        assert!(msg.ends_with("Try rootfstype= or rootflags=, or check the filesystem from the shell."), "{msg}");
    }
}
