//! The tiled family (the seed notebook's autoencoder): its configuration, its weights on the
//! host, and its burn module.
//!
//! The architecture is the seed notebook's, in burn's NCHW layout:
//!
//! ```text
//! image 3×32×32 ─ conv 3×3, F filters, valid, tanh ─ flatten F·30·30 ─ dense L, tanh  = the code
//! code L ─ dense 2,700, tanh ─ reshape 3×30×30 ─ transposed conv 3×3, 3 filters, valid, sigmoid ─ 3×32×32
//! ```
//!
//! [`Weights`] is the host-side copy of every parameter (what model files hold and what the
//! optimizer updates); [`Autoencoder`] is the same model as a burn module on a device.

use burn::module::{Module, Param, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Side of the square tiles the model codes, in pixels.
pub const TILE: usize = 32;
/// Colour channels of the model's input and output.
pub const CHANNELS: usize = 3;
/// Side of the convolution kernels.
pub const KERNEL: usize = 3;
/// Side of the feature maps after the valid 3×3 convolution (32 − 3 + 1).
pub const INNER: usize = TILE - KERNEL + 1;
/// Values in one tile (3 × 32 × 32).
pub const TILE_VALUES: usize = CHANNELS * TILE * TILE;

/// The architecture's free parameters. Travels with the weights in every model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Numbers in one tile's code (the notebook's 128).
    pub code_length: usize,
    /// Filters of the encoder's convolution (the notebook's 32).
    pub filters: usize,
    /// The code is quantized and entropy-coded with a learned factorized prior
    /// ([`crate::entropy`]): three more tensors, a location, a log-scale and a log-step per
    /// code value. The notebook's model has none.
    #[serde(default)]
    pub prior: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            code_length: 128,
            filters: 32,
            prior: false,
        }
    }
}

/// A model size outside what aec builds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value} is outside 1..={max}")]
pub struct ConfigError {
    /// Which size.
    pub what: &'static str,
    /// Its value.
    pub value: usize,
    /// The largest allowed.
    pub max: usize,
}

impl ConfigError {
    /// Checks `1 <= value <= max`.
    pub fn check(what: &'static str, value: usize, max: usize) -> Result<(), ConfigError> {
        if (1..=max).contains(&value) {
            Ok(())
        } else {
            Err(ConfigError { what, value, max })
        }
    }
}

/// Name, shape and Glorot fans of one parameter tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Name in model files, e.g. `encoder.conv.weight`.
    pub name: &'static str,
    /// Shape in burn's layout.
    pub shape: Vec<usize>,
    /// Fan-in and fan-out as TensorFlow's Glorot initialiser computes them; `None` for biases
    /// and the prior's tensors, which start at [`ParamSpec::fill`].
    pub fans: Option<(usize, usize)>,
    /// Starting value of every element when `fans` is `None` (0 for biases).
    pub fill: f32,
}

impl ParamSpec {
    /// Number of values in the tensor.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ModelConfig {
    /// Largest code length a model may have (also bounds what a model file may declare).
    pub const MAX_CODE_LENGTH: usize = 4096;
    /// Largest filter count a model may have.
    pub const MAX_FILTERS: usize = 1024;

    /// Values after the encoder's convolution, flattened.
    pub fn flat_features(&self) -> usize {
        self.filters * INNER * INNER
    }

    /// Checks that the configuration describes a buildable model.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check("code length", self.code_length, Self::MAX_CODE_LENGTH)?;
        ConfigError::check("filter count", self.filters, Self::MAX_FILTERS)
    }

    /// The parameter tensors, in a fixed order used everywhere (files, optimizer, gradients).
    ///
    /// Fans follow TensorFlow: a convolution kernel of shape (kh, kw, in, out) has
    /// fan-in kh·kw·in and fan-out kh·kw·out; for the transposed convolution TensorFlow's kernel
    /// is (kh, kw, out, in), which here (3 → 3 channels) gives the same numbers.
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        let k2 = KERNEL * KERNEL;
        let (f, l, flat, dec) = (
            self.filters,
            self.code_length,
            self.flat_features(),
            CHANNELS * INNER * INNER,
        );
        let mut specs = vec![
            ParamSpec {
                name: "encoder.conv.weight",
                shape: vec![f, CHANNELS, KERNEL, KERNEL],
                fans: Some((k2 * CHANNELS, k2 * f)),
                fill: 0.0,
            },
            ParamSpec {
                name: "encoder.conv.bias",
                shape: vec![f],
                fans: None,
                fill: 0.0,
            },
            ParamSpec {
                name: "encoder.dense.weight",
                shape: vec![flat, l],
                fans: Some((flat, l)),
                fill: 0.0,
            },
            ParamSpec {
                name: "encoder.dense.bias",
                shape: vec![l],
                fans: None,
                fill: 0.0,
            },
            ParamSpec {
                name: "decoder.dense.weight",
                shape: vec![l, dec],
                fans: Some((l, dec)),
                fill: 0.0,
            },
            ParamSpec {
                name: "decoder.dense.bias",
                shape: vec![dec],
                fans: None,
                fill: 0.0,
            },
            ParamSpec {
                name: "decoder.deconv.weight",
                shape: vec![CHANNELS, CHANNELS, KERNEL, KERNEL],
                fans: Some((k2 * CHANNELS, k2 * CHANNELS)),
                fill: 0.0,
            },
            ParamSpec {
                name: "decoder.deconv.bias",
                shape: vec![CHANNELS],
                fans: None,
                fill: 0.0,
            },
        ];
        if self.prior {
            for (name, fill) in [
                ("prior.loc", 0.0),
                ("prior.log_scale", crate::entropy::prior::INITIAL_LOG_SCALE),
                ("quant.log_step", crate::entropy::prior::INITIAL_LOG_STEP),
            ] {
                specs.push(ParamSpec {
                    name,
                    shape: vec![l],
                    fans: None,
                    fill,
                });
            }
        }
        specs
    }

    /// Number of the autoencoder's own tensors (the prior's, if any, follow them).
    pub const NETWORK_TENSORS: usize = 8;

    /// Total number of trainable values (4,035,808 for the reference configuration).
    pub fn parameter_count(&self) -> usize {
        self.param_specs().iter().map(ParamSpec::len).sum()
    }
}

/// Every parameter of a model, on the host, in [`ModelConfig::param_specs`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// The architecture these values belong to.
    pub config: ModelConfig,
    /// One flat row-major buffer per parameter tensor.
    pub tensors: Vec<Vec<f32>>,
}

impl Weights {
    /// Glorot-uniform kernels and zero biases, as TensorFlow's layers initialise them,
    /// drawn from a ChaCha8 stream seeded with `seed` (the same on every platform).
    pub fn glorot(config: ModelConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let tensors = config
            .param_specs()
            .iter()
            .map(|spec| match spec.fans {
                Some((fan_in, fan_out)) => {
                    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                    (0..spec.len())
                        .map(|_| rng.random_range(-limit..limit))
                        .collect()
                }
                None => vec![spec.fill; spec.len()],
            })
            .collect();
        Self { config, tensors }
    }

    /// Checks that every buffer has the length its spec asks for.
    pub fn check_shapes(&self) -> Result<(), String> {
        let specs = self.config.param_specs();
        if specs.len() != self.tensors.len() {
            return Err(format!(
                "expected {} tensors, found {}",
                specs.len(),
                self.tensors.len()
            ));
        }
        for (spec, values) in specs.iter().zip(&self.tensors) {
            if spec.len() != values.len() {
                return Err(format!(
                    "{} should hold {} values, holds {}",
                    spec.name,
                    spec.len(),
                    values.len()
                ));
            }
        }
        Ok(())
    }

    /// Total number of values.
    pub fn parameter_count(&self) -> usize {
        self.tensors.iter().map(Vec::len).sum()
    }

    /// The same weights rounded to f16 and back, i.e. what an f16 model file stores.
    pub fn rounded_to_f16(&self) -> Self {
        Self {
            config: self.config,
            tensors: self
                .tensors
                .iter()
                .map(|t| t.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect())
                .collect(),
        }
    }
}

/// The autoencoder as a burn module.
#[derive(Module, Debug)]
pub struct Autoencoder {
    conv: Conv2d,
    encode_dense: Linear,
    decode_dense: Linear,
    deconv: ConvTranspose2d,
}

fn tensor<const D: usize>(values: &[f32], shape: &[usize], device: &Device) -> Tensor<D> {
    let shape: [usize; D] = shape.try_into().expect("parameter rank matches its spec");
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

fn param<const D: usize>(t: Tensor<D>, require_grad: bool) -> Param<Tensor<D>> {
    let t = if require_grad { t.require_grad() } else { t };
    Param::initialized(ParamId::new(), t)
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .expect("float tensor data")
}

impl Autoencoder {
    /// Builds the module from host weights on `device`. With `require_grad` (on an autodiff
    /// device) every parameter is a leaf whose gradient `backward` retains.
    pub fn from_weights(weights: &Weights, device: &Device, require_grad: bool) -> Self {
        let c = weights.config;
        let specs = c.param_specs();
        let t = &weights.tensors;
        let mut conv = Conv2dConfig::new([CHANNELS, c.filters], [KERNEL, KERNEL]).init(device);
        conv.weight = param(tensor(&t[0], &specs[0].shape, device), require_grad);
        conv.bias = Some(param(tensor(&t[1], &specs[1].shape, device), require_grad));
        let mut encode_dense = LinearConfig::new(c.flat_features(), c.code_length).init(device);
        encode_dense.weight = param(tensor(&t[2], &specs[2].shape, device), require_grad);
        encode_dense.bias = Some(param(tensor(&t[3], &specs[3].shape, device), require_grad));
        let mut decode_dense =
            LinearConfig::new(c.code_length, CHANNELS * INNER * INNER).init(device);
        decode_dense.weight = param(tensor(&t[4], &specs[4].shape, device), require_grad);
        decode_dense.bias = Some(param(tensor(&t[5], &specs[5].shape, device), require_grad));
        let mut deconv =
            ConvTranspose2dConfig::new([CHANNELS, CHANNELS], [KERNEL, KERNEL]).init(device);
        deconv.weight = param(tensor(&t[6], &specs[6].shape, device), require_grad);
        deconv.bias = Some(param(tensor(&t[7], &specs[7].shape, device), require_grad));
        Self {
            conv,
            encode_dense,
            decode_dense,
            deconv,
        }
    }

    /// The module's configuration, read off its weight shapes.
    pub fn config(&self) -> ModelConfig {
        let [filters, ..] = self.conv.weight.dims();
        let [_, code_length] = self.encode_dense.weight.dims();
        ModelConfig {
            code_length,
            filters,
            prior: false,
        }
    }

    fn biases(&self) -> [Tensor<1>; 4] {
        let bias = |b: &Option<Param<Tensor<1>>>| b.as_ref().expect("layers have biases").val();
        [
            bias(&self.conv.bias),
            bias(&self.encode_dense.bias),
            bias(&self.decode_dense.bias),
            bias(&self.deconv.bias),
        ]
    }

    /// Copies every parameter back to the host.
    pub fn to_weights(&self) -> Weights {
        let [b0, b1, b2, b3] = self.biases();
        Weights {
            config: self.config(),
            tensors: vec![
                host(self.conv.weight.val()),
                host(b0),
                host(self.encode_dense.weight.val()),
                host(b1),
                host(self.decode_dense.weight.val()),
                host(b2),
                host(self.deconv.weight.val()),
                host(b3),
            ],
        }
    }

    /// The gradient of every parameter after `backward`, on the host, in spec order.
    pub fn gradients(&self, grads: &Gradients) -> Vec<Vec<f32>> {
        fn g<const D: usize>(t: Tensor<D>, grads: &Gradients) -> Vec<f32> {
            let shape = t.dims();
            match t.grad(grads) {
                Some(grad) => host(grad),
                // A parameter the loss does not reach has a zero gradient.
                None => vec![0.0; shape.iter().product()],
            }
        }
        let [b0, b1, b2, b3] = self.biases();
        vec![
            g(self.conv.weight.val(), grads),
            g(b0, grads),
            g(self.encode_dense.weight.val(), grads),
            g(b1, grads),
            g(self.decode_dense.weight.val(), grads),
            g(b2, grads),
            g(self.deconv.weight.val(), grads),
            g(b3, grads),
        ]
    }

    /// Images `[batch, 3, 32, 32]` in [0, 1] to codes `[batch, code_length]` in (−1, 1).
    pub fn encode(&self, images: Tensor<4>) -> Tensor<2> {
        let features = self.conv.forward(images).tanh();
        self.encode_dense
            .forward(features.flatten::<2>(1, 3))
            .tanh()
    }

    /// Codes `[batch, code_length]` to images `[batch, 3, 32, 32]` in (0, 1).
    pub fn decode(&self, codes: Tensor<2>) -> Tensor<4> {
        let [batch, _] = codes.dims();
        let hidden = self.decode_dense.forward(codes).tanh();
        sigmoid(
            self.deconv
                .forward(hidden.reshape([batch, CHANNELS, INNER, INNER])),
        )
    }

    /// The codes and the reconstructions of a batch of images.
    pub fn forward(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<4>) {
        let codes = self.encode(images);
        let output = self.decode(codes.clone());
        (codes, output)
    }
}

/// TensorFlow's `l2_loss` of the reconstruction error: 0.5 × the sum of squared differences
/// over the whole batch.
pub fn l2_loss(output: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    (output - target).square().sum().mul_scalar(0.5)
}

/// Turns a batch of tiles (each 3×32×32 bytes, channel-major as in CIFAR-10 records) into an
/// input tensor with pixels divided by 255.
pub fn images_to_tensor(pixels: &[u8], device: &Device) -> Tensor<4> {
    let batch = pixels.len() / TILE_VALUES;
    let values: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    Tensor::from_data(
        TensorData::new(values, [batch, CHANNELS, TILE, TILE]),
        device,
    )
}

/// Copies a tensor's values to the host.
pub fn tensor_to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    host(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_parameter_count() {
        assert_eq!(ModelConfig::default().parameter_count(), 4_035_808);
        let w = Weights::glorot(ModelConfig::default(), 1);
        assert_eq!(w.parameter_count(), 4_035_808);
        w.check_shapes().unwrap();
    }

    #[test]
    fn glorot_limits_and_zero_biases() {
        let config = ModelConfig::default();
        let w = Weights::glorot(config, 7);
        for (spec, values) in config.param_specs().iter().zip(&w.tensors) {
            match spec.fans {
                Some((fi, fo)) => {
                    let limit = (6.0 / (fi + fo) as f64).sqrt() as f32;
                    assert!(values.iter().all(|v| v.abs() <= limit), "{}", spec.name);
                    let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
                    assert!(max > 0.9 * limit, "{} does not fill its range", spec.name);
                }
                None => assert!(values.iter().all(|&v| v == spec.fill), "{}", spec.name),
            }
        }
        assert_eq!(w, Weights::glorot(config, 7));
        assert_ne!(w, Weights::glorot(config, 8));
    }

    #[test]
    fn shapes_through_the_model() {
        let device = Device::flex();
        let config = ModelConfig {
            code_length: 16,
            filters: 4,
            prior: false,
        };
        let model = Autoencoder::from_weights(&Weights::glorot(config, 1), &device, false);
        assert_eq!(model.config(), config);
        let images = images_to_tensor(&vec![128u8; 2 * TILE_VALUES], &device);
        let (codes, output) = model.forward(images);
        assert_eq!(codes.dims(), [2, 16]);
        assert_eq!(output.dims(), [2, 3, 32, 32]);
        let out = tensor_to_vec(output);
        assert!(out.iter().all(|&v| v > 0.0 && v < 1.0));
        let back = model.to_weights();
        assert_eq!(back, Weights::glorot(config, 1));
    }

    #[test]
    fn l2_loss_is_half_the_sum_of_squares() {
        let device = Device::flex();
        let a = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 0.5, 0.25], [1, 1, 2, 2]),
            &device,
        );
        let b = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 1.0, 0.0, 0.75], [1, 1, 2, 2]),
            &device,
        );
        // 0.5 × (1 + 0 + 0.25 + 0.25) = 0.75
        let loss = tensor_to_vec(l2_loss(a, b));
        assert!((loss[0] - 0.75).abs() < 1e-7);
    }
}
