//! The analysis transform in 16-bit fixed point, for encoding: every convolution's input as
//! 16-bit integers, its products in [`super::panel16`] (1.1–1.15× the float kernel's rate on
//! the AVX2 machine measured, 1.85× on Zen 4, and half the memory); GDN's products likewise,
//! on the squares (`Post::Gdn16`).
//!
//! The first layer reads the pixel values `0..=255` themselves (the `1/255` goes into its
//! weights). Every later layer's input is in block floating point ([`super::grid`]): each
//! pixel's channels share one power-of-two unit, the one that puts the largest of them between
//! 16384 and 32767 (so each value keeps 15 bits of its pixel's range). The later layers, 5×5
//! convolutions of stride 2, run Winograd's algorithm ([`super::winograd16`]): 49 products
//! for every 2×2 outputs where the direct convolution takes 100 (its transformed inputs on a
//! grid of their own, one unit per tile); a layer of another shape takes one stretch per input
//! pixel, in that pixel's unit. A unit depends on its pixel's (or tile's, on the whole
//! image's grid of tiles) values alone, so a value is the same whatever region of the image it
//! is computed in, once the region's halo covers a tile per layer.
//!
//! Only the encoder runs this: `y` comes out within a few hundredths of the float transform's
//! (Kodak 23 at the default level: see `docs/hyperprior.md`) and the decoder never sees the
//! difference; every path and thread count gives the same bits, as in the float transforms.

use rayon::prelude::*;

use super::gdn;
use super::grid::to_grid;
use super::infer::{post, zeros, Gather, Map, Post, Scratch, RUN};
use super::panel::{Out, Runs};
use super::panel16::{self, Packed16};
use super::taps::Taps;
use super::winograd16::Winograd16;
use crate::cpu_path::Path;
use crate::model::hyper::Layer;

/// The largest magnitude of an input value.
const LIMIT: i16 = i16::MAX;
/// Pixel values (the first layer's input) reach this.
const PIXEL_LIMIT: i16 = 255;
/// The longest stretch of the first layer (whose units are all one) that keeps its weights'
/// integers at 16 bits: `256 · 255 · 32767 < 2³¹`.
const FIRST_STRETCH: usize = 256;

/// A map in block floating point: pixel `p`'s values are `values[p·c..]` times `units[p]`
/// (no units: all one).
#[derive(Debug, Clone)]
struct Grid<T = i16> {
    map: Map<T>,
    units: Vec<f32>,
}

/// One convolution and its GDN.
#[derive(Debug, Clone)]
struct Stage {
    gather: Gather<Packed16>,
    /// The same taps over one value per pixel: where each patch's units are.
    unit_taps: Taps,
    post: Post,
    out_channels: usize,
}

/// One layer of the analysis and what follows it.
#[derive(Debug, Clone)]
enum Step {
    /// Patches times the kernel, over the previous layer's grid (the first layer's pixels).
    Direct(Stage),
    /// A 5×5 convolution of stride 2 by Winograd's algorithm, over the previous layer's grid.
    Winograd(Winograd16, Post),
}

impl Step {
    /// The step's output channels.
    fn out_channels(&self) -> usize {
        match self {
            Step::Direct(stage) => stage.out_channels,
            Step::Winograd(layer, _) => layer.out_channels(),
        }
    }

    /// What follows the convolution.
    fn post(&self) -> &Post {
        match self {
            Step::Direct(stage) => &stage.post,
            Step::Winograd(_, post) => post,
        }
    }
}

/// The analysis transform in fixed point.
#[derive(Debug, Clone)]
pub struct FixedAnalysis {
    steps: Vec<Step>,
}

impl FixedAnalysis {
    /// The transform of `layers` (convolutions, each but the last followed by GDN, all but the
    /// first reading an even number of channels) with their parameter tensors in burn's
    /// layouts, its 5×5 convolutions of stride 2 after the first by Winograd's algorithm;
    /// `None` for other layers.
    pub fn new(layers: &[Layer], params: &[Vec<f32>]) -> Option<Self> {
        Self::build(layers, params, true)
    }

    /// [`FixedAnalysis::new`] with every convolution direct (`winograd` false).
    fn build(layers: &[Layer], params: &[Vec<f32>], winograd: bool) -> Option<Self> {
        let mut steps: Vec<Step> = Vec::new();
        let mut p = 0;
        let mut rest = layers;
        while let [Layer::Conv(i, o, k, s), tail @ ..] = rest {
            let first = steps.is_empty();
            if (first && *i != 3) || (!first && i % 2 == 1) {
                return None;
            }
            let (w, bias) = (params.get(p)?, params.get(p + 1)?);
            let (post, tail) = match tail {
                [Layer::Gdn(c, false), tail @ ..] if c == o => {
                    let (beta, gamma) = gdn::effective(params.get(p + 2)?, params.get(p + 3)?);
                    let b = |kk: usize, j: usize| gamma[j * o + kk];
                    let norm = Packed16::new((*o, *o), b, &beta, (*o, LIMIT));
                    p += 4;
                    (Post::Gdn16 { norm }, tail)
                }
                [] => {
                    p += 2;
                    (Post::None, tail)
                }
                _ => return None,
            };
            steps.push(if winograd && !first && (*k, *s) == (5, 2) {
                Step::Winograd(Winograd16::new(w, bias, (*i, *o)), post)
            } else {
                Step::Direct(Stage {
                    gather: conv(first, (*i, *o, *k, *s), w, bias),
                    unit_taps: Taps::conv(*k, *s, 1),
                    post,
                    out_channels: *o,
                })
            });
            rest = tail;
        }
        let done = rest.is_empty() && p == params.len() && !steps.is_empty();
        let last_plain = steps.last().is_some_and(|s| matches!(s.post(), Post::None));
        let inner_gdn =
            (steps.iter().rev().skip(1)).all(|s| matches!(s.post(), Post::Gdn16 { .. }));
        (done && last_plain && inner_gdn).then_some(Self { steps })
    }

    /// `y` of an image of pixel values `0..=255` (three channels), on `path`.
    pub fn run(&self, path: Path, pixels: Map<i16>) -> Map {
        self.run_reading(path, pixels, true)
    }

    /// [`FixedAnalysis::run`], reading patches in place where they lie inside a layer's input
    /// (`in_place`) or always gathering them: the same bits either way.
    fn run_reading(&self, path: Path, pixels: Map<i16>, in_place: bool) -> Map {
        let mut x = Grid {
            map: pixels,
            units: Vec::new(),
        };
        let (last, inner) = self.steps.split_last().expect("at least one convolution");
        for step in inner {
            let c = step.out_channels();
            x = step.run(path, &x, in_place, |v, dst, units| {
                to_grid(path, v, c, dst, units)
            });
        }
        let copy = |v: &[f32], dst: &mut [f32], _: &mut [f32]| dst.copy_from_slice(v);
        last.run(path, &x, in_place, copy).map
    }
}

impl Step {
    /// The step's outputs over `x`, each run of pixels handed to `emit` as floats with the
    /// run's values and units to write.
    fn run<T: Copy + Default + Send + Sync>(
        &self,
        path: Path,
        x: &Grid<i16>,
        in_place: bool,
        emit: impl Fn(&[f32], &mut [T], &mut [f32]) + Sync,
    ) -> Grid<T> {
        let (map, units) = match self {
            Step::Direct(stage) => stage.run(path, x, in_place, emit),
            Step::Winograd(layer, post) => layer.run(path, (&x.map, &x.units), post, emit),
        };
        Grid { map, units }
    }
}

/// A convolution `(in, out, kernel, stride)` with burn's kernel `[out, in, k, k]`, quantized
/// for the first layer's pixel values (`first`) or for a later layer's block floating point.
fn conv(
    first: bool,
    (i, o, k, s): (usize, usize, usize, usize),
    w: &[f32],
    bias: &[f32],
) -> Gather<Packed16> {
    let taps = Taps::conv(k, s, i);
    let unit = if first { 1.0 / 255.0 } else { 1.0 };
    let weight = |r: usize, oc: usize| {
        let (ic, (ky, kx)) = taps.row(r);
        w[((oc * i + ic) * k + ky) * k + kx] * unit
    };
    let patch = taps.patch_len();
    let grid = match first {
        true => (patch.next_multiple_of(2).min(FIRST_STRETCH), PIXEL_LIMIT),
        false => (i, LIMIT),
    };
    let kernel = Packed16::new((patch, o), weight, bias, grid);
    Gather::new(taps, kernel)
}

impl Stage {
    /// The stage's outputs over `x`, each run of pixels handed to `emit` as floats with the
    /// run's values and units to write.
    fn run<T: Copy + Default + Send + Sync>(
        &self,
        path: Path,
        x: &Grid,
        in_place: bool,
        emit: impl Fn(&[f32], &mut [T], &mut [f32]) + Sync,
    ) -> (Map<T>, Vec<f32>) {
        let c = self.out_channels;
        let taps = self.gather.taps();
        let (height, width) = (taps.output(x.map.height), taps.output(x.map.width));
        let mut values = zeros::<T>(height * width * c);
        let mut units = vec![0f32; height * width];
        (values.par_chunks_mut(width * c))
            .zip(units.par_chunks_mut(width))
            .enumerate()
            .for_each(|(y, (row, row_units))| {
                let mut scratch = Scratch::default();
                let mut patch_units = Vec::new();
                let mut run = vec![0f32; RUN.min(width) * c];
                for x0 in (0..width).step_by(RUN) {
                    let end = x0 + RUN.min(width - x0);
                    let out = &mut run[..(end - x0) * c];
                    let bufs = (&mut scratch, &mut patch_units);
                    self.product(path, (x, in_place), (y, x0..end), out, bufs);
                    post(path, &self.post, c, out, &mut scratch);
                    emit(out, &mut row[x0 * c..end * c], &mut row_units[x0..end]);
                }
            });
        let map = Map {
            height,
            width,
            channels: c,
            values,
        };
        (map, units)
    }

    /// The convolution's outputs for pixels `xs` of row `y` into `out` (whole pixels): those
    /// whose patches lie inside `x` read in place when `in_place`, the others gathered.
    fn product(
        &self,
        path: Path,
        (x, in_place): (&Grid, bool),
        (y, xs): (usize, std::ops::Range<usize>),
        out: &mut [f32],
        (scratch, patch_units): (&mut Scratch<i16>, &mut Vec<f32>),
    ) {
        let g = &self.gather;
        let (size, c) = ((x.map.height, x.map.width), self.out_channels);
        let x0 = xs.start;
        for (lo, hi, direct) in g.spans(in_place, size, y, xs) {
            if lo == hi {
                continue;
            }
            let dst = Out {
                values: &mut out[(lo - x0) * c..],
                stride: c,
            };
            if direct {
                scratch.starts.clear();
                g.taps()
                    .run_starts(x.map.width, y, lo..hi, &mut scratch.starts);
                let runs = Runs {
                    src: &x.map.values,
                    gathered: &[],
                    lens: g.run_lens(),
                    starts: &scratch.starts,
                };
                panel16::product_runs(path, &runs, &x.units, hi - lo, g.kernel(), dst);
            } else {
                let patches = &mut scratch.patches;
                g.taps()
                    .patches(&x.map.values, size, y, lo, hi - lo, patches);
                // One value more, which a product of pairs may read after the last row.
                patches.push(0);
                patch_units.clear();
                if !x.units.is_empty() {
                    self.unit_taps
                        .patches(&x.units, size, y, lo, hi - lo, patch_units);
                }
                panel16::product(path, patches, patch_units, hi - lo, g.kernel(), dst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hyper::cpu::infer::Plan;
    use crate::model::hyper::{HyperConfig, HyperWeights};
    use crate::testing::on_threads;

    fn pixels(h: usize, w: usize) -> Map<i16> {
        Map {
            height: h,
            width: w,
            channels: 3,
            values: (0..h * w * 3).map(|i| (i * 7919 % 256) as i16).collect(),
        }
    }

    /// The analysis of fresh weights: by Winograd's algorithm, with every convolution
    /// direct, and in floats.
    fn model(n: usize, m: usize, seed: u64) -> ([FixedAnalysis; 2], Plan) {
        let w = HyperWeights::init(HyperConfig::new(n, m).with_means(true), seed);
        let starts = w.config.network_starts();
        let layers = &w.config.networks()[0].1;
        let params = &w.tensors[starts[0]..starts[1]];
        let fixed = [true, false].map(|winograd| {
            FixedAnalysis::build(layers, params, winograd).expect("the family's analysis")
        });
        (fixed, Plan::new(layers, params))
    }

    fn reals(x: &Map<i16>) -> Map {
        Map {
            height: x.height,
            width: x.width,
            channels: 3,
            values: x.values.iter().map(|&v| f32::from(v) / 255.0).collect(),
        }
    }

    /// The fixed-point transform, by Winograd's algorithm or direct, gives the float one's `y`
    /// to within its grids' precision, for sizes whose outputs are all border, all inside, or
    /// both.
    #[test]
    fn follows_the_float_transform() {
        let (both, float) = model(32, 12, 3);
        let sizes = [(1, 1), (7, 5), (37, 70), (64, 48)];
        for (fixed, (h, w)) in both.iter().flat_map(|f| sizes.map(|size| (f, size))) {
            let x = pixels(h, w);
            let want = float.run(Path::Portable, reals(&x));
            let got = fixed.run(Path::widest(), x);
            let dims = |m: &Map| (m.height, m.width, m.channels);
            assert_eq!(dims(&got), dims(&want));
            let scale = want.values.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = (got.values.iter().zip(&want.values))
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 2e-3 * scale, "{h}×{w}: {worst} of {scale}");
        }
    }

    /// The same bits on every path, on 1 to 16 threads, with patches read in place or
    /// gathered (every layer's, in the direct transform), by Winograd's algorithm or direct.
    #[test]
    fn paths_threads_and_reading_agree() {
        let (both, _) = model(32, 12, 5);
        let sizes = [(7, 5), (48, 40), (37, 70)];
        for (fixed, (h, w)) in both.iter().flat_map(|f| sizes.map(|size| (f, size))) {
            let x = pixels(h, w);
            let reference = fixed.run_reading(Path::Portable, x.clone(), false);
            let bits = |m: &Map| m.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            for path in Path::available() {
                for threads in [1, 3, 16] {
                    let got = on_threads(threads, || fixed.run(path, x.clone()));
                    assert_eq!(bits(&got), bits(&reference), "{path:?} {threads} {h}×{w}");
                }
            }
        }
    }
}
