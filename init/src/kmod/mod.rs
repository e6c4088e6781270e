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

use std::io::Read;
use std::path::Path;

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
    #[error("{path}: {what} is larger than {cap_mib} MiB, far more than any real one: refused as corrupt or hostile")]
    TooLarge { path: String, what: &'static str, cap_mib: usize },
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

/// Reads `file` onto `out` until `out` holds more than `cap` bytes, then refuses it: memory
/// follows what is read (never a length the file declares), and an endless file ends too.
/// `path` and `what` word the refusal.
fn read_capped(
    file: impl Read,
    path: &Path,
    what: &'static str,
    cap: usize,
    out: &mut Vec<u8>,
) -> Result<(), KmodError> {
    let limit = cap.saturating_add(1).saturating_sub(out.len());
    file.take(limit as u64)
        .read_to_end(out)
        .map_err(|source| KmodError::Read { path: path.display().to_string(), source })?;
    if out.len() > cap {
        return Err(KmodError::TooLarge { path: path.display().to_string(), what, cap_mib: cap >> 20 });
    }
    Ok(())
}

/// A whole text file, at most `cap` bytes, refused early when its size already says it is larger.
fn read_text(path: &Path, what: &'static str, cap: usize) -> Result<String, KmodError> {
    let shown = || path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| KmodError::Read { path: shown(), source })?;
    // The declared size is checked against the cap before it sizes anything; what is read is
    // bounded by read_capped whatever the size said (0 for procfs, say).
    let declared = file.metadata().map_or(0, |m| m.len());
    if declared > cap as u64 {
        return Err(KmodError::TooLarge { path: shown(), what, cap_mib: cap >> 20 });
    }
    let mut bytes = Vec::new();
    let no_memory = |_| KmodError::Read { path: shown(), source: std::io::ErrorKind::OutOfMemory.into() };
    bytes.try_reserve_exact(usize::try_from(declared).unwrap_or(cap)).map_err(no_memory)?;
    read_capped(file, path, what, cap, &mut bytes)?;
    String::from_utf8(bytes).map_err(|e| KmodError::Read {
        path: shown(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
    })
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as the four index files (split at
/// `\x01`: modules.dep, .alias, .softdep, .builtin), then a plan and lookups in the index;
/// never panics.
pub fn fuzz_one(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\u{1}');
    let mut part = || parts.next().unwrap_or("");
    let (dep, alias, softdep, builtin) = (part(), part(), part(), part());
    let mut ix = ModuleIndex::from_text(Path::new("/m"), dep, alias, softdep, builtin);
    ix.add_modprobe_conf(softdep);
    let names: Vec<String> = dep.lines().take(16).filter_map(|l| l.split(':').next()).map(name_of_path).collect();
    let _ = plan(&ix, &names, &std::collections::HashSet::new());
    for l in alias.lines().take(8) {
        let _ = ix.lookup(l);
    }
    // One pattern against one modalias, as `lookup` matches them: whole files against each
    // other spent seconds in fnmatch's quadratic backtracking, which PID 1 never does.
    for (pattern, text) in alias.lines().zip(dep.lines()).take(8) {
        let _ = glob_match(pattern.as_bytes(), text.as_bytes());
    }
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

    /// An endless source (a device, a FIFO, a lying size) ends at the cap, with the cap named.
    #[test]
    fn reads_stop_at_the_cap() {
        let mut out = b"head".to_vec();
        let err = read_capped(std::io::repeat(b'x'), Path::new("/m/a.ko.xz"), "the module", 1 << 20, &mut out);
        let msg = err.unwrap_err().to_string();
        assert_eq!(
            msg,
            "/m/a.ko.xz: the module is larger than 1 MiB, far more than any real one: refused as corrupt or hostile"
        );
        assert_eq!(out.len(), (1 << 20) + 1);
        let mut out = b"head".to_vec();
        read_capped(&[b'x'; 100][..], Path::new("/m/a.ko"), "the module", 104, &mut out).unwrap();
        assert_eq!(out.len(), 104);
    }
}
