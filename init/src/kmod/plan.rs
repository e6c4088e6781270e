//! Load order: a request and its dependencies (hard deps and softdeps) as waves of modules that
//! do not depend on each other.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::index::ModuleIndex;
use super::normalize;

/// Load order for a request: waves of modules whose dependencies (hard deps and `softdep pre:`)
/// are all in earlier waves, so each wave can load in parallel. Names already loaded are left out.
/// Unknown names are returned separately so the caller can report them.
pub fn plan(index: &ModuleIndex, request: &[String], loaded: &HashSet<String>) -> (Vec<Vec<String>>, Vec<String>) {
    let mut depth: HashMap<String, usize> = HashMap::new();
    let mut missing = Vec::new();
    let mut visiting = HashSet::new();
    let mut posts = Vec::new();

    fn visit(
        index: &ModuleIndex,
        name: &str,
        loaded: &HashSet<String>,
        depth: &mut HashMap<String, usize>,
        visiting: &mut HashSet<String>,
        missing: &mut Vec<String>,
        posts: &mut Vec<String>,
    ) -> Option<usize> {
        let name = normalize(name);
        if loaded.contains(&name) || index.builtin.contains(&name) {
            return Some(0);
        }
        if let Some(&d) = depth.get(&name) {
            return Some(d);
        }
        let Some(entry) = index.modules.get(&name) else {
            if !missing.contains(&name) {
                missing.push(name);
            }
            return None;
        };
        if !visiting.insert(name.clone()) {
            return Some(0); // a cycle in broken metadata: break it rather than loop
        }
        let mut level = 0;
        let (pre, post) = index.softdeps.get(&name).cloned().unwrap_or_default();
        for p in &pre {
            for m in index.lookup(p) {
                if let Some(d) = visit(index, &m, loaded, depth, visiting, &mut Vec::new(), posts) {
                    level = level.max(d);
                }
            }
        }
        for dep in &entry.deps {
            if let Some(d) = visit(index, dep, loaded, depth, visiting, missing, posts) {
                level = level.max(d);
            }
        }
        visiting.remove(&name);
        posts.extend(post);
        depth.insert(name, level + 1);
        Some(level + 1)
    }

    for r in request {
        visit(index, r, loaded, &mut depth, &mut visiting, &mut missing, &mut posts);
    }
    // `softdep post:` modules are wanted but optional; they follow what they belong to.
    let mut post_names = Vec::new();
    for p in posts {
        post_names.extend(index.lookup(&p));
    }
    for p in post_names {
        visit(index, &p, loaded, &mut depth, &mut visiting, &mut Vec::new(), &mut Vec::new());
    }
    let waves_n = depth.values().copied().max().unwrap_or(0);
    let mut waves: Vec<BTreeSet<String>> = vec![BTreeSet::new(); waves_n];
    for (name, d) in depth {
        waves[d - 1].insert(name);
    }
    (waves.into_iter().map(|w| w.into_iter().collect()).collect(), missing)
}

#[cfg(test)]
mod tests {
    use super::super::testdata::index;
    use super::*;

    #[test]
    fn plan_orders_dependencies_in_waves() {
        let ix = index();
        let (waves, missing) = plan(&ix, &["virtio_blk".into(), "virtio_pci".into()], &HashSet::new());
        assert!(missing.is_empty());
        assert_eq!(
            waves,
            vec![
                vec!["virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev"],
                vec!["virtio_ring"],
                vec!["virtio_blk", "virtio_pci"],
            ]
        );
    }

    #[test]
    fn plan_honours_softdeps_and_skips_loaded() {
        let ix = index();
        let loaded: HashSet<String> = ["mbcache".to_string()].into();
        let (waves, _) = plan(&ix, &["ext4".into()], &loaded);
        let flat: Vec<&str> = waves.iter().flatten().map(String::as_str).collect();
        assert!(!flat.contains(&"mbcache"));
        let pos = |m| flat.iter().position(|x| *x == m).unwrap();
        assert!(pos("crc32c_generic") < pos("ext4"));
        assert!(pos("jbd2") < pos("ext4"));
        assert_eq!(waves.last().unwrap(), &vec!["ext4".to_string()]);
    }

    #[test]
    fn plan_reports_missing() {
        let ix = index();
        let (waves, missing) = plan(&ix, &["nvme".into()], &HashSet::new());
        assert!(waves.is_empty());
        assert_eq!(missing, ["nvme"]);
    }
}
