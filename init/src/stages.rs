//! The boot's sequence, stage by stage in dracut's order, with its break points and emergency
//! paths. What the boot knows and the services it uses live in `boot`; the decisions in the
//! rooms below (`root`, `mount_root`, `devices`).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::ask::{self, Answer};
use crate::boot::{Boot, Next, RootWait, Stage, Stop};
use crate::cmdline::Cmdline;
use crate::devices::{self, BlockDev};
use crate::mount_root::{self, NEWROOT};
use crate::root::{self, RootError, RootSpec};
use crate::storage::luks_open::{self, Verdict};
use crate::uevent::Uevents;
use crate::{fstab, handoff, kmsg, mounts, report, resume, shell, switch_root};

/// The stages a command line asks to break before, dracut's `rd.break=<stage>` plus the
/// initramfs-tools (`break=top|modules|premount|mount|mountroot|bottom|init`) and mkinitcpio
/// (`break=premount|postmount`, `break=y`) spellings.
pub fn break_stages(c: &Cmdline) -> (Vec<Stage>, Vec<String>) {
    let mut stages = Vec::new();
    let mut unknown = Vec::new();
    for v in c.all("rd.break") {
        if v == "rd.break" {
            continue;
        }
        match Stage::named(v) {
            Some(s) => stages.push(s),
            None => unknown.push(format!("rd.break={v}")),
        }
    }
    // Bare `rd.break` counts only when the last rd.break token has no value.
    if c.last("rd.break").is_some_and(|v| v.is_none_or(str::is_empty)) {
        stages.push(Stage::SwitchRoot);
    }
    for a in c.args().iter().filter(|a| a.key == "break") {
        let values: Vec<&str> = a.value.as_deref().map_or(vec!["premount"], |v| v.split(',').collect());
        for v in values {
            let stage = match v {
                "top" => Stage::Cmdline,
                "modules" => Stage::PreTrigger,
                "premount" | "y" | "" => Stage::PreMount,
                "mount" | "mountroot" => Stage::Mount,
                "bottom" | "postmount" => Stage::PrePivot,
                "init" => Stage::SwitchRoot,
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

/// Why the boot cannot go on at a stage; the text is what the shell opens with.
#[derive(Debug, thiserror::Error)]
enum StageError {
    /// The device did not appear within `rd.retry` seconds of waiting (`worked`: seconds spent
    /// assembling and at prompts besides, not counted).
    #[error("Could not boot.\n\"{dev}\" does not exist (waited {waited}s of rd.retry; {worked}s more went to scanning and assembling storage){seen}")]
    NotFound { dev: String, waited: u64, worked: u64, seen: String },
    /// Waiting cannot help: two filesystems with one UUID, swap or LUKS where a filesystem is
    /// wanted.
    #[error("{0}")]
    Root(#[from] RootError),
    /// The mount failed: `mount_root`'s account of what was tried and what to try.
    #[error("{0}")]
    Mount(String),
    /// `/sysroot` was unmounted in the shell.
    #[error("{NEWROOT} was unmounted; mount the root there, then exit")]
    Unmounted,
    #[error("Mounting {target} to {at} failed: /etc/fstab names its device as {spec:?}: {source}")]
    FstabSpec { target: String, at: String, spec: String, source: Box<RootError> },
    #[error("Mounting {target} to {at} failed: {source}")]
    Fstab { target: String, at: String, source: Box<StageError> },
}

/// What a waited-for device must hold: a filesystem to mount, or anything (the resume swap).
#[derive(Clone, Copy)]
enum Want {
    Filesystem,
    Any,
}

/// The boot and the break points still ahead.
struct Sequence {
    boot: Boot,
    breaks: Vec<Stage>,
}

impl Sequence {
    fn new(boot: Boot) -> Self {
        let (breaks, unknown) = break_stages(boot.cmdline());
        for u in unknown {
            let known: Vec<&str> = Stage::NAMED.iter().map(|s| s.name()).collect();
            log::warn!("ignoring unknown break point {u}; known: {}, or a bare rd.break", known.join(", "));
        }
        Sequence { boot, breaks }
    }

    fn maybe_break(&mut self, stage: Stage) {
        if self.breaks.contains(&stage) {
            // Each break point stops once, even when a later failure loops back past it.
            self.breaks.retain(|s| *s != stage);
            if stage.before_root() {
                self.boot.settle();
            }
            if stage_after_root_search(stage) {
                // Disks still being scanned when the root was found (a SCSI host's targets,
                // probed in the background) get their /dev/disk links before the prompt: only
                // what is new is read.
                self.boot.scan();
            }
            log::debug!("breaking before {}", stage.name());
            shell::emergency_shell(&mut self.boot, Stop::Break(stage));
        }
    }

    /// An error the user may fix from the shell: report, shell, then let the caller retry.
    fn emergency(&mut self, msg: &str) {
        log::error!("{msg}");
        shell::emergency_shell(&mut self.boot, Stop::Failure(msg));
    }

    /// A failure with no retry (dracut's `die`): report, shell if allowed, then the emergency
    /// action (poweroff unless `rd.emergency=` says otherwise).
    fn die(&mut self, msg: &str) -> ! {
        log::error!("FATAL: {msg}");
        log::error!("Refusing to continue");
        self.boot.mark_died();
        loop {
            shell::emergency_shell(&mut self.boot, Stop::Failure(msg));
        }
    }

    /// Waits for the root device for up to `rd.retry` seconds (dracut's default 180). Ok(None)
    /// when someone mounted a root on /sysroot by hand in the shell meanwhile; Err when waiting
    /// cannot help (two filesystems with one UUID, swap or LUKS) or the time ran out.
    fn wait_for_root(&mut self, spec: &RootSpec) -> Result<Option<BlockDev>, StageError> {
        if mounts::mounted_at(NEWROOT).is_some() {
            log::info!("{NEWROOT} was mounted by hand; using it");
            return Ok(None);
        }
        let retry = self.boot.cmdline().number("rd.retry", 180, 0, 86_400);
        self.wait_for_device(spec, Want::Filesystem, retry).map(Some)
    }

    /// dracut's resume: once the root is there, the `resume=` device is waited for too (up to
    /// two thirds of rd.retry, dracut's timeout hooks) and handed to the kernel if it holds an
    /// image, before any filesystem is mounted.
    fn resume(&mut self, request: &resume::Request) {
        let resume::Request::Resume { spec, offset } = request else { return };
        let limit = self.boot.cmdline().number("rd.retry", 180, 0, 86_400) * 2 / 3;
        match self.wait_for_device(spec, Want::Any, limit) {
            Ok(dev) => resume::resume(&dev, *offset, &self.boot.paths().dev, Path::new("/sys/power")),
            Err(_) => log::warn!("Cancelling resume operation. Device {} not found.", spec.dev_path()),
        }
    }

    /// Waits for the device `spec` names for up to `retry` seconds of waiting: the time spent
    /// working (scans and their storage steps: an array started, a keyslot opened, `lvm` run;
    /// the passphrase prompt) is not taken out of it, as dracut's main loop counts only its
    /// waiting rounds. A last scan that made devices is looked at before giving up.
    fn wait_for_device(&mut self, spec: &RootSpec, want: Want, retry: u64) -> Result<BlockDev, StageError> {
        let mut clock = RootWait::new(Duration::from_secs(retry));
        let mut next_note = Duration::from_secs(5);
        loop {
            let seen = self.boot.hotplug().map(|h| h.generation());
            let look = Instant::now();
            let found = self.find_settled(spec, want)?;
            let asked = found.is_none() && self.ask_passphrase();
            let worked = look.elapsed();
            clock.worked_for(worked);
            if asked {
                // The prompt's time is the person's: not the members' to wait for either.
                self.boot.storage().add_work(worked);
            }
            if let Some(d) = found {
                return Ok(d);
            }
            if asked {
                continue;
            }
            let wait = match clock.next(self.boot.made()) {
                Next::Wait(d) => d,
                Next::LookAgain(d) => {
                    log::info!("rd.retry={retry}s used up, but the last scan made devices: looking at them");
                    self.wait_uevent(seen, d);
                    continue;
                }
                Next::GiveUp => {
                    return Err(StageError::NotFound {
                        dev: spec.dev_path(),
                        waited: clock.waited().as_secs(),
                        worked: clock.worked().as_secs(),
                        seen: self.boot.seen_summary(),
                    })
                }
            };
            if clock.waited() >= next_note {
                log::warn!(
                    "still waiting for {} ({}s of rd.retry={retry}s)",
                    spec.dev_path(),
                    clock.waited().as_secs()
                );
                next_note += Duration::from_secs(5);
            }
            let t = Instant::now();
            self.wait_uevent(seen, wait);
            clock.waited_for(t.elapsed());
        }
    }

    /// Sysfs is re-read as soon as uevents arrive, and after `most` in case one was missed.
    fn wait_uevent(&self, seen: Option<u64>, most: Duration) {
        match (self.boot.hotplug(), seen) {
            (Some(h), Some(g)) => h.wait_change(g, most),
            _ => std::thread::sleep(most),
        }
    }

    /// cryptroot-ask: asks for the passphrase of the first LUKS container still locked and tries
    /// the answer on every one; wrong tries used up or Ctrl-C open the shell with how to open
    /// it by hand. Returns whether the prompt was shown (the devices are scanned again).
    fn ask_passphrase(&mut self) -> bool {
        let Some(asked) = self.boot.locked().into_iter().next() else {
            return false;
        };
        ask::load_keymap_once(Path::new("/"), self.boot.cmdline());
        // A header with tokens: why none unlocked it comes first (the console may have
        // scrolled past the log line).
        let note = asked.note.as_ref().map(|n| format!("{n}\r\n")).unwrap_or_default();
        let prompt = format!("{note}Please enter passphrase for disk {} ({}):", asked.node, asked.name);
        let timeout = self.boot.cmdline().number("rd.luks.timeout", 0, 0, 86_400);
        let ttys = ask::consoles(&self.boot.paths().sys);
        let by_hand = format!("cryptsetup open {} {}", asked.node, asked.name);
        match ask::ask(&prompt, &ttys, (timeout > 0).then(|| Duration::from_secs(timeout))) {
            Answer::Secret(secret) => {
                let results = self.boot.unlock(&secret);
                drop(secret);
                match luks_open::verdict(&asked, &results) {
                    Verdict::Opened => {}
                    Verdict::Again(msg) => log::warn!("{msg}"),
                    Verdict::Shell(msg) => {
                        self.boot.storage().give_up(asked.devno, "the passphrase was not accepted");
                        self.emergency(&msg);
                    }
                }
            }
            Answer::Cancelled => {
                self.boot.storage().give_up(asked.devno, "the prompt was cancelled");
                self.emergency(&format!(
                    "Passphrase prompt for {} ({}) cancelled.\nOpen it by hand: {by_hand}, then exit to go on booting.",
                    asked.node, asked.name
                ));
            }
            Answer::TimedOut => {
                self.boot.storage().give_up(asked.devno, "rd.luks.timeout ran out");
                log::warn!("No passphrase for {} within rd.luks.timeout={timeout}s; leaving it locked", asked.node);
            }
            Answer::NoConsole(e) => {
                self.boot.storage().give_up(asked.devno, "no console to ask on");
                log::warn!(
                    "cannot ask for the passphrase of {}: {e}; leaving it locked ({by_hand} in the shell)",
                    asked.node
                );
            }
        }
        true
    }

    /// The root device, once it is there and every device announced so far has been seen.
    fn find_settled(&mut self, spec: &RootSpec, want: Want) -> Result<Option<BlockDev>, StageError> {
        let dev_dir = self.boot.paths().dev.clone();
        let find = match want {
            Want::Filesystem => root::find,
            Want::Any => root::find_device,
        };
        let Some(d) = find(spec, self.boot.scan(), &dev_dir)?.cloned() else {
            return Ok(None);
        };
        // Its filesystem driver loads meanwhile: the CPU is mostly idle while other disks are
        // probed, and either disk would need it.
        if let (Some(loader), Some(t)) = (self.boot.loader(), mount_root::fstype(self.boot.cmdline(), &d)) {
            loader.spawn_filesystem(&t);
        }
        // A second filesystem with the same UUID must be seen, not raced past: settle (every
        // driver loaded, no new device announced), then look again. Waiting only for the drivers
        // on the way to this disk was tried and measured faster, but still raced past a second
        // virtio disk.
        self.boot.settle();
        Ok(find(spec, self.boot.scan(), &dev_dir)?.cloned())
    }

    /// Mounts the root read-only at /sysroot, then remounts per rw/rootflags.
    fn mount_root(&self, dev: &BlockDev) -> Result<(), StageError> {
        if mounts::mounted_at(NEWROOT).is_some() {
            return Ok(()); // mounted by hand in the shell
        }
        let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
        let plan = mount_root::plan(self.boot.cmdline(), dev, self.boot.devices(), &filesystems);
        mount_root::execute(&plan, self.boot.loader().map(|l| &**l)).map_err(StageError::Mount)
    }

    /// dracut's usrmount: a separate `/usr` (and any `x-initrd.mount` entry) of the root's fstab
    /// is mounted before init is looked for, since a merged-usr root's init lives there.
    fn mount_initrd_fstab(&mut self) -> Result<(), StageError> {
        let text = std::fs::read_to_string(Path::new(NEWROOT).join("etc/fstab")).unwrap_or_default();
        for entry in fstab::initrd_mounts(&text) {
            let target = Path::new(NEWROOT).join(entry.target.trim_start_matches('/'));
            if mounts::mounted_at(&target.to_string_lossy()).is_some() {
                continue;
            }
            let at = || (entry.target.clone(), target.display().to_string());
            let spec = RootSpec::parse(&entry.spec).map_err(|source| {
                let (target, at) = at();
                StageError::FstabSpec { target, at, spec: entry.spec.clone(), source: Box::new(source) }
            })?;
            let retry = self.boot.cmdline().number("rd.retry", 180, 0, 86_400);
            let dev = self.wait_for_device(&spec, Want::Filesystem, retry).map_err(|e| {
                let (target, at) = at();
                StageError::Fstab { target, at, source: Box::new(e) }
            })?;
            let plan = mount_root::entry_plan(self.boot.cmdline(), &entry, &dev);
            mount_root::execute(&plan, self.boot.loader().map(|l| &**l)).map_err(StageError::Mount)?;
        }
        Ok(())
    }
}

/// Whether the root was searched for before this stop (devices are scanned and stacks
/// assembled from then on; before it, as before dracut's initqueue, nothing is).
fn stage_after_root_search(stage: Stage) -> bool {
    !matches!(stage, Stage::Cmdline | Stage::PreUdev | Stage::PreTrigger | Stage::Initqueue)
}

/// The whole boot. Never returns: it ends in the real init, or in the shell and an emergency action.
pub fn run(proc_cmdline: Cmdline, kernel_env: Vec<(String, String)>, started: Instant) -> ! {
    let cmdline = Cmdline::from_system(Path::new("/"));
    let verbose = cmdline.flag("rd.info", false) || cmdline.flag("rd.debug", false);
    let quiet = cmdline.last("quiet").is_some();
    kmsg::LOGGER.open(verbose || !quiet && cmdline.flag("rd.info", false), cmdline.flag("rd.debug", false));
    // dracut's own init boots what rdbreak does not do: decided before anything else is done.
    let no_handoff = handoff::run(&cmdline, started);
    for e in mounts::mount_early() {
        log::error!("{e}");
    }
    kmsg::LOGGER.keep_file("/run/initramfs/init.log");
    if cmdline.flag("rd.debug", false) {
        // The default rate limit would drop most of a debug boot's lines.
        let _ = std::fs::write("/proc/sys/kernel/printk_devkmsg", "on\n");
    }
    log::info!("rdbreak {} starting (kernel uptime {})", env!("CARGO_PKG_VERSION"), report::uptime());

    let mut seq = Sequence::new(Boot::new(cmdline));
    if let Some(msg) = no_handoff {
        seq.emergency(&msg);
    }

    seq.maybe_break(Stage::Cmdline);
    let root_arg = seq.boot.cmdline().get("root").unwrap_or("").to_string();
    let spec = match RootSpec::parse(&root_arg) {
        Ok(spec) => spec,
        Err(e) => seq.die(&e.to_string()),
    };

    seq.maybe_break(Stage::PreUdev);
    // Listen before loading anything, so no device that a driver reveals is missed.
    let socket = Uevents::open().map_err(|e| log::warn!("no uevent socket ({e}); polling sysfs instead")).ok();
    let socket =
        socket.map(|s| (s, devices::block_names(Path::new("/sys")).iter().map(|n| n.replace('!', "/")).collect()));
    log::debug!("uevent socket open");
    seq.boot.open_modules();
    log::debug!("module index loaded");
    seq.boot.start_hotplug(socket);
    if let Some(loader) = seq.boot.loader() {
        // Synchronously, as dracut's modprobe does: loading it beside coldplug was measured
        // slower (one CPU, and raid6_pq's benchmark runs for a fixed time).
        let pre = seq.boot.cmdline().list("rd.driver.pre");
        if !pre.is_empty() {
            loader.request(&pre, true);
        }
    }

    seq.maybe_break(Stage::PreTrigger);
    seq.boot.coldplug();
    log::debug!("coldplug started at {}", report::uptime());

    seq.maybe_break(Stage::Initqueue);
    let resume_request = resume::request(seq.boot.cmdline()).unwrap_or_else(|e| {
        log::warn!("{e}");
        resume::Request::None
    });
    let dev = loop {
        match seq.wait_for_root(&spec) {
            Ok(d) => break d,
            Err(e) => seq.emergency(&e.to_string()),
        }
    };
    seq.resume(&resume_request);
    if let Some(loader) = seq.boot.loader() {
        let post = seq.boot.cmdline().list("rd.driver.post");
        if !post.is_empty() {
            loader.request(&post, true);
        }
    }
    if let Some(d) = &dev {
        log::debug!("root device {} found at {}", d.describe(), report::uptime());
    }

    seq.maybe_break(Stage::PreMount);
    seq.maybe_break(Stage::Mount);
    loop {
        let result = match &dev {
            Some(d) => seq.mount_root(d),
            None if mounts::mounted_at(NEWROOT).is_some() => Ok(()),
            None => Err(StageError::Unmounted),
        };
        match result {
            Ok(()) => break,
            Err(e) => seq.emergency(&e.to_string()),
        }
    }

    seq.maybe_break(Stage::PrePivot);
    // dracut's pre-pivot hooks run after its pre-pivot break; usrmount is one of them.
    while let Err(e) = seq.mount_initrd_fstab() {
        seq.emergency(&e.to_string());
    }
    seq.maybe_break(Stage::Cleanup);
    loop {
        let init = loop {
            match root::find_init(Path::new(NEWROOT), seq.boot.cmdline()) {
                Ok(i) => break i,
                Err(e) => seq.emergency(&e.to_string()),
            }
        };
        seq.maybe_break(Stage::SwitchRoot);
        // The shell may have unmounted the root: refuse to switch into an empty /sysroot, and
        // say how to go on, rather than guess what the user wanted.
        if mounts::mounted_at(NEWROOT).is_none() {
            let how = dev.as_ref().map_or("mount DEVICE /sysroot".to_string(), |d| {
                format!("mount -o ro {} {NEWROOT}", d.node().display())
            });
            seq.emergency(&format!(
                "Not switching root: nothing is mounted on {NEWROOT}. Mount the root there ({how}), then exit."
            ));
            continue;
        }
        let args = root::init_args(&proc_cmdline);
        log::info!("Switching root to {init} {} (kernel uptime {})", args.join(" "), report::uptime());
        // No module may be half-loaded when PID 1 execs, and PID 1 must be one thread again to
        // fork the initramfs wiper: end the hotplug thread, then finish the loads it started.
        if let Some(h) = seq.boot.hotplug() {
            h.stop();
        }
        if let Some(loader) = seq.boot.loader() {
            loader.wait_idle();
        }
        shell::stop_leftovers();
        let err = switch_root::switch_root(NEWROOT, &init, &args, &kernel_env);
        kmsg::LOGGER.open(true, false);
        if let Some(Err(e)) = seq.boot.hotplug().map(|h| h.resume()) {
            log::warn!("cannot restart the hotplug thread ({e}): devices plugged in now get no driver");
        }
        seq.emergency(&format!("switch_root to {NEWROOT} failed: {err}"));
    }
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/; the `cmdline` target with `cmdline::fuzz_one`):
/// what the boot reads of any bytes as a command line, the stages to break at, init's arguments
/// and the root's mount options; never panics.
pub fn fuzz_one(data: &[u8]) {
    let c = Cmdline::parse(&String::from_utf8_lossy(data));
    let _ = break_stages(&c);
    let _ = crate::root::init_args(&c);
    let _ = crate::root::root_options(&c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(s: &str) -> Vec<&'static str> {
        break_stages(&Cmdline::parse(s)).0.into_iter().map(Stage::name).collect()
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
    fn stops_after_the_root_search_scan_first() {
        let after: Vec<&str> =
            Stage::NAMED.into_iter().filter(|s| stage_after_root_search(*s)).map(|s| s.name()).collect();
        assert_eq!(after, ["pre-mount", "mount", "pre-pivot", "cleanup"]);
        assert!(stage_after_root_search(Stage::SwitchRoot));
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
