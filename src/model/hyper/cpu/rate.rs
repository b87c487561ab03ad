//! The rate terms of [`crate::model::hyper::rate`] with their gradients: bits of noisy `y`
//! under zero-mean Gaussians, and of noisy `z` under per-channel logistics. Probabilities
//! below [`LIKELIHOOD_BOUND`] count as the bound, and their gradient passes through as if they
//! were at it (CompressAI's `LowerBound`), as in burn's graph.

use std::f64::consts::{FRAC_1_SQRT_2, LN_2, PI};

use crate::entropy::prior::LIKELIHOOD_BOUND;

/// Bits of all values, and each bit count's gradient with respect to the inputs.
pub struct Bits {
    /// −log2 of the probabilities, summed.
    pub bits: f64,
    /// Gradient with respect to each value.
    pub d_value: Vec<f32>,
    /// Gradient with respect to each scale (Gaussian), or per channel to the location
    /// (logistic).
    pub d_param: Vec<f32>,
    /// Per channel, gradient with respect to the log-scale (logistic; empty for Gaussian).
    pub d_log_scale: Vec<f32>,
}

/// `d(−log2 max(p, bound))/dp`, passed through below the bound as if `p` were at it (as
/// CompressAI's `LowerBound` passes a gradient that would raise `p`).
fn dbits_dp(p: f64) -> f64 {
    -1.0 / (p.max(LIKELIHOOD_BOUND) * LN_2)
}

fn bits_of(p: f64) -> f64 {
    -p.max(LIKELIHOOD_BOUND).log2()
}

fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn gaussian_cdf(t: f64) -> f64 {
    0.5 * libm::erfc(-t * FRAC_1_SQRT_2)
}

/// The probability of the unit bin around `v` under a zero-mean Gaussian of scale `s`.
fn gaussian_bin(v: f32, s: f32) -> f64 {
    let (a, s) = (f64::from(v.abs()), f64::from(s));
    gaussian_cdf((0.5 - a) / s) - gaussian_cdf((-0.5 - a) / s)
}

/// Bits of one value `v` under a zero-mean Gaussian of scale `s` (the bin around `v`).
pub fn gaussian_bits(v: f32, s: f32) -> f64 {
    bits_of(gaussian_bin(v, s))
}

/// Bits of `y` under zero-mean Gaussians of scale `scales` (same shape).
pub fn gaussian(y: &[f32], scales: &[f32]) -> Bits {
    let pdf = |t: f64| (-0.5 * t * t).exp() / (2.0 * PI).sqrt();
    let mut bits = 0.0;
    let mut d_value = vec![0.0; y.len()];
    let mut d_param = vec![0.0; y.len()];
    for (i, (&v, &s)) in y.iter().zip(scales).enumerate() {
        let (a, s64) = (f64::from(v.abs()), f64::from(s));
        let (u, l) = ((0.5 - a) / s64, (-0.5 - a) / s64);
        let p = gaussian_bin(v, s);
        bits += bits_of(p);
        let g = dbits_dp(p);
        d_value[i] = (g * (pdf(l) - pdf(u)) / s64 * sign(f64::from(v))) as f32;
        d_param[i] = (g * (l * pdf(l) - u * pdf(u)) / s64) as f32;
    }
    Bits {
        bits,
        d_value,
        d_param,
        d_log_scale: Vec::new(),
    }
}

/// Bits of `z` (`rows × c`) under per-channel logistics of location `loc` and scale
/// `exp(log_scale)`.
pub fn logistic(z: &[f32], loc: &[f32], log_scale: &[f32]) -> Bits {
    let c = loc.len();
    let sigmoid = |t: f64| 1.0 / (1.0 + (-t).exp());
    let mut bits = 0.0;
    let mut d_value = vec![0.0; z.len()];
    let mut d_loc = vec![0f64; c];
    let mut d_log = vec![0f64; c];
    for (i, &v) in z.iter().enumerate() {
        let ch = i % c;
        let inv = (-f64::from(log_scale[ch])).exp();
        let centred = f64::from(v - loc[ch]);
        let a = centred.abs();
        let (u, l) = ((0.5 - a) * inv, (-0.5 - a) * inv);
        let (su, sl) = (sigmoid(u), sigmoid(l));
        let p = su - sl;
        bits += bits_of(p);
        let g = dbits_dp(p);
        let (du, dl) = (su * (1.0 - su), sl * (1.0 - sl));
        let d_a = g * inv * (dl - du);
        let d_inv = g * ((0.5 - a) * du - (-0.5 - a) * dl);
        let sgn = sign(centred);
        d_value[i] = (d_a * sgn) as f32;
        d_loc[ch] -= d_a * sgn;
        d_log[ch] -= d_inv * inv;
    }
    Bits {
        bits,
        d_value,
        d_param: d_loc.into_iter().map(|v| v as f32).collect(),
        d_log_scale: d_log.into_iter().map(|v| v as f32).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each analytic derivative against a central difference of the bit count.
    #[test]
    fn derivatives_match_finite_differences() {
        let h = 1e-3f32;
        let (y, s) = (0.8f32, 0.7f32);
        let at = |y: f32, s: f32| gaussian(&[y], &[s]).bits;
        let g = gaussian(&[y], &[s]);
        let dy = (at(y + h, s) - at(y - h, s)) / f64::from(2.0 * h);
        let ds = (at(y, s + h) - at(y, s - h)) / f64::from(2.0 * h);
        assert!((f64::from(g.d_value[0]) - dy).abs() < 1e-3, "{dy}");
        assert!((f64::from(g.d_param[0]) - ds).abs() < 1e-3, "{ds}");

        let (z, loc, ls) = (-1.3f32, 0.2f32, 0.4f32);
        let at = |z: f32, loc: f32, ls: f32| logistic(&[z], &[loc], &[ls]).bits;
        let g = logistic(&[z], &[loc], &[ls]);
        let dz = (at(z + h, loc, ls) - at(z - h, loc, ls)) / f64::from(2.0 * h);
        let dl = (at(z, loc + h, ls) - at(z, loc - h, ls)) / f64::from(2.0 * h);
        let dls = (at(z, loc, ls + h) - at(z, loc, ls - h)) / f64::from(2.0 * h);
        assert!((f64::from(g.d_value[0]) - dz).abs() < 1e-3, "{dz}");
        assert!((f64::from(g.d_param[0]) - dl).abs() < 1e-3, "{dl}");
        assert!((f64::from(g.d_log_scale[0]) - dls).abs() < 1e-3, "{dls}");
    }

    /// Below the likelihood bound a value costs the bound's bits, and its gradient still
    /// points the way that raises its probability: smaller |y|, larger scale.
    #[test]
    fn gradients_pass_through_the_bound() {
        let g = gaussian(&[1.25], &[0.11]);
        assert_eq!(g.bits, -LIKELIHOOD_BOUND.log2());
        assert!(g.d_value[0] > 0.0 && g.d_param[0] < 0.0);
        let g = gaussian(&[-1.25], &[0.11]);
        assert!(g.d_value[0] < 0.0);
        let g = logistic(&[40.0], &[0.0], &[0.0]);
        assert_eq!(g.bits, -LIKELIHOOD_BOUND.log2());
        assert!(g.d_value[0] > 0.0 && g.d_log_scale[0] < 0.0);
    }
}
