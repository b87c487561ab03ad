//! `aec rd`: rate-distortion tables and plots.

use std::path::PathBuf;
use std::process::ExitCode;

use aec::codec::hyper::Step;
use aec::codec::{open_codec, Builtin, Codec, CompressOptions, ImageCodec, Quality, MAX_PIXELS};
use aec::format::Precision;
use aec::fsutil;
use aec::rd::{self, Axis, ImageSet, RdPoint};
use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

/// A baseline codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Baseline {
    /// JPEG (the image crate's encoder).
    Jpeg,
    /// WebP (libwebp).
    Webp,
    /// AVIF (avifenc/avifdec).
    Avif,
    /// JPEG XL (cjxl/djxl).
    Jxl,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum XAxis {
    /// Mean bytes per image (same-size images, e.g. CIFAR-10).
    Bytes,
    /// Bits per pixel (photos).
    Bpp,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aec rd --data test_batch.bin --out-dir rd/cifar
  aec rd --model m16.safetensors --model m64.safetensors --data kodak/ --axis bpp --out-dir rd/kodak
  aec rd --model 'L1 0.1=sparse.safetensors' --precision f16 --sparse 0.1 --data test_batch.bin --out-dir rd/l1
  aec rd --data test_batch.bin --sparse 0.01 --sparse 0.05 --jpeg 10 --jpeg 50 --webp 0
  aec rd --data kodak/ --axis bpp --avif 30 --avif 60 --jxl 40 --jxl 80 --out-dir rd/kodak
  aec rd --data kodak/ --model h.safetensors --baselines webp --webp 85 --webp 90 --per-image --out-dir rd/each

Writes OUT_DIR/rd.csv, OUT_DIR/rd.md and OUT_DIR/rd.png (and OUT_DIR/images.csv with
--per-image). Without --model the built-in
models are measured (the notebook's, and every --quality level); without --jpeg, --webp,
--avif or --jxl a default range of qualities is used. AVIF and JPEG XL run through libavif's
avifenc/avifdec and libjxl's cjxl/djxl when they are on PATH, and are skipped with a note
otherwise (Debian: apt-get install libavif-bin libjxl-tools). rd.md ends with the BD-rate of
each aec curve against WebP and JPEG.")]
pub struct RdArgs {
    /// Images: a CIFAR-10 binary file (each record an image), a folder, or image files.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Model files to measure (repeatable); default: the built-in model. `LABEL=FILE` names
    /// the model's rows and plot curves LABEL; without a label the rows take the file's name and
    /// the points join the `aec` curves (one per precision, across code lengths).
    #[arg(long, value_name = "[LABEL=]FILE")]
    model: Vec<String>,
    /// Also measure the built-in models when --model is given: the whole qualities on the
    /// `aec` curve, the levels the scale does not code with on `aec narrow`, the previous
    /// levels on curves of their own.
    #[arg(long)]
    builtin: bool,
    /// Built-in qualities to measure besides the whole levels (repeatable; fractions as
    /// `aec compress -Q`); their rows join the `aec` curve.
    #[arg(long, value_name = "Q")]
    quality: Vec<f64>,
    /// Also measure each whole-image model at these quantization steps (repeatable; as `aec
    /// compress --step`); each step's rows make a curve `GROUP step S`.
    #[arg(long, value_name = "S")]
    step: Vec<f64>,
    /// Precisions to measure (repeatable).
    #[arg(long, default_values = ["f16", "f32"])]
    precision: Vec<Precision>,
    /// Sparse thresholds to measure at f16 (repeatable).
    #[arg(long)]
    sparse: Vec<f32>,
    /// JPEG qualities (repeatable; 1-100).
    #[arg(long, default_values_t = [5u8, 10, 20, 30, 50, 70, 90])]
    jpeg: Vec<u8>,
    /// WebP qualities (repeatable; 0-100).
    #[arg(long, default_values_t = [0f32, 10.0, 25.0, 50.0, 75.0, 90.0])]
    webp: Vec<f32>,
    /// AVIF qualities (repeatable; 0-100, as avifenc -q), through avifenc/avifdec when on PATH.
    #[arg(long, value_name = "Q", default_values_t = [10u8, 25, 40, 55, 70])]
    avif: Vec<u8>,
    /// JPEG XL qualities (repeatable; up to 100, as cjxl -q), through cjxl/djxl when on PATH.
    #[arg(long, value_name = "Q", default_values_t = [10f32, 30.0, 50.0, 70.0, 90.0])]
    jxl: Vec<f32>,
    /// Also measure each whole-image model with this many rounds of latent refinement at
    /// encoding (`aec compress --refine`; curves `GROUP refine hyperprior`).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    refine: Option<usize>,
    /// Also give the BD-rate of every model against the model of this row name (a --model
    /// LABEL, a file's name, or a built-in row such as `aec Q4`), each over its rows at every
    /// --step.
    #[arg(long, value_name = "NAME")]
    anchor: Option<String>,
    /// Skip the JPEG, WebP, AVIF and JPEG XL baselines.
    #[arg(long)]
    no_baselines: bool,
    /// The baselines to measure (comma-separated), each at its qualities.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["jpeg", "webp", "avif", "jxl"])]
    baselines: Vec<Baseline>,
    /// x axis of the plot.
    #[arg(long, value_enum, default_value = "bytes")]
    axis: XAxis,
    /// Mark the seed notebook's point (128 f32 values = 512 bytes, about 21.1 dB) on the plot.
    #[arg(long)]
    mark_reference: bool,
    /// Also write OUT_DIR/images.csv: every image's bytes, bits per pixel, PSNR and SSIM at
    /// every setting.
    #[arg(long)]
    per_image: bool,
    /// Folder for rd.csv, rd.md and rd.png (and images.csv).
    #[arg(long)]
    out_dir: PathBuf,
}

impl RdArgs {
    /// Whether `baseline` is measured: asked for by `--baselines`, not refused by
    /// `--no-baselines`.
    fn wants(&self, baseline: Baseline) -> bool {
        !self.no_baselines && self.baselines.contains(&baseline)
    }
}

pub fn run(a: RdArgs) -> anyhow::Result<ExitCode> {
    let set = ImageSet::load(&a.data).context("loading images")?;
    anyhow::ensure!(!set.images.is_empty(), "no images in {:?}", a.data);
    let models = load_models(&a)?;
    if let Some(anchor) = &a.anchor {
        anyhow::ensure!(
            models.iter().any(|m| m.name == *anchor),
            "--anchor {anchor}: no model of that name is measured"
        );
    }
    let (points, curves) = measure_all(&a, &set, &models)?;
    write_results(&a, &set, (&points, &curves))?;
    Ok(ExitCode::SUCCESS)
}

/// A model to measure: row name, curve group, where it comes from, what kind of model it is,
/// the step it is measured at.
struct Measured {
    name: String,
    group: String,
    source: Source,
    kind: Kind,
    at: Step,
}

/// Where a measured model comes from. Each is loaded when its turn comes and dropped after it,
/// so that a run holds one model's kernels at a time (every built-in model at once took 3.3 GB).
enum Source {
    Builtin(Builtin),
    File(PathBuf),
}

impl Source {
    fn codec(&self) -> anyhow::Result<Box<dyn ImageCodec>> {
        Ok(match self {
            Source::Builtin(b) => b.codec(MAX_PIXELS)?,
            Source::File(path) => {
                open_codec(path, MAX_PIXELS).with_context(|| format!("model {}", path.display()))?
            }
        })
    }
}

/// What a model is measured at: its settings depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A whole-image model: its step, `--step`s, `--refine`.
    WholeImage,
    /// A tiled model with entropy-coding tables: one point.
    TiledTables,
    /// A tiled model of raw codes: `--precision`s and `--sparse` thresholds.
    TiledRaw,
}

impl Measured {
    /// A model to measure; a file is loaded once now, so that a bad one stops the run before
    /// any work (a built-in model's kind is known from its name).
    fn new(name: String, group: String, source: Source, at: Step) -> anyhow::Result<Self> {
        let kind = match &source {
            Source::Builtin(Builtin::Reference) => Kind::TiledRaw,
            Source::Builtin(Builtin::Tiled(_)) => Kind::TiledTables,
            Source::Builtin(_) => Kind::WholeImage,
            Source::File(_) => match source.codec()?.as_tiled().map(Codec::tables) {
                None => Kind::WholeImage,
                Some(Some(_)) => Kind::TiledTables,
                Some(None) => Kind::TiledRaw,
            },
        };
        Ok(Self {
            name,
            group,
            source,
            kind,
            at,
        })
    }
}

fn load_models(a: &RdArgs) -> anyhow::Result<Vec<Measured>> {
    for &s in &a.step {
        Step::from_value(s)?;
    }
    let builtin = a.model.is_empty() || a.builtin;
    let mut models = if builtin {
        builtin_models()?
    } else {
        Vec::new()
    };
    models.extend(quality_models(a, builtin)?);
    for spec in &a.model {
        let (label, path) = match spec.split_once('=') {
            Some((label, path)) if !label.is_empty() => (Some(label), PathBuf::from(path)),
            _ => (None, PathBuf::from(spec)),
        };
        let (name, group) = match label {
            Some(label) => (label.to_owned(), label.to_owned()),
            None => (
                path.file_stem()
                    .map_or("model".into(), |s| s.to_string_lossy().into_owned()),
                "aec".to_owned(),
            ),
        };
        models.push(Measured::new(name, group, Source::File(path), Step::UNIT)?);
    }
    Ok(models)
}

/// Every built-in model at its own step: the levels on the `aec` curve, the previous levels
/// and the levels the scale does not code with on curves of their own.
fn builtin_models() -> anyhow::Result<Vec<Measured>> {
    let mut models = Vec::new();
    for b in Builtin::all() {
        let (name, group) = match b {
            Builtin::Quality(q) if !Quality::has_level(q) => {
                (format!("aec narrow Q{q}"), "aec narrow".into())
            }
            Builtin::Quality(q) => (format!("aec Q{q}"), "aec".into()),
            Builtin::Reference => ("built-in".into(), "aec".into()),
            Builtin::Tiled(q) => (format!("aec tiled Q{q}"), "aec".into()),
            Builtin::ScaleOnly(q) => (format!("aec scale-only Q{q}"), "aec scale-only".into()),
            Builtin::MeanScale(q) => (format!("aec mean-scale Q{q}"), "aec mean-scale".into()),
            Builtin::Context { version, level } => (
                format!("aec context-v{version} Q{level}"),
                format!("aec context-v{version}"),
            ),
        };
        models.push(Measured::new(name, group, Source::Builtin(b), Step::UNIT)?);
    }
    Ok(models)
}

/// The qualities of `--quality` on the `aec` curve, and with the built-in models the whole
/// numbers that a larger network's steps code; none twice (with the built-in models every
/// whole number is measured already).
fn quality_models(a: &RdArgs, builtin: bool) -> anyhow::Result<Vec<Measured>> {
    let top = f64::from(Builtin::qualities());
    let whole = |v: f64| v.fract() == 0.0 && (1.0..=top).contains(&v);
    let mut qualities: Vec<f64> = match builtin {
        true => (1..=Builtin::qualities())
            .filter(|&k| !Quality::has_level(k))
            .map(f64::from)
            .collect(),
        false => Vec::new(),
    };
    qualities.extend(a.quality.iter().filter(|&&v| !(builtin && whole(v))));
    let mut models = Vec::new();
    for value in qualities {
        let q = Quality::from_value(value)?;
        let name = format!("aec Q{value}");
        let source = Source::Builtin(q.model());
        models.push(Measured::new(name, "aec".into(), source, q.step)?);
    }
    Ok(models)
}

/// Whether a baseline's command-line tools are all on PATH; if not, a note names the first
/// one missing and the Debian package that has it.
fn tools_present(family: &str, tools: &[&str], package: &str) -> bool {
    match tools.iter().find(|t| rd::find_tool(t).is_none()) {
        None => true,
        Some(missing) => {
            eprintln!(
                "aec: note: {missing} not found; {family} skipped (Debian: apt-get install {package})"
            );
            false
        }
    }
}

/// Every model at every setting, then the baselines, with a progress bar: the points, and for
/// each the model whose curve over the quantization steps it is on (empty for the baselines
/// and refined rows).
fn measure_all(
    a: &RdArgs,
    set: &ImageSet,
    models: &[Measured],
) -> anyhow::Result<(Vec<RdPoint>, Vec<String>)> {
    let avif = a.wants(Baseline::Avif)
        && !a.avif.is_empty()
        && tools_present("AVIF", &["avifenc", "avifdec"], "libavif-bin");
    let jxl = a.wants(Baseline::Jxl)
        && !a.jxl.is_empty()
        && tools_present("JPEG XL", &["cjxl", "djxl"], "libjxl-tools");
    let count = |wanted: bool, n: usize| if wanted { n } else { 0 };
    let baselines = count(a.wants(Baseline::Jpeg), a.jpeg.len())
        + count(a.wants(Baseline::Webp), a.webp.len())
        + count(avif, a.avif.len())
        + count(jxl, a.jxl.len());
    let settings = |m: &Measured| match m.kind {
        Kind::TiledRaw => a.precision.len() + a.sparse.len(),
        Kind::TiledTables => 1,
        Kind::WholeImage => 1 + other_steps(a, m.at).len() + usize::from(a.refine.is_some()),
    };
    let total = models.iter().map(settings).sum::<usize>() + baselines;
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg} {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let (mut points, mut curves) = (Vec::new(), Vec::new());
    let mut step = |label: String, model: &str, point: RdPoint| {
        bar.set_message(label);
        points.push(point);
        curves.push(model.to_owned());
        bar.inc(1);
    };
    measure_models(a, set, models, &mut step)?;
    measure_baselines(a, set, (avif, jxl), &mut step)?;
    bar.finish_and_clear();
    Ok((points, curves))
}

/// rd.csv, rd.md (with the BD-rates) and rd.png.
fn write_results(
    a: &RdArgs,
    set: &ImageSet,
    (points, curves): (&[RdPoint], &[String]),
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("cannot create {}", a.out_dir.display()))?;
    let csv = rd::to_csv(points);
    let mut bd_rows = rd::bd_rates(points);
    if let Some(anchor) = &a.anchor {
        bd_rows.extend(rd::bd_against(anchor, points, curves));
    }
    let bd = rd::bd_markdown(&bd_rows);
    let md = format!("{}\n{bd}", rd::to_markdown(points));
    fsutil::write_atomic(&a.out_dir.join("rd.csv"), csv.as_bytes(), true)?;
    fsutil::write_atomic(&a.out_dir.join("rd.md"), md.as_bytes(), true)?;
    if a.per_image {
        let images = rd::images_csv(points, set);
        fsutil::write_atomic(&a.out_dir.join("images.csv"), images.as_bytes(), true)?;
    }
    let axis = match a.axis {
        XAxis::Bytes => Axis::BytesPerImage,
        XAxis::Bpp => Axis::BitsPerPixel,
    };
    let reference =
        a.mark_reference
            .then_some((512.0, 21.1, "notebook: 128 x f32 = 512 B, ~21.1 dB"));
    let title = format!("{} ({} images)", set.name, set.images.len());
    let exact = rd::plot(&a.out_dir.join("rd.png"), &title, points, axis, reference)?;
    if exact > 0 {
        eprintln!("{exact} setting(s) of an infinite mean PSNR (an image coded exactly) left out of rd.png");
    }
    print!("{md}");
    let images = if a.per_image { ", images.csv" } else { "" };
    eprintln!(
        "wrote {}/rd.csv, rd.md, rd.png{images}",
        a.out_dir.display()
    );
    Ok(())
}

/// The `--step` values a whole-image model measured at `at` is measured at too: none for a
/// quality between levels (it has its step).
fn other_steps(a: &RdArgs, at: Step) -> &[f64] {
    if at == Step::UNIT {
        &a.step
    } else {
        &[]
    }
}

/// Every model at each of its settings.
fn measure_models(
    a: &RdArgs,
    set: &ImageSet,
    models: &[Measured],
    step: &mut dyn FnMut(String, &str, RdPoint),
) -> anyhow::Result<()> {
    for Measured {
        name,
        group,
        source,
        at,
        ..
    } in models
    {
        let codec = source.codec()?;
        let Some(codec) = codec.as_tiled() else {
            let options = CompressOptions {
                step: *at,
                ..CompressOptions::default()
            };
            let point = rd::measure_whole_image(codec.as_ref(), name, group, set, &options)?;
            step(name.clone(), name, point);
            for &s in other_steps(a, *at) {
                let options = CompressOptions {
                    step: Step::from_value(s)?,
                    ..CompressOptions::default()
                };
                let (row, group) = (format!("{name} step {s}"), format!("{group} step {s}"));
                let point = rd::measure_whole_image(codec.as_ref(), &row, &group, set, &options)?;
                step(row, name, point);
            }
            if let Some(rounds) = a.refine {
                let options = CompressOptions {
                    refine_steps: rounds,
                    ..options
                };
                let (name, group) = (format!("{name} refine {rounds}"), format!("{group} refine"));
                let point = rd::measure_whole_image(codec.as_ref(), &name, &group, set, &options)?;
                step(name, "", point);
            }
            continue;
        };
        if codec.tables().is_some() {
            step(
                name.clone(),
                "",
                rd::measure_aec(codec, name, group, set, Precision::F16, None)?,
            );
            continue;
        }
        for &p in &a.precision {
            step(
                format!("{name} {p}"),
                "",
                rd::measure_aec(codec, name, group, set, p, None)?,
            );
        }
        for &t in &a.sparse {
            let point = rd::measure_aec(codec, name, group, set, Precision::F16, Some(t))?;
            step(format!("{name} sparse {t}"), "", point);
        }
    }
    Ok(())
}

/// JPEG and WebP, and AVIF and JPEG XL where their tools were found.
fn measure_baselines(
    a: &RdArgs,
    set: &ImageSet,
    (avif, jxl): (bool, bool),
    step: &mut dyn FnMut(String, &str, RdPoint),
) -> anyhow::Result<()> {
    if a.wants(Baseline::Jpeg) {
        for &q in &a.jpeg {
            step(
                format!("JPEG q{q}"),
                "",
                rd::measure_jpeg(set, q.clamp(1, 100))?,
            );
        }
    }
    if a.wants(Baseline::Webp) {
        for &q in &a.webp {
            step(
                format!("WebP q{q}"),
                "",
                rd::measure_webp(set, q.clamp(0.0, 100.0))?,
            );
        }
    }
    if avif {
        for &q in &a.avif {
            step(format!("AVIF q{q}"), "", rd::measure_avif(set, q.min(100))?);
        }
    }
    if jxl {
        for &q in &a.jxl {
            step(
                format!("JPEG XL q{q}"),
                "",
                rd::measure_jxl(set, q.min(100.0))?,
            );
        }
    }
    Ok(())
}
