//! The continuous quality scale of `--quality`: a whole number is that built-in level as
//! trained; a number between levels `k` and `k + 1` is level `k` with a finer quantization
//! step, `2^(−f/2)` at `k + f`, which brings its files to about level `k + 1`'s size at
//! `f = 1` (measured on training photos: each level at a step of 0.69–0.71 matches the next
//! one's bytes within 0.07 dB of its quality, `docs/hyperprior.md#quality-between-the-levels`),
//! except below a level with a larger network than the one before it
//! ([`Builtin::larger_than_below`]): there level `k + 1` at the coarser step `2^((1 − f)/2)`.
//! Below 1 the first level takes coarser steps, above the last level the last one finer
//! steps, down to `0` and up to two past the last level (a step of ½).

use super::builtin::Builtin;
use super::hyper::Step;
use super::CodecError;

/// A point of the quality scale: a built-in level and the quantization step to code with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// The built-in level, 1 = smallest files.
    pub level: u8,
    /// The step its latents are coded with.
    pub step: Step,
    /// The number it was made from.
    pub value: f64,
}

impl Quality {
    /// The lowest quality: level 1 at a step of √2.
    pub const MIN: f64 = 0.0;

    /// The highest quality: the last level at a step of ½.
    pub fn max() -> f64 {
        f64::from(Builtin::qualities()) + 2.0
    }

    /// The setting for quality `q`, [`Self::MIN`] to [`Self::max`].
    pub fn from_value(q: f64) -> Result<Quality, CodecError> {
        let top = Builtin::qualities();
        if !(Self::MIN..=Self::max()).contains(&q) {
            return Err(CodecError::Setting(format!(
                "quality {q} is outside {}..={}",
                Self::MIN,
                Self::max()
            )));
        }
        // The level whose finer steps reach q: floor(q), within 1..=top; or the next one's
        // coarser steps where its network is the larger.
        let mut level = (q.floor() as u8).clamp(1, top);
        if q > f64::from(level) && level < top && Builtin::larger_than_below(level + 1) {
            level += 1;
        }
        let offset = q - f64::from(level);
        Ok(Quality {
            level,
            step: Self::step_at(offset)?,
            value: q,
        })
    }

    /// The quality a file of model `model_id` (its first 8 bytes) coded with `step` was made
    /// at, when that is a built-in level and a step of the scale (to within the step's
    /// rounding to 256ths); `None` otherwise.
    pub fn of_file(model_id: &[u8], step: Step) -> Option<Quality> {
        let level = (1..=Builtin::qualities()).find(|&k| {
            let id = Builtin::Quality(k).id().expect("a listed level");
            id.0[..8] == *model_id
        })?;
        let value = f64::from(level) - 2.0 * f64::from(step.value()).log2();
        let q = Quality::from_value(value).ok()?;
        (q.level == level && q.step == step).then_some(q)
    }

    /// The step `offset` above a level on the scale: `2^(−offset/2)` (finer above, coarser
    /// below).
    pub fn step_at(offset: f64) -> Result<Step, CodecError> {
        Step::from_value((-offset / 2.0).exp2())
    }

    /// The built-in model of this quality.
    pub fn model(self) -> Builtin {
        Builtin::Quality(self.level)
    }
}

impl std::fmt::Display for Quality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "quality {}", trim(self.value))?;
        if self.step != Step::UNIT {
            write!(
                f,
                " (level {}, step {})",
                self.level,
                trim(self.step.value().into())
            )?;
        }
        Ok(())
    }
}

/// `v` with at most three decimals and no trailing zeros.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_tell_their_quality() {
        let id = |k: u8| crate::store::ModelId::of(Builtin::Quality(k).bytes().unwrap()).0;
        for v in [0.0, 0.5, 1.0, 2.75, 3.0, 4.5, 6.5, Quality::max()] {
            let q = Quality::from_value(v).unwrap();
            let back = Quality::of_file(&id(q.level)[..8], q.step).expect("a quality");
            assert_eq!((back.level, back.step), (q.level, q.step));
            assert!((back.value - v).abs() < 0.01, "{v}: {}", back.value);
        }
        // Level 3 at a coarser step is not on the scale, nor is another model.
        assert_eq!(
            Quality::of_file(&id(3)[..8], Step::from_value(1.2).unwrap()),
            None
        );
        assert_eq!(Quality::of_file(&[7; 8], Step::UNIT), None);
    }

    #[test]
    fn whole_numbers_are_the_levels_and_fractions_finer_steps() {
        let top = Builtin::qualities();
        for k in 1..=top {
            let q = Quality::from_value(f64::from(k)).unwrap();
            assert_eq!((q.level, q.step), (k, Step::UNIT));
            assert_eq!(q.to_string(), format!("quality {k}"));
        }
        let q = Quality::from_value(2.5).unwrap();
        assert_eq!((q.level, q.step.field()), (2, 215)); // 256 · 2^(−1/4) = 215.3
        assert_eq!(q.to_string(), "quality 2.5 (level 2, step 0.84)");
        // Below the larger network of level 7, its coarser steps.
        let q = Quality::from_value(6.5).unwrap();
        assert_eq!((q.level, q.step.field()), (7, 304)); // 256 · 2^(1/4) = 304.4
        assert_eq!(Quality::from_value(6.0).unwrap().level, 6);
        // The step falls as the quality rises, from √2 at 0 to ½ two past the top.
        let steps: Vec<(u8, u16)> = (0..=10 * (top as u32 + 2))
            .map(|t| Quality::from_value(f64::from(t) / 10.0).unwrap())
            .map(|q| (q.level, q.step.field()))
            .collect();
        assert_eq!(steps[0], (1, 362));
        assert_eq!(*steps.last().unwrap(), (top, 128));
        for w in steps.windows(2) {
            assert!(w[0].0 < w[1].0 || w[0].1 > w[1].1, "{w:?}");
        }
        for bad in [-0.1, Quality::max() + 0.01, f64::NAN] {
            assert!(Quality::from_value(bad).is_err(), "{bad}");
        }
    }
}
