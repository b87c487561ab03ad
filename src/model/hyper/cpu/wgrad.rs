//! The weight gradient of a convolution, `Σᵢ patch(i) ⊗ g(i)` over its small-grid pixels `i`,
//! without a patch matrix in memory: a task gathers the patches of a few rows of pixels (its
//! share of their values) into a buffer that stays in cache and adds their products with
//! `g` to its share of the gradient there and then.
//!
//! Each gradient value is one chain of fused multiply-adds over the pixels in order, from zero,
//! whatever the task, thread count or instruction set: the same bits everywhere.

use rayon::prelude::*;

use super::aligned::Aligned;
use super::bf16::{self, Products};
use super::conv::Geometry;
use super::pool::Buf;
use crate::cpu_path::Path;

/// Gradient columns (patch values) per task: a 5×5 kernel row of 64 channels.
const TASK_COLUMNS: usize = 320;
/// Columns per block of the kernels (two 512-bit vectors); tasks' buffers are padded to it.
const WIDTH: usize = 32;
/// Small-grid pixels whose patches are gathered at a time.
const CHUNK: usize = 64;

/// `Gᵀ = Σᵢ g(i) ⊗ patch(i)` as a `g_channels × patch_len` matrix, where `patch(i)` is small
/// pixel `i`'s patch of the large-grid buffer `large` and `g(i)` its row of `g`
/// (`small_rows × g_channels`); its products run as `products` asks ([`bf16`]: in bfloat16
/// where the CPU has a kernel for them, each value summed in a fixed order there too).
pub fn weight_gradient_t(
    g: &Geometry,
    large: &[f32],
    (grad, n): (&[f32], usize),
    products: Products,
) -> Vec<f32> {
    weight_gradient_t_with(Path::detect(), g, large, (grad, n), products)
}

/// [`weight_gradient_t`] on `path`.
fn weight_gradient_t_with(
    path: Path,
    g: &Geometry,
    large: &[f32],
    (grad, n): (&[f32], usize),
    products: Products,
) -> Vec<f32> {
    let kernel = bf16::kernel(path).filter(|_| products == Products::Bf16);
    let Some(kernel) = kernel.filter(|_| g.small_rows() > 0) else {
        return weight_gradient_t_on(path, g, large, (grad, n));
    };
    // In bfloat16: `g`'s transpose once, then each task's patch columns as tiles,
    // `bf16::PIXELS` pixels at a time.
    let a = bf16::Columns::new(grad, g.small_rows(), n);
    by_columns((n, g.patch_len()), |(c0, c1)| {
        let fill = |i: usize, row: &mut [f32]| g.patch_columns(large, i, c0..c1, row);
        // SAFETY: the kernel is `bf16::kernel`'s.
        unsafe { bf16::outer_sums(kernel, &a, c1 - c0, fill) }
    })
}

/// [`weight_gradient_t`] in `f32` on `path`.
fn weight_gradient_t_on(
    path: Path,
    g: &Geometry,
    large: &[f32],
    (grad, g_channels): (&[f32], usize),
) -> Vec<f32> {
    let part = |cols| task(path, g, large, (grad, g_channels), cols);
    by_columns((g_channels, g.patch_len()), part)
}

/// The `n × p` matrix whose columns `c0..c1` `part((c0, c1))` computes (`n` rows of their
/// count padded to [`WIDTH`]), [`TASK_COLUMNS`] columns a task, tasks side by side.
fn by_columns(
    (n, p): (usize, usize),
    part: impl Fn((usize, usize)) -> Aligned<f32> + Sync,
) -> Vec<f32> {
    let tasks: Vec<(usize, usize)> = (0..p)
        .step_by(TASK_COLUMNS)
        .map(|c0| (c0, (c0 + TASK_COLUMNS).min(p)))
        .collect();
    let parts: Vec<Aligned<f32>> = tasks.par_iter().map(|&cols| part(cols)).collect();
    let mut out = vec![0.0; n * p];
    for (&(c0, c1), part) in tasks.iter().zip(&parts) {
        let padded = (c1 - c0).next_multiple_of(WIDTH);
        for (row, src) in out.chunks_exact_mut(p).zip(part.chunks_exact(padded)) {
            row[c0..c1].copy_from_slice(&src[..c1 - c0]);
        }
    }
    out
}

/// `Σᵢ a(i) ⊗ b(i)` (`n × w`) over the rows of `a` (`rows × n`) and `b` (`rows × w`), each value
/// one chain in row order.
pub fn outer_sums((a, n): (&[f32], usize), (b, w): (&[f32], usize), rows: usize) -> Vec<f32> {
    let padded = w.next_multiple_of(WIDTH);
    let fill = |i: usize, row: &mut [f32]| row.copy_from_slice(&b[i * w..][..w]);
    let acc = chunked(Path::detect(), (a, n), (rows, w), fill);
    if padded == w {
        return acc.to_vec();
    }
    acc.chunks_exact(padded)
        .flat_map(|row| &row[..w])
        .copied()
        .collect()
}

/// Patch columns `c0..c1` of the gradient (`g_channels` rows of the padded width).
fn task(
    path: Path,
    g: &Geometry,
    large: &[f32],
    grad: (&[f32], usize),
    (c0, c1): (usize, usize),
) -> Aligned<f32> {
    let fill = |i: usize, row: &mut [f32]| g.patch_columns(large, i, c0..c1, row);
    chunked(path, grad, (g.small_rows(), c1 - c0), fill)
}

/// `Σᵢ a(i) ⊗ bᵢ` over `rows` rows, where `fill(i, row)` writes the `w` values of `bᵢ`: a chunk
/// of rows at a time made into a buffer that stays in the caches (rows padded with zeros to
/// [`WIDTH`]), and added there and then. Returns `n` rows of the padded width.
fn chunked(
    path: Path,
    (a, n): (&[f32], usize),
    (rows, w): (usize, usize),
    fill: impl Fn(usize, &mut [f32]),
) -> Aligned<f32> {
    let width = w.next_multiple_of(WIDTH);
    let mut acc = Aligned::filled(n * width, 0.0);
    // Each row's values past `w` must be zeros; the rest is written before it is read.
    let mut chunk = Buf::scratch(CHUNK * width);
    if width != w {
        chunk.fill(0.0);
    }
    for i0 in (0..rows).step_by(CHUNK) {
        let count = CHUNK.min(rows - i0);
        for (k, row) in chunk.chunks_exact_mut(width).take(count).enumerate() {
            fill(i0 + k, &mut row[..w]);
        }
        let a = &a[i0 * n..(i0 + count) * n];
        accumulate(path, (a, n), (&chunk, width), count, &mut acc);
    }
    acc
}

/// `acc[j·w + r] ← acc[j·w + r] + Σᵢ a[i·n + j]·b[i·w + r]` for `i < rows`, in `i` order,
/// on `path`; `w` is a multiple of [`WIDTH`].
fn accumulate(
    path: Path,
    (a, n): (&[f32], usize),
    (b, w): (&[f32], usize),
    rows: usize,
    acc: &mut [f32],
) {
    assert!(w.is_multiple_of(WIDTH) && a.len() >= rows * n && b.len() >= rows * w);
    assert_eq!(acc.len(), n * w, "the accumulator's size");
    #[cfg(target_arch = "x86_64")]
    if path.avx512() {
        // SAFETY: `Path::Avx512` (and wider) is chosen only where the CPU has AVX-512 F;
        // the sizes are checked above.
        return unsafe { avx512::accumulate((a, n), (b, w), rows, acc) };
    }
    #[cfg(target_arch = "x86_64")]
    if path.avx2() {
        // SAFETY: `Path::Avx2` is chosen only where the CPU has AVX2 and FMA.
        return unsafe { avx2::accumulate((a, n), (b, w), rows, acc) };
    }
    let _ = path;
    blocks::<6, 16>((a, n), (b, w), rows, acc);
}

/// [`accumulate`] in blocks of up to `J` rows of `acc` by `W` columns, each block's sums held
/// while the rows of `a` and `b` go by (written so that the compiler keeps them in vector
/// registers; the chains are the same however it vectorizes them).
#[inline(always)]
fn blocks<const J: usize, const W: usize>(
    (a, n): (&[f32], usize),
    (b, w): (&[f32], usize),
    rows: usize,
    acc: &mut [f32],
) {
    for (j0, rows_of_acc) in row_blocks(n, J) {
        for r0 in (0..w).step_by(W) {
            let at = (a, n, j0);
            match rows_of_acc {
                4 => block::<4, W>(at, (b, w, r0), rows, acc),
                2 => block::<2, W>(at, (b, w, r0), rows, acc),
                1 => block::<1, W>(at, (b, w, r0), rows, acc),
                _ => block::<J, W>(at, (b, w, r0), rows, acc),
            }
        }
    }
}

/// The blocks of rows `0..n` of the sums: `(first, count)`, `most` at a time while they last,
/// then 8 (where `most` exceeds it), 4, 2 and 1.
#[inline(always)]
fn row_blocks(n: usize, most: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut j0 = 0;
    std::iter::from_fn(move || {
        let left = n - j0;
        let count = [most, 8, 4, 2, 1]
            .into_iter()
            .find(|&c| c <= most && c <= left)?;
        j0 += count;
        Some((j0 - count, count))
    })
}

#[inline(always)]
fn block<const J: usize, const W: usize>(
    (a, n, j0): (&[f32], usize, usize),
    (b, w, r0): (&[f32], usize, usize),
    rows: usize,
    acc: &mut [f32],
) {
    let mut sums = [[0f32; W]; J];
    for (j, s) in sums.iter_mut().enumerate() {
        s.copy_from_slice(&acc[(j0 + j) * w + r0..][..W]);
    }
    for i in 0..rows {
        let bv: &[f32; W] = b[i * w + r0..][..W].try_into().expect("W values");
        let av: &[f32; J] = a[i * n + j0..][..J].try_into().expect("J values");
        for (s, &x) in sums.iter_mut().zip(av) {
            for (s, &y) in s.iter_mut().zip(bv) {
                *s = x.mul_add(y, *s);
            }
        }
    }
    for (j, s) in sums.iter().enumerate() {
        acc[(j0 + j) * w + r0..][..W].copy_from_slice(s);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn accumulate(a: (&[f32], usize), b: (&[f32], usize), rows: usize, acc: &mut [f32]) {
        // 6 × 16 sums: twelve of the sixteen 256-bit registers.
        super::blocks::<6, 16>(a, b, rows, acc);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::WIDTH;

    /// Rows of `acc` per block (24 of the 32 vector registers hold sums).
    const J: usize = 12;

    /// # Safety
    /// The CPU has AVX-512 F; `a` holds `rows × n` values, `b` `rows × w`, `acc` `n × w`,
    /// and `w` is a multiple of [`WIDTH`].
    #[target_feature(enable = "avx512f")]
    pub unsafe fn accumulate(
        (a, n): (&[f32], usize),
        (b, w): (&[f32], usize),
        rows: usize,
        acc: &mut [f32],
    ) {
        for (j0, step) in super::row_blocks(n, J) {
            for r0 in (0..w).step_by(WIDTH) {
                let dst = acc.as_mut_ptr().add(j0 * w + r0);
                let (ap, bp) = (a.as_ptr().add(j0), b.as_ptr().add(r0));
                match step {
                    8 => block::<8>(ap, n, bp, w, rows, dst),
                    4 => block::<4>(ap, n, bp, w, rows, dst),
                    2 => block::<2>(ap, n, bp, w, rows, dst),
                    1 => block::<1>(ap, n, bp, w, rows, dst),
                    _ => block::<J>(ap, n, bp, w, rows, dst),
                }
            }
        }
    }

    /// `R` rows of sums (from `dst`, `w` apart) by two vectors, over `rows` rows of `a`
    /// (`n` apart) and `b` (`w` apart).
    #[target_feature(enable = "avx512f")]
    unsafe fn block<const R: usize>(
        a: *const f32,
        n: usize,
        b: *const f32,
        w: usize,
        rows: usize,
        dst: *mut f32,
    ) {
        let mut s = [[_mm512_setzero_ps(); 2]; R];
        for (j, s) in s.iter_mut().enumerate() {
            *s = [
                _mm512_loadu_ps(dst.add(j * w)),
                _mm512_loadu_ps(dst.add(j * w + 16)),
            ];
        }
        for i in 0..rows {
            let b0 = _mm512_loadu_ps(b.add(i * w));
            let b1 = _mm512_loadu_ps(b.add(i * w + 16));
            for (j, s) in s.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*a.add(i * n + j));
                s[0] = _mm512_fmadd_ps(x, b0, s[0]);
                s[1] = _mm512_fmadd_ps(x, b1, s[1]);
            }
        }
        for (j, s) in s.iter().enumerate() {
            _mm512_storeu_ps(dst.add(j * w), s[0]);
            _mm512_storeu_ps(dst.add(j * w + 16), s[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::on_threads;

    /// The chains of [`accumulate`], value by value in `f64`-free scalar code.
    fn reference(g: &Geometry, large: &[f32], grad: &[f32], n: usize) -> Vec<f32> {
        let p = g.patch_len();
        let cols = g.patches(large);
        let mut out = vec![0f32; n * p];
        for i in 0..g.small_rows() {
            for j in 0..n {
                for r in 0..p {
                    let v = &mut out[j * p + r];
                    *v = grad[i * n + j].mul_add(cols[i * p + r], *v);
                }
            }
        }
        out
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i + seed) * 7919 % 1013) as f32 - 506.0) / 97.0)
            .collect()
    }

    /// Every path gives the reference chains' bits, on 1 to 16 threads, for the family's
    /// shapes: three or many channels, patch lengths off the blocks, odd sizes, stride 1.
    #[test]
    fn every_path_and_thread_count_gives_the_chains() {
        let cases = [
            Geometry::new(2, (12, 10), (3, 7), 5, 2),
            Geometry::new(3, (8, 6), (64, 13), 5, 2),
            Geometry::new(1, (5, 7), (20, 25), 3, 1),
            Geometry::new(2, (9, 11), (33, 2), 5, 2),
        ];
        for g in cases {
            let large = values(g.large_rows() * g.large_channels, 3);
            let n = g.small_channels;
            let grad = values(g.small_rows() * n, 11);
            let want = reference(&g, &large, &grad, n);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for path in Path::available() {
                for threads in [1, 3, 16] {
                    let got = on_threads(threads, || {
                        weight_gradient_t_on(path, &g, &large, (&grad, n))
                    });
                    assert_eq!(bits(&got), bits(&want), "{g:?} {path:?} {threads} threads");
                }
            }
            let all = weight_gradient_t(&g, &large, (&grad, n), Products::F32);
            assert_eq!(bits(&all), bits(&want));
        }
    }

    /// In bfloat16, on each kernel this CPU has: within `f32` rounding of the `f64` sums of
    /// the operands rounded to bfloat16, and the same bits on 1 to 16 threads.
    #[test]
    fn bf16_kernels_sum_the_rounded_products_on_any_thread_count() {
        for path in [Path::Amx, Path::Avx512] {
            if path.supported() && bf16::kernel(path).is_some() {
                bf16_sums(path);
            }
        }
    }

    fn bf16_sums(path: Path) {
        let cases = [
            Geometry::new(2, (12, 10), (3, 7), 5, 2),
            Geometry::new(3, (8, 6), (64, 13), 5, 2),
            Geometry::new(1, (5, 7), (20, 25), 3, 1),
            Geometry::new(2, (64, 48), (33, 40), 5, 2),
        ];
        let r = |v: f32| f64::from(bf16::widen(bf16::round(v)));
        for g in cases {
            let large = values(g.large_rows() * g.large_channels, 3);
            let (n, p) = (g.small_channels, g.patch_len());
            let grad = values(g.small_rows() * n, 11);
            let cols = g.patches(&large);
            let got = weight_gradient_t_with(path, &g, &large, (&grad, n), Products::Bf16);
            for j in 0..n {
                for c in 0..p {
                    let (mut want, mut mass) = (0f64, 0f64);
                    for i in 0..g.small_rows() {
                        let t = r(grad[i * n + j]) * r(cols[i * p + c]);
                        (want, mass) = (want + t, mass + t.abs());
                    }
                    let v = f64::from(got[j * p + c]);
                    assert!(
                        (v - want).abs() <= 1e-5 * mass,
                        "{path:?} {g:?} ({j}, {c}): {v} against {want}"
                    );
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for threads in [1, 3, 16] {
                let again = on_threads(threads, || {
                    weight_gradient_t_with(path, &g, &large, (&grad, n), Products::Bf16)
                });
                assert_eq!(bits(&again), bits(&got), "{path:?} {g:?} {threads} threads");
            }
        }
    }
}
