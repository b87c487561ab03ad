//! The integer tables of a hyperprior model: the side latent `z`'s per-channel distributions
//! and the latent `y`'s Gaussian distributions, one per level of a fixed ladder of scales.
//!
//! Like [`super::tables`], they are computed once, when a model file is written, and stored in
//! it; coding reads them as stored. The scale thresholds are fixed-point integers, compared
//! with the integer hyper-synthesis's output, so the choice of each latent's table involves
//! no floating point.

use super::tables::{fixed_point, TableError};

/// Levels of the scale ladder (CompressAI's 64, from 0.11 to 256, evenly spaced in log).
pub const SCALE_LEVELS: usize = 64;
/// Smallest and largest scale of the ladder.
pub const SCALE_RANGE: (f64, f64) = (0.11, 256.0);
/// Probability left outside each alphabet before the end symbols absorb it (CompressAI's
/// tail mass).
pub const TAIL_MASS: f64 = 1e-9;
/// Smallest probability of the escape symbol, 2⁻¹⁰: it costs the other symbols about 0.0014 bits
/// each, and makes an escape cost 10 bits instead of the 24 of the tail mass alone (a model early
/// in training escaped 2% of its values; see docs/hyperprior.md).
pub const ESCAPE_FLOOR: f64 = 1.0 / 1024.0;
/// Largest alphabet of one table.
pub const MAX_TABLE_SYMBOLS: usize = 1 << 16;

/// One categorical distribution over `min_symbol ..= min_symbol + n − 1`, 24-bit fixed point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Smallest symbol.
    pub min_symbol: i32,
    /// Probabilities, each ≥ 1, summing to 2^24.
    pub probabilities: Vec<u32>,
}

impl Table {
    /// Largest symbol: the escape.
    pub fn max_symbol(&self) -> i32 {
        self.min_symbol + self.probabilities.len() as i32 - 1
    }

    /// The escape symbol, which announces a value outside `min_symbol ..= escape − 1`.
    pub fn escape(&self) -> i32 {
        self.max_symbol()
    }

    /// Ideal code length of `symbol` in bits.
    pub fn bits(&self, symbol: i32) -> f64 {
        let p = self.probabilities[(symbol - self.min_symbol) as usize];
        24.0 - f64::from(p).log2()
    }
}

/// The tables of a hyperprior model.
#[derive(Debug, Clone, PartialEq)]
pub struct HyperTables {
    /// Quantization offset of each channel of `z` (symbol `round(z − offset)`).
    pub z_offset: Vec<f32>,
    /// The distribution of each channel of `z`.
    pub z: Vec<Table>,
    /// Thresholds between the scale levels in the integer hyper-synthesis's fixed point: a
    /// latent whose predicted scale `s` exceeds `thresholds[k]` for exactly `i` of them uses
    /// level `i` ([`HyperTables::level`]). `SCALE_LEVELS − 1` values, increasing.
    pub thresholds: Vec<i32>,
    /// The zero-mean Gaussian of each scale level.
    pub y: Vec<Table>,
}

/// The scale of ladder level `k`.
pub fn ladder_scale(k: usize) -> f64 {
    let (lo, hi) = (SCALE_RANGE.0.ln(), SCALE_RANGE.1.ln());
    (lo + (hi - lo) * k as f64 / (SCALE_LEVELS - 1) as f64).exp()
}

fn gaussian_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

fn logistic_cdf(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The table of a symmetric density with distribution function `cdf` (over `x / scale`),
/// centred on 0: the symbols `−half ..= half` whose intervals carry all but `TAIL_MASS` of the
/// mass, then one *escape* symbol (`half + 1`) that carries the two tails, at least
/// [`ESCAPE_FLOOR`], and announces a value outside the alphabet (coded after it, see
/// `codec::hyper`).
fn symmetric_table(cdf: impl Fn(f64) -> f64, scale: f64, tail_units: f64) -> Result<Table, String> {
    let half = (tail_units * scale).ceil();
    if !(half.is_finite() && (2.0 * half + 2.0) as usize <= MAX_TABLE_SYMBOLS) {
        return Err(format!(
            "scale {scale} needs more than {MAX_TABLE_SYMBOLS} symbols"
        ));
    }
    let half = half as i32;
    let direct = 2 * half as usize + 1;
    let mut p: Vec<f64> = (0..direct)
        .map(|i| {
            let q = f64::from(i as i32 - half);
            (cdf((q + 0.5) / scale) - cdf((q - 0.5) / scale)).max(0.0)
        })
        .collect();
    p.push((2.0 * cdf(-(f64::from(half) + 0.5) / scale)).max(ESCAPE_FLOOR));
    Ok(Table {
        min_symbol: -half,
        probabilities: fixed_point(&p),
    })
}

impl HyperTables {
    /// The tables of a trained model: `z_loc` and `z_log_scale` are the logistic prior of
    /// `z`; `fraction_bits` is the fixed point of the integer hyper-synthesis's output.
    pub fn new(z_loc: &[f32], z_log_scale: &[f32], fraction_bits: u32) -> Result<Self, TableError> {
        // Units of scale beyond which a tail holds TAIL_MASS / 2.
        let gaussian_tail = 6.109; // Φ⁻¹(1 − 5e-10)
        let logistic_tail = ((1.0 - TAIL_MASS / 2.0) / (TAIL_MASS / 2.0)).ln();
        let mut z = Vec::with_capacity(z_loc.len());
        for (c, &log_scale) in z_log_scale.iter().enumerate() {
            let scale = f64::from(log_scale).exp();
            z.push(
                symmetric_table(logistic_cdf, scale, logistic_tail)
                    .map_err(|e| TableError::Invalid(format!("z channel {c}: {e}")))?,
            );
        }
        let y = (0..SCALE_LEVELS)
            .map(|k| symmetric_table(gaussian_cdf, ladder_scale(k), gaussian_tail))
            .collect::<Result<Vec<_>, _>>()
            .map_err(TableError::Invalid)?;
        let unit = f64::from(1u32 << fraction_bits);
        let thresholds = (0..SCALE_LEVELS - 1)
            .map(|k| (ladder_scale(k) * unit).round() as i32)
            .collect();
        Ok(Self {
            z_offset: z_loc.to_vec(),
            z,
            thresholds,
            y,
        })
    }

    /// The scale level of a latent whose predicted scale is `scale` (fixed point): the first
    /// level whose scale is at least `scale`, the last for anything larger.
    pub fn level(&self, scale: i32) -> usize {
        self.thresholds.partition_point(|&t| t < scale)
    }

    /// Checks stored tables: one z table per offset, `SCALE_LEVELS` y tables, increasing
    /// thresholds, alphabets of 2 to 65536 symbols (the last one the escape) with probabilities ≥ 1 summing to 2^24.
    pub fn validate(&self, z_channels: usize) -> Result<(), TableError> {
        let bad = |m: String| Err(TableError::Invalid(m));
        if self.z.len() != z_channels || self.z_offset.len() != z_channels {
            return bad(format!(
                "{} z tables for {z_channels} channels",
                self.z.len()
            ));
        }
        if self.y.len() != SCALE_LEVELS || self.thresholds.len() != SCALE_LEVELS - 1 {
            return bad(format!(
                "{} y tables, {SCALE_LEVELS} expected",
                self.y.len()
            ));
        }
        if self.thresholds.windows(2).any(|w| w[0] >= w[1]) {
            return bad("scale thresholds do not increase".into());
        }
        if let Some(c) = self.z_offset.iter().position(|v| !v.is_finite()) {
            return bad(format!("z channel {c}: offset is not a number"));
        }
        for (what, t) in self
            .z
            .iter()
            .map(|t| ("z", t))
            .chain(self.y.iter().map(|t| ("y", t)))
        {
            let n = t.probabilities.len();
            let sum: u64 = t.probabilities.iter().map(|&p| u64::from(p)).sum();
            if !(2..=MAX_TABLE_SYMBOLS).contains(&n)
                || t.probabilities.contains(&0)
                || sum != 1 << 24
            {
                return bad(format!(
                    "a {what} table is not a distribution of 2 to {MAX_TABLE_SYMBOLS} symbols"
                ));
            }
            if i64::from(t.min_symbol) + n as i64 - 1 > i64::from(i32::MAX) {
                return bad(format!("a {what} table's symbols do not fit in an i32"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_and_levels() {
        assert!((ladder_scale(0) - 0.11).abs() < 1e-12);
        assert!((ladder_scale(SCALE_LEVELS - 1) - 256.0).abs() < 1e-9);
        let t = HyperTables::new(&[0.0, 0.5], &[0.0, 1.0], 12).unwrap();
        t.validate(2).unwrap();
        assert_eq!(t.level(0), 0);
        assert_eq!(
            t.level(t.thresholds[0]),
            0,
            "a scale equal to a level uses it"
        );
        assert_eq!(t.level(t.thresholds[0] + 1), 1);
        assert_eq!(t.level(i32::MAX), SCALE_LEVELS - 1);
        // Every escape has the floor's probability (its tails are below it), after the
        // table's normalisation.
        let floor = (ESCAPE_FLOOR / (1.0 + ESCAPE_FLOOR) * f64::from(1u32 << 24)).round() as u32;
        assert!(t
            .y
            .iter()
            .all(|t| t.probabilities.last().unwrap().abs_diff(floor) <= 2));
        // The alphabets widen with the scale; the widest stays within the limit.
        assert!(t.y[0].probabilities.len() < t.y[40].probabilities.len());
        assert_eq!(
            t.y[SCALE_LEVELS - 1].min_symbol,
            -(6.109f64 * 256.0).ceil() as i32
        );
    }

    #[test]
    fn tables_match_the_density() {
        let t = HyperTables::new(&[0.0], &[0.0], 12).unwrap();
        // Scale 1 level: P(0) = Φ(½) − Φ(−½) ≈ 0.3829.
        let k = (0..SCALE_LEVELS).min_by(|&a, &b| {
            (ladder_scale(a) - 1.0)
                .abs()
                .total_cmp(&(ladder_scale(b) - 1.0).abs())
        });
        let table = &t.y[k.unwrap()];
        let s = ladder_scale(k.unwrap());
        let p0 =
            f64::from(table.probabilities[(-table.min_symbol) as usize]) / f64::from(1u32 << 24);
        // The tables are normalised after the escape's floor is added.
        let expected = (gaussian_cdf(0.5 / s) - gaussian_cdf(-0.5 / s)) / (1.0 + ESCAPE_FLOOR);
        assert!((p0 - expected).abs() < 1e-6, "{p0} vs {expected}");
        // The logistic z table with scale 1: P(0) = σ(½) − σ(−½) ≈ 0.2449.
        let z0 =
            f64::from(t.z[0].probabilities[(-t.z[0].min_symbol) as usize]) / f64::from(1u32 << 24);
        let z_expected = (logistic_cdf(0.5) - logistic_cdf(-0.5)) / (1.0 + ESCAPE_FLOOR);
        assert!((z0 - z_expected).abs() < 1e-6);
    }

    #[test]
    fn validate_rejects_damage() {
        let good = HyperTables::new(&[0.0], &[0.0], 12).unwrap();
        let mut t = good.clone();
        t.thresholds[3] = t.thresholds[2];
        assert!(t.validate(1).is_err());
        let mut t = good.clone();
        t.y[5].probabilities[0] += 1;
        assert!(t.validate(1).is_err());
        assert!(good.validate(2).is_err());
        let mut t = good;
        t.z_offset[0] = f32::NAN;
        assert!(t.validate(1).is_err());
    }
}
