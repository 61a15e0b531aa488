//! Expressions of the model language (ANNarchy's): a tokenizer and a precedence-climbing
//! parser into a typed tree. Precedence as Python's, which ANNarchy follows: `or` < `and` <
//! `not` < comparisons < `+ -` < `* / %` < unary `+ -` < `**` / `^` (right-associative, and
//! binding tighter than a unary minus on its left: `-x**2` is `-(x**2)`).

use std::fmt;

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    /// A name: parameter, variable, `t`, `dt`, `pi`, a function's argument, `w`.
    Name(String),
    /// `pre.x` or `post.x` (synapses).
    Attr(String, String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A call of a built-in, a user function, `Uniform` or `Normal`.
    Call(String, Vec<Expr>),
    /// `if c then a else b`, `if c: a else: b`, `ite(c, a, b)`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "**",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(x) => write!(f, "{x}"),
            Expr::Name(n) => write!(f, "{n}"),
            Expr::Attr(a, b) => write!(f, "{a}.{b}"),
            Expr::Neg(e) => write!(f, "(-{e})"),
            Expr::Not(e) => write!(f, "(not {e})"),
            Expr::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Call(name, args) => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, ")")
            }
            Expr::If(c, a, b) => write!(f, "ite({c}, {a}, {b})"),
        }
    }
}

impl Expr {
    /// Every name the expression reads (not the functions it calls), in order, once.
    pub fn names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |e| {
            if let Expr::Name(n) = e {
                if !out.contains(&n.as_str()) {
                    out.push(n.as_str());
                }
            }
        });
        out
    }

    /// Every function called, with its number of arguments.
    pub fn calls(&self) -> Vec<(&str, usize)> {
        let mut out = Vec::new();
        self.visit(&mut |e| {
            if let Expr::Call(n, args) = e {
                out.push((n.as_str(), args.len()));
            }
        });
        out
    }

    /// Calls `f` on this expression and every expression inside it.
    pub fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Num(_) | Expr::Name(_) | Expr::Attr(..) => {}
            Expr::Neg(e) | Expr::Not(e) => e.visit(f),
            Expr::Binary(_, a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.visit(f)),
            Expr::If(c, a, b) => {
                c.visit(f);
                a.visit(f);
                b.visit(f);
            }
        }
    }
}

/// Where and why an expression does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at character {at}")]
pub struct SyntaxError {
    /// 1-based character position in the text given to the parser.
    pub at: usize,
    pub message: String,
    /// The symbol the parser stopped at (empty at the end).
    pub symbol: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(&'static str),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Num(x) => x.to_string(),
            Tok::Ident(s) => s.clone(),
            Tok::Op(s) => s.to_string(),
        }
    }
}

const OPERATORS: [&str; 20] = [
    "**", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "^", "<", ">", "(", ")", ",", ":", ".",
    "=", "!",
];

/// Where a number literal starting at `start` ends: digits and dots, then an optional
/// exponent (`e` or `E`, an optional sign, digits).
pub(crate) fn number_end(chars: &[char], start: usize) -> usize {
    let mut i = start;
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        i += 1;
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        let mut j = i + 1;
        if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_digit() {
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    i
}

fn tokenize(text: &str) -> Result<Vec<(usize, Tok)>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let at = i + 1;
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i = number_end(&chars, i);
            let s: String = chars[start..i].iter().collect();
            let x = s.parse::<f64>().map_err(|_| SyntaxError {
                at,
                message: format!("\"{s}\" is not a number"),
                symbol: s.clone(),
            })?;
            out.push((at, Tok::Num(x)));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((at, Tok::Ident(chars[start..i].iter().collect())));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(op) = OPERATORS.iter().find(|o| rest.starts_with(**o)) else {
                return Err(SyntaxError {
                    at,
                    message: format!("'{c}' is not part of the model language"),
                    symbol: c.to_string(),
                });
            };
            i += op.chars().count();
            out.push((at, Tok::Op(op)));
        }
    }
    Ok(out)
}

/// Parses a whole expression.
pub fn parse(text: &str) -> Result<Expr, SyntaxError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        len: text.chars().count(),
    };
    let e = p.expr()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(p.error(format!("unexpected \"{}\"", t.text()))),
    }
}

struct Parser {
    tokens: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn error(&self, message: String) -> SyntaxError {
        let (at, symbol) = match self.tokens.get(self.pos) {
            Some((at, t)) => (*at, t.text()),
            None => (self.len + 1, String::new()),
        };
        SyntaxError {
            at,
            message,
            symbol,
        }
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.peek() == Some(&Tok::Op(match_op(op))) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(w)) if w == word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<(), SyntaxError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.error(match self.peek() {
                Some(t) => format!("expected \"{op}\", found \"{}\"", t.text()),
                None => format!("expected \"{op}\" before the end"),
            }))
        }
    }

    /// `if c then a else b`, `if c: a else: b`, or an `or` expression.
    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        if self.eat_word("if") {
            let c = self.or()?;
            if !(self.eat_word("then") || self.eat_op(":")) {
                return Err(self.error("expected \"then\" or \":\" after the condition".into()));
            }
            let a = self.expr()?;
            if !self.eat_word("else") {
                return Err(self.error("expected \"else\"".into()));
            }
            self.eat_op(":");
            let b = self.expr()?;
            return Ok(Expr::If(Box::new(c), Box::new(a), Box::new(b)));
        }
        self.or()
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.and()?;
        while self.eat_word("or") {
            e = Expr::Binary(BinOp::Or, Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.not()?;
        while self.eat_word("and") {
            e = Expr::Binary(BinOp::And, Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, SyntaxError> {
        if self.eat_word("not") || self.eat_op("!") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, SyntaxError> {
        let e = self.sum()?;
        for (op, bin) in [
            ("<=", BinOp::Le),
            (">=", BinOp::Ge),
            ("==", BinOp::Eq),
            ("!=", BinOp::Ne),
            ("<", BinOp::Lt),
            (">", BinOp::Gt),
        ] {
            if self.eat_op(op) {
                return Ok(Expr::Binary(bin, Box::new(e), Box::new(self.sum()?)));
            }
        }
        Ok(e)
    }

    fn sum(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.product()?;
        loop {
            let op = if self.eat_op("+") {
                BinOp::Add
            } else if self.eat_op("-") {
                BinOp::Sub
            } else {
                return Ok(e);
            };
            e = Expr::Binary(op, Box::new(e), Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.unary()?;
        loop {
            let op = if self.eat_op("*") {
                BinOp::Mul
            } else if self.eat_op("/") {
                BinOp::Div
            } else if self.eat_op("%") {
                BinOp::Mod
            } else {
                return Ok(e);
            };
            e = Expr::Binary(op, Box::new(e), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat_op("+") {
            return self.unary();
        }
        self.power()
    }

    fn power(&mut self) -> Result<Expr, SyntaxError> {
        let base = self.atom()?;
        if self.eat_op("**") || self.eat_op("^") {
            // Right-associative; the exponent may carry its own sign.
            let exponent = self.unary()?;
            return Ok(Expr::Binary(BinOp::Pow, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Expr, SyntaxError> {
        let Some((_, tok)) = self.tokens.get(self.pos).cloned() else {
            return Err(self.error("expected a number, a name or \"(\" before the end".into()));
        };
        match tok {
            Tok::Num(x) => {
                self.pos += 1;
                Ok(Expr::Num(x))
            }
            Tok::Op("(") => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Tok::Ident(name) => {
                if ["and", "or", "not", "if", "then", "else"].contains(&name.as_str()) {
                    return Err(self.error(format!("unexpected \"{name}\"")));
                }
                self.pos += 1;
                if self.eat_op("(") {
                    let mut args = Vec::new();
                    if !self.eat_op(")") {
                        loop {
                            args.push(self.expr()?);
                            if self.eat_op(")") {
                                break;
                            }
                            self.expect_op(",")?;
                        }
                    }
                    if name == "ite" {
                        // Any other number of arguments is the checker's error to report.
                        return Ok(match <[Expr; 3]>::try_from(args) {
                            Ok([c, a, b]) => Expr::If(Box::new(c), Box::new(a), Box::new(b)),
                            Err(args) => Expr::Call(name, args),
                        });
                    }
                    return Ok(Expr::Call(name, args));
                }
                if (name == "pre" || name == "post") && self.eat_op(".") {
                    return match self.tokens.get(self.pos).cloned() {
                        Some((_, Tok::Ident(attr))) => {
                            self.pos += 1;
                            Ok(Expr::Attr(name, attr))
                        }
                        _ => Err(self.error(format!("expected a variable after \"{name}.\""))),
                    };
                }
                Ok(Expr::Name(name))
            }
            Tok::Op(op) => Err(self.error(format!(
                "expected a number, a name or \"(\", found \"{op}\""
            ))),
        }
    }
}

/// The operator token for `op` (the tokenizer's static strings).
fn match_op(op: &str) -> &'static str {
    OPERATORS.iter().find(|o| **o == op).copied().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(text: &str) -> String {
        parse(text)
            .map(|e| e.to_string())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn precedence_is_pythons() {
        assert_eq!(show("-x**2"), "(-(x ** 2))");
        assert_eq!(show("a**b**c"), "(a ** (b ** c))");
        assert_eq!(show("2^-1"), "(2 ** (-1))");
        assert_eq!(show("a - b - c"), "((a - b) - c)");
        assert_eq!(show("a / b * c"), "((a / b) * c)");
        assert_eq!(show("a < b and not c or d"), "(((a < b) and (not c)) or d)");
        assert_eq!(
            show("k*(v - v_r)*(v - v_t)"),
            "((k * (v - v_r)) * (v - v_t))"
        );
        assert_eq!(
            show("1e-20 + .5 + 3E2"),
            "((0.00000000000000000001 + 0.5) + 300)"
        );
    }

    #[test]
    fn conditionals_in_every_spelling_are_one_node() {
        let a = parse("if v < v_b: -a * u else: a * u").unwrap();
        let b = parse("if v < v_b then -a * u else a * u").unwrap();
        let c = parse("ite(v < v_b, -a * u, a * u)").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(show("pre.r * w + post.v"), "((pre.r * w) + post.v)");
        assert_eq!(
            show("Uniform(0.0, 1.0) * 1000.0 / dt"),
            "((Uniform(0, 1) * 1000) / dt)"
        );
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = parse("(v - 3").unwrap_err();
        assert_eq!(
            (e.at, e.message.as_str()),
            (7, "expected \")\" before the end")
        );
        let e = parse("v $ 2").unwrap_err();
        assert_eq!((e.at, e.symbol.as_str()), (3, "$"));
        let e = parse("v + * 2").unwrap_err();
        assert_eq!(e.symbol, "*");
        assert!(parse("if v: 1").is_err());
    }
}
