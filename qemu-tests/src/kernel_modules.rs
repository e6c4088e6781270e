//! The kernel modules a guest image needs: module closures (dependencies and softdeps first)
//! resolved from the test kernel's own tree (its modules.dep, modules.softdep, modules.alias,
//! modules.builtin) with rdbreak-init's own module index. Never through the host's `modprobe`:
//! that reads the host's /etc/modprobe.d, whose `options` lines it prints after the file name
//! (Debian's mdadm ships `options md_mod start_ro=1`), whose `install` lines replace a module
//! by a command, and whose softdeps are not the test kernel's.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rdbreak_init::kmod::{self, ModuleIndex};

/// The module files `names` (module names or aliases) need, dependencies first, each once:
/// paths under `modules_dir` (a kernel tree's `lib/modules/<release>`). Panics naming what is
/// missing: a harness with a module it cannot find would only fail later, less clearly.
pub fn closure(modules_dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    let read = |f: &str| std::fs::read_to_string(modules_dir.join(f));
    let dep =
        read("modules.dep").unwrap_or_else(|e| panic!("read {}/modules.dep: {e} (run depmod)", modules_dir.display()));
    let [alias, softdep, builtin] =
        ["modules.alias", "modules.softdep", "modules.builtin"].map(|f| read(f).unwrap_or_default());
    // From text, not `ModuleIndex::load`: no modprobe.d of any root is read.
    let index = ModuleIndex::from_text(modules_dir, &dep, &alias, &softdep, &builtin);
    let mut request = Vec::new();
    for name in names {
        let found = index.lookup(name);
        assert!(!found.is_empty(), "no module or alias {name} in {}", modules_dir.display());
        request.extend(found.into_iter().filter(|m| !index.is_builtin(m)));
    }
    let kmod::Plan { waves, missing, refused } = kmod::plan(&index, &request, &HashSet::new());
    assert!(refused.is_empty(), "cannot order the modules of {names:?}: {}", refused[0]);
    assert!(missing.is_empty(), "{}/modules.dep names modules that are not there: {missing:?}", modules_dir.display());
    waves
        .into_iter()
        .flatten()
        .map(|m| {
            let path = index.path(&m).unwrap_or_else(|| panic!("no path for module {m}"));
            assert!(path.starts_with(modules_dir), "{} is outside {}", path.display(), modules_dir.display());
            path
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host whose modprobe configuration (Debian's mdadm.conf and more) would change what
    /// `modprobe` says: the closure is still only module files of the kernel tree, the same as
    /// without it. The configuration reaches any modprobe this process runs through
    /// MODPROBE_OPTIONS (nextest runs each test in a process of its own).
    #[test]
    fn a_closure_is_module_files_of_the_kernel_tree_whatever_the_hosts_modprobe_config() {
        let (_, dir) = crate::assets::kernel_modules_dir();
        let want = ["md_mod", "raid1", "dm_crypt", "ext4"];
        let clean = closure(&dir, &want);
        let conf = std::env::temp_dir().join(format!("rdbreak-modprobe-conf-{}", std::process::id()));
        std::fs::create_dir_all(&conf).expect("mkdir");
        std::fs::write(
            conf.join("mdadm.conf"),
            "options md_mod start_ro=1\n\
             install dm_crypt /sbin/modprobe --ignore-install dm_crypt; /bin/true\n\
             softdep raid1 pre: dummy\n",
        )
        .expect("write the modprobe config");
        std::env::set_var("MODPROBE_OPTIONS", format!("-C {}", conf.display()));
        let got = closure(&dir, &want);
        std::env::remove_var("MODPROBE_OPTIONS");
        let _ = std::fs::remove_dir_all(&conf);
        let names: Vec<String> = got
            .iter()
            .map(|p| {
                assert!(
                    p.starts_with(&dir) && p.is_file(),
                    "{} is not a module file of {}",
                    p.display(),
                    dir.display()
                );
                let base = p.file_name().expect("name").to_string_lossy().to_string();
                assert!(base.contains(".ko"), "{} is not a module file", p.display());
                base.split(".ko").next().expect("stem").replace('-', "_")
            })
            .collect();
        for m in want {
            assert!(names.iter().any(|n| n == m), "{m} in {names:?}");
        }
        let at = |m: &str| names.iter().position(|n| n == m).unwrap_or_else(|| panic!("{m} in {names:?}"));
        assert!(at("md_mod") < at("raid1"), "dependencies first: {names:?}");
        assert!(
            names.iter().any(|n| n.starts_with("crc32c")),
            "the kernel's own softdep (ext4 pre: crc32c): {names:?}"
        );
        assert!(!names.iter().any(|n| n == "dummy"), "the host's softdep is not the kernel's: {names:?}");
        assert_eq!(got, clean, "the host's modprobe config changes nothing");
    }
}
