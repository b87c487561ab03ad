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

/// Gives every fully transparent pixel of `image` (alpha 0) the colours of the visible pixels
/// around it, smoothly, so that the colour coder spends nothing on what no one sees (as cwebp
/// does unless `-exact`). Pull-push: the visible pixels are averaged up a pyramid of halvings,
/// and each transparent pixel takes the bilinear interpolation of the level above. Visible
/// pixels, and the alpha, are left as they are; an image without transparent pixels is not
/// touched. Returns whether any pixel changed. Images with 16-bit or float alpha become 8-bit
/// (as the coder takes them).
pub fn fill_invisible(image: &mut DynamicImage) -> bool {
    if !image.color().has_alpha() {
        return false;
    }
    let grey = !image.color().has_color();
    let (w, h) = (image.width() as usize, image.height() as usize);
    if !matches!(
        image,
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageRgba8(_)
    ) {
        *image = match grey {
            true => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
            false => DynamicImage::ImageRgba8(image.to_rgba8()),
        };
    }
    let raw: &mut [u8] = match image {
        DynamicImage::ImageLumaA8(b) => b,
        DynamicImage::ImageRgba8(b) => b,
        _ => unreachable!("converted above"),
    };
    match grey {
        true => pull_push::<2>(raw, w, h),
        false => pull_push::<4>(raw, w, h),
    }
}

/// One level of the pyramid: per cell the colour sum and the count of visible pixels, turned
/// into the cell's filled colour on the way down.
struct Level {
    w: usize,
    h: usize,
    cells: Vec<[f32; 4]>,
}

impl Level {
    /// The level above `(w, h)` cells given by `at(x, y) -> (colour sum, count)`.
    fn halve(w: usize, h: usize, at: impl Fn(usize, usize) -> [f32; 4]) -> Level {
        let (w2, h2) = (w.div_ceil(2), h.div_ceil(2));
        let mut cells = vec![[0f32; 4]; w2 * h2];
        for y in 0..h {
            for x in 0..w {
                let (c, v) = (&mut cells[(y / 2) * w2 + x / 2], at(x, y));
                for k in 0..4 {
                    c[k] += v[k];
                }
            }
        }
        Level {
            w: w2,
            h: h2,
            cells,
        }
    }

    /// The filled colour at child coordinates `(x, y)` of the level below: bilinear between
    /// this level's cell centres.
    fn sample(&self, x: usize, y: usize) -> [f32; 3] {
        let coord = |v: usize, n: usize| ((v as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (n - 1) as f32);
        let (fx, fy) = (coord(x, self.w), coord(y, self.h));
        let (x0, y0) = (fx as usize, fy as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let c = |x: usize, y: usize| self.cells[y * self.w + x];
        let mut out = [0f32; 3];
        for (k, o) in out.iter_mut().enumerate() {
            let top = c(x0, y0)[k] * (1.0 - ax) + c(x1, y0)[k] * ax;
            let bottom = c(x0, y1)[k] * (1.0 - ax) + c(x1, y1)[k] * ax;
            *o = top * (1.0 - ay) + bottom * ay;
        }
        out
    }
}

/// [`fill_invisible`] on interleaved pixels of `C` bytes, the last one alpha.
fn pull_push<const C: usize>(raw: &mut [u8], w: usize, h: usize) -> bool {
    if !raw.chunks_exact(C).any(|p| p[C - 1] == 0) {
        return false;
    }
    let colours = C - 1;
    // Pull: sums of the visible pixels' colours and their counts, halving to one cell.
    let pixel = |x: usize, y: usize| {
        let p = &raw[(y * w + x) * C..][..C];
        let mut v = [0f32; 4];
        if p[C - 1] > 0 {
            for k in 0..colours {
                v[k] = f32::from(p[k]);
            }
            v[3] = 1.0;
        }
        v
    };
    let mut levels = vec![Level::halve(w, h, pixel)];
    while levels.last().is_some_and(|l| l.w > 1 || l.h > 1) {
        let below = levels.last().expect("one level at least");
        let next = Level::halve(below.w, below.h, |x, y| below.cells[y * below.w + x]);
        levels.push(next);
    }
    // Push: each cell becomes its visible pixels' mean, or (none visible) the level above's
    // interpolation. The top cell without any visible pixel stays black.
    for i in (0..levels.len()).rev() {
        let (done, rest) = levels.split_at_mut(i + 1);
        let level = &mut done[i];
        let above = rest.first();
        for y in 0..level.h {
            for x in 0..level.w {
                let c = level.cells[y * level.w + x];
                let filled = match (c[3] > 0.0, above) {
                    (true, _) => [c[0] / c[3], c[1] / c[3], c[2] / c[3]],
                    (false, Some(a)) => a.sample(x, y),
                    (false, None) => [0.0; 3],
                };
                level.cells[y * level.w + x] = [filled[0], filled[1], filled[2], c[3]];
            }
        }
    }
    for y in 0..h {
        for x in 0..w {
            let p = &mut raw[(y * w + x) * C..][..C];
            if p[C - 1] == 0 {
                let v = levels[0].sample(x, y);
                for k in 0..colours {
                    p[k] = v[k].round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Builtin;
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
    fn transparent_pixels_take_their_surroundings_colours() {
        // Left half red and visible, right half garbage and transparent; one visible blue
        // pixel far right.
        let mut img = RgbaImage::from_fn(40, 8, |x, y| match x {
            0..20 => Rgba([200, 10, 10, 255]),
            39 if y == 4 => Rgba([10, 10, 200, 1]),
            _ => Rgba([(x * 37) as u8, (y * 91) as u8, 77, 0]),
        });
        let before = img.clone();
        let mut d = DynamicImage::ImageRgba8(img.clone());
        assert!(fill_invisible(&mut d));
        img = d.to_rgba8();
        for (x, y, p) in img.enumerate_pixels() {
            let was = before.get_pixel(x, y);
            assert_eq!(p[3], was[3], "alpha kept");
            if was[3] > 0 {
                assert_eq!(p, was, "visible pixels kept");
            }
        }
        // Next to the red: red; next to the blue: bluish; in between, a blend, never garbage.
        let next = img.get_pixel(20, 3);
        assert!(next[0] > 185 && next[2] < 30, "{next:?}");
        assert!(img.get_pixel(38, 4)[2] > 100, "{:?}", img.get_pixel(38, 4));
        assert!(
            img.pixels().all(|p| p[1] == 10),
            "green is 10 everywhere visible"
        );
        // Nothing to fill: untouched; no alpha at all: untouched.
        let mut opaque = DynamicImage::ImageRgba8(before.clone());
        if let DynamicImage::ImageRgba8(b) = &mut opaque {
            b.pixels_mut().for_each(|p| p[3] = 255);
        }
        let copy = opaque.clone();
        assert!(!fill_invisible(&mut opaque));
        assert_eq!(opaque, copy);
        // Nothing visible: one flat colour.
        let mut none = DynamicImage::ImageLumaA8(image::GrayAlphaImage::from_fn(5, 3, |x, _| {
            LumaA([x as u8 * 50, 0])
        }));
        assert!(fill_invisible(&mut none));
        assert!(none
            .to_luma_alpha8()
            .pixels()
            .all(|p| p[0] == 0 && p[1] == 0));
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
            exact: None,
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

    #[test]
    fn only_version_2_codecs_keep_alpha() {
        let keeps = |b: Builtin| b.codec(1 << 20).unwrap().keeps_alpha();
        assert!(!keeps(Builtin::Reference));
        assert!(keeps(Builtin::Tiled(1)));
        assert!(keeps(Builtin::Quality(3)));
    }
}
