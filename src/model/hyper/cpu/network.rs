//! One of the family's four transforms, forward with a tape of what the backward pass needs,
//! and backward to the parameters' gradients (in burn's layouts) and the input's.

use rayon::prelude::*;

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
        gamma: Vec<f32>,
        channels: usize,
        inverse: bool,
    },
    Relu {
        output: Buf,
    },
}

/// The forward pass of one transform, layer by layer, with the index of each layer's first
/// parameter tensor.
pub struct Tape(Vec<(Saved, usize)>);

/// Runs `layers` on `x` with the transform's parameter tensors `params` (weight and bias, or
/// β' and Γ', per layer that has them), keeping what [`backward`] needs.
pub fn forward(
    layers: &[Layer],
    params: &[Vec<f32>],
    mut x: Buf,
    mut shape: Shape,
) -> (Buf, Shape, Tape) {
    let mut tape = Vec::with_capacity(layers.len());
    let mut p = 0;
    for layer in layers {
        let first = p;
        let saved = match *layer {
            Layer::Conv(i, o, k, s) => {
                let g = Geometry::new(shape.batch, (shape.height, shape.width), (i, o), k, s);
                let y = conv::conv_forward(&g, &params[p], &params[p + 1], &x);
                (shape.height, shape.width, shape.channels) = (g.small.0, g.small.1, o);
                p += 2;
                Saved::Conv {
                    g,
                    input: std::mem::replace(&mut x, y),
                }
            }
            Layer::Deconv(i, o, k, s) => {
                let large = (shape.height * s, shape.width * s);
                let g = Geometry::new(shape.batch, large, (o, i), k, s);
                let y = conv::deconv_forward(&g, &params[p], &params[p + 1], &x);
                (shape.height, shape.width, shape.channels) = (large.0, large.1, o);
                p += 2;
                Saved::Deconv {
                    g,
                    input: std::mem::replace(&mut x, y),
                }
            }
            Layer::Gdn(c, inverse) => {
                let (beta, gamma) = gdn::effective(&params[p], &params[p + 1]);
                let [y, root] = gdn::forward(&x, c, &beta, &gamma, inverse);
                p += 2;
                Saved::Gdn {
                    input: std::mem::replace(&mut x, y),
                    root,
                    gamma,
                    channels: c,
                    inverse,
                }
            }
            Layer::Relu => {
                x.par_iter_mut().for_each(|v| *v = v.max(0.0));
                Saved::Relu {
                    output: Buf::copy_of(&x),
                }
            }
        };
        tape.push((saved, first));
    }
    (x, shape, Tape(tape))
}

/// The backward pass of a [`forward`] run: writes the parameters' gradients into `grads`
/// (indexed as `params`; left as they are where `grads` is empty) and returns the input's
/// gradient when `need_input`.
pub fn backward(
    tape: Tape,
    params: &[Vec<f32>],
    mut dy: Buf,
    need_input: bool,
    grads: &mut [Vec<f32>],
) -> Option<Buf> {
    let count = tape.0.len();
    let need_params = !grads.is_empty();
    for (index, (saved, p)) in tape.0.into_iter().enumerate().rev() {
        let needs = conv::Needs {
            input: need_input || index > 0,
            params: need_params,
        };
        let dx = match saved {
            Saved::Conv { g, input } => {
                let (dw, db, dx) = conv::conv_backward(&g, &params[p], &input, &dy, needs);
                if need_params {
                    grads[p] = dw;
                    grads[p + 1] = db;
                }
                dx
            }
            Saved::Deconv { g, input } => {
                let (dw, db, dx) = conv::deconv_backward(&g, &params[p], &input, &dy, needs);
                if need_params {
                    grads[p] = dw;
                    grads[p + 1] = db;
                }
                dx
            }
            Saved::Gdn {
                input,
                root,
                gamma,
                channels,
                inverse,
            } => {
                let roots = (params[p].as_slice(), params[p + 1].as_slice());
                let g = gdn::backward(&input, &root, &dy, channels, roots, &gamma, inverse);
                if need_params {
                    grads[p] = g.beta_root;
                    grads[p + 1] = g.gamma_root;
                }
                Some(g.input)
            }
            Saved::Relu { output } => {
                dy.par_iter_mut()
                    .zip(output.par_iter())
                    .for_each(|(d, &o)| {
                        if o <= 0.0 {
                            *d = 0.0;
                        }
                    });
                Some(dy)
            }
        };
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
