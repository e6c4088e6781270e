//! LUKS1 and LUKS2 containers without cryptsetup: the header read into one typed [`Header`]
//! (LUKS2: both binary copies checked, the secondary used when the primary is damaged), a
//! keyslot opened with a passphrase or keyfile bytes (KDF, keyslot-area decryption, AF merge,
//! digest check) into a [`VolumeKey`], and the dm-crypt table cryptsetup would load for it.
//! Every size the disk declares is checked against the device and a cap before anything is
//! allocated; key material stays in zeroizing buffers and is never formatted by `Debug`.

mod argon2;
mod json;
mod keyslot;
mod luks1;
pub mod luks2;
pub mod tokens;

use std::fmt::{self, Write as _};
use std::io;

use thiserror::Error;
use zeroize::Zeroizing;

use crate::bytes::or_zero::{be32, be64};
use crate::storage::dm;
use crate::sys;

pub use keyslot::{af_merge, decrypt_sectors, pbkdf2};
pub use tokens::Token;

/// The positioned reader every function here takes: fill `buf` from byte `offset` of the
/// device, returning how many bytes were read (fewer only at its end).
pub type Read<'a> = dyn FnMut(u64, &mut [u8]) -> io::Result<usize> + 'a;

pub const MAGIC: &[u8; 6] = b"LUKS\xba\xbe";
pub const MAGIC_SECONDARY: &[u8; 6] = b"SKUL\xba\xbe";
const SECTOR: u64 = 512;
/// Volume keys longer than this are not believed (cryptsetup's own limit is 512 bytes).
pub const MAX_KEY_BYTES: usize = 512;
/// Anti-forensic material larger than this is not believed (4000 stripes × 512 bytes is 2 MB).
pub const MAX_AF_BYTES: u64 = 32 << 20;
/// cryptsetup writes 4000 stripes and accepts no other count; more than this is not believed
/// (each stripe costs a hash pass over the key when merging).
pub const MAX_STRIPES: u32 = 65536;

/// A parsed header, LUKS1 or LUKS2, in one shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub uuid: String,
    pub label: Option<String>,
    pub subsystem: Option<String>,
    /// The data cipher as dm-crypt names it: `aes-xts-plain64`.
    pub cipher: String,
    /// The volume key's length in bytes.
    pub key_bytes: usize,
    /// The encryption sector size of the data (512 for LUKS1).
    pub sector_size: u32,
    /// Where the encrypted data starts, in bytes from the start of the device.
    pub data_offset: u64,
    /// The data's length in bytes, or `None` for "dynamic" (to the end of the device).
    pub data_size: Option<u64>,
    /// The IV of the first data sector, in 512-byte sectors (LUKS2 `iv_tweak`).
    pub iv_tweak: u64,
    /// LUKS2 persistent flags (`allow-discards`, `same-cpu-crypt`, …).
    pub flags: Vec<String>,
    /// LUKS1: the hash of the header (PBKDF2 and AF). LUKS2: the checksum algorithm.
    pub hash: String,
    /// LUKS2: the size of one header copy (binary header + JSON area); LUKS1: 592.
    pub header_size: u64,
    pub seqid: u64,
    pub keyslots: Vec<Keyslot>,
    pub digests: Vec<Digest>,
    /// LUKS2 tokens (TPM2, FIDO2, PKCS#11, Clevis, …); none in LUKS1.
    pub tokens: Vec<Token>,
    /// What was noticed reading the header, for the log and the dump: a damaged primary
    /// header replaced by the secondary, unknown keyslot types skipped.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyslot {
    pub id: u32,
    /// 0 = ignored unless named, 1 = normal, 2 = tried first (LUKS2 `priority`).
    pub priority: u8,
    /// The volume key length this slot stores.
    pub key_bytes: usize,
    pub kdf: Kdf,
    pub af_stripes: u32,
    pub af_hash: String,
    /// The encrypted key material: byte offset and size on the device.
    pub area_offset: u64,
    pub area_size: u64,
    /// The cipher of the key material (`aes-xts-plain64`) and the key it needs, in bytes.
    pub area_cipher: String,
    pub area_key_bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kdf {
    Pbkdf2 { hash: String, iterations: u32, salt: Vec<u8> },
    Argon2 { id: bool, time: u32, memory_kib: u32, cpus: u32, salt: Vec<u8> },
}

impl Kdf {
    pub fn name(&self) -> &'static str {
        match self {
            Kdf::Pbkdf2 { .. } => "pbkdf2",
            Kdf::Argon2 { id: true, .. } => "argon2id",
            Kdf::Argon2 { id: false, .. } => "argon2i",
        }
    }
}

/// A check of the volume key: PBKDF2(`hash`, key, `salt`, `iterations`) must equal `digest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    pub keyslots: Vec<u32>,
    pub hash: String,
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub digest: Vec<u8>,
}

/// The volume key: locked in RAM (when the kernel allows), zeroed when dropped, never printed.
pub struct VolumeKey(Zeroizing<Vec<u8>>);

impl VolumeKey {
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> VolumeKey {
        // Swap is rarely on in an initramfs, but the shell can turn it on: best effort.
        let _ = sys::mlock(&bytes);
        VolumeKey(bytes)
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Lower-case hex, as dm-crypt tables and `luksDump --dump-volume-key` write it.
    pub fn hex(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(self.0.len() * 2));
        for b in self.0.iter() {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl fmt::Debug for VolumeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VolumeKey({} bytes)", self.0.len())
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    #[error("reading {what} at byte {at}: {err}")]
    Io { what: &'static str, at: u64, err: String },
    #[error("{what} at byte {at} is cut short: {got} of {need} bytes (is the device truncated?)")]
    Short { what: &'static str, at: u64, need: usize, got: usize },
    #[error("no LUKS header: no LUKS magic at byte 0 and no valid secondary LUKS2 header")]
    NotLuks,
    #[error("LUKS header: {0}")]
    Bad(String),
    #[error("LUKS2 header: {0}; restore a header backup (cryptsetup luksHeaderRestore) or try the other copy")]
    Damaged(String),
    #[error("{0} is not supported by rdbreak; open the device with cryptsetup from the root system")]
    Unsupported(String),
    #[error("no keyslot opens with this passphrase (tried {tried}); check the keyboard layout and Caps Lock, or try another key")]
    WrongPassphrase { tried: String },
    #[error("the header has no usable keyslot{0}")]
    NoKeyslot(String),
    #[error("keyslot {slot} needs {need_mib} MiB for {kdf}, this machine has {have_mib} MiB available; give the VM or machine more memory, or add a pbkdf2 keyslot (cryptsetup luksAddKey --pbkdf pbkdf2) from a system that can open it")]
    Memory { slot: u32, kdf: &'static str, need_mib: u64, have_mib: u64 },
    #[error("keyslot {slot}: {what}")]
    Keyslot { slot: u32, what: String },
    #[error("dm-crypt table: {0}")]
    Table(String),
}

/// Fills `buf` from `at`, looping over short reads; a read past the end is [`Error::Short`].
pub(crate) fn read_exact(read: &mut Read<'_>, what: &'static str, at: u64, buf: &mut [u8]) -> Result<(), Error> {
    let mut got = 0;
    while got < buf.len() {
        let pos = at.checked_add(got as u64).ok_or(Error::Short { what, at, need: buf.len(), got })?;
        match read(pos, &mut buf[got..]) {
            Ok(0) => return Err(Error::Short { what, at, need: buf.len(), got }),
            Ok(n) => got += n.min(buf.len() - got),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io { what, at: pos, err: e.to_string() }),
        }
    }
    Ok(())
}

/// A size the header declared, already checked against `cap`, as a usize (`cap` should it not
/// fit, which a checked size cannot).
pub(crate) fn within(v: u64, cap: usize) -> usize {
    usize::try_from(v).map_or(cap, |v| v.min(cap))
}

/// A zero-filled buffer of `n` bytes, refused rather than aborting when memory is short.
pub(crate) fn alloc(n: usize, what: &str) -> Result<Vec<u8>, Error> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::Bad(format!("cannot allocate {n} bytes for {what}")))?;
    v.resize(n, 0);
    Ok(v)
}

/// Reads the LUKS header of a device of `size` bytes.
pub fn read_header(read: &mut Read<'_>, size: u64) -> Result<Header, Error> {
    let mut first = [0u8; 4096];
    let n = (size.min(4096)) as usize;
    read_exact(read, "the LUKS header", 0, &mut first[..n])?;
    if first[..6] == *MAGIC && first[6..8] == [0, 1] {
        return luks1::parse(&first[..n], size);
    }
    luks2::read(read, size, &first[..n])
}

impl Header {
    /// The keyslots in the order they are tried: priority 2 first, then 1; 0 never.
    pub fn try_order(&self) -> Vec<&Keyslot> {
        let mut v: Vec<&Keyslot> = self.keyslots.iter().filter(|k| k.priority > 0).collect();
        crate::sort::sort_by_key(&mut v, |k| (std::cmp::Reverse(k.priority), k.id));
        v
    }

    /// Opens the volume key with `secret` (a passphrase or a keyfile's bytes), trying every
    /// keyslot. `mem_available` is the machine's free memory in bytes (`MemAvailable`), which
    /// an Argon2 keyslot's memory cost must fit in.
    pub fn unlock(&self, read: &mut Read<'_>, secret: &[u8], mem_available: u64) -> Result<VolumeKey, Error> {
        keyslot::unlock(self, read, secret, mem_available)
    }

    /// The one dm-crypt target for the data, as cryptsetup builds it: `crypt` with `cipher
    /// key_hex iv_offset device offset` and the optional features. `device` is `MAJ:MIN`,
    /// `device_sectors` its size in 512-byte sectors.
    pub fn crypt_target(
        &self,
        key: &VolumeKey,
        device: &str,
        device_sectors: u64,
        allow_discards: bool,
    ) -> Result<dm::Target, Error> {
        let table = |m: String| Error::Table(m);
        if key.len() != self.key_bytes {
            return Err(table(format!("the volume key has {} bytes, the header says {}", key.len(), self.key_bytes)));
        }
        if device.is_empty() || device.contains(char::is_whitespace) {
            return Err(table(format!("device {device:?} is not a MAJ:MIN or path")));
        }
        if self.cipher.is_empty() || self.cipher.contains(char::is_whitespace) {
            return Err(table(format!("cipher {:?} cannot be written into a table", self.cipher)));
        }
        let offset = self.data_offset / SECTOR;
        let length = match self.data_size {
            Some(bytes) => bytes / SECTOR,
            None => device_sectors.saturating_sub(offset),
        };
        if length == 0 || offset.checked_add(length).is_none_or(|end| end > device_sectors) {
            return Err(table(format!(
                "the data ({length} sectors at sector {offset}) does not fit a device of {device_sectors} sectors"
            )));
        }
        let ss = u64::from(self.sector_size.max(512)) / SECTOR;
        if length % ss != 0 {
            return Err(table(format!(
                "{length} sectors is not a multiple of the {}-byte crypt sector",
                self.sector_size
            )));
        }
        // cryptsetup's order (lib/libdevmapper.c); the LUKS2 flags map to dm-crypt's names.
        let mut opts: Vec<String> = Vec::new();
        let has = |f: &str| self.flags.iter().any(|x| x == f);
        if allow_discards || has("allow-discards") {
            opts.push("allow_discards".into());
        }
        for (flag, opt) in [
            ("same-cpu-crypt", "same_cpu_crypt"),
            ("submit-from-crypt-cpus", "submit_from_crypt_cpus"),
            ("no-read-workqueue", "no_read_workqueue"),
            ("no-write-workqueue", "no_write_workqueue"),
            ("high-priority", "high_priority"),
        ] {
            if has(flag) {
                opts.push(opt.into());
            }
        }
        if self.sector_size != 512 {
            opts.push(format!("sector_size:{}", self.sector_size));
        }
        let hex = key.hex();
        let mut params = Zeroizing::new(String::with_capacity(hex.len() + 128));
        let _ = write!(params, "{} {} {} {} {}", self.cipher, hex.as_str(), self.iv_tweak, device, offset);
        if !opts.is_empty() {
            let _ = write!(params, " {} {}", opts.len(), opts.join(" "));
        }
        Ok(dm::Target { start: 0, length, kind: "crypt".into(), params: std::mem::take(&mut *params) })
    }

    /// Each token's type and one line on it (`systemd-tpm2`, `a systemd-tpm2 token (PCRs 7,
    /// sha256)`), for the boot's messages.
    pub fn token_summaries(&self) -> Vec<(String, String)> {
        self.tokens.iter().map(|t| (t.kind.type_name().to_string(), t.to_string())).collect()
    }

    /// What `cryptsetup luksDump` says, without key material.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "LUKS header information");
        let _ = writeln!(s, "Version:       \t{}", self.version);
        if self.version == 2 {
            let _ = writeln!(s, "Epoch:         \t{}", self.seqid);
            let _ = writeln!(s, "Metadata area: \t{} [bytes]", self.header_size);
        }
        let _ = writeln!(s, "UUID:          \t{}", self.uuid);
        let _ = writeln!(s, "Label:         \t{}", self.label.as_deref().unwrap_or("(no label)"));
        let _ = writeln!(s, "Subsystem:     \t{}", self.subsystem.as_deref().unwrap_or("(no subsystem)"));
        let _ = writeln!(
            s,
            "Flags:         \t{}",
            if self.flags.is_empty() { "(no flags)".into() } else { self.flags.join(" ") }
        );
        let _ = writeln!(s, "Cipher:        \t{}", self.cipher);
        let _ = writeln!(s, "Key:           \t{} bits", self.key_bytes * 8);
        let _ = writeln!(s, "Sector size:   \t{}", self.sector_size);
        let _ = writeln!(s, "Data offset:   \t{} [bytes]", self.data_offset);
        let _ = writeln!(
            s,
            "Data length:   \t{}",
            self.data_size.map_or("(whole device)".to_string(), |b| format!("{b} [bytes]"))
        );
        let _ = writeln!(s, "IV tweak:      \t{}", self.iv_tweak);
        let _ = writeln!(s, "Keyslots:");
        for k in &self.keyslots {
            let _ = writeln!(s, "  {}: {} (priority {})", k.id, k.kdf.name(), k.priority);
            let _ = writeln!(s, "\tKey:        {} bits", k.key_bytes * 8);
            let _ = writeln!(s, "\tCipher:     {} ({} bits)", k.area_cipher, k.area_key_bytes * 8);
            match &k.kdf {
                Kdf::Pbkdf2 { hash, iterations, .. } => {
                    let _ = writeln!(s, "\tHash:       {hash}\n\tIterations: {iterations}");
                }
                Kdf::Argon2 { time, memory_kib, cpus, .. } => {
                    let _ = writeln!(s, "\tTime cost:  {time}\n\tMemory:     {memory_kib} KiB\n\tThreads:    {cpus}");
                }
            }
            let _ = writeln!(s, "\tAF stripes: {} ({})", k.af_stripes, k.af_hash);
            let _ = writeln!(s, "\tArea:       {} bytes at byte {}", k.area_size, k.area_offset);
        }
        let _ = writeln!(s, "Digests:");
        for (i, d) in self.digests.iter().enumerate() {
            let ids: Vec<String> = d.keyslots.iter().map(u32::to_string).collect();
            let _ = writeln!(s, "  {i}: pbkdf2 {} {} iterations, keyslots {}", d.hash, d.iterations, ids.join(","));
        }
        if !self.tokens.is_empty() {
            tokens::dump(&self.tokens, &mut s);
        }
        for n in &self.notes {
            let _ = writeln!(s, "Note: {n}");
        }
        s
    }
}

/// A NUL-padded field as text (`None` when empty).
fn field(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as a whole device, then the same
/// bytes with both LUKS2 copies' checksums made right (random mutations never keep a sha256).
/// Never panics.
pub fn fuzz_one(data: &[u8]) {
    fuzz_device(data);
    let mut fixed = data.to_vec();
    for at in [0, 16384] {
        luks2::fix_checksum(&mut fixed, at);
    }
    fuzz_device(&fixed);
}

/// `data` as a device: its header read as PID 1 reads it, then the dump, the table and, when
/// every cost the header names is small (a hostile cost is a slow boot, not a crash: the
/// memory check is what is fuzzed), the unlock.
fn fuzz_device(data: &[u8]) {
    let mut read = |off: u64, buf: &mut [u8]| -> io::Result<usize> {
        let rest = usize::try_from(off).ok().and_then(|o| data.get(o..)).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    };
    let Ok(h) = read_header(&mut read, data.len() as u64) else { return };
    let _ = h.dump();
    let key = VolumeKey::new(Zeroizing::new(vec![0; h.key_bytes]));
    let _ = h.crypt_target(&key, "8:1", data.len() as u64 / 512, true);
    let cheap = |iterations: u32| iterations <= 64;
    let ok = h.digests.iter().all(|d| cheap(d.iterations))
        && h.keyslots.iter().all(|k| match &k.kdf {
            Kdf::Pbkdf2 { iterations, .. } => cheap(*iterations),
            Kdf::Argon2 { time, .. } => *time <= 4,
        });
    if ok {
        // 17 MiB "available": Argon2 beyond 1 MiB is refused by the memory check.
        let _ = h.unlock(&mut read, b"passphrase", 17 << 20);
    }
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
