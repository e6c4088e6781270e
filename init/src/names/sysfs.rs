//! A device in a sysfs tree as udev's sd_device sees it: its syspath, sysname, subsystem,
//! devtype, attributes and parent (the nearest directory above it with a `uevent`). The tree's
//! root is a parameter, so the tests run on recorded copies of real trees.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::uevent::parse_uevent;

/// A text attribute is at most a page; binary ones (VPD pages) are read only as far as udev's
/// own buffers go.
const ATTR_MAX: u64 = 4096;

/// How far up a device chain is walked (real chains are under 20 deep).
pub const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dev {
    /// The canonical directory.
    path: PathBuf,
    /// `/sys/…`, what udev's syspath string is (the tests' tree lives elsewhere).
    syspath: String,
    /// Read once: the rules ask for them again and again.
    subsystem: Option<String>,
    devtype: Option<String>,
}

/// A sysfs tree (`/sys`, or a copy of one), remembering the parents and class devices it has
/// looked up: the devices of one scan share their controllers and buses.
pub struct Sysfs {
    root: PathBuf,
    parents: RefCell<HashMap<PathBuf, Option<Dev>>>,
    classes: RefCell<HashMap<(String, String), Option<Dev>>>,
}

impl Sysfs {
    pub fn new(root: &Path) -> Option<Sysfs> {
        Some(Sysfs {
            root: std::fs::canonicalize(root).ok()?,
            parents: RefCell::default(),
            classes: RefCell::default(),
        })
    }

    /// The device a directory (or a link to one) under the tree is.
    pub fn dev(&self, path: &Path) -> Option<Dev> {
        self.at(self.resolve(path)?)
    }

    /// The canonical path of a class link: its target taken lexically (sysfs's directories are
    /// real ones), which costs one readlink where realpath costs one per component; anything
    /// else (a link to a link) through realpath.
    fn resolve(&self, path: &Path) -> Option<PathBuf> {
        let Ok(target) = std::fs::read_link(path) else { return std::fs::canonicalize(path).ok() };
        let mut out = PathBuf::new();
        for c in path.parent()?.join(target).components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                c => out.push(c),
            }
        }
        match std::fs::symlink_metadata(&out) {
            Ok(m) if m.is_dir() && out.starts_with(&self.root) => Some(out),
            _ => std::fs::canonicalize(&out).ok(),
        }
    }

    /// The device at a canonical path.
    fn at(&self, path: PathBuf) -> Option<Dev> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let syspath = format!("/sys/{}", rel.to_str()?);
        let subsystem = std::fs::read_link(path.join("subsystem"))
            .ok()
            .and_then(|t| Some(t.file_name()?.to_string_lossy().to_string()));
        let uevent = read_limited(&path.join("uevent"), ATTR_MAX).and_then(|v| String::from_utf8(v).ok());
        let devtype = uevent.and_then(|u| parse_uevent(&u).remove("DEVTYPE"));
        Some(Dev { path, syspath, subsystem, devtype })
    }

    /// `sd_device_new_from_subsystem_sysname` for a class: `/sys/class/<class>/<name>`.
    pub fn class_dev(&self, class: &str, name: &str) -> Option<Dev> {
        if name.contains('/') || name.starts_with('.') || class.contains('/') {
            return None;
        }
        let key = (class.to_string(), name.to_string());
        if let Some(d) = self.classes.borrow().get(&key) {
            return d.clone();
        }
        let d = self.dev(&self.root.join("class").join(class).join(name));
        self.classes.borrow_mut().insert(key, d.clone());
        d
    }

    /// The nearest directory above `d` that is a device (has a `uevent` file), below /sys.
    pub fn parent(&self, d: &Dev) -> Option<Dev> {
        if let Some(p) = self.parents.borrow().get(&d.path) {
            return p.clone();
        }
        let mut found = None;
        let mut up = d.path.parent();
        while let Some(dir) = up.filter(|p| p.starts_with(&self.root) && *p != self.root) {
            if dir.join("uevent").is_file() {
                // A parent of a canonical path is canonical.
                found = self.at(dir.to_path_buf());
                break;
            }
            up = dir.parent();
        }
        self.parents.borrow_mut().insert(d.path.clone(), found.clone());
        found
    }

    /// `d` and its parents, nearest first.
    pub fn chain(&self, d: &Dev) -> Vec<Dev> {
        let mut out = vec![d.clone()];
        while out.len() < MAX_DEPTH {
            match out.last().and_then(|x| self.parent(x)) {
                Some(p) => out.push(p),
                None => break,
            }
        }
        out
    }

    /// The first parent of `d` with this subsystem and devtype (sd_device's
    /// `get_parent_with_subsystem_devtype`).
    pub fn parent_with(&self, d: &Dev, subsystem: &str, devtype: Option<&str>) -> Option<Dev> {
        self.chain(d).into_iter().skip(1).find(|p| {
            p.subsystem.as_deref() == Some(subsystem) && devtype.is_none_or(|t| p.devtype.as_deref() == Some(t))
        })
    }
}

/// At most `max` bytes of a file. A sysfs attribute comes whole in one read (a page at most),
/// so a short read ends it without the read that would find the end.
fn read_limited(path: &Path, max: u64) -> Option<Vec<u8>> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut v = vec![0u8; usize::try_from(max).ok()?];
    let mut n = 0;
    while n < v.len() {
        match f.read(&mut v[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
        if n < v.len() && n % 4096 != 0 {
            break;
        }
    }
    v.truncate(n);
    Some(v)
}

impl Dev {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn syspath(&self) -> &str {
        &self.syspath
    }

    /// The directory's name, `!` read as `/` as sd_device does.
    pub fn sysname(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().replace('!', "/")).unwrap_or_default()
    }

    pub fn subsystem(&self) -> Option<String> {
        self.subsystem.clone()
    }

    pub fn devtype(&self) -> Option<String> {
        self.devtype.clone()
    }

    /// An attribute as `sd_device_get_sysattr_value` returns it: trailing newlines dropped.
    pub fn attr(&self, name: &str) -> Option<Vec<u8>> {
        let mut v = self.attr_bytes(name, ATTR_MAX)?;
        while v.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
            v.pop();
        }
        Some(v)
    }

    /// At most `max` bytes of a (binary) attribute, as read.
    pub fn attr_bytes(&self, name: &str, max: u64) -> Option<Vec<u8>> {
        if name.contains('/') {
            return None;
        }
        // Opening a directory succeeds; reading it does not.
        read_limited(&self.path.join(name), max)
    }

    /// An attribute as text (lossy: only for numbers and names the kernel formats).
    pub fn attr_text(&self, name: &str) -> Option<String> {
        self.attr(name).map(|v| String::from_utf8_lossy(&v).to_string())
    }

    pub fn has(&self, name: &str) -> bool {
        self.path.join(name).exists()
    }
}
