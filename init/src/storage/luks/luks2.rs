//! The LUKS2 header (cryptsetup docs/on-disk-format-luks2.pdf): two copies of a 4 KiB binary
//! header followed by a JSON area, each checksummed; the JSON names keyslots, segments,
//! digests and config. The primary copy sits at 0, the secondary right after it, at one of the
//! sizes cryptsetup allows (16 KiB … 4 MiB).

use sha2::Digest as _;

use super::json::{self, Value};
use super::{
    alloc, be64, field, read_exact, tokens, within, Digest, Error, Header, Kdf, Keyslot, Read, MAGIC, MAGIC_SECONDARY,
    MAX_AF_BYTES, MAX_KEY_BYTES, MAX_STRIPES, SECTOR,
};

const BIN_SIZE: usize = 4096;
const CSUM_AT: usize = 448;
const CSUM_LEN: usize = 64;
/// Where cryptsetup looks for the secondary header: every allowed header size.
pub const AREAS: [u64; 9] = [0x4000, 0x8000, 0x1_0000, 0x2_0000, 0x4_0000, 0x8_0000, 0x10_0000, 0x20_0000, 0x40_0000];
/// Salts and digests longer than this are not believed.
const MAX_SALT: usize = 256;
/// More keyslots, digests or segments than this are not believed (cryptsetup allows 32).
const MAX_ITEMS: usize = 64;

/// One checked header copy.
struct Copy {
    bin: [u8; BIN_SIZE],
    json: Value,
}

/// Why one LUKS2 header copy is not used: no copy at all where one was looked for, or one that
/// fails a check (the text says which).
#[derive(Debug, thiserror::Error)]
enum CopyError {
    #[error("no magic at byte {0}")]
    NoMagic(u64),
    #[error("{0}")]
    Bad(String),
}

/// Reads and checks the copy at `at` with the magic `magic`.
fn read_copy(
    read: &mut Read<'_>,
    size: u64,
    at: u64,
    magic: &[u8; 6],
    first: Option<&[u8]>,
) -> Result<Copy, CopyError> {
    let mut bin = [0u8; BIN_SIZE];
    match first {
        Some(b) if b.len() == BIN_SIZE => bin.copy_from_slice(b),
        Some(b) => return Err(CopyError::Bad(format!("the device holds only {} bytes", b.len()))),
        None => read_exact(read, "the LUKS2 header", at, &mut bin).map_err(|e| CopyError::Bad(e.to_string()))?,
    }
    if bin[..6] != *magic {
        return Err(CopyError::NoMagic(at));
    }
    let version = u16::from_be_bytes([bin[6], bin[7]]);
    if version != 2 {
        return Err(CopyError::Bad(format!("version {version} at byte {at}")));
    }
    let hdr_size = be64(&bin, 8);
    if !AREAS.contains(&hdr_size) {
        return Err(CopyError::Bad(format!(
            "header size {hdr_size} at byte {at} (16 KiB to 4 MiB, a power of two, expected)"
        )));
    }
    let hdr_offset = be64(&bin, 256);
    if hdr_offset != at {
        return Err(CopyError::Bad(format!("the copy at byte {at} says it is at byte {hdr_offset}")));
    }
    if at.checked_add(hdr_size).is_none_or(|end| end > size) {
        return Err(CopyError::Bad(format!(
            "the {hdr_size}-byte header at byte {at} runs past the device's {size} bytes"
        )));
    }
    let alg = field(&bin[72..104]).unwrap_or_default();
    let mut area = alloc(within(hdr_size, 4 << 20) - BIN_SIZE, "the LUKS2 JSON area")
        .map_err(|e| CopyError::Bad(e.to_string()))?;
    read_exact(read, "the LUKS2 JSON area", at + BIN_SIZE as u64, &mut area)
        .map_err(|e| CopyError::Bad(e.to_string()))?;
    let mut zeroed = bin;
    zeroed[CSUM_AT..CSUM_AT + CSUM_LEN].fill(0);
    let sum: Vec<u8> = match alg.as_str() {
        "sha256" => sha2::Sha256::new().chain_update(zeroed).chain_update(&area).finalize().to_vec(),
        "sha512" => sha2::Sha512::new().chain_update(zeroed).chain_update(&area).finalize().to_vec(),
        "sha1" => sha1::Sha1::new().chain_update(zeroed).chain_update(&area).finalize().to_vec(),
        other => return Err(CopyError::Bad(format!("checksum algorithm {other:?} at byte {at}"))),
    };
    if bin[CSUM_AT..CSUM_AT + sum.len()] != sum[..] {
        return Err(CopyError::Bad(format!("the {alg} checksum of the header at byte {at} does not match")));
    }
    let end = area.iter().position(|&c| c == 0).unwrap_or(area.len());
    let text = std::str::from_utf8(&area[..end])
        .map_err(|e| CopyError::Bad(format!("JSON at byte {at} is not UTF-8 ({e})")))?;
    let json = json::parse(text).map_err(|e| CopyError::Bad(format!("JSON of the header at byte {at}: {e}")))?;
    Ok(Copy { bin, json })
}

/// Reads a LUKS2 header: the primary (whose first 4 KiB are `first`) if it checks out, else
/// the first valid secondary; when both are valid the one with the higher seqid wins, as in
/// cryptsetup.
pub fn read(read: &mut Read<'_>, size: u64, first: &[u8]) -> Result<Header, Error> {
    let primary = read_copy(read, size, 0, MAGIC, Some(first));
    let mut notes = Vec::new();
    let chosen = match primary {
        Ok(p) => {
            let at = be64(&p.bin, 8);
            match read_copy(read, size, at, MAGIC_SECONDARY, None) {
                Ok(s) if be64(&s.bin, 16) > be64(&p.bin, 16) => {
                    notes.push(format!("the secondary header at byte {at} is newer than the primary: used"));
                    s
                }
                Ok(_) => p,
                Err(e) => {
                    notes.push(format!("the secondary header is damaged ({e}): the primary is used"));
                    p
                }
            }
        }
        Err(pe) => {
            if first.get(..6) != Some(MAGIC.as_slice()) && !AREAS.iter().any(|&a| has_secondary(read, a)) {
                return Err(Error::NotLuks);
            }
            let mut found = None;
            let mut why = Vec::new();
            for &at in &AREAS {
                match read_copy(read, size, at, MAGIC_SECONDARY, None) {
                    Ok(s) => {
                        found = Some((at, s));
                        break;
                    }
                    Err(CopyError::NoMagic(_)) => {}
                    Err(e) => why.push(e.to_string()),
                }
            }
            let Some((at, s)) = found else {
                let why = if why.is_empty() { "no secondary header found".to_string() } else { why.join("; ") };
                return Err(Error::Damaged(format!(
                    "the primary header is damaged ({pe}) and so is the secondary ({why})"
                )));
            };
            // Said once, with the device's name, by whoever reads the header (the boot's
            // unlock, luksDump): a note, not a log line here.
            notes.push(format!("the primary header is damaged ({pe}): the secondary header at byte {at} is used"));
            s
        }
    };
    from_json(&chosen.bin, &chosen.json, size, notes)
}

fn has_secondary(read: &mut Read<'_>, at: u64) -> bool {
    let mut m = [0u8; 6];
    read_exact(read, "the LUKS2 header", at, &mut m).is_ok() && m == *MAGIC_SECONDARY
}

fn bad(m: String) -> Error {
    Error::Bad(m)
}

fn num(v: &Value, key: &str, what: &str) -> Result<u64, Error> {
    v.get(key).and_then(Value::as_u64).ok_or_else(|| bad(format!("{what}: {key} missing or not a number")))
}

fn text(v: &Value, key: &str, what: &str) -> Result<String, Error> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| bad(format!("{what}: {key} missing or not a string")))
}

fn b64(v: &Value, key: &str, what: &str) -> Result<Vec<u8>, Error> {
    let s = text(v, key, what)?;
    json::base64(&s, MAX_SALT).ok_or_else(|| bad(format!("{what}: {key} is not base64 of at most {MAX_SALT} bytes")))
}

fn small<T: TryFrom<u64>>(v: u64, max: u64, what: String) -> Result<T, Error> {
    T::try_from(v).ok().filter(|_| v <= max).ok_or_else(|| bad(format!("{what} {v} (at most {max})")))
}

/// The id list of a digest (`["0", "1"]`).
fn ids(v: &Value, key: &str, what: &str) -> Result<Vec<u32>, Error> {
    let a = v.get(key).and_then(Value::as_array).ok_or_else(|| bad(format!("{what}: {key} is not a list")))?;
    if a.len() > MAX_ITEMS {
        return Err(bad(format!("{what}: {} {key}", a.len())));
    }
    a.iter()
        .map(|x| {
            x.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| bad(format!("{what}: {key} holds a bad id")))
        })
        .collect()
}

fn items<'a>(json: &'a Value, key: &str) -> Result<Vec<(u32, &'a Value)>, Error> {
    let m = json.get(key).and_then(Value::as_object).ok_or_else(|| bad(format!("the JSON has no {key} object")))?;
    if m.len() > MAX_ITEMS {
        return Err(bad(format!("{} {key} (at most {MAX_ITEMS})", m.len())));
    }
    let mut out = Vec::new();
    for (k, v) in m {
        let id = k.parse::<u32>().map_err(|_| bad(format!("{key} id {k:?} is not a number")))?;
        out.push((id, v));
    }
    crate::sort::sort_by_key(&mut out, |(id, _)| *id);
    Ok(out)
}

fn keyslot(id: u32, v: &Value, size: u64) -> Result<Keyslot, Error> {
    let what = format!("keyslot {id}");
    let key_bytes = num(v, "key_size", &what)?;
    if key_bytes == 0 || key_bytes > MAX_KEY_BYTES as u64 {
        return Err(bad(format!("{what}: key size {key_bytes} bytes (1 to {MAX_KEY_BYTES} expected)")));
    }
    let af = v.get("af").ok_or_else(|| bad(format!("{what}: no af")))?;
    if text(af, "type", &what)? != "luks1" {
        return Err(Error::Unsupported(format!("{what}: anti-forensic type {:?}", text(af, "type", &what)?)));
    }
    let stripes = small(num(af, "stripes", &what)?, u64::from(MAX_STRIPES), format!("{what}: stripes"))?;
    let area = v.get("area").ok_or_else(|| bad(format!("{what}: no area")))?;
    if text(area, "type", &what)? != "raw" {
        return Err(Error::Unsupported(format!("{what}: area type {:?}", text(area, "type", &what)?)));
    }
    let area_offset = num(area, "offset", &what)?;
    let area_size = num(area, "size", &what)?;
    let area_key_bytes = num(area, "key_size", &what)?;
    if area_key_bytes == 0 || area_key_bytes > MAX_KEY_BYTES as u64 {
        return Err(bad(format!("{what}: area key size {area_key_bytes} bytes")));
    }
    let af_bytes = key_bytes * u64::from(stripes);
    if stripes == 0 || af_bytes > MAX_AF_BYTES || af_bytes > area_size {
        return Err(bad(format!(
            "{what}: {stripes} stripes of {key_bytes} bytes do not fit its {area_size}-byte area"
        )));
    }
    if area_offset.checked_add(area_size).is_none_or(|e| e > size) || area_offset % SECTOR != 0 {
        return Err(bad(format!(
            "{what}: area of {area_size} bytes at byte {area_offset} lies outside the device's {size} bytes"
        )));
    }
    let kdf_v = v.get("kdf").ok_or_else(|| bad(format!("{what}: no kdf")))?;
    let kdf = match text(kdf_v, "type", &what)?.as_str() {
        "pbkdf2" => Kdf::Pbkdf2 {
            hash: text(kdf_v, "hash", &what)?,
            iterations: small(num(kdf_v, "iterations", &what)?, u64::from(u32::MAX), format!("{what}: iterations"))?,
            salt: b64(kdf_v, "salt", &what)?,
        },
        t @ ("argon2i" | "argon2id") => Kdf::Argon2 {
            id: t == "argon2id",
            time: small(num(kdf_v, "time", &what)?, u64::from(u32::MAX), format!("{what}: time"))?,
            memory_kib: small(num(kdf_v, "memory", &what)?, u64::from(u32::MAX), format!("{what}: memory"))?,
            cpus: small(num(kdf_v, "cpus", &what)?, 0xff_ffff, format!("{what}: cpus"))?,
            salt: b64(kdf_v, "salt", &what)?,
        },
        other => return Err(Error::Unsupported(format!("{what}: KDF {other:?}"))),
    };
    let priority = match v.get("priority") {
        None => 1,
        Some(p) => small(p.as_u64().ok_or_else(|| bad(format!("{what}: priority")))?, 2, format!("{what}: priority"))?,
    };
    Ok(Keyslot {
        id,
        priority,
        key_bytes: within(key_bytes, MAX_KEY_BYTES),
        kdf,
        af_stripes: stripes,
        af_hash: text(af, "hash", &what)?,
        area_offset,
        area_size,
        area_cipher: text(area, "encryption", &what)?,
        area_key_bytes: within(area_key_bytes, MAX_KEY_BYTES),
    })
}

fn from_json(bin: &[u8], json: &Value, size: u64, mut notes: Vec<String>) -> Result<Header, Error> {
    let mut keyslots = Vec::new();
    for (id, v) in items(json, "keyslots")? {
        let kind = text(v, "type", &format!("keyslot {id}"))?;
        if kind != "luks2" {
            notes.push(format!("keyslot {id}: type {kind:?} skipped"));
            continue;
        }
        match keyslot(id, v, size) {
            Ok(k) => keyslots.push(k),
            Err(e) => notes.push(format!("keyslot {id} skipped: {e}")),
        }
    }
    let config = json.get("config").ok_or_else(|| bad("the JSON has no config".into()))?;
    if let Some(req) = config.get("requirements").and_then(|r| r.get("mandatory")).and_then(Value::as_array) {
        if !req.is_empty() {
            let names: Vec<&str> = req.iter().filter_map(Value::as_str).collect();
            return Err(Error::Unsupported(format!(
                "a LUKS2 header with requirements [{}] (reencryption in progress?)",
                names.join(", ")
            )));
        }
    }
    let flags = match config.get("flags").and_then(Value::as_array) {
        Some(a) if a.len() <= MAX_ITEMS => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(a) => return Err(bad(format!("{} config flags", a.len()))),
        None => Vec::new(),
    };
    let segments = items(json, "segments")?;
    let Some((sid, seg)) = segments.first() else { return Err(bad("no segment".into())) };
    if segments.len() > 1 {
        return Err(Error::Unsupported(format!("{} segments (a reencryption in progress?)", segments.len())));
    }
    let what = format!("segment {sid}");
    if text(seg, "type", &what)? != "crypt" {
        return Err(Error::Unsupported(format!("{what} of type {:?}", text(seg, "type", &what)?)));
    }
    if seg.get("integrity").is_some_and(|i| *i != Value::Null) {
        return Err(Error::Unsupported(format!("{what} with dm-integrity (authenticated encryption)")));
    }
    let data_offset = num(seg, "offset", &what)?;
    let data_size = match text(seg, "size", &what)?.as_str() {
        "dynamic" => None,
        _ => Some(num(seg, "size", &what)?),
    };
    let sector_size = num(seg, "sector_size", &what)?;
    if !matches!(sector_size, 512 | 1024 | 2048 | 4096) {
        return Err(bad(format!("{what}: sector size {sector_size}")));
    }
    if data_offset % SECTOR != 0 || data_size.is_some_and(|s| s % sector_size != 0) {
        return Err(bad(format!("{what}: offset {data_offset} or size {data_size:?} not sector-aligned")));
    }
    // The data is checked against its device by `crypt_target`: with a detached header it is
    // not the device read here.
    if data_offset.checked_add(data_size.unwrap_or(0)).is_none() {
        return Err(bad(format!("{what}: {data_size:?} bytes at byte {data_offset}")));
    }
    let mut digests = Vec::new();
    for (id, v) in items(json, "digests")? {
        let what = format!("digest {id}");
        if text(v, "type", &what)? != "pbkdf2" {
            notes.push(format!("{what}: type {:?} skipped", text(v, "type", &what)?));
            continue;
        }
        digests.push(Digest {
            keyslots: ids(v, "keyslots", &what)?,
            hash: text(v, "hash", &what)?,
            iterations: small(num(v, "iterations", &what)?, u64::from(u32::MAX), format!("{what}: iterations"))?,
            salt: b64(v, "salt", &what)?,
            digest: b64(v, "digest", &what)?,
        });
    }
    let key_bytes = keyslots.first().map_or(0, |k| k.key_bytes);
    let tokens = tokens::read(json, &mut notes);
    Ok(Header {
        version: 2,
        uuid: field(&bin[168..208]).unwrap_or_default(),
        label: field(&bin[24..72]),
        subsystem: field(&bin[208..256]),
        cipher: text(seg, "encryption", &what)?,
        key_bytes,
        sector_size: small(sector_size, 4096, format!("{what}: sector size"))?,
        data_offset,
        data_size,
        iv_tweak: num(seg, "iv_tweak", &what)?,
        flags,
        hash: field(&bin[72..104]).unwrap_or_default(),
        header_size: be64(bin, 8),
        seqid: be64(bin, 16),
        keyslots,
        digests,
        tokens,
        notes,
    })
}

/// Rewrites the sha256 checksum of the header copy at `at` in `data` (whatever its fields
/// say, clamped to `data`): for crafted headers in tests, and for the fuzz entry, whose
/// mutations would otherwise never get past the checksum.
pub fn fix_checksum(data: &mut [u8], at: usize) {
    let Some(bin) = data.get(at..at.saturating_add(BIN_SIZE)) else { return };
    let hdr_size = usize::try_from(be64(bin, 8)).unwrap_or(usize::MAX).clamp(BIN_SIZE, data.len() - at);
    data[at + CSUM_AT..at + CSUM_AT + CSUM_LEN].fill(0);
    let sum = sha2::Sha256::digest(&data[at..at + hdr_size]);
    data[at + CSUM_AT..at + CSUM_AT + sum.len()].copy_from_slice(&sum);
}

/// A device of `size` bytes whose two LUKS2 copies (each `hdr_size` bytes) hold `json`, with
/// right checksums: for crafted headers in tests.
#[cfg(test)]
pub fn craft(json: &str, hdr_size: u64, size: usize) -> Vec<u8> {
    let mut d = vec![0u8; size];
    for (at, magic) in [(0usize, MAGIC), (within(hdr_size, size), MAGIC_SECONDARY)] {
        let Some(b) = d.get_mut(at..at + BIN_SIZE) else { continue };
        b[..6].copy_from_slice(magic);
        b[6..8].copy_from_slice(&2u16.to_be_bytes());
        b[8..16].copy_from_slice(&hdr_size.to_be_bytes());
        b[16..24].copy_from_slice(&1u64.to_be_bytes());
        b[24..30].copy_from_slice(b"crafty");
        b[72..78].copy_from_slice(b"sha256");
        b[168..204].copy_from_slice(b"12345678-1234-1234-1234-123456789abc");
        b[256..264].copy_from_slice(&(at as u64).to_be_bytes());
        let room = within(hdr_size, size).saturating_sub(BIN_SIZE + 1).min(d.len().saturating_sub(at + BIN_SIZE));
        let n = json.len().min(room);
        d[at + BIN_SIZE..at + BIN_SIZE + n].copy_from_slice(&json.as_bytes()[..n]);
        fix_checksum(&mut d, at);
    }
    d
}
