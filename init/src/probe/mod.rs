//! Recognising what is on a block device from its first bytes: filesystem superblocks (type, UUID,
//! label) and partition tables (GPT, MBR, in `table`). Pure functions over what [`Disk::read`]
//! returns, the one read of a device that checks declared sizes before allocating, so they are
//! tested on images made by the real mkfs tools and on crafted hostile ones.

mod table;

use crate::bytes::{le16, le32, le64};

pub use table::{partitions, with_gpt_checksums, Partition, Table, TableKind, EBR_MAX, GPT_ENTRIES_MAX};

/// How many bytes of a device the probes look at (btrfs' superblock ends at 68 KiB).
pub const PROBE_BYTES: usize = 128 * 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filesystem {
    /// The type as blkid names it: `ext4`, `xfs`, `btrfs`, `vfat`, `f2fs`, `swap`, `crypto_LUKS`.
    pub fstype: String,
    pub uuid: Option<String>,
    pub label: Option<String>,
    /// For a filesystem spread over several devices (btrfs): which one this is.
    pub member: Option<Member>,
}

/// One device of a multi-device filesystem: its number and how many devices there are in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub devid: u64,
    pub devices: u64,
}

impl Filesystem {
    /// Whether `other` is another device of this same multi-device filesystem.
    pub fn same_multi_device(&self, other: &Filesystem) -> bool {
        self.member.is_some() && other.member.is_some() && self.fstype == other.fstype && self.uuid == other.uuid
    }

    /// Whether this can be mounted as a root filesystem at all (swap, LUKS and the members of
    /// storage stacks cannot).
    pub fn mountable(&self) -> bool {
        !matches!(self.fstype.as_str(), "swap" | "swsuspend" | "crypto_LUKS" | "LVM2_member" | "linux_raid_member")
    }
}

/// A 16-byte UUID in the usual 8-4-4-4-12 form, bytes in order. None when all zero.
fn uuid(b: &[u8], off: usize) -> Option<String> {
    let u = b.get(off..off + 16)?;
    if u.iter().all(|&x| x == 0) {
        return None;
    }
    let h: Vec<String> = u.iter().map(|x| format!("{x:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    ))
}

/// A GUID as stored in GPT: the first three fields little-endian.
fn guid(b: &[u8], off: usize) -> Option<String> {
    let u = b.get(off..off + 16)?;
    if u.iter().all(|&x| x == 0) {
        return None;
    }
    let mut v = [0u8; 16];
    v.copy_from_slice(u);
    v[0..4].reverse();
    v[4..6].reverse();
    v[6..8].reverse();
    uuid(&v, 0)
}

/// A NUL-padded label; None when empty.
fn label(b: &[u8], off: usize, len: usize) -> Option<String> {
    let raw = b.get(off..off + len)?;
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    let s = String::from_utf8_lossy(&raw[..end]).to_string();
    (!s.is_empty()).then_some(s)
}

fn utf16_label(b: &[u8], off: usize, len: usize) -> Option<String> {
    let raw = b.get(off..off + len)?;
    let units: Vec<u16> =
        raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
    let s = String::from_utf16_lossy(&units);
    (!s.is_empty()).then_some(s)
}

fn ext(b: &[u8]) -> Option<Filesystem> {
    const SB: usize = 1024;
    if le16(b, SB + 0x38)? != 0xEF53 {
        return None;
    }
    let compat = le32(b, SB + 0x5C)?;
    let incompat = le32(b, SB + 0x60)?;
    let ro_compat = le32(b, SB + 0x64)?;
    // A journal device, not a filesystem.
    if incompat & 0x0008 != 0 {
        return Some(Filesystem {
            fstype: "jbd".into(),
            uuid: uuid(b, SB + 0x68),
            label: label(b, SB + 0x78, 16),
            member: None,
        });
    }
    // blkid's rule: features ext3 lacks make it ext4; a journal alone makes it ext3.
    const EXT3_INCOMPAT: u32 = 0x0002 | 0x0004; // filetype, recover
    const EXT3_RO_COMPAT: u32 = 0x0001 | 0x0002 | 0x0004; // sparse_super, large_file, btree_dir
    let fstype = if incompat & !EXT3_INCOMPAT != 0 || ro_compat & !EXT3_RO_COMPAT != 0 {
        "ext4"
    } else if compat & 0x0004 != 0 {
        "ext3"
    } else {
        "ext2"
    };
    Some(Filesystem { fstype: fstype.into(), uuid: uuid(b, SB + 0x68), label: label(b, SB + 0x78, 16), member: None })
}

fn xfs(b: &[u8]) -> Option<Filesystem> {
    (b.get(0..4)? == b"XFSB").then(|| Filesystem {
        fstype: "xfs".into(),
        uuid: uuid(b, 32),
        label: label(b, 108, 12),
        member: None,
    })
}

fn btrfs(b: &[u8]) -> Option<Filesystem> {
    const SB: usize = 0x10000;
    (b.get(SB + 0x40..SB + 0x48)? == b"_BHRfS_M").then(|| Filesystem {
        fstype: "btrfs".into(),
        uuid: uuid(b, SB + 0x20),
        label: label(b, SB + 0x12B, 256),
        // num_devices, and the devid of this device's dev_item.
        member: le64(b, SB + 0xC9).zip(le64(b, SB + 0x88)).map(|(devid, devices)| Member { devid, devices }),
    })
}

fn f2fs(b: &[u8]) -> Option<Filesystem> {
    const SB: usize = 1024;
    (le32(b, SB)? == 0xF2F5_2010).then(|| Filesystem {
        fstype: "f2fs".into(),
        uuid: uuid(b, SB + 0x6C),
        label: utf16_label(b, SB + 0x7C, 512),
        member: None,
    })
}

/// Whether the end of a swap header page holds the signature hibernation writes over the swap
/// signature (the kernel's `S1SUSPEND`, uswsusp's `ULSUSPEND`, …): blkid's `swsuspend`.
pub fn hibernation_signature(page: &[u8]) -> bool {
    let Some(tail) = page.len().checked_sub(10).and_then(|at| page.get(at..)) else { return false };
    [&b"S1SUSPEND"[..], b"S2SUSPEND", b"ULSUSPEND", b"LINHIB0001"].iter().any(|s| tail.starts_with(s))
}

fn swap(b: &[u8]) -> Option<Filesystem> {
    // The signature sits at the end of the first page; 4 KiB pages on x86.
    let sig = b.get(4086..4096)?;
    let fstype = if sig == b"SWAPSPACE2" || sig == b"SWAP-SPACE" {
        "swap"
    } else if hibernation_signature(b.get(..4096)?) {
        // A hibernated swap keeps its header, UUID and label included.
        "swsuspend"
    } else {
        return None;
    };
    Some(Filesystem { fstype: fstype.into(), uuid: uuid(b, 1024 + 12), label: label(b, 1024 + 28, 16), member: None })
}

fn luks(b: &[u8]) -> Option<Filesystem> {
    (b.get(0..6)? == b"LUKS\xba\xbe").then(|| Filesystem {
        fstype: "crypto_LUKS".into(),
        uuid: label(b, 168, 40),
        label: if b.get(6..8) == Some(&[0, 2]) { label(b, 24, 48) } else { None },
        member: None,
    })
}

fn vfat(b: &[u8]) -> Option<Filesystem> {
    if le16(b, 510)? != 0xAA55 {
        return None;
    }
    let (id_off, label_off) = if b.get(0x52..0x5A)? == b"FAT32   " {
        (0x43, 0x47)
    } else if matches!(b.get(0x36..0x3E)?, b"FAT12   " | b"FAT16   " | b"FAT     ") {
        (0x27, 0x2B)
    } else {
        return None;
    };
    let id = le32(b, id_off)?;
    let lbl = label(b, label_off, 11).map(|s| s.trim_end().to_string()).filter(|s| !s.is_empty() && s != "NO NAME");
    Some(Filesystem {
        fstype: "vfat".into(),
        uuid: Some(format!("{:04X}-{:04X}", id >> 16, id & 0xFFFF)),
        label: lbl,
        member: None,
    })
}

/// The filesystem (or swap/LUKS signature) at the start of `b`, if any.
pub fn filesystem(b: &[u8]) -> Option<Filesystem> {
    // Order matters only for hybrids; signatures that live at offset 0 come first.
    luks(b)
        .or_else(|| xfs(b))
        .or_else(|| ext(b))
        .or_else(|| btrfs(b))
        .or_else(|| f2fs(b))
        .or_else(|| swap(b))
        .or_else(|| vfat(b))
}

/// What went wrong reading a partition table: the declared value, and the limit it broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("the {what} would be {len} bytes, more than the {cap} bytes a probe reads")]
    TooLarge { what: &'static str, len: u64, cap: usize },
    #[error("the {what} ({len} bytes at byte {offset}) lies beyond the end of the {size}-byte device")]
    PastEnd { what: &'static str, offset: u64, len: u64, size: u64 },
    #[error("no memory for the {what} ({len} bytes)")]
    NoMemory { what: &'static str, len: u64 },
    #[error("reading the {what} ({len} bytes at byte {offset}) stopped after {got} bytes: {error}")]
    Short { what: &'static str, offset: u64, len: u64, got: u64, error: String },
    #[error("the GPT header declares a size of {0} bytes (92 to 512)")]
    GptHeaderSize(u32),
    #[error("the GPT header's checksum is {stored:08x}, its bytes give {computed:08x}")]
    GptHeaderCrc { stored: u32, computed: u32 },
    #[error("the GPT header declares {count} entries of {size} bytes (an entry is 128 × 2^n bytes, at most 4096)")]
    GptEntrySize { count: u32, size: u32 },
    #[error("the GPT header puts its entries at LBA {0}, inside the header")]
    GptEntriesLba(u64),
    #[error("the GPT entries' checksum is {stored:08x}, their bytes give {computed:08x}")]
    GptEntriesCrc { stored: u32, computed: u32 },
    #[error("the chain of extended boot records comes back to sector {sector} after {logical} logical partitions")]
    EbrLoop { sector: u64, logical: u32 },
    #[error("the chain of extended boot records is longer than {0} records")]
    EbrTooLong(usize),
    #[error("the extended boot record at sector {0} has no 55AA signature")]
    EbrSignature(u64),
}

/// A positioned read: the block device in PID 1, bytes in memory in tests and fuzzing. Nothing
/// else differs between the two: sizes, caps and allocation are [`Disk::read`]'s.
pub trait ReadAt {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;
}

impl ReadAt for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

impl ReadAt for &[u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let start = usize::try_from(offset).map_or(self.len(), |o| o.min(self.len()));
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// A device with the size the kernel gives for it.
pub struct Disk<'a> {
    dev: &'a dyn ReadAt,
    size: u64,
}

impl<'a> Disk<'a> {
    pub fn new(dev: &'a dyn ReadAt, size: u64) -> Disk<'a> {
        Disk { dev, size }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// `len` bytes at `offset`, the one read every probe makes. A length that comes from the
    /// disk is checked against `cap` and the device's size before anything is allocated, and
    /// the buffer is reserved fallibly: a failed allocation is an abort, not a panic, and would
    /// take PID 1 down with it.
    pub fn read(&self, what: &'static str, offset: u64, len: u64, cap: usize) -> Result<Vec<u8>, ProbeError> {
        if len > cap as u64 {
            return Err(ProbeError::TooLarge { what, len, cap });
        }
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(ProbeError::PastEnd { what, offset, len, size: self.size });
        }
        // Not above `cap`, a usize: checked above.
        let len_usize = usize::try_from(len).unwrap_or(cap);
        let mut buf = Vec::new();
        buf.try_reserve_exact(len_usize).map_err(|_| ProbeError::NoMemory { what, len })?;
        buf.resize(len_usize, 0);
        let mut got = 0;
        while got < buf.len() {
            match self.dev.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => {
                    return Err(ProbeError::Short { what, offset, len, got: got as u64, error: "end of device".into() })
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ProbeError::Short { what, offset, len, got: got as u64, error: e.to_string() }),
            }
        }
        Ok(buf)
    }

    /// The first [`PROBE_BYTES`] (or the whole device, when smaller): what the filesystem
    /// probes look at. Empty when the device cannot be read.
    pub fn head(&self) -> Vec<u8> {
        self.read("start of the device", 0, self.size.min(PROBE_BYTES as u64), PROBE_BYTES).unwrap_or_default()
    }
}

/// What the probes found on one device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub fs: Option<Filesystem>,
    pub table: Option<Table>,
}

/// Probes one device: its filesystem, and for a whole disk without one, its partition table.
/// PID 1 (`devices::probe_all`) and the fuzz target both come through here.
pub fn device(disk: &Disk<'_>, whole_disk: bool) -> Found {
    let head = disk.head();
    let fs = filesystem(&head);
    let table = if whole_disk && fs.is_none() { partitions(&head, disk) } else { None };
    Found { fs, table }
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as a whole disk of their length, probed
/// as PID 1 probes a block device (only the positioned read is memory instead of pread(2));
/// then the same bytes with their GPT checksums made right. Never panics.
pub fn fuzz_one(data: &[u8]) {
    let _ = device(&Disk::new(&data, data.len() as u64), true);
    if let Some(fixed) = with_gpt_checksums(data) {
        let _ = device(&Disk::new(&fixed.as_slice(), fixed.len() as u64), true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs a tool to build a test image; tests needing an absent tool are skipped, with a note.
    fn make(tool: &str, args: &[&str]) -> bool {
        match Command::new(tool).args(args).output() {
            Ok(o) if o.status.success() => true,
            Ok(o) => panic!("{tool} {args:?} failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(_) => {
                eprintln!("skipping: {tool} is not installed");
                false
            }
        }
    }

    pub(super) fn image(size_mib: u64) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(size_mib << 20).unwrap();
        (dir, path.display().to_string())
    }

    pub(super) fn head(path: &str) -> Vec<u8> {
        let mut b = std::fs::read(path).unwrap();
        b.truncate(PROBE_BYTES);
        b
    }

    const U: &str = "0b4e2f1e-7d1c-4c8e-9a55-1f2e3d4c5b6a";

    #[test]
    fn ext4_ext3_ext2() {
        for (kind, fstype) in [("ext4", "ext4"), ("ext3", "ext3"), ("ext2", "ext2")] {
            let (_d, p) = image(16);
            if !make(&format!("mkfs.{kind}"), &["-q", "-F", "-U", U, "-L", "rootfs", &p]) {
                return;
            }
            let fs = filesystem(&head(&p)).unwrap();
            assert_eq!(
                fs,
                Filesystem { fstype: fstype.into(), uuid: Some(U.into()), label: Some("rootfs".into()), member: None }
            );
        }
    }

    #[test]
    fn xfs() {
        let (_d, p) = image(300);
        if !make("mkfs.xfs", &["-q", "-f", "-m", &format!("uuid={U}"), "-L", "xroot", &p]) {
            return;
        }
        let fs = filesystem(&head(&p)).unwrap();
        assert_eq!(
            fs,
            Filesystem { fstype: "xfs".into(), uuid: Some(U.into()), label: Some("xroot".into()), member: None }
        );
    }

    #[test]
    fn btrfs() {
        let (_d, p) = image(128);
        if !make("mkfs.btrfs", &["-q", "-f", "-U", U, "-L", "broot", &p]) {
            return;
        }
        let fs = filesystem(&head(&p)).unwrap();
        let member = Some(Member { devid: 1, devices: 1 });
        assert_eq!(
            fs,
            Filesystem { fstype: "btrfs".into(), uuid: Some(U.into()), label: Some("broot".into()), member }
        );
    }

    /// A btrfs RAID1 over two devices: one UUID, told apart by their device numbers.
    #[test]
    fn btrfs_on_two_devices() {
        let (_d, a) = image(128);
        let b = a.replace("disk.img", "second.img");
        std::fs::File::create(&b).unwrap().set_len(128 << 20).unwrap();
        if !make("mkfs.btrfs", &["-q", "-f", "-d", "raid1", "-m", "raid1", "-U", U, &a, &b]) {
            return;
        }
        let (fa, fb) = (filesystem(&head(&a)).unwrap(), filesystem(&head(&b)).unwrap());
        assert_eq!((fa.uuid.as_deref(), fb.uuid.as_deref()), (Some(U), Some(U)));
        assert_eq!(fa.member, Some(Member { devid: 1, devices: 2 }));
        assert_eq!(fb.member, Some(Member { devid: 2, devices: 2 }));
    }

    #[test]
    fn vfat_and_swap() {
        let (_d, p) = image(40);
        if make("mkfs.vfat", &["-F", "32", "-i", "1234ABCD", "-n", "ESP", &p]) {
            let fs = filesystem(&head(&p)).unwrap();
            assert_eq!(
                fs,
                Filesystem {
                    fstype: "vfat".into(),
                    uuid: Some("1234-ABCD".into()),
                    label: Some("ESP".into()),
                    member: None
                }
            );
            let h = head(&p);
            assert_eq!(
                partitions(&h, &Disk::new(&h.as_slice(), h.len() as u64)),
                None,
                "a FAT boot sector is not an MBR"
            );
        }
        let (_d, p) = image(16);
        if make("mkswap", &["-U", U, "-L", "sw", &p]) {
            let fs = filesystem(&head(&p)).unwrap();
            assert_eq!(
                fs,
                Filesystem { fstype: "swap".into(), uuid: Some(U.into()), label: Some("sw".into()), member: None }
            );
            assert!(!fs.mountable());
            // Hibernation writes its signature over the swap's; blkid then says swsuspend and
            // still shows the UUID, which resume=UUID= names.
            let mut b = head(&p);
            b[4086..4095].copy_from_slice(b"S1SUSPEND");
            let fs = filesystem(&b).unwrap();
            assert_eq!((fs.fstype.as_str(), fs.uuid.as_deref()), ("swsuspend", Some(U)));
            assert!(!fs.mountable());
        }
    }

    #[test]
    fn luks_header() {
        let mut b = vec![0u8; 4096];
        b[0..6].copy_from_slice(b"LUKS\xba\xbe");
        b[6..8].copy_from_slice(&[0, 2]);
        b[24..29].copy_from_slice(b"vault");
        b[168..168 + 36].copy_from_slice(U.as_bytes());
        let fs = filesystem(&b).unwrap();
        assert_eq!(fs.fstype, "crypto_LUKS");
        assert_eq!(fs.uuid.as_deref(), Some(U));
        assert_eq!(fs.label.as_deref(), Some("vault"));
        assert!(!fs.mountable());
    }

    #[test]
    fn empty_and_garbage() {
        assert_eq!(filesystem(&[0u8; PROBE_BYTES]), None);
        assert_eq!(filesystem(&[]), None);
        let noise: Vec<u8> = (0..u32::try_from(PROBE_BYTES).unwrap())
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
            .collect();
        let _ = filesystem(&noise);
        let _ = device(&Disk::new(&noise.as_slice(), noise.len() as u64), true);
    }
}
