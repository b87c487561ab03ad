//! Model files of the hyperprior family: safetensors with every weight (f32, or f16 for the
//! built-in models), the integer entropy tables ([`HyperTables`]) and a metadata entry with
//! the architecture and λ.

use std::collections::HashMap;

use aec_format::Precision;
use half::{f16, slice::HalfFloatSliceExt};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use super::integer::ACT_BITS;
use super::{HyperConfig, HyperWeights};
use crate::entropy::hyper_tables::{HyperTables, Table};
use crate::entropy::tables::TableError;
use crate::store::{ModelError, ModelId};

/// Metadata key of a hyperprior model file.
pub const HYPER_META_KEY: &str = "aec-hyper-model";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    /// 1, 2 for a mean-scale model, 3 with a checkerboard context (so that older kinds keep
    /// their bytes).
    version: u32,
    n: usize,
    m: usize,
    lambda: f64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    means: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    context: bool,
}

/// A hyperprior model as a file holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct HyperModel {
    /// The weights.
    pub weights: HyperWeights,
    /// The rate–distortion weight it was trained with.
    pub lambda: f64,
    /// Its entropy tables.
    pub tables: HyperTables,
    /// How the file stores the weights (the weights in memory are exactly the stored values).
    pub precision: Precision,
}

fn le_bytes<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

/// Tensors of a list of tables: smallest symbols, lengths, all probabilities.
fn table_tensors(prefix: &str, tables: &[Table]) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let mins: Vec<i32> = tables.iter().map(|t| t.min_symbol).collect();
    let lens: Vec<u32> = tables
        .iter()
        .map(|t| t.probabilities.len() as u32)
        .collect();
    let probs: Vec<u32> = tables
        .iter()
        .flat_map(|t| t.probabilities.clone())
        .collect();
    vec![
        (
            format!("{prefix}.min_symbol"),
            Dtype::I32,
            vec![mins.len()],
            le_bytes(&mins, i32::to_le_bytes),
        ),
        (
            format!("{prefix}.symbols"),
            Dtype::U32,
            vec![lens.len()],
            le_bytes(&lens, u32::to_le_bytes),
        ),
        (
            format!("{prefix}.probabilities"),
            Dtype::U32,
            vec![probs.len()],
            le_bytes(&probs, u32::to_le_bytes),
        ),
    ]
}

impl HyperModel {
    /// A model from trained weights: computes the tables.
    pub fn from_weights(weights: HyperWeights, lambda: f64) -> Result<Self, ModelError> {
        let prior = weights.config.network_starts()[4];
        let (loc, log_scale) = (&weights.tensors[prior], &weights.tensors[prior + 1]);
        let tables = HyperTables::new(loc, log_scale, ACT_BITS)?;
        Ok(Self {
            weights,
            lambda,
            tables,
            precision: Precision::F32,
        })
    }

    /// The model with its weights stored at `precision`: for f16, each weight rounded to the
    /// nearest f16 and the tables computed again from the rounded prior.
    pub fn with_precision(self, precision: Precision) -> Result<Self, ModelError> {
        let mut weights = self.weights;
        if precision == Precision::F16 {
            for v in weights.tensors.iter_mut().flatten() {
                *v = f16::from_f32(*v).to_f32();
            }
        }
        Ok(Self {
            precision,
            ..Self::from_weights(weights, self.lambda)?
        })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let specs = self.weights.config.param_specs();
        let mut named: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = specs
            .iter()
            .zip(&self.weights.tensors)
            .map(|(s, t)| {
                let (dtype, bytes) = match self.precision {
                    Precision::F32 => (Dtype::F32, le_bytes(t, f32::to_le_bytes)),
                    Precision::F16 => (Dtype::F16, le_bytes(t, |v| f16::from_f32(v).to_le_bytes())),
                };
                (s.name.clone(), dtype, s.shape.clone(), bytes)
            })
            .collect();
        named.extend(table_tensors("z_tables", &self.tables.z));
        named.extend(table_tensors("y_tables", &self.tables.y));
        let th = &self.tables.thresholds;
        named.push((
            "y_tables.thresholds".into(),
            Dtype::I32,
            vec![th.len()],
            le_bytes(th, i32::to_le_bytes),
        ));
        let views: Vec<(String, TensorView<'_>)> = named
            .iter()
            .map(|(n, d, s, b)| {
                (
                    n.clone(),
                    TensorView::new(*d, s.clone(), b).expect("sizes match"),
                )
            })
            .collect();
        let config = self.weights.config;
        let meta = Meta {
            version: 1 + u32::from(config.means) + u32::from(config.context),
            n: config.n,
            m: config.m,
            lambda: self.lambda,
            means: config.means,
            context: config.context,
        };
        let info = HashMap::from([(
            HYPER_META_KEY.to_string(),
            serde_json::to_string(&meta).expect("plain struct"),
        )]);
        safetensors::serialize(views, Some(info)).expect("valid tensors serialise")
    }

    /// Whether `bytes` look like a hyperprior model file (its metadata names the family).
    pub fn is_hyper_file(bytes: &[u8]) -> bool {
        safetensors::SafeTensors::read_metadata(bytes)
            .ok()
            .and_then(|(_, m)| {
                m.metadata()
                    .as_ref()
                    .map(|m| m.contains_key(HYPER_META_KEY))
            })
            .unwrap_or(false)
    }

    /// The configuration and λ a file declares (its metadata alone: no tensor is read).
    pub fn config_of(bytes: &[u8]) -> Result<(HyperConfig, f64), ModelError> {
        let (_, md) = safetensors::SafeTensors::read_metadata(bytes)?;
        let json = md
            .metadata()
            .as_ref()
            .and_then(|m| m.get(HYPER_META_KEY))
            .ok_or_else(|| {
                ModelError::NotAecModel(format!("no \"{HYPER_META_KEY}\" metadata entry"))
            })?;
        let meta: Meta = serde_json::from_str(json)?;
        let config = HyperConfig::new(meta.n, meta.m)
            .with_means(meta.means)
            .with_context(meta.context);
        config.validate()?;
        Ok((config, meta.lambda))
    }

    /// Parses a file, checking every tensor's type and shape and the tables.
    pub fn from_bytes(bytes: &[u8]) -> Result<(Self, ModelId), ModelError> {
        let (model, id) = crate::parallel::join(|| Self::parse(bytes), || ModelId::of(bytes));
        Ok((model?, id))
    }

    /// The model of a file's bytes, without its id (for bytes whose id is known).
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let st = safetensors::SafeTensors::deserialize(bytes)?;
        let (config, lambda) = Self::config_of(bytes)?;
        let read = |name: &str, dtype, len| read_words(&st, name, dtype, len);
        let specs = config.param_specs();
        let precision = match st.tensor(&specs[0].name).map(|v| v.dtype()) {
            Ok(Dtype::F16) => Precision::F16,
            _ => Precision::F32,
        };
        let tensors = crate::parallel::map(specs.iter().collect(), |s| {
            read_weights(&st, &s.name, precision, s.len())
        });
        let tensors = tensors.into_iter().collect::<Result<Vec<_>, _>>()?;
        let tables_of = |prefix: &str, count: usize| read_tables(&st, prefix, count);
        let levels = crate::entropy::hyper_tables::SCALE_LEVELS;
        let tables = HyperTables {
            z_offset: tensors[config.network_starts()[4]].clone(),
            z: tables_of("z_tables", config.n)?,
            thresholds: read("y_tables.thresholds", Dtype::I32, Some(levels - 1))?
                .into_iter()
                .map(i32::from_le_bytes)
                .collect(),
            y: tables_of("y_tables", levels)?,
        };
        tables.validate(config.n)?;
        Ok(Self {
            weights: HyperWeights { config, tensors },
            lambda,
            tables,
            precision,
        })
    }
}

/// A weight tensor of `len` values stored at `precision`, as f32.
fn read_weights(
    st: &safetensors::SafeTensors<'_>,
    name: &str,
    precision: Precision,
    len: usize,
) -> Result<Vec<f32>, ModelError> {
    if precision == Precision::F32 {
        let words = read_words(st, name, Dtype::F32, Some(len))?;
        return Ok(words.into_iter().map(f32::from_le_bytes).collect());
    }
    let view = st.tensor(name).map_err(|_| ModelError::Tensor {
        name: name.into(),
        problem: "missing".into(),
    })?;
    if view.dtype() != Dtype::F16
        || view.data().len() != 2 * len
        || view.shape().iter().product::<usize>() != len
    {
        return Err(ModelError::Tensor {
            name: name.into(),
            problem: format!(
                "type {:?} shape {:?} in an f16 model",
                view.dtype(),
                view.shape()
            ),
        });
    }
    let halves: Vec<f16> = (view.data().chunks_exact(2))
        .map(|b| f16::from_le_bytes([b[0], b[1]]))
        .collect();
    // A whole slice at once: the conversion instructions where the CPU has them.
    let mut out = vec![0f32; len];
    halves.convert_to_f32_slice(&mut out);
    Ok(out)
}

/// A tensor's values as 4-byte words, after checking its type and (when given) its length.
fn read_words(
    st: &safetensors::SafeTensors<'_>,
    name: &str,
    dtype: Dtype,
    len: Option<usize>,
) -> Result<Vec<[u8; 4]>, ModelError> {
    let bad = |problem: String| ModelError::Tensor {
        name: name.into(),
        problem,
    };
    let view = st.tensor(name).map_err(|_| bad("missing".into()))?;
    let n = view.data().len() / 4;
    if view.dtype() != dtype
        || len.is_some_and(|l| l != n)
        || view.shape().iter().product::<usize>() != n
    {
        return Err(bad(format!(
            "type {:?} shape {:?}",
            view.dtype(),
            view.shape()
        )));
    }
    Ok(view
        .data()
        .chunks_exact(4)
        .map(|b| [b[0], b[1], b[2], b[3]])
        .collect())
}

/// `count` tables stored as `PREFIX.min_symbol`, `PREFIX.symbols` and the concatenated
/// `PREFIX.probabilities`, which they must use up exactly.
fn read_tables(
    st: &safetensors::SafeTensors<'_>,
    prefix: &str,
    count: usize,
) -> Result<Vec<Table>, ModelError> {
    let mins = read_words(st, &format!("{prefix}.min_symbol"), Dtype::I32, Some(count))?;
    let lens = read_words(st, &format!("{prefix}.symbols"), Dtype::U32, Some(count))?;
    let probs = read_words(st, &format!("{prefix}.probabilities"), Dtype::U32, None)?;
    let invalid = |what: &str| ModelError::Tables(TableError::Invalid(format!("{prefix}: {what}")));
    let mut at = 0usize;
    let mut out = Vec::with_capacity(count);
    for (m, l) in mins.iter().zip(&lens) {
        let n = u32::from_le_bytes(*l) as usize;
        let row = probs
            .get(at..at.saturating_add(n))
            .ok_or_else(|| invalid("the probabilities end early"))?;
        at += n;
        out.push(Table {
            min_symbol: i32::from_le_bytes(*m),
            probabilities: row.iter().map(|b| u32::from_le_bytes(*b)).collect(),
        });
    }
    if at != probs.len() {
        return Err(invalid("probabilities left over"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trips_and_damage_is_refused() {
        let w = HyperWeights::init(HyperConfig::new(4, 6), 9);
        let model = HyperModel::from_weights(w, 0.0067).unwrap();
        let bytes = model.to_bytes();
        assert!(HyperModel::is_hyper_file(&bytes));
        let (back, id) = HyperModel::from_bytes(&bytes).unwrap();
        assert_eq!(back, model);
        assert_eq!(id, ModelId::of(&bytes));
        assert_eq!(bytes, back.to_bytes(), "the bytes are canonical");
        assert!(HyperModel::from_bytes(&bytes[..bytes.len() - 8]).is_err());
        assert!(!HyperModel::is_hyper_file(b"not a model"));
    }

    #[test]
    fn mean_scale_files_round_trip_and_scale_only_bytes_stay() {
        let w = HyperWeights::init(HyperConfig::new(4, 6), 9);
        let plain = HyperModel::from_weights(w.clone(), 0.0067)
            .unwrap()
            .to_bytes();
        let meta = |bytes: &[u8]| {
            let (_, md) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
            md.metadata().as_ref().unwrap()[HYPER_META_KEY].clone()
        };
        assert_eq!(meta(&plain), r#"{"version":1,"n":4,"m":6,"lambda":0.0067}"#);
        let model = HyperModel::from_weights(w.with_means(), 0.0067).unwrap();
        let bytes = model.to_bytes();
        assert!(meta(&bytes).contains(r#""means":true"#), "{}", meta(&bytes));
        let (back, _) = HyperModel::from_bytes(&bytes).unwrap();
        assert!(back.weights.config.means);
        assert_eq!(back, model);
    }

    #[test]
    fn context_files_round_trip() {
        let w = HyperWeights::init(HyperConfig::new(4, 6).with_means(true), 9).with_context(2);
        let model = HyperModel::from_weights(w, 0.0067).unwrap();
        let bytes = model.to_bytes();
        let (back, _) = HyperModel::from_bytes(&bytes).unwrap();
        assert!(back.weights.config.context);
        assert_eq!(back, model);
    }

    #[test]
    fn f16_files_round_trip_and_half_the_size() {
        let w = HyperWeights::init(HyperConfig::new(4, 6), 9);
        let wide = HyperModel::from_weights(w, 0.0067).unwrap();
        let narrow = wide.clone().with_precision(Precision::F16).unwrap();
        let bytes = narrow.to_bytes();
        let (back, _) = HyperModel::from_bytes(&bytes).unwrap();
        assert_eq!(back, narrow);
        assert_eq!(back.precision, Precision::F16);
        assert_eq!(bytes, back.to_bytes(), "the bytes are canonical");
        let weights = |m: &HyperModel| m.weights.parameter_count() * 4;
        let saved = wide.to_bytes().len() - bytes.len();
        // Half the weights' bytes, less what the header's offsets and alignment take.
        assert!(
            saved * 100 >= weights(&wide) * 45,
            "{saved} of {}",
            weights(&wide)
        );
        let worst = (wide.weights.tensors.iter().flatten())
            .zip(narrow.weights.tensors.iter().flatten())
            .fold(0f32, |m, (a, b)| m.max((a - b).abs() / a.abs().max(1e-3)));
        assert!(worst > 0.0 && worst < 1e-3, "{worst}");
    }
}
