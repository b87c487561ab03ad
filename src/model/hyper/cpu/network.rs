//! One of the family's four transforms, forward with a tape of what the backward pass needs,
//! and backward to the parameters' gradients (in burn's layouts) and the input's.

use rayon::prelude::*;

use super::bf16::Products;
use super::conv::{self, Geometry};
use super::gdn;
use super::pool::Buf;
use crate::model::hyper::Layer;

/// The shape of an NHWC batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Images.
    pub batch: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Channels.
    pub channels: usize,
}

/// What one layer keeps for the backward pass.
enum Saved {
    Conv {
        g: Geometry,
        input: Buf,
    },
    Deconv {
        g: Geometry,
        input: Buf,
    },
    Gdn {
        input: Buf,
        /// √norm.
        root: Buf,
    },
    Relu {
        output: Buf,
    },
}

/// The forward pass of one transform, layer by layer.
pub struct Tape(Vec<Saved>);

/// One layer's parameters, packed as its kernels take them.
enum Prepared<'a> {
    Conv(conv::Weights<'a>),
    Gdn(gdn::Params<'a>),
    Relu,
}

/// A transform's layers with their parameter tensors (weight and bias, or β' and Γ', per
/// layer that has them, in burn's layouts), the kernels packed once for every pass that runs
/// them: a training step's shards, forward and backward, or an encoder's refinement rounds.
pub struct Network<'a> {
    layers: Vec<Layer>,
    prepared: Vec<Prepared<'a>>,
    /// Index of each layer's first parameter tensor.
    firsts: Vec<usize>,
}

impl<'a> Network<'a> {
    /// Packs the layers' kernels, layers side by side, for convolution products run as
    /// `products` asks.
    pub fn new(layers: &[Layer], params: &'a [Vec<f32>], products: Products) -> Self {
        let mut firsts = Vec::with_capacity(layers.len());
        let mut p = 0;
        for layer in layers {
            firsts.push(p);
            p += match layer {
                Layer::Relu => 0,
                _ => 2,
            };
        }
        let prepared = (layers.par_iter().zip(&firsts))
            .map(|(layer, &p)| match *layer {
                Layer::Conv(i, o, k, s) => Prepared::Conv(conv::Weights::conv(
                    (&params[p], &params[p + 1]),
                    (i, o),
                    (k, s),
                    products,
                )),
                Layer::Deconv(i, o, k, s) => Prepared::Conv(conv::Weights::deconv(
                    (&params[p], &params[p + 1]),
                    (i, o),
                    (k, s),
                    products,
                )),
                Layer::Gdn(c, _) => {
                    Prepared::Gdn(gdn::Params::new(&params[p], &params[p + 1], c, products))
                }
                Layer::Relu => Prepared::Relu,
            })
            .collect();
        Self {
            layers: layers.to_vec(),
            prepared,
            firsts,
        }
    }

    /// Runs the layers on `x`, keeping what [`Network::backward`] needs.
    pub fn forward(&self, mut x: Buf, mut shape: Shape) -> (Buf, Shape, Tape) {
        let mut tape = Vec::with_capacity(self.layers.len());
        for (layer, prepared) in self.layers.iter().zip(&self.prepared) {
            let saved = match (*layer, prepared) {
                (Layer::Conv(i, o, k, s), Prepared::Conv(p)) => {
                    let g = Geometry::new(shape.batch, (shape.height, shape.width), (i, o), k, s);
                    let y = conv::conv_forward(&g, p, &x);
                    (shape.height, shape.width, shape.channels) = (g.small.0, g.small.1, o);
                    Saved::Conv {
                        g,
                        input: std::mem::replace(&mut x, y),
                    }
                }
                (Layer::Deconv(i, o, k, s), Prepared::Conv(p)) => {
                    let large = (shape.height * s, shape.width * s);
                    let g = Geometry::new(shape.batch, large, (o, i), k, s);
                    let y = conv::deconv_forward(&g, p, &x);
                    (shape.height, shape.width, shape.channels) = (large.0, large.1, o);
                    Saved::Deconv {
                        g,
                        input: std::mem::replace(&mut x, y),
                    }
                }
                (Layer::Gdn(_, inverse), Prepared::Gdn(p)) => {
                    let [y, root] = gdn::forward(&x, p, inverse);
                    Saved::Gdn {
                        input: std::mem::replace(&mut x, y),
                        root,
                    }
                }
                _ => {
                    x.par_iter_mut().for_each(|v| *v = v.max(0.0));
                    Saved::Relu {
                        output: Buf::copy_of(&x),
                    }
                }
            };
            tape.push(saved);
        }
        (x, shape, Tape(tape))
    }

    /// The backward pass of a [`Network::forward`] run: writes the parameters' gradients into
    /// `grads` (indexed as the parameter tensors; left as they are where `grads` is empty) and
    /// returns the input's gradient when `need_input`.
    pub fn backward(
        &self,
        tape: Tape,
        mut dy: Buf,
        need_input: bool,
        grads: &mut [Vec<f32>],
    ) -> Option<Buf> {
        let count = tape.0.len();
        let need_params = !grads.is_empty();
        for (index, saved) in tape.0.into_iter().enumerate().rev() {
            let needs = conv::Needs {
                input: need_input || index > 0,
                params: need_params,
            };
            let (p, prepared) = (self.firsts[index], &self.prepared[index]);
            let (dx, param_grads) = match (saved, prepared) {
                (Saved::Conv { g, input }, Prepared::Conv(w)) => {
                    let (dw, db, dx) = conv::conv_backward(&g, w, &input, &dy, needs);
                    (dx, Some([dw, db]))
                }
                (Saved::Deconv { g, input }, Prepared::Conv(w)) => {
                    let (dw, db, dx) = conv::deconv_backward(&g, w, &input, &dy, needs);
                    (dx, Some([dw, db]))
                }
                (Saved::Gdn { input, root }, Prepared::Gdn(params)) => {
                    let inverse = matches!(self.layers[index], Layer::Gdn(_, true));
                    let g = gdn::backward(&input, &root, &dy, params, inverse);
                    (Some(g.input), Some([g.beta_root, g.gamma_root]))
                }
                (Saved::Relu { output }, _) => {
                    dy.par_iter_mut()
                        .zip(output.par_iter())
                        .for_each(|(d, &o)| {
                            if o <= 0.0 {
                                *d = 0.0;
                            }
                        });
                    (Some(dy), None)
                }
                _ => unreachable!("a tape of this network's layers"),
            };
            if let (true, Some([a, b])) = (need_params, param_grads) {
                grads[p] = a;
                grads[p + 1] = b;
            }
            match dx {
                Some(dx) => dy = dx,
                None => {
                    debug_assert!(index == 0 && count > 0);
                    return None;
                }
            }
        }
        Some(dy)
    }
}

/// Runs `layers` on `x` with the transform's parameter tensors `params` once (packing the
/// kernels for this one pass): [`Network::forward`].
pub fn forward(layers: &[Layer], params: &[Vec<f32>], x: Buf, shape: Shape) -> (Buf, Shape, Tape) {
    Network::new(layers, params, Products::F32).forward(x, shape)
}
