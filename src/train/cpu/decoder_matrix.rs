//! The decoder's dense layer `h = z·V`, `V` being `code × 2,700`, at small batches: its
//! forward product, and its backward pass, where each row of `V`'s gradient is formed and
//! applied by the optimizer at once instead of being written out whole and read back.
//!
//! Both give `gemm`'s results bit for bit. For a sum over at most 512 terms (here the code
//! length forward and the batch backward), with at least two rows on the left (three terms
//! backward), `gemm`'s kernels compute each output as one chain of fused multiply-adds in the
//! order of the sum, started from zero, and add it to what the output held; these kernels run
//! the same chains, only vectorised across outputs (the forward pass is
//! [`crate::kernels::dense`], which inference uses too). A test holds the two to each other.

use rayon::prelude::*;

use crate::cpu_path::Path;
use crate::kernels::{dense, gemm, matmul, MatRef};
use crate::optim::{update, RmsPropSettings};

/// Longest sum that `gemm` computes in one chain (its smallest depth block).
const MAX_DEPTH: usize = 512;
/// Rows of `V` per task of the backward pass.
const ROWS_PER_TASK: usize = 4;

/// Whether these kernels take a batch of `batch` codes of length `code` on this CPU (otherwise
/// this module's functions call `gemm`). Below three images or three code values `gemm`
/// switches to kernels that sum in another order, hence the lower bounds.
fn streams(batch: usize, code: usize) -> bool {
    (3..=super::STREAMING_MAX_BATCH).contains(&batch)
        && (3..=MAX_DEPTH).contains(&code)
        && avx2::available()
}

/// `hidden ← hidden + z·V` for `z` (`batch × code`) and `V` (`code × width`), `hidden` being
/// `batch × width` (it holds the bias on entry); through `gemm` where the kernels do not take
/// the batch.
pub fn forward(z: &[f32], v: &[f32], hidden: &mut [f32], batch: usize) {
    let code = z.len() / batch;
    let width = v.len() / code;
    assert_eq!(hidden.len(), batch * width, "output shape");
    if !streams(batch, code) {
        matmul(batch, width, code, z, v, hidden, true, true);
        return;
    }
    // `streams` checked that this CPU has AVX2 and FMA.
    dense::chains(Path::Avx2, z, v, hidden, batch);
}

/// `V`'s gradient `zᵀ·δ` (`δ` being the gradient at `h`, `batch × width`), applied at once by
/// TensorFlow 1's RMSProp to `V` and its slots `ms`, row by row. Where the kernels do not take
/// the batch, `gemm` forms the whole gradient in `scratch` and the update follows.
#[allow(clippy::too_many_arguments)]
pub fn backward_update(
    settings: RmsPropSettings,
    lr: f32,
    z: &[f32],
    delta: &[f32],
    v: &mut [f32],
    ms: &mut [f32],
    batch: usize,
    scratch: &mut Vec<f32>,
) {
    let code = z.len() / batch;
    let width = v.len() / code;
    assert_eq!(delta.len(), batch * width, "gradient shape");
    assert_eq!(ms.len(), v.len(), "slot shape");
    if !streams(batch, code) {
        scratch.resize(v.len(), 0.0);
        gemm(
            scratch,
            false,
            MatRef::new(z, batch, code).t(),
            MatRef::new(delta, batch, width),
            true,
        );
        v.par_chunks_mut(ROWS_PER_TASK * width)
            .zip(scratch.par_chunks(ROWS_PER_TASK * width))
            .zip(ms.par_chunks_mut(ROWS_PER_TASK * width))
            .for_each(|((v, g), ms)| update(settings, lr, v, g, ms));
        return;
    }
    v.par_chunks_mut(ROWS_PER_TASK * width)
        .zip(ms.par_chunks_mut(ROWS_PER_TASK * width))
        .enumerate()
        .for_each(|(task, (v, ms))| {
            for (r, (v_row, ms_row)) in v
                .chunks_exact_mut(width)
                .zip(ms.chunks_exact_mut(width))
                .enumerate()
            {
                let row = task * ROWS_PER_TASK + r;
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `streams` checked that the CPU has AVX2 and FMA.
                unsafe {
                    avx2::row_update(settings, lr, z, delta, code, row, v_row, ms_row)
                };
                #[cfg(not(target_arch = "x86_64"))]
                unreachable!(
                    "no streaming kernels off x86-64 ({:?})",
                    (row, v_row.len(), ms_row.len(), lr, settings)
                );
            }
        });
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    pub use super::super::simd::available;
    use super::super::simd::Update;
    use super::{update, RmsPropSettings};

    /// Row `row` of `V`'s gradient, `Σ_b z[b, row]·δ[b, :]` (one chain per value over the
    /// batch in order), and its update in `v_row` and `ms_row`, 32 values at a time.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn row_update(
        settings: RmsPropSettings,
        lr: f32,
        z: &[f32],
        delta: &[f32],
        code: usize,
        row: usize,
        v_row: &mut [f32],
        ms_row: &mut [f32],
    ) {
        let width = v_row.len();
        let batch = z.len() / code;
        let delta = &delta[..batch * width];
        assert_eq!(ms_row.len(), width, "slot row");
        let mut xs = [0f32; super::super::STREAMING_MAX_BATCH];
        let xs = &mut xs[..batch];
        for (b, x) in xs.iter_mut().enumerate() {
            *x = z[b * code + row];
        }
        let u = Update::new(settings, lr);
        let dp = delta.as_ptr();
        let full = width / 32 * 32;
        for j in (0..full).step_by(32) {
            let mut g = [_mm256_setzero_ps(); 4];
            for (b, &x) in xs.iter().enumerate() {
                let x = _mm256_set1_ps(x);
                for (q, g) in g.iter_mut().enumerate() {
                    // SAFETY: `b < batch` and `j + 32 ≤ width`: inside `delta`.
                    let d = unsafe { _mm256_loadu_ps(dp.add(b * width + j + 8 * q)) };
                    *g = _mm256_fmadd_ps(x, d, *g);
                }
            }
            let (mp, wp) = (
                ms_row[j..j + 32].as_mut_ptr(),
                v_row[j..j + 32].as_mut_ptr(),
            );
            for (q, &g) in g.iter().enumerate() {
                // SAFETY: `8q + 8 ≤ 32`, inside the two 32-value slices above.
                unsafe { u.apply(g, mp.add(8 * q), wp.add(8 * q)) };
            }
        }
        // The last values (fewer than 32): their gradients one by one, then the same update.
        let mut g = [0f32; 32];
        let g = &mut g[..width - full];
        for (j, g) in (full..width).zip(g.iter_mut()) {
            for (b, &x) in xs.iter().enumerate() {
                *g = x.mul_add(delta[b * width + j], *g);
            }
        }
        update(settings, lr, &mut v_row[full..], g, &mut ms_row[full..]);
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod avx2 {
    /// These kernels are written for x86-64 only.
    pub fn available() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_values as values;

    /// Bit for bit what the `gemm` products and `optim::update` give, for batches that fill
    /// and split the image groups, code lengths up to the deepest single chain, and widths
    /// with and without partial vectors.
    #[test]
    fn kernels_match_gemm_bit_for_bit() {
        for (batch, code, width) in [
            (10, 128, 2700),
            (3, 24, 100),
            (7, 512, 45),
            (40, 16, 64),
            (5, 3, 2700),
        ] {
            if !avx2::available() {
                eprintln!("skipped: the AVX2 kernels do not run here (the callers use gemm)");
                return;
            }
            assert!(streams(batch, code));
            let z = values(batch * code, 1.0);
            let v = values(code * width, 2.0);
            let bias = values(width, 3.0);
            let start: Vec<f32> = (0..batch).flat_map(|_| bias.clone()).collect();
            let (mut ours, mut theirs) = (start.clone(), start);
            forward(&z, &v, &mut ours, batch);
            matmul(batch, width, code, &z, &v, &mut theirs, true, true);
            assert!(
                ours.iter()
                    .zip(&theirs)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "forward differs ({batch} × {code} × {width})"
            );

            let delta = values(batch * width, 4.0);
            let settings = RmsPropSettings::default();
            let slots: Vec<f32> = values(code * width, 5.0)
                .iter()
                .map(|s| s.abs() + 0.5)
                .collect();
            let (mut v1, mut ms1) = (v.clone(), slots.clone());
            let mut unused = Vec::new();
            backward_update(
                settings,
                0.01,
                &z,
                &delta,
                &mut v1,
                &mut ms1,
                batch,
                &mut unused,
            );
            assert!(unused.is_empty(), "the kernels need no gradient buffer");
            let mut grad = vec![0f32; code * width];
            gemm(
                &mut grad,
                false,
                MatRef::new(&z, batch, code).t(),
                MatRef::new(&delta, batch, width),
                true,
            );
            let (mut v2, mut ms2) = (v.clone(), slots);
            update(settings, 0.01, &mut v2, &grad, &mut ms2);
            assert_eq!(
                (v1, ms1),
                (v2, ms2),
                "backward differs ({batch} × {code} × {width})"
            );
        }
    }
}
