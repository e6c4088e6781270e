//! The VM test harness: real Debian kernel, real dracut, real disk images, QEMU under TCG, and
//! the serial console driven like a person would. Scenarios live in `tests/`, written with
//! [`Scenario`].

pub mod assets;
pub mod builder;
pub mod disk;
pub mod grub;
pub mod kernel_modules;
pub mod layouts;
pub mod lvm_disk;
pub mod outcome;
pub mod qemu;
pub mod scenario;
pub mod screen;
pub mod shell;
pub mod tpm;
pub mod trixie;
pub mod uefi;
pub mod vm;

pub use assets::{Assets, Modules};
pub use outcome::Report;
pub use qemu::{Config, Console, Disk, Interface};
pub use scenario::{Initrd, Root, Scenario, TreeKind};
pub use shell::Shell;
pub use vm::Vm;

/// A per-test scratch directory under target/, emptied first.
pub fn workdir(name: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/qemu-work").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create work dir");
    d
}
