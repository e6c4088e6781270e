//! Load order: a request and its dependencies (hard deps and softdeps) as waves of modules that
//! do not depend on each other.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::index::ModuleIndex;
use super::{normalize, KmodError};

/// How deep dependencies may nest. The deepest chain of Debian 6.1's 4,023 modules is 10
/// (snd_sof_pci_intel_skl); a chain 100 times that is broken metadata, refused with its chain.
/// Resolution is iterative, so the bound is about a clear message, not the stack.
pub const MAX_DEPTH: usize = 1000;

/// The nice value a module's load runs at. Boot drivers load side by side, each in its own
/// thread, and on the one or two CPUs of a booting VM they share them: virtio_pci (62 KB), the
/// way to the disks, finished only after most of libata (820 KB) and scsi_mod, and the root's
/// disk appeared 0.3 s later than on its own. Run shortest first, every load ends no later than
/// when they share the CPU evenly, and the kernel's work for a load (copying the module, hashing
/// it for its signature, relocating it) grows with its size: so the smaller the module, the
/// larger its share, three nice steps (a weight of about 2) per halving below 256 KiB, down to
/// -10. None goes below the kernel's own workers (0), which probe the devices; `urgent` (a load
/// the boot is waiting for: the root's filesystem, anything the main thread asks) runs at -15.
/// Measured at 64 SCSI disks beside the root (one vCPU, 3 boots each, /init to the break):
/// down to -5 and -10, 1.28 s; to -10 and -15, 1.08 s; to -15 and -20, 1.18 s (the workers
/// the loads wait for starve).
pub fn load_nice(size: u64, urgent: bool) -> i32 {
    if urgent {
        return -15;
    }
    // Bits of the size: 19 for 256 KiB up to 512 KiB.
    let bits = i32::try_from(u64::BITS - size.leading_zeros()).unwrap_or(0);
    (3 * (bits - 19)).clamp(-10, 0)
}

/// A request resolved into load order.
#[derive(Debug, Default)]
pub struct Plan {
    /// Waves of modules whose dependencies are all in earlier waves.
    pub waves: Vec<Vec<String>>,
    /// Names a request or a hard dependency gave that modules.dep does not list.
    pub missing: Vec<String>,
    /// Requests left out whole ([`KmodError::TooDeep`]), with the chain that was too deep.
    pub refused: Vec<KmodError>,
}

/// Load order for a request: waves of modules whose dependencies (hard deps and `softdep pre:`)
/// are all in earlier waves, so each wave can load in parallel. Names already loaded are left out.
/// Unknown names are returned separately so the caller can report them; so are requests whose
/// dependencies nest deeper than [`MAX_DEPTH`], and nothing of theirs is planned.
pub fn plan(index: &ModuleIndex, request: &[String], loaded: &HashSet<String>) -> Plan {
    let mut r = Resolver {
        index,
        loaded,
        depth: HashMap::new(),
        below: HashMap::new(),
        visiting: HashSet::new(),
        missing: Vec::new(),
        missing_set: HashSet::new(),
        posts: Vec::new(),
    };
    let mut refused = Vec::new();
    for name in request {
        refused.extend(r.resolve(name, true, true).err());
    }
    // `softdep post:` modules are wanted but optional; they follow what they belong to.
    let mut post_names = Vec::new();
    for p in std::mem::take(&mut r.posts) {
        post_names.extend(index.lookup(&p));
    }
    for p in post_names {
        refused.extend(r.resolve(&p, false, false).err());
    }
    let waves_n = r.depth.values().copied().max().unwrap_or(0);
    let mut waves: Vec<BTreeSet<String>> = vec![BTreeSet::new(); waves_n];
    for (name, d) in r.depth {
        // Every depth is at least 1 and at most waves_n.
        if let Some(wave) = d.checked_sub(1).and_then(|i| waves.get_mut(i)) {
            wave.insert(name);
        }
    }
    Plan { waves: waves.into_iter().map(|w| w.into_iter().collect()).collect(), missing: r.missing, refused }
}

/// The state of one `plan`: a depth-first walk with an explicit stack, since a chain of a few
/// hundred modules overflowed a loader thread's stack when it recursed.
struct Resolver<'a> {
    index: &'a ModuleIndex,
    loaded: &'a HashSet<String>,
    /// The wave (from 1) of every module planned so far.
    depth: HashMap<String, usize>,
    /// The dependency that put a planned module in its wave, to name a chain that is too deep.
    below: HashMap<String, String>,
    /// On the walk's stack: met again, it is a cycle, broken rather than followed.
    visiting: HashSet<String>,
    missing: Vec<String>,
    missing_set: HashSet<String>,
    /// `softdep post:` names of the modules planned.
    posts: Vec<String>,
}

/// A module on the walk's stack: the dependencies still to visit (`softdep pre:` modules, then
/// hard ones, each with whether it is reported missing), and the deepest one seen so far.
struct Frame {
    name: String,
    todo: std::vec::IntoIter<(String, bool)>,
    level: usize,
    deepest: Option<String>,
    post: Vec<String>,
}

/// What meeting a name gives: its wave (0 for loaded, built-in or a broken cycle), None for a
/// missing module, or a frame to walk.
enum Met {
    Done(Option<usize>),
    Walk(Frame),
}

impl Resolver<'_> {
    fn meet(&mut self, name: String, report: bool) -> Met {
        if self.loaded.contains(&name) || self.index.builtin.contains(&name) {
            return Met::Done(Some(0));
        }
        if let Some(&d) = self.depth.get(&name) {
            return Met::Done(Some(d));
        }
        let Some(entry) = self.index.modules.get(&name) else {
            if report && self.missing_set.insert(name.clone()) {
                self.missing.push(name);
            }
            return Met::Done(None);
        };
        if !self.visiting.insert(name.clone()) {
            return Met::Done(Some(0)); // a cycle in broken metadata: break it rather than loop
        }
        let (pre, post) = self.index.softdeps.get(&name).cloned().unwrap_or_default();
        // A missing `softdep pre:` module is no error: it is optional.
        let mut todo: Vec<(String, bool)> = Vec::new();
        for p in &pre {
            todo.extend(self.index.lookup(p).into_iter().map(|m| (m, false)));
        }
        todo.extend(entry.deps.iter().map(|d| (normalize(d), report)));
        Met::Walk(Frame { name, todo: todo.into_iter(), level: 0, deepest: None, post })
    }

    /// Plans one name and everything it needs. `report`: whether missing modules are recorded;
    /// `posts`: whether `softdep post:` names are collected. On a chain deeper than MAX_DEPTH,
    /// nothing of this name is planned.
    fn resolve(&mut self, name: &str, report: bool, posts: bool) -> Result<(), KmodError> {
        let mark = (self.missing.len(), self.posts.len());
        let mut added = Vec::new();
        let mut stack = match self.meet(normalize(name), report) {
            Met::Done(_) => return Ok(()),
            Met::Walk(frame) => vec![frame],
        };
        while let Some(top) = stack.last_mut() {
            if let Some((child, report)) = top.todo.next() {
                match self.meet(child.clone(), report) {
                    Met::Done(Some(d)) if d > top.level => (top.level, top.deepest) = (d, Some(child)),
                    Met::Done(_) => {}
                    Met::Walk(frame) if stack.len() >= MAX_DEPTH => {
                        let chain: Vec<String> = stack.iter().map(|f| f.name.clone()).chain([frame.name]).collect();
                        return Err(self.refuse(name, &chain, added, mark));
                    }
                    Met::Walk(frame) => stack.push(frame),
                }
                continue;
            }
            let level = top.level + 1;
            if level > MAX_DEPTH {
                // Deep through modules planned by an earlier request: the chain goes on below.
                let mut next = top.deepest.clone();
                let mut chain: Vec<String> = stack.iter().map(|f| f.name.clone()).collect();
                while let Some(m) = next.filter(|_| chain.len() <= 2 * MAX_DEPTH) {
                    next = self.below.get(&m).cloned();
                    chain.push(m);
                }
                return Err(self.refuse(name, &chain, added, mark));
            }
            let Some(frame) = stack.pop() else { break };
            self.visiting.remove(&frame.name);
            if posts {
                self.posts.extend(frame.post);
            }
            if let Some(d) = frame.deepest {
                self.below.insert(frame.name.clone(), d);
            }
            self.depth.insert(frame.name.clone(), level);
            if let Some(parent) = stack.last_mut() {
                if level > parent.level {
                    (parent.level, parent.deepest) = (level, Some(frame.name.clone()));
                }
            }
            added.push(frame.name);
        }
        Ok(())
    }

    /// Undoes what resolving `name` had planned and words why it was refused.
    fn refuse(
        &mut self,
        name: &str,
        chain: &[String],
        added: Vec<String>,
        (missing, posts): (usize, usize),
    ) -> KmodError {
        // Only this walk's modules were being visited.
        self.visiting.clear();
        for m in added {
            self.depth.remove(&m);
            self.below.remove(&m);
        }
        for m in self.missing.drain(missing..) {
            self.missing_set.remove(&m);
        }
        self.posts.truncate(posts);
        let shown = if chain.len() <= 7 {
            chain.join(" -> ")
        } else {
            let (head, tail) = (&chain[..3], &chain[chain.len() - 3..]);
            format!("{} -> ... -> {} ({} modules)", head.join(" -> "), tail.join(" -> "), chain.len())
        };
        KmodError::TooDeep { module: normalize(name), max: MAX_DEPTH, chain: shown }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::testdata::{chain, index};
    use super::*;

    #[test]
    fn small_loads_go_first_and_the_awaited_one_before_all() {
        // Debian 6.1's sizes.
        let nice = |kb: u64| load_nice(kb * 1000, false);
        assert_eq!(
            [nice(6), nice(16), nice(62), nice(77), nice(157), nice(188), nice(366), nice(820), nice(2065)],
            [-10, -10, -9, -6, -3, -3, 0, 0, 0]
        );
        assert!(load_nice(4 << 20, true) < load_nice(0, false), "the root's filesystem before any driver");
        assert_eq!(load_nice(u64::MAX, false), 0);
    }

    /// Plans on a thread with the stack the loader's threads have.
    fn plan_on_loader_stack(dep: String, softdep: &'static str, request: &'static [&'static str]) -> Plan {
        let thread = std::thread::Builder::new().stack_size(crate::THREAD_STACK);
        let run = move || {
            let ix = ModuleIndex::from_text(Path::new("/m"), &dep, "", softdep, "");
            let request: Vec<String> = request.iter().map(|s| s.to_string()).collect();
            plan(&ix, &request, &HashSet::new())
        };
        thread.spawn(run).unwrap().join().unwrap()
    }

    #[test]
    fn plan_orders_dependencies_in_waves() {
        let ix = index();
        let Plan { waves, missing, .. } = plan(&ix, &["virtio_blk".into(), "virtio_pci".into()], &HashSet::new());
        assert!(missing.is_empty());
        assert_eq!(
            waves,
            vec![
                vec!["virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev"],
                vec!["virtio_ring"],
                vec!["virtio_blk", "virtio_pci"],
            ]
        );
    }

    #[test]
    fn plan_honours_softdeps_and_skips_loaded() {
        let ix = index();
        let loaded: HashSet<String> = ["mbcache".to_string()].into();
        let Plan { waves, .. } = plan(&ix, &["ext4".into()], &loaded);
        let flat: Vec<&str> = waves.iter().flatten().map(String::as_str).collect();
        assert!(!flat.contains(&"mbcache"));
        let pos = |m| flat.iter().position(|x| *x == m).unwrap();
        assert!(pos("crc32c_generic") < pos("ext4"));
        assert!(pos("jbd2") < pos("ext4"));
        assert_eq!(waves.last().unwrap(), &vec!["ext4".to_string()]);
    }

    #[test]
    fn plan_reports_missing() {
        let ix = index();
        let Plan { waves, missing, .. } = plan(&ix, &["nvme".into()], &HashSet::new());
        assert!(waves.is_empty());
        assert_eq!(missing, ["nvme"]);
    }

    #[test]
    fn a_chain_max_depth_long_plans_on_a_loader_thread() {
        let p = plan_on_loader_stack(chain(MAX_DEPTH, ""), "", &["m0"]);
        assert!(p.missing.is_empty() && p.refused.is_empty());
        assert_eq!(p.waves.len(), MAX_DEPTH);
        assert_eq!(p.waves[0], ["m999"]);
        assert_eq!(p.waves[MAX_DEPTH - 1], ["m0"]);
    }

    /// A 100,000-long chain is refused whole, naming its ends, and leaves the other requests
    /// (and nothing of its own, not even the missing module it names) in the plan.
    #[test]
    fn a_deeper_chain_is_refused_with_its_chain() {
        let p = plan_on_loader_stack(chain(100_000, "m5.ko: m6.ko gone.ko\nok.ko:\n"), "", &["m0", "ok"]);
        assert_eq!(p.waves, [["ok"]]);
        assert!(p.missing.is_empty(), "{:?}", p.missing);
        let [refused] = &p.refused[..] else { panic!("{:?}", p.refused) };
        let msg = refused.to_string();
        assert!(msg.starts_with("cannot order module m0: its dependencies nest more than 1000 deep"), "{msg}");
        assert!(msg.contains("(m0 -> m1 -> m2 -> ... -> m998 -> m999 -> m1000 (1001 modules))"), "{msg}");
    }

    /// Too deep through modules an earlier request planned is refused as well: the verdict does
    /// not depend on the order of the request.
    #[test]
    fn too_deep_through_planned_modules_is_refused_too() {
        for request in [&["m0", "x"][..], &["x", "m0"], &["x"]] {
            let p = plan_on_loader_stack(chain(MAX_DEPTH, "x.ko: m0.ko\n"), "", request);
            let [refused] = &p.refused[..] else { panic!("{request:?}: {:?}", p.refused) };
            let msg = refused.to_string();
            assert!(msg.contains("x -> m0 -> m1 -> ... -> m997 -> m998 -> m999 (1001 modules)"), "{msg}");
            let flat: Vec<&str> = p.waves.iter().flatten().map(String::as_str).collect();
            assert!(!flat.contains(&"x"));
            assert_eq!(flat.len(), if request.contains(&"m0") { MAX_DEPTH } else { 0 }, "{request:?}");
        }
    }

    #[test]
    fn dependency_cycles_are_broken() {
        let p = plan_on_loader_stack("a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\ns.ko: s.ko\n".into(), "", &["a", "s"]);
        assert!(p.missing.is_empty() && p.refused.is_empty());
        assert_eq!(p.waves, [vec!["c", "s"], vec!["b"], vec!["a"]]);
    }

    #[test]
    fn softdep_cycles_are_broken() {
        let softdep = "softdep a pre: b post: c\nsoftdep b pre: a\nsoftdep c post: a pre: c\n";
        let p = plan_on_loader_stack("a.ko:\nb.ko:\nc.ko:\n".into(), softdep, &["a"]);
        assert!(p.missing.is_empty() && p.refused.is_empty());
        assert_eq!(p.waves, [vec!["b", "c"], vec!["a"]]);
    }
}
