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
use libfuzzer_sys::fuzz_target;

/// The largest image made here: 48 × 48.
const MAX_PIXELS: u64 = 48 * 48;

#[path = "codecs.rs"]
mod codecs;

#[path = "image_of.rs"]
mod image_of;
use image_of::image_of;

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
