//! The factorized prior of a code and its training relaxation.
//!
//! Every code value `z` (in (−1, 1), after the encoder's tanh) of dimension `d` is quantized
//! to the integer symbol `q = round((z − μ_d) / Δ_d)` and decoded as `μ_d + q·Δ_d`, with a
//! learned offset `μ_d` and step `Δ_d = exp(log_step_d)`. The prior of dimension `d` is a
//! logistic density with location `μ_d` and scale `s_d = exp(log_scale_d)`, integrated over
//! each symbol's interval: `P(q) = σ((q + ½)Δ/s) − σ((q − ½)Δ/s)`.
//!
//! In training (Ballé et al. 2017) rounding is replaced by additive uniform noise,
//! `ẑ = z + Δ·u` with `u ~ U(−½, ½)`, and the rate is the prior's probability of the interval
//! of width `Δ` around `ẑ`: `R = −log2(σ(a) − σ(b))`, `a = (ẑ − μ + Δ/2)/s`,
//! `b = (ẑ − μ − Δ/2)/s`. The probability is bounded below by [`LIKELIHOOD_BOUND`], where
//! the gradient stops (CompressAI passes the gradients that would raise it, as the hyperprior
//! family's rates do).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Smallest probability the rate counts (below it the rate is −log2 of the bound and its
/// gradient is zero).
pub const LIKELIHOOD_BOUND: f64 = 1e-9;

/// Initial `log_step`: steps of 0.05 (41 symbols over (−1, 1)).
pub const INITIAL_LOG_STEP: f32 = -2.995_732_3;
/// Initial `log_scale`: scale 0.2.
pub const INITIAL_LOG_SCALE: f32 = -1.609_438;

/// The prior's parameters, one value per code dimension each.
#[derive(Debug, Clone, Copy)]
pub struct Prior<'a> {
    /// Location μ (also the quantization offset).
    pub loc: &'a [f32],
    /// Natural log of the logistic scale s.
    pub log_scale: &'a [f32],
    /// Natural log of the quantization step Δ.
    pub log_step: &'a [f32],
}

/// Gradients of the rate (in bits) of a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateGrads {
    /// With respect to each noisy code value ẑ.
    pub code: Vec<f32>,
    /// With respect to each dimension's location.
    pub loc: Vec<f32>,
    /// With respect to each dimension's log-scale.
    pub log_scale: Vec<f32>,
    /// With respect to each dimension's log-step, through the interval width only (the
    /// noise's share, `∂ẑ/∂log Δ = Δ·u`, is the caller's: it involves the whole loss).
    pub log_step: Vec<f32>,
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `p = σ(a) − σ(b)` for `a > b`, computed in the tail where it does not cancel.
fn interval(a: f64, b: f64) -> f64 {
    if a + b > 0.0 {
        sigmoid(-b) - sigmoid(-a)
    } else {
        sigmoid(a) - sigmoid(b)
    }
}

/// The rate in bits of the noisy codes `zhat` (`batch × code_length`, row-major), and its
/// gradients when `grads` is given (resized and overwritten).
pub fn rate(zhat: &[f32], prior: Prior<'_>, mut grads: Option<&mut RateGrads>) -> f64 {
    let l = prior.loc.len();
    if let Some(g) = grads.as_deref_mut() {
        g.code.clear();
        g.code.resize(zhat.len(), 0.0);
        for v in [&mut g.loc, &mut g.log_scale, &mut g.log_step] {
            v.clear();
            v.resize(l, 0.0);
        }
    }
    let ln2 = std::f64::consts::LN_2;
    let mut bits = 0f64;
    for (k, &z) in zhat.iter().enumerate() {
        let d = k % l;
        let s = f64::from(prior.log_scale[d]).exp();
        let step = f64::from(prior.log_step[d]).exp();
        let centre = f64::from(z) - f64::from(prior.loc[d]);
        let (a, b) = ((centre + step / 2.0) / s, (centre - step / 2.0) / s);
        let p = interval(a, b);
        if p < LIKELIHOOD_BOUND {
            bits -= LIKELIHOOD_BOUND.log2();
            continue;
        }
        bits -= p.log2();
        let Some(g) = grads.as_deref_mut() else {
            continue;
        };
        // dR/da = −σ'(a)/(p ln 2), dR/db = σ'(b)/(p ln 2), σ'(x) = σ(x)σ(−x).
        let ra = -sigmoid(a) * sigmoid(-a) / (p * ln2);
        let rb = sigmoid(b) * sigmoid(-b) / (p * ln2);
        let dz = (ra + rb) / s;
        g.code[k] = dz as f32;
        g.loc[d] -= dz as f32;
        g.log_scale[d] -= (a * ra + b * rb) as f32;
        g.log_step[d] += ((ra - rb) * step / (2.0 * s)) as f32;
    }
    bits
}

/// The training noise of a step: `n` values of U(−½, ½) from a stream seeded by the run's
/// seed and the step number, so both trainers (and a resumed run) draw the same values.
pub fn noise(seed: u64, step: u64, n: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ step.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    (0..n).map(|_| rng.random::<f32>() - 0.5).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior_values(l: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let loc = (0..l).map(|d| 0.1 * d as f32 - 0.2).collect();
        let log_scale = (0..l).map(|d| -1.5 + 0.3 * d as f32).collect();
        let log_step = (0..l).map(|d| -3.0 + 0.4 * d as f32).collect();
        (loc, log_scale, log_step)
    }

    #[test]
    fn gradients_match_finite_differences() {
        let l = 4;
        let (loc, log_scale, log_step) = prior_values(l);
        let zhat: Vec<f32> = (0..3 * l)
            .map(|k| ((k as f32) * 0.77).sin() * 0.9)
            .collect();
        let prior = Prior {
            loc: &loc,
            log_scale: &log_scale,
            log_step: &log_step,
        };
        let mut g = RateGrads::default();
        rate(&zhat, prior, Some(&mut g));
        let h = 1e-3f32;
        let close = |fd: f64, an: f32, what: &str| {
            assert!(
                (fd - f64::from(an)).abs() < 2e-3 * (1.0 + fd.abs()),
                "{what}: finite difference {fd}, analytic {an}"
            );
        };
        // Central differences.
        for k in [0, 5, 11] {
            let (mut up, mut down) = (zhat.clone(), zhat.clone());
            up[k] += h;
            down[k] -= h;
            close(
                (rate(&up, prior, None) - rate(&down, prior, None)) / f64::from(2.0 * h),
                g.code[k],
                "code",
            );
        }
        for d in 0..l {
            for (which, grad) in [(0, &g.loc), (1, &g.log_scale), (2, &g.log_step)] {
                let shifted = |by: f32| {
                    let (mut a, mut b, mut c) = (loc.clone(), log_scale.clone(), log_step.clone());
                    [&mut a, &mut b, &mut c][which][d] += by;
                    let p2 = Prior {
                        loc: &a,
                        log_scale: &b,
                        log_step: &c,
                    };
                    rate(&zhat, p2, None)
                };
                close(
                    (shifted(h) - shifted(-h)) / f64::from(2.0 * h),
                    grad[d],
                    ["loc", "log_scale", "log_step"][which],
                );
            }
        }
    }

    #[test]
    fn rate_is_small_for_likely_values_and_bounded_for_unlikely_ones() {
        let (loc, log_scale, log_step) = (vec![0.0], vec![-5.0], vec![0.0]);
        let prior = Prior {
            loc: &loc,
            log_scale: &log_scale,
            log_step: &log_step,
        };
        // A step of 1 with a scale of 0.007: the centre interval holds nearly everything.
        assert!(rate(&[0.0], prior, None) < 1e-6);
        // Far out in the tail the probability is at its bound.
        let far = rate(&[10.0], prior, None);
        assert!((far - (-LIKELIHOOD_BOUND.log2())).abs() < 1e-9);
        let mut g = RateGrads::default();
        rate(&[10.0], prior, Some(&mut g));
        assert_eq!(g.code, [0.0]);
    }

    #[test]
    fn noise_is_uniform_and_reproducible() {
        let a = noise(3, 17, 10_000);
        assert_eq!(a, noise(3, 17, 10_000));
        assert_ne!(a, noise(3, 18, 10_000));
        assert!(a.iter().all(|&u| (-0.5..0.5).contains(&u)));
        let mean = a.iter().map(|&u| f64::from(u)).sum::<f64>() / a.len() as f64;
        assert!(mean.abs() < 0.01, "{mean}");
    }
}
