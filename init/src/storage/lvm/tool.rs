//! LVs rdbreak does not map itself (thin, cache, raid, mirror, snapshot, VDO, integrity) are left
//! to lvm2's own `lvm` when the image has one (dracut's lvm module installs it). This decides the
//! command and the device-mapper target modules it needs; the assembler runs it. udev is not
//! there, so lvm is told not to ask it for devices or wait for it, and makes the nodes itself.

use super::activate::{LvPlan, Refusal};

/// Where dracut's lvm module puts the binary.
pub const LVM_PATHS: &[&str] = &["/usr/sbin/lvm", "/sbin/lvm"];

/// What one run of lvm is to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolRun {
    /// `VG/LV` of each LV to activate.
    pub lvs: Vec<String>,
    /// Kernel modules for their target types: lvm2 cannot load them in an image without udev's
    /// modprobe calls, and a missing target fails the whole activation.
    pub modules: Vec<String>,
    /// The arguments after `lvm`.
    pub args: Vec<String>,
}

/// The device-mapper targets an LVM segment type is made of, as their modules.
pub fn modules_for(type_name: &str) -> &'static [&'static str] {
    match type_name {
        "thin" | "thin-pool" => &["dm_thin_pool"],
        "cache" | "cache-pool" => &["dm_cache", "dm_cache_smq"],
        "writecache" => &["dm_writecache"],
        "mirror" => &["dm_mirror", "dm_log", "dm_region_hash"],
        "snapshot" => &["dm_snapshot"],
        "integrity" => &["dm_integrity"],
        "vdo" | "vdo-pool" => &["dm_vdo", "kvdo"],
        t if t.starts_with("raid") => &["dm_raid"],
        _ => &[],
    }
}

/// The run for the LVs the native plan refused only for their type (or for another LV layered
/// on them), or None when there are none. `thin_check` is whether the image has it: without it
/// lvm would refuse to activate a pool, so the check is skipped (and the log says so).
pub fn plan(plans: &[LvPlan], thin_check: bool) -> Option<ToolRun> {
    let mut lvs = Vec::new();
    let mut modules: Vec<String> = Vec::new();
    for p in plans {
        let Err(refusal) = &p.result else { continue };
        let type_name = match refusal {
            Refusal::Unsupported { type_name, .. } | Refusal::UsedBy { type_name, .. } => type_name,
            _ => continue,
        };
        lvs.push(format!("{}/{}", p.vg, p.lv));
        for m in modules_for(type_name) {
            if !modules.iter().any(|x| x == m) {
                modules.push(m.to_string());
            }
        }
    }
    if lvs.is_empty() {
        return None;
    }
    let mut config = String::from(
        "devices { obtain_device_list_from_udev=0 } \
         activation { udev_sync=0 udev_rules=0 monitoring=0 }",
    );
    if !thin_check {
        config += " global { thin_check_executable=\"\" }";
    }
    let mut args: Vec<String> =
        ["lvchange", "--yes", "--sysinit", "--activate", "y", "--config", &config].map(str::to_string).into();
    args.extend(lvs.iter().cloned());
    Some(ToolRun { lvs, modules, args })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(vg: &str, lv: &str, r: Refusal) -> LvPlan {
        LvPlan { vg: vg.into(), lv: lv.into(), result: Err(r) }
    }

    #[test]
    fn thin_and_raid_lvs_go_to_lvm_with_their_targets() {
        let plans = [
            refused("vg", "root", Refusal::Unsupported { segment: "segment1".into(), type_name: "thin".into() }),
            refused("vg", "pool", Refusal::Unsupported { segment: "segment1".into(), type_name: "thin-pool".into() }),
            refused("vg", "mirror", Refusal::Unsupported { segment: "segment1".into(), type_name: "raid1".into() }),
            refused("vg", "gone", Refusal::MissingPvs { missing: vec![], seen: vec![] }),
            refused("vg", "skip", Refusal::ActivationSkip),
        ];
        let run = plan(&plans, false).expect("a run");
        assert_eq!(run.lvs, ["vg/root", "vg/pool", "vg/mirror"]);
        assert_eq!(run.modules, ["dm_thin_pool", "dm_raid"]);
        assert_eq!(&run.args[..5], ["lvchange", "--yes", "--sysinit", "--activate", "y"]);
        let config = &run.args[6];
        for want in ["obtain_device_list_from_udev=0", "udev_sync=0", "udev_rules=0", "thin_check_executable=\"\""] {
            assert!(config.contains(want), "{config}");
        }
        assert_eq!(&run.args[7..], ["vg/root", "vg/pool", "vg/mirror"]);
        let with_check = plan(&plans, true).expect("a run");
        assert!(!with_check.args[6].contains("thin_check"), "the image's thin_check is used");
    }

    #[test]
    fn nothing_for_lvm_when_every_refusal_is_not_about_the_type() {
        let plans = [refused("vg", "gone", Refusal::MissingPvs { missing: vec![], seen: vec![] })];
        assert_eq!(plan(&plans, false), None);
    }
}
