//! The AVX2 update as a hand-scheduled instruction sequence.
//!
//! Measured on Zen 3, the compiled AVX2 body is bound by the order of its instructions,
//! not by the arithmetic. LLVM emits the chain of about 24 dependent operations of each
//! 4-lane vector in turn, with the division (13 cycles) in its middle, so operations
//! waiting for their inputs fill the floating-point scheduler and independent work behind
//! them cannot start. Here the update is cut in two halves that run `SKEW` vectors apart in
//! one loop:
//! - half A of vector `j + SKEW`: the right-hand side of `v` up to the division, kept in a
//!   small buffer, and the whole update of `u`, written back to `u` at once;
//! - half B of vector `j`: the division, the Euler step of `v`, the spike test.
//!
//! The two halves of one pass are independent, and half B waits only on the divider, so
//! both progress side by side. Where a neuron spikes (rarely), the reset `v = c`,
//! `u += d` follows out of line. The operations and their operands are exactly those of
//! [`super::integrate_one`] and [`super::update_one`] (only the operand order of commutative IEEE
//! multiplications and additions differs), so results stay bitwise identical to the
//! scalar loop (tested; NaN payloads aside, see the module documentation). The halves'
//! offsets wrap round the end of the neurons, so that all steps of a tile run in one
//! sequence.

use super::{IzhScalars, IzhState};
use std::arch::asm;
use std::mem::MaybeUninit;

/// How many 4-lane vectors half A runs ahead of half B (measured best of 2, 4, 8, 16
/// and 32 on Zen 3).
const SKEW: usize = 8;
/// Blocks of 8 neurons per pass of the sequence: the buffer of numerators is one
/// 32-byte entry per 4 neurons, 4 KiB on the stack for 512 neurons.
const CHUNK: usize = 64;
/// The fewest blocks of 8 neurons one pass can take (the skew must fit).
const MIN_BLOCKS: usize = SKEW / 2;
// The sequence is written for this skew: its start runs half A of eight vectors and
// sets `oa` to 256 bytes.
const _: () = assert!(SKEW == 8 && MIN_BLOCKS == 4);

/// Broadcast constants in the order the instruction sequence addresses them
/// (32 bytes each).
#[repr(C, align(32))]
struct Table([[f64; 4]; 13]);

const K: usize = 0;
const V_R: usize = 1;
const V_T: usize = 2;
/// `k * v_r * v_t`, grouped as in [`super::integrate_one`].
const K_VR_VT: usize = 3;
const C_M: usize = 4;
const A: usize = 5;
const B: usize = 6;
/// `b * v_r`.
const B_VR: usize = 7;
const DT: usize = 8;
const V_PEAK: usize = 9;
const C: usize = 10;
const D: usize = 11;
const I: usize = 12;

/// Entries of the numerator buffer one pass uses (one per 4 neurons).
const PASS_ENTRIES: usize = 2 * (CHUNK + MIN_BLOCKS);

/// The numerators of `dv` of one pass, one entry per 4 neurons.
#[repr(C, align(32))]
struct Numerators([[f64; 4]; PASS_ENTRIES]);

/// The constants of one population and time step, laid out for the sequence; built
/// once for all the steps of a stretch.
pub(super) struct Prepared {
    table: Table,
}

impl Prepared {
    pub(super) fn new(p: &IzhScalars, dt: f64) -> Self {
        let mut table = Table([[0.0; 4]; 13]);
        let values = [
            (K, p.k),
            (V_R, p.v_r),
            (V_T, p.v_t),
            (K_VR_VT, p.k * p.v_r * p.v_t),
            (C_M, p.c_m),
            (A, p.a),
            (B, p.b),
            (B_VR, p.b * p.v_r),
            (DT, dt),
            (V_PEAK, p.v_peak),
            (C, p.c),
            (D, p.d),
            (I, p.i_app),
        ];
        for (slot, value) in values {
            table.0[slot] = [value; 4];
        }
        Prepared { table }
    }
}

// Registers of the sequence: ymm0-ymm2 half A (x, the numerator, k*x), ymm3-ymm4 half B
// (v_new, the spike mask), ymm5-ymm15 the constants (see `pass!`). Half A addresses
// its vectors at byte offset `oa` (plus `$o`) into `v`, `u`, `input` and `num`, half B
// at `ob`; both wrap round at the end of the neurons, so that the steps of a stretch
// follow each other without a break.

/// Half A of the 4-lane vector at byte offset `oa + $o`, one line per call:
/// `num = ((((I + k*(x*x)) - (k*x)*v_r) - (k*x)*v_t) + k*v_r*v_t) - u` into the
/// buffer (lines 0-11), then `u = u + dt * (a * ((b*x - b*v_r) - u))` written back to
/// `u` (lines 12-18). `$i` says where `I` comes from: `uniform` (ymm15) or `stream`
/// (the input array).
macro_rules! a_line {
    (0, $o:literal, $i:ident) => {
        concat!("vmovupd ymm0, [{v} + {oa} + ", $o, "]", "\n")
    };
    (1, $o:literal, $i:ident) => {
        concat!("vmulpd ymm1, ymm0, ymm0", "\n")
    };
    (2, $o:literal, $i:ident) => {
        concat!("vmulpd ymm2, ymm0, ymm5", "\n")
    };
    (3, $o:literal, $i:ident) => {
        concat!("vmulpd ymm1, ymm1, ymm5", "\n")
    };
    (4, $o:literal, uniform) => {
        "vaddpd ymm1, ymm1, ymm15\n"
    };
    (4, $o:literal, stream) => {
        concat!("vaddpd ymm1, ymm1, [{input} + {oa} + ", $o, "]\n")
    };
    (5, $o:literal, $i:ident) => {
        concat!("vmulpd ymm0, ymm2, ymm7", "\n")
    };
    (6, $o:literal, $i:ident) => {
        concat!("vmulpd ymm2, ymm2, ymm8", "\n")
    };
    (7, $o:literal, $i:ident) => {
        concat!("vsubpd ymm1, ymm1, ymm0", "\n")
    };
    (8, $o:literal, $i:ident) => {
        concat!("vsubpd ymm1, ymm1, ymm2", "\n")
    };
    (9, $o:literal, $i:ident) => {
        concat!("vaddpd ymm1, ymm1, ymm9", "\n")
    };
    (10, $o:literal, $i:ident) => {
        concat!("vsubpd ymm1, ymm1, [{u} + {oa} + ", $o, "]", "\n")
    };
    (11, $o:literal, $i:ident) => {
        concat!("vmovupd [{num} + {oa} + ", $o, "], ymm1", "\n")
    };
    (12, $o:literal, $i:ident) => {
        concat!("vmulpd ymm0, ymm12, [{v} + {oa} + ", $o, "]", "\n")
    };
    (13, $o:literal, $i:ident) => {
        concat!("vsubpd ymm0, ymm0, ymm13", "\n")
    };
    (14, $o:literal, $i:ident) => {
        concat!("vsubpd ymm0, ymm0, [{u} + {oa} + ", $o, "]", "\n")
    };
    (15, $o:literal, $i:ident) => {
        concat!("vmulpd ymm0, ymm0, ymm14", "\n")
    };
    (16, $o:literal, $i:ident) => {
        concat!("vmulpd ymm0, ymm0, ymm6", "\n")
    };
    (17, $o:literal, $i:ident) => {
        concat!("vaddpd ymm0, ymm0, [{u} + {oa} + ", $o, "]", "\n")
    };
    (18, $o:literal, $i:ident) => {
        concat!("vmovupd [{u} + {oa} + ", $o, "], ymm0", "\n")
    };
}

/// Half B of the 4-lane vector at byte offset `ob + $o`, one line per call:
/// `v_new = v + dt * (num / C)` stored to `v`, and the spike mask (`v_new >= v_peak`,
/// ordered, so false for NaN: `_CMP_GE_OQ`) as bits in `$m`.
macro_rules! b_line {
    (0, $o:literal, $m:literal) => {
        concat!("vmovupd ymm3, [{num} + {ob} + ", $o, "]", "\n")
    };
    (1, $o:literal, $m:literal) => {
        concat!("vdivpd ymm3, ymm3, ymm10", "\n")
    };
    (2, $o:literal, $m:literal) => {
        concat!("vmulpd ymm3, ymm3, ymm6", "\n")
    };
    (3, $o:literal, $m:literal) => {
        concat!("vaddpd ymm3, ymm3, [{v} + {ob} + ", $o, "]", "\n")
    };
    (4, $o:literal, $m:literal) => {
        concat!("vcmppd ymm4, ymm3, ymm11, 0x1d", "\n")
    };
    (5, $o:literal, $m:literal) => {
        concat!("vmovmskpd ", $m, ", ymm4", "\n")
    };
    (6, $o:literal, $m:literal) => {
        concat!("vmovupd [{v} + {ob} + ", $o, "], ymm3", "\n")
    };
}

/// Half A alone.
macro_rules! half_a {
    ($o:literal, $i:ident) => {
        concat!(
            a_line!(0, $o, $i),
            a_line!(1, $o, $i),
            a_line!(2, $o, $i),
            a_line!(3, $o, $i),
            a_line!(4, $o, $i),
            a_line!(5, $o, $i),
            a_line!(6, $o, $i),
            a_line!(7, $o, $i),
            a_line!(8, $o, $i),
            a_line!(9, $o, $i),
            a_line!(10, $o, $i),
            a_line!(11, $o, $i),
            a_line!(12, $o, $i),
            a_line!(13, $o, $i),
            a_line!(14, $o, $i),
            a_line!(15, $o, $i),
            a_line!(16, $o, $i),
            a_line!(17, $o, $i),
            a_line!(18, $o, $i),
        )
    };
}

/// Half A of the vector at `oa + $ao` interleaved line by line with half B of the
/// vector at `ob + $bo`: the two are independent, so each fills the other's waits.
macro_rules! a_with_b {
    ($ao:literal, $i:ident, $bo:literal, $m:literal) => {
        concat!(
            b_line!(0, $bo, $m),
            a_line!(0, $ao, $i),
            b_line!(1, $bo, $m),
            a_line!(1, $ao, $i),
            b_line!(2, $bo, $m),
            a_line!(2, $ao, $i),
            b_line!(3, $bo, $m),
            a_line!(3, $ao, $i),
            b_line!(4, $bo, $m),
            a_line!(4, $ao, $i),
            b_line!(5, $bo, $m),
            a_line!(5, $ao, $i),
            b_line!(6, $bo, $m),
            a_line!(6, $ao, $i),
            a_line!(7, $ao, $i),
            a_line!(8, $ao, $i),
            a_line!(9, $ao, $i),
            a_line!(10, $ao, $i),
            a_line!(11, $ao, $i),
            a_line!(12, $ao, $i),
            a_line!(13, $ao, $i),
            a_line!(14, $ao, $i),
            a_line!(15, $ao, $i),
            a_line!(16, $ao, $i),
            a_line!(17, $ao, $i),
            a_line!(18, $ao, $i),
        )
    };
}

/// Half B of the vectors at `ob + $o0` and `ob + $o1`.
macro_rules! two_b {
    ($o0:literal, $o1:literal) => {
        concat!(
            b_line!(0, $o0, "{m0:e}"),
            b_line!(1, $o0, "{m0:e}"),
            b_line!(2, $o0, "{m0:e}"),
            b_line!(3, $o0, "{m0:e}"),
            b_line!(4, $o0, "{m0:e}"),
            b_line!(5, $o0, "{m0:e}"),
            b_line!(6, $o0, "{m0:e}"),
            b_line!(0, $o1, "{m1:e}"),
            b_line!(1, $o1, "{m1:e}"),
            b_line!(2, $o1, "{m1:e}"),
            b_line!(3, $o1, "{m1:e}"),
            b_line!(4, $o1, "{m1:e}"),
            b_line!(5, $o1, "{m1:e}"),
            b_line!(6, $o1, "{m1:e}"),
        )
    };
}

/// The reset of the vector at `ob + $o` where `v >= v_peak` (the mask is computed
/// again from the stored `v_new`): `v = c`, `u = u + d`.
macro_rules! reset {
    ($o:literal) => {
        concat!(
            "vmovupd ymm3, [{v} + {ob} + ",
            $o,
            "]\n",
            "vcmppd ymm4, ymm3, ymm11, 0x1d\n",
            "vblendvpd ymm3, ymm3, [{t} + 32*{C}], ymm4\n",
            "vmovupd [{v} + {ob} + ",
            $o,
            "], ymm3\n",
            "vmovupd ymm0, [{u} + {ob} + ",
            $o,
            "]\n",
            "vaddpd ymm1, ymm0, [{t} + 32*{D}]\n",
            "vblendvpd ymm0, ymm0, ymm1, ymm4\n",
            "vmovupd [{u} + {ob} + ",
            $o,
            "], ymm0\n",
        )
    };
}

/// The spike flags of the two vectors at `ob`: one byte per 8 neurons, at `ob / 64`;
/// sets the zero flag where no neuron spiked.
macro_rules! flags {
    () => {
        concat!(
            "shl {m1:e}, 4\n",
            "or {m0:e}, {m1:e}\n",
            "mov {m1}, {ob}\n",
            "shr {m1}, 6\n",
            "mov byte ptr [{spiked} + {m1}], {m0:l}\n",
            "test {m0:e}, {m0:e}\n",
        )
    };
}

/// Advances an offset by two vectors, round to 0 at the end of the neurons.
macro_rules! advance {
    ($reg:literal, $label:literal) => {
        concat!(
            "add ",
            $reg,
            ", 64\n",
            "cmp ",
            $reg,
            ", {bytes}\n",
            "jb ",
            $label,
            "f\n",
            "xor ",
            $reg,
            ", ",
            $reg,
            "\n",
            $label,
            ":\n",
        )
    };
}

/// The whole sequence, with `I` from `$i` (`uniform` or `stream`).
macro_rules! pass {
    ($i:ident, $table:expr, $v:expr, $u:expr, $spiked:expr, $input:expr, $num:expr,
     $bytes:expr, $main:expr) => {
        asm!(
            // Constants held in registers throughout.
            "vbroadcastsd ymm5, [{t} + 32*{K}]",
            "vbroadcastsd ymm6, [{t} + 32*{DT}]",
            "vbroadcastsd ymm7, [{t} + 32*{V_R}]",
            "vbroadcastsd ymm8, [{t} + 32*{V_T}]",
            "vbroadcastsd ymm9, [{t} + 32*{K_VR_VT}]",
            "vbroadcastsd ymm10, [{t} + 32*{C_M}]",
            "vbroadcastsd ymm11, [{t} + 32*{V_PEAK}]",
            "vbroadcastsd ymm12, [{t} + 32*{B}]",
            "vbroadcastsd ymm13, [{t} + 32*{B_VR}]",
            "vbroadcastsd ymm14, [{t} + 32*{A}]",
            "vbroadcastsd ymm15, [{t} + 32*{I}]",
            "# input: {input}",
            // Half A of the first SKEW vectors.
            "xor {oa}, {oa}",
            "xor {ob}, {ob}",
            half_a!(0, $i),
            half_a!(32, $i),
            half_a!(64, $i),
            half_a!(96, $i),
            half_a!(128, $i),
            half_a!(160, $i),
            half_a!(192, $i),
            half_a!(224, $i),
            "mov {oa}, 192",
            advance!("{oa}", "8"),
            "test {count}, {count}",
            "jz 4f",
            ".p2align 6",
            "2:",
            // Half B of two vectors with half A of the two SKEW vectors further on
            // (round the end of the neurons into the next step).
            a_with_b!(0, $i, 0, "{m0:e}"),
            a_with_b!(32, $i, 32, "{m1:e}"),
            flags!(),
            // The reset only where a neuron spiked, out of line.
            "jnz 6f",
            "3:",
            advance!("{oa}", "9"),
            advance!("{ob}", "13"),
            "dec {count}",
            "jnz 2b",
            // The last SKEW vectors: half B alone.
            "4:",
            "mov {count}, {MIN_BLOCKS}",
            "5:",
            two_b!(0, 32),
            flags!(),
            "jz 14f",
            reset!(0),
            reset!(32),
            "14:",
            advance!("{ob}", "15"),
            "dec {count}",
            "jnz 5b",
            "jmp 7f",
            "6:",
            reset!(0),
            reset!(32),
            "jmp 3b",
            "7:",
            t = in(reg) $table.0.as_ptr(),
            v = in(reg) $v,
            u = in(reg) $u,
            spiked = in(reg) $spiked,
            input = in(reg) $input,
            num = in(reg) $num,
            bytes = in(reg) $bytes,
            count = inout(reg) $main => _,
            oa = out(reg) _,
            ob = out(reg) _,
            m0 = out(reg) _,
            m1 = out(reg) _,
            K = const K,
            DT = const DT,
            V_R = const V_R,
            V_T = const V_T,
            K_VR_VT = const K_VR_VT,
            C_M = const C_M,
            V_PEAK = const V_PEAK,
            B = const B,
            B_VR = const B_VR,
            A = const A,
            I = const I,
            C = const C,
            D = const D,
            MIN_BLOCKS = const MIN_BLOCKS,
            out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
            out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
            out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
            out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
            options(nostack),
        )
    };
}

/// Advances every whole block of 8 neurons of `s` by `steps` steps when there are at
/// least `MIN_BLOCKS` of them, and returns how many neurons that was (0 otherwise;
/// the caller steps the rest). `i_app` (per neuron, at least as long as `s`) replaces
/// the population-wide `I_app` when given. Neurons do not interact, so the caller may
/// step the rest before or after.
///
/// # Safety
/// The CPU must support AVX (the caller, `run_avx2`, has checked AVX2).
#[inline(always)]
pub(super) unsafe fn run(
    prepared: &Prepared,
    i_app: Option<&[f64]>,
    s: &mut IzhState<'_>,
    steps: u64,
) -> usize {
    let n = s.v.len();
    let blocks = n / 8;
    // Every pointer below is read or written for `8 * blocks` elements (or bytes of
    // `spiked`, `blocks` of them): check the lengths once, here.
    if steps == 0 || blocks < MIN_BLOCKS || s.u.len() < n || s.spiked.len() < blocks {
        return 0;
    }
    if i_app.is_some_and(|i| i.len() < 8 * blocks) {
        return 0;
    }
    // Written by half A before half B reads it: no need to clear it.
    let mut num = MaybeUninit::<Numerators>::uninit();
    let num = num.as_mut_ptr().cast::<f64>();
    // Half A of a step may only start on a vector once half B of the step before has
    // finished with it (reset included), a pass later: so a run of several steps
    // needs more than MIN_BLOCKS blocks.
    if blocks < CHUNK + MIN_BLOCKS && (steps == 1 || blocks > MIN_BLOCKS) {
        // One tile: all steps in one sequence (in runs of at most 2^20 steps, so that
        // the count of block pairs stays small).
        let mut left = steps;
        while left > 0 {
            let now = left.min(1 << 20);
            // SAFETY: the lengths checked above; `num` holds `PASS_ENTRIES >= 2 *
            // blocks` entries.
            unsafe {
                sequence(
                    prepared,
                    s.v.as_mut_ptr(),
                    s.u.as_mut_ptr(),
                    s.spiked.as_mut_ptr(),
                    i_app.map(<[f64]>::as_ptr),
                    num,
                    blocks,
                    now as usize,
                );
            }
            left -= now;
        }
        return 8 * blocks;
    }
    for _ in 0..steps {
        let mut done = 0;
        while done < blocks {
            // Passes of CHUNK blocks; the last takes the rest, which is never below
            // MIN_BLOCKS (a pass that would leave fewer takes them along).
            let left = blocks - done;
            let pass = if left < CHUNK + MIN_BLOCKS {
                left
            } else {
                CHUNK
            };
            // SAFETY: `8 * (done + pass) <= n` neurons and `done + pass` bytes of
            // flags exist (checked above), `8 * (done + pass) <= i.len()`; `num`
            // holds `PASS_ENTRIES >= 2 * pass` entries.
            unsafe {
                sequence(
                    prepared,
                    s.v.as_mut_ptr().add(8 * done),
                    s.u.as_mut_ptr().add(8 * done),
                    s.spiked.as_mut_ptr().add(done),
                    i_app.map(|i| i.as_ptr().add(8 * done)),
                    num,
                    pass,
                    1,
                );
            }
            done += pass;
        }
    }
    8 * blocks
}

/// `steps` steps of `blocks` blocks of 8 neurons (`MIN_BLOCKS <= blocks < CHUNK +
/// MIN_BLOCKS`, more than MIN_BLOCKS when `steps > 1`, `steps >= 1`, `blocks * steps`
/// far from overflowing).
///
/// # Safety
/// AVX; `v` and `u` point to `8 * blocks` f64, `spiked` to `blocks` bytes, `num` to
/// `2 * blocks` 32-byte entries, `input` (when given) to `8 * blocks` f64.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn sequence(
    prepared: &Prepared,
    v: *mut f64,
    u: *mut f64,
    spiked: *mut u8,
    input: Option<*const f64>,
    num: *mut f64,
    blocks: usize,
    steps: usize,
) {
    debug_assert!((MIN_BLOCKS..CHUNK + MIN_BLOCKS).contains(&blocks) && steps >= 1);
    debug_assert!(steps == 1 || blocks > MIN_BLOCKS);
    // Passes of the loop: each runs half B of two vectors and half A of the two
    // vectors SKEW further on (round the end into the next step); the last
    // MIN_BLOCKS blocks run half B alone.
    let main = blocks * steps - MIN_BLOCKS;
    let bytes = 64 * blocks;
    // SAFETY: see the function's contract. The sequence reads the table and `v`, `u`,
    // `num`, `input` and writes `v`, `u`, `spiked`, `num`, at offsets below `bytes`
    // (`num`, `v`, `u`, `input`) or `blocks` (`spiked`); it declares every vector
    // register it uses clobbered and does not touch the stack. With population-wide
    // input, `input` is never read.
    unsafe {
        match input {
            Some(input) => {
                pass!(
                    stream,
                    prepared.table,
                    v,
                    u,
                    spiked,
                    input,
                    num,
                    bytes,
                    main
                )
            }
            None => pass!(
                uniform,
                prepared.table,
                v,
                u,
                spiked,
                std::ptr::null::<f64>(),
                num,
                bytes,
                main
            ),
        }
    }
}
