//! The shortest way to use aec from Rust: an image to a `.aec` file at a quality, and a file
//! back to an image, with the models built into aec.
//!
//! Each call loads its model; a program that codes many images keeps
//! a codec instead ([`Builtin::codec`], then [`super::ImageCodec::compress`] and
//! [`super::ImageCodec::decode_bytes`]), which is what these functions do once.

use image::DynamicImage;

use super::{Builtin, CodecError, CompressOptions, Quality, MAX_PIXELS};
use crate::store::hex;

/// Compresses `image` at `quality`, the scale of `aec compress --quality`: 0 (smallest files)
/// to [`Quality::max`], fractions between the levels, 3 the command line's default. Alpha is
/// kept losslessly (the colour under transparent pixels too: [`super::alpha::fill_invisible`]
/// first lets it go, as the command line does), a grey image stays grey when decoded; images of
/// up to [`MAX_PIXELS`] pixels. An image whose exact file is no larger than the lossy one is
/// stored exactly ([`super::lossless`]), as by the command line.
pub fn compress(image: &DynamicImage, quality: f64) -> Result<Vec<u8>, CodecError> {
    let quality = Quality::from_value(quality)?;
    let options = CompressOptions {
        step: quality.step,
        ..CompressOptions::default()
    };
    quality.model().codec(MAX_PIXELS)?.compress(image, &options)
}

/// Decodes the bytes of a `.aec` file made by any model built into aec (every quality level,
/// the previous levels, the notebook's and the tiled models) or stored losslessly: a grey image for a grey source,
/// RGB otherwise, each with its alpha where the file has an alpha plane. A file of another model is refused with [`CodecError::UnknownModel`]
/// (decode it with that model's codec: [`super::open_codec`]).
pub fn decompress(bytes: &[u8]) -> Result<DynamicImage, CodecError> {
    if super::lossless::is_lossless(bytes) {
        return super::lossless::decode(bytes, MAX_PIXELS);
    }
    let header = aec_format::AnyHeader::parse(bytes)?;
    let id = header.model_id();
    let model = Builtin::of_model_id(id).ok_or_else(|| CodecError::UnknownModel(hex(id)))?;
    model.codec(MAX_PIXELS)?.decode_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, RgbImage};

    use super::*;
    use crate::metrics::psnr_rgb8;

    /// A smooth 40×24 picture with an edge, the kind of content the models code well.
    fn picture() -> RgbImage {
        RgbImage::from_fn(40, 24, |x, y| {
            let edge = if x > 20 { 90 } else { 0 };
            image::Rgb([(x * 4 + edge) as u8, (y * 8) as u8, (120 + x + y) as u8])
        })
    }

    #[test]
    fn compresses_and_decodes_at_a_quality() {
        let rgb = picture();
        let image = DynamicImage::ImageRgb8(rgb.clone());
        let low = compress(&image, 1.0).unwrap();
        let high = compress(&image, 4.0).unwrap();
        assert!(low.len() < high.len(), "{} ≥ {}", low.len(), high.len());
        let decoded = decompress(&high).unwrap();
        let decoded = decoded.as_rgb8().expect("an RGB image");
        assert_eq!(decoded.dimensions(), (40, 24));
        let psnr = psnr_rgb8(&rgb, decoded);
        assert!(psnr > 30.0, "PSNR {psnr:.2} dB at quality 4");
        // The same file as the codec of that level makes.
        let codec = Builtin::Quality(4).codec(MAX_PIXELS).unwrap();
        assert_eq!(
            high,
            codec.compress(&image, &CompressOptions::default()).unwrap()
        );
    }

    #[test]
    fn a_fraction_codes_between_the_levels() {
        let image = DynamicImage::ImageRgb8(picture());
        let sizes: Vec<usize> = [3.0, 3.5, 4.0]
            .iter()
            .map(|&q| compress(&image, q).unwrap().len())
            .collect();
        assert!(sizes[0] <= sizes[1] && sizes[1] <= sizes[2], "{sizes:?}");
        let half = decompress(&compress(&image, 3.5).unwrap()).unwrap();
        assert_eq!((half.width(), half.height()), (40, 24));
    }

    #[test]
    fn grey_stays_grey() {
        let grey = GrayImage::from_fn(17, 9, |x, y| image::Luma([(x * 9 + y * 5) as u8]));
        let bytes = compress(&DynamicImage::ImageLuma8(grey), 3.0).unwrap();
        let decoded = decompress(&bytes).unwrap();
        assert!(decoded.as_luma8().is_some(), "{:?}", decoded.color());
        assert_eq!((decoded.width(), decoded.height()), (17, 9));
    }

    #[test]
    fn transparency_comes_back_exactly() {
        let rgba = image::RgbaImage::from_fn(40, 24, |x, y| {
            let p = picture().get_pixel(x, y).0;
            image::Rgba([p[0], p[1], p[2], (x * 6 + y) as u8])
        });
        let image = DynamicImage::ImageRgba8(rgba.clone());
        let decoded = decompress(&compress(&image, 3.0).unwrap()).unwrap();
        let back = decoded.as_rgba8().expect("an RGBA image");
        assert!(back.pixels().zip(rgba.pixels()).all(|(a, b)| a[3] == b[3]));
    }

    #[test]
    fn every_built_in_model_decodes_its_files() {
        let image = DynamicImage::ImageRgb8(picture());
        for model in [Builtin::Reference, Builtin::Tiled(2), Builtin::MeanScale(1)] {
            let codec = model.codec(MAX_PIXELS).unwrap();
            let bytes = codec.compress(&image, &CompressOptions::default()).unwrap();
            let decoded = decompress(&bytes).unwrap();
            assert_eq!(
                decoded,
                codec.decode_bytes(&bytes).unwrap(),
                "{}",
                model.name()
            );
        }
    }

    #[test]
    fn bad_input_is_refused_with_what_is_wrong() {
        assert!(matches!(
            compress(&DynamicImage::ImageRgb8(picture()), Quality::max() + 0.5),
            Err(CodecError::Setting(_))
        ));
        let mut bytes = compress(&DynamicImage::ImageRgb8(picture()), 2.0).unwrap();
        assert!(matches!(
            decompress(&bytes[..bytes.len() - 1]),
            Err(CodecError::Format(_))
        ));
        // Another model's file: change the model id (the CRC-32 covers it, so mend that too).
        let header = aec_format::AnyHeader::parse(&bytes).unwrap();
        let at = bytes
            .windows(8)
            .position(|w| w == header.model_id())
            .expect("the id in the file");
        bytes[at] ^= 0xff;
        let end = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..end]).to_le_bytes();
        bytes[end..].copy_from_slice(&crc);
        match decompress(&bytes) {
            Err(e @ CodecError::UnknownModel(_)) => {
                assert!(e.to_string().contains("not built into aec"), "{e}")
            }
            other => panic!("expected UnknownModel, got {other:?}"),
        }
    }
}
