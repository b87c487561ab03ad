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

use crate::entropy::prior::Prior;
use crate::entropy::tables::{CodeTables, TableError};
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
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The bytes are not a safetensors file.
    #[error("not a safetensors model file")]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// The file's aec metadata entry does not parse.
    #[error("not an aec model: bad metadata")]
    Metadata(#[from] serde_json::Error),
    /// The file describes a model size aec does not build.
    #[error("not an aec model")]
    Config(#[from] crate::model::ConfigError),
    /// The hyper-synthesis has no integer form.
    #[error(transparent)]
    Integer(#[from] crate::model::hyper::integer::IntegerRangeError),
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
    /// The entropy tables cannot be made or are invalid.
    #[error(transparent)]
    Tables(#[from] TableError),
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ModelMeta {
    format: String,
    version: u32,
    code_length: usize,
    filters: usize,
    /// Left out for models without a prior, so that their files (and ids) stay as they were.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    prior: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate_lambda: Option<f32>,
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
    /// The entropy coder's tables, for a model with a prior.
    pub tables: Option<CodeTables>,
    /// The rate weight λ the model was trained with, if the file records it.
    pub rate_lambda: Option<f32>,
}

fn dtype(p: Precision) -> Dtype {
    match p {
        Precision::F32 => Dtype::F32,
        Precision::F16 => Dtype::F16,
    }
}

/// Serialises weights to the bytes of a model file. A model with a prior also gets its
/// entropy tables, computed from the weights as stored (after rounding to `precision`), and
/// `rate_lambda` is recorded when given.
pub fn model_to_bytes(
    weights: &Weights,
    precision: Precision,
    rate_lambda: Option<f32>,
) -> Result<Vec<u8>, ModelError> {
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
    let mut views: Vec<(String, TensorView<'_>)> = specs
        .iter()
        .zip(&buffers)
        .map(|(spec, bytes)| {
            let view = TensorView::new(dtype(precision), spec.shape.clone(), bytes)
                .expect("buffer length matches shape");
            (spec.name.to_string(), view)
        })
        .collect();
    let table_buffers = match weights.config.prior {
        true => table_tensors(&stored_tables(weights, precision)?),
        false => Vec::new(),
    };
    for (name, dtype, shape, bytes) in &table_buffers {
        let view = TensorView::new(*dtype, shape.clone(), bytes).expect("sizes match");
        views.push((name.to_string(), view));
    }
    let meta = ModelMeta {
        format: FORMAT_NAME.into(),
        version: 1,
        code_length: weights.config.code_length,
        filters: weights.config.filters,
        prior: weights.config.prior,
        rate_lambda,
    };
    // One metadata key only: safetensors writes a HashMap, whose order is not fixed.
    let info = HashMap::from([(
        META_KEY.to_string(),
        serde_json::to_string(&meta).expect("plain struct"),
    )]);
    Ok(safetensors::serialize(views, Some(info)).expect("valid tensors serialise"))
}

/// The tables of a model with a prior, from its prior's values as a file of `precision`
/// stores them.
fn stored_tables(weights: &Weights, precision: Precision) -> Result<CodeTables, ModelError> {
    let stored = match precision {
        Precision::F32 => weights.clone(),
        Precision::F16 => weights.rounded_to_f16(),
    };
    let n = ModelConfig::NETWORK_TENSORS;
    let t = &stored.tensors;
    CodeTables::from_prior(Prior {
        loc: &t[n],
        log_scale: &t[n + 1],
        log_step: &t[n + 2],
    })
    .map_err(ModelError::from)
}

/// Names, types, shapes and bytes of the tensors that hold a model's entropy tables.
fn table_tensors(t: &CodeTables) -> Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)> {
    let l = t.code_length();
    let width = t.probabilities.iter().map(Vec::len).max().unwrap_or(1);
    let mut probs = vec![0u8; l * width * 4];
    for (row, p) in probs.chunks_exact_mut(width * 4).zip(&t.probabilities) {
        for (b, v) in row.chunks_exact_mut(4).zip(p) {
            b.copy_from_slice(&v.to_le_bytes());
        }
    }
    let bytes32 = |v: &mut dyn Iterator<Item = [u8; 4]>| v.flatten().collect::<Vec<u8>>();
    vec![
        (
            TABLE_STEP,
            Dtype::F32,
            vec![l],
            bytes32(&mut t.step.iter().map(|v| v.to_le_bytes())),
        ),
        (
            TABLE_MIN_SYMBOL,
            Dtype::I32,
            vec![l],
            bytes32(&mut t.min_symbol.iter().map(|v| v.to_le_bytes())),
        ),
        (
            TABLE_SYMBOLS,
            Dtype::U32,
            vec![l],
            bytes32(
                &mut t
                    .probabilities
                    .iter()
                    .map(|p| (p.len() as u32).to_le_bytes()),
            ),
        ),
        (TABLE_PROBABILITIES, Dtype::U32, vec![l, width], probs),
    ]
}

const TABLE_STEP: &str = "entropy.step";
const TABLE_MIN_SYMBOL: &str = "entropy.min_symbol";
const TABLE_SYMBOLS: &str = "entropy.symbols";
const TABLE_PROBABILITIES: &str = "entropy.probabilities";

/// Reads a model's entropy tables back and checks them; `loc` is the prior's stored location.
fn read_tables(st: &safetensors::SafeTensors<'_>, loc: &[f32]) -> Result<CodeTables, ModelError> {
    let l = loc.len();
    let get = |name: &'static str, dtype: Dtype, rows: usize| {
        let view = st.tensor(name).map_err(|_| ModelError::Tensor {
            name: name.into(),
            problem: "missing".into(),
        })?;
        let shape = view.shape();
        if view.dtype() != dtype || shape.first() != Some(&rows) || shape.len() > 2 {
            return Err(ModelError::Tensor {
                name: name.into(),
                problem: format!("type {:?} shape {shape:?}", view.dtype()),
            });
        }
        Ok((
            view.data()
                .chunks_exact(4)
                .map(|b| [b[0], b[1], b[2], b[3]])
                .collect::<Vec<_>>(),
            shape.get(1).copied().unwrap_or(1),
        ))
    };
    let (step, _) = get(TABLE_STEP, Dtype::F32, l)?;
    let (min_symbol, _) = get(TABLE_MIN_SYMBOL, Dtype::I32, l)?;
    let (symbols, _) = get(TABLE_SYMBOLS, Dtype::U32, l)?;
    let (probs, width) = get(TABLE_PROBABILITIES, Dtype::U32, l)?;
    let mut probabilities = Vec::with_capacity(l);
    for (d, b) in symbols.iter().enumerate() {
        let n = (u32::from_le_bytes(*b) as usize).min(width);
        let row = &probs[d * width..d * width + n];
        probabilities.push(row.iter().map(|b| u32::from_le_bytes(*b)).collect());
    }
    let tables = CodeTables {
        loc: loc.to_vec(),
        step: step.into_iter().map(f32::from_le_bytes).collect(),
        min_symbol: min_symbol.into_iter().map(i32::from_le_bytes).collect(),
        probabilities,
    };
    tables.validate()?;
    Ok(tables)
}

/// Parses the bytes of a model file, checking every tensor's type and shape.
pub fn model_from_bytes(bytes: &[u8]) -> Result<LoadedModel, ModelError> {
    let st = safetensors::SafeTensors::deserialize(bytes)?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes)?;
    let json = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| ModelError::NotAecModel(format!("no \"{META_KEY}\" metadata entry")))?;
    let meta: ModelMeta = serde_json::from_str(json)?;
    if meta.format != FORMAT_NAME || meta.version != 1 {
        return Err(ModelError::NotAecModel(format!(
            "format {:?} version {} (expected {FORMAT_NAME:?} version 1)",
            meta.format, meta.version
        )));
    }
    let config = ModelConfig {
        code_length: meta.code_length,
        filters: meta.filters,
        prior: meta.prior,
    };
    config.validate()?;
    let specs = config.param_specs();
    let table_count = if config.prior { 4 } else { 0 };
    if st.len() != specs.len() + table_count {
        return Err(ModelError::NotAecModel(format!(
            "{} tensors, expected {}",
            st.len(),
            specs.len() + table_count
        )));
    }
    let (tensors, precision) = read_weights(&st, &config)?;
    let tables = match config.prior {
        true => Some(read_tables(&st, &tensors[ModelConfig::NETWORK_TENSORS])?),
        false => None,
    };
    Ok(LoadedModel {
        weights: Weights { config, tensors },
        precision,
        id: ModelId::of(bytes),
        file_len: bytes.len(),
        tables,
        rate_lambda: meta.rate_lambda,
    })
}

/// Reads and checks the tensors of `config`'s parameters, and their common precision.
fn read_weights(
    st: &safetensors::SafeTensors<'_>,
    config: &ModelConfig,
) -> Result<(Vec<Vec<f32>>, Precision), ModelError> {
    let specs = config.param_specs();
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
    Ok((tensors, precision.unwrap_or(Precision::F32)))
}

/// Writes a model file atomically (temp file, then rename) and returns its identity.
pub fn save_model(
    path: &Path,
    weights: &Weights,
    precision: Precision,
    rate_lambda: Option<f32>,
) -> Result<ModelId, ModelError> {
    let bytes = model_to_bytes(weights, precision, rate_lambda)?;
    fsutil::write_atomic(path, &bytes, true).map_err(|source| ModelError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(ModelId::of(&bytes))
}

/// Reads and checks a model file.
pub fn load_model(path: &Path) -> Result<LoadedModel, ModelError> {
    model_from_bytes(&read_model_file(path)?)
}

/// A model file's bytes, refusing one over [`MAX_MODEL_FILE`] unread.
pub fn read_model_file(path: &Path) -> Result<Vec<u8>, ModelError> {
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
    std::fs::read(path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Weights {
        Weights::glorot(
            ModelConfig {
                code_length: 8,
                filters: 2,
                prior: false,
            },
            3,
        )
    }

    #[test]
    fn round_trip_is_exact_and_deterministic() {
        let w = small();
        let bytes = model_to_bytes(&w, Precision::F32, None).unwrap();
        assert_eq!(bytes, model_to_bytes(&w, Precision::F32, None).unwrap());
        let back = model_from_bytes(&bytes).unwrap();
        assert_eq!(back.weights, w);
        assert_eq!(back.precision, Precision::F32);
        assert_eq!(back.id, ModelId::of(&bytes));
        let half = model_from_bytes(&model_to_bytes(&w, Precision::F16, None).unwrap()).unwrap();
        assert_eq!(half.weights, w.rounded_to_f16());
        assert_eq!(half.precision, Precision::F16);
    }

    #[test]
    fn corrupt_files_are_errors() {
        let bytes = model_to_bytes(&small(), Precision::F32, None).unwrap();
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
