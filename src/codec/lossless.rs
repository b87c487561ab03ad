//! Lossless files (`.aec` kind 4): pixels exactly, as a WebP lossless bitstream: the image's
//! own, or its colours reduced to a palette ([`super::palette`]).
//!
//! Screenshots, drawings and other flat-coloured images cost fewer bytes stored exactly than
//! any lossy code of them: their text and edges are what the networks draw worst, and what a
//! lossless coder predicts best. The encoder stores such an image losslessly where that file
//! is no larger than the lossy one, else in a palette where that fits and beats the lossy file
//! ([`choose`]). Encoding is libwebp's (through the `webp` crate); decoding is `aec-format`'s
//! (pure Rust), exact on every machine.

use aec_format::{vp8l_of_webp, AnyHeader, CodedFile, ModelKind, LOSSLESS_MAX_SIDE, UNIT_STEP};
use image::{DynamicImage, GrayAlphaImage, RgbImage, RgbaImage};

use super::tiles::grey_of;
use super::{palette, to_grey, CodecError};
use crate::metrics;

/// When to store an image losslessly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lossless {
    /// Always the lossy file.
    Never,
    /// The exact file where it is no larger than the lossy one (or fits a size target), else
    /// a palette's where that fits and beats the lossy file.
    #[default]
    Auto,
    /// Always the lossless file.
    Always,
}

/// The fewest bytes a lossless bitstream has been seen to spend per novel pixel
/// ([`novel_pixels`]), with a margin: 0.67 to 2.69 on the 150 synthetic training screenshots,
/// 1.03 to 1.86 on the 49 training photos' centre crops (libwebp's level 6;
/// `scripts/lossless-novel.py`). An image whose novel pixels would cost more than a budget at
/// this rate is not tried: a photo's lossless file is never near its lossy one's size, and
/// its lossless encoding would take ten times the lossy encoding's time. (A pattern that
/// repeats exactly can cost less a pixel, and is then left lossy.)
const MIN_BYTES_PER_NOVEL_PIXEL: f64 = 0.5;

/// libwebp's lossless effort (`cwebp -z 6`: method 4, quality 75), where its files are within
/// 3% of its slowest level's on screenshots at a twentieth of the time.
const WEBP_METHOD: i32 = 4;
const WEBP_QUALITY: f32 = 75.0;

/// Number of pixels whose colour (alpha included) equals none of its left neighbour, its upper
/// neighbour and their gradient `left + up − upper-left`: what a lossless coder cannot predict
/// from its neighbours, a cheap bound on its cost.
pub fn novel_pixels(image: &DynamicImage) -> u64 {
    count_novel(image, u64::MAX)
}

/// [`novel_pixels`], stopping once the count passes `stop`.
fn count_novel(image: &DynamicImage, stop: u64) -> u64 {
    let converted;
    let (raw, n): (&[u8], usize) = match image {
        DynamicImage::ImageRgb8(b) => (b.as_raw(), 3),
        DynamicImage::ImageRgba8(b) => (b.as_raw(), 4),
        other => {
            converted = other.to_rgba8();
            (converted.as_raw(), 4)
        }
    };
    let w = image.width() as usize;
    let mut novel = 0;
    let mut above: Option<&[u8]> = None;
    for row in raw.chunks_exact(w * n) {
        novel += novel_in_row(row, above, n);
        if novel > stop {
            break;
        }
        above = Some(row);
    }
    novel
}

/// The novel pixels of one row of `n`-byte pixels, given the row above.
fn novel_in_row(row: &[u8], above: Option<&[u8]>, n: usize) -> u64 {
    novel_row(row, above, n).map(u64::from).sum()
}

/// Whether each pixel of one row of `n`-byte pixels is novel, given the row above.
pub(super) fn novel_row<'a>(
    row: &'a [u8],
    above: Option<&'a [u8]>,
    n: usize,
) -> impl Iterator<Item = bool> + 'a {
    let px = move |r: &[u8], x: usize| -> u32 {
        let p = &r[x * n..x * n + n];
        u32::from_le_bytes([p[0], p[1], p[2], if n == 4 { p[3] } else { 255 }])
    };
    let gradient = |l: u32, u: u32, c: u32| -> u32 {
        let (l, u, c) = (l.to_le_bytes(), u.to_le_bytes(), c.to_le_bytes());
        u32::from_le_bytes(std::array::from_fn(|i| {
            (i16::from(l[i]) + i16::from(u[i]) - i16::from(c[i])).clamp(0, 255) as u8
        }))
    };
    (0..row.len() / n).map(move |x| {
        let p = px(row, x);
        let predicted = match (x > 0, above) {
            (true, Some(a)) => {
                let (l, u) = (px(row, x - 1), px(a, x));
                l == p || u == p || gradient(l, u, px(a, x - 1)) == p
            }
            (true, None) => px(row, x - 1) == p,
            (false, Some(a)) => px(a, x) == p,
            (false, None) => false,
        };
        !predicted
    })
}

/// Which lossless files of `image` are worth making against a budget of `budget` bytes: the
/// exact one where its novel pixels ([`novel_pixels`]) at half a byte each fit,
/// palettes ([`super::palette`]) for a colour image without transparency whose novel pixels
/// are at most an eighth of them. A photo is refused within its first rows.
pub fn candidates(image: &DynamicImage, budget: usize) -> Candidates {
    if !fits_side(image) {
        return Candidates::default();
    }
    let pixels = u64::from(image.width()) * u64::from(image.height());
    let exact_stop = (budget as f64 / MIN_BYTES_PER_NOVEL_PIXEL) as u64;
    let palette_stop = if palettes_apply(image) { pixels / 8 } else { 0 };
    let novel = count_novel(image, exact_stop.max(palette_stop));
    Candidates {
        exact: novel <= exact_stop,
        palette: palette_stop > 0 && novel <= palette_stop,
    }
}

/// The lossless files [`candidates`] finds worth making.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Candidates {
    /// The exact image.
    pub exact: bool,
    /// Its reduced palettes.
    pub palette: bool,
}

fn fits_side(image: &DynamicImage) -> bool {
    image.width() <= LOSSLESS_MAX_SIDE && image.height() <= LOSSLESS_MAX_SIDE
}

/// The lossless `.aec` file of `image`: RGBA where it has an alpha channel that is not opaque
/// everywhere, RGB otherwise (grey as equal RGB); `channels` is recorded as the source's.
pub fn encode(image: &DynamicImage) -> Result<Vec<u8>, CodecError> {
    encode_as(image, image)
}

/// The lossless `.aec` file of `pixels`, recorded as made from `source` (its channel count).
fn encode_as(image: &DynamicImage, source: &DynamicImage) -> Result<Vec<u8>, CodecError> {
    let file = CodedFile {
        kind: ModelKind::Lossless,
        channels: source.color().channel_count(),
        model_id: [0; 8],
        width: image.width(),
        height: image.height(),
        step: UNIT_STEP,
        alpha: None,
        exact: None,
        payload: vp8l_bitstream(image)?,
    };
    Ok(file.to_bytes()?)
}

/// The WebP lossless (VP8L) bitstream of `image`: RGBA where it has an alpha channel that is
/// not opaque everywhere, RGB otherwise.
pub(super) fn vp8l_bitstream(image: &DynamicImage) -> Result<Vec<u8>, CodecError> {
    let (w, h) = (image.width(), image.height());
    // Refused before a conversion's copy.
    check_sides(w, h)?;
    let alpha = super::alpha::alpha_of(image).is_some();
    // The pixels in place where they are RGB or RGBA already (no copy of a large image).
    let converted;
    let pixels: &[u8] = match (image, alpha) {
        (DynamicImage::ImageRgb8(b), false) => b.as_raw(),
        (DynamicImage::ImageRgba8(b), true) => b.as_raw(),
        (_, true) => {
            converted = image.to_rgba8().into_raw();
            &converted
        }
        (_, false) => {
            converted = image.to_rgb8().into_raw();
            &converted
        }
    };
    vp8l_of(pixels, w, h, alpha)
}

/// Refuses sides over a lossless bitstream's.
fn check_sides(w: u32, h: u32) -> Result<(), CodecError> {
    if w > LOSSLESS_MAX_SIDE || h > LOSSLESS_MAX_SIDE {
        return Err(CodecError::Lossless(format!(
            "it is {w}×{h}; a lossless file's sides are at most {LOSSLESS_MAX_SIDE}"
        )));
    }
    Ok(())
}

/// The VP8L bitstream of an RGB image (no copy of its pixels).
pub(super) fn vp8l_rgb(rgb: &RgbImage) -> Result<Vec<u8>, CodecError> {
    vp8l_of(rgb.as_raw(), rgb.width(), rgb.height(), false)
}

/// The VP8L bitstream of `w` × `h` pixels, RGBA where `alpha`, else RGB.
fn vp8l_of(pixels: &[u8], w: u32, h: u32, alpha: bool) -> Result<Vec<u8>, CodecError> {
    check_sides(w, h)?;
    let encoder = match alpha {
        true => webp::Encoder::from_rgba(pixels, w, h),
        false => webp::Encoder::from_rgb(pixels, w, h),
    };
    let failed = |what: String| CodecError::Lossless(format!("libwebp: {what}"));
    let mut config = webp::WebPConfig::new().map_err(|()| failed("no configuration".into()))?;
    config.lossless = 1;
    config.exact = 1;
    config.method = WEBP_METHOD;
    config.quality = WEBP_QUALITY;
    let webp = encoder
        .encode_advanced(&config)
        .map_err(|e| failed(format!("{e:?}")))?;
    let payload = vp8l_of_webp(&webp).ok_or_else(|| failed("not a simple lossless file".into()))?;
    Ok(payload.to_vec())
}

/// What [`choose`] kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The lossy file.
    Lossy,
    /// The image exactly.
    Exact,
    /// The image's colours reduced to a palette of this many (a lossless bitstream of them).
    Palette(usize),
    /// The lossy file with some blocks in a lossless bitstream ([`super::exact_blocks`]):
    /// this many of so many, exactly or in a palette of so many colours.
    Blocks {
        /// Blocks stored in the lossless bitstream.
        exact: u64,
        /// Blocks in all.
        of: u64,
        /// The size of the palette their colours were reduced to; `None`: exactly.
        colours: Option<usize>,
    },
}

/// Makes the lossy file of an RGB image with the settings of the file it stands beside (for
/// [`super::exact_blocks`]).
pub type LossyOf<'a> = &'a dyn Fn(&RgbImage) -> Result<Vec<u8>, CodecError>;

/// `lossy`, or a lossless file of `image` where `mode` asks for it (exact) or, in
/// [`Lossless::Auto`], where one takes at most `budget` bytes (`None`: `lossy`'s length): the
/// exact image, else of the files that fit and are closer to the image than `lossy`
/// (`file_mse` gives a file's mean squared error on `[0, 1]` samples, asked for only then) the
/// closest: the largest palette ([`super::palette`]) that fits, and, where `lossy_of` is
/// given, the lossy file with its flat blocks exact or else in the largest palette that fits
/// ([`super::exact_blocks`]). Palettes are
/// tried for colour images without transparency whose novel pixels ([`novel_pixels`]) are at
/// most an eighth of them; exact blocks where [`super::exact_blocks::flat_blocks`] finds them.
pub fn choose(
    image: &DynamicImage,
    lossy: Vec<u8>,
    mode: Lossless,
    budget: Option<usize>,
    file_mse: impl Fn(&[u8]) -> Result<f64, CodecError>,
    lossy_of: Option<LossyOf<'_>>,
) -> Result<(Vec<u8>, Stored), CodecError> {
    let budget = budget.unwrap_or(lossy.len());
    match mode {
        Lossless::Never => return Ok((lossy, Stored::Lossy)),
        Lossless::Always => return Ok((encode(image)?, Stored::Exact)),
        Lossless::Auto => {}
    }
    let worth = candidates(image, budget);
    if worth.exact {
        let exact = encode(image)?;
        if exact.len() <= budget {
            return Ok((exact, Stored::Exact));
        }
    }
    let mut best: Option<(Vec<u8>, Stored, f64)> = None;
    if worth.palette {
        best = fitting_palette(image, budget)?.map(|(b, n, e)| (b, Stored::Palette(n), e));
    }
    let flags = lossy_of.and_then(|f| Some((f, super::exact_blocks::flat_blocks(image)?)));
    if let Some((lossy_of, flags)) = flags {
        if let Some((bytes, stored)) = fitting_blocks(image, &flags, lossy_of, budget)? {
            let e = file_mse(&bytes)?;
            if best.as_ref().is_none_or(|b| e < b.2) {
                best = Some((bytes, stored, e));
            }
        }
    }
    match best {
        Some((bytes, stored, e)) if e <= file_mse(&lossy)? => Ok((bytes, stored)),
        _ => Ok((lossy, Stored::Lossy)),
    }
}

/// The file of `image` with its flat blocks (`flags`) exact, else in the largest palette that
/// fits `budget` bytes, and what it stores ([`Stored::Blocks`]); `None` where none fits.
fn fitting_blocks(
    image: &DynamicImage,
    flags: &[bool],
    lossy_of: LossyOf<'_>,
    budget: usize,
) -> Result<Option<(Vec<u8>, Stored)>, CodecError> {
    let split = super::exact_blocks::Split::new(image, flags, lossy_of)?;
    let distinct = split.flat_colours(palette::SIZES[0] + 1);
    let reduced = palette::SIZES.into_iter().filter(|&n| n < distinct);
    // Exact first, then ever smaller palettes: ever fewer bytes, ever further from the image.
    let options: Vec<Option<usize>> = std::iter::once(None).chain(reduced.map(Some)).collect();
    let fitting = first_fitting(options.len(), budget, |i| split.file(options[i]))?;
    Ok(fitting.map(|(i, bytes)| {
        let stored = Stored::Blocks {
            exact: flags.iter().filter(|&&f| f).count() as u64,
            of: flags.len() as u64,
            colours: options[i],
        };
        (bytes, stored)
    }))
}

/// Of `n` files made by `make` (their sizes falling with the index), the first that takes at
/// most `budget` bytes, with its index: the first two files (exact and the largest palette,
/// what mixed images take most often), else the last (where it does not fit, none does), else
/// by bisection: at most 3 + ⌈log₂(n − 2)⌉ files rather than `n`.
fn first_fitting(
    n: usize,
    budget: usize,
    mut make: impl FnMut(usize) -> Result<Vec<u8>, CodecError>,
) -> Result<Option<(usize, Vec<u8>)>, CodecError> {
    const HEAD: usize = 2;
    for i in 0..n.min(HEAD) {
        let bytes = make(i)?;
        if bytes.len() <= budget {
            return Ok(Some((i, bytes)));
        }
    }
    if n <= HEAD {
        return Ok(None);
    }
    let mut fits = make(n - 1)?;
    if fits.len() > budget {
        return Ok(None);
    }
    // `hi` fits (its file in `fits`); every index below `lo` does not.
    let (mut lo, mut hi) = (HEAD, n - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let bytes = make(mid)?;
        if bytes.len() <= budget {
            (hi, fits) = (mid, bytes);
        } else {
            lo = mid + 1;
        }
    }
    Ok(Some((hi, fits)))
}

/// Whether a palette may stand for `image`: colour, and no transparency (which stays exact).
fn palettes_apply(image: &DynamicImage) -> bool {
    image.color().has_color() && super::alpha::alpha_of(image).is_none()
}

/// The file of the largest palette of `image` that takes at most `budget` bytes, its size and
/// its mean squared error (samples on `[0, 1]`).
fn fitting_palette(
    image: &DynamicImage,
    budget: usize,
) -> Result<Option<(Vec<u8>, usize, f64)>, CodecError> {
    let rgb = image.to_rgb8();
    let distinct = palette::distinct_colours(&rgb, palette::SIZES[0] + 1);
    for n in palette::SIZES.into_iter().filter(|&n| n < distinct) {
        let reduced = palette::quantize(&rgb, n);
        let mse = metrics::mse_u8(rgb.as_raw(), reduced.as_raw());
        let bytes = encode_as(&DynamicImage::ImageRgb8(reduced), image)?;
        if bytes.len() <= budget {
            // Smaller palettes only move further from the image.
            return Ok(Some((bytes, n, mse)));
        }
    }
    Ok(None)
}

/// Whether `bytes` begin a lossless file.
pub fn is_lossless(bytes: &[u8]) -> bool {
    matches!(AnyHeader::parse(bytes), Ok(AnyHeader::V2(h)) if h.kind == ModelKind::Lossless)
}

/// Decodes a lossless file: grey for a grey source (one or two channels), RGB otherwise, with
/// alpha where its bitstream carries it; a file of more than `max_pixels` pixels is refused
/// from its header.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, CodecError> {
    let header = AnyHeader::parse(bytes)?;
    super::check_size(header.width(), header.height(), max_pixels)?;
    let file = CodedFile::from_bytes(bytes)?;
    let p = file.decode_lossless()?;
    let (w, h) = (p.width, p.height);
    let grey = file.channels <= 2;
    Ok(match (p.alpha, grey) {
        (false, false) => DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, p.data).expect("size")),
        (false, true) => {
            DynamicImage::ImageLuma8(to_grey(&RgbImage::from_raw(w, h, p.data).expect("size")))
        }
        (true, false) => DynamicImage::ImageRgba8(RgbaImage::from_raw(w, h, p.data).expect("size")),
        (true, true) => {
            let raw = (p.data.chunks_exact(4)).flat_map(|q| [grey_of(&q[..3]), q[3]]);
            DynamicImage::ImageLumaA8(GrayAlphaImage::from_raw(w, h, raw.collect()).expect("size"))
        }
    })
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, Rgba};

    use super::*;

    /// A drawing: flat panels and lines of one-pixel "glyphs", each of its own shape.
    fn drawing(width: u32, height: u32) -> RgbaImage {
        let hash = |v: u32| {
            v.wrapping_mul(2_654_435_761)
                .rotate_left(13)
                .wrapping_mul(40_503)
        };
        RgbaImage::from_fn(width, height, |x, y| {
            let panel = if x < width / 3 {
                [230, 232, 240]
            } else {
                [255, 255, 255]
            };
            let glyph = hash((y / 9) * 1000 + x / 5);
            let bit = (y % 9) * 4 + x % 5;
            let text = y % 9 < 7 && x % 5 < 4 && x > width / 3 && (glyph >> (bit % 32)) & 1 == 1;
            let c = if text { [20, 20, 90] } else { panel };
            Rgba([c[0], c[1], c[2], 255])
        })
    }

    /// Noise: nothing to predict.
    fn noise(width: u32, height: u32) -> RgbImage {
        let mut s = 7u32;
        RgbImage::from_fn(width, height, |_, _| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            image::Rgb([(s >> 24) as u8, (s >> 16) as u8, (s >> 8) as u8])
        })
    }

    #[test]
    fn novel_pixels_are_those_no_neighbour_predicts() {
        let flat = DynamicImage::ImageRgb8(RgbImage::from_pixel(30, 20, image::Rgb([9, 8, 7])));
        assert_eq!(novel_pixels(&flat), 1);
        // A ramp in x and y: the gradient predicts every pixel past the first row and column.
        let ramp = RgbImage::from_fn(30, 20, |x, y| image::Rgb([(x + y) as u8, x as u8, y as u8]));
        assert_eq!(novel_pixels(&DynamicImage::ImageRgb8(ramp)), 30 + 20 - 1);
        let n = novel_pixels(&DynamicImage::ImageRgb8(noise(30, 20)));
        assert!(n > 590, "{n}");
    }

    #[test]
    fn every_kind_of_image_comes_back_exactly() {
        let d = drawing(77, 41);
        let mut with_alpha = d.clone();
        for (i, p) in with_alpha.pixels_mut().enumerate() {
            p[3] = (i % 256) as u8;
        }
        let grey = GrayImage::from_fn(40, 23, |x, y| image::Luma([(x * 6 + y) as u8]));
        let images = [
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(d.clone()).to_rgb8()),
            DynamicImage::ImageRgba8(with_alpha.clone()),
            DynamicImage::ImageLuma8(grey.clone()),
            DynamicImage::ImageLumaA8(DynamicImage::ImageRgba8(with_alpha).to_luma_alpha8()),
            DynamicImage::ImageRgb8(noise(1, 1)),
        ];
        for image in images {
            let bytes = encode(&image).unwrap();
            assert!(is_lossless(&bytes));
            let back = decode(&bytes, 1 << 20).unwrap();
            assert_eq!(back.color(), image.color(), "{:?}", image.color());
            assert_eq!(back.as_bytes(), image.as_bytes(), "{:?}", image.color());
        }
        // An RGBA source that is opaque everywhere is stored as RGB.
        let opaque = DynamicImage::ImageRgba8(d);
        let back = decode(&encode(&opaque).unwrap(), 1 << 20).unwrap();
        assert_eq!(back.as_bytes(), opaque.to_rgb8().as_raw().as_slice());
    }

    #[test]
    fn sides_over_what_a_bitstream_holds_stay_lossy() {
        let wide = DynamicImage::ImageRgb8(RgbImage::new(LOSSLESS_MAX_SIDE + 1, 1));
        assert!(matches!(encode(&wide), Err(CodecError::Lossless(_))));
        let (b, stored) = choose(
            &wide,
            vec![3; 100],
            Lossless::Auto,
            None,
            lossy_at(1.0),
            None,
        )
        .unwrap();
        assert!(stored == Stored::Lossy && b == vec![3; 100]);
        let edge = DynamicImage::ImageRgb8(RgbImage::new(LOSSLESS_MAX_SIDE, 1));
        assert!(is_lossless(&encode(&edge).unwrap()));
    }

    #[test]
    fn the_pixel_limit_holds_before_decoding() {
        let bytes = encode(&DynamicImage::ImageRgb8(noise(50, 40))).unwrap();
        assert!(decode(&bytes, 2000).is_ok());
        assert!(matches!(
            decode(&bytes, 1999),
            Err(CodecError::TooManyPixels { .. })
        ));
    }

    /// A lossy file's error, for [`choose`]: `mse` whatever the bytes.
    fn lossy_at(mse: f64) -> impl Fn(&[u8]) -> Result<f64, CodecError> {
        move |_| Ok(mse)
    }

    #[test]
    fn auto_takes_the_smaller_file_and_skips_what_cannot_win() {
        let d = DynamicImage::ImageRgba8(drawing(120, 80));
        let exact = encode(&d).unwrap();
        let lossy = vec![1; exact.len() + 1];
        let (b, stored) =
            choose(&d, lossy.clone(), Lossless::Auto, None, lossy_at(1.0), None).unwrap();
        assert!(
            stored == Stored::Exact && b == exact,
            "{} novel",
            novel_pixels(&d)
        );
        let (b, stored) = choose(
            &d,
            lossy.clone(),
            Lossless::Never,
            None,
            lossy_at(1.0),
            None,
        )
        .unwrap();
        assert!(stored == Stored::Lossy && b == lossy);
        // Larger than a size target: the lossy file stays (three colours: no palette to try).
        let budget = Some(exact.len() - 1);
        let (_, stored) = choose(
            &d,
            lossy.clone(),
            Lossless::Auto,
            budget,
            lossy_at(1.0),
            None,
        )
        .unwrap();
        assert_eq!(stored, Stored::Lossy);
        // Noise is not even tried against a budget a tenth of its pixels.
        let n = DynamicImage::ImageRgb8(noise(120, 80));
        assert_eq!(candidates(&n, 960), Candidates::default());
        let (b, stored) =
            choose(&n, vec![2; 960], Lossless::Auto, None, lossy_at(1.0), None).unwrap();
        assert!(stored == Stored::Lossy && b == vec![2; 960]);
        let (b, stored) = choose(
            &n,
            vec![2; 960],
            Lossless::Always,
            None,
            lossy_at(1.0),
            None,
        )
        .unwrap();
        assert!(stored == Stored::Exact && decode(&b, 1 << 20).unwrap().as_bytes() == n.as_bytes());
    }

    #[test]
    fn the_first_fitting_file_is_found_with_few_tries() {
        let find = |sizes: &[usize], budget| {
            let mut tries = 0;
            let found = first_fitting(sizes.len(), budget, |i| {
                tries += 1;
                Ok(vec![0; sizes[i]])
            })
            .unwrap();
            assert!(tries <= 6, "{budget}: {tries} tries");
            found.map(|(i, bytes)| {
                assert_eq!(bytes.len(), sizes[i]);
                i
            })
        };
        // Falling sizes: the first that fits, as a scan would find it.
        let sizes = [90, 80, 70, 60, 40, 30, 20];
        for budget in 0..100 {
            let scan = sizes.iter().position(|&s| s <= budget);
            assert_eq!(find(&sizes, budget), scan, "{budget}");
        }
        // Out of order: one that fits (index 2 fits too, and is passed over).
        assert_eq!(find(&[90, 80, 50, 70, 40, 30, 20], 60), Some(4));
        assert_eq!(find(&[], 9), None);
        assert_eq!(find(&[1], 9), Some(0));
        assert_eq!(find(&[10], 9), None);
    }

    #[test]
    fn a_palette_is_taken_where_it_fits_and_beats_the_lossy_file() {
        // Glyphs with soft edges: hundreds of colours, most pixels flat.
        let mut s = 3u32;
        let soft = RgbImage::from_fn(200, 120, |x, y| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let edge = x % 20 == 4 || y % 24 == 6;
            match edge {
                true => image::Rgb([(s >> 24) as u8, (s >> 16) as u8 & 0x3f, 90]),
                false => image::Rgb([250, 125, 5]),
            }
        });
        let image = DynamicImage::ImageRgb8(soft.clone());
        assert!(palette::distinct_colours(&soft, 1000) > 256);
        let worth = candidates(&image, 1 << 20);
        assert!(worth.exact && worth.palette, "{worth:?}");
        let exact = encode(&image).unwrap();
        let lossy = vec![5; exact.len() - 1];
        let (b, stored) = choose(
            &image,
            lossy.clone(),
            Lossless::Auto,
            None,
            lossy_at(1.0),
            None,
        )
        .unwrap();
        let Stored::Palette(n) = stored else {
            panic!("{stored:?}")
        };
        assert!(b.len() < exact.len());
        let back = decode(&b, 1 << 20).unwrap().to_rgb8();
        assert!(palette::distinct_colours(&back, 1000) <= n);
        // A lossy file closer to the image than any fitting palette stays.
        let (b, stored) = choose(
            &image,
            lossy.clone(),
            Lossless::Auto,
            None,
            lossy_at(0.0),
            None,
        )
        .unwrap();
        assert!(stored == Stored::Lossy && b == lossy);
        // No palette for transparency, which stays exact.
        let mut rgba = image.to_rgba8();
        rgba.get_pixel_mut(0, 0)[3] = 7;
        let rgba = DynamicImage::ImageRgba8(rgba);
        assert!(!candidates(&rgba, 1 << 20).palette);
    }

    #[test]
    fn lossless_files_decode_the_same_on_many_threads() {
        let bytes = encode(&DynamicImage::ImageRgba8(drawing(300, 200))).unwrap();
        let first = decode(&bytes, 1 << 20).unwrap();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| s.spawn(|| decode(&bytes, 1 << 20).unwrap()))
                .collect();
            for h in handles {
                assert_eq!(h.join().unwrap().as_bytes(), first.as_bytes());
            }
        });
    }
}
