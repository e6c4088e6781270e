//! SELinux labels kept across the recovery shell's `chroot`. The initramfs loads no policy, so a
//! file that `passwd` or an editor replaces under /etc comes back without a label, and an
//! enforcing system then denies every login until the whole root is relabelled. This room
//! remembers the labels by path when a chroot starts and, when it ends, gives every file that
//! lost its label, or was replaced by one labelled for elsewhere, the label its path had; a label
//! changed in place on the same file (`chcon`, `restorecon`) is the user's and stays. Files that
//! are new cannot be labelled without the policy, so they are listed and `/.autorelabel` is
//! advised. Labels are only extended attributes here: no SELinux kernel, library or policy is
//! needed.
//!
//! The walk and the xattr calls are the only effects; `config_mode`, `plan` and `report` are pure.

use std::collections::BTreeMap;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, StatxFlags, XattrFlags};
use rustix::io::Errno;

use crate::root;

/// Where SELinux keeps a file's label.
pub const XATTR: &str = "security.selinux";

/// The trees recovery edits and how deep each is remembered: all of /etc; /root near the top only
/// (dotfiles, .ssh/authorized_keys), since a home directory can hold millions of files.
pub const TREES: &[(&str, usize)] = &[("/etc", 32), ("/root", 2)];

/// Files remembered at most; a typical /etc has 1,000 to 5,000.
const MAX_ENTRIES: usize = 20_000;
/// Longest label read; SELinux contexts are well under 1 KiB, the kernel allows 64 KiB.
const MAX_LABEL: usize = 4096;
const MAX_CONFIG: usize = 64 << 10;
/// Lines of restored or new files shown before "… and N more".
const MAX_LISTED: usize = 20;

/// The mode `/etc/selinux/config` asks for at the next boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforcing,
    Permissive,
    Disabled,
}

/// Reads the config as libselinux does: the first line starting with `SELINUX=` whose value
/// (after blanks) begins, in any case, with a known mode; other lines are skipped.
pub fn config_mode(text: &str) -> Option<Mode> {
    for line in text.lines() {
        let Some(value) = line.strip_prefix("SELINUX=") else { continue };
        let value = value.trim_start().as_bytes();
        let starts = |word: &str| value.get(..word.len()).is_some_and(|v| v.eq_ignore_ascii_case(word.as_bytes()));
        for (word, mode) in
            [("enforcing", Mode::Enforcing), ("permissive", Mode::Permissive), ("disabled", Mode::Disabled)]
        {
            if starts(word) {
                return Some(mode);
            }
        }
    }
    None
}

/// The mode in a root's config, resolved as the root sees its own paths; `None` if absent.
pub fn root_mode(root: &Path) -> Option<Mode> {
    let path = root::resolve_in(root, "/etc/selinux/config")?;
    let mut text = Vec::new();
    let file = std::fs::File::open(path).ok()?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_CONFIG as u64), &mut text).ok()?;
    config_mode(&String::from_utf8_lossy(&text))
}

/// What is at a path: labels can be given per kind by the policy, so a path that changed kind is
/// not given its old label back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Link,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    Missing,
    /// An index into `Snapshot::labels`: most files share a handful of labels.
    Value(u32),
    /// Too long or unreadable: never restored, never listed.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    /// Tells a file replaced at the path (rename, `mv`) from the same file relabelled in place.
    ino: u64,
    label: Label,
}

/// The labels under the trees of one root, by path as the root sees it (`/etc/shadow`).
#[derive(Debug, Default)]
pub struct Snapshot {
    entries: BTreeMap<PathBuf, Entry>,
    labels: Vec<Vec<u8>>,
    /// The walk stopped at `MAX_ENTRIES`: files it did not reach are not listed as new.
    pub truncated: bool,
}

/// One label as read: `Ok(None)` when the file has none.
pub type Read<'a> = Result<Option<&'a [u8]>, Errno>;

impl Snapshot {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the distinct SELinux contexts of one tree: a handful, never 2^32"
    )]
    pub fn insert(&mut self, path: PathBuf, kind: Kind, ino: u64, label: Read<'_>) {
        let label = match label {
            Ok(None) => Label::Missing,
            Err(_) => Label::Unknown,
            Ok(Some(value)) => match self.labels.iter().position(|l| l == value) {
                Some(i) => Label::Value(i as u32),
                None => {
                    self.labels.push(value.to_vec());
                    Label::Value((self.labels.len() - 1) as u32)
                }
            },
        };
        self.entries.insert(path, Entry { kind, ino, label });
    }

    fn value(&self, label: Label) -> Option<&[u8]> {
        match label {
            Label::Value(i) => self.labels.get(i as usize).map(Vec::as_slice),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many files carry a label.
    pub fn labelled(&self) -> usize {
        self.entries.values().filter(|e| matches!(e.label, Label::Value(_))).count()
    }
}

/// One label of a path, not following a final symlink. A filesystem without xattrs has no labels.
fn read_label<'b>(path: &Path, xattr: &str, buf: &'b mut [u8]) -> Read<'b> {
    match rustix::fs::lgetxattr(path, xattr, &mut *buf) {
        // An empty value is no label to the kernel either.
        Ok(0) => Ok(None),
        Ok(n) => Ok(buf.get(..n)),
        Err(Errno::NODATA | Errno::NOTSUP) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Walks the trees under `root` (never through a symlink, never onto another filesystem) and
/// reads each file's label `xattr`: one `lgetxattr` per file, one `lstat` per directory.
pub fn snapshot(root: &Path, trees: &[(&str, usize)], xattr: &str) -> Snapshot {
    let mut snap = Snapshot::default();
    let mut buf = vec![0u8; MAX_LABEL];
    let host = |rel: &Path| root.join(rel.strip_prefix("/").unwrap_or(rel));
    for &(tree, max_depth) in trees {
        let top = PathBuf::from(tree);
        let Ok(meta) = std::fs::symlink_metadata(host(&top)) else { continue };
        if !meta.is_dir() {
            continue;
        }
        let dev = meta.dev();
        snap.insert(top.clone(), Kind::Dir, meta.ino(), read_label(&host(&top), xattr, &mut buf));
        let mut todo = vec![(top, 0usize)];
        while let Some((dir, depth)) = todo.pop() {
            if depth >= max_depth {
                continue;
            }
            let Ok(list) = std::fs::read_dir(host(&dir)) else { continue };
            for e in list.flatten() {
                if snap.len() >= MAX_ENTRIES {
                    snap.truncated = true;
                    return snap;
                }
                let Ok(t) = e.file_type() else { continue };
                let kind = if t.is_dir() {
                    Kind::Dir
                } else if t.is_file() {
                    Kind::File
                } else if t.is_symlink() {
                    Kind::Link
                } else {
                    Kind::Other
                };
                let rel = dir.join(e.file_name());
                snap.insert(rel.clone(), kind, e.ino(), read_label(&e.path(), xattr, &mut buf));
                // DirEntry::metadata does not follow links; a mount inside is another world.
                if kind == Kind::Dir && e.metadata().is_ok_and(|m| m.dev() == dev) {
                    todo.push((rel, depth + 1));
                }
            }
        }
    }
    snap
}

/// What the end of a chroot session does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Files whose label went missing or changed, with the label their path had.
    pub restore: Vec<(PathBuf, Vec<u8>)>,
    /// Files without a label that were not there before (or are now of another kind).
    pub unlabelled: Vec<PathBuf>,
}

/// Compares the labels after the session with those before, path by path. `older` tells
/// whether the file now at a path was born before the session started (`None`: the filesystem
/// does not say); it is asked only about a file whose label changed and whose inode number is
/// the old one, which a freed and reused inode can also have.
pub fn plan(before: &Snapshot, after: &Snapshot, older: &dyn Fn(&Path) -> Option<bool>) -> Plan {
    let mut out = Plan::default();
    for (path, now) in &after.entries {
        match before.entries.get(path) {
            Some(was) if was.kind == now.kind => {
                // A label the path never had is not ours to invent; an unreadable one is not ours
                // to overwrite.
                let Some(old) = before.value(was.label) else { continue };
                let lost = match now.label {
                    Label::Missing => true,
                    Label::Value(_) if after.value(now.label) == Some(old) => false,
                    // Relabelled in place by the user: theirs. Replaced by a file from elsewhere
                    // (mv keeps its label): the path's.
                    Label::Value(_) => now.ino != was.ino || older(path) == Some(false),
                    Label::Unknown => false,
                };
                if lost {
                    out.restore.push((path.clone(), old.to_vec()));
                }
            }
            Some(_) if now.label == Label::Missing => out.unlabelled.push(path.clone()),
            None if now.label == Label::Missing && !before.truncated => out.unlabelled.push(path.clone()),
            _ => {}
        }
    }
    out
}

/// Whether the file at `host` was born before `since` (since the epoch), by its statx birth
/// time; `None` when the filesystem keeps none.
fn born_before(host: &Path, since: Duration) -> Option<bool> {
    let st = rustix::fs::statx(rustix::fs::CWD, host, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::BTIME).ok()?;
    if st.stx_mask & StatxFlags::BTIME.bits() == 0 {
        return None;
    }
    let born = Duration::new(u64::try_from(st.stx_btime.tv_sec).ok()?, st.stx_btime.tv_nsec.min(999_999_999));
    Some(born < since)
}

/// What was done, for `report`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub restored: Vec<(PathBuf, Vec<u8>)>,
    pub failed: Vec<(PathBuf, Vec<u8>, Errno)>,
    pub unlabelled: Vec<PathBuf>,
    /// `/.autorelabel` exists on the root: the next boot relabels everything anyway.
    pub autorelabel: bool,
}

/// Writes the planned labels (never following a final symlink).
pub fn apply(root: &Path, plan: Plan, xattr: &str) -> Outcome {
    let mut out = Outcome { unlabelled: plan.unlabelled, ..Outcome::default() };
    for (path, label) in plan.restore {
        let host = root.join(path.strip_prefix("/").unwrap_or(&path));
        match rustix::fs::lsetxattr(&host, xattr, &label, XattrFlags::empty()) {
            Ok(()) => out.restored.push((path, label)),
            Err(e) => out.failed.push((path, label, e)),
        }
    }
    out.autorelabel = std::fs::symlink_metadata(root.join(".autorelabel")).is_ok();
    out
}

/// A label or a path as the console may show it: no trailing NUL, no control characters.
fn shown(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

fn shown_path(p: &Path) -> String {
    shown(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
}

/// The lines for the person at the console; none when nothing changed. `dir` is the chroot's
/// directory as typed in the shell (`/sysroot`).
pub fn report(o: &Outcome, dir: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for (path, label) in o.restored.iter().take(MAX_LISTED) {
        lines.push(format!("rdbreak: SELinux: restored the label of {} ({})", shown_path(path), shown(label)));
    }
    if o.restored.len() > MAX_LISTED {
        lines.push(format!("rdbreak: SELinux: … and {} more labels restored", o.restored.len() - MAX_LISTED));
    }
    for (path, label, e) in &o.failed {
        lines.push(format!(
            "rdbreak: SELinux: cannot restore the label of {} ({}): {e}",
            shown_path(path),
            shown(label)
        ));
    }
    if !o.unlabelled.is_empty() {
        let mut names: Vec<String> = o.unlabelled.iter().take(MAX_LISTED).map(|p| shown_path(p)).collect();
        if o.unlabelled.len() > MAX_LISTED {
            names.push(format!("… and {} more", o.unlabelled.len() - MAX_LISTED));
        }
        lines.push(format!(
            "rdbreak: SELinux: new files without a label (only the policy knows theirs): {}",
            names.join(", ")
        ));
    }
    if o.failed.is_empty() && o.unlabelled.is_empty() {
        return lines;
    }
    if o.autorelabel {
        lines.push(format!("rdbreak: SELinux: {dir}/.autorelabel is there: the next boot relabels the whole root"));
        return lines;
    }
    let read_only = o.failed.iter().any(|(_, _, e)| *e == Errno::ROFS);
    lines.push(format!(
        "rdbreak: SELinux: a relabel is still needed before rebooting: {}touch {dir}/.autorelabel (the next boot \
         relabels the whole root), or inside chroot {dir}: load_policy -i; restorecon -Rv /etc /root",
        if read_only { format!("mount -o remount,rw {dir}; ") } else { String::new() }
    ));
    lines
}

/// A chroot session on an SELinux root: the labels remembered when it started.
pub struct Session {
    root: PathBuf,
    xattr: String,
    before: Snapshot,
    /// When the snapshot began, since the epoch.
    started: Duration,
}

impl Session {
    /// Remembers the labels of `root`'s trees, if its config enables SELinux and its files carry
    /// labels; `None` (and nothing said) otherwise.
    pub fn begin(root: &Path, xattr: &str) -> Option<Session> {
        let mode = root_mode(root)?;
        if mode == Mode::Disabled {
            return None;
        }
        let start = Instant::now();
        let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let before = snapshot(root, TREES, xattr);
        if before.labelled() == 0 {
            return None;
        }
        log::info!(
            "SELinux ({mode:?}): remembered the labels of {} files under /etc and /root in {} ms{}",
            before.len(),
            start.elapsed().as_millis(),
            if before.truncated { " (stopped at the limit; later files are not guarded)" } else { "" }
        );
        Some(Session { root: root.to_path_buf(), xattr: xattr.to_string(), before, started })
    }

    /// Gives back the labels the session lost and says what it did (no lines if nothing changed).
    pub fn end(self, dir: &str) -> Vec<String> {
        let after = snapshot(&self.root, TREES, &self.xattr);
        let older = |p: &Path| born_before(&self.root.join(p.strip_prefix("/").unwrap_or(p)), self.started);
        let plan = plan(&self.before, &after, &older);
        if plan == Plan::default() {
            return Vec::new();
        }
        report(&apply(&self.root, plan, &self.xattr), dir)
    }
}

#[cfg(test)]
mod tests;
