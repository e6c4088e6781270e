//! rdbreak-init: a PID 1 for the initramfs that boots like dracut's init and, on `rd.break`,
//! stops in a built-in recovery shell. The library holds every decision so that it can be tested
//! on the host; `main.rs` only wires it to PID 1.

// Every narrowing or sign-changing `as` is a decision: `try_from` with a message, or an
// `#[allow]` that says why the value is in range. (`[lints] workspace = true` cannot be
// extended per crate, so they are on here and in main.rs.)
#![warn(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_possible_wrap, clippy::cast_lossless)]

pub mod ask;
pub mod boot;
pub mod bytes;
pub mod cmdline;
pub mod devices;
pub mod elf;
pub mod format;
pub mod fstab;
pub mod handoff;
pub mod hotplug;
pub mod kmod;
pub mod kmsg;
pub mod mount_root;
pub mod mounts;
pub mod names;
pub mod probe;
pub mod report;
pub mod rescue;
pub mod resume;
pub mod root;
pub mod selinux;
pub mod shell;
pub mod sort;
pub mod stages;
pub mod storage;
pub mod switch_root;
// The one room allowed `unsafe`, each block with its `// SAFETY:` reason.
#[allow(unsafe_code)]
pub mod sys;
pub mod uevent;

/// The stack of PID 1's own threads (module loaders, hotplug). Small on purpose: a default 2 MiB
/// stack can be backed by one transparent huge page, which made PID 1's peak memory jump by
/// 2 MiB now and then; nothing these threads run recurses or keeps large buffers on the stack.
pub(crate) const THREAD_STACK: usize = 256 * 1024;
