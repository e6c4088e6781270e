//! Crafted hostile disks, for the probe target's seeds, the tests that check PID 1's probe on
//! them and the VM scenarios that attach them (qemu-tests/tests/hostile.rs): each is a
//! valid-looking table with one declared value that must not be believed.

use rdbreak_init::bytes::crc32;

const LBA: usize = 512;

/// An MBR partition entry: type, first sector, sector count.
fn mbr_entry(sector: &mut [u8], slot: usize, kind: u8, start: u32, sectors: u32) {
    let e = &mut sector[446 + slot * 16..446 + slot * 16 + 16];
    e[4] = kind;
    e[8..12].copy_from_slice(&start.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
}

/// A protective MBR and a GPT header at LBA 1 whose checksum is right, declaring `count` entries
/// of `size` bytes at LBA 2; the entries themselves are zero.
pub fn gpt_declaring(disk_bytes: usize, count: u32, size: u32) -> Vec<u8> {
    let mut d = vec![0u8; disk_bytes.max(4 * LBA)];
    let sectors = (d.len() / LBA) as u64;
    mbr_entry(&mut d, 0, 0xEE, 1, u32::try_from(sectors - 1).unwrap_or(u32::MAX));
    d[510..512].copy_from_slice(&[0x55, 0xAA]);
    let h = &mut d[LBA..2 * LBA];
    h[0..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes()); // revision 1.0
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&1u64.to_le_bytes()); // this header's LBA
    h[32..40].copy_from_slice(&(sectors - 1).to_le_bytes()); // the backup's
    h[40..48].copy_from_slice(&34u64.to_le_bytes()); // first usable
    h[48..56].copy_from_slice(&(sectors.saturating_sub(34)).to_le_bytes()); // last usable
    h[56..72].copy_from_slice(b"rdbreak-hostile!"); // disk GUID
    h[72..80].copy_from_slice(&2u64.to_le_bytes());
    h[80..84].copy_from_slice(&count.to_le_bytes());
    h[84..88].copy_from_slice(&size.to_le_bytes());
    let crc = crc32(&h[..92]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    d
}

/// rdbreak issue 14 #1: 4096 entries of 0xFFFFFF80 bytes, 16 TiB the prober once allocated.
pub fn gpt_huge_entries(disk_bytes: usize) -> Vec<u8> {
    gpt_declaring(disk_bytes, 4096, 0xFFFF_FF80)
}

/// 2^32 - 1 entries of a valid size: 512 GiB of entries on a disk of a few KiB.
pub fn gpt_huge_count(disk_bytes: usize) -> Vec<u8> {
    gpt_declaring(disk_bytes, u32::MAX, 128)
}

/// rdbreak issue 14 #2: an MBR with a primary partition and an extended one whose first EBR
/// holds a logical partition and links to a second EBR, which holds an empty (0-sector) entry
/// and links to itself.
pub fn ebr_loop(disk_bytes: usize) -> Vec<u8> {
    let mut d = vec![0u8; disk_bytes.max(80 * LBA)];
    let sectors = u32::try_from(d.len() / LBA).unwrap_or(u32::MAX);
    d[440..444].copy_from_slice(&0x1404_2026u32.to_le_bytes()); // disk signature
    mbr_entry(&mut d, 0, 0x83, 2, 14);
    mbr_entry(&mut d, 1, 0x05, 16, sectors - 16);
    d[510..512].copy_from_slice(&[0x55, 0xAA]);
    // EBR 1 at sector 16: a logical partition at 16 + 2, then the link to EBR 2 at 16 + 32.
    let ebr1 = &mut d[16 * LBA..17 * LBA];
    mbr_entry(ebr1, 0, 0x83, 2, 14);
    mbr_entry(ebr1, 1, 0x05, 32, 16);
    ebr1[510..512].copy_from_slice(&[0x55, 0xAA]);
    // EBR 2 at sector 48: an empty entry, and a link back to itself.
    let ebr2 = &mut d[48 * LBA..49 * LBA];
    mbr_entry(ebr2, 0, 0x83, 2, 0);
    mbr_entry(ebr2, 1, 0x05, 32, 16);
    ebr2[510..512].copy_from_slice(&[0x55, 0xAA]);
    d
}

/// Every crafted disk at `disk_bytes`, by name (the corpus and the VM tests use these names).
pub fn all(disk_bytes: usize) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("gpt-huge-entries", gpt_huge_entries(disk_bytes)),
        ("gpt-huge-count", gpt_huge_count(disk_bytes)),
        ("ebr-loop", ebr_loop(disk_bytes)),
    ]
}
