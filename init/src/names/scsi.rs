//! udev's `scsi_id --export --whitelisted` (systemd 252) on what the kernel already asked the
//! device: the INQUIRY strings (`vendor`, `model`) and the VPD pages it keeps in sysfs
//! (`vpd_pg0`, `vpd_pg83`, `vpd_pg80`), read with udev's 254-byte buffer, so no SCSI command is
//! sent.

use super::sysfs::Dev;
use super::text::{c_str, replace_chars, replace_whitespace};

/// `SCSI_INQ_BUFF_LEN`: how much of a page udev asks for.
const INQ_LEN: usize = 254;
/// `MAX_SERIAL_LEN`.
const MAX_SERIAL: usize = 256;
const VENDOR_LEN: usize = 8;
const MODEL_LEN: usize = 16;

/// What the link rules take from scsi_id.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScsiId {
    /// `ID_SERIAL`, when the device gave an identifier.
    pub serial: Option<Vec<u8>>,
    /// `ID_WWN_WITH_EXTENSION`: `0x` and the NAA identifier.
    pub wwn: Option<String>,
}

// Identifier types and code sets (SPC-3 7.6.3).
const VENDOR_SPECIFIC: u8 = 0;
const T10_VENDOR: u8 = 1;
const EUI_64: u8 = 2;
const NAA: u8 = 3;
const TGTGROUP: u8 = 5;
const BINARY: u8 = 1;
const ASCII: u8 = 2;
const ANY_NAA: u8 = 0xff;

/// udev's `id_search_list`: which descriptor wins, best first (type, NAA type, code set).
const SEARCH: [(u8, u8, u8); 13] = [
    (TGTGROUP, ANY_NAA, BINARY),
    (NAA, 6, BINARY),
    (NAA, 6, ASCII),
    (NAA, 5, BINARY),
    (NAA, 5, ASCII),
    (NAA, ANY_NAA, BINARY),
    (NAA, ANY_NAA, ASCII),
    (EUI_64, ANY_NAA, BINARY),
    (EUI_64, ANY_NAA, ASCII),
    (T10_VENDOR, ANY_NAA, BINARY),
    (T10_VENDOR, ANY_NAA, ASCII),
    (VENDOR_SPECIFIC, ANY_NAA, BINARY),
    (VENDOR_SPECIFIC, ANY_NAA, ASCII),
];

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

/// A page as udev's zeroed 254-byte buffer holds it.
fn page(d: &Dev, name: &str) -> Option<[u8; INQ_LEN]> {
    let raw = d.attr_bytes(name, INQ_LEN as u64)?;
    let mut buf = [0u8; INQ_LEN];
    buf[..raw.len()].copy_from_slice(&raw);
    Some(buf)
}

/// The INQUIRY vendor and model, exactly 8 and 16 bytes as the page 0x80 and vendor-specific
/// 0x83 identifiers embed them (None when the device's strings are shorter).
fn vendor_model(vendor: &[u8], model: &[u8]) -> Option<Vec<u8>> {
    (vendor.len() == VENDOR_LEN && model.len() == MODEL_LEN).then(|| [vendor, model].concat())
}

struct Found {
    serial: Vec<u8>,
    wwn: Option<String>,
}

/// `check_fill_0x83_id` for the descriptor at `d` (the rest of the buffer).
fn fill_0x83(d: &[u8], (id_type, naa, code_set): (u8, u8, u8), vm: Option<&[u8]>) -> Option<Found> {
    let at = |i: usize| d.get(i).copied().unwrap_or(0);
    match at(1) & 0x30 {
        0 => {}
        0x10 if id_type == TGTGROUP => {}
        _ => return None,
    }
    if at(1) & 0x0f != id_type || (naa != ANY_NAA && naa != at(4) >> 4) || at(0) & 0x0f != code_set {
        return None;
    }
    let n = usize::from(at(3));
    let mut need = if code_set == ASCII { n } else { n * 2 } + 2;
    if id_type == VENDOR_SPECIFIC {
        need += VENDOR_LEN + MODEL_LEN;
    }
    // The target port group is recorded, not used as the identifier.
    if MAX_SERIAL < need || id_type == TGTGROUP {
        return None;
    }
    let mut serial = vec![HEX[usize::from(id_type)]];
    if id_type == VENDOR_SPECIFIC {
        serial.extend_from_slice(vm?);
    }
    let start = serial.len();
    let id: Vec<u8> = (4..4 + n).map(at).collect();
    if code_set == ASCII {
        serial.extend_from_slice(&id);
    } else {
        hex(&mut serial, &id);
    }
    // As a C string from here on.
    let serial = c_str(&serial).to_vec();
    // The first 16 hex digits are the WWN, the next 16 its vendor extension (NAA 6).
    let short = serial.get(start..).unwrap_or_default();
    let take = |from: usize| {
        String::from_utf8_lossy(short.get(from..short.len().min(from + 16)).unwrap_or_default()).to_string()
    };
    let wwn = (id_type == NAA && !short.is_empty()).then(|| format!("0x{}{}", take(0), take(16)));
    Some(Found { serial, wwn })
}

/// `do_scsi_page83_inquiry`.
fn page83(p: &[u8; INQ_LEN], vm: Option<&[u8]>) -> Option<Found> {
    if p[1] != 0x83 {
        return None;
    }
    if p[6] != 0 {
        // A SCSI-2 style reply (old EMC Symmetrix): the identifier follows the header, in hex.
        let mut serial = vec![HEX[usize::from(NAA)]];
        for &b in p[4..].iter().take(usize::from(p[3])) {
            if serial.len() >= MAX_SERIAL - 3 {
                break;
            }
            hex(&mut serial, &[b]);
        }
        serial.truncate(MAX_SERIAL - 1);
        return Some(Found { serial, wwn: None });
    }
    let end = (usize::from(p[2]) << 8) + usize::from(p[3]) + 3;
    for search in SEARCH {
        let mut j = 4;
        // The page may say it is longer than the buffer: udev's loop reads past it; this one
        // stops at its end.
        while j <= end && j + 3 < INQ_LEN {
            if let Some(f) = fill_0x83(&p[j..], search, vm) {
                return Some(f);
            }
            j += usize::from(p[j + 3]) + 4;
        }
    }
    None
}

/// `do_scsi_page80_inquiry`: `S`, vendor, model, the unit serial number.
fn page80(p: &[u8; INQ_LEN], vm: Option<&[u8]>) -> Option<Found> {
    let n = usize::from(p[3]);
    if p[1] != 0x80 || MAX_SERIAL < 1 + VENDOR_LEN + MODEL_LEN + n {
        return None;
    }
    let mut serial = vec![b'S'];
    serial.extend_from_slice(vm?);
    serial.extend(p[4..].iter().take(n));
    Some(Found { serial: c_str(&serial).to_vec(), wwn: None })
}

/// The pages the device lists in page 0; without `vpd_pg0` (older kernels) the pages the kernel
/// read, which are the ones listed there.
fn supported(d: &Dev, vendor: &[u8]) -> Option<Vec<u8>> {
    if let Some(p0) = page(d, "vpd_pg0") {
        if p0[1] != 0 || usize::from(p0[3]) > INQ_LEN {
            return None;
        }
        // Some devices answer with the standard INQUIRY data: the vendor shows where it would.
        if usize::from(p0[3]) > MODEL_LEN && c_str(&p0[8..16]) == vendor {
            return None;
        }
        return Some(p0[4..(4 + usize::from(p0[3])).min(INQ_LEN)].to_vec());
    }
    let pages: Vec<u8> =
        [(0x83, "vpd_pg83"), (0x80, "vpd_pg80")].iter().filter(|(_, f)| d.has(f)).map(|(n, _)| *n).collect();
    (!pages.is_empty()).then_some(pages)
}

/// scsi_id for a SCSI device (the `scsi_device` above the disk). None only when it has no
/// INQUIRY data at all (then udev's import fails and sets no `ID_BUS`).
pub fn scsi_id(d: &Dev) -> Option<ScsiId> {
    let vendor = c_str(&d.attr("vendor")?).to_vec();
    let model = c_str(&d.attr("model")?).to_vec();
    let vm = vendor_model(&vendor, &model);
    let vm = vm.as_deref();
    let found = supported(d, &vendor).and_then(|pages| {
        let p83 = pages.contains(&0x83).then(|| page(d, "vpd_pg83")).flatten();
        let p80 = pages.contains(&0x80).then(|| page(d, "vpd_pg80")).flatten();
        p83.and_then(|p| page83(&p, vm)).or_else(|| p80.and_then(|p| page80(&p, vm)))
    });
    let Some(f) = found.filter(|f| !f.serial.is_empty()) else { return Some(ScsiId::default()) };
    Some(ScsiId { serial: Some(replace_chars(&replace_whitespace(&f.serial, MAX_SERIAL - 1), b"")), wwn: f.wwn })
}

/// Both page parsers on untrusted bytes (the fuzz target).
pub fn parse_pages(data: &[u8]) {
    let mut p = [0u8; INQ_LEN];
    let n = data.len().min(INQ_LEN);
    p[..n].copy_from_slice(&data[..n]);
    let vm = data.get(..VENDOR_LEN + MODEL_LEN);
    let _ = (page83(&p, vm), page80(&p, vm));
    p[1] = 0x83;
    let _ = page83(&p, vm);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(bytes: &[u8]) -> [u8; INQ_LEN] {
        let mut b = [0u8; INQ_LEN];
        b[..bytes.len()].copy_from_slice(bytes);
        b
    }

    const VM: &[u8] = b"QEMU    QEMU HARDDISK   ";

    #[test]
    fn naa_wins_over_vendor_specific() {
        let p = buf(&[
            0, 0x83, 0, 20, //
            0x02, 0x00, 0, 4, b'a', b'b', b'c', b'd', // vendor specific, ASCII
            0x01, 0x03, 0, 8, 0x50, 0x01, 0x40, 0x50, 0xde, 0xad, 0xbe, 0xef, // NAA 5, binary
        ]);
        let f = page83(&p, Some(VM)).unwrap();
        assert_eq!(f.serial, b"350014050deadbeef");
        assert_eq!(f.wwn.as_deref(), Some("0x50014050deadbeef"));
        let only_vendor = buf(&[0, 0x83, 0, 8, 0x02, 0x00, 0, 4, b'a', b'b', b'c', b'd']);
        let f = page83(&only_vendor, Some(VM)).unwrap();
        assert_eq!(f.serial, b"0QEMU    QEMU HARDDISK   abcd");
        assert_eq!(f.wwn, None);
        // A vendor-specific identifier needs the full-length INQUIRY strings.
        assert!(page83(&only_vendor, None).is_none());
    }

    #[test]
    fn hostile_pages_stay_in_the_buffer() {
        // A page claiming 64 KiB, descriptors of length 255 and 0: the walk ends at the buffer.
        let mut p = buf(&[0, 0x83, 0xff, 0xff, 0x01, 0x03, 0, 0xff]);
        assert!(page83(&p, Some(VM)).is_none(), "a 255-byte binary identifier is longer than udev's buffer");
        // Zero-length descriptors of code set 0 all the way: nothing, and the walk ends.
        assert!(page83(&buf(&[0, 0x83, 0xff, 0xff]), Some(VM)).is_none());
        // An empty NAA identifier is udev's serial "3", without a WWN.
        p[7] = 0;
        let f = page83(&p, Some(VM)).unwrap();
        assert_eq!((f.serial.as_slice(), f.wwn), (&b"3"[..], None));
        let p80 = buf(&[0, 0x80, 0, 250]);
        assert!(page80(&p80, Some(VM)).is_none(), "longer than udev's serial buffer");
        let p80 = buf(&[0, 0x80, 0, 4, b'1', b'2', b' ', b' ']);
        assert_eq!(page80(&p80, Some(VM)).unwrap().serial, b"SQEMU    QEMU HARDDISK   12  ");
    }
}
