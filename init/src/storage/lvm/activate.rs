//! Which LVs to activate and the device-mapper tables that make them, as pure functions:
//! dracut's `rd.lvm*` rules (modules.d/90lvm: `parse-lvm.sh`, `lvm_scan.sh`) choose the LVs;
//! each chosen LV becomes a DM name, a DM UUID and a table of `linear`/`striped` (and `error`,
//! `zero`) targets in 512-byte sectors, as lvm2's dev_manager builds them, or a refusal that
//! says why not (a missing PV, a segment type not activated natively, a layered LV, …).

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::cmdline::Cmdline;
use crate::storage::dm::{self, Target};

use super::metadata::{Kind, Lv, Pv, Vg};
use super::Id;

/// A PV found on a device: the UUID of its label and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresentPv {
    pub uuid: Id,
    pub major: u32,
    pub minor: u32,
    /// For messages: `/dev/vda2`.
    pub device: String,
    pub size_sectors: u64,
}

/// `VG-LV` with each `-` inside a name doubled (lvm2's `dm_build_dm_name`).
pub fn dm_name(vg: &str, lv: &str) -> String {
    format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"))
}

/// `LVM-` + the VG's and the LV's UUIDs without dashes.
pub fn dm_uuid(vg: &Id, lv: &Id) -> String {
    format!("LVM-{}{}", vg.raw(), lv.raw())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activation {
    pub dm_name: String,
    pub dm_uuid: String,
    /// The LV (or its VG) lacks the WRITE flag: lvm2 loads the table read-only.
    pub read_only: bool,
    pub targets: Vec<Target>,
    /// Things worth a console line that do not stop the activation.
    pub notes: Vec<String>,
}

/// A PV the metadata needs that is not present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingPv {
    pub uuid: Id,
    /// The device the metadata last saw it on (a hint).
    pub last_seen: Option<String>,
    /// Present, but marked MISSING in the metadata (`vgreduce --removemissing` territory).
    pub marked: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    MissingPvs {
        missing: Vec<MissingPv>,
        seen: Vec<String>,
    },
    Unsupported {
        segment: String,
        type_name: String,
    },
    /// Another LV's segment (snapshot, thin pool, cache, raid…) is layered on this one.
    UsedBy {
        lv: String,
        type_name: String,
    },
    /// A segment maps onto another LV (a pvmove in progress).
    OnLv {
        segment: String,
        on: String,
    },
    ActivationSkip,
    Exported,
    DuplicateVgName {
        ids: Vec<Id>,
    },
    Invalid(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::MissingPvs { missing, seen } => {
                let m: Vec<String> = missing
                    .iter()
                    .map(|p| match (&p.last_seen, p.marked) {
                        (_, true) => format!("{} (present but marked MISSING in the metadata)", p.uuid),
                        (Some(d), false) => format!("{} (last seen as {})", p.uuid, d.escape_debug()),
                        (None, false) => p.uuid.to_string(),
                    })
                    .collect();
                let seen = if seen.is_empty() { "none".to_string() } else { seen.join(", ") };
                write!(f, "PV {} missing; LVM PVs seen: {seen}", m.join(", "))
            }
            Refusal::Unsupported { segment, type_name } => {
                write!(f, "{segment} has type {type_name:?}, which rdbreak does not activate natively")
            }
            Refusal::UsedBy { lv, type_name } => write!(
                f,
                "LV {lv} layers a {type_name:?} segment on it, so it is only activated with that LV, which rdbreak does not do natively"
            ),
            Refusal::OnLv { segment, on } => {
                write!(f, "{segment} maps onto LV {on} (a pvmove in progress?), which rdbreak does not activate natively")
            }
            Refusal::ActivationSkip => {
                write!(f, "skipped: it has the activation-skip flag (name it in rd.lvm.lv= to activate it)")
            }
            Refusal::Exported => write!(f, "its VG is exported (vgimport it first)"),
            Refusal::DuplicateVgName { ids } => {
                let ids: Vec<String> = ids.iter().map(Id::to_string).collect();
                write!(f, "several VGs have this name (UUIDs {}); rename one (vgrename UUID NEWNAME)", ids.join(", "))
            }
            Refusal::Invalid(what) => write!(f, "its metadata cannot be mapped: {what}"),
        }
    }
}

/// The decision for one LV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LvPlan {
    pub vg: String,
    pub lv: String,
    pub result: Result<Activation, Refusal>,
}

impl fmt::Display for LvPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(a) => write!(f, "LV {}/{}: activating as {} ({} targets)", self.vg, self.lv, a.dm_name, a.targets.len()),
            Err(r) => write!(f, "LV {}/{} not activated: {r}", self.vg, self.lv),
        }
    }
}

/// Which LVs dracut would activate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// None, and why.
    Off(String),
    /// Every VG (`rd.auto=1` and nothing named): `vgchange -ay`.
    All,
    /// `rd.lvm.vg=` (whole VGs) and `rd.lvm.lv=` (`VG/LV`, or a bare VG name, which lvm takes as
    /// all its LVs); named LVs are activated even with the activation-skip flag (`lvchange -K`).
    Named { vgs: Vec<String>, lvs: Vec<(String, Option<String>)> },
}

impl Filter {
    /// `None` when the LV is not wanted; `Some(true)` when it was named explicitly.
    pub fn wants(&self, vg: &str, lv: &str) -> Option<bool> {
        match self {
            Filter::Off(_) => None,
            Filter::All => Some(false),
            Filter::Named { vgs, lvs } => {
                if lvs.iter().any(|(v, l)| v == vg && l.as_deref().is_none_or(|l| l == lv)) {
                    Some(true)
                } else if vgs.iter().any(|v| v == vg) {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }
}

/// dracut's rules: `rd.lvm=0` (or `rd_NO_LVM`) turns LVM off; with neither `rd.lvm.vg=` nor
/// `rd.lvm.lv=` (nor their dracut-059 spellings `rd_LVM_VG=`, `rd_LVM_LV=`) dracut removes its
/// LVM rules unless `rd.auto=1`; otherwise `lvm_scan` activates the named LVs and, when VGs are
/// named or no LV is, `vgchange -ay` those VGs.
pub fn filter(c: &Cmdline) -> Filter {
    if !c.flag("rd.lvm", true) || c.last("rd_NO_LVM").is_some() {
        return Filter::Off("rd.lvm=0 is given".into());
    }
    let values = |a: &'static str, b: &'static str| -> Vec<String> {
        c.all(a).chain(c.all(b)).flat_map(str::split_whitespace).map(str::to_string).collect()
    };
    let vgs = values("rd.lvm.vg", "rd_LVM_VG");
    let lvs: Vec<(String, Option<String>)> = values("rd.lvm.lv", "rd_LVM_LV")
        .iter()
        .map(|v| {
            let v = v.strip_prefix("/dev/").unwrap_or(v);
            match v.split_once('/') {
                Some((vg, lv)) => (vg.to_string(), Some(lv.to_string())),
                None => (v.to_string(), None),
            }
        })
        .collect();
    if vgs.is_empty() && lvs.is_empty() {
        if c.flag("rd.auto", false) {
            return Filter::All;
        }
        return Filter::Off("neither rd.lvm.vg= nor rd.lvm.lv= is given and rd.auto is off (dracut ≥ 024)".into());
    }
    Filter::Named { vgs, lvs }
}

/// The plan for every visible LV that `filter` wants, over the newest copy of each VG.
pub fn plan(vgs: &[&Vg], present: &[PresentPv], filter: &Filter) -> Vec<LvPlan> {
    let mut out = Vec::new();
    for vg in vgs {
        let same_name: Vec<Id> = vgs.iter().filter(|o| o.name == vg.name).map(|o| o.id).collect();
        let idx = VgIndex::new(vg);
        for lv in vg.lvs.iter().filter(|l| l.visible()) {
            let Some(explicit) = filter.wants(&vg.name, &lv.name) else { continue };
            let result = if same_name.len() > 1 {
                Err(Refusal::DuplicateVgName { ids: same_name.clone() })
            } else if vg.status.iter().any(|s| s == "EXPORTED") {
                Err(Refusal::Exported)
            } else if !explicit && lv.has("ACTIVATION_SKIP") {
                Err(Refusal::ActivationSkip)
            } else {
                plan_lv(vg, lv, present, &idx)
            };
            out.push(LvPlan { vg: vg.name.clone(), lv: lv.name.clone(), result });
        }
    }
    out
}

/// Look-ups over one VG, built once so that planning stays linear in the metadata's size.
pub struct VgIndex<'a> {
    pvs: HashMap<&'a str, &'a Pv>,
    lvs: HashSet<&'a str>,
    /// For each LV another LV's non-striped segment names: that LV and the segment's type.
    used_by: HashMap<&'a str, (&'a str, &'a str)>,
}

impl<'a> VgIndex<'a> {
    pub fn new(vg: &'a Vg) -> VgIndex<'a> {
        let pvs = vg.pvs.iter().map(|p| (p.key.as_str(), p)).collect();
        let lvs: HashSet<&str> = vg.lvs.iter().map(|l| l.name.as_str()).collect();
        let mut used_by = HashMap::new();
        for lv in &vg.lvs {
            for s in &lv.segments {
                if let Kind::Other { type_name, uses } = &s.kind {
                    for u in uses.iter().filter(|u| **u != lv.name && lvs.contains(u.as_str())) {
                        used_by.entry(u.as_str()).or_insert((lv.name.as_str(), type_name.as_str()));
                    }
                }
            }
        }
        VgIndex { pvs, lvs, used_by }
    }
}

fn invalid(what: String) -> Refusal {
    Refusal::Invalid(what)
}

/// The table of one LV: its segments in order, without gap or overlap, each stripe inside its
/// PV's extents and inside the device that holds the PV.
pub fn plan_lv(vg: &Vg, lv: &Lv, present: &[PresentPv], idx: &VgIndex) -> Result<Activation, Refusal> {
    if let Some((by, type_name)) = idx.used_by.get(lv.name.as_str()) {
        return Err(Refusal::UsedBy { lv: by.to_string(), type_name: type_name.to_string() });
    }
    let mut segs: Vec<_> = lv.segments.iter().collect();
    crate::sort::sort_by_key(&mut segs, |s| s.start_extent);
    let pv_of = |key: &str| idx.pvs.get(key).copied();
    let mut needed: Vec<&Pv> = Vec::new();
    let mut seen_pvs: HashSet<&str> = HashSet::new();
    for s in &segs {
        match &s.kind {
            Kind::Other { type_name, .. } => {
                return Err(Refusal::Unsupported { segment: s.name.clone(), type_name: type_name.clone() })
            }
            Kind::Striped { stripes, .. } => {
                for st in stripes {
                    match pv_of(&st.on) {
                        Some(pv) => {
                            if seen_pvs.insert(pv.key.as_str()) {
                                needed.push(pv);
                            }
                        }
                        None if idx.lvs.contains(st.on.as_str()) => {
                            return Err(Refusal::OnLv { segment: s.name.clone(), on: st.on.clone() })
                        }
                        None => return Err(invalid(format!("{} names {:?}, neither a PV nor an LV", s.name, st.on))),
                    }
                }
            }
            Kind::Error | Kind::Zero => {}
        }
    }
    let mut notes = Vec::new();
    let mut devices: HashMap<&str, &PresentPv> = HashMap::new();
    let mut missing = Vec::new();
    for pv in &needed {
        let found: Vec<&PresentPv> = present.iter().filter(|p| p.uuid == pv.id).collect();
        let marked = pv.status.iter().any(|s| s == "MISSING");
        match found.first() {
            Some(d) if !marked => {
                if found.len() > 1 {
                    let all: Vec<&str> = found.iter().map(|d| d.device.as_str()).collect();
                    notes.push(format!("PV {} is on several devices ({}); using {}", pv.id, all.join(", "), d.device));
                }
                devices.insert(pv.key.as_str(), d);
            }
            _ => missing.push(MissingPv { uuid: pv.id, last_seen: pv.device.clone(), marked }),
        }
    }
    if !missing.is_empty() {
        let seen = present.iter().map(|p| format!("{} (PV {})", p.device, p.uuid)).collect();
        return Err(Refusal::MissingPvs { missing, seen });
    }
    if segs.is_empty() {
        return Err(invalid("the LV has no segments".into()));
    }
    let es = vg.extent_size;
    let overflow = || invalid("extent arithmetic overflows 64 bits".into());
    let mut next = 0u64;
    let mut targets = Vec::new();
    for s in segs {
        if s.start_extent != next {
            return Err(invalid(format!(
                "{} starts at extent {}, the LV so far ends at {next}",
                s.name, s.start_extent
            )));
        }
        if s.extent_count == 0 {
            return Err(invalid(format!("{} has no extents", s.name)));
        }
        next = s.start_extent.checked_add(s.extent_count).ok_or_else(overflow)?;
        let start = s.start_extent.checked_mul(es).ok_or_else(overflow)?;
        let length = s.extent_count.checked_mul(es).ok_or_else(overflow)?;
        let (kind, params) = match &s.kind {
            Kind::Error => ("error", String::new()),
            Kind::Zero => ("zero", String::new()),
            Kind::Other { type_name, .. } => {
                return Err(Refusal::Unsupported { segment: s.name.clone(), type_name: type_name.clone() })
            }
            Kind::Striped { stripe_size, stripes } => {
                let n = stripes.len() as u64;
                if n == 0 || s.extent_count % n != 0 {
                    return Err(invalid(format!(
                        "{}: {} extents do not divide into {n} stripes",
                        s.name, s.extent_count
                    )));
                }
                let area = s.extent_count / n;
                let mut parts = Vec::new();
                for st in stripes {
                    let (Some(pv), Some(dev)) = (pv_of(&st.on), devices.get(st.on.as_str())) else {
                        return Err(invalid(format!("{} names {:?}", s.name, st.on)));
                    };
                    let end = st.first_extent.checked_add(area).ok_or_else(overflow)?;
                    if end > pv.pe_count {
                        return Err(invalid(format!(
                            "{} uses extents {}..{end} of PV {}, which has {}",
                            s.name, st.first_extent, pv.id, pv.pe_count
                        )));
                    }
                    let offset = st
                        .first_extent
                        .checked_mul(es)
                        .and_then(|o| o.checked_add(pv.pe_start))
                        .ok_or_else(overflow)?;
                    let last = area.checked_mul(es).and_then(|a| a.checked_add(offset)).ok_or_else(overflow)?;
                    if last > dev.size_sectors {
                        return Err(invalid(format!(
                            "{} needs {last} sectors of {}, which has {}",
                            s.name, dev.device, dev.size_sectors
                        )));
                    }
                    parts.push(format!("{}:{} {offset}", dev.major, dev.minor));
                }
                if n == 1 {
                    ("linear", parts.concat())
                } else if *stripe_size == 0 {
                    return Err(invalid(format!("{} has {n} stripes of size 0", s.name)));
                } else {
                    ("striped", format!("{n} {stripe_size} {}", parts.join(" ")))
                }
            }
        };
        targets.push(Target { start, length, kind: kind.to_string(), params });
    }
    let name = dm_name(&vg.name, &lv.name);
    if name.len() >= dm::NAME_LEN {
        return Err(invalid(format!("the device-mapper name {name:?} is longer than 127 bytes")));
    }
    let read_only = !lv.has("WRITE") || !vg.status.iter().any(|s| s == "WRITE");
    Ok(Activation { dm_name: name, dm_uuid: dm_uuid(&vg.id, &lv.id), read_only, targets, notes })
}
