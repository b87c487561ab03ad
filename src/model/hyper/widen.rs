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
    /// New entries are drawn from `seed`. A checkerboard context widens with the rest: its new
    /// inputs read zeros, and its parameter network adds zero to the new latents' means and scales.
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
        if n < old.n || m < old.m {
            return Err(WidenError::Narrower {
                from: (old.n, old.m),
                to: (n, m),
            });
        }
        let fresh = Self::init(new, seed);
        let specs = new.param_specs();
        let mut tensors = Vec::with_capacity(specs.len());
        let widen_networks = |networks: Vec<(Network, Network)>,
                              mut t: usize,
                              tensors: &mut Vec<Vec<f32>>| {
            for ((name, old_layers), (_, new_layers)) in networks {
                for (i, (from, to)) in zip_layers(&old_layers, &new_layers) {
                    let (role, maps) = layer_maps(name, i, from, to, new_layers.len(), (old, new));
                    for k in 0..2 {
                        tensors.push(widen_tensor(
                            &self.tensors[t + k],
                            fresh.tensors[t + k].clone(),
                            &specs[t + k],
                            &axis_maps(from, to, k == 1, &maps),
                            role,
                        ));
                    }
                    t += 2;
                }
            }
            t
        };
        let pairs = |a: Vec<Network>, b: Vec<Network>| a.into_iter().zip(b).collect();
        // The prior of z sits after the four networks, the context's networks after it.
        let t = widen_networks(
            pairs(old.networks().into(), new.networks().into()),
            0,
            &mut tensors,
        );
        for k in 0..2 {
            let mut prior_k = fresh.tensors[t + k].clone();
            if k == 1 {
                prior_k.fill(NEW_Z_LOG_SCALE);
            }
            prior_k[..old.n].copy_from_slice(&self.tensors[t + k]);
            tensors.push(prior_k);
        }
        if old.context {
            let (old_c, new_c) = (old.context_networks(), new.context_networks());
            widen_networks(pairs(old_c.into(), new_c.into()), t + 2, &mut tensors);
        }
        Ok(Self {
            config: new,
            tensors,
        })
    }
}

/// A network's name and layers.
type Network = (&'static str, Vec<Layer>);

/// The layers with parameters of one network at two sizes, with their indices.
fn zip_layers<'a>(
    old: &'a [Layer],
    new: &'a [Layer],
) -> impl Iterator<Item = (usize, (Layer, Layer))> + 'a {
    (old.iter().zip(new).enumerate())
        .filter(|(_, (from, _))| **from != Layer::Relu)
        .map(|(i, (&from, &to))| (i, (from, to)))
}

/// Where each old input and output channel of layer `i` of network `name` goes, and how its
/// new entries start.
fn layer_maps(
    name: &str,
    i: usize,
    from: Layer,
    to: Layer,
    layers: usize,
    (old, new): (HyperConfig, HyperConfig),
) -> (Role, ChannelMaps) {
    let (fi, fo) = channels(from);
    let (_, to_o) = channels(to);
    // Scales then means (h_s's output, the parameter network's output and half its input),
    // then the context's features (the other half).
    let params = || segments(&[old.m, old.m], &[new.m, new.m]);
    let role = match (name, i) {
        ("g_a" | "h_a", i) if i == layers - 1 => Role::LatentOut,
        ("g_s", 0) => Role::LatentIn,
        ("h_s", i) if matches!(to, Layer::Conv(..)) && i + 2 >= layers => Role::HyperOut,
        ("e", i) if i == layers - 1 => Role::HyperOut,
        _ => Role::Hidden,
    };
    let outputs = if role == Role::HyperOut && old.means && to_o == new.hyper_outputs() {
        params()
    } else {
        (0..fo).collect()
    };
    let inputs = if name == "e" && i == 0 {
        segments(&[old.m, old.m, 2 * old.m], &[new.m, new.m, 2 * new.m])
    } else {
        (0..fi).collect()
    };
    (role, ChannelMaps { inputs, outputs })
}

/// A layer's input and output channel counts.
fn channels(layer: Layer) -> (usize, usize) {
    match layer {
        Layer::Conv(i, o, ..) | Layer::Deconv(i, o, ..) => (i, o),
        Layer::Gdn(c, _) => (c, c),
        Layer::Relu => (0, 0),
    }
}

/// The new index of each old index of channels laid out in consecutive segments.
fn segments(old: &[usize], new: &[usize]) -> Vec<usize> {
    let mut map = Vec::new();
    let mut start = 0;
    for (&o, &n) in old.iter().zip(new) {
        map.extend(start..start + o);
        start += n;
    }
    map
}

/// Where each old input and output channel of a layer goes.
struct ChannelMaps {
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

/// Where each old index of each axis of one of a layer's two tensors goes (`second`: the bias,
/// or GDN's γ), and whether the axis is the layer's output (`true`) or its input; the kernel's
/// spatial axes are left out.
fn axis_maps(from: Layer, to: Layer, second: bool, maps: &ChannelMaps) -> Vec<(Vec<usize>, bool)> {
    let (ins, outs) = (maps.inputs.clone(), maps.outputs.clone());
    match (from, to) {
        (Layer::Conv(..), Layer::Conv(..)) | (Layer::Deconv(..), Layer::Deconv(..)) if second => {
            vec![(outs, true)]
        }
        (Layer::Conv(..), Layer::Conv(..)) => vec![(outs, true), (ins, false)],
        (Layer::Deconv(..), Layer::Deconv(..)) => vec![(ins, false), (outs, true)],
        (Layer::Gdn(..), Layer::Gdn(..)) if second => vec![(outs.clone(), true), (outs, true)],
        (Layer::Gdn(..), Layer::Gdn(..)) => vec![(outs, true)],
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
    fn the_context_widens_with_the_rest() {
        let mut small = HyperWeights::init(HyperConfig::new(4, 6).with_context(true), 1);
        // The parameter network's last layer starts at zero; a trained one does not.
        let e0 = small.config.network_starts()[5] + 2;
        for (i, v) in small.tensors[e0 + 3].iter_mut().enumerate() {
            *v = i as f32 + 1.0;
        }
        let wide = small.clone().widen(8, 10, 2).unwrap();
        assert_eq!(wide.config, HyperConfig::new(8, 10).with_context(true));
        let specs = wide.config.param_specs();
        for (t, s) in wide.tensors.iter().zip(&specs) {
            assert_eq!(t.len(), s.len(), "{}", s.name);
        }
        // e.0.weight [3m, 4m, 1, 1]: an old row reads scales, means and the context's features
        // at their new offsets (0, m, 2m), zeros at the new inputs between them.
        let (old_row, new_row) = (&small.tensors[e0][..24], &wide.tensors[e0][..40]);
        assert_eq!(new_row[..6], old_row[..6]);
        assert_eq!(new_row[10..16], old_row[6..12]);
        assert_eq!(new_row[20..32], old_row[12..24]);
        let zeros = [6..10, 16..20, 32..40].into_iter().flatten();
        assert!(zeros.map(|i| new_row[i]).all(|v| v == 0.0));
        // e.2's bias: scales then means at their new offsets, the new latents' at zero.
        let (old_b, new_b) = (&small.tensors[e0 + 3], &wide.tensors[e0 + 3]);
        assert_eq!((old_b.len(), new_b.len()), (12, 20));
        assert_eq!(new_b[..6], old_b[..6]);
        assert_eq!(new_b[10..16], old_b[6..12]);
        assert!(new_b[6..10].iter().chain(&new_b[16..]).all(|&v| v == 0.0));
    }

    #[test]
    fn narrowing_is_refused() {
        let w = HyperWeights::init(HyperConfig::new(8, 12), 1);
        assert!(w.clone().widen(4, 12, 0).is_err());
        assert!(w.widen(8, 4096, 0).is_err());
    }
}
