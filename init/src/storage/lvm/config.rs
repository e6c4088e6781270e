//! lvm2's configuration syntax, in which the VG metadata text is written (libdm's
//! `libdm-config.c`): `key = value` and `name { … }` sections, values that are integers,
//! floats, strings (`"…"` with `\"` and `\\` escapes, `'…'` without, or bare words) and flat
//! arrays `[ … ]`; `#` comments. Nesting is bounded, so hostile text cannot exhaust the stack.

use std::collections::HashSet;

use thiserror::Error;

/// Deepest section nesting accepted. VG metadata uses five levels (VG, `logical_volumes`, LV,
/// segment); lvm.conf uses three.
pub const MAX_DEPTH: usize = 16;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("metadata text, line {line}: {what}")]
pub struct Error {
    pub line: usize,
    pub what: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    /// A number with a decimal point, as written: no field rdbreak reads is one, and parsing it
    /// to `f64` would link some 15 KB of float parsing into PID 1 for nothing.
    Float(String),
    Str(String),
    Array(Vec<Value>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Value(Value),
    Section(Section),
}

/// A section's entries in the order written. A key given twice in one section is refused: lvm2
/// never writes that (libdm would warn and merge), and refusing keeps parsing linear.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Section {
    pub entries: Vec<(String, Node)>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, n)| n)
    }
    pub fn value(&self, key: &str) -> Option<&Value> {
        match self.get(key) {
            Some(Node::Value(v)) => Some(v),
            _ => None,
        }
    }
    pub fn section(&self, key: &str) -> Option<&Section> {
        match self.get(key) {
            Some(Node::Section(s)) => Some(s),
            _ => None,
        }
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.value(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.value(key) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }
    /// The sub-sections, in order (e.g. each LV of `logical_volumes`).
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Section)> {
        self.entries.iter().filter_map(|(k, n)| match n {
            Node::Section(s) => Some((k.as_str(), s)),
            Node::Value(_) => None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    SectionBegin,
    SectionEnd,
    ArrayBegin,
    ArrayEnd,
    Comma,
    Eq,
    Int(i64),
    Float(String),
    /// A quoted string, escapes already undone.
    Str(String),
    /// An unquoted word: a key, a section name or (after `=`) a bare string value.
    Word(String),
    Eof,
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

impl<'a> Lexer<'a> {
    fn err(&self, what: impl Into<String>) -> Error {
        Error { line: self.line, what: what.into() }
    }

    fn skip_space(&mut self) {
        while let Some(&b) = self.text.get(self.pos) {
            if b == b'#' {
                while self.text.get(self.pos).is_some_and(|&c| c != b'\n') {
                    self.pos += 1;
                }
            } else if is_space(b) {
                self.line += usize::from(b == b'\n');
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// The next token. Numbers are only recognised where a value may stand (libdm's
    /// `values_allowed`), so a key or an LV named `1root` stays a word.
    fn next(&mut self, value_expected: bool) -> Result<Token, Error> {
        self.skip_space();
        let Some(&c) = self.text.get(self.pos) else { return Ok(Token::Eof) };
        let start = self.pos;
        self.pos += 1;
        let t = match c {
            b'{' => Token::SectionBegin,
            b'}' => Token::SectionEnd,
            b'[' => Token::ArrayBegin,
            b']' => Token::ArrayEnd,
            b',' => Token::Comma,
            b'=' => Token::Eq,
            b'"' => Token::Str(self.quoted(b'"')?),
            b'\'' => Token::Str(self.quoted(b'\'')?),
            b'0'..=b'9' | b'+' | b'-' | b'.' if value_expected => self.number(start)?,
            _ => {
                while self.text.get(self.pos).is_some_and(|&b| !is_space(b) && !b"#={}".contains(&b)) {
                    self.pos += 1;
                }
                Token::Word(String::from_utf8_lossy(&self.text[start..self.pos]).into_owned())
            }
        };
        Ok(t)
    }

    /// A string after its opening quote. In `"…"`, a backslash protects the next byte and is
    /// dropped before `"` and `\` only (`dm_unescape_double_quotes`).
    fn quoted(&mut self, quote: u8) -> Result<String, Error> {
        let line = self.line;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.text.get(self.pos) else {
                return Err(Error { line, what: "string not closed before the end of the text".into() });
            };
            self.pos += 1;
            match b {
                b if b == quote => break,
                b'\\' if quote == b'"' => match self.text.get(self.pos) {
                    Some(&n @ (b'"' | b'\\')) => {
                        out.push(n);
                        self.pos += 1;
                    }
                    Some(&n) => {
                        out.extend_from_slice(&[b'\\', n]);
                        self.line += usize::from(n == b'\n');
                        self.pos += 1;
                    }
                    None => out.push(b'\\'),
                },
                b => {
                    self.line += usize::from(b == b'\n');
                    out.push(b);
                }
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// `[+-]?[0-9]+` (C's base rules: a leading 0 is octal) or, with one `.`, a float.
    fn number(&mut self, start: usize) -> Result<Token, Error> {
        let mut dot = self.text[start] == b'.';
        while let Some(&b) = self.text.get(self.pos) {
            if b.is_ascii_digit() {
                self.pos += 1;
            } else if b == b'.' && !dot {
                dot = true;
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.text.get(self.pos).is_some_and(|&b| !is_space(b) && !b",]}#".contains(&b)) {
            return Err(self.err("a number runs into other characters"));
        }
        let s = std::str::from_utf8(&self.text[start..self.pos]).map_err(|_| self.err("bad number"))?;
        if dot {
            // The loop above let through only digits and one dot after the sign.
            return match s.trim_start_matches(['-', '+']) {
                "." => Err(self.err(format!("bad number {s:?}"))),
                _ => Ok(Token::Float(s.to_string())),
            };
        }
        let (neg, digits) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let radix = if digits.len() > 1 && digits.starts_with('0') { 8 } else { 10 };
        let n = i64::from_str_radix(digits, radix)
            .ok()
            .and_then(|n| if neg { n.checked_neg() } else { Some(n) })
            .ok_or_else(|| self.err(format!("number {s:?} is not a 64-bit integer")))?;
        Ok(Token::Int(n))
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    tok: Token,
}

impl<'a> Parser<'a> {
    fn advance(&mut self, value_expected: bool) -> Result<(), Error> {
        self.tok = self.lex.next(value_expected)?;
        Ok(())
    }

    /// Entries until `}` (or the end of the text at the top level).
    fn entries(&mut self, depth: usize) -> Result<Section, Error> {
        let mut sec = Section::default();
        let mut index: HashSet<String> = HashSet::new();
        loop {
            let key = match std::mem::replace(&mut self.tok, Token::Eof) {
                Token::Eof if depth == 0 => return Ok(sec),
                Token::SectionEnd if depth > 0 => return Ok(sec),
                Token::Eof => return Err(self.lex.err("the text ends inside a section")),
                Token::Word(k) | Token::Str(k) if !k.is_empty() => k,
                t => return Err(self.lex.err(format!("expected a key, found {t:?}"))),
            };
            self.advance(false)?;
            let node = match self.tok {
                Token::SectionBegin => {
                    if depth + 1 >= MAX_DEPTH {
                        return Err(self.lex.err(format!("sections nested deeper than {MAX_DEPTH}")));
                    }
                    self.advance(false)?;
                    let inner = self.entries(depth + 1)?;
                    Node::Section(inner)
                }
                Token::Eq => {
                    self.advance(true)?;
                    Node::Value(self.value()?)
                }
                ref t => return Err(self.lex.err(format!("expected '=' or '{{' after {key:?}, found {t:?}"))),
            };
            self.advance(false)?;
            if index.insert(key.clone()) {
                sec.entries.push((key, node));
            } else {
                return Err(self.lex.err(format!("{key:?} appears twice in one section")));
            }
        }
    }

    /// One value or a flat array; leaves the last token of the value current.
    fn value(&mut self) -> Result<Value, Error> {
        if self.tok != Token::ArrayBegin {
            return self.scalar();
        }
        let mut items = Vec::new();
        self.advance(true)?;
        while self.tok != Token::ArrayEnd {
            items.push(self.scalar()?);
            self.advance(false)?;
            match &self.tok {
                Token::Comma => self.advance(true)?,
                // libdm takes a quoted string without a comma before it; nothing else.
                Token::ArrayEnd | Token::Str(_) => {}
                t => return Err(self.lex.err(format!("expected ',' or ']', found {t:?}"))),
            }
        }
        Ok(Value::Array(items))
    }

    fn scalar(&mut self) -> Result<Value, Error> {
        match std::mem::replace(&mut self.tok, Token::Eof) {
            Token::Int(i) => Ok(Value::Int(i)),
            Token::Float(f) => Ok(Value::Float(f)),
            Token::Str(s) | Token::Word(s) => Ok(Value::Str(s)),
            t => Err(self.lex.err(format!("expected a value, found {t:?}"))),
        }
    }
}

/// Parses a whole text. A NUL ends it, as in libdm.
pub fn parse(text: &[u8]) -> Result<Section, Error> {
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    let mut p = Parser { lex: Lexer { text: &text[..end], pos: 0, line: 1 }, tok: Token::Eof };
    p.advance(false)?;
    p.entries(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn syntax() {
        let t = br#"# a comment
contents = "Text Format Volume Group"
version = 1
description = "say \"hi\" C:\\ \n and \x"
vg {
    id = "abc" # trailing comment
    neg = -5 octal = 010 f = 1.5
    list = ["pv0", 0, "pv1", 2048]
    empty = []
    nocomma = ["a" "b"]
    bare = word
    'quoted key' = 'single \ quotes'
    1root { x = 1 }
}
"#;
        let r = parse(t).unwrap();
        assert_eq!(r.str("contents"), Some("Text Format Volume Group"));
        assert_eq!(r.int("version"), Some(1));
        assert_eq!(r.str("description"), Some("say \"hi\" C:\\ \\n and \\x"));
        let vg = r.section("vg").unwrap();
        assert_eq!(vg.str("id"), Some("abc"));
        assert_eq!(vg.int("neg"), Some(-5));
        assert_eq!(vg.int("octal"), Some(8));
        assert_eq!(vg.value("f"), Some(&Value::Float("1.5".into())));
        assert_eq!(vg.value("list"), Some(&Value::Array(vec![s("pv0"), Value::Int(0), s("pv1"), Value::Int(2048)])));
        assert_eq!(vg.value("empty"), Some(&Value::Array(vec![])));
        assert_eq!(vg.value("nocomma"), Some(&Value::Array(vec![s("a"), s("b")])));
        assert_eq!(vg.str("bare"), Some("word"));
        assert_eq!(vg.str("quoted key"), Some("single \\ quotes"));
        assert_eq!(vg.section("1root").unwrap().int("x"), Some(1));
        assert_eq!(vg.sections().map(|(k, _)| k).collect::<Vec<_>>(), ["1root"]);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert!(parse(b"a = 1\nb { a = 1 }\n").is_ok());
        for t in [&b"a = 1\na = 2\n"[..], b"x { p = 1 }\nx { q = 2 }\n", b"a = 1\na { }\n"] {
            assert!(parse(t).unwrap_err().what.contains("appears twice"), "{}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn nul_ends_the_text() {
        assert_eq!(parse(b"a = 1\n\0garbage {{{").unwrap().int("a"), Some(1));
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"a {\n b = 1\n", 3, "ends inside a section"),
            (b"a = \"open\n\n", 1, "not closed"),
            (b"a = 1\n}\n", 2, "expected a key"),
            (b"a\n= [1 2]", 2, "expected ',' or ']'"),
            (b"a = 12abc", 1, "runs into"),
            (b"a = 99999999999999999999", 1, "64-bit"),
            (b"a = [ [1] ]", 1, "expected a value"),
            (b"a = [1 b]", 1, "expected ',' or ']'"),
            (b"a b = 1", 1, "expected '=' or '{'"),
            (b"= 1", 1, "expected a key"),
            (b"a = ", 1, "expected a value"),
            (b"\"\" = 1", 1, "expected a key"),
        ];
        for (text, line, what) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, *line, "{:?}: {e}", String::from_utf8_lossy(text));
            assert!(e.what.contains(what), "{:?}: {e}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let ok = "a{".repeat(MAX_DEPTH - 1) + &"}".repeat(MAX_DEPTH - 1);
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = "a{".repeat(MAX_DEPTH) + &"}".repeat(MAX_DEPTH);
        assert!(parse(deep.as_bytes()).unwrap_err().what.contains("nested deeper"));
        let hostile = "a{".repeat(1_000_000);
        assert!(parse(hostile.as_bytes()).is_err());
    }

    #[test]
    fn truncated_text_never_panics() {
        let t = br#"vg { id = "x" seqno = 3 list = ["pv0", 0] 'k' = 'v' f = .5 }"#;
        for n in 0..t.len() {
            let _ = parse(&t[..n]);
        }
        for b in [&b"\""[..], b"'", b"[", b"=", b"{", b"}", b"-", b".", b"\\", b"a = \"\\"] {
            let _ = parse(b);
        }
    }
}
