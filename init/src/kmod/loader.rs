//! The loader: runs plans against the running kernel (`finit_module`, or `init_module` on an
//! image decompressed here), wave by wave in threads, and remembers what loaded, what failed
//! and what was missing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::sync::Mutex;

use super::decompress::{compression_of, decompress, Compression, MAX_MODULE};
use super::index::ModuleIndex;
use super::plan::{load_nice, plan, Plan};
use super::{normalize, read_capped, KmodError};
use crate::cmdline::Cmdline;
use crate::sys;
use crate::uevent::read_attr;

/// Names of the modules the kernel has loaded now (`/proc/modules`).
pub fn loaded_modules() -> HashSet<String> {
    std::fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_ascii_whitespace().next())
        .map(normalize)
        .collect()
}

/// Whether a module load ends, as by default, once every asynchronous probe in flight is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    ForAsyncProbes,
    No,
}

/// Loads modules into the running kernel and remembers what it did.
pub struct Loader {
    pub index: ModuleIndex,
    /// Per-module parameters from the command line (`virtio_blk.queue_depth=…`).
    params: HashMap<String, Vec<String>>,
    /// The algorithm the kernel decompresses itself (`/sys/module/compression`), if any.
    kernel_decompress: Option<Compression>,
    state: Mutex<LoaderState>,
    /// Signalled whenever a load ends.
    load_ended: std::sync::Condvar,
    /// Requests running in the background (coldplug and uevents), joined by `wait_idle`.
    pending: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// Where the drivers a boot needs live: storage, buses and bridges, USB host and HID (a keyboard
/// for the shell). Coldplug loads only these; everything else (CPU crypto, sound, graphics,
/// network…) is left to the real system's udev after switch_root, and `modprobe` loads it on
/// request in the shell.
const BOOT_DRIVER_DIRS: &[&str] = &[
    "kernel/drivers/block/",
    "kernel/drivers/ata/",
    "kernel/drivers/scsi/",
    "kernel/drivers/nvme/",
    "kernel/drivers/mmc/",
    "kernel/drivers/virtio/",
    "kernel/drivers/md/",
    "kernel/drivers/usb/host/",
    "kernel/drivers/usb/storage/",
    "kernel/drivers/usb/core/",
    "kernel/drivers/hid/",
    "kernel/drivers/input/keyboard/",
    "kernel/drivers/input/serio/",
    "kernel/drivers/pci/",
    "kernel/drivers/message/",
    "kernel/drivers/nvdimm/",
    "kernel/drivers/cdrom/",
    "kernel/drivers/firewire/",
    "kernel/drivers/memstick/",
    "kernel/drivers/target/",
];

/// Drivers in those places that coldplug still leaves out. serio_raw's device table matches every
/// PS/2 port of an i8042, but it binds to none unless a program asks for it (`manual_bind`):
/// loading it drove nothing and cost a module load on every PC.
const NOT_FOR_BOOT: &[&str] = &["serio_raw"];

/// Whether a module (by its path in modules.dep) is one the boot needs before the root is up.
pub fn needed_for_boot(path: &str) -> bool {
    BOOT_DRIVER_DIRS.iter().any(|d| path.starts_with(d) || path.contains(&format!("/{d}")))
        && !NOT_FOR_BOOT.contains(&super::name_of_path(path).as_str())
}

#[derive(Default)]
struct LoaderState {
    loaded: HashSet<String>,
    /// Being loaded by some thread. Another thread that needs it waits: the kernel (before 6.4)
    /// checks the signature of, and lays out, a second copy before refusing it as a duplicate.
    loading: HashSet<String>,
    failed: HashMap<String, String>,
    missing: BTreeSet<String>,
    /// Modules a running request has planned and not yet finished (waiting for an earlier wave,
    /// or being loaded): what [`Loader::settled`] looks at.
    /// Counted: two requests may plan the same module, and a request started in a thread is
    /// counted from its start, before the thread has planned anything.
    queued: HashMap<String, usize>,
    /// Requests ever queued: the settle looks at the kernel's events again when it changes.
    started: u64,
}

impl LoaderState {
    fn queue<'a>(&mut self, names: impl IntoIterator<Item = &'a String>) {
        self.started += 1;
        for n in names {
            *self.queued.entry(n.clone()).or_default() += 1;
        }
    }

    fn unqueue(&mut self, name: &str) {
        if let Some(n) = self.queued.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                self.queued.remove(name);
            }
        }
    }
}

impl Loader {
    pub fn new(index: ModuleIndex, cmdline: &Cmdline) -> Self {
        let mut params: HashMap<String, Vec<String>> = HashMap::new();
        for arg in cmdline.args() {
            if let (Some((module, param)), Some(value)) = (arg.key.split_once('.'), &arg.value) {
                if !module.is_empty() && !param.is_empty() && module != "rd" {
                    params.entry(normalize(module)).or_default().push(format!("{param}={value}"));
                }
            }
        }
        let kernel_decompress = match std::fs::read_to_string("/sys/module/compression").as_deref().map(str::trim) {
            Ok("xz") => Some(Compression::Xz),
            Ok("zstd") => Some(Compression::Zstd),
            Ok("gzip") => Some(Compression::Gzip),
            _ => None,
        };
        let loaded = loaded_modules();
        Loader {
            index,
            params,
            kernel_decompress,
            state: Mutex::new(LoaderState { loaded, ..Default::default() }),
            load_ended: std::sync::Condvar::new(),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Holds the loader's locks (the shell takes them around a fork, so a child that loads a
    /// module never finds one held by a loader thread it does not have).
    pub fn hold(&self) -> impl Sized + '_ {
        let state = self.lock();
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        (state, pending)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LoaderState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Modules that were asked for and are not in the image.
    pub fn missing(&self) -> Vec<String> {
        self.lock().missing.iter().cloned().collect()
    }
    /// Modules the kernel refused, with the reason.
    pub fn failed(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self.lock().failed.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
        crate::sort::sort(&mut v);
        v
    }

    /// Loads modules by name or alias (with their dependencies); returns how many were loaded now.
    /// Names that resolve to nothing are remembered as missing when `required`.
    pub fn request(&self, names: &[String], required: bool) -> usize {
        self.request_as(names, required, Wait::ForAsyncProbes)
    }

    /// [`Loader::request`] for modules that drive no device of their own (device-mapper, md and
    /// its personalities, ciphers, filesystems): loaded with `async_probe=1`, so the load does
    /// not wait for the kernel's asynchronous work in flight (a SCSI host scanning 256 targets)
    /// before the array or the mapping can be made.
    pub fn request_stack(&self, names: &[String], required: bool) -> usize {
        self.request_as(names, required, Wait::No)
    }

    fn request_as(&self, names: &[String], required: bool, wait: Wait) -> usize {
        let mut wanted = Vec::new();
        for n in names {
            let found = self.index.lookup(n);
            if found.is_empty() && required && !self.index.is_builtin(n) {
                self.lock().missing.insert(n.clone()); // as asked for: `fs-ext4`, not `fs_ext4`
            }
            if !found.is_empty() {
                log::debug!("{n} -> {}", found.join(" "));
            }
            wanted.extend(found);
        }
        self.load(&wanted, required, wait)
    }

    /// The drivers coldplug would load for these modaliases: boot-relevant ones only, not yet
    /// loaded. The rest is reported at debug level.
    pub fn boot_drivers(&self, modaliases: &[String]) -> Vec<String> {
        let st = self.lock();
        let mut out = Vec::new();
        for alias in modaliases {
            for m in self.index.lookup(alias) {
                // Queued: a thread was handed it (sixteen SCSI LUNs' events did start sixteen).
                let started = st.loaded.contains(&m) || st.loading.contains(&m) || st.queued.contains_key(&m);
                if started || out.contains(&m) || self.index.is_builtin(&m) {
                    continue;
                }
                let path = self.index.modules.get(&m).map_or("", |e| e.path.as_str());
                if needed_for_boot(path) {
                    out.push(m);
                } else {
                    log::debug!("{alias}: leaving {m} to the real system");
                }
            }
        }
        out
    }

    /// Starts loading, each in its own thread, the boot drivers these modaliases need: a small
    /// driver (virtio_pci) is then not held up behind a big one (libata). Synchronously, as
    /// modprobe does: a driver's devices are probed, and named (virtio_blk's `vda`, `vdb`… in PCI
    /// order), within its load; `async_probe` would name them in whatever order the probes end.
    pub fn spawn_boot_drivers(self: &std::sync::Arc<Self>, modaliases: &[String]) {
        let drivers = self.boot_drivers(modaliases);
        if !drivers.is_empty() {
            log::debug!("loading boot drivers: {}", drivers.join(" "));
        }
        for d in drivers {
            self.spawn(vec![d], false);
        }
    }

    /// Whether every load in flight has got as far as its module being live. The kernel makes a
    /// module live once its init (with the synchronous probes of its devices) has run, then,
    /// before `finit_module` returns, waits for every asynchronous work in the system
    /// (`async_synchronize_full`): a SCSI host's scan of its targets, libata's probing of its
    /// ports, sd's probe of each disk. A settle that waited for the loads to return waited for
    /// the last disk of the largest JBOD; what is announced meanwhile is seen as it comes.
    ///
    /// Only drivers count: a module that drives no device announces none (ext4, loading while
    /// a SCSI host's scan takes the CPU, held the root search's settle for 0.7 s at 64 disks).
    /// A driver waiting for its dependencies is not live either.
    pub fn settled(&self, sysfs: &std::path::Path) -> bool {
        self.not_live(sysfs).is_empty()
    }

    /// The drivers in flight that are not live yet (what the settle waits for).
    pub fn not_live(&self, sysfs: &std::path::Path) -> Vec<String> {
        let st = self.lock();
        // Once each: a module may be both queued and loading.
        let in_flight: BTreeSet<&String> =
            st.queued.keys().chain(st.loading.iter()).filter(|m| self.index.drives_devices(m)).collect();
        let in_flight: Vec<&String> = in_flight.into_iter().collect();
        not_live(&in_flight, &|m| read_attr(&sysfs.join("module").join(m).join("initstate")))
    }

    /// Loads a filesystem's driver in the background, not waiting for other drivers' disk probes.
    /// The kernel ends every module load by waiting for all asynchronous work in flight
    /// (`async_synchronize_full`), so ext4 would otherwise finish only once, say, ata_piix has
    /// probed its empty channels. `async_probe=1` (a parameter every module takes) skips that
    /// wait; a filesystem starts no device probe of its own that the wait would be for.
    pub fn spawn_filesystem(self: &std::sync::Arc<Self>, fstype: &str) {
        let me = std::sync::Arc::clone(self);
        let names = vec![format!("fs-{fstype}")];
        self.spawn_with(move || {
            // The boot waits for it once the root is found.
            URGENT.set(true);
            me.request_as(&names, false, Wait::No);
        });
    }

    /// `request` in a background thread; `wait_idle` joins it.
    pub fn spawn(self: &std::sync::Arc<Self>, names: Vec<String>, required: bool) {
        if names.is_empty() {
            return;
        }
        // In flight from now, not from when the thread gets to plan: a settle in between would
        // otherwise find nothing loading, and end before coldplug's drivers are there.
        let queued: Vec<String> = names.iter().flat_map(|n| self.index.lookup(n)).collect();
        self.lock().queue(&queued);
        let me = std::sync::Arc::clone(self);
        let theirs = queued.clone();
        let started = self.spawn_with(move || {
            me.request(&names, required);
            let mut st = me.lock();
            theirs.iter().for_each(|n| st.unqueue(n));
        });
        if !started {
            let mut st = self.lock();
            queued.iter().for_each(|n| st.unqueue(n));
        }
    }

    /// Runs `work` in a thread of its own; whether one could be had.
    fn spawn_with(&self, work: impl FnOnce() + Send + 'static) -> bool {
        match std::thread::Builder::new().name("kmod".into()).stack_size(crate::THREAD_STACK).spawn(work) {
            Ok(h) => {
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).push(h);
                true
            }
            Err(e) => {
                log::warn!("cannot start a module loader thread: {e}");
                false
            }
        }
    }

    /// Whether background loads are still running.
    pub fn busy(&self) -> bool {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|h| !h.is_finished())
    }

    /// Waits for every background load to finish.
    pub fn wait_idle(&self) {
        loop {
            let handles = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
            if handles.is_empty() {
                return;
            }
            for h in handles {
                let _ = h.join();
            }
        }
    }

    /// Loads exactly these modules and their dependencies, wave by wave.
    pub fn load_names(&self, names: &[String]) -> usize {
        self.load(names, true, Wait::ForAsyncProbes)
    }

    /// `loud`: report every failure. Coldplug is not loud about ENODEV: a driver matched by
    /// alias may find no device it supports (crc32c-intel on a CPU without SSE4.2), as with udev.
    fn load(&self, names: &[String], loud: bool, wait: Wait) -> usize {
        let loaded = self.lock().loaded.clone();
        let Plan { waves, missing, refused } = plan(&self.index, names, &loaded);
        let mut planned: HashSet<String> = waves.iter().flatten().cloned().collect();
        let wait_for = |m: &str| wait_of(&self.index, names, m, wait);
        {
            let mut st = self.lock();
            st.queue(&planned);
            st.missing.extend(missing);
            for e in refused {
                log::warn!("{e}");
                if let KmodError::TooDeep { module, .. } = &e {
                    st.failed.insert(module.clone(), e.to_string());
                }
            }
        }
        let mut count = 0;
        let urgent = urgent_here();
        for wave in waves {
            let wave: Vec<_> = wave.into_iter().filter(|m| !self.lock().failed.contains_key(m)).collect();
            let results: Vec<(String, Result<bool, KmodError>)> = if wave.len() == 1 {
                wave.into_iter()
                    .map(|m| {
                        let r = self.load_one(&m, wait_for(&m));
                        (m, r)
                    })
                    .collect()
            } else {
                std::thread::scope(|s| {
                    let mut inline = Vec::new();
                    let handles: Vec<_> = wave
                        .into_iter()
                        .filter_map(|m| {
                            let thread =
                                std::thread::Builder::new().name("kmod".into()).stack_size(crate::THREAD_STACK);
                            let spawned = thread.spawn_scoped(s, {
                                let m = m.clone();
                                move || {
                                    URGENT.set(urgent);
                                    let r = self.load_one(&m, wait_for(&m));
                                    (m, r)
                                }
                            });
                            // No thread to be had: load it here instead.
                            spawned.map_err(|_| inline.push(m)).ok()
                        })
                        .collect();
                    let mut results: Vec<_> =
                        inline.into_iter().map(|m| (m.clone(), self.load_one(&m, wait_for(&m)))).collect();
                    results.extend(handles.into_iter().filter_map(|h| h.join().ok()));
                    results
                })
            };
            let mut st = self.lock();
            for (m, _) in &results {
                if planned.remove(m) {
                    st.unqueue(m);
                }
            }
            for (m, r) in results {
                match r {
                    // load_one has recorded it as loaded.
                    Ok(new) => count += usize::from(new),
                    Err(e) => {
                        if loud || !matches!(e, KmodError::Load { errno: rustix::io::Errno::NODEV, .. }) {
                            log::warn!("{e}");
                        } else {
                            log::debug!("{e}");
                        }
                        st.failed.insert(m, e.to_string());
                    }
                }
            }
        }
        let mut st = self.lock();
        for m in &planned {
            st.unqueue(m); // a wave skipped (a module failed in another request)
        }
        count
    }

    /// Loads one module file, unless another thread is at it (then waits for that load). Ok(false)
    /// when the kernel already had it.
    fn load_one(&self, name: &str, wait: Wait) -> Result<bool, KmodError> {
        {
            let mut st = self.lock();
            while st.loading.contains(name) {
                st = self.load_ended.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.loaded.contains(name) {
                return Ok(false);
            }
            // Not loaded, or the other thread failed: try, and see the kernel's reason first hand.
            st.loading.insert(name.to_string());
        }
        let result = self.load_file(name, wait);
        let mut st = self.lock();
        st.loading.remove(name);
        if result.is_ok() {
            st.loaded.insert(name.to_string());
        }
        self.load_ended.notify_all();
        result
    }

    fn load_file(&self, name: &str, wait: Wait) -> Result<bool, KmodError> {
        let path = self.index.path(name).ok_or_else(|| KmodError::NotFound(name.to_string()))?;
        let shown = path.display().to_string();
        let mut params: Vec<String> = self.index.options(name).to_vec();
        params.extend(self.params.get(name).cloned().unwrap_or_default());
        if wait == Wait::No {
            params.push("async_probe=1".into());
        }
        let params = params.join(" ");
        let mut file = File::open(&path).map_err(|source| KmodError::Read { path: shown.clone(), source })?;
        let mut head = [0u8; 6];
        let n = file.read(&mut head).map_err(|source| KmodError::Read { path: shown.clone(), source })?;
        let comp = compression_of(&head[..n]);
        let size = file.metadata().map_or(0, |m| m.len());
        let _niced = sys::Niced::set(load_nice(size, urgent_here()));
        let result = if comp == Compression::None {
            sys::finit_module(&file, &params, false)
        } else if self.kernel_decompress == Some(comp) {
            sys::finit_module(&file, &params, true)
        } else {
            let mut data = head[..n].to_vec();
            read_capped(&mut file, &path, "the compressed module", MAX_MODULE, &mut data)?;
            let image = decompress(&data, &shown)?;
            sys::init_module(&image, &params)
        };
        match result {
            Ok(()) => {
                log::debug!("loaded module {name}");
                Ok(true)
            }
            Err(rustix::io::Errno::EXIST) => Ok(false),
            Err(errno) => Err(KmodError::Load { name: name.to_string(), path: shown, errno }),
        }
    }
}

thread_local! {
    /// Set in a thread whose loads the boot waits for ([`load_nice`]).
    static URGENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether loads on this thread are waited for: anything outside the background loaders
/// (the main thread's requests), and what they mark so.
fn urgent_here() -> bool {
    URGENT.get() || std::thread::current().name() != Some("kmod")
}

/// How a module of a request for `names` waits. A dependency that drives no device (libata,
/// scsi_mod, libahci) loads with async_probe=1: the kernel ends a load by waiting for all
/// asynchronous work in the system, so libata's load, during a SCSI host's scan of 64 targets,
/// held ata_piix's (the next wave) until the scan ended, and the settle with it. One with drivers
/// of its own (usbcore's hub driver) waits as modprobe's would: async_probe would make its
/// drivers probe in the background for as long as it is loaded, the real system's too. The
/// modules asked for keep `wait` (their devices named in probe order, as modprobe leaves them).
fn wait_of(index: &ModuleIndex, names: &[String], module: &str, wait: Wait) -> Wait {
    if names.iter().any(|n| normalize(n) == module) || index.drives_devices(module) {
        wait
    } else {
        Wait::No
    }
}

/// Whether every module named is live (`initstate` as sysfs gives it): loaded and its init
/// run, at most waiting for the kernel's asynchronous work.
fn not_live(modules: &[&String], initstate: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    modules.iter().filter(|m| initstate(m).as_deref() != Some("live")).map(|m| m.to_string()).collect()
}

/// The hotplug thread starts drivers through the loader.
impl crate::hotplug::Drivers for std::sync::Arc<Loader> {
    fn start(&self, modaliases: &[String]) {
        self.spawn_boot_drivers(modaliases);
    }
    fn wait_idle(&self) {
        Loader::wait_idle(self);
    }
    fn busy(&self) -> bool {
        Loader::busy(self)
    }
    fn settled(&self) -> bool {
        Loader::settled(self, std::path::Path::new("/sys"))
    }
    fn waiting_for(&self) -> String {
        Loader::not_live(self, std::path::Path::new("/sys")).join(" ")
    }
    fn started(&self) -> u64 {
        self.lock().started
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::testdata::chain;
    use super::*;

    #[test]
    fn loads_count_as_settled_once_their_modules_are_live() {
        let states: HashMap<&str, &str> = [("virtio_scsi", "live"), ("virtio_blk", "coming")].into();
        let initstate = |m: &str| states.get(m).map(|s| s.to_string());
        let name = |m: &str| m.to_string();
        assert!(not_live(&[&name("virtio_scsi")], &initstate).is_empty(), "live, only waiting for the SCSI scan");
        assert_eq!(not_live(&[&name("virtio_scsi"), &name("virtio_blk")], &initstate), ["virtio_blk"], "its init runs");
        assert_eq!(not_live(&[&name("sd_mod")], &initstate), ["sd_mod"], "planned, not loaded yet");
        assert!(not_live(&[], &initstate).is_empty());
    }

    /// A driver handed to a thread is not handed to another for the next device's event.
    #[test]
    fn a_queued_driver_is_not_started_again() {
        let loader = Loader::new(super::super::testdata::index(), &Cmdline::parse(""));
        loader.lock().loaded.clear(); // the host's own modules
        let disk = ["virtio:d00000002v00001AF4".to_string()];
        assert_eq!(loader.boot_drivers(&disk), ["virtio_blk"]);
        loader.lock().queue(&["virtio_blk".to_string()]);
        assert!(loader.boot_drivers(&disk).is_empty());
    }

    /// A filesystem's load does not hold the settle; a driver's does.
    #[test]
    fn only_drivers_loading_hold_the_settle() {
        let loader = Loader::new(super::super::testdata::index(), &Cmdline::parse(""));
        let sysfs = Path::new("/nonexistent/sys");
        loader.lock().queue(&["ext4".to_string(), "jbd2".to_string()]);
        assert!(loader.settled(sysfs), "ext4 announces no device");
        loader.lock().loading.insert("virtio_blk".into());
        assert!(!loader.settled(sysfs), "virtio_blk's disks are announced before it is live");
    }

    /// A load handed to a thread is in flight from the moment it is handed over: a settle that
    /// looked before the thread had planned it ended with nothing loading, and rd.break=initqueue
    /// came before virtio_blk. The first module file is a FIFO, so the thread stays in its
    /// `open` until the test has looked (a missing file let a quick thread finish first, and
    /// the test failed now and then on a busy machine); then an empty write ends the load,
    /// which fails (the kernel loads only regular files).
    #[test]
    fn a_spawned_load_holds_the_settle_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("m2.ko");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        let ix = ModuleIndex::from_text(dir.path(), &chain(3, ""), "alias pci:v1* m0\n", "", "");
        let loader = std::sync::Arc::new(Loader::new(ix, &Cmdline::parse("")));
        let sysfs = Path::new("/nonexistent/sys");
        loader.spawn(vec!["m0".into()], false);
        assert!(!loader.settled(sysfs), "settled before the spawned load was planned");
        // Opening the FIFO's other end lets the thread's open return; closing it, its read end.
        drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
        loader.wait_idle();
        assert!(loader.settled(sysfs), "the failed load still counted: {:?}", loader.lock().queued);
    }

    #[test]
    fn only_dependencies_that_drive_no_device_skip_the_wait() {
        let ix = super::super::testdata::index();
        let asked = ["virtio_blk".to_string()];
        assert_eq!(wait_of(&ix, &asked, "virtio_blk", Wait::ForAsyncProbes), Wait::ForAsyncProbes);
        assert_eq!(wait_of(&ix, &asked, "virtio_ring", Wait::ForAsyncProbes), Wait::No, "a library");
        assert_eq!(wait_of(&ix, &asked, "virtio_pci", Wait::ForAsyncProbes), Wait::ForAsyncProbes, "a driver");
        assert_eq!(wait_of(&ix, &["fs-ext4".into()], "jbd2", Wait::No), Wait::No);
        assert_eq!(wait_of(&ix, &["ext4".into()], "ext4", Wait::No), Wait::No);
    }

    #[test]
    fn boot_drivers_by_place_in_the_tree() {
        assert!(needed_for_boot("kernel/drivers/block/virtio_blk.ko"));
        assert!(needed_for_boot("kernel/drivers/ata/libata.ko.zst"));
        assert!(needed_for_boot("kernel/drivers/usb/host/xhci-pci.ko"));
        assert!(needed_for_boot("/lib/modules/6.1.0/kernel/drivers/nvme/host/nvme.ko"));
        assert!(!needed_for_boot("kernel/arch/x86/crypto/aesni-intel.ko"));
        assert!(!needed_for_boot("kernel/drivers/net/virtio_net.ko"));
        assert!(!needed_for_boot("kernel/sound/pci/snd-hda-intel.ko"));
        assert!(!needed_for_boot("kernel/drivers/firmware/qemu_fw_cfg.ko"));
        // A PS/2 port driver the shell's keyboard may need stays; serio_raw binds only on request.
        assert!(needed_for_boot("kernel/drivers/input/serio/hyperv-keyboard.ko"));
        assert!(!needed_for_boot("kernel/drivers/input/serio/serio_raw.ko.xz"));
    }

    /// A load that fails before the kernel (a compressed module that does not decompress) still
    /// leaves the thread at the default nice value: the main thread's children inherit it.
    #[test]
    fn a_failed_load_leaves_the_threads_priority_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.ko.xz"), b"\xfd7zXZ\0 not xz at all").unwrap();
        let ix = ModuleIndex::from_text(dir.path(), "bad.ko.xz:\n", "", "", "");
        let loader = Loader { kernel_decompress: None, ..Loader::new(ix, &Cmdline::parse("")) };
        // This thread is not a background loader: its loads are the awaited kind (-15 as root).
        assert_eq!(loader.load_names(&["bad".into()]), 0);
        assert_eq!(loader.failed().len(), 1, "{:?}", loader.failed());
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), 0);
    }

    /// A refused plan reaches the kernel with nothing and is a failure `modprobe` can show.
    #[test]
    fn a_chain_too_deep_is_a_failure_of_the_module() {
        let ix = ModuleIndex::from_text(Path::new("/m"), &chain(100_000, ""), "", "", "");
        let loader = Loader::new(ix, &Cmdline::parse(""));
        assert_eq!(loader.load_names(&["m0".into()]), 0);
        let failed = loader.failed();
        let [(name, why)] = &failed[..] else { panic!("{failed:?}") };
        assert_eq!(name, "m0");
        assert!(why.contains("m0 -> m1 -> m2 -> ... -> m998 -> m999 -> m1000"), "{why}");
    }
}
