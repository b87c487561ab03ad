//! The integer tables an entropy-coded model stores: per code dimension, the quantization
//! offset and step, the symbol alphabet, and the symbols' probabilities in 24-bit fixed point.
//!
//! They are computed once, when a model file is written, from the trained prior (floating
//! point is allowed there); coding then uses them as stored, so every machine builds the same
//! entropy models from the same integers.

use super::prior::Prior;

/// Fixed-point precision of the probabilities: each dimension's probabilities sum to 2^24.
pub const PRECISION: u32 = 24;
/// Largest alphabet of one dimension (steps down to about 1/2048 of the code's range).
pub const MAX_SYMBOLS: usize = 4096;

/// What can be wrong with a prior or with stored tables.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TableError {
    /// A step is so small (or not a number) that the alphabet would be too large.
    #[error("code dimension {dim}: step {step} needs {symbols} symbols, more than {MAX_SYMBOLS}")]
    StepTooSmall {
        /// The dimension.
        dim: usize,
        /// Its step.
        step: f32,
        /// The alphabet it would need.
        symbols: f64,
    },
    /// Stored tables are inconsistent.
    #[error("entropy tables: {0}")]
    Invalid(String),
}

/// Quantization and probability tables of a code, one entry per dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeTables {
    /// Offset of each dimension's quantization grid (the prior's location).
    pub loc: Vec<f32>,
    /// Step of each dimension's grid.
    pub step: Vec<f32>,
    /// Smallest symbol of each dimension's alphabet.
    pub min_symbol: Vec<i32>,
    /// Probabilities of each dimension's symbols, from `min_symbol` up: all ≥ 1, summing to
    /// 2^[`PRECISION`].
    pub probabilities: Vec<Vec<u32>>,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl CodeTables {
    /// The tables of a trained prior. Each dimension's alphabet covers every symbol a code
    /// value in [−1, 1] can round to; the end symbols also carry the prior's tails.
    pub fn from_prior(prior: Prior<'_>) -> Result<Self, TableError> {
        let l = prior.loc.len();
        let mut t = CodeTables {
            loc: prior.loc.to_vec(),
            step: Vec::with_capacity(l),
            min_symbol: Vec::with_capacity(l),
            probabilities: Vec::with_capacity(l),
        };
        for d in 0..l {
            let step = prior.log_step[d].exp();
            let (mu, s, delta) = (
                f64::from(prior.loc[d]),
                f64::from(prior.log_scale[d]).exp(),
                f64::from(step),
            );
            let (lo, hi) = (((-1.0 - mu) / delta).round(), ((1.0 - mu) / delta).round());
            let symbols = hi - lo + 1.0;
            if !(symbols.is_finite() && symbols <= MAX_SYMBOLS as f64 && delta > 0.0) {
                return Err(TableError::StepTooSmall {
                    dim: d,
                    step,
                    symbols,
                });
            }
            let (lo, n) = (lo as i32, symbols as usize);
            let cdf = |q: i32| sigmoid((f64::from(q) + 0.5) * delta / s);
            let p: Vec<f64> = (0..n)
                .map(|i| {
                    let q = lo + i as i32;
                    let upper = if i + 1 == n { 1.0 } else { cdf(q) };
                    let lower = if i == 0 { 0.0 } else { cdf(q - 1) };
                    (upper - lower).max(0.0)
                })
                .collect();
            t.step.push(step);
            t.min_symbol.push(lo);
            t.probabilities.push(fixed_point(&p));
        }
        Ok(t)
    }

    /// Number of code dimensions.
    pub fn code_length(&self) -> usize {
        self.loc.len()
    }

    /// Checks stored tables: equal lengths, finite positive steps, alphabets of 1 to
    /// [`MAX_SYMBOLS`] symbols within `i32`, probabilities all ≥ 1 summing to 2^24.
    pub fn validate(&self) -> Result<(), TableError> {
        let l = self.loc.len();
        let bad = |m: String| Err(TableError::Invalid(m));
        if [
            self.step.len(),
            self.min_symbol.len(),
            self.probabilities.len(),
        ] != [l; 3]
        {
            return bad("tables of different lengths".into());
        }
        for d in 0..l {
            let p = &self.probabilities[d];
            if !(self.step[d] > 0.0 && self.step[d].is_finite() && self.loc[d].is_finite()) {
                return bad(format!(
                    "dimension {d}: step or offset is not a positive number"
                ));
            }
            if p.is_empty() || p.len() > MAX_SYMBOLS || p.contains(&0) {
                return bad(format!(
                    "dimension {d}: alphabet of {} symbols or a zero",
                    p.len()
                ));
            }
            if i64::from(self.min_symbol[d]) + p.len() as i64 > i64::from(i32::MAX) {
                return bad(format!("dimension {d}: symbols beyond i32"));
            }
            if p.iter().map(|&v| u64::from(v)).sum::<u64>() != 1 << PRECISION {
                return bad(format!("dimension {d}: probabilities do not sum to 2^24"));
            }
        }
        Ok(())
    }

    /// The symbol of each code value (`batch × code_length`, row-major): its grid point
    /// `round((z − loc)/step)`, clamped to the alphabet.
    pub fn quantize(&self, codes: &[f32]) -> Vec<i32> {
        let l = self.code_length();
        codes
            .iter()
            .enumerate()
            .map(|(k, &z)| {
                let d = k % l;
                let hi = self.min_symbol[d] + self.probabilities[d].len() as i32 - 1;
                let q = ((z - self.loc[d]) / self.step[d]).round();
                // NaN maps to 0 here, then into the alphabet.
                (q as i32).clamp(self.min_symbol[d], hi)
            })
            .collect()
    }

    /// The code values of symbols: `loc + q·step`, two IEEE operations, the same everywhere.
    pub fn dequantize(&self, symbols: &[i32]) -> Vec<f32> {
        let l = self.code_length();
        symbols
            .iter()
            .enumerate()
            .map(|(k, &q)| {
                let d = k % l;
                self.loc[d] + q as f32 * self.step[d]
            })
            .collect()
    }

    /// The information content in bits of symbols under the tables (what an ideal entropy
    /// coder would spend on them).
    pub fn ideal_bits(&self, symbols: &[i32]) -> f64 {
        let l = self.code_length();
        symbols
            .iter()
            .enumerate()
            .map(|(k, &q)| {
                let d = k % l;
                let p = self.probabilities[d][(q - self.min_symbol[d]) as usize];
                f64::from(PRECISION) - f64::from(p).log2()
            })
            .sum()
    }
}

/// Probabilities (summing to about 1) in 24-bit fixed point: each symbol gets 1 plus its share
/// of the rest, rounded down, and what rounding left over goes to the largest remainders
/// (ties to the lower symbol), so that the sum is exactly 2^24.
pub(crate) fn fixed_point(p: &[f64]) -> Vec<u32> {
    let n = p.len();
    let total: f64 = p.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let budget = (1u64 << PRECISION) - n as u64;
    let shares: Vec<f64> = p.iter().map(|&v| v / total * budget as f64).collect();
    let mut out: Vec<u32> = shares.iter().map(|&s| 1 + s.floor() as u32).collect();
    let used: u64 = out.iter().map(|&v| u64::from(v)).sum();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (shares[a] - shares[a].floor(), shares[b] - shares[b].floor());
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    let left = (1u64 << PRECISION).saturating_sub(used) as usize;
    for &i in order.iter().cycle().take(left) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> CodeTables {
        let loc = [0.0, 0.3, -0.1];
        let log_scale = [-1.6f32, -4.0, 0.0];
        let log_step = [-3.0f32, -1.0, -0.2];
        CodeTables::from_prior(Prior {
            loc: &loc,
            log_scale: &log_scale,
            log_step: &log_step,
        })
        .unwrap()
    }

    #[test]
    fn tables_are_valid_and_cover_the_code_range() {
        let t = tables();
        t.validate().unwrap();
        for d in 0..3 {
            let hi = t.min_symbol[d] + t.probabilities[d].len() as i32 - 1;
            for z in [-1.0f32, -0.37, 0.0, 0.999, 1.0] {
                let q = ((z - t.loc[d]) / t.step[d]).round() as i32;
                assert!((t.min_symbol[d]..=hi).contains(&q), "dim {d}, z {z}");
            }
        }
        // Step e^-3 ≈ 0.0498 around 0: symbols −20..=20.
        assert_eq!((t.min_symbol[0], t.probabilities[0].len()), (-20, 41));
        // A narrow prior: nearly all mass on the symbol at the offset.
        let p1 = &t.probabilities[1];
        let centre = (-t.min_symbol[1]) as usize;
        assert!(f64::from(p1[centre]) > 0.99 * f64::from(1u32 << PRECISION));
    }

    #[test]
    fn quantize_and_dequantize() {
        let t = tables();
        let codes = [0.05, 0.3, 5.0, -0.051, 0.5, f32::NAN];
        let q = t.quantize(&codes);
        assert_eq!(q[0], 1);
        assert_eq!(q[1], 0);
        // Clamped to the alphabet's top.
        assert_eq!(q[2], t.min_symbol[2] + t.probabilities[2].len() as i32 - 1);
        assert_eq!(q[3], -1);
        let back = t.dequantize(&q);
        assert!((back[0] - 0.05).abs() <= t.step[0] / 2.0);
        assert_eq!(back[1], 0.3);
        assert!(t.ideal_bits(&q) > 0.0);
    }

    #[test]
    fn fixed_point_sums_exactly_and_keeps_every_symbol() {
        for p in [
            vec![1.0],
            vec![0.5, 0.5],
            vec![1e-30, 1.0, 1e-30],
            vec![0.1; 10],
            (0..4096).map(|i| f64::from(i % 7)).collect(),
        ] {
            let q = fixed_point(&p);
            assert_eq!(q.iter().map(|&v| u64::from(v)).sum::<u64>(), 1 << PRECISION);
            assert!(q.iter().all(|&v| v >= 1));
        }
    }

    #[test]
    fn bad_tables_are_refused() {
        let mut t = tables();
        t.probabilities[0][0] += 1;
        assert!(t.validate().is_err());
        let mut t = tables();
        t.step[2] = 0.0;
        assert!(t.validate().is_err());
        let tiny = CodeTables::from_prior(Prior {
            loc: &[0.0],
            log_scale: &[0.0],
            log_step: &[-12.0],
        });
        assert!(matches!(tiny, Err(TableError::StepTooSmall { .. })));
    }
}
