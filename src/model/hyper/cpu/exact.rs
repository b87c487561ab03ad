//! Exact integer products for the integer hyper-synthesis:
//! `out[i, j] = bias[j] + Σₖ a[i, k]·b[k, j]` with `i32` operands and wrapping `i64` sums. Modular
//! addition is associative, so every order, block and instruction set gives the same integers.
//!
//! Where the operands are small enough that `Σₖ |a[i, k]|·|b[k, j]|` stays below 2⁵³, every
//! partial sum of the products, in any order, is an integer that `f64` holds exactly, so the
//! AVX2 path sums them with `f64` fused multiply-adds (two a cycle, where the 64-bit integer
//! product `vpmuldq` issues one): the same integers, about 1.5 times as fast. Whether a product
//! qualifies depends on its operands alone, so the result is the same either way.

use std::sync::OnceLock;

use super::aligned::Aligned;
use crate::cpu_path::Path;

/// Columns of `b` per packed panel (four vectors of four `i64`).
const PANEL: usize = 16;
/// Rows of `a` per block of the AVX2 kernel.
const ROWS: usize = 2;
/// Columns of `b` per panel of the `f64` kernel (two vectors of four).
const WIDE_PANEL: usize = 8;
/// Rows of `a` per block of the `f64` kernel (12 accumulators).
const WIDE_ROWS: usize = 6;
/// Values of `k` per stretch of the `f64` kernel, so that a block's rows of `a` stay in the
/// first-level cache while the panels stream past.
const STRETCH: usize = 256;
/// Every integer of smaller magnitude is exact in `f64`.
const F64_EXACT: u128 = 1 << 53;

/// A `k × n` matrix of `i32` with a bias of `n` values, packed on first use as panels of 16
/// columns, each value widened to `i64` (the AVX2 kernel multiplies the low halves), or as
/// panels of 8 columns of `f64`, whichever a product asks for (a machine uses one of them
/// nearly always); all padded with zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct IntPacked {
    k: usize,
    n: usize,
    /// The matrix, row-major.
    values: Vec<i32>,
    panels: OnceLock<Aligned<i64>>,
    wide: OnceLock<Aligned<f64>>,
    bias: Vec<i64>,
    /// The largest `Σₖ |b[k, j]|` over the columns: with the largest `|a|`, a bound on every
    /// partial sum.
    column_sum: u64,
}

impl IntPacked {
    /// Packs `b(k, j)` for `k < rows`, `j < cols`, with `bias`.
    #[cfg(test)]
    pub fn new(rows: usize, cols: usize, b: impl Fn(usize, usize) -> i32, bias: &[i64]) -> Self {
        let values = (0..rows).flat_map(|k| (0..cols).map(move |j| (k, j)));
        Self::from_rows(rows, cols, values.map(|(k, j)| b(k, j)).collect(), bias)
    }

    /// The `rows × cols` matrix `values` (row-major) with `bias`.
    pub fn from_rows(rows: usize, cols: usize, values: Vec<i32>, bias: &[i64]) -> Self {
        assert_eq!(bias.len(), cols, "one bias per column");
        assert_eq!(values.len(), rows * cols, "a {rows} × {cols} matrix");
        let mut sums = vec![0u64; cols];
        for row in values.chunks_exact(cols.max(1)) {
            for (s, v) in sums.iter_mut().zip(row) {
                *s += u64::from(v.unsigned_abs());
            }
        }
        let mut padded = bias.to_vec();
        padded.resize(cols.next_multiple_of(PANEL), 0);
        Self {
            k: rows,
            n: cols,
            values,
            panels: OnceLock::new(),
            wide: OnceLock::new(),
            bias: padded,
            column_sum: sums.into_iter().max().unwrap_or(0),
        }
    }

    /// The matrix as panels of `width` columns of `T`.
    fn packed<T: Copy + Default>(&self, width: usize, to: impl Fn(i32) -> T) -> Aligned<T> {
        let value = |k: usize, j: usize| to(self.values[k * self.n + j]);
        super::panel::pack(self.k, self.n, width, value, &[]).0
    }

    /// Panels of 16 columns of `i64`.
    fn panels(&self) -> &Aligned<i64> {
        self.panels.get_or_init(|| self.packed(PANEL, i64::from))
    }

    /// Panels of 8 columns of `f64`.
    #[cfg(target_arch = "x86_64")]
    fn wide(&self) -> &Aligned<f64> {
        self.wide.get_or_init(|| self.packed(WIDE_PANEL, f64::from))
    }

    /// Whether every partial sum of the product of `a`'s first `rows` rows with this matrix
    /// is an integer below 2⁵³ in magnitude (so exact in `f64`, in any order).
    fn exact_in_f64(&self, a: &[i32], rows: usize) -> bool {
        let largest = a[..rows * self.k].iter().map(|v| v.unsigned_abs()).max();
        u128::from(largest.unwrap_or(0)) * u128::from(self.column_sum) < F64_EXACT
    }

    /// Columns.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The distance between rows of sums in [`sums_in_f64`]: the columns padded to whole
    /// panels.
    pub fn f64_width(&self) -> usize {
        self.n.next_multiple_of(WIDE_PANEL)
    }

    /// The largest `Σₖ |b[k, j]|` over the columns.
    pub fn column_sum(&self) -> u64 {
        self.column_sum
    }
}

/// Writes the product of the `rows × b.k` row-major `a` and `b`, plus the bias, to `out`
/// (`rows × b.n()`, row-major), on `path`.
pub fn product(path: Path, a: &[i32], rows: usize, b: &IntPacked, out: &mut [i64]) {
    assert!(a.len() >= rows * b.k, "a holds {rows} rows");
    assert!(out.len() >= rows * b.n, "out holds {rows} rows");
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Avx2` (and wider) is chosen (or offered to tests) only where the CPU has
        // AVX2 and FMA, `Path::Avx512` where it has AVX-512 F; the lengths are checked above;
        // `exact_in_f64` holds for the `f64` kernels.
        p if p.avx2() => unsafe {
            match (b.exact_in_f64(a, rows), p.avx512()) {
                (true, true) => avx512::product_f64(a, rows, b, out),
                (true, _) => avx2::product_f64(a, rows, b, out),
                (false, _) => avx2::product(a, rows, b, out),
            }
        },
        _ => portable(a, rows, b, out),
    }
}

/// [`product`] of a matrix of `i64` (wrapping products), on no particular path: for operands
/// past 32 bits, which the other kernels do not take.
pub fn product_wide(a: &[i64], rows: usize, b: &IntPacked, out: &mut [i64]) {
    assert!(a.len() >= rows * b.k, "a holds {rows} rows");
    assert!(out.len() >= rows * b.n, "out holds {rows} rows");
    for (row, dst) in a
        .chunks_exact(b.k)
        .zip(out.chunks_exact_mut(b.n))
        .take(rows)
    {
        for (j, d) in dst.iter_mut().enumerate() {
            let column = (b.values[j..].iter().step_by(b.n)).map(|&w| i64::from(w));
            let sum = row.iter().zip(column).map(|(&v, w)| v.wrapping_mul(w));
            *d = sum.fold(b.bias[j], i64::wrapping_add);
        }
    }
}

fn portable(a: &[i32], rows: usize, b: &IntPacked, out: &mut [i64]) {
    let (k, panels) = (b.k, b.panels());
    for (row, dst) in a.chunks_exact(k).zip(out.chunks_exact_mut(b.n)).take(rows) {
        for (j, d) in dst.iter_mut().enumerate() {
            let panel = &panels[(j / PANEL) * k * PANEL..][..k * PANEL];
            let mut acc = b.bias[j];
            for (kk, &v) in row.iter().enumerate() {
                acc = acc.wrapping_add(i64::from(v) * panel[kk * PANEL + j % PANEL]);
            }
            *d = acc;
        }
    }
}

/// The product of `a`'s `rows` rows and `b` in `f64` (exact where `b.exact_in_f64(a, rows)`):
/// `add(x, rows, sums)` writing the products of `x` (`a` in `f64`) to `sums` (rows
/// [`IntPacked::f64_width`] apart); then each sum plus the bias, back in `i64`.
#[cfg(target_arch = "x86_64")]
fn in_f64(
    a: &[i32],
    rows: usize,
    b: &IntPacked,
    out: &mut [i64],
    add: impl FnOnce(&[f64], usize, &mut [f64]),
) {
    let (k, n) = (b.k, b.n);
    let width = b.f64_width();
    let x: Vec<f64> = a[..rows * k].iter().map(|&v| f64::from(v)).collect();
    let mut sums = vec![0f64; rows * width];
    add(&x, rows, &mut sums);
    for (dst, sums) in out.chunks_exact_mut(n).zip(sums.chunks_exact(width)) {
        for ((d, &s), &bias) in dst.iter_mut().zip(sums).zip(&b.bias) {
            *d = bias.wrapping_add(s as i64);
        }
    }
}

/// Writes the products of `x`'s `rows` rows (`b.k` apart) and `b` to `sums` (rows
/// [`IntPacked::f64_width`] apart): `k` in stretches, `block(x, r, (k0, len), sums)` adding
/// `r ≤ max_rows` rows of `x` (from its start) over `k0..k0 + len` to `r` rows of `sums`
/// (writing them for the first stretch, `k0 = 0`).
#[cfg(target_arch = "x86_64")]
fn add_in_f64(
    x: &[f64],
    rows: usize,
    b: &IntPacked,
    sums: &mut [f64],
    max_rows: usize,
    mut block: impl FnMut(&[f64], usize, (usize, usize), &mut [f64]),
) {
    let (k, width) = (b.k, b.f64_width());
    for k0 in (0..k).step_by(STRETCH) {
        let len = STRETCH.min(k - k0);
        let mut i = 0;
        while i < rows {
            let r = (rows - i).min(max_rows);
            block(&x[i * k + k0..], r, (k0, len), &mut sums[i * width..]);
            i += r;
        }
    }
}

/// The product of `rows` rows of `x` (`b.k` apart, integers held in `f64`) and `b`, without
/// its bias, into `sums` (rows [`IntPacked::f64_width`] apart), on `path`'s `f64` kernel;
/// `false` (and `sums` untouched) on a path that has none. Each sum is the exact integer
/// where every `|x|` times [`IntPacked::column_sum`] is below 2⁵³ (the caller's bound).
pub fn sums_in_f64(path: Path, x: &[f64], rows: usize, b: &IntPacked, sums: &mut [f64]) -> bool {
    assert!(x.len() >= rows * b.k, "x holds {rows} rows");
    let width = b.f64_width();
    assert!(sums.len() >= rows * width, "sums hold {rows} rows");
    #[cfg(target_arch = "x86_64")]
    if path.avx2() {
        // SAFETY: `Path::Avx2` (and wider) only where the CPU has AVX2 and FMA, `Path::Avx512`
        // where it has AVX-512 F; the lengths are checked above.
        unsafe {
            match path.avx512() {
                true => avx512::sums(x, rows, b, sums),
                false => avx2::sums(x, rows, b, sums),
            }
        }
        return true;
    }
    let _ = path;
    false
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{IntPacked, PANEL, ROWS, WIDE_PANEL, WIDE_ROWS};

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

    /// [`product`] in `f64` fused multiply-adds, `WIDE_ROWS` rows of `a` at a time.
    ///
    /// # Safety
    /// As [`product`], the CPU has FMA too, and `b.exact_in_f64(a, rows)`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn product_f64(a: &[i32], rows: usize, b: &IntPacked, out: &mut [i64]) {
        super::in_f64(a, rows, b, out, |x, rows, s| sums(x, rows, b, s));
    }

    /// Adds the products of `rows` rows of `x` and `b` to `sums` ([`super::add_in_f64`]).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `x` holds the rows and `sums` their sums.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sums(x: &[f64], rows: usize, b: &IntPacked, sums: &mut [f64]) {
        super::add_in_f64(x, rows, b, sums, WIDE_ROWS, |x, r, span, s| match r {
            6 => wide_block::<6>(x, b, span, s),
            5 => wide_block::<5>(x, b, span, s),
            4 => wide_block::<4>(x, b, span, s),
            3 => wide_block::<3>(x, b, span, s),
            2 => wide_block::<2>(x, b, span, s),
            _ => wide_block::<1>(x, b, span, s),
        });
    }

    /// Adds the products of `R` rows of `x` (`b.k` apart) over `k0..k0 + len` to `R` rows of
    /// `sums` (every panel's columns; writes them when `k0` is 0), panel by panel.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn wide_block<const R: usize>(
        x: &[f64],
        b: &IntPacked,
        (k0, len): (usize, usize),
        sums: &mut [f64],
    ) {
        let k = b.k;
        let width = b.n.next_multiple_of(WIDE_PANEL);
        debug_assert!(x.len() >= (R - 1) * k + len && sums.len() >= R * width);
        let (xp, wide) = (x.as_ptr(), b.wide());
        for p in 0..width / WIDE_PANEL {
            let bp = wide.as_ptr().add((p * k + k0) * WIDE_PANEL);
            let mut acc = [[_mm256_setzero_pd(); 2]; R];
            for kk in 0..len {
                let w0 = _mm256_loadu_pd(bp.add(kk * WIDE_PANEL));
                let w1 = _mm256_loadu_pd(bp.add(kk * WIDE_PANEL + 4));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let v = _mm256_broadcast_sd(&*xp.add(r * k + kk));
                    acc[0] = _mm256_fmadd_pd(v, w0, acc[0]);
                    acc[1] = _mm256_fmadd_pd(v, w1, acc[1]);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for (h, &acc) in acc.iter().enumerate() {
                    let o = sums.as_mut_ptr().add(r * width + p * WIDE_PANEL + 4 * h);
                    // The first stretch writes the sums, the others add to them.
                    let sum = match k0 {
                        0 => acc,
                        _ => _mm256_add_pd(_mm256_loadu_pd(o), acc),
                    };
                    _mm256_storeu_pd(o, sum);
                }
            }
        }
    }

    /// `R` rows of the product, panel by panel.
    #[target_feature(enable = "avx2")]
    unsafe fn block<const R: usize>(a: &[i32], b: &IntPacked, out: &mut [i64]) {
        let (k, panels) = (b.k, b.panels());
        for p in 0..b.n.div_ceil(PANEL) {
            let bias = b.bias.as_ptr().add(p * PANEL) as *const __m256i;
            let mut acc = [[_mm256_setzero_si256(); 4]; R];
            for acc in acc.iter_mut() {
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_loadu_si256(bias.add(v));
                }
            }
            let bp = panels.as_ptr().add(p * k * PANEL) as *const __m256i;
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

/// The `f64` kernel on 512-bit vectors: a panel of eight columns is one vector.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{IntPacked, WIDE_PANEL};

    /// Rows of `a` per block (12 accumulators).
    const ROWS: usize = 12;

    /// [`super::avx2::product_f64`] on AVX-512.
    ///
    /// # Safety
    /// The CPU has AVX-512 F; as [`super::avx2::product_f64`] otherwise.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn product_f64(a: &[i32], rows: usize, b: &IntPacked, out: &mut [i64]) {
        super::in_f64(a, rows, b, out, |x, rows, s| sums(x, rows, b, s));
    }

    /// Adds the products of `rows` rows of `x` and `b` to `sums` ([`super::add_in_f64`]).
    ///
    /// # Safety
    /// The CPU has AVX-512 F; `x` holds the rows and `sums` their sums.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn sums(x: &[f64], rows: usize, b: &IntPacked, sums: &mut [f64]) {
        super::add_in_f64(x, rows, b, sums, ROWS, |x, r, span, s| match r {
            12 => block::<12>(x, b, span, s),
            11 => block::<11>(x, b, span, s),
            10 => block::<10>(x, b, span, s),
            9 => block::<9>(x, b, span, s),
            8 => block::<8>(x, b, span, s),
            7 => block::<7>(x, b, span, s),
            6 => block::<6>(x, b, span, s),
            5 => block::<5>(x, b, span, s),
            4 => block::<4>(x, b, span, s),
            3 => block::<3>(x, b, span, s),
            2 => block::<2>(x, b, span, s),
            _ => block::<1>(x, b, span, s),
        });
    }

    /// Adds the products of `R` rows of `x` (`b.k` apart) over `k0..k0 + len` to `R` rows of
    /// `sums` (writes them when `k0` is 0), two panels at a time (then the last one alone).
    /// Out of line: inlined into the dispatcher, the hyper-synthesis ran 1.3× slower
    /// (`examples/encode_times`).
    #[inline(never)]
    #[target_feature(enable = "avx512f")]
    unsafe fn block<const R: usize>(
        x: &[f64],
        b: &IntPacked,
        span: (usize, usize),
        sums: &mut [f64],
    ) {
        let panels = b.n.div_ceil(WIDE_PANEL);
        assert!(x.len() >= (R - 1) * b.k + span.1 && sums.len() >= R * panels * WIDE_PANEL);
        for p in (0..panels).step_by(2) {
            match panels - p {
                1 => panels_of::<R, 1>(x, b, span, sums, p),
                _ => panels_of::<R, 2>(x, b, span, sums, p),
            }
        }
    }

    /// [`block`]'s panels `p..p + P`.
    #[target_feature(enable = "avx512f")]
    unsafe fn panels_of<const R: usize, const P: usize>(
        x: &[f64],
        b: &IntPacked,
        (k0, len): (usize, usize),
        sums: &mut [f64],
        p: usize,
    ) {
        let k = b.k;
        let width = b.n.next_multiple_of(WIDE_PANEL);
        let xp = x.as_ptr();
        let bp: [*const f64; P] =
            std::array::from_fn(|q| b.wide().as_ptr().add(((p + q) * k + k0) * WIDE_PANEL));
        let mut acc = [[_mm512_setzero_pd(); P]; R];
        for kk in 0..len {
            let w: [__m512d; P] =
                std::array::from_fn(|q| _mm512_loadu_pd(bp[q].add(kk * WIDE_PANEL)));
            for (r, acc) in acc.iter_mut().enumerate() {
                let v = _mm512_set1_pd(*xp.add(r * k + kk));
                for (acc, &w) in acc.iter_mut().zip(&w) {
                    *acc = _mm512_fmadd_pd(v, w, *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (q, &acc) in acc.iter().enumerate() {
                let o = sums.as_mut_ptr().add(r * width + (p + q) * WIDE_PANEL);
                // The first stretch writes the sums, the others add to them.
                let sum = match k0 {
                    0 => acc,
                    _ => _mm512_add_pd(_mm512_loadu_pd(o), acc),
                };
                _mm512_storeu_pd(o, sum);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact sum of row `i` and column `j`, modulo 2⁶⁴ (computed in `i128`).
    fn exact_sum(
        a: &[i32],
        k: usize,
        b: impl Fn(usize, usize) -> i32,
        bias: i64,
        (i, j): (usize, usize),
    ) -> i64 {
        let sum: i128 = (0..k)
            .map(|kk| i128::from(a[i * k + kk]) * i128::from(b(kk, j)))
            .sum();
        // Truncation to i64 is reduction modulo 2⁶⁴.
        (i128::from(bias) + sum) as i64
    }

    /// Every path gives `exact_sum` for each output of `rows × k` by `k × n`.
    fn check(
        a: &[i32],
        (rows, k, n): (usize, usize, usize),
        b: impl Fn(usize, usize) -> i32 + Copy,
        bias: &[i64],
    ) {
        let packed = IntPacked::new(k, n, b, bias);
        for path in Path::available() {
            let mut out = vec![0; rows * n];
            product(path, a, rows, &packed, &mut out);
            for i in 0..rows {
                for j in 0..n {
                    let want = exact_sum(a, k, b, bias[j], (i, j));
                    assert_eq!(out[i * n + j], want, "{path:?} {rows}×{k}×{n}: {i} {j}");
                }
            }
        }
    }

    /// Every path gives the exact sums modulo 2⁶⁴ (checked in i128), for any block shape and
    /// remainder, with operands spread over `i32`'s whole range (so some sums wrap).
    #[test]
    fn paths_give_the_exact_sums() {
        let value = |i: usize| ((i as i64 * 2_654_435_761) % (1 << 31)) as i32;
        for (rows, k, n) in [(1, 1, 1), (3, 9, 17), (5, 64, 16), (4, 27, 40)] {
            let a: Vec<i32> = (0..rows * k).map(value).collect();
            let bias: Vec<i64> = (0..n).map(|j| i64::from(value(j + 3)) << 16).collect();
            let b = move |kk: usize, j: usize| value(kk * n + j + 7);
            assert!(!IntPacked::new(k, n, b, &bias).exact_in_f64(&a, rows) || k == 1);
            check(&a, (rows, k, n), b, &bias);
        }
    }

    /// Operands of the integer networks' sizes take the `f64` kernel, which gives the same
    /// sums: every block of rows (1 to 6 on AVX2, to 12 on AVX-512), stretches of `k` and a
    /// last panel in part.
    #[test]
    fn small_operands_sum_exactly_in_f64() {
        let value = |i: usize, span: i64| ((i as i64 * 2_654_435_761) % (2 * span) - span) as i32;
        for (rows, k, n) in [
            (1, 1, 1),
            (7, 300, 13),
            (13, 600, 200),
            (6, 256, 8),
            (32, 576, 192),
        ] {
            let a: Vec<i32> = (0..rows * k).map(|i| value(i, 1 << 20)).collect();
            let bias: Vec<i64> = (0..n)
                .map(|j| i64::from(value(j + 3, 1 << 30)) << 16)
                .collect();
            let b = move |kk: usize, j: usize| value(kk * n + j + 7, 1 << 17);
            assert!(IntPacked::new(k, n, b, &bias).exact_in_f64(&a, rows));
            check(&a, (rows, k, n), b, &bias);
        }
    }

    /// At the bound: sums just under 2⁵³ take the `f64` kernel and stay exact; just over, the
    /// 64-bit integer one.
    #[test]
    fn the_f64_kernel_ends_where_its_sums_could_round() {
        let big = i32::MAX;
        let column_sum = 2 * u64::from(big.unsigned_abs());
        let largest = ((1u64 << 53) / column_sum) as i32;
        for (a, f64_path) in [(largest, true), (largest + 1, false)] {
            let a = [a, a - 1, -a, a];
            let b = |kk: usize, j: usize| {
                if (kk + j).is_multiple_of(3) {
                    -big
                } else {
                    big
                }
            };
            let packed = IntPacked::new(2, 5, b, &[0; 5]);
            assert_eq!(packed.exact_in_f64(&a, 2), f64_path);
            check(&a, (2, 2, 5), b, &[7; 5]);
        }
    }
}
