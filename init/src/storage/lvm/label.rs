//! LVM2's binary headers: the label (`LABELONE`) in one of the first four sectors, the PV header
//! behind it (PV UUID, device size, data and metadata area lists), each metadata area's
//! `mda_header` (checksum, magic, version, start, size, `raw_locn` list) and the metadata text
//! it locates in the area's circular buffer. Layouts as in lvm2's `lib/label/label.h` and
//! `lib/format_text/layout.h`; every offset and size is checked against the sector, the area
//! and a cap before anything is read or allocated.

use thiserror::Error;

use super::{Id, ReadAt};
use crate::bytes::or_zero::{le32, le64};

pub const SECTOR: u64 = 512;
/// lvm2 looks for the label in sectors 0–3 (`LABEL_SCAN_SECTORS`).
pub const LABEL_SCAN_BYTES: usize = 4 * SECTOR_BYTES;
/// A sector (`SECTOR`) as a length.
const SECTOR_BYTES: usize = 512;
const _: () = assert!(SECTOR_BYTES as u64 == SECTOR);
/// The seed of lvm2's CRC (`INITIAL_CRC`).
const INITIAL_CRC: u32 = 0xf597_a6cf;
/// `FMTT_MAGIC`, at byte 4 of every `mda_header`.
const MDA_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
const MDA_HEADER_SIZE: u64 = 512;
/// `raw_locn.flags`: this area is kept but not used (`pvchange --metadataignore`).
const RAW_LOCN_IGNORED: u32 = 1;
/// The largest metadata text we read. lvm2's own default area is 1 MiB and real VGs use tens of
/// KiB; anything larger is refused before a buffer is allocated.
pub const MAX_TEXT: u64 = 4 << 20;
/// lvm2 reads at most two metadata areas per PV (`mda1` at the start, `mda2` at the end).
pub const MAX_MDAS: usize = 2;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    #[error("no LVM2 label in the first four sectors")]
    NoLabel,
    #[error("the PV header offset {0} lies outside the label sector")]
    HeaderOffset(u32),
    #[error("the PV header's {0} list runs past the end of the label sector")]
    AreaListOverflow(&'static str),
    #[error("PV UUID {0:?} is not 32 characters of lvm's alphabet")]
    BadPvUuid(String),
    #[error("metadata area at byte {at}: {what}")]
    Mda { at: u64, what: String },
    #[error("reading {len} bytes at byte {offset}: {err}")]
    Read { offset: u64, len: u64, err: String },
}

fn mda_err(at: u64, what: impl Into<String>) -> Error {
    Error::Mda { at, what: what.into() }
}

/// lvm2's `calc_crc`: CRC-32 seeded with `INITIAL_CRC` and inverted at neither end (so it is not
/// zlib's).
pub fn crc(data: &[u8]) -> u32 {
    crate::bytes::crc32_raw(INITIAL_CRC, data)
}

/// A region of the device in bytes (`disk_locn`); size 0 in a data area means "to the end".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area {
    pub offset: u64,
    pub size: u64,
}

/// What the label sector says about one PV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PvLabel {
    /// The sector (0–3) the label was found in.
    pub sector: u64,
    pub uuid: Id,
    /// In bytes, as recorded when the PV was made (the device may have grown since).
    pub device_size: u64,
    pub data_areas: Vec<Area>,
    pub metadata_areas: Vec<Area>,
}

/// Finds and checks the label in `head` (the device's first sectors), as lvm2's `label_scan`:
/// `LABELONE`, the sector number it records equal to where it is, the CRC from `offset_xl` to
/// the end of the sector, and the type `LVM2 001`. Labels that fail a check are skipped.
pub fn find_label(head: &[u8]) -> Result<PvLabel, Error> {
    for (i, s) in head.chunks_exact(SECTOR_BYTES).take(LABEL_SCAN_BYTES / SECTOR_BYTES).enumerate() {
        let sector = i as u64;
        if &s[0..8] != b"LABELONE" || le64(s, 8) != sector || &s[24..32] != b"LVM2 001" {
            continue;
        }
        if crc(&s[20..]) != le32(s, 16) {
            continue;
        }
        return parse_pv_header(s, sector);
    }
    Err(Error::NoLabel)
}

/// The PV header inside a checked label sector (`label_check_pv_layout`, `_text_read`).
fn parse_pv_header(s: &[u8], sector: u64) -> Result<PvLabel, Error> {
    const PV_HEADER: usize = 32 + 8;
    let offset = le32(s, 20);
    let Some(h) = s.get(offset as usize..).filter(|h| h.len() >= PV_HEADER) else {
        return Err(Error::HeaderOffset(offset));
    };
    let raw = &h[0..32];
    let uuid = std::str::from_utf8(raw)
        .ok()
        .and_then(|t| Id::parse(t).ok())
        .ok_or_else(|| Error::BadPvUuid(String::from_utf8_lossy(raw).into_owned()))?;
    let device_size = le64(h, 32);
    // Two zero-terminated lists of 16-byte entries; each must end inside the sector, which
    // bounds them at (512 - 40) / 16 entries.
    let mut pos = PV_HEADER;
    let mut list = |what: &'static str| -> Result<Vec<Area>, Error> {
        let mut v = Vec::new();
        loop {
            if pos + 16 > h.len() {
                return Err(Error::AreaListOverflow(what));
            }
            let a = Area { offset: le64(h, pos), size: le64(h, pos + 8) };
            pos += 16;
            if a.offset == 0 {
                return Ok(v);
            }
            v.push(a);
        }
    };
    let data_areas = list("data area")?;
    let metadata_areas = list("metadata area")?;
    Ok(PvLabel { sector, uuid, device_size, data_areas, metadata_areas })
}

/// One `raw_locn`: where in its area a copy of the metadata text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLocn {
    /// From the start of the area (the `mda_header` is the first 512 bytes).
    pub offset: u64,
    pub size: u64,
    pub checksum: u32,
    pub flags: u32,
}

/// A checked `mda_header`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdaHeader {
    /// Absolute byte on the device where the area (and this header) starts.
    pub start: u64,
    pub size: u64,
    /// Slot 0, the committed metadata; `None` when the area holds none yet (an orphan PV).
    pub committed: Option<RawLocn>,
    /// `pvchange --metadataignore y`: the area is kept up to date by nobody; lvm2 skips it.
    pub ignored: bool,
}

/// Checks an `mda_header` sector read from `at` (`raw_parse_mda_header`): the CRC over bytes
/// 4..512, the magic, version 1, the recorded start equal to `at`, a size of at least a header.
pub fn parse_mda_header(s: &[u8], at: u64) -> Result<MdaHeader, Error> {
    if s.len() < SECTOR_BYTES {
        return Err(mda_err(at, format!("header is {} bytes, not 512", s.len())));
    }
    let s = &s[..SECTOR_BYTES]; // MDA_HEADER_SIZE
    let (want, got) = (le32(s, 0), crc(&s[4..]));
    if want != got {
        return Err(mda_err(at, format!("header checksum {got:#010x} differs from the recorded {want:#010x}")));
    }
    if &s[4..20] != MDA_MAGIC {
        return Err(mda_err(at, "no metadata area magic"));
    }
    let version = le32(s, 20);
    if version != 1 {
        return Err(mda_err(at, format!("header version {version}, only 1 is known")));
    }
    let start = le64(s, 24);
    if start != at {
        return Err(mda_err(at, format!("header records start {start}")));
    }
    let size = le64(s, 32);
    if size < MDA_HEADER_SIZE {
        return Err(mda_err(at, format!("area size {size} is smaller than its header")));
    }
    let slot0 = RawLocn { offset: le64(s, 40), size: le64(s, 48), checksum: le32(s, 56), flags: le32(s, 60) };
    Ok(MdaHeader {
        start,
        size,
        committed: (slot0.offset != 0).then_some(slot0),
        ignored: slot0.flags & RAW_LOCN_IGNORED != 0,
    })
}

/// Reads `len` bytes at `offset`, refusing more than [`MAX_TEXT`] before allocating.
fn read_bounded(dev: &(impl ReadAt + ?Sized), offset: u64, len: u64) -> Result<Vec<u8>, Error> {
    let read_err = |err: String| Error::Read { offset, len, err };
    if len > MAX_TEXT {
        return Err(read_err(format!("more than the {MAX_TEXT}-byte cap")));
    }
    let n = usize::try_from(len).map_err(|e| read_err(e.to_string()))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(n).map_err(|e| read_err(e.to_string()))?;
    buf.resize(n, 0);
    dev.read_exact_at(&mut buf, offset).map_err(|e| read_err(e.to_string()))?;
    Ok(buf)
}

/// The committed metadata text of an area, from its circular buffer: the part from `offset` to
/// the area's end and, when it wraps, the rest from just after the header. Its CRC must match
/// the `raw_locn`'s. `Ok(None)` when the area holds no metadata or is ignored.
pub fn read_text(dev: &(impl ReadAt + ?Sized), mda: &MdaHeader) -> Result<Option<Vec<u8>>, Error> {
    let Some(r) = mda.committed.filter(|_| !mda.ignored) else { return Ok(None) };
    let at = mda.start;
    // The checks of `read_metadata_location_summary`, plus: text never starts inside the header.
    if r.offset < MDA_HEADER_SIZE || r.offset >= mda.size {
        return Err(mda_err(at, format!("text offset {} lies outside the area of {} bytes", r.offset, mda.size)));
    }
    if r.size > mda.size - MDA_HEADER_SIZE {
        return Err(mda_err(at, format!("text size {} exceeds the area of {} bytes", r.size, mda.size)));
    }
    if r.size > MAX_TEXT {
        return Err(mda_err(at, format!("text size {} exceeds the {MAX_TEXT}-byte cap", r.size)));
    }
    let end = r.offset.checked_add(r.size).ok_or_else(|| mda_err(at, "text end lies beyond 2^64 bytes"))?;
    let wrap = end.saturating_sub(mda.size);
    let first = r.size - wrap;
    let abs = |off: u64| at.checked_add(off).ok_or_else(|| mda_err(at, "area lies beyond 2^64 bytes"));
    let mut text = read_bounded(dev, abs(r.offset)?, first)?;
    if wrap > 0 {
        let rest = read_bounded(dev, abs(MDA_HEADER_SIZE)?, wrap)?;
        text.try_reserve_exact(rest.len()).map_err(|e| mda_err(at, e.to_string()))?;
        text.extend_from_slice(&rest);
    }
    let got = crc(&text);
    if got != r.checksum {
        return Err(mda_err(at, format!("text checksum {got:#010x} differs from the recorded {:#010x}", r.checksum)));
    }
    // lvm2's parser stops at the first NUL; what follows is padding.
    if let Some(nul) = text.iter().position(|&b| b == 0) {
        text.truncate(nul);
    }
    Ok(Some(text))
}

/// Reads and checks the `mda_header` of one area of the PV.
pub fn read_mda_header(dev: &(impl ReadAt + ?Sized), area: &Area) -> Result<MdaHeader, Error> {
    let s = read_bounded(dev, area.offset, MDA_HEADER_SIZE)?;
    parse_mda_header(&s, area.offset)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A label sector as lvm2 writes one (`_text_write`), for crafted-input tests.
    pub(crate) fn label_sector(sector: u64, uuid: &str, size: u64, data: &[Area], mdas: &[Area]) -> Vec<u8> {
        let mut s = vec![0u8; 512];
        s[0..8].copy_from_slice(b"LABELONE");
        s[8..16].copy_from_slice(&sector.to_le_bytes());
        s[20..24].copy_from_slice(&32u32.to_le_bytes());
        s[24..32].copy_from_slice(b"LVM2 001");
        s[32..64].copy_from_slice(uuid.as_bytes());
        s[64..72].copy_from_slice(&size.to_le_bytes());
        let mut pos = 72;
        for list in [data, mdas] {
            for a in list {
                s[pos..pos + 8].copy_from_slice(&a.offset.to_le_bytes());
                s[pos + 8..pos + 16].copy_from_slice(&a.size.to_le_bytes());
                pos += 16;
            }
            pos += 16;
        }
        let c = crc(&s[20..]);
        s[16..20].copy_from_slice(&c.to_le_bytes());
        s
    }

    /// An `mda_header` sector with one committed `raw_locn`.
    pub(crate) fn mda_sector(start: u64, size: u64, locn: RawLocn) -> Vec<u8> {
        let mut s = vec![0u8; 512];
        s[4..20].copy_from_slice(MDA_MAGIC);
        s[20..24].copy_from_slice(&1u32.to_le_bytes());
        s[24..32].copy_from_slice(&start.to_le_bytes());
        s[32..40].copy_from_slice(&size.to_le_bytes());
        s[40..48].copy_from_slice(&locn.offset.to_le_bytes());
        s[48..56].copy_from_slice(&locn.size.to_le_bytes());
        s[56..60].copy_from_slice(&locn.checksum.to_le_bytes());
        s[60..64].copy_from_slice(&locn.flags.to_le_bytes());
        let c = crc(&s[4..]);
        s[0..4].copy_from_slice(&c.to_le_bytes());
        s
    }

    const UUID: &str = "CyBZewSPl1GGItadfofRH6MErJxFkVHo";

    #[test]
    fn crc_matches_lvm() {
        // lvm2's seed over nothing is the seed; the standard CRC-32 of the same bytes differs.
        assert_eq!(crc(b""), 0xf597_a6cf);
        assert_ne!(crc(b"123456789"), crate::bytes::crc32(b"123456789"));
    }

    #[test]
    fn label_in_any_of_the_first_four_sectors() {
        let mdas = [Area { offset: 4096, size: 1044480 }];
        for sector in 0..4u64 {
            let mut head = vec![0u8; 2048];
            let s = label_sector(sector, UUID, 8 << 20, &[Area { offset: 1 << 20, size: 0 }], &mdas);
            head[usize::try_from(sector).unwrap() * 512..][..512].copy_from_slice(&s);
            let l = find_label(&head).unwrap();
            assert_eq!(l.sector, sector);
            assert_eq!(l.uuid.raw(), UUID);
            assert_eq!(l.device_size, 8 << 20);
            assert_eq!(l.data_areas, [Area { offset: 1 << 20, size: 0 }]);
            assert_eq!(l.metadata_areas, mdas);
        }
    }

    #[test]
    fn labels_failing_a_check_are_skipped() {
        let good = label_sector(1, UUID, 1 << 20, &[], &[]);
        let mut head = vec![0u8; 2048];
        // A label recording sector 1 found in sector 0 is not believed.
        head[0..512].copy_from_slice(&good);
        assert_eq!(find_label(&head), Err(Error::NoLabel));
        // A flipped bit breaks the CRC.
        let mut bad = good.clone();
        bad[100] ^= 1;
        head[512..1024].copy_from_slice(&bad);
        assert_eq!(find_label(&head), Err(Error::NoLabel));
        head[512..1024].copy_from_slice(&good);
        assert!(find_label(&head).is_ok());
        // Truncated input: no label, no panic.
        assert_eq!(find_label(&head[..700]), Err(Error::NoLabel));
        assert_eq!(find_label(&[]), Err(Error::NoLabel));
    }

    #[test]
    fn hostile_pv_headers() {
        // An offset that puts the PV header past the sector.
        let mut s = label_sector(1, UUID, 0, &[], &[]);
        s[20..24].copy_from_slice(&500u32.to_le_bytes());
        let c = crc(&s[20..]);
        s[16..20].copy_from_slice(&c.to_le_bytes());
        assert_eq!(parse_pv_header(&s, 1), Err(Error::HeaderOffset(500)));
        // A list with no terminator before the end of the sector.
        let many: Vec<Area> = (1..=40).map(|i| Area { offset: i * 4096, size: 1 }).collect();
        let mut s = label_sector(1, UUID, 0, &[], &[]);
        for (i, a) in many.iter().enumerate() {
            let p = 72 + i * 16;
            if p + 16 <= 512 {
                s[p..p + 8].copy_from_slice(&a.offset.to_le_bytes());
            }
        }
        assert_eq!(parse_pv_header(&s, 1), Err(Error::AreaListOverflow("data area")));
        // A UUID with characters lvm never writes.
        let s = label_sector(1, "CyBZewSPl1GGItadfofRH6MErJxFk/Ho", 0, &[], &[]);
        assert!(matches!(parse_pv_header(&s, 1), Err(Error::BadPvUuid(_))));
    }

    fn area_with_text(size: u64, offset: u64, text: &[u8]) -> (Vec<u8>, MdaHeader) {
        let us = |v: u64| usize::try_from(v).unwrap();
        let start = 4096u64;
        let mut dev = vec![0u8; us(start + size)];
        let n = text.len() as u64;
        let first = n.min(size - offset);
        dev[us(start + offset)..][..us(first)].copy_from_slice(&text[..us(first)]);
        dev[us(start + 512)..][..us(n - first)].copy_from_slice(&text[us(first)..]);
        let locn = RawLocn { offset, size: n, checksum: crc(text), flags: 0 };
        dev[us(start)..][..512].copy_from_slice(&mda_sector(start, size, locn));
        let h = read_mda_header(&dev[..], &Area { offset: start, size }).unwrap();
        (dev, h)
    }

    #[test]
    fn text_and_its_wrap_around() {
        let text = b"vg {\nid = \"x\"\n}\n\0\0padding";
        let (dev, h) = area_with_text(8192, 1024, text);
        assert_eq!(read_text(&dev[..], &h).unwrap().unwrap(), b"vg {\nid = \"x\"\n}\n");
        // The same text starting 10 bytes before the end of the area continues after the header.
        let (dev, h) = area_with_text(8192, 8192 - 10, text);
        assert_eq!(read_text(&dev[..], &h).unwrap().unwrap(), b"vg {\nid = \"x\"\n}\n");
    }

    #[test]
    fn hostile_metadata_locations() {
        let text = b"vg { }\n";
        let (mut dev, h) = area_with_text(8192, 1024, text);
        let with = |r: RawLocn| MdaHeader { committed: Some(r), ..h };
        let r = h.committed.unwrap();
        let err = |h: MdaHeader, dev: &[u8]| read_text(dev, &h).unwrap_err().to_string();
        assert!(err(with(RawLocn { offset: 9000, ..r }), &dev).contains("outside the area"));
        assert!(err(with(RawLocn { offset: 100, ..r }), &dev).contains("outside the area"));
        assert!(err(with(RawLocn { size: 8000, ..r }), &dev).contains("exceeds the area"));
        // A huge declared area and text: refused by the cap, nothing allocated.
        let huge = MdaHeader { size: u64::MAX, committed: Some(RawLocn { size: u64::MAX / 2, ..r }), ..h };
        assert!(err(huge, &dev).contains("cap"));
        let edge =
            MdaHeader { size: u64::MAX, committed: Some(RawLocn { offset: u64::MAX - 10, size: 100, ..r }), ..h };
        assert!(err(edge, &dev).contains("beyond 2^64"));
        // An area declared larger than the device: the read fails cleanly.
        let big = MdaHeader { size: 1 << 30, committed: Some(RawLocn { offset: 1 << 29, ..r }), ..h };
        assert!(err(big, &dev).contains("reading"));
        // A flipped byte in the text.
        dev[4096 + 1024] ^= 0x20;
        assert!(err(h, &dev).contains("text checksum"));
        // Empty and ignored areas hold no metadata.
        assert_eq!(read_text(&dev[..], &MdaHeader { committed: None, ..h }), Ok(None));
        assert_eq!(read_text(&dev[..], &MdaHeader { ignored: true, ..h }), Ok(None));
    }

    #[test]
    fn hostile_mda_headers() {
        let r = RawLocn { offset: 512, size: 10, checksum: 0, flags: 0 };
        let s = mda_sector(4096, 1 << 20, r);
        assert!(parse_mda_header(&s, 4096).is_ok());
        assert!(parse_mda_header(&s, 8192).unwrap_err().to_string().contains("records start 4096"));
        assert!(parse_mda_header(&s[..100], 4096).unwrap_err().to_string().contains("100 bytes"));
        let mut bad = s.clone();
        bad[30] ^= 1;
        assert!(parse_mda_header(&bad, 4096).unwrap_err().to_string().contains("header checksum"));
        assert!(parse_mda_header(&mda_sector(4096, 100, r), 4096).unwrap_err().to_string().contains("smaller"));
    }
}
