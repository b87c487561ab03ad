//! The continuous quality scale of `--quality`: a whole number is that built-in level as
//! trained (unless a larger network displaces it, below); a number between levels `k` and
//! `k + 1` is level `k` with a finer quantization step, `2^(−f/2)` at `k + f`, which brings
//! its files to about level `k + 1`'s size at `f = 1` (measured on training photos: each level
//! at a step of 0.69–0.71 matches the next one's bytes within 0.07 dB of its quality,
//! `docs/hyperprior.md#quality-between-the-levels`). A level with a larger network than the
//! one below it ([`Builtin::larger_than_below`]) takes over [`LARGER_REACH`] below its own
//! number, at the coarser steps `2^((k − q)/2)`, from the narrower levels there, which then are
//! off the scale (with Q7: from 4.5 up, so levels 5 and 6 are selectable by name only). Below 1
//! the first level takes coarser steps, above the last level the last one finer steps, down to
//! `0` and up to two past the last level (a step of ½).

use super::builtin::Builtin;
use super::hyper::Step;
use super::CodecError;

/// How far below its own number a larger network's coarser steps reach on the scale. Measured
/// with `scripts/larger-reach.sh` (centre crops of the 49 training photos, 1,000 CIFAR-10
/// training images; `docs/hyperprior.md#below-a-larger-network`): Q7 at a step of about 2.6
/// (quality 4.25) is level with Q4 at a finer step, and from there up ahead of every narrow
/// level: +0.2 dB at 2.38 (quality 4.5), +0.6–0.7 dB at 2 (quality 5). It starts at 4.5, not
/// 4.25, because there Q4's and Q7's files are about the same size (within 1.3% on both
/// sets), where at 4.25 Q7's would be 2–3% smaller than Q4's just below.
pub const LARGER_REACH: f64 = 2.5;

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
        if !(Self::MIN..=Self::max()).contains(&q) {
            return Err(CodecError::Setting(format!(
                "quality {q} is outside {}..={}",
                Self::MIN,
                Self::max()
            )));
        }
        let top = Builtin::qualities();
        let level = (1..=top)
            .find(|&k| {
                let (from, to) = span(k);
                from <= q && (q < to || k == top)
            })
            .expect("the spans cover the scale");
        Ok(Quality {
            level,
            step: Self::step_at(q - f64::from(level))?,
            value: q,
        })
    }

    /// The quality a file of model `model_id` (its first 8 bytes) coded with `step` was made
    /// at, when that is a built-in level and a step the scale gives it (to within the step's
    /// rounding to 256ths); `None` otherwise.
    pub fn of_file(model_id: &[u8], step: Step) -> Option<Quality> {
        let level = (1..=Builtin::qualities()).find(|&k| {
            let id = Builtin::Quality(k).id().expect("a listed level");
            id.0[..8] == *model_id
        })?;
        let (from, to) = span(level);
        let k = f64::from(level);
        // The span's coarsest and finest steps, in the file's 256ths.
        let coarsest = Self::step_at(from - k).ok()?.field();
        let finest = Self::step_at(to - k).ok()?.field();
        if from >= to || !(finest..=coarsest).contains(&step.field()) {
            return None;
        }
        let value = k - 2.0 * f64::from(step.value()).log2();
        Some(Quality {
            level,
            step,
            value: value.clamp(from, to),
        })
    }

    /// Whether the scale codes with level `k` at all (a larger network above may displace it).
    pub fn has_level(k: u8) -> bool {
        (1..=Builtin::qualities()).contains(&k) && {
            let (from, to) = span(k);
            from < to
        }
    }

    /// Where level `k`'s span on the scale starts, if the scale codes with it.
    pub fn start_of(k: u8) -> Option<f64> {
        Self::has_level(k).then(|| span(k).0)
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

/// The qualities level `k` codes, `[from, to)` (the last level's includes its end): from its
/// own number, or [`LARGER_REACH`] below it for a larger network, or 0 for the first; up to
/// where a level above starts. Empty for a level that a larger network above displaces.
fn span(k: u8) -> (f64, f64) {
    let from = |k: u8| match k {
        1 => Quality::MIN,
        k if Builtin::larger_than_below(k) => f64::from(k) - LARGER_REACH,
        k => f64::from(k),
    };
    let to = (k + 1..=Builtin::qualities())
        .map(from)
        .fold(Quality::max(), f64::min);
    (from(k), to)
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
        let top = Quality::max();
        for v in [
            0.0, 0.5, 1.0, 2.75, 3.0, 4.49, 4.5, 5.0, 6.5, 7.5, 8.0, 8.5, 9.0, 10.25, top,
        ] {
            let q = Quality::from_value(v).unwrap();
            let back = Quality::of_file(&id(q.level)[..8], q.step).expect("a quality");
            assert_eq!((back.level, back.step), (q.level, q.step));
            assert!((back.value - v).abs() < 0.01, "{v}: {}", back.value);
        }
        // Level 3 at a coarser step is not on the scale, nor are the levels Q7 displaces,
        // nor another model.
        for k in [5, 6] {
            assert_eq!(Quality::of_file(&id(k)[..8], Step::UNIT), None, "{k}");
        }
        assert_eq!(
            Quality::of_file(&id(3)[..8], Step::from_value(1.2).unwrap()),
            None
        );
        assert_eq!(Quality::of_file(&[7; 8], Step::UNIT), None);
    }

    #[test]
    fn whole_numbers_are_the_levels_and_fractions_finer_steps() {
        let top = Builtin::qualities();
        for k in [1, 2, 3, 4, 7, 8, top] {
            let q = Quality::from_value(f64::from(k)).unwrap();
            assert_eq!((q.level, q.step), (k, Step::UNIT));
            assert_eq!(q.to_string(), format!("quality {k}"));
        }
        let q = Quality::from_value(2.5).unwrap();
        assert_eq!((q.level, q.step.field()), (2, 215)); // 256 · 2^(−1/4) = 215.3
        assert_eq!(q.to_string(), "quality 2.5 (level 2, step 0.84)");
        // From 4.5 up the larger network of level 7 at its coarser steps; 5 and 6 are its.
        let at = |v: f64| {
            let q = Quality::from_value(v).unwrap();
            (q.level, q.step.field())
        };
        assert_eq!(at(4.49), (4, 216)); // 256 · 2^(−0.245) = 215.6
        assert_eq!(at(4.5), (7, 609)); // 256 · 2^(5/4) = 608.9
        assert_eq!(at(5.0), (7, 512));
        assert_eq!(at(6.0), (7, 362));
        assert_eq!(at(6.5), (7, 304)); // 256 · 2^(1/4) = 304.4
        assert_eq!(at(7.5), (7, 215)); // between two levels of one size, finer steps again
        assert_eq!(at(8.0), (8, 256));
        assert_eq!(at(8.5), (8, 215));
        assert_eq!(at(9.0), (9, 256));
        assert_eq!(
            Quality::from_value(5.0).unwrap().to_string(),
            "quality 5 (level 7, step 2)"
        );
        // The step falls as the quality rises, from √2 at 0 to ½ two past the top.
        let steps: Vec<(u8, u16)> = (0..=10 * (top as u32 + 2))
            .map(|t| at(f64::from(t) / 10.0))
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

    #[test]
    fn the_spans_tile_the_scale_and_skip_the_displaced_levels() {
        let top = Builtin::qualities();
        let spans: Vec<(u8, f64, f64)> = (1..=top)
            .map(|k| (k, span(k).0, span(k).1))
            .filter(|&(_, from, to)| from < to)
            .collect();
        let levels: Vec<u8> = spans.iter().map(|s| s.0).collect();
        assert_eq!(levels, [1, 2, 3, 4, 7, 8, 9]);
        assert_eq!(spans[0].1, Quality::MIN);
        assert_eq!(spans.last().unwrap().2, Quality::max());
        for w in spans.windows(2) {
            assert_eq!(w[0].2, w[1].1, "{w:?}");
        }
    }
}
