//! Arbitrary small images through the whole encoder, as `aec compress` runs it: the lossy file
//! at a quality of the scale, then the lossless choice (the exact image, a palette, flat
//! blocks exact or in a palette). Every such image compresses, without a panic, and its file
//! decodes to the image's size and kind (grey or RGB, alpha where the source has
//! transparency).
//!
//! The first bytes pick the width and height (1 to 48), the quality (0 to 11 in halves) and the
//! kind (grey, grey and alpha, RGB, RGBA); the rest are the pixels, repeated to fill the image,
//! so short inputs give the flat, repeating content that the lossless paths take.
#![no_main]

use aec::codec::{CompressOptions, Quality};
use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};
use libfuzzer_sys::fuzz_target;

/// The largest image made here: 48 × 48.
const MAX_PIXELS: u64 = 48 * 48;

#[path = "codecs.rs"]
mod codecs;

/// The image the input describes, and the quality to code it at.
fn image_of(data: &[u8]) -> Option<(DynamicImage, f64)> {
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

fuzz_target!(|data: &[u8]| {
    let Some((image, quality)) = image_of(data) else {
        return;
    };
    let quality = Quality::from_value(quality).expect("0 to 11 is on the scale");
    let codec = codecs::codec(quality.model(), MAX_PIXELS);
    let options = CompressOptions {
        step: quality.step,
        ..CompressOptions::default()
    };
    let bytes = codec
        .compress(&image, &options)
        .expect("any image compresses");
    let back = codec.decode_bytes(&bytes).expect("its own file decodes");
    assert_eq!(
        (back.width(), back.height()),
        (image.width(), image.height())
    );
    assert_eq!(back.color().has_color(), image.color().has_color());
    let transparent = image.to_rgba8().pixels().any(|p| p[3] < 255);
    if transparent {
        assert!(back.color().has_alpha(), "the alpha plane is kept");
    }
});
