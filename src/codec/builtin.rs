//! The models built into aec: the notebook's model, and the entropy-coded models that
//! `--quality` picks among.

use super::{Codec, CodecError};
use crate::store;

/// Bytes of the notebook's model built into aec: the reference configuration (code length
/// 128), trained with `aec train` as `samples/model/README.md` records, stored as f16.
pub static BUILTIN_MODEL: &[u8] = include_bytes!("../../samples/model/aec-128.safetensors");

/// The entropy-coded models, smallest files first (quality 1, 2, …): the notebook's
/// architecture fine-tuned with a rate term (`scripts/train-rd.sh`), stored as f16.
static QUALITY_MODELS: &[&[u8]] = &[
    include_bytes!("../../samples/model/aec-128-q1.safetensors"),
    include_bytes!("../../samples/model/aec-128-q2.safetensors"),
    include_bytes!("../../samples/model/aec-128-q3.safetensors"),
    include_bytes!("../../samples/model/aec-128-q4.safetensors"),
];

/// The quality level `aec compress` uses by default (the notebook's model when `None`): the
/// highest, which is both smaller and better than the notebook's model.
const DEFAULT_QUALITY: Option<u8> = Some(4);

/// A model built into aec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// The notebook's model: codes stored as numbers.
    Reference,
    /// An entropy-coded model, 1 = smallest files.
    Quality(u8),
}

impl Builtin {
    /// Every built-in model.
    pub fn all() -> Vec<Builtin> {
        let mut v = vec![Builtin::Reference];
        v.extend((1..=QUALITY_MODELS.len() as u8).map(Builtin::Quality));
        v
    }

    /// The model `aec compress` uses without `--model` or `--quality`.
    pub fn default_model() -> Builtin {
        match DEFAULT_QUALITY {
            Some(q) if usize::from(q) <= QUALITY_MODELS.len() => Builtin::Quality(q),
            _ => Builtin::Reference,
        }
    }

    /// Number of quality levels.
    pub fn qualities() -> u8 {
        QUALITY_MODELS.len() as u8
    }

    /// The model file's bytes, `None` for a quality level that does not exist.
    pub fn bytes(self) -> Option<&'static [u8]> {
        match self {
            Builtin::Reference => Some(BUILTIN_MODEL),
            Builtin::Quality(q) => QUALITY_MODELS.get(usize::from(q).checked_sub(1)?).copied(),
        }
    }

    /// The codec of this model.
    pub fn codec(self) -> Result<Codec, CodecError> {
        let bytes = self.bytes().ok_or_else(|| {
            let level = match self {
                Builtin::Quality(q) => q.to_string(),
                Builtin::Reference => "reference".into(),
            };
            CodecError::Setting(format!(
                "no quality level {level}; aec has levels 1 to {}",
                Self::qualities()
            ))
        })?;
        Codec::new(store::model_from_bytes(bytes)?)
    }
}
