//! Arithmetic expansion (XCU 2.6.4): C's integer operators on signed 64-bit values, with
//! variables by name and assignment. Division by zero is an error, never a crash; overflow wraps.

/// Where names are read and written.
pub trait Vars {
    fn get(&mut self, name: &str) -> Option<String>;
    fn set(&mut self, name: &str, value: i64) -> Result<(), String>;
}

const MAX_DEPTH: u32 = 200;

/// Evaluates `expr`; the error says what is wrong, with the text.
pub fn eval(expr: &str, vars: &mut dyn Vars) -> Result<i64, String> {
    let mut p = Eval { s: expr.as_bytes(), pos: 0, vars, depth: 0 };
    p.space();
    if p.pos == p.s.len() {
        return Ok(0);
    }
    let v = p.assign(true)?;
    p.space();
    if p.pos < p.s.len() {
        return Err(format!("arithmetic syntax error near '{}'", String::from_utf8_lossy(&p.s[p.pos..])));
    }
    Ok(v)
}

/// An integer constant as C writes it: decimal, `0x` hex or `0` octal, with a sign.
pub fn number(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()?
    } else {
        if !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse::<u64>().ok()?
    }
    .cast_signed(); // as C reads 0xffffffffffffffff: -1
    Some(if neg { v.wrapping_neg() } else { v })
}

struct Eval<'a> {
    s: &'a [u8],
    pos: usize,
    vars: &'a mut dyn Vars,
    depth: u32,
}

const ASSIGN_OPS: [&str; 11] = ["<<=", ">>=", "*=", "/=", "%=", "+=", "-=", "&=", "^=", "|=", "="];

impl Eval<'_> {
    fn space(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, op: &str) -> bool {
        self.space();
        if self.s[self.pos..].starts_with(op.as_bytes()) {
            self.pos += op.len();
            true
        } else {
            false
        }
    }

    /// Eats `op` unless it is the start of a longer operator in `not`.
    fn eat_not(&mut self, op: &str, not: &[&str]) -> bool {
        self.space();
        let r = &self.s[self.pos..];
        if not.iter().any(|n| r.starts_with(n.as_bytes())) {
            return false;
        }
        self.eat(op)
    }

    fn name_at(&self) -> Option<(String, usize)> {
        let r = &self.s[self.pos..];
        let first = *r.first()?;
        if !(first == b'_' || first.is_ascii_alphabetic()) {
            return None;
        }
        let len = r.iter().position(|b| !(*b == b'_' || b.is_ascii_alphanumeric())).unwrap_or(r.len());
        Some((String::from_utf8_lossy(&r[..len]).to_string(), len))
    }

    fn value_of(&mut self, name: &str) -> Result<i64, String> {
        match self.vars.get(name) {
            None => Ok(0),
            Some(v) if v.trim().is_empty() => Ok(0),
            Some(v) => number(&v).ok_or_else(|| format!("arithmetic: {name}={v} is not a number")),
        }
    }

    fn assign(&mut self, live: bool) -> Result<i64, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("arithmetic expression nested too deeply (more than {MAX_DEPTH} levels)"));
        }
        let r = self.assign_inner(live);
        self.depth -= 1;
        r
    }

    fn assign_inner(&mut self, live: bool) -> Result<i64, String> {
        self.space();
        let save = self.pos;
        if let Some((name, len)) = self.name_at() {
            self.pos += len;
            self.space();
            let r = &self.s[self.pos..];
            if let Some(op) = ASSIGN_OPS.iter().find(|op| r.starts_with(op.as_bytes()) && !r.starts_with(b"==")) {
                self.pos += op.len();
                let rhs = self.assign(live)?;
                if !live {
                    return Ok(0);
                }
                let v = if *op == "=" {
                    rhs
                } else {
                    let cur = self.value_of(&name)?;
                    binary(&op[..op.len() - 1], cur, rhs)?
                };
                self.vars.set(&name, v)?;
                return Ok(v);
            }
            self.pos = save;
        }
        self.ternary(live)
    }

    fn ternary(&mut self, live: bool) -> Result<i64, String> {
        let c = self.binary_level(0, live)?;
        if !self.eat("?") {
            return Ok(c);
        }
        let a = self.assign(live && c != 0)?;
        if !self.eat(":") {
            return Err("arithmetic: ? without :".into());
        }
        let b = self.assign(live && c == 0)?;
        Ok(if c != 0 { a } else { b })
    }

    /// Binary operators by precedence, lowest first.
    fn binary_level(&mut self, level: usize, live: bool) -> Result<i64, String> {
        const LEVELS: [&[(&str, &[&str])]; 10] = [
            &[("||", &[])],
            &[("&&", &[])],
            &[("|", &["||", "|="])],
            &[("^", &["^="])],
            &[("&", &["&&", "&="])],
            &[("==", &[]), ("!=", &[])],
            &[("<=", &[]), (">=", &[]), ("<", &["<<"]), (">", &[">>"])],
            &[("<<", &["<<="]), (">>", &[">>="])],
            &[("+", &["+="]), ("-", &["-="])],
            &[("*", &["*="]), ("/", &["/="]), ("%", &["%="])],
        ];
        if level == LEVELS.len() {
            return self.unary(live);
        }
        let mut left = self.binary_level(level + 1, live)?;
        'outer: loop {
            for (op, not) in LEVELS[level] {
                if self.eat_not(op, not) {
                    let short = match *op {
                        "||" => left != 0,
                        "&&" => left == 0,
                        _ => false,
                    };
                    let right = self.binary_level(level + 1, live && !short)?;
                    left = match *op {
                        "||" => i64::from(left != 0 || right != 0),
                        "&&" => i64::from(left != 0 && right != 0),
                        _ if !live => 0,
                        _ => binary(op, left, right)?,
                    };
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn unary(&mut self, live: bool) -> Result<i64, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("arithmetic expression nested too deeply (more than {MAX_DEPTH} levels)"));
        }
        let r = self.unary_inner(live);
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self, live: bool) -> Result<i64, String> {
        if self.eat_not("-", &["--"]) {
            return Ok(self.unary(live)?.wrapping_neg());
        }
        if self.eat_not("+", &["++"]) {
            return self.unary(live);
        }
        if self.eat_not("!", &["!="]) {
            return Ok(i64::from(self.unary(live)? == 0));
        }
        if self.eat("~") {
            return Ok(!self.unary(live)?);
        }
        if self.eat("(") {
            let v = self.assign(live)?;
            if !self.eat(")") {
                return Err("arithmetic: missing )".into());
            }
            return Ok(v);
        }
        self.space();
        if let Some((name, len)) = self.name_at() {
            self.pos += len;
            return if live { self.value_of(&name) } else { Ok(0) };
        }
        let r = &self.s[self.pos..];
        let len = r.iter().position(|b| !b.is_ascii_alphanumeric()).unwrap_or(r.len());
        if len == 0 {
            return Err(match r.first() {
                None => "arithmetic: an operand is missing at the end".into(),
                Some(_) => format!("arithmetic syntax error near '{}'", String::from_utf8_lossy(r)),
            });
        }
        let text = String::from_utf8_lossy(&r[..len]).to_string();
        self.pos += len;
        number(&text).ok_or_else(|| format!("arithmetic: bad number '{text}'"))
    }
}

fn binary(op: &str, a: i64, b: i64) -> Result<i64, String> {
    Ok(match op {
        "|" => a | b,
        "^" => a ^ b,
        "&" => a & b,
        "==" => i64::from(a == b),
        "!=" => i64::from(a != b),
        "<" => i64::from(a < b),
        ">" => i64::from(a > b),
        "<=" => i64::from(a <= b),
        ">=" => i64::from(a >= b),
        // The shift count modulo the width, as the machine (and dash) does it.
        "<<" => a.wrapping_shl(u32::try_from(b.rem_euclid(64)).unwrap_or(0)),
        ">>" => a.wrapping_shr(u32::try_from(b.rem_euclid(64)).unwrap_or(0)),
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" | "%" if b == 0 => return Err("arithmetic: division by zero".into()),
        "/" => a.wrapping_div(b),
        "%" => a.wrapping_rem(b),
        _ => return Err(format!("arithmetic: unknown operator {op}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<String, String>);
    impl Vars for Map {
        fn get(&mut self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
        fn set(&mut self, name: &str, value: i64) -> Result<(), String> {
            self.0.insert(name.into(), value.to_string());
            Ok(())
        }
    }

    fn e(s: &str) -> Result<i64, String> {
        eval(s, &mut Map([("x".to_string(), "5".to_string()), ("e".into(), "".into())].into()))
    }

    #[test]
    fn c_operators_and_precedence() {
        assert_eq!(e("6*7"), Ok(42));
        assert_eq!(e("1 + 2 * 3 - 4 / 2"), Ok(5));
        assert_eq!(e("(1+2)*3"), Ok(9));
        assert_eq!(e("-7 / 2"), Ok(-3));
        assert_eq!(e("-7 % 3"), Ok(-1));
        assert_eq!(e("1 << 4 | 1"), Ok(17));
        assert_eq!(e("0x10 + 010 + 10"), Ok(34));
        assert_eq!(e("!0 + !5 + ~0"), Ok(0));
        assert_eq!(e("3 > 2 && 2 > 3 || 1"), Ok(1));
        assert_eq!(e("x ? 10 : 20"), Ok(10));
        assert_eq!(e("x * 2 + e + unset"), Ok(10));
        assert_eq!(e("1 == 1 != 0"), Ok(1));
        assert_eq!(e("5 & 3 ^ 1"), Ok(0));
        assert_eq!(e("  "), Ok(0));
        assert_eq!(e("9223372036854775807 + 1"), Ok(i64::MIN));
        assert_eq!(e("-9223372036854775807 - 1"), Ok(i64::MIN));
        assert_eq!(e("(-9223372036854775807 - 1) / -1"), Ok(i64::MIN));
    }

    #[test]
    fn assignment_and_short_circuit() {
        let mut m = Map(HashMap::new());
        assert!(eval("y = 3, 1", &mut m).is_err());
        assert_eq!(eval("y = 3", &mut m), Ok(3));
        assert_eq!(eval("y += 4", &mut m), Ok(7));
        assert_eq!(eval("y <<= 1", &mut m), Ok(14));
        assert_eq!(eval("0 && (z = 1)", &mut m), Ok(0));
        assert_eq!(eval("1 || (z = 1)", &mut m), Ok(1));
        assert_eq!(eval("0 ? (z = 1) : 2", &mut m), Ok(2));
        assert_eq!(m.0.get("z"), None);
        assert_eq!(eval("1 || 1 / 0", &mut m), Ok(1));
    }

    #[test]
    fn errors_are_named() {
        assert!(e("1/0").unwrap_err().contains("division by zero"));
        assert!(e("1%0").unwrap_err().contains("division by zero"));
        assert!(e("1 +").is_err());
        assert!(e("(1").is_err());
        assert!(e("08").is_err());
        assert!(e("1 2").is_err());
        assert!(e(&"(".repeat(100_000)).unwrap_err().contains("nested too deeply"));
        assert!(e(&"-".repeat(100_000)).is_err());
        let mut m = Map([("v".to_string(), "abc".to_string())].into());
        assert!(eval("v + 1", &mut m).unwrap_err().contains("not a number"));
    }
}
