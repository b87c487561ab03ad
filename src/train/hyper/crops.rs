//! Training batches for whole-image models: random square crops with random horizontal flips,
//! drawn from photos held in memory, each pixel equally likely to be covered; and, for a
//! chosen fraction of the batches, mosaics of small images (32×32 tiles such as CIFAR-10's),
//! so that the model also sees thumbnail-sized content; for another, crops of a second set of
//! images (screenshots and graphics: text, thin strokes, flat areas); and, for another fraction,
//! flat-coloured rectangles painted over the crops (flat areas and hard edges, which photos
//! seldom have).

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
    /// Small images for mosaics (3,072 bytes each, channel-major) and the fraction of batches
    /// made of them.
    tiles: Option<(Vec<u8>, f64)>,
    /// Fraction of the batches with rectangles painted over their crops ([`Photos::with_shapes`]).
    shapes: f64,
    /// A second set of images and the fraction of batches cropped from it
    /// ([`Photos::with_screens`]).
    screens: Option<(Box<Photos>, f64)>,
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
            tiles: None,
            shapes: 0.0,
            screens: None,
            skipped,
        })
    }

    /// Adds small images (32×32 tiles of 3,072 bytes, channel-major, as [`crate::data`] loads
    /// them) of which `fraction` of the batches are made: mosaics of random tiles, each flipped
    /// at random. The crop side must be a multiple of 32.
    pub fn with_tiles(mut self, tiles: Vec<u8>, fraction: f64) -> Self {
        if !tiles.is_empty() && fraction > 0.0 {
            self.tiles = Some((tiles, fraction.min(1.0)));
        }
        self
    }

    /// Paints, over every crop of `fraction` of the batches (photos or mosaics alike), one to
    /// four rectangles of one colour each (any RGB colour, uniform; sides from an eighth of the
    /// crop to all of it): content far from photos on which the models had drifted (flat
    /// saturated colours). The batches' own content stays what it is without them.
    pub fn with_shapes(mut self, fraction: f64) -> Self {
        self.shapes = fraction.clamp(0.0, 1.0);
        self
    }

    /// Crops `fraction` of the batches from `screens` instead (images unlike photos, such as
    /// screenshots: text, thin strokes, flat areas), chosen by a generator of their own, so that
    /// the other batches stay those of a run without them.
    pub fn with_screens(mut self, screens: Photos, fraction: f64) -> Self {
        if fraction > 0.0 {
            self.screens = Some((Box::new(screens), fraction.min(1.0)));
        }
        self
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
        let mut out = self.content(seed, step, count);
        if self.shapes > 0.0 {
            // A generator of its own again, so that the content is that of a run without shapes.
            let mut paint = ChaCha8Rng::seed_from_u64(
                seed.rotate_left(29) ^ step.wrapping_mul(0xA24B_AED4_963E_E407),
            );
            if paint.random::<f64>() < self.shapes {
                paint_shapes(&mut out, self.crop, &mut paint);
            }
        }
        out
    }

    /// The batch's photo crops, screen crops or mosaic.
    fn content(&self, seed: u64, step: u64, count: usize) -> Vec<f32> {
        if let Some((screens, fraction)) = &self.screens {
            let mut pick = ChaCha8Rng::seed_from_u64(
                seed.rotate_left(17) ^ step.wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
            );
            if pick.random::<f64>() < *fraction {
                return screens.crops(seed.rotate_left(41), step, count);
            }
        }
        if let Some((tiles, fraction)) = &self.tiles {
            // Its own generator, so that the photo batches stay those of a run without tiles.
            let mut mix =
                ChaCha8Rng::seed_from_u64(!seed ^ step.wrapping_mul(0xD1B5_4A32_D192_ED03));
            if mix.random::<f64>() < *fraction {
                return self.mosaics(tiles, &mut mix, count);
            }
        }
        self.crops(seed, step, count)
    }

    /// `count` random crops, each pixel of the set equally likely to be covered, each flipped
    /// at random.
    fn crops(&self, seed: u64, step: u64, count: usize) -> Vec<f32> {
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

impl Photos {
    fn mosaics(&self, tiles: &[u8], rng: &mut ChaCha8Rng, count: usize) -> Vec<f32> {
        const T: usize = crate::model::TILE;
        let c = self.crop;
        let per_side = c / T;
        let n = tiles.len() / crate::model::TILE_VALUES;
        let mut out = vec![0f32; count * 3 * c * c];
        for image in out.chunks_exact_mut(3 * c * c) {
            for ty in 0..per_side {
                for tx in 0..per_side {
                    let k = rng.random_range(0..n);
                    let tile = &tiles[k * crate::model::TILE_VALUES..][..crate::model::TILE_VALUES];
                    let flip = rng.random::<bool>();
                    for ch in 0..3 {
                        for y in 0..T {
                            for x in 0..T {
                                let sx = if flip { T - 1 - x } else { x };
                                let v = tile[(ch * T + y) * T + sx];
                                image[(ch * c + ty * T + y) * c + tx * T + x] =
                                    f32::from(v) / 255.0;
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// One to four rectangles of one random colour each over every `c`×`c` crop of `batch`
/// (`[count, 3, c, c]`, channel-major).
fn paint_shapes(batch: &mut [f32], c: usize, rng: &mut ChaCha8Rng) {
    let least = (c / 8).max(1);
    for crop in batch.chunks_exact_mut(3 * c * c) {
        for _ in 0..rng.random_range(1..=4) {
            let colour: [u8; 3] = rng.random();
            let (w, h) = (rng.random_range(least..=c), rng.random_range(least..=c));
            let (x0, y0) = (rng.random_range(0..=c - w), rng.random_range(0..=c - h));
            for (ch, &v) in colour.iter().enumerate() {
                for y in y0..y0 + h {
                    crop[(ch * c + y) * c + x0..][..w].fill(f32::from(v) / 255.0);
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn photos(dir: &Path) -> Photos {
        image::RgbImage::from_fn(100, 80, |x, y| {
            image::Rgb([x as u8, y as u8, (x * y) as u8])
        })
        .save(dir.join("a.png"))
        .unwrap();
        Photos::load(dir, 64).unwrap()
    }

    #[test]
    fn batches_are_seeded_crops_and_mosaics() {
        let dir = tempfile::tempdir().unwrap();
        let p = photos(dir.path());
        let b = p.batch(3, 7, 2);
        assert_eq!(b.len(), 2 * 3 * 64 * 64);
        assert_eq!(b, p.batch(3, 7, 2), "the same step gives the same batch");
        assert_ne!(b, p.batch(3, 8, 2));
        // A crop of the photo: every value is one of the photo's, and the green channel
        // (the row) increases down each column by one.
        let green = &b[64 * 64..2 * 64 * 64];
        assert!((green[64] - green[0] - 1.0 / 255.0).abs() < 1e-6);

        let tiles: Vec<u8> = (0..2 * 3072)
            .map(|i| if i < 3072 { 10 } else { 200 })
            .collect();
        let all = photos(dir.path()).with_tiles(tiles.clone(), 1.0);
        let m = all.batch(3, 7, 2);
        assert!(
            m.iter().all(|&v| v == 10.0 / 255.0 || v == 200.0 / 255.0),
            "mosaics of tiles only"
        );
        // Without tiles in a batch, the photo batches are those of a run without tiles.
        let none = photos(dir.path()).with_tiles(tiles, 0.0);
        assert_eq!(none.batch(3, 7, 2), b);
    }

    #[test]
    fn shapes_paint_flat_rectangles_over_the_same_crops() {
        let dir = tempfile::tempdir().unwrap();
        let plain = photos(dir.path()).batch(5, 11, 3);
        let painted = photos(dir.path()).with_shapes(1.0);
        let b = painted.batch(5, 11, 3);
        assert_eq!(
            b,
            painted.batch(5, 11, 3),
            "the same step gives the same batch"
        );
        assert_ne!(b, plain);
        // The photo's red rises by one a pixel along each row, so a run of 8 equal reds (an
        // eighth of the crop, the narrowest rectangle) is paint; each crop has one.
        for crop in b.chunks_exact(3 * 64 * 64) {
            let painted_row = crop[..64 * 64]
                .chunks_exact(64)
                .any(|row| row.windows(8).any(|w| w.iter().all(|&v| v == w[0])));
            assert!(painted_row, "a crop without a rectangle");
        }
        // Where nothing is painted the crops are the plain ones: some values agree.
        assert!(b.iter().zip(&plain).any(|(a, p)| a == p));
        assert_eq!(photos(dir.path()).with_shapes(0.0).batch(5, 11, 3), plain);
    }

    #[test]
    fn screens_take_their_fraction_of_the_batches() {
        let dir = tempfile::tempdir().unwrap();
        let screen_dir = tempfile::tempdir().unwrap();
        image::RgbImage::from_pixel(70, 70, image::Rgb([9, 99, 199]))
            .save(screen_dir.path().join("s.png"))
            .unwrap();
        let screens = || Photos::load(screen_dir.path(), 64).unwrap();
        let plain = photos(dir.path());
        let all = photos(dir.path()).with_screens(screens(), 1.0);
        let b = all.batch(2, 5, 2);
        assert_eq!(b, all.batch(2, 5, 2), "the same step gives the same batch");
        assert!(
            b[..64 * 64].iter().all(|&v| v == 9.0 / 255.0),
            "screen crops only"
        );
        assert!(b[2 * 64 * 64..3 * 64 * 64]
            .iter()
            .all(|&v| v == 199.0 / 255.0));
        // A fraction picks some batches; the others are those of a run without screens.
        let half = photos(dir.path()).with_screens(screens(), 0.5);
        let from_screens = (0..40)
            .filter(|&step| {
                let b = half.batch(2, step, 1);
                if b.iter()
                    .all(|&v| v == 9.0 / 255.0 || v == 99.0 / 255.0 || v == 199.0 / 255.0)
                {
                    true
                } else {
                    assert_eq!(b, plain.batch(2, step, 1));
                    false
                }
            })
            .count();
        assert!((8..=32).contains(&from_screens), "{from_screens} of 40");
        assert_eq!(
            photos(dir.path())
                .with_screens(screens(), 0.0)
                .batch(2, 5, 2),
            plain.batch(2, 5, 2)
        );
    }
}
