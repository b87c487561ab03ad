//! `aec train`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aec::data::Dataset;
use aec::device::DeviceKind;
use aec::format::Precision;
use aec::model::ModelConfig;
use aec::store;
use aec::train::{self, EpochReport, Observer, Recipe, RunOptions};
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aec train --data cifar-10-batches-bin --out model.safetensors
  aec train --data train-order.txt --eval test_batch.bin --out model.safetensors
  aec train --data photos/ --code-length 64 --shuffle --epochs 30 --out small.safetensors

Data: a CIFAR-10 binary file, a folder of data_batch_N.bin files, a .txt list of image
paths (relative to the list), or a folder of images (recursive; larger images are cut into
32x32 tiles). Writes MODEL, a checkpoint MODEL.ckpt after each epoch, and a log MODEL.csv.")]
pub struct TrainArgs {
    /// Training data.
    #[arg(long)]
    data: PathBuf,
    /// The model file to write.
    #[arg(long, short)]
    out: PathBuf,
    /// Number of epochs.
    #[arg(long, default_value_t = 15)]
    epochs: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// Values in one tile's code.
    #[arg(long, default_value_t = 128)]
    code_length: usize,
    /// Filters of the encoder's convolution.
    #[arg(long, default_value_t = 32)]
    filters: usize,
    /// Seed of the initial weights (and of the order with --shuffle).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Held-out images to report PSNR on after each epoch (same kinds of source as --data).
    #[arg(long)]
    eval: Option<PathBuf>,
    /// Visit the images in a new seeded order each epoch (default: file order, as the reference).
    #[arg(long)]
    shuffle: bool,
    /// Weight of the L1 penalty on the code, for sparse codes.
    #[arg(long, default_value_t = 0.0)]
    l1: f32,
    /// Train an entropy-coded model: quantized codes with a learned prior, loss
    /// l2_loss + λ·bits (bits of the noisy codes under the prior). Start from a trained model
    /// with --init.
    #[arg(long, value_name = "λ")]
    rate_lambda: Option<f32>,
    /// Learning rate.
    #[arg(long, default_value_t = 0.0005)]
    learning_rate: f32,
    /// Staircase exponential decay of the learning rate (0.95 every N/(2*batch) steps).
    /// The reference declared it but never applied it, so it is off by default.
    #[arg(long)]
    lr_decay: bool,
    /// Continue from MODEL.ckpt if it exists.
    #[arg(long)]
    resume: bool,
    /// Start from this model file's weights instead of a seeded Glorot draw (fine-tuning); its
    /// architecture must match --code-length and --filters
    #[arg(long, value_name = "MODEL")]
    init: Option<PathBuf>,
    /// Storage precision of the written model: f32 or f16.
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Where to compute: cpu (aec's fused kernels), flex or ndarray (burn's CPU backends), or
    /// cuda.
    #[arg(long, default_value = "cpu", env = "AEC_DEVICE")]
    device: DeviceKind,
}

struct Console {
    bar: Option<ProgressBar>,
    epochs: usize,
}

impl Observer for Console {
    fn batch(&mut self, epoch: usize, done: usize, total: usize, loss: f64) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {per_sec} loss {msg} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        bar.set_prefix(format!("epoch {epoch}/{}", self.epochs));
        bar.set_position(done as u64);
        bar.set_message(format!("{loss:.0}"));
    }

    fn epoch(&mut self, r: &EpochReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let eval = r.eval_psnr.map_or(String::new(), |(mean, of_mean)| {
            format!("  eval {mean:.2} dB (of mean MSE {of_mean:.2} dB)")
        });
        let mut l1 = if r.l1 > 0.0 {
            format!("  l1 {:.1}", r.l1)
        } else {
            String::new()
        };
        if r.bits_per_image > 0.0 {
            l1.push_str(&format!("  rate {:.1} bits/image", r.bits_per_image));
        }
        eprintln!(
            "epoch {:>3}  loss {:>12.1}{l1}  train {:.2} dB{eval}  {:.1} s  {:.0} img/s",
            r.epoch, r.loss, r.train_psnr, r.seconds, r.images_per_second
        );
    }

    fn resumed(&mut self, epoch: usize) {
        eprintln!("resuming after epoch {epoch}");
    }
}

fn load(path: &Path, what: &str) -> anyhow::Result<Dataset> {
    let set = Dataset::load(path).with_context(|| format!("loading {what}"))?;
    for s in set.skipped.iter().take(10) {
        eprintln!("aec: warning: skipped {}: {}", s.path.display(), s.reason);
    }
    if set.skipped.len() > 10 {
        eprintln!(
            "aec: warning: … and {} more skipped",
            set.skipped.len() - 10
        );
    }
    eprintln!(
        "{what}: {} images from {}{}",
        set.len(),
        path.display(),
        if set.skipped.is_empty() {
            String::new()
        } else {
            format!(" ({} files skipped)", set.skipped.len())
        }
    );
    Ok(set)
}

pub fn run(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let data = load(&a.data, "training data")?;
    let eval = a.eval.as_ref().map(|p| load(p, "eval data")).transpose()?;
    let recipe = Recipe {
        config: ModelConfig {
            code_length: a.code_length,
            filters: a.filters,
            prior: a.rate_lambda.is_some(),
        },
        batch_size: a.batch_size,
        seed: a.seed,
        shuffle: a.shuffle,
        l1: a.l1,
        learning_rate: a.learning_rate,
        lr_decay: a.lr_decay,
        images: data.len(),
        rate_lambda: a.rate_lambda.unwrap_or(0.0),
    };
    let initial = match &a.init {
        Some(path) => Some(
            store::load_model(path)
                .with_context(|| format!("initial weights {}", path.display()))?
                .weights,
        ),
        None => None,
    };
    let run = RunOptions {
        epochs: a.epochs,
        out: a.out.clone(),
        precision: a.precision,
        resume: a.resume,
        device: a.device,
        initial,
    };
    eprintln!(
        "training code length {}, {} filters, {} parameters, batch {}, {} epochs on {}",
        recipe.config.code_length,
        recipe.config.filters,
        recipe.config.parameter_count(),
        recipe.batch_size,
        a.epochs,
        a.device
    );
    let mut console = Console {
        bar: None,
        epochs: a.epochs,
    };
    let outcome = train::train(&data, eval.as_ref(), &recipe, &run, &mut console)?;
    println!("{}  {}", outcome.id, a.out.display());
    Ok(ExitCode::SUCCESS)
}
