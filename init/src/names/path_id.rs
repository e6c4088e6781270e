//! udev's `path_id` builtin (systemd 252): the device's place on its buses, walking up sysfs
//! from the disk (`pci-0000:00:1f.2-ata-1.0`, `pci-0000:00:04.0`,
//! `pci-0000:00:05.0-scsi-0:0:1:0`, `pci-0000:00:06.0-nvme-1`), and the old ATA form without the
//! device number (`pci-0000:00:1f.2-ata-1`).

use super::sysfs::{Dev, Sysfs, MAX_DEPTH};
use super::text::sysnum;

/// `ID_PATH` and `ID_PATH_ATA_COMPAT`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PathId {
    pub path: String,
    pub ata_compat: Option<String>,
}

/// `path_prepend`: `pre-path`.
fn prepend(path: &mut Option<String>, pre: String) {
    *path = Some(match path.take() {
        Some(p) => format!("{pre}-{p}"),
        None => pre,
    });
}

/// Both paths get the piece (the compat path only once ATA started it).
fn prepend_both(path: &mut Option<String>, compat: &mut Option<String>, pre: String) {
    if compat.is_some() {
        prepend(compat, pre.clone());
    }
    prepend(path, pre);
}

/// `skip_subsystem`: the last of `d` and its parents that are still in `subsys`.
fn skip_subsystem(sys: &Sysfs, d: Dev, subsys: &str) -> Dev {
    let mut d = d;
    for _ in 0..MAX_DEPTH {
        match sys.parent(&d) {
            Some(p) if p.subsystem().as_deref() == Some(subsys) => d = p,
            _ => break,
        }
    }
    d
}

/// `format_lun_number`.
fn lun(d: &Dev) -> Option<String> {
    let lun: u64 = sysnum(&d.sysname())?.parse().ok()?;
    Some(if lun < 256 {
        format!("lun-{lun}")
    } else {
        format!("lun-0x{:04x}{:04x}00000000", lun & 0xffff, (lun >> 16) & 0xffff)
    })
}

/// The number at the start of `s` (sscanf's `%u`, digits only).
fn leading_u32(s: &str) -> Option<u32> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    s[..n].parse().ok()
}

/// `H:B:T:L` of a SCSI device's name.
fn hbtl(name: &str) -> Option<[i64; 4]> {
    let mut it = name.split(':').map(|p| p.parse::<i64>().ok());
    let v = [it.next()??, it.next()??, it.next()??, it.next()??];
    it.next().is_none().then_some(v)
}

fn attr(d: &Dev, name: &str) -> Option<String> {
    d.attr_text(name)
}

fn fibre_channel(sys: &Sysfs, parent: &Dev, path: &mut Option<String>) -> Option<Dev> {
    let target = sys.parent_with(parent, "scsi", Some("scsi_target"))?;
    let fc = sys.class_dev("fc_transport", &target.sysname())?;
    let port = attr(&fc, "port_name")?;
    prepend(path, format!("fc-{port}-{}", lun(parent).unwrap_or_default()));
    Some(parent.clone())
}

fn sas_wide_port(sys: &Sysfs, parent: &Dev, path: &mut Option<String>) -> Option<Dev> {
    let target = sys.parent_with(parent, "scsi", Some("scsi_target"))?;
    let target_parent = sys.parent(&target)?;
    let sas = sys.class_dev("sas_device", &target_parent.sysname())?;
    let address = attr(&sas, "sas_address")?;
    prepend(path, format!("sas-{address}-{}", lun(parent).unwrap_or_default()));
    Some(parent.clone())
}

fn sas(sys: &Sysfs, parent: &Dev, path: &mut Option<String>) -> Option<Dev> {
    let target = sys.parent_with(parent, "scsi", Some("scsi_target"))?;
    let target_parent = sys.parent(&target)?;
    let target_sas = sys.class_dev("sas_device", &target_parent.sysname())?;
    let port = sys.parent(&target_parent)?;
    let port_sas = sys.class_dev("sas_port", &port.sysname())?;
    let phys = attr(&port_sas, "num_phys")?;
    // C compares the first two bytes with "1\0".
    if phys != "1" {
        return sas_wide_port(sys, parent, path);
    }
    let phy = attr(&target_sas, "phy_identifier")?;
    let expander = sys.parent(&port)?;
    let address = match sys.class_dev("sas_device", &expander.sysname()) {
        Some(e) => Some(attr(&e, "sas_address")?),
        None => None,
    };
    let lun = lun(parent).unwrap_or_default();
    prepend(
        path,
        match address {
            Some(a) => format!("sas-exp{a}-phy{phy}-{lun}"),
            None => format!("sas-phy{phy}-{lun}"),
        },
    );
    Some(parent.clone())
}

fn iscsi(sys: &Sysfs, parent: &Dev, path: &mut Option<String>) -> Option<Dev> {
    let transport = sys.chain(parent).into_iter().skip(1).find(|d| d.sysname().starts_with("session"))?;
    let session = sys.class_dev("iscsi_session", &transport.sysname())?;
    let target = attr(&session, "targetname")?;
    let num = sysnum(&transport.sysname())?.to_string();
    let conn = sys.class_dev("iscsi_connection", &format!("connection{num}:0"))?;
    let addr = attr(&conn, "persistent_address")?;
    let port = attr(&conn, "persistent_port")?;
    prepend(path, format!("ip-{addr}:{port}-iscsi-{target}-{}", lun(parent).unwrap_or_default()));
    Some(parent.clone())
}

fn ata(sys: &Sysfs, parent: &Dev, path: &mut Option<String>, compat: &mut Option<String>) -> Option<Dev> {
    let [_, bus, target, _] = hbtl(&parent.sysname())?;
    let host = sys.parent_with(parent, "scsi", Some("scsi_host"))?;
    let port = sys.class_dev("ata_port", &sys.parent(&host)?.sysname())?;
    let port_no = attr(&port, "port_no")?;
    // Behind a port multiplier the bus is the PMP port; otherwise master/slave is the target.
    prepend(path, if bus != 0 { format!("ata-{port_no}.{bus}.0") } else { format!("ata-{port_no}.{target}") });
    prepend(compat, format!("ata-{port_no}"));
    Some(parent.clone())
}

fn scsi_default(sys: &Sysfs, parent: &Dev, path: &mut Option<String>) -> Option<Dev> {
    let host = sys.parent_with(parent, "scsi", Some("scsi_host"))?;
    let [h, bus, target, lun] = hbtl(&parent.sysname())?;
    // The host number rebased on the lowest `hostN` beside this one (udev's own comment calls
    // this racy; it is what the links are).
    let base = std::fs::read_dir(host.path().parent()?)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir() || t.is_symlink()))
        .filter_map(|e| {
            let n = e.file_name().to_str()?.strip_prefix("host")?.to_string();
            (!n.is_empty() && n.bytes().all(|c| c.is_ascii_digit())).then(|| n.parse::<i64>().ok())?
        })
        .min();
    let Some(base) = base else { return Some(host) };
    prepend(path, format!("scsi-{}:{bus}:{target}:{lun}", h - base));
    Some(host)
}

fn hyperv(sys: &Sysfs, parent: &Dev, path: &mut Option<String>, guid_len: usize) -> Option<Dev> {
    let host = sys.parent_with(parent, "scsi", Some("scsi_host"))?;
    let vmbus = sys.parent(&host)?;
    let guid = attr(&vmbus, "device_id")?;
    let g = guid.as_bytes();
    if g.len() < guid_len || g[0] != b'{' || g[guid_len - 1] != b'}' {
        return None;
    }
    let id: String = guid[1..guid_len - 1].chars().filter(|c| *c != '-').collect();
    prepend(path, format!("vmbus-{id}-{}", lun(parent).unwrap_or_default()));
    Some(parent.clone())
}

/// `handle_scsi`: None ends the walk (as a NULL parent does in udev).
fn scsi(
    sys: &Sysfs,
    parent: &Dev,
    path: &mut Option<String>,
    compat: &mut Option<String>,
    supported_parent: &mut bool,
) -> Option<Dev> {
    if parent.devtype().as_deref() != Some("scsi_device") {
        return Some(parent.clone());
    }
    if let Some(id) = attr(parent, "ieee1394_id") {
        prepend(path, format!("ieee1394-0x{id}"));
        *supported_parent = true;
        return Some(skip_subsystem(sys, parent.clone(), "scsi"));
    }
    let name = parent.syspath();
    if name.contains("/rport-") {
        *supported_parent = true;
        return fibre_channel(sys, parent, path);
    }
    if name.contains("/end_device-") {
        *supported_parent = true;
        return sas(sys, parent, path);
    }
    if name.contains("/session") {
        *supported_parent = true;
        return iscsi(sys, parent, path);
    }
    if name.contains("/ata") {
        return ata(sys, parent, path, compat);
    }
    if name.contains("/vmbus_") {
        return hyperv(sys, parent, path, 37);
    }
    if name.contains("/VMBUS") {
        return hyperv(sys, parent, path, 38);
    }
    scsi_default(sys, parent, path)
}

fn usb(sys: &Sysfs, parent: &Dev, path: &mut Option<String>) -> Dev {
    if !matches!(parent.devtype().as_deref(), Some("usb_interface" | "usb_device")) {
        return parent.clone();
    }
    let name = parent.sysname();
    let Some((_, port)) = name.split_once('-') else { return parent.clone() };
    // The host number may change across boots; udev writes 0.
    prepend(path, format!("usb-0:{port}"));
    skip_subsystem(sys, parent.clone(), "usb")
}

/// `find_real_nvme_parent`: a multipath namespace (`nvme-subsys0/nvme0n1`) belongs to the
/// controller `nvme0`, which sits on the PCI bus.
fn real_nvme_parent(sys: &Sysfs, dev: &Dev) -> Option<Dev> {
    let name = dev.sysname();
    let rest = name.strip_prefix("nvme")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ctrl = sys.class_dev("nvme", &name[..4 + digits])?;
    (!ctrl.syspath().starts_with("/sys/devices/virtual/")).then_some(ctrl)
}

/// `ID_PATH` (and the ATA compat path) of a disk, or None where udev sets none.
pub fn path_id(sys: &Sysfs, dev: &Dev) -> Option<PathId> {
    let (mut path, mut compat) = (None, None);
    let (mut transport, mut supported_parent) = (false, false);
    let mut cur = Some(dev.clone());
    for _ in 0..MAX_DEPTH {
        let Some(parent) = cur.take() else { break };
        let next = match parent.subsystem().as_deref() {
            None => Some(parent),
            Some("scsi") => {
                transport = true;
                scsi(sys, &parent, &mut path, &mut compat, &mut supported_parent)
            }
            Some("cciss") => {
                transport = true;
                // sscanf "c%ud%u": the controller, then the disk number.
                let n = parent.sysname();
                let disk = n.strip_prefix('c').and_then(|r| {
                    leading_u32(
                        r.strip_prefix(|c: char| c.is_ascii_digit())?
                            .trim_start_matches(|c: char| c.is_ascii_digit())
                            .strip_prefix('d')?,
                    )
                });
                disk.map(|disk| {
                    prepend(&mut path, format!("cciss-disk{disk}"));
                    skip_subsystem(sys, parent, "cciss")
                })
            }
            Some("usb") => {
                transport = true;
                Some(usb(sys, &parent, &mut path))
            }
            Some("bcma") => {
                transport = true;
                // sscanf "bcma%*u:%u".
                let n = parent.sysname();
                let core = n.strip_prefix("bcma").and_then(|r| leading_u32(r.split_once(':')?.1));
                core.map(|core| {
                    prepend(&mut path, format!("bcma-{core}"));
                    parent
                })
            }
            Some("serio") => match sysnum(&parent.sysname()) {
                Some(n) => {
                    prepend(&mut path, format!("serio-{n}"));
                    Some(skip_subsystem(sys, parent, "serio"))
                }
                None => Some(parent),
            },
            Some(s @ ("pci" | "acpi" | "xen")) => {
                prepend_both(&mut path, &mut compat, format!("{s}-{}", parent.sysname()));
                supported_parent = true;
                Some(skip_subsystem(sys, parent, s))
            }
            Some(s @ ("platform" | "scm" | "ccw" | "ccwgroup" | "iucv")) => {
                prepend_both(&mut path, &mut compat, format!("{s}-{}", parent.sysname()));
                supported_parent = true;
                transport = true;
                Some(skip_subsystem(sys, parent, s))
            }
            Some("virtio") => {
                transport = true;
                Some(skip_subsystem(sys, parent, "virtio"))
            }
            Some("ap") => {
                transport = true;
                supported_parent = true;
                match (attr(&parent, "type"), attr(&parent, "ap_functions")) {
                    (Some(t), Some(f)) => prepend(&mut path, format!("ap-{t}-{f}")),
                    _ => prepend(&mut path, format!("ap-{}", parent.sysname())),
                }
                Some(skip_subsystem(sys, parent, "ap"))
            }
            Some(s @ ("nvme" | "nvme-subsystem")) => match attr(dev, "nsid") {
                Some(nsid) => {
                    prepend_both(&mut path, &mut compat, format!("nvme-{nsid}"));
                    let p = if s == "nvme-subsystem" { real_nvme_parent(sys, dev)? } else { parent };
                    supported_parent = true;
                    transport = true;
                    Some(skip_subsystem(sys, p, "nvme"))
                }
                None => Some(parent),
            },
            Some("spi") => match sysnum(&parent.sysname()) {
                Some(n) => {
                    prepend(&mut path, format!("cs-{n}"));
                    Some(skip_subsystem(sys, parent, "spi"))
                }
                None => Some(parent),
            },
            Some(_) => Some(parent),
        };
        cur = next.and_then(|n| sys.parent(&n));
    }
    let path = path?;
    // An unknown parent type or a block device with no known transport could give names that
    // are not unique or not stable.
    if !supported_parent || (dev.subsystem().as_deref() == Some("block") && !transport) {
        return None;
    }
    Some(PathId { path, ata_compat: compat })
}
