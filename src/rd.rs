//! Rate-distortion: bytes against quality for aec models and settings, beside JPEG, WebP,
//! AVIF and JPEG XL.
//!
//! Every image is coded on its own, as a user would store it: for aec the whole `.aec` file
//! counts (container included), for the baselines the whole file. Quality is measured on the
//! decoded RGB8 image against the original: PSNR (mean of per-image PSNR and PSNR of the mean
//! MSE) and SSIM (see [`crate::metrics`]). AVIF and JPEG XL go through their reference
//! command-line tools (`avifenc`/`avifdec` of libavif, `cjxl`/`djxl` of libjxl), found on
//! `PATH` ([`find_tool`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use aec_format::{AecFile, Precision};
use image::RgbImage;
use rayon::prelude::*;

use crate::codec::{Codec, CompressOptions, ImageCodec};
use crate::data::{self, DataError};
use crate::metrics::{mse_rgb8, psnr_from_mse, ssim_rgb8};
use crate::model::{TILE, TILE_VALUES};

/// What can go wrong in a rate-distortion run.
#[derive(Debug, thiserror::Error)]
pub enum RdError {
    /// The images could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// An image could not be decoded.
    #[error("{path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A codec failed on an image.
    #[error("{codec} on image {index}: {reason}")]
    Codec {
        /// Which codec and setting.
        codec: String,
        /// Index of the image in the set.
        index: usize,
        /// Why.
        reason: String,
    },
    /// An external encoder or decoder (`avifenc`, `cjxl`, ...) failed on an image.
    #[error("{codec} on image {index}: {tool}: {reason}")]
    Tool {
        /// Which codec and setting.
        codec: String,
        /// Index of the image in the set.
        index: usize,
        /// The program.
        tool: String,
        /// Why: the exit status and the program's error output, or why it could not start.
        reason: String,
    },
    /// The plot could not be drawn.
    #[error("plot: {0}")]
    Plot(String),
}

/// A set of whole images to measure on.
pub struct ImageSet {
    /// Name for tables (e.g. the file or folder name).
    pub name: String,
    /// The images.
    pub images: Vec<RgbImage>,
}

impl ImageSet {
    /// Total pixels in the set.
    pub fn pixels(&self) -> u64 {
        self.images
            .iter()
            .map(|i| u64::from(i.width()) * u64::from(i.height()))
            .sum()
    }

    /// Loads whole images: each record of a CIFAR-10 binary file, every image in a folder (in
    /// path order), or the given image files.
    pub fn load(paths: &[PathBuf]) -> Result<Self, RdError> {
        let mut images = Vec::new();
        for path in paths {
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("bin"))
            {
                let set = data::read_cifar(path)?;
                images.extend((0..set.len()).map(|i| tile_to_image(set.tile(i))));
            } else if path.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|e| RdError::Image {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| image::ImageFormat::from_path(p).is_ok())
                    .collect();
                files.sort();
                for f in files {
                    images.push(open_rgb(&f)?);
                }
            } else {
                images.push(open_rgb(path)?);
            }
        }
        let name = paths
            .iter()
            .map(|p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            })
            .collect::<Vec<_>>()
            .join("+");
        Ok(Self { name, images })
    }
}

fn open_rgb(path: &Path) -> Result<RgbImage, RdError> {
    image::open(path)
        .map(|i| i.to_rgb8())
        .map_err(|e| RdError::Image {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// A CIFAR-10 record's channel-major pixels as an image.
pub fn tile_to_image(tile: &[u8]) -> RgbImage {
    debug_assert_eq!(tile.len(), TILE_VALUES);
    RgbImage::from_fn(TILE as u32, TILE as u32, |x, y| {
        let i = (y as usize) * TILE + x as usize;
        image::Rgb([tile[i], tile[1024 + i], tile[2048 + i]])
    })
}

/// One line of the results: a codec at one setting, over the whole set.
#[derive(Debug, Clone, PartialEq)]
pub struct RdPoint {
    /// Codec family for the plot, e.g. `aec f16`, `JPEG`, `WebP`.
    pub family: String,
    /// The setting, e.g. a model name and threshold, or a quality.
    pub setting: String,
    /// Code length of aec models (0 for baselines).
    pub code_length: usize,
    /// Mean file size per image in bytes.
    pub bytes_per_image: f64,
    /// Total bits over total pixels.
    pub bits_per_pixel: f64,
    /// Mean of per-image PSNR, dB.
    pub psnr_mean: f64,
    /// PSNR of the mean MSE over all pixels, dB.
    pub psnr_of_mean_mse: f64,
    /// Mean SSIM.
    pub ssim: f64,
    /// Share of zero code values (aec only).
    pub zero_fraction: Option<f64>,
    /// Entropy-coded models: the mean file size per image an ideal entropy coder would give
    /// (the container's bytes plus the symbols' information content under the model's
    /// tables), to compare with the real bytes.
    pub ideal_bytes_per_image: Option<f64>,
}

/// Per-image outcome of one codec run.
struct Measured {
    bytes: usize,
    /// Container bytes plus the symbols' ideal bits / 8 (entropy-coded models).
    ideal_bytes: Option<f64>,
    mse: f64,
    ssim: f64,
    zeros: usize,
    values: usize,
}

fn summarise(
    family: &str,
    setting: String,
    code_length: usize,
    set: &ImageSet,
    m: &[Measured],
    sparse: bool,
) -> RdPoint {
    let n = m.len() as f64;
    let bytes: usize = m.iter().map(|x| x.bytes).sum();
    let pixel_weights: Vec<f64> = set
        .images
        .iter()
        .map(|i| f64::from(i.width() * i.height()))
        .collect();
    let total_pixels: f64 = pixel_weights.iter().sum();
    let mean_mse = m
        .iter()
        .zip(&pixel_weights)
        .map(|(x, w)| x.mse * w)
        .sum::<f64>()
        / total_pixels;
    let values: usize = m.iter().map(|x| x.values).sum();
    RdPoint {
        family: family.to_string(),
        setting,
        code_length,
        bytes_per_image: bytes as f64 / n,
        bits_per_pixel: bytes as f64 * 8.0 / total_pixels,
        psnr_mean: m.iter().map(|x| psnr_from_mse(x.mse)).sum::<f64>() / n,
        psnr_of_mean_mse: psnr_from_mse(mean_mse),
        ssim: m.iter().map(|x| x.ssim).sum::<f64>() / n,
        zero_fraction: (sparse && values > 0)
            .then(|| m.iter().map(|x| x.zeros).sum::<usize>() as f64 / values as f64),
        ideal_bytes_per_image: m
            .iter()
            .map(|x| x.ideal_bytes)
            .sum::<Option<f64>>()
            .map(|b| b / n),
    }
}

fn measure(original: &RgbImage, decoded: &RgbImage, bytes: usize) -> Measured {
    Measured {
        bytes,
        ideal_bytes: None,
        mse: mse_rgb8(original, decoded),
        ssim: ssim_rgb8(original, decoded),
        zeros: 0,
        values: 0,
    }
}

/// Measures one aec model at one precision and sparse threshold (an entropy-coded model has
/// one setting: pass `F16` and no threshold). `name` labels the row; `group` names the plot's
/// curve (e.g. `aec`: models of one group at one precision form one curve across code
/// lengths, and their sparse settings another; entropy-coded models form `GROUP entropy`).
pub fn measure_aec(
    codec: &Codec,
    name: &str,
    group: &str,
    set: &ImageSet,
    precision: Precision,
    threshold: Option<f32>,
) -> Result<RdPoint, RdError> {
    let options = CompressOptions {
        precision,
        sparse_threshold: threshold,
    };
    let entropy = codec.tables().is_some();
    let label = match (entropy, threshold) {
        (true, _) => name.to_string(),
        (false, Some(t)) => format!("{name} {precision} sparse≤{t}"),
        (false, None) => format!("{name} {precision}"),
    };
    let fail = |index: usize, reason: String| RdError::Codec {
        codec: label.clone(),
        index,
        reason,
    };
    let measured = set
        .images
        .par_iter()
        .enumerate()
        .map(|(i, img)| {
            let bytes = codec
                .compress_rgb(img, 3, &options)
                .map_err(|e| fail(i, e.to_string()))?;
            let decoded = codec
                .decode_rgb(&bytes)
                .map_err(|e| fail(i, e.to_string()))?;
            let mut m = measure(img, &decoded, bytes.len());
            if let Ok(file) = AecFile::from_bytes(&bytes) {
                m.zeros = file.codes.count_zeros();
                m.values = file.codes.len();
            }
            if entropy {
                let report = codec
                    .symbol_report(&bytes)
                    .map_err(|e| fail(i, e.to_string()))?;
                let payload = aec_format::CodedFile::from_bytes(&bytes)
                    .map_err(|e| fail(i, e.to_string()))?
                    .payload
                    .len();
                m.ideal_bytes = Some((bytes.len() - payload) as f64 + report.ideal_bits / 8.0);
            }
            Ok(m)
        })
        .collect::<Result<Vec<_>, RdError>>()?;
    let family = match (entropy, threshold) {
        (true, _) => format!("{group} entropy"),
        (false, Some(_)) => format!("{group} {precision} sparse"),
        (false, None) => format!("{group} {precision}"),
    };
    Ok(summarise(
        &family,
        label,
        codec.weights().config.code_length,
        set,
        &measured,
        threshold.is_some(),
    ))
}

/// Measures a whole-image model (any [`ImageCodec`] without settings): real file bytes and
/// the decoded pixels of every image. Its points form the curve `GROUP hyperprior`.
pub fn measure_whole_image(
    codec: &dyn ImageCodec,
    name: &str,
    group: &str,
    set: &ImageSet,
) -> Result<RdPoint, RdError> {
    let fail = |index: usize, reason: String| RdError::Codec {
        codec: name.to_string(),
        index,
        reason,
    };
    // One image at a time: each already runs on every core.
    let measured = set
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let bytes = codec
                .compress_rgb(img, 3, &CompressOptions::default())
                .map_err(|e| fail(i, e.to_string()))?;
            let decoded = codec
                .decode_rgb(&bytes)
                .map_err(|e| fail(i, e.to_string()))?;
            Ok(measure(img, &decoded, bytes.len()))
        })
        .collect::<Result<Vec<_>, RdError>>()?;
    Ok(summarise(
        &format!("{group} hyperprior"),
        name.to_string(),
        0,
        set,
        &measured,
        false,
    ))
}

/// Measures baseline JPEG at one quality (1–100) with the `jpeg-encoder` crate, set up like
/// libjpeg in Pillow's `save(..., optimize=True)`: 4:2:0 chroma subsampling, the standard
/// quantisation tables scaled by quality, and Huffman tables optimised per image. (With the
/// standard Huffman tables, as the `image` crate writes them, a 32×32 file carries about 420
/// bytes of tables and doubles in size.) Decoded with `jpeg-decoder`: the `image` crate's
/// decoder (zune-jpeg 0.5) misreads these optimised-table files (7 dB instead of 26 dB on a
/// 32×32 test image, where Pillow and `jpeg-decoder` agree).
pub fn measure_jpeg(set: &ImageSet, quality: u8) -> Result<RdPoint, RdError> {
    let measured = set
        .images
        .par_iter()
        .enumerate()
        .map(|(i, img)| {
            let fail = |reason: String| RdError::Codec {
                codec: format!("JPEG q{quality}"),
                index: i,
                reason,
            };
            let mut bytes = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
            encoder.set_optimized_huffman_tables(true);
            let (w, h) = (u16::try_from(img.width()), u16::try_from(img.height()));
            let (Ok(w), Ok(h)) = (w, h) else {
                return Err(fail("larger than JPEG's 65,535-pixel limit".into()));
            };
            encoder
                .encode(img.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| fail(e.to_string()))?;
            let mut decoder = jpeg_decoder::Decoder::new(&bytes[..]);
            let pixels = decoder.decode().map_err(|e| fail(e.to_string()))?;
            let decoded = RgbImage::from_raw(img.width(), img.height(), pixels)
                .ok_or_else(|| fail("decoded JPEG has the wrong size".into()))?;
            Ok(measure(img, &decoded, bytes.len()))
        })
        .collect::<Result<Vec<_>, RdError>>()?;
    Ok(summarise(
        "JPEG",
        format!("JPEG q{quality}"),
        0,
        set,
        &measured,
        false,
    ))
}

/// Measures libwebp's lossy encoder (through the `webp` crate) at one quality (0–100).
pub fn measure_webp(set: &ImageSet, quality: f32) -> Result<RdPoint, RdError> {
    let measured = set
        .images
        .par_iter()
        .enumerate()
        .map(|(i, img)| {
            let fail = |reason: String| RdError::Codec {
                codec: format!("WebP q{quality}"),
                index: i,
                reason,
            };
            let encoded =
                webp::Encoder::from_rgb(img.as_raw(), img.width(), img.height()).encode(quality);
            let bytes: &[u8] = &encoded;
            let decoded = image::load_from_memory_with_format(bytes, image::ImageFormat::WebP)
                .map_err(|e| fail(e.to_string()))?
                .to_rgb8();
            Ok(measure(img, &decoded, bytes.len()))
        })
        .collect::<Result<Vec<_>, RdError>>()?;
    Ok(summarise(
        "WebP",
        format!("WebP q{quality}"),
        0,
        set,
        &measured,
        false,
    ))
}

/// Where `program` is on `PATH` (an executable file of that name), if anywhere.
pub fn find_tool(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// The libavif quantizer (0–63, 0 lossless) of an `avifenc -q` quality (0–100, 100
/// lossless): libavif 1.x's own mapping, so that a quality means the same with the older
/// `avifenc` (0.x) that has only `--min`/`--max`.
pub fn avif_quantizer(quality: u8) -> u8 {
    let q = u32::from(quality.min(100));
    (((100 - q) * 63 + 50) / 100) as u8
}

/// Runs an external program on one image's files; a failure is an [`RdError::Tool`] carrying
/// the exit status and what the program wrote to its error output (or standard output, when
/// the error output is empty).
fn run_tool(
    codec: &str,
    index: usize,
    program: &str,
    args: &[&std::ffi::OsStr],
) -> Result<(), RdError> {
    let fail = |reason: String| RdError::Tool {
        codec: codec.to_string(),
        index,
        tool: program.to_string(),
        reason,
    };
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said = if stderr.trim().is_empty() {
        stdout.trim()
    } else {
        stderr.trim()
    };
    Err(fail(format!("{}: {said}", out.status)))
}

/// A command line of an external tool: `{in}` and `{out}` among the arguments stand for the
/// input and output files.
struct ToolCommand<'a> {
    program: &'a str,
    args: &'a [&'a str],
}

impl ToolCommand<'_> {
    fn run(&self, codec: &str, index: usize, input: &Path, output: &Path) -> Result<(), RdError> {
        let args: Vec<&std::ffi::OsStr> = self
            .args
            .iter()
            .map(|&a| match a {
                "{in}" => input.as_os_str(),
                "{out}" => output.as_os_str(),
                a => std::ffi::OsStr::new(a),
            })
            .collect();
        run_tool(codec, index, self.program, &args)
    }
}

/// One image through an external encoder and decoder, in a temporary folder: the image as a
/// PNG, the encoder's file, the decoder's PNG. The measured size is the encoder's whole
/// output file, the quality that of the decoded PNG.
fn measure_with_tools(
    codec: &str,
    index: usize,
    img: &RgbImage,
    extension: &str,
    encoder: &ToolCommand,
    decoder: &ToolCommand,
) -> Result<Measured, RdError> {
    let fail = |reason: String| RdError::Codec {
        codec: codec.to_string(),
        index,
        reason,
    };
    let dir = tempfile::Builder::new()
        .prefix("aec-rd-")
        .tempdir()
        .map_err(|e| fail(format!("temporary folder: {e}")))?;
    let input = dir.path().join("in.png");
    let coded = dir.path().join(format!("out.{extension}"));
    let output = dir.path().join("decoded.png");
    img.save_with_format(&input, image::ImageFormat::Png)
        .map_err(|e| fail(format!("writing {}: {e}", input.display())))?;
    encoder.run(codec, index, &input, &coded)?;
    let bytes = std::fs::metadata(&coded)
        .map_err(|e| fail(format!("{}: {e}", coded.display())))?
        .len();
    decoder.run(codec, index, &coded, &output)?;
    let decoded = image::open(&output)
        .map_err(|e| fail(format!("reading the decoded {}: {e}", output.display())))?
        .to_rgb8();
    if decoded.dimensions() != img.dimensions() {
        return Err(fail(format!(
            "decoded {}×{}, expected {}×{}",
            decoded.width(),
            decoded.height(),
            img.width(),
            img.height()
        )));
    }
    Ok(measure(img, &decoded, bytes as usize))
}

/// Measures AVIF (libavif's `avifenc`, AV1 through its default encoder, 4:2:0, speed 6) at
/// one quality (0–100, as `avifenc -q`; passed as equal `--min`/`--max` quantizers, see
/// [`avif_quantizer`]). Decoded with `avifdec` to 8-bit PNG. The size is the whole `.avif`
/// file, container included (about 280 bytes of boxes, which dominate at 32×32).
pub fn measure_avif(set: &ImageSet, quality: u8) -> Result<RdPoint, RdError> {
    let label = format!("AVIF q{quality}");
    let quantizer = avif_quantizer(quality).to_string();
    let encoder = ToolCommand {
        program: "avifenc",
        args: &[
            "--min", &quantizer, "--max", &quantizer, "--speed", "6", "-y", "420", "-j", "1", "--",
            "{in}", "{out}",
        ],
    };
    let decoder = ToolCommand {
        program: "avifdec",
        args: &["-d", "8", "--", "{in}", "{out}"],
    };
    let measured = set
        .images
        .par_iter()
        .enumerate()
        .map(|(i, img)| measure_with_tools(&label, i, img, "avif", &encoder, &decoder))
        .collect::<Result<Vec<_>, RdError>>()?;
    Ok(summarise("AVIF", label, 0, set, &measured, false))
}

/// Measures JPEG XL (libjxl's `cjxl`, effort 7) at one quality (`cjxl -q`: up to 100, which
/// is lossless; libjxl maps it to a butteraugli distance). Decoded with `djxl` to PNG. The
/// size is the whole `.jxl` file.
pub fn measure_jxl(set: &ImageSet, quality: f32) -> Result<RdPoint, RdError> {
    let label = format!("JPEG XL q{quality}");
    let q = quality.to_string();
    // One thread per tool: the images run in parallel. (cjxl's 0 means no worker threads,
    // djxl's 0 the machine's default.)
    let encoder = ToolCommand {
        program: "cjxl",
        args: &[
            "{in}",
            "{out}",
            "-q",
            &q,
            "-e",
            "7",
            "--num_threads=0",
            "--quiet",
        ],
    };
    let decoder = ToolCommand {
        program: "djxl",
        args: &["{in}", "{out}", "--num_threads=1", "--quiet"],
    };
    let measured = set
        .images
        .par_iter()
        .enumerate()
        .map(|(i, img)| measure_with_tools(&label, i, img, "jxl", &encoder, &decoder))
        .collect::<Result<Vec<_>, RdError>>()?;
    Ok(summarise("JPEG XL", label, 0, set, &measured, false))
}

/// The results as CSV (RFC 4180: a label holding a comma, a quote or a line break is quoted,
/// its quotes doubled), one header line, then one line per point.
pub fn to_csv(points: &[RdPoint]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "family",
        "setting",
        "code_length",
        "bytes_per_image",
        "bits_per_pixel",
        "psnr_mean_db",
        "psnr_of_mean_mse_db",
        "ssim",
        "zero_fraction",
        "ideal_bytes_per_image",
    ];
    // Writing to memory cannot fail, and every field is a `String`, so the bytes are UTF-8.
    const IN_MEMORY: &str = "CSV into memory";
    w.write_record(header).expect(IN_MEMORY);
    for p in points {
        w.write_record([
            p.family.clone(),
            p.setting.clone(),
            p.code_length.to_string(),
            format!("{:.2}", p.bytes_per_image),
            format!("{:.4}", p.bits_per_pixel),
            format!("{:.3}", p.psnr_mean),
            format!("{:.3}", p.psnr_of_mean_mse),
            format!("{:.4}", p.ssim),
            p.zero_fraction.map_or(String::new(), |z| format!("{z:.4}")),
            p.ideal_bytes_per_image
                .map_or(String::new(), |b| format!("{b:.2}")),
        ])
        .expect(IN_MEMORY);
    }
    String::from_utf8(w.into_inner().expect(IN_MEMORY)).expect(IN_MEMORY)
}

/// The results as a Markdown table.
pub fn to_markdown(points: &[RdPoint]) -> String {
    let mut s = String::from(
        "| codec / setting | bytes/image | bpp | PSNR mean (dB) | PSNR of mean MSE (dB) | SSIM | zeros | ideal bytes/image |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for p in points {
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.3} | {:.2} | {:.2} | {:.4} | {} | {} |",
            p.setting,
            p.bytes_per_image,
            p.bits_per_pixel,
            p.psnr_mean,
            p.psnr_of_mean_mse,
            p.ssim,
            p.zero_fraction
                .map_or("".into(), |z| format!("{:.1}%", 100.0 * z)),
            p.ideal_bytes_per_image
                .map_or("".into(), |b| format!("{b:.1}"))
        );
    }
    s
}

/// The Bjøntegaard delta rate of one aec curve against one baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct BdRow {
    /// The aec curve (a family of points).
    pub family: String,
    /// The baseline curve.
    pub anchor: String,
    /// BD-rate on file bytes and mean per-image PSNR (−0.3: 30% fewer bytes at equal
    /// quality); `None` when the curves share no PSNR range or one has a single point.
    pub bd_rate: Option<f64>,
}

/// The families of the other codecs `aec rd` measures; every other family is an aec curve.
const BASELINES: [&str; 4] = ["JPEG", "WebP", "AVIF", "JPEG XL"];

/// The BD-rate of every aec curve against the JPEG and WebP curves among `points`.
pub fn bd_rates(points: &[RdPoint]) -> Vec<BdRow> {
    let curve = |family: &str| -> Vec<crate::bdrate::RdPoint> {
        points
            .iter()
            .filter(|p| p.family == family)
            .map(|p| crate::bdrate::RdPoint {
                rate: p.bytes_per_image,
                psnr: p.psnr_mean,
            })
            .collect()
    };
    let mut families: Vec<&str> = Vec::new();
    for p in points {
        let baseline = BASELINES.contains(&p.family.as_str());
        if !baseline && !families.contains(&p.family.as_str()) {
            families.push(&p.family);
        }
    }
    let mut rows = Vec::new();
    for family in families {
        for anchor in ["WebP", "JPEG"] {
            let base = curve(anchor);
            if base.is_empty() {
                continue;
            }
            rows.push(BdRow {
                family: family.to_string(),
                anchor: anchor.to_string(),
                bd_rate: crate::bdrate::bd_rate(&base, &curve(family)),
            });
        }
    }
    rows
}

/// BD-rates as a Markdown table.
pub fn bd_markdown(rows: &[BdRow]) -> String {
    let mut s = String::from(
        "| aec curve | against | BD-rate (bytes at equal mean PSNR) |\n|---|---|---:|\n",
    );
    for r in rows {
        let v = r.bd_rate.map_or("no common PSNR range".into(), |d| {
            format!("{:+.1}%", 100.0 * d)
        });
        let _ = writeln!(s, "| {} | {} | {v} |", r.family, r.anchor);
    }
    s
}

/// The x axis of a plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Mean file bytes per image (for sets of same-size images such as CIFAR-10).
    BytesPerImage,
    /// Bits per pixel (for photos).
    BitsPerPixel,
}

/// Draws PSNR (mean of per-image) against size, one curve per family; `reference` marks one
/// labelled point (e.g. the notebook's 512 bytes, 21.1 dB).
pub fn plot(
    path: &Path,
    title: &str,
    points: &[RdPoint],
    axis: Axis,
    reference: Option<(f64, f64, &str)>,
) -> Result<(), RdError> {
    use plotters::prelude::*;
    let err = |e: String| RdError::Plot(e);
    let x_of = |p: &RdPoint| match axis {
        Axis::BytesPerImage => p.bytes_per_image,
        Axis::BitsPerPixel => p.bits_per_pixel,
    };
    let mut corners: Vec<(f64, f64)> = points.iter().map(|p| (x_of(p), p.psnr_mean)).collect();
    corners.extend(reference.map(|(x, y, _)| (x, y)));
    let (xmax, ymin, ymax) = bounds(&corners);
    let root = BitMapBackend::new(path, (960, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let font = FontFamily::Name("DejaVu Sans");
    register_font()?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (font, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..xmax.max(1e-3), ymin..ymax)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(match axis {
            Axis::BytesPerImage => "bytes per image (whole file)",
            Axis::BitsPerPixel => "bits per pixel (whole file)",
        })
        .y_desc("PSNR, mean of per-image (dB)")
        .label_style((font, 14))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, family) in families(points).iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let mut series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.family == *family)
            .map(|p| (x_of(p), p.psnr_mean))
            .collect();
        series.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(*family)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                series
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            )
            .map_err(|e| err(e.to_string()))?;
    }
    if let Some((x, y, label)) = reference {
        chart
            .draw_series(std::iter::once(Cross::new(
                (x, y),
                8,
                BLACK.stroke_width(3),
            )))
            .map_err(|e| err(e.to_string()))?
            .label(label.to_string())
            .legend(|(x, y)| Cross::new((x + 9, y), 6, BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((font, 14))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// The plot's x maximum and y range for its points, with margins.
fn bounds(points: &[(f64, f64)]) -> (f64, f64, f64) {
    (
        points.iter().map(|p| p.0).fold(0.0, f64::max) * 1.08,
        points
            .iter()
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min)
            .floor()
            - 1.0,
        points.iter().map(|p| p.1).fold(0.0, f64::max).ceil() + 1.0,
    )
}

/// The points' families in order of first appearance.
fn families(points: &[RdPoint]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for p in points {
        if !out.contains(&p.family.as_str()) {
            out.push(&p.family);
        }
    }
    out
}

/// Makes the bundled DejaVu Sans available to plotters (it has no system font lookup here).
fn register_font() -> Result<(), RdError> {
    static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result =
            plotters::style::register_font("DejaVu Sans", plotters::style::FontStyle::Normal, FONT)
                .map_err(|_| RdError::Plot("cannot load the bundled font".into()));
    });
    result
}
