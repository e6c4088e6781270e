//! MD RAID assembly, decided before anything is done: the superblocks found on the block
//! devices are grouped into arrays, and each array gets a plan (which members, whether it can
//! start now, only after dracut's wait, or not at all, and why). `names` adds dracut's command
//! line rules, mdadm's naming and the sysfs writes that assemble a planned array; `run` is the
//! boot's part (members marked, arrays started through sysfs, links made).

pub mod names;
pub mod run;
pub mod superblock;

pub use names::{degraded_wait, Namer, Naming, Selection};
pub use superblock::{examine, format_uuid, Examined, Features, Level, Metadata, Role, Superblock};

/// A block device that holds an md superblock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Kernel name (`vdb`, `sda2`).
    pub name: String,
    pub major: u32,
    pub minor: u32,
    pub sb: Superblock,
}

/// A member the plan adds to its array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub major: u32,
    pub minor: u32,
    pub role: Role,
    pub events: u64,
}

impl Member {
    fn of(f: &Found) -> Member {
        Member { name: f.name.clone(), major: f.major, minor: f.minor, role: f.sb.role, events: f.sb.events }
    }
    pub fn devno(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }
}

/// Whether an array can be started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Every member the array had when it last ran is here (`mdadm -I` starts it at once).
    Ready,
    /// Members it last had are missing but the rest can run it: start only after dracut's wait
    /// (`degraded_wait`), as dracut's `mdraid_start` (`mdadm -R`) does.
    AfterWait,
    /// It cannot run; the reason says why and what to try.
    NotRunnable(String),
}

/// What to do with one array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayPlan {
    pub uuid: [u8; 16],
    /// `host:name` (v1.x), empty for v0.90.
    pub name: String,
    pub preferred_minor: Option<u32>,
    pub metadata: Metadata,
    pub level: Level,
    pub raid_disks: u32,
    pub events: u64,
    /// What is added, in slot order, then rebuilding members, the journal and spares.
    pub members: Vec<Member>,
    /// Slots without an in-sync member.
    pub missing: Vec<u32>,
    /// Devices left out, each with the reason (older events, a duplicate slot, other geometry).
    pub left_out: Vec<(String, String)>,
    pub readiness: Readiness,
}

impl ArrayPlan {
    pub fn uuid_string(&self) -> String {
        format_uuid(&self.uuid)
    }

    /// One line for the console: `md array centos:root (raid1, 1.2, UUID …): degraded, slot 1 missing`.
    pub fn describe(&self) -> String {
        let who = if self.name.is_empty() { String::new() } else { format!("{} ", self.name) };
        let mut s = format!("md array {who}({}, metadata {}, UUID {})", self.level, self.metadata, self.uuid_string());
        let names: Vec<&str> = self.members.iter().map(|m| m.name.as_str()).collect();
        s += &format!(": {} of {} members ({})", self.in_sync(), self.raid_disks, names.join(", "));
        if !self.missing.is_empty() {
            let slots: Vec<String> = self.missing.iter().map(u32::to_string).collect();
            s += &format!(", degraded: slot {} missing", slots.join(", "));
        }
        for (dev, why) in &self.left_out {
            s += &format!("; {dev} left out: {why}");
        }
        if let Readiness::NotRunnable(why) = &self.readiness {
            s += &format!("; cannot start: {why}");
        }
        s
    }

    fn in_sync(&self) -> usize {
        self.members.iter().filter(|m| matches!(m.role, Role::Active { in_sync: true, .. })).count()
    }
}

/// mdadm's `enough()`: whether the slots in `avail` can run the array.
fn enough(level: Level, raid_disks: u32, layout: u32, clean: bool, avail: &[bool]) -> bool {
    let n = raid_disks as usize;
    let have = avail.iter().filter(|&&a| a).count();
    match level {
        Level::Raid10 => {
            // Every group of `near * far` consecutive slots, stepping by `near`, needs one member.
            let near = (layout & 0xff) as usize;
            let copies = near * ((layout >> 8) & 0xff) as usize;
            if n == 0 || copies == 0 {
                return false;
            }
            let mut first = 0;
            for _ in 0..n {
                if !(0..copies).any(|i| avail.get((first + i) % n) == Some(&true)) {
                    return false;
                }
                first = (first + near) % n;
                if first == 0 {
                    break;
                }
            }
            true
        }
        Level::Multipath | Level::Raid1 => have >= 1,
        Level::Linear | Level::Raid0 => have == n,
        // Only the parity disk missing is fine even when not clean.
        Level::Raid4 if have + 1 == n && avail.last() == Some(&false) => true,
        Level::Raid4 | Level::Raid5 => have + usize::from(clean) >= n,
        Level::Raid6 => have + 2 * usize::from(clean) >= n,
        Level::Faulty | Level::Other(_) => false,
    }
}

/// Groups the superblocks by array UUID (in the order the devices were found) and plans each.
pub fn plan(found: &[Found]) -> Vec<ArrayPlan> {
    let mut uuids: Vec<[u8; 16]> = Vec::new();
    for f in found {
        if !uuids.contains(&f.sb.uuid) {
            uuids.push(f.sb.uuid);
        }
    }
    uuids.iter().filter_map(|u| plan_one(&found.iter().filter(|f| f.sb.uuid == *u).collect::<Vec<_>>())).collect()
}

fn plan_one(group: &[&Found]) -> Option<ArrayPlan> {
    // The freshest superblock describes the array (the first found on a tie).
    let best = group.iter().copied().reduce(|b, f| if f.sb.events > b.sb.events { f } else { b })?;
    let sb = &best.sb;
    let mut left_out = Vec::new();
    let mut current: Vec<&Found> = Vec::new();
    for f in group {
        let s = &f.sb;
        // The kernel and mdadm accept a member one event behind.
        let why = if s.events.saturating_add(1) < sb.events {
            Some(format!("its superblock is older (events {} < {})", s.events, sb.events))
        } else if (s.metadata, s.level, s.raid_disks, s.layout, s.chunk_sectors)
            != (sb.metadata, sb.level, sb.raid_disks, sb.layout, sb.chunk_sectors)
        {
            Some(format!("its superblock describes another geometry than {}'s", best.name))
        } else if s.role == Role::Faulty {
            Some("it is marked faulty".to_string())
        } else {
            None
        };
        match why {
            Some(w) => left_out.push((f.name.clone(), w)),
            None => current.push(f),
        }
    }
    // One member per slot: the higher events, the first found on a tie.
    let mut slots: Vec<Option<&Found>> = vec![None; sb.raid_disks as usize];
    let mut others: Vec<&Found> = Vec::new();
    for f in current {
        match f.sb.role {
            Role::Active { slot, in_sync: true } => match slots.get_mut(slot as usize) {
                Some(Some(prev)) if prev.sb.events >= f.sb.events => {
                    left_out.push((f.name.clone(), format!("slot {slot} is already held by {}", prev.name)));
                }
                Some(s) => {
                    if let Some(prev) = s.replace(f) {
                        left_out.push((prev.name.clone(), format!("slot {slot} is held by the newer {}", f.name)));
                    }
                }
                None => left_out.push((f.name.clone(), format!("slot {slot} is beyond raid_disks"))),
            },
            _ => others.push(f),
        }
    }
    let avail: Vec<bool> = slots.iter().map(Option::is_some).collect();
    let missing: Vec<u32> = (0..sb.raid_disks).filter(|&i| avail.get(i as usize) != Some(&true)).collect();
    let mut members: Vec<Member> = slots.iter().flatten().map(|f| Member::of(f)).collect();
    crate::sort::sort_by_key(&mut others, |f| match f.sb.role {
        Role::Active { .. } => 0,
        Role::Journal => 1,
        _ => 2,
    });
    members.extend(others.iter().map(|f| Member::of(f)));
    let has_journal = members.iter().any(|m| m.role == Role::Journal);
    let present = u32::try_from(avail.iter().filter(|&&a| a).count()).unwrap_or(u32::MAX);
    let rebuilding = members.iter().filter(|m| matches!(m.role, Role::Active { in_sync: false, .. })).count();
    let rebuilding = u32::try_from(rebuilding).unwrap_or(u32::MAX);

    let readiness = if sb.features.has(Features::RESHAPE_ACTIVE) {
        Readiness::NotRunnable(
            "a reshape is in progress; finish it from a rescue system with mdadm --assemble (it continues the reshape)"
                .into(),
        )
    } else if sb.features.has(Features::CLUSTERED) {
        Readiness::NotRunnable("it is a clustered array (md-cluster), which needs the cluster stack".into())
    } else if sb.level.module().is_none() {
        Readiness::NotRunnable(format!("{} is not a RAID level md knows", sb.level))
    } else if !enough(sb.level, sb.raid_disks, sb.layout, sb.clean, &avail) {
        let dirty = !sb.clean && matches!(sb.level, Level::Raid4 | Level::Raid5 | Level::Raid6);
        Readiness::NotRunnable(if dirty && enough(sb.level, sb.raid_disks, sb.layout, true, &avail) {
            "it is degraded and was not shut down cleanly, so md refuses it (data may be inconsistent): \
             mdadm --assemble --force, or boot with md-mod.start_dirty_degraded=1"
                .into()
        } else {
            format!(
                "{present} of {} members are here, too few for {}; attach the missing disks",
                sb.raid_disks, sb.level
            )
        })
    } else if present + rebuilding >= sb.working && (has_journal || !sb.features.has(Features::JOURNAL)) {
        Readiness::Ready
    } else {
        Readiness::AfterWait
    };
    Some(ArrayPlan {
        uuid: sb.uuid,
        name: sb.name.clone(),
        preferred_minor: sb.preferred_minor,
        metadata: sb.metadata,
        level: sb.level,
        raid_disks: sb.raid_disks,
        events: sb.events,
        members,
        missing,
        left_out,
        readiness,
    })
}

/// The size of the fuzz target's device: that of the members mdadm made for the fixtures.
const FUZZ_DEVICE: u64 = 12 << 20;

/// What the assembler finds on the device the fuzz target makes of `data`: `data` at both ends
/// of at least [`FUZZ_DEVICE`] bytes (zeros between, as the fixtures are made), so that one
/// input reaches the superblocks at the start (1.1, 1.2) and at the end (0.90, 1.0).
pub fn examine_fuzz_input(data: &[u8]) -> Examined {
    let len = data.len() as u64;
    let size = FUZZ_DEVICE.max(len);
    let tail_at = size - len;
    let byte = |i: u64| usize::try_from(i).ok().and_then(|i| data.get(i)).copied().unwrap_or(0);
    let mut read = |off: u64, buf: &mut [u8]| -> std::io::Result<usize> {
        for (i, b) in (0u64..).zip(buf.iter_mut()) {
            let at = off.saturating_add(i);
            *b = if at < len {
                byte(at)
            } else if (tail_at..size).contains(&at) {
                byte(at - tail_at)
            } else {
                0
            };
        }
        Ok(buf.len().min(usize::try_from(size.saturating_sub(off)).unwrap_or(usize::MAX)))
    };
    examine(size, &mut read)
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as a member examined as the assembler
/// examines one ([`examine_fuzz_input`]), then planned and named with a second copy of itself
/// as another member; never panics.
pub fn fuzz_one(data: &[u8]) {
    let Some(sb) = examine_fuzz_input(data).superblock else { return };
    let found: Vec<Found> =
        (0..2).map(|i| Found { name: format!("vd{i}"), major: 254, minor: i, sb: sb.clone() }).collect();
    let mut namer = Namer { homehost: Some("host".into()), ..Default::default() };
    for plan in plan(&found) {
        let _ = plan.describe();
        if let Some(naming) = namer.name(&plan) {
            let _ = names::sysfs_writes(&plan, &naming);
        }
    }
}

#[cfg(test)]
mod tests;
// The fixtures are zstd-compressed.
#[cfg(all(test, feature = "zstd"))]
pub(crate) mod fixtures;
