//! Crafted superblocks: every field read, every refusal, hostile mutations. The checksums and
//! layouts themselves are checked against mdadm's own superblocks in `fixtures.rs`.

use super::*;

fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

fn seal_v1(b: &mut [u8]) {
    let len = 256 + 2 * le32(b, 220) as usize;
    let c = v1_csum(b, len);
    put32(b, 216, c);
}

/// A v1.2 superblock of a 2-disk raid1, this device in slot 1.
fn v1() -> Vec<u8> {
    let mut b = vec![0u8; BLOCK];
    put32(&mut b, 0, MAGIC);
    put32(&mut b, 4, 1);
    for i in 0..16 {
        b[16 + i] = u8::try_from(i).unwrap() + 1;
    }
    b[32..41].copy_from_slice(b"host:root");
    put64(&mut b, 64, 1_700_000_000 | 7 << 40);
    put32(&mut b, 72, 1);
    put64(&mut b, 80, 100_000);
    put32(&mut b, 92, 2);
    put64(&mut b, 128, 2048);
    put64(&mut b, 136, 100_000);
    put64(&mut b, 144, 8);
    put32(&mut b, 160, 1);
    put64(&mut b, 200, 42);
    put64(&mut b, 208, u64::MAX);
    put32(&mut b, 220, 4);
    for (i, r) in [0u16, 1, 0xffff, 0xffff].iter().enumerate() {
        b[256 + 2 * i..258 + 2 * i].copy_from_slice(&r.to_le_bytes());
    }
    seal_v1(&mut b);
    b
}

const DEV: u64 = 200_000;

#[test]
fn v1_fields() {
    let sb = parse(Metadata::V1_2, &v1(), 4096, DEV).unwrap().unwrap();
    assert_eq!(sb.uuid_string(), "01020304:05060708:090a0b0c:0d0e0f10");
    assert_eq!(sb.name, "host:root");
    assert_eq!((sb.level, sb.raid_disks, sb.working, sb.events), (Level::Raid1, 2, 2, 42));
    assert_eq!(sb.role, Role::Active { slot: 1, in_sync: true });
    assert_eq!((sb.data_offset, sb.data_size, sb.super_offset), (2048, 100_000, 8));
    assert_eq!(sb.ctime, 1_700_000_000, "microseconds in the top bits are not seconds");
    assert!(sb.clean);
    assert_eq!(sb.preferred_minor, None);
}

#[test]
fn v1_refusals() {
    let at = 4096;
    type Case = (Box<dyn Fn(&mut Vec<u8>)>, bool, Reject);
    let cases: Vec<Case> = vec![
        (Box::new(|b| b[40] = b'X'), false, Reject::Checksum { stored: le32(&v1(), 216), computed: 0 }),
        (Box::new(|b| put32(b, 220, 1921)), false, Reject::MaxDev(1921)),
        (Box::new(|b| put32(b, 4, 2)), false, Reject::Version(2)),
        (Box::new(|b| put64(b, 144, 0)), true, Reject::SuperOffset { stored: 0, actual: 8 }),
        (Box::new(|b| put32(b, 8, 1 << 13)), true, Reject::Features(1 << 13)),
        (Box::new(|b| put32(b, 12, 1)), true, Reject::Padding),
        (Box::new(|b| b[230] = 1), true, Reject::Padding),
        (Box::new(|b| put64(b, 136, 9)), true, Reject::DataSize(9)),
        (Box::new(|b| put64(b, 136, DEV)), true, Reject::Beyond { offset: 2048, size: DEV, device: DEV }),
        (Box::new(|b| put64(b, 128, u64::MAX)), true, Reject::Beyond { offset: u64::MAX, size: 100_000, device: DEV }),
        (Box::new(|b| put64(b, 128, 8)), true, Reject::Overlap(8)),
        (Box::new(|b| put32(b, 92, 0)), true, Reject::RaidDisks(0)),
        (Box::new(|b| b[258] = 5), true, Reject::Role { role: 5, raid_disks: 2 }),
    ];
    for (i, (mutate, reseal, want)) in cases.into_iter().enumerate() {
        let mut b = v1();
        mutate(&mut b);
        if reseal {
            seal_v1(&mut b);
        }
        let got = parse(Metadata::V1_2, &b, at, DEV).unwrap_err();
        match (&got, &want) {
            (Reject::Checksum { .. }, Reject::Checksum { .. }) => {}
            _ => assert_eq!(got, want, "case {i}"),
        }
    }
    // The role table must lie inside what was read.
    let mut b = v1();
    put32(&mut b, 220, 384);
    seal_v1(&mut b);
    assert_eq!(parse(Metadata::V1_2, &b[..1000], at, DEV), Err(Reject::Short { got: 1000, want: 1024 }));
    assert_eq!(parse(Metadata::V1_2, &b[..100], at, DEV), Err(Reject::Short { got: 100, want: 256 }));
    // No magic: nothing md here, not an error.
    assert_eq!(parse(Metadata::V1_2, &[0u8; BLOCK], at, DEV), Ok(None));
    assert_eq!(parse(Metadata::V1_2, &[], at, DEV), Ok(None));
}

#[test]
fn v1_roles() {
    let role = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = v1();
        f(&mut b);
        seal_v1(&mut b);
        parse(Metadata::V1_2, &b, 4096, DEV).unwrap().unwrap().role
    };
    assert_eq!(role(&|b| put32(b, 160, 4)), Role::Spare, "dev_number beyond max_dev");
    assert_eq!(role(&|b| b[258..260].copy_from_slice(&[0xfe, 0xff])), Role::Faulty);
    assert_eq!(role(&|b| b[258..260].copy_from_slice(&[0xfd, 0xff])), Role::Journal);
    assert_eq!(role(&|b| put32(b, 8, Features::RECOVERY_OFFSET)), Role::Active { slot: 1, in_sync: false });
    assert_eq!(role(&|b| put32(b, 8, Features::REPLACEMENT)), Role::Active { slot: 1, in_sync: false });
}

#[test]
fn v1_checksum_counts_a_trailing_half_word() {
    let mut b = v1();
    put32(&mut b, 220, 3);
    seal_v1(&mut b);
    assert!(parse(Metadata::V1_2, &b, 4096, DEV).unwrap().is_some());
    b[260] ^= 1; // roles[2], the half word after the last full one
    assert!(matches!(parse(Metadata::V1_2, &b, 4096, DEV), Err(Reject::Checksum { .. })));
}

fn put_ne(b: &mut [u8], word: usize, v: u32) {
    b[word * 4..word * 4 + 4].copy_from_slice(&v.to_ne_bytes());
}

fn seal_v0(b: &mut [u8]) {
    let c = v0_csum(b);
    put_ne(b, SB_CSUM, c);
}

/// A v0.90 superblock of a 2-disk raid1 (md_minor 3), this device descriptor 1 in slot 1.
fn v0() -> Vec<u8> {
    let mut b = vec![0u8; BLOCK];
    for (w, v) in [(0, MAGIC), (2, 90), (5, 0x0102_0304), (6, 1_600_000_000), (7, 1), (8, 50_000), (10, 2), (11, 3)] {
        put_ne(&mut b, w, v);
    }
    for (w, v) in [(13, 0x0506_0708), (14, 0x090a_0b0c), (15, 0x0d0e_0f10), (33, 1), (65, 65536)] {
        put_ne(&mut b, w, v);
    }
    // events = 5 << 32 | 9, the halves in the CPU's order of the struct.
    let (lo, hi) = if cfg!(target_endian = "little") { (39, 40) } else { (40, 39) };
    put_ne(&mut b, lo, 9);
    put_ne(&mut b, hi, 5);
    for d in 0..2 {
        put_ne(&mut b, DISKS + 32 * d, u32::try_from(d).unwrap());
        put_ne(&mut b, DISKS + 32 * d + 3, u32::try_from(d).unwrap());
        put_ne(&mut b, DISKS + 32 * d + 4, 0b110);
    }
    put_ne(&mut b, THIS_DISK, 1);
    seal_v0(&mut b);
    b
}

#[test]
fn v0_fields_and_refusals() {
    let at = 100_096;
    let sb = parse(Metadata::V0_90, &v0(), at * 512, 100_352).unwrap().unwrap();
    assert_eq!(sb.uuid_string(), "01020304:05060708:090a0b0c:0d0e0f10", "each word printed as a number");
    assert_eq!((sb.level, sb.raid_disks, sb.working, sb.events), (Level::Raid1, 2, 2, 5 << 32 | 9));
    assert_eq!(sb.role, Role::Active { slot: 1, in_sync: true });
    assert_eq!((sb.preferred_minor, sb.chunk_sectors, sb.clean), (Some(3), 128, true));
    assert_eq!((sb.data_offset, sb.data_size, sb.super_offset), (0, at, at));

    // The kernel compares 16-bit folds: a stored sum that differs only by the carry passes.
    let mut b = v0();
    let c = ne32(&b, SB_CSUM);
    put_ne(&mut b, SB_CSUM, c.wrapping_add(0xffff));
    assert!(parse(Metadata::V0_90, &b, at * 512, 100_352).unwrap().is_some());
    b[100] ^= 1;
    assert!(matches!(parse(Metadata::V0_90, &b, at * 512, 100_352), Err(Reject::Checksum { .. })));

    let refuse = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = v0();
        f(&mut b);
        seal_v0(&mut b);
        parse(Metadata::V0_90, &b, at * 512, 100_352).unwrap_err()
    };
    assert_eq!(refuse(&|b| put_ne(b, 2, 92)), Reject::Version0(0, 92));
    assert_eq!(refuse(&|b| put_ne(b, 10, 0)), Reject::RaidDisks(0));
    assert_eq!(refuse(&|b| put_ne(b, 10, 28)), Reject::RaidDisks(28));
    assert_eq!(refuse(&|b| put_ne(b, THIS_DISK, 27)), Reject::Role { role: 27, raid_disks: 2 });
    assert_eq!(refuse(&|b| put_ne(b, DISKS + 32 + 3, 2)), Reject::Role { role: 2, raid_disks: 2 });
    assert_eq!(refuse(&|b| put_ne(b, 8, 60_000)), Reject::Beyond { offset: 0, size: 120_000, device: 100_352 });
    let mut swapped = v0();
    for w in swapped.chunks_mut(4) {
        w.reverse();
    }
    assert_eq!(parse(Metadata::V0_90, &swapped, at * 512, 100_352), Err(Reject::ByteOrder));
    assert_eq!(parse(Metadata::V0_90, &v0()[..2000], at * 512, 100_352), Err(Reject::Short { got: 2000, want: BLOCK }));
}

#[test]
fn v0_working_counts_active_in_sync_slots() {
    for (state, working) in [(0b110, 2), (0b1001, 1), (0b111, 1), (0b010, 1), (0b100, 1)] {
        let mut b = v0();
        put_ne(&mut b, DISKS + 4, state);
        seal_v0(&mut b);
        let sb = parse(Metadata::V0_90, &b, 100_096 * 512, 100_352).unwrap().unwrap();
        assert_eq!(sb.working, working, "disk 0 in state {state:#b}");
    }
}

#[test]
fn v0_roles() {
    let role = |state: u32, minor: u32| {
        let mut b = v0();
        put_ne(&mut b, 2, minor);
        put_ne(&mut b, DISKS + 32 + 4, state);
        seal_v0(&mut b);
        parse(Metadata::V0_90, &b, 100_096 * 512, 100_352).unwrap().unwrap().role
    };
    assert_eq!(role(0b111, 90), Role::Faulty);
    assert_eq!(role(0, 90), Role::Spare);
    assert_eq!(role(0b010, 90), Role::Spare, "active without sync is a spare before 0.91");
    assert_eq!(role(0b010, 91), Role::Active { slot: 1, in_sync: false });
}

#[test]
fn locations_for_any_size() {
    for size in [0, 511, 512 * 16, 512 * 24, 65535, 65536, 1 << 40, u64::MAX] {
        for (_, at) in locations(size) {
            assert!(at < size.max(1) || size < 8192, "{size}: {at}");
        }
    }
    let l = locations(10 << 20);
    assert_eq!(
        l,
        vec![
            (Metadata::V0_90, (10 << 20) - 65536),
            (Metadata::V1_0, (10 << 20) - 8192),
            (Metadata::V1_1, 0),
            (Metadata::V1_2, 4096)
        ]
    );
}

/// A device image of `size` bytes with blocks placed at offsets.
fn device(size: u64, blocks: &[(u64, Vec<u8>)]) -> impl FnMut(u64, &mut [u8]) -> std::io::Result<usize> + '_ {
    move |off, buf| {
        buf.fill(0);
        if off >= size {
            return Ok(0);
        }
        for (at, b) in blocks {
            if *at == off {
                buf[..b.len()].copy_from_slice(b);
            }
        }
        Ok(buf.len().min(usize::try_from(size - off).unwrap_or(usize::MAX)))
    }
}

#[test]
fn examine_prefers_the_newest_and_keeps_refusals() {
    let size = DEV * 512;
    let mut older = v1();
    put64(&mut older, 64, 1_000);
    put64(&mut older, 144, 0);
    put64(&mut older, 128, 2048);
    seal_v1(&mut older);
    let mut bad = v0();
    bad[200] ^= 1;
    let v0_at = locations(size)[0].1;
    let e = examine(size, &mut device(size, &[(0, older), (4096, v1()), (v0_at, bad)]));
    assert_eq!(e.superblock.unwrap().metadata, Metadata::V1_2, "1.2 is newer than 1.1 here");
    assert_eq!(e.rejected.len(), 1);
    assert_eq!(e.rejected[0].metadata, Metadata::V0_90);
    assert!(matches!(e.rejected[0].reason, Reject::Checksum { .. }));

    let e = examine(size, &mut |_, _| Err(std::io::Error::other("I/O error")));
    assert_eq!(e, Examined::default());
    assert_eq!(examine(0, &mut device(0, &[])), Examined::default());
}

/// xorshift64*, reproducible (the fuzz room's generator sits above this one).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % n.max(1) as u64).unwrap()
    }
}

#[test]
fn hostile_mutations_never_panic() {
    let mut rng = Rng(0x6d64);
    let seeds = [v1(), v0()];
    for i in 0..3000 {
        let mut b = seeds[i % 2].clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(b.len());
            b[at] = rng.next_u64().to_le_bytes()[0];
        }
        if rng.below(2) == 0 {
            // Mostly valid checksums, so the later checks are reached too.
            if i % 2 == 0 {
                let m = le32(&b, 220) % 2000;
                put32(&mut b, 220, m);
                seal_v1(&mut b);
            } else {
                seal_v0(&mut b);
            }
        }
        let cut = if rng.below(4) == 0 { rng.below(b.len()) } else { b.len() };
        let dev = rng.next_u64() >> rng.below(64);
        for meta in [Metadata::V0_90, Metadata::V1_0, Metadata::V1_1, Metadata::V1_2] {
            let _ = parse(meta, &b[..cut], rng.next_u64() >> rng.below(64), dev);
        }
    }
}
