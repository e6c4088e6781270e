//! LVM2, natively: a PV's label and metadata areas (`label`), the metadata text (`config`,
//! `metadata`) and, from the VGs found and the PVs present, the device-mapper tables that make
//! their LVs (`activate`), chosen by dracut's `rd.lvm.*` rules. Linear and striped LVs are
//! activated natively; other segment types go to lvm2's own tool when the image has it (`tool`),
//! and otherwise the plan says which LV has which type.
//!
//! Reading a PV: the label in sectors 0–3, then every metadata area it lists (at most two);
//! each area's text is checksummed and parsed on its own, and the copy with the highest seqno
//! wins, as in lvm2. A damaged copy next to a good one is reported, not fatal.

pub mod activate;
pub mod config;
pub mod label;
pub mod metadata;
pub mod tool;

use std::fmt;

use thiserror::Error;

pub use activate::{filter, plan, Activation, Filter, LvPlan, PresentPv, Refusal};
pub use label::PvLabel;
pub use metadata::Vg;

/// Random access to a device's bytes: a block device, or a byte slice in tests.
pub trait ReadAt {
    /// Fills `buf` from byte `offset`; a read past the end is an error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl ReadAt for std::fs::File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| self.get(o..o.checked_add(buf.len())?))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// Text that is no lvm2 UUID.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("UUID {0:?} is not 32 characters of [0-9a-zA-Z!#]")]
pub struct BadId(pub String);

/// An lvm2 UUID: 32 characters of `[0-9a-zA-Z!#]`, shown in groups 6-4-4-4-4-4-6.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id([u8; 32]);

impl Id {
    /// Reads either form (lvm2's `id_read_format`: dashes anywhere are dropped).
    pub fn parse(s: &str) -> Result<Id, BadId> {
        let mut id = [0u8; 32];
        let mut n = 0;
        for b in s.bytes().filter(|&b| b != b'-') {
            if n == 32 || !(b.is_ascii_alphanumeric() || b == b'!' || b == b'#') {
                return Err(BadId(s.to_string()));
            }
            id[n] = b;
            n += 1;
        }
        if n != 32 {
            return Err(BadId(s.to_string()));
        }
        Ok(Id(id))
    }

    /// The 32 characters without dashes, as in the PV header and in DM UUIDs.
    pub fn raw(&self) -> &str {
        // Only ASCII is ever stored (checked in `parse`).
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.raw();
        let mut at = 0;
        for (i, n) in [6, 4, 4, 4, 4, 4, 6].into_iter().enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(r.get(at..at + n).unwrap_or(""))?;
            at += n;
        }
        Ok(())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    #[error(transparent)]
    Label(#[from] label::Error),
}

/// What one PV holds: its label and the newest metadata among its areas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pv {
    pub label: PvLabel,
    /// `None` for a PV without metadata areas (`--metadatacopies 0`), an orphan, or when no
    /// copy could be read (then `problems` says why).
    pub vg: Option<Vg>,
    /// Copies that could not be used and why, for the console.
    pub problems: Vec<String>,
}

/// Reads a PV: its label, then each metadata area; the readable copy with the highest seqno
/// wins. Fails only when there is no valid label.
pub fn read_pv(dev: &(impl ReadAt + ?Sized)) -> Result<Pv, Error> {
    let mut head = [0u8; label::LABEL_SCAN_BYTES];
    dev.read_exact_at(&mut head, 0).map_err(|e| label::Error::Read {
        offset: 0,
        len: head.len() as u64,
        err: e.to_string(),
    })?;
    let pvl = label::find_label(&head)?;
    let mut problems = Vec::new();
    let mut best: Option<Vg> = None;
    if pvl.metadata_areas.len() > label::MAX_MDAS {
        problems.push(format!(
            "the label lists {} metadata areas; lvm reads the first {}",
            pvl.metadata_areas.len(),
            label::MAX_MDAS
        ));
    }
    for (i, area) in pvl.metadata_areas.iter().take(label::MAX_MDAS).enumerate() {
        let n = i + 1;
        let text = match label::read_mda_header(dev, area).and_then(|h| label::read_text(dev, &h)) {
            Ok(Some(text)) => text,
            Ok(None) => continue,
            Err(e) => {
                problems.push(format!("metadata area {n}: {e}"));
                continue;
            }
        };
        let vg = match metadata::parse(&text) {
            Ok(vg) => vg,
            Err(e) => {
                problems.push(format!("metadata area {n} at byte {}: {e}", area.offset));
                continue;
            }
        };
        if !vg.pvs.iter().any(|p| p.id == pvl.uuid) {
            problems.push(format!("metadata area {n}: VG {} does not list this PV ({})", vg.name, pvl.uuid));
            continue;
        }
        match &best {
            Some(b) if b.id != vg.id => problems.push(format!(
                "metadata area {n} holds VG {} ({}), another area VG {} ({})",
                vg.name, vg.id, b.name, b.id
            )),
            _ => {}
        }
        if best.as_ref().is_none_or(|b| vg.seqno > b.seqno) {
            best = Some(vg);
        }
    }
    Ok(Pv { label: pvl, vg: best, problems })
}

/// The newest copy of each VG among those read from all PVs (grouped by VG id; highest seqno).
pub fn newest<'a>(vgs: impl IntoIterator<Item = &'a Vg>) -> Vec<&'a Vg> {
    let mut out: Vec<&Vg> = Vec::new();
    for vg in vgs {
        match out.iter_mut().find(|v| v.id == vg.id) {
            Some(v) if vg.seqno > v.seqno => *v = vg,
            Some(_) => {}
            None => out.push(vg),
        }
    }
    out
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as a PV read the way the assembler
/// reads one and as metadata text on its own (past the checksums), every VG found planned
/// against all its PVs present; never panics.
pub fn fuzz_one(data: &[u8]) {
    let mut vgs = Vec::new();
    if let Ok(pv) = read_pv(data) {
        vgs.extend(pv.vg);
    }
    vgs.extend(metadata::parse(data).ok());
    let _ = config::parse(data);
    for vg in &vgs {
        let present: Vec<PresentPv> = (0u32..)
            .zip(vg.pvs.iter().take(16))
            .map(|(i, p)| PresentPv {
                uuid: p.id,
                major: 254,
                minor: i,
                device: format!("/dev/vd{i}"),
                size_sectors: 1 << 21,
            })
            .collect();
        for p in plan(&[vg], &present, &Filter::All) {
            let _ = p.to_string();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
