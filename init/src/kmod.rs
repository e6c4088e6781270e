//! Kernel modules without modprobe: the index files depmod writes, alias matching, dependency
//! order, and loading (compressed modules included).
//!
//! [`ModuleIndex`] is pure (built from text, testable on a fake tree); [`plan`] turns a request
//! into load waves whose members do not depend on each other; [`Loader`] runs the waves in
//! parallel threads through `finit_module`/`init_module`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use thiserror::Error;

use crate::cmdline::Cmdline;
use crate::sys;

#[derive(Debug, Error)]
pub enum KmodError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot decompress {path}: {reason}")]
    Decompress { path: String, reason: String },
    #[error("the kernel refused module {name} ({path}): {errno}")]
    Load { name: String, path: String, errno: rustix::io::Errno },
    #[error("module {0} not found in modules.dep")]
    NotFound(String),
}

/// `-` and `_` are the same in module names (the kernel and kmod treat them alike).
pub fn normalize(name: &str) -> String {
    // Most names have no `-`: a plain copy is much cheaper than `replace` (thousands per boot).
    if name.as_bytes().contains(&b'-') {
        name.replace('-', "_")
    } else {
        name.to_string()
    }
}

/// The module name of a path in modules.dep: basename without `.ko` and compression suffix.
pub fn name_of_path(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.split(".ko").next().unwrap_or(base);
    normalize(stem)
}

#[derive(Clone, Debug, Default)]
struct Entry {
    path: String,
    deps: Vec<String>,
}

/// A wildcard alias: a range of `ModuleIndex::patterns`, since thousands of small strings cost
/// the initramfs more than the parse itself. Most share no literal prefix with a given modalias
/// (`pci:v…` against `virtio:d…`), so that cheap test comes before the match; it matters for the
/// long `cpu:type:…:feature:…` modalias, which every `cpu:*feature:*XXXX*` pattern scans.
#[derive(Clone, Debug)]
struct Glob {
    start: u32,
    /// Where the first wildcard is.
    literal: u32,
    end: u32,
    /// Index in `ModuleIndex::names`.
    module: u32,
}

#[derive(Clone, Debug, Default)]
pub struct ModuleIndex {
    dir: PathBuf,
    modules: HashMap<String, Entry>,
    /// `alias PATTERN module` with wildcards, in file order; the others are in `exact`.
    globs: Vec<Glob>,
    exact: HashMap<String, Vec<u32>>,
    /// Every wildcard pattern, back to back (`-` as `_`).
    patterns: String,
    /// The modules aliases name, each once, and where each is in `names`.
    names: Vec<String>,
    name_ids: HashMap<String, u32>,
    softdeps: HashMap<String, (Vec<String>, Vec<String>)>,
    builtin: HashSet<String>,
    blacklist: HashSet<String>,
    options: HashMap<String, Vec<String>>,
}

impl ModuleIndex {
    /// Reads `/lib/modules/<release>` (or any directory laid out like it) and the modprobe.d
    /// configuration under `conf_root`.
    pub fn load(dir: &Path, conf_root: &Path) -> Result<Self, KmodError> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|source| KmodError::Read { path: dir.join(name).display().to_string(), source })
        };
        let dep = read("modules.dep")?;
        let alias = read("modules.alias").unwrap_or_default();
        let softdep = read("modules.softdep").unwrap_or_default();
        let builtin = read("modules.builtin").unwrap_or_default();
        let mut index = ModuleIndex::from_text(dir, &dep, &alias, &softdep, &builtin);
        for sub in ["lib/modprobe.d", "usr/lib/modprobe.d", "etc/modprobe.d", "run/modprobe.d"] {
            for f in crate::cmdline::conf_files(&conf_root.join(sub)) {
                if let Ok(text) = std::fs::read_to_string(&f) {
                    index.add_modprobe_conf(&text);
                }
            }
        }
        Ok(index)
    }

    pub fn from_text(dir: &Path, dep: &str, alias: &str, softdep: &str, builtin: &str) -> Self {
        let mut index = ModuleIndex { dir: dir.to_path_buf(), ..Default::default() };
        for line in dep.lines() {
            let Some((path, deps)) = line.split_once(':') else {
                continue;
            };
            let path = path.trim();
            if path.is_empty() {
                continue;
            }
            let deps = deps.split_ascii_whitespace().map(name_of_path).collect();
            index.modules.insert(name_of_path(path), Entry { path: path.to_string(), deps });
        }
        for line in alias.lines() {
            let mut words = line.split_ascii_whitespace();
            if words.next() != Some("alias") {
                continue;
            }
            let (Some(pattern), Some(module)) = (words.next(), words.next()) else {
                continue;
            };
            index.add_alias(pattern, module);
        }
        index.add_softdeps(softdep);
        for line in builtin.lines() {
            let line = line.trim();
            if !line.is_empty() {
                index.builtin.insert(name_of_path(line));
            }
        }
        index
    }

    fn add_alias(&mut self, pattern: &str, module: &str) {
        let module = self.name_id(module);
        match pattern.bytes().position(|b| matches!(b, b'*' | b'?' | b'[')) {
            Some(literal) => {
                let start = self.patterns.len();
                self.patterns.push_str(&normalize_alias(pattern));
                let end = self.patterns.len();
                let (start, literal, end) = (start as u32, (start + literal) as u32, end as u32);
                self.globs.push(Glob { start, literal, end, module });
            }
            None => self.exact.entry(normalize_alias(pattern).into_owned()).or_default().push(module),
        }
    }

    /// Where `module` is in `names`, adding it if new.
    fn name_id(&mut self, module: &str) -> u32 {
        // modules.alias lists a module's aliases together: most lines name the newest module.
        if let Some(last) = self.names.len().checked_sub(1).filter(|&i| self.names[i] == module) {
            return last as u32;
        }
        let name = normalize(module);
        if let Some(&id) = self.name_ids.get(&name) {
            return id;
        }
        self.names.push(name.clone());
        self.name_ids.insert(name, self.names.len() as u32 - 1);
        self.names.len() as u32 - 1
    }

    fn add_softdeps(&mut self, text: &str) {
        for line in text.lines() {
            let mut words = line.split_ascii_whitespace();
            if words.next() != Some("softdep") {
                continue;
            }
            let Some(module) = words.next() else { continue };
            let entry = self.softdeps.entry(normalize(module)).or_default();
            // Words before any `pre:`/`post:` belong to neither list, as in kmod.
            let mut mode = 0;
            for w in words {
                match w {
                    "pre:" => mode = 1,
                    "post:" => mode = 2,
                    _ if mode == 1 => entry.0.push(w.to_string()),
                    _ if mode == 2 => entry.1.push(w.to_string()),
                    _ => {}
                }
            }
        }
    }

    /// Takes `blacklist`, `options`, `alias` and `softdep` lines of a modprobe.d file.
    pub fn add_modprobe_conf(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_ascii_whitespace();
            match words.next() {
                Some("blacklist") => {
                    if let Some(m) = words.next() {
                        self.blacklist.insert(normalize(m));
                    }
                }
                Some("options") => {
                    if let Some(m) = words.next() {
                        self.options.entry(normalize(m)).or_default().extend(words.map(str::to_string));
                    }
                }
                Some("alias") => {
                    if let (Some(p), Some(m)) = (words.next(), words.next()) {
                        self.add_alias(p, m);
                    }
                }
                Some("softdep") => self.add_softdeps(line),
                _ => {}
            }
        }
    }

    /// Applies `rd.driver.blacklist=`, `module_blacklist=` and `modprobe.blacklist=`.
    pub fn blacklist_from(&mut self, cmdline: &Cmdline) {
        for key in ["rd.driver.blacklist", "module_blacklist", "modprobe.blacklist"] {
            for m in cmdline.list(key) {
                self.blacklist.insert(normalize(&m));
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn contains(&self, name: &str) -> bool {
        self.modules.contains_key(&normalize(name))
    }
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&normalize(name))
    }
    pub fn is_blacklisted(&self, name: &str) -> bool {
        self.blacklist.contains(&normalize(name))
    }
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.modules.get(&normalize(name)).map(|e| {
            if e.path.starts_with('/') {
                PathBuf::from(&e.path)
            } else {
                self.dir.join(&e.path)
            }
        })
    }
    pub fn options(&self, name: &str) -> &[String] {
        self.options.get(&normalize(name)).map_or(&[], Vec::as_slice)
    }

    /// Modules an alias (a modalias such as `pci:v00001AF4d…`, or `fs-ext4`) stands for, not
    /// counting blacklisted ones. A real module name resolves to itself.
    pub fn lookup(&self, alias: &str) -> Vec<String> {
        let name = normalize(alias);
        if self.modules.contains_key(&name) || self.builtin.contains(&name) {
            return vec![name];
        }
        let key = normalize_alias(alias);
        let mut ids: Vec<u32> = self.exact.get(key.as_ref()).cloned().unwrap_or_default();
        let patterns = self.patterns.as_bytes();
        for g in &self.globs {
            let (start, literal, end) = (g.start as usize, g.literal as usize, g.end as usize);
            if key.as_bytes().starts_with(&patterns[start..literal])
                && glob_match(&patterns[start..end], key.as_bytes())
            {
                ids.push(g.module);
            }
        }
        let mut found: Vec<String> = ids.into_iter().map(|i| self.names[i as usize].clone()).collect();
        let mut seen = HashSet::new();
        found.retain(|m| !self.blacklist.contains(m) && seen.insert(m.clone()));
        found
    }
}

/// Aliases compare with `-` and `_` alike only in the module-name part; kmod normalises the whole
/// alias string the same way, which is what we do.
fn normalize_alias(alias: &str) -> std::borrow::Cow<'_, str> {
    if alias.as_bytes().contains(&b'-') {
        alias.replace('-', "_").into()
    } else {
        alias.into()
    }
}

/// fnmatch(3) without flags: `*`, `?` and `[...]` (with `!`/`^` negation and ranges).
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star_p, mut star_t) = (usize::MAX, 0);
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star_p = p;
                    star_t = t;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = match_class(pattern, p, text[t]) {
                        if matched {
                            p = next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        if star_p == usize::MAX {
            return false;
        }
        p = star_p + 1;
        star_t += 1;
        t = star_t;
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches one byte against the class starting at `pattern[start] == b'['`. Returns whether it
/// matched and the index after `]`, or None when the class is unterminated.
fn match_class(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &lo = pattern.get(i)?;
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[i + 2];
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
}

/// Load order for a request: waves of modules whose dependencies (hard deps and `softdep pre:`)
/// are all in earlier waves, so each wave can load in parallel. Names already loaded are left out.
/// Unknown names are returned separately so the caller can report them.
pub fn plan(index: &ModuleIndex, request: &[String], loaded: &HashSet<String>) -> (Vec<Vec<String>>, Vec<String>) {
    let mut depth: HashMap<String, usize> = HashMap::new();
    let mut missing = Vec::new();
    let mut visiting = HashSet::new();
    let mut posts = Vec::new();

    fn visit(
        index: &ModuleIndex,
        name: &str,
        loaded: &HashSet<String>,
        depth: &mut HashMap<String, usize>,
        visiting: &mut HashSet<String>,
        missing: &mut Vec<String>,
        posts: &mut Vec<String>,
    ) -> Option<usize> {
        let name = normalize(name);
        if loaded.contains(&name) || index.builtin.contains(&name) {
            return Some(0);
        }
        if let Some(&d) = depth.get(&name) {
            return Some(d);
        }
        let Some(entry) = index.modules.get(&name) else {
            if !missing.contains(&name) {
                missing.push(name);
            }
            return None;
        };
        if !visiting.insert(name.clone()) {
            return Some(0); // a cycle in broken metadata: break it rather than loop
        }
        let mut level = 0;
        let (pre, post) = index.softdeps.get(&name).cloned().unwrap_or_default();
        for p in &pre {
            for m in index.lookup(p) {
                if let Some(d) = visit(index, &m, loaded, depth, visiting, &mut Vec::new(), posts) {
                    level = level.max(d);
                }
            }
        }
        for dep in &entry.deps {
            if let Some(d) = visit(index, dep, loaded, depth, visiting, missing, posts) {
                level = level.max(d);
            }
        }
        visiting.remove(&name);
        posts.extend(post);
        depth.insert(name, level + 1);
        Some(level + 1)
    }

    for r in request {
        visit(index, r, loaded, &mut depth, &mut visiting, &mut missing, &mut posts);
    }
    // `softdep post:` modules are wanted but optional; they follow what they belong to.
    let mut post_names = Vec::new();
    for p in posts {
        post_names.extend(index.lookup(&p));
    }
    for p in post_names {
        visit(index, &p, loaded, &mut depth, &mut visiting, &mut Vec::new(), &mut Vec::new());
    }
    let waves_n = depth.values().copied().max().unwrap_or(0);
    let mut waves: Vec<BTreeSet<String>> = vec![BTreeSet::new(); waves_n];
    for (name, d) in depth {
        waves[d - 1].insert(name);
    }
    (waves.into_iter().map(|w| w.into_iter().collect()).collect(), missing)
}

/// Names of the modules the kernel has loaded now (`/proc/modules`).
pub fn loaded_modules() -> HashSet<String> {
    std::fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_ascii_whitespace().next())
        .map(normalize)
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
    Zstd,
    Gzip,
}

/// The compression of a module file, by its magic bytes.
pub fn compression_of(head: &[u8]) -> Compression {
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// Decompresses a module image in process (kernels without `CONFIG_MODULE_DECOMPRESS`).
pub fn decompress(data: &[u8], path: &str) -> Result<Vec<u8>, KmodError> {
    let err = |reason: String| KmodError::Decompress { path: path.to_string(), reason };
    let mut out = Vec::with_capacity(data.len() * 3);
    match compression_of(data) {
        Compression::None => return Ok(data.to_vec()),
        #[cfg(feature = "xz")]
        Compression::Xz => {
            lzma_rust2::XzReader::new(data, true).read_to_end(&mut out).map_err(|e| err(e.to_string()))?;
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            ruzstd::decoding::StreamingDecoder::new(data)
                .map_err(|e| err(e.to_string()))?
                .read_to_end(&mut out)
                .map_err(|e| err(e.to_string()))?;
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => {
            flate2::read::GzDecoder::new(data).read_to_end(&mut out).map_err(|e| err(e.to_string()))?;
        }
        #[allow(unreachable_patterns)]
        other => return Err(err(format!("{other:?} support was not built in"))),
    }
    Ok(out)
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

/// Whether a module (by its path in modules.dep) is one the boot needs before the root is up.
pub fn needed_for_boot(path: &str) -> bool {
    BOOT_DRIVER_DIRS.iter().any(|d| path.starts_with(d) || path.contains(&format!("/{d}")))
}

#[derive(Default)]
struct LoaderState {
    loaded: HashSet<String>,
    /// Being loaded by some thread. Another thread that needs it waits: the kernel (before 6.4)
    /// checks the signature of, and lays out, a second copy before refusing it as a duplicate.
    loading: HashSet<String>,
    failed: HashMap<String, String>,
    missing: BTreeSet<String>,
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
        v.sort();
        v
    }

    /// Loads modules by name or alias (with their dependencies); returns how many were loaded now.
    /// Names that resolve to nothing are remembered as missing when `required`.
    pub fn request(&self, names: &[String], required: bool) -> usize {
        self.request_as(names, required, Wait::ForAsyncProbes)
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
        let (loaded, loading) = {
            let st = self.lock();
            (st.loaded.clone(), st.loading.clone())
        };
        let mut out = Vec::new();
        for alias in modaliases {
            for m in self.index.lookup(alias) {
                if loaded.contains(&m) || loading.contains(&m) || out.contains(&m) || self.index.is_builtin(&m) {
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
    /// driver (virtio_pci) is then not held up behind a big one (libata).
    pub fn spawn_boot_drivers(self: &std::sync::Arc<Self>, modaliases: &[String]) {
        let drivers = self.boot_drivers(modaliases);
        if !drivers.is_empty() {
            log::debug!("loading boot drivers: {}", drivers.join(" "));
        }
        for d in drivers {
            self.spawn(vec![d], false);
        }
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
            me.request_as(&names, false, Wait::No);
        });
    }

    /// `request` in a background thread; `wait_idle` joins it.
    pub fn spawn(self: &std::sync::Arc<Self>, names: Vec<String>, required: bool) {
        if names.is_empty() {
            return;
        }
        let me = std::sync::Arc::clone(self);
        self.spawn_with(move || {
            me.request(&names, required);
        });
    }

    fn spawn_with(&self, work: impl FnOnce() + Send + 'static) {
        match std::thread::Builder::new().name("kmod".into()).stack_size(crate::THREAD_STACK).spawn(work) {
            Ok(h) => self.pending.lock().unwrap_or_else(|e| e.into_inner()).push(h),
            Err(e) => log::warn!("cannot start a module loader thread: {e}"),
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
        let (waves, missing) = plan(&self.index, names, &loaded);
        self.lock().missing.extend(missing);
        let mut count = 0;
        for wave in waves {
            let wave: Vec<_> = wave.into_iter().filter(|m| !self.lock().failed.contains_key(m)).collect();
            let results: Vec<(String, Result<bool, KmodError>)> = if wave.len() == 1 {
                wave.into_iter()
                    .map(|m| {
                        let r = self.load_one(&m, wait);
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
                                    let r = self.load_one(&m, wait);
                                    (m, r)
                                }
                            });
                            // No thread to be had: load it here instead.
                            spawned.map_err(|_| inline.push(m)).ok()
                        })
                        .collect();
                    let mut results: Vec<_> =
                        inline.into_iter().map(|m| (m.clone(), self.load_one(&m, wait))).collect();
                    results.extend(handles.into_iter().filter_map(|h| h.join().ok()));
                    results
                })
            };
            let mut st = self.lock();
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
        let result = if comp == Compression::None {
            sys::finit_module(&file, &params, false)
        } else if self.kernel_decompress == Some(comp) {
            sys::finit_module(&file, &params, true)
        } else {
            let mut data = head[..n].to_vec();
            file.read_to_end(&mut data).map_err(|source| KmodError::Read { path: shown.clone(), source })?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.zst kernel/fs/mbcache.ko kernel/lib/crc16.ko
kernel/fs/jbd2/jbd2.ko.zst:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/hid/hid-generic.ko:
";
    const ALIAS: &str = "# Aliases extracted from modules themselves.
alias virtio:d00000002v* virtio_blk
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias fs-ext4 ext4
alias crypto-crc32c crc32c_generic
alias hid:b*g0001v*p* hid_generic
";
    const SOFTDEP: &str = "softdep ext4 pre: crypto-crc32c\nsoftdep cifs gcm\n";

    fn index() -> ModuleIndex {
        ModuleIndex::from_text(Path::new("/lib/modules/x"), DEP, ALIAS, SOFTDEP, "kernel/fs/fat/fat.ko\n")
    }

    #[test]
    fn names_are_normalized() {
        assert_eq!(name_of_path("kernel/drivers/hid/hid-generic.ko.zst"), "hid_generic");
        assert_eq!(name_of_path("ext4.ko"), "ext4");
        assert!(index().contains("hid-generic"));
    }

    #[test]
    fn glob_matches_like_fnmatch() {
        assert!(glob_match(b"pci:v00001AF4d*sv*sd*bc*sc*i*", b"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"));
        assert!(!glob_match(b"pci:v00001AF4d*", b"pci:v00008086d00001234"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(glob_match(b"usb:v*p*d*dc[0-9]*", b"usb:v1p2d3dc7x"));
        assert!(!glob_match(b"x[!a-c]", b"xb"));
        assert!(glob_match(b"x[!a-c]", b"xd"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"a[", b"a["));
    }

    #[test]
    fn lookup_by_modalias_name_and_fs_alias() {
        let ix = index();
        assert_eq!(ix.lookup("pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"), ["virtio_pci"]);
        assert_eq!(ix.lookup("virtio:d00000002v00001AF4"), ["virtio_blk"]);
        assert_eq!(ix.lookup("fs-ext4"), ["ext4"]);
        assert_eq!(ix.lookup("virtio-blk"), ["virtio_blk"]);
        assert!(ix.lookup("pci:v00008086d00001237sv*").is_empty());
        assert_eq!(ix.lookup("fat"), ["fat"]); // builtin: resolves, loads nothing
    }

    /// Patterns share one string and module names are kept once: aliases of a module listed
    /// apart, `-` in patterns and names, and modprobe.d aliases added later all still resolve.
    #[test]
    fn aliases_listed_apart_and_added_later_resolve() {
        let alias = "alias pci:v00008086d0000293[0-9]* ahci\nalias crypto-crc32c crc32c-generic\n\
                     alias pci:v00001AF4d00001001* virtio-pci\nalias pci:v*d*bc01sc06* ahci\n";
        let mut ix = ModuleIndex::from_text(Path::new("/m"), DEP, alias, "", "");
        ix.add_modprobe_conf("alias my-disk* virtio-blk\nalias pci:v00008086d00002935* ata-piix\n");
        assert_eq!(ix.lookup("pci:v00008086d00002934sv0sd0bc01sc06i01"), ["ahci"]);
        assert_eq!(ix.lookup("pci:v00008086d00002935sv0sd0bc01sc06i01"), ["ahci", "ata_piix"]);
        assert_eq!(ix.lookup("pci:v00001022d00007801sv0sd0bc01sc06i01"), ["ahci"]);
        assert_eq!(ix.lookup("crypto_crc32c"), ["crc32c_generic"]);
        assert_eq!(ix.lookup("my_disk0"), ["virtio_blk"]);
        assert_eq!(ix.lookup("pci:v00001AF4d00001001sv0sd0bc01sc00i00"), ["virtio_pci"]);
    }

    #[test]
    fn blacklist_hides_aliases() {
        let mut ix = index();
        ix.blacklist_from(&Cmdline::parse("rd.driver.blacklist=virtio_blk,foo"));
        assert!(ix.lookup("virtio:d00000002v00001AF4").is_empty());
        ix.add_modprobe_conf("blacklist virtio_pci # comment\noptions ext4 foo=1 bar");
        assert!(ix.lookup("pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00").is_empty());
        assert_eq!(ix.options("ext4"), ["foo=1", "bar"]);
    }

    #[test]
    fn plan_orders_dependencies_in_waves() {
        let ix = index();
        let (waves, missing) = plan(&ix, &["virtio_blk".into(), "virtio_pci".into()], &HashSet::new());
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
        let (waves, _) = plan(&ix, &["ext4".into()], &loaded);
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
        let (waves, missing) = plan(&ix, &["nvme".into()], &HashSet::new());
        assert!(waves.is_empty());
        assert_eq!(missing, ["nvme"]);
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
    }

    #[test]
    fn compressed_modules_round_trip() {
        let original: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("m.ko");
        std::fs::write(&raw, &original).unwrap();
        for (tool, args, ext) in [
            ("xz", &["-k", "--check=crc32"][..], "xz"),
            ("zstd", &["-q", "-k"][..], "zst"),
            ("gzip", &["-k"][..], "gz"),
        ] {
            let status = std::process::Command::new(tool).args(args).arg(&raw).status();
            let Ok(status) = status else { continue };
            assert!(status.success());
            let packed = std::fs::read(dir.path().join(format!("m.ko.{ext}"))).unwrap();
            assert_ne!(compression_of(&packed), Compression::None);
            assert_eq!(decompress(&packed, ext).unwrap(), original, "{tool}");
        }
    }

    #[test]
    fn corrupt_compressed_module_is_an_error() {
        let mut data = vec![0x28, 0xb5, 0x2f, 0xfd];
        data.extend_from_slice(&[0xff; 64]);
        assert!(decompress(&data, "bad.ko.zst").is_err());
        let mut data = vec![0xfd, b'7', b'z', b'X', b'Z', 0];
        data.extend_from_slice(&[0x00; 64]);
        assert!(decompress(&data, "bad.ko.xz").is_err());
    }
}
