//! A small JSON reader for the LUKS2 metadata area: the whole text is at most 4 MiB (checked by
//! the caller), nesting is bounded so a hostile header cannot exhaust the stack, and numbers
//! are kept as their text so 64-bit offsets lose nothing. Only what RFC 8259 allows is accepted.

/// A parsed value. Objects keep their members in order (LUKS2 ids are object keys).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number's text, as written (`"16777216"` in LUKS2 is a string, `4000` a number).
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// Deeper than this is refused: LUKS2 metadata nests 4 levels.
pub const MAX_DEPTH: usize = 32;

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    /// An unsigned integer written as a JSON number or, as LUKS2 writes 64-bit values, as a
    /// string of digits.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(s) | Value::String(s) => {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                s.parse().ok()
            }
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
}

/// What is wrong with a JSON text, and at which byte.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct Error {
    pub what: String,
    pub at: usize,
}

/// Parses one JSON text (surrounding whitespace allowed). The error says what and where.
pub fn parse(text: &str) -> Result<Value, Error> {
    let mut p = Parser { b: text.as_bytes(), at: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.at != p.b.len() {
        return Err(Error { what: "text after the value".into(), at: p.at });
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, Error> {
        Err(Error { what: what.to_string(), at: self.at })
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, Error> {
        if self.b[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(v)
        } else {
            self.err("unknown word")
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return self.err(&format!("nested deeper than {MAX_DEPTH}"));
        }
        self.ws();
        match self.b.get(self.at) {
            None => self.err("unexpected end"),
            Some(b'{') => {
                self.at += 1;
                let mut m = Vec::new();
                self.ws();
                if self.eat(b'}') {
                    return Ok(Value::Object(m));
                }
                loop {
                    self.ws();
                    if self.b.get(self.at) != Some(&b'"') {
                        return self.err("expected a member name");
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b':') {
                        return self.err("expected ':'");
                    }
                    let v = self.value(depth + 1)?;
                    m.push((k, v));
                    self.ws();
                    if self.eat(b'}') {
                        return Ok(Value::Object(m));
                    }
                    if !self.eat(b',') {
                        return self.err("expected ',' or '}'");
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut a = Vec::new();
                self.ws();
                if self.eat(b']') {
                    return Ok(Value::Array(a));
                }
                loop {
                    a.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b']') {
                        return Ok(Value::Array(a));
                    }
                    if !self.eat(b',') {
                        return self.err("expected ',' or ']'");
                    }
                }
            }
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("unexpected character"),
        }
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.at;
        self.eat(b'-');
        let digits = |p: &mut Self| {
            let s = p.at;
            while p.b.get(p.at).is_some_and(u8::is_ascii_digit) {
                p.at += 1;
            }
            p.at - s
        };
        if digits(self) == 0 {
            return self.err("a number without digits");
        }
        if self.eat(b'.') && digits(self) == 0 {
            return self.err("no digits after '.'");
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            if digits(self) == 0 {
                return self.err("no digits in the exponent");
            }
        }
        Ok(Value::Number(String::from_utf8_lossy(&self.b[start..self.at]).into_owned()))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let h = self.b.get(self.at..self.at + 4).and_then(|h| std::str::from_utf8(h).ok());
        match h.and_then(|h| u32::from_str_radix(h, 16).ok()) {
            Some(v) => {
                self.at += 4;
                Ok(v)
            }
            None => self.err("bad \\u escape"),
        }
    }

    /// A string starting at the opening quote.
    fn string(&mut self) -> Result<String, Error> {
        self.at += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.at) else { return self.err("unterminated string") };
            self.at += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.b.get(self.at) else { return self.err("unterminated escape") };
                    self.at += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xd800..0xdc00).contains(&hi) {
                                if !(self.eat(b'\\') && self.eat(b'u')) {
                                    return self.err("lone surrogate");
                                }
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return self.err("bad low surrogate");
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            match char::from_u32(cp) {
                                Some(ch) => ch,
                                None => return self.err("bad code point"),
                            }
                        }
                        _ => return self.err("unknown escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return self.err("control character in a string"),
                _ => out.push(c),
            }
        }
        // The input is a &str and escapes add only whole characters, so this is valid UTF-8.
        String::from_utf8(out).or_else(|_| self.err("invalid UTF-8"))
    }
}

/// Standard base64 (RFC 4648, with padding), as LUKS2 writes salts and digests; `max` bounds
/// the decoded size before anything is allocated.
pub fn base64(s: &str, max: usize) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let n = s.len() / 4 * 3 + (s.len() % 4).saturating_sub(1);
    if n > max || s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits).to_le_bytes()[0]); // acc holds bits + 8 bits
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// base64url without padding (RFC 4648 §5), as JWE writes its parts; `max` bounds the
/// decoded size before anything is allocated.
pub fn base64url(s: &str, max: usize) -> Option<Vec<u8>> {
    if s.len() / 4 * 3 > max.saturating_add(3) || s.contains(['+', '/']) {
        return None;
    }
    let std: String = s
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    base64(&std, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_luks2_shapes() {
        let v = parse(
            r#" {"a": {"0": {"n": 4000, "s": "16777216", "l": ["0", "1"], "t": true, "x": null}}, "e": -1.5e+3 } "#,
        )
        .unwrap();
        let z = v.get("a").unwrap().get("0").unwrap();
        assert_eq!(z.get("n").unwrap().as_u64(), Some(4000));
        assert_eq!(z.get("s").unwrap().as_u64(), Some(16777216));
        assert_eq!(z.get("l").unwrap().as_array().unwrap().len(), 2);
        assert_eq!(z.get("t"), Some(&Value::Bool(true)));
        assert_eq!(z.get("x"), Some(&Value::Null));
        assert_eq!(v.get("e").unwrap().as_u64(), None);
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(parse(r#""a\"\\\/\n\u00e9\ud83d\ude00""#).unwrap(), Value::String("a\"\\/\né😀".into()));
        for bad in [r#""\ud83d""#, r#""\x""#, "\"a\nb\"", r#""abc"#, r#""\u12"#] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_malformed_and_deep_input() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "{1:2}", "tru", "01x", "-", "1.", "1e", "[1] 2", "{\"a\":1,}"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert!(parse(&deep).unwrap_err().what.contains("nested deeper"));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        // A million levels would overflow the stack without the bound.
        assert!(parse(&"[".repeat(1 << 20)).is_err());
    }

    #[test]
    fn u64_only_from_digits() {
        for (s, v) in [
            ("\"18446744073709551615\"", Some(u64::MAX)),
            ("\"18446744073709551616\"", None),
            ("\"-1\"", None),
            ("\"\"", None),
            ("\" 1\"", None),
        ] {
            assert_eq!(parse(s).unwrap().as_u64(), v, "{s}");
        }
    }

    #[test]
    fn base64_decodes_and_bounds() {
        assert_eq!(base64("Zm9vYmFy", 64).unwrap(), b"foobar");
        assert_eq!(base64("Zm9vYg==", 64).unwrap(), b"foob");
        assert_eq!(base64("Zm9vYmE=", 64).unwrap(), b"fooba");
        assert_eq!(base64("", 64).unwrap(), b"");
        assert!(base64("Zm9v*mFy", 64).is_none());
        assert!(base64("Z", 64).is_none());
        assert!(base64("Zm9vYmFy", 5).is_none());
    }

    #[test]
    fn base64url_decodes_and_bounds() {
        assert_eq!(base64url("-_8", 64).unwrap(), [0xfb, 0xff]);
        assert_eq!(base64url("eyJhIjoxfQ", 64).unwrap(), br#"{"a":1}"#);
        assert!(base64url("+/8", 64).is_none());
        assert!(base64url("eyJhIjoxfQ", 6).is_none());
        assert!(base64url(&"A".repeat(1 << 20), 64).is_none());
    }
}
