//! What the boot has learned, and the services the stages, the shell and the report share: the
//! command line, the module loader, the hotplug thread, the block devices seen, rescan and
//! settle. `stages` drives it; the shell and the report only call its methods. Also the names of
//! the stops the shell is opened for (`Stage`, `Stop`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::cmdline::Cmdline;
use crate::devices::{self, BlockDev};
use crate::hotplug::Hotplug;
use crate::kmod::{Loader, ModuleIndex};
use crate::storage::assemble::{self, Assembler};
use crate::storage::luks_open::{Locked, Outcome};
use crate::uevent::{self, Uevents};

/// dracut's break points, in boot order, and the final one before switch_root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Cmdline,
    PreUdev,
    PreTrigger,
    Initqueue,
    PreMount,
    Mount,
    PrePivot,
    Cleanup,
    /// A bare `rd.break`: everything done, just before switch_root.
    SwitchRoot,
}

impl Stage {
    /// The stages `rd.break=STAGE` names, in boot order.
    pub const NAMED: [Stage; 8] = [
        Stage::Cmdline,
        Stage::PreUdev,
        Stage::PreTrigger,
        Stage::Initqueue,
        Stage::PreMount,
        Stage::Mount,
        Stage::PrePivot,
        Stage::Cleanup,
    ];

    /// dracut's name, which is also the prompt (`pre-mount:/# `, `switch_root:/# `).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Cmdline => "cmdline",
            Stage::PreUdev => "pre-udev",
            Stage::PreTrigger => "pre-trigger",
            Stage::Initqueue => "initqueue",
            Stage::PreMount => "pre-mount",
            Stage::Mount => "mount",
            Stage::PrePivot => "pre-pivot",
            Stage::Cleanup => "cleanup",
            Stage::SwitchRoot => "switch_root",
        }
    }

    /// The stage `rd.break=NAME` stops before (exact match, as dracut's `getargs`).
    pub fn named(name: &str) -> Option<Stage> {
        Stage::NAMED.into_iter().find(|s| s.name() == name)
    }

    /// Whether the root is not mounted yet: the shell then shows a settled machine (no driver
    /// half-loaded behind the prompt). Later, what still loads is irrelevant to the user's work
    /// there, so the prompt comes at once; the switch itself waits for every load.
    pub fn before_root(self) -> bool {
        !matches!(self, Stage::PrePivot | Stage::Cleanup | Stage::SwitchRoot)
    }
}

/// Why the shell is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop<'a> {
    /// A break point the user asked for.
    Break(Stage),
    /// A failure the user may mend from the shell (dracut's `emergency_shell`).
    Failure(&'a str),
    /// PID 1 crashed and was re-executed to keep the machine usable.
    Rescue(&'a str),
}

impl Stop<'_> {
    /// The prompt's name: the stage of a break, dracut's `dracut` after a failure.
    pub fn prompt(&self) -> &'static str {
        match self {
            Stop::Break(s) => s.name(),
            Stop::Failure(_) => "dracut",
            Stop::Rescue(_) => "rescue",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Stop::Break(s) => format!("Break before {}", s.name()),
            Stop::Failure(m) | Stop::Rescue(m) => m.to_string(),
        }
    }
}

/// Where the kernel's trees are: `/sys` and `/dev` at boot, a fake tree in host tests.
#[derive(Clone, Debug)]
pub struct Paths {
    pub sys: PathBuf,
    pub dev: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths { sys: "/sys".into(), dev: "/dev".into() }
    }
}

/// rd.retry's clock for one wait, counted as dracut's main loop counts its rounds: the time
/// spent waiting for devices to appear, never the time spent working on them (an array started,
/// a keyslot opened, `lvm` run, a passphrase typed). Pure: the stage loop feeds it each round.
#[derive(Debug)]
pub struct RootWait {
    limit: Duration,
    waited: Duration,
    worked: Duration,
}

/// What the stage loop does after a round in which the device was not found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait for the kernel (up to this long), then look again.
    Wait(Duration),
    /// The time is used up, but the last scan made devices: look at them (waiting up to this
    /// long for the kernel to announce them, not counted) before giving up.
    LookAgain(Duration),
    GiveUp,
}

impl RootWait {
    pub fn new(limit: Duration) -> Self {
        RootWait { limit, waited: Duration::ZERO, worked: Duration::ZERO }
    }

    /// Time waited so far, which rd.retry limits.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Time spent working (not counted).
    pub fn worked(&self) -> Duration {
        self.worked
    }

    /// Counts a wait between two looks.
    pub fn waited_for(&mut self, d: Duration) {
        self.waited = self.waited.saturating_add(d);
    }

    /// Counts a look that worked for `d` (a scan and its storage steps, a prompt): not rd.retry's.
    pub fn worked_for(&mut self, d: Duration) {
        self.worked = self.worked.saturating_add(d);
    }

    /// After a look that did not find the device: `made` is how many block devices that look's
    /// storage steps created.
    pub fn next(&self, made: usize) -> Next {
        let round = Duration::from_secs(1);
        match self.limit.checked_sub(self.waited).filter(|left| !left.is_zero()) {
            Some(left) => Next::Wait(left.min(round)),
            None if made > 0 => Next::LookAgain(round),
            None => Next::GiveUp,
        }
    }
}

pub struct Boot {
    cmdline: Cmdline,
    paths: Paths,
    loader: Option<Arc<Loader>>,
    /// Loads drivers for devices as the kernel announces them (None: no uevent socket).
    hotplug: Option<Hotplug>,
    devs: Vec<BlockDev>,
    /// LVM (and later MD, LUKS) assembled from the devices seen.
    storage: Assembler,
    /// A fatal failure happened: after the shell the machine does the emergency action.
    died: bool,
    /// Block devices the last scan's storage steps created (they are announced after it).
    made: usize,
    /// What earlier scans read of each device: the boot's scans read only what is new.
    known: devices::Known,
    /// What the last scan did, for the debug log and the bench.
    work: devices::ScanWork,
}

impl Boot {
    pub fn new(cmdline: Cmdline) -> Self {
        let mut boot = Boot::with_paths(cmdline, Paths::default());
        // dracut puts the host's crypttab in hostonly images; its names and key files count.
        let crypttab = crate::storage::luks_rules::read_crypttab(Path::new("/etc/crypttab"));
        boot.storage.set_crypttab(&boot.cmdline, crypttab.as_deref());
        boot
    }

    pub fn with_paths(cmdline: Cmdline, paths: Paths) -> Self {
        let storage = Assembler::new(&cmdline);
        Boot {
            cmdline,
            paths,
            loader: None,
            hotplug: None,
            devs: Vec::new(),
            storage,
            died: false,
            made: 0,
            known: devices::Known::default(),
            work: devices::ScanWork::default(),
        }
    }

    pub fn cmdline(&self) -> &Cmdline {
        &self.cmdline
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn loader(&self) -> Option<&Arc<Loader>> {
        self.loader.as_ref()
    }

    /// Holds the locks the hotplug and module-loader threads share with the shell's builtins,
    /// for the moment of a fork (taken before the log's, in the order those threads take them).
    pub fn hold_for_fork(&self) -> impl Sized + '_ {
        (self.hotplug.as_ref().map(|h| h.hold()), self.loader.as_deref().map(|l| l.hold()))
    }

    pub fn hotplug(&self) -> Option<&Hotplug> {
        self.hotplug.as_ref()
    }

    /// The block devices of the last scan.
    pub fn devices(&self) -> &[BlockDev] {
        &self.devs
    }

    pub fn died(&self) -> bool {
        self.died
    }

    /// After a failure with no retry (dracut's `die`).
    pub fn mark_died(&mut self) {
        self.died = true;
    }

    /// The one device scan, every device read afresh (the shell's commands: a person may have
    /// changed a disk): what sysfs lists, less what the kernel has not announced yet, probed,
    /// with its `/dev/disk/by-*` links made. Storage stacks complete with these devices are
    /// assembled; what they create is announced by the kernel and seen by the next scan.
    pub fn rescan(&mut self) -> &[BlockDev] {
        self.known.clear();
        self.scan()
    }

    /// The boot's scan, once per batch of uevents while the root is awaited: [`Boot::rescan`],
    /// but a device seen by an earlier scan, unchanged (same sysfs place, number and size) and
    /// with no uevent since, is taken as it was read; only new and changed devices are read,
    /// named and probed, and only new links made. So the work per uevent does not grow with the
    /// disks already there.
    pub fn scan(&mut self) -> &[BlockDev] {
        let hotplug = self.hotplug.as_ref();
        for name in hotplug.map(|h| h.take_touched()).unwrap_or_default() {
            self.known.forget(&name);
        }
        let keep = |name: &str| hotplug.is_none_or(|h| h.announced(name));
        // Where a scan's time goes, for rd.debug: reading and probing, links, assembly.
        let t = std::time::Instant::now();
        let (mut devs, work) = devices::scan(&self.paths.sys, &self.paths.dev, &mut self.known, &keep);
        self.storage.identify(&mut devs, &self.paths.dev);
        let read = t.elapsed();
        let links = devs.iter().flat_map(devices::links).collect::<Vec<_>>();
        devices::place_links_known(links, &self.paths.dev, &mut self.known.links);
        devices::place_links_known(assemble::links(&devs), &self.paths.dev, &mut self.known.links);
        let linked = t.elapsed();
        self.made = self.storage.step(&devs, &self.paths.dev, self.loader.as_deref());
        self.devs = devs;
        self.work = work;
        let ms = crate::format::Ms;
        log::debug!(
            "scan: {} devices, {} read, {} probed ({} ms: reading {}, links {}, assembly {})",
            work.devices,
            work.read,
            work.probed,
            ms(t.elapsed()),
            ms(read),
            ms(linked - read),
            ms(t.elapsed() - linked)
        );
        &self.devs
    }

    /// What the last scan did.
    pub fn scan_work(&self) -> devices::ScanWork {
        self.work
    }

    /// How many block devices the last scan's storage steps created.
    pub fn made(&self) -> usize {
        self.made
    }

    /// The LUKS containers of the last scan still waiting for a passphrase.
    pub fn locked(&self) -> Vec<Locked> {
        self.storage.locked(&self.devs)
    }

    /// Tries a passphrase on every LUKS container still locked, over the last scan's devices.
    pub fn unlock(&mut self, secret: &[u8]) -> Vec<(Locked, Outcome)> {
        self.storage.unlock_all(&self.devs, secret, &self.paths.dev, self.loader.as_deref())
    }

    /// Before any shell opens: what a TPM would unseal on this boot is sealed off (the PCRs the
    /// TPM2 tokens of the LUKS containers seen bind are extended), said on the console and kmsg.
    pub fn before_shell(&mut self) {
        for line in self.storage.before_shell(&self.devs, &self.paths.dev) {
            log::warn!("{line}");
        }
    }

    /// The storage stacks, for the shell's `vgscan` and friends.
    pub fn storage(&mut self) -> &mut Assembler {
        &mut self.storage
    }

    /// Loads the index of this kernel's modules, when the image has them.
    pub fn open_modules(&mut self) {
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
    pub fn coldplug(&self) {
        let Some(loader) = &self.loader else { return };
        let aliases = uevent::modaliases(&self.paths.sys);
        log::debug!("coldplug: {} modaliases", aliases.len());
        loader.spawn_boot_drivers(&aliases);
    }

    /// Starts handling uevents: from here on every device the kernel announces gets its driver,
    /// whatever the boot or the shell is doing. Events queued since `socket` opened come first;
    /// with it, the block devices there were when it opened.
    pub fn start_hotplug(&mut self, socket: Option<(Uevents, Vec<String>)>) {
        let Some((socket, blocks)) = socket else { return };
        let drivers = self.loader.clone().map(|l| Box::new(l) as Box<dyn crate::hotplug::Drivers>);
        match Hotplug::start(Box::new(socket), drivers, blocks) {
            Ok(h) => self.hotplug = Some(h),
            Err(e) => log::warn!("cannot start the hotplug thread ({e}); polling sysfs instead"),
        }
    }

    /// dracut's `udevadm settle`: until every device announced so far has its driver loaded.
    pub fn settle(&self) {
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

    /// What rdbreak saw, for messages after a failure.
    pub fn seen_summary(&self) -> String {
        let mut s = String::from("\nBlock devices found:");
        if self.devs.is_empty() {
            s += " none";
        }
        for d in &self.devs {
            s += &format!("\n  {}", d.describe());
        }
        for p in self.storage.pending() {
            s += &format!("\n{p}");
        }
        for d in devices::storage_without_driver(&self.paths.sys) {
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
}

#[cfg(test)]
mod tests {

    /// A fake boot: each round is (seconds working, devices made); between rounds the loop
    /// waits what the clock says. Returns the rounds looked at and the seconds waited.
    fn run_rounds(limit: u64, rounds: &[(u64, usize)]) -> (usize, u64) {
        let mut clock = RootWait::new(Duration::from_secs(limit));
        let mut i = 0;
        loop {
            let (work, made) = rounds.get(i).copied().unwrap_or((0, 0));
            i += 1;
            clock.worked_for(Duration::from_secs(work));
            match clock.next(made) {
                Next::Wait(d) => clock.waited_for(d),
                Next::LookAgain(_) => {}
                Next::GiveUp => return (i, clock.waited().as_secs()),
            }
            assert!(i < 1000, "the wait ends");
        }
    }

    #[test]
    fn rd_retry_counts_waiting_not_working() {
        // Nothing appears: ten one-second waits, then the end.
        assert_eq!(run_rounds(10, &[]), (11, 10));
        // A degraded array started after 7 s, a keyslot that took 16 s, lvm 5 s: still 10 s of
        // waiting, all of it, whatever the work took.
        let (_, waited) =
            run_rounds(10, &[(0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (1, 1), (16, 1), (5, 1)]);
        assert_eq!(waited, 10);
        // rd.retry=0: one look, no wait.
        assert_eq!(run_rounds(0, &[]), (1, 0));
    }

    #[test]
    fn a_scan_that_made_devices_is_looked_at_before_giving_up() {
        // The time is up when the keyslot opens (the round made a mapping): look again, and
        // again while each look makes more (LVM on the new mapping), then give up.
        let rounds = [(0, 0), (0, 0), (16, 1), (2, 1), (0, 0)];
        let (looks, waited) = run_rounds(2, &rounds);
        assert_eq!(waited, 2);
        assert_eq!(looks, 5, "two waits, then the look that made a mapping and the LVs on it are followed");
        let clock = RootWait::new(Duration::ZERO);
        assert_eq!(clock.next(3), Next::LookAgain(Duration::from_secs(1)));
        assert_eq!(clock.next(0), Next::GiveUp);
        let mut clock = RootWait::new(Duration::from_millis(1500));
        clock.waited_for(Duration::from_secs(1));
        assert_eq!(clock.next(0), Next::Wait(Duration::from_millis(500)), "never past rd.retry");
    }
    use super::*;

    #[test]
    fn stops_name_their_prompt() {
        assert_eq!(Stop::Break(Stage::SwitchRoot).prompt(), "switch_root");
        assert_eq!(Stop::Break(Stage::PreMount).message(), "Break before pre-mount");
        assert_eq!(Stop::Failure("Could not boot.").prompt(), "dracut");
        assert_eq!(Stop::Rescue("crashed").prompt(), "rescue");
        assert_eq!(Stage::named("pre-pivot"), Some(Stage::PrePivot));
        assert_eq!(Stage::named("switch_root"), None, "not a named break point");
        assert!(Stage::Mount.before_root() && !Stage::PrePivot.before_root());
    }

    #[test]
    fn rescan_sees_a_fake_tree_and_makes_links() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        let dev = dir.path().join("dev");
        let disk = sys.join("devices/virtual/block/vda");
        std::fs::create_dir_all(&disk).unwrap();
        std::fs::create_dir_all(sys.join("class/block")).unwrap();
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(disk.join("dev"), "254:0\n").unwrap();
        std::fs::write(disk.join("size"), "8\n").unwrap();
        std::fs::write(disk.join("uevent"), "DEVNAME=vda\n").unwrap();
        std::os::unix::fs::symlink(&disk, sys.join("class/block/vda")).unwrap();
        std::fs::write(dev.join("vda"), vec![0u8; 4096]).unwrap();
        let mut boot = Boot::with_paths(Cmdline::parse(""), Paths { sys, dev: dev.clone() });
        assert_eq!(boot.rescan().len(), 1);
        assert_eq!(boot.devices()[0].name, "vda");
        assert_eq!(std::fs::read_link(dev.join("block/254:0")).unwrap(), Path::new("../vda"));
        assert!(boot.seen_summary().contains("/dev/vda (254:0, 0 MiB)"));
    }
}
