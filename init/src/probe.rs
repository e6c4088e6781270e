//! Recognising what is on a block device from its first bytes: filesystem superblocks (type, UUID,
//! label) and partition tables (GPT, MBR). Pure functions over byte slices, so they are tested on
//! images made by the real mkfs tools.

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

fn le16(b: &[u8], off: usize) -> Option<u16> {
    b.get(off..off + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}
fn le32(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn le64(b: &[u8], off: usize) -> Option<u64> {
    b.get(off..off + 8).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// 1-based, as the kernel numbers partitions.
    pub number: u32,
    pub start_lba: u64,
    pub sectors: u64,
    pub partuuid: Option<String>,
    pub partlabel: Option<String>,
}

/// CRC-32 (IEEE), for GPT header checks.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Reads the partition table of a whole disk. `read(offset, len)` returns bytes of the disk, so
/// entries beyond the probe buffer can be fetched. GPT wins over its protective MBR.
pub fn partitions(head: &[u8], read: &mut dyn FnMut(u64, usize) -> Option<Vec<u8>>) -> Vec<Partition> {
    if let Some(parts) = gpt(head, read) {
        return parts;
    }
    mbr(head, read).unwrap_or_default()
}

fn gpt(head: &[u8], read: &mut dyn FnMut(u64, usize) -> Option<Vec<u8>>) -> Option<Vec<Partition>> {
    const LBA: usize = 512;
    let hdr = head.get(LBA..LBA + 92)?;
    if &hdr[0..8] != b"EFI PART" {
        return None;
    }
    let hdr_size = le32(hdr, 12)? as usize;
    if !(92..=LBA).contains(&hdr_size) {
        return None;
    }
    let mut check = head.get(LBA..LBA + hdr_size)?.to_vec();
    let stored = le32(&check, 16)?;
    check[16..20].fill(0);
    if crc32(&check) != stored {
        return None;
    }
    let entries_lba = le64(hdr, 72)?;
    let count = le32(hdr, 80)? as usize;
    let size = le32(hdr, 84)? as usize;
    if size < 128 || count > 4096 || entries_lba == 0 {
        return None;
    }
    let start = usize::try_from(entries_lba).ok()?.checked_mul(LBA)?;
    let len = count * size;
    let table = match head.get(start..start + len) {
        Some(t) => t.to_vec(),
        None => read(entries_lba * LBA as u64, len)?,
    };
    if crc32(&table) != le32(hdr, 88)? {
        return None;
    }
    let mut out = Vec::new();
    for (i, e) in table.chunks_exact(size).enumerate() {
        if e[0..16].iter().all(|&x| x == 0) {
            continue;
        }
        let first = le64(e, 32)?;
        let last = le64(e, 40)?;
        out.push(Partition {
            number: i as u32 + 1,
            start_lba: first,
            sectors: last.saturating_sub(first) + 1,
            partuuid: guid(e, 16),
            partlabel: utf16_label(e, 56, 72),
        });
    }
    Some(out)
}

fn mbr(head: &[u8], read: &mut dyn FnMut(u64, usize) -> Option<Vec<u8>>) -> Option<Vec<Partition>> {
    if le16(head, 510)? != 0xAA55 {
        return None;
    }
    // A FAT boot sector also ends in 55AA; its partition slots are boot code, not a table.
    if vfat(head).is_some() {
        return None;
    }
    let sig = le32(head, 440)?;
    let mut out = Vec::new();
    let mut extended = None;
    for i in 0..4 {
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
        let n = i as u32 + 1;
        out.push(Partition {
            number: n,
            start_lba: start,
            sectors,
            partuuid: Some(format!("{sig:08x}-{n:02x}")),
            partlabel: None,
        });
    }
    // Logical partitions: a chain of EBRs, numbered from 5.
    if let Some(ext_start) = extended {
        let mut ebr = ext_start;
        let mut n = 5u32;
        while n < 64 {
            let Some(sector) = read(ebr * 512, 512) else {
                break;
            };
            if le16(&sector, 510) != Some(0xAA55) {
                break;
            }
            let (Some(rel), Some(len), Some(next)) =
                (le32(&sector, 446 + 8), le32(&sector, 446 + 12), le32(&sector, 462 + 8))
            else {
                break;
            };
            if len > 0 {
                out.push(Partition {
                    number: n,
                    start_lba: ebr + u64::from(rel),
                    sectors: u64::from(len),
                    partuuid: Some(format!("{sig:08x}-{n:02x}")),
                    partlabel: None,
                });
                n += 1;
            }
            if next == 0 {
                break;
            }
            ebr = ext_start + u64::from(next);
        }
    }
    Some(out)
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

    fn image(size_mib: u64) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(size_mib << 20).unwrap();
        (dir, path.display().to_string())
    }

    fn head(path: &str) -> Vec<u8> {
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
            assert!(partitions(&head(&p), &mut |_, _| None).is_empty(), "a FAT boot sector is not an MBR");
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
        let noise: Vec<u8> = (0..PROBE_BYTES as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let _ = filesystem(&noise);
        let _ = partitions(&noise, &mut |_, _| None);
    }

    #[test]
    fn gpt_partitions() {
        let (_d, p) = image(64);
        let script = "label: gpt\nlabel-id: 11111111-2222-3333-4444-555555555555\n\
            start=2048, size=20480, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=6A1F2B3C-4D5E-4F60-8172-839405A6B7C8, name=\"root part\"\n\
            start=22528, size=20480, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, uuid=AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE\n";
        let Ok(mut child) = Command::new("sfdisk").arg("-q").arg(&p).stdin(std::process::Stdio::piped()).spawn() else {
            eprintln!("skipping: sfdisk is not installed");
            return;
        };
        use std::io::Write;
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        let whole = std::fs::read(&p).unwrap();
        let parts =
            partitions(&head(&p), &mut |off, len| whole.get(off as usize..off as usize + len).map(<[u8]>::to_vec));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].number, 1);
        assert_eq!(parts[0].start_lba, 2048);
        assert_eq!(parts[0].sectors, 20480);
        assert_eq!(parts[0].partuuid.as_deref(), Some("6a1f2b3c-4d5e-4f60-8172-839405a6b7c8"));
        assert_eq!(parts[0].partlabel.as_deref(), Some("root part"));
        assert_eq!(parts[1].partlabel, None);
        // A damaged header is not trusted.
        let mut bad = head(&p);
        bad[512 + 40] ^= 0xFF;
        assert!(gpt(&bad, &mut |_, _| None).is_none());
    }

    #[test]
    fn mbr_partitions_with_logical() {
        let (_d, p) = image(64);
        let script = "label: dos\nlabel-id: 0xdeadbeef\nstart=2048, size=20480, type=83\nstart=22528, type=5\nstart=24576, size=8192, type=83\nstart=34816, size=8192, type=82\n";
        let Ok(mut child) = Command::new("sfdisk").arg("-q").arg(&p).stdin(std::process::Stdio::piped()).spawn() else {
            return;
        };
        use std::io::Write;
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        let whole = std::fs::read(&p).unwrap();
        let parts =
            partitions(&head(&p), &mut |off, len| whole.get(off as usize..off as usize + len).map(<[u8]>::to_vec));
        let ids: Vec<_> = parts.iter().map(|p| (p.number, p.partuuid.clone().unwrap(), p.start_lba)).collect();
        assert_eq!(ids[0], (1, "deadbeef-01".to_string(), 2048));
        assert_eq!(ids[2], (5, "deadbeef-05".to_string(), 24576));
        assert_eq!(ids[3], (6, "deadbeef-06".to_string(), 34816));
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
