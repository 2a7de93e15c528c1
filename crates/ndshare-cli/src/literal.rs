//! The Python literals of a `.npy` header: parsed without running anything
//! (as `ast.literal_eval` does), and written back as Python's `repr` writes
//! them, so that a dtype read from a file is stored as numpy would store it.

use std::fmt::Write as _;

/// A Python literal of the kinds a `.npy` header holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    Str(String),
    Int(u64),
    Bool(bool),
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

/// Deepest nesting parsed: a nested structured dtype is a few levels deep; a
/// hostile header of a million brackets must not exhaust the stack.
const MAX_DEPTH: usize = 32;

/// Parses `text` as one literal, with nothing but white space around it.
pub(crate) fn parse(text: &str) -> Result<Literal, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        at: 0,
    };
    let v = p.value(0)?;
    p.space();
    if p.at != p.s.len() {
        return Err(format!("unexpected text at byte {}", p.at));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(b'0'..=b'9') => self.int(),
            Some(b'(') => {
                self.at += 1;
                let (items, comma) = self.items(b')', depth)?;
                // `(x)` is `x`, as in Python; `(x,)` a tuple.
                Ok(match <[Literal; 1]>::try_from(items) {
                    Ok([one]) if !comma => one,
                    Ok([one]) => Literal::Tuple(vec![one]),
                    Err(items) => Literal::Tuple(items),
                })
            }
            Some(b'[') => {
                self.at += 1;
                Ok(Literal::List(self.items(b']', depth)?.0))
            }
            Some(b'{') => {
                self.at += 1;
                self.dict(depth)
            }
            Some(_) if self.word("True") => Ok(Literal::Bool(true)),
            Some(_) if self.word("False") => Ok(Literal::Bool(false)),
            Some(c) => Err(format!(
                "unexpected {:?} at byte {}",
                char::from(c),
                self.at
            )),
            None => Err("unexpected end".into()),
        }
    }

    fn word(&mut self, w: &str) -> bool {
        let end = self.at + w.len();
        let whole = self.s.get(self.at..end) == Some(w.as_bytes())
            && !self
                .s
                .get(end)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        if whole {
            self.at = end;
        }
        whole
    }

    /// Items up to `close`; whether a comma followed the last one.
    fn items(&mut self, close: u8, depth: usize) -> Result<(Vec<Literal>, bool), String> {
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            if self.eat(close) {
                return Ok((items, comma));
            }
            if !items.is_empty() && !comma {
                return Err(format!("expected ',' at byte {}", self.at));
            }
            items.push(self.value(depth + 1)?);
            comma = self.eat(b',');
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Literal, String> {
        let mut pairs = Vec::new();
        let mut comma = true;
        loop {
            if self.eat(b'}') {
                return Ok(Literal::Dict(pairs));
            }
            if !comma {
                return Err(format!("expected ',' at byte {}", self.at));
            }
            let k = self.value(depth + 1)?;
            if !self.eat(b':') {
                return Err(format!("expected ':' at byte {}", self.at));
            }
            let v = self.value(depth + 1)?;
            pairs.push((k, v));
            comma = self.eat(b',');
        }
    }

    fn int(&mut self) -> Result<Literal, String> {
        let start = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let digits = &self.text[start..self.at];
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(format!("invalid number {digits:?}"));
        }
        digits
            .parse()
            .map(Literal::Int)
            .map_err(|_| format!("number {digits} too large"))
    }

    fn string(&mut self, quote: u8) -> Result<Literal, String> {
        self.at += 1;
        let mut out = String::new();
        let rest = &self.text[self.at..];
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == char::from(quote) => {
                    self.at += i + 1;
                    return Ok(Literal::Str(out));
                }
                '\n' => break,
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    let mut hex = |n: usize| -> Result<char, String> {
                        let digits: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                        u32::from_str_radix(&digits, 16)
                            .ok()
                            .filter(|_| digits.len() == n)
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("invalid escape \\{e}{digits}"))
                    };
                    out.push(match e {
                        '\\' | '\'' | '"' => e,
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        '0' => '\0',
                        'x' => hex(2)?,
                        'u' => hex(4)?,
                        'U' => hex(8)?,
                        other => return Err(format!("unsupported escape \\{other}")),
                    });
                }
                c => out.push(c),
            }
        }
        Err("unterminated string".into())
    }
}

/// `s` as Python's `repr` writes a `str`.
pub(crate) fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

impl Literal {
    /// As Python's `repr` writes it.
    pub(crate) fn repr(&self) -> String {
        let join = |items: &[Literal]| {
            items
                .iter()
                .map(Literal::repr)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Literal::Str(s) => repr_str(s),
            Literal::Int(n) => n.to_string(),
            Literal::Bool(true) => "True".into(),
            Literal::Bool(false) => "False".into(),
            Literal::Tuple(items) if items.len() == 1 => format!("({},)", items[0].repr()),
            Literal::Tuple(items) => format!("({})", join(items)),
            Literal::List(items) => format!("[{}]", join(items)),
            Literal::Dict(pairs) => format!(
                "{{{}}}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.repr(), v.repr()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back_what_numpy_writes() {
        for text in [
            "'<f8'",
            "[('x', '<f8'), ('n', '<i4', (2, 3))]",
            "[('é', '|u1'), ('名前', [('a', '<M8[ns]')])]",
            "[(('title', 'x'), '<f4')]",
            "(5,)",
            "()",
            "\"it's\"",
        ] {
            assert_eq!(parse(text).unwrap().repr(), text);
        }
        let header = "{'descr': '<i2', 'fortran_order': False, 'shape': (3, 4), }   \n";
        let Literal::Dict(pairs) = parse(header).unwrap() else {
            panic!()
        };
        assert_eq!(pairs[1].1, Literal::Bool(false));
        assert_eq!(
            pairs[2].1,
            Literal::Tuple(vec![Literal::Int(3), Literal::Int(4)])
        );
        assert_eq!(parse("(7)").unwrap(), Literal::Int(7));
        assert_eq!(
            parse(r"'a\x00\n\\'").unwrap(),
            Literal::Str("a\0\n\\".into())
        );
        assert_eq!(repr_str("a\0\n\\"), r"'a\x00\n\\'");
    }

    #[test]
    fn refuses_what_is_not_a_plain_literal() {
        for bad in [
            "",
            "'open",
            "__import__('os')",
            "[1 2]",
            "{'a' 1}",
            "01",
            "99999999999999999999999",
            "(1,) x",
            &"[".repeat(10_000),
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
