//! How the root is mounted on /sysroot: a pure plan (options, the filesystem types to try, the
//! drivers to ask for, the remount) from the command line and the probe, a small executor, and
//! the words for a failure.

use std::path::PathBuf;

use rustix::io::Errno;
use rustix::mount::MountFlags;

use crate::cmdline::Cmdline;
use crate::devices::BlockDev;
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
    MountPlan { source: dev.node(), candidates, options_text, options, shown, remount_rw }
}

impl MountPlan {
    /// The drivers to request: `fs-TYPE` for each candidate, waited for when there is only one.
    pub fn modules(&self) -> (Vec<String>, bool) {
        (self.candidates.iter().map(|t| format!("fs-{t}")).collect(), self.candidates.len() == 1)
    }

    /// The message after every candidate failed (`errors` per type, in order).
    pub fn failure(&self, errors: &[(String, Errno)], missing: &[String]) -> String {
        let node = self.source.display();
        let lines: Vec<String> =
            errors.iter().map(|(t, e)| format!("mount -t {t} -o {} {node} {NEWROOT}: {e}", self.shown)).collect();
        let mut msg = format!("Failed to mount the root filesystem:\n  {}", lines.join("\n  "));
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
pub fn execute(plan: &MountPlan, loader: Option<&Loader>) -> Result<(), String> {
    if let Some(loader) = loader {
        let (modules, wait) = plan.modules();
        for m in modules {
            loader.request(&[m], wait);
        }
    }
    let data = std::ffi::CString::new(plan.options.data.clone()).unwrap_or_default();
    let node = plan.source.display();
    let mut errors = Vec::new();
    for t in &plan.candidates {
        let flags = plan.options.flags | MountFlags::RDONLY;
        match rustix::mount::mount(plan.source.as_path(), NEWROOT, t.as_str(), flags, Some(data.as_c_str())) {
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
