//! Pattern matching notation (XCU 2.13) for globs, `case` and `${x%p}`: `*`, `?` and bracket
//! expressions (`[abc]`, `[!a-z]`, `[[:digit:]]`). A pattern is text in which `\x` stands for
//! a literal `x`: the expander escapes what was quoted.

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Char(char),
    Any,
    Star,
    Class { negate: bool, items: Vec<Item> },
}

#[derive(Clone, Debug, PartialEq)]
enum Item {
    Char(char),
    Range(char, char),
    Named(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pattern(Vec<Tok>);

/// Whether `p` has an unescaped `*`, `?` or `[` (so it is worth matching against names).
pub fn has_magic(p: &str) -> bool {
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// `p` with its escapes removed: the text a pattern without magic stands for.
pub fn unescape(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` with every pattern character escaped: matches only itself.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '?' | '[' | ']' | '!' | '-' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn class_has(name: &str, c: char) -> bool {
    match name {
        "alnum" => c.is_alphanumeric(),
        "alpha" => c.is_alphabetic(),
        "blank" => c == ' ' || c == '\t',
        "cntrl" => c.is_control(),
        "digit" => c.is_ascii_digit(),
        "graph" => !c.is_control() && !c.is_whitespace(),
        "lower" => c.is_lowercase(),
        "print" => !c.is_control(),
        "punct" => c.is_ascii_punctuation(),
        "space" => c.is_whitespace(),
        "upper" => c.is_uppercase(),
        "xdigit" => c.is_ascii_hexdigit(),
        _ => false,
    }
}

impl Tok {
    fn one(&self, c: char) -> bool {
        match self {
            Tok::Char(x) => *x == c,
            Tok::Any => true,
            Tok::Star => false,
            Tok::Class { negate, items } => {
                let hit = items.iter().any(|i| match i {
                    Item::Char(x) => *x == c,
                    Item::Range(a, b) => (*a..=*b).contains(&c),
                    Item::Named(n) => class_has(n, c),
                });
                hit != *negate
            }
        }
    }
}

impl Pattern {
    pub fn new(p: &str) -> Pattern {
        let chars: Vec<char> = p.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' => {
                    if let Some(&c) = chars.get(i + 1) {
                        toks.push(Tok::Char(c));
                    }
                    i += 2;
                }
                '*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                    i += 1;
                }
                '?' => {
                    toks.push(Tok::Any);
                    i += 1;
                }
                '[' => match bracket(&chars, i + 1) {
                    Some((tok, next)) => {
                        toks.push(tok);
                        i = next;
                    }
                    None => {
                        toks.push(Tok::Char('['));
                        i += 1;
                    }
                },
                c => {
                    toks.push(Tok::Char(c));
                    i += 1;
                }
            }
        }
        Pattern(toks)
    }

    /// No `*`, `?` or bracket expression: it stands for one name (`[` alone is plain text).
    pub fn is_literal(&self) -> bool {
        self.0.iter().all(|t| matches!(t, Tok::Char(_)))
    }

    pub fn matches(&self, s: &str) -> bool {
        let s: Vec<char> = s.chars().collect();
        self.matches_chars(&s)
    }

    fn matches_chars(&self, s: &[char]) -> bool {
        let mut unlimited = u64::MAX;
        self.matches_within(s, &mut unlimited).unwrap_or(false)
    }

    /// [`Pattern::matches_chars`], each step taken out of `budget`; None when it runs out.
    fn matches_within(&self, s: &[char], budget: &mut u64) -> Option<bool> {
        let t = &self.0;
        let (mut ti, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            *budget = budget.checked_sub(1)?;
            if let Some(tok) = t.get(ti) {
                if *tok == Tok::Star {
                    star = Some((ti, si));
                    ti += 1;
                    continue;
                }
                if tok.one(s[si]) {
                    ti += 1;
                    si += 1;
                    continue;
                }
            }
            match star {
                Some((st, ss)) => {
                    ti = st + 1;
                    si = ss + 1;
                    star = Some((st, ss + 1));
                }
                None => return Some(false),
            }
        }
        Some(t[ti..].iter().all(|x| *x == Tok::Star))
    }

    /// Whether the pattern starts with a literal `.` (only then does a glob show dotfiles).
    pub fn starts_with_dot(&self) -> bool {
        self.0.first() == Some(&Tok::Char('.'))
    }

    /// The byte length of the shortest or longest prefix of `s` the pattern matches; Err when
    /// that takes more than [`PATTERN_STEPS`] steps (a multi-megabyte value and a leading `*`
    /// would take hours: the work grows with the square of the length).
    pub fn prefix(&self, s: &str, longest: bool) -> Result<Option<usize>, TooMuchWork> {
        let chars: Vec<(usize, char)> = s.char_indices().collect();
        let cut = |n: usize| chars.get(n).map_or(s.len(), |c| c.0);
        let all: Vec<char> = chars.iter().map(|c| c.1).collect();
        let range: Box<dyn Iterator<Item = usize>> =
            if longest { Box::new((0..=all.len()).rev()) } else { Box::new(0..=all.len()) };
        self.first_within(range, |n| &all[..n]).map(|o| o.map(cut))
    }

    /// The byte offset where the shortest or longest suffix of `s` the pattern matches starts;
    /// Err as for [`Pattern::prefix`].
    pub fn suffix(&self, s: &str, longest: bool) -> Result<Option<usize>, TooMuchWork> {
        let chars: Vec<(usize, char)> = s.char_indices().collect();
        let cut = |n: usize| chars.get(n).map_or(s.len(), |c| c.0);
        let all: Vec<char> = chars.iter().map(|c| c.1).collect();
        let range: Box<dyn Iterator<Item = usize>> =
            if longest { Box::new(0..=all.len()) } else { Box::new((0..=all.len()).rev()) };
        self.first_within(range, |n| &all[n..]).map(|o| o.map(cut))
    }

    /// The first candidate `n` whose slice the pattern matches, within [`PATTERN_STEPS`].
    fn first_within<'s>(
        &self,
        range: Box<dyn Iterator<Item = usize>>,
        slice: impl Fn(usize) -> &'s [char],
    ) -> Result<Option<usize>, TooMuchWork> {
        let mut budget = PATTERN_STEPS;
        for n in range {
            budget = budget.checked_sub(1).ok_or(TooMuchWork)?;
            if self.matches_within(slice(n), &mut budget).ok_or(TooMuchWork)? {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }
}

/// The steps one `${x#p}`-style removal may take: a fraction of a second.
pub const PATTERN_STEPS: u64 = 100_000_000;

/// A pattern removal gave up after [`PATTERN_STEPS`] steps.
#[derive(Debug, PartialEq, Eq)]
pub struct TooMuchWork;

/// A bracket expression starting after `[` at `i`: the token and the index after its `]`.
fn bracket(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negate = matches!(chars.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Tok::Class { negate, items }, i + 1));
        }
        first = false;
        if c == '[' && chars.get(i + 1) == Some(&':') {
            let rest = &chars[i + 2..];
            if let Some(end) = rest.windows(2).position(|w| w == [':', ']']) {
                items.push(Item::Named(rest[..end].iter().collect()));
                i += 2 + end + 2;
                continue;
            }
        }
        let (lo, next) = if c == '\\' { (*chars.get(i + 1)?, i + 2) } else { (c, i + 1) };
        if chars.get(next) == Some(&'-') && chars.get(next + 1).is_some_and(|&d| d != ']') {
            let d = chars[next + 1];
            let (hi, after) = if d == '\\' { (*chars.get(next + 2)?, next + 3) } else { (d, next + 2) };
            items.push(Item::Range(lo, hi));
            i = after;
        } else {
            items.push(Item::Char(lo));
            i = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::new(p).matches(s)
    }

    #[test]
    fn stars_questions_and_brackets() {
        assert!(m("*", ""));
        assert!(m("*.conf", "a.conf") && !m("*.conf", "a.confx"));
        assert!(m("a*b*c", "aXXbYYc") && !m("a*b*c", "aXXbYY"));
        assert!(m("?", "é") && !m("?", "") && !m("?", "ab"));
        assert!(m("sd[a-c]", "sdb") && !m("sd[a-c]", "sdd"));
        assert!(m("sd[!a-c]", "sdd") && m("x[^0-9]", "xa"));
        assert!(m("[]]", "]") && m("[!]]", "a") && !m("[!]]", "]"));
        assert!(m("[[:digit:]][[:alpha:]]", "1a") && !m("[[:upper:]]", "a"));
        assert!(m("[ab", "[ab"), "an unclosed bracket is literal");
        assert!(m("\\*", "*") && !m("\\*", "a"));
        assert!(m("a\\[b]", "a[b]"));
        assert!(m("[a\\]]", "]"));
        assert!(!m("*", "\n") || m("*", "\n"));
    }

    #[test]
    fn prefixes_and_suffixes() {
        let p = Pattern::new("*.");
        assert_eq!(p.prefix("a.b.c", false), Ok(Some(2)));
        assert_eq!(p.prefix("a.b.c", true), Ok(Some(4)));
        let p = Pattern::new(".*");
        assert_eq!(p.suffix("a.b.c", false), Ok(Some(3)));
        assert_eq!(p.suffix("a.b.c", true), Ok(Some(1)));
        assert_eq!(Pattern::new("x").suffix("abc", true), Ok(None));
        assert_eq!(Pattern::new("").prefix("abc", true), Ok(Some(0)));
        assert_eq!(Pattern::new("*").suffix("ä/ö", false), Ok(Some(5)));
        // A leading `*` over a long value that never matches: the work grows with the square of
        // the length; it is refused after its steps, not run for hours.
        let long = "b".repeat(200_000);
        assert_eq!(Pattern::new("*a").suffix(&long, true), Err(TooMuchWork));
        assert_eq!(Pattern::new("*a").prefix(&long, true), Err(TooMuchWork));
        assert_eq!(Pattern::new("b").prefix(&long, false), Ok(Some(1)), "a cheap one is not refused");
    }

    #[test]
    fn magic_and_escapes() {
        assert!(has_magic("/dev/sd*") && !has_magic("/dev/sd\\*") && has_magic("[x]"));
        assert!(
            Pattern::new("[").is_literal() && Pattern::new("a[b").is_literal() && !Pattern::new("[ab]").is_literal()
        );
        assert_eq!(unescape("a\\*b\\\\"), "a*b\\");
        let s = "we*ird[?]\\name";
        assert!(m(&escape(s), s) && !m(&escape(s), "weXird[?]\\name"));
    }

    /// A long string against many stars stays fast (no exponential backtracking).
    #[test]
    fn many_stars_are_linear_enough() {
        let p = Pattern::new(&"*a".repeat(50));
        let s = "a".repeat(5000) + "b";
        let t = std::time::Instant::now();
        assert!(!p.matches(&s));
        assert!(t.elapsed().as_secs() < 2);
    }
}
