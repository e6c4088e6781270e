//! Opening a keyslot: the KDF of the secret (PBKDF2 or Argon2, its memory checked against
//! what the machine has first), the keyslot area decrypted with that key (AES in XTS or CBC
//! with a plain64/plain/ESSIV IV, per 512-byte sector from the start of the area), the
//! anti-forensic split merged back (LUKS1 spec §2.4), and the result checked against the
//! header's digest. Every intermediate key lives in a zeroizing buffer.

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use zeroize::{Zeroize, Zeroizing};

use super::argon2::{Argon2, Fail, Kind};
use super::{alloc, read_exact, within, Error, Header, Kdf, Keyslot, Read, VolumeKey, MAX_AF_BYTES, SECTOR};

/// Memory left for everything else while Argon2 runs.
/// A LUKS sector (`SECTOR`) as a length.
const SECTOR_BYTES: usize = 512;
const _: () = assert!(SECTOR_BYTES as u64 == SECTOR);

const ARGON2_HEADROOM: u64 = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn by_name(name: &str) -> Option<Hash> {
        Some(match name.to_ascii_lowercase().as_str() {
            "sha1" => Hash::Sha1,
            "sha224" => Hash::Sha224,
            "sha256" => Hash::Sha256,
            "sha384" => Hash::Sha384,
            "sha512" => Hash::Sha512,
            _ => return None,
        })
    }

    fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// H(a || b), truncated or whole, into `out` (at most `len()` bytes).
    fn hash2(self, a: &[u8], b: &[u8], out: &mut [u8]) {
        fn run<D: sha2::Digest>(a: &[u8], b: &[u8], out: &mut [u8]) {
            let mut h = D::new().chain_update(a).chain_update(b).finalize();
            let n = out.len().min(h.len());
            out[..n].copy_from_slice(&h[..n]);
            h.zeroize();
        }
        match self {
            Hash::Sha1 => run::<sha1::Sha1>(a, b, out),
            Hash::Sha224 => run::<sha2::Sha224>(a, b, out),
            Hash::Sha256 => run::<sha2::Sha256>(a, b, out),
            Hash::Sha384 => run::<sha2::Sha384>(a, b, out),
            Hash::Sha512 => run::<sha2::Sha512>(a, b, out),
        }
    }
}

/// PBKDF2-HMAC with the hash named as LUKS names it (`sha256`), filling `out`.
pub fn pbkdf2(hash: &str, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) -> Result<(), Error> {
    if iterations == 0 {
        return Err(Error::Bad("PBKDF2 with 0 iterations".into()));
    }
    match Hash::by_name(hash).ok_or_else(|| Error::Unsupported(format!("the hash {hash:?}")))? {
        Hash::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, out),
        Hash::Sha224 => pbkdf2::pbkdf2_hmac::<sha2::Sha224>(password, salt, iterations, out),
        Hash::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, out),
        Hash::Sha384 => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, salt, iterations, out),
        Hash::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, out),
    }
    Ok(())
}

/// The AF diffusion: each hash-sized block `j` of `buf` becomes H(be32(j) || block).
#[allow(clippy::cast_possible_truncation, reason = "j counts hash blocks of at most MAX_AF_BYTES")]
fn diffuse(hash: Hash, buf: &mut [u8]) {
    let mut tmp = Zeroizing::new([0u8; 64]);
    for (j, chunk) in buf.chunks_mut(hash.len()).enumerate() {
        hash.hash2(&(j as u32).to_be_bytes(), chunk, &mut tmp[..chunk.len()]);
        chunk.copy_from_slice(&tmp[..chunk.len()]);
    }
}

/// Merges `stripes` anti-forensic stripes of `key_bytes` each (the start of `material`) into
/// the key they split.
pub fn af_merge(material: &[u8], key_bytes: usize, stripes: u32, hash: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let h = Hash::by_name(hash).ok_or_else(|| Error::Unsupported(format!("the AF hash {hash:?}")))?;
    let need =
        (key_bytes as u64).checked_mul(u64::from(stripes)).filter(|&n| n <= material.len() as u64 && stripes > 0);
    if need.is_none() {
        return Err(Error::Bad(format!(
            "{stripes} stripes of {key_bytes} bytes in {} bytes of key material",
            material.len()
        )));
    }
    let mut d = Zeroizing::new(alloc(key_bytes, "the AF merge")?);
    for (i, stripe) in material.chunks_exact(key_bytes).take(stripes as usize).enumerate() {
        for (x, y) in d.iter_mut().zip(stripe) {
            *x ^= y;
        }
        if i + 1 < stripes as usize {
            diffuse(h, &mut d);
        }
    }
    Ok(d)
}

/// AES of any key size, one 16-byte block at a time.
enum Aes {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl Aes {
    fn new(key: &[u8]) -> Option<Aes> {
        Some(match key.len() {
            16 => Aes::A128(aes::Aes128::new_from_slice(key).ok()?),
            24 => Aes::A192(aes::Aes192::new_from_slice(key).ok()?),
            32 => Aes::A256(aes::Aes256::new_from_slice(key).ok()?),
            _ => return None,
        })
    }
    fn encrypt(&self, b: &mut [u8; 16]) {
        let mut blk = aes::Block::from(*b);
        match self {
            Aes::A128(c) => c.encrypt_block(&mut blk),
            Aes::A192(c) => c.encrypt_block(&mut blk),
            Aes::A256(c) => c.encrypt_block(&mut blk),
        }
        b.copy_from_slice(&blk);
    }
    fn decrypt(&self, b: &mut [u8; 16]) {
        let mut blk = aes::Block::from(*b);
        match self {
            Aes::A128(c) => c.decrypt_block(&mut blk),
            Aes::A192(c) => c.decrypt_block(&mut blk),
            Aes::A256(c) => c.decrypt_block(&mut blk),
        }
        b.copy_from_slice(&blk);
    }
}

fn xor16(a: &mut [u8; 16], b: &[u8; 16]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// Multiplies the XTS tweak by α in GF(2^128), little-endian as IEEE 1619 has it.
fn xts_double(t: &mut [u8; 16]) {
    let v = u128::from_le_bytes(*t);
    let carry = (v >> 127) as u8;
    *t = ((v << 1) ^ (u128::from(carry) * 0x87)).to_le_bytes();
}

/// Decrypts a keyslot area in place with its dm-crypt cipher spec (`aes-xts-plain64`,
/// `aes-cbc-essiv:sha256`, `aes-cbc-plain64`), sector 0 being its first 512 bytes.
pub(super) fn decrypt_area(spec: &str, key: &[u8], data: &mut [u8]) -> Result<(), Error> {
    decrypt("keyslot cipher", spec, key, 0, SECTOR_BYTES, data)
}

/// Decrypts `data` in place as dm-crypt does: in crypt sectors of `sector_size` bytes (512 to
/// 4096, a power of two), the IV of each the number of its first 512-byte sector, the first
/// being `first` (the segment's `iv_tweak` plus its place in the data).
pub fn decrypt_sectors(spec: &str, key: &[u8], first: u64, sector_size: usize, data: &mut [u8]) -> Result<(), Error> {
    decrypt("cipher", spec, key, first, sector_size, data)
}

fn decrypt(what: &str, spec: &str, key: &[u8], first: u64, sector_size: usize, data: &mut [u8]) -> Result<(), Error> {
    let unsupported = || Error::Unsupported(format!("the {what} {spec:?} with a {}-bit key", key.len() * 8));
    let mut parts = spec.splitn(3, '-');
    let (cipher, mode, iv) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let sized = sector_size.is_power_of_two() && (SECTOR_BYTES..=4096).contains(&sector_size);
    if cipher != "aes" || !sized || !data.len().is_multiple_of(sector_size) {
        return Err(unsupported());
    }
    let per = (sector_size / SECTOR_BYTES) as u64;
    let number = |n: usize| first.wrapping_add(n as u64 * per);
    let iv_of = |sector: u64| -> Option<[u8; 16]> {
        let mut b = [0u8; 16];
        match iv {
            "plain64" => b[..8].copy_from_slice(&sector.to_le_bytes()),
            // The low 32 bits of the sector number, as dm-crypt's `plain`.
            "plain" => b[..4].copy_from_slice(&sector.to_le_bytes()[..4]),
            _ => return None,
        }
        Some(b)
    };
    let sectors = data.chunks_exact_mut(sector_size).enumerate();
    match mode {
        "xts" => {
            if !key.len().is_multiple_of(2) {
                return Err(unsupported());
            }
            let (k1, k2) = key.split_at(key.len() / 2);
            let (Some(data_key), Some(tweak_key)) = (Aes::new(k1), Aes::new(k2)) else { return Err(unsupported()) };
            iv_of(0).ok_or_else(unsupported)?;
            for (n, sector) in sectors {
                let mut t = iv_of(number(n)).unwrap_or_default();
                tweak_key.encrypt(&mut t);
                for block in sector.chunks_exact_mut(16) {
                    let mut b: [u8; 16] = block.try_into().unwrap_or_default();
                    xor16(&mut b, &t);
                    data_key.decrypt(&mut b);
                    xor16(&mut b, &t);
                    block.copy_from_slice(&b);
                    xts_double(&mut t);
                }
            }
        }
        "cbc" => {
            let c = Aes::new(key).ok_or_else(unsupported)?;
            let essiv = match iv.strip_prefix("essiv:") {
                Some(h) => {
                    let h = Hash::by_name(h).ok_or_else(unsupported)?;
                    let mut salt = Zeroizing::new(vec![0u8; h.len()]);
                    h.hash2(key, &[], &mut salt);
                    Some(Aes::new(&salt).ok_or_else(unsupported)?)
                }
                None => {
                    iv_of(0).ok_or_else(unsupported)?;
                    None
                }
            };
            for (n, sector) in sectors {
                let mut prev = match &essiv {
                    Some(e) => {
                        let mut b = [0u8; 16];
                        b[..8].copy_from_slice(&number(n).to_le_bytes());
                        e.encrypt(&mut b);
                        b
                    }
                    None => iv_of(number(n)).unwrap_or_default(),
                };
                for block in sector.chunks_exact_mut(16) {
                    let ct: [u8; 16] = block.try_into().unwrap_or_default();
                    let mut b = ct;
                    c.decrypt(&mut b);
                    xor16(&mut b, &prev);
                    block.copy_from_slice(&b);
                    prev = ct;
                }
            }
        }
        _ => return Err(unsupported()),
    }
    Ok(())
}

pub(super) struct Argon2Cost {
    pub id: bool,
    pub time: u32,
    pub memory_kib: u32,
    pub cpus: u32,
}

/// Argon2 (version 0x13) of `pwd` into `out`, its memory checked against `mem_available`
/// first and then reserved without aborting; `key` and `ad` are the optional secret and
/// associated data (empty for LUKS2, used by the RFC 9106 vectors).
#[allow(clippy::too_many_arguments)]
pub(super) fn argon2(
    slot: u32,
    cost: &Argon2Cost,
    key: &[u8],
    ad: &[u8],
    pwd: &[u8],
    salt: &[u8],
    out: &mut [u8],
    mem_available: u64,
) -> Result<(), Error> {
    let kdf = if cost.id { "argon2id" } else { "argon2i" };
    let (m, t, p) = (cost.memory_kib, cost.time, cost.cpus);
    let kind = if cost.id { Kind::Id } else { Kind::I };
    let params =
        |what| Error::Keyslot { slot, what: format!("{kdf} parameters memory={m} KiB time={t} cpus={p}: {what}") };
    let a = Argon2::new(kind, t, m, p).map_err(|f| params(f.to_string()))?;
    // What the hash fills: the declared memory rounded down to 4 blocks per lane.
    let need = a.memory_bytes();
    let fail = |f: Fail| match f {
        Fail::Params(what) => params(what),
        Fail::Memory => Error::Memory { slot, kdf, need_mib: need.div_ceil(1 << 20), have_mib: mem_available >> 20 },
    };
    if need.saturating_add(ARGON2_HEADROOM) > mem_available {
        return Err(fail(Fail::Memory));
    }
    // One thread per lane, up to the CPUs this process may use (libargon2 does the same).
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    a.hash(pwd, salt, key, ad, out, cpus).map_err(fail)
}

/// The keyslot's KDF output (its area key) from `secret`.
fn derive(slot: &Keyslot, secret: &[u8], mem_available: u64) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut key = Zeroizing::new(alloc(slot.area_key_bytes, "a keyslot key")?);
    match &slot.kdf {
        Kdf::Pbkdf2 { hash, iterations, salt } => pbkdf2(hash, secret, salt, *iterations, &mut key)?,
        Kdf::Argon2 { id, time, memory_kib, cpus, salt } => {
            let cost = Argon2Cost { id: *id, time: *time, memory_kib: *memory_kib, cpus: *cpus };
            argon2(slot.id, &cost, &[], &[], secret, salt, &mut key, mem_available)?;
        }
    }
    Ok(key)
}

/// Opens one keyslot; `Ok(None)` when the secret is not its passphrase.
fn open_slot(
    h: &Header,
    slot: &Keyslot,
    read: &mut Read<'_>,
    secret: &[u8],
    mem: u64,
) -> Result<Option<VolumeKey>, Error> {
    let ks = |what: String| Error::Keyslot { slot: slot.id, what };
    let digest =
        h.digests.iter().find(|d| d.keyslots.contains(&slot.id)).ok_or_else(|| ks("no digest covers it".into()))?;
    let af_bytes = slot.key_bytes as u64 * u64::from(slot.af_stripes);
    let read_len = af_bytes.div_ceil(SECTOR) * SECTOR;
    if read_len > slot.area_size.max(af_bytes) || read_len > MAX_AF_BYTES {
        return Err(ks(format!("{af_bytes} bytes of key material do not fit its {}-byte area", slot.area_size)));
    }
    let key = derive(slot, secret, mem)?;
    let mut material = Zeroizing::new(alloc(within(read_len, usize::MAX), "the keyslot area")?);
    read_exact(read, "the keyslot area", slot.area_offset, &mut material)?;
    decrypt_area(&slot.area_cipher, &key, &mut material)?;
    let vk = af_merge(&material, slot.key_bytes, slot.af_stripes, &slot.af_hash)?;
    let mut check = Zeroizing::new(alloc(digest.digest.len(), "the digest")?);
    pbkdf2(&digest.hash, &vk, &digest.salt, digest.iterations, &mut check)?;
    let same = check.iter().zip(&digest.digest).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    Ok((same && !digest.digest.is_empty()).then(|| VolumeKey::new(vk)))
}

pub fn unlock(h: &Header, read: &mut Read<'_>, secret: &[u8], mem_available: u64) -> Result<VolumeKey, Error> {
    let order = h.try_order();
    if order.is_empty() {
        let why = if h.keyslots.is_empty() { String::new() } else { " (every keyslot has priority 0)".into() };
        return Err(Error::NoKeyslot(why));
    }
    let mut wrong = Vec::new();
    let mut other: Option<Error> = None;
    let mut memory: Option<Error> = None;
    for slot in order {
        match open_slot(h, slot, read, secret, mem_available) {
            Ok(Some(vk)) => {
                log::info!("LUKS {}: keyslot {} opened", h.uuid, slot.id);
                return Ok(vk);
            }
            Ok(None) => wrong.push(slot.id.to_string()),
            Err(e @ Error::Memory { .. }) => {
                memory.get_or_insert(e);
            }
            Err(e) => {
                log::warn!("LUKS {}: {e}", h.uuid);
                other.get_or_insert(e);
            }
        }
    }
    if let Some(e) = memory {
        return Err(e);
    }
    match other {
        Some(e) if wrong.is_empty() => Err(e),
        Some(e) => Err(Error::WrongPassphrase { tried: format!("keyslots {}; {e}", wrong.join(", ")) }),
        None => Err(Error::WrongPassphrase {
            tried: format!("keyslot{} {}", if wrong.len() > 1 { "s" } else { "" }, wrong.join(", ")),
        }),
    }
}
