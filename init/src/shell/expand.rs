//! Word expansion (XCU 2.6), in POSIX's order: tilde, parameter, command substitution and
//! arithmetic; then field splitting with `IFS`, pathname expansion, quote removal. The shell's
//! state comes through [`Env`], so the expander runs on the host without a shell, and the fuzzer
//! drives it without running anything.

use super::arith;
use super::pattern::{self, Pattern};
use super::syntax::*;

/// What expansion reads and changes.
pub trait Env {
    /// A variable or special parameter (`?`, `$`, `!`, `#`, `-`, `0`, `1`…).
    fn var(&mut self, name: &str) -> Option<String>;
    fn set_var(&mut self, name: &str, value: &str) -> Result<(), String>;
    fn positionals(&self) -> Vec<String>;
    /// Runs `$(…)` and returns its output (trailing newlines are removed here).
    fn command_sub(&mut self, list: &List) -> Result<String, String>;
    /// `set -u`
    fn nounset(&self) -> bool;
    /// `set -f`, or no filesystem to look at.
    fn noglob(&self) -> bool;
    /// The most directory entries one pathname expansion may read.
    fn glob_limit(&self) -> usize;
}

/// The most text one word may expand to, and the most words one command may have: a loop
/// doubling a variable must meet an error, never PID 1's memory running out.
pub const MAX_EXPANSION: usize = 64 << 20;
pub const MAX_FIELDS: usize = 1_000_000;

#[derive(Default)]
struct Field {
    text: String,
    /// The same text as a pattern: quoted characters escaped.
    pat: String,
    /// An unquoted `*`, `?` or `[` is in it.
    magic: bool,
    started: bool,
}

struct Builder {
    fields: Vec<Field>,
    cur: Field,
    /// IFS white space ended a field: the next character starts a new one.
    pending_break: bool,
    /// Field splitting applies (not in assignments, redirections, `case`).
    split: bool,
    ifs: String,
    /// Bytes of text so far.
    size: usize,
}

impl Builder {
    fn new(split: bool, ifs: Option<String>) -> Self {
        Builder {
            fields: Vec::new(),
            cur: Field::default(),
            pending_break: false,
            split,
            ifs: ifs.unwrap_or_else(|| " \t\n".into()),
            size: 0,
        }
    }

    fn resume(&mut self) {
        if self.pending_break {
            self.pending_break = false;
            self.fields.push(std::mem::take(&mut self.cur));
        }
    }

    fn push_quoted(&mut self, s: &str) {
        self.resume();
        self.cur.started = true;
        self.size += s.len();
        self.cur.text.push_str(s);
        self.cur.pat.push_str(&pattern::escape(s));
    }

    /// Unquoted text: a pattern character in it is live.
    fn push_char(&mut self, c: char) {
        self.resume();
        self.cur.started = true;
        self.size += c.len_utf8();
        self.cur.text.push(c);
        if c == '\\' {
            self.cur.pat.push('\\');
        }
        self.cur.magic |= matches!(c, '*' | '?' | '[');
        self.cur.pat.push(c);
    }

    fn push_lit(&mut self, s: &str) {
        for c in s.chars() {
            self.push_char(c);
        }
    }

    /// The result of an unquoted expansion: split at IFS characters.
    fn push_split(&mut self, s: &str) {
        if !self.split || self.ifs.is_empty() {
            return self.push_lit(s);
        }
        for c in s.chars() {
            if !self.ifs.contains(c) {
                self.push_char(c);
            } else if matches!(c, ' ' | '\t' | '\n') {
                if self.cur.started {
                    self.pending_break = true;
                }
            } else {
                self.pending_break = false;
                self.fields.push(std::mem::take(&mut self.cur));
            }
        }
    }

    /// Ends the field (for `"$@"`), even when it is empty.
    fn hard_break(&mut self) {
        self.pending_break = false;
        self.fields.push(std::mem::take(&mut self.cur));
    }

    fn finish(mut self) -> Vec<Field> {
        if self.cur.started {
            self.fields.push(self.cur);
        }
        self.fields
    }
}

pub struct Expander<'e> {
    pub env: &'e mut dyn Env,
}

/// Expands a word list into fields: splitting and pathname expansion included.
pub fn fields(env: &mut dyn Env, words: &[Word]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let noglob = env.noglob();
    let limit = env.glob_limit();
    for w in words {
        let ifs = env.var("IFS");
        let mut b = Builder::new(true, ifs);
        Expander { env }.parts(&w.0, false, &mut b)?;
        for f in b.finish() {
            // `[ "$x" = y ]`: a `[` that opens no bracket expression is no pattern.
            if f.magic && !noglob && !Pattern::new(&f.pat).is_literal() {
                let found = glob(&f.pat, limit)?;
                if !found.is_empty() {
                    out.extend(found);
                    continue;
                }
            }
            out.push(f.text);
        }
        if out.len() > MAX_FIELDS {
            return Err(format!("too many words: more than {MAX_FIELDS} in one command"));
        }
    }
    Ok(out)
}

/// Expands a word to one string, without splitting or pathname expansion (assignments,
/// redirection targets, here-documents, `case` words).
pub fn string(env: &mut dyn Env, word: &Word) -> Result<String, String> {
    let mut b = Builder::new(false, None);
    Expander { env }.parts(&word.0, false, &mut b)?;
    let fields: Vec<String> = b.finish().into_iter().map(|f| f.text).collect();
    Ok(fields.join(" "))
}

/// Expands a word to a pattern: what was quoted is escaped (`case`, `${x%p}`).
pub fn pattern_of(env: &mut dyn Env, word: &Word) -> Result<String, String> {
    let mut b = Builder::new(false, None);
    Expander { env }.parts(&word.0, false, &mut b)?;
    let fields: Vec<String> = b.finish().into_iter().map(|f| f.pat).collect();
    Ok(fields.join(" "))
}

struct ArithVars<'a, 'e>(&'a mut Expander<'e>);

impl arith::Vars for ArithVars<'_, '_> {
    fn get(&mut self, name: &str) -> Option<String> {
        self.0.env.var(name)
    }
    fn set(&mut self, name: &str, value: i64) -> Result<(), String> {
        self.0.env.set_var(name, &value.to_string())
    }
}

impl Expander<'_> {
    fn parts(&mut self, parts: &[Part], quoted: bool, b: &mut Builder) -> Result<(), String> {
        self.parts_split(parts, quoted, false, b)
    }

    /// `split_lits`: the unquoted text of a `${x:-word}` word is split too, as its expansions are.
    fn parts_split(&mut self, parts: &[Part], quoted: bool, split_lits: bool, b: &mut Builder) -> Result<(), String> {
        for p in parts {
            if b.size > MAX_EXPANSION || b.fields.len() > MAX_FIELDS {
                return Err(format!(
                    "expansion too large: more than {MAX_EXPANSION} bytes or {MAX_FIELDS} words in one word"
                ));
            }
            match p {
                Part::Lit(s) if quoted => b.push_quoted(s),
                Part::Lit(s) if split_lits => b.push_split(s),
                Part::Lit(s) => b.push_lit(s),
                Part::Quoted(s) => b.push_quoted(s),
                Part::DQuote(inner) => {
                    // `"$@"` with no parameters is no field at all.
                    if let [Part::Param(p)] = inner.as_slice() {
                        if p.name == "@" && p.op == ParamOp::Plain && self.env.positionals().is_empty() {
                            continue;
                        }
                    }
                    b.resume();
                    b.cur.started = true;
                    self.parts(inner, true, b)?;
                }
                Part::Tilde(user) => {
                    let home = if user.is_empty() { self.env.var("HOME") } else { home_of(user) };
                    match home {
                        Some(h) => b.push_quoted(&h),
                        None => b.push_quoted(&format!("~{user}")),
                    }
                }
                Part::Param(param) => self.param(param, quoted, b)?,
                Part::CommandSub(list) => {
                    let out = self.env.command_sub(list)?;
                    let out = out.trim_end_matches('\n');
                    self.push_value(out, quoted, b);
                }
                Part::Arith(expr) => {
                    let mut inner = Builder::new(false, None);
                    self.parts(&expr.0, true, &mut inner)?;
                    let text: String = inner.finish().into_iter().map(|f| f.text).collect();
                    let v = arith::eval(&text, &mut ArithVars(self))?;
                    self.push_value(&v.to_string(), quoted, b);
                }
            }
        }
        Ok(())
    }

    fn push_value(&mut self, v: &str, quoted: bool, b: &mut Builder) {
        if quoted {
            b.push_quoted(v);
        } else {
            b.push_split(v);
        }
    }

    fn word_string(&mut self, w: &Word) -> Result<String, String> {
        let mut b = Builder::new(false, None);
        self.parts(&w.0, false, &mut b)?;
        Ok(b.finish().into_iter().map(|f| f.text).collect::<Vec<_>>().join(" "))
    }

    fn value(&mut self, name: &str) -> Option<String> {
        match name {
            "@" | "*" => {
                let p = self.env.positionals();
                if p.is_empty() {
                    return None;
                }
                let sep =
                    self.env.var("IFS").map_or(" ".into(), |i| i.chars().next().map(String::from).unwrap_or_default());
                Some(p.join(&sep))
            }
            _ => self.env.var(name),
        }
    }

    fn param(&mut self, p: &Param, quoted: bool, b: &mut Builder) -> Result<(), String> {
        let name = p.name.as_str();
        let value = self.value(name);
        let set = value.is_some();
        let null = value.as_deref().is_none_or(str::is_empty);
        let unset_error = || format!("{name}: parameter not set");
        match &p.op {
            ParamOp::Plain => {
                if name == "@" || name == "*" {
                    return self.positionals(name == "@", quoted, b);
                }
                match value {
                    Some(v) => self.push_value(&v, quoted, b),
                    None if self.env.nounset() && name != "!" => return Err(unset_error()),
                    None => {}
                }
            }
            ParamOp::Length => {
                if !set && self.env.nounset() && name != "@" && name != "*" {
                    return Err(unset_error());
                }
                let n = match name {
                    "@" | "*" => self.env.positionals().len(),
                    _ => value.unwrap_or_default().chars().count(),
                };
                self.push_value(&n.to_string(), quoted, b);
            }
            ParamOp::Default { colon, word } | ParamOp::Alternative { colon, word } => {
                let empty = !set || (*colon && null);
                let use_word = matches!(p.op, ParamOp::Default { .. }) == empty;
                if use_word {
                    self.parts_split(&word.0, quoted, !quoted, b)?;
                } else if matches!(p.op, ParamOp::Default { .. }) {
                    if name == "@" || name == "*" {
                        return self.positionals(name == "@", quoted, b);
                    }
                    self.push_value(&value.unwrap_or_default(), quoted, b);
                }
            }
            ParamOp::Assign { colon, word } => {
                if !set || (*colon && null) {
                    if !is_name(name) {
                        return Err(format!("${{{name}=…}}: cannot assign to {name}"));
                    }
                    let v = self.word_string(word)?;
                    self.env.set_var(name, &v)?;
                    self.push_value(&v, quoted, b);
                } else {
                    self.push_value(&value.unwrap_or_default(), quoted, b);
                }
            }
            ParamOp::Error { colon, word } => {
                if !set || (*colon && null) {
                    let msg = self.word_string(word)?;
                    let msg = if msg.is_empty() { "parameter null or not set".into() } else { msg };
                    return Err(format!("{name}: {msg}"));
                }
                self.push_value(&value.unwrap_or_default(), quoted, b);
            }
            ParamOp::RemovePrefix { longest, pattern: pw } | ParamOp::RemoveSuffix { longest, pattern: pw } => {
                if !set && self.env.nounset() {
                    return Err(unset_error());
                }
                let v = value.unwrap_or_default();
                let mut pb = Builder::new(false, None);
                self.parts(&pw.0, false, &mut pb)?;
                let pat: String = pb.finish().into_iter().map(|f| f.pat).collect();
                let pat = Pattern::new(&pat);
                let gave_up = |_| {
                    format!(
                        "{name}: removing a pattern from a value of {} bytes gave up after {} steps",
                        v.len(),
                        super::pattern::PATTERN_STEPS
                    )
                };
                let out = if matches!(p.op, ParamOp::RemovePrefix { .. }) {
                    match pat.prefix(&v, *longest).map_err(gave_up)? {
                        Some(n) => &v[n..],
                        None => &v[..],
                    }
                } else {
                    match pat.suffix(&v, *longest).map_err(gave_up)? {
                        Some(n) => &v[..n],
                        None => &v[..],
                    }
                };
                self.push_value(out, quoted, b);
            }
        }
        Ok(())
    }

    /// `$@` and `$*`: one field per parameter, except `"$*"` which joins them (as both do
    /// where no fields are made: assignments, here-documents, patterns).
    fn positionals(&mut self, at: bool, quoted: bool, b: &mut Builder) -> Result<(), String> {
        let params = self.env.positionals();
        if !b.split {
            let v = self.value("*").unwrap_or_default();
            if quoted {
                b.push_quoted(&v);
            } else {
                b.push_lit(&v);
            }
            return Ok(());
        }
        if quoted && !at {
            let v = self.value("*").unwrap_or_default();
            b.push_quoted(&v);
            return Ok(());
        }
        for (i, p) in params.iter().enumerate() {
            if quoted {
                if i > 0 {
                    b.hard_break();
                }
                b.push_quoted(p);
            } else {
                if i > 0 && b.cur.started {
                    b.pending_break = true;
                }
                b.push_split(p);
            }
        }
        Ok(())
    }
}

/// `~user`'s home directory from /etc/passwd.
fn home_of(user: &str) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[0] == user).then(|| f[5].to_string())
    })
}

/// Pathname expansion of an (escaped) pattern: the sorted names that match, or none. Reading
/// more than `limit` directory entries is an error that names the pattern.
pub fn glob(pat: &str, limit: usize) -> Result<Vec<String>, String> {
    let absolute = pat.starts_with('/');
    let comps: Vec<&str> = pat.split('/').filter(|c| !c.is_empty()).collect();
    let mut paths = vec![if absolute { "/".to_string() } else { String::new() }];
    let mut read = 0usize;
    let too_many = || {
        format!("pathname expansion of {} reads more than {limit} names; narrow the pattern", pattern::unescape(pat))
    };
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        let m = Pattern::new(comp);
        if m.is_literal() {
            let name = pattern::unescape(comp);
            for p in &paths {
                let candidate = format!("{p}{name}");
                if !last || std::fs::symlink_metadata(&candidate).is_ok() {
                    next.push(if last { candidate } else { candidate + "/" });
                }
            }
        } else {
            let dots = m.starts_with_dot();
            for p in &paths {
                let dir = if p.is_empty() { "." } else { p.as_str() };
                let Ok(rd) = std::fs::read_dir(dir) else { continue };
                let mut names: Vec<String> = if dots { vec![".".into(), "..".into()] } else { Vec::new() };
                for e in rd.flatten() {
                    read += 1;
                    if read > limit {
                        return Err(too_many());
                    }
                    names.push(e.file_name().to_string_lossy().to_string());
                }
                for name in names {
                    if (!dots && name.starts_with('.')) || !m.matches(&name) {
                        continue;
                    }
                    if last {
                        next.push(format!("{p}{name}"));
                    } else if std::fs::metadata(format!("{p}{name}")).is_ok_and(|m| m.is_dir()) {
                        next.push(format!("{p}{name}/"));
                    }
                }
            }
        }
        paths = next;
        if paths.is_empty() {
            break;
        }
    }
    if pat.ends_with('/') {
        paths.retain(|p| p.ends_with('/') || std::fs::metadata(p).is_ok_and(|m| m.is_dir()));
        for p in &mut paths {
            if !p.ends_with('/') {
                p.push('/');
            }
        }
    }
    if comps.is_empty() {
        return Ok(Vec::new());
    }
    paths.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(paths)
}

/// An environment for the fuzzer: a few variables, no commands, no filesystem.
struct Dry {
    vars: std::collections::HashMap<String, String>,
}

impl Env for Dry {
    fn var(&mut self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn set_var(&mut self, name: &str, value: &str) -> Result<(), String> {
        if self.vars.len() < 100 && value.len() < 1 << 16 {
            self.vars.insert(name.into(), value.into());
        }
        Ok(())
    }
    fn positionals(&self) -> Vec<String> {
        vec!["a b".into(), String::new(), "*".into()]
    }
    fn command_sub(&mut self, _: &List) -> Result<String, String> {
        Ok("out\n".into())
    }
    fn nounset(&self) -> bool {
        false
    }
    fn noglob(&self) -> bool {
        true
    }
    fn glob_limit(&self) -> usize {
        0
    }
}

/// Expands every word of `list` against [`Dry`]: for the fuzzer.
pub fn dry_run(list: &List) {
    let mut env = Dry { vars: [("x".to_string(), "a b:c".to_string()), ("IFS".into(), " :".into())].into() };
    walk_list(list, &mut env);
}

fn walk_list(list: &List, env: &mut Dry) {
    for item in list {
        for p in std::iter::once(&item.and_or.first).chain(item.and_or.rest.iter().map(|(_, p)| p)) {
            for c in &p.commands {
                walk_command(c, env);
            }
        }
    }
}

fn walk_command(c: &Command, env: &mut Dry) {
    match c {
        Command::Simple(s) => {
            for (_, w) in &s.assigns {
                let _ = string(env, w);
            }
            let _ = fields(env, &s.words);
            for r in &s.redirs {
                let _ = string(env, &r.target);
            }
        }
        Command::Function(_, body) => walk_command(body, env),
        Command::Compound(c, redirs) => {
            for r in redirs {
                let _ = string(env, &r.target);
            }
            match c {
                Compound::Brace(l) | Compound::Subshell(l) => walk_list(l, env),
                Compound::For { words, body, .. } => {
                    if let Some(w) = words {
                        let _ = fields(env, w);
                    }
                    walk_list(body, env);
                }
                Compound::Case { word, arms } => {
                    let _ = string(env, word);
                    for a in arms {
                        for p in &a.patterns {
                            if let Ok(p) = pattern_of(env, p) {
                                Pattern::new(&p).matches("abc");
                            }
                        }
                        walk_list(&a.body, env);
                    }
                }
                Compound::If { branches, otherwise } => {
                    for (c, b) in branches {
                        walk_list(c, env);
                        walk_list(b, env);
                    }
                    if let Some(o) = otherwise {
                        walk_list(o, env);
                    }
                }
                Compound::Loop { cond, body, .. } => {
                    walk_list(cond, env);
                    walk_list(body, env);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct T {
        vars: HashMap<String, String>,
        args: Vec<String>,
    }
    impl Env for T {
        fn var(&mut self, name: &str) -> Option<String> {
            match name {
                "#" => Some(self.args.len().to_string()),
                n if n.bytes().all(|b| b.is_ascii_digit()) => {
                    n.parse::<usize>().ok().and_then(|i| self.args.get(i.checked_sub(1)?).cloned())
                }
                _ => self.vars.get(name).cloned(),
            }
        }
        fn set_var(&mut self, name: &str, value: &str) -> Result<(), String> {
            self.vars.insert(name.into(), value.into());
            Ok(())
        }
        fn positionals(&self) -> Vec<String> {
            self.args.clone()
        }
        fn command_sub(&mut self, _: &List) -> Result<String, String> {
            Ok("sub out\n\n".into())
        }
        fn nounset(&self) -> bool {
            self.vars.contains_key("NOUNSET")
        }
        fn noglob(&self) -> bool {
            false
        }
        fn glob_limit(&self) -> usize {
            1000
        }
    }

    fn env() -> T {
        T {
            vars: [("x", "a b  c"), ("e", ""), ("p", "/usr/lib/x.tar.gz"), ("HOME", "/root"), ("c", "a:b::c:")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args: vec!["1 2".into(), "".into(), "3".into()],
        }
    }

    fn f(src: &str) -> Vec<String> {
        f_in(&mut env(), src)
    }

    fn f_in(e: &mut T, src: &str) -> Vec<String> {
        let list = super::super::parse::parse_program(&format!("echo {src}")).unwrap();
        let Command::Simple(s) = &list[0].and_or.first.commands[0] else { panic!() };
        fields(e, &s.words[1..]).unwrap()
    }

    #[test]
    fn splitting_and_quotes() {
        assert_eq!(f("$x"), ["a", "b", "c"]);
        assert_eq!(f("\"$x\""), ["a b  c"]);
        assert_eq!(f("$e"), Vec::<String>::new());
        assert_eq!(f("\"$e\""), [""]);
        assert_eq!(f("''"), [""]);
        assert_eq!(f("x$e\"\""), ["x"]);
        assert_eq!(f("$@"), ["1", "2", "3"]);
        assert_eq!(f("\"$@\""), ["1 2", "", "3"]);
        assert_eq!(f("\"<$@>\""), ["<1 2", "", "3>"]);
        assert_eq!(f("\"$*\""), ["1 2  3"]);
        assert_eq!(f("$#"), ["3"]);
        let mut e = env();
        e.vars.insert("IFS".into(), ":".into());
        assert_eq!(f_in(&mut e, "$c"), ["a", "b", "", "c"]);
        e.vars.insert("IFS".into(), "".into());
        assert_eq!(f_in(&mut e, "$x"), ["a b  c"]);
        e.args.clear();
        assert_eq!(f_in(&mut e, "\"$@\""), Vec::<String>::new());
    }

    #[test]
    fn parameter_operators() {
        assert_eq!(f("${u:-def} ${e:-def} ${e-def} ${x:+alt} ${u+alt}"), ["def", "def", "alt"]);
        assert_eq!(f("${#x} ${#u} ${#}"), ["6", "0", "3"]);
        assert_eq!(
            f("${p##*/} ${p#*/} ${p%%.*} ${p%.*}"),
            ["x.tar.gz", "usr/lib/x.tar.gz", "/usr/lib/x", "/usr/lib/x.tar"]
        );
        assert_eq!(f("${p#\"/usr\"}"), ["/lib/x.tar.gz"]);
        assert_eq!(f("${p%'*'}"), ["/usr/lib/x.tar.gz"], "a quoted * is literal");
        let mut e = env();
        assert_eq!(f_in(&mut e, "${n:=set} $n"), ["set", "set"]);
        let list = super::super::parse::parse_program("echo ${u:?is missing}").unwrap();
        let Command::Simple(s) = &list[0].and_or.first.commands[0] else { panic!() };
        assert_eq!(fields(&mut env(), &s.words[1..]), Err("u: is missing".into()));
        e.vars.insert("NOUNSET".into(), "1".into());
        let list = super::super::parse::parse_program("echo $nothing").unwrap();
        let Command::Simple(s) = &list[0].and_or.first.commands[0] else { panic!() };
        assert_eq!(fields(&mut e, &s.words[1..]), Err("nothing: parameter not set".into()));
    }

    #[test]
    fn tilde_arith_and_substitution() {
        assert_eq!(f("~ ~/x a~"), ["/root", "/root/x", "a~"]);
        assert_eq!(f("$((6*7)) $((x2 = 3 + 4))"), ["42", "7"]);
        assert_eq!(f("$(ls) \"$(ls)\""), ["sub", "out", "sub out"]);
        assert_eq!(f("`ls`"), ["sub", "out"]);
        let list = super::super::parse::parse_program("echo $((1/0))").unwrap();
        let Command::Simple(s) = &list[0].and_or.first.commands[0] else { panic!() };
        assert!(fields(&mut env(), &s.words[1..]).unwrap_err().contains("division by zero"));
    }

    #[test]
    fn globs_match_or_stay_literal() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        for n in ["a.conf", "b.conf", ".hidden.conf", "c.txt"] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x.conf"), "").unwrap();
        assert_eq!(f(&format!("{d}/*.conf")), [format!("{d}/a.conf"), format!("{d}/b.conf")]);
        assert_eq!(f(&format!("{d}/.*.conf")), [format!("{d}/.hidden.conf")]);
        assert_eq!(f(&format!("{d}/*/*.conf")), [format!("{d}/sub/x.conf")]);
        assert_eq!(f(&format!("{d}/[ab].conf")).len(), 2);
        assert_eq!(f(&format!("{d}/*.none")), [format!("{d}/*.none")]);
        assert_eq!(f(&format!("'{d}'/*.txt")), [format!("{d}/c.txt")]);
        assert_eq!(f(&format!("{d}/'*'.txt")), [format!("{d}/*.txt")]);
        assert_eq!(f(&format!("{d}/*/")), [format!("{d}/sub/")]);
        assert!(glob(&format!("{d}/*"), 3).unwrap_err().contains("reads more than 3 names"));
    }
}
