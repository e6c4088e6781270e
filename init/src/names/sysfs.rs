//! A device in a sysfs tree as udev's sd_device sees it: its syspath, sysname, subsystem,
//! devtype, attributes and parent (the nearest directory above it with a `uevent`). The tree's
//! root is a parameter, so the tests run on recorded copies of real trees.

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
}

/// A sysfs tree: `/sys`, or a copy of one.
#[derive(Clone, Copy)]
pub struct Sysfs<'a> {
    root: &'a Path,
}

impl<'a> Sysfs<'a> {
    /// `root` must be canonical (the devices' paths are compared with it).
    pub fn new(root: &'a Path) -> Sysfs<'a> {
        Sysfs { root }
    }

    /// The device a directory (or a link to one) under the tree is.
    pub fn dev(&self, path: &Path) -> Option<Dev> {
        self.at(std::fs::canonicalize(path).ok()?)
    }

    /// The device at a canonical path.
    fn at(&self, path: PathBuf) -> Option<Dev> {
        let rel = path.strip_prefix(self.root).ok()?;
        let syspath = format!("/sys/{}", rel.to_str()?);
        Some(Dev { path, syspath })
    }

    /// `sd_device_new_from_subsystem_sysname` for a class: `/sys/class/<class>/<name>`.
    pub fn class_dev(&self, class: &str, name: &str) -> Option<Dev> {
        if name.contains('/') || name.starts_with('.') {
            return None;
        }
        self.dev(&self.root.join("class").join(class).join(name))
    }

    /// The nearest directory above `d` that is a device (has a `uevent` file), below /sys.
    pub fn parent(&self, d: &Dev) -> Option<Dev> {
        let mut p = d.path.parent()?;
        while p.starts_with(self.root) && p != self.root {
            if p.join("uevent").is_file() {
                // A parent of a canonical path is canonical.
                return self.at(p.to_path_buf());
            }
            p = p.parent()?;
        }
        None
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

    /// The first of `d` and its parents with this subsystem and devtype (sd_device's
    /// `get_parent_with_subsystem_devtype`, which starts at the parent).
    pub fn parent_with(&self, d: &Dev, subsystem: &str, devtype: Option<&str>) -> Option<Dev> {
        self.chain(d).into_iter().skip(1).find(|p| {
            p.subsystem().as_deref() == Some(subsystem) && devtype.is_none_or(|t| p.devtype().as_deref() == Some(t))
        })
    }
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
        let target = std::fs::read_link(self.path.join("subsystem")).ok()?;
        Some(target.file_name()?.to_string_lossy().to_string())
    }

    pub fn devtype(&self) -> Option<String> {
        let text = String::from_utf8(self.attr("uevent")?).ok()?;
        parse_uevent(&text).remove("DEVTYPE")
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
        let path = self.path.join(name);
        if !path.is_file() {
            return None;
        }
        let mut v = Vec::new();
        std::fs::File::open(path).ok()?.take(max).read_to_end(&mut v).ok()?;
        Some(v)
    }

    /// An attribute as text (lossy: only for numbers and names the kernel formats).
    pub fn attr_text(&self, name: &str) -> Option<String> {
        self.attr(name).map(|v| String::from_utf8_lossy(&v).to_string())
    }

    pub fn has(&self, name: &str) -> bool {
        self.path.join(name).exists()
    }
}
