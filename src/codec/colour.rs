//! Colour management of inputs: aec codes sRGB (its decoded images carry no profile, so
//! viewers show them as sRGB), so an image tagged with another ICC profile (Display P3 from
//! phones, Adobe RGB from cameras) is converted to sRGB before coding, with `moxcms` (the
//! colour management the image crate uses); its colours then look the same after decoding.

use image::{DynamicImage, RgbImage, RgbaImage};
use moxcms::{ColorProfile, Layout, TransformOptions};
use rayon::prelude::*;

/// What [`to_srgb`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// The profile describes sRGB (every colour of a probe maps to itself within one level):
    /// the pixels are left as they are.
    AlreadySrgb,
    /// The pixels were converted to sRGB.
    Converted,
    /// A grey image: left as it is (aec codes its grey values as they are).
    Grey,
}

/// An ICC profile that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the image's ICC profile: {0}")]
pub struct ColourError(#[from] moxcms::CmsError);

/// Converts `image` from the colour space its ICC profile `icc` describes to sRGB, keeping its
/// alpha.
pub fn to_srgb(image: &mut DynamicImage, icc: &[u8]) -> Result<Conversion, ColourError> {
    if !image.color().has_color() {
        return Ok(Conversion::Grey);
    }
    let profile = ColorProfile::new_from_slice(icc)?;
    let srgb = ColorProfile::new_srgb();
    let layout = match image.color().has_alpha() {
        true => Layout::Rgba,
        false => Layout::Rgb,
    };
    if maps_to_itself(&profile, &srgb)? {
        return Ok(Conversion::AlreadySrgb);
    }
    let transform =
        profile.create_transform_8bit(layout, &srgb, layout, TransformOptions::default())?;
    let (width, height) = (image.width(), image.height());
    let (src, channels): (Vec<u8>, usize) = match layout {
        Layout::Rgba => (image.to_rgba8().into_raw(), 4),
        _ => (image.to_rgb8().into_raw(), 3),
    };
    let mut dst = vec![0u8; src.len()];
    // Rows in parallel; meanwhile the source and two 8-bit copies of it are held.
    let row = width as usize * channels;
    src.par_chunks(row.max(1))
        .zip(dst.par_chunks_mut(row.max(1)))
        .try_for_each(|(s, d)| transform.transform(s, d))?;
    *image = match layout {
        Layout::Rgba => DynamicImage::ImageRgba8(
            RgbaImage::from_raw(width, height, dst).expect("the source's size"),
        ),
        _ => DynamicImage::ImageRgb8(
            RgbImage::from_raw(width, height, dst).expect("the source's size"),
        ),
    };
    Ok(Conversion::Converted)
}

/// Whether `profile` maps every colour of a 17 × 17 × 17 grid to within one level of itself
/// in sRGB: an sRGB profile under another name or version, which needs no conversion (a round
/// trip through a transform would move some values by one).
fn maps_to_itself(profile: &ColorProfile, srgb: &ColorProfile) -> Result<bool, ColourError> {
    let level = |i: usize| (i * 16).min(255) as u8;
    let mut probe = Vec::with_capacity(17 * 17 * 17 * 3);
    for r in 0..17 {
        for g in 0..17 {
            for b in 0..17 {
                probe.extend([level(r), level(g), level(b)]);
            }
        }
    }
    let options = TransformOptions::default();
    let transform = profile.create_transform_8bit(Layout::Rgb, srgb, Layout::Rgb, options)?;
    let mut out = vec![0u8; probe.len()];
    transform.transform(&probe, &mut out)?;
    Ok(probe.iter().zip(&out).all(|(&a, &b)| a.abs_diff(b) <= 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(alpha: bool) -> DynamicImage {
        let rgb = RgbImage::from_fn(20, 10, |x, y| {
            image::Rgb([(x * 12) as u8, (y * 25) as u8, (40 + x * 5) as u8])
        });
        match alpha {
            false => DynamicImage::ImageRgb8(rgb),
            true => DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb).to_rgba8()),
        }
    }

    #[test]
    fn display_p3_is_converted_and_srgb_is_left_alone() {
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        for alpha in [false, true] {
            let before = picture(alpha);
            let mut image = before.clone();
            assert_eq!(to_srgb(&mut image, &p3).unwrap(), Conversion::Converted);
            assert_eq!(image.color(), before.color(), "alpha kept");
            // P3 is wider than sRGB: its saturated colours move outward in sRGB values.
            let (a, b) = (before.to_rgb8(), image.to_rgb8());
            let moved = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
            assert!(moved > 100, "{moved} of 200 pixels changed");
            // (0, 200, 0) in P3 lies outside sRGB: red and blue clip to 0, green rises.
            let mut green =
                DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, image::Rgb([0, 200, 0])));
            to_srgb(&mut green, &p3).unwrap();
            let g = green.to_rgb8().get_pixel(0, 0).0;
            assert!(g[1] > 200 && g[0] == 0 && g[2] == 0, "{g:?}");
        }
        let srgb = ColorProfile::new_srgb().encode().unwrap();
        let mut image = picture(false);
        assert_eq!(to_srgb(&mut image, &srgb).unwrap(), Conversion::AlreadySrgb);
        assert_eq!(image, picture(false));
    }

    #[test]
    fn grey_images_and_bad_profiles() {
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let mut grey = DynamicImage::ImageLuma8(picture(false).to_luma8());
        assert_eq!(to_srgb(&mut grey, &p3).unwrap(), Conversion::Grey);
        let mut image = picture(false);
        let err = to_srgb(&mut image, b"not a profile").unwrap_err();
        assert!(err.to_string().contains("ICC profile"), "{err}");
        assert!(to_srgb(&mut image, &p3[..p3.len() / 2]).is_err());
        assert_eq!(image, picture(false), "left as it was");
    }
}

#[cfg(test)]
mod mutations {
    use super::*;

    /// Profiles an input file may carry are untrusted: thousands of corrupted profiles (bytes
    /// flipped, cut short, sizes and counts overwritten) each give a result or an error, never
    /// a panic.
    #[test]
    fn corrupted_profiles_are_refused_or_used_but_never_panic() {
        let sources = [
            ColorProfile::new_display_p3().encode().unwrap(),
            ColorProfile::new_adobe_rgb().encode().unwrap(),
            ColorProfile::new_srgb().encode().unwrap(),
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..3000 {
            let mut icc = sources[round % sources.len()].clone();
            for _ in 0..1 + next() % 8 {
                let at = next() as usize % icc.len();
                match next() % 4 {
                    0 => icc[at] ^= 1 << (next() % 8),
                    1 => icc[at] = 0xff,
                    2 => icc.truncate(at.max(1)),
                    _ => {
                        let end = (at + 4).min(icc.len());
                        icc[at..end].fill((next() % 256) as u8)
                    }
                }
            }
            let mut image =
                DynamicImage::ImageRgb8(RgbImage::from_pixel(3, 2, image::Rgb([9, 99, 199])));
            let result = std::panic::catch_unwind(move || to_srgb(&mut image, &icc).map(|_| ()));
            assert!(result.is_ok(), "round {round}: a panic");
        }
    }
}
