//! Coding with a checkerboard context: the anchors (even `row + column`) take their means and
//! scales from `h_s` through the parameter network with a context of zeros; the others, once
//! the anchors are decoded, from the parameter network reading `h_s`'s output beside the
//! context convolution of the anchors' `ŷ`. Both networks run in integers
//! ([`IntegerNetwork`]), on `ŷ` in the integer network's fixed point, so the parameters, like
//! `h_s`'s, are the same integers on every machine.

use crate::cpu_path::Path;
use crate::model::hyper::integer::{IntegerNetwork, IntegerRangeError, PixelMap};
use crate::model::hyper::{is_anchor, HyperWeights};

/// A model's context networks in integers.
#[derive(Debug, Clone)]
pub(super) struct Context {
    conv: IntegerNetwork,
    params: IntegerNetwork,
    /// `params` for the anchors, whose context inputs are zeros: reads `h_s`'s output alone.
    anchor_params: IntegerNetwork,
    m: usize,
}

/// Rows of the latent whose context is computed at once: the buffers of one band stay small
/// however large the image.
const BAND_ROWS: usize = 16;

impl Context {
    /// The context of `weights`, if the model has one.
    pub fn new(weights: &HyperWeights) -> Result<Option<Self>, IntegerRangeError> {
        Ok(
            IntegerNetwork::context(weights)?.map(|[conv, params]| Self {
                conv,
                anchor_params: params.first_inputs(2 * weights.config.m),
                params,
                m: weights.config.m,
            }),
        )
    }

    /// The anchors' parameters from `h_s`'s output `raw` (pixel-major, `2M` per position:
    /// scales, then means) with a context of zeros, given to `take` band by band as
    /// `(position, its 2M parameters)`.
    pub fn anchor_params(
        &self,
        path: Path,
        raw: &[i32],
        (h, w): (usize, usize),
        mut take: impl FnMut(usize, &[i32]),
    ) {
        for band in (0..h).step_by(BAND_ROWS) {
            let rows = band..(band + BAND_ROWS).min(h);
            let positions = positions(rows, w, true);
            self.refine(path, raw, &positions, None, &mut take);
        }
    }

    /// The others' parameters, with the context of `anchors` (the anchors' `ŷ` in fixed point,
    /// `M` per position, zeros elsewhere), given to `take` as [`Self::anchor_params`] does.
    pub fn other_params(
        &self,
        path: Path,
        raw: &[i32],
        anchors: &PixelMap,
        mut take: impl FnMut(usize, &[i32]),
    ) {
        let (h, w, two) = (anchors.height, anchors.width, 2 * self.m);
        for band in (0..h).step_by(BAND_ROWS) {
            let rows = band..(band + BAND_ROWS).min(h);
            let context = (self.conv).context_rows(path, anchors, rows.clone());
            let first = band * w;
            let positions = positions(rows, w, false);
            let at = |p: usize| &context[(p - first) * two..(p - first + 1) * two];
            self.refine(path, raw, &positions, Some(&at), &mut take);
        }
    }

    /// `raw` plus the parameter network's output for `raw` beside the context (or zeros,
    /// without one) at `positions`. The network is 1×1, so it runs on those positions alone,
    /// side by side.
    fn refine<'a>(
        &self,
        path: Path,
        raw: &[i32],
        positions: &[usize],
        context: Option<&dyn Fn(usize) -> &'a [i32]>,
        take: &mut impl FnMut(usize, &[i32]),
    ) {
        let two = 2 * self.m;
        if positions.is_empty() {
            return;
        }
        // Rows of ROW positions (the last one padded), so that the rows run in parallel.
        const ROW: usize = 32;
        let rows = positions.len().div_ceil(ROW);
        let (net, width) = match context {
            Some(_) => (&self.params, 2 * two),
            None => (&self.anchor_params, two),
        };
        let mut input = vec![0i32; rows * ROW * width];
        for (pair, &p) in input.chunks_exact_mut(width).zip(positions) {
            pair[..two].copy_from_slice(&raw[p * two..(p + 1) * two]);
            if let Some(context) = context {
                pair[two..].copy_from_slice(context(p));
            }
        }
        let out = net.run_pixel_major(path, (rows, ROW, width), input);
        let mut params = vec![0i32; two];
        for (o, &p) in out.chunks_exact(two).zip(positions) {
            for ((v, r), o) in params.iter_mut().zip(&raw[p * two..(p + 1) * two]).zip(o) {
                *v = r.saturating_add(*o);
            }
            take(p, &params);
        }
    }
}

/// The positions (`row · w + column`) of `rows` that are anchors, or that are not.
fn positions(rows: std::ops::Range<usize>, w: usize, anchors: bool) -> Vec<usize> {
    rows.flat_map(|r| {
        (0..w)
            .filter(move |&c| is_anchor(r, c) == anchors)
            .map(move |c| r * w + c)
    })
    .collect()
}

/// The indices (channel-major, `M` planes of `h × w`) of a context model's `y` values in one
/// pass of its coding order: the anchors, channel by channel, or the others.
pub(super) fn pass(m: usize, (h, w): (usize, usize), anchors: bool) -> impl Iterator<Item = usize> {
    let plane = h * w;
    (0..m).flat_map(move |c| {
        (0..plane)
            .filter(move |&p| is_anchor(p / w, p % w) == anchors)
            .map(move |p| c * plane + p)
    })
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::entropy::prior::noise;
    use crate::model::hyper::cpu::{to_pixels, to_planes};
    use crate::model::hyper::net::{host, HyperNet};
    use crate::model::hyper::rate::with_context;
    use crate::model::hyper::HyperConfig;

    /// Where a test collects the parameters that `anchor_params` and `other_params` give.
    type Take<'a> = &'a mut dyn FnMut(usize, &[i32]);

    /// The integer context gives the parameters the trained (float) one gives, to within the
    /// fixed point's rounding, for anchors and others, on every path this CPU has.
    #[test]
    fn integers_follow_the_float_context() {
        let config = HyperConfig::new(4, 6).with_context(true);
        let mut weights = HyperWeights::init(config, 6);
        for (k, t) in weights.tensors.iter_mut().enumerate() {
            let extra = noise(4, k as u64, t.len());
            t.iter_mut().zip(extra).for_each(|(v, e)| *v += 0.2 * e);
        }
        // More rows than a band, so that bands meet.
        let (m, h, w) = (6, BAND_ROWS + 3, 7);
        let raw: Vec<i32> = (0..h * w * 2 * m)
            .map(|k| (k as i32 * 7919) % 8192 - 4096)
            .collect();
        let ctx = Context::new(&weights).unwrap().expect("a context");
        let collect = |run: &dyn Fn(Take<'_>)| {
            let mut out = raw.clone();
            run(&mut |p, v| out[p * 2 * m..(p + 1) * 2 * m].copy_from_slice(v));
            out
        };
        let first = collect(&|take| ctx.anchor_params(Path::Portable, &raw, (h, w), take));
        let mut anchors = PixelMap {
            height: h,
            width: w,
            channels: m,
            values: vec![0; h * w * m],
        };
        for p in (0..h * w).filter(|&p| is_anchor(p / w, p % w)) {
            for c in 0..m {
                let q = (p * 31 + c * 7) as i32 % 9 - 4;
                anchors.values[p * m + c] =
                    crate::codec::hyper::Step::UNIT.fixed_value(q, first[p * 2 * m + m + c]);
            }
        }
        let second = collect(&|take| ctx.other_params(Path::Portable, &raw, &anchors, take));
        for path in Path::available() {
            let a = collect(&|take| ctx.anchor_params(path, &raw, (h, w), take));
            let b = collect(&|take| ctx.other_params(path, &raw, &anchors, take));
            assert_eq!((a, b), (first.clone(), second.clone()), "{path:?}");
        }

        // The context convolution at the non-anchor positions of some rows gives the whole
        // map's values there.
        let conv = ctx.conv.with_whole_product();
        let whole = conv.run_pixel_major(Path::Portable, (h, w, m), anchors.values.clone());
        for rows in [0..h, 3..7, 2..3] {
            let part = conv.context_rows(Path::Portable, &anchors, rows.clone());
            for (i, p) in (rows.start * w..rows.end * w).enumerate() {
                let (got, want) = (
                    &part[i * 2 * m..(i + 1) * 2 * m],
                    &whole[p * 2 * m..(p + 1) * 2 * m],
                );
                if is_anchor(p / w, p % w) {
                    assert!(got.iter().all(|&v| v == 0), "{p}");
                } else {
                    assert_eq!(got, want, "{p}");
                }
            }
        }
        let anchors = anchors.values;
        let device = Device::flex();
        let net = HyperNet::from_weights(&weights, &device, false);
        let tensor = |pixels: &[i32], channels: usize| {
            let planes = to_planes(pixels, channels);
            let values = planes.iter().map(|&v| v as f32 / 4096.0).collect();
            Tensor::<4>::from_data(TensorData::new(values, [1, channels, h, w]), &device)
        };
        let float = host(with_context(
            &net,
            tensor(&raw, 2 * m),
            &tensor(&anchors, m),
            &device,
        ));
        let float = to_pixels(&float, 2 * m);
        let mut worst = 0f64;
        for p in 0..h * w {
            let int = if is_anchor(p / w, p % w) {
                &first
            } else {
                &second
            };
            for k in p * 2 * m..(p + 1) * 2 * m {
                worst = worst.max((f64::from(int[k]) / 4096.0 - f64::from(float[k])).abs());
            }
        }
        assert!(worst < 2e-3, "largest difference {worst}");
        let moved = (first.iter().zip(&second)).filter(|(a, b)| a != b).count();
        assert!(moved > h * w, "the context reaches the others' parameters");
    }
}
