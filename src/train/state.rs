//! What a training step works on and reports: the state a checkpoint holds, the loss's
//! penalties, and one step's loss terms.

use crate::model::{ModelConfig, Weights};
use crate::optim::{RmsPropSettings, Tf1RmsProp};

use super::Recipe;

/// The training state a checkpoint holds.
pub struct State {
    /// Current weights.
    pub weights: Weights,
    /// Optimizer slots.
    pub optimizer: Tf1RmsProp,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub step: u64,
}

impl State {
    /// A fresh start: Glorot weights from `seed`, slots at one.
    pub fn new(config: ModelConfig, seed: u64) -> Self {
        Self::from_weights(Weights::glorot(config, seed))
    }

    /// A fresh start from given weights, slots at one.
    pub fn from_weights(weights: Weights) -> Self {
        let sizes: Vec<usize> = weights.tensors.iter().map(Vec::len).collect();
        Self {
            weights,
            optimizer: Tf1RmsProp::new(RmsPropSettings::default(), sizes),
            epochs_done: 0,
            step: 0,
        }
    }
}

/// The terms of one step's loss, before the update.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepLoss {
    /// The batch's `l2_loss`.
    pub l2: f64,
    /// The L1 penalty λ₁·Σ|code|.
    pub l1: f64,
    /// The rate of the noisy codes in bits (without λ); 0 without a prior.
    pub bits: f64,
}

/// What a step adds to the reconstruction loss: an L1 penalty on the code, and for a model
/// with a prior the rate, with the noise drawn from `seed`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Penalties {
    /// Weight of the L1 penalty.
    pub l1: f32,
    /// Weight of the rate (used only by models with a prior).
    pub rate_lambda: f32,
    /// Seed of the training noise.
    pub seed: u64,
}

impl Penalties {
    /// The penalties of a recipe.
    pub fn of(recipe: &Recipe) -> Self {
        Self {
            l1: recipe.l1,
            rate_lambda: recipe.rate_lambda,
            seed: recipe.seed,
        }
    }
}
