//! `aec train-hyper`: trains the whole-image hyperprior family on crops of photos.

use std::path::PathBuf;
use std::process::ExitCode;

use aec::device::DeviceKind;
use aec::model::hyper::{HyperConfig, HyperWeights};
use aec::train::hyper::fused::Products;
use aec::train::hyper::{
    self, HyperObserver, HyperRecipe, HyperReport, HyperRun, Photos, Schedule,
};
use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aec train-hyper --data photos/ --lambda 0.0067 --steps 100000 --out hyper.safetensors
  aec train-hyper --data photos/ --lambda 0.0067 --steps 200000 --out hyper.safetensors --resume
  aec train-hyper --data photos/ --lambda 0.0035 --init hyper.safetensors --out low.safetensors
  aec train-hyper --data photos/ --lambda 0.0067 --init hyper.safetensors --means --out ms.safetensors
  aec train-hyper --data photos/ --lambda 0.025 --init ms.safetensors --n 128 --m 192 --out wide.safetensors

Data: a folder of images (recursive); each batch is random crops with random horizontal
flips. Writes MODEL (the weights), a checkpoint MODEL.ckpt and a log row in MODEL.csv every
--every steps. Loss: lambda*255^2*MSE + bits per pixel (CompressAI's units).")]
pub struct TrainHyperArgs {
    /// Folder of training images.
    #[arg(long)]
    data: PathBuf,
    /// The weights file to write.
    #[arg(long, short)]
    out: PathBuf,
    /// Weight of the distortion (CompressAI's 0.0018 .. 0.0483 for its qualities 1 .. 6).
    #[arg(long)]
    lambda: f64,
    /// Train until this many steps are done in all (resumed runs count earlier steps).
    #[arg(long, default_value_t = 100_000)]
    steps: u64,
    /// Crops per batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Side of the square crops, a multiple of 64.
    #[arg(long, default_value_t = 128)]
    crop: usize,
    /// Channels of the hidden layers and of z (N) [default: 64, or --init's]. With --init of a
    /// smaller model, widens it: the new channels start so that it computes what it did.
    #[arg(long)]
    n: Option<usize>,
    /// Channels of the latent y (M) [default: 96, or --init's]; widens --init as --n does.
    #[arg(long)]
    m: Option<usize>,
    /// Adam's learning rate (may change between resumed runs).
    #[arg(long, default_value_t = 1e-4)]
    learning_rate: f32,
    /// Seed of the initial weights, the crops and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Steps between checkpoints and log rows.
    #[arg(long, default_value_t = 200)]
    every: u64,
    /// Continue from MODEL.ckpt if it exists.
    #[arg(long)]
    resume: bool,
    /// Start from this weights file (fine-tuning another λ); its N and M are used unless --n or
    /// --m asks for more.
    #[arg(long, value_name = "MODEL")]
    init: Option<PathBuf>,
    /// With --init: draw h_a, h_s and the prior of z afresh (from --seed), keeping the
    /// analysis and synthesis of the initial weights.
    #[arg(long, requires = "init")]
    fresh_hyper: bool,
    /// Predict each latent's mean as well as its scale (a mean-scale hyperprior). With --init
    /// of a scale-only model the means start at zero, so training starts from that model's
    /// results.
    #[arg(long)]
    means: bool,
    /// Refine half of the latents' means and scales from the other half's decoded values (a
    /// checkerboard context; implies --means). With --init of a model without one, the context
    /// starts at zero, so training starts from that model's results.
    #[arg(long)]
    context: bool,
    /// Small images (a CIFAR-10 binary, a .txt list or a folder, as `aec train` reads) to make
    /// mosaics of for --tile-fraction of the batches.
    #[arg(long, value_name = "DATA")]
    tiles: Option<PathBuf>,
    /// Fraction of the batches made of mosaics of --tiles (may change between resumed runs).
    #[arg(long, default_value_t = 0.25)]
    tile_fraction: f64,
    /// Fraction of the batches with one to four flat-coloured rectangles painted over each crop
    /// (flat areas and hard edges, which photos seldom have; may change between resumed runs).
    #[arg(long, default_value_t = 0.0, value_name = "F",
          value_parser = fraction)]
    shape_fraction: f64,
    /// Images unlike photos (screenshots, graphics: text, thin strokes, flat areas), a folder
    /// as --data, to crop for --screen-fraction of the batches.
    #[arg(long, value_name = "DIR")]
    screens: Option<PathBuf>,
    /// Fraction of the batches cropped from --screens (may change between resumed runs).
    #[arg(long, default_value_t = 0.2, value_name = "F", value_parser = fraction)]
    screen_fraction: f64,
    /// Where to train: cpu (aec's own kernels), or burn's flex, ndarray or cuda.
    #[arg(long, default_value = "cpu", env = "AEC_DEVICE")]
    device: DeviceKind,
    /// On cpu, run the convolutions' products in bfloat16 where the CPU has instructions for
    /// them: AMX tiles (AMX-BF16, Intel since Sapphire Rapids), else AVX-512 BF16 (AMD since
    /// Zen 4, Intel since Cooper Lake); elsewhere in f32 as without it. Sums stay in f32; a run
    /// gives the same bits on any thread count on one CPU, not across CPUs.
    #[arg(long)]
    bf16: bool,
}

struct Console;

impl HyperObserver for Console {
    fn report(&mut self, r: &HyperReport) {
        eprintln!(
            "step {:>7}  loss {:.4}  {:.2} dB  {:.4} bpp (y {:.4}, z {:.4})  |g| {:.3}  {:.3} s/step",
            r.step,
            r.loss,
            r.psnr,
            r.bpp_y + r.bpp_z,
            r.bpp_y,
            r.bpp_z,
            r.grad_norm,
            r.seconds_per_step
        );
    }
}

fn default_config(a: &TrainHyperArgs) -> HyperConfig {
    let d = HyperConfig::default();
    HyperConfig::new(a.n.unwrap_or(d.n), a.m.unwrap_or(d.m))
        .with_means(a.means)
        .with_context(a.context)
}

pub fn run(a: TrainHyperArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !a.bf16 || matches!(a.device, DeviceKind::Cpu),
        "--bf16 runs aec's own CPU kernels: it needs --device cpu, not {}",
        a.device
    );
    let init = initial_weights(&a)?;
    let config = init
        .as_ref()
        .map_or_else(|| default_config(&a), |w| w.config);
    let photos = training_photos(&a)?;
    let engine = match a.device {
        DeviceKind::Cpu => hyper::Engine::Fused(match a.bf16 {
            true => Products::Bf16,
            false => Products::F32,
        }),
        kind => hyper::Engine::Burn(kind.device()?),
    };
    let run = HyperRun {
        recipe: HyperRecipe {
            config,
            lambda: a.lambda,
            batch: a.batch_size,
            crop: a.crop,
            seed: a.seed,
        },
        schedule: Schedule {
            steps: a.steps,
            learning_rate: a.learning_rate,
            every: a.every.max(1),
        },
        out: a.out.clone(),
        resume: a.resume,
        init,
    };
    eprintln!(
        "training N={} M={} ({:.0} multiply-adds per pixel forward), λ {}, {} photos ({:.1} Mpx), \
         batch {}×{}², on {}{}",
        config.n,
        config.m,
        config.macs_per_pixel(),
        a.lambda,
        photos.len(),
        photos.pixels() as f64 / 1e6,
        a.batch_size,
        a.crop,
        a.device,
        bf16_note(a.bf16)
    );
    let state = hyper::train_hyper(&run, &photos, &engine, &mut Console)?;
    eprintln!("{} steps done: {}", state.step, a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// `--init`'s weights made into what the flags ask for: the hyper-networks redrawn, means,
/// more channels, a context; `None` without `--init`.
fn initial_weights(a: &TrainHyperArgs) -> anyhow::Result<Option<HyperWeights>> {
    let Some(p) = &a.init else { return Ok(None) };
    let mut weights = hyper::load_weights(p)
        .with_context(|| format!("initial weights {}", p.display()))?
        .0;
    if a.fresh_hyper {
        weights.redraw_hyper(a.seed);
    }
    if a.means {
        weights = weights.with_means();
    }
    let (n, m) = (
        a.n.unwrap_or(weights.config.n),
        a.m.unwrap_or(weights.config.m),
    );
    if (n, m) != (weights.config.n, weights.config.m) {
        weights = weights.widen(n, m, a.seed).context("widening --init")?;
    }
    if a.context {
        weights = weights.with_context(a.seed);
    }
    Ok(Some(weights))
}

/// The photos to crop, with `--tiles`' mosaics and `--screens`' crops mixed in; warns of the
/// files skipped.
fn training_photos(a: &TrainHyperArgs) -> anyhow::Result<Photos> {
    let mut photos = Photos::load(&a.data, a.crop).context("loading training photos")?;
    if let Some(path) = &a.tiles {
        anyhow::ensure!(
            a.crop.is_multiple_of(32),
            "mosaics need a crop side that is a multiple of 32"
        );
        let set = aec::data::Dataset::load(path).context("loading --tiles")?;
        eprintln!(
            "mosaics of {} small images from {} in {:.0}% of the batches",
            set.len(),
            path.display(),
            a.tile_fraction * 100.0
        );
        photos = photos.with_tiles(set.pixels, a.tile_fraction);
    }
    if let Some(dir) = &a.screens {
        let screens = Photos::load(dir, a.crop).context("loading --screens")?;
        eprintln!(
            "crops of {} images from {} in {:.0}% of the batches",
            screens.len(),
            dir.display(),
            a.screen_fraction * 100.0
        );
        warn_skipped(&screens.skipped);
        photos = photos.with_screens(screens, a.screen_fraction);
    }
    if a.shape_fraction > 0.0 {
        eprintln!(
            "flat-coloured rectangles over the crops of {:.0}% of the batches",
            a.shape_fraction * 100.0
        );
        photos = photos.with_shapes(a.shape_fraction);
    }
    warn_skipped(&photos.skipped);
    Ok(photos)
}

/// Warns of the first ten files a set of images left out.
fn warn_skipped(skipped: &[aec::data::Skipped]) {
    for s in skipped.iter().take(10) {
        eprintln!("aec: warning: skipped {}: {}", s.path.display(), s.reason);
    }
}

/// What the log says of `--bf16`: which instructions run the products.
fn bf16_note(bf16: bool) -> &'static str {
    use aec::model::hyper::cpu::bf16::{kernel, Kernel};
    match (bf16, kernel(aec::cpu_path::Path::detect())) {
        (true, Some(Kernel::Amx)) => ", products in bfloat16 on AMX tiles",
        (true, Some(Kernel::Dot)) => ", products in bfloat16 by AVX-512 BF16",
        (true, None) => ", products in f32 (no AMX-BF16 or AVX-512 BF16 here)",
        (false, _) => "",
    }
}

/// A number from 0 to 1.
fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("'{s}' is not a fraction from 0 to 1")),
    }
}
