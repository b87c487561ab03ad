//! The hyperprior family's loss and gradients on the CPU without burn: the layers of
//! [`crate::model::hyper::cpu::network`] on NHWC buffers (convolutions reading their patches in
//! place, weight gradients gathered a chunk at a time), GDN and the rate terms in place, the
//! batch in shards side by side.
//!
//! It computes what [`crate::model::hyper::rate::loss`] and burn's autodiff compute (a test
//! holds the two together), several times faster: no graph, no NCHW reshuffles per layer.

mod context;
mod shards;

use rayon::prelude::*;

pub use crate::model::hyper::cpu::bf16::Products;
use crate::model::hyper::cpu::network::{Network, Shape, Tape};
use crate::model::hyper::cpu::pool::Buf;
use crate::model::hyper::cpu::rate;
use crate::model::hyper::cpu::to_nhwc;
use crate::model::hyper::net::Transform;
use crate::model::hyper::rate::Noise;
use crate::model::hyper::{HyperWeights, SCALE_BOUND};

/// The loss of a batch and its parts, as [`crate::model::hyper::rate::loss`] returns them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossParts {
    /// `λ·255²·MSE + bpp_y + bpp_z`.
    pub loss: f64,
    /// Mean squared error of pixels in [0, 1].
    pub mse: f64,
    /// Bits per pixel of noisy `y`.
    pub bpp_y: f64,
    /// Bits per pixel of noisy `z`.
    pub bpp_z: f64,
}

/// The loss of `images` (`[batch, 3, height, width]`, pixels in [0, 1], sides multiples of
/// [`crate::model::hyper::TOTAL_STRIDE`]) and the gradient of every parameter, in
/// [`crate::model::hyper::HyperConfig::param_specs`] order. The batch runs in
/// `SHARDS` parts side by side; their sums are added in shard order. The convolutions'
/// products run as `products` asks.
pub fn loss_and_gradients(
    weights: &HyperWeights,
    images: &[f32],
    (batch, height, width): (usize, usize, usize),
    noise: &Noise,
    (lambda, products): (f64, Products),
) -> (LossParts, Vec<Vec<f32>>) {
    let plane = height * width;
    let pixels = (batch * plane) as f64;
    let count = 3.0 * pixels;
    let coef = (lambda * 255.0 * 255.0 * 2.0 / count) as f32;
    let (per_y, per_z) = (noise.y.len() / batch, noise.z.len() / batch);
    // The kernels packed once for all shards.
    let nets = Networks::new(weights, products);
    let results = shards::run(&shards::split(batch), |r| {
        let n = r.len();
        let shard_noise = Noise {
            y: noise.y[r.start * per_y..r.end * per_y].to_vec(),
            z: noise.z[r.start * per_z..r.end * per_z].to_vec(),
        };
        let shape = Shape {
            batch: n,
            height,
            width,
            channels: 3,
        };
        let x = to_nhwc(&images[r.start * 3 * plane..r.end * 3 * plane], n, 3, plane);
        let pass = Forward::run(weights, &nets, x, shape, &shard_noise);
        let sse: f64 = (pass.x_hat.iter().zip(pass.x.iter()))
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum();
        let bits = (pass.bits_y.bits, pass.bits_z.bits);
        (
            sse,
            bits,
            pass.backward(weights, &nets, coef, (1.0 / pixels) as f32),
        )
    });
    let (mut sse, mut bits_y, mut bits_z) = (0.0, 0.0, 0.0);
    let mut grads: Option<Vec<Vec<f32>>> = None;
    for (s, (y, z), g) in results {
        (sse, bits_y, bits_z) = (sse + s, bits_y + y, bits_z + z);
        match &mut grads {
            None => grads = Some(g),
            // Element by element, so the same bits on any thread count.
            Some(total) => (total.par_iter_mut().zip(&g))
                .flat_map(|(t, g)| t.par_chunks_mut(1 << 14).zip(g.par_chunks(1 << 14)))
                .for_each(|(t, g)| t.iter_mut().zip(g).for_each(|(t, g)| *t += g)),
        }
    }
    let mse = sse / count;
    let parts = LossParts {
        loss: lambda * 255.0 * 255.0 * mse + (bits_y + bits_z) / pixels,
        mse,
        bpp_y: bits_y / pixels,
        bpp_z: bits_z / pixels,
    };
    (parts, grads.expect("at least one shard"))
}

/// The forward pass of the loss, with what the backward pass needs.
struct Forward {
    x: Buf,
    y: Buf,
    raw_scales: Vec<f32>,
    /// Whether `h_s` predicted means too (its output then interleaves scales and means).
    means: bool,
    x_hat: Buf,
    bits_y: rate::Bits,
    bits_z: rate::Bits,
    tapes: [Tape; 4],
    /// The checkerboard context's tape, for a model with one.
    context: Option<context::ContextTape>,
}

/// The parameter tensors of one transform (they run to the end of the list; a network reads
/// only its own).
fn params(weights: &HyperWeights, t: Transform) -> &[Vec<f32>] {
    &weights.tensors[weights.config.network_starts()[t as usize]..]
}

/// The model's networks with their kernels packed, once a step for every shard.
struct Networks<'a> {
    /// The four transforms, in [`Transform`] order.
    transforms: Vec<Network<'a>>,
    /// The checkerboard context's networks, for a model with one.
    context: Option<context::Networks<'a>>,
}

impl<'a> Networks<'a> {
    fn new(weights: &'a HyperWeights, products: Products) -> Self {
        let networks = weights.config.networks();
        let order = [
            Transform::Analysis,
            Transform::Synthesis,
            Transform::HyperAnalysis,
            Transform::HyperSynthesis,
        ];
        let (transforms, context) = rayon::join(
            || {
                (order.par_iter())
                    .map(|&t| {
                        debug_assert_eq!(order[t as usize], t);
                        Network::new(&networks[t as usize].1, params(weights, t), products)
                    })
                    .collect()
            },
            || {
                weights
                    .config
                    .context
                    .then(|| context::Networks::new(weights, products))
            },
        );
        Self {
            transforms,
            context,
        }
    }

    fn get(&self, t: Transform) -> &Network<'a> {
        &self.transforms[t as usize]
    }
}

impl Forward {
    fn run(
        weights: &HyperWeights,
        nets: &Networks<'_>,
        x: Buf,
        shape: Shape,
        noise: &Noise,
    ) -> Self {
        let pass = |t: Transform, input, shape| nets.get(t).forward(input, shape);
        let (y, y_shape, tape_ga) = pass(Transform::Analysis, Buf::copy_of(&x), shape);
        let abs_y = Buf::map(&y, f32::abs);
        let (mut z, z_shape, tape_ha) = pass(Transform::HyperAnalysis, abs_y, y_shape);
        add_noise(&mut z, &noise.z, z_shape);
        let prior = weights.config.network_starts()[4];
        let bits_z = rate::logistic(&z, &weights.tensors[prior], &weights.tensors[prior + 1]);
        let (raw, _, tape_hs) = pass(Transform::HyperSynthesis, z, z_shape);
        let (raw, context) = if weights.config.context {
            let networks = nets
                .context
                .as_ref()
                .expect("packed with the model's context");
            let (refined, tape) = context::forward(networks, weights.config.m, &raw, &y, y_shape);
            (refined, Some(tape))
        } else {
            (raw, None)
        };
        let (raw_scales, means) = split_hyper(&raw, weights.config.m, weights.config.means);
        let scales: Vec<f32> = raw_scales.iter().map(|s| s.max(SCALE_BOUND)).collect();
        let mut centred = Buf::copy_of(&y);
        add_noise(&mut centred, &noise.y, y_shape);
        // The means of a scale-only model are 0, and subtracting them changes nothing.
        centred.iter_mut().zip(&means).for_each(|(v, m)| *v -= m);
        let bits_y = rate::gaussian(&centred, &scales);
        // The synthesis reads round(y − μ) + μ; its gradient passes straight through to y.
        let mut quantized = Buf::copy_of(&y);
        (quantized.iter_mut().zip(&means)).for_each(|(v, &m)| *v = (*v - m).round() + m);
        let (x_hat, _, tape_gs) = pass(Transform::Synthesis, quantized, y_shape);
        Self {
            x,
            y,
            raw_scales,
            means: weights.config.means,
            x_hat,
            bits_y,
            bits_z,
            tapes: [tape_ga, tape_gs, tape_ha, tape_hs],
            context,
        }
    }

    /// Gradients of `coef·Σ(x̂ − x)²/2 + per_pixel·(bits_y + bits_z)`.
    fn backward(
        self,
        weights: &HyperWeights,
        nets: &Networks<'_>,
        coef: f32,
        per_pixel: f32,
    ) -> Vec<Vec<f32>> {
        let starts = weights.config.network_starts();
        let mut grads: Vec<Vec<f32>> = weights.tensors.iter().map(|t| vec![0.0; t.len()]).collect();
        let [tape_ga, tape_gs, tape_ha, tape_hs] = self.tapes;
        let back = |grads: &mut Vec<Vec<f32>>, t: Transform, tape, dy, need| {
            let range = starts[t as usize]..starts[t as usize + 1];
            nets.get(t).backward(tape, dy, need, &mut grads[range])
        };
        let mut d_xhat = Buf::scratch(self.x.len());
        (d_xhat
            .par_iter_mut()
            .zip(self.x_hat.par_iter().zip(self.x.par_iter())))
        .for_each(|(d, (a, b))| *d = coef * (a - b));
        let mut d_y =
            back(&mut grads, Transform::Synthesis, tape_gs, d_xhat, true).expect("input gradient");
        let mut d_scales = Buf::scratch(self.raw_scales.len());
        for (o, (&s, &d)) in d_scales
            .iter_mut()
            .zip(self.raw_scales.iter().zip(&self.bits_y.d_param))
        {
            // Below the bound only a gradient that would raise the scale passes (see
            // `rate::bounded_scales`).
            *o = if s >= SCALE_BOUND || d < 0.0 {
                d * per_pixel
            } else {
                0.0
            };
        }
        let mut d_raw = if self.means {
            // bits(y + u − μ): the means' gradient is the values' with the sign turned.
            let d_means: Vec<f32> = (self.bits_y.d_value.iter())
                .map(|d| -d * per_pixel)
                .collect();
            join_hyper(&d_scales, &d_means, weights.config.m)
        } else {
            d_scales
        };
        if let Some(tape) = self.context {
            let context_grads = &mut grads[starts[5]..];
            let networks = nets
                .context
                .as_ref()
                .expect("packed with the model's context");
            let m = weights.config.m;
            context::backward(tape, (networks, m), &mut d_raw, &mut d_y, context_grads);
        }
        let mut d_z = back(&mut grads, Transform::HyperSynthesis, tape_hs, d_raw, true)
            .expect("input gradient");
        for (d, b) in d_z.iter_mut().zip(&self.bits_z.d_value) {
            *d += b * per_pixel;
        }
        let d_abs =
            back(&mut grads, Transform::HyperAnalysis, tape_ha, d_z, true).expect("input gradient");
        for (((d, b), a), &v) in d_y
            .iter_mut()
            .zip(&self.bits_y.d_value)
            .zip(d_abs.iter())
            .zip(self.y.iter())
        {
            *d += b * per_pixel + a * sign(v);
        }
        back(&mut grads, Transform::Analysis, tape_ga, d_y, false);
        let prior = starts[4];
        let scaled = |v: &[f32]| v.iter().map(|d| d * per_pixel).collect();
        grads[prior] = scaled(&self.bits_z.d_param);
        grads[prior + 1] = scaled(&self.bits_z.d_log_scale);
        grads
    }
}

/// `h_s`'s NHWC output as the raw scales and the means (zeros for a scale-only model), each
/// NHWC with `m` channels.
fn split_hyper(raw: &[f32], m: usize, means: bool) -> (Vec<f32>, Vec<f32>) {
    if !means {
        return (raw.to_vec(), vec![0.0; raw.len()]);
    }
    let (mut scales, mut mu) = (Vec::with_capacity(raw.len() / 2), Vec::new());
    for at in raw.chunks_exact(2 * m) {
        scales.extend_from_slice(&at[..m]);
        mu.extend_from_slice(&at[m..]);
    }
    (scales, mu)
}

/// The inverse of [`split_hyper`] for a mean-scale model.
fn join_hyper(scales: &[f32], means: &[f32], m: usize) -> Buf {
    let mut out = Buf::scratch(2 * scales.len());
    for ((o, s), mu) in (out.chunks_exact_mut(2 * m))
        .zip(scales.chunks_exact(m))
        .zip(means.chunks_exact(m))
    {
        o[..m].copy_from_slice(s);
        o[m..].copy_from_slice(mu);
    }
    out
}

/// The derivative of |v|, 0 at 0.
fn sign(v: f32) -> f32 {
    if v == 0.0 {
        0.0
    } else {
        v.signum()
    }
}

/// Adds noise drawn in NCHW order to an NHWC buffer.
fn add_noise(v: &mut [f32], noise: &[f32], shape: Shape) {
    let plane = shape.height * shape.width;
    let noise = to_nhwc(noise, shape.batch, shape.channels, plane);
    for (v, n) in v.iter_mut().zip(noise.iter()) {
        *v += n;
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::entropy::prior::noise;
    use crate::model::hyper::net::{host, HyperNet};
    use crate::model::hyper::rate as burn_rate;
    use crate::model::hyper::HyperConfig;
    use crate::testing::on_threads;

    /// The loss parts and every parameter's gradient agree with burn's autodiff on the same
    /// weights, batch and noise.
    #[test]
    fn matches_burn_autodiff() {
        // y spread over several integers, so that round(y) reaches the synthesis, and scales
        // wide enough that no probability comes near the likelihood bound: burn's f32
        // differences of Φ lose their digits there, and the gradients through the bound are
        // large, so a comparison in that regime would measure burn's rounding.
        let below = compare_with_burn(HyperConfig::new(8, 12), 12.0, 4.0, 1e-5, 2e-5);
        assert_eq!(below, 0);
    }

    /// The same with means predicted (the shift of the scales' biases moves the means' too,
    /// by 4): their gradients and the rounding around them.
    #[test]
    fn matches_burn_autodiff_with_means() {
        let config = HyperConfig::new(8, 12).with_means(true);
        let below = compare_with_burn(config, 12.0, 4.0, 1e-5, 2e-5);
        assert_eq!(below, 0);
    }

    /// The same with a checkerboard context: its networks' gradients, and those it adds to the
    /// anchors' latents and to `h_s`.
    #[test]
    fn matches_burn_autodiff_with_context() {
        let config = HyperConfig::new(8, 12).with_context(true);
        let below = compare_with_burn(config, 12.0, 4.0, 1e-5, 2e-5);
        assert_eq!(below, 0);
    }

    /// A mean-scale model given a context codes as before: the context's last layer is zero.
    #[test]
    fn a_new_context_keeps_the_loss() {
        let weights = HyperWeights::init(HyperConfig::new(8, 12).with_means(true), 7);
        let (b, h, w) = (2, 64, 64);
        let images: Vec<f32> = (0..b * 3 * h * w)
            .map(|i| (i * 31 % 255) as f32 / 255.0)
            .collect();
        let noise = Noise::draw(1, 1, (b, h, w), weights.config);
        let loss = |m: &HyperWeights| {
            loss_and_gradients(m, &images, (b, h, w), &noise, (0.01, Products::F32)).0
        };
        let with = weights.clone().with_context(3);
        assert!(with.config.context);
        assert_eq!(loss(&weights), loss(&with));
    }

    /// Scales below their bound: both engines pass only the gradients that would raise them.
    #[test]
    fn matches_burn_autodiff_below_the_scale_bound() {
        // Small scales put burn's f32 differences of Φ near their last digits, which the
        // analysis's gradients collect (within 1e-3); the hyper networks', where a gradient
        // stopped or passed wrongly shows (by 100%), stay within 2e-5.
        let below = compare_with_burn(HyperConfig::new(8, 12), 2.0, -0.02, 1e-4, 1e-3);
        assert!(below > 100, "{below} scales below the bound");
    }

    /// Holds the fused loss and gradients to burn's autodiff on a small model of `config`
    /// whose analysis
    /// output is scaled by `y_gain` and whose scales are shifted by `scale_shift`, within
    /// `parts_tol` (relative) and, of each tensor's largest gradient, `analysis_tol` for the
    /// analysis and 2e-5 for the rest; returns how many raw scales fell below the bound.
    fn compare_with_burn(
        config: HyperConfig,
        y_gain: f32,
        scale_shift: f32,
        parts_tol: f64,
        analysis_tol: f32,
    ) -> usize {
        let mut weights = HyperWeights::init(config, 5);
        // Off the initial values (GDN's Γ starts diagonal, the prior at 0).
        for (k, t) in weights.tensors.iter_mut().enumerate() {
            let extra = noise(9, k as u64, t.len());
            for (v, e) in t.iter_mut().zip(extra) {
                *v += 0.1 * e;
            }
        }
        let last = config.network_starts()[1] - 2;
        weights.tensors[last].iter_mut().for_each(|v| *v *= y_gain);
        let scale_bias = config.network_starts()[4] - 1;
        weights.tensors[scale_bias]
            .iter_mut()
            .for_each(|v| *v += scale_shift);
        let (b, h, w) = (2, 64, 128);
        let images: Vec<f32> = (0..b * 3 * h * w)
            .map(|i| ((i * 7919 % 256) as f32 / 255.0 + (i % w) as f32 / w as f32) * 0.5)
            .collect();
        let noise = Noise::draw(3, 4, (b, h, w), config);
        let lambda = 0.01;
        let shape = Shape {
            batch: b,
            height: h,
            width: w,
            channels: 3,
        };
        let nets = Networks::new(&weights, Products::F32);
        let pass = Forward::run(
            &weights,
            &nets,
            to_nhwc(&images, b, 3, h * w),
            shape,
            &noise,
        );
        let below = pass.raw_scales.iter().filter(|&&s| s < SCALE_BOUND).count();
        assert_eq!(pass.raw_scales.len(), pass.y.len(), "one scale per latent");
        let (parts, grads) = loss_and_gradients(
            &weights,
            &images,
            (b, h, w),
            &noise,
            (lambda, Products::F32),
        );

        let device = Device::flex().autodiff();
        let net = HyperNet::from_weights(&weights, &device, true);
        let x = Tensor::<4>::from_data(TensorData::new(images, [b, 3, h, w]), &device);
        let (loss, mse, bpp_y, bpp_z) = burn_rate::loss(&net, x, noise, lambda, &device);
        let value = |t: Tensor<1>| f64::from(host(t.inner())[0]);
        let expected = [value(loss.clone()), value(mse), value(bpp_y), value(bpp_z)];
        let got = [parts.loss, parts.mse, parts.bpp_y, parts.bpp_z];
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (g - e).abs() <= parts_tol * e.abs().max(1e-3),
                "{got:?} vs {expected:?}"
            );
        }
        let burn_grads = net.gradients(&loss.backward());
        for (spec, (g, e)) in config
            .param_specs()
            .iter()
            .zip(grads.iter().zip(&burn_grads))
        {
            let scale = e.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "{} has a gradient", spec.name);
            let worst = g.iter().zip(e).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            let tol = if spec.name.starts_with("g_a") {
                analysis_tol
            } else {
                2e-5
            };
            assert!(worst <= tol * scale, "{}: {worst} of {scale}", spec.name);
        }
        below
    }

    /// A scale-only model widened with zero means has the same loss (its scales lose the
    /// final ReLU, which the scale bound makes redundant forward).
    #[test]
    fn zero_means_keep_the_loss() {
        let config = HyperConfig::new(8, 12);
        let weights = HyperWeights::init(config, 7);
        let (b, h, w) = (2, 64, 64);
        let images: Vec<f32> = (0..b * 3 * h * w)
            .map(|i| (i * 31 % 255) as f32 / 255.0)
            .collect();
        let noise = Noise::draw(1, 1, (b, h, w), config);
        let loss = |m: &HyperWeights| {
            loss_and_gradients(m, &images, (b, h, w), &noise, (0.01, Products::F32)).0
        };
        let (plain, wide) = (loss(&weights), loss(&weights.clone().with_means()));
        for (a, b) in [
            (plain.mse, wide.mse),
            (plain.bpp_y, wide.bpp_y),
            (plain.bpp_z, wide.bpp_z),
        ] {
            assert!((a - b).abs() <= 1e-6 * a.abs(), "{plain:?} vs {wide:?}");
        }
    }

    /// A widened model reconstructs as before; its rates grow only by the training cost of its
    /// new, all-zero latents (noise at the scale bound), and every new tensor entry learns; with
    /// a checkerboard context as without.
    #[test]
    fn widening_keeps_the_loss() {
        let mean_scale = HyperWeights::init(HyperConfig::new(8, 12).with_means(true), 7);
        let mut context = mean_scale.clone().with_context(8);
        // A trained context adds something: its last layer away from its zero start.
        let last = context.tensors.len() - 2;
        for (i, v) in context.tensors[last].iter_mut().enumerate() {
            *v = ((i * 37 % 11) as f32 - 5.0) * 0.01;
        }
        for weights in [mean_scale, context] {
            widened_model_keeps_the_loss(&weights);
        }
    }

    fn widened_model_keeps_the_loss(weights: &HyperWeights) {
        let (b, h, w) = (2, 64, 64);
        let images: Vec<f32> = (0..b * 3 * h * w)
            .map(|i| (i * 31 % 255) as f32 / 255.0)
            .collect();
        let run = |m: &HyperWeights| {
            let noise = Noise::draw(1, 1, (b, h, w), m.config);
            loss_and_gradients(m, &images, (b, h, w), &noise, (0.01, Products::F32))
        };
        let wide_weights = weights.clone().widen(16, 24, 3).unwrap();
        let ((plain, _), (wide, grads)) = (run(weights), run(&wide_weights));
        assert!(
            (plain.mse - wide.mse).abs() <= 1e-5 * plain.mse,
            "{plain:?} vs {wide:?}"
        );
        // Per new value: 12 more y channels at 1/256 of the pixels, 8 more z at 1/4096.
        let (extra_y, extra_z) = (wide.bpp_y - plain.bpp_y, wide.bpp_z - plain.bpp_z);
        assert!((0.0..0.5 * 12.0 / 256.0).contains(&extra_y), "{extra_y}");
        assert!((0.0..0.5 * 8.0 / 4096.0).contains(&extra_z), "{extra_z}");
        for (g, spec) in grads.iter().zip(wide_weights.config.param_specs()) {
            assert!(g.iter().any(|&v| v != 0.0), "{} learns", spec.name);
        }
    }

    /// The same bits on 1 and on 16 threads: no sum is split between threads.
    #[test]
    fn gradients_do_not_depend_on_threads() {
        // Large enough that the first layers' products run on all threads.
        let config = HyperConfig::new(16, 16);
        let weights = HyperWeights::init(config, 2);
        let (b, h, w) = (2, 128, 128);
        let images: Vec<f32> = (0..b * 3 * h * w)
            .map(|i| (i * 31 % 255) as f32 / 255.0)
            .collect();
        let noise = Noise::draw(1, 1, (b, h, w), config);
        let on = |threads: usize| {
            on_threads(threads, || {
                loss_and_gradients(&weights, &images, (b, h, w), &noise, (0.01, Products::F32))
            })
        };
        let (one, many) = (on(1), on(16));
        assert_eq!(one.0, many.0);
        assert_eq!(one.1, many.1);
    }

    /// Products in bfloat16: with a bfloat16 kernel the same bits on 1 and 16 threads, the loss within
    /// 0.1% of the f32 products' and every gradient tensor within 2% of theirs (relative to
    /// its norm); elsewhere the f32 products' bits.
    #[test]
    fn bf16_products_follow_f32_and_ignore_threads() {
        let config = HyperConfig::new(32, 32).with_means(true).with_context(true);
        let weights = HyperWeights::init(config, 2);
        let (b, h, w) = (2, 64, 64);
        let images: Vec<f32> = (0..b * 3 * h * w)
            .map(|i| (i * 31 % 255) as f32 / 255.0)
            .collect();
        let noise = Noise::draw(1, 1, (b, h, w), config);
        let on = |threads: usize, products| {
            on_threads(threads, || {
                loss_and_gradients(&weights, &images, (b, h, w), &noise, (0.01, products))
            })
        };
        let plain = on(2, Products::F32);
        let (one, many) = (on(1, Products::Bf16), on(16, Products::Bf16));
        assert_eq!(one.0, many.0);
        assert_eq!(one.1, many.1);
        if !crate::model::hyper::cpu::bf16::available() {
            assert_eq!(one, plain, "without a bfloat16 kernel the f32 products");
            return;
        }
        assert_ne!(one.1, plain.1, "the bfloat16 kernel ran");
        let rel = (one.0.loss - plain.0.loss).abs() / plain.0.loss;
        assert!(rel < 1e-3, "loss {} against {}", one.0.loss, plain.0.loss);
        for ((g, f), spec) in one.1.iter().zip(&plain.1).zip(config.param_specs()) {
            let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            let diff: Vec<f32> = g.iter().zip(f).map(|(a, b)| a - b).collect();
            let (d, n) = (norm(&diff), norm(f));
            assert!(
                d <= 0.02 * n + 1e-12,
                "{}: {d} against a norm of {n}",
                spec.name
            );
        }
    }
}
