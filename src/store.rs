//! Model files: safetensors holding every weight (f32 or f16) and the architecture config.
//!
//! A model's identity is the SHA-256 of its file's bytes, so `sha256sum MODEL` agrees with what
//! aec prints. Writing is deterministic: the same weights and precision give the same bytes.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use aec_format::Precision;
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsutil;
use crate::model::{ModelConfig, Weights};

/// Largest model file aec reads (a 4,096-value code with 1,024 filters is far below it).
pub const MAX_MODEL_FILE: u64 = 1 << 30;
/// The safetensors metadata key that holds [`ModelMeta`] as JSON.
const META_KEY: &str = "aec";
const FORMAT_NAME: &str = "aec-model";

/// What can go wrong reading or writing a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The bytes are not a safetensors file.
    #[error("not a safetensors model file: {0}")]
    Safetensors(String),
    /// The file is a safetensors file but not an aec model.
    #[error("not an aec model: {0}")]
    NotAecModel(String),
    /// A tensor is missing, of the wrong type or of the wrong shape.
    #[error("tensor {name}: {problem}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The file is larger than [`MAX_MODEL_FILE`].
    #[error("{path}: {len} bytes is larger than the {MAX_MODEL_FILE}-byte limit for model files")]
    TooLarge {
        /// The file.
        path: String,
        /// Its length.
        len: u64,
    },
}

/// The SHA-256 of a model file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelId(pub [u8; 32]);

impl ModelId {
    /// Hashes a model file's bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Hashes a model file as it is read, in pieces (the file is not held in memory);
    /// a file larger than [`MAX_MODEL_FILE`] is refused unread.
    pub fn of_file(path: &Path) -> Result<Self, ModelError> {
        let io = |source| ModelError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > MAX_MODEL_FILE {
            return Err(ModelError::TooLarge {
                path: path.display().to_string(),
                len,
            });
        }
        let mut hasher = Sha256::new();
        // At most the limit (and one byte more, to see a file that grew meanwhile).
        let read = std::io::copy(
            &mut std::io::Read::take(file, MAX_MODEL_FILE + 1),
            &mut hasher,
        )
        .map_err(io)?;
        if read > MAX_MODEL_FILE {
            return Err(ModelError::TooLarge {
                path: path.display().to_string(),
                len: read,
            });
        }
        Ok(Self(hasher.finalize().into()))
    }

    /// The first 16 bytes, as stored in `.aec` files.
    pub fn short(&self) -> [u8; 16] {
        self.0[..16].try_into().expect("16 of 32 bytes")
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// Lower-case hexadecimal of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the file's metadata says besides the tensors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ModelMeta {
    format: String,
    version: u32,
    code_length: usize,
    filters: usize,
}

/// A model read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedModel {
    /// The weights, widened to f32.
    pub weights: Weights,
    /// How the file stores them.
    pub precision: Precision,
    /// The file's identity.
    pub id: ModelId,
    /// The file's length in bytes.
    pub file_len: usize,
}

fn dtype(p: Precision) -> Dtype {
    match p {
        Precision::F32 => Dtype::F32,
        Precision::F16 => Dtype::F16,
    }
}

/// Serialises weights to the bytes of a model file.
pub fn model_to_bytes(weights: &Weights, precision: Precision) -> Vec<u8> {
    let specs = weights.config.param_specs();
    let buffers: Vec<Vec<u8>> = weights
        .tensors
        .iter()
        .map(|t| match precision {
            Precision::F32 => t.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Precision::F16 => t
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
        })
        .collect();
    let views: Vec<(&str, TensorView<'_>)> = specs
        .iter()
        .zip(&buffers)
        .map(|(spec, bytes)| {
            let view = TensorView::new(dtype(precision), spec.shape.clone(), bytes)
                .expect("buffer length matches shape");
            (spec.name, view)
        })
        .collect();
    let meta = ModelMeta {
        format: FORMAT_NAME.into(),
        version: 1,
        code_length: weights.config.code_length,
        filters: weights.config.filters,
    };
    // One metadata key only: safetensors writes a HashMap, whose order is not fixed.
    let info = HashMap::from([(
        META_KEY.to_string(),
        serde_json::to_string(&meta).expect("plain struct"),
    )]);
    safetensors::serialize(views, Some(info)).expect("valid tensors serialise")
}

/// Parses the bytes of a model file, checking every tensor's type and shape.
pub fn model_from_bytes(bytes: &[u8]) -> Result<LoadedModel, ModelError> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| ModelError::Safetensors(e.to_string()))?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| ModelError::Safetensors(e.to_string()))?;
    let json = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| ModelError::NotAecModel(format!("no \"{META_KEY}\" metadata entry")))?;
    let meta: ModelMeta = serde_json::from_str(json)
        .map_err(|e| ModelError::NotAecModel(format!("bad metadata: {e}")))?;
    if meta.format != FORMAT_NAME || meta.version != 1 {
        return Err(ModelError::NotAecModel(format!(
            "format {:?} version {} (expected {FORMAT_NAME:?} version 1)",
            meta.format, meta.version
        )));
    }
    let config = ModelConfig {
        code_length: meta.code_length,
        filters: meta.filters,
    };
    config.validate().map_err(ModelError::NotAecModel)?;
    let specs = config.param_specs();
    if st.len() != specs.len() {
        return Err(ModelError::NotAecModel(format!(
            "{} tensors, expected {}",
            st.len(),
            specs.len()
        )));
    }
    let mut precision = None;
    let mut tensors = Vec::with_capacity(specs.len());
    for spec in &specs {
        let bad = |problem: String| ModelError::Tensor {
            name: spec.name.to_string(),
            problem,
        };
        let view = st.tensor(spec.name).map_err(|_| bad("missing".into()))?;
        if view.shape() != spec.shape.as_slice() {
            return Err(bad(format!(
                "shape {:?}, expected {:?} for code length {} and {} filters",
                view.shape(),
                spec.shape,
                config.code_length,
                config.filters
            )));
        }
        let p = match view.dtype() {
            Dtype::F32 => Precision::F32,
            Dtype::F16 => Precision::F16,
            other => return Err(bad(format!("type {other:?}, expected F32 or F16"))),
        };
        if *precision.get_or_insert(p) != p {
            return Err(bad("mixes f16 and f32 tensors".into()));
        }
        let values: Vec<f32> = match p {
            Precision::F32 => view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
            Precision::F16 => view
                .data()
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("value {i} is not finite")));
        }
        tensors.push(values);
    }
    Ok(LoadedModel {
        weights: Weights { config, tensors },
        precision: precision.unwrap_or(Precision::F32),
        id: ModelId::of(bytes),
        file_len: bytes.len(),
    })
}

/// Writes a model file atomically (temp file, then rename) and returns its identity.
pub fn save_model(
    path: &Path,
    weights: &Weights,
    precision: Precision,
) -> Result<ModelId, ModelError> {
    let bytes = model_to_bytes(weights, precision);
    fsutil::write_atomic(path, &bytes, true).map_err(|source| ModelError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(ModelId::of(&bytes))
}

/// Reads and checks a model file.
pub fn load_model(path: &Path) -> Result<LoadedModel, ModelError> {
    let io = |source| ModelError::Io {
        path: path.display().to_string(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_MODEL_FILE {
        return Err(ModelError::TooLarge {
            path: path.display().to_string(),
            len,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    model_from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Weights {
        Weights::glorot(
            ModelConfig {
                code_length: 8,
                filters: 2,
            },
            3,
        )
    }

    #[test]
    fn round_trip_is_exact_and_deterministic() {
        let w = small();
        let bytes = model_to_bytes(&w, Precision::F32);
        assert_eq!(bytes, model_to_bytes(&w, Precision::F32));
        let back = model_from_bytes(&bytes).unwrap();
        assert_eq!(back.weights, w);
        assert_eq!(back.precision, Precision::F32);
        assert_eq!(back.id, ModelId::of(&bytes));
        let half = model_from_bytes(&model_to_bytes(&w, Precision::F16)).unwrap();
        assert_eq!(half.weights, w.rounded_to_f16());
        assert_eq!(half.precision, Precision::F16);
    }

    #[test]
    fn corrupt_files_are_errors() {
        let bytes = model_to_bytes(&small(), Precision::F32);
        assert!(model_from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(model_from_bytes(&bytes[..7]).is_err());
        assert!(model_from_bytes(b"hello world, not a model").is_err());
        // A config that does not match the tensors' shapes.
        let needle = br#"code_length\":8"#;
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        let mut edited = bytes.clone();
        edited[at + needle.len() - 1] = b'9';
        let err = model_from_bytes(&edited).unwrap_err().to_string();
        assert!(err.contains("shape"), "{err}");
    }
}
