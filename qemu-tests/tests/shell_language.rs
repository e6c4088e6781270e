//! The POSIX shell language at the `rd.break` prompt, typed at the serial console: pipelines
//! into programs, globs over /dev and /sysroot, a loop over /sys/block, command substitution
//! feeding `mount`, a here-document written into /sysroot, Ctrl-C on a loop of builtins; then
//! the walk-through and `exit` to the real init.

#![forbid(unsafe_code)]

use rdbreak_qemu_tests::outcome::REPORT;
use rdbreak_qemu_tests::shell::Shell;
use rdbreak_qemu_tests::{disk, Root, Scenario};

const UUID: &str = "5b0e7c3a-61d4-4f0b-9a8e-2c3d4e5f6a7b";
const PASSWORD: &str = "Rdbreak-Shell-2026!";

/// What a command printed, with the console's `\r\n` as `\n`.
fn run(sh: &mut Shell<'_>, cmd: &str) -> String {
    sh.run(cmd).replace('\r', "")
}

#[test]
fn the_language_at_the_break_prompt() {
    let s = Scenario::new("shell_language")
        .root(Root::recovery(UUID).label("recovery"))
        .quiet()
        .append(&format!("root=UUID={UUID} ro rd.break"));
    let mut vm = s.boot();
    vm.expect("Break before switch_root", 240);
    let mut sh = vm.at_prompt("switch_root:/# ", 30);

    // Arithmetic, parameter expansion, a function with a local.
    assert!(run(&mut sh, "echo $((6*7)) ${PATH%%:*}").contains("42 /usr/sbin"));
    assert!(run(&mut sh, "f() { local n=$1; echo \"n=$n\"; }; f 5; echo \"[${n-unset}]\"").contains("n=5\n[unset]"));

    // Pipelines into programs of the real root (the image need not have grep).
    let out = run(&mut sh, "dmesg | chroot /sysroot grep -q 'Linux version' && echo kernel-log-ok");
    assert!(out.contains("kernel-log-ok"), "{out}");
    let out = run(&mut sh, "lsblk | chroot /sysroot grep -c vda");
    // (chroot's note that /sysroot is read-only comes first, on stderr)
    assert!(out.lines().last().and_then(|l| l.trim().parse::<u32>().ok()).is_some_and(|n| n >= 1), "{out}");
    let out = run(
        &mut sh,
        "blkid | while read dev rest; do case $rest in *recovery*) echo \"label on ${dev%:}\";; esac; done",
    );
    assert!(out.contains("label on /dev/vda"), "{out}");

    // Globs over /dev and /sysroot/etc; a pattern that matches nothing stays as typed.
    let out = run(&mut sh, "for d in /dev/vd*; do echo \"dev:$d\"; done");
    assert!(out.contains("dev:/dev/vda"), "{out}");
    let out = run(&mut sh, "echo /sysroot/etc/pass*; echo /dev/nothing*");
    assert!(out.contains("/sysroot/etc/passwd") && out.contains("\n/dev/nothing*"), "{out}");

    // A loop over /sys/block with a test and arithmetic.
    let out = run(
        &mut sh,
        "n=0; for b in /sys/block/*; do [ -e \"$b/size\" ] && n=$((n+1)); echo \"blk:${b##*/}\"; done; echo \"count=$n\"",
    );
    assert!(out.contains("blk:vda") && out.contains("count="), "{out}");

    // Command substitution feeding mount: the root's device mounted a second time, read-only.
    let out = run(
        &mut sh,
        "src=$(mount | while read d on m rest; do [ \"$m\" = /sysroot ] && echo \"$d\"; done); echo \"src=$src\"; \
         mkdir -p /mnt/again && mount -o ro \"$src\" /mnt/again && ls /mnt/again/etc/passwd && umount /mnt/again",
    );
    assert!(out.contains("src=/dev/vda") && out.contains("passwd"), "{out}");

    // Remount read-write, then a here-document (over continuation lines) into the root.
    run(&mut sh, "mount -o remount,rw /sysroot");
    sh.send_line("cat > /sysroot/etc/rdbreak-note <<EOF");
    sh.expect("> ", 20);
    sh.send_line("written at the $(echo break) prompt, $((2+3)) lines");
    sh.expect("> ", 20);
    sh.send_line("EOF");
    sh.expect_prompt(30);
    let out = run(&mut sh, "cat /sysroot/etc/rdbreak-note");
    assert!(out.contains("written at the break prompt, 5 lines"), "{out}");

    // Ctrl-C ends a loop the shell runs itself, and a pipeline; PID 1 stays.
    sh.interrupt("while :; do :; done", 2, b"\x03", 20);
    sh.interrupt("sleep 600 | cat", 2, b"\x03", 20);
    assert!(run(&mut sh, "echo alive $$").contains("alive 1"));

    // The walk-through, then `exit` to the real init.
    let mut chroot = sh.passwd_in_chroot(PASSWORD);
    chroot.send_line("exit");
    sh.expect_prompt(30);
    sh.send_line("exit");
    vm.expect(REPORT, 120);
    vm.powered_off();

    disk::ext4_settle(s.image(0));
    let note = disk::ext4_read(s.image(0), "/etc/rdbreak-note").expect("the here-document's file on the disk");
    assert_eq!(note, "written at the break prompt, 5 lines\n");
}
