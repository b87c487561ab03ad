//! The trainer: the seed notebook's recipe, reproducible to the number, with checkpoints.
//!
//! Recipe (all defaults): batches of 10 in file order, 15 epochs, loss = TensorFlow `l2_loss`
//! (0.5 × sum of squared errors over the batch, pixels in [0, 1]), TensorFlow 1 RMSProp
//! (see [`crate::optim`]) at a constant learning rate of 0.0005. The notebook declared an
//! exponential decay but never advanced its step counter, so its rate never changed; the decay
//! is available here (`lr_decay`) and off by default.
//!
//! The weights and the optimizer's slots live on the host. A step runs either on aec's fused CPU
//! kernels ([`crate::cpu_train`], the default) or on burn's autodiff on any device
//! ([`BurnStepper`]: burn computes the forward pass and the gradients, and the fused optimizer
//! updates the weights in one pass); tests hold the two to each other.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aec_format::Precision;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::cpu_train::CpuStepper;
use crate::data::Dataset;
use crate::device::{DeviceError, DeviceKind};
use crate::entropy::prior::{noise, Prior, LIKELIHOOD_BOUND};
use crate::entropy::tables::CodeTables;
use crate::fsutil;
use crate::infer::{BurnCoder, CpuCoder, QuantizedCoder, TileCoder};
use crate::metrics::psnr_from_mse;
use crate::model::{
    images_to_tensor, l2_loss, tensor_to_vec, Autoencoder, ModelConfig, Weights, TILE_VALUES,
};
use crate::optim::{LearningRate, RmsPropSettings, Tf1RmsProp};
use crate::store::{self, ModelError, ModelId};

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
    /// The device cannot train here.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Writing or reading the model or the checkpoint failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A file could not be written.
    #[error("{path}: {source}")]
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

/// Runs training steps on burn: its forward and backward pass, then the fused update.
pub struct BurnStepper {
    penalties: Penalties,
    device: Device,
}

impl BurnStepper {
    /// A stepper with the given penalties on `device` (an autodiff wrapper is added).
    pub fn new(penalties: Penalties, device: &Device) -> Self {
        Self {
            penalties,
            device: device.clone().autodiff(),
        }
    }

    /// One step on a batch of tiles (3,072 bytes each) at learning rate `lr`.
    pub fn step(&mut self, state: &mut State, lr: f32, batch_pixels: &[u8]) -> StepLoss {
        let model = Autoencoder::from_weights(&state.weights, &self.device, true);
        let images = images_to_tensor(batch_pixels, &self.device);
        let codes = model.encode(images.clone());
        let prior = state
            .weights
            .config
            .prior
            .then(|| BurnPrior::new(&state.weights, &self.device));
        let (decoder_input, bits) = match &prior {
            Some(p) => {
                let [batch, l] = codes.dims();
                let u = noise(self.penalties.seed, state.step, batch * l);
                let zhat = p.noisy(codes.clone(), u, &self.device);
                let bits = p.bits(zhat.clone());
                (zhat, Some(bits))
            }
            None => (codes.clone(), None),
        };
        let reconstruction = l2_loss(model.decode(decoder_input), images);
        let mut loss = reconstruction.clone();
        let penalty =
            (self.penalties.l1 > 0.0).then(|| codes.abs().sum().mul_scalar(self.penalties.l1));
        if let Some(p) = &penalty {
            loss = loss + p.clone();
        }
        if let Some(b) = &bits {
            loss = loss + b.clone().mul_scalar(self.penalties.rate_lambda);
        }
        let grads = loss.backward();
        let mut gradients = model.gradients(&grads);
        if let Some(p) = &prior {
            gradients.extend(p.gradients(&grads));
        }
        let value =
            |t: Option<Tensor<1>>| t.map_or(0.0, |t| f64::from(tensor_to_vec(t.inner())[0]));
        let result = StepLoss {
            l2: value(Some(reconstruction)),
            l1: value(penalty),
            bits: value(bits),
        };
        state
            .optimizer
            .step(lr, &mut state.weights.tensors, &gradients);
        state.step += 1;
        result
    }
}

/// The prior's parameters as burn leaves, and the rate of noisy codes in burn's operations
/// (the formulas of [`crate::entropy::prior`]).
struct BurnPrior {
    loc: Tensor<1>,
    log_scale: Tensor<1>,
    log_step: Tensor<1>,
}

impl BurnPrior {
    fn new(weights: &Weights, device: &Device) -> Self {
        let n = ModelConfig::NETWORK_TENSORS;
        let leaf = |v: &[f32]| {
            Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), device).require_grad()
        };
        Self {
            loc: leaf(&weights.tensors[n]),
            log_scale: leaf(&weights.tensors[n + 1]),
            log_step: leaf(&weights.tensors[n + 2]),
        }
    }

    /// `[L]` to `[batch, L]`.
    fn rows(t: &Tensor<1>, batch: usize) -> Tensor<2> {
        t.clone().unsqueeze::<2>().repeat_dim(0, batch)
    }

    /// `z + Δ·u`.
    fn noisy(&self, codes: Tensor<2>, u: Vec<f32>, device: &Device) -> Tensor<2> {
        let [batch, l] = codes.dims();
        let u = Tensor::<2>::from_data(TensorData::new(u, [batch, l]), device);
        codes + u * Self::rows(&self.log_step.clone().exp(), batch)
    }

    /// `Σ −log2 max(|σ(s·a) − σ(s·b)|, bound)` with `s = −sign(a + b)`, which takes the
    /// difference in the tail where it does not cancel.
    fn bits(&self, zhat: Tensor<2>) -> Tensor<1> {
        let [batch, _] = zhat.dims();
        let scale = Self::rows(&self.log_scale.clone().exp(), batch);
        let half = Self::rows(&self.log_step.clone().exp(), batch).mul_scalar(0.5);
        let centre = zhat - Self::rows(&self.loc, batch);
        let a = (centre.clone() + half.clone()) / scale.clone();
        let b = (centre - half) / scale;
        let s = (a.clone() + b.clone()).sign().neg();
        let p = (sigmoid(s.clone() * a) - sigmoid(s * b))
            .abs()
            .clamp_min(LIKELIHOOD_BOUND as f32);
        p.log().sum().neg().div_scalar(std::f32::consts::LN_2)
    }

    fn gradients(&self, grads: &burn::tensor::Gradients) -> Vec<Vec<f32>> {
        [&self.loc, &self.log_scale, &self.log_step]
            .into_iter()
            .map(|t| match t.grad(grads) {
                Some(g) => tensor_to_vec(g),
                None => vec![0.0; t.dims()[0]],
            })
            .collect()
    }
}

/// Runs training steps on a [`DeviceKind`].
pub enum Stepper {
    /// aec's fused CPU step.
    Cpu(CpuStepper),
    /// burn's autodiff.
    Burn(BurnStepper),
}

impl Stepper {
    /// A stepper with the given penalties on a device, or why the device cannot train here.
    pub fn new(penalties: Penalties, device: DeviceKind) -> Result<Self, DeviceError> {
        Ok(match device {
            DeviceKind::Cpu => Stepper::Cpu(CpuStepper::new(penalties)),
            burn => Stepper::Burn(BurnStepper::new(penalties, &burn.device()?)),
        })
    }

    /// One step on a batch of tiles (3,072 bytes each) at learning rate `lr`; returns the
    /// loss's terms before the update.
    pub fn step(&mut self, state: &mut State, lr: f32, batch_pixels: &[u8]) -> StepLoss {
        match self {
            Stepper::Cpu(s) => s.step(state, lr, batch_pixels),
            Stepper::Burn(s) => s.step(state, lr, batch_pixels),
        }
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
    .map_err(|e| TrainError::Settings(e.to_string()))?;
    Ok(Box::new(QuantizedCoder { inner, tables }))
}

#[derive(Serialize, Deserialize)]
struct CheckpointMeta {
    recipe: Recipe,
    epochs_done: usize,
    step: u64,
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
    recipe.config.validate().map_err(TrainError::Settings)?;
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

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn save_checkpoint(path: &Path, recipe: &Recipe, state: &State) -> Result<(), TrainError> {
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

fn load_checkpoint(path: &Path, recipe: &Recipe) -> Result<State, TrainError> {
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

const LOG_HEADER: [&str; 9] = [
    "epoch",
    "loss",
    "l1",
    "train_psnr_db",
    "eval_psnr_mean_db",
    "eval_psnr_of_mean_mse_db",
    "seconds",
    "images_per_second",
    "bits_per_image",
];

/// The log's bytes: a header line, then one line per epoch (no field needs quoting, so these
/// are the plain comma-separated lines that earlier versions wrote).
fn log_bytes(reports: &[EpochReport]) -> Vec<u8> {
    // Writing to memory cannot fail.
    const IN_MEMORY: &str = "CSV into memory";
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(LOG_HEADER).expect(IN_MEMORY);
    for r in reports {
        let (a, b) = r
            .eval_psnr
            .map_or((String::new(), String::new()), |(a, b)| {
                (format!("{a:.4}"), format!("{b:.4}"))
            });
        w.write_record([
            r.epoch.to_string(),
            format!("{:.3}", r.loss),
            format!("{:.3}", r.l1),
            format!("{:.4}", r.train_psnr),
            a,
            b,
            format!("{:.2}", r.seconds),
            format!("{:.1}", r.images_per_second),
            format!("{:.2}", r.bits_per_image),
        ])
        .expect(IN_MEMORY);
    }
    w.into_inner().expect(IN_MEMORY)
}

fn write_log(path: &Path, reports: &[EpochReport]) -> Result<(), TrainError> {
    fsutil::write_atomic(path, &log_bytes(reports), true).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The reports of a log's first `epochs` rows (to carry them across a resume). A missing log
/// gives none, and rows that do not parse are left out.
fn read_log(path: &Path, epochs: usize) -> Vec<EpochReport> {
    let Ok(mut reader) = csv::ReaderBuilder::new().flexible(true).from_path(path) else {
        return Vec::new();
    };
    reader
        .records()
        .filter_map(|row| {
            let f = row.ok()?;
            let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok());
            Some(EpochReport {
                epoch: f.get(0)?.parse().ok()?,
                loss: num(1)?,
                l1: num(2)?,
                train_psnr: num(3)?,
                eval_psnr: num(4).zip(num(5)),
                seconds: num(6)?,
                images_per_second: num(7)?,
                // Logs of models without a prior written before this column existed.
                bits_per_image: num(8).unwrap_or(0.0),
            })
        })
        .filter(|r| r.epoch <= epochs)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(epoch: usize, eval: Option<(f64, f64)>) -> EpochReport {
        EpochReport {
            epoch,
            loss: 1234.56789,
            l1: 0.0,
            train_psnr: 21.123456,
            eval_psnr: eval,
            seconds: 3.25678,
            images_per_second: 9876.54,
        }
    }

    /// The bytes the hand-written log had (kept by existing logs and scripts that read them).
    #[test]
    fn log_bytes_are_the_plain_lines_of_earlier_versions() {
        let reports = [report(1, Some((20.5, 19.25))), report(2, None)];
        let text = String::from_utf8(log_bytes(&reports)).unwrap();
        assert_eq!(
            text,
            "epoch,loss,l1,train_psnr_db,eval_psnr_mean_db,eval_psnr_of_mean_mse_db,seconds,images_per_second\n\
             1,1234.568,0.000,21.1235,20.5000,19.2500,3.26,9876.5\n\
             2,1234.568,0.000,21.1235,,,3.26,9876.5\n"
        );
    }

    #[test]
    fn log_reads_back_at_its_precision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        let reports = [
            report(1, Some((20.5, 19.25))),
            report(2, None),
            report(3, None),
        ];
        write_log(&path, &reports).unwrap();
        let back = read_log(&path, 2);
        assert_eq!(
            back.len(),
            2,
            "rows past the checkpoint's epoch are dropped"
        );
        assert_eq!(back[0].eval_psnr, Some((20.5, 19.25)));
        assert_eq!(back[1].eval_psnr, None);
        assert_eq!((back[1].epoch, back[1].loss), (2, 1234.568));
        assert!(read_log(&dir.path().join("none.csv"), 2).is_empty());
    }
}
