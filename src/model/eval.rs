//! Running a checked neuron model: its equations compiled into postfix code over the
//! model's variables and parameters, evaluated lane block by lane block (256 neurons at a
//! time) in ANNarchy's order (NETWORKS.md §3): assignments in turn, consecutive ODEs as a
//! block (every derivative from the old values, then every explicit Euler step), clamps,
//! refractoriness, then the spike test and the reset of the neurons that spiked.
//!
//! Operations run in the order written, one IEEE operation per operator (`pow(x, 2)` and
//! `x**2` are `x*x`, as ANNarchy generates them), so a model written in the `cpp` order of
//! ANNarchy's generated code gives its results bit for bit.
//!
//! Random numbers (`Uniform(a, b)`, `Normal(mu, sigma)`: a fresh draw per occurrence, per
//! neuron, per step) come from a counter-based generator ([`draw`]): each value is a pure
//! function of the seed, the population's stream, the occurrence, the step and the neuron,
//! so results do not depend on how neurons are split over blocks or threads.
//!
//! Not yet: the `exponential` method is refused by [`Compiled::new`].

use super::{BinOp, Equation, Expr, Kind, Method, ModelError, NeuronDef, Part};

/// Neurons evaluated together (README, "Equation models": 256 against 8 and 64 measured).
const LANES: usize = 256;
type Lanes = [f64; LANES];

/// A built-in function of one or more arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Builtin {
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
    fn from_name(name: &str) -> Option<Self> {
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

    fn arity(self) -> usize {
        match self {
            Builtin::Pow | Builtin::Modulo | Builtin::Min | Builtin::Max => 2,
            Builtin::Clip => 3,
            _ => 1,
        }
    }

    fn apply(self, a: f64, b: f64, c: f64) -> f64 {
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

/// One compiled equation.
#[derive(Debug, Clone, PartialEq)]
struct Compiled1 {
    var: usize,
    kind: Kind,
    code: Code,
    factor: Option<Code>,
    min: Option<Code>,
    max: Option<Code>,
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
    spike: Option<Code>,
    reset: Vec<Compiled1>,
    /// The refractory period in ms (0 when none).
    refractory_ms: f64,
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
    pub vars: Vec<Vec<f64>>,
    /// Per parameter: one value for all neurons, or one per neuron.
    pub params: Vec<Values>,
    pub refractory_left: Vec<i64>,
    /// Where the population's random numbers come from.
    pub stream: Stream,
    /// Buffers of the evaluation, kept from step to step (not part of the state).
    scratch: Scratch,
}

/// The evaluation's stack of blocks and the derivatives of an ODE block.
#[derive(Debug, Clone, Default)]
struct Scratch {
    stack: Vec<Lanes>,
    derivatives: Vec<Lanes>,
}

impl PartialEq for Scratch {
    /// Buffers, not state: any two are alike.
    fn eq(&self, _: &Self) -> bool {
        true
    }
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
        let compile_eq = |e: &Equation, part: Part| -> Result<Compiled1, ModelError> {
            let err = |message: String| ModelError {
                model: def.name.clone(),
                part,
                line: e.line,
                symbol: e.variable.clone(),
                message,
                hint: None,
            };
            if e.method == Method::Exponential {
                return Err(err("the exponential method is not run yet".into()));
            }
            let code = |x: &Expr| -> Result<Code, ModelError> {
                let mut ops = Vec::new();
                compile(x, &names, def, &mut ops)
                    .map_err(|m| err(format!("{m} in \"{}\"", e.source)))?;
                Ok(Code(ops))
            };
            let var = variables
                .iter()
                .position(|v| v == &e.variable)
                .ok_or_else(|| err(format!("{} is not a variable of the model", e.variable)))?;
            Ok(Compiled1 {
                var,
                kind: e.kind.clone(),
                code: code(&e.rhs)?,
                factor: match &e.kind {
                    Kind::Ode { factor: Some(f) } => Some(code(f)?),
                    _ => None,
                },
                min: e.min.as_ref().map(code).transpose()?,
                max: e.max.as_ref().map(code).transpose()?,
            })
        };
        let mut stages: Vec<Stage> = Vec::new();
        for e in &def.equations {
            let c = compile_eq(e, Part::Equations)?;
            match (&c.kind, stages.last_mut()) {
                (Kind::Ode { .. }, Some(Stage::Odes(block))) => block.push(c),
                (Kind::Ode { .. }, _) => stages.push(Stage::Odes(vec![c])),
                _ => stages.push(Stage::Assign(c)),
            }
        }
        let reset = def
            .reset
            .iter()
            .map(|e| compile_eq(e, Part::Reset))
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
                Some(Code(ops))
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
        Ok(Self {
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
            spike,
            reset,
            refractory_ms: def.refractory.unwrap_or(0.0),
        })
    }

    /// A population of `n` neurons at the initial values with default parameters.
    pub fn state(&self, n: usize) -> State {
        State {
            vars: self.initial.iter().map(|x| vec![*x; n]).collect(),
            params: self
                .parameters
                .iter()
                .map(|(_, x)| Values::Uniform(*x))
                .collect(),
            refractory_left: vec![0; n],
            stream: Stream::default(),
            scratch: Scratch::default(),
        }
    }

    /// Whether the model has a spike condition.
    pub fn spiking(&self) -> bool {
        self.spike.is_some()
    }

    /// Step number `step` of every neuron (at `t = step * dt` ms): the update, then the
    /// spike test and reset. The neurons that spiked are appended to `spikes`, ascending.
    pub fn step(&self, state: &mut State, step: i64, dt: f64, spikes: &mut Vec<u32>) {
        let t = step as f64 * dt;
        let n = state.refractory_left.len();
        let refractory_steps = (self.refractory_ms / dt) as i64;
        let mut scratch = std::mem::take(&mut state.scratch);
        let mut start = 0;
        while start < n {
            let lanes = LANES.min(n - start);
            let block = Block {
                start,
                lanes,
                t,
                dt,
                step: step.max(0) as u64,
            };
            self.update_block(state, &block, refractory_steps, &mut scratch, spikes);
            start += LANES;
        }
        state.scratch = scratch;
    }

    fn update_block(
        &self,
        state: &mut State,
        b: &Block,
        refractory_steps: i64,
        scratch: &mut Scratch,
        spikes: &mut Vec<u32>,
    ) {
        let Scratch { stack, derivatives } = scratch;
        // in_ref: 1 for neurons free to integrate, 0 for those in their refractory period.
        let mut in_ref = [1.0; LANES];
        if self.refractory_ms > 0.0 {
            let left = &state.refractory_left[b.start..b.start + b.lanes];
            for (r, left) in in_ref.iter_mut().zip(left) {
                if *left > 0 {
                    *r = 0.0;
                }
            }
        }
        for stage in &self.stages {
            match stage {
                Stage::Assign(c) => {
                    let value = b.eval(&c.code, state, stack);
                    b.store(state, c, value, stack);
                }
                Stage::Odes(block) => {
                    // Every derivative from the old values, then every step.
                    derivatives.resize(block.len(), [0.0; LANES]);
                    for (c, d) in block.iter().zip(derivatives.iter_mut()) {
                        *d = b.eval(&c.code, state, stack);
                        if let Some(f) = &c.factor {
                            let f = b.eval(f, state, stack);
                            for l in 0..b.lanes {
                                d[l] /= f[l];
                            }
                        }
                    }
                    for (c, d) in block.iter().zip(derivatives.iter()) {
                        let mut x = b.load(&state.vars[c.var]);
                        let frozen =
                            self.refractory_ms > 0.0 && !self.variables[c.var].starts_with("g_");
                        for l in 0..b.lanes {
                            x[l] = if frozen {
                                x[l] + b.dt * d[l] * in_ref[l]
                            } else {
                                x[l] + b.dt * d[l]
                            };
                        }
                        b.store(state, c, x, stack);
                    }
                }
            }
        }
        for &z in &self.zeroed {
            state.vars[z][b.start..b.start + b.lanes].fill(0.0);
        }
        if self.refractory_ms > 0.0 {
            let left = &mut state.refractory_left[b.start..b.start + b.lanes];
            for (left, r) in left.iter_mut().zip(in_ref) {
                *left -= 1 - r as i64;
            }
        }
        let Some(spike) = &self.spike else {
            return;
        };
        let fired = b.eval(spike, state, stack);
        for l in 0..b.lanes {
            if fired[l] != 0.0 && in_ref[l] != 0.0 {
                let i = b.start + l;
                self.reset_one(state, i, b, refractory_steps, stack);
                spikes.push(i as u32);
            }
        }
    }

    /// Runs the reset statements for neuron `i` (one lane of its own).
    fn reset_one(
        &self,
        state: &mut State,
        i: usize,
        b: &Block,
        refractory: i64,
        stack: &mut Vec<Lanes>,
    ) {
        let one = Block {
            start: i,
            lanes: 1,
            t: b.t,
            dt: b.dt,
            step: b.step,
        };
        for c in &self.reset {
            let value = one.eval(&c.code, state, stack)[0];
            let x = &mut state.vars[c.var][i];
            *x = match &c.kind {
                Kind::Update(op) => binary(*op, *x, value),
                _ => value,
            };
        }
        if self.refractory_ms > 0.0 {
            state.refractory_left[i] = refractory;
        }
    }
}

/// A block of neurons being updated.
struct Block {
    start: usize,
    lanes: usize,
    t: f64,
    dt: f64,
    /// The step number (the random numbers' counter).
    step: u64,
}

impl Block {
    fn load(&self, values: &[f64]) -> Lanes {
        let mut out = [0.0; LANES];
        out[..self.lanes].copy_from_slice(&values[self.start..self.start + self.lanes]);
        out
    }

    /// Writes an equation's new values, clamped to its `min` and `max`.
    fn store(&self, state: &mut State, c: &Compiled1, mut x: Lanes, stack: &mut Vec<Lanes>) {
        if let Some(m) = &c.min {
            let lo = self.eval(m, state, stack);
            for l in 0..self.lanes {
                if x[l] < lo[l] {
                    x[l] = lo[l];
                }
            }
        }
        if let Some(m) = &c.max {
            let hi = self.eval(m, state, stack);
            for l in 0..self.lanes {
                if x[l] > hi[l] {
                    x[l] = hi[l];
                }
            }
        }
        state.vars[c.var][self.start..self.start + self.lanes].copy_from_slice(&x[..self.lanes]);
    }

    /// Evaluates `code` for the block's neurons. The stack's slots are reused in place: a
    /// load fills the next slot, an operation combines the top slots into the lower one, and
    /// each operator is chosen once per block, outside the loop over its neurons.
    fn eval(&self, code: &Code, state: &State, stack: &mut Vec<Lanes>) -> Lanes {
        let n = self.lanes;
        let mut sp = 0usize;
        for op in &code.0 {
            match op {
                Op::Var(i) => {
                    let slot = slot(stack, sp);
                    slot[..n].copy_from_slice(&state.vars[*i][self.start..self.start + n]);
                    sp += 1;
                }
                Op::Param(i) => {
                    let slot = slot(stack, sp);
                    match &state.params[*i] {
                        Values::Uniform(x) => slot[..n].fill(*x),
                        Values::PerNeuron(v) => {
                            slot[..n].copy_from_slice(&v[self.start..self.start + n])
                        }
                    }
                    sp += 1;
                }
                Op::Const(_) | Op::Time | Op::Dt => {
                    let x = match op {
                        Op::Const(x) => *x,
                        Op::Time => self.t,
                        _ => self.dt,
                    };
                    slot(stack, sp)[..n].fill(x);
                    sp += 1;
                }
                Op::Neg => stack[sp - 1][..n].iter_mut().for_each(|x| *x = -*x),
                Op::Not => stack[sp - 1][..n]
                    .iter_mut()
                    .for_each(|x| *x = f64::from(*x == 0.0)),
                Op::Bin(o) => {
                    let (lo, hi) = stack.split_at_mut(sp - 1);
                    binary_lanes(*o, &mut lo[sp - 2][..n], &hi[0][..n]);
                    sp -= 1;
                }
                Op::Call(f) => {
                    let k = f.arity();
                    let (lo, hi) = stack.split_at_mut(sp - k + 1);
                    let first = &mut lo[sp - k];
                    for l in 0..n {
                        let b = hi.first().map_or(0.0, |x| x[l]);
                        let c = hi.get(1).map_or(0.0, |x| x[l]);
                        first[l] = f.apply(first[l], b, c);
                    }
                    sp -= k - 1;
                }
                Op::Random {
                    normal: is_normal,
                    site,
                } => {
                    let (lo, hi) = stack.split_at_mut(sp - 1);
                    let (a, b) = (&mut lo[sp - 2], &hi[0]);
                    for l in 0..n {
                        let neuron = (self.start + l) as u64;
                        a[l] = if *is_normal {
                            a[l] + b[l] * normal(state.stream, *site, self.step, neuron)
                        } else {
                            a[l] + (b[l] - a[l]) * draw(state.stream, *site, self.step, neuron, 0)
                        };
                    }
                    sp -= 1;
                }
                Op::Select => {
                    let (lo, hi) = stack.split_at_mut(sp - 2);
                    let c = &mut lo[sp - 3];
                    for l in 0..n {
                        c[l] = if c[l] != 0.0 { hi[0][l] } else { hi[1][l] };
                    }
                    sp -= 2;
                }
            }
        }
        // Compiled code leaves exactly its value.
        stack.first().copied().unwrap_or([0.0; LANES])
    }
}

/// Slot `i` of the stack, grown when needed.
fn slot(stack: &mut Vec<Lanes>, i: usize) -> &mut Lanes {
    while stack.len() <= i {
        stack.push([0.0; LANES]);
    }
    &mut stack[i]
}

/// `a[l] = a[l] op b[l]` for every neuron, the operator chosen once.
fn binary_lanes(op: BinOp, a: &mut [f64], b: &[f64]) {
    let each = |a: &mut [f64], f: &dyn Fn(f64, f64) -> f64| {
        a.iter_mut().zip(b).for_each(|(x, y)| *x = f(*x, *y))
    };
    match op {
        BinOp::Add => a.iter_mut().zip(b).for_each(|(x, y)| *x += *y),
        BinOp::Sub => a.iter_mut().zip(b).for_each(|(x, y)| *x -= *y),
        BinOp::Mul => a.iter_mut().zip(b).for_each(|(x, y)| *x *= *y),
        BinOp::Div => a.iter_mut().zip(b).for_each(|(x, y)| *x /= *y),
        other => each(a, &|x, y| binary(other, x, y)),
    }
}

fn binary(op: BinOp, a: f64, b: f64) -> f64 {
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
        assert_eq!(state.vars[0], [7.0; 3]);
        assert_eq!(state.vars[1], [1.0; 3]);
        assert_eq!(state.vars[2], [8.25; 3]);
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
