//! The Bjøntegaard delta rate (VCEG-M33): the average difference in bit rate between two
//! rate–distortion curves at equal quality.
//!
//! Each curve's log rate is fitted as a cubic polynomial of its PSNR (least squares; a lower
//! degree when a curve has fewer than four points), both fits are integrated over the PSNR
//! interval the two curves share, and the mean difference of log rates gives the rate ratio:
//! `BD-rate = exp(mean(ln R_test − ln R_anchor)) − 1`. Negative means the test curve needs
//! fewer bits for the same quality.

/// One point of a curve: rate (bytes, bits per pixel, any unit shared by both curves) and
/// quality in dB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RdPoint {
    /// Rate, in any positive unit.
    pub rate: f64,
    /// PSNR in dB.
    pub psnr: f64,
}

/// The BD-rate of `test` against `anchor` as a fraction (−0.25: 25% fewer bits), or `None`
/// when the curves share no PSNR interval or either has fewer than two usable points.
pub fn bd_rate(anchor: &[RdPoint], test: &[RdPoint]) -> Option<f64> {
    let fa = fit(anchor)?;
    let ft = fit(test)?;
    let lo = range(anchor).0.max(range(test).0);
    let hi = range(anchor).1.min(range(test).1);
    if hi - lo <= 1e-9 {
        return None;
    }
    let ia = integral(&fa, lo, hi);
    let it = integral(&ft, lo, hi);
    Some(((it - ia) / (hi - lo)).exp() - 1.0)
}

/// The points a fit can use: positive finite rates, finite PSNRs, each point once (a curve
/// that names a setting twice, a level and its step 1 say, would leave the fit's equations
/// singular).
fn usable(points: &[RdPoint]) -> Vec<RdPoint> {
    let mut out: Vec<RdPoint> = Vec::with_capacity(points.len());
    for &p in points {
        let finite = p.rate > 0.0 && p.rate.is_finite() && p.psnr.is_finite();
        if finite && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn range(points: &[RdPoint]) -> (f64, f64) {
    usable(points)
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.psnr), hi.max(p.psnr))
        })
}

/// Least-squares polynomial (coefficients from the constant up) of ln(rate) in PSNR, of
/// degree min(3, points − 1).
fn fit(points: &[RdPoint]) -> Option<Vec<f64>> {
    let p = usable(points);
    if p.len() < 2 {
        return None;
    }
    let degree = (p.len() - 1).min(3);
    let n = degree + 1;
    // Normal equations, PSNR centred for conditioning.
    let centre = p.iter().map(|q| q.psnr).sum::<f64>() / p.len() as f64;
    let mut a = vec![vec![0.0; n + 1]; n];
    for q in &p {
        let x = q.psnr - centre;
        let y = q.rate.ln();
        for (i, row) in a.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().take(n).enumerate() {
                *v += x.powi((i + j) as i32);
            }
            row[n] += y * x.powi(i as i32);
        }
    }
    let c = solve(a)?;
    Some(shift(&c, centre))
}

/// Gaussian elimination with partial pivoting on an augmented matrix.
fn solve(mut a: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let n = a.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (v, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    Some((0..n).map(|i| a[i][n] / a[i][i]).collect())
}

/// The coefficients of p(x − c) from those of p.
fn shift(c: &[f64], centre: f64) -> Vec<f64> {
    let mut out = vec![0.0; c.len()];
    for (k, &ck) in c.iter().enumerate() {
        // (x − centre)^k = Σ binom(k, j) x^j (−centre)^(k−j)
        for (j, o) in out.iter_mut().enumerate().take(k + 1) {
            *o += ck * binomial(k, j) * (-centre).powi((k - j) as i32);
        }
    }
    out
}

fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

fn integral(c: &[f64], lo: f64, hi: f64) -> f64 {
    let primitive = |x: f64| {
        c.iter()
            .enumerate()
            .map(|(k, &ck)| ck * x.powi(k as i32 + 1) / (k + 1) as f64)
            .sum::<f64>()
    };
    primitive(hi) - primitive(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(scale: f64) -> Vec<RdPoint> {
        [28.0f64, 30.0, 32.0, 34.0, 36.0]
            .iter()
            .map(|&psnr| RdPoint {
                rate: scale * (0.2 * psnr).exp(),
                psnr,
            })
            .collect()
    }

    #[test]
    fn a_curve_at_a_fixed_ratio_has_that_bd_rate() {
        let anchor = curve(1.0);
        let cheaper = curve(0.75);
        let d = bd_rate(&anchor, &cheaper).unwrap();
        assert!((d + 0.25).abs() < 1e-9, "{d}");
        let dearer = bd_rate(&anchor, &curve(2.0)).unwrap();
        assert!((dearer - 1.0).abs() < 1e-9, "{dearer}");
        assert!(bd_rate(&anchor, &anchor).unwrap().abs() < 1e-12);
    }

    #[test]
    fn a_point_named_twice_counts_once() {
        let anchor = curve(1.0);
        let mut test = curve(0.75)[..4].to_vec();
        let once = bd_rate(&anchor, &test).unwrap();
        test.push(test[1]);
        assert_eq!(bd_rate(&anchor, &test), Some(once));
    }

    #[test]
    fn disjoint_or_tiny_curves_have_none() {
        let low: Vec<RdPoint> = curve(1.0).into_iter().take(2).collect();
        let high: Vec<RdPoint> = curve(1.0).into_iter().skip(3).collect();
        assert_eq!(bd_rate(&low, &high), None);
        assert_eq!(bd_rate(&curve(1.0)[..1], &curve(1.0)), None);
        // Two points each: a straight-line fit still gives the ratio.
        let d = bd_rate(&curve(1.0)[1..3], &curve(0.5)[1..3]).unwrap();
        assert!((d + 0.5).abs() < 1e-9, "{d}");
    }
}
