//! The fixed-point analysis's 5×5 convolutions of stride 2 by Winograd's minimal filtering in
//! 16-bit products: 49 products for every 2×2 outputs where the direct convolution takes 100.
//!
//! Along one axis, outputs `n` and `n + 1` of a five-tap kernel of stride 2 read the seven
//! inputs `d₀…d₆` from `2n − 2`. The even inputs meet taps 0, 2 and 4, a three-tap
//! correlation, computed as F(2, 3) (Lavin and Gray 2016) from four transformed values; the
//! odd ones meet taps 1 and 3, computed as F(2, 2) from three. So seven products give the two
//! outputs (`transform`, `KERNEL`, `output`); along both axes, 7 × 7 = 49. Every transform
//! has coefficients 0, ±1 (and ½ in the kernel's, applied to the reals before they are
//! quantized), so the transformed inputs stay within four times the inputs and a product's
//! quantization error grows little.
//!
//! A tile's transformed inputs are computed in floats and put on one 16-bit grid, the unit that
//! puts their largest magnitude between 16384 and 32767 (as [`super::grid`] does for
//! a pixel); each of the 49 points is then a product in [`super::panel16`] (`in × out`
//! integers per point, quantized per column), and the outputs' transform runs in floats. Every
//! value depends on its tile's inputs alone and is computed the same way on every path and
//! thread count: a tile's outputs depend on its 7×7 inputs, not only on each output's 5×5.

use rayon::prelude::*;

use super::grid::scaling;
use super::grown;
use super::infer::{post, zeros, Map, Post, Scratch};
use super::panel::Out;
use super::panel16::{self, Packed16};
use super::taps::Taps;
use crate::cpu_path::Path;

/// Outputs per tile side.
const TILE: usize = 2;
/// Inputs per tile side.
const SIDE: usize = 7;
/// Points of a tile's transform.
const POINTS: usize = SIDE * SIDE;
/// Tiles per product (their transformed inputs and products stay in the second-level cache).
const GROUP: usize = 16;
/// The largest magnitude of an input value on its grid.
const LIMIT: i16 = i16::MAX;

/// The kernel's transform along one axis: transformed value `a` is `Σₖ KERNEL[a][k]·w[k]` over
/// the five taps (F(2, 3) over taps 0, 2, 4; F(2, 2) over taps 1, 3).
const KERNEL: [[f64; 5]; SIDE] = [
    [1.0, 0.0, 0.0, 0.0, 0.0],
    [0.5, 0.0, 0.5, 0.0, 0.5],
    [0.5, 0.0, -0.5, 0.0, 0.5],
    [0.0, 0.0, 0.0, 0.0, 1.0],
    [0.0, 1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 1.0, 0.0],
];

/// `a + b` lane by lane.
#[inline(always)]
fn add<const W: usize>(mut a: [f32; W], b: [f32; W]) -> [f32; W] {
    for l in 0..W {
        a[l] += b[l];
    }
    a
}

/// `a − b` lane by lane.
#[inline(always)]
fn sub<const W: usize>(mut a: [f32; W], b: [f32; W]) -> [f32; W] {
    for l in 0..W {
        a[l] -= b[l];
    }
    a
}

/// The inputs' transform along one axis: seven inputs to seven values (in `W` lanes).
#[inline(always)]
fn transform<const W: usize>(d: [[f32; W]; SIDE]) -> [[f32; W]; SIDE] {
    [
        sub(d[0], d[4]),
        add(d[2], d[4]),
        sub(d[4], d[2]),
        sub(d[2], d[6]),
        sub(d[1], d[3]),
        d[3],
        sub(d[5], d[3]),
    ]
}

/// The outputs' transform along one axis: seven products to two outputs (in `W` lanes).
#[inline(always)]
fn output<const W: usize>(m: [[f32; W]; SIDE]) -> [[f32; W]; TILE] {
    [
        add(add(add(add(m[0], m[1]), m[2]), m[4]), m[5]),
        add(add(sub(sub(m[1], m[2]), m[3]), m[5]), m[6]),
    ]
}

/// A 5×5 convolution of stride 2 (padding 2) in 16-bit products by Winograd's algorithm.
#[derive(Debug, Clone)]
pub struct Winograd16 {
    /// The transformed kernel at each of the 49 points, `in × out`, no bias.
    points: Vec<Packed16>,
    bias: Vec<f32>,
    taps: Taps,
    in_channels: usize,
    out_channels: usize,
}

impl Winograd16 {
    /// The convolution of burn's kernel `w` (`[out, in, 5, 5]`) and `bias`; `in` even.
    pub fn new(w: &[f32], bias: &[f32], (i, o): (usize, usize)) -> Self {
        assert_eq!(w.len(), o * i * 25, "a 5×5 kernel");
        assert!(i % 2 == 0, "an even number of input channels");
        let zeros = vec![0.0; o];
        // The kernel tap by tap, `[ky][kx][ci][co]`, so that each point reads it in order.
        let mut by_tap = vec![0f32; 25 * i * o];
        for (c, taps) in w.chunks_exact(25).enumerate() {
            let (co, ci) = (c / i, c % i);
            for (t, &v) in taps.iter().enumerate() {
                by_tap[(t * i + ci) * o + co] = v;
            }
        }
        // Point (a, b): u[ci][co] = Σ KERNEL[a][ky]·KERNEL[b][kx]·w[co][ci][ky][kx], in f64.
        let points = crate::parallel::map((0..POINTS).collect(), |p| {
            let (ra, rb) = (KERNEL[p / SIDE], KERNEL[p % SIDE]);
            let mut point = vec![0f64; i * o];
            for (t, tap) in by_tap.chunks_exact(i * o).enumerate() {
                let g = ra[t / 5] * rb[t % 5];
                if g == 0.0 {
                    continue;
                }
                for (u, &v) in point.iter_mut().zip(tap) {
                    *u += g * f64::from(v);
                }
            }
            let b = |ci: usize, co: usize| point[ci * o + co] as f32;
            Packed16::new((i, o), b, &zeros, (i, LIMIT))
        });
        Self {
            points,
            bias: bias.to_vec(),
            taps: Taps::conv(5, 2, i),
            in_channels: i,
            out_channels: o,
        }
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// The layer's output over the block-floating-point map `x` (pixel `p`'s values times
    /// `units[p]`; no units: all one), each run of outputs followed by `post_op` and handed to
    /// `emit` with the run's values and units to write; one row of tiles (two output rows) per
    /// task.
    pub(super) fn run<T: Copy + Default + Send + Sync>(
        &self,
        path: Path,
        (x, units): (&Map<i16>, &[f32]),
        post_op: &Post,
        emit: impl Fn(&[f32], &mut [T], &mut [f32]) + Sync,
    ) -> (Map<T>, Vec<f32>) {
        assert_eq!(x.channels, self.in_channels, "the input's channels");
        let o = self.out_channels;
        let (height, width) = (self.taps.output(x.height), self.taps.output(x.width));
        let mut values = zeros::<T>(height * width * o);
        let mut out_units = vec![0f32; height * width];
        let tiles = width.div_ceil(TILE);
        (values.par_chunks_mut(TILE * width * o))
            .zip(out_units.par_chunks_mut(TILE * width))
            .enumerate()
            .for_each(|(ty, (rows, row_units))| {
                let mut work = Work::default();
                let mut run = vec![0f32; TILE * GROUP * o];
                for tx in (0..tiles).step_by(GROUP) {
                    let group = GROUP.min(tiles - tx);
                    self.group(path, (x, units), (ty, tx), group, &mut work);
                    let cols = TILE * tx..(TILE * (tx + group)).min(width);
                    let rows = rows.chunks_exact_mut(width * o);
                    let units = row_units.chunks_exact_mut(width);
                    for (r, (row, row_units)) in rows.zip(units).enumerate() {
                        let run = &mut run[..cols.len() * o];
                        write(run, r, o, &work.y);
                        post(path, post_op, o, run, &mut work.scratch);
                        let dst = &mut row[cols.start * o..cols.end * o];
                        emit(run, dst, &mut row_units[cols.clone()]);
                    }
                }
            });
        let map = Map {
            height,
            width,
            channels: o,
            values,
        };
        (map, out_units)
    }

    /// `group` tiles from tile `(ty, tx)` along the row: their outputs into `work.y`.
    fn group(
        &self,
        path: Path,
        x: (&Map<i16>, &[f32]),
        (ty, tx): (usize, usize),
        group: usize,
        w: &mut Work,
    ) {
        let ci = self.in_channels;
        grown(&mut w.v, group * POINTS * ci, 0);
        grown(&mut w.units, group, 0.0);
        w.zeros.resize(ci, 0);
        w.f.resize(POINTS * ci, 0.0);
        for t in 0..group {
            self.transform_inputs(path, x, (ty, tx + t), t, w);
        }
        self.products(path, group, w);
        let o = self.out_channels;
        grown(&mut w.y, group * TILE * TILE * o, 0.0);
        for t in 0..group {
            let m: [&[f32]; POINTS] = std::array::from_fn(|p| &w.m[(t * POINTS + p) * o..][..o]);
            let y = &mut w.y[t * TILE * TILE * o..][..TILE * TILE * o];
            lanes::output(path, &m, &self.bias, y);
        }
    }

    /// Tile `(ty, tx)`'s transformed inputs on their grid, as the group's `t`-th: into
    /// `work.v` (tile by tile, then point-major; sized by the caller) with its unit for each
    /// point.
    fn transform_inputs(
        &self,
        path: Path,
        (x, units): (&Map<i16>, &[f32]),
        (ty, tx): (usize, usize),
        t: usize,
        w: &mut Work,
    ) {
        let ci = self.in_channels;
        // Input (4ty − 2 + r, 4tx − 2 + q), zeros outside the map.
        let pixel = |r: usize, q: usize| -> (&[i16], f32) {
            let y = (2 * TILE * ty + r).wrapping_sub(2);
            let xx = (2 * TILE * tx + q).wrapping_sub(2);
            if y < x.height && xx < x.width {
                let p = y * x.width + xx;
                let unit = units.get(p).copied().unwrap_or(1.0);
                (&x.values[p * ci..][..ci], unit)
            } else {
                (&w.zeros, 0.0)
            }
        };
        let d: [(&[i16], f32); POINTS] = std::array::from_fn(|p| pixel(p / SIDE, p % SIDE));
        let (factor, unit) = scaling(lanes::input(path, &d, &mut w.f));
        w.units[t] = unit;
        let dst = &mut w.v[t * POINTS * ci..][..POINTS * ci];
        lanes::quantize(path, &w.f, factor, dst);
    }

    /// The 49 points' products of the group's `group` tiles: `work.m`, tile by tile (a tile's
    /// 49 products side by side for its outputs' transform).
    fn products(&self, path: Path, group: usize, w: &mut Work) {
        let (ci, o) = (self.in_channels, self.out_channels);
        grown(&mut w.m, POINTS * group * o, 0.0);
        for (p, kernel) in self.points.iter().enumerate() {
            let out = Out {
                values: &mut w.m[p * o..],
                stride: POINTS * o,
            };
            let rows = (&w.v[p * ci..group * POINTS * ci], POINTS * ci);
            panel16::product_rows(path, rows, &w.units[..group], group, kernel, out);
        }
    }
}

/// Output row `r` of a group's tiles (`y`: each tile's 2×2 outputs of `o` values) into `run`.
fn write(run: &mut [f32], r: usize, o: usize, y: &[f32]) {
    for (j, out) in run.chunks_exact_mut(o).enumerate() {
        let (t, col) = (j / TILE, j % TILE);
        let at = ((t * TILE + r) * TILE + col) * o;
        out.copy_from_slice(&y[at..at + o]);
    }
}

/// The transforms, a block of channels at a time: every channel's lane does the same
/// operations on every path.
mod lanes {
    use super::{output as at, transform as bt, POINTS, SIDE, TILE};
    use crate::cpu_path::Path;

    /// Channels per block (one AVX-512 vector).
    const L: usize = 16;

    /// `W` values of `s` from `c`.
    #[inline(always)]
    fn load<const W: usize>(s: &[f32], c: usize) -> [f32; W] {
        let mut v = [0f32; W];
        v.copy_from_slice(&s[c..c + W]);
        v
    }

    /// `W` values of a pixel on its grid from `c`, as reals (exact: a power-of-two unit).
    #[inline(always)]
    fn real<const W: usize>((px, unit): (&[i16], f32), c: usize) -> [f32; W] {
        let mut v = [0f32; W];
        for (v, &q) in v.iter_mut().zip(&px[c..c + W]) {
            *v = f32::from(q) * unit;
        }
        v
    }

    /// The 49 transformed values of a tile's 7×7 inputs `d` (row-major), point-major into
    /// `f`; returns their largest magnitude.
    #[inline(always)]
    fn input_lanes(d: &[(&[i16], f32); POINTS], f: &mut [f32]) -> f32 {
        let n = d[0].0.len();
        let mut top = [0f32; L];
        // The column transforms' scratch, zeroed once a tile rather than once a block.
        let mut t = [[[0f32; L]; SIDE]; SIDE];
        let mut c = 0;
        while c + L <= n {
            input_block(d, c, f, &mut top, &mut t);
            c += L;
        }
        let mut last = [0f32; 1];
        for c in c..n {
            input_block(d, c, f, &mut last, &mut [[[0f32; 1]; SIDE]; SIDE]);
        }
        top.into_iter().chain(last).fold(0f32, f32::max)
    }

    /// [`input_lanes`] for channels `c..c + W`, their largest magnitudes into `top`.
    #[inline(always)]
    fn input_block<const W: usize>(
        d: &[(&[i16], f32); POINTS],
        c: usize,
        f: &mut [f32],
        top: &mut [f32; W],
        t: &mut [[[f32; W]; SIDE]; SIDE],
    ) {
        let n = d[0].0.len();
        // Down each column q: t[q][a].
        for (q, tq) in t.iter_mut().enumerate() {
            let mut col = [[0f32; W]; SIDE];
            for (r, v) in col.iter_mut().enumerate() {
                *v = real(d[r * SIDE + q], c);
            }
            *tq = bt(col);
        }
        // Along each row a: point (a, b).
        for a in 0..SIDE {
            let mut row = [[0f32; W]; SIDE];
            for (q, v) in row.iter_mut().enumerate() {
                *v = t[q][a];
            }
            for (b, v) in bt(row).into_iter().enumerate() {
                f[(a * SIDE + b) * n + c..][..W].copy_from_slice(&v);
                for l in 0..W {
                    let m = v[l].abs();
                    top[l] = if m > top[l] { m } else { top[l] };
                }
            }
        }
    }

    /// The 2×2 outputs (row-major, `bias` added) of a tile's 49 products `m` into `y`.
    #[inline(always)]
    fn output_lanes(m: &[&[f32]; POINTS], bias: &[f32], y: &mut [f32]) {
        let n = bias.len();
        let mut c = 0;
        while c + L <= n {
            output_block::<L>(m, bias, c, y);
            c += L;
        }
        for c in c..n {
            output_block::<1>(m, bias, c, y);
        }
    }

    /// [`output_lanes`] for channels `c..c + W`.
    #[inline(always)]
    fn output_block<const W: usize>(m: &[&[f32]; POINTS], bias: &[f32], c: usize, y: &mut [f32]) {
        let n = bias.len();
        // Down each column b: s[b][i].
        let mut s = [[[0f32; W]; TILE]; SIDE];
        for (b, sb) in s.iter_mut().enumerate() {
            let mut col = [[0f32; W]; SIDE];
            for (a, v) in col.iter_mut().enumerate() {
                *v = load(m[a * SIDE + b], c);
            }
            *sb = at(col);
        }
        let bias: [f32; W] = load(bias, c);
        for i in 0..TILE {
            let mut row = [[0f32; W]; SIDE];
            for (b, v) in row.iter_mut().enumerate() {
                *v = s[b][i];
            }
            for (j, v) in at(row).into_iter().enumerate() {
                let v = super::add(v, bias);
                y[(i * TILE + j) * n + c..][..W].copy_from_slice(&v);
            }
        }
    }

    /// `dst[c] = round(src[c]·factor)`, ties to even (`factor` a power of two: exact; every
    /// value then within ±32768, saturated to 16 bits).
    #[inline(always)]
    fn quantize_lanes(src: &[f32], factor: f32, dst: &mut [i16]) {
        dst.iter_mut()
            .zip(src)
            .for_each(|(d, &v)| *d = (v * factor).round_ties_even() as i16);
    }

    dispatched! {
        fn input(d: &[(&[i16], f32); POINTS], f: &mut [f32]) -> f32 = input_lanes;
        fn output(m: &[&[f32]; POINTS], bias: &[f32], y: &mut [f32]) = output_lanes;
    }

    /// [`quantize_lanes`] on `path`.
    pub(super) fn quantize(path: Path, src: &[f32], factor: f32, dst: &mut [i16]) {
        #[cfg(target_arch = "x86_64")]
        if path.avx512() {
            // SAFETY: `Path::Avx512` (and wider) is chosen only where the CPU has AVX-512 F.
            return unsafe { wide::quantize512(src, factor, dst) };
        } else if path.avx2() {
            // SAFETY: `Path::Avx2` is chosen only where the CPU has AVX2.
            return unsafe { wide::quantize256(src, factor, dst) };
        }
        let _ = path;
        quantize_lanes(src, factor, dst)
    }

    /// The quantization by the conversion instructions (rounding to nearest, ties to even, as
    /// `round_ties_even`; saturating to 16 bits, as `as i16`).
    #[cfg(target_arch = "x86_64")]
    mod wide {
        use std::arch::x86_64::*;

        use super::quantize_lanes;

        /// # Safety
        /// The CPU has AVX-512 F.
        #[target_feature(enable = "avx512f")]
        pub unsafe fn quantize512(src: &[f32], factor: f32, dst: &mut [i16]) {
            let n = src.len().min(dst.len());
            let f = _mm512_set1_ps(factor);
            let mut c = 0;
            while c + 16 <= n {
                let v = _mm512_mul_ps(_mm512_loadu_ps(src.as_ptr().add(c)), f);
                let i = _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(v));
                _mm256_storeu_si256(dst.as_mut_ptr().add(c).cast(), i);
                c += 16;
            }
            quantize_lanes(&src[c..n], factor, &mut dst[c..n]);
        }

        /// # Safety
        /// The CPU has AVX2.
        #[target_feature(enable = "avx2")]
        pub unsafe fn quantize256(src: &[f32], factor: f32, dst: &mut [i16]) {
            let n = src.len().min(dst.len());
            let f = _mm256_set1_ps(factor);
            let mut c = 0;
            while c + 8 <= n {
                let v = _mm256_mul_ps(_mm256_loadu_ps(src.as_ptr().add(c)), f);
                let i = _mm256_cvtps_epi32(v);
                let packed =
                    _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
                _mm_storeu_si128(dst.as_mut_ptr().add(c).cast(), packed);
                c += 8;
            }
            quantize_lanes(&src[c..n], factor, &mut dst[c..n]);
        }
    }
}

/// A task's buffers.
#[derive(Debug, Default)]
struct Work {
    /// A tile's transformed inputs in floats, point-major.
    f: Vec<f32>,
    /// The group's transformed inputs on their grids, tile by tile, then point-major.
    v: Vec<i16>,
    /// Each tile's unit (of all its points).
    units: Vec<f32>,
    /// The products, tile by tile, then point-major.
    m: Vec<f32>,
    /// Each tile's 2×2 outputs.
    y: Vec<f32>,
    /// One pixel of zeros.
    zeros: Vec<i16>,
    scratch: Scratch,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hyper::cpu::infer::Convolution;
    use crate::testing::{on_threads, values};

    /// A map of `c` channels on grids of varied units (a unit per pixel, as the analysis's
    /// layers hand on), and the same map in floats.
    fn grid(size: (usize, usize), c: usize, seed: usize) -> ((Map<i16>, Vec<f32>), Vec<f32>) {
        let pixels = size.0 * size.1;
        let units: Vec<f32> = (0..pixels)
            .map(|p| [0.5f32, 2.0, 1.0 / 64.0][p % 3] / 16384.0)
            .collect();
        let q: Vec<i16> = values(pixels * c, seed, 65000.0)
            .iter()
            .map(|&v| v as i16)
            .collect();
        let reals = (q.iter().enumerate())
            .map(|(k, &v)| f32::from(v) * units[k / c])
            .collect();
        let map = Map {
            height: size.0,
            width: size.1,
            channels: c,
            values: q,
        };
        ((map, units), reals)
    }

    fn winograd(l: &Winograd16, path: Path, x: &(Map<i16>, Vec<f32>)) -> Vec<f32> {
        let copy = |v: &[f32], dst: &mut [f32], _: &mut [f32]| dst.copy_from_slice(v);
        l.run(path, (&x.0, &x.1), &Post::None, copy).0.values
    }

    /// The layer computes the direct convolution to within its 16-bit grids' precision, on
    /// sizes that fill tiles, leave them partial, and span several products per row of tiles.
    #[test]
    fn winograd_follows_the_convolution() {
        for (i, o) in [(8, 12), (16, 3), (34, 16)] {
            let (w, b) = (values(i * o * 25, 1, 0.4), values(o, 2, 0.2));
            let wino = Winograd16::new(&w, &b, (i, o));
            let direct = Convolution::new(&w, &b, (i, o), 5, 2);
            for size in [(1, 1), (2, 3), (4, 4), (9, 7), (5, 4 * GROUP + 3)] {
                let (x, reals) = grid(size, i, 3);
                let got = winograd(&wino, Path::widest(), &x);
                let (h, w) = direct.output(size);
                let mut want = vec![0.0; h * w * o];
                direct.run_into(Path::Portable, &reals, size, &mut want);
                assert_eq!(got.len(), want.len(), "{size:?}");
                let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
                let worst = (got.iter().zip(&want))
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst < 2e-3 * scale,
                    "{i}→{o} at {size:?}: {worst} of {scale}"
                );
            }
        }
    }

    /// The same bits on every instruction set this CPU has and on 1 to 16 threads, with
    /// channel counts that fill vectors and that leave lanes over.
    #[test]
    fn paths_and_threads_agree() {
        for (i, o) in [(32, 16), (22, 7)] {
            let (w, b) = (values(i * o * 25, 5, 0.4), values(o, 6, 0.2));
            let wino = Winograd16::new(&w, &b, (i, o));
            let (x, _) = grid((11, 4 * GROUP + 5), i, 4);
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let reference = bits(&winograd(&wino, Path::Portable, &x));
            for path in Path::available() {
                for threads in [1, 3, 16] {
                    let got = on_threads(threads, || winograd(&wino, path, &x));
                    assert_eq!(bits(&got), reference, "{path:?} on {threads} threads");
                }
            }
        }
    }

    /// The three transforms compute a five-tap correlation of stride 2 exactly (small
    /// integers, exact in floats): `y[i] = Σₖ w[k]·d[2i + k]`.
    #[test]
    fn the_transforms_compute_a_strided_correlation() {
        let d = [3.0, -1.0, 4.0, 1.0, -5.0, 9.0, 2.0];
        let w = [2.0, -6.0, 12.0, 4.0, -8.0];
        let u: [f64; SIDE] = std::array::from_fn(|a| (0..5).map(|k| KERNEL[a][k] * w[k]).sum());
        let v = transform(d.map(|x: f64| [x as f32]));
        let m: [[f32; 1]; SIDE] = std::array::from_fn(|a| [(u[a] * f64::from(v[a][0])) as f32]);
        for (i, got) in output(m).into_iter().enumerate() {
            let want: f64 = (0..5).map(|k| w[k] * d[2 * i + k]).sum();
            assert_eq!(f64::from(got[0]), want, "output {i}");
        }
    }
}
