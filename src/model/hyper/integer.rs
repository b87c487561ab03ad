//! The hyper-synthesis `h_s` in integer arithmetic, so that the scale of every latent, and so
//! its entropy table, is the same on every machine, thread count and SIMD path (the idea of
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

use super::{HyperWeights, Layer};
pub use crate::cpu_path::Path;

/// Fraction bits of the activations (and of the input `ẑ` and the output scales).
pub const ACT_BITS: u32 = 12;
/// Fraction bits of the weights.
pub const WEIGHT_BITS: u32 = 16;

/// One layer with integer parameters.
#[derive(Debug, Clone, PartialEq)]
enum IntLayer {
    /// Convolution, stride 1, padding kernel/2; weights `[out, in, k, k]`.
    Conv {
        i: usize,
        o: usize,
        k: usize,
        w: Vec<i32>,
        b: Vec<i64>,
    },
    /// Transposed convolution, stride 2, padding kernel/2, output padding 1 (doubles the
    /// size); weights `[in, out, k, k]`.
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

/// `h_s` with integer parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegerHyperSynthesis {
    layers: Vec<IntLayer>,
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

fn fixed_i32(v: f32, bits: u32, name: &str) -> Result<i32, IntegerRangeError> {
    let x = (f64::from(v) * f64::from(1u32 << bits)).round();
    if x.is_finite() && x.abs() < f64::from(1u32 << 30) {
        Ok(x as i32)
    } else {
        Err(IntegerRangeError {
            name: name.to_string(),
            value: v,
        })
    }
}

impl IntegerHyperSynthesis {
    /// The integer form of `weights`' `h_s`. Supports the layer shapes of
    /// [`HyperConfig::networks`] (3×3/1 convolutions, stride-2 transposed convolutions).
    pub fn new(weights: &HyperWeights) -> Result<Self, IntegerRangeError> {
        let specs = weights.config.param_specs();
        let networks = weights.config.networks();
        let first = specs
            .iter()
            .position(|s| s.name.starts_with("h_s."))
            .expect("h_s has parameters");
        let mut t = first;
        let mut layers = Vec::new();
        for layer in &networks[3].1 {
            let convert = |t: usize| -> Result<(Vec<i32>, Vec<i64>), IntegerRangeError> {
                let w = weights.tensors[t]
                    .iter()
                    .map(|&v| fixed_i32(v, WEIGHT_BITS, &specs[t].name))
                    .collect::<Result<_, _>>()?;
                let b = weights.tensors[t + 1]
                    .iter()
                    .map(|&v| {
                        fixed_i32(v, ACT_BITS, &specs[t + 1].name)
                            .map(|b| i64::from(b) << WEIGHT_BITS)
                    })
                    .collect::<Result<_, _>>()?;
                Ok((w, b))
            };
            match *layer {
                Layer::Conv(i, o, k, 1) => {
                    let (w, b) = convert(t)?;
                    layers.push(IntLayer::Conv { i, o, k, w, b });
                    t += 2;
                }
                Layer::Deconv(i, o, k, 2) => {
                    let (w, b) = convert(t)?;
                    layers.push(IntLayer::Deconv { i, o, k, w, b });
                    t += 2;
                }
                Layer::Relu => layers.push(IntLayer::Relu),
                other => unreachable!("h_s has no {other:?} layer"),
            }
        }
        Ok(Self { layers })
    }

    /// Runs the network on `z` (fixed point). Each output channel is computed on its own, in
    /// parallel, on the widest [`Path`] this CPU has; the result depends on neither.
    pub fn run(&self, x: FixedMap) -> FixedMap {
        self.run_on(Path::detect(), x)
    }

    /// [`Self::run`] on a chosen path (tests hold the paths to each other).
    pub fn run_on(&self, path: Path, mut x: FixedMap) -> FixedMap {
        for layer in &self.layers {
            x = match layer {
                IntLayer::Conv { i, o, k, w, b } => conv(path, &x, (*i, *o, *k), w, b),
                IntLayer::Deconv { i, o, k, w, b } => deconv(path, &x, (*i, *o, *k), w, b),
                IntLayer::Relu => {
                    x.values.iter_mut().for_each(|v| *v = (*v).max(0));
                    x
                }
            };
        }
        x
    }
}

/// Rounds an accumulator (ACT_BITS + WEIGHT_BITS fraction bits) down to ACT_BITS, saturating.
fn narrow(acc: i64) -> i32 {
    let v = acc.wrapping_add(1 << (WEIGHT_BITS - 1)) >> WEIGHT_BITS;
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// `dst += src · w`, wrapping (vectorised where the target has wide integer products).
#[inline(always)]
fn axpy(dst: &mut [i64], src: &[i32], w: i32) {
    let w = i64::from(w);
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = d.wrapping_add(i64::from(s) * w);
    }
}

/// One output channel's accumulators, as [`plane_body`] computes them, on `path`.
fn plane(path: Path, job: &PlaneJob<'_>) -> Vec<i64> {
    match path {
        Path::Portable => plane_body(job),
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        // SAFETY: `Path::Avx2` is chosen (or offered to tests) only where the CPU has AVX2.
        Path::Avx2 => unsafe { plane_avx2(job) },
        #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
        Path::Avx2 => plane_body(job),
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
unsafe fn plane_avx2(job: &PlaneJob<'_>) -> Vec<i64> {
    plane_body(job)
}

/// What one output channel of a layer reads.
struct PlaneJob<'a> {
    x: &'a FixedMap,
    /// Input channels, kernel side, output channel, transposed (stride 2) or not.
    i: usize,
    k: usize,
    oc: usize,
    transposed: bool,
    /// The layer's weights (`[out, in, k, k]`, or `[in, out, k, k]` transposed) and bias.
    w: &'a [i32],
    bias: i64,
    /// Output channels (the weights' layout needs it when transposed).
    o: usize,
}

/// The accumulators of one output channel: for a convolution, each tap of each input channel
/// adds a shifted row; for a transposed convolution, each tap adds an input row to every
/// other output column, so the sums go to one plane per column parity (contiguous), which
/// are interleaved at the end.
#[inline(always)]
fn plane_body(job: &PlaneJob<'_>) -> Vec<i64> {
    let (x, k, p) = (job.x, job.k, (job.k / 2) as isize);
    let (h, wd) = (x.height, x.width);
    // The stride, which is also the number of column-parity planes; each plane has the
    // input's width.
    let step: usize = if job.transposed { 2 } else { 1 };
    let oh = step * h;
    let mut acc = vec![job.bias; step * oh * wd];
    for ic in 0..job.i {
        let src = &x.values[ic * h * wd..(ic + 1) * h * wd];
        for ky in 0..k {
            for kx in 0..k {
                // Output (row, column) = step·input + (off_y, off_x): a convolution reads
                // input (y + ky − p, x + kx − p), a transposed one writes (2y + ky − p, …).
                let (weight, off_y, off) = if job.transposed {
                    let at = ((ic * job.o + job.oc) * k + ky) * k + kx;
                    (job.w[at], ky as isize - p, kx as isize - p)
                } else {
                    let at = ((job.oc * job.i + ic) * k + ky) * k + kx;
                    (job.w[at], p - ky as isize, p - kx as isize)
                };
                // The output column's parity, and its column within that parity's plane.
                let parity = off.rem_euclid(step as isize) as usize;
                let shift = off.div_euclid(step as isize);
                let c0 = (-shift).max(0) as usize;
                let c1 = ((wd as isize - shift).max(0) as usize).min(wd).max(c0);
                for iy in 0..h {
                    let y = (step * iy) as isize + off_y;
                    if y < 0 || y >= oh as isize {
                        continue;
                    }
                    let row = &src[iy * wd..(iy + 1) * wd];
                    let base = (parity * oh + y as usize) * wd;
                    let dst = &mut acc[base..base + wd];
                    let (d0, d1) = (
                        (c0 as isize + shift) as usize,
                        (c1 as isize + shift) as usize,
                    );
                    axpy(&mut dst[d0..d1], &row[c0..c1], weight);
                }
            }
        }
    }
    acc
}

fn conv(
    path: Path,
    x: &FixedMap,
    (i, o, k): (usize, usize, usize),
    w: &[i32],
    b: &[i64],
) -> FixedMap {
    assert_eq!(x.channels, i, "input channels");
    assert_eq!(
        k % 2,
        1,
        "odd kernels only: a stride-1 convolution keeps the size"
    );
    let (h, wd) = (x.height, x.width);
    let mut out = vec![0i32; o * h * wd];
    out.par_chunks_mut(h * wd)
        .enumerate()
        .for_each(|(oc, dst)| {
            let job = PlaneJob {
                x,
                i,
                k,
                oc,
                transposed: false,
                w,
                bias: b[oc],
                o,
            };
            for (d, a) in dst.iter_mut().zip(plane(path, &job)) {
                *d = narrow(a);
            }
        });
    FixedMap {
        channels: o,
        height: h,
        width: wd,
        values: out,
    }
}

fn deconv(
    path: Path,
    x: &FixedMap,
    (i, o, k): (usize, usize, usize),
    w: &[i32],
    b: &[i64],
) -> FixedMap {
    assert_eq!(x.channels, i, "input channels");
    let (h, wd) = (x.height, x.width);
    let (oh, ow) = (2 * h, 2 * wd);
    let mut out = vec![0i32; o * oh * ow];
    out.par_chunks_mut(oh * ow)
        .enumerate()
        .for_each(|(oc, dst)| {
            let job = PlaneJob {
                x,
                i,
                k,
                oc,
                transposed: true,
                w,
                bias: b[oc],
                o,
            };
            let acc = plane(path, &job);
            let (even, odd) = acc.split_at(oh * wd);
            for (y, row) in dst.chunks_exact_mut(ow).enumerate() {
                let (e, d) = (&even[y * wd..(y + 1) * wd], &odd[y * wd..(y + 1) * wd]);
                for (pair, (&e, &d)) in row.chunks_exact_mut(2).zip(e.iter().zip(d)) {
                    pair[0] = narrow(e);
                    pair[1] = narrow(d);
                }
            }
        });
    FixedMap {
        channels: o,
        height: oh,
        width: ow,
        values: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hyper::net::{host, HyperNet, Transform};
    use crate::model::hyper::HyperConfig;
    use burn::tensor::{Device, Tensor, TensorData};

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
        let int = IntegerHyperSynthesis::new(&weights).unwrap();
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
        let run_on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| int.run(fixed.clone()))
        };
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

    /// Every path this CPU has gives the portable path's integers (the rest are named).
    #[test]
    fn paths_agree() {
        for means in [false, true] {
            let config = HyperConfig::new(8, 12).with_means(means);
            let int = IntegerHyperSynthesis::new(&HyperWeights::init(config, 4)).unwrap();
            let z = test_map(8, 5, 7, 30_000);
            let portable = int.run_on(Path::Portable, z.clone());
            for path in [Path::Avx2] {
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
        let int = IntegerHyperSynthesis::new(&weights).unwrap();
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
                    |oc, ic, ky, kx| wt[((oc * i + ic) * k + ky) * k + kx],
                    b,
                ),
                IntLayer::Deconv { i, o, k, w: wt, b } => reference(
                    &x,
                    *i,
                    *o,
                    *k,
                    2,
                    |oc, ic, ky, kx| wt[((ic * o + oc) * k + ky) * k + kx],
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
