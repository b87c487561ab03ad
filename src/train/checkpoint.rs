//! Checkpoints: the weights, the optimizer's slots and the recipe, after every epoch.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use super::{Recipe, State, TrainError};
use crate::fsutil;
use crate::model::Weights;
use crate::optim::{RmsPropSettings, Tf1RmsProp};

#[derive(Serialize, Deserialize)]
struct CheckpointMeta {
    recipe: Recipe,
    epochs_done: usize,
    step: u64,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(super) fn save_checkpoint(
    path: &Path,
    recipe: &Recipe,
    state: &State,
) -> Result<(), TrainError> {
    let specs = recipe.config.param_specs();
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (spec, (w, ms)) in specs.iter().zip(
        state
            .weights
            .tensors
            .iter()
            .zip(&state.optimizer.mean_square),
    ) {
        named.push((spec.name.to_string(), spec.shape.clone(), f32_bytes(w)));
        named.push((
            format!("rmsprop.{}", spec.name),
            spec.shape.clone(),
            f32_bytes(ms),
        ));
    }
    let views: Vec<(String, TensorView<'_>)> = named
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).expect("sizes match"),
            )
        })
        .collect();
    let meta = CheckpointMeta {
        recipe: recipe.clone(),
        epochs_done: state.epochs_done,
        step: state.step,
    };
    let info = HashMap::from([(
        "aec-checkpoint".to_string(),
        serde_json::to_string(&meta).expect("plain struct"),
    )]);
    let bytes = safetensors::serialize(views, Some(info)).expect("valid tensors");
    fsutil::write_atomic(path, &bytes, true).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })
}

pub(super) fn load_checkpoint(path: &Path, recipe: &Recipe) -> Result<State, TrainError> {
    let bad = |problem: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let (_, md) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let meta: CheckpointMeta = md
        .metadata()
        .as_ref()
        .and_then(|m| m.get("aec-checkpoint"))
        .ok_or_else(|| bad("no aec-checkpoint metadata".into()))
        .and_then(|j| serde_json::from_str(j).map_err(|e| bad(e.to_string())))?;
    if meta.recipe != *recipe {
        return Err(bad(format!(
            "was made with different settings ({:?}); start afresh without --resume or delete it",
            meta.recipe
        )));
    }
    let read = |name: &str, len: usize| -> Result<Vec<f32>, TrainError> {
        let view = st
            .tensor(name)
            .map_err(|_| bad(format!("tensor {name} missing")))?;
        if view.dtype() != Dtype::F32 || view.data().len() != len * 4 {
            return Err(bad(format!("tensor {name} has the wrong type or size")));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect())
    };
    let specs = recipe.config.param_specs();
    let mut tensors = Vec::new();
    let mut slots = Vec::new();
    for spec in &specs {
        tensors.push(read(spec.name, spec.len())?);
        slots.push(read(&format!("rmsprop.{}", spec.name), spec.len())?);
    }
    Ok(State {
        weights: Weights {
            config: recipe.config,
            tensors,
        },
        optimizer: Tf1RmsProp {
            settings: RmsPropSettings::default(),
            mean_square: slots,
        },
        epochs_done: meta.epochs_done,
        step: meta.step,
    })
}
