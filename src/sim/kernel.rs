//! The Izhikevich2007 update kernels. One explicit-Euler step over a slice of neurons, in
//! ANNarchy's sympy-expanded form, written branch-free so that LLVM vectorises it.
//!
//! The same body is compiled for the baseline x86-64 target and with AVX-512F; with AVX2,
//! the update runs as a hand-scheduled instruction sequence ([`scheduled`]) where the
//! parameters allow it (population-wide, or only `I_app` per neuron) and as the compiled
//! body otherwise. The fastest variant the CPU supports is picked at run time
//! ([`KernelKind::detect`]). Rust never contracts `a * b + c` into a fused multiply-add on
//! its own and the sequence uses the same operations, so every variant gives results
//! bitwise identical to the scalar loop (tested below). The one exception is the payload
//! of a NaN, which Rust does not specify: operands of one addition or multiplication may
//! be swapped, and x86 returns the first of two NaNs; a NaN stays a NaN.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Population-wide parameters of one Izhikevich2007 population, as scalars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IzhScalars {
    pub c_m: f64,
    pub k: f64,
    pub v_r: f64,
    pub v_t: f64,
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
    pub v_peak: f64,
    pub i_app: f64,
}

/// Per-neuron parameters of one Izhikevich2007 population (every slice has the same length).
#[derive(Debug, Clone, Copy)]
pub struct IzhSlices<'a> {
    pub c_m: &'a [f64],
    pub k: &'a [f64],
    pub v_r: &'a [f64],
    pub v_t: &'a [f64],
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub c: &'a [f64],
    pub d: &'a [f64],
    pub v_peak: &'a [f64],
    pub i_app: &'a [f64],
}

impl IzhSlices<'_> {
    fn split_at(&self, mid: usize) -> (Self, Self) {
        macro_rules! split {
            ($($f:ident),*) => {{
                $(let $f = self.$f.split_at(mid);)*
                (Self { $($f: $f.0,)* }, Self { $($f: $f.1,)* })
            }};
        }
        split!(c_m, k, v_r, v_t, a, b, c, d, v_peak, i_app)
    }

    fn at(&self, i: usize) -> IzhScalars {
        IzhScalars {
            c_m: self.c_m[i],
            k: self.k[i],
            v_r: self.v_r[i],
            v_t: self.v_t[i],
            a: self.a[i],
            b: self.b[i],
            c: self.c[i],
            d: self.d[i],
            v_peak: self.v_peak[i],
            i_app: self.i_app[i],
        }
    }
}

/// The parameters of a population as the kernel consumes them.
#[derive(Debug, Clone, Copy)]
pub enum IzhParams<'a> {
    /// Every parameter population-wide.
    Uniform(IzhScalars),
    /// Every parameter population-wide but the input current `I_app` (the common case of a
    /// per-neuron stimulus): only that array is read each step.
    InputPerNeuron(IzhScalars, &'a [f64]),
    /// Every parameter per neuron.
    PerNeuron(IzhSlices<'a>),
}

/// Mutable state of a slice of neurons.
pub struct IzhState<'a> {
    pub v: &'a mut [f64],
    pub u: &'a mut [f64],
    /// Bit `i % 8` of byte `i / 8` is set where neuron `i` spiked in this step
    /// (`ceil(len / 8)` bytes).
    pub spiked: &'a mut [u8],
}

impl<'a> IzhState<'a> {
    /// Splits the state into `[0, mid)` and `[mid, len)`; `mid` must be a multiple of 8.
    pub fn split_at_mut(self, mid: usize) -> (IzhState<'a>, IzhState<'a>) {
        debug_assert_eq!(mid % 8, 0);
        let (v0, v1) = self.v.split_at_mut(mid);
        let (u0, u1) = self.u.split_at_mut(mid);
        let (s0, s1) = self.spiked.split_at_mut(mid / 8);
        (
            IzhState {
                v: v0,
                u: u0,
                spiked: s0,
            },
            IzhState {
                v: v1,
                u: u1,
                spiked: s1,
            },
        )
    }

    pub fn len(&self) -> usize {
        self.v.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }
}

impl<'a> IzhParams<'a> {
    /// Splits per-neuron parameters alongside [`IzhState::split_at_mut`].
    pub fn split_at(&self, mid: usize) -> (IzhParams<'a>, IzhParams<'a>) {
        match self {
            IzhParams::Uniform(s) => (IzhParams::Uniform(*s), IzhParams::Uniform(*s)),
            IzhParams::InputPerNeuron(s, i_app) => {
                let (a, b) = i_app.split_at(mid);
                (
                    IzhParams::InputPerNeuron(*s, a),
                    IzhParams::InputPerNeuron(*s, b),
                )
            }
            IzhParams::PerNeuron(p) => {
                let (a, b) = p.split_at(mid);
                (IzhParams::PerNeuron(a), IzhParams::PerNeuron(b))
            }
        }
    }
}

/// One neuron's update: the single definition of the arithmetic that every kernel inlines
/// (through [`integrate_one`]).
#[inline(always)]
fn update_one(p: &IzhScalars, dt: f64, v: f64, u: f64) -> (f64, f64, bool) {
    let (v_new, u_new) = integrate_one(p, dt, v, u);
    let spike = v_new >= p.v_peak;
    let v_out = if spike { p.c } else { v_new };
    let u_out = if spike { u_new + p.d } else { u_new };
    (v_out, u_out, spike)
}

/// Lanes per block: the loop body works on fixed-size arrays, which LLVM turns into vector
/// code for every target width without having to prove that slices do not alias.
const LANES: usize = 8;

/// Parameters of one block of lanes.
#[derive(Clone, Copy)]
struct Lanes {
    c_m: [f64; LANES],
    k: [f64; LANES],
    v_r: [f64; LANES],
    v_t: [f64; LANES],
    a: [f64; LANES],
    b: [f64; LANES],
    c: [f64; LANES],
    d: [f64; LANES],
    v_peak: [f64; LANES],
    i_app: [f64; LANES],
}

impl Lanes {
    #[inline(always)]
    fn broadcast(p: &IzhScalars) -> Self {
        Lanes {
            c_m: [p.c_m; LANES],
            k: [p.k; LANES],
            v_r: [p.v_r; LANES],
            v_t: [p.v_t; LANES],
            a: [p.a; LANES],
            b: [p.b; LANES],
            c: [p.c; LANES],
            d: [p.d; LANES],
            v_peak: [p.v_peak; LANES],
            i_app: [p.i_app; LANES],
        }
    }

    #[inline(always)]
    fn load(p: &IzhSlices<'_>, base: usize) -> Self {
        #[inline(always)]
        fn lanes(xs: &[f64], base: usize) -> [f64; LANES] {
            let mut out = [0.0; LANES];
            out.copy_from_slice(&xs[base..base + LANES]);
            out
        }
        Lanes {
            c_m: lanes(p.c_m, base),
            k: lanes(p.k, base),
            v_r: lanes(p.v_r, base),
            v_t: lanes(p.v_t, base),
            a: lanes(p.a, base),
            b: lanes(p.b, base),
            c: lanes(p.c, base),
            d: lanes(p.d, base),
            v_peak: lanes(p.v_peak, base),
            i_app: lanes(p.i_app, base),
        }
    }

    #[inline(always)]
    fn lane(&self, l: usize) -> IzhScalars {
        IzhScalars {
            c_m: self.c_m[l],
            k: self.k[l],
            v_r: self.v_r[l],
            v_t: self.v_t[l],
            a: self.a[l],
            b: self.b[l],
            c: self.c[l],
            d: self.d[l],
            v_peak: self.v_peak[l],
            i_app: self.i_app[l],
        }
    }
}

/// One neuron's integration step without the spike reset.
#[inline(always)]
fn integrate_one(p: &IzhScalars, dt: f64, v: f64, u: f64) -> (f64, f64) {
    let i_v = p.i_app;
    // ANNarchy's expanded right-hand sides, evaluated left to right from the old state.
    let dv =
        (i_v + p.k * (v * v) - p.k * v * p.v_r - p.k * v * p.v_t + p.k * p.v_r * p.v_t - u) / p.c_m;
    let du = p.a * (p.b * v - p.b * p.v_r - u);
    (v + dt * dv, u + dt * du)
}

/// How a block's spike flags become one byte (bit `l` for lane `l`, set where
/// `v_new >= v_peak`). LLVM turns the portable loop into a long pack-and-shift sequence of
/// vector instructions; the vector variants use one `movemask` per register instead, which
/// keeps the floating-point scheduler free for the update itself.
trait SpikeMask {
    /// # Safety
    /// The CPU must support the instructions of the implementation (checked by the
    /// `run_*` variant that instantiates it).
    unsafe fn mask(v_new: &[f64; LANES], v_peak: &[f64; LANES]) -> u8;
}

struct PortableMask;

impl SpikeMask for PortableMask {
    #[inline(always)]
    unsafe fn mask(v_new: &[f64; LANES], v_peak: &[f64; LANES]) -> u8 {
        let mut mask = 0u8;
        for l in 0..LANES {
            mask |= ((v_new[l] >= v_peak[l]) as u8) << l;
        }
        mask
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx2Mask;

#[cfg(target_arch = "x86_64")]
impl SpikeMask for Avx2Mask {
    #[inline(always)]
    unsafe fn mask(v_new: &[f64; LANES], v_peak: &[f64; LANES]) -> u8 {
        use std::arch::x86_64::{_mm256_cmp_pd, _mm256_loadu_pd, _mm256_movemask_pd, _CMP_GE_OQ};
        // SAFETY: the caller guarantees AVX2 (only `run_avx2` instantiates this); the loads
        // read 4 + 4 lanes of 8-element arrays. `_CMP_GE_OQ` is false for NaN, as `>=`.
        unsafe {
            let lo = _mm256_cmp_pd::<_CMP_GE_OQ>(
                _mm256_loadu_pd(v_new.as_ptr()),
                _mm256_loadu_pd(v_peak.as_ptr()),
            );
            let hi = _mm256_cmp_pd::<_CMP_GE_OQ>(
                _mm256_loadu_pd(v_new.as_ptr().add(4)),
                _mm256_loadu_pd(v_peak.as_ptr().add(4)),
            );
            (_mm256_movemask_pd(lo) | (_mm256_movemask_pd(hi) << 4)) as u8
        }
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx512Mask;

#[cfg(target_arch = "x86_64")]
impl SpikeMask for Avx512Mask {
    #[inline(always)]
    unsafe fn mask(v_new: &[f64; LANES], v_peak: &[f64; LANES]) -> u8 {
        use std::arch::x86_64::{_mm512_cmp_pd_mask, _mm512_loadu_pd, _CMP_GE_OQ};
        // SAFETY: the caller guarantees AVX-512F (only `run_avx512` instantiates this); the
        // loads read the 8 lanes of each array.
        unsafe {
            _mm512_cmp_pd_mask::<_CMP_GE_OQ>(
                _mm512_loadu_pd(v_new.as_ptr()),
                _mm512_loadu_pd(v_peak.as_ptr()),
            )
        }
    }
}

/// Updates one block of `LANES` neurons held in local arrays.
#[inline(always)]
fn update_block<M: SpikeMask>(
    p: &Lanes,
    dt: f64,
    v: &mut [f64; LANES],
    u: &mut [f64; LANES],
) -> u8 {
    let mut v_new = [0.0; LANES];
    let mut u_new = [0.0; LANES];
    for l in 0..LANES {
        (v_new[l], u_new[l]) = integrate_one(&p.lane(l), dt, v[l], u[l]);
    }
    // SAFETY: `M` is the mask of the kernel variant running, whose CPU features were
    // checked before it was called.
    let mask = unsafe { M::mask(&v_new, &p.v_peak) };
    for l in 0..LANES {
        let spike = v_new[l] >= p.v_peak[l];
        v[l] = if spike { p.c[l] } else { v_new[l] };
        u[l] = if spike { u_new[l] + p.d[l] } else { u_new[l] };
    }
    mask
}

/// Where a block's parameters come from (generic, not closures: closures would not inherit
/// the target features of the kernel that calls them and would not be inlined).
trait ParamSource {
    fn block(&self, base: usize) -> Lanes;
    fn scalar(&self, i: usize) -> IzhScalars;
}

struct Broadcast(Lanes, IzhScalars);

impl ParamSource for Broadcast {
    #[inline(always)]
    fn block(&self, _base: usize) -> Lanes {
        self.0
    }
    #[inline(always)]
    fn scalar(&self, _i: usize) -> IzhScalars {
        self.1
    }
}

struct InputOnly<'a>(Lanes, IzhScalars, &'a [f64]);

impl ParamSource for InputOnly<'_> {
    #[inline(always)]
    fn block(&self, base: usize) -> Lanes {
        let mut lanes = self.0;
        lanes.i_app.copy_from_slice(&self.2[base..base + LANES]);
        lanes
    }
    #[inline(always)]
    fn scalar(&self, i: usize) -> IzhScalars {
        IzhScalars {
            i_app: self.2[i],
            ..self.1
        }
    }
}

impl ParamSource for IzhSlices<'_> {
    #[inline(always)]
    fn block(&self, base: usize) -> Lanes {
        Lanes::load(self, base)
    }
    #[inline(always)]
    fn scalar(&self, i: usize) -> IzhScalars {
        self.at(i)
    }
}

/// Runs the update over the whole state, block by block.
#[inline(always)]
fn body<P: ParamSource, M: SpikeMask>(params: &P, dt: f64, s: &mut IzhState<'_>) {
    let n = s.v.len();
    let blocks = n / LANES;
    for blk in 0..blocks {
        let base = blk * LANES;
        let range = base..base + LANES;
        let mut v = [0.0; LANES];
        let mut u = [0.0; LANES];
        v.copy_from_slice(&s.v[range.clone()]);
        u.copy_from_slice(&s.u[range.clone()]);
        let mask = update_block::<M>(&params.block(base), dt, &mut v, &mut u);
        s.v[range.clone()].copy_from_slice(&v);
        s.u[range.clone()].copy_from_slice(&u);
        s.spiked[blk] = mask;
    }
    tail(params, dt, s, blocks * LANES);
}

/// Updates the neurons from `from` (a multiple of 8) to the end one by one: the tail that
/// does not fill a block.
#[inline(always)]
fn tail<P: ParamSource>(params: &P, dt: f64, s: &mut IzhState<'_>, from: usize) {
    for i in from..s.v.len() {
        let (vo, uo, sp) = update_one(&params.scalar(i), dt, s.v[i], s.u[i]);
        s.v[i] = vo;
        s.u[i] = uo;
        if i % 8 == 0 {
            s.spiked[i / 8] = 0;
        }
        s.spiked[i / 8] |= (sp as u8) << (i % 8);
    }
}

#[inline(always)]
fn body_uniform<M: SpikeMask>(p: &IzhScalars, dt: f64, s: &mut IzhState<'_>) {
    body::<_, M>(&Broadcast(Lanes::broadcast(p), *p), dt, s)
}

#[inline(always)]
fn body_input_per_neuron<M: SpikeMask>(
    p: &IzhScalars,
    i_app: &[f64],
    dt: f64,
    s: &mut IzhState<'_>,
) {
    let i_app = &i_app[..s.v.len()];
    body::<_, M>(&InputOnly(Lanes::broadcast(p), *p, i_app), dt, s)
}

#[inline(always)]
fn body_per_neuron<M: SpikeMask>(p: &IzhSlices<'_>, dt: f64, s: &mut IzhState<'_>) {
    let n = s.v.len();
    assert!(
        p.c_m.len() >= n
            && p.k.len() >= n
            && p.v_r.len() >= n
            && p.v_t.len() >= n
            && p.a.len() >= n
    );
    assert!(
        p.b.len() >= n
            && p.c.len() >= n
            && p.d.len() >= n
            && p.v_peak.len() >= n
            && p.i_app.len() >= n
    );
    body::<_, M>(p, dt, s)
}

fn run_body(p: &IzhParams<'_>, dt: f64, s: &mut IzhState<'_>) {
    match p {
        IzhParams::Uniform(q) => body_uniform::<PortableMask>(q, dt, s),
        IzhParams::InputPerNeuron(q, i_app) => {
            body_input_per_neuron::<PortableMask>(q, i_app, dt, s)
        }
        IzhParams::PerNeuron(q) => body_per_neuron::<PortableMask>(q, dt, s),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2(p: &IzhParams<'_>, dt: f64, s: &mut IzhState<'_>, steps: u64) {
    match p {
        IzhParams::Uniform(q) => {
            let prepared = scheduled::Prepared::new(q, dt);
            // SAFETY: this function runs only where AVX2 (so AVX) is supported.
            let done = unsafe { scheduled::run(&prepared, None, s, steps) };
            let rest = Broadcast(Lanes::broadcast(q), *q);
            for _ in 0..steps {
                tail(&rest, dt, s, done);
            }
        }
        IzhParams::InputPerNeuron(q, i_app) => {
            let i_app = &i_app[..s.v.len()];
            let prepared = scheduled::Prepared::new(q, dt);
            // SAFETY: as above.
            let done = unsafe { scheduled::run(&prepared, Some(i_app), s, steps) };
            let rest = InputOnly(Lanes::broadcast(q), *q, i_app);
            for _ in 0..steps {
                tail(&rest, dt, s, done);
            }
        }
        IzhParams::PerNeuron(q) => {
            for _ in 0..steps {
                body_per_neuron::<Avx2Mask>(q, dt, s);
            }
        }
    }
}

/// The AVX2 update as a hand-scheduled instruction sequence (`kernel/scheduled.rs`).
#[cfg(target_arch = "x86_64")]
mod scheduled;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn run_avx512(p: &IzhParams<'_>, dt: f64, s: &mut IzhState<'_>) {
    match p {
        IzhParams::Uniform(q) => body_uniform::<Avx512Mask>(q, dt, s),
        IzhParams::InputPerNeuron(q, i_app) => body_input_per_neuron::<Avx512Mask>(q, i_app, dt, s),
        IzhParams::PerNeuron(q) => body_per_neuron::<Avx512Mask>(q, dt, s),
    }
}

/// Which compiled variant of the kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelKind {
    /// Baseline target (SSE2 on x86-64), also the reference for bitwise comparisons.
    Baseline,
    /// 256-bit vectors.
    Avx2,
    /// 512-bit vectors.
    Avx512,
}

impl KernelKind {
    /// The fastest variant this CPU supports.
    ///
    /// With AVX2 only, that is the AVX2 variant. Where AVX-512 is supported too, which of
    /// the two is faster depends on the CPU (the AVX2 variant is a hand-scheduled
    /// sequence, the AVX-512 one compiled; some CPUs run 512-bit operations as two 256-bit
    /// halves), so the first call times both on one tile of neurons (about a millisecond)
    /// and keeps the faster for the process. Every variant gives the same bits, so the
    /// choice only affects speed.
    pub fn detect() -> Self {
        static CHOSEN: OnceLock<KernelKind> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let vector: Vec<KernelKind> = [KernelKind::Avx512, KernelKind::Avx2]
                .into_iter()
                .filter(|k| k.is_supported())
                .collect();
            match vector.as_slice() {
                [] => KernelKind::Baseline,
                [only] => *only,
                several => fastest(several),
            }
        })
    }

    /// Whether this CPU can run the variant.
    pub fn is_supported(self) -> bool {
        match self {
            KernelKind::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// All variants, for tests and benchmarks.
    pub const ALL: [KernelKind; 3] = [KernelKind::Baseline, KernelKind::Avx2, KernelKind::Avx512];

    /// Advances every neuron of `state` by one step of `dt` ms.
    ///
    /// Falls back to the baseline variant when the CPU lacks the requested features.
    pub fn step(self, params: &IzhParams<'_>, dt: f64, state: &mut IzhState<'_>) {
        self.steps(params, dt, state, 1);
    }

    /// Advances every neuron of `state` by `steps` steps of `dt` ms, leaving in
    /// `state.spiked` the flags of the last step: the same as calling [`KernelKind::step`]
    /// `steps` times, with the per-call set-up (constants laid out for the vector
    /// registers) done once.
    pub fn steps(self, params: &IzhParams<'_>, dt: f64, state: &mut IzhState<'_>, steps: u64) {
        match self {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 if self.is_supported() => {
                // SAFETY: the CPU supports AVX2 (checked just above).
                unsafe { run_avx2(params, dt, state, steps) }
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 if self.is_supported() => {
                for _ in 0..steps {
                    // SAFETY: the CPU supports AVX-512F (checked just above).
                    unsafe { run_avx512(params, dt, state) }
                }
            }
            _ => {
                for _ in 0..steps {
                    run_body(params, dt, state);
                }
            }
        }
    }
}

/// The kernel of `kinds` that runs 100 steps of one tile of 512 neurons fastest (best of
/// five rounds, taken in turn); the first on a tie.
fn fastest(kinds: &[KernelKind]) -> KernelKind {
    const N: usize = 512;
    let p = IzhScalars {
        c_m: 100.0,
        k: 0.7,
        v_r: -60.0,
        v_t: -40.0,
        a: 0.03,
        b: -2.0,
        c: -50.0,
        d: 100.0,
        v_peak: 35.0,
        i_app: 100.0,
    };
    let params = IzhParams::Uniform(p);
    let start: Vec<f64> = (0..N).map(|i| -70.0 + (i % 50) as f64).collect();
    let mut best = vec![Duration::MAX; kinds.len()];
    for _round in 0..5 {
        for (kind, best) in kinds.iter().zip(best.iter_mut()) {
            let (mut v, mut u, mut spiked) = (start.clone(), vec![0.0; N], vec![0u8; N / 8]);
            let mut state = IzhState {
                v: &mut v,
                u: &mut u,
                spiked: &mut spiked,
            };
            let t = Instant::now();
            kind.steps(&params, 0.1, &mut state, 100);
            *best = (*best).min(t.elapsed());
        }
    }
    let (index, _) = best
        .iter()
        .enumerate()
        .min_by_key(|&(i, d)| (*d, i))
        .unwrap_or((0, &Duration::ZERO));
    kinds.get(index).copied().unwrap_or(KernelKind::Baseline)
}

/// Appends to `out` the indices (offset by `base`) of the set bits of `spiked`, in order.
pub fn collect_spikes(spiked: &[u8], base: u32, out: &mut Vec<u32>) {
    let mut chunks = spiked.chunks_exact(8);
    let mut index = base;
    for chunk in &mut chunks {
        let mut word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        while word != 0 {
            out.push(index + word.trailing_zeros());
            word &= word - 1;
        }
        index += 64;
    }
    for &byte in chunks.remainder() {
        let mut b = byte;
        while b != 0 {
            out.push(index + b.trailing_zeros());
            b &= b - 1;
        }
        index += 8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(i_app: f64) -> IzhScalars {
        IzhScalars {
            c_m: 100.0,
            k: 0.7,
            v_r: -60.0,
            v_t: -40.0,
            a: 0.03,
            b: -2.0,
            c: -50.0,
            d: 100.0,
            v_peak: 35.0,
            i_app,
        }
    }

    /// Plain scalar loop with a branch, the textbook form every kernel must equal bitwise.
    fn reference_step(p: &IzhScalars, dt: f64, v: &mut [f64], u: &mut [f64]) -> Vec<u32> {
        let mut spikes = Vec::new();
        for i in 0..v.len() {
            let dv = (p.i_app + p.k * (v[i] * v[i]) - p.k * v[i] * p.v_r - p.k * v[i] * p.v_t
                + p.k * p.v_r * p.v_t
                - u[i])
                / p.c_m;
            let du = p.a * (p.b * v[i] - p.b * p.v_r - u[i]);
            v[i] += dt * dv;
            u[i] += dt * du;
            if v[i] >= p.v_peak {
                v[i] = p.c;
                u[i] += p.d;
                spikes.push(i as u32);
            }
        }
        spikes
    }

    #[test]
    fn every_kernel_is_bitwise_identical_to_the_scalar_loop() {
        let n: usize = 1003; // not a multiple of any vector width
        let init_v: Vec<f64> = (0..n).map(|i| -80.0 + (i as f64) * 0.11).collect();
        let init_u: Vec<f64> = (0..n).map(|i| (i % 17) as f64 - 8.0).collect();
        let i_app: Vec<f64> = (0..n).map(|i| (i % 97) as f64).collect();
        for kind in KernelKind::ALL.into_iter().filter(|k| k.is_supported()) {
            let (mut rv, mut ru) = (init_v.clone(), init_u.clone());
            let (mut v, mut u) = (init_v.clone(), init_u.clone());
            let mut spiked = vec![0u8; n.div_ceil(8)];
            let i_app_slice = &i_app[..];
            let ones = |x: f64| vec![x; n];
            let p = defaults(0.0);
            let (cm, k, vr, vt, a, b, c, d, vp) = (
                ones(p.c_m),
                ones(p.k),
                ones(p.v_r),
                ones(p.v_t),
                ones(p.a),
                ones(p.b),
                ones(p.c),
                ones(p.d),
                ones(p.v_peak),
            );
            let params = IzhParams::PerNeuron(IzhSlices {
                c_m: &cm,
                k: &k,
                v_r: &vr,
                v_t: &vt,
                a: &a,
                b: &b,
                c: &c,
                d: &d,
                v_peak: &vp,
                i_app: i_app_slice,
            });
            for _ in 0..500 {
                let mut expected = Vec::new();
                // The reference runs per neuron with that neuron's I_app.
                for i in 0..n {
                    let s = reference_step(
                        &defaults(i_app[i]),
                        0.1,
                        &mut rv[i..i + 1],
                        &mut ru[i..i + 1],
                    );
                    expected.extend(s.iter().map(|_| i as u32));
                }
                let mut state = IzhState {
                    v: &mut v,
                    u: &mut u,
                    spiked: &mut spiked,
                };
                kind.step(&params, 0.1, &mut state);
                let mut got = Vec::new();
                collect_spikes(&spiked, 0, &mut got);
                assert_eq!(got, expected, "{kind:?}");
            }
            for i in 0..n {
                assert_eq!(v[i].to_bits(), rv[i].to_bits(), "{kind:?} v[{i}]");
                assert_eq!(u[i].to_bits(), ru[i].to_bits(), "{kind:?} u[{i}]");
            }
            // Only I_app per neuron: the same bits as the all-per-neuron path.
            let (mut v3, mut u3) = (init_v.clone(), init_u.clone());
            let input_only = IzhParams::InputPerNeuron(defaults(0.0), i_app_slice);
            for _ in 0..500 {
                let mut state = IzhState {
                    v: &mut v3,
                    u: &mut u3,
                    spiked: &mut spiked,
                };
                kind.step(&input_only, 0.1, &mut state);
            }
            assert!(
                v3.iter().zip(&rv).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{kind:?}"
            );
            assert!(
                u3.iter().zip(&ru).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{kind:?}"
            );
            // Uniform parameters give the same bits as the per-neuron path.
            let (mut v2, mut u2) = (init_v.clone(), init_u.clone());
            let (mut rv2, mut ru2) = (init_v.clone(), init_u.clone());
            let uniform = IzhParams::Uniform(defaults(52.0));
            for _ in 0..500 {
                let mut state = IzhState {
                    v: &mut v2,
                    u: &mut u2,
                    spiked: &mut spiked,
                };
                kind.step(&uniform, 0.1, &mut state);
                reference_step(&defaults(52.0), 0.1, &mut rv2, &mut ru2);
            }
            assert!(v2.iter().zip(&rv2).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(u2.iter().zip(&ru2).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    /// Every length from no block to several blocks plus a tail, with special values
    /// (NaN, infinities, huge, signed zero, exactly at the threshold) among ordinary states,
    /// for uniform and per-neuron input: the same values (NaN where the reference has NaN)
    /// and the same spike flags as the scalar loop.
    #[test]
    fn every_kernel_agrees_on_every_length_and_on_special_values() {
        let specials = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e308,
            -1e308,
            -0.0,
            35.0,
            34.99,
            -60.0,
        ];
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 24, 31, 64, 69] {
            let init_v: Vec<f64> = (0..n)
                .map(|i| {
                    if i % 3 == 1 {
                        specials[(i / 3) % specials.len()]
                    } else {
                        -70.0 + i as f64 * 1.7
                    }
                })
                .collect();
            let init_u: Vec<f64> = (0..n)
                .map(|i| {
                    if i % 5 == 2 {
                        specials[(i / 5 + 4) % specials.len()]
                    } else {
                        (i % 11) as f64 - 5.0
                    }
                })
                .collect();
            let i_app: Vec<f64> = (0..n).map(|i| (i % 7) as f64 * 40.0).collect();
            for kind in KernelKind::ALL.into_iter().filter(|k| k.is_supported()) {
                for per_neuron in [false, true] {
                    let (mut rv, mut ru) = (init_v.clone(), init_u.clone());
                    let (mut v, mut u) = (init_v.clone(), init_u.clone());
                    let mut spiked = vec![0xAAu8; n.div_ceil(8)];
                    let params = if per_neuron {
                        IzhParams::InputPerNeuron(defaults(0.0), &i_app)
                    } else {
                        IzhParams::Uniform(defaults(120.0))
                    };
                    for step in 0..40 {
                        let expected: Vec<u32> = if per_neuron {
                            (0..n)
                                .filter(|&i| {
                                    !reference_step(
                                        &defaults(i_app[i]),
                                        0.1,
                                        &mut rv[i..i + 1],
                                        &mut ru[i..i + 1],
                                    )
                                    .is_empty()
                                })
                                .map(|i| i as u32)
                                .collect()
                        } else {
                            reference_step(&defaults(120.0), 0.1, &mut rv, &mut ru)
                        };
                        let mut state = IzhState {
                            v: &mut v,
                            u: &mut u,
                            spiked: &mut spiked,
                        };
                        kind.step(&params, 0.1, &mut state);
                        let mut got = Vec::new();
                        collect_spikes(&spiked, 0, &mut got);
                        // Bits past `n` in the last byte stay clear.
                        assert!(
                            got.iter().all(|&i| (i as usize) < n),
                            "{kind:?} n={n}: {got:?}"
                        );
                        assert_eq!(
                            got, expected,
                            "{kind:?} n={n} per_neuron={per_neuron} step={step}"
                        );
                        for i in 0..n {
                            assert!(
                                same(v[i], rv[i]),
                                "{kind:?} n={n} v[{i}]: {} vs {}",
                                v[i],
                                rv[i]
                            );
                            assert!(
                                same(u[i], ru[i]),
                                "{kind:?} n={n} u[{i}]: {} vs {}",
                                u[i],
                                ru[i]
                            );
                        }
                    }
                }
            }
        }
    }

    /// `steps(k)` is `k` single steps of the portable kernel, for every kernel and
    /// parameter layout, with lengths around the AVX2 sequence's limits (the fewest blocks
    /// it takes, one tile with a tail, the largest single pass, passes over a larger
    /// population).
    #[test]
    fn many_steps_equal_single_steps() {
        for n in [32usize, 39, 40, 47, 75, 543, 544, 1100] {
            let init_v: Vec<f64> = (0..n).map(|i| -75.0 + (i * 7 % 110) as f64).collect();
            let i_app: Vec<f64> = (0..n).map(|i| (i % 9) as f64 * 30.0).collect();
            let p = defaults(70.0);
            let (c_m, k, v_r, v_t) = (vec![p.c_m; n], vec![p.k; n], vec![p.v_r; n], vec![p.v_t; n]);
            let (a, b, c, d) = (vec![p.a; n], vec![p.b; n], vec![p.c; n], vec![p.d; n]);
            let v_peak = vec![p.v_peak; n];
            let per_neuron = IzhParams::PerNeuron(IzhSlices {
                c_m: &c_m,
                k: &k,
                v_r: &v_r,
                v_t: &v_t,
                a: &a,
                b: &b,
                c: &c,
                d: &d,
                v_peak: &v_peak,
                i_app: &i_app,
            });
            let layouts = [
                IzhParams::Uniform(p),
                IzhParams::InputPerNeuron(p, &i_app),
                per_neuron,
            ];
            let flags = n.div_ceil(8);
            for kind in KernelKind::ALL.into_iter().filter(|k| k.is_supported()) {
                for params in &layouts {
                    let mut flagged = false;
                    for count in [1u64, 2, 10, 23, 40, 300] {
                        let (mut v1, mut u1, mut s1) =
                            (init_v.clone(), vec![0.0; n], vec![0u8; flags]);
                        let (mut v2, mut u2, mut s2) =
                            (init_v.clone(), vec![0.0; n], vec![0u8; flags]);
                        let mut one = IzhState {
                            v: &mut v1,
                            u: &mut u1,
                            spiked: &mut s1,
                        };
                        for _ in 0..count {
                            KernelKind::Baseline.step(params, 0.1, &mut one);
                        }
                        let mut many = IzhState {
                            v: &mut v2,
                            u: &mut u2,
                            spiked: &mut s2,
                        };
                        kind.steps(params, 0.1, &mut many, count);
                        let bits = |x: &[f64]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&v1), bits(&v2), "{kind:?} n={n} {count}");
                        assert_eq!(bits(&u1), bits(&u2), "{kind:?} n={n} {count}");
                        assert_eq!(s1, s2, "{kind:?} n={n} {count}");
                        flagged |= s1.iter().any(|&b| b != 0);
                    }
                    assert!(flagged, "{kind:?} n={n}: some neuron spikes in a last step");
                }
            }
        }
    }

    #[test]
    fn the_detected_kernel_is_supported_and_stays_the_same() {
        let kind = KernelKind::detect();
        assert!(kind.is_supported());
        assert_eq!(KernelKind::detect(), kind);
        let supported: Vec<_> = KernelKind::ALL
            .into_iter()
            .filter(|k| k.is_supported())
            .collect();
        if supported.contains(&KernelKind::Avx2) {
            assert_ne!(kind, KernelKind::Baseline);
        }
        // The race itself returns one of the kernels it was given.
        let raced = fastest(&supported);
        assert!(supported.contains(&raced));
    }

    #[test]
    fn every_spike_mask_agrees_with_the_portable_one() {
        let peak = [35.0; LANES];
        let cases: [[f64; LANES]; 4] = [
            [
                35.0,
                34.999999,
                f64::NAN,
                36.0,
                -0.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                35.0,
            ],
            [f64::NAN; LANES],
            [100.0; LANES],
            [-100.0, 35.0, -100.0, 35.0, -100.0, 35.0, -100.0, 35.0],
        ];
        for v in &cases {
            // SAFETY: the portable mask needs nothing; the others run only where supported.
            let expected = unsafe { PortableMask::mask(v, &peak) };
            let by_hand = (0..LANES).fold(0u8, |m, l| m | (((v[l] >= 35.0) as u8) << l));
            assert_eq!(expected, by_hand);
            #[cfg(target_arch = "x86_64")]
            {
                if KernelKind::Avx2.is_supported() {
                    assert_eq!(unsafe { Avx2Mask::mask(v, &peak) }, expected, "{v:?}");
                }
                if KernelKind::Avx512.is_supported() {
                    assert_eq!(unsafe { Avx512Mask::mask(v, &peak) }, expected, "{v:?}");
                }
            }
        }
    }

    #[test]
    fn collect_spikes_finds_every_flag() {
        let mut flags = vec![0u8; 10];
        for i in [0usize, 7, 8, 20, 63, 64, 79] {
            flags[i / 8] |= 1 << (i % 8);
        }
        let mut out = Vec::new();
        collect_spikes(&flags, 100, &mut out);
        assert_eq!(out, vec![100, 107, 108, 120, 163, 164, 179]);
    }
}
