//! The hyperprior family's four transforms in burn, built from [`HyperWeights`].
//!
//! Every parameter is one flat leaf tensor, reshaped where a layer uses it, so that gradients come
//! back in the order of [`HyperConfig::param_specs`] for the host optimizer.

use burn::tensor::module::{conv2d, conv_transpose2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Gradients, Tensor, TensorData};

use super::{HyperConfig, HyperWeights, Layer};

/// What GDN adds to γ and β so that they stay positive (CompressAI's reparametrisation pedestal
/// is 2^-36; γ = γ'² + pedestal, β = β'² + pedestal here).
pub const GDN_PEDESTAL: f32 = 1.0 / (1u64 << 36) as f32;

/// The network on a device: one leaf tensor per parameter.
pub struct HyperNet {
    config: HyperConfig,
    leaves: Vec<Tensor<1>>,
    /// Index of each network's first leaf (g_a, g_s, h_a, h_s), then of the prior of `z`, then
    /// of the context's networks.
    starts: [usize; 6],
}

/// The four transforms, by position in [`HyperConfig::networks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Image to `y`.
    Analysis = 0,
    /// `ŷ` to image.
    Synthesis = 1,
    /// `|y|` to `z`.
    HyperAnalysis = 2,
    /// `ẑ` to the scales of `y` (and their means, for a mean-scale model).
    HyperSynthesis = 3,
}

impl HyperNet {
    /// Uploads `weights` to `device`. With `require_grad` (on an autodiff device) every
    /// parameter is a leaf whose gradient `backward` retains.
    pub fn from_weights(weights: &HyperWeights, device: &Device, require_grad: bool) -> Self {
        let leaves = weights
            .tensors
            .iter()
            .map(|t| {
                let leaf = Tensor::<1>::from_data(TensorData::new(t.clone(), [t.len()]), device);
                if require_grad {
                    leaf.require_grad()
                } else {
                    leaf
                }
            })
            .collect();
        let starts = weights.config.network_starts();
        Self {
            config: weights.config,
            leaves,
            starts,
        }
    }

    /// The architecture.
    pub fn config(&self) -> HyperConfig {
        self.config
    }

    /// Runs one transform on a batch `[B, C, H, W]`.
    pub fn run(&self, transform: Transform, x: Tensor<4>) -> Tensor<4> {
        let k = transform as usize;
        self.run_layers(&self.config.networks()[k].1, self.starts[k], x)
    }

    /// Runs the checkerboard context's convolution (`0`) or parameter network (`1`).
    pub fn run_context(&self, which: usize, x: Tensor<4>) -> Tensor<4> {
        let networks = self.config.context_networks();
        self.run_layers(&networks[which].1, self.starts[5] + 2 * which, x)
    }

    /// Runs `layers`, whose parameters start at leaf `leaf`.
    fn run_layers(&self, layers: &[Layer], mut leaf: usize, mut x: Tensor<4>) -> Tensor<4> {
        for layer in layers {
            x = match *layer {
                Layer::Conv(i, o, size, stride) => {
                    let w = self.leaves[leaf].clone().reshape([o, i, size, size]);
                    let b = self.leaves[leaf + 1].clone();
                    let p = size / 2;
                    conv2d(
                        x,
                        w,
                        Some(b),
                        ConvOptions::new([stride; 2], [p; 2], [1; 2], 1),
                    )
                }
                Layer::Deconv(i, o, size, stride) => {
                    let w = self.leaves[leaf].clone().reshape([i, o, size, size]);
                    let b = self.leaves[leaf + 1].clone();
                    let options = ConvTransposeOptions::new(
                        [stride; 2],
                        [size / 2; 2],
                        [stride - 1; 2],
                        [1; 2],
                        1,
                    );
                    conv_transpose2d(x, w, Some(b), options)
                }
                Layer::Gdn(c, inverse) => self.gdn(x, leaf, c, inverse),
                Layer::Relu => burn::tensor::activation::relu(x),
            };
            if !matches!(layer, Layer::Relu) {
                leaf += 2;
            }
        }
        x
    }

    /// GDN: `x / sqrt(β + γ·x²)` over channels; IGDN multiplies instead.
    fn gdn(&self, x: Tensor<4>, leaf: usize, c: usize, inverse: bool) -> Tensor<4> {
        let square = |t: Tensor<1>| t.clone() * t;
        let beta = square(self.leaves[leaf].clone()).add_scalar(GDN_PEDESTAL);
        let gamma = square(self.leaves[leaf + 1].clone())
            .add_scalar(GDN_PEDESTAL)
            .reshape([c, c, 1, 1]);
        let norm = conv2d(
            x.clone() * x.clone(),
            gamma,
            Some(beta),
            ConvOptions::new([1; 2], [0; 2], [1; 2], 1),
        )
        .sqrt();
        if inverse {
            x * norm
        } else {
            x / norm
        }
    }

    /// The prior of `z`: its per-channel location and log-scale.
    pub fn z_prior(&self) -> (Tensor<1>, Tensor<1>) {
        let s = self.starts[4];
        (self.leaves[s].clone(), self.leaves[s + 1].clone())
    }

    /// The gradient of every parameter, in [`HyperConfig::param_specs`] order (zeros for a
    /// parameter the loss does not reach).
    pub fn gradients(&self, grads: &Gradients) -> Vec<Vec<f32>> {
        self.leaves
            .iter()
            .map(|leaf| match leaf.grad(grads) {
                Some(g) => host(g),
                None => vec![0.0; leaf.dims()[0]],
            })
            .collect()
    }
}

/// A tensor's values on the host.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .expect("float tensor data")
}
