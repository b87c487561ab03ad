//! Rate-distortion: bytes against quality for aec models and settings, beside JPEG, WebP,
//! AVIF and JPEG XL.
//!
//! Every image is coded on its own, as a user would store it: for aec the whole `.aec` file
//! counts (container included), for the baselines the whole file. Quality is measured on the
//! decoded RGB8 image against the original: PSNR (mean of per-image PSNR and PSNR of the mean
//! MSE) and SSIM (see [`crate::metrics`]). AVIF and JPEG XL go through their reference
//! command-line tools (`avifenc`/`avifdec` of libavif, `cjxl`/`djxl` of libjxl), found on
//! `PATH` ([`find_tool`]).

use std::path::{Path, PathBuf};

use image::RgbImage;
use rayon::prelude::*;

use crate::data::{self, DataError};
use crate::metrics::{mse_rgb8, psnr_from_mse, ssim_rgb8};
use crate::model::{TILE, TILE_VALUES};

/// Any error, as the codecs measured report them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    #[error("{codec} on image {index}")]
    Codec {
        /// Which codec and setting.
        codec: String,
        /// Index of the image in the set.
        index: usize,
        /// Why.
        source: BoxError,
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
    /// Each image's name for per-image tables: its file's name, or `FILE#INDEX` for a record
    /// of a CIFAR-10 binary file.
    pub labels: Vec<String>,
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
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for path in paths {
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("bin"))
            {
                let set = data::read_cifar(path)?;
                images.extend((0..set.len()).map(|i| tile_to_image(set.tile(i))));
                let file = file_name(path);
                labels.extend((0..set.len()).map(|i| format!("{file}#{i}")));
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
                    labels.push(file_name(&f));
                }
            } else {
                images.push(open_rgb(path)?);
                labels.push(file_name(path));
            }
        }
        let name = paths
            .iter()
            .map(|p| file_name(p))
            .collect::<Vec<_>>()
            .join("+");
        Ok(Self {
            name,
            images,
            labels,
        })
    }
}

/// A path's last component (the whole path where it has none, as `..`).
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
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
    /// Each image's result, in the set's order (empty where a point was not measured on
    /// images, as in tests of the tables).
    pub images: Vec<ImageResult>,
}

/// One image's result at one setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageResult {
    /// The file's size in bytes.
    pub bytes: usize,
    /// PSNR, dB (infinite for an image coded exactly).
    pub psnr: f64,
    /// SSIM.
    pub ssim: f64,
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
        images: m
            .iter()
            .map(|x| ImageResult {
                bytes: x.bytes,
                psnr: psnr_from_mse(x.mse),
                ssim: x.ssim,
            })
            .collect(),
    }
}

/// A baseline's point: `code` turns image `i` into its file's size in bytes and the decoded
/// image, every image in parallel.
fn measure_baseline(
    set: &ImageSet,
    family: &str,
    setting: String,
    code: impl Fn(usize, &RgbImage) -> Result<(usize, RgbImage), RdError> + Sync,
) -> Result<RdPoint, RdError> {
    let measured = (set.images.par_iter().enumerate())
        .map(|(i, img)| {
            let (bytes, decoded) = code(i, img)?;
            Ok(measure(img, &decoded, bytes))
        })
        .collect::<Result<Vec<_>, RdError>>()?;
    Ok(summarise(family, setting, 0, set, &measured, false))
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

mod measure;
mod plot;
mod report;
mod tools;

pub use measure::{measure_aec, measure_jpeg, measure_webp, measure_whole_image};
pub use plot::{plot, Axis};
pub use report::{bd_against, bd_markdown, bd_rates, images_csv, to_csv, to_markdown, BdRow};
pub use tools::{avif_quantizer, find_tool, measure_avif, measure_jxl};
