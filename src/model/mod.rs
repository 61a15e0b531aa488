//! Neuron models defined by equations in ANNarchy's language (NETWORKS.md §2): parsed into a
//! typed tree ([`NeuronDef`]) and checked (unknown names and functions, wrong flags, ODEs
//! where none may be, recursive functions), with errors naming the model, the part
//! (`parameters`, `equations`, ...), the line and the symbol.
//!
//! [`eval::Compiled`] runs a checked model; populations of the simulator run it through
//! [`crate::sim::NeuronModel::Equations`]. [`library`] holds CompNeuroPy's models.

pub mod column;
pub mod eval;
pub mod expr;
pub mod library;
pub mod synapse;

use std::fmt;

pub use expr::{BinOp, Expr, SyntaxError};

/// The part of a model definition a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Parameters,
    Equations,
    Spike,
    Reset,
    Functions,
    PreSpike,
    PostSpike,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Parameters => "parameters",
            Part::Equations => "equations",
            Part::Spike => "spike",
            Part::Reset => "reset",
            Part::Functions => "functions",
            Part::PreSpike => "pre_spike",
            Part::PostSpike => "post_spike",
        })
    }
}

/// A model definition error: which model, part, line (1-based, within the part's text) and
/// symbol, what is wrong, and what would be right.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("model {model}, {part} line {line}: {message}{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
pub struct ModelError {
    pub model: String,
    pub part: Part,
    pub line: usize,
    /// The symbol at fault (a name, a flag, an operator), empty when there is none.
    pub symbol: String,
    pub message: String,
    pub hint: Option<String>,
}

/// A parameter: `name = value [: population]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterDef {
    pub name: String,
    pub value: f64,
    /// `: population`: one value for the population (else one per neuron).
    pub population: bool,
}

/// How an ODE is integrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Explicit,
    Exponential,
}

/// What an equation sets.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `x = expr`.
    Assign,
    /// `x += expr` (and `-=`, `*=`, `/=` as the operator), in `reset` and synapses.
    Update(BinOp),
    /// `dx/dt = expr`, or `factor * dx/dt = expr` (solved as `expr / factor`).
    Ode { factor: Option<Expr> },
}

/// One equation (a statement of `equations` or `reset`).
#[derive(Debug, Clone, PartialEq)]
pub struct Equation {
    pub variable: String,
    pub kind: Kind,
    pub rhs: Expr,
    pub init: Option<f64>,
    pub min: Option<Expr>,
    pub max: Option<Expr>,
    pub method: Method,
    /// 1-based line within the part's text.
    pub line: usize,
    /// The statement as written (for messages).
    pub source: String,
}

/// A one-line user function: `name(x, y) = expr`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    pub name: String,
    pub args: Vec<String>,
    pub body: Expr,
}

/// A neuron model as parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronDef {
    pub name: String,
    pub parameters: Vec<ParameterDef>,
    pub equations: Vec<Equation>,
    pub spike: Option<Expr>,
    pub reset: Vec<Equation>,
    /// Refractory period in ms.
    pub refractory: Option<f64>,
    pub functions: Vec<FunctionDef>,
    /// Targets of projections read but not set by an equation (`g_ampa`, ...): variables
    /// that start at 0, receive what projections deliver, and are set to 0 after each
    /// update (ANNarchy appends `g_x = 0`).
    pub targets: Vec<String>,
}

/// The texts of a neuron definition, as ANNarchy's `Neuron(...)` takes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NeuronText<'a> {
    pub parameters: &'a str,
    pub equations: &'a str,
    pub spike: &'a str,
    pub reset: &'a str,
    pub functions: &'a str,
    pub refractory: Option<f64>,
}

/// Built-in functions and their number of arguments (`None`: any).
pub const BUILTINS: [(&str, usize); 22] = [
    ("exp", 1),
    ("log", 1),
    ("sqrt", 1),
    ("sin", 1),
    ("cos", 1),
    ("tan", 1),
    ("fabs", 1),
    ("abs", 1),
    ("pos", 1),
    ("neg", 1),
    ("round", 1),
    ("floor", 1),
    ("ceil", 1),
    ("pow", 2),
    ("power", 2),
    ("modulo", 2),
    ("min", 2),
    ("max", 2),
    ("clip", 3),
    ("ite", 3),
    ("Uniform", 2),
    ("Normal", 2),
];

/// Names every model may read.
pub const CONSTANTS: [&str; 3] = ["t", "dt", "pi"];

/// One statement of a part: its text (comments removed, continuation lines joined) and the
/// line it starts on.
#[derive(Debug, Clone, PartialEq)]
struct Statement {
    text: String,
    line: usize,
}

/// Splits a part's text into statements: by newlines and `;`, `#` starting a comment;
/// a line ending with `:` (an `if ...:` or `else:`), a line starting with `else`, and lines
/// inside open parentheses continue the statement before.
fn statements(text: &str) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    let mut open = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        for piece in line.split(';') {
            let piece = piece.trim();
            if piece.is_empty() {
                continue;
            }
            let continues = open || piece.starts_with("else");
            match out.last_mut() {
                Some(last) if continues => {
                    last.text.push(' ');
                    last.text.push_str(piece);
                }
                _ => out.push(Statement {
                    text: piece.to_string(),
                    line: i + 1,
                }),
            }
            let last = out.last().map(|s| s.text.as_str()).unwrap_or("");
            let depth = last.chars().filter(|c| *c == '(').count() as i64
                - last.chars().filter(|c| *c == ')').count() as i64;
            open = last.ends_with(':') || depth > 0;
        }
    }
    out
}

/// Flags a statement may carry after its last `:`.
const FLAGS: [&str; 7] = [
    "init",
    "min",
    "max",
    "population",
    "projection",
    "explicit",
    "exponential",
];

/// A statement split into its body and its flags (`init = -70, min = 0`), when the text
/// after the last top-level `:` is a list of flags (else the `:` belongs to an `if`).
fn split_flags(text: &str) -> (String, Vec<(String, Option<String>)>) {
    let mut depth = 0i32;
    let mut last = None;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ':' if depth == 0 => last = Some(i),
            _ => {}
        }
    }
    let Some(at) = last else {
        return (text.to_string(), Vec::new());
    };
    let tail = &text[at + 1..];
    let mut flags = Vec::new();
    for item in split_top_level(tail) {
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n.trim().to_string(), Some(v.trim().to_string())),
            None => (item.trim().to_string(), None),
        };
        let word = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !word {
            return (text.to_string(), Vec::new());
        }
        flags.push((name, value));
    }
    // `if c: a else: b` ends with an expression, not flags: only words count as flags when
    // one of them is known or has a value.
    let plausible = flags
        .iter()
        .any(|(n, v)| v.is_some() || FLAGS.contains(&n.as_str()));
    if flags.is_empty() || !plausible {
        return (text.to_string(), Vec::new());
    }
    (text[..at].trim().to_string(), flags)
}

/// Splits at top-level commas.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

pub(crate) struct Ctx<'a> {
    pub(crate) model: &'a str,
    pub(crate) part: Part,
}

impl Ctx<'_> {
    pub(crate) fn error(
        &self,
        line: usize,
        symbol: impl Into<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> ModelError {
        ModelError {
            model: self.model.to_string(),
            part: self.part,
            line,
            symbol: symbol.into(),
            message: message.into(),
            hint,
        }
    }

    fn expr(&self, s: &Statement, text: &str) -> Result<Expr, ModelError> {
        expr::parse(text).map_err(|e| {
            self.error(
                s.line,
                e.symbol.clone(),
                format!("{} in \"{text}\"", e),
                None,
            )
        })
    }
}

fn number(ctx: &Ctx<'_>, s: &Statement, name: &str, text: &str) -> Result<f64, ModelError> {
    let e = ctx.expr(s, text)?;
    constant(&e).ok_or_else(|| {
        ctx.error(
            s.line,
            name,
            format!("{name} must be a number, got \"{text}\""),
            None,
        )
    })
}

/// The value of a constant expression (numbers, signs, arithmetic), if it is one.
fn constant(e: &Expr) -> Option<f64> {
    Some(match e {
        Expr::Num(x) => *x,
        Expr::Neg(a) => -constant(a)?,
        Expr::Binary(op, a, b) => {
            let (a, b) = (constant(a)?, constant(b)?);
            match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
                BinOp::Pow => a.powf(b),
                _ => return None,
            }
        }
        Expr::Name(n) if n == "pi" => std::f64::consts::PI,
        _ => return None,
    })
}

pub(crate) fn parse_parameters(ctx: &Ctx<'_>, text: &str) -> Result<Vec<ParameterDef>, ModelError> {
    let mut out: Vec<ParameterDef> = Vec::new();
    for s in statements(text) {
        let (body, flags) = split_flags(&s.text);
        let Some((name, value)) = body.split_once('=') else {
            return Err(ctx.error(
                s.line,
                body.trim(),
                format!("\"{}\" is not a parameter", s.text),
                Some("write name = value, e.g. tau = 20.0 : population".into()),
            ));
        };
        let name = name.trim().to_string();
        check_identifier(ctx, &s, &name)?;
        let value = number(ctx, &s, &name, value.trim())?;
        let mut population = false;
        for (flag, v) in flags {
            match (flag.as_str(), v) {
                // `projection`: a synapse parameter with one value for the projection.
                ("population" | "projection", None) => population = true,
                // ANNarchy's type flags: values are stored as numbers either way.
                ("bool" | "int" | "float", None) => {}
                (other, _) => {
                    return Err(ctx.error(
                        s.line,
                        other,
                        format!(
                        "parameter {name} has the flag \"{other}\", which parameters do not have"
                    ),
                        Some("parameters take : population (one value for the population)".into()),
                    ))
                }
            }
        }
        if out.iter().any(|p| p.name == name) {
            return Err(ctx.error(
                s.line,
                &name,
                format!("parameter {name} is declared twice"),
                None,
            ));
        }
        out.push(ParameterDef {
            name,
            value,
            population,
        });
    }
    Ok(out)
}

fn check_identifier(ctx: &Ctx<'_>, s: &Statement, name: &str) -> Result<(), ModelError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ctx.error(
            s.line,
            name,
            format!("\"{name}\" is not a name (letters, digits and _, not starting with a digit)"),
            None,
        ))
    }
}

/// The left-hand side of an equation: the variable and how it is set.
fn parse_lhs(
    ctx: &Ctx<'_>,
    s: &Statement,
    lhs: &str,
    op: Option<BinOp>,
) -> Result<(String, Kind), ModelError> {
    let lhs = lhs.trim();
    if let Some(op) = op {
        check_identifier(ctx, s, lhs)?;
        return Ok((lhs.to_string(), Kind::Update(op)));
    }
    // `d<x>/dt`, possibly after a factor: `tau * dv/dt`.
    let compact: String = lhs.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(ode) = compact.strip_suffix("/dt") {
        let (factor, d) = match ode.rfind('*') {
            Some(i) => (Some(&ode[..i]), &ode[i + 1..]),
            None => (None, ode),
        };
        let Some(var) = d.strip_prefix('d') else {
            return Err(ctx.error(
                s.line,
                lhs,
                format!("\"{lhs}\" is not an ODE's left-hand side"),
                Some("write dx/dt = ... or tau * dx/dt = ...".into()),
            ));
        };
        check_identifier(ctx, s, var)?;
        let factor = factor.map(|f| ctx.expr(s, f)).transpose()?;
        return Ok((var.to_string(), Kind::Ode { factor }));
    }
    check_identifier(ctx, s, lhs)?;
    Ok((lhs.to_string(), Kind::Assign))
}

/// Parses the statements of `equations` or `reset`.
pub(crate) fn parse_equations(ctx: &Ctx<'_>, text: &str) -> Result<Vec<Equation>, ModelError> {
    let mut out = Vec::new();
    for s in statements(text) {
        let (body, flags) = split_flags(&s.text);
        let (lhs, op, rhs) = split_assignment(&body).ok_or_else(|| {
            ctx.error(
                s.line,
                body.clone(),
                format!("\"{body}\" is not an equation"),
                Some("write x = ..., dx/dt = ... or tau * dx/dt = ...".into()),
            )
        })?;
        let (variable, kind) = parse_lhs(ctx, &s, lhs, op)?;
        if matches!(ctx.part, Part::Reset | Part::PreSpike | Part::PostSpike)
            && matches!(kind, Kind::Ode { .. })
        {
            return Err(ctx.error(
                s.line,
                format!("d{variable}/dt"),
                format!("an ODE (d{variable}/dt) cannot be in {}", ctx.part),
                Some(if ctx.part == Part::Reset {
                    "reset sets values: write v = c or u += d".into()
                } else {
                    format!("{} sets values: write x = ... or x += ...", ctx.part)
                }),
            ));
        }
        let mut eq = Equation {
            variable,
            kind,
            rhs: ctx.expr(&s, rhs.trim())?,
            init: None,
            min: None,
            max: None,
            method: Method::default(),
            line: s.line,
            source: s.text.clone(),
        };
        apply_flags(ctx, &s, &mut eq, flags)?;
        out.push(eq);
    }
    Ok(out)
}

/// `lhs = rhs`, `lhs += rhs` (`-=`, `*=`, `/=`): the first top-level assignment, not a
/// comparison.
fn split_assignment(body: &str) -> Option<(&str, Option<BinOp>, &str)> {
    let bytes = body.as_bytes();
    for (i, c) in body.char_indices() {
        if c != '=' {
            continue;
        }
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + 1).copied();
        if after == Some(b'=') || matches!(before, Some(b'=' | b'<' | b'>' | b'!')) {
            continue;
        }
        let op = match before {
            Some(b'+') => Some(BinOp::Add),
            Some(b'-') => Some(BinOp::Sub),
            Some(b'*') => Some(BinOp::Mul),
            Some(b'/') => Some(BinOp::Div),
            _ => None,
        };
        let lhs_end = if op.is_some() { i - 1 } else { i };
        return Some((&body[..lhs_end], op, &body[i + 1..]));
    }
    None
}

fn apply_flags(
    ctx: &Ctx<'_>,
    s: &Statement,
    eq: &mut Equation,
    flags: Vec<(String, Option<String>)>,
) -> Result<(), ModelError> {
    for (flag, value) in flags {
        match (flag.as_str(), value) {
            ("init", Some(v)) => eq.init = Some(number(ctx, s, "init", &v)?),
            ("min", Some(v)) => eq.min = Some(ctx.expr(s, &v)?),
            ("max", Some(v)) => eq.max = Some(ctx.expr(s, &v)?),
            ("explicit", None) => eq.method = Method::Explicit,
            ("exponential", None) => eq.method = Method::Exponential,
            ("population", None) => {}
            (other, _) => {
                return Err(ctx.error(
                    s.line,
                    other,
                    format!("\"{other}\" is not a flag of a variable"),
                    Some(
                        "flags are init = value, min = expr, max = expr, explicit, exponential"
                            .into(),
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn parse_functions(ctx: &Ctx<'_>, text: &str) -> Result<Vec<FunctionDef>, ModelError> {
    let mut out: Vec<FunctionDef> = Vec::new();
    for s in statements(text) {
        let parsed = s.text.split_once('=').and_then(|(head, body)| {
            let (name, args) = head.trim().strip_suffix(')')?.split_once('(')?;
            Some((name.trim(), args, body))
        });
        let Some((name, args, body)) = parsed else {
            return Err(ctx.error(
                s.line,
                s.text.clone(),
                format!("\"{}\" is not a function definition", s.text),
                Some("write f(x, y) = expression, on one line".into()),
            ));
        };
        check_identifier(ctx, &s, name)?;
        let args: Vec<String> = args
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        for a in &args {
            check_identifier(ctx, &s, a)?;
        }
        let body = ctx.expr(&s, body.trim())?;
        out.push(FunctionDef {
            name: name.to_string(),
            args,
            body,
        });
    }
    Ok(out)
}

impl NeuronDef {
    /// Parses and checks a neuron model named `name`.
    pub fn parse(name: &str, text: &NeuronText<'_>) -> Result<Self, ModelError> {
        let ctx = |part| Ctx { model: name, part };
        let parameters = parse_parameters(&ctx(Part::Parameters), text.parameters)?;
        let functions = parse_functions(&ctx(Part::Functions), text.functions)?;
        let equations = parse_equations(&ctx(Part::Equations), text.equations)?;
        let spike_ctx = ctx(Part::Spike);
        let spike = match statements(text.spike).as_slice() {
            [] => None,
            [s] => Some(spike_ctx.expr(s, &s.text)?),
            [_, s, ..] => {
                return Err(spike_ctx.error(
                    s.line,
                    s.text.clone(),
                    "spike is one condition",
                    Some("join conditions with and / or".into()),
                ))
            }
        };
        let reset = parse_equations(&ctx(Part::Reset), text.reset)?;
        if let Some(r) = text.refractory {
            if !(r.is_finite() && r >= 0.0) {
                return Err(spike_ctx.error(
                    0,
                    "refractory",
                    format!("refractory must be a number of ms >= 0, got {r}"),
                    None,
                ));
            }
        }
        let def = Self {
            name: name.to_string(),
            parameters,
            equations,
            spike,
            reset,
            refractory: text.refractory,
            functions,
            targets: Vec::new(),
        };
        let targets = def.implicit_targets();
        let def = Self { targets, ..def };
        def.check()?;
        Ok(def)
    }

    /// The model's state variables: every variable an equation sets, in order, once, then
    /// the implicit targets.
    pub fn variables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in &self.equations {
            if !out.contains(&e.variable.as_str()) {
                out.push(&e.variable);
            }
        }
        out.extend(self.targets.iter().map(String::as_str));
        out
    }

    /// Names `g_<target>` that the equations, spike or reset read but no equation sets and
    /// no parameter declares, in order of first use.
    fn implicit_targets(&self) -> Vec<String> {
        let set: Vec<&str> = self.equations.iter().map(|e| e.variable.as_str()).collect();
        let mut out: Vec<String> = Vec::new();
        let mut note = |e: &Expr| {
            for n in e.names() {
                let target = n.strip_prefix("g_").is_some_and(|t| !t.is_empty());
                if target
                    && !set.contains(&n)
                    && !self.parameters.iter().any(|p| p.name == n)
                    && !out.iter().any(|o| o == n)
                {
                    out.push(n.to_string());
                }
            }
        };
        for e in self.equations.iter().chain(&self.reset) {
            note(&e.rhs);
            if let Kind::Ode { factor: Some(f) } = &e.kind {
                note(f);
            }
            e.min.iter().chain(e.max.iter()).for_each(&mut note);
        }
        if let Some(s) = &self.spike {
            note(s);
        }
        out
    }

    fn check(&self) -> Result<(), ModelError> {
        let ctx = |part| Ctx {
            model: &self.name,
            part,
        };
        for p in &self.parameters {
            if self.equations.iter().any(|e| e.variable == p.name) {
                let line = self
                    .equations
                    .iter()
                    .find(|e| e.variable == p.name)
                    .map_or(0, |e| e.line);
                return Err(ctx(Part::Equations).error(
                    line,
                    &p.name,
                    format!("{} is a parameter; an equation cannot set it", p.name),
                    Some("rename the variable or the parameter".into()),
                ));
            }
        }
        self.check_functions(&ctx(Part::Functions))?;
        let mut known: Vec<&str> = self.parameters.iter().map(|p| p.name.as_str()).collect();
        known.extend(self.variables());
        known.extend(CONSTANTS);
        for e in &self.equations {
            self.check_expressions(&ctx(Part::Equations), e, &known)?;
        }
        for e in &self.reset {
            self.check_expressions(&ctx(Part::Reset), e, &known)?;
            if !known.contains(&e.variable.as_str()) {
                return Err(ctx(Part::Reset).error(
                    e.line,
                    &e.variable,
                    format!(
                        "reset sets {}, which is not a variable of the model",
                        e.variable
                    ),
                    Some(format!("variables: {}", self.variables().join(", "))),
                ));
            }
        }
        if let Some(spike) = &self.spike {
            self.check_expr(&ctx(Part::Spike), 1, spike, &known, &[])?;
        }
        Ok(())
    }

    fn check_expressions(
        &self,
        ctx: &Ctx<'_>,
        e: &Equation,
        known: &[&str],
    ) -> Result<(), ModelError> {
        let mut all = vec![&e.rhs];
        if let Kind::Ode {
            factor: Some(f), ..
        } = &e.kind
        {
            all.push(f);
        }
        all.extend(e.min.iter());
        all.extend(e.max.iter());
        for x in all {
            self.check_expr(ctx, e.line, x, known, &[])
                .map_err(|err| ModelError {
                    message: err
                        .message
                        .replace(&format!("in \"{x}\""), &format!("in \"{}\"", e.source)),
                    ..err
                })?;
        }
        Ok(())
    }

    /// Unknown names and functions (wrong number of arguments included) in `e`; `args` are
    /// the names a function body may use besides the model's.
    fn check_expr(
        &self,
        ctx: &Ctx<'_>,
        line: usize,
        e: &Expr,
        known: &[&str],
        args: &[String],
    ) -> Result<(), ModelError> {
        for name in e.names() {
            if !known.contains(&name) && !args.iter().any(|a| a == name) {
                return Err(ctx.error(
                    line,
                    name,
                    format!("unknown name \"{name}\" in \"{e}\""),
                    Some(format!("the model knows: {}", known.join(", "))),
                ));
            }
        }
        let mut attrs = Vec::new();
        e.visit(&mut |x| {
            if let Expr::Attr(a, b) = x {
                attrs.push(format!("{a}.{b}"));
            }
        });
        if let Some(a) = attrs.first() {
            return Err(ctx.error(
                line,
                a.clone(),
                format!("{a} is for synapses; a neuron reads its own variables"),
                None,
            ));
        }
        for (f, n) in e.calls() {
            let expected = BUILTINS
                .iter()
                .find(|(b, _)| *b == f)
                .map(|(_, n)| *n)
                .or_else(|| {
                    self.functions
                        .iter()
                        .find(|u| u.name == f)
                        .map(|u| u.args.len())
                });
            match expected {
                None => {
                    return Err(ctx.error(
                        line,
                        f,
                        format!("unknown function \"{f}\""),
                        Some(format!(
                            "built-in functions: {}",
                            BUILTINS.map(|(b, _)| b).join(", ")
                        )),
                    ))
                }
                Some(k) if k != n => {
                    return Err(ctx.error(
                        line,
                        f,
                        format!("{f} takes {k} argument(s), got {n}"),
                        None,
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Function bodies use only their arguments, constants and known functions, and no
    /// function calls itself, directly or through others.
    fn check_functions(&self, ctx: &Ctx<'_>) -> Result<(), ModelError> {
        for (i, f) in self.functions.iter().enumerate() {
            if BUILTINS.iter().any(|(b, _)| *b == f.name)
                || self.functions[..i].iter().any(|g| g.name == f.name)
            {
                return Err(ctx.error(
                    i + 1,
                    &f.name,
                    format!("function {} is defined twice (or is a built-in)", f.name),
                    None,
                ));
            }
            self.check_expr(ctx, i + 1, &f.body, &CONSTANTS, &f.args)?;
            let mut path = vec![f.name.as_str()];
            self.find_cycle(ctx, i + 1, f, &mut path)?;
        }
        Ok(())
    }

    fn find_cycle<'s>(
        &'s self,
        ctx: &Ctx<'_>,
        line: usize,
        f: &'s FunctionDef,
        path: &mut Vec<&'s str>,
    ) -> Result<(), ModelError> {
        for (callee, _) in f.body.calls() {
            if path.contains(&callee) {
                path.push(callee);
                return Err(ctx.error(
                    line,
                    callee,
                    format!(
                        "functions call each other in a cycle: {}",
                        path.join(" -> ")
                    ),
                    Some(
                        "a function may call built-ins and functions that do not call it back"
                            .into(),
                    ),
                ));
            }
            if let Some(g) = self.functions.iter().find(|g| g.name == callee) {
                path.push(&g.name);
                self.find_cycle(ctx, line, g, path)?;
                path.pop();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIF: NeuronText<'static> = NeuronText {
        parameters: "tau = 20.0 : population\nEl = -60.0 : population\nVt = -50.0 : population\nVr = -60.0 : population\nI = 20.0",
        equations: "tau * dv/dt = El - v + I : init = -60",
        spike: "v > Vt",
        reset: "v = Vr",
        functions: "",
        refractory: Some(5.0),
    };

    #[test]
    fn a_lif_parses_into_its_parts() {
        let m = NeuronDef::parse("LIF", &LIF).unwrap();
        assert_eq!(m.parameters.len(), 5);
        assert!(m.parameters[0].population && !m.parameters[4].population);
        assert_eq!(m.variables(), ["v"]);
        let e = &m.equations[0];
        assert_eq!(e.init, Some(-60.0));
        assert!(matches!(&e.kind, Kind::Ode { factor: Some(Expr::Name(n)) } if n == "tau"));
        assert_eq!(e.rhs.to_string(), "((El - v) + I)");
        assert_eq!(m.reset[0].variable, "v");
        assert_eq!(m.refractory, Some(5.0));
    }

    #[test]
    fn statements_join_multi_line_conditionals_and_split_flags_from_ifs() {
        let s = statements("dact/dt = if (rates - act) > 0:\n   (rates - act) / tau_up\n else:\n   (rates - act) / tau_down\nx = 1; y = 2 # two");
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].line, 1);
        assert_eq!((s[1].text.as_str(), s[2].line), ("x = 1", 5));
        let (body, flags) = split_flags("du/dt = if v<v_b: -a * u else: a * u");
        assert!(flags.is_empty(), "{body}");
        let (body, flags) = split_flags("v = 0 : init = -70, min = -100");
        assert_eq!(body, "v = 0");
        assert_eq!(flags.len(), 2);
    }

    fn error(text: NeuronText<'_>) -> ModelError {
        NeuronDef::parse("M", &text).unwrap_err()
    }

    #[test]
    fn errors_name_model_part_line_and_symbol() {
        let e = error(NeuronText {
            equations: "dv/dt = -v\ndu/dt = v - w",
            ..LIF
        });
        assert_eq!(
            (e.part, e.line, e.symbol.as_str()),
            (Part::Equations, 2, "w")
        );
        let e = error(NeuronText {
            equations: "dv/dt = (1 - v",
            ..LIF
        });
        assert!(e.message.contains("expected \")\""), "{e}");
        let e = error(NeuronText {
            equations: "dv/dt = -v : inti = 3",
            ..LIF
        });
        assert_eq!(e.symbol, "inti");
        let e = error(NeuronText {
            reset: "dv/dt = 1",
            ..LIF
        });
        assert_eq!(e.part, Part::Reset);
        let e = error(NeuronText {
            functions: "f(x) = g(x)\ng(x) = f(x)",
            equations: "dv/dt = f(v)",
            ..LIF
        });
        assert!(e.message.contains("f -> g -> f"), "{e}");
        let e = error(NeuronText {
            equations: "dv/dt = exp(v, 2)",
            ..LIF
        });
        assert!(e.message.contains("exp takes 1"), "{e}");
    }
}
