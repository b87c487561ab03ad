//! CPU kernels shared by the fast inference path ([`crate::infer`]) and the fused trainer
//! ([`crate::train::cpu`]): patch extraction, the transposed convolution, matrix products on the
//! `gemm` crate (the kernels burn's flex backend uses) and a vectorising tanh.

pub mod dense;

use multiversion::multiversion;
use rayon::prelude::*;

use crate::cpu_path::Path;

use crate::model::{CHANNELS, INNER, KERNEL, TILE};

/// The 3×3 patches of a tile as the rows (c, ky, kx) × columns (y, x) of a matrix, pixels
/// scaled to [0, 1].
#[multiversion(targets("x86_64+avx2+fma"))]
pub fn im2col(tile: &[u8], cols: &mut [f32]) {
    const N: usize = INNER * INNER;
    for c in 0..CHANNELS {
        for ky in 0..KERNEL {
            for kx in 0..KERNEL {
                let row = &mut cols[((c * KERNEL + ky) * KERNEL + kx) * N..][..N];
                for y in 0..INNER {
                    let src = &tile[c * TILE * TILE + (y + ky) * TILE + kx..][..INNER];
                    for (d, &s) in row[y * INNER..(y + 1) * INNER].iter_mut().zip(src) {
                        *d = f32::from(s) * (1.0 / 255.0);
                    }
                }
            }
        }
    }
}

/// Transposed 3×3 convolution (stride 1, no padding), bias and sigmoid of one tile:
/// `out[o, y+ky, x+kx] += h[i, y, x] · w[i, o, ky, kx]` with `w` burn's `[in, out, 3, 3]`, on
/// `path` (every path gives the same bits: the same operations, unfused, in the same order).
///
/// Computed as a gather over `h` padded by 2 on every side: each 32-wide output row is the sum
/// of 27 shifted 32-wide input rows, accumulated in registers (four AVX vectors). Each output
/// sums its terms in (i, ky, kx) order, as the formula above reads, plus zeros from the padding.
pub fn deconv_tile(path: Path, w: &[f32], bias: &[f32], h: &[f32], out: &mut [f32]) {
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Avx2` (and wider) is chosen (or offered to tests) only where the CPU has AVX2 and FMA.
        p if p.avx2() => unsafe { deconv_tile_avx2(w, bias, h, out) },
        _ => deconv_tile_body(w, bias, h, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn deconv_tile_avx2(w: &[f32], bias: &[f32], h: &[f32], out: &mut [f32]) {
    deconv_tile_body(w, bias, h, out);
}

/// [`deconv_tile`]'s loops, compiled once per path.
#[inline(always)]
fn deconv_tile_body(w: &[f32], bias: &[f32], h: &[f32], out: &mut [f32]) {
    const PAD: usize = KERNEL - 1;
    const P: usize = INNER + 2 * PAD;
    let mut padded = [0f32; CHANNELS * P * P];
    for (plane, src) in padded
        .chunks_exact_mut(P * P)
        .zip(h.chunks_exact(INNER * INNER))
    {
        for (y, row) in src.chunks_exact(INNER).enumerate() {
            plane[(y + PAD) * P + PAD..][..INNER].copy_from_slice(row);
        }
    }
    for (o, plane) in out.chunks_exact_mut(TILE * TILE).enumerate() {
        for (y, row) in plane.chunks_exact_mut(TILE).enumerate() {
            let mut acc = [bias[o]; TILE];
            for i in 0..CHANNELS {
                for ky in 0..KERNEL {
                    let src_row = &padded[i * P * P + (y + PAD - ky) * P..][..P];
                    for kx in 0..KERNEL {
                        let wv = w[((i * CHANNELS + o) * KERNEL + ky) * KERNEL + kx];
                        let src = &src_row[PAD - kx..][..TILE];
                        for (a, &s) in acc.iter_mut().zip(src) {
                            *a += s * wv;
                        }
                    }
                }
            }
            row.copy_from_slice(&acc);
        }
        // sigmoid(v) = (1 + tanh(v/2)) / 2: the rational tanh vectorises where exp does not.
        for v in plane.iter_mut() {
            *v = 0.5 + 0.5 * fast_tanh(0.5 * *v);
        }
    }
}

/// A read-only view of an `rows × cols` matrix whose value (r, c) is
/// `data[r·row_stride + c·col_stride]`: row-major buffers and their transposes.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// The row-major `rows × cols` matrix at the start of `data`.
    ///
    /// # Panics
    /// If `rows · cols` overflows `usize` or `data` holds fewer values.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        let len = checked_len(rows, cols);
        assert!(data.len() >= len, "matrix needs {rows}×{cols} values");
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The `rows × cols` matrix whose rows are `row_stride` values apart, each row contiguous
    /// (a block of columns of a wider row-major matrix).
    ///
    /// # Panics
    /// If the last value lies outside `data`, its offset overflows `usize`, or `row_stride`
    /// does not fit in `isize`.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        let m = Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        };
        assert!(m.fits(), "strided matrix outside its buffer");
        m
    }

    /// Rows and columns.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Whether every index the strides reach lies inside `data`, computed without overflow (an
    /// offset that overflows `usize` does not fit), and both strides fit in `isize` (as `gemm`
    /// takes them).
    fn fits(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.row_stride)
            .zip((self.cols - 1).checked_mul(self.col_stride))
            .and_then(|(r, c)| r.checked_add(c));
        last.is_some_and(|last| last < self.data.len())
            && isize::try_from(self.row_stride).is_ok()
            && isize::try_from(self.col_stride).is_ok()
    }
}

/// `rows · cols`, or a panic that names the shape where the product overflows `usize` (a
/// wrapped product would let a short slice pass the length checks).
fn checked_len(rows: usize, cols: usize) -> usize {
    rows.checked_mul(cols)
        .unwrap_or_else(|| panic!("a {rows}×{cols} matrix has more values than usize holds"))
}

/// `c ← (accumulate ? c : 0) + a·b` for `a` (m×k), `b` (k×n) and a row-major `c` (m×n), on all
/// cores when `parallel`. The gemm kernels never split the sum over k between threads, so the
/// result does not depend on the number of threads.
///
/// # Panics
/// If the shapes disagree, `m · n` overflows `usize`, or `c` is too short.
pub fn gemm(c: &mut [f32], accumulate: bool, a: MatRef<'_>, b: MatRef<'_>, parallel: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    let len = checked_len(m, n);
    assert!(c.len() >= len, "output needs {m}×{n} values");
    assert!(a.fits(), "left matrix outside its buffer");
    assert!(b.fits(), "right matrix outside its buffer");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..len].fill(0.0);
        }
        return;
    }
    // `c`'s row stride: n ≤ len ≤ c.len(), and a slice never holds more than isize::MAX values.
    let c_row_stride = isize::try_from(n).expect("n ≤ c.len() ≤ isize::MAX");
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every index the strides reach lies inside its slice (`fits`, and `c` holds m·n
    // row-major values; all products checked above, so none wrapped), every stride fits in
    // isize (`fits`, `c_row_stride`), and `c` is a unique borrow, so it aliases neither `a` nor
    // `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_row_stride,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `c ← (accumulate ? c : 0) + a·b` for row-major `a` (m×k), `b` (k×n), `c` (m×n).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
    gemm(
        c,
        accumulate,
        MatRef::new(a, m, k),
        MatRef::new(b, k, n),
        parallel,
    );
}

/// The sum of `values` in 16 interleaved partial sums (which vectorise), then added as a tree.
#[inline]
pub fn sum(values: &[f32]) -> f32 {
    let (chunks, rest) = values.as_chunks::<16>();
    let mut acc = [0f32; 16];
    for c in chunks {
        for k in 0..16 {
            acc[k] += c[k];
        }
    }
    let mut s8 = [0f32; 8];
    for (k, s) in s8.iter_mut().enumerate() {
        *s = acc[k] + acc[k + 8];
    }
    let s4 = [s8[0] + s8[4], s8[1] + s8[5], s8[2] + s8[6], s8[3] + s8[7]];
    (s4[0] + s4[2]) + (s4[1] + s4[3]) + rest.iter().sum::<f32>()
}

/// tanh of every value on `path`, on all cores for large buffers.
pub fn tanh_parallel(path: Path, values: &mut [f32]) {
    values
        .par_chunks_mut(1 << 14)
        .for_each(|v| tanh_on(path, v));
}

/// tanh of every value by Eigen's rational approximation (the float `ptanh` that TensorFlow's
/// CPU kernels use): a 13/6-degree odd/even rational on [−7.9, 7.9], exact to a few ulp; on
/// the path [`Path::detect`] picks.
pub fn tanh_in_place(values: &mut [f32]) {
    tanh_on(Path::detect(), values);
}

/// [`tanh_in_place`] on `path` (the same operations, unfused, so the bits do not depend on it).
pub fn tanh_on(path: Path, values: &mut [f32]) {
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Avx2` (and wider) is chosen (or offered to tests) only where the CPU has AVX2 and FMA.
        p if p.avx2() => unsafe { tanh_avx2(values) },
        _ => tanh_body(values),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tanh_avx2(values: &mut [f32]) {
    tanh_body(values);
}

#[inline(always)]
fn tanh_body(values: &mut [f32]) {
    for v in values.iter_mut() {
        *v = fast_tanh(*v);
    }
}

/// One value of [`tanh_in_place`].
#[inline(always)]
pub fn fast_tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A1: f32 = 4.893_524_5e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525e-3;
    const B2: f32 = 2.268_434_6e-3;
    const B4: f32 = 1.185_347_1e-4;
    const B6: f32 = 1.198_258_4e-6;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = x2 * A13 + A11;
    p = p * x2 + A9;
    p = p * x2 + A7;
    p = p * x2 + A5;
    p = p * x2 + A3;
    p = p * x2 + A1;
    p *= x;
    let mut q = x2 * B6 + B4;
    q = q * x2 + B2;
    q = q * x2 + B0;
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_adds_every_value() {
        for n in [0usize, 1, 15, 16, 17, 900, 1024] {
            let v: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 2.5).collect();
            let exact: f64 = v.iter().map(|&x| f64::from(x)).sum();
            assert!((f64::from(sum(&v)) - exact).abs() < 1e-3, "n = {n}");
        }
    }

    /// A row count and a column count whose product is 2^BITS, which wraps to 0.
    const WRAPS_TO_ZERO: (usize, usize) = (1 << (usize::BITS / 2 + 1), 1 << (usize::BITS / 2 - 1));

    #[test]
    #[should_panic(expected = "more values than usize holds")]
    fn new_refuses_a_shape_whose_size_wraps_to_zero() {
        let (rows, cols) = WRAPS_TO_ZERO;
        MatRef::new(&[], rows, cols);
    }

    #[test]
    #[should_panic(expected = "more values than usize holds")]
    fn new_refuses_a_shape_whose_size_wraps_to_one() {
        // 3 · (the inverse of 3 modulo 2^BITS) = 1 modulo 2^BITS.
        let inverse_of_3 = usize::MAX / 3 * 2 + 1;
        assert_eq!(3usize.wrapping_mul(inverse_of_3), 1);
        MatRef::new(&[0.0], 3, inverse_of_3);
    }

    #[test]
    #[should_panic(expected = "outside its buffer")]
    fn strided_refuses_an_offset_that_wraps() {
        // (2 − 1)·(2^BITS − 1) + (2 − 1)·1 wraps to 0, which would pass as "inside".
        MatRef::strided(&[0.0; 4], 2, 2, usize::MAX);
    }

    #[test]
    #[should_panic(expected = "outside its buffer")]
    fn strided_refuses_a_row_stride_beyond_isize() {
        // One row reaches no value through its stride, but gemm takes strides as isize.
        MatRef::strided(&[0.0; 4], 1, 2, isize::MAX as usize + 2);
    }

    #[test]
    #[should_panic(expected = "more values than usize holds")]
    fn gemm_refuses_an_output_whose_size_wraps() {
        // Two valid broadcast views (stride 0: every row, or column, is the one stored value),
        // m × 1 and 1 × n, whose m·n output wraps to 0 values: without the check an empty `c`
        // would pass and gemm would write far past it.
        let (m, n) = WRAPS_TO_ZERO;
        let one = [1.0f32];
        let a = MatRef::strided(&one, m, 1, 0);
        let b = MatRef::strided(&one, n, 1, 0).t();
        gemm(&mut [], false, a, b, false);
    }

    #[test]
    fn gemm_still_takes_broadcast_and_transposed_views() {
        let one = [2.0f32];
        let a = MatRef::strided(&one, 3, 1, 0);
        let b = MatRef::new(&[1.0, 10.0], 1, 2);
        let mut c = [0f32; 6];
        gemm(&mut c, false, a, b, false);
        assert_eq!(c, [2.0, 20.0, 2.0, 20.0, 2.0, 20.0]);
        let m = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut c = [0f32; 4];
        // (2×3)·(2×3)ᵀ
        gemm(
            &mut c,
            false,
            MatRef::new(&m, 2, 3),
            MatRef::new(&m, 2, 3).t(),
            false,
        );
        assert_eq!(c, [14.0, 32.0, 32.0, 77.0]);
    }

    #[test]
    fn fast_tanh_matches_std() {
        let mut worst = 0f32;
        let mut x = -12.0f32;
        while x < 12.0 {
            worst = worst.max((fast_tanh(x) - x.tanh()).abs());
            x += 0.001;
        }
        assert!(worst < 2e-6, "worst error {worst}");
        assert_eq!(fast_tanh(0.0), 0.0);
    }
}
