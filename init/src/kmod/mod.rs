//! Kernel modules without modprobe: the index files depmod writes, alias matching, dependency
//! order, and loading (compressed modules included).
//!
//! [`ModuleIndex`] is pure (built from text, testable on a fake tree); [`plan`] turns a request
//! into load waves whose members do not depend on each other; [`Loader`] runs the waves in
//! parallel threads through `finit_module`/`init_module`. One file per job: `index` (parsing and
//! alias lookup), `glob` (fnmatch), `plan` (dependency order), `decompress` (module images),
//! `loader` (the kernel calls and their threads).

mod decompress;
mod glob;
mod index;
mod loader;
mod plan;
#[cfg(test)]
mod testdata;

use thiserror::Error;

pub use decompress::{compression_of, decompress, Compression};
pub use glob::glob_match;
pub use index::ModuleIndex;
pub use loader::{loaded_modules, needed_for_boot, Loader};
pub use plan::{plan, Plan, MAX_DEPTH};

#[derive(Debug, Error)]
pub enum KmodError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot decompress {path}: {reason}")]
    Decompress { path: String, reason: String },
    #[error("the kernel refused module {name} ({path}): {errno}")]
    Load { name: String, path: String, errno: rustix::io::Errno },
    #[error("module {0} not found in modules.dep")]
    NotFound(String),
    #[error(
        "cannot order module {module}: its dependencies nest more than {max} deep ({chain}); \
         modules.dep or a softdep is broken: run depmod and rebuild the image"
    )]
    TooDeep { module: String, max: usize, chain: String },
}

/// `-` and `_` are the same in module names (the kernel and kmod treat them alike).
pub fn normalize(name: &str) -> String {
    // Most names have no `-`: a plain copy is much cheaper than `replace` (thousands per boot).
    if name.as_bytes().contains(&b'-') {
        name.replace('-', "_")
    } else {
        name.to_string()
    }
}

/// The module name of a path in modules.dep: basename without `.ko` and compression suffix.
pub fn name_of_path(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.split(".ko").next().unwrap_or(base);
    normalize(stem)
}

#[cfg(test)]
mod tests {
    use super::testdata::index;
    use super::*;

    #[test]
    fn names_are_normalized() {
        assert_eq!(name_of_path("kernel/drivers/hid/hid-generic.ko.zst"), "hid_generic");
        assert_eq!(name_of_path("ext4.ko"), "ext4");
        assert!(index().contains("hid-generic"));
    }
}
