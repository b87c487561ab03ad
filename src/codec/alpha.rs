//! Transparency: an image's alpha channel travels losslessly beside its lossy colour, as the
//! alpha plane of a version 2 file ([`aec_format::AlphaPlane`], SPEC.md §13.4), and is put back
//! on decoding. Version 1 files carry none.

use aec_format::{AlphaPlane, AnyHeader, CodedFile};
use image::{DynamicImage, GrayAlphaImage, RgbaImage};

use super::CodecError;

/// The alpha channel of `image`, one byte a pixel (16-bit and float alpha rounded), where some
/// pixel is not opaque: an alpha channel that is opaque everywhere (as GIF and many PNGs carry)
/// is not kept.
pub fn alpha_of(image: &DynamicImage) -> Option<Vec<u8>> {
    let plane: Vec<u8> = match image {
        DynamicImage::ImageLumaA8(b) => b.pixels().map(|p| p[1]).collect(),
        DynamicImage::ImageRgba8(b) => b.pixels().map(|p| p[3]).collect(),
        other if other.color().has_alpha() => other.to_rgba8().pixels().map(|p| p[3]).collect(),
        _ => return None,
    };
    plane.iter().any(|&a| a < u8::MAX).then_some(plane)
}

/// The compressed alpha plane of `image`, where it has one ([`alpha_of`]).
pub fn encode_alpha(image: &DynamicImage) -> Result<Option<AlphaPlane>, CodecError> {
    alpha_of(image)
        .map(|plane| AlphaPlane::encode(&plane, image.width(), image.height()))
        .transpose()
        .map_err(CodecError::from)
}

/// A file's bytes with `alpha` attached, and whether it was: a version 1 file cannot carry it
/// and is returned as it is.
pub fn attach(bytes: Vec<u8>, alpha: &AlphaPlane) -> Result<(Vec<u8>, bool), CodecError> {
    if !matches!(AnyHeader::parse(&bytes)?, AnyHeader::V2(_)) {
        return Ok((bytes, false));
    }
    let mut file = CodedFile::from_bytes(&bytes)?;
    file.alpha = Some(alpha.clone());
    Ok((file.to_bytes()?, true))
}

/// The decoded colour `image` of a file's `bytes` with the file's alpha plane, if it has one:
/// grey and alpha, or RGBA.
pub fn apply(image: DynamicImage, bytes: &[u8]) -> Result<DynamicImage, CodecError> {
    if !AnyHeader::parse(bytes)?.has_alpha() {
        return Ok(image);
    }
    let plane = CodedFile::from_bytes(bytes)?
        .decode_alpha()?
        .expect("the header says it has one");
    let (w, h) = (image.width(), image.height());
    Ok(match image {
        DynamicImage::ImageLuma8(grey) => {
            let raw = grey.pixels().zip(&plane).flat_map(|(g, &a)| [g[0], a]);
            DynamicImage::ImageLumaA8(
                GrayAlphaImage::from_raw(w, h, raw.collect()).expect("the image's size"),
            )
        }
        other => {
            let raw = other.to_rgb8();
            let raw = raw
                .pixels()
                .zip(&plane)
                .flat_map(|(p, &a)| [p[0], p[1], p[2], a]);
            DynamicImage::ImageRgba8(
                RgbaImage::from_raw(w, h, raw.collect()).expect("the image's size"),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, LumaA, Rgb, RgbImage, Rgba};

    #[test]
    fn only_an_alpha_that_is_not_opaque_everywhere_is_kept() {
        let opaque = RgbaImage::from_pixel(3, 2, Rgba([1, 2, 3, 255]));
        assert_eq!(alpha_of(&DynamicImage::ImageRgba8(opaque.clone())), None);
        assert_eq!(
            alpha_of(&DynamicImage::ImageRgb8(RgbImage::new(3, 2))),
            None
        );
        let mut seen = opaque;
        seen.put_pixel(2, 1, Rgba([1, 2, 3, 7]));
        let plane = alpha_of(&DynamicImage::ImageRgba8(seen.clone())).unwrap();
        assert_eq!(plane, [255, 255, 255, 255, 255, 7]);
        // 16 bits round to 8.
        let wide = DynamicImage::ImageRgba8(seen).to_rgba16();
        assert_eq!(alpha_of(&DynamicImage::ImageRgba16(wide)).unwrap(), plane);
        let grey = image::GrayAlphaImage::from_pixel(2, 1, LumaA([9, 0]));
        assert_eq!(alpha_of(&DynamicImage::ImageLumaA8(grey)).unwrap(), [0, 0]);
    }

    #[test]
    fn a_plane_goes_back_on_grey_and_colour() {
        let plane = AlphaPlane::encode(&[0, 128, 255, 9], 2, 2).unwrap();
        let file = CodedFile {
            kind: aec_format::ModelKind::WholeImageHyperprior,
            channels: 4,
            model_id: [1; 8],
            width: 2,
            height: 2,
            step: aec_format::UNIT_STEP,
            alpha: None,
            payload: vec![7],
        };
        let (bytes, kept) = attach(file.to_bytes().unwrap(), &plane).unwrap();
        assert!(kept);
        let rgb = RgbImage::from_pixel(2, 2, Rgb([10, 20, 30]));
        let DynamicImage::ImageRgba8(back) = apply(DynamicImage::ImageRgb8(rgb), &bytes).unwrap()
        else {
            panic!("not RGBA")
        };
        assert_eq!(back.get_pixel(1, 0), &Rgba([10, 20, 30, 128]));
        assert_eq!(back.get_pixel(1, 1), &Rgba([10, 20, 30, 9]));
        let grey = GrayImage::from_pixel(2, 2, Luma([5]));
        let DynamicImage::ImageLumaA8(back) =
            apply(DynamicImage::ImageLuma8(grey), &bytes).unwrap()
        else {
            panic!("not grey and alpha")
        };
        assert_eq!(back.get_pixel(0, 0), &LumaA([5, 0]));
        // A file without a plane decodes as it is.
        let plain = file.to_bytes().unwrap();
        let rgb = DynamicImage::ImageRgb8(RgbImage::new(2, 2));
        assert_eq!(apply(rgb.clone(), &plain).unwrap(), rgb);
    }
}
