//! MD RAID's part of the boot, what udev's mdadm rules and dracut's mdraid hooks do: after every
//! device scan the members are recognised (`linux_raid_member`, as blkid names them), the
//! arrays planned, and those dracut's rules want assembled through sysfs once complete, or
//! degraded once dracut's wait has passed. The arrays then appear as block devices like any
//! other and are probed and rescanned, so LVM on MD composes. `decide` is the pure part.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{degraded_wait, examine, names, plan, ArrayPlan, Found, Namer, Readiness, Selection};
use crate::cmdline::Cmdline;
use crate::devices::{self, BlockDev};
use crate::kmod::Loader;
use crate::probe::Filesystem;
use crate::storage::say;

/// The md block major: arrays themselves are not examined for members.
const MD_MAJOR: u32 = 9;

/// What to do with one planned array now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Assemble and start it (`degraded`: without some of its members, after the wait).
    Start { degraded: bool },
    /// Degraded: wait this much longer for the missing members.
    Wait(Duration),
    /// Running already (as this md device).
    Running(String),
    /// Not wanted by the command line, or cannot run: the line says why.
    Leave(String),
}

/// Decides each array: `running` names the md device an array already runs as, `waited` is
/// how long the boot has waited, `force` starts degraded arrays at once (`mdadm -As`).
pub fn decide(
    plans: &[ArrayPlan],
    selection: &Selection,
    running: &dyn Fn(&ArrayPlan) -> Option<String>,
    waited: Duration,
    wait: Duration,
    force: bool,
) -> Vec<Decision> {
    plans
        .iter()
        .map(|p| {
            if let Some(md) = running(p) {
                return Decision::Running(md);
            }
            if !selection.wants(&p.uuid) {
                let why = if selection.enabled { "rd.md.uuid= does not name it" } else { selection.why };
                return Decision::Leave(format!("{} not assembled: {why}", p.describe()));
            }
            match &p.readiness {
                Readiness::Ready => Decision::Start { degraded: false },
                Readiness::AfterWait if force || waited >= wait => Decision::Start { degraded: true },
                Readiness::AfterWait => Decision::Wait(wait.saturating_sub(waited)),
                Readiness::NotRunnable(_) => Decision::Leave(p.describe()),
            }
        })
        .collect()
}

/// blkid's view of a member: `linux_raid_member`, the array UUID as 8-4-4-4-12 and the array
/// name (`host:name`) as its label.
pub fn member_fs(sb: &super::Superblock) -> Filesystem {
    let hex: String = sb.uuid.iter().map(|b| format!("{b:02x}")).collect();
    let uuid = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
    Filesystem {
        fstype: "linux_raid_member".into(),
        uuid: Some(uuid),
        label: (!sb.name.is_empty()).then(|| sb.name.clone()),
        member: None,
    }
}

/// mdadm's homehost: mdadm.conf's `HOMEHOST`, else the host name (`<system>`); none for
/// `<ignore>`/`<none>` or a host name that is no name yet (`(none)`, `localhost`).
pub fn homehost(conf: &str, hostname: &str) -> Option<String> {
    let line = conf.lines().find_map(|l| l.trim().strip_prefix("HOMEHOST")).map(str::trim);
    let h = match line {
        Some("<ignore>" | "<none>") => return None,
        Some(h) if !h.is_empty() && h != "<system>" => h,
        _ => hostname.trim(),
    };
    (!h.is_empty() && h != "(none)" && h != "localhost").then(|| h.to_string())
}

/// Why an array the rules want was not started (said in "Could not boot").
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("md is not in this kernel: is md_mod in this initramfs? (lsmod, modprobe md_mod)")]
    NoMd,
    #[error("the {level} personality is not loaded: is {module} in this initramfs? (modprobe {module})")]
    NoPersonality { level: String, module: String },
    #[error("every md number (md0 to md511) is in use")]
    NoNumber,
    #[error("writing {value:?} to {path} failed: {err}")]
    Write { value: String, path: String, err: String },
}

/// The arrays of this boot: superblocks read, arrays started, what is still missing.
pub struct Arrays {
    selection: Selection,
    wait: Duration,
    since: Instant,
    /// Of the time since, what went to working rather than waiting (steps, prompts): dracut's
    /// wait for a missing member counts waiting rounds only.
    worked: Duration,
    /// Superblocks read, by device number, with the size the device had.
    read: BTreeMap<(u32, u32), (u64, Option<super::Superblock>)>,
    /// Arrays started by us, by UUID: the md device.
    started: BTreeMap<[u8; 16], String>,
    /// Arrays stopped by hand (`mdadm --stop`): the boot does not start them again.
    held: BTreeSet<[u8; 16]>,
    namer: Namer,
    said: BTreeSet<String>,
    pending: Vec<String>,
}

impl Arrays {
    pub fn new(cmdline: &Cmdline) -> Self {
        let conf = ["/etc/mdadm.conf", "/etc/mdadm/mdadm.conf"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let selection = names::selection(cmdline);
        for v in &selection.invalid {
            log::warn!("ignoring rd.md.uuid={v}: not an array UUID (32 hex digits, as mdadm --detail prints it)");
        }
        Arrays {
            selection,
            wait: degraded_wait(cmdline),
            since: Instant::now(),
            worked: Duration::ZERO,
            read: BTreeMap::new(),
            started: BTreeMap::new(),
            held: BTreeSet::new(),
            namer: Namer { homehost: homehost(&conf, &hostname), ..Default::default() },
            said: BTreeSet::new(),
            pending: Vec::new(),
        }
    }

    /// Reads the md superblocks of `devs` (each once per size) and marks the members as blkid
    /// does, also over a filesystem the probe saw (0.90 and 1.0 keep the data at sector 0).
    pub fn identify(&mut self, devs: &mut [BlockDev], dev_dir: &Path) {
        let present = crate::sort::set(devs.iter().map(|d| (d.major, d.minor)));
        self.read.retain(|k, _| present.contains(k));
        for d in devs.iter_mut().filter(|d| d.size_bytes > 0 && d.major != MD_MAJOR) {
            let key = (d.major, d.minor);
            if self.read.get(&key).is_none_or(|(size, _)| *size != d.size_bytes) {
                let Ok(file) = File::open(dev_dir.join(&d.name)) else { continue };
                let ex = examine(d.size_bytes, &mut |off, buf| file.read_at(buf, off));
                for r in &ex.rejected {
                    say(
                        &mut self.said,
                        format!(
                            "md superblock {} at byte {} of {} refused: {}",
                            r.metadata,
                            r.offset,
                            d.node().display(),
                            r.reason
                        ),
                        true,
                    );
                }
                self.read.insert(key, (d.size_bytes, ex.superblock));
            }
            if let Some((_, Some(sb))) = self.read.get(&key) {
                d.fs = Some(member_fs(sb));
            }
        }
    }

    /// Forgets what was read (`mdadm --assemble --scan` reads every device again).
    pub fn forget(&mut self) {
        self.read.clear();
        self.said.clear();
    }

    /// The members among `devs` with their superblocks, in scan order.
    pub fn found(&self, devs: &[BlockDev]) -> Vec<Found> {
        devs.iter()
            .filter_map(|d| match self.read.get(&(d.major, d.minor)) {
                Some((_, Some(sb))) => {
                    Some(Found { name: d.name.clone(), major: d.major, minor: d.minor, sb: sb.clone() })
                }
                _ => None,
            })
            .collect()
    }

    /// Counts time that went to work (a storage step, a prompt), not to waiting for a member.
    pub fn add_work(&mut self, d: Duration) {
        self.worked = self.worked.saturating_add(d);
    }

    /// One boot step: starts what dracut's rules want and can run now. Returns how many arrays
    /// were started (they arrive as uevents; the next scan sees them).
    pub fn step(&mut self, devs: &[BlockDev], sys: &Path, dev_dir: &Path, loader: Option<&Loader>) -> usize {
        let selection = self.selection.clone();
        self.assemble(&selection, false, devs, sys, dev_dir, loader)
    }

    /// `mdadm --assemble --scan`: every array, degraded ones at once, whatever rd.md says.
    pub fn assemble_all(&mut self, devs: &[BlockDev], sys: &Path, dev_dir: &Path, loader: Option<&Loader>) -> usize {
        let all = Selection { enabled: true, only: None, invalid: Vec::new(), why: "" };
        self.held.clear();
        self.assemble(&all, true, devs, sys, dev_dir, loader)
    }

    fn assemble(
        &mut self,
        selection: &Selection,
        force: bool,
        devs: &[BlockDev],
        sys: &Path,
        dev_dir: &Path,
        loader: Option<&Loader>,
    ) -> usize {
        self.pending.clear();
        let found = self.found(devs);
        if found.is_empty() {
            return 0;
        }
        let plans = plan(&found);
        // An array runs when one of its members is held by an md device (sysfs `slaves/`).
        let running = |p: &ArrayPlan| {
            if let Some(md) = self.started.get(&p.uuid) {
                return Some(md.clone());
            }
            devs.iter()
                .find(|d| d.major == MD_MAJOR && p.members.iter().any(|m| d.slaves.contains(&m.name)))
                .map(|d| d.name.clone())
        };
        let waited = self.since.elapsed().saturating_sub(self.worked);
        let decisions = decide(&plans, selection, &running, waited, self.wait, force);
        let mut started = 0;
        for (p, d) in plans.iter().zip(decisions) {
            if self.held.contains(&p.uuid) {
                self.pending.push(format!("{}: stopped by hand (mdadm --assemble --scan starts it)", p.describe()));
                continue;
            }
            match d {
                Decision::Running(_) => {}
                Decision::Leave(line) => {
                    self.pending.push(line.clone());
                    // Members arriving one by one (16 disks probed in turn) change the count in
                    // the line at every scan: said once per array, the later counts at debug
                    // level (a flood of them pushed the break line past kmsg's rate limit).
                    if line.contains("too few for") {
                        if self.said.insert(format!("too few {}", p.uuid_string())) {
                            log::warn!("{line}");
                        } else {
                            log::debug!("{line}");
                        }
                    } else {
                        say(&mut self.said, line, true);
                    }
                }
                Decision::Wait(left) => {
                    self.pending.push(format!("{}; not started: waiting for the missing member", p.describe()));
                    // Said once per array, not at every scan.
                    if self.said.insert(format!("wait {}", p.uuid_string())) {
                        log::warn!(
                            "{}; waiting up to {} s for it (dracut's wait: 2/3 of rd.retry), then starting the array without it",
                            p.describe(),
                            left.as_secs()
                        );
                    }
                }
                Decision::Start { degraded } => match self.start(p, degraded, devs, sys, dev_dir, loader) {
                    Ok(()) => started += 1,
                    Err(e) => {
                        let line = format!("cannot assemble {}: {e}", p.describe());
                        self.pending.push(line.clone());
                        say(&mut self.said, line, true);
                    }
                },
            }
        }
        started
    }

    fn start(
        &mut self,
        p: &ArrayPlan,
        degraded: bool,
        devs: &[BlockDev],
        sys: &Path,
        dev_dir: &Path,
        loader: Option<&Loader>,
    ) -> Result<(), StartError> {
        let module = p.level.module().unwrap_or("md_mod");
        if let Some(loader) = loader {
            loader.request_stack(&["md_mod".to_string(), module.to_string()], true);
        }
        if !sys.join("module/md_mod").exists() {
            return Err(StartError::NoMd);
        }
        if !sys.join("module").join(module).exists() && module != "md_mod" {
            return Err(StartError::NoPersonality { level: p.level.to_string(), module: module.to_string() });
        }
        self.namer.busy.extend(
            devs.iter().filter(|d| d.major == MD_MAJOR).filter_map(|d| d.name.strip_prefix("md")?.parse::<u32>().ok()),
        );
        let naming = self.namer.name(p).ok_or(StartError::NoNumber)?;
        if degraded {
            log::warn!("{}; starting it as /dev/{} without the missing member", p.describe(), naming.devnm);
        }
        for (path, value) in names::sysfs_writes(p, &naming) {
            let at = sys.join(path.trim_start_matches("/sys/"));
            if let Err(e) = std::fs::write(&at, &value) {
                // Leave no half-made array behind: its members would stay claimed.
                let _ = std::fs::write(sys.join(format!("block/{}/md/array_state", naming.devnm)), "clear");
                return Err(StartError::Write { value, path: at.display().to_string(), err: e.to_string() });
            }
        }
        log::info!("started /dev/{} from {}", naming.devnm, p.describe());
        let links = naming.links.iter().map(|(l, t)| (l.trim_start_matches("/dev/").to_string(), t.clone()));
        devices::place_links(links, dev_dir);
        self.started.insert(p.uuid, naming.devnm);
        Ok(())
    }

    /// After `mdadm --stop`: the array may be assembled again.
    pub fn stopped(&mut self, devnm: &str) {
        self.held.extend(self.started.iter().filter(|(_, md)| *md == devnm).map(|(u, _)| *u));
        self.started.retain(|_, md| md != devnm);
        self.namer.busy.retain(|n| format!("md{n}") != devnm);
    }

    /// Why wanted arrays are not there, one line each, for "Could not boot".
    pub fn pending(&self) -> &[String] {
        &self.pending
    }
}

#[cfg(test)]
mod tests;
