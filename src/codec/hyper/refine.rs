//! Encoder-side refinement of the quantized latent `ŷ` for one image (closing part of the
//! "amortization gap" of Campos et al. 2019 and Yang, Bamler, Mandt 2020 at encoding time):
//! with `ẑ`, and so every latent's scale, fixed, it searches for integer latents of a lower
//! loss `λ·255²·MSE(g_s(ŷ), x) + bits(ŷ)/pixels`, the training objective, measured on the
//! image's own pixels (padding excluded). The decoder is untouched: the file is an ordinary
//! file of the same model.
//!
//! Each round takes the gradient of the distortion at the current `ŷ` (one backward pass of
//! the synthesis), predicts for every latent the change of the loss from a step of ±1 (the
//! gradient's share, plus the exact change of its bits), and tries the most promising steps
//! together; the trial is kept only if the real loss (one forward pass) fell, and the number
//! of steps tried grows after a success and halves after a failure. So the loss never rises:
//! the result is never worse, by the model's own measure, than the plain encoder's.

use image::RgbImage;
use rayon::prelude::*;

use super::step::{mean_value, Step};
use super::{Conditions, Geometry};
use crate::entropy::hyper_tables::ladder_scale;
use crate::model::hyper::cpu::bf16::Products;
use crate::model::hyper::cpu::network::{self, Network, Shape, Tape};
use crate::model::hyper::cpu::pool::Buf;
use crate::model::hyper::cpu::rate::gaussian_bits;
use crate::model::hyper::net::Transform;
use crate::model::hyper::{HyperWeights, Y_STRIDE};

/// The largest image refinement takes (4.2 Mpx): it holds the whole synthesis's activations
/// and their gradients, measured at a peak of 4.8 GB for an image of this size and about
/// 2.1 GB for 0.4 to 1.3 Mpx.
pub const REFINE_MAX_PIXELS: u64 = 1 << 22;

/// Share of the latents stepped in the first trial.
const FIRST_SHARE: f64 = 0.005;

/// What a refinement did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineReport {
    /// The loss of the plain encoder's latents.
    pub initial_loss: f64,
    /// The loss of the latents returned.
    pub loss: f64,
    /// Forward passes run (each trial one), and trials kept.
    pub trials: usize,
    /// Trials whose latents were kept.
    pub kept: usize,
}

/// The pieces of one refinement.
struct Problem<'a> {
    /// The synthesis, its kernels packed once for every round.
    synthesis: Network<'a>,
    /// The padded image, NHWC, in [0, 1].
    x: Vec<f32>,
    /// 1 on the image's own pixels, 0 on the padding (per pixel).
    mask: Vec<f32>,
    /// Each latent's scale (NHWC).
    scales: Vec<f32>,
    /// Each latent's mean (NHWC; zeros for a scale-only model): the synthesis reads
    /// `Δ·q + μ`.
    means: Vec<f32>,
    /// The quantization step `Δ`.
    step: f32,
    shape: Shape,
    pixels: f64,
    lambda: f64,
    /// Per channel, the squared norm of the synthesis's response to a unit step of one
    /// latent ([`footprints`]).
    footprint: &'a [f32],
    /// Which latents (NHWC) may move.
    movable: Vec<bool>,
}

/// Latents with their loss and what their gradient needs.
struct Point {
    q: Vec<f32>,
    loss: f64,
    x_hat: Buf,
    tape: Tape,
}

impl Problem<'_> {
    /// The loss of the integer latents `q` (NHWC).
    fn evaluate(&self, q: Vec<f32>) -> Point {
        let bits: f64 = (q.par_iter().zip(&self.scales))
            .map(|(&v, &s)| gaussian_bits(v, s))
            .sum();
        // Δ·q + μ in f32 is the decoder's ŷ: Δ·q is exact (256ths times a small integer),
        // and both are the exact sum rounded once.
        let mut y_hat = Buf::copy_of(&q);
        (y_hat.iter_mut().zip(&self.means)).for_each(|(v, mu)| *v = *v * self.step + mu);
        let (x_hat, _, tape) = self.synthesis.forward(y_hat, self.shape);
        let sse: f64 = (x_hat.par_chunks(3 * 1024))
            .zip(self.x.par_chunks(3 * 1024))
            .zip(self.mask.par_chunks(1024))
            .map(|((a, b), m)| {
                (a.chunks_exact(3).zip(b.chunks_exact(3)).zip(m))
                    .map(|((a, b), &m)| {
                        let d = (0..3).map(|c| f64::from(a[c] - b[c]).powi(2)).sum::<f64>();
                        d * f64::from(m)
                    })
                    .sum::<f64>()
            })
            .sum();
        let mse = sse / (3.0 * self.pixels);
        let loss = self.lambda * 255.0 * 255.0 * mse + bits / self.pixels;
        Point {
            q,
            loss,
            x_hat,
            tape,
        }
    }

    /// Every latent's most promising step (−1 or +1) and its predicted change of the loss,
    /// the most promising first; only steps predicted to lower it.
    fn steps(&self, point: Point) -> (Vec<f32>, f64, Vec<(f64, usize, f32)>) {
        let coef = (self.lambda * 255.0 * 255.0 * 2.0 / (3.0 * self.pixels)) as f32;
        let mut d_xhat = Buf::scratch(point.x_hat.len());
        (d_xhat.par_chunks_mut(3))
            .zip(point.x_hat.par_chunks(3).zip(self.x.par_chunks(3)))
            .zip(self.mask.par_iter())
            .for_each(|((d, (a, b)), &m)| {
                for c in 0..3 {
                    d[c] = coef * m * (a[c] - b[c]);
                }
            });
        // No parameter gradients: only the latents' is needed.
        let mut grad = (self.synthesis)
            .backward(point.tape, d_xhat, true, &mut [])
            .expect("the input's gradient");
        // From ŷ to the symbols: a symbol's step moves ŷ by Δ.
        grad.par_iter_mut().for_each(|g| *g *= self.step);
        let per_pixel = 1.0 / self.pixels;
        // A unit step's own share of the squared error (the gradient's share is first order).
        let own = f64::from(coef) / 2.0 * f64::from(self.step).powi(2);
        let m = self.shape.channels;
        let mut moves: Vec<(f64, usize, f32)> = (point.q.par_iter().zip(&self.scales))
            .zip(grad.par_iter())
            .enumerate()
            .filter(|(i, _)| self.movable[*i])
            .filter_map(|(i, ((&v, &s), &g))| {
                let here = gaussian_bits(v, s);
                [-1f32, 1.0]
                    .into_iter()
                    .map(|d| {
                        let rate = (gaussian_bits(v + d, s) - here) * per_pixel;
                        let square = own * f64::from(self.footprint[i % m]);
                        (f64::from(g * d) + square + rate, i, d)
                    })
                    .filter(|m| m.0 < 0.0)
                    .min_by(|a, b| a.0.total_cmp(&b.0))
            })
            .collect();
        moves.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        (point.q, point.loss, moves)
    }
}

/// The model a refinement runs.
pub struct Model<'a> {
    /// The weights.
    pub weights: &'a HyperWeights,
    /// The rate–distortion weight of the loss.
    pub lambda: f64,
    /// [`footprints`] of the weights.
    pub footprint: &'a [f32],
    /// The quantization step the symbols are coded with.
    pub step: Step,
}

/// Refines the symbols `symbols` of `y` (channel-major, `g`'s shape) of `rgb` under their
/// scale levels and means `cond` with at most `trials` forward passes, moving only those
/// `movable` marks, and returns symbols of a loss no higher than that of the ones given.
pub(super) fn refine(
    model: &Model<'_>,
    rgb: &RgbImage,
    g: Geometry,
    (symbols, movable): (&[i32], &[bool]),
    cond: &Conditions,
    trials: usize,
) -> (Vec<i32>, RefineReport) {
    let m = model.weights.config.m;
    let plane = g.y.0 * g.y.1;
    let (problem, q) = problem_of(model, rgb, g, (symbols, movable), cond);
    let (q, report) = search(&problem, q, trials);
    let mut out = vec![0i32; symbols.len()];
    for c in 0..m {
        for p in 0..plane {
            // Integers all along (±1 steps from integers), far inside i32.
            out[c * plane + p] = q[p * m + c] as i32;
        }
    }
    (out, report)
}

/// The search's problem for this image, and its starting latents (channel-major to NHWC).
fn problem_of<'a>(
    model: &Model<'a>,
    rgb: &RgbImage,
    g: Geometry,
    (symbols, movable): (&[i32], &[bool]),
    cond: &Conditions,
) -> (Problem<'a>, Vec<f32>) {
    let Model {
        weights,
        lambda,
        footprint,
        step,
    } = *model;
    let m = weights.config.m;
    let (yh, yw) = g.y;
    let plane = yh * yw;
    let values = symbols.len();
    let (mut q, mut scales, mut means) =
        (vec![0f32; values], vec![0f32; values], vec![0f32; values]);
    let mut may_move = vec![false; values];
    for c in 0..m {
        for p in 0..plane {
            let k = c * plane + p;
            q[p * m + c] = symbols[k] as f32;
            may_move[p * m + c] = movable[k];
            scales[p * m + c] = ladder_scale(cond.levels[k].into()) as f32;
            means[p * m + c] = mean_value(cond.means[k]);
        }
    }
    let (x, mask) = padded_image(rgb, yh * Y_STRIDE, yw * Y_STRIDE);
    let t = Transform::Synthesis as usize;
    let problem = Problem {
        synthesis: Network::new(
            &weights.config.networks()[t].1,
            &weights.tensors[weights.config.network_starts()[t]..],
            Products::F32,
        ),
        x,
        mask,
        scales,
        means,
        step: step.value(),
        shape: Shape {
            batch: 1,
            height: yh,
            width: yw,
            channels: m,
        },
        pixels: f64::from(rgb.width()) * f64::from(rgb.height()),
        lambda,
        footprint,
        movable: may_move,
    };
    (problem, q)
}

/// Rounds of trial steps from `q`: the most promising moves applied together and kept only
/// if the loss fell, their number growing by half after a success and halving after a failure.
fn search(problem: &Problem<'_>, q: Vec<f32>, trials: usize) -> (Vec<f32>, RefineReport) {
    let start = problem.evaluate(q);
    let initial_loss = start.loss;
    let (mut q, mut loss, mut moves) = problem.steps(start);
    let mut count = ((q.len() as f64 * FIRST_SHARE) as usize).max(1);
    let mut kept = 0;
    let mut tried = 0;
    while tried < trials && count > 0 && !moves.is_empty() {
        let mut trial = q.clone();
        for &(_, i, d) in &moves[..count.min(moves.len())] {
            trial[i] += d;
        }
        let point = problem.evaluate(trial);
        tried += 1;
        if point.loss < loss {
            kept += 1;
            (q, loss, moves) = problem.steps(point);
            count += count / 2;
        } else {
            count /= 2;
        }
    }
    let report = RefineReport {
        initial_loss,
        loss,
        trials: tried,
        kept,
    };
    (q, report)
}

/// Per channel of `y`, the squared norm of the synthesis's response (pixels in [0, 1]) to a
/// unit latent alone in a field of zeros: the second-order share of a step's effect on the
/// squared error, as the synthesis behaves near zero. One forward pass of a batch of one
/// impulse per channel, each in a field wide enough for its whole footprint.
pub fn footprints(weights: &HyperWeights) -> Vec<f32> {
    const SIDE: usize = 8;
    let m = weights.config.m;
    let t = Transform::Synthesis as usize;
    let layers = &weights.config.networks()[t].1;
    let params = &weights.tensors[weights.config.network_starts()[t]..];
    let run = |impulse: bool| {
        let mut y = Buf::zeros(m * SIDE * SIDE * m);
        if impulse {
            for c in 0..m {
                y[(c * SIDE * SIDE + (SIDE / 2) * SIDE + SIDE / 2) * m + c] = 1.0;
            }
        }
        let shape = Shape {
            batch: m,
            height: SIDE,
            width: SIDE,
            channels: m,
        };
        network::forward(layers, params, y, shape).0
    };
    let (base, hit) = (run(false), run(true));
    let per_image = base.len() / m;
    (base.chunks(per_image).zip(hit.chunks(per_image)))
        .map(|(b, h)| b.iter().zip(h).map(|(b, h)| (h - b) * (h - b)).sum())
        .collect()
}

/// The image padded to `rows × cols` by repeating its edges, NHWC in [0, 1], and the mask
/// of its own pixels.
fn padded_image(rgb: &RgbImage, rows: usize, cols: usize) -> (Vec<f32>, Vec<f32>) {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let mut x = Vec::with_capacity(3 * rows * cols);
    let mut mask = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let p = rgb.get_pixel(c.min(w - 1) as u32, r.min(h - 1) as u32);
            x.extend(p.0.iter().map(|&v| f32::from(v) / 255.0));
            mask.push(if r < h && c < w { 1.0 } else { 0.0 });
        }
    }
    (x, mask)
}
