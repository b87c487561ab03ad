//! Block floating point for the encoder's 16-bit products: a pixel's values (or a Winograd
//! tile's) share one power-of-two unit, the one that puts the largest of them between 16384
//! and 32767, so each keeps 15 bits of its group's range; the same bits on every path.

use crate::cpu_path::Path;

/// Pixels of `c` values (`values`) in block floating point: into `dst` and each pixel's unit
/// into `units`, on `path` (the same bits on every path: a power of two times each value,
/// exact, then rounding to even).
pub fn to_grid(path: Path, values: &[f32], c: usize, dst: &mut [i16], units: &mut [f32]) {
    on_grid::<false>(path, values, c, dst, units)
}

/// [`to_grid`] of the values' squares (each square rounded to `f32` first, as `x·x`), without
/// writing them out: GDN's inputs to its 16-bit products.
pub fn squares_to_grid(path: Path, values: &[f32], c: usize, dst: &mut [i16], units: &mut [f32]) {
    on_grid::<true>(path, values, c, dst, units)
}

/// [`to_grid`] of the values, or of their squares when `SQUARE`.
fn on_grid<const SQUARE: bool>(
    path: Path,
    values: &[f32],
    c: usize,
    dst: &mut [i16],
    units: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if path.avx512() && c.is_multiple_of(16) {
        // SAFETY: `Path::Avx512` (and wider) is chosen only where the CPU has AVX-512 F;
        // `values` and `dst` are the same whole pixels of `c` values, a multiple of 16.
        return unsafe { avx512::to_grid::<SQUARE>(values, c, dst, units) };
    }
    #[cfg(target_arch = "x86_64")]
    if path.avx2() && c.is_multiple_of(8) {
        // SAFETY: `Path::Avx2` (and wider) is chosen (or offered to tests) only where the CPU has AVX2;
        // `values` and `dst` are the same whole pixels of `c` values, a multiple of 8.
        return unsafe { avx2::to_grid::<SQUARE>(values, c, dst, units) };
    }
    let _ = path;
    let value = |v: f32| if SQUARE { v * v } else { v };
    for ((px, out), unit) in values
        .chunks_exact(c)
        .zip(dst.chunks_exact_mut(c))
        .zip(units)
    {
        let largest = px.iter().fold(0f32, |m, &v| m.max(value(v).abs()));
        let (factor, u) = scaling(largest);
        *unit = u;
        for (o, &v) in out.iter_mut().zip(px) {
            *o = (value(v) * factor).round_ties_even() as i16;
        }
    }
}

/// The factor onto a pixel's grid and its unit, for its largest magnitude: powers of two
/// that put that value in `[16384, 32768)`, rounding to at most 32767 (a pixel of zeros, or
/// of values beyond the normal floats, gets zeros).
#[inline(always)]
pub fn scaling(largest: f32) -> (f32, f32) {
    let exponent = ((largest.to_bits() >> 23) & 0xff) as i32;
    if exponent == 0 || exponent == 0xff {
        return (0.0, 0.0);
    }
    // largest < 2^(exponent − 126): times 2^(141 − exponent) it is below 2^15.
    let power = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    let e = 141 - exponent;
    if !(-126..=127).contains(&e) {
        return (0.0, 0.0);
    }
    (power(e), power(-e))
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::scaling;

    /// # Safety
    /// The CPU has AVX-512 F; `values` and `dst` hold the same whole pixels of `c` values, a
    /// multiple of 16, and `units` one per pixel.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn to_grid<const SQUARE: bool>(
        values: &[f32],
        c: usize,
        dst: &mut [i16],
        units: &mut [f32],
    ) {
        let value = |p: *const f32| {
            let v = _mm512_loadu_ps(p);
            if SQUARE {
                _mm512_mul_ps(v, v)
            } else {
                v
            }
        };
        for ((px, out), unit) in values
            .chunks_exact(c)
            .zip(dst.chunks_exact_mut(c))
            .zip(units)
        {
            let mut top = _mm512_setzero_ps();
            for q in (0..c).step_by(16) {
                let v = _mm512_abs_ps(value(px.as_ptr().add(q)));
                top = _mm512_max_ps(top, v);
            }
            // The largest magnitude, exactly (a maximum does not round).
            let (factor, u) = scaling(_mm512_reduce_max_ps(top));
            *unit = u;
            let f = _mm512_set1_ps(factor);
            for q in (0..c).step_by(16) {
                let v = _mm512_mul_ps(value(px.as_ptr().add(q)), f);
                let i = _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(v));
                _mm256_storeu_si256(out.as_mut_ptr().add(q).cast(), i);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::scaling;

    /// # Safety
    /// The CPU has AVX2; `values` and `dst` hold the same whole pixels of `c` values, a
    /// multiple of 8, and `units` one per pixel.
    #[target_feature(enable = "avx2")]
    pub unsafe fn to_grid<const SQUARE: bool>(
        values: &[f32],
        c: usize,
        dst: &mut [i16],
        units: &mut [f32],
    ) {
        let sign = _mm256_set1_ps(-0.0);
        let value = |p: *const f32| {
            let v = _mm256_loadu_ps(p);
            if SQUARE {
                _mm256_mul_ps(v, v)
            } else {
                v
            }
        };
        for ((px, out), unit) in values
            .chunks_exact(c)
            .zip(dst.chunks_exact_mut(c))
            .zip(units)
        {
            let mut top = _mm256_setzero_ps();
            for q in (0..c).step_by(8) {
                let v = _mm256_andnot_ps(sign, value(px.as_ptr().add(q)));
                top = _mm256_max_ps(top, v);
            }
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), top);
            let (factor, u) = scaling(lanes.iter().fold(0f32, |m, &v| m.max(v)));
            *unit = u;
            let f = _mm256_set1_ps(factor);
            for q in (0..c).step_by(8) {
                let v = _mm256_mul_ps(value(px.as_ptr().add(q)), f);
                let i = _mm256_cvtps_epi32(v);
                let packed =
                    _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
                _mm_storeu_si128(out.as_mut_ptr().add(q).cast(), packed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path puts a pixel on the same grid: its largest value in [16384, 32768) units,
    /// zeros for a pixel of zeros or of values too small for a power-of-two unit.
    #[test]
    fn grids_are_the_same_on_every_path() {
        let c = 16;
        let pixels: [f32; 8] = [0.0, 1.0, -3.75, 1e-30, 1e-36, 6e4, -0.001, 2.5e-8];
        let values: Vec<f32> = (0..pixels.len() * c)
            .map(|i| pixels[i / c] * (1.0 - (i % c) as f32 / 7.0))
            .collect();
        let run = |path: Path| {
            let mut dst = vec![0i16; values.len()];
            let mut units = vec![f32::NAN; pixels.len()];
            to_grid(path, &values, c, &mut dst, &mut units);
            (dst, units)
        };
        let (dst, units) = run(Path::Portable);
        for (p, (px, &u)) in dst.chunks_exact(c).zip(&units).enumerate() {
            let top = px.iter().map(|v| v.unsigned_abs()).max().unwrap();
            if u == 0.0 {
                assert_eq!(top, 0, "pixel {p}");
                continue;
            }
            assert!((16384..=32767).contains(&top), "pixel {p}: {top}");
            for (k, &v) in px.iter().enumerate() {
                let real = values[p * c + k];
                assert!((f32::from(v) * u - real).abs() <= 0.5 * u, "pixel {p}");
            }
        }
        assert_eq!(units[0], 0.0);
        // The squares' grid without writing them out: what the squares themselves give.
        let squares: Vec<f32> = values.iter().map(|v| v * v).collect();
        for path in Path::available() {
            let mut want = (vec![0i16; values.len()], vec![0f32; pixels.len()]);
            to_grid(path, &squares, c, &mut want.0, &mut want.1);
            let mut got = (vec![0i16; values.len()], vec![0f32; pixels.len()]);
            squares_to_grid(path, &values, c, &mut got.0, &mut got.1);
            assert_eq!(got.0, want.0, "{path:?}");
            assert_eq!(got.1, want.1, "{path:?}");
        }
        for path in Path::available() {
            let got = run(path);
            assert_eq!(got.0, dst, "{path:?}");
            let bits = |u: &[f32]| u.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.1), bits(&units), "{path:?}");
        }
    }
}
