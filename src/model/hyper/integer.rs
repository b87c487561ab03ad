//! The hyper-synthesis `h_s` (and a checkerboard context's networks) in integer arithmetic, so
//! that the scale of every latent, and so its entropy table, is the same on every machine,
//! thread count and SIMD path (the idea of
//! Ballé, Johnston, Minnen 2019, "Integer networks for data compression", applied after
//! training).
//!
//! Activations are `i32` with [`ACT_BITS`] fraction bits, weights `i32` with [`WEIGHT_BITS`],
//! biases `i64` with both. Every sum is a wrapping `i64` sum, which is exact and independent of
//! order (modular addition is associative), then rounded down to the activations' fixed point
//! by an arithmetic shift and saturated to `i32`. Weights are converted from the model file's
//! `f32` values by a multiplication by a power of two and a rounding, both exact in IEEE
//! arithmetic, so every machine derives the same integers.

use rayon::prelude::*;

use super::cpu::exact::{self, IntPacked};
use super::cpu::exact_winograd::{self, ExactWinograd};
use super::cpu::taps::Taps;
use super::cpu::{to_pixels, to_planes};
use super::{HyperWeights, Layer};
pub use crate::cpu_path::Path;

/// Fraction bits of the activations (and of the input `ẑ` and the output scales).
pub const ACT_BITS: u32 = 12;
/// Fraction bits of the weights.
pub const WEIGHT_BITS: u32 = 16;

/// One layer with integer parameters. The weights of either kind of convolution are stored tap
/// by tap, `w[((ic·k + ky)·k + kx)·o + oc]`: each input channel's and tap's `o` weights side by
/// side, a row of its products' matrices.
#[derive(Debug, Clone, PartialEq)]
enum IntLayer {
    /// Convolution, stride 1, padding kernel/2 (its tensor `[out, in, k, k]`).
    Conv {
        i: usize,
        o: usize,
        k: usize,
        w: Vec<i32>,
        b: Vec<i64>,
    },
    /// Transposed convolution, stride 2, padding kernel/2, output padding 1 (doubles the
    /// size; its tensor `[in, out, k, k]`).
    Deconv {
        i: usize,
        o: usize,
        k: usize,
        w: Vec<i32>,
        b: Vec<i64>,
    },
    Relu,
}

/// A feature map: `channels × height × width` values in fixed point, channel-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedMap {
    /// Channels.
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values with [`ACT_BITS`] fraction bits.
    pub values: Vec<i32>,
}

/// A network with integer parameters: `h_s`, or the checkerboard context's networks.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegerNetwork {
    layers: Vec<IntLayer>,
    /// Each layer's products: one for a convolution, four for a transposed one, none for a ReLU.
    gathers: Vec<Vec<IntGather>>,
    /// For the context's convolution: its product with only the taps at an odd row plus column
    /// offset, all that a non-anchor position reads ([`Self::context_rows`]).
    others: Option<IntGather>,
    /// Each layer by Winograd's algorithm, where it is a 3×3 convolution or a transposed 5×5
    /// one whose sums allow it: the same integers in under half the products.
    winograd: Vec<Option<ExactWinograd>>,
}

/// Why a model's `h_s` has no integer form.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "hyper-synthesis parameter {name} = {value} does not fit the integer network's fixed point"
)]
pub struct IntegerRangeError {
    /// The parameter tensor.
    pub name: String,
    /// The value out of range.
    pub value: f32,
}

/// `values` in fixed point with `bits` fractional bits, rounded as `f64::round` rounds (halves
/// away from zero), each `rows × cols` matrix of them (one after another) transposed (`rows`
/// 1: in their order); an error names the tensor and its first value of magnitude 2³⁰ units
/// or more, infinite or NaN.
fn fixed_values(
    values: &[f32],
    bits: u32,
    name: &str,
    (rows, cols): (usize, usize),
) -> Result<Vec<i32>, IntegerRangeError> {
    let scale = f64::from(1u32 << bits);
    // |round(x)| < 2³⁰ exactly when |x| < 2³⁰ − ½ (NaN compares false).
    let fits = |v: f32| (f64::from(v) * scale).abs() < f64::from(1u32 << 30) - 0.5;
    if !values.iter().fold(true, |all, &v| all & fits(v)) {
        let value = *values
            .iter()
            .find(|&&v| !fits(v))
            .expect("a value that does not fit");
        return Err(IntegerRangeError {
            name: name.to_string(),
            value,
        });
    }
    // x + ½ toward x's sign, truncated, is round(x) without its library call (a loop the
    // compiler vectorizes): for an f32 times a power of two below 2³⁰ the sum is exact where
    // |x| ≥ 2⁻³⁰ (24 bits of x and the ½ span at most 53), and within an ulp of ½ below that.
    let fixed = |v: f32| {
        let x = f64::from(v) * scale;
        (x + 0.5f64.copysign(x)) as i32
    };
    if rows == 1 {
        return Ok(values.iter().map(|&v| fixed(v)).collect());
    }
    // In tiles, so that reads and writes both go a cache line at a time. Serial, unlike
    // [`super::cpu::to_pixels`]: it runs while a codec is built, where the rayon pool must not
    // be entered ([`crate::parallel`]).
    const TILE: usize = 16;
    let mut t = vec![0; values.len()];
    let size = rows * cols;
    for (src, dst) in values.chunks_exact(size).zip(t.chunks_exact_mut(size)) {
        for r0 in (0..rows).step_by(TILE) {
            for c0 in (0..cols).step_by(TILE) {
                for r in r0..(r0 + TILE).min(rows) {
                    for c in c0..(c0 + TILE).min(cols) {
                        dst[c * rows + r] = fixed(src[r * cols + c]);
                    }
                }
            }
        }
    }
    Ok(t)
}

impl IntegerNetwork {
    /// The integer form of `weights`' `h_s`.
    pub fn hyper_synthesis(weights: &HyperWeights) -> Result<Self, IntegerRangeError> {
        let first = weights.config.network_starts()[3];
        Self::int_layers(&weights.config.networks()[3].1, weights, first).map(Self::of_layers)
    }

    /// The integer forms of the checkerboard context's convolution and parameter network, for
    /// a model that has a context.
    pub fn context(weights: &HyperWeights) -> Result<Option<[Self; 2]>, IntegerRangeError> {
        if !weights.config.context {
            return Ok(None);
        }
        let [(_, conv), (_, params)] = weights.config.context_networks();
        let first = weights.config.network_starts()[5];
        let (conv, params) = crate::parallel::join(
            || Self::int_layers(&conv, weights, first).map(Self::context_conv),
            || Self::int_layers(&params, weights, first + 2).map(Self::of_layers),
        );
        Ok(Some([conv?, params?]))
    }

    /// The integer form of `layers`, whose parameters start at `weights`' tensor `first`.
    /// Supports stride-1 convolutions, stride-2 transposed convolutions and ReLUs.
    fn int_layers(
        layers: &[Layer],
        weights: &HyperWeights,
        first: usize,
    ) -> Result<Vec<IntLayer>, IntegerRangeError> {
        let specs = weights.config.param_specs();
        // Fixed point, and tap by tap: a convolution's tensor is one `o × i·k²` matrix, a
        // transposed one's `i` matrices of `o × k²`; the weights are checked before the biases.
        let convert = |t: usize, layer: Layer| -> Result<IntLayer, IntegerRangeError> {
            let w = |matrix| fixed_values(&weights.tensors[t], WEIGHT_BITS, &specs[t].name, matrix);
            let b = || -> Result<Vec<i64>, IntegerRangeError> {
                let b = &weights.tensors[t + 1];
                let b = fixed_values(b, ACT_BITS, &specs[t + 1].name, (1, b.len()))?;
                Ok(b.into_iter().map(|b| i64::from(b) << WEIGHT_BITS).collect())
            };
            Ok(match layer {
                Layer::Conv(i, o, k, 1) => IntLayer::Conv {
                    i,
                    o,
                    k,
                    w: w((o, i * k * k))?,
                    b: b()?,
                },
                Layer::Deconv(i, o, k, 2) => IntLayer::Deconv {
                    i,
                    o,
                    k,
                    w: w((o, k * k))?,
                    b: b()?,
                },
                other => unreachable!("no integer form of {other:?}"),
            })
        };
        // Each layer with its first parameter tensor (weights, then biases), if it has any.
        let mut next = first;
        let jobs = (layers.iter())
            .map(|&layer| {
                let t = (layer != Layer::Relu).then(|| {
                    next += 2;
                    next - 2
                });
                (t, layer)
            })
            .collect();
        crate::parallel::map(jobs, |(t, layer)| {
            t.map_or(Ok(IntLayer::Relu), |t| convert(t, layer))
        })
        .into_iter()
        .collect()
    }

    /// The network of `layers`, its products packed.
    fn of_layers(layers: Vec<IntLayer>) -> Self {
        // Every product, packed on its own: a layer's (four for a transposed convolution, by
        // output parity).
        let mut jobs: Vec<(usize, Part)> = Vec::new();
        for (l, layer) in layers.iter().enumerate() {
            match layer {
                IntLayer::Conv { .. } => jobs.push((l, Part::Whole)),
                IntLayer::Deconv { .. } => jobs.extend((0..4).map(|p| (l, Part::Parity(p)))),
                IntLayer::Relu => {}
            }
        }
        let packed = crate::parallel::map(jobs.clone(), |(l, part)| {
            IntGather::of_layer(&layers[l], part)
        });
        let mut gathers: Vec<Vec<IntGather>> = layers.iter().map(|_| Vec::new()).collect();
        for ((l, _), g) in jobs.into_iter().zip(packed) {
            gathers[l].push(g);
        }
        let winograd = crate::parallel::map(layers.iter().collect(), |layer| match layer {
            IntLayer::Conv { i, o, k: 3, w, b } => ExactWinograd::conv(w, b, (*i, *o)),
            IntLayer::Deconv { i, o, k: 5, w, b } => ExactWinograd::deconv(w, b, (*i, *o)),
            _ => None,
        });
        Self {
            layers,
            gathers,
            others: None,
            winograd,
        }
    }

    /// The same network with every layer computed directly (tests hold the two to each
    /// other).
    #[cfg(test)]
    pub(crate) fn direct(&self) -> Self {
        Self {
            winograd: vec![None; self.layers.len()],
            ..self.clone()
        }
    }

    /// The context's convolution, `layers` one convolution: only the product that coding runs
    /// ([`Self::context_rows`]).
    fn context_conv(layers: Vec<IntLayer>) -> Self {
        let [conv @ IntLayer::Conv { .. }] = &layers[..] else {
            panic!("the context's network is one convolution");
        };
        let others = Some(IntGather::of_layer(conv, Part::Others));
        Self {
            gathers: vec![Vec::new()],
            winograd: vec![None],
            layers,
            others,
        }
    }

    /// The context's convolution with its whole product too, so that it runs on whole maps.
    #[cfg(test)]
    pub(crate) fn with_whole_product(&self) -> Self {
        Self {
            others: self.others.clone(),
            ..Self::of_layers(self.layers.clone())
        }
    }

    /// The network for inputs whose channels from `keep` on are zero: its first layer, a 1×1
    /// convolution, reads only the first `keep` (the products with the zeros left out, so
    /// the same integers).
    pub fn first_inputs(&self, keep: usize) -> Self {
        let mut layers = self.layers.clone();
        match layers.first_mut() {
            Some(IntLayer::Conv { i, o, k: 1, w, .. }) if keep <= *i => {
                w.truncate(keep * *o);
                *i = keep;
            }
            _ => panic!("first_inputs needs a first layer of 1×1 convolution"),
        }
        Self::of_layers(layers)
    }

    /// Runs the network on a map (fixed point). Each output channel is computed on its own, in
    /// parallel, on the widest [`Path`] this CPU has; the result depends on neither.
    pub fn run(&self, x: FixedMap) -> FixedMap {
        self.run_on(Path::detect(), x)
    }

    /// [`Self::run`] on a chosen path (tests hold the paths to each other).
    pub fn run_on(&self, path: Path, x: FixedMap) -> FixedMap {
        self.run_pixels(path, PixelMap::of(&x), None).into_map()
    }

    /// [`Self::run_on`] with the output cut to its top-left `rows × cols` (at most its own
    /// size); a last convolution computes only those positions (each is exactly what the
    /// whole output has there).
    pub fn run_cropped(&self, path: Path, x: FixedMap, size: (usize, usize)) -> FixedMap {
        self.run_cropped_pixels(path, x, size).into_map()
    }

    /// [`Self::run_cropped`], its output pixel-major (as the network computes it).
    pub fn run_cropped_pixels(
        &self,
        path: Path,
        x: FixedMap,
        (rows, cols): (usize, usize),
    ) -> PixelMap {
        self.run_pixels(path, PixelMap::of(&x), Some((rows, cols)))
    }

    /// [`Self::run_on`] on a pixel-major map (`height × width × channels`), giving one.
    pub fn run_pixel_major(
        &self,
        path: Path,
        (height, width, channels): (usize, usize, usize),
        values: Vec<i32>,
    ) -> Vec<i32> {
        let x = PixelMap {
            height,
            width,
            channels,
            values,
        };
        self.run_pixels(path, x, None).values
    }

    /// The context's convolution (stride 1) on `x`, which holds zeros off the checkerboard's
    /// anchors, for the rows `rows` only and in them only at the other positions: the band's
    /// outputs, pixel-major, 0 at the anchors. Only the taps that reach anchors (at an odd
    /// row plus column offset) are computed, the others would add products with zero: about
    /// half the multiply-adds of the whole convolution.
    pub fn context_rows(&self, path: Path, x: &PixelMap, rows: std::ops::Range<usize>) -> Vec<i32> {
        let Some(g) = &self.others else {
            panic!("context_rows runs the context's convolution");
        };
        let (o, width) = (g.kernel.n(), x.width);
        let mut out = vec![0i32; rows.len() * width * o];
        out.par_chunks_mut(width * o)
            .zip(rows)
            .for_each(|(row, y)| {
                let first = usize::from(super::is_anchor(y, 0));
                if first < width {
                    let end = row.len() - (width - 1 - first) % 2 * o;
                    g.run_stepped(path, x, (y, first, 2), &mut row[first * o..end], 2 * o);
                }
            });
        out
    }

    fn run_pixels(&self, path: Path, mut x: PixelMap, crop: Option<(usize, usize)>) -> PixelMap {
        let last = self.layers.len().saturating_sub(1);
        for i in 0..self.layers.len() {
            let size = match crop {
                Some((rows, cols)) if i == last => (rows.min(x.height), cols.min(x.width)),
                _ => (x.height, x.width),
            };
            x = self.layer(i, path, x, size);
        }
        match crop {
            Some((rows, cols)) => x.cropped(rows, cols),
            None => x,
        }
    }

    /// Layer `i` over `x`; a convolution's output cut to its top-left `size`.
    fn layer(&self, i: usize, path: Path, mut x: PixelMap, size: (usize, usize)) -> PixelMap {
        let (layer, gathers) = (&self.layers[i], &self.gathers[i]);
        let large = x.height * x.width >= WINOGRAD_PIXELS;
        if let Some(w) = self.winograd[i].as_ref().filter(|_| large) {
            let values = w.run(path, (&x.values, x.height, x.width), size, WEIGHT_BITS);
            let (height, width, channels) = match layer {
                IntLayer::Deconv { o, .. } => (2 * x.height, 2 * x.width, *o),
                IntLayer::Conv { o, .. } => (size.0, size.1, *o),
                IntLayer::Relu => unreachable!("a ReLU has no product"),
            };
            return PixelMap {
                height,
                width,
                channels,
                values,
            };
        }
        match layer {
            IntLayer::Conv { .. } => conv(path, &x, &gathers[0], size),
            IntLayer::Deconv { .. } => {
                deconv(path, &x, gathers[..].try_into().expect("four parities"))
            }
            IntLayer::Relu => {
                x.values.iter_mut().for_each(|v| *v = (*v).max(0));
                x
            }
        }
    }
}

/// Rounds an accumulator (ACT_BITS + WEIGHT_BITS fraction bits) down to ACT_BITS, saturating.
fn narrow(acc: i64) -> i32 {
    exact_winograd::narrow(acc, WEIGHT_BITS)
}

/// The smallest input (in pixels) a layer runs by Winograd's algorithm: on fewer, its
/// transforms cost about what they save (a photo's first layer, 8 × 12 pixels at 768 × 512),
/// and a small image's layers, of a few pixels, ran a fifth slower that way.
const WINOGRAD_PIXELS: usize = 256;

/// Which of a layer's products to pack.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// A convolution's.
    Whole,
    /// A transposed convolution's output parity `2·py + px`.
    Parity(usize),
    /// A convolution's taps at an odd row plus column offset.
    Others,
}

/// A layer's products: one for a convolution, four (by output parity) for a transposed one.
#[derive(Debug, Clone, PartialEq)]
struct IntGather {
    taps: Taps,
    kernel: IntPacked,
}

/// Output pixels per product.
const RUN: usize = 32;

impl IntGather {
    /// `part` of a convolution's or transposed convolution's products.
    fn of_layer(layer: &IntLayer, part: Part) -> Self {
        let (taps, (o, k, w, b)) = match (layer, part) {
            (IntLayer::Conv { i, o, k, w, b }, Part::Whole) => {
                (Taps::conv(*k, 1, *i), (o, k, w, b))
            }
            (IntLayer::Conv { i, o, k, w, b }, Part::Others) => {
                (Taps::checkerboard(*k, *i, true), (o, k, w, b))
            }
            (IntLayer::Deconv { i, o, k, w, b }, Part::Parity(p)) => {
                (Taps::deconv_phase(*k, (p / 2, p % 2), *i), (o, k, w, b))
            }
            (layer, part) => unreachable!("no product {part:?} of {layer:?}"),
        };
        // The matrix: a row per tap (`taps.row`), the tap's `o` weights.
        let rows = taps.patch_len();
        let mut values = Vec::with_capacity(rows * o);
        for r in 0..rows {
            let (ic, (ky, kx)) = taps.row(r);
            values.extend_from_slice(&w[((ic * k + ky) * k + kx) * o..][..*o]);
        }
        let kernel = IntPacked::from_rows(rows, *o, values, b);
        Self { taps, kernel }
    }

    /// Output pixels `(y, x0..)` (as many as `out` holds at `stride` values apart, `n` each):
    /// the sums rounded to the activations' fixed point.
    fn run(&self, path: Path, x: &PixelMap, y: usize, x0: usize, out: &mut [i32], stride: usize) {
        self.run_stepped(path, x, (y, x0, 1), out, stride);
    }

    /// [`Self::run`] for the output pixels `step` columns apart from `(y, x0)`.
    fn run_stepped(
        &self,
        path: Path,
        x: &PixelMap,
        (y, x0, step): (usize, usize, usize),
        out: &mut [i32],
        stride: usize,
    ) {
        let n = self.kernel.n();
        let count = (out.len() + stride - n) / stride;
        let (mut patches, mut sums) = (Vec::new(), vec![0i64; RUN * n]);
        for start in (0..count).step_by(RUN) {
            let len = RUN.min(count - start);
            let size = (x.height, x.width);
            let from = (y, x0 + start * step);
            (self.taps).patches_stepped(&x.values, size, from, (len, step), &mut patches);
            exact::product(path, &patches, len, &self.kernel, &mut sums);
            for (p, sums) in sums.chunks_exact(n).take(len).enumerate() {
                let dst = &mut out[(start + p) * stride..][..n];
                for (d, &s) in dst.iter_mut().zip(sums) {
                    *d = narrow(s);
                }
            }
        }
    }
}

/// A map of `i32` values, pixel-major (`height × width × channels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelMap {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values per position.
    pub channels: usize,
    /// The values, in fixed point.
    pub values: Vec<i32>,
}

impl PixelMap {
    fn of(x: &FixedMap) -> Self {
        Self {
            height: x.height,
            width: x.width,
            channels: x.channels,
            values: to_pixels(&x.values, x.channels),
        }
    }

    /// The top-left `rows × cols` (at most the map's own size).
    fn cropped(self, rows: usize, cols: usize) -> Self {
        let (rows, cols) = (rows.min(self.height), cols.min(self.width));
        if (rows, cols) == (self.height, self.width) {
            return self;
        }
        let c = self.channels;
        let values = (self.values.chunks_exact(self.width * c))
            .take(rows)
            .flat_map(|row| &row[..cols * c])
            .copied()
            .collect();
        Self {
            height: rows,
            width: cols,
            channels: c,
            values,
        }
    }

    fn into_map(self) -> FixedMap {
        FixedMap {
            channels: self.channels,
            height: self.height,
            width: self.width,
            values: to_planes(&self.values, self.channels),
        }
    }
}

/// A stride-1 convolution, one output row per task, at the top-left `h × w` of its output
/// (at most the input's size).
fn conv(path: Path, x: &PixelMap, g: &IntGather, (h, w): (usize, usize)) -> PixelMap {
    let o = g.kernel.n();
    let mut values = vec![0i32; h * w * o];
    values
        .par_chunks_mut(w * o)
        .enumerate()
        .for_each(|(y, row)| g.run(path, x, y, 0, row, o));
    PixelMap {
        height: h,
        width: w,
        channels: o,
        values,
    }
}

/// A stride-2 transposed convolution, its four parities, two output rows per task.
fn deconv(path: Path, x: &PixelMap, phases: &[IntGather; 4]) -> PixelMap {
    let o = phases[0].kernel.n();
    let (h, w) = (2 * x.height, 2 * x.width);
    let mut values = vec![0i32; h * w * o];
    values
        .par_chunks_mut(2 * w * o)
        .enumerate()
        .for_each(|(y, rows)| {
            for (k, g) in phases.iter().enumerate() {
                let (py, px) = (k / 2, k % 2);
                let start = py * w * o + px * o;
                // Every other pixel of the row, starting at column px.
                let len = (x.width - 1) * 2 * o + o;
                g.run(path, x, y, 0, &mut rows[start..start + len], 2 * o);
            }
        });
    PixelMap {
        height: h,
        width: w,
        channels: o,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hyper::net::{host, HyperNet, Transform};
    use crate::model::hyper::HyperConfig;
    use crate::testing::on_threads;
    use burn::tensor::{Device, Tensor, TensorData};

    /// Weights become fixed point as `f64::round` rounds them (halves away from zero), and
    /// values past 2³⁰ units, infinities and NaNs are refused, naming the tensor and the first
    /// such value.
    #[test]
    fn fixed_point_rounds_halves_away_from_zero() {
        let mut values = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -2.5,
            0.49999997,
            -0.49999997,
            1e-30,
        ];
        values.extend((0..2000).map(|i| ((i as f32) * 0.37).sin() * 3.0 + (i as f32) / 4096.0));
        values.extend((0..200).map(|i| (i as f32 - 100.0) * 0.25));
        // A spread over every exponent: each 4,099th bit pattern below 2¹⁴, both signs.
        values.extend(
            (0..0x4680_0000u32)
                .step_by(4099)
                .flat_map(|b| [f32::from_bits(b), -f32::from_bits(b)]),
        );
        let fixed = |v: &[f32], bits| fixed_values(v, bits, "w", (1, v.len()));
        for bits in [0, 3, 16] {
            for (&v, &f) in values.iter().zip(&fixed(&values, bits).unwrap()) {
                let want = (f64::from(v) * f64::from(1u32 << bits)).round();
                assert_eq!(f, want as i32, "{v} at {bits} bits");
            }
        }
        // Matrices one after another, each transposed: value (m, r, c) at (m, c, r).
        for (count, rows, cols) in [(1, 384, 1200), (3, 7, 25), (2, 17, 33), (1, 1, 5)] {
            let v = &values[..count * rows * cols];
            let t = fixed_values(v, 16, "w", (rows, cols)).unwrap();
            let plain = fixed(v, 16).unwrap();
            for (m, (t, plain)) in t
                .chunks(rows * cols)
                .zip(plain.chunks(rows * cols))
                .enumerate()
            {
                for (r, c) in (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))) {
                    assert_eq!(t[c * rows + r], plain[r * cols + c], "{m}: {r}, {c}");
                }
            }
        }
        let edge = (1u32 << 30) as f32;
        assert_eq!(fixed(&[edge - 64.0], 0).unwrap(), [(1 << 30) - 64]);
        for v in [edge, -edge, f32::INFINITY, f32::NAN, 3e9] {
            let err = fixed_values(&[0.25, v, 1.0, edge], 0, "h_s.w", (2, 2)).unwrap_err();
            assert_eq!(err.name, "h_s.w", "{v}");
            assert!(err.value.to_bits() == v.to_bits(), "{v}: {}", err.value);
        }
        assert!(fixed(&[1.0], 30).is_err());
    }

    /// A parameter out of the fixed point's range, in any layer of either network, fails the
    /// conversion with that tensor's name (the layers are converted in parallel).
    #[test]
    fn out_of_range_parameters_are_named() {
        let config = HyperConfig::new(8, 12).with_means(true).with_context(true);
        let weights = HyperWeights::init(config, 3);
        let specs = config.param_specs();
        let named = |prefixes: &[&str]| -> Vec<usize> {
            (0..specs.len())
                .filter(|&t| prefixes.iter().any(|p| specs[t].name.starts_with(p)))
                .collect()
        };
        for (prefixes, context) in [(&["h_s."][..], false), (&["c.", "e."][..], true)] {
            let tensors = named(prefixes);
            assert!(tensors.len() >= 4, "{prefixes:?}: {tensors:?}");
            for &t in &tensors {
                let mut w = weights.clone();
                w.tensors[t][0] = 1e9;
                let err = if context {
                    IntegerNetwork::context(&w).unwrap_err()
                } else {
                    IntegerNetwork::hyper_synthesis(&w).unwrap_err()
                };
                assert_eq!(err.name, specs[t].name);
            }
        }
    }

    /// The integer network follows burn's float `h_s` to within the fixed point's rounding,
    /// and gives the same integers on 1 and on 16 threads; a mean-scale model's too (twice
    /// the channels, the means signed).
    #[test]
    fn integer_network_follows_float_and_ignores_threads() {
        for means in [false, true] {
            follows_float(HyperConfig::new(8, 12).with_means(means));
        }
    }

    fn follows_float(config: HyperConfig) {
        let weights = HyperWeights::init(config, 3);
        let int = IntegerNetwork::hyper_synthesis(&weights).unwrap();
        let (h, w) = (3, 5);
        let z: Vec<f32> = (0..8 * h * w)
            .map(|k| ((k * 37 % 23) as f32 - 11.0) * 0.5)
            .collect();
        let fixed = FixedMap {
            channels: 8,
            height: h,
            width: w,
            values: z.iter().map(|&v| (v * 4096.0) as i32).collect(),
        };
        let run_on = |threads: usize| on_threads(threads, || int.run(fixed.clone()));
        let one = run_on(1);
        assert_eq!(one, run_on(16));
        let outputs = config.hyper_outputs();
        assert_eq!(
            (one.channels, one.height, one.width),
            (outputs, 4 * h, 4 * w)
        );

        let device = Device::flex();
        let net = HyperNet::from_weights(&weights, &device, false);
        let zt = Tensor::<4>::from_data(TensorData::new(z, [1, 8, h, w]), &device);
        let float = host(net.run(Transform::HyperSynthesis, zt));
        let worst = one
            .values
            .iter()
            .zip(&float)
            .map(|(&i, &f)| (f64::from(i) / 4096.0 - f64::from(f)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 2e-3, "largest difference {worst}");
        assert!(
            float.iter().any(|&v| v > 0.01),
            "the test reaches positive scales"
        );
        if config.means {
            let plane = 16 * h * w;
            let means = &float[config.m * plane..];
            assert!(means.iter().any(|&v| v < -0.01), "negative means");
        }
    }

    /// The output cut to any top-left part equals that part of the whole output, on every
    /// path.
    #[test]
    fn cropped_outputs_are_parts_of_the_whole() {
        let config = HyperConfig::new(8, 12).with_means(true);
        let int = IntegerNetwork::hyper_synthesis(&HyperWeights::init(config, 4)).unwrap();
        let z = test_map(8, 2, 3, 3 << 12);
        let whole = int.run_on(Path::Portable, z.clone());
        let plane = whole.height * whole.width;
        for (rows, cols) in [(8, 12), (5, 9), (1, 1), (8, 3), (20, 20)] {
            let (r, c) = (rows.min(whole.height), cols.min(whole.width));
            let want: Vec<i32> = (whole.values.chunks_exact(plane))
                .flat_map(|p| {
                    p.chunks_exact(whole.width)
                        .take(r)
                        .flat_map(|row| &row[..c])
                })
                .copied()
                .collect();
            for path in Path::available() {
                let part = int.run_cropped(path, z.clone(), (rows, cols));
                assert_eq!((part.height, part.width), (r, c));
                assert_eq!(part.values, want, "{rows}×{cols} on {path:?}");
            }
        }
    }

    /// A `channels × height × width` map of scattered values in `[−span, span)`.
    fn test_map(channels: usize, height: usize, width: usize, span: i32) -> FixedMap {
        let n = channels * height * width;
        FixedMap {
            channels,
            height,
            width,
            values: (0..n)
                .map(|k| (k as i32 * 7919 % (2 * span)) - span)
                .collect(),
        }
    }

    /// The parameter network without its zero inputs gives the whole network's integers.
    #[test]
    fn first_inputs_leave_out_only_zeros() {
        let config = HyperConfig::new(8, 6).with_context(true);
        let mut weights = HyperWeights::init(config, 9);
        // The parameter network's last layer starts at zero; give every weight a value.
        for t in &mut weights.tensors {
            for (k, v) in t.iter_mut().enumerate() {
                *v += ((k * 37 % 17) as f32 - 8.0) / 64.0;
            }
        }
        let [_, params] = IntegerNetwork::context(&weights).unwrap().unwrap();
        let (m, keep) = (6, 12);
        let short = params.first_inputs(keep);
        let (rows, cols) = (3, 5);
        let raw: Vec<i32> = (0..rows * cols * keep)
            .map(|k| (k as i32 * 7919) % 8192 - 4096)
            .collect();
        let mut padded = vec![0; rows * cols * 4 * m];
        for (dst, src) in padded.chunks_exact_mut(4 * m).zip(raw.chunks_exact(keep)) {
            dst[..keep].copy_from_slice(src);
        }
        for path in Path::available() {
            let whole = params.run_pixel_major(path, (rows, cols, 4 * m), padded.clone());
            let got = short.run_pixel_major(path, (rows, cols, keep), raw.clone());
            assert_eq!(got, whole, "{path:?}");
            assert!(got.iter().any(|&v| v != 0));
        }
    }

    /// Every layer of `h_s` has a form by Winograd's algorithm, which gives the direct
    /// products' integers on every path and 1 or 16 threads, the last layer's output cut or
    /// whole, over inputs large enough to take it at every layer and at none.
    #[test]
    fn winograd_gives_the_direct_integers() {
        let config = HyperConfig::new(16, 24).with_means(true);
        let int = IntegerNetwork::hyper_synthesis(&HyperWeights::init(config, 6)).unwrap();
        let forms = int.winograd.iter().flatten().count();
        assert_eq!(forms, 3, "two transposed, one 3×3");
        let direct = int.direct();
        for ((h, w), sizes) in [
            ((17, 16), [(68, 64), (41, 27)]),
            ((3, 5), [(12, 20), (7, 9)]),
        ] {
            assert_eq!(h * w >= WINOGRAD_PIXELS, h > 3, "{h}×{w}");
            let z = test_map(16, h, w, 1 << 16);
            for size in sizes {
                let want = direct.run_cropped(Path::Portable, z.clone(), size);
                for path in Path::available() {
                    for threads in [1, 16] {
                        let got = on_threads(threads, || int.run_cropped(path, z.clone(), size));
                        assert_eq!(got, want, "{size:?} {path:?} {threads}");
                    }
                }
            }
        }
    }

    /// Every path this CPU has gives the portable path's integers (the rest are named).
    #[test]
    fn paths_agree() {
        for means in [false, true] {
            let config = HyperConfig::new(8, 12).with_means(means);
            let int = IntegerNetwork::hyper_synthesis(&HyperWeights::init(config, 4)).unwrap();
            let z = test_map(8, 5, 7, 30_000);
            let portable = int.run_on(Path::Portable, z.clone());
            for path in Path::ALL.into_iter().skip(1) {
                if Path::available().contains(&path) {
                    assert_eq!(int.run_on(path, z.clone()), portable, "{path:?}");
                } else {
                    eprintln!("skipped {path:?}: this CPU lacks it");
                }
            }
        }
    }

    /// A direct evaluation of the definition (each output a gathered sum over its inputs, in
    /// i128, so that no order or overflow question arises), against the scatter-based
    /// network: the same integers.
    #[test]
    fn network_matches_the_definition() {
        let config = HyperConfig::new(5, 7).with_means(true);
        let weights = HyperWeights::init(config, 11);
        let int = IntegerNetwork::hyper_synthesis(&weights).unwrap();
        let input = test_map(5, 2, 3, 20_000);
        let mut x = input.clone();
        for layer in &int.layers {
            x = match layer {
                IntLayer::Relu => FixedMap {
                    values: x.values.iter().map(|&v| v.max(0)).collect(),
                    ..x
                },
                IntLayer::Conv { i, o, k, w: wt, b } => reference(
                    &x,
                    *i,
                    *o,
                    *k,
                    1,
                    |oc, ic, ky, kx| wt[((ic * k + ky) * k + kx) * o + oc],
                    b,
                ),
                IntLayer::Deconv { i, o, k, w: wt, b } => reference(
                    &x,
                    *i,
                    *o,
                    *k,
                    2,
                    |oc, ic, ky, kx| wt[((ic * k + ky) * k + kx) * o + oc],
                    b,
                ),
            };
        }
        assert_eq!(int.run(input), x);
    }

    /// Output `(oc, oy, ox)` of a convolution (stride 1) or transposed convolution (stride 2):
    /// the sum over every input `(ic, iy, ix)` and kernel tap that lands on it.
    fn reference(
        x: &FixedMap,
        i: usize,
        o: usize,
        k: usize,
        stride: usize,
        weight: impl Fn(usize, usize, usize, usize) -> i32,
        b: &[i64],
    ) -> FixedMap {
        let p = (k / 2) as i64;
        let (oh, ow) = (x.height * stride, x.width * stride);
        let mut values = Vec::new();
        for (oc, &bias) in b.iter().enumerate().take(o) {
            for oy in 0..oh as i64 {
                for ox in 0..ow as i64 {
                    let mut acc = i128::from(bias);
                    for ic in 0..i {
                        for ky in 0..k as i64 {
                            for kx in 0..k as i64 {
                                // Convolution: input at oy + ky − p. Transposed: the input
                                // (iy, ix) with 2·iy − p + ky = oy.
                                let (iy, ix) = if stride == 1 {
                                    (oy + ky - p, ox + kx - p)
                                } else {
                                    let (ty, tx) = (oy + p - ky, ox + p - kx);
                                    if ty % 2 != 0 || tx % 2 != 0 {
                                        continue;
                                    }
                                    (ty / 2, tx / 2)
                                };
                                if iy < 0 || ix < 0 || iy >= x.height as i64 || ix >= x.width as i64
                                {
                                    continue;
                                }
                                let v =
                                    x.values[(ic * x.height + iy as usize) * x.width + ix as usize];
                                let wv = weight(oc, ic, ky as usize, kx as usize);
                                acc += i128::from(v) * i128::from(wv);
                            }
                        }
                    }
                    let v = (acc + (1 << (WEIGHT_BITS - 1))) >> WEIGHT_BITS;
                    values.push(v.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32);
                }
            }
        }
        FixedMap {
            channels: o,
            height: oh,
            width: ow,
            values,
        }
    }
}
