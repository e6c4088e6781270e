//! cryptsetup's part of the boot: the crypto_LUKS devices the rules (`luks_rules`) want are opened
//! with their key files (`keyfile`: in the image, or on a device mounted read-only), with a
//! passphrase that already opened another container (systemd's cache), or with one the stage
//! layer asks for (`locked`, `unlock_all`): this room never touches the console. The mapping is
//! made as cryptsetup makes it (its DM UUID, so links and lsblk see `crypt`); the kernel
//! announces it and the next scan probes it, so LVM on LUKS composes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::cmdline::Cmdline;
use crate::devices::{self, BlockDev};
use crate::kmod::Loader;

use super::dm;
use super::keyfile;
#[cfg(feature = "luks")]
use super::luks;
use super::luks_rules::{self, Decision, Open};
use super::say;

#[cfg(feature = "luks")]
pub mod tpm;
#[cfg(feature = "luks")]
use super::luks::tokens;
#[cfg(feature = "luks")]
use super::tpm2::unseal;

/// Built without the `luks` feature: every container is found and named, none can be opened.
#[cfg(not(feature = "luks"))]
#[allow(dead_code)]
mod luks {
    use super::dm;

    #[derive(Clone, Debug)]
    pub struct Header {
        pub version: u8,
        pub uuid: String,
        pub cipher: String,
        pub flags: Vec<String>,
        pub notes: Vec<String>,
        pub keyslots: Vec<Keyslot>,
    }

    #[derive(Clone, Debug)]
    pub struct Keyslot {
        pub id: u32,
        pub priority: u8,
    }

    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        #[error("this rdbreak-init was built without LUKS support (cargo feature luks)")]
        Unsupported,
        #[error("never")]
        WrongPassphrase { tried: String },
    }

    pub type Read<'a> = dyn FnMut(u64, &mut [u8]) -> std::io::Result<usize> + 'a;

    pub fn read_header(_: &mut Read<'_>, _: u64) -> Result<Header, Error> {
        Err(Error::Unsupported)
    }

    pub struct VolumeKey;

    impl Header {
        pub fn unlock(&self, _: &mut Read<'_>, _: &[u8], _: u64) -> Result<VolumeKey, Error> {
            Err(Error::Unsupported)
        }
        pub fn crypt_target(&self, _: &VolumeKey, _: &str, _: u64, _: bool) -> Result<dm::Target, Error> {
            Err(Error::Unsupported)
        }
        pub fn dump(&self) -> String {
            String::new()
        }
        pub fn token_summaries(&self) -> Vec<(String, String)> {
            Vec::new()
        }
    }
}

/// What opening a container failed on. The boot and the shell's `cryptsetup` decide on the
/// variant (a wrong passphrase asks again); the text is what they show.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No keyslot opens with the passphrase or key.
    #[error("No key available with this passphrase.")]
    WrongPassphrase,
    #[error("cannot open {path}: {err}")]
    Open { path: String, err: String },
    /// The header cache holds nothing for the device (never: it was just filled).
    #[error("no header read")]
    NoHeader,
    /// The header, a keyslot or the crypt table, as the format room says it.
    #[error("{0}")]
    Format(#[from] luks::Error),
    /// The same, for the device named.
    #[error("{node}: {source}")]
    Device { node: String, source: luks::Error },
    /// No device-mapper to make the mapping with.
    #[error("{0}")]
    DeviceMapper(#[from] dm::Error),
    /// The kernel refused the mapping (never the table in the message: it holds the key).
    #[error("cannot create /dev/mapper/{name} over {node}: {why}; are dm_crypt and the {cipher} cipher's modules in this initramfs? (lsmod)")]
    Mapping { name: String, node: String, why: String, cipher: String },
}

/// What the header cache answers for a device it holds nothing for (never: it was just filled).
static NO_HEADER: Error = Error::NoHeader;

impl Error {
    fn open(path: impl std::fmt::Display, e: std::io::Error) -> Error {
        Error::Open { path: path.to_string(), err: e.to_string() }
    }
}

/// How long a container whose key file is on a device not there yet waits for that device
/// before the passphrase is asked for (a USB stick is announced seconds after the disks).
pub const KEY_DEVICE_WAIT: Duration = Duration::from_secs(10);

/// A container the rules want that is still locked: what the prompt names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locked {
    pub devno: (u32, u32),
    /// `/dev/vda2`.
    pub node: String,
    pub uuid: String,
    /// The mapping it gets: `luks-UUID` unless named.
    pub name: String,
    /// Wrong passphrases so far, and how many are allowed (0: no limit).
    pub wrong: u32,
    pub tries: u32,
    /// What its header's tokens are and why none is used ([`token_note`]), said with the prompt.
    pub note: Option<String>,
}

/// What a passphrase did to one container.
#[derive(Debug)]
pub enum Outcome {
    Opened(String),
    Wrong,
    /// It cannot be opened this way (the header, memory, device-mapper): ask no more.
    Failed(String),
}

pub struct Containers {
    rules: luks_rules::Rules,
    /// Headers read, by device number, with the size the device had.
    headers: BTreeMap<(u32, u32), (u64, Result<luks::Header, Error>)>,
    /// Containers whose key files were tried (again only when their size changes).
    keys_tried: BTreeSet<(u32, u32)>,
    /// Wrong passphrases per container.
    wrong: BTreeMap<(u32, u32), u32>,
    /// Not asked for again: tries used up, Ctrl-C, or a failure a passphrase cannot mend.
    given_up: BTreeMap<(u32, u32), String>,
    /// Passphrases that opened a container, tried first on the next one.
    cache: Vec<Zeroizing<Vec<u8>>>,
    /// Opened here: not asked for while the kernel has not announced the mapping yet.
    opened: BTreeSet<(u32, u32)>,
    /// Containers whose key file's device was not there, since when: not asked for until
    /// `key_device_wait` has passed.
    key_device_since: BTreeMap<(u32, u32), Instant>,
    key_device_wait: Duration,
    said: BTreeSet<String>,
    /// Whether unattended (TPM2, Clevis) unlock is allowed on this boot, or why not
    /// (`luks_rules::break_glass`).
    auto_unlock: Result<(), String>,
    /// Why a container's TPM2 token did not open it (said with the prompt), by device.
    tpm_why: BTreeMap<(u32, u32), String>,
    /// A shell opened on this boot: its PCRs were extended, the TPM is not asked again.
    shell_opened: bool,
    /// The TPM is in dictionary-attack lockout: no PIN is tried again on this boot.
    locked_out: bool,
}

/// The `MemAvailable:` of `/proc/meminfo`, in bytes (0 when it cannot be read).
pub fn mem_available(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb.saturating_mul(1024))
}

/// The kernel modules a dm-crypt cipher spec (`aes-xts-plain64`, `aes-cbc-essiv:sha256`)
/// needs, by the aliases the crypto API asks modprobe for; PID 1 is its own modprobe, so they
/// are loaded before the table is.
pub fn cipher_modules(cipher: &str) -> Vec<String> {
    let mut out = vec!["dm_crypt".to_string()];
    let (spec, hash) = cipher.split_once(':').map_or((cipher, None), |(s, h)| (s, Some(h)));
    let mut parts = spec.split('-');
    let name = parts.next().unwrap_or("");
    let mode = parts.next();
    let iv = parts.next();
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok(name) {
        out.push(format!("crypto-{name}"));
    }
    if let Some(m) = mode.filter(|m| ok(m)) {
        out.push(format!("crypto-{m}"));
        if matches!(m, "xts" | "lrw") {
            out.push("crypto-ecb".into()); // the template runs over ecb(cipher)
        }
    }
    if let Some(iv) = iv.filter(|i| ok(i) && *i != "plain" && *i != "plain64" && *i != "null") {
        out.push(format!("crypto-{iv}"));
    }
    if let Some(h) = hash.filter(|h| ok(h)) {
        out.push(format!("crypto-{h}"));
    }
    out
}

/// Whether a crypt mapping over the device `node_name` (kernel name) exists already: opened
/// by us, by a hand in the shell, under any name.
/// A container's node and the `/dev/disk/by-*` paths that name it (crypttab may use any).
fn names_of(d: &BlockDev) -> (String, Vec<String>) {
    let links = devices::links(d).into_iter().filter(|(l, _)| l.starts_with("disk/")).map(|(l, _)| format!("/dev/{l}"));
    (d.node().display().to_string(), links.collect())
}

fn open_over(devs: &[BlockDev], node_name: &str) -> Option<String> {
    devs.iter()
        .filter(|d| d.dm.as_ref().is_some_and(|m| m.uuid.starts_with("CRYPT-")))
        .find(|d| d.slaves.iter().any(|s| s == node_name))
        .and_then(|d| d.dm.as_ref().map(|m| m.name.clone()))
}

impl Containers {
    pub fn new(c: &Cmdline, crypttab: Option<&str>) -> Containers {
        Containers {
            rules: luks_rules::Rules::new(c, crypttab),
            headers: BTreeMap::new(),
            keys_tried: BTreeSet::new(),
            wrong: BTreeMap::new(),
            given_up: BTreeMap::new(),
            cache: Vec::new(),
            opened: BTreeSet::new(),
            key_device_since: BTreeMap::new(),
            key_device_wait: KEY_DEVICE_WAIT,
            said: BTreeSet::new(),
            auto_unlock: luks_rules::break_glass::auto_unlock_for(c),
            tpm_why: BTreeMap::new(),
            shell_opened: false,
            locked_out: false,
        }
    }

    /// The rules again, now with the image's `/etc/crypttab`.
    pub fn set_rules(&mut self, c: &Cmdline, crypttab: Option<&str>) {
        self.rules = luks_rules::Rules::new(c, crypttab);
        self.auto_unlock = luks_rules::break_glass::auto_unlock_for(c);
    }

    /// The LUKS header of `d`, read once per size.
    fn header(&mut self, d: &BlockDev, dev_dir: &Path) -> Result<&luks::Header, &Error> {
        let key = (d.major, d.minor);
        if self.headers.get(&key).is_none_or(|(size, _)| *size != d.size_bytes) {
            let read =
                File::open(dev_dir.join(&d.name)).map_err(|e| Error::open(d.node().display(), e)).and_then(|f| {
                    let mut read = |at: u64, buf: &mut [u8]| f.read_at(buf, at);
                    Ok(luks::read_header(&mut read, d.size_bytes)?)
                });
            if let Ok(h) = &read {
                for n in &h.notes {
                    say(&mut self.said, format!("LUKS {}: {n}", d.node().display()), true);
                }
            }
            self.headers.insert(key, (d.size_bytes, read));
            self.keys_tried.remove(&key);
        }
        match self.headers.get(&key) {
            Some((_, Ok(h))) => Ok(h),
            Some((_, Err(e))) => Err(e),
            None => Err(&NO_HEADER),
        }
    }

    /// The containers among `devs` and what the rules decided for each (mapped ones left out).
    fn wanted<'a>(&self, devs: &'a [BlockDev]) -> Vec<(&'a BlockDev, String, Decision)> {
        devs.iter()
            .filter(|d| d.fs.as_ref().is_some_and(|f| f.fstype == "crypto_LUKS"))
            .filter(|d| open_over(devs, &d.name).is_none() && !self.opened.contains(&(d.major, d.minor)))
            .map(|d| {
                let fs = d.fs.as_ref();
                let uuid = fs.and_then(|f| f.uuid.clone()).unwrap_or_default();
                let label = fs.and_then(|f| f.label.as_deref());
                let (node, links) = names_of(d);
                let partuuid = d.partuuid.as_deref();
                let dev = luks_rules::Device { node: &node, uuid: &uuid, label, partuuid, links: &links };
                let decision = self.rules.decide_device(&dev);
                (d, uuid, decision)
            })
            .collect()
    }

    /// Opens what key files and remembered passphrases open; says once why others stay locked.
    /// Returns how many mappings were made, and the lines for "Could not boot".
    pub fn step(&mut self, devs: &[BlockDev], dev_dir: &Path, loader: Option<&Loader>) -> (usize, Vec<String>) {
        let mut created = 0;
        let mut pending = Vec::new();
        for (d, uuid, decision) in self.wanted(devs) {
            let node = d.node().display().to_string();
            let key = (d.major, d.minor);
            let open = match decision {
                Decision::Skip(why) => {
                    let line = format!("LUKS {node} (UUID {uuid}) left locked: {why}");
                    say(&mut self.said, line.clone(), false);
                    pending.push(line);
                    continue;
                }
                Decision::Open(o) => o,
            };
            if let Some(why) = self.given_up.get(&key) {
                pending.push(format!(
                    "LUKS {node} is still locked ({why}); open it with: cryptsetup open {node} {}",
                    open.name
                ));
                continue;
            }
            if !open.ignored.is_empty() {
                say(&mut self.said, format!("LUKS {node}: ignoring options {}", open.ignored.join(",")), false);
            }
            if self.keys_tried.insert(key) {
                let mut device_missing = false;
                for k in &open.keys {
                    let secret = match keyfile::read(k, &open, devs, dev_dir, loader) {
                        Ok(s) => s,
                        Err(e @ keyfile::Error::NoDevice(_)) => {
                            // Not there yet: the next scan, once it is announced, tries again;
                            // the prompt waits for it a while.
                            self.keys_tried.remove(&key);
                            device_missing = true;
                            let wait = self.key_device_wait.as_secs();
                            say(
                                &mut self.said,
                                format!(
                                    "LUKS {node}: key file {}: {e}; waiting {wait} s for it before asking for the passphrase",
                                    k.path
                                ),
                                true,
                            );
                            continue;
                        }
                        Err(e) => {
                            say(&mut self.said, format!("LUKS {node}: key file {}: {e}", k.path), true);
                            continue;
                        }
                    };
                    match self.open_with(d, &open, &secret, dev_dir, loader) {
                        Outcome::Opened(_) => {
                            created += 1;
                            break;
                        }
                        Outcome::Wrong => {
                            say(&mut self.said, format!("LUKS {node}: key file {} opens no keyslot", k.path), true)
                        }
                        Outcome::Failed(e) => {
                            say(&mut self.said, format!("LUKS {node}: {e}"), true);
                            break;
                        }
                    }
                }
                if device_missing {
                    self.key_device_since.entry(key).or_insert_with(Instant::now);
                } else {
                    self.key_device_since.remove(&key);
                }
                if created > 0 {
                    continue;
                }
                let cached = std::mem::take(&mut self.cache);
                let mut opened = false;
                for secret in &cached {
                    if let Outcome::Opened(_) = self.open_with(d, &open, secret, dev_dir, loader) {
                        opened = true;
                        break;
                    }
                }
                self.cache = cached;
                if opened || self.try_tpm(d, &open, dev_dir, loader) {
                    created += 1;
                    continue;
                }
            }
            // The header is read now (once per size) for what its tokens say: the console hears
            // it before the prompt, the failure lists it.
            let _ = self.header(d, dev_dir);
            let note = self.token_note(key, d);
            if let Some(n) = &note {
                say(&mut self.said, n.clone(), true);
            }
            let note = note.map(|n| format!(". {n}")).unwrap_or_default();
            pending
                .push(format!("LUKS {node} (UUID {uuid}) is locked, waiting for its passphrase ({}){note}", open.name));
        }
        (created, pending)
    }

    /// The wanted containers still waiting for a passphrase, in device order.
    pub fn locked(&self, devs: &[BlockDev]) -> Vec<Locked> {
        self.wanted(devs)
            .into_iter()
            .filter(|(d, _, _)| !self.waits_for_key_device((d.major, d.minor)))
            .filter_map(|(d, uuid, decision)| match decision {
                Decision::Open(o) if !self.given_up.contains_key(&(d.major, d.minor)) => Some(Locked {
                    devno: (d.major, d.minor),
                    node: d.node().display().to_string(),
                    uuid,
                    wrong: self.wrong.get(&(d.major, d.minor)).copied().unwrap_or(0),
                    tries: o.tries,
                    name: o.name,
                    note: self.token_note((d.major, d.minor), d),
                }),
                _ => None,
            })
            .collect()
    }

    /// [`token_note`] for a container whose header was read.
    fn token_note(&self, devno: (u32, u32), d: &BlockDev) -> Option<String> {
        let Some((_, Ok(h))) = self.headers.get(&devno) else { return None };
        let tpm = self.tpm_why.get(&devno).map(String::as_str);
        token_note(h.version, &d.node().display().to_string(), &h.token_summaries(), &self.auto_unlock, tpm)
    }

    /// Whether a container's key file is on a device not there yet, and the wait for it runs.
    fn waits_for_key_device(&self, devno: (u32, u32)) -> bool {
        self.key_device_since.get(&devno).is_some_and(|t| t.elapsed() < self.key_device_wait)
    }

    /// Tries one passphrase on every locked container; a wrong one counts against each.
    pub fn unlock_all(
        &mut self,
        devs: &[BlockDev],
        secret: &[u8],
        dev_dir: &Path,
        loader: Option<&Loader>,
    ) -> Vec<(Locked, Outcome)> {
        let mut out = Vec::new();
        let mut worked = false;
        for l in self.locked(devs) {
            let Some(d) = devs.iter().find(|d| (d.major, d.minor) == l.devno) else { continue };
            let (node, links) = names_of(d);
            let label = d.fs.as_ref().and_then(|f| f.label.as_deref());
            let dev = luks_rules::Device {
                node: &node,
                uuid: &l.uuid,
                label,
                partuuid: d.partuuid.as_deref(),
                links: &links,
            };
            let Decision::Open(open) = self.rules.decide_device(&dev) else {
                continue;
            };
            let outcome = if self.try_pin(d, &open, secret, dev_dir, loader) {
                Outcome::Opened(open.name.clone())
            } else {
                self.open_with(d, &open, secret, dev_dir, loader)
            };
            match &outcome {
                Outcome::Opened(_) => worked = true,
                Outcome::Wrong => *self.wrong.entry(l.devno).or_insert(0) += 1,
                Outcome::Failed(e) => {
                    self.given_up.insert(l.devno, e.clone());
                }
            }
            out.push((l, outcome));
        }
        if worked && self.cache.len() < 8 {
            self.cache.push(Zeroizing::new(secret.to_vec()));
        }
        out
    }

    /// Unseals the container's systemd-tpm2 tokens that need no PIN and opens the keyslot each
    /// names with what the TPM gave, as systemd-cryptsetup does; when none does, why not is
    /// kept for the prompt's note. Tried once per header read.
    #[cfg(feature = "luks")]
    fn try_tpm(&mut self, d: &BlockDev, open: &Open, dev_dir: &Path, loader: Option<&Loader>) -> bool {
        // From the header's read to the mapping: what systemd-cryptsetup@.service spans too.
        let began = Instant::now();
        let key = (d.major, d.minor);
        let node = d.node().display().to_string();
        let tokens: Vec<(tokens::Tpm2, Vec<u32>)> = match self.header(d, dev_dir) {
            Ok(h) => tpm::tpm2_tokens(&h.tokens).into_iter().map(|(t, k)| (t.clone(), k.to_vec())).collect(),
            Err(_) => return false,
        };
        let unattended: Vec<&(tokens::Tpm2, Vec<u32>)> = tokens.iter().filter(|(t, _)| !t.pin).collect();
        if unattended.is_empty() {
            if !tokens.is_empty() {
                // A PIN already refused keeps its line when the header is read again.
                self.tpm_why
                    .entry(key)
                    .or_insert_with(|| "its TPM2 token asks for a PIN: type the PIN or the passphrase".into());
            }
            return false;
        }
        if let Err(why) = &self.auto_unlock {
            self.tpm_why.insert(key, format!("not unsealed: {why}"));
            return false;
        }
        if self.shell_opened {
            self.tpm_why.insert(key, "not unsealed: a shell was opened on this boot (its PCRs are extended)".into());
            return false;
        }
        let Some(mut dev) = self.tpm_device(key, dev_dir) else { return false };
        let mut whys = Vec::new();
        for (t, slots) in unattended {
            let started = Instant::now();
            let pass = match tpm::unseal_token(&mut dev, t, None) {
                Ok(p) => p,
                Err(e @ unseal::Failure::NotNative(_)) => {
                    whys.push(format!("{e}; {}", token_advice("systemd-tpm2")));
                    continue;
                }
                Err(e) => {
                    whys.push(e.to_string());
                    continue;
                }
            };
            let unsealed = started.elapsed();
            match self.open_slots(d, open, &pass, Some(slots), dev_dir, loader) {
                Outcome::Opened(name) => {
                    say(
                        &mut self.said,
                        format!(
                            "LUKS {node}: unlocked with its TPM2 token in {} ms (unsealed in {} ms, keyslot {}) as /dev/mapper/{name}",
                            began.elapsed().as_millis(),
                            unsealed.as_millis(),
                            slot_list(slots)
                        ),
                        true,
                    );
                    self.tpm_why.remove(&key);
                    return true;
                }
                Outcome::Wrong => whys.push(format!("what the TPM unsealed opens no keyslot ({})", slot_list(slots))),
                Outcome::Failed(e) => whys.push(e),
            }
        }
        self.tpm_why.insert(key, format!("the TPM did not unseal it: {}", whys.join("; ")));
        false
    }

    /// `/dev/tpmrm0`, or why not kept for the container's note.
    #[cfg(feature = "luks")]
    fn tpm_device(&mut self, key: (u32, u32), dev_dir: &Path) -> Option<tpm::Device> {
        tpm::Device::open(dev_dir)
            .map_err(|why| self.tpm_why.insert(key, format!("the TPM did not unseal it: {why}")))
            .ok()
    }

    #[cfg(not(feature = "luks"))]
    fn try_tpm(&mut self, _: &BlockDev, _: &Open, _: &Path, _: Option<&Loader>) -> bool {
        false
    }

    /// The answer typed at the prompt as the PIN of the container's systemd-tpm2 tokens that
    /// ask for one. A wrong PIN counts against the TPM's lockout: the answer is then tried as
    /// the passphrase.
    #[cfg(feature = "luks")]
    fn try_pin(&mut self, d: &BlockDev, open: &Open, pin: &[u8], dev_dir: &Path, loader: Option<&Loader>) -> bool {
        let key = (d.major, d.minor);
        let tokens: Vec<(tokens::Tpm2, Vec<u32>)> = match self.header(d, dev_dir) {
            Ok(h) => tpm::tpm2_tokens(&h.tokens)
                .into_iter()
                .filter(|(t, _)| t.pin)
                .map(|(t, k)| (t.clone(), k.to_vec()))
                .collect(),
            Err(_) => return false,
        };
        if tokens.is_empty() || self.locked_out {
            return false;
        }
        let Some(mut dev) = self.tpm_device(key, dev_dir) else { return false };
        for (t, slots) in &tokens {
            match tpm::unseal_token(&mut dev, t, Some(pin)) {
                Ok(pass) => {
                    if let Outcome::Opened(_) = self.open_slots(d, open, &pass, Some(slots), dev_dir, loader) {
                        return true;
                    }
                }
                Err(e) if e.wrong_pin() => {
                    self.tpm_why.insert(key, "the TPM refused the PIN (it counts against its lockout)".into());
                }
                Err(e) if e.lockout() => {
                    // No PIN is tried again on this boot: each would only answer the same.
                    self.locked_out = true;
                    self.tpm_why.insert(key, format!("the TPM did not unseal it: {e}"));
                }
                Err(e) => {
                    self.tpm_why.insert(key, format!("the TPM did not unseal it: {e}"));
                }
            }
        }
        false
    }

    #[cfg(not(feature = "luks"))]
    fn try_pin(&mut self, _: &BlockDev, _: &Open, _: &[u8], _: &Path, _: Option<&Loader>) -> bool {
        false
    }

    /// Before a shell opens: the PCRs every TPM2 token of the containers among `devs` binds are
    /// extended with "rdbreak: shell opened", so none of them unseals again on this boot (and the
    /// TPM is not asked again by rdbreak). Returns the lines to say.
    #[cfg(feature = "luks")]
    pub fn before_shell(&mut self, devs: &[BlockDev], dev_dir: &Path) -> Vec<String> {
        self.shell_opened = true;
        let mut all = Vec::new();
        let mut nodes = Vec::new();
        for d in devs.iter().filter(|d| d.fs.as_ref().is_some_and(|f| f.fstype == "crypto_LUKS")) {
            if let Ok(h) = self.header(d, dev_dir) {
                if !tokens::pcrs_to_extend(&h.tokens).is_empty() {
                    nodes.push(d.node().display().to_string());
                }
                all.extend(h.tokens.iter().cloned());
            }
        }
        let pcrs = tokens::pcrs_to_extend(&all);
        if pcrs.is_empty() {
            return Vec::new();
        }
        let mut dev = match tpm::Device::open(dev_dir) {
            Ok(t) => t,
            Err(why) => {
                return vec![format!(
                    "the TPM2 tokens of {} are not sealed off before the shell: {why}",
                    nodes.join(", ")
                )]
            }
        };
        match tpm::extend(&mut dev, &pcrs) {
            Ok(done) => vec![format!(
                "extended PCRs {} with \"{}\" before the shell: the TPM2 tokens of {} do not unseal again until a reboot",
                done.join(", "),
                tpm::SHELL_EVENT,
                nodes.join(", ")
            )],
            Err(why) => vec![format!("the TPM2 tokens of {} are not sealed off before the shell: {why}", nodes.join(", "))],
        }
    }

    #[cfg(not(feature = "luks"))]
    pub fn before_shell(&mut self, _: &[BlockDev], _: &Path) -> Vec<String> {
        self.shell_opened = true;
        Vec::new()
    }

    /// Asks no more for this container (tries used up, Ctrl-C): the shell opens it by hand.
    pub fn give_up(&mut self, devno: (u32, u32), why: &str) {
        self.given_up.insert(devno, why.to_string());
    }

    /// Reads the header, unlocks a keyslot with `secret` and makes the mapping.
    fn open_with(
        &mut self,
        d: &BlockDev,
        open: &Open,
        secret: &[u8],
        dev_dir: &Path,
        loader: Option<&Loader>,
    ) -> Outcome {
        self.open_slots(d, open, secret, None, dev_dir, loader)
    }

    /// [`Containers::open_with`] trying only the keyslots `slots` names (a token's), if given.
    fn open_slots(
        &mut self,
        d: &BlockDev,
        open: &Open,
        secret: &[u8],
        slots: Option<&[u32]>,
        dev_dir: &Path,
        loader: Option<&Loader>,
    ) -> Outcome {
        let node = d.node().display().to_string();
        let mut header = match self.header(d, dev_dir) {
            Ok(h) => h.clone(),
            Err(e) => return Outcome::Failed(format!("{node}: {e}")),
        };
        if let Some(slots) = slots {
            // A token's keyslot is tried whatever its priority; no other is.
            header.keyslots.retain(|k| slots.contains(&k.id));
            header.keyslots.iter_mut().for_each(|k| k.priority = k.priority.max(1));
        }
        match open_device(&header, d, open, secret, dev_dir, loader) {
            Ok(name) => {
                log::info!("opened LUKS{} {node} as /dev/mapper/{name}", header.version);
                self.opened.insert((d.major, d.minor));
                Outcome::Opened(name)
            }
            Err(Error::WrongPassphrase) => Outcome::Wrong,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

/// Keyslot ids as a list: `1` or `1, 3`.
#[cfg(feature = "luks")]
fn slot_list(slots: &[u32]) -> String {
    slots.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// What to add to an image so that stock dracut's init unlocks a token of this type.
fn token_advice(kind: &str) -> &'static str {
    match kind {
        // The crypttab option too: the hand-off is decided before any header can be read.
        "systemd-tpm2" => "rebuild the image with dracut's systemd and tpm2-tss modules and tpm2-device=auto in its /etc/crypttab to unlock it without a passphrase",
        "systemd-fido2" => "rebuild the image with dracut's systemd and fido2 modules and fido2-device=auto in its /etc/crypttab to unlock it with the key",
        "systemd-pkcs11" => "rebuild the image with dracut's systemd and pkcs11 modules and pkcs11-uri=auto in its /etc/crypttab to unlock it with the token",
        "clevis" => "rebuild the image with dracut's clevis module (clevis-dracut; clevis-pin-tpm2 or network for tang) to unlock it without a passphrase",
        _ => "rdbreak does not know this token type",
    }
}

/// One line on a container whose header has tokens that unlock without a typed passphrase
/// (a recovery key is typed: not one of them), and what the boot does instead: `summaries` is
/// [`luks::Header::token_summaries`], `auto` the break-glass decision, `tpm` why its
/// systemd-tpm2 tokens did not open it (rdbreak unseals those itself). None when it has none.
pub fn token_note(
    version: u8,
    node: &str,
    summaries: &[(String, String)],
    auto: &Result<(), String>,
    tpm: Option<&str>,
) -> Option<String> {
    let shown: Vec<&(String, String)> = summaries.iter().filter(|(kind, _)| kind != "systemd-recovery").collect();
    let native = |kind: &str| kind == "systemd-tpm2";
    let mut whys: Vec<String> = Vec::new();
    if shown.iter().any(|(kind, _)| native(kind)) {
        match (tpm, auto) {
            (Some(why), _) => whys.push(why.to_string()),
            (None, Err(why)) => whys.push(format!("not unsealed: {why}")),
            (None, Ok(())) => {}
        }
    }
    let others: Vec<&&(String, String)> = shown.iter().filter(|(kind, _)| !native(kind)).collect();
    if !others.is_empty() {
        let it = if others.len() == 1 { "it" } else { "them" };
        let mut advice: Vec<&str> = Vec::new();
        for (kind, _) in &others {
            let a = token_advice(kind);
            if !advice.contains(&a) {
                advice.push(a);
            }
        }
        match auto {
            // Said first: even an image that could unseal it would not on this boot.
            Err(why) if others.iter().any(|(kind, _)| luks_rules::break_glass::unattended(kind)) => {
                let w = format!("not unsealed: {why}");
                if !whys.contains(&w) {
                    whys.push(w);
                }
            }
            _ => {
                let what: Vec<&str> = others.iter().map(|(kind, _)| kind.as_str()).collect();
                let mut what_unique: Vec<&str> = Vec::new();
                what.iter().for_each(|w| {
                    if !what_unique.contains(w) {
                        what_unique.push(w)
                    }
                });
                whys.push(format!("rdbreak cannot unseal {it} ({}); {}", what_unique.join(", "), advice.join("; ")))
            }
        }
    }
    if whys.is_empty() {
        return None;
    }
    let what: Vec<&str> = shown.iter().map(|(_, line)| line.as_str()).collect();
    Some(format!(
        "LUKS{version} {node} has {}: {}; asking for the passphrase or recovery key",
        what.join(" and "),
        whys.join("; ")
    ))
}

/// What the boot does after one passphrase was tried on every locked container.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Something was opened: scan again.
    Opened,
    /// Wrong for the container asked about: say so and ask again.
    Again(String),
    /// Stop asking for it and open the shell with this message.
    Shell(String),
}

/// The pure decision after an answer for `asked` (as it was before this try).
pub fn verdict(asked: &Locked, results: &[(Locked, Outcome)]) -> Verdict {
    let by_hand = format!(
        "Open it by hand in the shell: cryptsetup open {} {}\nthen type exit to go on booting.",
        asked.node, asked.name
    );
    let mine = results.iter().find(|(l, _)| l.devno == asked.devno).map(|(_, o)| o);
    if let Some(Outcome::Failed(e)) = mine {
        return Verdict::Shell(format!("Cannot open LUKS device {} ({}): {e}\n{by_hand}", asked.node, asked.name));
    }
    if results.iter().any(|(_, o)| matches!(o, Outcome::Opened(_))) {
        return Verdict::Opened;
    }
    let used = asked.wrong + 1;
    if asked.tries != 0 && used >= asked.tries {
        return Verdict::Shell(format!(
            "No key available with these passphrases for LUKS device {} ({}): {used} wrong tries.\n{by_hand}",
            asked.node, asked.name
        ));
    }
    let of = if asked.tries == 0 { String::new() } else { format!(" (try {used} of {})", asked.tries) };
    Verdict::Again(format!("No key available with this passphrase{of}."))
}

/// Unlocks and maps one container: the one sequence the boot and the shell's `cryptsetup
/// open` share. Returns the mapping's name.
fn open_device(
    header: &luks::Header,
    d: &BlockDev,
    open: &Open,
    secret: &[u8],
    dev_dir: &Path,
    loader: Option<&Loader>,
) -> Result<String, Error> {
    let node = d.node().display().to_string();
    let file = File::open(dev_dir.join(&d.name)).map_err(|e| Error::open(&node, e))?;
    let mut read = |at: u64, buf: &mut [u8]| file.read_at(buf, at);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let key = match header.unlock(&mut read, secret, mem_available(&meminfo)) {
        Ok(k) => k,
        Err(luks::Error::WrongPassphrase { .. }) => return Err(Error::WrongPassphrase),
        Err(source) => return Err(Error::Device { node, source }),
    };
    let discards = open.allow_discards || header.flags.iter().any(|f| f == "allow-discards");
    let target = header
        .crypt_target(&key, &d.devno(), d.size_bytes / 512, discards)
        .map_err(|source| Error::Device { node: node.clone(), source })?;
    drop(key);
    let ctl = dm::control(dev_dir, loader)?;
    if let Some(loader) = loader {
        loader.request_stack(&cipher_modules(&header.cipher), false);
    }
    let uuid = luks_rules::dm_uuid(header.version, &header.uuid, &open.name);
    ctl.activate(&open.name, Some(&uuid), std::slice::from_ref(&target), open.read_only).map_err(|e| {
        // Never the table in a message: it holds the key.
        let why = match e {
            dm::Error::BadTarget(_) => "the crypt table is malformed".to_string(),
            other => other.to_string(),
        };
        Error::Mapping { name: open.name.clone(), node: node.clone(), why, cipher: header.cipher.clone() }
    })?;
    Ok(open.name.clone())
}

/// The shell's `cryptsetup open`: unlocks `d` with `secret` and maps it as `name`.
pub fn open_by_hand(
    d: &BlockDev,
    name: &str,
    secret: &[u8],
    allow_discards: bool,
    read_only: bool,
    dev_dir: &Path,
    loader: Option<&Loader>,
) -> Result<String, Error> {
    let header = read_header_of(d, dev_dir)?;
    for n in &header.notes {
        log::warn!("LUKS {}: {n}", d.node().display());
    }
    let open = Open {
        name: name.to_string(),
        keys: Vec::new(),
        keyfile_offset: 0,
        keyfile_size: None,
        allow_discards,
        read_only,
        tries: 1,
        ignored: Vec::new(),
        token: Default::default(),
    };
    open_device(&header, d, &open, secret, dev_dir, loader)
}

fn read_header_of(d: &BlockDev, dev_dir: &Path) -> Result<luks::Header, Error> {
    let node = d.node().display().to_string();
    let file = File::open(dev_dir.join(&d.name)).map_err(|e| Error::open(&node, e))?;
    let mut read = |at: u64, buf: &mut [u8]| file.read_at(buf, at);
    luks::read_header(&mut read, d.size_bytes).map_err(|source| Error::Device { node, source })
}

/// `cryptsetup luksDump`: the header, no key material.
pub fn dump(d: &BlockDev, dev_dir: &Path) -> Result<String, Error> {
    read_header_of(d, dev_dir).map(|h| h.dump())
}

#[cfg(test)]
mod tests;
