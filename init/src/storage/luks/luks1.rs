//! The LUKS1 header ("LUKS1 On-Disk Format Specification" 1.2.3): one 592-byte big-endian
//! `phdr` with eight fixed keyslots, all sharing the header's cipher and hash.

use super::{be32, field, Digest, Error, Header, Kdf, Keyslot, MAX_AF_BYTES, MAX_KEY_BYTES, MAX_STRIPES, SECTOR};

pub const PHDR_SIZE: usize = 592;
const SLOT_ACTIVE: u32 = 0x00ac_71f3;
const SLOT_DISABLED: u32 = 0x0000_dead;
const SLOTS_AT: usize = 208;
const SLOT_SIZE: usize = 48;

/// Parses the phdr in `b` (the device's first bytes) of a device of `size` bytes.
pub fn parse(b: &[u8], size: u64) -> Result<Header, Error> {
    if b.len() < PHDR_SIZE {
        return Err(Error::Short { what: "the LUKS1 header", at: 0, need: PHDR_SIZE, got: b.len() });
    }
    let bad = |m: String| Error::Bad(m);
    let name = field(&b[8..40]).unwrap_or_default();
    let mode = field(&b[40..72]).unwrap_or_default();
    let hash = field(&b[72..104]).unwrap_or_default().to_ascii_lowercase();
    let payload = u64::from(be32(b, 104));
    let key_bytes = be32(b, 108) as usize;
    if key_bytes == 0 || key_bytes > MAX_KEY_BYTES {
        return Err(bad(format!("key size {key_bytes} bytes (1 to {MAX_KEY_BYTES} expected)")));
    }
    if name.is_empty() || mode.is_empty() {
        return Err(bad(format!("cipher {name:?} mode {mode:?}")));
    }
    let data_offset = payload * SECTOR;
    // A detached header (payload 0) has its data elsewhere: the table then starts at 0.
    if data_offset > size {
        return Err(bad(format!("payload offset {payload} sectors is beyond the device's {size} bytes")));
    }
    let cipher = format!("{name}-{mode}");
    let digest = Digest {
        keyslots: (0..8).collect(),
        hash: hash.clone(),
        iterations: be32(b, 164),
        salt: b[132..164].to_vec(),
        digest: b[112..132].to_vec(),
    };
    let mut keyslots = Vec::new();
    let mut notes = Vec::new();
    for id in 0..8u32 {
        let at = SLOTS_AT + id as usize * SLOT_SIZE;
        let s = &b[at..at + SLOT_SIZE];
        match be32(s, 0) {
            SLOT_DISABLED => continue,
            SLOT_ACTIVE => {}
            other => {
                notes.push(format!("keyslot {id}: state {other:#x} is neither active nor disabled, skipped"));
                continue;
            }
        }
        let stripes = be32(s, 44);
        let af = key_bytes as u64 * u64::from(stripes);
        if stripes == 0 || stripes > MAX_STRIPES || af > MAX_AF_BYTES {
            notes.push(format!("keyslot {id}: {stripes} AF stripes, skipped"));
            continue;
        }
        let area_offset = u64::from(be32(s, 40)) * SECTOR;
        let area_size = af.div_ceil(SECTOR) * SECTOR;
        if area_offset + area_size > size {
            notes.push(format!(
                "keyslot {id}: {area_size} bytes at byte {area_offset} lie beyond the device's {size} bytes, skipped"
            ));
            continue;
        }
        keyslots.push(Keyslot {
            id,
            priority: 1,
            key_bytes,
            kdf: Kdf::Pbkdf2 { hash: hash.clone(), iterations: be32(s, 4), salt: s[8..40].to_vec() },
            af_stripes: stripes,
            af_hash: hash.clone(),
            area_offset,
            area_size,
            area_cipher: cipher.clone(),
            area_key_bytes: key_bytes,
        });
    }
    Ok(Header {
        version: 1,
        uuid: field(&b[168..208]).unwrap_or_default(),
        label: None,
        subsystem: None,
        cipher,
        key_bytes,
        sector_size: 512,
        data_offset,
        data_size: None,
        iv_tweak: 0,
        flags: Vec::new(),
        hash,
        header_size: PHDR_SIZE as u64,
        seqid: 0,
        keyslots,
        digests: vec![digest],
        tokens: Vec::new(),
        notes,
    })
}
