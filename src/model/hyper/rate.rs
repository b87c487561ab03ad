//! The training objective of the hyperprior family: `λ·255²·MSE + bits per pixel`
//! (CompressAI's units: MSE of pixels in [0, 1], so `255²·MSE` is the MSE in 8-bit units).
//!
//! In training, rounding is replaced by additive uniform noise for the rate of `y` and `z`
//! (Ballé et al. 2017); the synthesis reads `round(y)` through a straight-through gradient, as
//! decoding does (Minnen & Singh 2020's "mixed" quantization), so that it learns the values it
//! will be given.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

use super::net::{HyperNet, Transform};
use super::{HyperConfig, SCALE_BOUND};
use crate::entropy::prior::LIKELIHOOD_BOUND;

/// Uniform noise in [−½, ½) for `y` and for `z`.
pub struct Noise {
    /// One value per element of `y`.
    pub y: Vec<f32>,
    /// One value per element of `z`.
    pub z: Vec<f32>,
}

impl Noise {
    /// The noise of training step `step` of a run seeded `seed`, for a batch of `b` images of
    /// `h×w` pixels and a model of `config`'s sizes.
    pub fn draw(
        seed: u64,
        step: u64,
        (b, h, w): (usize, usize, usize),
        config: HyperConfig,
    ) -> Self {
        let (ys, zs) = latent_shapes(b, h, w, config.m, config.n);
        let n_y: usize = ys.iter().product();
        let n_z: usize = zs.iter().product();
        let mut y = crate::entropy::prior::noise(seed, step, n_y + n_z);
        let z = y.split_off(n_y);
        Self { y, z }
    }
}

/// The loss of a batch `[B, 3, H, W]` (pixels in [0, 1]) as a scalar tensor, with its parts.
/// `noise` is drawn for `y`'s and `z`'s shapes, which [`latent_shapes`] gives.
pub fn loss(
    net: &HyperNet,
    images: Tensor<4>,
    noise: Noise,
    lambda: f64,
    device: &Device,
) -> (Tensor<1>, Tensor<1>, Tensor<1>, Tensor<1>) {
    let [b, _, h, w] = images.dims();
    let pixels = (b * h * w) as f64;
    let m = net.config().m;
    let y = net.run(Transform::Analysis, images.clone());
    let z = net.run(Transform::HyperAnalysis, y.clone().abs());
    let z_noisy = z.clone() + tensor_like(&z, noise.z, device);
    let (loc, log_scale) = net.z_prior();
    let bits_z = logistic_bits(z_noisy.clone(), loc, log_scale);
    let mut raw = net.run(Transform::HyperSynthesis, z_noisy);
    if net.config().context {
        raw = with_context(net, raw, &y, device);
    }
    let (raw_scales, means) = split_hyper(raw, m);
    let y_noisy = y.clone() + tensor_like(&y, noise.y, device);
    // A scale-only model's means are 0: the same formulas.
    let centred = y_noisy - means.clone();
    let scales = bounded_scales(raw_scales, &centred);
    let bits_y = gaussian_bits(centred, scales);
    // ŷ = round(y − μ) + μ, its gradient straight through to y (none to μ, as CompressAI's
    // `quantize(…, "dequantize", means)` with its straight-through rounding).
    let quantized = (y.clone() - means.clone()).round() + means;
    let y_rounded = y.clone() + (quantized - y).detach();
    let x_hat = net.run(Transform::Synthesis, y_rounded);
    let diff = x_hat - images;
    let mse = (diff.clone() * diff).mean();
    let bpp_y = bits_y.div_scalar(pixels);
    let bpp_z = bits_z.div_scalar(pixels);
    let total = mse.clone().mul_scalar(lambda * 255.0 * 255.0) + bpp_y.clone() + bpp_z.clone();
    (total, mse, bpp_y, bpp_z)
}

/// `h_s`'s output `raw` refined by the checkerboard context of `y` (see
/// `crate::train::hyper::fused`'s context): the anchors (even `row + column`) by the parameter
/// network reading `raw` beside zeros, the others by it reading `raw` beside the context
/// convolution of the anchors' `ŷ`.
pub fn with_context(net: &HyperNet, raw: Tensor<4>, y: &Tensor<4>, device: &Device) -> Tensor<4> {
    let [b, c, h, w] = raw.dims();
    let m = c / 2;
    let anchor: Vec<f32> = (0..h * w)
        .map(|p| f32::from(u8::from(super::is_anchor(p / w, p % w))))
        .collect();
    let anchor = Tensor::<4>::from_data(TensorData::new(anchor, [1, 1, h, w]), device);
    let other = anchor.clone().neg().add_scalar(1.0);
    let zeros = Tensor::zeros([b, c, h, w], device);
    let first = net.run_context(1, Tensor::cat(vec![raw.clone(), zeros], 1));
    let (_, means) = split_hyper(raw.clone() + first.clone(), m);
    // The anchors' ŷ = round(y − μ) + μ, straight through to y, zeros elsewhere.
    let quantized = (y.clone() - means.clone()).round() + means;
    let decoded = (y.clone() + (quantized - y.clone()).detach()) * anchor.clone();
    let context = net.run_context(0, decoded);
    let second = net.run_context(1, Tensor::cat(vec![raw.clone(), context], 1));
    raw + first * anchor + second * other
}

/// `h_s`'s output `[B, C, h, w]` as the raw scales (the first `m` channels) and the means
/// (the next `m`; zeros for a scale-only model).
pub fn split_hyper(raw: Tensor<4>, m: usize) -> (Tensor<4>, Tensor<4>) {
    let [b, c, h, w] = raw.dims();
    if c == m {
        let zeros = Tensor::zeros([b, m, h, w], &raw.device());
        return (raw, zeros);
    }
    (raw.clone().narrow(1, 0, m), raw.narrow(1, m, m))
}

fn tensor_like(t: &Tensor<4>, values: Vec<f32>, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, t.dims()), device)
}

/// `max(raw, SCALE_BOUND)`, whose gradient passes where `raw` is at or above the bound and,
/// below it, where a larger scale would lower the bits of `y_noisy` (CompressAI's `LowerBound`
/// passes gradients that would raise the value). A bound that stops every gradient below it
/// lets scales that sink under it never come back: a hyperprior trained so predicts the bound
/// everywhere.
pub fn bounded_scales(raw: Tensor<4>, y_noisy: &Tensor<4>) -> Tensor<4> {
    let bounded = raw.clone().clamp_min(SCALE_BOUND);
    // d bits/dσ < 0 where l·φ(l) > u·φ(u), u = (½ − |y|)/σ, l = (−½ − |y|)/σ, at σ = bound.
    let a = y_noisy.clone().detach().abs();
    let t_phi = |t: Tensor<4>| t.clone() * (t.clone() * t).mul_scalar(-0.5).exp();
    let u = a.clone().neg().add_scalar(0.5).div_scalar(SCALE_BOUND);
    let l = a.neg().sub_scalar(0.5).div_scalar(SCALE_BOUND);
    let raises = t_phi(l).greater(t_phi(u));
    let pass = raw
        .clone()
        .detach()
        .greater_equal_elem(SCALE_BOUND)
        .bool_or(raises)
        .float();
    let through = raw * pass;
    through.clone() + (bounded - through).detach()
}

/// Bits of noisy `y` under zero-mean Gaussians of the given scales: `−log2 P`, with
/// `P = Φ((½ − |y|)/σ) − Φ((−½ − |y|)/σ)` (the lower tail, where f32 keeps its precision).
pub fn gaussian_bits(y: Tensor<4>, scales: Tensor<4>) -> Tensor<1> {
    let a = y.abs();
    let phi = |v: Tensor<4>| {
        v.mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
            .erf()
            .add_scalar(1.0)
            .mul_scalar(0.5)
    };
    let upper = phi((a.clone().neg().add_scalar(0.5)) / scales.clone());
    let lower = phi((a.neg().sub_scalar(0.5)) / scales);
    bits(upper - lower)
}

/// Bits of noisy `z` `[B, C, h, w]` under per-channel logistic densities.
pub fn logistic_bits(z: Tensor<4>, loc: Tensor<1>, log_scale: Tensor<1>) -> Tensor<1> {
    let c = loc.dims()[0];
    let loc = loc.reshape([1, c, 1, 1]);
    let inv_scale = log_scale.neg().exp().reshape([1, c, 1, 1]);
    let a = (z - loc).abs();
    let upper = sigmoid((a.clone().neg().add_scalar(0.5)) * inv_scale.clone());
    let lower = sigmoid((a.neg().sub_scalar(0.5)) * inv_scale);
    bits(upper - lower)
}

/// `−log2 max(p, bound)`, summed. Below the bound the gradient passes through as if `p` were
/// at the bound (CompressAI's `LowerBound`, which passes gradients that would raise `p`, and
/// every gradient of a bit count does): values the prior all but rules out still teach it.
fn bits(p: Tensor<4>) -> Tensor<1> {
    let floored = p.clone() + (p.clone().clamp_min(LIKELIHOOD_BOUND) - p).detach();
    floored.log().sum().mul_scalar(-std::f64::consts::LOG2_E)
}

/// Shapes of `y` and `z` for a batch of `b` images of `h×w` pixels (multiples of
/// [`super::TOTAL_STRIDE`]) and `m`, `n` channels.
pub fn latent_shapes(b: usize, h: usize, w: usize, m: usize, n: usize) -> ([usize; 4], [usize; 4]) {
    let (ys, zs) = (super::Y_STRIDE, super::TOTAL_STRIDE);
    ([b, m, h / ys, w / ys], [b, n, h / zs, w / zs])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Below the bound, the gradient passes only where a larger scale means fewer bits.
    #[test]
    fn scale_bound_passes_gradients_that_raise_the_scale() {
        let device = Device::flex().autodiff();
        let t = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 1, 1, 3]), &device);
        // Below the bound at 0 (a larger scale costs bits), below it at 1.2 (a larger scale
        // saves bits), above it at 0.
        let raw = t(vec![0.05, 0.05, 0.2]).require_grad();
        let y = t(vec![0.0, 1.2, 0.0]);
        let scales = bounded_scales(raw.clone(), &y);
        let values = super::super::net::host(scales.clone().inner());
        assert_eq!(values, vec![SCALE_BOUND, SCALE_BOUND, 0.2]);
        let grads = gaussian_bits(y, scales).backward();
        let g = super::super::net::host(raw.grad(&grads).expect("gradient"));
        assert_eq!(g[0], 0.0);
        assert!(g[1] < 0.0, "{g:?}");
        assert!(g[2] > 0.0, "{g:?}");
    }
}
