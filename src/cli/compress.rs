//! `aec compress`: images to `.aec` files.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use aec::codec::alpha::{alpha_of, attach, encode_alpha, fill_invisible};
use aec::codec::colour::{self, ColourError, Conversion};
use aec::codec::hyper::{RefineReport, Step};
use aec::codec::lossless::{self, Lossless, Stored};
use aec::codec::target::Target;
use aec::codec::{CodecError, CompressOptions, ImageCodec, Quality, MAX_PIXELS, MAX_SIDE};
use aec::format::{AlphaPlane, Precision};
use aec::metrics;
use anyhow::{bail, Context};
use clap::Args;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader};

use super::io::{
    check_overwrite, expand_inputs, output_paths, read_input, stdin_at_most_once, write_output,
};
use super::models::load_codec;
use super::rate_control::Search;
use super::runner::for_each_input;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aec compress photo.png -o photo.aec
  aec compress photo.png --verify                 # writes photo.aec, prints PSNR
  aec compress photo.png -Q 4.5                   # between levels 4 and 5
  aec compress *.png --out-dir small/ --target-size 20000
  aec compress photo.png --target-psnr 32
  aec compress *.png --out-dir compressed/ --sparse 0.01
  aec compress photos/ --out-dir compressed/      # every image under photos/, folders mirrored
  cat photo.png | aec compress - -o - > photo.aec

Any image the image crate reads (PNG, JPEG, WebP, BMP, TIFF, ...), of any size up to
65,535 pixels a side and --max-pixels in all. EXIF orientation is applied first, and an ICC
profile other than sRGB's converts the colours to sRGB (what aec codes). Grey images
are coded as RGB and decode to grey. Transparency is kept losslessly, as an alpha plane beside
the lossy colour (except by the reference model); the colour of fully transparent pixels is not
kept (--exact keeps it). Without -o, each IN is written beside itself as IN.aec. A folder
stands for the images under it (by extension, in all its subfolders;
--out-dir gets the same subfolders). Two inputs that would write the same file (a.png and a.jpg)
are refused before any work. Existing outputs are kept unless --force.")]
pub struct CompressArgs {
    /// Images to compress, or folders of them ('-' reads standard input).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output file ('-' writes standard output); only with one input.
    #[arg(short, long, conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Folder for the outputs (named after the inputs, with .aec; a folder input's subfolders
    /// repeated in it).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Model file to use instead of a built-in model ('reference': the notebook's model).
    #[arg(long, env = "AEC_MODEL", conflicts_with = "quality")]
    model: Option<PathBuf>,
    /// Quality, 0 to two past the last built-in level (`aec model list` shows them): a whole
    /// number is that level, a fraction lies between levels (finer steps of the lower one);
    /// from 4.5 up, the larger network of level 7 at coarser steps (levels 5 and 6 by
    /// name: `--model q5`).
    #[arg(long, short = 'Q', value_name = "Q")]
    quality: Option<f64>,
    /// Whole-image models: the largest file, in bytes; each image gets about the highest
    /// quality that fits (a bisection of up to 12 encodings; its file always fits).
    #[arg(long, value_name = "BYTES", conflicts_with_all = ["quality", "step", "target_psnr"])]
    target_size: Option<u64>,
    /// Whole-image models: the lowest PSNR in dB; each image gets about the smallest file
    /// that reaches it (a bisection of up to 12 encodings and decodings; its file reaches it).
    #[arg(long, value_name = "DB", conflicts_with_all = ["quality", "step"])]
    target_psnr: Option<f64>,
    /// Precision of the stored code (models without a prior): f16 (default, no measurable
    /// loss) or f32.
    #[arg(long, default_value = "f16")]
    precision: Precision,
    /// Store code values with magnitude at most T as zeros, in the sparse layout.
    #[arg(long, value_name = "T")]
    sparse: Option<f32>,
    /// Whole-image models: search for better latents in at most N trial rounds before coding
    /// them (each round a pass of the synthesis, plus its gradient after a kept one; 16 is
    /// plenty); slower encoding, smaller files at the same quality, decoding unchanged.
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=10_000))]
    refine: usize,
    /// Keep the colour of fully transparent pixels as it is (by default it becomes the colour
    /// around them, which no one sees and which costs fewer bytes).
    #[arg(long)]
    exact: bool,
    /// Whole-image models: the latents' quantization step, 1/16 to 16 (default 1, the
    /// model's own; larger gives smaller files of lower quality, smaller the reverse).
    #[arg(long, value_name = "STEP")]
    step: Option<f64>,
    /// Refuse images of more pixels than this (the same limit decompression applies).
    #[arg(long, value_name = "N", default_value_t = MAX_PIXELS,
          value_parser = clap::value_parser!(u64).range(1..=MAX_PIXELS))]
    max_pixels: u64,
    /// Store every image exactly: a lossless file (WebP's lossless bitstream in a `.aec`
    /// file), whatever its size.
    #[arg(long, conflicts_with_all = ["quality", "target_size", "target_psnr", "step", "refine", "sparse", "model", "no_lossless"])]
    lossless: bool,
    /// Never store an image or part of one as a lossless bitstream (by default an image whose
    /// exact file is no larger than its lossy one, or fits --target-size, is stored so, and
    /// else in a reduced palette, or with its flat 16-pixel blocks exact beside the lossy
    /// rest, where that fits and is closer to it than the lossy file: screenshots and
    /// drawings often are).
    #[arg(long)]
    no_lossless: bool,
    /// Decode each result again and print its PSNR against the input.
    #[arg(long)]
    verify: bool,
    /// Overwrite existing outputs.
    #[arg(short, long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `aec compress`.
pub fn compress(a: CompressArgs) -> anyhow::Result<ExitCode> {
    stdin_at_most_once(&a.inputs)?;
    let quality = a.quality.map(Quality::from_value).transpose()?;
    let codec = load_codec(&a.model, quality.map(|q| q.level), a.max_pixels)?;
    let inputs = expand_inputs(&a.inputs, readable_image, "images aec reads")?;
    let outputs = output_paths(&inputs, &a.output, &a.out_dir, "aec")?;
    let (step, shown) = step_of(quality, a.step)?;
    let options = CompressOptions {
        precision: a.precision,
        sparse_threshold: a.sparse,
        refine_steps: a.refine,
        step,
        lossless: match (a.lossless, a.no_lossless) {
            (true, _) => Lossless::Always,
            (_, true) => Lossless::Never,
            _ => Lossless::Auto,
        },
    };
    let target = match (a.target_size, a.target_psnr) {
        (Some(n), _) => Some(Target::Bytes(n)),
        (_, Some(p)) => Some(Target::Psnr(p)),
        _ => None,
    };
    let search = target
        .map(|t| Search::new(t, &a.model, codec.as_ref(), a.max_pixels))
        .transpose()?;
    let alpha_warned = AtomicBool::new(false);
    let pairs = inputs.into_iter().map(|i| i.path).zip(outputs).collect();
    Ok(for_each_input(pairs, a.quiet, |input, output| {
        check_overwrite(output, a.force)?;
        let bytes = read_input(input)?;
        let (mut image, colour) = read_image(&bytes, codec.as_ref())?;
        // Only its length is needed from here on: a large image's file is as large as its
        // pixels.
        let input_len = bytes.len();
        drop(bytes);
        if let Some(Err(e)) = &colour {
            eprintln!(
                "aec: warning: {}: {e}; colours taken as sRGB",
                input.display()
            );
        }
        let alpha = transparency(codec.as_ref(), &mut image, a.exact, || {
            if !alpha_warned.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "aec: warning: {}: transparency dropped (the reference model's version 1 files carry none)",
                    input.display()
                );
            }
        })?;
        let made = match &search {
            Some(search) => search_or_lossless(search, &image, &options, alpha.as_ref())?,
            None => encode(
                codec.as_ref(),
                &image,
                &options,
                alpha.as_ref(),
                shown.clone(),
            )?,
        };
        write_output(output, &made.bytes, a.force)?;
        let mut line = summary(input, output, &image, input_len, &made);
        if let Some(Ok(Conversion::Converted)) = colour {
            line.push_str(", converted to sRGB from its ICC profile");
        }
        if a.verify {
            let psnr = verify(made.codec, &image, &made.bytes)?;
            match psnr.is_finite() {
                true => line.push_str(&format!(", PSNR {psnr:.2} dB")),
                false => line.push_str(", exact"),
            }
        }
        if let Some(r) = made.refined {
            line.push_str(&format!(
                ", refined: loss {:.4} -> {:.4} ({} of {} trials kept)",
                r.initial_loss, r.loss, r.kept, r.trials
            ));
        }
        Ok(line)
    }))
}

/// The compressed alpha plane of `image` where it has one and `codec`'s files carry it, the
/// colour under its transparent pixels let go first unless `exact`; `dropped` is called for an
/// image whose alpha `codec` cannot keep (its decoded image then shows what is under it).
fn transparency(
    codec: &dyn ImageCodec,
    image: &mut DynamicImage,
    exact: bool,
    dropped: impl FnOnce(),
) -> Result<Option<AlphaPlane>, CodecError> {
    if !codec.keeps_alpha() {
        if alpha_of(image).is_some() {
            dropped();
        }
        return Ok(None);
    }
    if !exact {
        fill_invisible(image);
    }
    encode_alpha(image)
}

/// Whether a file in a folder argument is an image to compress: its extension names a format
/// aec reads (`.aec` files and others are passed over).
fn readable_image(path: &Path) -> bool {
    image::ImageFormat::from_path(path).is_ok_and(|f| f.reading_enabled())
}

/// The quantization step of `--quality` and `--step`, and what the output line says of it
/// when it is not a whole level's own.
fn step_of(quality: Option<Quality>, step: Option<f64>) -> anyhow::Result<(Step, Option<String>)> {
    let step = match (quality, step) {
        (Some(q), Some(_)) if q.step != Step::UNIT => {
            bail!("--step takes a whole-number --quality (a fraction already sets the step)")
        }
        (_, Some(s)) => Step::from_value(s)?,
        (Some(q), None) => q.step,
        (None, None) => Step::UNIT,
    };
    let shown = match quality {
        Some(q) if q.step != Step::UNIT => Some(q.to_string()),
        _ if step != Step::UNIT => Some(format!("step {}", step.value())),
        _ => None,
    };
    Ok((step, shown))
}

/// A compressed image and how it was made.
pub(super) struct Made<'a> {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The codec that made it (and decodes it, for --verify).
    pub codec: &'a dyn ImageCodec,
    /// The setting, when the output line should name it.
    pub setting: Option<String>,
    /// What refinement did, if it ran.
    pub refined: Option<RefineReport>,
    /// The bytes of the alpha section, where the file carries the image's transparency.
    pub alpha: Option<usize>,
    /// Whether the file is a lossless bitstream, and of what.
    pub stored: Stored,
}

impl<'a> Made<'a> {
    /// A lossless file, which names no setting.
    fn lossless(bytes: Vec<u8>, codec: &'a dyn ImageCodec, stored: Stored) -> Self {
        Made {
            bytes,
            codec,
            setting: None,
            refined: None,
            alpha: None,
            stored,
        }
    }

    /// This file, or the image's lossless one where `mode` asks for it or, in
    /// [`Lossless::Auto`], where it takes at most `budget` bytes (`None`: this file's length)
    /// and this codec's files are version 2.
    fn or_lossless(
        self,
        image: &DynamicImage,
        options: &CompressOptions,
        budget: Option<usize>,
    ) -> Result<Self, CodecError> {
        let codec = self.codec;
        let (bytes, stored) = codec.or_lossless(image, self.bytes, options, budget)?;
        Ok(match stored {
            Stored::Lossy => Made { bytes, ..self },
            _ => Made::lossless(bytes, codec, stored),
        })
    }
}

/// The file `search` finds for `image`, or its lossless file where that fits the target (a
/// PSNR target always, a size target when it is no larger) and `options` allow it.
fn search_or_lossless<'a>(
    search: &'a Search<'a>,
    image: &DynamicImage,
    options: &CompressOptions,
    alpha: Option<&AlphaPlane>,
) -> anyhow::Result<Made<'a>> {
    let budget = search.byte_budget();
    match search.run(image, options, alpha) {
        Ok(made) => Ok(made.or_lossless(image, options, budget)?),
        Err(e) => match e.downcast_ref::<CodecError>() {
            Some(CodecError::Unreachable { .. }) if options.lossless == Lossless::Auto => {
                let budget = budget.unwrap_or(usize::MAX);
                let exact = lossless::encode(image)?;
                if exact.len() > budget {
                    return Err(e);
                }
                Ok(Made::lossless(exact, search.codec()?, Stored::Exact))
            }
            _ => Err(e),
        },
    }
}

/// `image` compressed by `codec` with `options`, with `alpha` (which `codec`'s files carry).
fn encode<'a>(
    codec: &'a dyn ImageCodec,
    image: &DynamicImage,
    options: &CompressOptions,
    alpha: Option<&AlphaPlane>,
    setting: Option<String>,
) -> anyhow::Result<Made<'a>> {
    if options.lossless == Lossless::Always {
        return Ok(Made::lossless(
            lossless::encode(image)?,
            codec,
            Stored::Exact,
        ));
    }
    let (bytes, refined) = match codec.as_hyper() {
        Some(hyper) if options.refine_steps > 0 => {
            let channels = image.color().channel_count();
            let rgb = image.to_rgb8();
            hyper.compress_refined(&rgb, channels, options.refine_steps, options.step)?
        }
        _ => (codec.compress_colour(image, options)?, None),
    };
    let bytes = match alpha {
        Some(a) => attach(bytes, a)?.0,
        None => bytes,
    };
    let made = Made {
        bytes,
        codec,
        setting,
        refined,
        alpha: alpha.map(AlphaPlane::encoded_len),
        stored: Stored::Lossy,
    };
    Ok(made.or_lossless(image, options, None)?)
}

/// The output line of one image, without PSNR and refinement.
fn summary(
    input: &Path,
    output: &Path,
    image: &DynamicImage,
    input_len: usize,
    made: &Made<'_>,
) -> String {
    let (width, height) = (image.width(), image.height());
    let pixels = u64::from(width) * u64::from(height);
    let n = made.bytes.len();
    let mut line = format!(
        "{} -> {}: {width}x{height}, {input_len} -> {n} bytes, {:.3} bpp, {:.1}:1",
        input.display(),
        output.display(),
        n as f64 * 8.0 / pixels as f64,
        (pixels * 3) as f64 / n as f64,
    );
    if let Some(setting) = &made.setting {
        line.push_str(&format!(", {setting}"));
    }
    if let Some(n) = made.alpha {
        line.push_str(&format!(", alpha {n} bytes"));
    }
    match made.stored {
        Stored::Lossy => {}
        Stored::Exact => line.push_str(", lossless"),
        Stored::Palette(n) => line.push_str(&format!(", {n}-colour palette (lossless bitstream)")),
        Stored::Blocks {
            exact,
            of,
            colours: None,
        } => line.push_str(&format!(", {exact} of {of} blocks exact")),
        Stored::Blocks {
            exact,
            of,
            colours: Some(n),
        } => line.push_str(&format!(
            ", {exact} of {of} blocks in a {n}-colour palette (lossless bitstream)"
        )),
    }
    line
}

/// Decodes an image file's bytes, refusing sizes over the codec's limits before the pixels
/// are decoded, turns it upright as its EXIF orientation says, and converts it to sRGB when
/// it carries another ICC profile (what happened to the profile, if it has one).
fn read_image(
    bytes: &[u8],
    codec: &dyn ImageCodec,
) -> anyhow::Result<(DynamicImage, Option<Result<Conversion, ColourError>>)> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .context("cannot read image")?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // Room for the largest accepted image at 16 bits per sample with alpha.
    limits.max_alloc = Some(codec.max_pixels().saturating_mul(8).max(64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().context("cannot decode image")?;
    let (width, height) = decoder.dimensions();
    codec.check_size(width, height)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    // An unreadable profile is reported by the conversion, as an empty one.
    let icc = decoder.icc_profile().unwrap_or_else(|_| Some(Vec::new()));
    let mut image = DynamicImage::from_decoder(decoder).context("cannot decode image")?;
    image.apply_orientation(orientation);
    let colour = icc.map(|icc| colour::to_srgb(&mut image, &icc));
    Ok((image, colour))
}

/// PSNR of a file's decoded image against the input, as `aec decompress` would write it
/// (grey against grey for a grey source).
pub(super) fn verify(
    codec: &dyn ImageCodec,
    image: &DynamicImage,
    encoded: &[u8],
) -> Result<f64, CodecError> {
    Ok(metrics::psnr_from_mse(codec.file_mse(image, encoded)?))
}
