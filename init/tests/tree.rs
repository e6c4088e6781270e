//! The repository as a whole: no file carries what an unfinished merge leaves behind (a
//! conflict block in the README's table went unnoticed once, as the Markdown still rendered).

use std::path::Path;

fn walk(dir: &Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name == "target" || name == "corpus" || name == "artifacts" {
            continue;
        }
        if path.is_dir() {
            walk(&path, found);
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        // Built here so that this file does not match itself.
        let (open, close) = ("<".repeat(7) + " ", ">".repeat(7) + " ");
        for (n, line) in text.lines().enumerate() {
            if line.starts_with(&open) || line.starts_with(&close) || line == "=".repeat(7) {
                found.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
}

#[test]
fn no_file_holds_merge_conflict_markers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let mut found = Vec::new();
    walk(root, &mut found);
    assert!(found.is_empty(), "conflict markers left by a merge:\n{}", found.join("\n"));
}
