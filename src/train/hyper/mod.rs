//! Training of the hyperprior family on random crops of photos: Adam, gradients clipped to
//! norm 1, loss `λ·255²·MSE + bpp` ([`crate::model::hyper::rate`]), checkpoints and a CSV log
//! every few hundred steps, resumable.

mod checkpoint;
pub mod crops;
pub mod fused;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::model::hyper::net::{host, HyperNet};
use crate::model::hyper::rate::{self, Noise};
use crate::model::hyper::{HyperConfig, HyperWeights, TOTAL_STRIDE};
use crate::optim::Adam;
pub use checkpoint::load_weights;
pub use crops::Photos;

use super::TrainError;

/// What defines a hyperprior training run (a checkpoint resumes only with the same recipe;
/// the step count and learning rate may change between runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HyperRecipe {
    /// The architecture.
    pub config: HyperConfig,
    /// Weight of the distortion: loss = λ·255²·MSE + bits per pixel.
    pub lambda: f64,
    /// Crops per batch.
    pub batch: usize,
    /// Side of the square crops (a multiple of 64).
    pub crop: usize,
    /// Seed of the initial weights, the crops and the noise.
    pub seed: u64,
}

/// How long and how fast to train.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Train until this many steps are done in all.
    pub steps: u64,
    /// Adam's learning rate.
    pub learning_rate: f32,
    /// Write a log row, a checkpoint and the model after every this many steps.
    pub every: u64,
}

/// Where a run keeps its files: `model` (the weights), `model.ckpt` and `model.csv`.
#[derive(Debug, Clone)]
pub struct HyperRun {
    /// The recipe.
    pub recipe: HyperRecipe,
    /// The schedule.
    pub schedule: Schedule,
    /// The model file to write.
    pub out: PathBuf,
    /// Continue from `out.ckpt` when it exists.
    pub resume: bool,
    /// Start from these weights instead of a seeded draw (fine-tuning another λ).
    pub init: Option<HyperWeights>,
}

/// The trainable state: weights, optimizer, steps done.
pub struct HyperState {
    /// The weights.
    pub weights: HyperWeights,
    /// Adam's slots.
    pub adam: Adam,
    /// Steps done.
    pub step: u64,
}

/// Means of the loss parts over the steps since the last report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HyperReport {
    /// Steps done in all.
    pub step: u64,
    /// Mean loss.
    pub loss: f64,
    /// PSNR of the mean MSE, dB.
    pub psnr: f64,
    /// Bits per pixel of `y` and of `z` (noisy, estimated by the priors).
    pub bpp_y: f64,
    /// Bits per pixel of `z`.
    pub bpp_z: f64,
    /// Global gradient norm before clipping, mean.
    pub grad_norm: f64,
    /// Seconds per step over the interval.
    pub seconds_per_step: f64,
}

/// What computes the loss and its gradients.
#[derive(Debug, Clone)]
pub enum Engine {
    /// aec's own CPU kernels ([`fused`]), the convolutions' products run as asked.
    Fused(fused::Products),
    /// burn's autodiff on this device.
    Burn(Device),
}

/// Receives a report after every interval.
pub trait HyperObserver {
    /// Called after each interval's checkpoint.
    fn report(&mut self, report: &HyperReport);
}

/// Trains (or resumes) a run on `photos` with `engine`, writing the model, the checkpoint and
/// the log after every interval. Returns the final state.
pub fn train_hyper(
    run: &HyperRun,
    photos: &Photos,
    engine: &Engine,
    observer: &mut dyn HyperObserver,
) -> Result<HyperState, TrainError> {
    check(&run.recipe)?;
    let ckpt = sibling(&run.out, "ckpt");
    let log = sibling(&run.out, "csv");
    let mut state = if run.resume && ckpt.exists() {
        checkpoint::load(&ckpt, &run.recipe)?
    } else {
        let weights = run
            .init
            .clone()
            .unwrap_or_else(|| HyperWeights::init(run.recipe.config, run.recipe.seed));
        let adam = Adam::new(weights.tensors.iter().map(Vec::len));
        HyperState {
            weights,
            adam,
            step: 0,
        }
    };
    if state.step == 0 {
        checkpoint::start_log(&log)?;
    }
    let engine = match engine {
        Engine::Burn(device) => Engine::Burn(device.clone().autodiff()),
        Engine::Fused(products) => Engine::Fused(*products),
    };
    let mut sums = Sums::default();
    while state.step < run.schedule.steps {
        let parts = step(&run.recipe, &run.schedule, &mut state, photos, &engine);
        sums.add(parts);
        if state.step % run.schedule.every == 0 || state.step == run.schedule.steps {
            let report = sums.report(state.step);
            checkpoint::save(&ckpt, &run.recipe, &state)?;
            checkpoint::save_model(&run.out, &run.recipe, &state.weights)?;
            checkpoint::append_log(&log, &report)?;
            observer.report(&report);
            sums = Sums::default();
        }
    }
    Ok(state)
}

fn check(recipe: &HyperRecipe) -> Result<(), TrainError> {
    recipe.config.validate()?;
    if recipe.crop == 0 || !recipe.crop.is_multiple_of(TOTAL_STRIDE) {
        return Err(TrainError::Settings(format!(
            "the crop side {} is not a positive multiple of {TOTAL_STRIDE}",
            recipe.crop
        )));
    }
    if recipe.batch == 0 || !(recipe.lambda > 0.0 && recipe.lambda.is_finite()) {
        return Err(TrainError::Settings(
            "the batch must be at least 1 and λ positive".into(),
        ));
    }
    Ok(())
}

/// One step: returns (loss, mse, bpp_y, bpp_z, gradient norm).
fn step(
    recipe: &HyperRecipe,
    schedule: &Schedule,
    state: &mut HyperState,
    photos: &Photos,
    engine: &Engine,
) -> [f64; 5] {
    let (b, c) = (recipe.batch, recipe.crop);
    let pixels = photos.batch(recipe.seed, state.step, b);
    let noise = Noise::draw(recipe.seed, state.step, (b, c, c), recipe.config);
    let (parts, gradients) = match engine {
        Engine::Fused(products) => {
            let settings = (recipe.lambda, *products);
            fused::loss_and_gradients(&state.weights, &pixels, (b, c, c), &noise, settings)
        }
        Engine::Burn(device) => burn_step(&state.weights, pixels, (b, c), noise, recipe, device),
    };
    let norm = state.adam.step(
        schedule.learning_rate,
        &mut state.weights.tensors,
        &gradients,
        Some(1.0),
    );
    state.step += 1;
    [
        parts.loss,
        parts.mse,
        parts.bpp_y,
        parts.bpp_z,
        f64::from(norm),
    ]
}

/// The loss and gradients through burn's autodiff on `device`.
fn burn_step(
    weights: &HyperWeights,
    pixels: Vec<f32>,
    (b, c): (usize, usize),
    noise: Noise,
    recipe: &HyperRecipe,
    device: &Device,
) -> (fused::LossParts, Vec<Vec<f32>>) {
    let images = Tensor::<4>::from_data(TensorData::new(pixels, [b, 3, c, c]), device);
    let net = HyperNet::from_weights(weights, device, true);
    let (loss, mse, bpp_y, bpp_z) = rate::loss(&net, images, noise, recipe.lambda, device);
    let value = |t: Tensor<1>| f64::from(host(t.inner())[0]);
    let parts = fused::LossParts {
        loss: value(loss.clone()),
        mse: value(mse),
        bpp_y: value(bpp_y),
        bpp_z: value(bpp_z),
    };
    (parts, net.gradients(&loss.backward()))
}

/// The loss parts of the steps since the last report, and when the first of them started.
struct Sums {
    n: u64,
    parts: [f64; 5],
    started: Instant,
}

impl Default for Sums {
    fn default() -> Self {
        Self {
            n: 0,
            parts: [0.0; 5],
            started: Instant::now(),
        }
    }
}

impl Sums {
    fn add(&mut self, parts: [f64; 5]) {
        self.n += 1;
        for (s, p) in self.parts.iter_mut().zip(parts) {
            *s += p;
        }
    }

    fn report(&self, step: u64) -> HyperReport {
        let n = self.n.max(1) as f64;
        let mean = |i: usize| self.parts[i] / n;
        HyperReport {
            step,
            loss: mean(0),
            psnr: -10.0 * mean(1).log10(),
            bpp_y: mean(2),
            bpp_z: mean(3),
            grad_norm: mean(4),
            seconds_per_step: self.started.elapsed().as_secs_f64() / n,
        }
    }
}

fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}
