//! The trainer: the seed notebook's recipe, reproducible to the number, with checkpoints.
//!
//! Recipe (all defaults): batches of 10 in file order, 15 epochs, loss = TensorFlow `l2_loss`
//! (0.5 × sum of squared errors over the batch, pixels in [0, 1]), TensorFlow 1 RMSProp
//! (see [`crate::optim`]) at a constant learning rate of 0.0005. The notebook declared an
//! exponential decay but never advanced its step counter, so its rate never changed; the decay
//! is available here (`lr_decay`) and off by default.
//!
//! The weights and the optimizer's slots live on the host. A step runs either on aec's fused CPU
//! kernels (`train::cpu`, the default) or on burn's autodiff on any device
//! ([`BurnStepper`]: burn computes the forward pass and the gradients, and the fused optimizer
//! updates the weights in one pass); tests hold the two to each other.

use std::path::{Path, PathBuf};
use std::time::Instant;

use aec_format::Precision;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub mod burn_step;
mod checkpoint;
pub(crate) mod cpu;
pub mod hyper;
mod log;
mod state;

pub use burn_step::BurnStepper;
pub use state::{Penalties, State, StepLoss};

use crate::data::Dataset;
use crate::device::{DeviceError, DeviceKind};
use crate::entropy::prior::Prior;
use crate::entropy::tables::CodeTables;
use crate::infer::{BurnCoder, CpuCoder, QuantizedCoder, TileCoder};
use crate::metrics::psnr_from_mse;
use crate::model::{ModelConfig, Weights, TILE_VALUES};
use crate::optim::LearningRate;
use crate::store::{self, ModelError, ModelId};
use checkpoint::{load_checkpoint, save_checkpoint};
use cpu::CpuStepper;
use log::{read_log, write_log};

/// Everything that decides the trained weights (the checkpoint records it, and `--resume`
/// refuses to continue a run made with different settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Architecture.
    pub config: ModelConfig,
    /// Images per batch.
    pub batch_size: usize,
    /// Seed of the initial weights and of the shuffle.
    pub seed: u64,
    /// Visit the images in a new seeded order each epoch instead of file order.
    pub shuffle: bool,
    /// Weight λ of the L1 penalty λ·Σ|code| that makes codes sparse (0: none).
    pub l1: f32,
    /// Learning rate at step 0.
    pub learning_rate: f32,
    /// Apply the staircase decay 0.95 every N/(2·batch) steps.
    pub lr_decay: bool,
    /// Number of training images (a resumed run must see the same data).
    pub images: usize,
    /// Weight λ of the rate in the loss `l2_loss + λ·bits` (models with a prior only; the
    /// bits are the prior's information content of the noisy codes, see [`crate::entropy`]).
    #[serde(default)]
    pub rate_lambda: f32,
}

impl Recipe {
    /// The notebook's recipe for a data set of `images` images.
    pub fn reference(images: usize) -> Self {
        Self {
            config: ModelConfig::default(),
            batch_size: 10,
            seed: 0,
            shuffle: false,
            l1: 0.0,
            learning_rate: 0.0005,
            lr_decay: false,
            images,
            rate_lambda: 0.0,
        }
    }

    /// The rate weight, for a model with a prior.
    pub fn rate_lambda(&self) -> Option<f32> {
        self.config.prior.then_some(self.rate_lambda)
    }

    /// The learning-rate schedule this recipe asks for.
    pub fn learning_rate(&self) -> LearningRate {
        let steps = (self.images / (2 * self.batch_size)).max(1) as u64;
        LearningRate {
            initial: self.learning_rate,
            decay: self.lr_decay.then_some((0.95, steps)),
        }
    }
}

/// Where and how a run writes its results.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Epochs to reach (a resumed run continues up to this many).
    pub epochs: usize,
    /// The model file written at the end.
    pub out: PathBuf,
    /// Storage precision of the final model file.
    pub precision: Precision,
    /// Continue from `out`'s checkpoint if there is one.
    pub resume: bool,
    /// Where to train.
    pub device: DeviceKind,
    /// Weights to start from instead of the recipe's seeded Glorot draw (fine-tuning); their
    /// architecture must be the recipe's. A checkpoint that `resume` finds takes precedence.
    pub initial: Option<Weights>,
}

impl RunOptions {
    /// The checkpoint beside the model file (`MODEL.ckpt`).
    pub fn checkpoint_path(&self) -> PathBuf {
        sibling(&self.out, "ckpt")
    }

    /// The CSV log beside the model file (`MODEL.csv`).
    pub fn log_path(&self) -> PathBuf {
        sibling(&self.out, "csv")
    }
}

fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// One epoch's results, in the reference's units.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Sum of the batches' `l2_loss` (what the notebook printed).
    pub loss: f64,
    /// Sum of the batches' L1 penalties (0 without `l1`).
    pub l1: f64,
    /// Mean rate of the noisy codes per training image, in bits (0 without a prior).
    pub bits_per_image: f64,
    /// PSNR of the mean squared error over the epoch's training batches, in dB.
    pub train_psnr: f64,
    /// On the held-out set: mean of per-image PSNR, and PSNR of the mean MSE, in dB.
    pub eval_psnr: Option<(f64, f64)>,
    /// Wall time of the epoch's training steps, in seconds.
    pub seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
}

/// Told about progress while training runs.
pub trait Observer {
    /// After each batch: images done this epoch, and the running loss sum.
    fn batch(&mut self, _epoch: usize, _done: usize, _total: usize, _loss: f64) {}
    /// After each epoch.
    fn epoch(&mut self, _report: &EpochReport) {}
    /// When a run resumes from a checkpoint after `epoch` epochs.
    fn resumed(&mut self, _epoch: usize) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// What can stop a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Bad settings.
    #[error("{0}")]
    Settings(String),
    /// A model size aec does not build.
    #[error(transparent)]
    Config(#[from] crate::model::ConfigError),
    /// The device cannot train here.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Writing or reading the model or the checkpoint failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A file could not be written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The checkpoint cannot be used.
    #[error("checkpoint {path}: {problem}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// The end of a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Final weights.
    pub weights: Weights,
    /// Identity of the written model file.
    pub id: ModelId,
    /// Every epoch's report, including those of a resumed run's earlier part.
    pub epochs: Vec<EpochReport>,
}

/// One training step of the tiled family: the fused CPU step and burn's autodiff are two
/// implementations, held to each other by tests.
pub trait TrainStep: Send {
    /// One step on a batch of tiles (3,072 bytes each) at learning rate `lr`; returns the
    /// loss's terms before the update.
    fn step(&mut self, state: &mut State, lr: f32, batch_pixels: &[u8]) -> StepLoss;
}

impl TrainStep for CpuStepper {
    fn step(&mut self, state: &mut State, lr: f32, batch_pixels: &[u8]) -> StepLoss {
        CpuStepper::step(self, state, lr, batch_pixels)
    }
}

impl TrainStep for BurnStepper {
    fn step(&mut self, state: &mut State, lr: f32, batch_pixels: &[u8]) -> StepLoss {
        BurnStepper::step(self, state, lr, batch_pixels)
    }
}

/// Runs training steps on a [`DeviceKind`]: the [`TrainStep`] that device uses.
pub struct Stepper(Box<dyn TrainStep>);

impl Stepper {
    /// A stepper with the given penalties on a device, or why the device cannot train here.
    pub fn new(penalties: Penalties, device: DeviceKind) -> Result<Self, DeviceError> {
        Ok(Stepper(match device {
            DeviceKind::Cpu => Box::new(CpuStepper::new(penalties)),
            burn => Box::new(BurnStepper::new(penalties, &burn.device()?)),
        }))
    }

    /// One step on a batch of tiles (3,072 bytes each) at learning rate `lr`; returns the
    /// loss's terms before the update.
    pub fn step(&mut self, state: &mut State, lr: f32, batch_pixels: &[u8]) -> StepLoss {
        self.0.step(state, lr, batch_pixels)
    }
}

/// A coder of `weights` for evaluation on `device`; for a model with a prior, with its codes
/// quantized as a file would carry them.
fn eval_coder(weights: &Weights, device: DeviceKind) -> Result<Box<dyn TileCoder>, TrainError> {
    let inner: Box<dyn TileCoder> = match device {
        DeviceKind::Cpu => Box::new(CpuCoder::new(weights)),
        burn => Box::new(BurnCoder::new(weights, &burn.device()?)),
    };
    if !weights.config.prior {
        return Ok(inner);
    }
    let n = ModelConfig::NETWORK_TENSORS;
    let t = &weights.tensors;
    let tables = CodeTables::from_prior(Prior {
        loc: &t[n],
        log_scale: &t[n + 1],
        log_step: &t[n + 2],
    })
    .map_err(ModelError::from)?;
    Ok(Box::new(QuantizedCoder { inner, tables }))
}

/// Trains a model on `data`, evaluating on `eval` after each epoch if given.
pub fn train(
    data: &Dataset,
    eval: Option<&Dataset>,
    recipe: &Recipe,
    run: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<Outcome, TrainError> {
    check_recipe(data, recipe)?;
    let ckpt_path = run.checkpoint_path();
    let log_path = run.log_path();
    let mut reports = Vec::new();
    let mut state = if run.resume && ckpt_path.exists() {
        let state = load_checkpoint(&ckpt_path, recipe)?;
        reports = read_log(&log_path, state.epochs_done);
        observer.resumed(state.epochs_done);
        state
    } else if let Some(weights) = &run.initial {
        State::from_weights(initial_weights(weights, recipe.config)?)
    } else {
        State::new(recipe.config, recipe.seed)
    };
    let mut stepper = Stepper::new(Penalties::of(recipe), run.device)?;
    for epoch in state.epochs_done + 1..=run.epochs {
        let mut report = run_epoch(data, recipe, epoch, &mut state, &mut stepper, observer);
        if let Some(set) = eval {
            let coder = eval_coder(&state.weights, run.device)?;
            report.eval_psnr = Some(summarise_psnr(&reconstruction_mse(coder.as_ref(), set)));
        }
        state.epochs_done = epoch;
        observer.epoch(&report);
        reports.push(report);
        save_checkpoint(&ckpt_path, recipe, &state)?;
        write_log(&log_path, &reports)?;
    }
    let id = store::save_model(
        &run.out,
        &state.weights,
        run.precision,
        recipe.rate_lambda(),
    )?;
    Ok(Outcome {
        weights: state.weights,
        id,
        epochs: reports,
    })
}

fn check_recipe(data: &Dataset, recipe: &Recipe) -> Result<(), TrainError> {
    recipe.config.validate()?;
    if recipe.batch_size == 0 {
        return Err(TrainError::Settings("batch size must be at least 1".into()));
    }
    if data.len() != recipe.images {
        return Err(TrainError::Settings(format!(
            "recipe is for {} images, data has {}",
            recipe.images,
            data.len()
        )));
    }
    for (name, v) in [
        ("L1 weight", recipe.l1),
        ("rate weight", recipe.rate_lambda),
    ] {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(TrainError::Settings(format!("{name} {v} must be ≥ 0")));
        }
    }
    Ok(())
}

/// The starting weights from a model's: the same network, and for a recipe with a prior
/// either the model's prior or, if it has none, the prior's initial values.
fn initial_weights(weights: &Weights, config: ModelConfig) -> Result<Weights, TrainError> {
    let network = ModelConfig {
        prior: false,
        ..config
    };
    if (ModelConfig {
        prior: false,
        ..weights.config
    }) != network
    {
        return Err(TrainError::Settings(format!(
            "the initial weights are for code length {} and {} filters, the recipe for {} and {}",
            weights.config.code_length, weights.config.filters, config.code_length, config.filters
        )));
    }
    let mut tensors = weights.tensors.clone();
    tensors.truncate(ModelConfig::NETWORK_TENSORS);
    if config.prior {
        let fresh = Weights::glorot(config, 0);
        let n = ModelConfig::NETWORK_TENSORS;
        match weights.config.prior {
            true => tensors.extend_from_slice(&weights.tensors[n..]),
            false => tensors.extend_from_slice(&fresh.tensors[n..]),
        }
    }
    Ok(Weights { config, tensors })
}

/// One epoch of training steps (everything but the evaluation).
fn run_epoch(
    data: &Dataset,
    recipe: &Recipe,
    epoch: usize,
    state: &mut State,
    stepper: &mut Stepper,
    observer: &mut dyn Observer,
) -> EpochReport {
    let mut order: Vec<usize> = (0..data.len()).collect();
    if recipe.shuffle {
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed(
            recipe.seed,
            epoch,
        )));
    }
    let lr = recipe.learning_rate();
    let mut batch_pixels = Vec::with_capacity(recipe.batch_size * TILE_VALUES);
    let start = Instant::now();
    let mut total = StepLoss::default();
    for (b, batch) in order.chunks(recipe.batch_size).enumerate() {
        batch_pixels.clear();
        for &i in batch {
            batch_pixels.extend_from_slice(data.tile(i));
        }
        let loss = stepper.step(state, lr.at(state.step), &batch_pixels);
        total.l2 += loss.l2;
        total.l1 += loss.l1;
        total.bits += loss.bits;
        let done = (b * recipe.batch_size + batch.len()).min(data.len());
        observer.batch(epoch, done, data.len(), total.l2);
    }
    let seconds = start.elapsed().as_secs_f64();
    let mse = 2.0 * total.l2 / (data.len() * TILE_VALUES) as f64;
    EpochReport {
        epoch,
        loss: total.l2,
        l1: total.l1,
        bits_per_image: total.bits / data.len() as f64,
        train_psnr: psnr_from_mse(mse),
        eval_psnr: None,
        seconds,
        images_per_second: data.len() as f64 / seconds,
    }
}

fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Per-image mean squared error (pixels in [0, 1]) of a model's reconstructions of a set.
pub fn reconstruction_mse(coder: &dyn TileCoder, set: &Dataset) -> Vec<f64> {
    const CHUNK: usize = 256;
    let mut out = Vec::with_capacity(set.len());
    for chunk in set.pixels.chunks(CHUNK * TILE_VALUES) {
        let recon = coder.decode(&coder.encode(chunk));
        for (orig, rec) in chunk.chunks(TILE_VALUES).zip(recon.chunks(TILE_VALUES)) {
            let se: f64 = orig
                .iter()
                .zip(rec)
                .map(|(&o, &r)| {
                    let d = f64::from(r) - f64::from(o) / 255.0;
                    d * d
                })
                .sum();
            out.push(se / TILE_VALUES as f64);
        }
    }
    out
}

/// Mean of per-image PSNR, and PSNR of the mean MSE.
pub fn summarise_psnr(per_image_mse: &[f64]) -> (f64, f64) {
    let n = per_image_mse.len() as f64;
    let mean_psnr = per_image_mse.iter().map(|&m| psnr_from_mse(m)).sum::<f64>() / n;
    let mean_mse = per_image_mse.iter().sum::<f64>() / n;
    (mean_psnr, psnr_from_mse(mean_mse))
}
