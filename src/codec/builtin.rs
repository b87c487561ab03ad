//! The models built into aec: the whole-image models that `--quality` picks among (the
//! default family), the notebook's model, the tiled entropy-coded models, and the previous
//! quality levels (so that their files decode).

use super::family::{codec_from_bytes, ImageCodec};
use super::CodecError;

/// Bytes of the notebook's model built into aec: the reference configuration (code length
/// 128), trained with `aec train` as `samples/model/README.md` records, stored as f16.
pub static BUILTIN_MODEL: &[u8] = include_bytes!("../../samples/model/aec-128.safetensors");

/// The whole-image hyperprior models, smallest files first (quality 1, 2, …), one per λ of
/// `scripts/train-hyper-sweep.sh`, stored as f16.
static QUALITY_MODELS: &[&[u8]] = &[
    include_bytes!("../../samples/model/hyper/q1.safetensors"),
    include_bytes!("../../samples/model/hyper/q2.safetensors"),
    include_bytes!("../../samples/model/hyper/q3.safetensors"),
    include_bytes!("../../samples/model/hyper/q4.safetensors"),
    include_bytes!("../../samples/model/hyper/q5.safetensors"),
    include_bytes!("../../samples/model/hyper/q6.safetensors"),
];

/// The previous quality levels (scale-only hyperprior models), smallest files first, kept so
/// that files made with them still decode; `--model scale-only-qN` still makes them.
static SCALE_ONLY_MODELS: &[&[u8]] = &[
    include_bytes!("../../samples/model/hyper/scale-only/q1.safetensors"),
    include_bytes!("../../samples/model/hyper/scale-only/q2.safetensors"),
    include_bytes!("../../samples/model/hyper/scale-only/q3.safetensors"),
    include_bytes!("../../samples/model/hyper/scale-only/q4.safetensors"),
    include_bytes!("../../samples/model/hyper/scale-only/q5.safetensors"),
];

/// The quality levels before the checkerboard context (mean-scale hyperprior models), smallest
/// files first, kept so that files made with them still decode; `--model mean-scale-qN` still
/// makes them.
static MEAN_SCALE_MODELS: &[&[u8]] = &[
    include_bytes!("../../samples/model/hyper/mean-scale/q1.safetensors"),
    include_bytes!("../../samples/model/hyper/mean-scale/q2.safetensors"),
    include_bytes!("../../samples/model/hyper/mean-scale/q3.safetensors"),
    include_bytes!("../../samples/model/hyper/mean-scale/q4.safetensors"),
    include_bytes!("../../samples/model/hyper/mean-scale/q5.safetensors"),
    include_bytes!("../../samples/model/hyper/mean-scale/q6.safetensors"),
];

/// The tiled entropy-coded models, smallest files first: the notebook's architecture
/// fine-tuned with a rate term (`scripts/train-rd.sh`), stored as f16. Files made with them
/// still decode; `--model tiled-qN` still makes them.
static TILED_MODELS: &[&[u8]] = &[
    include_bytes!("../../samples/model/aec-128-q1.safetensors"),
    include_bytes!("../../samples/model/aec-128-q2.safetensors"),
    include_bytes!("../../samples/model/aec-128-q3.safetensors"),
    include_bytes!("../../samples/model/aec-128-q4.safetensors"),
];

/// The quality level `aec compress` uses by default.
const DEFAULT_QUALITY: u8 = 3;

/// A model built into aec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// A whole-image hyperprior model, 1 = smallest files (`--quality`).
    Quality(u8),
    /// The notebook's model: codes stored as numbers (`--model reference`).
    Reference,
    /// A tiled entropy-coded model, 1 = smallest files (`--model tiled-qN`).
    Tiled(u8),
    /// A previous quality level, 1 = smallest files (`--model scale-only-qN`).
    ScaleOnly(u8),
    /// A previous quality level, 1 = smallest files (`--model mean-scale-qN`).
    MeanScale(u8),
}

impl Builtin {
    /// Every built-in model: the quality levels, the notebook's model, the tiled levels, the
    /// previous quality levels.
    pub fn all() -> Vec<Builtin> {
        let mut v: Vec<Builtin> = (1..=Self::qualities()).map(Builtin::Quality).collect();
        v.push(Builtin::Reference);
        v.extend((1..=TILED_MODELS.len() as u8).map(Builtin::Tiled));
        v.extend((1..=MEAN_SCALE_MODELS.len() as u8).map(Builtin::MeanScale));
        v.extend((1..=SCALE_ONLY_MODELS.len() as u8).map(Builtin::ScaleOnly));
        v
    }

    /// The model `aec compress` uses without `--model` or `--quality`.
    pub fn default_model() -> Builtin {
        Builtin::Quality(DEFAULT_QUALITY.min(Self::qualities()))
    }

    /// Number of quality levels.
    pub fn qualities() -> u8 {
        QUALITY_MODELS.len() as u8
    }

    /// The name `--model` takes for this model (`--quality N` for the quality levels).
    pub fn name(self) -> String {
        match self {
            Builtin::Quality(q) => format!("q{q}"),
            Builtin::Reference => "reference".into(),
            Builtin::Tiled(q) => format!("tiled-q{q}"),
            Builtin::ScaleOnly(q) => format!("scale-only-q{q}"),
            Builtin::MeanScale(q) => format!("mean-scale-q{q}"),
        }
    }

    /// The built-in model that `--model NAME` names, if any.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Self::all().into_iter().find(|b| b.name() == name)
    }

    /// The model file's bytes, `None` for a level that does not exist.
    pub fn bytes(self) -> Option<&'static [u8]> {
        let level =
            |list: &[&'static [u8]], q: u8| list.get(usize::from(q).checked_sub(1)?).copied();
        match self {
            Builtin::Quality(q) => level(QUALITY_MODELS, q),
            Builtin::Reference => Some(BUILTIN_MODEL),
            Builtin::Tiled(q) => level(TILED_MODELS, q),
            Builtin::ScaleOnly(q) => level(SCALE_ONLY_MODELS, q),
            Builtin::MeanScale(q) => level(MEAN_SCALE_MODELS, q),
        }
    }

    /// The codec of this model, refusing images of more than `max_pixels`.
    pub fn codec(self, max_pixels: u64) -> Result<Box<dyn ImageCodec>, CodecError> {
        let bytes = self.bytes().ok_or_else(|| {
            CodecError::Setting(match self {
                Builtin::Tiled(q) => format!(
                    "no tiled level {q}; aec has tiled-q1 to tiled-q{}",
                    TILED_MODELS.len()
                ),
                Builtin::ScaleOnly(q) => format!(
                    "no scale-only level {q}; aec has scale-only-q1 to scale-only-q{}",
                    SCALE_ONLY_MODELS.len()
                ),
                Builtin::MeanScale(q) => format!(
                    "no mean-scale level {q}; aec has mean-scale-q1 to mean-scale-q{}",
                    MEAN_SCALE_MODELS.len()
                ),
                _ => format!(
                    "no quality level {}; aec has levels 1 to {}",
                    self.name().trim_start_matches('q'),
                    Self::qualities()
                ),
            })
        })?;
        codec_from_bytes(bytes, max_pixels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_every_model_loads() {
        for b in Builtin::all() {
            assert_eq!(Builtin::from_name(&b.name()), Some(b));
            assert!(b.codec(1 << 20).is_ok(), "{b:?}");
        }
        assert!(Builtin::all().contains(&Builtin::default_model()));
        assert_eq!(Builtin::from_name("q0"), None);
        assert!(Builtin::Quality(0).codec(1).is_err());
        assert!(Builtin::Tiled(9).codec(1).is_err());
        assert!(Builtin::ScaleOnly(6).codec(1).is_err());
        assert!(Builtin::MeanScale(7).codec(1).is_err());
    }
}
