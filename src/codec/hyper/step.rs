//! The latents' quantization step `Δ` (SPEC §13.3, kind 3): the encoder codes
//! `s = round((y − μ) / Δ)`, the decoder reads `ŷ = Δ·s + μ`, and each latent's table is the
//! one for its scale over `Δ`. `Δ` is a whole number of 256ths, so all of this is exact
//! integer arithmetic on the integer networks' fixed point, the same on every machine; a
//! step of 1 is the model's own quantization (kind 2).

use aec_format::UNIT_STEP;

use super::CodecError;
use crate::entropy::hyper_tables::SCALE_LEVELS;
use crate::model::hyper::integer::ACT_BITS;

/// Fraction bits of a step (256ths).
const STEP_BITS: u32 = 8;

/// A quantization step: 1 to 65535 256ths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step(u16);

impl Default for Step {
    fn default() -> Self {
        Self::UNIT
    }
}

impl Step {
    /// A step of 1: the model's own quantization.
    pub const UNIT: Step = Step(UNIT_STEP);
    /// The largest step a command-line value may ask for (coarser gives no useful image).
    pub const MAX_VALUE: f64 = 16.0;
    /// The smallest.
    pub const MIN_VALUE: f64 = 1.0 / 16.0;

    /// The step of a file's field; `None` for 0.
    pub fn from_field(v: u16) -> Option<Step> {
        (v > 0).then_some(Step(v))
    }

    /// The step nearest `x` (a number, 1 = the model's own), for `x` in
    /// [`Self::MIN_VALUE`]`..=`[`Self::MAX_VALUE`].
    pub fn from_value(x: f64) -> Result<Step, CodecError> {
        if !(Self::MIN_VALUE..=Self::MAX_VALUE).contains(&x) {
            return Err(CodecError::Setting(format!(
                "quantization step {x} is outside {}..={}",
                Self::MIN_VALUE,
                Self::MAX_VALUE
            )));
        }
        Ok(Step((x * f64::from(UNIT_STEP)).round() as u16))
    }

    /// The file's field: 256ths.
    pub fn field(self) -> u16 {
        self.0
    }

    /// The step as a number.
    pub fn value(self) -> f32 {
        f32::from(self.0) / f32::from(UNIT_STEP)
    }

    /// The symbol of a latent `v` whose mean is `mu` (fixed point).
    pub(super) fn quantize(self, v: f32, mu: i32) -> i32 {
        let centred = v - mean_value(mu);
        // A division by 1 changes no value: the unit step skips it.
        super::round_i32(if self == Self::UNIT {
            centred
        } else {
            centred / self.value()
        })
    }

    /// `Δ·s + μ` in the integer networks' fixed point, exact (|s| ≤ 2^31 and a step below 2^16 keep it under 2^51).
    fn fixed_sum(self, s: i32, mu: i32) -> i64 {
        ((i64::from(s) * i64::from(self.0)) << (ACT_BITS - STEP_BITS)) + i64::from(mu)
    }

    /// The decoded latent `ŷ = Δ·s + μ`: the exact fixed-point sum, rounded once to `f32`
    /// (IEEE conversion, the same on every machine), scaled by a power of two (exact).
    pub(super) fn dequantize(self, s: i32, mu: i32) -> f32 {
        self.fixed_sum(s, mu) as f32 / (1u32 << ACT_BITS) as f32
    }

    /// `ŷ` in the fixed point, saturated to 32 bits: what the context convolution reads.
    pub(super) fn fixed_value(self, s: i32, mu: i32) -> i32 {
        (self.fixed_sum(s, mu)).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    }

    /// [`Ladder::level`] of `scale` on the ladder of `thresholds`.
    #[cfg(test)]
    fn level(self, thresholds: &[i32], scale: i32) -> usize {
        self.ladder(thresholds).level(scale)
    }

    /// `thresholds` (increasing, fewer than [`SCALE_LEVELS`]) scaled by this step once, for
    /// many [`Ladder::level`]s.
    pub(super) fn ladder(self, thresholds: &[i32]) -> Ladder {
        assert!(
            thresholds.len() < SCALE_LEVELS,
            "a ladder of {SCALE_LEVELS} levels"
        );
        let mut rungs = [i64::MAX; SCALE_LEVELS];
        for (r, &t) in rungs.iter_mut().zip(thresholds) {
            *r = i64::from(t) * i64::from(self.0);
        }
        Ladder(rungs)
    }
}

// The search halves the ladder down to one rung.
const _: () = assert!(SCALE_LEVELS.is_power_of_two());

/// The scale thresholds times a step's 256ths (exact: 32 bits times 16), then `i64::MAX`s
/// (above every scale) to a power of two.
pub(super) struct Ladder([i64; SCALE_LEVELS]);

impl Ladder {
    /// The scale level of a latent whose predicted scale is `scale` (fixed point) when coded
    /// with the ladder's step `Δ`: the number of thresholds `t` with `t·Δ < scale`, compared
    /// exactly. A binary search of fixed steps, without branches: a latent's scale is no
    /// guide to the next one's, and a search that branched mispredicted on nearly every one.
    pub(super) fn level(&self, scale: i32) -> usize {
        let scaled = i64::from(scale) << STEP_BITS;
        let mut below = 0;
        let mut half = SCALE_LEVELS / 2;
        while half > 0 {
            below += usize::from(self.0[below + half - 1] < scaled) * half;
            half /= 2;
        }
        below
    }
}

/// A mean in the integer networks' fixed point as `f32`.
pub(super) fn mean_value(mu: i32) -> f32 {
    // Exact for |mu| < 2^24; beyond, one correct rounding, the same everywhere.
    mu as f32 / (1u32 << ACT_BITS) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_step_is_the_plain_quantization() {
        let u = Step::UNIT;
        for (s, mu) in [
            (0, 0),
            (3, -2048),
            (-7, 12345),
            (i32::MAX, 4095),
            (i32::MIN, -1),
        ] {
            let sum = (i64::from(s) << ACT_BITS) + i64::from(mu);
            assert_eq!(u.dequantize(s, mu), sum as f32 / 4096.0);
            assert_eq!(
                u.fixed_value(s, mu),
                sum.clamp(i32::MIN.into(), i32::MAX.into()) as i32
            );
        }
        let t = [-5, 0, 40, 4096, 9000];
        for scale in [-6, -5, 0, 1, 40, 41, 5000, 9001] {
            assert_eq!(u.level(&t, scale), t.partition_point(|&x| x < scale));
        }
        assert_eq!(u.quantize(2.6, 4096), 2);
    }

    /// Against an independent formulation in `f64`, exact for these magnitudes: `Δ·s + μ`
    /// rounded once to `f32`, and the levels as `t·Δ < σ`.
    #[test]
    fn values_and_levels_match_exact_rationals() {
        let mut next = super::super::xorshift(0x2545_F491_4F6C_DD1D);
        let thresholds: Vec<i32> = (0..63).map(|i: i32| i * i * 97 + i * 13 - 4000).collect();
        for _ in 0..20_000 {
            let step = Step::from_field((next() % 65_535) as u16 + 1).unwrap();
            let s = (next() % (1 << 24)) as i32 - (1 << 23);
            let mu = (next() % (1 << 28)) as i32 - (1 << 27);
            let delta = f64::from(step.field()) / 256.0;
            let exact = f64::from(s) * delta + f64::from(mu) / 4096.0;
            assert_eq!(step.dequantize(s, mu), exact as f32, "{s} {mu} {step:?}");
            let sigma = (next() % 800_000) as i32 - 100_000;
            let want = (thresholds.iter())
                .filter(|&&t| f64::from(t) * delta < f64::from(sigma))
                .count();
            assert_eq!(step.level(&thresholds, sigma), want, "{sigma} {step:?}");
        }
    }

    #[test]
    fn steps_scale_values_and_tables_exactly() {
        let half = Step::from_value(0.5).unwrap();
        let three = Step::from_value(3.0).unwrap();
        assert_eq!((half.field(), three.field()), (128, 768));
        assert_eq!(half.dequantize(3, 4096), 2.5);
        assert_eq!(three.dequantize(-2, 2048), -5.5);
        assert_eq!(three.fixed_value(i32::MAX, 0), i32::MAX);
        assert_eq!(three.quantize(7.0, 4096), 2);
        assert_eq!(half.quantize(-1.2, 0), -2);
        // Scales are compared with t·Δ: a scale of 3·t sits at t's level for Δ = 3.
        let t = [100, 200, 300];
        assert_eq!(three.level(&t, 600), 1);
        assert_eq!(three.level(&t, 601), 2);
        assert_eq!(half.level(&t, 50), 0);
        assert_eq!(half.level(&t, 51), 1);
        for bad in [0.0, 1.0 / 17.0, 16.5, f64::NAN, f64::INFINITY] {
            assert!(Step::from_value(bad).is_err(), "{bad}");
        }
        assert_eq!(Step::from_field(0), None);
    }
}
