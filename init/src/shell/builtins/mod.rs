//! The shell's built-in commands: what a person needs at a broken machine with nothing else in
//! the initramfs. Each says what failed, with the path, and returns a status.

use std::io::Write;

use super::{Io, Shell};
use crate::report;

pub struct Builtin {
    pub name: &'static str,
    pub usage: &'static str,
    pub run: fn(&mut Shell<'_>, &[String], &mut Io) -> i32,
}

/// What the builtins' shared helpers (a device argument resolved, an md array or superblock
/// found) fail on; the command prints it after its name.
#[derive(Debug, thiserror::Error)]
pub(super) enum Error {
    /// A `UUID=`/`LABEL=` argument that is not a device name (as `root=` reads it).
    #[error("{0}")]
    Spec(#[from] crate::root::RootError),
    #[error("no device has {0} (see blkid)")]
    NoDevice(String),
    #[error("{0} is not an md array (cat /proc/mdstat lists them)")]
    NotMd(String),
    #[error("cannot open {path}: {err}")]
    Open { path: String, err: String },
    #[error("cannot tell the size of {path}: {err}")]
    Size { path: String, err: String },
    #[error("{dev}: md superblock {metadata} at byte {offset} refused: {reason}")]
    Refused { dev: String, metadata: String, offset: u64, reason: String },
    #[error("no md superblock detected on {0}")]
    NoSuperblock(String),
}

macro_rules! fail {
    ($io:expr, $status:expr, $($arg:tt)*) => {{
        let _ = writeln!($io.err, $($arg)*);
        return $status;
    }};
}

mod chroot;
mod cryptsetup;
mod disks;
mod files;
mod lang;
mod lvm;
mod mdadm;
mod modules;
mod power;
mod session;
#[cfg(test)]
mod tests;
mod text;

use chroot::*;
use cryptsetup::cryptsetup;
use disks::*;
use files::*;
use lvm::*;
use modules::*;
pub use power::power;
use session::*;

pub const BUILTINS: &[Builtin] = &[
    Builtin { name: "help", usage: "help [NAME]: list the commands, or show how to use one", run: help },
    Builtin { name: "exit", usage: "exit [N]: leave the shell and continue booting (from the point where it stopped); in a subshell or script, end only that", run: lang::exit },
    Builtin { name: "reboot", usage: "reboot [-f]: sync, remount /sysroot read-only, and reboot", run: |_, _, _| power("reboot", None) },
    Builtin { name: "poweroff", usage: "poweroff [-f]: sync, remount /sysroot read-only, and power off", run: |_, _, _| power("poweroff", None) },
    Builtin { name: "halt", usage: "halt [-f]: sync, remount /sysroot read-only, and halt", run: |_, _, _| power("halt", None) },
    Builtin { name: "cd", usage: "cd [DIR]: change directory (default /)", run: cd },
    Builtin { name: "pwd", usage: "pwd: print the current directory", run: pwd },
    Builtin { name: "ls", usage: "ls [-l] [-a] [PATH...]: list directories", run: ls },
    Builtin { name: "cat", usage: "cat [FILE...]: print files (or standard input)", run: cat },
    Builtin { name: "echo", usage: "echo [-n] [WORD...]: print words", run: echo },
    Builtin { name: "mount", usage: "mount: list mounts\nmount [-t TYPE] [-o OPTS] [-r|-w] DEVICE DIR   (DEVICE may be UUID=…, LABEL=…)\nmount -o remount,rw DIR\nmount --bind|--rbind|--move OLD NEW", run: mount },
    Builtin { name: "umount", usage: "umount [-l] [-f] DIR...: unmount (-l: lazily, -f: force)", run: umount },
    Builtin { name: "chroot", usage: "chroot [--no-labels] [DIR [COMMAND [ARG...]]]: run COMMAND (default: the root's shell) with DIR (default /sysroot) as /; /proc /sys /dev /run are bound inside and unmounted after; on an SELinux root, files under /etc and /root that lost their label get it back after (--no-labels: not)", run: chroot },
    Builtin { name: "mkdir", usage: "mkdir [-p] DIR...: make directories", run: mkdir },
    Builtin { name: "touch", usage: "touch FILE...: create files or update their times", run: touch },
    Builtin { name: "rm", usage: "rm [-r] [-f] PATH...: remove files (-r: directories too)", run: rm },
    Builtin { name: "cp", usage: "cp [-r] SOURCE DEST: copy a file (-r: a directory tree)", run: cp },
    Builtin { name: "mv", usage: "mv SOURCE DEST: move or rename", run: mv },
    Builtin { name: "ln", usage: "ln [-s] [-f] TARGET LINK: make a link (-s: symbolic)", run: ln },
    Builtin { name: "dmesg", usage: "dmesg: print the kernel log", run: |_, _, io| {
        let _ = io.out.write_all(report::dmesg().as_bytes());
        0
    } },
    Builtin { name: "modprobe", usage: "modprobe NAME|ALIAS...: load kernel modules with their dependencies", run: modprobe },
    Builtin { name: "lsmod", usage: "lsmod: list loaded kernel modules", run: lsmod },
    Builtin { name: "blkid", usage: "blkid [DEVICE...]: show filesystems, UUIDs and labels", run: blkid },
    Builtin { name: "lsblk", usage: "lsblk: list block devices with sizes and filesystems", run: lsblk },
    Builtin { name: "pvs", usage: "pvs: list LVM physical volumes (the PVs rdbreak has read) and their VG", run: pvs },
    Builtin { name: "lvs", usage: "lvs: list LVM logical volumes of the VGs found, and which are active", run: lvs },
    Builtin { name: "vgscan", usage: "vgscan: read every LVM PV again and list the volume groups", run: vgscan },
    Builtin { name: "vgchange", usage: "vgchange -ay [VG...]: activate the LVs of every VG (or of those named), whatever rd.lvm says", run: vgchange },
    Builtin { name: "mdadm", usage: mdadm::USAGE, run: mdadm::mdadm },
    Builtin { name: "dmsetup", usage: "dmsetup ls | table [NAME] | info [NAME] | remove NAME: device-mapper devices (crypt keys are never shown)", run: dmsetup },
    Builtin { name: "cryptsetup", usage: cryptsetup::USAGE, run: cryptsetup },
    Builtin { name: "sync", usage: "sync: write cached data to disk", run: |_, _, _| {
        rustix::fs::sync();
        0
    } },
    Builtin { name: "sleep", usage: "sleep SECONDS: wait (Ctrl-C interrupts)", run: sleep },
    Builtin { name: "env", usage: "env: print the exported variables", run: env },
    Builtin { name: "export", usage: "export [NAME[=VALUE]...]: give variables to the programs run from here (no operand: list them)", run: lang::export },
    Builtin { name: ":", usage: ": [ARG...]: do nothing, successfully", run: lang::colon },
    Builtin { name: "true", usage: "true: do nothing, successfully", run: lang::colon },
    Builtin { name: "false", usage: "false: do nothing, unsuccessfully", run: lang::false_ },
    Builtin { name: ".", usage: ". FILE [ARG...]: run the commands of FILE in this shell", run: lang::dot },
    Builtin { name: "source", usage: "source FILE [ARG...]: the same as . (as in bash and busybox)", run: lang::dot },
    Builtin { name: "break", usage: "break [N]: leave the innermost (or N) enclosing loops", run: lang::break_ },
    Builtin { name: "continue", usage: "continue [N]: go on with the next round of the innermost (or Nth) loop", run: lang::continue_ },
    Builtin { name: "eval", usage: "eval [ARG...]: run the words as a command", run: lang::eval },
    Builtin { name: "exec", usage: "exec [COMMAND [ARG...]] [REDIRECTION...]: redirections stay for the shell; a COMMAND replaces a subshell, but at the prompt runs as a child (PID 1 is never replaced)", run: |_, _, _| 0 },
    Builtin { name: "readonly", usage: "readonly [NAME[=VALUE]...]: make variables read-only (no operand: list them)", run: lang::readonly },
    Builtin { name: "return", usage: "return [N]: leave a function or . script with status N", run: lang::return_ },
    Builtin { name: "set", usage: "set [-euxfCa] [-o OPTION] [--] [ARG...]: shell options (-o pipefail too) and positional parameters; no operand: list the variables", run: lang::set },
    Builtin { name: "shift", usage: "shift [N]: drop the first N positional parameters", run: lang::shift },
    Builtin { name: "trap", usage: "trap [ACTION CONDITION...]: run ACTION on EXIT or INT (Ctrl-C ending a command); - resets, '' ignores", run: lang::trap },
    Builtin { name: "unset", usage: "unset [-v|-f] NAME...: remove variables (or functions)", run: lang::unset },
    Builtin { name: "local", usage: "local NAME[=VALUE]...: variables that end with the running function", run: lang::local },
    Builtin { name: "command", usage: "command [-v|-V] NAME [ARG...]: run NAME skipping functions, or say what it is", run: lang::command },
    Builtin { name: "type", usage: "type NAME...: say whether each is a keyword, function, builtin or program", run: lang::type_ },
    Builtin { name: "umask", usage: "umask [-S] [MODE]: show or set the file creation mask (octal)", run: lang::umask },
    Builtin { name: "wait", usage: "wait [PID...]: wait for background jobs (all, or those named) and give the last status", run: lang::wait },
    Builtin { name: "kill", usage: "kill [-SIGNAL|-s SIGNAL] PID...: send a signal (default TERM) to processes, or -PGID to a group; kill -l lists the names", run: lang::kill },
    Builtin { name: "getopts", usage: "getopts OPTSTRING NAME [ARG...]: the next option of the arguments, in NAME (OPTIND, OPTARG)", run: lang::getopts },
    Builtin { name: "read", usage: "read [-r] [-p PROMPT] [NAME...]: read a line into variables, split with IFS", run: text::read },
    Builtin { name: "test", usage: "test EXPR: evaluate a condition (-e -f -d -n -z = != -eq -lt …, ! -a -o)", run: text::test },
    Builtin { name: "[", usage: "[ EXPR ]: test EXPR", run: text::bracket },
    Builtin { name: "printf", usage: "printf FORMAT [ARG...]: print formatted (%s %b %c %d %i %u %o %x %X, \\n …)", run: text::printf },
    Builtin { name: "getarg", usage: "getarg KEY[=VALUE]: print the last value of KEY on the command line (status 1 if absent); with =VALUE, test it", run: getarg },
    Builtin { name: "getargs", usage: "getargs KEY[=VALUE]: print every value of KEY; with =VALUE, test whether any matches", run: getargs },
    Builtin { name: "sosreport", usage: "sosreport: write /run/initramfs/rdsosreport.txt again", run: sosreport },
];

/// The language's own builtins: `NAME --help` is theirs to read (`echo --help` stays help).
pub const LANGUAGE: &[&str] = &[
    ":", "true", "false", ".", "source", "break", "continue", "eval", "exec", "readonly", "return", "set", "shift",
    "trap", "unset", "local", "command", "type", "umask", "wait", "kill", "getopts", "read", "test", "[", "printf",
    "exit", "export", "cd", "pwd",
];

pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Candidates for Tab: command names in first position (builtins, then PATH), else paths.
pub fn completions(word: &str, command_position: bool, shell: &Shell<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if command_position && !word.contains('/') {
        out.extend(BUILTINS.iter().map(|b| b.name.to_string()));
        for dir in shell.vars.get("PATH").map_or(super::DEFAULT_PATH, String::as_str).split(':') {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                out.push(e.file_name().to_string_lossy().to_string());
            }
        }
        crate::sort::sort(&mut out);
        out.dedup();
        return out;
    }
    let (dir, prefix) = match word.rfind('/') {
        Some(i) => (&word[..=i], &word[..=i]),
        None => ("./", ""),
    };
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let slash = if e.path().is_dir() { "/" } else { "" };
        out.push(format!("{prefix}{name}{slash}"));
    }
    out
}

/// Splits `-abc` style flags from operands; returns (flags, operands).
pub(super) fn flags(args: &[String]) -> (String, Vec<&String>) {
    let mut f = String::new();
    let mut ops = Vec::new();
    let mut done = false;
    for a in args {
        if !done && a == "--" {
            done = true;
        } else if !done && a.len() > 1 && a.starts_with('-') && !a.starts_with("--") {
            f.push_str(&a[1..]);
        } else {
            ops.push(a);
        }
    }
    (f, ops)
}

pub(super) fn help(_: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    if let Some(name) = args.first() {
        return match find(name) {
            Some(b) => {
                let _ = writeln!(io.out, "{}", b.usage);
                0
            }
            None => fail!(io, 1, "help: no built-in command {name}; other commands run from PATH"),
        };
    }
    let _ = writeln!(io.out, "Built-in commands (NAME --help for details):");
    for b in BUILTINS {
        let _ = writeln!(
            io.out,
            "  {:<10} {}",
            b.name,
            b.usage.lines().next().unwrap_or("").split_once(": ").map_or("", |x| x.1)
        );
    }
    let _ = writeln!(
        io.out,
        "\nPassword reset: mount -o remount,rw /sysroot; chroot /sysroot; passwd; touch /.autorelabel; exit; exit"
    );
    0
}
