//! The lexer and parser of the POSIX Shell Command Language (XCU 2.3, 2.10): text in, the
//! syntax tree of `syntax` out. Tokens depend on where they stand (reserved words only in command
//! position, here-document bodies after the line that names them), so the parser reads
//! characters directly, by recursive descent over the grammar.
//!
//! Untrusted input never panics here: recursion is bounded by [`MAX_DEPTH`], lines by
//! [`MAX_LINE`], here-documents by [`MAX_HEREDOC`]; input that stops inside a construct is
//! [`ParseError::Incomplete`], which the line editor answers with a `> ` prompt.

use super::syntax::*;

/// How deeply constructs may nest (`((((…` or `$($($(…`): each level is a few stack frames.
pub const MAX_DEPTH: u32 = 64;
/// The longest line read, typed or from a script.
pub const MAX_LINE: usize = 1 << 20;
/// The largest here-document body.
pub const MAX_HEREDOC: usize = 4 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The input stops inside a construct (named): more lines may complete it.
    Incomplete(String),
    Syntax(String),
    /// One of the caps above, named.
    Limit(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Incomplete(what) => write!(f, "syntax error: unexpected end of input ({what})"),
            ParseError::Syntax(what) => write!(f, "syntax error: {what}"),
            ParseError::Limit(what) => write!(f, "{what}"),
        }
    }
}

type R<T> = Result<T, ParseError>;

/// Parses a whole program (a line, several lines, a script).
pub fn parse_program(src: &str) -> R<List> {
    if let Some(long) = src.split('\n').map(str::len).find(|&n| n > MAX_LINE) {
        return Err(ParseError::Limit(format!(
            "line too long: {long} bytes (the limit is {MAX_LINE}); split it or put it in a file"
        )));
    }
    Parser::new(src, 0).program()
}

/// A program read one complete command at a time: each is run before the next is parsed, as
/// dash does, so a syntax error late in a script comes after what precedes it has run.
pub struct Commands<'a> {
    parser: Parser<'a>,
    too_long: Option<ParseError>,
}

pub fn commands(src: &str) -> Commands<'_> {
    let too_long = src.split('\n').map(str::len).find(|&n| n > MAX_LINE).map(|long| {
        ParseError::Limit(format!(
            "line too long: {long} bytes (the limit is {MAX_LINE}); split it or put it in a file"
        ))
    });
    Commands { parser: Parser::new(src, 0), too_long }
}

impl Commands<'_> {
    /// The next complete command, None at the end.
    pub fn next_command(&mut self) -> R<Option<List>> {
        if let Some(e) = self.too_long.take() {
            self.parser.pos = self.parser.src.len();
            return Err(e);
        }
        self.parser.complete_command()
    }
}

/// For the fuzzer: parse, then expand every word without running anything. Never panics.
pub fn fuzz_one(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(list) = parse_program(&text) {
        super::expand::dry_run(&list);
    }
}

const RESERVED_CLOSERS: &[&str] = &["then", "else", "elif", "fi", "do", "done", "esac", "}"];

fn is_meta(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>')
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: u32,
    /// Where the input resumes after the here-document bodies read so far on this line.
    heredoc_end: Option<usize>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, depth: u32) -> Self {
        Parser { src, pos: 0, depth, heredoc_end: None }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::Limit(format!("nesting too deep: more than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Blanks, `\`-newline continuations and comments.
    fn skip_space(&mut self) {
        loop {
            let r = self.rest();
            if r.starts_with([' ', '\t']) {
                self.pos += 1;
            } else if r.starts_with("\\\n") && r.len() > 2 {
                self.pos += 2;
            } else if r.starts_with('#') {
                self.pos += r.find('\n').unwrap_or(r.len());
            } else {
                break;
            }
        }
    }

    fn newline(&mut self) -> bool {
        if self.peek() != Some('\n') {
            return false;
        }
        self.pos += 1;
        if let Some(end) = self.heredoc_end.take() {
            self.pos = self.pos.max(end);
        }
        true
    }

    fn linebreak(&mut self) {
        loop {
            self.skip_space();
            if !self.newline() {
                break;
            }
        }
    }

    /// The control operator at the cursor, if any (after blanks).
    fn peek_op(&mut self) -> Option<&'static str> {
        self.skip_space();
        let r = self.rest();
        ["&&", "||", ";;", ";", "&", "|", "(", ")", "\n"].into_iter().find(|op| r.starts_with(op))
    }

    /// The next word if it is a plain unquoted one that could be reserved (`{`, `fi`, …).
    fn peek_reserved(&mut self) -> Option<&'a str> {
        self.skip_space();
        let r = &self.src[self.pos..];
        let end = r.find(|c: char| is_meta(c) || matches!(c, '\'' | '"' | '\\' | '$' | '`')).unwrap_or(r.len());
        let word = &r[..end];
        let next = r[end..].chars().next();
        if word.is_empty() || next.is_some_and(|c| !is_meta(c)) {
            return None;
        }
        Some(word)
    }

    fn at_reserved(&mut self, w: &str) -> bool {
        self.peek_reserved() == Some(w)
    }

    fn near(&mut self) -> String {
        self.skip_space();
        match self.peek() {
            None => "end of input".into(),
            Some('\n') => "newline".into(),
            _ => {
                let r = self.rest();
                let first = r.chars().next().map_or(0, char::len_utf8);
                let end = r[first..].find(char::is_whitespace).map_or(r.len(), |i| i + first).min(20);
                let end = (0..=end).rev().find(|&i| r.is_char_boundary(i)).unwrap_or(0);
                format!("'{}'", &r[..end])
            }
        }
    }

    fn unexpected(&mut self, open: &str) -> ParseError {
        self.skip_space();
        if self.peek().is_none() {
            ParseError::Incomplete(open.to_string())
        } else {
            ParseError::Syntax(format!("unexpected {} ({open})", self.near()))
        }
    }

    fn expect_word(&mut self, w: &str, open: &str) -> R<()> {
        if self.at_reserved(w) {
            self.pos += w.len();
            Ok(())
        } else {
            Err(self.unexpected(&format!("{open} without {w}")))
        }
    }

    fn expect_op(&mut self, op: &str, open: &str) -> R<()> {
        if self.peek_op() == Some(op) && op != "\n" {
            self.pos += op.len();
            Ok(())
        } else {
            Err(self.unexpected(&format!("{open} without {op}")))
        }
    }

    fn program(&mut self) -> R<List> {
        let list = self.list()?;
        self.linebreak();
        if self.peek().is_some() {
            return Err(ParseError::Syntax(format!("unexpected {}", self.near())));
        }
        Ok(list)
    }

    /// and-or lists up to the end of a line.
    fn complete_command(&mut self) -> R<Option<List>> {
        self.linebreak();
        if self.peek().is_none() {
            return Ok(None);
        }
        let mut items = Vec::new();
        loop {
            if self.at_list_end() {
                return Err(ParseError::Syntax(format!("unexpected {}", self.near())));
            }
            let and_or = self.and_or()?;
            match self.peek_op() {
                Some("&") => {
                    self.pos += 1;
                    items.push(Item { and_or, background: true });
                }
                Some(";") => {
                    self.pos += 1;
                    items.push(Item { and_or, background: false });
                }
                Some("\n") => {
                    self.newline();
                    items.push(Item { and_or, background: false });
                    break;
                }
                _ => {
                    items.push(Item { and_or, background: false });
                    if self.peek().is_none() {
                        break;
                    }
                    return Err(ParseError::Syntax(format!("unexpected {}", self.near())));
                }
            }
            self.skip_space();
            if self.peek().is_none() {
                break;
            }
            if self.newline() {
                break;
            }
        }
        Ok(Some(items))
    }

    fn at_list_end(&mut self) -> bool {
        self.skip_space();
        if self.peek().is_none() || matches!(self.peek_op(), Some(")" | ";;")) {
            return true;
        }
        self.peek_reserved().is_some_and(|w| RESERVED_CLOSERS.contains(&w))
    }

    /// and-or lists separated by `;`, `&` or newlines, up to what closes the list.
    fn list(&mut self) -> R<List> {
        let mut items = Vec::new();
        loop {
            self.linebreak();
            if self.at_list_end() {
                break;
            }
            let and_or = self.and_or()?;
            match self.peek_op() {
                Some("&") => {
                    self.pos += 1;
                    items.push(Item { and_or, background: true });
                }
                Some(";") => {
                    self.pos += 1;
                    items.push(Item { and_or, background: false });
                }
                Some("\n") => {
                    self.newline();
                    items.push(Item { and_or, background: false });
                }
                _ => {
                    items.push(Item { and_or, background: false });
                    if !self.at_list_end() {
                        return Err(ParseError::Syntax(format!("unexpected {}", self.near())));
                    }
                    break;
                }
            }
        }
        Ok(items)
    }

    /// A compound command's list, which the grammar requires to hold a command.
    fn body(&mut self, what: &str) -> R<List> {
        let list = self.list()?;
        if list.is_empty() {
            return Err(self.unexpected(&format!("{what} needs a command")));
        }
        Ok(list)
    }

    fn and_or(&mut self) -> R<AndOr> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let join = match self.peek_op() {
                Some("&&") => Join::And,
                Some("||") => Join::Or,
                _ => break,
            };
            self.pos += 2;
            self.linebreak();
            rest.push((join, self.pipeline()?));
        }
        Ok(AndOr { first, rest })
    }

    fn pipeline(&mut self) -> R<Pipeline> {
        let bang = self.at_reserved("!");
        if bang {
            self.pos += 1;
        }
        let mut commands = vec![self.command()?];
        while self.peek_op() == Some("|") {
            self.pos += 1;
            self.linebreak();
            commands.push(self.command()?);
        }
        Ok(Pipeline { bang, commands })
    }

    fn command(&mut self) -> R<Command> {
        self.skip_space();
        if self.peek().is_none() {
            return Err(ParseError::Incomplete("a command is missing".into()));
        }
        match self.peek_op() {
            Some("(") => {
                self.pos += 1;
                self.enter()?;
                let list = self.body("(")?;
                self.expect_op(")", "(")?;
                self.leave();
                let redirs = self.redirs_after()?;
                return Ok(Command::Compound(Compound::Subshell(list), redirs));
            }
            Some(op) => {
                return Err(ParseError::Syntax(format!(
                    "unexpected {} where a command should be",
                    if op == "\n" { "newline".into() } else { format!("'{op}'") }
                )))
            }
            None => {}
        }
        if let Some(w) = self.peek_reserved() {
            if let Some(c) = self.compound(w)? {
                let redirs = self.redirs_after()?;
                return Ok(Command::Compound(c, redirs));
            }
            if RESERVED_CLOSERS.contains(&w) {
                return Err(ParseError::Syntax(format!("unexpected '{w}'")));
            }
        }
        self.simple()
    }

    /// A compound command starting with reserved word `w`, if it is one.
    fn compound(&mut self, w: &str) -> R<Option<Compound>> {
        let c = match w {
            "{" => {
                self.pos += 1;
                self.enter()?;
                let list = self.body("{")?;
                self.expect_word("}", "{")?;
                self.leave();
                Compound::Brace(list)
            }
            "if" => {
                self.pos += 2;
                self.enter()?;
                let mut branches = Vec::new();
                let mut otherwise = None;
                loop {
                    let cond = self.body("if")?;
                    self.expect_word("then", "if")?;
                    let body = self.body("then")?;
                    branches.push((cond, body));
                    if self.at_reserved("elif") {
                        self.pos += 4;
                        continue;
                    }
                    if self.at_reserved("else") {
                        self.pos += 4;
                        otherwise = Some(self.body("else")?);
                    }
                    self.expect_word("fi", "if")?;
                    break;
                }
                self.leave();
                Compound::If { branches, otherwise }
            }
            "while" | "until" => {
                self.pos += w.len();
                self.enter()?;
                let cond = self.body(w)?;
                self.expect_word("do", w)?;
                let body = self.body("do")?;
                self.expect_word("done", "do")?;
                self.leave();
                Compound::Loop { until: w == "until", cond, body }
            }
            "for" => {
                self.pos += 3;
                self.enter()?;
                self.skip_space();
                let var = self.word()?;
                let Some(var) = var.as_plain().filter(|v| is_name(v)).map(str::to_string) else {
                    return Err(self.unexpected("for needs a variable name"));
                };
                self.linebreak();
                let mut words = None;
                if self.at_reserved("in") {
                    self.pos += 2;
                    let mut list = Vec::new();
                    loop {
                        self.skip_space();
                        if self.peek().is_none() {
                            return Err(ParseError::Incomplete("for without do".into()));
                        }
                        if matches!(self.peek_op(), Some(";" | "\n")) {
                            break;
                        }
                        if self.peek_op().is_some() || self.rest().starts_with(['<', '>']) {
                            return Err(ParseError::Syntax(format!("unexpected {} in for", self.near())));
                        }
                        list.push(self.word()?);
                    }
                    words = Some(list);
                }
                if self.peek_op() == Some(";") {
                    self.pos += 1;
                }
                self.linebreak();
                self.expect_word("do", "for")?;
                let body = self.body("do")?;
                self.expect_word("done", "do")?;
                self.leave();
                Compound::For { var, words, body }
            }
            "case" => {
                self.pos += 4;
                self.enter()?;
                self.skip_space();
                if self.peek().is_none() {
                    return Err(ParseError::Incomplete("case without a word".into()));
                }
                let word = self.word()?;
                if word.0.is_empty() {
                    return Err(self.unexpected("case needs a word"));
                }
                self.linebreak();
                self.expect_word("in", "case")?;
                let mut arms = Vec::new();
                loop {
                    self.linebreak();
                    if self.at_reserved("esac") {
                        self.pos += 4;
                        break;
                    }
                    if self.peek().is_none() {
                        return Err(ParseError::Incomplete("case without esac".into()));
                    }
                    if self.peek_op() == Some("(") {
                        self.pos += 1;
                    }
                    let mut patterns = Vec::new();
                    loop {
                        self.skip_space();
                        let p = self.word()?;
                        if p.0.is_empty() {
                            return Err(self.unexpected("case pattern"));
                        }
                        patterns.push(p);
                        if self.peek_op() == Some("|") {
                            self.pos += 1;
                            continue;
                        }
                        break;
                    }
                    self.expect_op(")", "case pattern")?;
                    let body = self.list()?;
                    arms.push(CaseArm { patterns, body });
                    if self.peek_op() == Some(";;") {
                        self.pos += 2;
                    } else if !self.at_reserved("esac") {
                        return Err(self.unexpected("case without esac"));
                    }
                }
                self.leave();
                Compound::Case { word, arms }
            }
            _ => return Ok(None),
        };
        Ok(Some(c))
    }

    fn redirs_after(&mut self) -> R<Vec<Redir>> {
        let mut out = Vec::new();
        loop {
            self.skip_space();
            let save = self.pos;
            let digits: String = self.rest().chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() && self.rest()[digits.len()..].starts_with(['<', '>']) {
                self.pos += digits.len();
                let fd = digits.parse().unwrap_or(i32::MAX);
                match self.redir(Some(fd))? {
                    Some(r) => out.push(r),
                    None => {
                        self.pos = save;
                        break;
                    }
                }
            } else if let Some(r) = self.redir(None)? {
                out.push(r);
            } else {
                break;
            }
        }
        Ok(out)
    }

    /// A redirection operator and its target at the cursor, if there is one.
    fn redir(&mut self, fd: Option<i32>) -> R<Option<Redir>> {
        const OPS: [(&str, RedirOp); 9] = [
            ("<<-", RedirOp::HereDoc { expand: true }),
            ("<<", RedirOp::HereDoc { expand: true }),
            ("<&", RedirOp::DupIn),
            ("<>", RedirOp::ReadWrite),
            ("<", RedirOp::In),
            (">>", RedirOp::Append),
            (">&", RedirOp::DupOut),
            (">|", RedirOp::Clobber),
            (">", RedirOp::Out),
        ];
        let Some(&(text, op)) = OPS.iter().find(|(t, _)| self.rest().starts_with(t)) else {
            return Ok(None);
        };
        self.pos += text.len();
        let fd = fd.unwrap_or(match op {
            RedirOp::In | RedirOp::ReadWrite | RedirOp::DupIn | RedirOp::HereDoc { .. } => 0,
            _ => 1,
        });
        self.skip_space();
        let start = self.pos;
        let target = self.word()?;
        if target.0.is_empty() {
            return Err(self.unexpected(&format!("{text} needs a file name")));
        }
        if let RedirOp::HereDoc { .. } = op {
            let raw = &self.src[start..self.pos];
            return Ok(Some(self.heredoc(fd, raw, text == "<<-")?));
        }
        Ok(Some(Redir { fd, op, target }))
    }

    /// Reads a here-document's body from the line after this one (or after the bodies already
    /// read for it), and marks where the input resumes.
    fn heredoc(&mut self, fd: i32, raw: &str, strip: bool) -> R<Redir> {
        let quoted = raw.contains(['\'', '"', '\\']);
        let mut delim = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' | '"' => {}
                '\\' => delim.extend(chars.next()),
                _ => delim.push(c),
            }
        }
        let open = || ParseError::Incomplete(format!("here-document ended by {delim}"));
        let start = match self.heredoc_end {
            Some(e) => e,
            None => self.pos + self.rest().find('\n').ok_or_else(open)? + 1,
        };
        let mut body = String::new();
        let mut at = start;
        let end = loop {
            if at >= self.src.len() {
                return Err(open());
            }
            let line_end = self.src[at..].find('\n').map_or(self.src.len(), |i| at + i);
            let line = &self.src[at..line_end];
            let line = if strip { line.trim_start_matches('\t') } else { line };
            let next = (line_end + 1).min(self.src.len());
            if line == delim {
                break next;
            }
            body.push_str(line);
            body.push('\n');
            if body.len() > MAX_HEREDOC {
                return Err(ParseError::Limit(format!(
                    "here-document too large: more than {MAX_HEREDOC} bytes (write the file with cat from another file instead)"
                )));
            }
            at = next;
            if line_end == self.src.len() {
                return Err(open());
            }
        };
        self.heredoc_end = Some(end);
        let target = if quoted {
            Word(vec![Part::Quoted(body)])
        } else {
            let mut p = Parser::new(&body, self.depth);
            p.heredoc_text()?
        };
        Ok(Redir { fd, op: RedirOp::HereDoc { expand: !quoted }, target })
    }

    /// An unquoted here-document's body: `$…` and `` `…` `` expand, `\` quotes only `$ \` \`.
    fn heredoc_text(&mut self) -> R<Word> {
        let mut w = Parts::new(true);
        while let Some(c) = self.peek() {
            match c {
                '\\' if matches!(self.peek_at(1), Some('$' | '`' | '\\' | '\n')) => {
                    self.pos += 1;
                    let n = self.bump().unwrap_or('\\');
                    if n != '\n' {
                        w.text(n);
                    }
                }
                '$' | '`' => self.expansion(&mut w, true)?,
                _ => self.plain(c, &mut w),
            }
        }
        Ok(Word(w.done()))
    }

    fn simple(&mut self) -> R<Command> {
        let mut cmd = Simple::default();
        loop {
            self.skip_space();
            let before = self.pos;
            let digits: String = self.rest().chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() && self.rest()[digits.len()..].starts_with(['<', '>']) {
                self.pos += digits.len();
                let fd = digits.parse().unwrap_or(i32::MAX);
                if let Some(r) = self.redir(Some(fd))? {
                    cmd.redirs.push(r);
                    continue;
                }
                self.pos = before;
            }
            if let Some(r) = self.redir(None)? {
                cmd.redirs.push(r);
                continue;
            }
            match self.peek() {
                None => break,
                Some(c) if is_meta(c) => break,
                _ => {}
            }
            let word = self.word()?;
            if cmd.words.is_empty() {
                if let Some((name, value)) = assignment(&word) {
                    cmd.assigns.push((name, value));
                    continue;
                }
            }
            cmd.words.push(word);
            // `name()` starts a function definition.
            if cmd.words.len() == 1 && cmd.assigns.is_empty() && cmd.redirs.is_empty() {
                self.skip_space();
                if self.peek() == Some('(') {
                    let Some(name) = cmd.words[0].as_plain().filter(|n| is_name(n)).map(str::to_string) else {
                        return Err(ParseError::Syntax(format!("unexpected '(' after {}", self.near())));
                    };
                    self.pos += 1;
                    self.expect_op(")", "function definition")?;
                    self.linebreak();
                    let body = if self.peek_op() == Some("(") {
                        self.command()?
                    } else {
                        let Some(w) = self.peek_reserved() else {
                            return Err(self.unexpected("a function body must be a compound command such as { …; }"));
                        };
                        let Some(c) = self.compound(w)? else {
                            return Err(self.unexpected("a function body must be a compound command such as { …; }"));
                        };
                        Command::Compound(c, self.redirs_after()?)
                    };
                    return Ok(Command::Function(name, std::rc::Rc::new(body)));
                }
            }
        }
        if cmd.words.is_empty() && cmd.assigns.is_empty() && cmd.redirs.is_empty() {
            return Err(ParseError::Syntax(format!("unexpected {} where a command should be", self.near())));
        }
        Ok(Command::Simple(cmd))
    }

    /// One word, up to an unquoted metacharacter.
    fn word(&mut self) -> R<Word> {
        let mut w = Parts::new(false);
        if self.peek() == Some('~') {
            if let Some(t) = self.tilde() {
                w.part(t);
            }
        }
        while let Some(c) = self.peek() {
            match c {
                c if is_meta(c) => break,
                '\'' => w.part(Part::Quoted(self.single_quoted()?)),
                '"' => {
                    self.pos += 1;
                    w.part(Part::DQuote(self.dquoted()?));
                }
                '\\' => {
                    self.pos += 1;
                    match self.bump() {
                        Some('\n') => {
                            if self.peek().is_none() {
                                return Err(ParseError::Incomplete("line continued with \\".into()));
                            }
                        }
                        Some(n) => w.part(Part::Quoted(n.to_string())),
                        None => w.text('\\'),
                    }
                }
                '$' | '`' => self.expansion(&mut w, false)?,
                _ => self.plain(c, &mut w),
            }
        }
        Ok(Word(w.done()))
    }

    /// `~` or `~user` when what follows up to `/` is plain text.
    fn tilde(&mut self) -> Option<Part> {
        let r = &self.rest()[1..];
        let end = r.find(|c: char| c == '/' || is_meta(c)).unwrap_or(r.len());
        let user = &r[..end];
        if !user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return None;
        }
        self.pos += 1 + end;
        Some(Part::Tilde(user.to_string()))
    }

    fn single_quoted(&mut self) -> R<String> {
        let r = &self.rest()[1..];
        let end = r.find('\'').ok_or_else(|| ParseError::Incomplete("missing closing '".into()))?;
        let s = r[..end].to_string();
        self.pos += end + 2;
        Ok(s)
    }

    /// The inside of `"…"`, after the opening quote.
    fn dquoted(&mut self) -> R<Vec<Part>> {
        let mut w = Parts::new(true);
        loop {
            let Some(c) = self.peek() else {
                return Err(ParseError::Incomplete("missing closing \"".into()));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    break;
                }
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(n @ ('$' | '`' | '"' | '\\')) => {
                            self.pos += 1;
                            w.text(n);
                        }
                        _ => w.text('\\'),
                    }
                }
                '$' | '`' => self.expansion(&mut w, true)?,
                _ => self.plain(c, &mut w),
            }
        }
        Ok(w.done())
    }

    /// `$…` or `` `…` `` at the cursor, into `w`; a `$` that starts nothing is plain text.
    fn expansion(&mut self, w: &mut Parts, in_dquote: bool) -> R<()> {
        if self.peek() == Some('`') {
            w.part(self.backquote()?);
        } else if let Some(p) = self.dollar(in_dquote)? {
            w.part(p);
        } else {
            self.pos += 1;
            w.text('$');
        }
        Ok(())
    }

    /// The character `c` at the cursor, as plain text.
    fn plain(&mut self, c: char, w: &mut Parts) {
        self.pos += c.len_utf8();
        w.text(c);
    }

    /// `` `…` ``: the text with `\$`, `` \` `` and `\\` unescaped, parsed as a program.
    fn backquote(&mut self) -> R<Part> {
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return Err(ParseError::Incomplete("missing closing `".into())),
                Some('`') => break,
                Some('\\') => match self.peek() {
                    Some(n @ ('$' | '`' | '\\')) => {
                        self.pos += 1;
                        text.push(n);
                    }
                    _ => text.push('\\'),
                },
                Some(c) => text.push(c),
            }
        }
        self.enter()?;
        let list = Parser::new(&text, self.depth).program().map_err(|e| match e {
            ParseError::Incomplete(w) => ParseError::Syntax(format!("inside `…`: {w}")),
            e => e,
        })?;
        self.leave();
        Ok(Part::CommandSub(list))
    }

    /// `$…` at the cursor: None when the `$` is literal.
    fn dollar(&mut self, in_dquote: bool) -> R<Option<Part>> {
        match self.peek_at(1) {
            Some('(') if self.peek_at(2) == Some('(') => {
                let save = self.pos;
                self.pos += 3;
                self.enter()?;
                if let Some(expr) = self.arith_text()? {
                    self.leave();
                    return Ok(Some(Part::Arith(expr)));
                }
                // `$( (…) …)`: a command substitution that starts with a subshell.
                self.leave();
                self.pos = save;
                self.command_sub().map(Some)
            }
            Some('(') => self.command_sub().map(Some),
            Some('{') => self.braced_param(in_dquote).map(Some),
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                self.pos += 1;
                let r = self.rest();
                let end = r.find(|c: char| c != '_' && !c.is_ascii_alphanumeric()).unwrap_or(r.len());
                let name = r[..end].to_string();
                self.pos += end;
                Ok(Some(Part::Param(Box::new(Param { name, op: ParamOp::Plain }))))
            }
            Some(c) if c.is_ascii_digit() || matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!') => {
                self.pos += 2;
                Ok(Some(Part::Param(Box::new(Param { name: c.to_string(), op: ParamOp::Plain }))))
            }
            _ => Ok(None),
        }
    }

    fn command_sub(&mut self) -> R<Part> {
        self.pos += 2;
        self.enter()?;
        let list = self.list()?;
        self.expect_op(")", "$(")?;
        self.leave();
        Ok(Part::CommandSub(list))
    }

    /// The expression of `$((…))` up to its `))`; None when the parentheses close otherwise
    /// (so it was `$( (…) )`).
    fn arith_text(&mut self) -> R<Option<Word>> {
        let mut w = Parts::new(true);
        let mut depth = 0u32;
        loop {
            let Some(c) = self.peek() else {
                return Err(ParseError::Incomplete("missing )) of $((".into()));
            };
            match c {
                '(' => {
                    depth += 1;
                    self.plain(c, &mut w);
                }
                ')' if depth > 0 => {
                    depth -= 1;
                    self.plain(c, &mut w);
                }
                ')' => {
                    if self.peek_at(1) != Some(')') {
                        return Ok(None);
                    }
                    self.pos += 2;
                    break;
                }
                '$' | '`' => self.expansion(&mut w, true)?,
                '"' => {
                    self.pos += 1;
                    w.part(Part::DQuote(self.dquoted()?));
                }
                '\'' => w.part(Part::Quoted(self.single_quoted()?)),
                '\\' => {
                    self.pos += 1;
                    if let Some(n) = self.bump() {
                        if n != '\n' {
                            w.text(n);
                        }
                    }
                }
                _ => self.plain(c, &mut w),
            }
        }
        Ok(Some(Word(w.done())))
    }

    fn braced_param(&mut self, in_dquote: bool) -> R<Part> {
        self.pos += 2;
        let bad = |p: &mut Self| {
            if p.peek().is_none() {
                ParseError::Incomplete("missing closing } of ${".into())
            } else {
                ParseError::Syntax("bad substitution".into())
            }
        };
        let read_name = |p: &mut Self| -> String {
            let r = p.rest();
            let len = match r.chars().next() {
                Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                    r.find(|c: char| c != '_' && !c.is_ascii_alphanumeric()).unwrap_or(r.len())
                }
                Some(c) if c.is_ascii_digit() => r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len()),
                Some('@' | '*' | '#' | '?' | '-' | '$' | '!') => 1,
                _ => 0,
            };
            p.pos += len;
            r[..len].to_string()
        };
        // `${#}` is `$#`; `${#name}` its length.
        if self.peek() == Some('#') && self.peek_at(1) != Some('}') {
            let save = self.pos;
            self.pos += 1;
            let name = read_name(self);
            if !name.is_empty() && self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Part::Param(Box::new(Param { name, op: ParamOp::Length })));
            }
            self.pos = save;
        }
        let name = read_name(self);
        if name.is_empty() {
            return Err(bad(self));
        }
        let colon = self.peek() == Some(':');
        if colon {
            self.pos += 1;
        }
        let op_char = self.peek();
        let op = match op_char {
            Some('}') if !colon => {
                self.pos += 1;
                return Ok(Part::Param(Box::new(Param { name, op: ParamOp::Plain })));
            }
            Some('-' | '=' | '?' | '+') => {
                self.pos += 1;
                let word = self.param_word(in_dquote)?;
                match op_char {
                    Some('-') => ParamOp::Default { colon, word },
                    Some('=') => ParamOp::Assign { colon, word },
                    Some('?') => ParamOp::Error { colon, word },
                    _ => ParamOp::Alternative { colon, word },
                }
            }
            Some(c @ ('%' | '#')) if !colon => {
                self.pos += 1;
                let longest = self.peek() == Some(c);
                if longest {
                    self.pos += 1;
                }
                // A pattern's quotes quote even inside "…" (XCU 2.6.2).
                let pattern = self.param_word(false)?;
                if c == '%' {
                    ParamOp::RemoveSuffix { longest, pattern }
                } else {
                    ParamOp::RemovePrefix { longest, pattern }
                }
            }
            _ => return Err(bad(self)),
        };
        Ok(Part::Param(Box::new(Param { name, op })))
    }

    /// The word inside `${x-…}` up to the matching `}`; inside `"…"`, `'` is plain text.
    fn param_word(&mut self, in_dquote: bool) -> R<Word> {
        self.enter()?;
        let mut w = Parts::new(false);
        if self.peek() == Some('~') {
            let r = &self.rest()[1..];
            let end = r.find(['/', '}']).unwrap_or(r.len());
            if r[..end].chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
                w.part(Part::Tilde(r[..end].to_string()));
                self.pos += 1 + end;
            }
        }
        loop {
            let Some(c) = self.peek() else {
                return Err(ParseError::Incomplete("missing closing } of ${".into()));
            };
            match c {
                '}' => {
                    self.pos += 1;
                    break;
                }
                '\'' if !in_dquote => w.part(Part::Quoted(self.single_quoted()?)),
                '"' => {
                    self.pos += 1;
                    w.part(Part::DQuote(self.dquoted()?));
                }
                '\\' => {
                    self.pos += 1;
                    if let Some(n) = self.bump() {
                        if n != '\n' {
                            w.part(Part::Quoted(n.to_string()));
                        }
                    }
                }
                '$' | '`' => self.expansion(&mut w, false)?,
                _ => self.plain(c, &mut w),
            }
        }
        self.leave();
        Ok(Word(w.done()))
    }
}

/// A word's parts as they are read: plain text gathers until a quote or an expansion ends it.
struct Parts {
    parts: Vec<Part>,
    text: String,
    /// Whether the gathered text is quoted (inside `"…"`, a here-document, `$((…))`).
    quoted: bool,
}

impl Parts {
    fn new(quoted: bool) -> Self {
        Parts { parts: Vec::new(), text: String::new(), quoted }
    }

    fn text(&mut self, c: char) {
        self.text.push(c);
    }

    fn part(&mut self, p: Part) {
        self.flush();
        self.parts.push(p);
    }

    fn flush(&mut self) {
        if !self.text.is_empty() {
            let s = std::mem::take(&mut self.text);
            self.parts.push(if self.quoted { Part::Quoted(s) } else { Part::Lit(s) });
        }
    }

    fn done(mut self) -> Vec<Part> {
        self.flush();
        self.parts
    }
}

/// `NAME=value` in a command's prefix: the name and the value's word (`~` after `=` expands).
pub fn assignment(word: &Word) -> Option<(String, Word)> {
    let Some(Part::Lit(first)) = word.0.first() else { return None };
    let eq = first.find('=')?;
    if !is_name(&first[..eq]) {
        return None;
    }
    let mut parts = Vec::new();
    let rest = &first[eq + 1..];
    if let Some(after) = rest.strip_prefix('~') {
        let end = after.find('/').unwrap_or(after.len());
        let user = &after[..end];
        if user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && (end < after.len() || word.0.len() == 1)
        {
            parts.push(Part::Tilde(user.to_string()));
            if end < after.len() {
                parts.push(Part::Lit(after[end..].to_string()));
            }
        } else {
            parts.push(Part::Lit(rest.to_string()));
        }
    } else if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_string()));
    }
    parts.extend(word.0[1..].iter().cloned());
    Some((first[..eq].to_string(), Word(parts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simple(src: &str) -> Simple {
        let list = parse_program(src).unwrap();
        match &list[0].and_or.first.commands[0] {
            Command::Simple(s) => s.clone(),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn words_and_quotes() {
        let s = simple("echo 'a  b' \"c $HOME\" d\\ e");
        assert_eq!(s.words.len(), 4);
        assert_eq!(s.words[1], Word(vec![Part::Quoted("a  b".into())]));
        assert_eq!(
            s.words[2],
            Word(vec![Part::DQuote(vec![
                Part::Quoted("c ".into()),
                Part::Param(Box::new(Param { name: "HOME".into(), op: ParamOp::Plain }))
            ])])
        );
        assert_eq!(s.words[3], Word(vec![Part::Lit("d".into()), Part::Quoted(" ".into()), Part::Lit("e".into())]));
        assert_eq!(simple("ls # comment").words.len(), 1);
        assert_eq!(simple("a=b#c").assigns[0].0, "a");
    }

    #[test]
    fn lists_pipelines_and_compounds() {
        let l = parse_program("a | b && ! c || d & e; f\n g").unwrap();
        assert_eq!(l.len(), 4);
        assert!(l[0].background);
        assert_eq!(l[0].and_or.first.commands.len(), 2);
        assert_eq!(l[0].and_or.rest.len(), 2);
        assert!(l[0].and_or.rest[0].1.bang);
        for src in [
            "if a; then b; elif c; then d; else e; fi",
            "for i in 1 2 3; do echo $i; done",
            "for i\ndo echo; done",
            "while a; do b; done",
            "until a; do b; done",
            "case $x in a|b) echo;; (c) ;; *) x ;; esac",
            "case x in esac",
            "f() { echo; }",
            "f() ( echo )",
            "{ a; b; } > f",
            "(a; b) 2>&1",
            "echo $(a | b) `c` $((1 + (2*3))) ${x:-y} ${#x} ${x%%.*}",
            "cat <<EOF\nhello $x\nEOF\necho after",
            "cat <<-'EOF' <<B\n\tq $x\n\tEOF\nb\nB\n",
        ] {
            if let Err(e) = parse_program(src) {
                panic!("{src:?}: {e}");
            }
        }
    }

    #[test]
    fn here_documents() {
        let l = parse_program("cat <<E; echo x\na $y\nE\necho z").unwrap();
        assert_eq!(l.len(), 3);
        let Command::Simple(s) = &l[0].and_or.first.commands[0] else { panic!() };
        assert_eq!(s.redirs[0].op, RedirOp::HereDoc { expand: true });
        assert_eq!(s.redirs[0].target.0[0], Part::Quoted("a ".into()));
        let l = parse_program("cat <<'E'\n$y\nE\n").unwrap();
        let Command::Simple(s) = &l[0].and_or.first.commands[0] else { panic!() };
        assert_eq!(s.redirs[0].target, Word(vec![Part::Quoted("$y\n".into())]));
    }

    #[test]
    fn incomplete_input_asks_for_more() {
        for src in [
            "echo 'x",
            "echo \"x",
            "if true; then",
            "for i in 1; do",
            "a &&",
            "a |",
            "{ echo",
            "case x in",
            "cat <<EOF\nline",
            "echo $(ls",
            "echo ${x",
            "echo `ls",
            "f() {",
            "echo \\\n",
            "echo $((1+",
        ] {
            assert!(matches!(parse_program(src), Err(ParseError::Incomplete(_))), "{src:?}: {:?}", parse_program(src));
        }
    }

    #[test]
    fn syntax_errors_are_named() {
        for src in ["&& ls", "ls ;; x", "fi", "echo )", "(", "if; then fi", "echo ${x!}", "f() echo", "for 1 in"] {
            match parse_program(src) {
                Err(ParseError::Syntax(_)) | Err(ParseError::Incomplete(_)) => {}
                other => panic!("{src:?}: {other:?}"),
            }
        }
        assert!(matches!(parse_program("ls ;; x"), Err(ParseError::Syntax(_))));
    }

    /// The deepest input allowed fits in a test thread's 2 MiB stack in a debug build, with room.
    #[test]
    fn the_deepest_nesting_fits_a_small_stack() {
        let n = MAX_DEPTH as usize - 2;
        let inputs = [
            format!("{}x{}", "$(".repeat(n), ")".repeat(n)),
            format!("{}x{}", "(".repeat(n), ")".repeat(n)),
            format!("{}x{}", "${x:-".repeat(n), "}".repeat(n)),
            format!("{}x{}", "{ ".repeat(n), "; }".repeat(n)),
            format!("{}x{}", "if a; then ".repeat(n), "; fi".repeat(n)),
        ];
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                for i in &inputs {
                    let list = parse_program(i).unwrap_or_else(|e| panic!("{e}"));
                    super::super::expand::dry_run(&list);
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn caps_are_named_errors() {
        let deep = "(".repeat(10_000);
        assert!(matches!(parse_program(&deep), Err(ParseError::Limit(m)) if m.contains("nesting too deep")));
        let deep = "$(".repeat(10_000);
        assert!(matches!(parse_program(&deep), Err(ParseError::Limit(_))));
        let long = "x".repeat(MAX_LINE + 1);
        assert!(matches!(parse_program(&long), Err(ParseError::Limit(m)) if m.contains("line too long")));
        let doc = format!("cat <<E\n{}E\n", "0123456789abcde\n".repeat(MAX_HEREDOC / 16 + 1));
        assert!(matches!(parse_program(&doc), Err(ParseError::Limit(m)) if m.contains("here-document too large")));
        // Many unclosed `${` are one error, read once (rdbreak issue 14 #5).
        let t = std::time::Instant::now();
        assert!(parse_program(&"${".repeat(50_000)).is_err());
        assert!(t.elapsed().as_secs() < 2);
    }
}
