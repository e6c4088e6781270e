//! The VG metadata text as a typed volume group, read as lvm2's `import_vsn1.c` reads it: the VG
//! (id, seqno, extent size, status), its PVs (id, size, first extent, extent count) and LVs
//! (id, status and flags, segments with their type and, for striped ones, their stripes).
//! Every number is range-checked; the segment layout is checked when it is planned.

use thiserror::Error;

use super::config::{self, Section, Value};
use super::Id;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    #[error(transparent)]
    Syntax(#[from] config::Error),
    #[error("not VG metadata: {0}")]
    NotMetadata(String),
    #[error("{at}: {what}")]
    Field { at: String, what: String },
}

fn field(at: &str, what: impl Into<String>) -> Error {
    Error::Field { at: at.to_string(), what: what.into() }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vg {
    pub name: String,
    pub id: Id,
    pub seqno: u64,
    /// In 512-byte sectors.
    pub extent_size: u64,
    pub status: Vec<String>,
    pub pvs: Vec<Pv>,
    pub lvs: Vec<Lv>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pv {
    /// The name segments refer to it by (`pv0`).
    pub key: String,
    pub id: Id,
    /// Where it was when the metadata was written: a hint only.
    pub device: Option<String>,
    pub status: Vec<String>,
    /// In sectors.
    pub dev_size: Option<u64>,
    /// Where the first extent starts, in sectors.
    pub pe_start: u64,
    pub pe_count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lv {
    pub name: String,
    pub id: Id,
    pub status: Vec<String>,
    pub flags: Vec<String>,
    pub segments: Vec<Segment>,
}

impl Lv {
    pub fn has(&self, flag: &str) -> bool {
        self.status.iter().chain(&self.flags).any(|s| s == flag)
    }
    /// A user-visible LV; hidden ones are parts of another (`_tdata`, `_rimage_0`, `snapshot0`).
    pub fn visible(&self) -> bool {
        self.has("VISIBLE")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The section name (`segment1`), for messages: control characters escaped.
    pub name: String,
    pub start_extent: u64,
    pub extent_count: u64,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `striped` (linear is one stripe): `stripe_size` in sectors, 0 for one stripe.
    Striped {
        stripe_size: u64,
        stripes: Vec<Stripe>,
    },
    Error,
    Zero,
    /// Anything else (thin, cache, raid, mirror, snapshot, …): its type and the LVs it names.
    Other {
        type_name: String,
        uses: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stripe {
    /// A PV key (`pv0`) or, for layered LVs (pvmove), an LV name.
    pub on: String,
    pub first_extent: u64,
}

fn uint(sec: &Section, key: &str, at: &str, max: u64) -> Result<u64, Error> {
    match sec.value(key) {
        Some(Value::Int(i)) => u64::try_from(*i)
            .ok()
            .filter(|v| *v <= max)
            .ok_or_else(|| field(at, format!("{key} = {i} is out of range 0..={max}"))),
        Some(v) => Err(field(at, format!("{key} is {v:?}, not a number"))),
        None => Err(field(at, format!("{key} is missing"))),
    }
}

fn id(sec: &Section, at: &str) -> Result<Id, Error> {
    let s = sec.str("id").ok_or_else(|| field(at, "id is missing"))?;
    Id::parse(s).map_err(|e| field(at, e.to_string()))
}

/// A list of strings (`status = ["READ", "WRITE"]`); absent is empty.
fn strings(sec: &Section, key: &str, at: &str) -> Result<Vec<String>, Error> {
    match sec.value(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s.clone()),
                v => Err(field(at, format!("{key} holds {v:?}, not a string"))),
            })
            .collect(),
        Some(v) => Err(field(at, format!("{key} is {v:?}, not a list"))),
    }
}

const U32: u64 = u32::MAX as u64;

/// lvm2's `validate_name` for VG and LV names: `[a-zA-Z0-9+_.-]`, not starting with `-`, not
/// `.` or `..`, under 128 bytes. They become DM names and `/dev/VG/LV` paths.
fn check_name(n: &str, what: &str) -> Result<(), Error> {
    let ok = !n.is_empty()
        && n.len() < 128
        && !n.starts_with('-')
        && n != "."
        && n != ".."
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::NotMetadata(format!("{what} name {n:?} is not one lvm allows")))
    }
}

/// Reads the metadata text of one VG.
pub fn parse(text: &[u8]) -> Result<Vg, Error> {
    let root = config::parse(text)?;
    if root.str("contents") != Some("Text Format Volume Group") {
        return Err(Error::NotMetadata(format!("contents is {:?}", root.value("contents"))));
    }
    if root.int("version") != Some(1) {
        return Err(Error::NotMetadata(format!("version is {:?}, only 1 is known", root.value("version"))));
    }
    // The VG is the first section at the top level (`_read_vgname`).
    let (name, vg) = root.sections().next().ok_or_else(|| Error::NotMetadata("no VG section".into()))?;
    check_name(name, "VG")?;
    let at = format!("VG {name}");
    let extent_size = uint(vg, "extent_size", &at, U32)?;
    if extent_size == 0 {
        return Err(field(&at, "extent_size is 0"));
    }
    let mut out = Vg {
        name: name.to_string(),
        id: id(vg, &at)?,
        seqno: uint(vg, "seqno", &at, U32)?,
        extent_size,
        status: strings(vg, "status", &at)?,
        pvs: Vec::new(),
        lvs: Vec::new(),
    };
    if let Some(pvs) = vg.section("physical_volumes") {
        for (key, pv) in pvs.sections() {
            let at = format!("VG {name}, PV {key}");
            out.pvs.push(Pv {
                key: key.to_string(),
                id: id(pv, &at)?,
                device: pv.str("device").map(str::to_string),
                status: strings(pv, "status", &at)?,
                dev_size: pv.value("dev_size").map(|_| uint(pv, "dev_size", &at, u64::MAX)).transpose()?,
                pe_start: uint(pv, "pe_start", &at, u64::MAX)?,
                pe_count: uint(pv, "pe_count", &at, U32)?,
            });
        }
    }
    if let Some(lvs) = vg.section("logical_volumes") {
        for (lv_name, lv) in lvs.sections() {
            check_name(lv_name, "LV")?;
            let at = format!("VG {name}, LV {lv_name}");
            let mut segments = Vec::new();
            for (seg_name, seg) in lv.sections() {
                segments.push(segment(seg_name, seg, &format!("{at}, {seg_name}"))?);
            }
            let count = uint(lv, "segment_count", &at, U32)?;
            if count != segments.len() as u64 {
                return Err(field(&at, format!("segment_count is {count} but {} segments follow", segments.len())));
            }
            out.lvs.push(Lv {
                name: lv_name.to_string(),
                id: id(lv, &at)?,
                status: strings(lv, "status", &at)?,
                flags: strings(lv, "flags", &at)?,
                segments,
            });
        }
    }
    Ok(out)
}

fn segment(name: &str, seg: &Section, at: &str) -> Result<Segment, Error> {
    let start_extent = uint(seg, "start_extent", at, U32)?;
    let extent_count = uint(seg, "extent_count", at, U32)?;
    let full = seg.str("type").ok_or_else(|| field(at, "type is missing"))?;
    // lvm2 appends flags to some types (`raid5+RESHAPE`).
    let type_name = full.split('+').next().unwrap_or(full);
    let kind = match type_name {
        "striped" => {
            let count = uint(seg, "stripe_count", at, U32)?;
            if count == 0 {
                return Err(field(at, "stripe_count is 0"));
            }
            let stripe_size = if count > 1 { uint(seg, "stripe_size", at, U32)? } else { 0 };
            let Some(Value::Array(items)) = seg.value("stripes") else {
                return Err(field(at, "stripes is missing or not a list"));
            };
            if items.len() as u64 != 2 * count {
                return Err(field(at, format!("stripe_count is {count} but stripes lists {} items", items.len())));
            }
            let stripes = items
                .chunks_exact(2)
                .map(|p| match p {
                    [Value::Str(on), Value::Int(first)] if u64::try_from(*first).is_ok_and(|f| f <= U32) => {
                        Ok(Stripe { on: on.clone(), first_extent: first.unsigned_abs() })
                    }
                    p => Err(field(at, format!("stripes entry {p:?} is not a volume name and an extent"))),
                })
                .collect::<Result<_, _>>()?;
            Kind::Striped { stripe_size, stripes }
        }
        "error" => Kind::Error,
        "zero" => Kind::Zero,
        _ => {
            // Whatever LV the segment names (origin, cow_store, pool, data, metadata, images),
            // so that an LV another one is layered on is never activated on its own.
            let mut uses = Vec::new();
            for (_, node) in &seg.entries {
                if let config::Node::Value(v) = node {
                    let items = match v {
                        Value::Array(items) => items.as_slice(),
                        v => std::slice::from_ref(v),
                    };
                    uses.extend(items.iter().filter_map(|v| match v {
                        Value::Str(s) if s != full => Some(s.clone()),
                        _ => None,
                    }));
                }
            }
            Kind::Other { type_name: type_name.to_string(), uses }
        }
    };
    Ok(Segment { name: name.escape_debug().to_string(), start_extent, extent_count, kind })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The text lvm2 2.03.16 wrote for testdata/centos (make-fixtures.sh), the seed's layout,
    /// with the device hint changed to the seed's /dev/vda2.
    pub(crate) const CENTOS: &str = r#"centos {
id = "O1CJf1-Lu2x-sPjK-izUS-lwjE-7Zoi-KSXeDz"
seqno = 3
format = "lvm2"
status = ["RESIZEABLE", "READ", "WRITE"]
flags = []
extent_size = 8192
max_lv = 0
max_pv = 0
metadata_copies = 0

physical_volumes {

pv0 {
id = "byGO29-9lbA-w0u8-Sz0q-hCCN-VwY3-nvP21K"
device = "/dev/vda2"

status = ["ALLOCATABLE"]
flags = []
dev_size = 98304
pe_start = 2048
pe_count = 11
}
}

logical_volumes {

swap {
id = "0FLvjJ-sc4L-PYi3-gDSF-e5bU-dPSK-0IiTzy"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
creation_time = 1796156873
creation_host = "vm"
segment_count = 1

segment1 {
start_extent = 0
extent_count = 2

type = "striped"
stripe_count = 1

stripes = [
"pv0", 0
]
}
}

root {
id = "VvMG96-iPQU-NVO0-y2y9-kZWL-AoC2-vJSAhX"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
creation_time = 1796156873
creation_host = "vm"
segment_count = 1

segment1 {
start_extent = 0
extent_count = 9

type = "striped"
stripe_count = 1

stripes = [
"pv0", 2
]
}
}
}

}
# Generated by LVM2 version 2.03.16(2) (2022-05-18): Tue Dec  1 20:28:40 2026

contents = "Text Format Volume Group"
version = 1

description = "Write from lvcreate -q -an -Zn -n root -l 100%FREE centos."

creation_host = "vm"	# Linux vm 6.18.44 #1 SMP PREEMPT_DYNAMIC @0 x86_64
creation_time = 1796156920	# Tue Dec  1 20:28:40 2026

"#;

    #[test]
    fn the_seed_layout() {
        let vg = parse(CENTOS.as_bytes()).unwrap();
        assert_eq!(vg.name, "centos");
        assert_eq!(vg.id.to_string(), "O1CJf1-Lu2x-sPjK-izUS-lwjE-7Zoi-KSXeDz");
        assert_eq!((vg.seqno, vg.extent_size), (3, 8192));
        assert_eq!(vg.pvs.len(), 1);
        let pv = &vg.pvs[0];
        assert_eq!((pv.key.as_str(), pv.device.as_deref()), ("pv0", Some("/dev/vda2")));
        assert_eq!((pv.dev_size, pv.pe_start, pv.pe_count), (Some(98304), 2048, 11));
        let names: Vec<_> = vg.lvs.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["swap", "root"]);
        let root = &vg.lvs[1];
        assert!(root.visible() && root.has("WRITE"));
        assert_eq!(root.segments.len(), 1);
        let s = &root.segments[0];
        assert_eq!((s.start_extent, s.extent_count), (0, 9));
        assert_eq!(
            s.kind,
            Kind::Striped { stripe_size: 0, stripes: vec![Stripe { on: "pv0".into(), first_extent: 2 }] }
        );
    }

    fn with(from: &str, to: &str) -> Result<Vg, Error> {
        assert!(CENTOS.contains(from), "{from}");
        parse(CENTOS.replacen(from, to, 1).as_bytes())
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            ("extent_size = 8192", "extent_size = 0", "extent_size is 0"),
            ("extent_size = 8192", "extent_size = 99999999999", "out of range"),
            ("seqno = 3", "seqno = -1", "out of range"),
            ("seqno = 3", "seqno = \"3\"", "not a number"),
            ("pe_count = 11", "", "pe_count is missing"),
            ("segment_count = 1", "segment_count = 2", "segment_count is 2 but 1"),
            ("\"pv0\", 2", "\"pv0\"", "stripes lists 1 items"),
            ("\"pv0\", 2", "\"pv0\", -2", "not a volume name and an extent"),
            ("stripe_count = 1", "stripe_count = 0", "stripe_count is 0"),
            ("stripe_count = 1", "stripe_count = 2", "stripe_size is missing"),
            ("id = \"VvMG96-iPQU-NVO0-y2y9-kZWL-AoC2-vJSAhX\"", "id = \"short\"", "32 characters"),
            ("status = [\"ALLOCATABLE\"]", "status = \"ALLOCATABLE\"", "not a list"),
            ("version = 1", "version = 2", "only 1 is known"),
            ("contents = \"Text Format Volume Group\"", "", "contents is None"),
            ("centos {", "\"../etc\" {", "VG name \"../etc\" is not one lvm allows"),
            ("\nroot {", "\n-root {", "LV name \"-root\""),
            ("\nroot {", "\n\"..\" {", "LV name \"..\""),
        ];
        for (from, to, what) in cases {
            let e = with(from, to).unwrap_err().to_string();
            assert!(e.contains(what), "{to}: {e}");
        }
        let e = with("stripe_count = 1", "stripe_count = 2").unwrap_err().to_string();
        assert!(e.starts_with("VG centos, LV swap, segment1:"), "{e}");
    }

    #[test]
    fn other_segment_types_name_what_they_use() {
        let snap = r#"
contents = "Text Format Volume Group"
version = 1
vg {
id = "O1CJf1-Lu2x-sPjK-izUS-lwjE-7Zoi-KSXeDz"
seqno = 9
extent_size = 8192
logical_volumes {
snapshot0 {
id = "0FLvjJ-sc4L-PYi3-gDSF-e5bU-dPSK-0IiTzy"
status = ["READ", "WRITE"]
segment_count = 1
segment1 {
start_extent = 0
extent_count = 2
type = "snapshot"
chunk_size = 8
origin = "lin"
cow_store = "snap"
}
}
r {
id = "VvMG96-iPQU-NVO0-y2y9-kZWL-AoC2-vJSAhX"
status = ["READ", "WRITE", "VISIBLE"]
segment_count = 1
segment1 {
start_extent = 0
extent_count = 2
type = "raid1+RESHAPE"
region_size = 1024
raids = ["r_rmeta_0", "r_rimage_0", "r_rmeta_1", "r_rimage_1"]
}
}
}
}
"#;
        let vg = parse(snap.as_bytes()).unwrap();
        assert!(vg.pvs.is_empty());
        assert_eq!(
            vg.lvs[0].segments[0].kind,
            Kind::Other { type_name: "snapshot".into(), uses: vec!["lin".into(), "snap".into()] }
        );
        let Kind::Other { type_name, uses } = &vg.lvs[1].segments[0].kind else { panic!() };
        assert_eq!((type_name.as_str(), uses.len()), ("raid1", 4));
        assert!(!vg.lvs[0].visible());
    }
}
