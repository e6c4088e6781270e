//! The executor: runs the syntax tree. Lists, and-or lists and compound commands run in the
//! shell; each stage of a pipeline of several, each `( … )`, each `&` and each `$(…)` runs in a
//! forked child, so `exit` there leaves only the child and nothing in it can end PID 1.
//! Redirections act on the real file descriptors 0–9, saved and restored around a command.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};

use rustix::process::{Pid, WaitOptions};

use super::expand::{self, Env};
use super::parse;
use super::pattern::Pattern;
use super::syntax::*;
use super::{builtins, read_script, Flow, Io, Kind, Shell, SPECIAL};
use crate::sys;

/// The process group a forked child of the interactive shell goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Its own (a job).
    Own,
    /// The first stage's (a pipeline).
    Join(Pid),
    /// The shell's (a command substitution, which Ctrl-C at the prompt must reach).
    Keep,
}

/// A file descriptor saved before a redirection replaced it.
pub struct Saved {
    fd: i32,
    copy: Option<OwnedFd>,
}

impl Shell<'_> {
    /// Parses and runs `src` one complete command at a time (as dash does, so a syntax error
    /// late in a script comes after the commands before it ran). Returns the status.
    pub fn run_source(&mut self, src: &str) -> i32 {
        let mut cmds = parse::commands(src);
        loop {
            match cmds.next_command() {
                Ok(None) => break,
                Ok(Some(list)) => {
                    self.run_list(&list);
                    if self.flow.is_some() {
                        break;
                    }
                }
                Err(e) => {
                    self.error(2, &e.to_string());
                    if !self.interactive {
                        self.flow = Some(Flow::Exit);
                    }
                    break;
                }
            }
        }
        self.status
    }

    pub fn run_list(&mut self, list: &List) -> i32 {
        for item in list {
            if self.interactive && sys::interrupted() {
                let _ = writeln!(Io::console().err);
                self.status = 130;
                self.flow = Some(Flow::Abort);
            }
            if self.flow.is_some() {
                break;
            }
            if item.background {
                self.background(&item.and_or);
            } else {
                self.run_and_or(&item.and_or);
            }
        }
        self.status
    }

    fn background(&mut self, ao: &AndOr) {
        match self.fork() {
            Ok(None) => {
                let job_control = self.interactive;
                self.become_child(Group::Own, false);
                if !job_control {
                    sys::ignore_interrupts();
                }
                if let Ok(null) = std::fs::File::open("/dev/null") {
                    let _ = sys::dup_onto(null.as_fd(), 0);
                }
                let st = self.run_and_or(ao);
                self.child_exit(st)
            }
            Ok(Some(pid)) => {
                if self.interactive {
                    let _ = rustix::process::setpgid(Some(pid), Some(pid));
                    let _ = writeln!(Io::console().err, "[{}] {}", self.jobs.len() + 1, pid.as_raw_nonzero());
                }
                self.last_bg = Some(pid.as_raw_nonzero().get());
                if self.jobs.len() >= 1000 {
                    // Jobs nobody waited for: keep the running ones and the last finished.
                    self.reap_jobs();
                    self.jobs.retain(|(_, done)| done.is_none());
                }
                self.jobs.push((pid, None));
                self.status = 0;
            }
            Err(e) => {
                self.error(1, &e);
            }
        }
    }

    fn run_and_or(&mut self, ao: &AndOr) -> i32 {
        let last_is_first = ao.rest.is_empty();
        if !last_is_first {
            self.errexit_off += 1;
        }
        let mut st = self.run_pipeline(&ao.first);
        if !last_is_first {
            self.errexit_off -= 1;
        }
        let mut ran_last = last_is_first;
        let mut bang = ao.first.bang;
        for (i, (join, p)) in ao.rest.iter().enumerate() {
            if self.flow.is_some() {
                return self.status;
            }
            let run = match join {
                Join::And => st == 0,
                Join::Or => st != 0,
            };
            if !run {
                continue;
            }
            let last = i + 1 == ao.rest.len();
            if !last {
                self.errexit_off += 1;
            }
            st = self.run_pipeline(p);
            if !last {
                self.errexit_off -= 1;
            }
            ran_last = last;
            bang = p.bang;
        }
        if st != 0 && ran_last && !bang && self.opts.errexit && self.errexit_off == 0 && self.flow.is_none() {
            self.flow = Some(Flow::Exit);
        }
        st
    }

    fn run_pipeline(&mut self, p: &Pipeline) -> i32 {
        if p.bang {
            self.errexit_off += 1;
        }
        let st = if p.commands.len() == 1 {
            match &p.commands[0] {
                Command::Compound(Compound::Subshell(_), _) => self.run_stages(&p.commands),
                c => self.run_command(c),
            }
        } else {
            self.run_stages(&p.commands)
        };
        if p.bang {
            self.errexit_off -= 1;
        }
        self.status = if p.bang { i32::from(st == 0) } else { st };
        self.status
    }

    /// Forks one child per command, joined by pipes, and waits for them all.
    fn run_stages(&mut self, commands: &[Command]) -> i32 {
        let mut prev: Option<OwnedFd> = None;
        let mut pids: Vec<Pid> = Vec::new();
        let mut pgid: Option<Pid> = None;
        for (i, cmd) in commands.iter().enumerate() {
            let last = i + 1 == commands.len();
            let pipe = if last {
                None
            } else {
                match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        self.error(1, &format!("cannot make a pipe: {e}"));
                        break;
                    }
                }
            };
            match self.fork() {
                Ok(None) => {
                    self.become_child(pgid.map_or(Group::Own, Group::Join), true);
                    if let Some(r) = prev.take() {
                        let _ = sys::dup_onto(r.as_fd(), 0);
                    }
                    if let Some((r, w)) = pipe {
                        let _ = sys::dup_onto(w.as_fd(), 1);
                        drop((r, w));
                    }
                    // A program that is the whole stage may replace the child; one inside a
                    // brace group, a function or a subshell must not (what follows would not run).
                    self.exec_last = matches!(cmd, Command::Simple(_));
                    let st = self.run_command(cmd);
                    self.child_exit(st)
                }
                Ok(Some(pid)) => {
                    if self.interactive {
                        let group = *pgid.get_or_insert(pid);
                        let _ = rustix::process::setpgid(Some(pid), Some(group));
                        if i == 0 {
                            let _ = rustix::termios::tcsetpgrp(rustix::stdio::stdin(), group);
                        }
                    }
                    pids.push(pid);
                    prev = pipe.map(|(r, _w)| r);
                }
                Err(e) => {
                    self.error(1, &e);
                    break;
                }
            }
        }
        drop(prev);
        let mut status = 0;
        let mut fail = 0;
        for (i, pid) in pids.iter().enumerate() {
            status = super::wait_child(Some(*pid), i + 1 == pids.len());
            if status != 0 {
                fail = status;
            }
        }
        if self.interactive && pgid.is_some() {
            let _ = rustix::termios::tcsetpgrp(rustix::stdio::stdin(), rustix::process::getpgrp());
        }
        if pids.is_empty() {
            return 1;
        }
        let st = if self.opts.pipefail { fail } else { status };
        self.after_foreground(st);
        st
    }

    /// After a foreground job: the INT trap when Ctrl-C ended it.
    fn after_foreground(&mut self, st: i32) {
        if st == 128 + libc::SIGINT {
            if let Some(action) = self.traps.get("INT").cloned().filter(|a| !a.is_empty()) {
                let saved = self.status;
                self.run_nested(&action, "trap");
                self.status = saved;
            }
        }
    }

    /// Forks, holding the locks a child may take, so that no other thread of PID 1 holds one at
    /// the moment of the fork: the hotplug and module-loader threads' state (a child's `lsblk`
    /// or `modprobe` reads it), then the log's, then stdout's and stderr's: outer locks first,
    /// in the order those threads nest them (a loader thread logs holding its state; the log
    /// writes to stderr holding its own).
    pub fn fork(&mut self) -> Result<Option<Pid>, String> {
        let boot = self.boot.as_deref().map(|b| b.hold_for_fork());
        let log = crate::kmsg::LOGGER.hold();
        let out = std::io::stdout();
        let mut out = out.lock();
        let _ = out.flush();
        let err = std::io::stderr();
        let err = err.lock();
        let r = sys::fork();
        drop(err);
        drop(out);
        drop(log);
        drop(boot);
        r.map_err(|e| format!("cannot fork: {e}"))
    }

    /// Runs `f` in a forked child that is the terminal's foreground job; returns its status.
    fn foreground_child(&mut self, f: impl FnOnce(&mut Self) -> i32) -> i32 {
        match self.fork() {
            Ok(None) => {
                self.become_child(Group::Own, true);
                let st = f(self);
                self.child_exit(st)
            }
            Ok(Some(pid)) => {
                if self.interactive {
                    let _ = rustix::process::setpgid(Some(pid), Some(pid));
                    let _ = rustix::termios::tcsetpgrp(rustix::stdio::stdin(), pid);
                }
                let st = super::wait_foreground(Some(pid));
                if self.interactive {
                    let _ = rustix::termios::tcsetpgrp(rustix::stdio::stdin(), rustix::process::getpgrp());
                }
                self.after_foreground(st);
                st
            }
            Err(e) => self.error(1, &e),
        }
    }

    /// What a forked child does first: its own process group (for a foreground job of the
    /// interactive shell, the terminal too), default signals, no traps, not interactive.
    fn become_child(&mut self, group: Group, foreground: bool) {
        if self.interactive {
            match group {
                Group::Own => {
                    let _ = rustix::process::setpgid(None, None);
                }
                Group::Join(pgid) => {
                    let _ = rustix::process::setpgid(None, Some(pgid));
                }
                Group::Keep => {}
            }
            if foreground && group != Group::Keep {
                let _ = rustix::termios::tcsetpgrp(rustix::stdio::stdin(), rustix::process::getpgrp());
            }
        }
        sys::child_signals_default();
        self.interactive = false;
        self.subshell = true;
        self.sink = None;
        self.traps.retain(|_, v| v.is_empty());
        self.jobs.clear();
    }

    /// Ends a forked child: its EXIT trap, then `_exit`.
    pub fn child_exit(&mut self, status: i32) -> ! {
        let status = self.run_exit_trap(status);
        let _ = std::io::stdout().flush();
        sys::exit_child(status)
    }

    /// Runs the EXIT trap once; returns the status to exit with.
    pub fn run_exit_trap(&mut self, status: i32) -> i32 {
        if let Some(action) = self.traps.remove("EXIT").filter(|a| !a.is_empty()) {
            self.flow = None;
            self.status = status;
            self.run_nested(&action, "trap");
            if matches!(self.flow, Some(Flow::Exit)) {
                return self.status;
            }
        }
        status
    }

    /// Runs the text of `eval`, `.` or a trap in this shell, counting the nesting.
    pub fn run_nested(&mut self, src: &str, what: &str) -> i32 {
        if self.depth >= self.limits.depth {
            return self
                .abort(&format!("{what}: nested more than {} levels deep (runaway recursion?)", self.limits.depth));
        }
        self.depth += 1;
        let st = match parse::parse_program(src) {
            Ok(list) => self.run_list(&list),
            Err(e) => {
                self.say(&format!("{what}: {e}"));
                self.status = 2;
                2
            }
        };
        self.depth -= 1;
        st
    }

    pub fn error(&mut self, status: i32, msg: &str) -> i32 {
        let msg = format!("{}: {msg}", self.arg0);
        self.say(&msg);
        self.status = status;
        status
    }

    /// An error that abandons the command line (interactive) or ends the script: expansion
    /// errors, the caps.
    pub fn abort(&mut self, msg: &str) -> i32 {
        self.error(2, msg);
        self.flow = Some(if self.interactive { Flow::Abort } else { Flow::Exit });
        2
    }

    pub fn run_command(&mut self, c: &Command) -> i32 {
        let st = match c {
            Command::Simple(s) => self.run_simple(s),
            Command::Function(name, body) => {
                self.funcs.insert(name.clone(), body.clone());
                0
            }
            Command::Compound(c, redirs) => {
                let saved = match self.redirect(redirs, true) {
                    Ok(s) => s,
                    Err(e) => return self.error(2, &e),
                };
                let st = self.run_compound(c);
                self.restore(saved);
                st
            }
        };
        self.status = st;
        st
    }

    fn run_compound(&mut self, c: &Compound) -> i32 {
        match c {
            Compound::Brace(list) => self.run_list(list),
            Compound::Subshell(list) => self.foreground_child(|sh| sh.run_list(list)),
            Compound::If { branches, otherwise } => {
                for (cond, body) in branches {
                    self.errexit_off += 1;
                    let st = self.run_list(cond);
                    self.errexit_off -= 1;
                    if self.flow.is_some() {
                        return self.status;
                    }
                    if st == 0 {
                        return self.run_list(body);
                    }
                }
                match otherwise {
                    Some(o) => self.run_list(o),
                    None => {
                        self.status = 0;
                        0
                    }
                }
            }
            Compound::Loop { until, cond, body } => self.in_loop(|sh| {
                let mut st = 0;
                loop {
                    sh.errexit_off += 1;
                    let c = sh.run_list(cond);
                    sh.errexit_off -= 1;
                    if sh.loop_flow() || (c == 0) == *until {
                        break st;
                    }
                    st = sh.run_list(body);
                    if sh.loop_flow() {
                        break st;
                    }
                }
            }),
            Compound::For { var, words, body } => {
                let items = match words {
                    Some(w) => match expand::fields(self, w) {
                        Ok(f) => f,
                        Err(e) => return self.abort(&e),
                    },
                    None => self.args.clone(),
                };
                self.in_loop(|sh| {
                    let mut st = 0;
                    for item in items {
                        if let Err(e) = sh.assign(var, &item) {
                            return sh.error(1, &e);
                        }
                        st = sh.run_list(body);
                        if sh.loop_flow() {
                            break;
                        }
                    }
                    st
                })
            }
            Compound::Case { word, arms } => {
                let w = match expand::string(self, word) {
                    Ok(w) => w,
                    Err(e) => return self.abort(&e),
                };
                for arm in arms {
                    for p in &arm.patterns {
                        let pat = match expand::pattern_of(self, p) {
                            Ok(p) => p,
                            Err(e) => return self.abort(&e),
                        };
                        if Pattern::new(&pat).matches(&w) {
                            self.status = 0;
                            return self.run_list(&arm.body);
                        }
                    }
                }
                self.status = 0;
                0
            }
        }
    }

    /// After a loop's condition or body: consumes `break`/`continue` meant for this loop;
    /// true when the loop must end.
    /// Runs a `while`/`until`/`for` loop: `break` and `continue` count it while it runs, and its
    /// status is the shell's after it.
    fn in_loop(&mut self, body: impl FnOnce(&mut Self) -> i32) -> i32 {
        self.loops += 1;
        let st = body(self);
        self.loops -= 1;
        self.status = st;
        st
    }

    fn loop_flow(&mut self) -> bool {
        if self.interactive && sys::interrupted() {
            let _ = writeln!(Io::console().err);
            self.status = 130;
            self.flow = Some(Flow::Abort);
        }
        match self.flow {
            Some(Flow::Break(n)) => {
                self.flow = if n > 1 { Some(Flow::Break(n - 1)) } else { None };
                true
            }
            Some(Flow::Continue(n)) => {
                if n > 1 {
                    self.flow = Some(Flow::Continue(n - 1));
                    true
                } else {
                    self.flow = None;
                    false
                }
            }
            Some(_) => true,
            None => false,
        }
    }

    pub fn lookup(&self, name: &str) -> Kind {
        if SPECIAL.contains(&name) {
            if let Some(b) = builtins::find(name) {
                return Kind::Special(b);
            }
        }
        if let Some(f) = self.funcs.get(name) {
            return Kind::Function(f.clone());
        }
        if let Some(b) = builtins::find(name) {
            return Kind::Builtin(b);
        }
        if name.contains('/') {
            return Kind::External(name.to_string());
        }
        match super::find_in_path(name, self.vars.get("PATH").map_or(super::DEFAULT_PATH, String::as_str)) {
            Some(p) => Kind::External(p),
            None if name == "sh" => Kind::Sh,
            None => Kind::NotFound,
        }
    }

    fn run_simple(&mut self, s: &Simple) -> i32 {
        let exec_last = std::mem::take(&mut self.exec_last);
        self.last_sub = None;
        let words = match self.expand_command_words(&s.words) {
            Ok(w) => w,
            Err(e) => return self.abort(&e),
        };
        let mut assigns = Vec::new();
        for (name, w) in &s.assigns {
            match expand::string(self, w) {
                Ok(v) => assigns.push((name.clone(), v)),
                Err(e) => return self.abort(&e),
            }
        }
        if self.opts.xtrace {
            let mut line: Vec<String> = assigns.iter().map(|(k, v)| format!("{k}={v}")).collect();
            line.extend(words.iter().cloned());
            self.say(&format!("+ {}", line.join(" ")));
        }
        let Some(name) = words.first().cloned() else {
            let saved = match self.redirect(&s.redirs, true) {
                Ok(saved) => saved,
                Err(e) => return self.error(2, &e),
            };
            for (k, v) in &assigns {
                if let Err(e) = self.assign(k, v) {
                    let st = self.abort(&e);
                    self.restore(saved);
                    return st;
                }
            }
            self.restore(saved);
            return self.last_sub.unwrap_or(0);
        };
        if name == "exec" {
            return self.exec(&words[1..], &assigns, &s.redirs);
        }
        let kind = self.lookup(&name);
        let saved = match self.redirect(&s.redirs, true) {
            Ok(s) => s,
            Err(e) => {
                let st = self.error(2, &e);
                if matches!(kind, Kind::Special(_)) && !self.interactive {
                    self.flow = Some(Flow::Exit);
                }
                return st;
            }
        };
        let st = match kind {
            Kind::Special(b) => {
                for (k, v) in &assigns {
                    if let Err(e) = self.assign(k, v) {
                        self.restore(saved);
                        return self.abort(&e);
                    }
                }
                self.builtin(b, &words)
            }
            Kind::Function(body) => {
                let old = self.push_temp(&assigns);
                let st = self.call_function(&name, &body, words[1..].to_vec());
                self.pop_temp(old);
                st
            }
            Kind::Builtin(b) => {
                let old = self.push_temp(&assigns);
                let st = self.builtin(b, &words);
                self.pop_temp(old);
                st
            }
            Kind::External(path) => self.run_external(&path, &words, &assigns, exec_last),
            Kind::Sh => self.builtin_sh(&words[1..]),
            Kind::NotFound => {
                let msg = format!("{}: {name}: command not found (type 'help' for the built-in commands)", self.arg0);
                self.say(&msg);
                127
            }
        };
        self.restore(saved);
        self.status = st;
        st
    }

    /// A command's words. After `export`, `readonly` and `local`, a `NAME=value` operand is
    /// expanded as an assignment (no splitting, no globbing, `~` after `=`), as dash and bash
    /// do: `local v=$x` keeps all of `$x`.
    fn expand_command_words(&mut self, words: &[Word]) -> Result<Vec<String>, String> {
        let declaration =
            words.first().and_then(Word::as_plain).is_some_and(|n| matches!(n, "export" | "readonly" | "local"));
        if !declaration {
            return expand::fields(self, words);
        }
        let mut out = Vec::new();
        for w in words {
            match parse::assignment(w) {
                Some((name, value)) => {
                    let v = expand::string(self, &value)?;
                    out.push(format!("{name}={v}"));
                }
                None => out.extend(expand::fields(self, std::slice::from_ref(w))?),
            }
        }
        Ok(out)
    }

    fn builtin(&mut self, b: &builtins::Builtin, words: &[String]) -> i32 {
        let mut io = match &self.sink {
            Some(sink) if self.std_redirected == 0 => Io::forward(sink),
            _ => Io::console(),
        };
        let st = if words.len() == 2 && words[1] == "--help" && !builtins::LANGUAGE.contains(&b.name) {
            let _ = writeln!(io.out, "{}", b.usage);
            0
        } else {
            (b.run)(self, &words[1..], &mut io)
        };
        let _ = io.out.flush();
        let _ = io.err.flush();
        st
    }

    fn push_temp(&mut self, assigns: &[(String, String)]) -> Vec<(String, Option<String>, bool)> {
        let mut old = Vec::new();
        for (k, v) in assigns {
            if self.readonly.contains(k) {
                continue;
            }
            old.push((k.clone(), self.vars.get(k).cloned(), self.exported.contains(k)));
            self.vars.insert(k.clone(), v.clone());
            self.exported.insert(k.clone());
        }
        old
    }

    fn pop_temp(&mut self, old: Vec<(String, Option<String>, bool)>) {
        for (k, v, exported) in old.into_iter().rev() {
            match v {
                Some(v) => self.vars.insert(k.clone(), v),
                None => self.vars.remove(&k),
            };
            if !exported {
                self.exported.remove(&k);
            }
        }
    }

    pub fn call_function(&mut self, name: &str, body: &Command, args: Vec<String>) -> i32 {
        if self.depth >= self.limits.depth {
            return self.abort(&format!(
                "{name}: functions nested more than {} levels deep (runaway recursion?)",
                self.limits.depth
            ));
        }
        self.depth += 1;
        let old_args = std::mem::replace(&mut self.args, args);
        self.locals.push(Vec::new());
        let st = self.run_command(body);
        let st = match self.flow {
            Some(Flow::Return) => {
                self.flow = None;
                self.status
            }
            _ => st,
        };
        if let Some(frame) = self.locals.pop() {
            for (k, v, exported) in frame.into_iter().rev() {
                match v {
                    Some(v) => self.vars.insert(k.clone(), v),
                    None => self.vars.remove(&k),
                };
                if exported {
                    self.exported.insert(k);
                } else {
                    self.exported.remove(&k);
                }
            }
        }
        self.args = old_args;
        self.depth -= 1;
        self.status = st;
        st
    }

    /// The environment of a program: the exported variables and the command's assignments.
    pub fn environment(&self, assigns: &[(String, String)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(k, _)| self.exported.contains(*k) && !assigns.iter().any(|(a, _)| a == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(assigns.iter().cloned());
        env
    }

    fn run_external(&mut self, path: &str, words: &[String], assigns: &[(String, String)], exec_last: bool) -> i32 {
        if exec_last && self.subshell {
            // The last command of a forked child: become the program.
            let env = self.environment(assigns);
            let e = sys::exec_argv(path, words, &env);
            let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            let _ = writeln!(Io::console().err, "{}: cannot run {path}: {e}", self.arg0);
            self.child_exit(code)
        }
        let saved = std::mem::replace(&mut self.temp_env, assigns.to_vec());
        let mut argv = words.to_vec();
        argv[0] = path.to_string();
        let st = self.external(&argv, Io::inherit(), None);
        self.temp_env = saved;
        self.after_foreground(st);
        st
    }

    /// `exec`: with only redirections, they stay; with a command, it replaces this process
    /// unless that is PID 1, where it runs as a child instead.
    fn exec(&mut self, args: &[String], assigns: &[(String, String)], redirs: &[Redir]) -> i32 {
        if let Err(e) = self.redirect(redirs, false) {
            // A special built-in's error: a script ends, the prompt stays.
            return self.abort(&format!("exec: {e}"));
        }
        let Some(name) = args.first() else {
            for (k, v) in assigns {
                if let Err(e) = self.assign(k, v) {
                    return self.abort(&e);
                }
            }
            return 0;
        };
        let path = match self.lookup(name) {
            Kind::External(p) => p,
            Kind::NotFound | Kind::Sh => {
                return self.error(127, &format!("exec: {name}: not found"));
            }
            _ => {
                // A built-in or function: run it, then leave as exec would.
                let st = self.run_words(args, assigns);
                self.flow = Some(Flow::Exit);
                return st;
            }
        };
        if !exec_replaces(rustix::process::getpid().is_init(), self.subshell) {
            let _ = writeln!(
                Io::console().err,
                "exec: PID 1 is never replaced: {name} runs as a child, and the shell stays when it ends"
            );
            return self.run_external(&path, args, assigns, false);
        }
        let env = self.environment(assigns);
        let e = sys::exec_argv(&path, args, &env);
        self.error(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 }, &format!("exec: {name}: {e}"))
    }

    /// Runs already expanded words as a command (for `exec`, `command`).
    pub fn run_words(&mut self, words: &[String], assigns: &[(String, String)]) -> i32 {
        let Some(name) = words.first() else { return 0 };
        match self.lookup(name) {
            Kind::Special(b) | Kind::Builtin(b) => self.builtin(b, words),
            Kind::Function(body) => {
                let old = self.push_temp(assigns);
                let st = self.call_function(name, &body, words[1..].to_vec());
                self.pop_temp(old);
                st
            }
            Kind::External(p) => self.run_external(&p, words, assigns, false),
            Kind::Sh => self.builtin_sh(&words[1..]),
            Kind::NotFound => self.error(127, &format!("{name}: command not found")),
        }
    }

    /// `sh -c TEXT [NAME [ARG…]]`, `sh FILE [ARG…]`, or `sh` reading its input: in a child.
    pub fn builtin_sh(&mut self, args: &[String]) -> i32 {
        let (src, arg0, rest) = match args.first().map(String::as_str) {
            Some("-c") => match args.get(1) {
                Some(text) => (text.clone(), args.get(2).cloned(), args.get(3..).unwrap_or_default().to_vec()),
                None => return self.error(2, "sh: -c needs a command string"),
            },
            Some(file) => match read_script(file) {
                Ok(text) => (text, Some(file.to_string()), args[1..].to_vec()),
                Err(e) => return self.error(127, &format!("sh: {e}")),
            },
            None => {
                let mut text = Vec::new();
                let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut text);
                (String::from_utf8_lossy(&text).to_string(), None, Vec::new())
            }
        };
        self.foreground_child(move |sh| {
            sh.funcs.clear();
            sh.vars.retain(|k, _| sh.exported.contains(k));
            sh.arg0 = arg0.unwrap_or_else(|| "sh".into());
            sh.args = rest;
            sh.depth = 0;
            sh.run_source(&src)
        })
    }

    /// `$(…)`: the list's output, read from a pipe from a child, at most `limits.subst` bytes.
    pub fn command_sub(&mut self, list: &List) -> Result<String, String> {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| format!("cannot make a pipe: {e}"))?;
        match self.fork()? {
            None => {
                drop(r);
                // In the shell's own process group: Ctrl-C at the prompt reaches it.
                self.become_child(Group::Keep, false);
                let _ = sys::dup_onto(w.as_fd(), 1);
                drop(w);
                let st = self.run_list(list);
                self.child_exit(st)
            }
            Some(pid) => {
                drop(w);
                let mut out = Vec::new();
                let mut buf = [0u8; 8192];
                let mut over = false;
                loop {
                    match rustix::io::read(&r, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if out.len() + n > self.limits.subst {
                                over = true;
                                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                                break;
                            }
                            out.extend_from_slice(&buf[..n]);
                        }
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(_) => break,
                    }
                }
                drop(r);
                let st = super::wait_foreground(Some(pid));
                if over {
                    return Err(format!(
                        "command substitution output larger than {} bytes; write it to a file instead",
                        self.limits.subst
                    ));
                }
                self.last_sub = Some(st);
                self.status = st;
                Ok(String::from_utf8_lossy(&out).to_string())
            }
        }
    }

    /// Applies redirections to the real descriptors; with `save`, returns how to undo them.
    pub fn redirect(&mut self, redirs: &[Redir], save: bool) -> Result<Vec<Saved>, String> {
        let mut saved: Vec<Saved> = Vec::new();
        for r in redirs {
            if let Err(e) = self.redirect_one(r, save, &mut saved) {
                self.restore(saved);
                return Err(e);
            }
        }
        Ok(saved)
    }

    fn redirect_one(&mut self, r: &Redir, save: bool, saved: &mut Vec<Saved>) -> Result<(), String> {
        let fd = r.fd;
        if !(0..=9).contains(&fd) {
            return Err(format!("{fd}: file descriptors above 9 are not available to redirections"));
        }
        // In PID 1, descriptors 3-9 the shell did not open belong to init (its log, the
        // uevent socket, a file another thread reads): never replace those.
        if fd > 2 && self.pid == 1 && !self.subshell && !self.user_fds.contains(&fd) && sys::fd_is_open(fd) {
            return Err(format!("{fd}: this descriptor is in use by init; use another of 3-9"));
        }
        if !save {
            self.user_fds.insert(fd);
        }
        let target = match r.op {
            RedirOp::HereDoc { .. } => String::new(),
            _ => expand::string(self, &r.target)?,
        };
        if save && !saved.iter().any(|s| s.fd == fd) {
            saved.push(Saved { fd, copy: sys::dup_above(fd, 10).ok() });
            if fd <= 2 {
                self.std_redirected += 1;
            }
        }
        let open = |opts: &mut std::fs::OpenOptions| -> Result<OwnedFd, String> {
            opts.open(&target).map(OwnedFd::from).map_err(|e| format!("{target}: {e}"))
        };
        use std::os::unix::fs::OpenOptionsExt;
        let file = match r.op {
            RedirOp::In => open(std::fs::OpenOptions::new().read(true))?,
            RedirOp::Out | RedirOp::Clobber => {
                if r.op == RedirOp::Out && self.opts.noclobber && std::fs::metadata(&target).is_ok_and(|m| m.is_file())
                {
                    return Err(format!("{target}: file exists (set -C; use >| to overwrite)"));
                }
                open(std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o666))?
            }
            RedirOp::Append => open(std::fs::OpenOptions::new().append(true).create(true).mode(0o666))?,
            RedirOp::ReadWrite => open(std::fs::OpenOptions::new().read(true).write(true).create(true).mode(0o666))?,
            RedirOp::DupIn | RedirOp::DupOut => {
                if target == "-" {
                    sys::close_fd(fd);
                    return Ok(());
                }
                let Some(src) = target.parse::<i32>().ok().filter(|n| (0..=9).contains(n)) else {
                    return Err(format!("{target}: not a file descriptor (0-9 or -)"));
                };
                if src == fd {
                    return Ok(());
                }
                let copy = sys::dup_above(src, 10).map_err(|_| format!("{src}: bad file descriptor"))?;
                copy
            }
            RedirOp::HereDoc { .. } => {
                let body = expand::string(self, &r.target)?;
                let mem = rustix::fs::memfd_create("here-document", rustix::fs::MemfdFlags::CLOEXEC)
                    .map_err(|e| format!("cannot hold a here-document: {e}"))?;
                let mut f = std::fs::File::from(mem);
                f.write_all(body.as_bytes()).map_err(|e| format!("cannot hold a here-document: {e}"))?;
                std::io::Seek::rewind(&mut f).map_err(|e| e.to_string())?;
                OwnedFd::from(f)
            }
        };
        sys::dup_onto(file.as_fd(), fd).map_err(|e| format!("{fd}: {e}"))?;
        if file.as_raw_fd() == fd {
            // Opened as that very number: it stays open as the redirection.
            let _ = file.into_raw_fd();
        }
        Ok(())
    }

    pub fn restore(&mut self, saved: Vec<Saved>) {
        for s in saved.into_iter().rev() {
            match s.copy {
                Some(c) => {
                    let _ = sys::dup_onto(c.as_fd(), s.fd);
                }
                None => sys::close_fd(s.fd),
            }
            if s.fd <= 2 {
                self.std_redirected = self.std_redirected.saturating_sub(1);
            }
        }
    }

    /// Sets a variable (not readonly ones); a local of the running function is recorded.
    pub fn assign(&mut self, name: &str, value: &str) -> Result<(), String> {
        if self.readonly.contains(name) {
            return Err(format!("{name}: is read only"));
        }
        if !is_name(name) {
            return Err(format!("{name}: not a valid variable name"));
        }
        if value.len() > self.limits.value {
            return Err(format!(
                "{name}: a value of {} bytes is more than a variable may hold ({})",
                value.len(),
                self.limits.value
            ));
        }
        self.vars.insert(name.to_string(), value.to_string());
        if self.opts.allexport {
            self.exported.insert(name.to_string());
        }
        Ok(())
    }

    /// `wait [PID…]`: the status of each, or of all jobs.
    pub fn wait_jobs(&mut self, pids: &[i32]) -> i32 {
        let mut st = 0;
        if pids.is_empty() {
            for i in 0..self.jobs.len() {
                if self.wait_job(i).is_none() {
                    return 130;
                }
            }
            self.jobs.clear();
            return 0;
        }
        for p in pids {
            match self.jobs.iter().position(|(pid, _)| pid.as_raw_nonzero().get() == *p) {
                Some(i) => {
                    let Some(s) = self.wait_job(i) else { return 130 };
                    st = s;
                    self.jobs.remove(i);
                }
                None => st = 127,
            }
        }
        st
    }

    /// A job's status, waiting for it; None when Ctrl-C at the prompt ended the wait (the job
    /// runs on in the background).
    fn wait_job(&mut self, i: usize) -> Option<i32> {
        let (pid, done) = self.jobs[i];
        if let Some(st) = done {
            return Some(st);
        }
        if !self.interactive {
            let st = super::wait_child(Some(pid), false);
            self.jobs[i].1 = Some(st);
            return Some(st);
        }
        loop {
            match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
                Ok(Some((_, st))) => {
                    let code = st.exit_status().unwrap_or_else(|| 128 + st.terminating_signal().unwrap_or(0));
                    self.jobs[i].1 = Some(code);
                    return Some(code);
                }
                Ok(None) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => return Some(127),
            }
            if sys::interrupted() {
                self.say("");
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Collects finished children: a background job keeps its status for `wait`.
    pub fn reap_jobs(&mut self) {
        while let Ok(Some((pid, st))) = rustix::process::waitpid(None, WaitOptions::NOHANG) {
            let code = st.exit_status().unwrap_or_else(|| 128 + st.terminating_signal().unwrap_or(0));
            if let Some(j) = self.jobs.iter_mut().find(|(p, _)| *p == pid) {
                j.1 = Some(code);
            }
        }
    }
}

impl Env for Shell<'_> {
    fn var(&mut self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.status.to_string()),
            "$" => Some(self.pid.to_string()),
            "!" => self.last_bg.map(|p| p.to_string()),
            "#" => Some(self.args.len().to_string()),
            "-" => Some(self.opts.letters(self.interactive)),
            "0" => Some(self.arg0.clone()),
            "@" | "*" => Some(self.args.join(" ")),
            n if n.bytes().all(|b| b.is_ascii_digit()) => {
                n.parse::<usize>().ok().and_then(|i| self.args.get(i.checked_sub(1)?).cloned())
            }
            "PWD" => {
                self.vars.get("PWD").cloned().or_else(|| std::env::current_dir().ok().map(|p| p.display().to_string()))
            }
            _ => self.vars.get(name).cloned(),
        }
    }

    fn set_var(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.assign(name, value)
    }

    fn positionals(&self) -> Vec<String> {
        self.args.clone()
    }

    fn command_sub(&mut self, list: &List) -> Result<String, String> {
        Shell::command_sub(self, list)
    }

    fn nounset(&self) -> bool {
        self.opts.nounset
    }

    fn noglob(&self) -> bool {
        self.opts.noglob
    }

    fn glob_limit(&self) -> usize {
        self.limits.glob
    }
}

/// Whether `exec PROGRAM` replaces the process: never PID 1 itself (its subshells and any
/// shell off PID 1, yes).
pub fn exec_replaces(pid1: bool, subshell: bool) -> bool {
    !pid1 || subshell
}

#[cfg(test)]
mod tests {
    use super::exec_replaces;

    #[test]
    fn exec_never_replaces_pid1() {
        assert!(!exec_replaces(true, false), "PID 1's own shell runs the program as a child");
        assert!(exec_replaces(true, true), "a subshell of PID 1 is an ordinary process");
        assert!(exec_replaces(false, false), "sh off PID 1 execs as any shell");
    }
}
