//! Device-mapper without libdevmapper or udev: create, load, resume, suspend, remove, list and
//! read tables through the kernel's v4 ioctls on `/dev/mapper/control`
//! (include/uapi/linux/dm-ioctl.h), and the links udev's dm rules would make for a device.
//! The buffers are encoded and decoded here as plain bytes (tested on the host against what
//! the kernel writes); the one system call is `sys::dm_ioctl`.
//!
//! Why not the `devicemapper` crate (stratis-storage/devicemapper-rs 0.34): its -sys crate runs
//! bindgen over libdevmapper.h, so every build needs libclang and libdevmapper's headers found
//! by pkg-config, and links libdevmapper (no static musl build of it exists) unless its
//! `disable_cargo_metadata` feature is forced for the build script too; it brings 30 runtime
//! crates besides its own two (nix, serde, semver, rand, retry, env_logger, regex, …) and a
//! udev-cookie semaphore layer PID 1 has no use for. Measured on a static musl size probe
//! doing create, load, resume, list, table and remove (opt-level z, LTO, stripped): 381,496
//! bytes with no DM code, 410,168 through this layer (+28.7 KB, rustix and thiserror
//! included, which rdbreak-init has anyway), 443,096 through the crate (+61.6 KB).

use std::fmt;
use std::fs::File;
use std::path::Path;

use rustix::io::Errno;
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::bytes::{ne32, ne64};
use crate::kmod::Loader;
use crate::sys::{self, DM_IOCTL_SIZE};

/// `DM_NAME_LEN` and `DM_UUID_LEN`, each with its terminating NUL.
pub const NAME_LEN: usize = 128;
pub const UUID_LEN: usize = 129;
const TYPE_LEN: usize = 16;
const SPEC_SIZE: usize = 40;
/// A table or list bigger than this is not believed.
const MAX_BUFFER: usize = 1 << 20;
const FIRST_BUFFER: usize = 16 << 10;
/// Entries read from one list or table: far more than any initramfs has.
const MAX_ENTRIES: usize = 4096;

// Command numbers (the `DM_*_CMD` enum).
const LIST_DEVICES: u8 = 2;
const DEV_CREATE: u8 = 3;
const DEV_REMOVE: u8 = 4;
const DEV_SUSPEND: u8 = 6;
const DEV_STATUS: u8 = 7;
const TABLE_LOAD: u8 = 9;
const TABLE_STATUS: u8 = 12;
const VERSION: u8 = 0;

// Flags.
pub const READONLY: u32 = 1 << 0;
pub const SUSPEND: u32 = 1 << 1;
const STATUS_TABLE: u32 = 1 << 4;
pub const ACTIVE_PRESENT: u32 = 1 << 5;
pub const INACTIVE_PRESENT: u32 = 1 << 6;
const BUFFER_FULL: u32 = 1 << 8;
const UUID_FLAG: u32 = 1 << 14;
const NAME_LIST_HAS_UUID: u32 = 1;

// Offsets in `struct dm_ioctl`.
const VERSION_AT: usize = 0;
const DATA_SIZE_AT: usize = 12;
const DATA_START_AT: usize = 16;
const TARGET_COUNT_AT: usize = 20;
const OPEN_COUNT_AT: usize = 24;
const FLAGS_AT: usize = 28;
const EVENT_NR_AT: usize = 32;
const DEV_AT: usize = 40;
const NAME_AT: usize = 48;
const UUID_AT: usize = NAME_AT + NAME_LEN;

/// One line of a table: `start length type params`, in 512-byte sectors. A `crypt` target's
/// key (its second parameter) is never shown by `Display` or `Debug`, and the parameters are
/// zeroed when the target is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub start: u64,
    pub length: u64,
    pub kind: String,
    pub params: String,
}

impl Target {
    /// The parameters as they may be shown: a crypt target's key replaced by `<key hidden>`.
    pub fn shown_params(&self) -> String {
        if self.kind != "crypt" {
            return self.params.clone();
        }
        let mut words: Vec<&str> = self.params.split(' ').collect();
        if let Some(key) = words.get_mut(1) {
            *key = "<key hidden>";
        }
        words.join(" ")
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} {}", self.start, self.length, self.kind, self.shown_params())
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("start", &self.start)
            .field("length", &self.length)
            .field("kind", &self.kind)
            .field("params", &self.shown_params())
            .finish()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.params.zeroize();
    }
}

/// What the kernel says about a device after a command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub uuid: String,
    pub major: u32,
    pub minor: u32,
    pub open_count: i32,
    pub target_count: u32,
    pub event_nr: u32,
    /// `READONLY`, `SUSPEND`, `ACTIVE_PRESENT`, `INACTIVE_PRESENT`.
    pub flags: u32,
}

impl Info {
    /// The kernel's node, which devtmpfs makes: `dm-3`.
    pub fn kernel_name(&self) -> String {
        format!("dm-{}", self.minor)
    }
}

/// One device of `DM_LIST_DEVICES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub major: u32,
    pub minor: u32,
    /// Only from kernels that return it (≥ 5.13 with `DM_UUID_FLAG`).
    pub uuid: Option<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    #[error("device-mapper {op} of {name:?}: {}", explain(op, *errno))]
    Ioctl { op: &'static str, name: String, errno: Errno },
    #[error("device-mapper name {0:?} is empty, too long (at most 127 bytes) or holds '/'")]
    BadName(String),
    #[error("device-mapper UUID {0:?} is too long (at most 128 bytes)")]
    BadUuid(String),
    #[error("target {0}: its type must be 1 to 15 bytes and neither field may hold a NUL")]
    BadTarget(String),
    #[error("device-mapper {op}: the kernel's answer is malformed ({what})")]
    Malformed { op: &'static str, what: String },
    #[error("opening {path}: {err} (is the dm_mod module loaded?)")]
    Control { path: String, err: String },
    #[error("device-mapper request: {what} of {len} is more than the ioctl's 32-bit field holds")]
    TooLarge { what: &'static str, len: usize },
    /// No control node even after dm_mod was asked for.
    #[error("cannot use device-mapper ({0}): is dm_mod in this initramfs? (lsmod, modprobe dm_mod)")]
    Unavailable(Box<Error>),
}

/// A length or count for one of the ioctl's 32-bit fields.
fn field32(what: &'static str, len: usize) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error::TooLarge { what, len })
}

fn explain(op: &str, e: Errno) -> String {
    let hint = match (op, e) {
        (_, Errno::NXIO) => " (no such device)",
        ("create", Errno::BUSY) => " (a device of that name or UUID exists)",
        ("remove", Errno::BUSY) => " (the device is open or in use)",
        ("load", Errno::INVAL) => " (the kernel refused the table: see dmesg)",
        (_, Errno::NOTTY) => " (not a device-mapper control node)",
        _ => "",
    };
    format!("{e}{hint}")
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}
/// A NUL-terminated string starting at `at`, ending before `end`.
fn cstr(b: &[u8], at: usize, end: usize) -> Option<(String, usize)> {
    let s = b.get(at..end.min(b.len()))?;
    let n = s.iter().position(|&c| c == 0)?;
    Some((String::from_utf8_lossy(&s[..n]).into_owned(), at + n + 1))
}
fn align8(n: usize) -> usize {
    n.saturating_add(7) & !7
}

/// The kernel's `huge_encode_dev` of a device number, decoded.
fn decode_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) as u32;
    #[allow(clippy::cast_possible_truncation, reason = "20 bits, masked")]
    let minor = ((dev & 0xff) | ((dev >> 12) & 0xfff00)) as u32;
    (major, minor)
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() >= NAME_LEN || name.contains('/') || name.contains('\0') {
        return Err(Error::BadName(name.to_string()));
    }
    Ok(())
}

/// A request buffer of `size` bytes: the header with version 4.0.0 (any v4 kernel accepts it),
/// the device's name, and optionally its UUID (used only by create).
fn request(size: usize, name: &str, uuid: Option<&str>, flags: u32) -> Result<Vec<u8>, Error> {
    if !name.is_empty() {
        check_name(name)?;
    }
    let mut b = vec![0u8; size.max(DM_IOCTL_SIZE)];
    put32(&mut b, VERSION_AT, 4);
    let len = field32("a buffer", b.len())?;
    put32(&mut b, DATA_SIZE_AT, len);
    put32(&mut b, DATA_START_AT, field32("a header", DM_IOCTL_SIZE)?);
    put32(&mut b, FLAGS_AT, flags);
    b[NAME_AT..NAME_AT + name.len()].copy_from_slice(name.as_bytes());
    if let Some(u) = uuid {
        if u.len() >= UUID_LEN || u.contains('\0') {
            return Err(Error::BadUuid(u.to_string()));
        }
        b[UUID_AT..UUID_AT + u.len()].copy_from_slice(u.as_bytes());
    }
    Ok(b)
}

/// A `DM_TABLE_LOAD` buffer: the header, then per target a `dm_target_spec` and its
/// parameters, NUL-terminated and padded to 8 bytes.
fn load_request(name: &str, targets: &[Target], read_only: bool) -> Result<Vec<u8>, Error> {
    // Zeroizing: a crypt target's key passes through these buffers.
    let mut payload = Zeroizing::new(Vec::new());
    for t in targets {
        if t.kind.is_empty() || t.kind.len() >= TYPE_LEN || t.kind.contains('\0') || t.params.contains('\0') {
            return Err(Error::BadTarget(t.to_string()));
        }
        let len = align8(SPEC_SIZE + t.params.len() + 1);
        let mut spec = Zeroizing::new(vec![0u8; len]);
        put64(&mut spec, 0, t.start);
        put64(&mut spec, 8, t.length);
        put32(&mut spec, 20, field32("a target", len)?);
        spec[24..24 + t.kind.len()].copy_from_slice(t.kind.as_bytes());
        spec[SPEC_SIZE..SPEC_SIZE + t.params.len()].copy_from_slice(t.params.as_bytes());
        payload.extend_from_slice(&spec);
    }
    if DM_IOCTL_SIZE + payload.len() > MAX_BUFFER {
        return Err(Error::BadTarget(format!("{} targets, more than a MiB", targets.len())));
    }
    let mut b = request(DM_IOCTL_SIZE + payload.len(), name, None, if read_only { READONLY } else { 0 })?;
    put32(&mut b, TARGET_COUNT_AT, field32("targets", targets.len())?);
    b[DM_IOCTL_SIZE..].copy_from_slice(&payload);
    Ok(b)
}

fn info(op: &'static str, b: &[u8]) -> Result<Info, Error> {
    let bad = |what: &str| Error::Malformed { op, what: what.to_string() };
    let dev = ne64(b, DEV_AT).ok_or_else(|| bad("short header"))?;
    let (major, minor) = decode_dev(dev);
    let name = cstr(b, NAME_AT, NAME_AT + NAME_LEN).ok_or_else(|| bad("name not terminated"))?.0;
    let uuid = cstr(b, UUID_AT, UUID_AT + UUID_LEN).ok_or_else(|| bad("uuid not terminated"))?.0;
    Ok(Info {
        name,
        uuid,
        major,
        minor,
        open_count: ne32(b, OPEN_COUNT_AT).unwrap_or(0).cast_signed(),
        target_count: ne32(b, TARGET_COUNT_AT).unwrap_or(0),
        event_nr: ne32(b, EVENT_NR_AT).unwrap_or(0),
        flags: ne32(b, FLAGS_AT).unwrap_or(0),
    })
}

/// Where the kernel put its answer: `data_start..data_size`, checked against the buffer.
fn payload(op: &'static str, b: &[u8]) -> Result<(usize, usize), Error> {
    let start = ne32(b, DATA_START_AT).unwrap_or(0) as usize;
    let end = ne32(b, DATA_SIZE_AT).unwrap_or(0) as usize;
    if start < DM_IOCTL_SIZE || end > b.len() || start > end {
        return Err(Error::Malformed { op, what: format!("data {start}..{end} in a buffer of {}", b.len()) });
    }
    Ok((start, end))
}

/// Decodes `DM_LIST_DEVICES`: `dm_name_list` records chained by `next` (relative to each
/// record), each followed (kernels ≥ 5.13) by `event_nr`, flags and maybe the UUID.
fn parse_list(b: &[u8]) -> Result<Vec<Listed>, Error> {
    let op = "list";
    let bad = |what: String| Error::Malformed { op, what };
    let (start, end) = payload(op, b)?;
    let mut out = Vec::new();
    if start == end || ne64(b, start) == Some(0) {
        return Ok(out); // "nl->dev = 0": no devices
    }
    let mut at = start;
    loop {
        if out.len() >= MAX_ENTRIES {
            return Err(bad(format!("more than {MAX_ENTRIES} devices")));
        }
        let dev = ne64(b, at).ok_or_else(|| bad(format!("record at {at} past the end")))?;
        let next = ne32(b, at + 8).ok_or_else(|| bad(format!("record at {at} past the end")))? as usize;
        let rec_end = if next == 0 {
            end
        } else {
            at.checked_add(next).filter(|&e| e <= end).ok_or_else(|| bad(format!("next {next} at {at}")))?
        };
        let (name, after) = cstr(b, at + 12, rec_end).ok_or_else(|| bad(format!("name at {at} not terminated")))?;
        let mut uuid = None;
        let extra = align8(after);
        if let (Some(flags), true) = (ne32(b, extra + 4), extra + 8 <= rec_end) {
            if flags & NAME_LIST_HAS_UUID != 0 {
                uuid = cstr(b, align8(extra + 8), rec_end).map(|(u, _)| u);
            }
        }
        let (major, minor) = decode_dev(dev);
        out.push(Listed { name, major, minor, uuid });
        if next == 0 {
            return Ok(out);
        }
        if next < 12 {
            return Err(bad(format!("next {next} at {at} does not move forward")));
        }
        at = rec_end;
    }
}

/// Decodes `DM_TABLE_STATUS`: `target_count` specs, each `next` bytes from the first spec.
fn parse_targets(b: &[u8]) -> Result<Vec<Target>, Error> {
    let op = "table";
    let bad = |what: String| Error::Malformed { op, what };
    let (start, end) = payload(op, b)?;
    let count = ne32(b, TARGET_COUNT_AT).unwrap_or(0) as usize;
    if count > MAX_ENTRIES {
        return Err(bad(format!("{count} targets")));
    }
    let mut out = Vec::new();
    let mut off = 0usize;
    for i in 0..count {
        let at = start + off;
        if at + SPEC_SIZE > end {
            return Err(bad(format!("target {i} at {at} past the end")));
        }
        let start_sector = ne64(b, at).unwrap_or(0);
        let length = ne64(b, at + 8).unwrap_or(0);
        let next = ne32(b, at + 20).unwrap_or(0) as usize;
        let kind = cstr(b, at + 24, at + 24 + TYPE_LEN)
            .map(|(s, _)| s)
            .unwrap_or_else(|| String::from_utf8_lossy(&b[at + 24..at + 24 + TYPE_LEN]).into_owned());
        let (params, _) =
            cstr(b, at + SPEC_SIZE, end).ok_or_else(|| bad(format!("target {i} parameters not terminated")))?;
        out.push(Target { start: start_sector, length, kind, params });
        if i + 1 < count {
            if next <= off {
                return Err(bad(format!("target {i}: next {next} does not move forward")));
            }
            off = next;
        }
    }
    Ok(out)
}

/// An open `/dev/mapper/control`.
pub struct Control {
    file: File,
}

/// `/dev/mapper/control`, loading dm_mod first when it is a module: LVM's activation and the
/// LUKS mappings both start here.
pub fn control(dev_dir: &Path, loader: Option<&Loader>) -> Result<Control, Error> {
    if let Ok(c) = Control::open(dev_dir) {
        return Ok(c);
    }
    if let Some(loader) = loader {
        loader.request_stack(&["dm_mod".to_string()], true);
    }
    Control::open(dev_dir).map_err(|e| Error::Unavailable(Box::new(e)))
}

impl Control {
    /// Opens `DEV/mapper/control` (devtmpfs makes it once dm_mod is loaded).
    pub fn open(dev_dir: &Path) -> Result<Control, Error> {
        let path = dev_dir.join("mapper/control");
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map(|file| Control { file })
            .map_err(|e| Error::Control { path: path.display().to_string(), err: e.to_string() })
    }

    fn call(&self, op: &'static str, nr: u8, name: &str, buf: &mut [u8]) -> Result<(), Error> {
        sys::dm_ioctl(&self.file, nr, buf).map_err(|errno| Error::Ioctl { op, name: name.to_string(), errno })
    }

    /// A command whose answer has a payload, retried with a larger buffer while the kernel says
    /// it was too small.
    fn call_growing(&self, op: &'static str, nr: u8, name: &str, flags: u32) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut size = FIRST_BUFFER;
        loop {
            // A table read back holds a crypt target's key: every buffer is zeroed when dropped.
            let mut b = Zeroizing::new(request(size, name, None, flags)?);
            self.call(op, nr, name, &mut b)?;
            if ne32(&b, FLAGS_AT).unwrap_or(0) & BUFFER_FULL == 0 {
                return Ok(b);
            }
            if size >= MAX_BUFFER {
                return Err(Error::Malformed { op, what: format!("answer larger than {MAX_BUFFER} bytes") });
            }
            size *= 4;
        }
    }

    /// The kernel's ioctl interface version (4.x.y).
    pub fn version(&self) -> Result<[u32; 3], Error> {
        let mut b = request(DM_IOCTL_SIZE, "", None, 0)?;
        self.call("version", VERSION, "", &mut b)?;
        Ok([ne32(&b, 0).unwrap_or(0), ne32(&b, 4).unwrap_or(0), ne32(&b, 8).unwrap_or(0)])
    }

    /// A new device with no table (suspended; its node exists at once).
    pub fn create(&self, name: &str, uuid: Option<&str>) -> Result<Info, Error> {
        let mut b = request(DM_IOCTL_SIZE, name, uuid, 0)?;
        self.call("create", DEV_CREATE, name, &mut b)?;
        info("create", &b)
    }

    /// Loads `targets` as the device's inactive table.
    pub fn load(&self, name: &str, targets: &[Target], read_only: bool) -> Result<Info, Error> {
        let mut b = Zeroizing::new(load_request(name, targets, read_only)?);
        self.call("load", TABLE_LOAD, name, &mut b)?;
        info("load", &b)
    }

    /// Resumes the device, making a loaded table live.
    pub fn resume(&self, name: &str) -> Result<Info, Error> {
        let mut b = request(DM_IOCTL_SIZE, name, None, 0)?;
        self.call("resume", DEV_SUSPEND, name, &mut b)?;
        info("resume", &b)
    }

    pub fn suspend(&self, name: &str) -> Result<Info, Error> {
        let mut b = request(DM_IOCTL_SIZE, name, None, SUSPEND)?;
        self.call("suspend", DEV_SUSPEND, name, &mut b)?;
        info("suspend", &b)
    }

    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let mut b = request(DM_IOCTL_SIZE, name, None, 0)?;
        self.call("remove", DEV_REMOVE, name, &mut b)
    }

    pub fn info(&self, name: &str) -> Result<Info, Error> {
        let mut b = request(DM_IOCTL_SIZE, name, None, 0)?;
        self.call("info", DEV_STATUS, name, &mut b)?;
        info("info", &b)
    }

    pub fn list(&self) -> Result<Vec<Listed>, Error> {
        parse_list(&self.call_growing("list", LIST_DEVICES, "", UUID_FLAG)?)
    }

    /// The live table, as `dmsetup table` prints it.
    pub fn table(&self, name: &str) -> Result<Vec<Target>, Error> {
        parse_targets(&self.call_growing("table", TABLE_STATUS, name, STATUS_TABLE)?)
    }

    /// Each target's status, as `dmsetup status` prints it.
    pub fn status(&self, name: &str) -> Result<Vec<Target>, Error> {
        parse_targets(&self.call_growing("status", TABLE_STATUS, name, 0)?)
    }

    /// Create, load and resume; a device that fails on the way is removed again, so a retry
    /// starts clean.
    pub fn activate(&self, name: &str, uuid: Option<&str>, targets: &[Target], read_only: bool) -> Result<Info, Error> {
        self.create(name, uuid)?;
        match self.load(name, targets, read_only).and_then(|_| self.resume(name)) {
            Ok(info) => Ok(info),
            Err(e) => {
                let _ = self.remove(name);
                Err(e)
            }
        }
    }
}

/// udev's replacement of characters it does not allow in link names (`udev_replace_chars`).
fn link_safe(s: &str) -> String {
    s.chars()
        .map(|c| if !c.is_ascii() || c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) { c } else { '_' })
        .collect()
}

/// An LVM DM name split back into VG, LV and layer (`dmsetup splitname`): a single `-`
/// separates, `--` stands for a `-` inside a name.
pub fn split_lvm_name(name: &str) -> Option<(String, String, String)> {
    let mut parts = vec![String::new()];
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '-' {
            parts.last_mut()?.push(c);
        } else if chars.peek() == Some(&'-') {
            chars.next();
            parts.last_mut()?.push('-');
        } else if parts.len() < 3 {
            parts.push(String::new());
        } else {
            parts.last_mut()?.push(c);
        }
    }
    let mut it = parts.into_iter();
    let (vg, lv, layer) = (it.next()?, it.next().unwrap_or_default(), it.next().unwrap_or_default());
    Some((vg, lv, layer))
}

/// The links udev's rules make for a DM device, relative to /dev, each with its target:
/// `mapper/NAME` (10-dm.rules), `VG/LV` for a top-level LVM LV (11-dm-lvm.rules), and
/// `disk/by-id/dm-name-NAME` and `dm-uuid-UUID` (13-dm-disk.rules), which lvm's rules turn off
/// for pvmove and layered devices. `kernel_name` is the node devtmpfs made (`dm-0`).
/// The `by-uuid`/`by-label` links of a filesystem on the device come from the probe as for
/// any other block device.
pub fn links(name: &str, uuid: &str, kernel_name: &str) -> Vec<(String, String)> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Vec::new();
    }
    let name = link_safe(name);
    let mut v = vec![(format!("mapper/{name}"), format!("../{kernel_name}"))];
    if uuid.starts_with("LVM-") {
        let Some((vg, lv, layer)) = split_lvm_name(&name) else { return v };
        if !layer.is_empty() || lv.starts_with("pvmove") || lv.ends_with("_vorigin") {
            return v;
        }
        if !vg.is_empty() && !lv.is_empty() && ![&vg, &lv].iter().any(|s| *s == "." || *s == "..") {
            v.push((format!("{vg}/{lv}"), format!("../{kernel_name}")));
        }
    }
    let target = format!("../../{kernel_name}");
    v.push((format!("disk/by-id/dm-name-{name}"), target.clone()));
    if !uuid.is_empty() {
        v.push((format!("disk/by-id/dm-uuid-{}", link_safe(uuid)), target));
    }
    v
}

#[cfg(test)]
mod tests;
