//! The shell's command language: words with `'…'`, `"…"` and `\` quoting, `$VAR`/`${VAR}`/`$?`
//! expansion, redirections `<` `>` `>>` `2>` `2>&1`, and lists joined by `;` `&&` `||`.

use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// `< file`
    In(String),
    /// `> file` (append with `>>`), for fd 1 or 2.
    Out { fd: u8, path: String, append: bool },
    /// `2>&1`
    ErrToOut,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    pub words: Vec<String>,
    pub redirects: Vec<Redirect>,
}

/// How a command joins the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    Always,
    And,
    Or,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    UnclosedQuote(char),
    /// `${` without its `}`.
    UnclosedBrace,
    MissingRedirectTarget(String),
    EmptyCommand(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::UnclosedQuote(q) => write!(f, "syntax error: missing closing {q}"),
            ParseError::UnclosedBrace => write!(f, "syntax error: missing closing }} of ${{"),
            ParseError::MissingRedirectTarget(op) => {
                write!(f, "syntax error: {op} needs a file name")
            }
            ParseError::EmptyCommand(op) => write!(f, "syntax error near '{op}'"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Op(&'static str),
}

/// Expands the `$…` at `chars[*i]`. An unclosed `${` is an error, as in dash and bash: read as
/// text, each of n of them searched the rest of the line for a `}` (1e5 characters: 8 s).
fn expand_var(
    chars: &[char],
    i: &mut usize,
    vars: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<(), ParseError> {
    // chars[*i] == '$'
    let start = *i + 1;
    if start < chars.len() && chars[start] == '{' {
        let end = chars[start..].iter().position(|&c| c == '}').ok_or(ParseError::UnclosedBrace)?;
        let name: String = chars[start + 1..start + end].iter().collect();
        *out += &vars(&name).unwrap_or_default();
        *i = start + end + 1;
        return Ok(());
    }
    if start < chars.len() && chars[start] == '?' {
        *out += &vars("?").unwrap_or_default();
        *i = start + 1;
        return Ok(());
    }
    let mut end = start;
    while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
        end += 1;
    }
    if end == start {
        out.push('$');
        *i = start;
        return Ok(());
    }
    let name: String = chars[start..end].iter().collect();
    *out += &vars(&name).unwrap_or_default();
    *i = end;
    Ok(())
}

fn tokenize(line: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut i = 0;
    let flush = |word: &mut String, in_word: &mut bool, tokens: &mut Vec<Token>| {
        if *in_word {
            tokens.push(Token::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                flush(&mut word, &mut in_word, &mut tokens);
                i += 1;
            }
            '#' if !in_word => break,
            '\'' => {
                let end = chars[i + 1..].iter().position(|&x| x == '\'').ok_or(ParseError::UnclosedQuote('\''))?;
                word.extend(&chars[i + 1..i + 1 + end]);
                in_word = true;
                i += end + 2;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err(ParseError::UnclosedQuote('"'));
                    };
                    match d {
                        '"' => {
                            i += 1;
                            break;
                        }
                        '\\' if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars[i + 1]);
                            i += 2;
                        }
                        '$' => expand_var(&chars, &mut i, vars, &mut word)?,
                        _ => {
                            word.push(d);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    word.push(n);
                }
                in_word = true;
                i += 2;
            }
            '$' => {
                expand_var(&chars, &mut i, vars, &mut word)?;
                in_word = true;
            }
            ';' => {
                flush(&mut word, &mut in_word, &mut tokens);
                tokens.push(Token::Op(";"));
                i += 1;
            }
            '&' if chars.get(i + 1) == Some(&'&') => {
                flush(&mut word, &mut in_word, &mut tokens);
                tokens.push(Token::Op("&&"));
                i += 2;
            }
            '|' if chars.get(i + 1) == Some(&'|') => {
                flush(&mut word, &mut in_word, &mut tokens);
                tokens.push(Token::Op("||"));
                i += 2;
            }
            '2' if !in_word && chars.get(i + 1) == Some(&'>') => {
                flush(&mut word, &mut in_word, &mut tokens);
                if chars.get(i + 2) == Some(&'&') && chars.get(i + 3) == Some(&'1') {
                    tokens.push(Token::Op("2>&1"));
                    i += 4;
                } else if chars.get(i + 2) == Some(&'>') {
                    tokens.push(Token::Op("2>>"));
                    i += 3;
                } else {
                    tokens.push(Token::Op("2>"));
                    i += 2;
                }
            }
            '>' => {
                flush(&mut word, &mut in_word, &mut tokens);
                if chars.get(i + 1) == Some(&'>') {
                    tokens.push(Token::Op(">>"));
                    i += 2;
                } else {
                    tokens.push(Token::Op(">"));
                    i += 1;
                }
            }
            '<' => {
                flush(&mut word, &mut in_word, &mut tokens);
                tokens.push(Token::Op("<"));
                i += 1;
            }
            _ => {
                word.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    flush(&mut word, &mut in_word, &mut tokens);
    Ok(tokens)
}

/// Parses one input line into commands with the way each joins the previous one.
pub fn parse(line: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<Vec<(Join, Command)>, ParseError> {
    let tokens = tokenize(line, vars)?;
    let mut out = Vec::new();
    let mut join = Join::Always;
    let mut cmd = Command::default();
    let mut it = tokens.into_iter().peekable();
    while let Some(t) = it.next() {
        match t {
            Token::Word(w) => cmd.words.push(w),
            Token::Op(op @ (";" | "&&" | "||")) => {
                if cmd.words.is_empty() {
                    if op == ";" && cmd.redirects.is_empty() {
                        continue;
                    }
                    return Err(ParseError::EmptyCommand(op.to_string()));
                }
                out.push((join, std::mem::take(&mut cmd)));
                join = match op {
                    "&&" => Join::And,
                    "||" => Join::Or,
                    _ => Join::Always,
                };
            }
            Token::Op("2>&1") => cmd.redirects.push(Redirect::ErrToOut),
            Token::Op(op) => {
                let Some(Token::Word(target)) = it.next() else {
                    return Err(ParseError::MissingRedirectTarget(op.to_string()));
                };
                cmd.redirects.push(match op {
                    "<" => Redirect::In(target),
                    ">" => Redirect::Out { fd: 1, path: target, append: false },
                    ">>" => Redirect::Out { fd: 1, path: target, append: true },
                    "2>" => Redirect::Out { fd: 2, path: target, append: false },
                    _ => Redirect::Out { fd: 2, path: target, append: true },
                });
            }
        }
    }
    if !cmd.words.is_empty() {
        out.push((join, cmd));
    } else if join != Join::Always || !cmd.redirects.is_empty() {
        return Err(ParseError::EmptyCommand(if join == Join::And { "&&" } else { "||" }.to_string()));
    }
    Ok(out)
}

/// Splits a line at `;`, `&&` and `||` outside quotes, without expanding anything, so that each
/// command is expanded just before it runs (`X=1; echo $X` sees the new value).
pub fn split_list(line: &str) -> Result<Vec<(Join, String)>, ParseError> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut join = Join::Always;
    let mut cur = String::new();
    let mut i = 0;
    let push = |join: Join, cur: &mut String, out: &mut Vec<(Join, String)>| {
        out.push((join, std::mem::take(cur)));
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                cur.push(c);
                if let Some(&n) = chars.get(i + 1) {
                    cur.push(n);
                }
                i += 2;
                continue;
            }
            '\'' | '"' => {
                cur.push(c);
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if c == '"' && chars[i] == '\\' && i + 1 < chars.len() {
                        cur.push(chars[i]);
                        i += 1;
                    }
                    cur.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(ParseError::UnclosedQuote(c));
                }
                cur.push(c);
                i += 1;
                continue;
            }
            '#' if cur.is_empty() || cur.ends_with([' ', '\t']) => break,
            ';' => {
                push(join, &mut cur, &mut out);
                join = Join::Always;
                i += 1;
                continue;
            }
            '&' | '|' if chars.get(i + 1) == Some(&c) => {
                if cur.trim().is_empty() {
                    return Err(ParseError::EmptyCommand(format!("{c}{c}")));
                }
                push(join, &mut cur, &mut out);
                join = if c == '&' { Join::And } else { Join::Or };
                i += 2;
                continue;
            }
            _ => cur.push(c),
        }
        i += 1;
    }
    if cur.trim().is_empty() && join != Join::Always {
        return Err(ParseError::EmptyCommand(if join == Join::And { "&&" } else { "||" }.into()));
    }
    push(join, &mut cur, &mut out);
    out.retain(|(_, s)| !s.trim().is_empty());
    Ok(out)
}

/// Expands variables from a map (for tests and for the shell's own variables).
pub fn lookup(map: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    move |k| map.get(k).cloned()
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as a line typed at the prompt, split
/// into its commands and each parsed (with a few variables set); never panics.
pub fn fuzz_one(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(segments) = split_list(&text) {
        for (_, s) in segments {
            let _ = parse(&s, &|k| (k.len() < 3).then(|| "x y".to_string()));
        }
    }
    let _ = parse(&text, &|_| None);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Vec<(Join, Command)> {
        let vars: HashMap<String, String> =
            [("HOME".into(), "/root".into()), ("?".into(), "1".into()), ("SP".into(), "a b".into())].into();
        let f = lookup(&vars);

        parse(line, &f).unwrap()
    }
    fn words(line: &str) -> Vec<String> {
        p(line).into_iter().flat_map(|(_, c)| c.words).collect()
    }

    #[test]
    fn quoting() {
        assert_eq!(words("echo 'a  b' \"c $HOME\" d\\ e"), ["echo", "a  b", "c /root", "d e"]);
        assert_eq!(
            words("echo '$HOME' \"\\$HOME\" $HOME ${HOME}x $? $"),
            ["echo", "$HOME", "$HOME", "/root", "/rootx", "1", "$"]
        );
        assert_eq!(words("echo \"\" x"), ["echo", "", "x"]);
        assert_eq!(words("echo $SP"), ["echo", "a b"], "no field splitting: values stay one word");
        assert_eq!(words("ls # comment"), ["ls"]);
        assert_eq!(words("a=b#c"), ["a=b#c"]);
    }

    #[test]
    fn lists_and_redirections() {
        let r =
            p("mount -o remount,rw /sysroot && chroot /sysroot; echo hi > /tmp/x 2>&1 || cat < /in >> /out 2> /err");
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].0, Join::Always);
        assert_eq!(r[1].0, Join::And);
        assert_eq!(r[2].0, Join::Always);
        assert_eq!(
            r[2].1.redirects,
            [Redirect::Out { fd: 1, path: "/tmp/x".into(), append: false }, Redirect::ErrToOut]
        );
        assert_eq!(r[3].0, Join::Or);
        assert_eq!(
            r[3].1.redirects,
            [
                Redirect::In("/in".into()),
                Redirect::Out { fd: 1, path: "/out".into(), append: true },
                Redirect::Out { fd: 2, path: "/err".into(), append: false }
            ]
        );
    }

    #[test]
    fn errors() {
        let none = |_: &str| None;
        assert_eq!(parse("echo 'x", &none), Err(ParseError::UnclosedQuote('\'')));
        assert_eq!(parse("echo \"x", &none), Err(ParseError::UnclosedQuote('"')));
        assert_eq!(parse("echo >", &none), Err(ParseError::MissingRedirectTarget(">".into())));
        assert_eq!(parse("&& ls", &none), Err(ParseError::EmptyCommand("&&".into())));
        assert_eq!(parse("ls &&", &none), Err(ParseError::EmptyCommand("&&".into())));
        assert_eq!(parse("echo ${HOME", &none), Err(ParseError::UnclosedBrace));
        assert_eq!(parse("echo \"${HOME\"", &none), Err(ParseError::UnclosedBrace));
        assert_eq!(parse("echo '${HOME'", &none).unwrap()[0].1.words, ["echo", "${HOME"]);
        assert_eq!(parse(";;; ;", &none).unwrap(), vec![]);
        assert_eq!(parse("", &none).unwrap(), vec![]);
    }

    /// rdbreak issue 14 #5: n unclosed `${` each searched the rest of the line (1e5 characters
    /// took 8 s); the first one is now the error, so the line is read once.
    #[test]
    fn repeated_unclosed_braces_are_one_error() {
        let none = |_: &str| None;
        let line = "${".repeat(50_000);
        assert_eq!(parse(&line, &none), Err(ParseError::UnclosedBrace));
        assert_eq!(parse(&format!("echo {line}}}"), &none).unwrap()[0].1.words.len(), 2);
    }

    #[test]
    fn split_list_keeps_quotes_and_defers_expansion() {
        let s = split_list("X=1; echo \"a;b\" 'c&&d' && ls || true # note").unwrap();
        let texts: Vec<(Join, &str)> = s.iter().map(|(j, t)| (*j, t.trim())).collect();
        assert_eq!(
            texts,
            [(Join::Always, "X=1"), (Join::Always, "echo \"a;b\" 'c&&d'"), (Join::And, "ls"), (Join::Or, "true")]
        );
        assert_eq!(split_list("echo 'x"), Err(ParseError::UnclosedQuote('\'')));
        assert_eq!(split_list("&& x"), Err(ParseError::EmptyCommand("&&".into())));
        assert_eq!(split_list("x ||"), Err(ParseError::EmptyCommand("||".into())));
        assert_eq!(split_list("a\\;b").unwrap().len(), 1);
    }
}
