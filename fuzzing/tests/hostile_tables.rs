//! The probe on crafted hostile partition tables (rdbreak issue 14 #1 and #2): every size and
//! count a table declares is checked before anything is read or allocated, every walk over its
//! links is bounded. The disks are `rdbreak_fuzzing::crafted`'s, the probe target's seeds; the
//! VM scenarios of qemu-tests/tests/hostile.rs attach the same disks to a booting PID 1.

use rdbreak_fuzzing::crafted as disks;
use rdbreak_init::probe::{partitions, Disk, ProbeError, Table, TableKind, EBR_MAX, GPT_ENTRIES_MAX};

fn table_of(bytes: &[u8]) -> Option<Table> {
    let disk = Disk::new(&bytes, bytes.len() as u64);
    partitions(&disk.head(), &disk)
}

/// Declared sizes are checked before anything is read or allocated (rdbreak issue 14 #1: 4096
/// entries of 0xFFFFFF80 bytes once made PID 1 allocate 16 TiB and abort).
#[test]
fn hostile_gpt_headers_are_refused_before_allocating() {
    let t = table_of(&disks::gpt_huge_entries(1 << 20)).unwrap();
    assert_eq!(t.kind, TableKind::Gpt);
    assert!(t.partitions.is_empty());
    assert_eq!(t.problem, Some(ProbeError::GptEntrySize { count: 4096, size: 0xFFFF_FF80 }));
    let shown = t.problem.unwrap().to_string();
    assert!(shown.contains("4096 entries of 4294967168 bytes"), "{shown}");
    let t = table_of(&disks::gpt_huge_count(1 << 20)).unwrap();
    assert_eq!(
        t.problem,
        Some(ProbeError::TooLarge {
            what: "GPT partition entries",
            len: u64::from(u32::MAX) * 128,
            cap: GPT_ENTRIES_MAX
        })
    );
    // A sane size that still lies past the end of the device.
    let t = table_of(&disks::gpt_declaring(4096, 128, 128)).unwrap();
    assert_eq!(
        t.problem,
        Some(ProbeError::PastEnd { what: "GPT partition entries", offset: 1024, len: 16384, size: 4096 })
    );
    for size in [0, 92, 130, 8192] {
        let t = table_of(&disks::gpt_declaring(1 << 20, 128, size)).unwrap();
        assert_eq!(t.problem, Some(ProbeError::GptEntrySize { count: 128, size }));
    }
    // 256-byte entries are allowed (128 × 2^n); zero entries give an empty table, no problem.
    let t = table_of(&disks::gpt_declaring(1 << 20, 128, 256)).unwrap();
    assert!(matches!(t.problem, Some(ProbeError::GptEntriesCrc { .. })), "{:?}", t.problem);
    assert_eq!(table_of(&disks::gpt_declaring(1 << 20, 0, 128)).unwrap().problem, None);
}

/// Every EBR is read once and at most EBR_MAX of them (rdbreak issue 14 #2: a chain that
/// looped on an empty logical entry never ended, and the boot hung with no shell).
#[test]
fn ebr_chains_that_loop_or_never_end_are_cut() {
    let t = table_of(&disks::ebr_loop(1 << 20)).unwrap();
    assert_eq!(t.kind, TableKind::Dos);
    let found: Vec<(u32, u64, u64)> = t.partitions.iter().map(|p| (p.number, p.start_lba, p.sectors)).collect();
    assert_eq!(found, [(1, 2, 14), (2, 16, 2032), (5, 18, 14)]);
    assert_eq!(t.problem, Some(ProbeError::EbrLoop { sector: 48, logical: 1 }));
    // A loop of EBRs that each hold a partition: one pass, not 59 phantoms.
    let mut d = disks::ebr_loop(1 << 20);
    d[48 * 512 + 446 + 12..48 * 512 + 446 + 16].copy_from_slice(&4u32.to_le_bytes());
    let t = table_of(&d).unwrap();
    assert_eq!(t.partitions.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2, 5, 6]);
    assert_eq!(t.problem, Some(ProbeError::EbrLoop { sector: 48, logical: 2 }));
    // A chain that goes on and on through fresh sectors, each EBR pointing at the next.
    let mut d = disks::ebr_loop(1 << 20);
    for i in 0..300u32 {
        let at = (16 + 32 + i as usize) * 512;
        d[at + 446 + 4] = 0x83;
        d[at + 446 + 8..at + 446 + 12].copy_from_slice(&1u32.to_le_bytes());
        d[at + 446 + 12..at + 446 + 16].copy_from_slice(&0u32.to_le_bytes());
        d[at + 462 + 4] = 0x05;
        d[at + 462 + 8..at + 462 + 12].copy_from_slice(&(33 + i).to_le_bytes());
        d[at + 510..at + 512].copy_from_slice(&[0x55, 0xAA]);
    }
    assert_eq!(table_of(&d).unwrap().problem, Some(ProbeError::EbrTooLong(EBR_MAX)));
    // A link past the end of the device, and one to a sector without the signature.
    let mut d = disks::ebr_loop(1 << 20);
    d[48 * 512 + 462 + 8..48 * 512 + 462 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(table_of(&d).unwrap().problem, Some(ProbeError::PastEnd { .. })));
    d[48 * 512 + 462 + 8..48 * 512 + 462 + 12].copy_from_slice(&100u32.to_le_bytes());
    assert_eq!(table_of(&d).unwrap().problem, Some(ProbeError::EbrSignature(116)));
}
