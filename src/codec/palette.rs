//! Reduced palettes for the lossless bitstream: an image of text and flat colour has thousands
//! of colours (its anti-aliased edges), but quantized to a few dozen it loses little (a pixel
//! moves to the nearest of them) and WebP's lossless bitstream, which codes a palette's
//! indices, takes far fewer bytes. On the eight synthetic screenshots of `docs/rd/screen`,
//! 64 colours cost 5,889 bytes an image at 45.8 dB, where the networks' Q1 gives 26.4 dB at
//! 6,259 bytes ([`super::lossless::choose`] takes one only where it beats the lossy file).
//!
//! The colours are chosen by NeuQuant (Dekker 1994; the `color_quant` crate, the image
//! crate's GIF quantizer).

use image::RgbImage;

/// The palette sizes tried, largest (best) first.
pub const SIZES: [usize; 5] = [256, 128, 64, 32, 16];

/// NeuQuant's sampling factor: 1 learns from every pixel, 30 from a thirtieth (faster, a
/// little worse); 3 keeps a 640×400 image's quantization within a few milliseconds.
const SAMPLE: i32 = 3;

/// Number of distinct colours in `rgb`, counted up to `cap` (the count stops there).
pub fn distinct_colours(rgb: &RgbImage, cap: usize) -> usize {
    count_distinct(rgb.pixels().map(|p| p.0), cap)
}

/// Number of distinct colours among `pixels`, counted up to `cap` (the count stops there).
pub fn count_distinct(pixels: impl Iterator<Item = [u8; 3]>, cap: usize) -> usize {
    let mut seen = std::collections::HashSet::with_capacity(cap.min(1 << 16));
    for p in pixels {
        seen.insert(p);
        if seen.len() >= cap {
            break;
        }
    }
    seen.len()
}

/// `rgb` with every pixel moved to the nearest of at most `colours` colours learnt from it.
pub fn quantize(rgb: &RgbImage, colours: usize) -> RgbImage {
    let palette = Palette::learn(rgb.pixels().map(|p| p.0), colours);
    let mut reduced = rgb.clone();
    reduced
        .pixels_mut()
        .for_each(|p| p.0 = palette.nearest(p.0));
    reduced
}

/// At most so many colours learnt from some pixels, and the nearest of them to any colour.
pub struct Palette {
    nq: color_quant::NeuQuant,
    map: Vec<u8>,
}

impl Palette {
    /// The palette of at most `colours` colours that NeuQuant learns from `pixels`.
    pub fn learn(pixels: impl Iterator<Item = [u8; 3]>, colours: usize) -> Self {
        let rgba: Vec<u8> = pixels.flat_map(|[r, g, b]| [r, g, b, 255]).collect();
        let nq = color_quant::NeuQuant::new(SAMPLE, colours, &rgba);
        let map = nq.color_map_rgb();
        Self { nq, map }
    }

    /// The palette's colour nearest to `rgb`.
    pub fn nearest(&self, [r, g, b]: [u8; 3]) -> [u8; 3] {
        let i = 3 * self.nq.index_of(&[r, g, b, 255]);
        [self.map[i], self.map[i + 1], self.map[i + 2]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantized_image_has_at_most_its_palette() {
        let rgb = RgbImage::from_fn(90, 60, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 4) as u8, 77])
        });
        assert_eq!(distinct_colours(&rgb, usize::MAX), 90 * 60);
        assert_eq!(distinct_colours(&rgb, 300), 300);
        // A smooth two-dimensional ramp, NeuQuant's hard case: about 30 dB at 256 colours, 19.5
        // at 16; each bound twice the error measured.
        for (n, most) in SIZES
            .into_iter()
            .zip([0.002, 0.0025, 0.0043, 0.0053, 0.0224])
        {
            let q = quantize(&rgb, n);
            assert!(distinct_colours(&q, usize::MAX) <= n, "{n}");
            let mse = crate::metrics::mse_u8(rgb.as_raw(), q.as_raw());
            assert!(mse < most, "{n} colours: {mse}");
        }
    }
}
