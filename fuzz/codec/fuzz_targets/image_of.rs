//! The `compress` target's reading of an input as an image, shared with the test that replays
//! its inputs (`tests/hardening.rs`).

use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};

/// The image the input describes, and the quality to code it at.
pub fn image_of(data: &[u8]) -> Option<(DynamicImage, f64)> {
    let [w, h, q, kind, pixels @ ..] = data else {
        return None;
    };
    let (w, h) = (1 + u32::from(*w) % 48, 1 + u32::from(*h) % 48);
    let quality = f64::from(q % 23) / 2.0;
    let channels = [1, 2, 3, 4][usize::from(kind % 4)];
    let n = (w * h) as usize * channels;
    let raw: Vec<u8> = match pixels {
        [] => vec![0; n],
        _ => pixels.iter().copied().cycle().take(n).collect(),
    };
    let image = match channels {
        1 => DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, raw)?),
        2 => DynamicImage::ImageLumaA8(GrayAlphaImage::from_raw(w, h, raw)?),
        3 => DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, raw)?),
        _ => DynamicImage::ImageRgba8(RgbaImage::from_raw(w, h, raw)?),
    };
    Some((image, quality))
}
