//! Exact integer products for the integer hyper-synthesis:
//! `out[i, j] = bias[j] + Σₖ a[i, k]·b[k, j]` with `i32` operands and wrapping `i64` sums. Modular
//! addition is associative, so every order, block and instruction set gives the same integers.

use crate::cpu_path::Path;

/// Columns of `b` per packed panel (four vectors of four `i64`).
const PANEL: usize = 16;
/// Rows of `a` per block of the AVX2 kernel.
const ROWS: usize = 2;

/// A `k × n` matrix of `i32` packed as panels of 16 columns, each value widened to
/// `i64` (the AVX2 kernel multiplies the low halves), and a bias of `n` values; both padded
/// with zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct IntPacked {
    k: usize,
    n: usize,
    panels: Vec<i64>,
    bias: Vec<i64>,
}

impl IntPacked {
    /// Packs `b(k, j)` for `k < rows`, `j < cols`, with `bias`.
    pub fn new(rows: usize, cols: usize, b: impl Fn(usize, usize) -> i32, bias: &[i64]) -> Self {
        assert_eq!(bias.len(), cols, "one bias per column");
        let widened = |k, j| i64::from(b(k, j));
        let (panels, bias) = super::panel::pack(rows, cols, PANEL, widened, bias);
        Self {
            k: rows,
            n: cols,
            panels,
            bias,
        }
    }

    /// Columns.
    pub fn n(&self) -> usize {
        self.n
    }
}

/// Writes the product of the `rows × b.k` row-major `a` and `b`, plus the bias, to `out`
/// (`rows × b.n()`, row-major), on `path`.
pub fn product(path: Path, a: &[i32], rows: usize, b: &IntPacked, out: &mut [i64]) {
    assert!(a.len() >= rows * b.k, "a holds {rows} rows");
    assert!(out.len() >= rows * b.n, "out holds {rows} rows");
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Avx2` is chosen (or offered to tests) only where the CPU has AVX2;
        // the lengths are checked above.
        Path::Avx2 => unsafe { avx2::product(a, rows, b, out) },
        _ => portable(a, rows, b, out),
    }
}

fn portable(a: &[i32], rows: usize, b: &IntPacked, out: &mut [i64]) {
    let k = b.k;
    for (row, dst) in a.chunks_exact(k).zip(out.chunks_exact_mut(b.n)).take(rows) {
        for (j, d) in dst.iter_mut().enumerate() {
            let panel = &b.panels[(j / PANEL) * k * PANEL..][..k * PANEL];
            let mut acc = b.bias[j];
            for (kk, &v) in row.iter().enumerate() {
                acc = acc.wrapping_add(i64::from(v) * panel[kk * PANEL + j % PANEL]);
            }
            *d = acc;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{IntPacked, PANEL, ROWS};

    /// # Safety
    /// The CPU has AVX2; `a` holds `rows` rows of `b.k` values and `out` `rows` rows of `b.n`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn product(a: &[i32], rows: usize, b: &IntPacked, out: &mut [i64]) {
        let mut i = 0;
        while i < rows {
            let r = (rows - i).min(ROWS);
            let (a, out) = (&a[i * b.k..], &mut out[i * b.n..]);
            match r {
                2 => block::<2>(a, b, out),
                _ => block::<1>(a, b, out),
            }
            i += r;
        }
    }

    /// `R` rows of the product, panel by panel.
    #[target_feature(enable = "avx2")]
    unsafe fn block<const R: usize>(a: &[i32], b: &IntPacked, out: &mut [i64]) {
        let k = b.k;
        for p in 0..b.n.div_ceil(PANEL) {
            let bias = b.bias.as_ptr().add(p * PANEL) as *const __m256i;
            let mut acc = [[_mm256_setzero_si256(); 4]; R];
            for acc in acc.iter_mut() {
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_loadu_si256(bias.add(v));
                }
            }
            let bp = b.panels.as_ptr().add(p * k * PANEL) as *const __m256i;
            for kk in 0..k {
                // The low 32 bits of each 64-bit lane hold the value (`mul_epi32` reads them).
                let mut x = [_mm256_setzero_si256(); R];
                for (r, x) in x.iter_mut().enumerate() {
                    *x = _mm256_set1_epi32(a[r * k + kk]);
                }
                for v in 0..4 {
                    let w = _mm256_loadu_si256(bp.add(kk * 4 + v));
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        acc[v] = _mm256_add_epi64(acc[v], _mm256_mul_epi32(x, w));
                    }
                }
            }
            let first = p * PANEL;
            let width = (b.n - first).min(PANEL);
            for (r, acc) in acc.iter().enumerate() {
                let mut tmp = [0i64; PANEL];
                for (v, acc) in acc.iter().enumerate() {
                    _mm256_storeu_si256(tmp.as_mut_ptr().add(4 * v) as *mut __m256i, *acc);
                }
                out[r * b.n + first..][..width].copy_from_slice(&tmp[..width]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path gives the exact sums modulo 2⁶⁴ (checked in i128), for any block shape and
    /// remainder, with operands spread over `i32`'s whole range (so some sums wrap).
    #[test]
    fn paths_give_the_exact_sums() {
        let value = |i: usize| ((i as i64 * 2_654_435_761) % (1 << 31)) as i32;
        for (rows, k, n) in [(1, 1, 1), (3, 9, 17), (5, 64, 16), (4, 27, 40)] {
            let a: Vec<i32> = (0..rows * k).map(value).collect();
            let bias: Vec<i64> = (0..n).map(|j| i64::from(value(j + 3)) << 16).collect();
            let b = IntPacked::new(k, n, |kk, j| value(kk * n + j + 7), &bias);
            for path in Path::available() {
                let mut out = vec![0; rows * n];
                product(path, &a, rows, &b, &mut out);
                for i in 0..rows {
                    for j in 0..n {
                        let exact: i128 = i128::from(bias[j])
                            + (0..k)
                                .map(|kk| {
                                    i128::from(a[i * k + kk]) * i128::from(value(kk * n + j + 7))
                                })
                                .sum::<i128>();
                        // Truncation to i64 is reduction modulo 2⁶⁴.
                        assert_eq!(out[i * n + j], exact as i64, "{path:?} {i} {j}");
                    }
                }
            }
        }
    }
}
