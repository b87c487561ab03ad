//! The analysis and synthesis transforms over a large image, one region at a time.
//!
//! The latent `y` is cut into a grid of rectangles; each is computed (or decoded) from its own
//! part of the image (or of `ŷ`) grown by a halo of latent rows and columns on every side, and
//! only its own values are kept. The encoder's analysis runs its inner layers on Winograd
//! tiles of 2×2 outputs ([`crate::model::hyper::cpu::winograd16`]) on the whole image's grid
//! (regions start on even latent rows and columns): the values a region's edge changes (its
//! missing neighbours) reach one tile into each layer, two latent rows and columns in all,
//! inside the analysis's 2-unit halo ([`ANALYSIS_HALO`]). The synthesis's inner layers run Winograd's algorithm on tiles of 4×4 positions
//! ([`crate::model::hyper::cpu::winograd`]), whose bits depend on the whole tile's inputs: with
//! the tiles on the same grid as over the whole image (regions start on even latent rows and
//! columns), each pixel's bits depend on the `ŷ` values within 3.2 positions, inside the
//! 4-unit halo ([`SYNTHESIS_HALO`]). So each kept value is computed from the same inputs as
//! over the whole image, and to the same bits (the kernels compute each value the same way
//! wherever it lies). Memory then depends on the region size, not on the image's.

use image::RgbImage;

use super::Geometry;
use crate::codec::tiles::to_u8;
use crate::cpu_path::Path;
use crate::model::hyper::cpu::coding::Analysis;
use crate::model::hyper::cpu::infer::{Map, Plan};
use crate::model::hyper::cpu::pool;
use crate::model::hyper::Y_STRIDE;

/// Largest region the transforms see at once, halo included, in image pixels: its first
/// analysis layer's output, 64 values for every 4 pixels, is then 32 MB for a 64-channel model.
pub const REGION_PIXELS: usize = 1 << 19;
/// Latent rows and columns computed around a region of `y` and dropped.
pub const ANALYSIS_HALO: usize = 2;
/// Latent rows and columns of `ŷ` decoded around a region and dropped (even, so that a grown
/// region starts on the Winograd tiles' grid).
pub const SYNTHESIS_HALO: usize = 4;

/// A rectangle of latent positions: rows `r.0..r.1`, columns `c.0..c.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Rows of `y`.
    pub r: (usize, usize),
    /// Columns of `y`.
    pub c: (usize, usize),
}

impl Region {
    /// The region grown by `halo`, within `rows × cols`.
    fn grown(self, rows: usize, cols: usize, halo: usize) -> Region {
        let grow = |(a, b): (usize, usize), n: usize| (a.saturating_sub(halo), (b + halo).min(n));
        Region {
            r: grow(self.r, rows),
            c: grow(self.c, cols),
        }
    }

    fn height(&self) -> usize {
        self.r.1 - self.r.0
    }

    fn width(&self) -> usize {
        self.c.1 - self.c.0
    }
}

/// The regions covering a `rows × cols` latent, each with at most about `pixels` image pixels
/// with its `halo`: the whole latent when it fits, else a grid of equal squares of an even
/// side, at least 2 (the last ones of each row and column smaller).
pub fn regions(rows: usize, cols: usize, pixels: usize, halo: usize) -> Vec<Region> {
    let unit = Y_STRIDE * Y_STRIDE;
    if fits((rows, cols), pixels) {
        return vec![Region {
            r: (0, rows),
            c: (0, cols),
        }];
    }
    let side = ((pixels / unit) as f64).sqrt() as usize;
    let step = (side.saturating_sub(2 * halo) & !1).max(2);
    let mut out = Vec::new();
    for r0 in (0..rows).step_by(step) {
        for c0 in (0..cols).step_by(step) {
            out.push(Region {
                r: (r0, (r0 + step).min(rows)),
                c: (c0, (c0 + step).min(cols)),
            });
        }
    }
    out
}

/// `y` of the padded image, pixel-major (`m` values a position), region by region.
pub fn analysis(
    plan: &Analysis,
    path: Path,
    (m, pixels): (usize, usize),
    rgb: &RgbImage,
    g: Geometry,
) -> Vec<f32> {
    let (yh, yw) = g.y;
    let mut y = Vec::new();
    let all = largest_first(
        regions(yh, yw, pixels, ANALYSIS_HALO),
        (yh, yw),
        ANALYSIS_HALO,
    );
    for region in all {
        let big = region.grown(yh, yw, ANALYSIS_HALO);
        let part = plan.run(path, image_part(rgb, big));
        debug_assert_eq!(
            (part.height, part.width, part.channels),
            (big.height(), big.width(), m)
        );
        if big.height() == yh && big.width() == yw {
            // The whole latent in one region: it is `y` as it stands.
            return part.values;
        }
        y.resize(m * yh * yw, 0.0);
        let cols = (region.c.0 - big.c.0) * m..(region.c.1 - big.c.0) * m;
        for j in region.r.0..region.r.1 {
            let src = &part.values[(j - big.r.0) * part.width * m..][cols.clone()];
            y[(j * yw + region.c.0) * m..][..src.len()].copy_from_slice(src);
        }
    }
    y
}

/// `regions` in the order of their size with `halo`, largest first (ties as given): each
/// region's maps come from the buffer pool, which then holds one buffer of the largest size
/// for each map instead of one of every size met (a region inside the image has the halo on
/// all four sides, one at a corner on two). Every region's values are its own, whatever the
/// order.
fn largest_first(
    mut regions: Vec<Region>,
    (rows, cols): (usize, usize),
    halo: usize,
) -> Vec<Region> {
    regions.sort_by_key(|r| {
        let big = r.grown(rows, cols, halo);
        std::cmp::Reverse(big.height() * big.width())
    });
    regions
}

/// Whether a `rows × cols` latent is one region of at most `pixels` image pixels.
fn fits((rows, cols): (usize, usize), pixels: usize) -> bool {
    rows.saturating_mul(cols)
        .saturating_mul(Y_STRIDE * Y_STRIDE)
        <= pixels
}

/// Whether an image of geometry `g` takes more than one region of at most `pixels` pixels
/// (in either transform: the halo matters only once there are several).
pub fn several(g: Geometry, pixels: usize) -> bool {
    !fits(g.y, pixels)
}

/// The pixels of a latent region of the padded image (edges repeated).
fn image_part(rgb: &RgbImage, big: Region) -> Map<u8> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let (rows, cols) = (big.height() * Y_STRIDE, big.width() * Y_STRIDE);
    let (y0, x0) = (big.r.0 * Y_STRIDE, big.c.0 * Y_STRIDE);
    let raw: &[u8] = rgb.as_raw();
    // The columns inside the image are one copy a row; those past its right edge repeat it.
    let inside = w.saturating_sub(x0).min(cols);
    let start = 3 * x0.min(w);
    let mut values = Vec::with_capacity(3 * rows * cols);
    for y in 0..rows {
        let row = &raw[3 * w * (y0 + y).min(h - 1)..][..3 * w];
        values.extend_from_slice(&row[start..start + 3 * inside]);
        let edge = &row[3 * (w - 1)..];
        (inside..cols).for_each(|_| values.extend_from_slice(edge));
    }
    Map {
        height: rows,
        width: cols,
        channels: 3,
        values,
    }
}

/// The image from `ŷ` (channel-major), cropped to `width × height`.
pub fn synthesis(
    plan: &Plan,
    path: Path,
    (m, pixels): (usize, usize),
    y: &[f32],
    g: Geometry,
    (width, height): (u32, u32),
) -> RgbImage {
    let mut out = RgbImage::new(width, height);
    let raw: &mut [u8] = &mut out;
    let (width, height) = (width as usize, height as usize);
    each_synthesis(plan, path, (m, pixels), y, g, |r, xs, values| {
        if r < height && xs.start < width {
            let xs = xs.start..xs.end.min(width);
            let row = 3 * (r * width + xs.start);
            to_bytes(
                path,
                &values[..3 * xs.len()],
                &mut raw[row..row + 3 * xs.len()],
            );
        }
    });
    out
}

/// Runs the synthesis of `ŷ` (channel-major) region by region and hands each kept row of
/// each region to `sink`: image row `r`, columns `xs` of the padded image, three values a
/// pixel.
fn each_synthesis(
    plan: &Plan,
    path: Path,
    (m, pixels): (usize, usize),
    y: &[f32],
    g: Geometry,
    mut sink: impl FnMut(usize, std::ops::Range<usize>, &[f32]),
) {
    let (yh, yw) = g.y;
    let all = largest_first(
        regions(yh, yw, pixels, SYNTHESIS_HALO),
        (yh, yw),
        SYNTHESIS_HALO,
    );
    let several = all.len() > 1;
    for region in all {
        let big = region.grown(yh, yw, SYNTHESIS_HALO);
        let (bh, bw) = (big.height(), big.width());
        let mut values = pool::vec(m * bh * bw);
        for c in 0..m {
            for j in big.r.0..big.r.1 {
                for i in big.c.0..big.c.1 {
                    values[((j - big.r.0) * bw + i - big.c.0) * m + c] = y[(c * yh + j) * yw + i];
                }
            }
        }
        let part = Map {
            height: bh,
            width: bw,
            channels: m,
            values,
        };
        let x = plan.run(path, part);
        let xs = region.c.0 * Y_STRIDE..region.c.1 * Y_STRIDE;
        for r in region.r.0 * Y_STRIDE..region.r.1 * Y_STRIDE {
            let local = (r - big.r.0 * Y_STRIDE) * x.width + xs.start - big.c.0 * Y_STRIDE;
            sink(r, xs.clone(), &x.values[3 * local..3 * (local + xs.len())]);
        }
        pool::give(x.values);
    }
    if several {
        // A large image: its maps are not kept for the next (see `pool::release`).
        pool::release();
    }
}

/// `dst[i] = to_u8(src[i])`, the loop compiled for AVX2 where the path allows (the same
/// roundings: `round` is exact on every instruction set).
fn to_bytes(path: Path, src: &[f32], dst: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if path.avx2() {
        // SAFETY: `Path::Avx2` (and wider) is chosen only where the CPU has AVX2.
        return unsafe { to_bytes_avx2(src, dst) };
    }
    let _ = path;
    to_bytes_loop(src, dst);
}

#[inline(always)]
fn to_bytes_loop(src: &[f32], dst: &mut [u8]) {
    dst.iter_mut().zip(src).for_each(|(d, &v)| *d = to_u8(v));
}

/// `to_u8` eight values at a time: `round` (half away from zero) has no instruction, so the
/// integer part `t` is taken by truncation and one added where the fraction `x − t` (exact)
/// reaches one half; a negative value ends at 0 either way. `max` puts NaN at 0, as `as u8`.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn to_bytes_avx2(src: &[f32], dst: &mut [u8]) {
    use std::arch::x86_64::*;
    let n = src.len().min(dst.len());
    let (top, half, one) = (
        _mm256_set1_ps(255.0),
        _mm256_set1_ps(0.5),
        _mm256_set1_ps(1.0),
    );
    let zero = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        let x = _mm256_mul_ps(_mm256_loadu_ps(src.as_ptr().add(i)), top);
        let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(x);
        let up = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(_mm256_sub_ps(x, t), half), one);
        let r = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(t, up), zero), top);
        let v = _mm256_cvttps_epi32(r);
        // Eight 32-bit values of 0..=255 to eight bytes.
        let v = _mm256_packus_epi32(v, v);
        let v = _mm256_packus_epi16(v, v);
        // Each 128-bit half now starts with its four bytes.
        let out = dst.as_mut_ptr().add(i).cast::<i32>();
        out.write_unaligned(_mm_cvtsi128_si32(_mm256_castsi256_si128(v)));
        out.add(1)
            .write_unaligned(_mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(v)));
        i += 8;
    }
    to_bytes_loop(&src[i..n], &mut dst[i..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path turns floats into the bytes `to_u8` gives: ties, values a step either side
    /// of them, both ends, negatives, infinities and NaN.
    #[test]
    fn bytes_are_to_u8_on_every_path() {
        let mut src = vec![
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            1.0,
            -1.0,
            2.0,
        ];
        for k in 0..=256u32 {
            for x in [k as f32 - 0.5, k as f32] {
                let v = x / 255.0;
                src.extend([v, v.next_up(), v.next_down(), v.next_up().next_up()]);
                let tie = x - 0.5;
                src.extend([
                    tie / 255.0,
                    (tie / 255.0).next_up(),
                    (tie / 255.0).next_down(),
                ]);
            }
        }
        src.extend((0..100_000).map(|i| (i as f32 * 0.618_034).fract() * 1.2 - 0.1));
        // Every 61st float from 0 to past 1.
        src.extend((0..1.01f32.to_bits()).step_by(61).map(f32::from_bits));
        let want: Vec<u8> = src.iter().map(|&v| crate::codec::tiles::to_u8(v)).collect();
        for path in Path::available() {
            for start in 0..3 {
                let mut got = vec![7u8; src.len() - start];
                to_bytes(path, &src[start..], &mut got);
                assert_eq!(got, want[start..], "{path:?} from {start}");
            }
        }
    }

    #[test]
    fn image_parts_repeat_the_edges() {
        // Odd sizes, so that regions reach past the right and bottom edges.
        let rgb = RgbImage::from_fn(37, 21, |x, y| image::Rgb([x as u8, y as u8, (x * y) as u8]));
        for region in regions(2, 3, 16 * 16, ANALYSIS_HALO)
            .into_iter()
            .chain(regions(2, 3, usize::MAX, ANALYSIS_HALO))
        {
            let big = region.grown(2, 3, ANALYSIS_HALO);
            let part = image_part(&rgb, big);
            let (y0, x0) = (big.r.0 * Y_STRIDE, big.c.0 * Y_STRIDE);
            for y in 0..part.height {
                for x in 0..part.width {
                    let (px, py) = ((x0 + x) as u32, (y0 + y) as u32);
                    let p = rgb.get_pixel(px.min(rgb.width() - 1), py.min(rgb.height() - 1));
                    let at = (y * part.width + x) * 3;
                    assert_eq!(&part.values[at..at + 3], &p.0, "{big:?} at {x},{y}");
                }
            }
        }
    }

    /// The decoder's synthesis gives the same bits region by region as over the whole latent
    /// (pixels are bytes, whose roundings would rarely show a difference: this compares the
    /// floats before them).
    #[test]
    fn synthesis_regions_give_the_whole_latents_bits() {
        use crate::model::hyper::cpu::coding::CodingPlans;
        use crate::model::hyper::{HyperConfig, HyperWeights};
        let plans = CodingPlans::new(HyperWeights::init(HyperConfig::new(16, 24), 7));
        let plan = plans.synthesis();
        let (yh, yw, m) = (13, 22, 24);
        let y: Vec<f32> = (0..m * yh * yw)
            .map(|i| ((i * 7919 % 61) as f32 - 30.0) / 4.0)
            .collect();
        let g = Geometry {
            y: (yh, yw),
            z: (yh.div_ceil(4), yw.div_ceil(4)),
        };
        let (rows, cols) = (yh * Y_STRIDE, yw * Y_STRIDE);
        let run = |pixels: usize| {
            let mut out = vec![0f32; 3 * rows * cols];
            each_synthesis(plan, Path::widest(), (m, pixels), &y, g, |r, xs, v| {
                out[3 * (r * cols + xs.start)..][..v.len()].copy_from_slice(v);
            });
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let whole = run(usize::MAX);
        for pixels in [1, 40 * 256, 100 * 256] {
            assert!(run(pixels) == whole, "regions of {pixels} pixels");
        }
    }

    /// The encoder's analysis gives the same bits region by region as over the whole image
    /// (its Winograd tiles read a tile's whole 7×7 inputs, so this needs the 4-unit halo).
    #[test]
    fn analysis_regions_give_the_whole_images_bits() {
        use crate::model::hyper::cpu::coding::CodingPlans;
        use crate::model::hyper::{HyperConfig, HyperWeights};
        let plans = CodingPlans::new(HyperWeights::init(HyperConfig::new(16, 24), 7));
        let plan = plans.analysis();
        let (yh, yw, m) = (13, 18, 24);
        let (w, h) = (yw * Y_STRIDE - 5, yh * Y_STRIDE - 9);
        let rgb = RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let v = |k: u32| ((x * 7 + y * 13 + k * 5 + x * y / 3) % 256) as u8;
            image::Rgb([v(0), v(1), v(2)])
        });
        let g = Geometry {
            y: (yh, yw),
            z: (yh.div_ceil(4), yw.div_ceil(4)),
        };
        let run = |pixels: usize| {
            let y = analysis(plan, Path::widest(), (m, pixels), &rgb, g);
            y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let whole = run(usize::MAX);
        for pixels in [1, 40 * 256, 100 * 256] {
            assert!(run(pixels) == whole, "regions of {pixels} pixels");
        }
    }

    #[test]
    fn regions_cover_the_latent_once() {
        for (rows, cols, pixels) in [
            (21, 10, 1),
            (7, 300, 40_000),
            (5, 5, usize::MAX),
            (64, 33, 1 << 19),
        ] {
            let mut seen = vec![0u8; rows * cols];
            for g in regions(rows, cols, pixels, SYNTHESIS_HALO) {
                assert!(
                    g.r.0 % 2 == 0 && g.c.0 % 2 == 0,
                    "{g:?} starts on even rows"
                );
                for r in g.r.0..g.r.1 {
                    for c in g.c.0..g.c.1 {
                        seen[r * cols + c] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{rows}×{cols} at {pixels}");
        }
        assert_eq!(regions(5, 5, usize::MAX, SYNTHESIS_HALO).len(), 1);
        // Regions with their halos stay within the budget (when it allows more than a halo).
        for halo in [ANALYSIS_HALO, SYNTHESIS_HALO] {
            for g in regions(100, 100, 1 << 19, halo) {
                let big = g.grown(100, 100, halo);
                assert!(big.height() * big.width() * 256 <= 1 << 19, "{big:?}");
            }
        }
    }
}
