//! A training step through burn's autodiff on any device (the fused CPU step is held to it).

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

use super::state::{Penalties, State, StepLoss};
use crate::entropy::prior::{noise, LIKELIHOOD_BOUND};
use crate::model::{images_to_tensor, l2_loss, tensor_to_vec, Autoencoder, ModelConfig, Weights};

/// Runs training steps on burn: its forward and backward pass, then the fused update.
pub struct BurnStepper {
    penalties: Penalties,
    device: Device,
}

impl BurnStepper {
    /// A stepper with the given penalties on `device` (an autodiff wrapper is added).
    pub fn new(penalties: Penalties, device: &Device) -> Self {
        Self {
            penalties,
            device: device.clone().autodiff(),
        }
    }

    /// One step on a batch of tiles (3,072 bytes each) at learning rate `lr`.
    pub fn step(&mut self, state: &mut State, lr: f32, batch_pixels: &[u8]) -> StepLoss {
        let model = Autoencoder::from_weights(&state.weights, &self.device, true);
        let images = images_to_tensor(batch_pixels, &self.device);
        let codes = model.encode(images.clone());
        let prior = state
            .weights
            .config
            .prior
            .then(|| BurnPrior::new(&state.weights, &self.device));
        let (decoder_input, bits) = match &prior {
            Some(p) => {
                let [batch, l] = codes.dims();
                let u = noise(self.penalties.seed, state.step, batch * l);
                let zhat = p.noisy(codes.clone(), u, &self.device);
                let bits = p.bits(zhat.clone());
                (zhat, Some(bits))
            }
            None => (codes.clone(), None),
        };
        let reconstruction = l2_loss(model.decode(decoder_input), images);
        let mut loss = reconstruction.clone();
        let penalty =
            (self.penalties.l1 > 0.0).then(|| codes.abs().sum().mul_scalar(self.penalties.l1));
        if let Some(p) = &penalty {
            loss = loss + p.clone();
        }
        if let Some(b) = &bits {
            loss = loss + b.clone().mul_scalar(self.penalties.rate_lambda);
        }
        let grads = loss.backward();
        let mut gradients = model.gradients(&grads);
        if let Some(p) = &prior {
            gradients.extend(p.gradients(&grads));
        }
        let value =
            |t: Option<Tensor<1>>| t.map_or(0.0, |t| f64::from(tensor_to_vec(t.inner())[0]));
        let result = StepLoss {
            l2: value(Some(reconstruction)),
            l1: value(penalty),
            bits: value(bits),
        };
        state
            .optimizer
            .step(lr, &mut state.weights.tensors, &gradients);
        state.step += 1;
        result
    }
}

/// The prior's parameters as burn leaves, and the rate of noisy codes in burn's operations
/// (the formulas of [`crate::entropy::prior`]).
struct BurnPrior {
    loc: Tensor<1>,
    log_scale: Tensor<1>,
    log_step: Tensor<1>,
}

impl BurnPrior {
    fn new(weights: &Weights, device: &Device) -> Self {
        let n = ModelConfig::NETWORK_TENSORS;
        let leaf = |v: &[f32]| {
            Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), device).require_grad()
        };
        Self {
            loc: leaf(&weights.tensors[n]),
            log_scale: leaf(&weights.tensors[n + 1]),
            log_step: leaf(&weights.tensors[n + 2]),
        }
    }

    /// `[L]` to `[batch, L]`.
    fn rows(t: &Tensor<1>, batch: usize) -> Tensor<2> {
        t.clone().unsqueeze::<2>().repeat_dim(0, batch)
    }

    /// `z + Δ·u`.
    fn noisy(&self, codes: Tensor<2>, u: Vec<f32>, device: &Device) -> Tensor<2> {
        let [batch, l] = codes.dims();
        let u = Tensor::<2>::from_data(TensorData::new(u, [batch, l]), device);
        codes + u * Self::rows(&self.log_step.clone().exp(), batch)
    }

    /// `Σ −log2 max(|σ(s·a) − σ(s·b)|, bound)` with `s = −sign(a + b)`, which takes the
    /// difference in the tail where it does not cancel.
    fn bits(&self, zhat: Tensor<2>) -> Tensor<1> {
        let [batch, _] = zhat.dims();
        let scale = Self::rows(&self.log_scale.clone().exp(), batch);
        let half = Self::rows(&self.log_step.clone().exp(), batch).mul_scalar(0.5);
        let centre = zhat - Self::rows(&self.loc, batch);
        let a = (centre.clone() + half.clone()) / scale.clone();
        let b = (centre - half) / scale;
        let s = (a.clone() + b.clone()).sign().neg();
        let p = (sigmoid(s.clone() * a) - sigmoid(s * b))
            .abs()
            .clamp_min(LIKELIHOOD_BOUND as f32);
        p.log().sum().neg().div_scalar(std::f32::consts::LN_2)
    }

    fn gradients(&self, grads: &burn::tensor::Gradients) -> Vec<Vec<f32>> {
        [&self.loc, &self.log_scale, &self.log_step]
            .into_iter()
            .map(|t| match t.grad(grads) {
                Some(g) => tensor_to_vec(g),
                None => vec![0.0; t.dims()[0]],
            })
            .collect()
    }
}
