//! dracut's and systemd's rules for LUKS containers, as one pure decision: which crypto_LUKS
//! devices the boot opens, under which name, with which key files and options. Sources:
//! `rd.luks=0`/`rd_NO_LUKS`, `rd.luks.uuid=`/`rd_LUKS_UUID=` (dracut's 90crypt parse-crypt.sh),
//! `rd.luks.name=`, `rd.luks.key=`, `rd.luks.options=` (systemd-cryptsetup-generator),
//! `rd.luks.allow-discards[=UUID]`, and the image's `/etc/crypttab` (dracut writes one for
//! hostonly images; cryptroot-ask takes the name, key file and options from it).

use crate::cmdline::Cmdline;

pub mod break_glass;
mod token_options;
pub use token_options::TokenOptions;

/// At most this much of an image's `/etc/crypttab` is read (dracut writes a line per container).
pub const CRYPTTAB_MAX: u64 = 64 << 10;

/// The image's crypttab at `path`, at most [`CRYPTTAB_MAX`] bytes of it; None when it is not there.
pub fn read_crypttab(path: &std::path::Path) -> Option<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path).ok()?.take(CRYPTTAB_MAX).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Passphrase tries before the boot gives up on a container (systemd's `tries=` default).
pub const DEFAULT_TRIES: u32 = 3;

/// Which containers the rules want opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// None, and why (said once when a container is found anyway).
    Off(String),
    /// Only these UUIDs (`luks-` dropped; a prefix is enough, as dracut matches).
    Named(Vec<String>),
    /// The entries of `/etc/crypttab` (systemd's generator when no UUID is named).
    Crypttab,
    /// Every container (`rd.auto`).
    All,
}

/// Where a key file is: a path and the device holding it (`None`: in the initramfs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub path: String,
    /// `UUID=…`, `LABEL=…`, `PARTUUID=…` or a `/dev` path; `None` for the image itself.
    pub device: Option<String>,
}

/// What the rules know of a container's device.
pub struct Device<'a> {
    /// The kernel's node (`/dev/sdb`).
    pub node: &'a str,
    /// The LUKS header's UUID.
    pub uuid: &'a str,
    pub label: Option<&'a str>,
    pub partuuid: Option<&'a str>,
    /// Every other path under /dev naming it (`/dev/disk/by-id/ata-…`, by-path, by-partlabel).
    pub links: &'a [String],
}

/// One line of `/etc/crypttab`: `name device [keyfile [options]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrypttabEntry {
    pub name: String,
    pub device: String,
    pub keyfile: Option<KeySpec>,
    pub options: Vec<String>,
}

/// How one container is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// The device-mapper name (`luks-UUID` unless named).
    pub name: String,
    /// Key files tried in order before a passphrase is asked for.
    pub keys: Vec<KeySpec>,
    pub keyfile_offset: u64,
    pub keyfile_size: Option<u64>,
    pub allow_discards: bool,
    pub read_only: bool,
    /// Passphrase tries before the shell; 0 asks until Ctrl-C.
    pub tries: u32,
    /// Options understood but not done, said when the container is opened.
    pub ignored: Vec<String>,
    /// What `tpm2-device=`, `fido2-device=`, … ask for (systemd-cryptsetup's token unlock).
    pub token: TokenOptions,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Open(Open),
    /// Left locked, and why.
    Skip(String),
}

/// A `rd.luks.key=` value: the key and, optionally, the LUKS device it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CmdKey {
    key: KeySpec,
    /// dracut's third field or systemd's `UUID=` prefix: only for this container.
    for_dev: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    wanted: Wanted,
    names: Vec<(String, String)>,
    keys: Vec<CmdKey>,
    discard_all: bool,
    discard_uuids: Vec<String>,
    /// `rd.luks.options=`: for every container (`None`) or one UUID.
    options: Vec<(Option<String>, String)>,
    crypttab: Vec<CrypttabEntry>,
}

/// `luks-` dropped and lower-cased, as UUIDs are compared.
fn bare(uuid: &str) -> String {
    uuid.trim().strip_prefix("luks-").unwrap_or(uuid.trim()).to_ascii_lowercase()
}

/// A UUID (or the start of one), `luks-` in front allowed: hex digits and dashes.
fn is_uuid(s: &str) -> bool {
    let b = bare(s);
    !b.is_empty() && b.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-')
}

/// Whether a named UUID picks this one: dracut matches a prefix (`ID_FS_UUID=="*X*"` in fact).
fn uuid_matches(named: &str, uuid: &str) -> bool {
    let named = bare(named);
    !named.is_empty() && bare(uuid).starts_with(&named)
}

/// Whether a device spec (`UUID=`, `LABEL=`, `PARTUUID=`, a `/dev` path) names the device with
/// this kernel node, filesystem UUID and label, as dracut's `devnames`/udev links resolve.
pub fn spec_matches(spec: &str, node: &str, uuid: Option<&str>, label: Option<&str>, partuuid: Option<&str>) -> bool {
    let spec = spec.trim();
    let eq = |a: Option<&str>, b: &str| a.is_some_and(|a| a.eq_ignore_ascii_case(b));
    if let Some(u) = spec.strip_prefix("UUID=").or_else(|| spec.strip_prefix("/dev/disk/by-uuid/")) {
        return uuid.is_some_and(|x| uuid_matches(u, x));
    }
    if let Some(l) = spec.strip_prefix("LABEL=").or_else(|| spec.strip_prefix("/dev/disk/by-label/")) {
        return label == Some(l);
    }
    if let Some(p) = spec.strip_prefix("PARTUUID=").or_else(|| spec.strip_prefix("/dev/disk/by-partuuid/")) {
        return eq(partuuid, p);
    }
    spec == node
}

/// A key file field: `PATH` or `PATH:DEVICE` (systemd's crypttab and `rd.luks.key=`; dracut's
/// keydev `/` is the image). `none`, `-` and empty mean no key file.
fn key_spec(field: &str) -> Option<KeySpec> {
    let field = field.trim();
    if field.is_empty() || field == "none" || field == "-" {
        return None;
    }
    let (path, device) = match field.split_once(':') {
        Some((p, d)) => (p, Some(d.trim()).filter(|d| !d.is_empty() && *d != "/")),
        None => (field, None),
    };
    (!path.is_empty()).then(|| KeySpec { path: path.to_string(), device: device.map(str::to_string) })
}

/// Parses `/etc/crypttab`: blank lines and `#` comments skipped, fields split on whitespace.
pub fn parse_crypttab(text: &str) -> Vec<CrypttabEntry> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let mut f = line.split_whitespace();
            let name = f.next()?.to_string();
            let device = f.next()?.to_string();
            let keyfile = f.next().and_then(key_spec);
            let options = f.next().map(split_options).unwrap_or_default();
            Some(CrypttabEntry { name, device, keyfile, options })
        })
        .collect()
}

fn split_options(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_string).collect()
}

/// `rd.luks.key=` in either family's form: dracut's `PATH[:KEYDEV[:LUKSDEV]]` or systemd's
/// `[UUID=]PATH[:KEYDEV]`.
fn cmd_key(value: &str) -> Option<CmdKey> {
    let value = value.trim();
    if let Some((uuid, rest)) = value.split_once('=') {
        if !uuid.starts_with('/') && !uuid.contains(':') && rest.starts_with('/') {
            return key_spec(rest).map(|key| CmdKey { key, for_dev: Some(format!("UUID={}", bare(uuid))) });
        }
    }
    let mut parts = value.splitn(3, ':');
    let path = parts.next().unwrap_or("");
    let keydev = parts.next().map(str::trim).filter(|d| !d.is_empty() && *d != "/");
    let for_dev = parts.next().map(str::trim).filter(|d| !d.is_empty() && *d != "*").map(str::to_string);
    (!path.is_empty())
        .then(|| CmdKey { key: KeySpec { path: path.to_string(), device: keydev.map(str::to_string) }, for_dev })
}

/// A detached LUKS header the rules ask for (`header=` in `/etc/crypttab` or in
/// `rd.luks.options=`), said as the key that asks: rdbreak cannot open one, dracut's crypt
/// module (systemd-cryptsetup) can. None when LUKS is off or nothing asks.
pub fn detached_header(c: &Cmdline, crypttab: Option<&str>) -> Option<String> {
    let rules = Rules::new(c, crypttab);
    if matches!(rules.wanted, Wanted::Off(_)) {
        return None;
    }
    let header = |options: &[String]| options.iter().any(|o| o.starts_with("header="));
    if let Some((uuid, o)) = rules.options.iter().find(|(_, o)| header(&split_options(o))) {
        let for_uuid = uuid.as_ref().map(|u| format!("{u}=")).unwrap_or_default();
        return Some(format!("rd.luks.options={for_uuid}{o}"));
    }
    rules
        .crypttab
        .iter()
        .filter(|e| !e.options.iter().any(|o| o == "noauto"))
        .find(|e| header(&e.options))
        .map(|e| format!("/etc/crypttab's {} line ({})", e.name, e.options.join(",")))
}

/// Whether the rules want any LUKS container opened (not `rd.luks=0`, and something names one).
pub fn luks_wanted(c: &Cmdline, crypttab: Option<&str>) -> bool {
    !matches!(Rules::new(c, crypttab).wanted, Wanted::Off(_))
}

/// The token unlocks the rules ask systemd-cryptsetup for (`tpm2-device=`, `fido2-device=`,
/// `pkcs11-uri=` in `/etc/crypttab` or `rd.luks.options=`), each said as the key that asks with
/// the token type it asks for, for the hand-off. None when LUKS is off.
pub fn token_unlock(c: &Cmdline, crypttab: Option<&str>) -> Vec<(String, &'static str)> {
    let rules = Rules::new(c, crypttab);
    if matches!(rules.wanted, Wanted::Off(_)) {
        return Vec::new();
    }
    let asked = |options: &[String]| {
        let mut t = TokenOptions::default();
        for o in options {
            if let Some((k, v)) = o.split_once('=') {
                let _ = t.apply(k, Some(v));
            }
        }
        t.asked()
    };
    let mut out = Vec::new();
    for (uuid, o) in &rules.options {
        let for_uuid = uuid.as_ref().map(|u| format!("{u}=")).unwrap_or_default();
        for kind in asked(&split_options(o)) {
            out.push((format!("rd.luks.options={for_uuid}{o}"), kind));
        }
    }
    for e in rules.crypttab.iter().filter(|e| !e.options.iter().any(|o| o == "noauto")) {
        for kind in asked(&e.options) {
            out.push((format!("/etc/crypttab's {} line ({})", e.name, e.options.join(",")), kind));
        }
    }
    out
}

impl Rules {
    /// The rules of this command line and this image's `/etc/crypttab` (if it has one).
    pub fn new(c: &Cmdline, crypttab: Option<&str>) -> Rules {
        let values = |a: &'static str, b: &'static str| -> Vec<String> {
            c.all(a).chain(c.all(b)).flat_map(str::split_whitespace).map(str::to_string).collect()
        };
        let use_crypttab = c.flag("rd.luks.crypttab", true) && c.last("rd_NO_CRYPTTAB").is_none();
        let crypttab = if use_crypttab { crypttab.map(parse_crypttab).unwrap_or_default() } else { Vec::new() };
        let names: Vec<(String, String)> = c
            .all("rd.luks.name")
            .filter_map(|v| v.split_once('='))
            .filter(|(u, n)| !bare(u).is_empty() && !n.is_empty())
            .map(|(u, n)| (bare(u), n.to_string()))
            .collect();
        let wanted = if !c.flag("rd.luks", true) || c.last("rd_NO_LUKS").is_some() {
            Wanted::Off("rd.luks=0 is given".into())
        } else {
            // `keysource:` only changes when dracut closes it again; it is opened the same way.
            let mut named: Vec<String> = values("rd.luks.uuid", "rd_LUKS_UUID")
                .iter()
                .map(|u| bare(u.strip_prefix("keysource:").unwrap_or(u)))
                .filter(|u| !u.is_empty())
                .collect();
            named.extend(names.iter().map(|(u, _)| u.clone()));
            if !named.is_empty() {
                Wanted::Named(named)
            } else if c.flag("rd.auto", false) {
                Wanted::All
            } else if !crypttab.is_empty() {
                Wanted::Crypttab
            } else {
                Wanted::Off(
                    "neither rd.luks.uuid= nor rd.luks.name= is given, rd.auto is off and the image has no /etc/crypttab"
                        .into(),
                )
            }
        };
        let discard = c.args().iter().filter(|a| a.key == "rd.luks.allow-discards");
        let discard_all = discard.clone().any(|a| a.value.is_none());
        let discard_uuids = discard.filter_map(|a| a.value.as_deref()).map(bare).filter(|u| !u.is_empty()).collect();
        let options = c
            .all("rd.luks.options")
            .map(|v| match v.split_once('=') {
                // Only a UUID before the first `=` names a container: `tpm2-device=auto` is an
                // option for every one, as systemd's generator reads it.
                Some((u, o)) if is_uuid(u) => (Some(bare(u)), o.to_string()),
                _ => (None, v.to_string()),
            })
            .collect();
        Rules {
            wanted,
            names,
            keys: c.all("rd.luks.key").filter_map(cmd_key).collect(),
            discard_all,
            discard_uuids,
            options,
            crypttab,
        }
    }

    pub fn wanted(&self) -> &Wanted {
        &self.wanted
    }

    /// The crypttab entry for this container, as dracut's cryptroot-ask and systemd's generator
    /// find it: its device field names the device (`UUID=`, `LABEL=`, `PARTUUID=`, the kernel's
    /// node or any `/dev/disk/by-*` link to it: by-id, by-path, …), or else its name is the
    /// mapping's (`luks-UUID`, or what `rd.luks.name=` calls it).
    fn entry(&self, dev: &Device<'_>) -> Option<&CrypttabEntry> {
        let names_it = |e: &&CrypttabEntry| {
            let spec = e.device.trim();
            spec_matches(spec, dev.node, Some(dev.uuid), dev.label, dev.partuuid) || dev.links.iter().any(|l| l == spec)
        };
        let mapping = self.mapping_name(dev.uuid);
        self.crypttab.iter().find(names_it).or_else(|| self.crypttab.iter().find(|e| e.name == mapping))
    }

    /// The name the command line gives the mapping: `rd.luks.name=`'s, else `luks-UUID`.
    fn mapping_name(&self, uuid: &str) -> String {
        let u = bare(uuid);
        self.names.iter().find(|(n, _)| *n == u).map_or_else(|| format!("luks-{u}"), |(_, name)| name.clone())
    }

    /// What to do with the container at `node` whose LUKS UUID is `uuid` (a device known by no
    /// other name).
    pub fn decide(&self, node: &str, uuid: &str, label: Option<&str>) -> Decision {
        self.decide_device(&Device { node, uuid, label, partuuid: None, links: &[] })
    }

    /// What to do with this container.
    pub fn decide_device(&self, dev: &Device<'_>) -> Decision {
        let (node, uuid, label) = (dev.node, dev.uuid, dev.label);
        let entry = self.entry(dev);
        match self.wanted() {
            Wanted::Off(why) => return Decision::Skip(why.clone()),
            Wanted::Named(list) if !list.iter().any(|n| uuid_matches(n, uuid)) => {
                return Decision::Skip(format!("its UUID {uuid} is not among rd.luks.uuid={}", list.join(",")));
            }
            Wanted::Crypttab if entry.is_none() => {
                return Decision::Skip(format!("not in /etc/crypttab, and no rd.luks.uuid= names {uuid}"));
            }
            _ => {}
        }
        let u = bare(uuid);
        let named = self.names.iter().find(|(n, _)| *n == u).map(|(_, name)| name.clone());
        let name = named.or_else(|| entry.map(|e| e.name.clone())).unwrap_or_else(|| format!("luks-{u}"));
        let mut open = Open {
            name,
            keys: Vec::new(),
            keyfile_offset: 0,
            keyfile_size: None,
            allow_discards: self.discard_all || self.discard_uuids.iter().any(|d| uuid_matches(d, uuid)),
            read_only: false,
            tries: DEFAULT_TRIES,
            ignored: Vec::new(),
            token: TokenOptions::default(),
        };
        let mut options: Vec<String> = entry.map(|e| e.options.clone()).unwrap_or_default();
        for (for_uuid, o) in &self.options {
            if for_uuid.as_ref().is_none_or(|f| *f == u) {
                options.extend(split_options(o));
            }
        }
        for o in &options {
            let (k, v) = o.split_once('=').map_or((o.as_str(), None), |(k, v)| (k, Some(v)));
            match (k, v) {
                ("noauto" | "swap" | "tmp", None) if entry.is_some_and(|e| e.options.contains(o)) => {
                    return Decision::Skip(format!("/etc/crypttab says {o} for {}", open.name));
                }
                ("discard" | "allow-discards", None) => open.allow_discards = true,
                ("readonly" | "read-only", None) => open.read_only = true,
                ("tries", Some(n)) => open.tries = n.parse().unwrap_or(DEFAULT_TRIES),
                ("keyfile-offset", Some(n)) => open.keyfile_offset = n.parse().unwrap_or(0),
                ("keyfile-size", Some(n)) => open.keyfile_size = n.parse().ok(),
                ("header", Some(h)) => {
                    return Decision::Skip(format!(
                        "its header is detached ({h}), which rdbreak cannot open; dracut's crypt module can (an image made with dracut -a rdbreak hands such a boot to dracut's init)"
                    ));
                }
                ("luks" | "nofail" | "noauto" | "swap" | "tmp" | "x-initrd.attach", _) => {}
                (k, v) if token_options::KEYS.contains(&k) => {
                    if let Err(why) = open.token.apply(k, v) {
                        open.ignored.push(format!("{o} ({why})"));
                    }
                }
                _ => open.ignored.push(o.clone()),
            }
        }
        if let Some(k) = entry.and_then(|e| e.keyfile.clone()) {
            open.keys.push(k);
        }
        for k in &self.keys {
            let fits = k.for_dev.as_deref().is_none_or(|d| spec_matches(d, node, Some(uuid), label, None));
            if fits && !open.keys.contains(&k.key) {
                open.keys.push(k.key.clone());
            }
        }
        Decision::Open(open)
    }
}

/// The DM UUID cryptsetup gives a mapping (`CRYPT-LUKS2-<uuid without dashes>-NAME`), by which
/// lsblk and udev's rules see a `crypt` device.
pub fn dm_uuid(version: u8, uuid: &str, name: &str) -> String {
    format!("CRYPT-LUKS{version}-{}-{name}", uuid.replace('-', ""))
}

#[cfg(test)]
mod tests;
