//! The boot, stage by stage, in dracut's order, with its break points and emergency paths.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cmdline::Cmdline;
use crate::devices::{self, BlockDev, Uevents};
use crate::hotplug::Hotplug;
use crate::kmod::{Loader, ModuleIndex};
use crate::root::{self, RootSpec};
use crate::{kmsg, mounts, report, shell, switch_root};

/// dracut's break points, in boot order.
pub const STAGES: [&str; 8] =
    ["cmdline", "pre-udev", "pre-trigger", "initqueue", "pre-mount", "mount", "pre-pivot", "cleanup"];

pub const NEWROOT: &str = "/sysroot";

/// The stages a command line asks to break before, dracut's `rd.break=<stage>` plus the
/// initramfs-tools (`break=top|modules|premount|mount|mountroot|bottom|init`) and mkinitcpio
/// (`break=premount|postmount`, `break=y`) spellings. `switch_root` stands for the final break.
pub fn break_stages(c: &Cmdline) -> (Vec<&'static str>, Vec<String>) {
    let mut stages = Vec::new();
    let mut unknown = Vec::new();
    for v in c.all("rd.break") {
        if v == "rd.break" {
            continue;
        }
        match STAGES.iter().find(|s| **s == v) {
            Some(s) => stages.push(*s),
            None => unknown.push(format!("rd.break={v}")),
        }
    }
    // Bare `rd.break` counts only when the last rd.break token has no value.
    if c.last("rd.break").is_some_and(|v| v.is_none_or(str::is_empty)) {
        stages.push("switch_root");
    }
    for a in c.args().iter().filter(|a| a.key == "break") {
        let values: Vec<&str> = a.value.as_deref().map_or(vec!["premount"], |v| v.split(',').collect());
        for v in values {
            let stage = match v {
                "top" => "cmdline",
                "modules" => "pre-trigger",
                "premount" | "y" | "" => "pre-mount",
                "mount" | "mountroot" => "mount",
                "bottom" | "postmount" => "pre-pivot",
                "init" => "switch_root",
                other => {
                    unknown.push(format!("break={other}"));
                    continue;
                }
            };
            stages.push(stage);
        }
    }
    stages.dedup();
    (stages, unknown)
}

/// Everything the boot has learned so far; the shell reads and changes it too.
pub struct Boot {
    pub cmdline: Cmdline,
    pub proc_cmdline: Cmdline,
    /// The environment the kernel gave PID 1, restored for the real init.
    pub kernel_env: Vec<(String, String)>,
    pub breaks: Vec<&'static str>,
    pub loader: Option<Arc<Loader>>,
    /// Loads drivers for devices as the kernel announces them (None: no uevent socket).
    pub hotplug: Option<Hotplug>,
    pub devs: Vec<BlockDev>,
    pub root_spec: Option<RootSpec>,
    pub root_dev: Option<BlockDev>,
    pub init: Option<String>,
    /// A fatal failure happened: after the shell the machine does the emergency action.
    pub died: bool,
    pub started: Instant,
}

impl Boot {
    pub fn new(cmdline: Cmdline, proc_cmdline: Cmdline, kernel_env: Vec<(String, String)>) -> Self {
        let (breaks, unknown) = break_stages(&cmdline);
        for u in unknown {
            log::warn!("ignoring unknown break point {u}; known: {}, or a bare rd.break", STAGES.join(", "));
        }
        Boot {
            cmdline,
            proc_cmdline,
            kernel_env,
            breaks,
            loader: None,
            hotplug: None,
            devs: Vec::new(),
            root_spec: None,
            root_dev: None,
            init: None,
            died: false,
            started: Instant::now(),
        }
    }

    fn maybe_break(&mut self, stage: &str) {
        if self.breaks.contains(&stage) {
            // Each break point stops once, even when a later failure loops back past it.
            self.breaks.retain(|s| *s != stage);
            // Before the root is mounted, the shell shows a settled machine (no driver half-loaded
            // behind the prompt). Later, what still loads is irrelevant to the user's work there,
            // so the prompt comes at once; the switch itself waits for every load.
            if !matches!(stage, "pre-pivot" | "cleanup" | "switch_root") {
                self.settle();
            }
            log::debug!("breaking before {stage}");
            shell::emergency_shell(self, stage, &format!("Break before {stage}"));
        }
    }

    /// An error the user may fix from the shell: report, shell, then let the caller retry.
    pub fn emergency(&mut self, msg: &str) {
        log::error!("{msg}");
        shell::emergency_shell(self, "dracut", msg);
    }

    /// A failure with no retry (dracut's `die`): report, shell if allowed, then the emergency
    /// action (poweroff unless `rd.emergency=` says otherwise).
    pub fn die(&mut self, msg: &str) -> ! {
        log::error!("FATAL: {msg}");
        log::error!("Refusing to continue");
        self.died = true;
        loop {
            shell::emergency_shell(self, "dracut", msg);
        }
    }

    pub fn rescan(&mut self) {
        let mut devs = devices::list(Path::new("/sys"));
        if let Some(h) = &self.hotplug {
            devs.retain(|d| h.announced(&d.name));
        }
        devices::probe_all(&mut devs, Path::new("/dev"));
        devices::create_links(&devs, Path::new("/dev"));
        self.devs = devs;
    }

    /// Loads the index of this kernel's modules, when the image has them.
    fn open_modules(&mut self) {
        let release = rustix::system::uname().release().to_string_lossy().to_string();
        let dir = Path::new("/lib/modules").join(&release);
        match ModuleIndex::load(&dir, Path::new("/")) {
            Ok(mut index) => {
                index.blacklist_from(&self.cmdline);
                self.loader = Some(Arc::new(Loader::new(index, &self.cmdline)));
            }
            Err(e) => log::warn!("no kernel modules for {release}: {e}; continuing with built-in drivers only"),
        }
    }

    /// Coldplug (dracut's `udevadm trigger`): starts loading the boot drivers for every device
    /// present, in the background. Devices those drivers reveal arrive as uevents.
    fn coldplug(&mut self) {
        let Some(loader) = &self.loader else { return };
        let aliases = devices::modaliases(Path::new("/sys"));
        log::debug!("coldplug: {} modaliases", aliases.len());
        loader.spawn_boot_drivers(&aliases);
    }

    /// Starts handling uevents: from here on every device the kernel announces gets its driver,
    /// whatever the boot or the shell is doing. Events queued since `socket` opened come first;
    /// with it, the block devices there were when it opened.
    fn start_hotplug(&mut self, socket: Option<(Uevents, Vec<String>)>) {
        let Some((socket, blocks)) = socket else { return };
        let drivers = self.loader.clone().map(|l| Box::new(l) as Box<dyn crate::hotplug::Drivers>);
        match Hotplug::start(Box::new(socket), drivers, blocks) {
            Ok(h) => self.hotplug = Some(h),
            Err(e) => log::warn!("cannot start the hotplug thread ({e}); polling sysfs instead"),
        }
    }

    /// dracut's `udevadm settle`: until every device announced so far has its driver loaded.
    pub fn settle(&mut self) {
        match &self.hotplug {
            Some(h) => {
                if !h.settle(Duration::from_secs(30)) {
                    log::info!("devices are still appearing after 30 s; going on");
                }
            }
            None => {
                if let Some(loader) = &self.loader {
                    loader.wait_idle();
                }
            }
        }
    }

    /// Waits for the root device for up to `rd.retry` seconds (dracut's default 180). Ok(None)
    /// when someone mounted a root on /sysroot by hand in the shell meanwhile.
    fn wait_for_root(&mut self) -> Result<Option<BlockDev>, String> {
        let spec = self.root_spec.clone().ok_or("no root= to wait for")?;
        let retry = self.cmdline.number("rd.retry", 180, 0, 86_400);
        loop {
            if mounts::mounted_at(NEWROOT).is_some() {
                log::info!("{NEWROOT} was mounted by hand; using it");
                return Ok(None);
            }
            let start = Instant::now();
            let mut next_note = Duration::from_secs(5);
            loop {
                let seen = self.hotplug.as_ref().map(Hotplug::generation);
                self.rescan();
                match root::find(&spec, &self.devs, Path::new("/dev")) {
                    Ok(Some(d)) => {
                        // Its filesystem driver loads meanwhile: the CPU is mostly idle while
                        // other disks are probed, and either disk would need it.
                        if let (Some(loader), Some(t)) = (&self.loader, self.fstype_of(d)) {
                            loader.spawn_filesystem(&t);
                        }
                        // A second filesystem with the same UUID must be seen, not raced past:
                        // settle (every driver loaded, no new device announced), then look again.
                        // Waiting only for the drivers on the way to this disk was tried and
                        // measured faster, but still raced past a second virtio disk.
                        self.settle();
                        self.rescan();
                        match root::find(&spec, &self.devs, Path::new("/dev")) {
                            Ok(Some(d)) => return Ok(Some(d.clone())),
                            Ok(None) => {}
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                    Ok(None) => {}
                    // Two filesystems with one UUID, or swap/LUKS: waiting will not help.
                    Err(e) => return Err(e.to_string()),
                }
                let waited = start.elapsed();
                if waited >= Duration::from_secs(retry) {
                    break;
                }
                if waited >= next_note {
                    log::warn!("still waiting for {} ({}s of rd.retry={retry}s)", spec.dev_path(), waited.as_secs());
                    next_note += Duration::from_secs(5);
                }
                // Sysfs is re-read as soon as uevents arrive, and every second in case one was missed.
                match (&self.hotplug, seen) {
                    (Some(h), Some(g)) => h.wait_change(g, Duration::from_secs(1)),
                    _ => std::thread::sleep(Duration::from_secs(1)),
                }
            }
            let mut msg = String::from("Could not boot.");
            msg += &format!("\n\"{}\" does not exist", spec.dev_path());
            msg += &self.seen_summary();
            self.emergency(&msg);
        }
    }

    /// What rdbreak saw, for messages after a failure.
    pub fn seen_summary(&self) -> String {
        let mut s = String::from("\nBlock devices found:");
        if self.devs.is_empty() {
            s += " none";
        }
        for d in &self.devs {
            s += &format!("\n  {}", d.describe());
        }
        for d in devices::storage_without_driver(Path::new("/sys")) {
            s += &format!("\nNo driver bound to storage device {d}: its module is missing from this initramfs, blacklisted, or failed");
        }
        if let Some(loader) = &self.loader {
            let missing = loader.missing();
            if !missing.is_empty() {
                s += &format!("\nModules requested but not in this initramfs: {}", missing.join(", "));
            }
            for (m, why) in loader.failed() {
                s += &format!("\nModule {m} failed to load: {why}");
            }
        } else {
            s += "\nNo kernel modules in this initramfs (no modules.dep for this kernel).";
        }
        s
    }

    /// The root's filesystem type: what the probe found, else `rootfstype=`.
    fn fstype_of(&self, dev: &BlockDev) -> Option<String> {
        let given = self.cmdline.get("rootfstype").filter(|t| !t.is_empty() && *t != "auto");
        dev.fs.as_ref().map(|fs| fs.fstype.clone()).or(given.map(str::to_string))
    }

    /// Mounts the root read-only at /sysroot, then remounts per rw/rootflags.
    fn mount_root(&mut self, dev: &BlockDev) -> Result<(), String> {
        if mounts::mounted_at(NEWROOT).is_some() {
            return Ok(()); // mounted by hand in the shell
        }
        let mut opts_text = root::root_options(&self.cmdline);
        for m in root::member_options(dev, &self.devs) {
            opts_text = if opts_text.is_empty() { m } else { format!("{opts_text},{m}") };
        }
        let opts = root::parse_options(&opts_text);
        let candidates: Vec<String> = if let Some(fstype) = self.fstype_of(dev) {
            vec![fstype]
        } else {
            std::fs::read_to_string("/proc/filesystems")
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.starts_with("nodev"))
                .map(|l| l.trim().to_string())
                .collect()
        };
        if let Some(loader) = &self.loader {
            for t in &candidates {
                loader.request(&[format!("fs-{t}")], candidates.len() == 1);
            }
        }
        let node = dev.node();
        let data = std::ffi::CString::new(opts.data.clone()).unwrap_or_default();
        let mut errors = Vec::new();
        let mut damaged = None;
        // As mounted: read-only first, whatever rw/ro says (a remount follows).
        let shown: Vec<&str> =
            std::iter::once("ro").chain(opts_text.split(',').filter(|o| !matches!(*o, "" | "ro" | "rw"))).collect();
        for t in &candidates {
            let flags = opts.flags | rustix::mount::MountFlags::RDONLY;
            match rustix::mount::mount(node.as_path(), NEWROOT, t.as_str(), flags, Some(data.as_c_str())) {
                Ok(()) => {
                    log::info!(
                        "Mounted root filesystem {} ({t}, ro{})",
                        node.display(),
                        if opts.data.is_empty() { String::new() } else { format!(",{}", opts.data) }
                    );
                    if opts.read_only == Some(false) {
                        log::info!("Remounting {} with -o {opts_text}", node.display());
                        if let Err(e) = rustix::mount::mount_remount(NEWROOT, opts.flags, data.as_c_str()) {
                            log::warn!("Remounting {NEWROOT} read-write failed: {e}; it stays read-only");
                        }
                    }
                    return Ok(());
                }
                Err(e) => {
                    // The kernel's words for a filesystem whose metadata fails its checks.
                    if matches!(e, rustix::io::Errno::BADMSG | rustix::io::Errno::UCLEAN) {
                        damaged = Some(t.clone());
                    }
                    errors.push(format!("mount -t {t} -o {} {} {NEWROOT}: {e}", shown.join(","), node.display()))
                }
            }
        }
        let mut msg = format!("Failed to mount the root filesystem:\n  {}", errors.join("\n  "));
        if let Some(missing) = self.loader.as_ref().map(|l| l.missing()).filter(|m| !m.is_empty()) {
            msg += &format!("\nModules requested but not in this initramfs: {}", missing.join(", "));
        }
        msg += &match damaged {
            Some(t) => format!(
                "\nThe {t} filesystem on {} is damaged: repair it with fsck.{t} {} (here, if this \
                 initramfs has it, or from a rescue system), then exit to retry.",
                node.display(),
                node.display()
            ),
            None => "\nTry rootfstype= or rootflags=, or check the filesystem from the shell.".to_string(),
        };
        Err(msg)
    }
}

/// The whole boot. Never returns: it ends in the real init, or in the shell and an emergency action.
pub fn run(proc_cmdline: Cmdline, kernel_env: Vec<(String, String)>) -> ! {
    let cmdline = Cmdline::from_system(Path::new("/"));
    let verbose = cmdline.flag("rd.info", false) || cmdline.flag("rd.debug", false);
    let quiet = cmdline.last("quiet").is_some();
    kmsg::LOGGER.open(verbose || !quiet && cmdline.flag("rd.info", false), cmdline.flag("rd.debug", false));
    kmsg::LOGGER.keep_file("/run/initramfs/init.log");
    if cmdline.flag("rd.debug", false) {
        // The default rate limit would drop most of a debug boot's lines.
        let _ = std::fs::write("/proc/sys/kernel/printk_devkmsg", "on\n");
    }
    log::info!("rdbreak {} starting (kernel uptime {})", env!("CARGO_PKG_VERSION"), report::uptime());

    let mut boot = Boot::new(cmdline, proc_cmdline, kernel_env);

    boot.maybe_break("cmdline");
    let root_arg = boot.cmdline.get("root").unwrap_or("").to_string();
    match RootSpec::parse(&root_arg) {
        Ok(spec) => boot.root_spec = Some(spec),
        Err(e) => boot.die(&e.to_string()),
    }

    boot.maybe_break("pre-udev");
    // Listen before loading anything, so no device that a driver reveals is missed.
    let socket = Uevents::open().map_err(|e| log::warn!("no uevent socket ({e}); polling sysfs instead")).ok();
    let socket = socket.map(|s| (s, devices::list(Path::new("/sys")).into_iter().map(|d| d.name).collect()));
    log::debug!("uevent socket open");
    boot.open_modules();
    log::debug!("module index loaded");
    boot.start_hotplug(socket);
    if let Some(loader) = &boot.loader {
        // Synchronously, as dracut's modprobe does: loading it beside coldplug was measured
        // slower (one CPU, and raid6_pq's benchmark runs for a fixed time).
        let pre = boot.cmdline.list("rd.driver.pre");
        if !pre.is_empty() {
            loader.request(&pre, true);
        }
    }

    boot.maybe_break("pre-trigger");
    boot.coldplug();
    log::debug!("coldplug started at {}", report::uptime());

    boot.maybe_break("initqueue");
    let dev = loop {
        match boot.wait_for_root() {
            Ok(d) => break d,
            Err(e) => boot.emergency(&e),
        }
    };
    if let Some(loader) = &boot.loader {
        let post = boot.cmdline.list("rd.driver.post");
        if !post.is_empty() {
            loader.request(&post, true);
        }
    }
    boot.root_dev = dev.clone();
    if let Some(d) = &dev {
        log::debug!("root device {} found at {}", d.describe(), report::uptime());
    }

    boot.maybe_break("pre-mount");
    boot.maybe_break("mount");
    loop {
        let result = match &dev {
            Some(d) => boot.mount_root(d),
            None if mounts::mounted_at(NEWROOT).is_some() => Ok(()),
            None => Err(format!("{NEWROOT} was unmounted; mount the root there, then exit")),
        };
        match result {
            Ok(()) => break,
            Err(e) => boot.emergency(&e),
        }
    }

    boot.maybe_break("pre-pivot");
    boot.maybe_break("cleanup");
    loop {
        let init = loop {
            match root::find_init(Path::new(NEWROOT), &boot.cmdline) {
                Ok(i) => break i,
                Err(e) => boot.emergency(&e.to_string()),
            }
        };
        boot.init = Some(init.clone());
        boot.maybe_break("switch_root");
        // The shell may have unmounted the root: refuse to switch into an empty /sysroot, and
        // say how to go on, rather than guess what the user wanted.
        if mounts::mounted_at(NEWROOT).is_none() {
            let how = dev.as_ref().map_or("mount DEVICE /sysroot".to_string(), |d| {
                format!("mount -o ro {} {NEWROOT}", d.node().display())
            });
            boot.emergency(&format!(
                "Not switching root: nothing is mounted on {NEWROOT}. Mount the root there ({how}), then exit."
            ));
            continue;
        }
        let args = root::init_args(&boot.proc_cmdline);
        log::info!("Switching root to {init} {} (kernel uptime {})", args.join(" "), report::uptime());
        // No module may be half-loaded when PID 1 execs, and PID 1 must be one thread again to
        // fork the initramfs wiper: end the hotplug thread, then finish the loads it started.
        if let Some(h) = &boot.hotplug {
            h.stop();
        }
        if let Some(loader) = &boot.loader {
            loader.wait_idle();
        }
        shell::stop_leftovers();
        let err = switch_root::switch_root(NEWROOT, &init, &args, &boot.kernel_env);
        kmsg::LOGGER.open(true, false);
        if let Some(Err(e)) = boot.hotplug.as_ref().map(Hotplug::resume) {
            log::warn!("cannot restart the hotplug thread ({e}): devices plugged in now get no driver");
        }
        boot.emergency(&format!("switch_root to {NEWROOT} failed: {err}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(s: &str) -> Vec<&'static str> {
        break_stages(&Cmdline::parse(s)).0
    }

    #[test]
    fn break_points_follow_dracut() {
        assert_eq!(stages("rd.break"), ["switch_root"]);
        assert_eq!(stages("rd.break="), ["switch_root"]);
        assert_eq!(stages("rd.break=pre-mount"), ["pre-mount"]);
        assert_eq!(stages("rd.break=pre-mount rd.break=cleanup"), ["pre-mount", "cleanup"]);
        // Bare only counts when it is the last rd.break token.
        assert_eq!(stages("rd.break rd.break=pre-mount"), ["pre-mount"]);
        assert_eq!(stages("rd.break=pre-mount rd.break"), ["pre-mount", "switch_root"]);
        assert!(stages("rd.break=switch_root").is_empty());
        assert!(stages("rd.break=Pre-Mount").is_empty());
        let (s, unknown) = break_stages(&Cmdline::parse("rd.break=bogus"));
        assert!(s.is_empty());
        assert_eq!(unknown, ["rd.break=bogus"]);
    }

    #[test]
    fn other_families_spellings() {
        assert_eq!(stages("break=top"), ["cmdline"]);
        assert_eq!(stages("break"), ["pre-mount"]);
        assert_eq!(stages("break=modules,init"), ["pre-trigger", "switch_root"]);
        assert_eq!(stages("break=postmount"), ["pre-pivot"]);
        assert_eq!(stages("break=y"), ["pre-mount"]);
        assert_eq!(break_stages(&Cmdline::parse("break=nope")).1, ["break=nope"]);
    }
}
