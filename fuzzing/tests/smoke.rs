//! CI's short fuzzing pass: every target, a couple of seconds each, from seeds that include
//! filesystems made by the real mkfs tools. Long runs: `./run fuzz SECONDS`.

use std::path::Path;
use std::time::Duration;

use rdbreak_fuzzing::{crafted, fuzz, target, TARGETS};
use rdbreak_init::probe;

fn mkfs_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().expect("temp dir");
    for (tool, args, mib) in [
        ("mkfs.ext4", &["-q", "-F"][..], 8u64),
        ("mkfs.xfs", &["-q", "-f"][..], 300),
        ("mkfs.btrfs", &["-q", "-f"][..], 128),
        ("mkfs.vfat", &[][..], 8),
        ("mkswap", &[][..], 8),
    ] {
        let img = dir.path().join(tool);
        std::fs::File::create(&img).and_then(|f| f.set_len(mib << 20)).expect("image");
        if std::process::Command::new(tool).args(args).arg(&img).output().is_ok_and(|o| o.status.success()) {
            let mut b = std::fs::read(&img).expect("read image");
            b.truncate(probe::PROBE_BYTES);
            out.push(b);
        }
    }
    let img = dir.path().join("gpt");
    std::fs::File::create(&img).and_then(|f| f.set_len(8 << 20)).expect("image");
    let sfdisk =
        std::process::Command::new("sfdisk").arg("-q").arg(&img).stdin(std::process::Stdio::piped()).spawn().and_then(
            |mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(b"label: gpt\nsize=2048, name=root\n\n")?;
                c.wait()
            },
        );
    if sfdisk.is_ok_and(|s| s.success()) {
        let mut b = std::fs::read(&img).expect("read");
        b.truncate(probe::PROBE_BYTES);
        out.push(b);
    }
    out
}

#[test]
fn every_parser_survives_random_input() {
    let budget =
        Duration::from_millis(std::env::var("RDBREAK_FUZZ_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(1500));
    let probe_seeds = mkfs_seeds();
    let mut report = Vec::new();
    for t in TARGETS {
        let mut corpus = (t.seeds)();
        if t.name == "probe" {
            corpus.extend(probe_seeds.iter().cloned());
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-crashes");
        let stats = fuzz(t, &corpus, budget, 0x5eed ^ t.name.len() as u64, &dir);
        if let Some((input, msg)) = &stats.crash {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(t.name), input);
            panic!(
                "{} panicked after {} runs: {msg}\ninput (saved in target/fuzz-crashes/{}): {:?}",
                t.name,
                stats.runs,
                t.name,
                String::from_utf8_lossy(input)
            );
        }
        report.push(format!("{}: {} runs", t.name, stats.runs));
    }
    eprintln!("{}", report.join(", "));
}

/// The probe target reads a disk exactly as PID 1 does: `devices::probe_all` on the crafted
/// disks (and the real tables) as files finds what `probe::device` on a `probe::Disk` of the
/// same bytes finds (the read `probe::fuzz_one` makes), so a disk that kills or hangs PID 1
/// kills or hangs the fuzz target too.
#[test]
fn the_probe_target_is_the_boot_path() {
    use rdbreak_init::devices::{self, BlockDev};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut disks: Vec<(String, Vec<u8>)> =
        crafted::all(1 << 20).into_iter().map(|(n, d)| (n.to_string(), d)).collect();
    disks.extend(mkfs_seeds().into_iter().enumerate().map(|(i, d)| (format!("real-{i}"), d)));
    for (name, bytes) in &disks {
        std::fs::write(dir.path().join(name), bytes).expect("write disk");
        let mut devs = [BlockDev { name: name.clone(), size_bytes: bytes.len() as u64, ..Default::default() }];
        devices::probe_all(&mut devs, dir.path());
        let found = probe::device(&probe::Disk::new(&bytes.as_slice(), bytes.len() as u64), true);
        assert_eq!(devs[0].fs, found.fs, "{name}");
        assert_eq!(
            devs[0].table_problem.is_some(),
            found.table.as_ref().is_some_and(|t| t.problem.is_some()),
            "{name}"
        );
    }
    let problem = |name: &str| {
        let bytes = &disks.iter().find(|(n, _)| n == name).expect("crafted disk").1;
        let mut devs = [BlockDev { name: name.into(), size_bytes: bytes.len() as u64, ..Default::default() }];
        devices::probe_all(&mut devs, dir.path());
        devs[0].describe()
    };
    let gpt = problem("gpt-huge-entries");
    assert!(
        gpt.contains("gpt partition table not used: the GPT header declares 4096 entries of 4294967168 bytes"),
        "{gpt}"
    );
    let ebr = problem("ebr-loop");
    assert!(
        ebr.contains("dos partition table read in part: the chain of extended boot records comes back to sector 48"),
        "{ebr}"
    );
}

/// The storage targets start from what lvm2, mdadm and cryptsetup wrote, not from bytes their
/// parsers refuse at the first check: every PV seed holds a VG, every member seed a superblock,
/// every LUKS seed a header.
#[test]
fn storage_seeds_reach_past_the_magic() {
    use rdbreak_init::storage::{luks, lvm, md};
    let seeds = |name| target(name).map(|t| (t.seeds)()).expect("a target");
    let pvs = seeds("lvm");
    let with_vg = pvs.iter().filter(|s| lvm::read_pv(s.as_slice()).is_ok_and(|p| p.vg.is_some())).count();
    let texts = pvs.iter().filter(|s| lvm::metadata::parse(s).is_ok()).count();
    assert_eq!((with_vg, texts), (2, 2), "two PVs with their VG and their two texts");
    for (i, s) in seeds("md").iter().enumerate() {
        let e = md::examine_fuzz_input(s);
        assert!(e.superblock.is_some(), "md seed {i} holds a superblock: {:?}", e.rejected);
    }
    for (i, s) in seeds("luks").iter().enumerate() {
        let mut read = |off: u64, buf: &mut [u8]| {
            let rest = usize::try_from(off).ok().and_then(|o| s.get(o..)).unwrap_or(&[]);
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        };
        let h = luks::read_header(&mut read, s.len() as u64);
        assert!(h.is_ok(), "luks seed {i} holds a header: {:?}", h.err());
    }
}

#[test]
fn gpt_checksums_are_made_right_for_the_probe() {
    let mut d = crafted::gpt_declaring(64 * 1024, 128, 128);
    d[512 + 80] = 4; // 4 entries now: the header's checksum no longer matches
    let problem = |d: &[u8]| probe::device(&probe::Disk::new(&d, d.len() as u64), true).table.and_then(|t| t.problem);
    assert!(matches!(problem(&d), Some(probe::ProbeError::GptHeaderCrc { .. })));
    assert_eq!(problem(&probe::with_gpt_checksums(&d).unwrap()), None);
    // A header cut short (a finding of the harness itself): nothing to fix, no panic.
    assert_eq!(probe::with_gpt_checksums(&d[..603]), None);
}
