//! `rdbreak build`: a bootable initramfs with rdbreak as /init, without dracut. The seed's manual
//! recipe (copy a binary, then the libraries `ldd` lists) done from the ELF headers, plus the
//! kernel modules with their dependency closure and index files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rdbreak_init::kmod::{self, ModuleIndex};

use crate::compress::{self, Format};
use crate::cpio::{self, Entry};
use crate::elf;

/// The dracut module's driver list (`dracut-module/99rdbreak/drivers.txt`), the one place it is
/// spelt.
const DRIVERS_TXT: &str = include_str!("../../dracut-module/99rdbreak/drivers.txt");

/// The groups of drivers.txt that are storage stacks rdbreak assembles (`--storage` picks).
pub const STACKS: &[&str] = &["lvm", "md", "luks"];

/// The drivers a generic image carries to find a root: every group of the dracut module's list.
pub fn default_modules() -> Vec<String> {
    modules_for(STACKS)
}

/// Every group of the list but the storage stacks not in `stacks`.
pub fn modules_for(stacks: &[impl AsRef<str>]) -> Vec<String> {
    DRIVERS_TXT
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .filter(|(group, _)| !STACKS.contains(group) || stacks.iter().any(|s| s.as_ref() == *group))
        .flat_map(|(_, mods)| mods.split_whitespace().map(str::to_string))
        .collect()
}

/// `--storage lvm,md,luks` or `--storage none`: the stacks whose drivers go in the image.
pub fn parse_storage(list: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for s in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match s {
            "none" => {}
            s if STACKS.contains(&s) => out.push(s.to_string()),
            s => bail!("--storage {s}: not a storage stack rdbreak assembles; known: {}, or none", STACKS.join(", ")),
        }
    }
    Ok(out)
}

#[derive(Debug, Default)]
pub struct Options {
    pub init: PathBuf,
    pub kver: String,
    /// The `/lib/modules/<kver>` directory to take modules from.
    pub kmoddir: PathBuf,
    pub modules: Vec<String>,
    pub module_files: Vec<PathBuf>,
    pub host_modules: bool,
    pub default_modules: bool,
    /// The storage stacks whose drivers the default list keeps (`None`: all of them).
    pub storage: Option<Vec<String>>,
    pub binaries: Vec<PathBuf>,
    /// (source on this machine, path in the image)
    pub files: Vec<(PathBuf, String)>,
    pub cmdline: Option<String>,
    pub compression: Option<Format>,
    pub early_cpio: Option<PathBuf>,
    pub firmware_dir: PathBuf,
    pub mtime: u32,
}

/// The image being assembled: path in the image → entry, kept sorted (parents first).
#[derive(Default)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
}

impl Tree {
    fn add_parents(&mut self, path: &str) {
        let mut p = Path::new(path).parent();
        while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
            let s = dir.to_string_lossy().to_string();
            self.entries.entry(s.clone()).or_insert_with(|| Entry::dir(&s, 0o755));
            p = dir.parent();
        }
    }

    /// Adds an entry under its name made relative (`/usr/bin/x` → `usr/bin/x`). A name with a
    /// `..` component, or none at all, is refused: whatever the image's reader, no entry may
    /// point outside the tree it is unpacked into.
    pub fn add(&mut self, e: Entry) -> Result<()> {
        let name = image_path(&e.name)?;
        self.add_parents(&name);
        self.entries.insert(name.clone(), Entry { name, ..e });
        Ok(())
    }

    /// Copies a file of this machine into the image, at the same path or at `dest`; a symlink is
    /// kept as a link and its target is copied too: beside `dest` when the link is relative (so
    /// `HOST:GUEST` of a library's soname link brings the library to GUEST's directory), at its
    /// own path when it is absolute.
    pub fn add_host_file(&mut self, path: &Path, dest: Option<&str>) -> Result<()> {
        let meta = std::fs::symlink_metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        let dest = image_path(&dest.map_or_else(|| path.to_string_lossy().to_string(), str::to_string))?;
        if self.entries.contains_key(&dest) {
            return Ok(());
        }
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path)?;
            self.add(Entry::symlink(&dest, &target.to_string_lossy()))?;
            let host = lexical(&path.parent().unwrap_or(Path::new("/")).join(&target));
            if target.is_absolute() {
                return self.add_host_file(&host, None);
            }
            let guest = lexical(&Path::new("/").join(&dest).parent().unwrap_or(Path::new("/")).join(&target));
            return self.add_host_file(&host, Some(&guest.to_string_lossy()));
        }
        use std::os::unix::fs::PermissionsExt;
        let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        self.add(Entry::file(&dest, meta.permissions().mode() & 0o7777, data))
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.entries.values().cloned().collect()
    }

    #[cfg(test)]
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path.trim_start_matches('/'))
    }
}

/// `dir/../x` taken as the image resolves it (its directories are directories): lexically,
/// never as a `..` entry.
fn lexical(path: &Path) -> PathBuf {
    let mut resolved = PathBuf::from("/");
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                resolved.pop();
            }
            std::path::Component::Normal(n) => resolved.push(n),
            _ => {}
        }
    }
    resolved
}

/// A path in the image: relative, without `.` or empty components; `..` refused.
pub fn image_path(name: &str) -> Result<String> {
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => bail!("the image path {name:?} has a `..` component; refused"),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        bail!("the image path {name:?} names no file");
    }
    Ok(parts.join("/"))
}

/// Module names (not files) the kernel has loaded now.
fn host_modules() -> Vec<String> {
    std::fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Firmware files a module declares (`firmware=` in its .modinfo).
fn firmware_of(module: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in module.split(|&b| b == 0) {
        if let Some(name) = chunk.strip_prefix(b"firmware=") {
            out.push(String::from_utf8_lossy(name).to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The kernel release a module is built for: the first word of `vermagic=` in its .modinfo.
pub fn vermagic(module: &[u8]) -> Option<String> {
    module.split(|&b| b == 0).find_map(|chunk| {
        let v = chunk.strip_prefix(b"vermagic=")?;
        let word = v.split(|&b| b == b' ').next()?;
        Some(String::from_utf8_lossy(word).to_string()).filter(|w| !w.is_empty())
    })
}

/// Every module to include: the request resolved through aliases, plus hard and soft
/// dependencies. Unknown names are an error, with the names.
pub fn module_closure(index: &ModuleIndex, request: &[String]) -> Result<BTreeSet<String>> {
    let mut names = Vec::new();
    let mut unknown = Vec::new();
    for r in request {
        let found = index.lookup(r);
        if found.is_empty() && !index.is_builtin(r) {
            unknown.push(r.clone());
        }
        names.extend(found);
    }
    if !unknown.is_empty() {
        bail!("no such module (or alias) in {}: {}", index.dir().display(), unknown.join(", "));
    }
    let kmod::Plan { waves, missing, refused } = kmod::plan(index, &names, &Default::default());
    if let Some(e) = refused.first() {
        bail!("{e}");
    }
    if !missing.is_empty() {
        bail!("modules.dep names modules that are not there: {}", missing.join(", "));
    }
    Ok(waves.into_iter().flatten().collect())
}

/// Keeps the lines of a modules.* index that concern included modules (depmod-consistent for the
/// subset: every dependency of a kept module is kept too, by construction of the closure).
fn filter_index(text: &str, keep: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if keep(line) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn add_modules(tree: &mut Tree, opts: &Options) -> Result<usize> {
    let mut required: Vec<String> = opts.modules.clone();
    required.extend(opts.module_files.iter().map(|f| kmod::name_of_path(&f.to_string_lossy())));
    // Wishes, not requirements: a kernel may have these built in, or not at all.
    let mut wishes: Vec<String> = Vec::new();
    if opts.default_modules {
        match &opts.storage {
            Some(stacks) => wishes.extend(modules_for(stacks)),
            None => wishes.extend(default_modules()),
        }
    }
    if opts.host_modules {
        wishes.extend(host_modules());
    }
    if required.is_empty() && wishes.is_empty() {
        return Ok(0);
    }
    let dir = &opts.kmoddir;
    let index = ModuleIndex::load(dir, Path::new("/nonexistent"))
        .with_context(|| format!("reading the module index in {} (run depmod?)", dir.display()))?;
    required.extend(wishes.into_iter().filter(|w| !index.lookup(w).is_empty()));
    let closure = module_closure(&index, &required)?;
    let base = format!("lib/modules/{}", opts.kver);
    let mut firmware = BTreeSet::new();
    for name in &closure {
        let path = index.path(name).context("module path")?;
        let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().to_string();
        let data = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let plain = kmod::decompress(&data, &path.to_string_lossy()).unwrap_or_default();
        if let Some(built) = vermagic(&plain).filter(|v| *v != opts.kver) {
            bail!(
                "--kver {} does not match the modules: {} says it is built for {built} (its vermagic); modules for {built} under lib/modules/{} could never load. Pass --kver {built}, or --kmoddir with the modules of {}",
                opts.kver,
                path.display(),
                opts.kver,
                opts.kver
            );
        }
        firmware.extend(firmware_of(&plain));
        tree.add(Entry::file(&format!("{base}/{rel}"), 0o644, data))?;
    }
    let included = |path: &str| closure.contains(&kmod::name_of_path(path));
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap_or_default();
    let dep = filter_index(&read("modules.dep"), &|l| l.split(':').next().is_some_and(included));
    let alias = filter_index(&read("modules.alias"), &|l| {
        l.split_whitespace().nth(2).is_some_and(|m| closure.contains(&kmod::normalize(m)))
    });
    let softdep = filter_index(&read("modules.softdep"), &|l| {
        l.split_whitespace().nth(1).is_some_and(|m| closure.contains(&kmod::normalize(m)))
    });
    let order = filter_index(&read("modules.order"), &|l| included(l.trim()));
    for (name, text) in [
        ("modules.dep", dep),
        ("modules.alias", alias),
        ("modules.softdep", softdep),
        ("modules.order", order),
        ("modules.builtin", read("modules.builtin")),
    ] {
        tree.add(Entry::file(&format!("{base}/{name}"), 0o644, text.into_bytes()))?;
    }
    if let Ok(modinfo) = std::fs::read(dir.join("modules.builtin.modinfo")) {
        tree.add(Entry::file(&format!("{base}/modules.builtin.modinfo"), 0o644, modinfo))?;
    }
    for fw in firmware {
        for suffix in ["", ".zst", ".xz"] {
            let src = opts.firmware_dir.join(format!("{fw}{suffix}"));
            if src.exists() {
                tree.add_host_file(&src, Some(&format!("lib/firmware/{fw}{suffix}")))?;
                break;
            }
        }
    }
    Ok(closure.len())
}

/// Assembles the image tree.
pub fn assemble(opts: &Options) -> Result<(Tree, usize)> {
    let mut tree = Tree::default();
    for d in
        ["dev", "proc", "sys", "run", "sysroot", "tmp", "root", "etc", "etc/cmdline.d", "usr/bin", "usr/sbin", "var"]
    {
        tree.add(Entry::dir(d, 0o755))?;
    }
    tree.add(Entry::dir("tmp", 0o1777))?;
    // The kernel opens /dev/console for PID 1 before anything is mounted.
    tree.add(Entry::char_dev("dev/console", 0o600, 5, 1))?;
    tree.add(Entry::char_dev("dev/null", 0o666, 1, 3))?;
    tree.add(Entry::char_dev("dev/kmsg", 0o644, 1, 11))?;
    let init = std::fs::read(&opts.init).with_context(|| format!("cannot read the init {} (build it: cargo build --release -p rdbreak-init --target x86_64-unknown-linux-musl)", opts.init.display()))?;
    if let Some(what) = elf::not_an_executable(&init) {
        bail!("{} is not an ELF executable: it is {what}; /init must be the static rdbreak-init", opts.init.display());
    }
    if elf::parse(&init).is_ok_and(|d| d.interpreter.is_some()) {
        bail!("{} is dynamically linked; /init must be the static rdbreak-init", opts.init.display());
    }
    tree.add(Entry::file("init", 0o755, init))?;
    tree.add(Entry::file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n".to_vec()))?;
    tree.add(Entry::file(
        "etc/initrd-release",
        0o644,
        format!("NAME=rdbreak\nID=rdbreak\nVERSION_ID={}\n", env!("CARGO_PKG_VERSION")).into_bytes(),
    ))?;
    if let Some(c) = &opts.cmdline {
        tree.add(Entry::file("etc/cmdline.d/10-rdbreak.conf", 0o644, format!("{c}\n").into_bytes()))?;
    }
    let modules = add_modules(&mut tree, opts)?;
    for b in &opts.binaries {
        tree.add_host_file(b, None)?;
        for dep in elf::dependencies(b)? {
            tree.add_host_file(&dep, None)?;
        }
    }
    for (src, dst) in &opts.files {
        tree.add_host_file(src, Some(dst))?;
    }
    Ok((tree, modules))
}

/// Builds the image bytes: optional early cpio, then the main archive compressed.
pub fn build(opts: &Options) -> Result<(Vec<u8>, usize, usize)> {
    let (tree, modules) = assemble(opts)?;
    let entries = tree.entries();
    let main = cpio::write(&entries, opts.mtime);
    let mut image = Vec::new();
    if let Some(early) = &opts.early_cpio {
        let e = std::fs::read(early).with_context(|| format!("cannot read {}", early.display()))?;
        if !e.starts_with(b"07070") {
            bail!("{} is not an uncompressed cpio archive (the early cpio must not be compressed)", early.display());
        }
        image.extend(e);
        while image.len() % 4 != 0 {
            image.push(0);
        }
    }
    image.extend(compress::compress(&main, opts.compression.unwrap_or(Format::Zstd))?);
    Ok((image, entries.len(), modules))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake modules tree: a.ko depends on b.ko; c is reached by alias; d is a softdep of a.
    fn fake_kernel(dir: &Path) {
        let m = dir.join("kernel");
        std::fs::create_dir_all(&m).unwrap();
        for n in ["a", "b", "c", "d", "unused"] {
            std::fs::write(m.join(format!("{n}.ko")), format!("\0name={n}\0firmware=fw-{n}.bin\0")).unwrap();
        }
        std::fs::write(
            dir.join("modules.dep"),
            "kernel/a.ko: kernel/b.ko\nkernel/b.ko:\nkernel/c.ko:\nkernel/d.ko:\nkernel/unused.ko:\n",
        )
        .unwrap();
        std::fs::write(dir.join("modules.alias"), "alias pci:v1234* c\nalias fs-x a\nalias other unused\n").unwrap();
        std::fs::write(dir.join("modules.softdep"), "softdep a pre: d\nsoftdep unused pre: b\n").unwrap();
        std::fs::write(dir.join("modules.builtin"), "kernel/builtin.ko\n").unwrap();
    }

    fn opts(dir: &Path) -> Options {
        let init = dir.join("init-bin");
        std::fs::write(&init, elf::tests::tiny_static_elf()).unwrap();
        Options {
            init,
            kver: "9.9.9".into(),
            kmoddir: dir.to_path_buf(),
            firmware_dir: dir.join("fw"),
            ..Default::default()
        }
    }

    #[test]
    fn module_closure_and_filtered_index() {
        let dir = tempfile::tempdir().unwrap();
        fake_kernel(dir.path());
        std::fs::create_dir_all(dir.path().join("fw")).unwrap();
        std::fs::write(dir.path().join("fw/fw-b.bin"), b"blob").unwrap();
        let mut o = opts(dir.path());
        o.modules = vec!["fs-x".into(), "pci:v1234d5678".into(), "builtin".into()];
        let (tree, n) = assemble(&o).unwrap();
        assert_eq!(n, 4, "a, its dependency b, its softdep d, and c by alias");
        for m in ["a", "b", "c", "d"] {
            assert!(tree.contains(&format!("lib/modules/9.9.9/kernel/{m}.ko")), "{m}");
        }
        assert!(!tree.contains("lib/modules/9.9.9/kernel/unused.ko"));
        assert!(tree.contains("lib/firmware/fw-b.bin"), "declared firmware that exists is included");
        let entries = tree.entries();
        let text = |p: &str| String::from_utf8(entries.iter().find(|e| e.name == p).unwrap().data.clone()).unwrap();
        assert_eq!(
            text("lib/modules/9.9.9/modules.dep"),
            "kernel/a.ko: kernel/b.ko\nkernel/b.ko:\nkernel/c.ko:\nkernel/d.ko:\n"
        );
        assert_eq!(text("lib/modules/9.9.9/modules.alias"), "alias pci:v1234* c\nalias fs-x a\n");
        assert_eq!(text("lib/modules/9.9.9/modules.softdep"), "softdep a pre: d\n");
        // The image's own index resolves like the host's.
        let image_dir = tempfile::tempdir().unwrap();
        for e in &entries {
            if let Some(rest) = e.name.strip_prefix("lib/modules/9.9.9/").filter(|_| e.kind() == cpio::S_IFREG) {
                let p = image_dir.path().join(rest);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, &e.data).unwrap();
            }
        }
        let ix = ModuleIndex::load(image_dir.path(), Path::new("/nonexistent")).unwrap();
        assert_eq!(ix.lookup("pci:v1234d0001"), ["c"]);
        assert!(ix.lookup("other").is_empty());
    }

    #[test]
    fn kver_must_match_the_modules_vermagic() {
        let dir = tempfile::tempdir().unwrap();
        fake_kernel(dir.path());
        std::fs::write(dir.path().join("kernel/b.ko"), "\0name=b\0vermagic=6.1.0-9-amd64 SMP preempt mod_unload\0")
            .unwrap();
        assert_eq!(vermagic(b"\0vermagic=6.1.0 SMP\0").as_deref(), Some("6.1.0"));
        let mut o = opts(dir.path());
        o.modules = vec!["a".into()];
        let err = assemble(&o).err().unwrap().to_string();
        assert!(err.contains("--kver 9.9.9 does not match") && err.contains("built for 6.1.0-9-amd64"), "{err}");
        o.kver = "6.1.0-9-amd64".into();
        assemble(&o).unwrap();
    }

    #[test]
    fn unknown_modules_are_named() {
        let dir = tempfile::tempdir().unwrap();
        fake_kernel(dir.path());
        let mut o = opts(dir.path());
        o.modules = vec!["nope".into(), "a".into(), "zilch".into()];
        let err = assemble(&o).err().unwrap().to_string();
        assert!(err.contains("nope, zilch"), "{err}");
    }

    #[test]
    fn reproducible_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        fake_kernel(dir.path());
        let mut o = opts(dir.path());
        o.modules = vec!["a".into()];
        o.cmdline = Some("root=LABEL=x rd.break".into());
        o.binaries = vec![PathBuf::from("/bin/bash")].into_iter().filter(|p| p.exists()).collect();
        let (a, count, _) = build(&o).unwrap();
        let (b, _, _) = build(&o).unwrap();
        assert_eq!(a, b, "same inputs, same bytes");
        let (entries, segments) = crate::initramfs::read_image(&a).unwrap();
        assert_eq!(segments[0].compression, Format::Zstd);
        assert_eq!(entries.len(), count);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        for want in ["init", "dev/console", "etc/cmdline.d/10-rdbreak.conf", "lib/modules/9.9.9/kernel/a.ko"] {
            assert!(names.contains(&want), "{want}");
        }
        // Parents always come before their children.
        for (i, n) in names.iter().enumerate() {
            if let Some((parent, _)) = n.rsplit_once('/') {
                assert!(names[..i].contains(&parent), "{parent} before {n}");
            }
        }
        if !o.binaries.is_empty() {
            assert!(names.iter().any(|n| n.ends_with("libc.so.6")), "bash brings its libraries");
        }
    }

    #[test]
    fn refuses_an_init_that_is_no_program_and_names_with_dotdot() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(dir.path());
        assert_eq!(elf::not_an_executable(&std::fs::read(&o.init).unwrap()), None, "the test's init is one");
        std::fs::write(dir.path().join("hostname"), b"myhost\n").unwrap();
        o.init = dir.path().join("hostname");
        let err = assemble(&o).err().unwrap().to_string();
        assert!(err.contains("is not an ELF executable: it is text, not a program"), "{err}");
        let mut o = opts(dir.path());
        o.files = vec![(dir.path().join("hostname"), "../../../x".into())];
        let err = assemble(&o).err().unwrap().to_string();
        assert!(err.contains("`..` component"), "{err}");
        o.files = vec![(dir.path().join("hostname"), "/etc//./hostname".into())];
        let (tree, _) = assemble(&o).unwrap();
        assert!(tree.contains("etc/hostname"));
    }

    #[test]
    fn a_relative_symlink_copied_elsewhere_brings_its_target_beside_it() {
        // `--file HOST:GUEST` of a soname link from an unpacked package: the library goes to
        // GUEST's directory, where the link points, not to the host's path.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libedit.so.2.0.70"), b"lib").unwrap();
        std::os::unix::fs::symlink("libedit.so.2.0.70", dir.path().join("libedit.so.2")).unwrap();
        let mut tree = Tree::default();
        tree.add_host_file(&dir.path().join("libedit.so.2"), Some("/usr/lib/x86_64-linux-gnu/libedit.so.2")).unwrap();
        let names: Vec<String> = tree.entries().into_iter().map(|e| e.name).collect();
        assert!(tree.contains("/usr/lib/x86_64-linux-gnu/libedit.so.2.0.70"), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("libedit") && !n.starts_with("usr/")), "{names:?}");
    }

    #[test]
    fn a_relative_symlink_brings_its_target_without_dotdot() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib/sub")).unwrap();
        std::fs::write(dir.path().join("lib/real.so"), b"lib").unwrap();
        std::os::unix::fs::symlink("../real.so", dir.path().join("lib/sub/link.so")).unwrap();
        let mut tree = Tree::default();
        tree.add_host_file(&dir.path().join("lib/sub/link.so"), None).unwrap();
        let names: Vec<String> = tree.entries().into_iter().map(|e| e.name).collect();
        assert!(names.iter().all(|n| !n.split('/').any(|c| c == "..")), "{names:?}");
        let real = format!("{}/lib/real.so", dir.path().display());
        assert!(tree.contains(&real), "{names:?}");
    }

    #[test]
    fn refuses_a_dynamic_init() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(dir.path());
        if Path::new("/bin/bash").exists() {
            o.init = PathBuf::from("/bin/bash");
            assert!(assemble(&o).err().unwrap().to_string().contains("dynamically linked"));
        }
    }
}

#[cfg(test)]
mod driver_list {
    use super::*;

    /// The list is spelt once: neither the dracut module's `instmods` nor this builder names a
    /// driver of drivers.txt itself, so the two can no longer drift apart.
    #[test]
    fn the_driver_list_is_spelt_once() {
        let mods = default_modules();
        assert!(mods.len() >= 25 && mods.iter().any(|m| m == "virtio_blk") && mods.iter().any(|m| m == "libcrc32c"));
        let script = include_str!("../../dracut-module/99rdbreak/module-setup.sh");
        assert!(script.contains("drivers.txt"));
        let builder = include_str!("image.rs");
        let builder = &builder[..builder.find("#[cfg(test)]").unwrap_or(builder.len())];
        for m in &mods {
            let word = |text: &str| {
                text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).any(|w| w == m.as_str())
            };
            let installs: String = script.lines().filter(|l| l.contains("instmods")).collect();
            assert!(!word(&installs), "module-setup.sh installs {m} by name: take it from drivers.txt");
            assert!(!word(builder), "image.rs spells {m}: take it from drivers.txt");
        }
    }

    /// `--storage` keeps the stacks named and every other group; a generic image has them all.
    #[test]
    fn storage_stacks_are_picked_by_name() {
        let all = default_modules();
        for m in ["dm_mod", "md_mod", "raid1", "raid456", "raid10", "raid0", "linear"] {
            assert!(all.iter().any(|x| x == m), "{m} in a generic image");
        }
        let lvm = modules_for(&parse_storage("lvm").unwrap());
        assert!(lvm.iter().any(|m| m == "dm_mod") && !lvm.iter().any(|m| m == "raid1"), "{lvm:?}");
        assert!(lvm.iter().any(|m| m == "virtio_blk"), "the disk drivers stay");
        let none = modules_for(&parse_storage("none").unwrap());
        assert!(!none.iter().any(|m| m == "dm_mod" || m == "md_mod"));
        assert!(!none.iter().any(|m| m == "dm_crypt"), "{none:?}");
        let luks = modules_for(&parse_storage("luks").unwrap());
        assert!(luks.iter().any(|m| m == "dm_crypt") && !luks.iter().any(|m| m == "raid1"), "{luks:?}");
        assert!(!lvm.iter().any(|m| m == "dm_crypt"), "lvm alone leaves out dm-crypt: {lvm:?}");
        assert!(all.iter().any(|m| m == "dm_crypt" || m == "xts"), "a generic image opens LUKS");
        assert_eq!(modules_for(&parse_storage("md,lvm,luks").unwrap()), all);
        let e = parse_storage("lvm,zfs").unwrap_err().to_string();
        assert!(e.contains("zfs") && e.contains("known: lvm, md, luks"), "{e}");
        for stack in STACKS {
            assert!(
                DRIVERS_TXT.lines().any(|l| l.starts_with(&format!("{stack}:"))),
                "{stack} is a group of drivers.txt"
            );
        }
    }
}
