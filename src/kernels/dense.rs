//! A dense layer whose every output is one chain of fused multiply-adds, so that its bits are
//! the same on every path and thread count.
//!
//! `out ← out + z·v` for `z` (`batch × code`) and `v` (`code × width`): each output's sum is
//! computed as `acc = fma(z[k], v[k, j], acc)` for k in order, started from zero, and then
//! added to what `out` held (the bias). A fused multiply-add rounds once, whether the AVX2
//! instruction or `f32::mul_add` (IEEE 754's fusedMultiplyAdd, correctly rounded on every
//! target) computes it, so the portable and the AVX2 path agree bit for bit. For batches of
//! three or more and sums of at most 512 terms these are also `gemm`'s results bit for bit
//! (`gemm`'s kernels compute the same chains; `crate::train::cpu` tests it), but `gemm`
//! picks other kernels on CPUs without FMA, which these do not follow.

use rayon::prelude::*;

use crate::cpu_path::Path;

/// Images per task (and per register block of the AVX2 kernel).
pub const GROUP: usize = 5;

/// `out ← out + z·v` (see the module's description) on `path`, in parallel over groups of
/// [`GROUP`] images.
///
/// # Panics
/// If the shapes disagree.
pub fn chains(path: Path, z: &[f32], v: &[f32], out: &mut [f32], batch: usize) {
    if batch == 0 {
        return;
    }
    let code = z.len() / batch;
    assert_eq!(z.len(), batch * code, "input shape");
    assert!(code > 0, "no code values");
    let width = v.len() / code;
    assert_eq!(v.len(), code * width, "weight shape");
    assert_eq!(out.len(), batch * width, "output shape");
    out.par_chunks_mut(GROUP * width)
        .zip(z.par_chunks(GROUP * code))
        .for_each(|(out, z)| group(path, z, v, out, code, width));
}

/// [`chains`] for up to [`GROUP`] images.
fn group(path: Path, z: &[f32], v: &[f32], out: &mut [f32], code: usize, width: usize) {
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Avx2` (and wider) is chosen (or offered to tests) only where the CPU has AVX2 and FMA.
        p if p.avx2() => unsafe { avx2::group(z, v, out, code, width) },
        _ => portable(z, v, out, code, width),
    }
}

/// The chains one output at a time (the tail of the AVX2 kernel too).
fn portable(z: &[f32], v: &[f32], out: &mut [f32], code: usize, width: usize) {
    for (z, out) in z.chunks_exact(code).zip(out.chunks_exact_mut(width)) {
        columns_portable(z, v, out, code, width, 0..width);
    }
}

/// Columns `cols` of one image's outputs.
fn columns_portable(
    z: &[f32],
    v: &[f32],
    out: &mut [f32],
    code: usize,
    width: usize,
    cols: std::ops::Range<usize>,
) {
    for j in cols {
        let mut acc = 0f32;
        for k in 0..code {
            acc = z[k].mul_add(v[k * width + j], acc);
        }
        out[j] += acc;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{columns_portable, GROUP};

    /// [`super::group`] with AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn group(z: &[f32], v: &[f32], out: &mut [f32], code: usize, width: usize) {
        match z.len() / code {
            1 => columns::<1>(z, v, out, code, width),
            2 => columns::<2>(z, v, out, code, width),
            3 => columns::<3>(z, v, out, code, width),
            4 => columns::<4>(z, v, out, code, width),
            _ => columns::<GROUP>(z, v, out, code, width),
        }
    }

    /// Every column of `out` for `N` images: 16 columns at a time, each output one chain of
    /// fused multiply-adds over the code in order, then added to what `out` held.
    #[target_feature(enable = "avx2,fma")]
    fn columns<const N: usize>(z: &[f32], v: &[f32], out: &mut [f32], code: usize, width: usize) {
        let z = &z[..N * code];
        let v = &v[..code * width];
        let out = &mut out[..N * width];
        let (zp, vp, op) = (z.as_ptr(), v.as_ptr(), out.as_mut_ptr());
        let full = width / 16 * 16;
        for j in (0..full).step_by(16) {
            let mut acc = [[_mm256_setzero_ps(); 2]; N];
            for k in 0..code {
                // SAFETY: `k < code` and `j + 16 ≤ width`, inside `v`; `i < N`, inside `z`.
                // The prefetch is a hint that never faults, so its address may lie beyond.
                unsafe {
                    let row = vp.add(k * width + j);
                    // The strip after next: the strips walk down the columns, a stride the
                    // hardware prefetchers do not follow.
                    _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(32).cast());
                    let (v0, v1) = (_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8)));
                    for (i, a) in acc.iter_mut().enumerate() {
                        let x = _mm256_broadcast_ss(&*zp.add(i * code + k));
                        a[0] = _mm256_fmadd_ps(x, v0, a[0]);
                        a[1] = _mm256_fmadd_ps(x, v1, a[1]);
                    }
                }
            }
            for (i, a) in acc.iter().enumerate() {
                // SAFETY: `j + 16 ≤ width`, inside image `i`'s row of `out`.
                unsafe {
                    let o = op.add(i * width + j);
                    _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), a[0]));
                    let o = o.add(8);
                    _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), a[1]));
                }
            }
        }
        for (z, out) in z.chunks_exact(code).zip(out.chunks_exact_mut(width)) {
            columns_portable(z, v, out, code, width, full..width);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::on_threads;

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.618_034 + seed).fract() - 0.5) * (1.0 + seed))
            .collect()
    }

    /// Every path this CPU has gives the portable path's bits, for groups of every size,
    /// widths with and without partial vectors, and any thread count.
    #[test]
    fn paths_and_thread_counts_agree() {
        for (batch, code, width) in [(1, 128, 2700), (7, 128, 2700), (4, 3, 45), (12, 33, 17)] {
            let z = values(batch * code, 1.0);
            let v = values(code * width, 2.0);
            let bias = values(width, 3.0);
            let start: Vec<f32> = (0..batch).flat_map(|_| bias.clone()).collect();
            let mut portable = start.clone();
            chains(Path::Portable, &z, &v, &mut portable, batch);
            // Each output is its chain, computed here in f64 as a check of the sums.
            for (i, row) in portable.chunks(width).enumerate() {
                for j in [0, width / 2, width - 1] {
                    let exact: f64 = (0..code)
                        .map(|k| f64::from(z[i * code + k]) * f64::from(v[k * width + j]))
                        .sum::<f64>()
                        + f64::from(bias[j]);
                    assert!((f64::from(row[j]) - exact).abs() < 1e-3, "({i}, {j})");
                }
            }
            for path in Path::ALL {
                if !path.supported() {
                    eprintln!("skipped {path:?}: this CPU lacks it");
                    continue;
                }
                for threads in [1, 3, 16] {
                    let mut out = start.clone();
                    on_threads(threads, || chains(path, &z, &v, &mut out, batch));
                    assert!(
                        out.iter()
                            .zip(&portable)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{path:?}, {threads} threads, {batch} × {code} × {width}"
                    );
                }
            }
        }
    }
}
