//! The module graph of a crate's sources, shared by the layering tests (`init/tests/rooms.rs`
//! and `packaging/tests/modules.rs` include this file): each file's module path, the modules it
//! names through `crate::`, `super::` and `self::`, and the cycles among sibling modules. A
//! module's own `mod.rs` declares its children and may use them all; its children must use each
//! other without a cycle, so every directory reads bottom-up like the rooms. Test code (`tests.rs`
//! files, inline `mod tests`) is left out: it may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The sources below `dir`, by path relative to `base`.
pub fn sources(dir: &Path, base: &Path, out: &mut BTreeMap<String, String>) {
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

/// The module a file holds: `storage/lvm/mod.rs` → `[storage, lvm]`, `shell/parse.rs` →
/// `[shell, parse]`, `lib.rs` → `[]`.
pub fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.trim_end_matches(".rs").split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|l| matches!(l.as_str(), "mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The text without comments and without its inline test module (`#[cfg(…test…)]` then
/// `mod tests {`: it closes the file here).
fn code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].starts_with("#[cfg(") && w[0].contains("test") && w[1].ends_with("mod tests {"))
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .map(|l| if l.trim_start().starts_with("//") { "" } else { l.split(" // ").next().unwrap_or("") })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The first segment of each item of a `{a, b::c, d::{e}}` group (nesting respected).
fn group_heads(group: &str) -> Vec<String> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    let mut push = |item: &str| {
        let name = ident(item.trim());
        if !name.is_empty() {
            out.push(name.to_string());
        }
    };
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                push(&group[start..i]);
                return out;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(&group[start..]);
    out
}

/// Every module path `text` (the code of module `module`) names, made absolute: `super::dm` in
/// `storage::assemble` is `[storage, dm]`; `crate::kmod::Loader` is `[kmod, Loader]`; a group
/// gives one path per item.
pub fn named(module: &[String], text: &str) -> Vec<Vec<String>> {
    let text = code(text);
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let start_ok =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':');
        let base = if !start_ok {
            None
        } else if rest.starts_with("crate::") {
            Some((Vec::new(), "crate::".len()))
        } else if rest.starts_with("self::") {
            Some((module.to_vec(), "self::".len()))
        } else if rest.starts_with("super::") {
            let mut base = module.to_vec();
            let mut len = 0;
            while rest[len..].starts_with("super::") {
                base.pop();
                len += "super::".len();
            }
            Some((base, len))
        } else {
            None
        };
        let Some((base, len)) = base else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let mut path = base;
        let mut at = &rest[len..];
        loop {
            if let Some(group) = at.strip_prefix('{') {
                for head in group_heads(group) {
                    let mut p = path.clone();
                    if head != "self" {
                        p.push(head);
                    }
                    out.push(p);
                }
                break;
            }
            let name = ident(at);
            if name.is_empty() {
                out.push(path);
                break;
            }
            path.push(name.to_string());
            at = &at[name.len()..];
            match at.strip_prefix("::") {
                Some(r) => at = r,
                None => {
                    out.push(path);
                    break;
                }
            }
        }
        i += len;
    }
    out
}

/// The cycles among the children of every module with children: `storage: assemble →
/// luks_open → assemble`, one line per cycle found.
pub fn sibling_cycles(files: &BTreeMap<String, String>) -> Vec<String> {
    let modules: BTreeSet<Vec<String>> = files.keys().map(|rel| module_of(rel)).collect();
    let mut cycles = Vec::new();
    let parents: BTreeSet<Vec<String>> =
        modules.iter().filter(|m| !m.is_empty()).map(|m| m[..m.len() - 1].to_vec()).collect();
    for parent in &parents {
        let depth = parent.len();
        let children: BTreeSet<&String> =
            modules.iter().filter(|m| m.len() > depth && m[..depth] == parent[..]).map(|m| &m[depth]).collect();
        let mut edges: BTreeMap<&String, BTreeSet<&String>> = BTreeMap::new();
        for (rel, text) in files {
            let module = module_of(rel);
            if rel.ends_with("tests.rs") || module.len() <= depth || module[..depth] != parent[..] {
                continue;
            }
            let Some(from) = children.get(&module[depth]).copied() else { continue };
            for path in named(&module, text) {
                if path.len() > depth && path[..depth] == parent[..] && path[depth] != *from {
                    if let Some(to) = children.get(&path[depth]) {
                        edges.entry(from).or_default().insert(to);
                    }
                }
            }
        }
        if let Some(cycle) = find_cycle(&edges) {
            let names: Vec<&str> = cycle.iter().map(|s| s.as_str()).collect();
            let at = if parent.is_empty() { "the crate root".to_string() } else { parent.join("::") };
            cycles.push(format!("{at}: {}", names.join(" → ")));
        }
    }
    cycles
}

/// One cycle of the graph, its first node repeated at the end, if there is one.
fn find_cycle<'a>(edges: &BTreeMap<&'a String, BTreeSet<&'a String>>) -> Option<Vec<&'a String>> {
    fn visit<'a>(
        n: &'a String,
        edges: &BTreeMap<&'a String, BTreeSet<&'a String>>,
        stack: &mut Vec<&'a String>,
        done: &mut BTreeSet<&'a String>,
    ) -> Option<Vec<&'a String>> {
        if let Some(i) = stack.iter().position(|s| *s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n);
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n);
        for next in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}
