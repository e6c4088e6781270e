//! A shell prompt on the console as a scope: once a prompt is seen (`switch_root:/# `,
//! `dracut:/# `, a chroot's `# `), commands are typed at it and their output read back up to the
//! next one, the way a person works at a prompt.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::vm::Vm;

/// The console, at a prompt. Derefs to the [`Vm`] for anything else (typing raw keys, waiting
/// for a message, leaving with `exit`).
pub struct Shell<'v> {
    vm: &'v mut Vm,
    prompt: String,
    before: String,
}

impl Vm {
    /// Waits for `prompt` and returns the console scoped to it.
    pub fn at_prompt(&mut self, prompt: &str, secs: u64) -> Shell<'_> {
        let before = self.expect(prompt, secs);
        Shell { vm: self, prompt: prompt.into(), before }
    }

    /// Waits for `question` (a password or passphrase prompt, which does not echo) and types
    /// `reply` with Enter.
    pub fn answer(&mut self, question: &str, reply: &str, secs: u64) {
        self.expect(question, secs);
        self.send_line(reply);
    }
}

impl Shell<'_> {
    /// What the console printed before the prompt showed, the prompt included.
    pub fn before(&self) -> &str {
        &self.before
    }

    /// Types `cmd`, waits up to 30 s for the prompt to come back, and returns what the command
    /// printed: the text after the line the shell echoed, without the prompt.
    pub fn run(&mut self, cmd: &str) -> String {
        self.run_within(cmd, 30)
    }

    /// [`run`](Self::run) with another timeout.
    pub fn run_within(&mut self, cmd: &str, secs: u64) -> String {
        self.vm.send_line(cmd);
        let text = self.vm.expect(&self.prompt, secs);
        output(&text, &self.prompt)
    }

    /// Waits for this prompt to show again (after a line typed by hand, or an interrupted
    /// command); returns the text up to it.
    pub fn expect_prompt(&mut self, secs: u64) -> String {
        self.vm.expect(&self.prompt, secs)
    }

    /// Types `cmd`, lets it run `after_secs` (host time), presses `key` (`\x03` for Ctrl-C) and
    /// waits for the prompt: the key must end the command and leave the shell.
    pub fn interrupt(&mut self, cmd: &str, after_secs: u64, key: &[u8], secs: u64) -> String {
        self.vm.send_line(cmd);
        std::thread::sleep(Duration::from_secs(after_secs));
        self.vm.send(key);
        self.expect_prompt(secs)
    }

    /// Types `cmd`, which starts another shell (`chroot /sysroot`), and waits for its prompt.
    pub fn enter(&mut self, cmd: &str, prompt: &str, secs: u64) -> Shell<'_> {
        self.vm.send_line(cmd);
        self.vm.at_prompt(prompt, secs)
    }

    /// `chroot /sysroot`, then `passwd` with both of its prompts answered: the chroot's shell,
    /// at its prompt again.
    pub fn passwd_in_chroot(&mut self, password: &str) -> Shell<'_> {
        let mut chroot = self.enter("chroot /sysroot", "# ", 60);
        chroot.send_line("passwd");
        chroot.answer("New password:", password, 60);
        chroot.answer("Retype new password:", password, 30);
        chroot.expect("password updated successfully", 60);
        chroot.expect_prompt(30);
        chroot
    }

    /// The seed's walk-through from this `switch_root:/# ` prompt: remount, chroot, passwd
    /// (both prompts), touch /.autorelabel, exit, exit; then the test root's init reports.
    pub fn password_reset(&mut self, password: &str) {
        self.password_reset_then_boot(password);
        self.expect(crate::outcome::REPORT, 120);
    }

    /// The walk-through up to the last `exit`, which continues the boot into whatever init the
    /// root has.
    pub fn password_reset_then_boot(&mut self, password: &str) {
        self.run("mount -o remount,rw /sysroot");
        let mut chroot = self.passwd_in_chroot(password);
        chroot.run("touch /.autorelabel");
        chroot.send_line("exit");
        self.expect_prompt(30);
        self.send_line("exit");
    }
}

impl Deref for Shell<'_> {
    type Target = Vm;
    fn deref(&self) -> &Vm {
        self.vm
    }
}

impl DerefMut for Shell<'_> {
    fn deref_mut(&mut self) -> &mut Vm {
        self.vm
    }
}

/// The output in what `expect` returned for a typed command: after the echoed line (the first
/// line end), before the prompt.
fn output(text: &str, prompt: &str) -> String {
    let body = text.strip_suffix(prompt).unwrap_or(text);
    body.split_once('\n').map_or("", |(_, rest)| rest).to_string()
}
