//! Measuring aec's models and the in-process baselines (JPEG, WebP) on an image set.

use aec_format::{AecFile, Precision};
use image::RgbImage;
use rayon::prelude::*;

use super::{measure, measure_baseline, summarise, BoxError, ImageSet, RdError, RdPoint};
use crate::codec::{Codec, CompressOptions, ImageCodec};

/// Measures one aec model at one precision and sparse threshold (an entropy-coded model has
/// one setting: pass `F16` and no threshold). `name` labels the row; `group` names the plot's
/// curve (e.g. `aec`: models of one group at one precision form one curve across code
/// lengths, and their sparse settings another; entropy-coded models form `GROUP entropy`).
pub fn measure_aec(
    codec: &Codec,
    name: &str,
    group: &str,
    set: &ImageSet,
    precision: Precision,
    threshold: Option<f32>,
) -> Result<RdPoint, RdError> {
    let options = CompressOptions {
        precision,
        sparse_threshold: threshold,
        ..CompressOptions::default()
    };
    let entropy = codec.tables().is_some();
    let label = match (entropy, threshold) {
        (true, _) => name.to_string(),
        (false, Some(t)) => format!("{name} {precision} sparse≤{t}"),
        (false, None) => format!("{name} {precision}"),
    };
    let fail = |index: usize, source: BoxError| RdError::Codec {
        codec: label.clone(),
        index,
        source,
    };
    let measured = set
        .images
        .par_iter()
        .enumerate()
        .map(|(i, img)| {
            let bytes = codec
                .compress_rgb(img, 3, &options)
                .map_err(|e| fail(i, e.into()))?;
            let decoded = codec.decode_rgb(&bytes).map_err(|e| fail(i, e.into()))?;
            let mut m = measure(img, &decoded, bytes.len());
            if let Ok(file) = AecFile::from_bytes(&bytes) {
                m.zeros = file.codes.count_zeros();
                m.values = file.codes.len();
            }
            if entropy {
                let report = codec.symbol_report(&bytes).map_err(|e| fail(i, e.into()))?;
                let payload = aec_format::CodedFile::from_bytes(&bytes)
                    .map_err(|e| fail(i, e.into()))?
                    .payload
                    .len();
                m.ideal_bytes = Some((bytes.len() - payload) as f64 + report.ideal_bits / 8.0);
            }
            Ok(m)
        })
        .collect::<Result<Vec<_>, RdError>>()?;
    let family = match (entropy, threshold) {
        (true, _) => format!("{group} entropy"),
        (false, Some(_)) => format!("{group} {precision} sparse"),
        (false, None) => format!("{group} {precision}"),
    };
    Ok(summarise(
        &family,
        label,
        codec.weights().config.code_length,
        set,
        &measured,
        threshold.is_some(),
    ))
}

/// Measures a whole-image model (any [`ImageCodec`] without settings) with `options` (its
/// refinement rounds and quantization step): real file bytes and the decoded pixels of every
/// image. Its points form the curve `GROUP hyperprior`.
pub fn measure_whole_image(
    codec: &dyn ImageCodec,
    name: &str,
    group: &str,
    set: &ImageSet,
    options: &CompressOptions,
) -> Result<RdPoint, RdError> {
    let fail = |index: usize, source: BoxError| RdError::Codec {
        codec: name.to_string(),
        index,
        source,
    };
    let one = |(i, img): (usize, &RgbImage)| {
        let bytes = codec
            .compress_rgb(img, 3, options)
            .map_err(|e| fail(i, e.into()))?;
        let decoded = codec.decode_rgb(&bytes).map_err(|e| fail(i, e.into()))?;
        Ok(measure(img, &decoded, bytes.len()))
    };
    // Photos one at a time (each already runs on every core); small images side by side.
    let small = set
        .images
        .iter()
        .all(|img| u64::from(img.width()) * u64::from(img.height()) <= 64 * 64);
    let measured = if small {
        (set.images.par_iter().enumerate())
            .map(one)
            .collect::<Result<Vec<_>, RdError>>()?
    } else {
        (set.images.iter().enumerate())
            .map(one)
            .collect::<Result<Vec<_>, RdError>>()?
    };
    Ok(summarise(
        &format!("{group} hyperprior"),
        name.to_string(),
        0,
        set,
        &measured,
        false,
    ))
}

/// Measures baseline JPEG at one quality (1–100) with the `jpeg-encoder` crate, set up like
/// libjpeg in Pillow's `save(..., optimize=True)`: 4:2:0 chroma subsampling, the standard
/// quantisation tables scaled by quality, and Huffman tables optimised per image. (With the
/// standard Huffman tables, as the `image` crate writes them, a 32×32 file carries about 420
/// bytes of tables and doubles in size.) Decoded with `jpeg-decoder`: the `image` crate's
/// decoder (zune-jpeg 0.5) misreads these optimised-table files (7 dB instead of 26 dB on a
/// 32×32 test image, where Pillow and `jpeg-decoder` agree).
pub fn measure_jpeg(set: &ImageSet, quality: u8) -> Result<RdPoint, RdError> {
    let label = format!("JPEG q{quality}");
    measure_baseline(set, "JPEG", label.clone(), |i, img| {
        let fail = |source: BoxError| RdError::Codec {
            codec: label.clone(),
            index: i,
            source,
        };
        let mut bytes = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        encoder.set_optimized_huffman_tables(true);
        let (w, h) = (u16::try_from(img.width()), u16::try_from(img.height()));
        let (Ok(w), Ok(h)) = (w, h) else {
            return Err(fail("larger than JPEG's 65,535-pixel limit".into()));
        };
        encoder
            .encode(img.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
            .map_err(|e| fail(e.into()))?;
        let mut decoder = jpeg_decoder::Decoder::new(&bytes[..]);
        let pixels = decoder.decode().map_err(|e| fail(e.into()))?;
        let decoded = RgbImage::from_raw(img.width(), img.height(), pixels)
            .ok_or_else(|| fail("decoded JPEG has the wrong size".into()))?;
        Ok((bytes.len(), decoded))
    })
}

/// Measures libwebp's lossy encoder (through the `webp` crate) at one quality (0–100).
pub fn measure_webp(set: &ImageSet, quality: f32) -> Result<RdPoint, RdError> {
    let label = format!("WebP q{quality}");
    measure_baseline(set, "WebP", label.clone(), |i, img| {
        let encoded =
            webp::Encoder::from_rgb(img.as_raw(), img.width(), img.height()).encode(quality);
        let decoded = image::load_from_memory_with_format(&encoded, image::ImageFormat::WebP)
            .map_err(|e| RdError::Codec {
                codec: label.clone(),
                index: i,
                source: e.into(),
            })?
            .to_rgb8();
        Ok((encoded.len(), decoded))
    })
}
