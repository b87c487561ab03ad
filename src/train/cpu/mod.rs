//! A fused CPU training step: the autoencoder's forward pass, its gradients and the TensorFlow 1
//! RMSProp update, computed in place on the host weights.
//!
//! It computes what [`crate::train::BurnStepper`] computes with burn's autodiff (a test holds
//! the two to each other) without moving 16 MB of weights into tensors and 16 MB of gradients
//! back out on every step. The 28,800 × `code_length` encoder matrix, which holds 91% of the
//! parameters, is visited once in the backward pass: block by block, its rows give the input
//! gradient, their own gradient is formed in cache and the optimizer updates them at once, so
//! that gradient never reaches memory; at small batches the decoder's matrix is treated the same
//! way (`decoder_matrix.rs`). Other matrix products run on the `gemm` crate (burn's flex
//! backend's kernels), and the own kernels give `gemm`'s bits where they replace it; everything
//! per tile runs on all cores, and tanh is the rational one of the crate's
//! internal `kernels` module.

mod decoder_matrix;
mod encoder_matrix;
#[cfg(target_arch = "x86_64")]
mod simd;

use rayon::prelude::*;

use super::state::{Penalties, State, StepLoss};
use crate::cpu_path::Path;
use crate::entropy::prior::{noise, rate, Prior, RateGrads};
use crate::kernels::{
    deconv_tile, gemm, im2col, matmul, sum, tanh_in_place, tanh_parallel, MatRef,
};
use crate::model::{ModelConfig, CHANNELS, INNER, KERNEL, TILE, TILE_VALUES};
use encoder_matrix::FeatureGrad;
pub use encoder_matrix::STREAMING_MAX_BATCH;

/// Rows of a 3×3 patch matrix: (channel, ky, kx).
const PATCH: usize = CHANNELS * KERNEL * KERNEL;
/// Positions of a valid 3×3 convolution on a tile.
const POSITIONS: usize = INNER * INNER;
/// Values of the decoder's hidden layer (3 × 30 × 30).
const HIDDEN: usize = CHANNELS * INNER * INNER;
/// Values of the transposed convolution's kernel.
const DECONV: usize = CHANNELS * CHANNELS * KERNEL * KERNEL;

/// Runs training steps on the CPU, keeping its intermediate buffers between steps.
#[derive(Debug, Default)]
pub struct CpuStepper {
    penalties: Penalties,
    /// Per tile, the 27 × 900 patch matrix of its pixels.
    patches: Vec<f32>,
    /// Per tile, the encoder's features after tanh (`filters × 900`, burn's flatten order).
    features: Vec<f32>,
    /// The same, transposed (`flat × batch`), for the streaming kernels (written by their
    /// forward pass).
    features_t: Vec<f32>,
    /// Codes (`batch × code_length`), then the gradient at the code layer's input. With a
    /// prior, `codes` holds the noisy codes the decoder reads and `clean_codes` the encoder's.
    codes: Vec<f32>,
    clean_codes: Vec<f32>,
    /// The step's training noise, and the rate's gradients.
    noise: Vec<f32>,
    rate_grads: RateGrads,
    code_grad: Vec<f32>,
    /// Decoder's hidden layer after tanh, and the gradient at its input.
    hidden: Vec<f32>,
    hidden_grad: Vec<f32>,
    /// Reconstructions, then the gradient at the sigmoid's input.
    output: Vec<f32>,
    /// Gradient at the encoder's features.
    feature_grad: FeatureGrad,
    /// Per tile: conv kernel and bias gradients, then deconv kernel and bias gradients.
    tile_grads: Vec<f32>,
    tile_losses: Vec<f64>,
    /// Gradients of every parameter but the encoder matrix, in parameter order.
    grads: Vec<Vec<f32>>,
}

impl CpuStepper {
    /// A stepper with the given penalties.
    pub fn new(penalties: Penalties) -> Self {
        Self {
            penalties,
            ..Self::default()
        }
    }

    fn size_for(&mut self, config: ModelConfig, batch: usize) {
        let (f, l, flat) = (config.filters, config.code_length, config.flat_features());
        self.patches.resize(batch * PATCH * POSITIONS, 0.0);
        self.features.resize(batch * flat, 0.0);
        self.codes.resize(batch * l, 0.0);
        self.code_grad.resize(batch * l, 0.0);
        self.hidden.resize(batch * HIDDEN, 0.0);
        self.hidden_grad.resize(batch * HIDDEN, 0.0);
        self.output.resize(batch * TILE_VALUES, 0.0);
        self.feature_grad.resize(batch, flat);
        let streams = encoder_matrix::streams(batch, config.code_length);
        self.features_t
            .resize(if streams { batch * flat } else { 0 }, 0.0);
        self.tile_grads.resize(batch * tile_grad_len(f), 0.0);
        self.tile_losses.resize(batch, 0.0);
        let sizes: Vec<usize> = config.param_specs().iter().map(|s| s.len()).collect();
        self.grads.resize(sizes.len(), Vec::new());
        for (i, (g, n)) in self.grads.iter_mut().zip(sizes).enumerate() {
            // The two matrices' gradients are their modules' business (the encoder's is never
            // materialised; the decoder's slot is scratch for its `gemm` path).
            if i != 2 && i != 4 {
                g.resize(n, 0.0);
            }
        }
    }

    /// Decoder dense layer: the gradient at the code (from the matrix before its update),
    /// then the matrix's update with its gradient (RMSProp `settings`, rate `lr`, `slot`),
    /// and the bias's gradient.
    fn decoder_backward(
        &mut self,
        dec_w: &mut [f32],
        (settings, lr, slot): (crate::optim::RmsPropSettings, f32, &mut Vec<f32>),
        batch: usize,
        l: usize,
    ) {
        gemm(
            &mut self.code_grad,
            false,
            MatRef::new(&self.hidden_grad, batch, HIDDEN),
            MatRef::new(dec_w, l, HIDDEN).t(),
            true,
        );
        decoder_matrix::backward_update(
            settings,
            lr,
            &self.codes,
            &self.hidden_grad,
            dec_w,
            slot,
            batch,
            &mut self.grads[4],
        );
        sum_rows(&self.hidden_grad, HIDDEN, &mut self.grads[5]);
    }

    /// One step on a batch of tiles (3,072 bytes each) at learning rate `lr`; returns the
    /// loss's terms before the update.
    ///
    /// # Panics
    /// If `state`'s weights or slots do not have the shapes of its config.
    pub fn step(&mut self, state: &mut State, lr: f32, pixels: &[u8]) -> StepLoss {
        let config = state.weights.config;
        let (f, l) = (config.filters, config.code_length);
        let batch = pixels.len() / TILE_VALUES;
        self.size_for(config, batch);
        let (network, prior) = state
            .weights
            .tensors
            .split_at_mut(ModelConfig::NETWORK_TENSORS);
        let [conv_w, conv_b, enc_w, enc_b, dec_w, dec_b, deconv_w, deconv_b] = network else {
            panic!("a model has eight network tensors");
        };
        let settings = state.optimizer.settings;
        let slots = &mut state.optimizer.mean_square;

        self.conv_forward(conv_w, conv_b, pixels, config);
        self.encoder_forward(enc_w, enc_b, batch, l);
        if config.prior {
            self.add_noise(&prior[2], state.step, batch, l);
        }
        self.decoder_forward(dec_w, dec_b, batch);
        let loss = self.output_backward(deconv_w, deconv_b, pixels, f);

        self.decoder_backward(dec_w, (settings, lr, &mut slots[4]), batch, l);
        let bits = match config.prior {
            true => rate_backward(
                RateInputs {
                    zhat: &self.codes,
                    noise: &self.noise,
                    lambda: self.penalties.rate_lambda,
                },
                prior,
                &mut self.code_grad,
                &mut self.rate_grads,
                &mut self.grads[ModelConfig::NETWORK_TENSORS..],
            ),
            false => 0.0,
        };
        let penalty = self.code_backward(l);

        // Encoder dense layer: gradient at the features, and the fused update of its matrix.
        encoder_matrix::backward_update(
            settings,
            lr,
            &self.features_t,
            &self.features,
            &self.code_grad,
            enc_w,
            &mut slots[2],
            &mut self.feature_grad,
        );
        self.conv_backward(config);
        self.sum_tile_grads(f);

        // Every other parameter's update.
        let params: [(usize, &mut Vec<f32>); 6] = [
            (0, conv_w),
            (1, conv_b),
            (3, enc_b),
            (5, dec_b),
            (6, deconv_w),
            (7, deconv_b),
        ];
        let others = params
            .into_iter()
            .chain((ModelConfig::NETWORK_TENSORS..).zip(prior.iter_mut()));
        for (i, w) in others {
            state.optimizer.step_tensor(i, lr, w, &self.grads[i]);
        }
        state.step += 1;
        StepLoss {
            l2: loss,
            l1: penalty,
            bits,
        }
    }

    /// Forward: convolution and tanh per tile, into `features`.
    fn conv_forward(&mut self, conv_w: &[f32], conv_b: &[f32], pixels: &[u8], c: ModelConfig) {
        let (f, flat) = (c.filters, c.flat_features());
        self.patches
            .par_chunks_mut(PATCH * POSITIONS)
            .zip(self.features.par_chunks_mut(flat))
            .zip(pixels.par_chunks(TILE_VALUES))
            .for_each(|((patches, features), tile)| {
                im2col(tile, patches);
                for (plane, &b) in features.chunks_exact_mut(POSITIONS).zip(conv_b.iter()) {
                    plane.fill(b);
                }
                matmul(f, POSITIONS, PATCH, conv_w, patches, features, true, false);
                tanh_in_place(features);
            });
    }

    /// The encoder's dense layer and tanh, into `codes` (and `clean_codes`).
    fn encoder_forward(&mut self, enc_w: &[f32], enc_b: &[f32], batch: usize, l: usize) {
        for row in self.codes.chunks_exact_mut(l) {
            row.copy_from_slice(enc_b);
        }
        encoder_matrix::forward(
            &self.features,
            &mut self.features_t,
            enc_w,
            &mut self.codes,
            batch,
            l,
        );
        tanh_in_place(&mut self.codes);
        self.clean_codes.clone_from(&self.codes);
    }

    /// The training noise of step `step`: `codes` become `z + Δ·u`.
    fn add_noise(&mut self, log_step: &[f32], step: u64, batch: usize, l: usize) {
        self.noise = noise(self.penalties.seed, step, batch * l);
        for (k, (c, &u)) in self.codes.iter_mut().zip(&self.noise).enumerate() {
            *c += log_step[k % l].exp() * u;
        }
    }

    /// The decoder's dense layer and tanh, into `hidden`.
    fn decoder_forward(&mut self, dec_w: &[f32], dec_b: &[f32], batch: usize) {
        for row in self.hidden.chunks_exact_mut(HIDDEN) {
            row.copy_from_slice(dec_b);
        }
        decoder_matrix::forward(&self.codes, dec_w, &mut self.hidden, batch);
        tanh_parallel(Path::detect(), &mut self.hidden);
    }

    /// Transposed convolution and sigmoid, the loss, and the way back to the hidden layer,
    /// per tile; returns the batch's `l2_loss`.
    fn output_backward(
        &mut self,
        deconv_w: &[f32],
        deconv_b: &[f32],
        pixels: &[u8],
        f: usize,
    ) -> f64 {
        let tile_grad = tile_grad_len(f);
        self.output
            .par_chunks_mut(TILE_VALUES)
            .zip(self.hidden.par_chunks(HIDDEN))
            .zip(self.hidden_grad.par_chunks_mut(HIDDEN))
            .zip(pixels.par_chunks(TILE_VALUES))
            .zip(self.tile_grads.par_chunks_mut(tile_grad))
            .zip(self.tile_losses.par_iter_mut())
            .for_each(|(((((out, hidden), hidden_grad), tile), grads), loss)| {
                deconv_tile(Path::detect(), deconv_w, deconv_b, hidden, out);
                let mut squared = 0f64;
                for (y, &p) in out.iter_mut().zip(tile) {
                    let d = *y - f32::from(p) / 255.0;
                    squared += f64::from(d * d);
                    // d loss / d (sigmoid input) = (y − target) · y · (1 − y)
                    *y = d * *y * (1.0 - *y);
                }
                *loss = 0.5 * squared;
                let (_, deconv_grads) = grads.split_at_mut(f * PATCH + f);
                let (kernel_grad, bias_grad) = deconv_grads.split_at_mut(DECONV);
                deconv_backward(deconv_w, hidden, out, hidden_grad, kernel_grad, bias_grad);
                for (g, &h) in hidden_grad.iter_mut().zip(hidden) {
                    *g *= 1.0 - h * h;
                }
            });
        self.tile_losses.iter().sum()
    }

    /// The L1 penalty's gradient and the code's tanh, then the encoder bias's gradient;
    /// returns the penalty.
    fn code_backward(&mut self, l: usize) -> f64 {
        let l1 = self.penalties.l1;
        let mut penalty = 0f64;
        for (g, &z) in self.code_grad.iter_mut().zip(&self.clean_codes) {
            if l1 > 0.0 {
                penalty += f64::from(z.abs());
                // d|z|/dz = sign(z), 0 at 0
                if z != 0.0 {
                    *g += l1 * z.signum();
                }
            }
            *g *= 1.0 - z * z;
        }
        sum_rows(&self.code_grad, l, &mut self.grads[3]);
        penalty * f64::from(l1)
    }

    /// The convolution's gradients, per tile, into `tile_grads`.
    fn conv_backward(&mut self, c: ModelConfig) {
        let (f, flat) = (c.filters, c.flat_features());
        let feature_grad = &self.feature_grad;
        self.patches
            .par_chunks(PATCH * POSITIONS)
            .zip(self.features.par_chunks(flat))
            .zip(self.tile_grads.par_chunks_mut(tile_grad_len(f)))
            .enumerate()
            .for_each_init(
                || vec![0f32; flat],
                |pre, (t, ((patches, features), grads))| {
                    feature_grad.image(t, pre);
                    for (p, &x) in pre.iter_mut().zip(features) {
                        *p *= 1.0 - x * x;
                    }
                    // The kernel's gradient, transposed (27 × filters): the product's wide side
                    // suits the gemm kernels better that way round.
                    let (kernel_grad_t, rest) = grads.split_at_mut(f * PATCH);
                    gemm(
                        kernel_grad_t,
                        false,
                        MatRef::new(patches, PATCH, POSITIONS),
                        MatRef::new(pre, f, POSITIONS).t(),
                        false,
                    );
                    for (b, plane) in rest[..f].iter_mut().zip(pre.chunks_exact(POSITIONS)) {
                        *b = sum(plane);
                    }
                },
            );
    }

    /// Per-tile gradients summed in tile order (the result does not depend on threads).
    fn sum_tile_grads(&mut self, f: usize) {
        let grads = &mut self.grads;
        for i in [0, 1, 6, 7] {
            grads[i].fill(0.0);
        }
        for per_tile in self.tile_grads.chunks_exact(tile_grad_len(f)) {
            let (kernel_t, rest) = per_tile.split_at(f * PATCH);
            let (bias, rest) = rest.split_at(f);
            let (deconv_kernel, deconv_bias) = rest.split_at(DECONV);
            for (k, row) in kernel_t.chunks_exact(f).enumerate() {
                for (filter, &v) in row.iter().enumerate() {
                    grads[0][filter * PATCH + k] += v;
                }
            }
            add(&mut grads[1], bias);
            add(&mut grads[6], deconv_kernel);
            add(&mut grads[7], deconv_bias);
        }
    }
}

/// The noisy codes of a step, its noise and the rate's weight.
struct RateInputs<'a> {
    zhat: &'a [f32],
    noise: &'a [f32],
    lambda: f32,
}

/// The rate of the noisy codes: adds λ·dR/dẑ to the code gradient (which holds the
/// distortion's dD/dẑ) and writes the prior's gradients (location, log-scale, log-step) into
/// `grads`; returns the rate in bits.
fn rate_backward(
    x: RateInputs<'_>,
    prior: &[Vec<f32>],
    code_grad: &mut [f32],
    r: &mut RateGrads,
    grads: &mut [Vec<f32>],
) -> f64 {
    let l = prior[0].len();
    let p = Prior {
        loc: &prior[0],
        log_scale: &prior[1],
        log_step: &prior[2],
    };
    let bits = rate(x.zhat, p, Some(r));
    for (g, &dr) in code_grad.iter_mut().zip(&r.code) {
        *g += x.lambda * dr;
    }
    for (i, source) in [&r.loc, &r.log_scale, &r.log_step].into_iter().enumerate() {
        grads[i].clear();
        grads[i].extend(source.iter().map(|&v| x.lambda * v));
    }
    // The noise's share of the step's gradient: ∂ẑ/∂log Δ = Δ·u, times dL/dẑ.
    for (k, (&g, &u)) in code_grad.iter().zip(x.noise).enumerate() {
        let d = k % l;
        grads[2][d] += g * u * prior[2][d].exp();
    }
    bits
}

/// Values of one tile's share of the small gradients: conv kernel and bias, deconv kernel and
/// bias.
fn tile_grad_len(filters: usize) -> usize {
    filters * PATCH + filters + DECONV + CHANNELS
}

fn add(acc: &mut [f32], v: &[f32]) {
    for (a, &b) in acc.iter_mut().zip(v) {
        *a += b;
    }
}

/// Column sums of a row-major matrix with `width` columns, rows added in order.
fn sum_rows(m: &[f32], width: usize, out: &mut [f32]) {
    out.fill(0.0);
    for row in m.chunks_exact(width) {
        add(out, row);
    }
}

/// Gradients of a transposed 3×3 convolution (stride 1, no padding) on one tile, given the
/// gradient `g` at its output (3 × 32 × 32) and its input `h` (3 × 30 × 30):
/// `dW[i, o, ky, kx] = Σ h[i, y, x]·g[o, y+ky, x+kx]`, `db[o] = Σ g[o]` and
/// `dh[i, y, x] = Σ w[i, o, ky, kx]·g[o, y+ky, x+kx]`.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn deconv_backward(
    w: &[f32],
    h: &[f32],
    g: &[f32],
    dh: &mut [f32],
    dw: &mut [f32],
    db: &mut [f32],
) {
    for (b, plane) in db.iter_mut().zip(g.chunks_exact(TILE * TILE)) {
        *b = sum(plane);
    }
    dh.fill(0.0);
    for i in 0..CHANNELS {
        for o in 0..CHANNELS {
            for ky in 0..KERNEL {
                for kx in 0..KERNEL {
                    let k = ((i * CHANNELS + o) * KERNEL + ky) * KERNEL + kx;
                    let wv = w[k];
                    // One partial sum per column keeps the loop vectorised.
                    let mut acc = [0f32; INNER];
                    for y in 0..INNER {
                        let h_row = &h[(i * INNER + y) * INNER..][..INNER];
                        let g_row = &g[(o * TILE + y + ky) * TILE + kx..][..INNER];
                        let dh_row = &mut dh[(i * INNER + y) * INNER..][..INNER];
                        for x in 0..INNER {
                            acc[x] += h_row[x] * g_row[x];
                            dh_row[x] += wv * g_row[x];
                        }
                    }
                    dw[k] = acc.iter().sum();
                }
            }
        }
    }
}

/// Smooth pseudo-random values in [−0.3, 0.3] for the kernels' tests.
#[cfg(test)]
fn test_values(n: usize, seed: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 + seed) * 0.618).sin() * 0.3)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::burn_step::BurnStepper;
    use burn::tensor::Device;

    /// Pseudo-random tiles with some structure.
    fn tiles(n: usize) -> Vec<u8> {
        (0..n * TILE_VALUES)
            .map(|i| ((i * 37 + i / 7 + (i / 1024) * 91) % 256) as u8)
            .collect()
    }

    /// One step at learning rate 1 with slots at one moves each value by about its gradient
    /// (`g/√(0.9 + 0.1g²)`) and sets its slot to `0.9 + 0.1g²`, so comparing the stepped
    /// weights and slots compares the gradients of the two paths.
    fn compare(config: ModelConfig, batch: usize, l1: f32) {
        compare_with(
            config,
            batch,
            Penalties {
                l1,
                ..Penalties::default()
            },
        );
    }

    fn compare_with(config: ModelConfig, batch: usize, penalties: Penalties) {
        let pixels = tiles(batch);
        let mut fused = State::new(config, 3);
        let mut burn = State::new(config, 3);
        let c = CpuStepper::new(penalties).step(&mut fused, 1.0, &pixels);
        let b = BurnStepper::new(penalties, &Device::flex()).step(&mut burn, 1.0, &pixels);
        assert!(
            (c.l2 - b.l2).abs() < 1e-5 * b.l2,
            "loss {} vs {}",
            c.l2,
            b.l2
        );
        assert!(
            (c.l1 - b.l1).abs() < 1e-5 * b.l1.max(1.0),
            "L1 {} vs {}",
            c.l1,
            b.l1
        );
        assert!(
            (c.bits - b.bits).abs() < 1e-4 * b.bits.max(1.0),
            "rate {} vs {}",
            c.bits,
            b.bits
        );
        assert_eq!(c.bits > 0.0, config.prior);
        let specs = config.param_specs();
        let pairs = fused
            .weights
            .tensors
            .iter()
            .zip(&burn.weights.tensors)
            .chain(
                fused
                    .optimizer
                    .mean_square
                    .iter()
                    .zip(&burn.optimizer.mean_square),
            );
        for (k, (a, b)) in pairs.enumerate() {
            let name = specs[k % specs.len()].name;
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-4 * scale.max(1e-3),
                "{name} ({}): differs by {worst} (scale {scale})",
                if k < specs.len() { "weights" } else { "slots" }
            );
        }
        assert_eq!(fused.step, 1);
    }

    #[test]
    fn fused_step_matches_burn() {
        let small = ModelConfig {
            code_length: 24,
            filters: 5,
            prior: false,
        };
        compare(small, 3, 0.0);
        compare(small, 70, 0.5);
        compare(ModelConfig::default(), 4, 0.01);
    }

    #[test]
    fn fused_step_with_a_prior_matches_burn() {
        let small = ModelConfig {
            code_length: 24,
            filters: 5,
            prior: true,
        };
        for (batch, rate_lambda, l1) in [(3, 0.01, 0.0), (12, 0.2, 0.05), (50, 0.002, 0.0)] {
            let penalties = Penalties {
                l1,
                rate_lambda,
                seed: 9,
            };
            compare_with(small, batch, penalties);
        }
        let reference = ModelConfig {
            prior: true,
            ..ModelConfig::default()
        };
        compare_with(
            reference,
            10,
            Penalties {
                l1: 0.0,
                rate_lambda: 0.005,
                seed: 1,
            },
        );
    }

    #[test]
    fn deconv_backward_matches_finite_differences() {
        // Loss Σ c·deconv(h) (before bias and sigmoid) is linear in w and h, so its gradients
        // are exact sums that a direct evaluation gives too.
        let w: Vec<f32> = (0..DECONV).map(|i| (i as f32 * 0.37).sin()).collect();
        let h: Vec<f32> = (0..HIDDEN).map(|i| (i as f32 * 0.11).cos()).collect();
        let g: Vec<f32> = (0..TILE_VALUES).map(|i| (i as f32 * 0.07).sin()).collect();
        let (mut dh, mut dw, mut db) = (vec![0f32; HIDDEN], vec![0f32; DECONV], [0f32; 3]);
        deconv_backward(&w, &h, &g, &mut dh, &mut dw, &mut db);
        let value = |w: &[f32], h: &[f32]| -> f64 {
            let mut total = 0f64;
            for i in 0..CHANNELS {
                for o in 0..CHANNELS {
                    for ky in 0..KERNEL {
                        for kx in 0..KERNEL {
                            let wv = w[((i * CHANNELS + o) * KERNEL + ky) * KERNEL + kx];
                            for y in 0..INNER {
                                for x in 0..INNER {
                                    total += f64::from(h[(i * INNER + y) * INNER + x] * wv)
                                        * f64::from(g[(o * TILE + y + ky) * TILE + x + kx]);
                                }
                            }
                        }
                    }
                }
            }
            total
        };
        let base = value(&w, &h);
        for k in [0, 13, 40, 80] {
            let mut w2 = w.clone();
            w2[k] += 1.0;
            let fd = value(&w2, &h) - base;
            assert!(
                (fd - f64::from(dw[k])).abs() < 1e-3,
                "dw[{k}]: {fd} vs {}",
                dw[k]
            );
        }
        for j in [0, 31, 900, 2699] {
            let mut h2 = h.clone();
            h2[j] += 1.0;
            let fd = value(&w, &h2) - base;
            assert!(
                (fd - f64::from(dh[j])).abs() < 1e-3,
                "dh[{j}]: {fd} vs {}",
                dh[j]
            );
        }
        let plane: f32 = g[1024..2048].iter().sum();
        assert!((db[1] - plane).abs() < 1e-4);
    }
}
