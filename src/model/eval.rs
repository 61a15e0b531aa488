//! Running a checked neuron model in ANNarchy's order (NETWORKS.md §3): assignments in
//! turn, consecutive ODEs as a block (every derivative from the old values, then every
//! step), clamps, refractoriness, implicit targets set to 0, then the spike test and the
//! reset of the neurons that spiked.
//!
//! Each expression is compiled to postfix code and lowered to instructions over *slots*
//! (one value per lane of a block of 256 neurons): names and numbers are read where they
//! are, an operation's result reuses its operands' slot, operations on numbers alone are
//! done once at compile time, and an instruction whose operands are one value for every
//! lane (uniform parameters, numbers, `t`, `dt`) is computed once per block. Each
//! instruction is one loop over the block's lanes, chosen once per block, that the
//! compiler vectorises; the evaluation is built for AVX-512, AVX2 and the baseline and
//! picked at run time. No fused multiply-add is ever used, so every path gives the same
//! bits. The `exponential` method solves an ODE linear in its variable exactly over a step.
//!
//! Operations run in the order written, one IEEE operation per operator (`pow(x, 2)` and
//! `x**2` are `x*x`, as ANNarchy generates them), so a model written in the `cpp` order of
//! ANNarchy's generated code gives its results bit for bit.
//!
//! Random numbers (`Uniform(a, b)`, `Normal(mu, sigma)`: a fresh draw per occurrence, per
//! neuron, per step) come from a counter-based generator ([`draw`]): each value is a pure
//! function of the seed, the population's stream, the occurrence, the step and the neuron,
//! so results do not depend on how neurons are split over blocks or threads.

use super::column::Column;
use super::{BinOp, Equation, Expr, Kind, Method, ModelError, NeuronDef, Part};

/// Neurons evaluated together (256 measured fastest against 512 and 1024 on Izhikevich2007).
const LANES: usize = 256;
/// One value per lane, aligned to a cache line (so that vector loads never straddle two).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Lanes([f64; LANES]);

impl std::ops::Deref for Lanes {
    type Target = [f64; LANES];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Lanes {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A built-in function of one or more arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Builtin {
    Exp,
    Log,
    Sqrt,
    Sin,
    Cos,
    Tan,
    Abs,
    Pos,
    Neg,
    Round,
    Floor,
    Ceil,
    Pow,
    Modulo,
    Min,
    Max,
    Clip,
}

impl Builtin {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "exp" => Builtin::Exp,
            "log" => Builtin::Log,
            "sqrt" => Builtin::Sqrt,
            "sin" => Builtin::Sin,
            "cos" => Builtin::Cos,
            "tan" => Builtin::Tan,
            "fabs" | "abs" => Builtin::Abs,
            "pos" => Builtin::Pos,
            "neg" => Builtin::Neg,
            "round" => Builtin::Round,
            "floor" => Builtin::Floor,
            "ceil" => Builtin::Ceil,
            "pow" | "power" => Builtin::Pow,
            "modulo" => Builtin::Modulo,
            "min" => Builtin::Min,
            "max" => Builtin::Max,
            "clip" => Builtin::Clip,
            _ => return None,
        })
    }

    pub(crate) fn arity(self) -> usize {
        match self {
            Builtin::Pow | Builtin::Modulo | Builtin::Min | Builtin::Max => 2,
            Builtin::Clip => 3,
            _ => 1,
        }
    }

    pub(crate) fn apply(self, a: f64, b: f64, c: f64) -> f64 {
        match self {
            Builtin::Exp => a.exp(),
            Builtin::Log => a.ln(),
            Builtin::Sqrt => a.sqrt(),
            Builtin::Sin => a.sin(),
            Builtin::Cos => a.cos(),
            Builtin::Tan => a.tan(),
            Builtin::Abs => a.abs(),
            // ANNarchy's `positive(x)` = `x > 0 ? x : 0`, `negative(x)` = `x < 0 ? x : 0`.
            Builtin::Pos => {
                if a > 0.0 {
                    a
                } else {
                    0.0
                }
            }
            Builtin::Neg => {
                if a < 0.0 {
                    a
                } else {
                    0.0
                }
            }
            Builtin::Round => a.round(),
            Builtin::Floor => a.floor(),
            Builtin::Ceil => a.ceil(),
            Builtin::Pow => power(a, b),
            // C's fmod: the sign of the dividend.
            Builtin::Modulo => a % b,
            Builtin::Min => a.min(b),
            Builtin::Max => a.max(b),
            // ANNarchy's `clip(x, a, b)` = `x < a ? a : (x > b ? b : x)`.
            Builtin::Clip => {
                if a < b {
                    b
                } else if a > c {
                    c
                } else {
                    a
                }
            }
        }
    }
}

/// `a ** b`: `a*a` for the exponent 2 (as ANNarchy's code generation writes it), the C
/// library's `pow` otherwise.
fn power(a: f64, b: f64) -> f64 {
    if b == 2.0 {
        a * a
    } else {
        a.powf(b)
    }
}

/// One postfix operation.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Var(usize),
    Param(usize),
    Const(f64),
    Time,
    Dt,
    Neg,
    Not,
    Bin(BinOp),
    Call(Builtin),
    /// Pops condition, then-value, else-value (pushed in that order).
    Select,
    /// Pops the two parameters and pushes a draw: uniform in `[a, b)` or normal with mean
    /// `a` and standard deviation `b`. `site` numbers the occurrences of the expression.
    Random {
        normal: bool,
        site: u64,
    },
}

/// Compiled postfix code of one expression.
#[derive(Debug, Clone, PartialEq)]
struct Code(Vec<Op>);

/// What a name refers to.
struct Names<'a> {
    variables: &'a [String],
    parameters: &'a [String],
    /// Random-number occurrences numbered so far, over the whole model.
    sites: std::cell::Cell<u64>,
}

fn compile(e: &Expr, names: &Names<'_>, def: &NeuronDef, out: &mut Vec<Op>) -> Result<(), String> {
    match e {
        Expr::Num(x) => out.push(Op::Const(*x)),
        Expr::Name(n) => out.push(match n.as_str() {
            "t" => Op::Time,
            "dt" => Op::Dt,
            "pi" => Op::Const(std::f64::consts::PI),
            _ => {
                if let Some(i) = names.variables.iter().position(|v| v == n) {
                    Op::Var(i)
                } else if let Some(i) = names.parameters.iter().position(|p| p == n) {
                    Op::Param(i)
                } else {
                    return Err(format!("unknown name \"{n}\""));
                }
            }
        }),
        Expr::Attr(a, b) => return Err(format!("{a}.{b} is for synapses")),
        Expr::Neg(a) => {
            compile(a, names, def, out)?;
            out.push(Op::Neg);
        }
        Expr::Not(a) => {
            compile(a, names, def, out)?;
            out.push(Op::Not);
        }
        Expr::Binary(op, a, b) => {
            compile(a, names, def, out)?;
            compile(b, names, def, out)?;
            out.push(Op::Bin(*op));
        }
        Expr::If(c, a, b) => {
            compile(c, names, def, out)?;
            compile(a, names, def, out)?;
            compile(b, names, def, out)?;
            out.push(Op::Select);
        }
        Expr::Call(name, args) => {
            if name == "Uniform" || name == "Normal" {
                if args.len() != 2 {
                    return Err(format!("{name} takes 2 arguments"));
                }
                for a in args {
                    compile(a, names, def, out)?;
                }
                let site = names.sites.get();
                names.sites.set(site + 1);
                out.push(Op::Random {
                    normal: name == "Normal",
                    site,
                });
                return Ok(());
            }
            if let Some(f) = def.functions.iter().find(|f| &f.name == name) {
                // User functions are inlined: their arguments replace their parameters.
                let body = substitute(&f.body, &f.args, args);
                return compile(&body, names, def, out);
            }
            let b =
                Builtin::from_name(name).ok_or_else(|| format!("unknown function \"{name}\""))?;
            if args.len() != b.arity() {
                return Err(format!("{name} takes {} argument(s)", b.arity()));
            }
            for a in args {
                compile(a, names, def, out)?;
            }
            out.push(Op::Call(b));
        }
    }
    Ok(())
}

/// `body` with every name in `params` replaced by the matching expression of `args`.
fn substitute(body: &Expr, params: &[String], args: &[Expr]) -> Expr {
    match body {
        Expr::Name(n) => params
            .iter()
            .position(|p| p == n)
            .and_then(|i| args.get(i).cloned())
            .unwrap_or_else(|| body.clone()),
        Expr::Num(_) | Expr::Attr(..) => body.clone(),
        Expr::Neg(a) => Expr::Neg(Box::new(substitute(a, params, args))),
        Expr::Not(a) => Expr::Not(Box::new(substitute(a, params, args))),
        Expr::Binary(op, a, b) => Expr::Binary(
            *op,
            Box::new(substitute(a, params, args)),
            Box::new(substitute(b, params, args)),
        ),
        Expr::If(c, a, b) => Expr::If(
            Box::new(substitute(c, params, args)),
            Box::new(substitute(a, params, args)),
            Box::new(substitute(b, params, args)),
        ),
        Expr::Call(f, xs) => Expr::Call(
            f.clone(),
            xs.iter().map(|x| substitute(x, params, args)).collect(),
        ),
    }
}

/// Where an operand of an instruction comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Src {
    /// A slot of the evaluation's scratch (an intermediate value per lane).
    Slot(u16),
    Var(u16),
    Param(u16),
    Const(f64),
    Time,
    Dt,
}

/// One instruction: computes a slot from operands, for every lane of a block.
#[derive(Debug, Clone, PartialEq)]
enum Inst {
    Bin(BinOp, u16, Src, Src),
    Neg(u16, Src),
    Not(u16, Src),
    Call(Builtin, u16, [Src; 3]),
    Select(u16, [Src; 3]),
    Random {
        normal: bool,
        site: u64,
        dst: u16,
        a: Src,
        b: Src,
    },
    Copy(u16, Src),
}

impl Inst {
    /// The slot the instruction writes.
    fn dst(&self) -> u16 {
        match self {
            Inst::Bin(_, d, ..)
            | Inst::Neg(d, _)
            | Inst::Not(d, _)
            | Inst::Call(_, d, _)
            | Inst::Select(d, _)
            | Inst::Copy(d, _)
            | Inst::Random { dst: d, .. } => *d,
        }
    }

    /// The instruction's operands, in order.
    fn sources(&self) -> [Option<Src>; 3] {
        match self {
            Inst::Bin(_, _, a, b) | Inst::Random { a, b, .. } => [Some(*a), Some(*b), None],
            Inst::Neg(_, a) | Inst::Not(_, a) | Inst::Copy(_, a) => [Some(*a), None, None],
            Inst::Call(f, _, args) => {
                let k = f.arity();
                [
                    Some(args[0]),
                    (k > 1).then_some(args[1]),
                    (k > 2).then_some(args[2]),
                ]
            }
            Inst::Select(_, args) => args.map(Some),
        }
    }
}

/// An expression as instructions over slots; its value is `result` (a slot, or an operand
/// read directly when the expression is one name or number).
#[derive(Debug, Clone, PartialEq)]
struct Program {
    insts: Vec<Inst>,
    result: Src,
    /// Slots used, from 0 (the highest slot written + 1).
    slots: u16,
}

impl Program {
    /// Lowers postfix code into instructions whose intermediate values live in slots
    /// `base..`: operands that are names or numbers are read where they are (no copy), the
    /// slots of an operation's operands are reused for its result, and operations on
    /// numbers alone are done once here (the same IEEE operation, so the same bits).
    fn lower(code: &Code, base: u16) -> Program {
        let mut stack: Vec<Src> = Vec::new();
        let mut insts = Vec::new();
        let mut slots = base;
        let next = |stack: &[Src]| {
            base + stack.iter().filter(|s| matches!(s, Src::Slot(_))).count() as u16
        };
        for op in &code.0 {
            let leaf = match op {
                Op::Var(i) => Some(Src::Var(*i as u16)),
                Op::Param(i) => Some(Src::Param(*i as u16)),
                Op::Const(x) => Some(Src::Const(*x)),
                Op::Time => Some(Src::Time),
                Op::Dt => Some(Src::Dt),
                _ => None,
            };
            if let Some(leaf) = leaf {
                stack.push(leaf);
                continue;
            }
            let squares = matches!(op, Op::Call(Builtin::Pow)) && code_arg_is_two(&stack);
            let mut pop = |k: usize| -> Vec<Src> { stack.split_off(stack.len() - k) };
            let (inst, folded) = match op {
                Op::Neg | Op::Not => {
                    let a = pop(1)[0];
                    let d = next(&stack);
                    match (op, a) {
                        (Op::Neg, Src::Const(x)) => (None, Some(-x)),
                        (Op::Neg, _) => (Some(Inst::Neg(d, a)), None),
                        _ => (Some(Inst::Not(d, a)), None),
                    }
                }
                Op::Bin(o) => {
                    let ab = pop(2);
                    match (ab[0], ab[1]) {
                        (Src::Const(x), Src::Const(y)) => (None, Some(binary(*o, x, y))),
                        // `x ** 2` is `x * x` (as `power` computes it).
                        (a, Src::Const(2.0)) if *o == BinOp::Pow => {
                            (Some(Inst::Bin(BinOp::Mul, next(&stack), a, a)), None)
                        }
                        (a, b) => (Some(Inst::Bin(*o, next(&stack), a, b)), None),
                    }
                }
                Op::Call(Builtin::Pow) if squares => {
                    let a = pop(2)[0];
                    (Some(Inst::Bin(BinOp::Mul, next(&stack), a, a)), None)
                }
                Op::Call(f) => {
                    let args = pop(f.arity());
                    let mut a = [Src::Const(0.0); 3];
                    a[..args.len()].copy_from_slice(&args);
                    (Some(Inst::Call(*f, next(&stack), a)), None)
                }
                Op::Select => {
                    let args = pop(3);
                    let a = [args[0], args[1], args[2]];
                    (Some(Inst::Select(next(&stack), a)), None)
                }
                Op::Random { normal, site } => {
                    let ab = pop(2);
                    let inst = Inst::Random {
                        normal: *normal,
                        site: *site,
                        dst: next(&stack),
                        a: ab[0],
                        b: ab[1],
                    };
                    (Some(inst), None)
                }
                _ => unreachable!("leaves are handled above"),
            };
            match (inst, folded) {
                (_, Some(x)) => stack.push(Src::Const(x)),
                (Some(inst), None) => {
                    let d = next(&stack);
                    slots = slots.max(d + 1);
                    insts.push(inst);
                    stack.push(Src::Slot(d));
                }
                (None, None) => {}
            }
        }
        Program {
            insts,
            result: stack.pop().unwrap_or(Src::Const(0.0)),
            slots,
        }
    }

    /// The same program with its value in slot `slot` (copied there when it is read
    /// directly).
    fn into_slot(mut self, slot: u16) -> Program {
        if self.result != Src::Slot(slot) {
            self.insts.push(Inst::Copy(slot, self.result));
            self.result = Src::Slot(slot);
            self.slots = self.slots.max(slot + 1);
        }
        self
    }
}

/// Whether the top of a lowering stack is the number 2 (the exponent of `pow(x, 2)`).
fn code_arg_is_two(stack: &[Src]) -> bool {
    stack.last() == Some(&Src::Const(2.0))
}

/// One compiled equation.
#[derive(Debug, Clone, PartialEq)]
struct Compiled1 {
    var: usize,
    kind: Kind,
    /// The value (assignment), derivative (explicit ODE) or increment (exponential ODE).
    code: Program,
    /// Whether an ODE's code gives the increment of the exponential method.
    exponential: bool,
    /// Whether refractoriness freezes the ODE (every ODE but a `g_*` one).
    frozen: bool,
    min: Option<Program>,
    max: Option<Program>,
}

/// A stage of the update: one assignment, or a block of consecutive ODEs.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Assign(Compiled1),
    Odes(Vec<Compiled1>),
}

/// A neuron model ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub name: String,
    /// State variables, in the order the equations set them.
    pub variables: Vec<String>,
    /// Parameters with their default values.
    pub parameters: Vec<(String, f64)>,
    /// Initial values of the variables (`init` flags, else 0).
    pub initial: Vec<f64>,
    /// Per parameter: whether it has one value for the whole population (`: population`).
    pub population_wide: Vec<bool>,
    stages: Vec<Stage>,
    /// Variables set to 0 after each update (implicit targets).
    zeroed: Vec<usize>,
    /// Projection targets: the variables named `g_*`.
    targets: Vec<usize>,
    spike: Option<Program>,
    reset: Vec<Compiled1>,
    /// The refractory period in ms (0 when none).
    refractory_ms: f64,
    /// Slots the evaluation needs.
    slots: usize,
}

/// A parameter's values: one for all neurons (read without touching memory per neuron),
/// or one per neuron.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Uniform(f64),
    PerNeuron(Vec<f64>),
}

/// The state of a population of a compiled model: per variable and per parameter one value
/// per neuron, and the refractory steps left.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub vars: Vec<Column>,
    /// Per parameter: one value for all neurons, or one per neuron.
    pub params: Vec<Values>,
    pub refractory_left: Vec<i64>,
    /// Where the population's random numbers come from.
    pub stream: Stream,
    /// Buffers of the evaluation, one per part running on its own thread, kept from step
    /// to step (not part of the state).
    scratch: Vec<Scratch>,
}

/// The evaluation's slots, the refractory mask of a block, the lanes that fired, and the
/// spikes of a piece.
#[derive(Debug, Clone, Default)]
struct Scratch {
    slots: Slots,
    in_ref: Vec<f64>,
    fired: Vec<usize>,
    spikes: Vec<u32>,
}

/// Slots of intermediate values: one value per lane, or one value for all lanes (when
/// every operand was: uniform parameters, numbers, `t`, `dt`), computed once per block.
#[derive(Debug, Clone, Default)]
struct Slots {
    lanes: Vec<Lanes>,
    scalar: Vec<Option<f64>>,
}

impl PartialEq for Scratch {
    /// Buffers, not state: any two are alike.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The decomposition `e = a + b * x` of an expression linear in `x` (`None` when it is not).
fn linear_in(e: &Expr, x: &str) -> Option<(Expr, Expr)> {
    let zero = || Expr::Num(0.0);
    let has_x = |e: &Expr| e.names().contains(&x);
    if !has_x(e) {
        return Some((e.clone(), zero()));
    }
    let bin = |op, a: Expr, b: Expr| Expr::Binary(op, Box::new(a), Box::new(b));
    match e {
        Expr::Name(n) if n == x => Some((zero(), Expr::Num(1.0))),
        Expr::Neg(a) => {
            let (a0, a1) = linear_in(a, x)?;
            Some((Expr::Neg(Box::new(a0)), Expr::Neg(Box::new(a1))))
        }
        Expr::Binary(op @ (BinOp::Add | BinOp::Sub), a, b) => {
            let (a0, a1) = linear_in(a, x)?;
            let (b0, b1) = linear_in(b, x)?;
            Some((bin(*op, a0, b0), bin(*op, a1, b1)))
        }
        Expr::Binary(BinOp::Mul, a, b) if !has_x(a) => {
            let (b0, b1) = linear_in(b, x)?;
            Some((
                bin(BinOp::Mul, (**a).clone(), b0),
                bin(BinOp::Mul, (**a).clone(), b1),
            ))
        }
        Expr::Binary(BinOp::Mul, a, b) if !has_x(b) => {
            let (a0, a1) = linear_in(a, x)?;
            Some((
                bin(BinOp::Mul, a0, (**b).clone()),
                bin(BinOp::Mul, a1, (**b).clone()),
            ))
        }
        Expr::Binary(BinOp::Div, a, b) if !has_x(b) => {
            let (a0, a1) = linear_in(a, x)?;
            Some((
                bin(BinOp::Div, a0, (**b).clone()),
                bin(BinOp::Div, a1, (**b).clone()),
            ))
        }
        _ => None,
    }
}

/// User functions replaced by their bodies, everywhere in `e`.
fn inline_functions(e: &Expr, def: &NeuronDef) -> Expr {
    match e {
        Expr::Call(name, args) => {
            let args: Vec<Expr> = args.iter().map(|a| inline_functions(a, def)).collect();
            match def.functions.iter().find(|f| &f.name == name) {
                Some(f) => inline_functions(&substitute(&f.body, &f.args, &args), def),
                None => Expr::Call(name.clone(), args),
            }
        }
        Expr::Neg(a) => Expr::Neg(Box::new(inline_functions(a, def))),
        Expr::Not(a) => Expr::Not(Box::new(inline_functions(a, def))),
        Expr::Binary(op, a, b) => Expr::Binary(
            *op,
            Box::new(inline_functions(a, def)),
            Box::new(inline_functions(b, def)),
        ),
        Expr::If(c, a, b) => Expr::If(
            Box::new(inline_functions(c, def)),
            Box::new(inline_functions(a, def)),
            Box::new(inline_functions(b, def)),
        ),
        other => other.clone(),
    }
}

/// The exponential method's increment of `x` over one step for `dx/dt = rhs`, linear in
/// `x` as `a + b x`: `(1 - exp(b dt)) * (-(a / b) - x)`, the exact solution when everything
/// but `x` stays constant over the step (ANNarchy's `exponential`).
fn exponential_increment(rhs: &Expr, x: &str) -> Option<Expr> {
    let (a, b) = linear_in(rhs, x)?;
    let bin = |op, a: Expr, b: Expr| Expr::Binary(op, Box::new(a), Box::new(b));
    let decay = bin(
        BinOp::Sub,
        Expr::Num(1.0),
        Expr::Call(
            "exp".into(),
            vec![bin(BinOp::Mul, b.clone(), Expr::Name("dt".into()))],
        ),
    );
    let steady = Expr::Neg(Box::new(bin(BinOp::Div, a, b)));
    Some(bin(
        BinOp::Mul,
        decay,
        bin(BinOp::Sub, steady, Expr::Name(x.into())),
    ))
}

impl Compiled {
    /// Compiles a checked model.
    pub fn new(def: &NeuronDef) -> Result<Self, ModelError> {
        let variables: Vec<String> = def.variables().iter().map(|v| v.to_string()).collect();
        let parameters: Vec<String> = def.parameters.iter().map(|p| p.name.clone()).collect();
        let names = Names {
            variables: &variables,
            parameters: &parameters,
            sites: std::cell::Cell::new(0),
        };
        // Derivatives of an ODE block keep slots 0..block; everything else starts above.
        let longest_block = longest_ode_block(def) as u16;
        let compile_eq =
            |e: &Equation, part: Part, slot: Option<u16>| -> Result<Compiled1, ModelError> {
                let err = |message: String, hint: Option<String>| ModelError {
                    model: def.name.clone(),
                    part,
                    line: e.line,
                    symbol: e.variable.clone(),
                    message,
                    hint,
                };
                let program = |x: &Expr, base: u16| -> Result<Program, ModelError> {
                    let mut ops = Vec::new();
                    compile(x, &names, def, &mut ops)
                        .map_err(|m| err(format!("{m} in \"{}\"", e.source), None))?;
                    Ok(Program::lower(&Code(ops), base))
                };
                let var = variables
                    .iter()
                    .position(|v| v == &e.variable)
                    .ok_or_else(|| {
                        err(
                            format!("{} is not a variable of the model", e.variable),
                            None,
                        )
                    })?;
                // An ODE is solved for its derivative: `factor * dx/dt = rhs` is `rhs / factor`.
                let rhs = match &e.kind {
                    Kind::Ode { factor: Some(f) } => {
                        Expr::Binary(BinOp::Div, Box::new(e.rhs.clone()), Box::new(f.clone()))
                    }
                    _ => e.rhs.clone(),
                };
                let exponential =
                    matches!(e.kind, Kind::Ode { .. }) && e.method == Method::Exponential;
                let rhs = if exponential {
                    exponential_increment(&inline_functions(&rhs, def), &e.variable).ok_or_else(
                        || {
                            err(
                            format!(
                                "the exponential method needs an equation linear in {}: \"{}\"",
                                e.variable, e.source
                            ),
                            Some(
                                "write it as tau * dx/dt = x_inf - x, or use the explicit method"
                                    .into(),
                            ),
                        )
                        },
                    )?
                } else {
                    rhs
                };
                let code = match slot {
                    Some(s) => program(&rhs, s)?.into_slot(s),
                    None => program(&rhs, longest_block)?,
                };
                Ok(Compiled1 {
                    var,
                    kind: e.kind.clone(),
                    code,
                    exponential,
                    frozen: def.refractory.unwrap_or(0.0) > 0.0 && !e.variable.starts_with("g_"),
                    min: e
                        .min
                        .as_ref()
                        .map(|m| program(m, longest_block))
                        .transpose()?,
                    max: e
                        .max
                        .as_ref()
                        .map(|m| program(m, longest_block))
                        .transpose()?,
                })
            };
        let mut stages: Vec<Stage> = Vec::new();
        for e in &def.equations {
            let in_block = match (&e.kind, stages.last()) {
                (Kind::Ode { .. }, Some(Stage::Odes(block))) => Some(block.len() as u16),
                (Kind::Ode { .. }, _) => Some(0),
                _ => None,
            };
            let c = compile_eq(e, Part::Equations, in_block)?;
            match (in_block, stages.last_mut()) {
                (Some(s), Some(Stage::Odes(block))) if s > 0 => block.push(c),
                (Some(_), _) => stages.push(Stage::Odes(vec![c])),
                (None, _) => stages.push(Stage::Assign(c)),
            }
        }
        let reset = def
            .reset
            .iter()
            .map(|e| compile_eq(e, Part::Reset, None))
            .collect::<Result<Vec<_>, _>>()?;
        let spike = match &def.spike {
            Some(s) => {
                let mut ops = Vec::new();
                compile(s, &names, def, &mut ops).map_err(|m| ModelError {
                    model: def.name.clone(),
                    part: Part::Spike,
                    line: 1,
                    symbol: String::new(),
                    message: m,
                    hint: None,
                })?;
                Some(Program::lower(&Code(ops), longest_block))
            }
            None => None,
        };
        let initial = variables
            .iter()
            .map(|v| {
                def.equations
                    .iter()
                    .find_map(|e| (&e.variable == v).then_some(e.init).flatten())
                    .unwrap_or(0.0)
            })
            .collect();
        let zeroed = def
            .targets
            .iter()
            .filter_map(|g| variables.iter().position(|v| v == g))
            .collect();
        let targets = variables
            .iter()
            .enumerate()
            .filter(|(_, v)| v.strip_prefix("g_").is_some_and(|t| !t.is_empty()))
            .map(|(i, _)| i)
            .collect();
        let mut model = Self {
            name: def.name.clone(),
            variables,
            parameters: def
                .parameters
                .iter()
                .map(|p| (p.name.clone(), p.value))
                .collect(),
            initial,
            population_wide: def.parameters.iter().map(|p| p.population).collect(),
            stages,
            zeroed,
            targets,
            spike,
            reset,
            refractory_ms: def.refractory.unwrap_or(0.0),
            slots: 0,
        };
        model.slots = model
            .programs()
            .map(|p| p.slots as usize)
            .max()
            .unwrap_or(0);
        Ok(model)
    }

    /// Every program of the model.
    fn programs(&self) -> impl Iterator<Item = &Program> {
        fn eq(c: &Compiled1) -> Vec<&Program> {
            std::iter::once(&c.code)
                .chain(c.min.iter())
                .chain(c.max.iter())
                .collect()
        }
        let mut all: Vec<&Program> = Vec::new();
        for stage in &self.stages {
            match stage {
                Stage::Assign(c) => all.extend(eq(c)),
                Stage::Odes(block) => block.iter().for_each(|c| all.extend(eq(c))),
            }
        }
        self.reset.iter().for_each(|c| all.extend(eq(c)));
        all.extend(self.spike.iter());
        all.into_iter()
    }

    /// A population of `n` neurons at the initial values with default parameters.
    pub fn state(&self, n: usize) -> State {
        State {
            vars: self.initial.iter().map(|x| Column::filled(*x, n)).collect(),
            params: self
                .parameters
                .iter()
                .map(|(_, x)| Values::Uniform(*x))
                .collect(),
            refractory_left: vec![0; n],
            stream: Stream::default(),
            scratch: Vec::new(),
        }
    }

    /// The projection targets (variables named `g_*`), by index.
    pub fn targets(&self) -> &[usize] {
        &self.targets
    }

    /// Whether the model has a spike condition.
    pub fn spiking(&self) -> bool {
        self.spike.is_some()
    }

    /// Step number `step` of every neuron (at `t = step * dt` ms): the update, then the
    /// spike test and reset. The neurons that spiked are appended to `spikes`, ascending.
    pub fn step(&self, state: &mut State, step: i64, dt: f64, spikes: &mut Vec<u32>) {
        self.advance(state, step, 1, dt, 1, spikes);
    }

    /// Steps `first..first + steps` of every neuron; the neurons that spiked in the last
    /// step are appended to `spikes`, ascending. The population is split into `pieces`
    /// contiguous parts that run on their own threads, and each block of neurons runs all
    /// its steps before the next block: neurons without projections evolve independently,
    /// and every random number is a function of (step, neuron), so the result is the same
    /// bits for any split.
    pub fn advance(
        &self,
        state: &mut State,
        first: i64,
        steps: i64,
        dt: f64,
        pieces: usize,
        spikes: &mut Vec<u32>,
    ) {
        let n = state.refractory_left.len();
        if steps <= 0 || n == 0 {
            return;
        }
        // Pieces start at multiples of LANES so blocks are the same for any split.
        let per_piece = n.div_ceil(pieces.max(1)).div_ceil(LANES) * LANES;
        let pieces = n.div_ceil(per_piece);
        state.scratch.resize_with(pieces, Scratch::default);
        let State {
            vars,
            params,
            refractory_left,
            stream,
            scratch,
        } = state;
        if pieces == 1 {
            // One piece: the columns themselves, nothing allocated.
            let mut piece = Piece {
                offset: 0,
                vars: &mut vars[..],
                refractory_left,
                scratch: &mut scratch[0],
            };
            piece.scratch.spikes.clear();
            self.run_piece(&mut piece, params, *stream, first, steps, dt);
            spikes.extend_from_slice(&piece.scratch.spikes);
            return;
        }
        let mut parts: Vec<Piece<'_, Vec<&mut [f64]>>> = Vec::with_capacity(pieces);
        let mut rest_vars: Vec<&mut [f64]> = vars.iter_mut().map(|v| &mut v[..]).collect();
        let mut rest_ref: &mut [i64] = refractory_left;
        let mut offset = 0;
        for scratch in scratch.iter_mut() {
            let len = per_piece.min(n - offset);
            let mut here = Vec::with_capacity(rest_vars.len());
            let mut later = Vec::with_capacity(rest_vars.len());
            for v in rest_vars {
                let (a, b) = v.split_at_mut(len);
                here.push(a);
                later.push(b);
            }
            rest_vars = later;
            let (r, later_ref) = std::mem::take(&mut rest_ref).split_at_mut(len);
            rest_ref = later_ref;
            parts.push(Piece {
                offset,
                vars: here,
                refractory_left: r,
                scratch,
            });
            offset += len;
        }
        {
            use rayon::prelude::*;
            parts.par_iter_mut().for_each(|piece| {
                piece.scratch.spikes.clear();
                self.run_piece(piece, params, *stream, first, steps, dt);
            });
        }
        for p in &parts {
            spikes.extend_from_slice(&p.scratch.spikes);
        }
    }

    /// Runs a piece on the widest vector instructions this CPU has (the same operations in
    /// the same order on every path: no fused multiply-add, so the same bits).
    fn run_piece<V: Vars>(
        &self,
        piece: &mut Piece<'_, V>,
        params: &[Values],
        stream: Stream,
        first: i64,
        steps: i64,
        dt: f64,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                return unsafe { self.run_piece_avx512(piece, params, stream, first, steps, dt) };
            }
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { self.run_piece_avx2(piece, params, stream, first, steps, dt) };
            }
        }
        self.run_piece_body(piece, params, stream, first, steps, dt)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_piece_avx512<V: Vars>(
        &self,
        piece: &mut Piece<'_, V>,
        params: &[Values],
        stream: Stream,
        first: i64,
        steps: i64,
        dt: f64,
    ) {
        self.run_piece_body(piece, params, stream, first, steps, dt)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_piece_avx2<V: Vars>(
        &self,
        piece: &mut Piece<'_, V>,
        params: &[Values],
        stream: Stream,
        first: i64,
        steps: i64,
        dt: f64,
    ) {
        self.run_piece_body(piece, params, stream, first, steps, dt)
    }

    /// Every block of the piece through all steps.
    #[inline(always)]
    fn run_piece_body<V: Vars>(
        &self,
        piece: &mut Piece<'_, V>,
        params: &[Values],
        stream: Stream,
        first: i64,
        steps: i64,
        dt: f64,
    ) {
        let len = piece.refractory_left.len();
        let scratch = &mut *piece.scratch;
        scratch
            .slots
            .lanes
            .resize(self.slots.max(1), Lanes([0.0; LANES]));
        scratch.slots.scalar.resize(self.slots.max(1), None);
        scratch.in_ref.resize(LANES, 1.0);
        let refractory_steps = (self.refractory_ms / dt) as i64;
        let mut start = 0;
        while start < len {
            let lanes = LANES.min(len - start);
            for step in first..first + steps {
                let b = Block {
                    start,
                    global: piece.offset + start,
                    lanes,
                    t: step as f64 * dt,
                    dt,
                    step: step.max(0) as u64,
                    stream,
                };
                let last = step == first + steps - 1;
                self.update_block(
                    &mut piece.vars,
                    piece.refractory_left,
                    params,
                    &b,
                    refractory_steps,
                    scratch,
                    last,
                );
            }
            start += LANES;
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn update_block<V: Vars>(
        &self,
        vars: &mut V,
        refractory_left: &mut [i64],
        params: &[Values],
        b: &Block,
        refractory_steps: i64,
        scratch: &mut Scratch,
        last: bool,
    ) {
        let Scratch {
            slots,
            in_ref,
            fired,
            spikes,
        } = scratch;
        let range = b.start..b.start + b.lanes;
        // in_ref: 1 for neurons free to integrate, 0 for those in their refractory period.
        let in_ref = &mut in_ref[..b.lanes];
        if self.refractory_ms > 0.0 {
            for (r, left) in in_ref.iter_mut().zip(&refractory_left[range.clone()]) {
                *r = if *left > 0 { 0.0 } else { 1.0 };
            }
        }
        for stage in &self.stages {
            match stage {
                Stage::Assign(c) => {
                    b.exec(&c.code, vars, params, slots);
                    b.store(c.var, c.code.result, vars, params, slots);
                    self.clamp(c, b, vars, params, slots);
                }
                Stage::Odes(block) => {
                    // Every derivative from the old values (derivative j in slot j), then
                    // every step.
                    for c in block {
                        b.exec(&c.code, vars, params, slots);
                    }
                    for (j, c) in block.iter().enumerate() {
                        if let Some(x) = slots.scalar[j] {
                            slots.lanes[j][..b.lanes].fill(x);
                        }
                        let d = &slots.lanes[j][..b.lanes];
                        let x = &mut vars.col_mut(c.var)[range.clone()];
                        let dt = if c.exponential { 1.0 } else { b.dt };
                        match (c.frozen, c.exponential) {
                            (true, _) => {
                                for l in 0..b.lanes {
                                    x[l] += dt * d[l] * in_ref[l];
                                }
                            }
                            (false, false) => {
                                for l in 0..b.lanes {
                                    x[l] += dt * d[l];
                                }
                            }
                            (false, true) => {
                                for l in 0..b.lanes {
                                    x[l] += d[l];
                                }
                            }
                        }
                        self.clamp(c, b, vars, params, slots);
                    }
                }
            }
        }
        for &z in &self.zeroed {
            vars.col_mut(z)[range.clone()].fill(0.0);
        }
        if self.refractory_ms > 0.0 {
            // remaining -= 1 - in_ref: one step less for those that started it refractory.
            for (left, r) in refractory_left[range.clone()].iter_mut().zip(in_ref.iter()) {
                *left -= i64::from(*r == 0.0);
            }
        }
        let Some(spike) = &self.spike else {
            return;
        };
        b.exec(spike, vars, params, slots);
        fired.clear();
        match b.result(spike.result, vars, params, slots) {
            Arg::Lanes(test) => {
                // Eight lanes at a time: one vector test, the lanes only where one fired.
                for (k, (t, r)) in test.chunks(8).zip(in_ref.chunks(8)).enumerate() {
                    let any = t
                        .iter()
                        .zip(r)
                        .fold(false, |any, (t, r)| any | ((*t != 0.0) & (*r != 0.0)));
                    if any {
                        for l in 0..t.len() {
                            if t[l] != 0.0 && r[l] != 0.0 {
                                fired.push(8 * k + l);
                            }
                        }
                    }
                }
            }
            Arg::Scalar(x) if x != 0.0 => {
                fired.extend((0..b.lanes).filter(|l| in_ref[*l] != 0.0));
            }
            _ => {}
        }
        for &l in fired.iter() {
            self.reset_one(vars, refractory_left, params, b, l, refractory_steps, slots);
            if last {
                spikes.push((b.global + l) as u32);
            }
        }
    }

    /// Clamps a variable just set to its `min` and `max`.
    #[inline(always)]
    fn clamp<V: Vars>(
        &self,
        c: &Compiled1,
        b: &Block,
        vars: &mut V,
        params: &[Values],
        slots: &mut Slots,
    ) {
        for (bound, low) in [(&c.min, true), (&c.max, false)] {
            let Some(m) = bound else { continue };
            b.exec(m, vars, params, slots);
            let limit = b.values(m.result, vars, params, slots);
            let x = &mut vars.col_mut(c.var)[b.start..b.start + b.lanes];
            for l in 0..b.lanes {
                if (low && x[l] < limit[l]) || (!low && x[l] > limit[l]) {
                    x[l] = limit[l];
                }
            }
        }
    }

    /// Runs the reset statements for lane `l` of the block (one lane of its own).
    #[allow(clippy::too_many_arguments)]
    fn reset_one<V: Vars>(
        &self,
        vars: &mut V,
        refractory_left: &mut [i64],
        params: &[Values],
        b: &Block,
        l: usize,
        refractory: i64,
        slots: &mut Slots,
    ) {
        let one = Block {
            start: b.start + l,
            global: b.global + l,
            lanes: 1,
            ..*b
        };
        for c in &self.reset {
            one.exec(&c.code, vars, params, slots);
            let value = one.values(c.code.result, vars, params, slots)[0];
            let x = &mut vars.col_mut(c.var)[one.start];
            *x = match &c.kind {
                Kind::Update(op) => binary(*op, *x, value),
                _ => value,
            };
        }
        if self.refractory_ms > 0.0 {
            refractory_left[one.start] = refractory;
        }
    }
}

/// The longest run of consecutive ODEs in the equations.
fn longest_ode_block(def: &NeuronDef) -> usize {
    let (mut longest, mut run) = (0, 0);
    for e in &def.equations {
        run = if matches!(e.kind, Kind::Ode { .. }) {
            run + 1
        } else {
            0
        };
        longest = longest.max(run);
    }
    longest
}

/// The variables of the neurons being updated, one slice per variable.
trait Vars {
    fn col(&self, i: usize) -> &[f64];
    fn col_mut(&mut self, i: usize) -> &mut [f64];
    /// Copies `range` of variable `from` into variable `to` (different variables).
    fn copy(&mut self, to: usize, from: usize, range: std::ops::Range<usize>);
}

impl Vars for Vec<&mut [f64]> {
    #[inline(always)]
    fn col(&self, i: usize) -> &[f64] {
        self[i]
    }
    #[inline(always)]
    fn col_mut(&mut self, i: usize) -> &mut [f64] {
        self[i]
    }
    fn copy(&mut self, to: usize, from: usize, range: std::ops::Range<usize>) {
        let (lo, hi) = self.split_at_mut(to.max(from));
        let (to, from) = if to < from {
            (&mut lo[to], &hi[0])
        } else {
            (&mut hi[0], &lo[from])
        };
        to[range.clone()].copy_from_slice(&from[range]);
    }
}

impl Vars for &mut [Column] {
    #[inline(always)]
    fn col(&self, i: usize) -> &[f64] {
        &self[i]
    }
    #[inline(always)]
    fn col_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self[i]
    }
    fn copy(&mut self, to: usize, from: usize, range: std::ops::Range<usize>) {
        let (lo, hi) = self.split_at_mut(to.max(from));
        let (to, from) = if to < from {
            (&mut lo[to], &hi[0])
        } else {
            (&mut hi[0], &lo[from])
        };
        to[range.clone()].copy_from_slice(&from[range]);
    }
}

/// A contiguous part of a population, run on one thread: all of it (the columns
/// themselves, nothing allocated) or a piece of several (slices of the columns).
struct Piece<'a, V: Vars> {
    /// Index of its first neuron in the population.
    offset: usize,
    vars: V,
    refractory_left: &'a mut [i64],
    scratch: &'a mut Scratch,
}

/// A block of neurons being updated.
#[derive(Clone, Copy)]
struct Block {
    /// First neuron, within the piece.
    start: usize,
    /// First neuron, within the population (per-neuron parameters, random numbers).
    global: usize,
    lanes: usize,
    t: f64,
    dt: f64,
    /// The step number (the random numbers' counter).
    step: u64,
    stream: Stream,
}

/// An operand as an instruction reads it.
#[derive(Clone, Copy)]
enum Arg<'a> {
    /// The instruction's own destination slot (updated in place).
    Dst,
    Lanes(&'a [f64]),
    Scalar(f64),
}

impl<'a> Arg<'a> {
    #[inline(always)]
    fn at(self, dst: &[f64], l: usize) -> f64 {
        match self {
            Arg::Dst => dst[l],
            Arg::Lanes(x) => x[l],
            Arg::Scalar(x) => x,
        }
    }
}

/// `d[l] = f(a[l], b[l])` for every lane, one loop per kind of operand so that each
/// vectorises.
#[inline(always)]
fn apply2(d: &mut [f64], a: Arg<'_>, b: Arg<'_>, f: impl Fn(f64, f64) -> f64) {
    let n = d.len();
    match (a, b) {
        (Arg::Dst, Arg::Lanes(y)) => {
            let y = &y[..n];
            for l in 0..n {
                d[l] = f(d[l], y[l]);
            }
        }
        (Arg::Dst, Arg::Scalar(y)) => d.iter_mut().for_each(|x| *x = f(*x, y)),
        (Arg::Lanes(x), Arg::Dst) => {
            let x = &x[..n];
            for l in 0..n {
                d[l] = f(x[l], d[l]);
            }
        }
        (Arg::Scalar(x), Arg::Dst) => d.iter_mut().for_each(|y| *y = f(x, *y)),
        (Arg::Lanes(x), Arg::Lanes(y)) => {
            let (x, y) = (&x[..n], &y[..n]);
            for l in 0..n {
                d[l] = f(x[l], y[l]);
            }
        }
        (Arg::Lanes(x), Arg::Scalar(y)) => {
            let x = &x[..n];
            for l in 0..n {
                d[l] = f(x[l], y);
            }
        }
        (Arg::Scalar(x), Arg::Lanes(y)) => {
            let y = &y[..n];
            for l in 0..n {
                d[l] = f(x, y[l]);
            }
        }
        (Arg::Scalar(x), Arg::Scalar(y)) => d.fill(f(x, y)),
        (Arg::Dst, Arg::Dst) => d.iter_mut().for_each(|x| *x = f(*x, *x)),
    }
}

/// `d[l] = f(a[l])` for every lane.
#[inline(always)]
fn apply1(d: &mut [f64], a: Arg<'_>, f: impl Fn(f64) -> f64) {
    apply2(d, a, Arg::Scalar(0.0), |x, _| f(x));
}

/// `d = a op b` for every lane, the operator chosen once.
#[inline(always)]
fn binary_into(op: BinOp, d: &mut [f64], a: Arg<'_>, b: Arg<'_>) {
    match op {
        BinOp::Add => apply2(d, a, b, |x, y| x + y),
        BinOp::Sub => apply2(d, a, b, |x, y| x - y),
        BinOp::Mul => apply2(d, a, b, |x, y| x * y),
        BinOp::Div => apply2(d, a, b, |x, y| x / y),
        BinOp::Lt => apply2(d, a, b, |x, y| f64::from(x < y)),
        BinOp::Le => apply2(d, a, b, |x, y| f64::from(x <= y)),
        BinOp::Gt => apply2(d, a, b, |x, y| f64::from(x > y)),
        BinOp::Ge => apply2(d, a, b, |x, y| f64::from(x >= y)),
        other => apply2(d, a, b, |x, y| binary(other, x, y)),
    }
}

/// `d = f(a)` for every lane, the function chosen once (each loop of its own).
#[inline(always)]
fn call1(f: Builtin, d: &mut [f64], a: Arg<'_>) {
    match f {
        Builtin::Exp => apply1(d, a, f64::exp),
        Builtin::Log => apply1(d, a, f64::ln),
        Builtin::Sqrt => apply1(d, a, f64::sqrt),
        Builtin::Sin => apply1(d, a, f64::sin),
        Builtin::Cos => apply1(d, a, f64::cos),
        Builtin::Abs => apply1(d, a, f64::abs),
        Builtin::Pos => apply1(d, a, |x| if x > 0.0 { x } else { 0.0 }),
        Builtin::Neg => apply1(d, a, |x| if x < 0.0 { x } else { 0.0 }),
        other => apply1(d, a, |x| other.apply(x, 0.0, 0.0)),
    }
}

impl Block {
    /// An operand of an instruction writing slot `dst` (`u16::MAX`: none); `above` are the
    /// slots after it.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn arg<'a, V: Vars + ?Sized>(
        &self,
        src: Src,
        dst: u16,
        above: &'a [Lanes],
        scalar: &[Option<f64>],
        vars: &'a V,
        params: &'a [Values],
    ) -> Arg<'a> {
        let range = self.start..self.start + self.lanes;
        match src {
            Src::Slot(s) => match scalar[s as usize] {
                Some(x) => Arg::Scalar(x),
                None if s == dst => Arg::Dst,
                None => Arg::Lanes(&above[(s - dst - 1) as usize][..self.lanes]),
            },
            Src::Var(i) => Arg::Lanes(&vars.col(i as usize)[range]),
            Src::Param(i) => match &params[i as usize] {
                Values::Uniform(x) => Arg::Scalar(*x),
                Values::PerNeuron(v) => Arg::Lanes(&v[self.global..self.global + self.lanes]),
            },
            Src::Const(x) => Arg::Scalar(x),
            Src::Time => Arg::Scalar(self.t),
            Src::Dt => Arg::Scalar(self.dt),
        }
    }

    /// Runs a program's instructions for the block's neurons. An instruction whose operands
    /// are all one value for every lane is computed once, into a scalar slot.
    #[inline(always)]
    fn exec<V: Vars + ?Sized>(&self, p: &Program, vars: &V, params: &[Values], slots: &mut Slots) {
        for inst in &p.insts {
            let Slots { lanes, scalar } = slots;
            let dst = inst.dst();
            let (below, above) = lanes.split_at_mut(dst as usize + 1);
            let d = &mut below[dst as usize][..self.lanes];
            // The common case first: a binary operation, resolved without building lists.
            if let Inst::Bin(op, _, a, b) = inst {
                let a = self.arg(*a, dst, above, scalar, vars, params);
                let b = self.arg(*b, dst, above, scalar, vars, params);
                match (a, b) {
                    (Arg::Scalar(x), Arg::Scalar(y)) => {
                        scalar[dst as usize] = Some(binary(*op, x, y))
                    }
                    (a, b) => {
                        binary_into(*op, d, a, b);
                        scalar[dst as usize] = None;
                    }
                }
                continue;
            }
            let args = inst
                .sources()
                .map(|s| s.map(|s| self.arg(s, dst, above, scalar, vars, params)));
            let uniform = !matches!(inst, Inst::Random { .. })
                && args.iter().flatten().all(|a| matches!(a, Arg::Scalar(_)));
            if uniform {
                let mut one = [0.0];
                Block { lanes: 1, ..*self }.run(inst, &mut one, args);
                scalar[dst as usize] = Some(one[0]);
            } else {
                self.run(inst, d, args);
                scalar[dst as usize] = None;
            }
        }
    }

    /// One instruction over `d` (one value per lane of the block).
    #[inline(always)]
    fn run(&self, inst: &Inst, d: &mut [f64], args: [Option<Arg<'_>>; 3]) {
        let n = d.len();
        let [a, b, c] = args.map(|a| a.unwrap_or(Arg::Scalar(0.0)));
        match inst {
            Inst::Bin(op, ..) => binary_into(*op, d, a, b),
            Inst::Neg(..) => apply1(d, a, |x| -x),
            Inst::Not(..) => apply1(d, a, |x| f64::from(x == 0.0)),
            Inst::Copy(..) => apply1(d, a, |x| x),
            Inst::Call(f, ..) => match f.arity() {
                1 => call1(*f, d, a),
                2 => apply2(d, a, b, |x, y| f.apply(x, y, 0.0)),
                _ => {
                    for l in 0..n {
                        d[l] = f.apply(a.at(d, l), b.at(d, l), c.at(d, l));
                    }
                }
            },
            Inst::Select(..) => {
                for l in 0..n {
                    d[l] = if a.at(d, l) != 0.0 {
                        b.at(d, l)
                    } else {
                        c.at(d, l)
                    };
                }
            }
            Inst::Random {
                normal: is_normal,
                site,
                ..
            } => {
                for l in 0..n {
                    let neuron = (self.global + l) as u64;
                    let (x, y) = (a.at(d, l), b.at(d, l));
                    d[l] = if *is_normal {
                        x + y * normal(self.stream, *site, self.step, neuron)
                    } else {
                        x + (y - x) * draw(self.stream, *site, self.step, neuron, 0)
                    };
                }
            }
        }
    }

    /// A program's value (after [`Block::exec`]), as an operand.
    #[inline(always)]
    fn result<'a, V: Vars + ?Sized>(
        &self,
        result: Src,
        vars: &'a V,
        params: &'a [Values],
        slots: &'a Slots,
    ) -> Arg<'a> {
        match result {
            Src::Slot(s) => match slots.scalar[s as usize] {
                Some(x) => Arg::Scalar(x),
                None => Arg::Lanes(&slots.lanes[s as usize][..self.lanes]),
            },
            other => self.arg(other, u16::MAX, &[], &slots.scalar, vars, params),
        }
    }

    /// A program's value per lane (after [`Block::exec`]), copied.
    #[inline(always)]
    fn values<V: Vars + ?Sized>(
        &self,
        result: Src,
        vars: &V,
        params: &[Values],
        slots: &Slots,
    ) -> Lanes {
        let mut out = Lanes([0.0; LANES]);
        apply1(
            &mut out[..self.lanes],
            self.result(result, vars, params, slots),
            |x| x,
        );
        out
    }

    /// Writes a program's value into variable `var` for the block's neurons.
    #[inline(always)]
    fn store<V: Vars>(
        &self,
        var: usize,
        result: Src,
        vars: &mut V,
        params: &[Values],
        slots: &Slots,
    ) {
        let range = self.start..self.start + self.lanes;
        match result {
            Src::Var(j) if j as usize == var => {}
            Src::Var(j) => vars.copy(var, j as usize, range),
            Src::Slot(s) if slots.scalar[s as usize].is_none() => {
                vars.col_mut(var)[range].copy_from_slice(&slots.lanes[s as usize][..self.lanes]);
            }
            Src::Param(i) => match &params[i as usize] {
                Values::PerNeuron(v) => vars.col_mut(var)[range]
                    .copy_from_slice(&v[self.global..self.global + self.lanes]),
                Values::Uniform(x) => vars.col_mut(var)[range].fill(*x),
            },
            other => {
                let x = self.result(other, &*vars, params, slots).at(&[], 0);
                vars.col_mut(var)[range].fill(x);
            }
        }
    }
}

pub(crate) fn binary(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => power(a, b),
        BinOp::Lt => f64::from(a < b),
        BinOp::Le => f64::from(a <= b),
        BinOp::Gt => f64::from(a > b),
        BinOp::Ge => f64::from(a >= b),
        BinOp::Eq => f64::from(a == b),
        BinOp::Ne => f64::from(a != b),
        BinOp::And => f64::from(a != 0.0 && b != 0.0),
        BinOp::Or => f64::from(a != 0.0 || b != 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NeuronText;
    use crate::sim::{Network, NeuronModel, PopulationSpec};

    /// Izhikevich2007 as ANNarchy's generated code computes it (the `cpp` order).
    const IZHIKEVICH2007: NeuronText<'static> = NeuronText {
        parameters: "C = 100.0\nk = 0.7\nv_r = -60.0\nv_t = -40.0\na = 0.03\nb = -2.0\nc = -50.0\nd = 100.0\nv_peak = 35.0\nI_app = 0.0",
        equations: "I_v = I_app\ndv/dt = (I_v + k*v**2 - k*v*v_r - k*v*v_t + k*v_r*v_t - u)/C\ndu/dt = a*(b*v - b*v_r - u)",
        spike: "v >= v_peak",
        reset: "v = c\nu += d",
        functions: "",
        refractory: None,
    };

    #[test]
    fn izhikevich2007_as_equations_equals_the_built_in_kernel_bit_for_bit() {
        let def = NeuronDef::parse("Izhikevich2007", &IZHIKEVICH2007).unwrap();
        let model = Compiled::new(&def).unwrap();
        let n = 37;
        let i_app: Vec<f64> = (0..n).map(|i| i as f64 * 4.1).collect();
        let mut state = model.state(n);
        let param = model
            .parameters
            .iter()
            .position(|(p, _)| p == "I_app")
            .unwrap();
        state.params[param] = Values::PerNeuron(i_app.clone());
        let mut net = Network::new(0.1).unwrap();
        net.add_population(
            PopulationSpec::new("p", n, NeuronModel::Izhikevich2007).with_parameter("I_app", i_app),
        )
        .unwrap();
        let (v, u) = (
            model.variables.iter().position(|x| x == "v").unwrap(),
            model.variables.iter().position(|x| x == "u").unwrap(),
        );
        let mut spikes = Vec::new();
        let mut fired = 0;
        for step in 0..3000 {
            spikes.clear();
            model.step(&mut state, step as i64, 0.1, &mut spikes);
            net.step();
            let pop = net.population("p").unwrap();
            assert_eq!(pop.last_spikes(), &spikes[..], "step {step}");
            for (name, i) in [("v", v), ("u", u)] {
                let built_in = pop.variable(name).unwrap();
                for (a, b) in state.vars[i].iter().zip(built_in) {
                    assert_eq!(a.to_bits(), b.to_bits(), "{name} at step {step}");
                }
            }
            fired += spikes.len();
        }
        assert!(fired > 100, "the neurons spiked ({fired})");
    }

    #[test]
    fn refractory_neurons_freeze_their_odes_for_refractory_over_dt_steps() {
        let lif = NeuronText {
            parameters: "tau = 10.0\nI = 30.0",
            equations: "tau * dv/dt = -v + I\ndg_exc/dt = -g_exc",
            spike: "v > 10.0",
            reset: "v = 0.0",
            functions: "",
            refractory: Some(2.0),
        };
        let model = Compiled::new(&NeuronDef::parse("LIF", &lif).unwrap()).unwrap();
        let mut state = model.state(1);
        state.vars[1][0] = 1.0;
        let mut spikes = Vec::new();
        let mut first = None;
        for step in 0..400 {
            spikes.clear();
            let before = state.vars[0][0];
            model.step(&mut state, step as i64, 0.1, &mut spikes);
            if let Some(s) = first {
                if step > s && step <= s + 20 {
                    assert_eq!(state.vars[0][0], before, "v frozen at step {step}");
                }
            }
            if !spikes.is_empty() && first.is_none() {
                first = Some(step);
            }
        }
        assert!(first.is_some());
        // g_* variables are not frozen.
        assert!(state.vars[1][0] < 1e-10);
    }

    const POISSON: NeuronText<'static> = NeuronText {
        parameters: "rates = 20.0",
        equations: "p = Uniform(0.0, 1.0) * 1000.0 / dt",
        spike: "p <= rates",
        reset: "p = 0.0",
        functions: "",
        refractory: None,
    };

    #[test]
    fn poisson_neurons_fire_at_their_rate() {
        let model = Compiled::new(&NeuronDef::parse("PoissonNeuron", &POISSON).unwrap()).unwrap();
        let n = 10_000;
        let mut state = model.state(n);
        state.stream = Stream {
            seed: 42,
            stream: 0,
        };
        let mut spikes = Vec::new();
        let steps = 1000;
        for step in 0..steps {
            model.step(&mut state, step as i64, 0.1, &mut spikes);
        }
        // 20 Hz over 10 000 neurons and 100 ms: 20 000 expected spikes, a binomial count
        // with p = 0.002 per step; within 3 standard errors.
        let trials = (n * steps) as f64;
        let expected = trials * 0.002;
        let se = (trials * 0.002 * 0.998).sqrt();
        let got = spikes.len() as f64;
        assert!(
            (got - expected).abs() < 3.0 * se,
            "{got} spikes, expected {expected} +- {se}"
        );
    }

    #[test]
    fn random_numbers_depend_on_the_seed_only_and_are_normal_where_asked() {
        let m = NeuronText {
            parameters: "",
            equations: "x = Normal(1.0, 2.0)\ny = Uniform(-1.0, 1.0)\nz = Uniform(-1.0, 1.0)",
            spike: "",
            reset: "",
            functions: "",
            refractory: None,
        };
        let model = Compiled::new(&NeuronDef::parse("M", &m).unwrap()).unwrap();
        let run = |n: usize, seed: u64| {
            let mut state = model.state(n);
            state.stream = Stream { seed, stream: 3 };
            model.step(&mut state, 5, 0.1, &mut Vec::new());
            state.vars
        };
        let a = run(20_000, 7);
        // The same neurons get the same numbers in a smaller population (blocks differ).
        let b = run(13, 7);
        for v in 0..3 {
            assert_eq!(&a[v][..13], &b[v][..]);
        }
        assert_ne!(run(13, 8)[0], b[0], "another seed, other numbers");
        assert_ne!(a[1], a[2], "each occurrence draws its own numbers");
        let mean = a[0].iter().sum::<f64>() / a[0].len() as f64;
        let var = a[0].iter().map(|x| (x - mean).powi(2)).sum::<f64>() / a[0].len() as f64;
        assert!(
            (mean - 1.0).abs() < 0.05 && (var.sqrt() - 2.0).abs() < 0.05,
            "{mean} {var}"
        );
        assert!(a[1].iter().all(|x| (-1.0..1.0).contains(x)));
    }

    #[test]
    fn the_exponential_method_solves_linear_odes_exactly_over_a_step() {
        let m = NeuronText {
            parameters: "tau = 10.0\nE = -60.0\ng = 0.5",
            equations: "tau * dv/dt = E - v + g * (0.0 - v) : init = -70.0, exponential\ndw/dt = -w / tau : init = 1.0, exponential",
            spike: "",
            reset: "",
            functions: "",
            refractory: None,
        };
        let model = Compiled::new(&NeuronDef::parse("M", &m).unwrap()).unwrap();
        let mut state = model.state(2);
        for step in 0..100 {
            model.step(&mut state, step, 0.1, &mut Vec::new());
        }
        // v relaxes to E / (1 + g) with time constant tau / (1 + g); w decays with tau.
        let (steady, tau_v): (f64, f64) = (-60.0 / 1.5, 10.0 / 1.5);
        let v = steady + (-70.0 - steady) * (-10.0 / tau_v).exp();
        assert!(
            (state.vars[0][0] - v).abs() < 1e-9,
            "{} vs {v}",
            state.vars[0][0]
        );
        assert!((state.vars[1][1] - (-1.0f64).exp()).abs() < 1e-12);

        let nonlinear = NeuronText {
            equations: "dv/dt = -v * v : exponential",
            ..m
        };
        let err = Compiled::new(&NeuronDef::parse("M", &nonlinear).unwrap()).unwrap_err();
        assert!(err.message.contains("linear in v"), "{err}");
    }

    #[test]
    fn user_functions_conditionals_and_clamps_run() {
        let m = NeuronText {
            parameters: "a = 2.0",
            equations: "x = f(a, 3) : min = 0, max = 7\ny = if x > 5: 1 else: -1\nz = clip(t, 0, 0.25) + pos(-a) + 2^3",
            spike: "",
            reset: "",
            functions: "f(p, q) = p * q + 1",
            refractory: None,
        };
        let model = Compiled::new(&NeuronDef::parse("M", &m).unwrap()).unwrap();
        let mut state = model.state(3);
        model.step(&mut state, 5, 0.1, &mut Vec::new());
        assert_eq!(state.vars[0][..], [7.0; 3]);
        assert_eq!(state.vars[1][..], [1.0; 3]);
        assert_eq!(state.vars[2][..], [8.25; 3]);
    }
}

/// The key of a random stream: the pipeline's seed and the population's stream number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stream {
    pub seed: u64,
    pub stream: u64,
}

/// SplitMix64's output function (Steele, Lea and Flood 2014): a bijective mix of 64 bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in `[0, 1)` with 53 random bits, for `(stream, site, step, neuron, k)`:
/// the key `mix64(mix64(seed) ^ mix64(stream << 32 | site))` selects a SplitMix64 sequence,
/// and the counter `step * 2^33 + neuron * 2 + k` its element (`k` numbers the draws one
/// value needs: Box-Muller takes two).
pub fn draw(stream: Stream, site: u64, step: u64, neuron: u64, k: u64) -> f64 {
    let key = mix64(mix64(stream.seed) ^ mix64((stream.stream << 32) | site));
    let counter = (step << 33).wrapping_add(neuron << 1).wrapping_add(k);
    let bits = mix64(key.wrapping_add(counter.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal number by the Box-Muller transform of two uniform draws.
pub fn normal(stream: Stream, site: u64, step: u64, neuron: u64) -> f64 {
    let u1 = 1.0 - draw(stream, site, step, neuron, 0);
    let u2 = draw(stream, site, step, neuron, 1);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
