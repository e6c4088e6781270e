//! The parser and the plan against members made by the real mdadm in the builder VM: the first
//! and last MiB of each, its size and `mdadm --examine` (init/src/storage/testdata/md, made by its
//! regenerate.sh). What mdadm says about each member is what `examine` must find.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::*;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage/testdata/md")
}

fn unzstd(path: &Path) -> Vec<u8> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    ruzstd::decoding::StreamingDecoder::new(data.as_slice()).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// A member device: its first and last MiB, zeros in between.
struct Image {
    name: String,
    array: String,
    size: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    examine: String,
}

impl Image {
    fn read(&self, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(0);
        let tail_at = self.size - self.tail.len() as u64;
        // Copies the part of `part` (placed at `at`) that overlaps the read.
        let mut place = |part: &[u8], at: u64| {
            let start = off.max(at);
            let end = (off + buf.len() as u64).min(at + part.len() as u64);
            if start < end {
                let us = |v: u64| usize::try_from(v).unwrap();
                buf[us(start - off)..us(end - off)].copy_from_slice(&part[us(start - at)..us(end - at)]);
            }
        };
        place(&self.head, 0);
        place(&self.tail, tail_at);
        Ok(buf.len().min(usize::try_from(self.size.saturating_sub(off)).unwrap_or(usize::MAX)))
    }

    fn examined(&self) -> Examined {
        examine(self.size, &mut |off, buf| self.read(off, buf))
    }

    /// A field of `mdadm --examine` (`   Array UUID : …`).
    fn field(&self, key: &str) -> Option<&str> {
        self.examine.lines().find_map(|l| l.trim().strip_prefix(key)?.trim_start().strip_prefix(':')).map(str::trim)
    }

    fn found(&self, minor: u32) -> Found {
        let sb = self.examined().superblock.unwrap_or_else(|| panic!("{}: no superblock", self.name));
        Found { name: self.name.clone(), major: 8, minor, sb }
    }
}

/// Decompressed once for all the tests.
fn images() -> &'static [Image] {
    static IMAGES: std::sync::OnceLock<Vec<Image>> = std::sync::OnceLock::new();
    IMAGES.get_or_init(load)
}

fn load() -> Vec<Image> {
    let d = dir();
    let list = std::fs::read_to_string(d.join("members.txt")).expect("init/src/storage/testdata/md/members.txt");
    list.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let m = d.join("members").join(f[0]);
            let with = |ext: &str| PathBuf::from(format!("{}.{ext}", m.display()));
            Image {
                name: f[0].into(),
                array: f[2].into(),
                size: f[1].parse().unwrap(),
                head: unzstd(&with("head.zst")),
                tail: unzstd(&with("tail.zst")),
                examine: std::fs::read_to_string(with("examine")).unwrap(),
            }
        })
        .collect()
}

#[test]
fn every_member_reads_as_mdadm_examines_it() {
    let all = images();
    assert!(all.len() >= 25, "the fixtures are there");
    for m in all {
        let e = m.examined();
        assert!(e.rejected.is_empty(), "{}: {:?}", m.name, e.rejected);
        let sb = e.superblock.unwrap_or_else(|| panic!("{}: no superblock", m.name));
        let version = m.field("Version").unwrap();
        assert!(version.starts_with(sb.metadata.as_str()), "{}: {version} vs {}", m.name, sb.metadata);
        let uuid = m.field("Array UUID").or_else(|| m.field("UUID")).unwrap();
        assert_eq!(sb.uuid_string(), uuid.split_whitespace().next().unwrap(), "{}", m.name);
        assert_eq!(sb.level.to_string(), m.field("Raid Level").unwrap(), "{}", m.name);
        assert_eq!(sb.raid_disks.to_string(), m.field("Raid Devices").unwrap(), "{}", m.name);
        assert_eq!(sb.events.to_string(), m.field("Events").unwrap(), "{}", m.name);
        if sb.metadata == Metadata::V0_90 {
            assert_eq!(sb.name, "");
            // `this     0       8       17        0      active sync   /dev/sdb1`: the slot is column 5.
            let this = m.examine.lines().find(|l| l.starts_with("this")).unwrap();
            let slot: u32 = this.split_whitespace().nth(4).unwrap().parse().unwrap();
            assert_eq!(sb.role, Role::Active { slot, in_sync: true }, "{}", m.name);
            assert_eq!(sb.data_offset, 0);
        } else {
            assert_eq!(sb.name, m.field("Name").unwrap().split_whitespace().next().unwrap(), "{}", m.name);
            let role = m.field("Device Role").unwrap();
            let want = match role.strip_prefix("Active device ") {
                Some(n) => Role::Active { slot: n.parse().unwrap(), in_sync: true },
                None => Role::Spare,
            };
            assert_eq!(sb.role, want, "{}: {role}", m.name);
            // mdadm leaves out a zero data offset (1.0).
            let offset = m.field("Data Offset").unwrap_or("0 sectors");
            assert_eq!(format!("{} sectors", sb.data_offset), offset, "{}", m.name);
            assert_eq!(format!("{} sectors", sb.super_offset), m.field("Super Offset").unwrap(), "{}", m.name);
            assert_eq!(sb.features.has(Features::BITMAP), m.field("Internal Bitmap").is_some(), "{}", m.name);
        }
        if let Some(chunk) = m.field("Chunk Size") {
            assert_eq!(format!("{}K", sb.chunk_sectors / 2), chunk, "{}", m.name);
        }
    }
}

#[test]
fn real_superblocks_refuse_any_changed_byte() {
    for m in images().iter().filter(|m| m.name.ends_with("-0")) {
        let sb = m.examined().superblock.unwrap();
        let at = sb.super_offset * 512;
        // A changed magic is no superblock at all; any other changed byte is refused.
        for byte in [0u64, 20, 72, 92, 200, 256] {
            let mut copy = Image {
                name: m.name.clone(),
                array: m.array.clone(),
                size: m.size,
                head: m.head.clone(),
                tail: m.tail.clone(),
                examine: String::new(),
            };
            let (buf, base) = if at < copy.head.len() as u64 {
                (&mut copy.head, at)
            } else {
                (&mut copy.tail, at - (m.size - 1_048_576))
            };
            buf[usize::try_from(base + byte).unwrap()] ^= 0x10;
            let e = copy.examined();
            assert_eq!(e.superblock, None, "{} byte {byte}", m.name);
            assert_eq!(e.rejected.is_empty(), byte == 0, "{} byte {byte}: {:?}", m.name, e.rejected);
        }
    }
}

fn array_of<'a>(all: &'a [Image], array: &str) -> Vec<&'a Image> {
    all.iter().filter(|m| m.array == array).collect()
}

fn plan_of(members: &[&Image]) -> ArrayPlan {
    let found: Vec<Found> = members.iter().enumerate().map(|(i, m)| m.found(16 * u32::try_from(i).unwrap())).collect();
    let mut p = plan(&found);
    assert_eq!(p.len(), 1, "one array");
    p.remove(0)
}

#[test]
fn the_real_arrays_plan_as_mdadm_would_assemble_them() {
    let all = images();
    let found: Vec<Found> = all.iter().enumerate().map(|(i, m)| m.found(u32::try_from(i).unwrap())).collect();
    let plans = plan(&found);
    assert_eq!(plans.len(), 12, "one plan per array");
    for p in &plans {
        let array = &found.iter().find(|f| f.sb.uuid == p.uuid).unwrap().name;
        let array = array.rsplit_once('-').unwrap().0;
        match array {
            "r1-degraded" => assert_eq!((p.missing.clone(), p.readiness.clone()), (vec![1], Readiness::Ready)),
            "r1-stale" => {
                assert_eq!((p.missing.clone(), p.readiness.clone()), (vec![1], Readiness::Ready));
                assert_eq!(p.left_out.len(), 1, "{}", p.describe());
                assert!(p.left_out[0].0 == "r1-stale-1" && p.left_out[0].1.contains("older"), "{}", p.describe());
            }
            _ => assert_eq!((p.missing.len(), &p.readiness), (0, &Readiness::Ready), "{}", p.describe()),
        }
    }

    // Members gone since the arrays last ran.
    let r5 = array_of(all, "r5-1.2");
    let p = plan_of(&[r5[0], r5[2]]);
    assert_eq!((p.missing.clone(), p.readiness), (vec![1], Readiness::AfterWait));
    assert!(matches!(plan_of(&[r5[2]]).readiness, Readiness::NotRunnable(_)));
    let r6 = array_of(all, "r6-1.2");
    assert_eq!(plan_of(&[r6[0], r6[3]]).readiness, Readiness::AfterWait);
    let r10 = array_of(all, "r10-1.2");
    assert_eq!(plan_of(&[r10[0], r10[3]]).readiness, Readiness::AfterWait, "one of each mirror pair");
    assert!(matches!(plan_of(&[r10[2], r10[3]]).readiness, Readiness::NotRunnable(_)), "a whole pair gone");
    let r0 = array_of(all, "r0-1.2");
    assert!(matches!(plan_of(&[r0[1]]).readiness, Readiness::NotRunnable(_)));
    let r1 = array_of(all, "r1-0.90");
    let p = plan_of(&[r1[1]]);
    assert_eq!((p.missing.clone(), p.readiness.clone(), p.metadata), (vec![0], Readiness::AfterWait, Metadata::V0_90));
}

/// A member's whole device bytes (its first and last MiB, zeros between), for tests that put it
/// in a file as a block device would be.
pub(crate) fn device_bytes(name: &str) -> Vec<u8> {
    let m = images().iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no fixture {name}"));
    let mut out = vec![0u8; usize::try_from(m.size).unwrap()];
    m.read(0, &mut out).unwrap();
    out
}
