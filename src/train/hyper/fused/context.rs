//! The checkerboard context in the fused trainer (He, Zheng, Sun, Wang, Qin 2021, "Checkerboard
//! context model for efficient learned image compression"): the latents at even `row + column`
//! (the anchors) are coded first with `h_s`'s parameters alone; the others then also read the
//! anchors' decoded values through a 5×5 convolution. A parameter network (1×1 convolutions)
//! reads `h_s`'s output beside the context's and adds its output to `h_s`'s, for the anchors with
//! a context of zeros, so that both kinds of latents have parameters a decoder can form in two
//! passes.

use crate::model::hyper::cpu::bf16::Products;
use crate::model::hyper::cpu::network::{Network, Shape, Tape};
use crate::model::hyper::cpu::pool::Buf;
use crate::model::hyper::{is_anchor, HyperWeights};

/// What the backward pass of the context needs.
pub struct ContextTape {
    context: Tape,
    anchors: Tape,
    others: Tape,
    anchor: Vec<bool>,
}

/// The context convolution and the parameter network, their kernels packed.
pub struct Networks<'a> {
    context: Network<'a>,
    parameters: Network<'a>,
}

impl<'a> Networks<'a> {
    /// The networks of a model with a context.
    pub fn new(weights: &'a HyperWeights, products: Products) -> Self {
        let start = weights.config.network_starts()[5];
        let [(_, context_layers), (_, net_layers)] = weights.config.context_networks();
        let (context, parameters) = rayon::join(
            || Network::new(&context_layers, &weights.tensors[start..], products),
            || Network::new(&net_layers, &weights.tensors[start + 2..], products),
        );
        Self {
            context,
            parameters,
        }
    }
}

/// `h_s`'s raw output `raw` (NHWC, `2M` per latent: scales, then means) refined by the context
/// of `y`: returns the parameters every latent is coded with, and the tape. `y` and `raw` have
/// the shape `y_shape` (with `M` and `2M` channels).
pub fn forward(
    nets: &Networks<'_>,
    m: usize,
    raw: &Buf,
    y: &Buf,
    y_shape: Shape,
) -> (Buf, ContextTape) {
    let latents = y_shape.batch * y_shape.height * y_shape.width;
    let anchor: Vec<bool> = (0..latents)
        .map(|p| {
            let plane = p % (y_shape.height * y_shape.width);
            is_anchor(plane / y_shape.width, plane % y_shape.width)
        })
        .collect();
    let wide = Shape {
        channels: 4 * m,
        ..y_shape
    };
    // First pass: the anchors' parameters, from h_s alone.
    let zeros = Buf::zeros(2 * m * latents);
    let (first, _, anchors) = (nets.parameters).forward(side_by_side(raw, &zeros, m), wide);
    // The anchors' decoded values, zeros elsewhere: what a decoder has after the first pass.
    let mut decoded = Buf::zeros(m * latents);
    for p in (0..latents).filter(|&p| anchor[p]) {
        for c in 0..m {
            let mean = raw[p * 2 * m + m + c] + first[p * 2 * m + m + c];
            let v = y[p * m + c];
            decoded[p * m + c] = (v - mean).round() + mean;
        }
    }
    let (context, _, context_tape) = nets.context.forward(decoded, y_shape);
    let (second, _, others) = (nets.parameters).forward(side_by_side(raw, &context, m), wide);
    let mut refined = Buf::copy_of(raw);
    for (p, out) in refined.chunks_exact_mut(2 * m).enumerate() {
        let add = if anchor[p] { &first } else { &second };
        let add = &add[p * 2 * m..(p + 1) * 2 * m];
        out.iter_mut().zip(add).for_each(|(o, a)| *o += a);
    }
    let tape = ContextTape {
        context: context_tape,
        anchors,
        others,
        anchor,
    };
    (refined, tape)
}

/// The backward pass: from the gradient of the refined parameters `d_params`, writes the
/// context's parameter gradients into `grads` (the context's tensors), adds the gradient that
/// reaches `h_s`'s output into `d_params`' own place (it becomes `h_s`'s gradient) and adds the
/// anchors' straight-through gradient into `d_y`.
pub fn backward(
    tape: ContextTape,
    (nets, m): (&Networks<'_>, usize),
    d_params: &mut Buf,
    d_y: &mut [f32],
    grads: &mut [Vec<f32>],
) {
    let masked = |anchors: bool| {
        let mut d = Buf::copy_of(d_params);
        for (p, v) in d.chunks_exact_mut(2 * m).enumerate() {
            if tape.anchor[p] != anchors {
                v.fill(0.0);
            }
        }
        d
    };
    let (d_first, d_second) = (masked(true), masked(false));
    // The parameter network's two passes: the anchors' writes its gradients into `grads`, the
    // others' adds to them; both send `h_s`'s share back into `d_params`.
    let mut pass = |net_tape: Tape, d: Buf, g: &mut [Vec<f32>]| -> Buf {
        let d_in = (nets.parameters)
            .backward(net_tape, d, true, g)
            .expect("input");
        for (p, d) in d_in.chunks_exact(4 * m).enumerate() {
            (d_params[p * 2 * m..(p + 1) * 2 * m].iter_mut())
                .zip(&d[..2 * m])
                .for_each(|(o, d)| *o += d);
        }
        d_in
    };
    pass(tape.anchors, d_first, &mut grads[2..6]);
    let mut others: Vec<Vec<f32>> = grads[2..6].iter().map(|t| vec![0.0; t.len()]).collect();
    let d_in = pass(tape.others, d_second, &mut others);
    for (t, g) in grads[2..6].iter_mut().zip(others) {
        t.iter_mut().zip(g).for_each(|(t, g)| *t += g);
    }
    // The context's share of the second pass's input.
    let mut d_context = Buf::scratch(d_in.len() / 2);
    for (o, d) in (d_context.chunks_exact_mut(2 * m)).zip(d_in.chunks_exact(4 * m)) {
        o.copy_from_slice(&d[2 * m..]);
    }
    let d_decoded = (nets.context)
        .backward(tape.context, d_context, true, grads)
        .expect("input");
    // ŷ = round(y − μ) + μ passes its gradient straight through to y (none to μ).
    for (p, _) in tape.anchor.iter().enumerate().filter(|(_, &a)| a) {
        for c in 0..m {
            d_y[p * m + c] += d_decoded[p * m + c];
        }
    }
}

/// Two NHWC buffers of `2m` channels each as one of `4m`, per latent the first's then the
/// second's.
fn side_by_side(a: &[f32], b: &[f32], m: usize) -> Buf {
    let mut out = Buf::scratch(2 * a.len());
    for ((o, a), b) in (out.chunks_exact_mut(4 * m))
        .zip(a.chunks_exact(2 * m))
        .zip(b.chunks_exact(2 * m))
    {
        o[..2 * m].copy_from_slice(a);
        o[2 * m..].copy_from_slice(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::prior::noise;
    use crate::model::hyper::HyperConfig;

    /// What a decoder can do in two passes: the anchors' parameters read no latent, the others'
    /// read only anchors.
    #[test]
    fn parameters_read_only_decoded_anchors() {
        let config = HyperConfig::new(4, 6).with_context(true);
        let mut weights = HyperWeights::init(config, 1);
        for (k, t) in weights.tensors.iter_mut().enumerate() {
            let extra = noise(2, k as u64, t.len());
            t.iter_mut().zip(extra).for_each(|(v, e)| *v += 0.3 * e);
        }
        let shape = Shape {
            batch: 1,
            height: 6,
            width: 5,
            channels: 6,
        };
        let latents = 30;
        let raw = Buf::copy_of(&noise(3, 0, 12 * latents));
        let y: Vec<f32> = noise(4, 0, 6 * latents).iter().map(|v| 8.0 * v).collect();
        let nets = Networks::new(&weights, Products::F32);
        let run = |y: &[f32]| forward(&nets, 6, &raw, &Buf::copy_of(y), shape).0.to_vec();
        let base = run(&y);
        let changed = |a: &[f32], b: &[f32]| -> Vec<usize> {
            (0..latents)
                .filter(|&p| a[p * 12..(p + 1) * 12] != b[p * 12..(p + 1) * 12])
                .collect()
        };
        // (row 2, column 3) is not an anchor, (2, 2) is.
        let (other, anchor) = (2 * 5 + 3, 2 * 5 + 2);
        let mut moved = y.clone();
        moved[other * 6..(other + 1) * 6]
            .iter_mut()
            .for_each(|v| *v += 3.0);
        assert!(changed(&base, &run(&moved)).is_empty());
        let mut moved = y.clone();
        moved[anchor * 6..(anchor + 1) * 6]
            .iter_mut()
            .for_each(|v| *v += 3.0);
        let hit = changed(&base, &run(&moved));
        assert!(!hit.is_empty());
        assert!(hit.iter().all(|&p| !is_anchor(p / 5, p % 5)), "{hit:?}");
    }
}
