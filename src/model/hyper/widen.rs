//! Widening a trained model to more channels without changing what it computes: a larger model
//! that starts where the smaller one stopped instead of from random weights (Chen, Goodfellow,
//! Shlens 2016, "Net2Net", with new units that read nothing yet).
//!
//! Every old value keeps its place. A new hidden channel gets fresh weights for what it reads and
//! zeros where the old channels would read it, so the old channels compute what they did and the
//! new one can still learn (its readers' gradients are its activations times theirs). The latents
//! need more care, because the synthesis reads `round(y − μ) + μ`: new `y` channels start small
//! (so they round to 0 and change no pixel) with their means and scales at zero (the scale bound),
//! and the synthesis reads them with fresh weights, so that their straight-through gradient is not
//! zero and they grow where they pay for themselves. New `z` channels start small too, with a
//! narrow prior, and `h_s` reads them with zeros (their training noise is enough to start them).

use super::{HyperConfig, HyperSpec, HyperWeights, Init, Layer};
use crate::model::ConfigError;

/// Factor on the fresh analysis weights of new latent channels (`y` and `z`), small enough that
/// the new values round to 0 at first.
const NEW_LATENT_GAIN: f32 = 0.1;
/// Log-scale of the prior of a new `z` channel: a narrow logistic, as trained priors of unused
/// channels become, instead of one that charges about two bits for each value near 0.
const NEW_Z_LOG_SCALE: f32 = -2.3;

/// Why a model cannot be widened to the sizes asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WidenError {
    /// The new sizes are outside what aec builds.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The model has a checkerboard context, which widening does not handle.
    #[error("cannot widen a model with a context; widen it before adding the context")]
    Context,
    /// A channel count would shrink: that would drop what the model learned.
    #[error("cannot narrow a model from N={}, M={} to N={}, M={}", from.0, from.1, to.0, to.1)]
    Narrower {
        /// The model's (N, M).
        from: (usize, usize),
        /// The sizes asked for.
        to: (usize, usize),
    },
}

/// How the new entries of one layer start.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// A hidden layer: fresh new outputs, zeros where it reads new inputs.
    Hidden,
    /// The analysis's last layer, or the hyper-analysis's: new outputs are latents and start
    /// small, with zero biases.
    LatentOut,
    /// The synthesis's first layer: reads new `y` channels with fresh weights.
    LatentIn,
    /// The hyper-synthesis's last layer: new scales and means start at zero.
    HyperOut,
}

impl HyperWeights {
    /// This model with `n` and `m` channels (at least its own), computing what it computed: the
    /// same reconstruction and the same rate up to the tiny cost of the new, all-zero latents.
    /// New entries are drawn from `seed`.
    pub fn widen(self, n: usize, m: usize, seed: u64) -> Result<Self, WidenError> {
        let (old, new) = (
            self.config,
            HyperConfig {
                n,
                m,
                ..self.config
            },
        );
        new.validate()?;
        if old.context {
            return Err(WidenError::Context);
        }
        if n < old.n || m < old.m {
            return Err(WidenError::Narrower {
                from: (old.n, old.m),
                to: (n, m),
            });
        }
        let fresh = Self::init(new, seed);
        let specs = new.param_specs();
        let mut tensors = Vec::with_capacity(specs.len());
        let mut t = 0;
        for ((name, old_layers), (_, new_layers)) in old.networks().iter().zip(new.networks()) {
            let last = new_layers.len() - 1;
            for (i, (&from, &to)) in old_layers.iter().zip(&new_layers).enumerate() {
                if from == Layer::Relu {
                    continue;
                }
                let role = match (*name, i) {
                    ("g_a" | "h_a", i) if i == last => Role::LatentOut,
                    ("g_s", 0) => Role::LatentIn,
                    ("h_s", i) if matches!(to, Layer::Conv(..)) && i + 2 >= new_layers.len() => {
                        Role::HyperOut
                    }
                    _ => Role::Hidden,
                };
                for k in 0..2 {
                    let maps = axis_maps(from, to, k == 1, (old, new));
                    tensors.push(widen_tensor(
                        &self.tensors[t + k],
                        fresh.tensors[t + k].clone(),
                        &specs[t + k],
                        &maps,
                        role,
                    ));
                }
                t += 2;
            }
        }
        for k in 0..2 {
            let mut prior = fresh.tensors[t + k].clone();
            if k == 1 {
                prior.fill(NEW_Z_LOG_SCALE);
            }
            prior[..old.n].copy_from_slice(&self.tensors[t + k]);
            tensors.push(prior);
        }
        Ok(Self {
            config: new,
            tensors,
        })
    }
}

/// Where each old index of each axis of one of a layer's two tensors goes (`second`: the bias,
/// or GDN's γ), and whether the axis is the layer's output (`true`) or its input; the kernel's
/// spatial axes are left out.
fn axis_maps(
    from: Layer,
    to: Layer,
    second: bool,
    (old, new): (HyperConfig, HyperConfig),
) -> Vec<(Vec<usize>, bool)> {
    let outputs = |o: usize, o2: usize| {
        // h_s's last layer in a mean-scale model: scales (m of them), then means.
        if old.means && o == old.hyper_outputs() && o2 == new.hyper_outputs() {
            (0..o)
                .map(|c| if c < old.m { c } else { c - old.m + new.m })
                .collect()
        } else {
            (0..o).collect()
        }
    };
    match (from, to) {
        (Layer::Conv(_, o, ..), Layer::Conv(_, o2, ..))
        | (Layer::Deconv(_, o, ..), Layer::Deconv(_, o2, ..))
            if second =>
        {
            vec![(outputs(o, o2), true)]
        }
        (Layer::Conv(i, o, ..), Layer::Conv(_, o2, ..)) => {
            vec![(outputs(o, o2), true), ((0..i).collect(), false)]
        }
        (Layer::Deconv(i, o, ..), Layer::Deconv(_, o2, ..)) => {
            vec![((0..i).collect(), false), (outputs(o, o2), true)]
        }
        (Layer::Gdn(c, _), Layer::Gdn(..)) if second => {
            vec![((0..c).collect(), true), ((0..c).collect(), true)]
        }
        (Layer::Gdn(c, _), Layer::Gdn(..)) => vec![((0..c).collect(), true)],
        _ => unreachable!("the same architecture at two sizes has the same layers"),
    }
}

/// One tensor at its new size: `fresh` adjusted for `role`, then the old values in their places.
fn widen_tensor(
    old: &[f32],
    mut new: Vec<f32>,
    spec: &HyperSpec,
    maps: &[(Vec<usize>, bool)],
    role: Role,
) -> Vec<f32> {
    let shape = &spec.shape;
    // Values per index of the last mapped axis (the kernel's k·k, or 1).
    let inner: usize = shape[maps.len()..].iter().product();
    let strides: Vec<usize> = (0..maps.len())
        .map(|a| shape[a + 1..].iter().product())
        .collect();
    let is_kernel = matches!(spec.init, Init::Kernel { .. });
    let is_bias = matches!(spec.init, Init::Bias { .. });
    let old_len: Vec<usize> = maps.iter().map(|(m, _)| m.len()).collect();
    // Which axis positions of the new tensor held an old channel.
    let kept: Vec<Vec<bool>> = maps
        .iter()
        .enumerate()
        .map(|(a, (map, _))| {
            let mut kept = vec![false; shape[a]];
            map.iter().for_each(|&j| kept[j] = true);
            kept
        })
        .collect();
    for (flat, v) in new.iter_mut().enumerate() {
        let index: Vec<usize> = (0..maps.len())
            .map(|a| flat / strides[a] % shape[a])
            .collect();
        let new_out = maps
            .iter()
            .zip(&index)
            .enumerate()
            .any(|(a, ((_, out), &j))| *out && !kept[a][j]);
        let new_in = maps
            .iter()
            .zip(&index)
            .enumerate()
            .any(|(a, ((_, out), &j))| !*out && !kept[a][j]);
        if is_kernel && new_in && role != Role::LatentIn {
            *v = 0.0;
        } else if new_out {
            match role {
                Role::LatentOut if is_kernel => *v *= NEW_LATENT_GAIN,
                Role::LatentOut | Role::HyperOut if is_kernel || is_bias => *v = 0.0,
                _ => {}
            }
        }
    }
    // Old values, walked in their own order.
    for (flat, &v) in old.iter().enumerate() {
        let mut at = flat % inner;
        let mut rest = flat / inner;
        for a in (0..maps.len()).rev() {
            let j = rest % old_len[a];
            rest /= old_len[a];
            at += maps[a].0[j] * strides[a];
        }
        new[at] = v;
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_values_keep_their_places() {
        let small = HyperWeights::init(HyperConfig::new(4, 6).with_means(true), 1);
        let wide = small.clone().widen(8, 10, 2).unwrap();
        assert_eq!(wide.config, HyperConfig::new(8, 10).with_means(true));
        let specs = wide.config.param_specs();
        for (t, s) in wide.tensors.iter().zip(&specs) {
            assert_eq!(t.len(), s.len(), "{}", s.name);
        }
        // g_a.0.weight [o, 3, 5, 5]: channel 3's kernel is the old one, channel 7's is new.
        let k = 3 * 25;
        assert_eq!(
            wide.tensors[0][3 * k..4 * k],
            small.tensors[0][3 * k..4 * k]
        );
        // g_a.2.weight [o, i, 5, 5]: old rows keep their old inputs; new inputs read zeros.
        let (row_old, row_new) = (4 * 25, 8 * 25);
        assert_eq!(wide.tensors[4][..row_old], small.tensors[4][..row_old]);
        assert!(wide.tensors[4][row_old..row_new].iter().all(|&v| v == 0.0));
        // h_s's last bias: scales then means, each at its new offset, new ones at zero.
        let b = wide.config.network_starts()[4] - 1;
        let (old_b, new_b) = (&small.tensors[b], &wide.tensors[b]);
        assert_eq!(new_b[..6], old_b[..6]);
        assert_eq!(new_b[10..16], old_b[6..12]);
        assert!(new_b[6..10].iter().chain(&new_b[16..]).all(|&v| v == 0.0));
        // Widening to the same size changes nothing.
        assert_eq!(small.clone().widen(4, 6, 3).unwrap(), small);
    }

    #[test]
    fn narrowing_is_refused() {
        let w = HyperWeights::init(HyperConfig::new(8, 12), 1);
        assert!(w.clone().widen(4, 12, 0).is_err());
        assert!(w.widen(8, 4096, 0).is_err());
    }
}
