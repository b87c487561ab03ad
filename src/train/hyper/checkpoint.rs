//! The files of a hyperprior run: checkpoint (weights, Adam's slots, recipe, steps), the
//! weights alone, and the CSV log.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use super::{HyperRecipe, HyperReport, HyperState};
use crate::fsutil;
use crate::model::hyper::file::HyperModel;
use crate::model::hyper::HyperWeights;
use crate::optim::Adam;
use crate::train::TrainError;

const META_KEY: &str = "aec-hyper-checkpoint";

#[derive(Serialize, Deserialize)]
struct Meta {
    recipe: HyperRecipe,
    step: u64,
    adam_steps: u64,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Serialises named f32 tensors with one metadata entry.
fn serialize(named: &[(String, Vec<usize>, Vec<u8>)], key: &str, meta: String) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = named
        .iter()
        .map(|(n, s, b)| {
            let view = TensorView::new(Dtype::F32, s.clone(), b).expect("sizes match");
            (n.clone(), view)
        })
        .collect();
    let info = HashMap::from([(key.to_string(), meta)]);
    safetensors::serialize(views, Some(info)).expect("valid tensors")
}

pub(super) fn save(
    path: &Path,
    recipe: &HyperRecipe,
    state: &HyperState,
) -> Result<(), TrainError> {
    let specs = recipe.config.param_specs();
    let mut named = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        named.push((
            spec.name.clone(),
            spec.shape.clone(),
            f32_bytes(&state.weights.tensors[k]),
        ));
        named.push((
            format!("adam.m.{}", spec.name),
            spec.shape.clone(),
            f32_bytes(&state.adam.m[k]),
        ));
        named.push((
            format!("adam.v.{}", spec.name),
            spec.shape.clone(),
            f32_bytes(&state.adam.v[k]),
        ));
    }
    let meta = Meta {
        recipe: recipe.clone(),
        step: state.step,
        adam_steps: state.adam.steps,
    };
    let bytes = serialize(
        &named,
        META_KEY,
        serde_json::to_string(&meta).expect("plain struct"),
    );
    fsutil::write_atomic(path, &bytes, true).map_err(io(path))
}

/// The model file a run writes: weights, entropy tables, configuration and λ
/// ([`HyperModel`]), ready for `aec compress --model`.
pub(super) fn save_model(
    path: &Path,
    recipe: &HyperRecipe,
    weights: &HyperWeights,
) -> Result<(), TrainError> {
    let model = HyperModel::from_weights(weights.clone(), recipe.lambda)?;
    fsutil::write_atomic(path, &model.to_bytes(), true).map_err(io(path))
}

/// Reads a model file a run wrote: its weights and λ.
pub fn load_weights(path: &Path) -> Result<(HyperWeights, f64), TrainError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let (model, _) = HyperModel::from_bytes(&bytes)?;
    Ok((model.weights, model.lambda))
}

fn read_f32(st: &safetensors::SafeTensors<'_>, name: &str, len: usize) -> Result<Vec<f32>, String> {
    let view = st
        .tensor(name)
        .map_err(|_| format!("tensor {name} missing"))?;
    if view.dtype() != Dtype::F32 || view.data().len() != len * 4 {
        return Err(format!("tensor {name} has the wrong type or size"));
    }
    Ok(view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect())
}

pub(super) fn load(path: &Path, recipe: &HyperRecipe) -> Result<HyperState, TrainError> {
    let bad = |problem: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(io(path))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let (_, md) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let meta: Meta = md
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| bad(format!("no {META_KEY} metadata")))
        .and_then(|j| serde_json::from_str(j).map_err(|e| bad(e.to_string())))?;
    if meta.recipe != *recipe {
        return Err(bad(format!(
            "was made with different settings ({:?}); start afresh without --resume or delete it",
            meta.recipe
        )));
    }
    let specs = recipe.config.param_specs();
    let mut adam = Adam::new([]);
    let mut tensors = Vec::new();
    for s in &specs {
        tensors.push(read_f32(&st, &s.name, s.len()).map_err(&bad)?);
        adam.m
            .push(read_f32(&st, &format!("adam.m.{}", s.name), s.len()).map_err(&bad)?);
        adam.v
            .push(read_f32(&st, &format!("adam.v.{}", s.name), s.len()).map_err(&bad)?);
    }
    adam.steps = meta.adam_steps;
    Ok(HyperState {
        weights: HyperWeights {
            config: recipe.config,
            tensors,
        },
        adam,
        step: meta.step,
    })
}

const LOG_HEADER: [&str; 8] = [
    "step",
    "loss",
    "psnr_db",
    "bpp_y",
    "bpp_z",
    "bpp",
    "grad_norm",
    "seconds_per_step",
];

/// Starts the log with its header line (replacing an old log).
pub(super) fn start_log(path: &Path) -> Result<(), TrainError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(LOG_HEADER).expect("CSV into memory");
    let bytes = w.into_inner().expect("CSV into memory");
    fsutil::write_atomic(path, &bytes, true).map_err(io(path))
}

/// Appends one row.
pub(super) fn append_log(path: &Path, r: &HyperReport) -> Result<(), TrainError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        r.step.to_string(),
        format!("{:.5}", r.loss),
        format!("{:.4}", r.psnr),
        format!("{:.5}", r.bpp_y),
        format!("{:.5}", r.bpp_z),
        format!("{:.5}", r.bpp_y + r.bpp_z),
        format!("{:.4}", r.grad_norm),
        format!("{:.4}", r.seconds_per_step),
    ])
    .expect("CSV into memory");
    let bytes = w.into_inner().expect("CSV into memory");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io(path))?;
    file.write_all(&bytes).map_err(io(path))
}
