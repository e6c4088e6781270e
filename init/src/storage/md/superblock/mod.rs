//! MD RAID member superblocks read from disk bytes: v1.0/1.1/1.2 (`struct mdp_superblock_1`,
//! little-endian) and v0.90 (`mdp_super_t`, in the CPU's byte order, as the kernel reads it).
//! Pure functions over byte slices; every count and offset is checked against what was read.

use std::fmt;

use thiserror::Error;

use crate::bytes::or_zero::{le16, le32, le64};

/// The kernel's `MD_SB_MAGIC`.
pub const MAGIC: u32 = 0xa92b_4efc;
/// Every superblock is read as one 4 KiB block (the kernel's `read_disk_sb(rdev, 4096)`).
pub const BLOCK: usize = 4096;
/// v1.x: `max_dev` may not exceed what fits in 4 KiB after the 256-byte header.
const MAX_DEV: usize = (BLOCK - 256) / 2;
/// v0.90 keeps 27 disk descriptors.
const V0_DISKS: u32 = 27;
/// The feature bits this parser (and the kernel's `MD_FEATURE_ALL`) knows.
const FEATURE_ALL: u32 = 0x1fff;

/// Which superblock format, as `md/metadata_version` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metadata {
    V0_90,
    V1_0,
    V1_1,
    V1_2,
}

impl Metadata {
    pub fn as_str(self) -> &'static str {
        match self {
            Metadata::V0_90 => "0.90",
            Metadata::V1_0 => "1.0",
            Metadata::V1_1 => "1.1",
            Metadata::V1_2 => "1.2",
        }
    }
}

impl fmt::Display for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The RAID level (`level` in both formats, signed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    Linear,
    Raid0,
    Raid1,
    Raid4,
    Raid5,
    Raid6,
    Raid10,
    Multipath,
    Faulty,
    Other(i32),
}

impl Level {
    pub fn from_raw(v: i32) -> Level {
        match v {
            -1 => Level::Linear,
            0 => Level::Raid0,
            1 => Level::Raid1,
            4 => Level::Raid4,
            5 => Level::Raid5,
            6 => Level::Raid6,
            10 => Level::Raid10,
            -4 => Level::Multipath,
            -5 => Level::Faulty,
            other => Level::Other(other),
        }
    }

    /// The kernel module of the md personality (the kernel would ask `/sbin/modprobe` for
    /// `md-level-N`; the initramfs has none, so it is loaded beforehand).
    pub fn module(self) -> Option<&'static str> {
        Some(match self {
            Level::Linear => "linear",
            Level::Raid0 => "raid0",
            Level::Raid1 => "raid1",
            Level::Raid4 | Level::Raid5 | Level::Raid6 => "raid456",
            Level::Raid10 => "raid10",
            Level::Multipath => "multipath",
            Level::Faulty => "faulty",
            Level::Other(_) => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Level::Linear => f.write_str("linear"),
            Level::Raid0 => f.write_str("raid0"),
            Level::Raid1 => f.write_str("raid1"),
            Level::Raid4 => f.write_str("raid4"),
            Level::Raid5 => f.write_str("raid5"),
            Level::Raid6 => f.write_str("raid6"),
            Level::Raid10 => f.write_str("raid10"),
            Level::Multipath => f.write_str("multipath"),
            Level::Faulty => f.write_str("faulty"),
            Level::Other(n) => write!(f, "level {n}"),
        }
    }
}

/// What this device is in its array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Holds slot `slot`; `in_sync` is false while it is still being rebuilt or replaces another.
    Active {
        slot: u32,
        in_sync: bool,
    },
    Spare,
    Faulty,
    /// The write journal of a raid4/5/6.
    Journal,
}

/// The v1.x `feature_map` (v0.90's bitmap state bit is mapped onto `BITMAP`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Features(pub u32);

impl Features {
    pub const BITMAP: u32 = 1;
    pub const RECOVERY_OFFSET: u32 = 2;
    pub const RESHAPE_ACTIVE: u32 = 4;
    pub const BAD_BLOCKS: u32 = 8;
    pub const REPLACEMENT: u32 = 16;
    pub const CLUSTERED: u32 = 256;
    pub const JOURNAL: u32 = 512;
    pub const PPL: u32 = 1024;

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}

/// One member's superblock, the fields assembly decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    pub metadata: Metadata,
    /// The array UUID in mdadm's byte order (its hex digits, in order, are mdadm's spelling).
    pub uuid: [u8; 16],
    /// v1.x `set_name` (`host:name`, at most 32 bytes); empty for v0.90.
    pub name: String,
    /// v0.90 `md_minor`: the md device number the array had.
    pub preferred_minor: Option<u32>,
    pub level: Level,
    pub layout: u32,
    /// Chunk size in 512-byte sectors.
    pub chunk_sectors: u32,
    pub raid_disks: u32,
    /// How many slots this superblock's table says were in use when it was written: mdadm -I
    /// starts an array at once when that many members are present, else waits for `-R`.
    pub working: u32,
    pub role: Role,
    pub events: u64,
    /// Creation time, seconds since the epoch (mdadm prefers the newest of several superblocks).
    pub ctime: u64,
    /// Where this member's data starts and how much of it there is, in sectors.
    pub data_offset: u64,
    pub data_size: u64,
    /// Where the superblock itself is, in sectors from the start of the device.
    pub super_offset: u64,
    pub features: Features,
    /// Whether the array was shut down cleanly (no resync pending).
    pub clean: bool,
}

impl Superblock {
    /// mdadm's spelling of the array UUID: `xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx`.
    pub fn uuid_string(&self) -> String {
        format_uuid(&self.uuid)
    }
}

/// mdadm's UUID spelling (`__fname_from_uuid` with `:`), for bytes in mdadm's order.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let hex: Vec<String> = u.chunks(4).map(|c| c.iter().map(|b| format!("{b:02x}")).collect()).collect();
    hex.join(":")
}

/// Why a block that carries the md magic is not a usable superblock.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Reject {
    #[error("only {got} of the superblock's {want} bytes could be read")]
    Short { got: usize, want: usize },
    #[error("major version {0}, not 1")]
    Version(u32),
    #[error("version {0}.{1}, not 0.90 or 0.91")]
    Version0(u32, u32),
    #[error("checksum {stored:#010x} stored, {computed:#010x} computed")]
    Checksum { stored: u32, computed: u32 },
    #[error("max_dev {0} is more than a 4 KiB superblock can hold ({MAX_DEV})")]
    MaxDev(u32),
    #[error("super_offset {stored} but the superblock was read at sector {actual}")]
    SuperOffset { stored: u64, actual: u64 },
    #[error("unknown feature bits {0:#x} (newer than this reader)")]
    Features(u32),
    #[error("reserved padding is not zero (a newer format?)")]
    Padding,
    #[error("data_size {0} sectors is too small")]
    DataSize(u64),
    #[error("data ({offset}+{size} sectors) lies beyond the device ({device} sectors)")]
    Beyond { offset: u64, size: u64, device: u64 },
    #[error("data_offset {0} overlaps the superblock")]
    Overlap(u64),
    #[error("raid_disks {0} is out of range")]
    RaidDisks(u32),
    #[error("role {role} is not below raid_disks {raid_disks}")]
    Role { role: u32, raid_disks: u32 },
    #[error("written on a machine of the other byte order (mdadm --assemble --update=byteorder fixes it)")]
    ByteOrder,
}

/// A v0.90 word: the kernel reads `mdp_super_t` in the CPU's byte order.
fn ne32(b: &[u8], word: usize) -> u32 {
    word.checked_mul(4).and_then(|at| crate::bytes::ne32(b, at)).unwrap_or(0)
}

/// Where each format keeps its superblock on a device of `size` bytes, in the order mdadm tries
/// them (its choice among several valid ones is the newest `ctime`, the first on a tie).
pub fn locations(size: u64) -> Vec<(Metadata, u64)> {
    let sectors = size / 512;
    let mut out = Vec::new();
    // v0.90: the last 64 KiB-aligned 64 KiB block (MD_NEW_SIZE_SECTORS).
    if sectors >= 128 {
        out.push((Metadata::V0_90, ((sectors & !127) - 128) * 512));
    }
    // v1.0: at least 8 KiB, less than 12 KiB from the end, 4 KiB aligned; mdadm wants 24 sectors.
    if sectors >= 24 {
        out.push((Metadata::V1_0, ((sectors - 16) & !7) * 512));
    }
    out.push((Metadata::V1_1, 0));
    if sectors >= 16 {
        out.push((Metadata::V1_2, 4096));
    }
    out
}

/// Parses the block read at `offset` bytes of a device of `dev_sectors` sectors as `meta`.
/// `Ok(None)`: no magic there (nothing md about it).
pub fn parse(meta: Metadata, b: &[u8], offset: u64, dev_sectors: u64) -> Result<Option<Superblock>, Reject> {
    match meta {
        Metadata::V0_90 => parse_v0(b, offset / 512, dev_sectors),
        _ => parse_v1(meta, b, offset / 512, dev_sectors),
    }
}

/// The v1.x checksum: 32-bit little-endian words over 256 + 2*max_dev bytes (sb_csum as zero),
/// a trailing half-word, and the carry folded in once (`calc_sb_1_csum`).
fn v1_csum(b: &[u8], len: usize) -> u32 {
    let mut sum: u64 = 0;
    let mut o = 0;
    while o + 4 <= len {
        if o != 216 {
            sum += u64::from(le32(b, o));
        }
        o += 4;
    }
    if len - o == 2 {
        sum += u64::from(le16(b, o));
    }
    #[allow(clippy::cast_possible_truncation, reason = "the kernel folds the carry once, in 32 bits")]
    let folded = ((sum & 0xffff_ffff) + (sum >> 32)) as u32;
    folded
}

fn parse_v1(meta: Metadata, b: &[u8], at: u64, dev_sectors: u64) -> Result<Option<Superblock>, Reject> {
    if le32(b, 0) != MAGIC {
        return Ok(None);
    }
    if b.len() < 256 {
        return Err(Reject::Short { got: b.len(), want: 256 });
    }
    let major = le32(b, 4);
    if major != 1 {
        return Err(Reject::Version(major));
    }
    let max_dev = le32(b, 220);
    if max_dev as usize > MAX_DEV {
        return Err(Reject::MaxDev(max_dev));
    }
    let len = 256 + 2 * max_dev as usize;
    if b.len() < len {
        return Err(Reject::Short { got: b.len(), want: len });
    }
    let super_offset = le64(b, 144);
    if super_offset != at {
        return Err(Reject::SuperOffset { stored: super_offset, actual: at });
    }
    let features = le32(b, 8);
    if features & !FEATURE_ALL != 0 {
        return Err(Reject::Features(features & !FEATURE_ALL));
    }
    let (stored, computed) = (le32(b, 216), v1_csum(b, len));
    if stored != computed {
        return Err(Reject::Checksum { stored, computed });
    }
    if le32(b, 12) != 0 || b[224..256].iter().any(|&x| x != 0) {
        return Err(Reject::Padding);
    }
    let (data_offset, data_size) = (le64(b, 128), le64(b, 136));
    if data_size < 10 {
        return Err(Reject::DataSize(data_size));
    }
    if data_offset.checked_add(data_size).is_none_or(|end| end > dev_sectors) {
        return Err(Reject::Beyond { offset: data_offset, size: data_size, device: dev_sectors });
    }
    // 1.1 and 1.2 keep the data after the superblock (the kernel's own check).
    let sb_sectors = (len as u64).div_ceil(512);
    if meta != Metadata::V1_0 && data_offset < at.saturating_add(sb_sectors) {
        return Err(Reject::Overlap(data_offset));
    }
    let raid_disks = le32(b, 92);
    if raid_disks == 0 || raid_disks as usize > MAX_DEV {
        return Err(Reject::RaidDisks(raid_disks));
    }
    let dev_number = le32(b, 160);
    let raw_role = if dev_number < max_dev { le16(b, 256 + 2 * dev_number as usize) } else { 0xffff };
    let in_sync = features & (Features::RECOVERY_OFFSET | Features::REPLACEMENT) == 0;
    let role = match raw_role {
        0xffff => Role::Spare,
        0xfffe => Role::Faulty,
        0xfffd => Role::Journal,
        r if u32::from(r) < raid_disks => Role::Active { slot: u32::from(r), in_sync },
        r => return Err(Reject::Role { role: u32::from(r), raid_disks }),
    };
    let working = (0..max_dev as usize).filter(|&i| u32::from(le16(b, 256 + 2 * i)) < raid_disks).count();
    let working = u32::try_from(working).unwrap_or(u32::MAX);
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&b[16..32]);
    let raw_name = &b[32..64];
    let end = raw_name.iter().position(|&c| c == 0).unwrap_or(raw_name.len());
    Ok(Some(Superblock {
        metadata: meta,
        uuid,
        name: String::from_utf8_lossy(&raw_name[..end]).into_owned(),
        preferred_minor: None,
        level: Level::from_raw(le32(b, 72).cast_signed()),
        layout: le32(b, 76),
        chunk_sectors: le32(b, 88),
        raid_disks,
        working,
        role,
        events: le64(b, 200),
        ctime: le64(b, 64) & ((1 << 40) - 1),
        data_offset,
        data_size,
        super_offset,
        features: Features(features),
        clean: le64(b, 208) == u64::MAX,
    }))
}

/// The v0.90 checksum: every native 32-bit word of the 4 KiB (sb_csum as zero), carry folded
/// once, then both sides folded to 16 bits before comparing (`calc_sb_csum`, `md_csum_fold`).
fn v0_csum(b: &[u8]) -> u32 {
    let sum: u64 = (0..BLOCK / 4).filter(|&w| w != SB_CSUM).map(|w| u64::from(ne32(b, w))).sum();
    #[allow(clippy::cast_possible_truncation, reason = "the kernel folds the carry once, in 32 bits")]
    let folded = ((sum & 0xffff_ffff) + (sum >> 32)) as u32;
    folded
}
fn fold(c: u32) -> u32 {
    let c = (c & 0xffff) + (c >> 16);
    (c & 0xffff) + (c >> 16)
}

/// Word offsets in `mdp_super_t`.
const SB_CSUM: usize = 38;
const DISKS: usize = 128;
const THIS_DISK: usize = 992;

fn parse_v0(b: &[u8], at: u64, dev_sectors: u64) -> Result<Option<Superblock>, Reject> {
    let magic = ne32(b, 0);
    if magic == MAGIC.swap_bytes() && le32(b, 0) != MAGIC {
        return Err(Reject::ByteOrder);
    }
    if magic != MAGIC {
        return Ok(None);
    }
    if b.len() < BLOCK {
        return Err(Reject::Short { got: b.len(), want: BLOCK });
    }
    let (major, minor) = (ne32(b, 1), ne32(b, 2));
    if major != 0 || !(90..=91).contains(&minor) {
        return Err(Reject::Version0(major, minor));
    }
    let raid_disks = ne32(b, 10);
    if raid_disks.cast_signed() <= 0 || raid_disks > V0_DISKS {
        return Err(Reject::RaidDisks(raid_disks));
    }
    let (stored, computed) = (ne32(b, SB_CSUM), v0_csum(b));
    if fold(stored) != fold(computed) {
        return Err(Reject::Checksum { stored, computed });
    }
    let raw_level = ne32(b, 7).cast_signed();
    // `size` is the component size in KiB; the data runs from sector 0 to the superblock.
    let size = u64::from(ne32(b, 8)) * 2;
    if size > at && raw_level >= 1 {
        return Err(Reject::Beyond { offset: 0, size, device: dev_sectors });
    }
    let state = ne32(b, 33);
    let word = |i: usize| ne32(b, i);
    let events = if cfg!(target_endian = "little") {
        u64::from(word(40)) << 32 | u64::from(word(39))
    } else {
        u64::from(word(39)) << 32 | u64::from(word(40))
    };
    // The role is what the array's table says about this disk's descriptor (super_90_validate).
    let desc = word(THIS_DISK);
    if desc >= V0_DISKS {
        return Err(Reject::Role { role: desc, raid_disks });
    }
    let d = DISKS + 32 * desc as usize;
    let (slot, dstate) = (word(d + 3), word(d + 4));
    let role = if dstate & 1 != 0 {
        Role::Faulty
    } else if dstate & (1 << 2) != 0 || (dstate & (1 << 1) != 0 && minor >= 91) {
        if slot >= raid_disks {
            return Err(Reject::Role { role: slot, raid_disks });
        }
        Role::Active { slot, in_sync: dstate & (1 << 2) != 0 }
    } else {
        Role::Spare
    };
    // Slots in sync, active and not faulty in the table (getinfo_super0).
    let working = (0..V0_DISKS as usize)
        .map(|i| (word(DISKS + 32 * i + 3), word(DISKS + 32 * i + 4)))
        .filter(|&(slot, st)| st & 0b111 == 0b110 && slot < raid_disks)
        .count();
    let working = u32::try_from(working).unwrap_or(u32::MAX);
    let mut uuid = [0u8; 16];
    for (i, w) in [5, 13, 14, 15].into_iter().enumerate() {
        uuid[i * 4..i * 4 + 4].copy_from_slice(&word(w).to_be_bytes());
    }
    // Reshape (0.91 with a reshape position) is told apart as v1.x's feature bit.
    let mut features = if state & (1 << 8) != 0 { Features::BITMAP } else { 0 };
    if minor == 91 && u64::from(ne32(b, 44)) | (u64::from(ne32(b, 45)) << 32) != u64::MAX {
        features |= Features::RESHAPE_ACTIVE;
    }
    Ok(Some(Superblock {
        metadata: Metadata::V0_90,
        uuid,
        name: String::new(),
        preferred_minor: Some(word(11)),
        level: Level::from_raw(raw_level),
        layout: word(64),
        chunk_sectors: word(65) / 512,
        raid_disks,
        working,
        role,
        events,
        ctime: u64::from(word(6)),
        data_offset: 0,
        data_size: at,
        super_offset: at,
        features: Features(features),
        clean: state & 1 != 0,
    }))
}

/// A block with the md magic that was not accepted, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub metadata: Metadata,
    pub offset: u64,
    pub reason: Reject,
}

/// What one device holds: the superblock mdadm would use, and any md-looking block refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Examined {
    pub superblock: Option<Superblock>,
    pub rejected: Vec<Rejected>,
}

/// Reads a device's candidate superblocks through `read(offset, buf) -> bytes read` (one 4 KiB
/// block each) and picks as mdadm's `guess_super` does: the newest ctime, the first on a tie.
pub fn examine(size: u64, read: &mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<usize>) -> Examined {
    let mut out = Examined::default();
    let mut buf = vec![0u8; BLOCK];
    for (meta, offset) in locations(size) {
        let got = match read(offset, &mut buf) {
            Ok(n) => n.min(BLOCK),
            Err(_) => continue,
        };
        let block = &buf[..got];
        match parse(meta, block, offset, size / 512) {
            Ok(Some(sb)) => {
                if out.superblock.as_ref().is_none_or(|best| sb.ctime > best.ctime) {
                    out.superblock = Some(sb);
                }
            }
            Ok(None) => {}
            Err(reason) => out.rejected.push(Rejected { metadata: meta, offset, reason }),
        }
    }
    out
}

#[cfg(test)]
mod tests;
