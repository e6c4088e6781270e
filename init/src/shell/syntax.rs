//! The syntax tree of the POSIX Shell Command Language (XCU 2.10's grammar): a list of and-or
//! lists, each of pipelines of commands; simple commands carry words and redirections; words
//! carry their parts (literal text, quotes, expansions) until the expander reads them.

use std::rc::Rc;

/// `a; b & c`: and-or lists, each run in the foreground or in the background (`&`).
pub type List = Vec<Item>;

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub and_or: AndOr,
    pub background: bool,
}

/// `p1 && p2 || p3`: the first pipeline, then each with the operator that joins it.
#[derive(Clone, Debug, PartialEq)]
pub struct AndOr {
    pub first: Pipeline,
    pub rest: Vec<(Join, Pipeline)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    And,
    Or,
}

/// `[!] c1 | c2 | …`
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub bang: bool,
    pub commands: Vec<Command>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Simple(Simple),
    Compound(Compound, Vec<Redir>),
    /// `name() compound-command [redirections]`; shared so defining it is cheap.
    Function(String, Rc<Command>),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Simple {
    pub assigns: Vec<(String, Word)>,
    pub words: Vec<Word>,
    pub redirs: Vec<Redir>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Compound {
    Brace(List),
    Subshell(List),
    /// `for name [in words]; do body; done`; no `in` means `"$@"`.
    For {
        var: String,
        words: Option<Vec<Word>>,
        body: List,
    },
    Case {
        word: Word,
        arms: Vec<CaseArm>,
    },
    /// `if c1; then b1; elif c2; then b2; else e; fi`
    If {
        branches: Vec<(List, List)>,
        otherwise: Option<List>,
    },
    /// `while`/`until` (`until` is set) cond; do body; done
    Loop {
        until: bool,
        cond: List,
        body: List,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct CaseArm {
    pub patterns: Vec<Word>,
    pub body: List,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Redir {
    /// The file descriptor written before the operator (`2>`), or the operator's default.
    pub fd: i32,
    pub op: RedirOp,
    /// The file name, the fd for `>&`/`<&`, or a here-document's body.
    pub target: Word,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirOp {
    /// `<`
    In,
    /// `>`
    Out,
    /// `>|`
    Clobber,
    /// `>>`
    Append,
    /// `<>`
    ReadWrite,
    /// `<&`
    DupIn,
    /// `>&`
    DupOut,
    /// `<<` / `<<-`: the target is the body; `expand` is false when the delimiter was quoted.
    HereDoc { expand: bool },
}

/// A word: its parts in order. `a"$b"'c'` is Lit, DQuote([Param]), Quoted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Word(pub Vec<Part>);

#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Unquoted text: subject to pathname expansion (not to field splitting).
    Lit(String),
    /// Text from `'…'`, a backslash, or the literal text of `"…"`: taken as it is.
    Quoted(String),
    /// `"…"`: its parts are expanded but not split or globbed.
    DQuote(Vec<Part>),
    Param(Box<Param>),
    /// `$(…)` or `` `…` ``
    CommandSub(List),
    /// `$((…))`: the expression, expanded as in double quotes before it is evaluated.
    Arith(Word),
    /// `~` or `~user` at the start of a word (or after `=`/`:` in an assignment).
    Tilde(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// A name, a digit string, or one of `@ * # ? - $ ! 0`.
    pub name: String,
    pub op: ParamOp,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParamOp {
    /// `$x`, `${x}`
    Plain,
    /// `${#x}`
    Length,
    /// `${x-w}` `${x:-w}`
    Default { colon: bool, word: Word },
    /// `${x=w}` `${x:=w}`
    Assign { colon: bool, word: Word },
    /// `${x?w}` `${x:?w}`
    Error { colon: bool, word: Word },
    /// `${x+w}` `${x:+w}`
    Alternative { colon: bool, word: Word },
    /// `${x%p}` `${x%%p}`
    RemoveSuffix { longest: bool, pattern: Word },
    /// `${x#p}` `${x##p}`
    RemovePrefix { longest: bool, pattern: Word },
}

impl Word {
    pub fn lit(s: &str) -> Word {
        Word(vec![Part::Lit(s.to_string())])
    }

    /// The word's text when it is one unquoted literal (reserved words, names, IO numbers).
    pub fn as_plain(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }
}

/// `NAME` as XCU 3.235 defines it: letters, digits and `_`, not starting with a digit.
pub fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}
