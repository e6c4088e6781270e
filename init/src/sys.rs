//! The thin layer over the system calls rustix does not wrap safely. Every `unsafe` of the crate
//! lives here, each with the reason it is sound.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::io::Errno;

/// `MODULE_INIT_COMPRESSED_FILE` (Linux ≥ 5.17); in neither libc nor linux-raw-sys.
const MODULE_INIT_COMPRESSED_FILE: i32 = 4;

fn cstring(s: &str) -> Result<CString, Errno> {
    CString::new(s).map_err(|_| Errno::INVAL)
}

pub fn finit_module(file: &File, params: &str, compressed: bool) -> Result<(), Errno> {
    let flags = if compressed { MODULE_INIT_COMPRESSED_FILE } else { 0 };
    rustix::system::finit_module(file, &cstring(params)?, flags)
}

/// The calling thread at a nice value (on Linux a thread's own, not its process's) until this
/// is dropped, then back at the default, 0, whichever way the work ends: the main thread's
/// children (the shell's commands, the real init) inherit its value. Best effort: the nice value
/// is a share of the CPU, never a condition of the work.
pub struct Niced(());

impl Niced {
    pub fn set(nice: i32) -> Niced {
        let _ = rustix::process::setpriority_process(None, nice);
        Niced(())
    }
}

impl Drop for Niced {
    fn drop(&mut self) {
        let _ = rustix::process::setpriority_process(None, 0);
    }
}

pub fn init_module(image: &[u8], params: &str) -> Result<(), Errno> {
    rustix::system::init_module(image, &cstring(params)?)
}

/// Blocks SIGTTOU and SIGTTIN in PID 1, so that handing the terminal to a child's process group
/// and back (`tcsetpgrp`) never stops us; and SIGINT, so that the threads started after this
/// (hotplug, module loaders) inherit it blocked and a Ctrl-C reaches only the shell's thread,
/// which unblocks it ([`catch_interrupt`]), never a module load. Children start with an empty
/// mask (std resets it; the shell's forks too).
pub fn block_job_control_signals() {
    // SAFETY: sigset_t is plain data initialised by sigemptyset before use; pthread_sigmask only
    // reads the set, and a null old-set pointer is allowed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        libc::sigaddset(&mut set, libc::SIGTTIN);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Makes a command start in its own process group in the foreground of the terminal on fd 0, so
/// Ctrl-C and Ctrl-\ reach it and never PID 1 (with `terminal`); with `root`, it also chroots
/// there first.
pub fn foreground<'a>(cmd: &'a mut Command, root: Option<&str>, terminal: bool) -> &'a mut Command {
    let root = root.map(|r| CString::new(r).unwrap_or_default());
    if terminal {
        cmd.process_group(0);
    }
    // SAFETY: the closure runs in the forked child before exec and only makes raw system calls
    // (sigprocmask, getpid, ioctl, chroot, chdir), all async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTTOU);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if terminal {
                let _ = rustix::termios::tcsetpgrp(rustix::stdio::stdin(), rustix::process::getpid());
            }
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            if let Some(root) = &root {
                rustix::process::chroot(root.as_c_str())?;
                rustix::process::chdir(c"/")?;
            }
            Ok(())
        })
    }
}

/// Replaces PID 1 with the real init. Only returns on failure.
pub fn exec(path: &str, args: &[String], env: &[(String, String)]) -> std::io::Error {
    Command::new(path).arg0(path).args(args).env_clear().envs(env.iter().cloned()).exec()
}

/// Replaces this process with `path`, giving it exactly `argv` (argv[0] included) and `env`
/// (`KEY=VALUE` entries, as the kernel passes them; others are dropped). std resets the signal
/// mask and SIGPIPE on the way, so the new program starts as the kernel would have started it.
/// Only returns on failure.
pub fn exec_os(path: &str, argv: &[OsString], env: &[OsString]) -> std::io::Error {
    use std::os::unix::ffi::OsStrExt;
    let mut cmd = Command::new(path);
    if let Some((first, rest)) = argv.split_first() {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    for e in env {
        let bytes = e.as_bytes();
        if let Some(eq) = bytes.iter().position(|b| *b == b'=').filter(|&i| i > 0) {
            cmd.env(std::ffi::OsStr::from_bytes(&bytes[..eq]), std::ffi::OsStr::from_bytes(&bytes[eq + 1..]));
        }
    }
    cmd.exec()
}

/// Forks; the child gets `Ok(None)`. Refused (EBUSY) unless this process has one thread, so
/// that the child may allocate: no lock can be held by a thread the child does not have.
pub fn fork_single_threaded() -> Result<Option<rustix::process::Pid>, Errno> {
    let one_thread = || {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status.lines().any(|l| l.split_whitespace().eq(["Threads:", "1"]))
    };
    // A thread just joined is counted until the kernel has finished its exit, a moment later.
    let mut tries = 0;
    while !one_thread() {
        tries += 1;
        if tries > 100 {
            return Err(Errno::BUSY);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // SAFETY: one thread (checked above), so the child's memory has no lock held by anyone.
    match unsafe { libc::fork() } {
        -1 => Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)),
        0 => Ok(None),
        pid => Ok(rustix::process::Pid::from_raw(pid)),
    }
}

/// Forks for the shell. The child may run the interpreter (and allocate: musl's and glibc's
/// malloc are fork-safe), so the caller holds, around this call, every lock the child may take
/// (stdout, stderr, the kernel log's): no other thread can hold one at the moment of the fork.
pub fn fork() -> Result<Option<rustix::process::Pid>, Errno> {
    // SAFETY: fork has no memory-safety preconditions; the child's use of locks is made sound
    // by the caller holding them (above), and the child never returns into the parent's frames
    // (it ends with `exit_child`).
    match unsafe { libc::fork() } {
        -1 => Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)),
        0 => Ok(None),
        pid => Ok(rustix::process::Pid::from_raw(pid)),
    }
}

/// Makes descriptor `target` (0-9, the shell's redirections) a copy of `src`, leaving it open
/// across exec. `target` may be a number nothing owns yet, which rustix cannot name safely.
pub fn dup_onto(src: std::os::fd::BorrowedFd<'_>, target: i32) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let src = src.as_raw_fd();
    if !(0..=9).contains(&target) {
        return Err(Errno::BADF);
    }
    // SAFETY: dup2 and fcntl take plain integers and touch no memory. Only descriptors 0-9 are
    // replaced, which the shell owns (the caller refuses those PID 1's log holds).
    let r = unsafe {
        if src == target {
            libc::fcntl(target, libc::F_SETFD, 0)
        } else {
            libc::dup2(src, target)
        }
    };
    if r < 0 {
        return Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO));
    }
    Ok(())
}

/// A close-on-exec copy of descriptor `fd` (0-9), numbered `min` or above.
pub fn dup_above(fd: i32, min: i32) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::FromRawFd;
    if !(0..=9).contains(&fd) {
        return Err(Errno::BADF);
    }
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes integers; on success it returns a new descriptor
    // that nothing else owns, so the OwnedFd made from it is its only owner.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if r < 0 {
        return Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO));
    }
    // SAFETY: see above: `r` is a fresh descriptor owned by no one else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(r) })
}

/// Closes descriptor `fd` (0-9) for `n>&-`.
pub fn close_fd(fd: i32) {
    if (0..=9).contains(&fd) {
        // SAFETY: close takes an integer; only the shell's own descriptors 0-9 are closed.
        unsafe {
            libc::close(fd);
        }
    }
}

/// Whether descriptor `fd` is open.
pub fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD reads the descriptor's flags and changes nothing.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// In a forked child of the shell: the job-control and interrupt signals back to their
/// defaults, none blocked (PID 1 blocks SIGTTOU/SIGTTIN, std ignores SIGPIPE).
pub fn child_signals_default() {
    // SAFETY: signal() with SIG_DFL installs no handler code; sigset_t is plain data initialised
    // by sigemptyset, and a null old-set pointer is allowed.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU, libc::SIGPIPE] {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// In a background job of a shell without job control: SIGINT and SIGQUIT ignored (XCU 2.11),
/// so a Ctrl-C meant for the foreground never ends it.
pub fn ignore_interrupts() {
    // SAFETY: signal() with SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Catches SIGINT in the interactive shell's thread (and unblocks it there only), so Ctrl-C
/// while the shell itself runs a loop of builtins ends that loop (PID 1 would otherwise never
/// see it). Children get the default back.
pub fn catch_interrupt() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe); sigaction is given a
    // fully initialised struct, and SA_RESTART keeps system calls from failing with EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Whether Ctrl-C came since the last call.
pub fn interrupted() -> bool {
    INTERRUPTED.swap(false, std::sync::atomic::Ordering::Relaxed)
}

/// Replaces this (forked) process with `path`, with exactly `argv` and `env`. Only returns on
/// failure. Never called in PID 1 itself.
pub fn exec_argv(path: &str, argv: &[String], env: &[(String, String)]) -> std::io::Error {
    let mut cmd = Command::new(path);
    if let Some((first, rest)) = argv.split_first() {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear().envs(env.iter().cloned()).exec()
}

/// Ends a forked child at once, without the parent's exit handlers or buffers.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}

/// `sizeof(struct dm_ioctl)` (include/uapi/linux/dm-ioctl.h): the header at the start of every
/// device-mapper ioctl buffer.
pub const DM_IOCTL_SIZE: usize = 312;
/// Byte offset of `data_size` in `struct dm_ioctl`.
const DM_DATA_SIZE_AT: usize = 12;

/// One device-mapper ioctl (`DM_*_CMD` number `nr`) on `/dev/mapper/control`. `buf` is a whole
/// `struct dm_ioctl` plus payload; storage::dm encodes and decodes it.
struct DmCall<'a> {
    opcode: rustix::ioctl::Opcode,
    buf: &'a mut [u8],
}

// SAFETY: the kernel reads and writes the buffer only within `data_size` bytes (copy_params,
// then copy_to_user of at most the input `data_size`), and `dm_ioctl` below makes sure that
// field never exceeds the buffer's length. The opcode is `_IOWR(0xfd, nr, struct dm_ioctl)`, the
// device-mapper group, so no other driver's ioctl can be reached on this fd.
unsafe impl rustix::ioctl::Ioctl for DmCall<'_> {
    type Output = ();
    const IS_MUTATING: bool = true;
    fn opcode(&self) -> rustix::ioctl::Opcode {
        self.opcode
    }
    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        self.buf.as_mut_ptr().cast()
    }
    unsafe fn output_from_ptr(_: rustix::ioctl::IoctlOutput, _: *mut std::ffi::c_void) -> rustix::io::Result<()> {
        Ok(())
    }
}

/// Issues device-mapper command `nr` with `buf` (at least a `struct dm_ioctl`, whose
/// `data_size` must equal the buffer's length). Refuses (EINVAL) a buffer that breaks either.
pub fn dm_ioctl(control: &File, nr: u8, buf: &mut [u8]) -> Result<(), Errno> {
    let declared =
        buf.get(DM_DATA_SIZE_AT..DM_DATA_SIZE_AT + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize);
    if buf.len() < DM_IOCTL_SIZE || declared != Some(buf.len()) {
        return Err(Errno::INVAL);
    }
    let opcode = rustix::ioctl::opcode::read_write::<[u8; DM_IOCTL_SIZE]>(0xfd, nr);
    // SAFETY: see `DmCall`: the length checked above bounds what the kernel touches, and `buf`
    // is exclusively borrowed for the duration of the call.
    unsafe { rustix::ioctl::ioctl(control, DmCall { opcode, buf }) }
}

/// Asks for transparent huge pages under `spare` (the unwritten capacity of a large buffer)
/// before its first write: `MADV_HUGEPAGE`, for the kernel's THP `madvise` mode (Debian's
/// default). Argon2 reads its hundreds of MiB at random, and 4 KiB pages make most of those reads
/// TLB misses. A hint: when it fails the pages are small, as before.
pub fn advise_huge_pages<T>(spare: &mut [std::mem::MaybeUninit<T>]) -> Result<(), Errno> {
    const PAGE: usize = 4096;
    let start = spare.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(spare);
    let (first, last) = (start.next_multiple_of(PAGE), end / PAGE * PAGE);
    if last <= first {
        return Ok(());
    }
    // SAFETY: MADV_HUGEPAGE neither reads nor writes memory nor changes what is mapped; it marks
    // the range's mapping as wanting huge pages. The page-aligned range lies inside `spare`, which
    // this call borrows exclusively, so no other mapping is affected.
    unsafe { rustix::mm::madvise(first as *mut std::ffi::c_void, last - first, rustix::mm::Advice::LinuxHugepage) }
}

/// Keeps the pages holding `buf` in RAM (never written to swap): for key material. Best
/// effort; the pages stay locked until the memory is returned to the kernel.
pub fn mlock(buf: &[u8]) -> Result<(), Errno> {
    if buf.is_empty() {
        return Ok(());
    }
    // SAFETY: mlock(2) neither reads nor writes the memory, it only pins the pages the range
    // covers; the range is a live borrowed slice, so every page in it is mapped.
    unsafe { rustix::mm::mlock(buf.as_ptr() as *mut std::ffi::c_void, buf.len()) }
}
