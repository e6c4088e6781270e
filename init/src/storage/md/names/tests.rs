//! dracut's rd.md rules, mdadm's names, and the sysfs sequence.

use super::*;
use crate::storage::md::{Level, Member, Role};

fn cmd(s: &str) -> Cmdline {
    Cmdline::parse(s)
}

const U: &str = "1f2e3d4c:5b6a7988:99aabbcc:ddeeff00";
const UB: [u8; 16] = [0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00];

#[test]
fn uuid_spellings() {
    for s in [
        U,
        "1f2e3d4c-5b6a-7988-99aa-bbccddeeff00",
        "1F2E3D4C5B6A798899AABBCCDDEEFF00",
        "1f2e3d4c.5b6a7988.99aabbcc.ddeeff00",
    ] {
        assert_eq!(parse_uuid(s), Some(UB), "{s}");
    }
    for s in [
        "",
        "rd.md.uuid",
        "1f2e3d4c:5b6a7988:99aabbcc:ddeeff0",
        "1f2e3d4c:5b6a7988:99aabbcc:ddeeff000",
        "zz2e3d4c5b6a798899aabbccddeeff00",
    ] {
        assert_eq!(parse_uuid(s), None, "{s}");
    }
}

#[test]
fn dracut_selection() {
    let s = selection(&cmd("root=/dev/md0"));
    assert!(!s.enabled && s.why.contains("rd.auto"), "dracut ≥ 024 assembles nothing by default");
    assert!(!s.wants(&UB));
    let s = selection(&cmd("rd.auto"));
    assert!(s.enabled && s.only.is_none() && s.wants(&[0; 16]));
    let s = selection(&cmd(&format!("rd.md.uuid={U} rd.md.uuid=00000000-0000-0000-0000-000000000001")));
    assert!(s.wants(&UB) && !s.wants(&[0; 16]));
    assert_eq!(s.only.as_ref().map(Vec::len), Some(2));
    let s = selection(&cmd(&format!("rd_MD_UUID={U}")));
    assert!(s.wants(&UB), "the old spelling");
    let s = selection(&cmd(&format!("rd.md.uuid={U} rd.md=0")));
    assert!(!s.enabled && s.why.starts_with("rd.md=0"));
    assert!(!selection(&cmd("rd.auto rd_NO_MD")).enabled);
    assert!(selection(&cmd("rd.auto rd_NO_MD rd.md=1")).enabled, "rd.md wins over rd_NO_MD");
    assert!(!selection(&cmd("rd.auto=0")).enabled);
    // An unusable rd.md.uuid still restricts, to nothing, as dracut's udev rule would.
    let s = selection(&cmd("rd.md.uuid=garbage rd.md.uuid"));
    assert!(s.enabled && !s.wants(&UB));
    assert_eq!(s.invalid, ["garbage", "rd.md.uuid"]);
}

#[test]
fn degraded_wait_is_two_thirds_of_rd_retry() {
    assert_eq!(degraded_wait(&cmd("")), Duration::from_millis(120_500));
    assert_eq!(degraded_wait(&cmd("rd.retry=30")), Duration::from_millis(20_500));
    assert_eq!(degraded_wait(&cmd("rd.retry=0")), Duration::from_millis(500));
    assert_eq!(degraded_wait(&cmd("rd.retry=x")), Duration::from_millis(120_500));
}

fn plan(metadata: Metadata, name: &str, minor: Option<u32>, readiness: Readiness) -> ArrayPlan {
    let member = |n: &str, m: u32, s: u32| Member {
        name: n.into(),
        major: 252,
        minor: m,
        role: Role::Active { slot: s, in_sync: true },
        events: 3,
    };
    ArrayPlan {
        uuid: UB,
        name: name.into(),
        preferred_minor: minor,
        metadata,
        level: Level::Raid1,
        raid_disks: 2,
        events: 3,
        members: vec![member("vdb", 16, 0), member("vdc", 32, 1)],
        missing: Vec::new(),
        left_out: Vec::new(),
        readiness,
    }
}

fn link(n: &Naming, prefix: &str) -> Option<String> {
    n.links.iter().find(|(l, _)| l.starts_with(prefix)).map(|(l, t)| format!("{l} -> {t}"))
}

#[test]
fn mdadm_names_without_a_config() {
    let mut namer = Namer::default();
    let a = namer.name(&plan(Metadata::V1_2, "seed:root", None, Readiness::Ready)).unwrap();
    assert_eq!((a.minor, a.devnm.as_str(), a.local), (127, "md127", false));
    assert_eq!(
        link(&a, "/dev/md/").as_deref(),
        Some("/dev/md/seed:root -> ../md127"),
        "another host's name keeps host:"
    );
    assert_eq!(
        link(&a, "/dev/disk/by-id/md-uuid").as_deref(),
        Some(&*format!("/dev/disk/by-id/md-uuid-{U} -> ../../md127"))
    );
    assert_eq!(
        link(&a, "/dev/disk/by-id/md-name").as_deref(),
        Some("/dev/disk/by-id/md-name-seed:root -> ../../md127")
    );
    // The next array takes the next number down; the same name again gets a suffix.
    let b = namer.name(&plan(Metadata::V1_2, "seed:root", None, Readiness::Ready)).unwrap();
    assert_eq!(b.devnm, "md126");
    assert_eq!(link(&b, "/dev/md/").as_deref(), Some("/dev/md/seed:root_0 -> ../md126"));
    // Without host: another host's name always gets a suffix.
    let c = namer.name(&plan(Metadata::V1_2, "data", None, Readiness::Ready)).unwrap();
    assert_eq!(link(&c, "/dev/md/").as_deref(), Some("/dev/md/data_0 -> ../md125"));
    // v0.90: named by its old minor, as another host's.
    let d = namer.name(&plan(Metadata::V0_90, "", Some(0), Readiness::Ready)).unwrap();
    assert_eq!(link(&d, "/dev/md/").as_deref(), Some("/dev/md/0_0 -> ../md124"));
    assert_eq!(link(&d, "/dev/disk/by-id/md-name"), None, "v0.90 has no name");
}

#[test]
fn this_hosts_arrays() {
    let mut namer = Namer { homehost: Some("seed".into()), ..Namer::default() };
    namer.busy.insert(127);
    let a = namer.name(&plan(Metadata::V1_2, "seed:root", None, Readiness::Ready)).unwrap();
    assert_eq!((a.devnm.as_str(), a.local), ("md126", true), "md127 is busy");
    assert_eq!(link(&a, "/dev/md/").as_deref(), Some("/dev/md/root -> ../md126"));
    let b = namer.name(&plan(Metadata::V1_2, "seed:0", None, Readiness::Ready)).unwrap();
    assert_eq!((b.devnm.as_str(), link(&b, "/dev/md/").as_deref()), ("md0", Some("/dev/md/0 -> ../md0")));
    let c = namer.name(&plan(Metadata::V1_2, "seed:0", None, Readiness::Ready)).unwrap();
    assert_eq!((c.devnm.as_str(), link(&c, "/dev/md/").as_deref()), ("md125", Some("/dev/md/0_0 -> ../md125")));
    let d = namer.name(&plan(Metadata::V1_2, "any:home", None, Readiness::Ready)).unwrap();
    assert!(d.local && link(&d, "/dev/md/").as_deref() == Some("/dev/md/home -> ../md124"));
    // Names that would leave /dev/md/ or hide in it make no link; odd characters are replaced.
    let e = namer.name(&plan(Metadata::V1_2, "seed:..", None, Readiness::Ready)).unwrap();
    assert_eq!(link(&e, "/dev/md/"), None);
    let f = namer.name(&plan(Metadata::V1_2, "seed:a/b c\u{1b}", None, Readiness::Ready)).unwrap();
    assert_eq!(link(&f, "/dev/md/").as_deref(), Some("/dev/md/a-b_c_ -> ../md122"));
    assert_eq!(
        link(&f, "/dev/disk/by-id/md-name").as_deref(),
        Some("/dev/disk/by-id/md-name-seed:a_b_c_ -> ../../md122")
    );
}

#[test]
fn numbers_run_out_after_md129() {
    let mut namer = Namer::default();
    namer.busy.extend((0..=511).filter(|&n| n != 129 && n != 200));
    assert_eq!(namer.name(&plan(Metadata::V1_2, "x:y", None, Readiness::Ready)).unwrap().minor, 200);
    assert_eq!(namer.name(&plan(Metadata::V1_2, "x:y", None, Readiness::Ready)).unwrap().minor, 129);
    assert_eq!(namer.name(&plan(Metadata::V1_2, "x:y", None, Readiness::Ready)), None, "md128 is never used");
}

#[test]
fn sysfs_sequence() {
    let p = plan(Metadata::V1_2, "seed:root", None, Readiness::Ready);
    let mut namer = Namer { homehost: Some("seed".into()), ..Namer::default() };
    let n = namer.name(&p).unwrap();
    let w = sysfs_writes(&p, &n);
    let want = [
        ("/sys/module/md_mod/parameters/new_array", "md127"),
        ("/sys/block/md127/md/metadata_version", "1.2"),
        ("/sys/block/md127/md/new_dev", "252:16"),
        ("/sys/block/md127/md/new_dev", "252:32"),
        ("/sys/block/md127/md/array_state", "active"),
    ];
    assert_eq!(w, want.map(|(a, b)| (a.to_string(), b.to_string())));
    let foreign = Namer::default().name(&p).unwrap();
    assert_eq!(sysfs_writes(&p, &foreign).last().unwrap().1, "read-auto");
    let later = plan(Metadata::V0_90, "", Some(0), Readiness::AfterWait);
    let w = sysfs_writes(&later, &n);
    assert_eq!((w[1].1.as_str(), w[4].1.as_str()), ("0.90", "read-auto"));
    assert!(sysfs_writes(&plan(Metadata::V1_2, "", None, Readiness::NotRunnable("x".into())), &n).is_empty());
}
