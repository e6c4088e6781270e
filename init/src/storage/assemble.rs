//! udev's and lvm's part of the boot for storage stacks: after every device scan, the members
//! found (LVM PVs) are recognised, and what is complete and wanted by dracut's rules is
//! activated through device-mapper. The new devices are announced by the kernel and scanned like
//! any other, so stacks compose. What could not be assembled is kept for the failure message.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;

use crate::cmdline::Cmdline;
use crate::devices::BlockDev;
use crate::kmod::Loader;
use crate::probe::Filesystem;

use super::dm;
use super::lvm::{self, PresentPv};
use super::unlock::{Containers, Locked, Outcome};

/// The stacks assembled so far and what the boot was told about them.
pub struct Assembler {
    lvm: lvm::Filter,
    /// PVs read, by device number, with the size they had: read again only when they change.
    pvs: BTreeMap<(u32, u32), (u64, Result<lvm::Pv, String>)>,
    /// DM names activated by us (or found active), never created twice.
    active: BTreeSet<String>,
    /// Lines already logged, so that a rescan per uevent does not repeat them.
    said: BTreeSet<String>,
    /// Why wanted LVs are not there, as of the last step.
    pending: Vec<String>,
    /// LUKS containers: opened with key files here, with passphrases the stage layer asks for.
    crypt: Containers,
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
        }
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
        let present: BTreeSet<(u32, u32)> = devs.iter().map(|d| (d.major, d.minor)).collect();
        self.pvs.retain(|k, _| present.contains(k));
        for d in devs.iter_mut().filter(|d| d.fs.is_none() && d.size_bytes > 0) {
            let key = (d.major, d.minor);
            let fresh = self.pvs.get(&key).is_some_and(|(size, _)| *size == d.size_bytes);
            if !fresh {
                let Ok(file) = File::open(dev_dir.join(&d.name)) else { continue };
                let read = lvm::read_pv(&file).map_err(|e| e.to_string());
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
    }

    /// Activates every LV dracut's rules want whose PVs are all present and that is not active
    /// yet. Returns how many devices were created (they arrive as uevents and the next scan
    /// sees them).
    pub fn step(&mut self, devs: &[BlockDev], dev_dir: &Path, loader: Option<&Loader>) -> usize {
        let filter = self.lvm.clone();
        let activated = self.activate(&filter, devs, dev_dir, loader);
        let (opened, locked) = self.crypt.step(devs, dev_dir, loader);
        self.pending.extend(locked);
        activated + opened
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
            match control(dev_dir, loader) {
                Ok(ctl) => {
                    let listed: BTreeSet<String> = ctl.list().unwrap_or_default().into_iter().map(|l| l.name).collect();
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
                    self.pending.push(e.clone());
                    say(&mut self.said, e, true);
                }
            }
        }
        for p in plans.iter().filter(|p| p.result.is_err()) {
            self.pending.push(p.to_string());
        }
        created
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

/// Logs a line once, however many scans find the same thing.
fn say(said: &mut BTreeSet<String>, line: String, warn: bool) {
    if said.insert(line.clone()) {
        if warn {
            log::warn!("{line}");
        } else {
            log::info!("{line}");
        }
    }
}

/// `/dev/mapper/control`, loading dm_mod first when it is a module.
pub(super) fn control(dev_dir: &Path, loader: Option<&Loader>) -> Result<dm::Control, String> {
    if let Ok(c) = dm::Control::open(dev_dir) {
        return Ok(c);
    }
    if let Some(loader) = loader {
        loader.request(&["dm_mod".to_string()], true);
    }
    dm::Control::open(dev_dir)
        .map_err(|e| format!("cannot use device-mapper ({e}): is dm_mod in this initramfs? (lsmod, modprobe dm_mod)"))
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
