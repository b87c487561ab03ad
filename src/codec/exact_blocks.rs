//! Exact blocks (`.aec` kind bit 6, SPEC.md §13.7): a screenshot's flat-coloured parts stored
//! exactly beside the lossy code of the photos in it.
//!
//! Neither a lossless file nor a palette wins on an image that mixes text and panels with a
//! photo: the photo costs a lossless coder several bytes a pixel, and the text is what the
//! networks draw worst. Cut into blocks of 16 pixels, such an image is mostly blocks whose
//! pixels a lossless coder predicts (few "novel" pixels, [`super::lossless::novel_pixels`]):
//! those go into a WebP lossless bitstream of the image with the other blocks painted black,
//! the rest into the lossy code of the image with the flat blocks painted one colour (the
//! others' mean), and the decoder copies the flat blocks' pixels over the lossy decode. Where
//! they do not fit exactly, their colours go to a reduced palette: the decoder copies whatever
//! the bitstream holds.

use aec_format::{CodedFile, ExactBlocks, ModelKind, EXACT_BLOCK, LOSSLESS_MAX_SIDE};
use image::{DynamicImage, Rgb, RgbImage};

use super::lossless::{novel_row, vp8l_rgb};
use super::palette::Palette;
use super::CodecError;

/// A block is flat where at most this share of its pixels are novel. On the mixed
/// screenshots of `scripts/mixed-probe.py` (seed-2 screenshots with photo crops) 0.4 gave the
/// most PSNR for the bytes: 0.25 left anti-aliased text in the lossy part (2–5 dB lower at
/// the same bytes), 0.6 and above stored photo-like blocks exactly (10–25% more bytes).
const MAX_NOVEL_SHARE: f64 = 0.4;

/// At least this share of the blocks must be flat for a file with exact blocks to be tried:
/// a photo with a few saturated or flat patches stays lossy, at no extra encoding time.
const MIN_FLAT_SHARE: f64 = 0.25;

/// One flag a block, rows of blocks top to bottom ([`ExactBlocks::grid`]): whether the block
/// is flat, where enough blocks are flat to try exact blocks and some are not; `None` for an
/// image without colour, with transparency, or with a side over a lossless bitstream's.
pub fn flat_blocks(image: &DynamicImage) -> Option<Vec<bool>> {
    let (w, h) = (image.width(), image.height());
    let opaque = super::alpha::alpha_of(image).is_none();
    if !image.color().has_color() || !opaque || w > LOSSLESS_MAX_SIDE || h > LOSSLESS_MAX_SIDE {
        return None;
    }
    // Counted in place where the image is RGB already (a photo's pass costs no copy).
    let converted;
    let rgb = match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => {
            converted = other.to_rgb8();
            &converted
        }
    };
    let by = ExactBlocks::grid(w, h).1;
    // Every fourth row of blocks first: a photo, with hardly a flat block among them, is
    // refused after a quarter of the pass (each row's flags are the same whichever order).
    let mut rows: Vec<Option<Vec<bool>>> = vec![None; by as usize];
    for r in (0..by).step_by(SAMPLE_ROWS) {
        rows[r as usize] = Some(block_row(rgb, r));
    }
    let (flat, all) = count(rows.iter().flatten().flatten());
    if (flat as f64) < MIN_FLAT_SHARE / 2.0 * all as f64 {
        return None;
    }
    let flags: Vec<bool> = (0..by)
        .flat_map(|r| rows[r as usize].take().unwrap_or_else(|| block_row(rgb, r)))
        .collect();
    let (flat, all) = count(flags.iter());
    let worth = flat as f64 >= MIN_FLAT_SHARE * all as f64 && flat < all;
    worth.then_some(flags)
}

/// Of the rows of blocks, every this many is looked at first.
const SAMPLE_ROWS: usize = 4;

/// How many of `flags` are set, and how many there are.
fn count<'a>(flags: impl Iterator<Item = &'a bool>) -> (usize, usize) {
    flags.fold((0, 0), |(f, n), &b| (f + usize::from(b), n + 1))
}

/// Whether each block of row `r` of blocks is flat: at most [`MAX_NOVEL_SHARE`] of its
/// pixels novel, each pixel predicted from its neighbours in the whole image.
fn block_row(rgb: &RgbImage, r: u32) -> Vec<bool> {
    let (w, h) = rgb.dimensions();
    let (bx, b) = (ExactBlocks::grid(w, h).0 as usize, EXACT_BLOCK as usize);
    let stride = w as usize * 3;
    let (y0, y1) = (r as usize * b, ((r as usize + 1) * b).min(h as usize));
    let raw = rgb.as_raw();
    let mut above = (y0 > 0).then(|| &raw[(y0 - 1) * stride..y0 * stride]);
    let mut novel = vec![0u32; bx];
    for row in raw[y0 * stride..y1 * stride].chunks_exact(stride) {
        for (x, n) in novel_row(row, above, 3).enumerate() {
            novel[x / b] += u32::from(n);
        }
        above = Some(row);
    }
    let height = (y1 - y0) as f64;
    (novel.iter().enumerate())
        .map(|(i, &n)| {
            let width = (w as usize - i * b).min(b) as f64;
            f64::from(n) <= MAX_NOVEL_SHARE * width * height
        })
        .collect()
}

/// The flag of the block that holds pixel `(x, y)` of an image `width` pixels wide.
fn block_flag(flags: &[bool], width: u32) -> impl Fn(u32, u32) -> bool + '_ {
    let bx = ExactBlocks::grid(width, 1).0;
    move |x, y| flags[(y / EXACT_BLOCK * bx + x / EXACT_BLOCK) as usize]
}

/// Paints the blocks of `rgb` whose flag is `which` with `colour`.
fn paint(rgb: &mut RgbImage, flags: &[bool], which: bool, colour: [u8; 3]) {
    let flag = block_flag(flags, rgb.width());
    for (x, y, p) in rgb.enumerate_pixels_mut() {
        if flag(x, y) == which {
            *p = Rgb(colour);
        }
    }
}

/// The mean colour of the blocks whose flag is false.
fn mean_of_others(rgb: &RgbImage, flags: &[bool]) -> [u8; 3] {
    let flag = block_flag(flags, rgb.width());
    let (mut sum, mut n) = ([0u64; 3], 0u64);
    for (x, y, p) in rgb.enumerate_pixels() {
        if !flag(x, y) {
            (0..3).for_each(|c| sum[c] += u64::from(p[c]));
            n += 1;
        }
    }
    sum.map(|s| (s as f64 / n.max(1) as f64).round() as u8)
}

/// A mixed image cut in two: the lossy file of its other blocks and the image of its flat
/// blocks (the others black), from which files with the flat blocks exact or in a reduced
/// palette are made without coding the lossy part again.
pub struct Split {
    file: CodedFile,
    flat: RgbImage,
    flags: Vec<bool>,
}

impl Split {
    /// Splits `image` by its flat blocks (`flags`, [`flat_blocks`]): `lossy_of` codes the
    /// image with those blocks painted the others' mean colour (a whole-image file without
    /// alpha).
    pub fn new(
        image: &DynamicImage,
        flags: &[bool],
        lossy_of: impl FnOnce(&RgbImage) -> Result<Vec<u8>, CodecError>,
    ) -> Result<Self, CodecError> {
        let mut flat = image.to_rgb8();
        let lossy = {
            let mut filled = flat.clone();
            paint(&mut filled, flags, true, mean_of_others(&flat, flags));
            lossy_of(&filled)?
        };
        let mut file = CodedFile::from_bytes(&lossy)?;
        drop(lossy);
        if file.kind != ModelKind::WholeImageHyperprior || file.alpha.is_some() {
            return Err(CodecError::Lossless(
                "exact blocks go with a whole-image file without alpha".into(),
            ));
        }
        file.channels = image.color().channel_count();
        paint(&mut flat, flags, false, [0; 3]);
        let flags = flags.to_vec();
        Ok(Self { file, flat, flags })
    }

    /// The file with the flat blocks exact (`colours` `None`) or each of their pixels moved
    /// to the nearest of at most `colours` colours learnt from them
    /// ([`super::palette::Palette`]; one of them may be the other blocks' black, which the
    /// decoder does not copy).
    pub fn file(&self, colours: Option<usize>) -> Result<Vec<u8>, CodecError> {
        let bitstream = match colours {
            None => vp8l_rgb(&self.flat)?,
            Some(n) => vp8l_rgb(&reduce(&self.flat, &self.flags, n))?,
        };
        let mut file = self.file.clone();
        file.exact = Some(ExactBlocks::from_flags(&self.flags, bitstream));
        Ok(file.to_bytes()?)
    }

    /// The number of distinct colours in the flat blocks, counted up to `cap`.
    pub fn flat_colours(&self, cap: usize) -> usize {
        let pixels = flat_pixels(&self.flat, &self.flags).map(|(_, _, p)| p.0);
        super::palette::count_distinct(pixels, cap)
    }
}

/// The pixels of `rgb`'s blocks whose flag is set, with their coordinates.
fn flat_pixels<'a>(
    rgb: &'a RgbImage,
    flags: &'a [bool],
) -> impl Iterator<Item = (u32, u32, &'a Rgb<u8>)> {
    let flag = block_flag(flags, rgb.width());
    rgb.enumerate_pixels().filter(move |(x, y, _)| flag(*x, *y))
}

/// The blocks of `rgb` whose flag is set, each pixel moved to the nearest of at most
/// `colours` − 1 colours learnt from them; black elsewhere (at most `colours` in all).
fn reduce(rgb: &RgbImage, flags: &[bool], colours: usize) -> RgbImage {
    let palette = Palette::learn(flat_pixels(rgb, flags).map(|(_, _, p)| p.0), colours - 1);
    let mut reduced = RgbImage::new(rgb.width(), rgb.height());
    for (x, y, p) in flat_pixels(rgb, flags) {
        reduced.put_pixel(x, y, Rgb(palette.nearest(p.0)));
    }
    reduced
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 80 × 40: a flat panel with one-pixel lines on the left, noise from x = 36.
    fn mixed() -> DynamicImage {
        let hash = |v: u32| v.wrapping_mul(2_654_435_761).rotate_left(13);
        DynamicImage::ImageRgb8(RgbImage::from_fn(80, 40, |x, y| {
            if x < 36 {
                let ink = y % 6 == 0 && x % 9 != 0;
                Rgb(if ink { [20, 20, 30] } else { [240, 240, 235] })
            } else {
                let v = hash(x * 131 + y);
                Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
            }
        }))
    }

    #[test]
    fn flat_blocks_are_the_predictable_ones() {
        let flags = flat_blocks(&mixed()).unwrap();
        // 5 × 3 blocks; the first two columns flat, the third three quarters noise.
        let expected: Vec<bool> = (0..15).map(|i| i % 5 < 2).collect();
        assert_eq!(flags, expected);
        // No colour, transparency, a photo, one flat colour: nothing to split.
        assert!(flat_blocks(&DynamicImage::ImageLuma8(mixed().to_luma8())).is_none());
        assert!(flat_blocks(&DynamicImage::ImageRgba8(mixed().to_rgba8())).is_some());
        let mut clear = mixed().to_rgba8();
        clear.get_pixel_mut(0, 0).0[3] = 0;
        assert!(flat_blocks(&DynamicImage::ImageRgba8(clear)).is_none());
        let hash = |v: u32| v.wrapping_mul(2_654_435_761).rotate_left(13);
        let noise = RgbImage::from_fn(64, 64, |x, y| {
            let v = hash(x * 131 + y);
            Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
        });
        assert!(flat_blocks(&DynamicImage::ImageRgb8(noise)).is_none());
        let flat = RgbImage::from_pixel(64, 64, Rgb([1, 2, 3]));
        assert!(flat_blocks(&DynamicImage::ImageRgb8(flat)).is_none());
    }

    #[test]
    fn reducing_keeps_to_the_palette_and_the_flat_blocks() {
        // 160 × 120: a smooth ramp of thousands of colours, the last row of blocks cut
        // short; every other block flat.
        let rgb = RgbImage::from_fn(160, 120, |x, y| Rgb([(x * 3 / 2) as u8, (y * 2) as u8, 90]));
        let flags: Vec<bool> = (0..80).map(|i| i % 2 == 0).collect();
        // Each bound on the mean squared error (8-bit units) twice what NeuQuant reached.
        for (colours, most) in [(256, 34.0), (64, 65.0), (16, 880.0)] {
            let reduced = reduce(&rgb, &flags, colours);
            let seen: std::collections::HashSet<_> = reduced.pixels().map(|p| p.0).collect();
            assert!(seen.len() <= colours, "{colours}: {}", seen.len());
            let (mut sum, mut n) = (0.0, 0.0);
            for (x, y, p) in reduced.enumerate_pixels() {
                let flat = flags[(y / 16 * 10 + x / 16) as usize];
                if !flat {
                    assert_eq!(p.0, [0; 3], "({x}, {y})");
                    continue;
                }
                let q = rgb.get_pixel(x, y);
                sum += (0..3)
                    .map(|c| (f64::from(p[c]) - f64::from(q[c])).powi(2))
                    .sum::<f64>();
                n += 3.0;
            }
            assert!(sum / n < most, "{colours} colours: {}", sum / n);
        }
    }

    #[test]
    fn tiny_blocks_reduce_too() {
        // NeuQuant learning from fewer pixels than it has colours.
        for (w, h) in [(1, 1), (3, 2), (17, 5), (16, 16)] {
            let rgb = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 15) as u8, (y * 50) as u8, 7]));
            let flags =
                vec![true; ExactBlocks::grid(w, h).0 as usize * ExactBlocks::grid(w, h).1 as usize];
            for colours in crate::codec::palette::SIZES {
                let reduced = reduce(&rgb, &flags, colours);
                assert_eq!(reduced.dimensions(), (w, h));
            }
        }
    }

    #[test]
    fn painting_keeps_the_other_blocks() {
        let rgb = mixed().to_rgb8();
        let flags = flat_blocks(&mixed()).unwrap();
        let mut painted = rgb.clone();
        paint(&mut painted, &flags, true, [1, 2, 3]);
        for (x, y, p) in painted.enumerate_pixels() {
            let want = if x < 32 {
                Rgb([1, 2, 3])
            } else {
                *rgb.get_pixel(x, y)
            };
            assert_eq!(*p, want, "({x}, {y})");
        }
        // The mean of the noise blocks (x from 32), every pixel counted once.
        let mean = mean_of_others(&rgb, &flags);
        let n = (48 * 40) as f64;
        for c in 0..3 {
            let s: u64 = rgb
                .enumerate_pixels()
                .filter(|(x, _, _)| *x >= 32)
                .map(|(_, _, p)| u64::from(p[c]))
                .sum();
            assert_eq!(mean[c], (s as f64 / n).round() as u8);
        }
    }
}
