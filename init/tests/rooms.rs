//! The rooms of the init and the order of the boot: no room may use one above it, so the code
//! reads bottom-up and has no cycles. A new room must be placed in `ROOMS` to compile this test's
//! expectations; a `crate::x` path that climbs fails it with the file and the room named.

use std::collections::BTreeMap;
use std::path::Path;

/// Lowest first: the syscall layer and formats, then the boot's order (cmdline → uevents, the
/// names udev gives disks, devices → modules → storage → root → the boot's state → shell →
/// switch_root → the hand-off to dracut's init → the sequence).
const ROOMS: &[&str] = &[
    "sys",
    "sort",
    "format",
    "elf",
    "kmsg",
    "mounts",
    "cmdline",
    "ask",
    "uevent",
    "names",
    "probe",
    "devices",
    "hotplug",
    "kmod",
    "storage",
    "root",
    "resume",
    "fstab",
    "mount_root",
    "boot",
    "report",
    "selinux",
    "shell",
    "switch_root",
    "handoff",
    "stages",
    "rescue",
    "fuzz",
];

/// The room of a source file: its top-level module (`shell/builtins/files.rs` → `shell`).
fn room_of(rel: &Path) -> String {
    let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().to_string()).unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

/// Every room a file names through `crate::`, single paths and `use crate::{a, b::c}` groups.
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            out.push(name);
        }
    }
    out
}

fn sources(dir: &Path, base: &Path, out: &mut BTreeMap<String, String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, base, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            out.insert(rel, std::fs::read_to_string(&p).unwrap());
        }
    }
}

#[test]
fn no_room_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&src, &src, &mut files);
    let rank = |r: &str| ROOMS.iter().position(|x| *x == r);
    let mut climbs = Vec::new();
    for (rel, text) in &files {
        let room = room_of(Path::new(rel));
        if matches!(room.as_str(), "lib" | "main") {
            continue;
        }
        let Some(own) = rank(&room) else {
            climbs.push(format!("{rel}: room {room} is not placed in ROOMS"));
            continue;
        };
        for used in uses(text) {
            // A constant of the crate root (`crate::THREAD_STACK`) belongs to no room.
            if used.chars().next().is_some_and(|c| c.is_uppercase()) || used == room {
                continue;
            }
            match rank(&used) {
                Some(r) if r < own => {}
                Some(_) => climbs.push(format!("{rel}: {room} uses {used}, which is above it")),
                None => climbs.push(format!("{rel}: uses crate::{used}, not a known room")),
            }
        }
    }
    assert!(climbs.is_empty(), "rooms out of order:\n{}", climbs.join("\n"));
}

#[test]
fn the_checker_sees_groups_and_paths() {
    assert_eq!(uses("use crate::{kmsg, mounts::x};\nlet a = crate::boot::Boot::new();"), ["kmsg", "mounts", "boot"]);
}
