//! The module index: `modules.dep`, `modules.alias`, `modules.softdep`, `modules.builtin` and
//! modprobe.d, parsed into one pure structure, and alias lookup over it.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};

use super::glob::glob_match;
use super::{name_of_path, normalize, read_text, KmodError};
use crate::cmdline::Cmdline;

/// The largest index file read: 50 times Debian 6.1's modules.alias (1.3 MiB).
const MAX_INDEX: usize = 64 << 20;
/// The largest modprobe.d file read: real ones are a few KiB.
const MAX_CONF: usize = 1 << 20;
/// `softdep pre:` (and `post:`) modules kept per module: real ones name at most 4, and each is
/// an alias lookup every time the module is planned.
const MAX_SOFTDEPS: usize = 32;

/// The hash of the index's maps: a multiply-rotate over eight bytes at a time (rustc's FxHash).
/// SipHash, std's default, was an eighth of the index's load; its resistance to chosen keys buys
/// nothing here, where the keys come from the image PID 1 itself booted from.
#[derive(Clone, Copy, Default)]
pub(super) struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

pub(super) type Map<K, V> = HashMap<K, V, BuildHasherDefault<NameHasher>>;
pub(super) type Set<K> = HashSet<K, BuildHasherDefault<NameHasher>>;

#[derive(Clone, Debug, Default)]
pub(super) struct Entry {
    pub(super) path: String,
    pub(super) deps: Vec<String>,
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
    pub(super) modules: Map<String, Entry>,
    /// `alias PATTERN module` with wildcards, in file order; the others are in `exact`.
    globs: Vec<Glob>,
    exact: Map<String, Vec<u32>>,
    /// Every wildcard pattern, back to back (`-` as `_`).
    patterns: String,
    /// The modules aliases name, each once, and where each is in `names`.
    names: Vec<String>,
    name_ids: Map<String, u32>,
    pub(super) softdeps: Map<String, (Vec<String>, Vec<String>)>,
    pub(super) builtin: Set<String>,
    /// Modules with a device alias (`pci:…`, `usb:…`: a driver's device table): they probe devices.
    drivers: Set<u32>,
    blacklist: Set<String>,
    options: Map<String, Vec<String>>,
    /// Softdep names beyond MAX_SOFTDEPS for their module, left out.
    softdeps_dropped: usize,
}

impl ModuleIndex {
    /// Reads `/lib/modules/<release>` (or any directory laid out like it) and the modprobe.d
    /// configuration under `conf_root`.
    pub fn load(dir: &Path, conf_root: &Path) -> Result<Self, KmodError> {
        let read = |name: &str| read_text(&dir.join(name), "the module index", MAX_INDEX);
        // Only modules.dep is needed; a file too large to read is said, a missing one is normal.
        let optional = |r: Result<String, KmodError>| match r {
            Ok(text) => text,
            Err(e @ KmodError::TooLarge { .. }) => {
                log::warn!("{e}; ignored");
                String::new()
            }
            Err(_) => String::new(),
        };
        let dep = read("modules.dep")?;
        let alias = optional(read("modules.alias"));
        let softdep = optional(read("modules.softdep"));
        let builtin = optional(read("modules.builtin"));
        let mut index = ModuleIndex::from_text(dir, &dep, &alias, &softdep, &builtin);
        for sub in ["lib/modprobe.d", "usr/lib/modprobe.d", "etc/modprobe.d", "run/modprobe.d"] {
            for f in crate::cmdline::conf_files(&conf_root.join(sub)) {
                index.add_modprobe_conf(&optional(read_text(&f, "a modprobe.d file", MAX_CONF)));
            }
        }
        if index.softdeps_dropped > 0 {
            let n = index.softdeps_dropped;
            log::warn!("{n} softdep modules ignored: more than {MAX_SOFTDEPS} before or after one module (broken modules.softdep or modprobe.d)");
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
        if pattern.split_once(':').is_some_and(|(bus, _)| !bus.is_empty() && bus != "devname") {
            self.drivers.insert(module);
        }
        match pattern.bytes().position(|b| matches!(b, b'*' | b'?' | b'[')) {
            Some(literal) => {
                let start = self.patterns.len();
                let pattern = normalize_alias(pattern);
                // Offsets are u32: past 4 GiB of patterns (far beyond the read caps), drop it.
                let offsets =
                    (u32::try_from(start), u32::try_from(start + literal), u32::try_from(start + pattern.len()));
                let (Ok(start), Ok(literal), Ok(end)) = offsets else { return };
                self.patterns.push_str(&pattern);
                self.globs.push(Glob { start, literal, end, module });
            }
            None => self.exact.entry(normalize_alias(pattern).into_owned()).or_default().push(module),
        }
    }

    /// Where `module` is in `names`, adding it if new.
    #[allow(clippy::cast_possible_truncation, reason = "module names of one index file, capped in size: thousands")]
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
            let (pre, post) = self.softdeps.entry(normalize(module)).or_default();
            // Words before any `pre:`/`post:` belong to neither list, as in kmod.
            let mut list = None;
            for w in words {
                match w {
                    "pre:" => list = Some(&mut *pre),
                    "post:" => list = Some(&mut *post),
                    _ => match list.as_deref_mut() {
                        Some(l) if l.len() >= MAX_SOFTDEPS => self.softdeps_dropped += 1,
                        Some(l) => l.push(w.to_string()),
                        None => {}
                    },
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
    /// Whether the module drives devices (has a device alias), so its drivers probe them: not
    /// a library (libata, virtio_ring), a filesystem, a cipher or device-mapper.
    pub fn drives_devices(&self, name: &str) -> bool {
        self.name_ids.get(&normalize(name)).is_some_and(|id| self.drivers.contains(id))
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
            let (Some(prefix), Some(pattern)) = (patterns.get(start..literal), patterns.get(start..end)) else {
                continue;
            };
            if key.as_bytes().starts_with(prefix) && glob_match(pattern, key.as_bytes()) {
                ids.push(g.module);
            }
        }
        let mut found: Vec<String> = ids.into_iter().filter_map(|i| self.names.get(i as usize).cloned()).collect();
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

#[cfg(test)]
mod tests {
    use super::super::testdata::{index, DEP};
    use super::*;

    /// A file of `len` bytes that takes no room (sparse).
    fn sparse(path: &Path, len: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(path).unwrap().set_len(len as u64).unwrap();
    }

    /// An index file or modprobe.d file larger than its cap is refused by name, before it is
    /// read: modules.dep makes the index fail, the others are left out and the rest still works.
    #[test]
    fn index_files_past_their_cap_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (kdir, conf) = (dir.path().join("lib/modules/x"), dir.path().join("conf"));
        sparse(&kdir.join("modules.dep"), MAX_INDEX + 1);
        let err = ModuleIndex::load(&kdir, &conf).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}/modules.dep: the module index is larger than 64 MiB", kdir.display())),
            "{err}"
        );
        std::fs::write(kdir.join("modules.dep"), DEP).unwrap();
        sparse(&kdir.join("modules.alias"), MAX_INDEX + 1);
        sparse(&conf.join("etc/modprobe.d/big.conf"), MAX_CONF + 1);
        std::fs::write(conf.join("etc/modprobe.d/small.conf"), "blacklist virtio_pci\n").unwrap();
        let ix = ModuleIndex::load(&kdir, &conf).unwrap();
        assert!(ix.contains("virtio_blk") && ix.is_blacklisted("virtio_pci"));
        assert!(ix.globs.is_empty() && ix.exact.is_empty());
    }

    /// One module's softdeps are kept up to a bound, since each costs an alias lookup per plan.
    #[test]
    fn softdeps_per_module_are_bounded() {
        let many: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
        let line = format!("softdep a pre: {} post: b\nsoftdep a pre: c\n", many.join(" "));
        let ix = ModuleIndex::from_text(Path::new("/m"), "", "", &line, "");
        let (pre, post) = &ix.softdeps["a"];
        assert_eq!(pre[..], many[..MAX_SOFTDEPS]);
        assert_eq!(post, &["b"]);
        assert_eq!(ix.softdeps_dropped, 100 - MAX_SOFTDEPS + 1);
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

    /// A module drives devices when a device table gave it an alias: usbcore (its hub driver)
    /// does, libraries, filesystems, ciphers and device-mapper (`devname:`) do not.
    #[test]
    fn modules_with_device_aliases_drive_devices() {
        let ix = index();
        assert!(ix.drives_devices("virtio_pci") && ix.drives_devices("virtio-blk") && ix.drives_devices("hid_generic"));
        assert!(!ix.drives_devices("virtio") && !ix.drives_devices("ext4") && !ix.drives_devices("crc32c_generic"));
        let aliases = "alias devname:mapper/control dm_mod\nalias char-major-10-236 dm_mod\nalias usb:v*p*d*dc09dsc*dp*ic*isc*ip*in* usbcore\n";
        let ix = ModuleIndex::from_text(Path::new("/m"), "", aliases, "", "");
        assert!(ix.drives_devices("usbcore"));
        assert!(!ix.drives_devices("dm_mod") && !ix.drives_devices("libata"));
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
}
