//! [`Column`]: one `f64` per neuron, stored from a cache-line boundary, so that the vector
//! loads and stores of a block of neurons never straddle two cache lines.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// Eight values on one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f64; 8]);

/// One value per neuron, 64-byte aligned; reads and writes as a `[f64]`.
#[derive(Clone, Default)]
pub struct Column {
    lines: Vec<Line>,
    len: usize,
}

impl Column {
    /// `n` copies of `x`.
    pub fn filled(x: f64, n: usize) -> Self {
        Self {
            lines: vec![Line([x; 8]); n.div_ceil(8)],
            len: n,
        }
    }

    /// The values of `xs`.
    pub fn from_slice(xs: &[f64]) -> Self {
        let mut c = Self::filled(0.0, xs.len());
        c.copy_from_slice(xs);
        c
    }
}

impl Deref for Column {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        // SAFETY: `Line` is `repr(C)` around `[f64; 8]` (size 64, no padding), so the lines
        // are `8 * lines.len() >= len` contiguous, initialised `f64`s.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f64>(), self.len) }
    }
}

impl DerefMut for Column {
    fn deref_mut(&mut self) -> &mut [f64] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f64>(), self.len) }
    }
}

impl From<Vec<f64>> for Column {
    fn from(xs: Vec<f64>) -> Self {
        Self::from_slice(&xs)
    }
}

impl fmt::Debug for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for Column {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_is_aligned_and_reads_as_its_values() {
        let mut c = Column::from_slice(&[1.0, 2.0, 3.0]);
        assert_eq!(&c[..], [1.0, 2.0, 3.0]);
        assert_eq!(c.as_ptr() as usize % 64, 0);
        c[1] = 5.0;
        assert_eq!(c.to_vec(), [1.0, 5.0, 3.0]);
        assert_eq!(Column::filled(7.0, 9).len(), 9);
        assert!(Column::filled(0.0, 0).is_empty());
    }
}
