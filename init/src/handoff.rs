//! Whether dracut's own init boots this machine instead of rdbreak, decided from the command line
//! and what the image holds before any driver loads, and the hand-off itself: dracut's init
//! exec'd as PID 1 with the argv and environment the kernel gave rdbreak, and rdbreak's API
//! mounts undone so that it mounts its own. After the hand-off the boot is exactly stock
//! dracut's; rdbreak only ever adds to it.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rustix::mount::UnmountFlags;

use crate::cmdline::Cmdline;
use crate::mounts::{self, MountInfo};
use crate::root::RootSpec;
use crate::storage::luks_rules;
use crate::{kmsg, sys};

/// Where the dracut module keeps the `/init` dracut's other modules made (base's init.sh, or
/// systemd's symlink), and its record of which it is.
pub const DRACUT_INIT: &str = "/init.dracut";
const RECORD: &str = "etc/rdbreak/dracut-init";
/// `handoff` when the dracut config says `rdbreak_mode="handoff"`.
const MODE: &str = "etc/rdbreak/mode";

/// Which init dracut's modules put in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitKind {
    /// base's `init.sh`.
    Shell,
    /// systemd (dracut's `systemd` module).
    Systemd,
    /// Something else another module installed; exec'd all the same.
    Other,
}

impl InitKind {
    fn name(self) -> &'static str {
        match self {
            InitKind::Shell => "shell",
            InitKind::Systemd => "systemd",
            InitKind::Other => "other",
        }
    }
}

/// What the image holds that the decision needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageFacts {
    /// dracut's init, when the image has a usable one.
    pub dracut_init: Option<InitKind>,
    /// Why the recorded init cannot be used (missing, not executable), for the message.
    pub problem: Option<String>,
    /// `rdbreak_mode="handoff"` in the dracut config the image was made with.
    pub handoff_mode: bool,
    /// dracut's multipath module with a configuration: stock dracut starts multipathd.
    pub multipath: bool,
    /// The image's `/etc/crypttab` (a detached header there is dracut's to open).
    pub crypttab: Option<String>,
    /// The token types systemd's libcryptsetup token plugins in the image unlock
    /// (`usr/lib*/cryptsetup/libcryptsetup-token-systemd-tpm2.so` is `systemd-tpm2`).
    pub token_plugins: Vec<String>,
    /// Clevis in the image: its programs, or the files dracut's clevis module installs.
    pub clevis: Option<String>,
}

/// Directory entries looked at, at most, in one directory of the image.
const DIR_MAX: usize = 4096;

/// The names in a directory of the image (none when it is not there), at most [`DIR_MAX`].
fn names(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.take(DIR_MAX).filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
}

/// The token types of the libcryptsetup plugins under `usr/lib*/cryptsetup` and Debian's
/// `usr/lib/TRIPLET/cryptsetup`, sorted.
fn token_plugins(root: &Path) -> Vec<String> {
    let mut dirs = Vec::new();
    for lib in names(&root.join("usr")).into_iter().filter(|n| n.starts_with("lib")) {
        let lib = root.join("usr").join(lib);
        dirs.push(lib.join("cryptsetup"));
        dirs.extend(names(&lib).into_iter().filter(|n| n.contains("-linux-")).map(|t| lib.join(t).join("cryptsetup")));
    }
    let mut kinds: Vec<String> = dirs
        .iter()
        .flat_map(|d| names(d))
        .filter_map(|n| Some(n.strip_prefix("libcryptsetup-token-")?.split(".so").next()?.to_string()))
        .filter(|k| !k.is_empty())
        .collect();
    crate::sort::sort_by_key(&mut kinds, |k| k.clone());
    kinds.dedup();
    kinds
}

/// Where Clevis shows in an image: its programs (`clevis`, `clevis-luks-askpass`, …), dracut's
/// clevis module's unit or hooks. The first path found.
fn clevis(root: &Path) -> Option<String> {
    for dir in ["usr/bin", "bin", "usr/libexec", "usr/sbin"] {
        if let Some(n) = names(&root.join(dir)).into_iter().find(|n| n.starts_with("clevis")) {
            return Some(format!("/{dir}/{n}"));
        }
    }
    [
        "usr/lib/systemd/system/clevis-luks-askpass.path",
        "lib/dracut/hooks/initqueue/settled/60-clevis-hook.sh",
        "usr/lib/dracut/hooks/initqueue/settled/60-clevis-hook.sh",
    ]
    .iter()
    .find(|p| root.join(p).exists())
    .map(|p| format!("/{p}"))
}

/// At most this much of a record is read: they are one word.
const RECORD_MAX: u64 = 256;

fn read_record(path: &Path) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path).ok()?.take(RECORD_MAX).read_to_string(&mut text).ok()?;
    Some(text.trim().to_string())
}

impl ImageFacts {
    /// Reads the facts of the image unpacked at `root` (`/` at boot).
    pub fn read(root: &Path) -> ImageFacts {
        ImageFacts {
            handoff_mode: read_record(&root.join(MODE)).as_deref() == Some("handoff"),
            multipath: root.join("etc/multipath.conf").exists()
                && ["usr/sbin/multipathd", "sbin/multipathd"].iter().any(|p| root.join(p).exists()),
            crypttab: luks_rules::read_crypttab(&root.join("etc/crypttab")),
            token_plugins: token_plugins(root),
            clevis: clevis(root),
            ..ImageFacts::init_only(root)
        }
    }

    /// Only which dracut init the image has: all [`decide`] looks at under `rd.rdbreak=0`.
    pub fn init_only(root: &Path) -> ImageFacts {
        let mut facts = ImageFacts::default();
        let Some(kind) = read_record(&root.join(RECORD)) else { return facts };
        let kind = match kind.as_str() {
            "shell" => InitKind::Shell,
            "systemd" => InitKind::Systemd,
            _ => InitKind::Other,
        };
        let init = root.join(DRACUT_INIT.trim_start_matches('/'));
        // metadata() follows systemd's symlink to the binary it names.
        match std::fs::metadata(&init) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => facts.dracut_init = Some(kind),
            Ok(_) => {
                facts.problem = Some(format!("dracut's {} init {DRACUT_INIT} is not an executable file", kind.name()))
            }
            Err(e) => {
                let target = std::fs::read_link(&init).map(|t| format!(" (-> {})", t.display())).unwrap_or_default();
                facts.problem =
                    Some(format!("dracut's {} init {DRACUT_INIT}{target} cannot be used: {e}", kind.name()));
            }
        }
        facts
    }
}

/// Why dracut's init should boot the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `rd.rdbreak=0`.
    Asked,
    /// `rdbreak_mode="handoff"` and no break asked for.
    Mode,
    /// The command line (or the image) asks for what rdbreak does not do.
    Unsupported { key: String, what: &'static str },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Asked => write!(f, "rd.rdbreak=0 is on the command line"),
            Reason::Mode => write!(
                f,
                "rdbreak_mode=\"handoff\" in the dracut config, and neither rd.break nor rd.rdbreak=1 on the command line"
            ),
            Reason::Unsupported { key, what } => write!(f, "{key} asks for {what}, which rdbreak does not do"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// rdbreak boots. `ignored`: what `rd.rdbreak=1` made it go on without.
    TakeOver {
        ignored: Option<Reason>,
    },
    HandOff {
        reason: Reason,
        init: InitKind,
    },
    /// A reason to hand off, and no dracut init to hand off to: `why_not` says so.
    CannotHandOff {
        reason: Reason,
        why_not: String,
    },
}

/// The `root=` forms dracut's modules mount and rdbreak does not, by prefix.
const ROOT_FORMS: &[(&str, &str)] = &[
    ("nfs:", "an NFS root (dracut's nfs module)"),
    ("nfs4:", "an NFS root (dracut's nfs module)"),
    ("cifs:", "a CIFS root (dracut's cifs module)"),
    ("iscsi:", "an iSCSI root (dracut's iscsi module)"),
    ("nbd:", "an NBD root (dracut's nbd module)"),
    ("live:", "a live image (dracut's dmsquash-live and livenet modules)"),
    ("zfs:", "a ZFS root (OpenZFS's zfs dracut module)"),
    ("ZFS=", "a ZFS root (OpenZFS's zfs dracut module)"),
    ("virtiofs:", "a virtiofs root (dracut's virtiofs module)"),
    ("virtfs:", "a 9p root (dracut's virtfs module)"),
];

/// Filesystems that are no block device's: `rootfstype=` asks dracut's network or virtual roots.
const NON_BLOCK_TYPES: &[&str] = &["nfs", "nfs4", "cifs", "smb3", "virtiofs", "9p", "zfs"];

/// How a key asks for a feature (dracut's `getarg`/`getargbool` readings).
#[derive(Clone, Copy)]
enum Ask {
    /// Present, with any value or none.
    Given,
    /// `getargbool 0 KEY`: present and not 0/no/off.
    On,
    /// Given with a value other than `0` (dracut's fips module reads `fips` so).
    NotZero,
    /// This exact value (`getarg KEY=VALUE`).
    Is(&'static str),
}

/// Keys that ask for what rdbreak does not do, in the order they are reported. Each names the
/// dracut module that does it. Deliberately absent: plymouth (`splash`, `rhgb`, `rd.plymouth`:
/// a splash is cosmetic and on most desktop command lines), `BOOTIF=`/`bootdev=`/`nameserver=`
/// (dracut reads them only along with `ip=`), LVM/MD/LUKS/`resume=` (rdbreak's own; a detached
/// LUKS header is not, see [`unsupported`]), and the s390 keys (rdbreak is built for x86_64).
const KEYS: &[(&str, Ask, &str)] = &[
    ("netroot", Ask::Given, "a network root (dracut's network modules)"),
    ("ip", Ask::Given, "network configuration (dracut's network module)"),
    ("rd.neednet", Ask::On, "the network in the initramfs (dracut's network module)"),
    ("ifname", Ask::Given, "network interfaces named in the initramfs (dracut's network module)"),
    ("bond", Ask::Given, "a network bond (dracut's network module)"),
    ("bridge", Ask::Given, "a network bridge (dracut's network module)"),
    ("vlan", Ask::Given, "a VLAN (dracut's network module)"),
    ("team", Ask::Given, "a network team (dracut's network module)"),
    ("rd.iscsi.firmware", Ask::On, "iSCSI from the firmware (dracut's iscsi module)"),
    ("rd.iscsi.ibft", Ask::On, "iSCSI from the iBFT (dracut's iscsi module)"),
    ("fcoe", Ask::Given, "FCoE (dracut's fcoe module)"),
    ("rd.nvmf.discover", Ask::Given, "NVMe over Fabrics (dracut's nvmf module)"),
    ("rd.live.image", Ask::On, "a live image (dracut's dmsquash-live module)"),
    ("rootovl", Ask::On, "an overlay over the root (dracut's overlay-root module)"),
    ("rd.multipath", Ask::Is("default"), "multipath (dracut's multipath module)"),
    ("fips", Ask::NotZero, "FIPS mode (dracut's fips module checks the kernel's HMAC first)"),
    ("ignition.firstboot", Ask::Given, "Ignition's first boot (the ignition dracut module)"),
    ("rd.cmdline", Ask::Is("ask"), "a prompt for more command line (dracut's base module)"),
    ("rd.systemd.unit", Ask::Given, "a unit of the initramfs's systemd (dracut's systemd module)"),
];

fn shown(key: &str, value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{key}={v}"),
        None => key.to_string(),
    }
}

/// The first thing the command line (or the image) asks for that rdbreak does not do.
pub fn unsupported(c: &Cmdline, facts: &ImageFacts) -> Option<Reason> {
    if let Some(root) = c.get("root").filter(|r| !r.is_empty()) {
        let key = format!("root={root}");
        let form = ROOT_FORMS.iter().find(|(p, _)| root.starts_with(p)).map(|(_, w)| *w);
        let what = form.or(match root {
            "/dev/nfs" => Some("an NFS root (dracut's nfs module)"),
            "dhcp" | "dhcp6" => Some("a root named by DHCP (dracut's network module)"),
            // Every other form rdbreak cannot read; an empty one is rdbreak's own error.
            _ => RootSpec::parse(root).is_err().then_some("a root= form rdbreak does not handle"),
        });
        if let Some(what) = what {
            return Some(Reason::Unsupported { key, what });
        }
    }
    if let Some(t) = c.get("rootfstype").filter(|t| NON_BLOCK_TYPES.contains(t)) {
        return Some(Reason::Unsupported { key: format!("rootfstype={t}"), what: "a root on no block device" });
    }
    for &(key, ask, what) in KEYS {
        let Some(value) = c.last(key) else { continue };
        let hit = match ask {
            Ask::Given => true,
            Ask::On => c.flag(key, false),
            Ask::NotZero => value != Some("0"),
            Ask::Is(v) => c.any_is(key, v),
        };
        if hit {
            let value = match ask {
                Ask::Is(v) => Some(v),
                _ => value,
            };
            return Some(Reason::Unsupported { key: shown(key, value), what });
        }
    }
    // dracut's multipathd.sh: on unless rd.multipath=0 (or the old rd_NO_MULTIPATH).
    if facts.multipath && c.flag("rd.multipath", true) && c.last("rd_NO_MULTIPATH").is_none() {
        return Some(Reason::Unsupported {
            key: "/etc/multipath.conf in this image".into(),
            what: "multipath (dracut's multipath module)",
        });
    }
    if let Some(key) = luks_rules::detached_header(c, facts.crypttab.as_deref()) {
        return Some(Reason::Unsupported { key, what: "a detached LUKS header (dracut's crypt module)" });
    }
    token_unlock(c, facts)
}

/// What the image unlocks with no passphrase and rdbreak does not: a token the rules ask
/// systemd-cryptsetup for (`tpm2-device=`, `fido2-device=`, `pkcs11-uri=`) when the image has
/// systemd's token plugin for it, or Clevis (its binding is in the header, not the crypttab: any
/// LUKS container the rules want may be bound).
fn token_unlock(c: &Cmdline, facts: &ImageFacts) -> Option<Reason> {
    // Break-glass: dracut's init would unlock with no one typing and then open the shell the
    // line asks for; rdbreak boots instead and asks for the passphrase.
    let refused = luks_rules::break_glass::auto_unlock_for(c).is_err();
    let allowed = |kind: &str| !(refused && luks_rules::break_glass::unattended(kind));
    let asked = luks_rules::token_unlock(c, facts.crypttab.as_deref());
    let stock = |kind: &str| facts.token_plugins.iter().any(|p| p == kind) && allowed(kind);
    if let Some((key, kind)) = asked.into_iter().find(|(_, kind)| stock(kind)) {
        let what = match kind {
            "systemd-tpm2" => "unlocking with the TPM2 (systemd-cryptsetup and its systemd-tpm2 token plugin)",
            "systemd-fido2" => "unlocking with a FIDO2 key (systemd-cryptsetup and its systemd-fido2 token plugin)",
            _ => "unlocking with a PKCS#11 token (systemd-cryptsetup and its systemd-pkcs11 token plugin)",
        };
        return Some(Reason::Unsupported { key, what });
    }
    let clevis = facts.clevis.as_ref().filter(|_| allowed("clevis"))?;
    luks_rules::luks_wanted(c, facts.crypttab.as_deref()).then(|| Reason::Unsupported {
        key: format!("{clevis} in this image"),
        what: "unlocking LUKS containers with Clevis (dracut's clevis module)",
    })
}

/// `rd.rdbreak=0`: dracut's init boots, whatever else the line or the image says.
fn asked_off(c: &Cmdline) -> bool {
    c.last("rd.rdbreak").is_some() && !c.flag("rd.rdbreak", true)
}

/// Whether the command line asks for a break, in any spelling rdbreak honours.
fn break_asked(c: &Cmdline) -> bool {
    c.last("rd.break").is_some() || c.last("break").is_some()
}

/// The decision, in order: `rd.rdbreak=0` hands off, `rd.rdbreak=1` takes over, then what
/// rdbreak does not do hands off (a break included: dracut then breaks itself), then
/// `rdbreak_mode="handoff"` hands off unless a break is asked for.
pub fn decide(c: &Cmdline, facts: &ImageFacts) -> Decision {
    let forced = c.last("rd.rdbreak").map(|_| !asked_off(c));
    let reason = match forced {
        Some(false) => Reason::Asked,
        Some(true) => return Decision::TakeOver { ignored: unsupported(c, facts) },
        None => match unsupported(c, facts) {
            Some(r) => r,
            None if facts.handoff_mode && !break_asked(c) => Reason::Mode,
            None => return Decision::TakeOver { ignored: None },
        },
    };
    match facts.dracut_init {
        Some(init) => Decision::HandOff { reason, init },
        None => Decision::CannotHandOff {
            reason,
            why_not: facts.problem.clone().unwrap_or_else(|| {
                "this image has no dracut init to hand off to (images made by rdbreak build have none)".into()
            }),
        },
    }
}

/// The one line rdbreak logs as it hands off.
pub fn handoff_line(reason: &Reason, init: InitKind, c: &Cmdline) -> String {
    let mut line = format!("handing the boot to dracut's init ({DRACUT_INIT}, {}): {reason}", init.name());
    if c.last("rd.break").is_some() {
        line += "; dracut's own rd.break handling takes over (its shell, its prompt)";
    } else if c.last("break").is_some() {
        line += "; break= is not dracut's spelling: dracut stops only for rd.break";
    }
    line
}

/// The words for the shell when there is no dracut init to hand off to.
pub fn cannot_message(reason: &Reason, why_not: &str) -> String {
    let what = match reason {
        Reason::Asked => "rd.rdbreak=0 asks for dracut's init".to_string(),
        Reason::Mode => "rdbreak_mode=\"handoff\" asks for dracut's init".to_string(),
        r @ Reason::Unsupported { .. } => r.to_string(),
    };
    let fix = match reason {
        Reason::Unsupported { key, .. } => format!(" so that dracut's init does it, or boot without {key}"),
        _ => String::new(),
    };
    format!(
        "{what}, but {why_not}.\nRebuild the image with dracut -a rdbreak{fix}. 'exit' lets rdbreak boot as best it can."
    )
}

/// A NUL-separated list the kernel keeps for a process (`/proc/self/cmdline`, `environ`), at
/// most `cap` bytes (the kernel gives init a few hundred).
fn nul_list(path: &str, cap: u64) -> Option<Vec<OsString>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path).ok()?.take(cap).read_to_end(&mut bytes).ok()?;
    let list: Vec<OsString> =
        bytes.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| OsString::from_vec(s.to_vec())).collect();
    (!list.is_empty()).then_some(list)
}

/// rdbreak's API mounts that are mounted now, innermost first. init.sh and systemd both accept
/// them mounted, but keep them with rdbreak's flags — noexec on /dev and /dev/shm where systemd
/// has none, /run exec-able where init.sh mounts it noexec, no size limits where systemd sets
/// them — and the real system inherits them. Unmounted, each init mounts its own, as in a stock
/// boot; what rdbreak made inside devtmpfs (/dev/fd, /dev/pts, …) both make too.
pub fn unmount_plan(table: &[MountInfo]) -> Vec<&'static str> {
    mounts::EARLY.iter().rev().map(|m| m.target).filter(|t| table.iter().any(|x| x.target == *t)).collect()
}

/// Reads the command line and the image, and hands off when the decision says so (never
/// returning then). Returns what the shell must say when there is nothing to hand off to, or
/// when the exec failed; None when rdbreak boots.
pub fn run(c: &Cmdline, started: std::time::Instant) -> Option<String> {
    // Re-run after a crash (rescue.rs: `/init --rescue …`), the boot is half done: rdbreak's.
    if std::env::args_os().nth(1).is_some_and(|a| a == "--rescue") {
        return None;
    }
    let before = started.elapsed();
    let facts = if asked_off(c) { ImageFacts::init_only(Path::new("/")) } else { ImageFacts::read(Path::new("/")) };
    let read = started.elapsed() - before;
    let (reason, init) = match decide(c, &facts) {
        Decision::TakeOver { ignored: None } => return None,
        Decision::TakeOver { ignored: Some(r) } => {
            log::warn!("rd.rdbreak=1: rdbreak boots, although {r}");
            return None;
        }
        Decision::CannotHandOff { reason, why_not } => return Some(cannot_message(&reason, &why_not)),
        Decision::HandOff { reason, init } => (reason, init),
    };
    // How long rdbreak ran: the kernel's stamp of this line, less this, is when its first
    // instruction ran; the rest of the hand-off is the exec below (the hand-off's profile).
    let ms = crate::format::Ms;
    log::warn!(
        "{} (rdbreak ran {} ms: {} starting, {} reading the image)",
        handoff_line(&reason, init, c),
        ms(started.elapsed()),
        ms(before),
        ms(read)
    );
    // What the kernel gave PID 1, as it gave it: /proc keeps the original argv and environment
    // (rdbreak has set PATH since). Without /proc, what this process still has.
    const CAP: u64 = 1 << 20;
    let argv = nul_list("/proc/self/cmdline", CAP).unwrap_or_else(|| std::env::args_os().collect());
    let env = nul_list("/proc/self/environ", CAP).unwrap_or_else(|| {
        std::env::vars_os()
            .filter(|(k, _)| k != "PATH")
            .map(|(mut k, v)| {
                k.push("=");
                k.push(v);
                k
            })
            .collect()
    });
    kmsg::LOGGER.close();
    for target in unmount_plan(&mounts::mount_table()) {
        // Lazily: nothing of rdbreak's is open there, but nothing may keep the exec from running.
        let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
    }
    let err = sys::exec_os(DRACUT_INIT, &argv, &env);
    // The failed exec reset the signal mask: PID 1 blocks job control signals again, and gets
    // its mounts and log back.
    sys::block_job_control_signals();
    let mount_errors = mounts::mount_early();
    kmsg::LOGGER.open(true, false);
    for e in mount_errors {
        log::error!("{e}");
    }
    Some(format!("Cannot start dracut's init {DRACUT_INIT}: {err}. 'exit' lets rdbreak boot instead."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_init(kind: InitKind) -> ImageFacts {
        ImageFacts { dracut_init: Some(kind), ..Default::default() }
    }

    fn decision(cmdline: &str) -> Decision {
        decide(&Cmdline::parse(cmdline), &with_init(InitKind::Systemd))
    }

    fn reason_key(cmdline: &str) -> Option<String> {
        match unsupported(&Cmdline::parse(cmdline), &ImageFacts::default())? {
            Reason::Unsupported { key, .. } => Some(key),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn block_roots_and_rdbreaks_own_keys_stay_with_rdbreak() {
        for c in [
            "root=UUID=0b4e ro",
            "root=LABEL=x rd.break",
            "root=/dev/vda1 rd.retry=5 rd.driver.pre=ext4 quiet splash rhgb",
            "root=PARTUUID=a rd.lvm.lv=vg/root rd.luks.uuid=u resume=/dev/vda2",
            "root=/dev/mapper/vg-root BOOTIF=01-52-54-00-12-34-56 fips=0 rd.neednet=0 rd.multipath=0",
            "",
            "root=",
        ] {
            assert_eq!(decision(c), Decision::TakeOver { ignored: None }, "{c}");
        }
    }

    #[test]
    fn what_rdbreak_does_not_do_hands_off_with_its_reason() {
        let cases = [
            ("root=nfs:server:/export", "root=nfs:server:/export", "an NFS root"),
            ("root=nfs4:srv:/x", "root=nfs4:srv:/x", "an NFS root"),
            ("root=/dev/nfs nfsroot=srv:/x", "root=/dev/nfs", "an NFS root"),
            ("root=dhcp", "root=dhcp", "DHCP"),
            ("root=block:LABEL=x root=cifs://s/x", "root=cifs://s/x", "CIFS"),
            ("root=iscsi:1.2.3.4::::iqn.x", "root=iscsi:1.2.3.4::::iqn.x", "iSCSI"),
            ("root=nbd:srv:1234", "root=nbd:srv:1234", "NBD"),
            ("root=live:CDLABEL=Fedora rd.live.image", "root=live:CDLABEL=Fedora", "live image"),
            ("root=ZFS=rpool/ROOT", "root=ZFS=rpool/ROOT", "ZFS"),
            ("root=zfs:AUTO", "root=zfs:AUTO", "ZFS"),
            ("root=virtiofs:myfs", "root=virtiofs:myfs", "virtiofs"),
            ("root=gpt-auto", "root=gpt-auto", "root= form rdbreak does not handle"),
            ("root=CDLABEL=x", "root=CDLABEL=x", "root= form rdbreak does not handle"),
            ("root=myfs rootfstype=virtiofs", "root=myfs", "root= form"),
            ("root=/dev/vda1 rootfstype=nfs", "rootfstype=nfs", "no block device"),
            ("root=UUID=u netroot=iscsi:1.2.3.4::::iqn.x", "netroot=iscsi:1.2.3.4::::iqn.x", "network root"),
            ("root=UUID=u ip=dhcp", "ip=dhcp", "network configuration"),
            ("root=UUID=u rd.neednet", "rd.neednet", "network"),
            ("root=UUID=u rd.neednet=1", "rd.neednet=1", "network"),
            ("root=UUID=u bond=bond0:eth0,eth1", "bond=bond0:eth0,eth1", "bond"),
            ("root=UUID=u rd.iscsi.firmware", "rd.iscsi.firmware", "iSCSI"),
            ("root=UUID=u rd.live.image", "rd.live.image", "live image"),
            ("root=UUID=u rd.multipath=default", "rd.multipath=default", "multipath"),
            ("root=UUID=u fips=1", "fips=1", "FIPS"),
            ("root=UUID=u ignition.firstboot ignition.platform.id=qemu", "ignition.firstboot", "Ignition"),
            ("root=UUID=u rd.cmdline=ask", "rd.cmdline=ask", "prompt"),
        ];
        for (c, key, what) in cases {
            match decision(c) {
                Decision::HandOff { reason: Reason::Unsupported { key: k, what: w }, init: InitKind::Systemd } => {
                    assert_eq!(k, key, "{c}");
                    assert!(w.contains(what), "{c}: {w}");
                }
                other => panic!("{c}: {other:?}"),
            }
        }
    }

    #[test]
    fn dracut_readings_of_values() {
        // Last value wins, as getarg reads it.
        assert_eq!(reason_key("root=nfs:a:/b root=UUID=u"), None);
        assert_eq!(reason_key("root=UUID=u fips"), Some("fips".into()), "a bare fips is not 0 for dracut");
        assert_eq!(reason_key("root=UUID=u rd.neednet=1 rd.neednet=0"), None);
        assert_eq!(reason_key("root=UUID=u rd.iscsi.firmware=off"), None);
        assert_eq!(reason_key("root=UUID=u rd.multipath=0 rd.multipath=default"), Some("rd.multipath=default".into()));
    }

    #[test]
    fn multipath_follows_the_image_and_rd_multipath() {
        let facts = ImageFacts { dracut_init: Some(InitKind::Shell), multipath: true, ..Default::default() };
        let d = decide(&Cmdline::parse("root=UUID=u"), &facts);
        assert!(
            matches!(&d, Decision::HandOff { reason: Reason::Unsupported { what, .. }, .. } if what.contains("multipath")),
            "{d:?}"
        );
        for c in ["root=UUID=u rd.multipath=0", "root=UUID=u rd_NO_MULTIPATH"] {
            assert_eq!(decide(&Cmdline::parse(c), &facts), Decision::TakeOver { ignored: None }, "{c}");
        }
    }

    #[test]
    fn a_detached_luks_header_in_the_crypttab_is_dracuts() {
        let tab = "root_crypt /dev/sda2 none header=/etc/keys/sda2.hdr\n".to_string();
        let facts = ImageFacts { dracut_init: Some(InitKind::Shell), crypttab: Some(tab), ..Default::default() };
        let d = decide(&Cmdline::parse("root=/dev/mapper/root_crypt"), &facts);
        let Decision::HandOff { reason: r @ Reason::Unsupported { .. }, .. } = &d else { panic!("{d:?}") };
        assert_eq!(
            r.to_string(),
            "/etc/crypttab's root_crypt line (header=/etc/keys/sda2.hdr) asks for a detached LUKS header (dracut's crypt module), which rdbreak does not do"
        );
        let off = decide(&Cmdline::parse("root=/dev/mapper/root_crypt rd.luks=0"), &facts);
        assert_eq!(off, Decision::TakeOver { ignored: None }, "LUKS off: nothing for dracut to open either");
        let plain = ImageFacts { crypttab: Some("root_crypt /dev/sda2 none luks\n".into()), ..facts };
        assert_eq!(
            decide(&Cmdline::parse("root=/dev/mapper/root_crypt"), &plain),
            Decision::TakeOver { ignored: None }
        );
    }

    #[test]
    fn token_unlocks_go_to_dracut_when_the_image_has_what_stock_uses() {
        let tab = "root /dev/vda2 none tpm2-device=auto,discard\n".to_string();
        let with = ImageFacts {
            dracut_init: Some(InitKind::Systemd),
            crypttab: Some(tab.clone()),
            token_plugins: vec!["systemd-fido2".into(), "systemd-tpm2".into()],
            ..Default::default()
        };
        let d = decide(&Cmdline::parse("root=/dev/mapper/root"), &with);
        let Decision::HandOff { reason, init: InitKind::Systemd } = &d else { panic!("{d:?}") };
        assert_eq!(
            handoff_line(reason, InitKind::Systemd, &Cmdline::parse("root=/dev/mapper/root")),
            "handing the boot to dracut's init (/init.dracut, systemd): /etc/crypttab's root line (tpm2-device=auto,discard) asks for unlocking with the TPM2 (systemd-cryptsetup and its systemd-tpm2 token plugin), which rdbreak does not do"
        );
        // rd.rdbreak=1 boots with rdbreak (which asks for the passphrase) and says what it skips.
        let d = decide(&Cmdline::parse("root=/dev/mapper/root rd.rdbreak=1"), &with);
        assert!(matches!(&d, Decision::TakeOver { ignored: Some(Reason::Unsupported { .. }) }), "{d:?}");
        // The image does not carry the plugin: rdbreak boots and asks (the header says why).
        let without = ImageFacts { token_plugins: vec!["systemd-fido2".into()], ..with.clone() };
        assert_eq!(decide(&Cmdline::parse("root=/dev/mapper/root"), &without), Decision::TakeOver { ignored: None });
        // The command line asks too; LUKS off asks nothing.
        let line = "root=/dev/mapper/r rd.luks.uuid=ab12 rd.luks.options=fido2-device=auto";
        let plain = ImageFacts { crypttab: None, ..with.clone() };
        let Decision::HandOff { reason: Reason::Unsupported { key, what }, .. } = decide(&Cmdline::parse(line), &plain)
        else {
            panic!()
        };
        assert_eq!((key.as_str(), what.contains("FIDO2")), ("rd.luks.options=fido2-device=auto", true));
        assert_eq!(
            decide(&Cmdline::parse("root=/dev/mapper/root rd.luks=0"), &with),
            Decision::TakeOver { ignored: None }
        );
        // Clevis binds in the header: any wanted container may be bound.
        let clevis = ImageFacts {
            clevis: Some("/usr/bin/clevis-luks-askpass".into()),
            crypttab: Some("root /dev/vda2 none luks\n".into()),
            ..with.clone()
        };
        let Decision::HandOff { reason, .. } = decide(&Cmdline::parse("root=/dev/mapper/root"), &clevis) else {
            panic!()
        };
        assert_eq!(
            reason.to_string(),
            "/usr/bin/clevis-luks-askpass in this image asks for unlocking LUKS containers with Clevis (dracut's clevis module), which rdbreak does not do"
        );
        let no_luks = ImageFacts { crypttab: None, ..clevis };
        assert_eq!(decide(&Cmdline::parse("root=/dev/vda2"), &no_luks), Decision::TakeOver { ignored: None });
    }

    #[test]
    fn a_shell_on_purpose_keeps_unattended_unlocks_from_dracut() {
        let facts = ImageFacts {
            dracut_init: Some(InitKind::Systemd),
            crypttab: Some("root /dev/vda2 none tpm2-device=auto\nhome /dev/vdb none fido2-device=auto\n".into()),
            token_plugins: vec!["systemd-fido2".into(), "systemd-tpm2".into()],
            ..Default::default()
        };
        let key = |line: &str| match decide(&Cmdline::parse(line), &facts) {
            Decision::HandOff { reason: Reason::Unsupported { key, .. }, .. } => Some(key),
            _ => None,
        };
        assert_eq!(key("root=/dev/mapper/root").as_deref(), Some("/etc/crypttab's root line (tpm2-device=auto)"));
        // The TPM would unseal with no one there: not with a shell asked for, nor with
        // rd.rdbreak.tpm=0. A FIDO2 key needs a human: that still goes to dracut.
        for line in [
            "root=/dev/mapper/root rd.break",
            "root=/dev/mapper/root rd.shell",
            "root=/dev/mapper/root rd.rdbreak.tpm=0",
        ] {
            assert_eq!(key(line).as_deref(), Some("/etc/crypttab's home line (fido2-device=auto)"), "{line}");
        }
        let tpm_only = ImageFacts { crypttab: Some("root /dev/vda2 none tpm2-device=auto\n".into()), ..facts.clone() };
        let d = decide(&Cmdline::parse("root=/dev/mapper/root rd.break=pre-mount"), &tpm_only);
        assert_eq!(d, Decision::TakeOver { ignored: None });
        let clevis = ImageFacts { clevis: Some("/usr/bin/clevis".into()), ..tpm_only };
        assert_eq!(
            decide(&Cmdline::parse("root=/dev/mapper/root rd.break"), &clevis),
            Decision::TakeOver { ignored: None }
        );
        assert!(matches!(decide(&Cmdline::parse("root=/dev/mapper/root"), &clevis), Decision::HandOff { .. }));
    }

    #[test]
    fn token_plugins_and_clevis_are_found_in_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!((ImageFacts::read(root).token_plugins.len(), ImageFacts::read(root).clevis), (0, None));
        for p in [
            "usr/lib64/cryptsetup/libcryptsetup-token-systemd-tpm2.so",
            "usr/lib/x86_64-linux-gnu/cryptsetup/libcryptsetup-token-systemd-fido2.so",
            "usr/lib/cryptsetup/libcryptsetup-token-systemd-tpm2.so.1",
            "usr/lib/cryptsetup/README",
            "usr/lib/systemd/system/clevis-luks-askpass.path",
        ] {
            std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
            std::fs::write(root.join(p), "").unwrap();
        }
        let f = ImageFacts::read(root);
        assert_eq!(f.token_plugins, ["systemd-fido2", "systemd-tpm2"]);
        assert_eq!(f.clevis.as_deref(), Some("/usr/lib/systemd/system/clevis-luks-askpass.path"));
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/clevis-decrypt-tpm2"), "").unwrap();
        assert_eq!(ImageFacts::read(root).clevis.as_deref(), Some("/usr/bin/clevis-decrypt-tpm2"));
    }

    #[test]
    fn rd_rdbreak_is_the_users_switch() {
        assert_eq!(
            decision("root=UUID=u rd.rdbreak=0"),
            Decision::HandOff { reason: Reason::Asked, init: InitKind::Systemd }
        );
        assert_eq!(
            decision("root=UUID=u rd.rdbreak=off rd.break"),
            Decision::HandOff { reason: Reason::Asked, init: InitKind::Systemd }
        );
        // rd.rdbreak=1 boots with rdbreak whatever else the line says, and says what it ignores.
        let d = decision("root=UUID=u ip=dhcp rd.rdbreak=0 rd.rdbreak=1");
        assert!(
            matches!(&d, Decision::TakeOver { ignored: Some(Reason::Unsupported { key, .. }) } if key == "ip=dhcp"),
            "{d:?}"
        );
        assert_eq!(decision("root=UUID=u rd.rdbreak"), Decision::TakeOver { ignored: None }, "bare is 1");
    }

    #[test]
    fn a_break_with_a_reason_is_dracuts_break() {
        let c = Cmdline::parse("root=nfs:srv:/x rd.break=pre-mount");
        let Decision::HandOff { reason, init } = decide(&c, &with_init(InitKind::Shell)) else { panic!() };
        let line = handoff_line(&reason, init, &c);
        assert!(
            line.starts_with(
                "handing the boot to dracut's init (/init.dracut, shell): root=nfs:srv:/x asks for an NFS root"
            ),
            "{line}"
        );
        assert!(line.ends_with("dracut's own rd.break handling takes over (its shell, its prompt)"), "{line}");
        let c = Cmdline::parse("root=UUID=u rd.rdbreak=0 break=premount");
        assert!(handoff_line(&Reason::Asked, InitKind::Systemd, &c).contains("break= is not dracut's spelling"));
    }

    #[test]
    fn handoff_mode_keeps_rdbreak_for_breaks_only() {
        let facts = ImageFacts { dracut_init: Some(InitKind::Systemd), handoff_mode: true, ..Default::default() };
        let d = |c: &str| decide(&Cmdline::parse(c), &facts);
        assert_eq!(d("root=UUID=u"), Decision::HandOff { reason: Reason::Mode, init: InitKind::Systemd });
        for c in
            ["root=UUID=u rd.break", "root=UUID=u rd.break=pre-mount", "root=UUID=u break", "root=UUID=u rd.rdbreak=1"]
        {
            assert_eq!(d(c), Decision::TakeOver { ignored: None }, "{c}");
        }
        // What rdbreak cannot do still goes to dracut, break or not.
        assert!(matches!(d("root=nfs:s:/x rd.break"), Decision::HandOff { reason: Reason::Unsupported { .. }, .. }));
    }

    #[test]
    fn without_a_dracut_init_the_shell_says_why() {
        let none = ImageFacts::default();
        let Decision::CannotHandOff { reason, why_not } = decide(&Cmdline::parse("root=UUID=u rd.rdbreak=0"), &none)
        else {
            panic!()
        };
        let msg = cannot_message(&reason, &why_not);
        assert!(msg.starts_with("rd.rdbreak=0 asks for dracut's init, but this image has no dracut init to hand off to (images made by rdbreak build have none)."), "{msg}");
        assert!(msg.contains("Rebuild the image with dracut -a rdbreak."), "{msg}");
        let Decision::CannotHandOff { reason, why_not } = decide(&Cmdline::parse("root=nfs:s:/x"), &none) else {
            panic!()
        };
        let msg = cannot_message(&reason, &why_not);
        assert!(
            msg.starts_with(
                "root=nfs:s:/x asks for an NFS root (dracut's nfs module), which rdbreak does not do, but this image"
            ),
            "{msg}"
        );
        assert!(msg.contains("so that dracut's init does it, or boot without root=nfs:s:/x"), "{msg}");
        // A plain boot on such an image is rdbreak's, quietly.
        assert_eq!(decide(&Cmdline::parse("root=UUID=u"), &none), Decision::TakeOver { ignored: None });
    }

    #[test]
    fn image_facts_from_what_the_module_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(ImageFacts::read(root), ImageFacts::default(), "an image made by rdbreak build");
        std::fs::create_dir_all(root.join("etc/rdbreak")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
        std::fs::write(root.join(RECORD), "systemd\n").unwrap();
        std::os::unix::fs::symlink("usr/lib/systemd/systemd", root.join("init.dracut")).unwrap();
        let f = ImageFacts::read(root);
        assert_eq!(f.dracut_init, None);
        assert!(
            f.problem.as_deref().unwrap().contains("init.dracut (-> usr/lib/systemd/systemd) cannot be used"),
            "{f:?}"
        );
        std::fs::write(root.join("usr/lib/systemd/systemd"), "\x7fELF").unwrap();
        assert!(ImageFacts::read(root).problem.unwrap().contains("not an executable file"));
        std::fs::set_permissions(root.join("usr/lib/systemd/systemd"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(root.join(MODE), "handoff\n").unwrap();
        std::fs::write(root.join("etc/multipath.conf"), "").unwrap();
        let f = ImageFacts::read(root);
        assert_eq!((f.dracut_init, f.handoff_mode, f.multipath), (Some(InitKind::Systemd), true, false));
        std::fs::write(root.join(RECORD), "shell").unwrap();
        std::fs::write(root.join(MODE), "takeover").unwrap();
        assert!(!ImageFacts::read(root).handoff_mode);
        // A huge record is read only so far, and names no known init.
        std::fs::write(root.join(RECORD), "x".repeat(1 << 20)).unwrap();
        assert_eq!(ImageFacts::read(root).dracut_init, Some(InitKind::Other));
        // The crypttab as it is, up to its cap.
        std::fs::write(root.join("etc/crypttab"), "r /dev/sda2 none header=/h\n").unwrap();
        assert_eq!(ImageFacts::read(root).crypttab.as_deref(), Some("r /dev/sda2 none header=/h\n"));
        std::fs::write(root.join("etc/crypttab"), "#".repeat(1 << 20)).unwrap();
        assert_eq!(ImageFacts::read(root).crypttab.map(|t| t.len() as u64), Some(luks_rules::CRYPTTAB_MAX));
    }

    #[test]
    fn under_rd_rdbreak_0_where_dracuts_init_is_is_all_that_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/rdbreak")).unwrap();
        std::fs::write(root.join(RECORD), "shell\n").unwrap();
        std::fs::write(root.join("init.dracut"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("init.dracut"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(root.join(MODE), "handoff\n").unwrap();
        std::fs::write(root.join("etc/crypttab"), "r /dev/sda2 none header=/h\n").unwrap();
        let (full, init) = (ImageFacts::read(root), ImageFacts::init_only(root));
        assert_eq!((init.dracut_init, init.handoff_mode, init.crypttab), (Some(InitKind::Shell), false, None));
        for line in
            ["root=UUID=u rd.rdbreak=0", "root=UUID=u rd.rdbreak=1 rd.rdbreak=no rd.break", "rd.rdbreak=0 ip=dhcp"]
        {
            let c = Cmdline::parse(line);
            assert!(asked_off(&c), "{line}");
            assert_eq!(decide(&c, &ImageFacts::init_only(root)), decide(&c, &full), "{line}");
        }
        for line in ["root=UUID=u", "rd.rdbreak", "rd.rdbreak=0 rd.rdbreak=1"] {
            assert!(!asked_off(&Cmdline::parse(line)), "{line}");
        }
    }

    #[test]
    fn every_api_mount_of_rdbreaks_is_undone_innermost_first() {
        let table = mounts::parse_mountinfo(
            "1 0 0:1 / / rw - rootfs rootfs rw\n\
             2 1 0:2 / /proc rw - proc proc rw\n\
             3 1 0:3 / /sys rw - sysfs sysfs rw\n\
             4 1 0:4 / /dev rw - devtmpfs devtmpfs rw\n\
             5 4 0:5 / /dev/pts rw - devpts devpts rw\n\
             7 1 0:7 / /run rw - tmpfs tmpfs rw\n\
             8 1 0:8 / /sysroot ro - ext4 /dev/vda ro\n",
        );
        assert_eq!(unmount_plan(&table), ["/run", "/dev/pts", "/sys", "/dev", "/proc"], "/dev/shm was not mounted");
        // A hand-off decided early: only what the decision needed is there.
        let table = mounts::parse_mountinfo(
            "1 0 0:1 / / rw - rootfs rootfs rw\n2 1 0:2 / /proc rw - proc proc rw\n4 1 0:4 / /dev rw - devtmpfs devtmpfs rw\n",
        );
        assert_eq!(unmount_plan(&table), ["/dev", "/proc"]);
    }

    #[test]
    fn nul_lists_as_proc_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("environ");
        std::fs::write(&p, b"HOME=/\0TERM=linux\0\xffodd=1\0").unwrap();
        let l = nul_list(p.to_str().unwrap(), 1 << 20).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[1], "TERM=linux");
        assert_eq!(nul_list(p.to_str().unwrap(), 3).unwrap(), ["HOM"], "capped");
        std::fs::write(&p, b"").unwrap();
        assert_eq!(nul_list(p.to_str().unwrap(), 10), None);
    }
}
