//! Arithmetic expressions of recorded variables for plot plans (`v - u*2`): numbers,
//! variables, `+ - * /`, unary minus and parentheses. Parsed into a tree and evaluated per
//! sample; never evaluated as code.

/// A parsed expression; variables are indices into [`Expr::variables`].
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    node: Node,
    variables: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Number(f64),
    Variable(usize),
    Neg(Box<Node>),
    Binary(Op, Box<Node>, Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Op(char),
}

/// Why an expression could not be parsed: what and at which character (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    pub position: usize,
    pub message: String,
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at character {}: {}", self.position, self.message)
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            i = crate::model::expr::number_end(&chars, i);
            let literal: String = chars[start..i].iter().collect();
            let value = literal.parse::<f64>().map_err(|_| ExprError {
                position: start + 1,
                message: format!("\"{literal}\" is not a number"),
            })?;
            out.push((start + 1, Token::Number(value)));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((start + 1, Token::Name(chars[start..i].iter().collect())));
        } else if "+-*/()".contains(c) {
            out.push((i + 1, Token::Op(c)));
            i += 1;
        } else {
            return Err(ExprError {
                position: i + 1,
                message: format!(
                    "'{c}' is not allowed; use variables, numbers, + - * / and parentheses"
                ),
            });
        }
    }
    Ok(out)
}

/// Longest expression accepted, in tokens: keeps the tree (and the recursion that builds,
/// evaluates and drops it) shallow whatever a plan file holds.
const MAX_TOKENS: usize = 1000;
/// Deepest nesting of parentheses and unary signs accepted.
const MAX_DEPTH: usize = 100;

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    end: usize,
    variables: Vec<String>,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|t| &t.1)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |t| t.0)
    }

    fn expected(&self, what: &str) -> ExprError {
        let found = match self.peek() {
            None => "the end".to_string(),
            Some(Token::Number(n)) => format!("the number {n}"),
            Some(Token::Name(n)) => format!("\"{n}\""),
            Some(Token::Op(c)) => format!("'{c}'"),
        };
        ExprError {
            position: self.position(),
            message: format!("expected {what}, found {found}"),
        }
    }

    fn sum(&mut self) -> Result<Node, ExprError> {
        let mut left = self.product()?;
        while let Some(Token::Op(c @ ('+' | '-'))) = self.peek() {
            let op = if *c == '+' { Op::Add } else { Op::Sub };
            self.at += 1;
            let right = self.product()?;
            left = Node::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Node, ExprError> {
        let mut left = self.unary()?;
        while let Some(Token::Op(c @ ('*' | '/'))) = self.peek() {
            let op = if *c == '*' { Op::Mul } else { Op::Div };
            self.at += 1;
            let right = self.unary()?;
            left = Node::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        self.depth += 1;
        let node = self.unary_inner();
        self.depth -= 1;
        node
    }

    fn unary_inner(&mut self) -> Result<Node, ExprError> {
        if self.depth > MAX_DEPTH {
            return Err(ExprError {
                position: self.position(),
                message: format!("nested deeper than {MAX_DEPTH} levels"),
            });
        }
        match self.peek() {
            Some(Token::Op('-')) => {
                self.at += 1;
                Ok(Node::Neg(Box::new(self.unary()?)))
            }
            Some(Token::Op('+')) => {
                self.at += 1;
                self.unary()
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Result<Node, ExprError> {
        match self.peek().cloned() {
            Some(Token::Number(n)) => {
                self.at += 1;
                Ok(Node::Number(n))
            }
            Some(Token::Name(name)) => {
                self.at += 1;
                let index = match self.variables.iter().position(|v| *v == name) {
                    Some(i) => i,
                    None => {
                        self.variables.push(name);
                        self.variables.len() - 1
                    }
                };
                Ok(Node::Variable(index))
            }
            Some(Token::Op('(')) => {
                self.at += 1;
                let inner = self.sum()?;
                if self.peek() != Some(&Token::Op(')')) {
                    return Err(self.expected("')'"));
                }
                self.at += 1;
                Ok(inner)
            }
            _ => Err(self.expected("a number, a variable or '('")),
        }
    }
}

impl Expr {
    /// Parses `text`; the error names the character where parsing stopped.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        let tokens = tokenize(text)?;
        let end = text.chars().count() + 1;
        if tokens.len() > MAX_TOKENS {
            return Err(ExprError {
                position: tokens[MAX_TOKENS].0,
                message: format!("longer than {MAX_TOKENS} numbers, variables and operators"),
            });
        }
        let mut parser = Parser {
            tokens,
            at: 0,
            end,
            variables: Vec::new(),
            depth: 0,
        };
        let node = parser.sum()?;
        if parser.at < parser.tokens.len() {
            return Err(parser.expected("an operator (+ - * /)"));
        }
        Ok(Expr {
            node,
            variables: parser.variables,
        })
    }

    /// The variables the expression uses, in order of first appearance.
    pub fn variables(&self) -> &[String] {
        &self.variables
    }

    /// Whether the expression is a single variable.
    pub fn is_variable(&self) -> bool {
        matches!(self.node, Node::Variable(_))
    }

    /// The value for `values[i]` = value of `variables()[i]`.
    pub fn eval(&self, values: &[f64]) -> f64 {
        fn go(node: &Node, values: &[f64]) -> f64 {
            match node {
                Node::Number(n) => *n,
                Node::Variable(i) => values.get(*i).copied().unwrap_or(f64::NAN),
                Node::Neg(x) => -go(x, values),
                Node::Binary(op, a, b) => {
                    let (a, b) = (go(a, values), go(b, values));
                    match op {
                        Op::Add => a + b,
                        Op::Sub => a - b,
                        Op::Mul => a * b,
                        Op::Div => a / b,
                    }
                }
            }
        }
        go(&self.node, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_parentheses_and_unary_minus() {
        let e = Expr::parse("v - u*2").unwrap();
        assert_eq!(e.variables(), ["v", "u"]);
        assert_eq!(e.eval(&[10.0, 3.0]), 4.0);
        let e = Expr::parse("(v - u) * 2 / -4").unwrap();
        assert_eq!(e.eval(&[10.0, 3.0]), -3.5);
        let e = Expr::parse("1.5e1 + v*v - v").unwrap();
        assert_eq!(e.variables(), ["v"]);
        assert_eq!(e.eval(&[3.0]), 21.0);
        assert!(Expr::parse("I_v").unwrap().is_variable());
        assert!(!Expr::parse("-v").unwrap().is_variable());
        // Left to right within one level, as Python evaluates it.
        assert_eq!(Expr::parse("8 / 4 / 2").unwrap().eval(&[]), 1.0);
        assert_eq!(Expr::parse("8 - 4 - 2").unwrap().eval(&[]), 2.0);
    }

    #[test]
    fn errors_name_the_character() {
        for (text, position, needle) in [
            ("v - ", 5, "expected a number, a variable or '('"),
            ("(v - u", 7, "expected ')'"),
            ("v u", 3, "expected an operator"),
            ("v ** 2", 4, "expected a number"),
            ("v; import os", 2, "';' is not allowed"),
            ("__import__('os')", 12, "''' is not allowed"),
            ("1.2.3", 1, "is not a number"),
            ("", 1, "found the end"),
            (&"(".repeat(500), 101, "nested deeper than 100 levels"),
            (&format!("{}v", "-".repeat(500)), 101, "nested deeper"),
            (
                &format!("{}v", "-".repeat(100_000)),
                1001,
                "longer than 1000",
            ),
            (&vec!["v"; 600].join("+"), 1001, "longer than 1000"),
        ] {
            let err = Expr::parse(text).unwrap_err();
            assert_eq!(
                err.position,
                position,
                "{}: {err}",
                &text[..text.len().min(40)]
            );
            assert!(err.message.contains(needle), "{text}: {err}");
        }
    }
}
