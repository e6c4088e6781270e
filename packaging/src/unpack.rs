//! `rdbreak unpack`: extracts an initramfs as a stream, safely even against someone changing the
//! target while it runs: every entry is made relative to a directory handle walked from the
//! target without following symlinks ([`beneath`]), so no path leaves the tree (no absolute
//! names, no `..`, no writing through a symlink, whenever it appears). Names stay bytes; modes
//! are exact (no umask); owners are restored as root, times always; device nodes only as root;
//! directory modes come last (a read-only directory still gets its files); hard links are
//! rebuilt by (dev, ino) with the data from whichever link carries it (GNU cpio: the last). A
//! bad entry is reported with its path and the extraction goes on.
//!
//! Safe by default for an inspection tool: set-user-ID and set-group-ID bits of the archive's
//! files are dropped unless asked ([`Options::preserve_setid`], as tar does), and the CLI
//! refuses a non-empty target, `/` and the live root's top directories ([`check_target`]).

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::beneath::{self, Meta};
use crate::cpio::{self, Data, Header, Visitor};

/// Bytes of names kept until the end (directories whose modes come last, first names of hard
/// links). Past it, modes are set at once and further links become separate files.
pub const MAX_KEPT: usize = 8 << 20;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub written: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Files whose set-user-ID or set-group-ID bit was dropped.
    pub setid_dropped: usize,
}

/// What to extract, and how.
#[derive(Default)]
pub struct Options<'p> {
    /// Keep the set-user-ID and set-group-ID bits of files (dropped by default: an untrusted
    /// archive must not leave a setuid-root program behind).
    pub preserve_setid: bool,
    /// Uncompressed archives before the first compressed part (early microcode) under `early/`,
    /// the rest under `main/`, as lsinitrd and unmkinitramfs keep them apart.
    pub split: bool,
    /// Only the entries whose path (relative, without `./`) this accepts.
    pub select: Option<crate::pattern::Select<'p>>,
}

/// Refuses a target `unpack` must not write into: `/` and the top directories of the live root
/// (`/usr`, `/etc`, … whatever the spelling: `..`, symlinks), a file, and unless `force`, a
/// directory that already holds something (its files would be overwritten without a word).
pub fn check_target(dir: &Path, force: bool) -> Result<()> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    // The nearest existing ancestor resolved (symlinks, `..`), the missing rest appended.
    let mut resolved = None;
    let mut tail = Vec::new();
    let mut p = absolute.as_path();
    while resolved.is_none() {
        match std::fs::canonicalize(p) {
            Ok(c) => resolved = Some(c),
            Err(_) => {
                tail.push(p.file_name().map(|n| n.to_os_string()).unwrap_or_default());
                p = p.parent().unwrap_or(Path::new("/"));
            }
        }
    }
    let mut full = resolved.unwrap_or_else(|| PathBuf::from("/"));
    for t in tail.iter().rev() {
        match t.to_str() {
            Some("..") => {
                full.pop();
            }
            Some(".") | Some("") => {}
            _ => full.push(t),
        }
    }
    // `/` itself, or a directory of the live root that exists (a new `/x` is no one's yet).
    let depth = full.components().count();
    if depth <= 1 || depth == 2 && full.exists() {
        bail!(
            "refusing to unpack into {} ({}): it is the live root or one of its top directories; choose a new directory",
            dir.display(),
            full.display()
        );
    }
    match std::fs::symlink_metadata(&full) {
        Ok(m) if !m.is_dir() => bail!("the target {} is not a directory", dir.display()),
        Ok(_) => {
            let held = std::fs::read_dir(&full)
                .with_context(|| format!("cannot read the target directory {}", dir.display()))?
                .count();
            if held > 0 && !force {
                bail!(
                    "the target directory {} is not empty ({held} entries): its files would be overwritten; choose an empty directory or pass --force",
                    dir.display()
                );
            }
        }
        Err(_) => {}
    }
    Ok(())
}

/// How an entry that is not extracted as asked is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A bad entry, or one that could not be made: the run ends with an error.
    Failed,
    /// Left out on purpose (a device node when not root).
    Skipped,
}

/// The first name of a hard-linked file, and the inode made for it.
struct Link {
    path: Vec<u8>,
    inode: (u64, u64),
}

/// Metadata set at the end: a directory's, or a hard-linked file's that must stay writable.
struct Later {
    path: Vec<u8>,
    meta: Meta,
    want: FileType,
    inode: Option<(u64, u64)>,
}

struct Unpacker<'r> {
    root: OwnedFd,
    owner: bool,
    /// The last parent directory opened, by path: archives list a directory's files together.
    parent: Option<(Vec<u8>, Rc<OwnedFd>)>,
    archive: u32,
    links: HashMap<(u32, u32, u32), Link>,
    later: Vec<Later>,
    kept: usize,
    full_told: bool,
    summary: Summary,
    report: &'r mut dyn FnMut(Level, &[u8], &str),
    preserve_setid: bool,
    split: bool,
    select: Option<crate::pattern::Select<'r>>,
    /// Under `--split`: the entries go under `main/` (a compressed part has begun).
    main: bool,
}

fn split(path: &[u8]) -> Option<(Vec<&[u8]>, &[u8])> {
    let mut comps = beneath::components(path)?;
    let leaf = comps.pop()?;
    Some((comps, leaf))
}

impl Unpacker<'_> {
    fn dir(&mut self, dirs: &[&[u8]]) -> Result<Rc<OwnedFd>, String> {
        let key = dirs.join(&b'/');
        if let Some((k, fd)) = &self.parent {
            if *k == key {
                return Ok(fd.clone());
            }
        }
        let fd = Rc::new(beneath::open_dir(self.root.as_fd(), dirs, true)?);
        self.parent = Some((key, fd.clone()));
        Ok(fd)
    }

    /// Keeps `bytes` of names if the budget allows; says so once when it does not.
    fn keep(&mut self, bytes: usize) -> bool {
        if self.kept + bytes <= MAX_KEPT {
            self.kept += bytes;
            return true;
        }
        if !self.full_told {
            self.full_told = true;
            let why = format!("more than {} MiB of names to remember: from here on, directory modes are set at once and hard links are extracted as separate files", MAX_KEPT >> 20);
            (self.report)(Level::Skipped, b"", &why);
        }
        false
    }

    fn place(&mut self, h: &Header, comps: &[&[u8]], data: &mut Data<'_>) -> Result<bool, String> {
        let Some((leaf, dirs)) = comps.split_last() else { return Err("empty name".into()) };
        let leaf: &[u8] = leaf;
        let dir = self.dir(dirs)?;
        let mut mode = h.mode;
        if !self.preserve_setid && h.kind() != cpio::S_IFDIR && mode & 0o6000 != 0 {
            mode &= !0o6000;
            self.summary.setid_dropped += 1;
        }
        let meta = Meta { mode, uid: h.uid, gid: h.gid, mtime: h.mtime, owner: self.owner };
        let path = comps.join(&b'/');
        match h.kind() {
            cpio::S_IFDIR => {
                // Private while it fills; its own mode at the end.
                match rfs::mkdirat(&*dir, leaf, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let st = rfs::statat(&*dir, leaf, AtFlags::SYMLINK_NOFOLLOW);
                        if !st.is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory) {
                            beneath::clear(&dir, leaf)?;
                            rfs::mkdirat(&*dir, leaf, Mode::from_raw_mode(0o700))
                                .map_err(|e| format!("cannot create it: {e}"))?;
                        }
                    }
                    Err(e) => return Err(format!("cannot create it: {e}")),
                }
                if self.keep(path.len()) {
                    self.later.push(Later { path, meta, want: FileType::Directory, inode: None });
                } else {
                    let (fd, _) = beneath::open_node(dir.as_fd(), leaf, FileType::Directory)?;
                    meta.apply_path_fd(&fd)?;
                }
            }
            cpio::S_IFREG => self.file(h, &dir, leaf, path, meta, data)?,
            cpio::S_IFLNK => {
                let mut target = Vec::new();
                data.take(cpio::PATH_MAX as u64 + 1).read_to_end(&mut target).map_err(|e| e.to_string())?;
                if target.len() > cpio::PATH_MAX {
                    return Err(format!("symlink target longer than {} bytes", cpio::PATH_MAX));
                }
                beneath::create(&dir, leaf, || rfs::symlinkat(&target, &*dir, leaf))?;
                meta.apply_symlink(&dir, leaf)?;
            }
            cpio::S_IFCHR | cpio::S_IFBLK if !self.owner => {
                (self.report)(Level::Skipped, &h.name, "device node: made only as root");
                return Ok(false);
            }
            cpio::S_IFCHR | cpio::S_IFBLK | cpio::S_IFIFO | cpio::S_IFSOCK => {
                let ft = FileType::from_raw_mode(h.mode);
                let dev = rfs::makedev(h.rdev_major, h.rdev_minor);
                beneath::create(&dir, leaf, || rfs::mknodat(&*dir, leaf, ft, Mode::empty(), dev))?;
                let (fd, _) = beneath::open_node(dir.as_fd(), leaf, ft)?;
                meta.apply_path_fd(&fd)?;
            }
            other => return Err(format!("unknown file type {other:o}")),
        }
        Ok(true)
    }

    fn file(
        &mut self,
        h: &Header,
        dir: &OwnedFd,
        leaf: &[u8],
        path: Vec<u8>,
        meta: Meta,
        data: &mut Data<'_>,
    ) -> Result<(), String> {
        let key = (h.dev_major, h.dev_minor, h.ino);
        let linked = h.nlink >= 2;
        let first = self.links.get(&key).filter(|_| linked);
        // A further name of a hard-linked file: a link to the first, and its data (if this
        // name carries it) written through the link.
        let (mut file, fresh) = match first {
            // The same name again: the file is already there.
            Some(first) if first.path == path => (beneath::open_inode(dir, leaf, first.inode)?, false),
            Some(first) => {
                let (fdirs, fleaf) = split(&first.path).ok_or("bad first link")?;
                let src = beneath::open_dir(self.root.as_fd(), &fdirs, false)?;
                let shown = crate::listing::escape(&first.path);
                beneath::create(dir, leaf, || rfs::linkat(&src, fleaf, dir, leaf, AtFlags::empty()))
                    .map_err(|e| format!("as a hard link to {shown}: {e}"))?;
                (beneath::open_inode(dir, leaf, first.inode)?, false)
            }
            None => (beneath::new_file(dir, leaf)?, true),
        };
        if fresh || h.size > 0 {
            let copied = std::io::copy(data, &mut file).and_then(|_| file.set_len(h.size.into()));
            if let Err(e) = copied {
                let _ = rfs::unlinkat(dir, leaf, AtFlags::empty());
                return Err(format!("{e}; not extracted"));
            }
        }
        let inode = rfs::fstat(&file).map(|st| (st.st_dev, st.st_ino)).map_err(|e| e.to_string())?;
        if linked && fresh && self.keep(path.len()) {
            self.links.insert(key, Link { path: path.clone(), inode });
        }
        // Not root: a hard-linked file stays writable for the links that bring its data.
        if linked && !self.owner && meta.mode & 0o200 == 0 && self.keep(path.len()) {
            Meta { mode: meta.mode | 0o200, ..meta }.apply_fd(file.as_fd())?;
            self.later.push(Later { path, meta, want: FileType::RegularFile, inode: Some(inode) });
            return Ok(());
        }
        meta.apply_fd(file.as_fd())
    }

    /// Directory modes and times (deepest first, so each parent is still open to its owner),
    /// and the kept modes of hard-linked files.
    fn finish(&mut self) {
        let mut later = std::mem::take(&mut self.later);
        later.sort_by_key(|l| std::cmp::Reverse(l.path.iter().filter(|&&b| b == b'/').count()));
        for l in later {
            let r = split(&l.path).ok_or_else(|| "bad path".to_string()).and_then(|(dirs, leaf)| {
                let dir = beneath::open_dir(self.root.as_fd(), &dirs, false)?;
                let (fd, st) = beneath::open_node(dir.as_fd(), leaf, l.want)?;
                if l.inode.is_some_and(|i| i != (st.st_dev, st.st_ino)) {
                    return Err("it was replaced while extracting; left alone".into());
                }
                l.meta.apply_path_fd(&fd)
            });
            if let Err(why) = r {
                self.summary.failed += 1;
                (self.report)(Level::Failed, &l.path, &why);
            }
        }
    }
}

impl Visitor for Unpacker<'_> {
    fn entry(&mut self, h: &Header, data: &mut Data<'_>) -> Result<()> {
        if h.archive != self.archive {
            // Inode numbers start again in each archive of an image (the kernel forgets too).
            self.archive = h.archive;
            self.links.clear();
        }
        let outcome = match beneath::components(&h.name) {
            None => Err("leaves the target directory (`..`); skipped".to_string()),
            // `.`: the target itself, which keeps its own mode.
            Some(c) if c.is_empty() && h.kind() == cpio::S_IFDIR => return Ok(()),
            Some(c) if c.is_empty() => Err("names the target directory itself; skipped".to_string()),
            Some(c) if self.select.is_some_and(|keep| !keep(&c.join(&b'/'))) => return Ok(()),
            Some(mut c) => {
                if self.split {
                    c.insert(0, if self.main { b"main" } else { b"early" });
                }
                self.place(h, &c, data)
            }
        };
        match outcome {
            Ok(true) => self.summary.written += 1,
            Ok(false) => self.summary.skipped += 1,
            Err(why) => {
                self.summary.failed += 1;
                (self.report)(Level::Failed, &h.name, &why);
            }
        }
        Ok(())
    }

    fn bad(&mut self, name: &[u8], why: &str) {
        self.summary.failed += 1;
        (self.report)(Level::Failed, name, why);
    }

    fn start(&mut self, _offset: u64, format: crate::compress::Format) {
        self.main |= format != crate::compress::Format::None;
    }
}

/// Extracts the image read from `input` into `root` (made if missing), telling `report` of each
/// entry not extracted as asked. A broken image is an error once what came before it is out; a
/// target that cannot be made or written is an error ([`TargetError`]) before anything is read.
pub fn unpack(
    input: impl Read,
    root: &Path,
    opts: &Options<'_>,
    report: &mut dyn FnMut(Level, &[u8], &str),
) -> Result<Summary> {
    let target = |what: &str, e: &dyn std::fmt::Display| TargetError(format!("{}: {what}: {e}", root.display()));
    std::fs::create_dir_all(root).map_err(|e| target("cannot create it", &e))?;
    let fd = rfs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| target("cannot open it", &e))?;
    // A read-only file system or a directory of someone else: said once, not once per entry.
    rfs::access(root, rfs::Access::WRITE_OK).map_err(|e| target("cannot write into it", &e))?;
    let mut u = Unpacker {
        root: fd,
        owner: rustix::process::geteuid().is_root(),
        parent: None,
        archive: 0,
        links: HashMap::new(),
        later: Vec::new(),
        kept: 0,
        full_told: false,
        summary: Summary::default(),
        report,
        preserve_setid: opts.preserve_setid,
        split: opts.split,
        select: opts.select,
        main: false,
    };
    let read = crate::initramfs::read(input, &mut u);
    u.finish();
    read?;
    Ok(u.summary)
}

/// The target directory could not be made or written (as opposed to the image being unreadable).
#[derive(Debug)]
pub struct TargetError(pub String);

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the target directory {}", self.0)
    }
}

impl std::error::Error for TargetError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpio::{raw, trailer, Entry};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn run(image: &[u8], dir: &Path) -> (Summary, Vec<String>) {
        let mut notes = Vec::new();
        let mut report = |l: Level, name: &[u8], why: &str| {
            notes.push(format!("{l:?} {}: {why}", crate::listing::escape(name)));
        };
        let s = unpack(image, dir, &Options { preserve_setid: true, ..Default::default() }, &mut report).unwrap();
        (s, notes)
    }

    fn archive(entries: &[(&[u8], Entry)]) -> Vec<u8> {
        let mut out: Vec<u8> = entries.iter().flat_map(|(n, e)| raw(n, e)).collect();
        out.extend(trailer());
        out
    }

    #[test]
    fn nothing_leaves_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let entries = vec![
            Entry::symlink("evil", &outside.path().display().to_string()),
            Entry::file("evil/pwned", 0o644, b"x".to_vec()),
            Entry::file("../escape", 0o644, b"x".to_vec()),
            Entry::file("/abs/file", 0o640, b"fine".to_vec()),
        ];
        let (s, notes) = run(&cpio::write(&entries, 0), dir.path());
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        assert_eq!(std::fs::read(dir.path().join("abs/file")).unwrap(), b"fine");
        assert_eq!(s, Summary { written: 2, failed: 2, ..Default::default() });
        assert!(notes.contains(&"Failed evil/pwned: evil is a symlink (not followed)".to_string()), "{notes:?}");
        assert!(notes.iter().any(|n| n.starts_with("Failed ../escape: leaves the target")), "{notes:?}");
    }

    #[test]
    fn names_are_bytes_not_text() {
        let dir = tempfile::tempdir().unwrap();
        let image = archive(&[
            (b"n\xff", Entry::file("", 0o644, b"ff".to_vec())),
            (b"n\xfe", Entry::file("", 0o644, b"fe".to_vec())),
        ]);
        let (s, notes) = run(&image, dir.path());
        assert_eq!((s.written, notes.len()), (2, 0), "{notes:?}");
        use std::os::unix::ffi::OsStrExt;
        let read = |n: &[u8]| std::fs::read(dir.path().join(std::ffi::OsStr::from_bytes(n))).unwrap();
        assert_eq!((read(b"n\xff"), read(b"n\xfe")), (b"ff".to_vec(), b"fe".to_vec()));
    }

    #[test]
    fn a_bad_entry_is_named_and_the_rest_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![
            Entry::dir(".", 0o755),
            Entry::file("a", 0o644, b"file".to_vec()),
            Entry::file("a/b", 0o644, b"under a file".to_vec()),
            Entry::dir("a", 0o755),
            Entry::file("c", 0o600, b"c".to_vec()),
        ];
        let (s, notes) = run(&cpio::write(&entries, 0), dir.path());
        assert_eq!(notes, ["Failed a/b: a is not a directory"], "and no word about `.`");
        assert_eq!(s.failed, 1);
        assert!(dir.path().join("a").is_dir(), "the directory entry replaced the file");
        assert_eq!(std::fs::read(dir.path().join("c")).unwrap(), b"c");
    }

    #[test]
    fn modes_are_exact_and_directories_get_theirs_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut ro = Entry::dir("ro", 0o555);
        ro.mtime = 1_000_000;
        let mut f = Entry::file("ro/f", 0o4755, b"x".to_vec());
        f.mtime = 2_000_000;
        let fifo = Entry::new("ro/fifo", cpio::S_IFIFO | 0o666, Vec::new());
        let mut image = raw(b"ro", &ro);
        image.extend(raw(b"ro/f", &f));
        image.extend(raw(b"ro/fifo", &fifo));
        image.extend(trailer());
        let (s, notes) = run(&image, dir.path());
        assert_eq!((s.written, notes.len()), (3, 0), "{notes:?}");
        let meta = |p: &str| std::fs::symlink_metadata(dir.path().join(p)).unwrap();
        assert_eq!(meta("ro").permissions().mode() & 0o7777, 0o555);
        assert_eq!(meta("ro").mtime(), 1_000_000, "set after its files were made");
        assert_eq!(meta("ro/f").permissions().mode() & 0o7777, 0o4755);
        assert_eq!(meta("ro/f").mtime(), 2_000_000);
        assert_eq!(meta("ro/fifo").permissions().mode() & 0o7777, 0o666, "not filtered by the umask");
    }

    #[test]
    fn owners_are_restored_as_root() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut entries = vec![
            Entry::dir("d", 0o750),
            Entry::file("d/f", 0o640, b"x".to_vec()),
            Entry::symlink("d/l", "f"),
            Entry::char_dev("null", 0o666, 1, 3),
        ];
        for e in &mut entries {
            (e.uid, e.gid) = (1234, 5678);
        }
        let image: Vec<u8> = entries.iter().flat_map(|e| raw(e.name.as_bytes(), e)).chain(trailer()).collect();
        let (s, notes) = run(&image, dir.path());
        assert_eq!((s.written, notes.len()), (4, 0), "{notes:?}");
        for p in ["d", "d/f", "d/l", "null"] {
            let m = std::fs::symlink_metadata(dir.path().join(p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (1234, 5678), "{p}");
        }
        let null = std::fs::symlink_metadata(dir.path().join("null")).unwrap();
        assert_eq!((null.rdev(), null.permissions().mode() & 0o7777), (rustix::fs::makedev(1, 3), 0o666));
    }

    #[test]
    fn hard_links_share_the_data_of_the_last_link() {
        let dir = tempfile::tempdir().unwrap();
        let link = |data: &[u8]| {
            let mut e = Entry::file("", 0o444, data.to_vec());
            (e.nlink, e.ino) = (3, 7);
            e
        };
        let mut other = Entry::file("", 0o644, b"other".to_vec());
        other.ino = 8;
        let image = archive(&[
            (b"a/modules.dep.bin", link(b"")),
            (b"b/modules.alias.bin", link(b"")),
            (b"unrelated", other),
            (b"a/modules.symbols.bin", link(b"the index")),
        ]);
        let (s, notes) = run(&image, dir.path());
        assert_eq!((s.written, notes.len()), (4, 0), "{notes:?}");
        let names = ["a/modules.dep.bin", "b/modules.alias.bin", "a/modules.symbols.bin"];
        let metas: Vec<_> = names.iter().map(|n| std::fs::metadata(dir.path().join(n)).unwrap()).collect();
        for (n, m) in names.iter().zip(&metas) {
            assert_eq!(std::fs::read(dir.path().join(n)).unwrap(), b"the index", "{n}");
            assert_eq!((m.ino(), m.nlink(), m.permissions().mode() & 0o7777), (metas[0].ino(), 3, 0o444), "{n}");
        }
        // Inode numbers are per archive: the same number in the next archive is another file.
        let mut two = image.clone();
        two.extend(archive(&[(b"c", link(b"second archive"))]));
        let dir = tempfile::tempdir().unwrap();
        run(&two, dir.path());
        assert_eq!(std::fs::read(dir.path().join("c")).unwrap(), b"second archive");
        assert_eq!(std::fs::read(dir.path().join("a/modules.dep.bin")).unwrap(), b"the index");
    }

    #[test]
    fn a_wrong_crc_checksum_is_an_error_for_that_entry() {
        let dir = tempfile::tempdir().unwrap();
        let crc = |name: &[u8], data: &[u8], sum: u32| {
            let mut b = raw(name, &Entry::file("", 0o644, data.to_vec()));
            b[..6].copy_from_slice(b"070702");
            b[102..110].copy_from_slice(format!("{sum:08X}").as_bytes());
            b
        };
        let mut image = crc(b"good", b"abc", 0x61 + 0x62 + 0x63);
        image.extend(crc(b"bad", b"abd", 0x61 + 0x62 + 0x63));
        image.extend(trailer());
        let (s, notes) = run(&image, dir.path());
        assert_eq!(s, Summary { written: 1, failed: 1, ..Default::default() });
        assert_eq!(
            notes,
            ["Failed bad: checksum mismatch: the header says 00000126, the data sums to 00000127; not extracted"]
        );
        assert!(!dir.path().join("bad").exists());
        assert_eq!(std::fs::read(dir.path().join("good")).unwrap(), b"abc");
    }
}
