//! The boot's decisions about arrays, and one step over members made by the real mdadm in a
//! fake /dev and /sys.

use super::*;
use crate::storage::md::{Features, Level, Metadata, Role, Superblock};

fn sb(uuid: u8, role: Role) -> Superblock {
    Superblock {
        metadata: Metadata::V1_2,
        uuid: [uuid; 16],
        name: "seed:root".into(),
        preferred_minor: None,
        level: Level::Raid1,
        layout: 0,
        chunk_sectors: 0,
        raid_disks: 2,
        working: 2,
        role,
        events: 10,
        ctime: 1,
        data_offset: 2048,
        data_size: 100_000,
        super_offset: 8,
        features: Features(0),
        clean: true,
    }
}

fn found(name: &str, minor: u32, uuid: u8, slot: u32) -> Found {
    Found { name: name.into(), major: 252, minor, sb: sb(uuid, Role::Active { slot, in_sync: true }) }
}

fn all() -> Selection {
    names::selection(&Cmdline::parse("rd.auto"))
}

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn complete_arrays_start_at_once_degraded_ones_after_the_wait() {
    let plans = plan(&[found("vdb", 16, 1, 0), found("vdc", 32, 1, 1), found("vdd", 48, 2, 0)]);
    let none = |_: &ArrayPlan| None;
    let d = decide(&plans, &all(), &none, Duration::from_secs(5), WAIT, false);
    assert_eq!(d, [Decision::Start { degraded: false }, Decision::Wait(Duration::from_secs(15))]);
    let d = decide(&plans, &all(), &none, WAIT, WAIT, false);
    assert_eq!(d[1], Decision::Start { degraded: true }, "the wait is over");
    let d = decide(&plans, &all(), &none, Duration::ZERO, WAIT, true);
    assert_eq!(d[1], Decision::Start { degraded: true }, "mdadm --assemble --scan does not wait");
    let running = |p: &ArrayPlan| (p.uuid == [1; 16]).then(|| "md127".to_string());
    let d = decide(&plans, &all(), &running, Duration::ZERO, WAIT, false);
    assert_eq!(d[0], Decision::Running("md127".into()), "never assembled twice");
}

#[test]
fn the_command_line_says_why_an_array_is_left_alone() {
    let plans = plan(&[found("vdb", 16, 1, 0), found("vdc", 32, 1, 1)]);
    let none = |_: &ArrayPlan| None;
    for (cmdline, why) in [
        ("rd.md=0 rd.auto", "rd.md=0: MD RAID activation is off"),
        ("root=/dev/md/root", "no rd.md.uuid= and no rd.auto"),
        ("rd.md.uuid=02020202:02020202:02020202:02020202", "rd.md.uuid= does not name it"),
    ] {
        let s = names::selection(&Cmdline::parse(cmdline));
        let d = decide(&plans, &s, &none, WAIT, WAIT, false);
        let Decision::Leave(line) = &d[0] else { panic!("{cmdline}: {d:?}") };
        assert!(line.contains(why) && line.contains("seed:root"), "{cmdline}: {line}");
    }
    let s = names::selection(&Cmdline::parse("rd.md.uuid=01010101-0101-0101-0101-010101010101"));
    assert_eq!(decide(&plans, &s, &none, WAIT, WAIT, false), [Decision::Start { degraded: false }]);
}

#[test]
fn an_array_that_cannot_run_says_why() {
    let mut f = vec![found("vdb", 16, 1, 0)];
    for m in &mut f {
        m.sb.level = Level::Raid0;
    }
    let d = decide(&plan(&f), &all(), &|_: &ArrayPlan| None, WAIT, WAIT, true);
    let Decision::Leave(line) = &d[0] else { panic!("{d:?}") };
    assert!(line.contains("cannot start") && line.contains("1 of 2 members"), "{line}");
}

#[test]
fn members_look_as_blkid_shows_them() {
    let mut s = sb(0, Role::Spare);
    s.uuid = [0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00];
    let fs = member_fs(&s);
    assert_eq!(fs.fstype, "linux_raid_member");
    assert_eq!(fs.uuid.as_deref(), Some("1f2e3d4c-5b6a-7988-99aa-bbccddeeff00"));
    assert_eq!(fs.label.as_deref(), Some("seed:root"));
    assert!(!fs.mountable());
    s.name.clear();
    assert_eq!(member_fs(&s).label, None, "0.90 has no name");
}

#[test]
fn homehost_as_mdadm_picks_it() {
    assert_eq!(homehost("", "seed\n").as_deref(), Some("seed"));
    assert_eq!(homehost("HOMEHOST <system>\n", "seed").as_deref(), Some("seed"));
    assert_eq!(homehost("HOMEHOST other\n", "seed").as_deref(), Some("other"));
    assert_eq!(homehost("HOMEHOST <ignore>\n", "seed"), None);
    assert_eq!(homehost("", "(none)\n"), None);
    assert_eq!(homehost("", "localhost"), None);
}

/// One step over real members in a fake tree: both mirrors of a 1.2 RAID1 (blkid's view, the
/// sysfs writes, udev's links); a lone 0.90 mirror marked over what the probe saw, and waited for.
#[cfg(feature = "zstd")]
#[test]
fn a_step_assembles_real_members_through_sysfs() {
    use crate::storage::md::fixtures::device_bytes;
    let dir = tempfile::tempdir().unwrap();
    let (sys, dev) = (dir.path().join("sys"), dir.path().join("dev"));
    std::fs::create_dir_all(sys.join("module/md_mod/parameters")).unwrap();
    std::fs::create_dir_all(sys.join("module/raid1")).unwrap();
    std::fs::create_dir_all(sys.join("block/md127/md")).unwrap();
    std::fs::create_dir_all(&dev).unwrap();
    let mut devs = Vec::new();
    for (i, name) in ["r1-1.2-0", "r1-1.2-1", "r1-0.90-0"].into_iter().enumerate() {
        let bytes = device_bytes(name);
        let kname = format!("vd{}", (b'a' + u8::try_from(i).unwrap()) as char);
        std::fs::write(dev.join(&kname), &bytes).unwrap();
        devs.push(BlockDev {
            name: kname,
            major: 252,
            minor: 16 * u32::try_from(i).unwrap(),
            size_bytes: bytes.len() as u64,
            fs: Some(Filesystem { fstype: "ext4".into(), ..Default::default() }),
            ..Default::default()
        });
    }
    let mut a = Arrays::new(&Cmdline::parse("rd.auto rd.retry=30"));
    a.namer.homehost = None;
    a.identify(&mut devs, &dev);
    let fs = devs[0].fs.as_ref().unwrap();
    assert_eq!(
        (fs.fstype.as_str(), fs.uuid.as_deref(), fs.label.as_deref()),
        ("linux_raid_member", Some("00000000-1111-1111-2222-222233333333"), Some("fixture:r1-1.2")),
        "as blkid -p prints this member"
    );
    assert_eq!(devs[2].fs.as_ref().unwrap().uuid.as_deref(), Some("00000003-1111-1111-2222-222233333333"));
    assert_eq!(a.step(&devs, &sys, &dev, None), 1, "the complete 1.2 array starts");
    let read = |p: &str| std::fs::read_to_string(sys.join(p)).unwrap();
    assert_eq!(read("module/md_mod/parameters/new_array"), "md127");
    assert_eq!(read("block/md127/md/metadata_version"), "1.2");
    assert_eq!(read("block/md127/md/new_dev"), "252:16", "the last member written");
    assert_eq!(read("block/md127/md/array_state"), "read-auto", "another host's array");
    let link = |l: &str| std::fs::read_link(dev.join(l)).unwrap().display().to_string();
    assert_eq!(link("md/fixture:r1-1.2"), "../md127");
    assert_eq!(link("disk/by-id/md-uuid-00000000:11111111:22222222:33333333"), "../../md127");
    assert_eq!(link("disk/by-id/md-name-fixture:r1-1.2"), "../../md127");
    let pending = a.pending().join("\n");
    assert!(pending.contains("r1-0.90") || pending.contains("UUID 00000003"), "{pending}");
    assert!(pending.contains("waiting for the missing member"), "{pending}");
    // The next scan does not assemble it again; the lone mirror starts once the wait is over.
    a.wait = Duration::ZERO;
    std::fs::create_dir_all(sys.join("block/md126/md")).unwrap();
    assert_eq!(a.step(&devs, &sys, &dev, None), 1);
    assert_eq!(read("module/md_mod/parameters/new_array"), "md126", "md127 is taken");
    assert_eq!(read("block/md126/md/metadata_version"), "0.90");
    assert_eq!(a.step(&devs, &sys, &dev, None), 0, "nothing twice");
    assert!(a.pending().is_empty(), "{:?}", a.pending());
    // Stopped by hand, an array stays stopped until mdadm --assemble --scan.
    a.stopped("md127");
    assert_eq!(a.step(&devs, &sys, &dev, None), 0);
    assert!(a.pending().join("\n").contains("stopped by hand"), "{:?}", a.pending());
    assert_eq!(a.assemble_all(&devs, &sys, &dev, None), 1);
    assert_eq!(read("block/md127/md/metadata_version"), "1.2", "assembled again as md127");
}

#[cfg(feature = "zstd")]
#[test]
fn without_md_in_the_kernel_the_failure_says_what_to_load() {
    use crate::storage::md::fixtures::device_bytes;
    let dir = tempfile::tempdir().unwrap();
    let (sys, dev) = (dir.path().join("sys"), dir.path().join("dev"));
    std::fs::create_dir_all(&sys).unwrap();
    std::fs::create_dir_all(&dev).unwrap();
    let mut devs = Vec::new();
    for (i, name) in ["r1-1.2-0", "r1-1.2-1"].into_iter().enumerate() {
        let bytes = device_bytes(name);
        std::fs::write(dev.join(name), &bytes).unwrap();
        devs.push(BlockDev {
            name: name.into(),
            major: 8,
            minor: u32::try_from(i).unwrap(),
            size_bytes: bytes.len() as u64,
            ..Default::default()
        });
    }
    let mut a = Arrays::new(&Cmdline::parse("rd.auto"));
    a.identify(&mut devs, &dev);
    assert_eq!(a.step(&devs, &sys, &dev, None), 0);
    let pending = a.pending().join("\n");
    assert!(
        pending.contains("cannot assemble md array fixture:r1-1.2") && pending.contains("modprobe md_mod"),
        "{pending}"
    );
}
