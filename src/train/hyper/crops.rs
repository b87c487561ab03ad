//! Training batches for whole-image models: random square crops with random horizontal flips,
//! drawn from photos held in memory, each pixel equally likely to be covered.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::data::{images_below, DataError, Skipped};

/// Photos decoded to 8-bit RGB, ready to crop.
pub struct Photos {
    images: Vec<image::RgbImage>,
    /// Cumulative crop positions per image, for drawing a position uniformly over all of them.
    cumulative: Vec<u64>,
    crop: usize,
    /// Files left out (unreadable, or smaller than a crop).
    pub skipped: Vec<Skipped>,
}

impl Photos {
    /// Decodes every image below `dir` (recursively) that is at least `crop` pixels on each side.
    pub fn load(dir: &Path, crop: usize) -> Result<Self, DataError> {
        let (paths, mut skipped) = images_below(dir)?;
        let decoded: Vec<Result<image::RgbImage, Skipped>> =
            paths.par_iter().map(|p| decode(p, crop)).collect();
        let mut images = Vec::new();
        for d in decoded {
            match d {
                Ok(img) => images.push(img),
                Err(s) => skipped.push(s),
            }
        }
        if images.is_empty() {
            return Err(DataError::Empty {
                path: dir.to_path_buf(),
                detail: format!(" at least {crop}×{crop} pixels ({} skipped)", skipped.len()),
            });
        }
        let mut total = 0u64;
        let cumulative = images
            .iter()
            .map(|img| {
                total += positions(img, crop);
                total
            })
            .collect();
        Ok(Self {
            images,
            cumulative,
            crop,
            skipped,
        })
    }

    /// Number of photos.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether no photo was loaded.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Total pixels of all photos.
    pub fn pixels(&self) -> u64 {
        self.images
            .iter()
            .map(|i| u64::from(i.width()) * u64::from(i.height()))
            .sum()
    }

    /// Batch `step` of `count` crops as `[count, 3, crop, crop]` values in [0, 1], channel-major.
    /// The same `(seed, step)` always gives the same batch.
    pub fn batch(&self, seed: u64, step: u64, count: usize) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let c = self.crop;
        let mut out = Vec::with_capacity(count * 3 * c * c);
        let total = *self.cumulative.last().expect("at least one photo");
        for _ in 0..count {
            let pick = rng.random_range(0..total);
            let i = self.cumulative.partition_point(|&end| end <= pick);
            let img = &self.images[i];
            let x0 = rng.random_range(0..=(img.width() as usize - c));
            let y0 = rng.random_range(0..=(img.height() as usize - c));
            let flip = rng.random::<bool>();
            for ch in 0..3 {
                for y in 0..c {
                    for x in 0..c {
                        let sx = if flip { x0 + c - 1 - x } else { x0 + x };
                        let p = img.get_pixel(sx as u32, (y0 + y) as u32);
                        out.push(f32::from(p[ch]) / 255.0);
                    }
                }
            }
        }
        out
    }
}

fn positions(img: &image::RgbImage, crop: usize) -> u64 {
    (img.width() as u64 - crop as u64 + 1) * (img.height() as u64 - crop as u64 + 1)
}

fn decode(path: &PathBuf, crop: usize) -> Result<image::RgbImage, Skipped> {
    let skip = |reason: String| Skipped {
        path: path.clone(),
        reason,
    };
    let rgb = image::open(path)
        .map_err(|e| skip(e.to_string()))?
        .to_rgb8();
    if (rgb.width() as usize) < crop || (rgb.height() as usize) < crop {
        return Err(skip(format!(
            "{}×{} is smaller than a {crop}×{crop} crop",
            rgb.width(),
            rgb.height()
        )));
    }
    Ok(rgb)
}
