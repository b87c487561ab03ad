//! The encoder's dense layer `z = x·W`, `W` being `flat × code` (28,800 × 128 in the
//! reference: 91% of the model's parameters), forward and backward with the optimizer's update.
//!
//! At small batches the products are thin (10 rows against 28,800), and a general matrix
//! product spends its time packing `W` rather than multiplying. Here `W` streams through once
//! per pass in its own layout: the forward pass accumulates a strip of 16 code columns for a few
//! images at a time in registers, and the backward pass takes `W` a row at a time, forms that
//! row's input gradient and own gradient from values in L1 cache, and updates it in place. At
//! larger batches the products are square enough for `gemm`, and the backward pass still
//! updates `W` block by block, before its gradient leaves the cache.

use rayon::prelude::*;

use crate::kernels::{gemm, matmul, MatRef};
use crate::optim::{update, RmsPropSettings};

/// Largest batch the streaming kernels take; above it `gemm` is faster (measured on the
/// reference model: see the README's performance section).
pub const STREAMING_MAX_BATCH: usize = 40;
/// Code columns per strip of the streaming forward pass (one cache line of a row of `W`).
const STRIP: usize = 16;
/// Rows of `W` per block of the backward pass; also the granularity of the gradient buffer's
/// layout (see [`FeatureGrad`]).
pub const ROWS_PER_BLOCK: usize = 64;
/// Rows of `W` (32 kB at code length 128) that the forward pass keeps in L1 while every strip
/// and group of images visits them.
const ROWS_PER_PASS: usize = 64;
/// Ranges of rows the forward pass splits `W` into (tasks for the thread pool).
const RANGES: usize = 8;

/// Whether the streaming kernels handle a batch of `batch` codes of length `code`.
pub fn streams(batch: usize, code: usize) -> bool {
    batch <= STREAMING_MAX_BATCH && code.is_multiple_of(STRIP)
}

/// `codes ← codes + x·W` (`codes` holds the bias on entry), `x` being `batch × flat`. When the
/// streaming kernels take the batch, also writes `x`'s transpose into `x_t` (`flat × batch`),
/// which they read here and in [`backward_update`]; otherwise `x_t` is left alone.
pub fn forward(
    x: &[f32],
    x_t: &mut [f32],
    w: &[f32],
    codes: &mut [f32],
    batch: usize,
    code: usize,
) {
    let flat = x.len() / batch;
    if !streams(batch, code) {
        matmul(batch, code, flat, x, w, codes, true, true);
        return;
    }
    assert_eq!(x_t.len(), x.len(), "transposed input shape");
    // Contiguous ranges of rows, one task each, summed in a fixed order afterwards (so the
    // result does not depend on the number of threads).
    let per_range = flat.div_ceil(RANGES).next_multiple_of(ROWS_PER_PASS);
    let partials: Vec<Vec<f32>> = x_t
        .par_chunks_mut(per_range * batch)
        .enumerate()
        .map(|(k, x_t)| {
            let first = k * per_range;
            forward_rows(x, x_t, w, batch, code, first..first + x_t.len() / batch)
        })
        .collect();
    for partial in &partials {
        for (c, &p) in codes.iter_mut().zip(partial) {
            *c += p;
        }
    }
}

/// `out ← x[:, rows]ᵀ` (`rows.len() × batch`) for `x` holding `batch` rows.
fn transpose_rows(x: &[f32], batch: usize, rows: std::ops::Range<usize>, out: &mut [f32]) {
    let flat = x.len() / batch;
    let out = &mut out[..rows.len() * batch];
    for b in 0..batch {
        let src = &x[b * flat + rows.start..b * flat + rows.end];
        for (o, &v) in out.chunks_exact_mut(batch).zip(src) {
            o[b] = v;
        }
    }
}

/// `x[:, rows]·W[rows, :]` (`batch × code`), taking `W` in blocks of [`ROWS_PER_PASS`] rows
/// that stay in L1 while every strip of 16 columns and every group of images visits them.
/// Writes `x[:, rows]ᵀ` into `x_t` on the way, a block at a time.
fn forward_rows(
    x: &[f32],
    x_t: &mut [f32],
    w: &[f32],
    batch: usize,
    code: usize,
    rows: std::ops::Range<usize>,
) -> Vec<f32> {
    let mut out = vec![0f32; batch * code];
    let mut local = vec![0f32; ROWS_PER_PASS * code];
    for j0 in rows.clone().step_by(ROWS_PER_PASS) {
        let j1 = (j0 + ROWS_PER_PASS).min(rows.end);
        // One sequential copy brings the block in at full speed; the strips then read it
        // column-wise from L1.
        let local = &mut local[..(j1 - j0) * code];
        local.copy_from_slice(&w[j0 * code..j1 * code]);
        // The next block, asked for a slice per strip so that memory works while the strips
        // compute without flooding the cache's queue of misses.
        let next = &w[j1 * code..(j1 + ROWS_PER_PASS).min(rows.end) * code];
        let slice = next
            .len()
            .div_ceil(code / STRIP)
            .next_multiple_of(16)
            .max(16);
        let mut next = next.chunks(slice);
        let x_t = &mut x_t[(j0 - rows.start) * batch..(j1 - rows.start) * batch];
        transpose_rows(x, batch, j0..j1, x_t);
        let x_t = &*x_t;
        let block = 0..j1 - j0;
        for first in (0..code).step_by(STRIP) {
            #[cfg(target_arch = "x86_64")]
            if let Some(part) = next.next() {
                avx2::prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(part);
            }
            let mut b0 = 0;
            while b0 < batch {
                let n = (batch - b0).min(5);
                let block = block.clone();
                let w = &*local;
                #[cfg(target_arch = "x86_64")]
                if avx2::available() {
                    // SAFETY: the CPU has AVX2 and FMA (checked just above).
                    unsafe {
                        match n {
                            1 => avx2::strip_rows::<1>(
                                x_t, w, batch, code, first, b0, block, &mut out,
                            ),
                            2 => avx2::strip_rows::<2>(
                                x_t, w, batch, code, first, b0, block, &mut out,
                            ),
                            3 => avx2::strip_rows::<3>(
                                x_t, w, batch, code, first, b0, block, &mut out,
                            ),
                            4 => avx2::strip_rows::<4>(
                                x_t, w, batch, code, first, b0, block, &mut out,
                            ),
                            _ => avx2::strip_rows::<5>(
                                x_t, w, batch, code, first, b0, block, &mut out,
                            ),
                        }
                    }
                    b0 += n;
                    continue;
                }
                match n {
                    1 => strip_rows::<1>(x_t, w, batch, code, first, b0, block, &mut out),
                    2 => strip_rows::<2>(x_t, w, batch, code, first, b0, block, &mut out),
                    3 => strip_rows::<3>(x_t, w, batch, code, first, b0, block, &mut out),
                    4 => strip_rows::<4>(x_t, w, batch, code, first, b0, block, &mut out),
                    _ => strip_rows::<5>(x_t, w, batch, code, first, b0, block, &mut out),
                }
                b0 += n;
            }
        }
    }
    out
}

/// Adds rows `rows` of the strip of `W` at columns `first..first+16`, weighted by images
/// `b0..b0+N`, to those images' outputs (N × 16 sums held in registers across the rows).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn strip_rows<const N: usize>(
    x_t: &[f32],
    w: &[f32],
    batch: usize,
    code: usize,
    first: usize,
    b0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    let mut sums = [[0f32; STRIP]; N];
    for j in rows {
        let w_row: &[f32; STRIP] = w[j * code + first..][..STRIP]
            .try_into()
            .expect("16 values");
        let xs: &[f32; N] = x_t[j * batch + b0..][..N].try_into().expect("N values");
        for (sum, &x) in sums.iter_mut().zip(xs) {
            for (s, &wv) in sum.iter_mut().zip(w_row) {
                *s += x * wv;
            }
        }
    }
    for (i, sum) in sums.iter().enumerate() {
        for (o, &s) in out[(b0 + i) * code + first..][..STRIP].iter_mut().zip(sum) {
            *o += s;
        }
    }
}

/// The gradient at the layer's input, `δ·Wᵀ` (`batch × flat`), stored by blocks of
/// [`ROWS_PER_BLOCK`] features: block `k` holds a `batch × rows` row-major matrix for features
/// `k·ROWS_PER_BLOCK ..`. Each block is written by one task, and each image's gradient is read
/// back in runs of 64 contiguous values.
#[derive(Debug, Default)]
pub struct FeatureGrad {
    values: Vec<f32>,
    batch: usize,
    flat: usize,
}

impl FeatureGrad {
    /// Sizes the buffer for `batch` images of `flat` features.
    pub fn resize(&mut self, batch: usize, flat: usize) {
        self.values.resize(batch * flat, 0.0);
        self.batch = batch;
        self.flat = flat;
    }

    /// Copies image `b`'s gradient into `out` (`flat` values).
    pub fn image(&self, b: usize, out: &mut [f32]) {
        for (block, dst) in out.chunks_mut(ROWS_PER_BLOCK).enumerate() {
            let first = block * ROWS_PER_BLOCK;
            let rows = dst.len();
            dst.copy_from_slice(&self.values[first * self.batch + b * rows..][..rows]);
        }
    }
}

/// The layer's backward pass and `W`'s update in one visit of `W`.
///
/// Writes `δ·Wᵀ` (from the old `W`) into `feature_grad`, and updates `W` and its slots `ms`
/// with `W`'s gradient `xᵀ·δ`, which is formed block by block and never stored whole.
#[allow(clippy::too_many_arguments)]
pub fn backward_update(
    settings: RmsPropSettings,
    lr: f32,
    x_t: &[f32],
    x: &[f32],
    code_grad: &[f32],
    w: &mut [f32],
    ms: &mut [f32],
    feature_grad: &mut FeatureGrad,
) {
    let batch = feature_grad.batch;
    let code = code_grad.len() / batch;
    let flat = feature_grad.flat;
    assert_eq!(w.len(), flat * code, "encoder matrix shape");
    assert_eq!(ms.len(), w.len(), "slot shape");
    let streaming = streams(batch, code);
    w.par_chunks_mut(ROWS_PER_BLOCK * code)
        .zip(ms.par_chunks_mut(ROWS_PER_BLOCK * code))
        .zip(feature_grad.values.par_chunks_mut(ROWS_PER_BLOCK * batch))
        .enumerate()
        .for_each_init(Vec::new, |grad, (block, ((w, ms), fg))| {
            let rows = w.len() / code;
            let first = block * ROWS_PER_BLOCK;
            if streaming {
                let x_t = &x_t[first * batch..][..rows * batch];
                rows_backward_update(settings, lr, x_t, code_grad, w, ms, fg, batch);
            } else {
                gemm(
                    fg,
                    false,
                    MatRef::new(code_grad, batch, code),
                    MatRef::new(w, rows, code).t(),
                    false,
                );
                grad.resize(rows * code, 0.0);
                gemm(
                    grad,
                    false,
                    MatRef::strided(&x[first..], batch, rows, flat).t(),
                    MatRef::new(code_grad, batch, code),
                    false,
                );
                update(settings, lr, w, grad, ms);
            }
        });
}

/// The streaming backward pass over one block of rows of `W` (`rows × code`): for each row,
/// `fg[b, r] = Σ_l W[r, l]·δ[b, l]`, then the row's gradient `Σ_b x[b, r]·δ[b, :]`, 16 values
/// at a time, and their update.
#[allow(clippy::too_many_arguments)]
fn rows_backward_update(
    settings: RmsPropSettings,
    lr: f32,
    x_t: &[f32],
    code_grad: &[f32],
    w: &mut [f32],
    ms: &mut [f32],
    fg: &mut [f32],
    batch: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { avx2::rows_backward_update(settings, lr, x_t, code_grad, w, ms, fg, batch) };
        return;
    }
    rows_backward_update_portable(settings, lr, x_t, code_grad, w, ms, fg, batch);
}

/// [`rows_backward_update`] in plain Rust: the same operations in the same order as the AVX2
/// kernel, so both give the same bits.
#[allow(clippy::too_many_arguments)]
fn rows_backward_update_portable(
    settings: RmsPropSettings,
    lr: f32,
    x_t: &[f32],
    code_grad: &[f32],
    w: &mut [f32],
    ms: &mut [f32],
    fg: &mut [f32],
    batch: usize,
) {
    let code = code_grad.len() / batch;
    let rows = w.len() / code;
    let keep = 1.0 - settings.decay;
    let (deltas, _) = code_grad.as_chunks::<STRIP>();
    for (r, (w_row, ms_row)) in w
        .chunks_exact_mut(code)
        .zip(ms.chunks_exact_mut(code))
        .enumerate()
    {
        let (w_strips, _) = w_row.as_chunks_mut::<STRIP>();
        let (ms_strips, _) = ms_row.as_chunks_mut::<STRIP>();
        let strips = w_strips.len();
        for (b, d) in deltas.chunks_exact(strips).enumerate() {
            let mut acc = [0f32; STRIP];
            for (wc, dc) in w_strips.iter().zip(d) {
                for k in 0..STRIP {
                    acc[k] += wc[k] * dc[k];
                }
            }
            fg[b * rows + r] = sum16(&acc);
        }
        let xs = &x_t[r * batch..][..batch];
        for (c, (wc, mc)) in w_strips.iter_mut().zip(ms_strips.iter_mut()).enumerate() {
            let mut g = [0f32; STRIP];
            for (&x, d) in xs.iter().zip(deltas.chunks_exact(strips)) {
                let dc = &d[c];
                for k in 0..STRIP {
                    g[k] += x * dc[k];
                }
            }
            // The same operations as `optim::update`.
            for k in 0..STRIP {
                mc[k] += (g[k] * g[k] - mc[k]) * keep;
                wc[k] -= (mc[k] + settings.epsilon).sqrt().recip() * lr * g[k];
            }
        }
    }
}

/// The sum of 16 values as a tree (vector halves first), not a chain.
#[inline(always)]
fn sum16(v: &[f32; STRIP]) -> f32 {
    let mut s8 = [0f32; 8];
    for (k, s) in s8.iter_mut().enumerate() {
        *s = v[k] + v[k + 8];
    }
    let s4 = [s8[0] + s8[4], s8[1] + s8[5], s8[2] + s8[6], s8[3] + s8[7]];
    (s4[0] + s4[2]) + (s4[1] + s4[3])
}

/// The two hot loops written with AVX2 intrinsics: the compiler's vectoriser does not reliably
/// keep their sums in registers. Multiplies and adds stay separate (no FMA) and every sum runs
/// in the portable code's order, so the results are bit for bit those of the portable code.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    pub use super::super::simd::available;
    use super::super::simd::Update;
    use super::{RmsPropSettings, STRIP};

    /// See [`super::strip_rows`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn strip_rows<const N: usize>(
        x_t: &[f32],
        w: &[f32],
        batch: usize,
        code: usize,
        first: usize,
        b0: usize,
        rows: std::ops::Range<usize>,
        out: &mut [f32],
    ) {
        // Bounds checked once here, so that the loop indexes through pointers.
        assert!(
            first + STRIP <= code && rows.end * code <= w.len(),
            "strip inside W"
        );
        assert!(
            b0 + N <= batch && rows.end * batch <= x_t.len(),
            "images inside x"
        );
        assert!((b0 + N) * code <= out.len(), "outputs inside out");
        let (wp, xp) = (w.as_ptr(), x_t.as_ptr());
        let mut lo = [_mm256_setzero_ps(); N];
        let mut hi = [_mm256_setzero_ps(); N];
        for j in rows {
            // SAFETY: row `j` < `rows.end` and the strip lies inside `w`; images `b0..b0+N` of
            // row `j` lie inside `x_t` (checked above).
            unsafe {
                let w_row = wp.add(j * code + first);
                let xs = xp.add(j * batch + b0);
                let (w0, w1) = (_mm256_loadu_ps(w_row), _mm256_loadu_ps(w_row.add(8)));
                for i in 0..N {
                    let x = _mm256_broadcast_ss(&*xs.add(i));
                    lo[i] = _mm256_add_ps(lo[i], _mm256_mul_ps(x, w0));
                    hi[i] = _mm256_add_ps(hi[i], _mm256_mul_ps(x, w1));
                }
            }
        }
        for i in 0..N {
            let o = &mut out[(b0 + i) * code + first..][..STRIP];
            // SAFETY: `o` holds 16 values.
            unsafe {
                let p = o.as_mut_ptr();
                _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), lo[i]));
                _mm256_storeu_ps(p.add(8), _mm256_add_ps(_mm256_loadu_ps(p.add(8)), hi[i]));
            }
        }
    }

    /// Hints the CPU to bring `values` into its cache, L1 or L2 (`_MM_HINT_T0` or
    /// `_MM_HINT_T1`): a hint, so no memory is read and nothing can fault.
    pub fn prefetch<const LEVEL: i32>(values: &[f32]) {
        for line in values.chunks(16) {
            // SAFETY: prefetching is a hint that never faults, and the pointer is in bounds.
            unsafe { _mm_prefetch::<LEVEL>(line.as_ptr().cast()) };
        }
    }

    /// The sum of 16 lanes in [`super::sum16`]'s order.
    #[target_feature(enable = "avx2,fma")]
    fn sum16(a0: __m256, a1: __m256) -> f32 {
        let s8 = _mm256_add_ps(a0, a1);
        let s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps::<1>(s8));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps::<1>(s2, s2)))
    }

    /// See [`super::rows_backward_update`]. Row by row, in memory order: the input gradient
    /// five images at a time (ten independent sums in registers, each strip of `W` loaded once
    /// for the five), then the row's gradient two strips at a time and their update. Every sum
    /// runs in the portable code's order.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn rows_backward_update(
        settings: RmsPropSettings,
        lr: f32,
        x_t: &[f32],
        code_grad: &[f32],
        w: &mut [f32],
        ms: &mut [f32],
        fg: &mut [f32],
        batch: usize,
    ) {
        let code = code_grad.len() / batch;
        let rows = w.len() / code;
        assert!(code.is_multiple_of(STRIP), "whole strips");
        assert_eq!(ms.len(), w.len(), "slot shape");
        assert_eq!(fg.len(), rows * batch, "input gradient shape");
        assert_eq!(x_t.len(), rows * batch, "input shape");
        let u = Update::new(settings, lr);
        let strips = code / STRIP;
        for r in 0..rows {
            // Ask for a row further on now, so memory works while this one computes.
            if r + PREFETCH_ROWS < rows {
                let at = (r + PREFETCH_ROWS) * code..(r + PREFETCH_ROWS + 1) * code;
                prefetch::<_MM_HINT_T0>(&w[at.clone()]);
                prefetch::<_MM_HINT_T0>(&ms[at]);
            }
            let w_row = &w[r * code..][..code];
            let mut b0 = 0;
            while b0 < batch {
                let n = (batch - b0).min(5);
                let sums: &[f32] = match n {
                    5 => &feature_grad::<5>(w_row, code_grad, code, b0),
                    4 => &feature_grad::<4>(w_row, code_grad, code, b0),
                    3 => &feature_grad::<3>(w_row, code_grad, code, b0),
                    2 => &feature_grad::<2>(w_row, code_grad, code, b0),
                    _ => &feature_grad::<1>(w_row, code_grad, code, b0),
                };
                for (j, &v) in sums.iter().enumerate() {
                    fg[(b0 + j) * rows + r] = v;
                }
                b0 += n;
            }
            let xs = &x_t[r * batch..][..batch];
            let w_row = &mut w[r * code..][..code];
            let ms_row = &mut ms[r * code..][..code];
            let mut s = 0;
            while s < strips {
                if s + 2 <= strips {
                    update_strips::<2>(&u, xs, code_grad, code, s, w_row, ms_row);
                    s += 2;
                } else {
                    update_strips::<1>(&u, xs, code_grad, code, s, w_row, ms_row);
                    s += 1;
                }
            }
        }
    }

    /// Rows ahead of the current one that the backward pass asks the cache for.
    const PREFETCH_ROWS: usize = 8;

    /// `Σ_l w_row[l]·δ[b, l]` for images `b0..b0+N`, each in [`super::sum16`]'s order after
    /// strip-by-strip sums.
    #[target_feature(enable = "avx2,fma")]
    fn feature_grad<const N: usize>(
        w_row: &[f32],
        code_grad: &[f32],
        code: usize,
        b0: usize,
    ) -> [f32; N] {
        let deltas = &code_grad[b0 * code..(b0 + N) * code];
        let w_row = &w_row[..code];
        let (wp, dp) = (w_row.as_ptr(), deltas.as_ptr());
        let mut acc = [[_mm256_setzero_ps(); 2]; N];
        for s in 0..code / STRIP {
            // SAFETY: strip `s` lies inside `w_row` and inside each of the N rows of `deltas`
            // (their lengths were fixed by the slicing above).
            unsafe {
                let w = wp.add(s * STRIP);
                let (w0, w1) = (_mm256_loadu_ps(w), _mm256_loadu_ps(w.add(8)));
                for (j, a) in acc.iter_mut().enumerate() {
                    let d = dp.add(j * code + s * STRIP);
                    a[0] = _mm256_add_ps(a[0], _mm256_mul_ps(w0, _mm256_loadu_ps(d)));
                    a[1] = _mm256_add_ps(a[1], _mm256_mul_ps(w1, _mm256_loadu_ps(d.add(8))));
                }
            }
        }
        let mut out = [0f32; N];
        for (o, a) in out.iter_mut().zip(&acc) {
            *o = sum16(a[0], a[1]);
        }
        out
    }

    /// For strips `s0..s0+S` of one row: their gradient `Σ_b x[b]·δ[b, strip]` and at once
    /// their RMSProp update in `w_row` and `ms_row`.
    #[target_feature(enable = "avx2,fma")]
    fn update_strips<const S: usize>(
        u: &Update,
        xs: &[f32],
        code_grad: &[f32],
        code: usize,
        s0: usize,
        w_row: &mut [f32],
        ms_row: &mut [f32],
    ) {
        let batch = xs.len();
        let code_grad = &code_grad[..batch * code];
        assert!((s0 + S) * STRIP <= code, "strips inside the row");
        let dp = code_grad.as_ptr();
        let mut g = [[_mm256_setzero_ps(); 2]; S];
        for (b, &x) in xs.iter().enumerate() {
            let x = _mm256_set1_ps(x);
            for (k, g) in g.iter_mut().enumerate() {
                // SAFETY: image `b`'s strip `s0 + k` lies inside `code_grad` (checked above).
                unsafe {
                    let d = dp.add(b * code + (s0 + k) * STRIP);
                    g[0] = _mm256_add_ps(g[0], _mm256_mul_ps(x, _mm256_loadu_ps(d)));
                    g[1] = _mm256_add_ps(g[1], _mm256_mul_ps(x, _mm256_loadu_ps(d.add(8))));
                }
            }
        }
        let ms_strips = &mut ms_row[s0 * STRIP..][..S * STRIP];
        let w_strips = &mut w_row[s0 * STRIP..][..S * STRIP];
        let (mp, wp) = (ms_strips.as_mut_ptr(), w_strips.as_mut_ptr());
        for (k, g) in g.iter().enumerate() {
            for (half, &g) in g.iter().enumerate() {
                let at = k * STRIP + half * 8;
                // SAFETY: `at + 8` ≤ `S·16`, the length of both slices.
                unsafe { u.apply(g, mp.add(at), wp.add(at)) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_values as values;

    /// The streaming kernels against plain matrix products, and (on CPUs with AVX2) the
    /// AVX2 kernels against the portable ones, bit for bit.
    #[test]
    fn streaming_kernels_match_gemm_and_each_other() {
        let (batch, code, flat) = (7, 32, 300);
        let x = values(batch * flat, 1.0);
        let w = values(flat * code, 2.0);
        let delta = values(batch * code, 3.0);
        let mut x_t = vec![0f32; flat * batch];
        let mut streamed = vec![0.5f32; batch * code];
        forward(&x, &mut x_t, &w, &mut streamed, batch, code);
        for (b, row) in x.chunks_exact(flat).enumerate() {
            for (r, &v) in row.iter().enumerate() {
                assert_eq!(x_t[r * batch + b], v, "transposed input");
            }
        }
        let mut reference = vec![0.5f32; batch * code];
        matmul(batch, code, flat, &x, &w, &mut reference, true, false);
        for (a, b) in streamed.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-4, "forward {a} vs {b}");
        }

        // Backward with the optimizer at lr = 1 from slots at one: compare with gemm-made
        // gradients pushed through `optim::update`.
        let settings = RmsPropSettings::default();
        let (mut w1, mut ms1) = (w.clone(), vec![1f32; w.len()]);
        let mut fg = FeatureGrad::default();
        fg.resize(batch, flat);
        backward_update(settings, 1.0, &x_t, &x, &delta, &mut w1, &mut ms1, &mut fg);
        let mut dx = vec![0f32; batch * flat];
        gemm(
            &mut dx,
            false,
            MatRef::new(&delta, batch, code),
            MatRef::new(&w, flat, code).t(),
            false,
        );
        let mut image = vec![0f32; flat];
        for b in 0..batch {
            fg.image(b, &mut image);
            for (a, e) in image.iter().zip(&dx[b * flat..]) {
                assert!((a - e).abs() < 1e-4, "input gradient {a} vs {e}");
            }
        }
        let mut grad = vec![0f32; flat * code];
        gemm(
            &mut grad,
            false,
            MatRef::new(&x, batch, flat).t(),
            MatRef::new(&delta, batch, code),
            false,
        );
        let (mut w2, mut ms2) = (w.clone(), vec![1f32; w.len()]);
        update(settings, 1.0, &mut w2, &grad, &mut ms2);
        for (a, e) in w1.iter().zip(&w2).chain(ms1.iter().zip(&ms2)) {
            assert!((a - e).abs() < 1e-4, "update {a} vs {e}");
        }

        #[cfg(target_arch = "x86_64")]
        if !crate::cpu_path::Path::Avx2.supported() {
            eprintln!("skipped the AVX2 kernels: this CPU lacks AVX2 or FMA");
        } else {
            // Every group size of the input gradient (1 to 5 images) and of the update (two
            // strips, and a last single one when the count is odd), and partial blocks.
            for (batch, code, rows) in
                [(7, 32, ROWS_PER_BLOCK), (4, 48, 37), (3, 16, 5), (1, 48, 2)]
            {
                compare_backward(batch, code, rows, settings);
            }
            compare_strips::<1>(&x_t, &w, batch, code, 16, 2);
            compare_strips::<3>(&x_t, &w, batch, code, 0, 4);
            compare_strips::<5>(&x_t, &w, batch, code, 16, 0);
        }
    }

    /// The AVX2 and portable backward passes give the same bits on one block of `rows` rows.
    /// Call only with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    fn compare_backward(batch: usize, code: usize, rows: usize, settings: RmsPropSettings) {
        let x_t = values(rows * batch, 4.0);
        let delta = values(batch * code, 5.0);
        // Slots are mean squares: positive.
        let slots: Vec<f32> = values(rows * code, 7.0)
            .iter()
            .map(|v| v.abs() + 0.5)
            .collect();
        let (mut wa, mut ma, mut fa) = (values(rows * code, 6.0), slots, vec![0f32; rows * batch]);
        let (mut wp, mut mp, mut fp) = (wa.clone(), ma.clone(), fa.clone());
        // SAFETY: the caller checked that AVX2 and FMA are available.
        unsafe {
            avx2::rows_backward_update(
                settings, 0.01, &x_t, &delta, &mut wa, &mut ma, &mut fa, batch,
            )
        };
        rows_backward_update_portable(
            settings, 0.01, &x_t, &delta, &mut wp, &mut mp, &mut fp, batch,
        );
        assert_eq!(
            (wa, ma, fa),
            (wp, mp, fp),
            "AVX2 and portable backward differ ({batch} images, {code} codes, {rows} rows)"
        );
    }

    /// The AVX2 and portable forward strips give the same bits. Call only with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    fn compare_strips<const N: usize>(
        x_t: &[f32],
        w: &[f32],
        batch: usize,
        code: usize,
        first: usize,
        b0: usize,
    ) {
        let rows = 0..w.len() / code;
        let (mut simd, mut portable) = (vec![0.25f32; batch * code], vec![0.25f32; batch * code]);
        // SAFETY: the caller checked that AVX2 and FMA are available.
        unsafe { avx2::strip_rows::<N>(x_t, w, batch, code, first, b0, rows.clone(), &mut simd) };
        strip_rows::<N>(x_t, w, batch, code, first, b0, rows, &mut portable);
        assert_eq!(
            simd, portable,
            "AVX2 and portable forward differ for {N} images"
        );
    }
}
