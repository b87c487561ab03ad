//! The whole-image convolutional family: Ballé, Minnen, Singh, Hwang, Johnston 2018, "Variational
//! image compression with a scale hyperprior" (CompressAI's `bmshj2018-hyperprior`).
//!
//! ```text
//! x ─ g_a: conv 5×5/2, N ─ GDN ─ conv 5×5/2, N ─ GDN ─ conv 5×5/2, N ─ GDN ─ conv 5×5/2, M ─ y
//! |y| ─ h_a: conv 3×3/1, N ─ ReLU ─ conv 5×5/2, N ─ ReLU ─ conv 5×5/2, N ─ z
//! ẑ ─ h_s: deconv 5×5/2, N ─ ReLU ─ deconv 5×5/2, N ─ ReLU ─ conv 3×3/1, M ─ ReLU ─ σ (scales of y)
//!      (mean-scale models: the last convolution has 2M outputs and no ReLU: σ, then μ)
//! ŷ ─ g_s: deconv 5×5/2, N ─ IGDN ─ deconv 5×5/2, N ─ IGDN ─ deconv 5×5/2, N ─ IGDN ─ deconv 5×5/2, 3 ─ x̂
//! ```
//!
//! `y` is coded with a zero-mean Gaussian whose scale `h_s` predicts from `ẑ` (a mean-scale
//! model, Minnen, Ballé, Toderici 2018, also predicts a mean `μ` per value, and codes
//! `round(y − μ)`); `z` with a per-channel logistic prior (the factorized prior of
//! [`crate::entropy::prior`]).
//! [`HyperWeights`] holds every parameter on the host in the order of
//! [`HyperConfig::param_specs`]; [`net`] runs the network in burn.

pub mod cpu;
pub mod file;
pub mod integer;
pub mod net;
pub mod rate;
pub mod widen;

use rand::{Rng, SeedableRng};

use super::ConfigError;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Downsampling of `y` against the image (four stride-2 layers).
pub const Y_STRIDE: usize = 16;
/// Downsampling of `z` against the image; images are padded to a multiple of it.
pub const TOTAL_STRIDE: usize = 64;
/// Smallest scale the Gaussian conditional uses (CompressAI's bound).
pub const SCALE_BOUND: f32 = 0.11;

/// Whether the latent at `(row, column)` is an anchor of the checkerboard context: coded in
/// the first pass, with `h_s`'s parameters alone; the others read the anchors' decoded values.
pub fn is_anchor(row: usize, column: usize) -> bool {
    (row + column).is_multiple_of(2)
}

/// Channel counts of the hyperprior family. Travels with the weights in every model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HyperConfig {
    /// Channels of the transforms' hidden layers and of `z` (Ballé's N).
    pub n: usize,
    /// Channels of the latent `y` (Ballé's M).
    pub m: usize,
    /// Whether `h_s` also predicts each latent's mean (Minnen et al. 2018's mean-scale
    /// hyperprior); absent from older files, which are scale-only.
    #[serde(default)]
    pub means: bool,
    /// Whether a checkerboard context (He et al. 2021) refines the means and scales of half of
    /// the latents from the other half's decoded values; only with `means`. Absent from older
    /// files, which have none.
    #[serde(default)]
    pub context: bool,
}

impl Default for HyperConfig {
    fn default() -> Self {
        Self::new(64, 96)
    }
}

/// What kind of layer a parameter tensor belongs to, which decides its starting values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// PyTorch's default for a convolution kernel: uniform in ±1/√fan_in.
    Kernel {
        /// Inputs per output value.
        fan_in: usize,
    },
    /// PyTorch's default for a convolution bias: uniform in ±1/√fan_in.
    Bias {
        /// Inputs per output value of the layer.
        fan_in: usize,
    },
    /// Square root of GDN's β (starts at 1).
    GdnBeta,
    /// Square root of GDN's γ (starts at √0.1 on the diagonal, ≈0 elsewhere).
    GdnGamma,
    /// Every value starts at this number (the prior of `z`).
    Fill(f32),
}

/// Name, shape and initialisation of one parameter tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct HyperSpec {
    /// Name in model files, e.g. `g_a.0.weight`.
    pub name: String,
    /// Shape in burn's layout.
    pub shape: Vec<usize>,
    /// How the tensor starts.
    pub init: Init,
}

impl HyperSpec {
    /// Number of values in the tensor.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One layer of the four networks, as `net` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// A convolution `(in, out, kernel, stride)`, padding kernel/2.
    Conv(usize, usize, usize, usize),
    /// A transposed convolution `(in, out, kernel, stride)` that multiplies the size by the stride.
    Deconv(usize, usize, usize, usize),
    /// GDN (`inverse` = IGDN) over this many channels.
    Gdn(usize, bool),
    /// ReLU.
    Relu,
}

impl HyperConfig {
    /// Largest channel count a model may have (also bounds what a model file may declare).
    pub const MAX_CHANNELS: usize = 1024;

    /// A scale-only model of `n` and `m` channels.
    pub fn new(n: usize, m: usize) -> Self {
        Self {
            n,
            m,
            means: false,
            context: false,
        }
    }

    /// The same sizes with means predicted (or not).
    pub fn with_means(self, means: bool) -> Self {
        Self { means, ..self }
    }

    /// The same sizes with a checkerboard context (and so means), or without one.
    pub fn with_context(self, context: bool) -> Self {
        Self {
            context,
            means: self.means || context,
            ..self
        }
    }

    /// The checkerboard context's two networks: the context convolution, which reads the
    /// anchors' `ŷ` (zeros elsewhere), and the parameter network, which reads `h_s`'s output
    /// and the context's side by side and adds its output to `h_s`'s (1×1 convolutions).
    pub fn context_networks(&self) -> [(&'static str, Vec<Layer>); 2] {
        use Layer::*;
        let m = self.m;
        [
            ("c", vec![Conv(m, 2 * m, 5, 1)]),
            (
                "e",
                vec![Conv(4 * m, 3 * m, 1, 1), Relu, Conv(3 * m, 2 * m, 1, 1)],
            ),
        ]
    }

    /// The kind of hyperprior, in words.
    pub fn kind(&self) -> &'static str {
        match (self.means, self.context) {
            (_, true) => "mean-scale hyperprior, checkerboard context",
            (true, false) => "mean-scale hyperprior",
            (false, false) => "scale hyperprior",
        }
    }

    /// Channels of `h_s`'s output: the scales, then the means of a mean-scale model.
    pub fn hyper_outputs(&self) -> usize {
        if self.means {
            2 * self.m
        } else {
            self.m
        }
    }

    /// The layers of the analysis, synthesis, hyper-analysis and hyper-synthesis transforms.
    pub fn networks(&self) -> [(&'static str, Vec<Layer>); 4] {
        use Layer::*;
        let (n, m) = (self.n, self.m);
        [
            (
                "g_a",
                vec![
                    Conv(3, n, 5, 2),
                    Gdn(n, false),
                    Conv(n, n, 5, 2),
                    Gdn(n, false),
                    Conv(n, n, 5, 2),
                    Gdn(n, false),
                    Conv(n, m, 5, 2),
                ],
            ),
            (
                "g_s",
                vec![
                    Deconv(m, n, 5, 2),
                    Gdn(n, true),
                    Deconv(n, n, 5, 2),
                    Gdn(n, true),
                    Deconv(n, n, 5, 2),
                    Gdn(n, true),
                    Deconv(n, 3, 5, 2),
                ],
            ),
            (
                "h_a",
                vec![
                    Conv(m, n, 3, 1),
                    Relu,
                    Conv(n, n, 5, 2),
                    Relu,
                    Conv(n, n, 5, 2),
                ],
            ),
            ("h_s", {
                let mut h_s = vec![Deconv(n, n, 5, 2), Relu, Deconv(n, n, 5, 2), Relu];
                // Scale-only models end in a ReLU. Mean-scale models have none (the means are
                // signed; the scales' bound of 0.11 makes a ReLU before it change nothing
                // forward: max(max(s, 0), 0.11) = max(s, 0.11)).
                h_s.push(Conv(n, self.hyper_outputs(), 3, 1));
                if !self.means {
                    h_s.push(Relu);
                }
                h_s
            }),
        ]
    }

    /// Checks that the configuration describes a buildable model.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check("channel count N", self.n, Self::MAX_CHANNELS)?;
        ConfigError::check("channel count M", self.m, Self::MAX_CHANNELS)?;
        // A context refines predicted means; a model without them has nothing to refine.
        let means = usize::from(self.means || !self.context);
        ConfigError::check("means of a context model (1: predicted)", means, 1)
    }

    /// The parameter tensors in a fixed order used everywhere (files, optimizer, gradients):
    /// each network's layers in order, then the prior of `z` (location, log-scale per channel),
    /// then the context's networks if there is one (from [`Self::network_starts`]`[5]` on).
    pub fn param_specs(&self) -> Vec<HyperSpec> {
        let mut specs = Vec::new();
        for (net, layers) in self.networks() {
            for (i, layer) in layers.iter().enumerate() {
                layer_specs(&mut specs, &format!("{net}.{i}"), *layer);
            }
        }
        for (what, fill) in [("loc", 0.0), ("log_scale", 0.0)] {
            specs.push(HyperSpec {
                name: format!("z_prior.{what}"),
                shape: vec![self.n],
                init: Init::Fill(fill),
            });
        }
        if self.context {
            for (net, layers) in self.context_networks() {
                for (i, layer) in layers.iter().enumerate() {
                    layer_specs(&mut specs, &format!("{net}.{i}"), *layer);
                }
            }
            // The parameter network's last layer starts at zero, so that the context adds
            // nothing until it is trained (and a model given one codes as before).
            let last = specs.len() - 2;
            for spec in &mut specs[last..] {
                spec.init = Init::Fill(0.0);
            }
        }
        specs
    }

    /// Index in [`Self::param_specs`] of each network's first tensor (g_a, g_s, h_a, h_s), then
    /// of the prior of `z`, then of the tensors after it (the context's, if any).
    pub fn network_starts(&self) -> [usize; 6] {
        let mut starts = [0; 6];
        for (k, (_, layers)) in self.networks().iter().enumerate() {
            let tensors = layers.iter().filter(|l| !matches!(l, Layer::Relu)).count() * 2;
            starts[k + 1] = starts[k] + tensors;
        }
        starts[5] = starts[4] + 2;
        starts
    }

    /// Multiply-adds per image pixel of the forward pass of all four transforms.
    pub fn macs_per_pixel(&self) -> f64 {
        let mut total = 0.0;
        for (name, layers) in self.networks() {
            // Values per image pixel at the network's input: g_a reads the image, g_s and h_a
            // read y (stride 16), h_s reads z (stride 64).
            let mut scale = match name {
                "g_a" => 1.0,
                "h_s" => 1.0 / (TOTAL_STRIDE * TOTAL_STRIDE) as f64,
                _ => 1.0 / (Y_STRIDE * Y_STRIDE) as f64,
            };
            for layer in layers {
                match layer {
                    Layer::Conv(i, o, k, s) => {
                        scale /= (s * s) as f64;
                        total += scale * (i * o * k * k) as f64;
                    }
                    Layer::Deconv(i, o, k, s) => {
                        total += scale * (i * o * k * k) as f64;
                        scale *= (s * s) as f64;
                    }
                    _ => {}
                }
            }
        }
        if self.context {
            // Both context networks run at every latent.
            let per_latent: usize = (self.context_networks().iter())
                .flat_map(|(_, layers)| layers)
                .map(|l| match *l {
                    Layer::Conv(i, o, k, _) => i * o * k * k,
                    _ => 0,
                })
                .sum();
            total += per_latent as f64 / (Y_STRIDE * Y_STRIDE) as f64;
        }
        total
    }
}

fn layer_specs(specs: &mut Vec<HyperSpec>, prefix: &str, layer: Layer) {
    let mut push = |what: &str, shape: Vec<usize>, init| {
        specs.push(HyperSpec {
            name: format!("{prefix}.{what}"),
            shape,
            init,
        })
    };
    match layer {
        Layer::Conv(i, o, k, _) => {
            let fan_in = i * k * k;
            push("weight", vec![o, i, k, k], Init::Kernel { fan_in });
            push("bias", vec![o], Init::Bias { fan_in });
        }
        Layer::Deconv(i, o, k, _) => {
            // PyTorch computes a transposed convolution's fan-in from dimension 1 of its
            // (in, out, k, k) weight, i.e. out·k·k.
            let fan_in = o * k * k;
            push("weight", vec![i, o, k, k], Init::Kernel { fan_in });
            push("bias", vec![o], Init::Bias { fan_in });
        }
        Layer::Gdn(c, _) => {
            push("beta", vec![c], Init::GdnBeta);
            push("gamma", vec![c, c], Init::GdnGamma);
        }
        Layer::Relu => {}
    }
}

/// Every parameter of a hyperprior model, on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HyperWeights {
    /// The architecture.
    pub config: HyperConfig,
    /// One flat tensor per [`HyperConfig::param_specs`] entry, in that order.
    pub tensors: Vec<Vec<f32>>,
}

impl HyperWeights {
    /// Fresh weights drawn from `seed` (ChaCha8), initialised as CompressAI's PyTorch modules are.
    pub fn init(config: HyperConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let tensors = config
            .param_specs()
            .iter()
            .map(|spec| init_tensor(spec, &mut rng))
            .collect();
        Self { config, tensors }
    }

    /// Draws the hyper networks (`h_a`, `h_s`) and the prior of `z` afresh from `seed`, keeping
    /// the analysis and synthesis: restarts a hyperprior that has stopped carrying information.
    pub fn redraw_hyper(&mut self, seed: u64) {
        let fresh = Self::init(self.config, seed);
        // Networks in `networks()` order: g_a, g_s, h_a, h_s, then the prior of z.
        let from = self.config.network_starts()[2];
        self.tensors[from..].clone_from_slice(&fresh.tensors[from..]);
    }

    /// The mean-scale model that starts as this scale-only one: `h_s`'s last convolution gets
    /// `m` more outputs, the means, whose weights and biases start at zero (so every mean is
    /// 0 and the model codes exactly as before until it is trained). Returns `self` unchanged
    /// if it already predicts means.
    pub fn with_means(mut self) -> Self {
        if self.config.means {
            return self;
        }
        let (n, m) = (self.config.n, self.config.m);
        // h_s's last weight and bias are the last tensors before the prior of z.
        let bias = self.config.network_starts()[4] - 1;
        self.tensors[bias - 1].resize(2 * m * n * 9, 0.0);
        self.tensors[bias].resize(2 * m, 0.0);
        self.config = self.config.with_means(true);
        self
    }

    /// The checkerboard-context model that starts as this one (given zero means first if it has
    /// none): the context's tensors drawn from `seed`, its parameter network's last layer at
    /// zero, so that it codes as before until trained. Returns `self` unchanged if it already
    /// has a context.
    pub fn with_context(self, seed: u64) -> Self {
        if self.config.context {
            return self;
        }
        let mut weights = self.with_means();
        let config = weights.config.with_context(true);
        let fresh = Self::init(config, seed);
        let from = config.network_starts()[5];
        weights.tensors.extend_from_slice(&fresh.tensors[from..]);
        weights.config = config;
        weights
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.tensors.iter().map(Vec::len).sum()
    }
}

fn init_tensor(spec: &HyperSpec, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = spec.len();
    match spec.init {
        Init::Kernel { fan_in } | Init::Bias { fan_in } => {
            let bound = 1.0 / (fan_in as f32).sqrt();
            (0..n).map(|_| rng.random_range(-bound..bound)).collect()
        }
        Init::GdnBeta => vec![1.0; n],
        Init::GdnGamma => {
            let c = spec.shape[0];
            (0..n)
                .map(|i| {
                    if i / c == i % c {
                        0.1f32.sqrt()
                    } else {
                        net::GDN_PEDESTAL.sqrt()
                    }
                })
                .collect()
        }
        Init::Fill(v) => vec![v; n],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redraw_keeps_the_transforms() {
        let c = HyperConfig::new(8, 12);
        let mut w = HyperWeights::init(c, 1);
        let (before, other) = (w.clone(), HyperWeights::init(c, 2));
        w.redraw_hyper(2);
        let from = c.network_starts()[2];
        assert_eq!(w.tensors[..from], before.tensors[..from]);
        assert_eq!(w.tensors[from..], other.tensors[from..]);
    }

    #[test]
    fn specs_cover_every_layer_once() {
        let c = HyperConfig::new(8, 12);
        let specs = c.param_specs();
        let names: std::collections::BTreeSet<_> = specs.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names.len(), specs.len(), "names are unique");
        // 4 conv + 3 GDN in g_a and g_s, 3 conv in h_a and h_s, 2 prior tensors.
        assert_eq!(specs.len(), 2 * (4 * 2 + 3 * 2) + 2 * (3 * 2) + 2);
        let w = HyperWeights::init(c, 1);
        assert_eq!(w.tensors.len(), specs.len());
        for (t, s) in w.tensors.iter().zip(&specs) {
            assert_eq!(t.len(), s.len(), "{}", s.name);
        }
        assert_eq!(w, HyperWeights::init(c, 1), "initialisation is seeded");
    }

    #[test]
    fn cost_matches_balle_figure() {
        // The issue's figure: N=128, M=192 costs about 75,000 multiply-adds per pixel.
        let macs = HyperConfig::new(128, 192).macs_per_pixel();
        assert!((70_000.0..80_000.0).contains(&macs), "{macs}");
    }

    #[test]
    fn validate_bounds_channels() {
        assert!(HyperConfig::new(0, 4).validate().is_err());
        assert!(HyperConfig::new(4, 5000).validate().is_err());
        assert!(HyperConfig::default().validate().is_ok());
    }
}
