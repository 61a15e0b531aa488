//! Spiking synapses in ANNarchy's language (NETWORKS.md §2): `parameters` (one value per
//! synapse, or `: projection` for one per projection), `equations` (per-synapse variables,
//! e.g. `dw/dt = -w / tau`, updated every step), `pre_spike` (run for each synapse of a pre
//! neuron when its spike arrives: `g_target += w`, updates of synapse variables) and
//! `post_spike` (run for each synapse of a post neuron that spiked). Expressions read the
//! synapse's parameters and variables, `w`, `pre.x` and `post.x` (variables or parameters of
//! the pre and post neuron), `t` and `dt`.
//!
//! Synapses are evaluated one at a time by a tree interpreter over resolved names (the
//! default synapse, `g_target += w`, runs on the projection's own fast path).

use super::eval::{binary, Builtin};
use super::{
    parse_equations, parse_parameters, BinOp, Ctx, Equation, Expr, Kind, ModelError, ParameterDef,
    Part, CONSTANTS,
};

/// The texts of a synapse definition, as ANNarchy's `Synapse(...)` takes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SynapseText<'a> {
    pub parameters: &'a str,
    pub equations: &'a str,
    pub pre_spike: &'a str,
    pub post_spike: &'a str,
}

/// A synapse model as parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SynapseDef {
    pub name: String,
    pub parameters: Vec<ParameterDef>,
    pub equations: Vec<Equation>,
    pub pre_spike: Vec<Equation>,
    pub post_spike: Vec<Equation>,
}

impl SynapseDef {
    /// The default spiking synapse: `g_target += w`.
    pub fn default_spiking() -> Self {
        Self::parse(
            "DefaultSynapse",
            &SynapseText {
                pre_spike: "g_target += w",
                ..Default::default()
            },
        )
        .unwrap_or_else(|_| Self {
            name: "DefaultSynapse".into(),
            parameters: Vec::new(),
            equations: Vec::new(),
            pre_spike: Vec::new(),
            post_spike: Vec::new(),
        })
    }

    /// Parses and checks a synapse named `name`.
    pub fn parse(name: &str, text: &SynapseText<'_>) -> Result<Self, ModelError> {
        let ctx = |part| Ctx { model: name, part };
        let mut def = Self {
            name: name.to_string(),
            parameters: parse_parameters(&ctx(Part::Parameters), text.parameters)?,
            equations: parse_equations(&ctx(Part::Equations), text.equations)?,
            pre_spike: parse_equations(&ctx(Part::PreSpike), text.pre_spike)?,
            post_spike: parse_equations(&ctx(Part::PostSpike), text.post_spike)?,
        };
        def.check()?;
        // As ANNarchy generates it: the `g_target` statements of `pre_spike` run first, then
        // the others; without one, a spike adds `w` (`g_target += w`).
        let (mut targets, others): (Vec<Equation>, Vec<Equation>) =
            std::mem::take(&mut def.pre_spike)
                .into_iter()
                .partition(|e| e.variable == "g_target");
        if targets.is_empty() {
            targets = parse_equations(&ctx(Part::PreSpike), "g_target += w")?;
        }
        def.pre_spike = targets.into_iter().chain(others).collect();
        Ok(def)
    }

    /// Whether this is `g_target += w` and nothing else (the projection's fast path).
    pub fn is_default(&self) -> bool {
        self.parameters.is_empty()
            && self.equations.is_empty()
            && self.post_spike.is_empty()
            && matches!(self.pre_spike.as_slice(), [e] if e.variable == "g_target"
                && e.kind == Kind::Update(BinOp::Add)
                && e.rhs == Expr::Name("w".into())
                && e.min.is_none()
                && e.max.is_none())
    }

    /// The per-synapse variables: `w` first (a parameter of the projection's weights unless
    /// declared otherwise), then every variable an equation sets.
    pub fn variables(&self) -> Vec<&str> {
        let mut out = vec!["w"];
        for e in &self.equations {
            if !out.contains(&e.variable.as_str()) {
                out.push(&e.variable);
            }
        }
        out
    }

    fn check(&self) -> Result<(), ModelError> {
        let ctx = |part| Ctx {
            model: &self.name,
            part,
        };
        if self.parameters.iter().any(|p| p.name == "w") {
            return Err(ctx(Part::Parameters).error(
                0,
                "w",
                "w is the weight of every synapse; it comes from the projection's weights",
                Some("remove w from the parameters".into()),
            ));
        }
        let variables = self.variables();
        let mut known: Vec<&str> = self.parameters.iter().map(|p| p.name.as_str()).collect();
        known.extend(variables.iter().copied());
        known.extend(CONSTANTS);
        for (part, list) in [
            (Part::Equations, &self.equations),
            (Part::PreSpike, &self.pre_spike),
            (Part::PostSpike, &self.post_spike),
        ] {
            for e in list {
                let target_ok = part == Part::PreSpike && e.variable == "g_target";
                if !target_ok && !variables.contains(&e.variable.as_str()) {
                    return Err(ctx(part).error(
                        e.line,
                        &e.variable,
                        format!(
                            "{} sets {}, which is not a variable of the synapse",
                            part, e.variable
                        ),
                        Some(if part == Part::PreSpike {
                            "pre_spike sets g_target (the post neuron's input) or synapse variables"
                                .into()
                        } else {
                            format!("its variables: {}", variables.join(", "))
                        }),
                    ));
                }
                let mut all = vec![&e.rhs];
                if let Kind::Ode { factor: Some(f) } = &e.kind {
                    all.push(f);
                }
                all.extend(e.max.iter());
                all.extend(e.min.iter());
                for x in all {
                    check_names(&ctx(part), e.line, x, &known, &e.source)?;
                }
            }
        }
        Ok(())
    }
}

/// Unknown names, `pre.`/`post.` of anything else, unknown functions and random numbers.
fn check_names(
    ctx: &Ctx<'_>,
    line: usize,
    e: &Expr,
    known: &[&str],
    source: &str,
) -> Result<(), ModelError> {
    let mut problem: Option<(String, String)> = None;
    e.visit(&mut |x| {
        if problem.is_some() {
            return;
        }
        match x {
            Expr::Name(n) if !known.contains(&n.as_str()) => {
                problem = Some((n.clone(), format!("unknown name \"{n}\" in \"{source}\"")));
            }
            Expr::Attr(a, b) if a != "pre" && a != "post" => {
                problem = Some((
                    format!("{a}.{b}"),
                    format!("{a}.{b}: a synapse reads pre.x and post.x only"),
                ));
            }
            Expr::Call(f, args) => match Builtin::from_name(f) {
                Some(b) if b.arity() == args.len() => {}
                Some(b) => {
                    problem = Some((f.clone(), format!("{f} takes {} argument(s)", b.arity())));
                }
                None => {
                    problem = Some((
                        f.clone(),
                        format!("\"{f}\" is not a function synapses have (no random numbers or user functions in synapses yet)"),
                    ));
                }
            },
            _ => {}
        }
    });
    match problem {
        Some((symbol, message)) => {
            let hint = format!("a synapse reads {}, pre.x and post.x", known.join(", "));
            Err(ctx.error(line, symbol, message, Some(hint)))
        }
        None => Ok(()),
    }
}

/// What a name of a synapse expression refers to, resolved against its projection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ref {
    /// A per-synapse variable (`w` is 0).
    Var(usize),
    Param(usize),
    /// A variable (`true`) or parameter (`false`) of the pre neuron, by index.
    Pre(bool, usize),
    Post(bool, usize),
    Time,
    Dt,
}

/// A synapse expression with its names resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum SExpr {
    Num(f64),
    Ref(Ref),
    Neg(Box<SExpr>),
    Not(Box<SExpr>),
    Bin(BinOp, Box<SExpr>, Box<SExpr>),
    Call(Builtin, Vec<SExpr>),
    If(Box<SExpr>, Box<SExpr>, Box<SExpr>),
}

/// The names a projection's neurons have: (variables, parameters) of pre and post.
pub struct Sides<'a> {
    pub pre: (Vec<&'a str>, Vec<&'a str>),
    pub post: (Vec<&'a str>, Vec<&'a str>),
}

/// The names of a projection's pre and post neurons, owned: (variables, parameters).
#[derive(Debug, Clone, Default)]
pub struct SideNames {
    pub pre: (Vec<String>, Vec<String>),
    pub post: (Vec<String>, Vec<String>),
}

impl SideNames {
    /// The names as [`SExpr::resolve`] reads them.
    pub fn sides(&self) -> Sides<'_> {
        fn strs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        Sides {
            pre: (strs(&self.pre.0), strs(&self.pre.1)),
            post: (strs(&self.post.0), strs(&self.post.1)),
        }
    }
}

impl SExpr {
    /// Resolves `e` against the synapse and the projection's neurons.
    pub fn resolve(e: &Expr, def: &SynapseDef, sides: &Sides<'_>) -> Result<Self, String> {
        let r = |x: &Expr| SExpr::resolve(x, def, sides).map(Box::new);
        Ok(match e {
            Expr::Num(x) => SExpr::Num(*x),
            Expr::Name(n) => match n.as_str() {
                "t" => SExpr::Ref(Ref::Time),
                "dt" => SExpr::Ref(Ref::Dt),
                "pi" => SExpr::Num(std::f64::consts::PI),
                _ => {
                    if let Some(i) = def.variables().iter().position(|v| v == n) {
                        SExpr::Ref(Ref::Var(i))
                    } else if let Some(i) = def.parameters.iter().position(|p| &p.name == n) {
                        SExpr::Ref(Ref::Param(i))
                    } else {
                        return Err(format!("unknown name \"{n}\""));
                    }
                }
            },
            Expr::Attr(side, x) => {
                let (vars, params) = if side == "pre" {
                    &sides.pre
                } else {
                    &sides.post
                };
                let make = |var: bool, i: usize| {
                    if side == "pre" {
                        Ref::Pre(var, i)
                    } else {
                        Ref::Post(var, i)
                    }
                };
                if let Some(i) = vars.iter().position(|v| v == x) {
                    SExpr::Ref(make(true, i))
                } else if let Some(i) = params.iter().position(|p| p == x) {
                    SExpr::Ref(make(false, i))
                } else {
                    return Err(format!(
                        "{side}.{x}: the {side} neurons have no variable or parameter {x} (variables: {})",
                        vars.join(", ")
                    ));
                }
            }
            Expr::Neg(a) => SExpr::Neg(r(a)?),
            Expr::Not(a) => SExpr::Not(r(a)?),
            Expr::Binary(op, a, b) => SExpr::Bin(*op, r(a)?, r(b)?),
            Expr::If(c, a, b) => SExpr::If(r(c)?, r(a)?, r(b)?),
            Expr::Call(f, args) => {
                let b = Builtin::from_name(f).ok_or_else(|| format!("unknown function {f}"))?;
                let args = args
                    .iter()
                    .map(|a| SExpr::resolve(a, def, sides))
                    .collect::<Result<Vec<_>, _>>()?;
                SExpr::Call(b, args)
            }
        })
    }

    /// The value, with `get` giving the value of each name.
    pub fn eval(&self, get: &impl Fn(Ref) -> f64) -> f64 {
        match self {
            SExpr::Num(x) => *x,
            SExpr::Ref(r) => get(*r),
            SExpr::Neg(a) => -a.eval(get),
            SExpr::Not(a) => f64::from(a.eval(get) == 0.0),
            SExpr::Bin(op, a, b) => binary(*op, a.eval(get), b.eval(get)),
            SExpr::If(c, a, b) => {
                if c.eval(get) != 0.0 {
                    a.eval(get)
                } else {
                    b.eval(get)
                }
            }
            SExpr::Call(f, args) => {
                let arg = |i: usize| args.get(i).map_or(0.0, |a| a.eval(get));
                f.apply(arg(0), arg(1), arg(2))
            }
        }
    }
}

/// One statement of a synapse, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct SStatement {
    /// The synapse variable set, or `None` for `g_target`.
    pub var: Option<usize>,
    pub kind: Kind,
    pub rhs: SExpr,
    /// `tau * dx/dt = ...` is solved as a division by the factor.
    pub factor: Option<SExpr>,
    pub min: Option<SExpr>,
    pub max: Option<SExpr>,
}

/// A synapse model resolved against a projection.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledSynapse {
    pub def: SynapseDef,
    pub equations: Vec<SStatement>,
    pub pre_spike: Vec<SStatement>,
    pub post_spike: Vec<SStatement>,
}

impl CompiledSynapse {
    /// Resolves the synapse's names against the projection's pre and post neurons.
    pub fn new(def: &SynapseDef, sides: &Sides<'_>) -> Result<Self, String> {
        let statement = |e: &Equation| -> Result<SStatement, String> {
            let res = |x: &Expr| SExpr::resolve(x, def, sides);
            Ok(SStatement {
                var: def.variables().iter().position(|v| *v == e.variable),
                kind: e.kind.clone(),
                rhs: res(&e.rhs)?,
                factor: match &e.kind {
                    Kind::Ode { factor: Some(f) } => Some(res(f)?),
                    _ => None,
                },
                min: e.min.as_ref().map(res).transpose()?,
                max: e.max.as_ref().map(res).transpose()?,
            })
        };
        let all = |list: &[Equation]| list.iter().map(statement).collect::<Result<Vec<_>, _>>();
        Ok(Self {
            def: def.clone(),
            equations: all(&def.equations)?,
            pre_spike: all(&def.pre_spike)?,
            post_spike: all(&def.post_spike)?,
        })
    }
}

/// Applies a statement's kind: `x = v`, `x += v`, ...
pub fn assign(kind: &Kind, old: f64, value: f64) -> f64 {
    match kind {
        Kind::Update(op) => binary(*op, old, value),
        _ => value,
    }
}
