//! dracut's command line rules for MD RAID (modules.d/90mdraid), the names mdadm gives arrays
//! (`md127` downwards, `/dev/md/NAME`, the udev `by-id` links) and the sysfs writes that
//! assemble a planned array (Documentation/admin-guide/md.rst). All pure.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{format_uuid, ArrayPlan, Metadata, Readiness};
use crate::cmdline::Cmdline;

/// Which arrays dracut would assemble.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub enabled: bool,
    /// `rd.md.uuid=` given: only these (possibly none valid); `None`: every array.
    pub only: Option<Vec<[u8; 16]>>,
    /// Values of `rd.md.uuid=` that are not 32 hex digits.
    pub invalid: Vec<String>,
    /// Why it is disabled, in dracut's words.
    pub why: &'static str,
}

impl Selection {
    pub fn wants(&self, uuid: &[u8; 16]) -> bool {
        self.enabled && self.only.as_ref().is_none_or(|o| o.contains(uuid))
    }
}

/// An array UUID as mdadm parses it: 32 hex digits, with `:`, `-`, `.` or spaces anywhere.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b'.' | b' '))
        .map(|b| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    if digits.len() != 32 {
        return None;
    }
    let mut u = [0u8; 16];
    for (byte, pair) in u.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = pair.iter().fold(0, |acc, d| acc << 4 | d);
    }
    Some(u)
}

/// parse-md.sh: MD is off with `rd.md=0` (or the old `rd_NO_MD`), and also when neither
/// `rd.md.uuid=` (old `rd_MD_UUID=`) nor `rd.auto` is given (dracut ≥ 024: no autoassembly).
pub fn selection(cmdline: &Cmdline) -> Selection {
    let values: Vec<&str> = cmdline.all("rd.md.uuid").chain(cmdline.all("rd_MD_UUID")).collect();
    let mut only = Vec::new();
    let mut invalid = Vec::new();
    for v in values.iter().flat_map(|v| v.split_whitespace()) {
        match parse_uuid(v) {
            Some(u) => only.push(u),
            None => invalid.push(v.to_string()),
        }
    }
    let md = match cmdline.last("rd.md") {
        Some(v) => !matches!(v, Some("0" | "no" | "off")),
        None => cmdline.last("rd_NO_MD").is_none(),
    };
    let (enabled, why) = if !md {
        (false, "rd.md=0: MD RAID activation is off")
    } else if values.is_empty() && !cmdline.flag("rd.auto", false) {
        (false, "no rd.md.uuid= and no rd.auto: dracut assembles no MD RAID arrays")
    } else {
        (true, "")
    };
    Selection { enabled, only: (!values.is_empty()).then_some(only), invalid, why }
}

/// How long dracut waits before it force-starts degraded arrays: its initqueue runs the
/// timeout hooks (mdraid_start) once the loop counter passes 2/3 of `rd.retry`*2 half-second
/// rounds (default rd.retry=180: after about 120 s).
pub fn degraded_wait(cmdline: &Cmdline) -> Duration {
    let retry = cmdline.number("rd.retry", 180, 0, 86_400);
    Duration::from_millis((4 * retry / 3 + 1) * 500)
}

/// Where an assembled array appears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Naming {
    /// The md device number: `/dev/md{minor}` is block 9:minor.
    pub minor: u32,
    /// `md127`.
    pub devnm: String,
    /// Whether mdadm would treat the array as this host's (it then starts complete arrays
    /// read-write at once; others `read-auto`).
    pub local: bool,
    /// Symlinks udev makes (link path, target relative to the link's directory).
    pub links: Vec<(String, String)>,
}

/// mdadm's choices of md numbers and `/dev/md/` names over one boot (its map file).
#[derive(Clone, Debug, Default)]
pub struct Namer {
    pub homehost: Option<String>,
    /// md numbers in use (`/sys/block/mdN` exists).
    pub busy: BTreeSet<u32>,
    /// `/dev/md/` names in use.
    pub names: BTreeSet<String>,
}

/// udev's `string_escape=replace` for the `md-name-` link.
fn udev_escape(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) { c } else { '_' }).collect()
}

impl Namer {
    /// mdadm's `find_free_devnm`: md127 down to md0, then md511 down to md129.
    fn free(&self) -> Option<u32> {
        (0..=127).rev().chain((129..=511).rev()).find(|n| !self.busy.contains(n))
    }

    /// Names one array as `mdadm -I` would without an mdadm.conf (`create_mddev`). None when
    /// every md number is taken.
    pub fn name(&mut self, plan: &ArrayPlan) -> Option<Naming> {
        // v0.90 arrays are named by their old minor; the homehost is a hash in their UUID,
        // not compared here, so they are always treated as another host's.
        let (name, local) = match plan.metadata {
            Metadata::V0_90 => (plan.preferred_minor.map(|m| m.to_string()).unwrap_or_default(), false),
            _ => {
                let host_is = |h: &str| {
                    !h.is_empty() && h.len() < 32 && plan.name.strip_prefix(h).is_some_and(|r| r.starts_with(':'))
                };
                let local = self.homehost.as_deref().is_some_and(host_is) || host_is("any");
                let name = if local { plan.name.split_once(':').map_or(&*plan.name, |x| x.1) } else { &plan.name };
                (name.to_string(), local)
            }
        };
        // A numeric name of this host's array asks for that number.
        let asked = local
            .then(|| {
                let n = name.strip_prefix("/dev/").unwrap_or(&name);
                let n = n.strip_prefix("md").unwrap_or(n);
                n.strip_prefix('/').unwrap_or(n).parse::<u32>().ok()
            })
            .flatten()
            .filter(|n| *n <= 511 && !self.busy.contains(n));
        let minor = asked.or_else(|| self.free())?;
        self.busy.insert(minor);
        let devnm = format!("md{minor}");
        let mut links = Vec::new();
        if !name.is_empty() {
            let mut cname: String = name
                .chars()
                .take(200)
                .map(|c| match c {
                    '/' => '-',
                    ' ' | '\t' => '_',
                    c if c.is_control() => '_',
                    c => c,
                })
                .collect();
            // Another host's name without `host:` always gets a suffix; any name in use too.
            let base = cname.clone();
            let mut conflict = !(local || base.contains(':')) || self.names.contains(&base);
            let mut n = 0;
            while conflict && n < 1000 {
                cname = format!("{base}_{n}");
                conflict = self.names.contains(&cname);
                n += 1;
            }
            if !conflict && cname != "." && cname != ".." {
                self.names.insert(cname.clone());
                links.push((format!("/dev/md/{cname}"), format!("../{devnm}")));
            }
        }
        links.push((format!("/dev/disk/by-id/md-uuid-{}", format_uuid(&plan.uuid)), format!("../../{devnm}")));
        if !plan.name.is_empty() {
            links.push((format!("/dev/disk/by-id/md-name-{}", udev_escape(&plan.name)), format!("../../{devnm}")));
        }
        Some(Naming { minor, devnm, local, links })
    }
}

/// The sysfs writes that assemble and start a planned array with the kernel reading the
/// superblocks itself: create the device, say which format, add each member by number, start.
/// Empty for an array that cannot run. The personality module (`plan.level.module()`) must be
/// loaded first: the kernel would ask a `/sbin/modprobe` the initramfs does not have.
pub fn sysfs_writes(plan: &ArrayPlan, naming: &Naming) -> Vec<(String, String)> {
    if matches!(plan.readiness, Readiness::NotRunnable(_)) {
        return Vec::new();
    }
    let md = format!("/sys/block/{}/md", naming.devnm);
    let mut w = vec![
        ("/sys/module/md_mod/parameters/new_array".to_string(), naming.devnm.clone()),
        (format!("{md}/metadata_version"), plan.metadata.as_str().to_string()),
    ];
    w.extend(plan.members.iter().map(|m| (format!("{md}/new_dev"), m.devno())));
    // mdadm -I: RUN_ARRAY (read-write) for this host's array with all its members, else
    // auto-read-only (read-write at the first write), as `mdadm -R` after the wait.
    let state = if plan.readiness == Readiness::Ready && naming.local { "active" } else { "read-auto" };
    w.push((format!("{md}/array_state"), state.to_string()));
    w
}

#[cfg(test)]
mod tests;
