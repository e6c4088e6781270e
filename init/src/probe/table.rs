//! Partition tables of a whole disk (GPT, MBR with its chain of extended boot records): which
//! partition numbers the kernel will create and their PARTUUID/PARTLABEL. Every size and count
//! the table declares is checked before anything is read or allocated, every walk over on-disk
//! links is bounded, and what was wrong is kept so `blkid` and the boot's reports can say it.

use super::{guid, le16, le32, le64, utf16_label, vfat, Disk, ProbeError};
use crate::bytes::crc32;

/// The largest GPT entry array read (8192 entries of 128 bytes). Real tables are 16 KiB.
pub const GPT_ENTRIES_MAX: usize = 1 << 20;
/// The most extended boot records followed: the kernel makes at most 256 partitions per disk.
pub const EBR_MAX: usize = 256;
const LBA: u64 = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    Gpt,
    Dos,
}

impl TableKind {
    /// As blkid's PTTYPE names it.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Gpt => "gpt",
            TableKind::Dos => "dos",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// 1-based, as the kernel numbers partitions.
    pub number: u32,
    pub start_lba: u64,
    pub sectors: u64,
    pub partuuid: Option<String>,
    pub partlabel: Option<String>,
}

/// A partition table, with what could not be read of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub kind: TableKind,
    pub partitions: Vec<Partition>,
    /// Set when the table (or its tail) was not used, and why.
    pub problem: Option<ProbeError>,
}

/// The partition table of a whole disk whose first bytes are `head`; None when it has none.
/// GPT wins over its protective MBR; a GPT that does not verify leaves an MBR that is not
/// protective in charge, as in the kernel.
pub fn partitions(head: &[u8], disk: &Disk<'_>) -> Option<Table> {
    match gpt(head, disk) {
        Some(Ok(partitions)) => Some(Table { kind: TableKind::Gpt, partitions, problem: None }),
        Some(Err(e)) => {
            mbr(head, disk).or(Some(Table { kind: TableKind::Gpt, partitions: Vec::new(), problem: Some(e) }))
        }
        None => mbr(head, disk),
    }
}

/// None when there is no GPT signature at LBA 1.
fn gpt(head: &[u8], disk: &Disk<'_>) -> Option<Result<Vec<Partition>, ProbeError>> {
    let hdr = head.get(512..512 + 92)?;
    (&hdr[0..8] == b"EFI PART").then(|| gpt_entries(head, hdr, disk))
}

fn gpt_entries(head: &[u8], hdr: &[u8], disk: &Disk<'_>) -> Result<Vec<Partition>, ProbeError> {
    let field = |off| le32(hdr, off).unwrap_or(0);
    let hdr_size = field(12);
    if !(92..=512).contains(&hdr_size) {
        return Err(ProbeError::GptHeaderSize(hdr_size));
    }
    let mut check = head
        .get(512..512 + hdr_size as usize)
        .ok_or(ProbeError::PastEnd { what: "GPT header", offset: 512, len: hdr_size.into(), size: disk.size() })?
        .to_vec();
    let stored = field(16);
    check[16..20].fill(0);
    let computed = crc32(&check);
    if computed != stored {
        return Err(ProbeError::GptHeaderCrc { stored, computed });
    }
    let entries_lba = le64(hdr, 72).unwrap_or(0);
    let (count, size) = (field(80), field(84));
    // 128 × 2^n bytes (UEFI); the kernel itself takes only 128.
    if !(128..=4096).contains(&size) || !size.is_power_of_two() {
        return Err(ProbeError::GptEntrySize { count, size });
    }
    if entries_lba < 2 {
        return Err(ProbeError::GptEntriesLba(entries_lba));
    }
    let len = u64::from(count) * u64::from(size);
    let table = disk.read("GPT partition entries", entries_lba.saturating_mul(LBA), len, GPT_ENTRIES_MAX)?;
    let (stored, computed) = (field(88), crc32(&table));
    if computed != stored {
        return Err(ProbeError::GptEntriesCrc { stored, computed });
    }
    let mut out = Vec::new();
    for (i, e) in (1u32..).zip(table.chunks_exact(size as usize)) {
        if e[0..16].iter().all(|&x| x == 0) {
            continue; // an unused entry
        }
        let (first, last) = (le64(e, 32).unwrap_or(0), le64(e, 40).unwrap_or(0));
        // An entry that ends before it starts is not a partition (the kernel skips it too).
        let Some(sectors) = last.checked_sub(first).and_then(|n| n.checked_add(1)) else {
            continue;
        };
        out.push(Partition {
            number: i,
            start_lba: first,
            sectors,
            partuuid: guid(e, 16),
            partlabel: utf16_label(e, 56, 72),
        });
    }
    Ok(out)
}

fn mbr(head: &[u8], disk: &Disk<'_>) -> Option<Table> {
    if le16(head, 510)? != 0xAA55 {
        return None;
    }
    // A FAT boot sector also ends in 55AA; its partition slots are boot code, not a table.
    if vfat(head).is_some() {
        return None;
    }
    let sig = le32(head, 440)?;
    let partuuid = |n: u32| Some(format!("{sig:08x}-{n:02x}"));
    let mut partitions = Vec::new();
    let mut extended = None;
    for (n, i) in (1u32..).zip(0..4) {
        let e = head.get(446 + i * 16..446 + i * 16 + 16)?;
        if e[0] & 0x7F != 0 {
            return None; // status must be 0x00 or 0x80 in a real table
        }
        let kind = e[4];
        let start = u64::from(le32(e, 8)?);
        let sectors = u64::from(le32(e, 12)?);
        if kind == 0 || sectors == 0 {
            continue;
        }
        if kind == 0xEE {
            return None; // protective MBR of a GPT disk whose GPT did not verify
        }
        if matches!(kind, 0x05 | 0x0F | 0x85) {
            extended = Some(start);
        }
        partitions.push(Partition { number: n, start_lba: start, sectors, partuuid: partuuid(n), partlabel: None });
    }
    let mut table = Table { kind: TableKind::Dos, partitions, problem: None };
    if let Some(ext_start) = extended {
        table.problem = logical(ext_start, disk, &mut table.partitions, &partuuid).err();
    }
    Some(table)
}

/// Logical partitions: a chain of EBRs, numbered from 5. Each EBR is read once (a chain that
/// comes back to one it has read is a loop, whether or not its entries are empty), and at most
/// [`EBR_MAX`] of them.
fn logical(
    ext_start: u64,
    disk: &Disk<'_>,
    out: &mut Vec<Partition>,
    partuuid: &dyn Fn(u32) -> Option<String>,
) -> Result<(), ProbeError> {
    let mut visited: Vec<u64> = Vec::new();
    let mut ebr = ext_start;
    let mut n = 5u32;
    loop {
        if visited.contains(&ebr) {
            return Err(ProbeError::EbrLoop { sector: ebr, logical: n - 5 });
        }
        if visited.len() == EBR_MAX {
            return Err(ProbeError::EbrTooLong(EBR_MAX));
        }
        visited.push(ebr);
        let sector = disk.read("extended boot record", ebr * LBA, LBA, 512) /* one LBA */?;
        if le16(&sector, 510) != Some(0xAA55) {
            return Err(ProbeError::EbrSignature(ebr));
        }
        let field = |off| u64::from(le32(&sector, off).unwrap_or(0));
        let (rel, len, next) = (field(446 + 8), field(446 + 12), field(462 + 8));
        if len > 0 {
            out.push(Partition {
                number: n,
                start_lba: ebr + rel,
                sectors: len,
                partuuid: partuuid(n),
                partlabel: None,
            });
            n += 1;
        }
        if next == 0 {
            return Ok(());
        }
        ebr = ext_start + next;
    }
}

/// When `data` has a GPT header, a copy with its entries' and its header's CRC-32 recomputed:
/// for the fuzz target, whose random mutations almost never keep a checksum right, so that the
/// entries and every check after the checksums are fuzzed too.
pub fn with_gpt_checksums(data: &[u8]) -> Option<Vec<u8>> {
    let at = 512; // LBA 1
                  // The whole 92-byte header must be there: its checksum fields are written below.
    if data.get(at..at + 92)?[..8] != *b"EFI PART" {
        return None;
    }
    let mut d = data.to_vec();
    let lba = le64(&d, at + 72)?;
    let len = u64::from(le32(&d, at + 80)?) * u64::from(le32(&d, at + 84)?);
    let entries = lba.checked_mul(LBA).and_then(|s| Some(s..s.checked_add(len)?));
    if let Some(r) = entries.and_then(|r| Some(usize::try_from(r.start).ok()?..usize::try_from(r.end).ok()?)) {
        if let Some(table) = d.get(r) {
            let crc = crc32(table);
            d[at + 88..at + 92].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let hdr_size = le32(&d, at + 12)?.clamp(92, 512) as usize;
    d[at + 16..at + 20].fill(0);
    let crc = crc32(d.get(at..at + hdr_size)?);
    d[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::super::tests::image;
    use super::super::PROBE_BYTES;
    use super::*;
    use std::process::Command;

    fn sfdisk(path: &str, script: &str) -> bool {
        use std::io::Write;
        let Ok(mut child) = Command::new("sfdisk").arg("-q").arg(path).stdin(std::process::Stdio::piped()).spawn()
        else {
            eprintln!("skipping: sfdisk is not installed");
            return false;
        };
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        true
    }

    fn table_of(bytes: &[u8]) -> Option<Table> {
        let disk = Disk::new(&bytes, bytes.len() as u64);
        partitions(&disk.head(), &disk)
    }

    #[test]
    fn gpt_partitions() {
        let (_d, p) = image(64);
        let script = "label: gpt\nlabel-id: 11111111-2222-3333-4444-555555555555\n\
            start=2048, size=20480, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=6A1F2B3C-4D5E-4F60-8172-839405A6B7C8, name=\"root part\"\n\
            start=22528, size=20480, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, uuid=AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE\n";
        if !sfdisk(&p, script) {
            return;
        }
        let whole = std::fs::read(&p).unwrap();
        let t = table_of(&whole).unwrap();
        assert_eq!((t.kind, &t.problem), (TableKind::Gpt, &None));
        let parts = t.partitions;
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].number, 1);
        assert_eq!(parts[0].start_lba, 2048);
        assert_eq!(parts[0].sectors, 20480);
        assert_eq!(parts[0].partuuid.as_deref(), Some("6a1f2b3c-4d5e-4f60-8172-839405a6b7c8"));
        assert_eq!(parts[0].partlabel.as_deref(), Some("root part"));
        assert_eq!(parts[1].partlabel, None);
        // A damaged header is not trusted, and says so.
        let mut bad = whole.clone();
        bad[512 + 40] ^= 0xFF;
        let t = table_of(&bad).unwrap();
        assert!(t.partitions.is_empty());
        assert!(matches!(t.problem, Some(ProbeError::GptHeaderCrc { .. })), "{:?}", t.problem);
        // Entries cut off by the end of the device.
        let t = table_of(&whole[..PROBE_BYTES.min(2048)]).unwrap();
        assert!(matches!(t.problem, Some(ProbeError::PastEnd { .. })), "{:?}", t.problem);
    }

    #[test]
    fn mbr_partitions_with_logical() {
        let (_d, p) = image(64);
        let script = "label: dos\nlabel-id: 0xdeadbeef\nstart=2048, size=20480, type=83\nstart=22528, type=5\nstart=24576, size=8192, type=83\nstart=34816, size=8192, type=82\n";
        if !sfdisk(&p, script) {
            return;
        }
        let whole = std::fs::read(&p).unwrap();
        let t = table_of(&whole).unwrap();
        assert_eq!((t.kind, &t.problem), (TableKind::Dos, &None));
        let ids: Vec<_> = t.partitions.iter().map(|p| (p.number, p.partuuid.clone().unwrap(), p.start_lba)).collect();
        assert_eq!(ids[0], (1, "deadbeef-01".to_string(), 2048));
        assert_eq!(ids[2], (5, "deadbeef-05".to_string(), 24576));
        assert_eq!(ids[3], (6, "deadbeef-06".to_string(), 34816));
    }
}
