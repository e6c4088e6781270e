//! udevd's part of the boot: a thread of its own reads the kernel's uevents as they come and
//! starts the drivers for the devices they announce, during coldplug, while the root is awaited
//! and while the shell runs (a USB keyboard enumerates well after its controller's driver has
//! loaded, and must still work at the prompt). `settle` is `udevadm settle`: it returns once every
//! event the kernel has sent is handled and no driver is loading, without waiting for events that
//! may never come.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::uevent::{Uevent, Uevents};

/// Where events come from: the kernel's netlink socket, or a fake in tests.
pub trait Source: Send + Sync + 'static {
    /// Blocks until events are queued, `timeout` passes or `interrupt` is called; whether
    /// events are queued.
    fn wait(&self, timeout: Option<Duration>) -> bool;
    /// Every queued event, without blocking.
    fn drain(&self) -> Vec<Uevent>;
    /// Wakes a `wait` (the thread is asked to stop).
    fn interrupt(&self);
    /// The sequence number of the last event the kernel has sent (`/sys/kernel/uevent_seqnum`),
    /// when it can be known: `settle` then waits for the events sent so far, not for a pause in
    /// a stream that goes on (a SCSI host announcing its targets one after another).
    fn sent(&self) -> Option<u64> {
        None
    }
    /// The last event number sent before listening began (those never arrive).
    fn first(&self) -> u64 {
        0
    }
}

impl Source for Uevents {
    fn wait(&self, timeout: Option<Duration>) -> bool {
        Uevents::wait(self, timeout)
    }
    fn drain(&self) -> Vec<Uevent> {
        Uevents::drain(self)
    }
    fn interrupt(&self) {
        Uevents::interrupt(self)
    }
    fn sent(&self) -> Option<u64> {
        crate::uevent::read_attr(std::path::Path::new("/sys/kernel/uevent_seqnum"))?.parse().ok()
    }
    fn first(&self) -> u64 {
        self.opened_at
    }
}

/// What handles announced devices: the module loader, or a fake in tests.
pub trait Drivers: Send + Sync + 'static {
    /// Starts loading, in the background, the drivers these modaliases need.
    fn start(&self, modaliases: &[String]);
    /// Waits until no load started so far is running.
    fn wait_idle(&self);
    fn busy(&self) -> bool;
    /// Whether the loads in flight are done as far as `settle` cares: their drivers' own
    /// probes have run (the kernel may still be waiting for other asynchronous work).
    fn settled(&self) -> bool {
        !self.busy()
    }
    /// How many loads were ever started: the settle reads the kernel's sequence number again
    /// when it changes.
    fn started(&self) -> u64 {
        0
    }
    /// What `settled` waits for, for the debug log.
    fn waiting_for(&self) -> String {
        String::new()
    }
}

#[derive(Default)]
struct State {
    /// Batches of events handled so far; waiters watch it change.
    generation: u64,
    /// Between taking events off the queue and having started their drivers.
    busy: bool,
    /// The thread is asked to end (PID 1 is about to switch root).
    stop: bool,
    /// Block devices announced (`add`) and not removed. A disk is in sysfs, and has its node,
    /// before the kernel has finished adding it (its uevent waits for the partition scan);
    /// opening it then makes the kernel run modprobe for it.
    blocks: std::collections::HashSet<String>,
    /// Block devices with an event (`add`, `change`, `remove`) since the boot's last scan took
    /// them: what that scan must read again rather than take from what it knew.
    touched: std::collections::HashSet<String>,
    /// The highest `SEQNUM` among the events handled.
    handled: u64,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    source: Box<dyn Source>,
    drivers: Option<Box<dyn Drivers>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pump(&self) {
        loop {
            let queued = self.source.wait(None);
            // Busy before the queue is emptied, so `settle` never sees neither queue nor work.
            {
                let mut st = self.lock();
                if st.stop {
                    return; // what is queued stays queued for the next thread
                }
                st.busy = queued;
            }
            if !queued {
                // An error rather than events (the socket is gone): do not spin.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            let events = self.source.drain();
            let aliases = modaliases(&events);
            if let Some(d) = self.drivers.as_ref().filter(|_| !aliases.is_empty()) {
                d.start(&aliases);
            }
            let mut st = self.lock();
            for ev in events.iter().filter(|ev| ev.vars.get("SUBSYSTEM").is_some_and(|s| s == "block")) {
                let name = ev.vars.get("DEVNAME").cloned();
                let name = name.unwrap_or_else(|| ev.devpath.rsplit('/').next().unwrap_or("").to_string());
                st.touched.insert(name.clone());
                match ev.action.as_str() {
                    "add" => st.blocks.insert(name),
                    "remove" => st.blocks.remove(&name),
                    _ => false,
                };
            }
            let top = events.iter().filter_map(|ev| ev.vars.get("SEQNUM")?.parse::<u64>().ok()).max();
            st.handled = st.handled.max(top.unwrap_or(0));
            st.busy = false;
            st.generation += 1;
            self.changed.notify_all();
        }
    }
}

/// The modaliases of devices being added: udev loads drivers on `add` only (80-drivers.rules);
/// a `bind` is a driver already found.
pub fn modaliases(events: &[Uevent]) -> Vec<String> {
    events.iter().filter(|ev| ev.action == "add").filter_map(|ev| ev.vars.get("MODALIAS").cloned()).collect()
}

pub struct Hotplug {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Hotplug {
    /// Holds the thread's state lock (the shell takes it around a fork: a child that scans
    /// devices must not find it held by the thread it does not have).
    pub fn hold(&self) -> impl Sized + '_ {
        self.shared.lock()
    }

    /// Starts the thread. `drivers` is None when the image has no modules: events are still
    /// counted, so waiting for a device wakes up when one appears. `blocks`: the block devices
    /// there were before the source started listening.
    pub fn start(
        source: Box<dyn Source>,
        drivers: Option<Box<dyn Drivers>>,
        blocks: impl IntoIterator<Item = String>,
    ) -> std::io::Result<Hotplug> {
        let state = State { blocks: blocks.into_iter().collect(), handled: source.first(), ..Default::default() };
        let shared = Arc::new(Shared { state: Mutex::new(state), changed: Condvar::new(), source, drivers });
        let hp = Hotplug { shared, thread: Mutex::new(None) };
        hp.resume()?;
        Ok(hp)
    }

    /// Whether the kernel has announced this block device (`vda`, `nvme0n1p2`): udev's rule that
    /// a device is there once its `add` event is.
    pub fn announced(&self, block: &str) -> bool {
        self.shared.lock().blocks.contains(block)
    }

    /// The block devices with an event since the last call: their content or identity may have
    /// changed.
    pub fn take_touched(&self) -> Vec<String> {
        self.shared.lock().touched.drain().collect()
    }

    /// Changes each time a batch of events has been handled.
    pub fn generation(&self) -> u64 {
        self.shared.lock().generation
    }

    /// Waits until events newer than `generation` were handled, or `timeout`.
    pub fn wait_change(&self, generation: u64, timeout: Duration) {
        let st = self.shared.lock();
        let _ = self.shared.changed.wait_timeout_while(st, timeout, |st| st.generation == generation);
    }

    /// `udevadm settle`: until every event the kernel had sent when it began is handled and
    /// every driver loading is live (or `limit`). Returns whether it settled.
    ///
    /// The events sent are read again only when loads have started since: a driver's probes
    /// announce its devices (a controller's disks) before its module is live, and those need
    /// drivers too; a stream that starts no load (a SCSI host announcing LUN after LUN, sd_mod
    /// loaded) is the next scan's, or the settle would last as long as the stream.
    pub fn settle(&self, limit: Duration) -> bool {
        let start = Instant::now();
        // The sequence number waited for, and the loads started when it was read.
        let mut target: Option<(u64, u64)> = None;
        let mut last_note = Instant::now();
        let started = || self.shared.drivers.as_ref().map_or(0, |d| d.started());
        loop {
            let g = self.generation();
            let before = started();
            if self.shared.drivers.as_ref().is_none_or(|d| d.settled()) {
                let sent = match target {
                    Some((sent, then)) if then == before => Some(sent),
                    _ => self.shared.source.sent(),
                };
                let done = match sent {
                    // What the kernel had sent, handled (its drivers started: the thread counts
                    // an event handled once it has), udevadm settle's own test; and no load
                    // started while this looked.
                    Some(sent) => {
                        target = Some((sent, before));
                        self.shared.lock().handled >= sent && started() == before
                    }
                    // When that cannot be known: nothing queued, nothing handled meanwhile.
                    None => {
                        let untouched = |st: &State| !st.busy && st.generation == g;
                        untouched(&self.shared.lock())
                            && !self.shared.source.wait(Some(Duration::ZERO))
                            && untouched(&self.shared.lock())
                    }
                };
                if done {
                    log::debug!("settled in {} ms", crate::format::Ms(start.elapsed()));
                    return true;
                }
            }
            if start.elapsed() >= limit {
                return false;
            }
            if last_note.elapsed() >= Duration::from_millis(250) {
                last_note = Instant::now();
                let drivers = self.shared.drivers.as_ref().map(|d| d.waiting_for()).unwrap_or_default();
                let handled = self.shared.lock().handled;
                log::debug!("settle: waiting for [{drivers}], events handled to {handled} of {target:?}");
            }
            self.wait_change(g, Duration::from_millis(10));
        }
    }

    /// Ends the thread, once it has started the drivers for what it took off the queue, so that
    /// PID 1 has no thread of its own when it switches root. Events keep queueing meanwhile.
    pub fn stop(&self) {
        self.shared.lock().stop = true;
        self.shared.source.interrupt();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }

    /// Starts the thread (again, after `stop`): the boot goes on, the switch failed.
    pub fn resume(&self) -> std::io::Result<()> {
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if thread.is_some() {
            return Ok(());
        }
        self.shared.lock().stop = false;
        let me = Arc::clone(&self.shared);
        *thread = Some(
            std::thread::Builder::new()
                .name("hotplug".into())
                .stack_size(crate::THREAD_STACK)
                .spawn(move || me.pump())?,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::mpsc;

    /// A kernel that numbers its events and keeps announcing devices, one every 5 ms, as a
    /// SCSI host announces its targets.
    struct Stream {
        kernel: Arc<FakeKernel>,
        seq: std::sync::atomic::AtomicU64,
        first: u64,
        /// How long taking events off the queue takes (a busy vCPU).
        slow: Duration,
    }

    impl Source for Arc<Stream> {
        fn wait(&self, timeout: Option<Duration>) -> bool {
            self.kernel.wait(timeout)
        }
        fn drain(&self) -> Vec<Uevent> {
            let events = self.kernel.drain();
            std::thread::sleep(self.slow); // handling them: more arrive meanwhile
            events
        }
        fn interrupt(&self) {
            self.kernel.interrupt()
        }
        fn sent(&self) -> Option<u64> {
            Some(self.seq.load(std::sync::atomic::Ordering::SeqCst))
        }
        fn first(&self) -> u64 {
            self.first
        }
    }

    /// Events sent before the socket listened never arrive: a quiet machine settles at once.
    #[test]
    fn events_before_listening_are_not_waited_for() {
        let kernel = Arc::new(FakeKernel::default());
        let stream = Arc::new(Stream { kernel, seq: 1234.into(), first: 1234, slow: Duration::ZERO });
        let hp = Hotplug::start(Box::new(stream), None, []).unwrap();
        let t = Instant::now();
        assert!(hp.settle(Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    /// The settle waits for the events sent when it looks, not for the stream to pause: a
    /// host that keeps announcing disks does not hold it; an event sent before is waited for.
    #[test]
    fn settle_waits_for_what_was_sent_not_for_a_pause() {
        settles_beside_a_stream(Duration::ZERO);
    }

    /// The same when handling the events takes longer than the kernel takes to send the next
    /// (a busy vCPU): the number waited for is the one read when the settle began, not one read
    /// again at each look, which the stream keeps ahead of what was handled.
    #[test]
    fn a_stream_that_outpaces_the_thread_does_not_hold_the_settle() {
        settles_beside_a_stream(Duration::from_millis(20));
    }

    fn settles_beside_a_stream(slow: Duration) {
        let kernel = Arc::new(FakeKernel::default());
        let stream = Arc::new(Stream { kernel: Arc::clone(&kernel), seq: Default::default(), first: 0, slow });
        let hp = Hotplug::start(Box::new(Arc::clone(&stream)), None, []).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let feeder = {
            let (stream, stop) = (Arc::clone(&stream), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let n = stream.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    let vars = HashMap::from([
                        ("SEQNUM".to_string(), n.to_string()),
                        ("SUBSYSTEM".to_string(), "block".to_string()),
                        ("DEVNAME".to_string(), format!("sd{n}")),
                    ]);
                    stream.kernel.queue.lock().unwrap().push(Uevent {
                        action: "add".into(),
                        devpath: "/x".into(),
                        vars,
                    });
                    stream.kernel.arrived.notify_all();
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        assert!(hp.settle(Duration::from_secs(5)), "a stream that never pauses held the settle");
        assert!(t.elapsed() < Duration::from_secs(1));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        feeder.join().unwrap();
        // An event sent and not yet handled (the thread is stopped): the settle waits for it.
        hp.stop();
        stream.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert!(!hp.settle(Duration::from_millis(200)), "settled before an event sent was handled");
    }

    /// Events sent by the test, in batches, as the kernel queues them on the socket.
    #[derive(Default)]
    struct FakeKernel {
        queue: Mutex<Vec<Uevent>>,
        arrived: Condvar,
        interrupted: std::sync::atomic::AtomicBool,
        /// Events are numbered (`SEQNUM`, `/sys/kernel/uevent_seqnum`) and the count is known.
        numbered: bool,
        seq: std::sync::atomic::AtomicU64,
        /// How long handling a batch takes (a busy vCPU).
        slow: Duration,
    }

    impl FakeKernel {
        fn send(&self, action: &str, modalias: &str) {
            let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let vars =
                HashMap::from([("MODALIAS".to_string(), modalias.to_string()), ("SEQNUM".to_string(), n.to_string())]);
            self.queue.lock().unwrap().push(Uevent { action: action.into(), devpath: "/devices/x".into(), vars });
            self.arrived.notify_all();
        }
    }

    impl Source for Arc<FakeKernel> {
        fn wait(&self, timeout: Option<Duration>) -> bool {
            use std::sync::atomic::Ordering::SeqCst;
            let q = self.queue.lock().unwrap();
            let (q, _) = self
                .arrived
                .wait_timeout_while(q, timeout.unwrap_or(Duration::MAX), |q| {
                    q.is_empty() && !self.interrupted.swap(false, SeqCst)
                })
                .unwrap();
            !q.is_empty()
        }
        fn drain(&self) -> Vec<Uevent> {
            let events = std::mem::take(&mut *self.queue.lock().unwrap());
            std::thread::sleep(self.slow);
            events
        }
        fn interrupt(&self) {
            let _q = self.queue.lock().unwrap();
            self.interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
            self.arrived.notify_all();
        }
        fn sent(&self) -> Option<u64> {
            self.numbered.then(|| self.seq.load(std::sync::atomic::Ordering::SeqCst))
        }
    }

    /// Loads that take `delay` each and may announce a device when they finish, as a driver
    /// that binds a controller reveals the disks behind it.
    struct FakeLoader {
        kernel: Arc<FakeKernel>,
        started: mpsc::Sender<String>,
        running: Mutex<Vec<std::thread::JoinHandle<()>>>,
        reveals: HashMap<String, String>,
        delay: Duration,
        /// Loads that are live but blocked (the kernel waiting for others' async work).
        live_but_blocked: std::sync::atomic::AtomicBool,
        starts: std::sync::atomic::AtomicU64,
    }

    impl Drivers for Arc<FakeLoader> {
        fn start(&self, modaliases: &[String]) {
            // Counted once in flight, as the loader counts a request where it queues it.
            let _counted = Counted(&self.starts);
            for m in modaliases {
                let _ = self.started.send(m.clone());
                let (me, m) = (Arc::clone(self), m.clone());
                self.running.lock().unwrap().push(std::thread::spawn(move || {
                    std::thread::sleep(me.delay);
                    if let Some(child) = me.reveals.get(&m) {
                        me.kernel.send("add", child);
                    }
                }));
            }
        }
        fn wait_idle(&self) {
            loop {
                let handles = std::mem::take(&mut *self.running.lock().unwrap());
                if handles.is_empty() {
                    return;
                }
                handles.into_iter().for_each(|h| h.join().unwrap());
            }
        }
        fn busy(&self) -> bool {
            self.running.lock().unwrap().iter().any(|h| !h.is_finished())
        }
        fn settled(&self) -> bool {
            self.live_but_blocked.load(std::sync::atomic::Ordering::SeqCst) || !self.busy()
        }
        fn started(&self) -> u64 {
            self.starts.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// Adds one to a count when dropped.
    struct Counted<'a>(&'a std::sync::atomic::AtomicU64);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn setup(reveals: &[(&str, &str)], delay_ms: u64) -> (Arc<FakeKernel>, Hotplug, mpsc::Receiver<String>) {
        setup_with(FakeKernel::default(), reveals, delay_ms)
    }

    fn setup_with(
        kernel: FakeKernel,
        reveals: &[(&str, &str)],
        delay_ms: u64,
    ) -> (Arc<FakeKernel>, Hotplug, mpsc::Receiver<String>) {
        let kernel = Arc::new(kernel);
        let (tx, rx) = mpsc::channel();
        let loader = Arc::new(FakeLoader {
            kernel: Arc::clone(&kernel),
            started: tx,
            running: Mutex::new(Vec::new()),
            reveals: reveals.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            delay: Duration::from_millis(delay_ms),
            live_but_blocked: Default::default(),
            starts: Default::default(),
        });
        let hp = Hotplug::start(Box::new(Arc::clone(&kernel)), Some(Box::new(loader)), ["sda".to_string()]).unwrap();
        (kernel, hp, rx)
    }

    /// With numbered events the settle still follows a chain to its end: the devices a load
    /// announces come after the number read when the settle began, and are waited for because
    /// a load ran since.
    #[test]
    fn numbered_events_are_read_again_after_loads() {
        // Slow to handle: a load has ended and what it announced is not handled yet.
        let kernel = FakeKernel { numbered: true, slow: Duration::from_millis(20), ..Default::default() };
        let (kernel, hp, rx) = setup_with(kernel, &[("pci:ctrl", "virtio:disk"), ("virtio:disk", "scsi:part")], 30);
        kernel.send("add", "pci:ctrl");
        assert!(hp.settle(Duration::from_secs(10)));
        let started: Vec<String> = rx.try_iter().collect();
        assert_eq!(started, ["pci:ctrl", "virtio:disk", "scsi:part"], "settled before the chain ended");
    }

    #[test]
    fn settle_waits_for_devices_that_loading_drivers_reveal() {
        // Controller → disk → partition table driver, each revealed by the previous load.
        let (kernel, hp, rx) = setup(&[("pci:ctrl", "virtio:disk"), ("virtio:disk", "scsi:part")], 30);
        kernel.send("add", "pci:ctrl");
        assert!(hp.settle(Duration::from_secs(10)));
        let started: Vec<String> = rx.try_iter().collect();
        assert_eq!(started, ["pci:ctrl", "virtio:disk", "scsi:part"], "settled before the chain ended");
    }

    /// A load whose module is live but whose `finit_module` has not returned (the kernel waits
    /// there for a SCSI host's scan of 256 targets) does not hold the settle; one whose init
    /// still runs does.
    #[test]
    fn settle_does_not_wait_for_loads_only_blocked_on_others_async_work() {
        let kernel = Arc::new(FakeKernel::default());
        let (tx, _rx) = mpsc::channel();
        let loader = Arc::new(FakeLoader {
            kernel: Arc::clone(&kernel),
            started: tx,
            running: Mutex::new(Vec::new()),
            reveals: HashMap::new(),
            delay: Duration::from_secs(3),
            live_but_blocked: Default::default(),
            starts: Default::default(),
        });
        let hp = Hotplug::start(Box::new(Arc::clone(&kernel)), Some(Box::new(Arc::clone(&loader))), []).unwrap();
        kernel.send("add", "virtio:d00000008v00001AF4");
        std::thread::sleep(Duration::from_millis(100));
        assert!(!hp.settle(Duration::from_millis(300)), "a load whose init runs holds the settle");
        loader.live_but_blocked.store(true, std::sync::atomic::Ordering::SeqCst);
        let t = Instant::now();
        assert!(hp.settle(Duration::from_secs(10)));
        assert!(t.elapsed() < Duration::from_secs(1), "waited for a load only blocked on the kernel's async work");
        loader.wait_idle();
    }

    #[test]
    fn settle_on_a_quiet_machine_returns_at_once() {
        let (_kernel, hp, _rx) = setup(&[], 0);
        let t = Instant::now();
        assert!(hp.settle(Duration::from_secs(10)));
        assert!(t.elapsed() < Duration::from_secs(1), "settle waited for events that never come");
    }

    #[test]
    fn settle_gives_up_at_its_limit() {
        // A device that keeps announcing another one (a flapping link).
        let (kernel, hp, _rx) = setup(&[("usb:a", "usb:b"), ("usb:b", "usb:a")], 5);
        kernel.send("add", "usb:a");
        assert!(!hp.settle(Duration::from_millis(200)));
    }

    #[test]
    fn events_after_settle_still_load_drivers() {
        // What the shell relies on: a keyboard enumerated while it runs.
        let (kernel, hp, rx) = setup(&[], 0);
        assert!(hp.settle(Duration::from_secs(1)));
        let g = hp.generation();
        kernel.send("add", "usb:v0627p0001d0000dc00dsc00dp00ic03isc01ip01in00");
        hp.wait_change(g, Duration::from_secs(5));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            "usb:v0627p0001d0000dc00dsc00dp00ic03isc01ip01in00"
        );
    }

    #[test]
    fn removals_binds_and_events_without_modalias_load_nothing() {
        let (kernel, hp, rx) = setup(&[], 0);
        kernel.send("remove", "pci:gone");
        kernel.send("bind", "pci:bound");
        kernel.queue.lock().unwrap().push(Uevent {
            action: "add".into(),
            devpath: "/block/vda".into(),
            ..Default::default()
        });
        kernel.arrived.notify_all();
        assert!(hp.settle(Duration::from_secs(5)));
        assert!(rx.try_iter().next().is_none());
    }

    /// PID 1 switching root: the thread ends (so PID 1 may fork its initramfs wiper), nothing
    /// loads meanwhile, and what arrived is handled once it runs again.
    #[test]
    fn stopped_thread_leaves_events_for_the_next() {
        let (kernel, hp, rx) = setup(&[], 0);
        hp.stop();
        assert!(hp.thread.lock().unwrap().is_none());
        kernel.send("add", "pci:late");
        std::thread::sleep(Duration::from_millis(50));
        assert!(rx.try_iter().next().is_none(), "a load started while PID 1 switches root");
        hp.resume().unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "pci:late");
        assert!(hp.settle(Duration::from_secs(5)));
    }

    /// A disk counts once its `add` is seen (it is in sysfs earlier), until its `remove`.
    #[test]
    fn block_devices_count_from_their_add_event() {
        let (kernel, hp, _rx) = setup(&[], 0);
        assert!(hp.announced("sda"), "present before listening");
        assert!(!hp.announced("vda"));
        let block = |action: &str, name: &str| {
            let vars = HashMap::from([
                ("SUBSYSTEM".to_string(), "block".to_string()),
                ("DEVNAME".to_string(), name.to_string()),
            ]);
            Uevent { action: action.into(), devpath: format!("/devices/virtio0/block/{name}"), vars }
        };
        for (action, name) in [("add", "vda"), ("add", "vda1"), ("remove", "sda")] {
            kernel.queue.lock().unwrap().push(block(action, name));
        }
        kernel.arrived.notify_all();
        assert!(hp.settle(Duration::from_secs(5)));
        assert!(hp.announced("vda") && hp.announced("vda1"));
        assert!(!hp.announced("sda"));
        let mut touched = hp.take_touched();
        touched.sort();
        assert_eq!(touched, ["sda", "vda", "vda1"], "every block device with an event is read again");
        assert!(hp.take_touched().is_empty(), "once");
    }
}
