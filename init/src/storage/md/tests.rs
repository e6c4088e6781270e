//! The assembly plan over typed superblocks: which members, whether and when an array starts.

use super::*;

fn sb(level: Level, raid_disks: u32, role: Role, events: u64) -> Superblock {
    Superblock {
        metadata: Metadata::V1_2,
        uuid: [7; 16],
        name: "seed:root".into(),
        preferred_minor: None,
        level,
        layout: 0,
        chunk_sectors: 1024,
        raid_disks,
        working: raid_disks,
        role,
        events,
        ctime: 1,
        data_offset: 2048,
        data_size: 100_000,
        super_offset: 8,
        features: Features(0),
        clean: true,
    }
}

fn slot(s: u32) -> Role {
    Role::Active { slot: s, in_sync: true }
}

fn found(name: &str, minor: u32, sb: Superblock) -> Found {
    Found { name: name.into(), major: 252, minor, sb }
}

/// Members of one array (same UUID) in slots `slots` of `n`.
fn array(level: Level, n: u32, slots: &[u32]) -> Vec<Found> {
    slots
        .iter()
        .map(|&s| {
            found(&format!("vd{}", (b'b' + u8::try_from(s).unwrap()) as char), 16 * (s + 1), sb(level, n, slot(s), 10))
        })
        .collect()
}

#[test]
fn complete_arrays_are_ready() {
    let p = plan(&array(Level::Raid1, 2, &[1, 0]));
    assert_eq!(p.len(), 1);
    let p = &p[0];
    assert_eq!(p.readiness, Readiness::Ready);
    assert!(p.missing.is_empty());
    let order: Vec<&str> = p.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(order, ["vdb", "vdc"], "slot order, whatever order they were found in");
    assert_eq!(p.members[0].devno(), "252:16");
    assert_eq!(p.uuid_string(), "07070707:07070707:07070707:07070707");
}

#[test]
fn a_member_gone_since_the_last_run_means_waiting() {
    let p = &plan(&array(Level::Raid1, 2, &[0]))[0];
    assert_eq!(p.readiness, Readiness::AfterWait);
    assert_eq!(p.missing, [1]);
    assert!(p.describe().contains("degraded: slot 1 missing"), "{}", p.describe());
    // An array that already ran without it (its table says one working member) starts at once.
    let mut one = array(Level::Raid1, 2, &[0]);
    one[0].sb.working = 1;
    let p = &plan(&one)[0];
    assert_eq!((p.readiness.clone(), p.missing.clone()), (Readiness::Ready, vec![1]));
}

#[test]
fn what_each_level_can_lose() {
    let ready = |level, n, slots: &[u32], clean: bool, layout: u32| {
        let mut f = array(level, n, slots);
        for m in &mut f {
            m.sb.clean = clean;
            m.sb.layout = layout;
        }
        plan(&f)[0].readiness.clone()
    };
    assert_eq!(ready(Level::Raid5, 3, &[0, 2], true, 2), Readiness::AfterWait);
    assert!(
        matches!(ready(Level::Raid5, 3, &[0, 2], false, 2), Readiness::NotRunnable(w) if w.contains("not shut down cleanly"))
    );
    assert!(matches!(ready(Level::Raid5, 3, &[0], true, 2), Readiness::NotRunnable(w) if w.contains("1 of 3")));
    assert_eq!(ready(Level::Raid4, 3, &[0, 1], false, 0), Readiness::AfterWait, "raid4 without its parity disk");
    assert_eq!(ready(Level::Raid6, 4, &[1, 3], true, 2), Readiness::AfterWait);
    assert!(matches!(ready(Level::Raid6, 4, &[1], true, 2), Readiness::NotRunnable(_)));
    assert!(matches!(ready(Level::Raid0, 2, &[0], true, 0), Readiness::NotRunnable(_)));
    assert!(matches!(ready(Level::Linear, 2, &[1], true, 0), Readiness::NotRunnable(_)));
    // raid10 near=2: slots 0,1 mirror each other, and 2,3.
    assert_eq!(ready(Level::Raid10, 4, &[1, 2], true, 0x102), Readiness::AfterWait);
    assert!(matches!(ready(Level::Raid10, 4, &[2, 3], true, 0x102), Readiness::NotRunnable(_)));
    // far=2 (layout 0x201): every two neighbours, wrapping, need one member.
    assert_eq!(ready(Level::Raid10, 4, &[1, 3], true, 0x201), Readiness::AfterWait);
    assert!(matches!(ready(Level::Raid10, 4, &[2, 3], true, 0x201), Readiness::NotRunnable(_)));
    assert!(matches!(ready(Level::Raid10, 4, &[0, 1, 2, 3], true, 0), Readiness::NotRunnable(_)), "no copies");
    assert_eq!(ready(Level::Raid10, 3, &[0, 1, 2], true, 0x10201), Readiness::Ready, "offset layout");
}

#[test]
fn stale_faulty_and_duplicate_members_are_left_out() {
    let mut f = array(Level::Raid1, 3, &[0, 1, 2]);
    f[1].sb.events = 8; // two behind: stale
    f[0].sb.events = 10; // one behind the newest (11): still accepted, as the kernel does
    f[2].sb.events = 10;
    f.push(found("vdz", 400, sb(Level::Raid1, 3, slot(0), 11))); // newer holder of slot 0
    f.push(found("vdy", 416, sb(Level::Raid1, 3, Role::Faulty, 11)));
    f.push(found("vdx", 432, sb(Level::Raid1, 3, Role::Spare, 11)));
    f.push(found("vdw", 448, sb(Level::Raid5, 3, slot(1), 11)));
    let p = &plan(&f)[0];
    let names: Vec<&str> = p.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["vdz", "vdd", "vdx"], "slot 0's newer holder, slot 2, then the spare");
    let out: Vec<&str> = p.left_out.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(out, ["vdc", "vdy", "vdw", "vdb"]);
    assert!(p.left_out[0].1.contains("older (events 8 < 11)"));
    assert!(p.left_out[3].1.contains("held by the newer vdz"));
    assert_eq!((p.missing.clone(), p.events), (vec![1], 11));
    assert_eq!(p.readiness, Readiness::AfterWait);
}

#[test]
fn arrays_group_by_uuid_in_the_order_found() {
    let mut f = array(Level::Raid1, 2, &[0]);
    let mut other = sb(Level::Raid0, 2, slot(1), 3);
    other.uuid = [9; 16];
    f.insert(0, found("sda", 0, other));
    f.extend(array(Level::Raid1, 2, &[1]));
    let p = plan(&f);
    assert_eq!(p.iter().map(|a| a.uuid[0]).collect::<Vec<_>>(), [9, 7]);
    assert_eq!(p[1].members.len(), 2);
    assert!(plan(&[]).is_empty());
}

#[test]
fn refused_features_say_why() {
    let with = |bits: u32| {
        let mut f = array(Level::Raid5, 3, &[0, 1, 2]);
        f[0].sb.features = Features(bits);
        f[0].sb.events = 11;
        plan(&f)[0].readiness.clone()
    };
    assert!(matches!(with(Features::RESHAPE_ACTIVE), Readiness::NotRunnable(w) if w.contains("reshape")));
    assert!(matches!(with(Features::CLUSTERED), Readiness::NotRunnable(w) if w.contains("cluster")));
    assert_eq!(with(Features::BITMAP), Readiness::Ready, "a bitmap is fine");
    assert_eq!(with(Features::JOURNAL), Readiness::AfterWait, "the journal device is missing");
    let f = array(Level::Other(7), 1, &[0]);
    assert!(matches!(&plan(&f)[0].readiness, Readiness::NotRunnable(w) if w.contains("level 7")));
}
