//! Reboot, power off, halt: sync first, and leave /sysroot read-only.

use rustix::mount::{MountFlags, UnmountFlags};

use crate::{mounts, report};

/// Sync, make /sysroot read-only, then reboot, power off or halt. With `delay`, wait first
/// (negative: not at all). Never returns unless the kernel refuses.
pub fn power(action: &str, delay: Option<i64>) -> i32 {
    let cmd = match action {
        "reboot" => rustix::system::RebootCommand::Restart,
        "halt" => rustix::system::RebootCommand::Halt,
        "poweroff" => rustix::system::RebootCommand::PowerOff,
        other => {
            log::warn!("unknown rd.emergency={other}; expected reboot, poweroff or halt. Powering off.");
            rustix::system::RebootCommand::PowerOff
        }
    };
    if let Some(d) = delay.filter(|d| *d > 0) {
        log::warn!("rebooting in {d} seconds (panic={d})");
        std::thread::sleep(std::time::Duration::from_secs(d.unsigned_abs()));
    }
    rustix::fs::sync();
    // Everything under /sysroot first, deepest first, so the filesystem is clean.
    let mut tables: Vec<_> = mounts::mount_table().into_iter().filter(|m| m.target.starts_with("/sysroot")).collect();
    tables.reverse();
    for m in &tables {
        if m.target != "/sysroot" {
            let _ = rustix::mount::unmount(m.target.as_str(), UnmountFlags::empty());
        }
    }
    if mounts::mounted_at("/sysroot").is_some() {
        let _ = rustix::mount::mount_remount("/sysroot", MountFlags::RDONLY, c"");
    }
    rustix::fs::sync();
    log::info!("{action} (uptime {})", report::uptime());
    match rustix::system::reboot(cmd) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{action} failed: {e} (not PID 1?)");
            1
        }
    }
}
