//! Coding with a checkerboard context: the anchors (even `row + column`) take their means and
//! scales from `h_s` through the parameter network with a context of zeros; the others, once
//! the anchors are decoded, from the parameter network reading `h_s`'s output beside the
//! context convolution of the anchors' `ŷ`. Both networks run in integers
//! ([`IntegerNetwork`]), on `ŷ` in the integer network's fixed point, so the parameters, like
//! `h_s`'s, are the same integers on every machine.

use crate::cpu_path::Path;
use crate::model::hyper::integer::{IntegerNetwork, IntegerRangeError, ACT_BITS};
use crate::model::hyper::{is_anchor, HyperWeights};

/// A model's context networks in integers.
#[derive(Debug, Clone)]
pub(super) struct Context {
    conv: IntegerNetwork,
    params: IntegerNetwork,
    m: usize,
}

impl Context {
    /// The context of `weights`, if the model has one.
    pub fn new(weights: &HyperWeights) -> Result<Option<Self>, IntegerRangeError> {
        Ok(
            IntegerNetwork::context(weights)?.map(|[conv, params]| Self {
                conv,
                params,
                m: weights.config.m,
            }),
        )
    }

    /// The anchors' parameters (pixel-major, `2M` each: scales, then means) from `h_s`'s
    /// output `raw` (the same layout) with a context of zeros; the other positions keep `raw`.
    pub fn anchor_params(&self, path: Path, raw: &[i32], size: (usize, usize)) -> Vec<i32> {
        self.refine(path, raw, None, (size, true))
    }

    /// The other positions' parameters with the context of `anchors` (pixel-major, `M` each:
    /// the anchors' `ŷ` in fixed point, zeros elsewhere); the anchors keep `raw`.
    pub fn other_params(
        &self,
        path: Path,
        raw: &[i32],
        anchors: Vec<i32>,
        (h, w): (usize, usize),
    ) -> Vec<i32> {
        let context = (self.conv).run_checkerboard(path, (h, w, self.m), anchors, false);
        self.refine(path, raw, Some(&context), ((h, w), false))
    }

    /// `raw` plus the parameter network's output for `raw` beside `context` (or zeros), at the
    /// anchors or at the others. The network is 1×1, so it runs on those positions alone,
    /// side by side as one row.
    fn refine(
        &self,
        path: Path,
        raw: &[i32],
        context: Option<&[i32]>,
        ((h, w), anchors): ((usize, usize), bool),
    ) -> Vec<i32> {
        let two = 2 * self.m;
        let positions: Vec<usize> = (0..h * w)
            .filter(|&p| is_anchor(p / w, p % w) == anchors)
            .collect();
        if positions.is_empty() {
            // A 1×1 latent has no others.
            return raw.to_vec();
        }
        let mut input = vec![0i32; positions.len() * 2 * two];
        for (pair, &p) in input.chunks_exact_mut(2 * two).zip(&positions) {
            pair[..two].copy_from_slice(&raw[p * two..(p + 1) * two]);
            if let Some(c) = context {
                pair[two..].copy_from_slice(&c[p * two..(p + 1) * two]);
            }
        }
        let row = (1, positions.len(), 2 * two);
        let out = self.params.run_pixel_major(path, row, input);
        let mut params = raw.to_vec();
        for (o, &p) in out.chunks_exact(two).zip(&positions) {
            let at = &mut params[p * two..(p + 1) * two];
            at.iter_mut()
                .zip(o)
                .for_each(|(v, o)| *v = v.saturating_add(*o));
        }
        params
    }
}

/// The indices (channel-major, `M` planes of `h × w`) of a context model's `y` values in coding
/// order: the anchors, channel by channel, then the others; and the anchors' count.
pub(super) fn coding_order(m: usize, (h, w): (usize, usize)) -> (Vec<usize>, usize) {
    let plane = h * w;
    let pass = |anchors: bool| {
        (0..m).flat_map(move |c| {
            (0..plane)
                .filter(move |&p| is_anchor(p / w, p % w) == anchors)
                .map(move |p| c * plane + p)
        })
    };
    let order: Vec<usize> = pass(true).chain(pass(false)).collect();
    let split = m * (0..plane).filter(|&p| is_anchor(p / w, p % w)).count();
    (order, split)
}

/// A decoded `ŷ = q + μ` in the integer network's fixed point (saturating).
pub(super) fn fixed_value(q: i32, mu: i32) -> i32 {
    let v = (i64::from(q) << ACT_BITS) + i64::from(mu);
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
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
        let (m, h, w) = (6, 5, 7);
        let raw: Vec<i32> = (0..h * w * 2 * m)
            .map(|k| (k as i32 * 7919) % 8192 - 4096)
            .collect();
        let ctx = Context::new(&weights).unwrap().expect("a context");
        let first = ctx.anchor_params(Path::Portable, &raw, (h, w));
        let mut anchors = vec![0i32; h * w * m];
        for p in (0..h * w).filter(|&p| is_anchor(p / w, p % w)) {
            for c in 0..m {
                let q = (p * 31 + c * 7) as i32 % 9 - 4;
                anchors[p * m + c] = fixed_value(q, first[p * 2 * m + m + c]);
            }
        }
        let second = ctx.other_params(Path::Portable, &raw, anchors.clone(), (h, w));
        for path in Path::available() {
            assert_eq!(ctx.anchor_params(path, &raw, (h, w)), first, "{path:?}");
            let other = ctx.other_params(path, &raw, anchors.clone(), (h, w));
            assert_eq!(other, second, "{path:?}");
        }

        // The context convolution at half the positions gives the full map's values there.
        for (half, width) in [(true, w), (false, w), (true, w - 1), (false, w - 1)] {
            let part = ctx.conv.run_checkerboard(
                Path::Portable,
                (h, width, m),
                anchors[..h * width * m].to_vec(),
                half,
            );
            let whole = ctx.conv.run_pixel_major(
                Path::Portable,
                (h, width, m),
                anchors[..h * width * m].to_vec(),
            );
            for p in 0..h * width {
                let at = p * 2 * m..(p + 1) * 2 * m;
                if is_anchor(p / width, p % width) == half {
                    assert_eq!(part[at.clone()], whole[at], "{p}");
                } else {
                    assert!(part[at].iter().all(|&v| v == 0), "{p}");
                }
            }
        }
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
