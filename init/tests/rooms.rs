//! The rooms of the init and the order of the boot: no room may use one above it, so the code
//! reads bottom-up and has no cycles. A new room must be placed in `ROOMS` to compile this test's
//! expectations; a `crate::x` path that climbs fails it with the file and the room named. Inside
//! a room the same holds without a written order: the submodules of `storage/`, `shell/`,
//! `shell/builtins/` (of every directory) use each other without a cycle.

use std::collections::BTreeMap;
use std::path::Path;

#[path = "common/modgraph.rs"]
mod modgraph;

use modgraph::sources;

/// Lowest first: the syscall layer, reading on-disk integers, and formats, then the boot's order (cmdline → uevents, the
/// names udev gives disks, devices → modules → storage → root → the boot's state → shell →
/// switch_root → the hand-off to dracut's init → the sequence).
const ROOMS: &[&str] = &[
    "sys",
    "bytes",
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

#[test]
fn no_cycle_between_submodules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&src, &src, &mut files);
    let cycles = modgraph::sibling_cycles(&files);
    assert!(cycles.is_empty(), "submodules that use each other in a cycle:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_checker_resolves_paths_and_names_the_cycle() {
    let module = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        modgraph::named(
            &module(&["storage", "lvm", "activate"]),
            "use super::super::{dm, md::run};\nsuper::tool::x();"
        ),
        [module(&["storage", "dm"]), module(&["storage", "md"]), module(&["storage", "lvm", "tool", "x"])]
    );
    let files: BTreeMap<String, String> = [
        ("storage/mod.rs", "pub mod a;\npub mod b;\npub mod c;"),
        ("storage/a.rs", "use super::b::X;"),
        ("storage/b/mod.rs", "use crate::storage::c;"),
        ("storage/c.rs", "// super::a is only named in a comment\nuse super::a;"),
        ("storage/b/tests.rs", "use super::super::a;"),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_string(), t.to_string()))
    .collect();
    assert_eq!(modgraph::sibling_cycles(&files), ["storage: a → b → c → a"]);
    // Test code may reach anywhere: a cycle only through test modules is none.
    let tests_only: BTreeMap<String, String> = [
        (
            "shell/a.rs",
            "pub fn x() {}\n#[cfg(all(test, feature = \"zstd\"))]\nmod tests {\n    use super::super::b;\n}",
        ),
        ("shell/b/mod.rs", "use super::a::x;"),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_string(), t.to_string()))
    .collect();
    assert!(modgraph::sibling_cycles(&tests_only).is_empty());
}

/// README's room table (its first column) names every room and no other, so a newcomer's map
/// stays the code's.
#[test]
fn the_readme_names_every_room() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let table = readme.split("| room | job |").nth(1).expect("README has a room table");
    let mut named = Vec::new();
    for line in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let first = line.split('|').nth(1).unwrap_or("");
        named.extend(first.split('`').skip(1).step_by(2).map(str::to_string));
    }
    let missing: Vec<&&str> = ROOMS.iter().filter(|r| !named.iter().any(|n| n == **r)).collect();
    let unknown: Vec<&String> = named.iter().filter(|n| !ROOMS.contains(&n.as_str())).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "README's room table misses {missing:?}, names unknown {unknown:?}"
    );
}

/// One module layout and one test layout (README's layout section): a module with submodules is
/// `dir/mod.rs`, never `dir.rs` beside `dir/`; unit tests are inline or `tests.rs` in the
/// module's directory, never a `x_tests.rs` sibling.
#[test]
fn one_module_layout_and_one_test_layout() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&src, &src, &mut files);
    let mut odd = Vec::new();
    for rel in files.keys() {
        let stem = rel.trim_end_matches(".rs");
        if src.join(stem).is_dir() {
            odd.push(format!("{rel} beside {stem}/: move it to {stem}/mod.rs"));
        }
        if stem.ends_with("_tests") {
            odd.push(format!("{rel}: tests go inline or in tests.rs in the module's directory"));
        }
    }
    assert!(odd.is_empty(), "layout:\n{}", odd.join("\n"));
}
