//! Resume from hibernation, as dracut's 95resume: `resume=` names the swap that may hold an
//! image (`UUID=`, `LABEL=`, a path, `MAJ:MIN`; `resume_offset=` for a swap file); when the
//! device holds the hibernation signature, its number goes to `/sys/power/resume` before any
//! filesystem is mounted, and the kernel restores the image (or returns when it cannot).
//! `noresume` discards the image and boots normally.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::cmdline::Cmdline;
use crate::devices::BlockDev;
use crate::probe::hibernation_signature as holds_image;
use crate::root::{RootError, RootSpec};

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    None,
    /// `noresume`: an image on `resume=` is not restored.
    Discard,
    Resume {
        spec: RootSpec,
        offset: u64,
    },
}

/// Why `resume=` is ignored (logged; the boot goes on without resuming).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("resume_offset={0} is not a number of pages; ignoring resume=")]
    Offset(String),
    #[error("resume={value}: {source}; ignoring it")]
    Spec { value: String, source: RootError },
}

pub fn request(c: &Cmdline) -> Result<Request, RequestError> {
    if c.last("noresume").is_some() {
        return Ok(Request::Discard);
    }
    let Some(value) = c.get("resume").filter(|v| !v.is_empty()) else { return Ok(Request::None) };
    let offset = match c.get("resume_offset") {
        Some(o) => o.parse().map_err(|_| RequestError::Offset(o.to_string()))?,
        None => 0,
    };
    // The forms are root='s, `MAJ:MIN` (the kernel's own) included.
    RootSpec::parse(value)
        .map(|spec| Request::Resume { spec, offset })
        .map_err(|source| RequestError::Spec { value: value.to_string(), source })
}

/// Hands `dev` to the kernel when it holds an image. Returns only when there is nothing to
/// resume, or the kernel could not (then the boot goes on, as with dracut).
pub fn resume(dev: &BlockDev, offset: u64, dev_dir: &Path, sys_power: &Path) {
    let page_size = rustix::param::page_size();
    let node = dev_dir.join(&dev.name);
    let mut page = vec![0u8; page_size];
    let read = File::open(&node).and_then(|f| f.read_exact_at(&mut page, offset.saturating_mul(page_size as u64)));
    if let Err(e) = read {
        log::warn!("resume: cannot read {}: {e}; booting without resuming", node.display());
        return;
    }
    if !holds_image(&page) {
        log::info!("resume: {} holds no hibernation image", node.display());
        return;
    }
    // The kernel's `disk` says `[disabled]` when it will not resume at all (locked down by
    // Secure Boot, or `nohibernate`): its `resume` would then return as if there were nothing.
    if std::fs::read_to_string(sys_power.join("disk")).is_ok_and(|d| d.trim() == "[disabled]") {
        log::warn!(
            "resume: {} holds a hibernation image, but this kernel cannot resume one (/sys/power/disk is [disabled]: locked down by Secure Boot, or booted with nohibernate); booting afresh, the hibernated session is lost",
            node.display()
        );
        return;
    }
    log::info!("resume: restoring the hibernation image on {} ({})", node.display(), dev.devno());
    if offset > 0 {
        if let Err(e) = std::fs::write(sys_power.join("resume_offset"), format!("{offset}\n")) {
            log::warn!("resume: cannot set resume_offset={offset}: {e}; booting without resuming");
            return;
        }
    }
    // The kernel restores the image from inside this write and never returns on success.
    match std::fs::write(sys_power.join("resume"), format!("{}\n", dev.devno())) {
        Ok(()) => log::warn!("resume: the kernel did not restore the image on {}; booting normally", node.display()),
        Err(e) => log::warn!("resume from {} failed: {e}; booting normally", node.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_forms() {
        assert_eq!(request(&Cmdline::parse("root=/dev/vda")), Ok(Request::None));
        assert_eq!(request(&Cmdline::parse("resume=UUID=a noresume")), Ok(Request::Discard));
        let r = request(&Cmdline::parse("resume=/dev/mapper/centos-swap")).unwrap();
        assert_eq!(r, Request::Resume { spec: RootSpec::parse("/dev/mapper/centos-swap").unwrap(), offset: 0 });
        let r = request(&Cmdline::parse("resume=254:3 resume_offset=34816")).unwrap();
        assert_eq!(r, Request::Resume { spec: RootSpec::parse("254:3").unwrap(), offset: 34816 });
        assert!(request(&Cmdline::parse("resume=UUID=a resume_offset=x"))
            .unwrap_err()
            .to_string()
            .contains("resume_offset=x"));
        assert!(matches!(request(&Cmdline::parse("resume=LABEL=swap")), Ok(Request::Resume { .. })));
    }

    #[test]
    fn signatures_at_the_end_of_the_header_page() {
        let mut page = vec![0u8; 4096];
        page[4086..].copy_from_slice(b"SWAPSPACE2");
        assert!(!holds_image(&page), "a plain swap area");
        page[4086..4095].copy_from_slice(b"S1SUSPEND");
        assert!(holds_image(&page));
        assert!(!holds_image(b"short"));
    }

    #[test]
    fn a_plain_swap_is_left_alone_and_an_image_is_handed_to_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let ps = rustix::param::page_size();
        let mut swap = vec![0u8; ps * 2];
        swap[ps - 10..ps].copy_from_slice(b"SWAPSPACE2");
        std::fs::write(dir.path().join("vdb"), &swap).unwrap();
        let dev = BlockDev { name: "vdb".into(), major: 254, minor: 16, ..Default::default() };
        resume(&dev, 0, dir.path(), dir.path());
        assert!(!dir.path().join("resume").exists(), "nothing written for a plain swap");
        swap[ps - 10..ps - 1].copy_from_slice(b"S1SUSPEND");
        std::fs::write(dir.path().join("vdb"), &swap).unwrap();
        std::fs::write(dir.path().join("disk"), "[disabled]\n").unwrap();
        resume(&dev, 0, dir.path(), dir.path());
        assert!(!dir.path().join("resume").exists(), "a kernel that cannot resume (lockdown) is not asked");
        std::fs::write(dir.path().join("disk"), "[platform] shutdown reboot suspend test_resume\n").unwrap();
        resume(&dev, 0, dir.path(), dir.path());
        assert_eq!(std::fs::read_to_string(dir.path().join("resume")).unwrap(), "254:16\n");
    }
}
