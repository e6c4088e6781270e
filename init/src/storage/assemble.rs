//! udev's, mdadm's and lvm's part of the boot for storage stacks: after every device scan, the
//! members found (MD RAID members, LVM PVs) are recognised, and what is complete and wanted by
//! dracut's rules is assembled (md, through sysfs: `md::run`) or activated through device-mapper.
//! The new devices are announced by the kernel and scanned like any other, so stacks compose.
//! What could not be assembled is kept for the failure message.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;

use crate::cmdline::Cmdline;
use crate::devices::BlockDev;
use crate::kmod::Loader;
use crate::probe::Filesystem;

use super::dm;
use super::luks_open::{Containers, Locked, Outcome};
use super::lvm::{self, PresentPv};
use super::md;
use super::say;

/// The stacks assembled so far and what the boot was told about them.
pub struct Assembler {
    lvm: lvm::Filter,
    /// PVs read, by device number, with the size they had: read again only when they change.
    pvs: BTreeMap<(u32, u32), (u64, Result<lvm::Pv, lvm::Error>)>,
    /// DM names activated by us (or found active), never created twice.
    active: BTreeSet<String>,
    /// Lines already logged, so that a rescan per uevent does not repeat them.
    said: BTreeSet<String>,
    /// Why wanted LVs are not there, as of the last step.
    pending: Vec<String>,
    /// LUKS containers: opened with key files here, with passphrases the stage layer asks for.
    crypt: Containers,
    /// lvm2 runs done (their LVs and how many PVs were present), never repeated as such, with
    /// the failure each ended in: it stays in what is pending while its LVs are missing.
    tool_runs: BTreeMap<String, Option<String>>,
    /// MD RAID arrays.
    md: md::run::Arrays,
}

impl Assembler {
    pub fn new(cmdline: &Cmdline) -> Self {
        Assembler {
            lvm: lvm::filter(cmdline),
            pvs: BTreeMap::new(),
            active: BTreeSet::new(),
            said: BTreeSet::new(),
            pending: Vec::new(),
            crypt: Containers::new(cmdline, None),
            tool_runs: BTreeMap::new(),
            md: md::run::Arrays::new(cmdline),
        }
    }

    /// Before a shell opens: the TPM2 tokens of the containers among `devs` sealed off for the
    /// rest of this boot (their PCRs extended); the lines to say.
    pub fn before_shell(&mut self, devs: &[BlockDev], dev_dir: &Path) -> Vec<String> {
        self.crypt.before_shell(devs, dev_dir)
    }

    /// The LUKS rules again with the image's `/etc/crypttab` (read by the boot, not in tests).
    pub fn set_crypttab(&mut self, cmdline: &Cmdline, crypttab: Option<&str>) {
        self.crypt.set_rules(cmdline, crypttab);
    }

    /// The LUKS containers wanted and still locked: the stage layer asks for their passphrase.
    pub fn locked(&self, devs: &[BlockDev]) -> Vec<Locked> {
        self.crypt.locked(devs)
    }

    /// Tries one passphrase on every locked container.
    pub fn unlock_all(
        &mut self,
        devs: &[BlockDev],
        secret: &[u8],
        dev_dir: &Path,
        loader: Option<&Loader>,
    ) -> Vec<(Locked, Outcome)> {
        self.crypt.unlock_all(devs, secret, dev_dir, loader)
    }

    /// Stops asking for a container's passphrase (tries used up, Ctrl-C).
    pub fn give_up(&mut self, devno: (u32, u32), why: &str) {
        self.crypt.give_up(devno, why);
    }

    /// Recognises the stack members among `devs` (their probe found nothing else) and marks
    /// them as blkid does (`LVM2_member`), so listings and `root=` see what they hold.
    pub fn identify(&mut self, devs: &mut [BlockDev], dev_dir: &Path) {
        // First: an md member of 1.0 or 0.90 may carry an LVM label in its data.
        self.md.identify(devs, dev_dir);
        let present = crate::sort::set(devs.iter().map(|d| (d.major, d.minor)));
        self.pvs.retain(|k, _| present.contains(k));
        for d in devs.iter_mut().filter(|d| d.fs.is_none() && d.size_bytes > 0) {
            let key = (d.major, d.minor);
            let fresh = self.pvs.get(&key).is_some_and(|(size, _)| *size == d.size_bytes);
            if !fresh {
                let Ok(file) = File::open(dev_dir.join(&d.name)) else { continue };
                let read = lvm::read_pv(&file);
                self.pvs.insert(key, (d.size_bytes, read));
            }
            if let Some((_, Ok(pv))) = self.pvs.get(&key) {
                d.fs = Some(Filesystem {
                    fstype: "LVM2_member".into(),
                    uuid: Some(pv.label.uuid.to_string()),
                    label: None,
                    member: None,
                });
            }
        }
    }

    /// Forgets what was read, so that the next step reads every PV again (`vgscan`).
    pub fn forget(&mut self) {
        self.pvs.clear();
        self.said.clear();
        self.tool_runs.clear();
        self.md.forget();
    }

    /// Activates every LV dracut's rules want whose PVs are all present and that is not active
    /// yet. Returns how many devices were created (they arrive as uevents and the next scan
    /// sees them).
    pub fn step(&mut self, devs: &[BlockDev], dev_dir: &Path, loader: Option<&Loader>) -> usize {
        let start = std::time::Instant::now();
        let made = self.step_all(devs, dev_dir, loader);
        self.md.add_work(start.elapsed());
        made
    }

    /// Time the boot spent working elsewhere (at a passphrase prompt): not waiting for members.
    pub fn add_work(&mut self, d: std::time::Duration) {
        self.md.add_work(d);
    }

    fn step_all(&mut self, devs: &[BlockDev], dev_dir: &Path, loader: Option<&Loader>) -> usize {
        let filter = self.lvm.clone();
        let created = self.activate(&filter, devs, dev_dir, loader);
        // md is assembled through the kernel's own sysfs, as dm through its ioctls.
        let arrays = self.md.step(devs, Path::new("/sys"), dev_dir, loader);
        self.pending.extend(self.md.pending().iter().cloned());
        let (opened, locked) = self.crypt.step(devs, dev_dir, loader);
        self.pending.extend(locked);
        created + arrays + opened
    }

    /// The MD RAID arrays, for the shell's `mdadm`.
    pub fn md(&mut self) -> &mut md::run::Arrays {
        &mut self.md
    }

    /// `vgchange -ay [VG…]`: what `filter` names, whatever the command line said.
    pub fn activate(
        &mut self,
        filter: &lvm::Filter,
        devs: &[BlockDev],
        dev_dir: &Path,
        loader: Option<&Loader>,
    ) -> usize {
        self.pending.clear();
        let mut present = Vec::new();
        let mut copies = Vec::new();
        for d in devs {
            let Some((_, Ok(pv))) = self.pvs.get(&(d.major, d.minor)) else { continue };
            present.push(PresentPv {
                uuid: pv.label.uuid,
                major: d.major,
                minor: d.minor,
                device: d.node().display().to_string(),
                size_sectors: d.size_bytes / 512,
            });
            copies.extend(pv.vg.iter());
            let problems: Vec<String> =
                pv.problems.iter().map(|p| format!("LVM PV {}: {p}", d.node().display())).collect();
            for p in problems {
                say(&mut self.said, p, true);
            }
        }
        if present.is_empty() {
            return 0;
        }
        if let lvm::Filter::Off(why) = filter {
            let line = format!("LVM PVs found, not activated: {why}");
            self.pending.push(line.clone());
            say(&mut self.said, line, false);
            return 0;
        }
        let vgs = lvm::newest(copies.iter().copied());
        let plans = lvm::plan(&vgs, &present, filter);
        let todo: Vec<&lvm::Activation> =
            plans.iter().filter_map(|p| p.result.as_ref().ok()).filter(|a| !self.active.contains(&a.dm_name)).collect();
        let mut created = 0;
        if !todo.is_empty() {
            match dm::control(dev_dir, loader) {
                Ok(ctl) => {
                    let listed = crate::sort::set(ctl.list().unwrap_or_default().into_iter().map(|l| l.name));
                    for a in todo {
                        if listed.contains(&a.dm_name) {
                            self.active.insert(a.dm_name.clone());
                            continue;
                        }
                        match ctl.activate(&a.dm_name, Some(&a.dm_uuid), &a.targets, a.read_only) {
                            Ok(info) => {
                                log::info!("activated LVM LV {} as /dev/{}", a.dm_name, info.kernel_name());
                                self.active.insert(a.dm_name.clone());
                                created += 1;
                            }
                            Err(e) => {
                                let line = format!("cannot activate LVM LV {}: {e}", a.dm_name);
                                self.pending.push(line.clone());
                                say(&mut self.said, line, true);
                            }
                        }
                    }
                }
                Err(e) => {
                    self.pending.push(e.to_string());
                    say(&mut self.said, e.to_string(), true);
                }
            }
        }
        created += self.run_lvm_tool(&plans, present.len(), dev_dir, loader);
        let listed: BTreeSet<String> = match plans.iter().any(|p| p.result.is_err()) {
            true => dm::Control::open(dev_dir)
                .and_then(|c| c.list())
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.name)
                .collect(),
            false => BTreeSet::new(),
        };
        for p in plans.iter().filter(|p| p.result.is_err()) {
            // Active all the same: lvm2 made it, or someone at the shell did.
            if !listed.contains(&lvm::activate::dm_name(&p.vg, &p.lv)) {
                self.pending.push(p.to_string());
            }
        }
        created
    }

    /// Hands the LVs of types rdbreak does not map to the image's `lvm`, once for each set of
    /// LVs and PVs present. Returns how many of them are active afterwards.
    fn run_lvm_tool(
        &mut self,
        plans: &[lvm::LvPlan],
        present: usize,
        dev_dir: &Path,
        loader: Option<&Loader>,
    ) -> usize {
        let thin_check = ["/usr/sbin/thin_check", "/sbin/thin_check"].iter().any(|p| Path::new(p).exists());
        // Every scan comes here: without an LV for lvm2, no device-mapper call at all.
        if lvm::tool::plan(plans, thin_check).is_none() {
            return 0;
        }
        let Ok(ctl) = dm::control(dev_dir, loader) else { return 0 };
        let listed = crate::sort::set(ctl.list().unwrap_or_default().into_iter().map(|l| l.name));
        let waiting: Vec<lvm::LvPlan> =
            plans.iter().filter(|p| !listed.contains(&lvm::activate::dm_name(&p.vg, &p.lv))).cloned().collect();
        let Some(run) = lvm::tool::plan(&waiting, thin_check) else { return 0 };
        let Some(binary) = lvm::tool::LVM_PATHS.iter().find(|p| Path::new(p).exists()) else {
            let line = format!(
                "no lvm binary in this initramfs for {}: rebuild it with dracut's lvm module (lvm2 installed) \
                 or with rdbreak build --binary /usr/sbin/lvm; a dracut image also boots with rd.rdbreak=0",
                run.lvs.join(", ")
            );
            self.pending.push(line.clone());
            say(&mut self.said, line, true);
            return 0;
        };
        let key = format!("{} with {present} PVs", run.lvs.join(" "));
        if let Some(failed) = self.tool_runs.get(&key) {
            self.pending.extend(failed.iter().cloned());
            return 0;
        }
        if let Some(loader) = loader {
            loader.request_stack(&run.modules, false);
        }
        if !thin_check && run.modules.iter().any(|m| m == "dm_thin_pool") {
            log::info!("no thin_check in this initramfs: lvm activates the thin pools without checking them");
        }
        log::info!(
            "LVs of types rdbreak does not map: {binary} {}",
            run.args[..5].join(" ") + " … " + &run.lvs.join(" ")
        );
        let outcome = run_bounded(binary, &run.args, std::time::Duration::from_secs(60));
        let now = crate::sort::set(ctl.list().unwrap_or_default().into_iter().map(|l| l.name));
        let mut made = 0;
        for lv in &run.lvs {
            let Some((vg, name)) = lv.split_once('/') else { continue };
            let dm_name = lvm::activate::dm_name(vg, name);
            if now.contains(&dm_name) {
                log::info!("lvm activated LV {lv} as {dm_name}");
                self.active.insert(dm_name);
                made += 1;
            }
        }
        let failed = match outcome {
            Err(e) => Some(format!("lvm could not activate {}: {e}", run.lvs.join(", "))),
            Ok(()) if made < run.lvs.len() => Some(format!(
                "{binary} finished but {} is not active: its output is in /run/initramfs/lvm.log",
                run.lvs.join(", ")
            )),
            Ok(()) => None,
        };
        if let Some(line) = &failed {
            self.pending.push(line.clone());
            say(&mut self.said, line.clone(), true);
        }
        self.tool_runs.insert(key, failed);
        made
    }

    /// The PVs among `devs` that were read: the device and what it holds.
    pub fn physical_volumes<'a>(&'a self, devs: &'a [BlockDev]) -> Vec<(&'a BlockDev, &'a lvm::Pv)> {
        devs.iter()
            .filter_map(|d| match self.pvs.get(&(d.major, d.minor)) {
                Some((_, Ok(pv))) => Some((d, pv)),
                _ => None,
            })
            .collect()
    }

    /// The newest copy of every VG on the PVs read.
    pub fn volume_groups(&self) -> Vec<&lvm::Vg> {
        lvm::newest(self.pvs.values().filter_map(|(_, r)| r.as_ref().ok()).filter_map(|pv| pv.vg.as_ref()))
    }

    /// Why wanted storage is not there, one line each, for "Could not boot".
    pub fn pending(&self) -> &[String] {
        &self.pending
    }
}

/// Why an lvm2 run did not activate what it was asked for.
#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error("cannot run {program}: {err}")]
    Spawn { program: String, err: String },
    #[error("{program} did not finish in {secs} s and was killed")]
    Killed { program: String, secs: u64 },
    #[error("waiting for {program}: {err}")]
    Wait { program: String, err: String },
    /// The last lines it wrote are the error.
    #[error("{program} failed ({status}): {said} (all of it in {log})")]
    Failed { program: String, status: String, said: String, log: String },
}

/// Runs `program args` with its output kept in a file (the last lines are the error), killed
/// when it outlives `limit`: a tool that hangs must not hang the boot.
fn run_bounded(program: &str, args: &[String], limit: std::time::Duration) -> Result<(), ToolError> {
    use std::io::{Read, Seek, SeekFrom};
    let log_path = Path::new("/run/initramfs/lvm.log");
    let _ = std::fs::create_dir_all("/run/initramfs");
    let log = std::fs::OpenOptions::new().create(true).append(true).read(true).open(log_path).ok();
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).stdin(std::process::Stdio::null());
    if let Some((out, err)) = log.as_ref().and_then(|f| Some((f.try_clone().ok()?, f.try_clone().ok()?))) {
        cmd.stdout(out).stderr(err);
    }
    let start = log.as_ref().and_then(|mut f| f.seek(SeekFrom::End(0)).ok()).unwrap_or(0);
    let mut child = cmd.spawn().map_err(|e| ToolError::Spawn { program: program.to_string(), err: e.to_string() })?;
    let t0 = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if t0.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(ToolError::Killed { program: program.to_string(), secs: limit.as_secs() });
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => break Err(ToolError::Wait { program: program.to_string(), err: e.to_string() }),
        }
    };
    let mut said = String::new();
    if let Some(mut f) = log {
        let end = f.seek(SeekFrom::End(0)).unwrap_or(start);
        // The last 2 KiB of what this run wrote.
        let from = start.max(end.saturating_sub(2048));
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.take(2048).read_to_string(&mut said);
        }
    }
    let said: Vec<&str> = said.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let said = said[said.len().saturating_sub(3)..].join("; ");
    match status? {
        s if s.success() => Ok(()),
        s => Err(ToolError::Failed {
            program: program.to_string(),
            status: s.to_string(),
            said,
            log: log_path.display().to_string(),
        }),
    }
}

/// The links udev makes for the DM devices among `devs` (`mapper/NAME`, `VG/LV`, by-id).
pub fn links(devs: &[BlockDev]) -> Vec<(String, String)> {
    devs.iter()
        .filter_map(|d| d.dm.as_ref().map(|m| (d, m)))
        .flat_map(|(d, m)| dm::links(&m.name, &m.uuid, &d.name))
        .collect()
}

#[cfg(all(test, feature = "zstd"))]
mod tests {
    use super::*;
    use crate::devices::DmInfo;

    #[test]
    fn dm_devices_get_udevs_links() {
        let d = BlockDev {
            name: "dm-0".into(),
            dm: Some(DmInfo { name: "centos-root".into(), uuid: "LVM-abc".into() }),
            ..Default::default()
        };
        let l = links(&[d, BlockDev { name: "vda".into(), ..Default::default() }]);
        assert!(l.contains(&("mapper/centos-root".into(), "../dm-0".into())), "{l:?}");
        assert!(l.contains(&("centos/root".into(), "../dm-0".into())), "{l:?}");
    }

    #[test]
    fn pvs_are_recognised_and_lvm_off_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let img = crate::storage::lvm::tests::image("centos.pv0");
        std::fs::write(dir.path().join("vda2"), &img).unwrap();
        let mut devs = vec![BlockDev {
            name: "vda2".into(),
            major: 254,
            minor: 2,
            size_bytes: img.len() as u64,
            ..Default::default()
        }];
        let mut a = Assembler::new(&Cmdline::parse("rd.lvm=0"));
        a.identify(&mut devs, dir.path());
        let fs = devs[0].fs.as_ref().unwrap();
        assert_eq!(fs.fstype, "LVM2_member");
        assert!(!fs.mountable());
        assert_eq!(a.step(&devs, dir.path(), None), 0);
        assert_eq!(a.pending(), ["LVM PVs found, not activated: rd.lvm=0 is given"]);
    }

    #[test]
    fn a_missing_pv_is_named_with_what_was_seen() {
        let dir = tempfile::tempdir().unwrap();
        let img = crate::storage::lvm::tests::image("stripes.pv0");
        std::fs::write(dir.path().join("vdb"), &img).unwrap();
        let mut devs = vec![BlockDev {
            name: "vdb".into(),
            major: 254,
            minor: 16,
            size_bytes: img.len() as u64,
            ..Default::default()
        }];
        let mut a = Assembler::new(&Cmdline::parse("rd.auto"));
        a.identify(&mut devs, dir.path());
        assert_eq!(a.step(&devs, dir.path(), None), 0, "nothing to create without the second PV");
        let pending = a.pending().join("\n");
        assert!(pending.contains("missing; LVM PVs seen: /dev/vdb"), "{pending}");
    }
}
