//! Integers and CRC-32 out of bytes read from a disk or the kernel, which may be short or crafted.
//! Every read checks its bounds, the offset's addition included: a field that is not all there is
//! `None`, never a panic. The on-disk parsers (partition tables, superblocks, LVM, MD, LUKS,
//! device-mapper replies) share these instead of each keeping its own.

/// The `N` bytes at `at`, when they are all there.
pub fn take<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub fn le16(b: &[u8], at: usize) -> Option<u16> {
    take(b, at).map(u16::from_le_bytes)
}
pub fn le32(b: &[u8], at: usize) -> Option<u32> {
    take(b, at).map(u32::from_le_bytes)
}
pub fn le64(b: &[u8], at: usize) -> Option<u64> {
    take(b, at).map(u64::from_le_bytes)
}
pub fn be32(b: &[u8], at: usize) -> Option<u32> {
    take(b, at).map(u32::from_be_bytes)
}
pub fn be64(b: &[u8], at: usize) -> Option<u64> {
    take(b, at).map(u64::from_be_bytes)
}
/// In the CPU's byte order: the kernel's own structures (`dm_ioctl`, MD's v0.90 superblock).
pub fn ne32(b: &[u8], at: usize) -> Option<u32> {
    take(b, at).map(u32::from_ne_bytes)
}
pub fn ne64(b: &[u8], at: usize) -> Option<u64> {
    take(b, at).map(u64::from_ne_bytes)
}

/// The same reads for records whose length is checked once before their fields are: a field past
/// the end reads as 0, which every caller's later checks reject (a zero magic, size or count).
pub mod or_zero {
    pub fn le16(b: &[u8], at: usize) -> u16 {
        super::le16(b, at).unwrap_or(0)
    }
    pub fn le32(b: &[u8], at: usize) -> u32 {
        super::le32(b, at).unwrap_or(0)
    }
    pub fn le64(b: &[u8], at: usize) -> u64 {
        super::le64(b, at).unwrap_or(0)
    }
    pub fn be32(b: &[u8], at: usize) -> u32 {
        super::be32(b, at).unwrap_or(0)
    }
    pub fn be64(b: &[u8], at: usize) -> u64 {
        super::be64(b, at).unwrap_or(0)
    }
}

/// CRC-32 as zlib and GPT compute it: the reflected polynomial, inverted at both ends.
pub fn crc32(data: &[u8]) -> u32 {
    !crc32_raw(!0, data)
}

/// The reflected CRC-32 polynomial (0xEDB88320) over `data` from `state`, inverted at neither
/// end: lvm2's `calc_crc` seeds it with its own constant. A byte at a time from a table, not
/// eight shifts per byte (the fuzz targets checksum every GPT entry array they make, 16 KiB).
pub fn crc32_raw(state: u32, data: &[u8]) -> u32 {
    data.iter().fold(state, |c, &b| CRC32_TABLE[usize::from(c.to_le_bytes()[0] ^ b)] ^ (c >> 8))
}

const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        #[allow(clippy::cast_possible_truncation, reason = "i < 256")]
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_is_there_and_nothing_past_it() {
        let b = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(le16(&b, 0), Some(0x0201));
        assert_eq!(le32(&b, 1), Some(0x0504_0302));
        assert_eq!(le64(&b, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(be32(&b, 0), Some(0x0102_0304));
        assert_eq!(be64(&b, 0), Some(0x0102_0304_0506_0708));
        assert_eq!(ne32(&b, 0), Some(u32::from_ne_bytes([1, 2, 3, 4])));
        assert_eq!(le64(&b, 2), None, "one byte short");
        assert_eq!(le32(&b, 9), None);
        // An offset that a crafted field could hold: the end would wrap past usize::MAX.
        assert_eq!(le32(&b, usize::MAX - 1), None);
        assert_eq!(or_zero::le32(&b, usize::MAX), 0);
        assert_eq!(or_zero::be64(&b, 1), 0x0203_0405_0607_0809);
    }

    #[test]
    fn crc32_is_zlibs_and_lvms() {
        // The standard check value of "123456789".
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(CRC32_TABLE[1], 0x7707_3096);
        // Without inversions: a seed passes through empty data, and lvm2's seed over its data.
        assert_eq!(crc32_raw(0xf597_a6cf, b""), 0xf597_a6cf);
        assert_eq!(crc32_raw(0, b"\x01"), CRC32_TABLE[1]);
    }
}
