//! udev's `ata_id` (systemd 252) on the IDENTIFY data libata already read: the kernel shows the
//! 256 words in `/sys/class/ata_device/devP.D/id`, so no ATA command is sent to the disk.

use super::sysfs::{Dev, Sysfs};
use super::text::{replace_chars, replace_whitespace};

/// What `ata_id --export` gives the link rules.
#[derive(Debug, PartialEq, Eq)]
pub struct AtaId {
    /// `MODEL_SERIAL`, or `MODEL` without a serial number.
    pub serial: Vec<u8>,
    /// `0x…`, from words 108–111 when they hold an IEEE WWN.
    pub wwn: Option<String>,
}

/// The IDENTIFY words of the libata device behind a SCSI device (`H:C:T:L` under `ataN`): on
/// the host link the target is the device number (`devN.T`), behind a port multiplier the
/// channel is the PMP port (`devN.C.0`).
fn identify(sys: &Sysfs, scsi: &Dev) -> Option<[u16; 256]> {
    let name = scsi.sysname();
    let mut it = name.split(':');
    let (_, channel, target) = (it.next()?, it.next()?.parse::<u32>().ok()?, it.next()?.parse::<u32>().ok()?);
    let host = sys.parent_with(scsi, "scsi", Some("scsi_host"))?;
    let port = sys.parent(&host)?.sysname();
    let print_id = port.strip_prefix("ata")?;
    let dev = match channel {
        0 => format!("dev{print_id}.{target}"),
        pmp => format!("dev{print_id}.{pmp}.0"),
    };
    parse_words(&sys.class_dev("ata_device", &dev)?.attr("id")?)
}

/// The `id` attribute: 256 words as 4 hex digits each, 8 to a line.
pub fn parse_words(text: &[u8]) -> Option<[u16; 256]> {
    let text = std::str::from_utf8(text).ok()?;
    let mut words = [0u16; 256];
    let mut n = 0;
    for w in text.split_ascii_whitespace() {
        if n == words.len() || w.len() != 4 {
            return None;
        }
        words[n] = u16::from_str_radix(w, 16).ok()?;
        n += 1;
    }
    (n == words.len()).then_some(words)
}

/// An ATA string: `len` bytes from word `at`, the first character in each word's high byte.
fn string(id: &[u16; 256], at: usize, len: usize) -> Vec<u8> {
    id.iter().skip(at).take(len / 2).flat_map(|w| w.to_be_bytes()).collect()
}

/// ata_id's answer for a SCSI device libata emulates; None where it has no IDENTIFY data
/// (not libata, a port multiplier, all zeros).
pub fn ata_id(sys: &Sysfs, scsi: &Dev) -> Option<AtaId> {
    let id = identify(sys, scsi)?;
    from_identify(&id)
}

pub fn from_identify(id: &[u16; 256]) -> Option<AtaId> {
    if id.iter().all(|w| *w == 0) {
        return None;
    }
    let model = replace_chars(&replace_whitespace(&string(id, 27, 40), 40), b"");
    let serial = replace_chars(&replace_whitespace(&string(id, 10, 20), 20), b"");
    let mut s = model;
    if !serial.is_empty() {
        s.push(b'_');
        s.extend(serial);
    }
    // NAA 5 (IEEE registered) in bits 15:12 of word 108: a World Wide Name.
    let wwn = (id[108] & 0xf000 == 0x5000).then(|| {
        let v = id[108..112].iter().fold(0u64, |acc, w| (acc << 16) | u64::from(*w));
        format!("0x{v:x}")
    });
    Some(AtaId { serial: s, wwn })
}
